#!/bin/sh
# shellcheck disable=SC2317  # cleanup and its helpers run from a trap
# Overload soak (make soak): nginx with one worker traces every request
# and exports to a collector far slower than the load, so the batch queue
# overflows for the whole run; wrk drives it at full speed on loopback.
# Prints the worker's RSS every 5 s, the span counts by fate, and PASS/FAIL
# for: RSS flat, every drop counted (accounting identity), queue drained
# once the collector is fast again.  Exits non-zero on a failure.
#
#   t/soak/run.sh [seconds]        default 60
#   t/soak/run.sh --tap [seconds]  default 10; TAP lines ("ok N - soak ...")
#
# Needs `make` (the core in build/, or $OTEL_BUILD) and `make deps`
# (nginx, libnginx-mod-http-lua, wrk, node and the receiver's packages).
# Everything it starts is stopped by pid when it ends, however it ends;
# OTEL_SOAK_KEEP=1 keeps the work directory (logs, nginx.conf).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
LUAJIT=${LUAJIT:-luajit}

dir=$(mktemp -d /tmp/otel-soak.XXXXXX) || exit 1
lpid=""

# Stops what soak.lua registered in $dir/pids ("pid signal" lines), last
# first (wrk, nginx, then the collector nginx may still export to), each
# given 10 s, then killed for good (nginx with its workers: children of
# the master's pid).
# Running: exists and is not a zombie waiting for its reaper.
running() {
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}

stop_pid() {
    running "$1" || return 0
    kill -"$2" "$1" 2>/dev/null
    n=0
    while running "$1" && [ "$n" -lt 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if running "$1"; then
        pkill -KILL -P "$1" 2>/dev/null
        kill -KILL "$1" 2>/dev/null
    fi
}

cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null; then
        kill -TERM "$lpid" 2>/dev/null
        wait "$lpid" 2>/dev/null
    fi
    if [ -f "$dir/pids" ]; then
        tac "$dir/pids" | while read -r pid sig; do
            stop_pid "$pid" "$sig"
        done
    fi
    if [ -n "${OTEL_SOAK_KEEP:-}" ]; then
        echo "soak: kept $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# In the background, so that a signal to this shell is handled at once
# (a foreground child would delay the trap until it ends).
LUA_PATH="$top/lua/?.lua;$top/lua/?/init.lua;;" \
    "$LUAJIT" t/soak/soak.lua "$dir" "$@" &
lpid=$!
wait "$lpid"
rc=$?
lpid=""
exit $rc
