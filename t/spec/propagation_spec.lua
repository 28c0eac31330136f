-- otel.propagation: extract and inject with W3C Trace Context, W3C
-- Baggage and B3, through tables and getter/setter functions.
local otel = require "otel"
local util = require "util"

local P = otel.propagation
local tracer = otel.tracer("spec.propagation")

local TID = "4bf92f3577b34da6a3ce929d0e0e4736"
local SID = "00f067aa0ba902b7"
local TP = "00-" .. TID .. "-" .. SID .. "-01"
local TP_NOT_SAMPLED = "00-" .. TID .. "-" .. SID .. "-00"

local function invalid_delta(snap)
    return util.delta(snap).propagation_invalid
end

-- Back to the default propagators (the env variable unset).
local function reset_propagators()
    util.setenv("OTEL_PROPAGATORS", nil)
    P.setup_hook({})
end

describe("otel.propagation.extract", function()
    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    it("reads traceparent and tracestate into a remote span context",
       function()
        local ctx = P.extract({ traceparent = TP,
                                tracestate = "rojo=00f067aa0ba902b7,"
                                             .. "congo=t61rcWkgMzE" })
        assert.are.equal(otel.context.Context, getmetatable(ctx))
        local sc = ctx.span:context()
        assert.are.equal(TID, sc.trace_id)
        assert.are.equal(SID, sc.span_id)
        assert.is_true(sc.sampled)
        assert.is_true(sc.is_remote)
        assert.is_true(sc.is_valid)
        assert.are.equal("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                         sc.trace_state)
        assert.is_false(ctx.span:is_recording())
    end)

    it("takes header names in any case", function()
        local ctx = P.extract({ TraceParent = TP, TRACESTATE = "a=1",
                                BaGgAgE = "k=v" })
        assert.are.equal(TID, ctx.span:context().trace_id)
        assert.are.equal("a=1", ctx.span:context().trace_state)
        assert.are.equal("v", otel.baggage.get("k", ctx))
    end)

    it("joins repeated tracestate and baggage headers, in order",
       function()
        local ctx = P.extract({
            traceparent = TP,
            tracestate = { "foo=1,bar=2", "rojo=1 , congo=2", "baz=3" },
            baggage = { "a=1", "b=2;p" },
        })
        assert.are.equal("foo=1,bar=2,rojo=1,congo=2,baz=3",
                         ctx.span:context().trace_state)
        assert.are.same({ a = { value = "1" },
                          b = { value = "2", metadata = "p" } },
                        otel.baggage.all(ctx))
    end)

    it("accepts a traceparent given as an array of one", function()
        local ctx = P.extract({ traceparent = { TP } })
        assert.are.equal(TID, ctx.span:context().trace_id)
    end)

    it("rejects repeated traceparent headers (counted)", function()
        local snap = util.snapshot()
        local ctx = P.extract({ traceparent = { TP, TP_NOT_SAMPLED },
                                tracestate = "a=1" })
        assert.is_nil(ctx.span)
        assert.are.equal(1, invalid_delta(snap))
    end)

    it("calls a getter with lower-case names", function()
        local asked = {}
        local headers = { traceparent = TP, tracestate = { "a=1", "b=2" },
                          baggage = "user=alice" }
        local ctx = P.extract(function(name)
            asked[#asked + 1] = name
            return headers[name]
        end)
        assert.are.equal(TID, ctx.span:context().trace_id)
        assert.are.equal("a=1,b=2", ctx.span:context().trace_state)
        assert.are.equal("alice", otel.baggage.get("user", ctx))
        for _, name in ipairs(asked) do
            assert.are.equal(name:lower(), name)
        end
    end)

    it("ignores malformed headers, counts them, never raises", function()
        local bad = {
            "00-" .. TID:upper() .. "-" .. SID .. "-01",
            "00-" .. TID .. "-" .. SID .. "-01-extra",
            "ff-" .. TID .. "-" .. SID .. "-01",
            "00-00000000000000000000000000000000-" .. SID .. "-01",
            "00-" .. TID .. "-0000000000000000-01",
            "00-" .. TID .. "-" .. SID,
            "",
            "garbage",
            12, true, { 1, 2 }, {},
        }
        for _, v in ipairs(bad) do
            local snap = util.snapshot()
            local ctx = P.extract({ traceparent = v, tracestate = "a=1" })
            assert.is_nil(ctx.span, tostring(v))
            assert.are.equal(1, invalid_delta(snap), tostring(v))
        end
    end)

    it("survives header values of every type", function()
        local values = { 0, -1, 0 / 0, true, false, print, {}, { {} },
                         { 1, "a" }, setmetatable({}, {}),
                         string.rep("x", 1024 * 1024),
                         string.rep("a=1,", 100000),
                         string.rep("00-", 1000), "\0\r\n" }
        for _, v in ipairs(values) do
            for _, name in ipairs({ "traceparent", "tracestate",
                                    "baggage", "b3", "x-b3-traceid" }) do
                local ctx = P.extract({ traceparent = TP, [name] = v })
                assert.are.equal(otel.context.Context, getmetatable(ctx))
                ctx = P.extract(function(n)
                    return n == name and v or nil
                end)
                assert.is_nil(ctx.span)
            end
        end
    end)

    it("keeps a future version's known fields", function()
        local ctx = P.extract({ traceparent = "cc-" .. TID .. "-" .. SID
                                              .. "-01-what-the-future" })
        assert.are.equal(TID, ctx.span:context().trace_id)
        assert.are.equal(1, ctx.span:context().trace_flags)
    end)

    it("drops invalid tracestate members and keeps the rest", function()
        local snap = util.snapshot()
        local ctx = P.extract({ traceparent = TP,
                                tracestate = "a=1,B=2,c=3,a=4" })
        assert.are.equal("a=1,c=3", ctx.span:context().trace_state)
        assert.are.equal(2, invalid_delta(snap))
    end)

    it("gives no span without a traceparent, or the context's", function()
        local ctx = P.extract({ host = "x" })
        assert.is_nil(ctx.span)
        assert.is_nil(ctx.baggage)
        local base = P.extract({ traceparent = TP, baggage = "a=1,b=2" })
        local ctx2 = P.extract({ baggage = "b=3,c=4" }, base)
        assert.are.equal(base.span, ctx2.span)
        assert.are.same({ a = { value = "1" }, b = { value = "3" },
                          c = { value = "4" } }, otel.baggage.all(ctx2))
        local ctx3 = P.extract({ traceparent = "bad" }, base)
        assert.are.equal(base.span, ctx3.span)
    end)

    it("raises on a carrier or context of the wrong type", function()
        assert.has_error(function() P.extract(nil) end,
            "otel.propagation.extract: carrier must be a table of headers "
            .. "or a getter function, got nil")
        assert.has_error(function() P.extract("traceparent") end)
        assert.has_error(function() P.extract({}, {}) end,
            "otel.propagation.extract: context must be a context, got "
            .. "table")
    end)
end)

describe("otel.propagation.inject", function()
    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    it("round-trips traceparent, tracestate and baggage", function()
        local headers = {
            traceparent = TP,
            tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            baggage = "user=alice,node=DF%2028;p1;p2=x",
        }
        local out = {}
        P.inject(out, P.extract(headers))
        assert.are.same(headers, out)
    end)

    it("re-encodes baggage that was read or changed", function()
        local ctx = P.extract({ baggage = "k = a%2Cb ; p" })
        assert.are.equal("a,b", otel.baggage.get("k", ctx))
        local out = {}
        P.inject(out, otel.baggage.set("sp", "x y", ctx))
        local back = otel.baggage.all(P.extract(out))
        assert.are.same({ k = { value = "a,b", metadata = "p" },
                          sp = { value = "x y" } }, back)
    end)

    it("calls a setter function", function()
        local got = {}
        P.inject(function(name, value) got[name] = value end,
                 P.extract({ traceparent = TP, tracestate = "a=1" }))
        assert.are.same({ traceparent = TP, tracestate = "a=1" }, got)
    end)

    it("injects the current context by default", function()
        util.setup()
        local out = {}
        tracer:start_as_current_span("s", nil, function(span)
            P.inject(out)
            local sc = span:context()
            -- sampled, and random: a root's trace id (level 2)
            assert.are.equal("00-" .. sc.trace_id .. "-" .. sc.span_id
                             .. "-03", out.traceparent)
        end)
        local none = {}
        P.inject(none)
        assert.is_nil(none.traceparent)
    end)

    it("accepts a span or span context in place of a context", function()
        util.setup()
        local span = tracer:start_span("s")
        local a, b = {}, {}
        P.inject(a, span)
        P.inject(b, span:context())
        span:finish()
        assert.is_string(a.traceparent)
        assert.are.same(a, b)
    end)

    it("writes no span headers for an invalid span context", function()
        local out = {}
        P.inject(out, otel.baggage.set("k", "v", otel.context.ROOT))
        assert.are.same({ baggage = "k=v" }, out)
    end)

    it("raises on a carrier or context of the wrong type", function()
        assert.has_error(function() P.inject(nil) end,
            "otel.propagation.inject: carrier must be a table or a setter "
            .. "function, got nil")
        assert.has_error(function() P.inject({}, 42) end,
            "otel.propagation.inject: context must be a context, a span or "
            .. "a span context, got number")
    end)
end)

describe("an extracted context", function()
    before_each(function() util.setup() end)
    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    it("is the remote parent of a child span (opts.parent)", function()
        local ctx = P.extract({ traceparent = TP, tracestate = "a=1" })
        local child = tracer:start_span("child", { parent = ctx })
        child:finish()
        local s = util.spans()[1]
        assert.are.equal(TID, s.trace_id)
        assert.are.equal(SID, s.parent_span_id)
        assert.is_true(s.parent_is_remote)
        assert.are.equal("a=1", s.trace_state)
    end)

    it("is the remote parent when attached, and flows out again",
       function()
        local ctx = P.extract({ traceparent = TP, tracestate = "a=1",
                                baggage = "tenant=acme" })
        local token = otel.context.attach(ctx)
        local out = {}
        tracer:start_as_current_span("server", nil, function(span)
            assert.are.equal("acme", otel.baggage.get("tenant"))
            P.inject(out)
            assert.are.equal("00-" .. TID .. "-" .. span:context().span_id
                             .. "-01", out.traceparent)
        end)
        otel.context.detach(token)
        assert.are.equal("a=1", out.tracestate)
        assert.are.equal("tenant=acme", out.baggage)
        local s = util.spans()[1]
        assert.are.equal(SID, s.parent_span_id)
        assert.is_true(s.parent_is_remote)
    end)

    it("not sampled: the child is not recorded but propagates", function()
        local ctx = P.extract({ traceparent = TP_NOT_SAMPLED })
        local out = {}
        tracer:start_as_current_span("s", { parent = ctx }, function(span)
            assert.is_false(span:is_recording())
            P.inject(out)
        end)
        assert.are.equal(0, #util.spans())
        assert.are.equal("00-" .. TID .. "-", out.traceparent:sub(1, 36))
        assert.are.equal("-00", out.traceparent:sub(-3))
    end)

    it("malformed: a new root, counted", function()
        local snap = util.snapshot()
        local ctx = P.extract({ traceparent = "00-" .. TID:upper() .. "-"
                                              .. SID .. "-01" })
        tracer:start_span("root", { parent = ctx }):finish()
        local s = util.spans()[1]
        assert.is_nil(s.parent_span_id)
        assert.are_not.equal(TID, s.trace_id)
        assert.are.equal(1, otel.stats().propagation_invalid
                            - snap.propagation_invalid)
    end)
end)

describe("B3", function()
    local B3T = "80f198ee56343ba864fe8b2a57d3eff7"
    local B3S = "e457b5a2e4d86bd1"

    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    it("extracts single and multi headers, injects the configured form",
       function()
        util.setup({ propagators = { "b3" } })
        local ctx = P.extract({ b3 = B3T .. "-" .. B3S .. "-1-"
                                     .. "05e3ac9a4f6e3b90" })
        assert.are.equal(B3T, ctx.span:context().trace_id)
        assert.are.equal(B3S, ctx.span:context().span_id)
        assert.is_true(ctx.span:context().sampled)
        local multi = P.extract({ ["X-B3-TraceId"] = "64fe8b2a57d3eff7",
                                  ["X-B3-SpanId"] = B3S,
                                  ["X-B3-Sampled"] = "0" })
        assert.are.equal("000000000000000064fe8b2a57d3eff7",
                         multi.span:context().trace_id)
        assert.is_false(multi.span:context().sampled)
        local out = {}
        P.inject(out, ctx)
        assert.are.same({ b3 = B3T .. "-" .. B3S .. "-1" }, out)
        util.teardown()
        util.setup({ propagators = { "b3multi" } })
        out = {}
        P.inject(out, multi)
        assert.are.same({ ["x-b3-traceid"] = "000000000000000064fe8b2a57d3"
                                             .. "eff7",
                          ["x-b3-spanid"] = B3S,
                          ["x-b3-sampled"] = "0" }, out)
    end)

    it("keeps the debug flag: sampled, and sent on", function()
        util.setup({ propagators = { "b3", "b3multi" } })
        local ctx = P.extract({ b3 = B3T .. "-" .. B3S .. "-d" })
        assert.is_true(ctx.span:context().sampled)
        local out = {}
        P.inject(out, ctx)
        assert.are.equal(B3T .. "-" .. B3S .. "-d", out.b3)
        assert.are.equal("1", out["x-b3-flags"])
        assert.is_nil(out["x-b3-sampled"])
    end)

    it("a child of a B3 parent has the remote parent", function()
        util.setup({ propagators = { "b3multi" } })
        local ctx = P.extract({ ["x-b3-traceid"] = B3T,
                                ["x-b3-spanid"] = B3S,
                                ["x-b3-sampled"] = "1" })
        tracer:start_span("child", { parent = ctx }):finish()
        local s = util.spans()[1]
        assert.are.equal(B3T, s.trace_id)
        assert.are.equal(B3S, s.parent_span_id)
        assert.is_true(s.parent_is_remote)
    end)

    it("the first propagator with a valid context wins", function()
        local headers = { traceparent = TP,
                          b3 = B3T .. "-" .. B3S .. "-1" }
        util.setup({ propagators = { "tracecontext", "b3" } })
        assert.are.equal(TID, P.extract(headers).span:context().trace_id)
        util.teardown()
        util.setup({ propagators = { "b3", "tracecontext" } })
        assert.are.equal(B3T, P.extract(headers).span:context().trace_id)
        util.teardown()
        util.setup({ propagators = { "tracecontext", "b3" } })
        headers.traceparent = "bad"
        assert.are.equal(B3T, P.extract(headers).span:context().trace_id)
    end)

    it("a malformed b3 header gives no span, counted", function()
        util.setup({ propagators = { "b3" } })
        local snap = util.snapshot()
        local ctx = P.extract({ b3 = B3T:upper() .. "-" .. B3S .. "-1" })
        assert.is_nil(ctx.span)
        assert.are.equal(1, invalid_delta(snap))
        -- a sampling state alone is no context and no error
        snap = util.snapshot()
        assert.is_nil(P.extract({ b3 = "0" }).span)
        assert.are.equal(0, invalid_delta(snap))
    end)
end)

describe("propagator configuration", function()
    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    local function injected()
        local out, names = {}, {}
        -- by hand: extract depends on the configuration too
        local ctx = otel.baggage.set("k", "v",
            otel.context.with_span(require("otel.span").handle_from_hex(
                TID, SID, 1, true)))
        P.inject(out, ctx)
        for k in pairs(out) do
            names[#names + 1] = k
        end
        table.sort(names)
        return table.concat(names, ",")
    end

    it("defaults to tracecontext,baggage", function()
        util.setup()
        assert.are.same({ "tracecontext", "baggage" }, P.propagators())
        assert.are.equal("baggage,traceparent", injected())
    end)

    it("reads OTEL_PROPAGATORS at setup", function()
        util.setenv("OTEL_PROPAGATORS", " B3Multi , bogus,baggage")
        util.setup()
        assert.are.same({ "b3multi", "baggage" }, P.propagators())
        assert.are.equal("baggage,x-b3-sampled,x-b3-spanid,x-b3-traceid",
                         injected())
        assert.are.same({ "x-b3-traceid", "x-b3-spanid", "x-b3-sampled",
                          "x-b3-flags", "baggage" }, P.fields())
    end)

    it("OTEL_PROPAGATORS=none turns propagation off", function()
        util.setenv("OTEL_PROPAGATORS", "none")
        util.setup()
        assert.are.same({}, P.propagators())
        assert.are.equal("", injected())
        assert.is_nil(P.extract({ traceparent = TP }).span)
    end)

    it("the setup option wins over the variable", function()
        util.setenv("OTEL_PROPAGATORS", "b3")
        util.setup({ propagators = { "tracecontext" } })
        assert.are.same({ "tracecontext" }, P.propagators())
        assert.are.equal("traceparent", injected())
    end)

    it("an unknown name in the option raises", function()
        assert.has_error(function()
            otel.setup({ exporter = "none", propagators = { "bogus" } })
        end, "otel.setup: unknown propagator 'bogus' (tracecontext, "
             .. "baggage, b3, b3multi, jaeger, ottrace, xray, gcp, datadog "
             .. "or none)")
        assert.is_nil(otel.info())
    end)
end)

describe("the propagation hot path", function()
    after_each(reset_propagators)

    local aborts_in_otel = util.aborts_in_otel

    it("extract and inject compile", function()
        P.setup_hook({ propagators = { "tracecontext", "baggage", "b3" } })
        local headers = { traceparent = TP, tracestate = "a=1,b=2",
                          baggage = "k=v,k2=v%202;p" }
        local out = {}
        local function loop()
            for _ = 1, 3000 do
                P.inject(out, P.extract(headers))
            end
        end
        loop()
        assert.are.same({}, aborts_in_otel(loop))
        assert.are.equal(TP, out.traceparent)
    end)
end)

-- extract_headers reads a header list (the layout of lua-nginx-module's
-- FFI request API: names in lower case, a repeated header once per line)
-- in C; it must give what extract gives for a table of the same headers.
describe("otel.propagation.extract_headers", function()
    local ffi = require "ffi"
    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    -- lines: array of { name, value }; returns the list and its length
    -- (the strings stay referenced by `lines` during the call).
    local function list_of(lines)
        local n = #lines
        local l = ffi.new("otel_header[?]", n + 1)
        for i, kv in ipairs(lines) do
            l[i - 1].name, l[i - 1].name_len = kv[1], #kv[1]
            l[i - 1].value, l[i - 1].value_len = kv[2], #kv[2]
        end
        return l, n
    end

    local function table_of(lines)
        local t = {}
        for _, kv in ipairs(lines) do
            local k, v = kv[1], kv[2]
            if t[k] == nil then
                t[k] = v
            elseif type(t[k]) == "table" then
                t[k][#t[k] + 1] = v
            else
                t[k] = { t[k], v }
            end
        end
        return t
    end

    -- What a context carries, comparable with assert.are.same.
    local function shape(ctx)
        if ctx == nil then
            return { span = "none", baggage = {} }
        end
        local sc = ctx.span and ctx.span:context()
        local out = { span = "none", baggage = {} }
        if sc and sc.is_valid then
            out.span = sc.trace_id .. "/" .. sc.span_id .. "/"
                       .. sc.trace_flags .. "/" .. sc.trace_state
            local h = ""
            P.inject(function(k, v)
                if k:sub(1, 1) == "x" or k == "b3" then
                    h = h .. k .. "=" .. v .. ";"
                end
            end, ctx)
            out.b3 = h
        end
        for k, e in pairs(otel.baggage.all(ctx)) do
            out.baggage[k] = e.value .. (e.metadata or "")
        end
        return out
    end

    local B3 = TID .. "-" .. SID .. "-d"
    local cases = {
        {},
        { { "host", "x" }, { "user-agent", "y" } },
        { { "traceparent", TP } },
        { { "traceparent", TP }, { "tracestate", "a=1,b=2" } },
        { { "traceparent", TP }, { "tracestate", "a=1" },
          { "tracestate", "b=2 , c=3" }, { "baggage", "k=v" },
          { "baggage", "k2=v%202;p" } },
        { { "traceparent", TP }, { "traceparent", TP_NOT_SAMPLED } },
        { { "traceparent", "00-bad" }, { "tracestate", "a=1" },
          { "baggage", "k=v,=bad" } },
        { { "tracestate", "a=1" } },
        { { "baggage", "only=bag" } },
        { { "b3", B3 } },
        { { "b3", B3 }, { "b3", B3 } },
        { { "b3", "1" }, { "x-b3-traceid", TID }, { "x-b3-spanid", SID },
          { "x-b3-sampled", "1" } },
        { { "x-b3-traceid", TID }, { "x-b3-spanid", SID },
          { "x-b3-flags", "1" } },
        { { "x-b3-traceid", TID }, { "x-b3-traceid", TID },
          { "x-b3-spanid", SID } },
        { { "x-b3-spanid", SID } },
        { { "traceparent", TP_NOT_SAMPLED }, { "b3", B3 } },
        -- the other tracers' formats (t/spec/propagators_spec.lua)
        { { "uber-trace-id", TID .. ":" .. SID .. ":0:3" },
          { "uberctx-user", "a%20b" }, { "baggage", "user=w3c,k=v" } },
        { { "uber-trace-id", "0:1:0:1" }, { "traceparent", TP } },
        { { "uber-trace-id", "1:2:0:1" }, { "uber-trace-id", "1:2:0:1" } },
        { { "ot-tracer-traceid", SID }, { "ot-tracer-spanid", SID },
          { "ot-tracer-sampled", "true" }, { "ot-baggage-k", "v" } },
        { { "x-amzn-trace-id", "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;"
                               .. "Parent=" .. SID .. ";Sampled=1" } },
        { { "x-cloud-trace-context", TID .. "/1;o=1" }, { "b3", B3 } },
        { { "x-datadog-trace-id", "1" }, { "x-datadog-parent-id", "2" },
          { "x-datadog-sampling-priority", "2" },
          { "x-datadog-origin", "rum" },
          { "x-datadog-tags", "_dd.p.tid=4bf92f3577b34da6" } },
        { { "x-datadog-trace-id", "1" }, { "x-datadog-parent-id", "x" },
          { "traceparent", TP } },
    }
    local orders = {
        { "tracecontext", "baggage" },
        { "b3", "tracecontext", "baggage" },
        { "tracecontext", "b3multi" },
        { "baggage" },
        {},
        { "jaeger", "ottrace", "baggage" },
        { "datadog", "xray", "gcp", "tracecontext", "b3" },
        { "gcp", "jaeger", "ottrace", "datadog", "xray", "tracecontext",
          "baggage", "b3" },
    }

    it("gives what extract gives for the same headers", function()
        for _, order in ipairs(orders) do
            P.setup_hook({ propagators = order })
            for i, lines in ipairs(cases) do
                local l, n = list_of(lines)
                local s1 = util.snapshot()
                local want = shape(P.extract(table_of(lines)))
                local inv1 = invalid_delta(s1)
                local s2 = util.snapshot()
                local got = shape(P.extract_headers(l, n))
                local inv2 = invalid_delta(s2)
                local what = "case " .. i .. " with "
                             .. table.concat(order, ",")
                assert.are.same(want, got, what)
                assert.are.equal(inv1, inv2, what .. ": invalid count")
            end
        end
    end)

    it("returns nil when the headers carry nothing", function()
        local l, n = list_of({ { "host", "x" }, { "accept", "*/*" } })
        assert.is_nil(P.extract_headers(l, n))
        assert.is_nil(P.extract_headers(l, 0))
    end)
end)
