/*
 * OTLP for the exporter (exporter_otlp.c) and the tests: the protobuf
 * encoding of finished spans and the decoding of the collector's answer
 * (otlp_encode.c), the JSON encoding of the same records (otlp_json.c)
 * and the gRPC framing and status (otlp_grpc.c).
 */
#ifndef OTEL_OTLP_H
#define OTEL_OTLP_H

#include "internal.h"

/* Span.flags and Span.Link.flags bits above the W3C trace flags. */
#define OTEL__OTLP_FLAG_HAS_IS_REMOTE  0x100u
#define OTEL__OTLP_FLAG_IS_REMOTE      0x200u

/*
 * Appends one ExportTraceServiceRequest holding n finished spans of
 * one provider to out: one ResourceSpans (its resource, NULL for none),
 * one ScopeSpans per scope in order of first appearance, spans in their
 * given order.  The spans are only read.  Returns OTEL_OK, or OTEL_ENOMEM
 * with out->len unchanged.  The caller owns out (otel__buf_free).
 */
int otel__otlp_encode(const otel__attrs *resource, otel__span *const *spans,
                      size_t n, otel__buf *out);

/*
 * Orders the spans by scope, scopes in order of first appearance and spans
 * in their given order within one: a stable counting sort.  Fills order[n]
 * with span indexes and first[] with each group's start (first[ng] = n);
 * returns the number of groups.  scopes, gid and first hold n (n + 1)
 * entries.  Both encoders group this way.
 */
size_t otel__otlp_group(otel__span *const *spans, size_t n,
                        const otel__scope **scopes, uint32_t *gid,
                        uint32_t *first, uint32_t *order);

/*
 * Reads an ExportTraceServiceResponse body (empty is valid: nothing
 * rejected).  Sets *rejected to partial_success.rejected_spans and copies
 * its error_message, NUL-terminated and cut to msgcap - 1 bytes, into msg
 * (msg may be NULL when msgcap is 0).  Returns OTEL_OK or OTEL_EINVAL for a
 * body that is not a valid response.
 */
int otel__otlp_decode_response(const uint8_t *buf, size_t len,
                               int64_t *rejected, char *msg, size_t msgcap);

/*
 * The same request in the OTLP/JSON mapping (hex ids, enums as integers,
 * 64-bit integers as strings), appended to out.  Returns OTEL_OK or
 * OTEL_ENOMEM with out->len unchanged.
 */
int otel__otlp_json(const otel__attrs *resource, otel__span *const *spans,
                    size_t n, otel__buf *out);

/* partial_success.rejectedSpans of a JSON ExportTraceServiceResponse (0
 * when absent); OTEL_EINVAL for a body that is not a JSON object. */
int otel__otlp_json_response(const char *buf, size_t len,
                             int64_t *rejected);

/* ---- gRPC (otlp_grpc.c) ---------------------------------------------------*/
enum {
    OTEL__GRPC_OK = 0,
    OTEL__GRPC_CANCELLED = 1,
    OTEL__GRPC_DEADLINE_EXCEEDED = 4,
    OTEL__GRPC_RESOURCE_EXHAUSTED = 8,
    OTEL__GRPC_ABORTED = 10,
    OTEL__GRPC_OUT_OF_RANGE = 11,
    OTEL__GRPC_UNAVAILABLE = 14,
    OTEL__GRPC_DATA_LOSS = 15
};

#define OTEL__GRPC_PATH \
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/* The 5-byte prefix of a message of len bytes. */
void otel__grpc_frame(uint8_t prefix[5], bool compressed, size_t len);
/* The message of a response body: returns its compressed flag (0 or 1),
 * or -1 for a body that is not one framed message. */
int otel__grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg,
                       size_t *mlen);
/* The grpc-timeout header line for a deadline ms from now. */
void otel__grpc_timeout(char *buf, size_t cap, int64_t ms);
bool otel__grpc_retryable(int code, bool has_retry_info);
const char *otel__grpc_code_name(int code);
/* The RetryInfo delay in a grpc-status-details-bin value, or -1. */
int64_t otel__grpc_retry_delay_ms(const char *b64, size_t n);

#endif /* OTEL_OTLP_H */
