-- otel.ngx end to end, one request at a time: real nginx, real HTTP, the
-- spans decoded by the test receiver.
local H = require "nginx.harness"

local KIND = H.KIND

-- A location whose request span starts in `phase` (access by default),
-- whose content runs app[handler] through otel.ngx.phase, and whose span
-- ends in the log phase.
local function loc(path, handler, o)
    o = o or {}
    return ([[
        location %s {
            %s_by_lua_block {
                require("otel.ngx").start_request {
                    route = %q, record_query = %s,
                    attributes = { ["test.id"] = ngx.var.arg_id or "-" } }
            }
            content_by_lua_block {
                require("otel.ngx").phase(require("app").%s)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
]]):format(path, o.phase or "access", path, tostring(o.record_query),
           handler)
end

local function http_block()
    return table.concat({
        "    server {",
        "        listen 127.0.0.1:${PORT1};",
        "        location = /__ready { return 204; }",
        loc("/work", "work"),
        loc("/upstream", "upstream"),
        loc("/facts", "facts_handler", { record_query = true }),
        loc("/capture", "capture"),
        loc("/sub", "facts_handler", { phase = "rewrite" }),
        loc("/spawn_timer", "spawn_timer"),
        loc("/fail", "fail"),
        loc("/exit", "exit_in_span"),
        [[
        location /exit_ok {
            access_by_lua_block {
                local otel_ngx = require "otel.ngx"
                otel_ngx.start_request {
                    route = "/exit_ok",
                    attributes = { ["test.id"] = ngx.var.arg_id } }
                otel_ngx.phase(require("app").access_exit_ok)
            }
            content_by_lua_block {
                require("otel.ngx").phase(require("app").facts_handler)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
        ]],
        [[
        location /routed {
            rewrite_by_lua_block {
                require("otel.ngx").start_request {
                    attributes = { ["test.id"] = ngx.var.arg_id } }
            }
            access_by_lua_block {
                local otel_ngx = require "otel.ngx"
                local first = otel_ngx.request_span()
                local again = otel_ngx.start_request { route = "/routed/:x" }
                ngx.ctx.same = first == again
            }
            content_by_lua_block {
                ngx.say("same=", tostring(ngx.ctx.same))
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
        location /bf {
            access_by_lua_block {
                require("otel.ngx").start_request { route = "/bf",
                    attributes = { ["test.id"] = ngx.var.arg_id } }
            }
            content_by_lua_block {
                -- a plain subrequest: nothing ends the callee's span but
                -- its own body_filter
                local res = ngx.location.capture("/bf_sub?id="
                                                 .. ngx.var.arg_id)
                ngx.say("sub:", res.status, ":", res.body)
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
        location /bf_sub {
            rewrite_by_lua_block {
                require("otel.ngx").start_request { route = "/bf_sub",
                    attributes = { ["test.id"] = ngx.var.arg_id } }
            }
            content_by_lua_block {
                ngx.print("part1,")
                ngx.flush(true)
                ngx.print("part2")
            }
            body_filter_by_lua_block {
                require("otel.ngx").finish_request()
            }
        }
        location /plain {
            content_by_lua_block { require("app").plain() }
        }
        location /nospan {
            content_by_lua_block {
                local otel_ngx = require "otel.ngx"
                local sc = otel_ngx.request_span():context()
                ngx.say("valid=", tostring(sc.is_valid))
                ngx.print(require("app").facts())
            }
        }
        location /later {
            access_by_lua_block {
                require("otel.ngx").start_request { route = "/later" }
            }
            content_by_lua_block {
                -- no phase(): nothing is attached in this coroutine, the
                -- request's context is the fallback
                ngx.print(require("app").facts())
            }
            header_filter_by_lua_block {
                local otel_ngx = require "otel.ngx"
                local sc = otel_ngx.phase(function()
                    return require("otel").context.current_span():context()
                end)
                ngx.header["X-Phase-Span"] = sc.span_id
                ngx.header["X-After-Span"] = require("otel").context
                    .current_span():context().span_id
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
        ]],
        "    }",
    }, "\n")
end

local function facts(body)
    local t = {}
    for k, v in (body or ""):gmatch("(%w+)=([^\n]*)") do
        if t[k] == nil then
            t[k] = v
        end
    end
    return t
end

local TID = "4bf92f3577b34da6a3ce929d0e0e4736"
local SID = "00f067aa0ba902b7"

describe("otel.ngx in nginx", function()
    local recv, nginx

    setup(function()
        recv = H.start_receiver()
        local err
        nginx, err = H.start_nginx {
            workers = 2,
            init_worker = H.otlp_setup(recv, { delay = 50 }),
            http = http_block(),
        }
        assert(nginx, err)
    end)

    teardown(function()
        H.stop_all()
    end)

    -- The spans of request test.id = id, once `n` of them arrived.
    local function spans_of(id, n)
        local deadline = H.now() + 10
        local got
        repeat
            got = H.group(recv:spans(), "test.id")[id] or {}
            if #got >= n then
                break
            end
            H.sleep(0.1)
        until H.now() > deadline
        return got
    end

    local function by_name(spans)
        local t = {}
        for _, s in ipairs(spans) do
            t[s.name] = t[s.name] or {}
            table.insert(t[s.name], s)
        end
        return t
    end

    it("makes a SERVER span per request with the HTTP attributes", function()
        local code, body = H.get(nginx.url .. "/facts?id=attrs&x=1",
                                 { ["User-Agent"] = "spec-agent/1.0" })
        assert.equal(200, code)
        local s = spans_of("attrs", 1)
        assert.equal(1, #s)
        s = s[1]
        assert.equal("GET /facts", s.name)
        assert.equal(KIND.SERVER, s.kind)
        assert.equal("", s.parentSpanId)
        local a = s.attrs
        assert.equal("GET", a["http.request.method"])
        assert.equal("/facts", a["url.path"])
        assert.equal("id=attrs&x=1", a["url.query"])
        assert.equal("http", a["url.scheme"])
        assert.equal("127.0.0.1", a["server.address"])
        assert.equal(tostring(nginx.port), a["server.port"])
        assert.equal("127.0.0.1", a["client.address"])
        assert.equal("spec-agent/1.0", a["user_agent.original"])
        assert.equal("1.1", a["network.protocol.version"])
        assert.equal("/facts", a["http.route"])
        assert.equal("200", a["http.response.status_code"])
        assert.equal(0, s.status.code)
        assert.equal("otel.ngx", s.scope.name)
        assert.equal("nginx-test", s.resource["service.name"])
        -- the span covers the request: it starts no later than it ends
        assert.truthy(tonumber(s.startTimeUnixNano)
                      <= tonumber(s.endTimeUnixNano))
        -- otel.ngx.phase made it the current span of the content phase
        local f = facts(body)
        assert.equal(s.traceId, f.trace)
        assert.equal(s.spanId, f.span)
    end)

    it("takes server.address and server.port from the Host header",
       function()
        local cases = {
            { "shop.example.com:8443", "shop.example.com", "8443" },
            { "shop.example.com", "shop.example.com", "80" },
            { "[::1]:9000", "::1", "9000" },
            { "[::1]", "::1", "80" },
        }
        for i, c in ipairs(cases) do
            local id = "host" .. i
            assert.equal(200, (H.get(nginx.url .. "/facts?id=" .. id,
                                     { Host = c[1] })))
            local a = spans_of(id, 1)[1].attrs
            assert.equal(c[2], a["server.address"], c[1])
            assert.equal(c[3], a["server.port"], c[1])
        end
    end)

    it("names an unknown method _OTHER and keeps the original", function()
        local code = H.read_cmd("curl -sS -o /dev/null -w '%{http_code}' "
            .. "-X PURGE " .. H.quote(nginx.url .. "/facts?id=purge"))
        assert.equal("200", code)
        local s = spans_of("purge", 1)[1]
        assert.equal("HTTP /facts", s.name)
        assert.equal("_OTHER", s.attrs["http.request.method"])
        assert.equal("PURGE", s.attrs["http.request.method_original"])
    end)

    it("falls back to nginx's host and port without a Host header",
       function()
        local code = H.read_cmd("curl -sS -o /dev/null -w '%{http_code}' "
            .. "--http1.0 -H 'Host:' "
            .. H.quote(nginx.url .. "/facts?id=nohost"))
        assert.equal("200", code)
        local a = spans_of("nohost", 1)[1].attrs
        assert.truthy(a["server.address"])
        assert.equal(tostring(nginx.port), a["server.port"])
        assert.equal("1.0", a["network.protocol.version"])
    end)

    it("reads the context of a browser-like request among its headers",
       function()
        local code = H.get(nginx.url .. "/facts?id=browser", {
            ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64)",
            Accept = "text/html,*/*;q=0.8",
            ["Accept-Language"] = "en-GB,en;q=0.9",
            ["Accept-Encoding"] = "gzip, deflate, br",
            Referer = "https://shop.example.com/catalog",
            Cookie = "session=3f2a9c1e; theme=dark",
            ["Cache-Control"] = "max-age=0",
            ["Sec-Fetch-Mode"] = "navigate",
            TraceParent = "00-" .. TID .. "-" .. SID .. "-01",
            TraceState = "vendor=abc",
            Baggage = "user=alice",
        })
        assert.equal(200, code)
        local s = spans_of("browser", 1)[1]
        assert.equal(TID, s.traceId)
        assert.equal(SID, s.parentSpanId)
        assert.equal("vendor=abc", s.traceState)
        assert.equal("Mozilla/5.0 (X11; Linux x86_64)",
                     s.attrs["user_agent.original"])
    end)

    it("records url.query only when asked", function()
        assert.equal(200, (H.get(nginx.url .. "/upstream?id=noquery")))
        local s = spans_of("noquery", 2)
        local server = by_name(s)["GET /upstream"][1]
        assert.equal("/upstream", server.attrs["url.path"])
        assert.is_nil(server.attrs["url.query"])
    end)

    it("joins an incoming traceparent and keeps tracestate", function()
        local code, body = H.get(nginx.url .. "/work?id=joined", {
            traceparent = "00-" .. TID .. "-" .. SID .. "-01",
            tracestate = "vendor=abc,other=1",
        })
        assert.equal(200, code)
        local s = by_name(spans_of("joined", 11))
        local server = s["GET /work"][1]
        assert.equal(TID, server.traceId)
        assert.equal(SID, server.parentSpanId)
        assert.equal("vendor=abc,other=1", server.traceState)
        -- the callee of the outgoing call got the same trace and state
        local callee = s["GET /upstream"][1]
        assert.equal(TID, callee.traceId)
        assert.equal("vendor=abc,other=1", callee.traceState)
        local f = facts(body)
        assert.equal(TID, f.trace)
    end)

    it("carries baggage into handlers and outgoing calls", function()
        local code, body = H.get(nginx.url .. "/work?id=bag",
                                 { baggage = "user.id=42" })
        assert.equal(200, code)
        local own, up = body:match("^(.-)upstream:(.*)$")
        assert.equal("42", facts(own).baggage)
        assert.equal("42", facts(up).baggage)
    end)

    it("starts a new root on malformed headers and still answers",
       function()
        local bad = {
            "garbage",
            "00-" .. TID:upper() .. "-" .. SID .. "-01",
            "00-" .. ("0"):rep(32) .. "-" .. SID .. "-01",
            "00-" .. TID .. "-" .. ("0"):rep(16) .. "-01",
            "00-" .. TID .. "-" .. SID,
            "ff-" .. TID .. "-" .. SID .. "-01",
            "00-" .. TID .. "-" .. SID .. "-zz",
        }
        for i, tp in ipairs(bad) do
            local code = H.get(nginx.url .. "/facts?id=bad" .. i, {
                traceparent = tp,
                tracestate = "=,,==bad",
                baggage = "%%%,;;;=",
            })
            assert.equal(200, code, tp)
        end
        for i, tp in ipairs(bad) do
            local s = spans_of("bad" .. i, 1)[1]
            assert.is_truthy(s, tp)
            assert.equal("", s.parentSpanId, tp)
            assert.not_equal(TID, s.traceId, tp)
            assert.matches("^%x+$", s.traceId)
            assert.not_equal(("0"):rep(32), s.traceId)
        end
    end)

    it("parents an outgoing call's callee on the caller's CLIENT span",
       function()
        assert.equal(200, (H.get(nginx.url .. "/work?id=chain")))
        local s = by_name(spans_of("chain", 11))
        local server = s["GET /work"][1]
        local handler = s["handler"][1]
        local client = s["GET"][1]
        local callee = s["GET /upstream"][1]
        local work = s["upstream.work"][1]
        assert.equal(KIND.CLIENT, client.kind)
        assert.equal(server.spanId, handler.parentSpanId)
        assert.equal(handler.spanId, client.parentSpanId)
        assert.equal(client.spanId, callee.parentSpanId)
        assert.equal(callee.spanId, work.parentSpanId)
        for _, x in ipairs { handler, client, callee, work } do
            assert.equal(server.traceId, x.traceId)
        end
        assert.equal("200", client.attrs["http.response.status_code"])
        assert.equal("127.0.0.1", client.attrs["server.address"])
        assert.equal(tostring(nginx.port), client.attrs["server.port"])
        assert.equal("http://127.0.0.1:" .. nginx.port .. "/upstream?id=chain",
                     client.attrs["url.full"])
        assert.equal(3, #s["thread"])
        for _, t in ipairs(s["thread"]) do
            assert.equal(handler.spanId, t.parentSpanId)
        end
    end)

    it("gives each subrequest a CLIENT span whose child is the callee's "
       .. "SERVER span", function()
        local code, body = H.get(nginx.url .. "/capture?id=cap",
                                 { traceparent = "00-" .. TID .. "-"
                                   .. SID .. "-01" })
        assert.equal(200, code)
        assert.matches("sub:200", body, 1, true)
        assert.matches("multi:200,200", body, 1, true)
        -- the injected headers were put back: the incoming one is there
        assert.matches("traceparent after:00-" .. TID .. "-" .. SID,
                       body, 1, true)
        local s = by_name(spans_of("cap", 7))
        local server = s["GET /capture"][1]
        local clients = s["GET"]
        local subs = s["GET /sub"]
        assert.equal(3, #clients)
        assert.equal(3, #subs)
        local client_ids = {}
        for _, c in ipairs(clients) do
            assert.equal(KIND.CLIENT, c.kind)
            assert.equal(server.spanId, c.parentSpanId)
            assert.equal("/sub", c.attrs["url.path"])
            assert.equal("200", c.attrs["http.response.status_code"])
            client_ids[c.spanId] = true
        end
        local parents = {}
        for _, sub in ipairs(subs) do
            assert.equal(KIND.SERVER, sub.kind)
            assert.equal(TID, sub.traceId)
            assert.is_true(client_ids[sub.parentSpanId])
            assert.equal("200", sub.attrs["http.response.status_code"])
            parents[sub.parentSpanId] = true
        end
        -- one callee per CLIENT span, capture_multi included
        local n = 0
        for _ in pairs(parents) do
            n = n + 1
        end
        assert.equal(3, n)
    end)

    it("carries the context into light threads; a timer starts a linked "
       .. "trace", function()
        local code, body = H.get(nginx.url .. "/spawn_timer?id=async")
        assert.equal(200, code)
        local s = by_name(spans_of("async", 4))
        local server = s["GET /spawn_timer"][1]
        local sched = s["scheduler"][1]
        local thread = s["in.thread"][1]
        assert.equal(server.spanId, sched.parentSpanId)
        assert.equal(sched.spanId, thread.parentSpanId)
        assert.equal(server.traceId, thread.traceId)
        assert.equal(thread.spanId, facts(body).span)
        local in_timer = s["in.timer"][1]
        assert.equal(false, in_timer.attrs.premature)
        assert.not_equal(server.traceId, in_timer.traceId)
        -- its parent is the "ngx.timer" root, linked to the scheduler
        local all = H.index(recv:spans())
        local root = all[in_timer.parentSpanId]
        assert.equal("ngx.timer", root.name)
        assert.equal("", root.parentSpanId)
        assert.equal(in_timer.traceId, root.traceId)
        assert.equal(1, #root.links)
        assert.equal(sched.traceId, root.links[1].traceId)
        assert.equal(sched.spanId, root.links[1].spanId)
    end)

    it("keeps one span when called again, taking the later route",
       function()
        local code, body = H.get(nginx.url .. "/routed?id=routed")
        assert.equal(200, code)
        assert.equal("same=true\n", body)
        local s = spans_of("routed", 1)
        assert.equal(1, #s)
        assert.equal("GET /routed/:x", s[1].name)
        assert.equal("/routed/:x", s[1].attrs["http.route"])
    end)

    it("ends a subrequest's span from body_filter at the last buffer",
       function()
        local code, body = H.get(nginx.url .. "/bf?id=bf")
        assert.equal(200, code)
        assert.equal("sub:200:part1,part2\n", body)
        local s = by_name(spans_of("bf", 2))
        local sub = s["GET /bf_sub"][1]
        assert.equal("200", sub.attrs["http.response.status_code"])
        assert.equal(1, #s["GET /bf_sub"])
        -- plain ngx.location.capture passes the parent's incoming headers
        -- only (here none): otel.ngx.capture is what carries the context
        assert.equal("", sub.parentSpanId)
        assert.not_equal(s["GET /bf"][1].traceId, sub.traceId)
    end)

    it("sets status ERROR on a 5xx response", function()
        assert.equal(500, (H.get(nginx.url .. "/fail?id=fail")))
        local s = spans_of("fail", 1)[1]
        assert.equal("GET /fail", s.name)
        assert.equal(2, s.status.code)
        assert.equal("500", s.attrs["http.response.status_code"])
        assert.equal("500", s.attrs["error.type"])
    end)

    it("gives the invalid span when the request has none", function()
        local code, body = H.get(nginx.url .. "/nospan")
        assert.equal(200, code)
        assert.matches("valid=false", body, 1, true)
        assert.equal(("0"):rep(16), facts(body).span)
    end)

    it("gives later phases the request span, with or without phase()",
       function()
        local out = H.read_cmd("curl -sS -D - " .. nginx.url .. "/later")
        local phase_span = out:match("X%-Phase%-Span: (%x+)")
        local after = out:match("X%-After%-Span: (%x+)")
        recv:settle(0.3)
        local server
        for _, s in ipairs(recv:spans()) do
            if s.name == "GET /later" then
                server = s
            end
        end
        assert.is_truthy(server)
        -- content without phase(): the fallback is the request's context
        assert.equal(server.spanId, facts(out).span)
        -- header_filter on the shared main thread, inside phase() and after
        assert.equal(server.spanId, phase_span)
        assert.equal(server.spanId, after)
    end)

    it("ends the spans an ngx.exit interrupted; later requests in the "
       .. "recycled coroutines do not see them", function()
        -- both on one connection, so in one worker: /plain runs in the
        -- coroutine that /exit gave back
        for i = 1, 10 do
            H.read_cmd("curl -s " .. nginx.url .. "/exit?id=exit" .. i
                       .. " " .. nginx.url .. "/plain?id=after" .. i)
        end
        for i = 1, 10 do
            local s = by_name(spans_of("exit" .. i, 2))
            local server = s["GET /exit"][1]
            local inner = s["before.exit"][1]
            assert.equal("403", server.attrs["http.response.status_code"])
            assert.equal(0, server.status.code)
            assert.equal(server.spanId, inner.parentSpanId)
            local after = spans_of("after" .. i, 1)[1]
            assert.equal("", after.parentSpanId)
            assert.not_equal(server.traceId, after.traceId)
        end
        -- nothing was abandoned: every span started was exported
        -- (ngx.exit(ngx.OK) in access goes on to content)
        local code, body = H.get(nginx.url .. "/exit_ok?id=exitok")
        assert.equal(200, code)
        local s = by_name(spans_of("exitok", 2))
        local server = s["GET /exit_ok"][1]
        assert.equal(server.spanId, s["access.span"][1].parentSpanId)
        assert.equal(server.spanId, facts(body).span)
    end)
end)

describe("otel.ngx with B3 propagation", function()
    local recv, nginx

    setup(function()
        recv = H.start_receiver()
        local err
        nginx, err = H.start_nginx {
            -- nginx clears the environment: OTEL_* only through `env`
            main = "env OTEL_PROPAGATORS=tracecontext,baggage,b3;",
            init_worker = H.otlp_setup(recv, { delay = 50 }),
            http = http_block(),
        }
        assert(nginx, err)
    end)

    teardown(function()
        H.stop_all()
    end)

    local function spans_of(id, n)
        local deadline = H.now() + 10
        local got
        repeat
            got = H.group(recv:spans(), "test.id")[id] or {}
            if #got >= n then
                break
            end
            H.sleep(0.1)
        until H.now() > deadline
        local t = {}
        for _, s in ipairs(got) do
            t[s.name] = s
        end
        return t
    end

    it("joins a b3 header and sends b3 on outgoing calls", function()
        local code, body = H.get(nginx.url .. "/work?id=b3single",
                                 { b3 = TID .. "-" .. SID .. "-1" })
        assert.equal(200, code)
        local s = spans_of("b3single", 11)
        local server = s["GET /work"]
        assert.equal(TID, server.traceId)
        assert.equal(SID, server.parentSpanId)
        local client = s["GET"]
        local callee = s["GET /upstream"]
        assert.equal(client.spanId, callee.parentSpanId)
        local up = body:match("upstream:(.*)$")
        assert.equal(TID .. "-" .. client.spanId .. "-1", facts(up).b3)
    end)

    it("joins X-B3-* headers", function()
        local code = H.get(nginx.url .. "/facts?id=b3multi", {
            ["X-B3-TraceId"] = TID, ["X-B3-SpanId"] = SID,
            ["X-B3-Sampled"] = "1" })
        assert.equal(200, code)
        local server = spans_of("b3multi", 1)["GET /facts"]
        assert.equal(TID, server.traceId)
        assert.equal(SID, server.parentSpanId)
    end)
end)

describe("otel.setup in init_by_lua", function()
    teardown(function()
        H.stop_all()
    end)

    it("is a clear error that stops nginx from starting", function()
        local nginx, out = H.start_nginx {
            init = "require('otel').setup { exporter = 'none' }",
            http = "server { listen 127.0.0.1:${PORT1}; }",
        }
        assert.is_nil(nginx)
        assert.matches("init_by_lua", out, 1, true)
        assert.matches("otel.setup: call it in init_worker_by_lua (not "
                       .. "init_by_lua", out, 1, true)
        -- blamed on the line that called it, not on otel's code
        assert.matches("init_by_lua%(nginx.conf:%d+%):%d+: otel.setup: ",
                       out)
    end)
end)
