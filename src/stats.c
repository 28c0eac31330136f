/* Process-wide counters: every drop, truncation and ignored call. */
#include "internal.h"

_Atomic uint64_t otel__stats[OTEL_STAT__COUNT];

static const char *const names[OTEL_STAT__COUNT] = {
    [OTEL_STAT_SPANS_STARTED] = "spans_started",
    [OTEL_STAT_SPANS_ENDED] = "spans_ended",
    [OTEL_STAT_SPANS_SAMPLED_OUT] = "spans_sampled_out",
    [OTEL_STAT_SPANS_EXPORTED] = "spans_exported",
    [OTEL_STAT_SPANS_QUEUED] = "spans_queued",
    [OTEL_STAT_SPANS_DROPPED_QUEUE_FULL] = "spans_dropped_queue_full",
    [OTEL_STAT_SPANS_DROPPED_EXPORT_FAILED] = "spans_dropped_export_failed",
    [OTEL_STAT_SPANS_DROPPED_REJECTED] = "spans_dropped_rejected",
    [OTEL_STAT_SPANS_DROPPED_SHUTDOWN] = "spans_dropped_shutdown",
    [OTEL_STAT_SPANS_ABANDONED] = "spans_abandoned",
    [OTEL_STAT_ATTRIBUTES_DROPPED] = "attributes_dropped",
    [OTEL_STAT_EVENTS_DROPPED] = "events_dropped",
    [OTEL_STAT_LINKS_DROPPED] = "links_dropped",
    [OTEL_STAT_VALUES_TRUNCATED] = "values_truncated",
    [OTEL_STAT_VALUES_REJECTED] = "values_rejected",
    [OTEL_STAT_VALUES_REPAIRED] = "values_repaired",
    [OTEL_STAT_STALE_HANDLE_CALLS] = "stale_handle_calls",
    [OTEL_STAT_DETACH_MISMATCHES] = "detach_mismatches",
    [OTEL_STAT_EXPORT_REQUESTS] = "export_requests",
    [OTEL_STAT_EXPORT_RETRIES] = "export_retries",
    [OTEL_STAT_EXPORT_FAILURES] = "export_failures",
    [OTEL_STAT_EXPORT_BYTES] = "export_bytes",
    [OTEL_STAT_PROPAGATION_INVALID] = "propagation_invalid",
    [OTEL_STAT_SAMPLER_ERRORS] = "sampler_errors",
};

OTEL_API int otel_stats_count(void)
{
    return OTEL_STAT__COUNT;
}

OTEL_API const char *otel_stats_name(int i)
{
    return (i >= 0 && i < OTEL_STAT__COUNT) ? names[i] : NULL;
}

OTEL_API uint64_t otel_stats_get(int i)
{
    if (i < 0 || i >= OTEL_STAT__COUNT) {
        return 0;
    }
    return atomic_load_explicit(&otel__stats[i], memory_order_relaxed);
}

OTEL_API void otel_stats_add(int i, uint64_t n)
{
    if (i >= 0 && i < OTEL_STAT__COUNT) {
        otel__stat_add(i, n);
    }
}

OTEL_API int otel_version(void)
{
    return OTEL_VERSION_NUM;
}

OTEL_API const char *otel_strerror(int status)
{
    switch (status) {
    case OTEL_OK:        return "ok";
    case OTEL_EINVAL:    return "invalid argument";
    case OTEL_ENOMEM:    return "out of memory";
    case OTEL_ESTATE:    return "not allowed in this state";
    case OTEL_ETIMEDOUT: return "timed out";
    case OTEL_ESTALE:    return "span already ended";
    case OTEL_ELIMIT:    return "dropped by a span limit";
    case OTEL_EREJECTED: return "value rejected";
    case OTEL_EEXPORT:   return "export failed";
    case OTEL_EUNSUPP:   return "not supported by this build";
    default:             return "unknown status";
    }
}
