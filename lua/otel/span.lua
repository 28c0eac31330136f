-- Span handles: the methods of a span, attribute values, span contexts.
--
-- A span object is an otel_span_handle cdata: the span context by value
-- plus a generation-checked reference to the core's record.  After
-- finish() every call through it is ignored by the core (and counted).
local ffi = require "ffi"
local base = require "otel.ffi"
local warn = require "otel.warn"

local C = base.C
local state = base.state
local ffi_new = ffi.new
local ffi_string = ffi.string
local ffi_istype = ffi.istype
local ffi_gc = ffi.gc
local type = type
local floor = math.floor
local tostring = tostring
local pairs = pairs
local next = next
local error = error
local setmetatable = setmetatable
local rawget = rawget
local traceback = debug.traceback

local VT_STRING, VT_BOOL, VT_INT, VT_DOUBLE =
    base.VT_STRING, base.VT_BOOL, base.VT_INT, base.VT_DOUBLE
local EINVAL = base.EINVAL
local ELIMIT = base.ELIMIT
local EREJECTED = -7

local handle_t = ffi.typeof("otel_span_handle")
local int64_t = ffi.typeof("int64_t")
local uint64_t = ffi.typeof("uint64_t")

local _M = {}

-- Counter indexes by name, for what Lua itself drops or ignores.
local stat_index = {}
for i = 0, C.otel_stats_count() - 1 do
    stat_index[ffi_string(C.otel_stats_name(i))] = i
end
_M.stat_index = stat_index
local STAT_REJECTED = stat_index.values_rejected

-- Trace state of handles that have one (rare: keeps the handle small).
-- `has_ts` stays false until one is set, so the common path skips the
-- lookup.
local tstate = setmetatable({}, { __mode = "k" })
_M.tstate = tstate
_M.has_ts = false

-- ts: a string or an otel.tracestate object.
function _M.set_trace_state(h, ts)
    if type(ts) == "table" and type(ts.string) == "function" then
        ts = ts:string()
    end
    if type(ts) == "string" and ts ~= "" then
        tstate[h] = ts
        _M.has_ts = true
        if h.recording == 1 then
            C.otel_span_set_trace_state(h, ts, #ts)
        end
    end
end

-- A rejected attribute value: a clear error in strict mode (level is the
-- caller to blame, counted from the function calling this), else counted.
local function rejected(msg, level, counted)
    if not counted then
        C.otel_stats_add(STAT_REJECTED, 1)
    end
    if state.strict then
        error(msg, level + 1)
    end
end
_M.rejected = rejected

-- Reusable array buffers, grown on demand.
local cap = 0
local sbuf, lbuf, ibuf, dbuf, bbuf

local function reserve(n)
    if n > cap then
        cap = n < 16 and 16 or n
        sbuf = ffi_new("const char *[?]", cap)
        lbuf = ffi_new("size_t[?]", cap)
        ibuf = ffi_new("int64_t[?]", cap)
        dbuf = ffi_new("double[?]", cap)
        bbuf = ffi_new("int[?]", cap)
    end
end

local function is_int64(v)
    return ffi_istype(int64_t, v)
        or (ffi_istype(uint64_t, v) and v <= 9223372036854775807ULL)
end

local function integral(v)
    return v == floor(v) and v >= -9223372036854775808
        and v < 9223372036854775808
end

-- Returns a status, and a reason when the value cannot be kept.
local function set_array(h, target, k, t)
    local n = #t
    local count = 0
    for _ in pairs(t) do
        count = count + 1
    end
    if count ~= n then
        return EREJECTED, "a table that is not an array"
    end
    if n == 0 then
        return C.otel_attr_array(h, target, k, #k, VT_STRING, nil, nil, 0)
    end
    reserve(n)
    local first = type(t[1])
    if first == "string" then
        for i = 1, n do
            local v = t[i]
            if type(v) ~= "string" then
                return EREJECTED, "a mixed array"
            end
            sbuf[i - 1] = v
            lbuf[i - 1] = #v
        end
        return C.otel_attr_array(h, target, k, #k, VT_STRING, sbuf, lbuf, n)
    elseif first == "number" then
        local ints = true
        for i = 1, n do
            local v = t[i]
            if type(v) ~= "number" then
                return EREJECTED, "a mixed array"
            end
            if ints and not integral(v) then
                ints = false
            end
        end
        if ints then
            for i = 1, n do
                ibuf[i - 1] = t[i]
            end
            return C.otel_attr_array(h, target, k, #k, VT_INT, ibuf, nil, n)
        end
        for i = 1, n do
            dbuf[i - 1] = t[i]
        end
        return C.otel_attr_array(h, target, k, #k, VT_DOUBLE, dbuf, nil, n)
    elseif first == "boolean" then
        for i = 1, n do
            local v = t[i]
            if type(v) ~= "boolean" then
                return EREJECTED, "a mixed array"
            end
            bbuf[i - 1] = v and 1 or 0
        end
        return C.otel_attr_array(h, target, k, #k, VT_BOOL, bbuf, nil, n)
    elseif first == "cdata" then
        for i = 1, n do
            local v = t[i]
            if not is_int64(v) then
                return EREJECTED, "a mixed array"
            end
            ibuf[i - 1] = v
        end
        return C.otel_attr_array(h, target, k, #k, VT_INT, ibuf, nil, n)
    end
    return EREJECTED, "an array of " .. first
end

-- Sets one attribute on a span (target 0), event (i + 1) or link (-i - 1).
-- Returns a status and, for a value that cannot be kept, a reason.
local function set_value(h, target, k, v)
    local tv = type(v)
    if tv == "string" then
        return C.otel_attr_str(h, target, k, #k, v, #v)
    elseif tv == "number" then
        if integral(v) then
            return C.otel_attr_int(h, target, k, #k, v)
        end
        return C.otel_attr_double(h, target, k, #k, v)
    elseif tv == "boolean" then
        return C.otel_attr_bool(h, target, k, #k, v and 1 or 0)
    elseif tv == "nil" then
        return 0            -- nil drops the key: nothing to record
    elseif tv == "table" then
        return set_array(h, target, k, v)
    elseif tv == "cdata" and is_int64(v) then
        return C.otel_attr_int(h, target, k, #k, v)
    end
    return EREJECTED, "a value of type " .. tv
end

local hexbuf = ffi_new("char[32]")

local function hex(bytes, n)
    C.otel_hex_encode(bytes, n, hexbuf)
    return ffi_string(hexbuf, 2 * n)
end
_M.hex = hex

-- A span limit dropped something of span h: one debug message per span
-- (the counters of otel.stats() count every drop).
local limit_logged = setmetatable({}, { __mode = "k" })

local function limit_dropped(h, what)
    if not limit_logged[h] then
        limit_logged[h] = true
        warn.debug("span " .. hex(h.span_id, 8) .. ": " .. what
                   .. " dropped by a span limit (further drops on this "
                   .. "span are only counted)")
    end
end

-- Sets key k and reports a rejection; level blames the caller.
local function set_attr(h, target, k, v, level)
    if type(k) ~= "string" then
        return rejected("otel: attribute key must be a string, got "
                        .. type(k), level + 1)
    end
    local rc, why = set_value(h, target, k, v)
    if rc == EREJECTED and why then
        rejected("otel: attribute '" .. k .. "': " .. why .. " is not "
                 .. "allowed (string, boolean, number, int64 cdata or a "
                 .. "homogeneous array of one of them)", level + 1)
    elseif rc == EINVAL then
        rejected("otel: attribute key must not be empty", level + 1, true)
    elseif rc == ELIMIT then
        limit_dropped(h, "attribute '" .. k .. "'")
    end
end

local function set_attrs(h, target, t, level)
    if type(t) ~= "table" then
        error("otel: attributes must be a table, got " .. type(t), level + 1)
    end
    for k, v in pairs(t) do
        set_attr(h, target, k, v, level + 1)
    end
end
_M.set_attrs = set_attrs

-- ---- span contexts --------------------------------------------------------


local SpanContext = {}
_M.SpanContext = SpanContext

-- trace_id_bytes and span_id_bytes (16 and 8 raw bytes), made when read.
local BYTES = { trace_id_bytes = { "trace_id", 16 },
                span_id_bytes = { "span_id", 8 } }
local rawbuf = ffi_new("uint8_t[16]")

SpanContext.__index = function(t, k)
    local b = BYTES[k]
    if not b then
        return SpanContext[k]
    end
    local h = rawget(t, "_h")
    if h then
        return ffi_string(h[b[1]], b[2])
    end
    local hex_id = rawget(t, b[1])
    if type(hex_id) == "string"
       and C.otel_hex_decode(hex_id, #hex_id, rawbuf, b[2]) == 0 then
        return ffi_string(rawbuf, b[2])
    end
    return nil
end

local function is_valid(h)
    for i = 0, 7 do
        if h.span_id[i] ~= 0 then
            for j = 0, 15 do
                if h.trace_id[j] ~= 0 then
                    return true
                end
            end
            return false
        end
    end
    return false
end
_M.is_valid = is_valid

local function span_context(h)
    return setmetatable({
        trace_id = hex(h.trace_id, 16),
        span_id = hex(h.span_id, 8),
        trace_flags = h.trace_flags,
        sampled = h.trace_flags % 2 == 1,
        is_remote = h.remote == 1,
        trace_state = tstate[h] or "",
        is_valid = is_valid(h),
        _h = h,
    }, SpanContext)
end

_M.span_context = span_context

-- A handle from ids in hex: for span contexts built by hand and links.
local function handle_from_hex(trace_id, span_id, flags, remote)
    local h = handle_t()
    if type(trace_id) ~= "string" or type(span_id) ~= "string"
       or C.otel_hex_decode(trace_id, #trace_id, h.trace_id, 16) ~= 0
       or C.otel_hex_decode(span_id, #span_id, h.span_id, 8) ~= 0 then
        return nil
    end
    h.trace_flags = flags or 0
    h.remote = remote and 1 or 0
    return h
end
_M.handle_from_hex = handle_from_hex

-- The handle behind a span, a span context or a context (nil when x is
-- none of them).  A context without a span gives the invalid handle.
local INVALID = handle_t()
_M.INVALID = INVALID

local function to_handle(x)
    if ffi_istype(handle_t, x) then
        return x
    end
    if type(x) == "table" then
        local mt = getmetatable(x)
        if mt == SpanContext then
            if x._h then
                return x._h
            end
            local h = handle_from_hex(x.trace_id, x.span_id, x.trace_flags,
                                      x.is_remote)
            if h then
                _M.set_trace_state(h, x.trace_state)
            end
            return h
        elseif mt == _M.Context then
            return x.span or INVALID
        elseif x.trace_id and x.span_id then
            -- a plain table in the shape of a span context
            local h = handle_from_hex(x.trace_id, x.span_id,
                                      x.trace_flags or (x.sampled and 1),
                                      x.is_remote)
            if h then
                _M.set_trace_state(h, x.trace_state)
            end
            return h
        end
    end
    return nil
end
_M.to_handle = to_handle

-- ---- span methods ----------------------------------------------------------

local Span = {}
_M.Span = Span

local function time_arg(t, what, level)
    if t == nil then
        return 0
    end
    if type(t) == "number" then
        if t >= 0 and t == t then
            return t
        end
    elseif is_int64(t) and t >= 0 then
        return t
    end
    error("otel: " .. what .. " must be a unix time in nanoseconds "
          .. "(a number or int64 cdata), got " .. tostring(t), level + 1)
end
_M.time_arg = time_arg

function Span:set_attribute(k, v)
    if self.recording == 1 then
        set_attr(self, 0, k, v, 2)
    end
    return self
end

function Span:set_attributes(t)
    if self.recording == 1 then
        set_attrs(self, 0, t, 2)
    elseif type(t) ~= "table" then
        error("otel: attributes must be a table, got " .. type(t), 2)
    end
    return self
end

function Span:add_event(name, attrs, time)
    if type(name) ~= "string" then
        error("otel: event name must be a string, got " .. type(name), 2)
    end
    local t = time_arg(time, "event time", 2)
    if attrs ~= nil and type(attrs) ~= "table" then
        error("otel: event attributes must be a table, got "
              .. type(attrs), 2)
    end
    if self.recording == 1 then
        local idx = C.otel_span_add_event(self, name, #name, t)
        if idx >= 0 and attrs then
            set_attrs(self, idx + 1, attrs, 2)
        elseif idx == ELIMIT then
            limit_dropped(self, "event '" .. name .. "'")
        end
    end
    return self
end

-- Adds a link to h: C keeps a link to an invalid context only when it
-- carries a trace state or attributes.
local function add_link(h, ctx, ts, attrs)
    local n = (type(attrs) == "table" and next(attrs) ~= nil) and 1 or 0
    local rc = C.otel_span_add_link(h, ctx, ts, ts and #ts or 0, n)
    if rc == ELIMIT then
        limit_dropped(h, "a link")
    end
    return rc
end
_M.add_link = add_link

function Span:add_link(ctx, attrs)
    local h = to_handle(ctx)
    if not h then
        error("otel: link context must be a span or a span context, got "
              .. type(ctx), 2)
    end
    if attrs ~= nil and type(attrs) ~= "table" then
        error("otel: link attributes must be a table, got "
              .. type(attrs), 2)
    end
    if self.recording == 1 then
        local ts = tstate[h]
        local idx = add_link(self, h, ts, attrs)
        if idx >= 0 and attrs then
            set_attrs(self, -idx - 1, attrs, 2)
        elseif idx == EINVAL then
            rejected("otel: link to an invalid span context", 2, true)
        end
    end
    return self
end

-- exception.type: the error's `type` field when it is a table that has
-- one, else the Lua type of the error value.
local function exception_type(err)
    if type(err) == "table" and type(err.type) == "string" then
        return err.type
    end
    return type(err)
end

local function exception_message(err)
    if type(err) == "table" and type(err.message) == "string" then
        return err.message
    end
    return tostring(err)
end
_M.exception_message = exception_message

local function record_exception(h, err, attrs, stack)
    local idx = C.otel_span_add_event(h, "exception", 9, 0)
    if idx < 0 then
        return
    end
    local target = idx + 1
    set_attr(h, target, "exception.type", exception_type(err), 3)
    set_attr(h, target, "exception.message", exception_message(err), 3)
    if stack then
        set_attr(h, target, "exception.stacktrace", stack, 3)
    end
    if attrs then
        set_attrs(h, target, attrs, 3)
    end
end
_M.record_exception = record_exception

function Span:record_exception(err, attrs)
    if attrs ~= nil and type(attrs) ~= "table" then
        error("otel: exception attributes must be a table, got "
              .. type(attrs), 2)
    end
    if self.recording == 1 then
        local stack = attrs and attrs["exception.stacktrace"]
        if stack == nil then
            stack = traceback("", 2):gsub("^\n", "")
        end
        record_exception(self, err, attrs, stack)
    end
    return self
end

function Span:set_status(code, desc)
    if code ~= 0 and code ~= 1 and code ~= 2 then
        error("otel: status must be otel.status.UNSET, OK or ERROR, got "
              .. tostring(code), 2)
    end
    if desc ~= nil and type(desc) ~= "string" then
        error("otel: status description must be a string, got "
              .. type(desc), 2)
    end
    if self.recording == 1 then
        C.otel_span_set_status(self, code, desc, desc and #desc or 0)
    end
    return self
end

function Span:update_name(name)
    if type(name) ~= "string" then
        error("otel: span name must be a string, got " .. type(name), 2)
    end
    if self.recording == 1 then
        C.otel_span_update_name(self, name, #name)
    end
    return self
end

function Span:is_recording()
    return self.recording == 1 and C.otel_span_is_recording(self) == 1
end

function Span:context()
    return span_context(self)
end

function Span:finish(end_time)
    if self.recording == 1 then
        C.otel_span_end(self, time_arg(end_time, "end time", 2))
        ffi_gc(self, nil)   -- ended: nothing for the collector to free
    end
end

ffi.metatype(handle_t, {
    __index = Span,
    __tostring = function(h)
        return "otel.span(" .. hex(h.trace_id, 16) .. "/"
               .. hex(h.span_id, 8)
               .. (h.recording == 1 and "" or ", non-recording") .. ")"
    end,
})

_M.handle_t = handle_t
_M.set_attr = set_attr
return _M
