#!/bin/sh
# Builds the libFuzzer targets (fuzz/Makefile) and runs each for a while.
#   fuzz/run.sh [SECONDS] [TARGET ...]        default 60 s, every target
#   fuzz/run.sh --tap SECONDS [TARGET ...]    TAP lines, for t/run.sh
# A target runs on build-fuzz/corpus/<name>, a working copy seeded from
# fuzz/corpus/<name> (the committed seeds never grow).  Exits non-zero
# when a target finds a crash, a leak, a timeout or a failed check; the
# reproducer is in build-fuzz/crashes/ and `build-fuzz/fuzz_<name> FILE`
# replays it.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=build-fuzz
tap=0
if [ "${1:-}" = "--tap" ]; then
    tap=1
    shift
fi
secs=${1:-60}
[ $# -gt 0 ] && shift
case "$secs" in
''|*[!0-9]*) echo "usage: fuzz/run.sh [--tap] [SECONDS] [TARGET ...]" >&2
             exit 2 ;;
esac
targets=${*:-}
if [ -z "$targets" ]; then
    for f in fuzz/fuzz_*.c; do
        n=${f#fuzz/fuzz_}
        targets="$targets ${n%.c}"
    done
fi

mkdir -p "$out/logs" "$out/crashes"
if ! make -s -f fuzz/Makefile -j"$(nproc 2>/dev/null || echo 2)" \
        > "$out/logs/build.log" 2>&1; then
    if [ $tap -eq 1 ]; then
        echo "not ok 1 - fuzz build"
        sed 's/^/# /' "$out/logs/build.log" | tail -n 30
        echo "1..1"
    else
        cat "$out/logs/build.log"
        echo "fuzz: build failed"
    fi
    exit 1
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# What went wrong: the failed check or sanitizer report, and the stack
# frames in the core or the target.
report() {
    grep -E 'fuzz check failed|ERROR:|runtime error|SUMMARY' "$1" | head -n 5
    grep -E '#[0-9]+ .* in .*(/src/|/fuzz/)' "$1" | head -n 25 \
        | sed 's/ (BuildId: [0-9a-f]*)//'
}

n=0
failed=0
for t in $targets; do
    n=$((n + 1))
    bin=$out/fuzz_$t
    work=$out/corpus/$t
    log=$out/logs/$t.log
    mkdir -p "$work"
    if [ -d "fuzz/corpus/$t" ]; then
        cp fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    fi
    dict=
    [ -f "fuzz/$t.dict" ] && dict=-dict=fuzz/$t.dict
    start=$(date +%s)
    rc=0
    if [ -x "$bin" ]; then
        "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
            -rss_limit_mb=2048 -artifact_prefix="$out/crashes/$t-" \
            $dict "$work" > "$log" 2>&1 || rc=$?
    else
        echo "no such target: $bin" > "$log"
        rc=127
    fi
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" \
            | tail -n 1)
    execs=${execs:-0}
    repro=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" \
            | tail -n 1)
    if [ $rc -eq 0 ]; then
        if [ $tap -eq 1 ]; then
            echo "ok $n - fuzz $t ($execs execs)"
        else
            echo "fuzz $t: $execs execs in $took s, 0 crashes"
        fi
        continue
    fi
    failed=$((failed + 1))
    if [ $tap -eq 1 ]; then
        echo "not ok $n - fuzz $t (exit $rc after $execs execs)"
        report "$log" | sed 's/^/# /'
        [ -n "$repro" ] && echo "# reproducer: $repro ($bin $repro)"
    else
        echo "fuzz $t: CRASH (exit $rc) after $execs execs in $took s"
        report "$log" | sed 's/^/    /'
        echo "    log: $log"
        [ -n "$repro" ] && echo "    reproducer: $repro" \
            && echo "    replay: $bin $repro"
    fi
done
[ $tap -eq 1 ] && echo "1..$n"
[ $failed -eq 0 ]
