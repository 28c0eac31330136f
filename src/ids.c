/*
 * Trace and span ids: xoshiro256** per thread, seeded from the kernel and
 * reseeded in a forked child, so nginx workers never share a sequence.
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

static _Atomic unsigned fork_epoch = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static OTEL__TLS uint64_t rng[4];
static OTEL__TLS unsigned rng_epoch;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_epoch, 1);
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void reseed(unsigned epoch)
{
    uint64_t seed[4] = { 0 }, x;
    struct timespec ts;
    int i;

    pthread_once(&atfork_once, install_atfork);
    if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
        /* No entropy yet (early boot): mix time and addresses. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32)
            ^ (uint64_t)(uintptr_t)&seed ^ (uint64_t)(uintptr_t)pthread_self();
        for (i = 0; i < 4; i++) {
            seed[i] ^= splitmix(&x);
        }
    }
    for (i = 0; i < 4; i++) {
        rng[i] = seed[i];
    }
    if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0) {
        rng[0] = 1;
    }
    rng_epoch = epoch;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t next64(void)
{
    unsigned epoch = atomic_load_explicit(&fork_epoch, memory_order_relaxed);
    uint64_t r, t;

    if (OTEL__UNLIKELY(rng_epoch != epoch)) {
        reseed(epoch);
    }
    r = rotl(rng[1] * 5, 7) * 9;
    t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

static void fill(uint8_t *buf, size_t n)
{
    uint64_t r;

    while (n >= 8) {
        r = next64();
        memcpy(buf, &r, 8);
        buf += 8;
        n -= 8;
    }
    if (n) {
        r = next64();
        memcpy(buf, &r, n);
    }
}

/* Validity is checked in registers: reading the id back right after
 * storing it stalls on store forwarding. */
void otel__ids_new_trace(uint8_t id[16])
{
    uint64_t a, b;

    do {
        a = next64();
        b = next64();
    } while ((a | b) == 0);
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

void otel__ids_new_span(uint8_t id[8])
{
    uint64_t a;

    do {
        a = next64();
    } while (a == 0);
    memcpy(id, &a, 8);
}

bool otel__id_valid(const uint8_t *id, size_t n)
{
    size_t i;
    uint8_t acc = 0;

    for (i = 0; i < n; i++) {
        acc |= id[i];
    }
    return acc != 0;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>

/*
 * Timestamps from the TSC: reading it costs a third of clock_gettime()
 * here, and a span takes three timestamps.  Each thread keeps a base
 * (tsc, ns) that it re-reads from CLOCK_REALTIME every ~8 ms, and the
 * rate measured between two bases; within a window the error is a few
 * parts per million of the window.  An implausible rate (TSC not
 * constant, migration between unsynchronised cores) turns the thread back
 * to clock_gettime() for good.
 */
#define TSC_WINDOW_NS 8000000

static OTEL__TLS uint64_t tsc_base, tsc_window;
static OTEL__TLS int64_t ns_base;
static OTEL__TLS double ns_per_tick;
static OTEL__TLS int tsc_state;      /* 0 new, 1 calibrating, 2 on, 3 off */
static OTEL__TLS int tsc_misses;

static int64_t tsc_rebase(uint64_t t)
{
    int64_t ns = realtime_ns();
    double rate;

    if (tsc_state == 3) {
        return ns;
    }
    if (tsc_state != 0 && t > tsc_base && ns > ns_base) {
        rate = (double)(ns - ns_base) / (double)(t - tsc_base);
        if (rate < 0.05 || rate > 20.0) {
            tsc_state = 3;
            return ns;
        }
        if (tsc_state == 2) {
            double drift = rate / ns_per_tick;
            /* A preempted rebase skews one window; a TSC that is not
             * constant keeps failing. */
            if (drift < 0.99 || drift > 1.01) {
                if (++tsc_misses > 3) {
                    tsc_state = 3;
                    return ns;
                }
            } else {
                tsc_misses = 0;
                ns_per_tick = (ns_per_tick * 7 + rate) / 8;
            }
        } else {
            ns_per_tick = rate;
        }
        tsc_state = 2;
    } else if (tsc_state != 0) {
        tsc_state = 3;
        return ns;
    } else {
        tsc_state = 1;
    }
    tsc_base = t;
    ns_base = ns;
    tsc_window = tsc_state == 2 ? (uint64_t)(TSC_WINDOW_NS / ns_per_tick)
                                : 0;
    return ns;
}

static OTEL__TLS int64_t last_ns;

static int64_t tsc_now(void)
{
    uint64_t t = __rdtsc();

    if (OTEL__LIKELY(tsc_state == 2 && t >= tsc_base
                     && t - tsc_base < tsc_window)) {
        return ns_base + (int64_t)((double)(t - tsc_base) * ns_per_tick);
    }
    if (tsc_state == 1 && realtime_ns() - ns_base < TSC_WINDOW_NS) {
        return realtime_ns();   /* too soon to measure the rate */
    }
    return tsc_rebase(t);
}

/* Never backwards within a thread: a rebase may land a little behind the
 * extrapolated time, and an end must not come before its start. */
int64_t otel__now_ns(void)
{
    int64_t ns = tsc_now();

    if (OTEL__UNLIKELY(ns < last_ns && last_ns - ns < 1000000)) {
        ns = last_ns;
    }
    last_ns = ns;
    return ns;
}
#else
int64_t otel__now_ns(void)
{
    return realtime_ns();
}
#endif

int64_t otel__mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

OTEL_API void otel_ids_random(uint8_t *buf, size_t n)
{
    if (buf) {
        fill(buf, n);
    }
}

OTEL_API size_t otel_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    return 2 * n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

OTEL_API int otel_hex_decode(const char *in, size_t len, uint8_t *out,
                             size_t n)
{
    size_t i;
    int hi, lo;

    if (!in || len != 2 * n) {
        return OTEL_EINVAL;
    }
    for (i = 0; i < n; i++) {
        hi = hexval(in[2 * i]);
        lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return OTEL_EINVAL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return OTEL_OK;
}
