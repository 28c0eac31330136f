-- Shared helpers of the busted specs.
local ffi = require "ffi"
local otel = require "otel"

pcall(ffi.cdef, [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]])

local _M = {}

-- value nil or false unsets the variable.
function _M.setenv(name, value)
    if value == nil or value == false then
        ffi.C.unsetenv(name)
    else
        ffi.C.setenv(name, tostring(value), 1)
    end
end

-- Runs fn with environment variables set (false: unset), then restores
-- them.
function _M.with_env(vars, fn)
    local old = {}
    for k, v in pairs(vars) do
        old[k] = os.getenv(k) or false
        _M.setenv(k, v)
    end
    local ok, err = pcall(fn)
    for k, v in pairs(old) do
        _M.setenv(k, v or nil)
    end
    if not ok then
        error(err, 0)
    end
end

-- otel.setup with the memory exporter (simple processor) and options.
function _M.setup(opts)
    if otel.info() then
        otel.shutdown()
    end
    opts = opts or {}
    opts.exporter = opts.exporter or "memory"
    opts.processor = opts.processor or "simple"
    otel.setup(opts)
    otel.memory.clear()
end

function _M.teardown()
    if otel.info() then
        otel.shutdown()
    end
end

function _M.spans()
    return otel.memory.get_finished_spans()
end

function _M.by_name(spans)
    local t = {}
    for _, s in ipairs(spans or _M.spans()) do
        t[s.name] = s
    end
    return t
end

-- Counter deltas: snapshot() then delta(snap).name
function _M.snapshot()
    return otel.stats()
end

function _M.delta(snap)
    local now = otel.stats()
    local d = {}
    for k, v in pairs(now) do
        d[k] = v - (snap[k] or 0)
    end
    return d
end

return _M
