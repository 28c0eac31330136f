-- TLS for every protocol: certificates made here with `openssl` (a private
-- CA, a server certificate it signed, a client certificate, an expired
-- server certificate, a key that does not match, a CA nobody trusts).
--
-- The private CA is trusted through otlp.certificate; a receiver that
-- requires a client certificate (mutual TLS) takes ours and refuses an
-- exporter without one; a wrong CA, an expired certificate, a mismatched
-- key and a file that cannot be read each fail as docs/configuration.md
-- says: one message naming the problem on stderr (nginx's error log), the
-- spans counted as dropped, nothing wedged.  The accounting identity is
-- checked after each.
local otel = require "otel"
local util = require "util"
local roundtrip = require "roundtrip"

local quote, shell_ok = util.quote, util.shell_ok

local dir       -- the certificates
local function f(name)
    return dir .. "/" .. name
end

-- An EC key and a certificate for name signed by the CA ca (or self-signed
-- when ca is nil), valid for days (negative: expired).
local function cert(name, cn, ca, days, key)
    local sh = util.CLEAN
    key = key or f(name .. ".key")
    if not io.open(key) then
        assert(shell_ok(sh .. "openssl genpkey -algorithm EC -pkeyopt "
            .. "ec_paramgen_curve:prime256v1 -out " .. quote(key)
            .. " 2>/dev/null"))
    end
    local ext = f(name .. ".ext")
    local e = assert(io.open(ext, "w"))
    e:write(ca and "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                or "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n")
    e:close()
    local csr = f(name .. ".csr")
    assert(shell_ok(sh .. "openssl req -new -key " .. quote(key)
        .. " -subj /CN=" .. cn .. " -out " .. quote(csr) .. " 2>/dev/null"))
    local sign = ca and (" -CA " .. quote(f(ca .. ".pem")) .. " -CAkey "
                         .. quote(f(ca .. ".key")) .. " -CAcreateserial")
                 or (" -signkey " .. quote(key))
    assert(shell_ok(sh .. "openssl x509 -req -in " .. quote(csr) .. sign
        .. " -days " .. days .. " -extfile " .. quote(ext) .. " -out "
        .. quote(f(name .. ".pem")) .. " 2>/dev/null"),
        "openssl could not make " .. name)
    return f(name .. ".pem"), key
end

local merge = util.merge

local tracer = otel.tracer("spec.tls")

local function setup(otlp, opts)
    util.teardown(1000)
    opts = opts or {}
    otel.setup(merge({
        exporter = "otlp", processor = "batch", service_name = "tls-spec",
        otlp = merge({ timeout_ms = 2000 }, otlp),
        batch = { schedule_delay_ms = 60000, export_timeout_ms = 5000 },
    }, opts))
end

-- Ends n spans, flushes; returns the stats delta (identity checked).
local function export(n)
    local snap = util.snapshot()
    util.make_spans(tracer, n, "tls")
    return util.flushed(snap)
end

-- What the exporter set up with otlp said on stderr while n spans failed;
-- the stats delta; the export requests receiver r took meanwhile.
local function fails(otlp, n, r)
    local before = r:stats().total.requests
    local d
    local err = util.stderr_of(function()
        setup(otlp)
        -- two batches: one message
        for _ = 1, 2 do
            d = export(n)
            assert.are.equal(0, d.spans_exported)
            assert.are.equal(n, d.spans_dropped_export_failed)
        end
        otel.shutdown(2000)
    end)
    return err, d, r:stats().total.requests - before
end

local function one_line(err, pattern)
    local _, n = err:gsub("otel: warning:", "")
    assert.are.equal(1, n, "expected one message, got: " .. err)
    assert.matches(pattern, err, 1, true)
end

local PROTOCOLS = {
    { name = "http/protobuf", url = function(r) return r.url end },
    { name = "grpc", url = function(r) return r.grpc_url end },
}

describe("TLS", function()
    local R, M, X     -- private CA; mutual TLS; expired certificate

    lazy_setup(function()
        dir = util.read_cmd("mktemp -d /tmp/otel-tls.XXXXXX"):gsub("%s+$", "")
        assert(dir:match("^/tmp/otel%-tls%."))
        cert("ca", "lua-otel-test-ca", nil, 2)
        cert("other-ca", "someone-else", nil, 2)
        local server, server_key = cert("server", "localhost", "ca", 2)
        cert("client", "lua-otel-client", "ca", 2)
        local expired, expired_key = cert("expired", "localhost", "ca", -1)
        -- a client certificate with a key that is not its own
        cert("stranger", "stranger", "ca", 2)
        R = util.receiver({ grpc = true, tls = { cert = server,
                                                 key = server_key } })
        M = util.receiver({ grpc = true, tls = {
            cert = server, key = server_key, client_ca = f("ca.pem"),
            client_cert = f("client.pem"), client_key = f("client.key") } })
        X = util.receiver({ grpc = true, tls = { cert = expired,
                                                 key = expired_key } })
    end)

    lazy_teardown(function()
        util.teardown(1000)
        util.stop_receivers()
        if dir and dir:match("^/tmp/otel%-tls%.") then
            os.execute("rm -rf " .. quote(dir))
        end
    end)

    before_each(function()
        for _, r in ipairs({ R, M, X }) do
            r:control("reset")
            r:clear()
        end
    end)

    after_each(function()
        util.teardown(2000)
    end)

    it("round-trips every field over grpc with TLS", function()
        roundtrip.run(R, function(opts)
            setup(opts.otlp, opts)
        end, { otlp = { protocol = "grpc", endpoint = R.grpc_url,
                        certificate = f("ca.pem") } })
        assert.is_true(#R:requests() >= 1)
        for _, rec in ipairs(R:requests()) do
            assert.is_true(rec.grpc)
        end
    end)

    for _, p in ipairs(PROTOCOLS) do
        describe(p.name, function()
            it("trusts a private CA given as otlp.certificate, one "
               .. "connection for every batch", function()
                setup({ protocol = p.name, endpoint = p.url(R),
                        certificate = f("ca.pem") })
                for _ = 1, 3 do
                    local d = export(20)
                    assert.are.equal(20, d.spans_exported)
                end
                assert.are.equal(60, R:stats().spans)
                if p.name == "grpc" then
                    local recs = R:requests()
                    assert.are.equal(3, #recs)
                    for _, rec in ipairs(recs) do
                        assert.are.equal(recs[1].connection, rec.connection)
                    end
                end
            end)

            it("takes the files from OTEL_EXPORTER_OTLP_* too", function()
                util.with_env({
                    OTEL_EXPORTER_OTLP_PROTOCOL = p.name,
                    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = p.url(M),
                    OTEL_EXPORTER_OTLP_CERTIFICATE = f("ca.pem"),
                    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE = f("client.pem"),
                    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY = f("client.key"),
                }, function()
                    setup({ timeout_ms = 2000 })
                    local d = export(10)
                    assert.are.equal(10, d.spans_exported)
                end)
                assert.are.equal(10, M:stats().spans)
            end)

            it("presents a client certificate to a mutual-TLS receiver",
               function()
                setup({ protocol = p.name, endpoint = p.url(M),
                        certificate = f("ca.pem"),
                        client_certificate = f("client.pem"),
                        client_key = f("client.key") })
                local d = export(20)
                assert.are.equal(20, d.spans_exported)
                assert.are.equal(20, M:stats().spans)
            end)

            it("is refused by a mutual-TLS receiver without one", function()
                local before = M:stats().tls_client_errors
                local err, _, got = fails({ protocol = p.name,
                                            endpoint = p.url(M),
                                            certificate = f("ca.pem") }, 10,
                                          M)
                one_line(err, "export to " .. p.url(M))
                assert.are.equal(0, got)
                if p.name ~= "grpc" then   -- grpc-js does not count them
                    assert.is_true(M:stats().tls_client_errors > before)
                end
            end)

            it("fails on a server certificate of an untrusted CA",
               function()
                local err, d, got = fails({ protocol = p.name,
                                            endpoint = p.url(R),
                                            certificate = f("other-ca.pem") },
                                          10, R)
                one_line(err, "certificate")
                assert.are.equal(0, d.export_retries)   -- permanent
                assert.are.equal(0, got)
            end)

            it("fails on an expired server certificate", function()
                local err, d, got = fails({ protocol = p.name,
                                            endpoint = p.url(X),
                                            certificate = f("ca.pem") }, 10,
                                          X)
                one_line(err, "certificate has expired")
                assert.are.equal(0, d.export_retries)
                assert.are.equal(0, got)
            end)

            it("fails on a client key that does not match", function()
                local err, d, got = fails({ protocol = p.name,
                                            endpoint = p.url(M),
                                            certificate = f("ca.pem"),
                                            client_certificate =
                                                f("client.pem"),
                                            client_key = f("stranger.key") },
                                          10, M)
                one_line(err, "private key")
                assert.are.equal(0, d.export_retries)
                assert.are.equal(0, got)
            end)

            it("fails on a file that cannot be read, without a request",
               function()
                local snap = util.snapshot()
                local err, _, got = fails({ protocol = p.name,
                                            endpoint = p.url(R),
                                            certificate = f("missing.pem") },
                                          10, R)
                one_line(err, "otlp.certificate: cannot read "
                              .. f("missing.pem"))
                assert.are.equal(0, util.delta(snap).export_requests)
                assert.are.equal(0, got)
            end)
        end)
    end

    it("refuses a TLS option that is not a file name", function()
        assert.has_error(function()
            otel.setup({ exporter = "otlp", otlp = { certificate = 42 } })
        end, "otel.setup: otlp.certificate must be a file name, got 42")
        assert.has_error(function()
            otel.setup({ exporter = "otlp", otlp = { insecure = "yes" } })
        end, "otel.setup: otlp.insecure must be a boolean, got yes")
    end)
end)
