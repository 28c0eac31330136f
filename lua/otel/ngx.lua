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
-- (otel_ngx = require "otel.ngx").  The functions live in modules by
-- concern, under otel/ngx/: state (the request's state and the core's
-- context hooks), request (the SERVER span), phase (the request context
-- attached in a handler), client (CLIENT spans, capture), threads (light
-- threads and timers), http (semantic-convention helpers).  This module
-- is the entry point (otel/ngx.lua rather than otel/ngx/init.lua, so a
-- lua_package_path with only "?.lua" finds it, as it finds otel.lua).
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
-- Timers: otel.ngx.timer_at runs the callback in a new trace linked to
-- the span that scheduled it (see otel/ngx/threads.lua).
--
-- Internal redirects (ngx.exec, error_page, try_files to a named location)
-- clear ngx.ctx, and the log phase does not run for subrequests: see
-- finish_request() and capture().
local ngx = ngx
if type(ngx) ~= "table" then
    error("otel.ngx: needs lua-nginx-module (the ngx API is not there)", 2)
end

local otel = require "otel"
local request = require "otel.ngx.request"
local phase = require "otel.ngx.phase"
local client = require "otel.ngx.client"
local threads = require "otel.ngx.threads"
local log = require "otel.ngx.log"

local error = error
local getinfo = debug.getinfo
local get_phase = ngx.get_phase

local _M = { _VERSION = otel._VERSION }

-- the SERVER span (otel/ngx/request.lua)
_M.start_request = request.start_request
_M.finish_request = request.finish_request
_M.request_span = request.request_span
_M.request_context = request.request_context

-- the request context in handlers (otel/ngx/phase.lua)
_M.phase = phase.phase
_M.attach = phase.attach

-- CLIENT spans (otel/ngx/client.lua)
_M.start_client = client.start_client
_M.finish_client = client.finish_client
_M.capture = client.capture
_M.capture_multi = client.capture_multi

-- light threads and timers (otel/ngx/threads.lua)
_M.log_fields = log.log_fields

_M.spawn = threads.spawn
_M.timer_at = threads.timer_at

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
