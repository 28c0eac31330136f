/*
 * OTLP/JSON encoding of span records (the http/json protocol): the
 * protobuf JSON mapping with OTLP's exceptions, as the specification
 * says: ids as hex strings, enums as integers, 64-bit integers as decimal
 * strings, lowerCamelCase names.  The same records and the same scope
 * grouping as the protobuf encoder; fields the protobuf encoder leaves
 * out (zero, empty) are left out here too.
 *
 * Strings in records are valid UTF-8 already (repaired when set).
 */
#include <stdlib.h>
#include <string.h>

#include "otlp.h"

/* Numbers without printf: it is most of the cost of a span otherwise. */
static void put_num(otel__buf *b, uint64_t v, bool neg, bool quoted)
{
    char tmp[24], *p = tmp + sizeof(tmp);

    if (quoted) {
        *--p = '"';
    }
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg) {
        *--p = '-';
    }
    if (quoted) {
        *--p = '"';
    }
    otel__buf_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_i64(otel__buf *b, int64_t v, bool quoted)
{
    put_num(b, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, quoted);
}

/* ,"key": */
static void put_key(otel__buf *b, const char *key)
{
    otel__buf_put(b, ",\"", 2);
    otel__buf_puts(b, key);
    otel__buf_put(b, "\":", 2);
}

static void put_hex(otel__buf *b, const char *key, const uint8_t *id,
                    size_t n)
{
    char out[34];

    out[0] = '"';
    otel_hex_encode(id, n, out + 1);
    out[2 * n + 1] = '"';
    put_key(b, key);
    otel__buf_put(b, out, 2 * n + 2);
}

/* ,"key":"text" (left out when empty, as proto3 leaves it out) */
static void put_str(otel__buf *b, const char *key, const otel__str *s)
{
    if (s->len) {
        put_key(b, key);
        otel__buf_json_str(b, s->p, s->len);
    }
}

/* A fixed64 time: a decimal string, left out when 0. */
static void put_u64(otel__buf *b, const char *key, int64_t v)
{
    if (v) {
        put_key(b, key);
        put_num(b, (uint64_t)v, false, true);
    }
}

static void put_count(otel__buf *b, const char *key, uint32_t v)
{
    if (v) {
        put_key(b, key);
        put_num(b, v, false, false);
    }
}

/* One AnyValue (element i of an array when i >= 0). */
static void put_scalar(otel__buf *b, int type, const otel__value *v,
                       int64_t i)
{
    switch (type) {
    case OTEL_VT_STRING:
        otel__buf_puts(b, "{\"stringValue\":");
        if (i < 0) {
            otel__buf_json_str(b, v->u.s, v->n);
        } else {
            otel__buf_json_str(b, v->u.sa[i].p, v->u.sa[i].len);
        }
        break;
    case OTEL_VT_BOOL:
        otel__buf_puts(b, (i < 0 ? v->u.b : v->u.ba[i])
                          ? "{\"boolValue\":true" : "{\"boolValue\":false");
        break;
    case OTEL_VT_INT:
        otel__buf_puts(b, "{\"intValue\":");
        put_i64(b, i < 0 ? v->u.i : v->u.ia[i], true);
        break;
    case OTEL_VT_DOUBLE:
        otel__buf_puts(b, "{\"doubleValue\":");
        otel__buf_json_double(b, i < 0 ? v->u.d : v->u.da[i]);
        break;
    default:
        otel__buf_puts(b, "{");     /* unknown: an empty AnyValue */
        break;
    }
    otel__buf_puts(b, "}");
}

static void put_value(otel__buf *b, const otel__value *v)
{
    uint32_t i;

    if (!(v->type & OTEL_VT_ARRAY)) {
        put_scalar(b, v->type, v, -1);
        return;
    }
    otel__buf_puts(b, "{\"arrayValue\":{\"values\":[");
    for (i = 0; i < v->n; i++) {
        if (i) {
            otel__buf_puts(b, ",");
        }
        put_scalar(b, v->type & ~OTEL_VT_ARRAY, v, i);
    }
    otel__buf_puts(b, "]}}");
}

static void put_attrs(otel__buf *b, const otel__attrs *list)
{
    uint32_t i;

    if (list->n) {
        otel__buf_puts(b, ",\"attributes\":[");
        for (i = 0; i < list->n; i++) {
            otel__buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
            otel__buf_json_str(b, list->a[i].key.p, list->a[i].key.len);
            otel__buf_puts(b, ",\"value\":");
            put_value(b, &list->a[i].v);
            otel__buf_puts(b, "}");
        }
        otel__buf_puts(b, "]");
    }
    put_count(b, "droppedAttributesCount", list->dropped);
}

/* The resource's attributes (its dropped count is written first). */
static void resource_attrs(otel__buf *b, const otel__attrs *list)
{
    otel__attrs only = *list;

    only.dropped = 0;
    put_attrs(b, &only);
}

/* Every object below starts with a field that is always there, so the
 * others can all be written with a leading comma. */
static void put_span(otel__buf *b, const otel__span *s)
{
    uint32_t i, flags = s->trace_flags | OTEL__OTLP_FLAG_HAS_IS_REMOTE;
    const otel__event *e;
    const otel__link *l;

    if (s->has_parent && s->parent_remote) {
        flags |= OTEL__OTLP_FLAG_IS_REMOTE;
    }
    otel__buf_puts(b, "{\"kind\":");
    put_num(b, (uint64_t)s->kind + 1, false, false);
    put_hex(b, "traceId", s->trace_id, 16);
    put_hex(b, "spanId", s->span_id, 8);
    put_str(b, "traceState", &s->trace_state);
    if (s->has_parent) {
        put_hex(b, "parentSpanId", s->parent_span_id, 8);
    }
    put_key(b, "flags");
    put_num(b, flags, false, false);
    put_str(b, "name", &s->name);
    put_u64(b, "startTimeUnixNano", s->start_ns);
    put_u64(b, "endTimeUnixNano", s->end_ns);
    put_attrs(b, &s->attrs);
    if (s->n_events) {
        otel__buf_puts(b, ",\"events\":[");
        for (i = 0; i < s->n_events; i++) {
            e = &s->events[i];
            otel__buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
            otel__buf_json_str(b, e->name.p, e->name.len);
            put_u64(b, "timeUnixNano", e->time_ns);
            put_attrs(b, &e->attrs);
            otel__buf_puts(b, "}");
        }
        otel__buf_puts(b, "]");
    }
    put_count(b, "droppedEventsCount", s->dropped_events);
    if (s->n_links) {
        otel__buf_puts(b, ",\"links\":[");
        for (i = 0; i < s->n_links; i++) {
            l = &s->links[i];
            otel__buf_puts(b, i ? ",{\"flags\":" : "{\"flags\":");
            put_num(b, l->trace_flags | OTEL__OTLP_FLAG_HAS_IS_REMOTE
                       | (l->remote ? OTEL__OTLP_FLAG_IS_REMOTE : 0),
                    false, false);
            put_hex(b, "traceId", l->trace_id, 16);
            put_hex(b, "spanId", l->span_id, 8);
            put_str(b, "traceState", &l->trace_state);
            put_attrs(b, &l->attrs);
            otel__buf_puts(b, "}");
        }
        otel__buf_puts(b, "]");
    }
    put_count(b, "droppedLinksCount", s->dropped_links);
    if (s->status_code != OTEL_STATUS_UNSET) {
        otel__buf_puts(b, ",\"status\":{\"code\":");
        put_num(b, s->status_code, false, false);
        if (s->status_code == OTEL_STATUS_ERROR) {
            put_str(b, "message", &s->status_desc);
        }
        otel__buf_puts(b, "}");
    }
    otel__buf_puts(b, "}");
}

static void put_scope_spans(otel__buf *b, const otel__scope *sc,
                            otel__span *const *spans, const uint32_t *order,
                            size_t from, size_t to)
{
    size_t i;

    otel__buf_puts(b, "{\"scope\":{");
    if (sc) {
        otel__buf_puts(b, "\"name\":");
        otel__buf_json_str(b, sc->name.p, sc->name.len);
        if (sc->version.len) {
            otel__buf_puts(b, ",\"version\":");
            otel__buf_json_str(b, sc->version.p, sc->version.len);
        }
        put_attrs(b, &sc->attrs);
    }
    otel__buf_puts(b, "}");
    if (sc) {
        put_str(b, "schemaUrl", &sc->schema_url);
    }
    otel__buf_puts(b, ",\"spans\":[");
    for (i = from; i < to; i++) {
        if (i > from) {
            otel__buf_puts(b, ",");
        }
        put_span(b, spans[order ? order[i] : i]);
    }
    otel__buf_puts(b, "]}");
}

int otel__otlp_json(const otel__attrs *resource, otel__span *const *spans,
                    size_t n, otel__buf *b)
{
    const otel__scope **scopes;
    uint32_t *gid, *first, *order;
    size_t g, ng, len0 = b->len;

    if (n > UINT32_MAX) {
        return OTEL_ENOMEM;
    }
    scopes = malloc(n * sizeof(*scopes) + (3 * n + 1) * sizeof(*gid) + 1);
    if (!scopes) {
        return OTEL_ENOMEM;
    }
    gid = (uint32_t *)(scopes + n);
    first = gid + n;
    order = first + n + 1;
    ng = n ? otel__otlp_group(spans, n, scopes, gid, first, order) : 0;
    /* a first field that is always there, for put_attrs' leading comma */
    otel__buf_printf(b, "{\"resourceSpans\":[{\"resource\":{"
                     "\"droppedAttributesCount\":%u",
                     resource ? resource->dropped : 0);
    if (resource) {
        resource_attrs(b, resource);
    }
    otel__buf_puts(b, "},\"scopeSpans\":[");
    for (g = 0; g < ng; g++) {
        if (g) {
            otel__buf_puts(b, ",");
        }
        put_scope_spans(b, scopes[g], spans, order, first[g], first[g + 1]);
    }
    otel__buf_puts(b, "]}]}");
    free(scopes);
    if (b->oom) {
        b->oom = false;
        b->len = len0;
        return OTEL_ENOMEM;
    }
    return OTEL_OK;
}

/* Finds "key" at any depth and reads the integer after it (quoted or
 * not).  Enough for the one field of the answer we read; the collector
 * writes int64 fields as strings. */
int otel__otlp_json_response(const char *buf, size_t len, int64_t *rejected)
{
    static const char key[] = "\"rejectedSpans\"";
    const char *p = buf, *end = buf + len, *hit;
    int64_t v = 0;

    *rejected = 0;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r'
                       || *p == '\t')) {
        p++;
    }
    if (len == 0) {
        return OTEL_OK;
    }
    if (p == end || *p != '{') {
        return OTEL_EINVAL;
    }
    hit = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
    if (!hit) {
        return OTEL_OK;
    }
    p = hit + sizeof(key) - 1;
    while (p < end && (*p == ' ' || *p == ':' || *p == '"')) {
        p++;
    }
    while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 10) {
        v = v * 10 + (*p++ - '0');
    }
    *rejected = v;
    return OTEL_OK;
}
