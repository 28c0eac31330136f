-- The span hot path compiles: run it hot under jit.attach and fail on
-- trace aborts in lua-otel's own modules (as lua-resty-core's tests do).
local otel = require "otel"
local util = require "util"

local aborts_in_otel = util.aborts_in_otel

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
