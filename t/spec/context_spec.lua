-- Scoped spans and the per-coroutine context.
local otel = require "otel"
local util = require "util"

local tracer = otel.tracer("spec.context")
local context = otel.context

describe("start_as_current_span", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("passes arguments in and every result out, nils included", function()
        local a, b, c, d = tracer:start_as_current_span("s", nil,
            function(span, x, y, z)
                assert.is_true(span:is_recording())
                return x, nil, y + z, nil
            end, "x", 2, 3)
        assert.are.equal("x", a)
        assert.is_nil(b)
        assert.are.equal(5, c)
        assert.is_nil(d)
        assert.are.equal(4, select("#", tracer:start_as_current_span("n",
            nil, function() return nil, nil, nil, nil end)))
        assert.are.equal(0, select("#", tracer:start_as_current_span("z",
            nil, function() end)))
    end)

    it("accepts the function in place of opts", function()
        local r = tracer:start_as_current_span("s", function(_, v)
            return v * 2
        end, 21)
        assert.are.equal(42, r)
        assert.are.equal("s", util.spans()[1].name)
    end)

    it("makes the span current inside fn only", function()
        assert.is_false(context.current_span():is_recording())
        tracer:start_as_current_span("outer", nil, function(outer)
            assert.are.equal(outer, context.current_span())
            tracer:start_as_current_span("inner", nil, function(inner)
                assert.are.equal(inner, context.current_span())
            end)
            assert.are.equal(outer, context.current_span())
        end)
        assert.is_false(context.current_span():is_recording())
        local s = util.by_name()
        assert.are.equal(s.outer.span_id, s.inner.parent_span_id)
        assert.are.equal(s.outer.trace_id, s.inner.trace_id)
        assert.is_nil(s.outer.parent_span_id)
    end)

    it("on a raise records, sets ERROR, ends and re-raises the same value",
       function()
        local e = { reason = "x" }
        local ok, err = pcall(tracer.start_as_current_span, tracer, "t",
                              nil, function() error(e) end)
        assert.is_false(ok)
        assert.are.equal(e, err)            -- the very same table
        ok, err = pcall(tracer.start_as_current_span, tracer, "s", nil,
                        function() error("boom") end)
        assert.is_false(ok)
        assert.matches("context_spec.lua:%d+: boom$", err)
        local s = util.by_name()
        assert.are.equal(otel.status.ERROR, s.s.status.code)
        assert.matches("boom", s.s.status.description)
        local ev = s.s.events[1]
        assert.are.equal("exception", ev.name)
        assert.are.equal("string", ev.attributes["exception.type"])
        assert.matches("boom", ev.attributes["exception.message"])
        assert.matches("stack traceback", ev.attributes["exception.stacktrace"])
        assert.matches("context_spec.lua",
                       ev.attributes["exception.stacktrace"])
        assert.are.equal("table", s.t.events[1].attributes["exception.type"])
        -- the context is restored after the raise
        assert.is_false(context.current_span():is_recording())
    end)

    it("lets fn yield any number of times", function()
        local co = coroutine.wrap(function()
            return tracer:start_as_current_span("y", nil, function(span)
                for i = 1, 5 do
                    coroutine.yield(i)
                    assert.are.equal(span, context.current_span())
                end
                return "done"
            end)
        end)
        local got = {}
        for _ = 1, 5 do
            got[#got + 1] = co()
            -- the span is not current in this coroutine
            assert.is_false(context.current_span():is_recording())
        end
        assert.are.equal("done", co())
        assert.are.same({ 1, 2, 3, 4, 5 }, got)
        assert.are.equal(1, #util.spans())
    end)

    it("takes an explicit parent, or none", function()
        local p = tracer:start_span("p")
        tracer:start_as_current_span("child", { parent = p }, function() end)
        tracer:start_as_current_span("root", { parent = false }, function()
        end)
        tracer:start_as_current_span("viactx",
                                     { parent = context.with_span(p) },
                                     function() end)
        tracer:start_as_current_span("viasc", { parent = p:context() },
                                     function() end)
        p:finish()
        local s = util.by_name()
        assert.are.equal(s.p.span_id, s.child.parent_span_id)
        assert.is_nil(s.root.parent_span_id)
        assert.are.equal(s.p.span_id, s.viactx.parent_span_id)
        assert.are.equal(s.p.span_id, s.viasc.parent_span_id)
        assert.are_not.equal(s.p.trace_id, s.root.trace_id)
    end)

    it("a coroutine collected mid-scope leaks nothing", function()
        local snap = util.snapshot()
        for _ = 1, 50 do
            local co = coroutine.create(function()
                tracer:start_as_current_span("stuck", nil, function()
                    coroutine.yield()
                end)
            end)
            coroutine.resume(co)
        end
        collectgarbage()
        collectgarbage()
        local d = util.delta(snap)
        assert.are.equal(50, d.spans_abandoned)
        assert.are.equal(0, d.spans_ended)
        assert.are.equal(0, #util.spans())
    end)
end)

describe("detached spans and attach/detach", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("start_span does not change the current span", function()
        tracer:start_as_current_span("outer", nil, function(outer)
            local s = tracer:start_span("detached")
            assert.are.equal(outer, context.current_span())
            s:finish()
        end)
        local s = util.by_name()
        assert.are.equal(s.outer.span_id, s.detached.parent_span_id)
    end)

    it("attach makes current, detach restores exactly", function()
        local a = tracer:start_span("a")
        local b = tracer:start_span("b")
        local ta = context.attach(a)
        assert.are.equal(a, context.current_span())
        local tb = context.attach(b)
        assert.are.equal(b, context.current_span())
        tracer:start_as_current_span("c", nil, function() end)
        assert.is_true(context.detach(tb))
        assert.are.equal(a, context.current_span())
        assert.is_true(context.detach(ta))
        assert.is_false(context.current_span():is_recording())
        a:finish()
        b:finish()
        assert.are.equal(util.by_name().b.span_id,
                         util.by_name().c.parent_span_id)
    end)

    it("out-of-order detach is counted and restores the outer", function()
        local snap = util.snapshot()
        local a = tracer:start_span("a")
        local b = tracer:start_span("b")
        local ta = context.attach(a)
        local tb = context.attach(b)
        assert.is_false(context.detach(ta))     -- out of order
        assert.is_false(context.current_span():is_recording())
        assert.is_false(context.detach(tb))     -- already gone
        assert.is_false(context.detach(ta))     -- twice
        assert.are.equal(3, util.delta(snap).detach_mismatches)
        a:finish()
        b:finish()
    end)

    it("out-of-order detach is an error in strict mode", function()
        util.setup({ strict = true })
        local a = tracer:start_span("a")
        local ta = context.attach(a)
        local tb = context.attach(a)
        local ok, err = pcall(context.detach, ta)
        assert.is_false(ok)
        assert.matches("out of order", err)
        ok, err = pcall(context.detach, tb)
        assert.is_false(ok)
        assert.matches("already detached", err)
        a:finish()
    end)

    it("a token from another coroutine never touches either stack",
       function()
        local snap = util.snapshot()
        local a = tracer:start_span("a")
        local token = context.attach(a)
        local co = coroutine.wrap(function()
            local b = tracer:start_span("b")
            local tb = context.attach(b)
            local r = context.detach(token)     -- not this coroutine's
            assert.are.equal(b, context.current_span())
            context.detach(tb)
            b:finish()
            return r
        end)
        assert.is_false(co())
        assert.are.equal(a, context.current_span())
        assert.is_true(context.detach(token))
        assert.are.equal(1, util.delta(snap).detach_mismatches)
        a:finish()
    end)

    it("rejects things that are not tokens", function()
        assert.has_error(function() context.detach({}) end)
        assert.has_error(function() context.detach(nil) end)
        assert.has_error(function() context.attach(42) end)
    end)

    it("current() gives a context to attach elsewhere", function()
        local a = tracer:start_span("a")
        local token = context.attach(a)
        local ctx = context.current()
        context.detach(token)
        assert.are.equal(a, ctx.span)
        local t2 = context.attach(ctx)
        assert.are.equal(a, context.current_span())
        context.detach(t2)
        a:finish()
    end)

    it("a span that is never ended is freed when collected", function()
        local snap = util.snapshot()
        for i = 1, 100 do
            tracer:start_span("lost" .. i)
        end
        collectgarbage()
        collectgarbage()
        assert.are.equal(100, util.delta(snap).spans_abandoned)
    end)
end)

describe("coroutines", function()
    before_each(function() util.setup() end)
    after_each(util.teardown)

    it("a new coroutine starts with an empty context", function()
        tracer:start_as_current_span("outer", nil, function()
            coroutine.wrap(function()
                assert.is_false(context.current_span():is_recording())
                tracer:start_as_current_span("inner", nil, function() end)
            end)()
        end)
        assert.is_nil(util.by_name().inner.parent_span_id)
    end)

    it("wrap carries the caller's context into a coroutine", function()
        local outer_span
        local f
        tracer:start_as_current_span("outer", nil, function(outer)
            outer_span = outer
            f = coroutine.wrap(context.wrap(function(x)
                assert.are.equal(outer, context.current_span())
                tracer:start_as_current_span("inner", nil, function()
                    coroutine.yield(x)
                end)
                return "end"
            end))
        end)
        assert.are.equal(7, f(7))
        assert.are.equal("end", f())
        local s = util.by_name()
        assert.are.equal(s.outer.span_id, s.inner.parent_span_id)
        assert.is_not_nil(outer_span)
    end)

    it("wrap re-raises errors and restores the context", function()
        local g
        tracer:start_as_current_span("outer", nil, function()
            g = context.wrap(function() error({ "x" }) end)
        end)
        local ok, err = pcall(g)
        assert.is_false(ok)
        assert.are.same({ "x" }, err)
        assert.is_false(context.current_span():is_recording())
        assert.has_error(function() context.wrap(5) end)
    end)

    it("1000 interleaved coroutines keep their own parents", function()
        math.randomseed(42)
        local cos = {}
        local expect = {}           -- span name -> expected parent name
        for i = 1, 1000 do
            cos[i] = coroutine.create(function()
                local name = "c" .. i
                tracer:start_as_current_span(name .. ".1", nil, function()
                    coroutine.yield()
                    tracer:start_as_current_span(name .. ".2", nil, function()
                        coroutine.yield()
                        tracer:start_as_current_span(name .. ".3", nil,
                                                     function(s)
                            coroutine.yield()
                            assert(context.current_span() == s)
                        end)
                        coroutine.yield()
                    end)
                    coroutine.yield()
                end)
            end)
            expect["c" .. i .. ".2"] = "c" .. i .. ".1"
            expect["c" .. i .. ".3"] = "c" .. i .. ".2"
        end
        local alive = {}
        for i = 1, #cos do
            alive[i] = cos[i]
        end
        while #alive > 0 do
            local k = math.random(#alive)
            local ok, err = coroutine.resume(alive[k])
            assert(ok, err)
            if coroutine.status(alive[k]) == "dead" then
                table.remove(alive, k)
            end
        end
        local spans = util.spans()
        assert.are.equal(3000, #spans)
        local by = util.by_name(spans)
        for child, parent in pairs(expect) do
            assert.are.equal(by[parent].span_id, by[child].parent_span_id)
            assert.are.equal(by[parent].trace_id, by[child].trace_id)
        end
        for i = 1, 1000 do
            assert.is_nil(by["c" .. i .. ".1"].parent_span_id)
        end
    end)
end)
