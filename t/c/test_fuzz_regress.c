/*
 * Replays through the fuzz targets' own checks (fuzz/fuzz_*.c, built here
 * with FUZZ_REGRESS: a failed check fails a TAP line instead of aborting)
 * the inputs with which the fuzzers found bugs, then every seed of
 * fuzz/corpus/ (when run from the top directory, as t/run.sh does).
 */
#define FUZZ_REGRESS

#include <dirent.h>

#include "../../fuzz/fuzz_utf8.c"
#include "../../fuzz/fuzz_kvlist.c"
#include "../../fuzz/fuzz_attrs.c"
#include "../../fuzz/fuzz_otlp.c"
#include "../../fuzz/fuzz_traceparent.c"
#include "../../fuzz/fuzz_baggage.c"
#include "../../fuzz/fuzz_b3.c"
#include "../../fuzz/fuzz_response.c"
#include "../../fuzz/fuzz_grpc.c"
#include "../../fuzz/fuzz_jaeger.c"
#include "../../fuzz/fuzz_ottrace.c"
#include "../../fuzz/fuzz_xray.c"
#include "../../fuzz/fuzz_gcp.c"
#include "../../fuzz/fuzz_datadog.c"
#include "../../fuzz/fuzz_upstream.c"
#include "../../fuzz/fuzz_headers.c"

#include "tap.h"

typedef void (*run_fn)(const uint8_t *data, size_t size);

static const struct {
    const char *name;
    run_fn      run;
} targets[] = {
    { "utf8", utf8_run }, { "kvlist", kvlist_run }, { "attrs", attrs_run },
    { "otlp", otlp_run }, { "traceparent", traceparent_run },
    { "baggage", baggage_run }, { "b3", b3_run },
    { "response", response_run }, { "grpc", grpc_run },
    { "jaeger", fj_run },
    { "ottrace", fo_run }, { "xray", fx_run }, { "gcp", fg_run },
    { "datadog", fd_run }, { "upstream", fu_run },
    { "headers", headers_run },
};

/* Runs one input; false when a check failed (it printed why). */
static bool replay(run_fn run, const void *data, size_t size)
{
    /* A copy of the exact size, as libFuzzer gives it. */
    uint8_t *copy = malloc(size ? size : 1);
    volatile bool ok = false;

    if (size) {
        memcpy(copy, data, size);
    }
    if (setjmp(fz_jmp) == 0) {
        run(copy, size);
        ok = true;
    }
    free(copy);
    return ok;
}

#define INPUT(s) s, sizeof(s) - 1

/* The inputs the fuzzers found bugs with. */
static const struct {
    run_fn      run;
    const char *data;
    size_t      size;
    const char *what;
} found[] = {
    /* UBSan: otel__arena_init(a, NULL, 0) computed NULL + 0 (attr.c);
     * any input reached it through otel_config_new(). */
    { kvlist_run, INPUT(""), "arena of no inline buffer: no NULL + 0" },
    /* A key that is not UTF-8 never found its own repaired copy
     * (otel__attrs_set looked up the raw key): the resource got the
     * repaired key twice, the first value kept. */
    { kvlist_run, INPUT("Q,\xf1\x10\xb9\xbf=A,\xf1\x10\xb9\xbf="),
      "resource: a key that is not UTF-8, set twice, is one attribute" },
    { attrs_run,
      INPUT("\xfe\xfe\xfe\xfe\xfe\xfe\x03lib\x03" "1.0\x05other\x00"
            "\x00\x00\x00\x01\x00\x04span\x00\x00\x00\x00\x00\x00\x00\x00"
            "\x01\x00\x00\xc6\x01" "1"
            "\x01\x00\x00\xd2\x01" "2"
            "\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
      "span: two keys that repair to the same one are one attribute" },
    /* otel_provider_tracer looked up the raw name against the repaired
     * one (a new scope per call), repaired the name into nl bytes (an
     * invalid byte became a NUL), and did not repair the version. */
    { attrs_run, INPUT("\xff\xf2\xf2\xf2\xf2\xf2\xf2\xf2"),
      "tracer: a name that is not UTF-8 finds its scope again" },
    { attrs_run,
      INPUT("\xfe\xfe\xfe\xfe\xfe\xfe\xc6\xcf\x00\x00"
            "\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
            "\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
      "tracer: name and version repaired to UTF-8" },
    { otlp_run,
      INPUT("\xf0\xf0\xf0\xf0\xf0\xf0\x00\x00\x01\xff\x01\xc3\xd1\xd1"
            "\x00\x00\x00\x00\x00\x00\x01s"
            "\x00\x00\x00\x00\x00\x00\x03\xe8\x00"
            "\x00\x00\x00\x00\x00\x00\x07\xd0"),
      "otlp: scope name and version valid UTF-8 on the wire" },
    /* scan_props: a property with an empty value ("p= ") took the OWS
     * after '=' into the metadata. */
    { baggage_run, INPUT("\x00\x00k=v;p= ,x=y"),
      "baggage: no trailing OWS in the metadata of 'k=v;p= '" },
    { baggage_run, INPUT("Z*-=;-Z;-= ,J,\x1fJ,J,J"),
      "baggage: the fuzzer's input for the same" },
    /* has_prefix folded every byte with | 0x20: '\r' matched '-'. */
    { fj_run, INPUT("\x02uberctx\rk\nv"),
      "jaeger: uberctx\\rk is no baggage header" },
    { fo_run, INPUT("\x81ot-baggage\rk\nv"),
      "ottrace: ot-baggage\\rk is no baggage header" },
    /* millis() overflowed int64 on a duration of 30 digits. */
    { fu_run, INPUT("\x1f\x2c\x32\x5b\x2e\x30\x2e\x30\x2e\x5b\x3a\x31\x11\x2d"
            "\x31\x0a\x32\x30\x30\x0a\x30\x39\x39\x39\x39\x39\x39\x39"
            "\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39"
            "\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39"
            "\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39"
            "\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39\x39"
            "\x39\x39\x39\x39\x39\x39\x39\x39\x2e\x30\x30\x31\x0a\x30"
            "\x0f\xe8\x00\x00\xd0\x62\x00\x00\x2e\x30\x31\x32\x30\x2e"
            "\x31\x32\x30"),
      "upstream: a duration of 30 digits does not overflow" },
};

static void replay_corpus(size_t t)
{
    char path[512];
    struct dirent *de;
    size_t n = 0, bad = 0;
    FILE *f;
    DIR *d;

    snprintf(path, sizeof(path), "fuzz/corpus/%s", targets[t].name);
    if (!(d = opendir(path))) {
        printf("# %s not found: run from the top directory\n", path);
        return;
    }
    while ((de = readdir(d))) {
        static uint8_t buf[1 << 16];
        size_t len;

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "fuzz/corpus/%s/%s", targets[t].name,
                 de->d_name);
        if (!(f = fopen(path, "rb"))) {
            continue;
        }
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        n++;
        if (!replay(targets[t].run, buf, len)) {
            printf("# seed %s fails\n", path);
            bad++;
        }
    }
    closedir(d);
    CHECK(n > 0 && bad == 0, "corpus %s: %zu seeds, %zu fail",
          targets[t].name, n, bad);
}

int main(void)
{
    size_t i;

    kvlist_init();
    attrs_init();
    otlp_init();
    traceparent_init();
    baggage_init();
    b3_init();
    response_init();
    grpc_init();
    fu_init();
    for (i = 0; i < sizeof(found) / sizeof(found[0]); i++) {
        CHECK(replay(found[i].run, found[i].data, found[i].size), "%s",
              found[i].what);
    }
    for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        replay_corpus(i);
    }
    return tap_done();
}
