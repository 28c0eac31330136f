/*
 * Warnings for the user: configuration that the core could not take as
 * given ("OTEL_TRACES_SAMPLER=xray is not valid, using
 * parentbased_always_on instead").  C never calls into Lua, so the core
 * queues each message once per process and the binding prints the queue
 * (to nginx's error log under nginx, to stderr elsewhere) after the calls
 * that may warn: otel.setup() and the API calls that can misconfigure.
 * A host of its own drains the queue with otel_warning_next().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define WARN_PENDING 32     /* messages waiting for the binding */
#define WARN_LEN     384    /* longer ones are cut */
#define WARN_SEEN    256    /* distinct messages remembered */

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char     pending[WARN_PENDING][WARN_LEN];
static unsigned head, n_pending;
static uint64_t seen[WARN_SEEN];
static unsigned n_seen;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    }
    return h;
}

/* True the first time the message is seen (locked).  Past WARN_SEEN
 * distinct messages nothing more is said: a program that warns without
 * end must not fill the log. */
static bool first_time(const char *msg)
{
    uint64_t h = fnv1a(msg);
    unsigned i;

    for (i = 0; i < n_seen; i++) {
        if (seen[i] == h) {
            return false;
        }
    }
    if (n_seen == WARN_SEEN) {
        return false;
    }
    seen[n_seen++] = h;
    return true;
}

void otel__warn(const char *fmt, ...)
{
    char msg[WARN_LEN];
    va_list ap;
    bool last;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&warn_lock);
    last = n_seen == WARN_SEEN - 1;
    if (last) {
        snprintf(msg, sizeof(msg), "more than %d distinct warnings: no "
                 "more are shown", WARN_SEEN - 1);
    }
    if (first_time(msg)) {
        if (n_pending == WARN_PENDING && last) {
            n_pending--;        /* the last word takes the newest's place */
        }
        if (n_pending < WARN_PENDING) {
            memcpy(pending[(head + n_pending) % WARN_PENDING], msg,
                   sizeof(msg));
            n_pending++;
        }
    }
    pthread_mutex_unlock(&warn_lock);
}

void otel__warn_config(const char *what, const char *value,
                       const char *instead)
{
    otel__warn("%s=%s is not valid, using %s instead", what, value,
               instead);
}

void otel__warn_now(const char *fmt, ...)
{
    char line[WARN_LEN];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "otel: warning: ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (int)strlen(line);
    line[n++] = '\n';
    /* One write: lines from several threads do not interleave. */
    if (fwrite(line, 1, (size_t)n, stderr) == (size_t)n) {
        fflush(stderr);
    }
}

OTEL_API void otel_warning_push(const char *msg, size_t len)
{
    if (msg) {
        otel__warn("%.*s", (int)(len < WARN_LEN ? len : WARN_LEN), msg);
    }
}

OTEL_API size_t otel_warning_next(char *buf, size_t cap)
{
    size_t n = 0;

    pthread_mutex_lock(&warn_lock);
    if (n_pending) {
        n = strlen(pending[head]);
        if (cap) {
            memcpy(buf, pending[head], n < cap ? n : cap - 1);
            buf[n < cap ? n : cap - 1] = '\0';
        }
        head = (head + 1) % WARN_PENDING;
        n_pending--;
    }
    pthread_mutex_unlock(&warn_lock);
    return n;
}
