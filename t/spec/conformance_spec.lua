-- Points of the specification the API follows, one spec each: W3C Trace
-- Context level 2 flags, links to invalid contexts, the sampler
-- description, invalid tracer names.
local otel = require "otel"
local util = require "util"

local P = otel.propagation
local tracer = otel.tracer("spec.conformance")
local T = "4bf92f3577b34da6a3ce929d0e0e4736"
local S = "00f067aa0ba902b7"

local warnings_of = util.warnings_of

describe("W3C Trace Context level 2", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    local function tp(flags)
        return "00-" .. T .. "-" .. S .. "-" .. flags
    end

    it("keeps all eight flag bits through extract, children and inject",
       function()
        local ctx = P.extract({ traceparent = tp("ff") })
        local child = tracer:start_span("child", { parent = ctx })
        assert.are.equal(0xff, child:context().trace_flags)
        assert.is_true(child:is_recording())
        local out = {}
        P.inject(out, otel.context.with_span(child))
        assert.are.equal("00-" .. T .. "-" .. child:context().span_id
                         .. "-ff", out.traceparent)
        child:finish()
        assert.are.equal(0xff, util.spans()[1].trace_flags)
    end)

    it("keeps the random flag of a parent that is not sampled", function()
        local ctx = P.extract({ traceparent = tp("02") })
        local child = tracer:start_span("child", { parent = ctx })
        assert.is_false(child:is_recording())
        local out = {}
        P.inject(out, otel.context.with_span(child))
        assert.matches("%-02$", out.traceparent)
    end)

    it("sets the random flag on roots, whose trace ids are random",
       function()
        local root = tracer:start_span("root")
        assert.are.equal(3, root:context().trace_flags)
        root:finish()
        local unsampled
        util.setup({ sampler = otel.sampler.always_off() })
        unsampled = tracer:start_span("root")
        assert.are.equal(2, unsampled:context().trace_flags)
        local out = {}
        P.inject(out, otel.context.with_span(unsampled))
        assert.matches("%-02$", out.traceparent)
        unsampled:finish()
    end)
end)

describe("links to an invalid span context", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    local INVALID = { trace_id = string.rep("0", 32),
                      span_id = string.rep("0", 16) }

    it("are kept when they carry attributes or a trace state", function()
        local snap = util.snapshot()
        local s = tracer:start_span("s", { links = {
            { context = INVALID, attributes = { reason = "batch" } },
            { context = { trace_id = INVALID.trace_id,
                          span_id = INVALID.span_id,
                          trace_state = "k=v" } },
        } })
        s:add_link(INVALID, { via = "add_link" })
        s:add_link(INVALID)                    -- nothing to keep
        s:add_link(INVALID, {})                -- nor here
        s:finish()
        local links = util.spans()[1].links
        assert.are.equal(3, #links)
        assert.are.equal("batch", links[1].attributes.reason)
        assert.are.equal("k=v", links[2].trace_state)
        assert.are.equal("add_link", links[3].attributes.via)
        assert.are.equal(INVALID.trace_id, links[1].trace_id)
        assert.are.equal(2, util.delta(snap).values_rejected)
    end)
end)

describe("the sampler description", function()
    it("prints the ratio with full precision", function()
        local S_ = otel.sampler
        assert.are.equal("TraceIdRatioBased{0.25}",
                         S_.trace_id_ratio(0.25):description())
        assert.are.equal("TraceIdRatioBased{0.1}",
                         S_.trace_id_ratio(0.1):description())
        assert.are.equal("TraceIdRatioBased{0.3333333333333333}",
                         S_.trace_id_ratio(1 / 3):description())
        assert.are.equal("TraceIdRatioBased{0.12345678901234568}",
                         S_.trace_id_ratio(0.12345678901234568)
                             :description())
    end)
end)

describe("otel.tracer with an invalid name", function()
    after_each(util.teardown)

    it("returns a working tracer and warns once, never raises", function()
        util.setup()
        local t1, t2, t3
        local got = warnings_of(function()
            t1 = otel.tracer(nil)
            t2 = otel.tracer("")
            t3 = otel.tracer(nil)
        end)
        assert.are.equal(t1, t3)
        assert.are.equal(t1, t2)
        t1:start_span("works"):finish()
        local s = util.spans()[1]
        assert.are.equal("works", s.name)
        assert.are.equal("", s.scope.name)
        -- one message per distinct invalid name, never repeated
        assert.are.same({
            'otel.tracer: invalid tracer name nil (nil), using "" instead',
            'otel.tracer: invalid tracer name  (string), using "" instead',
        }, got)
        got = warnings_of(function() otel.tracer(nil) end)
        assert.are.same({}, got)
    end)
end)
