-- Tracers: start_span and start_as_current_span.
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"
local context = require "otel.context"
local sampler = require "otel.sampler"

local C = base.C
local state = base.state
local ffi_gc = ffi.gc
local type = type
local error = error
local xpcall = xpcall
local select = select
local unpack = unpack
local tostring = tostring
local traceback = debug.traceback
local setmetatable = setmetatable
local getmetatable = getmetatable
local pairs = pairs
local floor = math.floor
local VT_STRING, VT_BOOL, VT_INT, VT_DOUBLE =
    base.VT_STRING, base.VT_BOOL, base.VT_INT, base.VT_DOUBLE

local handle_t = span.handle_t
local INVALID = span.INVALID
local to_handle = span.to_handle
local tstate = span.tstate
local set_attrs = span.set_attrs
local time_arg = span.time_arg
local rec = context.rec
local pop_to = context.pop_to
local Context = context.Context

local _M = {}

local Tracer = {}
Tracer.__index = Tracer
_M.Tracer = Tracer

-- Sets the attributes of a unique scope: strings, booleans, numbers
-- (integral ones as int); other values are dropped and counted (the
-- start path that calls this never raises for them).
local function set_scope_attrs(c, attrs)
    for k, v in pairs(attrs) do
        local tv, rc = type(v), nil
        if type(k) == "string" then
            if tv == "string" then
                rc = C.otel_tracer_attr(c, k, #k, VT_STRING, v, #v, 0, 0)
            elseif tv == "boolean" then
                rc = C.otel_tracer_attr(c, k, #k, VT_BOOL, nil, 0,
                                        v and 1 or 0, 0)
            elseif tv == "number" and v == floor(v) and v >= -2^63
                   and v < 2^63 then
                rc = C.otel_tracer_attr(c, k, #k, VT_INT, nil, 0, v, 0)
            elseif tv == "number" then
                rc = C.otel_tracer_attr(c, k, #k, VT_DOUBLE, nil, 0, 0, v)
            end
        end
        if rc == nil then
            C.otel_stats_add(span.stat_index.values_rejected, 1)
        end
    end
end

-- The core tracer of the current provider (nil without one: no-op spans).
local function core(t)
    if t.epoch ~= state.epoch then
        local p = state.provider
        local name, version, schema = t.name, t.version, t.schema_url
        t.c = p and C.otel_provider_scope(p, name, #name, version, #version,
                                          schema, #schema,
                                          t.attributes and 1 or 0) or nil
        if t.c ~= nil and t.attributes then
            set_scope_attrs(t.c, t.attributes)
        end
        -- false unless the sampler reads start attributes or runs Lua
        t.sampling = p and state.sampling or false
        t.epoch = state.epoch
    end
    return t.c
end

-- attributes: the scope's (copied), or nil.
function _M.new(name, version, schema_url, attributes)
    local attrs
    if attributes then
        attrs = {}
        for k, v in pairs(attributes) do
            attrs[k] = v
        end
    end
    return setmetatable({ name = name, version = version or "",
                          schema_url = schema_url or "", attributes = attrs,
                          c = nil, epoch = -1, sampling = false }, Tracer)
end

-- opts.parent: nil (current), false (new root), a span, a span context or
-- a context.  Returns a handle, or nil for "the current span".
local function parent_of(opts, level)
    local p = opts.parent
    if p == nil then
        return nil
    end
    if p == false then
        return INVALID
    end
    local h = to_handle(p)
    if not h then
        error("otel: opts.parent must be a span, a span context, a context "
              .. "or false, got " .. type(p), level + 1)
    end
    return h
end

local function kind_of(opts, level)
    local k = opts.kind
    if k == nil then
        return 0
    end
    if k ~= 0 and k ~= 1 and k ~= 2 and k ~= 3 and k ~= 4 then
        error("otel: opts.kind must be one of otel.kind, got "
              .. tostring(k), level + 1)
    end
    return k
end

local function add_links(h, links, level)
    if type(links) ~= "table" then
        error("otel: opts.links must be an array of links, got "
              .. type(links), level + 1)
    end
    for i = 1, #links do
        local l = links[i]
        if type(l) ~= "table" then
            error("otel: a link must be a table { context = ..., "
                  .. "attributes = ... }", level + 1)
        end
        local ctx = l.context
        if ctx == nil and getmetatable(l) ~= nil then
            ctx = l     -- a span context given directly
        end
        local lh = to_handle(ctx)
        if not lh then
            error("otel: a link's context must be a span or a span "
                  .. "context, got " .. type(ctx), level + 1)
        end
        if h.recording == 1 then
            local idx = span.add_link(h, lh, tstate[lh], l.attributes)
            if idx >= 0 and l.attributes then
                set_attrs(h, -idx - 1, l.attributes, level + 1)
            end
        end
    end
end

-- The trace state of a child comes from its parent.
local function inherit_ts(h, parent)
    local ts = parent and tstate[parent]
    if ts then
        span.set_trace_state(h, ts)
    end
end

-- Attributes and links given at start (the sampler already ran).
local function apply_opts(h, opts, level)
    if opts.trace_state ~= nil then
        span.set_trace_state(h, opts.trace_state)
    end
    local attrs = opts.attributes
    if attrs ~= nil and h.recording == 1 then
        set_attrs(h, 0, attrs, level + 1)
    end
    if opts.links ~= nil then
        add_links(h, opts.links, level + 1)
    end
end

-- The name and the start options of a span: parent (nil for the current
-- one), kind, start time.  Errors blame the caller of the public method
-- (level 3 from here: start_span, or scoped tail-called in its place).
local function start_args(name, opts)
    if type(name) ~= "string" then
        error("otel: span name must be a string, got " .. type(name), 3)
    end
    if opts == nil then
        return nil, 0, 0
    end
    if type(opts) ~= "table" then
        error("otel: opts must be a table, got " .. type(opts), 3)
    end
    return parent_of(opts, 3), kind_of(opts, 3),
           time_arg(opts.start_time, "opts.start_time", 3)
end

-- tracer:start_span(name, opts) -> span, not made current.  A span that
-- is never finished is freed (and counted) when it is collected.
function Tracer:start_span(name, opts)
    local parent, kind, start = start_args(name, opts)
    if parent == nil then
        parent = context.current_span()
    end
    local h = handle_t()
    local c = core(self)
    local add, ts
    if self.sampling then
        add, ts = sampler._prepare(self.sampling, c, parent, name, kind,
                                   opts)
    end
    C.otel_span_start(c, parent, name, #name, kind, start, h)
    if h.recording == 1 then
        ffi_gc(h, C.otel_span_abandon)
    end
    if span.has_ts then
        inherit_ts(h, parent)
    end
    if opts ~= nil then
        apply_opts(h, opts, 2)
    end
    if add or ts then
        sampler._finish(h, add, ts)
    end
    return h
end

-- The error handler keeps the traceback of the raise; the wrapper never
-- escapes (the same error value is raised again).
local Raised = {}
local function on_error(e)
    return setmetatable({ e, traceback("", 2) }, Raised)
end

local function scope_exit(r, depth, h, ok, ...)
    if r.n == depth then
        r[depth] = nil
        r.n = depth - 1
        local b = r.b
        if b then
            b[depth] = nil
        end
    elseif r.n > depth then
        pop_to(r, depth - 1)
    end
    if ok then
        C.otel_scope_end(r.st, depth, h, 0)
        return ...
    end
    local w = ...
    local err, stack = w, ""
    if getmetatable(w) == Raised then
        err, stack = w[1], w[2]:gsub("^\n", "")
    end
    if h.recording == 1 then
        span.record_exception(h, err, nil, stack)
        local msg = span.exception_message(err)
        C.otel_span_set_status(h, 2, msg, #msg)
    end
    C.otel_scope_end(r.st, depth, h, 0)
    error(err, 0)
end

-- The scope proper.  It takes fn's arguments packed (or none), so that it
-- is not a vararg function: coroutine.running() ends a trace (it is not
-- compiled), and the trace that continues after it cannot read the
-- varargs of a frame it did not enter.
local function scoped(self, name, opts, fn, args)
    local parent, kind, start = start_args(name, opts)
    local r = rec()
    local fb
    if parent == nil and r.n == 0 then
        fb = context.fallback(r)
        if fb then
            parent = fb.span or INVALID
        end
    end
    local h = handle_t()
    local c = core(self)
    local add, ts
    if self.sampling then
        add, ts = sampler._prepare(self.sampling, c, parent or r[r.n],
                                   name, kind, opts)
    end
    local depth = C.otel_scope_start(c, r.st, parent, name, #name, kind,
                                     start, h)
    if depth < 0 then
        error("otel: cannot start span: " .. base.strerror(depth), 2)
    end
    if span.has_ts then
        inherit_ts(h, parent or r[depth - 1])
    end
    r[depth] = h
    r.n = depth
    local b = r.b
    if fb and fb.baggage then
        if not b then
            b = {}
            r.b = b
        end
        b[depth] = fb.baggage
    elseif b then
        b[depth] = b[depth - 1]
    end
    if opts ~= nil then
        apply_opts(h, opts, 2)
    end
    if add or ts then
        sampler._finish(h, add, ts)
    end
    if args == nil then
        return scope_exit(r, depth, h, xpcall(fn, on_error, h))
    end
    return scope_exit(r, depth, h, xpcall(fn, on_error, h,
                                          unpack(args, 1, args.n)))
end

-- tracer:start_as_current_span(name, opts, fn, ...) -> fn's results.
-- The span is current inside fn and ends when fn returns or raises; on a
-- raise it records the exception, sets ERROR and raises the same value.
function Tracer:start_as_current_span(name, opts, fn, ...)
    if type(fn) ~= "function" then
        if type(opts) == "function" then
            return self:start_as_current_span(name, nil, opts, fn, ...)
        end
        error("otel: start_as_current_span needs a function, got "
              .. type(fn), 2)
    end
    if select("#", ...) == 0 then
        return scoped(self, name, opts, fn, nil)
    end
    return scoped(self, name, opts, fn, { n = select("#", ...), ... })
end

_M.Context = Context
return _M
