-- The proxied call: start_request{ upstream = true } gives the request to
-- the upstream (proxy_pass, grpc_pass, fastcgi_pass, ...) a CLIENT span,
-- child of the SERVER span, whose context the upstream receives, ended in
-- the log phase with the HTTP client conventions and nginx's upstream
-- variables.
--
-- One span for the whole call, one event per try when nginx tried more
-- than one upstream (the span's attributes tell a single try).  nginx
-- sends every try (proxy_next_upstream) the same request headers, set
-- here before the content phase: every upstream that is tried sees this
-- one span as its parent, so the trace can only be right with one span
-- that they all hang off.  Per-try spans would leave each retried
-- upstream under a sibling that did not send its request.
--
-- Times: nginx tells how long each try took ($upstream_response_time),
-- not when the first began.  The span lasts their sum, ending when the
-- log phase runs, or starting when this module ran (access phase) if
-- that is later; the events are placed at the start of each try.  The
-- core does the reading and the attributes in one call.
local ffi = require "ffi"
local otel = require "otel"
local base = require "otel.ffi"
local context = require "otel.context"
local ngx_base = require "resty.core.base"
require "resty.core.request"
local state = require "otel.ngx.state"
local http = require "otel.ngx.http"

local ngx = ngx
local ffi_gc = ffi.gc
local C = base.C
local nC = ffi.C
local ngx_now = ngx.now
local get_request = ngx_base.get_request
local with_span = context.with_span
local KNOWN_METHODS = http.KNOWN_METHODS
local var = http.var

local CLIENT = otel.kind.CLIENT

local _M = {}

local up = ffi.new("otel_http_upstream")

local copts = { kind = CLIENT, parent = nil }

-- The setter of inject: lua-nginx-module's own call, without the checks
-- of ngx.req.set_header around it (they made the trace of start_request
-- too long to compile).  Replaces a header of the same name.
local setter_r
local errmsg = ffi.new("char *[1]")

local function set_header(name, value)
    nC.ngx_http_lua_ffi_req_set_header(setter_r, name, #name, value,
                                       #value, nil, 0, 1, errmsg)
end

-- start(st, method, host): in rewrite or access, before nginx proxies.
-- host: the upstream's name ("host[:port]", the name of proxy_pass) for
-- server.address and server.port, or true: those of the peer that
-- answered (nginx's $proxy_host is not visible to Lua: a variable nginx
-- does not list by name).  The injected headers replace those of the
-- same name the client sent.
function _M.start(st, method, host)
    copts.parent = st.span
    local known = KNOWN_METHODS[method]
    local sp = state.tracer:start_span(known and method or "HTTP", copts)
    copts.parent = nil
    -- set after the start: attributes given at start are read in a loop
    -- that does not compile (the sampler of a child follows its parent)
    if sp.recording == 1 then
        sp:set_attribute("http.request.method", known and method
                                                or "_OTHER")
        if not known then
            sp:set_attribute("http.request.method_original", method)
        end
    end
    st.upstream = sp
    st.upstream_host = host ~= true and host or nil
    st.upstream_t0 = ngx_now()
    setter_r = get_request()
    state.propagation().inject(set_header, with_span(sp, st.context))
    setter_r = nil
    return sp
end

-- finish(st): in the log phase, before the SERVER span ends.  The core
-- reads nginx's per-try lists (src/http.c: otel_http_upstream_end).
function _M.finish(st)
    local sp = st.upstream
    st.upstream = nil
    if sp.recording ~= 1 then
        return                  -- sampled out: nothing to record or end
    end
    local r = get_request()
    local u = up
    u.addr, u.addr_len = var(r, "upstream_addr")
    u.status, u.status_len = var(r, "upstream_status")
    u.connect, u.connect_len = var(r, "upstream_connect_time")
    u.header, u.header_len = var(r, "upstream_header_time")
    u.response, u.response_len = var(r, "upstream_response_time")
    local host = st.upstream_host
    if host then
        u.host, u.host_len = host, #host
    else
        u.host, u.host_len = nil, 0
    end
    u.t0_ns = st.upstream_t0 * 1e9
    u.now_ns = ngx_now() * 1e9
    C.otel_http_upstream_end(sp, u)
    u.host = nil
    ffi_gc(sp, nil)             -- ended: nothing for the collector to free
end

return _M
