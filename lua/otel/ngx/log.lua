-- Log correlation: $otel_trace_id, $otel_span_id (the SERVER span) and
-- $otel_sampled (1 or 0), filled by start_request for every request,
-- sampled or not, when the configuration declares them
-- (`set $otel_trace_id "";` ...: lua-nginx-module writes only variables
-- nginx knows); and otel.ngx.log_fields() for Lua logging.
--
-- Whether each variable is declared is found once per worker, by the
-- first write (a `set` anywhere in the http block declares a variable for
-- every server): a configuration without them pays one test of a flag
-- per request.
local base = require "otel.ffi"
local state = require "otel.ngx.state"

local ngx = ngx
local pcall = pcall
local ffi_string = require("ffi").string
local C = base.C
local ngx_var = ngx.var
local KEY = state.KEY

local _M = {}

local hexbuf = require("ffi").new("char[48]")

-- The ids of a span as the variables show them ("" for no valid trace:
-- otel.setup not called and no incoming context).  Both encoded in one
-- place: a small helper called twice per request would be entered hot
-- from the interpreter and start traces of its own that run on into the
-- request path ("trace too long").
local ZERO32 = ("0"):rep(32)

local function ids(sp)
    C.otel_hex_encode(sp.trace_id, 16, hexbuf)
    C.otel_hex_encode(sp.span_id, 8, hexbuf + 32)
    local tid = ffi_string(hexbuf, 32)
    if tid == ZERO32 then
        return "", "", "0"
    end
    return tid, ffi_string(hexbuf + 32, 16),
           sp.trace_flags % 2 == 1 and "1" or "0"
end

-- nil: not probed yet; then true / false per variable.
local has_trace, has_span, has_sampled

local function set_trace(v)
    ngx_var.otel_trace_id = v
end

local function set_span(v)
    ngx_var.otel_span_id = v
end

local function set_sampled(v)
    ngx_var.otel_sampled = v
end

-- true when any of the variables is declared (probed on the first call).
local function declared(tid, sid, smp)
    if has_trace == nil then
        has_trace = pcall(set_trace, tid)
        has_span = pcall(set_span, sid)
        has_sampled = pcall(set_sampled, smp)
        _M.wanted = has_trace or has_span or has_sampled
        return false            -- written by the probe
    end
    return true
end

-- _M.wanted: false once the probe found none of the variables (the
-- request module then skips fill); nil before the probe.
_M.wanted = nil

-- fill(sp): in start_request, sets the declared variables.
function _M.fill(sp)
    local tid, sid, smp = ids(sp)
    if not declared(tid, sid, smp) then
        return
    end
    if has_trace then
        ngx_var.otel_trace_id = tid
    end
    if has_span then
        ngx_var.otel_span_id = sid
    end
    if has_sampled then
        ngx_var.otel_sampled = smp
    end
end

-- otel.ngx.log_fields() -> { trace_id =, span_id =, trace_flags = } of the
-- request's SERVER span (hex strings, trace_flags "01" or "00"), or nil
-- before start_request.  The field names are those of the OpenTelemetry
-- log data model.
function _M.log_fields()
    local st = ngx.ctx[KEY]
    if not st then
        return nil
    end
    local tid, sid, smp = ids(st.span)
    if tid == "" then
        return nil
    end
    return { trace_id = tid, span_id = sid,
             trace_flags = smp == "1" and "01" or "00" }
end

return _M
