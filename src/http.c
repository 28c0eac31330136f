/*
 * The HTTP semantic-convention attributes of a server request, set in one
 * call from what the host already holds (nginx: its variables and header
 * list, read through lua-nginx-module's FFI API without making strings).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static bool known_method(const char *m, size_t n)
{
    static const struct { const char *s; size_t n; } known[] = {
        { "GET", 3 }, { "HEAD", 4 }, { "POST", 4 }, { "PUT", 3 },
        { "DELETE", 6 }, { "CONNECT", 7 }, { "OPTIONS", 7 },
        { "TRACE", 5 }, { "PATCH", 5 },
    };
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (known[i].n == n && memcmp(known[i].s, m, n) == 0) {
            return true;
        }
    }
    return false;
}

/* The value of the first header named name (lower case), or NULL. */
static const char *header(const otel_http_server *r, const char *name,
                          int nl, size_t *len)
{
    size_t i;

    for (i = 0; i < r->n_headers; i++) {
        const otel_header *h = &r->headers[i];
        if (h->name_len == nl && memcmp(h->name, name, (size_t)nl) == 0) {
            *len = h->value_len > 0 ? (size_t)h->value_len : 0;
            return h->value ? h->value : "";
        }
    }
    return NULL;
}

/* A decimal port, or -1. */
static int64_t port_of(const char *s, size_t n)
{
    int64_t v = 0;
    size_t i;

    if (n == 0 || n > 5) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int64_t default_port(const char *scheme, size_t n)
{
    if ((n == 4 && memcmp(scheme, "http", 4) == 0)
        || (n == 2 && memcmp(scheme, "ws", 2) == 0)) {
        return 80;
    }
    if ((n == 5 && memcmp(scheme, "https", 5) == 0)
        || (n == 3 && memcmp(scheme, "wss", 3) == 0)) {
        return 443;
    }
    return -1;
}

/* "host[:port]" or "[v6][:port]" -> host and port (-1 when absent). */
static void split_host(const char *hp, size_t n, const char **host,
                       size_t *hl, int64_t *port)
{
    const char *c;

    *host = hp;
    *hl = n;
    *port = -1;
    if (n && hp[0] == '[') {
        c = memchr(hp, ']', n);
        if (c) {
            *host = hp + 1;
            *hl = (size_t)(c - hp) - 1;
            if ((size_t)(c - hp) + 1 < n && c[1] == ':') {
                *port = port_of(c + 2, n - (size_t)(c - hp) - 2);
            }
        }
        return;
    }
    c = memchr(hp, ':', n);
    if (c) {
        *hl = (size_t)(c - hp);
        *port = port_of(c + 1, n - *hl - 1);
    }
}

/* "HTTP/1.1" -> "1.1" (network.protocol.version), or NULL. */
static const char *protocol_version(const char *p, size_t n, size_t *vl)
{
    static const struct { const char *in, *out; } map[] = {
        { "HTTP/1.1", "1.1" }, { "HTTP/2.0", "2" }, { "HTTP/1.0", "1.0" },
        { "HTTP/3.0", "3" }, { "HTTP/0.9", "0.9" },
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (n == 8 && memcmp(p, map[i].in, 8) == 0) {
            *vl = strlen(map[i].out);
            return map[i].out;
        }
    }
    return NULL;
}

#define STR(k, v, n) otel_attr_str(h, OTEL_TARGET_SPAN, k, sizeof(k) - 1, \
                                   v, n)

OTEL_API int otel_http_server_attrs(const otel_span_handle *h,
                                    const otel_http_server *r)
{
    const char *path, *query = NULL, *q, *host, *ua, *v;
    size_t path_len, query_len = 0, hl, ul, vl;
    int64_t port;
    int rc;

    if (!h || !r || (!r->headers && r->n_headers)) {
        return OTEL_EINVAL;
    }
    if (!h->recording) {
        return OTEL_OK;
    }
    if (known_method(r->method, r->method_len)) {
        rc = STR("http.request.method", r->method, r->method_len);
    } else {
        rc = STR("http.request.method", "_OTHER", 6);
        STR("http.request.method_original", r->method, r->method_len);
    }
    if (rc == OTEL_ESTALE) {
        return rc;
    }
    if (r->target) {
        path = r->target;
        path_len = r->target_len;
        q = memchr(path, '?', path_len);
        if (q) {
            query = q + 1;
            query_len = path_len - (size_t)(q - path) - 1;
            path_len = (size_t)(q - path);
        }
    } else {
        path = r->path ? r->path : "";
        path_len = r->path ? r->path_len : 0;
        query = r->query;
        query_len = r->query_len;
    }
    STR("url.path", path, path_len);
    if (r->record_query && query && query_len) {
        STR("url.query", query, query_len);
    }
    STR("url.scheme", r->scheme, r->scheme_len);
    host = header(r, "host", 4, &hl);
    if (host) {
        split_host(host, hl, &host, &hl, &port);
        if (port < 0) {
            port = default_port(r->scheme, r->scheme_len);
        }
        STR("server.address", host, hl);
        if (port >= 0) {
            otel_attr_int(h, OTEL_TARGET_SPAN, "server.port", 11, port);
        }
    }
    STR("client.address", r->client_address, r->client_address_len);
    ua = header(r, "user-agent", 10, &ul);
    if (ua) {
        STR("user_agent.original", ua, ul);
    }
    v = r->protocol ? protocol_version(r->protocol, r->protocol_len, &vl)
                    : NULL;
    if (v) {
        STR("network.protocol.version", v, vl);
    }
    if (r->route) {
        STR("http.route", r->route, r->route_len);
    }
    return host ? OTEL_OK : 1;
}

/* ---- the upstream call of a proxy (otel.ngx's upstream span) ------------
 * nginx's per-try lists: ", " between tries, " : " between the upstream
 * groups of an internal redirect.  Each call takes the next item of *p
 * (up to end) into *s / *n; false past the end.
 */
static bool next_item(const char **p, const char *end, const char **s,
                      size_t *n)
{
    const char *q = *p, *e;

    if (!q || q > end) {
        return false;
    }
    for (e = q; e < end && *e != ','
         && !(*e == ' ' && e + 2 < end && e[1] == ':' && e[2] == ' ');
         e++) {
    }
    *s = q;
    *n = (size_t)(e - q);
    while (*n && (*s)[0] == ' ') {
        (*s)++;
        (*n)--;
    }
    while (*n && (*s)[*n - 1] == ' ') {
        (*n)--;
    }
    *p = e >= end ? NULL : e + (*e == ',' ? 1 : 3);
    return true;
}

/* "0.123" (seconds, nginx prints milliseconds) -> 123, or -1 ("-", or
 * not a duration of at most 9 digits of seconds). */
#define MAX_MS 1000000000000LL          /* 10^9 s: ns stay in 64 bits */

static int64_t millis(const char *s, size_t n)
{
    int64_t v = 0;
    size_t i, ints = 0;
    int frac = -1;

    if (n == 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (s[i] == '.' && frac < 0) {
            frac = 0;
        } else if (s[i] < '0' || s[i] > '9') {
            return -1;
        } else if (frac < 0) {
            if (++ints > 9) {
                return -1;
            }
            v = v * 10 + (s[i] - '0');
        } else if (frac < 3) {
            v = v * 10 + (s[i] - '0');
            frac++;
        }
    }
    for (frac = frac < 0 ? 0 : frac; frac < 3; frac++) {
        v *= 10;
    }
    return v;
}

/* The address of a peer: "unix:/path", "[v6]:port", "host:port". */
static void peer_of(const char *a, size_t n, const char **host, size_t *hl,
                    int64_t *port)
{
    if (n >= 5 && memcmp(a, "unix:", 5) == 0) {
        *host = a + 5;
        *hl = n - 5;
        *port = -1;
        return;
    }
    split_host(a, n, host, hl, port);
}

typedef struct {
    const char *addr;
    size_t      addr_len;
    int64_t     status, connect_ms, header_ms, response_ms;
} upstream_try;

static void set_try(const otel_span_handle *h, int32_t target,
                    const upstream_try *t)
{
    const char *host;
    size_t hl;
    int64_t port;

#define ATTR_INT(k, v) \
    if ((v) >= 0) otel_attr_int(h, target, k, sizeof(k) - 1, v)
    if (t->addr) {
        peer_of(t->addr, t->addr_len, &host, &hl, &port);
        otel_attr_str(h, target, "network.peer.address", 20, host, hl);
        ATTR_INT("network.peer.port", port);
    }
    ATTR_INT("http.response.status_code", t->status);
    ATTR_INT("nginx.upstream.connect_time_ms", t->connect_ms);
    ATTR_INT("nginx.upstream.header_time_ms", t->header_ms);
    ATTR_INT("nginx.upstream.response_time_ms", t->response_ms);
#undef ATTR_INT
}

/* Reads try i's items from the five lists (cursors in c[], ends in e[]). */
static bool read_try(const char **c, const char *const *e, upstream_try *t)
{
    const char *s;
    size_t n;

    if (!next_item(&c[0], e[0], &t->addr, &t->addr_len)) {
        return false;
    }
    t->status = next_item(&c[1], e[1], &s, &n) ? port_of(s, n) : -1;
    t->connect_ms = next_item(&c[2], e[2], &s, &n) ? millis(s, n) : -1;
    t->header_ms = next_item(&c[3], e[3], &s, &n) ? millis(s, n) : -1;
    t->response_ms = next_item(&c[4], e[4], &s, &n) ? millis(s, n) : -1;
    return true;
}

OTEL_API int otel_http_upstream_end(const otel_span_handle *h,
                                    const otel_http_upstream *u)
{
    const char *c[5], *e[5], *host;
    size_t hl;
    int64_t total = 0, start, port, t_ns;
    upstream_try t;
    int tries = 0, i, ev;
    char code[24];

    if (!h || !u) {
        return OTEL_EINVAL;
    }
    if (!h->recording) {
        return OTEL_OK;
    }
    if (!u->addr) {             /* nginx answered without an upstream */
        STR("error.type", "not_proxied", 11);
        otel_span_set_status(h, OTEL_STATUS_ERROR,
                             "no upstream was contacted", 25);
        return otel_span_end(h, u->now_ns);
    }
    c[0] = u->addr;
    c[1] = u->status;
    c[2] = u->connect;
    c[3] = u->header;
    c[4] = u->response;
    e[0] = u->addr + u->addr_len;
    e[1] = u->status ? u->status + u->status_len : NULL;
    e[2] = u->connect ? u->connect + u->connect_len : NULL;
    e[3] = u->header ? u->header + u->header_len : NULL;
    e[4] = u->response ? u->response + u->response_len : NULL;
    /* the durations first: they place the span and the tries */
    {
        const char *p = c[4], *s;
        size_t n;
        int64_t ms;

        while (next_item(&p, e[4], &s, &n)) {
            ms = millis(s, n);
            total += ms > 0 ? ms : 0;
            if (total > MAX_MS) {
                total = MAX_MS;
            }
        }
    }
    start = u->now_ns - total * 1000000;
    if (start < u->t0_ns) {
        start = u->t0_ns;
    }
    otel_span_set_start(h, start);
    /* one event per try when there are several; the last try, the one
     * that answered, on the span */
    t_ns = start;
    memset(&t, 0, sizeof(t));
    while (read_try(c, e, &t)) {
        if (tries++ || c[0]) {
            ev = otel_span_add_event(h, "nginx.upstream.try", 18, t_ns);
            if (ev >= 0) {
                set_try(h, OTEL_TARGET_EVENT(ev), &t);
            }
        }
        t_ns += (t.response_ms > 0 ? t.response_ms : 0) * 1000000;
        if (t_ns > start + total * 1000000) {
            t_ns = start + total * 1000000;
        }
    }
    set_try(h, OTEL_TARGET_SPAN, &t);
    if (u->host) {
        split_host(u->host, u->host_len, &host, &hl, &port);
    } else {
        peer_of(t.addr, t.addr_len, &host, &hl, &port);
    }
    STR("server.address", host, hl);
    if (port >= 0) {
        otel_attr_int(h, OTEL_TARGET_SPAN, "server.port", 11, port);
    }
    if (tries > 1) {
        otel_attr_int(h, OTEL_TARGET_SPAN, "http.request.resend_count", 25,
                      tries - 1);
    }
    /* a client span fails on 4xx too; no status: no response at all */
    if (t.status < 0 || t.status >= 400) {
        if (t.status < 0) {
            STR("error.type", "no_response", 11);
        } else {
            i = snprintf(code, sizeof(code), "%lld", (long long)t.status);
            STR("error.type", code, (size_t)i);
        }
        otel_span_set_status(h, OTEL_STATUS_ERROR, NULL, 0);
    }
    return otel_span_end(h, start + total * 1000000);
}
