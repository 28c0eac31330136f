-- The overload soak, run by t/soak/run.sh (which owns the work directory
-- and stops, by pid, whatever this script registered in DIR/pids should
-- it die):
--   luajit t/soak/soak.lua DIR [--tap] [seconds]
-- A real nginx (one worker) traces every request (t/soak/app.lua) and
-- exports to the test receiver answering each export only after 200 ms,
-- far slower than wrk at full speed makes spans: the batch queue (2048)
-- overflows for the whole run.  Checked: the worker's RSS stays flat, each
-- drop is counted (the accounting identity holds exactly once the queue is
-- drained, spans ended = 2 x requests traced, the receiver holds exactly
-- the spans counted exported), and once the collector is fast again
-- everything still queued goes out.
local ffi = require "ffi"
local cjson = require "cjson.safe"

ffi.cdef [[
struct otel_sk_timespec { long tv_sec; long tv_nsec; };
int otel_sk_clock_gettime(int clk, struct otel_sk_timespec *ts)
    __asm__("clock_gettime");
int otel_sk_usleep(unsigned int usec) __asm__("usleep");
struct otel_sk_sockaddr_in {
    uint16_t sin_family;
    uint16_t sin_port;
    uint32_t sin_addr;
    uint8_t  zero[8];
};
int otel_sk_socket(int domain, int type, int protocol) __asm__("socket");
int otel_sk_bind(int fd, const void *addr, uint32_t len) __asm__("bind");
int otel_sk_getsockname(int fd, void *addr, uint32_t *len)
    __asm__("getsockname");
int otel_sk_close(int fd) __asm__("close");
]]
local C = ffi.C

-- ---- arguments ------------------------------------------------------------

local DIR = assert(arg[1], "usage: soak.lua DIR [--tap] [seconds]")
local TAP, SECONDS = false, nil
for i = 2, #arg do
    if arg[i] == "--tap" then
        TAP = true
    elseif tonumber(arg[i]) then
        SECONDS = tonumber(arg[i])
    else
        io.stderr:write("soak: unknown argument ", arg[i], "\n")
        os.exit(2)
    end
end
SECONDS = math.floor(SECONDS or (TAP and 10 or 60))
if SECONDS < 5 then
    SECONDS = 5
end

local QUEUE = 2048              -- batch.max_queue_size
local DELAY_MS = 200            -- the collector's answer to each export
local SAMPLE_S = 5              -- RSS sampling period
local SPANS_PER_REQUEST = 2

-- ---- helpers -------------------------------------------------------------

local tsbuf = ffi.new("struct otel_sk_timespec")
local function now()
    C.otel_sk_clock_gettime(1, tsbuf)
    return tonumber(tsbuf.tv_sec) + tonumber(tsbuf.tv_nsec) / 1e9
end

local function sleep(s)
    if s > 0 then
        C.otel_sk_usleep(math.floor(s * 1e6))
    end
end

local function quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_cmd(cmd)
    local f = assert(io.popen(cmd))
    local out = f:read("*a")
    f:close()
    return out
end

local function run(cmd)
    local r = os.execute(cmd)
    return r == true or r == 0
end

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end

local function write_file(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

-- Exists and is not a zombie (whose reaper may take its time).
local function alive(pid)
    local st = read_file("/proc/" .. pid .. "/stat")
    local state = st and st:match(".*%) (%a)")
    return state ~= nil and state ~= "Z"
end

local function abspath(p)
    return (read_cmd("cd " .. quote(p) .. " && pwd"):gsub("%s+$", ""))
end

local out_lines = {}
-- Report lines: plain, or TAP comments.
local function say(fmt, ...)
    local line = string.format(fmt, ...)
    out_lines[#out_lines + 1] = line
    io.stdout:write(TAP and "# " or "", line, "\n")
    io.stdout:flush()
end

local function die(msg)
    if TAP then
        io.stdout:write("1..1\nnot ok 1 - soak: ", msg, "\n")
    else
        io.stdout:write("FAIL soak: ", msg, "\n")
    end
    os.exit(1)
end

-- A free TCP port on 127.0.0.1 (bind port 0, read it, close).
local function free_port()
    local fd = C.otel_sk_socket(2, 1, 0)
    assert(fd >= 0)
    local sa = ffi.new("struct otel_sk_sockaddr_in")
    sa.sin_family = 2
    sa.sin_addr = 0x0100007f
    local len = ffi.new("uint32_t[1]", ffi.sizeof(sa))
    assert(C.otel_sk_bind(fd, sa, len[0]) == 0)
    assert(C.otel_sk_getsockname(fd, sa, len) == 0)
    C.otel_sk_close(fd)
    return bit.bor(bit.lshift(bit.band(sa.sin_port, 0xff), 8),
                   bit.rshift(sa.sin_port, 8))
end

-- Processes to stop: run.sh reads this file should we die first.
local function register(pid, sig)
    local f = assert(io.open(DIR .. "/pids", "a"))
    f:write(pid, " ", sig, "\n")
    f:close()
end

local function wait_gone(pid, timeout)
    local deadline = now() + timeout
    while alive(pid) do
        if now() > deadline then
            return false
        end
        sleep(0.05)
    end
    return true
end

-- curl, never through a proxy from the environment.
local CURL = "curl --noproxy '*' -sS -m 10 "

local function get_json(url)
    local body = read_cmd(CURL .. quote(url) .. " 2>&1")
    local v = cjson.decode(body)
    if type(v) ~= "table" then
        return nil, body
    end
    return v
end

-- ---- prerequisites --------------------------------------------------------

local ROOT = abspath(".")
local BUILD = abspath(os.getenv("OTEL_BUILD") or "build")
local MODS = "/usr/lib/nginx/modules"

for _, need in ipairs({
    { BUILD .. "/otel_core.so", "the core library (make)" },
    { MODS .. "/ngx_http_lua_module.so", "libnginx-mod-http-lua" },
    { MODS .. "/ndk_http_module.so", "libnginx-mod-http-ndk" },
    { ROOT .. "/t/receiver/node_modules", "the receiver (make deps)" },
}) do
    if not read_cmd("ls -d " .. quote(need[1]) .. " 2>/dev/null")
            :find("%S") then
        die("missing " .. need[1] .. " (" .. need[2] .. ")")
    end
end
for _, prog in ipairs({ "nginx", "wrk", "node", "curl" }) do
    if not run("command -v " .. prog .. " >/dev/null 2>&1") then
        die("missing " .. prog .. " (make deps)")
    end
end

-- ---- the slow collector ---------------------------------------------------

local recv = {}
do
    local port_file = DIR .. "/receiver.port"
    -- --max-records: the receiver keeps its totals, not every request
    recv.pid = tonumber(read_cmd("node " .. quote(ROOT
        .. "/t/receiver/receiver.js") .. " --port 0 --port-file "
        .. quote(port_file) .. " --max-records 20 > " .. quote(DIR
        .. "/receiver.log") .. " 2>&1 & echo $!"))
    if not recv.pid then
        die("could not start the receiver")
    end
    register(recv.pid, "TERM")
    local deadline = now() + 15
    while not recv.port do
        recv.port = tonumber(read_file(port_file) or "")
        if not recv.port then
            if now() > deadline or not alive(recv.pid) then
                die("the receiver did not start: "
                    .. (read_file(DIR .. "/receiver.log") or ""))
            end
            sleep(0.05)
        end
    end
    recv.url = "http://127.0.0.1:" .. recv.port
end

local function control(name, body)
    local out = read_cmd(CURL .. "-X POST -H 'content-type: "
        .. "application/json' --data-binary " .. quote(cjson.encode(body))
        .. " " .. quote(recv.url .. "/control/" .. name) .. " 2>&1")
    if out:sub(1, 1) ~= "{" then
        die("receiver control " .. name .. ": " .. out)
    end
end

control("slow", { delay_ms = DELAY_MS, times = -1 })

-- ---- nginx ----------------------------------------------------------------

local ngx_port = free_port()
local conf = table.concat({
    "load_module " .. MODS .. "/ndk_http_module.so;",
    "load_module " .. MODS .. "/ngx_http_lua_module.so;",
    "daemon on;",
    "master_process on;",
    "worker_processes 1;",
    "pid " .. DIR .. "/logs/nginx.pid;",
    "error_log " .. DIR .. "/logs/error.log warn;",
    "worker_rlimit_nofile 4096;",
    "events { worker_connections 1024; }",
    "http {",
    "    access_log off;",
    "    client_body_temp_path " .. DIR .. "/tmp/body;",
    "    proxy_temp_path " .. DIR .. "/tmp/proxy;",
    "    fastcgi_temp_path " .. DIR .. "/tmp/fastcgi;",
    "    uwsgi_temp_path " .. DIR .. "/tmp/uwsgi;",
    "    scgi_temp_path " .. DIR .. "/tmp/scgi;",
    "    keepalive_requests 1000000;",
    "    lua_package_path '" .. ROOT .. "/lua/?.lua;" .. ROOT
        .. "/lua/?/init.lua;" .. ROOT .. "/t/soak/?.lua;;';",
    "    lua_package_cpath '" .. BUILD .. "/?.so;;';",
    "    init_worker_by_lua_block {",
    "        require('app').init_worker('" .. recv.url .. "/v1/traces', "
        .. QUEUE .. ")",
    "    }",
    "    exit_worker_by_lua_block { require('app').exit_worker() }",
    "    server {",
    "        listen 127.0.0.1:" .. ngx_port .. ";",
    "        location = /stats {",
    "            content_by_lua_block { require('app').stats() }",
    "        }",
    "        location / {",
    "            access_by_lua_block { require('app').access() }",
    "            content_by_lua_block { ngx.say('ok') }",
    "            log_by_lua_block { require('app').log() }",
    "        }",
    "    }",
    "}",
    "",
}, "\n")
run("mkdir -p " .. quote(DIR .. "/logs") .. " " .. quote(DIR .. "/conf")
    .. " " .. quote(DIR .. "/tmp"))
-- workers may run as nobody: they read nothing here but the logs' dir
run("chmod 755 " .. quote(DIR))
write_file(DIR .. "/conf/nginx.conf", conf)

local started = read_cmd("nginx -p " .. quote(DIR) .. " -e "
    .. quote(DIR .. "/logs/error.log") .. " -c "
    .. quote(DIR .. "/conf/nginx.conf") .. " 2>&1; echo \"rc=$?\"")
if not started:find("rc=0", 1, true) then
    die("nginx did not start: " .. started
        .. (read_file(DIR .. "/logs/error.log") or ""))
end
local master
for _ = 1, 100 do
    master = tonumber(read_file(DIR .. "/logs/nginx.pid") or "")
    if master then
        break
    end
    sleep(0.05)
end
if not master then
    die("nginx wrote no pid file")
end
register(master, "QUIT")

local ngx_url = "http://127.0.0.1:" .. ngx_port
local function stats()
    local s, err = get_json(ngx_url .. "/stats")
    if not s then
        die("GET /stats: " .. tostring(err))
    end
    return s
end

local first
for _ = 1, 100 do
    first = get_json(ngx_url .. "/stats")
    if first then
        break
    end
    sleep(0.1)
end
if not first then
    die("nginx does not answer: " .. (read_file(DIR .. "/logs/error.log")
        or ""))
end
local wpid = first.worker_pid

local function rss_mb(pid)
    local st = read_file("/proc/" .. pid .. "/status") or ""
    local kb = tonumber(st:match("VmRSS:%s*(%d+)"))
    return kb and kb / 1024
end

local wrk_pid

local function stop_all()
    if wrk_pid and alive(wrk_pid) then
        run("kill -TERM " .. wrk_pid)
        wait_gone(wrk_pid, 5)
    end
    if master and alive(master) then
        run("kill -QUIT " .. master)
        if not wait_gone(master, 20) then
            run("pkill -KILL -P " .. master .. " 2>/dev/null; kill -KILL "
                .. master .. " 2>/dev/null")
            wait_gone(master, 5)
        end
    end
    if recv.pid and alive(recv.pid) then
        run("kill -TERM " .. recv.pid)
        wait_gone(recv.pid, 5)
    end
    -- stopped: run.sh must not signal these pids (they may be reused)
    os.remove(DIR .. "/pids")
end

-- ---- the load -------------------------------------------------------------

say("soak: %d s of wrk -t2 -c64 against nginx (1 worker, pid %d), "
    .. "queue %d, collector answering each export after %d ms",
    SECONDS, wpid, QUEUE, DELAY_MS)

local REASONS = { "spans_exported", "spans_dropped_queue_full",
                  "spans_dropped_export_failed", "spans_dropped_rejected",
                  "spans_dropped_shutdown", "spans_queued" }

local function settled(s)
    local sum = 0
    for _, k in ipairs(REASONS) do
        sum = sum + s[k]
    end
    return sum
end

local samples = {}      -- { t, rss, stats }
local t0 = now()
local function sample(label)
    local s = stats()
    local r = rss_mb(wpid)
    if not r then
        stop_all()
        die("the nginx worker " .. wpid .. " is gone: "
            .. (read_file(DIR .. "/logs/error.log") or ""))
    end
    local t = now() - t0
    samples[#samples + 1] = { t = t, rss = r, s = s, label = label }
    -- queued and exported move on the export thread while /stats reads
    -- them one by one: the difference is informative, not exact
    say("  t=%5.1fs %-8s RSS %6.1f MB  ended %9d  exported %8d  "
        .. "queue_full %9d  failed %d  queued %4d  in flight ~%d",
        t, label, r, s.spans_ended, s.spans_exported,
        s.spans_dropped_queue_full, s.spans_dropped_export_failed,
        s.spans_queued, s.spans_ended - settled(s))
    return s
end

say("RSS of the nginx worker every %d s:", SAMPLE_S)
sample("start")

local wrk_out = DIR .. "/wrk.out"
t0 = now()
wrk_pid = tonumber(read_cmd("wrk -t2 -c64 --latency -d" .. SECONDS
    .. "s " .. quote(ngx_url .. "/") .. " > " .. quote(wrk_out)
    .. " 2>&1 & echo $!"))
if not wrk_pid then
    stop_all()
    die("could not start wrk")
end
register(wrk_pid, "TERM")

-- The load is over when wrk has printed its summary (the process may
-- take a moment longer to exit) or is gone.
local function loading()
    if not alive(wrk_pid) then
        return false
    end
    return not (read_file(wrk_out) or ""):find("Requests/sec", 1, true)
end

local k = 1
while loading() do
    local due = t0 + k * SAMPLE_S
    while now() < due and loading() do
        sleep(math.min(0.1, due - now()))
    end
    if now() >= due then
        sample("load")
        k = k + 1
    end
end
local at_end = sample("load end")
local t_load = at_end and samples[#samples].t
-- the collector recovers: fast from here
control("reset", {})
local wrk = read_file(wrk_out) or ""
local wrk_requests = tonumber(wrk:match("(%d+) requests in")) or 0
local wrk_time = wrk:match("requests in ([%d%.]+%a+)") or "?"
local wrk_rps = tonumber(wrk:match("Requests/sec:%s*([%d%.]+)")) or 0
local wrk_non2xx = tonumber(wrk:match("Non%-2xx or 3xx responses:%s*(%d+)"))
                   or 0
local wrk_errors = wrk:match("Socket errors:[^\n]*")
local lat = wrk:match("\n%s*Latency%s+([^\n]+)") or ""
local lat_avg, _, lat_max = lat:match("^(%S+)%s+(%S+)%s+(%S+)")
local p99 = wrk:match("\n%s*99%%%s+(%S+)")
say("wrk: %d requests in %s (%.0f/s), latency avg %s, p99 %s, max %s%s%s",
    wrk_requests, wrk_time, wrk_rps, tostring(lat_avg), tostring(p99),
    tostring(lat_max),
    wrk_non2xx > 0 and (", non-2xx: " .. wrk_non2xx) or "",
    wrk_errors and (", " .. wrk_errors) or "")
say("queued when the load stopped: %d; the collector is fast again",
    at_end.spans_queued)

-- ---- drain ----------------------------------------------------------------

local s
local deadline = now() + 30
repeat
    sleep(0.25)
    s = stats()
until (s.spans_queued == 0 and settled(s) == s.spans_ended)
      or now() > deadline
local t_drain = now() - t0 - t_load
s = sample("drained")
local rstats = get_json(recv.url .. "/stats") or { total = {} }

stop_all()
local err_log = read_file(DIR .. "/logs/error.log") or ""

-- ---- the report -----------------------------------------------------------

local loaded = {}
for _, x in ipairs(samples) do
    if x.label == "load" then
        loaded[#loaded + 1] = x
    end
end
-- after warm-up: the sample at 10 s on runs of 20 s or more, else the
-- first sample under load
local warm = loaded[SECONDS >= 20 and 2 or 1] or samples[2] or samples[1]
local last = loaded[#loaded] or at_end
local curve = {}
for _, x in ipairs(samples) do
    curve[#curve + 1] = string.format("%.1f", x.rss)
end

say("")
say("report")
say("  RSS samples (MB): %s", table.concat(curve, " "))
say("  requests: wrk %d, traced by nginx %d", wrk_requests,
    s.requests_traced)
say("  spans: started %d, ended %d, exported %d", s.spans_started,
    s.spans_ended, s.spans_exported)
say("  dropped: queue_full %d, export_failed %d, rejected %d, "
    .. "shutdown %d; queued %d", s.spans_dropped_queue_full,
    s.spans_dropped_export_failed, s.spans_dropped_rejected,
    s.spans_dropped_shutdown, s.spans_queued)
say("  exports: %d requests, %d retries, %d failures; receiver accepted "
    .. "%s spans in %s requests", s.export_requests, s.export_retries,
    s.export_failures or 0, tostring(rstats.total.spans),
    tostring(rstats.total.accepted))
say("  drained in %.1f s after the load stopped", t_drain)

local checks = {}
local function check(ok, name, detail)
    checks[#checks + 1] = { ok = ok and true or false, name = name,
                            detail = detail }
end

local grow = last.rss - warm.rss
local allowed = math.max(5, warm.rss * 0.10)
check(grow <= allowed, "RSS flat",
      string.format("%.1f MB at %.0f s -> %.1f MB at %.0f s (%+.1f MB, "
                    .. "allowed %.1f)", warm.rss, warm.t, last.rss, last.t,
                    grow, allowed))
check(s.spans_dropped_queue_full > 0, "the queue overflowed",
      s.spans_dropped_queue_full .. " spans dropped, queue full")
check(settled(s) == s.spans_ended, "drops counted exactly (identity)",
      string.format("ended %d = exported %d + queue_full %d + failed %d "
                    .. "+ rejected %d + shutdown %d + queued %d",
                    s.spans_ended, s.spans_exported,
                    s.spans_dropped_queue_full,
                    s.spans_dropped_export_failed,
                    s.spans_dropped_rejected, s.spans_dropped_shutdown,
                    s.spans_queued))
check(s.spans_ended == SPANS_PER_REQUEST * s.requests_traced
      and s.spans_started == s.spans_ended,
      "every request's spans ended",
      string.format("started %d, ended %d, 2 x %d requests",
                    s.spans_started, s.spans_ended, s.requests_traced))
check(rstats.total.spans == s.spans_exported + s.spans_dropped_rejected,
      "the collector holds exactly what was counted exported",
      string.format("receiver %s, exported %d",
                    tostring(rstats.total.spans), s.spans_exported))
check(s.spans_queued == 0, "queue drained",
      string.format("queued %d, %.1f s after the load", s.spans_queued,
                    t_drain))
local bad = err_log:match("[^\n]*%[alert%][^\n]*")
            or err_log:match("[^\n]*%[crit%][^\n]*")
            or err_log:match("[^\n]*%[emerg%][^\n]*")
            or err_log:match("[^\n]*exited on signal[^\n]*")
check(not bad, "nginx error log clean", bad or "no alert, crit, emerg")

local failed = 0
if TAP then
    io.stdout:write("1..", #checks, "\n")
end
for i, c in ipairs(checks) do
    if not c.ok then
        failed = failed + 1
    end
    if TAP then
        io.stdout:write(c.ok and "ok " or "not ok ", i, " - soak ",
                        c.name, ": ", c.detail, "\n")
    else
        io.stdout:write(c.ok and "PASS " or "FAIL ", c.name, ": ",
                        c.detail, "\n")
    end
end
if failed > 0 and not TAP then
    io.stdout:write("logs in ", DIR, " (kept with OTEL_SOAK_KEEP=1)\n")
end
os.exit(failed == 0 and 0 or 1)
