/*
 * The HTTP transport of the OTLP exporter (transport_curl.c): one libcurl
 * connection, kept open and reused, that POSTs a body and hands back the
 * status, the headers (trailers included) and the body of the answer.  It
 * knows nothing of OTLP; exporter_otlp.c gives the meaning.
 */
#ifndef OTEL_TRANSPORT_H
#define OTEL_TRANSPORT_H

#include "internal.h"

/* Answers larger than this are an error (the specification's 64 MiB is
 * for requests; an OTLP answer is a few bytes). */
#define OTEL__RESPONSE_MAX (4u << 20)

typedef struct otel__transport otel__transport;

/* A response header or trailer: name without the colon, value trimmed. */
typedef void (*otel__header_fn)(void *ud, const char *name, size_t nl,
                                const char *value, size_t vl);

typedef struct {
    const char      *url;
    bool             http2;         /* only HTTP/2: h2c with prior
                                     * knowledge, h2 by ALPN over TLS */
    const char      *ca_file;       /* PEM bundle to trust, or NULL */
    const char      *client_cert;   /* PEM, or NULL */
    const char      *client_key;    /* PEM, or NULL */
    otel__header_fn  on_header;
    void            *ud;
} otel__transport_opts;

/* What one attempt gave. */
enum {
    OTEL__T_ANSWERED,   /* a response: see status and body */
    OTEL__T_RETRY,      /* a transport error that may pass */
    OTEL__T_FAIL,       /* one that will not (TLS verification, ...) */
    OTEL__T_ABORTED     /* shutdown */
};

/* Copies the strings of o.  NULL when out of memory or libcurl failed. */
otel__transport *otel__transport_new(const otel__transport_opts *o);
/* Adds a request header ("Name: value"); OTEL_OK or OTEL_ENOMEM. */
int otel__transport_header(otel__transport *t, const char *name,
                           const char *value);
/* POSTs body with one more header line for this request only (or NULL);
 * sets *status to the HTTP status when answered.  Not reentrant. */
int otel__transport_send(otel__transport *t, const char *body, size_t len,
                         int64_t timeout_ms, const char *extra_header,
                         long *status);
/* The body of the last answer. */
const char *otel__transport_body(const otel__transport *t, size_t *len);
/* Why the last attempt failed, in words ("" after an answer). */
const char *otel__transport_error(const otel__transport *t);
/* Sleeps until the monotonic time until_ms; false when shut down. */
bool otel__transport_sleep(otel__transport *t, int64_t until_ms);
bool otel__transport_stopped(otel__transport *t);
/* Any thread, idempotent: aborts a request under way and every later
 * one, and wakes a sleep. */
void otel__transport_shutdown(otel__transport *t);
void otel__transport_free(otel__transport *t);

#endif /* OTEL_TRANSPORT_H */
