/*
 * A multi-threaded host: several threads, each with its own Lua state,
 * create spans through one provider (shared with otel.setup{ provider })
 * at full speed while the export worker runs.  Every span is accounted
 * for; run under ThreadSanitizer by `make tsan`.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otel.h"
#include "tap.h"

#define THREADS 4
#define SPANS 5000          /* scoped spans per thread, each with a child */

typedef struct {
    otel_provider *p;
    int            id;
    int            ok;
    char           err[512];
} job;

static const char *build_dir(void)
{
    const char *b = getenv("OTEL_BUILD");

    return b && *b ? b : "build";
}

static const char chunk[] =
    "local provider, id, n = ...\n"
    "local otel = require 'otel'\n"
    "otel.setup{ provider = provider }\n"
    "local tracer = otel.tracer('thread')\n"
    "for i = 1, n do\n"
    "  tracer:start_as_current_span('t' .. id, nil, function(span)\n"
    "    span:set_attribute('i', i)\n"
    "    tracer:start_as_current_span('child', nil, function(c)\n"
    "      c:add_event('e', { thread = id })\n"
    "    end)\n"
    "  end)\n"
    "end\n"
    "assert(otel.shutdown())\n";

static void *run(void *arg)
{
    job *j = arg;
    lua_State *L = luaL_newstate();
    char path[512];

    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, "lua/?.lua;" LUA_PATH_DEFAULT);
    lua_setfield(L, -2, "path");
    snprintf(path, sizeof(path), "%s/?.so", build_dir());
    lua_pushstring(L, path);
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, chunk, sizeof(chunk) - 1, "thread") != 0) {
        snprintf(j->err, sizeof(j->err), "%s", lua_tostring(L, -1));
    } else {
        lua_pushlightuserdata(L, j->p);
        lua_pushinteger(L, j->id);
        lua_pushinteger(L, SPANS);
        if (lua_pcall(L, 3, 0, 0) != 0) {
            snprintf(j->err, sizeof(j->err), "%s", lua_tostring(L, -1));
        } else {
            j->ok = 1;
        }
    }
    lua_close(L);
    return NULL;
}

static uint64_t stat(const char *name)
{
    int i;

    for (i = 0; i < otel_stats_count(); i++) {
        if (strcmp(otel_stats_name(i), name) == 0) {
            return otel_stats_get(i);
        }
    }
    return 0;
}

/* Runs THREADS Lua states against p; returns the spans they ended. */
static void run_threads(otel_provider *p, const char *what)
{
    pthread_t th[THREADS];
    job jobs[THREADS];
    int i;

    for (i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].p = p;
        jobs[i].id = i;
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].ok, "%s: Lua state %d ran (%s)", what, i, jobs[i].err);
    }
}

static otel_provider *provider(int64_t exporter, int64_t queue)
{
    otel_config *cfg = otel_config_new();

    otel_config_set_int(cfg, OTEL_CFG_EXPORTER, exporter);
    otel_config_set_int(cfg, OTEL_CFG_PROCESSOR, 1);
    otel_config_set_int(cfg, OTEL_CFG_BSP_MAX_QUEUE, queue);
    otel_config_set_int(cfg, OTEL_CFG_BSP_MAX_BATCH, queue < 512 ? queue
                                                                  : 512);
    otel_config_set_int(cfg, OTEL_CFG_BSP_DELAY_MS, 10);
    return otel_provider_new(cfg, NULL);
}

#define N_SPANS ((uint64_t)THREADS * SPANS * 2)

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void all_kept(void)
{
    otel_provider *p = provider(OTEL_EXPORTER_MEMORY, 1 << 20);
    otel_span_view v;
    uint64_t ended = stat("spans_ended");
    uint64_t *ids;
    size_t i, n, dups = 0;

    run_threads(p, "memory");
    CHECK(otel_provider_force_flush(p, 10000) == OTEL_OK, "memory: flushed");
    CHECK(stat("spans_ended") - ended == N_SPANS, "memory: %llu ended",
          (unsigned long long)(stat("spans_ended") - ended));
    n = otel_memory_count(p);
    CHECK(n == N_SPANS, "memory: all %zu spans kept", n);
    ids = calloc(n, sizeof(*ids));
    for (i = 0; i < n; i++) {
        otel_memory_span(p, i, &v);
        memcpy(&ids[i], v.span_id, 8);
    }
    qsort(ids, n, sizeof(*ids), cmp_u64);
    for (i = 1; i < n; i++) {
        dups += ids[i] == ids[i - 1];
    }
    CHECK(dups == 0, "memory: no duplicate span ids across threads");
    free(ids);
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

static void overloaded(void)
{
    otel_provider *p = provider(OTEL_EXPORTER_NONE, 64);
    uint64_t e0 = stat("spans_ended"), x0 = stat("spans_exported");
    uint64_t q0 = stat("spans_dropped_queue_full");
    uint64_t f0 = stat("spans_dropped_export_failed");
    uint64_t s0 = stat("spans_dropped_shutdown");
    uint64_t ended, accounted;

    run_threads(p, "small queue");
    CHECK(otel_provider_force_flush(p, 10000) == OTEL_OK,
          "small queue: flushed");
    ended = stat("spans_ended") - e0;
    accounted = (stat("spans_exported") - x0)
                + (stat("spans_dropped_queue_full") - q0)
                + (stat("spans_dropped_export_failed") - f0)
                + (stat("spans_dropped_shutdown") - s0)
                + stat("spans_queued");
    CHECK(ended == N_SPANS, "small queue: %llu ended",
          (unsigned long long)ended);
    CHECK(ended == accounted, "small queue: ended %llu = accounted %llu",
          (unsigned long long)ended, (unsigned long long)accounted);
    otel_provider_shutdown(p, 1000);
    otel_provider_free(p);
}

int main(void)
{
    all_kept();
    overloaded();
    return tap_done();
}
