/*
 * Warnings about configuration the core did not take as given, one line
 * each on stderr ("lua-otel: OTEL_EXPORTER_OTLP_PROTOCOL=x is not valid,
 * using http/protobuf instead"); under nginx stderr is the error log.
 *
 * The shape of the project's warning channel (otel__warn and
 * otel__warn_config, the same names and text); the export thread's own
 * failure reports are not warnings of this kind and are written by
 * exporter_otlp.c as they happen.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void otel__warn(const char *fmt, ...)
{
    static const char tag[] = "lua-otel: ";
    char line[512];
    va_list ap;
    int n;

    memcpy(line, tag, sizeof(tag) - 1);
    va_start(ap, fmt);
    n = vsnprintf(line + sizeof(tag) - 1, sizeof(line) - sizeof(tag), fmt,
                  ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    n += (int)sizeof(tag) - 1;
    if ((size_t)n > sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;      /* cut */
    }
    line[n++] = '\n';
    /* One write: lines from several threads do not interleave. */
    if (write(2, line, (size_t)n) < 0) {
        return;     /* nowhere to tell */
    }
}

void otel__warn_config(const char *what, const char *value,
                       const char *instead)
{
    otel__warn("%s=%.64s is not valid, using %s instead", what, value,
               instead);
}
