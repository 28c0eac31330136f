#!/bin/sh
# What tracing costs nginx per request, in worker CPU.
#
# One nginx worker pinned to one core; wrk and the OTLP sink pinned to the
# other.  Each variant runs REPS times, the reps interleaved across the
# variants (a disturbance of the shared machine hits all of them alike);
# each figure is the median of the reps.  CPU is the worker process's
# utime + stime from /proc (every thread: the export thread included),
# read after a force_flush so that the export of the run's spans counts,
# divided by the requests wrk made.
#
#   A   no Lua phases                  `return 200`
#   B   same Lua phases, untraced      access, content and log by Lua
#   C   otel.ngx full                  B + a SERVER span with the HTTP
#                                      attributes, W3C extract, one child
#                                      span; all exported over OTLP/HTTP
#   Bb  B, browser-like request        15 headers: cookie, accept-*,
#   Cb  C, browser-like request        user-agent, referer, traceparent,
#                                      tracestate, baggage (bench/nginx/
#                                      browser.lua, a wrk script)
#   E   C with sampler always_off
#   Eb  E, browser-like request
#   D   C's handlers without otel.setup (instrumented, tracing disabled)
#   P   proxy_pass to an upstream      access and log by Lua, untraced; the
#                                      upstream is a third nginx (keepalive)
#   Ps  P + the SERVER span            start_request{ route } as in C
#   Pu  Ps + the upstream span         start_request{ upstream = true }:
#                                      the CLIENT span, injected headers
#
# "added" is the median over the reps of the variant's CPU per request
# minus that of its baseline in the same rep (B, Bb for the browser-like
# rows, P for the proxied ones), printed beside the target of the nginx cost issue.  The sink is a
# second nginx that answers 200 to each export, so no receiver is measured.
# No figure is a test: on a shared machine they move; median and pairing
# keep them comparable, not exact.
#
#   sh bench/nginx/run.sh     REPS=7 DURATION=5 CONNECTIONS=50 by default
#                             VARIANTS="A B C ..." runs a subset
#                             WORKER_CPU=0 CLIENT_CPU=1 the cores
#   COUNT=instructions sh bench/nginx/run.sh   instructions per request
#                             instead of CPU time: each server runs under
#                             valgrind's callgrind (one process, export
#                             thread included), counted over DURATION
#                             seconds of wrk after a warm-up.  Reproducible
#                             on a busy machine, where CPU time is not; one
#                             rep is enough.
#   PROFILE=C sh bench/nginx/run.sh   then profiles variant C under load:
#                             perf record -g on its worker (by library and
#                             by symbol), and LuaJIT's jit.v log of the
#                             worker (trace aborts and their reasons)
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${OTEL_BUILD:-$top/build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
count=${COUNT:-cpu}
duration=${DURATION:-5}
conns=${CONNECTIONS:-50}
reps=${REPS:-7}
if [ "$count" = instructions ]; then
    conns=${CONNECTIONS:-4}
    reps=${REPS:-1}
    command -v valgrind >/dev/null 2>&1 || {
        echo "bench/nginx: valgrind is missing" >&2; exit 1; }
fi
variants=${VARIANTS:-A B C Bb Cb E Eb D P Ps Pu}
wcpu=${WORKER_CPU:-0}
ccpu=${CLIENT_CPU:-1}

for tool in nginx wrk curl luajit taskset; do
    command -v $tool >/dev/null 2>&1 || {
        echo "bench/nginx: $tool is missing (make deps)" >&2; exit 1; }
done
[ -f "$build/otel_core.so" ] || make -C "$top" -s BUILD="$build" all

tmp=$(mktemp -d "${TMPDIR:-/tmp}/otel-nginx-bench.XXXXXX")
chmod 755 "$tmp"
pids=""
cleanup() {
    for p in $pids; do
        kill -QUIT "$p" 2>/dev/null || true
    done
    for p in $pids; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do
            sleep 0.1; n=$((n + 1))
        done
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    (cd "$top" && luajit -e 'package.path = "t/?.lua;" .. package.path
        io.write(require("nginx.harness").free_port())')
}

# start_nginx NAME CPU: runs $tmp/NAME/nginx.conf with its processes on
# core CPU; the master's pid in $pid, the worker's in $wpid
start_nginx() {
    name=$1
    mkdir -p "$tmp/$name/logs" "$tmp/$name/tmp"
    if [ "$count" = instructions ] && [ "$name" != sink ]; then
        # one process, in the foreground of valgrind
        taskset -c "$2" valgrind -q --tool=callgrind \
            --smc-check=all-non-file --instr-atstart=no \
            --callgrind-out-file="$tmp/$name/callgrind.out" \
            nginx -p "$tmp/$name" -c "$tmp/$name/nginx.conf" \
            -e "$tmp/$name/logs/error.log" \
            -g "daemon off; master_process off;" \
            > "$tmp/$name/logs/valgrind.log" 2>&1 &
        pid=$!
        wpid=$pid
        pids="$pids $pid"
        return
    fi
    taskset -c "$2" nginx -p "$tmp/$name" -c "$tmp/$name/nginx.conf" \
        -e "$tmp/$name/logs/error.log" -g "daemon on;"
    n=0
    while [ ! -s "$tmp/$name/logs/nginx.pid" ] && [ $n -lt 100 ]; do
        sleep 0.05; n=$((n + 1))
    done
    pid=$(cat "$tmp/$name/logs/nginx.pid")
    pids="$pids $pid"
    n=0
    wpid=""
    while [ -z "$wpid" ] && [ $n -lt 100 ]; do
        wpid=$(pgrep -P "$pid" | head -n 1 || true)
        [ -n "$wpid" ] || sleep 0.05
        n=$((n + 1))
    done
    # every thread of the worker (the export thread starts in
    # init_worker) on the worker's core
    taskset -a -p -c "$2" "$wpid" >/dev/null
}

main_conf() {
    cat <<EOF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 4096; }
EOF
}

# The OTLP endpoint: answers 200 to each export.
sink_port=$(free_port)
mkdir -p "$tmp/sink"
{ main_conf; cat <<EOF
http {
    access_log off;
    client_body_temp_path tmp/body;
    server {
        listen 127.0.0.1:$sink_port;
        client_body_buffer_size 16m;
        client_max_body_size 64m;
        location = /v1/traces {
            default_type application/x-protobuf;
            return 200 "";
        }
    }
}
EOF
} > "$tmp/sink/nginx.conf"
start_nginx sink "$ccpu"

# The upstream of the proxied variants.
up_port=$(free_port)
mkdir -p "$tmp/up"
{ main_conf; cat <<EOF
http {
    access_log off;
    server {
        listen 127.0.0.1:$up_port backlog=4096;
        keepalive_requests 1000000;
        location / {
            return 200 "hello\n";
        }
    }
}
EOF
} > "$tmp/up/nginx.conf"
start_nginx up "$ccpu"

# bench_conf MODE: the server under test (MODE: off, on, sampled_off,
# noprovider)
bench_conf() {
    mode=$1
    main_conf
    cat <<EOF
http {
    access_log off;
    client_body_temp_path tmp/body;
    lua_package_path "$top/lua/?.lua;$top/bench/nginx/?.lua;;";
    lua_package_cpath "$build/?.so;;";
    init_by_lua_block {
        require "otel"
        require "otel.ngx"
        require "handlers"
    }
    init_worker_by_lua_block {
        local mode = "$mode"
        if "$profile_mode" == mode then
            require("jit.v").start("$tmp/jit/" .. mode .. ".log")
            if "$count" ~= "instructions" then
                require("jit.p").start("vfi1", "$tmp/jit/" .. mode
                                       .. ".prof")
            end
        end
        TRACING = mode ~= "off"
        if mode == "on" or mode == "sampled_off" then
            local otel = require "otel"
            otel.setup {
                service_name = "bench",
                sampler = mode == "sampled_off"
                          and otel.sampler.always_off() or nil,
                exporter = "otlp",
                otlp = { endpoint = "http://127.0.0.1:$sink_port" },
                batch = { max_queue_size = 65536,
                          max_export_batch_size = 1024,
                          schedule_delay_ms = 200 },
            }
        end
    }
    exit_worker_by_lua_block {
        if "$profile_mode" == "$mode" and "$count" ~= "instructions" then
            require("jit.p").stop()
        end
        require("otel.ngx").exit_worker()
    }
    upstream bench_up {
        server 127.0.0.1:$up_port;
        keepalive 64;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /proxy {
            access_by_lua_block { require("handlers").proxy_access() }
            proxy_pass http://bench_up/;
            log_by_lua_block { require("handlers").log() }
        }
        location = /proxys {
            access_by_lua_block { require("handlers").proxys_access() }
            proxy_pass http://bench_up/;
            log_by_lua_block { require("handlers").log() }
        }
        location = /plain {
            return 200 "hello\n";
        }
        location = /bench {
            access_by_lua_block { require("handlers").access() }
            content_by_lua_block { require("handlers").content() }
            log_by_lua_block { require("handlers").log() }
        }
        location = /stats {
            content_by_lua_block {
                local otel = require "otel"
                otel.force_flush(10000)
                local s = otel.stats()
                for _, k in ipairs { "spans_ended", "spans_exported",
                                     "spans_queued",
                                     "spans_dropped_queue_full",
                                     "spans_dropped_export_failed",
                                     "spans_dropped_rejected" } do
                    ngx.say(k, " ", s[k] or 0)
                end
            }
        }
    }
}
EOF
}

# The server of a variant, its path and its wrk script.
server_of() {
    case $1 in
        A|B|Bb|P) echo off ;; C|Cb|Ps|Pu) echo on ;;
        E|Eb) echo sampled_off ;; D) echo noprovider ;;
    esac
}
path_of() {
    case $1 in
        A) echo /plain ;; P|Pu) echo /proxy ;; Ps) echo /proxys ;;
        *) echo /bench ;;
    esac
}
browser() { case $1 in *b) return 0 ;; *) return 1 ;; esac; }
baseline_of() {
    case $1 in P*) echo P ;; *) if browser "$1"; then echo Bb
                                else echo B; fi ;; esac
}
label_of() {
    case $1 in
        A) echo "A  no Lua phases" ;;
        B) echo "B  same Lua phases, untraced" ;;
        C) echo "C  otel.ngx full" ;;
        Bb) echo "Bb B, browser-like request" ;;
        Cb) echo "Cb C, browser-like request" ;;
        E) echo "E  sampler always_off" ;;
        Eb) echo "Eb E, browser-like request" ;;
        D) echo "D  otel.ngx, no otel.setup" ;;
        P) echo "P  proxy_pass, untraced" ;;
        Ps) echo "Ps P + SERVER span" ;;
        Pu) echo "Pu Ps + upstream CLIENT span" ;;
    esac
}
target_of() {
    case $1 in
        C) echo 3.0 ;; Cb) echo 3.5 ;; E|Eb|D) echo 0.5 ;; *) echo "" ;;
    esac
}

profile=${PROFILE:-}
profile_mode=""
if [ -n "$profile" ]; then
    profile_mode=$(server_of "$profile")
    [ -n "$profile_mode" ] || { echo "bench/nginx: no variant $profile" >&2
                                exit 1; }
    case " $variants " in *" $profile "*) ;; *)
        variants="$variants $profile" ;; esac
    # the worker runs as nobody: the jit.v log's directory is open to it
    mkdir -p "$tmp/jit"
    chmod 777 "$tmp/jit"
fi

servers=""
for v in $variants; do
    s=$(server_of "$v")
    [ -n "$s" ] || { echo "bench/nginx: no variant $v" >&2; exit 1; }
    case " $servers " in *" $s "*) ;; *) servers="$servers $s" ;; esac
    # the baseline of the added figure runs too
    case $v in A|B|Bb|P) ;; *)
        b=$(baseline_of "$v")
        case " $variants " in *" $b "*) ;; *) variants="$b $variants" ;; esac
    esac
done
case " $servers " in *" off "*) ;; *) servers="off $servers" ;; esac

for mode in $servers; do
    port=$(free_port)
    mkdir -p "$tmp/$mode"
    bench_conf "$mode" > "$tmp/$mode/nginx.conf"
    start_nginx "$mode" "$wcpu"
    eval "port_$mode=$port wpid_$mode=$wpid mpid_$mode=$pid"
    n=0
    until curl -s -o /dev/null "http://127.0.0.1:$port/bench" \
          || [ $n -gt 600 ]; do
        sleep 0.05; n=$((n + 1))
    done
done

# cpu_ticks PID: user + system clock ticks of the process, all its
# threads (living and exited)
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/"$1"/stat
}
hz=$(getconf CLK_TCK)

# wrk's latency percentile P ("50%") of FILE, in microseconds
latency_us() {
    awk -v p="$1" '$1 == p {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1e6 : 0
        printf "%.0f", v * m }' "$2"
}

# run VARIANT REP: one wrk run; appends "rep rps cpu p50 p99 dropped" to
# $tmp/res.VARIANT
run() {
    v=$1
    mode=$(server_of "$v")
    eval "port=\$port_$mode wpid=\$wpid_$mode"
    url=http://127.0.0.1:$port$(path_of "$v")
    script=""
    if browser "$v"; then
        script="-s $top/bench/nginx/browser.lua"
    fi
    if [ "$count" = instructions ]; then
        callgrind_control -i on "$wpid" >/dev/null
        callgrind_control -z "$wpid" >/dev/null
        t0=0
    else
        t0=$(cpu_ticks "$wpid")
    fi
    # shellcheck disable=SC2086
    taskset -c "$ccpu" wrk -t1 -c"$conns" -d"${duration}s" --latency \
        $script "$url" > "$tmp/wrk.out" 2>&1
    cp "$tmp/wrk.out" "$tmp/wrk.$v"
    curl -s "http://127.0.0.1:$port/stats" > "$tmp/stats.out"
    if [ "$count" = instructions ]; then
        rm -f "$tmp/$mode/callgrind.out"*
        callgrind_control -d "$wpid" >/dev/null
        callgrind_control -i off "$wpid" >/dev/null
        # instructions, in "clock ticks" of one per million
        cat "$tmp/$mode/callgrind.out"* > "$tmp/callgrind.$v"
        t1=$(awk '
            /^(summary|totals):/ { s = $2 } END { print s / 1e6 * hz }' \
            hz="$hz" "$tmp/callgrind.$v")
    else
        t1=$(cpu_ticks "$wpid")
    fi
    total=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$tmp/wrk.out")
    stat() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/stats.out"; }
    dropped=$(( $(stat spans_dropped_queue_full) \
        + $(stat spans_dropped_export_failed) \
        + $(stat spans_dropped_rejected) ))
    cpu=$(echo "$t0 $t1 $total $hz" \
          | awk '{ printf "%.3f", ($2 - $1) * 1e6 / $4 / $3 }')
    echo "$2 $rps $cpu $(latency_us 50% "$tmp/wrk.out")" \
         "$(latency_us 99% "$tmp/wrk.out") $dropped" >> "$tmp/res.$v"
    errs=$(awk '/Non-2xx|Socket errors/' "$tmp/wrk.out" | tr -s ' ')
    [ -z "$errs" ] || echo "    $v, rep $2: wrk: $errs" >&2
}

# median COLUMN FILE
median() {
    awk -v c="$1" '{ print $c }' "$2" | sort -g \
        | awk '{ v[NR] = $1 } END {
            if (NR % 2) print v[(NR + 1) / 2];
            else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "nginx $(nginx -v 2>&1 | sed 's|.*/||'), 1 worker on core $wcpu;" \
     "wrk -t1 -c$conns -d${duration}s and the sink on core $ccpu;" \
     "$reps reps interleaved, medians"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# warm up every server (JIT) with both kinds of request
for mode in $servers; do
    eval "port=\$port_$mode"
    taskset -c "$ccpu" wrk -t1 -c"$conns" -d2s \
        "http://127.0.0.1:$port/bench" >/dev/null 2>&1
    taskset -c "$ccpu" wrk -t1 -c"$conns" -d1s \
        -s "$top/bench/nginx/browser.lua" \
        "http://127.0.0.1:$port/bench" >/dev/null 2>&1
    taskset -c "$ccpu" wrk -t1 -c"$conns" -d1s \
        "http://127.0.0.1:$port/proxy" >/dev/null 2>&1
    taskset -c "$ccpu" wrk -t1 -c"$conns" -d1s \
        "http://127.0.0.1:$port/proxys" >/dev/null 2>&1
    curl -s -o /dev/null "http://127.0.0.1:$port/stats"
done

rep=1
while [ $rep -le "$reps" ]; do
    for v in $variants; do
        run "$v" "$rep"
    done
    rep=$((rep + 1))
done

echo
if [ "$count" = instructions ]; then
    unit="Ir/req" added_unit="added Ir" fmt="%9.0f"
else
    unit="CPU us/r" added_unit="added us" fmt="%9.2f"
fi
printf '%-32s %8s %8s %8s %9s %9s %7s %7s\n' "variant" "req/s" \
    "p50 us" "p99 us" "$unit" "$added_unit" "target" "dropped"
for v in A B C Bb Cb E Eb D P Ps Pu; do
    [ -f "$tmp/res.$v" ] || continue
    added="" target=$(target_of "$v")
    case $v in A|B|Bb|P) ;; *)
        b=$(baseline_of "$v")
        # the rep's CPU minus its baseline's in the same rep
        awk 'NR == FNR { base[$1] = $3; next }
             ($1 in base) { print $1, $3 - base[$1] }' \
            "$tmp/res.$b" "$tmp/res.$v" > "$tmp/diff.$v"
        added=$(median 2 "$tmp/diff.$v")
        if [ "$count" = instructions ]; then
            added=$(printf '%+.0f' "$added") target=""
        else
            added=$(printf '%+.2f' "$added")
        fi
    esac
    dropped=$(awk '{ d += $6 } END { print d }' "$tmp/res.$v")
    printf "%-32s %8s %8s %8s $fmt %9s %7s %7s\n" "$(label_of "$v")" \
        "$(median 2 "$tmp/res.$v")" "$(median 4 "$tmp/res.$v")" \
        "$(median 5 "$tmp/res.$v")" "$(median 3 "$tmp/res.$v")" \
        "$added" "${target:+<= $target}" "$dropped"
done
echo
if [ "$count" = instructions ]; then
    echo "Ir: instructions per request under callgrind (worker and export" \
         "thread); added: against the same phases untraced (B; Bb for the" \
         "browser-like rows; P for the proxied ones)"
else
    echo "added: CPU us per request against the same phases untraced (B;" \
         "Bb for the browser-like rows; P for the proxied ones), median of" \
         "the per-rep differences; the upstream span's own cost is Pu - Ps"
fi

[ -n "$profile" ] || exit 0

# ---- profile of one variant --------------------------------------------
if [ "$count" = instructions ]; then
    echo
    echo "== instructions of $(label_of "$profile") by function" \
         "(callgrind, self; ??? is LuaJIT's compiled code)"
    for v in "$(baseline_of "$profile")" "$profile"; do
        echo "-- $(label_of "$v"): instructions per request by library"
        total=$(awk '/requests in/ { print $1 }' "$tmp/wrk.$v")
        callgrind_annotate --inclusive=no --threshold=100 \
            "$tmp/callgrind.$v" 2>/dev/null \
            | awk -v n="$total" '/^ *[0-9,]+ .*\[.*\]$/ {
                ir = $1; gsub(/,/, "", ir); lib = $NF
                sub(/.*\//, "", lib); sub(/\]$/, "", lib); by[lib] += ir }
              END { for (l in by) printf "  %8.0f  %s\n", by[l] / n, l }' \
            | sort -rn | head -n 10
    done
    echo "-- $(label_of "$profile"): functions (self)"
    callgrind_annotate --inclusive=no "$tmp/callgrind.$profile" 2>/dev/null \
        | sed -n '/^ *Ir/,$p' | head -n 45
    [ -z "${CGKEEP:-}" ] || cp "$tmp/callgrind.$profile" "$CGKEEP"
    exit 0
fi
mode=$(server_of "$profile")
eval "port=\$port_$mode wpid=\$wpid_$mode"
script=""
if browser "$profile"; then
    script="-s $top/bench/nginx/browser.lua"
fi
echo
echo "== profile of $(label_of "$profile") under wrk, ${duration}s:" \
     "worker CPU us per request by library (perf record -g)"
perf record -q -g -o "$tmp/perf.data" -p "$wpid" >/dev/null 2>&1 &
perf_pid=$!
sleep 0.5
t0=$(cpu_ticks "$wpid")
# shellcheck disable=SC2086
taskset -c "$ccpu" wrk -t1 -c"$conns" -d"${duration}s" $script \
    "http://127.0.0.1:$port$(path_of "$profile")" > "$tmp/wrk.out" 2>&1
t1=$(cpu_ticks "$wpid")
kill -INT "$perf_pid"
wait "$perf_pid" || true
total=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
cpu=$(echo "$t0 $t1 $total $hz" \
      | awk '{ printf "%.3f", ($2 - $1) * 1e6 / $4 / $3 }')
echo "($cpu us per request in this run)"
perf report -i "$tmp/perf.data" --no-children --sort dso -g none --stdio \
    2>/dev/null | awk -v c="$cpu" '/^ +[0-9.]+%/ {
        p = $1; sub(/%/, "", p)
        printf "  %6.2f us  %6s  %s\n", p * c / 100, $1, $2 }' | head -n 12
echo
echo "top symbols (share of the worker's CPU):"
perf report -i "$tmp/perf.data" --no-children --sort dso,sym -g none \
    --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
echo
echo "== jit.v of that worker: trace aborts and stitches (count, reason)"
grep -E 'abort|NYI|stitch' "$tmp/jit/$mode.log" 2>/dev/null \
    | sed 's/^\[TRACE *[0-9]* //' | sort | uniq -c | sort -rn | head -n 25
# jit.p writes its profile when the worker exits
eval "mpid=\$mpid_$mode"
kill -QUIT "$mpid" 2>/dev/null || true
n=0
while kill -0 "$mpid" 2>/dev/null && [ $n -lt 100 ]; do
    sleep 0.1; n=$((n + 1))
done
[ -z "${JITLOG:-}" ] || cp "$tmp/jit/$mode.log" "$JITLOG"
echo
echo "== jit.p of that worker (VM state, then functions, whole run)"
head -n 60 "$tmp/jit/$mode.prof" 2>/dev/null
echo
echo "(traces: $(grep -c 'TRACE [0-9]* start' "$tmp/jit/$mode.log" \
    2>/dev/null || true) started," \
    "$(grep -c 'abort' "$tmp/jit/$mode.log" 2>/dev/null || true) aborted)"
