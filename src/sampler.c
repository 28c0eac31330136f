/*
 * Samplers of the specification.  The ratio sampler uses the algorithm of
 * the Python and Go SDKs (the last 8 bytes of the trace id, big-endian,
 * compared with ratio * 2^64), so every SDK agrees on a trace id.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { S_ON, S_OFF, S_RATIO, S_PARENT };

struct otel_sampler {
    int           type;
    double        ratio;
    uint64_t      bound;    /* sample when id < bound ... */
    bool          all;      /* ... or always, for ratio >= 1 */
    otel_sampler *d[5];     /* root, remote s/ns, local s/ns */
};

static otel_sampler *make(int type)
{
    otel_sampler *s = calloc(1, sizeof(*s));

    if (s) {
        s->type = type;
    }
    return s;
}

OTEL_API otel_sampler *otel_sampler_always_on(void)
{
    return make(S_ON);
}

OTEL_API otel_sampler *otel_sampler_always_off(void)
{
    return make(S_OFF);
}

OTEL_API otel_sampler *otel_sampler_trace_id_ratio(double ratio)
{
    otel_sampler *s;

    if (isnan(ratio)) {
        return NULL;
    }
    s = make(S_RATIO);
    if (!s) {
        return NULL;
    }
    if (ratio < 0) {
        ratio = 0;
    }
    if (ratio > 1) {
        ratio = 1;
    }
    s->ratio = ratio;
    if (ratio >= 1) {
        s->all = true;
    } else {
        /* round(ratio * 2^64), below 2^64 since ratio < 1 */
        long double b = roundl((long double)ratio * 18446744073709551616.0L);
        s->all = b >= 18446744073709551616.0L;
        s->bound = s->all ? 0 : (uint64_t)b;
    }
    return s;
}

OTEL_API otel_sampler *otel_sampler_parent_based(otel_sampler *root,
        otel_sampler *remote_sampled, otel_sampler *remote_not_sampled,
        otel_sampler *local_sampled, otel_sampler *local_not_sampled)
{
    otel_sampler *s = make(S_PARENT);
    otel_sampler *in[5] = { root, remote_sampled, remote_not_sampled,
                            local_sampled, local_not_sampled };
    int i;

    if (!s || !root) {
        free(s);
        for (i = 0; i < 5; i++) {
            otel_sampler_free(in[i]);
        }
        return NULL;
    }
    for (i = 0; i < 5; i++) {
        s->d[i] = in[i] ? in[i] : ((i == 1 || i == 3) ? make(S_ON)
                                                      : make(S_OFF));
        if (!s->d[i]) {
            otel_sampler_free(s);
            for (i++; i < 5; i++) {
                otel_sampler_free(in[i]);
            }
            return NULL;
        }
    }
    return s;
}

OTEL_API void otel_sampler_free(otel_sampler *s)
{
    int i;

    if (!s) {
        return;
    }
    for (i = 0; i < 5; i++) {
        otel_sampler_free(s->d[i]);
    }
    free(s);
}

int otel__sampler_decide(const otel_sampler *s, const otel_span_handle *parent,
                         const uint8_t trace_id[16])
{
    uint64_t x = 0;
    int i;

    switch (s->type) {
    case S_ON:
        return OTEL__SAMPLE_RECORD_AND_SAMPLE;
    case S_OFF:
        return OTEL__SAMPLE_DROP;
    case S_RATIO:
        if (s->all) {
            return OTEL__SAMPLE_RECORD_AND_SAMPLE;
        }
        for (i = 8; i < 16; i++) {
            x = (x << 8) | trace_id[i];
        }
        return x < s->bound ? OTEL__SAMPLE_RECORD_AND_SAMPLE
                            : OTEL__SAMPLE_DROP;
    default:
        if (!parent) {
            i = 0;
        } else if (parent->remote) {
            i = (parent->trace_flags & 1) ? 1 : 2;
        } else {
            i = (parent->trace_flags & 1) ? 3 : 4;
        }
        return otel__sampler_decide(s->d[i], parent, trace_id);
    }
}

static size_t put(char *buf, size_t cap, size_t at, const char *s)
{
    size_t n = strlen(s);

    if (at < cap) {
        memcpy(buf + at, s, (cap - at) > n ? n : cap - at);
    }
    return at + n;
}

static size_t describe(const otel_sampler *s, char *buf, size_t cap,
                       size_t at)
{
    static const char *const names[5] = {
        "root:", ",remoteParentSampled:", ",remoteParentNotSampled:",
        ",localParentSampled:", ",localParentNotSampled:"
    };
    char num[64];
    int i;

    switch (s->type) {
    case S_ON:
        return put(buf, cap, at, "AlwaysOnSampler");
    case S_OFF:
        return put(buf, cap, at, "AlwaysOffSampler");
    case S_RATIO:
        /* the shortest form that reads back as the same double: full
         * precision, without 0.1 printing as 0.10000000000000001 */
        for (i = 15; i <= 17; i++) {
            snprintf(num, sizeof(num), "TraceIdRatioBased{%.*g}", i,
                     s->ratio);
            if (strtod(num + 18, NULL) == s->ratio) {
                break;
            }
        }
        return put(buf, cap, at, num);
    default:
        at = put(buf, cap, at, "ParentBased{");
        for (i = 0; i < 5; i++) {
            at = put(buf, cap, at, names[i]);
            at = describe(s->d[i], buf, cap, at);
        }
        return put(buf, cap, at, "}");
    }
}

OTEL_API size_t otel_sampler_describe(const otel_sampler *s, char *buf,
                                      size_t cap)
{
    size_t n;

    if (!s) {
        return 0;
    }
    n = describe(s, buf, cap, 0);
    if (cap) {
        buf[n < cap ? n : cap - 1] = '\0';
    }
    return n;
}
