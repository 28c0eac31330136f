/*
 * The OTLP/HTTP exporter against the test receiver (t/receiver), which
 * decodes with the official OpenTelemetry JS protobuf code: plain and
 * gzip bodies, headers, partial success, retries on 503 / a dropped
 * connection / a refused connection, Retry-After past the deadline, a
 * permanent 400, and shutdown interrupting a request that hangs; then
 * the same exporter over OTLP/gRPC (h2c, plain and gzip, UNAVAILABLE then
 * OK, shutdown during a hanging call) and OTLP/JSON, all of which run the
 * export thread under ThreadSanitizer too.  gRPC needs the receiver this
 * test starts itself.
 *
 * It starts the receiver itself (node, from the top of the tree, as
 * t/run.sh runs it), or uses one already running:
 *
 *   node t/receiver/receiver.js --port 0 --port-file /tmp/otlp.port &
 *   OTEL_TEST_RECEIVER=http://127.0.0.1:$(cat /tmp/otlp.port) \
 *       build/t/test_exporter_otlp
 *
 * Without node or the receiver's node_modules it reports a skip.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "internal.h"
#include "tap.h"

#define S(x) x, sizeof(x) - 1

static const char *base;
static const char *grpc_base;    /* NULL: no gRPC receiver */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- talking to the receiver ---------------------------------------------*/

static size_t collect(char *p, size_t size, size_t nmemb, void *ud)
{
    otel__buf_put(ud, p, size * nmemb);
    return size * nmemb;
}

/* method path [json body] -> response body (static, NUL-terminated) */
static const char *call(const char *method, const char *path,
                        const char *json)
{
    static otel__buf out;
    struct curl_slist *h = NULL;
    char url[512];
    CURL *c = curl_easy_init();

    out.len = 0;
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (json) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    }
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    otel__buf_put(&out, "", 1);
    return out.buf ? out.buf : "";
}

static void reset(void)
{
    call("POST", "/control/reset", "{}");
    call("DELETE", "/requests", NULL);
}

static int count_of(const char *json, const char *needle)
{
    int n = 0;

    while ((json = strstr(json, needle))) {
        n++;
        json += strlen(needle);
    }
    return n;
}

/* ---- providers ------------------------------------------------------------*/

typedef struct {
    int batch, gzip, protocol;
    int64_t timeout_ms, export_timeout_ms;
    const char *endpoint;
} setup;

static otel_provider *provider(const setup *s)
{
    otel_config *cfg = otel_config_new();
    char url[512];
    otel_provider *p;
    int rc;

    snprintf(url, sizeof(url), "%s/v1/traces", base);
    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_OTLP);
    /* the protocol before the endpoint, whose URL follows it */
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, s->batch);
    otel_config_set_int(cfg, OTEL_CFG_OTLP_COMPRESSION, s->gzip);
    otel_config_set_int(cfg, OTEL_CFG_OTLP_PROTOCOL, s->protocol);
    if (s->protocol == OTEL_PROTOCOL_GRPC) {
        snprintf(url, sizeof(url), "%s", grpc_base);
    }
    otel_config_set_int(cfg, OTEL_CFG_BSP_DELAY_MS, 3600000);
    if (s->timeout_ms) {
        otel_config_set_int(cfg, OTEL_CFG_OTLP_TIMEOUT_MS, s->timeout_ms);
    }
    if (s->export_timeout_ms) {
        otel_config_set_int(cfg, OTEL_CFG_BSP_EXPORT_TIMEOUT,
                            s->export_timeout_ms);
    }
    otel_config_set_str(cfg, OTEL_CFG_OTLP_ENDPOINT,
                        s->endpoint ? s->endpoint : url,
                        strlen(s->endpoint ? s->endpoint : url));
    otel_config_set_str(cfg, OTEL_CFG_SERVICE_NAME, S("exporter-test"));
    otel_config_add_header(cfg, S("X-Api-Key"), S("s3cret"));
    otel_config_add_header(cfg, S("Bad\r\nHeader"), S("x"));
    otel_config_set_sampler(cfg, otel_sampler_always_on());
    p = otel_provider_new(cfg, &rc);
    if (!p) {
        printf("not ok - provider: %s\n", otel_strerror(rc));
        exit(1);
    }
    return p;
}

static void spans(otel_provider *p, int n, const char *name)
{
    otel_tracer *t = otel_provider_tracer(p, S("exporter.test"), S("0.1"));
    otel_span_handle h;
    int i;

    for (i = 0; i < n; i++) {
        otel_span_start(t, NULL, name, strlen(name), OTEL_KIND_CLIENT, 0,
                        &h);
        otel_attr_int(&h, OTEL_TARGET_SPAN, S("i"), i);
        otel_span_add_event(&h, S("ev"), 0);
        otel_span_end(&h, 0);
    }
}

typedef struct {
    uint64_t v[OTEL_STAT__COUNT];
} snap;

static void take(snap *s)
{
    int i;

    for (i = 0; i < OTEL_STAT__COUNT; i++) {
        s->v[i] = otel_stats_get(i);
    }
}

#define D(a, b, i) ((long long)((b).v[i] - (a).v[i]))

/* ---- scenarios ------------------------------------------------------------*/

static void plain_and_gzip(int gzip)
{
    setup s = { .batch = 1, .gzip = gzip };
    const char *what = gzip ? "gzip" : "plain";
    otel_provider *p;
    const char *r;
    snap a, b;

    reset();
    take(&a);
    p = provider(&s);
    spans(p, 3, gzip ? "gzipped-span" : "plain-span");
    CHECK(otel_provider_force_flush(p, 10000) == OTEL_OK, "%s: flush", what);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_SPANS_EXPORTED) == 3
          && D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 1
          && D(a, b, OTEL_STAT_EXPORT_BYTES) > 0,
          "%s: 3 spans in 1 request of %lld bytes", what,
          D(a, b, OTEL_STAT_EXPORT_BYTES));
    r = call("GET", "/requests", NULL);
    CHECK(strstr(r, "\"content_type\":\"application/x-protobuf\"") != NULL,
          "%s: content type", what);
    CHECK((strstr(r, "\"content_encoding\":\"gzip\"") != NULL) == gzip,
          "%s: content encoding", what);
    CHECK(strstr(r, "\"x-api-key\":\"s3cret\"") != NULL
          && strstr(r, "OTel-OTLP-Exporter-Lua/") != NULL
          && !strstr(r, "\"bad\":") && !strstr(r, "\"header\":"),
          "%s: headers (bad one skipped)", what);
    r = call("GET", "/spans", NULL);
    CHECK(count_of(r, gzip ? "\"gzipped-span\"" : "\"plain-span\"") == 3
          && strstr(r, "\"service.name\":\"exporter-test\"") != NULL
          && strstr(r, "\"name\":\"exporter.test\"") != NULL,
          "%s: the official decoder reads 3 spans, resource and scope",
          what);
    CHECK(strstr(r, "\"kind\":3") != NULL, "%s: CLIENT is kind 3", what);
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

static void partial_success(void)
{
    setup s = { .batch = 0 };
    otel_provider *p;
    snap a, b;

    reset();
    call("POST", "/control/partial", "{\"rejected\":1,\"message\":\"no\"}");
    p = provider(&s);
    take(&a);
    spans(p, 1, "rejected-span");
    take(&b);
    CHECK(D(a, b, OTEL_STAT_SPANS_DROPPED_REJECTED) == 1
          && D(a, b, OTEL_STAT_SPANS_EXPORTED) == 0,
          "partial success: 1 rejected, counted");
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

static void retry_503(void)
{
    setup s = { .batch = 1 };
    otel_provider *p;
    snap a, b;

    reset();
    call("POST", "/control/status",
         "{\"status\":503,\"times\":2,\"retry_after\":\"0\"}");
    p = provider(&s);
    take(&a);
    spans(p, 2, "retried-span");
    otel_provider_force_flush(p, 10000);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 3
          && D(a, b, OTEL_STAT_EXPORT_RETRIES) == 2
          && D(a, b, OTEL_STAT_SPANS_EXPORTED) == 2,
          "503 twice (Retry-After: 0): 3 requests, 2 retries, exported");
    reset();
    {
        /* Retry-After as an HTTP-date, a second from now. */
        char body[160], date[64];
        time_t t = time(NULL) + 1;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(body, sizeof(body),
                 "{\"status\":502,\"times\":1,\"retry_after\":\"%s\"}",
                 date);
        call("POST", "/control/status", body);
    }
    take(&a);
    spans(p, 1, "dated-span");
    otel_provider_force_flush(p, 10000);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 2
          && D(a, b, OTEL_STAT_EXPORT_RETRIES) == 1
          && D(a, b, OTEL_STAT_SPANS_EXPORTED) == 1,
          "502 with an HTTP-date Retry-After: retried once, exported");
    reset();
    call("POST", "/control/status",
         "{\"status\":429,\"times\":1,\"retry_after\":\"100\"}");
    take(&a);
    spans(p, 1, "late-span");
    otel_provider_force_flush(p, 10000);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 1
          && D(a, b, OTEL_STAT_EXPORT_RETRIES) == 0
          && D(a, b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED) == 1,
          "429 with Retry-After past the export timeout: fails at once");
    reset();
    call("POST", "/control/status", "{\"status\":400,\"times\":1}");
    take(&a);
    spans(p, 4, "bad-request-span");
    otel_provider_force_flush(p, 10000);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 1
          && D(a, b, OTEL_STAT_EXPORT_FAILURES) == 1
          && D(a, b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED) == 4,
          "400: permanent, no retry, 4 spans failed");
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);

    /* On a fresh connection: on a reused one curl itself retries once
     * when the server closed it. */
    reset();
    call("POST", "/control/close", "{\"times\":1}");
    p = provider(&s);
    take(&a);
    spans(p, 1, "after-close-span");
    otel_provider_force_flush(p, 10000);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 2
          && D(a, b, OTEL_STAT_EXPORT_RETRIES) == 1
          && D(a, b, OTEL_STAT_SPANS_EXPORTED) == 1,
          "connection dropped without an answer: retried after backoff "
          "(%lld requests, %lld retries)", D(a, b, OTEL_STAT_EXPORT_REQUESTS),
          D(a, b, OTEL_STAT_EXPORT_RETRIES));
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

static void refused(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char url[128];
    setup s = { .batch = 0, .export_timeout_ms = 2500 };
    otel_provider *p;
    int64_t t0, took;
    snap a, b;
    int fd;

    /* A port nobody listens on: bind one, then close it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces",
             ntohs(sa.sin_port));
    s.endpoint = url;
    p = provider(&s);
    take(&a);
    t0 = mono_ms();
    spans(p, 1, "refused-span");
    took = mono_ms() - t0;
    take(&b);
    CHECK(D(a, b, OTEL_STAT_EXPORT_RETRIES) >= 1
          && D(a, b, OTEL_STAT_EXPORT_REQUESTS)
             == D(a, b, OTEL_STAT_EXPORT_RETRIES) + 1
          && D(a, b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED) == 1,
          "connection refused: %lld attempts, then failed",
          D(a, b, OTEL_STAT_EXPORT_REQUESTS));
    CHECK(took <= 2500 + 500, "connection refused: gave up after %lld ms "
          "(export timeout 2500 ms)", (long long)took);
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

/* A call that hangs (over HTTP or gRPC) does not hold shutdown past its
 * timeout, and its spans are counted dropped. */
static void shutdown_interrupts(int protocol)
{
    setup s = { .batch = 1, .protocol = protocol, .timeout_ms = 30000,
                .export_timeout_ms = 60000 };
    const char *what = protocol == OTEL_PROTOCOL_GRPC ? "hanging grpc call"
                                                      : "hanging collector";
    otel_provider *p;
    int64_t t0, took;
    snap a, b;
    int rc;

    reset();
    call("POST", "/control/hang", "{\"times\":-1}");
    p = provider(&s);
    take(&a);
    spans(p, 5, "hung-span");
    otel_provider_force_flush(p, 300);  /* the request is now hanging */
    t0 = mono_ms();
    rc = otel_provider_shutdown(p, 300);
    took = mono_ms() - t0;
    CHECK(rc == OTEL_ETIMEDOUT && took < 1500,
          "%s: shutdown(300) returns %s after %lld ms", what,
          otel_strerror(rc), (long long)took);
    otel_provider_free(p);
    take(&b);
    CHECK(D(a, b, OTEL_STAT_SPANS_QUEUED) == 0
          && D(a, b, OTEL_STAT_SPANS_EXPORTED) == 0
          && D(a, b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED)
             + D(a, b, OTEL_STAT_SPANS_DROPPED_SHUTDOWN) == 5,
          "%s: the 5 spans are counted dropped", what);
    reset();
}

/* ---- gRPC and JSON -------------------------------------------------------*/

static void grpc_export(int gzip)
{
    setup s = { .batch = 1, .gzip = gzip, .protocol = OTEL_PROTOCOL_GRPC };
    const char *what = gzip ? "grpc+gzip" : "grpc";
    otel_provider *p;
    const char *r;
    snap a, b;
    int i;

    reset();
    take(&a);
    p = provider(&s);
    for (i = 0; i < 3; i++) {
        spans(p, 4, "grpc-span");
        CHECK(otel_provider_force_flush(p, 10000) == OTEL_OK, "%s: flush %d",
              what, i);
    }
    take(&b);
    CHECK(D(a, b, OTEL_STAT_SPANS_EXPORTED) == 12
          && D(a, b, OTEL_STAT_EXPORT_REQUESTS) == 3,
          "%s: 12 spans in 3 requests", what);
    r = call("GET", "/requests", NULL);
    CHECK(count_of(r, "\"grpc\":true") == 3
          && count_of(r, "\"connection\":") == 3
          && count_of(r, gzip ? "\"content_encoding\":\"gzip\""
                              : "\"content_encoding\":\"identity\"") == 3,
          "%s: 3 gRPC calls, encoding as configured", what);
    CHECK(strstr(r, "\"x-api-key\":\"s3cret\"") != NULL,
          "%s: headers as metadata", what);
    r = call("GET", "/spans", NULL);
    CHECK(count_of(r, "\"grpc-span\"") == 12,
          "%s: the official decoder reads 12 spans", what);
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

static void grpc_unavailable(void)
{
    setup s = { .batch = 1, .protocol = OTEL_PROTOCOL_GRPC,
                .export_timeout_ms = 20000 };
    otel_provider *p;
    snap a, b;

    reset();
    call("POST", "/control/grpc_status", "{\"code\":14,\"times\":1}");
    p = provider(&s);
    take(&a);
    spans(p, 5, "unavailable-span");
    CHECK(otel_provider_force_flush(p, 30000) == OTEL_OK,
          "grpc UNAVAILABLE: flush");
    take(&b);
    CHECK(D(a, b, OTEL_STAT_SPANS_EXPORTED) == 5
          && D(a, b, OTEL_STAT_EXPORT_RETRIES) == 1,
          "grpc UNAVAILABLE then OK: retried once, delivered");
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

static void json_export(void)
{
    setup s = { .batch = 1, .protocol = OTEL_PROTOCOL_HTTP_JSON };
    otel_provider *p;
    const char *r;
    snap a, b;

    reset();
    take(&a);
    p = provider(&s);
    spans(p, 3, "json-span");
    CHECK(otel_provider_force_flush(p, 10000) == OTEL_OK, "json: flush");
    take(&b);
    CHECK(D(a, b, OTEL_STAT_SPANS_EXPORTED) == 3, "json: 3 spans exported");
    r = call("GET", "/requests", NULL);
    CHECK(strstr(r, "\"content_type\":\"application/json\"") != NULL,
          "json: content type");
    r = call("GET", "/spans", NULL);
    CHECK(count_of(r, "\"json-span\"") == 3 && strstr(r, "\"kind\":3"),
          "json: the official code reads 3 CLIENT spans");
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

/* ---- the receiver ---------------------------------------------------------*/

static pid_t receiver_pid;
static char receiver_dir[] = "/tmp/otel-receiver-XXXXXX";

static void stop_receiver(void)
{
    char path[64];

    if (receiver_pid > 0) {
        kill(receiver_pid, SIGTERM);
        waitpid(receiver_pid, NULL, 0);
        snprintf(path, sizeof(path), "%s/port", receiver_dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/grpc", receiver_dir);
        unlink(path);
        rmdir(receiver_dir);
    }
}

/* Starts t/receiver/receiver.js on a free port; returns its URL. */
static const char *start_receiver(void)
{
    static char url[64], gurl[64];
    char path[64], gpath[64];
    int64_t until;
    int port = 0, gport = 0, fd;
    FILE *f;

    if (access("t/receiver/receiver.js", R_OK) != 0
        || access("t/receiver/node_modules", R_OK) != 0
        || !mkdtemp(receiver_dir)) {
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/port", receiver_dir);
    snprintf(gpath, sizeof(gpath), "%s/grpc", receiver_dir);
    receiver_pid = fork();
    if (receiver_pid == 0) {
        fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
        }
        execlp("node", "node", "t/receiver/receiver.js", "--port", "0",
               "--port-file", path, "--grpc-port", "0", "--grpc-port-file",
               gpath, (char *)NULL);
        _exit(127);
    }
    if (receiver_pid < 0) {
        return NULL;
    }
    until = mono_ms() + 15000;
    while (mono_ms() < until && waitpid(receiver_pid, NULL, WNOHANG) == 0) {
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%d", &port) != 1) {
                port = 0;
            }
            fclose(f);
        }
        if ((f = fopen(gpath, "r"))) {
            if (fscanf(f, "%d", &gport) != 1) {
                gport = 0;
            }
            fclose(f);
        }
        if (port > 0 && gport > 0) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
            snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d", gport);
            grpc_base = gurl;
            return url;
        }
        usleep(20000);
    }
    stop_receiver();
    receiver_pid = 0;
    return NULL;
}

int main(void)
{
    int rc;

    base = getenv("OTEL_TEST_RECEIVER");
    if (!base || !*base) {
        base = start_receiver();
    }
    if (!base) {
        printf("ok 1 - # SKIP no OTLP receiver (node t/receiver)\n");
        printf("1..1\n");
        return 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    plain_and_gzip(0);
    plain_and_gzip(1);
    partial_success();
    retry_503();
    refused();
    shutdown_interrupts(OTEL_PROTOCOL_HTTP_PROTOBUF);
    json_export();
    if (grpc_base) {
        grpc_export(0);
        grpc_export(1);
        grpc_unavailable();
        shutdown_interrupts(OTEL_PROTOCOL_GRPC);
    }
    rc = tap_done();
    stop_receiver();
    return rc;
}
