/* Minimal TAP output for the C tests: t/run.sh counts the lines. */
#ifndef OTEL_TAP_H
#define OTEL_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static void tap_check(int ok, const char *file, int line, const char *fmt,
                      ...)
{
    va_list ap;

    tap_n++;
    if (!ok) {
        tap_failed++;
    }
    printf("%s %d - ", ok ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok) {
        printf("  # at %s:%d", file, line);
    }
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
