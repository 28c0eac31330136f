-- otel.baggage: immutable contexts, the current context by default, and
-- the W3C baggage header through otel.propagation.
local otel = require "otel"
local util = require "util"

local B = otel.baggage
local P = otel.propagation
local context = otel.context
local tracer = otel.tracer("spec.baggage")

local TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

describe("otel.baggage", function()
    after_each(util.teardown)

    it("set returns a new context; the old one is unchanged", function()
        local c1 = B.set("a", "1")
        local c2 = B.set("b", "2", c1)
        local c3 = B.set("a", "x", "ttl=30", c2)
        assert.are.equal("1", B.get("a", c1))
        assert.is_nil(B.get("b", c1))
        assert.are.equal("2", B.get("b", c2))
        assert.are.same({ "x", "ttl=30" }, { B.get("a", c3) })
        assert.are.equal("1", B.get("a", c2))
        assert.are.same({ a = { value = "x", metadata = "ttl=30" },
                          b = { value = "2" } }, B.all(c3))
    end)

    it("reads and builds on the current context by default", function()
        assert.is_nil(B.get("tenant"))
        assert.are.same({}, B.all())
        local token = context.attach(B.set("tenant", "acme"))
        assert.are.equal("acme", B.get("tenant"))
        local more = B.set("user", "bob")     -- current + user
        assert.are.same({ tenant = { value = "acme" },
                          user = { value = "bob" } }, B.all(more))
        assert.is_nil(B.get("user"))          -- not attached
        context.detach(token)
        assert.is_nil(B.get("tenant"))
    end)

    it("remove and clear return new contexts", function()
        local c = B.set("b", "2", B.set("a", "1"))
        local r = B.remove("a", c)
        assert.is_nil(B.get("a", r))
        assert.are.equal("2", B.get("b", r))
        assert.are.equal("1", B.get("a", c))
        assert.is_nil(B.remove("b", r).baggage)
        assert.are.same({}, B.all(B.clear(c)))
        assert.are.equal("1", B.get("a", c))
    end)

    it("keeps the context's span", function()
        util.setup()
        local span = tracer:start_span("s")
        local c = B.set("k", "v", context.with_span(span))
        assert.are.equal(span, c.span)
        assert.are.equal(span, B.remove("k", c).span)
        assert.are.equal(span, B.clear(c).span)
        span:finish()
    end)

    it("is seen by spans started under it, and by inject", function()
        util.setup()
        local token = context.attach(B.set("tenant", "acme", "p"))
        local out = {}
        tracer:start_as_current_span("s", nil, function()
            assert.are.equal("acme", B.get("tenant"))
            tracer:start_as_current_span("inner", nil, function()
                P.inject(out)
            end)
        end)
        context.detach(token)
        assert.are.equal("tenant=acme;p", out.baggage)
        assert.is_string(out.traceparent)
    end)

    it("flows from an extracted context into spans' context", function()
        util.setup()
        local ctx = P.extract({ traceparent = TP,
                                baggage = "user.id=alice, n = DF%2028 ;x" })
        local seen
        tracer:start_as_current_span("server", { parent = ctx }, function()
            -- opts.parent gives the span, not the baggage
            seen = B.get("user.id")
        end)
        assert.is_nil(seen)
        local token = context.attach(ctx)
        tracer:start_as_current_span("server", nil, function()
            seen = { B.get("n") }
        end)
        context.detach(token)
        assert.are.same({ "DF 28", "x" }, seen)
    end)

    it("percent-encodes on inject and decodes on extract", function()
        local values = { "plain", "with space", "a,b;c=d", "100%", "a+b",
                         "quote\"back\\slash", "日本語", "" }
        local c = context.ROOT
        for i, v in ipairs(values) do
            c = B.set("k" .. i, v, c)
        end
        local out = {}
        P.inject(out, c)
        local n = 0
        for member in out.baggage:gmatch("[^,]+") do
            n = n + 1
            assert.is_truthy(member:match("^k%d+=[%w%%%-%._~]*$"), member)
        end
        assert.are.equal(#values, n)
        local back = P.extract(out)
        for i, v in ipairs(values) do
            assert.are.equal(v, B.get("k" .. i, back))
        end
    end)

    it("invalid UTF-8 in a value is repaired", function()
        local ctx = P.extract({ baggage = "k=%FFok" })
        assert.are.equal("\239\191\189ok", B.get("k", ctx))
    end)

    it("drops what the header cannot carry, counted", function()
        local snap = util.snapshot()
        local c = B.set("bad name", "v", B.set("ok", "v", B.set(
            "meta", "v", "not a;property list,")))
        local out = {}
        P.inject(out, c)
        local back = B.all(P.extract(out))
        assert.are.same({ ok = { value = "v" }, meta = { value = "v" } },
                        back)
        assert.are.equal(2, util.delta(snap).propagation_invalid)
    end)

    it("applies the limits: 180 members", function()
        local parts = {}
        for i = 1, 200 do
            parts[i] = "k" .. i .. "=" .. i
        end
        local snap = util.snapshot()
        local ctx = P.extract({ baggage = table.concat(parts, ",") })
        local n = 0
        for _ in pairs(B.all(ctx)) do
            n = n + 1
        end
        assert.are.equal(180, n)
        assert.is_nil(B.get("k181", ctx))
        assert.are.equal(20, util.delta(snap).propagation_invalid)
        -- and on inject
        local c = context.ROOT
        for i = 1, 200 do
            c = B.set("k" .. i, "v", c)
        end
        local out = {}
        P.inject(out, c)
        local m = 0
        for _ in out.baggage:gmatch("[^,]+") do
            m = m + 1
        end
        assert.are.equal(180, m)
    end)

    it("applies the limits: 8192 bytes", function()
        local big = string.rep("v", 3000)
        local ctx = P.extract({ baggage = "a=" .. big .. ",b=" .. big
                                          .. ",c=" .. big .. ",d=1" })
        assert.are.equal(big, B.get("a", ctx))
        assert.are.equal(big, B.get("b", ctx))
        assert.is_nil(B.get("c", ctx))
        assert.are.equal("1", B.get("d", ctx))
    end)

    it("drops malformed members of a header, keeps the rest", function()
        local snap = util.snapshot()
        local ctx = P.extract({ baggage = "a=1,novalue,b=x y,c=3;;p,d=4" })
        assert.are.same({ a = { value = "1" }, d = { value = "4" } },
                        B.all(ctx))
        assert.are.equal(3, util.delta(snap).propagation_invalid)
    end)

    it("all returns copies", function()
        local c = B.set("k", "v")
        local t = B.all(c)
        t.k.value = "changed"
        t.other = { value = "x" }
        assert.are.same({ k = { value = "v" } }, B.all(c))
    end)

    it("raises on bad arguments", function()
        assert.has_error(function() B.get(1) end,
            "otel.baggage.get: name must be a non-empty string, got number")
        assert.has_error(function() B.set("", "v") end,
            "otel.baggage.set: name must be a non-empty string, got \"\"")
        assert.has_error(function() B.set("k", 1) end,
            "otel.baggage.set: value must be a string, got number")
        assert.has_error(function() B.set("k", "v", 5) end,
            "otel.baggage.set: metadata must be a string, got number")
        assert.has_error(function() B.set("k", "v", nil, {}) end,
            "otel.baggage.set: expected a context, got table")
        assert.has_error(function() B.remove("k", "ctx") end,
            "otel.baggage.remove: expected a context, got string")
        assert.has_error(function() B.all(1) end,
            "otel.baggage.all: expected a context, got number")
        assert.has_error(function() B.clear(true) end,
            "otel.baggage.clear: expected a context, got boolean")
    end)
end)
