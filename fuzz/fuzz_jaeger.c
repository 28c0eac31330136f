/*
 * Jaeger (otel_prop_extract / _inject with OTEL_PROPAGATOR_JAEGER) and its
 * baggage headers (otel_prop_baggage_put / _format) against a reference
 * written from Jaeger's client documentation.
 *
 * Input: a mode byte, then
 *   mode 0 mod 3: an uber-trace-id value.  OWS trimmed, %3A (either case)
 *     decoded to ':', then exactly four ':'-separated fields: trace id
 *     (1-32 hex digits, either case, left-padded), span id (1-16), parent
 *     span id (1-16, ignored), flags (1-2 hex digits: bit 0 sampled, bit 1
 *     debug, which implies sampled); ids not all zero.
 *   mode 1 mod 3: no header at all: 1, no context, nothing counted.
 *   mode 2 mod 3: a baggage header "name\nvalue": a name that starts with
 *     uberctx- (any case) and goes on puts the rest as the key and the
 *     percent-decoded, OWS-trimmed value as otel_baggage_put would; any
 *     other name is 1.  The header formatted for that key and value is
 *     uberctx-{key}: a value of only unreserved characters and %XX that
 *     decodes to the value.
 * A parsed context formats to headers that parse to it (pr_check).
 */
#include "prop.h"

static bool fj_decode(const char *s, size_t n, char *out, size_t *on)
{
    size_t i, o = 0;
    int hi, lo;

    for (i = 0; i < n; i++) {
        hi = i + 2 < n ? pr_xdigit(s[i + 1], true) : -1;
        lo = i + 2 < n ? pr_xdigit(s[i + 2], true) : -1;
        if (s[i] == '%' && hi >= 0 && lo >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    *on = o;
    return true;
}

static void fj_ref(const char *s, size_t n, pr_ref *r)
{
    fz_str t = pr_trim(s, n), f[4];
    char *d = malloc(t.n ? t.n : 1);
    size_t dn = 0, i, np;
    uint8_t parent[8], flags[1];

    memset(r, 0, sizeof(*r));
    /* only %3A is decoded here */
    for (i = 0; i < t.n; i++) {
        if (t.s[i] == '%' && i + 2 < t.n && t.s[i + 1] == '3'
            && (t.s[i + 2] == 'a' || t.s[i + 2] == 'A')) {
            d[dn++] = ':';
            i += 2;
        } else {
            d[dn++] = t.s[i];
        }
    }
    np = pr_split(d, dn, ':', f, 4);
    if (np != 4 || !pr_hex_id(f[0], r->h.trace_id, 16, true)
        || !pr_hex_id(f[1], r->h.span_id, 8, true)
        || !pr_hex_id(f[2], parent, 8, true)
        || !pr_hex_id(f[3], flags, 1, true)
        || pr_zero(r->h.trace_id, 16) || pr_zero(r->h.span_id, 8)) {
        pr_reject(r);
    } else {
        r->h.trace_flags = (flags[0] & 3) ? 1 : 0;
        r->h.remote = 1;
        r->debug = (flags[0] & 2) ? 1 : 0;
        r->rc = OTEL_OK;
    }
    free(d);
}

static void fj_baggage(const char *s, size_t n)
{
    const char *nl = memchr(s, '\n', n);
    size_t namel = nl ? (size_t)(nl - s) : n, vl, dl, i;
    const char *v = nl ? nl + 1 : s + n;
    char wb1[OTEL_BAGGAGE_MAX_BYTES], wb2[OTEL_BAGGAGE_MAX_BYTES];
    char *dec, out[OTEL_PROP_BUF];
    otel_baggage_writer w1 = { wb1, sizeof(wb1), 0, 0, 0 };
    otel_baggage_writer w2 = { wb2, sizeof(wb2), 0, 0, 0 };
    size_t lens[2];
    bool ours;
    int rc, want, fr;
    fz_str tv;

    vl = n - (size_t)(v - s);
    ours = pr_prefixed(s, namel, "uberctx-");
    rc = otel_prop_baggage_put(OTEL_PROPAGATOR_JAEGER, &w1, s, namel, v, vl);
    if (!ours) {
        FZ_CHECK(rc == 1 && w1.len == 0, "jaeger baggage: not ours: %d", rc);
        return;
    }
    tv = pr_trim(v, vl);
    dec = malloc(tv.n ? tv.n : 1);
    fj_decode(tv.s, tv.n, dec, &dl);
    want = tv.n > OTEL_BAGGAGE_MAX_BYTES ? OTEL_ELIMIT
           : otel_baggage_put(&w2, s + 8, namel - 8, dec, dl, NULL, 0);
    FZ_CHECK(rc == want && w1.len == w2.len
             && memcmp(wb1, wb2, w1.len) == 0,
             "jaeger baggage: %d, expected %d", rc, want);
    fr = otel_prop_baggage_format(OTEL_PROPAGATOR_JAEGER, s + 8, namel - 8, dec,
                                  dl, out, sizeof(out), lens);
    if (fr > 0) {
        char *back = malloc(lens[1] ? lens[1] : 1);
        size_t bl;

        FZ_CHECK(lens[0] == namel && memcmp(out, "uberctx-", 8) == 0
                 && memcmp(out + 8, s + 8, namel - 8) == 0,
                 "jaeger baggage: header name");
        for (i = 0; i < lens[1]; i++) {
            char c = out[lens[0] + i];

            FZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                     || (c >= 'A' && c <= 'Z') || strchr("-._~%", c),
                     "jaeger baggage: %c in a value", c);
        }
        fj_decode(out + lens[0], lens[1], back, &bl);
        FZ_CHECK(bl == dl && memcmp(back, dec, dl) == 0,
                 "jaeger baggage: value decodes to another");
        free(back);
    } else {
        FZ_CHECK(want != OTEL_OK || dl * 3 + namel > sizeof(out),
                 "jaeger baggage: put but not formatted (%d)", fr);
    }
    free(dec);
}

static void fj_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in);
    const char *vals[PR_MAXF];
    size_t lens[PR_MAXF];
    char *buf = pr_values(&in, mode % 3 == 1 ? 0 : 1, 1, vals, lens);
    pr_ref r;

    if (mode % 3 == 2) {
        fj_baggage(buf, in.n);
    } else if (mode % 3 == 1) {
        memset(&r, 0, sizeof(r));
        r.rc = 1;
        pr_check(OTEL_PROPAGATOR_JAEGER, vals, lens, &r, "jaeger absent");
    } else {
        /* the whole input is the value, '\n' included */
        vals[0] = buf;
        lens[0] = in.n;
        fj_ref(buf, in.n, &r);
        pr_check(OTEL_PROPAGATOR_JAEGER, vals, lens, &r, "jaeger");
    }
    free(buf);
}

PR_FUZZ_ENTRY(fj_run)
