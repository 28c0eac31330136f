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

-- Shuts otel down if it is set up (within timeout_ms, when given).
function _M.teardown(timeout_ms)
    if otel.info() then
        otel.shutdown(timeout_ms)
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

-- util.merge(into, from): the fields of from (nil: none) set in into,
-- which is returned; for option tables.
function _M.merge(into, from)
    for k, v in pairs(from or {}) do
        into[k] = v
    end
    return into
end

function _M.count_keys(t)
    local n = 0
    for _ in pairs(t) do
        n = n + 1
    end
    return n
end

-- util.make_spans(tracer, n, prefix): ends n plain spans named
-- prefix.1 .. prefix.n; returns their span ids as a set.
function _M.make_spans(tracer, n, prefix)
    local ids = {}
    for i = 1, n do
        local s = tracer:start_span(prefix .. "." .. i)
        ids[s:context().span_id] = true
        s:finish()
    end
    return ids
end

-- util.received_once(spans): the ids of the spans a receiver returned
-- (r:spans()) as a set, asserting that none came twice.
function _M.received_once(spans)
    local seen = {}
    for _, s in ipairs(spans) do
        assert(not seen[s.spanId], "span " .. s.spanId .. " received twice")
        seen[s.spanId] = true
    end
    return seen
end

-- util.assert_subset(ids, seen, what): every id of the set ids is in the
-- set seen (else an error naming what).
function _M.assert_subset(ids, seen, what)
    for id in pairs(ids) do
        assert(seen[id], what .. ": span " .. id .. " was not delivered")
    end
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

-- ---- time and processes ------------------------------------------------

-- Names of our own (asm labels), so that no spec's declarations of the
-- same libc functions can clash with these.
pcall(ffi.cdef, [[
struct otel_tu_timespec { long tv_sec; long tv_nsec; };
int otel_tu_clock_gettime(int clk, struct otel_tu_timespec *ts)
    __asm__("clock_gettime");
int otel_tu_usleep(unsigned int usec) __asm__("usleep");
]])

local CLOCK_MONOTONIC = 1
local tsbuf = ffi.new("struct otel_tu_timespec")

-- Monotonic milliseconds (fractional).
function _M.now_ms()
    ffi.C.otel_tu_clock_gettime(CLOCK_MONOTONIC, tsbuf)
    return tonumber(tsbuf.tv_sec) * 1000 + tonumber(tsbuf.tv_nsec) / 1e6
end

function _M.sleep_ms(ms)
    ffi.C.otel_tu_usleep(ms * 1000)
end

-- Polls fn every 20 ms until it returns a true value (returned) or
-- timeout_ms passes (an error naming what).
function _M.wait_for(what, timeout_ms, fn)
    local deadline = _M.now_ms() + timeout_ms
    repeat
        local v = fn()
        if v then
            return v
        end
        _M.sleep_ms(20)
    until _M.now_ms() > deadline
    error("timed out waiting for " .. what, 2)
end

function _M.quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Helpers run without the sanitizer runtime `make asan` preloads into
-- luajit (node, for one, does not take to it).
_M.CLEAN = "env -u LD_PRELOAD "

function _M.read_cmd(cmd)
    local f = assert(io.popen(cmd))
    local out = f:read("*a")
    f:close()
    return out
end

function _M.shell_ok(cmd)
    local r = os.execute(cmd)
    return r == true or r == 0
end

function _M.alive(pid)
    return _M.shell_ok("kill -0 " .. pid .. " 2>/dev/null")
end

-- util.stderr_of(fn): runs fn with file descriptor 2 sent to a file and
-- returns what was written there (the core's warnings go there).
pcall(ffi.cdef, [[
int otel_tu_dup(int fd) __asm__("dup");
int otel_tu_dup2(int fd, int to) __asm__("dup2");
int otel_tu_close(int fd) __asm__("close");
int otel_tu_open(const char *path, int flags, int mode) __asm__("open");
]])

function _M.stderr_of(fn)
    local name = os.tmpname()
    local fd = ffi.C.otel_tu_open(name, 0x241, 384)  -- WRONLY|CREAT|TRUNC
    assert(fd >= 0, "cannot open " .. name)
    io.stderr:flush()
    local saved = ffi.C.otel_tu_dup(2)
    ffi.C.otel_tu_dup2(fd, 2)
    ffi.C.otel_tu_close(fd)
    local ok, err = pcall(fn)
    io.stderr:flush()
    ffi.C.otel_tu_dup2(saved, 2)
    ffi.C.otel_tu_close(saved)
    local f = assert(io.open(name))
    local out = f:read("*a")
    f:close()
    os.remove(name)
    if not ok then
        error(err, 0)
    end
    return out
end

-- ---- the test receiver (t/receiver) --------------------------------------

local Receiver = {}
Receiver.__index = Receiver

-- Every receiver started, stopped by pid in util.stop_receivers() (and by
-- `timeout` should busted die first).
local receivers = {}

-- util.receiver([port | opts]) starts t/receiver/receiver.js and waits
-- until it answers.  opts: port (0: any free one), tls = { cert = PEM,
-- key = PEM, client_ca = PEM (mutual TLS: clients need a certificate of
-- that CA; the control requests present client_cert / client_key) }
-- (HTTPS; r.url is then https://localhost:PORT, whose certificate the
-- caller chose), grpc = true (also OTLP/gRPC: r.grpc_url, with TLS when
-- tls is given), args (more command-line arguments).
-- The receiver: r.port, r.url, r.pid, r.log (its stdout and stderr).
function _M.receiver(opts)
    if type(opts) ~= "table" then
        opts = { port = opts }
    end
    local port_file = os.tmpname()
    os.remove(port_file)
    local r = setmetatable({ port_file = port_file,
                             log = port_file .. ".log",
                             tls = opts.tls }, Receiver)
    receivers[#receivers + 1] = r
    local args = " --port " .. (opts.port or 0) .. " --port-file "
                 .. _M.quote(port_file)
    if opts.tls then
        args = args .. " --tls-cert " .. _M.quote(opts.tls.cert)
               .. " --tls-key " .. _M.quote(opts.tls.key)
        if opts.tls.client_ca then
            args = args .. " --tls-client-ca " .. _M.quote(opts.tls.client_ca)
        end
    end
    local grpc_file = port_file .. ".grpc"
    if opts.grpc then
        args = args .. " --grpc-port 0 --grpc-port-file "
               .. _M.quote(grpc_file)
        r.grpc_file = grpc_file
    end
    for _, a in ipairs(opts.args or {}) do
        args = args .. " " .. _M.quote(a)
    end
    r.pid = tonumber(_M.read_cmd(_M.CLEAN .. "timeout 600 node "
        .. "t/receiver/receiver.js" .. args .. " > " .. _M.quote(r.log)
        .. " 2>&1 & echo $!"))
    assert(r.pid, "could not start the receiver")
    r.port = _M.wait_for("the receiver's port file", 15000, function()
        local f = io.open(port_file)
        local p = f and tonumber(f:read("*a"))
        if f then
            f:close()
        end
        if not p and not _M.alive(r.pid) then
            local l = io.open(r.log)
            error("the receiver exited: " .. (l and l:read("*a") or ""))
        end
        return p
    end)
    -- control and queries go to 127.0.0.1 (with -k over TLS)
    r.base = (opts.tls and "https" or "http") .. "://127.0.0.1:" .. r.port
    r.url = opts.tls and "https://localhost:" .. r.port or r.base
    if opts.grpc then
        local gp = _M.wait_for("the receiver's gRPC port file", 15000,
                               function()
            local f = io.open(grpc_file)
            local p = f and tonumber(f:read("*a"))
            if f then
                f:close()
            end
            return p
        end)
        r.grpc_port = gp
        r.grpc_url = (opts.tls and "https://localhost:" or "http://127.0.0.1:")
                     .. gp
    end
    _M.wait_for("the receiver's /health", 10000, function()
        return r:http("GET", "/health", nil, 2) == "ok"
    end)
    return r
end

-- r:http(method, path[, json body[, max seconds]]) -> the answer's body
function Receiver:http(method, path, body, max_s)
    local cmd = _M.CLEAN .. "curl -sS " .. (self.tls and "-k " or "")
                .. "-m " .. (max_s or 10) .. " -X " .. method
    if self.tls and self.tls.client_ca then
        cmd = cmd .. " --cert " .. _M.quote(self.tls.client_cert)
              .. " --key " .. _M.quote(self.tls.client_key)
    end
    if body then
        cmd = cmd .. " -H 'content-type: application/json' --data-binary "
              .. _M.quote(body)
    end
    return _M.read_cmd(cmd .. " " .. _M.quote(self.base .. path)
                       .. (max_s and " 2>/dev/null" or ""))
end

function Receiver:get_json(path)
    return require("cjson").decode(self:http("GET", path))
end

-- r:control(mode[, opts]): a fault mode (see t/receiver/README.md).
function Receiver:control(name, opts)
    local out = self:http("POST", "/control/" .. name,
                          opts and require("cjson").encode(opts) or "{}")
    assert(out:sub(1, 1) == "{", "control " .. name .. ": " .. out)
end

-- Every span of the accepted requests.
function Receiver:spans()
    return self:get_json("/spans")
end

-- The recorded requests (accepted ones only unless all).
function Receiver:requests(all)
    return self:get_json(all and "/requests?all=1" or "/requests")
end

function Receiver:stats()
    return self:get_json("/stats")
end

function Receiver:clear()
    self:http("DELETE", "/requests")
end

function Receiver:stop()
    if self.pid and _M.alive(self.pid) then
        os.execute("kill " .. self.pid .. " 2>/dev/null")
        _M.wait_for("receiver " .. self.pid .. " to exit", 5000, function()
            return not _M.alive(self.pid)
        end)
    end
    os.remove(self.port_file)
    os.remove(self.log)
    if self.grpc_file then
        os.remove(self.grpc_file)
    end
    self.pid = nil
end

-- Stops every receiver util.receiver() started.
function _M.stop_receivers()
    for i = #receivers, 1, -1 do
        receivers[i]:stop()
        receivers[i] = nil
    end
end

-- util.receiver_hooks(opts, on_start[, shutdown_ms]), in a describe
-- block: one receiver, util.receiver(opts), started before its tests
-- (handed to on_start) and reset and cleared before each; after each
-- test otel is shut down (within shutdown_ms, default 2000) and the
-- receiver reset; at the end otel is shut down and every receiver stopped.
function _M.receiver_hooks(opts, on_start, shutdown_ms)
    local busted = require "busted"
    local r
    busted.lazy_setup(function()
        r = _M.receiver(opts)
        on_start(r)
    end)
    busted.lazy_teardown(function()
        _M.teardown(1000)
        _M.stop_receivers()
    end)
    busted.before_each(function()
        r:control("reset")
        r:clear()
    end)
    busted.after_each(function()
        _M.teardown(shutdown_ms or 2000)
        r:control("reset")
    end)
end

-- The trace aborts in lua-otel's own modules while fn runs hot (JIT
-- thresholds lowered, traces flushed first), as "file:line: reason".
local IGNORED_ABORTS = {}
do
    local traceerr = require("jit.vmdef").traceerr
    for i, text in pairs(traceerr) do
        if text:find("^leaving loop") or text:find("hook called during")
           or text:find("mcode") then
            IGNORED_ABORTS[i] = true
        end
    end
end

function _M.aborts_in_otel(fn)
    local jutil = require "jit.util"
    local aborts = {}
    jit.flush()
    jit.opt.start("hotloop=2", "hotexit=2")
    local vmdef = require "jit.vmdef"
    local function on_trace(what, _, func, pc, otr, oex)
        if what == "abort" then
            local info = jutil.funcinfo(func, pc)
            local src = info.source or "?"
            -- otr: the error's number, oex what fills its text (as
            -- jit.v prints them)
            local msg = tostring(otr)
            if type(otr) == "number" then
                local text = vmdef.traceerr[otr] or msg
                local ok, m = pcall(string.format, text,
                                    type(oex) == "function"
                                    and tostring(oex) or oex)
                msg = ok and m or text
            end
            -- a short inner loop leaving its root trace is how LuaJIT
            -- links traces, not a failure to compile; nor is a finalizer
            -- the GC ran while a trace was recorded (a span handle's:
            -- "hook called during recording", when the GC steps in
            -- depends on the allocator, as under valgrind), nor the
            -- machine code area running out
            if src:find("otel", 1, true)
               and not IGNORED_ABORTS[otr] then
                aborts[#aborts + 1] = (info.loc or src) .. ": " .. msg
            end
        end
    end
    jit.attach(on_trace, "trace")
    local ok, err = pcall(fn)
    jit.attach(on_trace)
    jit.opt.start("hotloop=56", "hotexit=10")
    if not ok then
        error(err, 0)
    end
    return aborts
end

-- The accounting identity on a stats delta (DESIGN 5): ended recording
-- spans = exported + dropped by reason + still queued.
local REASONS = { "spans_exported", "spans_dropped_queue_full",
                  "spans_dropped_export_failed", "spans_dropped_rejected",
                  "spans_dropped_shutdown", "spans_queued" }

function _M.check_identity(d)
    local sum, parts = 0, {}
    for _, k in ipairs(REASONS) do
        sum = sum + d[k]
        parts[#parts + 1] = k .. "=" .. d[k]
    end
    assert(d.spans_ended == sum, "accounting: spans_ended="
           .. d.spans_ended .. " but " .. table.concat(parts, " "))
end

-- util.flushed(snap[, timeout_ms]): force_flush (30 s by default), then
-- the stats delta since snap, the identity checked and nothing left
-- queued.  force_flush answers true exactly when no span it waited for
-- was lost: else nil, "export failed".
function _M.flushed(snap, timeout_ms)
    local ok, err = otel.force_flush(timeout_ms or 30000)
    local d = _M.delta(snap)
    _M.check_identity(d)
    assert(d.spans_queued == 0, "still queued: " .. d.spans_queued)
    local lost = d.spans_dropped_export_failed + d.spans_dropped_rejected
    assert(ok == (lost == 0 or nil)
           and err == (lost > 0 and "export failed" or nil),
           "force_flush answered " .. tostring(ok) .. ", " .. tostring(err)
           .. " with " .. lost .. " spans lost")
    return d
end

-- Runs fn with the warnings of otel.warn it gives collected (returned)
-- instead of printed.
function _M.warnings_of(fn)
    local warn = require "otel.warn"
    local got, write = {}, warn.write
    warn.write = function(msg) got[#got + 1] = msg end
    local ok, err = pcall(fn)
    warn.write = write
    if not ok then
        error(err, 0)
    end
    return got
end

-- ---- a Lua child process ------------------------------------------------

-- util.run_lua(code[, env[, max_s]]) runs code in a fresh LuaJIT with
-- lua-otel loaded and the variables of env (name = value) set, killed
-- after max_s seconds (default 60).  Returns its stdout and stderr
-- together and whether it exited 0.  Code that may hang the process it
-- runs in (or that needs the environment at load time) goes here, so that
-- a regression fails instead of stopping the suite.
function _M.run_lua(code, env, max_s)
    local build = os.getenv("OTEL_BUILD") or "build"
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("package.path = 'lua/?.lua;lua/?/init.lua;t/?.lua;' "
            .. ".. package.path\n",
            "package.cpath = ", string.format("%q", build .. "/?.so;"),
            " .. package.cpath\n", code)
    f:close()
    local vars = {}
    for k, v in pairs(env or {}) do
        vars[#vars + 1] = k .. "=" .. _M.quote(v)
    end
    local out = _M.read_cmd("env " .. table.concat(vars, " ") .. " timeout "
                            .. (max_s or 60) .. " luajit " .. path
                            .. " 2>&1; echo \"exit=$?\"")
    os.remove(path)
    local rc = out:match("exit=(%d+)%s*$")
    return out:gsub("exit=%d+%s*$", ""), rc == "0"
end

return _M
