-- Finished spans of exporter "memory", as plain tables (for tests).
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"

local C = base.C
local state = base.state
local ffi_string = ffi.string
local ffi_new = ffi.new
local hex = span.hex

local _M = {}

local sv = ffi_new("otel_span_view")
local av = ffi_new("otel_attr_view")
local ev = ffi_new("otel_event_view")
local lv = ffi_new("otel_link_view")

local VT_ARRAY = 8
local SCOPE = -2147483648           -- OTEL_TARGET_SCOPE

-- An int64 as a Lua number when exact, else as int64 cdata.
local function int_value(i)
    if i >= -9007199254740992LL and i <= 9007199254740992LL then
        return tonumber(i)
    end
    return ffi_new("int64_t", i)
end
_M.int_value = int_value

local function scalar(v)
    local t = v.type
    if t == base.VT_STRING then
        return ffi_string(v.s, v.n)
    elseif t == base.VT_BOOL then
        return v.b ~= 0
    elseif t == base.VT_INT then
        return int_value(v.i)
    end
    return tonumber(v.d)
end

-- Reads n attributes through get(j, e, view) into a table.
local function attributes(n, get)
    local out = {}
    for j = 0, n - 1 do
        get(j, -1, av)
        local key = ffi_string(av.key, av.key_len)
        if av.type >= VT_ARRAY then
            local arr, count = {}, av.n
            for e = 0, count - 1 do
                get(j, e, av)
                arr[e + 1] = scalar(av)
            end
            out[key] = arr
        else
            out[key] = scalar(av)
        end
    end
    return out
end
_M.attributes = attributes

local function str(p, n)
    return p ~= nil and ffi_string(p, n) or ""
end

function _M.resource()
    local p = state.provider
    if not p then
        return {}
    end
    return attributes(C.otel_resource_count(p), function(j, _, view)
        return C.otel_resource_attr(p, j, view)
    end)
end

function _M.get_finished_spans()
    local p = state.provider
    local out = {}
    if not p then
        return out
    end
    local resource = _M.resource()
    for i = 0, tonumber(C.otel_memory_count(p)) - 1 do
        C.otel_memory_span(p, i, sv)
        local s = {
            name = str(sv.name, sv.name_len),
            trace_id = hex(sv.trace_id, 16),
            span_id = hex(sv.span_id, 8),
            parent_span_id = sv.has_parent == 1
                             and hex(sv.parent_span_id, 8) or nil,
            parent_is_remote = sv.parent_remote == 1,
            trace_flags = sv.trace_flags,
            trace_state = str(sv.trace_state, sv.trace_state_len),
            kind = sv.kind,
            start_time = ffi_new("int64_t", sv.start_ns),
            end_time = ffi_new("int64_t", sv.end_ns),
            status = { code = sv.status_code,
                       description = str(sv.status_desc,
                                         sv.status_desc_len) },
            dropped_attributes_count = sv.dropped_attrs,
            dropped_events_count = sv.dropped_events,
            dropped_links_count = sv.dropped_links,
            resource = resource,
            scope = { name = str(sv.scope_name, sv.scope_name_len),
                      version = str(sv.scope_version,
                                    sv.scope_version_len),
                      schema_url = str(sv.scope_schema_url,
                                       sv.scope_schema_url_len),
                      attributes = attributes(sv.n_scope_attrs,
                          function(j, e, view)
                              return C.otel_memory_attr(p, i, SCOPE, j, e,
                                                        view)
                          end) },
            events = {},
            links = {},
        }
        s.attributes = attributes(sv.n_attrs, function(j, e, view)
            return C.otel_memory_attr(p, i, 0, j, e, view)
        end)
        for j = 0, sv.n_events - 1 do
            C.otel_memory_event(p, i, j, ev)
            s.events[j + 1] = {
                name = str(ev.name, ev.name_len),
                time = ffi_new("int64_t", ev.time_ns),
                dropped_attributes_count = ev.dropped_attrs,
                attributes = attributes(ev.n_attrs, function(k, e, view)
                    return C.otel_memory_attr(p, i, j + 1, k, e, view)
                end),
            }
        end
        for j = 0, sv.n_links - 1 do
            C.otel_memory_link(p, i, j, lv)
            s.links[j + 1] = {
                trace_id = hex(lv.trace_id, 16),
                span_id = hex(lv.span_id, 8),
                trace_flags = lv.trace_flags,
                is_remote = lv.remote == 1,
                trace_state = str(lv.trace_state, lv.trace_state_len),
                dropped_attributes_count = lv.dropped_attrs,
                attributes = attributes(lv.n_attrs, function(k, e, view)
                    return C.otel_memory_attr(p, i, -j - 1, k, e, view)
                end),
            }
        end
        out[#out + 1] = s
    end
    return out
end

function _M.clear()
    if state.provider then
        C.otel_memory_clear(state.provider)
    end
end

return _M
