/*
 * Google Cloud Trace (otel_prop_extract / _inject with OTEL_PROPAGATOR_GCP)
 * against a reference written from the X-Cloud-Trace-Context
 * documentation.
 *
 * Input: a mode byte (odd: no header, 1), then the header value: OWS
 * trimmed; {trace id: 32 lower-case hex}/{span id: decimal, 1-20 digits,
 * at most 2^64 - 1}[;o={one digit, bit 0 sampled}]; ids not zero.
 */
#include "prop.h"

static void fg_ref(const char *s, size_t n, pr_ref *r)
{
    fz_str t = pr_trim(s, n), top[2], rest[2], id;
    uint64_t sid = 0;
    int i;

    pr_reject(r);
    if (pr_split(t.s, t.n, '/', top, 2) != 2 || top[0].n != 32
        || !pr_hex_id(top[0], r->h.trace_id, 16, false)) {
        goto bad;
    }
    switch (pr_split(top[1].s, top[1].n, ';', rest, 2)) {
    case 1:
        break;
    case 2:
        if (rest[1].n != 3 || rest[1].s[0] != 'o' || rest[1].s[1] != '='
            || rest[1].s[2] < '0' || rest[1].s[2] > '9') {
            goto bad;
        }
        r->h.trace_flags = (uint8_t)((rest[1].s[2] - '0') % 2);
        break;
    default:
        goto bad;
    }
    id = rest[0];
    if (!pr_dec(id, &sid) || sid == 0 || pr_zero(r->h.trace_id, 16)) {
        goto bad;
    }
    for (i = 0; i < 8; i++) {
        r->h.span_id[i] = (uint8_t)(sid >> (56 - 8 * i));
    }
    r->h.remote = 1;
    r->rc = OTEL_OK;
    return;

bad:
    pr_reject(r);
}

PR_SINGLE_TARGET(fg_run, OTEL_PROPAGATOR_GCP, fg_ref, "gcp")
