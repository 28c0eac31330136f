-- OpenResty helpers: a SERVER span per request, CLIENT spans with context
-- injection, and the request's context carried into light threads and
-- timers.
--
--   init_worker_by_lua_block { require("otel").setup { ... } }
--   access_by_lua_block  { otel_ngx.start_request { route = "/orders/:id" } }
--   content_by_lua_block { otel_ngx.phase(handler) }
--   log_by_lua_block     { otel_ngx.finish_request() }
--   exit_worker_by_lua_block { require("otel.ngx").exit_worker() }
--
-- (otel_ngx = require "otel.ngx").
--
-- The request span as parent in every phase.  lua-nginx-module runs
-- rewrite, access and content in an entry coroutine that it takes from a
-- cache and gives back when the handler returns
-- (lua_thread_cache_max_entries), so the same coroutine serves the next
-- phase or another request, and it runs header_filter, body_filter and
-- log on the main Lua thread that every request of the worker shares.
-- This module sets the core's context hooks (otel.context.hooks):
--   owner    = the request's ngx.ctx: a coroutine's stack belongs to the
--              request that last used it, so what a handler left there
--              (an ngx.exit inside a scoped span never returns to end it)
--              is abandoned and counted, never inherited by the next
--              request;
--   fallback = the request's context (kept in ngx.ctx by start_request):
--              code with nothing attached -- any handler, filter, log, a
--              light thread -- gets the request span as parent.
-- start_request() therefore leaves nothing attached.
--
--   otel.ngx.phase(fn, ...)    runs fn with the request context attached,
--                              detached again when fn returns or raises
--
-- is for handlers that may end the request with ngx.exit inside a span:
-- finish_request() then ends (and exports) the spans fn left open instead
-- of letting them be abandoned.  otel.ngx.attach() -> token is the same
-- step by hand: detach the token before the handler returns.
--
-- The helpers of this module (start_client, capture, capture_multi, spawn,
-- timer_at) take the request context from ngx.ctx themselves when nothing
-- is attached in the running coroutine.
--
-- Timers: the callback of otel.ngx.timer_at runs in a new trace, under a
-- root span "ngx.timer" that links to the span that scheduled it, with the
-- scheduler's baggage.  Timer work outlives the request (it often runs
-- after the response, or recurs): as a child it would stretch the
-- request's trace past its end, so the OpenTelemetry convention for
-- detached work -- a new trace with a link -- applies.  Rename the span
-- from the callback (otel.context.current_span():update_name(...)); for a
-- child of the request instead, use ngx.timer.at(delay,
-- otel.context.wrap(fn)).
--
-- Internal redirects (ngx.exec, error_page, try_files to a named location)
-- clear ngx.ctx, and the log phase does not run for subrequests: see
-- finish_request() and capture().
local otel = require "otel"
local base = require "otel.ffi"
local context = require "otel.context"

local ngx = ngx
if type(ngx) ~= "table" then
    error("otel.ngx: needs lua-nginx-module (the ngx API is not there)", 2)
end

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
local getinfo = debug.getinfo
local C = base.C
local attach = context.attach
local detach = context.detach
local current = context.current
local with_span = context.with_span
local ngx_var = ngx.var
local ngx_req = ngx.req
local get_phase = ngx.get_phase
local spawn = ngx.thread.spawn
local wait = ngx.thread.wait
local timer_at = ngx.timer.at
local capture = ngx.location.capture

local SERVER, CLIENT = otel.kind.SERVER, otel.kind.CLIENT
local ERROR = otel.status.ERROR
local INVALID = otel.INVALID_SPAN
local ROOT = context.ROOT

-- ngx.ctx keys
local K_SPAN = "otel.span"          -- the request's SERVER span
local K_CTX = "otel.context"        -- its context (span + baggage)
local K_DONE = "otel.done"          -- finish_request() ran
local K_ORIG = "otel.headers"       -- request headers before injection
local K_PHASE = "otel.phase"        -- the phase() running (see below)

-- The core's context hooks (otel.context.hooks): a handler coroutine
-- serves many requests, so its stack belongs to the request that last
-- used it, and code with nothing attached -- a handler that does not use
-- phase(), a light thread -- runs under the request's context.  ngx.ctx
-- is not available in every phase (init_by_lua): no request there.
local function get_ctx()
    return ngx.ctx
end

local function request_ctx()
    local ok, ctx = pcall(get_ctx)
    if ok then
        return ctx
    end
    return nil
end

context.hooks.owner = request_ctx
context.hooks.fallback = function()
    local ctx = request_ctx()
    return ctx and ctx[K_CTX] or nil
end

local _M = { _VERSION = otel._VERSION }

local tracer = otel.tracer("otel.ngx", otel._VERSION)

-- otel.propagation is another module of the binding; looked up on first
-- use so that load order does not matter.
local propagation
local function prop()
    if not propagation then
        propagation = otel.propagation or require "otel.propagation"
    end
    return propagation
end

-- ---- otel.setup in the wrong phase ----------------------------------------

local hook

-- The stack level that blames the caller of otel.setup.
local function setup_caller()
    local setup = otel.setup
    for level = 3, 30 do
        local info = getinfo(level, "f")
        if not info then
            break
        end
        if info.func == setup then
            return level
        end
    end
    return 3
end

local function install_hook()
    local prev = otel.setup_hook
    if prev == hook and hook ~= nil then
        return
    end
    hook = function(opts)
        if get_phase() == "init" then
            error("otel.setup: call it in init_worker_by_lua (not "
                  .. "init_by_lua: the exporter thread and the id "
                  .. "generator do not survive the fork into the workers)",
                  setup_caller())
        end
        if prev then
            return prev(opts)
        end
    end
    otel.setup_hook = hook
end
install_hook()

-- ---- request attributes ----------------------------------------------------

local KNOWN_METHODS = {
    GET = true, HEAD = true, POST = true, PUT = true, DELETE = true,
    CONNECT = true, OPTIONS = true, TRACE = true, PATCH = true,
}

-- ngx.req.http_version() -> network.protocol.version (a chain of tests:
-- a table with these keys, some integral, is one that LuaJIT does not
-- compile lookups in).
local function protocol_version(v)
    if v == 1.1 then
        return "1.1"
    elseif v == 2 then
        return "2"
    elseif v == 1 then
        return "1.0"
    elseif v == 3 then
        return "3"
    elseif v == 0.9 then
        return "0.9"
    end
    return nil
end

-- ngx.HTTP_* method constants (capture's options.method) to names.
local METHOD_NAMES = {}
for _, m in pairs { "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS",
                    "MKCOL", "COPY", "MOVE", "PROPFIND", "PROPPATCH",
                    "LOCK", "UNLOCK", "PATCH", "TRACE" } do
    local v = ngx["HTTP_" .. m]
    if v then
        METHOD_NAMES[v] = m
    end
end

local function first(v)
    if type(v) == "table" then
        return v[1]
    end
    return v
end

-- Sets http.request.method (and _original) in attrs; returns the method
-- as the span name shows it.
local function set_method(attrs, method)
    if KNOWN_METHODS[method] then
        attrs["http.request.method"] = method
        return method
    end
    attrs["http.request.method"] = "_OTHER"
    attrs["http.request.method_original"] = method
    return "HTTP"
end

-- Span names "METHOD route", made once per method and route (routes are
-- few by definition; past a bound, names are made per request).
local names = {}
local n_names = 0

local function span_name(method, route)
    if not route then
        return method
    end
    local by = names[method]
    if not by then
        by = {}
        names[method] = by
    end
    local name = by[route]
    if not name then
        name = method .. " " .. route
        if n_names < 4096 then
            by[route] = name
            n_names = n_names + 1
        end
    end
    return name
end

local DEFAULT_PORTS = { http = 80, https = 443, ws = 80, wss = 443 }

-- "host[:port]" or "[v6][:port]" -> host, port (nil when absent).
local function split_host(hp)
    if str_sub(hp, 1, 1) == "[" then
        local rb = str_find(hp, "]", 1, true)
        if rb then
            return str_sub(hp, 2, rb - 1), tonumber(str_sub(hp, rb + 2))
        end
        return hp, nil
    end
    local c = str_find(hp, ":", 1, true)
    if c then
        return str_sub(hp, 1, c - 1), tonumber(str_sub(hp, c + 1))
    end
    return hp, nil
end

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

local function clear(t, keys)
    for i = 1, #keys do
        t[keys[i]] = nil
    end
end

-- The context to carry or to parent under: what is attached in the
-- running coroutine, else the request's.
local function current_context(ctx)
    local cur = current()
    if cur ~= ROOT then
        return cur
    end
    return (ctx or ngx.ctx)[K_CTX] or ROOT
end

-- ---- recycled coroutines --------------------------------------------------
--
-- What a handler left in its coroutine's context (an ngx.exit inside a
-- span never returns to the code that would end it) must not reach the
-- next handler that the coroutine serves: the owner hook set above has
-- otel.context empty a record the first time another request uses it, so
-- reading the record is the reset.
local rec = context.rec

-- After an ngx.exit inside phase(fn): ends the spans fn left open (the
-- request is over) and takes phase's entry off the stack, unless the
-- coroutine has served another request since (which cleared it).
local function unwind(ctx)
    local p = ctx[K_PHASE]
    ctx[K_PHASE] = nil
    local r = p.r
    if r.st ~= p.st or r.n < p.depth or r[p.depth] ~= p.span then
        return
    end
    for i = r.n, p.depth + 1, -1 do
        local h = r[i]
        if h.recording == 1 then
            C.otel_scope_end(r.st, i, h, 0)
        end
    end
    C.otel_stack_detach(r.st, p.depth, p.token.serial)
    context.pop_to(r, p.depth - 1)
end

-- ---- the SERVER span -------------------------------------------------------

-- otel.ngx.start_request([opts]) -> span.  In rewrite, access (or content).
--   opts.route         low-cardinality route: span "METHOD route", http.route
--   opts.record_query  true: url.query too (it may hold secrets)
--   opts.attributes    more attributes, seen by the sampler
-- A second call in the same request returns the span of the first, with
-- the route of the second when it has one (a route often becomes known
-- only in access, after routing).  Nothing is left attached (see the top
-- of this file): run code that should see the span as its parent through
-- otel.ngx.phase.
function _M.start_request(opts)
    local ctx = ngx.ctx
    local sp = ctx[K_SPAN]
    if sp then
        local route = type(opts) == "table" and opts.route
        if type(route) == "string" then
            local method = ngx_req.get_method()
            sp:update_name(span_name(KNOWN_METHODS[method] and method
                                     or "HTTP", route))
            sp:set_attribute("http.route", route)
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
    end

    local headers = ngx_req.get_headers()
    local parent = prop().extract(headers) or ROOT
    local method = ngx_req.get_method()
    sopts.parent = parent
    sopts.attributes = extra
    -- the request began when nginx read it, before any phase ran
    sopts.start_time = ngx_req.start_time() * 1e9
    sp = tracer:start_span(span_name(KNOWN_METHODS[method] and method
                                     or "HTTP", route), sopts)
    sopts.parent = false
    sopts.attributes = nil
    -- nothing to gather for a span that is not recorded (sampled out)
    if sp.recording == 1 then
        server_attributes(sp, headers, method, route, record_query)
    end

    ctx[K_SPAN] = sp
    ctx[K_CTX] = with_span(sp, parent ~= ROOT and parent or nil)
    return sp
end

-- otel.ngx.request_span() -> the request's SERVER span, or the invalid span.
function _M.request_span()
    return ngx.ctx[K_SPAN] or INVALID
end

-- otel.ngx.request_context() -> the request's context, or nil.
function _M.request_context()
    return ngx.ctx[K_CTX]
end

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

-- otel.ngx.finish_request(): in the log phase, sets the response status
-- (ERROR for 5xx) and ends the request span.  The log phase does not run
-- for subrequests: a location reached by ngx.location.capture can call it
-- from body_filter_by_lua, where it ends the span at the last buffer
-- (otel.ngx.capture ends the callee's span itself).
function _M.finish_request()
    local ctx = ngx.ctx
    local phase = get_phase()
    local p = ctx[K_PHASE]
    if p and p.phase ~= phase then
        unwind(ctx)
    end
    local sp = ctx[K_SPAN]
    if not sp or ctx[K_DONE] then
        return
    end
    if phase == "body_filter" and not ngx.arg[2] then
        return
    end
    ctx[K_DONE] = true
    end_server(sp, ngx.status)
end

-- ---- the request context in later phases -----------------------------------

-- otel.ngx.attach() -> token, or nil when the request has no span.  Give
-- the token back to otel.context.detach before the handler returns (see
-- the top of this file).
function _M.attach()
    local ctx = ngx.ctx
    local c = ctx[K_CTX]
    if c then
        rec()
        return attach(c)
    end
    return nil
end

local function leave(token, ok, ...)
    if token then
        detach(token)
    end
    if not ok then
        error((...), 0)
    end
    return ...
end

local function run_in(c, fn, ...)
    rec()
    local token = c ~= ROOT and attach(c) or nil
    return leave(token, pcall(fn, ...))
end

local function leave_phase(ctx, p, prev, ok, ...)
    ctx[K_PHASE] = prev
    detach(p.token)
    if not ok then
        error((...), 0)
    end
    return ...
end

-- otel.ngx.phase(fn, ...) -> fn's results: fn runs with the request
-- context current, in any phase (see the top of this file).  Errors are
-- raised again as they are.
function _M.phase(fn, ...)
    if type(fn) ~= "function" then
        error("otel.ngx.phase: expected a function, got " .. type(fn), 2)
    end
    local ctx = ngx.ctx
    local phase = get_phase()
    local prev = ctx[K_PHASE]
    if prev and prev.phase ~= phase then
        -- an earlier phase ended with ngx.exit(ngx.OK) inside phase()
        unwind(ctx)
        prev = nil
    end
    local r = rec()
    local c = ctx[K_CTX]
    if not c then
        return fn(...)
    end
    local token = attach(c)
    local p = { r = r, st = r.st, depth = token.depth, span = r[token.depth],
                token = token, phase = phase }
    ctx[K_PHASE] = p
    return leave_phase(ctx, p, prev, pcall(fn, ...))
end

-- ---- light threads and timers -----------------------------------------------

-- otel.ngx.spawn(fn, ...) -> ngx.thread.spawn's results; fn runs in the
-- caller's context (else the request's).
function _M.spawn(fn, ...)
    if type(fn) ~= "function" then
        error("otel.ngx.spawn: expected a function, got " .. type(fn), 2)
    end
    return spawn(run_in, current_context(), fn, ...)
end

local topts = { parent = false, links = nil, attributes = nil }
local tlinks = { { context = nil } }
local PREMATURE = { ["ngx.timer.premature"] = true }

-- start_as_current_span passes the span first: fn gets ngx.timer's args.
local function call_timer(_, fn, ...)
    return fn(...)
end

local function run_timer(premature, from, fn, ...)
    rec()
    local sp = from.span
    local linked = sp and otel.span.is_valid(sp)
    -- the scheduler's baggage, without its span
    local token = from.baggage and attach(context.new(nil, from.baggage))
    tlinks[1].context = sp
    topts.links = linked and tlinks or nil
    topts.attributes = premature and PREMATURE or nil
    return leave(token, pcall(tracer.start_as_current_span, tracer,
                              "ngx.timer", topts, call_timer, fn,
                              premature, ...))
end

-- otel.ngx.timer_at(delay, fn, ...) -> ngx.timer.at's results.  fn runs
-- as ngx.timer.at runs it (premature first), in a new trace linked to the
-- caller's span (see the top of this file).
function _M.timer_at(delay, fn, ...)
    if type(fn) ~= "function" then
        error("otel.ngx.timer_at: expected a function, got " .. type(fn), 2)
    end
    return timer_at(delay, run_timer, current_context(), fn, ...)
end

-- ---- CLIENT spans -----------------------------------------------------------

local CLIENT_KEYS = {
    "http.request.method", "http.request.method_original", "url.full",
    "url.path", "server.address", "server.port",
}
local cattrs = {}
local copts = { kind = CLIENT, parent = nil, attributes = cattrs }

-- scheme://host[:port]/...  -> host, port (nil when url has no authority)
local function authority(url)
    local s = str_find(url, "://", 1, true)
    if not s then
        return nil
    end
    local scheme = str_sub(url, 1, s - 1)
    local a = s + 3
    local e = str_find(url, "/", a, true) or str_find(url, "?", a, true)
    local hostport = str_sub(url, a, (e or 0) - 1)
    local at = str_find(hostport, "@", 1, true)
    if at then
        hostport = str_sub(hostport, at + 1)
    end
    local host, port = split_host(hostport)
    return host, port or DEFAULT_PORTS[scheme:lower()]
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
    prop().inject(carrier, with_span(sp, c))
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
function _M.finish_client(sp, status, err)
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

local finish_client = _M.finish_client

-- Sets the carrier's headers on the current request, for the subrequest
-- to copy; the values they replace are kept once per request, so that
-- interleaved captures (light threads) all restore the originals.
local function inject_headers(ctx, carrier)
    local orig = ctx[K_ORIG]
    if not orig then
        orig = {}
        ctx[K_ORIG] = orig
    end
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

local function restore_headers(ctx, carrier)
    local orig = ctx[K_ORIG]
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
    local ctx = ngx.ctx
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
    local before = sub_ctx[K_SPAN]
    inject_headers(ctx, carrier)
    local ok, res = pcall(capture, uri, sub_opts)
    restore_headers(ctx, carrier)
    if not ok then
        finish_client(sp, nil, res)
        error(res, 2)
    end
    local callee = sub_ctx[K_SPAN]
    if callee and callee ~= before and not sub_ctx[K_DONE] then
        sub_ctx[K_DONE] = true
        end_server(callee, res.status)
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
    local threads = {}
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
        threads[i] = th
    end
    local results = {}
    for i = 1, n do
        local ok, res = wait(threads[i])
        if not ok then
            error(res, 2)
        end
        results[i] = res
    end
    return unpack(results, 1, n)
end

-- ---- worker exit ------------------------------------------------------------

-- otel.ngx.exit_worker([timeout_ms]) in exit_worker_by_lua: exports what
-- is queued (within timeout_ms, default 5000) and shuts the provider down.
function _M.exit_worker(timeout_ms)
    local ok, err = otel.shutdown(timeout_ms or 5000)
    if not ok and err ~= "not set up" then
        ngx.log(ngx.ERR, "otel: shutdown at worker exit: ", err)
    end
    local s = otel.stats()
    ngx.log(ngx.INFO, "otel: worker exit: ", s.spans_exported,
            " spans exported, ", s.spans_dropped_queue_full
            + s.spans_dropped_export_failed + s.spans_dropped_rejected
            + s.spans_dropped_shutdown, " dropped")
    return ok, err
end

return _M
