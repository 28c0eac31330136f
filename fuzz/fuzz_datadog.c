/*
 * Datadog (otel_prop_extract / _inject with OTEL_PROPAGATOR_DATADOG) against a
 * reference written from Datadog's trace context propagation rules.
 *
 * Input: a mode byte whose bits 0-4 say which of x-datadog-trace-id,
 * -parent-id, -sampling-priority, -origin, -tags are present, then their
 * values split at '\n'.  Every value OWS trimmed.  Neither id header: 1.
 * Both ids required: decimal, 1-20 digits, at most 2^64 - 1, not zero;
 * the trace id's lower 64 bits and the span id, big-endian.  Priority:
 * an integer, optionally negative; sampled when > 0; absent: not sampled;
 * else invalid.  Tags: ','-separated members, trimmed; the first that
 * starts with "_dd.p.tid=" and has a value gives the upper 64 bits when
 * it is 16 lower-case hex digits, else counts one invalid and leaves
 * them zero.  Origin: empty gives no trace state; over 200 bytes counts
 * one invalid; else the trace state is dd=o:{origin} with ',', ';', '=',
 * '~' and bytes outside 0x21-0x7e as '_'.  The injected headers carry the
 * same context and origin back (none when the lower 64 bits are zero).
 */
#include "prop.h"

static void fd_ref(const char *const *v, const size_t *l, pr_ref *r)
{
    fz_str t[5], m;
    uint64_t tid = 0, sid = 0, prio = 0;
    size_t i, start;
    int k;

    memset(r, 0, sizeof(*r));
    for (k = 0; k < 5; k++) {
        t[k] = v[k] ? pr_trim(v[k], l[k]) : (fz_str){ NULL, 0 };
    }
    if (!v[0] && !v[1]) {
        r->rc = 1;
        return;
    }
    r->rc = OTEL_EINVAL;
    if (!v[0] || !v[1] || !pr_dec(t[0], &tid) || !pr_dec(t[1], &sid)
        || tid == 0 || sid == 0) {
        return;
    }
    if (v[2]) {
        bool neg = t[2].n > 0 && t[2].s[0] == '-';
        fz_str d = { t[2].s + neg, t[2].n - neg };

        if (!pr_dec(d, &prio)) {
            return;
        }
        r->h.trace_flags = !neg && prio > 0;
    }
    for (k = 0; k < 8; k++) {
        r->h.trace_id[8 + k] = (uint8_t)(tid >> (56 - 8 * k));
        r->h.span_id[k] = (uint8_t)(sid >> (56 - 8 * k));
    }
    if (v[4]) {
        for (start = 0, i = 0; i <= t[4].n; i++) {
            if (i < t[4].n && t[4].s[i] != ',') {
                continue;
            }
            m = pr_trim(t[4].s + start, i - start);
            start = i + 1;
            if (m.n > 10 && memcmp(m.s, "_dd.p.tid=", 10) == 0) {
                fz_str hx = { m.s + 10, m.n - 10 };

                if (hx.n != 16 || !pr_hex_id(hx, r->h.trace_id, 8, false)) {
                    memset(r->h.trace_id, 0, 8);
                    r->extra_invalid++;
                }
                break;
            }
        }
    }
    if (v[3] && t[3].n > 200) {
        r->extra_invalid++;
    } else if (v[3] && t[3].n) {
        memcpy(r->ts, "dd=o:", 5);
        for (i = 0; i < t[3].n; i++) {
            unsigned char c = (unsigned char)t[3].s[i];

            r->ts[5 + i] = (char)(c <= 0x20 || c >= 0x7f
                                  || strchr(",;=~", c) ? '_' : c);
        }
        r->tsl = 5 + t[3].n;
    }
    r->h.remote = 1;
    r->rc = OTEL_OK;
}

static void fd_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in);
    const char *vals[PR_MAXF];
    size_t lens[PR_MAXF];
    char *buf = pr_values(&in, mode & 31, 5, vals, lens);
    pr_ref r;

    fd_ref(vals, lens, &r);
    pr_check(OTEL_PROPAGATOR_DATADOG, vals, lens, &r, "datadog");
    free(buf);
}

PR_FUZZ_ENTRY(fd_run)
