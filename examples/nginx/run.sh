#!/bin/sh
# Starts the nginx example on 127.0.0.1:8080 (PORT=... for another port),
# in the foreground: Ctrl-C stops it.  Spans are printed on the console,
# or sent over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set:
#
#   sh examples/nginx/run.sh
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 sh examples/nginx/run.sh
#
# Needs nginx and libnginx-mod-http-lua (make deps installs them) and the
# core library (built here if missing; OTEL_BUILD names another build).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${OTEL_BUILD:-$top/build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
port=${PORT:-8080}

if [ ! -f "$build/otel_core.so" ]; then
    make -C "$top" -s BUILD="$build" all
fi
command -v nginx >/dev/null 2>&1 || {
    echo "run.sh: nginx is not installed (make deps)" >&2; exit 1; }

# A prefix directory of its own: the configuration, the handlers, links
# to lua-otel, and the files nginx writes.
prefix=$(mktemp -d "${TMPDIR:-/tmp}/otel-nginx-example.XXXXXX")
mkdir -p "$prefix/logs" "$prefix/tmp"
sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/" "$here/nginx.conf" \
    > "$prefix/nginx.conf"
cp "$here/app.lua" "$prefix/"
ln -s "$top/lua" "$prefix/lua"
ln -s "$build" "$prefix/build"

base=http://127.0.0.1:$port
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
    where="to $OTEL_EXPORTER_OTLP_ENDPOINT over OTLP/HTTP"
else
    where="on this console"
fi
cat <<EOF
nginx example on $base (prefix $prefix); spans go $where.
Try, from another terminal:
  curl -i $base/orders/42
  curl -i -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \\
       -H 'baggage: user.id=alice' $base/orders/7
  curl $base/stats
Ctrl-C stops nginx (the workers flush their spans as they exit).
EOF

exec nginx -p "$prefix" -c "$prefix/nginx.conf" -e stderr
