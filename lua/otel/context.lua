-- Context: one stack per coroutine.
--
-- The core keeps the stack (it owns the scoped spans on it, so a
-- coroutine collected in the middle of a scope leaks nothing); this module
-- keeps, per coroutine, the span objects and baggage at each depth, so
-- current_span() returns the very object that was attached.
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"

local C = base.C
local state = base.state
local ffi_gc = ffi.gc
local ffi_new = ffi.new
local co_running = coroutine.running
local new_tab = require "table.new"
local setmetatable = setmetatable
local getmetatable = getmetatable
local type = type
local error = error
local pcall = pcall

local INVALID = span.INVALID
local to_handle = span.to_handle

local _M = {}

-- A context: an immutable pair of a span and baggage.
local Context = {}
Context.__index = Context
span.Context = Context
_M.Context = Context

local ROOT = setmetatable({}, Context)
_M.ROOT = ROOT

function _M.new(sp, baggage)
    return setmetatable({ span = sp, baggage = baggage }, Context)
end

-- The main coroutine has no thread object in Lua 5.1 mode.
local MAIN = {}
local recs = setmetatable({}, { __mode = "k" })

-- A coroutine's record: st (the core's stack), n (depth), [1..n] the span
-- objects, b[1..n] the baggage (a table from its first use, false
-- before).  Every record has the same layout from the start (array part
-- sized, keys set in one order): compiled code checks a table's layout,
-- and records that differ would send it back to the interpreter.
local function new_rec(co)
    local st = C.otel_stack_new()
    if st == nil then
        error("otel: out of memory", 3)
    end
    local r = new_tab(8, 4)
    r.st = ffi_gc(st, C.otel_stack_free)
    r.n = 0
    r.b = false
    recs[co] = r
    return r
end

-- Hooks for hosts whose coroutines outlive one unit of work (nginx takes
-- its handler coroutines from a cache, so one coroutine serves many
-- requests, and runs filters and log on a thread all requests share):
--   owner()    -> an identity of the running unit of work (ngx.ctx); a
--                 record last used by another one is emptied first, and
--                 scoped spans left on it (an ngx.exit inside a scope)
--                 are abandoned and counted, never inherited;
--   fallback() -> the context to use when nothing is attached (the
--                 request's), or nil.
-- Both are nil outside such hosts and cost one test per span.
local hooks = { owner = nil, fallback = nil }
_M.hooks = hooks
local owners = setmetatable({}, { __mode = "kv" })

-- Pops Lua-side entries above depth.
local function pop_to(r, depth)
    local b = r.b
    for i = r.n, depth + 1, -1 do
        r[i] = nil
        if b then
            b[i] = nil
        end
    end
    r.n = depth
end
_M.pop_to = pop_to

local function reset(r, o)
    if r.n > 0 then
        local st = C.otel_stack_new()
        if st == nil then
            error("otel: out of memory", 4)
        end
        local old = r.st
        r.st = ffi_gc(st, C.otel_stack_free)
        ffi_gc(old, nil)
        C.otel_stack_free(old)      -- abandons what was left (counted)
        pop_to(r, 0)
    end
    owners[r] = o
end

-- Empties r when the owner hook names another unit of work.
local function claim(r)
    local owner = hooks.owner
    if owner then
        local o = owner()
        if owners[r] ~= o then
            reset(r, o)
        end
    end
end

local function rec()
    local co = co_running() or MAIN
    local r = recs[co]
    if not r then
        r = new_rec(co)
    end
    claim(r)
    return r
end
_M.rec = rec

-- The fallback context when r has nothing attached, else nil.
local function fallback(r)
    local fb = hooks.fallback
    if fb and (not r or r.n == 0) then
        return fb()
    end
    return nil
end
_M.fallback = fallback


-- The running coroutine's record, checked against the owner hook, or nil
-- when it has none yet (reading never creates one).
local function peek()
    local r = recs[co_running() or MAIN]
    if r then
        claim(r)
    end
    return r
end

function _M.current_span()
    local r = peek()
    if r and r.n > 0 then
        return r[r.n]
    end
    local fb = fallback(r)
    return fb and fb.span or INVALID
end

local function current_baggage(r)
    if not r or r.n == 0 then
        local fb = fallback(r)
        return fb and fb.baggage or nil
    end
    local b = r.b
    return b and b[r.n] or nil
end
_M.current_baggage = function()
    return current_baggage(peek())
end

function _M.current()
    local r = peek()
    if not r or r.n == 0 then
        return fallback(r) or ROOT
    end
    local sp = r[r.n]
    if sp == INVALID then
        sp = nil
    end
    return setmetatable({ span = sp, baggage = current_baggage(r) },
                        Context)
end

local Token = {}
Token.__index = Token

local serial = ffi_new("uint64_t[1]")

-- Pushes a span object and baggage; returns the depth and serial.
local function push(r, sp, baggage)
    local depth = C.otel_stack_push(r.st, sp, 0, serial)
    if depth < 0 then
        error("otel: out of memory", 3)
    end
    r[depth] = sp
    r.n = depth
    if baggage or r.b then
        local b = r.b
        if not b then
            b = {}
            r.b = b
        end
        b[depth] = baggage
    end
    return depth, serial[0]
end

-- attach(context | span) -> token; the span (and the context's baggage)
-- become current in the running coroutine.
function _M.attach(x)
    local r = rec()
    local sp, baggage
    if type(x) == "table" and getmetatable(x) == Context then
        sp = x.span or INVALID
        baggage = x.baggage
    else
        sp = to_handle(x)
        if not sp then
            error("otel.context.attach: expected a context, a span or a "
                  .. "span context, got " .. type(x), 2)
        end
        baggage = current_baggage(r)
    end
    local depth, s = push(r, sp, baggage)
    -- (not a tail call of setmetatable: a trace that begins inside push,
    -- at a side exit there, cannot return from a tail-called builtin to
    -- the frame below its start, "NYI: return to lower frame", and
    -- aborts; the same in attach_in)
    local t = setmetatable({ r = r, depth = depth, serial = s }, Token)
    return t
end

-- attach_in(r, context) -> token: attach for a caller that holds the
-- running coroutine's record (rec()) already.  The token is a table the
-- caller may add fields to.
function _M.attach_in(r, c)
    local depth, s = push(r, c.span or INVALID, c.baggage)
    local t = setmetatable({ r = r, depth = depth, serial = s }, Token)
    return t
end

local function mismatch(msg, level)
    if state.strict then
        error("otel.context.detach: " .. msg, level + 1)
    end
    return false
end

-- detach(token): restores exactly what was current before the attach.
-- Out of order or foreign tokens are counted (an error in strict mode)
-- and never touch another coroutine's stack.
function _M.detach(token)
    if type(token) ~= "table" or getmetatable(token) ~= Token then
        error("otel.context.detach: expected a token from "
              .. "otel.context.attach, got " .. type(token), 2)
    end
    local r = recs[co_running() or MAIN]
    if r ~= token.r then
        C.otel_stats_add(span.stat_index.detach_mismatches, 1)
        return mismatch("token belongs to another coroutine", 2)
    end
    local rc = C.otel_stack_detach(r.st, token.depth, token.serial)
    if rc < 0 then
        return mismatch("token was already detached", 2)
    end
    pop_to(r, token.depth - 1)
    if rc == 1 then
        return mismatch("detached out of order (contexts attached after "
                        .. "it were detached too)", 2)
    end
    return true
end

local function finish_wrap(token, ok, ...)
    local r = token.r
    if r.n >= token.depth then
        C.otel_stack_detach(r.st, token.depth, token.serial)
        pop_to(r, token.depth - 1)
    end
    if not ok then
        error((...), 0)
    end
    return ...
end

-- wrap(fn) -> a function that runs fn in the context current now, from
-- whatever coroutine calls it (coroutine.wrap, ngx.thread.spawn, timers).
function _M.wrap(fn)
    if type(fn) ~= "function" then
        error("otel.context.wrap: expected a function, got " .. type(fn), 2)
    end
    local ctx = _M.current()
    return function(...)
        local r = rec()
        local depth, s = push(r, ctx.span or INVALID, ctx.baggage)
        return finish_wrap({ r = r, depth = depth, serial = s },
                           pcall(fn, ...))
    end
end

-- with_span(span[, context]) -> a context with span in it.
function _M.with_span(sp, ctx)
    local h = to_handle(sp)
    if not h then
        error("otel.context.with_span: expected a span, got " .. type(sp),
              2)
    end
    if ctx ~= nil and getmetatable(ctx) ~= Context then
        error("otel.context.with_span: expected a context, got "
              .. type(ctx), 2)
    end
    return setmetatable({ span = h, baggage = ctx and ctx.baggage },
                        Context)
end

return _M
