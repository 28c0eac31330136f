/*
 * Shared pieces of the targets of the other tracers' formats
 * (fuzz_jaeger.c, fuzz_ottrace.c, fuzz_xray.c, fuzz_gcp.c,
 * fuzz_datadog.c): small independent readers for the references, the
 * input split into header values, and the check of otel_prop_extract
 * against a reference's result, followed by the roundtrip through
 * otel_prop_inject.  Nothing here is shared with src/propagators.c.
 */
#ifndef OTEL_FUZZ_PROP_H
#define OTEL_FUZZ_PROP_H

#include "internal.h"
#include "fuzz.h"

#define PR_MAXF OTEL_PROP_MAX_FIELDS

/* The reference's verdict. */
typedef struct {
    int              rc;        /* OTEL_OK, 1 or OTEL_EINVAL */
    otel_span_handle h;
    int              debug;
    char             ts[OTEL_PROP_TS_MAX];
    size_t           tsl;
    uint64_t         extra_invalid; /* counted besides a failed parse */
} pr_ref;

/* The verdict "invalid": nothing extracted. */
FZ_FN void pr_reject(pr_ref *r)
{
    memset(r, 0, sizeof(*r));
    r->rc = OTEL_EINVAL;
}

FZ_FN uint64_t pr_invalid(void)
{
    return otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
}

FZ_FN fz_str pr_trim(const char *s, size_t n)
{
    fz_str r;
    size_t a = 0, b = n;

    while (a < b && (s[a] == ' ' || s[a] == '\t')) {
        a++;
    }
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) {
        b--;
    }
    r.s = s + a;
    r.n = b - a;
    return r;
}

/* Value of a hex digit: lower case, or also upper case. */
FZ_FN int pr_xdigit(char c, bool upper_ok)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    int i;

    for (i = 0; i < 16; i++) {
        if (c == lo[i] || (upper_ok && c == up[i])) {
            return i;
        }
    }
    return -1;
}

/* n hex digits right-aligned into an id of `bytes` bytes: false when n is
 * 0 or more than 2 * bytes, or a digit is not hex. */
FZ_FN bool pr_hex_id(fz_str t, uint8_t *id, size_t bytes, bool upper_ok)
{
    size_t k;
    int d;

    memset(id, 0, bytes);
    if (t.n == 0 || t.n > 2 * bytes) {
        return false;
    }
    for (k = 0; k < t.n; k++) {               /* k-th digit from the right */
        d = pr_xdigit(t.s[t.n - 1 - k], upper_ok);
        if (d < 0) {
            return false;
        }
        id[bytes - 1 - k / 2] |= (uint8_t)(k % 2 ? d << 4 : d);
    }
    return true;
}

/* Digits only, 1-20 of them, at most 2^64 - 1 (compared as text). */
FZ_FN bool pr_dec(fz_str t, uint64_t *v)
{
    static const char max[] = "18446744073709551615";
    size_t i;

    if (t.n == 0 || t.n > 20) {
        return false;
    }
    for (i = 0; i < t.n; i++) {
        if (t.s[i] < '0' || t.s[i] > '9') {
            return false;
        }
    }
    if (t.n == 20 && memcmp(t.s, max, 20) > 0) {
        return false;
    }
    *v = 0;
    for (i = 0; i < t.n; i++) {
        *v = *v * 10 + (uint64_t)(t.s[i] - '0');
    }
    return true;
}

FZ_FN bool pr_zero(const uint8_t *p, size_t n)
{
    while (n--) {
        if (*p++) {
            return false;
        }
    }
    return true;
}

FZ_FN bool pr_lit(fz_str t, const char *lit)
{
    return fz_eq(t.s, t.n, lit, strlen(lit));
}

/* Whether the header name s[0..n) is longer than prefix (lower case) and
 * starts with it, an upper-case ASCII letter of the name matching its
 * lower case. */
FZ_FN bool pr_prefixed(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix), i;

    if (n <= k) {
        return false;
    }
    for (i = 0; i < k; i++) {
        if (s[i] != prefix[i]
            && !(s[i] >= 'A' && s[i] <= 'Z' && s[i] + 32 == prefix[i])) {
            return false;
        }
    }
    return true;
}

/* Splits s at sep into at most max parts; returns the count, or max + 1
 * when there are more. */
FZ_FN size_t pr_split(const char *s, size_t n, char sep, fz_str *parts,
                      size_t max)
{
    size_t np = 0, start = 0, i;

    for (i = 0; i <= n; i++) {
        if (i == n || s[i] == sep) {
            if (np == max) {
                return max + 1;
            }
            parts[np].s = s + start;
            parts[np++].n = i - start;
            start = i + 1;
        }
    }
    return np;
}

/* The input as header values: the bits of `present` say which fields are
 * there, their values are the rest split at '\n'.  The copy `buf` (of the
 * exact size, for ASan) is the caller's to free. */
FZ_FN char *pr_values(fz_in *in, unsigned present, int nf,
                      const char **vals, size_t *lens)
{
    char *buf = malloc(in->n ? in->n : 1);
    size_t start = 0, i = 0;
    int k;

    if (in->n) {
        memcpy(buf, in->p, in->n);
    }
    for (k = 0; k < PR_MAXF; k++) {
        vals[k] = NULL;
        lens[k] = 0;
    }
    for (k = 0; k < nf; k++) {
        while (i < in->n && buf[i] != '\n') {
            i++;
        }
        if (present & (1u << k)) {
            vals[k] = buf + start;
            lens[k] = i - start;
        }
        start = i < in->n ? ++i : i;
    }
    return buf;
}

/* What the formatted headers of h parse back to: the same context, but
 * for OT, whose header carries the trace id's lower 64 bits. */
FZ_FN void pr_expect_back(int format, const otel_span_handle *h,
                          otel_span_handle *want)
{
    *want = *h;
    if (format == OTEL_PROPAGATOR_OTTRACE) {
        memset(want->trace_id, 0, 8);
    }
}

/* Runs the core on vals and compares with the reference; then formats the
 * context, parses that again, and formats it as a traceparent. */
FZ_FN void pr_check(int format, const char *const *vals, const size_t *lens,
                    const pr_ref *ref, const char *what)
{
    otel_span_handle got, again, want;
    char ts[OTEL_PROP_TS_MAX], buf[OTEL_PROP_BUF], ts2[OTEL_PROP_TS_MAX];
    char tp[OTEL_TRACEPARENT_LEN];
    const char *v2[PR_MAXF];
    size_t l2[PR_MAXF], tsl = 99, tsl2 = 99, off = 0;
    uint64_t inv = pr_invalid();
    int rc, dbg = -1, d2 = -1, n, i;

    memset(&got, 0xa5, sizeof(got));
    rc = otel_prop_extract(format, vals, lens, &got, &dbg, ts, &tsl);
    FZ_CHECK(rc == ref->rc, "%s: %d, expected %d", what, rc, ref->rc);
    FZ_CHECK(memcmp(&got, &ref->h, sizeof(got)) == 0, "%s: context %s",
             what, fz_hex(&got, sizeof(got)));
    FZ_CHECK(pr_invalid() - inv
             == (rc == OTEL_EINVAL ? 1u : 0u) + ref->extra_invalid,
             "%s: invalid counter +%llu", what,
             (unsigned long long)(pr_invalid() - inv));
    FZ_CHECK(rc != OTEL_OK || dbg == ref->debug, "%s: debug %d", what, dbg);
    FZ_CHECK(rc == OTEL_OK ? tsl == ref->tsl
             && memcmp(ts, ref->ts, tsl) == 0 : tsl == 0,
             "%s: trace state %.*s", what, (int)(tsl < 300 ? tsl : 0), ts);
    if (rc != OTEL_OK) {
        FZ_CHECK(otel_prop_inject(format, &got, 0, NULL, 0, buf, sizeof(buf),
                                  l2) == OTEL_EINVAL,
                 "%s: formats an invalid context", what);
        return;
    }
    n = otel_prop_inject(format, &got, dbg, ts, tsl, buf, sizeof(buf), l2);
    if ((format == OTEL_PROPAGATOR_OTTRACE || format == OTEL_PROPAGATOR_DATADOG)
        && pr_zero(got.trace_id + 8, 8)) {
        /* their header of the lower 64 bits would be invalid */
        FZ_CHECK(n == OTEL_EINVAL, "%s: a header of a zero id", what);
        return;
    }
    FZ_CHECK(n > 0, "%s: inject %d", what, n);
    for (i = 0; i < PR_MAXF; i++) {
        FZ_CHECK(otel_prop_field(format, i) || l2[i] == 0,
                 "%s: a value for no header", what);
        v2[i] = l2[i] ? buf + off : NULL;
        off += l2[i];
    }
    FZ_CHECK(off == (size_t)n, "%s: lengths add up", what);
    rc = otel_prop_extract(format, v2, l2, &again, &d2, ts2, &tsl2);
    pr_expect_back(format, &got, &want);
    FZ_CHECK(rc == OTEL_OK && memcmp(&again, &want, sizeof(want)) == 0
             && d2 == dbg, "%s: injected headers parse to another context",
             what);
    FZ_CHECK(tsl2 == tsl && memcmp(ts2, ts, tsl) == 0,
             "%s: trace state lost on the way back", what);
    FZ_CHECK(otel_traceparent_format(&got, tp) == OTEL_TRACEPARENT_LEN
             && otel_traceparent_parse(tp, sizeof(tp), &again) == OTEL_OK
             && memcmp(&again, &got, sizeof(got)) == 0,
             "%s: as traceparent: another context", what);
}

/* A target of a one-header format: a mode byte (odd: no header, 1),
 * then the header value, checked against ref. */
typedef void (*pr_ref_fn)(const char *s, size_t n, pr_ref *r);

FZ_FN void pr_run_single(int format, pr_ref_fn ref, const uint8_t *data,
                         size_t size, const char *what)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in);
    const char *vals[PR_MAXF];
    size_t lens[PR_MAXF];
    char *buf = pr_values(&in, 0, 1, vals, lens);
    pr_ref r;

    memset(&r, 0, sizeof(r));
    r.rc = 1;
    if (!(mode & 1)) {
        vals[0] = buf;
        lens[0] = in.n;
        ref(buf, in.n, &r);
    }
    pr_check(format, vals, lens, &r, what);
    free(buf);
}

/* PR_FUZZ_ENTRY(run): the libFuzzer entry point, which calls
 * run(data, size) (t/c/test_fuzz_regress.c calls run itself).  These
 * targets need no LLVMFuzzerInitialize. */
#ifdef FUZZ_REGRESS
#define PR_FUZZ_ENTRY(run)
#else
#define PR_FUZZ_ENTRY(run)                                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)           \
    {                                                                       \
        run(data, size);                                                    \
        return 0;                                                           \
    }
#endif

/* PR_SINGLE_TARGET(run, format, ref, what): a whole one-header target,
 * run(data, size) being pr_run_single with those arguments. */
#define PR_SINGLE_TARGET(run, format, ref, what)                            \
    static void run(const uint8_t *data, size_t size)                       \
    {                                                                       \
        pr_run_single(format, ref, data, size, what);                       \
    }                                                                       \
    PR_FUZZ_ENTRY(run)

#endif
