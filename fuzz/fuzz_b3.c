/*
 * otel_b3_parse, otel_b3_parse_multi and otel_b3_format against a
 * reference written from the B3 specification (openzipkin/b3-propagation).
 *
 * Input: a mode byte, then
 *   even mode: a single b3 header.  OWS trimmed; a sampling state alone
 *     (0, 1, d) is 1 with no context; else {trace id: 16 or 32 lower-case
 *     hex, 16 left-padded}-{span id: 16}[-{state: 0, 1, d}[-{parent span
 *     id: 16}]], ids not all zero.  Sampled for 1 and d, debug for d.
 *   odd mode: the multi-header form: the bits of the mode byte say which
 *     of X-B3-TraceId, X-B3-SpanId, X-B3-Sampled, X-B3-Flags are present,
 *     their values are the rest split at '\n'.  OWS trimmed; neither id:
 *     1; one id missing or malformed, or a Sampled that is not 1, true, 0
 *     or false: invalid; Flags 1 is debug (and sampled), other values are
 *     ignored.
 * The status, context, debug flag and propagation_invalid (one per
 * invalid header) equal the reference's; a failure zeroes the context.  A
 * parsed context formats to {trace id}-{span id}-{1|0|d}, which parses to
 * the same context and debug flag, and to a traceparent that parses to
 * the same context.
 */
#include "internal.h"
#include "fuzz.h"

static uint64_t b3_invalid(void)
{
    return otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
}

static fz_str b3_trim(const char *s, size_t n)
{
    fz_str r;

    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    r.s = s;
    r.n = n;
    return r;
}

static bool b3_hex(const char *s, size_t n, uint8_t *out)
{
    size_t i;
    int d[2];

    if (n % 2) {
        return false;
    }
    for (i = 0; i < n; i += 2) {
        d[0] = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
               : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;
        d[1] = s[i + 1] >= '0' && s[i + 1] <= '9' ? s[i + 1] - '0'
               : s[i + 1] >= 'a' && s[i + 1] <= 'f' ? s[i + 1] - 'a' + 10
               : -1;
        if (d[0] < 0 || d[1] < 0) {
            return false;
        }
        if (out) {
            out[i / 2] = (uint8_t)(d[0] * 16 + d[1]);
        }
    }
    return true;
}

static bool b3_nonzero(const uint8_t *p, size_t n)
{
    while (n--) {
        if (*p++) {
            return true;
        }
    }
    return false;
}

static bool b3_trace_id(fz_str t, uint8_t id[16])
{
    memset(id, 0, 16);
    if (t.n == 32) {
        return b3_hex(t.s, 32, id);
    }
    return t.n == 16 && b3_hex(t.s, 16, id + 8);
}

/* Returns OTEL_OK, 1 or OTEL_EINVAL like the core. */
static int b3_ref_single(const char *s, size_t n, otel_span_handle *out,
                         int *debug)
{
    fz_str t = b3_trim(s, n), part[4];
    size_t np = 0, i, start = 0;

    memset(out, 0, sizeof(*out));
    *debug = 0;
    if (t.n == 1 && (t.s[0] == '0' || t.s[0] == '1' || t.s[0] == 'd')) {
        *debug = t.s[0] == 'd';
        return 1;
    }
    for (i = 0; i <= t.n; i++) {
        if (i == t.n || t.s[i] == '-') {
            if (np == 4) {
                return OTEL_EINVAL;
            }
            part[np].s = t.s + start;
            part[np++].n = i - start;
            start = i + 1;
        }
    }
    if (np < 2 || !b3_trace_id(part[0], out->trace_id)
        || part[1].n != 16 || !b3_hex(part[1].s, 16, out->span_id)) {
        goto bad;
    }
    if (np >= 3) {
        if (part[2].n != 1 || !strchr("01d", part[2].s[0])
            || !part[2].s[0]) {
            goto bad;
        }
        out->trace_flags = part[2].s[0] != '0';
        *debug = part[2].s[0] == 'd';
    }
    if (np == 4 && (part[3].n != 16 || !b3_hex(part[3].s, 16, NULL))) {
        goto bad;
    }
    if (!b3_nonzero(out->trace_id, 16) || !b3_nonzero(out->span_id, 8)) {
        goto bad;
    }
    out->remote = 1;
    return OTEL_OK;

bad:
    memset(out, 0, sizeof(*out));
    *debug = 0;
    return OTEL_EINVAL;
}

static bool b3_is(fz_str t, const char *lit)
{
    return fz_eq(t.s, t.n, lit, strlen(lit));
}

static int b3_ref_multi(const char *const *vals, const size_t *lens,
                        otel_span_handle *out, int *debug)
{
    fz_str v[4];
    int i;

    memset(out, 0, sizeof(*out));
    *debug = 0;
    for (i = 0; i < 4; i++) {
        if (vals[i]) {
            v[i] = b3_trim(vals[i], lens[i]);
        }
    }
    if (!vals[0] && !vals[1]) {
        return 1;
    }
    if (!vals[0] || !vals[1] || !b3_trace_id(v[0], out->trace_id)
        || v[1].n != 16 || !b3_hex(v[1].s, 16, out->span_id)
        || !b3_nonzero(out->trace_id, 16) || !b3_nonzero(out->span_id, 8)) {
        goto bad;
    }
    if (vals[2]) {
        if (b3_is(v[2], "1") || b3_is(v[2], "true")) {
            out->trace_flags = 1;
        } else if (!b3_is(v[2], "0") && !b3_is(v[2], "false")) {
            goto bad;
        }
    }
    if (vals[3] && b3_is(v[3], "1")) {
        *debug = 1;
        out->trace_flags = 1;
    }
    out->remote = 1;
    return OTEL_OK;

bad:
    memset(out, 0, sizeof(*out));
    *debug = 0;
    return OTEL_EINVAL;
}

static void b3_check(int rc, int want, const otel_span_handle *got,
                     const otel_span_handle *ref, int dbg, int want_dbg,
                     uint64_t inv, const char *what)
{
    char buf[OTEL_B3_LEN + 1], tp[OTEL_TRACEPARENT_LEN];
    otel_span_handle again;
    int d2 = -1;

    FZ_CHECK(rc == want, "%s: %d, expected %d", what, rc, want);
    FZ_CHECK(memcmp(got, ref, sizeof(*got)) == 0, "%s: context", what);
    FZ_CHECK(dbg == want_dbg, "%s: debug %d", what, dbg);
    FZ_CHECK(b3_invalid() - inv == (want == OTEL_EINVAL ? 1u : 0u),
             "%s: invalid counter", what);
    if (rc != OTEL_OK) {
        FZ_CHECK(otel_b3_format(got, 0, buf) == OTEL_EINVAL,
                 "formats an invalid context");
        return;
    }
    FZ_CHECK(otel_b3_format(got, dbg, buf) == OTEL_B3_LEN, "format");
    FZ_CHECK(buf[32] == '-' && buf[49] == '-'
             && buf[50] == (dbg ? 'd' : got->trace_flags ? '1' : '0'),
             "formatted %s", fz_hex(buf, OTEL_B3_LEN));
    rc = otel_b3_parse(buf, OTEL_B3_LEN, &again, &d2);
    FZ_CHECK(rc == OTEL_OK && memcmp(&again, got, sizeof(again)) == 0
             && d2 == dbg, "formatted header parses to another context");
    FZ_CHECK(otel_traceparent_format(got, tp) == OTEL_TRACEPARENT_LEN,
             "traceparent format");
    rc = otel_traceparent_parse(tp, sizeof(tp), &again);
    FZ_CHECK(rc == OTEL_OK && memcmp(&again, got, sizeof(again)) == 0,
             "as traceparent: another context");
}

static void b3_init(void)
{
}

static void b3_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in);
    otel_span_handle got, ref;
    const char *vals[4] = { NULL, NULL, NULL, NULL };
    size_t lens[4] = { 0, 0, 0, 0 }, start, i;
    int rc, want, dbg, want_dbg;
    char *s;
    uint64_t inv;
    int k;

    /* An exact-size copy: ASan sees any read past the end. */
    s = malloc(in.n ? in.n : 1);
    if (in.n) {
        memcpy(s, in.p, in.n);
    }
    memset(&got, 0xa5, sizeof(got));
    dbg = -1;
    inv = b3_invalid();
    if (!(mode & 1)) {
        rc = otel_b3_parse(s, in.n, &got, &dbg);
        want = b3_ref_single(s, in.n, &ref, &want_dbg);
        b3_check(rc, want, &got, &ref, dbg, want_dbg, inv, "single");
        rc = otel_b3_parse(s, in.n, &got, NULL);
        FZ_CHECK(rc == want, "debug NULL");
    } else {
        for (k = 0, start = 0, i = 0; k < 4; k++) {
            while (i < in.n && s[i] != '\n') {
                i++;
            }
            if (mode & (2 << k)) {
                vals[k] = s + start;
                lens[k] = i - start;
            }
            start = i < in.n ? ++i : i;
        }
        rc = otel_b3_parse_multi(vals, lens, &got, &dbg);
        want = b3_ref_multi(vals, lens, &ref, &want_dbg);
        b3_check(rc, want, &got, &ref, dbg, want_dbg, inv, "multi");
    }
    free(s);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    b3_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b3_run(data, size);
    return 0;
}
#endif
