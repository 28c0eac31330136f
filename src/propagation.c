/*
 * Propagation formats: W3C Trace Context (traceparent, tracestate), W3C
 * Baggage and B3 (single and multi header).
 *
 * Pure functions over caller memory: the binding parses the headers of
 * each request with no allocation and no callback, and builds outgoing
 * headers in a buffer it owns.  Every malformed input is ignored and
 * counted in propagation_invalid: a traceparent or b3 header counts one,
 * a tracestate or baggage list counts one per member it drops.
 */
#include <string.h>

#include "internal.h"

static void invalid(uint64_t n)
{
    otel__stat_add(OTEL_STAT_PROPAGATION_INVALID, n);
}

static inline bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* memchr for the short strings of headers, without a library call. */
static inline const char *find(const char *s, int c, size_t n)
{
    const char *end = s + n;

    for (; s < end; s++) {
        if (*s == c) {
            return s;
        }
    }
    return NULL;
}

static inline void trim(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;

    while (n && is_ows(p[0])) {
        p++;
        n--;
    }
    while (n && is_ows(p[n - 1])) {
        n--;
    }
    *s = p;
    *len = n;
}

/* Character classes: one table lookup per character. */
#define CL_TSKEY  0x01  /* tracestate key character (after the first) */
#define CL_TSVAL  0x02  /* tracestate value character, space included */
#define CL_TOKEN  0x04  /* RFC 7230 tchar: baggage keys */
#define CL_OCTET  0x08  /* baggage-octet: baggage values */
#define CL_UNRES  0x10  /* RFC 3986 unreserved: not percent-encoded */

#define IN(c, a, b) ((c) >= (a) && (c) <= (b))
#define DIGIT(c)    IN(c, '0', '9')
#define ALNUM(c)    (DIGIT(c) || IN(c, 'a', 'z') || IN(c, 'A', 'Z'))
#define CLASS(c) (                                                        \
    ((DIGIT(c) || IN(c, 'a', 'z') || (c) == '_' || (c) == '-'             \
      || (c) == '*' || (c) == '/') ? CL_TSKEY : 0)                        \
    | ((IN(c, 0x20, 0x7e) && (c) != ',' && (c) != '=') ? CL_TSVAL : 0)    \
    | ((ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%'  \
        || (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+'          \
        || (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_'           \
        || (c) == '`' || (c) == '|' || (c) == '~') ? CL_TOKEN : 0)        \
    | (((c) == 0x21 || IN(c, 0x23, 0x2b) || IN(c, 0x2d, 0x3a)             \
        || IN(c, 0x3c, 0x5b) || IN(c, 0x5d, 0x7e)) ? CL_OCTET : 0)        \
    | ((ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~') \
       ? CL_UNRES : 0))
/* Hex digits: 0-15 for lower case, 16 + value for upper case, else -1. */
#define HEXV(c) (DIGIT(c) ? (c) - '0' : IN(c, 'a', 'f') ? (c) - 'a' + 10  \
                 : IN(c, 'A', 'F') ? (c) - 'A' + 26 : -1)

#define CL4(n)  CLASS(n), CLASS((n) + 1), CLASS((n) + 2), CLASS((n) + 3)
#define CL16(n) CL4(n), CL4((n) + 4), CL4((n) + 8), CL4((n) + 12)
#define CL64(n) CL16(n), CL16((n) + 16), CL16((n) + 32), CL16((n) + 48)
#define HX4(n)  HEXV(n), HEXV((n) + 1), HEXV((n) + 2), HEXV((n) + 3)
#define HX16(n) HX4(n), HX4((n) + 4), HX4((n) + 8), HX4((n) + 12)
#define HX64(n) HX16(n), HX16((n) + 16), HX16((n) + 32), HX16((n) + 48)

static const uint8_t cls[256] = { CL64(0), CL64(64), CL64(128), CL64(192) };
static const int8_t hexv[256] = { HX64(0), HX64(64), HX64(128), HX64(192) };

static inline bool is(char c, int mask)
{
    return cls[(unsigned char)c] & mask;
}

/* Two lower-case hex digits as a byte, or -1. */
static int hexbyte(const char *s)
{
    int hi = hexv[(unsigned char)s[0]], lo = hexv[(unsigned char)s[1]];

    return ((hi | lo) & ~15) ? -1 : (hi << 4 | lo);
}

/* Strict lower-case hex: 2n digits into n bytes. */
static bool hex_id(const char *s, uint8_t *out, size_t n)
{
    size_t i;
    int hi, lo;

    for (i = 0; i < n; i++) {
        hi = hexv[(unsigned char)s[2 * i]];
        lo = hexv[(unsigned char)s[2 * i + 1]];
        if ((hi | lo) & ~15) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool ids_valid(const otel_span_handle *h)
{
    return otel__id_valid(h->trace_id, 16) && otel__id_valid(h->span_id, 8);
}

/* ---- traceparent ----------------------------------------------------------
 * version "-" trace-id "-" parent-id "-" trace-flags, lower-case hex.
 * Version 00 is exactly 55 characters.  A higher version is parsed as far
 * as version 00 goes: at least 55 characters, and a '-' after the flags
 * when there is more.  Version ff is invalid.  Leading and trailing OWS
 * is allowed (the W3C test suite sends it).
 */
OTEL_API int otel_traceparent_parse(const char *s, size_t len,
                                    otel_span_handle *out)
{
    int version, flags;

    if (!out) {
        return OTEL_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (!s) {
        goto bad;
    }
    trim(&s, &len);
    if (len < OTEL_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-'
        || s[52] != '-') {
        goto bad;
    }
    version = hexbyte(s);
    if (version < 0 || version == 0xff) {
        goto bad;
    }
    if (len > OTEL_TRACEPARENT_LEN
        && (version == 0 || s[OTEL_TRACEPARENT_LEN] != '-')) {
        goto bad;
    }
    flags = hexbyte(s + 53);
    if (flags < 0
        || !hex_id(s + 3, out->trace_id, 16)
        || !hex_id(s + 36, out->span_id, 8)
        || !ids_valid(out)) {
        goto bad;
    }
    /* All eight bits are kept (Trace Context level 2: sampled, random,
     * and flags a later level may define travel on unchanged). */
    out->trace_flags = (uint8_t)flags;
    out->remote = 1;
    return OTEL_OK;

bad:
    memset(out, 0, sizeof(*out));
    invalid(1);
    return OTEL_EINVAL;
}

OTEL_API int otel_traceparent_format(const otel_span_handle *h, char *buf)
{
    if (!h || !buf || !ids_valid(h)) {
        return OTEL_EINVAL;
    }
    buf[0] = '0';
    buf[1] = '0';
    buf[2] = '-';
    otel_hex_encode(h->trace_id, 16, buf + 3);
    buf[35] = '-';
    otel_hex_encode(h->span_id, 8, buf + 36);
    buf[52] = '-';
    otel_hex_encode(&h->trace_flags, 1, buf + 53);
    return OTEL_TRACEPARENT_LEN;
}

/* ---- tracestate -----------------------------------------------------------
 * list        = list-member 0*31( OWS "," OWS list-member )
 * list-member = key "=" value / OWS
 * key         = simple-key / multi-tenant-key        (Trace Context 1)
 * simple-key  = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 * tenant-id   = ( lcalpha / DIGIT ) 0*240( same )
 * system-id   = lcalpha 0*13( same )
 * value       = 0*255( %x20 / nblk-chr ) nblk-chr
 * nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
 */
static inline bool lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

/* Scans one member at s[*ip] (not OWS, not ','): key and value.  Leaves
 * *ip at the ',' that ends it, or at len.  Returns the member's length
 * (value's trailing spaces excluded) and its key's in *kl, or 0 when it
 * is malformed. */
static size_t ts_member_scan(const char *s, size_t len, size_t *ip,
                             size_t *kl)
{
    size_t i = *ip, k = i, at = 0, v, vend;

    if (!lcalpha(s[i]) && !DIGIT(s[i])) {
        goto bad;
    }
    for (i++; i < len && is(s[i], CL_TSKEY); i++) {
    }
    if (i < len && s[i] == '@') {
        at = i;
        for (i++; i < len && is(s[i], CL_TSKEY); i++) {
        }
    }
    if (i >= len || s[i] != '=') {
        goto bad;
    }
    if (at) {
        /* tenant-id "@" system-id: 1-241 and 1-14 characters, the system
         * id starting with a letter */
        if (at - k > 241 || i - at - 1 == 0 || i - at - 1 > 14
            || !lcalpha(s[at + 1])) {
            goto bad;
        }
    } else if (!lcalpha(s[k]) || i - k > 256) {
        goto bad;
    }
    *kl = i - k;
    v = ++i;
    for (; i < len && is(s[i], CL_TSVAL); i++) {
    }
    for (vend = i; vend > v && s[vend - 1] == ' '; vend--) {
    }
    while (i < len && is_ows(s[i])) {
        i++;
    }
    if (vend == v || vend - v > 256 || (i < len && s[i] != ',')) {
        goto bad;
    }
    *ip = i;
    return vend - k;

bad:
    for (; i < len && s[i] != ','; i++) {
    }
    *ip = i;
    return 0;
}

typedef struct {
    const char *p;      /* "key=value" */
    size_t      len;
    size_t      klen;
    bool        keep;
} ts_member;

OTEL_API int otel_tracestate_clean(const char *s, size_t len, char *out,
                                   size_t cap)
{
    ts_member m[OTEL_TRACESTATE_MAX_MEMBERS];
    size_t n = 0, pos = 0, i, j, total, max, o, pl, kl = 0;
    uint64_t dropped = 0;
    const char *p;

    if (!s || (!out && cap)) {
        return 0;
    }
    max = cap < OTEL_TRACESTATE_MAX_LEN ? cap : OTEL_TRACESTATE_MAX_LEN;
    while (pos < len) {
        while (pos < len && is_ows(s[pos])) {
            pos++;
        }
        if (pos >= len || s[pos] == ',') {
            pos++;
            continue;               /* empty members are allowed */
        }
        p = s + pos;
        pl = ts_member_scan(s, len, &pos, &kl);
        pos++;
        if (pl == 0) {
            dropped++;
            continue;
        }
        for (i = 0; i < n; i++) {
            if (m[i].klen == kl && memcmp(m[i].p, p, kl) == 0) {
                break;
            }
        }
        if (i < n || n == OTEL_TRACESTATE_MAX_MEMBERS) {
            dropped++;              /* duplicate (first kept), or over 32 */
            continue;
        }
        m[n].p = p;
        m[n].len = pl;
        m[n].klen = kl;
        m[n].keep = true;
        n++;
    }
    total = n ? n - 1 : 0;
    for (i = 0; i < n; i++) {
        total += m[i].len;
    }
    /* Too long: whole entries go, those over 128 characters first, then
     * from the end (Trace Context, tracestate limits). */
    for (j = 0; j < 2 && total > max; j++) {
        for (i = n; i-- > 0 && total > max;) {
            if (m[i].keep && (j == 1 || m[i].len > 128)) {
                m[i].keep = false;
                total = total > m[i].len ? total - m[i].len - 1 : 0;
                dropped++;
            }
        }
    }
    o = 0;
    for (i = 0; i < n; i++) {
        if (m[i].keep) {
            if (o) {
                out[o++] = ',';
            }
            memcpy(out + o, m[i].p, m[i].len);
            o += m[i].len;
        }
    }
    if (dropped) {
        invalid(dropped);
    }
    return (int)o;
}

/* ---- baggage --------------------------------------------------------------
 * baggage-string = list-member 0*179( OWS "," OWS list-member )
 * list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
 * property       = key OWS "=" OWS value / key OWS
 * key            = token (RFC 7230)
 * value          = *baggage-octet, percent-encoded UTF-8
 */
static bool token_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!is(s[i], CL_TOKEN)) {
            return false;
        }
    }
    return true;
}

static inline size_t skip_ows(const char *s, size_t len, size_t i)
{
    while (i < len && is_ows(s[i])) {
        i++;
    }
    return i;
}

static inline size_t skip_class(const char *s, size_t len, size_t i,
                                int mask)
{
    while (i < len && is(s[i], mask)) {
        i++;
    }
    return i;
}

/* Scans property *( OWS ";" OWS property ) from s[*ip]: leaves *ip
 * where it stops and *mend at the end of the last property; false when a
 * property is malformed. */
static bool scan_props(const char *s, size_t len, size_t *ip, size_t *mend)
{
    size_t i = *ip, e, j;

    for (;;) {
        e = skip_class(s, len, i, CL_TOKEN);
        if (e == i) {
            *ip = i;
            return false;
        }
        i = skip_ows(s, len, e);
        if (i < len && s[i] == '=') {
            j = i + 1;
            i = skip_ows(s, len, j);
            e = skip_class(s, len, i, CL_OCTET);
            if (e == i) {
                e = j;      /* empty value: the OWS after '=' is not in it */
            }
            i = skip_ows(s, len, e);
        }
        if (i >= len || s[i] != ';') {
            break;
        }
        i = skip_ows(s, len, i + 1);
    }
    *ip = i;
    *mend = e;
    return true;
}

/* Metadata given to otel_baggage_put: a property list, trimmed. */
static bool props_ok(const char *s, size_t len)
{
    size_t i = 0, mend;

    return scan_props(s, len, &i, &mend) && i == len;
}

/* Percent-decodes into out (room for n bytes: decoding never grows).  A
 * '%' not followed by two hex digits stays as it is. */
size_t otel__pct_decode(const char *s, size_t n, char *out)
{
    size_t i, o = 0;
    int hi, lo;

    for (i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n) {
            hi = hexv[(unsigned char)s[i + 1]];
            lo = hexv[(unsigned char)s[i + 2]];
            if (hi >= 0 && lo >= 0) {
                out[o++] = (char)((hi & 15) << 4 | (lo & 15));
                i += 2;
                continue;
            }
        }
        out[o++] = s[i];
    }
    return o;
}

/* Scans one member at s[*ip] (not OWS, not ','): e gets the key, the raw
 * (still encoded) value and the properties, pointing into s.  Leaves *ip
 * at the ',' that ends the member, or at len. */
static bool baggage_scan(const char *s, size_t len, size_t *ip,
                         otel_baggage_entry *e)
{
    size_t i = *ip, j, ms, mend;

    j = skip_class(s, len, i, CL_TOKEN);
    if (j == i) {
        goto bad;
    }
    e->key = s + i;
    e->key_len = j - i;
    i = skip_ows(s, len, j);
    if (i >= len || s[i] != '=') {
        goto bad;
    }
    i = skip_ows(s, len, i + 1);
    j = skip_class(s, len, i, CL_OCTET);
    e->value = s + i;
    e->value_len = j - i;
    i = skip_ows(s, len, j);
    e->meta = NULL;
    e->meta_len = 0;
    if (i < len && s[i] == ';') {
        ms = i = skip_ows(s, len, i + 1);
        if (!scan_props(s, len, &i, &mend)) {
            goto bad;
        }
        e->meta = s + ms;                   /* kept verbatim */
        e->meta_len = mend - ms;
    }
    if (i < len && s[i] != ',') {
        goto bad;
    }
    *ip = i;
    return true;

bad:
    while (i < len && s[i] != ',') {
        i++;
    }
    *ip = i;
    return false;
}

/* Bytes of a member written as key=value[;meta]. */
static size_t member_bytes(const otel_baggage_entry *e)
{
    return e->key_len + 1 + e->value_len
           + (e->meta_len ? e->meta_len + 1 : 0);
}

/* The next well-formed member within the limits (and with a value of at
 * most vmax bytes), or false at the end. */
static bool next_member(const char *s, size_t len, otel_baggage_iter *it,
                        otel_baggage_entry *e, size_t vmax)
{
    size_t i, need;
    bool ok;

    while (it->pos < len) {
        i = skip_ows(s, len, it->pos);
        if (i >= len || s[i] == ',') {
            it->pos = i + 1;
            continue;
        }
        ok = baggage_scan(s, len, &i, e);
        it->pos = i + 1;
        if (!ok) {
            it->dropped++;
            invalid(1);
            continue;
        }
        need = member_bytes(e) + (it->count ? 1 : 0);
        if (e->value_len > vmax || it->count >= OTEL_BAGGAGE_MAX_MEMBERS
            || it->bytes + need > OTEL_BAGGAGE_MAX_BYTES) {
            it->dropped++;
            invalid(1);
            continue;
        }
        it->count++;
        it->bytes += need;
        return true;
    }
    return false;
}

/* Sequences that are not UTF-8 become U+FFFD (W3C Baggage).  Each bad
 * byte came from a 3-byte escape, so the result fits where the escapes
 * were.  Out of line: its buffer stays off the common path's frame. */
static __attribute__((noinline)) size_t repair_utf8(char *buf, size_t n,
                                                    size_t cap)
{
    char tmp[OTEL_BAGGAGE_MAX_BYTES];

    memcpy(tmp, buf, n);
    return otel_utf8_sanitize(tmp, n, -1, buf, cap, NULL);
}

OTEL_API int otel_baggage_next(const char *s, size_t len,
                               otel_baggage_iter *it, char *buf, size_t cap,
                               otel_baggage_entry *out)
{
    size_t dl;

    if (!s || !it || !out || (!buf && cap)) {
        return 0;
    }
    if (!next_member(s, len, it, out, cap)) {
        return 0;
    }
    dl = otel__pct_decode(out->value, out->value_len, buf);
    if (!otel__utf8_ok(buf, dl, -1)) {
        dl = repair_utf8(buf, dl, cap);
    }
    out->value = buf;
    out->value_len = dl;
    return 1;
}

OTEL_API int otel_baggage_clean(const char *s, size_t len, char *out,
                                size_t cap)
{
    otel_baggage_iter it;
    otel_baggage_entry e;
    size_t o = 0, n;

    if (!s || (!out && cap)) {
        return 0;
    }
    memset(&it, 0, sizeof(it));
    while (next_member(s, len, &it, &e, (size_t)-1)) {
        n = member_bytes(&e) + (o ? 1 : 0);
        if (o + n > cap) {
            it.dropped++;
            invalid(1);
            continue;
        }
        if (o) {
            out[o++] = ',';
        }
        memcpy(out + o, e.key, e.key_len);
        o += e.key_len;
        out[o++] = '=';
        memcpy(out + o, e.value, e.value_len);
        o += e.value_len;
        if (e.meta_len) {
            out[o++] = ';';
            memcpy(out + o, e.meta, e.meta_len);
            o += e.meta_len;
        }
    }
    return (int)o;
}

/* Values are encoded but for RFC 3986 unreserved characters: safe for
 * every decoder, including those that read '+' as a space. */
OTEL_API int otel_baggage_put(otel_baggage_writer *w, const char *k,
                              size_t kl, const char *v, size_t vl,
                              const char *meta, size_t ml)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t limit, need, i;
    unsigned char c;
    char *o;

    if (!w || !w->buf || (!v && vl) || (!meta && ml)) {
        return OTEL_EINVAL;
    }
    if (!k || !token_ok(k, kl)) {
        goto drop;
    }
    if (ml) {
        trim(&meta, &ml);
        if (ml && !props_ok(meta, ml)) {
            invalid(1);             /* the entry goes without it */
            ml = 0;
        }
    }
    need = (w->count ? 1 : 0) + kl + 1 + (ml ? ml + 1 : 0);
    for (i = 0; i < vl; i++) {
        need += is(v[i], CL_UNRES) ? 1 : 3;
    }
    limit = w->cap < OTEL_BAGGAGE_MAX_BYTES ? w->cap : OTEL_BAGGAGE_MAX_BYTES;
    if (w->count >= OTEL_BAGGAGE_MAX_MEMBERS || w->len + need > limit) {
        w->dropped++;
        invalid(1);
        return OTEL_ELIMIT;
    }
    o = w->buf + w->len;
    if (w->count) {
        *o++ = ',';
    }
    memcpy(o, k, kl);
    o += kl;
    *o++ = '=';
    for (i = 0; i < vl; i++) {
        c = (unsigned char)v[i];
        if (cls[c] & CL_UNRES) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = digits[c >> 4];
            *o++ = digits[c & 15];
        }
    }
    if (ml) {
        *o++ = ';';
        memcpy(o, meta, ml);
        o += ml;
    }
    w->len = (size_t)(o - w->buf);
    w->count++;
    return OTEL_OK;

drop:
    w->dropped++;
    invalid(1);
    return OTEL_EINVAL;
}

/* ---- B3 -------------------------------------------------------------------
 * Single: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]], or the
 * sampling state alone.  Multi: X-B3-TraceId, X-B3-SpanId, X-B3-Sampled,
 * X-B3-Flags.  Trace ids of 16 digits are left-padded to 128 bits.  Debug
 * implies sampled; an absent state (deferred) gives not sampled, as in
 * the OpenTelemetry SDKs.  X-B3-ParentSpanId is never needed: the parent
 * of the spans started here is the caller's span id.
 */
static bool b3_trace_id(const char *s, size_t n, uint8_t id[16])
{
    if (n == 32) {
        return hex_id(s, id, 16);
    }
    if (n == 16) {
        memset(id, 0, 8);
        return hex_id(s, id + 8, 8);
    }
    return false;
}

OTEL_API int otel_b3_parse(const char *s, size_t len, otel_span_handle *out,
                           int *debug)
{
    const char *dash, *p;
    size_t tl, rest;
    int dbg = 0;
    uint8_t parent[8];

    if (!out) {
        return OTEL_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (debug) {
        *debug = 0;
    }
    if (!s) {
        goto bad;
    }
    trim(&s, &len);
    if (len == 1 && (s[0] == '0' || s[0] == '1' || s[0] == 'd')) {
        if (debug) {
            *debug = s[0] == 'd';
        }
        return 1;                   /* a sampling state alone: no context */
    }
    dash = find(s, '-', len);
    if (!dash) {
        goto bad;
    }
    tl = (size_t)(dash - s);
    p = dash + 1;
    rest = len - tl - 1;
    if (!b3_trace_id(s, tl, out->trace_id) || rest < 16
        || !hex_id(p, out->span_id, 8)) {
        goto bad;
    }
    p += 16;
    rest -= 16;
    if (rest) {
        if (rest < 2 || p[0] != '-') {
            goto bad;
        }
        switch (p[1]) {
        case '1':
            out->trace_flags = 1;
            break;
        case '0':
            break;
        case 'd':
            out->trace_flags = 1;
            dbg = 1;
            break;
        default:
            goto bad;
        }
        p += 2;
        rest -= 2;
        if (rest && (rest != 17 || p[0] != '-'
                     || !hex_id(p + 1, parent, 8))) {
            goto bad;
        }
    }
    if (!ids_valid(out)) {
        goto bad;
    }
    out->remote = 1;
    if (debug) {
        *debug = dbg;
    }
    return OTEL_OK;

bad:
    memset(out, 0, sizeof(*out));
    invalid(1);
    return OTEL_EINVAL;
}

static bool is_str(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

OTEL_API int otel_b3_parse_multi(const char *const *vals,
                                 const size_t *lens, otel_span_handle *out,
                                 int *debug)
{
    const char *v[4];
    size_t n[4];
    int i, dbg = 0;

    if (!out || !vals || !lens) {
        return OTEL_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (debug) {
        *debug = 0;
    }
    for (i = 0; i < 4; i++) {
        v[i] = vals[i];
        n[i] = v[i] ? lens[i] : 0;
        if (v[i]) {
            trim(&v[i], &n[i]);
        }
    }
    if (!v[0] && !v[1]) {
        return 1;                   /* no B3 context here */
    }
    if (!v[0] || !v[1] || !b3_trace_id(v[0], n[0], out->trace_id)
        || n[1] != 16 || !hex_id(v[1], out->span_id, 8)
        || !ids_valid(out)) {
        goto bad;
    }
    if (v[2]) {
        if (is_str(v[2], n[2], "1") || is_str(v[2], n[2], "true")) {
            out->trace_flags = 1;
        } else if (!is_str(v[2], n[2], "0")
                   && !is_str(v[2], n[2], "false")) {
            goto bad;
        }
    }
    /* X-B3-Flags: 1 is debug; any other value is ignored (B3 spec). */
    if (v[3] && is_str(v[3], n[3], "1")) {
        dbg = 1;
        out->trace_flags = 1;
    }
    out->remote = 1;
    if (debug) {
        *debug = dbg;
    }
    return OTEL_OK;

bad:
    memset(out, 0, sizeof(*out));
    invalid(1);
    return OTEL_EINVAL;
}

OTEL_API int otel_b3_format(const otel_span_handle *h, int debug, char *buf)
{
    if (!h || !buf || !ids_valid(h)) {
        return OTEL_EINVAL;
    }
    otel_hex_encode(h->trace_id, 16, buf);
    buf[32] = '-';
    otel_hex_encode(h->span_id, 8, buf + 33);
    buf[49] = '-';
    buf[50] = debug ? 'd' : (h->trace_flags & 1) ? '1' : '0';
    return OTEL_B3_LEN;
}
