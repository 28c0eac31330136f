/*
 * The simple span processor exports each span as it ends, on the caller's
 * thread.
 */
#include <stdlib.h>

#include "internal.h"

typedef struct {
    otel__processor  base;
    otel__exporter  *exporter;
    pthread_mutex_t  lock;      /* exporters are not reentrant */
} simple_processor;

static void simple_on_end(otel__processor *p, otel__span *s)
{
    simple_processor *sp = (simple_processor *)p;

    if (sp->exporter->thread_safe) {
        otel__export_batch(sp->exporter, &s, 1);
        return;
    }
    pthread_mutex_lock(&sp->lock);
    otel__export_batch(sp->exporter, &s, 1);
    pthread_mutex_unlock(&sp->lock);
}

static int simple_flush(otel__processor *p, int timeout_ms)
{
    OTEL__UNUSED(p);
    OTEL__UNUSED(timeout_ms);
    return OTEL_OK;
}

static void simple_destroy(otel__processor *p)
{
    simple_processor *sp = (simple_processor *)p;

    pthread_mutex_destroy(&sp->lock);
    free(sp);
}

otel__processor *otel__processor_simple_new(otel__exporter *e)
{
    simple_processor *sp = calloc(1, sizeof(*sp));

    if (!sp) {
        return NULL;
    }
    sp->base.on_end = simple_on_end;
    sp->base.force_flush = simple_flush;
    sp->base.shutdown = simple_flush;
    sp->base.destroy = simple_destroy;
    sp->exporter = e;
    pthread_mutex_init(&sp->lock, NULL);
    return &sp->base;
}
