/*
 * Attribute lists and the arena that holds their bytes.
 *
 * Limits are applied here, when a value is set: the count limit drops new
 * keys (an existing key is replaced and does not count twice), the length
 * limit cuts strings at a code point boundary, and invalid UTF-8 is
 * repaired.  Every drop, cut and repair is counted.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ARENA_ALIGN 8
#define CHUNK_MIN 256

void otel__arena_init(otel__arena *a, char *buf, size_t size)
{
    a->inline_buf = buf;
    a->inline_size = size;
    a->cur = buf;
    a->end = buf ? buf + size : NULL;   /* NULL + 0 is undefined */
    a->chunks = NULL;
    a->spare = NULL;
    a->keep = 0;
}

void *otel__arena_alloc(otel__arena *a, size_t size)
{
    uintptr_t p = ((uintptr_t)a->cur + ARENA_ALIGN - 1)
                  & ~(uintptr_t)(ARENA_ALIGN - 1);
    otel__chunk *c;
    size_t csize;

    if (OTEL__LIKELY(a->cur && p + size <= (uintptr_t)a->end)) {
        a->cur = (char *)(p + size);
        return (void *)p;
    }
    /* Chunks double: a span slightly over its inline buffer stays small,
     * a big one does not malloc per attribute. */
    csize = a->chunks ? a->chunks->size * 2 : CHUNK_MIN;
    if (csize < size + sizeof(otel__chunk) + ARENA_ALIGN) {
        csize = size + sizeof(otel__chunk) + ARENA_ALIGN;
    }
    if (a->spare && a->spare->size >= size + sizeof(otel__chunk)
                                      + ARENA_ALIGN) {
        c = a->spare;
        a->spare = NULL;
    } else {
        c = malloc(csize);
        if (!c) {
            return NULL;
        }
        c->size = csize;
    }
    c->next = a->chunks;
    a->chunks = c;
    a->cur = (char *)(c + 1);
    a->end = (char *)c + c->size;     /* a spare may be smaller than csize */
    p = ((uintptr_t)a->cur + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
    a->cur = (char *)(p + size);
    return (void *)p;
}

void otel__arena_reset(otel__arena *a)
{
    otel__chunk *c = a->chunks, *next;

    while (c) {
        next = c->next;
        if (c->size <= a->keep
            && (!a->spare || a->spare->size < c->size)) {
            free(a->spare);
            c->next = NULL;
            a->spare = c;
        } else {
            free(c);
        }
        c = next;
    }
    a->chunks = NULL;
    a->cur = a->inline_buf;
    a->end = a->inline_buf ? a->inline_buf + a->inline_size : NULL;
}

size_t otel__arena_bytes(const otel__arena *a)
{
    const otel__chunk *c;
    size_t n = 0;

    for (c = a->chunks; c; c = c->next) {
        n += c->size;
    }
    return n + (a->spare ? a->spare->size : 0);
}

char *otel__arena_strdup(otel__arena *a, const char *s, size_t len)
{
    char *p = otel__arena_alloc(a, len + 1);

    if (p) {
        if (len) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
    }
    return p;
}

char *otel__strndup(const char *s, size_t len)
{
    char *p = malloc(len + 1);

    if (p) {
        if (len) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
    }
    return p;
}

/* Copies a string into the arena, repaired and cut to max_len code
 * points; counts what it changed. */
static int copy_str(otel__arena *a, const char *s, size_t len,
                    int64_t max_len, otel__str *out)
{
    size_t n;
    char *p;
    int flags = 0;

    if (len > UINT32_MAX) {
        len = UINT32_MAX;   /* 4 GiB: cut, still at a code point below */
    }
    if (OTEL__LIKELY(otel__utf8_ok(s, len, max_len))) {
        p = otel__arena_strdup(a, s, len);
        n = len;
    } else {
        n = otel_utf8_sanitize(s, len, max_len, NULL, 0, NULL);
        p = otel__arena_alloc(a, n + 1);
        if (p) {
            otel_utf8_sanitize(s, len, max_len, p, n, &flags);
            p[n] = '\0';
        }
        if (flags & 1) {
            otel__stat_add(OTEL_STAT_VALUES_TRUNCATED, 1);
        }
        if (flags & 2) {
            otel__stat_add(OTEL_STAT_VALUES_REPAIRED, 1);
        }
    }
    if (!p) {
        return OTEL_ENOMEM;
    }
    out->p = p;
    out->len = (uint32_t)n;
    return OTEL_OK;
}

static int copy_value(otel__arena *a, const otel__value *in,
                      const size_t *lens, int64_t max_len, otel__value *out)
{
    size_t i, elem;
    otel__str *sa, tmp;
    void *arr;
    int rc;

    *out = *in;
    switch (in->type) {
    case OTEL_VT_STRING:
        rc = copy_str(a, in->u.s, in->n, max_len, &tmp);
        out->u.s = tmp.p;
        out->n = tmp.len;
        return rc;
    case OTEL_VT_BOOL:
    case OTEL_VT_INT:
    case OTEL_VT_DOUBLE:
        return OTEL_OK;
    case OTEL_VT_ARRAY | OTEL_VT_STRING:
        sa = otel__arena_alloc(a, sizeof(*sa) * (in->n ? in->n : 1));
        if (!sa) {
            return OTEL_ENOMEM;
        }
        for (i = 0; i < in->n; i++) {
            const char *const *strs = (const char *const *)in->u.sa;
            rc = copy_str(a, strs[i] ? strs[i] : "", strs[i] ? lens[i] : 0,
                          max_len, &sa[i]);
            if (rc) {
                return rc;
            }
        }
        out->u.sa = sa;
        return OTEL_OK;
    case OTEL_VT_ARRAY | OTEL_VT_BOOL:
        elem = sizeof(uint8_t);
        break;
    case OTEL_VT_ARRAY | OTEL_VT_INT:
        elem = sizeof(int64_t);
        break;
    case OTEL_VT_ARRAY | OTEL_VT_DOUBLE:
        elem = sizeof(double);
        break;
    default:
        return OTEL_EREJECTED;
    }
    arr = otel__arena_alloc(a, elem * (in->n ? in->n : 1));
    if (!arr) {
        return OTEL_ENOMEM;
    }
    if (in->type == (OTEL_VT_ARRAY | OTEL_VT_BOOL)) {
        /* Bindings pass int[]; keep one byte per element. */
        const int *src = (const int *)in->u.ba;
        for (i = 0; i < in->n; i++) {
            ((uint8_t *)arr)[i] = src[i] != 0;
        }
    } else if (in->n) {
        memcpy(arr, in->u.ia, elem * in->n);
    }
    out->u.ia = arr;
    return OTEL_OK;
}

const otel__attr *otel__attrs_find(const otel__attrs *list, const char *k,
                                   size_t kl)
{
    uint32_t i;

    for (i = 0; i < list->n; i++) {
        if (list->a[i].key.len == kl && memcmp(list->a[i].key.p, k, kl) == 0) {
            return &list->a[i];
        }
    }
    return NULL;
}

int otel__attrs_set(otel__attrs *list, otel__arena *arena, int64_t max_count,
                    int64_t max_len, const char *k, size_t kl,
                    const otel__value *v, const size_t *lens)
{
    otel__str key = { NULL, 0 };
    otel__attr *slot;
    otel__value nv;
    uint32_t cap;
    int rc;

    if (!k || kl == 0 || kl > UINT32_MAX) {
        otel__stat_add(OTEL_STAT_VALUES_REJECTED, 1);
        return OTEL_EINVAL;
    }
    if (OTEL__UNLIKELY(!otel__utf8_ok(k, kl, -1))) {
        /* Look the key up as it is stored: repaired, or it would never
         * find itself and the list would get the same key twice. */
        rc = copy_str(arena, k, kl, -1, &key);
        if (rc) {
            return rc;
        }
        k = key.p;
        kl = key.len;
    }
    slot = (otel__attr *)otel__attrs_find(list, k, kl);
    if (!slot) {
        if (max_count >= 0 && (int64_t)list->n >= max_count) {
            list->dropped++;
            otel__stat_add(OTEL_STAT_ATTRIBUTES_DROPPED, 1);
            return OTEL_ELIMIT;
        }
        if (list->n == list->cap) {
            otel__attr *na;
            cap = list->cap ? list->cap * 2 : 4;
            if (max_count >= 0 && cap > max_count) {
                cap = (uint32_t)max_count;
            }
            na = otel__arena_alloc(arena, sizeof(*na) * cap);
            if (!na) {
                return OTEL_ENOMEM;
            }
            if (list->n) {
                memcpy(na, list->a, sizeof(*na) * list->n);
            }
            list->a = na;
            list->cap = cap;
        }
        if (!key.p) {
            key.p = otel__arena_strdup(arena, k, kl);   /* valid UTF-8 */
            key.len = (uint32_t)kl;
            if (!key.p) {
                return OTEL_ENOMEM;
            }
        }
        list->a[list->n].key = key;
        slot = &list->a[list->n];
        slot->v.type = 0;
        list->n++;
    }
    rc = copy_value(arena, v, lens, max_len, &nv);
    if (rc) {
        if (rc == OTEL_EREJECTED) {
            otel__stat_add(OTEL_STAT_VALUES_REJECTED, 1);
        }
        if (slot->v.type == 0) {
            list->n--;      /* the new key never got a value */
        }
        return rc;
    }
    slot->v = nv;
    return OTEL_OK;
}
