/*
 * Read-only views of what the memory exporter kept and of a provider's
 * resource, for the binding (otel.memory): plain structs filled from the
 * records, so Lua never needs their layout.
 */
#include <string.h>

#include "internal.h"

/* The provider's memory exporter, or NULL. */
static otel__exporter *memory_of(otel_provider *p)
{
    if (!p || p->cfg->exporter != OTEL_EXPORTER_MEMORY) {
        return NULL;
    }
    return p->exporter;
}

OTEL_API size_t otel_memory_count(otel_provider *p)
{
    otel__exporter *m = memory_of(p);

    return m ? otel__memory_count(m) : 0;
}

OTEL_API void otel_memory_clear(otel_provider *p)
{
    otel__exporter *m = memory_of(p);

    if (m) {
        otel__memory_clear(m);
    }
}

static const otel__span *memory_get(otel_provider *p, size_t i)
{
    otel__exporter *m = memory_of(p);

    return m ? otel__memory_get(m, i) : NULL;
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
