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
            'otel.tracer: invalid tracer name (nil), using "" instead',
            'otel.tracer: invalid tracer name (empty), using "" instead',
        }, got)
        got = warnings_of(function() otel.tracer(nil) end)
        assert.are.same({}, got)
    end)
end)

describe("span:context() ids as bytes", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("offers the trace and span ids as 16 and 8 raw bytes", function()
        local s = tracer:start_span("s")
        local c = s:context()
        s:finish()
        assert.are.equal(16, #c.trace_id_bytes)
        assert.are.equal(8, #c.span_id_bytes)
        local function hex(b)
            return (b:gsub(".", function(ch)
                return string.format("%02x", ch:byte())
            end))
        end
        assert.are.equal(c.trace_id, hex(c.trace_id_bytes))
        assert.are.equal(c.span_id, hex(c.span_id_bytes))
        -- a child of an extracted context, and a context built by hand
        local child = tracer:start_span("c", { parent = P.extract({
            traceparent = "00-" .. T .. "-" .. S .. "-01" }) })
        assert.are.equal(T, hex(child:context().trace_id_bytes))
        child:finish()
        local by_hand = setmetatable({ trace_id = T, span_id = S },
                                     getmetatable(c))
        assert.are.equal(S, hex(by_hand.span_id_bytes))
    end)
end)

describe("otel.tracestate", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    local TS = otel.tracestate

    it("parses a header, dropping invalid members", function()
        local ts = TS.parse("a=1, b=2,Bad=x,c@vendor=3,d=4=4")
        assert.are.equal("a=1,b=2,c@vendor=3", ts:string())
        assert.are.equal("2", ts:get("b"))
        assert.is_nil(ts:get("Bad"))
        assert.are.equal("", TS.new():string())
    end)

    it("set and delete return a new state; set moves the key first",
       function()
        local ts = TS.parse("a=1,b=2")
        local t2 = ts:set("b", "x")
        assert.are.equal("b=x,a=1", t2:string())
        assert.are.equal("a=1,b=2", ts:string())    -- unchanged
        assert.are.equal("b=x", t2:delete("a"):string())
        assert.are.equal("new=1,a=1,b=2", tostring(ts:set("new", "1")))
    end)

    it("refuses invalid keys and values (counted), and a 33rd member",
       function()
        local snap = util.snapshot()
        local ts = TS.parse("a=1")
        for _, kv in ipairs({ { "Upper", "v" }, { "1st", "v" },
                              { "k", "a,b" }, { "k", "a=b" }, { "k", "" },
                              { "k", "trailing " }, { "k", "\1" },
                              { string.rep("k", 257), "v" },
                              { "t@" .. string.rep("s", 15), "v" } }) do
            assert.are.equal(ts, ts:set(kv[1], kv[2]))
        end
        assert.are.equal(9, util.delta(snap).values_rejected)
        assert.are_not.equal(ts, ts:set("t@vendor", "x y"))
        local full = TS.new()
        for i = 1, 32 do
            full = full:set("k" .. i, "v")
        end
        assert.are.equal(full, full:set("k33", "v"))
        assert.are_not.equal(full, full:set("k1", "w"))
    end)

    it("is taken by start_span and by inject", function()
        local ts = TS.parse("vendor=abc"):set("mine", "1")
        local s = tracer:start_span("s", { trace_state = ts })
        assert.are.equal("mine=1,vendor=abc", s:context().trace_state)
        local out = {}
        P.inject(out, otel.context.with_span(s))
        assert.are.equal("mine=1,vendor=abc", out.tracestate)
        s:finish()
        assert.are.equal("mine=1,vendor=abc", util.spans()[1].trace_state)
        -- a span context built by hand with a TraceState
        out = {}
        P.inject(out, { trace_id = T, span_id = S, trace_flags = 1,
                        trace_state = ts:delete("mine") })
        assert.are.equal("vendor=abc", out.tracestate)
    end)
end)

describe("otel.tracer with a schema URL and attributes", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("shows them as scope.schema_url and scope.attributes", function()
        local SCHEMA = "https://opentelemetry.io/schemas/1.26.0"
        local t = otel.tracer("lib", "1.0", SCHEMA,
                              { team = "core", n = 3, ratio = 0.5,
                                on = true })
        -- the same arguments, the same tracer
        assert.are.equal(t, otel.tracer("lib", "1.0", SCHEMA,
                                        { on = true, ratio = 0.5, n = 3,
                                          team = "core" }))
        assert.are_not.equal(t, otel.tracer("lib", "1.0", SCHEMA))
        assert.are_not.equal(t, otel.tracer("lib", "1.0", SCHEMA,
                                            { team = "other" }))
        t:start_span("a"):finish()
        otel.tracer("lib", "1.0", SCHEMA, { team = "other" })
            :start_span("b"):finish()
        otel.tracer("lib", "1.0"):start_span("c"):finish()
        local s = util.by_name()
        assert.are.same({ name = "lib", version = "1.0",
                          schema_url = SCHEMA,
                          attributes = { team = "core", n = 3,
                                         ratio = 0.5, on = true } },
                        s.a.scope)
        assert.are.same({ team = "other" }, s.b.scope.attributes)
        assert.are.same({ name = "lib", version = "1.0", schema_url = "",
                          attributes = {} }, s.c.scope)
    end)

    it("raises for a schema URL or attributes of the wrong type",
       function()
        assert.has_error(function() otel.tracer("x", "1", 5) end)
        assert.has_error(function() otel.tracer("x", "1", nil, "a=b") end)
    end)
end)

describe("a span limit that discards something", function()
    after_each(util.teardown)

    it("logs once per span at debug level; the counters count all",
       function()
        util.setup({ limits = { attribute_count = 2, event_count = 1,
                                link_count = 1 } })
        local warn = require "otel.warn"
        local got, write = {}, warn.write_debug
        warn.write_debug = function(msg) got[#got + 1] = msg end
        local snap = util.snapshot()
        local ok, err = pcall(function()
            local a = tracer:start_span("a")
            for i = 1, 5 do
                a:set_attribute("k" .. i, i)
            end
            a:add_event("e1")
            a:add_event("e2")
            a:add_link({ trace_id = T, span_id = S })
            a:add_link({ trace_id = T, span_id = S })
            a:finish()
            local b = tracer:start_span("b", { links = {
                { context = { trace_id = T, span_id = S } },
                { context = { trace_id = T, span_id = S } } } })
            b:finish()
            local c = tracer:start_span("c")     -- within every limit
            c:set_attribute("k", 1)
            c:finish()
        end)
        warn.write_debug = write
        assert(ok, err)
        local s = util.by_name()
        assert.are.equal(2, #got)
        assert.are.equal("span " .. s.a.span_id .. ": attribute 'k3' "
                         .. "dropped by a span limit (further drops on "
                         .. "this span are only counted)", got[1])
        assert.matches("^span " .. s.b.span_id .. ": a link dropped", got[2])
        local d = util.delta(snap)
        assert.are.equal(3, d.attributes_dropped)
        assert.are.equal(1, d.events_dropped)
        assert.are.equal(2, d.links_dropped)
    end)
end)
