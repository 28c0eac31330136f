/*
 * The simple span processor exports each span as it ends, on the caller's
 * thread; exporters none, console and memory live here too.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t otel__export_batch(otel__exporter *e, otel__span *const *spans,
                          size_t n)
{
    size_t lost;
    int r;

    if (n == 0) {
        return 0;
    }
    r = e->export_spans(e, spans, n);
    if (r == OTEL_ESTATE) {
        /* abandoned because the provider is shutting down */
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_SHUTDOWN, n);
    } else if (r < 0) {
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED, n);
        otel__stat_add(OTEL_STAT_EXPORT_FAILURES, 1);
    } else {
        if ((size_t)r > n) {
            r = (int)n;
        }
        otel__stat_add(OTEL_STAT_SPANS_EXPORTED, n - (size_t)r);
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_REJECTED, (size_t)r);
    }
    lost = r < 0 ? n : (size_t)r;
    if (r >= 0 && e->keeps_spans) {
        return lost;
    }
    if (n == 1) {
        otel__span_release(spans[0]);    /* the caller's own cache */
    } else {
        otel__span_release_many(spans, n);
    }
    return lost;
}

typedef struct {
    otel__processor  base;
    otel__exporter  *exporter;
    pthread_mutex_t  lock;      /* exporters are not reentrant */
} simple_processor;

static void simple_on_end(otel__processor *p, otel__span *s)
{
    simple_processor *sp = (simple_processor *)p;

    if (sp->exporter->thread_safe) {
        otel__export_batch(sp->exporter, &s, 1);
        return;
    }
    pthread_mutex_lock(&sp->lock);
    otel__export_batch(sp->exporter, &s, 1);
    pthread_mutex_unlock(&sp->lock);
}

static int simple_flush(otel__processor *p, int timeout_ms)
{
    OTEL__UNUSED(p);
    OTEL__UNUSED(timeout_ms);
    return OTEL_OK;
}

static void simple_destroy(otel__processor *p)
{
    simple_processor *sp = (simple_processor *)p;

    pthread_mutex_destroy(&sp->lock);
    free(sp);
}

otel__processor *otel__processor_simple_new(otel__exporter *e)
{
    simple_processor *sp = calloc(1, sizeof(*sp));

    if (!sp) {
        return NULL;
    }
    sp->base.on_end = simple_on_end;
    sp->base.force_flush = simple_flush;
    sp->base.shutdown = simple_flush;
    sp->base.destroy = simple_destroy;
    sp->exporter = e;
    pthread_mutex_init(&sp->lock, NULL);
    return &sp->base;
}

/* ---- none ----------------------------------------------------------------*/
static int none_export(otel__exporter *e, otel__span *const *spans, size_t n)
{
    OTEL__UNUSED(e);
    OTEL__UNUSED(spans);
    OTEL__UNUSED(n);
    return 0;
}

static void plain_destroy(otel__exporter *e)
{
    free(e);
}

otel__exporter *otel__exporter_none_new(void)
{
    otel__exporter *e = calloc(1, sizeof(*e));

    if (e) {
        e->export_spans = none_export;
        e->thread_safe = true;
        e->destroy = plain_destroy;
    }
    return e;
}

/* ---- memory --------------------------------------------------------------*/
typedef struct {
    otel__exporter  base;
    pthread_mutex_t lock;
    otel__span    **spans;
    size_t          n, cap;
} memory_exporter;

static int memory_export(otel__exporter *e, otel__span *const *spans,
                         size_t n)
{
    memory_exporter *m = (memory_exporter *)e;
    otel__span **ns;
    size_t cap;

    pthread_mutex_lock(&m->lock);
    if (m->n + n > m->cap) {
        cap = m->cap ? m->cap * 2 : 64;
        while (cap < m->n + n) {
            cap *= 2;
        }
        ns = realloc(m->spans, sizeof(*ns) * cap);
        if (!ns) {
            pthread_mutex_unlock(&m->lock);
            return OTEL_ENOMEM;
        }
        m->spans = ns;
        m->cap = cap;
    }
    memcpy(m->spans + m->n, spans, sizeof(*spans) * n);
    m->n += n;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static void memory_clear(memory_exporter *m)
{
    pthread_mutex_lock(&m->lock);
    otel__span_release_many(m->spans, m->n);
    m->n = 0;
    pthread_mutex_unlock(&m->lock);
}

static void memory_destroy(otel__exporter *e)
{
    memory_exporter *m = (memory_exporter *)e;

    memory_clear(m);
    free(m->spans);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

otel__exporter *otel__exporter_memory_new(void)
{
    memory_exporter *m = calloc(1, sizeof(*m));

    if (!m) {
        return NULL;
    }
    m->base.export_spans = memory_export;
    m->base.keeps_spans = true;
    m->base.thread_safe = true;
    m->base.destroy = memory_destroy;
    pthread_mutex_init(&m->lock, NULL);
    return &m->base;
}

static memory_exporter *memory_of(otel_provider *p)
{
    if (!p || p->cfg->exporter != OTEL_EXPORTER_MEMORY) {
        return NULL;
    }
    return (memory_exporter *)p->exporter;
}

OTEL_API size_t otel_memory_count(otel_provider *p)
{
    memory_exporter *m = memory_of(p);
    size_t n;

    if (!m) {
        return 0;
    }
    pthread_mutex_lock(&m->lock);
    n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

OTEL_API void otel_memory_clear(otel_provider *p)
{
    memory_exporter *m = memory_of(p);

    if (m) {
        memory_clear(m);
    }
}

static const otel__span *memory_get(otel_provider *p, size_t i)
{
    memory_exporter *m = memory_of(p);
    const otel__span *s = NULL;

    if (m) {
        pthread_mutex_lock(&m->lock);
        if (i < m->n) {
            s = m->spans[i];
        }
        pthread_mutex_unlock(&m->lock);
    }
    return s;
}

OTEL_API int otel_memory_span(otel_provider *p, size_t i, otel_span_view *v)
{
    const otel__span *s = memory_get(p, i);

    if (!s || !v) {
        return OTEL_EINVAL;
    }
    memset(v, 0, sizeof(*v));
    v->name = s->name.p;
    v->name_len = s->name.len;
    v->status_desc = s->status_desc.p;
    v->status_desc_len = s->status_desc.len;
    v->trace_state = s->trace_state.p;
    v->trace_state_len = s->trace_state.len;
    v->scope_name = s->scope->name.p;
    v->scope_name_len = s->scope->name.len;
    v->scope_version = s->scope->version.p;
    v->scope_version_len = s->scope->version.len;
    v->scope_schema_url = s->scope->schema_url.p;
    v->scope_schema_url_len = s->scope->schema_url.len;
    v->n_scope_attrs = s->scope->attrs.n;
    v->start_ns = s->start_ns;
    v->end_ns = s->end_ns;
    v->n_attrs = s->attrs.n;
    v->n_events = s->n_events;
    v->n_links = s->n_links;
    v->dropped_attrs = s->attrs.dropped;
    v->dropped_events = s->dropped_events;
    v->dropped_links = s->dropped_links;
    v->kind = s->kind;
    v->status_code = s->status_code;
    memcpy(v->trace_id, s->trace_id, 16);
    memcpy(v->span_id, s->span_id, 8);
    memcpy(v->parent_span_id, s->parent_span_id, 8);
    v->has_parent = s->has_parent;
    v->parent_remote = s->parent_remote;
    v->trace_flags = s->trace_flags;
    return OTEL_OK;
}

static int attr_view(const otel__attrs *list, uint32_t j, int32_t e,
                     otel_attr_view *v)
{
    const otel__attr *a;
    int base;

    if (!list || j >= list->n || !v) {
        return OTEL_EINVAL;
    }
    a = &list->a[j];
    memset(v, 0, sizeof(*v));
    v->key = a->key.p;
    v->key_len = a->key.len;
    v->type = a->v.type;
    v->n = a->v.n;
    if (!(a->v.type & OTEL_VT_ARRAY)) {
        v->s = a->v.type == OTEL_VT_STRING ? a->v.u.s : NULL;
        v->i = a->v.u.i;
        v->d = a->v.type == OTEL_VT_DOUBLE ? a->v.u.d : 0;
        v->b = a->v.type == OTEL_VT_BOOL ? a->v.u.b : 0;
        return OTEL_OK;
    }
    if (e < 0) {
        return OTEL_OK;
    }
    if ((uint32_t)e >= a->v.n) {
        return OTEL_EINVAL;
    }
    base = a->v.type & ~OTEL_VT_ARRAY;
    v->type = base;
    switch (base) {
    case OTEL_VT_STRING:
        v->s = a->v.u.sa[e].p;
        v->n = a->v.u.sa[e].len;
        break;
    case OTEL_VT_BOOL:
        v->b = a->v.u.ba[e];
        break;
    case OTEL_VT_INT:
        v->i = a->v.u.ia[e];
        break;
    default:
        v->d = a->v.u.da[e];
        break;
    }
    return OTEL_OK;
}

OTEL_API int otel_memory_attr(otel_provider *p, size_t i, int32_t target,
                              uint32_t j, int32_t e, otel_attr_view *out)
{
    const otel__span *s = memory_get(p, i);
    const otel__attrs *list = NULL;

    if (!s) {
        return OTEL_EINVAL;
    }
    if (target == OTEL_TARGET_SCOPE) {
        list = &s->scope->attrs;
    } else if (target == OTEL_TARGET_SPAN) {
        list = &s->attrs;
    } else if (target > 0 && (uint32_t)(target - 1) < s->n_events) {
        list = &s->events[target - 1].attrs;
    } else if (target < 0 && (uint32_t)(-(target + 1)) < s->n_links) {
        list = &s->links[-(target + 1)].attrs;
    }
    return attr_view(list, j, e, out);
}

OTEL_API int otel_memory_event(otel_provider *p, size_t i, uint32_t j,
                               otel_event_view *out)
{
    const otel__span *s = memory_get(p, i);
    const otel__event *ev;

    if (!s || j >= s->n_events || !out) {
        return OTEL_EINVAL;
    }
    ev = &s->events[j];
    out->name = ev->name.p;
    out->name_len = ev->name.len;
    out->time_ns = ev->time_ns;
    out->n_attrs = ev->attrs.n;
    out->dropped_attrs = ev->attrs.dropped;
    return OTEL_OK;
}

OTEL_API int otel_memory_link(otel_provider *p, size_t i, uint32_t j,
                              otel_link_view *out)
{
    const otel__span *s = memory_get(p, i);
    const otel__link *l;

    if (!s || j >= s->n_links || !out) {
        return OTEL_EINVAL;
    }
    l = &s->links[j];
    memcpy(out->trace_id, l->trace_id, 16);
    memcpy(out->span_id, l->span_id, 8);
    out->trace_flags = l->trace_flags;
    out->remote = l->remote;
    out->trace_state = l->trace_state.p;
    out->trace_state_len = l->trace_state.len;
    out->n_attrs = l->attrs.n;
    out->dropped_attrs = l->attrs.dropped;
    return OTEL_OK;
}

OTEL_API uint32_t otel_resource_count(otel_provider *p)
{
    return p ? p->resource.n : 0;
}

OTEL_API int otel_resource_attr(otel_provider *p, uint32_t j,
                                otel_attr_view *out)
{
    return attr_view(p ? &p->resource : NULL, j, -1, out);
}
