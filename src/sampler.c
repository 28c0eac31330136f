/*
 * Samplers of the specification.  The ratio sampler uses the algorithm of
 * the Python and Go SDKs (the last 8 bytes of the trace id, big-endian,
 * compared with ratio * 2^64), so every SDK agrees on a trace id.
 *
 * The rule sampler tries its rules in order against the span's name, kind
 * and start attributes; the first that matches decides with its own
 * sampler, else the fallback does.  Attribute keys are resolved once, when
 * the provider takes the sampler, to slots of the provider's key list:
 * the binding passes the start attributes of those keys only, as an array
 * by slot (otel_sampling_input), so a decision compares lengths and bytes,
 * never looks a key up.
 *
 * An external sampler is one the binding runs (a sampler written in Lua):
 * the core never calls back, it returns "external sampler i decides" from
 * otel_sampling_run() and takes the binding's decision with
 * otel_sampling_preset() for the start that follows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { S_ON, S_OFF, S_RATIO, S_PARENT, S_RULES, S_EXTERN };

#define RULES_MAX 256
#define CONDS_MAX 16

typedef struct {
    uint8_t   op;           /* OTEL_MATCH_EQUALS or _PREFIX */
    int8_t    slot;         /* in the provider's keys; -1: unbound */
    otel__str key, v;
} cond;

typedef struct {
    otel__str     name;     /* .p NULL: any name */
    int           kind;     /* -1: any kind */
    cond          c[CONDS_MAX];
    uint32_t      n;
    otel_sampler *action;
} rule;

struct otel_sampler {
    int           type;
    double        ratio;
    uint64_t      bound;    /* sample when id < bound ... */
    bool          all;      /* ... or always, for ratio >= 1 */
    otel_sampler *d[5];     /* root, remote s/ns, local s/ns; rules: the
                               fallback in d[0] */
    rule         *rules;
    uint32_t      n_rules;
    int           id;       /* external: the binding's number */
    char         *desc;     /* external: its description */
};

static otel_sampler *make(int type)
{
    otel_sampler *s = calloc(1, sizeof(*s));

    if (s) {
        s->type = type;
    }
    return s;
}

OTEL_API otel_sampler *otel_sampler_always_on(void)
{
    return make(S_ON);
}

OTEL_API otel_sampler *otel_sampler_always_off(void)
{
    return make(S_OFF);
}

OTEL_API otel_sampler *otel_sampler_trace_id_ratio(double ratio)
{
    otel_sampler *s;

    if (isnan(ratio)) {
        return NULL;
    }
    s = make(S_RATIO);
    if (!s) {
        return NULL;
    }
    if (ratio < 0) {
        ratio = 0;
    }
    if (ratio > 1) {
        ratio = 1;
    }
    s->ratio = ratio;
    if (ratio >= 1) {
        s->all = true;
    } else {
        /* round(ratio * 2^64), below 2^64 since ratio < 1 */
        long double b = roundl((long double)ratio * 18446744073709551616.0L);
        s->all = b >= 18446744073709551616.0L;
        s->bound = s->all ? 0 : (uint64_t)b;
    }
    return s;
}

OTEL_API otel_sampler *otel_sampler_parent_based(otel_sampler *root,
        otel_sampler *remote_sampled, otel_sampler *remote_not_sampled,
        otel_sampler *local_sampled, otel_sampler *local_not_sampled)
{
    otel_sampler *s = make(S_PARENT);
    otel_sampler *in[5] = { root, remote_sampled, remote_not_sampled,
                            local_sampled, local_not_sampled };
    int i;

    if (!s || !root) {
        free(s);
        for (i = 0; i < 5; i++) {
            otel_sampler_free(in[i]);
        }
        return NULL;
    }
    for (i = 0; i < 5; i++) {
        s->d[i] = in[i] ? in[i] : ((i == 1 || i == 3) ? make(S_ON)
                                                      : make(S_OFF));
        if (!s->d[i]) {
            otel_sampler_free(s);
            for (i++; i < 5; i++) {
                otel_sampler_free(in[i]);
            }
            return NULL;
        }
    }
    return s;
}

OTEL_API otel_sampler *otel_sampler_rules(otel_sampler *fallback)
{
    otel_sampler *s = make(S_RULES);

    if (!fallback) {
        fallback = otel_sampler_parent_based(otel_sampler_always_on(), NULL,
                                             NULL, NULL, NULL);
    }
    if (!s || !fallback) {
        free(s);
        otel_sampler_free(fallback);
        return NULL;
    }
    s->d[0] = fallback;
    return s;
}

OTEL_API int otel_sampler_rules_add(otel_sampler *s, otel_sampler *action)
{
    rule *r;

    if (!s || s->type != S_RULES || !action || s->n_rules >= RULES_MAX) {
        otel_sampler_free(action);
        return OTEL_EINVAL;
    }
    r = realloc(s->rules, sizeof(*r) * (s->n_rules + 1));
    if (!r) {
        otel_sampler_free(action);
        return OTEL_ENOMEM;
    }
    s->rules = r;
    r += s->n_rules;
    memset(r, 0, sizeof(*r));
    r->kind = -1;
    r->action = action;
    return (int)s->n_rules++;
}

OTEL_API int otel_sampler_rule_match(otel_sampler *s, int i, int op,
                                     const char *key, size_t kl,
                                     const char *v, size_t vl)
{
    rule *r;
    cond *c;

    if (!s || s->type != S_RULES || i < 0 || (uint32_t)i >= s->n_rules
        || vl > UINT32_MAX || kl > UINT32_MAX) {
        return OTEL_EINVAL;
    }
    r = &s->rules[i];
    switch (op) {
    case OTEL_MATCH_NAME:
        if (!v || r->name.p) {
            return OTEL_EINVAL;
        }
        if (!(r->name.p = otel__strndup(v, vl))) {
            return OTEL_ENOMEM;
        }
        r->name.len = (uint32_t)vl;
        return OTEL_OK;
    case OTEL_MATCH_KIND:
        if (vl > OTEL_KIND_CONSUMER) {
            return OTEL_EINVAL;
        }
        r->kind = (int)vl;
        return OTEL_OK;
    case OTEL_MATCH_EQUALS:
    case OTEL_MATCH_PREFIX:
        if (!key || !kl || !v || r->n >= CONDS_MAX) {
            return OTEL_EINVAL;
        }
        c = &r->c[r->n];
        c->op = (uint8_t)op;
        c->slot = -1;
        c->key.p = otel__strndup(key, kl);
        c->v.p = otel__strndup(v, vl);
        if (!c->key.p || !c->v.p) {
            free((char *)c->key.p);
            free((char *)c->v.p);
            return OTEL_ENOMEM;
        }
        c->key.len = (uint32_t)kl;
        c->v.len = (uint32_t)vl;
        r->n++;
        return OTEL_OK;
    default:
        return OTEL_EINVAL;
    }
}

OTEL_API otel_sampler *otel_sampler_extern(int id, const char *desc,
                                           size_t dl)
{
    otel_sampler *s;

    if (id < 0 || (!desc && dl)) {
        return NULL;
    }
    s = make(S_EXTERN);
    if (s) {
        s->id = id;
        s->desc = otel__strndup(desc ? desc : "", dl);
        if (!s->desc) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

OTEL_API void otel_sampler_free(otel_sampler *s)
{
    uint32_t i, j;

    if (!s) {
        return;
    }
    for (i = 0; i < 5; i++) {
        otel_sampler_free(s->d[i]);
    }
    for (i = 0; i < s->n_rules; i++) {
        free((char *)s->rules[i].name.p);
        for (j = 0; j < s->rules[i].n; j++) {
            free((char *)s->rules[i].c[j].key.p);
            free((char *)s->rules[i].c[j].v.p);
        }
        otel_sampler_free(s->rules[i].action);
    }
    free(s->rules);
    free(s->desc);
    free(s);
}

void otel__sampler_bind(otel_sampler *s, otel__str *keys, int *n)
{
    uint32_t i, j;
    cond *c;
    int k;

    if (!s) {
        return;
    }
    for (i = 0; i < 5; i++) {
        otel__sampler_bind(s->d[i], keys, n);
    }
    for (i = 0; i < s->n_rules; i++) {
        otel__sampler_bind(s->rules[i].action, keys, n);
        for (j = 0; j < s->rules[i].n; j++) {
            c = &s->rules[i].c[j];
            for (k = 0; k < *n; k++) {
                if (keys[k].len == c->key.len
                    && memcmp(keys[k].p, c->key.p, c->key.len) == 0) {
                    break;
                }
            }
            if (k == *n && *n == OTEL__SAMPLER_KEYS) {
                otel__warn("otel.sampler.rules: more than %d attribute "
                           "keys, a rule on '%s' never matches",
                           OTEL__SAMPLER_KEYS, c->key.p);
                c->slot = -1;
                continue;
            }
            if (k == *n) {
                keys[(*n)++] = c->key;   /* the sampler outlives the list */
            }
            c->slot = (int8_t)k;
        }
    }
}

static bool rule_matches(const rule *r, const otel__sample_args *a)
{
    const cond *c;
    uint32_t i;
    size_t len;

    if ((r->kind >= 0 && r->kind != a->kind)
        || (r->name.p && (r->name.len != a->nl
                          || memcmp(r->name.p, a->name, a->nl) != 0))) {
        return false;
    }
    for (i = 0; i < r->n; i++) {
        c = &r->c[i];
        if (c->slot < 0 || c->slot >= a->n || !a->vals[c->slot]) {
            return false;
        }
        len = a->lens[c->slot];
        if (c->op == OTEL_MATCH_EQUALS ? len != c->v.len : len < c->v.len) {
            return false;
        }
        if (memcmp(a->vals[c->slot], c->v.p, c->v.len) != 0) {
            return false;
        }
    }
    return true;
}

static int ratio_decide(const otel_sampler *s, const uint8_t *trace_id)
{
    uint64_t x = 0;
    int i;

    if (s->all) {
        return OTEL__SAMPLE_RECORD_AND_SAMPLE;
    }
    for (i = 8; i < 16; i++) {
        x = (x << 8) | trace_id[i];
    }
    return x < s->bound ? OTEL__SAMPLE_RECORD_AND_SAMPLE : OTEL__SAMPLE_DROP;
}

/* The delegate of a parent-based sampler for that parent. */
static const otel_sampler *delegate(const otel_sampler *s,
                                    const otel_span_handle *parent)
{
    if (!parent) {
        return s->d[0];
    }
    if (parent->remote) {
        return s->d[(parent->trace_flags & 1) ? 1 : 2];
    }
    return s->d[(parent->trace_flags & 1) ? 3 : 4];
}

int otel__sampler_decide_simple(const otel_sampler *s,
                                const otel_span_handle *parent,
                                const uint8_t *trace_id)
{
    for (;;) {
        switch (s->type) {
        case S_ON:
            return OTEL__SAMPLE_RECORD_AND_SAMPLE;
        case S_OFF:
            return OTEL__SAMPLE_DROP;
        case S_RATIO:
            return ratio_decide(s, trace_id);
        case S_PARENT:
            s = delegate(s, parent);
            break;
        default:
            return OTEL__SAMPLE_DROP;   /* not simple: never called */
        }
    }
}

int otel__sampler_decide(const otel_sampler *s, const otel__sample_args *a)
{
    uint32_t r;

    switch (s->type) {
    case S_RULES:
        for (r = 0; r < s->n_rules; r++) {
            if (rule_matches(&s->rules[r], a)) {
                return otel__sampler_decide(s->rules[r].action, a);
            }
        }
        return otel__sampler_decide(s->d[0], a);
    case S_EXTERN:
        return OTEL__SAMPLE_EXTERN + s->id;
    case S_PARENT:
        return otel__sampler_decide(delegate(s, a->parent), a);
    default:
        return otel__sampler_decide_simple(s, a->parent, a->trace_id);
    }
}

bool otel__sampler_is_simple(const otel_sampler *s)
{
    int i;

    if (!s) {
        return true;
    }
    if (s->type == S_RULES || s->type == S_EXTERN) {
        return false;
    }
    for (i = 0; i < 5; i++) {
        if (!otel__sampler_is_simple(s->d[i])) {
            return false;
        }
    }
    return true;
}

static size_t put(char *buf, size_t cap, size_t at, const char *s)
{
    size_t n = strlen(s);

    if (at < cap) {
        memcpy(buf + at, s, (cap - at) > n ? n : cap - at);
    }
    return at + n;
}

static size_t describe(const otel_sampler *s, char *buf, size_t cap,
                       size_t at)
{
    static const char *const names[5] = {
        "root:", ",remoteParentSampled:", ",remoteParentNotSampled:",
        ",localParentSampled:", ",localParentNotSampled:"
    };
    char num[64];
    uint32_t r;
    int i;

    switch (s->type) {
    case S_ON:
        return put(buf, cap, at, "AlwaysOnSampler");
    case S_OFF:
        return put(buf, cap, at, "AlwaysOffSampler");
    case S_RATIO:
        /* the shortest form that reads back as the same double: full
         * precision, without 0.1 printing as 0.10000000000000001 */
        for (i = 15; i <= 17; i++) {
            snprintf(num, sizeof(num), "TraceIdRatioBased{%.*g}", i,
                     s->ratio);
            if (strtod(num + 18, NULL) == s->ratio) {
                break;
            }
        }
        return put(buf, cap, at, num);
    case S_RULES:
        snprintf(num, sizeof(num), "RuleBased{rules:%u", s->n_rules);
        at = put(buf, cap, at, num);
        for (r = 0; r < s->n_rules; r++) {
            at = put(buf, cap, at, r ? "," : ",[");
            at = describe(s->rules[r].action, buf, cap, at);
        }
        at = put(buf, cap, at, s->n_rules ? "],default:" : ",default:");
        at = describe(s->d[0], buf, cap, at);
        return put(buf, cap, at, "}");
    case S_EXTERN:
        at = put(buf, cap, at, "LuaSampler{");
        at = put(buf, cap, at, s->desc);
        return put(buf, cap, at, "}");
    default:
        at = put(buf, cap, at, "ParentBased{");
        for (i = 0; i < 5; i++) {
            at = put(buf, cap, at, names[i]);
            at = describe(s->d[i], buf, cap, at);
        }
        return put(buf, cap, at, "}");
    }
}

OTEL_API size_t otel_sampler_describe(const otel_sampler *s, char *buf,
                                      size_t cap)
{
    size_t n;

    if (!s) {
        return 0;
    }
    n = describe(s, buf, cap, 0);
    if (cap) {
        buf[n < cap ? n : cap - 1] = '\0';
    }
    return n;
}

/* ---- sampling from the binding ------------------------------------------
 * Thread-local: what the binding gives the next span start on this
 * thread.  Set just before the start, which takes and clears it. */
OTEL__TLS bool otel__sampling_pending;
static OTEL__TLS const char *const *in_vals;
static OTEL__TLS const size_t *in_lens;
static OTEL__TLS int          in_n;
static OTEL__TLS bool         preset;
static OTEL__TLS int          preset_decision;
static OTEL__TLS uint8_t      preset_tid[16];

OTEL_API void otel_sampling_input(const char *const *vals,
                                  const size_t *lens, int n)
{
    in_vals = vals;
    in_lens = lens;
    in_n = vals && lens && n > 0 ? (n < OTEL__SAMPLER_KEYS
                                    ? n : OTEL__SAMPLER_KEYS) : 0;
    otel__sampling_pending = in_n > 0 || preset;
}

OTEL_API void otel_sampling_preset(const uint8_t *trace_id, int decision)
{
    if (!trace_id || decision < OTEL_SAMPLE_DROP
        || decision > OTEL_SAMPLE_RECORD_AND_SAMPLE) {
        decision = OTEL_SAMPLE_DROP;
    }
    if (trace_id) {
        memcpy(preset_tid, trace_id, 16);
    }
    preset = trace_id != NULL;
    preset_decision = decision;
    otel__sampling_pending = preset || in_n > 0;
}

void otel__sampling_take(const char *const **vals, const size_t **lens,
                         int *n, const uint8_t **trace_id, int *decision)
{
    if (!otel__sampling_pending) {
        *n = 0;
        *trace_id = NULL;
        return;
    }
    *vals = in_vals;
    *lens = in_lens;
    *n = in_n;
    *trace_id = preset ? preset_tid : NULL;
    *decision = preset_decision;
    in_n = 0;
    preset = otel__sampling_pending = false;
}

OTEL_API int otel_sampling_run(otel_tracer *t, const otel_span_handle *parent,
                               const char *name, size_t nl, int kind,
                               uint8_t *trace_id)
{
    otel__scope *scope = (otel__scope *)t;
    otel__sample_args a = { 0 };
    const uint8_t *tid;
    int decision;

    a.n = 0;
    otel__sampling_take(&a.vals, &a.lens, &a.n, &tid, &decision);
    if (!scope || !trace_id || (!name && nl)) {
        return OTEL_EINVAL;
    }
    a.parent = parent && otel__id_valid(parent->trace_id, 16)
               && otel__id_valid(parent->span_id, 8) ? parent : NULL;
    if (a.parent) {
        memcpy(trace_id, parent->trace_id, 16);
    } else {
        otel__ids_new_trace(trace_id);
    }
    a.trace_id = trace_id;
    a.name = name ? name : "";
    a.nl = nl;
    a.kind = kind;
    return otel__sampler_decide(scope->provider->sampler, &a);
}
