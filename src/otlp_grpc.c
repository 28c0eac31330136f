/*
 * What OTLP/gRPC adds to an HTTP/2 POST: the length-prefixed message, the
 * grpc-timeout header, and the reading of grpc-status, with the retry
 * delay a server may give in grpc-status-details-bin (a google.rpc.Status
 * holding a google.rpc.RetryInfo).  No gRPC library: the wire format is
 * small enough to write here.
 */
#include <stdio.h>
#include <string.h>

#include "otlp.h"

void otel__grpc_frame(uint8_t prefix[5], bool compressed, size_t len)
{
    prefix[0] = compressed ? 1 : 0;
    prefix[1] = (uint8_t)(len >> 24);
    prefix[2] = (uint8_t)(len >> 16);
    prefix[3] = (uint8_t)(len >> 8);
    prefix[4] = (uint8_t)len;
}

int otel__grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg,
                       size_t *mlen)
{
    size_t n;

    if (len == 0) {
        *msg = buf;
        *mlen = 0;
        return 0;       /* no message: an empty response */
    }
    if (len < 5) {
        return -1;
    }
    n = (size_t)buf[1] << 24 | (size_t)buf[2] << 16 | (size_t)buf[3] << 8
        | buf[4];
    if (n != len - 5 || buf[0] > 1) {
        return -1;
    }
    *msg = buf + 5;
    *mlen = n;
    return buf[0];
}

void otel__grpc_timeout(char *buf, size_t cap, int64_t ms)
{
    /* At most 8 digits; in seconds beyond that. */
    if (ms < 100000000) {
        snprintf(buf, cap, "grpc-timeout: %lldm", (long long)ms);
    } else {
        snprintf(buf, cap, "grpc-timeout: %lldS",
                 (long long)(ms / 1000 < 100000000 ? ms / 1000 : 99999999));
    }
}

/* The OTLP specification's retryable codes; RESOURCE_EXHAUSTED only when
 * the server says when to retry. */
bool otel__grpc_retryable(int code, bool has_retry_info)
{
    switch (code) {
    case OTEL__GRPC_CANCELLED:
    case OTEL__GRPC_DEADLINE_EXCEEDED:
    case OTEL__GRPC_ABORTED:
    case OTEL__GRPC_OUT_OF_RANGE:
    case OTEL__GRPC_UNAVAILABLE:
    case OTEL__GRPC_DATA_LOSS:
        return true;
    case OTEL__GRPC_RESOURCE_EXHAUSTED:
        return has_retry_info;
    default:
        return false;
    }
}

const char *otel__grpc_code_name(int code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
    };

    return code >= 0 && (size_t)code < sizeof(names) / sizeof(names[0])
           ? names[code] : "?";
}

/* ---- grpc-status-details-bin ----------------------------------------------*/

/* Base64 (either alphabet, padding optional) into out; returns the
 * length, or -1 for a character outside it. */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    size_t i, o = 0;
    int bits = 0, v;
    char c;

    for (i = 0; i < n; i++) {
        c = s[i];
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else if (c == '=') {
            break;
        } else {
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap) {
                return -1;
            }
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

typedef struct {
    const uint8_t *p, *end;
} pb_reader;

static bool pb_varint(pb_reader *r, uint64_t *v)
{
    int shift = 0;

    *v = 0;
    while (r->p < r->end && shift < 64) {
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            return true;
        }
        shift += 7;
    }
    return false;
}

/* Next field: its number and wire type; for a length-delimited one, its
 * bytes in *sub; other values are read into *v (fixed ones skipped). */
static bool pb_next(pb_reader *r, uint32_t *field, pb_reader *sub,
                    uint64_t *v)
{
    uint64_t tag, len;

    if (r->p >= r->end || !pb_varint(r, &tag)) {
        return false;
    }
    *field = (uint32_t)(tag >> 3);
    *v = 0;
    sub->p = sub->end = NULL;
    switch (tag & 7) {
    case 0:
        return pb_varint(r, v);
    case 1:
    case 5:
        len = (tag & 7) == 1 ? 8 : 4;
        break;
    case 2:
        if (!pb_varint(r, &len)) {
            return false;
        }
        break;
    default:
        return false;
    }
    if (len > (uint64_t)(r->end - r->p)) {
        return false;
    }
    if ((tag & 7) == 2) {
        sub->p = r->p;
        sub->end = r->p + len;
    }
    r->p += len;
    return true;
}

#define RETRY_INFO_TYPE "type.googleapis.com/google.rpc.RetryInfo"

/* RetryInfo { Duration retry_delay = 1 }, Duration { int64 seconds = 1;
 * int32 nanos = 2 } */
static int64_t retry_info_ms(pb_reader r)
{
    pb_reader d, x;
    uint32_t f;
    uint64_t v;
    int64_t secs = 0, nanos = 0;

    while (pb_next(&r, &f, &d, &v)) {
        if (f != 1 || !d.p) {
            continue;
        }
        while (pb_next(&d, &f, &x, &v)) {
            if (f == 1) {
                secs = (int64_t)v;
            } else if (f == 2) {
                nanos = (int32_t)v;
            }
        }
        if (secs < 0 || nanos < 0 || secs > 86400) {
            return 0;
        }
        return secs * 1000 + nanos / 1000000;
    }
    return 0;
}

int64_t otel__grpc_retry_delay_ms(const char *b64, size_t n)
{
    uint8_t buf[1024];
    pb_reader r, any, sub, type, value;
    uint32_t f, af;
    uint64_t v;
    long len = b64_decode(b64, n, buf, sizeof(buf));

    if (len < 0) {
        return -1;
    }
    /* Status { int32 code = 1; string message = 2; repeated Any details
     * = 3 }, Any { string type_url = 1; bytes value = 2 } */
    r.p = buf;
    r.end = buf + len;
    while (pb_next(&r, &f, &any, &v)) {
        if (f != 3 || !any.p) {
            continue;
        }
        type.p = type.end = value.p = value.end = NULL;
        while (pb_next(&any, &af, &sub, &v)) {
            if (af == 1) {
                type = sub;
            } else if (af == 2) {
                value = sub;
            }
        }
        if (type.p && value.p
            && (size_t)(type.end - type.p) == sizeof(RETRY_INFO_TYPE) - 1
            && memcmp(type.p, RETRY_INFO_TYPE, sizeof(RETRY_INFO_TYPE) - 1)
               == 0) {
            return retry_info_ms(value);
        }
    }
    return -1;
}
