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
    OTEL_STAT_SAMPLER_ERRORS,
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
/* A malloc'd, NUL-terminated copy of s[0..len); NULL when out of memory. */
char *otel__strndup(const char *s, size_t len);
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
int64_t otel__mono_ms(void);     /* CLOCK_MONOTONIC, for deadlines */

/* ---- sampler -------------------------------------------------------------*/
#define OTEL__FLAG_SAMPLED 0x01
#define OTEL__FLAG_RANDOM  0x02     /* W3C Trace Context level 2 */

enum {
    OTEL__SAMPLE_DROP = OTEL_SAMPLE_DROP,
    OTEL__SAMPLE_RECORD_ONLY = OTEL_SAMPLE_RECORD_ONLY,
    OTEL__SAMPLE_RECORD_AND_SAMPLE = OTEL_SAMPLE_RECORD_AND_SAMPLE
};

/* A decision >= OTEL__SAMPLE_EXTERN is "external sampler i decides"
 * (i = decision - OTEL__SAMPLE_EXTERN): the binding runs it. */
#define OTEL__SAMPLE_EXTERN OTEL_SAMPLE_EXTERN
#define OTEL__SAMPLER_KEYS  16      /* attribute keys rule samplers read */

/* What a sampler sees of a span about to start.  vals[slot] (lens[slot])
 * is the start attribute of the provider's sampler key slot, NULL when
 * the span has none. */
typedef struct {
    const otel_span_handle *parent;     /* NULL: a root */
    const uint8_t          *trace_id;
    const char             *name;
    size_t                  nl;
    int                     kind;
    const char *const      *vals;
    const size_t           *lens;
    int                     n;
} otel__sample_args;

int otel__sampler_decide(const otel_sampler *s, const otel__sample_args *a);
/* The same for a tree of the specification's samplers only (no rules, no
 * external ones), which need the parent and the trace id alone: the span
 * start's fast path. */
bool otel__sampler_is_simple(const otel_sampler *s);
int otel__sampler_decide_simple(const otel_sampler *s,
                                const otel_span_handle *parent,
                                const uint8_t *trace_id);
/* Resolves the attribute keys of the rule samplers in s to slots of keys
 * (the provider's list, *n used of OTEL__SAMPLER_KEYS); keys past the
 * list never match (with a warning). */
void otel__sampler_bind(otel_sampler *s, otel__str *keys, int *n);
/* The inputs and the preset decision the binding gives the next span
 * start on this thread (sampler.c); the start takes and clears them,
 * when otel__sampling_pending says there are some. */
extern OTEL__TLS bool otel__sampling_pending;
void otel__sampling_take(const char *const **vals, const size_t **lens,
                         int *n, const uint8_t **trace_id, int *decision);

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

/* ---- the record pool (span_pool.c) --------------------------------------*/
/* A free record, or NULL when out of memory. */
otel__span *otel__span_alloc(void);
/* Returns a finished span's record to the pool. */
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

/* export_spans: the encoded request is larger than the limit; the batch
 * is sent in halves instead.  Never leaves the core. */
#define OTEL__ETOOBIG (-100)

/* Exports and settles the accounting of a batch: exported, rejected or
 * failed counters; releases the records unless the exporter keeps them.
 * Returns how many of the spans were not exported. */
size_t otel__export_batch(otel__exporter *e, otel__span *const *spans,
                          size_t n);

otel__processor *otel__processor_simple_new(otel__exporter *e);
otel__processor *otel__processor_batch_new(otel__exporter *e,
                                           const otel_config *cfg,
                                           int *status);
otel__exporter *otel__exporter_none_new(void);
otel__exporter *otel__exporter_console_new(const otel_config *cfg,
                                           const otel__attrs *resource);
otel__exporter *otel__exporter_memory_new(void);
/* What the memory exporter holds (span_view.c reads it). */
size_t otel__memory_count(otel__exporter *e);
void otel__memory_clear(otel__exporter *e);
const otel__span *otel__memory_get(otel__exporter *e, size_t i);
otel__exporter *otel__exporter_otlp_new(const otel_config *cfg,
                                        const otel__attrs *resource,
                                        int *status);

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
    int64_t       disabled;          /* OTEL_SDK_DISABLED: the no-op SDK */
    int64_t       otlp_protocol, otlp_insecure;
    char         *service_name;      /* explicit option, else NULL */
    /* The endpoint as given, and where from: the URL follows the
     * protocol, so otel__config_resolve() makes it at provider creation. */
    char         *otlp_endpoint_given;
    int           otlp_endpoint_from;    /* OTEL__ENDPOINT_* */
    char         *otlp_endpoint;     /* resolved URL (grpc: the origin) */
    char         *otlp_certificate, *otlp_client_key, *otlp_client_cert;
    otel__header *headers;
    size_t        n_headers;
    otel_sampler *sampler;
    /* resource attributes set in code */
    otel__attrs   resource;
    otel__arena   resource_arena;
};

enum {
    OTEL__ENDPOINT_DEFAULT,
    OTEL__ENDPOINT_ENV_BASE,    /* OTEL_EXPORTER_OTLP_ENDPOINT */
    OTEL__ENDPOINT_ENV_SIGNAL,  /* OTEL_EXPORTER_OTLP_TRACES_ENDPOINT */
    OTEL__ENDPOINT_OPTION       /* otlp.endpoint */
};

/* "http/protobuf", "grpc" or "http/json". */
const char *otel__protocol_name(int64_t protocol);
/* Makes cfg->otlp_endpoint from the endpoint given and the protocol.
 * Returns OTEL_OK or OTEL_ENOMEM. */
int otel__config_resolve(otel_config *cfg);

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

/* ---- warnings (warn.c) --------------------------------------------------
 * The one way for the core to tell the user that it did not take a
 * setting as given: queued once per process (the same text is not
 * repeated), printed by the binding.  otel__warn_config() says
 * "<what>=<value> is not valid, using <instead> instead". */
void otel__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void otel__warn_config(const char *what, const char *value,
                       const char *instead);
/* A failure the export thread meets (a TLS file that cannot be read, a
 * collector that refuses us): one line written to stderr at once, which
 * is nginx's error log under nginx.  Callers say each kind once. */
void otel__warn_now(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- provider -------------------------------------------------------------*/
struct otel__scope {
    otel__str    name, version, schema_url;
    otel_provider *provider;
    otel__scope  *next;
    bool         unique;        /* has attributes: never shared */
    otel__attrs  attrs;         /* the scope's attributes */
    otel__arena  arena;         /* their memory */
};

struct otel_provider {
    _Atomic int      refs;
    _Atomic int      shut_down;
    otel_config     *cfg;
    otel__limits     limits;
    otel_sampler    *sampler;
    otel__str        sampler_keys[OTEL__SAMPLER_KEYS];  /* rule samplers' */
    int              n_sampler_keys;
    bool             sampler_simple;    /* otel__sampler_is_simple() */
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
void otel__buf_json_double(otel__buf *b, double d);
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
