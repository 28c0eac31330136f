-- The warning channel: how lua-otel tells the user that it did not take a
-- setting as given ("OTEL_TRACES_SAMPLER=xray is not valid, using
-- parentbased_always_on instead").  Each distinct message is reported once
-- per process, to nginx's error log under nginx (ngx.log(ngx.WARN)) and
-- to stderr elsewhere.  The core queues its own warnings (C never calls
-- Lua); flush() prints them, and the modules call it after the calls that
-- may warn.  Internal: the modules use
--   warn.config(what, value, instead)   -- what=value is not valid, ...
--   warn.once(msg)                      -- any other message
local ffi = require "ffi"
local base = require "otel.ffi"

local C = base.C
local ffi_string = ffi.string
local tostring = tostring

local _M = {}

local CAP = 384
local buf = ffi.new("char[?]", CAP)

-- Where a message goes; a function(msg) replaces it (tests, hosts).
local function write(msg)
    local ngx = rawget(_G, "ngx")
    if ngx and ngx.log and ngx.WARN then
        ngx.log(ngx.WARN, "otel: ", msg)
    else
        io.stderr:write("otel: warning: ", msg, "\n")
    end
end
_M.write = write

-- Prints every message the core queued.
function _M.flush()
    local n = C.otel_warning_next(buf, CAP)
    while n > 0 do
        _M.write(ffi_string(buf, n < CAP and n or CAP - 1))
        n = C.otel_warning_next(buf, CAP)
    end
end

-- Reports msg, unless the same text was reported before.
function _M.once(msg)
    C.otel_warning_push(msg, #msg)
    _M.flush()
end

-- Debug messages: nginx's error log at level debug under nginx (shown
-- when error_log says debug), stderr elsewhere when OTEL_LOG_LEVEL=debug.
local DEBUG_ENV = (os.getenv("OTEL_LOG_LEVEL") or ""):lower() == "debug"

function _M.write_debug(msg)
    local ngx = rawget(_G, "ngx")
    if ngx and ngx.log and ngx.DEBUG then
        ngx.log(ngx.DEBUG, "otel: ", msg)
    elseif DEBUG_ENV then
        io.stderr:write("otel: debug: ", msg, "\n")
    end
end

function _M.debug(msg)
    _M.write_debug(msg)
end

function _M.config(what, value, instead)
    _M.once(what .. "=" .. tostring(value) .. " is not valid, using "
            .. tostring(instead) .. " instead")
end

return _M
