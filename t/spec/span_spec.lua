-- Span records: attributes, limits, UTF-8, status, events, links, finish.
local otel = require "otel"
local util = require "util"

local tracer = otel.tracer("spec.span", "1.0")

local function one(fn, opts)
    tracer:start_as_current_span("s", opts, fn)
    local spans = util.spans()
    assert.are.equal(1, #spans)
    return spans[1]
end

describe("attributes", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("keeps every value type", function()
        local s = one(function(span)
            span:set_attribute("str", "v")
            span:set_attribute("int", 42)
            span:set_attribute("neg", -7)
            span:set_attribute("dbl", 1.25)
            span:set_attribute("yes", true)
            span:set_attribute("no", false)
            span:set_attribute("i64", 9007199254740993LL)
            span:set_attribute("strs", { "a", "b" })
            span:set_attribute("ints", { 1, 2, 3 })
            span:set_attribute("dbls", { 1, 2.5 })
            span:set_attribute("bools", { true, false })
            span:set_attribute("i64s", { 1LL, -2LL })
            span:set_attribute("empty", {})
        end)
        local a = s.attributes
        assert.are.equal("v", a.str)
        assert.are.equal(42, a.int)
        assert.are.equal(-7, a.neg)
        assert.are.equal(1.25, a.dbl)
        assert.is_true(a.yes)
        assert.is_false(a.no)
        assert.are.equal("9007199254740993", tostring(a.i64):gsub("LL$", ""))
        assert.are.same({ "a", "b" }, a.strs)
        assert.are.same({ 1, 2, 3 }, a.ints)
        assert.are.same({ 1, 2.5 }, a.dbls)
        assert.are.same({ true, false }, a.bools)
        assert.are.same({ 1, -2 }, a.i64s)
        assert.are.same({}, a.empty)
    end)

    it("replaces an existing key without counting it twice", function()
        local s = one(function(span)
            span:set_attribute("k", "one")
            span:set_attribute("k", 2)
        end, nil)
        assert.are.equal(2, s.attributes.k)
        assert.are.equal(0, s.dropped_attributes_count)
    end)

    it("ignores nil values", function()
        local snap = util.snapshot()
        local s = one(function(span)
            span:set_attribute("gone", nil)
            span:set_attributes({ a = 1, b = nil })
        end)
        assert.is_nil(s.attributes.gone)
        assert.are.equal(1, s.attributes.a)
        assert.are.equal(0, util.delta(snap).values_rejected)
    end)

    it("drops and counts values it cannot keep", function()
        local snap = util.snapshot()
        local s = one(function(span)
            span:set_attribute("fn", print)
            span:set_attribute("mixed", { 1, "a" })
            span:set_attribute("map", { x = 1 })
            span:set_attribute("nested", { { 1 } })
            span:set_attribute("holes", { 1, nil, 3 })
            span:set_attribute(42, "number key")
            span:set_attribute("", "empty key")
            span:set_attribute("ok", "kept")
        end)
        assert.are.same({ ok = "kept" }, s.attributes)
        assert.are.equal(7, util.delta(snap).values_rejected)
    end)

    it("is a clear error in strict mode", function()
        util.setup({ strict = true })
        tracer:start_as_current_span("strict", nil, function(span)
            local ok, err = pcall(span.set_attribute, span, "fn", print)
            assert.is_false(ok)
            assert.matches("attribute 'fn'", err)
            ok, err = pcall(span.set_attribute, span, "m", { 1, "x" })
            assert.is_false(ok)
            assert.matches("mixed array", err)
            -- the error blames the caller of set_attribute
            ok, err = pcall(function()
                span:set_attribute("t", { a = 1 })
            end)
            assert.is_false(ok)
            assert.matches("span_spec.lua", err)
        end)
    end)

    it("sends integral numbers as int and others as double", function()
        local s = one(function(span)
            span:set_attribute("i", 3.0)
            span:set_attribute("d", 0.1)
            span:set_attribute("big", 2 ^ 70)
            span:set_attribute("nan", 0 / 0)
        end)
        assert.are.equal(3, s.attributes.i)
        assert.are.equal(0.1, s.attributes.d)
        assert.are.equal(2 ^ 70, s.attributes.big)
        assert.is_true(s.attributes.nan ~= s.attributes.nan)
    end)
end)

describe("limits", function()
    after_each(util.teardown)

    local function check_limits(expect)
        local s = one(function(span)
            for i = 1, 10 do
                span:set_attribute("a" .. i, i)
            end
            for i = 1, 10 do
                span:add_event("e" .. i, { x = 1, y = 2, z = 3, w = 4 })
            end
            for i = 1, 10 do
                span:add_link({ trace_id = string.rep("1", 32),
                                span_id = string.format("%016x", i) },
                              { x = 1, y = 2, z = 3, w = 4 })
            end
            span:set_attribute("long", "abcdefghij")
        end)
        local n = 0
        for _ in pairs(s.attributes) do
            n = n + 1
        end
        assert.are.equal(expect.attrs, n)
        assert.are.equal(11 - expect.attrs, s.dropped_attributes_count)
        assert.are.equal(expect.events, #s.events)
        assert.are.equal(10 - expect.events, s.dropped_events_count)
        assert.are.equal(expect.links, #s.links)
        assert.are.equal(10 - expect.links, s.dropped_links_count)
        local ea = 0
        for _ in pairs(s.events[1].attributes) do
            ea = ea + 1
        end
        assert.are.equal(expect.event_attrs, ea)
        assert.are.equal(4 - expect.event_attrs,
                         s.events[1].dropped_attributes_count)
        local la = 0
        for _ in pairs(s.links[1].attributes) do
            la = la + 1
        end
        assert.are.equal(expect.link_attrs, la)
        assert.are.equal(4 - expect.link_attrs,
                         s.links[1].dropped_attributes_count)
        return s
    end

    it("come from setup", function()
        local snap = util.snapshot()
        util.setup({ limits = { attribute_count = 4, event_count = 3,
                                link_count = 2, event_attribute_count = 2,
                                link_attribute_count = 1,
                                attribute_value_length = 5 } })
        local s = check_limits({ attrs = 4, events = 3, links = 2,
                                 event_attrs = 2, link_attrs = 1 })
        local d = util.delta(snap)
        assert.are.equal(7 + 3 * 2 + 2 * 3, d.attributes_dropped)
        assert.are.equal(7, d.events_dropped)
        assert.are.equal(8, d.links_dropped)
        assert.is_nil(s.attributes.long)    -- over the count limit
    end)

    it("come from the environment", function()
        util.with_env({
            OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT = 5,
            OTEL_SPAN_EVENT_COUNT_LIMIT = 4,
            OTEL_SPAN_LINK_COUNT_LIMIT = 3,
            OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT = 3,
            OTEL_LINK_ATTRIBUTE_COUNT_LIMIT = 2,
        }, function()
            util.setup()
        end)
        check_limits({ attrs = 5, events = 4, links = 3, event_attrs = 3,
                       link_attrs = 2 })
    end)

    it("general attribute limits are the fallback", function()
        util.with_env({ OTEL_ATTRIBUTE_COUNT_LIMIT = 2,
                        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT = 3 }, function()
            util.setup()
        end)
        local s = check_limits({ attrs = 2, events = 10, links = 10,
                                 event_attrs = 2, link_attrs = 2 })
        assert.are.equal(2, s.attributes.a2)
    end)

    it("setup wins over the environment", function()
        util.with_env({ OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT = 1 }, function()
            util.setup({ limits = { attribute_count = 6 } })
        end)
        local s = one(function(span)
            for i = 1, 9 do
                span:set_attribute("k" .. i, i)
            end
        end)
        assert.are.equal(3, s.dropped_attributes_count)
    end)

    it("span value length from the environment", function()
        util.with_env({ OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT = 4,
                        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT = 8 }, function()
            util.setup()
        end)
        local s = one(function(span)
            span:set_attribute("v", "123456789")
        end)
        assert.are.equal("1234", s.attributes.v)
    end)

    it("cut strings at code points, never inside a sequence", function()
        local snap = util.snapshot()
        util.setup({ limits = { attribute_value_length = 3 } })
        local s = one(function(span)
            span:set_attribute("ascii", "abcdef")
            span:set_attribute("utf8", "h\xc3\xa9llo")        -- héllo
            span:set_attribute("cjk", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa"
                                      .. "\x9e\xe3\x81\xa7")   -- 日本語で
            span:set_attribute("emoji", "\xf0\x9f\x98\x80\xf0\x9f\x98\x81"
                                        .. "\xf0\x9f\x98\x82\xf0\x9f\x98\x83")
            span:set_attribute("arr", { "abcdef", "\xc3\xa9\xc3\xa9\xc3\xa9"
                                                  .. "\xc3\xa9", "ab" })
            span:set_attribute("short", "\xc3\xa9t\xc3\xa9")   -- été: fits
            span:set_attribute("n", 123456)     -- numbers are not cut
        end)
        local a = s.attributes
        assert.are.equal("abc", a.ascii)
        assert.are.equal("h\xc3\xa9l", a.utf8)
        assert.are.equal("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", a.cjk)
        assert.are.equal("\xf0\x9f\x98\x80\xf0\x9f\x98\x81\xf0\x9f\x98\x82",
                         a.emoji)
        assert.are.same({ "abc", "\xc3\xa9\xc3\xa9\xc3\xa9", "ab" }, a.arr)
        assert.are.equal("\xc3\xa9t\xc3\xa9", a.short)
        assert.are.equal(123456, a.n)
        assert.are.equal(6, util.delta(snap).values_truncated)
    end)
end)

describe("UTF-8", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("repairs invalid bytes with U+FFFD everywhere", function()
        local snap = util.snapshot()
        local s = one(function(span)
            span:set_attribute("bad", "a\xffb")
            span:set_attribute("trunc", "x\xe6\x97")      -- cut sequence
            span:set_attribute("over", "\xc0\xaf")         -- overlong
            span:set_attribute("surr", "\xed\xa0\x80")     -- surrogate
            span:set_attribute("k\xfe", "key repaired")
            span:set_attribute("arr", { "ok", "\x80" })
            span:add_event("ev\xff")
            span:update_name("name\xc3")
            span:set_status(otel.status.ERROR, "why\xff")
        end)
        local fffd = "\xef\xbf\xbd"
        assert.are.equal("a" .. fffd .. "b", s.attributes.bad)
        assert.are.equal("x" .. fffd, s.attributes.trunc)
        assert.are.equal(fffd .. fffd, s.attributes.over)
        assert.are.equal(fffd .. fffd .. fffd, s.attributes.surr)
        assert.are.equal("key repaired", s.attributes["k" .. fffd])
        assert.are.same({ "ok", fffd }, s.attributes.arr)
        assert.are.equal("ev" .. fffd, s.events[1].name)
        assert.are.equal("name" .. fffd, s.name)
        assert.are.equal("why" .. fffd, s.status.description)
        assert.is_true(util.delta(snap).values_repaired >= 9)
    end)

    it("keeps valid multi-byte text as is", function()
        local text = "Grüße, 世界 🌍"
        local s = one(function(span)
            span:set_attribute("t", text)
        end)
        assert.are.equal(text, s.attributes.t)
    end)
end)

describe("status", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("is UNSET by default", function()
        local s = one(function() end)
        assert.are.same({ code = otel.status.UNSET, description = "" },
                        s.status)
    end)

    it("keeps the description only for ERROR", function()
        local s = one(function(span)
            span:set_status(otel.status.ERROR, "boom")
        end)
        assert.are.same({ code = 2, description = "boom" }, s.status)
        otel.memory.clear()
        s = one(function(span)
            span:set_status(otel.status.OK, "ignored")
        end)
        assert.are.same({ code = 1, description = "" }, s.status)
    end)

    it("OK is final and UNSET is ignored", function()
        local s = one(function(span)
            span:set_status(otel.status.ERROR, "first")
            span:set_status(otel.status.UNSET)
            span:set_status(otel.status.OK)
            span:set_status(otel.status.ERROR, "too late")
        end)
        assert.are.same({ code = 1, description = "" }, s.status)
    end)

    it("rejects codes that are not otel.status", function()
        tracer:start_as_current_span("x", nil, function(span)
            local ok, err = pcall(span.set_status, span, 7)
            assert.is_false(ok)
            assert.matches("otel.status", err)
        end)
    end)
end)

describe("finish", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("ends once and ignores (and counts) later calls", function()
        local snap = util.snapshot()
        local span = tracer:start_span("detached")
        assert.is_true(span:is_recording())
        span:finish()
        assert.is_false(span:is_recording())
        span:finish()
        span:set_attribute("late", 1)
        span:add_event("late")
        span:set_status(otel.status.ERROR, "late")
        span:update_name("late")
        span:add_link(span)
        local spans = util.spans()
        assert.are.equal(1, #spans)
        assert.are.equal("detached", spans[1].name)
        assert.is_nil(spans[1].attributes.late)
        assert.are.equal(0, #spans[1].events)
        assert.are.equal(0, spans[1].status.code)
        local d = util.delta(snap)
        assert.are.equal(6, d.stale_handle_calls)
        assert.are.equal(1, d.spans_ended)
    end)

    it("a finished span's context stays readable", function()
        local span = tracer:start_span("s")
        local before = span:context()
        span:finish()
        local after = span:context()
        assert.are.equal(before.trace_id, after.trace_id)
        assert.are.equal(before.span_id, after.span_id)
        assert.is_true(after.is_valid)
    end)

    it("takes explicit start and end times", function()
        local t0 = 1700000000000000000LL
        local span = tracer:start_span("timed", { start_time = t0 })
        span:add_event("e", nil, t0 + 5)
        span:finish(t0 + 10)
        local s = util.spans()[1]
        assert.is_true(s.start_time == t0)
        assert.is_true(s.end_time == t0 + 10)
        assert.is_true(s.events[1].time == t0 + 5)
    end)

    it("measures real durations", function()
        local span = tracer:start_span("d")
        local t = os.clock()
        while os.clock() - t < 0.01 do end
        span:finish()
        local s = util.spans()[1]
        local ms = tonumber(s.end_time - s.start_time) / 1e6
        assert.is_true(ms >= 9 and ms < 1000, "duration " .. ms)
        -- wall-clock unix time, not a monotonic origin
        local now = os.time()
        assert.is_true(math.abs(tonumber(s.start_time / 1000000000LL) - now)
                       < 5)
    end)
end)

describe("events and links", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("records events with attributes and times", function()
        local s = one(function(span)
            span:add_event("first")
            span:add_event("second", { k = "v", n = 1 })
        end)
        assert.are.equal(2, #s.events)
        assert.are.equal("first", s.events[1].name)
        assert.are.same({ k = "v", n = 1 }, s.events[2].attributes)
        assert.is_true(s.events[1].time >= s.start_time)
        assert.is_true(s.events[2].time <= s.end_time)
    end)

    it("records links from spans, span contexts and at start", function()
        local other = tracer:start_span("other")
        local ctx = other:context()
        local s = one(function(span)
            span:add_link(other, { via = "span" })
            span:add_link(ctx)
        end, { links = { { context = ctx, attributes = { at = "start" } } } })
        other:finish()
        assert.are.equal(3, #s.links)
        for _, l in ipairs(s.links) do
            assert.are.equal(ctx.trace_id, l.trace_id)
            assert.are.equal(ctx.span_id, l.span_id)
        end
        assert.are.same({ at = "start" }, s.links[1].attributes)
        assert.are.same({ via = "span" }, s.links[2].attributes)
    end)

    it("refuses a link to something that is not a span context", function()
        tracer:start_as_current_span("x", nil, function(span)
            assert.has_error(function() span:add_link("nope") end)
            assert.has_error(function() span:add_link({}) end)
        end)
    end)

    it("record_exception adds the exception event", function()
        local s = one(function(span)
            span:record_exception("bad thing", { extra = 1 })
            span:record_exception({ type = "ValidationError",
                                    message = "bad input" })
        end)
        local e1, e2 = s.events[1], s.events[2]
        assert.are.equal("exception", e1.name)
        assert.are.equal("string", e1.attributes["exception.type"])
        assert.are.equal("bad thing", e1.attributes["exception.message"])
        assert.matches("stack traceback", e1.attributes["exception.stacktrace"])
        assert.are.equal(1, e1.attributes.extra)
        assert.are.equal("ValidationError", e2.attributes["exception.type"])
        assert.are.equal("bad input", e2.attributes["exception.message"])
        -- recording an exception does not set the status
        assert.are.equal(0, s.status.code)
    end)
end)

describe("span objects", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("give their context", function()
        tracer:start_as_current_span("x", nil, function(span)
            local c = span:context()
            assert.matches("^[0-9a-f]+$", c.trace_id)
            assert.are.equal(32, #c.trace_id)
            assert.are.equal(16, #c.span_id)
            assert.are.equal(3, c.trace_flags)     -- sampled, random
            assert.is_true(c.sampled)
            assert.is_false(c.is_remote)
            assert.is_true(c.is_valid)
            assert.are.equal("", c.trace_state)
        end)
    end)

    it("update their name and kind", function()
        local s = one(function(span)
            span:update_name("renamed")
        end, { kind = otel.kind.CLIENT })
        assert.are.equal("renamed", s.name)
        assert.are.equal(otel.kind.CLIENT, s.kind)
    end)

    it("carry the scope and the resource", function()
        local s = one(function() end)
        assert.are.same({ name = "spec.span", version = "1.0", schema_url = "",
                          attributes = {} }, s.scope)
        assert.are.equal("lua-otel", s.resource["telemetry.sdk.name"])
        assert.are.equal("lua", s.resource["telemetry.sdk.language"])
    end)

    it("raise clear errors on API misuse", function()
        local cases = {
            function() tracer:start_span(42) end,
            function() tracer:start_span("x", "opts") end,
            function() tracer:start_span("x", { kind = 9 }) end,
            function() tracer:start_span("x", { parent = 12 }) end,
            function() tracer:start_span("x", { start_time = -1 }) end,
            function() tracer:start_span("x", { links = "no" }) end,
            function() tracer:start_as_current_span("x", nil, 5) end,
            function() tracer:start_as_current_span(nil, nil, print) end,
            function() otel.tracer("t", 5) end,
            function() otel.INVALID_SPAN:add_event(5) end,
            function() otel.INVALID_SPAN:update_name({}) end,
            function() otel.INVALID_SPAN:set_attributes("x") end,
        }
        for i, f in ipairs(cases) do
            local ok, err = pcall(f)
            assert.is_false(ok, "case " .. i)
            assert.matches("span_spec.lua", err, 1, true)
        end
    end)
end)
