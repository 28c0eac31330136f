/*
 * otel_http_upstream_end over arbitrary $upstream_* values, against a
 * reference count of the tries.
 *
 * Input: a mode byte whose bits 0-5 say which of $upstream_addr,
 * _status, _connect_time, _header_time, _response_time and the
 * upstream's name are present, then their values split at '\n'.
 *
 * Checks: the span ends (one span in the memory exporter), never starts
 * before t0 and never ends before it starts; no upstream address: ERROR
 * not_proxied and no event; else the tries are the items of the address
 * list (split at ',' and " : "), one event each when there are several
 * and none for one, http.request.resend_count is tries - 1 when there
 * are several, and every string attribute is valid UTF-8 in its place.
 */
#include "prop.h"

#define FU_T0  1000000000000LL
#define FU_NOW (FU_T0 + 1000000000LL)

static otel_provider *fu_prov;
static otel_tracer *fu_tracer;

static void fu_init(void)
{
    otel_config *cfg;

    fz_clear_env();
    cfg = otel_config_new();
    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, OTEL_EXPORTER_MEMORY);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 0);
    fu_prov = otel_provider_new(cfg, NULL);
    fu_tracer = otel_provider_tracer(fu_prov, "fuzz", 4, "1", 1);
}

/* The tries of an address list: items between ',' and " : ". */
static size_t fu_tries(const char *s, size_t n)
{
    size_t i, t = 1;

    for (i = 0; i < n; i++) {
        if (s[i] == ',') {
            t++;
        } else if (s[i] == ' ' && i + 2 < n && s[i + 1] == ':'
                   && s[i + 2] == ' ') {
            t++;
            i += 2;
        }
    }
    return t;
}

static void fu_run(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint8_t mode = fz_u8(&in);
    const char *v[6];
    size_t l[6], tries, j;
    char *buf;
    otel_http_upstream u;
    otel_span_handle h;
    otel_span_view sv;
    otel_attr_view a;
    int k;

    /* six values: pr_values reads five, the sixth is the rest */
    buf = pr_values(&in, mode & 31, 5, v, l);
    v[5] = NULL;
    l[5] = 0;
    if (mode & 32) {                    /* after the fifth '\n' */
        for (j = 0, k = 0; j < in.n && k < 5; j++) {
            k += buf[j] == '\n';
        }
        v[5] = buf + j;
        l[5] = in.n - j;
    }
    memset(&u, 0, sizeof(u));
    u.addr = v[0];
    u.addr_len = l[0];
    u.status = v[1];
    u.status_len = l[1];
    u.connect = v[2];
    u.connect_len = l[2];
    u.header = v[3];
    u.header_len = l[3];
    u.response = v[4];
    u.response_len = l[4];
    u.host = v[5];
    u.host_len = l[5];
    u.t0_ns = FU_T0;
    u.now_ns = FU_NOW;

    otel_memory_clear(fu_prov);
    FZ_CHECK(otel_span_start(fu_tracer, NULL, "GET", 3, OTEL_KIND_CLIENT,
                             FU_T0, &h) == OTEL_OK, "start");
    FZ_CHECK(otel_http_upstream_end(&h, &u) == OTEL_OK, "end");
    FZ_CHECK(otel_memory_count(fu_prov) == 1, "one span ended");
    FZ_CHECK(otel_memory_span(fu_prov, 0, &sv) == OTEL_OK, "view");
    FZ_CHECK(sv.start_ns >= FU_T0 && sv.end_ns >= sv.start_ns,
             "placed: %lld .. %lld", (long long)sv.start_ns,
             (long long)sv.end_ns);
    if (!u.addr) {
        FZ_CHECK(sv.n_events == 0 && sv.status_code == OTEL_STATUS_ERROR,
                 "not proxied");
    } else {
        tries = fu_tries(u.addr, u.addr_len);
        FZ_CHECK(sv.n_events == (tries > 1 ? tries : 0)
                 || sv.dropped_events > 0,
                 "%u events for %zu tries", sv.n_events, tries);
        for (j = 0; otel_memory_attr(fu_prov, 0, 0, (uint32_t)j, -1, &a)
                    == OTEL_OK; j++) {
            if (fz_eq(a.key, a.key_len, "http.request.resend_count", 25)) {
                FZ_CHECK(tries > 1 && a.i == (int64_t)tries - 1,
                         "resend_count %lld for %zu tries", (long long)a.i,
                         tries);
            }
            if (a.type == OTEL_VT_STRING) {
                FZ_CHECK(otel__utf8_ok(a.s, a.n, -1), "UTF-8");
            }
        }
    }
    free(buf);
}

#ifndef FUZZ_REGRESS
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fu_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fu_run(data, size);
    return 0;
}
#endif
