-- The request's context carried into light threads and timers:
-- otel.ngx.spawn and otel.ngx.timer_at.
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
local otel = require "otel"
local context = require "otel.context"
local state = require "otel.ngx.state"

local ngx = ngx
local type = type
local error = error
local pcall = pcall
local rec = context.rec
local attach = context.attach
local detach = context.detach
local spawn = ngx.thread.spawn
local timer_at = ngx.timer.at
local current_context = state.current_context
local tracer = state.tracer
local ROOT = context.ROOT

local _M = {}

local function leave(token, ok, ...)
    if token then
        detach(token)
    end
    if not ok then
        error((...), 0)
    end
    return ...
end

-- run_in(context, fn, ...): fn in context, from a new light thread.
local function run_in(c, fn, ...)
    rec()
    local token = c ~= ROOT and attach(c) or nil
    return leave(token, pcall(fn, ...))
end
_M.run_in = run_in

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
-- caller's span.
function _M.timer_at(delay, fn, ...)
    if type(fn) ~= "function" then
        error("otel.ngx.timer_at: expected a function, got " .. type(fn), 2)
    end
    return timer_at(delay, run_timer, current_context(), fn, ...)
end

return _M
