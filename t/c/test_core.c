/* The core through its C ABI: UTF-8, limits, handles, config, stacks. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"

#define S(x) x, sizeof(x) - 1

static otel_provider *provider(int64_t exporter, int64_t attr_count,
                               int64_t value_len)
{
    otel_config *cfg = otel_config_new();

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, exporter);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    otel_config_set_int(cfg, OTEL_CFG_ATTR_COUNT, attr_count);
    otel_config_set_int(cfg, OTEL_CFG_ATTR_VALUE_LENGTH, value_len);
    return otel_provider_new(cfg, NULL);
}

static void test_utf8(void)
{
    char out[64];
    int flags;
    size_t n;

    n = otel_utf8_sanitize("abc", 3, -1, out, sizeof(out), &flags);
    CHECK(n == 3 && memcmp(out, "abc", 3) == 0 && flags == 0,
          "ascii passes untouched");
    n = otel_utf8_sanitize("a\xff" "b", 3, -1, out, sizeof(out), &flags);
    CHECK(n == 5 && memcmp(out, "a\xef\xbf\xbd" "b", 5) == 0 && flags == 2,
          "an invalid byte becomes U+FFFD");
    n = otel_utf8_sanitize("\xe6\x97\xa5\xe6\x9c", 5, -1, out, sizeof(out),
                           &flags);
    CHECK(n == 6 && memcmp(out, "\xe6\x97\xa5\xef\xbf\xbd", 6) == 0,
          "a truncated sequence becomes one U+FFFD");
    n = otel_utf8_sanitize("\xe6\x97\xa5\xe6\x9c\xac", 6, 1, out,
                           sizeof(out), &flags);
    CHECK(n == 3 && flags == 1, "cut at one code point keeps 3 bytes");
    n = otel_utf8_sanitize("\xf4\x90\x80\x80", 4, -1, out, sizeof(out),
                           &flags);
    CHECK(n == 12, "code points above U+10FFFF are invalid bytes");
    n = otel_utf8_sanitize("\xed\xbf\xbf", 3, -1, NULL, 0, &flags);
    CHECK(n == 9 && flags == 2, "surrogates are invalid (sizing call)");
    CHECK(otel__utf8_ok("\xf0\x9f\x98\x80", 4, 1), "an emoji is one char");
    CHECK(!otel__utf8_ok("\xf0\x9f\x98\x80x", 5, 1), "two chars over 1");
    CHECK(!otel__utf8_ok("\xc0\x80", 2, -1), "overlong NUL is invalid");
}

/* A spare chunk smaller than the size the arena would malloc next is
 * used only up to its own end. */
static void test_arena_spare(void)
{
    char buf[16];
    otel__arena a;
    otel__chunk *c;
    char *p;
    int i, inside = 0;

    otel__arena_init(&a, buf, sizeof(buf));
    a.keep = 4096;
    otel__arena_alloc(&a, 200);         /* a 256-byte chunk */
    otel__arena_reset(&a);              /* kept as the spare */
    CHECK(a.spare && a.spare->size == 256, "the chunk stays as the spare");
    otel__arena_alloc(&a, 300);         /* more than the spare: malloc */
    for (i = 0; i < 6; i++) {
        p = otel__arena_alloc(&a, 100);
        c = a.chunks;
        inside += p >= (char *)(c + 1) && p + 100 <= (char *)c + c->size;
        memset(p, i, 100);
    }
    CHECK(inside == 6, "every block lies in its chunk (%d of 6)", inside);
    a.keep = 0;
    otel__arena_reset(&a);
    free(a.spare);
}

static void test_limits_and_handles(void)
{
    otel_provider *p = provider(OTEL_EXPORTER_MEMORY, 2, 3);
    otel_tracer *t = otel_provider_tracer(p, "t", 1, "", 0);
    otel_span_handle h, old;
    otel_span_view v;
    otel_attr_view a;
    uint64_t stale;
    int rc;

    CHECK(otel_span_start(t, NULL, "s", 1, 0, 0, &h) == OTEL_OK
          && h.recording == 1, "a recording span starts");
    CHECK(otel_attr_str(&h, 0, "a", 1, "abcdef", 6) == OTEL_OK, "set a");
    CHECK(otel_attr_int(&h, 0, "b", 1, 7) == OTEL_OK, "set b");
    CHECK(otel_attr_int(&h, 0, "c", 1, 8) == OTEL_ELIMIT,
          "a third key is dropped by the count limit");
    CHECK(otel_attr_int(&h, 0, "a", 1, 9) == OTEL_OK,
          "an existing key is replaced at the limit");
    CHECK(otel_attr_str(&h, 0, "", 0, "x", 1) == OTEL_EINVAL,
          "an empty key is rejected");
    rc = otel_span_add_event(&h, "e", 1, 0);
    CHECK(rc == 0, "the first event has index 0");
    CHECK(otel_attr_str(&h, OTEL_TARGET_EVENT(0), "k", 1, "vvvvv", 5)
          == OTEL_OK, "event attribute");
    CHECK(otel_attr_str(&h, OTEL_TARGET_EVENT(5), "k", 1, "v", 1)
          == OTEL_EINVAL, "an unknown event index is refused");
    old = h;
    CHECK(otel_span_end(&h, 0) == OTEL_OK, "end");
    stale = otel_stats_get(OTEL_STAT_STALE_HANDLE_CALLS);
    CHECK(otel_span_end(&old, 0) == OTEL_ESTALE, "a second end is stale");
    CHECK(otel_attr_int(&old, 0, "z", 1, 1) == OTEL_ESTALE,
          "a mutation after end is stale");
    CHECK(otel_stats_get(OTEL_STAT_STALE_HANDLE_CALLS) == stale + 2,
          "stale calls are counted");
    CHECK(otel_memory_span(p, 0, &v) == OTEL_OK && v.n_attrs == 2
          && v.dropped_attrs == 1, "two attributes kept, one dropped");
    CHECK(otel_memory_attr(p, 0, 0, 0, -1, &a) == OTEL_OK
          && a.type == OTEL_VT_INT && a.i == 9, "a was replaced by 9");
    CHECK(otel_memory_attr(p, 0, OTEL_TARGET_EVENT(0), 0, -1, &a) == OTEL_OK
          && a.n == 3 && memcmp(a.s, "vvv", 3) == 0,
          "event attributes obey the length limit");
    otel_memory_clear(p);
    /* the record is reused: the old handle still cannot reach it */
    CHECK(otel_span_start(t, NULL, "s2", 2, 0, 0, &h) == OTEL_OK, "reuse");
    CHECK(otel_attr_int(&old, 0, "z", 1, 1) == OTEL_ESTALE,
          "an old handle to a reused record stays stale");
    otel_span_end(&h, 0);
    otel_provider_shutdown(p, 100);
    otel_provider_free(p);
}

static void test_stack(void)
{
    otel_provider *p = provider(OTEL_EXPORTER_NONE, 128, -1);
    otel_tracer *t = otel_provider_tracer(p, "t", 1, NULL, 0);
    otel_stack *st = otel_stack_new();
    otel_span_handle a, b, top;
    uint64_t sa, sb;
    uint64_t abandoned;
    int da, db;

    otel_span_start(t, NULL, "a", 1, 0, 0, &a);
    otel_span_start(t, &a, "b", 1, 0, 0, &b);
    CHECK(memcmp(a.trace_id, b.trace_id, 16) == 0, "child shares trace");
    da = otel_stack_push(st, &a, 0, &sa);
    db = otel_stack_push(st, &b, 0, &sb);
    CHECK(da == 1 && db == 2, "depths");
    CHECK(otel_stack_top(st, &top) == 2
          && memcmp(top.span_id, b.span_id, 8) == 0, "top is b");
    CHECK(otel_stack_detach(st, da, sa) == 1 && otel_stack_depth(st) == 0,
          "out-of-order detach pops to before a");
    CHECK(otel_stack_detach(st, db, sb) == OTEL_ESTATE,
          "detaching b after that is refused");
    CHECK(otel_stack_detach(st, 1, 12345) == OTEL_ESTATE,
          "a wrong serial is refused");
    da = otel_scope_start(t, st, NULL, "scoped", 6, 0, 0, &a);
    CHECK(da == 1, "scoped span pushed");
    abandoned = otel_stats_get(OTEL_STAT_SPANS_ABANDONED);
    otel_stack_free(st);
    CHECK(otel_stats_get(OTEL_STAT_SPANS_ABANDONED) == abandoned + 1,
          "freeing a stack abandons its scoped spans");
    otel_span_end(&b, 0);
    otel_provider_shutdown(p, 100);
    otel_provider_free(p);
}

static void kv_cb(void *ud, const char *k, size_t kl, const char *v,
                  size_t vl)
{
    char *out = ud;

    strncat(out, k, kl);
    strcat(out, "=");
    strncat(out, v, vl);
    strcat(out, ";");
}

static void test_config(void)
{
    char out[256] = "";
    otel_config *cfg;
    int64_t v;
    int skipped;

    const char *list = " a=1 , b = x%20y ,bad,=z,c=%zz,,d=";

    skipped = otel__parse_kv_list(list, strlen(list), kv_cb, out);
    CHECK(strcmp(out, "a=1;b=x y;c=%zz;d=;") == 0 && skipped == 2,
          "key=value lists are trimmed, decoded, malformed pairs skipped");
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "77", 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "nope", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:1/", 1);
    cfg = otel_config_new();
    CHECK(otel_config_get_int(cfg, OTEL_CFG_BSP_MAX_QUEUE, &v) == 0
          && v == 77, "OTEL_BSP_MAX_QUEUE_SIZE is read");
    CHECK(otel_config_get_int(cfg, OTEL_CFG_BSP_DELAY_MS, &v) == 0
          && v == 5000, "an invalid value keeps the default");
    CHECK(strcmp(cfg->otlp_endpoint, "http://h:1/v1/traces") == 0,
          "the base endpoint gets /v1/traces");
    CHECK(otel_config_set_str(cfg, OTEL_CFG_OTLP_ENDPOINT,
                              "http://x:2/custom", 17) == 0
          && strcmp(cfg->otlp_endpoint, "http://x:2/custom") == 0,
          "an option endpoint with a path is used as is");
    CHECK(otel_config_set_str(cfg, OTEL_CFG_OTLP_ENDPOINT, "http://x:2", 10)
          == 0 && strcmp(cfg->otlp_endpoint, "http://x:2/v1/traces") == 0,
          "an option endpoint without a path gets /v1/traces");
    CHECK(otel_config_set_int(cfg, OTEL_CFG_BSP_MAX_QUEUE, 0) == OTEL_EINVAL,
          "a zero queue is refused");
    CHECK(otel_config_add_header(cfg, "bad:name", 8, "v", 1) == OTEL_EINVAL,
          "a header name with ':' is refused");
    CHECK(otel_config_add_header(cfg, "x", 1, "a\r\nb", 4) == OTEL_EINVAL,
          "a header value with CRLF is refused");
    CHECK(otel_config_add_header(cfg, "x", 1, "a\0b", 3) == OTEL_EINVAL,
          "a header value with NUL is refused");
    otel_config_free(cfg);
    unsetenv("OTEL_BSP_MAX_QUEUE_SIZE");
    unsetenv("OTEL_BSP_SCHEDULE_DELAY");
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
}

static void test_sampler(void)
{
    otel_sampler *s = otel_sampler_trace_id_ratio(0.5);
    uint8_t id[16] = { 0 };
    otel__sample_args a = { .trace_id = id, .name = "", .nl = 0 };
    char buf[256];

    id[8] = 0x7f;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_RECORD_AND_SAMPLE,
          "below half of 2^64 is sampled");
    id[8] = 0x80;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_DROP,
          "at half of 2^64 it is not");
    otel_sampler_free(s);
    s = otel_sampler_trace_id_ratio(0);
    id[8] = 0;
    id[15] = 1;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_DROP,
          "ratio 0 samples nothing");
    otel_sampler_free(s);
    s = otel_sampler_parent_based(otel_sampler_always_off(), NULL, NULL,
                                  NULL, NULL);
    otel_sampler_describe(s, buf, sizeof(buf));
    CHECK(strncmp(buf, "ParentBased{root:AlwaysOffSampler,", 34) == 0,
          "description");
    CHECK(otel_sampler_describe(s, buf, 8) > 8 && strlen(buf) == 7,
          "a short buffer is cut and terminated");
    otel_sampler_free(s);
    CHECK(otel_sampler_parent_based(NULL, otel_sampler_always_on(), NULL,
                                    NULL, NULL) == NULL,
          "parent_based needs a root (and frees the delegates)");
}

/* A rule sampler: the first matching rule decides, else the fallback;
 * attribute keys resolve to shared slots. */
static void test_rules(void)
{
    otel_sampler *s = otel_sampler_rules(otel_sampler_always_on());
    otel__str keys[OTEL__SAMPLER_KEYS];
    const char *vals[OTEL__SAMPLER_KEYS] = { 0 };
    size_t lens[OTEL__SAMPLER_KEYS] = { 0 };
    uint8_t id[16] = { 1 };
    otel__sample_args a = { .trace_id = id, .vals = vals, .lens = lens };
    int n = 0, r, ext;
    char buf[512];

    /* 0: GET /health (route) -> off; 1: url.path under /admin -> on;
     * 2: spans named "noisy" of kind CLIENT -> off; 3: tenant=acme and
     * route /orders -> an external sampler */
    r = otel_sampler_rules_add(s, otel_sampler_always_off());
    otel_sampler_rule_match(s, r, OTEL_MATCH_EQUALS, S("http.route"),
                            S("/health"));
    r = otel_sampler_rules_add(s, otel_sampler_always_on());
    otel_sampler_rule_match(s, r, OTEL_MATCH_PREFIX, S("url.path"),
                            S("/admin"));
    r = otel_sampler_rules_add(s, otel_sampler_always_off());
    otel_sampler_rule_match(s, r, OTEL_MATCH_NAME, NULL, 0, S("noisy"));
    otel_sampler_rule_match(s, r, OTEL_MATCH_KIND, NULL, 0, NULL,
                            OTEL_KIND_CLIENT);
    ext = otel_sampler_rules_add(s, otel_sampler_extern(3, S("mine")));
    otel_sampler_rule_match(s, ext, OTEL_MATCH_EQUALS, S("tenant"),
                            S("acme"));
    otel_sampler_rule_match(s, ext, OTEL_MATCH_EQUALS, S("http.route"),
                            S("/orders"));
    CHECK(ext == 3 && otel_sampler_rule_match(s, 9, OTEL_MATCH_NAME, NULL,
                                              0, S("x")) == OTEL_EINVAL,
          "rules are numbered; a rule that is not there is EINVAL");
    otel__sampler_bind(s, keys, &n);
    CHECK(n == 3 && keys[0].len == 10 && keys[1].len == 8
          && keys[2].len == 6, "three distinct keys, http.route once");
    a.n = n;
    a.name = "x";
    a.nl = 1;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_RECORD_AND_SAMPLE,
          "no attributes: the fallback");
    vals[0] = "/health";
    lens[0] = 7;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_DROP, "route equals");
    lens[0] = 6;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_RECORD_AND_SAMPLE,
          "a shorter value is not equal");
    vals[0] = NULL;
    vals[1] = "/admin/users";
    lens[1] = 12;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_RECORD_AND_SAMPLE,
          "path prefix");
    vals[1] = "/adm";
    lens[1] = 4;
    a.name = "noisy";
    a.nl = 5;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_RECORD_AND_SAMPLE,
          "name without the kind: no match");
    a.kind = OTEL_KIND_CLIENT;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_DROP,
          "name and kind");
    a.kind = OTEL_KIND_SERVER;
    vals[2] = "acme";
    lens[2] = 4;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_RECORD_AND_SAMPLE,
          "one condition of two: no match");
    vals[0] = "/orders";
    lens[0] = 7;
    CHECK(otel__sampler_decide(s, &a) == OTEL__SAMPLE_EXTERN + 3,
          "both: the external sampler decides");
    otel_sampler_describe(s, buf, sizeof(buf));
    CHECK(strcmp(buf, "RuleBased{rules:4,[AlwaysOffSampler,AlwaysOnSampler,"
                 "AlwaysOffSampler,LuaSampler{mine}],default:"
                 "AlwaysOnSampler}") == 0, "description: %s", buf);
    otel_sampler_free(s);
    CHECK(otel_sampler_rules_add(NULL, otel_sampler_always_on())
          == OTEL_EINVAL, "rules_add on nothing (and frees the action)");
}

/* The warning channel: each distinct message once, a bounded queue. */
static void test_warnings(void)
{
    char buf[64], msg[32];
    size_t n;
    int i, got = 0;

    while (otel_warning_next(buf, sizeof(buf))) {
    }
    otel_warning_push(S("test: first"));
    otel_warning_push(S("test: first"));
    otel__warn_config("OTEL_X", "bad", "good");
    n = otel_warning_next(buf, sizeof(buf));
    CHECK(n == 11 && strcmp(buf, "test: first") == 0, "first message");
    n = otel_warning_next(buf, 8);
    CHECK(n == 43 && strcmp(buf, "OTEL_X=") == 0,
          "a short buffer is cut, the length is the message's");
    CHECK(otel_warning_next(buf, sizeof(buf)) == 0,
          "the repeated message was queued once");
    otel_warning_push(S("test: first"));
    CHECK(otel_warning_next(buf, sizeof(buf)) == 0,
          "and is never queued again");
    for (i = 0; i < 100; i++) {
        snprintf(msg, sizeof(msg), "test: message %d", i);
        otel_warning_push(msg, strlen(msg));
    }
    while (otel_warning_next(buf, sizeof(buf))) {
        got++;
    }
    CHECK(got > 0 && got <= 32, "the queue is bounded (%d waiting)", got);
    for (i = 100; i < 400; i++) {
        snprintf(msg, sizeof(msg), "test: message %d", i);
        otel_warning_push(msg, strlen(msg));
    }
    got = 0;
    while ((n = otel_warning_next(buf, sizeof(buf)))) {
        got += strncmp(buf, "more than", 9) == 0;
    }
    otel_warning_push(S("test: one more"));
    CHECK(got == 1 && otel_warning_next(buf, sizeof(buf)) == 0,
          "past 255 distinct warnings, one last word and then silence");
}

static void test_ids(void)
{
    uint8_t a[16], b[16], out[8];
    char hex[33];

    otel__ids_new_trace(a);
    otel__ids_new_trace(b);
    CHECK(memcmp(a, b, 16) != 0 && otel__id_valid(a, 16), "ids differ");
    otel_hex_encode(a, 16, hex);
    hex[32] = 0;
    CHECK(strspn(hex, "0123456789abcdef") == 32, "lower-case hex");
    CHECK(otel_hex_decode("00f067aa0ba902b7", 16, out, 8) == 0
          && out[1] == 0xf0, "hex decodes");
    CHECK(otel_hex_decode("00F067AA0BA902B7", 16, out, 8) == OTEL_EINVAL,
          "upper-case hex is refused");
    CHECK(otel_hex_decode("00f067aa0ba902b", 15, out, 8) == OTEL_EINVAL,
          "a short id is refused");
}

int main(void)
{
    test_utf8();
    test_arena_spare();
    test_limits_and_handles();
    test_stack();
    test_config();
    test_sampler();
    test_rules();
    test_warnings();
    test_ids();
    return tap_done();
}
