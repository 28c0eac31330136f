#!/bin/sh
# Regenerates src/trace.pb-c.[ch] from src/trace.proto with protoc-c
# (Debian: protobuf-c-compiler).  The output is committed so that a build
# does not need protoc-c.
#   tools/gen-proto.sh           rewrite src/trace.pb-c.[ch]
#   tools/gen-proto.sh --check   fail if they are not what trace.proto gives
set -eu

src=$(cd "$(dirname "$0")/../src" && pwd)
command -v protoc-c >/dev/null 2>&1 || {
    echo "gen-proto.sh: protoc-c not found" \
         "(apt install protobuf-c-compiler)" >&2
    exit 1
}

# protoc-c writes the .proto path it was given into its output: always
# "trace.proto", from the directory that holds it, so the bytes do not
# depend on where the tree lives.
gen() {
    (cd "$1" && protoc-c --c_out=. trace.proto)
}

case "${1:-}" in
--check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp "$src/trace.proto" "$tmp/"
    gen "$tmp"
    for f in trace.pb-c.c trace.pb-c.h; do
        if ! cmp -s "$tmp/$f" "$src/$f"; then
            echo "gen-proto.sh: src/$f is stale; run make proto" >&2
            exit 1
        fi
    done
    echo "src/trace.pb-c.[ch] are current"
    ;;
"")
    gen "$src"
    ;;
*)
    echo "usage: tools/gen-proto.sh [--check]" >&2
    exit 2
    ;;
esac
