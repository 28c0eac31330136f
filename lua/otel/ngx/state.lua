-- The request's state: one table in ngx.ctx, made by start_request and
-- read by every other part of otel.ngx, and the core's context hooks
-- that give each handler coroutine to the request that runs it.
--
-- Fields of the state (all set by the module that owns them):
--   span     the SERVER span (request.lua)
--   context  its context: span + the incoming baggage (request.lua)
--   done     finish_request() ran (request.lua, client.lua for captures)
--   phase    the phase() running in this request (phase.lua)
--   upstream, upstream_t0  the proxied call's CLIENT span and when it
--            started (upstream.lua)
-- Parts that follow the request from start_request to finish_request
-- (the upstream span, log correlation) keep their fields here too.
local otel = require "otel"
local context = require "otel.context"
local ngx_base = require "resty.core.base"
local ngx_ctx = require "resty.core.ctx"


local current = context.current
local ROOT = context.ROOT

local _M = {}

local KEY = "otel"          -- the state's key in ngx.ctx
_M.KEY = KEY

-- ctx() -> the request's ngx.ctx (lua-resty-core's getter, called
-- directly rather than through the ngx table's __index).
local get_ctx = ngx_ctx.get_ctx_table
_M.ctx = get_ctx

function _M.new(ctx, sp, c)
    local st = { span = sp, context = c, done = false, phase = nil }
    ctx[KEY] = st
    return st
end

-- The request's context, or nil.
local function request_context(ctx)
    local st = ctx[KEY]
    return st and st.context or nil
end
_M.request_context = request_context

-- The core's context hooks (otel.context.hooks): a handler coroutine
-- serves many requests, so its stack belongs to the request that last
-- used it, and code with nothing attached -- a handler that does not use
-- phase(), a light thread -- runs under the request's context.  ngx.ctx
-- is not available in every phase (init_by_lua): no request there.
-- (No pcall: a compiled trace cannot return into its frame, so every
-- span call would leave compiled code; wherever there is a request, Lua
-- code runs with a request ctx.)
local get_request = ngx_base.get_request

local function request_ctx()
    if get_request() == nil then
        return nil
    end
    return get_ctx()
end

context.hooks.owner = request_ctx
context.hooks.fallback = function()
    local ctx = request_ctx()
    return ctx and request_context(ctx) or nil
end

-- The context to carry or to parent under: what is attached in the
-- running coroutine, else the request's.
function _M.current_context(ctx)
    local cur = current()
    if cur ~= ROOT then
        return cur
    end
    return request_context(ctx or get_ctx()) or ROOT
end

-- The tracer of every span otel.ngx makes.
_M.tracer = otel.tracer("otel.ngx", otel._VERSION)

-- otel.propagation is another module of the binding; looked up on first
-- use so that load order does not matter.
local propagation
function _M.propagation()
    if not propagation then
        propagation = otel.propagation or require "otel.propagation"
    end
    return propagation
end

return _M
