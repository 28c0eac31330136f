-- docs/api.md against the code: every function a public module exports is
-- documented (in a heading or a code span, by its full name such as
-- `otel.context.attach` or `span:set_attribute`), and every function a
-- heading documents exists.
local otel = require "otel"

local root = debug.getinfo(1, "S").source:match("^@(.-)t/spec/[^/]*$")
    or ""

local function read(path)
    local f = assert(io.open(root .. path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local function exists(path)
    local f = io.open(root .. path, "rb")
    if f then
        f:close()
    end
    return f ~= nil
end

-- The documented text: headings and inline code spans, outside fenced
-- code blocks (an example is not documentation of a name).
local api = read("docs/api.md")
local spans, headings = {}, {}
do
    local fenced = false
    for line in (api .. "\n"):gmatch("([^\n]*)\n") do
        if line:match("^%s*```") then
            fenced = not fenced
        elseif not fenced then
            if line:match("^#+ ") then
                headings[#headings + 1] = line
            end
            for code in line:gmatch("`([^`]+)`") do
                spans[#spans + 1] = code
            end
        end
    end
end
local documented_text = table.concat(spans, "\n") .. "\n"
    .. table.concat(headings, "\n") .. "\n"

local function is_documented(name)
    local pat = "%f[%w_.:]" .. name:gsub("%p", "%%%0") .. "%f[^%w_]"
    return documented_text:find(pat) ~= nil
end

local function sorted_keys(t)
    local out = {}
    for k in pairs(t) do
        out[#out + 1] = k
    end
    table.sort(out)
    return out
end

-- Functions of a table, as prefix .. name (metamethods and _private
-- names left out).
local function functions(t, prefix, out)
    for _, k in ipairs(sorted_keys(t)) do
        if type(k) == "string" and type(t[k]) == "function"
           and not k:match("^_") then
            out[#out + 1] = prefix .. k
        end
    end
    return out
end

-- Optional modules: loaded when their file is there.
local function optional(mod)
    if otel[mod] ~= nil then
        return otel[mod]
    end
    local path = "lua/otel/" .. mod .. ".lua"
    if exists(path) then
        return require("otel." .. mod)
    end
    return nil
end

-- otel.ngx needs lua-nginx-module: outside nginx its source is read for
-- `function _M.name(` and `_M.name = ...` (the functions of the modules
-- under otel/ngx/ that it exports).
local function ngx_functions(out)
    if not exists("lua/otel/ngx.lua") then
        return nil
    end
    if ngx ~= nil then              -- luacheck: ignore 113
        return functions(require "otel.ngx", "otel.ngx.", out)
    end
    local src = read("lua/otel/ngx.lua")
    local seen = {}
    for name in src:gmatch("\nfunction%s+_M%.([%a][%w_]*)%s*%(") do
        seen[name] = true
    end
    for name in src:gmatch("\n_M%.([%a][%w_]*)%s*=") do
        seen[name] = true
    end
    for _, name in ipairs(sorted_keys(seen)) do
        out[#out + 1] = "otel.ngx." .. name
    end
    return out
end

-- Every public function, by its documented name.
local function public_functions()
    local out = {}
    functions(otel, "otel.", out)
    for _, mod in ipairs { "context", "sampler", "memory", "propagation",
                           "baggage" } do
        local m = optional(mod)
        if m then
            functions(m, "otel." .. mod .. ".", out)
        end
    end
    local tracer = otel.tracer("docs_spec")
    functions(getmetatable(tracer).__index, "tracer:", out)
    functions(require("otel.span").Span, "span:", out)
    functions(require("otel.sampler").Sampler, "sampler:", out)
    ngx_functions(out)
    return out
end

describe("docs/api.md", function()
    it("documents every public function", function()
        local missing = {}
        for _, name in ipairs(public_functions()) do
            if not is_documented(name) then
                missing[#missing + 1] = name
            end
        end
        assert(#missing == 0, "not in docs/api.md (add a heading or a "
               .. "code span with the full name): "
               .. table.concat(missing, ", "))
    end)

    it("documents only functions that exist", function()
        local known = {}
        for _, name in ipairs(public_functions()) do
            known[name] = true
        end
        local loaded = {
            otel = true, tracer = true, span = true, sampler = true,
            ["otel.context"] = true, ["otel.sampler"] = true,
            ["otel.memory"] = true,
            ["otel.propagation"] = optional("propagation") ~= nil,
            ["otel.baggage"] = optional("baggage") ~= nil,
            ["otel.ngx"] = exists("lua/otel/ngx.lua"),
        }
        local stale = {}
        for _, h in ipairs(headings) do
            local name = h:match("`([%w_.:]+)%(")
            if name then
                local owner = name:match("^(.*)[.:][%w_]+$")
                if loaded[owner] and not known[name] then
                    stale[#stale + 1] = name
                end
            end
        end
        assert(#stale == 0, "documented in docs/api.md but not exported: "
               .. table.concat(stale, ", "))
    end)

    it("documents every otel.semconv group", function()
        local semconv = require "otel.semconv"
        local missing = {}
        for _, group in ipairs(sorted_keys(semconv)) do
            if not is_documented("semconv." .. group) then
                missing[#missing + 1] = "semconv." .. group
            end
            for _, const in ipairs(sorted_keys(semconv[group])) do
                if not is_documented(const) then
                    missing[#missing + 1] = "semconv." .. group .. "."
                        .. const
                end
            end
        end
        assert(#missing == 0, "not in docs/api.md: "
               .. table.concat(missing, ", "))
    end)
end)

describe("otel.semconv as documented", function()
    local semconv = require "otel.semconv"

    it("gives the keys of the semantic conventions", function()
        assert.equal("http.request.method", semconv.http.REQUEST_METHOD)
        assert.equal("http.response.status_code",
                     semconv.http.RESPONSE_STATUS_CODE)
        assert.equal("url.path", semconv.url.PATH)
        assert.equal("server.address", semconv.server.ADDRESS)
        assert.equal("client.address", semconv.client.ADDRESS)
        assert.equal("network.protocol.version",
                     semconv.network.PROTOCOL_VERSION)
        assert.equal("user_agent.original", semconv.user_agent.ORIGINAL)
        assert.equal("db.query.text", semconv.db.QUERY_TEXT)
        assert.equal("db.statement", semconv.db.STATEMENT)
        assert.equal("messaging.destination.name",
                     semconv.messaging.DESTINATION_NAME)
        assert.equal("rpc.method", semconv.rpc.METHOD)
        assert.equal("exception.stacktrace", semconv.exception.STACKTRACE)
        assert.equal("error.type", semconv.error.TYPE)
        assert.equal("service.name", semconv.service.NAME)
    end)

    it("names every key after its group", function()
        for _, group in ipairs(sorted_keys(semconv)) do
            for _, const in ipairs(sorted_keys(semconv[group])) do
                local v = semconv[group][const]
                assert(type(v) == "string"
                       and v:sub(1, #group + 1) == group .. ".",
                       "semconv." .. group .. "." .. const .. " = "
                       .. tostring(v))
            end
        end
    end)

    it("raises on an unknown name instead of returning nil", function()
        local ok, err = pcall(function() return semconv.http.FOO end)
        assert.is_false(ok)
        assert.matches("otel.semconv.http has no FOO", err, 1, true)
        ok, err = pcall(function() return semconv.nope end)
        assert.is_false(ok)
        assert.matches("otel.semconv has no nope", err, 1, true)
    end)

    it("is read-only", function()
        assert.has_error(function() semconv.http.NEW = "x" end)
        assert.has_error(function() semconv.extra = {} end)
    end)
end)
