-- W3C TraceState: an immutable list of vendor key=value members.
-- set() and delete() return a new TraceState; keys and values are
-- validated as W3C Trace Context says, and an invalid one leaves the
-- list as it was (counted in values_rejected).  A TraceState is taken
-- wherever a trace state string is: opts.trace_state of start_span and
-- start_as_current_span, the trace_state of a span context given to
-- inject, a link or a parent.
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"

local C = base.C
local type = type
local error = error
local setmetatable = setmetatable
local getmetatable = getmetatable
local ipairs = ipairs
local concat = table.concat
local ffi_string = ffi.string

local _M = {}

local TraceState = {}
TraceState.__index = TraceState
_M.TraceState = TraceState

local MAX_MEMBERS = 32
local TS_MAX = 512
local buf = ffi.new("char[?]", TS_MAX)
local STAT_REJECTED = span.stat_index.values_rejected

local function new(keys, vals)
    return setmetatable({ keys = keys, vals = vals }, TraceState)
end

-- key = simple-key / tenant-id "@" system-id (W3C Trace Context).
local function valid_key(k)
    if type(k) ~= "string" or #k == 0 or #k > 256 then
        return false
    end
    if k:find("^[a-z][a-z0-9_%-%*/]*$") then
        return true
    end
    local tenant, system = k:match("^([a-z0-9][a-z0-9_%-%*/]*)@"
                                   .. "([a-z][a-z0-9_%-%*/]*)$")
    return tenant ~= nil and #tenant <= 241 and #system <= 14
end

-- value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr =
-- %x21-2B / %x2D-3C / %x3E-7E (no ',' and no '=').
local function valid_value(v)
    return type(v) == "string" and #v >= 1 and #v <= 256
           and not v:find("[^\32-\126]") and not v:find("[,=]")
           and v:sub(-1) ~= " "
end

local function rejected()
    C.otel_stats_add(STAT_REJECTED, 1)
end

-- otel.tracestate.parse(header) -> TraceState (invalid members dropped,
-- as extract drops them).
function _M.parse(header)
    if header == nil then
        header = ""
    elseif type(header) ~= "string" then
        error("otel.tracestate.parse: expected a string, got "
              .. type(header), 2)
    end
    local keys, vals = {}, {}
    local n = C.otel_tracestate_clean(header, #header, buf, TS_MAX)
    local clean = n > 0 and ffi_string(buf, n) or ""
    for member in clean:gmatch("[^,]+") do
        local k, v = member:match("^%s*([^=%s]+)=(.-)%s*$")
        if k then
            keys[#keys + 1] = k
            vals[k] = v
        end
    end
    return new(keys, vals)
end

-- otel.tracestate.new() -> an empty TraceState.
function _M.new()
    return new({}, {})
end

function _M.is_tracestate(x)
    return type(x) == "table" and getmetatable(x) == TraceState
end

-- A new TraceState: keys and vals, then the members of ts but key.
local function copy_without(ts, key, keys, vals)
    for _, k in ipairs(ts.keys) do
        if k ~= key then
            keys[#keys + 1] = k
            vals[k] = ts.vals[k]
        end
    end
    return new(keys, vals)
end

function TraceState:get(key)
    return self.vals[key]
end

-- A new TraceState with key=value first (the specification moves an
-- updated key to the front); the same one when key or value is invalid,
-- or when a new key would make it longer than 32 members.
function TraceState:set(key, value)
    if not valid_key(key) or not valid_value(value)
       or (self.vals[key] == nil and #self.keys >= MAX_MEMBERS) then
        rejected()
        return self
    end
    return copy_without(self, key, { key }, { [key] = value })
end

-- A new TraceState without key.
function TraceState:delete(key)
    if self.vals[key] == nil then
        return self
    end
    return copy_without(self, key, {}, {})
end

-- The header value: key=value members joined by ','.
function TraceState:string()
    local parts = {}
    for i, k in ipairs(self.keys) do
        parts[i] = k .. "=" .. self.vals[k]
    end
    return concat(parts, ",")
end

TraceState.__tostring = TraceState.string

return _M
