-- The nginx helpers compile: start_request, phase with a child span, and
-- finish_request run hot in a real nginx worker under jit.attach, which
-- fails the test on a trace abort in lua-otel's own modules (as
-- t/spec/jit_spec.lua does for the span path outside nginx).
local H = require "nginx.harness"

local BROWSER = {
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
    Accept = "text/html,application/xhtml+xml,*/*;q=0.8",
    ["Accept-Language"] = "en-GB,en;q=0.9",
    ["Accept-Encoding"] = "gzip, deflate, br",
    Referer = "https://shop.example.com/catalog",
    Cookie = "session=3f2a9c1e7b6d4058; theme=dark",
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    baggage = "userId=alice,isProduction=false",
}

local function server(setup)
    local nginx, err = H.start_nginx {
        init = "require 'jit_app'",
        init_worker = setup .. " require('jit_app').init_worker()",
        http = [[
    server {
        listen 127.0.0.1:${PORT1};
        location = /__ready { return 204; }
        location = /jit {
            access_by_lua_block { require("jit_app").access() }
            content_by_lua_block { require("jit_app").content() }
            log_by_lua_block { require("jit_app").log() }
        }
        location = /aborts {
            content_by_lua_block { require("jit_app").report() }
        }
    }
]],
    }
    assert(nginx, err)
    return nginx
end

-- n requests, then the worker's aborts as a list.
local function aborts_after(nginx, n, headers)
    local reqs = {}
    for i = 1, n do
        reqs[i] = { url = nginx.url .. "/jit?i=" .. i, headers = headers }
    end
    local status = H.parallel(reqs, 8)
    for i = 1, n do
        assert.equal(200, status[reqs[i].url])
    end
    local code, body = H.get(nginx.url .. "/aborts")
    assert.equal(200, code)
    local out = {}
    for line in body:gmatch("[^\n]+") do
        out[#out + 1] = line
    end
    return out
end

describe("otel.ngx in a worker, hot", function()
    teardown(H.stop_all)

    it("compiles for recorded requests, plain and browser-like", function()
        local nginx = server("require('otel').setup { exporter = 'none' }")
        assert.are.same({}, aborts_after(nginx, 400))
        assert.are.same({}, aborts_after(nginx, 400, BROWSER))
        nginx:quit()
    end)

    it("compiles for sampled-out requests", function()
        local nginx = server("local otel = require('otel') otel.setup { "
                             .. "exporter = 'none', sampler = "
                             .. "otel.sampler.always_off() }")
        assert.are.same({}, aborts_after(nginx, 400, BROWSER))
        nginx:quit()
    end)

    it("compiles without otel.setup", function()
        local nginx = server("")
        assert.are.same({}, aborts_after(nginx, 400, BROWSER))
        nginx:quit()
    end)
end)
