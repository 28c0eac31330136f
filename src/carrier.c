/*
 * Extraction from a request's header list, for hosts that can hand the
 * core the list they already hold (nginx: the one lua-nginx-module's FFI
 * request API fills, names in lower case) instead of building a table of
 * strings for every header of every request.
 *
 * One table, fields[], says which header names each propagator reads;
 * one pass over the headers picks the values of the configured
 * propagators' names, and the parsers of propagation.c do the rest.  The
 * rules are those of the binding's extract over a table carrier
 * (lua/otel/propagation.lua): the span propagators are tried in the
 * configured order and the first valid context wins; a header that must
 * appear once and is repeated is invalid (counted); repeated lines of a
 * list header (tracestate, baggage) are one list joined with ','.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
    F_TRACEPARENT, F_TRACESTATE, F_BAGGAGE, F_B3, F_B3_TRACEID,
    F_B3_SPANID, F_B3_SAMPLED, F_B3_FLAGS, F__COUNT
};

/* The header names, and the propagator that reads each. */
static const struct {
    const char *name;
    int         len;
    int         propagator;
} fields[F__COUNT] = {
    [F_TRACEPARENT] = { "traceparent", 11, OTEL_PROPAGATOR_TRACECONTEXT },
    [F_TRACESTATE]  = { "tracestate", 10, OTEL_PROPAGATOR_TRACECONTEXT },
    [F_BAGGAGE]     = { "baggage", 7, OTEL_PROPAGATOR_BAGGAGE },
    [F_B3]          = { "b3", 2, OTEL_PROPAGATOR_B3 },
    [F_B3_TRACEID]  = { "x-b3-traceid", 12, OTEL_PROPAGATOR_B3 },
    [F_B3_SPANID]   = { "x-b3-spanid", 11, OTEL_PROPAGATOR_B3 },
    [F_B3_SAMPLED]  = { "x-b3-sampled", 12, OTEL_PROPAGATOR_B3 },
    [F_B3_FLAGS]    = { "x-b3-flags", 10, OTEL_PROPAGATOR_B3 },
};

/* The headers found for each field: the first one and how many. */
typedef struct {
    const otel_header *hdrs;
    size_t             n;
    int                first[F__COUNT];
    int                count[F__COUNT];
} picked;

static void invalid(void)
{
    otel__stat_add(OTEL_STAT_PROPAGATION_INVALID, 1);
}

/* b3 and b3multi read the same headers (either form is accepted on
 * extract, as the binding does). */
static int reader_of(int propagator)
{
    return propagator == OTEL_PROPAGATOR_B3MULTI ? OTEL_PROPAGATOR_B3
                                                 : propagator;
}

static void pick(picked *pk, const otel_header *h, size_t n,
                 const uint8_t *props, size_t n_props)
{
    int want[F__COUNT], n_want = 0, f, j;
    size_t i, p;

    memset(pk, 0, sizeof(*pk));
    pk->hdrs = h;
    pk->n = n;
    for (f = 0; f < F__COUNT; f++) {
        for (p = 0; p < n_props; p++) {
            if (reader_of(props[p]) == fields[f].propagator) {
                want[n_want++] = f;
                break;
            }
        }
    }
    for (i = 0; i < n; i++) {
        for (j = 0; j < n_want; j++) {
            f = want[j];
            if (h[i].name_len == fields[f].len
                && memcmp(h[i].name, fields[f].name, (size_t)fields[f].len)
                   == 0) {
                if (pk->count[f]++ == 0) {
                    pk->first[f] = (int)i;
                }
                break;
            }
        }
    }
}

/* A header that must appear once: its value, or NULL (absent; repeated,
 * counted as invalid). */
static const char *single(const picked *pk, int f, size_t *len)
{
    const otel_header *h;

    if (pk->count[f] != 1) {
        if (pk->count[f] > 1) {
            invalid();
        }
        *len = 0;
        return NULL;
    }
    h = &pk->hdrs[pk->first[f]];
    *len = (size_t)h->value_len;
    return h->value ? h->value : "";
}

/* A list header: its lines joined with ',' (into *joined, malloc'd, when
 * there are several: rare), or NULL when absent. */
static const char *list(const picked *pk, int f, size_t *len, char **joined)
{
    const otel_header *h;
    size_t i, total = 0, o = 0;
    char *buf;

    *joined = NULL;
    if (pk->count[f] <= 1) {
        return single(pk, f, len);
    }
    for (i = (size_t)pk->first[f]; i < pk->n; i++) {
        h = &pk->hdrs[i];
        if (h->name_len == fields[f].len
            && memcmp(h->name, fields[f].name, (size_t)h->name_len) == 0) {
            total += (size_t)h->value_len + 1;
        }
    }
    buf = malloc(total);
    if (!buf) {
        return NULL;
    }
    for (i = (size_t)pk->first[f]; i < pk->n; i++) {
        h = &pk->hdrs[i];
        if (h->name_len == fields[f].len
            && memcmp(h->name, fields[f].name, (size_t)h->name_len) == 0) {
            if (o) {
                buf[o++] = ',';
            }
            if (h->value_len > 0) {
                memcpy(buf + o, h->value, (size_t)h->value_len);
                o += (size_t)h->value_len;
            }
        }
    }
    *joined = buf;
    *len = o;
    return buf;
}

/* A list header, cleaned by clean into buf (cap bytes): *out and *len
 * are left alone when the header is absent or nothing of it is kept. */
static void clean_list(const picked *pk, int f,
                       int (*clean)(const char *, size_t, char *, size_t),
                       char *buf, size_t cap, const char **out, size_t *len)
{
    const char *s;
    char *joined;
    size_t sl;
    int n;

    s = list(pk, f, &sl, &joined);
    if (s) {
        n = clean(s, sl, buf, cap);
        if (n > 0) {
            *out = buf;
            *len = (size_t)n;
        }
        free(joined);
    }
}

static bool tracecontext(const picked *pk, char *buf, otel_extracted *out)
{
    const char *s;
    size_t len;

    if (!pk->count[F_TRACEPARENT]) {
        return false;
    }
    s = single(pk, F_TRACEPARENT, &len);
    if (!s || otel_traceparent_parse(s, len, &out->parent) != OTEL_OK) {
        return false;
    }
    clean_list(pk, F_TRACESTATE, otel_tracestate_clean, buf,
               OTEL_TRACESTATE_MAX_LEN, &out->trace_state,
               &out->trace_state_len);
    return true;
}

static bool b3(const picked *pk, otel_extracted *out)
{
    static const int multi[4] = { F_B3_TRACEID, F_B3_SPANID, F_B3_SAMPLED,
                                  F_B3_FLAGS };
    const char *vals[4];
    size_t lens[4], len;
    const char *s;
    int debug = 0, i;

    if (pk->count[F_B3]) {
        s = single(pk, F_B3, &len);
        if (s && otel_b3_parse(s, len, &out->parent, &debug) == OTEL_OK) {
            out->b3_debug = debug;
            return true;
        }
        /* no context in the single header: the multi headers may have
         * one */
    }
    if (!pk->count[F_B3_TRACEID] && !pk->count[F_B3_SPANID]) {
        return false;
    }
    for (i = 0; i < 4; i++) {
        vals[i] = single(pk, multi[i], &lens[i]);
    }
    if (otel_b3_parse_multi(vals, lens, &out->parent, &debug) == OTEL_OK) {
        out->b3_debug = debug;
        return true;
    }
    return false;
}

/* The formats of other tracers (propagators.c), whose header names the
 * core lists there (otel_prop_field): each header found once, a repeated
 * one invalid (counted) and taken as absent, as for a table carrier.  The
 * trace state they imply (Datadog's origin) goes into ts. */
static bool vendor(const otel_header *h, size_t n, int format, char *ts,
                   otel_extracted *out)
{
    const char *vals[OTEL_PROP_MAX_FIELDS], *name;
    size_t lens[OTEL_PROP_MAX_FIELDS], nl, i, tsl = 0;
    int k, seen, debug = 0;

    for (k = 0; k < OTEL_PROP_MAX_FIELDS; k++) {
        vals[k] = NULL;
        lens[k] = 0;
        if (!(name = otel_prop_field(format, k))) {
            continue;
        }
        nl = strlen(name);
        for (seen = 0, i = 0; i < n; i++) {
            if ((size_t)h[i].name_len == nl
                && memcmp(h[i].name, name, nl) == 0 && seen++ == 0) {
                vals[k] = h[i].value ? h[i].value : "";
                lens[k] = h[i].value_len > 0 ? (size_t)h[i].value_len : 0;
            }
        }
        if (seen > 1) {
            invalid();
            vals[k] = NULL;
            lens[k] = 0;
        }
    }
    if (otel_prop_extract(format, vals, lens, &out->parent, &debug, ts,
                          &tsl) != OTEL_OK) {
        return false;
    }
    out->b3_debug = debug;              /* Jaeger's debug flag */
    if (tsl) {
        out->trace_state = ts;
        out->trace_state_len = tsl;
    }
    return true;
}

/* Jaeger's uberctx-* and OT's ot-baggage-* headers of the configured
 * formats, as W3C baggage into buf (OTEL_BAGGAGE_MAX_BYTES); returns its
 * length. */
static size_t vendor_baggage(const otel_header *h, size_t n,
                             const uint8_t *props, size_t n_props, char *buf)
{
    otel_baggage_writer w = { buf, OTEL_BAGGAGE_MAX_BYTES, 0, 0, 0 };
    size_t i, p;

    for (p = 0; p < n_props; p++) {
        if (!otel_prop_baggage_prefix(props[p])) {
            continue;
        }
        for (i = 0; i < n; i++) {
            if (h[i].name_len > 0 && h[i].value_len >= 0) {
                otel_prop_baggage_put(props[p], &w, h[i].name,
                                      (size_t)h[i].name_len,
                                      h[i].value ? h[i].value : "",
                                      (size_t)h[i].value_len);
            }
        }
    }
    return w.len;
}

OTEL_API int otel_extract_headers(const otel_header *h, size_t n,
                                  const uint8_t *props, size_t n_props,
                                  char *buf, size_t cap, otel_extracted *out)
{
    bool b3_tried = false;
    picked pk;
    size_t p, bl, room;
    char *bag = buf + OTEL_TRACESTATE_MAX_LEN;

    if (!out) {
        return OTEL_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if ((!h && n) || (!props && n_props) || !buf
        || cap < OTEL_EXTRACT_BUF) {
        return OTEL_EINVAL;
    }
    pick(&pk, h, n, props, n_props);
    for (p = 0; p < n_props && !out->found; p++) {
        switch (props[p]) {
        case OTEL_PROPAGATOR_TRACECONTEXT:
            out->found = tracecontext(&pk, buf, out);
            break;
        case OTEL_PROPAGATOR_B3:
        case OTEL_PROPAGATOR_B3MULTI:
            if (!b3_tried) {
                b3_tried = true;
                out->found = b3(&pk, out);
            }
            break;
        default:
            out->found = vendor(h, n, props[p], buf, out);
            break;
        }
    }
    if (!out->found) {
        memset(&out->parent, 0, sizeof(out->parent));
        out->trace_state = NULL;
        out->trace_state_len = 0;
        out->b3_debug = 0;
    }
    /* the other formats' baggage headers first, the baggage header after
     * them: on a key both have, the later entry (W3C's) wins */
    bl = vendor_baggage(h, n, props, n_props, bag);
    if (bl) {
        out->baggage = bag;
        out->baggage_len = bl;
    }
    for (p = 0; p < n_props; p++) {
        if (props[p] == OTEL_PROPAGATOR_BAGGAGE) {
            room = bl + 1 < OTEL_BAGGAGE_MAX_BYTES
                   ? OTEL_BAGGAGE_MAX_BYTES - bl - (bl ? 1 : 0) : 0;
            clean_list(&pk, F_BAGGAGE, otel_baggage_clean,
                       bag + bl + (bl ? 1 : 0), room, &out->baggage,
                       &out->baggage_len);
            if (bl && out->baggage != bag) {
                bag[bl] = ',';
                out->baggage = bag;
                out->baggage_len += bl + 1;
            }
            break;
        }
    }
    return out->found || out->baggage_len;
}
