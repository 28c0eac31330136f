/*
 * The none exporter: takes every batch and sends it nowhere (the records
 * count as exported, like the SDKs' "none").
 */
#include <stdlib.h>

#include "internal.h"

static int none_export(otel__exporter *e, otel__span *const *spans, size_t n)
{
    OTEL__UNUSED(e);
    OTEL__UNUSED(spans);
    OTEL__UNUSED(n);
    return 0;
}

static void plain_destroy(otel__exporter *e)
{
    free(e);
}

otel__exporter *otel__exporter_none_new(void)
{
    otel__exporter *e = calloc(1, sizeof(*e));

    if (e) {
        e->export_spans = none_export;
        e->thread_safe = true;
        e->destroy = plain_destroy;
    }
    return e;
}
