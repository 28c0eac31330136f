/* The other tracers' formats (src/propagators.c) with the examples of
 * their documentation: Jaeger, OT Trace, AWS X-Ray, Google Cloud Trace
 * and Datadog. */
#include <string.h>

#include "internal.h"
#include "tap.h"

#define P_JAEGER  OTEL_PROPAGATOR_JAEGER
#define P_OTTRACE OTEL_PROPAGATOR_OTTRACE
#define P_XRAY    OTEL_PROPAGATOR_XRAY
#define P_GCP     OTEL_PROPAGATOR_GCP
#define P_DATADOG OTEL_PROPAGATOR_DATADOG

static uint64_t invalid_count(void)
{
    return otel_stats_get(OTEL_STAT_PROPAGATION_INVALID);
}

typedef struct {
    otel_span_handle h;
    int              rc, debug;
    char             tid[33], sid[17];
    char             ts[OTEL_PROP_TS_MAX];
    size_t           tsl;
    uint64_t         invalid;
} parsed;

/* Extracts from up to five header values (NULL: absent). */
static parsed ex(int format, const char *v0, const char *v1, const char *v2,
                 const char *v3, const char *v4)
{
    const char *vals[5] = { v0, v1, v2, v3, v4 };
    size_t lens[5];
    uint64_t before = invalid_count();
    parsed p;
    int i;

    memset(&p, 0, sizeof(p));
    for (i = 0; i < 5; i++) {
        lens[i] = vals[i] ? strlen(vals[i]) : 0;
    }
    p.rc = otel_prop_extract(format, vals, lens, &p.h, &p.debug, p.ts,
                             &p.tsl);
    otel_hex_encode(p.h.trace_id, 16, p.tid);
    otel_hex_encode(p.h.span_id, 8, p.sid);
    p.invalid = invalid_count() - before;
    return p;
}

/* Injects h and returns header i's value (static buffer). */
static const char *in(int format, const otel_span_handle *h, int debug,
                      const char *ts, int i)
{
    static char buf[OTEL_PROP_BUF], out[OTEL_PROP_BUF];
    size_t lens[5], off = 0;
    int k, n;

    n = otel_prop_inject(format, h, debug, ts, ts ? strlen(ts) : 0, buf,
                         sizeof(buf), lens);
    if (n < 0) {
        return "(error)";
    }
    for (k = 0; k < i; k++) {
        off += lens[k];
    }
    memcpy(out, buf + off, lens[i]);
    out[lens[i]] = '\0';
    return out;
}

static void test_fields(void)
{
    CHECK(strcmp(otel_prop_field(P_JAEGER, 0), "uber-trace-id") == 0
          && otel_prop_field(P_JAEGER, 1) == NULL
          && strcmp(otel_prop_baggage_prefix(P_JAEGER),
                    "uberctx-") == 0, "jaeger headers");
    CHECK(strcmp(otel_prop_field(P_DATADOG, 4), "x-datadog-tags")
          == 0 && otel_prop_baggage_prefix(P_DATADOG) == NULL,
          "datadog headers");
    CHECK(otel_prop_field(1, 0) == NULL && otel_prop_field(4, 0) == NULL
          && otel_prop_field(10, 0) == NULL && otel_prop_field(5, -1) == NULL
          && otel_prop_field(9, 5) == NULL,
          "no headers out of range");
}

static void test_jaeger(void)
{
    parsed p = ex(P_JAEGER,
                  "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1",
                  NULL, NULL, NULL, NULL);

    CHECK(p.rc == OTEL_OK && strcmp(p.tid, "4bf92f3577b34da6a3ce929d0e0e4736")
          == 0 && strcmp(p.sid, "00f067aa0ba902b7") == 0
          && p.h.trace_flags == 1 && p.h.remote == 1 && p.debug == 0,
          "jaeger: trace:span:parent:flags");
    CHECK(strcmp(in(P_JAEGER, &p.h, 0, NULL, 0),
                 "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:01")
          == 0, "jaeger: formatted with the deprecated parent 0");
    p = ex(P_JAEGER, "ABC%3a1f%3A0%3A3", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_OK && strcmp(p.tid, "00000000000000000000000000000abc")
          == 0 && strcmp(p.sid, "000000000000001f") == 0 && p.debug == 1
          && p.h.trace_flags == 1,
          "jaeger: short ids, upper case, encoded ':', debug");
    CHECK(strcmp(in(P_JAEGER, &p.h, 1, NULL, 0) + 50, "0:03") == 0,
          "jaeger: debug sent on");
    p = ex(P_JAEGER, "0:1f:0:1", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1 && p.h.remote == 0,
          "jaeger: zero trace id invalid, counted");
    p = ex(P_JAEGER, "1:2:3", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1, "jaeger: three fields");
    p = ex(P_JAEGER, NULL, NULL, NULL, NULL, NULL);
    CHECK(p.rc == 1 && p.invalid == 0, "jaeger: absent, not counted");
}

static void test_jaeger_baggage(void)
{
    char wb[256], buf[OTEL_PROP_BUF];
    otel_baggage_writer w = { wb, sizeof(wb), 0, 0, 0 };
    size_t lens[2];
    int rc;

    rc = otel_prop_baggage_put(P_JAEGER, &w, "UberCtx-User", 12,
                               "a%20b", 5);
    CHECK(rc == OTEL_OK && w.len == 10 && memcmp(wb, "User=a%20b", 10) == 0,
          "jaeger baggage: prefix in any case, value decoded");
    rc = otel_prop_baggage_put(P_JAEGER, &w, "x-user", 6, "v", 1);
    CHECK(rc == 1 && w.count == 1, "jaeger baggage: other headers are 1");
    rc = otel_prop_baggage_format(P_JAEGER, "user", 4, "a b/c", 5,
                                  buf, sizeof(buf), lens);
    CHECK(rc > 0 && lens[0] == 12 && memcmp(buf, "uberctx-user", 12) == 0
          && lens[1] == 9 && memcmp(buf + 12, "a%20b%2Fc", 9) == 0,
          "jaeger baggage: uberctx-user: a%%20b%%2Fc");
    rc = otel_prop_baggage_format(P_OTTRACE, "k", 1, "a b", 3, buf,
                                  sizeof(buf), lens);
    CHECK(rc > 0 && memcmp(buf, "ot-baggage-ka b", 15) == 0,
          "ot baggage: the value as it is");
    rc = otel_prop_baggage_format(P_OTTRACE, "k", 1, "a\r\nb", 4,
                                  buf, sizeof(buf), lens);
    CHECK(rc == OTEL_EINVAL, "ot baggage: no CR LF in a header");
    rc = otel_prop_baggage_format(P_JAEGER, "a b", 3, "v", 1, buf,
                                  sizeof(buf), lens);
    CHECK(rc == OTEL_EINVAL, "baggage header: the key must be a token");
}

static void test_ottrace(void)
{
    parsed p = ex(P_OTTRACE, "e457b5a2e4d86bd1", "a2fb4a1d1a96d312",
                  "true", NULL, NULL);

    CHECK(p.rc == OTEL_OK && strcmp(p.tid, "0000000000000000e457b5a2e4d86bd1")
          == 0 && strcmp(p.sid, "a2fb4a1d1a96d312") == 0
          && p.h.trace_flags == 1, "ottrace: 64-bit trace id, sampled");
    p = ex(P_OTTRACE, "4bf92f3577b34da6a3ce929d0e0e4736",
           "00f067aa0ba902b7", "0", NULL, NULL);
    CHECK(p.rc == OTEL_OK && p.h.trace_flags == 0
          && strcmp(in(P_OTTRACE, &p.h, 0, NULL, 0),
                    "a3ce929d0e0e4736") == 0
          && strcmp(in(P_OTTRACE, &p.h, 0, NULL, 2), "false") == 0,
          "ottrace: sends the lower 64 bits, false");
    p = ex(P_OTTRACE, "e457b5a2e4d86bd1", "a2fb4a1d1a96d312",
           "yes", NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1, "ottrace: sampled yes");
    p = ex(P_OTTRACE, "e457b5a2e4d86bd1", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1, "ottrace: no span id");
}

static void test_xray(void)
{
    parsed p = ex(P_XRAY,
                  "Root=1-5759e988-bd862e3fe1be46a994272793;"
                  "Parent=53995c3f42cd8ad8;Sampled=1", NULL, NULL, NULL,
                  NULL);

    CHECK(p.rc == OTEL_OK && strcmp(p.tid, "5759e988bd862e3fe1be46a994272793")
          == 0 && strcmp(p.sid, "53995c3f42cd8ad8") == 0
          && p.h.trace_flags == 1, "xray: the documentation's example");
    CHECK(strcmp(in(P_XRAY, &p.h, 0, NULL, 0),
                 "Root=1-5759e988-bd862e3fe1be46a994272793;"
                 "Parent=53995c3f42cd8ad8;Sampled=1") == 0, "xray: format");
    p = ex(P_XRAY, " Sampled=? ; Lineage=a87bd80c:1|68fd508a:5;"
           "Parent=53995c3f42cd8ad8; Root=1-5759e988-bd862e3fe1be46a994272793",
           NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_OK && p.h.trace_flags == 0,
          "xray: any order, other keys, ? is not sampled");
    p = ex(P_XRAY, "Root=1-5759e988-bd862e3fe1be46a994272793",
           NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1, "xray: no Parent");
    p = ex(P_XRAY, "Root=2-5759e988-bd862e3fe1be46a994272793;"
           "Parent=53995c3f42cd8ad8", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL, "xray: version 2");
}

static void test_gcp(void)
{
    parsed p = ex(P_GCP, "105445aa7843bc8bf206b12000100000/1;o=1",
                  NULL, NULL, NULL, NULL);

    CHECK(p.rc == OTEL_OK && strcmp(p.tid, "105445aa7843bc8bf206b12000100000")
          == 0 && strcmp(p.sid, "0000000000000001") == 0
          && p.h.trace_flags == 1, "gcp: the documentation's example");
    p = ex(P_GCP, "105445aa7843bc8bf206b12000100000/"
           "18446744073709551615", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_OK && strcmp(p.sid, "ffffffffffffffff") == 0
          && p.h.trace_flags == 0, "gcp: largest span id, no options");
    CHECK(strcmp(in(P_GCP, &p.h, 0, NULL, 0),
                 "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0")
          == 0, "gcp: format");
    p = ex(P_GCP, "105445aa7843bc8bf206b12000100000/"
           "18446744073709551616", NULL, NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1, "gcp: span id over 64 bits");
    p = ex(P_GCP, "105445aa7843bc8bf206b12000100000/0;o=1", NULL,
           NULL, NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL, "gcp: span id 0");
}

static void test_datadog(void)
{
    parsed p = ex(P_DATADOG, "5208512171318403364",
                  "1598848592390385", "2", "synthetics",
                  "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000");

    CHECK(p.rc == OTEL_OK && strcmp(p.tid, "640cfd8d00000000"
                                    "48485a3953bb6124") == 0
          && strcmp(p.sid, "0005ae24f26628f1") == 0 && p.h.trace_flags == 1
          && p.tsl == 15 && memcmp(p.ts, "dd=o:synthetics", 15) == 0,
          "datadog: ids in decimal, _dd.p.tid, origin as tracestate");
    CHECK(strcmp(in(P_DATADOG, &p.h, 0, "dd=s:2;o:synthetics", 0),
                 "5208512171318403364") == 0
          && strcmp(in(P_DATADOG, &p.h, 0, NULL, 1),
                    "1598848592390385") == 0
          && strcmp(in(P_DATADOG, &p.h, 0, NULL, 2), "1") == 0
          && strcmp(in(P_DATADOG, &p.h, 0, "a=b,dd=s:2;o:rum", 3),
                    "rum") == 0
          && strcmp(in(P_DATADOG, &p.h, 0, NULL, 4),
                    "_dd.p.tid=640cfd8d00000000") == 0,
          "datadog: format, origin from the dd tracestate member");
    p = ex(P_DATADOG, "1", "2", "-1", NULL, "_dd.p.tid=XYZ");
    CHECK(p.rc == OTEL_OK && p.h.trace_flags == 0 && p.invalid == 1
          && strcmp(p.tid, "00000000000000000000000000000001") == 0,
          "datadog: user reject; a malformed tid ignored, counted");
    p = ex(P_DATADOG, "1", "2", NULL, NULL, NULL);
    CHECK(p.rc == OTEL_OK && p.h.trace_flags == 0 && p.tsl == 0,
          "datadog: no priority, not sampled");
    p = ex(P_DATADOG, "18446744073709551616", "2", "1", NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL && p.invalid == 1, "datadog: over 64 bits");
    p = ex(P_DATADOG, "-5", "2", "1", NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL, "datadog: negative id");
    p = ex(P_DATADOG, "1", "0", "1", NULL, NULL);
    CHECK(p.rc == OTEL_EINVAL, "datadog: parent id 0");
    p = ex(P_DATADOG, "1", "2", "1", "a,b=c", NULL);
    CHECK(p.rc == OTEL_OK && p.tsl == 10 && memcmp(p.ts, "dd=o:a_b_c", 10)
          == 0, "datadog: origin made safe for tracestate");
}

int main(void)
{
    test_fields();
    test_jaeger();
    test_jaeger_baggage();
    test_ottrace();
    test_xray();
    test_gcp();
    test_datadog();
    return tap_done();
}
