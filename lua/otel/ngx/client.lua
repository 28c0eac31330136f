-- CLIENT spans for outgoing requests, with their context injected:
-- otel.ngx.start_client / finish_client (cosocket HTTP clients) and
-- otel.ngx.capture / capture_multi (subrequests).
local otel = require "otel"
local context = require "otel.context"
local state = require "otel.ngx.state"
local http = require "otel.ngx.http"
local request = require "otel.ngx.request"
local threads = require "otel.ngx.threads"

local ngx = ngx
local type = type
local pairs = pairs
local error = error
local pcall = pcall
local unpack = unpack
local getmetatable = getmetatable
local tostring = tostring
local tonumber = tonumber
local str_find = string.find
local str_sub = string.sub
local str_upper = string.upper
local ngx_req = ngx.req
local spawn = ngx.thread.spawn
local wait = ngx.thread.wait
local capture = ngx.location.capture
local with_span = context.with_span
local KEY = state.KEY
local get_ctx = state.ctx
local tracer = state.tracer
local current_context = state.current_context
local set_method = http.set_method
local authority = http.authority
local METHOD_NAMES = http.METHOD_NAMES
local end_server = request.end_server
local run_in = threads.run_in

local CLIENT = otel.kind.CLIENT
local ERROR = otel.status.ERROR

local _M = {}

local CLIENT_KEYS = {
    "http.request.method", "http.request.method_original", "url.full",
    "url.path", "server.address", "server.port",
}
local cattrs = {}
local copts = { kind = CLIENT, parent = nil, attributes = cattrs }

local function clear(t, keys)
    for i = 1, #keys do
        t[keys[i]] = nil
    end
end

-- Starts a CLIENT span; returns it and the carrier to send.
local function client(method, attrs_full, path, opts, c, level)
    local attrs = cattrs
    local name = set_method(attrs, str_upper(method))
    local extra
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("otel.ngx: opts must be a table, got " .. type(opts),
                  level + 1)
        end
        name = opts.name or name
        extra = opts.attributes
        if extra ~= nil and type(extra) ~= "table" then
            error("otel.ngx: opts.attributes must be a table, got "
                  .. type(extra), level + 1)
        end
        if opts.parent ~= nil then
            c = opts.parent
            if getmetatable(c) ~= context.Context then
                c = with_span(c)
            end
        end
    end
    if attrs_full then
        attrs["url.full"] = attrs_full
        local host, port = authority(attrs_full)
        attrs["server.address"] = host
        attrs["server.port"] = port
    else
        attrs["url.path"] = path
    end
    if extra then
        for k, v in pairs(extra) do
            attrs[k] = v
        end
    end
    copts.parent = c.span or false
    local ok, sp = pcall(tracer.start_span, tracer, name, copts)
    copts.parent = nil
    clear(attrs, CLIENT_KEYS)
    if extra then
        for k in pairs(extra) do
            attrs[k] = nil
        end
    end
    if not ok then
        error(sp, level + 1)
    end
    local carrier = {}
    state.propagation().inject(carrier, with_span(sp, c))
    return sp, carrier
end

-- otel.ngx.start_client(method, url[, opts]) -> span, headers.  A CLIENT
-- span for an outgoing HTTP request made with a cosocket client: send
-- `headers` (traceparent, ...) with the request and end the span with
-- otel.ngx.finish_client(span, status[, err]).
--   opts.name (default: the method), opts.attributes, opts.parent
function _M.start_client(method, url, opts)
    if type(method) ~= "string" then
        error("otel.ngx.start_client: method must be a string, got "
              .. type(method), 2)
    end
    if type(url) ~= "string" then
        error("otel.ngx.start_client: url must be a string, got "
              .. type(url), 2)
    end
    return client(method, url, nil, opts, current_context(), 2)
end

-- otel.ngx.finish_client(span, status[, err]): the response status (4xx
-- and 5xx are errors for a client), or nil and the error of a request
-- that got no response; ends the span.
local function finish_client(sp, status, err)
    status = tonumber(status)
    if status then
        sp:set_attribute("http.response.status_code", status)
        if status >= 400 then
            sp:set_attribute("error.type", tostring(status))
            sp:set_status(ERROR)
        end
    elseif err ~= nil then
        err = tostring(err)
        sp:set_attribute("error.type", err)
        sp:set_status(ERROR, err)
    end
    sp:finish()
end
_M.finish_client = finish_client

-- Sets the carrier's headers on the current request, for the subrequest
-- to copy; the values they replace are kept once per request (in ngx.ctx:
-- a request without a span may capture too), so that interleaved
-- captures (light threads) all restore the originals.
local K_ORIG = "otel.headers"

local function originals(ctx)
    local orig = ctx[K_ORIG]
    if not orig then
        orig = {}
        ctx[K_ORIG] = orig
    end
    return orig
end

local function inject_headers(orig, carrier)
    local current_headers
    for k, v in pairs(carrier) do
        if orig[k] == nil then
            current_headers = current_headers or ngx_req.get_headers()
            local o = current_headers[k]
            orig[k] = o == nil and false or o
        end
        ngx_req.set_header(k, v)
    end
end

local function restore_headers(orig, carrier)
    for k in pairs(carrier) do
        ngx_req.set_header(k, orig[k] or nil)
    end
end

local function copy(t)
    local c = {}
    if t then
        for k, v in pairs(t) do
            c[k] = v
        end
    end
    return c
end

-- otel.ngx.capture(uri[, options[, span_opts]]) -> ngx.location.capture's
-- result.  A CLIENT span around the subrequest, whose request headers
-- carry its context: the subrequest copies the current request's headers
-- when it is created, so they are set on the current request just before
-- and restored right after.  A SERVER span that the callee started with
-- start_request is ended here with the subrequest's status (the log
-- phase does not run for subrequests).
function _M.capture(uri, options, span_opts)
    if type(uri) ~= "string" then
        error("otel.ngx.capture: uri must be a string, got " .. type(uri),
              2)
    end
    if options ~= nil and type(options) ~= "table" then
        error("otel.ngx.capture: options must be a table, got "
              .. type(options), 2)
    end
    local ctx = get_ctx()
    local method = options and METHOD_NAMES[options.method] or "GET"
    local q = str_find(uri, "?", 1, true)
    local sp, carrier = client(method, nil, q and str_sub(uri, 1, q - 1)
                               or uri, span_opts, current_context(ctx), 2)
    -- a ctx of our own (unless the caller gives one) shows the callee's span
    local sub_opts = copy(options)
    local sub_ctx = sub_opts.ctx
    if sub_ctx == nil then
        sub_ctx = {}
        sub_opts.ctx = sub_ctx
    end
    local before = sub_ctx[KEY]
    local orig = originals(ctx)
    inject_headers(orig, carrier)
    local ok, res = pcall(capture, uri, sub_opts)
    restore_headers(orig, carrier)
    if not ok then
        finish_client(sp, nil, res)
        error(res, 2)
    end
    local callee = sub_ctx[KEY]
    if callee and callee ~= before and not callee.done then
        callee.done = true
        end_server(callee.span, res.status)
    end
    finish_client(sp, res.status)
    return res
end

local capture_one = _M.capture

local function capture_thread(req, span_opts)
    return capture_one(req[1], req[2], span_opts)
end

-- otel.ngx.capture_multi({ {uri, options}, ... }[, span_opts]) -> the
-- results, like ngx.location.capture_multi.  Each subrequest gets its own
-- CLIENT span and headers, so they are issued from light threads (all at
-- once, as capture_multi does) rather than by capture_multi itself, which
-- would give every subrequest the same headers.
function _M.capture_multi(reqs, span_opts)
    if type(reqs) ~= "table" then
        error("otel.ngx.capture_multi: expected an array of {uri, "
              .. "options}, got " .. type(reqs), 2)
    end
    local c = current_context()
    local n = #reqs
    local threads_ = {}
    for i = 1, n do
        local req = reqs[i]
        if type(req) ~= "table" or type(req[1]) ~= "string" then
            error("otel.ngx.capture_multi: request " .. i .. " must be "
                  .. "{uri, options}", 2)
        end
        local th, err = spawn(run_in, c, capture_thread, req, span_opts)
        if not th then
            error("otel.ngx.capture_multi: " .. tostring(err), 2)
        end
        threads_[i] = th
    end
    local results = {}
    for i = 1, n do
        local ok, res = wait(threads_[i])
        if not ok then
            error(res, 2)
        end
        results[i] = res
    end
    return unpack(results, 1, n)
end

return _M
