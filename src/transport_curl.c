/*
 * The exporter's HTTP transport on libcurl.
 *
 * One easy handle, driven through a multi handle, is reused for every
 * request so the connection stays open between batches (HTTP/1.1
 * keep-alive, or one HTTP/2 connection for gRPC).  The multi interface is
 * there for shutdown: curl_multi_wakeup() interrupts a request that is
 * waiting on a slow collector at once, where an easy perform would only
 * notice at its next progress callback (up to a second later).  Backoff
 * sleeps wait on a condition variable for the same reason.
 *
 * Not reentrant: the exporter sends from one thread at a time.  shutdown()
 * may be called from any thread while a request runs.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "transport.h"

#define USER_AGENT "OTel-OTLP-Exporter-Lua/" OTEL_VERSION_STRING " (lua-otel)"

struct otel__transport {
    char              *url, *ca_file, *client_cert, *client_key;
    bool               http2;
    otel__header_fn    on_header;
    void              *ud;
    struct curl_slist *headers;

    /* Handles are made by the first request in a process: a child that
     * forked after setup must not share the parent's connection. */
    CURLM             *multi;
    CURL              *easy;
    pid_t              pid;
    bool               h2c;         /* HTTP/2 over plain TCP */
    curl_socket_t      h2c_sock;    /* its connection, or CURL_SOCKET_BAD */

    otel__buf          resp;
    bool               resp_over;
    char               errbuf[CURL_ERROR_SIZE];
    char               why[CURL_ERROR_SIZE + 64];

    pthread_mutex_t    lock;
    pthread_cond_t     cond;
    _Atomic int        stop;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- curl callbacks -------------------------------------------------------*/

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    otel__transport *t = ud;
    size_t n = size * nmemb;

    if (t->resp.len + n > OTEL__RESPONSE_MAX) {
        t->resp_over = true;
        return 0;       /* curl ends the transfer: CURLE_WRITE_ERROR */
    }
    otel__buf_put(&t->resp, p, n);
    return t->resp.oom ? 0 : n;
}

/* Headers and, over HTTP/2, trailers: "Name: value\r\n".  Status lines
 * and the blank line that ends a block are not headers. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    otel__transport *t = ud;
    size_t n = size * nmemb, nl, vs;
    const char *colon = memchr(p, ':', n);

    if (!colon || !t->on_header || (n >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
        return n;
    }
    nl = (size_t)(colon - p);
    vs = nl + 1;
    while (vs < n && (p[vs] == ' ' || p[vs] == '\t')) {
        vs++;
    }
    while (n > vs && (p[n - 1] == '\r' || p[n - 1] == '\n'
                      || p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    t->on_header(t->ud, p, nl, p + vs, n - vs);
    return size * nmemb;
}

/* Belt and braces for the multi loop's own check: aborts inside curl's
 * work between two polls. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    otel__transport *t = ud;

    OTEL__UNUSED(dt);
    OTEL__UNUSED(dn);
    OTEL__UNUSED(ut);
    OTEL__UNUSED(un);
    return atomic_load_explicit(&t->stop, memory_order_relaxed) != 0;
}

/* ---- handles ------------------------------------------------------------*/

static void init_cond(otel__transport *t)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void set_tls(otel__transport *t, CURL *easy)
{
    if (t->ca_file) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, t->ca_file);
    }
    if (t->client_cert) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, t->client_cert);
    }
    if (t->client_key) {
        curl_easy_setopt(easy, CURLOPT_SSLKEY, t->client_key);
    }
}

static int open_handles(otel__transport *t)
{
    pid_t pid = getpid();
    CURLM *multi;
    CURL *easy;

    if (t->multi && t->pid == pid) {
        return OTEL_OK;
    }
    if (t->multi) {
        /* A forked child.  The parent's handles are left alone, not cleaned
         * up: closing them could end the parent's TLS session on the socket
         * both share.  No child thread has used the lock yet, and a parent
         * thread may have held it at fork time. */
        pthread_mutex_init(&t->lock, NULL);
        init_cond(t);
        t->multi = NULL;
        t->easy = NULL;
        t->h2c_sock = CURL_SOCKET_BAD;
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
    curl_easy_setopt(easy, CURLOPT_URL, t->url);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf);
    if (t->http2 && !t->h2c) {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                         (long)CURL_HTTP_VERSION_2TLS);
    }
    set_tls(t, easy);
    /* Only http and https, also across redirects (which OTLP does not
     * use: a 3xx is an error like any other non-retryable status). */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    pthread_mutex_lock(&t->lock);
    t->multi = multi;
    t->easy = easy;
    t->pid = pid;
    pthread_mutex_unlock(&t->lock);
    return OTEL_OK;
}

/* ---- h2c ------------------------------------------------------------------*/

/*
 * libcurl 7.88 (Debian 12) cannot reuse an HTTP/2 connection made with
 * prior knowledge while prior knowledge is asked again: the second
 * request fails with "Error in the HTTP2 framing layer" (curl issue
 * 10634, fixed in 8.0).  So prior knowledge is asked only for a new
 * connection (and a new one is forced then), and plain HTTP/2 while the
 * last one is known to be open, which reuses it.  Should the collector
 * close it between that check and the request, curl would open a new
 * connection with an HTTP/1.1 upgrade, which a gRPC server refuses: that
 * attempt fails and is retried with prior knowledge.
 */
static bool sock_open(curl_socket_t s)
{
    struct pollfd p = { .fd = s, .events = POLLIN };
    char c;

    if (s == CURL_SOCKET_BAD) {
        return false;
    }
    if (poll(&p, 1, 0) == 0) {
        return true;        /* nothing to read: open and idle */
    }
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        return false;
    }
    return recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void h2c_version(otel__transport *t)
{
    bool reuse = sock_open(t->h2c_sock);

    curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION,
                     reuse ? (long)CURL_HTTP_VERSION_2_0
                           : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, reuse ? 0L : 1L);
}

static void h2c_done(otel__transport *t, CURLcode cc)
{
    curl_socket_t s = CURL_SOCKET_BAD;
    long v = 0;

    if (cc == CURLE_OK) {
        curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &v);
        curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &s);
    }
    t->h2c_sock = v == CURL_HTTP_VERSION_2_0 ? s : CURL_SOCKET_BAD;
}

/* ---- one request ----------------------------------------------------------*/

static int classify(otel__transport *t, CURLcode cc)
{
    snprintf(t->why, sizeof(t->why), "%s",
             t->resp_over ? "the answer is larger than the 4 MiB limit"
             : t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc));
    switch (cc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return OTEL__T_ABORTED;
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
        return OTEL__T_RETRY;   /* may pass */
    default:
        return OTEL__T_FAIL;    /* bad URL, TLS files or verification,
                                 * an answer too large, ... */
    }
}

int otel__transport_send(otel__transport *t, const char *body, size_t len,
                         int64_t timeout_ms, const char *extra_header,
                         long *status)
{
    struct curl_slist extra, *last = NULL;
    CURL *easy;
    CURLcode cc = CURLE_OK;
    CURLMsg *m;
    int running = 1, left, rc;

    t->why[0] = '\0';
    t->errbuf[0] = '\0';
    if (atomic_load_explicit(&t->stop, memory_order_acquire)) {
        return OTEL__T_ABORTED;
    }
    if (open_handles(t) != OTEL_OK) {
        snprintf(t->why, sizeof(t->why), "out of memory");
        return OTEL__T_FAIL;
    }
    easy = t->easy;
    if (t->h2c) {
        h2c_version(t);
    }
    /* The per-request header is linked in for this request only. */
    if (extra_header) {
        extra.data = (char *)extra_header;
        extra.next = NULL;
        for (last = t->headers; last && last->next; last = last->next) {
        }
        if (last) {
            last->next = &extra;
        }
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER,
                     t->headers ? t->headers : (extra_header ? &extra : NULL));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)len);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    t->resp.len = 0;
    t->resp.oom = false;
    t->resp_over = false;
    if (curl_multi_add_handle(t->multi, easy) != CURLM_OK) {
        rc = classify(t, CURLE_FAILED_INIT);
        goto out;
    }
    otel__stat_add(OTEL_STAT_EXPORT_REQUESTS, 1);
    otel__stat_add(OTEL_STAT_EXPORT_BYTES, len);
    for (;;) {
        if (curl_multi_perform(t->multi, &running) != CURLM_OK) {
            cc = CURLE_FAILED_INIT;
            break;
        }
        if (!running) {
            break;
        }
        if (atomic_load_explicit(&t->stop, memory_order_acquire)) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        /* curl shortens the wait to its own timers (request timeout). */
        if (curl_multi_poll(t->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            cc = CURLE_FAILED_INIT;
            break;
        }
    }
    while ((m = curl_multi_info_read(t->multi, &left))) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == easy) {
            cc = m->data.result;
        }
    }
    if (t->h2c) {
        h2c_done(t, cc);
    }
    curl_multi_remove_handle(t->multi, easy);
    if (cc != CURLE_OK) {
        rc = classify(t, cc);
    } else {
        *status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
        rc = OTEL__T_ANSWERED;
    }
out:
    if (last) {
        last->next = NULL;
    }
    return rc;
}

const char *otel__transport_body(const otel__transport *t, size_t *len)
{
    *len = t->resp.len;
    return t->resp.buf ? t->resp.buf : "";
}

const char *otel__transport_error(const otel__transport *t)
{
    return t->why;
}

bool otel__transport_sleep(otel__transport *t, int64_t until)
{
    struct timespec ts;
    bool ok;

    ts.tv_sec = (time_t)(until / 1000);
    ts.tv_nsec = (long)(until % 1000) * 1000000;
    pthread_mutex_lock(&t->lock);
    while (!atomic_load_explicit(&t->stop, memory_order_relaxed)
           && otel__mono_ms() < until) {
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    }
    ok = !atomic_load_explicit(&t->stop, memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

bool otel__transport_stopped(otel__transport *t)
{
    return atomic_load_explicit(&t->stop, memory_order_acquire) != 0;
}

void otel__transport_shutdown(otel__transport *t)
{
    pthread_mutex_lock(&t->lock);
    atomic_store_explicit(&t->stop, 1, memory_order_release);
    if (t->multi && t->pid == getpid()) {
        curl_multi_wakeup(t->multi);
    }
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

void otel__transport_free(otel__transport *t)
{
    if (!t) {
        return;
    }
    if (t->multi && t->pid == getpid()) {
        curl_easy_cleanup(t->easy);
        curl_multi_cleanup(t->multi);
    }
    curl_slist_free_all(t->headers);
    otel__buf_free(&t->resp);
    free(t->url);
    free(t->ca_file);
    free(t->client_cert);
    free(t->client_key);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static bool dup_opt(char **out, const char *s)
{
    *out = s ? strdup(s) : NULL;
    return !s || *out;
}

otel__transport *otel__transport_new(const otel__transport_opts *o)
{
    otel__transport *t;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK || !(t = calloc(1, sizeof(*t)))) {
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    init_cond(t);
    atomic_init(&t->stop, 0);
    t->http2 = o->http2;
    t->h2c = o->http2 && strncasecmp(o->url, "https:", 6) != 0;
    t->h2c_sock = CURL_SOCKET_BAD;
    t->on_header = o->on_header;
    t->ud = o->ud;
    if (!dup_opt(&t->url, o->url) || !dup_opt(&t->ca_file, o->ca_file)
        || !dup_opt(&t->client_cert, o->client_cert)
        || !dup_opt(&t->client_key, o->client_key)
        || otel__transport_header(t, "Expect", NULL)) {
        otel__transport_free(t);
        return NULL;
    }
    return t;
}

int otel__transport_header(otel__transport *t, const char *k, const char *v)
{
    size_t kl = strlen(k), vl = v ? strlen(v) : 0;
    char *line = malloc(kl + vl + 3);
    struct curl_slist *nl;

    if (!line) {
        return OTEL_ENOMEM;
    }
    memcpy(line, k, kl);
    if (!v) {
        /* curl's syntax for "do not send this header" */
        strcpy(line + kl, ":");
    } else if (vl) {
        line[kl] = ':';
        line[kl + 1] = ' ';
        memcpy(line + kl + 2, v, vl + 1);
    } else {
        /* curl's syntax for a header with an empty value */
        strcpy(line + kl, ";");
    }
    nl = curl_slist_append(t->headers, line);
    free(line);
    if (!nl) {
        return OTEL_ENOMEM;
    }
    t->headers = nl;
    return OTEL_OK;
}
