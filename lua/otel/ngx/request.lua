-- The SERVER span of a request: otel.ngx.start_request, finish_request,
-- request_span and request_context.
local otel = require "otel"
local context = require "otel.context"
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
local str_find = string.find
local str_sub = string.sub
local ngx_var = ngx.var
local ngx_req = ngx.req
local get_phase = ngx.get_phase
local rec = context.rec
local with_span = context.with_span
local KEY = state.KEY
local tracer = state.tracer
local KNOWN_METHODS = http.KNOWN_METHODS
local DEFAULT_PORTS = http.DEFAULT_PORTS
local span_name = http.span_name
local split_host = http.split_host
local first = http.first
local protocol_version = http.protocol_version

local SERVER = otel.kind.SERVER
local ERROR = otel.status.ERROR
local INVALID = otel.INVALID_SPAN
local ROOT = context.ROOT

local _M = {}

-- The attributes of a recording SERVER span.  server.address and
-- server.port come from the Host header (the port the client addressed:
-- the scheme's default when the header has none), as the conventions
-- say, which also spares two ngx.var lookups per request.
local function server_attributes(sp, headers, method, route, record_query)
    if KNOWN_METHODS[method] then
        sp:set_attribute("http.request.method", method)
    else
        sp:set_attribute("http.request.method", "_OTHER")
        sp:set_attribute("http.request.method_original", method)
    end
    local path, query
    if ngx.is_subrequest then
        path, query = ngx_var.uri, ngx_var.args
    else
        local uri = ngx_var.request_uri
        local q = str_find(uri, "?", 1, true)
        if q then
            path, query = str_sub(uri, 1, q - 1), str_sub(uri, q + 1)
        else
            path = uri
        end
    end
    sp:set_attribute("url.path", path)
    if record_query and query and query ~= "" then
        sp:set_attribute("url.query", query)
    end
    local scheme = ngx_var.scheme
    sp:set_attribute("url.scheme", scheme)
    local host = first(headers.host)
    local addr, port
    if host then
        addr, port = split_host(host)
        port = port or DEFAULT_PORTS[scheme]
    else                                            -- HTTP/1.0
        addr, port = ngx_var.host, tonumber(ngx_var.server_port)
    end
    sp:set_attribute("server.address", addr)
    sp:set_attribute("server.port", port)
    sp:set_attribute("client.address", ngx_var.remote_addr)
    local ua = first(headers["user-agent"])
    if ua then
        sp:set_attribute("user_agent.original", ua)
    end
    local v = protocol_version(ngx_req.http_version())
    if v then
        sp:set_attribute("network.protocol.version", v)
    end
    if route then
        sp:set_attribute("http.route", route)
    end
end

-- Reused for every request: start_span reads it and keeps nothing.
local sopts = { kind = SERVER, parent = false, attributes = nil,
                start_time = nil }

-- otel.ngx.start_request([opts]) -> span.  In rewrite, access (or content).
--   opts.route         low-cardinality route: span "METHOD route", http.route
--   opts.record_query  true: url.query too (it may hold secrets)
--   opts.attributes    more attributes, seen by the sampler
--   opts.upstream      true, or the upstream's "host[:port]": a CLIENT
--                      span for the proxied call (upstream.lua)
-- A second call in the same request returns the span of the first, with
-- the route of the second when it has one (a route often becomes known
-- only in access, after routing).  Nothing is left attached: run code
-- that should see the span as its parent through otel.ngx.phase.
function _M.start_request(opts)
    local ctx = ngx.ctx
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
    rec()
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

    local headers = ngx_req.get_headers()
    local parent = state.propagation().extract(headers) or ROOT
    local method = ngx_req.get_method()
    sopts.parent = parent
    sopts.attributes = extra
    -- the request began when nginx read it, before any phase ran
    sopts.start_time = ngx_req.start_time() * 1e9
    local sp = tracer:start_span(span_name(KNOWN_METHODS[method] and method
                                           or "HTTP", route), sopts)
    sopts.parent = false
    sopts.attributes = nil
    -- nothing to gather for a span that is not recorded (sampled out)
    if sp.recording == 1 then
        server_attributes(sp, headers, method, route, record_query)
    end

    st = state.new(ctx, sp, with_span(sp, parent ~= ROOT and parent or nil))
    -- (parts that follow the request start here, from the state)
    if log.wanted ~= false then
        log.fill(sp)
    end
    if opts and opts.upstream then
        upstream.start(st, method, opts.upstream)
    end
    return sp
end

-- otel.ngx.request_span() -> the request's SERVER span, or the invalid span.
function _M.request_span()
    local st = ngx.ctx[KEY]
    return st and st.span or INVALID
end

-- otel.ngx.request_context() -> the request's context, or nil.
function _M.request_context()
    return state.request_context(ngx.ctx)
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
    local st = ngx.ctx[KEY]
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
