-- Handlers of the nginx integration specs (loaded inside nginx through
-- lua_package_path).  Every span a handler makes carries the request's
-- test.id, so a spec can tell which request a span belongs to.
local otel = require "otel"
local otel_ngx = require "otel.ngx"

local tracer = otel.tracer("otel.test.app", "1.0")

local _M = {}

local function id()
    return ngx.var.arg_id or "-"
end

-- A small random sleep: handlers of concurrent requests interleave.
local function nap(max_ms)
    ngx.sleep(math.random(0, max_ms) / 1000)
end

-- HTTP/1.1 GET over a cosocket to this nginx, with a CLIENT span and the
-- context in the request headers.  Returns status, body.
function _M.http_get(path, port)
    port = port or tonumber(ngx.var.server_port)
    local url = "http://127.0.0.1:" .. port .. path
    local span, headers = otel_ngx.start_client("GET", url,
        { attributes = { ["test.id"] = id() } })
    local sock = ngx.socket.tcp()
    sock:settimeout(10000)
    local ok, err = sock:connect("127.0.0.1", port)
    if not ok then
        otel_ngx.finish_client(span, nil, err)
        return nil, err
    end
    local req = { "GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                  "Connection: close\r\n" }
    for k, v in pairs(headers) do
        req[#req + 1] = k .. ": " .. v .. "\r\n"
    end
    req[#req + 1] = "\r\n"
    sock:send(req)
    local line
    line, err = sock:receive("*l")
    if not line then
        otel_ngx.finish_client(span, nil, err)
        return nil, err
    end
    local status = tonumber(line:match("^HTTP/%d%.%d (%d+)"))
    local rest = sock:receive("*a") or ""
    sock:close()
    otel_ngx.finish_client(span, status)
    local body = rest:match("\r\n\r\n(.*)$") or ""
    if rest:lower():find("transfer%-encoding: chunked") then
        -- de-chunk (the bodies here are small)
        local out, pos = {}, 1
        while true do
            local size, s = body:match("^(%x+)\r\n()", pos)
            size = tonumber(size or "0", 16)
            if not size or size == 0 then
                break
            end
            out[#out + 1] = body:sub(s, s + size - 1)
            pos = s + size + 2
        end
        body = table.concat(out)
    end
    return status, body
end

-- Context facts of the running code, as "key=value" lines.
local function facts()
    local sc = otel.context.current_span():context()
    local b = require("otel.baggage").get("user.id")
    return "trace=" .. sc.trace_id .. "\nspan=" .. sc.span_id
        .. "\nbaggage=" .. tostring(b) .. "\nb3="
        .. tostring(ngx.req.get_headers()["b3"]) .. "\n"
end
_M.facts = facts

-- /work?id=N: a handler span; sleeps, an outgoing call to /upstream over
-- a cosocket, three light threads with spans of their own.
function _M.work()
    local tid = id()
    tracer:start_as_current_span("handler",
        { attributes = { ["test.id"] = tid } }, function()
            nap(20)
            local status, body = _M.http_get("/upstream?id=" .. tid)
            if status ~= 200 then
                error("upstream: " .. tostring(status) .. " " .. tostring(body))
            end
            local threads = {}
            for i = 1, 3 do
                threads[i] = otel_ngx.spawn(function(n)
                    return tracer:start_as_current_span("thread",
                        { attributes = { ["test.id"] = tid,
                                         ["thread.index"] = n } },
                        function()
                            nap(15)
                            return tracer:start_as_current_span(
                                "thread.child",
                                { attributes = { ["test.id"] = tid } },
                                function()
                                    nap(5)
                                    return n
                                end)
                        end)
                end, i)
            end
            for i = 1, 3 do
                local ok, n = ngx.thread.wait(threads[i])
                assert(ok and n == i, "thread " .. i .. " failed: "
                       .. tostring(n))
            end
            ngx.say("id=", tid)
            ngx.print(facts())
            ngx.say("upstream:", body)
        end)
end

-- /upstream?id=N: a span of its own, after a short sleep.
function _M.upstream()
    local tid = id()
    tracer:start_as_current_span("upstream.work",
        { attributes = { ["test.id"] = tid } }, function()
            nap(10)
            ngx.print(facts())
        end)
end

-- /facts: what the content phase sees, with nothing else going on.
function _M.facts_handler()
    ngx.print(facts())
end

-- /capture?id=N: a subrequest (and two at once) with CLIENT spans.
function _M.capture()
    local tid = id()
    local so = { attributes = { ["test.id"] = tid } }
    local res = otel_ngx.capture("/sub?id=" .. tid, nil, so)
    ngx.say("sub:", res.status)
    ngx.print(res.body)
    local a, b = otel_ngx.capture_multi({ { "/sub?id=" .. tid .. "&n=1" },
                                          { "/sub?id=" .. tid .. "&n=2" } },
                                        so)
    ngx.say("multi:", a.status, ",", b.status)
    ngx.print(a.body, b.body)
    ngx.say("traceparent after:", tostring(ngx.req.get_headers().traceparent))
end

-- /spawn_timer?id=N: a light thread and a timer, both carrying context.
function _M.spawn_timer()
    local tid = id()
    tracer:start_as_current_span("scheduler",
        { attributes = { ["test.id"] = tid } }, function()
            local th = otel_ngx.spawn(function()
                return tracer:start_as_current_span("in.thread",
                    { attributes = { ["test.id"] = tid } }, function()
                        return facts()
                    end)
            end)
            local _, f = ngx.thread.wait(th)
            ngx.print(f)
            local ok, err = otel_ngx.timer_at(0, function(premature)
                tracer:start_as_current_span("in.timer",
                    { attributes = { ["test.id"] = tid,
                                     ["premature"] = premature } },
                    function()
                        ngx.sleep(0.01)
                    end)
            end)
            assert(ok, err)
        end)
end

-- /exit?id=N: ngx.exit inside a span (the span's function never returns).
function _M.exit_in_span()
    tracer:start_as_current_span("before.exit",
        { attributes = { ["test.id"] = id() } }, function()
            ngx.sleep(0.001)
            ngx.exit(403)
        end)
end

-- access phase of /exit_ok?id=N: ngx.exit(ngx.OK) inside a span goes on
-- to the content phase.
function _M.access_exit_ok()
    tracer:start_as_current_span("access.span",
        { attributes = { ["test.id"] = id() } }, function()
            ngx.exit(ngx.OK)
        end)
end

-- /plain?id=N: a span from a handler that otel.ngx does not wrap.
function _M.plain()
    tracer:start_as_current_span("plain",
        { attributes = { ["test.id"] = id() } }, function()
            ngx.print(facts())
        end)
end

-- /fail?id=N: the handler raises (500).
function _M.fail()
    error("boom " .. id())
end

return _M
