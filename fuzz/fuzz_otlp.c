/*
 * otel__otlp_encode() against protobuf-c's generated unpacker.
 *
 * Input: six limit bytes, resource attributes of every type and a
 * service name, three tracers, then spans until the input ends: tracer,
 * parent (none, an earlier span, a made-up remote or local context),
 * kind, name, start time, a run of operations (attributes of every type,
 * arrays included, on the span, an event or a link; events; links;
 * status; trace state; a new name), end time.  A processor keeps the
 * ended records.  Then how the output buffer starts (empty, or with
 * bytes and room already in it) and where the batch is split: the
 * records go out in two requests appended to one buffer.
 *
 * Checks: the bytes before the requests are untouched; each request
 * unpacks; it holds one ResourceSpans with the provider's resource, one
 * ScopeSpans per scope in order of first appearance with the spans of
 * that scope in their order, and every field of every span, event, link,
 * attribute and array element equals the record it came from (strings up
 * to a NUL, which protobuf-c's char * cannot carry); every string on the
 * wire is valid UTF-8; and when no string holds a NUL, protobuf-c sizes
 * the unpacked request at exactly the encoded length.
 */
#include "internal.h"
#include "otlp.h"
#include "trace.pb-c.h"
#include "fuzz.h"

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

#define OT_MAX_SPANS 64
#define OT_MAX_ARR   6

/* ---- a processor that keeps the ended records --------------------------*/
static otel__span *ot_kept[OT_MAX_SPANS];
static size_t ot_n_kept;

static void ot_on_end(otel__processor *p, otel__span *s)
{
    (void)p;
    FZ_CHECK(ot_n_kept < OT_MAX_SPANS, "too many spans");
    ot_kept[ot_n_kept++] = s;
}

static int ot_flush(otel__processor *p, int timeout_ms)
{
    (void)p;
    (void)timeout_ms;
    return OTEL_OK;
}

static void ot_destroy(otel__processor *p)
{
    (void)p;
}

static otel__processor ot_keeper = {
    ot_on_end, ot_flush, ot_flush, ot_destroy
};

/* ---- building spans -------------------------------------------------------*/
static double ot_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

static int64_t ot_limit(fz_in *in)
{
    uint8_t b = fz_u8(in);

    return b >= 0xf0 ? -1 : b % 8;
}

static void ot_config(fz_in *in, otel_config *cfg)
{
    static const int keys[] = {
        OTEL_CFG_ATTR_COUNT, OTEL_CFG_ATTR_VALUE_LENGTH, OTEL_CFG_EVENT_COUNT,
        OTEL_CFG_LINK_COUNT, OTEL_CFG_EVENT_ATTR_COUNT,
        OTEL_CFG_LINK_ATTR_COUNT
    };
    size_t i, n;
    int64_t v;
    fz_str k, s;

    for (i = 0; i < 6; i++) {
        v = ot_limit(in);
        if (v >= 0 || keys[i] == OTEL_CFG_ATTR_VALUE_LENGTH) {
            otel_config_set_int(cfg, keys[i], v);
        }
    }
    n = fz_u8(in) % 6;
    for (i = 0; i < n; i++) {
        uint8_t t = fz_u8(in);
        k = fz_string(in);
        switch (t % 4) {
        case 0:
            s = fz_string(in);
            otel_config_resource_str(cfg, k.s, k.n, s.s ? s.s : "", s.n);
            break;
        case 1:
            otel_config_resource_int(cfg, k.s, k.n, (int64_t)fz_u64(in));
            break;
        case 2:
            otel_config_resource_double(cfg, k.s, k.n,
                                        ot_double(fz_u64(in)));
            break;
        default:
            otel_config_resource_bool(cfg, k.s, k.n, t & 4);
            break;
        }
    }
    if (fz_u8(in) & 1) {
        s = fz_string(in);
        otel_config_set_str(cfg, OTEL_CFG_SERVICE_NAME, s.s ? s.s : "", s.n);
    }
}

static void ot_read_ctx(fz_in *in, otel_span_handle *c)
{
    memset(c, 0, sizeof(*c));
    fz_fill(in, c->trace_id, 16);
    fz_fill(in, c->span_id, 8);
    c->trace_flags = fz_u8(in);
    c->remote = fz_u8(in) & 1;
}

static int32_t ot_target(fz_in *in)
{
    uint8_t t = fz_u8(in);

    switch (t % 3) {
    case 0:
        return OTEL_TARGET_SPAN;
    case 1:
        return OTEL_TARGET_EVENT((t >> 2) % 4);
    default:
        return OTEL_TARGET_LINK((t >> 2) % 4);
    }
}

static void ot_attr(fz_in *in, const otel_span_handle *h)
{
    int32_t target = ot_target(in);
    uint8_t t = fz_u8(in);
    fz_str k = fz_string(in), v;
    const char *strs[OT_MAX_ARR];
    size_t lens[OT_MAX_ARR], i, n;
    int64_t ints[OT_MAX_ARR];
    double dbls[OT_MAX_ARR];
    int bools[OT_MAX_ARR], et;
    const void *vals;

    switch (t % 5) {
    case 0:
        v = fz_string(in);
        otel_attr_str(h, target, k.s, k.n, v.s, v.n);
        return;
    case 1:
        otel_attr_int(h, target, k.s, k.n, (int64_t)fz_u64(in));
        return;
    case 2:
        otel_attr_double(h, target, k.s, k.n, ot_double(fz_u64(in)));
        return;
    case 3:
        otel_attr_bool(h, target, k.s, k.n, (t >> 3) & 1);
        return;
    }
    et = 1 + (t >> 3) % 4;
    n = fz_u8(in) % (OT_MAX_ARR + 1);
    for (i = 0; i < n; i++) {
        switch (et) {
        case OTEL_VT_STRING:
            v = fz_string(in);
            strs[i] = v.s ? v.s : "";
            lens[i] = v.n;
            break;
        case OTEL_VT_BOOL:
            bools[i] = (int8_t)fz_u8(in);
            break;
        case OTEL_VT_INT:
            ints[i] = (int64_t)fz_u64(in);
            break;
        default:
            dbls[i] = ot_double(fz_u64(in));
            break;
        }
    }
    vals = et == OTEL_VT_STRING ? (const void *)strs
           : et == OTEL_VT_BOOL ? (const void *)bools
           : et == OTEL_VT_INT ? (const void *)ints : (const void *)dbls;
    otel_attr_array(h, target, k.s, k.n, et, vals, lens, n);
}

static void ot_span(fz_in *in, otel_tracer *const *tracers,
                    otel_span_handle *prev, size_t n_prev)
{
    otel_span_handle parent, *pp = NULL, h;
    uint8_t pm = fz_u8(in), ops, op;
    fz_str s;
    int kind;
    int64_t start;

    switch (pm % 4) {
    case 1:
        if (n_prev) {
            parent = prev[(pm >> 2) % n_prev];
            pp = &parent;
        }
        break;
    case 2:
        ot_read_ctx(in, &parent);
        parent.trace_flags |= 1;    /* sampled, or nothing is recorded */
        pp = &parent;
        break;
    }
    kind = fz_u8(in) % 5;
    s = fz_string(in);
    start = (int64_t)fz_u64(in);
    if (otel_span_start(tracers[(pm >> 4) % 3], pp, s.s, s.n, kind, start,
                        &h) != OTEL_OK || !h.rec) {
        return;
    }
    prev[n_prev] = h;
    ops = fz_u8(in) % 16;
    while (ops-- && in->n) {
        op = fz_u8(in);
        switch (op % 8) {
        case 0: case 1: case 2:
            ot_attr(in, &h);
            break;
        case 3:
            s = fz_string(in);
            otel_span_add_event(&h, s.s, s.n, (int64_t)fz_u64(in));
            break;
        case 4:
            if (op & 8 && n_prev) {
                parent = prev[(op >> 4) % n_prev];
            } else {
                ot_read_ctx(in, &parent);
            }
            s = fz_string(in);
            otel_span_add_link(&h, &parent, s.s, s.n, 0);
            break;
        case 5:
            s = fz_string(in);
            otel_span_set_status(&h, (op >> 3) % 3, s.s, s.n);
            break;
        case 6:
            s = fz_string(in);
            otel_span_set_trace_state(&h, s.s, s.n);
            break;
        default:
            s = fz_string(in);
            otel_span_update_name(&h, s.s, s.n);
            break;
        }
    }
    otel_span_end(&h, (int64_t)fz_u64(in));
}

/* ---- comparing ------------------------------------------------------------*/

/* Whether any string of the records holds a NUL (protobuf-c cuts it). */
static bool ot_nul(const char *p, size_t n)
{
    return n && memchr(p, 0, n) != NULL;
}

static bool ot_attrs_nul(const otel__attrs *l)
{
    uint32_t i, e;

    for (i = 0; i < l->n; i++) {
        const otel__attr *a = &l->a[i];
        if (ot_nul(a->key.p, a->key.len)
            || (a->v.type == OTEL_VT_STRING && ot_nul(a->v.u.s, a->v.n))) {
            return true;
        }
        if (a->v.type == (OTEL_VT_ARRAY | OTEL_VT_STRING)) {
            for (e = 0; e < a->v.n; e++) {
                if (ot_nul(a->v.u.sa[e].p, a->v.u.sa[e].len)) {
                    return true;
                }
            }
        }
    }
    return false;
}

static bool ot_span_nul(const otel__span *s)
{
    uint32_t i;

    if (ot_nul(s->name.p, s->name.len) || ot_attrs_nul(&s->attrs)
        || ot_nul(s->trace_state.p, s->trace_state.len)
        || ot_nul(s->status_desc.p, s->status_desc.len)
        || ot_nul(s->scope->name.p, s->scope->name.len)
        || ot_nul(s->scope->version.p, s->scope->version.len)) {
        return true;
    }
    for (i = 0; i < s->n_events; i++) {
        if (ot_nul(s->events[i].name.p, s->events[i].name.len)
            || ot_attrs_nul(&s->events[i].attrs)) {
            return true;
        }
    }
    for (i = 0; i < s->n_links; i++) {
        if (ot_nul(s->links[i].trace_state.p, s->links[i].trace_state.len)
            || ot_attrs_nul(&s->links[i].attrs)) {
            return true;
        }
    }
    return false;
}

/* A wire string against a record string: valid UTF-8 (the record whole),
 * equal up to the record's first NUL; absent reads as "". */
static void ot_str(const char *what, const char *got, const char *p,
                   size_t n)
{
    size_t cut = n ? strnlen(p, n) : 0;

    if (!got) {
        got = "";
    }
    FZ_CHECK(fz_utf8_valid(p, n, NULL), "%s not UTF-8: %s", what,
             fz_hex(p, n));
    FZ_CHECK(fz_eq(got, strlen(got), p, cut), "%s: %s", what,
             fz_hex(got, strlen(got)));
}

static void ot_bytes(const char *what, ProtobufCBinaryData b,
                     const uint8_t *p, size_t n)
{
    FZ_CHECK(b.len == n && (n == 0 || memcmp(b.data, p, n) == 0), "%s",
             what);
}

static void ot_scalar(const AnyValue *v, int type, const otel__value *rv,
                      uint32_t i)
{
    bool arr = (rv->type & OTEL_VT_ARRAY) != 0;
    double d;

    FZ_CHECK(v, "value missing");
    switch (type) {
    case OTEL_VT_STRING:
        FZ_CHECK(v->value_case == AV(STRING_VALUE), "string: case %d",
                 v->value_case);
        ot_str("string value", v->string_value,
               arr ? rv->u.sa[i].p : rv->u.s,
               arr ? rv->u.sa[i].len : rv->n);
        break;
    case OTEL_VT_BOOL:
        FZ_CHECK(v->value_case == AV(BOOL_VALUE), "bool: case %d",
                 v->value_case);
        FZ_CHECK(v->bool_value == (arr ? rv->u.ba[i] != 0 : rv->u.b != 0),
                 "bool value");
        break;
    case OTEL_VT_INT:
        FZ_CHECK(v->value_case == AV(INT_VALUE), "int: case %d",
                 v->value_case);
        FZ_CHECK(v->int_value == (arr ? rv->u.ia[i] : rv->u.i), "int value");
        break;
    default:
        FZ_CHECK(v->value_case == AV(DOUBLE_VALUE), "double: case %d",
                 v->value_case);
        d = arr ? rv->u.da[i] : rv->u.d;
        FZ_CHECK(memcmp(&v->double_value, &d, sizeof(d)) == 0,
                 "double value");
        break;
    }
}

static void ot_attrs(KeyValue *const *kv, size_t n, const otel__attrs *l)
{
    const otel__attr *a;
    uint32_t i, e;

    FZ_CHECK(n == l->n, "%zu attributes, record %u", n, l->n);
    for (i = 0; i < l->n; i++) {
        a = &l->a[i];
        ot_str("key", kv[i]->key, a->key.p, a->key.len);
        FZ_CHECK(a->key.len > 0, "empty key");
        if (!(a->v.type & OTEL_VT_ARRAY)) {
            ot_scalar(kv[i]->value, a->v.type, &a->v, 0);
            continue;
        }
        FZ_CHECK(kv[i]->value && kv[i]->value->value_case == AV(ARRAY_VALUE)
                 && kv[i]->value->array_value, "array value");
        FZ_CHECK(kv[i]->value->array_value->n_values == a->v.n,
                 "array of %zu, record %u",
                 kv[i]->value->array_value->n_values, a->v.n);
        for (e = 0; e < a->v.n; e++) {
            ot_scalar(kv[i]->value->array_value->values[e],
                      a->v.type & ~OTEL_VT_ARRAY, &a->v, e);
        }
    }
}

static void ot_check_span(const Span *sp, const otel__span *r)
{
    uint32_t flags, i;

    ot_bytes("trace_id", sp->trace_id, r->trace_id, 16);
    ot_bytes("span_id", sp->span_id, r->span_id, 8);
    ot_bytes("parent_span_id", sp->parent_span_id, r->parent_span_id,
             r->has_parent ? 8 : 0);
    ot_str("trace_state", sp->trace_state, r->trace_state.p,
           r->trace_state.len);
    ot_str("name", sp->name, r->name.p, r->name.len);
    FZ_CHECK((int)sp->kind == r->kind + 1, "kind %d", sp->kind);
    FZ_CHECK(sp->start_time_unix_nano == (uint64_t)r->start_ns, "start");
    FZ_CHECK(sp->end_time_unix_nano == (uint64_t)r->end_ns, "end");
    ot_attrs(sp->attributes, sp->n_attributes, &r->attrs);
    FZ_CHECK(sp->dropped_attributes_count == r->attrs.dropped,
             "dropped attributes");
    FZ_CHECK(sp->n_events == r->n_events, "%zu events", sp->n_events);
    for (i = 0; i < r->n_events; i++) {
        const Event *ev = sp->events[i];
        const otel__event *re = &r->events[i];
        FZ_CHECK(ev->time_unix_nano == (uint64_t)re->time_ns, "event time");
        ot_str("event name", ev->name, re->name.p, re->name.len);
        ot_attrs(ev->attributes, ev->n_attributes, &re->attrs);
        FZ_CHECK(ev->dropped_attributes_count == re->attrs.dropped,
                 "event dropped");
    }
    FZ_CHECK(sp->dropped_events_count == r->dropped_events,
             "dropped events");
    FZ_CHECK(sp->n_links == r->n_links, "%zu links", sp->n_links);
    for (i = 0; i < r->n_links; i++) {
        const Link *l = sp->links[i];
        const otel__link *rl = &r->links[i];
        ot_bytes("link trace_id", l->trace_id, rl->trace_id, 16);
        ot_bytes("link span_id", l->span_id, rl->span_id, 8);
        ot_str("link trace_state", l->trace_state, rl->trace_state.p,
               rl->trace_state.len);
        ot_attrs(l->attributes, l->n_attributes, &rl->attrs);
        FZ_CHECK(l->dropped_attributes_count == rl->attrs.dropped,
                 "link dropped");
        flags = rl->trace_flags | 0x100u | (rl->remote ? 0x200u : 0);
        FZ_CHECK(l->flags == flags, "link flags 0x%x, want 0x%x", l->flags,
                 flags);
    }
    FZ_CHECK(sp->dropped_links_count == r->dropped_links, "dropped links");
    if (r->status_code == OTEL_STATUS_UNSET) {
        FZ_CHECK(!sp->status || sp->status->code == 0, "status unset");
    } else {
        FZ_CHECK(sp->status && (int)sp->status->code == r->status_code,
                 "status code");
        ot_str("status message", sp->status->message,
               r->status_code == OTEL_STATUS_ERROR ? r->status_desc.p : "",
               r->status_code == OTEL_STATUS_ERROR ? r->status_desc.len : 0);
    }
    flags = r->trace_flags | 0x100u
            | (r->has_parent && r->parent_remote ? 0x200u : 0);
    FZ_CHECK(sp->flags == flags, "flags 0x%x, want 0x%x", sp->flags, flags);
}

/* One request against records spans[0..n). */
static void ot_check_request(otel_provider *p, otel__span *const *spans,
                             size_t n, const uint8_t *buf, size_t len)
{
    const otel__scope *groups[OT_MAX_SPANS];
    const ResourceSpans *rs;
    size_t i, j, g, ng = 0, seen = 0, next;
    bool nul = false;
    Req *req;

    req = PB(export_trace_service_request__unpack)(NULL, len, buf);
    FZ_CHECK(req, "protobuf-c cannot unpack %zu bytes", len);
    FZ_CHECK(req->n_resource_spans == 1, "%zu ResourceSpans",
             req->n_resource_spans);
    rs = req->resource_spans[0];
    FZ_CHECK(rs->resource, "no resource");
    ot_attrs(rs->resource->attributes, rs->resource->n_attributes,
             &p->resource);
    FZ_CHECK(rs->resource->dropped_attributes_count == p->resource.dropped,
             "resource dropped");
    nul = ot_attrs_nul(&p->resource);

    /* The groups, in order of first appearance. */
    for (i = 0; i < n; i++) {
        for (g = 0; g < ng && groups[g] != spans[i]->scope; g++) {
        }
        if (g == ng) {
            groups[ng++] = spans[i]->scope;
        }
        nul = nul || ot_span_nul(spans[i]);
    }
    FZ_CHECK(rs->n_scope_spans == ng, "%zu ScopeSpans, expected %zu",
             rs->n_scope_spans, ng);
    for (g = 0; g < ng; g++) {
        const ScopeSpans *ss = rs->scope_spans[g];
        FZ_CHECK(ss->scope, "no scope");
        ot_str("scope name", ss->scope->name, groups[g]->name.p,
               groups[g]->name.len);
        ot_str("scope version", ss->scope->version, groups[g]->version.p,
               groups[g]->version.len);
        /* The spans of this scope, in their order. */
        for (i = next = 0; i < n; i++) {
            if (spans[i]->scope != groups[g]) {
                continue;
            }
            FZ_CHECK(next < ss->n_spans, "scope %zu: too few spans", g);
            ot_check_span(ss->spans[next++], spans[i]);
        }
        FZ_CHECK(next == ss->n_spans, "scope %zu: %zu spans, expected %zu",
                 g, ss->n_spans, next);
        seen += next;
    }
    FZ_CHECK(seen == n, "%zu spans, expected %zu", seen, n);
    if (!nul) {
        j = PB(export_trace_service_request__get_packed_size)(req);
        FZ_CHECK(j == len, "protobuf-c sizes it at %zu bytes, encoded %zu",
                 j, len);
    }
    PB(export_trace_service_request__free_unpacked)(req, NULL);
}

/* ---- the target -----------------------------------------------------------*/
static void otlp_init(void)
{
    fz_clear_env();
    fz_dict_init();
}

static void otlp_run(const uint8_t *data, size_t size)
{
    otel_span_handle prev[OT_MAX_SPANS];
    otel_tracer *tracers[3];
    otel_provider *p;
    otel_config *cfg;
    otel__buf out = { 0 };
    fz_in in = { data, size };
    size_t i, n_prev = 0, split, len0, len1;
    uint8_t mode, *pre = NULL;
    fz_str nm, ver;
    int rc;

    cfg = otel_config_new();
    FZ_CHECK(cfg, "otel_config_new");
    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_NONE);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    ot_config(&in, cfg);
    p = otel_provider_new(cfg, &rc);
    FZ_CHECK(p && rc == OTEL_OK, "otel_provider_new: %d", rc);
    p->processor->destroy(p->processor);
    p->processor = &ot_keeper;
    for (i = 0; i < 3; i++) {
        nm = fz_string(&in);
        ver = fz_string(&in);
        tracers[i] = otel_provider_tracer(p, nm.s, nm.n, ver.s, ver.n);
        FZ_CHECK(tracers[i], "tracer");
    }
    mode = fz_u8(&in);
    split = fz_u8(&in);
    ot_n_kept = 0;
    while (in.n && n_prev < OT_MAX_SPANS) {
        ot_span(&in, tracers, prev, n_prev);
        n_prev = ot_n_kept;
    }
    split %= ot_n_kept + 1;

    /* The buffer: empty, or already holding bytes (and maybe room). */
    if (mode & 1) {
        out.cap = 1 + (mode >> 1) * 37u;
        out.len = (mode >> 1) % (out.cap + 1);
        out.buf = malloc(out.cap);
        memset(out.buf, 0x5a, out.cap);
        pre = malloc(out.len + 1);
        memcpy(pre, out.buf, out.len);
    }
    len0 = out.len;
    rc = otel__otlp_encode(&p->resource, ot_kept, split, &out);
    FZ_CHECK(rc == OTEL_OK, "encode: %d", rc);
    len1 = out.len;
    rc = otel__otlp_encode(&p->resource, ot_kept + split,
                           ot_n_kept - split, &out);
    FZ_CHECK(rc == OTEL_OK, "encode: %d", rc);
    FZ_CHECK(out.len >= len1 && len1 >= len0 && out.len <= out.cap,
             "lengths %zu %zu %zu cap %zu", len0, len1, out.len, out.cap);
    FZ_CHECK(!pre || memcmp(out.buf, pre, len0) == 0,
             "bytes before the request changed");
    ot_check_request(p, ot_kept, split, (uint8_t *)out.buf + len0,
                     len1 - len0);
    ot_check_request(p, ot_kept + split, ot_n_kept - split,
                     (uint8_t *)out.buf + len1, out.len - len1);

    otel__buf_free(&out);
    free(pre);
    otel__span_release_many(ot_kept, ot_n_kept);
    ot_n_kept = 0;
    otel_provider_free(p);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    otlp_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    otlp_run(data, size);
    return 0;
}
#endif
