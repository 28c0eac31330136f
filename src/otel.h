/*
 * lua-otel: the public C ABI of the core.
 *
 * This is the one header that bindings (lua/otel/ffi.lua) declare.  Every
 * string crosses as pointer + length and is copied by the core: the caller
 * keeps ownership of what it passes and may free it when the call returns.
 * Functions return 0 (OTEL_OK) or a negative OTEL_E* status unless said
 * otherwise; otel_strerror() names a status.
 */
#ifndef OTEL_H
#define OTEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OTEL_VERSION_MAJOR 0
#define OTEL_VERSION_MINOR 1
#define OTEL_VERSION_PATCH 0
#define OTEL_VERSION_STRING "0.1.0"
#define OTEL_VERSION_NUM \
    (OTEL_VERSION_MAJOR * 10000 + OTEL_VERSION_MINOR * 100 + OTEL_VERSION_PATCH)

#if defined(__GNUC__)
#define OTEL_API __attribute__((visibility("default")))
#else
#define OTEL_API
#endif

/* Status codes. */
#define OTEL_OK          0
#define OTEL_EINVAL     -1   /* bad argument */
#define OTEL_ENOMEM     -2   /* out of memory */
#define OTEL_ESTATE     -3   /* not allowed in this state (shut down, ...) */
#define OTEL_ETIMEDOUT  -4   /* flush or shutdown did not finish in time */
#define OTEL_ESTALE     -5   /* handle of an ended span: call ignored */
#define OTEL_ELIMIT     -6   /* dropped by a span limit (counted) */
#define OTEL_EREJECTED  -7   /* value of a type that cannot be kept */
#define OTEL_EEXPORT    -8   /* exporter failed */
#define OTEL_EUNSUPP    -9   /* feature not built in */

/* Span kinds (OTLP numbering minus one, like the API). */
#define OTEL_KIND_INTERNAL 0
#define OTEL_KIND_SERVER   1
#define OTEL_KIND_CLIENT   2
#define OTEL_KIND_PRODUCER 3
#define OTEL_KIND_CONSUMER 4

#define OTEL_STATUS_UNSET 0
#define OTEL_STATUS_OK    1
#define OTEL_STATUS_ERROR 2

/* Attribute value types, also the element type of arrays. */
#define OTEL_VT_STRING 1
#define OTEL_VT_BOOL   2
#define OTEL_VT_INT    3
#define OTEL_VT_DOUBLE 4
#define OTEL_VT_ARRAY  8    /* or-ed with the element type */

/* Where an attribute goes: the span, event i or link i. */
#define OTEL_TARGET_SPAN      0
#define OTEL_TARGET_EVENT(i)  ((int32_t)(i) + 1)
#define OTEL_TARGET_LINK(i)   (-(int32_t)(i) - 1)
#define OTEL_TARGET_SCOPE     INT32_MIN     /* memory views only */

typedef struct otel_config   otel_config;
typedef struct otel_provider otel_provider;
typedef struct otel_tracer   otel_tracer;
typedef struct otel_sampler  otel_sampler;

/*
 * A span handle: the span context by value plus a generation-checked
 * reference to the core's record.  The binding owns the handle memory; the
 * core owns the record.  Once the span ends the generation moves on and
 * every call through an old handle is ignored and counted, so a handle can
 * never reach a record that was reused.  A non-recording or remote span
 * has rec == NULL and still carries a valid span context.
 */
typedef struct otel_span_handle {
    void     *rec;
    uint32_t  gen;
    uint8_t   trace_flags;   /* bit 0: sampled, bit 1: random trace id
                                (W3C level 2); all 8 bits travel */
    uint8_t   remote;        /* 1: context extracted from a carrier */
    uint8_t   recording;     /* 1: rec was set at start */
    uint8_t   reserved;
    uint8_t   trace_id[16];
    uint8_t   span_id[8];
} otel_span_handle;

OTEL_API int         otel_version(void);
OTEL_API const char *otel_strerror(int status);

/* ---- configuration (config.c) ------------------------------------------
 * otel_config_new() starts from the defaults and the OTEL_* environment;
 * the setters then apply explicit options, which win.  The caller owns the
 * config until it passes it to otel_provider_new(), which takes it.
 */
#define OTEL_CFG_ATTR_COUNT          1
#define OTEL_CFG_ATTR_VALUE_LENGTH   2   /* -1: unlimited */
#define OTEL_CFG_EVENT_COUNT         3
#define OTEL_CFG_LINK_COUNT          4
#define OTEL_CFG_EVENT_ATTR_COUNT    5
#define OTEL_CFG_LINK_ATTR_COUNT     6
#define OTEL_CFG_PROCESSOR           7   /* 0 simple, 1 batch, -1 auto */
#define OTEL_CFG_EXPORTER            8   /* OTEL_EXPORTER_* */
#define OTEL_CFG_BSP_MAX_QUEUE       9
#define OTEL_CFG_BSP_MAX_BATCH       10
#define OTEL_CFG_BSP_DELAY_MS        11
#define OTEL_CFG_BSP_EXPORT_TIMEOUT  12
#define OTEL_CFG_OTLP_TIMEOUT_MS     13
#define OTEL_CFG_OTLP_COMPRESSION    14  /* 0 none, 1 gzip */
#define OTEL_CFG_CONSOLE_FORMAT      15  /* 0 json, 1 tree, 2 both */
#define OTEL_CFG_CONSOLE_FD          16
#define OTEL_CFG_OTLP_PROTOCOL       17  /* OTEL_PROTOCOL_* */
#define OTEL_CFG_OTLP_INSECURE       18  /* 1: plain gRPC without scheme */
#define OTEL_CFG_SDK_DISABLED        19  /* 1: bindings give the no-op API */
/* string options */
#define OTEL_CFG_SERVICE_NAME        32
#define OTEL_CFG_OTLP_ENDPOINT       33  /* a URL; see docs */
#define OTEL_CFG_OTLP_CERTIFICATE    34  /* CA bundle (PEM file) */
#define OTEL_CFG_OTLP_CLIENT_KEY     35  /* PEM file */
#define OTEL_CFG_OTLP_CLIENT_CERTIFICATE 36  /* PEM file */

#define OTEL_PROTOCOL_HTTP_PROTOBUF 0
#define OTEL_PROTOCOL_GRPC          1
#define OTEL_PROTOCOL_HTTP_JSON     2

#define OTEL_EXPORTER_NONE    0
#define OTEL_EXPORTER_CONSOLE 1
#define OTEL_EXPORTER_MEMORY  2
#define OTEL_EXPORTER_OTLP    3

OTEL_API otel_config *otel_config_new(void);
OTEL_API void otel_config_free(otel_config *cfg);            /* NULL ok */
OTEL_API int  otel_config_get_int(const otel_config *cfg, int key,
                                  int64_t *out);
OTEL_API int  otel_config_set_int(otel_config *cfg, int key, int64_t v);
OTEL_API int  otel_config_set_str(otel_config *cfg, int key,
                                  const char *v, size_t len);
/* Adds an HTTP header to OTLP requests; replaces one of the same name. */
OTEL_API int  otel_config_add_header(otel_config *cfg, const char *k,
                                     size_t kl, const char *v, size_t vl);
/* Resource attributes set in code; they win over the environment. */
OTEL_API int  otel_config_resource_str(otel_config *cfg, const char *k,
                                       size_t kl, const char *v, size_t vl);
OTEL_API int  otel_config_resource_int(otel_config *cfg, const char *k,
                                       size_t kl, int64_t v);
OTEL_API int  otel_config_resource_double(otel_config *cfg, const char *k,
                                          size_t kl, double v);
OTEL_API int  otel_config_resource_bool(otel_config *cfg, const char *k,
                                        size_t kl, int v);
/* Takes ownership of the sampler (also on error). */
OTEL_API int  otel_config_set_sampler(otel_config *cfg, otel_sampler *s);

/* ---- samplers (sampler.c) ----------------------------------------------
 * Constructors return a sampler the caller owns until it hands it to a
 * config or to otel_sampler_parent_based(), which take ownership of their
 * arguments (NULL delegates take the specification's defaults).
 */
OTEL_API otel_sampler *otel_sampler_always_on(void);
OTEL_API otel_sampler *otel_sampler_always_off(void);
OTEL_API otel_sampler *otel_sampler_trace_id_ratio(double ratio);
OTEL_API otel_sampler *otel_sampler_parent_based(otel_sampler *root,
        otel_sampler *remote_sampled, otel_sampler *remote_not_sampled,
        otel_sampler *local_sampled, otel_sampler *local_not_sampled);
/*
 * The rule sampler: rules tried in order against the span's name, kind
 * and start attributes; the first that matches decides with its action
 * sampler, and the fallback decides when none does.  Takes ownership of
 * fallback (NULL: parent_based(always_on)).  otel_sampler_rules_add()
 * appends a rule (taking its action, also on error) and returns its
 * index; otel_sampler_rule_match() adds a condition to rule i, all of
 * which must hold: the span name equals v (OTEL_MATCH_NAME), the kind is
 * vl (OTEL_MATCH_KIND, v unused), start attribute key equals v or starts
 * with v (OTEL_MATCH_EQUALS, OTEL_MATCH_PREFIX; attribute values as the
 * binding passes them, see otel_sampling_input).
 */
#define OTEL_MATCH_NAME   1
#define OTEL_MATCH_KIND   2
#define OTEL_MATCH_EQUALS 3
#define OTEL_MATCH_PREFIX 4
OTEL_API otel_sampler *otel_sampler_rules(otel_sampler *fallback);
OTEL_API int otel_sampler_rules_add(otel_sampler *rules,
                                    otel_sampler *action);
OTEL_API int otel_sampler_rule_match(otel_sampler *rules, int i, int op,
                                     const char *key, size_t kl,
                                     const char *v, size_t vl);
/* A sampler the binding runs (written in Lua): the core reports that
 * sampler `id` decides (otel_sampling_run) and never calls it.  desc is
 * copied into the description. */
OTEL_API otel_sampler *otel_sampler_extern(int id, const char *desc,
                                           size_t dl);
/* Copies the sampler's description (GetDescription) into buf; returns its
 * full length. */
OTEL_API size_t otel_sampler_describe(const otel_sampler *s, char *buf,
                                      size_t cap);
OTEL_API void otel_sampler_free(otel_sampler *s);            /* NULL ok */

/* ---- sampling from the binding (sampler.c) -----------------------------
 * Rule samplers read start attributes, which a binding sets after the
 * start: it passes the values of the keys the provider's rules read
 * (otel_provider_sampler_key(); vals[i] NULL when absent) with
 * otel_sampling_input() just before the start.  With external samplers
 * it runs the sampler first: otel_sampling_run() gives the trace id (the
 * parent's, or a new one) and the decision, OTEL_SAMPLE_EXTERN + id when
 * external sampler id decides; the binding then calls
 * otel_sampling_preset() with the trace id and its decision, and starts
 * the span.  Both are thread-local and taken by the next otel_span_start()
 * or otel_scope_start() on the thread; the arrays must live until then.
 */
#define OTEL_SAMPLE_DROP              0
#define OTEL_SAMPLE_RECORD_ONLY       1   /* recording, never exported */
#define OTEL_SAMPLE_RECORD_AND_SAMPLE 2
#define OTEL_SAMPLE_EXTERN            16
OTEL_API void otel_sampling_input(const char *const *vals,
                                  const size_t *lens, int n);
OTEL_API int  otel_sampling_run(otel_tracer *t,
                                const otel_span_handle *parent,
                                const char *name, size_t nl, int kind,
                                uint8_t *trace_id);
OTEL_API void otel_sampling_preset(const uint8_t *trace_id, int decision);

/* ---- provider and tracers (provider.c) ---------------------------------
 * otel_provider_new() takes the config (also on failure).  The provider is
 * freed by otel_provider_free() once its live spans are gone; tracers are
 * owned by the provider and valid until otel_provider_free().
 */
OTEL_API otel_provider *otel_provider_new(otel_config *cfg, int *status);
OTEL_API otel_tracer *otel_provider_tracer(otel_provider *p,
        const char *name, size_t nl, const char *version, size_t vl);
/* The same with the scope's schema URL; unique != 0 gives a scope of its
 * own, to which otel_tracer_attr() then adds attributes (a scope with
 * attributes is not shared: the binding keeps one per attribute set). */
OTEL_API otel_tracer *otel_provider_scope(otel_provider *p,
        const char *name, size_t nl, const char *version, size_t vl,
        const char *schema_url, size_t sl, int unique);
/* Adds an attribute to a unique scope, before any span of it starts:
 * type OTEL_VT_STRING (s, sl), OTEL_VT_BOOL or OTEL_VT_INT (i) or
 * OTEL_VT_DOUBLE (d). */
OTEL_API int otel_tracer_attr(otel_tracer *t, const char *k, size_t kl,
                              int type, const char *s, size_t sl,
                              int64_t i, double d);
OTEL_API int  otel_provider_force_flush(otel_provider *p, int timeout_ms);
OTEL_API int  otel_provider_shutdown(otel_provider *p, int timeout_ms);
OTEL_API void otel_provider_free(otel_provider *p);          /* NULL ok */
/* For hosts that share one provider between several Lua states (threads):
 * each state takes a reference and drops it without shutting the provider
 * down; the host keeps the owner's reference and calls
 * otel_provider_free() last. */
OTEL_API void otel_provider_ref(otel_provider *p);
OTEL_API void otel_provider_unref(otel_provider *p);          /* NULL ok */
/* For diagnostics, what: 0 the sampler's description, 1 service.name,
 * 2 the OTLP endpoint in use, 3 the OTLP protocol. */
OTEL_API size_t otel_provider_describe(const otel_provider *p, int what,
                                       char *buf, size_t cap);
/* The attribute key of slot i that the provider's rule samplers read;
 * returns its length, 0 past the last. */
OTEL_API size_t otel_provider_sampler_key(const otel_provider *p, int i,
                                          char *buf, size_t cap);

/* ---- spans (span.c) -----------------------------------------------------
 * otel_span_start() fills *out.  tracer NULL (no provider) gives the no-op
 * span of the API: the parent's context, or an invalid one for a root.
 * parent NULL or invalid starts a root.  start_ns 0 means now.
 */
OTEL_API int  otel_span_start(otel_tracer *t, const otel_span_handle *parent,
                              const char *name, size_t nl, int kind,
                              int64_t start_ns, otel_span_handle *out);
OTEL_API int  otel_span_is_recording(const otel_span_handle *h);
OTEL_API int  otel_span_end(const otel_span_handle *h, int64_t end_ns);
/* Frees the record of a span that was never ended (handle collected). */
OTEL_API void otel_span_abandon(const otel_span_handle *h);
OTEL_API int  otel_span_update_name(const otel_span_handle *h,
                                    const char *name, size_t nl);
OTEL_API int  otel_span_set_status(const otel_span_handle *h, int code,
                                   const char *desc, size_t dl);
OTEL_API int  otel_span_set_trace_state(const otel_span_handle *h,
                                        const char *ts, size_t len);
/* Moves the start of a span still recording (start_ns > 0). */
OTEL_API int  otel_span_set_start(const otel_span_handle *h,
                                  int64_t start_ns);
/* Returns the event index (>= 0) for OTEL_TARGET_EVENT, or a status. */
OTEL_API int  otel_span_add_event(const otel_span_handle *h,
                                  const char *name, size_t nl,
                                  int64_t time_ns);
/* Returns the link index (>= 0) for OTEL_TARGET_LINK, or a status.  A
 * link to an invalid context is kept only when it carries a trace state
 * or n_attrs > 0 attributes the caller sets next (as the specification
 * says); else it is OTEL_EINVAL, counted. */
OTEL_API int  otel_span_add_link(const otel_span_handle *h,
                                 const otel_span_handle *ctx,
                                 const char *trace_state, size_t tsl,
                                 int n_attrs);

/* Attributes of a span, an event or a link (target: OTEL_TARGET_*). */
OTEL_API int  otel_attr_str(const otel_span_handle *h, int32_t target,
                            const char *k, size_t kl,
                            const char *v, size_t vl);
OTEL_API int  otel_attr_int(const otel_span_handle *h, int32_t target,
                            const char *k, size_t kl, int64_t v);
OTEL_API int  otel_attr_double(const otel_span_handle *h, int32_t target,
                               const char *k, size_t kl, double v);
OTEL_API int  otel_attr_bool(const otel_span_handle *h, int32_t target,
                             const char *k, size_t kl, int v);
/* elem_type OTEL_VT_*: vals is const char *const[] (with lens), int64_t[],
 * double[] or int[] (bool). */
OTEL_API int  otel_attr_array(const otel_span_handle *h, int32_t target,
                              const char *k, size_t kl, int elem_type,
                              const void *vals, const size_t *lens, size_t n);

/* ---- context stacks (context.c) ----------------------------------------
 * One stack per coroutine, owned by the binding (otel_stack_free() when
 * the coroutine is collected).  Entries hold handles by value.
 */
typedef struct otel_stack otel_stack;

OTEL_API otel_stack *otel_stack_new(void);
/* Frees the stack; scoped spans still on it are abandoned (counted). */
OTEL_API void otel_stack_free(otel_stack *st);               /* NULL ok */
OTEL_API int  otel_stack_depth(const otel_stack *st);
/* Copies the top entry into *out; returns the depth (0: empty). */
OTEL_API int  otel_stack_top(const otel_stack *st, otel_span_handle *out);
/* Pushes a copy of *h; returns the new depth and the entry's serial,
 * which a detach must present. */
OTEL_API int  otel_stack_push(otel_stack *st, const otel_span_handle *h,
                              int owned, uint64_t *serial);
/* Pops the entry at depth and all above it.  Returns OTEL_OK when it was
 * the top, 1 when it was not (out of order, counted), OTEL_ESTATE when the
 * entry is not there (counted, nothing changed). */
OTEL_API int  otel_stack_detach(otel_stack *st, int depth, uint64_t serial);
/* A scoped span: starts it as a child of parent (NULL: the top of st),
 * pushes it as an owned entry and returns the depth, or a status. */
OTEL_API int  otel_scope_start(otel_tracer *t, otel_stack *st,
                               const otel_span_handle *parent,
                               const char *name, size_t nl, int kind,
                               int64_t start_ns, otel_span_handle *out);
/* Pops the scope's entry (and anything left above it) and ends the span. */
OTEL_API int  otel_scope_end(otel_stack *st, int depth,
                             const otel_span_handle *h, int64_t end_ns);

/* ---- propagation (propagation.c) ---------------------------------------
 * W3C Trace Context, W3C Baggage and B3 headers.  Pure functions: strings
 * in as pointer + length, results in caller memory; nothing is allocated
 * or kept.  A malformed input is ignored and counted (propagation_invalid:
 * one per traceparent or b3 header, one per dropped list member).
 * Extracted span contexts have remote = 1 and no record.
 */
#define OTEL_TRACEPARENT_LEN        55  /* version 00, as formatted */
#define OTEL_TRACESTATE_MAX_MEMBERS 32
#define OTEL_TRACESTATE_MAX_LEN     512 /* longer lists are truncated */
#define OTEL_BAGGAGE_MAX_MEMBERS    180
#define OTEL_BAGGAGE_MAX_BYTES      8192
#define OTEL_B3_LEN                 51  /* trace-span-state, as formatted */

/* Parses a traceparent (leading and trailing OWS allowed) into *out; all
 * eight trace-flag bits are kept (W3C Trace Context level 2).  Returns
 * OTEL_OK, or OTEL_EINVAL with *out zeroed. */
OTEL_API int otel_traceparent_parse(const char *s, size_t len,
                                    otel_span_handle *out);
/* Writes the OTEL_TRACEPARENT_LEN characters of a version 00 traceparent
 * (no NUL); returns that length, or OTEL_EINVAL for an invalid context. */
OTEL_API int otel_traceparent_format(const otel_span_handle *h, char *buf);
/* Validates a tracestate list (several header lines joined with ','):
 * drops invalid members, duplicates of an earlier key and members past
 * the 32nd, keeps the order, and truncates whole members to fit in
 * min(cap, OTEL_TRACESTATE_MAX_LEN), those over 128 characters first, then
 * from the end.  Writes the cleaned list to out; returns its length (the
 * input's length when nothing changed; 0: nothing left). */
OTEL_API int otel_tracestate_clean(const char *s, size_t len, char *out,
                                   size_t cap);

/* Baggage parsing, one member per call.  Start with a zeroed iterator. */
typedef struct otel_baggage_iter {
    size_t   pos;       /* where the next member starts */
    size_t   bytes;     /* bytes of those members as key=value[;meta],
                           with commas */
    uint32_t count;     /* members returned */
    uint32_t dropped;   /* members dropped: malformed or over a limit */
} otel_baggage_iter;

typedef struct otel_baggage_entry {
    const char *key;   size_t key_len;    /* into the header */
    const char *value; size_t value_len;  /* percent-decoded, into buf */
    const char *meta;  size_t meta_len;   /* the properties verbatim, into
                                             the header (meta_len 0: none) */
} otel_baggage_entry;

/* Fills *out with the next well-formed member of s and returns 1, or
 * returns 0 at the end.  The value is decoded into buf (cap bytes;
 * OTEL_BAGGAGE_MAX_BYTES always suffice) and invalid UTF-8 is replaced
 * with U+FFFD; the entry is valid until the next call.  Members past
 * OTEL_BAGGAGE_MAX_MEMBERS or OTEL_BAGGAGE_MAX_BYTES are dropped. */
OTEL_API int otel_baggage_next(const char *s, size_t len,
                               otel_baggage_iter *it, char *buf, size_t cap,
                               otel_baggage_entry *out);

/* Validates a baggage header (several lines joined with ','): drops
 * malformed members and those past the limits or cap, and writes the rest
 * to out as key=value[;meta] (values left encoded, OWS removed).  Returns
 * the length (at most the input's; 0: nothing left). */
OTEL_API int otel_baggage_clean(const char *s, size_t len, char *out,
                                size_t cap);

/* Baggage formatting into the caller's buffer (at most
 * OTEL_BAGGAGE_MAX_BYTES of it are used).  Set buf and cap, zero the rest. */
typedef struct otel_baggage_writer {
    char    *buf;
    size_t   cap;
    size_t   len;       /* bytes written */
    uint32_t count;     /* members written */
    uint32_t dropped;   /* members refused */
} otel_baggage_writer;

/* Appends key=value[;meta], the value percent-encoded.  Returns OTEL_OK,
 * OTEL_EINVAL for a key that is not an HTTP token, or OTEL_ELIMIT past
 * the limits (both counted, nothing written).  Metadata that is not a
 * property list is left out (counted). */
OTEL_API int otel_baggage_put(otel_baggage_writer *w, const char *k,
                              size_t kl, const char *v, size_t vl,
                              const char *meta, size_t ml);

/* Parses a b3 single header.  Returns OTEL_OK with *out filled (sampled
 * for state 1 or d; not sampled for 0 or an absent state), 1 for a
 * sampling state alone (no context, not counted), or OTEL_EINVAL.
 * *debug (may be NULL) gets 1 for state d. */
OTEL_API int otel_b3_parse(const char *s, size_t len, otel_span_handle *out,
                           int *debug);
/* The same for the multi-header form: vals[0..3] are X-B3-TraceId,
 * X-B3-SpanId, X-B3-Sampled and X-B3-Flags (NULL when absent).  Returns
 * 1 when neither id header is there. */
OTEL_API int otel_b3_parse_multi(const char *const *vals,
                                 const size_t *lens, otel_span_handle *out,
                                 int *debug);
/* Writes {trace id}-{span id}-{1|0|d}: OTEL_B3_LEN characters, no NUL;
 * returns that length, or OTEL_EINVAL for an invalid context. */
OTEL_API int otel_b3_format(const otel_span_handle *h, int debug, char *buf);

/* ---- other tracers' formats (propagators.c) ----------------------------
 * Jaeger, OT Trace, AWS X-Ray, Google Cloud Trace and Datadog, through
 * one pair of functions over the values of a format's headers, in the
 * order otel_prop_field() names them (lower case).  Pure functions, like
 * those above; a malformed header is ignored and counted
 * (propagation_invalid).
 *   OTEL_PROPAGATOR_JAEGER   uber-trace-id; baggage uberctx-*
 *   OTEL_PROPAGATOR_OTTRACE  ot-tracer-traceid, -spanid, -sampled;
 *                            baggage ot-baggage-*
 *   OTEL_PROPAGATOR_XRAY     x-amzn-trace-id
 *   OTEL_PROPAGATOR_GCP      x-cloud-trace-context
 *   OTEL_PROPAGATOR_DATADOG  x-datadog-trace-id, -parent-id,
 *                            -sampling-priority, -origin, -tags
 */
/* Propagator ids: 1-4 are tracecontext, baggage, b3 and b3multi. */
#define OTEL_PROPAGATOR_JAEGER  5
#define OTEL_PROPAGATOR_OTTRACE 6
#define OTEL_PROPAGATOR_XRAY    7
#define OTEL_PROPAGATOR_GCP     8
#define OTEL_PROPAGATOR_DATADOG 9
#define OTEL_PROP_MAX_FIELDS 5
#define OTEL_PROP_BUF        512  /* room for any format's headers */
#define OTEL_PROP_TS_MAX     206  /* room for the trace state of extract */

/* Header i of a format (a static lower-case string), or NULL past the
 * last; and the prefix of its baggage headers, or NULL. */
OTEL_API const char *otel_prop_field(int format, int i);
OTEL_API const char *otel_prop_baggage_prefix(int format);

/* Parses the format's headers: vals[i] / lens[i] is the value of header i
 * (NULL: absent).  Returns OTEL_OK with *out filled, 1 when none of the
 * format's id headers is there (no context, not counted), or OTEL_EINVAL
 * (counted, *out zeroed).  *debug (may be NULL) gets Jaeger's debug flag;
 * ts (OTEL_PROP_TS_MAX bytes, may be NULL) gets the tracestate the
 * headers imply (Datadog's origin as dd=o:...), *tslen its length. */
OTEL_API int otel_prop_extract(int format, const char *const *vals,
                               const size_t *lens, otel_span_handle *out,
                               int *debug, char *ts, size_t *tslen);
/* Writes the values of the format's headers for a valid context back to
 * back into buf (cap >= OTEL_PROP_BUF), lens[i] the length of header i's
 * (0: not sent).  ts: the context's tracestate (Datadog's origin comes
 * from it), debug: Jaeger's flag.  Returns the bytes written or
 * OTEL_EINVAL. */
OTEL_API int otel_prop_inject(int format, const otel_span_handle *h,
                              int debug, const char *ts, size_t tsl,
                              char *buf, size_t cap, size_t *lens);
/* A baggage header of the format (name: prefix and key, in any case) into
 * a W3C baggage writer: returns otel_baggage_put's status, or 1 when the
 * name has not the format's prefix. */
OTEL_API int otel_prop_baggage_put(int format, otel_baggage_writer *w,
                                   const char *name, size_t nl,
                                   const char *value, size_t vl);
/* The baggage header for an entry: name into buf, value right after,
 * lens[0] and lens[1] their lengths.  Returns the bytes written, or
 * OTEL_EINVAL / OTEL_ELIMIT (counted) for a key that is not a token, a
 * value a header cannot hold, or no room. */
OTEL_API int otel_prop_baggage_format(int format, const char *k, size_t kl,
                                      const char *v, size_t vl, char *buf,
                                      size_t cap, size_t *lens);

/* ---- request carriers (carrier.c, http.c) -------------------------------
 * A host that holds its request's headers as a list hands the list over
 * as it is: the layout is lua-nginx-module's ngx_http_lua_ffi_table_elt_t
 * (names in lower case), so nginx's own list passes without a copy.
 * Nothing is kept after the call.
 */
typedef struct otel_header {
    int         name_len;
    const char *name;
    int         value_len;
    const char *value;
} otel_header;

/* Propagator ids, for otel_extract_headers' configured order. */
enum {
    OTEL_PROPAGATOR_TRACECONTEXT = 1,
    OTEL_PROPAGATOR_BAGGAGE = 2,
    OTEL_PROPAGATOR_B3 = 3,
    OTEL_PROPAGATOR_B3MULTI = 4
};

typedef struct otel_extracted {
    otel_span_handle parent;    /* the remote parent, when found */
    int32_t  found;             /* 1: a propagator found a valid parent */
    int32_t  b3_debug;          /* it came from b3 with the debug flag */
    const char *trace_state;    /* cleaned, into buf (NULL: none) */
    size_t      trace_state_len;
    const char *baggage;        /* cleaned, into buf (NULL: none) */
    size_t      baggage_len;
} otel_extracted;

#define OTEL_EXTRACT_BUF (OTEL_TRACESTATE_MAX_LEN + OTEL_BAGGAGE_MAX_BYTES)

/* Extracts from n headers with the propagators props[0..n_props) in that
 * order (the first valid span context wins; baggage on its own), with the
 * rules of a table carrier.  buf (cap >= OTEL_EXTRACT_BUF) receives the
 * cleaned trace state and baggage.  Returns 1 when anything was found, 0
 * when nothing, or OTEL_EINVAL. */
OTEL_API int otel_extract_headers(const otel_header *h, size_t n,
                                  const uint8_t *props, size_t n_props,
                                  char *buf, size_t cap,
                                  otel_extracted *out);

/* What a server knows of a request, for its HTTP attributes.  Strings are
 * pointer + length and may be NULL when absent. */
typedef struct otel_http_server {
    const otel_header *headers;     /* Host and User-Agent are read here */
    size_t      n_headers;
    const char *method;   size_t method_len;
    const char *target;   size_t target_len;    /* path?query, or NULL: */
    const char *path;     size_t path_len;      /*   path and query */
    const char *query;    size_t query_len;
    const char *scheme;   size_t scheme_len;
    const char *client_address; size_t client_address_len;
    const char *protocol; size_t protocol_len;  /* "HTTP/1.1" */
    const char *route;    size_t route_len;
    int32_t     record_query;                   /* url.query too */
} otel_http_server;

/* Sets the HTTP server semantic-convention attributes of a recording span
 * (http.request.method[_original], url.path, url.query, url.scheme,
 * server.address, server.port, client.address, user_agent.original,
 * network.protocol.version, http.route).  Returns OTEL_OK, 1 when the
 * request has no Host header (the caller sets server.address and
 * server.port from what it knows), or a negative status. */
OTEL_API int otel_http_server_attrs(const otel_span_handle *h,
                                    const otel_http_server *r);

/* What nginx tells of a proxied call, its $upstream_* variables as they
 * are (per-try lists; NULL when unset). */
typedef struct otel_http_upstream {
    const char *addr;     size_t addr_len;      /* $upstream_addr */
    const char *status;   size_t status_len;    /* $upstream_status */
    const char *connect;  size_t connect_len;   /* ..._connect_time */
    const char *header;   size_t header_len;    /* ..._header_time */
    const char *response; size_t response_len;  /* ..._response_time */
    const char *host;     size_t host_len;      /* the upstream's name, or
                                                   NULL: the peer's */
    int64_t     t0_ns;    /* the earliest start (when the span began) */
    int64_t     now_ns;   /* now: the latest end */
} otel_http_upstream;

/* Ends the CLIENT span of a proxied call: places it where the tries'
 * durations say (ending at now_ns, starting no earlier than t0_ns), sets
 * the HTTP client attributes of the last try (network.peer.*,
 * http.response.status_code, server.address/port, resend_count, nginx's
 * timings in ms) and, when there were several, one event per try; ERROR
 * for a status >= 400 or none.  A non-recording span: nothing. */
OTEL_API int otel_http_upstream_end(const otel_span_handle *h,
                                    const otel_http_upstream *u);

/* ---- ids (ids.c) -------------------------------------------------------- */
OTEL_API void otel_ids_random(uint8_t *buf, size_t n);
/* Writes 2n lower-case hex digits; returns 2n. */
OTEL_API size_t otel_hex_encode(const uint8_t *in, size_t n, char *out);
/* Strict lower-case hex decoding of exactly 2n digits; returns 0 or
 * OTEL_EINVAL. */
OTEL_API int otel_hex_decode(const char *in, size_t len, uint8_t *out,
                             size_t n);

/* ---- stats (stats.c) ----------------------------------------------------
 * Process-wide counters since the library was loaded.
 */
OTEL_API int         otel_stats_count(void);
OTEL_API const char *otel_stats_name(int i);
OTEL_API uint64_t    otel_stats_get(int i);
OTEL_API void        otel_stats_add(int i, uint64_t n);

/* ---- UTF-8 (utf8.c) ----------------------------------------------------
 * Repairs invalid sequences with U+FFFD and cuts at max_chars code points
 * (-1: no limit) without splitting a sequence.  Writes at most cap bytes;
 * returns the length of the result (call with cap 0 to size it).  *flags
 * gets bit 0 when truncated and bit 1 when repaired.
 */
OTEL_API size_t otel_utf8_sanitize(const char *in, size_t len,
                                   int64_t max_chars, char *out, size_t cap,
                                   int *flags);

/* ---- warnings (warn.c) -------------------------------------------------
 * Configuration the core could not take as given is reported once per
 * process as a message in a queue the binding prints.  otel_warning_next()
 * takes the oldest message off the queue into buf (NUL-terminated, cut to
 * cap) and returns its full length, 0 when the queue is empty.
 * otel_warning_push() queues a message of the binding's own, once.
 */
OTEL_API size_t otel_warning_next(char *buf, size_t cap);
OTEL_API void   otel_warning_push(const char *msg, size_t len);

/* ---- memory exporter (exporter_memory.c) -------------------------------
 * Finished spans kept by exporter "memory", read through views whose
 * pointers stay valid until otel_memory_clear() or the provider is freed.
 */
typedef struct otel_span_view {
    const char *name;          size_t name_len;
    const char *status_desc;   size_t status_desc_len;
    const char *trace_state;   size_t trace_state_len;
    const char *scope_name;    size_t scope_name_len;
    const char *scope_version; size_t scope_version_len;
    int64_t  start_ns, end_ns;
    uint32_t n_attrs, n_events, n_links;
    uint32_t dropped_attrs, dropped_events, dropped_links;
    int32_t  kind, status_code;
    uint8_t  trace_id[16], span_id[8], parent_span_id[8];
    uint8_t  has_parent, parent_remote, trace_flags, reserved;
    const char *scope_schema_url; size_t scope_schema_url_len;
    uint32_t n_scope_attrs, reserved2;   /* OTEL_TARGET_SCOPE */
} otel_span_view;

typedef struct otel_attr_view {
    const char *key;   size_t key_len;
    int32_t     type;  /* OTEL_VT_*, | OTEL_VT_ARRAY for arrays */
    uint32_t    n;     /* string length, or array length */
    const char *s;
    int64_t     i;
    double      d;
    int32_t     b;
} otel_attr_view;

typedef struct otel_event_view {
    const char *name; size_t name_len;
    int64_t  time_ns;
    uint32_t n_attrs, dropped_attrs;
} otel_event_view;

typedef struct otel_link_view {
    uint8_t  trace_id[16], span_id[8];
    uint32_t trace_flags, remote;
    const char *trace_state; size_t trace_state_len;
    uint32_t n_attrs, dropped_attrs;
} otel_link_view;

OTEL_API size_t otel_memory_count(otel_provider *p);
OTEL_API void   otel_memory_clear(otel_provider *p);
OTEL_API int    otel_memory_span(otel_provider *p, size_t i,
                                 otel_span_view *out);
/* Attribute j of span i's target (OTEL_TARGET_*); for arrays, element e
 * (e >= 0) is returned as a scalar view. */
OTEL_API int    otel_memory_attr(otel_provider *p, size_t i, int32_t target,
                                 uint32_t j, int32_t e, otel_attr_view *out);
OTEL_API int    otel_memory_event(otel_provider *p, size_t i, uint32_t j,
                                  otel_event_view *out);
OTEL_API int    otel_memory_link(otel_provider *p, size_t i, uint32_t j,
                                 otel_link_view *out);
/* Resource attribute j of the provider (same view). */
OTEL_API int    otel_resource_attr(otel_provider *p, uint32_t j,
                                   otel_attr_view *out);
OTEL_API uint32_t otel_resource_count(otel_provider *p);

#ifdef __cplusplus
}
#endif

#endif /* OTEL_H */
