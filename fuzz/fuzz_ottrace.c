/*
 * OT Trace (otel_prop_extract / _inject with OTEL_PROPAGATOR_OTTRACE) and its
 * baggage headers against a reference written from the OT Trace format
 * of the OpenTelemetry contrib propagators.
 *
 * Input: a mode byte, then
 *   mode < 0x80: the bits 0-2 say which of ot-tracer-traceid, -spanid,
 *     -sampled are present, their values are the rest split at '\n'.
 *     OWS trimmed; neither id header: 1; else both ids are required, the
 *     trace id 16 or 32 lower-case hex digits (16 left-padded), the span
 *     id 16, neither all zero; sampled true, 1 (sampled), false, 0 or
 *     absent (not sampled), anything else invalid.  Sent back with the
 *     trace id's lower 64 bits (none when those are zero).
 *   mode >= 0x80: a baggage header "name\nvalue": a name that starts with
 *     ot-baggage- (any case) and goes on puts the rest and the
 *     OWS-trimmed value as they are; others are 1.  Formatting gives
 *     ot-baggage-{key}: {value}, refused for a control character.
 */
#include "prop.h"

static void fo_ref(const char *const *v, const size_t *l, pr_ref *r)
{
    fz_str t[3];
    int i;

    memset(r, 0, sizeof(*r));
    for (i = 0; i < 3; i++) {
        t[i] = v[i] ? pr_trim(v[i], l[i]) : (fz_str){ NULL, 0 };
    }
    if (!v[0] && !v[1]) {
        r->rc = 1;
        return;
    }
    r->rc = OTEL_EINVAL;
    if (!v[0] || !v[1] || (t[0].n != 16 && t[0].n != 32) || t[1].n != 16
        || !pr_hex_id(t[0], r->h.trace_id, 16, false)
        || !pr_hex_id(t[1], r->h.span_id, 8, false)
        || pr_zero(r->h.trace_id, 16) || pr_zero(r->h.span_id, 8)) {
        memset(&r->h, 0, sizeof(r->h));
        return;
    }
    if (v[2]) {
        if (pr_lit(t[2], "true") || pr_lit(t[2], "1")) {
            r->h.trace_flags = 1;
        } else if (!pr_lit(t[2], "false") && !pr_lit(t[2], "0")) {
            memset(&r->h, 0, sizeof(r->h));
            return;
        }
    }
    r->h.remote = 1;
    r->rc = OTEL_OK;
}

static void fo_baggage(const char *s, size_t n)
{
    const char *nl = memchr(s, '\n', n);
    size_t namel = nl ? (size_t)(nl - s) : n, vl, i;
    const char *v = nl ? nl + 1 : s + n;
    char wb1[OTEL_BAGGAGE_MAX_BYTES], wb2[OTEL_BAGGAGE_MAX_BYTES];
    char out[OTEL_PROP_BUF];
    otel_baggage_writer w1 = { wb1, sizeof(wb1), 0, 0, 0 };
    otel_baggage_writer w2 = { wb2, sizeof(wb2), 0, 0, 0 };
    size_t lens[2];
    bool ours, ctl = false;
    int rc, want, fr;
    fz_str tv;

    vl = n - (size_t)(v - s);
    ours = pr_prefixed(s, namel, "ot-baggage-");
    rc = otel_prop_baggage_put(OTEL_PROPAGATOR_OTTRACE, &w1, s, namel, v, vl);
    if (!ours) {
        FZ_CHECK(rc == 1 && w1.len == 0, "ot baggage: not ours: %d", rc);
        return;
    }
    tv = pr_trim(v, vl);
    want = otel_baggage_put(&w2, s + 11, namel - 11, tv.s, tv.n, NULL, 0);
    FZ_CHECK(rc == want && w1.len == w2.len
             && memcmp(wb1, wb2, w1.len) == 0,
             "ot baggage: %d, expected %d", rc, want);
    for (i = 0; i < tv.n; i++) {
        ctl |= (unsigned char)tv.s[i] < 0x20 || tv.s[i] == 0x7f;
    }
    fr = otel_prop_baggage_format(OTEL_PROPAGATOR_OTTRACE, s + 11, namel - 11,
                                  tv.s, tv.n, out, sizeof(out), lens);
    if (ctl) {
        FZ_CHECK(fr == OTEL_EINVAL, "ot baggage: a control character sent");
    } else if (fr > 0) {
        FZ_CHECK(lens[0] == namel && memcmp(out, "ot-baggage-", 11) == 0
                 && memcmp(out + 11, s + 11, namel - 11) == 0
                 && lens[1] == tv.n
                 && memcmp(out + lens[0], tv.s, tv.n) == 0,
                 "ot baggage: header");
    } else {
        FZ_CHECK(want != OTEL_OK || namel + tv.n > sizeof(out),
                 "ot baggage: put but not formatted (%d)", fr);
    }
}

static void fo_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in);
    const char *vals[PR_MAXF];
    size_t lens[PR_MAXF];
    char *buf = pr_values(&in, mode & 7, 3, vals, lens);
    pr_ref r;

    if (mode & 0x80) {
        fo_baggage(buf, in.n);
    } else {
        fo_ref(vals, lens, &r);
        pr_check(OTEL_PROPAGATOR_OTTRACE, vals, lens, &r, "ottrace");
    }
    free(buf);
}

PR_FUZZ_ENTRY(fo_run)
