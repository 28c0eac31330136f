-- Samplers users write: the rule sampler (in C) and samplers written in
-- Lua, alone and composed with parent_based, through the public API.
local otel = require "otel"
local util = require "util"

local tracer = otel.tracer("spec.custom_sampler")
local S = otel.sampler

local REMOTE = { trace_id = "0af7651916cd43dd8448eb211c80319c",
                 span_id = "b7ad6b7169203331", is_remote = true }

local function remote(flags)
    return { trace_id = REMOTE.trace_id, span_id = REMOTE.span_id,
             trace_flags = flags, is_remote = true }
end

-- Starts and ends a span (start_span, or scoped when scoped); returns
-- whether it recorded and its context.
local function sampled(name, opts, scoped)
    local rec, ctx
    if scoped then
        tracer:start_as_current_span(name, opts, function(s)
            rec, ctx = s:is_recording(), s:context()
        end)
    else
        local s = tracer:start_span(name, opts)
        rec, ctx = s:is_recording(), s:context()
        s:finish()
    end
    return rec, ctx
end

local function attrs(t)
    return { attributes = t }
end

local warnings_of = util.warnings_of

describe("otel.sampler.rules", function()
    after_each(util.teardown)

    local RULES = {
        { route = "/health", ratio = 0 },
        { path_prefix = "/admin/", sampler = S.always_on() },
        { method = "OPTIONS", ratio = 0 },
        { name = "noisy", kind = otel.kind.CLIENT, ratio = 0 },
        { attributes = { tenant = "acme", ["http.response.status_code"] =
                         500 }, ratio = 1 },
        { attributes = { tenant = "acme" }, ratio = 0 },
    }

    it("matches route, method, path prefix, name and kind, attributes; "
       .. "the first match wins, else the default", function()
        for _, scoped in ipairs({ false, true }) do
            util.setup({ sampler = S.rules(RULES, S.always_on()) })
            local function rec(name, opts)
                return (sampled(name, opts, scoped))
            end
            assert.is_false(rec("GET", attrs{ ["http.route"] = "/health" }))
            assert.is_true(rec("GET", attrs{ ["http.route"] = "/healthz" }))
            assert.is_true(rec("GET", attrs{ ["url.path"] = "/admin/users",
                                             ["http.request.method"] =
                                                 "OPTIONS" }))
            assert.is_true(rec("GET", attrs{ ["url.path"] = "/admin" }))
            assert.is_false(rec("x", attrs{ ["http.request.method"] =
                                                "OPTIONS" }))
            assert.is_true(rec("noisy"))
            assert.is_false(rec("noisy", { kind = otel.kind.CLIENT }))
            assert.is_false(rec("t", attrs{ tenant = "acme" }))
            -- a number compares by its string form
            assert.is_true(rec("t", attrs{ tenant = "acme",
                                           ["http.response.status_code"] =
                                               500 }))
            assert.is_true(rec("no attributes at all"))
        end
    end)

    it("is described, and the default is parent_based(always_on)",
       function()
        util.setup({ sampler = S.rules({ { route = "/x", ratio = 0.5 } }) })
        assert.are.equal("RuleBased{rules:1,[TraceIdRatioBased{0.5}],"
                         .. "default:ParentBased{root:AlwaysOnSampler,"
                         .. "remoteParentSampled:AlwaysOnSampler,"
                         .. "remoteParentNotSampled:AlwaysOffSampler,"
                         .. "localParentSampled:AlwaysOnSampler,"
                         .. "localParentNotSampled:AlwaysOffSampler}}",
                         otel.info().sampler)
        assert.is_false(sampled("x", { parent = remote(0) }))
    end)

    it("applies a ratio the way trace_id_ratio does", function()
        util.setup({ sampler = S.rules({ { route = "/r", ratio = 0.5 } },
                                       S.always_off()) })
        local same = 0
        for _ = 1, 200 do
            local rec, ctx = sampled("r", attrs{ ["http.route"] = "/r" })
            -- the specification's rule on the last 8 bytes of the id
            local last = tonumber(ctx.trace_id:sub(17, 17), 16)
            if rec == (last < 8) then
                same = same + 1
            end
        end
        assert.are.equal(200, same)
    end)

    it("composes with parent_based, both ways", function()
        -- the parent decides first; the rules decide for roots
        util.setup({ sampler = S.parent_based(S.rules({
            { route = "/off", ratio = 0 } }, S.always_on())) })
        local off = attrs{ ["http.route"] = "/off" }
        assert.is_false(sampled("root", off))
        off.parent = remote(1)
        assert.is_true(sampled("child of a sampled parent", off))
        -- a rule of its own that follows the parent
        util.setup({ sampler = S.rules({
            { route = "/pb", ratio = 0, parent_based = true } },
            S.always_off()) })
        local pb = attrs{ ["http.route"] = "/pb" }
        assert.is_false(sampled("root", pb))
        pb.parent = remote(1)
        assert.is_true(sampled("child", pb))
    end)

    it("raises clear errors on a bad rule", function()
        local cases = {
            function() S.rules("x") end,
            function() S.rules({ { route = "/x" } }) end,
            function() S.rules({ { route = "/x", ratio = 2 } }) end,
            function() S.rules({ { rout = "/x", ratio = 1 } }) end,
            function() S.rules({ { kind = 9, ratio = 1 } }) end,
            function() S.rules({ { attributes = { k = {} }, ratio = 1 } }) end,
            function() S.rules({ { ratio = 1, sampler = S.always_on() } }) end,
            function() S.rules({}, 5) end,
        }
        for i, f in ipairs(cases) do
            local ok, err = pcall(f)
            assert.is_false(ok, "case " .. i)
            assert.matches("custom_sampler_spec.lua", err, 1, true)
        end
    end)
end)

describe("samplers written in Lua", function()
    after_each(util.teardown)

    it("are called with the parent, trace id, name, kind, attributes and "
       .. "links, and decide", function()
        local seen = {}
        util.setup({ sampler = function(parent, trace_id, name, kind, at, ln)
            seen[#seen + 1] = { parent = parent, trace_id = trace_id,
                                name = name, kind = kind, attributes = at,
                                links = ln }
            return at.keep and S.RECORD_AND_SAMPLE or S.DROP,
                   { ["sampler.saw"] = name }, "lua=1"
        end })
        local link = { context = remote(1), attributes = { l = 1 } }
        local rec, ctx = sampled("a", { parent = remote(1), kind = 2,
                                        attributes = { keep = true },
                                        links = { link } })
        assert.is_true(rec)
        assert.are.equal(1, #seen)
        local c = seen[1]
        assert.are.equal(REMOTE.span_id, c.parent.span_id)
        assert.is_true(c.parent.is_remote)
        assert.are.equal(ctx.trace_id, c.trace_id)
        assert.are.equal("a", c.name)
        assert.are.equal(2, c.kind)
        assert.is_true(c.attributes.keep)
        assert.are.equal(link, c.links[1])
        -- a root: no parent, the trace id the span gets
        rec, ctx = sampled("root", nil, true)
        assert.is_false(rec)
        assert.is_nil(seen[2].parent)
        assert.are.equal(ctx.trace_id, seen[2].trace_id)
        assert.are.same({}, seen[2].attributes)
        -- its attributes and trace state are the span's
        local s = util.spans()[1]
        assert.are.equal("a", s.attributes["sampler.saw"])
        assert.are.equal("lua=1", s.trace_state)
    end)

    it("can be a table with should_sample and a description", function()
        local obj = { description = "EveryOther", n = 0 }
        function obj:should_sample()
            self.n = self.n + 1
            return self.n % 2 == 1
        end
        util.setup({ sampler = S.parent_based(S.custom(obj)) })
        assert.matches("root:LuaSampler{EveryOther}", otel.info().sampler,
                       1, true)
        local got = {}
        for i = 1, 4 do
            got[i] = (sampled("s" .. i))
        end
        assert.are.same({ true, false, true, false }, got)
        -- parent_based: a sampled parent decides, obj is not asked
        assert.is_true(sampled("child", { parent = remote(1) }))
        assert.are.equal(4, obj.n)
    end)

    it("may record without sampling: RECORD_ONLY", function()
        util.setup({ sampler = function() return S.RECORD_ONLY end })
        local snap = util.snapshot()
        local s = tracer:start_span("rec")
        assert.is_true(s:is_recording())
        assert.is_false(s:context().sampled)
        s:set_attribute("k", 1)
        s:finish()
        assert.are.equal(0, #util.spans())
        local d = util.delta(snap)
        assert.are.equal(1, d.spans_sampled_out)
        util.check_identity(d)
    end)

    it("never raise into the request: errors drop, count, warn once",
       function()
        local calls = 0
        util.setup({ sampler = function()
            calls = calls + 1
            if calls % 2 == 0 then
                return "maybe"
            end
            error("sampler bug")
        end })
        local snap = util.snapshot()
        local got = warnings_of(function()
            for i = 1, 10 do
                assert.is_false(sampled("s" .. i, nil, i % 2 == 0))
            end
        end)
        assert.are.equal(10, calls)
        assert.are.equal(10, util.delta(snap).sampler_errors)
        assert.are.equal(1, #got)
        assert.matches("otel.sampler.custom: the sampler raised: .*sampler "
                       .. "bug; its spans are dropped", got[1])
    end)

    it("may start spans themselves", function()
        local inner = otel.tracer("inner")
        util.setup({ sampler = S.rules({ { route = "/lua", sampler =
            function(_, _, name)
                if name ~= "nested" then
                    inner:start_span("nested"):finish()
                end
                return true
            end } }, S.always_off()) })
        local rec, ctx = sampled("outer", attrs{ ["http.route"] = "/lua" })
        assert.is_true(rec)
        local names = util.by_name()
        assert.are.equal(ctx.trace_id, names.outer.trace_id)
        assert.is_nil(names.nested)     -- always_off: no route
    end)

    it("are what a rule runs, after the cheaper rules", function()
        local asked = 0
        util.setup({ sampler = S.rules({
            { route = "/health", ratio = 0 },
            { attributes = { tenant = "acme" },
              sampler = function() asked = asked + 1 return true end },
        }, S.always_off()) })
        assert.is_false(sampled("h", attrs{ ["http.route"] = "/health",
                                            tenant = "acme" }))
        assert.is_true(sampled("t", attrs{ tenant = "acme" }))
        assert.is_false(sampled("other"))
        assert.are.equal(1, asked)
    end)
end)
