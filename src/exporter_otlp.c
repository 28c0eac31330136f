/*
 * OTLP/HTTP exporter: protobuf bodies POSTed with libcurl.
 *
 * One easy handle, driven through a multi handle, is reused for every
 * request so the connection stays alive between batches.  The multi
 * interface is there for shutdown: curl_multi_wakeup() interrupts a
 * request that is waiting on a slow collector at once, where an easy
 * perform would only notice at its next progress callback (up to a second
 * later).  Backoff sleeps wait on a condition variable for the same reason.
 *
 * Not reentrant: the batch worker (or the simple processor, under its
 * lock) calls export_spans() from one thread at a time.  shutdown() may be
 * called from any thread while an export runs.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "otlp.h"

#define DEFAULT_ENDPOINT "http://localhost:4318/v1/traces"
#define USER_AGENT "OTel-OTLP-Exporter-Lua/" OTEL_VERSION_STRING " (lua-otel)"

/* Exponential backoff between attempts: 1 s, 2 s, 4 s ... capped, each
 * jittered down to half of it so that workers do not retry in step. */
#define BACKOFF_INITIAL_MS 1000
#define BACKOFF_MAX_MS     32000

/* Response bodies beyond this are not kept: a partial_success message
 * that long is not worth holding. */
#define RESP_MAX 65536

typedef struct {
    otel__exporter  base;
    otel_provider  *provider;
    char           *url;
    struct curl_slist *headers;
    bool            gzip;
    int64_t         export_timeout_ms;     /* 0: no limit */

    /* Handles are made by the first export in a process: a child that
     * forked after setup must not share the parent's connection. */
    CURLM          *multi;
    CURL           *easy;
    pid_t           pid;

    otel__buf       body, gz;
    z_stream        zs;
    bool            zs_ready;

    char           *resp;
    size_t          resp_len;
    int64_t         retry_after_ms;     /* -1: none in the response */
    uint64_t        rng;

    /* shutdown: wakes a backoff sleep and aborts a request */
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    _Atomic int     stop;
} otlp_exporter;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t next_rand(otlp_exporter *x)
{
    /* xorshift64*: jitter only, no need for quality. */
    x->rng ^= x->rng >> 12;
    x->rng ^= x->rng << 25;
    x->rng ^= x->rng >> 27;
    return x->rng * 0x2545F4914F6CDD1DULL;
}

/* ---- curl callbacks -------------------------------------------------------*/

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    otlp_exporter *x = ud;
    size_t n = size * nmemb, keep = n;

    if (x->resp_len + keep > RESP_MAX) {
        keep = RESP_MAX - x->resp_len;
    }
    memcpy(x->resp + x->resp_len, p, keep);
    x->resp_len += keep;
    return n;
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static int64_t parse_retry_after(const char *v, size_t n)
{
    char buf[128];
    int64_t secs = 0;
    time_t t, now;
    size_t i;

    while (n && isspace((unsigned char)*v)) {
        v++;
        n--;
    }
    while (n && isspace((unsigned char)v[n - 1])) {
        n--;
    }
    if (n == 0 || n >= sizeof(buf)) {
        return -1;
    }
    for (i = 0; i < n && isdigit((unsigned char)v[i]); i++) {
        if (secs < 100000000) {
            secs = secs * 10 + (v[i] - '0');
        }
    }
    if (i == n) {
        return secs * 1000;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    t = curl_getdate(buf, NULL);
    if (t == (time_t)-1) {
        return -1;
    }
    now = time(NULL);
    return t > now ? (int64_t)(t - now) * 1000 : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    static const char name[] = "retry-after:";
    otlp_exporter *x = ud;
    size_t n = size * nmemb, nl = sizeof(name) - 1;

    if (n > nl && strncasecmp(p, name, nl) == 0) {
        x->retry_after_ms = parse_retry_after(p + nl, n - nl);
    }
    return n;
}

/* Belt and braces for the multi loop's own check: aborts inside curl's
 * work between two polls. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    otlp_exporter *x = ud;

    OTEL__UNUSED(dt);
    OTEL__UNUSED(dn);
    OTEL__UNUSED(ut);
    OTEL__UNUSED(un);
    return atomic_load_explicit(&x->stop, memory_order_relaxed) != 0;
}

/* ---- handles ------------------------------------------------------------*/

static void init_cond(otlp_exporter *x)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cond, &ca);
    pthread_condattr_destroy(&ca);
}

static int open_handles(otlp_exporter *x)
{
    pid_t pid = getpid();
    CURLM *multi;
    CURL *easy;

    if (x->multi && x->pid == pid) {
        return OTEL_OK;
    }
    if (x->multi) {
        /* A forked child.  The parent's handles are left alone, not cleaned
         * up: closing them could end the parent's TLS session on the socket
         * both share.  No child thread has used the lock yet, and a parent
         * thread may have held it at fork time. */
        pthread_mutex_init(&x->lock, NULL);
        init_cond(x);
        x->multi = NULL;
        x->easy = NULL;
    }
    multi = curl_multi_init();
    easy = curl_easy_init();
    if (!multi || !easy) {
        curl_easy_cleanup(easy);
        if (multi) {
            curl_multi_cleanup(multi);
        }
        return OTEL_ENOMEM;
    }
    curl_easy_setopt(easy, CURLOPT_URL, x->url);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Only http and https, also across redirects (which OTLP does not
     * use: a 3xx is an error like any other non-retryable status). */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    pthread_mutex_lock(&x->lock);
    x->multi = multi;
    x->easy = easy;
    x->pid = pid;
    pthread_mutex_unlock(&x->lock);
    return OTEL_OK;
}

/* ---- one request ----------------------------------------------------------*/

enum { SENT, RETRY, FAIL, ABORTED };

/* Sends the body once.  Returns SENT with *rejected set, RETRY, FAIL or
 * ABORTED (shutdown). */
static int request(otlp_exporter *x, const char *body, size_t len,
                   int64_t timeout_ms, int64_t *rejected)
{
    CURLcode cc = CURLE_OK;
    CURLMsg *m;
    long status = 0;
    int running = 1, left;

    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)len);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    x->resp_len = 0;
    x->retry_after_ms = -1;
    if (curl_multi_add_handle(x->multi, x->easy) != CURLM_OK) {
        return FAIL;
    }
    otel__stat_add(OTEL_STAT_EXPORT_REQUESTS, 1);
    otel__stat_add(OTEL_STAT_EXPORT_BYTES, len);
    for (;;) {
        if (curl_multi_perform(x->multi, &running) != CURLM_OK) {
            cc = CURLE_FAILED_INIT;
            break;
        }
        if (!running) {
            break;
        }
        if (atomic_load_explicit(&x->stop, memory_order_acquire)) {
            curl_multi_remove_handle(x->multi, x->easy);
            return ABORTED;
        }
        /* curl shortens the wait to its own timers (request timeout). */
        if (curl_multi_poll(x->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            cc = CURLE_FAILED_INIT;
            break;
        }
    }
    while ((m = curl_multi_info_read(x->multi, &left))) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == x->easy) {
            cc = m->data.result;
        }
    }
    curl_multi_remove_handle(x->multi, x->easy);
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        return ABORTED;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return RETRY;   /* transport errors that may pass */
    default:
        return FAIL;    /* bad URL, TLS verification, ... */
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        /* An undecodable 2xx body is still a success. */
        if (otel__otlp_decode_response((const uint8_t *)x->resp,
                                       x->resp_len, rejected, NULL, 0)
            || *rejected < 0) {
            *rejected = 0;
        }
        return SENT;
    }
    if (status == 429 || status == 502 || status == 503 || status == 504) {
        return RETRY;
    }
    return FAIL;
}

/* Sleeps until mono deadline `until` unless shutdown comes first; returns
 * false on shutdown. */
static bool backoff_sleep(otlp_exporter *x, int64_t until)
{
    struct timespec ts;
    bool ok;

    ts.tv_sec = (time_t)(until / 1000);
    ts.tv_nsec = (long)(until % 1000) * 1000000;
    pthread_mutex_lock(&x->lock);
    while (!atomic_load_explicit(&x->stop, memory_order_relaxed)
           && mono_ms() < until) {
        pthread_cond_timedwait(&x->cond, &x->lock, &ts);
    }
    ok = !atomic_load_explicit(&x->stop, memory_order_relaxed);
    pthread_mutex_unlock(&x->lock);
    return ok;
}

/* The body to send: the encoded request, gzipped when configured. */
static int compress_body(otlp_exporter *x, const char **out, size_t *len)
{
    uLong bound;
    char *nb;

    if (!x->gzip) {
        *out = x->body.buf;
        *len = x->body.len;
        return OTEL_OK;
    }
    if (x->body.len > UINT32_MAX) {
        return OTEL_EEXPORT;    /* one deflate() call takes a uInt */
    }
    if (!x->zs_ready) {
        memset(&x->zs, 0, sizeof(x->zs));
        /* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip
         * means; level 6 is zlib's speed/size default. */
        if (deflateInit2(&x->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
                         8, Z_DEFAULT_STRATEGY) != Z_OK) {
            return OTEL_ENOMEM;
        }
        x->zs_ready = true;
    } else {
        deflateReset(&x->zs);
    }
    bound = deflateBound(&x->zs, (uLong)x->body.len);
    if (x->gz.cap < bound) {
        nb = realloc(x->gz.buf, bound);
        if (!nb) {
            return OTEL_ENOMEM;
        }
        x->gz.buf = nb;
        x->gz.cap = bound;
    }
    x->zs.next_in = (Bytef *)x->body.buf;
    x->zs.avail_in = (uInt)x->body.len;
    x->zs.next_out = (Bytef *)x->gz.buf;
    x->zs.avail_out = (uInt)x->gz.cap;
    if (deflate(&x->zs, Z_FINISH) != Z_STREAM_END) {
        return OTEL_EEXPORT;
    }
    x->gz.len = x->gz.cap - x->zs.avail_out;
    *out = x->gz.buf;
    *len = x->gz.len;
    return OTEL_OK;
}

static int otlp_export(otel__exporter *e, otel__span *const *spans, size_t n)
{
    otlp_exporter *x = (otlp_exporter *)e;
    int64_t deadline, now, left, t, delay, backoff = BACKOFF_INITIAL_MS;
    int64_t rejected = 0;
    const char *body;
    size_t len;
    int rc;

    if (n == 0) {
        return 0;
    }
    if (atomic_load_explicit(&x->stop, memory_order_acquire)) {
        return OTEL_ESTATE;
    }
    if (curl_init_rc != CURLE_OK) {
        return OTEL_EEXPORT;
    }
    now = mono_ms();
    deadline = x->export_timeout_ms > 0
               && x->export_timeout_ms < INT64_MAX - now
               ? now + x->export_timeout_ms : INT64_MAX;
    rc = open_handles(x);
    if (rc) {
        return rc;
    }
    x->body.len = 0;
    rc = otel__otlp_encode(x->provider, spans, n, &x->body);
    if (rc == OTEL_OK) {
        rc = compress_body(x, &body, &len);
    }
    if (rc) {
        return rc;
    }
    for (;;) {
        now = mono_ms();
        left = deadline - now;
        if (left <= 0) {
            return OTEL_ETIMEDOUT;
        }
        t = deadline == INT64_MAX ? 0 : left;   /* curl: 0 is no limit */
        switch (request(x, body, len, t, &rejected)) {
        case SENT:
            return rejected > (int64_t)n ? (int)n : (int)rejected;
        case ABORTED:
            return OTEL_ESTATE;
        case FAIL:
            return OTEL_EEXPORT;
        }
        /* RETRY: the greater of our backoff and the server's Retry-After
         * (as the Go SDK does): a Retry-After may lengthen the wait but
         * never shorten it, or "Retry-After: 0" from an overloaded
         * collector would have us retry in a tight loop until the export
         * deadline. */
        delay = backoff / 2 + (int64_t)(next_rand(x)
                                        % (uint64_t)(backoff / 2 + 1));
        if (x->retry_after_ms > delay) {
            delay = x->retry_after_ms;
        }
        if (backoff < BACKOFF_MAX_MS) {
            backoff *= 2;
        }
        /* Never sleep past the export deadline: a retry that cannot
         * start in time is a failure now. */
        if (mono_ms() + delay >= deadline) {
            return OTEL_EEXPORT;
        }
        otel__stat_add(OTEL_STAT_EXPORT_RETRIES, 1);
        if (!backoff_sleep(x, mono_ms() + delay)) {
            return OTEL_ESTATE;
        }
    }
}

static int otlp_flush(otel__exporter *e, int timeout_ms)
{
    OTEL__UNUSED(e);
    OTEL__UNUSED(timeout_ms);
    return OTEL_OK;     /* nothing is buffered between exports */
}

/* Idempotent; any thread.  An export under way returns OTEL_ESTATE at
 * once and later ones do nothing. */
static void otlp_shutdown(otel__exporter *e)
{
    otlp_exporter *x = (otlp_exporter *)e;

    pthread_mutex_lock(&x->lock);
    atomic_store_explicit(&x->stop, 1, memory_order_release);
    if (x->multi && x->pid == getpid()) {
        curl_multi_wakeup(x->multi);
    }
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
}

static void otlp_destroy(otel__exporter *e)
{
    otlp_exporter *x = (otlp_exporter *)e;

    if (!x) {
        return;
    }
    if (x->multi && x->pid == getpid()) {
        curl_easy_cleanup(x->easy);
        curl_multi_cleanup(x->multi);
    }
    curl_slist_free_all(x->headers);
    if (x->zs_ready) {
        deflateEnd(&x->zs);
    }
    otel__buf_free(&x->body);
    otel__buf_free(&x->gz);
    free(x->resp);
    free(x->url);
    pthread_cond_destroy(&x->cond);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

/* A header from the configuration, or false for one that would break the
 * request: a bad name, CR or LF (header injection), or one we set. */
static bool header_ok(const char *k, const char *v)
{
    static const char *const ours[] = {
        "content-type", "content-length", "content-encoding", "expect",
        "transfer-encoding", "host"
    };
    const char *c;
    size_t i;

    if (!k || !*k || !v) {
        return false;
    }
    for (c = k; *c; c++) {
        if (*c <= ' ' || *c == ':' || (unsigned char)*c >= 0x7f) {
            return false;
        }
    }
    for (c = v; *c; c++) {
        if (*c == '\r' || *c == '\n') {
            return false;
        }
    }
    for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
        if (strcasecmp(k, ours[i]) == 0) {
            return false;
        }
    }
    return true;
}

static int add_line(struct curl_slist **list, const char *line)
{
    struct curl_slist *nl = curl_slist_append(*list, line);

    if (!nl) {
        return OTEL_ENOMEM;
    }
    *list = nl;
    return OTEL_OK;
}

static int add_header(struct curl_slist **list, const char *k,
                      const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    char *line = malloc(kl + vl + 3);
    int rc;

    if (!line) {
        return OTEL_ENOMEM;
    }
    memcpy(line, k, kl);
    if (vl) {
        line[kl] = ':';
        line[kl + 1] = ' ';
        memcpy(line + kl + 2, v, vl + 1);
    } else {
        /* curl's syntax for a header with an empty value */
        line[kl] = ';';
        line[kl + 1] = '\0';
    }
    rc = add_line(list, line);
    free(line);
    return rc;
}

otel__exporter *otel__exporter_otlp_new(const otel_config *cfg,
                                        otel_provider *p, int *status)
{
    otlp_exporter *x;
    const char *url;
    size_t i;
    int rc = OTEL_ENOMEM;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        rc = OTEL_EEXPORT;
        goto fail;
    }
    x = calloc(1, sizeof(*x));
    if (!x) {
        goto fail;
    }
    pthread_mutex_init(&x->lock, NULL);
    init_cond(x);
    atomic_init(&x->stop, 0);
    x->base.export_spans = otlp_export;
    x->base.flush = otlp_flush;
    x->base.shutdown = otlp_shutdown;
    x->base.destroy = otlp_destroy;
    x->provider = p;
    x->gzip = cfg->otlp_compression == 1;
    /* The OTLP timeout bounds one export as a whole, retries included,
     * and so does the processor's export timeout: the smaller wins, and 0
     * is no limit. */
    x->export_timeout_ms = cfg->otlp_timeout_ms;
    if (cfg->bsp_export_timeout_ms > 0
        && (x->export_timeout_ms == 0
            || cfg->bsp_export_timeout_ms < x->export_timeout_ms)) {
        x->export_timeout_ms = cfg->bsp_export_timeout_ms;
    }
    x->rng = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15ULL
             ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)x;
    if (!x->rng) {
        x->rng = 1;
    }
    url = cfg->otlp_endpoint && *cfg->otlp_endpoint ? cfg->otlp_endpoint
                                                     : DEFAULT_ENDPOINT;
    x->url = strdup(url);
    x->resp = malloc(RESP_MAX);
    if (!x->url || !x->resp) {
        goto fail_x;
    }
    if (add_header(&x->headers, "Content-Type", "application/x-protobuf")
        || (x->gzip && add_header(&x->headers, "Content-Encoding", "gzip"))
        || add_line(&x->headers, "Expect:")) {
        goto fail_x;
    }
    for (i = 0; i < cfg->n_headers; i++) {
        if (header_ok(cfg->headers[i].name, cfg->headers[i].value)
            && add_header(&x->headers, cfg->headers[i].name,
                          cfg->headers[i].value)) {
            goto fail_x;
        }
    }
    if (status) {
        *status = OTEL_OK;
    }
    return &x->base;

fail_x:
    otlp_destroy(&x->base);
fail:
    if (status) {
        *status = rc;
    }
    return NULL;
}
