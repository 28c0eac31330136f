/*
 * What every processor does with a batch: hand it to the exporter, then
 * settle the accounting (exported, rejected, failed or dropped at
 * shutdown) and give the records back to the pool unless the exporter
 * keeps them.  Processors call this; it calls the exporter and the pool.
 */
#include "internal.h"

size_t otel__export_batch(otel__exporter *e, otel__span *const *spans,
                          size_t n)
{
    size_t lost;
    int r;

    if (n == 0) {
        return 0;
    }
    r = e->export_spans(e, spans, n);
    if (r == OTEL__ETOOBIG) {
        /* Too large for one request: each half on its own (a single span
         * that is too large fails in the exporter). */
        return otel__export_batch(e, spans, n / 2)
               + otel__export_batch(e, spans + n / 2, n - n / 2);
    }
    if (r == OTEL_ESTATE) {
        /* abandoned because the provider is shutting down */
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_SHUTDOWN, n);
    } else if (r < 0) {
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED, n);
        otel__stat_add(OTEL_STAT_EXPORT_FAILURES, 1);
    } else {
        if ((size_t)r > n) {
            r = (int)n;
        }
        otel__stat_add(OTEL_STAT_SPANS_EXPORTED, n - (size_t)r);
        otel__stat_add(OTEL_STAT_SPANS_DROPPED_REJECTED, (size_t)r);
    }
    lost = r < 0 ? n : (size_t)r;
    if (r >= 0 && e->keeps_spans) {
        return lost;
    }
    if (n == 1) {
        otel__span_release(spans[0]);    /* the caller's own cache */
    } else {
        otel__span_release_many(spans, n);
    }
    return lost;
}
