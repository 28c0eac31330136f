-- Configuration under nginx: the OTEL_* variables reach the workers only
-- through `env` directives, warnings go to nginx's error log (level warn),
-- once per worker, and the defaults name the executable.
local H = require "nginx.harness"

local function http_block()
    return [[
    server {
        listen 127.0.0.1:${PORT1};
        location = /__ready { return 204; }
        location /t {
            access_by_lua_block {
                require("otel.ngx").start_request { route = "/t" }
            }
            content_by_lua_block {
                local otel = require "otel"
                local info = otel.info() or {}
                local s = otel.tracer("t"):start_span("inner")
                ngx.say("disabled=", tostring(info.disabled),
                        " sampler=", tostring(info.sampler),
                        " recording=", tostring(s:is_recording()))
                s:finish()
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
    }
]]
end

local function count(plain, text)
    local n, at = 0, 1
    while true do
        local i = text:find(plain, at, true)
        if not i then
            return n
        end
        n, at = n + 1, i + #plain
    end
end

-- The otel.setup of init_worker without a service name.
local function setup_code(recv)
    return "require('otel').setup { exporter = 'otlp', otlp = { endpoint = '"
        .. recv.url .. "' }, batch = { schedule_delay_ms = 50 } }"
end

-- Per-route sampling: a rule sampler on http.route, url.path and the
-- method, which start_request gives the sampler itself; a Lua sampler that
-- fails for one route.
local function sampling_block()
    return [[
    server {
        listen 127.0.0.1:${PORT1};
        location = /__ready { return 204; }
        location ~ ^/(health|orders|broken|static)(/.*)?$ {
            access_by_lua_block {
                require("otel.ngx").start_request { route = "/" .. ngx.var[1] }
            }
            content_by_lua_block { ngx.say("ok") }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
    }
]]
end

local SAMPLING_SETUP = [[
    local otel = require "otel"
    local S = otel.sampler
    otel.setup { exporter = "otlp", otlp = { endpoint = "%s" },
                 batch = { schedule_delay_ms = 50 },
                 sampler = S.parent_based(S.rules({
                     { route = "/health", ratio = 0 },
                     { path_prefix = "/static/", ratio = 0 },
                     { method = "DELETE", ratio = 0 },
                     { route = "/broken",
                       sampler = function() error("sampler bug") end },
                 }, S.always_on())) }
]]

describe("configuration under nginx", function()
    teardown(function()
        H.stop_all()
    end)

    it("logs a bad variable once per worker, at warn, in the error log",
       function()
        local recv = H.start_receiver()
        local nginx = assert(H.start_nginx {
            workers = 2,
            main = "env OTEL_TRACES_SAMPLER=xray;\n"
                .. "env OTEL_BSP_MAX_QUEUE_SIZE=lots;",
            init_worker = setup_code(recv),
            http = http_block(),
        })
        local _, body = H.get(nginx.url .. "/t")
        assert.matches("sampler=ParentBased{root:AlwaysOnSampler", body, 1,
                       true)
        assert.matches("recording=true", body, 1, true)
        recv:wait_spans(2, 10)
        local log = nginx:error_log()
        local msg = "otel: OTEL_TRACES_SAMPLER=xray is not valid, using "
                    .. "parentbased_always_on instead"
        assert.are.equal(2, count(msg, log), log)
        assert.matches("%[warn%][^\n]*" .. msg:gsub("%p", "%%%0"), log)
        assert.are.equal(2, count("OTEL_BSP_MAX_QUEUE_SIZE=lots is not "
                                  .. "valid, using 2048 instead", log))
        -- service.name names the executable
        local spans = recv:spans()
        assert.are.equal("unknown_service:nginx",
                         spans[1].resource["service.name"])
        assert.truthy(nginx:quit(20))
    end)

    it("samples per route; a failing Lua sampler warns in the error log "
       .. "and never breaks the request", function()
        local recv = H.start_receiver()
        local nginx = assert(H.start_nginx {
            workers = 1,
            init_worker = SAMPLING_SETUP:format(recv.url),
            http = sampling_block(),
        })
        for _ = 1, 3 do
            for _, path in ipairs({ "/health", "/orders", "/broken",
                                    "/static/app.js?v=1" }) do
                local code, body = H.get(nginx.url .. path)
                assert.are.equal(200, code)
                assert.are.equal("ok\n", body)
            end
            local code = H.get(nginx.url .. "/orders", nil, "DELETE")
            assert.are.equal(200, code)
        end
        recv:wait_spans(3, 10)
        assert.truthy(nginx:quit(20))
        local names = {}
        for _, sp in ipairs(recv:spans()) do
            names[sp.name] = (names[sp.name] or 0) + 1
        end
        assert.are.same({ ["GET /orders"] = 3 }, names)
        local log = nginx:error_log()
        assert.are.equal(1, count("otel.sampler.custom: the sampler "
                                  .. "raised: ", log), log)
        assert.matches("%[warn%][^\n]*otel: otel%.sampler%.custom: the "
                       .. "sampler raised: [^\n]*sampler bug", log)
    end)

    it("gives the no-op SDK with env OTEL_SDK_DISABLED=true", function()
        local recv = H.start_receiver()
        local nginx = assert(H.start_nginx {
            workers = 1,
            main = "env OTEL_SDK_DISABLED=true;",
            init_worker = setup_code(recv),
            http = http_block(),
        })
        for _ = 1, 5 do
            local _, body = H.get(nginx.url .. "/t")
            assert.matches("disabled=true", body, 1, true)
            assert.matches("recording=false", body, 1, true)
        end
        assert.truthy(nginx:quit(20))
        assert.are.equal(0, #recv:spans())
        -- and nothing to warn about
        assert.is_nil(nginx:error_log():find("%[warn%][^\n]*otel"))
    end)
end)
