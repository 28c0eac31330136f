-- Propagation: extract and inject of W3C Trace Context (traceparent,
-- tracestate), W3C Baggage and B3 (single and multi header).
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
local b3vals = ffi_new("const char *[4]")
local b3lens = ffi_new("size_t[4]")

-- Extracted B3 contexts that carry the debug flag, re-sent on inject
-- (the OpenTelemetry B3 requirements).  Keyed by the remote handle.
local b3_debug = setmetatable({}, { __mode = "k" })

local function invalid()
    C.otel_stats_add(STAT_INVALID, 1)
end

-- ---- configuration ------------------------------------------------------

local KNOWN = { tracecontext = true, baggage = true, b3 = true,
                b3multi = true }

-- The configured propagators, in order, and as flags for the per-call
-- paths (straight code: a loop per request would make LuaJIT compile it
-- as a separate, short trace).
local order = {}
local use_tc, use_bag, use_b3, use_b3multi, b3_first

-- The same order as the core's propagator ids (otel_extract_headers).
local IDS = { tracecontext = 1, baggage = 2, b3 = 3, b3multi = 4 }
local props = ffi_new("uint8_t[?]", 8)
local n_props = 0

local function set_order(o)
    order = o
    n_props = #o
    for i = 1, #o do
        props[i - 1] = IDS[o[i]]
    end
    use_tc, use_bag, use_b3, use_b3multi, b3_first =
        false, false, false, false, false
    for i = 1, #o do
        local p = o[i]
        if p == "tracecontext" then
            use_tc = true
        elseif p == "baggage" then
            use_bag = true
        elseif p == "b3" then
            use_b3 = true
            b3_first = b3_first or not use_tc
        else
            use_b3multi = true
            b3_first = b3_first or not use_tc
        end
    end
end

-- list: array of names; from_env: unknown names are ignored with a
-- warning (the spec's rule for OTEL_PROPAGATORS), else they are an error.
local function configure(list, from_env, level)
    local o, seen = {}, {}
    for i = 1, #list do
        local name = list[i]
        if type(name) ~= "string" then
            error("otel.setup: propagators must be an array of names, got "
                  .. "a " .. type(name), level + 1)
        end
        if KNOWN[name] then
            if not seen[name] then
                seen[name] = true
                o[#o + 1] = name
            end
        elseif name ~= "none" and not from_env then
            error("otel.setup: unknown propagator '" .. name .. "' "
                  .. "(tracecontext, baggage, b3, b3multi or none)",
                  level + 1)
        elseif name ~= "none" then
            warn.once("OTEL_PROPAGATORS names an unknown propagator '"
                      .. name .. "': it is left out")
        end
    end
    set_order(o)
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

-- The configured propagator names, in order.
function _M.propagators()
    local out = {}
    for i = 1, #order do
        out[i] = order[i]
    end
    return out
end

-- The header names inject may set (the spec's Fields).
function _M.fields()
    local out = {}
    for i = 1, #order do
        local p = order[i]
        if p == "tracecontext" then
            out[#out + 1] = "traceparent"
            out[#out + 1] = "tracestate"
        elseif p == "baggage" then
            out[#out + 1] = "baggage"
        elseif p == "b3" then
            out[#out + 1] = "b3"
        else
            out[#out + 1] = "x-b3-traceid"
            out[#out + 1] = "x-b3-spanid"
            out[#out + 1] = "x-b3-sampled"
            out[#out + 1] = "x-b3-flags"
        end
    end
    return out
end

-- ---- reading the carrier -------------------------------------------------

-- A plain table is read case-insensitively: the lower-case name first,
-- then (once per extract) a pass over keys of other cases.  A table with
-- a metatable (ngx.req.get_headers()) does its own folding in __index.
local WANTED = { traceparent = true, tracestate = true, baggage = true,
                 b3 = true, ["x-b3-traceid"] = true, ["x-b3-spanid"] = true,
                 ["x-b3-sampled"] = true, ["x-b3-flags"] = true }
local folded = {}          -- lower-case name -> value, for this extract
local fold_state = 0       -- 0 none, 1 not folded yet, 2 folded
local lowered = {}         -- header name -> lower case, bounded
local n_lowered = 0

local function unfold()
    folded.traceparent, folded.tracestate, folded.baggage = nil, nil, nil
    folded.b3, folded["x-b3-traceid"], folded["x-b3-spanid"] = nil, nil, nil
    folded["x-b3-sampled"], folded["x-b3-flags"] = nil, nil
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
    local bag = bag_from_header(s)
    if into == nil then
        return bag
    end
    local out = bag_copy(into)
    for k, e in pairs(baggage.entries(bag)) do
        out[k] = e
    end
    return out
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
    local sp
    if b3_first then
        sp = extract_b3(carrier, fn)
        if sp == nil and use_tc then
            sp = extract_tracecontext(carrier, fn)
        end
    else
        if use_tc then
            sp = extract_tracecontext(carrier, fn)
        end
        if sp == nil and (use_b3 or use_b3multi) then
            sp = extract_b3(carrier, fn)
        end
    end
    local bag = ctx and ctx.baggage
    if use_bag then
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
    end
    if use_bag and bag then
        inject_baggage(carrier, fn, bag)
    end
end

return _M
