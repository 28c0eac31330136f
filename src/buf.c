/* A growing byte buffer with JSON string escaping. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool reserve(otel__buf *b, size_t more)
{
    size_t cap;
    char *nb;

    if (b->oom) {
        return false;
    }
    if (b->len + more <= b->cap) {
        return true;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        cap *= 2;
    }
    nb = realloc(b->buf, cap);
    if (!nb) {
        b->oom = true;
        return false;
    }
    b->buf = nb;
    b->cap = cap;
    return true;
}

void otel__buf_put(otel__buf *b, const char *s, size_t n)
{
    if (n && reserve(b, n)) {
        memcpy(b->buf + b->len, s, n);
        b->len += n;
    }
}

void otel__buf_puts(otel__buf *b, const char *s)
{
    otel__buf_put(b, s, strlen(s));
}

void otel__buf_printf(otel__buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n + 1)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void otel__buf_json_str(otel__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    char esc[6];
    unsigned char c;

    otel__buf_put(b, "\"", 1);
    for (i = 0; i < n; i++) {
        c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        otel__buf_put(b, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':  otel__buf_put(b, "\\\"", 2); break;
        case '\\': otel__buf_put(b, "\\\\", 2); break;
        case '\n': otel__buf_put(b, "\\n", 2); break;
        case '\r': otel__buf_put(b, "\\r", 2); break;
        case '\t': otel__buf_put(b, "\\t", 2); break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            otel__buf_put(b, esc, 6);
        }
    }
    otel__buf_put(b, s + run, n - run);
    otel__buf_put(b, "\"", 1);
}

/* proto3 JSON: NaN and the infinities as strings. */
void otel__buf_json_double(otel__buf *b, double d)
{
    if (isnan(d)) {
        otel__buf_puts(b, "\"NaN\"");
    } else if (isinf(d)) {
        otel__buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
        otel__buf_printf(b, "%.17g", d);
    }
}

void otel__buf_free(otel__buf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
