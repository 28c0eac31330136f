/*
 * The memory exporter keeps the records it is given, for tests: the
 * binding reads them back through the views of span_view.c.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

size_t otel__memory_count(otel__exporter *e)
{
    memory_exporter *m = (memory_exporter *)e;
    size_t n;

    pthread_mutex_lock(&m->lock);
    n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void otel__memory_clear(otel__exporter *e)
{
    memory_clear((memory_exporter *)e);
}

const otel__span *otel__memory_get(otel__exporter *e, size_t i)
{
    memory_exporter *m = (memory_exporter *)e;
    const otel__span *s = NULL;

    pthread_mutex_lock(&m->lock);
    if (i < m->n) {
        s = m->spans[i];
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}
