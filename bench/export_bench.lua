-- The batch export pipeline, measured against a local HTTP sink
-- (bench/discard_server.c: reads each body, answers 200, keep-alive), so
-- that the figures are the exporter's and not a collector's:
--   1. end-to-end spans/s from Lua through the worker thread to the sink;
--   2. the recording-span figure of span_bench.lua (start_as_current_span
--      + 3 attributes + 1 event + end) with batch + OTLP live, beside the
--      same with exporter none, and their ratio;
--   3. the worker thread's CPU time per exported span;
--   4. per protocol (http/protobuf, with gzip, grpc, with gzip, http/json):
--      the worker's CPU time and the request bytes per exported span (the
--      least of 5 interleaved rounds); the gRPC runs go to the same sink
--      in its h2c mode (--grpc).
-- Figures only, nothing fails on time.  Run from the checkout after make:
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="build/?.so;;" \
--       luajit bench/export_bench.lua
-- It builds $BUILD/discard_server (BUILD defaults to build) when missing.
-- Optional arguments: spans for (1) (default 1,000,000), spans per run
-- for (2) (default 200,000), spans per protocol for (4) (default 200,000).
local ffi = require "ffi"
local otel = require "otel"

local N_E2E = tonumber(arg and arg[1]) or 1000000
local N_REC = tonumber(arg and arg[2]) or 200000
local N_PROTO = tonumber(arg and arg[3]) or 200000
local BUILD = os.getenv("BUILD") or "build"
local CC = os.getenv("CC") or "cc"

ffi.cdef [[
struct otel_xb_timespec { long tv_sec; long tv_nsec; };
int otel_xb_clock_gettime(int clk, struct otel_xb_timespec *ts)
    __asm__("clock_gettime");
int otel_xb_usleep(unsigned int usec) __asm__("usleep");
int otel_xb_getpid(void) __asm__("getpid");
long otel_xb_sysconf(int name) __asm__("sysconf");
]]
local C = ffi.C
local core = require("otel.ffi").C       -- the core library
local CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID = 1, 3
local tsbuf = ffi.new("struct otel_xb_timespec")

local function clock(id)
    C.otel_xb_clock_gettime(id, tsbuf)
    return tonumber(tsbuf.tv_sec) + tonumber(tsbuf.tv_nsec) * 1e-9
end

local function wall() return clock(CLOCK_MONOTONIC) end
local function thread_cpu() return clock(CLOCK_THREAD_CPUTIME_ID) end

local function sleep_ms(ms)
    C.otel_xb_usleep(ms * 1000)
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

local function read_cmd(cmd)
    local f = assert(io.popen(cmd))
    local s = f:read("*a")
    f:close()
    return s
end

local function ok(cmd)
    local r = os.execute(cmd)
    return r == true or r == 0
end

-- Counters straight from the core: otel.stats() builds a table per call,
-- too much for the producer's loop.
local stat = {}
for i = 0, core.otel_stats_count() - 1 do
    stat[ffi.string(core.otel_stats_name(i))] = i
end
local function counter(name)
    return tonumber(core.otel_stats_get(stat[name]))
end

-- ---- the sink -------------------------------------------------------------

local BIN = BUILD .. "/discard_server"
local server, grpc_server = {}, {}

-- Starts the sink (mode "--grpc" or "") into the table s.
local function start_server(s, mode)
    local src = "bench/discard_server.c"
    if not ok("test -x " .. BIN .. " -a " .. BIN .. " -nt " .. src) then
        assert(ok(CC .. " -std=c11 -O2 -Wall -o " .. BIN .. " " .. src
                  .. " -lpthread"), "cannot build " .. BIN)
    end
    local pf = os.tmpname()
    os.remove(pf)
    s.port_file, s.log = pf, pf .. ".log"
    -- It exits by itself should this process die without stopping it.
    s.pid = tonumber(read_cmd(BIN .. " " .. mode .. " --port-file " .. pf
        .. " --watch-pid " .. C.otel_xb_getpid() .. " > /dev/null 2> "
        .. s.log .. " & echo $!"))
    for _ = 1, 500 do
        local p = tonumber(read_file(pf) or "")
        if p then
            s.url = "http://127.0.0.1:" .. p
            return
        end
        sleep_ms(10)
    end
    error("the discard server did not start")
end

local function stop_server(s)
    if s.pid then
        os.execute("kill " .. s.pid .. " 2>/dev/null")
        for _ = 1, 200 do
            if not ok("kill -0 " .. s.pid .. " 2>/dev/null") then
                break
            end
            sleep_ms(10)
        end
        s.pid = nil
    end
    if s.port_file then
        os.remove(s.port_file)
        os.remove(s.log)
    end
end

-- ---- CPU time of threads (/proc) -------------------------------------------

local pid = C.otel_xb_getpid()
local TICK = tonumber(C.otel_xb_sysconf(2))          -- _SC_CLK_TCK

-- The tid of this process's thread named name, or nil.
local function find_thread(name)
    local dir = "/proc/" .. pid .. "/task"
    for tid in read_cmd("ls " .. dir):gmatch("%d+") do
        local comm = read_file(dir .. "/" .. tid .. "/comm")
        if comm and comm:gsub("%s+$", "") == name then
            return tid
        end
    end
end

-- utime + stime of /proc/.../stat in seconds: of the whole process for
-- /proc/PID, of one thread for /proc/PID/task/TID.
local function stat_cpu(path)
    local st = read_file(path .. "/stat")
    if not st then
        return nil
    end
    -- fields after the command (which may hold spaces) in parentheses
    local rest = st:match("%) (.*)$")
    local f = {}
    for x in rest:gmatch("%S+") do
        f[#f + 1] = x
    end
    -- rest starts at field 3 (state): utime is field 14, stime 15
    return (tonumber(f[12]) + tonumber(f[13])) / TICK
end

-- CPU seconds of a thread of this process: schedstat's nanoseconds when
-- the kernel keeps them, else utime + stime in clock ticks.
local function thread_cpu_of(tid)
    local path = "/proc/" .. pid .. "/task/" .. tid
    local ss = read_file(path .. "/schedstat")
    local on_cpu = ss and ss:match("^(%d+)")
    if on_cpu then
        return tonumber(on_cpu) * 1e-9
    end
    return stat_cpu(path)
end

-- ---- the workload ----------------------------------------------------------

local function work(span)
    span:set_attribute("http.method", "GET")
    span:set_attribute("http.status", 200)
    span:set_attribute("cache.hit", true)
    span:add_event("cache.lookup")
end

local function run(tracer, n)
    for _ = 1, n do
        tracer:start_as_current_span("bench", nil, work)
    end
end

local function live_opts(queue, otlp)
    otlp = otlp or {}
    otlp.endpoint = otlp.endpoint or server.url
    return {
        exporter = "otlp", processor = "batch", service_name = "bench",
        otlp = otlp,
        batch = { max_queue_size = queue, max_export_batch_size = 512,
                  schedule_delay_ms = 200, export_timeout_ms = 30000 },
    }
end

-- 1 + 3: spans/s end to end, and the worker's CPU per exported span.  The
-- producer runs flat out but waits (sleeps) while the queue is nearly
-- full, so the rate is what the pipeline sustains without dropping.
local function end_to_end(n, otlp, sink, reps)
    local QUEUE = 65536
    sink = sink or server
    otel.setup(live_opts(QUEUE, otlp))
    local tracer = otel.tracer("bench", "1.0")
    run(tracer, 20000)                       -- warm up: JIT, pool, socket
    assert(otel.force_flush(60000))
    local tid = assert(find_thread("otel-export"),
                       "no otel-export thread")
    local high, low = QUEUE - 4096, QUEUE / 2
    local best
    for _ = 1, reps or 3 do
        local exp0 = counter("spans_exported")
        local drop0 = counter("spans_dropped_queue_full")
            + counter("spans_dropped_export_failed")
            + counter("spans_dropped_rejected")
        local req0 = counter("export_requests")
        local bytes0 = counter("export_bytes")
        local cpu0 = thread_cpu_of(tid)
        local srv0 = stat_cpu("/proc/" .. sink.pid)
        local t0 = wall()
        local done = 0
        while done < n do
            local k = math.min(1024, n - done)
            run(tracer, k)
            done = done + k
            if counter("spans_queued") > high then
                repeat
                    sleep_ms(1)
                until counter("spans_queued") < low
            end
        end
        assert(otel.force_flush(60000))
        local dt = wall() - t0
        local r = {
            exported = counter("spans_exported") - exp0,
            dropped = counter("spans_dropped_queue_full")
                + counter("spans_dropped_export_failed")
                + counter("spans_dropped_rejected") - drop0,
            requests = counter("export_requests") - req0,
            bytes = counter("export_bytes") - bytes0,
            cpu = thread_cpu_of(tid) - cpu0,
            server_cpu = stat_cpu("/proc/" .. sink.pid) - srv0,
            dt = dt,
        }
        r.rate = r.exported / dt
        if not best or r.rate > best.rate then
            best = r
        end
    end
    otel.shutdown()
    return best
end

-- 2: ns per recording span on the Lua thread: one run of n spans under a
-- fresh setup (after a warm-up), the GC stopped during the run as in
-- span_bench.lua; wall clock and the Lua thread's own CPU time (the
-- worker's is in neither).  Returns wall ns, CPU ns, spans dropped.
local function recording_run(opts, n)
    otel.setup(opts)
    local tracer = otel.tracer("bench", "1.0")
    run(tracer, n / 10)
    otel.force_flush(60000)
    local drop0 = counter("spans_dropped_queue_full")
    collectgarbage("collect")
    collectgarbage("stop")
    local c0, t0 = thread_cpu(), wall()
    run(tracer, n)
    local t1, c1 = wall(), thread_cpu()
    collectgarbage("restart")
    otel.force_flush(60000)               -- not timed: drains the queue
    local dropped = counter("spans_dropped_queue_full") - drop0
    otel.shutdown()
    return (t1 - t0) * 1e9 / n, (c1 - c0) * 1e9 / n, dropped
end

-- Best of 5 for each setup, the runs of the two interleaved so that both
-- see the same share of whatever else the machine is doing.
local function recording(setups, n)
    local best = {}
    for i = 1, #setups do
        best[i] = { wall = math.huge, cpu = math.huge, dropped = 0 }
    end
    for _ = 1, 5 do
        for i, opts in ipairs(setups) do
            local w, c, d = recording_run(opts, n)
            local b = best[i]
            b.wall = math.min(b.wall, w)
            b.cpu = math.min(b.cpu, c)
            b.dropped = b.dropped + d
        end
    end
    return best
end

local function commas(x)
    local s = string.format("%.0f", x)
    repeat
        local n
        s, n = s:gsub("^(%d+)(%d%d%d)", "%1,%2")
    until n == 0
    return s
end

-- 4: the worker's CPU and the request bytes per exported span, for each
-- protocol, against the sink that speaks it.
local PROTOCOLS = {
    { "http/protobuf", { protocol = "http/protobuf" } },
    { "http/protobuf+gzip", { protocol = "http/protobuf",
                              compression = "gzip" } },
    { "grpc", { protocol = "grpc" }, true },
    { "grpc+gzip", { protocol = "grpc", compression = "gzip" }, true },
    { "http/json", { protocol = "http/json" } },
}

-- Rounds of every protocol in turn, the least CPU per span of each kept,
-- so that all of them see the same share of what else the machine does.
local function protocols(n, rounds)
    local cpu, best = {}, {}
    for _ = 1, rounds do
        for _, p in ipairs(PROTOCOLS) do
            local sink = p[3] and grpc_server or server
            local otlp = { endpoint = sink.url }
            for k, v in pairs(p[2]) do
                otlp[k] = v
            end
            local e = end_to_end(n, otlp, sink, 1)
            local c = e.cpu * 1e6 / math.max(e.exported, 1)
            if not cpu[p[1]] or c < cpu[p[1]] then
                cpu[p[1]], best[p[1]] = c, e
            end
        end
    end
    for _, p in ipairs(PROTOCOLS) do
        local e = best[p[1]]
        print(string.format("    %-19s: %5.2f us/span, %6.1f bytes/span,"
                            .. " %s spans/s, dropped %d", p[1], cpu[p[1]],
                            e.bytes / math.max(e.exported, 1),
                            commas(e.rate), e.dropped))
    end
    print(string.format("grpc CPU per span / http/protobuf's: %.2f x"
                        .. " (target <= 1.2x)",
                        cpu.grpc / cpu["http/protobuf"]))
end

local function main()
    start_server(server, "")
    start_server(grpc_server, "--grpc")

    local e = end_to_end(N_E2E)
    print(string.format("export end-to-end: %s spans/s (target >= 300,000),"
                        .. " dropped %d", commas(e.rate), e.dropped))
    print(string.format("    %s spans in %.2f s, %d requests of %.0f spans,"
                        .. " %.0f bytes/span on the wire",
                        commas(e.exported), e.dt, e.requests,
                        e.exported / math.max(e.requests, 1),
                        e.bytes / math.max(e.exported, 1)))

    -- A queue that holds a whole run: nothing is dropped, every span
    -- costs an enqueue and is exported while the next ones are made.
    local QUEUE = 262144
    assert(N_REC <= QUEUE, "spans per run must fit the queue")
    local r = recording({ live_opts(QUEUE),
                          { exporter = "none", processor = "simple" } },
                        N_REC)
    local lw, lc, ldrop = r[1].wall, r[1].cpu, r[1].dropped
    local nw, nc = r[2].wall, r[2].cpu
    print(string.format("recording span with batch+OTLP live: %.0f ns vs"
                        .. " %.0f ns with exporter none = %.2f x"
                        .. " (target <= 1.2x)", lw, nw, lw / nw))
    print(string.format("    Lua thread CPU time: %.0f ns vs %.0f ns = %.2f x;"
                        .. " dropped %d", lc, nc, lc / nc, ldrop))

    print(string.format("exporter CPU per exported span: %.2f us",
                        e.cpu * 1e6 / math.max(e.exported, 1)))
    print(string.format("    (the worker thread, encoding + HTTP; the sink"
                        .. " took %.2f us per span)",
                        e.server_cpu * 1e6 / math.max(e.exported, 1)))

    print("exporter CPU and request bytes per exported span, by protocol:")
    protocols(N_PROTO, 5)
end

local okm, err = xpcall(main, debug.traceback)
if otel.info() then
    otel.shutdown(1000)
end
stop_server(server)
stop_server(grpc_server)
if not okm then
    io.stderr:write(err, "\n")
    os.exit(1)
end
