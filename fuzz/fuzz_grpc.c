/*
 * What an OTLP/gRPC or OTLP/JSON collector answers, bytes from the
 * network: otel__grpc_unframe() (the length-prefixed message),
 * otel__grpc_retry_delay_ms() (grpc-status-details-bin: base64 of a
 * google.rpc.Status that may hold a RetryInfo) and
 * otel__otlp_json_response() (the JSON partial success).
 *
 * Input: one byte choosing the reader (0 unframe, 1 details, 2 JSON),
 * then the value.
 *
 * Checks: nothing is read past the value (an exact-size copy under
 * ASan); unframe agrees with the framing rules written out here (empty:
 * no message; else a flag of 0 or 1 and a big-endian length that is the
 * rest exactly); a retry delay is -1 or within the day the reader allows;
 * a JSON answer is refused exactly when it does not start with '{' (after
 * blanks), and a count is never negative nor found without the key.
 */
#include "internal.h"
#include "otlp.h"
#include "fuzz.h"

static void grpc_init(void)
{
}

static void unframe_check(const uint8_t *p, size_t n)
{
    const uint8_t *msg = NULL;
    size_t mlen = 12345, want;
    int rc = otel__grpc_unframe(p, n, &msg, &mlen);

    if (n == 0) {
        FZ_CHECK(rc == 0 && mlen == 0, "empty: %d %zu", rc, mlen);
        return;
    }
    want = n >= 5 ? ((size_t)p[1] << 24 | (size_t)p[2] << 16
                     | (size_t)p[3] << 8 | p[4]) : 0;
    if (n < 5 || p[0] > 1 || want != n - 5) {
        FZ_CHECK(rc == -1, "bad frame accepted: %d", rc);
        return;
    }
    FZ_CHECK(rc == p[0] && msg == p + 5 && mlen == want,
             "good frame: %d %zu", rc, mlen);
}

static void details_check(const uint8_t *p, size_t n)
{
    int64_t ms = otel__grpc_retry_delay_ms((const char *)p, n);

    FZ_CHECK(ms == -1 || (ms >= 0 && ms <= 86400 * 1000 + 999),
             "delay %lld", (long long)ms);
    FZ_CHECK(otel__grpc_retry_delay_ms((const char *)p, n) == ms,
             "not the same twice");
}

static void json_check(const uint8_t *p, size_t n)
{
    static const char key[] = "\"rejectedSpans\"";
    int64_t r = -1;
    size_t i = 0;
    int rc = otel__otlp_json_response((const char *)p, n, &r);

    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'
                     || p[i] == '\n')) {
        i++;
    }
    if (n && (i == n || p[i] != '{')) {
        FZ_CHECK(rc == OTEL_EINVAL, "not an object, accepted");
        return;
    }
    FZ_CHECK(rc == OTEL_OK && r >= 0, "object: %d %lld", rc, (long long)r);
    if (!memmem(p, n, key, sizeof(key) - 1)) {
        FZ_CHECK(r == 0, "a count without the key: %lld", (long long)r);
    }
}

static void grpc_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t which = fz_u8(&in);
    uint8_t *v = calloc(1, in.n ? in.n : 1);

    if (in.n) {
        memcpy(v, in.p, in.n);
    }
    switch (which % 3) {
    case 0:
        unframe_check(v, in.n);
        break;
    case 1:
        details_check(v, in.n);
        break;
    default:
        json_check(v, in.n);
        break;
    }
    free(v);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    grpc_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    grpc_run(data, size);
    return 0;
}
#endif
