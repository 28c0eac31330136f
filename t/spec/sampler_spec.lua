-- Samplers, non-recording spans, the resource and the provider lifecycle.
local otel = require "otel"
local util = require "util"

local tracer = otel.tracer("spec.sampler")
local sampler = otel.sampler

local function remote(sampled)
    return { trace_id = "0af7651916cd43dd8448eb211c80319c",
             span_id = "b7ad6b7169203331", trace_flags = sampled and 1 or 0,
             is_remote = true }
end

describe("samplers", function()
    after_each(util.teardown)

    it("always_off gives valid, non-recording, propagating spans", function()
        local snap = util.snapshot()
        util.setup({ sampler = sampler.always_off() })
        tracer:start_as_current_span("off", nil, function(span)
            assert.is_false(span:is_recording())
            local c = span:context()
            assert.is_true(c.is_valid)
            assert.is_false(c.sampled)
            span:set_attribute("ignored", 1)
            tracer:start_as_current_span("child", nil, function(child)
                assert.are.equal(c.trace_id, child:context().trace_id)
                assert.are_not.equal(c.span_id, child:context().span_id)
            end)
        end)
        assert.are.equal(0, #util.spans())
        local d = util.delta(snap)
        assert.are.equal(2, d.spans_sampled_out)
        assert.are.equal(0, d.spans_ended)
        assert.are.equal(0, d.stale_handle_calls)
    end)

    it("trace_id_ratio samples close to its ratio", function()
        util.setup({ sampler = sampler.trace_id_ratio(0.25) })
        local n, sampled = 20000, 0
        for _ = 1, n do
            local s = tracer:start_span("r")
            if s:is_recording() then
                sampled = sampled + 1
            end
            s:finish()
        end
        local rate = sampled / n
        assert.is_true(rate > 0.23 and rate < 0.27, "rate " .. rate)
    end)

    it("trace_id_ratio decides on the trace id like the other SDKs",
       function()
        util.setup({ sampler = sampler.trace_id_ratio(0.5) })
        -- the last 8 bytes as a big-endian number against ratio * 2^64
        local low = { trace_id = "ffffffffffffffff0000000000000001",
                      span_id = "0000000000000001", trace_flags = 0 }
        local high = { trace_id = "00000000000000008000000000000001",
                       span_id = "0000000000000001", trace_flags = 0 }
        assert.is_true(tracer:start_span("a", { parent = low })
                       :is_recording())
        assert.is_false(tracer:start_span("b", { parent = high })
                        :is_recording())
        assert.are.equal("TraceIdRatioBased{0.5}",
                         sampler.trace_id_ratio(0.5):description())
        assert.has_error(function() sampler.trace_id_ratio(2) end)
    end)

    it("parent_based follows the parent with each delegate", function()
        local on, off = sampler.always_on(), sampler.always_off()
        local cases = {
            -- delegates, parent, expect recording
            { {}, remote(true), true },
            { {}, remote(false), false },
            { { remote_parent_sampled = off }, remote(true), false },
            { { remote_parent_not_sampled = on }, remote(false), true },
        }
        for i, c in ipairs(cases) do
            util.setup({ sampler = sampler.parent_based(on, c[1]) })
            local s = tracer:start_span("x", { parent = c[2] })
            assert.are.equal(c[3], s:is_recording(), "case " .. i)
            s:finish()
        end
        -- local parents
        util.setup({ sampler = sampler.parent_based(on,
            { local_parent_sampled = off }) })
        local p = tracer:start_span("p")
        assert.is_true(p:is_recording())
        assert.is_false(tracer:start_span("c", { parent = p })
                        :is_recording())
        util.setup({ sampler = sampler.parent_based(off,
            { local_parent_not_sampled = on }) })
        p = tracer:start_span("p")
        assert.is_false(p:is_recording())
        assert.is_true(tracer:start_span("c", { parent = p })
                       :is_recording())
        -- a root takes the root sampler
        util.setup({ sampler = sampler.parent_based(off) })
        assert.is_false(tracer:start_span("root"):is_recording())
    end)

    it("comes from OTEL_TRACES_SAMPLER and _ARG", function()
        local function desc(name, arg)
            util.with_env({ OTEL_TRACES_SAMPLER = name,
                            OTEL_TRACES_SAMPLER_ARG = arg }, function()
                util.setup()
            end)
            return otel.info().sampler
        end
        assert.are.equal("AlwaysOnSampler", desc("always_on"))
        assert.are.equal("AlwaysOffSampler", desc("always_off"))
        assert.are.equal("TraceIdRatioBased{0.1}", desc("traceidratio", "0.1"))
        assert.matches("^ParentBased{root:TraceIdRatioBased{0.3}",
                       desc("parentbased_traceidratio", "0.3"))
        assert.matches("^ParentBased{root:AlwaysOffSampler",
                       desc("parentbased_always_off"))
        assert.matches("^ParentBased{root:AlwaysOnSampler", desc(nil))
        -- a bad argument keeps the default ratio 1
        assert.are.equal("TraceIdRatioBased{1}", desc("traceidratio", "x"))
        -- an explicit sampler wins
        util.with_env({ OTEL_TRACES_SAMPLER = "always_off" }, function()
            util.setup({ sampler = sampler.always_on() })
        end)
        assert.are.equal("AlwaysOnSampler", otel.info().sampler)
    end)
end)

describe("resource", function()
    after_each(util.teardown)

    local function resource()
        tracer:start_span("r"):finish()
        return util.spans()[1].resource
    end

    it("defaults to unknown_service:<executable> with the SDK attributes",
       function()
        util.with_env({ OTEL_SERVICE_NAME = false,
                        OTEL_RESOURCE_ATTRIBUTES = false }, function()
            util.setup()
        end)
        local r = resource()
        assert.are.equal("unknown_service:luajit", r["service.name"])
        assert.are.equal("lua-otel", r["telemetry.sdk.name"])
        assert.are.equal("lua", r["telemetry.sdk.language"])
        assert.are.equal(otel._VERSION, r["telemetry.sdk.version"])
    end)

    it("reads OTEL_RESOURCE_ATTRIBUTES, percent-decoded", function()
        util.with_env({ OTEL_SERVICE_NAME = false,
                        OTEL_RESOURCE_ATTRIBUTES =
                            "service.name=from-attrs, team=a%20b,"
                            .. "deployment.environment=prod%2C1" }, function()
            util.setup()
        end)
        local r = resource()
        assert.are.equal("from-attrs", r["service.name"])
        assert.are.equal("a b", r.team)
        assert.are.equal("prod,1", r["deployment.environment"])
        -- a list with an error is discarded whole (t/spec/config_spec.lua)
    end)

    it("OTEL_SERVICE_NAME wins over the attributes, setup over both",
       function()
        util.with_env({ OTEL_SERVICE_NAME = "from-env",
                        OTEL_RESOURCE_ATTRIBUTES = "service.name=attrs" },
                      function()
            util.setup()
            assert.are.equal("from-env", resource()["service.name"])
            util.setup({ service_name = "from-setup",
                         resource = { ["service.version"] = "2",
                                      replicas = 3, canary = true } })
        end)
        local r = resource()
        assert.are.equal("from-setup", r["service.name"])
        assert.are.equal("2", r["service.version"])
        assert.are.equal(3, r.replicas)
        assert.is_true(r.canary)
    end)

    it("is set once on the provider, not copied onto spans", function()
        util.setup({ service_name = "svc" })
        tracer:start_span("a"):finish()
        local s = util.spans()[1]
        assert.is_nil(s.attributes["service.name"])
    end)
end)

describe("provider lifecycle", function()
    after_each(util.teardown)

    it("setup twice is an error; after shutdown it works again", function()
        util.setup()
        local ok, err = pcall(otel.setup, {})
        assert.is_false(ok)
        assert.matches("already set up", err)
        assert.is_true(otel.shutdown())
        assert.is_true(otel.setup({ exporter = "none" }))
    end)

    it("rejects unknown or mistyped options", function()
        for _, opts in ipairs({ { exporter = "kafka" }, { nope = 1 },
                                { limits = { attribute_cont = 1 } },
                                { limits = { attribute_count = -5 } },
                                { batch = { max_queue_size = 0 } },
                                { processor = 3 },
                                { otlp = { endpoint = "not a url" } },
                                { sampler = {} }, "x" }) do
            local ok, err = pcall(otel.setup, opts)
            assert.is_false(ok)
            assert.matches("otel.setup", err)
            assert.is_nil(otel.info())
        end
    end)

    it("before setup and after shutdown spans are no-ops", function()
        util.teardown()
        local snap = util.snapshot()
        tracer:start_as_current_span("noop", nil, function(span)
            assert.is_false(span:is_recording())
            assert.is_false(span:context().is_valid)
            tracer:start_as_current_span("child", nil, function() end)
        end)
        assert.are.equal(0, util.delta(snap).spans_started)
    end)

    it("a span ended after shutdown is counted as dropped", function()
        util.setup()
        local snap = util.snapshot()
        local s = tracer:start_span("late")
        otel.shutdown()
        s:finish()
        local d = util.delta(snap)
        assert.are.equal(1, d.spans_ended)
        assert.are.equal(1, d.spans_dropped_shutdown)
    end)

    it("keeps the accounting identity", function()
        util.setup({ exporter = "none" })
        local snap = util.snapshot()
        for i = 1, 100 do
            tracer:start_as_current_span("s" .. i, nil, function() end)
        end
        otel.force_flush()
        local d = util.delta(snap)
        assert.are.equal(100, d.spans_ended)
        assert.are.equal(d.spans_ended, d.spans_exported
            + d.spans_dropped_queue_full + d.spans_dropped_export_failed
            + d.spans_dropped_rejected + d.spans_dropped_shutdown
            + otel.stats().spans_queued)
    end)
end)
