/* otel_http_upstream_end: the CLIENT span of a proxied call from nginx's
 * $upstream_* variables, read back from the memory exporter. */
#include <string.h>

#include "internal.h"
#include "tap.h"

static otel_provider *prov;
static otel_tracer *tracer;

/* The attribute key of span i's target, or NULL. */
static const otel_attr_view *attr(size_t i, int32_t target, const char *k)
{
    static otel_attr_view a;
    uint32_t j;

    for (j = 0; otel_memory_attr(prov, i, target, j, -1, &a) == OTEL_OK;
         j++) {
        if (a.key_len == strlen(k) && memcmp(a.key, k, a.key_len) == 0) {
            return &a;
        }
    }
    return NULL;
}

static bool has_int(size_t i, int32_t target, const char *k, int64_t v)
{
    const otel_attr_view *a = attr(i, target, k);

    return a && a->type == OTEL_VT_INT && a->i == v;
}

static bool has_str(size_t i, int32_t target, const char *k, const char *v)
{
    const otel_attr_view *a = attr(i, target, k);

    return a && a->type == OTEL_VT_STRING && a->n == strlen(v)
           && memcmp(a->s, v, a->n) == 0;
}

#define S(x) x, sizeof(x) - 1
#define T0   1000000000000LL            /* start_request ran */
#define NOW  (T0 + 500000000LL)         /* the log phase, 500 ms later */

/* Ends a new CLIENT span with u; returns its index in the exporter. */
static size_t run(otel_http_upstream *u)
{
    otel_span_handle h;

    otel_span_start(tracer, NULL, S("GET"), OTEL_KIND_CLIENT, T0, &h);
    u->t0_ns = T0;
    u->now_ns = NOW;
    otel_http_upstream_end(&h, u);
    return otel_memory_count(prov) - 1;
}

static void test_one_try(void)
{
    otel_http_upstream u = { S("127.0.0.1:8081"), S("200"), S("0.001"),
                             S("0.012"), S("0.120"), NULL, 0, 0, 0 };
    otel_span_view v;
    size_t i = run(&u);

    CHECK(otel_memory_span(prov, i, &v) == OTEL_OK && v.n_events == 0
          && v.end_ns == NOW && v.start_ns == NOW - 120000000LL
          && v.status_code == OTEL_STATUS_UNSET,
          "one try: no event; the span lasts the response time, ending "
          "now");
    CHECK(has_str(i, 0, "network.peer.address", "127.0.0.1")
          && has_int(i, 0, "network.peer.port", 8081)
          && has_str(i, 0, "server.address", "127.0.0.1")
          && has_int(i, 0, "server.port", 8081)
          && has_int(i, 0, "http.response.status_code", 200)
          && has_int(i, 0, "nginx.upstream.connect_time_ms", 1)
          && has_int(i, 0, "nginx.upstream.header_time_ms", 12)
          && has_int(i, 0, "nginx.upstream.response_time_ms", 120)
          && !attr(i, 0, "http.request.resend_count"),
          "one try: the attributes");
}

static void test_retries(void)
{
    otel_http_upstream u = {
        S("10.0.0.1:80, [::1]:8080 : unix:/run/app.sock"),
        S("502, 504 : 200"), S("0.000, -, 0.002"), S("-, -, 0.010"),
        S("0.003, 0.300, 0.050"), S("backend"), 0, 0 };
    otel_span_view v;
    otel_event_view e;
    size_t i = run(&u);

    CHECK(otel_memory_span(prov, i, &v) == OTEL_OK && v.n_events == 3
          && v.start_ns == NOW - 353000000LL && v.end_ns == NOW,
          "three tries: three events; the span lasts their sum");
    CHECK(otel_memory_event(prov, i, 1, &e) == OTEL_OK
          && e.time_ns == v.start_ns + 3000000LL
          && has_str(i, OTEL_TARGET_EVENT(1), "network.peer.address", "::1")
          && has_int(i, OTEL_TARGET_EVENT(1), "network.peer.port", 8080)
          && has_int(i, OTEL_TARGET_EVENT(1), "http.response.status_code",
                     504)
          && !attr(i, OTEL_TARGET_EVENT(1), "nginx.upstream.header_time_ms"),
          "the second try: IPv6 peer, 504, no header time, at its start");
    CHECK(has_str(i, 0, "network.peer.address", "/run/app.sock")
          && !attr(i, 0, "network.peer.port")
          && has_str(i, 0, "server.address", "backend")
          && !attr(i, 0, "server.port")
          && has_int(i, 0, "http.request.resend_count", 2)
          && has_int(i, 0, "http.response.status_code", 200)
          && v.status_code == OTEL_STATUS_UNSET,
          "the span: the last try (a unix socket), the upstream's name");
}

static void test_failures(void)
{
    otel_http_upstream late = { S("127.0.0.1:81"), S("504"), S("0.000"),
                                S("-"), S("0.900"), S("api:443"), 0, 0 };
    otel_http_upstream none = { NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0,
                                NULL, 0, 0, 0 };
    otel_http_upstream odd = { S("a:1, b:2"), S("-"), S(""), S("x"),
                               S("1.2.3"), NULL, 0, 0, 0 };
    otel_span_view v;
    size_t i = run(&late);

    CHECK(otel_memory_span(prov, i, &v) == OTEL_OK && v.start_ns == T0
          && v.end_ns == T0 + 900000000LL
          && v.status_code == OTEL_STATUS_ERROR
          && has_str(i, 0, "error.type", "504")
          && has_str(i, 0, "server.address", "api")
          && has_int(i, 0, "server.port", 443),
          "a timeout: ERROR 504; never starts before start_request");
    i = run(&none);
    CHECK(otel_memory_span(prov, i, &v) == OTEL_OK && v.end_ns == NOW
          && v.status_code == OTEL_STATUS_ERROR
          && has_str(i, 0, "error.type", "not_proxied"),
          "no upstream contacted: not_proxied");
    i = run(&odd);
    CHECK(otel_memory_span(prov, i, &v) == OTEL_OK && v.n_events == 2
          && v.status_code == OTEL_STATUS_ERROR
          && has_str(i, 0, "error.type", "no_response")
          && !attr(i, 0, "http.response.status_code"),
          "lists shorter than the tries and odd values: no crash, no "
          "response");
    CHECK(otel_http_upstream_end(NULL, &odd) == OTEL_EINVAL,
          "NULL handle");
}

int main(void)
{
    otel_config *cfg = otel_config_new();

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_MEMORY);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    prov = otel_provider_new(cfg, NULL);
    tracer = otel_provider_tracer(prov, S("test"), S("1"));
    test_one_try();
    test_retries();
    test_failures();
    otel_provider_shutdown(prov, 1000);
    otel_provider_free(prov);
    return tap_done();
}
