/*
 * OTLP encoding: spans built through the public API, encoded with
 * otel__otlp_encode() and decoded with protobuf-c's generated unpacker
 * (trace.pb-c.c), then compared field by field with the records and with
 * what the test asked for.  Also otel__otlp_decode_response().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "otlp.h"
#include "trace.pb-c.h"
#include "tap.h"

typedef Opentelemetry__Proto__Trace__V1__ExportTraceServiceRequest Req;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Trace__V1__AnyValue AnyValue;

#define AV(x) OPENTELEMETRY__PROTO__TRACE__V1__ANY_VALUE__VALUE_##x

#define PB(x) opentelemetry__proto__trace__v1__##x
#define REQ_UNPACK PB(export_trace_service_request__unpack)
#define REQ_FREE PB(export_trace_service_request__free_unpacked)
#define REQ_SIZE PB(export_trace_service_request__get_packed_size)
#define REQ_PACK PB(export_trace_service_request__pack)
#define RESP_PACK PB(export_trace_service_response__pack)

/* Field comparisons are many: they print only when they fail, and each
 * group of them is one TAP line (report()). */
static int failed;

#define FIELD(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failed++;                                                       \
            printf("#   %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                            \
            printf("\n");                                                   \
        }                                                                   \
    } while (0)

static void report(const char *what, int before)
{
    CHECK(failed == before, "%s", what);
}

/* ---- a processor that keeps ended records ------------------------------*/

static otel__span *kept[4096];
static size_t n_kept;

static void keep_on_end(otel__processor *p, otel__span *s)
{
    OTEL__UNUSED(p);
    if (n_kept < sizeof(kept) / sizeof(kept[0])) {
        kept[n_kept++] = s;
    } else {
        otel__span_release(s);
    }
}

static int keep_flush(otel__processor *p, int timeout_ms)
{
    OTEL__UNUSED(p);
    OTEL__UNUSED(timeout_ms);
    return OTEL_OK;
}

static void keep_destroy(otel__processor *p)
{
    OTEL__UNUSED(p);
}

static otel__processor keeper = {
    keep_on_end, keep_flush, keep_flush, keep_destroy
};

static void release_kept(void)
{
    otel__span_release_many(kept, n_kept);
    n_kept = 0;
}

/* ---- comparing ------------------------------------------------------------*/

static bool bytes_eq(ProtobufCBinaryData b, const uint8_t *p, size_t n)
{
    return b.len == n && memcmp(b.data, p, n) == 0;
}

/* A proto3 string that is absent or empty decodes as "". */
static bool str_eq(const char *got, const char *p, size_t n)
{
    if (!got) {
        got = "";
    }
    return strlen(got) == n && (n == 0 || memcmp(got, p, n) == 0);
}

static void check_scalar(const AnyValue *v, int type, const otel__value *rv,
                         uint32_t i, const char *key)
{
    bool arr = (rv->type & OTEL_VT_ARRAY) != 0;

    FIELD(v != NULL, "%s: value present", key);
    if (!v) {
        return;
    }
    switch (type) {
    case OTEL_VT_STRING:
        FIELD(v->value_case == AV(STRING_VALUE), "%s: string", key);
        if (v->value_case == AV(STRING_VALUE)) {
            FIELD(str_eq(v->string_value, arr ? rv->u.sa[i].p : rv->u.s,
                         arr ? rv->u.sa[i].len : rv->n),
                  "%s: '%s'", key, v->string_value);
        }
        break;
    case OTEL_VT_BOOL:
        FIELD(v->value_case == AV(BOOL_VALUE), "%s: bool", key);
        FIELD(v->bool_value == (arr ? rv->u.ba[i] != 0 : rv->u.b != 0),
              "%s: %d", key, v->bool_value);
        break;
    case OTEL_VT_INT:
        FIELD(v->value_case == AV(INT_VALUE), "%s: int", key);
        FIELD(v->int_value == (arr ? rv->u.ia[i] : rv->u.i),
              "%s: %lld", key, (long long)v->int_value);
        break;
    case OTEL_VT_DOUBLE:
        FIELD(v->value_case == AV(DOUBLE_VALUE), "%s: double", key);
        FIELD(memcmp(&v->double_value, arr ? &rv->u.da[i] : &rv->u.d,
                     sizeof(double)) == 0, "%s: %g", key, v->double_value);
        break;
    default:
        FIELD(0, "%s: record type %d", key, type);
    }
}

static void check_attrs(KeyValue **kv, size_t n, const otel__attrs *list,
                        const char *where)
{
    const otel__attr *a;
    const AnyValue *v;
    uint32_t i, j;

    FIELD(n == list->n, "%s: %zu attributes, want %u", where, n, list->n);
    for (i = 0; i < n && i < list->n; i++) {
        a = &list->a[i];
        FIELD(str_eq(kv[i]->key, a->key.p, a->key.len), "%s: key %s",
              where, kv[i]->key);
        v = kv[i]->value;
        if (!(a->v.type & OTEL_VT_ARRAY)) {
            check_scalar(v, a->v.type, &a->v, 0, kv[i]->key);
            continue;
        }
        FIELD(v && v->value_case == AV(ARRAY_VALUE) && v->array_value,
              "%s: array", kv[i]->key);
        if (!v || v->value_case != AV(ARRAY_VALUE) || !v->array_value) {
            continue;
        }
        FIELD(v->array_value->n_values == a->v.n, "%s: %zu elements",
              kv[i]->key, v->array_value->n_values);
        for (j = 0; j < a->v.n && j < v->array_value->n_values; j++) {
            check_scalar(v->array_value->values[j],
                         a->v.type & ~OTEL_VT_ARRAY, &a->v, j, kv[i]->key);
        }
    }
}

static const otel__span *find_record(otel__span *const *spans, size_t n,
                                     ProtobufCBinaryData id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (bytes_eq(id, spans[i]->span_id, 8)) {
            return spans[i];
        }
    }
    return NULL;
}

/* Every field of an encoded span against its record. */
static void check_span(const Span *sp, const otel__span *r)
{
    uint32_t flags, i;

    FIELD(bytes_eq(sp->trace_id, r->trace_id, 16), "trace_id");
    FIELD(bytes_eq(sp->span_id, r->span_id, 8), "span_id");
    if (r->has_parent) {
        FIELD(bytes_eq(sp->parent_span_id, r->parent_span_id, 8),
              "parent_span_id");
    } else {
        FIELD(sp->parent_span_id.len == 0, "root: no parent_span_id");
    }
    FIELD(str_eq(sp->trace_state, r->trace_state.p, r->trace_state.len),
          "trace_state '%s'", sp->trace_state);
    FIELD(str_eq(sp->name, r->name.p, r->name.len), "name '%s'", sp->name);
    FIELD((int)sp->kind == r->kind + 1, "kind %d", sp->kind);
    FIELD(sp->start_time_unix_nano == (uint64_t)r->start_ns, "start");
    FIELD(sp->end_time_unix_nano == (uint64_t)r->end_ns, "end");
    check_attrs(sp->attributes, sp->n_attributes, &r->attrs, "span");
    FIELD(sp->dropped_attributes_count == r->attrs.dropped,
          "dropped_attributes_count %u", sp->dropped_attributes_count);
    FIELD(sp->n_events == r->n_events, "%zu events", sp->n_events);
    for (i = 0; i < sp->n_events && i < r->n_events; i++) {
        const Event *ev = sp->events[i];
        const otel__event *re = &r->events[i];
        FIELD(ev->time_unix_nano == (uint64_t)re->time_ns, "event time");
        FIELD(str_eq(ev->name, re->name.p, re->name.len), "event name");
        check_attrs(ev->attributes, ev->n_attributes, &re->attrs, "event");
        FIELD(ev->dropped_attributes_count == re->attrs.dropped,
              "event dropped %u", ev->dropped_attributes_count);
    }
    FIELD(sp->dropped_events_count == r->dropped_events,
          "dropped_events_count %u", sp->dropped_events_count);
    FIELD(sp->n_links == r->n_links, "%zu links", sp->n_links);
    for (i = 0; i < sp->n_links && i < r->n_links; i++) {
        const Link *l = sp->links[i];
        const otel__link *rl = &r->links[i];
        FIELD(bytes_eq(l->trace_id, rl->trace_id, 16), "link trace_id");
        FIELD(bytes_eq(l->span_id, rl->span_id, 8), "link span_id");
        FIELD(str_eq(l->trace_state, rl->trace_state.p, rl->trace_state.len),
              "link trace_state '%s'", l->trace_state);
        check_attrs(l->attributes, l->n_attributes, &rl->attrs, "link");
        FIELD(l->dropped_attributes_count == rl->attrs.dropped,
              "link dropped %u", l->dropped_attributes_count);
        flags = rl->trace_flags | 0x100u | (rl->remote ? 0x200u : 0);
        FIELD(l->flags == flags, "link flags 0x%x want 0x%x", l->flags,
              flags);
    }
    FIELD(sp->dropped_links_count == r->dropped_links,
          "dropped_links_count %u", sp->dropped_links_count);
    if (r->status_code == OTEL_STATUS_UNSET) {
        FIELD(!sp->status || sp->status->code == 0, "status unset");
    } else {
        FIELD(sp->status && (int)sp->status->code == r->status_code,
              "status code");
        if (sp->status && r->status_code == OTEL_STATUS_ERROR) {
            FIELD(str_eq(sp->status->message, r->status_desc.p,
                         r->status_desc.len), "status message");
        } else if (sp->status) {
            FIELD(str_eq(sp->status->message, "", 0), "no message on OK");
        }
    }
    flags = r->trace_flags | 0x100u
            | (r->has_parent && r->parent_remote ? 0x200u : 0);
    FIELD(sp->flags == flags, "flags 0x%x want 0x%x", sp->flags, flags);
}

/* Encodes, decodes and compares a batch; returns the request (caller
 * frees) for checks of its own. */
static Req *roundtrip(otel_provider *p, otel__span *const *spans, size_t n,
                      otel__buf *buf)
{
    const ResourceSpans *rs;
    size_t i, j, seen = 0, len0 = buf->len;
    Req *req;
    int rc;

    rc = otel__otlp_encode(p ? &p->resource : NULL, spans, n, buf);
    FIELD(rc == OTEL_OK, "encode: %d", rc);
    req = REQ_UNPACK(NULL, buf->len - len0,
                     (const uint8_t *)buf->buf + len0);
    FIELD(req != NULL, "protobuf-c unpacks the request");
    if (!req) {
        return NULL;
    }
    FIELD(req->n_resource_spans == 1, "one ResourceSpans");
    if (req->n_resource_spans != 1) {
        return req;
    }
    rs = req->resource_spans[0];
    FIELD(rs->resource != NULL, "resource present");
    if (rs->resource) {
        check_attrs(rs->resource->attributes, rs->resource->n_attributes,
                    &p->resource, "resource");
        FIELD(rs->resource->dropped_attributes_count == p->resource.dropped,
              "resource dropped");
    }
    for (i = 0; i < rs->n_scope_spans; i++) {
        const ScopeSpans *ss = rs->scope_spans[i];
        const otel__scope *sc = NULL;
        FIELD(ss->scope != NULL, "scope present");
        for (j = 0; j < ss->n_spans; j++) {
            const otel__span *r = find_record(spans, n, ss->spans[j]->span_id);
            FIELD(r != NULL, "span found by id");
            if (!r) {
                continue;
            }
            if (!sc) {
                sc = r->scope;
                FIELD(ss->scope && str_eq(ss->scope->name, sc->name.p,
                                          sc->name.len),
                      "scope name '%s'", ss->scope ? ss->scope->name : "");
                FIELD(ss->scope && str_eq(ss->scope->version, sc->version.p,
                                          sc->version.len),
                      "scope version");
            }
            FIELD(r->scope == sc, "span in its scope's ScopeSpans");
            check_span(ss->spans[j], r);
            seen++;
        }
    }
    FIELD(seen == n, "%zu spans decoded, want %zu", seen, n);
    /* The encoding is canonical: protobuf-c packs what it decoded back
     * to the very same bytes (field order, defaults left out). */
    {
        size_t len = buf->len - len0;
        uint8_t *again = malloc(len ? len : 1);
        FIELD(again && REQ_SIZE(req) == len, "protobuf-c size matches");
        if (again && REQ_SIZE(req) == len) {
            REQ_PACK(req, again);
            FIELD(memcmp(again, buf->buf + len0, len) == 0,
                  "protobuf-c repacks to the same bytes");
        }
        free(again);
    }
    return req;
}

/* ---- building spans -------------------------------------------------------*/

#define S(x) x, sizeof(x) - 1

static otel_provider *make_provider(void)
{
    otel_config *cfg = otel_config_new();
    otel_provider *p;
    int rc;

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_MEMORY);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    otel_config_set_int(cfg, OTEL_CFG_ATTR_COUNT, 16);
    otel_config_set_int(cfg, OTEL_CFG_EVENT_COUNT, 3);
    otel_config_set_int(cfg, OTEL_CFG_LINK_COUNT, 3);
    otel_config_set_int(cfg, OTEL_CFG_EVENT_ATTR_COUNT, 4);
    otel_config_set_int(cfg, OTEL_CFG_LINK_ATTR_COUNT, 4);
    otel_config_set_str(cfg, OTEL_CFG_SERVICE_NAME, S("checkout"));
    otel_config_resource_str(cfg, S("deployment.environment"), S("prod"));
    otel_config_resource_int(cfg, S("host.cpus"), 8);
    otel_config_resource_double(cfg, S("host.load"), 0.5);
    otel_config_resource_bool(cfg, S("host.virtual"), 1);
    otel_config_set_sampler(cfg, otel_sampler_always_on());
    p = otel_provider_new(cfg, &rc);
    CHECK(p != NULL, "provider: %s", otel_strerror(rc));
    return p;
}

static void all_types(const otel_span_handle *h, int32_t target)
{
    static const char *const strs[] = { "a", "", "h\xc3\xa9llo \xe2\x82\xac" };
    static const size_t lens[] = { 1, 0, 10 };
    static const int64_t ints[] = { 0, -1, INT64_MAX, INT64_MIN, 300 };
    static const double dbls[] = { 0.0, -2.5, 1e300 };
    static const int bools[] = { 1, 0, 1 };

    otel_attr_str(h, target, S("s"), S("value"));
    otel_attr_str(h, target, S("empty"), "", 0);
    otel_attr_str(h, target, S("utf8"), S("\xe6\x97\xa5\xe6\x9c\xac"));
    otel_attr_int(h, target, S("i"), 42);
    otel_attr_int(h, target, S("neg"), -42);
    otel_attr_int(h, target, S("zero"), 0);
    otel_attr_double(h, target, S("d"), 3.25);
    otel_attr_bool(h, target, S("t"), 1);
    otel_attr_bool(h, target, S("f"), 0);
    otel_attr_array(h, target, S("sa"), OTEL_VT_STRING, strs, lens, 3);
    otel_attr_array(h, target, S("ia"), OTEL_VT_INT, ints, NULL, 5);
    otel_attr_array(h, target, S("da"), OTEL_VT_DOUBLE, dbls, NULL, 3);
    otel_attr_array(h, target, S("ba"), OTEL_VT_BOOL, bools, NULL, 3);
    otel_attr_array(h, target, S("none"), OTEL_VT_INT, NULL, NULL, 0);
}

int main(void)
{
    static const uint8_t rtrace[16] = { 0xab, 1, 2, 3, 4, 5, 6, 7,
                                        8, 9, 10, 11, 12, 13, 14, 15 };
    static const uint8_t rspan[8] = { 0xcd, 1, 2, 3, 4, 5, 6, 7 };
    otel_span_handle s1, s2, s3, s4, s5, remote, local;
    otel__buf buf = { 0 };
    otel_tracer *ta, *tb;
    otel__processor *orig;
    otel_provider *p;
    int before, ev, lk, i;
    Req *req;

    p = make_provider();
    if (!p) {
        return 1;
    }
    orig = p->processor;
    p->processor = &keeper;
    ta = otel_provider_tracer(p, S("checkout.http"), S("1.4.0"));
    tb = otel_provider_tracer(p, S("db"), NULL, 0);

    memset(&remote, 0, sizeof(remote));
    memcpy(remote.trace_id, rtrace, 16);
    memcpy(remote.span_id, rspan, 8);
    remote.trace_flags = 1;
    remote.remote = 1;

    /* 1: a root SERVER span with everything on it */
    otel_span_start(ta, NULL, S("GET /orders"), OTEL_KIND_SERVER,
                    1700000000123456789LL, &s1);
    all_types(&s1, OTEL_TARGET_SPAN);
    otel_span_set_trace_state(&s1, S("vendor=abc,x=1"));
    ev = otel_span_add_event(&s1, S("exception"), 1700000000200000000LL);
    otel_attr_str(&s1, OTEL_TARGET_EVENT(ev), S("exception.type"),
                  S("error"));
    otel_attr_int(&s1, OTEL_TARGET_EVENT(ev), S("n"), 7);
    otel_span_add_event(&s1, S("bare"), 0);
    lk = otel_span_add_link(&s1, &remote, S("k=v"), 0);
    otel_attr_str(&s1, OTEL_TARGET_LINK(lk), S("link.kind"), S("follows"));
    otel_span_start(ta, NULL, S("local"), OTEL_KIND_INTERNAL, 0, &local);
    otel_span_add_link(&s1, &local, NULL, 0, 0);
    otel_span_set_status(&s1, OTEL_STATUS_ERROR, S("boom"));

    /* 2: a CLIENT child in another scope, status OK */
    otel_span_start(tb, &s1, S("SELECT"), OTEL_KIND_CLIENT, 0, &s2);
    otel_attr_str(&s2, OTEL_TARGET_SPAN, S("db.system"), S("postgresql"));
    otel_span_set_status(&s2, OTEL_STATUS_OK, S("ignored"));

    /* 3: child of a remote parent, back in scope A */
    otel_span_start(ta, &remote, S("consume"), OTEL_KIND_CONSUMER, 0, &s3);

    /* 4: over every limit */
    otel_span_start(ta, &local, S("limits"), OTEL_KIND_PRODUCER, 0, &s4);
    for (i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        otel_attr_int(&s4, OTEL_TARGET_SPAN, k, strlen(k), i);
    }
    for (i = 0; i < 5; i++) {
        ev = otel_span_add_event(&s4, S("e"), 0);
        if (ev >= 0) {
            all_types(&s4, OTEL_TARGET_EVENT(ev));
        }
        lk = otel_span_add_link(&s4, &remote, NULL, 0, 0);
        if (lk >= 0) {
            all_types(&s4, OTEL_TARGET_LINK(lk));
        }
    }

    /* 5: unnamed, in scope B */
    otel_span_start(tb, NULL, NULL, 0, OTEL_KIND_INTERNAL, 0, &s5);

    otel_span_end(&s1, 1700000001000000000LL);
    otel_span_end(&s2, 0);
    otel_span_end(&s3, 0);
    otel_span_end(&s4, 0);
    otel_span_end(&s5, 0);
    otel_span_end(&local, 0);
    CHECK(n_kept == 6, "6 spans recorded (%zu)", n_kept);

    before = failed;
    req = roundtrip(p, kept, n_kept, &buf);
    report("every field of 6 spans in 2 scopes decodes as recorded", before);

    before = failed;
    if (req && req->n_resource_spans == 1) {
        const ResourceSpans *rs = req->resource_spans[0];
        const Span *a0, *a1;
        FIELD(rs->n_scope_spans == 2, "two ScopeSpans");
        if (rs->n_scope_spans == 2) {
            FIELD(strcmp(rs->scope_spans[0]->scope->name, "checkout.http")
                  == 0 && strcmp(rs->scope_spans[0]->scope->version,
                                 "1.4.0") == 0, "scope A first");
            FIELD(strcmp(rs->scope_spans[1]->scope->name, "db") == 0,
                  "scope B second");
            FIELD(rs->scope_spans[0]->n_spans == 4
                  && rs->scope_spans[1]->n_spans == 2, "4 + 2 spans");
            a0 = rs->scope_spans[0]->spans[0];
            a1 = rs->scope_spans[0]->spans[1];
            FIELD(strcmp(a0->name, "GET /orders") == 0
                  && strcmp(a1->name, "consume") == 0,
                  "spans keep their order within a scope");
            /* a root: sampled and random (W3C level 2) */
            FIELD(a0->kind == 2 && a0->flags == 0x103
                  && a0->parent_span_id.len == 0, "root SERVER");
            FIELD(a0->status && a0->status->code == 2
                  && strcmp(a0->status->message, "boom") == 0, "ERROR boom");
            FIELD(a0->n_links == 2 && a0->links[0]->flags == 0x301
                  && a0->links[1]->flags == 0x103, "link flags");
            FIELD(a0->n_attributes == 14, "14 attributes");
            FIELD(a1->flags == 0x301 && a1->kind == 5
                  && bytes_eq(a1->parent_span_id, rspan, 8)
                  && bytes_eq(a1->trace_id, rtrace, 16),
                  "remote parent: flags 0x301, CONSUMER");
            a0 = rs->scope_spans[1]->spans[0];
            FIELD(a0->kind == 3 && a0->status && a0->status->code == 1
                  && str_eq(a0->status->message, "", 0),
                  "CLIENT, OK without message");
            a1 = rs->scope_spans[0]->spans[2];
            FIELD(a1->dropped_attributes_count == 4 && a1->n_attributes == 16
                  && a1->dropped_events_count == 2 && a1->n_events == 3
                  && a1->dropped_links_count == 2 && a1->n_links == 3,
                  "dropped counts");
            FIELD(a1->n_events && a1->events[0]->dropped_attributes_count
                  == 10 && a1->n_links && a1->links[0]
                  ->dropped_attributes_count == 10, "event/link dropped");
        }
    }
    report("scope grouping, kinds, flags, status, dropped counts", before);
    REQ_FREE(req, NULL);

    /* Appending keeps what the buffer held; growth from a tiny buffer. */
    before = failed;
    otel__buf_free(&buf);
    buf.buf = malloc(16);
    buf.cap = 16;
    memcpy(buf.buf, "prefix", 6);
    buf.len = 6;
    {
        size_t n0 = n_kept, k;
        otel_span_handle h;
        for (k = 0; k < 3000; k++) {
            otel_span_start(k % 3 ? ta : tb, NULL, S("bulk"),
                            OTEL_KIND_INTERNAL, 0, &h);
            otel_attr_int(&h, OTEL_TARGET_SPAN, S("k"), (int64_t)k);
            otel_attr_str(&h, OTEL_TARGET_SPAN, S("pad"),
                          S("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
            otel_span_end(&h, 0);
        }
        FIELD(n_kept == n0 + 3000, "3000 more records");
        req = roundtrip(p, kept + n0, n_kept - n0, &buf);
        FIELD(memcmp(buf.buf, "prefix", 6) == 0, "prefix kept");
        if (req && req->n_resource_spans == 1) {
            FIELD(req->resource_spans[0]->n_scope_spans == 2
                  && req->resource_spans[0]->scope_spans[0]->n_spans == 1000
                  && req->resource_spans[0]->scope_spans[1]->n_spans == 2000,
                  "first scope seen first");
        }
        REQ_FREE(req, NULL);
    }
    report("3000 spans, interleaved scopes, appended to a small buffer",
           before);

    /* An empty batch is a valid request with the resource only. */
    before = failed;
    buf.len = 0;
    req = roundtrip(p, kept, 0, &buf);
    FIELD(req && req->n_resource_spans == 1
          && req->resource_spans[0]->n_scope_spans == 0, "no ScopeSpans");
    REQ_FREE(req, NULL);
    report("empty batch", before);

    /* The collector's answer. */
    before = failed;
    {
        Opentelemetry__Proto__Trace__V1__ExportTraceServiceResponse r;
        Opentelemetry__Proto__Trace__V1__ExportTracePartialSuccess ps;
        uint8_t out[256];
        char msg[8];
        int64_t rej = -1;
        size_t n;

        PB(export_trace_service_response__init)(&r);
        PB(export_trace_partial_success__init)(&ps);
        FIELD(otel__otlp_decode_response(NULL, 0, &rej, msg, sizeof(msg))
              == OTEL_OK && rej == 0 && msg[0] == '\0', "empty body");
        ps.rejected_spans = 3;
        ps.error_message = (char *)"too many spans";
        r.partial_success = &ps;
        n = RESP_PACK(&r, out);
        FIELD(otel__otlp_decode_response(out, n, &rej, msg, sizeof(msg))
              == OTEL_OK && rej == 3 && strcmp(msg, "too man") == 0,
              "partial success 3, message cut to the buffer");
        FIELD(otel__otlp_decode_response(out, n, &rej, NULL, 0) == OTEL_OK
              && rej == 3, "no message buffer");
        FIELD(otel__otlp_decode_response((const uint8_t *)"\xff\xff\xff", 3,
                                         &rej, msg, sizeof(msg))
              == OTEL_EINVAL && rej == 0, "garbage is EINVAL");
    }
    report("decode_response", before);

    release_kept();
    otel__buf_free(&buf);
    p->processor = orig;
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
    /* A field check outside a reported group still fails the run. */
    return tap_done() || failed;
}
