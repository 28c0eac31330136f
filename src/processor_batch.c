/*
 * The batch span processor: a bounded FIFO of ended records and one
 * worker thread per processor that hands batches to the exporter.
 *
 * on_end() runs on the request path: it takes the lock for a few stores,
 * never waits for the exporter, and wakes the worker only when a full
 * batch is waiting and the worker sleeps (one wake per batch, not one per
 * span).  Otherwise the worker wakes on its own when schedule_delay_ms
 * passes.  The worker starts with the first span, not at setup, so that a
 * process that forks after setup still gets one; a fork handler gives a
 * child a clean processor (see on_fork_child()).
 *
 * Accounting: a span is counted queued from on_end() until the worker
 * takes it, then settled by otel__export_batch() (exported, rejected or
 * failed); drops (queue full, after shutdown, left at the shutdown
 * deadline) are counted here.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define QUEUE_MAX (1 << 24)     /* spans; a ring of 128 MB of pointers */

typedef struct batch_processor batch_processor;

struct batch_processor {
    otel__processor  base;
    otel__exporter  *exporter;
    size_t           max_queue, max_batch;
    int64_t          delay_ms;

    pthread_mutex_t  lock;
    pthread_cond_t   work;          /* the worker waits here */
    pthread_cond_t   done;          /* flush and shutdown wait here */

    /* queue: a ring of max_queue pointers, so that taking a batch under
     * the lock copies pointers instead of walking records that the
     * producers' cores wrote last */
    otel__span     **ring;
    size_t           rhead, count;
    uint64_t         enqueued;      /* spans ever queued */
    uint64_t         settled;       /* spans taken and exported (tried) */
    uint64_t         flush_to;      /* export at once while taken < this */
    uint64_t         lost;          /* spans settled but not exported */

    /* Records a child inherited from its parent's queue: the parent
     * exports them, the child drops them (once it runs threads again). */
    otel__span      *orphans;
    size_t           n_orphans;

    pthread_t        thread;
    bool             started;       /* a worker runs in this process */
    bool             exited;        /* it left its loop */
    bool             joined;
    bool             idle;          /* it sleeps until the timer */
    bool             kicked;        /* and was signalled already */
    bool             closing;       /* shutdown: on_end drops */
    bool             stop;          /* worker: drain the queue, exit */
    bool             abort;         /* worker: exit after this export */

    otel__span     **batch;         /* the worker's batch, max_batch */
    batch_processor *reg_next, **reg_prev;
};

/* ---- time ----------------------------------------------------------------*/

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Absolute deadline of a timeout (< 0: none, INT64_MAX). */
static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
}

/* When the worker exports next on its own: delay_ms from now, saturated.
 * A delay of 0 means "as soon as something is queued": no timer, on_end()
 * wakes the worker instead. */
static int64_t next_export(const batch_processor *p, int64_t now)
{
    if (p->delay_ms == 0 || p->delay_ms >= INT64_MAX - now) {
        return INT64_MAX;
    }
    return now + p->delay_ms;
}

/* Waits on cond until the monotonic deadline; false once it passed. */
static bool wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                       int64_t deadline)
{
    struct timespec ts;

    if (deadline == INT64_MAX) {
        pthread_cond_wait(cond, lock);
        return true;
    }
    if (mono_ms() >= deadline) {
        return false;
    }
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000;
    pthread_cond_timedwait(cond, lock, &ts);
    return true;
}

static void init_conds(batch_processor *p)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work, &ca);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);
}

/* ---- fork ----------------------------------------------------------------*/

/* Every processor, so that fork handlers can hold their locks across
 * fork(): a child must not inherit a lock held by a thread it lacks. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
/* Empties the ring into a list linked through span->next, in queue order
 * (for what shutdown drops and what a forked child inherits). */
static otel__span *ring_to_list(batch_processor *p, otel__span **last)
{
    otel__span *head = NULL, *tail = NULL, *s;
    size_t i, at = p->rhead;

    for (i = 0; i < p->count; i++) {
        s = p->ring[at];
        s->next = NULL;
        if (tail) {
            tail->next = s;
        } else {
            head = s;
        }
        tail = s;
        if (++at == p->max_queue) {
            at = 0;
        }
    }
    p->rhead = p->count = 0;
    if (last) {
        *last = tail;
    }
    return head;
}

static batch_processor *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void on_fork_prepare(void)
{
    batch_processor *p;

    pthread_mutex_lock(&reg_lock);
    for (p = reg_head; p; p = p->reg_next) {
        pthread_mutex_lock(&p->lock);
    }
}

static void on_fork_parent(void)
{
    batch_processor *p;

    for (p = reg_head; p; p = p->reg_next) {
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&reg_lock);
}

/*
 * The child has no worker thread.  Its copy of the queue belongs to the
 * parent, which exports it: the child parks the records and drops them
 * when it next starts a worker, so nothing is sent twice.  A batch the
 * parent's worker was exporting at fork time is simply not the child's.
 * Only stores here: a fork handler must not take other locks.
 */
static void on_fork_child(void)
{
    batch_processor *p;
    otel__span *list, *last;
    size_t n;

    for (p = reg_head; p; p = p->reg_next) {
        n = p->count;
        list = ring_to_list(p, &last);
        if (list) {
            last->next = p->orphans;
            p->orphans = list;
            p->n_orphans += n;
        }
        p->enqueued = p->settled = p->flush_to = p->lost = 0;
        p->started = p->exited = p->idle = p->kicked = false;
        p->joined = true;
        /* No thread waits on these in the child, whatever they say. */
        init_conds(p);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&reg_lock);
}

static void reg_init(void)
{
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

/* ---- the worker -----------------------------------------------------------*/

/* Takes up to max_batch spans off the queue into p->batch (locked). */
static size_t take_batch(batch_processor *p)
{
    size_t k = p->count < p->max_batch ? p->count : p->max_batch;
    size_t first = p->max_queue - p->rhead;

    if (first > k) {
        first = k;
    }
    memcpy(p->batch, p->ring + p->rhead, first * sizeof(*p->batch));
    memcpy(p->batch + first, p->ring, (k - first) * sizeof(*p->batch));
    p->rhead += k;
    if (p->rhead >= p->max_queue) {
        p->rhead -= p->max_queue;
    }
    p->count -= k;
    otel__stat_sub(OTEL_STAT_SPANS_QUEUED, k);
    return k;
}

/* Releases a detached list of records, counted as dropped at shutdown. */
static void drop_list(otel__span *s, size_t n)
{
    otel__span *next;

    if (!n) {
        return;
    }
    otel__stat_add(OTEL_STAT_SPANS_DROPPED_SHUTDOWN, n);
    for (; s; s = next) {
        next = s->next;
        otel__span_release(s);
    }
}

static void *worker_main(void *arg)
{
    batch_processor *p = arg;
    otel__span *orphans;
    size_t k, n_orphans, lost;
    int64_t next, now;

    pthread_mutex_lock(&p->lock);
    orphans = p->orphans;
    n_orphans = p->n_orphans;
    p->orphans = NULL;
    p->n_orphans = 0;
    if (n_orphans) {
        pthread_mutex_unlock(&p->lock);
        otel__stat_sub(OTEL_STAT_SPANS_QUEUED, n_orphans);
        drop_list(orphans, n_orphans);
        pthread_mutex_lock(&p->lock);
    }
    next = next_export(p, mono_ms());
    for (;;) {
        for (;;) {
            if (p->abort) {
                goto out;
            }
            if (p->count >= p->max_batch
                || (p->count && (p->stop || p->delay_ms == 0
                                 || p->enqueued - p->count < p->flush_to))) {
                break;
            }
            if (p->stop) {
                goto out;   /* drained */
            }
            now = mono_ms();
            if (now >= next) {
                if (p->count) {
                    break;
                }
                next = next_export(p, now);
            }
            p->idle = true;
            p->kicked = false;
            wait_until(&p->work, &p->lock, next);
            p->idle = false;
        }
        k = take_batch(p);
        pthread_mutex_unlock(&p->lock);

        lost = otel__export_batch(p->exporter, p->batch, k);

        pthread_mutex_lock(&p->lock);
        p->settled += k;
        p->lost += lost;
        pthread_cond_broadcast(&p->done);
        next = next_export(p, mono_ms());
    }
out:
    p->exited = true;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts the worker (locked).  Host signals stay on the host's threads:
 * nginx, for one, expects its handlers to run on its own thread. */
static bool ensure_worker(batch_processor *p)
{
    sigset_t all, old;
    int rc;

    if (p->started) {
        return true;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->thread, NULL, worker_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        return false;   /* spans stay queued; the next span tries again */
    }
#ifdef __GLIBC__
    pthread_setname_np(p->thread, "otel-export");
#endif
    p->started = true;
    p->exited = false;
    p->joined = false;
    p->idle = false;
    return true;
}

/* ---- the processor --------------------------------------------------------*/

static void batch_on_end(otel__processor *proc, otel__span *s)
{
    batch_processor *p = (batch_processor *)proc;
    int drop = 0;

    size_t at;

    pthread_mutex_lock(&p->lock);
    if (OTEL__UNLIKELY(p->closing)) {
        drop = OTEL_STAT_SPANS_DROPPED_SHUTDOWN;
    } else if (OTEL__UNLIKELY(p->count >= p->max_queue)) {
        drop = OTEL_STAT_SPANS_DROPPED_QUEUE_FULL;
    } else {
        at = p->rhead + p->count;
        if (at >= p->max_queue) {
            at -= p->max_queue;
        }
        p->ring[at] = s;
        p->count++;
        p->enqueued++;
        /* Inside the lock, so the worker's subtraction comes after. */
        otel__stat_add(OTEL_STAT_SPANS_QUEUED, 1);
        if (OTEL__UNLIKELY(!p->started)) {
            ensure_worker(p);
        } else if ((p->count >= p->max_batch || p->delay_ms == 0)
                   && p->idle && !p->kicked) {
            p->kicked = true;
            pthread_cond_signal(&p->work);
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (drop) {
        otel__stat_add(drop, 1);
        otel__span_release(s);
    }
}

/* Exports every span queued at the time of the call (< 0: no timeout).
 * OTEL_OK only when every export it waited for delivered all its spans;
 * a batch that failed or was partly rejected is OTEL_EEXPORT. */
static int batch_force_flush(otel__processor *proc, int timeout_ms)
{
    batch_processor *p = (batch_processor *)proc;
    int64_t deadline = deadline_of(timeout_ms);
    uint64_t target, lost;
    int rc = OTEL_OK;

    pthread_mutex_lock(&p->lock);
    target = p->enqueued;
    lost = p->lost;
    if (p->settled < target) {
        if (!ensure_worker(p)) {
            rc = OTEL_ESTATE;
            goto out;
        }
        if (p->flush_to < target) {
            p->flush_to = target;
        }
        pthread_cond_signal(&p->work);
        while (p->settled < target && !p->exited
               && wait_until(&p->done, &p->lock, deadline)) {
        }
        if (p->settled < target) {
            rc = OTEL_ETIMEDOUT;
        } else if (p->lost != lost) {
            rc = OTEL_EEXPORT;
        }
    }
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Joins an exited worker (locked; drops the lock meanwhile). */
static void join_exited(batch_processor *p)
{
    if (p->started && p->exited && !p->joined) {
        p->joined = true;
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_mutex_lock(&p->lock);
    }
}

/*
 * Stops accepting spans and exports what is queued within the timeout
 * (< 0: none).  At the deadline the exporter is shut down, which aborts a
 * request under way, and what is still queued is dropped and counted.  A
 * worker that has not returned from its exporter by then is left to
 * finish; destroy() joins it.
 */
static int batch_shutdown(otel__processor *proc, int timeout_ms)
{
    batch_processor *p = (batch_processor *)proc;
    int64_t deadline = deadline_of(timeout_ms);
    otel__span *left = NULL;
    size_t n_left = 0;
    int rc = OTEL_OK;

    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        pthread_mutex_unlock(&p->lock);
        return OTEL_ESTATE;
    }
    p->closing = true;
    p->stop = true;
    if (p->count) {
        ensure_worker(p);
    }
    if (p->started) {
        pthread_cond_signal(&p->work);
        while (!p->exited && wait_until(&p->done, &p->lock, deadline)) {
        }
    }
    if (p->count || (p->started && !p->exited)) {
        rc = OTEL_ETIMEDOUT;
        p->abort = true;
        pthread_cond_signal(&p->work);
        n_left = p->count;
        left = ring_to_list(p, NULL);
        otel__stat_sub(OTEL_STAT_SPANS_QUEUED, n_left);
    }
    join_exited(p);
    pthread_mutex_unlock(&p->lock);
    if (rc != OTEL_OK && p->exporter->shutdown) {
        p->exporter->shutdown(p->exporter);
    }
    drop_list(left, n_left);
    return rc;
}

static void batch_destroy(otel__processor *proc)
{
    batch_processor *p = (batch_processor *)proc;
    otel__span *left, *orphans;
    size_t n_left, n_orphans;

    if (!p) {
        return;
    }
    pthread_mutex_lock(&reg_lock);
    if (p->reg_prev) {
        *p->reg_prev = p->reg_next;
        if (p->reg_next) {
            p->reg_next->reg_prev = p->reg_prev;
        }
    }
    pthread_mutex_unlock(&reg_lock);

    pthread_mutex_lock(&p->lock);
    p->closing = p->stop = p->abort = true;
    pthread_cond_signal(&p->work);
    if (p->started && !p->joined) {
        /* Waits for an exporter that outlived shutdown's deadline. */
        p->joined = true;
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_mutex_lock(&p->lock);
    }
    n_left = p->count;
    left = ring_to_list(p, NULL);
    orphans = p->orphans;
    n_orphans = p->n_orphans;
    p->orphans = NULL;
    p->n_orphans = 0;
    pthread_mutex_unlock(&p->lock);

    otel__stat_sub(OTEL_STAT_SPANS_QUEUED, n_left + n_orphans);
    drop_list(left, n_left);
    drop_list(orphans, n_orphans);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->batch);
    free(p->ring);
    free(p);
}

otel__processor *otel__processor_batch_new(otel__exporter *e,
                                           const otel_config *cfg,
                                           int *status)
{
    batch_processor *p;

    if (!e || !cfg) {
        if (status) {
            *status = OTEL_EINVAL;
        }
        return NULL;
    }
    pthread_once(&reg_once, reg_init);
    p = calloc(1, sizeof(*p));
    if (!p) {
        goto oom;
    }
    p->exporter = e;
    p->max_queue = cfg->bsp_max_queue > 0 ? (size_t)cfg->bsp_max_queue : 1;
    if (p->max_queue > QUEUE_MAX) {
        /* the ring is allocated whole: a size past this is a mistake */
        otel__warn("max_queue_size (OTEL_BSP_MAX_QUEUE_SIZE)=%lld is more "
                   "than lua-otel queues, using %d instead",
                   (long long)cfg->bsp_max_queue, QUEUE_MAX);
        p->max_queue = QUEUE_MAX;
    }
    p->max_batch = cfg->bsp_max_batch > 0 ? (size_t)cfg->bsp_max_batch : 1;
    if (p->max_batch > p->max_queue) {
        p->max_batch = p->max_queue;
    }
    p->delay_ms = cfg->bsp_delay_ms >= 0 ? cfg->bsp_delay_ms : 0;
    p->batch = malloc(sizeof(*p->batch) * p->max_batch);
    p->ring = malloc(sizeof(*p->ring) * p->max_queue);
    if (!p->batch || !p->ring) {
        free(p->batch);
        free(p->ring);
        free(p);
        goto oom;
    }
    p->joined = true;
    pthread_mutex_init(&p->lock, NULL);
    init_conds(p);
    p->base.on_end = batch_on_end;
    p->base.force_flush = batch_force_flush;
    p->base.shutdown = batch_shutdown;
    p->base.destroy = batch_destroy;

    pthread_mutex_lock(&reg_lock);
    p->reg_next = reg_head;
    if (reg_head) {
        reg_head->reg_prev = &p->reg_next;
    }
    p->reg_prev = &reg_head;
    reg_head = p;
    pthread_mutex_unlock(&reg_lock);
    if (status) {
        *status = OTEL_OK;
    }
    return &p->base;

oom:
    if (status) {
        *status = OTEL_ENOMEM;
    }
    return NULL;
}
