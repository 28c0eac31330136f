/*
 * Context stacks, one per coroutine.  The binding keeps a stack per Lua
 * coroutine (created on first use, freed by the collector with the
 * coroutine).  Entries hold span handles by value; an entry pushed by a
 * scoped span owns it, so a coroutine collected in the middle of a scope
 * frees the span's record instead of leaking it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    otel_span_handle h;
    uint64_t         serial;
    int              owned;
} entry;

struct otel_stack {
    entry   *e;
    int      n, cap;
    uint64_t serial;
};

OTEL_API otel_stack *otel_stack_new(void)
{
    return calloc(1, sizeof(otel_stack));
}

OTEL_API void otel_stack_free(otel_stack *st)
{
    int i;

    if (!st) {
        return;
    }
    for (i = 0; i < st->n; i++) {
        if (st->e[i].owned) {
            otel_span_abandon(&st->e[i].h);
        }
    }
    free(st->e);
    free(st);
}

OTEL_API int otel_stack_depth(const otel_stack *st)
{
    return st ? st->n : 0;
}

OTEL_API int otel_stack_top(const otel_stack *st, otel_span_handle *out)
{
    if (!st || st->n == 0 || !out) {
        return 0;
    }
    *out = st->e[st->n - 1].h;
    return st->n;
}

OTEL_API int otel_stack_push(otel_stack *st, const otel_span_handle *h,
                             int owned, uint64_t *serial)
{
    entry *ne;
    int cap;

    if (!st || !h) {
        return OTEL_EINVAL;
    }
    if (st->n == st->cap) {
        cap = st->cap ? st->cap * 2 : 8;
        ne = realloc(st->e, sizeof(*ne) * (size_t)cap);
        if (!ne) {
            return OTEL_ENOMEM;
        }
        st->e = ne;
        st->cap = cap;
    }
    ne = &st->e[st->n];
    ne->h = *h;
    ne->owned = owned;
    ne->serial = ++st->serial;
    if (serial) {
        *serial = ne->serial;
    }
    return ++st->n;
}

OTEL_API int otel_stack_detach(otel_stack *st, int depth, uint64_t serial)
{
    int rc;

    if (!st || depth < 1 || depth > st->n
        || st->e[depth - 1].serial != serial) {
        otel__stat_add(OTEL_STAT_DETACH_MISMATCHES, 1);
        return OTEL_ESTATE;     /* not on this stack (any more) */
    }
    rc = depth == st->n ? OTEL_OK : 1;
    if (rc) {
        /* Out of order: restore what was current before that attach,
         * like ContextVar.reset(). */
        otel__stat_add(OTEL_STAT_DETACH_MISMATCHES, 1);
    }
    st->n = depth - 1;
    return rc;
}

OTEL_API int otel_scope_start(otel_tracer *t, otel_stack *st,
                              const otel_span_handle *parent,
                              const char *name, size_t nl, int kind,
                              int64_t start_ns, otel_span_handle *out)
{
    int rc, depth;

    if (!st) {
        return OTEL_EINVAL;
    }
    if (!parent && st->n) {
        parent = &st->e[st->n - 1].h;
    }
    rc = otel_span_start(t, parent, name, nl, kind, start_ns, out);
    if (rc) {
        return rc;
    }
    depth = otel_stack_push(st, out, 1, NULL);
    if (depth < 0) {
        otel_span_abandon(out);
    }
    return depth;
}

OTEL_API int otel_scope_end(otel_stack *st, int depth,
                            const otel_span_handle *h, int64_t end_ns)
{
    entry *e;

    if (st && depth >= 1 && depth <= st->n) {
        e = &st->e[depth - 1];
        if (e->owned && e->h.rec == h->rec && e->h.gen == h->gen
            && memcmp(e->h.span_id, h->span_id, 8) == 0) {
            if (depth != st->n) {
                /* Something attached inside the scope was never
                 * detached: report it, and restore the stack anyway. */
                otel__stat_add(OTEL_STAT_DETACH_MISMATCHES, 1);
            }
            st->n = depth - 1;
        }
    }
    return otel_span_end(h, end_ns);
}
