-- ns per span with the 10-rule sampler of bench/bench_rules.c against
-- always_on, for the same span (4 start attributes, exporter none): what
-- the rules cost from Lua, start attributes passed included.
local otel = require "otel"
local clock = os.clock
local S = otel.sampler
local N = tonumber(arg and arg[1]) or 1000000

local RULES = {
    { route = "/health", ratio = 0 },
    { route = "/ready", ratio = 0 },
    { path_prefix = "/admin/", ratio = 1 },
    { method = "OPTIONS", ratio = 0 },
    { name = "cache.get", kind = otel.kind.CLIENT, ratio = 0 },
    { attributes = { tenant = "acme" }, route = "/orders/{id}",
      ratio = 0.5 },
    { route = "/search", ratio = 0.01 },
    { method = "DELETE", ratio = 1 },
    { path_prefix = "/api/v2/", ratio = 0.2 },
    { attributes = { tenant = "vip" }, ratio = 1 },
}

local opts = { kind = otel.kind.SERVER, attributes = {
    ["http.route"] = "/orders/{id}", ["http.request.method"] = "GET",
    ["url.path"] = "/orders/42", tenant = "vip" } }

local function run(tracer, n)
    for _ = 1, n do
        tracer:start_span("GET /orders/{id}", opts):finish()
    end
end

local function measure(sampler)
    otel.setup({ exporter = "none", processor = "simple",
                 sampler = sampler })
    local tracer = otel.tracer("bench", "1.0")
    run(tracer, N / 10)
    local best = math.huge
    for _ = 1, 5 do
        local t0 = clock()
        run(tracer, N)
        best = math.min(best, (clock() - t0) * 1e9 / N)
    end
    otel.shutdown()
    return best
end

local on = measure(S.always_on())
local rules = measure(S.rules(RULES, S.always_on()))
print(string.format("(d) span with 4 start attributes, always_on : %7.1f "
                    .. "ns/span", on))
print(string.format("(e) the same through 10 rules (last matches): %7.1f "
                    .. "ns/span (+%.1f)", rules, rules - on))
