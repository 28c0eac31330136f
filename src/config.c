/*
 * Configuration: defaults, then the standard OTEL_* environment, then the
 * explicit options a binding sets (they win).  Invalid environment values
 * are ignored and the default kept, as the specification asks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return (v && *v) ? v : NULL;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!s) {
        return false;
    }
    while (isspace((unsigned char)*s)) {
        s++;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s) {
        return false;
    }
    while (isspace((unsigned char)*end)) {
        end++;
    }
    if (*end) {
        return false;
    }
    *out = v;
    return true;
}

/* An integer >= min from the variable name, else *out is kept (with a
 * warning when the variable is set). */
static void env_int(const char *name, int64_t min, int64_t *out)
{
    const char *v = env(name);
    char kept[32];
    int64_t n;

    if (!v) {
        return;
    }
    if (parse_i64(v, &n) && n >= min) {
        *out = n;
        return;
    }
    snprintf(kept, sizeof(kept), "%lld", (long long)*out);
    otel__warn_config(name, v, kept);
}

/* A non-negative integer from the environment, else keep *out. */
static void env_count(const char *name, int64_t *out)
{
    env_int(name, 0, out);
}

static void env_positive(const char *name, int64_t *out)
{
    env_int(name, 1, out);
}

/* The first of the two names that is set (else the first). */
static const char *env_name2(const char *a, const char *b)
{
    return env(a) || !env(b) ? a : b;
}

/* A boolean variable: "true" or "false" in any case; else false, with a
 * warning, as the specification asks. */
static bool env_bool(const char *name)
{
    const char *v = env(name);

    if (!v || strcasecmp(v, "false") == 0) {
        return false;
    }
    if (strcasecmp(v, "true") == 0) {
        return true;
    }
    otel__warn_config(name, v, "false");
    return false;
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decodes in place; a '%' not followed by two hex digits stays. */
static size_t pct_decode(char *s, size_t n)
{
    size_t i, o = 0;
    int hi, lo;

    for (i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n
            && (hi = hexv((unsigned char)s[i + 1])) >= 0
            && (lo = hexv((unsigned char)s[i + 2])) >= 0) {
            s[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1])) {
        (*n)--;
    }
}

int otel__parse_kv_list(const char *s, size_t len,
                        void (*fn)(void *ud, const char *k, size_t kl,
                                   const char *v, size_t vl),
                        void *ud)
{
    size_t i = 0, start, plen, kl, vl;
    const char *pair, *eq, *k, *v;
    char *buf, *val;
    int skipped = 0;

    while (i <= len) {
        start = i;
        while (i < len && s[i] != ',') {
            i++;
        }
        pair = s + start;
        plen = i - start;
        i++;
        trim(&pair, &plen);
        if (plen == 0) {
            continue;
        }
        eq = memchr(pair, '=', plen);
        if (!eq) {
            skipped++;
            continue;
        }
        k = pair;
        kl = (size_t)(eq - pair);
        v = eq + 1;
        vl = plen - kl - 1;
        trim(&k, &kl);
        trim(&v, &vl);
        if (kl == 0) {
            skipped++;
            continue;
        }
        buf = malloc(kl + vl + 2);
        if (!buf) {
            return skipped + 1;
        }
        memcpy(buf, k, kl);
        memcpy(buf + kl + 1, v, vl);
        val = buf + kl + 1;
        kl = pct_decode(buf, kl);
        vl = pct_decode(val, vl);
        fn(ud, buf, kl, val, vl);
        free(buf);
    }
    return skipped;
}

static otel_sampler *sampler_from_env(void)
{
    const char *name = env("OTEL_TRACES_SAMPLER");
    const char *arg = env("OTEL_TRACES_SAMPLER_ARG");
    double ratio = 1.0;
    char *end;

    if (arg) {
        double r = strtod(arg, &end);
        if (end != arg && *end == '\0' && r >= 0 && r <= 1) {
            ratio = r;
        } else {
            otel__warn_config("OTEL_TRACES_SAMPLER_ARG", arg, "1.0");
        }
    }
    if (!name || strcasecmp(name, "parentbased_always_on") == 0) {
        return otel_sampler_parent_based(otel_sampler_always_on(),
                                         NULL, NULL, NULL, NULL);
    }
    if (strcasecmp(name, "always_on") == 0) {
        return otel_sampler_always_on();
    }
    if (strcasecmp(name, "always_off") == 0) {
        return otel_sampler_always_off();
    }
    if (strcasecmp(name, "traceidratio") == 0) {
        return otel_sampler_trace_id_ratio(ratio);
    }
    if (strcasecmp(name, "parentbased_always_off") == 0) {
        return otel_sampler_parent_based(otel_sampler_always_off(),
                                         NULL, NULL, NULL, NULL);
    }
    if (strcasecmp(name, "parentbased_traceidratio") == 0) {
        return otel_sampler_parent_based(otel_sampler_trace_id_ratio(ratio),
                                         NULL, NULL, NULL, NULL);
    }
    /* Unknown: the specification's default. */
    otel__warn_config("OTEL_TRACES_SAMPLER", name, "parentbased_always_on");
    return otel_sampler_parent_based(otel_sampler_always_on(),
                                     NULL, NULL, NULL, NULL);
}

static int64_t exporter_from_env(void)
{
    const char *v = env("OTEL_TRACES_EXPORTER");
    size_t n;

    if (!v) {
        return OTEL_EXPORTER_OTLP;
    }
    /* A list names several exporters; the first one is used. */
    n = strcspn(v, ",");
    if (v[n]) {
        otel__warn("OTEL_TRACES_EXPORTER=%s names several exporters, "
                   "using the first one only", v);
    }
    while (n && isspace((unsigned char)v[n - 1])) {
        n--;
    }
    while (n && isspace((unsigned char)*v)) {
        v++;
        n--;
    }
    if (n == 7 && strncasecmp(v, "console", 7) == 0) {
        return OTEL_EXPORTER_CONSOLE;
    }
    if (n == 4 && strncasecmp(v, "none", 4) == 0) {
        return OTEL_EXPORTER_NONE;
    }
    if (n == 6 && strncasecmp(v, "memory", 6) == 0) {
        return OTEL_EXPORTER_MEMORY;
    }
    if (!(n == 4 && strncasecmp(v, "otlp", 4) == 0)) {
        otel__warn_config("OTEL_TRACES_EXPORTER", v, "otlp");
    }
    return OTEL_EXPORTER_OTLP;
}

/* A URL with no path gets the signal path, as for the base endpoint. */
static char *endpoint_url(const char *base, size_t n, bool append_always)
{
    const char *scheme = memmem(base, n, "://", 3);
    const char *path = scheme ? memchr(scheme + 3, '/',
                                       n - (size_t)(scheme + 3 - base))
                              : NULL;
    bool append = append_always || !path || (path == base + n - 1);
    char *url;

    while (append && n && base[n - 1] == '/') {
        n--;
    }
    url = malloc(n + sizeof("/v1/traces"));
    if (url) {
        memcpy(url, base, n);
        strcpy(url + n, append ? "/v1/traces" : "");
    }
    return url;
}

static void add_header_cb(void *ud, const char *k, size_t kl, const char *v,
                          size_t vl)
{
    otel_config_add_header(ud, k, kl, v, vl);
}

static void env_headers(otel_config *cfg, const char *name)
{
    const char *v = env(name);

    if (v && otel__parse_kv_list(v, strlen(v), add_header_cb, cfg) > 0) {
        otel__stat_add(OTEL_STAT_VALUES_REJECTED, 1);
        otel__warn_config(name, v, "the well-formed headers only");
    }
}

static const char *const protocols[] = {
    [OTEL_PROTOCOL_HTTP_PROTOBUF] = "http/protobuf",
    [OTEL_PROTOCOL_GRPC] = "grpc",
    [OTEL_PROTOCOL_HTTP_JSON] = "http/json",
};

const char *otel__protocol_name(int64_t protocol)
{
    return protocol >= 0
           && (size_t)protocol < sizeof(protocols) / sizeof(protocols[0])
           ? protocols[protocol] : "";
}

/* The first of the variables that is set decides; an unsupported value
 * is reported and the default kept. */
static void env_protocol(int64_t *out)
{
    const char *name = env_name2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                                 "OTEL_EXPORTER_OTLP_PROTOCOL");
    const char *v = env(name);
    size_t i;

    if (!v) {
        return;
    }
    for (i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
        if (strcasecmp(v, protocols[i]) == 0) {
            *out = (int64_t)i;
            return;
        }
    }
    otel__warn_config(name, v, "http/protobuf");
}

static void env_insecure(int64_t *out)
{
    const char *name = env_name2("OTEL_EXPORTER_OTLP_TRACES_INSECURE",
                                 "OTEL_EXPORTER_OTLP_INSECURE");

    if (env(name)) {
        *out = env_bool(name);
    }
}

static char *env_dup2(const char *a, const char *b)
{
    const char *v = env(env_name2(a, b));

    return v ? otel__strndup(v, strlen(v)) : NULL;
}

static void env_compression(const char *name, int64_t *out)
{
    const char *v = env(name);

    if (v && strcasecmp(v, "gzip") == 0) {
        *out = 1;
    } else if (v && strcasecmp(v, "none") == 0) {
        *out = 0;
    } else if (v) {
        otel__warn_config(name, v, *out ? "gzip" : "none");
    }
}

OTEL_API otel_config *otel_config_new(void)
{
    otel_config *c = calloc(1, sizeof(*c));
    const char *v;

    if (!c) {
        return NULL;
    }
    c->limits.attr_count = 128;
    c->limits.attr_value_length = -1;
    c->limits.event_count = 128;
    c->limits.link_count = 128;
    c->limits.event_attr_count = 128;
    c->limits.link_attr_count = 128;
    c->processor = -1;      /* batch for otlp, else simple */
    c->bsp_max_queue = 2048;
    c->bsp_max_batch = 512;
    c->bsp_delay_ms = 5000;
    c->bsp_export_timeout_ms = 30000;
    c->otlp_timeout_ms = 10000;
    c->console_fd = 1;

    /* The general attribute limits are the fallback of the span's,
     * event's and link's own. */
    env_count("OTEL_ATTRIBUTE_COUNT_LIMIT", &c->limits.attr_count);
    c->limits.event_attr_count = c->limits.attr_count;
    c->limits.link_attr_count = c->limits.attr_count;
    env_count("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
              &c->limits.attr_value_length);
    env_count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", &c->limits.attr_count);
    env_count("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
              &c->limits.attr_value_length);
    env_count("OTEL_SPAN_EVENT_COUNT_LIMIT", &c->limits.event_count);
    env_count("OTEL_SPAN_LINK_COUNT_LIMIT", &c->limits.link_count);
    env_count("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
              &c->limits.event_attr_count);
    env_count("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", &c->limits.link_attr_count);

    env_positive("OTEL_BSP_MAX_QUEUE_SIZE", &c->bsp_max_queue);
    env_positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &c->bsp_max_batch);
    env_count("OTEL_BSP_SCHEDULE_DELAY", &c->bsp_delay_ms);
    env_count("OTEL_BSP_EXPORT_TIMEOUT", &c->bsp_export_timeout_ms);

    c->disabled = env_bool("OTEL_SDK_DISABLED");
    c->exporter = exporter_from_env();
    env_count(env_name2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                        "OTEL_EXPORTER_OTLP_TIMEOUT"), &c->otlp_timeout_ms);
    env_compression("OTEL_EXPORTER_OTLP_COMPRESSION", &c->otlp_compression);
    env_compression("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                    &c->otlp_compression);
    env_headers(c, "OTEL_EXPORTER_OTLP_HEADERS");
    env_headers(c, "OTEL_EXPORTER_OTLP_TRACES_HEADERS");
    env_protocol(&c->otlp_protocol);
    env_insecure(&c->otlp_insecure);
    if ((v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
        c->otlp_endpoint_from = OTEL__ENDPOINT_ENV_SIGNAL;
    } else if ((v = env("OTEL_EXPORTER_OTLP_ENDPOINT"))) {
        c->otlp_endpoint_from = OTEL__ENDPOINT_ENV_BASE;
    }
    c->otlp_endpoint_given = v ? otel__strndup(v, strlen(v)) : NULL;
    c->otlp_certificate = env_dup2("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                                   "OTEL_EXPORTER_OTLP_CERTIFICATE");
    c->otlp_client_key = env_dup2("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                                  "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    c->otlp_client_cert = env_dup2(
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
    c->sampler = sampler_from_env();
    otel__arena_init(&c->resource_arena, NULL, 0);
    if ((v && !c->otlp_endpoint_given) || !c->sampler
        || otel__config_resolve(c)) {
        otel_config_free(c);
        return NULL;
    }
    return c;
}

OTEL_API void otel_config_free(otel_config *c)
{
    size_t i;

    if (!c) {
        return;
    }
    free(c->service_name);
    free(c->otlp_endpoint);
    free(c->otlp_endpoint_given);
    free(c->otlp_certificate);
    free(c->otlp_client_key);
    free(c->otlp_client_cert);
    for (i = 0; i < c->n_headers; i++) {
        free(c->headers[i].name);
        free(c->headers[i].value);
    }
    free(c->headers);
    otel_sampler_free(c->sampler);
    otel__arena_reset(&c->resource_arena);
    free(c);
}

static int64_t *int_field(otel_config *c, int key)
{
    switch (key) {
    case OTEL_CFG_ATTR_COUNT:         return &c->limits.attr_count;
    case OTEL_CFG_ATTR_VALUE_LENGTH:  return &c->limits.attr_value_length;
    case OTEL_CFG_EVENT_COUNT:        return &c->limits.event_count;
    case OTEL_CFG_LINK_COUNT:         return &c->limits.link_count;
    case OTEL_CFG_EVENT_ATTR_COUNT:   return &c->limits.event_attr_count;
    case OTEL_CFG_LINK_ATTR_COUNT:    return &c->limits.link_attr_count;
    case OTEL_CFG_PROCESSOR:          return &c->processor;
    case OTEL_CFG_EXPORTER:           return &c->exporter;
    case OTEL_CFG_BSP_MAX_QUEUE:      return &c->bsp_max_queue;
    case OTEL_CFG_BSP_MAX_BATCH:      return &c->bsp_max_batch;
    case OTEL_CFG_BSP_DELAY_MS:       return &c->bsp_delay_ms;
    case OTEL_CFG_BSP_EXPORT_TIMEOUT: return &c->bsp_export_timeout_ms;
    case OTEL_CFG_OTLP_TIMEOUT_MS:    return &c->otlp_timeout_ms;
    case OTEL_CFG_OTLP_COMPRESSION:   return &c->otlp_compression;
    case OTEL_CFG_CONSOLE_FORMAT:     return &c->console_format;
    case OTEL_CFG_CONSOLE_FD:         return &c->console_fd;
    case OTEL_CFG_OTLP_PROTOCOL:      return &c->otlp_protocol;
    case OTEL_CFG_OTLP_INSECURE:      return &c->otlp_insecure;
    case OTEL_CFG_SDK_DISABLED:       return &c->disabled;
    default:                          return NULL;
    }
}

OTEL_API int otel_config_get_int(const otel_config *c, int key, int64_t *out)
{
    int64_t *f = c ? int_field((otel_config *)c, key) : NULL;

    if (!f || !out) {
        return OTEL_EINVAL;
    }
    *out = *f;
    return OTEL_OK;
}

OTEL_API int otel_config_set_int(otel_config *c, int key, int64_t v)
{
    int64_t *f = c ? int_field(c, key) : NULL;
    int64_t min = 0;

    if (!f) {
        return OTEL_EINVAL;
    }
    switch (key) {
    case OTEL_CFG_ATTR_VALUE_LENGTH:
        min = -1;
        break;
    case OTEL_CFG_BSP_MAX_QUEUE:
    case OTEL_CFG_BSP_MAX_BATCH:
        min = 1;
        break;
    default:
        break;
    }
    if (key == OTEL_CFG_PROCESSOR) {
        min = -1;
    }
    if (v < min || (key == OTEL_CFG_PROCESSOR && v > 1)
        || (key == OTEL_CFG_EXPORTER && v > OTEL_EXPORTER_OTLP)
        || (key == OTEL_CFG_OTLP_COMPRESSION && v > 1)
        || (key == OTEL_CFG_CONSOLE_FORMAT && v > 2)
        || (key == OTEL_CFG_SDK_DISABLED && v > 1)
        || (key == OTEL_CFG_OTLP_PROTOCOL && v > OTEL_PROTOCOL_HTTP_JSON)
        || (key == OTEL_CFG_OTLP_INSECURE && v > 1)) {
        return OTEL_EINVAL;
    }
    *f = v;
    return OTEL_OK;
}

OTEL_API int otel_config_set_str(otel_config *c, int key, const char *v,
                                 size_t len)
{
    char **field;
    char *s;

    if (!c || !v) {
        return OTEL_EINVAL;
    }
    /* File names and URLs go to libcurl as C strings. */
    if (key != OTEL_CFG_SERVICE_NAME && memchr(v, '\0', len)) {
        return OTEL_EINVAL;
    }
    switch (key) {
    case OTEL_CFG_SERVICE_NAME:
        field = &c->service_name;
        break;
    case OTEL_CFG_OTLP_ENDPOINT:
        /* A scheme-less host:port is for grpc (otlp.insecure). */
        if (len == 0 || memchr(v, ' ', len)) {
            return OTEL_EINVAL;
        }
        field = &c->otlp_endpoint_given;
        break;
    case OTEL_CFG_OTLP_CERTIFICATE:
        field = &c->otlp_certificate;
        break;
    case OTEL_CFG_OTLP_CLIENT_KEY:
        field = &c->otlp_client_key;
        break;
    case OTEL_CFG_OTLP_CLIENT_CERTIFICATE:
        field = &c->otlp_client_cert;
        break;
    default:
        return OTEL_EINVAL;
    }
    s = otel__strndup(v, len);
    if (!s) {
        return OTEL_ENOMEM;
    }
    free(*field);
    *field = s;
    if (key == OTEL_CFG_OTLP_ENDPOINT) {
        c->otlp_endpoint_from = OTEL__ENDPOINT_OPTION;
    }
    return key == OTEL_CFG_OTLP_ENDPOINT ? otel__config_resolve(c) : OTEL_OK;
}

/*
 * The URL of the endpoint given, as the specification says for each
 * protocol.  HTTP: the per-signal variable is used as is, the base one
 * gets /v1/traces, an option gets it only when it has no path; default
 * http://localhost:4318/v1/traces.  gRPC: any path is ignored and a URL
 * without a scheme is https unless insecure; default
 * http://localhost:4317.  For grpc the result is the origin,
 * scheme://host:port, to which the exporter adds the method's path.
 */
int otel__config_resolve(otel_config *c)
{
    const char *g = c->otlp_endpoint_given, *host, *slash;
    bool grpc = c->otlp_protocol == OTEL_PROTOCOL_GRPC;
    size_t n, hn;
    char *url;

    if (!g) {
        g = grpc ? "http://localhost:4317" : "http://localhost:4318";
        c->otlp_endpoint_from = OTEL__ENDPOINT_DEFAULT;
    }
    n = strlen(g);
    if (!grpc) {
        url = c->otlp_endpoint_from == OTEL__ENDPOINT_ENV_SIGNAL
              ? otel__strndup(g, n)
              : endpoint_url(g, n, c->otlp_endpoint_from
                                   != OTEL__ENDPOINT_OPTION);
    } else {
        host = memmem(g, n, "://", 3);
        host = host ? host + 3 : g;
        slash = memchr(host, '/', n - (size_t)(host - g));
        hn = slash ? (size_t)(slash - host) : n - (size_t)(host - g);
        url = malloc((size_t)(host - g) + hn + sizeof("https://"));
        if (url) {
            if (host == g) {
                strcpy(url, c->otlp_insecure == 1 ? "http://" : "https://");
            } else {
                memcpy(url, g, (size_t)(host - g));
                url[host - g] = '\0';
            }
            strncat(url, host, hn);
        }
    }
    if (!url) {
        return OTEL_ENOMEM;
    }
    free(c->otlp_endpoint);
    c->otlp_endpoint = url;
    return OTEL_OK;
}

OTEL_API int otel_config_add_header(otel_config *c, const char *k, size_t kl,
                                    const char *v, size_t vl)
{
    otel__header *h;
    size_t i;
    char *name, *value;

    /* Names and values are kept as C strings for curl: a NUL would cut
     * them silently, a CR or LF would inject a header. */
    if (!c || !k || !kl || !v || memchr(k, ':', kl) || memchr(k, '\n', kl)
        || memchr(k, '\r', kl) || memchr(v, '\n', vl) || memchr(v, '\r', vl)
        || memchr(k, '\0', kl) || memchr(v, '\0', vl)) {
        return OTEL_EINVAL;
    }
    name = otel__strndup(k, kl);
    value = otel__strndup(v, vl);
    if (!name || !value) {
        free(name);
        free(value);
        return OTEL_ENOMEM;
    }
    for (i = 0; i < c->n_headers; i++) {
        if (strcasecmp(c->headers[i].name, name) == 0) {
            free(c->headers[i].name);
            free(c->headers[i].value);
            c->headers[i].name = name;
            c->headers[i].value = value;
            return OTEL_OK;
        }
    }
    h = realloc(c->headers, sizeof(*h) * (c->n_headers + 1));
    if (!h) {
        free(name);
        free(value);
        return OTEL_ENOMEM;
    }
    c->headers = h;
    h[c->n_headers].name = name;
    h[c->n_headers].value = value;
    c->n_headers++;
    return OTEL_OK;
}

static int resource_set(otel_config *c, const char *k, size_t kl,
                        const otel__value *v)
{
    if (!c) {
        return OTEL_EINVAL;
    }
    return otel__attrs_set(&c->resource, &c->resource_arena, -1, -1, k, kl,
                           v, NULL);
}

OTEL_API int otel_config_resource_str(otel_config *c, const char *k,
                                      size_t kl, const char *v, size_t vl)
{
    otel__value val = { .type = OTEL_VT_STRING, .n = (uint32_t)vl };

    if (!v || vl > UINT32_MAX) {
        return OTEL_EINVAL;
    }
    val.u.s = v;
    return resource_set(c, k, kl, &val);
}

OTEL_API int otel_config_resource_int(otel_config *c, const char *k,
                                      size_t kl, int64_t v)
{
    otel__value val = { .type = OTEL_VT_INT, .u.i = v };

    return resource_set(c, k, kl, &val);
}

OTEL_API int otel_config_resource_double(otel_config *c, const char *k,
                                         size_t kl, double v)
{
    otel__value val = { .type = OTEL_VT_DOUBLE, .u.d = v };

    return resource_set(c, k, kl, &val);
}

OTEL_API int otel_config_resource_bool(otel_config *c, const char *k,
                                       size_t kl, int v)
{
    otel__value val = { .type = OTEL_VT_BOOL, .u.b = v != 0 };

    return resource_set(c, k, kl, &val);
}

OTEL_API int otel_config_set_sampler(otel_config *c, otel_sampler *s)
{
    if (!c || !s) {
        otel_sampler_free(s);
        return OTEL_EINVAL;
    }
    otel_sampler_free(c->sampler);
    c->sampler = s;
    return OTEL_OK;
}

/* ---- resource ------------------------------------------------------------*/
typedef struct {
    otel__attrs *out;
    otel__arena *arena;
} res_ctx;

static void res_env_cb(void *ud, const char *k, size_t kl, const char *v,
                       size_t vl)
{
    res_ctx *r = ud;
    otel__value val = { .type = OTEL_VT_STRING, .n = (uint32_t)vl,
                        .u.s = v };

    otel__attrs_set(r->out, r->arena, -1, -1, k, kl, &val, NULL);
}

static void res_str(res_ctx *r, const char *k, const char *v, size_t vl)
{
    otel__value val = { .type = OTEL_VT_STRING, .n = (uint32_t)vl,
                        .u.s = v };

    otel__attrs_set(r->out, r->arena, -1, -1, k, strlen(k), &val, NULL);
}

static void res_check_cb(void *ud, const char *k, size_t kl, const char *v,
                         size_t vl)
{
    OTEL__UNUSED(ud);
    OTEL__UNUSED(k);
    OTEL__UNUSED(kl);
    OTEL__UNUSED(v);
    OTEL__UNUSED(vl);
}

/* service.name when nobody set it: unknown_service:<executable>, as the
 * specification suggests (unknown_service:nginx under nginx). */
static void unknown_service(res_ctx *r)
{
    char path[4096], name[300];
    const char *base;
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

    if (n <= 0) {
        res_str(r, "service.name", "unknown_service", 15);
        return;
    }
    path[n] = '\0';
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    n = snprintf(name, sizeof(name), "unknown_service:%.280s", base);
    res_str(r, "service.name", name,
            (size_t)n < sizeof(name) ? (size_t)n : sizeof(name) - 1);
}

int otel__resource_build(const otel_config *cfg, otel__attrs *out,
                         otel__arena *arena)
{
    res_ctx r = { out, arena };
    const char *v = env("OTEL_RESOURCE_ATTRIBUTES");
    const otel__attr *a;
    uint32_t i;

    memset(out, 0, sizeof(*out));
    /* A list with an error is discarded whole, as the specification
     * says: a half-applied resource would mislabel every span. */
    if (v && otel__parse_kv_list(v, strlen(v), res_check_cb, NULL) > 0) {
        otel__stat_add(OTEL_STAT_VALUES_REJECTED, 1);
        otel__warn_config("OTEL_RESOURCE_ATTRIBUTES", v, "none of it");
    } else if (v) {
        otel__parse_kv_list(v, strlen(v), res_env_cb, &r);
    }
    if ((v = env("OTEL_SERVICE_NAME"))) {
        res_str(&r, "service.name", v, strlen(v));
    }
    for (i = 0; i < cfg->resource.n; i++) {
        a = &cfg->resource.a[i];
        otel__attrs_set(out, arena, -1, -1, a->key.p, a->key.len, &a->v,
                        NULL);
    }
    if (cfg->service_name) {
        res_str(&r, "service.name", cfg->service_name,
                strlen(cfg->service_name));
    } else if (!otel__attrs_find(out, "service.name", 12)) {
        unknown_service(&r);
    }
    res_str(&r, "telemetry.sdk.name", "lua-otel", 8);
    res_str(&r, "telemetry.sdk.language", "lua", 3);
    res_str(&r, "telemetry.sdk.version", OTEL_VERSION_STRING,
            strlen(OTEL_VERSION_STRING));
    return OTEL_OK;
}
