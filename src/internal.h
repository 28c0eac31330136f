/*
 * Internal declarations shared by the core's files.  Nothing here is part
 * of the ABI; non-static internal symbols carry the otel__ prefix.
 */
#ifndef OTEL_INTERNAL_H
#define OTEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "otel.h"

#define OTEL__UNUSED(x) ((void)(x))
/* Thread-locals on the span path: initial-exec avoids a __tls_get_addr
 * call per access in the shared library (they are a few hundred bytes). */
#define OTEL__TLS __thread __attribute__((tls_model("initial-exec")))
#define OTEL__LIKELY(x)   __builtin_expect(!!(x), 1)
#define OTEL__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- stats ---------------------------------------------------------------*/
enum {
    OTEL_STAT_SPANS_STARTED,
    OTEL_STAT_SPANS_ENDED,
    OTEL_STAT_SPANS_SAMPLED_OUT,
    OTEL_STAT_SPANS_EXPORTED,
    OTEL_STAT_SPANS_QUEUED,             /* gauge */
    OTEL_STAT_SPANS_DROPPED_QUEUE_FULL,
    OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED,
    OTEL_STAT_SPANS_DROPPED_REJECTED,
    OTEL_STAT_SPANS_DROPPED_SHUTDOWN,
    OTEL_STAT_SPANS_ABANDONED,
    OTEL_STAT_ATTRIBUTES_DROPPED,
    OTEL_STAT_EVENTS_DROPPED,
    OTEL_STAT_LINKS_DROPPED,
    OTEL_STAT_VALUES_TRUNCATED,
    OTEL_STAT_VALUES_REJECTED,
    OTEL_STAT_VALUES_REPAIRED,
    OTEL_STAT_STALE_HANDLE_CALLS,
    OTEL_STAT_DETACH_MISMATCHES,
    OTEL_STAT_EXPORT_REQUESTS,
    OTEL_STAT_EXPORT_RETRIES,
    OTEL_STAT_EXPORT_FAILURES,
    OTEL_STAT_EXPORT_BYTES,
    OTEL_STAT_PROPAGATION_INVALID,
    OTEL_STAT__COUNT
};

extern _Atomic uint64_t otel__stats[OTEL_STAT__COUNT];

static inline void otel__stat_add(int i, uint64_t n)
{
    atomic_fetch_add_explicit(&otel__stats[i], n, memory_order_relaxed);
}

static inline void otel__stat_sub(int i, uint64_t n)
{
    atomic_fetch_sub_explicit(&otel__stats[i], n, memory_order_relaxed);
}

/* ---- strings and values ------------------------------------------------- */
typedef struct {
    const char *p;
    uint32_t    len;
} otel__str;

typedef struct {
    uint8_t  type;      /* OTEL_VT_* (| OTEL_VT_ARRAY) */
    uint32_t n;         /* string length or array count */
    union {
        const char      *s;
        int64_t          i;
        double           d;
        int              b;
        const otel__str *sa;
        const int64_t   *ia;
        const double    *da;
        const uint8_t   *ba;
    } u;
} otel__value;

typedef struct {
    otel__str   key;
    otel__value v;
} otel__attr;

typedef struct {
    otel__attr *a;
    uint32_t    n, cap;
    uint32_t    dropped;
} otel__attrs;

/* A bump allocator: the first chunk is inline in its owner, further ones
 * are malloc'd and freed together by otel__arena_reset(), except one of
 * at most `keep` bytes, kept as the spare of the next use (span records:
 * a span that overflows its inline buffer does not malloc again, and the
 * export thread that releases it does not free). */
typedef struct otel__chunk {
    struct otel__chunk *next;
    size_t              size;
} otel__chunk;

typedef struct {
    char        *cur, *end;
    otel__chunk *chunks;
    char        *inline_buf;
    size_t       inline_size;
    otel__chunk *spare;
    size_t       keep;
} otel__arena;

void  otel__arena_init(otel__arena *a, char *buf, size_t size);
void *otel__arena_alloc(otel__arena *a, size_t size);
void  otel__arena_reset(otel__arena *a);   /* frees chunks but the spare */
char *otel__arena_strdup(otel__arena *a, const char *s, size_t len);
size_t otel__arena_bytes(const otel__arena *a);

/* ---- limits --------------------------------------------------------------*/
typedef struct {
    int64_t attr_count, attr_value_length, event_count, link_count,
            event_attr_count, link_attr_count;
} otel__limits;

/* Sets key to a value in list, applying the count and length limits and
 * repairing UTF-8; copies key and value into the arena.  Returns OTEL_OK,
 * OTEL_ELIMIT (dropped, counted in list->dropped and the stats) or
 * OTEL_ENOMEM. */
int otel__attrs_set(otel__attrs *list, otel__arena *arena, int64_t max_count,
                    int64_t max_len, const char *k, size_t kl,
                    const otel__value *v, const size_t *lens);
const otel__attr *otel__attrs_find(const otel__attrs *list, const char *k,
                                   size_t kl);

/* ---- utf8 ---------------------------------------------------------------*/
/* Returns true when s is valid UTF-8 and has at most max_chars code points
 * (max_chars < 0: no limit). */
bool otel__utf8_ok(const char *s, size_t len, int64_t max_chars);

/* ---- propagation ----------------------------------------------------------*/
/* Percent-decodes n bytes into out (room for n: decoding never grows); a
 * '%' not followed by two hex digits stays. */
size_t otel__pct_decode(const char *s, size_t n, char *out);

/* ---- ids ----------------------------------------------------------------*/
void otel__ids_new_trace(uint8_t id[16]);
void otel__ids_new_span(uint8_t id[8]);
bool otel__id_valid(const uint8_t *id, size_t n);
int64_t otel__now_ns(void);

/* ---- sampler -------------------------------------------------------------*/
enum {
    OTEL__SAMPLE_DROP = 0,
    OTEL__SAMPLE_RECORD_ONLY = 1,
    OTEL__SAMPLE_RECORD_AND_SAMPLE = 2
};

int otel__sampler_decide(const otel_sampler *s, const otel_span_handle *parent,
                         const uint8_t trace_id[16]);

/* ---- span records --------------------------------------------------------*/
#define OTEL__SPAN_INLINE 272

typedef struct {
    otel__str   name;
    int64_t     time_ns;
    otel__attrs attrs;
} otel__event;

typedef struct {
    uint8_t     trace_id[16], span_id[8];
    uint8_t     trace_flags, remote;
    otel__str   trace_state;
    otel__attrs attrs;
} otel__link;

typedef struct otel__scope otel__scope;

typedef struct otel__span {
    _Atomic uint32_t gen;
    uint8_t  state;             /* OTEL__SPAN_FREE / LIVE / ENDED */
    uint8_t  kind, status_code, trace_flags;
    uint8_t  has_parent, parent_remote;
    uint8_t  trace_id[16], span_id[8], parent_span_id[8];
    otel__str name, status_desc, trace_state;
    int64_t  start_ns, end_ns;
    otel_provider *provider;    /* holds a reference while not free */
    otel__scope   *scope;
    otel__attrs    attrs;
    otel__event   *events;
    otel__link    *links;
    uint32_t n_events, cap_events, dropped_events;
    uint32_t n_links, cap_links, dropped_links;
    struct otel__span *next;    /* pool free list, queues */
    otel__arena arena;
    char inline_buf[OTEL__SPAN_INLINE];
} otel__span;

enum { OTEL__SPAN_FREE = 0, OTEL__SPAN_LIVE = 1, OTEL__SPAN_ENDED = 2 };

/* Returns a finished span's record to the pool (drops its provider ref). */
void otel__span_release(otel__span *s);
/* The same for a batch, straight to the shared pool under one lock: for
 * threads that release but never start spans (the export worker). */
void otel__span_release_many(otel__span *const *spans, size_t n);
/* Bytes a record holds, for memory accounting. */
size_t otel__span_bytes(const otel__span *s);

/* ---- exporters and processors -------------------------------------------*/
typedef struct otel__exporter otel__exporter;
struct otel__exporter {
    /* Exports n finished spans (all of one provider).  Returns the number
     * of spans the receiver rejected (partial success) or a negative
     * status; does not release the spans. */
    int  (*export_spans)(otel__exporter *e, otel__span *const *spans,
                         size_t n);
    /* Keeps the spans instead (memory exporter): returns true when the
     * exporter took ownership of them. */
    bool  keeps_spans;
    /* export_spans may run on several threads at once. */
    bool  thread_safe;
    int  (*flush)(otel__exporter *e, int timeout_ms);
    void (*shutdown)(otel__exporter *e);
    void (*destroy)(otel__exporter *e);
};

typedef struct otel__processor otel__processor;
struct otel__processor {
    /* Takes ownership of an ended span's record. */
    void (*on_end)(otel__processor *p, otel__span *s);
    int  (*force_flush)(otel__processor *p, int timeout_ms);
    int  (*shutdown)(otel__processor *p, int timeout_ms);
    void (*destroy)(otel__processor *p);
};

/* Exports and settles the accounting of a batch: exported, rejected or
 * failed counters; releases the records unless the exporter keeps them. */
void otel__export_batch(otel__exporter *e, otel__span *const *spans,
                        size_t n);

otel__processor *otel__processor_simple_new(otel__exporter *e);
otel__processor *otel__processor_batch_new(otel__exporter *e,
                                           const otel_config *cfg,
                                           int *status);
otel__exporter *otel__exporter_none_new(void);
otel__exporter *otel__exporter_console_new(const otel_config *cfg,
                                           otel_provider *p);
otel__exporter *otel__exporter_memory_new(void);
otel__exporter *otel__exporter_otlp_new(const otel_config *cfg,
                                        otel_provider *p, int *status);

/* ---- config --------------------------------------------------------------*/
typedef struct {
    char  *name, *value;
} otel__header;

struct otel_config {
    otel__limits  limits;
    int64_t       processor, exporter;
    int64_t       bsp_max_queue, bsp_max_batch, bsp_delay_ms,
                  bsp_export_timeout_ms;
    int64_t       otlp_timeout_ms, otlp_compression;
    int64_t       console_format, console_fd;
    char         *service_name;      /* explicit option, else NULL */
    char         *otlp_endpoint;     /* resolved URL */
    otel__header *headers;
    size_t        n_headers;
    otel_sampler *sampler;
    /* resource attributes set in code */
    otel__attrs   resource;
    otel__arena   resource_arena;
};

/* Builds the resource of a provider: environment, then code, then
 * service.name and telemetry.sdk.*. */
int otel__resource_build(const otel_config *cfg, otel__attrs *out,
                         otel__arena *arena);
/* Parses "k=v,k2=v2" with percent-decoding into (k, v) pairs; calls fn for
 * each well-formed pair, skips malformed ones; returns pairs skipped. */
int otel__parse_kv_list(const char *s, size_t len,
                        void (*fn)(void *ud, const char *k, size_t kl,
                                   const char *v, size_t vl),
                        void *ud);

/* ---- provider -------------------------------------------------------------*/
struct otel__scope {
    otel__str    name, version;
    otel_provider *provider;
    otel__scope  *next;
};

struct otel_provider {
    _Atomic int      refs;
    _Atomic int      shut_down;
    otel_config     *cfg;
    otel__limits     limits;
    otel_sampler    *sampler;
    otel__processor *processor;
    otel__exporter  *exporter;
    otel__attrs      resource;
    otel__arena      resource_arena;
    pthread_mutex_t  scopes_lock;
    otel__scope     *scopes;
};

void otel__provider_ref(otel_provider *p);
void otel__provider_unref(otel_provider *p);

/* JSON string escaping for the console exporter (valid UTF-8 in). */
typedef struct {
    char  *buf;
    size_t len, cap;
    bool   oom;
} otel__buf;

void otel__buf_put(otel__buf *b, const char *s, size_t n);
void otel__buf_puts(otel__buf *b, const char *s);
void otel__buf_printf(otel__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void otel__buf_json_str(otel__buf *b, const char *s, size_t n);
void otel__buf_free(otel__buf *b);

/* Console output: one span as JSON; the waterfall of whole traces. */
typedef struct otel__tree otel__tree;
void otel__console_json(otel__buf *b, const otel__span *s,
                        const otel__attrs *resource);
otel__tree *otel__tree_new(void);
void otel__tree_free(otel__tree *t);
void otel__tree_add(otel__tree *t, const otel__span *s, otel__buf *out);
void otel__tree_flush(otel__tree *t, otel__buf *out);

#endif /* OTEL_INTERNAL_H */
