-- The batch processor and the OTLP/HTTP exporter, end to end: spans made
-- through the Lua API travel through the worker thread and libcurl to the
-- test receiver (t/receiver), which decodes them with the official
-- OpenTelemetry JS protobuf code (the field-by-field round trip is
-- t/roundtrip.lua, shared with the other protocols' specs).
--
-- Every test checks the accounting identity over its own stats deltas:
--   ended = exported + dropped (queue full, export failed, rejected,
--           shutdown) + queued
-- No test asserts that something is fast; the few time bounds are either
-- lower bounds the exporter must honour (Retry-After) or ceilings orders of
-- magnitude above the expected figure.
local cjson = require "cjson"
local otel = require "otel"
local util = require "util"

local roundtrip = require "roundtrip"

local now_ms, sleep_ms, wait_for = util.now_ms, util.sleep_ms, util.wait_for

-- ---- the receiver (util.receiver) ---------------------------------------

local function start_receiver(port)
    return util.receiver(port)
end

local function stop_receiver(r)
    r:stop()
end

local R     -- the receiver of this file

local function http(method, path, body, r)
    return (r or R):http(method, path, body)
end

local function get_json(path, r)
    return (r or R):get_json(path)
end

local function control(name, opts)
    R:control(name, opts)
end

local function received(r)
    return (r or R):spans()
end

local function all_requests(r)
    return (r or R):requests(true)
end

-- ---- setup and accounting ---------------------------------------------------

local merge = util.merge

-- otel.setup with the OTLP exporter aimed at R (unless opts.otlp says
-- otherwise) and a short schedule delay.
local function setup(opts)
    util.teardown(1000)
    opts = opts or {}
    local o = merge({ exporter = "otlp", processor = "batch",
                      service_name = "export-spec" }, opts)
    o.otlp = opts.otlp or { endpoint = R.url }
    o.batch = merge({ schedule_delay_ms = 50 }, opts.batch)
    otel.setup(o)
end

local check_identity = util.check_identity

-- force_flush, then the stats delta since snap (identity checked).
-- force_flush answers true only when every span it waited for was
-- exported: pass err ("export failed") when some were not.
local function flushed(snap, timeout_ms, err)
    local ok, e = otel.force_flush(timeout_ms or 10000)
    assert.are.same({ err == nil or nil, err }, { ok, e })
    local d = util.delta(snap)
    check_identity(d)
    assert.are.equal(0, d.spans_queued)
    return d
end

local tracer = otel.tracer("spec.export", "3.1.4")

-- n plain spans named prefix.i; returns their span ids in a set.
local function make_spans(n, prefix)
    return util.make_spans(tracer, n, prefix or "s")
end

local count_keys = util.count_keys

-- The received spans (default: R's) as a set of ids, each seen exactly
-- once.
local function received_once(spans)
    return util.received_once(spans or received())
end

-- ---- the specs ---------------------------------------------------------

describe("batch export to the test receiver", function()
    util.receiver_hooks(0, function(r) R = r end)

    it("round-trips every field", function()
        roundtrip.run(R, setup)
    end)

    it("sends the scope's schema URL and attributes", function()
        setup({})
        local snap = util.snapshot()
        local SCHEMA = "https://opentelemetry.io/schemas/1.26.0"
        local lib = otel.tracer("spec.export.lib", "2.0", SCHEMA,
                                { ["lib.team"] = "core", ["lib.n"] = 3,
                                  ["lib.on"] = true })
        lib:start_span("with.scope"):finish()
        tracer:start_span("plain"):finish()
        flushed(snap)
        local spans = roundtrip.by_name(received())
        assert.are.same({ name = "spec.export.lib", version = "2.0",
                          attrs = { ["lib.team"] = "core",
                                    ["lib.n"] = "3", ["lib.on"] = true } },
                        spans["with.scope"].scope)
        assert.are.same({ name = "spec.export", version = "3.1.4",
                          attrs = {} }, spans.plain.scope)
        local urls = {}
        for _, rec in ipairs(get_json("/requests")) do
            for _, ss in ipairs(rec.decoded.resourceSpans[1].scopeSpans) do
                urls[ss.scope.name] = ss.schemaUrl
            end
        end
        assert.are.same({ ["spec.export.lib"] = SCHEMA,
                          ["spec.export"] = "" }, urls)
    end)

    it("exports when the schedule delay passes, without a flush", function()
        setup({ batch = { schedule_delay_ms = 100,
                          max_export_batch_size = 512 } })
        local snap = util.snapshot()
        local ids = make_spans(3, "timer")
        local spans = wait_for("the spans to arrive", 10000, function()
            local s = received()
            return #s == 3 and s
        end)
        assert.are.same(ids, received_once(spans))
        local d = flushed(snap)
        assert.are.equal(3, d.spans_exported)
        assert.are.equal(1, d.export_requests)
    end)

    it("exports a full batch at once, keeps the rest queued", function()
        setup({ batch = { schedule_delay_ms = 60000,
                          max_export_batch_size = 10 } })
        local snap = util.snapshot()
        make_spans(15, "full")
        local spans = wait_for("the first batch", 10000, function()
            local s = received()
            return #s > 0 and s
        end)
        sleep_ms(100)
        assert.are.equal(10, #spans)
        local d = util.delta(snap)
        assert.are.equal(10, d.spans_exported)
        assert.are.equal(5, d.spans_queued)
        check_identity(d)
        d = flushed(snap)
        assert.are.equal(15, d.spans_exported)
        assert.are.equal(2, d.export_requests)
    end)

    it("sends a batch of several megabytes", function()
        setup({ batch = { max_export_batch_size = 512 } })
        local snap = util.snapshot()
        local blob = string.rep("0123456789abcdef", 512)     -- 8 KiB
        local ids = {}
        for i = 1, 512 do
            local s = tracer:start_span("big." .. i,
                                        { attributes = { blob = blob } })
            ids[s:context().span_id] = true
            s:finish()
        end
        local d = flushed(snap, 20000)
        assert.are.equal(512, d.spans_exported)
        local spans = received()
        assert.are.same(ids, received_once(spans))
        for _, s in ipairs(spans) do
            assert.are.equal(blob, s.attrs.blob)
        end
        local bytes = 0
        for _, rec in ipairs(get_json("/requests")) do
            bytes = bytes + rec.body_size
        end
        assert.is_true(bytes > 4 * 1024 * 1024)
    end)

    it("gzips the body when asked", function()
        setup({ otlp = { endpoint = R.url, compression = "gzip" } })
        local snap = util.snapshot()
        local ids = make_spans(50, "gz")
        local d = flushed(snap)
        assert.are.equal(50, d.spans_exported)
        assert.are.same(ids, received_once())
        for _, rec in ipairs(get_json("/requests")) do
            assert.are.equal("gzip", rec.content_encoding)
            assert.are.equal("application/x-protobuf", rec.content_type)
            assert.is_true(rec.body_size < rec.raw_size)
        end
    end)

    it("sends headers from setup and OTEL_EXPORTER_OTLP_HEADERS", function()
        util.with_env({
            OTEL_EXPORTER_OTLP_HEADERS =
                "x-env-key=va%20lue%2Cx,Authorization=Bearer%20t0k,"
                .. "x-both=env",
        }, function()
            setup({ otlp = { endpoint = R.url,
                             headers = { ["x-api-key"] = "secret",
                                         ["x-both"] = "code" } } })
        end)
        local snap = util.snapshot()
        make_spans(3)
        flushed(snap)
        local recs = get_json("/requests")
        assert.is_true(#recs >= 1)
        local h = recs[1].headers
        assert.are.equal("secret", h["x-api-key"])
        assert.are.equal("va lue,x", h["x-env-key"])
        assert.are.equal("Bearer t0k", h["authorization"])
        assert.are.equal("code", h["x-both"])     -- the option wins
        assert.are.equal("application/x-protobuf", h["content-type"])
        assert.is_nil(h["content-encoding"])
        assert.matches("^OTel%-OTLP%-Exporter%-Lua/", h["user-agent"])
    end)

    it("never lets a header smuggle in another one", function()
        util.with_env({
            OTEL_EXPORTER_OTLP_HEADERS =
                "x-ok=1,x-bad=a%0D%0AX-Injected: 1,x-lf=b%0Ac: d",
        }, function()
            setup({})
        end)
        local snap = util.snapshot()
        make_spans(1)
        flushed(snap)
        local recs = get_json("/requests")
        assert.are.equal(1, #recs)
        local h = recs[1].headers
        assert.are.equal("1", h["x-ok"])
        assert.is_nil(h["x-injected"])
        assert.is_nil(h["x-bad"])
        assert.is_nil(h["x-lf"])
        assert.is_nil(h["c"])
    end)

    describe("endpoint", function()
        -- Sets up under env, sends one span; returns info().endpoint and
        -- the path the receiver saw.
        local function via(env, otlp)
            http("DELETE", "/requests")
            util.with_env(merge({ OTEL_EXPORTER_OTLP_ENDPOINT = false,
                                  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = false },
                                env), function()
                setup({ otlp = otlp or {} })
            end)
            local snap = util.snapshot()
            make_spans(1)
            local d = flushed(snap)
            assert.are.equal(1, d.spans_exported)
            local recs = get_json("/requests")
            assert.are.equal(1, #recs)
            return otel.info().endpoint, recs[1].path
        end

        it("takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is", function()
            local url = R.url .. "/custom/traces"
            local ep, path = via({
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = url,
                OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:1/nope" })
            assert.are.equal(url, ep)
            assert.are.equal("/custom/traces", path)
        end)

        it("appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT", function()
            local ep, path = via({ OTEL_EXPORTER_OTLP_ENDPOINT =
                                   R.url .. "/base" })
            assert.are.equal(R.url .. "/base/v1/traces", ep)
            assert.are.equal("/base/v1/traces", path)
            ep, path = via({ OTEL_EXPORTER_OTLP_ENDPOINT = R.url .. "/" })
            assert.are.equal(R.url .. "/v1/traces", ep)
            assert.are.equal("/v1/traces", path)
        end)

        it("prefers the setup option over the environment", function()
            local env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT =
                              "http://127.0.0.1:1/nope",
                          OTEL_EXPORTER_OTLP_ENDPOINT =
                              "http://127.0.0.1:1" }
            local ep, path = via(env, { endpoint = R.url })
            assert.are.equal(R.url .. "/v1/traces", ep)
            assert.are.equal("/v1/traces", path)
            ep, path = via(env, { endpoint = R.url .. "/my/path" })
            assert.are.equal(R.url .. "/my/path", ep)
            assert.are.equal("/my/path", path)
        end)
    end)

    describe("retries", function()
        -- Two failed attempts then success: the same spans in each
        -- attempt, accepted once.
        it("retries 503 honouring Retry-After, then succeeds", function()
            setup({ batch = { export_timeout_ms = 10000 } })
            control("status", { status = 503, times = 2, retry_after = "1" })
            local snap = util.snapshot()
            local ids = make_spans(20, "r503")
            local d = flushed(snap)
            assert.are.equal(20, d.spans_exported)
            assert.are.equal(2, d.export_retries)
            assert.are.equal(3, d.export_requests)
            assert.are.same(ids, received_once())
            local recs = all_requests()
            assert.are.equal(3, #recs)
            assert.are.same({ 503, 503, 200 },
                            { recs[1].answered, recs[2].answered,
                              recs[3].answered })
            for i = 2, 3 do
                assert.are.same(recs[1].decoded, recs[i].decoded)
                -- Retry-After: 1 s, never sooner (ms clock of the receiver)
                assert.is_true(recs[i].time_ms - recs[i - 1].time_ms >= 990)
            end
        end)

        it("retries 429 after the Retry-After delay", function()
            setup({ batch = { export_timeout_ms = 10000 } })
            -- 2 s: beyond the exporter's own first backoff (at most 1 s),
            -- so a gap of 2 s shows the header was honoured.
            control("status", { status = 429, times = 1, retry_after = "2" })
            local snap = util.snapshot()
            local ids = make_spans(5, "r429")
            local d = flushed(snap)
            assert.are.equal(5, d.spans_exported)
            assert.are.equal(1, d.export_retries)
            assert.are.same(ids, received_once())
            local recs = all_requests()
            assert.are.equal(2, #recs)
            assert.are.equal(429, recs[1].answered)
            assert.are.equal(200, recs[2].answered)
            assert.is_true(recs[2].time_ms - recs[1].time_ms >= 1990)
        end)

        it("takes Retry-After as an HTTP date", function()
            setup({ batch = { export_timeout_ms = 10000 } })
            -- 2 to 3 s from now (whole seconds), beyond any backoff of
            -- the exporter's own (at most 1 s for a first retry)
            control("status", { status = 503, times = 1, retry_after =
                os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3) })
            local snap = util.snapshot()
            local ids = make_spans(3, "date")
            local d = flushed(snap)
            assert.are.equal(3, d.spans_exported)
            assert.are.equal(1, d.export_retries)
            assert.are.same(ids, received_once())
            local recs = all_requests()
            assert.are.equal(2, #recs)
            assert.is_true(recs[2].time_ms - recs[1].time_ms >= 1500)
        end)

        it("never retries faster than its backoff", function()
            -- "Retry-After: 0" on every answer: the backoff (0.5 to 1 s,
            -- then 1 to 2 s) still spaces the attempts, and the batch
            -- fails once the next one would pass the export timeout.
            setup({ batch = { export_timeout_ms = 1500 } })
            control("status", { status = 503, times = -1,
                                retry_after = "0" })
            local snap = util.snapshot()
            make_spans(2, "storm")
            local d = flushed(snap, nil, "export failed")
            assert.are.equal(2, d.spans_dropped_export_failed)
            assert.is_true(d.export_requests >= 2)
            assert.is_true(d.export_requests <= 3,
                           d.export_requests .. " requests in 1.5 s")
            assert.are.equal(d.export_requests, #all_requests())
        end)

        it("retries when the collector drops the connection", function()
            setup({ batch = { export_timeout_ms = 10000 } })
            control("close", { times = 1 })
            local snap = util.snapshot()
            local ids = make_spans(5, "closed")
            local d = flushed(snap)
            assert.are.equal(5, d.spans_exported)
            assert.are.equal(1, d.export_retries)
            assert.are.same(ids, received_once())
            local recs = all_requests()
            assert.are.equal(2, #recs)
            assert.are.equal("close", recs[1].fault)
        end)

        it("fails at once when Retry-After passes the deadline", function()
            setup({ batch = { export_timeout_ms = 2000 } })
            control("status", { status = 503, times = 1,
                                retry_after = "30" })
            local snap = util.snapshot()
            make_spans(4, "late")
            local d = flushed(snap, nil, "export failed")
            assert.are.equal(4, d.spans_dropped_export_failed)
            assert.are.equal(0, d.export_retries)
            assert.are.equal(1, #all_requests())
        end)

        it("drops a batch answered 400, without retrying", function()
            setup({})
            control("status", { status = 400, times = 1 })
            local snap = util.snapshot()
            make_spans(7, "r400")
            local d = flushed(snap, nil, "export failed")
            assert.are.equal(7, d.spans_dropped_export_failed)
            assert.are.equal(0, d.spans_exported)
            assert.are.equal(0, d.export_retries)
            assert.are.equal(1, d.export_requests)
            assert.are.equal(1, #all_requests())
            assert.are.equal(0, #received())
        end)

        it("counts spans rejected by a partial success", function()
            setup({})
            control("partial", { rejected = 3, message = "bad spans" })
            local snap = util.snapshot()
            make_spans(10, "partial")
            -- not everything was delivered: force_flush says so
            local d = flushed(snap, nil, "export failed")
            assert.are.equal(3, d.spans_dropped_rejected)
            assert.are.equal(7, d.spans_exported)
            assert.are.equal(0, d.export_retries)
            assert.are.equal(10, #received())
        end)
    end)

    it("delivers spans made while the collector was down", function()
        -- A port nobody listens on: a receiver's, once it has stopped.
        local gone = start_receiver(0)
        local port = gone.port
        stop_receiver(gone)
        setup({ otlp = { endpoint = "http://127.0.0.1:" .. port },
                batch = { max_queue_size = 1000,
                          max_export_batch_size = 200,
                          export_timeout_ms = 15000 } })
        local snap = util.snapshot()
        local ids = make_spans(900, "down")
        -- The first attempt fails (connection refused) and is retried.
        wait_for("a failed attempt", 10000, function()
            return util.delta(snap).export_retries >= 1
        end)
        local up = start_receiver(port)
        local d = flushed(snap, 20000)
        assert.are.equal(900, d.spans_exported)
        assert.are.equal(0, d.spans_dropped_queue_full)
        assert.are.equal(0, d.spans_dropped_export_failed)
        assert.is_true(d.export_retries >= 1)
        assert.are.same(ids, received_once(received(up)))
        stop_receiver(up)
    end)

    it("drops what does not fit while the collector is down", function()
        local gone = start_receiver(0)
        local port = gone.port
        stop_receiver(gone)
        setup({ otlp = { endpoint = "http://127.0.0.1:" .. port },
                batch = { max_queue_size = 1000,
                          max_export_batch_size = 200,
                          export_timeout_ms = 15000 } })
        local snap = util.snapshot()
        make_spans(1500, "over")
        local up = start_receiver(port)
        local d = flushed(snap, 20000)
        -- The worker holds at most one batch, the queue 1000 more.
        assert.is_true(d.spans_dropped_queue_full >= 300)
        assert.is_true(d.spans_dropped_queue_full <= 500)
        assert.are.equal(1500 - d.spans_dropped_queue_full, d.spans_exported)
        assert.are.equal(d.spans_exported,
                         count_keys(received_once(received(up))))
        stop_receiver(up)
    end)

    it("gives up on a collector that stays down at shutdown", function()
        local gone = start_receiver(0)
        local port = gone.port
        stop_receiver(gone)
        setup({ otlp = { endpoint = "http://127.0.0.1:" .. port },
                batch = { max_export_batch_size = 100,
                          export_timeout_ms = 30000 } })
        local snap = util.snapshot()
        make_spans(250, "never")
        wait_for("a failed attempt", 10000, function()
            return util.delta(snap).export_retries >= 1
        end)
        -- the worker sleeps in its backoff: shutdown wakes it at the
        -- deadline, long before the export timeout
        local t0 = now_ms()
        local ok, err = otel.shutdown(300)
        assert.is_true(now_ms() - t0 < 300 + 5000)
        assert.is_nil(ok)
        assert.are.equal("timed out", err)
        local d = util.delta(snap)
        check_identity(d)
        assert.are.equal(0, d.spans_queued)
        assert.are.equal(250, d.spans_dropped_shutdown)
    end)

    it("never makes Lua wait for a hanging collector", function()
        local HANG_MS = 3000
        setup({ otlp = { endpoint = R.url, timeout_ms = HANG_MS },
                batch = { max_queue_size = 4096,
                          max_export_batch_size = 512,
                          export_timeout_ms = HANG_MS } })
        control("hang", { times = -1 })
        local snap = util.snapshot()
        make_spans(10, "first")
        wait_for("the worker to be stuck in a request", 5000, function()
            local recs = all_requests()
            return #recs >= 1 and recs[1].fault == "hang"
        end)
        -- While the worker waits on the collector, ending spans costs
        -- what it always does: each goes to the queue.
        local worst, t0 = 0, now_ms()
        for i = 1, 1000 do
            local s = tracer:start_span("during." .. i)
            local t = now_ms()
            s:finish()
            worst = math.max(worst, now_ms() - t)
        end
        local total = now_ms() - t0
        local d = util.delta(snap)
        assert.are.equal(1010, d.spans_ended)
        assert.is_true(d.spans_queued >= 1000)
        -- Microseconds each in truth; the bounds only say "not waiting".
        assert.is_true(worst < HANG_MS / 3,
                       "a finish() took " .. worst .. " ms")
        assert.is_true(total < HANG_MS / 3,
                       "1000 spans took " .. total .. " ms")

        t0 = now_ms()
        local ok, err = otel.force_flush(300)
        local waited = now_ms() - t0
        assert.is_nil(ok)
        assert.are.equal("timed out", err)
        assert.is_true(waited >= 290, "returned after " .. waited .. " ms")
        assert.is_true(waited < 300 + 2000, "returned after " .. waited
                       .. " ms")

        -- Shutdown gives up at its deadline; every span is accounted for.
        t0 = now_ms()
        ok, err = otel.shutdown(200)
        assert.is_true(now_ms() - t0 < 200 + HANG_MS)
        assert.is_nil(ok)
        assert.are.equal("timed out", err)
        d = util.delta(snap)
        check_identity(d)
        assert.are.equal(0, d.spans_queued)
        assert.are.equal(0, d.spans_exported)
        assert.are.equal(0, #received())
    end)

    it("counts every span the full queue drops", function()
        setup({ batch = { max_queue_size = 100, max_export_batch_size = 50,
                          export_timeout_ms = 10000 } })
        control("slow", { delay_ms = 1500, times = 1 })
        local snap = util.snapshot()
        make_spans(50, "first")       -- one full batch: exported at once
        wait_for("the slow request", 5000, function()
            local recs = all_requests()
            return #recs >= 1 and recs[1].fault == "slow"
        end)
        make_spans(1000, "burst")
        -- Was the worker still in its slow request all along?
        local recs = all_requests()
        local stalled = recs[1].answered == cjson.null
        local d = flushed(snap)
        assert.are.equal(1050, d.spans_ended)
        assert.are.equal(d.spans_ended - d.spans_exported,
                         d.spans_dropped_queue_full)
        assert.are.equal(d.spans_exported,
                         count_keys(received_once()))
        if stalled then
            -- then only the queue's 100 got in beside the first batch
            assert.are.equal(900, d.spans_dropped_queue_full)
            assert.are.equal(150, d.spans_exported)
        else
            assert.is_true(d.spans_dropped_queue_full > 0)
        end
    end)

    it("exports everything queued at shutdown", function()
        setup({ batch = { schedule_delay_ms = 60000,
                          max_export_batch_size = 512,
                          max_queue_size = 2048 } })
        local snap = util.snapshot()
        local ids = make_spans(300, "queued")
        sleep_ms(100)
        local d = util.delta(snap)
        assert.are.equal(300, d.spans_queued)
        assert.are.equal(0, #all_requests())
        assert.is_true(otel.shutdown(10000))
        d = util.delta(snap)
        check_identity(d)
        assert.are.equal(300, d.spans_exported)
        assert.are.equal(0, d.spans_dropped_shutdown)
        assert.are.same(ids, received_once())
        -- spans ended after shutdown are not recorded
        local late = tracer:start_span("late")
        assert.is_false(late:is_recording())
        late:finish()
    end)
end)
