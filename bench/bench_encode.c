/*
 * OTLP encoding throughput: 512-span batches of a typical span (a name,
 * three attributes, one event) encoded again and again for about 2 s on
 * one core; and the memory a queued record of that span holds.
 * Figures only: nothing here fails on time.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <stdlib.h>

#include "internal.h"
#include "otlp.h"

#define BATCH 512
#define S(x) x, sizeof(x) - 1

static otel__span *kept[BATCH];
static size_t n_kept;

static void keep_on_end(otel__processor *p, otel__span *s)
{
    OTEL__UNUSED(p);
    kept[n_kept++] = s;
}

static int keep_flush(otel__processor *p, int timeout_ms)
{
    OTEL__UNUSED(p);
    OTEL__UNUSED(timeout_ms);
    return OTEL_OK;
}

static void keep_destroy(otel__processor *p)
{
    OTEL__UNUSED(p);
}

static otel__processor keeper = {
    keep_on_end, keep_flush, keep_flush, keep_destroy
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Encodes the kept batch for about 2 s and prints spans per second. */
static void encode_rate(otel_provider *p, otel__buf *buf, const char *what)
{
    uint64_t spans = 0;
    double t0, t1;
    size_t i;

    t0 = now_s();
    do {
        for (i = 0; i < 64; i++) {
            buf->len = 0;
            if (otel__otlp_encode(p ? &p->resource : NULL, kept, BATCH, buf) != OTEL_OK) {
                fprintf(stderr, "encode failed\n");
                exit(1);
            }
            spans += BATCH;
        }
        t1 = now_s();
    } while (t1 - t0 < 2.0);
    printf("otlp encode, %s: %.0f spans/s (target >= 2,000,000); "
           "%zu bytes per span on the wire\n",
           what, (double)spans / (t1 - t0), buf->len / BATCH);
}

int main(void)
{
    otel_config *cfg = otel_config_new();
    otel__processor *orig;
    otel__buf buf = { 0 };
    otel_span_handle h;
    otel_provider *p;
    otel_tracer *t;
    size_t i;
    int rc;

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_NONE);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    otel_config_set_str(cfg, OTEL_CFG_SERVICE_NAME, S("bench"));
    otel_config_set_sampler(cfg, otel_sampler_always_on());
    p = otel_provider_new(cfg, &rc);
    if (!p) {
        fprintf(stderr, "provider: %s\n", otel_strerror(rc));
        return 1;
    }
    orig = p->processor;
    p->processor = &keeper;
    t = otel_provider_tracer(p, S("bench"), S("1.0"));
    /* the span of the core benchmark (bench/span_bench.lua) */
    for (i = 0; i < BATCH; i++) {
        otel_span_start(t, NULL, S("bench"), OTEL_KIND_INTERNAL, 0, &h);
        otel_attr_str(&h, OTEL_TARGET_SPAN, S("http.method"), S("GET"));
        otel_attr_int(&h, OTEL_TARGET_SPAN, S("http.status"), 200);
        otel_attr_bool(&h, OTEL_TARGET_SPAN, S("cache.hit"), 1);
        otel_span_add_event(&h, S("cache.lookup"), 0);
        otel_span_end(&h, 0);
    }
    encode_rate(p, &buf, "the benchmark span");
    printf("queued span: %zu bytes held (target <= 512)\n",
           otel__span_bytes(kept[0]));
    otel__span_release_many(kept, n_kept);
    n_kept = 0;

    /* a server span with the HTTP semantic-convention keys */
    for (i = 0; i < BATCH; i++) {
        otel_span_start(t, NULL, S("GET /api/orders/{id}"), OTEL_KIND_SERVER,
                        0, &h);
        otel_attr_str(&h, OTEL_TARGET_SPAN, S("http.request.method"),
                      S("GET"));
        otel_attr_str(&h, OTEL_TARGET_SPAN, S("url.path"),
                      S("/api/orders/12345"));
        otel_attr_int(&h, OTEL_TARGET_SPAN, S("http.response.status_code"),
                      200);
        otel_span_add_event(&h, S("cache.miss"), 0);
        otel_span_end(&h, 0);
    }
    encode_rate(p, &buf, "an HTTP server span");
    printf("queued span: %zu bytes held (HTTP server span)\n",
           otel__span_bytes(kept[0]));

    otel__span_release_many(kept, n_kept);
    otel__buf_free(&buf);
    p->processor = orig;
    otel_provider_free(p);
    return 0;
}
