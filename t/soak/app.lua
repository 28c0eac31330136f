-- The traced application of the overload soak (t/soak/run.sh), written
-- plainly against the otel API: per request, a SERVER span started in the
-- access phase with a child span under it, the SERVER span ended in the
-- log phase; otel.stats() as JSON at /stats.
local otel = require "otel"
local cjson = require "cjson"

-- luacheck: globals ngx

local _M = {}

local tracer
local traced = 0        -- requests whose SERVER span this worker ended

-- init_worker_by_lua: never before fork (DESIGN.md section 6).
function _M.init_worker(endpoint, queue)
    otel.setup({
        service_name = "lua-otel-soak",
        exporter = "otlp",
        processor = "batch",
        otlp = { endpoint = endpoint },
        batch = { max_queue_size = queue },
    })
    tracer = otel.tracer("lua-otel.soak", "1")
end

function _M.access()
    local server = tracer:start_span("GET " .. ngx.var.uri, {
        kind = otel.kind.SERVER,
        attributes = {
            ["http.request.method"] = ngx.req.get_method(),
            ["url.path"] = ngx.var.uri,
            ["url.scheme"] = "http",
            ["server.address"] = "127.0.0.1",
            ["user_agent.original"] = ngx.var.http_user_agent or "",
        },
    })
    local child = tracer:start_span("authorize", {
        parent = otel.context.with_span(server),
        attributes = { ["enduser.id"] = "soak" },
    })
    child:add_event("checked")
    child:finish()
    ngx.ctx.otel_server = server
end

function _M.log()
    local server = ngx.ctx.otel_server
    if server then
        server:set_attribute("http.response.status_code", ngx.status)
        if ngx.status >= 500 then
            server:set_status(otel.status.ERROR)
        end
        server:finish()
        traced = traced + 1
    end
end

function _M.stats()
    local s = otel.stats()
    s.worker_pid = ngx.worker.pid()
    s.requests_traced = traced
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode(s))
end

function _M.exit_worker()
    otel.shutdown(5000)
end

return _M
