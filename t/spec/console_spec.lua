-- The console exporter: JSON like the Python SDK's ConsoleSpanExporter,
-- and the waterfall view.
local ffi = require "ffi"
local otel = require "otel"
local util = require "util"

pcall(ffi.cdef, [[
int open(const char *path, int flags, int mode);
int close(int fd);
]])

local O_WRONLY, O_CREAT, O_TRUNC = 1, 64, 512
local tracer = otel.tracer("spec.console", "2.0")

-- Runs fn with the console exporter writing to a file; returns the text.
local function capture(format, fn)
    local path = os.tmpname()
    local fd = ffi.C.open(path, O_WRONLY + O_CREAT + O_TRUNC, 420)
    assert(fd >= 0)
    util.setup({ exporter = "console", service_name = "console-svc",
                 console = { format = format, fd = fd } })
    fn()
    otel.shutdown()
    ffi.C.close(fd)
    local f = assert(io.open(path))
    local text = f:read("*a")
    f:close()
    os.remove(path)
    return text
end

local function work()
    tracer:start_as_current_span("POST /orders", { kind = otel.kind.SERVER,
        attributes = { ["http.request.method"] = "POST", q = "a\"b\n" } },
        function(span)
            span:add_event("received", { size = 3 })
            tracer:start_as_current_span("charge", nil, function(s)
                s:set_status(otel.status.ERROR, "card declined")
            end)
        end)
end

describe("console exporter", function()
    after_each(util.teardown)

    it("prints one JSON object per span", function()
        local cjson = require "cjson"
        local text = capture("json", work)
        local objs = {}
        for obj in text:gmatch("(%b{})\n") do
            objs[#objs + 1] = cjson.decode(obj)
        end
        assert.are.equal(2, #objs)
        local charge, server = objs[1], objs[2]
        assert.are.equal("charge", charge.name)
        assert.are.equal("POST /orders", server.name)
        assert.are.equal("SpanKind.SERVER", server.kind)
        assert.are.equal("SpanKind.INTERNAL", charge.kind)
        assert.matches("^0x%x+$", server.context.trace_id)
        assert.are.equal(34, #server.context.trace_id)
        assert.are.equal(server.context.span_id, charge.parent_id)
        assert.are.equal(cjson.null, server.parent_id)
        assert.are.equal("ERROR", charge.status.status_code)
        assert.are.equal("card declined", charge.status.description)
        assert.are.equal("UNSET", server.status.status_code)
        assert.are.equal("a\"b\n", server.attributes.q)
        assert.are.equal("received", server.events[1].name)
        assert.are.equal(3, server.events[1].attributes.size)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$",
                       server.start_time)
        assert.are.equal("console-svc",
                         server.resource.attributes["service.name"])
        -- indented like Python's to_json(indent=4)
        assert.matches('\n    "name": "charge"', text, 1, true)
    end)

    it("draws the waterfall when the root ends", function()
        local text = capture("tree", work)
        assert.matches("^trace %x+", text)
        local lines = {}
        for line in text:gmatch("[^\n]+") do
            lines[#lines + 1] = line
        end
        assert.matches("^  POST /orders %[server%]", lines[2])
        assert.matches("^    charge ", lines[3])
        assert.matches("ERROR: card declined", lines[3])
        assert.matches("ms", lines[2])
        assert.is_nil(text:find("{", 1, true))
    end)

    it("prints each local root's own tree", function()
        -- a service calling itself: the callee's SERVER span is a local
        -- root (remote parent) inside the caller's trace
        local text = capture("tree", function()
            tracer:start_as_current_span("caller", nil, function()
                tracer:start_as_current_span("prep", nil, function() end)
                tracer:start_as_current_span("call",
                                             { kind = otel.kind.CLIENT },
                    function(client)
                        local remote = client:context()
                        remote.is_remote = true
                        remote._h = nil
                        tracer:start_as_current_span("callee",
                            { parent = remote, kind = otel.kind.SERVER },
                            function() end)
                    end)
            end)
        end)
        local blocks = {}
        for block in text:gmatch("trace %x+[^\n]*\n(.-)\n\n") do
            blocks[#blocks + 1] = block
        end
        assert.are.equal(2, #blocks)
        assert.matches("^  callee %[server%]", blocks[1])
        assert.is_nil(blocks[1]:find("caller", 1, true))
        assert.is_nil(blocks[1]:find("prep", 1, true))
        assert.matches("\n    prep ", blocks[2])
        assert.matches("^  caller ", blocks[2])
        assert.matches("\n    call %[client%]", blocks[2])
        assert.is_nil(blocks[2]:find("callee", 1, true))
    end)

    it("prints both when asked", function()
        local text = capture("both", work)
        assert.truthy(text:find('"name": "charge"', 1, true))
        assert.truthy(text:find("\ntrace %x+"))
    end)
end)
