#!/bin/sh
# make bench: prints every figure beside its target.  No figure is a test:
# the machine is shared, so each one is the best of several runs.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
export LUA_PATH="lua/?.lua;lua/?/init.lua;;"
export LUA_CPATH="$BUILD/?.so;;"
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -Isrc"
LIBS="$BUILD/libotel_core.a -lcurl -lprotobuf-c -lz -lpthread -lm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== span hot path (bench/span_bench.lua, bench/bench_span.c)"
luajit bench/span_bench.lua
cc $CFLAGS bench/bench_span.c $LIBS -o "$tmp/bench_span"
best_c=""
for _ in 1 2 3; do
    c=$("$tmp/bench_span" 1000000 raw)
    if [ -z "$best_c" ] || [ "$(echo "$c < $best_c" | bc)" = 1 ]; then
        best_c=$c
    fi
done
a=$(luajit bench/span_bench.lua 1000000 raw | cut -d' ' -f1)
printf '(c) the same work in C (floor)    : %7.1f ns/span\n' "$best_c"
printf '    (a) / (c)                     : %7.2f x         (target <= 2)\n' \
    "$(echo "$a / $best_c" | bc -l)"

echo
echo "== rule sampler (bench/bench_rules.c, bench/sampler_bench.lua)"
cc $CFLAGS bench/bench_rules.c $LIBS -o "$tmp/bench_rules"
"$tmp/bench_rules"
luajit bench/sampler_bench.lua

echo
echo "== OTLP encoding (bench/bench_encode.c)"
cc $CFLAGS bench/bench_encode.c $LIBS -o "$tmp/bench_encode"
"$tmp/bench_encode"

if [ -f bench/export_bench.lua ]; then
    echo
    echo "== export pipeline (bench/export_bench.lua)"
    luajit bench/export_bench.lua
fi
if [ -f bench/propagation_bench.lua ]; then
    echo
    echo "== propagation (bench/propagation_bench.lua)"
    luajit bench/propagation_bench.lua
fi
if [ -x bench/nginx/run.sh ] || [ -f bench/nginx/run.sh ]; then
    echo
    echo "== nginx (bench/nginx/run.sh)"
    sh bench/nginx/run.sh
fi
