/*
 * otel__otlp_decode_response(): the collector's ExportTraceServiceResponse,
 * bytes that come from the network.
 *
 * Input: one byte for the message capacity (0..255), then the body.
 *
 * Checks: the decoder reads only the body (an exact-size copy under ASan)
 * and writes only msgcap bytes; an empty body is OK with nothing
 * rejected; the result is OK exactly when protobuf-c's own unpacker
 * accepts the body, and then rejected is partial_success.rejected_spans
 * and the message its error_message cut to msgcap - 1 bytes, NUL
 * terminated; on EINVAL rejected is 0 and the message empty.
 */
#include "internal.h"
#include "otlp.h"
#include "trace.pb-c.h"
#include "fuzz.h"

#define RESP(x) opentelemetry__proto__trace__v1__export_trace_service_##x

static void response_init(void)
{
}

static void response_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    size_t cap = fz_u8(&in), want;
    Opentelemetry__Proto__Trace__V1__ExportTraceServiceResponse *r;
    const char *em;
    uint8_t *body;
    char *msg;
    int64_t rejected = -12345;
    int rc;

    body = calloc(1, in.n ? in.n : 1);
    if (in.n) {
        memcpy(body, in.p, in.n);
    }
    msg = malloc(cap + 1);
    memset(msg, 0xa5, cap + 1);
    rc = otel__otlp_decode_response(body, in.n, &rejected,
                                    cap ? msg : NULL, cap);
    FZ_CHECK((unsigned char)msg[cap] == 0xa5, "written past msgcap");
    r = in.n ? RESP(response__unpack)(NULL, in.n, body) : NULL;
    if (in.n == 0 || r) {
        FZ_CHECK(rc == OTEL_OK, "valid body: %d", rc);
        FZ_CHECK(rejected == (r && r->partial_success
                              ? r->partial_success->rejected_spans : 0),
                 "rejected %lld", (long long)rejected);
        em = r && r->partial_success && r->partial_success->error_message
             ? r->partial_success->error_message : "";
        if (cap) {
            want = strlen(em) < cap ? strlen(em) : cap - 1;
            FZ_CHECK(memchr(msg, 0, cap) && strlen(msg) == want
                     && memcmp(msg, em, want) == 0, "message %s",
                     fz_hex(msg, strnlen(msg, cap)));
        }
    } else {
        FZ_CHECK(rc == OTEL_EINVAL, "invalid body: %d", rc);
        FZ_CHECK(rejected == 0 && (!cap || msg[0] == '\0'),
                 "invalid body: results not cleared");
    }
    if (r) {
        RESP(response__free_unpacked)(r, NULL);
    }
    /* Also with no outputs at all. */
    FZ_CHECK(otel__otlp_decode_response(body, in.n, NULL, NULL, 0) == rc,
             "no outputs: another result");
    free(msg);
    free(body);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    response_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    response_run(data, size);
    return 0;
}
#endif
