/*
 * The floor for the span benchmark: the same work as bench/span_bench.lua
 * (a scoped span, 3 attributes, 1 event, end; exporter none) done in C
 * through the public ABI.  Prints ns per span.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otel.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run(otel_tracer *t, otel_stack *st, long n)
{
    otel_span_handle h;
    long i;
    int d;

    for (i = 0; i < n; i++) {
        d = otel_scope_start(t, st, NULL, "bench", 5, OTEL_KIND_INTERNAL, 0,
                             &h);
        otel_attr_str(&h, OTEL_TARGET_SPAN, "http.method", 11, "GET", 3);
        otel_attr_int(&h, OTEL_TARGET_SPAN, "http.status", 11, 200);
        otel_attr_bool(&h, OTEL_TARGET_SPAN, "cache.hit", 9, 1);
        otel_span_add_event(&h, "cache.lookup", 12, 0);
        otel_scope_end(st, d, &h, 0);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    int raw = argc > 2 && strcmp(argv[2], "raw") == 0;
    otel_config *cfg = otel_config_new();
    otel_provider *p;
    otel_tracer *t;
    otel_stack *st;
    double t0, dt;

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_NONE);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    p = otel_provider_new(cfg, NULL);
    t = otel_provider_tracer(p, "bench", 5, "1.0", 3);
    st = otel_stack_new();
    run(t, st, n / 10);
    t0 = now();
    run(t, st, n);
    dt = now() - t0;
    if (raw) {
        printf("%.1f\n", dt * 1e9 / n);
    } else {
        printf("(c) the same work in C (floor)   : %7.1f ns/span\n",
               dt * 1e9 / n);
    }
    otel_stack_free(st);
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
    return 0;
}
