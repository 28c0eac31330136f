/*
 * Console exporter: one JSON object per span in the shape of the Python
 * SDK's ConsoleSpanExporter (indent 4, ISO times, 0x-prefixed ids).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

typedef struct {
    otel__exporter base;
    const otel__attrs *resource;
    int            fd;
    int            format;     /* 0 json, 1 tree, 2 both */
    pthread_mutex_t lock;      /* the tree is shared with flush */
    otel__tree    *tree;
} console_exporter;

static const char *const kind_names[] = {
    "SpanKind.INTERNAL", "SpanKind.SERVER", "SpanKind.CLIENT",
    "SpanKind.PRODUCER", "SpanKind.CONSUMER"
};
static const char *const status_names[] = { "UNSET", "OK", "ERROR" };

static void put_indent(otel__buf *b, int level)
{
    static const char spaces[] = "                                ";
    int n = level * 4;

    while (n > 0) {
        otel__buf_put(b, spaces, n > 32 ? 32 : (size_t)n);
        n -= 32;
    }
}

static void put_time(otel__buf *b, int64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    char tmp[64];

    gmtime_r(&secs, &tm);
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    otel__buf_printf(b, "\"%s.%06ldZ\"", tmp,
                     (long)((ns % 1000000000) / 1000));
}

static void put_hex(otel__buf *b, const uint8_t *id, size_t n)
{
    char tmp[40];

    tmp[0] = '"';
    tmp[1] = '0';
    tmp[2] = 'x';
    otel_hex_encode(id, n, tmp + 3);
    tmp[3 + 2 * n] = '"';
    otel__buf_put(b, tmp, 4 + 2 * n);
}

static void put_scalar(otel__buf *b, int type, const otel__value *v,
                       uint32_t e)
{
    switch (type) {
    case OTEL_VT_STRING:
        if (v->type & OTEL_VT_ARRAY) {
            otel__buf_json_str(b, v->u.sa[e].p, v->u.sa[e].len);
        } else {
            otel__buf_json_str(b, v->u.s, v->n);
        }
        break;
    case OTEL_VT_BOOL:
        otel__buf_puts(b, ((v->type & OTEL_VT_ARRAY) ? v->u.ba[e] : v->u.b)
                          ? "true" : "false");
        break;
    case OTEL_VT_INT:
        otel__buf_printf(b, "%lld", (long long)((v->type & OTEL_VT_ARRAY)
                                                ? v->u.ia[e] : v->u.i));
        break;
    default:
        otel__buf_json_double(b, (v->type & OTEL_VT_ARRAY) ? v->u.da[e]
                                                           : v->u.d);
        break;
    }
}

static void put_attrs(otel__buf *b, const otel__attrs *list, int level)
{
    const otel__attr *a;
    uint32_t i, e;

    if (list->n == 0) {
        otel__buf_puts(b, "{}");
        return;
    }
    otel__buf_puts(b, "{\n");
    for (i = 0; i < list->n; i++) {
        a = &list->a[i];
        put_indent(b, level + 1);
        otel__buf_json_str(b, a->key.p, a->key.len);
        otel__buf_puts(b, ": ");
        if (a->v.type & OTEL_VT_ARRAY) {
            otel__buf_puts(b, "[");
            for (e = 0; e < a->v.n; e++) {
                if (e) {
                    otel__buf_puts(b, ", ");
                }
                put_scalar(b, a->v.type & ~OTEL_VT_ARRAY, &a->v, e);
            }
            otel__buf_puts(b, "]");
        } else {
            put_scalar(b, a->v.type, &a->v, 0);
        }
        otel__buf_puts(b, i + 1 < list->n ? ",\n" : "\n");
    }
    put_indent(b, level);
    otel__buf_puts(b, "}");
}

static void put_context(otel__buf *b, const uint8_t *tid, const uint8_t *sid,
                        const otel__str *ts, int level)
{
    otel__buf_puts(b, "{\n");
    put_indent(b, level + 1);
    otel__buf_puts(b, "\"trace_id\": ");
    put_hex(b, tid, 16);
    otel__buf_puts(b, ",\n");
    put_indent(b, level + 1);
    otel__buf_puts(b, "\"span_id\": ");
    put_hex(b, sid, 8);
    otel__buf_puts(b, ",\n");
    put_indent(b, level + 1);
    otel__buf_puts(b, "\"trace_state\": ");
    if (ts->len) {
        otel__buf_json_str(b, ts->p, ts->len);
    } else {
        otel__buf_puts(b, "\"[]\"");
    }
    otel__buf_puts(b, "\n");
    put_indent(b, level);
    otel__buf_puts(b, "}");
}

/* "key": at level 1 */
static void field(otel__buf *b, const char *name)
{
    otel__buf_puts(b, ",\n    \"");
    otel__buf_puts(b, name);
    otel__buf_puts(b, "\": ");
}

void otel__console_json(otel__buf *b, const otel__span *s,
                        const otel__attrs *resource)
{
    uint32_t i;

    otel__buf_puts(b, "{\n    \"name\": ");
    otel__buf_json_str(b, s->name.p, s->name.len);
    field(b, "context");
    put_context(b, s->trace_id, s->span_id, &s->trace_state, 1);
    field(b, "kind");
    otel__buf_printf(b, "\"%s\"", kind_names[s->kind]);
    field(b, "parent_id");
    if (s->has_parent) {
        put_hex(b, s->parent_span_id, 8);
    } else {
        otel__buf_puts(b, "null");
    }
    field(b, "start_time");
    put_time(b, s->start_ns);
    field(b, "end_time");
    put_time(b, s->end_ns);
    field(b, "status");
    otel__buf_printf(b, "{\n        \"status_code\": \"%s\"",
                     status_names[s->status_code]);
    if (s->status_desc.len) {
        otel__buf_puts(b, ",\n        \"description\": ");
        otel__buf_json_str(b, s->status_desc.p, s->status_desc.len);
    }
    otel__buf_puts(b, "\n    }");
    field(b, "attributes");
    put_attrs(b, &s->attrs, 1);
    field(b, "events");
    otel__buf_puts(b, s->n_events ? "[\n" : "[]");
    for (i = 0; i < s->n_events; i++) {
        const otel__event *e = &s->events[i];
        otel__buf_puts(b, "        {\n            \"name\": ");
        otel__buf_json_str(b, e->name.p, e->name.len);
        otel__buf_puts(b, ",\n            \"timestamp\": ");
        put_time(b, e->time_ns);
        otel__buf_puts(b, ",\n            \"attributes\": ");
        put_attrs(b, &e->attrs, 3);
        otel__buf_puts(b, i + 1 < s->n_events ? "\n        },\n"
                                              : "\n        }\n    ]");
    }
    field(b, "links");
    otel__buf_puts(b, s->n_links ? "[\n" : "[]");
    for (i = 0; i < s->n_links; i++) {
        const otel__link *l = &s->links[i];
        otel__buf_puts(b, "        {\n            \"context\": ");
        put_context(b, l->trace_id, l->span_id, &l->trace_state, 3);
        otel__buf_puts(b, ",\n            \"attributes\": ");
        put_attrs(b, &l->attrs, 3);
        otel__buf_puts(b, i + 1 < s->n_links ? "\n        },\n"
                                             : "\n        }\n    ]");
    }
    field(b, "resource");
    otel__buf_puts(b, "{\n        \"attributes\": ");
    put_attrs(b, resource, 2);
    otel__buf_puts(b, ",\n        \"schema_url\": \"\"\n    }\n}\n");
}

static void write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n) {
        w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static int console_export(otel__exporter *e, otel__span *const *spans,
                          size_t n)
{
    console_exporter *c = (console_exporter *)e;
    otel__buf b = { 0 };
    size_t i;

    for (i = 0; i < n; i++) {
        if (c->format != 1) {
            otel__console_json(&b, spans[i], c->resource);
        }
        if (c->format != 0) {
            pthread_mutex_lock(&c->lock);
            otel__tree_add(c->tree, spans[i], &b);
            pthread_mutex_unlock(&c->lock);
        }
    }
    if (b.oom) {
        otel__buf_free(&b);
        return OTEL_ENOMEM;
    }
    write_all(c->fd, b.buf, b.len);
    otel__buf_free(&b);
    return 0;
}

static int console_flush(otel__exporter *e, int timeout_ms)
{
    console_exporter *c = (console_exporter *)e;
    otel__buf b = { 0 };

    OTEL__UNUSED(timeout_ms);
    if (c->tree) {
        pthread_mutex_lock(&c->lock);
        otel__tree_flush(c->tree, &b);
        pthread_mutex_unlock(&c->lock);
        write_all(c->fd, b.buf, b.len);
        otel__buf_free(&b);
    }
    return OTEL_OK;
}

static void console_shutdown(otel__exporter *e)
{
    console_flush(e, 0);
}

static void console_destroy(otel__exporter *e)
{
    console_exporter *c = (console_exporter *)e;

    otel__tree_free(c->tree);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

otel__exporter *otel__exporter_console_new(const otel_config *cfg,
                                           const otel__attrs *resource)
{
    console_exporter *c = calloc(1, sizeof(*c));

    if (!c) {
        return NULL;
    }
    c->base.export_spans = console_export;
    c->base.flush = console_flush;
    c->base.shutdown = console_shutdown;
    c->base.destroy = console_destroy;
    c->resource = resource;
    c->fd = (int)cfg->console_fd;
    c->format = (int)cfg->console_format;
    pthread_mutex_init(&c->lock, NULL);
    if (c->format != 0 && !(c->tree = otel__tree_new())) {
        console_destroy(&c->base);
        return NULL;
    }
    return &c->base;
}
