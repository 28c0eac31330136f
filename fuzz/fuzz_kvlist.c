/*
 * otel__parse_kv_list(), the OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS syntax, and the resource and headers built
 * from it.  The input is the list itself.
 *
 * Checks: the parser reads only the len bytes it is given (an exact-size
 * copy under ASan); the pairs it reports and the count of skipped members
 * equal a reference parser written from the format: members split at
 * ',', trimmed (C isspace), skipped without '=' or with an empty key, key
 * and value split at the first '=', trimmed, then percent-decoded in one
 * pass (%XX with two hex digits of either case; anything else stays).
 * Every key is non-empty.
 *
 * With the list (NUL bytes removed) in OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS: the provider's resource is the reference
 * pairs with keys and values repaired to UTF-8, one entry per repaired
 * key (a later value replaces an earlier one in place), or none at all
 * when the list skipped a member, then service.name
 * (unknown_service:<executable> when absent) and telemetry.sdk.*; every
 * string valid
 * UTF-8.  The config's headers are the pairs otel_config_add_header()
 * accepts (a name without ':', CR, LF or NUL, a value without CR, LF or
 * NUL), one per case-insensitive name, the last value winning; no stored
 * name or value holds CR or LF, no name ':'.
 */
#include <strings.h>
#include <unistd.h>

#include "internal.h"
#include "fuzz.h"

typedef struct {
    fz_str k, v;
} kv_pair;

typedef struct {
    kv_pair *a;
    size_t   n, cap;
} kv_list;

static fz_arena kv_arena;

static void kv_push(kv_list *l, const char *k, size_t kl, const char *v,
                    size_t vl)
{
    kv_pair *na;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        na = fz_alloc(&kv_arena, l->cap * sizeof(*na));
        if (l->n) {
            memcpy(na, l->a, l->n * sizeof(*na));
        }
        l->a = na;
    }
    l->a[l->n].k.s = fz_dup(&kv_arena, k, kl);
    l->a[l->n].k.n = kl;
    l->a[l->n].v.s = fz_dup(&kv_arena, v, vl);
    l->a[l->n].v.n = vl;
    l->n++;
}

static void kv_cb(void *ud, const char *k, size_t kl, const char *v,
                  size_t vl)
{
    FZ_CHECK(k && kl > 0, "empty key");
    FZ_CHECK(v || vl == 0, "NULL value");
    kv_push(ud, k, kl, v ? v : "", vl);
}

/* ---- the reference ------------------------------------------------------*/
static bool kv_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f'
           || c == '\r';
}

static int kv_hex(unsigned char c)
{
    static const char lower[] = "0123456789abcdef";
    static const char upper[] = "0123456789ABCDEF";
    const char *p;

    if (c == 0) {
        return -1;
    }
    if ((p = strchr(lower, c))) {
        return (int)(p - lower);
    }
    if ((p = strchr(upper, c))) {
        return (int)(p - upper);
    }
    return -1;
}

static fz_str kv_trim(const char *s, size_t n)
{
    fz_str r;

    while (n && kv_space((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && kv_space((unsigned char)s[n - 1])) {
        n--;
    }
    r.s = s;
    r.n = n;
    return r;
}

static fz_str kv_decode(fz_str in)
{
    char *out = fz_alloc(&kv_arena, in.n + 1);
    const unsigned char *s = (const unsigned char *)in.s;
    size_t i = 0, o = 0;
    fz_str r;

    while (i < in.n) {
        if (s[i] == '%' && in.n - i >= 3 && kv_hex(s[i + 1]) >= 0
            && kv_hex(s[i + 2]) >= 0) {
            out[o++] = (char)(kv_hex(s[i + 1]) * 16 + kv_hex(s[i + 2]));
            i += 3;
        } else {
            out[o++] = (char)s[i++];
        }
    }
    r.s = out;
    r.n = o;
    return r;
}

static int kv_reference(const char *s, size_t len, kv_list *out)
{
    size_t start = 0, end;
    int skipped = 0;
    fz_str m, k, v;
    const char *eq;

    for (;;) {
        for (end = start; end < len && s[end] != ','; end++) {
        }
        m = kv_trim(s + start, end - start);
        if (m.n) {
            eq = memchr(m.s, '=', m.n);
            if (!eq) {
                skipped++;
            } else {
                k = kv_trim(m.s, (size_t)(eq - m.s));
                v = kv_trim(eq + 1, (size_t)(m.s + m.n - (eq + 1)));
                if (!k.n) {
                    skipped++;
                } else {
                    k = kv_decode(k);
                    v = kv_decode(v);
                    kv_push(out, k.s, k.n, v.s, v.n);
                }
            }
        }
        if (end >= len) {
            break;
        }
        start = end + 1;
    }
    return skipped;
}

/* ---- the resource --------------------------------------------------------*/
static void res_set(kv_list *res, const char *k, size_t kl, const char *v,
                    size_t vl)
{
    size_t i;

    for (i = 0; i < res->n; i++) {
        if (fz_eq(res->a[i].k.s, res->a[i].k.n, k, kl)) {
            res->a[i].v.s = fz_dup(&kv_arena, v, vl);
            res->a[i].v.n = vl;
            return;
        }
    }
    kv_push(res, k, kl, v, vl);
}

/* The specification's default: unknown_service:<executable>. */
static void unknown_service(kv_list *res)
{
    char path[4096], name[300];
    const char *base;
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

    FZ_CHECK(n > 0, "readlink /proc/self/exe");
    path[n] = '\0';
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(name, sizeof(name), "unknown_service:%.280s", base);
    res_set(res, "service.name", 12, fz_dup(&kv_arena, name, strlen(name)),
            strlen(name));
}

static void check_resource(const kv_list *ref)
{
    kv_list res = { 0 };
    otel_provider *p;
    otel_config *cfg;
    otel_attr_view av;
    fz_str k, v;
    size_t i, j;
    uint32_t n;
    int rc;

    for (i = 0; i < ref->n; i++) {
        k = fz_repaired(&kv_arena, ref->a[i].k.s, ref->a[i].k.n, -1);
        v = fz_repaired(&kv_arena, ref->a[i].v.s, ref->a[i].v.n, -1);
        res_set(&res, k.s, k.n, v.s, v.n);
    }
    for (i = 0; i < res.n; i++) {
        if (fz_eq(res.a[i].k.s, res.a[i].k.n, "service.name", 12)) {
            break;
        }
    }
    if (i == res.n) {
        unknown_service(&res);
    }
    res_set(&res, "telemetry.sdk.name", 18, "lua-otel", 8);
    res_set(&res, "telemetry.sdk.language", 22, "lua", 3);
    res_set(&res, "telemetry.sdk.version", 21, OTEL_VERSION_STRING,
            strlen(OTEL_VERSION_STRING));

    cfg = otel_config_new();
    FZ_CHECK(cfg, "otel_config_new");
    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_MEMORY);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    p = otel_provider_new(cfg, &rc);
    FZ_CHECK(p && rc == OTEL_OK, "otel_provider_new: %d", rc);
    n = otel_resource_count(p);
    for (j = 0; j < n; j++) {
        FZ_CHECK(otel_resource_attr(p, (uint32_t)j, &av) == OTEL_OK,
                 "resource attr %zu", j);
        FZ_CHECK(av.type == OTEL_VT_STRING, "type %d", av.type);
        FZ_CHECK(av.key_len > 0, "empty key");
        FZ_CHECK(fz_utf8_valid(av.key, av.key_len, NULL),
                 "key not UTF-8: %s", fz_hex(av.key, av.key_len));
        FZ_CHECK(fz_utf8_valid(av.s, av.n, NULL), "value not UTF-8: %s",
                 fz_hex(av.s, av.n));
        for (i = 0; i < j; i++) {
            otel_attr_view prev;
            otel_resource_attr(p, (uint32_t)i, &prev);
            FZ_CHECK(!fz_eq(prev.key, prev.key_len, av.key, av.key_len),
                     "key %s twice (%zu and %zu)",
                     fz_hex(av.key, av.key_len), i, j);
        }
        FZ_CHECK(j < res.n, "%u resource attributes, %zu expected", n,
                 res.n);
        FZ_CHECK(fz_eq(av.key, av.key_len, res.a[j].k.s, res.a[j].k.n),
                 "key %zu: %s", j, fz_hex(av.key, av.key_len));
        FZ_CHECK(fz_eq(av.s, av.n, res.a[j].v.s, res.a[j].v.n),
                 "value %zu: %s", j, fz_hex(av.s, av.n));
    }
    FZ_CHECK(n == res.n, "%u resource attributes, %zu expected", n, res.n);
    otel_provider_free(p);
}

/* ---- the headers --------------------------------------------------------*/
static void check_headers(const kv_list *ref)
{
    kv_list hs = { 0 };
    otel_config *cfg;
    const char *k, *v;
    size_t i, j;

    for (i = 0; i < ref->n; i++) {
        k = ref->a[i].k.s;
        v = ref->a[i].v.s;
        if (memchr(k, ':', ref->a[i].k.n) || memchr(k, '\r', ref->a[i].k.n)
            || memchr(k, '\n', ref->a[i].k.n)
            || memchr(v, '\r', ref->a[i].v.n)
            || memchr(v, '\n', ref->a[i].v.n)
            || memchr(k, '\0', ref->a[i].k.n)
            || memchr(v, '\0', ref->a[i].v.n)) {
            continue;   /* refused: CR/LF inject, a NUL would cut */
        }
        for (j = 0; j < hs.n && strcasecmp(hs.a[j].k.s, k) != 0; j++) {
        }
        if (j < hs.n) {
            hs.a[j].k.s = k;
            hs.a[j].v.s = v;
        } else {
            kv_push(&hs, k, strlen(k), v, strlen(v));
        }
    }
    cfg = otel_config_new();
    FZ_CHECK(cfg, "otel_config_new");
    FZ_CHECK(cfg->n_headers == hs.n, "%zu headers, %zu expected",
             cfg->n_headers, hs.n);
    for (i = 0; i < cfg->n_headers; i++) {
        k = cfg->headers[i].name;
        v = cfg->headers[i].value;
        FZ_CHECK(k && v, "header %zu NULL", i);
        FZ_CHECK(!strpbrk(k, ":\r\n") && !strpbrk(v, "\r\n"),
                 "header %zu: %s", i, fz_hex(k, strlen(k)));
        FZ_CHECK(strcmp(k, hs.a[i].k.s) == 0, "header %zu name %s", i,
                 fz_hex(k, strlen(k)));
        FZ_CHECK(strcmp(v, hs.a[i].v.s) == 0, "header %zu value %s", i,
                 fz_hex(v, strlen(v)));
    }
    otel_config_free(cfg);
}

static void kvlist_init(void)
{
    fz_clear_env();
}

static void kvlist_run(const uint8_t *data, size_t size)
{
    kv_list got = { 0 }, ref = { 0 };
    char *s, *env;
    size_t i, n;
    int skipped, rskipped;

    /* An exact-size copy: ASan sees any read past the end. */
    s = malloc(size ? size : 1);
    if (size) {
        memcpy(s, data, size);
    }
    skipped = otel__parse_kv_list(s, size, kv_cb, &got);
    rskipped = kv_reference(s, size, &ref);
    FZ_CHECK(skipped == rskipped, "skipped %d, reference %d", skipped,
             rskipped);
    FZ_CHECK(got.n == ref.n, "%zu pairs, reference %zu", got.n, ref.n);
    for (i = 0; i < got.n; i++) {
        FZ_CHECK(fz_eq(got.a[i].k.s, got.a[i].k.n, ref.a[i].k.s,
                       ref.a[i].k.n), "key %zu: %s", i,
                 fz_hex(got.a[i].k.s, got.a[i].k.n));
        FZ_CHECK(fz_eq(got.a[i].v.s, got.a[i].v.n, ref.a[i].v.s,
                       ref.a[i].v.n), "value %zu: %s", i,
                 fz_hex(got.a[i].v.s, got.a[i].v.n));
    }

    /* The same list through the environment, NUL bytes removed. */
    env = malloc(size + 1);
    for (i = n = 0; i < size; i++) {
        if (data[i]) {
            env[n++] = (char)data[i];
        }
    }
    env[n] = '\0';
    ref.n = 0;
    rskipped = kv_reference(env, n, &ref);
    setenv("OTEL_RESOURCE_ATTRIBUTES", env, 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", env, 1);
    /* a resource list with an error is discarded whole */
    got.n = 0;
    check_resource(rskipped ? &got : &ref);
    check_headers(&ref);
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    free(env);
    free(s);
    fz_arena_free(&kv_arena);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kvlist_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvlist_run(data, size);
    return 0;
}
#endif
