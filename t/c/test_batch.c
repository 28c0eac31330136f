/*
 * The batch span processor under several producer threads and its worker,
 * with a counting exporter written here: exact drops when the queue is
 * full, force_flush, the schedule delay, shutdown's deadline with a slow
 * exporter, the accounting identity, and a fork after setup.  Meant to be
 * clean under -fsanitize=thread as well as address/undefined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "tap.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#define S(x) x, sizeof(x) - 1

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

/* ---- a counting exporter -------------------------------------------------*/

typedef struct {
    otel__exporter  base;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    uint64_t        spans, calls;
    size_t          max_seen;
    int             in_export;      /* spans of the export under way */
    bool            gate_closed;    /* export waits until opened */
    bool            stop;           /* shutdown() was called */
    bool            honour_stop;    /* a slow export ends at shutdown */
    int             delay_ms;       /* each export takes this long */
    int             fail_every, reject_every, reject_n;
} test_exporter;

static int test_export(otel__exporter *e, otel__span *const *spans, size_t n)
{
    test_exporter *x = (test_exporter *)e;
    int64_t until;
    uint64_t call;
    int rc = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        /* Touch the records: TSan sees any race with the producers. */
        if (spans[i]->state != OTEL__SPAN_ENDED || spans[i]->end_ns == 0) {
            rc = OTEL_EINVAL;
        }
    }
    pthread_mutex_lock(&x->lock);
    call = ++x->calls;
    x->in_export = (int)n;
    pthread_cond_broadcast(&x->cond);
    while (x->gate_closed) {
        pthread_cond_wait(&x->cond, &x->lock);
    }
    until = mono_ms() + x->delay_ms;
    while (mono_ms() < until && !(x->honour_stop && x->stop)) {
        pthread_mutex_unlock(&x->lock);
        sleep_ms(5);
        pthread_mutex_lock(&x->lock);
    }
    if (x->honour_stop && x->stop) {
        rc = OTEL_ESTATE;
    } else if (rc == 0 && x->fail_every && call % x->fail_every == 0) {
        rc = OTEL_EEXPORT;
    } else if (rc == 0 && x->reject_every && call % x->reject_every == 0) {
        rc = x->reject_n;
    }
    if (rc >= 0) {
        x->spans += n;
    }
    if (n > x->max_seen) {
        x->max_seen = n;
    }
    x->in_export = 0;
    pthread_mutex_unlock(&x->lock);
    return rc;
}

static void test_shutdown(otel__exporter *e)
{
    test_exporter *x = (test_exporter *)e;

    pthread_mutex_lock(&x->lock);
    x->stop = true;
    pthread_mutex_unlock(&x->lock);
}

static void test_exporter_init(test_exporter *x)
{
    memset(x, 0, sizeof(*x));
    x->base.export_spans = test_export;
    x->base.shutdown = test_shutdown;
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->cond, NULL);
}

static void test_exporter_fini(test_exporter *x)
{
    pthread_cond_destroy(&x->cond);
    pthread_mutex_destroy(&x->lock);
}

static uint64_t exported_by(test_exporter *x)
{
    uint64_t n;

    pthread_mutex_lock(&x->lock);
    n = x->spans;
    pthread_mutex_unlock(&x->lock);
    return n;
}

static void set_gate(test_exporter *x, bool closed)
{
    pthread_mutex_lock(&x->lock);
    x->gate_closed = closed;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
}

/* Waits until an export of n spans is under way (blocked at the gate). */
static bool wait_in_export(test_exporter *x, int n, int timeout_ms)
{
    int64_t until = mono_ms() + timeout_ms;
    bool ok;

    pthread_mutex_lock(&x->lock);
    while (x->in_export != n && mono_ms() < until) {
        pthread_mutex_unlock(&x->lock);
        sleep_ms(1);
        pthread_mutex_lock(&x->lock);
    }
    ok = x->in_export == n;
    pthread_mutex_unlock(&x->lock);
    return ok;
}

/* ---- stats --------------------------------------------------------------*/

typedef struct {
    uint64_t v[OTEL_STAT__COUNT];
} snap;

static void take(snap *s)
{
    int i;

    for (i = 0; i < OTEL_STAT__COUNT; i++) {
        s->v[i] = otel_stats_get(i);
    }
}

static int64_t delta(const snap *a, const snap *b, int i)
{
    return (int64_t)(b->v[i] - a->v[i]);
}

/* ended = exported + dropped (every reason) + queued, over a scenario. */
static void check_identity(const snap *a, const snap *b, const char *what)
{
    int64_t ended = delta(a, b, OTEL_STAT_SPANS_ENDED);
    int64_t sum = delta(a, b, OTEL_STAT_SPANS_EXPORTED)
                  + delta(a, b, OTEL_STAT_SPANS_DROPPED_QUEUE_FULL)
                  + delta(a, b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED)
                  + delta(a, b, OTEL_STAT_SPANS_DROPPED_REJECTED)
                  + delta(a, b, OTEL_STAT_SPANS_DROPPED_SHUTDOWN)
                  + delta(a, b, OTEL_STAT_SPANS_QUEUED);

    CHECK(ended == sum, "%s: identity: ended %lld = exported %lld + "
          "queue_full %lld + export_failed %lld + rejected %lld + "
          "shutdown %lld + queued %lld", what, (long long)ended,
          (long long)delta(a, b, OTEL_STAT_SPANS_EXPORTED),
          (long long)delta(a, b, OTEL_STAT_SPANS_DROPPED_QUEUE_FULL),
          (long long)delta(a, b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED),
          (long long)delta(a, b, OTEL_STAT_SPANS_DROPPED_REJECTED),
          (long long)delta(a, b, OTEL_STAT_SPANS_DROPPED_SHUTDOWN),
          (long long)delta(a, b, OTEL_STAT_SPANS_QUEUED));
}

/* ---- provider and producers -----------------------------------------------*/

static otel_provider *prov;
static otel_tracer *tracer;
static otel__processor *orig_processor;

static otel__processor *install(test_exporter *x, int64_t queue,
                                int64_t batch, int64_t delay_ms)
{
    otel_config *cfg = otel_config_new();
    otel__processor *bp;
    int rc;

    otel_config_set_int(cfg, OTEL_CFG_BSP_MAX_QUEUE, queue);
    otel_config_set_int(cfg, OTEL_CFG_BSP_MAX_BATCH, batch);
    otel_config_set_int(cfg, OTEL_CFG_BSP_DELAY_MS, delay_ms);
    bp = otel__processor_batch_new(&x->base, cfg, &rc);
    otel_config_free(cfg);
    if (!bp) {
        printf("not ok - batch processor: %s\n", otel_strerror(rc));
        exit(1);
    }
    prov->processor = bp;
    return bp;
}

static void uninstall(otel__processor *bp)
{
    prov->processor = orig_processor;
    bp->destroy(bp);
}

static void end_spans(int n)
{
    otel_span_handle h;
    int i;

    for (i = 0; i < n; i++) {
        otel_span_start(tracer, NULL, S("work"), OTEL_KIND_INTERNAL, 0, &h);
        otel_attr_int(&h, OTEL_TARGET_SPAN, S("i"), i);
        otel_span_end(&h, 0);
    }
}

static void *producer(void *arg)
{
    end_spans((int)(intptr_t)arg);
    return NULL;
}

static void run_producers(int threads, int each)
{
    pthread_t t[16];
    int i;

    for (i = 0; i < threads; i++) {
        pthread_create(&t[i], NULL, producer, (void *)(intptr_t)each);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
    }
}

/* ---- scenarios ------------------------------------------------------------*/

static void queue_full(void)
{
    test_exporter x;
    otel__processor *bp;
    snap a, b;

    test_exporter_init(&x);
    take(&a);
    x.gate_closed = true;
    bp = install(&x, 100, 10, 3600000);
    end_spans(10);
    CHECK(wait_in_export(&x, 10, 5000), "queue full: a batch of 10 is "
          "being exported (the exporter is held)");
    run_producers(4, 100);
    take(&b);
    CHECK(delta(&a, &b, OTEL_STAT_SPANS_DROPPED_QUEUE_FULL) == 300,
          "queue full: 410 ended, 10 in export, 100 queued, exactly 300 "
          "dropped (%lld)",
          (long long)delta(&a, &b, OTEL_STAT_SPANS_DROPPED_QUEUE_FULL));
    CHECK(delta(&a, &b, OTEL_STAT_SPANS_QUEUED) == 100,
          "queue full: queued gauge 100 (%lld)",
          (long long)delta(&a, &b, OTEL_STAT_SPANS_QUEUED));
    set_gate(&x, false);
    CHECK(bp->force_flush(bp, 10000) == OTEL_OK, "queue full: flush");
    take(&b);
    CHECK(exported_by(&x) == 110 && x.max_seen <= 10,
          "queue full: 110 exported in batches of at most 10");
    check_identity(&a, &b, "queue full");
    uninstall(bp);
    test_exporter_fini(&x);
}

typedef struct {
    otel__processor *bp;
    test_exporter   *x;
    const snap      *base;
    int              flushes, bad, short_;
    _Atomic int     *done;
} flusher_arg;

/* Flushes while producers run: each flush must cover every span queued
 * or exported before it started.  Reading exported before queued can only
 * undercount (a span moves from queued to exported, never back). */
static void *flusher(void *arg)
{
    flusher_arg *f = arg;
    uint64_t exported, queued, need;

    while (!atomic_load(f->done)) {
        exported = otel_stats_get(OTEL_STAT_SPANS_EXPORTED)
                   - f->base->v[OTEL_STAT_SPANS_EXPORTED];
        queued = otel_stats_get(OTEL_STAT_SPANS_QUEUED)
                 - f->base->v[OTEL_STAT_SPANS_QUEUED];
        need = exported + queued;
        if (f->bp->force_flush(f->bp, 30000) != OTEL_OK) {
            f->bad++;
        } else if (exported_by(f->x) < need) {
            f->short_++;
        }
        f->flushes++;
        sleep_ms(2);
    }
    return NULL;
}

static void flush_all(void)
{
    test_exporter x;
    otel__processor *bp;
    pthread_t ft;
    _Atomic int done = 0;
    flusher_arg fa;
    uint64_t before;
    snap a, b;
    int64_t t0;

    test_exporter_init(&x);
    take(&a);
    bp = install(&x, 1000000, 512, 3600000);
    run_producers(4, 250);
    t0 = mono_ms();
    CHECK(bp->force_flush(bp, 10000) == OTEL_OK, "flush: returns OK");
    take(&b);
    CHECK(exported_by(&x) == 1000 && delta(&a, &b, OTEL_STAT_SPANS_QUEUED)
          == 0, "flush: all 1000 exported at once (delay is an hour), "
          "%lld ms", (long long)(mono_ms() - t0));
    CHECK(x.max_seen <= 512, "flush: batches of at most 512 (%zu)",
          x.max_seen);

    /* Flushing while 8 threads produce. */
    fa.bp = bp;
    fa.x = &x;
    fa.base = &a;
    fa.flushes = fa.bad = fa.short_ = 0;
    fa.done = &done;
    pthread_create(&ft, NULL, flusher, &fa);
    run_producers(8, 5000);
    atomic_store(&done, 1);
    pthread_join(ft, NULL);
    before = exported_by(&x);
    CHECK(bp->force_flush(bp, 10000) == OTEL_OK, "flush: after producers");
    take(&b);
    CHECK(fa.bad == 0 && fa.short_ == 0 && fa.flushes > 0,
          "flush: %d flushes under load, each OK and covering what was "
          "queued when it began", fa.flushes);
    CHECK(exported_by(&x) == 41000, "flush: 41000 exported (%llu, %llu "
          "before the last flush)", (unsigned long long)exported_by(&x),
          (unsigned long long)before);
    check_identity(&a, &b, "flush");
    uninstall(bp);
    test_exporter_fini(&x);
}

static void schedule_delay(void)
{
    test_exporter x;
    otel__processor *bp;
    int64_t t0, until;

    test_exporter_init(&x);
    bp = install(&x, 2048, 512, 50);
    t0 = mono_ms();
    end_spans(5);
    until = t0 + 5000;
    while (exported_by(&x) < 5 && mono_ms() < until) {
        sleep_ms(5);
    }
    CHECK(exported_by(&x) == 5, "delay: 5 spans exported by the timer "
          "without a flush (after %lld ms; delay 50 ms)",
          (long long)(mono_ms() - t0));
    uninstall(bp);
    test_exporter_fini(&x);
}

static void shutdown_deadline(bool honour)
{
    test_exporter x;
    otel__processor *bp;
    const char *what = honour ? "shutdown (exporter stops)"
                              : "shutdown (exporter ignores stop)";
    int64_t t0, took;
    snap a, b;
    int rc;

    test_exporter_init(&x);
    x.honour_stop = honour;
    x.delay_ms = honour ? 20000 : 400;
    take(&a);
    bp = install(&x, 1000, 10, 3600000);
    end_spans(100);
    CHECK(wait_in_export(&x, 10, 5000), "%s: a batch is under way", what);
    t0 = mono_ms();
    rc = bp->shutdown(bp, 200);
    took = mono_ms() - t0;
    CHECK(rc == OTEL_ETIMEDOUT, "%s: ETIMEDOUT (%s)", what,
          otel_strerror(rc));
    /* The exporter alone would need 10 x 20 s (or 10 x 400 ms). */
    CHECK(took < 2000, "%s: returned after %lld ms (deadline 200 ms)",
          what, (long long)took);
    CHECK(bp->shutdown(bp, 200) == OTEL_ESTATE, "%s: twice is ESTATE",
          what);
    end_spans(1);   /* after shutdown: dropped */
    uninstall(bp);  /* joins the worker */
    take(&b);
    /* An exporter that stops returns OTEL_ESTATE for its batch: those 10
     * spans are dropped by the shutdown too, not failed exports. */
    CHECK(delta(&a, &b, OTEL_STAT_SPANS_DROPPED_SHUTDOWN)
          == (honour ? 101 : 91),
          "%s: 90 queued + 1 late span%s dropped at shutdown (%lld)", what,
          honour ? " + the batch under way" : "",
          (long long)delta(&a, &b, OTEL_STAT_SPANS_DROPPED_SHUTDOWN));
    CHECK(delta(&a, &b, OTEL_STAT_SPANS_QUEUED) == 0, "%s: queue empty",
          what);
    check_identity(&a, &b, what);
    test_exporter_fini(&x);
}

/* force_flush is OTEL_OK only when every span it waited for was
 * exported: a failed or partly rejected export is OTEL_EEXPORT, and the
 * next flush of good exports is OTEL_OK again. */
static void flush_result(void)
{
    static const struct { int fail, reject; int want; const char *what; }
    cases[] = {
        { 0, 0, OTEL_OK,      "all exported: OK" },
        { 1, 0, OTEL_EEXPORT, "a failed export: EEXPORT" },
        { 0, 1, OTEL_EEXPORT, "a partial rejection: EEXPORT" },
        { 0, 0, OTEL_OK,      "all exported again: OK" },
    };
    test_exporter x;
    otel__processor *bp;
    size_t i;
    int rc;

    test_exporter_init(&x);
    bp = install(&x, 1000, 512, 3600000);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pthread_mutex_lock(&x.lock);
        x.fail_every = cases[i].fail;
        x.reject_every = cases[i].reject;
        x.reject_n = 1;
        pthread_mutex_unlock(&x.lock);
        end_spans(10);
        rc = bp->force_flush(bp, 10000);
        CHECK(rc == cases[i].want, "flush result: %s (%s)", cases[i].what,
              otel_strerror(rc));
    }
    uninstall(bp);
    test_exporter_fini(&x);
}

static void identity_under_load(void)
{
    test_exporter x;
    otel__processor *bp;
    snap a, b;
    int rc;

    test_exporter_init(&x);
    x.fail_every = 3;
    x.reject_every = 5;
    x.reject_n = 2;
    take(&a);
    bp = install(&x, 200, 32, 5);
    run_producers(8, 20000);
    /* whether a batch the flush waited for failed is up to timing; the
     * answer itself is checked in flush_result() */
    rc = bp->force_flush(bp, 30000);
    CHECK(rc == OTEL_OK || rc == OTEL_EEXPORT, "load: flush (%s)",
          otel_strerror(rc));
    take(&b);
    CHECK(delta(&a, &b, OTEL_STAT_SPANS_ENDED) == 160000,
          "load: 160000 spans ended");
    CHECK(delta(&a, &b, OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED) > 0
          && delta(&a, &b, OTEL_STAT_SPANS_DROPPED_REJECTED) > 0,
          "load: failures and rejections seen (queue full %lld)",
          (long long)delta(&a, &b, OTEL_STAT_SPANS_DROPPED_QUEUE_FULL));
    check_identity(&a, &b, "load");
    CHECK(bp->shutdown(bp, 10000) == OTEL_OK, "load: shutdown OK");
    uninstall(bp);
    take(&b);
    check_identity(&a, &b, "load, after shutdown");
    test_exporter_fini(&x);
}

#ifndef UNDER_TSAN
/* A child forked after the worker started gets its own worker; the
 * parent's queued spans are the parent's to export. */
static void after_fork(void)
{
    test_exporter x;
    otel__processor *bp;
    snap a, b;
    pid_t pid;
    int st = 0;

    test_exporter_init(&x);
    bp = install(&x, 2048, 512, 3600000);
    end_spans(7);   /* queued, the worker runs and waits */
    pid = fork();
    if (pid == 0) {
        take(&a);
        end_spans(20);
        if (bp->force_flush(bp, 10000) != OTEL_OK) {
            _exit(2);
        }
        take(&b);
        if (exported_by(&x) != 20) {
            _exit(3);
        }
        if (delta(&a, &b, OTEL_STAT_SPANS_DROPPED_SHUTDOWN) != 7
            || delta(&a, &b, OTEL_STAT_SPANS_QUEUED) != -7) {
            _exit(4);
        }
        uninstall(bp);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "fork: the child exports its 20 spans, drops the 7 inherited "
          "(status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    CHECK(bp->force_flush(bp, 10000) == OTEL_OK && exported_by(&x) == 7,
          "fork: the parent exports its 7");
    uninstall(bp);
    test_exporter_fini(&x);
}
#endif

int main(void)
{
    otel_config *cfg = otel_config_new();
    int rc;

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_NONE);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    otel_config_set_sampler(cfg, otel_sampler_always_on());
    prov = otel_provider_new(cfg, &rc);
    if (!prov) {
        printf("not ok - provider: %s\n", otel_strerror(rc));
        return 1;
    }
    orig_processor = prov->processor;
    tracer = otel_provider_tracer(prov, S("test.batch"), S("1"));

    queue_full();
    flush_all();
    flush_result();
    schedule_delay();
    shutdown_deadline(true);
    shutdown_deadline(false);
    identity_under_load();
#ifndef UNDER_TSAN
    after_fork();
#endif

    otel_provider_shutdown(prov, 1000);
    otel_provider_free(prov);
    return tap_done();
}
