/*
 * The HTTP semantic-convention attributes of a server request, set in one
 * call from what the host already holds (nginx: its variables and header
 * list, read through lua-nginx-module's FFI API without making strings).
 */
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
