-- Hundreds of requests at once, whose handlers sleep, call this nginx
-- back over a cosocket and run light threads that make spans while the
-- others are suspended: every span must land in its own request's trace,
-- under the right parent.
local H = require "nginx.harness"

local KIND = H.KIND
local N = 400           -- requests
local PAR = 200         -- in flight at once
local PER = 11          -- spans per request (see app.work)

local function loc(path, handler)
    return ([[
        location %s {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = %q,
                    attributes = { ["test.id"] = ngx.var.arg_id } }
            }
            content_by_lua_block {
                require("otel.ngx").phase(require("app").%s)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
]]):format(path, path, handler)
end

local function trace_of(i)
    return ("%016x%016x"):format(0x5eed, i)
end

local function parent_of(i)
    return ("%016x"):format(0xcafe0000 + i)
end

describe("concurrent requests", function()
    local recv, nginx, reqs, status, bodies, errors, spans, groups

    setup(function()
        recv = H.start_receiver()
        local err
        nginx, err = H.start_nginx {
            workers = 2,
            init_worker = H.otlp_setup(recv),
            http = table.concat({
                "server {",
                "    listen 127.0.0.1:${PORT1} backlog=4096;",
                "    location = /__ready { return 204; }",
                loc("/work", "work"),
                loc("/upstream", "upstream"),
                "}",
            }, "\n"),
        }
        assert(nginx, err)
        reqs = {}
        for i = 1, N do
            local r = { url = nginx.url .. "/work?id=c" .. i, headers = {} }
            if i % 4 == 0 then
                r.headers.traceparent = "00-" .. trace_of(i) .. "-"
                                        .. parent_of(i) .. "-01"
                r.headers.tracestate = "t=" .. i
            end
            if i % 3 == 0 then
                r.headers.baggage = "user.id=u" .. i
            end
            reqs[i] = r
        end
        status, bodies, errors = H.parallel(reqs, PAR, nil, true)
        recv:wait_spans(N * PER, 30)
        recv:settle(0.3)
        spans = recv:spans()
        groups = H.group(spans, "test.id")
    end)

    teardown(function()
        H.stop_all()
    end)

    it("answers every request", function()
        assert.same({}, errors)
        for i = 1, N do
            assert.equal(200, status[reqs[i].url], reqs[i].url)
        end
    end)

    it("ran them concurrently", function()
        -- the SERVER spans of /work overlap: most requests were in flight
        -- while many others were
        local ev = {}
        for _, s in ipairs(spans) do
            if s.name == "GET /work" then
                ev[#ev + 1] = { tonumber(s.startTimeUnixNano), 1 }
                ev[#ev + 1] = { tonumber(s.endTimeUnixNano), -1 }
            end
        end
        table.sort(ev, function(a, b)
            return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2])
        end)
        local cur, max = 0, 0
        for _, e in ipairs(ev) do
            cur = cur + e[2]
            max = math.max(max, cur)
        end
        assert.truthy(max >= 50, "at most " .. max .. " in flight")
    end)

    it("exports every span once", function()
        assert.equal(N * PER, #spans)
        local _, dups = H.index(spans)
        assert.equal(0, dups)
    end)

    it("keeps each request's spans in one trace of its own", function()
        local ids_of_trace = {}
        for _, s in ipairs(spans) do
            local t = ids_of_trace[s.traceId] or {}
            ids_of_trace[s.traceId] = t
            t[s.attrs["test.id"]] = true
        end
        local traces = 0
        for tid, ids in pairs(ids_of_trace) do
            traces = traces + 1
            local n = 0
            for _ in pairs(ids) do
                n = n + 1
            end
            assert.equal(1, n, "trace " .. tid .. " mixes requests")
        end
        assert.equal(N, traces)
    end)

    it("parents every span right", function()
        for i = 1, N do
            local id = "c" .. i
            local g = groups[id]
            assert.equal(PER, g and #g or 0, id)
            local by = {}
            for _, s in ipairs(g) do
                by[s.name] = by[s.name] or {}
                table.insert(by[s.name], s)
            end
            local server = by["GET /work"][1]
            local handler = by["handler"][1]
            local client = by["GET"][1]
            local callee = by["GET /upstream"][1]
            local work = by["upstream.work"][1]
            assert.equal(KIND.SERVER, server.kind)
            assert.equal(KIND.CLIENT, client.kind)
            assert.equal(KIND.SERVER, callee.kind)
            if i % 4 == 0 then
                assert.equal(trace_of(i), server.traceId, id)
                assert.equal(parent_of(i), server.parentSpanId, id)
                assert.equal("t=" .. i, server.traceState, id)
                assert.equal("t=" .. i, callee.traceState, id)
            else
                assert.equal("", server.parentSpanId, id)
            end
            assert.equal(server.spanId, handler.parentSpanId, id)
            assert.equal(handler.spanId, client.parentSpanId, id)
            assert.equal(client.spanId, callee.parentSpanId, id)
            assert.equal(callee.spanId, work.parentSpanId, id)
            assert.equal(3, #by["thread"], id)
            assert.equal(3, #by["thread.child"], id)
            local threads = {}
            for _, t in ipairs(by["thread"]) do
                assert.equal(handler.spanId, t.parentSpanId, id)
                threads[t.spanId] = 0
            end
            for _, c in ipairs(by["thread.child"]) do
                assert.is_truthy(threads[c.parentSpanId], id)
                threads[c.parentSpanId] = threads[c.parentSpanId] + 1
            end
            for _, n in pairs(threads) do
                assert.equal(1, n, id)
            end
            for _, s in ipairs(g) do
                assert.equal(server.traceId, s.traceId, id)
            end
        end
    end)

    it("gives handler code its own request's context and baggage",
       function()
        for i = 1, N do
            local id = "c" .. i
            local body = bodies[i]
            local own, up = body:match("^(.-)upstream:(.*)$")
            assert.is_truthy(own, body)
            assert.matches("id=" .. id .. "\n", own, 1, true)
            local by = {}
            for _, s in ipairs(groups[id]) do
                by[s.name] = s
            end
            assert.matches("trace=" .. by["handler"].traceId, own, 1, true)
            assert.matches("span=" .. by["handler"].spanId, own, 1, true)
            assert.matches("trace=" .. by["upstream.work"].traceId, up, 1,
                           true)
            assert.matches("span=" .. by["upstream.work"].spanId, up, 1,
                           true)
            local bag = i % 3 == 0 and "u" .. i or "nil"
            assert.matches("baggage=" .. bag .. "\n", own, 1, true)
            assert.matches("baggage=" .. bag .. "\n", up, 1, true)
        end
    end)
end)
