-- Handlers of t/nginx/jit_spec.lua: module functions, no closure per
-- request (what a tuned OpenResty application does), and a trace-abort
-- collector for the worker.
local otel = require "otel"
local otel_ngx = require "otel.ngx"
local jutil = require "jit.util"

local _M = {}

local tracer = otel.tracer("jit.app")
local aborts = {}

-- jit.attach callback: aborts in lua-otel's own modules.  A short inner
-- loop leaving its root trace is how LuaJIT links traces, not a failure
-- to compile.
local function on_trace(what, _, func, pc, _, oex)
    if what == "abort" then
        local info = jutil.funcinfo(func, pc)
        local src = info.source or "?"
        local msg = tostring(oex)
        if src:find("/lua/otel", 1, true)
           and not msg:find("^leaving loop") then
            aborts[#aborts + 1] = (info.loc or src) .. ": " .. msg
        end
    end
end

function _M.init_worker()
    jit.opt.start("hotloop=2", "hotexit=2")
    jit.attach(on_trace, "trace")
end

function _M.access()
    otel_ngx.start_request { route = "/jit" }
end

local function hello(span)
    span:set_attribute("app.item", 42)
    ngx.print("hello\n")
end

local function handler()
    tracer:start_as_current_span("handler", nil, hello)
end

function _M.content()
    otel_ngx.phase(handler)
end

function _M.log()
    otel_ngx.finish_request()
end

function _M.report()
    ngx.print(table.concat(aborts, "\n"))
end

return _M
