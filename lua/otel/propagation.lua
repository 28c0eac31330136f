-- Propagation: extract and inject of W3C Trace Context (traceparent,
-- tracestate), W3C Baggage, B3 (single and multi header), and the formats
-- of other tracers: Jaeger, OT Trace, AWS X-Ray, Google Cloud Trace and
-- Datadog (src/propagators.c).
--
-- The core parses and formats (src/propagation.c); this module reads and
-- writes the carrier and builds contexts.  It runs once or twice per
-- request, so it makes no closures, no string patterns, and reuses its
-- FFI buffers.  A malformed header never raises: it is ignored and counted
-- (otel.stats().propagation_invalid).
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"
local context = require "otel.context"
local baggage = require "otel.baggage"
local warn = require "otel.warn"

local C = base.C
local ffi_new = ffi.new
local ffi_string = ffi.string
local type = type
local pairs = pairs
local tonumber = tonumber
local error = error
local getmetatable = getmetatable
local setmetatable = setmetatable
local lower = string.lower
local concat = table.concat
local getenv = os.getenv

local handle_t = span.handle_t
local tstate = span.tstate
local set_trace_state = span.set_trace_state
local to_handle = span.to_handle
local Context = context.Context
local new_context = context.new
local current_span = context.current_span
local current_baggage = context.current_baggage
local bag_from_header = baggage.from_header
local bag_header_of = baggage.header_of
local bag_copy = baggage.copy

local STAT_INVALID = span.stat_index.propagation_invalid

-- Sizes of otel.h (OTEL_TRACESTATE_MAX_LEN, OTEL_BAGGAGE_MAX_BYTES, ...).
local TP_LEN, TS_MAX, BAG_MAX, B3_LEN = 55, 512, 8192, 51

local _M = {}

-- ---- buffers, allocated once ---------------------------------------------

local scratch = handle_t()
local tsbuf = ffi_new("char[?]", TS_MAX)
local hbuf = ffi_new("char[64]")
local bbuf = ffi_new("char[?]", BAG_MAX)
local wbuf = ffi_new("char[?]", BAG_MAX)
local writer = ffi_new("otel_baggage_writer")
writer.buf = wbuf
writer.cap = BAG_MAX
local debug_out = ffi_new("int[1]")
local b3vals = ffi_new("const char *[5]")
local b3lens = ffi_new("size_t[5]")
local PBUF, PTS = 512, 206          -- OTEL_PROP_BUF, OTEL_PROP_TS_MAX
local pbuf = ffi_new("char[?]", PBUF)
local ptsbuf = ffi_new("char[?]", PTS)
local ptslen = ffi_new("size_t[1]")

-- Extracted B3 and Jaeger contexts that carry the debug flag, re-sent on
-- inject (the OpenTelemetry B3 requirements).  Keyed by the remote handle.
local b3_debug = setmetatable({}, { __mode = "k" })

local function invalid()
    C.otel_stats_add(STAT_INVALID, 1)
end

-- ---- configuration ------------------------------------------------------

-- The formats of other tracers, by their OTEL_PROPAGATORS names (those of
-- the OpenTelemetry SDKs' contrib propagators: jaeger, ottrace, xray;
-- Google's gcp_trace; Datadog's own datadog), and their headers as the
-- core declares them (otel_prop_field: the one list of them).
-- (ids of src/otel.h: OTEL_PROPAGATOR_*)
local VENDOR = { jaeger = 5, ottrace = 6, xray = 7, gcp = 8, datadog = 9 }
local ALIAS = { gcp_trace = "gcp", cloudtrace = "gcp", ot = "ottrace",
                aws = "xray", awsxray = "xray" }
local VENDOR_FIELDS, VENDOR_PREFIX = {}, {}
for _, id in pairs(VENDOR) do
    local names = {}
    for i = 0, 4 do
        local f = C.otel_prop_field(id, i)
        if f == nil then
            break
        end
        names[i + 1] = ffi_string(f)
    end
    VENDOR_FIELDS[id] = names
    local p = C.otel_prop_baggage_prefix(id)
    VENDOR_PREFIX[id] = p ~= nil and ffi_string(p) or nil
end

local KNOWN = { tracecontext = true, baggage = true, b3 = true,
                b3multi = true }
for name in pairs(VENDOR) do
    KNOWN[name] = true
end
local NAMES = "tracecontext, baggage, b3, b3multi, jaeger, ottrace, xray, "
              .. "gcp, datadog or none"

-- Span extractors in order: TC, B3 (single and multi headers) or a vendor
-- id; the first that finds a valid context wins.
local TC, B3 = -1, -2

-- The configured propagators in order, for each direction, and what the
-- per-call paths test.
local ex_order, in_order = {}, {}
local ex_list, n_ex = {}, 0             -- span extractors, in order
local stale = true                      -- the chains below to be rebuilt
local ex_bag, ex_vbag = false, {}       -- W3C baggage; vendor baggage ids
local use_tc, use_bag, use_b3, use_b3multi
local in_vendor, in_vbag = {}, {}       -- vendor ids, in inject order

-- The extract order as the core's propagator ids, for
-- otel_extract_headers (OTEL_PROPAGATOR_*: 1-4 here, 5-9 in VENDOR).
local IDS = { tracecontext = 1, baggage = 2, b3 = 3, b3multi = 4 }
for name, id in pairs(VENDOR) do
    IDS[name] = id
end
local props = ffi_new("uint8_t[?]", 16)
local n_props = 0

local function set_extract(o)
    ex_order = o
    ex_list, n_ex, ex_bag, ex_vbag = {}, 0, false, {}
    stale = true
    n_props = #o
    for i = 1, #o do
        props[i - 1] = IDS[o[i]]
    end
    local have_b3 = false
    for i = 1, #o do
        local p = o[i]
        local e
        if p == "tracecontext" then
            e = TC
        elseif p == "b3" or p == "b3multi" then
            e = not have_b3 and B3 or nil
            have_b3 = true
        elseif p == "baggage" then
            ex_bag = true
        else
            e = VENDOR[p]
            if VENDOR_PREFIX[e] then
                ex_vbag[#ex_vbag + 1] = e
            end
        end
        if e then
            n_ex = n_ex + 1
            ex_list[n_ex] = e
        end
    end
end

local function set_inject(o)
    in_order = o
    use_tc, use_bag, use_b3, use_b3multi = false, false, false, false
    in_vendor, in_vbag = {}, {}
    stale = true
    for i = 1, #o do
        local p = o[i]
        if p == "tracecontext" then
            use_tc = true
        elseif p == "baggage" then
            use_bag = true
        elseif p == "b3" then
            use_b3 = true
        elseif p == "b3multi" then
            use_b3multi = true
        else
            local id = VENDOR[p]
            in_vendor[#in_vendor + 1] = id
            if VENDOR_PREFIX[id] then
                in_vbag[#in_vbag + 1] = id
            end
        end
    end
end

-- list: array of names; from_env: unknown names are ignored with a
-- warning (the spec's rule for OTEL_PROPAGATORS), else they are an error.
local function names_of(list, from_env, level)
    local o, seen = {}, {}
    for i = 1, #list do
        local name = list[i]
        if type(name) ~= "string" then
            error("otel.setup: propagators must be an array of names, got "
                  .. "a " .. type(name), level + 1)
        end
        name = ALIAS[name] or name
        if KNOWN[name] then
            if not seen[name] then
                seen[name] = true
                o[#o + 1] = name
            end
        elseif name ~= "none" and not from_env then
            error("otel.setup: unknown propagator '" .. name .. "' ("
                  .. NAMES .. ")", level + 1)
        elseif name ~= "none" then
            warn.once("OTEL_PROPAGATORS names an unknown propagator '"
                      .. name .. "': it is left out")
        end
    end
    return o
end

-- opts: an array of names (both directions), or { extract = {...},
-- inject = {...} } (a direction left out takes the other's list).
local function configure(opts, from_env, level)
    local ex, inj = opts.extract, opts.inject
    if ex == nil and inj == nil then
        local o = names_of(opts, from_env, level + 1)
        set_extract(o)
        set_inject(o)
        return
    end
    if (ex ~= nil and type(ex) ~= "table")
       or (inj ~= nil and type(inj) ~= "table") then
        error("otel.setup: propagators.extract and .inject must be arrays "
              .. "of names", level + 1)
    end
    ex = names_of(ex or inj, from_env, level + 1)
    inj = names_of(inj or ex, from_env, level + 1)
    set_extract(ex)
    set_inject(inj)
end

local function from_env()
    local v = getenv("OTEL_PROPAGATORS")
    local list = {}
    if v == nil or v:find("^%s*$") then
        list = { "tracecontext", "baggage" }
    else
        for name in v:gmatch("[^,]+") do
            list[#list + 1] = lower(name:match("^%s*(.-)%s*$"))
        end
    end
    configure(list, true, 1)
end

-- Called by otel.setup with its options (before the provider is built):
-- opts.propagators wins over OTEL_PROPAGATORS.
function _M.setup_hook(opts)
    if opts.propagators ~= nil then
        configure(opts.propagators, false, 3)
    else
        from_env()
    end
end

from_env()

local function copy_list(l)
    local out = {}
    for i = 1, #l do
        out[i] = l[i]
    end
    return out
end

-- The configured propagator names, in order: those of inject, and those
-- of extract (the same unless configured apart).
function _M.propagators()
    return copy_list(in_order), copy_list(ex_order)
end

local TC_FIELDS = { "traceparent", "tracestate" }
local B3_FIELDS = { "b3" }
local B3M_FIELDS = { "x-b3-traceid", "x-b3-spanid", "x-b3-sampled",
                     "x-b3-flags" }
local BAG_FIELDS = { "baggage" }

local function fields_of(p)
    if p == "tracecontext" then
        return TC_FIELDS
    elseif p == "baggage" then
        return BAG_FIELDS
    elseif p == "b3" then
        return B3_FIELDS
    elseif p == "b3multi" then
        return B3M_FIELDS
    end
    return VENDOR_FIELDS[VENDOR[p]]
end

local function append(out, l)
    for i = 1, #l do
        out[#out + 1] = l[i]
    end
end

-- The header names inject may set (the spec's Fields), lower case; the
-- baggage headers of Jaeger and OT are named by a prefix (second result).
function _M.fields()
    local out, prefixes = {}, {}
    for i = 1, #in_order do
        local p = in_order[i]
        append(out, fields_of(p))
        prefixes[#prefixes + 1] = VENDOR_PREFIX[VENDOR[p]]
    end
    return out, prefixes
end

-- The header names extract reads, lower case, and the prefixes of the
-- baggage headers it reads (a carrier is scanned for those only when
-- Jaeger or OT is configured).  A request path that reads only these
-- headers gives extract all it uses.
function _M.extract_fields()
    local out, prefixes, have_b3 = {}, {}, false
    for i = 1, #ex_order do
        local p = ex_order[i]
        if p ~= "b3" and p ~= "b3multi" then
            append(out, fields_of(p))
            prefixes[#prefixes + 1] = VENDOR_PREFIX[VENDOR[p]]
        elseif not have_b3 then         -- either reads both forms
            have_b3 = true
            append(out, B3_FIELDS)
            append(out, B3M_FIELDS)
        end
    end
    return out, prefixes
end

-- ---- reading the carrier -------------------------------------------------

-- A plain table is read case-insensitively: the lower-case name first,
-- then (once per extract) a pass over keys of other cases.  A table with
-- a metatable (ngx.req.get_headers()) does its own folding in __index.
local WANTED = { traceparent = true, tracestate = true, baggage = true,
                 b3 = true, ["x-b3-traceid"] = true, ["x-b3-spanid"] = true,
                 ["x-b3-sampled"] = true, ["x-b3-flags"] = true }
for _, names in pairs(VENDOR_FIELDS) do
    for i = 1, #names do
        WANTED[names[i]] = true
    end
end
local WANTED_LIST = {}
for name in pairs(WANTED) do
    WANTED_LIST[#WANTED_LIST + 1] = name
end
local folded = {}          -- lower-case name -> value, for this extract
local fold_state = 0       -- 0 none, 1 not folded yet, 2 folded
local lowered = {}         -- header name -> lower case, bounded
local n_lowered = 0

local function unfold()
    for i = 1, #WANTED_LIST do
        folded[WANTED_LIST[i]] = nil
    end
end

local function fold(carrier)
    unfold()                -- in case an error cut the last extract short
    for k, v in pairs(carrier) do
        if type(k) == "string" then
            local lk = lowered[k]
            if lk == nil then
                if n_lowered >= 1024 then
                    lowered = {}
                    n_lowered = 0
                end
                lk = lower(k)
                lowered[k] = lk
                n_lowered = n_lowered + 1
            end
            if lk ~= k and WANTED[lk] then
                folded[lk] = v
            end
        end
    end
    fold_state = 2
end

local function get(carrier, fn, name)
    if fn then
        return fn(name)
    end
    local v = carrier[name]
    if v == nil and fold_state ~= 0 then
        if fold_state == 1 then
            fold(carrier)
        end
        v = folded[name]
    end
    return v
end

-- A header that must appear once: a string, or an array of one string.
local function single(v)
    if type(v) == "string" then
        return v
    end
    if type(v) == "table" and #v == 1 and type(v[1]) == "string" then
        return v[1]
    end
    invalid()              -- repeated, or not a string
    return nil
end

-- A list header (tracestate, baggage): repeated lines are one list.
local function list(v)
    if type(v) == "string" then
        return v
    end
    if type(v) == "table" then
        local n = #v
        for i = 1, n do
            if type(v[i]) ~= "string" then
                n = 0
                break
            end
        end
        if n > 0 then
            return n == 1 and v[1] or concat(v, ",")
        end
    end
    invalid()
    return nil
end

-- ---- extract ------------------------------------------------------------

local function extract_tracecontext(carrier, fn)
    local v = get(carrier, fn, "traceparent")
    if v == nil then
        return nil
    end
    local tp = single(v)
    if not tp then
        return nil
    end
    local h = handle_t()
    if C.otel_traceparent_parse(tp, #tp, h) ~= 0 then
        return nil
    end
    v = get(carrier, fn, "tracestate")
    if v ~= nil then
        local ts = list(v)
        if ts then
            local n = C.otel_tracestate_clean(ts, #ts, tsbuf, TS_MAX)
            if n > 0 then
                if n ~= #ts then
                    ts = ffi_string(tsbuf, n)
                end
                set_trace_state(h, ts)
            end
        end
    end
    return h
end

local function b3_handle()
    local h = handle_t(scratch)
    if debug_out[0] == 1 then
        b3_debug[h] = true
    end
    return h
end

local function opt_single(v)
    if v == nil then
        return nil
    end
    return single(v)
end

local function set_b3val(i, s)
    b3vals[i] = s
    b3lens[i] = s and #s or 0
end

local function extract_b3(carrier, fn)
    local v = get(carrier, fn, "b3")
    if v ~= nil then
        local s = single(v)
        if s then
            if C.otel_b3_parse(s, #s, scratch, debug_out) == 0 then
                return b3_handle()
            end
        end
        -- no context in the single header: the multi headers may have one
    end
    local tid = get(carrier, fn, "x-b3-traceid")
    local sid = get(carrier, fn, "x-b3-spanid")
    if tid == nil and sid == nil then
        return nil
    end
    tid, sid = opt_single(tid), opt_single(sid)
    local smp = opt_single(get(carrier, fn, "x-b3-sampled"))
    local flg = opt_single(get(carrier, fn, "x-b3-flags"))
    set_b3val(0, tid)
    set_b3val(1, sid)
    set_b3val(2, smp)
    set_b3val(3, flg)
    local rc = C.otel_b3_parse_multi(b3vals, b3lens, scratch, debug_out)
    b3vals[0], b3vals[1], b3vals[2], b3vals[3] = nil, nil, nil, nil
    if rc == 0 then
        return b3_handle()
    end
    return nil
end

-- Straight code, as inject_vendor (see there).
local function extract_vendor(carrier, fn, id)
    local names = VENDOR_FIELDS[id]
    local n1, n2, n3, n4, n5 = names[1], names[2], names[3], names[4],
                               names[5]
    local f1 = get(carrier, fn, n1)
    local f2 = n2 and get(carrier, fn, n2)
    local f3 = n3 and get(carrier, fn, n3)
    local f4 = n4 and get(carrier, fn, n4)
    local f5 = n5 and get(carrier, fn, n5)
    if f1 == nil and not f2 then
        return nil                  -- none of its id headers
    end
    set_b3val(0, f1 ~= nil and single(f1) or nil)
    set_b3val(1, f2 and single(f2) or nil)
    set_b3val(2, f3 and single(f3) or nil)
    set_b3val(3, f4 and single(f4) or nil)
    set_b3val(4, f5 and single(f5) or nil)
    local rc = C.otel_prop_extract(id, b3vals, b3lens, scratch, debug_out,
                                   ptsbuf, ptslen)
    b3vals[0], b3vals[1], b3vals[2], b3vals[3], b3vals[4] =
        nil, nil, nil, nil, nil
    if rc ~= 0 then
        return nil
    end
    local h = b3_handle()
    local n = ptslen[0]
    if n > 0 then
        set_trace_state(h, ffi_string(ptsbuf, n))
    end
    return h
end

local function none()
    return nil
end

local function extract_tc(carrier, fn)
    return extract_tracecontext(carrier, fn)
end

local function extract_b3_any(carrier, fn)
    return extract_b3(carrier, fn)
end

-- The extractors of the configured order in seven slots (there are seven
-- kinds), each called from its own call site: straight code that
-- compiles into the caller's trace, where a loop over the order, or a
-- chain of closures of one prototype (recursion to LuaJIT), would not.
local x1, x2, x3, x4, x5, x6, x7 = none, none, none, none, none, none, none
local a1, a2, a3, a4, a5, a6, a7

local function extract_span(carrier, fn)
    return x1(carrier, fn, a1) or x2(carrier, fn, a2)
           or x3(carrier, fn, a3) or x4(carrier, fn, a4)
           or x5(carrier, fn, a5) or x6(carrier, fn, a6)
           or x7(carrier, fn, a7)
end

-- The same for the vendor formats inject writes (five at most).
local v1, v2, v3, v4, v5

local function slot(i)
    local e = ex_list[i]
    if e == nil then
        return none
    elseif e == TC then
        return extract_tc
    elseif e == B3 then
        return extract_b3_any
    end
    return extract_vendor, e
end

local function rebuild()
    x1, a1 = slot(1)
    x2, a2 = slot(2)
    x3, a3 = slot(3)
    x4, a4 = slot(4)
    x5, a5 = slot(5)
    x6, a6 = slot(6)
    x7, a7 = slot(7)
    v1, v2, v3, v4, v5 = in_vendor[1], in_vendor[2], in_vendor[3],
                         in_vendor[4], in_vendor[5]
    stale = false
end

-- Entries of bag over those of into (bag wins), as a new baggage.
local function merge(into, bag)
    if into == nil then
        return bag
    end
    local out = bag_copy(into)
    for k, e in pairs(baggage.entries(bag)) do
        out[k] = e
    end
    return out
end

-- Jaeger's uberctx-* and OT's ot-baggage-* headers of a table carrier (a
-- getter cannot list them), as a W3C baggage header for otel.baggage.
local function vendor_baggage(carrier, into)
    writer.len = 0
    writer.count = 0
    writer.dropped = 0
    for k, v in pairs(carrier) do
        if type(v) == "table" and #v == 1 then
            v = v[1]                -- a repeated one is ignored
        end
        if type(k) == "string" and type(v) == "string" then
            for i = 1, #ex_vbag do
                -- 1: the name has not this format's prefix
                if C.otel_prop_baggage_put(ex_vbag[i], writer, k, #k, v,
                                           #v) ~= 1 then
                    break
                end
            end
        end
    end
    if writer.len == 0 then
        return into
    end
    return merge(into, bag_from_header(ffi_string(wbuf, writer.len)))
end

-- The header's entries over the context's baggage (the header wins).
-- Without one, the validated header is kept as it is, parsed on first
-- use (otel.baggage).
local function extract_baggage(carrier, fn, into)
    local v = get(carrier, fn, "baggage")
    if v == nil then
        return into
    end
    local s = list(v)
    if not s then
        return into
    end
    local n = C.otel_baggage_clean(s, #s, bbuf, BAG_MAX)
    if n == 0 then
        return into
    end
    if n ~= #s then
        s = ffi_string(bbuf, n)
    end
    return merge(into, bag_from_header(s))
end

-- otel.propagation.extract(carrier[, context]) -> context.
-- carrier: a table of headers (names in any case; a repeated header as an
-- array of strings, as ngx.req.get_headers() gives them) or a getter
-- function(name) -> value | array | nil, called with lower-case names.
-- The result holds the remote span of the first propagator that finds a
-- valid one (else the span of `context`, none by default) and the
-- baggage of `context` with the header's entries over it.
function _M.extract(carrier, ctx)
    local fn
    local tc = type(carrier)
    if tc == "function" then
        fn = carrier
    elseif tc ~= "table" then
        error("otel.propagation.extract: carrier must be a table of "
              .. "headers or a getter function, got " .. tc, 2)
    end
    if ctx ~= nil and getmetatable(ctx) ~= Context then
        error("otel.propagation.extract: context must be a context, got "
              .. type(ctx), 2)
    end
    fold_state = (fn == nil and getmetatable(carrier) == nil) and 1 or 0
    if stale then
        rebuild()
    end
    local sp = extract_span(carrier, fn)
    local bag = ctx and ctx.baggage
    if ex_vbag[1] and fn == nil then
        bag = vendor_baggage(carrier, bag)
    end
    if ex_bag then
        bag = extract_baggage(carrier, fn, bag)
    end
    if fold_state == 2 then
        unfold()
    end
    fold_state = 0
    if sp == nil and ctx then
        sp = ctx.span
    end
    return new_context(sp, bag)
end

-- otel.propagation.extract_headers(headers, n) -> context, or nil when
-- the headers carry nothing: extract from a header list in the layout of
-- the core's otel_header (lua-nginx-module's ngx_http_lua_ffi_table_elt_t,
-- names in lower case), read in C without a string per header.  The same
-- result as extract() over a table of those headers.  For otel.ngx.
local extracted = ffi_new("otel_extracted")
local xbuf = ffi_new("char[?]", TS_MAX + BAG_MAX)

function _M.extract_headers(headers, n)
    if C.otel_extract_headers(headers, n, props, n_props, xbuf,
                              TS_MAX + BAG_MAX, extracted) ~= 1 then
        return nil
    end
    local ex = extracted
    local h
    if ex.found == 1 then
        h = handle_t(ex.parent)
        if ex.trace_state_len > 0 then
            set_trace_state(h, ffi_string(ex.trace_state,
                                          ex.trace_state_len))
        end
        if ex.b3_debug == 1 then
            b3_debug[h] = true
        end
    end
    local bag
    if ex.baggage_len > 0 then
        bag = bag_from_header(ffi_string(ex.baggage, ex.baggage_len))
    end
    return new_context(h, bag)
end

-- ---- inject ---------------------------------------------------------------

local function set(carrier, fn, name, value)
    if fn then
        fn(name, value)
    else
        carrier[name] = value
    end
end

local function inject_baggage(carrier, fn, bag)
    local s = bag_header_of(bag)
    if s then
        set(carrier, fn, "baggage", s)     -- as extracted, unchanged
        return
    end
    writer.len = 0
    writer.count = 0
    writer.dropped = 0
    for k, e in pairs(bag) do
        local v = type(e) == "table" and e.value
        if type(k) == "string" and type(v) == "string" then
            local m = e.metadata
            if type(m) ~= "string" then
                m = nil
            end
            C.otel_baggage_put(writer, k, #k, v, #v, m, m and #m or 0)
        else
            invalid()
        end
    end
    if writer.len > 0 then
        set(carrier, fn, "baggage", ffi_string(wbuf, writer.len))
    end
end

local function inject_b3multi(carrier, fn, h)
    if C.otel_b3_format(h, 0, hbuf) ~= B3_LEN then
        return
    end
    set(carrier, fn, "x-b3-traceid", ffi_string(hbuf, 32))
    set(carrier, fn, "x-b3-spanid", ffi_string(hbuf + 33, 16))
    if b3_debug[h] then
        set(carrier, fn, "x-b3-flags", "1")   -- debug implies accept
    else
        set(carrier, fn, "x-b3-sampled", h.trace_flags % 2 == 1 and "1"
                                         or "0")
    end
end

local function inject_vendor(carrier, fn, id, h)
    local ts = tstate[h]
    local n = C.otel_prop_inject(id, h, b3_debug[h] and 1 or 0, ts,
                                 ts and #ts or 0, pbuf, PBUF, b3lens)
    if n <= 0 then
        return
    end
    -- The values lie back to back in pbuf.  Written out, not a loop or a
    -- helper called five times: either ends the caller's trace (LuaJIT
    -- takes a small function entered again from one trace for a loop).
    local names = VENDOR_FIELDS[id]
    local l0, l1, l2 = tonumber(b3lens[0]), tonumber(b3lens[1]),
                       tonumber(b3lens[2])
    local l3, l4 = tonumber(b3lens[3]), tonumber(b3lens[4])
    if l0 > 0 then
        set(carrier, fn, names[1], ffi_string(pbuf, l0))
    end
    if l1 > 0 then
        set(carrier, fn, names[2], ffi_string(pbuf + l0, l1))
    end
    if l2 > 0 then
        set(carrier, fn, names[3], ffi_string(pbuf + l0 + l1, l2))
    end
    if l3 > 0 then
        set(carrier, fn, names[4], ffi_string(pbuf + l0 + l1 + l2, l3))
    end
    if l4 > 0 then
        set(carrier, fn, names[5], ffi_string(pbuf + l0 + l1 + l2 + l3,
                                              l4))
    end
end


-- uberctx-{key} and ot-baggage-{key} headers.
local function inject_vendor_baggage(carrier, fn, id, bag)
    for k, e in pairs(baggage.entries(bag)) do
        local v = type(e) == "table" and e.value
        if type(k) == "string" and type(v) == "string"
           and C.otel_prop_baggage_format(id, k, #k, v, #v, pbuf, PBUF,
                                          b3lens) > 0 then
            local kl = tonumber(b3lens[0])
            set(carrier, fn, ffi_string(pbuf, kl),
                ffi_string(pbuf + kl, b3lens[1]))
        end
    end
end

-- otel.propagation.inject(carrier[, context]): writes the headers of the
-- configured propagators for context (default: the current one) into
-- carrier, a table (carrier[name] = value) or a setter
-- function(name, value).  Span headers are written only for a valid span
-- context; names are lower case.
function _M.inject(carrier, ctx)
    local fn
    local tc = type(carrier)
    if tc == "function" then
        fn = carrier
    elseif tc ~= "table" then
        error("otel.propagation.inject: carrier must be a table or a "
              .. "setter function, got " .. tc, 2)
    end
    local h, bag
    if ctx == nil then
        h, bag = current_span(), current_baggage()
    elseif getmetatable(ctx) == Context then
        h, bag = ctx.span, ctx.baggage
    else
        h = to_handle(ctx)
        if not h then
            error("otel.propagation.inject: context must be a context, a "
                  .. "span or a span context, got " .. type(ctx), 2)
        end
    end
    if stale then
        rebuild()
    end
    if h then
        if use_tc and C.otel_traceparent_format(h, hbuf) == TP_LEN then
            set(carrier, fn, "traceparent", ffi_string(hbuf, TP_LEN))
            local ts = tstate[h]
            if ts then
                set(carrier, fn, "tracestate", ts)
            end
        end
        if use_b3 then
            local n = C.otel_b3_format(h, b3_debug[h] and 1 or 0, hbuf)
            if n == B3_LEN then
                set(carrier, fn, "b3", ffi_string(hbuf, B3_LEN))
            end
        end
        if use_b3multi then
            inject_b3multi(carrier, fn, h)
        end
        if v1 then
            inject_vendor(carrier, fn, v1, h)
            if v2 then
                inject_vendor(carrier, fn, v2, h)
                if v3 then
                    inject_vendor(carrier, fn, v3, h)
                    if v4 then
                        inject_vendor(carrier, fn, v4, h)
                        if v5 then
                            inject_vendor(carrier, fn, v5, h)
                        end
                    end
                end
            end
        end
    end
    if bag then
        if use_bag then
            inject_baggage(carrier, fn, bag)
        end
        for i = 1, #in_vbag do
            inject_vendor_baggage(carrier, fn, in_vbag[i], bag)
        end
    end
end

return _M
