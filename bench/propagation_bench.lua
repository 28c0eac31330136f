-- ns per request for propagation: extract of traceparent + tracestate +
-- baggage from a request's headers, then inject of the same context into
-- an outgoing carrier.  Best of 5 runs; Lua garbage per operation.
local otel = require "otel"
local clock = os.clock

local N = tonumber(arg and arg[1]) or 500000
local P = otel.propagation

-- Headers as ngx.req.get_headers() gives them (lower-case names).
local headers = {
    host = "shop.example.com",
    ["user-agent"] = "curl/8.5.0",
    accept = "*/*",
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    baggage = "user.id=alice,session=8f3a%2021;ttl=30,isProduction=false",
}
local out = {}

local function both(n)
    for _ = 1, n do
        P.inject(out, P.extract(headers))
    end
end

local ctx = P.extract(headers)
local function inject_only(n)
    for _ = 1, n do
        P.inject(out, ctx)
    end
end

local last
local function extract_only(n)
    for _ = 1, n do
        last = P.extract(headers)
    end
end

local function measure(fn)
    fn(N / 10)
    local best, bytes = math.huge, 0
    for _ = 1, 5 do
        collectgarbage("collect")
        collectgarbage("stop")
        local kb0 = collectgarbage("count")
        local t0 = clock()
        fn(N)
        local dt = clock() - t0
        bytes = (collectgarbage("count") - kb0) * 1024 / N
        collectgarbage("restart")
        best = math.min(best, dt * 1e9 / N)
    end
    return best, bytes
end

local a, ga = measure(both)
local e, ge = measure(extract_only)
local i, gi = measure(inject_only)
assert(last and out.traceparent == headers.traceparent)
if arg and arg[2] == "raw" then
    print(string.format("%.1f %.1f %.1f", a, e, i))
else
    print(string.format("propagation extract+inject: %.0f ns/op"
                        .. "   (%.0f bytes of Lua garbage)", a, ga))
    print(string.format("  extract only            : %.0f ns/op"
                        .. "   (%.0f bytes)", e, ge))
    print(string.format("  inject only             : %.0f ns/op"
                        .. "   (%.0f bytes)", i, gi))
end
