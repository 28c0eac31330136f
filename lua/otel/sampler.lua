-- Sampler descriptions for otel.setup{ sampler = ... }; the core builds
-- and runs the samplers.
local base = require "otel.ffi"

local C = base.C
local type = type
local error = error
local setmetatable = setmetatable
local getmetatable = getmetatable
local tostring = tostring

local _M = {}

local Sampler = {}
Sampler.__index = Sampler
_M.Sampler = Sampler

local function new(t)
    return setmetatable(t, Sampler)
end

function _M.always_on()
    return new { type = "always_on" }
end

function _M.always_off()
    return new { type = "always_off" }
end

function _M.trace_id_ratio(ratio)
    if type(ratio) ~= "number" or ratio ~= ratio or ratio < 0
       or ratio > 1 then
        error("otel.sampler.trace_id_ratio: ratio must be a number in "
              .. "[0, 1], got " .. tostring(ratio), 2)
    end
    return new { type = "trace_id_ratio", ratio = ratio }
end

local DELEGATES = { "remote_parent_sampled", "remote_parent_not_sampled",
                    "local_parent_sampled", "local_parent_not_sampled" }

local function is_sampler(s)
    return type(s) == "table" and getmetatable(s) == Sampler
end
_M.is_sampler = is_sampler

-- parent_based(root, { remote_parent_sampled = s, ... })
function _M.parent_based(root, delegates)
    if not is_sampler(root) then
        error("otel.sampler.parent_based: root must be a sampler", 2)
    end
    local s = { type = "parent_based", root = root }
    if delegates ~= nil then
        if type(delegates) ~= "table" then
            error("otel.sampler.parent_based: delegates must be a table", 2)
        end
        for k, v in pairs(delegates) do
            local known = false
            for _, name in ipairs(DELEGATES) do
                known = known or k == name
            end
            if not known or not is_sampler(v) then
                error("otel.sampler.parent_based: unknown delegate or not a "
                      .. "sampler: " .. tostring(k), 2)
            end
            s[k] = v
        end
    end
    return new(s)
end

-- Builds the core sampler (owned by the caller).
function _M.build(s)
    if s.type == "always_on" then
        return C.otel_sampler_always_on()
    elseif s.type == "always_off" then
        return C.otel_sampler_always_off()
    elseif s.type == "trace_id_ratio" then
        return C.otel_sampler_trace_id_ratio(s.ratio)
    end
    local d = {}
    for i, name in ipairs(DELEGATES) do
        d[i] = s[name] and _M.build(s[name]) or nil
    end
    return C.otel_sampler_parent_based(_M.build(s.root), d[1], d[2], d[3],
                                       d[4])
end

-- The specification's description, as GetDescription gives it.
function Sampler:description()
    local cs = _M.build(self)
    local text = base.cstring(C.otel_sampler_describe, cs)
    C.otel_sampler_free(cs)
    return text
end

return _M
