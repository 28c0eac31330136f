/*
 * AWS X-Ray (otel_prop_extract / _inject with OTEL_PROPAGATOR_XRAY) against a
 * reference written from the X-Amzn-Trace-Id documentation.
 *
 * Input: a mode byte (odd: no header, 1), then the header value: parts
 * split at ';', each OWS-trimmed, empty ones skipped; a part without '='
 * is invalid; key and value split at the first '=' and trimmed.  Root:
 * 1-{8 lower-case hex}-{24}; Parent: 16 lower-case hex; Sampled: 0, 1 or
 * ? (not sampled); other keys ignored; a known key twice, or Root or
 * Parent missing, or an all-zero id: invalid.
 */
#include "prop.h"

static void fx_ref(const char *s, size_t n, pr_ref *r)
{
    size_t start = 0, i, eq;
    int seen = 0;

    pr_reject(r);
    for (i = 0; i <= n; i++) {
        fz_str p, k, v;

        if (i < n && s[i] != ';') {
            continue;
        }
        p = pr_trim(s + start, i - start);
        start = i + 1;
        if (p.n == 0) {
            continue;
        }
        for (eq = 0; eq < p.n && p.s[eq] != '='; eq++) {
        }
        if (eq == p.n) {
            goto bad;
        }
        k = pr_trim(p.s, eq);
        v = pr_trim(p.s + eq + 1, p.n - eq - 1);
        if (pr_lit(k, "Root")) {
            fz_str a, b;

            if ((seen & 1) || v.n != 35 || v.s[0] != '1' || v.s[1] != '-'
                || v.s[10] != '-') {
                goto bad;
            }
            a.s = v.s + 2;
            a.n = 8;
            b.s = v.s + 11;
            b.n = 24;
            if (!pr_hex_id(a, r->h.trace_id, 4, false)
                || !pr_hex_id(b, r->h.trace_id + 4, 12, false)) {
                goto bad;
            }
            seen |= 1;
        } else if (pr_lit(k, "Parent")) {
            if ((seen & 2) || v.n != 16
                || !pr_hex_id(v, r->h.span_id, 8, false)) {
                goto bad;
            }
            seen |= 2;
        } else if (pr_lit(k, "Sampled")) {
            if ((seen & 4) || !(pr_lit(v, "0") || pr_lit(v, "1")
                                || pr_lit(v, "?"))) {
                goto bad;
            }
            r->h.trace_flags = pr_lit(v, "1");
            seen |= 4;
        }
    }
    if ((seen & 3) != 3 || pr_zero(r->h.trace_id, 16)
        || pr_zero(r->h.span_id, 8)) {
        goto bad;
    }
    r->h.remote = 1;
    r->rc = OTEL_OK;
    return;

bad:
    pr_reject(r);
}

PR_SINGLE_TARGET(fx_run, OTEL_PROPAGATOR_XRAY, fx_ref, "xray")
