/*
 * The tracer provider: limits, sampler, resource, scopes and the processor
 * chain.  It is reference counted: the binding holds one reference and
 * every live span one more, so a span that ends after otel.shutdown() can
 * still read its limits and count itself as dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void otel__provider_ref(otel_provider *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

static void provider_destroy(otel_provider *p)
{
    otel__scope *s, *next;

    if (p->processor) {
        p->processor->destroy(p->processor);
    }
    if (p->exporter) {
        p->exporter->destroy(p->exporter);
    }
    for (s = p->scopes; s; s = next) {
        next = s->next;
        free(s);
    }
    otel__arena_reset(&p->resource_arena);
    otel_sampler_free(p->sampler);
    otel_config_free(p->cfg);
    pthread_mutex_destroy(&p->scopes_lock);
    free(p);
}

void otel__provider_unref(otel_provider *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        provider_destroy(p);
    }
}

static otel__exporter *make_exporter(otel_provider *p, int *rc)
{
    switch (p->cfg->exporter) {
    case OTEL_EXPORTER_NONE:
        return otel__exporter_none_new();
    case OTEL_EXPORTER_CONSOLE:
        return otel__exporter_console_new(p->cfg, &p->resource);
    case OTEL_EXPORTER_MEMORY:
        return otel__exporter_memory_new();
    case OTEL_EXPORTER_OTLP:
        return otel__exporter_otlp_new(p->cfg, &p->resource, rc);
    default:
        *rc = OTEL_EINVAL;
        return NULL;
    }
}

OTEL_API otel_provider *otel_provider_new(otel_config *cfg, int *status)
{
    otel_provider *p;
    int rc = OTEL_ENOMEM, batch;

    if (!cfg) {
        if (status) {
            *status = OTEL_EINVAL;
        }
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        otel_config_free(cfg);
        goto fail;
    }
    atomic_init(&p->refs, 1);
    atomic_init(&p->shut_down, 0);
    pthread_mutex_init(&p->scopes_lock, NULL);
    p->cfg = cfg;
    p->limits = cfg->limits;
    p->sampler = cfg->sampler;
    cfg->sampler = NULL;
    if (cfg->bsp_max_batch > cfg->bsp_max_queue) {
        cfg->bsp_max_batch = cfg->bsp_max_queue;
    }
    otel__arena_init(&p->resource_arena, NULL, 0);
    if (otel__resource_build(cfg, &p->resource, &p->resource_arena)
        || otel__config_resolve(cfg)) {
        goto fail_p;
    }
    p->exporter = make_exporter(p, &rc);
    if (!p->exporter) {
        goto fail_p;
    }
    batch = cfg->processor < 0 ? cfg->exporter == OTEL_EXPORTER_OTLP
                               : cfg->processor == 1;
    rc = OTEL_ENOMEM;
    p->processor = batch ? otel__processor_batch_new(p->exporter, cfg, &rc)
                         : otel__processor_simple_new(p->exporter);
    if (!p->processor) {
        goto fail_p;
    }
    if (status) {
        *status = OTEL_OK;
    }
    return p;

fail_p:
    provider_destroy(p);
fail:
    if (status) {
        *status = rc;
    }
    return NULL;
}

/* The scope of that (repaired) name and version; call with the lock. */
static otel__scope *find_scope(otel_provider *p, const char *name, size_t nl,
                               const char *version, size_t vl)
{
    otel__scope *s;

    for (s = p->scopes; s; s = s->next) {
        if (s->name.len == nl && s->version.len == vl
            && memcmp(s->name.p, name, nl) == 0
            && memcmp(s->version.p, version, vl) == 0) {
            return s;
        }
    }
    return NULL;
}

OTEL_API otel_tracer *otel_provider_tracer(otel_provider *p,
        const char *name, size_t nl, const char *version, size_t vl)
{
    otel__scope *s, *c;
    size_t rn, rv;
    char *buf;

    if (!p || (!name && nl) || (!version && vl)) {
        return NULL;
    }
    name = name ? name : "";
    version = version ? version : "";
    if (otel__utf8_ok(name, nl, -1) && otel__utf8_ok(version, vl, -1)) {
        pthread_mutex_lock(&p->scopes_lock);
        s = find_scope(p, name, nl, version, vl);
        pthread_mutex_unlock(&p->scopes_lock);
        if (s) {
            return (otel_tracer *)s;
        }
    }
    /* Scope names and versions go on the wire: repair them like any
     * string, and look them up repaired, or a name that is not UTF-8
     * would never find its own scope. */
    rn = otel_utf8_sanitize(name, nl, -1, NULL, 0, NULL);
    rv = otel_utf8_sanitize(version, vl, -1, NULL, 0, NULL);
    if (rn > UINT32_MAX || rv > UINT32_MAX
        || !(c = calloc(1, sizeof(*c) + rn + rv + 2))) {
        return NULL;
    }
    buf = (char *)(c + 1);
    otel_utf8_sanitize(name, nl, -1, buf, rn, NULL);
    c->name.p = buf;
    c->name.len = (uint32_t)rn;
    buf += rn + 1;
    otel_utf8_sanitize(version, vl, -1, buf, rv, NULL);
    c->version.p = buf;
    c->version.len = (uint32_t)rv;
    c->provider = p;
    pthread_mutex_lock(&p->scopes_lock);
    s = find_scope(p, c->name.p, rn, c->version.p, rv);
    if (!s) {
        c->next = p->scopes;
        p->scopes = s = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->scopes_lock);
    free(c);
    return (otel_tracer *)s;
}

OTEL_API int otel_provider_force_flush(otel_provider *p, int timeout_ms)
{
    int rc;

    if (!p) {
        return OTEL_EINVAL;
    }
    if (atomic_load(&p->shut_down)) {
        return OTEL_ESTATE;
    }
    rc = p->processor->force_flush(p->processor, timeout_ms);
    if (rc == OTEL_OK && p->exporter->flush) {
        rc = p->exporter->flush(p->exporter, timeout_ms);
    }
    return rc;
}

OTEL_API int otel_provider_shutdown(otel_provider *p, int timeout_ms)
{
    int rc;

    if (!p) {
        return OTEL_EINVAL;
    }
    if (atomic_exchange(&p->shut_down, 1)) {
        return OTEL_ESTATE;
    }
    rc = p->processor->shutdown(p->processor, timeout_ms);
    if (p->exporter->shutdown) {
        p->exporter->shutdown(p->exporter);
    }
    return rc;
}

OTEL_API void otel_provider_free(otel_provider *p)
{
    if (!p) {
        return;
    }
    if (!atomic_load(&p->shut_down)) {
        otel_provider_shutdown(p, (int)p->cfg->bsp_export_timeout_ms);
    }
    otel__provider_unref(p);
}

OTEL_API void otel_provider_ref(otel_provider *p)
{
    if (p) {
        otel__provider_ref(p);
    }
}

OTEL_API void otel_provider_unref(otel_provider *p)
{
    if (p) {
        otel__provider_unref(p);
    }
}

OTEL_API size_t otel_provider_describe(const otel_provider *p, int what,
                                       char *buf, size_t cap)
{
    const otel__attr *a;
    const char *s = "";
    size_t n;

    if (!p) {
        return 0;
    }
    if (what == 0) {
        return otel_sampler_describe(p->sampler, buf, cap);
    }
    if (what == 1) {
        a = otel__attrs_find(&p->resource, "service.name", 12);
        s = (a && a->v.type == OTEL_VT_STRING) ? a->v.u.s : "";
    } else if (what == 2) {
        s = p->cfg->otlp_endpoint;
    } else if (what == 3) {
        s = otel__protocol_name(p->cfg->otlp_protocol);
    }
    n = strlen(s);
    if (cap) {
        memcpy(buf, s, n < cap ? n : cap - 1);
        buf[n < cap ? n : cap - 1] = '\0';
    }
    return n;
}
