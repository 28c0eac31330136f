/*
 * Spans driven by an operation stream, checked against a model.
 *
 * Input: six limit bytes (attribute count, value length, event count,
 * link count, event and link attribute counts) set with
 * otel_config_set_int(), the names and versions of two tracers, then
 * operations until the input ends: start (parent: none, another slot's
 * handle, a made-up or invalid context; any kind, including invalid
 * ones; a NULL tracer), string/int/double/bool/array attributes on the
 * span, an event or a link (valid or not), add_event, add_link (valid,
 * invalid or NULL context), set_status, update_name, set_trace_state,
 * end, abandon, is_recording.  Four slots hold handles, so operations
 * also reach non-recording spans and ended ones (stale handles).  The
 * memory exporter keeps the ended spans.
 *
 * The model knows, from the specification and the API comments only, the
 * return code of every call, and every field of every exported span:
 * names and strings repaired to UTF-8, values cut to the length limit in
 * code points, one entry per (repaired) key, counts and dropped counts
 * under the limits; and the change of the dropped, stale, rejected,
 * started, sampled-out, ended and abandoned counters.  Everything is
 * read back through otel_memory_*; every string must also be valid UTF-8
 * by fuzz.h's own validator and keys unique.
 */
#include "internal.h"
#include "fuzz.h"

#define AT_SLOTS   4
#define AT_MAX_ARR 6
#define AT_MAX_OPS 1000
#define AT_MAX_FIN 1024

typedef struct {
    int      type;
    uint32_t n;
    fz_str   s;
    int64_t  i;
    double   d;
    int      b;
    fz_str  *sa;
    int64_t *ia;
    double  *da;
    uint8_t *ba;
} m_val;

typedef struct {
    fz_str k;
    m_val  v;
} m_attr;

typedef struct {
    m_attr  *a;
    uint32_t n, cap, dropped;
} m_attrs;

typedef struct {
    fz_str  name;
    int64_t time;
    m_attrs attrs;
} m_event;

typedef struct {
    uint8_t tid[16], sid[8], flags, remote;
    fz_str  ts;
    m_attrs attrs;
} m_link;

enum { ST_NONE, ST_LIVE, ST_NONREC, ST_STALE };

typedef struct {
    int              state;
    otel_span_handle h;
    int              tracer;
    fz_str           name, desc, ts;
    int              kind, status;
    int64_t          start, end;    /* 0: "now", anything > 0 */
    uint8_t          has_parent, parent_remote, parent_sid[8];
    m_attrs          attrs;
    m_event         *ev;
    uint32_t         n_ev, cap_ev, dropped_ev;
    m_link          *ln;
    uint32_t         n_ln, cap_ln, dropped_ln;
} m_span;

typedef struct {
    int64_t attr_count, value_len, event_count, link_count, ev_attrs,
            ln_attrs;
} m_limits;

/* The counters the model predicts. */
static const int at_stats[] = {
    OTEL_STAT_ATTRIBUTES_DROPPED, OTEL_STAT_EVENTS_DROPPED,
    OTEL_STAT_LINKS_DROPPED, OTEL_STAT_STALE_HANDLE_CALLS,
    OTEL_STAT_VALUES_REJECTED, OTEL_STAT_SPANS_STARTED,
    OTEL_STAT_SPANS_SAMPLED_OUT, OTEL_STAT_SPANS_ENDED,
    OTEL_STAT_SPANS_ABANDONED,
};
#define AT_NSTATS (sizeof(at_stats) / sizeof(at_stats[0]))

typedef struct {
    fz_in          in;
    fz_arena       arena;
    m_limits       lim;
    otel_provider *p;
    otel_tracer   *tracer[2];
    fz_str         scope_name[2], scope_version[2];
    m_span         slot[AT_SLOTS];
    m_span        *fin;
    size_t         n_fin;
    uint64_t       stat0[AT_NSTATS], stat[AT_NSTATS];
} at_state;

static void at_stat(at_state *st, int which)
{
    size_t i;

    for (i = 0; i < AT_NSTATS; i++) {
        if (at_stats[i] == which) {
            st->stat[i]++;
        }
    }
}

/* ---- the model ----------------------------------------------------------*/

static int64_t at_count_limit(uint8_t b, int key, otel_config *cfg,
                              int64_t def)
{
    int rc;

    if (b == 0xfe) {
        return def;
    }
    if (b == 0xff) {
        rc = otel_config_set_int(cfg, key, -1);
        FZ_CHECK(rc == OTEL_EINVAL, "count limit -1 accepted: %d", rc);
        return def;
    }
    rc = otel_config_set_int(cfg, key, b % 16);
    FZ_CHECK(rc == OTEL_OK, "count limit %d: %d", b % 16, rc);
    return b % 16;
}

static int64_t at_len_limit(uint8_t b, otel_config *cfg)
{
    int rc;

    if (b == 0xfe) {
        return -1;
    }
    if (b == 0xfd) {
        rc = otel_config_set_int(cfg, OTEL_CFG_ATTR_VALUE_LENGTH, -2);
        FZ_CHECK(rc == OTEL_EINVAL, "length limit -2 accepted: %d", rc);
        return -1;
    }
    rc = otel_config_set_int(cfg, OTEL_CFG_ATTR_VALUE_LENGTH,
                             b == 0xff ? -1 : b % 32);
    FZ_CHECK(rc == OTEL_OK, "length limit: %d", rc);
    return b == 0xff ? -1 : b % 32;
}

/* Sets key k in a model list; returns the expected status. */
static int m_set(at_state *st, m_attrs *l, int64_t max_count, fz_str k,
                 const m_val *v)
{
    fz_str rk = fz_repaired(&st->arena, k.s, k.n, -1);
    m_attr *na;
    uint32_t i;

    for (i = 0; i < l->n; i++) {
        if (fz_eq(l->a[i].k.s, l->a[i].k.n, rk.s, rk.n)) {
            l->a[i].v = *v;
            return OTEL_OK;
        }
    }
    if (max_count >= 0 && (int64_t)l->n >= max_count) {
        l->dropped++;
        at_stat(st, OTEL_STAT_ATTRIBUTES_DROPPED);
        return OTEL_ELIMIT;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        na = fz_alloc(&st->arena, l->cap * sizeof(*na));
        if (l->n) {
            memcpy(na, l->a, l->n * sizeof(*na));
        }
        l->a = na;
    }
    l->a[l->n].k = rk;
    l->a[l->n].v = *v;
    l->n++;
    return OTEL_OK;
}

/* The list a target names in the model, or NULL. */
static m_attrs *m_target(at_state *st, m_span *s, int32_t t, int64_t *max)
{
    if (t == OTEL_TARGET_SPAN) {
        *max = st->lim.attr_count;
        return &s->attrs;
    }
    if (t > 0 && (uint32_t)(t - 1) < s->n_ev) {
        *max = st->lim.ev_attrs;
        return &s->ev[t - 1].attrs;
    }
    if (t < 0 && (uint32_t)(-(t + 1)) < s->n_ln) {
        *max = st->lim.ln_attrs;
        return &s->ln[-(t + 1)].attrs;
    }
    return NULL;
}

static bool ids_valid(const otel_span_handle *h)
{
    static const uint8_t zero[16];

    return memcmp(h->trace_id, zero, 16) != 0
           && memcmp(h->span_id, zero, 8) != 0;
}

static void m_finish(at_state *st, m_span *s, int64_t end)
{
    s->end = end > 0 ? end : 0;
    FZ_CHECK(st->n_fin < AT_MAX_FIN, "too many spans");
    st->fin[st->n_fin++] = *s;
    s->state = ST_STALE;
    at_stat(st, OTEL_STAT_SPANS_ENDED);
}

/* ---- operations -----------------------------------------------------------*/

static int32_t at_read_target(at_state *st)
{
    uint8_t t = fz_u8(&st->in);

    switch (t % 4) {
    case 0:
        return OTEL_TARGET_SPAN;
    case 1:
        return OTEL_TARGET_EVENT((t >> 2) % 4);
    case 2:
        return OTEL_TARGET_LINK((t >> 2) % 4);
    default:
        return (t & 4) ? OTEL_TARGET_EVENT(100 + (t >> 3))
                       : OTEL_TARGET_LINK(100 + (t >> 3));
    }
}

static double at_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* Expected status of a call on slot s that goes through the live-record
 * check; counts the stale call. */
static int at_pre(at_state *st, m_span *s, bool *live)
{
    *live = false;
    if (s->state == ST_STALE) {
        at_stat(st, OTEL_STAT_STALE_HANDLE_CALLS);
        return OTEL_ESTALE;
    }
    if (s->state != ST_LIVE) {
        return OTEL_OK;
    }
    *live = true;
    return OTEL_OK;
}

static void op_attr(at_state *st, m_span *s, int kind)
{
    int32_t target = at_read_target(st);
    fz_str k = fz_string(&st->in), v;
    m_val mv;
    const char *strs[AT_MAX_ARR];
    size_t lens[AT_MAX_ARR];
    int64_t ints[AT_MAX_ARR], max;
    double dbls[AT_MAX_ARR];
    int bools[AT_MAX_ARR], rc, want, et = 0;
    uint32_t i, n = 0;
    uint8_t nulls = 0;
    const void *vals = NULL;
    m_attrs *l;
    bool live;

    memset(&mv, 0, sizeof(mv));
    switch (kind) {
    case 0:
        v = fz_string(&st->in);
        mv.type = OTEL_VT_STRING;
        mv.s = fz_repaired(&st->arena, v.s, v.n, st->lim.value_len);
        rc = otel_attr_str(&s->h, target, k.s, k.n, v.s, v.n);
        break;
    case 1:
        mv.type = OTEL_VT_INT;
        mv.i = (int64_t)fz_u64(&st->in);
        rc = otel_attr_int(&s->h, target, k.s, k.n, mv.i);
        break;
    case 2:
        mv.type = OTEL_VT_DOUBLE;
        mv.d = at_double(fz_u64(&st->in));
        rc = otel_attr_double(&s->h, target, k.s, k.n, mv.d);
        break;
    case 3:
        mv.type = OTEL_VT_BOOL;
        mv.b = (int8_t)fz_u8(&st->in);
        rc = otel_attr_bool(&s->h, target, k.s, k.n, mv.b);
        mv.b = mv.b != 0;
        break;
    default:
        et = fz_u8(&st->in) % 6;     /* 0 and 5 are not element types */
        n = fz_u8(&st->in) % (AT_MAX_ARR + 1);
        mv.type = OTEL_VT_ARRAY | et;
        mv.n = n;
        if (et == OTEL_VT_STRING) {
            nulls = fz_u8(&st->in);
            mv.sa = fz_alloc(&st->arena, sizeof(fz_str) * AT_MAX_ARR);
            for (i = 0; i < n; i++) {
                v = fz_string(&st->in);
                strs[i] = (nulls >> i) & 1 ? NULL : v.s ? v.s : "";
                lens[i] = v.n;
                mv.sa[i] = fz_repaired(&st->arena, strs[i] ? v.s : "",
                                       strs[i] ? v.n : 0,
                                       st->lim.value_len);
            }
            vals = strs;
        } else if (et == OTEL_VT_INT) {
            mv.ia = fz_alloc(&st->arena, sizeof(int64_t) * AT_MAX_ARR);
            for (i = 0; i < n; i++) {
                mv.ia[i] = ints[i] = (int64_t)fz_u64(&st->in);
            }
            vals = ints;
        } else if (et == OTEL_VT_DOUBLE) {
            mv.da = fz_alloc(&st->arena, sizeof(double) * AT_MAX_ARR);
            for (i = 0; i < n; i++) {
                mv.da[i] = dbls[i] = at_double(fz_u64(&st->in));
            }
            vals = dbls;
        } else if (et == OTEL_VT_BOOL) {
            mv.ba = fz_alloc(&st->arena, AT_MAX_ARR);
            for (i = 0; i < n; i++) {
                bools[i] = (int8_t)fz_u8(&st->in);
                mv.ba[i] = bools[i] != 0;
            }
            vals = bools;
        }
        if (n == 0 && (nulls & 0x80)) {
            vals = NULL;        /* allowed for an empty array */
        }
        rc = otel_attr_array(&s->h, target, k.s, k.n, et, vals,
                             et == OTEL_VT_STRING ? lens : NULL, n);
        break;
    }

    if (kind == 4 && (et < OTEL_VT_STRING || et > OTEL_VT_DOUBLE)) {
        at_stat(st, OTEL_STAT_VALUES_REJECTED);
        want = OTEL_EREJECTED;
    } else if ((want = at_pre(st, s, &live)) != OTEL_OK || !live) {
        /* stale, or nothing recorded */
    } else if (!(l = m_target(st, s, target, &max))) {
        want = OTEL_EINVAL;
    } else if (k.n == 0) {
        at_stat(st, OTEL_STAT_VALUES_REJECTED);
        want = OTEL_EINVAL;
    } else {
        want = m_set(st, l, max, k, &mv);
    }
    FZ_CHECK(rc == want, "attribute (kind %d, target %d, key %s): %d, "
             "expected %d", kind, target, fz_hex(k.s, k.n), rc, want);
}

static void op_event(at_state *st, m_span *s)
{
    fz_str name = fz_string(&st->in);
    int64_t t = (int64_t)fz_u64(&st->in);
    int rc = otel_span_add_event(&s->h, name.s, name.n, t), want;
    m_event *ne;
    bool live;

    want = at_pre(st, s, &live);
    if (want == OTEL_OK && !live) {
        want = OTEL_ELIMIT;
    } else if (live && (int64_t)s->n_ev >= st->lim.event_count) {
        s->dropped_ev++;
        at_stat(st, OTEL_STAT_EVENTS_DROPPED);
        want = OTEL_ELIMIT;
    } else if (live) {
        if (s->n_ev == s->cap_ev) {
            s->cap_ev = s->cap_ev ? 2 * s->cap_ev : 4;
            ne = fz_alloc(&st->arena, s->cap_ev * sizeof(*ne));
            if (s->n_ev) {
                memcpy(ne, s->ev, s->n_ev * sizeof(*ne));
            }
            s->ev = ne;
        }
        ne = &s->ev[s->n_ev];
        memset(ne, 0, sizeof(*ne));
        ne->name = fz_repaired(&st->arena, name.s, name.n, -1);
        ne->time = t > 0 ? t : 0;
        want = (int)s->n_ev++;
    }
    FZ_CHECK(rc == want, "add_event: %d, expected %d", rc, want);
}

static void read_ctx(at_state *st, otel_span_handle *c)
{
    memset(c, 0, sizeof(*c));
    fz_fill(&st->in, c->trace_id, 16);
    fz_fill(&st->in, c->span_id, 8);
    c->trace_flags = fz_u8(&st->in);
    c->remote = fz_u8(&st->in);
}

static void op_link(at_state *st, m_span *s)
{
    uint8_t mode = fz_u8(&st->in);
    otel_span_handle ctx, *cp = &ctx;
    fz_str ts;
    m_link *nl;
    int rc, want, n_attrs;
    bool live;

    switch (mode % 4) {
    case 0:
        ctx = st->slot[(mode >> 2) % AT_SLOTS].h;
        break;
    case 1:
        read_ctx(st, &ctx);
        break;
    case 2:
        memset(&ctx, 0, sizeof(ctx));
        break;
    default:
        cp = NULL;
        break;
    }
    ts = fz_string(&st->in);
    n_attrs = (mode >> 4) & 1;
    rc = otel_span_add_link(&s->h, cp, ts.s, ts.n, n_attrs);

    want = at_pre(st, s, &live);
    if (want == OTEL_OK && !live) {
        want = OTEL_ELIMIT;
    } else if (live && (!cp || (!ids_valid(cp) && !ts.n && !n_attrs))) {
        at_stat(st, OTEL_STAT_VALUES_REJECTED);
        want = OTEL_EINVAL;
    } else if (live && (int64_t)s->n_ln >= st->lim.link_count) {
        s->dropped_ln++;
        at_stat(st, OTEL_STAT_LINKS_DROPPED);
        want = OTEL_ELIMIT;
    } else if (live) {
        if (s->n_ln == s->cap_ln) {
            s->cap_ln = s->cap_ln ? 2 * s->cap_ln : 4;
            nl = fz_alloc(&st->arena, s->cap_ln * sizeof(*nl));
            if (s->n_ln) {
                memcpy(nl, s->ln, s->n_ln * sizeof(*nl));
            }
            s->ln = nl;
        }
        nl = &s->ln[s->n_ln];
        memset(nl, 0, sizeof(*nl));
        memcpy(nl->tid, cp->trace_id, 16);
        memcpy(nl->sid, cp->span_id, 8);
        nl->flags = cp->trace_flags;
        nl->remote = cp->remote;
        nl->ts = fz_repaired(&st->arena, ts.s, ts.n, -1);
        want = (int)s->n_ln++;
    }
    FZ_CHECK(rc == want, "add_link (mode %d): %d, expected %d", mode % 4, rc,
             want);
}

static void op_status(at_state *st, m_span *s)
{
    int code = (int)(fz_u8(&st->in) % 5) - 1;
    fz_str desc = fz_string(&st->in);
    int rc = otel_span_set_status(&s->h, code, desc.s, desc.n), want;
    bool live;

    want = at_pre(st, s, &live);
    if (live && (code < OTEL_STATUS_UNSET || code > OTEL_STATUS_ERROR)) {
        want = OTEL_EINVAL;
    } else if (live && code != OTEL_STATUS_UNSET
               && s->status != OTEL_STATUS_OK) {
        s->status = code;
        s->desc.s = "";
        s->desc.n = 0;
        if (code == OTEL_STATUS_ERROR) {
            s->desc = fz_repaired(&st->arena, desc.s, desc.n, -1);
        }
    }
    FZ_CHECK(rc == want, "set_status %d: %d, expected %d", code, rc, want);
}

static void op_name(at_state *st, m_span *s, bool trace_state)
{
    fz_str v = fz_string(&st->in);
    int rc, want;
    bool live;

    rc = trace_state ? otel_span_set_trace_state(&s->h, v.s, v.n)
                     : otel_span_update_name(&s->h, v.s, v.n);
    want = at_pre(st, s, &live);
    if (live && trace_state) {
        s->ts = fz_repaired(&st->arena, v.s, v.n, -1);
    } else if (live) {
        s->name = fz_repaired(&st->arena, v.s, v.n, -1);
    }
    FZ_CHECK(rc == want, "%s: %d, expected %d",
             trace_state ? "set_trace_state" : "update_name", rc, want);
}

static void op_end(at_state *st, m_span *s, int64_t t)
{
    int rc = otel_span_end(&s->h, t), want;
    bool live;

    want = at_pre(st, s, &live);
    if (live) {
        m_finish(st, s, t);
    }
    FZ_CHECK(rc == want, "end: %d, expected %d", rc, want);
}

static void op_start(at_state *st, m_span *s)
{
    uint8_t pm = fz_u8(&st->in), tsel;
    int kind = (int)(fz_u8(&st->in) % 7) - 1;
    otel_span_handle parent, *pp = &parent, out;
    fz_str name;
    int64_t start;
    otel_tracer *t;
    bool has_parent, sampled;
    int rc;

    if (s->state == ST_LIVE) {
        op_end(st, s, 0);
    }
    switch (pm % 5) {
    case 0:
        pp = NULL;
        break;
    case 1:
    case 4:
        parent = st->slot[(pm >> 3) % AT_SLOTS].h;
        if (pm % 5 == 4) {
            parent.remote = 1;
        }
        break;
    case 2:
        read_ctx(st, &parent);
        break;
    default:
        memset(&parent, 0, sizeof(parent));
        parent.trace_flags = 1;
        break;
    }
    tsel = fz_u8(&st->in) % 3;
    t = tsel < 2 ? st->tracer[tsel] : NULL;
    name = fz_string(&st->in);
    start = (int64_t)fz_u64(&st->in);
    memset(&out, 0x5a, sizeof(out));
    rc = otel_span_start(t, pp, name.s, name.n, kind, start, &out);
    if (kind < OTEL_KIND_INTERNAL || kind > OTEL_KIND_CONSUMER) {
        FZ_CHECK(rc == OTEL_EINVAL, "start kind %d: %d", kind, rc);
        return;
    }
    FZ_CHECK(rc == OTEL_OK, "start: %d", rc);
    has_parent = pp && ids_valid(pp);
    FZ_CHECK(out.remote == 0, "started span remote");
    if (has_parent) {
        FZ_CHECK(memcmp(out.trace_id, pp->trace_id, 16) == 0,
                 "child has another trace id");
    }
    memset(s, 0, sizeof(*s));
    s->h = out;
    if (!t) {
        /* The API's no-op span: the parent's context, or an invalid one. */
        static const uint8_t zero[24];
        FZ_CHECK(!out.rec && !out.recording, "no-op span recording");
        if (has_parent) {
            FZ_CHECK(memcmp(out.span_id, pp->span_id, 8) == 0
                     && out.trace_flags == pp->trace_flags,
                     "no-op span context");
        } else {
            FZ_CHECK(memcmp(out.trace_id, zero, 16) == 0
                     && memcmp(out.span_id, zero, 8) == 0
                     && out.trace_flags == 0, "no-op root not invalid");
        }
        s->state = ST_NONREC;
        return;
    }
    at_stat(st, OTEL_STAT_SPANS_STARTED);
    FZ_CHECK(ids_valid(&out), "started span has invalid ids");
    /* The default sampler: parent-based, always on for roots. */
    sampled = has_parent ? (pp->trace_flags & 1) : true;
    /* the parent's other flag bits travel on; a root sets random (2) */
    FZ_CHECK(out.trace_flags == (((has_parent ? pp->trace_flags : 2) & ~1)
                                 | sampled)
             && out.recording == sampled
             && !out.rec == !sampled, "sampled %d: flags %d recording %d",
             sampled, out.trace_flags, out.recording);
    if (!sampled) {
        at_stat(st, OTEL_STAT_SPANS_SAMPLED_OUT);
        s->state = ST_NONREC;
        return;
    }
    s->state = ST_LIVE;
    s->tracer = tsel;
    s->name = fz_repaired(&st->arena, name.s, name.n, -1);
    s->desc.s = s->ts.s = "";
    s->kind = kind;
    s->start = start > 0 ? start : 0;
    s->has_parent = has_parent;
    if (has_parent) {
        memcpy(s->parent_sid, pp->span_id, 8);
        s->parent_remote = pp->remote;
    }
}

static void op_abandon(at_state *st, m_span *s)
{
    otel_span_abandon(&s->h);
    if (s->state == ST_LIVE) {
        s->state = ST_STALE;
        at_stat(st, OTEL_STAT_SPANS_ABANDONED);
    }
}

/* ---- reading back ---------------------------------------------------------*/

static void check_str(const char *what, const char *got, size_t gn,
                      fz_str want)
{
    FZ_CHECK(fz_utf8_valid(got, gn, NULL), "%s not UTF-8: %s", what,
             fz_hex(got, gn));
    FZ_CHECK(fz_eq(got, gn, want.s, want.n), "%s: %s", what,
             fz_hex(got, gn));
}

static void check_value(at_state *st, size_t i, int32_t target, uint32_t j,
                        const otel_attr_view *av, const m_val *v)
{
    otel_attr_view ev;
    uint32_t e;
    size_t cps = 0;
    int et = v->type & ~OTEL_VT_ARRAY;

    FZ_CHECK(av->type == v->type, "type %d, expected %d", av->type, v->type);
    switch (v->type) {
    case OTEL_VT_STRING:
        check_str("value", av->s, av->n, v->s);
        fz_utf8_valid(av->s, av->n, &cps);
        FZ_CHECK(st->lim.value_len < 0 || (int64_t)cps <= st->lim.value_len,
                 "value longer than the limit");
        return;
    case OTEL_VT_INT:
        FZ_CHECK(av->i == v->i, "int value");
        return;
    case OTEL_VT_DOUBLE:
        FZ_CHECK(memcmp(&av->d, &v->d, sizeof(double)) == 0, "double value");
        return;
    case OTEL_VT_BOOL:
        FZ_CHECK(av->b == v->b, "bool value %d", av->b);
        return;
    }
    FZ_CHECK(av->n == v->n, "array of %u, expected %u", av->n, v->n);
    for (e = 0; e < v->n; e++) {
        FZ_CHECK(otel_memory_attr(st->p, i, target, j, (int32_t)e, &ev)
                 == OTEL_OK, "array element %u", e);
        FZ_CHECK(ev.type == et, "element type %d", ev.type);
        switch (et) {
        case OTEL_VT_STRING:
            check_str("element", ev.s, ev.n, v->sa[e]);
            fz_utf8_valid(ev.s, ev.n, &cps);
            FZ_CHECK(st->lim.value_len < 0
                     || (int64_t)cps <= st->lim.value_len,
                     "element longer than the limit");
            break;
        case OTEL_VT_INT:
            FZ_CHECK(ev.i == v->ia[e], "int element");
            break;
        case OTEL_VT_DOUBLE:
            FZ_CHECK(memcmp(&ev.d, &v->da[e], sizeof(double)) == 0,
                     "double element");
            break;
        default:
            FZ_CHECK(ev.b == v->ba[e], "bool element");
            break;
        }
    }
    FZ_CHECK(otel_memory_attr(st->p, i, target, j, (int32_t)v->n, &ev)
             == OTEL_EINVAL, "element past the end");
}

static void check_attrs(at_state *st, size_t i, int32_t target,
                        uint32_t n, uint32_t dropped, const m_attrs *l,
                        int64_t max)
{
    otel_attr_view av, prev;
    uint32_t j, k;

    FZ_CHECK(n == l->n, "target %d: %u attributes, expected %u", target, n,
             l->n);
    FZ_CHECK(dropped == l->dropped, "target %d: %u dropped, expected %u",
             target, dropped, l->dropped);
    FZ_CHECK(max < 0 || (int64_t)n <= max, "over the count limit");
    for (j = 0; j < n; j++) {
        FZ_CHECK(otel_memory_attr(st->p, i, target, j, -1, &av) == OTEL_OK,
                 "attribute %u", j);
        check_str("key", av.key, av.key_len, l->a[j].k);
        for (k = 0; k < j; k++) {
            otel_memory_attr(st->p, i, target, k, -1, &prev);
            FZ_CHECK(!fz_eq(prev.key, prev.key_len, av.key, av.key_len),
                     "key %s twice", fz_hex(av.key, av.key_len));
        }
        check_value(st, i, target, j, &av, &l->a[j].v);
    }
    FZ_CHECK(otel_memory_attr(st->p, i, target, n, -1, &av) == OTEL_EINVAL,
             "attribute past the end");
}

static void check_time(const char *what, int64_t got, int64_t want)
{
    if (want > 0) {
        FZ_CHECK(got == want, "%s %lld, expected %lld", what,
                 (long long)got, (long long)want);
    } else {
        FZ_CHECK(got > 0, "%s %lld, expected now", what, (long long)got);
    }
}

static void check_span(at_state *st, size_t i, const m_span *m)
{
    otel_span_view v;
    otel_event_view ev;
    otel_link_view lv;
    uint32_t j;

    FZ_CHECK(otel_memory_span(st->p, i, &v) == OTEL_OK, "span %zu", i);
    check_str("name", v.name, v.name_len, m->name);
    check_str("status description", v.status_desc, v.status_desc_len,
              m->desc);
    check_str("trace state", v.trace_state, v.trace_state_len, m->ts);
    check_str("scope name", v.scope_name, v.scope_name_len,
              st->scope_name[m->tracer]);
    check_str("scope version", v.scope_version, v.scope_version_len,
              st->scope_version[m->tracer]);
    check_time("start", v.start_ns, m->start);
    check_time("end", v.end_ns, m->end);
    FZ_CHECK(v.kind == m->kind, "kind %d", v.kind);
    FZ_CHECK(v.status_code == m->status, "status %d, expected %d",
             v.status_code, m->status);
    FZ_CHECK(memcmp(v.trace_id, m->h.trace_id, 16) == 0
             && memcmp(v.span_id, m->h.span_id, 8) == 0, "ids");
    FZ_CHECK(v.trace_flags == m->h.trace_flags && (v.trace_flags & 1),
             "trace flags %d", v.trace_flags);
    FZ_CHECK(v.has_parent == m->has_parent, "has_parent");
    if (m->has_parent) {
        FZ_CHECK(memcmp(v.parent_span_id, m->parent_sid, 8) == 0
                 && v.parent_remote == m->parent_remote, "parent");
    }
    check_attrs(st, i, OTEL_TARGET_SPAN, v.n_attrs, v.dropped_attrs,
                &m->attrs, st->lim.attr_count);

    FZ_CHECK(v.n_events == m->n_ev && v.dropped_events == m->dropped_ev,
             "%u events (%u dropped), expected %u (%u)", v.n_events,
             v.dropped_events, m->n_ev, m->dropped_ev);
    FZ_CHECK((int64_t)v.n_events <= st->lim.event_count, "event limit");
    for (j = 0; j < m->n_ev; j++) {
        FZ_CHECK(otel_memory_event(st->p, i, j, &ev) == OTEL_OK, "event");
        check_str("event name", ev.name, ev.name_len, m->ev[j].name);
        check_time("event time", ev.time_ns, m->ev[j].time);
        check_attrs(st, i, OTEL_TARGET_EVENT(j), ev.n_attrs,
                    ev.dropped_attrs, &m->ev[j].attrs, st->lim.ev_attrs);
    }
    FZ_CHECK(otel_memory_event(st->p, i, m->n_ev, &ev) == OTEL_EINVAL,
             "event past the end");

    FZ_CHECK(v.n_links == m->n_ln && v.dropped_links == m->dropped_ln,
             "%u links (%u dropped), expected %u (%u)", v.n_links,
             v.dropped_links, m->n_ln, m->dropped_ln);
    FZ_CHECK((int64_t)v.n_links <= st->lim.link_count, "link limit");
    for (j = 0; j < m->n_ln; j++) {
        FZ_CHECK(otel_memory_link(st->p, i, j, &lv) == OTEL_OK, "link");
        FZ_CHECK(memcmp(lv.trace_id, m->ln[j].tid, 16) == 0
                 && memcmp(lv.span_id, m->ln[j].sid, 8) == 0, "link ids");
        FZ_CHECK(lv.trace_flags == m->ln[j].flags
                 && lv.remote == m->ln[j].remote, "link flags");
        check_str("link trace state", lv.trace_state, lv.trace_state_len,
                  m->ln[j].ts);
        check_attrs(st, i, OTEL_TARGET_LINK(j), lv.n_attrs,
                    lv.dropped_attrs, &m->ln[j].attrs, st->lim.ln_attrs);
    }
    FZ_CHECK(otel_memory_link(st->p, i, m->n_ln, &lv) == OTEL_EINVAL,
             "link past the end");
}

/* ---- the target -----------------------------------------------------------*/

static void attrs_init(void)
{
    fz_clear_env();
    fz_dict_init();
}

static void attrs_run(const uint8_t *data, size_t size)
{
    static at_state st;
    otel_config *cfg;
    otel_tracer *again;
    fz_str n, v;
    size_t i, ops;
    uint8_t op;
    int rc;

    memset(&st, 0, sizeof(st));
    st.in.p = data;
    st.in.n = size;
    st.fin = fz_alloc(&st.arena, sizeof(m_span) * AT_MAX_FIN);
    for (i = 0; i < AT_NSTATS; i++) {
        st.stat0[i] = otel_stats_get(at_stats[i]);
    }

    cfg = otel_config_new();
    FZ_CHECK(cfg, "otel_config_new");
    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_MEMORY);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    st.lim.attr_count = at_count_limit(fz_u8(&st.in), OTEL_CFG_ATTR_COUNT,
                                       cfg, 128);
    st.lim.value_len = at_len_limit(fz_u8(&st.in), cfg);
    st.lim.event_count = at_count_limit(fz_u8(&st.in), OTEL_CFG_EVENT_COUNT,
                                        cfg, 128);
    st.lim.link_count = at_count_limit(fz_u8(&st.in), OTEL_CFG_LINK_COUNT,
                                       cfg, 128);
    st.lim.ev_attrs = at_count_limit(fz_u8(&st.in),
                                     OTEL_CFG_EVENT_ATTR_COUNT, cfg, 128);
    st.lim.ln_attrs = at_count_limit(fz_u8(&st.in),
                                     OTEL_CFG_LINK_ATTR_COUNT, cfg, 128);
    st.p = otel_provider_new(cfg, &rc);
    FZ_CHECK(st.p && rc == OTEL_OK, "otel_provider_new: %d", rc);
    for (i = 0; i < 2; i++) {
        n = fz_string(&st.in);
        v = fz_string(&st.in);
        st.tracer[i] = otel_provider_tracer(st.p, n.s, n.n, v.s, v.n);
        FZ_CHECK(st.tracer[i], "tracer");
        again = otel_provider_tracer(st.p, n.s, n.n, v.s, v.n);
        FZ_CHECK(again == st.tracer[i], "same name, another tracer");
        st.scope_name[i] = fz_repaired(&st.arena, n.s, n.n, -1);
        st.scope_version[i] = fz_repaired(&st.arena, v.s, v.n, -1);
    }

    for (ops = 0; st.in.n && ops < AT_MAX_OPS; ops++) {
        m_span *s;
        op = fz_u8(&st.in);
        s = &st.slot[fz_u8(&st.in) % AT_SLOTS];
        switch (op % 14) {
        case 0:
            op_start(&st, s);
            break;
        case 1: case 2: case 3: case 4: case 5:
            op_attr(&st, s, op % 14 - 1);
            break;
        case 6:
            op_event(&st, s);
            break;
        case 7:
            op_link(&st, s);
            break;
        case 8:
            op_status(&st, s);
            break;
        case 9:
            op_name(&st, s, false);
            break;
        case 10:
            op_name(&st, s, true);
            break;
        case 11:
            op_end(&st, s, (int64_t)fz_u64(&st.in));
            break;
        case 12:
            op_abandon(&st, s);
            break;
        default:
            FZ_CHECK(otel_span_is_recording(&s->h) == (s->state == ST_LIVE),
                     "is_recording");
            break;
        }
    }
    for (i = 0; i < AT_SLOTS; i++) {
        if (st.slot[i].state == ST_LIVE) {
            op_end(&st, &st.slot[i], 0);
        }
    }

    FZ_CHECK(otel_memory_count(st.p) == st.n_fin, "%zu spans, expected %zu",
             otel_memory_count(st.p), st.n_fin);
    for (i = 0; i < st.n_fin; i++) {
        check_span(&st, i, &st.fin[i]);
    }
    FZ_CHECK(otel_memory_span(st.p, st.n_fin, &(otel_span_view){ 0 })
             == OTEL_EINVAL, "span past the end");
    for (i = 0; i < AT_NSTATS; i++) {
        uint64_t d = otel_stats_get(at_stats[i]) - st.stat0[i];
        FZ_CHECK(d == st.stat[i], "counter %s: +%llu, expected +%llu",
                 otel_stats_name(at_stats[i]), (unsigned long long)d,
                 (unsigned long long)st.stat[i]);
    }
    otel_provider_free(st.p);
    fz_arena_free(&st.arena);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    attrs_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attrs_run(data, size);
    return 0;
}
#endif
