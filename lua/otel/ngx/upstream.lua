-- The proxied call: start_request{ upstream = true } gives the request to
-- the upstream (proxy_pass, grpc_pass, fastcgi_pass, ...) a CLIENT span,
-- child of the SERVER span, whose context the upstream receives, ended in
-- the log phase with the HTTP client conventions and nginx's upstream
-- variables.
--
-- One span for the whole call, one event per try.  nginx sends every try
-- (proxy_next_upstream) the same request headers, set here before the
-- content phase: every upstream that is tried sees this one span as its
-- parent, so the trace can only be right with one span that they all
-- hang off.  Per-try spans would leave each retried upstream under a
-- sibling that did not send its request.
--
-- Times: nginx tells how long each try took ($upstream_response_time),
-- not when the first began.  The span lasts their sum, ending when the
-- log phase runs, or starting when this module ran (access phase) if
-- that is later; the events are placed at the start of each try.
local otel = require "otel"
local base = require "otel.ffi"
local context = require "otel.context"
local state = require "otel.ngx.state"
local http = require "otel.ngx.http"

local ngx = ngx
local tonumber = tonumber
local tostring = tostring
local str_find = string.find
local str_sub = string.sub
local str_byte = string.byte
local floor = math.floor
local C = base.C
local ngx_var = ngx.var
local ngx_now = ngx.now
local set_header = ngx.req.set_header
local with_span = context.with_span
local split_host = http.split_host
local set_method = http.set_method

local CLIENT = otel.kind.CLIENT
local ERROR = otel.status.ERROR

local _M = {}

local cattrs = {}
local copts = { kind = CLIENT, parent = nil, attributes = cattrs }

-- start(st, method, host): in rewrite or access, before nginx proxies.
-- host: the upstream's name ("host[:port]", the name of proxy_pass) for
-- server.address and server.port, or true: those of the peer that
-- answered (nginx's $proxy_host is not visible to Lua: a variable nginx
-- does not list by name).  The injected headers replace those of the
-- same name the client sent.
function _M.start(st, method, host)
    copts.parent = st.span
    local name = set_method(cattrs, method)
    local sp = state.tracer:start_span(name, copts)
    copts.parent = nil
    cattrs["http.request.method"] = nil
    cattrs["http.request.method_original"] = nil
    st.upstream = sp
    st.upstream_host = host ~= true and host or nil
    st.upstream_t0 = ngx_now()
    state.propagation().inject(set_header, with_span(sp, st.context))
    return sp
end

-- The next item of one of nginx's per-try lists ("a, b : c": ", "
-- between tries, " : " between upstream groups after an internal
-- redirect) from pos; returns it and where the next starts (nil at the
-- end; no pos: a list shorter than $upstream_addr gives nil).
local function item(s, pos)
    if not pos then
        return nil, nil
    end
    local comma = str_find(s, ",", pos, true)
    local colon = str_find(s, " : ", pos, true)
    local e = comma
    if colon and (not e or colon < e) then
        e = colon
    end
    local first, last = pos, (e or #s + 1) - 1
    while str_byte(s, first) == 32 do
        first = first + 1
    end
    while last >= first and str_byte(s, last) == 32 do
        last = last - 1
    end
    local v = str_sub(s, first, last)
    if not e then
        return v, nil
    end
    return v, e + (e == comma and 1 or 3)
end

-- "127.0.0.1:8080", "[::1]:8080", "unix:/path" -> address, port
local function peer(a)
    if str_sub(a, 1, 5) == "unix:" then
        return str_sub(a, 6), nil
    end
    return split_host(a)
end

local function seconds(v)
    return v and tonumber(v)            -- "-" (no value) gives nil
end

-- Durations as integer milliseconds (nginx measures in ms): a number
-- attribute that is sometimes integral would change type between spans.
local function ms(v)
    return v and floor(v * 1000 + 0.5)
end

local function try_event(sp, t_ns, a, status, ct, ht, rt)
    local attrs = {
        ["http.response.status_code"] = status,
        ["nginx.upstream.connect_time_ms"] = ms(ct),
        ["nginx.upstream.header_time_ms"] = ms(ht),
        ["nginx.upstream.response_time_ms"] = ms(rt),
    }
    if a then
        local addr, port = peer(a)
        attrs["network.peer.address"] = addr
        attrs["network.peer.port"] = port
    end
    sp:add_event("nginx.upstream.try", attrs, t_ns)
end

-- The sum of the tries' durations in $upstream_response_time.
local function sum(rts)
    local total, p = 0, 1
    while p do
        local rt
        rt, p = item(rts, p)
        total = total + (seconds(rt) or 0)
    end
    return total
end

-- An event per try, each at its start; returns the last try's address,
-- status and timings, and the number of tries.
local function each_try(sp, t, addrs, statuses, cts, hts, rts)
    local pa, ps, pc, ph, pr = 1, 1, 1, 1, 1
    local tries = 0
    local a, status, ct, ht, rt
    while pa do
        a, pa = item(addrs, pa)
        status, ps = item(statuses, ps)
        ct, pc = item(cts, pc)
        ht, ph = item(hts, ph)
        rt, pr = item(rts, pr)
        status, ct, ht, rt = tonumber(status), seconds(ct), seconds(ht),
                             seconds(rt)
        try_event(sp, floor(t * 1e9), a, status, ct, ht, rt)
        t = t + (rt or 0)
        tries = tries + 1
    end
    return a, status, ct, ht, rt, tries
end

-- finish(st): in the log phase, before the SERVER span ends.
function _M.finish(st)
    local sp = st.upstream
    st.upstream = nil
    if sp.recording ~= 1 then
        return                  -- sampled out: nothing to record or end
    end
    local addrs = ngx_var.upstream_addr
    if not addrs then
        -- nginx answered without an upstream (a 403 of access, ...)
        sp:set_attribute("error.type", "not_proxied")
        sp:set_status(ERROR, "no upstream was contacted")
        sp:finish()
        return
    end
    local statuses = ngx_var.upstream_status or ""
    local cts = ngx_var.upstream_connect_time or ""
    local hts = ngx_var.upstream_header_time or ""
    local rts = ngx_var.upstream_response_time or ""
    local t_end = ngx_now()

    -- one try (the common case) without a loop: a loop here would be an
    -- inner loop of the caller's trace, which LuaJIT does not compile
    local single = not str_find(addrs, ",", 1, true)
                   and not str_find(addrs, " : ", 1, true)
    local total = single and (seconds(rts) or 0) or sum(rts)
    local start = t_end - total
    if start < st.upstream_t0 then
        start = st.upstream_t0
    end
    C.otel_span_set_start(sp, floor(start * 1e9))
    local a, status, ct, ht, rt, tries
    if single then
        a, status, ct, ht, rt = addrs, tonumber(statuses), seconds(cts),
                                seconds(hts), seconds(rts)
        try_event(sp, floor(start * 1e9), a, status, ct, ht, rt)
        tries = 1
    else
        a, status, ct, ht, rt, tries = each_try(sp, start, addrs, statuses,
                                                cts, hts, rts)
    end

    -- the call's outcome: the last try, the one that answered
    local host = st.upstream_host
    local addr, port = peer(a)
    if host then
        local h, hp = split_host(host)
        sp:set_attribute("server.address", h)
        sp:set_attribute("server.port", hp)
    else
        sp:set_attribute("server.address", addr)
        sp:set_attribute("server.port", port)
    end
    sp:set_attribute("network.peer.address", addr)
    sp:set_attribute("network.peer.port", port)
    if tries > 1 then
        sp:set_attribute("http.request.resend_count", tries - 1)
    end
    -- (nil values set nothing)
    sp:set_attribute("nginx.upstream.connect_time_ms", ms(ct))
    sp:set_attribute("nginx.upstream.header_time_ms", ms(ht))
    sp:set_attribute("nginx.upstream.response_time_ms", ms(rt))
    if status then
        sp:set_attribute("http.response.status_code", status)
    end
    -- a client span fails on 4xx too; no status: no response at all
    if not status or status >= 400 then
        sp:set_attribute("error.type", status and tostring(status)
                                       or "no_response")
        sp:set_status(ERROR)
    end
    sp:finish(floor((start + total) * 1e9))
end

return _M
