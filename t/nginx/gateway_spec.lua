-- otel.ngx as a gateway, in real nginx: the CLIENT span of a proxied call
-- (start_request{ upstream = true }), trace ids in the access log, and a
-- request that arrives in one propagation format and leaves in another.
-- One nginx serves both the gateway (PORT1) and its upstream (PORT2);
-- PORT3 is reserved and never listened on: a refused connection.
local H = require "nginx.harness"

local KIND = H.KIND
local TID = "4bf92f3577b34da6a3ce929d0e0e4736"
local SID = "00f067aa0ba902b7"
local TID2 = "0af7651916cd43dd8448eb211c80319c"

-- The gateway's locations: a SERVER span with test.id, the CLIENT span of
-- the proxied call, the span ended in the log phase.
local function proxied(path, target, extra, name)
    return ([[
        location %s {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = %q, upstream = %s,
                    attributes = { ["test.id"] = ngx.var.arg_id } }
            }
            %s
            %s
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
]]):format(path, path, name and ("%q"):format(name) or "true",
           extra or "", target)
end

-- The log correlation variables and the access log, in each server.
local function logged(prefix)
    return ([[set $otel_trace_id "";
        set $otel_span_id "";
        set $otel_sampled "";
        access_log %s/logs/access.log otel;]]):format(prefix)
end

local function http_block(prefix)
    return (table.concat({
        [[
    log_format otel '$server_port $uri $arg_id trace=$otel_trace_id '
                    'span=$otel_span_id sampled=$otel_sampled';
    upstream retry_pool {
        server 127.0.0.1:${PORT3} max_fails=0;
        server 127.0.0.1:${PORT2} backup;
    }
    server {
        listen 127.0.0.1:${PORT1};
        ${LOGGED}
        add_header X-Trace-Id $otel_trace_id;
        location = /__ready { return 204; }
        location = /__aborts {
            content_by_lua_block {
                ngx.say(TRACES or 0, "\n", table.concat(ABORTS or {},
                                                         "\n"))
            }
        }
]],
        proxied("/proxy", "proxy_pass http://127.0.0.1:${PORT2}/backend;"),
        proxied("/retry", "proxy_pass http://retry_pool/backend;", nil,
                "retry_pool"),
        proxied("/slow", "proxy_pass http://127.0.0.1:${PORT2}/sleep;",
                "proxy_read_timeout 300ms;"),
        proxied("/fcgi", "fastcgi_pass 127.0.0.1:${PORT3};"),
        [[
        location /denied {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = "/denied", upstream = true,
                    attributes = { ["test.id"] = ngx.var.arg_id } }
                return ngx.exit(403)
            }
            proxy_pass http://127.0.0.1:${PORT2}/backend;
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
    }
    server {
        listen 127.0.0.1:${PORT2};
        ${LOGGED}
        location / {
            access_by_lua_block {
                require("otel.ngx").start_request {
                    route = ngx.var.uri,
                    attributes = { ["test.id"] = ngx.var.arg_id } }
            }
            content_by_lua_block {
                if ngx.var.uri == "/sleep" then
                    ngx.sleep(2)
                elseif ngx.var.arg_wait then
                    ngx.sleep(tonumber(ngx.var.arg_wait))
                end
                local f = require("otel.ngx").log_fields() or {}
                ngx.say("traceparent=", ngx.var.http_traceparent or "",
                        "\nb3=", ngx.var.http_b3 or "",
                        "\nlog=", f.trace_id or "", ":", f.span_id or "",
                        ":", f.trace_flags or "")
            }
            log_by_lua_block { require("otel.ngx").finish_request() }
        }
    }
]],
    }, "\n"):gsub("%${LOGGED}", logged(prefix)))
end

-- The body's key=value lines as a table.
local function fields(body)
    local t = {}
    for k, v in (body or ""):gmatch("(%w+)=([^\n]*)") do
        t[k] = v
    end
    return t
end

local function start(setup_code)
    local prefix = H.tmpdir("gw")
    local nginx, err = H.start_nginx {
        prefix = prefix,
        ports = 3,
        init_worker = setup_code,
        http = http_block(prefix),
    }
    assert(nginx, err)
    return nginx
end

-- The access log lines of request id: { port, trace, span, sampled }.
local function log_lines(nginx, id)
    local out = {}
    local text = H.read_file(nginx.prefix .. "/logs/access.log") or ""
    for port, tr, sp, smp in text:gmatch("(%d+) %S+ " .. id
            .. " trace=(%S*) span=(%S*) sampled=(%S*)\n") do
        out[#out + 1] = { port = tonumber(port), trace = tr, span = sp,
                          sampled = smp }
    end
    return out
end

-- Trace aborts in the modules of this spec, collected in the worker.
local JIT_WATCH = [[
    ABORTS, TRACES = {}, 0
    local jutil = require "jit.util"
    local traceerr = require("jit.vmdef").traceerr
    jit.attach(function(what, _, func, pc, otr, oex)
        if what == "stop" then
            TRACES = TRACES + 1
        end
        if what ~= "abort" then
            return
        end
        local info = jutil.funcinfo(func, pc)
        local src = info.source or "?"
        local msg = traceerr[otr] or tostring(otr)
        if type(oex) == "number" and msg:find("%d", 1, true) then
            msg = msg:format(oex)
        end
        if (src:find("otel/ngx/upstream", 1, true)
            or src:find("otel/ngx/log", 1, true))
           and not msg:find("^leaving loop") then
            ABORTS[#ABORTS + 1] = (info.loc or src) .. ": " .. msg
        end
    end, "trace")
]]

describe("otel.ngx upstream spans and log correlation", function()
    local recv, nginx

    setup(function()
        recv = H.start_receiver()
        nginx = start(JIT_WATCH .. H.otlp_setup(recv, { delay = 50 }))
    end)

    teardown(function()
        H.stop_all()
    end)

    -- The spans of request test.id = id (the CLIENT span has no test.id:
    -- found as the gateway span's child), once n arrived.
    local function spans_of(id, n)
        local deadline = H.now() + 10
        local t
        repeat
            local all = recv:spans()
            t = { all = {} }
            for _, s in ipairs(H.group(all, "test.id")[id] or {}) do
                if s.attrs["server.port"] == tostring(nginx.ports[1]) then
                    t.gateway = s
                else
                    t.backend = s
                end
                t.all[#t.all + 1] = s
            end
            for _, s in ipairs(all) do
                if t.gateway and s.kind == KIND.CLIENT
                   and s.parentSpanId == t.gateway.spanId then
                    t.client = s
                    t.all[#t.all + 1] = s
                end
            end
            if #t.all >= n then
                break
            end
            H.sleep(0.1)
        until H.now() > deadline
        return t
    end

    local function ns(v)
        return tonumber(v)
    end

    it("a proxy_pass call is a CLIENT span whose context the upstream "
       .. "receives", function()
        local code, body = H.get(nginx.url .. "/proxy?id=proxy&wait=0.2")
        assert.equal(200, code)
        local s = spans_of("proxy", 3)
        assert.equal(3, #s.all)
        local gw, cl, be = s.gateway, s.client, s.backend
        assert.equal("GET /proxy", gw.name)
        assert.equal("GET", cl.name)
        assert.equal(KIND.CLIENT, cl.kind)
        assert.equal(gw.traceId, cl.traceId)
        assert.equal(gw.spanId, cl.parentSpanId)
        -- the upstream saw the CLIENT span as parent, and so its own
        -- SERVER span is the CLIENT span's child
        local f = fields(body)
        -- sampled, and random (W3C level 2) as the root's trace id is
        assert.equal("00-" .. gw.traceId .. "-" .. cl.spanId .. "-03",
                     f.traceparent)
        assert.equal(cl.spanId, be.parentSpanId)
        assert.equal(gw.traceId, be.traceId)
        local a = cl.attrs
        assert.equal("GET", a["http.request.method"])
        assert.equal("127.0.0.1", a["server.address"])
        assert.equal(tostring(nginx.ports[2]), a["server.port"])
        assert.equal("127.0.0.1", a["network.peer.address"])
        assert.equal(tostring(nginx.ports[2]), a["network.peer.port"])
        assert.equal("200", a["http.response.status_code"])
        assert.is_nil(a["http.request.resend_count"])
        assert.truthy(a["nginx.upstream.connect_time_ms"])
        assert.truthy(a["nginx.upstream.header_time_ms"])
        assert.truthy(a["nginx.upstream.response_time_ms"])
        assert.equal(0, cl.status.code)
        assert.equal(0, #cl.events)         -- one try: the span tells it
        -- placed in time where nginx called the upstream: inside the
        -- gateway's span, around the upstream's own (nginx's times are
        -- milliseconds: 2 ms of slack)
        local MS2 = 2e6
        assert.truthy(ns(gw.startTimeUnixNano) <= ns(cl.startTimeUnixNano))
        assert.truthy(ns(cl.endTimeUnixNano) <= ns(gw.endTimeUnixNano))
        assert.truthy(ns(cl.startTimeUnixNano)
                      <= ns(be.startTimeUnixNano) + MS2)
        assert.truthy(ns(be.endTimeUnixNano)
                      <= ns(cl.endTimeUnixNano) + MS2)
        -- so not at the log phase: it began before the upstream answered
        assert.truthy(ns(cl.startTimeUnixNano) < ns(be.endTimeUnixNano))
        -- the upstream's log_fields() are its SERVER span's ids
        assert.equal(be.traceId .. ":" .. be.spanId .. ":01", f.log)
    end)

    it("replaces an incoming traceparent instead of adding one", function()
        local code, body = H.get(nginx.url .. "/proxy?id=replace", {
            traceparent = "00-" .. TID .. "-" .. SID .. "-01" })
        assert.equal(200, code)
        local s = spans_of("replace", 3)
        assert.equal(SID, s.gateway.parentSpanId)
        assert.equal("00-" .. TID .. "-" .. s.client.spanId .. "-01",
                     fields(body).traceparent)
    end)

    it("a failing first upstream and a working second: one span, an event "
       .. "per try", function()
        local code = H.get(nginx.url .. "/retry?id=retry")
        assert.equal(200, code)
        local s = spans_of("retry", 3)
        local cl, be = s.client, s.backend
        assert.equal(cl.spanId, be.parentSpanId)
        local a = cl.attrs
        assert.equal("1", a["http.request.resend_count"])
        assert.equal("200", a["http.response.status_code"])
        assert.equal(tostring(nginx.ports[2]), a["network.peer.port"])
        assert.equal("retry_pool", a["server.address"])
        assert.equal(0, cl.status.code)
        assert.equal(2, #cl.events)
        local t1, t2 = cl.events[1], cl.events[2]
        assert.equal(tostring(nginx.ports[3]),
                     t1.attrs["network.peer.port"])
        assert.equal("502", t1.attrs["http.response.status_code"])
        assert.is_nil(t1.attrs["nginx.upstream.header_time_ms"])
        assert.equal(tostring(nginx.ports[2]),
                     t2.attrs["network.peer.port"])
        assert.equal("200", t2.attrs["http.response.status_code"])
        assert.truthy(ns(t1.timeUnixNano) <= ns(t2.timeUnixNano))
    end)

    it("an upstream that times out: a 504 CLIENT span with the error",
       function()
        local code = H.get(nginx.url .. "/slow?id=slow")
        assert.equal(504, code)
        local s = spans_of("slow", 2)
        local cl = s.client
        assert.equal(2, cl.status.code)
        assert.equal("504", cl.attrs["error.type"])
        assert.equal("504", cl.attrs["http.response.status_code"])
        assert.is_nil(cl.attrs["nginx.upstream.header_time_ms"])
        assert.equal(2, s.gateway.status.code)
    end)

    it("fastcgi_pass has the span too, from nginx's upstream variables",
       function()
        local code = H.get(nginx.url .. "/fcgi?id=fcgi")
        assert.equal(502, code)
        local cl = spans_of("fcgi", 2).client
        assert.equal("127.0.0.1", cl.attrs["server.address"])
        assert.equal(tostring(nginx.ports[3]), cl.attrs["server.port"])
        assert.equal("502", cl.attrs["error.type"])
    end)

    it("a request answered before it was proxied ends its CLIENT span",
       function()
        assert.equal(403, (H.get(nginx.url .. "/denied?id=denied")))
        local cl = spans_of("denied", 2).client
        assert.equal("not_proxied", cl.attrs["error.type"])
    end)

    it("a sampled-out request still propagates its trace id", function()
        local code, body = H.get(nginx.url .. "/proxy?id=unsampled", {
            traceparent = "00-" .. TID2 .. "-" .. SID .. "-00" })
        assert.equal(200, code)
        local tp = fields(body).traceparent
        local tid, parent, flags = tp:match("^00%-(%x+)%-(%x+)%-(%x+)$")
        assert.equal(TID2, tid)
        assert.equal("00", flags)
        assert.are_not.equal(SID, parent)       -- a CLIENT span of its own
        -- the log lines of both servers carry the propagated id
        local lines = log_lines(nginx, "unsampled")
        assert.equal(2, #lines)
        for _, l in ipairs(lines) do
            assert.equal(TID2, l.trace)
            assert.equal("0", l.sampled)
        end
        -- and nothing of it was exported
        H.get(nginx.url .. "/proxy?id=after")
        spans_of("after", 3)
        for _, sp in ipairs(recv:spans()) do
            assert.are_not.equal(TID2, sp.traceId)
        end
    end)

    it("every access log line carries the exported span's trace id",
       function()
        local ids = { "log1", "log2", "log3", "retry", "proxy" }
        for i = 1, 3 do
            assert.equal(200, (H.get(nginx.url .. "/proxy?id=" .. ids[i])))
        end
        for _, id in ipairs(ids) do
            local s = spans_of(id, 3)
            local lines = log_lines(nginx, id)
            assert.equal(2, #lines, id)
            for _, l in ipairs(lines) do
                local server = l.port == nginx.ports[1] and s.gateway
                               or s.backend
                assert.equal(server.traceId, l.trace, id)
                assert.equal(server.spanId, l.span, id)
                assert.equal("1", l.sampled, id)
            end
        end
        -- and add_header sends it to the client
        local out = H.read_cmd("curl -sS -D - -o /dev/null "
                               .. H.quote(nginx.url .. "/proxy?id=hdr"))
        local hdr = out:match("[Xx]%-[Tt]race%-[Ii]d: (%x+)")
        assert.equal(spans_of("hdr", 3).gateway.traceId, hdr)
    end)
    it("the upstream span and the log variables compile (no trace "
       .. "aborts in a worker)", function()
        local reqs = {}
        for i = 1, 600 do
            reqs[i] = { url = nginx.url .. "/proxy?id=jit" .. i }
        end
        local status = H.parallel(reqs, 8)
        for _, r in ipairs(reqs) do
            assert.equal(200, status[r.url])
        end
        local _, body = H.get(nginx.url .. "/__aborts")
        local traces, aborts = body:match("^(%d+)\n(.-)%s*$")
        assert.truthy(tonumber(traces) > 0)     -- the JIT is at work
        assert.equal("", aborts)
    end)
end)

describe("otel.ngx between propagation formats", function()
    local recv, nginx

    setup(function()
        recv = H.start_receiver()
        nginx = start("require('otel').setup { service_name = 'gw', "
            .. "exporter = 'otlp', otlp = { endpoint = '" .. recv.url
            .. "' }, batch = { schedule_delay_ms = 50 }, "
            .. "propagators = { extract = { 'datadog', 'xray', "
            .. "'tracecontext' }, inject = { 'tracecontext', 'b3' } } }")
    end)

    teardown(function()
        H.stop_all()
    end)

    it("a request arriving with Datadog headers leaves with W3C and B3",
       function()
        local code, body = H.get(nginx.url .. "/proxy?id=dd", {
            ["x-datadog-trace-id"] = "11803532876627986230",
            ["x-datadog-parent-id"] = "67667974448284343",
            ["x-datadog-sampling-priority"] = "1",
            ["x-datadog-tags"] = "_dd.p.tid=4bf92f3577b34da6" })
        assert.equal(200, code)
        local f = fields(body)
        local tid, parent = f.traceparent:match("^00%-(%x+)%-(%x+)%-01$")
        assert.equal(TID, tid)
        assert.equal(TID .. "-" .. parent .. "-1", f.b3)
        local got
        local deadline = H.now() + 10
        repeat
            got = H.group(recv:spans(), "test.id").dd or {}
            H.sleep(0.1)
        until #got >= 3 or H.now() > deadline
        local server
        for _, s in ipairs(got) do
            if s.kind == KIND.SERVER and s.name == "GET /proxy" then
                server = s
            end
        end
        assert.equal(TID, server.traceId)
        assert.equal(SID, server.parentSpanId)
    end)

    it("a malformed X-Ray header gives a new trace, and the request is "
       .. "served", function()
        local code, body = H.get(nginx.url .. "/proxy?id=badxray", {
            ["X-Amzn-Trace-Id"] = "Root=1-zz;Parent=" .. SID })
        assert.equal(200, code)
        local tid = fields(body).traceparent:match("^00%-(%x+)%-")
        assert.truthy(tid)
        assert.are_not.equal(("0"):rep(32), tid)
    end)
end)
