/*
 * The console exporter's waterfall: spans are kept as small summaries,
 * grouped by trace, and printed as an indented tree with duration bars on
 * a shared time axis when the trace's local root ends (or on flush).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NAME_COLS 34
#define BAR_COLS 32
#define MAX_ROWS 4096       /* pending summaries before the oldest print */
#define DETAIL_MAX 96

typedef struct {
    uint8_t  trace_id[16], span_id[8], parent_id[8];
    bool     has_parent, root, printed;
    uint8_t  kind, status;
    int64_t  start_ns, end_ns;
    char    *name;
    char    *detail;
} row;

struct otel__tree {
    row    *rows;
    size_t  n, cap;
};

otel__tree *otel__tree_new(void)
{
    return calloc(1, sizeof(otel__tree));
}

static void drop_rows(otel__tree *t)
{
    size_t i, o = 0;

    for (i = 0; i < t->n; i++) {
        if (t->rows[i].printed) {
            free(t->rows[i].name);
            free(t->rows[i].detail);
        } else {
            t->rows[o++] = t->rows[i];
        }
    }
    t->n = o;
}

void otel__tree_free(otel__tree *t)
{
    size_t i;

    if (!t) {
        return;
    }
    for (i = 0; i < t->n; i++) {
        free(t->rows[i].name);
        free(t->rows[i].detail);
    }
    free(t->rows);
    free(t);
}

/* At most max bytes of s, not splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) {
        return n;
    }
    while (max && ((unsigned char)s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

/* Control characters would break the one-line layout. */
static void put_oneline(otel__buf *b, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        otel__buf_put(b, (unsigned char)s[i] < 0x20 ? " " : s + i, 1);
    }
}

/* "k=v k2=v2" of the first attributes, and the error description. */
static char *detail_of(const otel__span *s)
{
    otel__buf b = { 0 }, piece = { 0 };
    const otel__attr *a;
    uint32_t i, n;

    if (s->status_code == OTEL_STATUS_ERROR) {
        otel__buf_puts(&b, "ERROR");
        if (s->status_desc.len) {
            otel__buf_puts(&b, ": ");
            put_oneline(&b, s->status_desc.p, utf8_cut(s->status_desc.p,
                        s->status_desc.len, DETAIL_MAX / 2));
        }
        otel__buf_puts(&b, "  ");
    }
    /* Whole "key=value" pieces only: a value cut short reads as wrong. */
    for (i = 0; i < s->attrs.n && i < 3; i++) {
        a = &s->attrs.a[i];
        piece.len = 0;
        otel__buf_put(&piece, a->key.p, a->key.len);
        otel__buf_puts(&piece, "=");
        switch (a->v.type) {
        case OTEL_VT_STRING:
            n = (uint32_t)utf8_cut(a->v.u.s, a->v.n, 40);
            put_oneline(&piece, a->v.u.s, n);
            if (n < a->v.n) {
                otel__buf_puts(&piece, "\xe2\x80\xa6");
            }
            break;
        case OTEL_VT_BOOL:
            otel__buf_puts(&piece, a->v.u.b ? "true" : "false");
            break;
        case OTEL_VT_INT:
            otel__buf_printf(&piece, "%lld", (long long)a->v.u.i);
            break;
        case OTEL_VT_DOUBLE:
            otel__buf_printf(&piece, "%g", a->v.u.d);
            break;
        default:
            otel__buf_puts(&piece, "[...]");
        }
        if (b.len + piece.len > DETAIL_MAX) {
            otel__buf_puts(&b, "\xe2\x80\xa6 ");
            break;
        }
        otel__buf_put(&b, piece.buf, piece.len);
        otel__buf_puts(&b, " ");
    }
    otel__buf_free(&piece);
    if (s->n_events) {
        otel__buf_printf(&b, "(%u event%s)", s->n_events,
                         s->n_events > 1 ? "s" : "");
    }
    while (b.len && b.buf[b.len - 1] == ' ') {
        b.len--;
    }
    otel__buf_put(&b, "", 1);
    if (b.oom) {
        otel__buf_free(&b);
        return NULL;
    }
    return b.buf;
}

static void put_utf8_cols(otel__buf *b, const char *s, size_t cols)
{
    size_t i = 0, used = 0;

    /* Count code points, not bytes, so the bars line up. */
    while (s[i] && used < cols) {
        size_t n = 1;
        while ((s[i + n] & 0xC0) == 0x80) {
            n++;
        }
        otel__buf_put(b, s + i, n);
        i += n;
        used++;
    }
    while (used++ < cols) {
        otel__buf_put(b, " ", 1);
    }
}

static void print_row(otel__tree *t, otel__buf *b, size_t r, int depth,
                      int64_t t0, int64_t span)
{
    static const char *const kinds[] = { "", " [server]", " [client]",
                                         " [producer]", " [consumer]" };
    row *x = &t->rows[r];
    char label[256];
    int64_t from, to, i;
    size_t j;

    x->printed = true;
    snprintf(label, sizeof(label), "%*s%s%s", depth * 2, "", x->name,
             kinds[x->kind]);
    otel__buf_puts(b, "  ");
    put_utf8_cols(b, label, NAME_COLS);
    from = span ? (x->start_ns - t0) * BAR_COLS / span : 0;
    to = span ? (x->end_ns - t0) * BAR_COLS / span : BAR_COLS;
    if (to <= from) {
        to = from + 1;
    }
    if (to > BAR_COLS) {
        to = BAR_COLS;
        from = from >= BAR_COLS ? BAR_COLS - 1 : from;
    }
    otel__buf_puts(b, "|");
    for (i = 0; i < BAR_COLS; i++) {
        otel__buf_puts(b, i < from || i >= to ? " "
                          : x->status == OTEL_STATUS_ERROR ? "\xe2\x96\x93"
                                                           : "\xe2\x96\x88");
    }
    otel__buf_printf(b, "| %9.3f ms%s%s\n",
                     (double)(x->end_ns - x->start_ns) / 1e6,
                     x->detail && *x->detail ? "  " : "",
                     x->detail ? x->detail : "");
    /* Children in start order. */
    for (;;) {
        size_t best = t->n;
        for (j = 0; j < t->n; j++) {
            row *c = &t->rows[j];
            if (!c->printed && c->has_parent
                && memcmp(c->trace_id, x->trace_id, 16) == 0
                && memcmp(c->parent_id, x->span_id, 8) == 0
                && (best == t->n || c->start_ns < t->rows[best].start_ns)) {
                best = j;
            }
        }
        if (best == t->n) {
            break;
        }
        print_row(t, b, best, depth + 1, t0, span);
    }
}

/* Prints every pending row of one trace. */
static void print_trace(otel__tree *t, otel__buf *b, const uint8_t *tid)
{
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    char hex[33];
    size_t i, j;
    bool parent_here;

    for (i = 0; i < t->n; i++) {
        if (memcmp(t->rows[i].trace_id, tid, 16) == 0) {
            if (t->rows[i].start_ns < t0) {
                t0 = t->rows[i].start_ns;
            }
            if (t->rows[i].end_ns > t1) {
                t1 = t->rows[i].end_ns;
            }
        }
    }
    if (t0 == INT64_MAX) {
        return;
    }
    otel_hex_encode(tid, 16, hex);
    hex[32] = '\0';
    otel__buf_printf(b, "trace %s  %.3f ms\n", hex, (double)(t1 - t0) / 1e6);
    /* Tops: rows whose parent is not pending (remote or printed). */
    for (;;) {
        size_t best = t->n;
        for (i = 0; i < t->n; i++) {
            row *x = &t->rows[i];
            if (x->printed || memcmp(x->trace_id, tid, 16) != 0) {
                continue;
            }
            parent_here = false;
            for (j = 0; x->has_parent && j < t->n; j++) {
                if (!t->rows[j].printed
                    && memcmp(t->rows[j].trace_id, tid, 16) == 0
                    && memcmp(t->rows[j].span_id, x->parent_id, 8) == 0) {
                    parent_here = true;
                    break;
                }
            }
            if (!parent_here
                && (best == t->n || x->start_ns < t->rows[best].start_ns)) {
                best = i;
            }
        }
        if (best == t->n) {
            break;
        }
        print_row(t, b, best, 0, t0, t1 - t0);
    }
    otel__buf_puts(b, "\n");
}

/* A local root ended: its own tree, on the root's time axis.  Other
 * pending spans of the trace (another local root's, as when a service
 * calls itself) wait for their own root. */
static void print_subtree(otel__tree *t, otel__buf *b, size_t r)
{
    const row *x = &t->rows[r];
    char hex[33];

    otel_hex_encode(x->trace_id, 16, hex);
    hex[32] = '\0';
    otel__buf_printf(b, "trace %s  %.3f ms\n", hex,
                     (double)(x->end_ns - x->start_ns) / 1e6);
    print_row(t, b, r, 0, x->start_ns, x->end_ns - x->start_ns);
    otel__buf_puts(b, "\n");
}

void otel__tree_add(otel__tree *t, const otel__span *s, otel__buf *out)
{
    row *x;

    if (t->n == MAX_ROWS) {
        print_trace(t, out, t->rows[0].trace_id);
        drop_rows(t);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        row *nr = realloc(t->rows, sizeof(*nr) * cap);
        if (!nr) {
            return;
        }
        t->rows = nr;
        t->cap = cap;
    }
    x = &t->rows[t->n];
    memset(x, 0, sizeof(*x));
    memcpy(x->trace_id, s->trace_id, 16);
    memcpy(x->span_id, s->span_id, 8);
    memcpy(x->parent_id, s->parent_span_id, 8);
    x->has_parent = s->has_parent;
    x->root = !s->has_parent || s->parent_remote;
    x->kind = s->kind;
    x->status = s->status_code;
    x->start_ns = s->start_ns;
    x->end_ns = s->end_ns;
    x->name = malloc(s->name.len + 1);
    if (!x->name) {
        return;
    }
    memcpy(x->name, s->name.p, s->name.len);
    x->name[s->name.len] = '\0';
    x->detail = detail_of(s);
    t->n++;
    if (x->root) {
        print_subtree(t, out, t->n - 1);
        drop_rows(t);
    }
}

void otel__tree_flush(otel__tree *t, otel__buf *out)
{
    while (t->n) {
        print_trace(t, out, t->rows[0].trace_id);
        drop_rows(t);
    }
}
