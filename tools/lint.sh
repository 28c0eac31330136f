#!/bin/sh
# Lint (make lint): luacheck over the Lua code (.luacheckrc), and the C
# rules of STYLE.md over src/ (the generated trace.pb-c.* excepted):
#   - no tabs, at most 80 columns;
#   - every function declared in src/otel.h is named otel_* and declared
#     OTEL_API;
#   - every non-static symbol of a C file is either public (declared in
#     otel.h, and exported: OTEL_API on its definition) or internal
#     (named otel__*, hidden);
# Prints file:line: messages and exits non-zero when it finds anything.
# The symbol rules read the object files (readelf), built into a
# temporary directory so that they always match the sources.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
status=0

# ---- Lua -------------------------------------------------------------------
dirs=""
for d in lua t examples bench; do
    [ -d "$d" ] && dirs="$dirs $d"
done
for f in *.rockspec; do
    [ -f "$f" ] && dirs="$dirs $f"
done
if command -v luacheck > /dev/null 2>&1; then
    # shellcheck disable=SC2086
    luacheck --no-color --formatter plain --codes $dirs || status=1
else
    echo "lint: luacheck not found (Debian: apt-get install lua-check)"
    status=1
fi

# ---- C ---------------------------------------------------------------------
if ! command -v luajit > /dev/null 2>&1; then
    echo "lint: luajit not found"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

objs=""
for f in src/*.c; do
    case "$f" in
    src/trace.pb-c.c) ;;
    *) objs="$objs $tmp/obj/$(basename "$f" .c).o" ;;
    esac
done
# -k: a file that does not compile is reported, the others still checked.
# shellcheck disable=SC2086
make -k -s --no-print-directory BUILD="$tmp" OPT="-O0" $objs \
    > "$tmp/cc.log" 2>&1

luajit - "$tmp" <<'EOF' || status=1
local tmp = arg[1]
local MAX = 80
local findings = 0

local function report(file, line, msg)
    findings = findings + 1
    print(string.format("%s:%d: %s", file, line, msg))
end

local function read(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local function lines_of(cmd)
    local p = assert(io.popen(cmd))
    local out = {}
    for l in p:lines() do
        out[#out + 1] = l
    end
    p:close()
    return out
end

local sources = lines_of("ls src/*.c src/*.h")
local function generated(path)
    return path:match("^src/trace%.pb%-c%.") ~= nil
end

-- 1. Tabs and line length (columns are code points, not bytes).
for _, path in ipairs(sources) do
    if not generated(path) then
        local n = 0
        for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do
            n = n + 1
            if line:find("\t", 1, true) then
                report(path, n, "tab character (indent with 4 spaces)")
            end
            local _, cont = line:gsub("[\128-\191]", "")
            local cols = #line - cont
            if cols > MAX then
                report(path, n, string.format(
                    "line is %d columns (max %d)", cols, MAX))
            end
        end
    end
end

-- 2. The declarations of otel.h.  Comments and preprocessor lines are
-- blanked (newlines kept, for line numbers), the C++ guard dropped, then
-- the file is split into top-level statements.
local function declarations(path)
    local src = read(path)
    src = src:gsub("/%*.-%*/", function(c)
        return (c:gsub("[^\n]", " "))
    end)
    src = src:gsub("//[^\n]*", "")
    local out, skip, cont = {}, false, false
    for line in (src .. "\n"):gmatch("([^\n]*)\n") do
        local pp = cont or line:match("^%s*#") ~= nil
        if line:match("^%s*#%s*ifdef%s+__cplusplus") then
            skip = true
        elseif skip and line:match("^%s*#%s*endif") then
            skip = false
            pp = true
        end
        cont = pp and line:match("\\%s*$") ~= nil
        out[#out + 1] = (pp or skip) and "" or line
    end
    src = table.concat(out, "\n")
    local decls, depth, start, line, startline = {}, 0, 1, 1, nil
    for i = 1, #src do
        local c = src:sub(i, i)
        if c == "\n" then
            line = line + 1
        elseif not startline and c:match("%S") then
            startline = line
        end
        if c == "{" or c == "(" then
            depth = depth + 1
        elseif c == "}" or c == ")" then
            depth = depth - 1
        elseif c == ";" and depth == 0 then
            local text = src:sub(start, i - 1):gsub("%s+", " ")
            text = text:gsub("^ ", "")
            decls[#decls + 1] = { text = text, line = startline or line }
            start, startline = i + 1, nil
        end
    end
    return decls
end

local public = {}           -- name -> line in otel.h
for _, d in ipairs(declarations("src/otel.h")) do
    local t = d.text
    if not t:match("^typedef") and not t:find("{", 1, true)
       and t:find("(", 1, true) and not t:match("^[^(]*%(%s*%*") then
        local name = t:match("([%w_]+)%s*%(")
        public[name] = d.line
        if not t:match("^OTEL_API ") then
            report("src/otel.h", d.line, "public function " .. name
                   .. " is not declared OTEL_API")
        end
        if not name:match("^otel_%l") then
            report("src/otel.h", d.line, "public function " .. name
                   .. " is not named otel_*")
        end
    end
end

-- 3. Symbols of each object file.
local function definition_line(path, name)
    local n, first = 0, nil
    local esc = name:gsub("%p", "%%%0")
    for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        if line:match("^%S") and (line:match(esc .. "%s*%(")
                                  or line:match(esc .. "%s*[%[=;]")) then
            return n
        end
        if not first and line:match("%f[%w_]" .. esc .. "%f[^%w_]") then
            first = n
        end
    end
    return first or 1
end

local compiled, failed = {}, false
for _, path in ipairs(sources) do
    local base = path:match("^src/(.*)%.c$")
    if base and not generated(path) then
        local obj = tmp .. "/obj/" .. base .. ".o"
        local f = io.open(obj, "rb")
        if f then
            f:close()
            compiled[#compiled + 1] = { src = path, obj = obj }
        else
            failed = true
            local err
            for l in io.lines(tmp .. "/cc.log") do
                if l:sub(1, #path + 1) == path .. ":" and l:find("error") then
                    err = l
                    break
                end
            end
            local line = err and tonumber(err:match("^[^:]+:(%d+):")) or 1
            report(path, line, "does not compile, its symbols are not "
                   .. "checked" .. (err and (": " .. err:match(
                       "error: (.*)$")) or ""))
        end
    end
end

local defined = {}
for _, o in ipairs(compiled) do
    for _, l in ipairs(lines_of("readelf -sW " .. o.obj)) do
        -- Num: Value Size Type Bind Vis Ndx Name
        local typ, bind, vis, ndx, name = l:match(
            "^%s*%d+:%s+%x+%s+%d+%s+(%u+)%s+(%u+)%s+(%u+)%s+(%S+)%s+(%S+)")
        if name and (bind == "GLOBAL" or bind == "WEAK") and ndx ~= "UND"
           and (typ == "FUNC" or typ == "OBJECT") then
            defined[name] = true
            local line = definition_line(o.src, name)
            if name:match("^otel__") then
                if vis == "DEFAULT" then
                    report(o.src, line, "internal " .. name .. " is "
                           .. "exported: drop OTEL_API")
                end
            elseif name:match("^otel_") then
                if not public[name] then
                    report(o.src, line, name .. " is not static and not "
                           .. "declared in otel.h: make it static, or "
                           .. "name it otel__" .. name:sub(6))
                elseif vis ~= "DEFAULT" then
                    report(o.src, line, name .. " is declared in otel.h "
                           .. "but not exported: OTEL_API on its "
                           .. "definition")
                end
            else
                report(o.src, line, "non-static " .. name .. " has no "
                       .. "otel__ prefix: make it static, or name it otel__"
                       .. name)
            end
        end
    end
end

if not failed then
    for name, line in pairs(public) do
        if not defined[name] then
            report("src/otel.h", line, name .. " is declared but not "
                   .. "defined in any src/*.c")
        end
    end
end

os.exit(findings == 0 and 0 or 1)
EOF

exit $status
