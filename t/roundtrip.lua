-- The round trip of every field a span can carry, through any protocol:
-- spans made through the Lua API, exported by the OTLP exporter to the test
-- receiver (t/receiver), decoded there by the official OpenTelemetry JS
-- protobuf code, and compared field by field with what was made.  Span.flags
-- and Link.flags, which that code predates, are read from the raw body:
-- with `protoc --decode_raw` for protobuf, from the JSON text for http/json.
local cjson = require "cjson"
local otel = require "otel"
local util = require "util"
local assert = require "luassert"

local quote, read_cmd, shell_ok = util.quote, util.read_cmd, util.shell_ok
local CLEAN = util.CLEAN

local M = {}

-- ---- flags on the wire ----------------------------------------------------

-- Parses decode_raw's text into nodes { field = n, value = "..." } (leaf)
-- or { field = n, kids = {...} } (message or group).
local function parse_raw(text)
    local root = { kids = {} }
    local stack = { root }
    for line in text:gmatch("[^\n]+") do
        local top = stack[#stack]
        local f = line:match("^%s*(%d+) {$")
        if f then
            local node = { field = tonumber(f), kids = {} }
            top.kids[#top.kids + 1] = node
            stack[#stack + 1] = node
        elseif line:match("^%s*}$") then
            stack[#stack] = nil
        else
            local lf, v = line:match("^%s*(%d+): (.*)$")
            assert(lf, "decode_raw: unexpected line " .. line)
            top.kids[#top.kids + 1] = { field = tonumber(lf), value = v }
        end
    end
    assert(#stack == 1, "decode_raw: unbalanced output")
    return root
end

local function kids(node, field)
    local out = {}
    for _, k in ipairs(node.kids or {}) do
        if k.field == field then
            out[#out + 1] = k
        end
    end
    return out
end

local function fixed32(node, field)
    local k = kids(node, field)
    assert(#k == 1, "expected one field " .. field .. ", got " .. #k)
    local v = assert(k[1].value:match("^0x(%x+)$"),
                     "not a fixed32: " .. tostring(k[1].value))
    return tonumber(v, 16)
end

-- Span.flags (16) and its links' Link.flags (6) of every span of request
-- seq, by span id: the raw body's spans come in the order of the decoded
-- ones, which give the ids (decode_raw prints bytes as escaped text).
local function protobuf_flags(R, seq)
    local rec = R:get_json("/requests/" .. seq)
    local tmp = os.tmpname()
    assert(shell_ok(CLEAN .. "curl -sS -k -m 10 -o " .. quote(tmp) .. " "
                    .. quote(R.base .. "/requests/" .. seq .. "/raw")))
    local text = read_cmd(CLEAN .. "protoc --decode_raw < " .. quote(tmp)
                          .. " 2>&1")
    os.remove(tmp)
    local tree = parse_raw(text)
    local wire = {}
    for _, rs in ipairs(kids(tree, 1)) do             -- ResourceSpans
        for _, ss in ipairs(kids(rs, 2)) do           -- ScopeSpans
            for _, sp in ipairs(kids(ss, 2)) do       -- Span
                local links = {}
                for _, l in ipairs(kids(sp, 13)) do
                    links[#links + 1] = fixed32(l, 6)
                end
                wire[#wire + 1] = { flags = fixed32(sp, 16), links = links }
            end
        end
    end
    local out, i = {}, 0
    for _, rs in ipairs(rec.decoded.resourceSpans) do
        for _, ss in ipairs(rs.scopeSpans) do
            for _, sp in ipairs(ss.spans) do
                i = i + 1
                out[sp.spanId] = assert(wire[i], "span missing on the wire")
            end
        end
    end
    assert.are.equal(i, #wire)
    return out
end

-- Span.flags and Link.flags of an http/json request, from its JSON text.
local function json_flags(R, seq)
    local tmp = os.tmpname()
    assert(shell_ok(CLEAN .. "curl -sS -m 10 -k -o " .. quote(tmp) .. " "
                    .. quote(R.base .. "/requests/" .. seq .. "/raw")))
    local f = assert(io.open(tmp))
    local req = cjson.decode(f:read("*a"))
    f:close()
    os.remove(tmp)
    local out = {}
    for _, rs in ipairs(req.resourceSpans) do
        for _, ss in ipairs(rs.scopeSpans) do
            for _, sp in ipairs(ss.spans) do
                local links = {}
                for _, l in ipairs(sp.links or {}) do
                    links[#links + 1] = l.flags
                end
                out[sp.spanId] = { flags = sp.flags, links = links }
            end
        end
    end
    return out
end

-- Span.flags and Link.flags by span id of a recorded request.
function M.wire_flags(R, rec)
    if rec.content_type == "application/json" then
        return json_flags(R, rec.seq)
    end
    return protobuf_flags(R, rec.seq)
end

-- ---- the round trip -------------------------------------------------------

local merge = util.merge

local function ns(c)   -- int64 cdata -> decimal string
    return (tostring(c):gsub("U?LL$", ""))
end

-- The spans (as the receiver returns them) by name.
M.by_name = util.by_name

local function typed(attrs, key)
    for _, kv in ipairs(attrs) do
        if kv.key == key then
            return kv.value
        end
    end
end

local flushed = util.flushed

local tracer = otel.tracer("spec.export", "3.1.4")
local SCHEMA = "https://opentelemetry.io/schemas/1.26.0"

-- roundtrip.run(R, setup[, opts]): setup(options) sets the exporter up
-- aimed at R (opts.otlp: its otlp options); returns the received spans.
function M.run(R, setup, opts)
    opts = opts or {}
    setup({
        service_name = "roundtrip", otlp = opts.otlp,
        resource = { ["deployment.environment"] = "spec",
                     ["host.cpu.count"] = 2 },
        limits = { attribute_count = 16, attribute_value_length = 10,
                   event_count = 3, link_count = 2,
                   event_attribute_count = 3, link_attribute_count = 3 },
    })
    local snap = util.snapshot()
    local T0 = 1700000000123456789LL
    local RT, RS = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    local LT, LS = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

    local other = tracer:start_span("other")
    other:finish()
    local full = tracer:start_span("full", {
        kind = otel.kind.SERVER, start_time = T0,
        attributes = { s = "text", utf8 = "héllo ✓", b = true,
                       f = false, i = 42, neg = -7,
                       big = 1099511627776, d = 3.25, three = 3.0,
                       i64 = 9007199254740993LL },
        links = {
            { context = { trace_id = LT, span_id = LS, trace_flags = 1,
                          is_remote = true, trace_state = "k=v,x=y" },
              attributes = { ["link.n"] = 1, ["link.s"] = "x" } },
            { context = other },
        },
    })
    full:set_attributes({ sa = { "a", "b" }, ba = { true, false },
                          ia = { 1, 2, 3 }, da = { 1.5, 2.5 },
                          i64a = { 9007199254740993LL,
                                   -9007199254740993LL } })
    full:add_event("cache.lookup", { hit = true, key = "k", n = 3 },
                   T0 + 5000)
    full:add_event("no.time")
    full:set_status(otel.status.ERROR, "declined")
    local child = tracer:start_span("child", { parent = full,
        kind = otel.kind.CLIENT, start_time = T0 + 1000 })
    child:set_status(otel.status.OK, "ignored")
    child:finish(T0 + 2000)
    full:finish(T0 + 987654321)

    -- A child of a remote parent (sampled, with a trace state), and a
    -- link to a remote context that is not sampled.
    local remote = tracer:start_span("remote.child", {
        parent = { trace_id = RT, span_id = RS, trace_flags = 1,
                   is_remote = true, trace_state = "vendor=abc" },
        kind = otel.kind.CONSUMER,
        links = { { context = { trace_id = LT, span_id = RS,
                                trace_flags = 0, is_remote = true } } },
    })
    remote:finish()
    local kinds = {}
    for name, k in pairs(otel.kind) do
        kinds[name] = k
        tracer:start_span("kind." .. name, { kind = k }):finish()
    end

    local limited = tracer:start_span("limited")
    limited:set_attribute("long", "abcdefghijklmnopqrstuvwxyz")
    limited:set_attribute("utf", string.rep("é", 12))
    for i = 1, 18 do
        limited:set_attribute("a" .. i, i)
    end
    limited:add_event("e1", { a = 1, b = 2, c = 3, d = 4, e = 5 })
    for i = 2, 5 do
        limited:add_event("e" .. i)
    end
    limited:add_link({ trace_id = LT, span_id = LS, trace_flags = 1 },
                     { a = 1, b = 2, c = 3, d = 4, e = 5 })
    for _ = 2, 4 do
        limited:add_link(other)
    end
    limited:finish()

    -- no version; a schema URL and attributes of its own
    local unversioned = otel.tracer("spec.export.other", nil, SCHEMA,
                                    { ["lib.team"] = "core", ["lib.n"] = 3 })
    unversioned:start_span("scoped"):finish()

    local d = flushed(snap)
    assert.are.equal(11, d.spans_ended)
    assert.are.equal(11, d.spans_exported)

    local spans = R:spans()
    assert.are.equal(11, #spans)
    local s = M.by_name(spans)
    local F, ctx = s.full, full:context()

    -- ids, kind, times, name
    assert.are.equal(ctx.trace_id, F.traceId)
    assert.are.equal(ctx.span_id, F.spanId)
    assert.are.equal("", F.parentSpanId)
    assert.are.equal(2, F.kind)
    assert.are.equal(ns(T0), F.startTimeUnixNano)
    assert.are.equal(ns(T0 + 987654321), F.endTimeUnixNano)
    assert.are.equal(F.traceId, s.child.traceId)
    assert.are.equal(F.spanId, s.child.parentSpanId)
    assert.are.equal(child:context().span_id, s.child.spanId)
    assert.are.equal(ns(T0 + 1000), s.child.startTimeUnixNano)
    assert.are.equal(ns(T0 + 2000), s.child.endTimeUnixNano)
    for name, k in pairs(kinds) do
        assert.are.equal(k + 1, s["kind." .. name].kind)
    end
    assert.are.equal(3, s.child.kind)
    assert.are.equal(5, s["remote.child"].kind)

    -- attributes: plain values and the OTLP type each one took
    local a = F.attrs
    assert.are.equal("text", a.s)
    assert.are.equal("héllo ✓", a.utf8)
    assert.is_true(a.b)
    assert.is_false(a.f)
    assert.are.equal("42", a.i)
    assert.are.equal("-7", a.neg)
    assert.are.equal("1099511627776", a.big)
    assert.are.equal(3.25, a.d)
    assert.are.equal("3", a.three)
    assert.are.equal("9007199254740993", a.i64)
    assert.are.same({ "a", "b" }, a.sa)
    assert.are.same({ true, false }, a.ba)
    assert.are.same({ "1", "2", "3" }, a.ia)
    assert.are.same({ 1.5, 2.5 }, a.da)
    assert.are.same({ "9007199254740993", "-9007199254740993" }, a.i64a)
    assert.are.equal("42", typed(F.attributes, "i").intValue)
    assert.are.equal(3.25, typed(F.attributes, "d").doubleValue)
    assert.is_nil(typed(F.attributes, "d").intValue)
    assert.are.equal("3", typed(F.attributes, "three").intValue)
    assert.are.equal("héllo ✓", typed(F.attributes, "utf8").stringValue)
    assert.are.equal(15, #F.attributes)
    assert.are.equal(0, F.droppedAttributesCount)

    -- events
    assert.are.equal(2, #F.events)
    local e1, e2 = F.events[1], F.events[2]
    assert.are.equal("cache.lookup", e1.name)
    assert.are.equal(ns(T0 + 5000), e1.timeUnixNano)
    assert.are.same({ hit = true, key = "k", n = "3" }, e1.attrs)
    assert.are.equal(0, e1.droppedAttributesCount)
    assert.are.equal("no.time", e2.name)
    assert.is_true(tonumber(e2.timeUnixNano) > 1.6e18)
    assert.are.equal(0, F.droppedEventsCount)

    -- links
    assert.are.equal(2, #F.links)
    local l1, l2 = F.links[1], F.links[2]
    assert.are.equal(LT, l1.traceId)
    assert.are.equal(LS, l1.spanId)
    assert.are.equal("k=v,x=y", l1.traceState)
    assert.are.same({ ["link.n"] = "1", ["link.s"] = "x" }, l1.attrs)
    assert.are.equal(other:context().trace_id, l2.traceId)
    assert.are.equal(other:context().span_id, l2.spanId)
    assert.are.equal("", l2.traceState)
    assert.are.equal(0, F.droppedLinksCount)

    -- status
    assert.are.same({ code = 2, message = "declined" }, F.status)
    assert.are.same({ code = 1, message = "" }, s.child.status)
    assert.are.same({ code = 0, message = "" }, s.other.status)

    -- a remote parent: its trace, its span as parent, its trace state
    local rc = s["remote.child"]
    assert.are.equal(RT, rc.traceId)
    assert.are.equal(RS, rc.parentSpanId)
    assert.are.equal("vendor=abc", rc.traceState)

    -- limits: what was kept and the dropped counts
    local L = s.limited
    assert.are.equal(16, #L.attributes)
    assert.are.equal(4, L.droppedAttributesCount)
    assert.are.equal("abcdefghij", L.attrs.long)
    assert.are.equal(string.rep("é", 10), L.attrs.utf)
    assert.are.equal(3, #L.events)
    assert.are.equal(2, L.droppedEventsCount)
    assert.are.same({ "e1", "e2", "e3" },
                    { L.events[1].name, L.events[2].name,
                      L.events[3].name })
    assert.are.equal(3, #L.events[1].attributes)
    assert.are.equal(2, L.events[1].droppedAttributesCount)
    assert.are.equal(2, #L.links)
    assert.are.equal(2, L.droppedLinksCount)
    assert.are.equal(3, #L.links[1].attributes)
    assert.are.equal(2, L.links[1].droppedAttributesCount)

    -- resource and scope
    for _, sp in ipairs(spans) do
        assert.are.same({
            ["service.name"] = "roundtrip",
            ["deployment.environment"] = "spec",
            ["host.cpu.count"] = "2",
            ["telemetry.sdk.name"] = "lua-otel",
            ["telemetry.sdk.language"] = "lua",
            ["telemetry.sdk.version"] = otel._VERSION,
        }, sp.resource)
        assert.is_nil(sp.attrs["service.name"])
        if sp.name == "scoped" then
            assert.are.same({ name = "spec.export.other", version = "",
                              attrs = { ["lib.team"] = "core",
                                        ["lib.n"] = "3" } }, sp.scope)
        else
            assert.are.same({ name = "spec.export", version = "3.1.4",
                              attrs = {} }, sp.scope)
        end
    end
    -- the resource once per request, one ScopeSpans per scope
    for _, rec in ipairs(R:get_json("/requests")) do
        assert.are.equal(1, #rec.decoded.resourceSpans)
        local names = {}
        for _, ss in ipairs(rec.decoded.resourceSpans[1].scopeSpans) do
            assert.is_nil(names[ss.scope.name])
            names[ss.scope.name] = true
            assert.are.equal(ss.scope.name == "spec.export.other"
                             and SCHEMA or "", ss.schemaUrl or "")
        end
    end

    -- Span.flags and Link.flags on the wire: W3C flags, then 0x100
    -- (is_remote known) and 0x200 (remote).  Roots (full, other) and
    -- their children have the random flag (0x02) of W3C level 2; the
    -- remote parent and link had only 0x01 and keep it.
    local flags = {}
    for _, rec in ipairs(R:get_json("/requests")) do
        merge(flags, M.wire_flags(R, rec))
    end
    assert.are.equal(0x103, flags[F.spanId].flags)
    assert.are.same({ 0x301, 0x103 }, flags[F.spanId].links)
    assert.are.equal(0x103, flags[s.child.spanId].flags)
    assert.are.equal(0x301, flags[rc.spanId].flags)
    assert.are.same({ 0x300 }, flags[rc.spanId].links)
    assert.are.equal(0x103, flags[s.other.spanId].flags)
    return spans
end

return M
