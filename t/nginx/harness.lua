-- Shared harness of the nginx integration specs: a real nginx (Debian's
-- nginx + libnginx-mod-http-lua) and the test OTLP receiver, each on
-- 127.0.0.1 and a free port, with curl as the HTTP client.
--
-- Everything started here is registered and stopped by pid in
-- H.stop_all() (call it from teardown); a watchdog also stops it if the
-- busted process dies first.
local ffi = require "ffi"
local cjson = require "cjson.safe"

local H = {}

local function sh_quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.quote = sh_quote

local function run(cmd)
    local ok, _, code = os.execute(cmd)
    if type(ok) == "number" then          -- Lua 5.1 / LuaJIT without 5.2
        return ok == 0, ok
    end
    return ok == true, code
end
H.run = run

local function read_cmd(cmd)
    local f = assert(io.popen(cmd))
    local out = f:read("*a")
    f:close()
    return out
end
H.read_cmd = read_cmd

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end
H.read_file = read_file

local function write_file(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end
H.write_file = write_file

local function abspath(p)
    if p:sub(1, 1) == "/" then
        return p
    end
    return (read_cmd("cd " .. sh_quote(p) .. " && pwd"):gsub("%s+$", ""))
end

-- The checkout (cwd when busted runs from the repo root, as t/run.sh does)
-- and the build directory of the core library.
H.root = abspath(".")
H.build = abspath(os.getenv("OTEL_BUILD") or "build")

ffi.cdef [[
int usleep(unsigned int usec);
int getpid(void);
struct otel_t_timeval { long tv_sec; long tv_usec; };
int gettimeofday(struct otel_t_timeval *tv, void *tz);
]]

function H.sleep(s)
    ffi.C.usleep(math.floor(s * 1e6))
end

local tv = ffi.new("struct otel_t_timeval")

function H.now()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

-- A free TCP port on 127.0.0.1: bind port 0 and read what the kernel gave.
ffi.cdef [[
struct otel_t_sockaddr_in {
    uint16_t sin_family;
    uint16_t sin_port;
    uint32_t sin_addr;
    uint8_t  zero[8];
};
int socket(int domain, int type, int protocol);
int bind(int fd, const void *addr, uint32_t len);
int getsockname(int fd, void *addr, uint32_t *len);
int close(int fd);
]]

local given = {}

function H.free_port()
    for _ = 1, 20 do
        local fd = ffi.C.socket(2, 1, 0)           -- AF_INET, SOCK_STREAM
        assert(fd >= 0, "socket() failed")
        local sa = ffi.new("struct otel_t_sockaddr_in")
        sa.sin_family = 2
        sa.sin_addr = 0x0100007f                   -- 127.0.0.1, network order
        local len = ffi.new("uint32_t[1]", ffi.sizeof(sa))
        local port
        if ffi.C.bind(fd, sa, len[0]) == 0
           and ffi.C.getsockname(fd, sa, len) == 0 then
            port = bit.bor(bit.lshift(bit.band(sa.sin_port, 0xff), 8),
                           bit.rshift(sa.sin_port, 8))
        end
        ffi.C.close(fd)
        if port and not given[port] then
            given[port] = true
            return port
        end
    end
    error("no free port")
end

local tmpdirs = {}

-- A fresh directory, removed by H.stop_all() (kept when OTEL_TEST_KEEP is
-- set, to read the logs of a failure).
function H.tmpdir(tag)
    local d = read_cmd("mktemp -d /tmp/otel-nginx-" .. (tag or "t")
                       .. ".XXXXXX"):gsub("%s+$", "")
    assert(d ~= "", "mktemp failed")
    tmpdirs[#tmpdirs + 1] = d
    return d
end

-- ---- processes ------------------------------------------------------------

local started = {}      -- { pid = n, kind = "nginx" | "receiver", ... }

local function alive(pid)
    return run("kill -0 " .. pid .. " 2>/dev/null")
end
H.alive = alive

local function wait_gone(pid, timeout)
    local deadline = os.time() + timeout
    while alive(pid) do
        if os.time() > deadline then
            return false
        end
        H.sleep(0.05)
    end
    return true
end
H.wait_gone = wait_gone

-- Stops the process and, for nginx, its workers (children of the master).
local function stop_pid(pid, sig, timeout)
    if not alive(pid) then
        return true
    end
    run("kill -" .. sig .. " " .. pid .. " 2>/dev/null")
    if wait_gone(pid, timeout) then
        return true
    end
    run("pkill -KILL -P " .. pid .. " 2>/dev/null; kill -KILL " .. pid
        .. " 2>/dev/null")
    wait_gone(pid, 5)
    return false
end

-- Stops what the watchdog of pid would, when this Lua process goes away.
local function watchdog(pid, sig)
    run("(p=" .. ffi.C.getpid() .. "; while kill -0 $p 2>/dev/null && "
        .. "kill -0 " .. pid .. " 2>/dev/null; do sleep 1; done; "
        .. "if kill -0 " .. pid .. " 2>/dev/null; then kill -" .. sig
        .. " " .. pid .. "; sleep 5; pkill -KILL -P " .. pid
        .. "; kill -KILL " .. pid .. "; fi) </dev/null >/dev/null 2>&1 &")
end

function H.stop_all()
    for i = #started, 1, -1 do
        local p = started[i]
        if p.kind == "nginx" then
            stop_pid(p.pid, "QUIT", 20)
        else
            stop_pid(p.pid, "TERM", 5)
        end
        started[i] = nil
    end
    if not os.getenv("OTEL_TEST_KEEP") then
        for i = #tmpdirs, 1, -1 do
            run("rm -rf " .. sh_quote(tmpdirs[i]))
            tmpdirs[i] = nil
        end
    end
end

-- H.spawn(cmd, kind) runs a shell command in the background and returns
-- its pid, stopped by H.stop_all() (kind "nginx": QUIT, else TERM).  The
-- command must exec the process to stop, so that the pid is its own.
function H.spawn(cmd, kind)
    local dir = H.tmpdir("spawn")
    assert(run("(" .. cmd .. ") </dev/null > " .. sh_quote(dir .. "/out")
               .. " 2>&1 & echo $! > " .. sh_quote(dir .. "/pid")))
    local pid = tonumber(read_file(dir .. "/pid"))
    assert(pid, "could not start: " .. cmd)
    started[#started + 1] = { pid = pid, kind = kind }
    watchdog(pid, kind == "nginx" and "QUIT" or "TERM")
    return pid, dir .. "/out"
end

-- ---- the receiver ---------------------------------------------------------

local Receiver = {}
Receiver.__index = Receiver

-- H.start_receiver([dir[, { grpc = true }]]): with grpc, recv.grpc_url is
-- its OTLP/gRPC endpoint (h2c).
function H.start_receiver(dir, o)
    dir = dir or H.tmpdir("recv")
    local portfile = dir .. "/receiver.port"
    local pidfile = dir .. "/receiver.pid"
    local grpcfile = dir .. "/receiver.grpc-port"
    local script = H.root .. "/t/receiver/receiver.js"
    local grpc = o and o.grpc and " --grpc-port 0 --grpc-port-file "
                 .. sh_quote(grpcfile) or ""
    assert(run("node " .. sh_quote(script) .. " --port 0 --port-file "
               .. sh_quote(portfile) .. grpc .. " > " .. sh_quote(dir
               .. "/receiver.log") .. " 2>&1 & echo $! > "
               .. sh_quote(pidfile)))
    local pid = tonumber(read_file(pidfile))
    assert(pid, "receiver did not start")
    started[#started + 1] = { pid = pid, kind = "receiver" }
    watchdog(pid, "TERM")
    local port
    for _ = 1, 200 do
        port = tonumber(read_file(portfile) or "")
        if port then
            break
        end
        H.sleep(0.05)
    end
    assert(port, "receiver did not write its port: "
           .. (read_file(dir .. "/receiver.log") or ""))
    local r = setmetatable({ pid = pid, port = port, dir = dir,
                             url = "http://127.0.0.1:" .. port }, Receiver)
    for _ = 1, grpc ~= "" and 200 or 0 do
        local gp = tonumber(read_file(grpcfile) or "")
        if gp then
            r.grpc_url = "http://127.0.0.1:" .. gp
            break
        end
        H.sleep(0.05)
    end
    assert(grpc == "" or r.grpc_url, "receiver did not write its gRPC port")
    return r
end

function Receiver:get(path)
    local out = read_cmd("curl -sS --max-time 60 " .. sh_quote(self.url
                         .. path))
    local v, err = cjson.decode(out)
    assert(v ~= nil, "receiver " .. path .. ": " .. tostring(err) .. ": "
           .. out:sub(1, 200))
    return v
end

function Receiver:stats()
    return self:get("/stats")
end

function Receiver:spans()
    return self:get("/spans")
end

function Receiver:clear()
    run("curl -sS -X DELETE " .. sh_quote(self.url .. "/requests")
        .. " >/dev/null")
end

-- Waits until the receiver holds at least n spans (true), or timeout
-- seconds pass (false).
function Receiver:wait_spans(n, timeout)
    local deadline = H.now() + (timeout or 10)
    while true do
        local s = self:stats()
        if s.spans >= n then
            return true, s.spans
        end
        if H.now() > deadline then
            return false, s.spans
        end
        H.sleep(0.1)
    end
end

-- Waits until the span count stops growing for `quiet` seconds.
function Receiver:settle(quiet, timeout)
    local deadline = H.now() + (timeout or 15)
    local last, since = -1, H.now()
    while H.now() < deadline do
        local n = self:stats().spans
        if n ~= last then
            last, since = n, H.now()
        elseif H.now() - since >= quiet then
            break
        end
        H.sleep(0.1)
    end
    return last
end

-- ---- nginx ----------------------------------------------------------------

local Nginx = {}
Nginx.__index = Nginx

-- H.nginx_conf{ workers, http = "...", setup = "lua code", port } -> text
function H.nginx_conf(o)
    local prefix = o.prefix
    return table.concat({
        "load_module /usr/lib/nginx/modules/ndk_http_module.so;",
        "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;",
        "daemon on;",
        "master_process on;",
        "worker_processes " .. (o.workers or 1) .. ";",
        "pid " .. prefix .. "/logs/nginx.pid;",
        "error_log " .. prefix .. "/logs/error.log "
            .. (o.log_level or "info") .. ";",
        "worker_rlimit_nofile 20000;",
        o.main or "",
        "events { worker_connections 8192; }",
        "http {",
        "    access_log " .. (o.access_log or "off") .. ";",
        "    client_body_temp_path " .. prefix .. "/tmp/body;",
        "    proxy_temp_path " .. prefix .. "/tmp/proxy;",
        "    fastcgi_temp_path " .. prefix .. "/tmp/fastcgi;",
        "    uwsgi_temp_path " .. prefix .. "/tmp/uwsgi;",
        "    scgi_temp_path " .. prefix .. "/tmp/scgi;",
        "    keepalive_requests 100000;",
        "    lua_package_path '" .. H.root .. "/lua/?.lua;" .. H.root
            .. "/t/nginx/?.lua;;';",
        "    lua_package_cpath '" .. H.build .. "/?.so;;';",
        "    init_by_lua_block {",
        "        require 'otel'",
        "        require 'otel.ngx'",
        o.init or "",
        "    }",
        "    init_worker_by_lua_block {",
        o.init_worker or "",
        "    }",
        o.exit_worker == false and "" or
            "    exit_worker_by_lua_block { "
            .. "require('otel.ngx').exit_worker() }",
        o.http or "",
        "}",
        "",
    }, "\n")
end

-- The otel.setup call of init_worker for an OTLP receiver (extra.grpc:
-- over OTLP/gRPC).
function H.otlp_setup(recv, extra)
    local otlp = (extra or {}).grpc
                 and "protocol = 'grpc', endpoint = '" .. recv.grpc_url .. "'"
                 or "endpoint = '" .. recv.url .. "'"
    return "require('otel').setup { service_name = 'nginx-test', "
        .. "exporter = 'otlp', otlp = { " .. otlp .. " }, "
        .. "batch = { schedule_delay_ms = " .. ((extra or {}).delay or 100)
        .. ", max_queue_size = " .. ((extra or {}).queue or 65536)
        .. ", max_export_batch_size = " .. ((extra or {}).batch or 512)
        .. " } }"
end

-- H.start_nginx(opts) -> nginx; opts as H.nginx_conf plus `ports` (the
-- number of ports to reserve: opts.http may use ${PORT1}, ${PORT2}, ...).
function H.start_nginx(o)
    local prefix = o.prefix or H.tmpdir("ngx")
    o.prefix = prefix
    run("mkdir -p " .. sh_quote(prefix) .. "/logs " .. sh_quote(prefix)
        .. "/conf " .. sh_quote(prefix) .. "/tmp")
    local ports = {}
    for i = 1, (o.ports or 1) do
        ports[i] = H.free_port()
    end
    local conf = H.nginx_conf(o):gsub("%${PORT(%d)}", function(i)
        return tostring(ports[tonumber(i)])
    end)
    local path = prefix .. "/conf/nginx.conf"
    write_file(path, conf)
    local out = read_cmd("nginx -p " .. sh_quote(prefix) .. " -e "
                         .. sh_quote(prefix .. "/logs/error.log") .. " -c "
                         .. sh_quote(path) .. " 2>&1; echo \"rc=$?\"")
    local n = setmetatable({ prefix = prefix, conf = path, ports = ports,
                             port = ports[1],
                             url = "http://127.0.0.1:" .. ports[1],
                             start_output = out }, Nginx)
    if not out:find("rc=0", 1, true) then
        return nil, out .. (n:error_log() or "")
    end
    local pid
    for _ = 1, 100 do
        pid = tonumber(read_file(prefix .. "/logs/nginx.pid") or "")
        if pid then
            break
        end
        H.sleep(0.05)
    end
    assert(pid, "nginx wrote no pid file: " .. (n:error_log() or ""))
    n.pid = pid
    started[#started + 1] = { pid = pid, kind = "nginx" }
    watchdog(pid, "QUIT")
    -- ready when a worker answers
    for _ = 1, 100 do
        local code = read_cmd("curl -s -o /dev/null -w '%{http_code}' "
                              .. sh_quote(n.url .. "/__ready"))
        if code ~= "000" then
            return n
        end
        H.sleep(0.05)
    end
    error("nginx does not answer: " .. (n:error_log() or ""))
end

function Nginx:error_log()
    return read_file(self.prefix .. "/logs/error.log")
end

function Nginx:signal(sig)
    return run("kill -" .. sig .. " " .. self.pid)
end

-- Graceful stop; true when the master exited in time.
function Nginx:quit(timeout)
    self:signal("QUIT")
    return wait_gone(self.pid, timeout or 20)
end

-- Pids of the current worker processes.
function Nginx:workers()
    local out = read_cmd("pgrep -P " .. self.pid)
    local t = {}
    for pid in out:gmatch("%d+") do
        t[#t + 1] = tonumber(pid)
    end
    return t
end

-- ---- HTTP client ----------------------------------------------------------

-- H.get(url, headers[, method]) -> status, body
function H.get(url, headers, method)
    local cmd = { "curl -sS --max-time 30 -o - -w '\\n%{http_code}'" }
    if method then
        cmd[#cmd + 1] = "-X " .. sh_quote(method)
    end
    for k, v in pairs(headers or {}) do
        cmd[#cmd + 1] = "-H " .. sh_quote(k .. ": " .. v)
    end
    cmd[#cmd + 1] = sh_quote(url) .. " 2>/dev/null"
    local out = read_cmd(table.concat(cmd, " "))
    local body, code = out:match("^(.*)\n(%d+)$")
    return tonumber(code), body
end

-- H.parallel(reqs, max, dir, keep_bodies) runs reqs ({ url = ...,
-- headers = {...} }) with up to `max` in flight.  Returns a map from url
-- to HTTP status (0 when there was no response), the body of each
-- request in bodies[i] when keep_bodies, and curl's errors.  curl keeps a
-- descriptor per transfer until it exits, so it runs in chunks.
local CHUNK = 4000

local function curl_config(reqs, first, last, dir, keep_bodies)
    local cfg = {}
    for i = first, last do
        local r = reqs[i]
        if i > first then
            -- between transfers only: a "next" at the end starts an
            -- empty one, whose error aborts those still running
            cfg[#cfg + 1] = "next"
        end
        cfg[#cfg + 1] = "url = \"" .. r.url .. "\""
        for k, v in pairs(r.headers or {}) do
            cfg[#cfg + 1] = "header = \"" .. k .. ": " .. v .. "\""
        end
        cfg[#cfg + 1] = "output = \"" .. (keep_bodies and (dir .. "/body."
                        .. i) or "/dev/null") .. "\""
        cfg[#cfg + 1] = "write-out = \"%{http_code} %{url} %{errormsg}\\n\""
    end
    local path = dir .. "/curl." .. first .. ".cfg"
    write_file(path, table.concat(cfg, "\n") .. "\n")
    return "curl -s --max-time 60 --parallel --parallel-max "
        .. "%d -K " .. sh_quote(path) .. " 2>/dev/null"
end

local function parse_results(out, status, errors)
    for code, url, err in out:gmatch("(%d+) (%S+) ?([^\n]*)") do
        status[url] = tonumber(code)
        if code == "000" then
            errors[#errors + 1] = url .. ": " .. err
        end
    end
end

function H.parallel(reqs, max, dir, keep_bodies)
    dir = dir or H.tmpdir("curl")
    local status, errors = {}, {}
    for first = 1, #reqs, CHUNK do
        local last = math.min(#reqs, first + CHUNK - 1)
        local cmd = curl_config(reqs, first, last, dir, keep_bodies)
        parse_results(read_cmd(cmd:format(max or 100)), status, errors)
    end
    local bodies
    if keep_bodies then
        bodies = {}
        for i = 1, #reqs do
            bodies[i] = read_file(dir .. "/body." .. i)
        end
    end
    return status, bodies, errors
end

-- H.parallel_start(reqs, max) -> load: the same in the background (at
-- most CHUNK requests); load:wait(timeout) -> status, errors.
local Load = {}
Load.__index = Load

function H.parallel_start(reqs, max, dir)
    assert(#reqs <= CHUNK)
    dir = dir or H.tmpdir("load")
    local cmd = curl_config(reqs, 1, #reqs, dir, false)
    assert(run("(" .. cmd:format(max or 100) .. " > " .. sh_quote(dir
               .. "/out") .. "; echo done > " .. sh_quote(dir .. "/done")
               .. ") </dev/null >/dev/null 2>&1 &"))
    return setmetatable({ dir = dir }, Load)
end

function Load:wait(timeout)
    local deadline = H.now() + (timeout or 90)
    while not read_file(self.dir .. "/done") do
        assert(H.now() < deadline, "the background load did not finish")
        H.sleep(0.1)
    end
    local status, errors = {}, {}
    parse_results(read_file(self.dir .. "/out") or "", status, errors)
    return status, errors
end

-- ---- span checks ----------------------------------------------------------

-- Indexes spans by span id; returns the index and the count of duplicates.
function H.index(spans)
    local by_id, dups = {}, 0
    for _, s in ipairs(spans) do
        if by_id[s.spanId] then
            dups = dups + 1
        end
        by_id[s.spanId] = s
    end
    return by_id, dups
end

-- Groups spans by the value of attribute `key`.
function H.group(spans, key)
    local g = {}
    for _, s in ipairs(spans) do
        local v = s.attrs[key]
        if v ~= nil then
            v = tostring(v)
            local t = g[v]
            if not t then
                t = {}
                g[v] = t
            end
            t[#t + 1] = s
        end
    end
    return g
end

H.KIND = { INTERNAL = 1, SERVER = 2, CLIENT = 3 }

return H
