#!/bin/sh
# Runs the test suites and ends with one line "N passed, N failed" that
# sums them all.
#   t/run.sh [suite ...]      suites: c lua nginx asan tsan valgrind
#                             proto lint rock soak fuzz
#                             (default: c lua nginx)
# asan/tsan/valgrind build their own copy of the core and run the C tests
# and/or the Lua specs under the sanitizer.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
SAN=${SAN:-}
OPT=${OPT:-}
LDFLAGS=${LDFLAGS:-}
suites=${*:-c lua nginx}
passed=0
failed=0
log=$(mktemp -d)

# Counts TAP lines of a finished run; a run that printed no result line
# but failed counts as one failure.
count() {
    out=$1 rc=$2 name=$3
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^not ok ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $name (exit $rc, no failing test reported):"
        tail -n 30 "$out" | sed 's/^/    /'
    fi
    grep '^not ok ' "$out" | sed "s|^|FAIL $name: |"
    if [ "$f" -gt 0 ]; then
        grep -A12 '^not ok ' "$out" | grep -v '^ok ' | head -40 \
            | sed 's/^/    /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    echo "  $name: $p passed, $f failed"
}

san_env() {
    case "$SAN" in
    asan)
        libasan=$(gcc -print-file-name=libasan.so)
        libubsan=$(gcc -print-file-name=libubsan.so)
        echo "LD_PRELOAD=$libasan:$libubsan" \
             "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0" \
             "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
        ;;
    esac
}

run_c() {
    echo "== C tests ($BUILD)"
    make --no-print-directory -s BUILD="$BUILD" ${OPT:+OPT="$OPT"} \
        ${LDFLAGS:+LDFLAGS="$LDFLAGS"} c-tests > "$log/build" 2>&1 || {
        cat "$log/build"
        failed=$((failed + 1)); echo "FAIL building the C tests"; return; }
    for t in "$BUILD"/t/*; do
        [ -x "$t" ] || continue
        name=c/$(basename "$t")
        case "$SAN" in
        tsan) TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
                  timeout 600 "$t" > "$log/out" 2>&1 ;;
        *) ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1" \
               timeout 600 "$t" > "$log/out" 2>&1 ;;
        esac
        count "$log/out" $? "$name"
    done
}

run_busted() {
    dir=$1
    for spec in "$dir"/*_spec.lua; do
        [ -f "$spec" ] || continue
        name=${spec#t/}
        case "$SAN" in
        valgrind)
            OTEL_BUILD=$BUILD timeout 1200 valgrind -q --leak-check=full \
                --errors-for-leak-kinds=definite --error-exitcode=99 \
                --suppressions=t/valgrind.supp \
                luajit /usr/bin/busted --ignore-lua -o TAP "$spec" \
                > "$log/out" 2>&1 ;;
        *)
            env $(san_env) OTEL_BUILD="$BUILD" timeout 900 \
                luajit /usr/bin/busted -o TAP "$spec" > "$log/out" 2>&1 ;;
        esac
        count "$log/out" $? "$name"
    done
}

# A check that is one pass or one failure: name, then the command.
run_one() {
    name=$1
    shift
    if "$@" > "$log/out" 2>&1; then
        echo "ok 1 - $name" > "$log/tap"
        count "$log/tap" 0 "$name"
    else
        echo "not ok 1 - $name" > "$log/tap"
        sed 's/^/    /' "$log/out" | tail -n 40
        count "$log/tap" 1 "$name"
    fi
}

ASAN_OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
ASAN_OPT="$ASAN_OPT -fno-sanitize-recover=undefined"
TSAN_OPT="-O1 -g -fsanitize=thread"

# Builds the core into $BUILD with $OPT/$LDFLAGS.
build() {
    make --no-print-directory -s BUILD="$BUILD" OPT="$OPT" \
        LDFLAGS="$LDFLAGS" all > "$log/build" 2>&1 || {
        cat "$log/build"; failed=$((failed + 1))
        echo "FAIL building $BUILD"; return 1; }
}

for s in $suites; do
    case "$s" in
    c) run_c ;;
    lua) echo "== Lua specs"; run_busted t/spec ;;
    nginx) echo "== nginx integration"; run_busted t/nginx ;;
    asan)
        echo "== AddressSanitizer + UBSan"
        BUILD=build-asan OPT=$ASAN_OPT LDFLAGS="-fsanitize=address,undefined"
        SAN=asan
        build && { run_c; run_busted t/spec; }
        BUILD=build SAN= OPT= LDFLAGS= ;;
    tsan)
        echo "== ThreadSanitizer"
        BUILD=build-tsan OPT=$TSAN_OPT LDFLAGS="-fsanitize=thread" SAN=tsan
        build && run_c
        BUILD=build SAN= OPT= LDFLAGS= ;;
    valgrind)
        echo "== valgrind memcheck"
        SAN=valgrind run_busted t/spec
        SAN= ;;
    proto) echo "== generated protobuf code"
        run_one "proto/current" sh tools/gen-proto.sh --check ;;
    lint) echo "== lint"; run_one "lint" sh tools/lint.sh ;;
    rock) echo "== luarocks"; sh tools/rock-test.sh > "$log/out" 2>&1
        count "$log/out" $? "rock" ;;
    fuzz) echo "== libFuzzer, 10 s per target"
        sh fuzz/run.sh --tap 10 > "$log/out" 2>&1
        count "$log/out" $? "fuzz" ;;
    soak) echo "== overload soak (short)"
        sh t/soak/run.sh --tap > "$log/out" 2>&1
        count "$log/out" $? "soak" ;;
    *) echo "unknown suite $s"; failed=$((failed + 1)) ;;
    esac
done
rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
