-- HTTP semantic-convention helpers of otel.ngx's spans: method names,
-- span names, host and port parsing, nginx variables read in place (the
-- SERVER span's attributes are gathered in C: src/http.c).
local ffi = require "ffi"
require "resty.core.var"

local ngx = ngx
local pairs = pairs
local tonumber = tonumber
local str_find = string.find
local str_sub = string.sub

local _M = {}

local KNOWN_METHODS = {
    GET = true, HEAD = true, POST = true, PUT = true, DELETE = true,
    CONNECT = true, OPTIONS = true, TRACE = true, PATCH = true,
}
_M.KNOWN_METHODS = KNOWN_METHODS

-- ngx.HTTP_* method constants (capture's options.method) to names.
local METHOD_NAMES = {}
for _, m in pairs { "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS",
                    "MKCOL", "COPY", "MOVE", "PROPFIND", "PROPPATCH",
                    "LOCK", "UNLOCK", "PATCH", "TRACE" } do
    local v = ngx["HTTP_" .. m]
    if v then
        METHOD_NAMES[v] = m
    end
end
_M.METHOD_NAMES = METHOD_NAMES

-- Sets http.request.method (and _original) in attrs; returns the method
-- as the span name shows it.
function _M.set_method(attrs, method)
    if KNOWN_METHODS[method] then
        attrs["http.request.method"] = method
        return method
    end
    attrs["http.request.method"] = "_OTHER"
    attrs["http.request.method_original"] = method
    return "HTTP"
end

-- Span names "METHOD route", made once per method and route (routes are
-- few by definition; past a bound, names are made per request).
local names = {}
local n_names = 0

function _M.span_name(method, route)
    if not route then
        return method
    end
    local by = names[method]
    if not by then
        by = {}
        names[method] = by
    end
    local name = by[route]
    if not name then
        name = method .. " " .. route
        if n_names < 4096 then
            by[route] = name
            n_names = n_names + 1
        end
    end
    return name
end

-- var(r, name) -> pointer, length: a variable of request r (nil, 0 when
-- unset), read where nginx keeps it: no Lua string made.  The pointer is
-- good until the request ends; the length is a size_t cdata.
local nC = ffi.C
local valp = ffi.new("char *[1]")
local lenp = ffi.new("size_t[1]")
local errp = ffi.new("char *[1]")
local lowbuf = ffi.new("char[32]")

function _M.var(r, name)
    if nC.ngx_http_lua_ffi_var_get(r, name, #name, lowbuf, 0, valp, lenp,
                                   errp) == 0 then
        return valp[0], lenp[0]
    end
    return nil, 0
end

local DEFAULT_PORTS = { http = 80, https = 443, ws = 80, wss = 443 }

-- "host[:port]" or "[v6][:port]" -> host, port (nil when absent).
local function split_host(hp)
    if str_sub(hp, 1, 1) == "[" then
        local rb = str_find(hp, "]", 1, true)
        if rb then
            return str_sub(hp, 2, rb - 1), tonumber(str_sub(hp, rb + 2))
        end
        return hp, nil
    end
    local c = str_find(hp, ":", 1, true)
    if c then
        return str_sub(hp, 1, c - 1), tonumber(str_sub(hp, c + 1))
    end
    return hp, nil
end

-- scheme://host[:port]/...  -> host, port (nil when url has no authority)
function _M.authority(url)
    local s = str_find(url, "://", 1, true)
    if not s then
        return nil
    end
    local scheme = str_sub(url, 1, s - 1)
    local a = s + 3
    local e = str_find(url, "/", a, true) or str_find(url, "?", a, true)
    local hostport = str_sub(url, a, (e or 0) - 1)
    local at = str_find(hostport, "@", 1, true)
    if at then
        hostport = str_sub(hostport, at + 1)
    end
    local host, port = split_host(hostport)
    return host, port or DEFAULT_PORTS[scheme:lower()]
end

return _M
