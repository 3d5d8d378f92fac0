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
    } counters[] = {
#define C(f, n, h) {n, h, offsetof(ursa_metrics_t, f)}
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
        C(s3_requests, "ursa_s3_requests_total", "S3 requests made, retries included."),
        C(s3_retries, "ursa_s3_retries_total", "S3 requests retried after a failure."),
        C(s3_failures, "ursa_s3_failures_total", "S3 operations that failed after their retries."),
        C(backpressure, "ursa_backpressure_total", "Ingest requests refused with 429/503 over a budget."),
        C(slow_bodies_cut, "ursa_slow_bodies_cut_total",
          "Requests whose connection was closed: the body arrived slower than --min-body-rate."),
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
        if (rc == URSA_OK)
            rc = ursa_buf_printf(b, "%s %llu\n", counters[i].name, (unsigned long long)atomic_load(v));
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
