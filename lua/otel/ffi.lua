-- The FFI declarations of the core (src/otel.h), the loaded library and
-- the state the other modules share.  Loaded once per Lua state.
local ffi = require "ffi"

local C_VERSION = 100       -- OTEL_VERSION_NUM this binding was written for

ffi.cdef [[
typedef struct otel_config   otel_config;
typedef struct otel_provider otel_provider;
typedef struct otel_tracer   otel_tracer;
typedef struct otel_sampler  otel_sampler;
typedef struct otel_stack    otel_stack;

typedef struct otel_span_handle {
    void     *rec;
    uint32_t  gen;
    uint8_t   trace_flags;
    uint8_t   remote;
    uint8_t   recording;
    uint8_t   reserved;
    uint8_t   trace_id[16];
    uint8_t   span_id[8];
} otel_span_handle;

int         otel_version(void);
const char *otel_strerror(int status);

otel_config *otel_config_new(void);
void otel_config_free(otel_config *cfg);
int  otel_config_get_int(const otel_config *cfg, int key, int64_t *out);
int  otel_config_set_int(otel_config *cfg, int key, int64_t v);
int  otel_config_set_str(otel_config *cfg, int key, const char *v,
                         size_t len);
int  otel_config_add_header(otel_config *cfg, const char *k, size_t kl,
                            const char *v, size_t vl);
int  otel_config_resource_str(otel_config *cfg, const char *k, size_t kl,
                              const char *v, size_t vl);
int  otel_config_resource_int(otel_config *cfg, const char *k, size_t kl,
                              int64_t v);
int  otel_config_resource_double(otel_config *cfg, const char *k,
                                 size_t kl, double v);
int  otel_config_resource_bool(otel_config *cfg, const char *k, size_t kl,
                               int v);
int  otel_config_set_sampler(otel_config *cfg, otel_sampler *s);

otel_sampler *otel_sampler_always_on(void);
otel_sampler *otel_sampler_always_off(void);
otel_sampler *otel_sampler_trace_id_ratio(double ratio);
otel_sampler *otel_sampler_parent_based(otel_sampler *root,
        otel_sampler *remote_sampled, otel_sampler *remote_not_sampled,
        otel_sampler *local_sampled, otel_sampler *local_not_sampled);
otel_sampler *otel_sampler_rules(otel_sampler *fallback);
int  otel_sampler_rules_add(otel_sampler *rules, otel_sampler *action);
int  otel_sampler_rule_match(otel_sampler *rules, int i, int op,
                             const char *key, size_t kl, const char *v,
                             size_t vl);
otel_sampler *otel_sampler_extern(int id, const char *desc, size_t dl);
size_t otel_sampler_describe(const otel_sampler *s, char *buf, size_t cap);

void otel_sampling_input(const char *const *vals, const size_t *lens,
                         int n);
int  otel_sampling_run(otel_tracer *t, const otel_span_handle *parent,
                       const char *name, size_t nl, int kind,
                       uint8_t *trace_id);
void otel_sampling_preset(const uint8_t *trace_id, int decision);
void otel_sampler_free(otel_sampler *s);

size_t otel_warning_next(char *buf, size_t cap);
void   otel_warning_push(const char *msg, size_t len);

otel_provider *otel_provider_new(otel_config *cfg, int *status);
otel_tracer *otel_provider_tracer(otel_provider *p, const char *name,
        size_t nl, const char *version, size_t vl);
otel_tracer *otel_provider_scope(otel_provider *p, const char *name,
        size_t nl, const char *version, size_t vl, const char *schema_url,
        size_t sl, int unique);
int  otel_tracer_attr(otel_tracer *t, const char *k, size_t kl, int type,
                      const char *s, size_t sl, int64_t i, double d);
int  otel_provider_force_flush(otel_provider *p, int timeout_ms);
int  otel_provider_shutdown(otel_provider *p, int timeout_ms);
void otel_provider_free(otel_provider *p);
void otel_provider_ref(otel_provider *p);
void otel_provider_unref(otel_provider *p);
size_t otel_provider_describe(const otel_provider *p, int what, char *buf,
                              size_t cap);
size_t otel_provider_sampler_key(const otel_provider *p, int i, char *buf,
                                 size_t cap);

int  otel_span_start(otel_tracer *t, const otel_span_handle *parent,
                     const char *name, size_t nl, int kind,
                     int64_t start_ns, otel_span_handle *out);
int  otel_span_is_recording(const otel_span_handle *h);
int  otel_span_end(const otel_span_handle *h, int64_t end_ns);
void otel_span_abandon(const otel_span_handle *h);
int  otel_span_update_name(const otel_span_handle *h, const char *name,
                           size_t nl);
int  otel_span_set_status(const otel_span_handle *h, int code,
                          const char *desc, size_t dl);
int  otel_span_set_trace_state(const otel_span_handle *h, const char *ts,
                               size_t len);
int  otel_span_set_start(const otel_span_handle *h, int64_t start_ns);
int  otel_span_add_event(const otel_span_handle *h, const char *name,
                         size_t nl, int64_t time_ns);
int  otel_span_add_link(const otel_span_handle *h,
                        const otel_span_handle *ctx,
                        const char *trace_state, size_t tsl, int n_attrs);
int  otel_attr_str(const otel_span_handle *h, int32_t target,
                   const char *k, size_t kl, const char *v, size_t vl);
int  otel_attr_int(const otel_span_handle *h, int32_t target,
                   const char *k, size_t kl, int64_t v);
int  otel_attr_double(const otel_span_handle *h, int32_t target,
                      const char *k, size_t kl, double v);
int  otel_attr_bool(const otel_span_handle *h, int32_t target,
                    const char *k, size_t kl, int v);
int  otel_attr_array(const otel_span_handle *h, int32_t target,
                     const char *k, size_t kl, int elem_type,
                     const void *vals, const size_t *lens, size_t n);

otel_stack *otel_stack_new(void);
void otel_stack_free(otel_stack *st);
int  otel_stack_depth(const otel_stack *st);
int  otel_stack_top(const otel_stack *st, otel_span_handle *out);
int  otel_stack_push(otel_stack *st, const otel_span_handle *h, int owned,
                     uint64_t *serial);
int  otel_stack_detach(otel_stack *st, int depth, uint64_t serial);
int  otel_scope_start(otel_tracer *t, otel_stack *st,
                      const otel_span_handle *parent, const char *name,
                      size_t nl, int kind, int64_t start_ns,
                      otel_span_handle *out);
int  otel_scope_end(otel_stack *st, int depth, const otel_span_handle *h,
                    int64_t end_ns);

void   otel_ids_random(uint8_t *buf, size_t n);
size_t otel_hex_encode(const uint8_t *in, size_t n, char *out);
int    otel_hex_decode(const char *in, size_t len, uint8_t *out, size_t n);

int         otel_stats_count(void);
const char *otel_stats_name(int i);
uint64_t    otel_stats_get(int i);
void        otel_stats_add(int i, uint64_t n);

size_t otel_utf8_sanitize(const char *in, size_t len, int64_t max_chars,
                          char *out, size_t cap, int *flags);

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
    uint32_t n_scope_attrs, reserved2;
} otel_span_view;
typedef struct otel_attr_view {
    const char *key;   size_t key_len;
    int32_t     type;
    uint32_t    n;
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
size_t otel_memory_count(otel_provider *p);
void   otel_memory_clear(otel_provider *p);
int    otel_memory_span(otel_provider *p, size_t i, otel_span_view *out);
int    otel_memory_attr(otel_provider *p, size_t i, int32_t target,
                        uint32_t j, int32_t e, otel_attr_view *out);
int    otel_memory_event(otel_provider *p, size_t i, uint32_t j,
                         otel_event_view *out);
int    otel_memory_link(otel_provider *p, size_t i, uint32_t j,
                        otel_link_view *out);
int    otel_resource_attr(otel_provider *p, uint32_t j,
                          otel_attr_view *out);
uint32_t otel_resource_count(otel_provider *p);

/* propagation */
int otel_traceparent_parse(const char *s, size_t len, otel_span_handle *out);
int otel_traceparent_format(const otel_span_handle *h, char *buf);
int otel_tracestate_clean(const char *s, size_t len, char *out, size_t cap);
typedef struct otel_baggage_iter {
    size_t   pos;
    size_t   bytes;
    uint32_t count;
    uint32_t dropped;
} otel_baggage_iter;
typedef struct otel_baggage_entry {
    const char *key;   size_t key_len;
    const char *value; size_t value_len;
    const char *meta;  size_t meta_len;
} otel_baggage_entry;
int otel_baggage_next(const char *s, size_t len, otel_baggage_iter *it,
                      char *buf, size_t cap, otel_baggage_entry *out);
int otel_baggage_clean(const char *s, size_t len, char *out, size_t cap);
typedef struct otel_baggage_writer {
    char    *buf;
    size_t   cap;
    size_t   len;
    uint32_t count;
    uint32_t dropped;
} otel_baggage_writer;
int otel_baggage_put(otel_baggage_writer *w, const char *k, size_t kl,
                     const char *v, size_t vl, const char *meta, size_t ml);
int otel_b3_parse(const char *s, size_t len, otel_span_handle *out,
                  int *debug);
int otel_b3_parse_multi(const char *const *vals, const size_t *lens,
                        otel_span_handle *out, int *debug);
int otel_b3_format(const otel_span_handle *h, int debug, char *buf);
const char *otel_prop_field(int format, int i);
const char *otel_prop_baggage_prefix(int format);
int otel_prop_extract(int format, const char *const *vals,
                      const size_t *lens, otel_span_handle *out,
                      int *debug, char *ts, size_t *tslen);
int otel_prop_inject(int format, const otel_span_handle *h, int debug,
                     const char *ts, size_t tsl, char *buf, size_t cap,
                     size_t *lens);
int otel_prop_baggage_put(int format, otel_baggage_writer *w,
                          const char *name, size_t nl, const char *value,
                          size_t vl);
int otel_prop_baggage_format(int format, const char *k, size_t kl,
                             const char *v, size_t vl, char *buf,
                             size_t cap, size_t *lens);

/* request carriers */
typedef struct otel_header {
    int         name_len;
    const char *name;
    int         value_len;
    const char *value;
} otel_header;
typedef struct otel_extracted {
    otel_span_handle parent;
    int32_t  found;
    int32_t  b3_debug;
    const char *trace_state;
    size_t      trace_state_len;
    const char *baggage;
    size_t      baggage_len;
} otel_extracted;
int otel_extract_headers(const otel_header *h, size_t n,
                         const uint8_t *props, size_t n_props,
                         char *buf, size_t cap, otel_extracted *out);
typedef struct otel_http_server {
    const otel_header *headers;
    size_t      n_headers;
    const char *method;   size_t method_len;
    const char *target;   size_t target_len;
    const char *path;     size_t path_len;
    const char *query;    size_t query_len;
    const char *scheme;   size_t scheme_len;
    const char *client_address; size_t client_address_len;
    const char *protocol; size_t protocol_len;
    const char *route;    size_t route_len;
    int32_t     record_query;
} otel_http_server;
int otel_http_server_attrs(const otel_span_handle *h,
                           const otel_http_server *r);
typedef struct otel_http_upstream {
    const char *addr;     size_t addr_len;
    const char *status;   size_t status_len;
    const char *connect;  size_t connect_len;
    const char *header;   size_t header_len;
    const char *response; size_t response_len;
    const char *host;     size_t host_len;
    int64_t     t0_ns;
    int64_t     now_ns;
} otel_http_upstream;
int otel_http_upstream_end(const otel_span_handle *h,
                           const otel_http_upstream *u);
]]

local function load_core()
    local path, err = package.searchpath("otel_core", package.cpath)
    if not path then
        error("lua-otel: cannot find the core library otel_core in "
              .. "package.cpath; looked in:" .. err, 3)
    end
    return ffi.load(path)
end

local C = load_core()

if C.otel_version() ~= C_VERSION then
    error(string.format("lua-otel: core library version %d does not match "
                        .. "the Lua modules (%d)", C.otel_version(),
                        C_VERSION), 2)
end

local _M = {
    C = C,
    -- OTEL_* constants of otel.h the modules use
    VT_STRING = 1, VT_BOOL = 2, VT_INT = 3, VT_DOUBLE = 4,
    OK = 0, EINVAL = -1, ESTALE = -5, ELIMIT = -6,
    -- shared mutable state: the provider of otel.setup and its epoch,
    -- which tracers compare to notice a new provider
    state = { provider = nil, epoch = 0, strict = false },
}

local buf = ffi.new("char[?]", 256)

-- The message of a status code.
function _M.strerror(rc)
    return ffi.string(C.otel_strerror(rc))
end

-- The string of a describe-style C function: fn(obj, [what,] buf, cap)
-- returning the full length.
function _M.cstring(fn, obj, what)
    local n
    if what == nil then
        n = tonumber(fn(obj, buf, 256))
    else
        n = tonumber(fn(obj, what, buf, 256))
    end
    if n < 256 then
        return ffi.string(buf, n)
    end
    local big = ffi.new("char[?]", n + 1)
    if what == nil then
        fn(obj, big, n + 1)
    else
        fn(obj, what, big, n + 1)
    end
    return ffi.string(big, n)
end

return _M
