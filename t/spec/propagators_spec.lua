-- otel.propagation with the other tracers' formats: Jaeger, OT Trace,
-- AWS X-Ray, Google Cloud Trace and Datadog; their names, extraction
-- order, and a context that arrives in one format and leaves in another.
local otel = require "otel"
local util = require "util"

local P = otel.propagation
local tracer = otel.tracer("spec.propagators")

local TID = "4bf92f3577b34da6a3ce929d0e0e4736"
local SID = "00f067aa0ba902b7"
local TP = "00-" .. TID .. "-" .. SID .. "-01"

local function reset_propagators()
    util.setenv("OTEL_PROPAGATORS", nil)
    P.setup_hook({})
end

local function sc(ctx)
    return ctx.span and ctx.span:context()
end

-- The incoming headers of each format for TID / SID, sampled.
local INCOMING = {
    jaeger = { ["uber-trace-id"] = TID .. ":" .. SID .. ":0:1" },
    ottrace = { ["ot-tracer-traceid"] = TID, ["ot-tracer-spanid"] = SID,
                ["ot-tracer-sampled"] = "true" },
    xray = { ["X-Amzn-Trace-Id"] = "Root=1-4bf92f35-77b34da6a3ce929d0e0e"
                                   .. "4736;Parent=" .. SID .. ";Sampled=1" },
    gcp = { ["X-Cloud-Trace-Context"] = TID .. "/67667974448284343;o=1" },
    datadog = { ["x-datadog-trace-id"] = "11803532876627986230",
                ["x-datadog-parent-id"] = "67667974448284343",
                ["x-datadog-sampling-priority"] = "1",
                ["x-datadog-tags"] = "_dd.p.tid=4bf92f3577b34da6" },
}

describe("other tracers' formats", function()
    after_each(function()
        util.teardown()
        reset_propagators()
    end)

    for name, headers in pairs(INCOMING) do
        it(name .. ": extract -> span -> inject, the same trace", function()
            util.setup({ propagators = { name } })
            local ctx = P.extract(headers)
            assert.are.equal(TID, sc(ctx).trace_id)
            assert.are.equal(SID, sc(ctx).span_id)
            assert.is_true(sc(ctx).sampled)
            assert.is_true(sc(ctx).is_remote)
            local sp = tracer:start_span("hop", { parent = ctx })
            local out = {}
            P.inject(out, otel.context.with_span(sp, ctx))
            sp:finish()
            -- what the next hop reads: the same trace, the hop as parent
            local back = P.extract(out)
            assert.are.equal(sp:context().span_id, sc(back).span_id)
            if name == "ottrace" then       -- sends the lower 64 bits
                assert.are.equal(("0"):rep(16) .. TID:sub(17),
                                 sc(back).trace_id)
            else
                assert.are.equal(TID, sc(back).trace_id)
            end
            local s = util.spans()[1]
            assert.are.equal(TID, s.trace_id)
            assert.are.equal(SID, s.parent_span_id)
        end)
    end

    it("a request arriving in one format leaves in another", function()
        util.setup({ propagators = { extract = { "datadog", "xray" },
                                     inject = { "tracecontext", "b3" } } })
        local inj, ex = P.propagators()
        assert.are.same({ "tracecontext", "b3" }, inj)
        assert.are.same({ "datadog", "xray" }, ex)
        local ctx = P.extract(INCOMING.xray)
        local sp = tracer:start_span("gateway", { parent = ctx,
                                                  kind = otel.kind.SERVER })
        local out = {}
        P.inject(out, otel.context.with_span(sp, ctx))
        sp:finish()
        assert.are.equal("00-" .. TID .. "-" .. sp:context().span_id
                         .. "-01", out.traceparent)
        assert.are.equal(TID .. "-" .. sp:context().span_id .. "-1", out.b3)
        assert.is_nil(out["x-amzn-trace-id"])
        -- and the formats inject does not write are not read either
        assert.is_nil(P.extract({ traceparent = TP }).span)
    end)

    it("the first format of the extract order with a valid context wins",
       function()
        local both = {}
        for k, v in pairs(INCOMING.gcp) do
            both[k] = v
        end
        both["uber-trace-id"] = "abc:1f:0:1"
        util.setup({ propagators = { "gcp", "jaeger" } })
        assert.are.equal(TID, sc(P.extract(both)).trace_id)
        util.teardown()
        util.setup({ propagators = { "jaeger", "gcp" } })
        assert.are.equal(("0"):rep(29) .. "abc", sc(P.extract(both)).trace_id)
        -- an invalid first one falls through to the next, counted
        both["uber-trace-id"] = "0:1f:0:1"
        local snap = util.snapshot()
        assert.are.equal(TID, sc(P.extract(both)).trace_id)
        assert.are.equal(1, util.delta(snap).propagation_invalid)
    end)

    it("every malformed id is ignored and counted, never exported",
       function()
        util.setup({ propagators = { "jaeger", "ottrace", "xray", "gcp",
                                     "datadog" } })
        local bad = {
            { ["uber-trace-id"] = "00000000000000000000000000000000:1:0:1" },
            { ["uber-trace-id"] = TID .. ":" .. SID },
            { ["ot-tracer-traceid"] = TID, ["ot-tracer-spanid"] = "xyz" },
            { ["x-amzn-trace-id"] = "Root=1-zzzzzzzz-77b34da6a3ce929d0e0e4736"
                                    .. ";Parent=" .. SID },
            { ["x-cloud-trace-context"] = TID .. "/-1;o=1" },
            { ["x-datadog-trace-id"] = "18446744073709551616",
              ["x-datadog-parent-id"] = "1" },
            { ["x-datadog-trace-id"] = "abc", ["x-datadog-parent-id"] = "1" },
            { ["x-datadog-trace-id"] = { "1", "2" },
              ["x-datadog-parent-id"] = "1" },
        }
        for i = 1, #bad do
            local snap = util.snapshot()
            local ctx = P.extract(bad[i])
            assert.is_nil(ctx.span, i)
            assert.is_true(util.delta(snap).propagation_invalid >= 1, i)
            tracer:start_span("root", { parent = ctx }):finish()
        end
        assert.is_true(otel.force_flush(1000))
        local spans = util.spans()
        assert.are.equal(#bad, #spans)
        for _, s in ipairs(spans) do
            assert.is_nil(s.parent_span_id)
            assert.are.equal(32, #s.trace_id)
            assert.are_not.equal(("0"):rep(32), s.trace_id)
        end
    end)

    it("survives header values of every type", function()
        util.setup({ propagators = { "jaeger", "ottrace", "xray", "gcp",
                                     "datadog" } })
        local values = { 1, true, {}, { 1 }, function() end, "",
                         ("x"):rep(9000), "\0", { "a", "b" } }
        for _, v in ipairs(values) do
            for _, headers in pairs(INCOMING) do
                for k in pairs(headers) do
                    local h = { [k:lower()] = v, ["uberctx-k"] = v,
                                ["ot-baggage-k"] = v }
                    assert.has_no.errors(function() P.extract(h) end)
                end
            end
        end
    end)

    it("Jaeger keeps the debug flag: sampled, and sent on", function()
        util.setup({ propagators = { "jaeger" } })
        local ctx = P.extract({ ["uber-trace-id"] = TID .. ":" .. SID
                                                     .. ":0:2" })
        assert.is_true(sc(ctx).sampled)
        local out = {}
        P.inject(out, ctx)
        assert.are.equal(TID .. ":" .. SID .. ":0:03", out["uber-trace-id"])
    end)

    it("Jaeger and OT baggage headers: read into baggage, sent back",
       function()
        util.setup({ propagators = { "jaeger", "ottrace", "baggage" } })
        local ctx = P.extract({ ["uber-trace-id"] = TID .. ":" .. SID
                                                     .. ":0:1",
                                ["uberctx-user"] = "alice%20b",
                                ["ot-baggage-tenant"] = "t1",
                                ["uberctx-bad key"] = "x",
                                baggage = "user=carol" })
        local b = otel.baggage.all(ctx)
        -- the W3C header wins over the other formats' headers
        assert.are.same({ user = { value = "carol" },
                          tenant = { value = "t1" } }, b)
        local out = {}
        P.inject(out, otel.baggage.set("k", "v w", ctx))
        assert.are.equal("v%20w", out["uberctx-k"])
        assert.are.equal("v w", out["ot-baggage-k"])
        assert.are.equal("t1", out["uberctx-tenant"])
    end)

    it("Datadog: 128-bit ids through _dd.p.tid, origin through tracestate",
       function()
        util.setup({ propagators = { "datadog", "tracecontext" } })
        local h = {}
        for k, v in pairs(INCOMING.datadog) do
            h[k] = v
        end
        h["x-datadog-origin"] = "synthetics"
        h["x-datadog-sampling-priority"] = "-1"
        local ctx = P.extract(h)
        assert.are.equal(TID, sc(ctx).trace_id)
        assert.is_false(sc(ctx).sampled)
        assert.are.equal("dd=o:synthetics", sc(ctx).trace_state)
        local sp = tracer:start_span("child", { parent = ctx })
        local out = {}
        P.inject(out, otel.context.with_span(sp, ctx))
        assert.are.equal("11803532876627986230", out["x-datadog-trace-id"])
        assert.are.equal("0", out["x-datadog-sampling-priority"])
        assert.are.equal("synthetics", out["x-datadog-origin"])
        assert.are.equal("_dd.p.tid=4bf92f3577b34da6", out["x-datadog-tags"])
        assert.are.equal("dd=o:synthetics", out.tracestate)
        assert.are.equal(sp:context().span_id,
                         ("%016x"):format(tonumber(out["x-datadog-parent-id"])
                                          or 0):sub(1, 0)
                         .. sp:context().span_id)
    end)

    it("names: the ecosystems' aliases, OTEL_PROPAGATORS, the fields",
       function()
        util.setenv("OTEL_PROPAGATORS", "xray, gcp_trace,Datadog,ottrace")
        util.setup()
        assert.are.same({ "xray", "gcp", "datadog", "ottrace" },
                        P.propagators())
        local ex, prefixes = P.extract_fields()
        assert.are.same({ "x-amzn-trace-id", "x-cloud-trace-context",
                          "x-datadog-trace-id", "x-datadog-parent-id",
                          "x-datadog-sampling-priority", "x-datadog-origin",
                          "x-datadog-tags", "ot-tracer-traceid",
                          "ot-tracer-spanid", "ot-tracer-sampled" }, ex)
        assert.are.same({ "ot-baggage-" }, prefixes)
        util.teardown()
        util.setup({ propagators = { "b3multi", "b3", "tracecontext" } })
        assert.are.same({ "b3", "x-b3-traceid", "x-b3-spanid",
                          "x-b3-sampled", "x-b3-flags", "traceparent",
                          "tracestate" }, (P.extract_fields()))
    end)

    it("rejects a bad propagators option", function()
        assert.has_error(function()
            otel.setup({ exporter = "none",
                         propagators = { extract = "jaeger" } })
        end, "otel.setup: propagators.extract and .inject must be arrays "
             .. "of names")
    end)
end)

describe("the propagation hot path with other formats", function()
    after_each(reset_propagators)

    it("extract and inject compile", function()
        P.setup_hook({ propagators = { "datadog", "tracecontext", "xray",
                                       "baggage" } })
        -- as nginx gives them: lower-case names, read through a getter
        local headers = { ["x-amzn-trace-id"] =
                          INCOMING.xray["X-Amzn-Trace-Id"] }
        local function get(name)
            return headers[name]
        end
        local out = {}
        local function loop()
            for _ = 1, 3000 do
                P.inject(out, P.extract(get))
            end
        end
        loop()
        assert.are.same({}, util.aborts_in_otel(loop))
        assert.is_truthy(out.traceparent)
    end)
end)
