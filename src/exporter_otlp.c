/*
 * The OTLP exporter, for its three protocols: http/protobuf, http/json
 * and grpc.  It encodes a batch (otlp_encode.c or otlp_json.c), gzips it
 * when configured, frames it for gRPC (otlp_grpc.c), sends it through the
 * transport (transport_curl.c) and reads the answer: partial success,
 * retryable or permanent failure.  Retries back off exponentially with
 * jitter within the export timeout and honour the server's Retry-After or
 * gRPC RetryInfo.
 *
 * Failures are told to the operator once per kind (otel__warn_now), not once
 * per batch; the counters hold the numbers.
 *
 * Not reentrant: the batch worker (or the simple processor, under its
 * lock) calls export_spans() from one thread at a time.  shutdown() may be
 * called from any thread while an export runs.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "otlp.h"
#include "transport.h"

/* Exponential backoff between attempts: 1 s, 2 s, 4 s ... capped, each
 * jittered down to half of it so that workers do not retry in step. */
#define BACKOFF_INITIAL_MS 1000
#define BACKOFF_MAX_MS     32000

/* The largest request sent (the collector's default limit); a larger
 * batch goes in halves. */
#define REQUEST_MAX ((size_t)64 << 20)

typedef struct {
    otel__exporter     base;
    const otel__attrs *resource;
    otel__transport   *t;
    int                protocol;
    bool               gzip;
    int64_t            export_timeout_ms;   /* 0: no limit */
    char              *url;
    char              *broken;      /* why no export can succeed, or NULL */

    otel__buf          body, gz;    /* [gRPC prefix] message */
    z_stream           zs;
    bool               zs_ready;

    /* from the answer's headers and trailers */
    int64_t            retry_after_ms;  /* -1: none */
    int                grpc_status;     /* -1: none */
    char               grpc_message[160];
    char               partial_msg[160];    /* partial_success's message */

    char               why[320];    /* the last failure, in words */
    int                warned;      /* its kind, told once; 0: none */
    uint64_t           rng;
} otlp_exporter;

/* Kinds of failure, for telling each once. */
enum { W_TRANSPORT = 1, W_HTTP, W_GRPC, W_PARTIAL, W_BROKEN, W_TOOBIG,
       W_DEADLINE };

static uint64_t next_rand(otlp_exporter *x)
{
    /* xorshift64*: jitter only, no need for quality. */
    x->rng ^= x->rng >> 12;
    x->rng ^= x->rng << 25;
    x->rng ^= x->rng >> 27;
    return x->rng * 0x2545F4914F6CDD1DULL;
}

/* Tells the operator about a failure unless it is the one told last.
 * kind and code together name it (a curl code, an HTTP or gRPC status). */
static void report(otlp_exporter *x, int kind, int code)
{
    int key = kind << 16 | (code & 0xffff);

    if (key == x->warned) {
        return;
    }
    x->warned = key;
    otel__warn_now("export to %s: %s", x->url, x->why);
}

/* ---- the answer's headers ---------------------------------------------*/

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static int64_t parse_retry_after(const char *v, size_t n)
{
    char buf[128];
    int64_t secs = 0;
    time_t t, now;
    size_t i;

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

static bool is(const char *name, size_t nl, const char *want)
{
    return strlen(want) == nl && strncasecmp(name, want, nl) == 0;
}

static void on_header(void *ud, const char *k, size_t kl, const char *v,
                      size_t vl)
{
    otlp_exporter *x = ud;
    size_t i;
    int code = 0;

    if (is(k, kl, "retry-after")) {
        x->retry_after_ms = parse_retry_after(v, vl);
    } else if (is(k, kl, "grpc-status")) {
        for (i = 0; i < vl && i < 4 && isdigit((unsigned char)v[i]); i++) {
            code = code * 10 + (v[i] - '0');
        }
        x->grpc_status = i == vl && vl ? code : 2;  /* else UNKNOWN */
    } else if (is(k, kl, "grpc-message")) {
        /* percent-encoded text; shown as sent */
        snprintf(x->grpc_message, sizeof(x->grpc_message), "%.*s",
                 (int)(vl < 150 ? vl : 150), v);
    } else if (is(k, kl, "grpc-status-details-bin")) {
        x->retry_after_ms = otel__grpc_retry_delay_ms(v, vl);
    }
}

/* ---- one attempt ----------------------------------------------------------*/

enum { SENT, RETRY, FAIL, ABORTED };

static int http_answer(otlp_exporter *x, long status, int64_t *rejected)
{
    const char *resp;
    size_t rlen;

    resp = otel__transport_body(x->t, &rlen);
    if (status >= 200 && status < 300) {
        /* An undecodable 2xx body is still a success. */
        if ((x->protocol == OTEL_PROTOCOL_HTTP_JSON
             ? otel__otlp_json_response(resp, rlen, rejected)
             : otel__otlp_decode_response((const uint8_t *)resp, rlen,
                                          rejected, x->partial_msg,
                                          sizeof(x->partial_msg)))
            || *rejected < 0) {
            *rejected = 0;
        }
        return SENT;
    }
    snprintf(x->why, sizeof(x->why), "HTTP status %ld", status);
    if (status == 429 || status == 502 || status == 503 || status == 504) {
        return RETRY;
    }
    report(x, W_HTTP, (int)status);
    return FAIL;
}

static int grpc_answer(otlp_exporter *x, long status, int64_t *rejected)
{
    const uint8_t *msg;
    const char *resp;
    size_t rlen, mlen;
    int code = x->grpc_status;

    if (status != 200) {
        /* Not a gRPC server's answer: the HTTP status decides, mapped as
         * gRPC's own clients map it. */
        return http_answer(x, status, rejected);
    }
    if (code == OTEL__GRPC_OK) {
        resp = otel__transport_body(x->t, &rlen);
        if (otel__grpc_unframe((const uint8_t *)resp, rlen, &msg, &mlen)
            != 0
            || otel__otlp_decode_response(msg, mlen, rejected,
                                          x->partial_msg,
                                          sizeof(x->partial_msg))
            || *rejected < 0) {
            *rejected = 0;
        }
        return SENT;
    }
    if (code < 0) {
        snprintf(x->why, sizeof(x->why), "no grpc-status in the answer "
                 "(is this a gRPC endpoint?)");
        report(x, W_GRPC, 0xffff);
        return FAIL;
    }
    snprintf(x->why, sizeof(x->why), "grpc-status %d %s%s%s", code,
             otel__grpc_code_name(code), x->grpc_message[0] ? ": " : "",
             x->grpc_message);
    if (otel__grpc_retryable(code, x->retry_after_ms >= 0)) {
        return RETRY;
    }
    report(x, W_GRPC, code);
    return FAIL;
}

/* Sends the body once: SENT with *rejected set, RETRY, FAIL or ABORTED. */
static int attempt(otlp_exporter *x, const char *body, size_t len,
                   int64_t timeout_ms, int64_t *rejected)
{
    bool grpc = x->protocol == OTEL_PROTOCOL_GRPC;
    char tbuf[48];
    long status = 0;
    int r;

    x->retry_after_ms = -1;
    x->grpc_status = -1;
    x->grpc_message[0] = '\0';
    x->partial_msg[0] = '\0';
    /* timeout_ms 0 is no limit: no grpc-timeout either */
    if (grpc && timeout_ms > 0) {
        otel__grpc_timeout(tbuf, sizeof(tbuf), timeout_ms);
    }
    r = otel__transport_send(x->t, body, len, timeout_ms,
                             grpc && timeout_ms > 0 ? tbuf : NULL, &status);
    switch (r) {
    case OTEL__T_ANSWERED:
        return grpc ? grpc_answer(x, status, rejected)
                    : http_answer(x, status, rejected);
    case OTEL__T_ABORTED:
        return ABORTED;
    default:
        snprintf(x->why, sizeof(x->why), "%s",
                 otel__transport_error(x->t));
        if (r == OTEL__T_FAIL) {
            report(x, W_TRANSPORT, 0);
            return FAIL;
        }
        return RETRY;
    }
}

/* ---- the request ------------------------------------------------------*/

/* gzips body from offset `from` into gz after the same prefix. */
static int compress_body(otlp_exporter *x, size_t from)
{
    uLong bound;
    char *nb;

    if (x->body.len - from > UINT32_MAX) {
        return OTEL_EEXPORT;    /* one deflate() call takes a uInt */
    }
    if (!x->zs_ready) {
        memset(&x->zs, 0, sizeof(x->zs));
        /* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip
         * and grpc-encoding: gzip mean; level 6 is zlib's speed/size
         * default. */
        if (deflateInit2(&x->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
                         8, Z_DEFAULT_STRATEGY) != Z_OK) {
            return OTEL_ENOMEM;
        }
        x->zs_ready = true;
    } else {
        deflateReset(&x->zs);
    }
    bound = deflateBound(&x->zs, (uLong)(x->body.len - from)) + from;
    if (x->gz.cap < bound) {
        nb = realloc(x->gz.buf, bound);
        if (!nb) {
            return OTEL_ENOMEM;
        }
        x->gz.buf = nb;
        x->gz.cap = bound;
    }
    memcpy(x->gz.buf, x->body.buf, from);
    x->zs.next_in = (Bytef *)x->body.buf + from;
    x->zs.avail_in = (uInt)(x->body.len - from);
    x->zs.next_out = (Bytef *)x->gz.buf + from;
    x->zs.avail_out = (uInt)(x->gz.cap - from);
    if (deflate(&x->zs, Z_FINISH) != Z_STREAM_END) {
        return OTEL_EEXPORT;
    }
    x->gz.len = x->gz.cap - x->zs.avail_out;
    return OTEL_OK;
}

/* Encodes the batch into the request body: *out, *len. */
static int build(otlp_exporter *x, otel__span *const *spans, size_t n,
                 const char **out, size_t *len)
{
    size_t from = x->protocol == OTEL_PROTOCOL_GRPC ? 5 : 0;
    otel__buf *b = &x->body;
    int rc;

    b->len = 0;
    otel__buf_put(b, "\0\0\0\0\0", from);
    if (b->oom) {
        b->oom = false;
        return OTEL_ENOMEM;
    }
    rc = x->protocol == OTEL_PROTOCOL_HTTP_JSON
         ? otel__otlp_json(x->resource, spans, n, b)
         : otel__otlp_encode(x->resource, spans, n, b);
    if (rc) {
        return rc;
    }
    if (b->len - from > REQUEST_MAX) {
        return OTEL__ETOOBIG;
    }
    if (x->gzip) {
        rc = compress_body(x, from);
        if (rc) {
            return rc;
        }
        b = &x->gz;
    }
    if (from) {
        otel__grpc_frame((uint8_t *)b->buf, x->gzip, b->len - from);
    }
    *out = b->buf;
    *len = b->len;
    return OTEL_OK;
}

static int otlp_export(otel__exporter *e, otel__span *const *spans, size_t n)
{
    otlp_exporter *x = (otlp_exporter *)e;
    int64_t now, deadline, left, t, delay, backoff = BACKOFF_INITIAL_MS;
    int64_t rejected = 0;
    const char *body;
    size_t len;
    int rc;

    if (n == 0) {
        return 0;
    }
    if (otel__transport_stopped(x->t)) {
        return OTEL_ESTATE;
    }
    if (x->broken) {
        snprintf(x->why, sizeof(x->why), "%s", x->broken);
        report(x, W_BROKEN, 0);
        return OTEL_EEXPORT;
    }
    now = otel__mono_ms();
    deadline = x->export_timeout_ms > 0
               && x->export_timeout_ms < INT64_MAX - now
               ? now + x->export_timeout_ms : INT64_MAX;
    rc = build(x, spans, n, &body, &len);
    if (rc == OTEL__ETOOBIG && n == 1) {
        snprintf(x->why, sizeof(x->why), "a span larger than the 64 MiB "
                 "request limit was dropped");
        report(x, W_TOOBIG, 0);
        return OTEL_EEXPORT;
    }
    if (rc) {
        return rc;
    }
    for (;;) {
        left = deadline - otel__mono_ms();
        if (left <= 0) {
            break;
        }
        t = deadline == INT64_MAX ? 0 : left;   /* 0 is no limit */
        switch (attempt(x, body, len, t, &rejected)) {
        case SENT:
            if (rejected <= 0) {
                x->warned = 0;      /* a failure again will be told */
            } else {
                /* the specification asks to log the collector's reason */
                snprintf(x->why, sizeof(x->why), "%lld span(s) rejected "
                         "(partial success)%s%s", (long long)rejected,
                         x->partial_msg[0] ? ": " : "", x->partial_msg);
                report(x, W_PARTIAL, 0);
            }
            return rejected > (int64_t)n ? (int)n : (int)rejected;
        case ABORTED:
            return OTEL_ESTATE;
        case FAIL:
            return OTEL_EEXPORT;
        }
        /* RETRY: the greater of our backoff and the server's Retry-After
         * or RetryInfo (as the Go SDK does): the server may lengthen the
         * wait but never shorten it, or "Retry-After: 0" from an
         * overloaded collector would have us retry in a tight loop until
         * the export deadline. */
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
        if (otel__mono_ms() + delay >= deadline) {
            break;
        }
        otel__stat_add(OTEL_STAT_EXPORT_RETRIES, 1);
        if (!otel__transport_sleep(x->t, otel__mono_ms() + delay)) {
            return OTEL_ESTATE;
        }
    }
    report(x, W_DEADLINE, 0);
    return OTEL_EEXPORT;
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
    otel__transport_shutdown(((otlp_exporter *)e)->t);
}

static void otlp_destroy(otel__exporter *e)
{
    otlp_exporter *x = (otlp_exporter *)e;

    if (!x) {
        return;
    }
    otel__transport_free(x->t);
    if (x->zs_ready) {
        deflateEnd(&x->zs);
    }
    otel__buf_free(&x->body);
    otel__buf_free(&x->gz);
    free(x->url);
    free(x->broken);
    free(x);
}

/* ---- setup ----------------------------------------------------------------*/

/* A header from the configuration, or false for one that would break the
 * request: a bad name, CR or LF (header injection), or one we set. */
static bool header_ok(const char *k, const char *v)
{
    static const char *const ours[] = {
        "content-type", "content-length", "content-encoding", "expect",
        "transfer-encoding", "host", "te", "grpc-encoding", "grpc-timeout"
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

/* The TLS files must be readable: when one is not, every export fails
 * at once with this reason (told once) instead of a confusing TLS error
 * per attempt. */
static char *check_files(const otel_config *cfg)
{
    const char *names[] = { "otlp.certificate", "otlp.client_certificate",
                            "otlp.client_key" };
    const char *files[] = { cfg->otlp_certificate, cfg->otlp_client_cert,
                            cfg->otlp_client_key };
    char why[512];
    size_t i;

    for (i = 0; i < 3; i++) {
        if (files[i] && access(files[i], R_OK) != 0) {
            snprintf(why, sizeof(why), "%s: cannot read %s: %m; "
                     "every span is dropped", names[i], files[i]);
            return strdup(why);
        }
    }
    if (!cfg->otlp_client_cert != !cfg->otlp_client_key) {
        return strdup("otlp.client_certificate and otlp.client_key go "
                      "together; every span is dropped");
    }
    return NULL;
}

static int set_headers(otlp_exporter *x, const otel_config *cfg)
{
    static const char *const types[] = {
        [OTEL_PROTOCOL_HTTP_PROTOBUF] = "application/x-protobuf",
        [OTEL_PROTOCOL_GRPC] = "application/grpc",
        [OTEL_PROTOCOL_HTTP_JSON] = "application/json",
    };
    bool grpc = x->protocol == OTEL_PROTOCOL_GRPC;
    size_t i;

    if (otel__transport_header(x->t, "Content-Type", types[x->protocol])
        || (grpc && otel__transport_header(x->t, "TE", "trailers"))
        || (x->gzip && otel__transport_header(x->t, grpc ? "grpc-encoding"
                                              : "Content-Encoding", "gzip"))) {
        return OTEL_ENOMEM;
    }
    for (i = 0; i < cfg->n_headers; i++) {
        if (header_ok(cfg->headers[i].name, cfg->headers[i].value)
            && otel__transport_header(x->t, cfg->headers[i].name,
                                      cfg->headers[i].value)) {
            return OTEL_ENOMEM;
        }
    }
    return OTEL_OK;
}

otel__exporter *otel__exporter_otlp_new(const otel_config *cfg,
                                        const otel__attrs *resource,
                                        int *status)
{
    otel__transport_opts o = { 0 };
    otlp_exporter *x;
    char *url = NULL;
    int rc = OTEL_ENOMEM;

    x = calloc(1, sizeof(*x));
    if (!x) {
        goto fail;
    }
    x->base.export_spans = otlp_export;
    x->base.flush = otlp_flush;
    x->base.shutdown = otlp_shutdown;
    x->base.destroy = otlp_destroy;
    x->resource = resource;
    x->protocol = (int)cfg->otlp_protocol;
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
    x->rng = (uint64_t)otel__mono_ms() * 0x9E3779B97F4A7C15ULL
             ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)x;
    if (!x->rng) {
        x->rng = 1;
    }
    x->url = strdup(cfg->otlp_endpoint);
    if (!x->url) {
        goto fail_x;
    }
    if (x->protocol == OTEL_PROTOCOL_GRPC) {
        url = malloc(strlen(x->url) + sizeof(OTEL__GRPC_PATH));
        if (!url) {
            goto fail_x;
        }
        strcpy(url, x->url);
        strcat(url, OTEL__GRPC_PATH);
    }
    o.url = url ? url : x->url;
    o.http2 = x->protocol == OTEL_PROTOCOL_GRPC;
    o.ca_file = cfg->otlp_certificate;
    o.client_cert = cfg->otlp_client_cert;
    o.client_key = cfg->otlp_client_key;
    o.on_header = on_header;
    o.ud = x;
    x->t = otel__transport_new(&o);
    free(url);
    if (!x->t) {
        rc = OTEL_EEXPORT;
        goto fail_x;
    }
    if (set_headers(x, cfg)) {
        goto fail_x;
    }
    x->broken = check_files(cfg);
    if (x->broken) {
        otel__warn_now("%s", x->broken);
        x->warned = W_BROKEN << 16;
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
