/*
 * The propagation formats of other tracers, for gateways between services
 * that speak them: Jaeger, OT Trace, AWS X-Ray, Google Cloud Trace and
 * Datadog.  One entry point per direction over an array of header values,
 * in the order otel_prop_field() names the headers, so that the binding
 * handles every format with the same code and reads only these headers.
 *
 * Pure functions over caller memory, like propagation.c: nothing is
 * allocated or kept.  A malformed header is ignored and counted in
 * propagation_invalid (one per context header; one per baggage header).
 */
#include <string.h>

#include "internal.h"

static void invalid(void)
{
    otel__stat_add(OTEL_STAT_PROPAGATION_INVALID, 1);
}

/* ---- the header names ------------------------------------------------------
 * A format "is there" when one of its id headers (the first `ids`) is. */
typedef struct {
    const char *fields[OTEL_PROP_MAX_FIELDS + 1];
    const char *prefix;         /* baggage headers, or NULL */
    int         ids;            /* fields [0, ids) are id headers */
} prop_format;

static const prop_format formats[] = {
    [OTEL_PROPAGATOR_JAEGER] = { { "uber-trace-id", NULL }, "uberctx-", 1 },
    [OTEL_PROPAGATOR_OTTRACE] = {
        { "ot-tracer-traceid", "ot-tracer-spanid", "ot-tracer-sampled",
          NULL }, "ot-baggage-", 2 },
    [OTEL_PROPAGATOR_XRAY] = { { "x-amzn-trace-id", NULL }, NULL, 1 },
    [OTEL_PROPAGATOR_GCP] = { { "x-cloud-trace-context", NULL }, NULL, 1 },
    [OTEL_PROPAGATOR_DATADOG] = {
        { "x-datadog-trace-id", "x-datadog-parent-id",
          "x-datadog-sampling-priority", "x-datadog-origin",
          "x-datadog-tags", NULL }, NULL, 2 },
};

static const prop_format *format_of(int format)
{
    if (format < OTEL_PROPAGATOR_JAEGER || format > OTEL_PROPAGATOR_DATADOG) {
        return NULL;
    }
    return &formats[format];
}

OTEL_API const char *otel_prop_field(int format, int i)
{
    const prop_format *f = format_of(format);

    if (!f || i < 0 || i >= OTEL_PROP_MAX_FIELDS) {
        return NULL;
    }
    return f->fields[i];
}

OTEL_API const char *otel_prop_baggage_prefix(int format)
{
    const prop_format *f = format_of(format);

    return f ? f->prefix : NULL;
}

/* ---- pieces */

static inline bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void trim_ows(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ows((*s)[*n - 1])) {
        (*n)--;
    }
}

/* A hex digit of either case, or -1. */
static int hexd(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 1..2n hex digits (lower case only unless any_case) as an n-byte
 * big-endian number, left-padded with zeros. */
static bool hex_padded(const char *s, size_t len, uint8_t *out, size_t n,
                       bool any_case)
{
    size_t i, pos;
    int d;

    if (len == 0 || len > 2 * n) {
        return false;
    }
    memset(out, 0, n);
    for (i = 0; i < len; i++) {
        d = hexd(s[i]);
        if (d < 0 || (!any_case && s[i] >= 'A' && s[i] <= 'F')) {
            return false;
        }
        pos = 2 * n - len + i;          /* digit position in the output */
        out[pos / 2] |= (uint8_t)(pos % 2 ? d : d << 4);
    }
    return true;
}

static bool is_lit(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* An unsigned decimal of 1-20 digits that fits in 64 bits. */
static bool dec_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    unsigned d;

    if (n == 0 || n > 20) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void put_u64(uint8_t *out, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *in)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = v << 8 | in[i];
    }
    return v;
}

/* Writes v in decimal; returns the number of digits. */
static size_t fmt_u64(uint64_t v, char *out)
{
    char tmp[20];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    return n;
}

static bool ctx_valid(const otel_span_handle *h)
{
    return otel__id_valid(h->trace_id, 16) && otel__id_valid(h->span_id, 8);
}

/* ---- Jaeger ----------------------------------------------------------------
 * uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}, each 1-32,
 * 1-16, 1-16 and 1-2 hex digits of either case (Jaeger's clients drop
 * leading zeros), ':' possibly percent-encoded as %3A.  Flags bit 0 is
 * sampled, bit 1 debug (which implies sampled).  The parent id is
 * deprecated and ignored.
 */
#define JAEGER_MAX 96       /* 32 + 16 + 16 + 2 digits, 3 "%3A" */

static int jaeger_parse(const char *s, size_t n, otel_span_handle *out,
                        int *debug)
{
    char buf[JAEGER_MAX];
    const char *part[4];
    size_t plen[4], np = 0, i, o = 0, start = 0;
    uint8_t parent[8], flags[1];

    for (i = 0; i < n; i++) {           /* decode %3A into buf */
        if (o == sizeof(buf)) {
            return OTEL_EINVAL;
        }
        if (s[i] == '%' && i + 2 < n && s[i + 1] == '3'
            && (s[i + 2] | 0x20) == 'a') {
            buf[o++] = ':';
            i += 2;
        } else {
            buf[o++] = s[i];
        }
    }
    for (i = 0; i <= o; i++) {
        if (i == o || buf[i] == ':') {
            if (np == 4) {
                return OTEL_EINVAL;
            }
            part[np] = buf + start;
            plen[np++] = i - start;
            start = i + 1;
        }
    }
    if (np != 4
        || !hex_padded(part[0], plen[0], out->trace_id, 16, true)
        || !hex_padded(part[1], plen[1], out->span_id, 8, true)
        || !hex_padded(part[2], plen[2], parent, 8, true)
        || !hex_padded(part[3], plen[3], flags, 1, true)) {
        return OTEL_EINVAL;
    }
    *debug = (flags[0] & 2) != 0;
    out->trace_flags = (flags[0] & 3) != 0;
    return OTEL_OK;
}

static int jaeger_format(const otel_span_handle *h, int debug, char *buf,
                         size_t *lens)
{
    otel_hex_encode(h->trace_id, 16, buf);
    buf[32] = ':';
    otel_hex_encode(h->span_id, 8, buf + 33);
    memcpy(buf + 49, ":0:0", 4);
    buf[53] = debug ? '3' : (h->trace_flags & 1) ? '1' : '0';
    lens[0] = 54;
    return 54;
}

/* ---- OT Trace --------------------------------------------------------------
 * ot-tracer-traceid: 16 or 32 lower-case hex digits (16 left-padded),
 * ot-tracer-spanid: 16, ot-tracer-sampled: true, false, 1 or 0 (absent:
 * not sampled).  Sent with the trace id's lower 64 bits, as the OT
 * tracers that read only 64 take them, and "true" / "false".
 */
static int ot_parse(const char *const *v, const size_t *n,
                    otel_span_handle *out)
{
    if (!v[0] || !v[1] || (n[0] != 16 && n[0] != 32) || n[1] != 16
        || !hex_padded(v[0], n[0], out->trace_id, 16, false)
        || !hex_padded(v[1], n[1], out->span_id, 8, false)) {
        return OTEL_EINVAL;
    }
    if (v[2]) {
        if (is_lit(v[2], n[2], "true") || is_lit(v[2], n[2], "1")) {
            out->trace_flags = 1;
        } else if (!is_lit(v[2], n[2], "false") && !is_lit(v[2], n[2], "0")) {
            return OTEL_EINVAL;
        }
    }
    return OTEL_OK;
}

static int ot_format(const otel_span_handle *h, char *buf, size_t *lens)
{
    bool s = h->trace_flags & 1;

    otel_hex_encode(h->trace_id + 8, 8, buf);
    otel_hex_encode(h->span_id, 8, buf + 16);
    memcpy(buf + 32, s ? "true" : "false", s ? 4 : 5);
    lens[0] = 16;
    lens[1] = 16;
    lens[2] = s ? 4 : 5;
    return (int)(32 + lens[2]);
}

/* ---- AWS X-Ray --------------------------------------------------------------
 * X-Amzn-Trace-Id: Root=1-{8 hex}-{24 hex};Parent={16 hex};Sampled={0|1|?}
 * in any order, parts separated by ';' with optional OWS, other keys
 * (Lineage, Self, ...) ignored, empty parts allowed.  Root and Parent are
 * required, no known key twice; Sampled absent or ? (the decision left to
 * the receiver) is not sampled.  The trace id is the 32 digits of Root.
 */
static int xray_parse(const char *s, size_t n, otel_span_handle *out)
{
    size_t i = 0, e, eq;
    const char *p, *v;
    size_t pl, vl;
    int seen = 0;

    while (i <= n) {
        for (e = i; e < n && s[e] != ';'; e++) {
        }
        p = s + i;
        pl = e - i;
        i = e + 1;
        trim_ows(&p, &pl);
        if (pl == 0) {
            continue;
        }
        for (eq = 0; eq < pl && p[eq] != '='; eq++) {
        }
        if (eq == pl) {
            return OTEL_EINVAL;
        }
        v = p + eq + 1;
        vl = pl - eq - 1;
        pl = eq;
        trim_ows(&p, &pl);
        trim_ows(&v, &vl);
        if (is_lit(p, pl, "Root")) {
            if (seen & 1 || vl != 35 || v[0] != '1' || v[1] != '-'
                || v[10] != '-'
                || !hex_padded(v + 2, 8, out->trace_id, 4, false)
                || !hex_padded(v + 11, 24, out->trace_id + 4, 12, false)) {
                return OTEL_EINVAL;
            }
            seen |= 1;
        } else if (is_lit(p, pl, "Parent")) {
            if (seen & 2 || vl != 16
                || !hex_padded(v, 16, out->span_id, 8, false)) {
                return OTEL_EINVAL;
            }
            seen |= 2;
        } else if (is_lit(p, pl, "Sampled")) {
            if (seen & 4 || vl != 1 || (v[0] != '0' && v[0] != '1'
                                        && v[0] != '?')) {
                return OTEL_EINVAL;
            }
            out->trace_flags = v[0] == '1';
            seen |= 4;
        }
    }
    return (seen & 3) == 3 ? OTEL_OK : OTEL_EINVAL;
}

#define XRAY_LEN 74

static int xray_format(const otel_span_handle *h, char *buf, size_t *lens)
{
    memcpy(buf, "Root=1-", 7);
    otel_hex_encode(h->trace_id, 4, buf + 7);
    buf[15] = '-';
    otel_hex_encode(h->trace_id + 4, 12, buf + 16);
    memcpy(buf + 40, ";Parent=", 8);
    otel_hex_encode(h->span_id, 8, buf + 48);
    memcpy(buf + 64, ";Sampled=", 9);
    buf[73] = (h->trace_flags & 1) ? '1' : '0';
    lens[0] = XRAY_LEN;
    return XRAY_LEN;
}

/* ---- Google Cloud Trace ----------------------------------------------------
 * x-cloud-trace-context: {32 lower-case hex}/{span id in decimal}[;o={d}]
 * with one digit of options, bit 0 the TRACE_TRUE flag (sampled).
 */
static int gcp_parse(const char *s, size_t n, otel_span_handle *out)
{
    size_t i;
    uint64_t sid;

    if (n < 34 || s[32] != '/'
        || !hex_padded(s, 32, out->trace_id, 16, false)) {
        return OTEL_EINVAL;
    }
    for (i = 33; i < n && s[i] != ';'; i++) {
    }
    if (!dec_u64(s + 33, i - 33, &sid)) {
        return OTEL_EINVAL;
    }
    put_u64(out->span_id, sid);
    if (i < n) {
        if (n - i != 4 || s[i + 1] != 'o' || s[i + 2] != '='
            || s[i + 3] < '0' || s[i + 3] > '9') {
            return OTEL_EINVAL;
        }
        out->trace_flags = (s[i + 3] - '0') & 1;
    }
    return OTEL_OK;
}

static int gcp_format(const otel_span_handle *h, char *buf, size_t *lens)
{
    size_t n;

    otel_hex_encode(h->trace_id, 16, buf);
    buf[32] = '/';
    n = 33 + fmt_u64(get_u64(h->span_id), buf + 33);
    memcpy(buf + n, ";o=", 3);
    buf[n + 3] = (h->trace_flags & 1) ? '1' : '0';
    lens[0] = n + 4;
    return (int)lens[0];
}

/* ---- Datadog ----------------------------------------------------------------
 * x-datadog-trace-id and x-datadog-parent-id: unsigned 64-bit decimals,
 * the trace id's lower 64 bits and the span id.  The upper 64 bits come
 * from the _dd.p.tid member of x-datadog-tags (16 lower-case hex digits;
 * a malformed one is ignored and counted, the trace id staying 64-bit,
 * as Datadog's tracers do).  x-datadog-sampling-priority: an integer,
 * sampled when > 0 (absent: not sampled).  x-datadog-origin is carried
 * as Datadog's tracers carry it in W3C tracestate: the member
 * dd=o:{origin}, its ',', ';', '=', '~' and characters outside 0x21-0x7e
 * replaced with '_', and sent back from there.
 */
#define DD_ORIGIN_MAX 200

static bool dd_tid(const char *s, size_t n, uint8_t upper[8])
{
    size_t i = 0, e, kl;
    const char *m;

    while (i < n) {
        for (e = i; e < n && s[e] != ','; e++) {
        }
        m = s + i;
        kl = e - i;
        trim_ows(&m, &kl);
        if (kl > 10 && memcmp(m, "_dd.p.tid=", 10) == 0) {
            if (kl != 26 || !hex_padded(m + 10, 16, upper, 8, false)) {
                invalid();
                memset(upper, 0, 8);
            }
            return true;
        }
        i = e + 1;
    }
    return false;
}

static int dd_parse(const char *const *v, const size_t *n,
                    otel_span_handle *out, char *ts, size_t *tsl)
{
    uint64_t tid, sid, prio;
    const char *p;
    size_t pl, i;
    int neg;

    if (!v[0] || !v[1] || !dec_u64(v[0], n[0], &tid)
        || !dec_u64(v[1], n[1], &sid) || tid == 0 || sid == 0) {
        return OTEL_EINVAL;
    }
    put_u64(out->trace_id + 8, tid);
    put_u64(out->span_id, sid);
    if (v[2]) {
        p = v[2];
        pl = n[2];
        neg = pl && p[0] == '-';
        if (!dec_u64(p + neg, pl - neg, &prio)) {
            return OTEL_EINVAL;
        }
        out->trace_flags = !neg && prio > 0;
    }
    if (v[4]) {
        dd_tid(v[4], n[4], out->trace_id);
    }
    if (v[3] && ts) {
        p = v[3];
        pl = n[3];
        if (pl > DD_ORIGIN_MAX) {
            invalid();
        } else if (pl) {
            memcpy(ts, "dd=o:", 5);
            for (i = 0; i < pl; i++) {
                ts[5 + i] = (p[i] < 0x21 || p[i] > 0x7e || p[i] == ','
                             || p[i] == ';' || p[i] == '=' || p[i] == '~')
                            ? '_' : p[i];
            }
            *tsl = 5 + pl;
        }
    }
    return OTEL_OK;
}

/* The o: value of the dd member of a tracestate list, or NULL. */
static const char *dd_origin(const char *ts, size_t n, size_t *len)
{
    size_t i = 0, e, j, k;
    const char *m;

    while (i < n) {
        for (e = i; e < n && ts[e] != ','; e++) {
        }
        m = ts + i;
        j = e - i;
        trim_ows(&m, &j);
        if (j > 3 && memcmp(m, "dd=", 3) == 0) {
            for (k = 3; k < j;) {           /* sub-members key:value;... */
                size_t s = k;

                while (k < j && m[k] != ';') {
                    k++;
                }
                if (k - s > 2 && m[s] == 'o' && m[s + 1] == ':') {
                    *len = k - s - 2;
                    return m + s + 2;
                }
                k++;
            }
            return NULL;
        }
        i = e + 1;
    }
    return NULL;
}

static int dd_format(const otel_span_handle *h, const char *ts, size_t tsl,
                     char *buf, size_t cap, size_t *lens)
{
    const char *origin = NULL;
    size_t n, ol = 0;

    n = lens[0] = fmt_u64(get_u64(h->trace_id + 8), buf);
    lens[1] = fmt_u64(get_u64(h->span_id), buf + n);
    n += lens[1];
    buf[n++] = (h->trace_flags & 1) ? '1' : '0';
    lens[2] = 1;
    if (ts && tsl) {
        origin = dd_origin(ts, tsl, &ol);
    }
    lens[3] = 0;
    if (origin && ol <= cap - n - 26) {
        memcpy(buf + n, origin, ol);
        n += lens[3] = ol;
    }
    lens[4] = 0;
    if (otel__id_valid(h->trace_id, 8)) {
        memcpy(buf + n, "_dd.p.tid=", 10);
        otel_hex_encode(h->trace_id, 8, buf + n + 10);
        n += lens[4] = 26;
    }
    return (int)n;
}

/* ---- the entry points */

OTEL_API int otel_prop_extract(int format, const char *const *vals,
                               const size_t *lens, otel_span_handle *out,
                               int *debug, char *ts, size_t *tslen)
{
    const prop_format *f = format_of(format);
    const char *v[OTEL_PROP_MAX_FIELDS];
    size_t n[OTEL_PROP_MAX_FIELDS], tsl = 0;
    int i, rc, dbg = 0, any = 0;

    if (!out || !vals || !lens || !f) {
        return OTEL_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    for (i = 0; i < OTEL_PROP_MAX_FIELDS; i++) {
        v[i] = f->fields[i] ? vals[i] : NULL;
        n[i] = v[i] ? lens[i] : 0;
        if (v[i]) {
            trim_ows(&v[i], &n[i]);
        }
        if (v[i] && i < f->ids) {
            any = 1;
        }
    }
    if (debug) {
        *debug = 0;
    }
    if (tslen) {
        *tslen = 0;
    }
    if (!any) {
        return 1;
    }
    switch (format) {
    case OTEL_PROPAGATOR_JAEGER:
        rc = jaeger_parse(v[0], n[0], out, &dbg);
        break;
    case OTEL_PROPAGATOR_OTTRACE:
        rc = ot_parse(v, n, out);
        break;
    case OTEL_PROPAGATOR_XRAY:
        rc = xray_parse(v[0], n[0], out);
        break;
    case OTEL_PROPAGATOR_GCP:
        rc = gcp_parse(v[0], n[0], out);
        break;
    default:
        rc = dd_parse(v, n, out, ts, &tsl);
        break;
    }
    if (rc != OTEL_OK || !ctx_valid(out)) {
        memset(out, 0, sizeof(*out));
        invalid();
        return OTEL_EINVAL;
    }
    out->remote = 1;
    if (debug) {
        *debug = dbg;
    }
    if (tslen) {
        *tslen = tsl;
    }
    return OTEL_OK;
}

OTEL_API int otel_prop_inject(int format, const otel_span_handle *h,
                              int debug, const char *ts, size_t tsl,
                              char *buf, size_t cap, size_t *lens)
{
    int i;

    if (!h || !buf || !lens || !format_of(format) || !ctx_valid(h)
        || cap < OTEL_PROP_BUF) {
        return OTEL_EINVAL;
    }
    for (i = 0; i < OTEL_PROP_MAX_FIELDS; i++) {
        lens[i] = 0;
    }
    if ((format == OTEL_PROPAGATOR_OTTRACE || format == OTEL_PROPAGATOR_DATADOG)
        && !otel__id_valid(h->trace_id + 8, 8)) {
        return OTEL_EINVAL;     /* their lower 64 bits would be invalid */
    }
    switch (format) {
    case OTEL_PROPAGATOR_JAEGER:
        return jaeger_format(h, debug, buf, lens);
    case OTEL_PROPAGATOR_OTTRACE:
        return ot_format(h, buf, lens);
    case OTEL_PROPAGATOR_XRAY:
        return xray_format(h, buf, lens);
    case OTEL_PROPAGATOR_GCP:
        return gcp_format(h, buf, lens);
    default:
        return dd_format(h, ts, tsl, buf, cap, lens);
    }
}

/* ---- baggage headers -------------------------------------------------------
 * uberctx-{key}: {value} (Jaeger, the value percent-encoded) and
 * ot-baggage-{key}: {value} (OT, the value as it is).  The prefix is
 * matched in any case; keys are HTTP tokens.
 */
static bool has_prefix(const char *s, size_t n, const char *prefix,
                       size_t pl)
{
    size_t i;

    if (n <= pl) {
        return false;
    }
    for (i = 0; i < pl; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];

        if (c != prefix[i]) {
            return false;
        }
    }
    return true;
}

OTEL_API int otel_prop_baggage_put(int format, otel_baggage_writer *w,
                                   const char *name, size_t nl,
                                   const char *value, size_t vl)
{
    const prop_format *f = format_of(format);
    char dec[OTEL_BAGGAGE_MAX_BYTES];
    size_t pl;

    if (!f || !f->prefix || !w || !name || (!value && vl)) {
        return OTEL_EINVAL;
    }
    pl = strlen(f->prefix);
    if (!has_prefix(name, nl, f->prefix, pl)) {
        return 1;
    }
    trim_ows(&value, &vl);
    if (format == OTEL_PROPAGATOR_JAEGER) {
        if (vl > sizeof(dec)) {
            w->dropped++;
            invalid();
            return OTEL_ELIMIT;
        }
        vl = otel__pct_decode(value, vl, dec);
        value = dec;
    }
    return otel_baggage_put(w, name + pl, nl - pl, value, vl, NULL, 0);
}

/* A header value may not hold control characters (CR, LF, NUL, ...). */
static bool header_safe(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

OTEL_API int otel_prop_baggage_format(int format, const char *k, size_t kl,
                                      const char *v, size_t vl, char *buf,
                                      size_t cap, size_t *lens)
{
    static const char digits[] = "0123456789ABCDEF";
    const prop_format *f = format_of(format);
    size_t pl, i, o;
    unsigned char c;

    if (!f || !f->prefix || !k || (!v && vl) || !buf || !lens) {
        return OTEL_EINVAL;
    }
    pl = strlen(f->prefix);
    lens[0] = lens[1] = 0;
    for (i = 0; i < kl; i++) {
        c = (unsigned char)k[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c)) {
            break;
        }
    }
    if (kl == 0 || i < kl || pl + kl > cap
        || (format != OTEL_PROPAGATOR_JAEGER && !header_safe(v, vl))) {
        invalid();
        return OTEL_EINVAL;
    }
    memcpy(buf, f->prefix, pl);
    memcpy(buf + pl, k, kl);
    o = pl + kl;
    for (i = 0; i < vl; i++) {
        c = (unsigned char)v[i];
        if (format != OTEL_PROPAGATOR_JAEGER || (c >= 0x30 && c <= 0x39)
            || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-'
            || c == '.' || c == '_' || c == '~') {
            if (o + 1 > cap) {
                goto full;
            }
            buf[o++] = (char)c;
        } else {
            if (o + 3 > cap) {
                goto full;
            }
            buf[o++] = '%';
            buf[o++] = digits[c >> 4];
            buf[o++] = digits[c & 15];
        }
    }
    lens[0] = pl + kl;
    lens[1] = o - lens[0];
    return (int)o;

full:
    invalid();
    return OTEL_ELIMIT;
}
