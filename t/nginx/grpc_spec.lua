-- otel.ngx exporting over OTLP/gRPC from the nginx workers' export
-- threads: the same request spans as over OTLP/HTTP (request_spec.lua)
-- reach the test receiver's gRPC server, one connection per worker.
local H = require "nginx.harness"

local KIND = H.KIND

local TID = "4bf92f3577b34da6a3ce929d0e0e4736"
local SID = "00f067aa0ba902b7"

local function loc(path, handler)
    return ([[
        location %s {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = %q,
                    attributes = { ["test.id"] = ngx.var.arg_id or "-" } }
            }
            content_by_lua_block {
                require("otel.ngx").phase(require("app").%s)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
]]):format(path, path, handler)
end

describe("otel.ngx over OTLP/gRPC", function()
    local recv, nginx

    setup(function()
        recv = H.start_receiver(nil, { grpc = true })
        local err
        nginx, err = H.start_nginx {
            workers = 2,
            init_worker = H.otlp_setup(recv, { delay = 50, grpc = true }),
            http = table.concat({
                "    server {",
                "        listen 127.0.0.1:${PORT1};",
                "        location = /__ready { return 204; }",
                loc("/work", "work"),
                loc("/upstream", "upstream"),
                "    }",
            }, "\n"),
        }
        assert(nginx, err)
    end)

    teardown(function()
        H.stop_all()
    end)

    it("exports a request's spans over grpc", function()
        local code = H.get(nginx.url .. "/work?id=grpc", {
            traceparent = "00-" .. TID .. "-" .. SID .. "-01" })
        assert.equal(200, code)
        local got
        local deadline = H.now() + 10
        repeat
            got = H.group(recv:spans(), "test.id").grpc or {}
            H.sleep(0.1)
        until #got >= 11 or H.now() > deadline
        local s = {}
        for _, sp in ipairs(got) do
            s[sp.name] = sp
        end
        local server = assert(s["GET /work"], "no server span")
        assert.equal(KIND.SERVER, server.kind)
        assert.equal(TID, server.traceId)
        assert.equal(SID, server.parentSpanId)
        assert.equal("/work", server.attrs["http.route"])
        assert.equal("200", server.attrs["http.response.status_code"])
        assert.equal("nginx-test", server.resource["service.name"])
        -- the outgoing call and its callee, in the same trace
        local callee = assert(s["GET /upstream"], "no callee span")
        assert.equal(TID, callee.traceId)
        assert.equal(s["GET"].spanId, callee.parentSpanId)
        for _, sp in ipairs(got) do
            assert.equal(TID, sp.traceId)
        end
        -- every request came over gRPC
        local recs = recv:get("/requests")
        assert.is_true(#recs >= 1)
        for _, rec in ipairs(recs) do
            assert.is_true(rec.grpc)
        end
    end)

    it("delivers every span over grpc through a graceful stop", function()
        recv:clear()
        for i = 1, 20 do
            assert.equal(200, (H.get(nginx.url .. "/upstream?id=q" .. i)))
        end
        assert.is_true(nginx:quit(20))
        local n = 0
        for _, sp in ipairs(recv:spans()) do
            if sp.name == "GET /upstream" then
                n = n + 1
            end
        end
        assert.equal(20, n)
        assert.is_nil(nginx:error_log():find("otel: warning: export", 1, true))
    end)
end)
