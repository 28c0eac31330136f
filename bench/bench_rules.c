/*
 * ns per decision of the rule sampler with 10 rules (otel.sampler.rules),
 * as the span start makes it: the rules on route, method, path prefix,
 * name and kind, and attribute values of a typical gateway setup, the
 * span's start attributes passed by slot.  Three cases: the first rule
 * matches, the last one does, none does (the default decides).  Best of
 * 5 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define S(x) x, sizeof(x) - 1

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void eq(otel_sampler *s, int r, const char *k, const char *v)
{
    otel_sampler_rule_match(s, r, OTEL_MATCH_EQUALS, k, strlen(k), v,
                            strlen(v));
}

static otel_provider *provider(void)
{
    otel_sampler *s = otel_sampler_rules(otel_sampler_trace_id_ratio(0.1));
    otel_config *cfg = otel_config_new();
    int r;

    r = otel_sampler_rules_add(s, otel_sampler_always_off());
    eq(s, r, "http.route", "/health");
    r = otel_sampler_rules_add(s, otel_sampler_always_off());
    eq(s, r, "http.route", "/ready");
    r = otel_sampler_rules_add(s, otel_sampler_always_on());
    otel_sampler_rule_match(s, r, OTEL_MATCH_PREFIX, S("url.path"),
                            S("/admin/"));
    r = otel_sampler_rules_add(s, otel_sampler_always_off());
    eq(s, r, "http.request.method", "OPTIONS");
    r = otel_sampler_rules_add(s, otel_sampler_always_off());
    otel_sampler_rule_match(s, r, OTEL_MATCH_NAME, NULL, 0, S("cache.get"));
    otel_sampler_rule_match(s, r, OTEL_MATCH_KIND, NULL, 0, NULL,
                            OTEL_KIND_CLIENT);
    r = otel_sampler_rules_add(s, otel_sampler_trace_id_ratio(0.5));
    eq(s, r, "tenant", "acme");
    eq(s, r, "http.route", "/orders/{id}");
    r = otel_sampler_rules_add(s, otel_sampler_trace_id_ratio(0.01));
    eq(s, r, "http.route", "/search");
    r = otel_sampler_rules_add(s, otel_sampler_always_on());
    eq(s, r, "http.request.method", "DELETE");
    r = otel_sampler_rules_add(s, otel_sampler_trace_id_ratio(0.2));
    otel_sampler_rule_match(s, r, OTEL_MATCH_PREFIX, S("url.path"),
                            S("/api/v2/"));
    r = otel_sampler_rules_add(s, otel_sampler_always_on());
    eq(s, r, "tenant", "vip");
    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_NONE);
    otel_config_set_sampler(cfg, s);
    return otel_provider_new(cfg, NULL);
}

/* The start attributes of a span, by the provider's key slots. */
static void inputs(otel_provider *p, const char *const kv[][2], int n,
                   const char **vals, size_t *lens)
{
    int i, j;

    for (j = 0; j < p->n_sampler_keys; j++) {
        vals[j] = NULL;
        lens[j] = 0;
        for (i = 0; i < n; i++) {
            if (strlen(kv[i][0]) == p->sampler_keys[j].len
                && memcmp(kv[i][0], p->sampler_keys[j].p,
                          p->sampler_keys[j].len) == 0) {
                vals[j] = kv[i][1];
                lens[j] = strlen(kv[i][1]);
            }
        }
    }
}

static double bench(otel_provider *p, const char *const kv[][2], int n,
                    const char *name, long iters, int *decision)
{
    const char *vals[OTEL__SAMPLER_KEYS];
    size_t lens[OTEL__SAMPLER_KEYS];
    uint8_t id[16];
    otel__sample_args a = { .trace_id = id, .name = name,
                            .nl = strlen(name), .kind = OTEL_KIND_SERVER,
                            .vals = vals, .lens = lens };
    double best = 1e9, t0;
    long i;
    int run, d = 0;

    inputs(p, kv, n, vals, lens);
    a.n = p->n_sampler_keys;
    otel_ids_random(id, 16);
    for (run = 0; run < 5; run++) {
        t0 = now();
        for (i = 0; i < iters; i++) {
            id[15] = (uint8_t)i;
            d += otel__sampler_decide(p->sampler, &a);
            __asm__ volatile("" ::: "memory");
        }
        t0 = (now() - t0) * 1e9 / iters;
        if (t0 < best) {
            best = t0;
        }
    }
    *decision = d;
    return best;
}

int main(int argc, char **argv)
{
    static const char *const first[][2] = {
        { "http.route", "/health" }, { "http.request.method", "GET" },
        { "url.path", "/health" },
    };
    static const char *const last[][2] = {
        { "http.route", "/orders/{id}" }, { "http.request.method", "GET" },
        { "url.path", "/orders/42" }, { "tenant", "vip" },
    };
    static const char *const none[][2] = {
        { "http.route", "/orders/{id}" }, { "http.request.method", "GET" },
        { "url.path", "/orders/42" }, { "tenant", "other" },
    };
    long iters = argc > 1 ? atol(argv[1]) : 10000000;
    otel_provider *p = provider();
    int d;

    if (!p) {
        fprintf(stderr, "no provider\n");
        return 1;
    }
    printf("rule sampler, 10 rules, first matches : %6.1f ns/decision\n",
           bench(p, first, 3, "GET /health", iters, &d));
    printf("rule sampler, 10 rules, last matches  : %6.1f ns/decision\n",
           bench(p, last, 4, "GET /orders/{id}", iters, &d));
    printf("rule sampler, 10 rules, none (default): %6.1f ns/decision\n",
           bench(p, none, 4, "GET /orders/{id}", iters, &d));
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
    return d == -1;
}
