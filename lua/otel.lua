-- lua-otel: OpenTelemetry tracing for LuaJIT, on a C core.
local ffi = require "ffi"
local base = require "otel.ffi"
local span = require "otel.span"
local context = require "otel.context"
local tracer = require "otel.tracer"
local sampler = require "otel.sampler"
local memory = require "otel.memory"
local propagation = require "otel.propagation"
local baggage = require "otel.baggage"
local warn = require "otel.warn"
local tracestate = require "otel.tracestate"

local C = base.C
local state = base.state
local ffi_gc = ffi.gc
local ffi_new = ffi.new
local type = type
local pairs = pairs
local error = error
local tostring = tostring

local _M = {
    _VERSION = "0.1.0",
    kind = { INTERNAL = 0, SERVER = 1, CLIENT = 2, PRODUCER = 3,
             CONSUMER = 4 },
    status = { UNSET = 0, OK = 1, ERROR = 2 },
    sampler = sampler,
    context = context,
    memory = memory,
    propagation = propagation,
    baggage = baggage,
    tracestate = tracestate,
    -- called by setup with its options (propagators)
    setup_hook = propagation.setup_hook,
}

-- Config keys of otel.h.
local CFG = {
    attribute_count = 1, attribute_value_length = 2, event_count = 3,
    link_count = 4, event_attribute_count = 5, link_attribute_count = 6,
    processor = 7, exporter = 8, max_queue_size = 9,
    max_export_batch_size = 10, schedule_delay_ms = 11,
    export_timeout_ms = 12, timeout_ms = 13, compression = 14,
    console_format = 15, console_fd = 16, protocol = 17, insecure = 18,
    sdk_disabled = 19,
    service_name = 32, endpoint = 33, certificate = 34, client_key = 35,
    client_certificate = 36,
}

local i64 = ffi_new("int64_t[1]")

local EXPORTERS = { none = 0, console = 1, memory = 2, otlp = 3 }
local PROCESSORS = { simple = 0, batch = 1 }
local FORMATS = { json = 0, tree = 1, both = 2 }
local COMPRESSION = { none = 0, gzip = 1 }
local PROTOCOLS = { ["http/protobuf"] = 0, grpc = 1, ["http/json"] = 2 }

local OPTIONS = {
    service_name = "string", resource = "table", sampler = "table",
    limits = "table", processor = "string", batch = "table",
    exporter = "string", otlp = "table", console = "table",
    strict = "boolean", propagators = "table", provider = "cdata",
}

-- Option errors are raised inside configure(), which setup runs under
-- pcall and raises again at the caller: no position here.
local function opt_error(msg)
    error("otel.setup: " .. msg, 0)
end

local function check_keys(t, allowed, where)
    for k in pairs(t) do
        if not allowed[k] then
            opt_error("unknown option " .. where .. tostring(k))
        end
    end
end

local function set_int(cfg, key, v, name)
    if type(v) ~= "number" or v ~= math.floor(v) then
        opt_error(name .. " must be an integer, got " .. tostring(v))
    end
    if C.otel_config_set_int(cfg, CFG[key], v) ~= 0 then
        opt_error(name .. " is out of range: " .. tostring(v))
    end
end

local function set_enum(cfg, key, v, names, name)
    local n = names[v]
    if n == nil then
        local list = {}
        for k in pairs(names) do
            list[#list + 1] = k
        end
        table.sort(list)
        opt_error(name .. " must be one of " .. table.concat(list, ", ")
                  .. ", got " .. tostring(v))
    end
    C.otel_config_set_int(cfg, CFG[key], n)
end

local function set_group(cfg, t, keys, where)
    check_keys(t, keys, where)
    for k in pairs(keys) do
        if t[k] ~= nil then
            set_int(cfg, k, t[k], where .. k)
        end
    end
end

local LIMIT_KEYS = { attribute_count = true, attribute_value_length = true,
                     event_count = true, link_count = true,
                     event_attribute_count = true,
                     link_attribute_count = true }
local BATCH_KEYS = { max_queue_size = true, max_export_batch_size = true,
                     schedule_delay_ms = true, export_timeout_ms = true }
local OTLP_KEYS = { endpoint = true, headers = true, compression = true,
                    timeout_ms = true, protocol = true, certificate = true,
                    client_key = true, client_certificate = true,
                    insecure = true }
local OTLP_FILES = { "certificate", "client_key", "client_certificate" }
local CONSOLE_KEYS = { format = true, fd = true }

local function configure(cfg, opts, externs)
    if opts.service_name ~= nil then
        local v = opts.service_name
        C.otel_config_set_str(cfg, CFG.service_name, v, #v)
    end
    if opts.resource then
        for k, v in pairs(opts.resource) do
            if type(k) ~= "string" then
                opt_error("resource keys must be strings")
            end
            local tv, rc = type(v), nil
            if tv == "string" then
                rc = C.otel_config_resource_str(cfg, k, #k, v, #v)
            elseif tv == "boolean" then
                rc = C.otel_config_resource_bool(cfg, k, #k, v and 1 or 0)
            elseif tv == "number" and v == math.floor(v) then
                rc = C.otel_config_resource_int(cfg, k, #k, v)
            elseif tv == "number" then
                rc = C.otel_config_resource_double(cfg, k, #k, v)
            end
            if rc ~= 0 then
                opt_error("resource '" .. k .. "': a " .. tv .. " value "
                          .. "is not allowed")
            end
        end
    end
    if opts.sampler ~= nil then
        local s = sampler._as_sampler(opts.sampler)
        if not s then
            opt_error("sampler must come from otel.sampler (or be a "
                      .. "function or a table with should_sample)")
        end
        C.otel_config_set_sampler(cfg, sampler.build(s, externs))
    end
    if opts.limits then
        set_group(cfg, opts.limits, LIMIT_KEYS, "limits.")
    end
    if opts.processor ~= nil then
        set_enum(cfg, "processor", opts.processor, PROCESSORS, "processor")
    end
    if opts.batch then
        set_group(cfg, opts.batch, BATCH_KEYS, "batch.")
    end
    if opts.exporter ~= nil then
        set_enum(cfg, "exporter", opts.exporter, EXPORTERS, "exporter")
    end
    local o = opts.otlp
    if o then
        check_keys(o, OTLP_KEYS, "otlp.")
        -- the protocol first: the endpoint's URL follows it
        if o.protocol ~= nil then
            set_enum(cfg, "protocol", o.protocol, PROTOCOLS, "otlp.protocol")
        end
        if o.insecure ~= nil then
            if type(o.insecure) ~= "boolean" then
                opt_error("otlp.insecure must be a boolean, got "
                          .. tostring(o.insecure))
            end
            C.otel_config_set_int(cfg, CFG.insecure, o.insecure and 1 or 0)
        end
        if o.endpoint ~= nil then
            -- host:port without a scheme only for grpc (otlp.insecure)
            if type(o.endpoint) ~= "string"
               or (o.protocol ~= "grpc" and not o.endpoint:find("://", 1,
                                                               true))
               or C.otel_config_set_str(cfg, CFG.endpoint, o.endpoint,
                                        #o.endpoint) ~= 0 then
                opt_error("otlp.endpoint must be a URL, got "
                          .. tostring(o.endpoint))
            end
        end
        for _, k in ipairs(OTLP_FILES) do
            local v = o[k]
            if v ~= nil and (type(v) ~= "string" or v == ""
               or C.otel_config_set_str(cfg, CFG[k], v, #v) ~= 0) then
                opt_error("otlp." .. k .. " must be a file name, got "
                          .. tostring(v))
            end
        end
        if o.headers ~= nil then
            if type(o.headers) ~= "table" then
                opt_error("otlp.headers must be a table")
            end
            for k, v in pairs(o.headers) do
                if type(k) ~= "string" or type(v) ~= "string"
                   or C.otel_config_add_header(cfg, k, #k, v, #v) ~= 0 then
                    opt_error("otlp.headers: invalid header "
                              .. tostring(k))
                end
            end
        end
        if o.compression ~= nil then
            set_enum(cfg, "compression", o.compression, COMPRESSION,
                     "otlp.compression")
        end
        if o.timeout_ms ~= nil then
            set_int(cfg, "timeout_ms", o.timeout_ms, "otlp.timeout_ms")
        end
    end
    local c = opts.console
    if c then
        check_keys(c, CONSOLE_KEYS, "console.")
        if c.format ~= nil then
            set_enum(cfg, "console_format", c.format, FORMATS,
                     "console.format")
        end
        if c.fd ~= nil then
            set_int(cfg, "console_fd", c.fd, "console.fd")
        end
    end
end

local function release(p)
    C.otel_provider_shutdown(p, 5000)
    C.otel_provider_free(p)
end

-- A provider the host created and shares between Lua states (threads):
-- this state holds a reference, and otel.shutdown() only drops it.
local function adopt(opts)
    for k in pairs(opts) do
        if k ~= "provider" and k ~= "strict" and k ~= "propagators" then
            error("otel.setup: option " .. k .. " cannot be combined with "
                  .. "provider (the host configured it)", 3)
        end
    end
    local p = ffi.cast("otel_provider *", opts.provider)
    if p == nil then
        error("otel.setup: provider is NULL", 3)
    end
    C.otel_provider_ref(p)
    state.provider = ffi_gc(p, C.otel_provider_unref)
    state.adopted = true
    state.strict = opts.strict == true
    state.sampling = sampler._info(p, nil)
    state.epoch = state.epoch + 1
    return true
end

-- otel.setup(opts): once per process (per nginx worker); again only after
-- otel.shutdown().
function _M.setup(opts)
    if state.provider or state.disabled then
        error("otel.setup: already set up (call otel.shutdown() first)", 2)
    end
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        error("otel.setup: expected a table of options, got " .. type(opts),
              2)
    end
    for k, v in pairs(opts) do
        local want = OPTIONS[k]
        if not want then
            error("otel.setup: unknown option " .. tostring(k), 2)
        end
        if type(v) ~= want
           and not (k == "provider" and type(v) == "userdata")
           and not (k == "sampler" and type(v) == "function") then
            error("otel.setup: option " .. k .. " must be a " .. want
                  .. ", got " .. type(v), 2)
        end
    end
    if _M.setup_hook then
        _M.setup_hook(opts)
    end
    if opts.provider ~= nil then
        return adopt(opts)
    end
    local cfg = C.otel_config_new()
    if cfg == nil then
        error("otel.setup: out of memory", 2)
    end
    local externs = {}
    local ok, err = pcall(configure, cfg, opts, externs)
    if not ok then
        C.otel_config_free(cfg)
        warn.flush()
        error(err, 2)
    end
    C.otel_config_get_int(cfg, CFG.sdk_disabled, i64)
    if i64[0] ~= 0 then
        -- OTEL_SDK_DISABLED=true: the API's no-op behaviour, no provider
        C.otel_config_free(cfg)
        warn.flush()
        state.disabled = true
        state.epoch = state.epoch + 1
        return true
    end
    local status = ffi_new("int[1]")
    local p = C.otel_provider_new(cfg, status)
    warn.flush()
    if p == nil then
        error("otel.setup: " .. base.strerror(status[0]), 2)
    end
    state.provider = ffi_gc(p, release)
    state.strict = opts.strict == true
    state.sampling = sampler._info(p, externs)
    state.epoch = state.epoch + 1
    return true
end

local tracers = {}

-- The attributes of a scope as a key that is the same for equal sets.
local function attributes_key(attrs)
    local parts = {}
    for k, v in pairs(attrs) do
        parts[#parts + 1] = tostring(k) .. "\1" .. type(v) .. "\1"
                            .. tostring(v)
    end
    table.sort(parts)
    return table.concat(parts, "\2")
end

-- otel.tracer(name[, version[, schema_url[, attributes]]]) -> tracer of
-- that instrumentation scope.  An invalid name (nil, empty, not a string)
-- gives a working tracer named "" and one warning, as the specification
-- says: never an error.
function _M.tracer(name, version, schema_url, attributes)
    if type(name) ~= "string" or name == "" then
        warn.once("otel.tracer: invalid tracer name ("
                  .. (name == "" and "empty" or type(name))
                  .. "), using \"\" instead")
        name = ""
    end
    if version ~= nil and type(version) ~= "string" then
        error("otel.tracer: version must be a string, got "
              .. type(version), 2)
    end
    if schema_url ~= nil and type(schema_url) ~= "string" then
        error("otel.tracer: schema_url must be a string, got "
              .. type(schema_url), 2)
    end
    if attributes ~= nil and type(attributes) ~= "table" then
        error("otel.tracer: attributes must be a table, got "
              .. type(attributes), 2)
    end
    if attributes ~= nil and next(attributes) == nil then
        attributes = nil
    end
    local key = name .. "\0" .. (version or "") .. "\0" .. (schema_url or "")
    if attributes then
        key = key .. "\0" .. attributes_key(attributes)
    end
    local t = tracers[key]
    if not t then
        t = tracer.new(name, version, schema_url, attributes)
        tracers[key] = t
    end
    return t
end

local stat_names = {}
for i = 0, C.otel_stats_count() - 1 do
    stat_names[i] = ffi.string(C.otel_stats_name(i))
end

-- otel.stats() -> counters since the library was loaded (process-wide).
function _M.stats()
    local out = {}
    for i = 0, #stat_names do
        out[stat_names[i]] = tonumber(C.otel_stats_get(i))
    end
    return out
end

local function timeout_arg(ms, fn)
    if ms == nil then
        return 30000
    end
    if type(ms) ~= "number" or ms ~= ms or ms < 0 then
        error("otel." .. fn .. ": timeout_ms must be a number >= 0", 3)
    end
    if ms > 0x7fffffff then
        return -1       -- longer than the core's int: no limit
    end
    return ms
end

-- otel.force_flush([timeout_ms]) -> true, or nil and an error.
function _M.force_flush(timeout_ms)
    local ms = timeout_arg(timeout_ms, "force_flush")
    local p = state.provider
    if not p then
        if state.disabled then
            return true
        end
        return nil, "not set up"
    end
    local rc = C.otel_provider_force_flush(p, ms)
    if rc ~= 0 then
        return nil, base.strerror(rc)
    end
    return true
end

-- otel.shutdown([timeout_ms]) -> true, or nil and an error.  Exports what
-- is queued; later spans are non-recording until the next setup.
function _M.shutdown(timeout_ms)
    local ms = timeout_arg(timeout_ms, "shutdown")
    local p = state.provider
    if not p then
        if state.disabled then
            state.disabled = false
            state.epoch = state.epoch + 1
            return true
        end
        return nil, "not set up"
    end
    state.provider = nil
    state.epoch = state.epoch + 1
    ffi_gc(p, nil)
    if state.adopted then
        -- the host owns it: flush what this state ended, keep it running
        state.adopted = false
        local rc = C.otel_provider_force_flush(p, ms)
        C.otel_provider_unref(p)
        if rc ~= 0 then
            return nil, base.strerror(rc)
        end
        return true
    end
    local rc = C.otel_provider_shutdown(p, ms)
    C.otel_provider_free(p)
    if rc ~= 0 then
        return nil, base.strerror(rc)
    end
    return true
end

-- Diagnostics: the sampler's description and the resolved endpoint.
function _M.info()
    local p = state.provider
    if not p then
        if state.disabled then
            return { disabled = true }
        end
        return nil
    end
    return {
        sampler = base.cstring(C.otel_provider_describe, p, 0),
        service_name = base.cstring(C.otel_provider_describe, p, 1),
        endpoint = base.cstring(C.otel_provider_describe, p, 2),
        protocol = base.cstring(C.otel_provider_describe, p, 3),
    }
end

_M.span = span
_M.INVALID_SPAN = span.INVALID
return _M
