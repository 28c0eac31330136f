/*
 * The span operations on the request path; records come from the pool
 * (span_pool.c).
 *
 * Ownership: a LIVE record belongs to the thread that started it and is
 * reached only through a handle whose generation matches.  otel_span_end()
 * moves the generation on and hands the record to the processor; from then
 * on no handle reaches it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The record behind a handle, or NULL: for a non-recording span silently,
 * for an ended one counted as a stale call. */
static inline otel__span *live(const otel_span_handle *h, int *rc)
{
    otel__span *s;

    if (OTEL__UNLIKELY(!h)) {
        *rc = OTEL_EINVAL;
        return NULL;
    }
    s = h->rec;
    if (!s) {
        *rc = OTEL_OK;
        return NULL;
    }
    if (OTEL__UNLIKELY(atomic_load_explicit(&s->gen, memory_order_acquire)
                       != h->gen)) {
        otel__stat_add(OTEL_STAT_STALE_HANDLE_CALLS, 1);
        *rc = OTEL_ESTALE;
        return NULL;
    }
    return s;
}

static int copy_name(otel__span *s, const char *name, size_t nl,
                     otel__str *out)
{
    otel__value v = { .type = OTEL_VT_STRING, .n = (uint32_t)nl,
                      .u.s = name };
    otel__attrs tmp = { 0 };
    int rc;

    if (OTEL__LIKELY(otel__utf8_ok(name, nl, -1) && nl <= UINT32_MAX)) {
        char *p = otel__arena_strdup(&s->arena, name, nl);
        if (!p) {
            return OTEL_ENOMEM;
        }
        out->p = p;
        out->len = (uint32_t)nl;
        return OTEL_OK;
    }
    /* Rare: repair through the attribute path, which counts it. */
    rc = otel__attrs_set(&tmp, &s->arena, 1, -1, "n", 1, &v, NULL);
    if (rc == OTEL_OK) {
        out->p = tmp.a[0].v.u.s;
        out->len = tmp.a[0].v.n;
    }
    return rc;
}

OTEL_API int otel_span_start(otel_tracer *t, const otel_span_handle *parent,
                             const char *name, size_t nl, int kind,
                             int64_t start_ns, otel_span_handle *out)
{
    otel__scope *scope = (otel__scope *)t;
    otel__sample_args a;
    const uint8_t *preset_tid;
    otel_provider *p;
    otel__span *s;
    bool has_parent;
    int decision = OTEL__SAMPLE_DROP;

    /* what the binding gave this start (sampler inputs, a decision) */
    a.n = 0;
    preset_tid = NULL;
    if (OTEL__UNLIKELY(otel__sampling_pending)) {
        otel__sampling_take(&a.vals, &a.lens, &a.n, &preset_tid, &decision);
    }
    if (!out || (!name && nl) || kind < 0 || kind > OTEL_KIND_CONSUMER) {
        return OTEL_EINVAL;
    }
    has_parent = parent && otel__id_valid(parent->trace_id, 16)
                 && otel__id_valid(parent->span_id, 8);
    out->rec = NULL;
    out->gen = 0;
    out->remote = 0;
    out->recording = 0;
    out->reserved = 0;
    if (!scope) {
        /* No SDK: the API's no-op span carries the parent's context. */
        if (has_parent) {
            memcpy(out->trace_id, parent->trace_id, 16);
            memcpy(out->span_id, parent->span_id, 8);
            out->trace_flags = parent->trace_flags;
        } else {
            memset(out->trace_id, 0, 16);
            memset(out->span_id, 0, 8);
            out->trace_flags = 0;
        }
        return OTEL_OK;
    }
    p = scope->provider;
    if (has_parent) {
        memcpy(out->trace_id, parent->trace_id, 16);
    } else if (preset_tid) {
        memcpy(out->trace_id, preset_tid, 16);
    } else {
        otel__ids_new_trace(out->trace_id);
    }
    otel__ids_new_span(out->span_id);
    otel__stat_add(OTEL_STAT_SPANS_STARTED, 1);
    if (OTEL__LIKELY(!preset_tid && p->sampler_simple)) {
        decision = otel__sampler_decide_simple(p->sampler,
                                               has_parent ? parent : NULL,
                                               out->trace_id);
    } else if (!preset_tid) {
        a.parent = has_parent ? parent : NULL;
        a.trace_id = out->trace_id;
        a.name = name ? name : "";
        a.nl = nl;
        a.kind = kind;
        decision = otel__sampler_decide(p->sampler, &a);
        if (OTEL__UNLIKELY(decision >= OTEL__SAMPLE_EXTERN)) {
            /* an external sampler the binding did not run: drop */
            otel__stat_add(OTEL_STAT_SAMPLER_ERRORS, 1);
            decision = OTEL__SAMPLE_DROP;
        }
    }
    /* The parent's flags travel on (W3C level 2); a root's trace id is
     * random, which its random flag says.  The sampler sets bit 0. */
    out->trace_flags = (uint8_t)(((has_parent ? parent->trace_flags
                                              : OTEL__FLAG_RANDOM) & ~1)
                                 | (decision
                                    == OTEL__SAMPLE_RECORD_AND_SAMPLE));
    if (decision != OTEL__SAMPLE_RECORD_AND_SAMPLE) {
        /* dropped, or recorded but never exported */
        otel__stat_add(OTEL_STAT_SPANS_SAMPLED_OUT, 1);
        if (decision == OTEL__SAMPLE_DROP) {
            return OTEL_OK;
        }
    }
    s = otel__span_alloc();
    if (!s) {
        otel__stat_add(OTEL_STAT_SPANS_SAMPLED_OUT, 1);
        return OTEL_ENOMEM;
    }
    s->state = OTEL__SPAN_LIVE;     /* (the arena was reset by scrub) */
    s->kind = (uint8_t)kind;
    s->status_code = OTEL_STATUS_UNSET;
    s->trace_flags = out->trace_flags;
    memcpy(s->trace_id, out->trace_id, 16);
    memcpy(s->span_id, out->span_id, 8);
    s->has_parent = has_parent;
    if (has_parent) {
        memcpy(s->parent_span_id, parent->span_id, 8);
        s->parent_remote = parent->remote;
    } else {
        s->parent_remote = 0;
    }
    s->status_desc.p = NULL;
    s->status_desc.len = 0;
    s->trace_state.p = NULL;
    s->trace_state.len = 0;
    s->start_ns = start_ns > 0 ? start_ns : otel__now_ns();
    s->end_ns = 0;
    s->provider = p;
    s->scope = scope;
    memset(&s->attrs, 0, sizeof(s->attrs));
    s->events = NULL;
    s->links = NULL;
    s->n_events = s->cap_events = s->dropped_events = 0;
    s->n_links = s->cap_links = s->dropped_links = 0;
    s->next = NULL;
    if (copy_name(s, name ? name : "", nl, &s->name) != OTEL_OK) {
        s->name.p = "";
        s->name.len = 0;
    }
    otel__provider_ref(p);
    out->rec = s;
    out->gen = atomic_load_explicit(&s->gen, memory_order_relaxed);
    out->recording = 1;
    return OTEL_OK;
}

OTEL_API int otel_span_is_recording(const otel_span_handle *h)
{
    otel__span *s = h ? h->rec : NULL;

    return s && atomic_load_explicit(&s->gen, memory_order_acquire) == h->gen;
}

/* Moves the generation on: from here no handle reaches the record. */
static void retire(otel__span *s)
{
    atomic_fetch_add_explicit(&s->gen, 1, memory_order_release);
    if (atomic_load_explicit(&s->gen, memory_order_relaxed) == 0) {
        atomic_store_explicit(&s->gen, 1, memory_order_relaxed);
    }
}

OTEL_API int otel_span_end(const otel_span_handle *h, int64_t end_ns)
{
    otel_provider *p;
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc;
    }
    s->end_ns = end_ns > 0 ? end_ns : otel__now_ns();
    s->state = OTEL__SPAN_ENDED;
    retire(s);
    p = s->provider;
    if (OTEL__UNLIKELY(!(s->trace_flags & OTEL__FLAG_SAMPLED))) {
        /* record only: never exported, counted as sampled out at start */
        otel__span_release(s);
        otel__provider_unref(p);
        return OTEL_OK;
    }
    otel__stat_add(OTEL_STAT_SPANS_ENDED, 1);
    if (atomic_load_explicit(&p->shut_down, memory_order_acquire)) {
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_SHUTDOWN, 1);
        otel__span_release(s);
    } else {
        p->processor->on_end(p->processor, s);
    }
    otel__provider_unref(p);
    return OTEL_OK;
}

OTEL_API void otel_span_abandon(const otel_span_handle *h)
{
    otel_provider *p;
    otel__span *s;
    int rc;

    if (!h || !h->rec
        || atomic_load_explicit(&((otel__span *)h->rec)->gen,
                                memory_order_acquire) != h->gen) {
        return;     /* ended, or never recorded: nothing to free */
    }
    s = live(h, &rc);
    retire(s);
    p = s->provider;
    otel__stat_add(OTEL_STAT_SPANS_ABANDONED, 1);
    otel__span_release(s);
    otel__provider_unref(p);
}

OTEL_API int otel_span_update_name(const otel_span_handle *h,
                                   const char *name, size_t nl)
{
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc;
    }
    if (!name && nl) {
        return OTEL_EINVAL;
    }
    return copy_name(s, name ? name : "", nl, &s->name);
}

OTEL_API int otel_span_set_status(const otel_span_handle *h, int code,
                                  const char *desc, size_t dl)
{
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc;
    }
    if (code < OTEL_STATUS_UNSET || code > OTEL_STATUS_ERROR) {
        return OTEL_EINVAL;
    }
    /* UNSET is ignored; OK is final; only ERROR keeps a description. */
    if (code == OTEL_STATUS_UNSET || s->status_code == OTEL_STATUS_OK) {
        return OTEL_OK;
    }
    s->status_code = (uint8_t)code;
    s->status_desc.p = NULL;
    s->status_desc.len = 0;
    if (code == OTEL_STATUS_ERROR && desc && dl) {
        return copy_name(s, desc, dl, &s->status_desc);
    }
    return OTEL_OK;
}

OTEL_API int otel_span_set_trace_state(const otel_span_handle *h,
                                       const char *ts, size_t len)
{
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc;
    }
    if (!ts && len) {
        return OTEL_EINVAL;
    }
    return copy_name(s, ts ? ts : "", len, &s->trace_state);
}

/* Grows a record's event or link array inside its arena. */
static void *grow(otel__span *s, void *arr, uint32_t n, uint32_t *cap,
                  size_t elem, int64_t limit)
{
    uint32_t ncap = *cap ? *cap * 2 : 1;
    void *na;

    if (limit >= 0 && ncap > limit) {
        ncap = (uint32_t)limit;
    }
    na = otel__arena_alloc(&s->arena, elem * ncap);
    if (na && n) {
        memcpy(na, arr, elem * n);
    }
    if (na) {
        *cap = ncap;
    }
    return na;
}

OTEL_API int otel_span_add_event(const otel_span_handle *h, const char *name,
                                 size_t nl, int64_t time_ns)
{
    const otel__limits *lim;
    otel__event *e;
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc == OTEL_OK ? OTEL_ELIMIT : rc;
    }
    lim = &s->provider->limits;
    if ((int64_t)s->n_events >= lim->event_count) {
        s->dropped_events++;
        otel__stat_add(OTEL_STAT_EVENTS_DROPPED, 1);
        return OTEL_ELIMIT;
    }
    if (s->n_events == s->cap_events) {
        e = grow(s, s->events, s->n_events, &s->cap_events, sizeof(*e),
                 lim->event_count);
        if (!e) {
            return OTEL_ENOMEM;
        }
        s->events = e;
    }
    e = &s->events[s->n_events];
    memset(e, 0, sizeof(*e));
    rc = copy_name(s, name ? name : "", name ? nl : 0, &e->name);
    if (rc) {
        return rc;
    }
    e->time_ns = time_ns > 0 ? time_ns : otel__now_ns();
    return (int)s->n_events++;
}

OTEL_API int otel_span_add_link(const otel_span_handle *h,
                                const otel_span_handle *ctx,
                                const char *trace_state, size_t tsl,
                                int n_attrs)
{
    const otel__limits *lim;
    otel__link *l;
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc == OTEL_OK ? OTEL_ELIMIT : rc;
    }
    if (!ctx || ((!otel__id_valid(ctx->trace_id, 16)
                  || !otel__id_valid(ctx->span_id, 8))
                 && !(trace_state && tsl) && n_attrs <= 0)) {
        otel__stat_add(OTEL_STAT_VALUES_REJECTED, 1);
        return OTEL_EINVAL;
    }
    lim = &s->provider->limits;
    if ((int64_t)s->n_links >= lim->link_count) {
        s->dropped_links++;
        otel__stat_add(OTEL_STAT_LINKS_DROPPED, 1);
        return OTEL_ELIMIT;
    }
    if (s->n_links == s->cap_links) {
        l = grow(s, s->links, s->n_links, &s->cap_links, sizeof(*l),
                 lim->link_count);
        if (!l) {
            return OTEL_ENOMEM;
        }
        s->links = l;
    }
    l = &s->links[s->n_links];
    memset(l, 0, sizeof(*l));
    memcpy(l->trace_id, ctx->trace_id, 16);
    memcpy(l->span_id, ctx->span_id, 8);
    l->trace_flags = ctx->trace_flags;
    l->remote = ctx->remote;
    if (trace_state && tsl) {
        rc = copy_name(s, trace_state, tsl, &l->trace_state);
        if (rc) {
            return rc;
        }
    }
    return (int)s->n_links++;
}

/* The attribute list a target names, with its count limit. */
static otel__attrs *target_attrs(otel__span *s, int32_t target,
                                 int64_t *max_count)
{
    const otel__limits *lim = &s->provider->limits;

    if (target == OTEL_TARGET_SPAN) {
        *max_count = lim->attr_count;
        return &s->attrs;
    }
    if (target > 0 && (uint32_t)(target - 1) < s->n_events) {
        *max_count = lim->event_attr_count;
        return &s->events[target - 1].attrs;
    }
    if (target < 0 && (uint32_t)(-(target + 1)) < s->n_links) {
        *max_count = lim->link_attr_count;
        return &s->links[-(target + 1)].attrs;
    }
    return NULL;
}

static int set_attr(const otel_span_handle *h, int32_t target, const char *k,
                    size_t kl, const otel__value *v, const size_t *lens)
{
    otel__attrs *list;
    otel__span *s;
    int64_t max_count;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc;
    }
    list = target_attrs(s, target, &max_count);
    if (!list) {
        return OTEL_EINVAL;
    }
    return otel__attrs_set(list, &s->arena, max_count,
                           s->provider->limits.attr_value_length, k, kl, v,
                           lens);
}

OTEL_API int otel_attr_str(const otel_span_handle *h, int32_t target,
                           const char *k, size_t kl, const char *v, size_t vl)
{
    otel__value val = { .type = OTEL_VT_STRING, .n = (uint32_t)vl,
                        .u.s = v };

    if (!v && vl) {
        return OTEL_EINVAL;
    }
    if (!v) {
        val.u.s = "";
    }
    return set_attr(h, target, k, kl, &val, NULL);
}

OTEL_API int otel_attr_int(const otel_span_handle *h, int32_t target,
                           const char *k, size_t kl, int64_t v)
{
    otel__value val = { .type = OTEL_VT_INT, .u.i = v };

    return set_attr(h, target, k, kl, &val, NULL);
}

OTEL_API int otel_attr_double(const otel_span_handle *h, int32_t target,
                              const char *k, size_t kl, double v)
{
    otel__value val = { .type = OTEL_VT_DOUBLE, .u.d = v };

    return set_attr(h, target, k, kl, &val, NULL);
}

OTEL_API int otel_attr_bool(const otel_span_handle *h, int32_t target,
                            const char *k, size_t kl, int v)
{
    otel__value val = { .type = OTEL_VT_BOOL, .u.b = v != 0 };

    return set_attr(h, target, k, kl, &val, NULL);
}

OTEL_API int otel_attr_array(const otel_span_handle *h, int32_t target,
                             const char *k, size_t kl, int elem_type,
                             const void *vals, const size_t *lens, size_t n)
{
    otel__value val = { .type = (uint8_t)(OTEL_VT_ARRAY | elem_type),
                        .n = (uint32_t)n };

    if (elem_type < OTEL_VT_STRING || elem_type > OTEL_VT_DOUBLE
        || n > UINT32_MAX || (n && !vals)
        || (elem_type == OTEL_VT_STRING && n && !lens)) {
        otel__stat_add(OTEL_STAT_VALUES_REJECTED, 1);
        return OTEL_EREJECTED;
    }
    val.u.ia = vals;
    return set_attr(h, target, k, kl, &val, lens);
}

/* For spans whose start is known only later (otel.ngx's upstream span:
 * nginx tells the upstream's durations at the end of the request). */
OTEL_API int otel_span_set_start(const otel_span_handle *h, int64_t start_ns)
{
    otel__span *s;
    int rc;

    if (!(s = live(h, &rc))) {
        return rc;
    }
    if (start_ns <= 0) {
        return OTEL_EINVAL;
    }
    s->start_ns = start_ns;
    return OTEL_OK;
}
