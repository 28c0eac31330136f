-- Samplers for otel.setup{ sampler = ... }.  The core builds and runs the
-- built-in ones (always_on, always_off, trace_id_ratio, parent_based and
-- the rule sampler).  A sampler written in Lua (custom) is run here, on
-- the calling thread, before the core starts the span: the core reports
-- that it decides and takes its decision (C never calls Lua).
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"
local warn = require "otel.warn"

local C = base.C
local type = type
local error = error
local pcall = pcall
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local setmetatable = setmetatable
local getmetatable = getmetatable
local ffi_new = ffi.new
local ffi_string = ffi.string

local _M = {
    -- decisions a custom sampler returns (also true / false)
    DROP = 0, RECORD_ONLY = 1, RECORD_AND_SAMPLE = 2,
}

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

local function check_ratio(ratio, where, level)
    if type(ratio) ~= "number" or ratio ~= ratio or ratio < 0
       or ratio > 1 then
        error(where .. ": ratio must be a number in [0, 1], got "
              .. tostring(ratio), level + 1)
    end
end

function _M.trace_id_ratio(ratio)
    check_ratio(ratio, "otel.sampler.trace_id_ratio", 2)
    return new { type = "trace_id_ratio", ratio = ratio }
end

local DELEGATES = { "remote_parent_sampled", "remote_parent_not_sampled",
                    "local_parent_sampled", "local_parent_not_sampled" }

local function is_sampler(s)
    return type(s) == "table" and getmetatable(s) == Sampler
end
_M.is_sampler = is_sampler

-- A function, or a table with a should_sample method, is taken where a
-- sampler is expected (as custom(x) would wrap it).
local function as_sampler(s)
    if is_sampler(s) then
        return s
    end
    if type(s) == "function"
       or (type(s) == "table" and type(s.should_sample) == "function") then
        return _M.custom(s)
    end
    return nil
end
_M._as_sampler = as_sampler

-- parent_based(root, { remote_parent_sampled = s, ... })
function _M.parent_based(root, delegates)
    root = as_sampler(root)
    if not root then
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
            v = as_sampler(v)
            if not known or not v then
                error("otel.sampler.parent_based: unknown delegate or not a "
                      .. "sampler: " .. tostring(k), 2)
            end
            s[k] = v
        end
    end
    return new(s)
end

-- ---- the rule sampler ------------------------------------------------------

local MATCH_NAME, MATCH_KIND, MATCH_EQUALS, MATCH_PREFIX = 1, 2, 3, 4

-- Rule keys: what they match, on which attribute.
local RULE_KEYS = {
    name = true, kind = true, route = true, method = true,
    path_prefix = true, attributes = true,
    ratio = true, sampler = true, parent_based = true,
}

-- Raised from check_rule, blaming the caller of rules().
local function rule_error(i, msg)
    error("otel.sampler.rules: rule " .. i .. ": " .. msg, 4)
end

local function string_value(v)
    local tv = type(v)
    if tv == "string" then
        return v
    elseif tv == "number" or tv == "boolean" then
        return tostring(v)
    end
    return nil
end

-- One rule, checked, as the conditions C takes and its action.
local function check_rule(i, r)
    if type(r) ~= "table" then
        rule_error(i, "must be a table, got " .. type(r))
    end
    for k in pairs(r) do
        if not RULE_KEYS[k] then
            rule_error(i, "unknown key " .. tostring(k))
        end
    end
    local conds = {}
    if r.name ~= nil then
        if type(r.name) ~= "string" then
            rule_error(i, "name must be a string")
        end
        conds[#conds + 1] = { MATCH_NAME, "", r.name }
    end
    if r.kind ~= nil then
        local k = r.kind
        if k ~= 0 and k ~= 1 and k ~= 2 and k ~= 3 and k ~= 4 then
            rule_error(i, "kind must be one of otel.kind")
        end
        conds[#conds + 1] = { MATCH_KIND, "", k }
    end
    local shorthands = { route = "http.route",
                         method = "http.request.method" }
    for key, attr in pairs(shorthands) do
        if r[key] ~= nil then
            if type(r[key]) ~= "string" then
                rule_error(i, key .. " must be a string")
            end
            conds[#conds + 1] = { MATCH_EQUALS, attr, r[key] }
        end
    end
    if r.path_prefix ~= nil then
        if type(r.path_prefix) ~= "string" then
            rule_error(i, "path_prefix must be a string")
        end
        conds[#conds + 1] = { MATCH_PREFIX, "url.path", r.path_prefix }
    end
    if r.attributes ~= nil then
        if type(r.attributes) ~= "table" then
            rule_error(i, "attributes must be a table")
        end
        for k, v in pairs(r.attributes) do
            local sv = string_value(v)
            if type(k) ~= "string" or k == "" or not sv then
                rule_error(i, "attributes must map keys to strings, "
                           .. "numbers or booleans")
            end
            conds[#conds + 1] = { MATCH_EQUALS, k, sv }
        end
    end
    local action
    if r.sampler ~= nil then
        action = as_sampler(r.sampler)
        if not action or r.ratio ~= nil then
            rule_error(i, "needs one of ratio or sampler (a sampler)")
        end
    elseif r.ratio ~= nil then
        check_ratio(r.ratio, "otel.sampler.rules: rule " .. i, 3)
        action = _M.trace_id_ratio(r.ratio)
    else
        rule_error(i, "needs one of ratio or sampler")
    end
    if r.parent_based then
        action = _M.parent_based(action)
    end
    return { conds = conds, action = action }
end

-- rules({ rule, ... }[, default]): the first rule that matches the span
-- decides, else default (parent_based(always_on)).
function _M.rules(list, default)
    if type(list) ~= "table" then
        error("otel.sampler.rules: expected an array of rules, got "
              .. type(list), 2)
    end
    local s = { type = "rules", rules = {} }
    for i = 1, #list do
        s.rules[i] = check_rule(i, list[i])
    end
    if default ~= nil then
        s.default = as_sampler(default)
        if not s.default then
            error("otel.sampler.rules: default must be a sampler", 2)
        end
    end
    return new(s)
end

-- ---- samplers written in Lua ------------------------------------------------

-- custom(fn | { should_sample = fn, description = "..." }[, description])
-- fn(parent, trace_id, name, kind, attributes, links) returns a decision
-- (otel.sampler.DROP, RECORD_ONLY, RECORD_AND_SAMPLE, or a boolean), and
-- optionally attributes to add and the trace state of the span.
function _M.custom(obj, description)
    local tobj = type(obj)
    if tobj ~= "function"
       and not (tobj == "table" and type(obj.should_sample) == "function")
    then
        error("otel.sampler.custom: expected a function or a table with a "
              .. "should_sample method, got " .. tobj, 2)
    end
    if description == nil and tobj == "table" then
        description = obj.description
        if type(description) == "function" then
            description = description(obj)
        end
    end
    if description ~= nil and type(description) ~= "string" then
        error("otel.sampler.custom: description must be a string", 2)
    end
    return new { type = "custom", obj = obj, desc = description or "" }
end

-- Builds the core sampler (owned by the caller).  Custom samplers are
-- numbered in externs (their id is their index - 1).
local function build(s, externs)
    if s.type == "always_on" then
        return C.otel_sampler_always_on()
    elseif s.type == "always_off" then
        return C.otel_sampler_always_off()
    elseif s.type == "trace_id_ratio" then
        return C.otel_sampler_trace_id_ratio(s.ratio)
    elseif s.type == "custom" then
        externs[#externs + 1] = s.obj
        return C.otel_sampler_extern(#externs - 1, s.desc, #s.desc)
    elseif s.type == "rules" then
        local cs = C.otel_sampler_rules(s.default
                                        and build(s.default, externs)
                                        or nil)
        for _, r in ipairs(s.rules) do
            local i = C.otel_sampler_rules_add(cs, build(r.action, externs))
            for _, c in ipairs(r.conds) do
                local op, k, v = c[1], c[2], c[3]
                if op == MATCH_KIND then
                    C.otel_sampler_rule_match(cs, i, op, nil, 0, nil, v)
                else
                    C.otel_sampler_rule_match(cs, i, op, k, #k, v, #v)
                end
            end
        end
        return cs
    end
    local d = {}
    for i, name in ipairs(DELEGATES) do
        d[i] = s[name] and build(s[name], externs) or nil
    end
    return C.otel_sampler_parent_based(build(s.root, externs), d[1], d[2],
                                       d[3], d[4])
end

function _M.build(s, externs)
    return build(s, externs or {})
end

-- The specification's description, as GetDescription gives it.
function Sampler:description()
    local cs = build(self, {})
    local text = base.cstring(C.otel_sampler_describe, cs)
    C.otel_sampler_free(cs)
    return text
end

-- ---- sampling at span start ---------------------------------------------

-- What the span start path needs of a provider's sampler: nil when the
-- core decides alone from what it has (the built-in samplers), else
-- { keys = attribute keys the rules read, externs = custom samplers }.
function _M._info(p, externs)
    local keys = {}
    local i = 0
    while true do
        local k = base.cstring(C.otel_provider_sampler_key, p, i)
        if k == "" then
            break
        end
        i = i + 1
        keys[i] = k
    end
    if i == 0 and (externs == nil or #externs == 0) then
        return nil
    end
    return { keys = i > 0 and keys or nil,
             externs = externs and #externs > 0 and externs or nil }
end

local MAX_KEYS = 16
local vals = ffi_new("const char *[?]", MAX_KEYS)
local lens = ffi_new("size_t[?]", MAX_KEYS)
-- the strings vals points to, kept alive until the start
local anchor = {}   -- luacheck: ignore 241 (written, read by C)
local tid = ffi_new("uint8_t[16]")
local warned = setmetatable({}, { __mode = "k" })
local STAT_ERRORS = span.stat_index.sampler_errors

local DECISIONS = { [0] = 0, 1, 2, [true] = 2, [false] = 0,
                    drop = 0, record_only = 1, record_and_sample = 2 }

-- A custom sampler, called under pcall: its decision, the attributes
-- and the trace state it gives.  An error (or a decision that is none)
-- drops the span, is counted and warned about once per sampler.
local function run_custom(obj, parent, name, kind, attrs, links)
    local pctx = parent and span.is_valid(parent)
                 and span.span_context(parent) or nil
    local trace_id = span.hex(tid, 16)
    local ok, d, add, ts
    if type(obj) == "function" then
        ok, d, add, ts = pcall(obj, pctx, trace_id, name, kind, attrs or {},
                               links or {})
    else
        ok, d, add, ts = pcall(obj.should_sample, obj, pctx, trace_id, name,
                               kind, attrs or {}, links or {})
    end
    local decision = ok and DECISIONS[d]
    if not decision then
        C.otel_stats_add(STAT_ERRORS, 1)
        if not warned[obj] then
            warned[obj] = true
            warn.once("otel.sampler.custom: the sampler "
                      .. (ok and "returned " .. tostring(d)
                          .. ", not a decision" or "raised: " .. tostring(d))
                      .. "; its spans are dropped")
        end
        return 0
    end
    if type(add) ~= "table" then
        add = nil
    end
    if type(ts) ~= "string" then
        ts = nil
    end
    return decision, add, ts
end

-- Gives the core what the sampler needs for the span about to start on
-- tracer c (call right before the start, nothing in between): the start
-- attributes the rules read and, when a custom sampler decides, its
-- decision.  Returns the attributes and trace state a custom sampler
-- gave, for finish().
function _M._prepare(info, c, parent, name, kind, opts)
    local attrs = opts and opts.attributes
    if type(attrs) ~= "table" then
        attrs = nil
    end
    local keys = info.keys
    if keys and attrs then
        for i = 1, #keys do
            local v = string_value(attrs[keys[i]])
            anchor[i] = v
            vals[i - 1] = v
            lens[i - 1] = v and #v or 0
        end
        C.otel_sampling_input(vals, lens, #keys)
    end
    local externs = info.externs
    if not externs or c == nil then
        return nil
    end
    local d = C.otel_sampling_run(c, parent, name, #name, kind, tid)
    if d < 0 then
        return nil
    end
    local add, ts
    if d >= 16 then
        -- the sampler may start spans itself, which reuse tid
        local saved = ffi_string(tid, 16)
        d, add, ts = run_custom(externs[d - 15], parent, name, kind, attrs,
                                opts and opts.links)
        ffi.copy(tid, saved, 16)
    end
    C.otel_sampling_preset(tid, d)
    return add, ts
end

-- After the start: the custom sampler's attributes and trace state.
function _M._finish(h, add, ts)
    if ts then
        span.set_trace_state(h, ts)
    end
    if add and h.recording == 1 then
        span.set_attrs(h, 0, add, 3)
    end
end

return _M
