-- Fork safety: four workers forked from one master serve 20,000 requests;
-- no trace or span id may repeat, within a worker or across them.
local H = require "nginx.harness"

local N = 20000
local WORKERS = 4

describe(WORKERS .. " workers, " .. N .. " requests", function()
    local recv, nginx, reqs, status, errors, spans

    setup(function()
        recv = H.start_receiver()
        local err
        nginx, err = H.start_nginx {
            workers = WORKERS,
            init_worker = H.otlp_setup(recv),
            http = [[
    server {
        listen 127.0.0.1:${PORT1} reuseport backlog=4096;
        location = /__ready { return 204; }
        location /f {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = "/f",
                    attributes = { ["test.id"] = ngx.var.arg_id,
                                   ["worker.pid"] = ngx.worker.pid() } }
            }
            content_by_lua_block {
                require("otel.ngx").phase(function()
                    require("otel").tracer("t"):start_as_current_span(
                        "child", nil, function() ngx.say("ok") end)
                end)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
    }
]],
        }
        assert(nginx, err)
        reqs = {}
        for i = 1, N do
            reqs[i] = { url = nginx.url .. "/f?id=" .. i }
        end
        local _
        status, _, errors = H.parallel(reqs, 64)
        recv:wait_spans(2 * N, 60)
        recv:settle(0.3)
        spans = recv:spans()
    end)

    teardown(function()
        H.stop_all()
    end)

    it("answers every request", function()
        assert.same({}, errors)
        local ok = 0
        for i = 1, N do
            if status[reqs[i].url] == 200 then
                ok = ok + 1
            end
        end
        assert.equal(N, ok)
    end)

    it("exports a SERVER span and its child per request", function()
        assert.equal(2 * N, #spans)
        local by_id = H.index(spans)
        local servers = 0
        for _, s in ipairs(spans) do
            if s.name == "child" then
                local parent = by_id[s.parentSpanId]
                assert.equal("GET /f", parent and parent.name)
                assert.equal(parent.traceId, s.traceId)
            else
                servers = servers + 1
            end
        end
        assert.equal(N, servers)
    end)

    it("spreads the requests over every worker", function()
        local per = {}
        for _, s in ipairs(spans) do
            local pid = s.attrs["worker.pid"]
            if pid then
                per[pid] = (per[pid] or 0) + 1
            end
        end
        local n = 0
        for _ in pairs(per) do
            n = n + 1
        end
        assert.equal(WORKERS, n)
    end)

    it("never repeats a trace id or a span id", function()
        local traces, span_ids = {}, {}
        local n_traces, dup_traces, dup_spans = 0, 0, 0
        for _, s in ipairs(spans) do
            if span_ids[s.spanId] then
                dup_spans = dup_spans + 1
            end
            span_ids[s.spanId] = true
            if s.parentSpanId == "" then
                if traces[s.traceId] then
                    dup_traces = dup_traces + 1
                else
                    n_traces = n_traces + 1
                end
                traces[s.traceId] = true
            end
        end
        assert.equal(0, dup_spans)
        assert.equal(0, dup_traces)
        assert.equal(N, n_traces)
    end)
end)
