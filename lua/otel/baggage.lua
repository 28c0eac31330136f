-- Baggage: name/value pairs carried by a context, as in the OpenTelemetry
-- Baggage API.  Contexts are immutable: set and remove return a new
-- context, which the caller attaches (otel.context.attach) or passes on.
--
-- On a context, baggage is a table name -> { value = string,
-- metadata = string or nil } that is never changed once built, except
-- that a table extracted from a header is filled on first use: a request
-- that only passes baggage through (extract, then inject) re-sends the
-- validated header without decoding it.  So read baggage through this
-- module (get, all), not by iterating ctx.baggage.
local ffi = require "ffi"
local base = require "otel.ffi"
local context = require "otel.context"

local C = base.C
local ffi_new = ffi.new
local ffi_string = ffi.string
local type = type
local pairs = pairs
local next = next
local error = error
local getmetatable = getmetatable
local setmetatable = setmetatable

local Context = context.Context
local new_context = context.new
local current = context.current
local current_baggage = context.current_baggage

local BAG_MAX = 8192            -- OTEL_BAGGAGE_MAX_BYTES

local _M = {}

-- A table extracted from a header holds only that (validated) header,
-- under a private key, until it is first read: then it is filled with
-- its entries (the same content) and the key goes.
local HEADER = setmetatable({}, { __tostring = function()
    return "otel.baggage.HEADER"
end })

local vbuf = ffi_new("char[?]", BAG_MAX)
local iter = ffi_new("otel_baggage_iter")
local entry = ffi_new("otel_baggage_entry")

-- For otel.propagation: a baggage table for a validated header.
function _M.from_header(s)
    return { [HEADER] = s }
end

-- The validated header of a baggage table not read since extraction.
function _M.header_of(bag)
    return bag[HEADER]
end

-- The table with its entries (a name repeated in the header: the last).
local function entries(bag)
    local s = bag and bag[HEADER]
    if s then
        bag[HEADER] = nil
        iter.pos = 0
        iter.bytes = 0
        iter.count = 0
        iter.dropped = 0
        while C.otel_baggage_next(s, #s, iter, vbuf, BAG_MAX, entry) == 1 do
            local meta
            if entry.meta_len > 0 then
                meta = ffi_string(entry.meta, entry.meta_len)
            end
            bag[ffi_string(entry.key, entry.key_len)] = {
                value = ffi_string(entry.value, entry.value_len),
                metadata = meta,
            }
        end
    end
    return bag
end
_M.entries = entries

local function check_name(name, fn)
    if type(name) ~= "string" or name == "" then
        error("otel.baggage." .. fn .. ": name must be a non-empty string, "
              .. "got " .. (name == "" and "\"\"" or type(name)), 3)
    end
end

local function check_ctx(ctx, fn)
    if ctx ~= nil and getmetatable(ctx) ~= Context then
        error("otel.baggage." .. fn .. ": expected a context, got "
              .. type(ctx), 3)
    end
end

-- A copy of bag's entries (without skip), over which more can be set.
local function copy(bag, skip)
    local out = {}
    if bag then
        for k, e in pairs(entries(bag)) do
            if k ~= skip then
                out[k] = e
            end
        end
    end
    return out
end
_M.copy = copy

local function bag_of(ctx)
    if ctx == nil then
        return entries(current_baggage())
    end
    return entries(ctx.baggage)
end

-- get(name[, ctx]) -> value, metadata (nil when absent); reads the
-- current context by default.
function _M.get(name, ctx)
    check_name(name, "get")
    check_ctx(ctx, "get")
    local bag = bag_of(ctx)
    local e = bag and bag[name]
    if e then
        return e.value, e.metadata
    end
    return nil
end

-- set(name, value[, metadata][, ctx]) -> a new context: ctx (default the
-- current context) with name set.  metadata is the W3C property string
-- (e.g. "ttl=30;private"), sent verbatim after the value.
function _M.set(name, value, metadata, ctx)
    if ctx == nil and getmetatable(metadata) == Context then
        ctx, metadata = metadata, nil
    end
    check_name(name, "set")
    if type(value) ~= "string" then
        error("otel.baggage.set: value must be a string, got "
              .. type(value), 2)
    end
    if metadata ~= nil and type(metadata) ~= "string" then
        error("otel.baggage.set: metadata must be a string, got "
              .. type(metadata), 2)
    end
    check_ctx(ctx, "set")
    local c = ctx or current()
    local bag = copy(c.baggage)
    bag[name] = { value = value, metadata = metadata }
    return new_context(c.span, bag)
end

-- remove(name[, ctx]) -> a new context without name.
function _M.remove(name, ctx)
    check_name(name, "remove")
    check_ctx(ctx, "remove")
    local c = ctx or current()
    local bag = copy(c.baggage, name)
    return new_context(c.span, next(bag) ~= nil and bag or nil)
end

-- clear([ctx]) -> a new context with no baggage.
function _M.clear(ctx)
    check_ctx(ctx, "clear")
    return new_context((ctx or current()).span, nil)
end

-- all([ctx]) -> a new table name -> { value =, metadata = }.
function _M.all(ctx)
    check_ctx(ctx, "all")
    local out = {}
    local bag = bag_of(ctx)
    if bag then
        for k, e in pairs(bag) do
            out[k] = { value = e.value, metadata = e.metadata }
        end
    end
    return out
end

return _M
