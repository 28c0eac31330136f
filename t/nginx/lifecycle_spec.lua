-- Worker exit: `nginx -s reload` and `nginx -s quit` while requests are
-- running.  Every request that got a response has its spans at the
-- receiver: exit_worker_by_lua flushes what the exiting workers queued.
local H = require "nginx.harness"

local function http_block()
    return [[
    server {
        listen 127.0.0.1:${PORT1};
        location = /__ready { return 204; }
        location /slow {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = "/slow",
                    attributes = { ["test.id"] = ngx.var.arg_id,
                                   ["worker.pid"] = ngx.worker.pid() } }
            }
            content_by_lua_block {
                require("otel.ngx").phase(function()
                    require("otel").tracer("t"):start_as_current_span(
                        "child", { attributes = {
                            ["test.id"] = ngx.var.arg_id } },
                        function()
                            ngx.sleep(0.02)
                            ngx.say("ok")
                        end)
                end)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
    }
]]
end

-- test.id -> names of its spans at the receiver
local function names_by_id(recv)
    local t = {}
    for _, s in ipairs(recv:spans()) do
        local id = s.attrs["test.id"]
        if id then
            t[id] = t[id] or {}
            t[id][s.name] = (t[id][s.name] or 0) + 1
        end
    end
    return t
end

local function count(pattern, text)
    local n = 0
    for _ in text:gmatch(pattern) do
        n = n + 1
    end
    return n
end

describe("nginx reload and quit under load", function()
    teardown(function()
        H.stop_all()
    end)

    it("loses no span of an answered request", function()
        local recv = H.start_receiver()
        local nginx = assert(H.start_nginx {
            workers = 2,
            init_worker = H.otlp_setup(recv),
            http = http_block(),
        })
        local reqs = {}
        for i = 1, 4000 do
            reqs[i] = { url = nginx.url .. "/slow?id=r" .. i }
        end
        local load = H.parallel_start(reqs, 40)
        H.sleep(0.6)
        local before = nginx:workers()
        assert.truthy(nginx:signal("HUP"))          -- nginx -s reload
        H.sleep(0.8)
        assert.truthy(nginx:quit(30))                -- nginx -s quit
        local status = load:wait()

        local answered = {}
        for i = 1, #reqs do
            if status[reqs[i].url] == 200 then
                answered[#answered + 1] = "r" .. i
            end
        end
        -- the load ran across the reload and was cut by the quit
        assert.truthy(#answered > 200, #answered .. " answered")
        assert.truthy(#answered < #reqs, "quit came after the load")
        recv:wait_spans(2 * #answered, 10)
        recv:settle(0.5)
        local got = names_by_id(recv)
        local missing = {}
        for _, id in ipairs(answered) do
            local n = got[id]
            if not (n and n["GET /slow"] == 1 and n["child"] == 1) then
                missing[#missing + 1] = id
            end
        end
        assert.same({}, missing)

        -- both generations of workers served requests and flushed on exit
        local pids = {}
        for _, s in ipairs(recv:spans()) do
            local pid = s.attrs["worker.pid"]
            if pid then
                pids[pid] = true
            end
        end
        local n = 0
        for _ in pairs(pids) do
            n = n + 1
        end
        assert.equal(2, #before)
        assert.truthy(n >= 3, n .. " worker pids in the spans")
        local log = nginx:error_log()
        assert.truthy(count("otel: worker exit: ", log) >= 4, log)
    end)

    it("flushes at worker exit what the batch processor still holds",
       function()
        local recv = H.start_receiver()
        -- a minute of schedule delay: nothing leaves before the exit
        local nginx = assert(H.start_nginx {
            workers = 2,
            init_worker = H.otlp_setup(recv, { delay = 60000,
                                               batch = 8192 }),
            http = http_block(),
        })
        local reqs = {}
        for i = 1, 500 do
            reqs[i] = { url = nginx.url .. "/slow?id=q" .. i }
        end
        local status, _, errors = H.parallel(reqs, 50)
        assert.same({}, errors)
        for i = 1, #reqs do
            assert.equal(200, status[reqs[i].url])
        end
        H.sleep(0.5)
        assert.equal(0, recv:stats().spans)
        assert.truthy(nginx:quit(30))
        assert.truthy(recv:wait_spans(1000, 10))
        local got = names_by_id(recv)
        for i = 1, #reqs do
            local n = got["q" .. i]
            assert.equal(1, n and n["GET /slow"], "q" .. i)
            assert.equal(1, n and n["child"], "q" .. i)
        end
        assert.equal(1000, recv:stats().spans)
        assert.matches("otel: worker exit: %d+ spans exported, 0 dropped",
                       nginx:error_log())
    end)
end)
