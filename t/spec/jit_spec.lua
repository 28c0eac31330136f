-- The span hot path compiles: run it hot under jit.attach and fail on
-- trace aborts in lua-otel's own modules (as lua-resty-core's tests do).
local otel = require "otel"
local util = require "util"
local jutil = require "jit.util"

local function aborts_in_otel(fn)
    local aborts = {}
    jit.flush()
    jit.opt.start("hotloop=2", "hotexit=2")
    local function on_trace(what, _, func, pc, _, oex)
        if what == "abort" then
            local info = jutil.funcinfo(func, pc)
            local src = info.source or "?"
            if src:find("otel", 1, true) then
                local msg = tostring(oex)
                if type(oex) == "number" then
                    msg = jutil.traceinfo and tostring(oex) or msg
                end
                aborts[#aborts + 1] = (info.loc or src) .. ": " .. msg
            end
        end
    end
    jit.attach(on_trace, "trace")
    fn()
    jit.attach(on_trace)
    jit.opt.start("hotloop=56", "hotexit=10")
    return aborts
end

describe("the span hot path", function()
    after_each(util.teardown)

    local function work(span)
        span:set_attribute("http.method", "GET")
        span:set_attribute("http.status", 200)
        span:set_attribute("cache.hit", true)
        span:add_event("cache.lookup")
    end

    local function loop(tracer)
        for _ = 1, 3000 do
            tracer:start_as_current_span("hot", nil, work)
        end
    end

    it("compiles for recording spans", function()
        util.setup({ exporter = "none" })
        local tracer = otel.tracer("jit")
        loop(tracer)
        local aborts = aborts_in_otel(function() loop(tracer) end)
        assert.are.same({}, aborts)
    end)

    it("compiles for sampled-out spans", function()
        util.setup({ exporter = "none",
                     sampler = otel.sampler.always_off() })
        local tracer = otel.tracer("jit")
        loop(tracer)
        local aborts = aborts_in_otel(function() loop(tracer) end)
        assert.are.same({}, aborts)
    end)

    it("compiles for detached spans", function()
        util.setup({ exporter = "none" })
        local tracer = otel.tracer("jit")
        local function detached()
            for i = 1, 3000 do
                local s = tracer:start_span("d")
                s:set_attribute("i", i)
                s:finish()
            end
        end
        detached()
        local aborts = aborts_in_otel(detached)
        assert.are.same({}, aborts)
    end)
end)
