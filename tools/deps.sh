#!/bin/sh
# Installs what building and testing lua-otel needs on Debian (bookworm),
# only what is missing: Debian packages with apt-get (as root), and the
# test receiver's npm packages.
set -eu

PKGS="gcc make pkg-config luajit2 libluajit2-5.1-dev lua-busted lua-check
lua-cjson luarocks libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
libcurl4-openssl-dev zlib1g-dev ca-certificates curl bc nginx
libnginx-mod-http-lua wrk valgrind clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs npm"

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages:$missing (run as root to install)" >&2
        exit 1
    fi
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

top=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$top/t/receiver/node_modules/@opentelemetry/otlp-transformer" ] \
    || [ ! -d "$top/t/receiver/node_modules/@grpc/grpc-js" ]
then
    echo "deps: installing the test receiver's npm packages"
    (cd "$top/t/receiver" && npm ci --no-audit --no-fund --loglevel=error)
fi
