-- Configuration never fails silently: each value the SDK cannot take
-- gives one warning naming the variable, the value and what is used
-- instead (stderr outside nginx; t/nginx checks the error log), and the
-- setting falls back as the specification says.  The environment is read
-- at setup and (for OTEL_PROPAGATORS) at load, so each case runs in a
-- child LuaJIT with its variables set.
local util = require "util"

-- Runs code after `otel.setup(setup_opts)` in a child with env; returns
-- its output (stdout and stderr).
local function child(env, code, setup_opts)
    local out, ok = util.run_lua([[
        local otel = require "otel"
        otel.setup(]] .. (setup_opts or '{ exporter = "memory" }') .. [[)
        local t = otel.tracer("config")
    ]] .. (code or ""), env, 30)
    assert(ok, out)
    return out
end

-- The warning lines of an output.
local function warnings(out)
    local t = {}
    for line in out:gmatch("[^\n]+") do
        if line:find("^otel: warning: ") then
            t[#t + 1] = line:sub(#"otel: warning: " + 1)
        end
    end
    return t
end

describe("configuration from the environment", function()
    it("warns once about an unknown OTEL_TRACES_SAMPLER", function()
        local out = child({ OTEL_TRACES_SAMPLER = "xray" }, [[
            -- a second setup reads it again: no second warning
            otel.shutdown()
            otel.setup({ exporter = "memory" })
            print("sampler", otel.info().sampler)
        ]])
        assert.are.same({ "OTEL_TRACES_SAMPLER=xray is not valid, using "
                          .. "parentbased_always_on instead" },
                        warnings(out))
        assert.matches("sampler\tParentBased{root:AlwaysOnSampler", out, 1,
                       true)
    end)

    it("warns about a bad OTEL_TRACES_SAMPLER_ARG and uses 1.0", function()
        local out = child({ OTEL_TRACES_SAMPLER = "traceidratio",
                            OTEL_TRACES_SAMPLER_ARG = "half" }, [[
            print("sampler", otel.info().sampler)
        ]])
        assert.are.same({ "OTEL_TRACES_SAMPLER_ARG=half is not valid, "
                          .. "using 1.0 instead" }, warnings(out))
        assert.matches("sampler\tTraceIdRatioBased{1}", out, 1, true)
    end)

    it("warns about an unknown OTEL_TRACES_EXPORTER and uses otlp",
       function()
        local out = child({ OTEL_TRACES_EXPORTER = "zipkin" }, [[
            print("endpoint", otel.info().endpoint)
        ]], "{}")
        assert.are.same({ "OTEL_TRACES_EXPORTER=zipkin is not valid, "
                          .. "using otlp instead" }, warnings(out))
    end)

    it("warns about an unknown propagator and keeps the others",
       function()
        local out = child({ OTEL_PROPAGATORS = "tracecontext,nosuch" }, [[
            print("propagators",
                  table.concat(otel.propagation.propagators(), ","))
        ]])
        assert.are.same({ "OTEL_PROPAGATORS names an unknown propagator "
                          .. "'nosuch': it is left out" }, warnings(out))
        assert.matches("propagators\ttracecontext\n", out, 1, true)
    end)

    it("discards a broken OTEL_RESOURCE_ATTRIBUTES whole, with a warning",
       function()
        local out = child({ OTEL_RESOURCE_ATTRIBUTES =
                                "team=core,broken,region=eu" }, [[
            local s = t:start_span("x")
            s:finish()
            local r = otel.memory.get_finished_spans()[1].resource
            print("team", r.team, "region", r.region)
        ]])
        assert.are.same({ "OTEL_RESOURCE_ATTRIBUTES=team=core,broken,"
                          .. "region=eu is not valid, using none of it "
                          .. "instead" }, warnings(out))
        assert.matches("team\tnil\tregion\tnil", out, 1, true)
        -- a good list is taken
        out = child({ OTEL_RESOURCE_ATTRIBUTES = "team=core,region=eu" }, [[
            local s = t:start_span("x")
            s:finish()
            local r = otel.memory.get_finished_spans()[1].resource
            print("team", r.team, "region", r.region)
        ]])
        assert.are.same({}, warnings(out))
        assert.matches("team\tcore\tregion\teu", out, 1, true)
    end)

    it("warns about a bad number and keeps the default", function()
        local out = child({ OTEL_BSP_MAX_QUEUE_SIZE = "-5",
                            OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT = "lots" }, [[
            local s = t:start_span("x")
            for i = 1, 130 do
                s:set_attribute("k" .. i, i)
            end
            s:finish()
            print("kept", otel.memory.get_finished_spans()[1]
                              .dropped_attributes_count)
        ]])
        local w = warnings(out)
        table.sort(w)
        assert.are.same({
            "OTEL_BSP_MAX_QUEUE_SIZE=-5 is not valid, using 2048 instead",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=lots is not valid, using 128 "
            .. "instead" }, w)
        assert.matches("kept\t2", out, 1, true)
    end)

    it("says nothing when the configuration is good", function()
        local out = child({ OTEL_TRACES_SAMPLER = "parentbased_traceidratio",
                            OTEL_TRACES_SAMPLER_ARG = "0.25",
                            OTEL_TRACES_EXPORTER = "console",
                            OTEL_BSP_SCHEDULE_DELAY = "0",
                            OTEL_PROPAGATORS = "b3,baggage" })
        assert.are.same({}, warnings(out))
    end)

    it("gives the no-op SDK with OTEL_SDK_DISABLED=true", function()
        local out = child({ OTEL_SDK_DISABLED = "TRUE" }, [[
            local parent = otel.propagation.extract({ traceparent =
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
            local s = t:start_span("x", { parent = parent })
            local root = t:start_span("root")
            print("recording", s:is_recording(), root:is_recording())
            print("trace", s:context().trace_id, s:context().span_id)
            print("root", root:context().trace_id)
            s:finish()
            root:finish()
            t:start_as_current_span("scoped", function() end)
            print("flush", otel.force_flush())
            print("stats", otel.stats().spans_started)
            print("kept", #otel.memory.get_finished_spans())
            print("shutdown", otel.shutdown())
        ]])
        assert.are.same({}, warnings(out))
        assert.matches("recording\tfalse\tfalse", out, 1, true)
        -- the API's no-op span carries the parent's context
        assert.matches("trace\t0af7651916cd43dd8448eb211c80319c\t"
                       .. "b7ad6b7169203331", out, 1, true)
        assert.matches("root\t00000000000000000000000000000000", out, 1,
                       true)
        assert.matches("flush\ttrue", out, 1, true)
        assert.matches("stats\t0", out, 1, true)
        assert.matches("kept\t0", out, 1, true)
        assert.matches("shutdown\ttrue", out, 1, true)
    end)

    it("warns about an OTEL_SDK_DISABLED that is not a boolean", function()
        local out = child({ OTEL_SDK_DISABLED = "yes" }, [[
            print("recording", t:start_span("x"):is_recording())
        ]])
        assert.are.same({ "OTEL_SDK_DISABLED=yes is not valid, using false "
                          .. "instead" }, warnings(out))
        assert.matches("recording\ttrue", out, 1, true)
    end)

    it("names the service unknown_service:<executable>", function()
        local out = child({}, [[
            print("service", otel.info().service_name)
        ]])
        assert.matches("service\tunknown_service:luajit", out, 1, true)
    end)
end)
