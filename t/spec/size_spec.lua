-- Size limits of the OTLP exporter: a batch whose request would pass
-- 64 MiB is sent in halves instead (each within the limit, every span
-- delivered once); a single span larger than that is dropped and counted;
-- an answer larger than 4 MiB is an error, not a success.  The accounting
-- identity holds after each.
--
-- Megabytes of attributes: skipped under valgrind, where encoding 70 MiB
-- takes minutes.
local otel = require "otel"
local util = require "util"

local VALGRIND = (os.getenv("LD_PRELOAD") or ""):find("vgpreload") ~= nil
local MiB = 1024 * 1024

local R

local function setup(otlp)
    util.teardown(1000)
    otel.setup({
        exporter = "otlp", processor = "batch", service_name = "size-spec",
        otlp = otlp or { endpoint = R.url, timeout_ms = 30000 },
        batch = { schedule_delay_ms = 60000, max_queue_size = 4096,
                  max_export_batch_size = 512, export_timeout_ms = 60000 },
    })
end

local function flushed(snap)
    return util.flushed(snap, 120000)
end

local tracer = otel.tracer("spec.size")

local function big_spans(n, bytes)
    local payload = string.rep("x", bytes)
    for i = 1, n do
        local s = tracer:start_span("big." .. i)
        s:set_attribute("payload", payload)
        s:finish()
    end
end

local describe_big = VALGRIND and pending or describe

describe_big("OTLP request and answer sizes", function()
    util.receiver_hooks(0, function(r) R = r end, 5000)

    it("sends a batch over 64 MiB in halves that fit", function()
        setup()
        local before = R:stats().total
        local snap = util.snapshot()
        big_spans(70, MiB)          -- one batch of some 70 MiB
        local d = flushed(snap)
        assert.are.equal(70, d.spans_exported)
        assert.are.equal(2, d.export_requests)
        local st = R:stats().total
        -- every request within the receiver's 64 MiB (it answers 413
        -- beyond), every span once
        assert.are.equal(2, st.requests - before.requests)
        assert.are.equal(2, st.accepted - before.accepted)
        assert.are.equal(70, st.spans - before.spans)
    end)

    it("drops a span that alone passes 64 MiB, counted", function()
        setup()
        local before = R:stats().total.spans
        local snap = util.snapshot()
        local d
        local err = util.stderr_of(function()
            big_spans(1, 65 * MiB)
            big_spans(3, 1000)
            d = util.flushed(snap, 120000)
        end)
        assert.are.equal(1, d.spans_dropped_export_failed)
        assert.are.equal(3, d.spans_exported)
        assert.matches("a span larger than the 64 MiB request limit", err,
                       1, true)
        assert.are.equal(3, R:stats().total.spans - before)
    end)

    it("fails an answer larger than 4 MiB", function()
        setup({ endpoint = R.url })
        R:control("big", { bytes = 5 * MiB })
        local snap = util.snapshot()
        local d
        local err = util.stderr_of(function()
            big_spans(10, 10)
            d = util.flushed(snap, 60000)
        end)
        assert.are.equal(10, d.spans_dropped_export_failed)
        assert.are.equal(0, d.export_retries)
        assert.matches("larger than the 4 MiB limit", err, 1, true)
        -- a normal answer again: delivered
        snap = util.snapshot()
        big_spans(10, 10)
        d = flushed(snap)
        assert.are.equal(10, d.spans_exported)
    end)
end)
