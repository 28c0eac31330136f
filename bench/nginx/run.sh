#!/bin/sh
# The cost of tracing in nginx: wrk against a trivial content handler, one
# worker, loopback only, in three configurations:
#
#   A  no Lua phases            `return 200`
#   B  same phases, tracing off access, content and log by Lua, running the
#                               handler code without its otel calls
#   C  tracing on               B plus a SERVER span (start_request /
#                               finish_request) and one child span per
#                               request, all exported over OTLP/HTTP
#
# (and, for information, D: B's handlers with their otel calls but no
# otel.setup: the instrumentation left in place with tracing disabled).
# C exports to a second nginx that reads each request body and discards
# it, so that no receiver is measured.  Prints req/s, p50 and p99 latency,
# the exporter's counters read from /stats, and the loss of C against B
# beside the target.  No figure is a test: the machine may be shared.
#
#   sh bench/nginx/run.sh    (DURATION=10 CONNECTIONS=50 ROUNDS=2 by default)
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${OTEL_BUILD:-$top/build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
duration=${DURATION:-10}
conns=${CONNECTIONS:-50}

for tool in nginx wrk curl luajit; do
    command -v $tool >/dev/null 2>&1 || {
        echo "bench/nginx: $tool is missing (make deps)" >&2; exit 1; }
done
[ -f "$build/otel_core.so" ] || make -C "$top" -s BUILD="$build" all

tmp=$(mktemp -d "${TMPDIR:-/tmp}/otel-nginx-bench.XXXXXX")
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

# start_nginx NAME: runs $tmp/NAME/nginx.conf; the master's pid in $pid
start_nginx() {
    name=$1
    mkdir -p "$tmp/$name/logs" "$tmp/$name/tmp"
    nginx -p "$tmp/$name" -c "$tmp/$name/nginx.conf" \
        -e "$tmp/$name/logs/error.log"
    n=0
    while [ ! -s "$tmp/$name/logs/nginx.pid" ] && [ $n -lt 100 ]; do
        sleep 0.05; n=$((n + 1))
    done
    pid=$(cat "$tmp/$name/logs/nginx.pid")
    pids="$pids $pid"
}

main_conf() {
    cat <<EOF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
daemon on;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 4096; }
EOF
}

# The OTLP endpoint of configuration C: reads each body, answers 200.
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
start_nginx sink

# bench_conf MODE: the server under test (MODE: plain, off, on, noprovider)
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
        TRACING = mode == "on" or mode == "noprovider"
        if mode == "on" then
            require("otel").setup {
                service_name = "bench",
                exporter = "otlp",
                otlp = { endpoint = "http://127.0.0.1:$sink_port" },
                batch = { max_queue_size = 65536,
                          max_export_batch_size = 1024,
                          schedule_delay_ms = 200 },
            }
        end
    }
    exit_worker_by_lua_block { require("otel.ngx").exit_worker() }
    server {
        listen 127.0.0.1:$port backlog=4096;
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

# The server under test of each configuration, on a port of its own.
for mode in plain off on noprovider; do
    port=$(free_port)
    mkdir -p "$tmp/$mode"
    bench_conf "$mode" > "$tmp/$mode/nginx.conf"
    start_nginx "$mode"
    eval "port_$mode=$port pid_$mode=$pid wpid_$mode=$(pgrep -P "$pid")"
    n=0
    until curl -s -o /dev/null "http://127.0.0.1:$port/bench" \
          || [ $n -gt 100 ]; do
        sleep 0.05; n=$((n + 1))
    done
done

# cpu_ticks PID: user + system clock ticks of all the process's threads
cpu_ticks() {
    cat /proc/"$1"/task/*/stat | awk '{ t += $14 + $15 } END { print t }'
}

path_of() { [ "$1" = plain ] && echo /plain || echo /bench; }

# bench MODE ROUND: one wrk run; keeps the best req/s of the rounds (the
# machine may be shared: the best run is the one least disturbed).
bench() {
    mode=$1
    eval "port=\$port_$mode"
    url=http://127.0.0.1:$port$(path_of "$mode")
    if [ "$2" = 1 ]; then
        wrk -t1 -c"$conns" -d2s "$url" >/dev/null 2>&1    # warm up (JIT)
    fi
    eval "wpid=\$wpid_$mode"
    t0=$(cpu_ticks "$wpid")
    wrk -t1 -c"$conns" -d"${duration}s" --latency "$url" \
        > "$tmp/wrk.$mode" 2>&1
    t1=$(cpu_ticks "$wpid")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.$mode")
    total=$(awk '/requests in/ { print $1 }' "$tmp/wrk.$mode")
    # the worker's CPU time (all its threads, exporter included) per
    # request: steadier than req/s when other processes take CPU
    cpu=$(echo "$t0 $t1 $total $(getconf CLK_TCK)" \
          | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $4 / $3 }')
    eval "best=\${rps_$mode:-0}"
    if [ "$(echo "$rps $best" | awk '{ print ($1 > $2) }')" = 1 ]; then
        eval "rps_$mode=$rps cpu_$mode=$cpu"
        eval "p50_$mode=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.$mode")"
        eval "p99_$mode=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.$mode")"
    fi
    errs=$(awk '/Non-2xx|Socket errors/' "$tmp/wrk.$mode" | tr -s ' ')
    [ -z "$errs" ] || echo "    $mode, round $2: wrk: $errs"
    # let the exporter finish before the next run
    curl -s -o /dev/null "http://127.0.0.1:$port/stats"
}

rounds=${ROUNDS:-2}
echo "nginx 1 worker, wrk -t1 -c$conns -d${duration}s on 127.0.0.1," \
     "$(nproc) CPUs, best of $rounds rounds"
round=1
while [ $round -le "$rounds" ]; do
    for mode in plain off on noprovider; do
        bench $mode $round
    done
    round=$((round + 1))
done

printf '%-34s %10s %9s %9s %8s %11s %11s %8s\n' "configuration" "req/s" \
    "p50" "p99" "cpu/req" "spans ended" "exported" "dropped"
line() {
    mode=$1 label=$2
    eval "port=\$port_$mode rps=\$rps_$mode p50=\$p50_$mode p99=\$p99_$mode"
    eval "cpu=\$cpu_$mode"
    curl -s "http://127.0.0.1:$port/stats" > "$tmp/stats.$mode"
    stat() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/stats.$mode"; }
    ended=$(stat spans_ended)
    exported=$(stat spans_exported)
    dropped=$(( $(stat spans_dropped_queue_full) \
        + $(stat spans_dropped_export_failed) \
        + $(stat spans_dropped_rejected) ))
    printf '%-34s %10s %9s %9s %6sus %11s %11s %8s\n' "$label" "$rps" \
        "$p50" "$p99" "$cpu" "$ended" "$exported" "$dropped"
    eval "dropped_$mode=$dropped ended_$mode=$ended"
}
line plain "A no Lua phases"
line off "B same phases, tracing off"
line on "C tracing on (SERVER + 1 child)"
line noprovider "D otel calls, no otel.setup"

loss=$(echo "$rps_off $rps_on" | awk '{ printf "%.1f", 100 * ($1 - $2) / $1 }')
verdict=met
if [ "$(echo "$loss" | awk '{ print ($1 > 5) }')" = 1 ] \
   || [ "$dropped_on" -ne 0 ]; then
    verdict="NOT met"
fi
echo
printf 'loss of C against B: %s%% of req/s, %s span(s) dropped of %s\n' \
    "$loss" "$dropped_on" "$ended_on"
echo "$cpu_off $cpu_on" | awk '{ printf "tracing costs %.1f us of worker " \
    "CPU per request (B %.1f us, C %.1f us)\n", $2 - $1, $1, $2 }'
echo "target: tracing on loses at most 5% of req/s of same phases," \
     "tracing off, with no span dropped -> $verdict"
