/*
 * The tracer provider: limits, sampler, resource, scopes and the processor
 * chain.  It is reference counted: the binding holds one reference and
 * every live span one more, so a span that ends after otel.shutdown() can
 * still read its limits and count itself as dropped.
 */
#include <limits.h>
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
        otel__arena_reset(&s->arena);
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
    otel__sampler_bind(p->sampler, p->sampler_keys, &p->n_sampler_keys);
    p->sampler_simple = otel__sampler_is_simple(p->sampler);
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

static bool str_is(const otel__str *s, const char *p, size_t n)
{
    return s->len == n && memcmp(s->p, p, n) == 0;
}

/* The shared scope of that (repaired) name, version and schema URL; call
 * with the lock. */
static otel__scope *find_scope(otel_provider *p, const char *const str[3],
                               const size_t len[3])
{
    otel__scope *s;

    for (s = p->scopes; s; s = s->next) {
        if (!s->unique && str_is(&s->name, str[0], len[0])
            && str_is(&s->version, str[1], len[1])
            && str_is(&s->schema_url, str[2], len[2])) {
            return s;
        }
    }
    return NULL;
}

OTEL_API otel_tracer *otel_provider_tracer(otel_provider *p,
        const char *name, size_t nl, const char *version, size_t vl)
{
    return otel_provider_scope(p, name, nl, version, vl, NULL, 0, 0);
}

OTEL_API otel_tracer *otel_provider_scope(otel_provider *p,
        const char *name, size_t nl, const char *version, size_t vl,
        const char *schema_url, size_t sl, int unique)
{
    const char *str[3] = { name ? name : "", version ? version : "",
                           schema_url ? schema_url : "" };
    size_t len[3] = { nl, vl, sl }, rlen[3], total = 0;
    otel__str *field[3];
    otel__scope *s = NULL, *c;
    char *buf;
    int i;

    if (!p || (!name && nl) || (!version && vl) || (!schema_url && sl)) {
        return NULL;
    }
    if (!unique && otel__utf8_ok(str[0], len[0], -1)
        && otel__utf8_ok(str[1], len[1], -1)
        && otel__utf8_ok(str[2], len[2], -1)) {
        pthread_mutex_lock(&p->scopes_lock);
        s = find_scope(p, str, len);
        pthread_mutex_unlock(&p->scopes_lock);
        if (s) {
            return (otel_tracer *)s;
        }
    }
    /* Scope names, versions and schema URLs go on the wire: repair them
     * like any string, and look them up repaired, or a name that is not
     * UTF-8 would never find its own scope. */
    for (i = 0; i < 3; i++) {
        rlen[i] = otel_utf8_sanitize(str[i], len[i], -1, NULL, 0, NULL);
        if (rlen[i] > UINT32_MAX) {
            return NULL;
        }
        total += rlen[i] + 1;
    }
    if (!(c = calloc(1, sizeof(*c) + total))) {
        return NULL;
    }
    field[0] = &c->name;
    field[1] = &c->version;
    field[2] = &c->schema_url;
    buf = (char *)(c + 1);
    for (i = 0; i < 3; i++) {
        otel_utf8_sanitize(str[i], len[i], -1, buf, rlen[i], NULL);
        field[i]->p = buf;
        field[i]->len = (uint32_t)rlen[i];
        str[i] = buf;
        buf += rlen[i] + 1;
    }
    c->provider = p;
    c->unique = unique != 0;
    otel__arena_init(&c->arena, NULL, 0);
    pthread_mutex_lock(&p->scopes_lock);
    if (!c->unique) {
        s = find_scope(p, str, rlen);
    }
    if (!s) {
        c->next = p->scopes;
        p->scopes = s = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->scopes_lock);
    free(c);
    return (otel_tracer *)s;
}

OTEL_API int otel_tracer_attr(otel_tracer *t, const char *k, size_t kl,
                              int type, const char *s, size_t sl,
                              int64_t i, double d)
{
    otel__scope *sc = (otel__scope *)t;
    otel__value v = { .type = (uint8_t)type };

    if (!sc || !sc->unique || !k || (type == OTEL_VT_STRING && !s)
        || sl > UINT32_MAX) {
        return OTEL_EINVAL;
    }
    switch (type) {
    case OTEL_VT_STRING:
        v.u.s = s;
        v.n = (uint32_t)sl;
        break;
    case OTEL_VT_BOOL:
        v.u.b = i != 0;
        break;
    case OTEL_VT_INT:
        v.u.i = i;
        break;
    case OTEL_VT_DOUBLE:
        v.u.d = d;
        break;
    default:
        return OTEL_EINVAL;
    }
    return otel__attrs_set(&sc->attrs, &sc->arena, -1, -1, k, kl, &v, NULL);
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
    int64_t t;

    if (!p) {
        return;
    }
    if (!atomic_load(&p->shut_down)) {
        /* the export timeout, 0 meaning none */
        t = p->cfg->bsp_export_timeout_ms;
        otel_provider_shutdown(p, t > 0 && t <= INT_MAX ? (int)t : -1);
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

OTEL_API size_t otel_provider_sampler_key(const otel_provider *p, int i,
                                          char *buf, size_t cap)
{
    size_t n;

    if (!p || i < 0 || i >= p->n_sampler_keys) {
        return 0;
    }
    n = p->sampler_keys[i].len;
    if (cap) {
        memcpy(buf, p->sampler_keys[i].p, n < cap ? n : cap - 1);
        buf[n < cap ? n : cap - 1] = '\0';
    }
    return n;
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
