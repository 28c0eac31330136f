/*
 * OTLP/protobuf encoding of finished spans and decoding of the collector's
 * answer (otlp_encode.c), shared by the OTLP/HTTP exporter and the tests.
 */
#ifndef OTEL_OTLP_H
#define OTEL_OTLP_H

#include "internal.h"

/* Span.flags and Span.Link.flags bits above the W3C trace flags. */
#define OTEL__OTLP_FLAG_HAS_IS_REMOTE  0x100u
#define OTEL__OTLP_FLAG_IS_REMOTE      0x200u

/*
 * Appends one ExportTraceServiceRequest holding n finished spans of
 * provider p to out: one ResourceSpans (p's resource), one ScopeSpans per
 * scope in order of first appearance, spans in their given order.  The
 * spans are only read.  Returns OTEL_OK, or OTEL_ENOMEM with out->len
 * unchanged.  The caller owns out (otel__buf_free).
 */
int otel__otlp_encode(otel_provider *p, otel__span *const *spans, size_t n,
                      otel__buf *out);

/*
 * Reads an ExportTraceServiceResponse body (empty is valid: nothing
 * rejected).  Sets *rejected to partial_success.rejected_spans and copies
 * its error_message, NUL-terminated and cut to msgcap - 1 bytes, into msg
 * (msg may be NULL when msgcap is 0).  Returns OTEL_OK or OTEL_EINVAL for a
 * body that is not a valid response.
 */
int otel__otlp_decode_response(const uint8_t *buf, size_t len,
                               int64_t *rejected, char *msg, size_t msgcap);

#endif /* OTEL_OTLP_H */
