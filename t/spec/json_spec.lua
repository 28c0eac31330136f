-- OTLP/HTTP with JSON bodies (otlp.protocol = "http/json"): the receiver
-- turns the hex ids into bytes and hands the rest to the official
-- OpenTelemetry JS code's fromObject(), which reads the protobuf JSON
-- mapping (lowerCamelCase names, int64 as strings, enums as integers).
-- Every field of the round trip arrives (t/roundtrip.lua), and what
-- arrives is the same, field by field, as what the protobuf round trip
-- delivers, but for the ids and clock times each run makes anew.
local otel = require "otel"
local util = require "util"
local roundtrip = require "roundtrip"

local R

local merge = util.merge

local function setup(opts)
    util.teardown(1000)
    opts = opts or {}
    local o = merge({ exporter = "otlp", processor = "batch",
                      service_name = "json-spec" }, opts)
    o.otlp = merge({ protocol = "http/json", endpoint = R.url }, opts.otlp)
    o.batch = merge({ schedule_delay_ms = 60000 }, opts.batch)
    otel.setup(o)
end

-- What differs between two runs of the same spans: ids and clock times.
local RUN_BOUND = { traceId = true, spanId = true, parentSpanId = true,
                    startTimeUnixNano = true, endTimeUnixNano = true,
                    timeUnixNano = true, seq = true }

local function strip(v)
    if type(v) ~= "table" then
        return v
    end
    local out = {}
    for k, x in pairs(v) do
        if not RUN_BOUND[k] then
            out[k] = strip(x)
        end
    end
    return out
end

local function by_name(spans)
    local t = {}
    for _, s in ipairs(spans) do
        assert(not t[s.name], "two spans named " .. s.name)
        t[s.name] = strip(s)
    end
    return t
end

local flushed = util.flushed

describe("OTLP/HTTP JSON export", function()
    util.receiver_hooks(0, function(r) R = r end)

    it("round-trips every field, the same as protobuf does", function()
        local json = roundtrip.run(R, setup, { otlp = { protocol =
                                                        "http/json" } })
        for _, rec in ipairs(R:requests()) do
            assert.are.equal("application/json", rec.content_type)
        end
        R:clear()
        local pb = roundtrip.run(R, setup, { otlp = { protocol =
                                                      "http/protobuf" } })
        for _, rec in ipairs(R:requests()) do
            assert.are.equal("application/x-protobuf", rec.content_type)
        end
        local J, P = by_name(json), by_name(pb)
        local n = 0
        for name, p in pairs(P) do
            assert.are.same(p, J[name], "span " .. name)
            n = n + 1
        end
        for name in pairs(J) do
            assert(P[name], "span " .. name .. " only in JSON")
        end
        assert.are.equal(11, n)
    end)

    it("gzips JSON bodies when asked", function()
        setup({ otlp = { compression = "gzip" } })
        local snap = util.snapshot()
        for i = 1, 50 do
            otel.tracer("spec.json"):start_span("gz." .. i):finish()
        end
        local d = flushed(snap)
        assert.are.equal(50, d.spans_exported)
        local rec = R:requests()[1]
        assert.are.equal("gzip", rec.content_encoding)
        assert.is_true(rec.body_size < rec.raw_size)
        assert.are.equal(50, rec.spans)
    end)

    it("reads a partial success from a JSON answer", function()
        setup()
        R:control("partial", { rejected = 4, message = "bad" })
        local snap = util.snapshot()
        for i = 1, 10 do
            otel.tracer("spec.json"):start_span("p." .. i):finish()
        end
        local d = flushed(snap)
        assert.are.equal(4, d.spans_dropped_rejected)
        assert.are.equal(6, d.spans_exported)
    end)

    it("writes doubles JSON cannot hold as the mapping says", function()
        setup()
        local s = otel.tracer("spec.json"):start_span("doubles")
        s:set_attributes({ nan = 0 / 0, inf = math.huge, ninf = -math.huge,
                           tiny = 5e-324 })
        s:finish()
        assert.is_true(otel.force_flush(10000))
        -- decoded by the official code: accepted, the finite one exact
        local rec = R:requests()[1]
        assert.are.equal(1, rec.spans)
        assert.are.equal(5e-324, R:spans()[1].attrs.tiny)
        -- the others as the strings of the mapping (the receiver's own
        -- JSON answer cannot carry NaN or the infinities)
        local raw = R:http("GET", "/requests/" .. rec.seq .. "/raw")
        assert.matches('"doubleValue":"NaN"', raw, 1, true)
        assert.matches('"doubleValue":"Infinity"', raw, 1, true)
        assert.matches('"doubleValue":"-Infinity"', raw, 1, true)
    end)
end)
