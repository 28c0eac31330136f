-- otel.ngx.phase and otel.ngx.attach: the request context attached in a
-- handler, and the unwinding of what an ngx.exit inside phase() left.
--
-- What a handler left in its coroutine's context (an ngx.exit inside a
-- span never returns to the code that would end it) must not reach the
-- next handler that the coroutine serves: the owner hook (state.lua) has
-- otel.context empty a record the first time another request uses it, so
-- reading the record is the reset.
local base = require "otel.ffi"
local context = require "otel.context"
local state = require "otel.ngx.state"

local ngx = ngx
local type = type
local error = error
local select = select
local unpack = unpack
local C = base.C
local rec = context.rec
local attach = context.attach
local attach_in = context.attach_in
local detach = context.detach
local get_phase = ngx.get_phase
local KEY = state.KEY
local get_ctx = state.ctx

local _M = {}

-- After an ngx.exit inside phase(fn): ends the spans fn left open (the
-- request is over) and takes phase's entry off the stack, unless the
-- coroutine has served another request since (which cleared it).
local function unwind(st)
    local p = st.phase
    st.phase = nil
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
    C.otel_stack_detach(r.st, p.depth, p.serial)
    context.pop_to(r, p.depth - 1)
end

-- unwind_stale(st, phase): unwinds a phase() of an earlier phase that
-- ended with ngx.exit inside it; true when there was one.
local function unwind_stale(st, phase)
    local p = st and st.phase
    if p and p.phase ~= phase then
        unwind(st)
        return true
    end
    return false
end
_M.unwind_stale = unwind_stale

-- otel.ngx.attach() -> token, or nil when the request has no span.  Give
-- the token back to otel.context.detach before the handler returns.
function _M.attach()
    local st = get_ctx()[KEY]
    local c = st and st.context
    if c then
        rec()
        return attach(c)
    end
    return nil
end

-- Ends phase()'s attach (p: its token).  It takes fn's results as
-- varargs, so it calls no Lua function on its usual path (only FFI): a
-- trace that started in a callee cannot return into a vararg frame (NYI
-- in LuaJIT 2.1).
local function leave_phase(st, p, ...)
    st.phase = p.prev
    local r, depth = p.r, p.depth
    if r.st == p.st and r.n == depth and r[depth] == p.span then
        C.otel_stack_detach(r.st, depth, p.serial)
        r[depth] = nil
        r.n = depth - 1
        local b = r.b
        if b then
            b[depth] = nil
        end
    else
        detach(p)           -- out of order, or moved: the general rules
    end
    return ...
end

local function call(fn, args)
    if args == nil then
        return fn()
    end
    return fn(unpack(args, 1, args.n))
end

-- phase() proper, not a vararg function (see leave_phase): fn's
-- arguments come packed, or nil for none.
local function run_phase(fn, args)
    local st = get_ctx()[KEY]
    -- a request span that is not recorded (no provider, sampled out)
    -- has nothing to unwind: fn runs as it is, and the fallback hook
    -- gives it the request's span as its current one
    if not st or st.span.recording == 0 then
        return call(fn, args)
    end
    local phase = get_phase()
    local prev = st.phase
    if unwind_stale(st, phase) then
        prev = nil
    end
    local r = rec()
    local p = attach_in(r, st.context)
    p.st, p.span, p.phase, p.prev = r.st, r[p.depth], phase, prev
    st.phase = p
    -- no pcall (compiled code cannot return into a pcall frame, so fn
    -- would run in the interpreter): when fn raises, the entry stays and
    -- is taken off like an ngx.exit's, by the next phase() or
    -- finish_request() of the request, or when the coroutine serves
    -- another request
    if args == nil then
        return leave_phase(st, p, fn())
    end
    return leave_phase(st, p, fn(unpack(args, 1, args.n)))
end

-- otel.ngx.phase(fn, ...) -> fn's results: fn runs with the request
-- context current, in any phase.  Errors are raised again as they are.
function _M.phase(fn, ...)
    if type(fn) ~= "function" then
        error("otel.ngx.phase: expected a function, got " .. type(fn), 2)
    end
    if select("#", ...) == 0 then
        return run_phase(fn, nil)
    end
    return run_phase(fn, { n = select("#", ...), ... })
end

return _M
