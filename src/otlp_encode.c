/*
 * OTLP/protobuf encoding of span records.
 *
 * The request is written straight from the records, back to front: a
 * message's fields are written last field first, so that when its body is
 * done its length is known and its tag and length prefix go in front of
 * it.  That is one pass over the spans with no intermediate message
 * structs and no size pass; protobuf-c's generated structs and
 * protobuf_c_message_pack() would cost a struct tree per batch and
 * re-measure every submessage at every level of nesting.  The generated
 * code (trace.pb-c.c, from trace.proto) reads the collector's answer, and
 * the tests check this encoder against its unpacker.
 *
 * Strings in records are valid UTF-8 already (repaired when set).
 */
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "trace.pb-c.h"

#define PB(x) opentelemetry__proto__trace__v1__##x
#define RESP_UNPACK PB(export_trace_service_response__unpack)
#define RESP_FREE PB(export_trace_service_response__free_unpacked)

/* Wire types. */
#define WT_VARINT 0
#define WT_I64    1
#define WT_LEN    2
#define WT_I32    5

#define TAG(f, wt) (((uint32_t)(f) << 3) | (uint32_t)(wt))

/* Field numbers (trace.proto). */
#define F_REQ_RESOURCE_SPANS    1
#define F_RS_RESOURCE           1
#define F_RS_SCOPE_SPANS        2
#define F_RES_ATTRS             1
#define F_RES_DROPPED           2
#define F_SS_SCOPE              1
#define F_SS_SPANS              2
#define F_SCOPE_NAME            1
#define F_SCOPE_VERSION         2
#define F_SCOPE_ATTRS           3
#define F_SS_SCHEMA_URL         3
#define F_KV_KEY                1
#define F_KV_VALUE              2
#define F_AV_STRING             1
#define F_AV_BOOL               2
#define F_AV_INT                3
#define F_AV_DOUBLE             4
#define F_AV_ARRAY              5
#define F_ARRAY_VALUES          1
#define F_SPAN_TRACE_ID         1
#define F_SPAN_SPAN_ID          2
#define F_SPAN_TRACE_STATE      3
#define F_SPAN_PARENT_SPAN_ID   4
#define F_SPAN_NAME             5
#define F_SPAN_KIND             6
#define F_SPAN_START            7
#define F_SPAN_END              8
#define F_SPAN_ATTRS            9
#define F_SPAN_DROPPED_ATTRS    10
#define F_SPAN_EVENTS           11
#define F_SPAN_DROPPED_EVENTS   12
#define F_SPAN_LINKS            13
#define F_SPAN_DROPPED_LINKS    14
#define F_SPAN_STATUS           15
#define F_SPAN_FLAGS            16
#define F_EVENT_TIME            1
#define F_EVENT_NAME            2
#define F_EVENT_ATTRS           3
#define F_EVENT_DROPPED         4
#define F_LINK_TRACE_ID         1
#define F_LINK_SPAN_ID          2
#define F_LINK_TRACE_STATE      3
#define F_LINK_ATTRS            4
#define F_LINK_DROPPED          5
#define F_LINK_FLAGS            6
#define F_STATUS_MESSAGE        2
#define F_STATUS_CODE           3

/* Guess of the bytes per span, to size the buffer once per batch. */
#define SPAN_GUESS 320

/* A back-to-front writer over the free tail of an otel__buf: the output
 * so far is [pos, end); base is the lowest byte it may use. */
typedef struct {
    uint8_t   *base, *pos, *end;
    otel__buf *out;
    bool       oom;
} wr;

#define USED(w) ((size_t)((w)->end - (w)->pos))

static bool grow(wr *w, size_t need)
{
    otel__buf *b = w->out;
    size_t used = USED(w), cap, want;
    uint8_t *nb;

    if (w->oom) {
        return false;
    }
    want = b->len + used + need;
    if (want < b->len) {
        w->oom = true;
        return false;
    }
    cap = b->cap ? b->cap : 4096;
    while (cap < want) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return false;
        }
        cap *= 2;
    }
    if (cap < want + want / 4 && cap <= SIZE_MAX / 2) {
        cap *= 2;     /* leave room for the rest of the batch */
    }
    nb = realloc(b->buf, cap);
    if (!nb) {
        w->oom = true;
        return false;
    }
    /* The output sat at the end of the old capacity: move it to the end
     * of the new one. */
    if (used) {
        memmove(nb + cap - used, nb + b->cap - used, used);
    }
    b->buf = (char *)nb;
    b->cap = cap;
    w->base = nb + b->len;
    w->end = nb + cap;
    w->pos = w->end - used;
    return true;
}

static inline bool room(wr *w, size_t n)
{
    return OTEL__LIKELY((size_t)(w->pos - w->base) >= n) || grow(w, n);
}

static inline size_t varint_size(uint64_t v)
{
    return (size_t)((63 - __builtin_clzll(v | 1)) / 7 + 1);
}

static inline void store_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

static inline void put_varint(wr *w, uint64_t v)
{
    size_t n = varint_size(v);

    if (room(w, n)) {
        w->pos -= n;
        store_varint(w->pos, v);
    }
}

/* Tag and length in front of the n bytes just written. */
static inline void put_len_prefix(wr *w, uint32_t field, size_t n)
{
    size_t ln = varint_size(n), tn = varint_size(TAG(field, WT_LEN));

    if (room(w, ln + tn)) {
        w->pos -= ln;
        store_varint(w->pos, n);
        w->pos -= tn;
        store_varint(w->pos, TAG(field, WT_LEN));
    }
}

static inline void put_bytes(wr *w, uint32_t field, const void *p, size_t n)
{
    if (room(w, n)) {
        w->pos -= n;
        if (n) {
            memcpy(w->pos, p, n);
        }
        put_len_prefix(w, field, n);
    }
}

/* A proto3 string: absent when empty. */
static inline void put_str(wr *w, uint32_t field, const char *p, size_t n)
{
    if (n) {
        put_bytes(w, field, p, n);
    }
}

static inline void put_uint(wr *w, uint32_t field, uint64_t v)
{
    put_varint(w, v);
    put_varint(w, TAG(field, WT_VARINT));
}

/* A proto3 scalar: absent when zero. */
static inline void put_uint_nz(wr *w, uint32_t field, uint64_t v)
{
    if (v) {
        put_uint(w, field, v);
    }
}

static inline void store_le(uint8_t *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline void put_fixed64(wr *w, uint32_t field, uint64_t v)
{
    if (room(w, 8)) {
        w->pos -= 8;
        store_le(w->pos, v, 8);
        put_varint(w, TAG(field, WT_I64));
    }
}

static inline void put_fixed32(wr *w, uint32_t field, uint32_t v)
{
    if (room(w, 4)) {
        w->pos -= 4;
        store_le(w->pos, v, 4);
        put_varint(w, TAG(field, WT_I32));
    }
}

static inline uint64_t double_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

/* The body of an AnyValue holding element i of an array value. */
static void put_elem(wr *w, int type, const otel__value *v, uint32_t i)
{
    switch (type) {
    case OTEL_VT_STRING:
        /* A oneof member is present even when empty. */
        put_bytes(w, F_AV_STRING, v->u.sa[i].p, v->u.sa[i].len);
        break;
    case OTEL_VT_BOOL:
        put_uint(w, F_AV_BOOL, v->u.ba[i] != 0);
        break;
    case OTEL_VT_INT:
        put_uint(w, F_AV_INT, (uint64_t)v->u.ia[i]);
        break;
    case OTEL_VT_DOUBLE:
        put_fixed64(w, F_AV_DOUBLE, double_bits(v->u.da[i]));
        break;
    }
}

/* The body of an AnyValue. */
static void put_value(wr *w, const otel__value *v)
{
    size_t mark, m;
    uint32_t i;
    int et;

    switch (v->type) {
    case OTEL_VT_STRING:
        put_bytes(w, F_AV_STRING, v->u.s, v->n);
        return;
    case OTEL_VT_BOOL:
        put_uint(w, F_AV_BOOL, v->u.b != 0);
        return;
    case OTEL_VT_INT:
        put_uint(w, F_AV_INT, (uint64_t)v->u.i);
        return;
    case OTEL_VT_DOUBLE:
        put_fixed64(w, F_AV_DOUBLE, double_bits(v->u.d));
        return;
    }
    if (!(v->type & OTEL_VT_ARRAY)) {
        return;     /* unknown: an empty AnyValue */
    }
    et = v->type & ~OTEL_VT_ARRAY;
    mark = USED(w);
    for (i = v->n; i-- > 0;) {
        m = USED(w);
        put_elem(w, et, v, i);
        put_len_prefix(w, F_ARRAY_VALUES, USED(w) - m);
    }
    put_len_prefix(w, F_AV_ARRAY, USED(w) - mark);
}

/* A repeated KeyValue field. */
static void put_attrs(wr *w, uint32_t field, const otel__attrs *list)
{
    const otel__attr *a;
    size_t kv, val;
    uint32_t i;

    for (i = list->n; i-- > 0;) {
        a = &list->a[i];
        kv = USED(w);
        val = USED(w);
        put_value(w, &a->v);
        put_len_prefix(w, F_KV_VALUE, USED(w) - val);
        put_str(w, F_KV_KEY, a->key.p, a->key.len);
        put_len_prefix(w, field, USED(w) - kv);
    }
}

static void put_event(wr *w, const otel__event *e)
{
    size_t mark = USED(w);

    put_uint_nz(w, F_EVENT_DROPPED, e->attrs.dropped);
    put_attrs(w, F_EVENT_ATTRS, &e->attrs);
    put_str(w, F_EVENT_NAME, e->name.p, e->name.len);
    if (e->time_ns) {
        put_fixed64(w, F_EVENT_TIME, (uint64_t)e->time_ns);
    }
    put_len_prefix(w, F_SPAN_EVENTS, USED(w) - mark);
}

static void put_link(wr *w, const otel__link *l)
{
    size_t mark = USED(w);
    uint32_t flags = l->trace_flags | OTEL__OTLP_FLAG_HAS_IS_REMOTE;

    if (l->remote) {
        flags |= OTEL__OTLP_FLAG_IS_REMOTE;
    }
    put_fixed32(w, F_LINK_FLAGS, flags);
    put_uint_nz(w, F_LINK_DROPPED, l->attrs.dropped);
    put_attrs(w, F_LINK_ATTRS, &l->attrs);
    put_str(w, F_LINK_TRACE_STATE, l->trace_state.p, l->trace_state.len);
    put_bytes(w, F_LINK_SPAN_ID, l->span_id, 8);
    put_bytes(w, F_LINK_TRACE_ID, l->trace_id, 16);
    put_len_prefix(w, F_SPAN_LINKS, USED(w) - mark);
}

static void put_span(wr *w, const otel__span *s)
{
    size_t mark = USED(w), m;
    uint32_t i, flags = s->trace_flags | OTEL__OTLP_FLAG_HAS_IS_REMOTE;

    if (s->has_parent && s->parent_remote) {
        flags |= OTEL__OTLP_FLAG_IS_REMOTE;
    }
    put_fixed32(w, F_SPAN_FLAGS, flags);
    /* No Status message for UNSET: receivers read it as code 0. */
    if (s->status_code != OTEL_STATUS_UNSET) {
        m = USED(w);
        put_uint(w, F_STATUS_CODE, s->status_code);
        if (s->status_code == OTEL_STATUS_ERROR) {
            put_str(w, F_STATUS_MESSAGE, s->status_desc.p,
                    s->status_desc.len);
        }
        put_len_prefix(w, F_SPAN_STATUS, USED(w) - m);
    }
    put_uint_nz(w, F_SPAN_DROPPED_LINKS, s->dropped_links);
    for (i = s->n_links; i-- > 0;) {
        put_link(w, &s->links[i]);
    }
    put_uint_nz(w, F_SPAN_DROPPED_EVENTS, s->dropped_events);
    for (i = s->n_events; i-- > 0;) {
        put_event(w, &s->events[i]);
    }
    put_uint_nz(w, F_SPAN_DROPPED_ATTRS, s->attrs.dropped);
    put_attrs(w, F_SPAN_ATTRS, &s->attrs);
    if (s->end_ns) {
        put_fixed64(w, F_SPAN_END, (uint64_t)s->end_ns);
    }
    if (s->start_ns) {
        put_fixed64(w, F_SPAN_START, (uint64_t)s->start_ns);
    }
    put_uint(w, F_SPAN_KIND, (uint64_t)s->kind + 1);
    put_str(w, F_SPAN_NAME, s->name.p, s->name.len);
    if (s->has_parent) {
        put_bytes(w, F_SPAN_PARENT_SPAN_ID, s->parent_span_id, 8);
    }
    put_str(w, F_SPAN_TRACE_STATE, s->trace_state.p, s->trace_state.len);
    put_bytes(w, F_SPAN_SPAN_ID, s->span_id, 8);
    put_bytes(w, F_SPAN_TRACE_ID, s->trace_id, 16);
    put_len_prefix(w, F_SS_SPANS, USED(w) - mark);
}

/* The InstrumentationScope of a ScopeSpans. */
static void put_scope(wr *w, const otel__scope *sc)
{
    size_t mark = USED(w);

    if (sc) {
        put_attrs(w, F_SCOPE_ATTRS, &sc->attrs);
        put_str(w, F_SCOPE_VERSION, sc->version.p, sc->version.len);
        put_str(w, F_SCOPE_NAME, sc->name.p, sc->name.len);
    }
    put_len_prefix(w, F_SS_SCOPE, USED(w) - mark);
    if (sc) {
        put_str(w, F_SS_SCHEMA_URL, sc->schema_url.p, sc->schema_url.len);
    }
}

size_t otel__otlp_group(otel__span *const *spans, size_t n,
                             const otel__scope **scopes, uint32_t *gid,
                             uint32_t *first, uint32_t *order)
{
    size_t i, g, ng = 0, last = 0;

    for (i = 0; i < n; i++) {
        const otel__scope *sc = spans[i]->scope;

        if (ng && scopes[last] == sc) {
            gid[i] = (uint32_t)last;
            continue;
        }
        for (g = 0; g < ng && scopes[g] != sc; g++) {
        }
        if (g == ng) {
            scopes[ng++] = sc;
        }
        gid[i] = (uint32_t)g;
        last = g;
    }
    /* first[g + 1] = end of group g; filling each group from its end
     * moves it down to the group's start, then shift it into first[g]. */
    memset(first, 0, sizeof(*first) * (ng + 1));
    for (i = 0; i < n; i++) {
        first[gid[i] + 1]++;
    }
    for (g = 0; g < ng; g++) {
        first[g + 1] += first[g];
    }
    for (i = n; i-- > 0;) {
        order[--first[gid[i] + 1]] = (uint32_t)i;
    }
    for (g = 0; g < ng; g++) {
        first[g] = first[g + 1];
    }
    first[ng] = (uint32_t)n;
    return ng;
}

int otel__otlp_encode(const otel__attrs *resource, otel__span *const *spans,
                      size_t n, otel__buf *out)
{
    const otel__scope **scopes = NULL;
    uint32_t *gid, *first, *order;
    size_t i, g, ng, mark_rs, mark_ss, mark, len0 = out->len;
    wr w;

    w.out = out;
    w.oom = false;
    w.base = w.end = w.pos = NULL;
    if (out->buf) {
        w.base = (uint8_t *)out->buf + out->len;
        w.end = w.pos = (uint8_t *)out->buf + out->cap;
    }
    if (n > UINT32_MAX || !room(&w, n * SPAN_GUESS + 1024)) {
        return OTEL_ENOMEM;
    }
    mark_rs = USED(&w);
    for (i = 1; i < n && spans[i]->scope == spans[0]->scope; i++) {
    }
    if (i >= n) {
        /* One scope: the common case, no grouping needed. */
        if (n) {
            mark_ss = USED(&w);
            for (i = n; i-- > 0;) {
                put_span(&w, spans[i]);
            }
            put_scope(&w, spans[0]->scope);
            put_len_prefix(&w, F_RS_SCOPE_SPANS, USED(&w) - mark_ss);
        }
    } else {
        scopes = malloc(n * sizeof(*scopes) + (3 * n + 1) * sizeof(*gid));
        if (!scopes) {
            return OTEL_ENOMEM;
        }
        gid = (uint32_t *)(scopes + n);
        first = gid + n;
        order = first + n + 1;
        ng = otel__otlp_group(spans, n, scopes, gid, first, order);
        for (g = ng; g-- > 0;) {
            mark_ss = USED(&w);
            for (i = first[g + 1]; i-- > first[g];) {
                put_span(&w, spans[order[i]]);
            }
            put_scope(&w, scopes[g]);
            put_len_prefix(&w, F_RS_SCOPE_SPANS, USED(&w) - mark_ss);
        }
        free(scopes);
    }
    mark = USED(&w);
    if (resource) {
        put_uint_nz(&w, F_RES_DROPPED, resource->dropped);
        put_attrs(&w, F_RES_ATTRS, resource);
    }
    put_len_prefix(&w, F_RS_RESOURCE, USED(&w) - mark);
    put_len_prefix(&w, F_REQ_RESOURCE_SPANS, USED(&w) - mark_rs);
    if (w.oom) {
        out->len = len0;
        return OTEL_ENOMEM;
    }
    memmove(out->buf + out->len, w.pos, USED(&w));
    out->len += USED(&w);
    return OTEL_OK;
}

int otel__otlp_decode_response(const uint8_t *buf, size_t len,
                               int64_t *rejected, char *msg, size_t msgcap)
{
    Opentelemetry__Proto__Trace__V1__ExportTraceServiceResponse *r;
    const Opentelemetry__Proto__Trace__V1__ExportTracePartialSuccess *ps;
    size_t n;

    if (rejected) {
        *rejected = 0;
    }
    if (msg && msgcap) {
        msg[0] = '\0';
    }
    if (len == 0) {
        return OTEL_OK;
    }
    r = RESP_UNPACK(NULL, len, buf);
    if (!r) {
        return OTEL_EINVAL;
    }
    ps = r->partial_success;
    if (ps) {
        if (rejected) {
            *rejected = ps->rejected_spans;
        }
        if (msg && msgcap && ps->error_message) {
            n = strlen(ps->error_message);
            if (n >= msgcap) {
                n = msgcap - 1;
            }
            memcpy(msg, ps->error_message, n);
            msg[n] = '\0';
        }
    }
    RESP_FREE(r, NULL);
    return OTEL_OK;
}
