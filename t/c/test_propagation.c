/* Propagation formats: traceparent, tracestate, baggage and B3, with the
 * W3C specifications' and the W3C test suite's examples. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static uint64_t invalid_count(void)
{
    return otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
}

static int tp(const char *s, otel_span_handle *h)
{
    return otel_traceparent_parse(s, strlen(s), h);
}

static bool zeroed(const otel_span_handle *h)
{
    static const otel_span_handle z;

    return memcmp(h, &z, sizeof(z)) == 0;
}

/* Parses s, expects rejection counted once and a zeroed handle. */
static void tp_bad(const char *s, const char *why)
{
    otel_span_handle h;
    uint64_t before = invalid_count();
    int rc;

    memset(&h, 0xaa, sizeof(h));
    rc = tp(s, &h);
    CHECK(rc == OTEL_EINVAL && zeroed(&h) && invalid_count() == before + 1,
          "traceparent rejected: %s", why);
}

static void tp_good(const char *s, int flags, const char *why)
{
    otel_span_handle h;
    char hex[33];
    uint64_t before = invalid_count();
    int rc = tp(s, &h);

    otel_hex_encode(h.trace_id, 16, hex);
    hex[32] = 0;
    CHECK(rc == OTEL_OK && h.remote == 1 && h.rec == NULL
          && h.recording == 0 && h.trace_flags == flags
          && strncmp(hex, "12345678901234567890123456789012", 32) == 0
          && invalid_count() == before,
          "traceparent accepted: %s", why);
}

static void test_traceparent(void)
{
    otel_span_handle h;
    char buf[64], hex[33];
    int rc;

    rc = tp("00-" TID "-" SID "-01", &h);
    otel_hex_encode(h.trace_id, 16, hex);
    hex[32] = 0;
    CHECK(rc == OTEL_OK && strcmp(hex, TID) == 0 && h.span_id[0] == 0x00
          && h.span_id[1] == 0xf0 && h.span_id[7] == 0xb7
          && h.trace_flags == 1 && h.remote == 1,
          "the spec's sampled example parses");
    rc = otel_traceparent_format(&h, buf);
    CHECK(rc == 55 && memcmp(buf, "00-" TID "-" SID "-01", 55) == 0,
          "and formats back to the same header");
    rc = tp("00-" TID "-" SID "-00", &h);
    CHECK(rc == OTEL_OK && h.trace_flags == 0, "not sampled example");
    otel_traceparent_format(&h, buf);
    CHECK(memcmp(buf + 52, "-00", 3) == 0, "formats flags 00");

#define T12 "12345678901234567890123456789012"
#define S12 "1234567890123456"
    /* level 2: every bit is kept, whether defined or not */
    tp_good("00-" T12 "-" S12 "-09", 9, "all flag bits kept (09)");
    tp_good("00-" T12 "-" S12 "-fe", 0xfe, "flags fe kept");
    tp_good("00-" T12 "-" S12 "-03", 3, "sampled and random (03)");
    tp_good(" 00-" T12 "-" S12 "-01", 1, "leading space");
    tp_good("\t00-" T12 "-" S12 "-01", 1, "leading tab");
    tp_good("00-" T12 "-" S12 "-01 ", 1, "trailing space");
    tp_good("\t 00-" T12 "-" S12 "-01 \t", 1, "OWS both sides");
    tp_good("cc-" T12 "-" S12 "-01", 1, "future version cc");
    tp_good("cc-" T12 "-" S12 "-01-what-the-future-will-be-like", 1,
            "future version with extra fields");
    tp_good("01-" T12 "-" S12 "-03-x", 3, "version 01, extra field");

    tp_bad("", "empty");
    tp_bad("00-" T12 "-" S12 "-01.", "version 00 with a trailing char");
    tp_bad("00-" T12 "-" S12 "-01-what-the-future-will-be-like",
           "version 00 with extra fields");
    tp_bad("cc-" T12 "-" S12 "-01.what-the-future-will-be-like",
           "future version, flags not followed by '-'");
    tp_bad("ff-" T12 "-" S12 "-01", "version ff");
    tp_bad(".0-" T12 "-" S12 "-01", "illegal version char (1)");
    tp_bad("0.-" T12 "-" S12 "-01", "illegal version char (2)");
    tp_bad("000-" T12 "-" S12 "-01", "version too long");
    tp_bad("0000-" T12 "-" S12 "-01", "version far too long");
    tp_bad("0-" T12 "-" S12 "-01", "version too short");
    tp_bad("0A-" T12 "-" S12 "-01", "upper-case version");
    tp_bad("00-00000000000000000000000000000000-" S12 "-01",
           "trace id all zero");
    tp_bad("00-.2345678901234567890123456789012-" S12 "-01",
           "illegal trace id char (1)");
    tp_bad("00-1234567890123456789012345678901.-" S12 "-01",
           "illegal trace id char (2)");
    tp_bad("00-4BF92F3577B34DA6A3CE929D0E0E4736-" S12 "-01",
           "upper-case trace id");
    tp_bad("00-123456789012345678901234567890123-" S12 "-01",
           "trace id too long");
    tp_bad("00-1234567890123456789012345678901-" S12 "-01",
           "trace id too short");
    tp_bad("00-" T12 "-0000000000000000-01", "parent id all zero");
    tp_bad("00-" T12 "-.234567890123456-01", "illegal parent id char (1)");
    tp_bad("00-" T12 "-123456789012345.-01", "illegal parent id char (2)");
    tp_bad("00-" T12 "-00F067AA0BA902B7-01", "upper-case parent id");
    tp_bad("00-" T12 "-12345678901234567-01", "parent id too long");
    tp_bad("00-" T12 "-123456789012345-01", "parent id too short");
    tp_bad("00-" T12 "-" S12 "-.0", "illegal flags char (1)");
    tp_bad("00-" T12 "-" S12 "-0.", "illegal flags char (2)");
    tp_bad("00-" T12 "-" S12 "-0A", "upper-case flags");
    tp_bad("00-" T12 "-" S12 "-001", "flags too long");
    tp_bad("00-" T12 "-" S12 "-1", "flags too short");
    tp_bad("00_" T12 "-" S12 "-01", "wrong separator");
    tp_bad("cc-" T12 "-" S12 "-1-x", "future version, short flags");
    CHECK(otel_traceparent_parse(NULL, 0, &h) == OTEL_EINVAL,
          "NULL string rejected");

    memset(&h, 0, sizeof(h));
    CHECK(otel_traceparent_format(&h, buf) == OTEL_EINVAL,
          "an invalid context is not formatted");
}

static int ts(const char *s, char *out, size_t cap)
{
    int n = otel_tracestate_clean(s, strlen(s), out, cap);

    out[n] = 0;
    return n;
}

/* Cleans s; expects want and drops counted. */
static void ts_is(const char *s, const char *want, unsigned drops,
                  const char *why)
{
    char out[OTEL_TRACESTATE_MAX_LEN + 1];
    uint64_t before = invalid_count();

    ts(s, out, OTEL_TRACESTATE_MAX_LEN);
    CHECK(strcmp(out, want) == 0 && invalid_count() == before + drops,
          "tracestate %s: got \"%.60s\"", why, out);
}

static void test_tracestate(void)
{
    char big[8192], want[8192], out[OTEL_TRACESTATE_MAX_LEN + 1];
    const char *s;
    size_t i, o, w;
    int n;

    s = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    n = ts(s, out, OTEL_TRACESTATE_MAX_LEN);
    CHECK(n == (int)strlen(s) && strcmp(out, s) == 0,
          "a valid list is kept as it is (same length)");
    ts_is("", "", 0, "empty header");
    ts_is(" , ,\t,", "", 0, "whitespace-only members are allowed");
    ts_is(",,foo=1,, ,", "foo=1", 0, "empty members dropped silently");
    ts_is("foo=1 \t , \t bar=2, \t baz=3", "foo=1,bar=2,baz=3", 0,
          "OWS around members");
    ts_is("foo=1\t \t,\t \tbar=2,\t \tbaz=3", "foo=1,bar=2,baz=3", 0,
          "tabs around members");
    ts_is("b=1,a=2,c=3", "b=1,a=2,c=3", 0, "order kept");
    ts_is("foo=1,foo=1", "foo=1", 1, "a duplicate goes (first kept)");
    ts_is("foo=1,bar=2,foo=3", "foo=1,bar=2", 1, "first of duplicates");
    ts_is("foo= x", "foo= x", 0, "leading spaces belong to the value");
    ts_is("fw529a3039@dt=x", "fw529a3039@dt=x", 0, "multi-tenant key");
    ts_is("1a2b3c@dt=x,9@a=y", "1a2b3c@dt=x,9@a=y", 0,
          "tenant ids may start with a digit");
    ts_is("a-b_c*d/1@x-y_z*0/2=v", "a-b_c*d/1@x-y_z*0/2=v", 0,
          "every key character");
    ts_is("a=1,B=2,c=3", "a=1,c=3", 1, "an upper-case key goes alone");
    ts_is("FOO=1", "", 1, "upper-case key");
    ts_is("foo.bar=1", "", 1, "'.' in a key");
    ts_is("foo =1", "", 1, "space before '='");
    ts_is("1abc=1", "", 1, "simple keys start with a letter");
    ts_is("foo@=1,bar=2", "bar=2", 1, "empty system id");
    ts_is("@foo=1,bar=2", "bar=2", 1, "empty tenant id");
    ts_is("foo@@bar=1,bar=2", "bar=2", 1, "two '@'");
    ts_is("foo@bar@baz=1,bar=2", "bar=2", 1, "two '@' apart");
    ts_is("a@1b=1", "", 1, "system ids start with a letter");
    ts_is("foo=bar=baz", "", 1, "'=' in a value");
    ts_is("foo=,bar=3", "bar=3", 1, "empty value");
    ts_is("foo", "", 1, "no '='");
    ts_is("foo=a\tb", "", 1, "tab in a value");
    ts_is("foo=a\x7f", "", 1, "DEL in a value");

    /* Key and value lengths. */
    memset(big, 'z', 256);
    strcpy(big + 256, "=1");
    ts_is(big, big, 0, "256-character key");
    memset(big, 'z', 257);
    strcpy(big + 257, "=1");
    ts_is(big, "", 1, "257-character key");
    memset(big, 't', 241);
    big[241] = '@';
    memset(big + 242, 'v', 14);
    strcpy(big + 256, "=1");
    ts_is(big, big, 0, "241-char tenant, 14-char system");
    memset(big, 't', 242);
    strcpy(big + 242, "@v=1");
    ts_is(big, "", 1, "242-char tenant");
    strcpy(big, "t@");
    memset(big + 2, 'v', 15);
    strcpy(big + 17, "=1");
    ts_is(big, "", 1, "15-char system id");
    strcpy(big, "k=");
    memset(big + 2, 'v', 256);
    big[258] = 0;
    ts_is(big, big, 0, "256-character value");
    memset(big + 2, 'v', 257);
    big[259] = 0;
    ts_is(big, "", 1, "257-character value");
    strcpy(big, "k=");
    for (i = 0; i < 0x5f; i++) {
        char c = (char)(0x20 + i);

        big[2 + i] = (c == ',' || c == '=') ? 'x' : c;
    }
    big[2 + 0x5f] = 0;
    big[2] = 'a';           /* all printable characters but ',' and '=' */
    ts_is(big, big, 0, "every allowed value character");

    /* 32 members, then 33. */
    o = 0;
    for (i = 1; i <= 33; i++) {
        o += (size_t)sprintf(big + o, "%sbar%02zu=%02zu", i > 1 ? "," : "",
                             i, i);
        if (i == 32) {
            memcpy(want, big, o + 1);
        }
    }
    ts_is(want, want, 0, "32 members are kept");
    ts_is(big, want, 1, "the 33rd member is dropped");

    /* Truncation to 512: whole members, the long one first, then from
     * the end. */
    o = (size_t)sprintf(big, "a0=");
    memset(big + o, 'x', 60);
    o += 60;
    for (i = 1; i < 8; i++) {
        o += (size_t)sprintf(big + o, ",a%zu=", i);
        memset(big + o, i == 2 ? 'L' : 'x', i == 2 ? 200 : 60);
        o += i == 2 ? 200 : 60;
    }
    big[o] = 0;
    /* 7 members of 63 chars + one of 203, 7 commas: 651 > 512.  Dropping
     * the 203-char one leaves 7 * 63 + 6 = 447. */
    w = 0;
    for (i = 0; i < 8; i++) {
        if (i == 2) {
            continue;
        }
        w += (size_t)sprintf(want + w, "%sa%zu=", w ? "," : "", i);
        memset(want + w, 'x', 60);
        w += 60;
    }
    want[w] = 0;
    ts_is(big, want, 1, "over 512: the member over 128 chars goes first");
    o = 0;
    for (i = 0; i < 10; i++) {
        o += (size_t)sprintf(big + o, "%sk%zu=", i ? "," : "", i);
        memset(big + o, 'v', 60);
        o += 60;
        if (i == 7) {
            memcpy(want, big, o);
            want[o] = 0;    /* 8 * 63 + 7 = 511 */
        }
    }
    big[o] = 0;
    ts_is(big, want, 2, "over 512: members dropped from the end");
    n = otel_tracestate_clean("aaaa=1,bbbb=2,cccc=3", 20, out, 10);
    CHECK(n == 6 && memcmp(out, "aaaa=1", 6) == 0,
          "a smaller buffer truncates the same way");
}

/* Collects the entries of a baggage header as "k=v[;meta]|...". */
static uint32_t bag(const char *s, char *res, otel_baggage_iter *it)
{
    static char buf[OTEL_BAGGAGE_MAX_BYTES];
    otel_baggage_entry e;
    size_t o = 0;

    memset(it, 0, sizeof(*it));
    res[0] = 0;
    while (otel_baggage_next(s, strlen(s), it, buf, sizeof(buf), &e)) {
        o += (size_t)sprintf(res + o, "%.*s=%.*s", (int)e.key_len, e.key,
                             (int)e.value_len, e.value);
        if (e.meta_len) {
            o += (size_t)sprintf(res + o, ";%.*s", (int)e.meta_len, e.meta);
        }
        res[o++] = '|';
        res[o] = 0;
    }
    return it->count;
}

static void bag_is(const char *s, const char *want, unsigned drops,
                   const char *why)
{
    static char res[65536];
    otel_baggage_iter it;
    uint64_t before = invalid_count();

    bag(s, res, &it);
    CHECK(strcmp(res, want) == 0 && it.dropped == drops
          && invalid_count() == before + drops,
          "baggage %s: got \"%.80s\"", why, res);
}

static void s_clean(const char *s, const char *want, unsigned drops,
                    const char *why)
{
    char out[256];
    uint64_t before = invalid_count();
    int n = otel_baggage_clean(s, strlen(s), out, sizeof(out));

    CHECK(n == (int)strlen(want) && memcmp(out, want, (size_t)n) == 0
          && invalid_count() == before + drops,
          "baggage clean %s: got \"%.*s\"", why, n, out);
}

static void test_baggage(void)
{
    static char big[65536], res[65536], buf[OTEL_BAGGAGE_MAX_BYTES];
    otel_baggage_writer w;
    otel_baggage_iter it;
    uint64_t before;
    size_t o, i;
    int rc;

    bag_is("key1=value1;property1;property2, key2 = value2, key3=value3; "
           "propertyKey=propertyValue",
           "key1=value1;property1;property2|key2=value2|"
           "key3=value3;propertyKey=propertyValue|", 0,
           "the spec's example (properties verbatim, OWS trimmed)");
    bag_is("userId=alice,serverNode=DF%2028,isProduction=false",
           "userId=alice|serverNode=DF 28|isProduction=false|", 0,
           "percent-decoding");
    bag_is("userId =   alice", "userId=alice|", 0, "OWS around '='");
    bag_is("k=a=b", "k=a=b|", 0, "'=' in a value");
    bag_is("k=", "k=|", 0, "empty value");
    bag_is("k=%E2%9C%93%e2%9c%93", "k=\xe2\x9c\x93\xe2\x9c\x93|", 0,
           "UTF-8 escapes, either case");
    bag_is("k=%FFx", "k=\xef\xbf\xbdx|", 0, "invalid UTF-8 becomes U+FFFD");
    bag_is("k=%zz%4", "k=%zz%4|", 0, "a lone '%' stays");
    bag_is("k=a+b", "k=a+b|", 0, "'+' is not a space");
    bag_is("k=v;p1 = x ; p2", "k=v;p1 = x ; p2|", 0,
           "properties with OWS inside are kept verbatim");
    bag_is(",, k=v ,", "k=v|", 0, "empty members skipped silently");
    bag_is("novalue,k=v", "k=v|", 1, "a member without '='");
    bag_is("=v,k=v", "k=v|", 1, "an empty key");
    bag_is("bad key=v,k=v", "k=v|", 1, "a space in a key");
    bag_is("k(=v", "", 1, "a key that is not a token");
    bag_is("k=v v", "", 1, "a space inside a value");
    bag_is("k=\"q\"", "", 1, "a quote in a value");
    bag_is("k=a\\b", "", 1, "a backslash in a value");
    bag_is("k=v;;p", "", 1, "an empty property");
    bag_is("k=v;", "", 1, "a trailing ';'");
    bag_is("k=v;p=a b", "", 1, "a property value with a space");
    bag_is("k=1,k=2", "k=1|k=2|", 0, "duplicates are all returned");

    /* 181 members: the last is dropped. */
    o = 0;
    for (i = 0; i < 181; i++) {
        o += (size_t)sprintf(big + o, "%sk%zu=%zu", i ? "," : "", i, i);
    }
    before = invalid_count();
    CHECK(bag(big, res, &it) == 180 && it.dropped == 1
          && invalid_count() == before + 1 && strstr(res, "k179=179|")
          && !strstr(res, "k180"),
          "180 members kept, the 181st dropped and counted");
    /* Bytes: 3 members of 3000 bytes; the third passes 8192. */
    o = 0;
    for (i = 0; i < 3; i++) {
        o += (size_t)sprintf(big + o, "%sk%zu=", i ? "," : "", i);
        memset(big + o, 'v', 2997);
        o += 2997;
    }
    o += (size_t)sprintf(big + o, ",small=1");
    big[o] = 0;
    before = invalid_count();
    CHECK(bag(big, res, &it) == 3 && it.dropped == 1
          && invalid_count() == before + 1 && strstr(res, "|small=1|")
          && !strstr(res, "k2="),
          "a member past 8192 bytes is dropped, later small ones kept");

    /* Cleaning: the same rules, one string out. */
    s_clean("key1=value1;property1;property2, key2 = value2, key3=value3; "
            "propertyKey=propertyValue",
            "key1=value1;property1;property2,key2=value2,"
            "key3=value3;propertyKey=propertyValue", 0,
            "OWS removed, properties kept");
    s_clean("a=1,bad key=2,,c=%203 ; p", "a=1,c=%203;p", 1,
            "malformed members dropped, values left encoded");
    s_clean("", "", 0, "empty header");
    s_clean("x", "", 1, "nothing valid");
    o = 0;
    for (i = 0; i < 181; i++) {
        o += (size_t)sprintf(big + o, "%sk%zu=%zu", i ? "," : "", i, i);
    }
    before = invalid_count();
    rc = otel_baggage_clean(big, o, res, sizeof(res));
    CHECK(rc > 0 && invalid_count() == before + 1
          && memcmp(res + rc - 9, "k179=179", 8) != 0
          && memcmp(res + rc - 8, "k179=179", 8) == 0,
          "clean keeps 180 members");
    rc = otel_baggage_clean("aaa=1,bb=2,c=3", 14, res, 9);
    CHECK(rc == 9 && memcmp(res, "aaa=1,c=3", 9) == 0,
          "clean drops what does not fit in cap");

    /* Formatting. */
    memset(&w, 0, sizeof(w));
    w.buf = buf;
    w.cap = sizeof(buf);
    rc = otel_baggage_put(&w, "user", 4, "alice", 5, NULL, 0);
    rc |= otel_baggage_put(&w, "node", 4, "DF 28,;%+\"\\\xe2\x9c\x93", 14,
                           "p1;p2=x", 7);
    CHECK(rc == OTEL_OK && w.count == 2 && w.len == strlen(
              "user=alice,node=DF%2028%2C%3B%25%2B%22%5C%E2%9C%93;p1;p2=x")
          && memcmp(buf, "user=alice,node=DF%2028%2C%3B%25%2B%22%5C"
                    "%E2%9C%93;p1;p2=x", w.len) == 0,
          "put percent-encodes all but unreserved characters");
    buf[w.len] = 0;
    memcpy(big, buf, w.len + 1);
    bag(big, res, &it);
    CHECK(strcmp(res, "user=alice|node=DF 28,;%+\"\\\xe2\x9c\x93;p1;p2=x|")
          == 0, "and the header parses back to the same entries");
    before = invalid_count();
    rc = otel_baggage_put(&w, "a b", 3, "v", 1, NULL, 0);
    CHECK(rc == OTEL_EINVAL && w.count == 2 && w.dropped == 1
          && invalid_count() == before + 1, "a key that is not a token");
    o = w.len;
    rc = otel_baggage_put(&w, "m", 1, "v", 1, "a b,c", 5);
    CHECK(rc == OTEL_OK && w.len == o + 4 && memcmp(buf + o, ",m=v", 4) == 0
          && invalid_count() == before + 2,
          "metadata that is not a property list is left out");
    memset(&w, 0, sizeof(w));
    w.buf = buf;
    w.cap = 8;
    CHECK(otel_baggage_put(&w, "k", 1, "1234", 4, NULL, 0) == OTEL_OK
          && otel_baggage_put(&w, "k", 1, "1", 1, NULL, 0) == OTEL_ELIMIT
          && w.len == 6 && w.count == 1, "the buffer's size is a limit");
    memset(&w, 0, sizeof(w));
    w.buf = buf;
    w.cap = sizeof(buf);
    for (i = 0, rc = 0; i < 181; i++) {
        rc = otel_baggage_put(&w, "k", 1, "v", 1, NULL, 0);
    }
    CHECK(rc == OTEL_ELIMIT && w.count == 180 && w.dropped == 1,
          "put stops at 180 members");
}

static void b3_hex(const otel_span_handle *h, char *tid, char *sid)
{
    otel_hex_encode(h->trace_id, 16, tid);
    tid[32] = 0;
    otel_hex_encode(h->span_id, 8, sid);
    sid[16] = 0;
}

static int b3(const char *s, otel_span_handle *h, int *debug)
{
    return otel_b3_parse(s, strlen(s), h, debug);
}

static int b3m(const char *t, const char *s, const char *smp,
               const char *fl, otel_span_handle *h, int *debug)
{
    const char *v[4] = { t, s, smp, fl };
    size_t l[4];
    int i;

    for (i = 0; i < 4; i++) {
        l[i] = v[i] ? strlen(v[i]) : 0;
    }
    return otel_b3_parse_multi(v, l, h, debug);
}

#define B3T "80f198ee56343ba864fe8b2a57d3eff7"
#define B3S "e457b5a2e4d86bd1"
#define B3P "05e3ac9a4f6e3b90"

static void test_b3(void)
{
    otel_span_handle h;
    char tid[33], sid[17], buf[64];
    int rc, dbg;
    uint64_t before;

    rc = b3(B3T "-" B3S "-1-" B3P, &h, &dbg);
    b3_hex(&h, tid, sid);
    CHECK(rc == OTEL_OK && strcmp(tid, B3T) == 0 && strcmp(sid, B3S) == 0
          && h.trace_flags == 1 && h.remote == 1 && dbg == 0,
          "b3 single with parent span id (ignored)");
    rc = b3("64fe8b2a57d3eff7-" B3S "-0", &h, &dbg);
    b3_hex(&h, tid, sid);
    CHECK(rc == OTEL_OK && strcmp(tid, "000000000000000064fe8b2a57d3eff7")
          == 0 && h.trace_flags == 0, "64-bit trace id left-padded; deny");
    rc = b3(B3T "-" B3S "-d", &h, &dbg);
    CHECK(rc == OTEL_OK && h.trace_flags == 1 && dbg == 1,
          "debug means sampled");
    rc = b3(" " B3T "-" B3S " ", &h, &dbg);
    CHECK(rc == OTEL_OK && h.trace_flags == 0 && dbg == 0,
          "absent state: deferred, not sampled");
    before = invalid_count();
    CHECK(b3("0", &h, &dbg) == 1 && b3("1", &h, &dbg) == 1
          && b3("d", &h, &dbg) == 1 && dbg == 1 && zeroed(&h)
          && invalid_count() == before,
          "a sampling state alone: no context, not counted");
    rc = otel_b3_format(&h, 0, buf);
    CHECK(rc == OTEL_EINVAL, "an invalid context is not formatted");

    before = invalid_count();
    CHECK(b3("", &h, &dbg) == OTEL_EINVAL, "b3 empty");
    CHECK(b3("80F198EE56343BA864FE8B2A57D3EFF7-" B3S "-1", &h, &dbg)
          == OTEL_EINVAL && zeroed(&h), "b3 upper-case trace id");
    CHECK(b3("80f198ee56343ba864fe-" B3S "-1", &h, &dbg) == OTEL_EINVAL,
          "b3 20-digit trace id");
    CHECK(b3(B3T "-" B3S "-x", &h, &dbg) == OTEL_EINVAL, "b3 state x");
    CHECK(b3(B3T "-" B3S "-", &h, &dbg) == OTEL_EINVAL, "b3 trailing '-'");
    CHECK(b3(B3T "-" B3S "-1-05e3", &h, &dbg) == OTEL_EINVAL,
          "b3 short parent id");
    CHECK(b3(B3T "-" B3S "-1-" B3P "-", &h, &dbg) == OTEL_EINVAL,
          "b3 trailing junk");
    CHECK(b3(B3T "-e457b5a2e4d86bd", &h, &dbg) == OTEL_EINVAL,
          "b3 short span id");
    CHECK(b3("00000000000000000000000000000000-" B3S "-1", &h, &dbg)
          == OTEL_EINVAL, "b3 zero trace id");
    CHECK(b3(B3T "-0000000000000000-1", &h, &dbg) == OTEL_EINVAL,
          "b3 zero span id");
    CHECK(b3("2", &h, &dbg) == OTEL_EINVAL, "b3 bad state alone");
    CHECK(invalid_count() == before + 11, "each counted once");

    rc = b3m(B3T, B3S, "1", NULL, &h, &dbg);
    b3_hex(&h, tid, sid);
    CHECK(rc == OTEL_OK && strcmp(tid, B3T) == 0 && strcmp(sid, B3S) == 0
          && h.trace_flags == 1 && h.remote == 1 && dbg == 0,
          "b3 multi sampled");
    rc = b3m("64fe8b2a57d3eff7", B3S, "0", NULL, &h, &dbg);
    b3_hex(&h, tid, sid);
    CHECK(rc == OTEL_OK && h.trace_flags == 0
          && strcmp(tid, "000000000000000064fe8b2a57d3eff7") == 0,
          "b3 multi 64-bit trace id, deny");
    CHECK(b3m(B3T, B3S, "true", NULL, &h, &dbg) == OTEL_OK
          && h.trace_flags == 1, "X-B3-Sampled: true");
    CHECK(b3m(B3T, B3S, "false", NULL, &h, &dbg) == OTEL_OK
          && h.trace_flags == 0, "X-B3-Sampled: false");
    CHECK(b3m(B3T, B3S, "0", "1", &h, &dbg) == OTEL_OK && h.trace_flags == 1
          && dbg == 1, "X-B3-Flags: 1 is debug and wins over a deny");
    CHECK(b3m(B3T, B3S, NULL, "0", &h, &dbg) == OTEL_OK && h.trace_flags == 0
          && dbg == 0, "other X-B3-Flags ignored; deferred");
    before = invalid_count();
    CHECK(b3m(NULL, NULL, "1", NULL, &h, &dbg) == 1
          && invalid_count() == before, "no id headers: nothing");
    CHECK(b3m(B3T, NULL, "1", NULL, &h, &dbg) == OTEL_EINVAL,
          "b3 multi without a span id");
    CHECK(b3m(NULL, B3S, "1", NULL, &h, &dbg) == OTEL_EINVAL,
          "b3 multi without a trace id");
    CHECK(b3m(B3T, B3S, "yes", NULL, &h, &dbg) == OTEL_EINVAL,
          "b3 multi bad X-B3-Sampled");
    CHECK(b3m(B3T, "E457B5A2E4D86BD1", "1", NULL, &h, &dbg) == OTEL_EINVAL,
          "b3 multi upper-case span id");
    CHECK(invalid_count() == before + 4, "each counted once");

    b3m(B3T, B3S, "1", NULL, &h, &dbg);
    rc = otel_b3_format(&h, 0, buf);
    CHECK(rc == OTEL_B3_LEN && memcmp(buf, B3T "-" B3S "-1", 51) == 0,
          "b3 format sampled");
    rc = otel_b3_format(&h, 1, buf);
    CHECK(rc == OTEL_B3_LEN && buf[50] == 'd', "b3 format debug");
    h.trace_flags = 0;
    otel_b3_format(&h, 0, buf);
    CHECK(buf[50] == '0', "b3 format not sampled");
}

int main(void)
{
    test_traceparent();
    test_tracestate();
    test_baggage();
    test_b3();
    return tap_done();
}
