-- Handlers of bench/nginx/run.sh.  Module functions, no closure per
-- request: what a tuned OpenResty application does.  TRACING (set in
-- init_worker) selects the configuration: the same phases run either way.
-- luacheck: read_globals ngx TRACING
local otel = require "otel"
local otel_ngx = require "otel.ngx"

local tracer = otel.tracer("bench", "1.0")

local _M = {}

local PROXY = { route = "/proxy", upstream = true }
local PROXYS = { route = "/proxys" }

function _M.access()
    if TRACING then
        otel_ngx.start_request { route = "/bench" }
    end
end

-- proxy_pass with the upstream span, and without
function _M.proxy_access()
    if TRACING then
        otel_ngx.start_request(PROXY)
    end
end

function _M.proxys_access()
    if TRACING then
        otel_ngx.start_request(PROXYS)
    end
end

local function hello()
    ngx.print("hello\n")
end

local function handler()
    tracer:start_as_current_span("handler", nil, hello)
end

function _M.content()
    if TRACING then
        otel_ngx.phase(handler)
    else
        hello()
    end
end

function _M.log()
    if TRACING then
        otel_ngx.finish_request()
    end
end

return _M
