-- luacheck configuration (tools/lint.sh, `make lint`).
std = "luajit"
max_line_length = 80
codes = true

-- The OpenResty module runs inside nginx: `ngx` is provided and read-only,
-- except the per-request fields that are meant to be written.
local writable = { read_only = false, other_fields = true }
local ngx = {
    other_fields = true,
    fields = { ctx = writable, var = writable, header = writable,
               status = { read_only = false } },
}
files["lua/otel/ngx.lua"] = { read_globals = { ngx = ngx } }
files["lua/otel/ngx/"] = { read_globals = { ngx = ngx } }

-- busted specs, helpers and the nginx integration tests.
files["t/"] = { std = "+busted" }
files["t/nginx/"] = { std = "+busted", read_globals = { ngx = ngx } }

-- A rockspec is a Lua file that sets globals by design.
files["*.rockspec"] = { allow_defined_top = true, max_line_length = false }

exclude_files = { "t/receiver/", "build/", "build-*/", "luarocks-tree/" }
