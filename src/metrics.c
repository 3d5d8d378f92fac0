/*
 * metrics.c -- the counters and their Prometheus rendering.
 */
#include "metrics.h"

#include <stddef.h>
#include <string.h>

ursa_metrics_t ursa_metrics;

int ursa_metrics_render(ursa_buf_t *b)
{
    static const struct {
        const char *name, *help;
        size_t off;
        bool ms; /* kept in milliseconds, shown in seconds */
    } counters[] = {
#define C(f, n, h) {n, h, offsetof(ursa_metrics_t, f), false}
        C(ingest_requests, "ursa_ingest_requests_total", "Ingest requests answered."),
        C(rows_accepted, "ursa_rows_accepted_total", "Records accepted into buffers."),
        C(rows_rejected, "ursa_rows_rejected_total", "Records rejected with a row error."),
        C(quarantined_rows, "ursa_quarantined_rows_total", "Rejected records kept in a quarantine."),
        C(quarantine_dropped_rows, "ursa_quarantine_dropped_rows_total",
          "Rejected records not kept: past the quarantine cap of their request."),
        C(ingest_bytes, "ursa_ingest_bytes_total", "Request body bytes received for ingest."),
        C(flushes_ok, "ursa_flushes_total{result=\"ok\"}",
          "Flushes of a dataset (failures include quarantines)."),
        C(flushes_failed, "ursa_flushes_total{result=\"error\"}", NULL),
        C(flush_rows, "ursa_flush_rows_total", "Rows written to Parquet files."),
        C(flush_files, "ursa_flush_files_total", "Parquet files published."),
        C(table_commits, "ursa_table_commits_total", "Flushes committed to a dataset's Iceberg table."),
        C(table_commits_failed, "ursa_table_commits_failed_total",
          "Table commits that failed (the files stay published; the next flush retries)."),
        C(table_upkeeps, "ursa_table_upkeeps_total{result=\"ok\"}",
          "Upkeep runs on a dataset's Iceberg table (expiry, deletes)."),
        C(table_upkeeps_failed, "ursa_table_upkeeps_total{result=\"error\"}", NULL),
        C(table_snapshots_expired, "ursa_table_snapshots_expired_total",
          "Snapshots removed from tables after the retention."),
        C(table_deleted_data, "ursa_table_files_deleted_total{kind=\"data\"}",
          "Files upkeep deleted: data files no retained snapshot has, manifests, manifest lists, metadata "
          "files."),
        C(table_deleted_manifests, "ursa_table_files_deleted_total{kind=\"manifest\"}", NULL),
        C(table_deleted_lists, "ursa_table_files_deleted_total{kind=\"manifest_list\"}", NULL),
        C(table_deleted_metadata, "ursa_table_files_deleted_total{kind=\"metadata\"}", NULL),
        C(flush_bytes, "ursa_flush_bytes_total", "Bytes of Parquet files published."),
        C(quarantine_flush_rows, "ursa_quarantine_flush_rows_total",
          "Quarantined rows written to Parquet files."),
        C(quarantine_flush_files, "ursa_quarantine_flush_files_total", "Quarantine Parquet files published."),
        C(compactions_ok, "ursa_compactions_total{result=\"ok\"}",
          "Compactions of a dataset-day: committed, lost to another compaction (its output deleted), "
          "failed."),
        C(compactions_lost, "ursa_compactions_total{result=\"conflict\"}", NULL),
        C(compactions_failed, "ursa_compactions_total{result=\"error\"}", NULL),
        C(compaction_files_in, "ursa_compaction_files_total{side=\"in\"}",
          "Files merged by committed compactions, and files they wrote."),
        C(compaction_files_out, "ursa_compaction_files_total{side=\"out\"}", NULL),
        C(compaction_bytes_in, "ursa_compaction_bytes_total{side=\"in\"}",
          "Bytes of the files merged by committed compactions, and of the files they wrote."),
        C(compaction_bytes_out, "ursa_compaction_bytes_total{side=\"out\"}", NULL),
        C(compaction_rows, "ursa_compaction_rows_total", "Rows rewritten by committed compactions."),
        {"ursa_compaction_seconds_total", "Time spent compacting (committed, lost and failed compactions).",
         offsetof(ursa_metrics_t, compaction_ms), true},
        C(s3_requests, "ursa_s3_requests_total", "S3 requests made, retries included."),
        C(s3_retries, "ursa_s3_retries_total", "S3 requests retried after a failure."),
        C(s3_failures, "ursa_s3_failures_total", "S3 operations that failed after their retries."),
        C(backpressure, "ursa_backpressure_total", "Ingest requests refused with 429/503 over a budget."),
        C(slow_bodies_cut, "ursa_slow_bodies_cut_total",
          "Requests whose connection was closed: the body arrived slower than --min-body-rate."),
        C(live_results_sent, "ursa_live_results_total{outcome=\"sent\"}",
          "Live query results sent, and those replaced by a newer one before they could be (coalesced)."),
        C(live_results_coalesced, "ursa_live_results_total{outcome=\"coalesced\"}", NULL),
        C(live_runs_shared, "ursa_live_shared_runs_total",
          "Live results a subscription took from another's run of the same query, instead of a run of its "
          "own."),
        C(live_closed_slow, "ursa_live_slow_closed_total",
          "Live connections closed (1008) because a result could not be sent within --live-send-timeout."),
        C(auth_missing, "ursa_auth_refused_total{reason=\"missing\"}",
          "Requests refused by API key checks: no key (401), a key not valid (401), a key without the scope "
          "(403), an address past --auth-fail-limit (429)."),
        C(auth_invalid, "ursa_auth_refused_total{reason=\"invalid\"}", NULL),
        C(auth_denied, "ursa_auth_refused_total{reason=\"scope\"}", NULL),
        C(auth_limited, "ursa_auth_refused_total{reason=\"limited\"}", NULL),
#undef C
    };
    int rc = URSA_OK;
    for (size_t i = 0; i < URSA_ARRAY_LEN(counters) && rc == URSA_OK; i++) {
        const atomic_ullong *v =
            (const atomic_ullong *)(const void *)((const char *)&ursa_metrics + counters[i].off);
        if (counters[i].help) {
            size_t base = strcspn(counters[i].name, "{");
            rc = ursa_buf_printf(b, "# HELP %.*s %s\n# TYPE %.*s counter\n", (int)base, counters[i].name,
                                 counters[i].help, (int)base, counters[i].name);
        }
        unsigned long long x = atomic_load(v);
        if (rc == URSA_OK && counters[i].ms)
            rc = ursa_buf_printf(b, "%s %llu.%03llu\n", counters[i].name, x / 1000, x % 1000);
        else if (rc == URSA_OK)
            rc = ursa_buf_printf(b, "%s %llu\n", counters[i].name, x);
    }
    if (rc == URSA_OK)
        rc = ursa_buf_printf(b,
                             "# HELP ursa_memory_bytes Bytes allocated through Ursa's allocator.\n"
                             "# TYPE ursa_memory_bytes gauge\nursa_memory_bytes %zu\n"
                             "# HELP ursa_memory_peak_bytes The most bytes ever allocated at once.\n"
                             "# TYPE ursa_memory_peak_bytes gauge\nursa_memory_peak_bytes %zu\n",
                             ursa_mem_used(), ursa_mem_peak());
    return rc;
}
