/*
 * The pieces of OTLP/gRPC and OTLP/JSON that need no network: the message
 * framing, grpc-timeout, the retryable codes of the specification, the
 * RetryInfo delay inside grpc-status-details-bin (built here by hand, as
 * a server sends it), and the JSON partial success.  Bad input is refused,
 * never read past its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "tap.h"

static size_t varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t len_field(uint8_t *p, int field, const void *b, size_t n)
{
    size_t at = varint(p, (uint64_t)field << 3 | 2);

    at += varint(p + at, n);
    memcpy(p + at, b, n);
    return at + n;
}

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i < n; i += 3) {
        v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] : 0) << 8
            | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

/* google.rpc.Status { code, message, details: [Any] } with one Any of
 * type_url holding a RetryInfo of secs + nanos, base64. */
static void status_details(const char *type_url, int64_t secs, int32_t nanos,
                           char *out)
{
    uint8_t dur[32], ri[40], any[160], st[200];
    size_t dn = 0, rn, an, sn = 0;

    dn += varint(dur + dn, 1 << 3);
    dn += varint(dur + dn, (uint64_t)secs);
    dn += varint(dur + dn, 2 << 3);
    dn += varint(dur + dn, (uint64_t)nanos);
    rn = len_field(ri, 1, dur, dn);
    an = len_field(any, 1, type_url, strlen(type_url));
    an += len_field(any + an, 2, ri, rn);
    sn += varint(st + sn, 1 << 3);
    sn += varint(st + sn, 8);
    sn += len_field(st + sn, 2, "slow down", 9);
    sn += len_field(st + sn, 3, any, an);
    b64(st, sn, out);
}

static void retry_info(void)
{
    char v[400];

    status_details("type.googleapis.com/google.rpc.RetryInfo", 2, 500000000,
                   v);
    CHECK(otel__grpc_retry_delay_ms(v, strlen(v)) == 2500,
          "RetryInfo 2.5 s read from grpc-status-details-bin");
    CHECK(otel__grpc_retry_delay_ms(v, strlen(v) - 4) == -1,
          "a cut value: no retry delay (and nothing read past its end)");
    status_details("type.googleapis.com/google.rpc.DebugInfo", 2, 0, v);
    CHECK(otel__grpc_retry_delay_ms(v, strlen(v)) == -1,
          "another detail type: no retry delay");
    CHECK(otel__grpc_retry_delay_ms("!!!", 3) == -1,
          "not base64: no retry delay");
    CHECK(otel__grpc_retry_delay_ms("", 0) == -1, "empty: no retry delay");
}

static void framing(void)
{
    uint8_t buf[16] = { 0 }, pre[5];
    const uint8_t *msg;
    size_t mlen;

    otel__grpc_frame(pre, true, 0x01020304);
    CHECK(pre[0] == 1 && pre[1] == 1 && pre[2] == 2 && pre[3] == 3
          && pre[4] == 4, "prefix: compressed flag, big-endian length");
    otel__grpc_frame(buf, false, 3);
    memcpy(buf + 5, "abc", 3);
    CHECK(otel__grpc_unframe(buf, 8, &msg, &mlen) == 0 && mlen == 3
          && memcmp(msg, "abc", 3) == 0, "a framed message comes back");
    CHECK(otel__grpc_unframe(buf, 7, &msg, &mlen) == -1,
          "a length past the body is refused");
    CHECK(otel__grpc_unframe(buf, 4, &msg, &mlen) == -1,
          "a body shorter than the prefix is refused");
    buf[0] = 7;
    CHECK(otel__grpc_unframe(buf, 8, &msg, &mlen) == -1,
          "an unknown flag is refused");
    CHECK(otel__grpc_unframe(buf, 0, &msg, &mlen) == 0 && mlen == 0,
          "no body: an empty message");
}

static void timeouts_and_codes(void)
{
    char b[48];
    int c, retryable = 0;

    otel__grpc_timeout(b, sizeof(b), 10000);
    CHECK(strcmp(b, "grpc-timeout: 10000m") == 0, "grpc-timeout in ms: %s",
          b);
    otel__grpc_timeout(b, sizeof(b), 200000000);
    CHECK(strcmp(b, "grpc-timeout: 200000S") == 0,
          "grpc-timeout past 8 digits of ms in seconds: %s", b);
    for (c = 0; c <= 16; c++) {
        retryable |= otel__grpc_retryable(c, false) << c;
    }
    CHECK(retryable == (1 << 1 | 1 << 4 | 1 << 10 | 1 << 11 | 1 << 14
                        | 1 << 15),
          "retryable: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, "
          "UNAVAILABLE, DATA_LOSS");
    CHECK(!otel__grpc_retryable(8, false) && otel__grpc_retryable(8, true),
          "RESOURCE_EXHAUSTED only with RetryInfo");
    CHECK(strcmp(otel__grpc_code_name(14), "UNAVAILABLE") == 0
          && strcmp(otel__grpc_code_name(99), "?") == 0, "code names");
}

static void json_response(void)
{
    static const char ok[] = "{\"partialSuccess\":{\"rejectedSpans\":\"3\","
                             "\"errorMessage\":\"x\"}}";
    static const char num[] = " {\"partialSuccess\": {\"rejectedSpans\": 7}}";
    int64_t r = -1;

    CHECK(otel__otlp_json_response(ok, strlen(ok), &r) == OTEL_OK && r == 3,
          "JSON partial success, int64 as a string");
    CHECK(otel__otlp_json_response(num, strlen(num), &r) == OTEL_OK && r == 7,
          "JSON partial success, a number");
    CHECK(otel__otlp_json_response("{}", 2, &r) == OTEL_OK && r == 0,
          "JSON without partial success: none rejected");
    CHECK(otel__otlp_json_response("", 0, &r) == OTEL_OK && r == 0,
          "an empty answer: none rejected");
    CHECK(otel__otlp_json_response("<html>", 6, &r) == OTEL_EINVAL,
          "not JSON: refused");
    CHECK(otel__otlp_json_response(ok, 20, &r) == OTEL_OK && r == 0,
          "a cut answer is read no further than its end");
}

int main(void)
{
    retry_info();
    framing();
    timeouts_and_codes();
    json_response();
    return tap_done();
}
