rockspec_format = "3.0"
package = "lua-otel"
version = "0.1.0-1"

source = {
    url = "git+https://github.com/lua-otel/lua-otel.git",
    tag = "v0.1.0",
}

description = {
    summary = "OpenTelemetry tracing for LuaJIT and OpenResty, on a C core",
    detailed = [[
lua-otel is an OpenTelemetry tracing runtime for Lua code embedded in
servers (nginx/OpenResty, Kong, APISIX, any LuaJIT host).  A C core owns
spans, per-coroutine context, limits, sampling and batch export over OTLP
(HTTP/protobuf, gRPC or HTTP/JSON through libcurl, TLS with private CAs and
client certificates) on a worker thread; a LuaJIT FFI binding gives
handlers the OpenTelemetry API with spans that end when their scope exits.
Needs LuaJIT 2.1 (the binding uses the FFI).
]],
    homepage = "https://github.com/lua-otel/lua-otel",
    license = "Apache-2.0",
    labels = { "opentelemetry", "tracing", "observability", "openresty",
               "luajit", "ffi" },
}

-- LuaJIT reports itself as Lua 5.1; the FFI binding needs LuaJIT.
dependencies = {
    "lua == 5.1",
}

-- Checked before the build, so a missing -dev package gives luarocks'
-- own message ("Could not find header file for PROTOBUF_C ...").  CURL
-- names only the library: Debian keeps curl/curl.h in a multiarch
-- directory that luarocks does not search, while the compiler finds it.
external_dependencies = {
    CURL = { library = "curl" },
    PROTOBUF_C = { header = "protobuf-c/protobuf-c.h",
                   library = "protobuf-c" },
    ZLIB = { header = "zlib.h", library = "z" },
}

-- The Makefile builds the core (every src/*.c; the generated
-- src/trace.pb-c.c is committed, so protoc-c is not needed) and installs
-- otel_core.so into LUA_LIBDIR and the Lua modules into LUA_SHAREDIR.
-- luarocks' CFLAGS go in as OPT: CFLAGS itself on the make command line
-- would replace the flags the core needs (-std=c11, -fvisibility=hidden).
build = {
    type = "make",
    variables = {
        OPT = "$(CFLAGS) -I$(PROTOBUF_C_INCDIR) -I$(ZLIB_INCDIR)",
        LDFLAGS = "-L$(CURL_LIBDIR) -L$(PROTOBUF_C_LIBDIR) -L$(ZLIB_LIBDIR)",
    },
    install_variables = {
        PREFIX = "$(PREFIX)",
        LUA_LIBDIR = "$(LIBDIR)",
        LUA_SHAREDIR = "$(LUADIR)",
    },
    copy_directories = { "docs", "examples" },
}
