/*
 * The pool of span records.  It never returns memory, so a stale handle
 * can always read a record's generation safely.  Records are taken by the
 * request path (span.c) and given back by whoever ends their life: the
 * span API, a processor or an exporter.  A leaf: it calls nobody.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define POOL_BLOCK 64
#define CACHE_MAX 64
#define CACHE_REFILL 32
/* The chunk a record keeps beyond its inline buffer for its next span: a
 * SERVER span with the HTTP attributes overflows the inline bytes. */
#define ARENA_KEEP 4096

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static otel__span *pool_free;
/* Every block stays listed, so records parked in the cache of a thread
 * that exited remain reachable. */
static otel__span **blocks;
static size_t n_blocks;

/* A child forked while another thread held the pool lock must not inherit
 * it locked. */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}

static void fork_release(void)
{
    pthread_mutex_unlock(&pool_lock);
}

static void install_atfork(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

/* A small per-thread cache keeps the pool lock off most starts. */
static OTEL__TLS otel__span *cache;
static OTEL__TLS unsigned cache_n;

static otel__span *pool_refill(void)
{
    otel__span *s, *blk, *head = NULL;
    unsigned i, n = 0;

    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&pool_lock);
    while (pool_free && n < CACHE_REFILL) {
        s = pool_free;
        pool_free = s->next;
        s->next = head;
        head = s;
        n++;
    }
    pthread_mutex_unlock(&pool_lock);
    if (!head) {
        otel__span **nb;
        blk = calloc(POOL_BLOCK, sizeof(*blk));
        if (!blk) {
            return NULL;
        }
        pthread_mutex_lock(&pool_lock);
        nb = realloc(blocks, sizeof(*nb) * (n_blocks + 1));
        if (nb) {
            blocks = nb;
            blocks[n_blocks++] = blk;
        }
        pthread_mutex_unlock(&pool_lock);
        if (!nb) {
            free(blk);
            return NULL;
        }
        for (i = 0; i < POOL_BLOCK; i++) {
            atomic_init(&blk[i].gen, 1);
            otel__arena_init(&blk[i].arena, blk[i].inline_buf,
                             sizeof(blk[i].inline_buf));
            blk[i].arena.keep = ARENA_KEEP;
            blk[i].next = head;
            head = &blk[i];
        }
        n = POOL_BLOCK;
    }
    cache = head;
    cache_n = n;
    return head;
}

otel__span *otel__span_alloc(void)
{
    otel__span *s = cache;

    if (OTEL__UNLIKELY(!s)) {
        s = pool_refill();
        if (!s) {
            return NULL;
        }
    }
    cache = s->next;
    cache_n--;
    return s;
}

/* Frees what a record holds beyond itself, before it goes back. */
static void scrub(otel__span *s)
{
    otel__arena_reset(&s->arena);   /* a chunk may stay as the spare */
    s->state = OTEL__SPAN_FREE;
}

void otel__span_release(otel__span *s)
{
    scrub(s);
    if (cache_n < CACHE_MAX) {
        s->next = cache;
        cache = s;
        cache_n++;
        return;
    }
    pthread_mutex_lock(&pool_lock);
    s->next = pool_free;
    pool_free = s;
    pthread_mutex_unlock(&pool_lock);
}

void otel__span_release_many(otel__span *const *spans, size_t n)
{
    otel__span *head = NULL, *tail = NULL, *s;
    size_t i;

    for (i = 0; i < n; i++) {
        s = spans[i];
        scrub(s);
        s->next = head;
        head = s;
        if (!tail) {
            tail = s;
        }
    }
    if (!head) {
        return;
    }
    pthread_mutex_lock(&pool_lock);
    tail->next = pool_free;
    pool_free = head;
    pthread_mutex_unlock(&pool_lock);
}

size_t otel__span_bytes(const otel__span *s)
{
    return sizeof(*s) + otel__arena_bytes(&s->arena);
}
