#!/bin/sh
# Regenerates src/trace.pb-c.[ch] from src/trace.proto with protoc-c
# (Debian: protobuf-c-compiler).  The output is committed; CI reruns this
# and fails on a diff.  Run from anywhere.
set -eu

cd "$(dirname "$0")/../src"
command -v protoc-c >/dev/null 2>&1 || {
    echo "gen-proto.sh: protoc-c not found (apt install protobuf-c-compiler)" >&2
    exit 1
}
# Relative paths keep absolute build paths out of the generated files.
protoc-c --c_out=. trace.proto
