-- examples/nginx works as its comments say: run.sh starts it, and a
-- request to /orders/42 gives the trace it describes (to the receiver,
-- through OTEL_EXPORTER_OTLP_ENDPOINT and the `env` directive).
local H = require "nginx.harness"

describe("examples/nginx", function()
    teardown(function()
        H.stop_all()
    end)

    it("runs with one command and traces an order", function()
        local recv = H.start_receiver()
        local port = H.free_port()
        local tmp = H.tmpdir("example")
        local _, out = H.spawn("cd " .. H.quote(H.root) .. " && TMPDIR="
                               .. H.quote(tmp) .. " PORT=" .. port
                               .. " OTEL_BUILD=" .. H.quote(H.build)
                               .. " OTEL_EXPORTER_OTLP_ENDPOINT="
                               .. recv.url .. " exec sh examples/nginx/run.sh",
                               "nginx")
        local url = "http://127.0.0.1:" .. port
        local code, body
        for _ = 1, 100 do
            code, body = H.get(url .. "/orders/42")
            if code ~= 0 then
                break
            end
            H.sleep(0.1)
        end
        assert.equal(200, code, H.read_file(out))
        assert.equal("order 42: book, price 42.5, stock 7\n", body)
        assert.matches("curl -i " .. url .. "/orders/42",
                       H.read_file(out), 1, true)

        assert.truthy(recv:wait_spans(8, 10))
        recv:settle(0.3)
        local by = {}
        for _, s in ipairs(recv:spans()) do
            by[s.name] = s
        end
        local server = by["GET /orders/:id"]
        assert.equal("shop", server.resource["service.name"])
        assert.equal("42", server.attrs["order.id"])
        assert.equal(server.spanId, by["load order"].parentSpanId)
        assert.equal(server.spanId, by["compute price"].parentSpanId)
        local client = by["GET"]
        assert.equal(server.spanId, client.parentSpanId)
        local inventory = by["GET /inventory"]
        assert.equal(client.spanId, inventory.parentSpanId)
        assert.equal(inventory.spanId, by["count stock"].parentSpanId)
        local audit = by["audit order"]
        assert.not_equal(server.traceId, audit.traceId)
        assert.equal(server.spanId, audit.links[1].spanId)
        assert.equal(audit.spanId, by["write audit record"].parentSpanId)
    end)
end)
