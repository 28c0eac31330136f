-- Hostile and careless input from Lua: every public function with wrong
-- types and extreme values gives a clear error or a counted drop, never a
-- crash or corrupted state.
local ffi = require "ffi"
local otel = require "otel"
local util = require "util"

local tracer = otel.tracer("spec.hostile")

local self_ref = {}
self_ref[1] = self_ref
local deep = {}
do
    local t = deep
    for _ = 1, 10000 do
        t[1] = {}
        t = t[1]
    end
end
local huge = string.rep("x", 10 * 1024 * 1024)

-- Values of every kind a careless caller might pass.
local VALUES = {
    ["nil"] = nil, ["false"] = false, ["true"] = true, zero = 0,
    nan = 0 / 0, inf = math.huge, ninf = -math.huge, neg = -1,
    big = 2 ^ 63, empty = "", huge = huge, fn = print,
    co = coroutine.create(print), udata = io.stdout, tbl = { 1, 2 },
    map = { a = 1 }, self_ref = self_ref, deep = deep,
    i64max = 9223372036854775807LL, i64min = -9223372036854775807LL - 1,
    u64max = 18446744073709551615ULL, ptr = ffi.new("char[4]"),
    cstruct = ffi.new("struct { int a; }"),
}
local NAMES = {}
for k in pairs(VALUES) do
    NAMES[#NAMES + 1] = k
end
table.sort(NAMES)
NAMES[#NAMES + 1] = "nil"   -- pairs() skips the nil entry

-- Calls f with each value; every call returns or raises a string error.
local function each_value(f)
    for _, name in ipairs(NAMES) do
        local ok, err = pcall(f, VALUES[name])
        if not ok then
            assert(type(err) == "string",
                   name .. ": error is not a message: " .. tostring(err))
            assert(err:find("otel", 1, true),
                   name .. ": unclear error: " .. err)
        end
    end
end

describe("hostile input", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("span methods survive every kind of value", function()
        local span = tracer:start_span("target")
        each_value(function(v) span:set_attribute("k", v) end)
        each_value(function(v) span:set_attribute(v, "value") end)
        each_value(function(v) span:set_attributes(v) end)
        each_value(function(v) span:add_event(v) end)
        each_value(function(v) span:add_event("e", v) end)
        each_value(function(v) span:add_event("e", nil, v) end)
        each_value(function(v) span:add_link(v) end)
        each_value(function(v) span:record_exception(v) end)
        each_value(function(v) span:record_exception("e", v) end)
        each_value(function(v) span:set_status(v) end)
        each_value(function(v) span:set_status(otel.status.ERROR, v) end)
        each_value(function(v) span:update_name(v) end)
        each_value(function(v) span:finish(v) end)
        span:finish()
        -- still a sane span at the exporter
        local s = util.spans()
        assert.is_true(#s <= 1)
    end)

    it("tracer and context functions survive every kind of value",
       function()
        each_value(function(v) tracer:start_span(v) end)
        each_value(function(v) tracer:start_span("s", v) end)
        each_value(function(v) tracer:start_span("s", { parent = v }) end)
        each_value(function(v) tracer:start_span("s", { kind = v }) end)
        each_value(function(v) tracer:start_span("s", { attributes = v }) end)
        each_value(function(v) tracer:start_span("s", { links = v }) end)
        each_value(function(v) tracer:start_span("s", { links = { v } }) end)
        each_value(function(v)
            tracer:start_span("s", { start_time = v })
        end)
        each_value(function(v)
            tracer:start_as_current_span("s", nil, v)
        end)
        each_value(function(v)
            tracer:start_as_current_span(v, nil, function() end)
        end)
        each_value(function(v) otel.tracer(v) end)
        each_value(function(v) otel.tracer("t", v) end)
        each_value(function(v) otel.context.attach(v) end)
        each_value(function(v) otel.context.detach(v) end)
        each_value(function(v) otel.context.wrap(v) end)
        each_value(function(v) otel.context.with_span(v) end)
        each_value(function(v) otel.force_flush(v) end)
        each_value(function(v) otel.sampler.trace_id_ratio(v) end)
        each_value(function(v) otel.sampler.parent_based(v) end)
        collectgarbage()
        -- the context is intact: nothing leaked onto this coroutine
        assert.is_false(otel.context.current_span():is_recording())
        tracer:start_as_current_span("after", nil, function() end)
        assert.is_nil(util.by_name().after.parent_span_id)
    end)

    it("setup survives every kind of option value", function()
        otel.shutdown()
        for _, key in ipairs({ "service_name", "resource", "sampler",
                               "limits", "processor", "batch", "exporter",
                               "otlp", "console", "strict" }) do
            each_value(function(v)
                if otel.setup({ [key] = v, exporter = key == "exporter"
                                and v or "none" }) then
                    otel.shutdown()
                end
            end)
        end
        assert.is_nil(otel.info())
    end)

    it("keeps extreme values within limits and counts the rest", function()
        util.setup({ limits = { attribute_value_length = 16 } })
        local snap = util.snapshot()
        local span = tracer:start_span("extreme")
        span:set_attribute("huge", huge)
        span:set_attribute("i64max", 9223372036854775807LL)
        span:set_attribute("i64min", -9223372036854775807LL - 1)
        span:set_attribute("u64max", 18446744073709551615ULL)
        span:set_attribute("nan", 0 / 0)
        span:set_attribute("inf", math.huge)
        span:set_attribute("self", self_ref)
        span:set_attribute("deep", deep)
        span:set_attribute("ptr", ffi.new("char[4]"))
        span:set_attribute(huge, "huge key")
        span:finish()
        local a = util.spans()[1].attributes
        assert.are.equal(16, #a.huge)
        assert.is_true(a.i64max == 9223372036854775807LL)
        assert.is_true(a.i64min == -9223372036854775807LL - 1)
        assert.is_nil(a.u64max)
        assert.are.equal(math.huge, a.inf)
        assert.is_nil(a.self)
        assert.is_nil(a.deep)
        assert.is_nil(a.ptr)
        assert.are.equal("huge key", a[huge])    -- keys are not cut
        local d = util.delta(snap)
        assert.are.equal(4, d.values_rejected)   -- u64max, self, deep, ptr
        assert.are.equal(1, d.values_truncated)
    end)

    it("ten thousand attributes on one span keep 128 and count 9872",
       function()
        local snap = util.snapshot()
        local span = tracer:start_span("many")
        for i = 1, 10000 do
            span:set_attribute("k" .. i, i)
        end
        span:finish()
        local s = util.spans()[1]
        local n = 0
        for _ in pairs(s.attributes) do
            n = n + 1
        end
        assert.are.equal(128, n)
        assert.are.equal(9872, s.dropped_attributes_count)
        assert.are.equal(9872, util.delta(snap).attributes_dropped)
    end)

    it("empty names are allowed and kept", function()
        tracer:start_as_current_span("", nil, function(span)
            span:add_event("")
        end)
        local s = util.spans()[1]
        assert.are.equal("", s.name)
        assert.are.equal("", s.events[1].name)
    end)

    it("handles used after shutdown are harmless", function()
        local live = tracer:start_span("live")
        local done = tracer:start_span("done")
        done:finish()
        otel.shutdown()
        live:set_attribute("k", 1)
        live:add_event("e")
        live:finish()
        done:set_attribute("k", 1)
        done:finish()
        assert.is_false(live:is_recording())
        assert.is_nil(otel.force_flush())
        local ok, err = otel.shutdown()
        assert.is_nil(ok)
        assert.matches("not set up", err)
    end)

    it("spans never ended are collected without a leak", function()
        local snap = util.snapshot()
        for i = 1, 1000 do
            local s = tracer:start_span("lost")
            s:set_attribute("i", i)
            s:set_attribute("big", string.rep("y", 2000))
        end
        collectgarbage()
        collectgarbage()
        assert.are.equal(1000, util.delta(snap).spans_abandoned)
    end)
end)
