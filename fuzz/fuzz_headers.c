/*
 * otel_extract_headers over arbitrary header lists.
 *
 * Input: an order byte (bits 0-1: how many propagators, 0-3; then two
 * bits per propagator id, 1-4), then header lines split at '\n': a line
 * whose first byte is below 0x10 names a known header (traceparent,
 * tracestate, baggage, b3, x-b3-*, host) and the rest is its value;
 * any other line is "name:value" (no ':': a name alone).
 *
 * Checks: the status is 1 exactly when a context or baggage was found; a
 * found context has valid ids and is remote; the trace state and the
 * baggage lie in the caller's buffer, within their limits, and clean to
 * themselves; a context is found only with a span propagator configured.
 * With tracecontext the only span propagator, the result is the
 * traceparent parser's on the one traceparent line (none, or repeated:
 * nothing, a repeat counted invalid).
 */
#include "internal.h"
#include "fuzz.h"

#define HD_MAX 64

static const char *const hd_known[] = {
    "traceparent", "tracestate", "baggage", "b3", "x-b3-traceid",
    "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "host",
};

static char hd_buf[OTEL_EXTRACT_BUF];
static char hd_check[OTEL_BAGGAGE_MAX_BYTES];

static bool hd_nonzero(const uint8_t *p, size_t n)
{
    while (n--) {
        if (*p++) {
            return true;
        }
    }
    return false;
}

static void headers_run(const uint8_t *data, size_t size)
{
    otel_header h[HD_MAX];
    otel_extracted ex;
    otel_span_handle ref;
    uint8_t props[3];
    size_t n = 0, np, i, start, end, tp_lines = 0, tp_at = 0;
    bool tc = false, b3 = false;
    uint64_t inv0;
    const char *s;
    int rc, k;

    if (size < 1) {
        return;
    }
    np = data[0] & 3;
    for (i = 0; i < np; i++) {
        props[i] = (uint8_t)(((data[0] >> (2 + 2 * i)) & 3) + 1);
        tc = tc || props[i] == OTEL_PROPAGATOR_TRACECONTEXT;
        b3 = b3 || props[i] == OTEL_PROPAGATOR_B3
             || props[i] == OTEL_PROPAGATOR_B3MULTI;
    }
    s = (const char *)data + 1;
    size--;
    for (start = 0; start < size && n < HD_MAX; start = end + 1) {
        const char *c;
        for (end = start; end < size && s[end] != '\n'; end++) {
        }
        if ((unsigned char)s[start] < 0x10 && end > start) {
            k = s[start] % (int)(sizeof(hd_known) / sizeof(hd_known[0]));
            h[n].name = hd_known[k];
            h[n].name_len = (int)strlen(hd_known[k]);
            h[n].value = s + start + 1;
            h[n].value_len = (int)(end - start - 1);
        } else {
            c = memchr(s + start, ':', end - start);
            h[n].name = s + start;
            h[n].name_len = (int)((c ? (size_t)(c - s) : end) - start);
            h[n].value = c ? c + 1 : s + end;
            h[n].value_len = c ? (int)(s + end - c - 1) : 0;
        }
        if (h[n].name_len == 11 && memcmp(h[n].name, "traceparent", 11) == 0) {
            tp_lines++;
            tp_at = n;
        }
        n++;
    }

    inv0 = otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
    rc = otel_extract_headers(h, n, props, np, hd_buf, sizeof(hd_buf), &ex);
    FZ_CHECK(rc == (ex.found || ex.baggage_len), "status %d", rc);
    if (ex.found) {
        FZ_CHECK(tc || b3, "a context without a span propagator");
        FZ_CHECK(hd_nonzero(ex.parent.trace_id, 16)
                 && hd_nonzero(ex.parent.span_id, 8), "invalid ids");
        FZ_CHECK(ex.parent.remote == 1, "not remote");
    } else {
        FZ_CHECK(!ex.trace_state, "a trace state without a context");
    }
    if (ex.trace_state) {
        FZ_CHECK(ex.trace_state == hd_buf && ex.trace_state_len > 0
                 && ex.trace_state_len <= OTEL_TRACESTATE_MAX_LEN,
                 "trace state out of place");
        FZ_CHECK(otel_tracestate_clean(ex.trace_state, ex.trace_state_len,
                                       hd_check, sizeof(hd_check))
                 == (int)ex.trace_state_len
                 && memcmp(hd_check, ex.trace_state, ex.trace_state_len)
                    == 0, "trace state not clean");
    }
    if (ex.baggage) {
        FZ_CHECK(ex.baggage == hd_buf + OTEL_TRACESTATE_MAX_LEN
                 && ex.baggage_len > 0
                 && ex.baggage_len <= OTEL_BAGGAGE_MAX_BYTES,
                 "baggage out of place");
        FZ_CHECK(otel_baggage_clean(ex.baggage, ex.baggage_len, hd_check,
                                    sizeof(hd_check))
                 == (int)ex.baggage_len
                 && memcmp(hd_check, ex.baggage, ex.baggage_len) == 0,
                 "baggage not clean");
    }
    if (tc && !b3) {
        if (tp_lines == 1) {
            bool ok = otel_traceparent_parse(h[tp_at].value,
                                             (size_t)h[tp_at].value_len,
                                             &ref) == OTEL_OK;
            FZ_CHECK(ex.found == ok, "traceparent: found %d", ex.found);
            FZ_CHECK(!ok || memcmp(&ref.trace_id, &ex.parent.trace_id, 24)
                            == 0, "traceparent: other ids");
        } else {
            FZ_CHECK(!ex.found, "no single traceparent, yet a context");
            FZ_CHECK(tp_lines == 0
                     || otel_stats_get(OTEL_STAT_PROPAGATION_INVALID)
                        > inv0, "a repeated traceparent not counted");
        }
    }
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    headers_run(data, size);
    return 0;
}
#endif
