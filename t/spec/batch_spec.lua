-- The batch processor at the edges of its options: no value of any option
-- makes the request path (finish), force_flush or shutdown wait for ever.
-- Each case runs in a child process under `timeout`, so that a hang is a
-- failure of this spec and not of the suite.
local util = require "util"

-- The child: spans ended one by one, then a flush and a shutdown.  It
-- prints what it saw; the parent checks it.
local CHILD = [[
local otel = require "otel"
local util = require "util"
local opts = %s
otel.setup({ exporter = "memory", processor = "batch", batch = opts })
local t = otel.tracer("edges")
local worst = 0
for i = 1, 300 do
    local s = t:start_span("s" .. i)
    local t0 = util.now_ms()
    s:finish()
    worst = math.max(worst, util.now_ms() - t0)
end
local t0 = util.now_ms()
local ok, err = otel.force_flush(10000)
local flush_ms = util.now_ms() - t0
local st = otel.stats()
local kept = #otel.memory.get_finished_spans()
t0 = util.now_ms()
local sok = otel.shutdown(10000)
print(string.format("flush=%%s err=%%s kept=%%d exported=%%d full=%%d "
                    .. "queued=%%d worst=%%.1f flush_ms=%%.0f shut=%%s "
                    .. "shut_ms=%%.0f",
                    tostring(ok), tostring(err), kept, st.spans_exported,
                    st.spans_dropped_queue_full, st.spans_queued, worst,
                    flush_ms, tostring(sok), util.now_ms() - t0))
]]

local function run(opts_src, env)
    local out, ok = util.run_lua(CHILD:format(opts_src), env, 30)
    assert(ok, "the child hung or failed:\n" .. out)
    local r = {}
    for k, v in out:gmatch("([%w_]+)=(%S+)") do
        r[k] = tonumber(v) or v
    end
    assert(r.kept, "no result line:\n" .. out)
    return r
end

-- What every case must show: nothing waited, everything accounted for.
local function check(r, queue)
    -- finish() only enqueues: microseconds; 200 ms means "it waited".
    assert.is_true(r.worst < 200, "a finish() took " .. r.worst .. " ms")
    assert.is_true(r.flush_ms < 5000, "force_flush took " .. r.flush_ms)
    assert.is_true(r.shut_ms < 5000, "shutdown took " .. r.shut_ms)
    assert.are.equal("true", r.flush)
    assert.are.equal("true", r.shut)
    assert.are.equal(0, r.queued)
    assert.are.equal(300, r.exported + r.full)
    assert.are.equal(r.exported, r.kept)
    if queue and queue >= 300 then
        assert.are.equal(300, r.exported)
    end
end

describe("batch options at their edges", function()
    local cases = {
        { "schedule_delay_ms = 0", "{ schedule_delay_ms = 0 }", 2048 },
        { "schedule_delay_ms = 1", "{ schedule_delay_ms = 1 }", 2048 },
        { "a huge schedule_delay_ms",
          "{ schedule_delay_ms = 2^53 }", 2048 },
        { "max_queue_size = 1", "{ max_queue_size = 1 }", 1 },
        { "max_export_batch_size = 1",
          "{ max_export_batch_size = 1, schedule_delay_ms = 0 }", 2048 },
        { "a batch larger than the queue",
          "{ max_queue_size = 10, max_export_batch_size = 100000 }", 10 },
        { "a huge max_export_batch_size",
          "{ max_export_batch_size = 2^40 }", 2048 },
        { "a huge max_queue_size", "{ max_queue_size = 2^40 }", 2048 },
        { "export_timeout_ms = 0", "{ export_timeout_ms = 0 }", 2048 },
        { "export_timeout_ms = 1", "{ export_timeout_ms = 1 }", 2048 },
        { "a huge export_timeout_ms",
          "{ export_timeout_ms = 2^53 }", 2048 },
    }
    for _, c in ipairs(cases) do
        it("never waits with " .. c[1], function()
            check(run(c[2]), c[3])
        end)
    end

    it("says it queues at most 2^24 spans when asked for more", function()
        local out = util.run_lua([[
            local otel = require "otel"
            otel.setup({ exporter = "memory", processor = "batch",
                         batch = { max_queue_size = 2^40 } })
            otel.shutdown()
        ]], nil, 30)
        assert.matches("otel: warning: max_queue_size "
                       .. "(OTEL_BSP_MAX_QUEUE_SIZE)=1099511627776 is more "
                       .. "than lua-otel queues, using 16777216 instead",
                       out, 1, true)
    end)

    it("refuses sizes of 0 as the misuse they are", function()
        for _, opts in ipairs({ { max_queue_size = 0 },
                                { max_export_batch_size = 0 },
                                { schedule_delay_ms = -1 },
                                { export_timeout_ms = -1 } }) do
            local ok, err = pcall(util.setup, { processor = "batch",
                                                batch = opts })
            assert.is_false(ok)
            assert.matches("out of range", err)
        end
    end)

    it("exports at once with OTEL_BSP_SCHEDULE_DELAY=0", function()
        -- the delay comes from the environment; the child waits for the
        -- export without a flush, which a 5 s default delay would not give
        local out, ok = util.run_lua([[
            local otel = require "otel"
            local util = require "util"
            otel.setup({ exporter = "memory", processor = "batch" })
            local s = otel.tracer("edges"):start_span("one")
            s:finish()
            util.wait_for("the export", 3000, function()
                return #otel.memory.get_finished_spans() == 1
            end)
            local t0 = util.now_ms()
            assert(otel.shutdown(5000))
            print("done", util.now_ms() - t0 < 5000)
        ]], { OTEL_BSP_SCHEDULE_DELAY = "0" }, 30)
        assert.is_true(ok, out)
        assert.matches("done\ttrue", out, 1, true)
    end)
end)
