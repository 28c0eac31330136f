-- OTLP/gRPC end to end: the exporter speaks HTTP/2 through libcurl to the
-- test receiver's gRPC server (@grpc/grpc-js, t/receiver), which decodes
-- with the same official OpenTelemetry JS code as the HTTP one.
--
-- Every field of the round trip (t/roundtrip.lua) arrives over h2c with
-- gzip on and off; the endpoint follows the protocol; and each fault at
-- the collector (down, slow, hanging, UNAVAILABLE then OK,
-- RESOURCE_EXHAUSTED with and without RetryInfo, INVALID_ARGUMENT, partial
-- success, the stream or the connection reset mid-call) ends with the
-- accounting identity over the stats deltas:
--   ended = exported + dropped (queue full, export failed, rejected,
--           shutdown) + queued
-- No test asserts that something is fast; the time bounds are lower bounds
-- the exporter must honour (a RetryInfo delay).
local otel = require "otel"
local util = require "util"
local roundtrip = require "roundtrip"

local now_ms = util.now_ms

local R     -- the receiver, HTTP control and gRPC

local merge = util.merge

-- otel.setup with the grpc exporter aimed at R (opts.otlp adds to it);
-- batches on force_flush (a long schedule delay).  The processor's export
-- timeout bounds each export, retries included (the OTLP timeout, which
-- bounds the same, is 0: no limit).
local function setup(opts)
    util.teardown(1000)
    opts = opts or {}
    local o = merge({ exporter = "otlp", processor = "batch",
                      service_name = "grpc-spec" }, opts)
    o.otlp = merge({ protocol = "grpc", endpoint = R.grpc_url,
                     timeout_ms = 0 }, opts.otlp)
    o.batch = merge({ schedule_delay_ms = 60000,
                      export_timeout_ms = 5000 }, opts.batch)
    otel.setup(o)
end

local flushed = util.flushed

local tracer = otel.tracer("spec.grpc")

local function make_spans(n, prefix)
    return util.make_spans(tracer, n, prefix)
end

-- Every id in ids was received, each span exactly once; returns how many
-- ids there are.
local function delivered_once(ids)
    util.assert_subset(ids, util.received_once(R:spans()), "grpc")
    return util.count_keys(ids)
end

-- Ends n spans named prefix.i and flushes them: all n exported (after
-- `retries` retries, when given), each received once.  Returns the stats
-- delta.
local function delivered(n, prefix, retries)
    local snap = util.snapshot()
    local ids = make_spans(n, prefix)
    local d = flushed(snap)
    assert.are.equal(n, d.spans_exported)
    if retries then
        assert.are.equal(retries, d.export_retries)
    end
    assert.are.equal(n, delivered_once(ids))
    return d
end

describe("OTLP/gRPC export", function()
    util.receiver_hooks({ grpc = true }, function(r) R = r end)

    it("round-trips every field over h2c", function()
        roundtrip.run(R, setup, { otlp = { protocol = "grpc",
                                           endpoint = R.grpc_url } })
        for _, rec in ipairs(R:requests()) do
            assert.is_true(rec.grpc)
            assert.are.equal("identity", rec.content_encoding)
        end
    end)

    it("round-trips every field over h2c with gzip", function()
        roundtrip.run(R, setup, { otlp = { protocol = "grpc",
                                           endpoint = R.grpc_url,
                                           compression = "gzip" } })
        for _, rec in ipairs(R:requests()) do
            assert.are.equal("gzip", rec.content_encoding)
        end
    end)

    it("keeps one connection open and sends grpc-timeout", function()
        setup({ otlp = { timeout_ms = 7000 },
                batch = { export_timeout_ms = 20000 } })
        local before = R:stats().grpc_connections
        local snap = util.snapshot()
        for i = 1, 3 do
            make_spans(5, "conn" .. i)
            flushed(snap)
        end
        local recs = R:requests()
        assert.are.equal(3, #recs)
        for _, rec in ipairs(recs) do
            assert.are.equal(recs[1].connection, rec.connection)
            -- the deadline the exporter gave: its request timeout
            assert.is_true(rec.grpc_timeout_ms > 5000
                           and rec.grpc_timeout_ms <= 7000,
                           "grpc-timeout " .. rec.grpc_timeout_ms)
        end
        assert.are.equal(before + 1, R:stats().grpc_connections)
    end)

    describe("endpoint", function()
        local function endpoint(env, opts)
            local out
            util.with_env(merge({ OTEL_EXPORTER_OTLP_ENDPOINT = false,
                                  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = false,
                                  OTEL_EXPORTER_OTLP_PROTOCOL = false,
                                  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = false,
                                  OTEL_EXPORTER_OTLP_INSECURE = false },
                                env), function()
                util.teardown(1000)
                otel.setup(merge({ exporter = "otlp" }, opts))
                out = otel.info().endpoint
                otel.shutdown(1000)
            end)
            return out
        end

        it("follows the protocol, as the specification says", function()
            assert.are.equal("http://localhost:4317",
                             endpoint({}, { otlp = { protocol = "grpc" } }))
            util.with_env({ OTEL_EXPORTER_OTLP_PROTOCOL = "http/json" },
                          function()
                otel.setup({ exporter = "otlp" })
                assert.are.equal("http/json", otel.info().protocol)
                otel.shutdown(1000)
            end)
            assert.are.equal("http://localhost:4318/v1/traces",
                             endpoint({}, {}))
            assert.are.equal("http://localhost:4317", endpoint(
                { OTEL_EXPORTER_OTLP_PROTOCOL = "grpc" }, {}))
            -- the per-signal variable wins over the general one
            assert.are.equal("http://localhost:4318/v1/traces", endpoint(
                { OTEL_EXPORTER_OTLP_PROTOCOL = "grpc",
                  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = "http/protobuf" },
                {}))
            -- grpc takes the base endpoint as is, HTTP adds the path
            assert.are.equal("http://collector:4317", endpoint(
                { OTEL_EXPORTER_OTLP_ENDPOINT = "http://collector:4317",
                  OTEL_EXPORTER_OTLP_PROTOCOL = "grpc" }, {}))
            assert.are.equal("http://collector:4318/v1/traces", endpoint(
                { OTEL_EXPORTER_OTLP_ENDPOINT = "http://collector:4318" },
                {}))
            -- only the origin counts, whatever the scheme's length
            assert.are.equal("https://collector:4317", endpoint({},
                { otlp = { protocol = "grpc",
                           endpoint = "https://collector:4317/a/b" } }))
            assert.are.equal("averyveryverylongscheme://c:1", endpoint({},
                { otlp = { protocol = "grpc",
                           endpoint = "averyveryverylongscheme://c:1/x" } }))
            -- no scheme: TLS unless insecure
            assert.are.equal("https://collector:4317", endpoint({},
                { otlp = { protocol = "grpc",
                           endpoint = "collector:4317" } }))
            assert.are.equal("http://collector:4317", endpoint({},
                { otlp = { protocol = "grpc", endpoint = "collector:4317",
                           insecure = true } }))
            assert.are.equal("http://collector:4317", endpoint(
                { OTEL_EXPORTER_OTLP_INSECURE = "true" },
                { otlp = { protocol = "grpc",
                           endpoint = "collector:4317" } }))
        end)

        it("warns about an unsupported protocol and keeps the default",
           function()
            local out = util.read_cmd(util.CLEAN
                .. "OTEL_EXPORTER_OTLP_PROTOCOL=grpc/json luajit -e '"
                .. "package.path = \"lua/?.lua;\" .. package.path "
                .. "package.cpath = \"build/?.so;\" .. package.cpath "
                .. "local otel = require \"otel\" "
                .. "otel.setup{ exporter = \"otlp\" } "
                .. "print(otel.info().endpoint) otel.shutdown(100)' 2>&1")
            assert.matches("OTEL_EXPORTER_OTLP_PROTOCOL=grpc/json is not "
                           .. "valid, using http/protobuf instead", out, 1,
                           true)
            assert.matches("http://localhost:4318/v1/traces", out, 1, true)
            local _, lines = out:gsub("otel: warning:", "")
            assert.are.equal(1, lines)
        end)

        it("refuses an unknown otlp.protocol in setup", function()
            assert.has_error(function()
                otel.setup({ exporter = "otlp",
                             otlp = { protocol = "grpc+json" } })
            end, "otel.setup: otlp.protocol must be one of grpc, "
                 .. "http/json, http/protobuf, got grpc+json")
        end)
    end)

    -- ---- faults -------------------------------------------------------------

    it("is down: retried while the deadline allows, failed, counted",
       function()
        local G = util.receiver({ grpc = true })
        local url = G.grpc_url
        G:stop()
        setup({ otlp = { endpoint = url },
                batch = { export_timeout_ms = 2500 } })
        local snap = util.snapshot()
        make_spans(20, "down")
        local d = flushed(snap)
        assert.are.equal(20, d.spans_dropped_export_failed)
        assert.is_true(d.export_retries >= 1)
    end)

    it("is slow once within the timeout: waited for, delivered once",
       function()
        setup({ batch = { export_timeout_ms = 10000 } })
        R:control("slow", { delay_ms = 3000, times = 1 })
        delivered(20, "slow", 0)
        assert.is_true(R:requests(true)[1].accepted)
    end)

    it("is slow beyond otlp.timeout_ms: it bounds the export, retries "
       .. "included", function()
        setup({ otlp = { timeout_ms = 1500 },
                batch = { export_timeout_ms = 10000 } })
        R:control("slow", { delay_ms = 4000, times = 1 })
        local snap = util.snapshot()
        make_spans(20, "budget")
        local d = flushed(snap)
        assert.are.equal(20, d.spans_dropped_export_failed)
        assert.are.equal(0, d.export_retries)
        assert.is_false(R:requests(true)[1].accepted)
    end)

    it("hangs: failed at the deadline, counted, then recovers", function()
        setup({ batch = { export_timeout_ms = 2500 } })
        R:control("hang", { times = -1 })
        local snap = util.snapshot()
        make_spans(20, "hang")
        local d = flushed(snap)
        assert.are.equal(20, d.spans_dropped_export_failed)
        R:control("reset")
        delivered(10, "after")
    end)

    it("answers UNAVAILABLE, then OK: retried, delivered once", function()
        R:control("grpc_status", { code = 14, message = "overloaded",
                                   times = 2 })
        setup({ batch = { export_timeout_ms = 20000 } })
        local d = delivered(20, "unavailable", 2)
        assert.are.equal(3, d.export_requests)
    end)

    for _, c in ipairs({ { 1, "CANCELLED" }, { 4, "DEADLINE_EXCEEDED" },
                         { 10, "ABORTED" }, { 11, "OUT_OF_RANGE" },
                         { 15, "DATA_LOSS" } }) do
        it("retries " .. c[2] .. " as the specification says", function()
            R:control("grpc_status", { code = c[1], times = 1 })
            setup({ batch = { export_timeout_ms = 20000 } })
            delivered(5, c[2], 1)
        end)
    end

    for _, c in ipairs({ { 3, "INVALID_ARGUMENT" }, { 7, "PERMISSION_DENIED" },
                         { 12, "UNIMPLEMENTED" }, { 16, "UNAUTHENTICATED" },
                         { 8, "RESOURCE_EXHAUSTED without RetryInfo" } }) do
        it("drops on " .. c[2] .. ": not retried, counted", function()
            R:control("grpc_status", { code = c[1], message = "no",
                                       times = 1 })
            setup()
            local snap = util.snapshot()
            make_spans(20, "permanent")
            local d = flushed(snap)
            assert.are.equal(20, d.spans_dropped_export_failed)
            assert.are.equal(0, d.export_retries)
            assert.are.equal(1, d.export_requests)
            -- the next batch goes through
            delivered(5, "next")
        end)
    end

    it("retries RESOURCE_EXHAUSTED with RetryInfo after its delay",
       function()
        R:control("grpc_status", { code = 8, message = "slow down",
                                   retry_delay_ms = 2500, times = 1 })
        setup({ batch = { export_timeout_ms = 20000 } })
        local snap = util.snapshot()
        local ids = make_spans(20, "exhausted")
        local t0 = now_ms()
        local d = flushed(snap)
        local waited = now_ms() - t0
        assert.are.equal(20, d.spans_exported)
        assert.are.equal(1, d.export_retries)
        -- the server's delay is longer than our first backoff (<= 1 s)
        assert.is_true(waited >= 2500, "retried after " .. waited .. " ms")
        assert.are.equal(20, delivered_once(ids))
    end)

    it("answers a partial success: rejected spans counted, told once",
       function()
        R:control("partial", { rejected = 3, message = "bad spans",
                               times = 2 })
        setup()
        local snap = util.snapshot()
        local d
        local err = util.stderr_of(function()
            make_spans(20, "partial")
            d = flushed(snap)
            make_spans(20, "partial")
            d = flushed(snap)
        end)
        assert.are.equal(6, d.spans_dropped_rejected)
        assert.are.equal(34, d.spans_exported)
        assert.matches("3 span(s) rejected (partial success): bad spans",
                       err, 1, true)
        local _, lines = err:gsub("rejected %(partial success%)", "")
        assert.are.equal(1, lines)
    end)

    it("has the stream reset mid-call: retried, delivered once", function()
        R:control("close", { times = 1 })
        setup({ batch = { export_timeout_ms = 20000 } })
        delivered(20, "rst_stream", 1)
        assert.are.equal("close", R:requests(true)[1].fault)
    end)

    it("has the connection reset mid-call: retried, delivered once",
       function()
        R:control("close", { reset = true, times = 1 })
        setup({ batch = { export_timeout_ms = 20000 } })
        delivered(20, "rst", 1)
        assert.are.equal("reset", R:requests(true)[1].fault)
    end)

    it("speaks to an HTTP/1.1 OTLP endpoint: failed, counted", function()
        setup({ otlp = { endpoint = R.base } })
        local snap = util.snapshot()
        make_spans(5, "h1")
        local d = flushed(snap)
        assert.are.equal(5, d.spans_dropped_export_failed)
        assert.are.equal(0, #R:requests())
    end)
end)
