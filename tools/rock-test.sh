#!/bin/sh
# Installs lua-otel with luarocks into fresh temporary trees and runs
# examples/quickstart.lua from outside the checkout, offline.  Prints TAP
# lines (ok N - ... / not ok N - ...) that t/run.sh-style counting reads.
#
#   1. luarocks make: builds and installs from the checkout
#   2. luarocks pack: a binary rock of that install, installed into a
#      second, empty tree
#   3. a source rock of the current sources (a tarball served by a
#      file:// URL), built from scratch by luarocks install in a third
#      tree: nothing of the checkout's build/ is reused
# Each tree then runs the quickstart with only `luarocks path` set.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
version=$(sed -n 's/^#define OTEL_VERSION_STRING "\(.*\)"/\1/p' src/otel.h)
rockspec="lua-otel-$version-1.rockspec"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    if [ -f "$tmp/log" ]; then
        tail -n 25 "$tmp/log" | sed 's/^/#   /'
    fi
}

# step "description" command...: runs the command with its output in the
# log, shown only when it fails.
step() {
    what=$1
    shift
    if "$@" > "$tmp/log" 2>&1; then
        ok "$what"
    else
        not_ok "$what"
    fi
}

# Runs the quickstart with the tree's paths only, from a directory that is
# not the checkout, and checks that it printed the JSON and the waterfall.
quickstart() {
    tree=$1
    (
        cd "$tmp/elsewhere" || exit 1
        unset LUA_PATH LUA_CPATH LUA_INIT
        eval "$(luarocks --tree "$tree" path)"
        luajit "$top/examples/quickstart.lua"
    ) > "$tmp/out" 2>&1
    rc=$?
    cp "$tmp/out" "$tmp/log"
    [ "$rc" -eq 0 ] \
        && grep -q '"name": "POST /orders"' "$tmp/out" \
        && grep -q '"kind": "SpanKind.SERVER"' "$tmp/out" \
        && grep -q '^trace [0-9a-f]\{32\} ' "$tmp/out" \
        && grep -q 'apply coupon .*ERROR' "$tmp/out" \
        && grep -q '6 spans started, 6 exported, 0 dropped' "$tmp/out"
}

# The library a tree's Lua finds must be the tree's own.
finds_own_core() {
    tree=$1
    (
        cd "$tmp/elsewhere" || exit 1
        unset LUA_PATH LUA_CPATH LUA_INIT
        eval "$(luarocks --tree "$tree" path)"
        TREE=$tree luajit -e '
            local tree = os.getenv("TREE")
            local p = assert(package.searchpath("otel_core", package.cpath))
            local m = assert(package.searchpath("otel", package.path))
            assert(p:sub(1, #tree) == tree, p)
            assert(m:sub(1, #tree) == tree, m)
            require "otel.semconv"'

    )
}

mkdir -p "$tmp/elsewhere" "$tmp/rocks"

if ! command -v luarocks > /dev/null 2>&1; then
    not_ok "luarocks is installed"
    exit 1
fi

# 1. luarocks make from the checkout.
step "luarocks make $rockspec" \
    luarocks --tree "$tmp/t1" make "$rockspec"
step "tree 1 resolves otel and otel_core inside the tree" \
    finds_own_core "$tmp/t1"
step "tree 1 runs examples/quickstart.lua from outside the checkout" \
    quickstart "$tmp/t1"

# 2. A binary rock of that install, into an empty tree.
step "luarocks pack lua-otel $version-1 (binary rock)" \
    sh -c "cd '$tmp/rocks' && luarocks --tree '$tmp/t1' pack lua-otel \
           '$version-1'"
rock=
for r in "$tmp"/rocks/lua-otel-"$version"-1.*.rock; do
    [ -f "$r" ] && rock=$r
done
step "luarocks install of the binary rock into a fresh tree" \
    luarocks --tree "$tmp/t2" install "$rock"
step "tree 2 runs examples/quickstart.lua" \
    quickstart "$tmp/t2"

# 3. A source rock of the current sources, built from scratch.
src="$tmp/src/lua-otel-$version"
mkdir -p "$src"
step "source tarball of the checkout" sh -c "
    tar -cf '$tmp/src.tar' Makefile README.md src lua docs examples \
        '$rockspec' &&
    tar -xf '$tmp/src.tar' -C '$src' &&
    tar -czf '$tmp/src/lua-otel-$version.tar.gz' -C '$tmp/src' \
        'lua-otel-$version'"
sed -e "s|^    url = .*|    url = \"file://$tmp/src/lua-otel-$version.tar.gz\",|" \
    -e "s|^    tag = .*|    dir = \"lua-otel-$version\",|" \
    "$rockspec" > "$tmp/src/$rockspec"
step "luarocks pack $rockspec (source rock)" \
    sh -c "cd '$tmp/rocks' && luarocks pack '$tmp/src/$rockspec'"
step "luarocks install of the source rock builds the core from scratch" \
    luarocks --tree "$tmp/t3" install \
        "$tmp/rocks/lua-otel-$version-1.src.rock"
step "tree 3 runs examples/quickstart.lua" \
    quickstart "$tmp/t3"

echo "1..$n"
[ "$failed" -eq 0 ]
