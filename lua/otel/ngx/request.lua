-- The SERVER span of a request: otel.ngx.start_request, finish_request,
-- request_span and request_context.
local ffi = require "ffi"
local otel = require "otel"
local base = require "otel.ffi"
local context = require "otel.context"
local ngx_base = require "resty.core.base"
require "resty.core.request"
require "resty.core.var"
local state = require "otel.ngx.state"
local http = require "otel.ngx.http"
local phase = require "otel.ngx.phase"
local upstream = require "otel.ngx.upstream"
local log = require "otel.ngx.log"

local ngx = ngx
local type = type
local error = error
local tostring = tostring
local tonumber = tonumber
local ngx_var = ngx.var
local ngx_req = ngx.req
local get_phase = ngx.get_phase
local C = base.C
local bstate = base.state
local pairs = pairs
local find, sub = string.find, string.sub
local co_running = coroutine.running
local with_span = context.with_span
local KEY = state.KEY
local get_ctx = state.ctx
local tracer = state.tracer
local KNOWN_METHODS = http.KNOWN_METHODS
local span_name = http.span_name
local var = http.var

local SERVER = otel.kind.SERVER
local ERROR = otel.status.ERROR
local INVALID = otel.INVALID_SPAN
local ROOT = context.ROOT

local _M = {}

-- nginx's own request API (lua-resty-core declares it): the header list
-- and variables read as pointers into the request, with no Lua string
-- made per header or per value.
local nC = ffi.C
local get_request = ngx_base.get_request
local elt_t = ffi.typeof("ngx_http_lua_ffi_table_elt_t[?]")
local hcap, hraw, hlist = 0, nil, nil
local truncated = ffi.new("int[1]")
local req = ffi.new("otel_http_server")

-- The request's headers as the core's otel_header list, and their count.
local function request_headers(r)
    local n = nC.ngx_http_lua_ffi_req_get_headers_count(r, -1, truncated)
    if n <= 0 then
        return hlist, 0
    end
    if n > hcap then
        hcap = n < 32 and 32 or n
        hraw = elt_t(hcap)
        hlist = ffi.cast("const otel_header *", hraw)
    end
    if nC.ngx_http_lua_ffi_req_get_headers(r, hraw, n, 0) ~= 0 then
        return hlist, 0
    end
    return hlist, n
end

-- The attributes of a recording SERVER span, gathered in one call into
-- the core.  server.address and server.port come from the Host header
-- (the port the client addressed: the scheme's default when the header
-- has none), as the conventions say.
local function server_attributes(r, sp, headers, n, method, route,
                                 record_query)
    local q = req
    q.headers, q.n_headers = headers, n
    q.method, q.method_len = method, #method
    if ngx.is_subrequest then
        q.target, q.target_len = nil, 0
        q.path, q.path_len = var(r, "uri")
        q.query, q.query_len = var(r, "args")
    else
        q.target, q.target_len = var(r, "request_uri")
    end
    q.scheme, q.scheme_len = var(r, "scheme")
    q.client_address, q.client_address_len = var(r, "remote_addr")
    q.protocol, q.protocol_len = var(r, "server_protocol")
    if route then
        q.route, q.route_len = route, #route
    else
        q.route, q.route_len = nil, 0
    end
    q.record_query = record_query and 1 or 0
    local rc = C.otel_http_server_attrs(sp, q)
    q.method, q.route, q.headers = nil, nil, nil
    if rc == 1 then                             -- no Host: HTTP/1.0
        sp:set_attribute("server.address", ngx_var.host)
        sp:set_attribute("server.port", tonumber(ngx_var.server_port))
    end
end

-- Reused for every request: start_span reads it and keeps nothing.
local sopts = { kind = SERVER, parent = false, attributes = nil,
                start_time = nil }

-- The start attributes a sampler that reads them sees (a rule sampler on
-- http.route or url.path, a Lua sampler): the request's method, path and
-- route, then the user's own, which win.  Only when the configured
-- sampler reads attributes (base.state.sampling): the path of the
-- built-in samplers makes no table.
local function sampler_attributes(method, route, extra)
    local path = ngx_var.request_uri or ""
    local q = find(path, "?", 1, true)
    local a = {
        ["http.request.method"] = KNOWN_METHODS[method] and method
                                  or "_OTHER",
        ["url.path"] = q and sub(path, 1, q - 1) or path,
        ["http.route"] = route,
    }
    if extra then
        for k, v in pairs(extra) do
            a[k] = v
        end
    end
    return a
end

-- otel.ngx.start_request([opts]) -> span.  In rewrite, access (or content).
--   opts.route         low-cardinality route: span "METHOD route", http.route
--   opts.record_query  true: url.query too (it may hold secrets)
--   opts.attributes    more attributes, seen by the sampler (which also
--                      sees http.request.method, url.path and http.route)
--   opts.upstream      true, or the upstream's "host[:port]": a CLIENT
--                      span for the proxied call (upstream.lua)
-- A second call in the same request returns the span of the first, with
-- the route of the second when it has one (a route often becomes known
-- only in access, after routing).  Nothing is left attached: run code
-- that should see the span as its parent through otel.ngx.phase.
function _M.start_request(opts)
    local ctx = get_ctx()
    local st = ctx[KEY]
    if st then
        local sp = st.span
        local route = type(opts) == "table" and opts.route
        if type(route) == "string" then
            local method = ngx_req.get_method()
            sp:update_name(span_name(KNOWN_METHODS[method] and method
                                     or "HTTP", route))
            sp:set_attribute("http.route", route)
        end
        if type(opts) == "table" and opts.upstream and not st.upstream then
            upstream.start(st, ngx_req.get_method(), opts.upstream)
        end
        return sp
    end
    -- (the coroutine's record is not read here: start_span has its
    -- parent, and what another request left on the record is cleared on
    -- its first use; coroutine.running, which that read takes, ends the
    -- compiled code it runs in)
    local route, record_query, extra
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("otel.ngx.start_request: opts must be a table, got "
                  .. type(opts), 2)
        end
        route, record_query, extra = opts.route, opts.record_query,
                                     opts.attributes
        if route ~= nil and type(route) ~= "string" then
            error("otel.ngx.start_request: opts.route must be a string, "
                  .. "got " .. type(route), 2)
        end
        if extra ~= nil and type(extra) ~= "table" then
            error("otel.ngx.start_request: opts.attributes must be a "
                  .. "table, got " .. type(extra), 2)
        end
        local up = opts.upstream
        if up ~= nil and up ~= true and up ~= false
           and type(up) ~= "string" then
            error("otel.ngx.start_request: opts.upstream must be true or "
                  .. "the upstream's name, got " .. type(up), 2)
        end
    end

    local r = get_request()
    local headers, n = request_headers(r)
    local parent = state.propagation().extract_headers(headers, n) or ROOT
    local method = ngx_req.get_method()
    sopts.parent = parent
    sopts.attributes = bstate.sampling
                       and sampler_attributes(method, route, extra) or extra
    -- the request began when nginx read it, before any phase ran
    sopts.start_time = ngx_req.start_time() * 1e9
    local sp = tracer:start_span(span_name(KNOWN_METHODS[method] and method
                                           or "HTTP", route), sopts)
    sopts.parent = false
    sopts.attributes = nil
    -- nothing to gather for a span that is not recorded (sampled out)
    if sp.recording == 1 then
        server_attributes(r, sp, headers, n, method, route, record_query)
    end

    st = state.new(ctx, sp, with_span(sp, parent ~= ROOT and parent or nil))
    -- (parts that follow the request start here, from the state)
    local fill = log.wanted ~= false
    local up = opts and opts.upstream
    if fill or up then
        -- A trace boundary, on purpose: coroutine.running is not
        -- compiled, so LuaJIT's compiled code of the SERVER span ends
        -- here and that of the parts begins after it.  As one trace they
        -- pass LuaJIT's bound on the constants of a trace (maxirconst)
        -- when the span's start runs a loop (start attributes): the trace
        -- from the loop's exit aborted ("trace too long") and the request
        -- path ran interpreted.
        co_running()
    end
    if fill then
        log.fill(sp)
    end
    if up then
        upstream.start(st, method, up)
    end
    return sp
end

-- otel.ngx.request_span() -> the request's SERVER span, or the invalid span.
function _M.request_span()
    local st = get_ctx()[KEY]
    return st and st.span or INVALID
end

-- otel.ngx.request_context() -> the request's context, or nil.
function _M.request_context()
    return state.request_context(get_ctx())
end

-- end_server(span, status): the response status (ERROR for 5xx); ends
-- the SERVER span.
local function end_server(sp, status)
    if status and status > 0 then
        sp:set_attribute("http.response.status_code", status)
        if status >= 500 then
            sp:set_attribute("error.type", tostring(status))
            sp:set_status(ERROR)
        end
    end
    sp:finish()
end
_M.end_server = end_server

-- otel.ngx.finish_request(): in the log phase, sets the response status
-- (ERROR for 5xx) and ends the request span.  The log phase does not run
-- for subrequests: a location reached by ngx.location.capture can call it
-- from body_filter_by_lua, where it ends the span at the last buffer
-- (otel.ngx.capture ends the callee's span itself).
function _M.finish_request()
    local st = get_ctx()[KEY]
    if not st then
        return
    end
    local ph = get_phase()
    phase.unwind_stale(st, ph)
    if st.done then
        return
    end
    if ph == "body_filter" and not ngx.arg[2] then
        return
    end
    st.done = true
    -- (parts that follow the request end here, before the SERVER span)
    if st.upstream then
        upstream.finish(st)
    end
    end_server(st.span, ngx.status)
end

return _M
