/*
 * otel_traceparent_parse/format and otel_tracestate_clean against
 * reference parsers written from W3C Trace Context.
 *
 * Input: one byte that picks the tracestate output capacity (0: no
 * buffer; else 3 * b, so both sides of the 512 limit), then the
 * traceparent up to the first '\n', then the tracestate.
 *
 * traceparent: OWS trimmed; version 2 lower-case hex digits, not ff;
 * '-' trace-id (32 lower-case hex, not all zero) '-' parent-id (16, not
 * all zero) '-' flags (2); version 00 is exactly 55 characters, a later
 * version may go on after a '-'.  The result (ids, all eight flag bits,
 * remote, no record) equals the reference's, a failure zeroes the handle
 * and counts one propagation_invalid.  A parsed context formats to the
 * canonical 00 header (the input itself when that was canonical), which
 * parses to the same context.
 *
 * tracestate: members split at ',', OWS trimmed, empty ones skipped;
 * key and value per the grammar; invalid members, duplicate keys and
 * members past the 32nd dropped; then whole members dropped to fit in
 * min(cap, 512): those over 128 characters first, then from the end.  The
 * output, its length and the dropped count (propagation_invalid) equal
 * the reference's; nothing is written past cap; the output cleans to
 * itself with nothing dropped.
 */
#include "internal.h"
#include "fuzz.h"

static uint64_t tp_invalid(void)
{
    return otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
}

static bool tp_ows(char c)
{
    return c == ' ' || c == '\t';
}

static fz_str tp_trim(const char *s, size_t n)
{
    fz_str r;

    while (n && tp_ows(*s)) {
        s++;
        n--;
    }
    while (n && tp_ows(s[n - 1])) {
        n--;
    }
    r.s = s;
    r.n = n;
    return r;
}

static int tp_lhex(char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *p = c ? strchr(digits, c) : NULL;

    return p ? (int)(p - digits) : -1;
}

/* n bytes of lower-case hex into out[n / 2]; false if not hex. */
static bool tp_hex(const char *s, size_t n, uint8_t *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (tp_lhex(s[i]) < 0) {
            return false;
        }
        if (i % 2) {
            out[i / 2] = (uint8_t)(tp_lhex(s[i - 1]) << 4 | tp_lhex(s[i]));
        }
    }
    return true;
}

static bool tp_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/* The reference traceparent parser. */
static bool tp_reference(const char *s, size_t n, otel_span_handle *out)
{
    fz_str t = tp_trim(s, n);
    uint8_t ver, flags;

    memset(out, 0, sizeof(*out));
    if (t.n < 55 || !tp_hex(t.s, 2, &ver) || ver == 0xff
        || (ver == 0 && t.n != 55) || (t.n > 55 && t.s[55] != '-')) {
        return false;
    }
    if (t.s[2] != '-' || !tp_hex(t.s + 3, 32, out->trace_id)
        || t.s[35] != '-' || !tp_hex(t.s + 36, 16, out->span_id)
        || t.s[52] != '-' || !tp_hex(t.s + 53, 2, &flags)
        || tp_zero(out->trace_id, 16) || tp_zero(out->span_id, 8)) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    out->trace_flags = flags;      /* all eight bits (level 2) */
    out->remote = 1;
    return true;
}

static void check_traceparent(const char *s, size_t n)
{
    otel_span_handle got, ref, again;
    static const otel_span_handle zero;
    char buf[OTEL_TRACEPARENT_LEN + 1], want[OTEL_TRACEPARENT_LEN + 1];
    uint64_t inv = tp_invalid();
    fz_str t;
    bool ok;
    int rc;

    memset(&got, 0xa5, sizeof(got));
    rc = otel_traceparent_parse(s, n, &got);
    ok = tp_reference(s, n, &ref);
    FZ_CHECK(rc == (ok ? OTEL_OK : OTEL_EINVAL), "parse %s: %d",
             fz_hex(s, n), rc);
    FZ_CHECK(memcmp(&got, &ref, sizeof(got)) == 0, "parse %s: context",
             fz_hex(s, n));
    FZ_CHECK(tp_invalid() - inv == (ok ? 0u : 1u), "invalid counter");
    if (!ok) {
        FZ_CHECK(memcmp(&got, &zero, sizeof(got)) == 0, "not zeroed");
        FZ_CHECK(otel_traceparent_format(&got, buf) == OTEL_EINVAL,
                 "formats an invalid context");
        return;
    }
    rc = otel_traceparent_format(&got, buf);
    FZ_CHECK(rc == OTEL_TRACEPARENT_LEN, "format: %d", rc);
    memcpy(want, "00-", 3);
    otel_hex_encode(ref.trace_id, 16, want + 3);
    want[35] = '-';
    otel_hex_encode(ref.span_id, 8, want + 36);
    want[52] = '-';
    otel_hex_encode(&ref.trace_flags, 1, want + 53);
    FZ_CHECK(memcmp(buf, want, OTEL_TRACEPARENT_LEN) == 0, "formatted %s",
             fz_hex(buf, OTEL_TRACEPARENT_LEN));
    t = tp_trim(s, n);
    if (t.n == 55 && t.s[0] == '0' && t.s[1] == '0'
        && memcmp(want + 53, t.s + 53, 2) == 0) {
        FZ_CHECK(memcmp(buf, t.s, 55) == 0, "canonical input changed");
    }
    rc = otel_traceparent_parse(buf, OTEL_TRACEPARENT_LEN, &again);
    FZ_CHECK(rc == OTEL_OK && memcmp(&again, &got, sizeof(got)) == 0,
             "formatted header parses to another context");
}

/* ---- tracestate -----------------------------------------------------------*/
static bool ts_lc(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool ts_dig(char c)
{
    return c >= '0' && c <= '9';
}

static bool ts_rest(char c)
{
    return ts_lc(c) || ts_dig(c) || c == '_' || c == '-' || c == '*'
           || c == '/';
}

static bool ts_key(const char *k, size_t n)
{
    size_t i, at = n;

    for (i = 0; i < n; i++) {
        if (k[i] == '@') {
            at = i;
            break;
        }
    }
    if (at == n) {          /* simple-key = lcalpha 0*255(rest) */
        if (n < 1 || n > 256 || !ts_lc(k[0])) {
            return false;
        }
        for (i = 1; i < n; i++) {
            if (!ts_rest(k[i])) {
                return false;
            }
        }
        return true;
    }
    /* tenant-id = (lcalpha / DIGIT) 0*240(rest) "@"
     * system-id = lcalpha 0*13(rest) */
    if (at < 1 || at > 241 || !(ts_lc(k[0]) || ts_dig(k[0]))
        || n - at - 1 < 1 || n - at - 1 > 14 || !ts_lc(k[at + 1])) {
        return false;
    }
    for (i = 1; i < n; i++) {
        if (i != at && i != at + 1 && !ts_rest(k[i])) {
            return false;
        }
    }
    return true;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
 * nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static bool ts_nblk(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2b) || (c >= 0x2d && c <= 0x3c)
           || (c >= 0x3e && c <= 0x7e);
}

static bool ts_value(const char *v, size_t n)
{
    size_t i;

    if (n < 1 || n > 256 || !ts_nblk((unsigned char)v[n - 1])) {
        return false;
    }
    for (i = 0; i + 1 < n; i++) {
        if (v[i] != ' ' && !ts_nblk((unsigned char)v[i])) {
            return false;
        }
    }
    return true;
}

typedef struct {
    fz_str m;
    size_t kl;
    bool   keep;
} ts_ref_member;

/* The reference cleaner: returns the output length, *dropped the count. */
static size_t ts_reference(const char *s, size_t len, size_t cap, char *out,
                           size_t *dropped)
{
    ts_ref_member m[32];
    size_t n = 0, start = 0, end, i, j, max, o = 0;
    const char *eq;
    fz_str t;

    *dropped = 0;
    max = cap < 512 ? cap : 512;
    while (start < len) {
        for (end = start; end < len && s[end] != ','; end++) {
        }
        t = tp_trim(s + start, end - start);
        start = end + 1;
        if (!t.n) {
            continue;
        }
        eq = memchr(t.s, '=', t.n);
        if (!eq || !ts_key(t.s, (size_t)(eq - t.s))
            || !ts_value(eq + 1, t.n - (size_t)(eq - t.s) - 1)) {
            (*dropped)++;
            continue;
        }
        for (i = 0; i < n; i++) {
            if (fz_eq(m[i].m.s, m[i].kl, t.s, (size_t)(eq - t.s))) {
                break;
            }
        }
        if (i < n || n == 32) {
            (*dropped)++;
            continue;
        }
        m[n].m = t;
        m[n].kl = (size_t)(eq - t.s);
        m[n].keep = true;
        n++;
    }
    /* Recounted at every step, not kept up to date as the core does. */
    for (j = 0; j < 2; j++) {
        for (i = n; i-- > 0;) {
            size_t now = 0, k, kept = 0;
            for (k = 0; k < n; k++) {
                if (m[k].keep) {
                    now += m[k].m.n + (kept++ ? 1 : 0);
                }
            }
            if (now <= max) {
                break;
            }
            if (m[i].keep && (j == 1 || m[i].m.n > 128)) {
                m[i].keep = false;
                (*dropped)++;
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (m[i].keep) {
            if (o) {
                out[o++] = ',';
            }
            memcpy(out + o, m[i].m.s, m[i].m.n);
            o += m[i].m.n;
        }
    }
    return o;
}

static void check_tracestate(const char *s, size_t n, size_t cap)
{
    char *out = malloc(cap + 1), *ref = malloc(n + 1), *again;
    size_t rn, dropped, i;
    uint64_t inv;
    int rc;

    memset(out, 0xa5, cap + 1);
    inv = tp_invalid();
    rc = otel_tracestate_clean(s, n, cap ? out : NULL, cap);
    rn = ts_reference(s, n, cap, ref, &dropped);
    FZ_CHECK(rc >= 0 && (size_t)rc == rn, "tracestate %s (cap %zu): %d, "
             "reference %zu", fz_hex(s, n), cap, rc, rn);
    FZ_CHECK(memcmp(out, ref, rn) == 0, "tracestate %s", fz_hex(out, rn));
    for (i = rn; i <= cap; i++) {
        FZ_CHECK((unsigned char)out[i] == 0xa5, "written past the output");
    }
    FZ_CHECK(tp_invalid() - inv == dropped, "invalid counter +%llu, "
             "dropped %zu", (unsigned long long)(tp_invalid() - inv),
             dropped);
    if (rn) {
        again = malloc(rn);
        inv = tp_invalid();
        rc = otel_tracestate_clean(out, rn, again, rn);
        FZ_CHECK(rc >= 0 && (size_t)rc == rn && memcmp(again, out, rn) == 0
                 && tp_invalid() == inv, "output does not clean to itself");
        free(again);
    }
    free(ref);
    free(out);
}

static void traceparent_init(void)
{
}

static void traceparent_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    size_t cap = 3u * fz_u8(&in), tl;
    const char *nl;
    char *tp, *ts;

    nl = memchr(in.p, '\n', in.n);
    tl = nl ? (size_t)(nl - (const char *)in.p) : in.n;
    /* Exact-size copies: ASan sees any read past the end. */
    tp = malloc(tl ? tl : 1);
    if (tl) {
        memcpy(tp, in.p, tl);
    }
    check_traceparent(tp, tl);
    if (nl) {
        size_t n = in.n - tl - 1;
        ts = malloc(n ? n : 1);
        if (n) {
            memcpy(ts, nl + 1, n);
        }
        check_tracestate(ts, n, cap);
        free(ts);
    } else {
        check_tracestate(tp, tl, cap);
    }
    free(tp);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    traceparent_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    traceparent_run(data, size);
    return 0;
}
#endif
