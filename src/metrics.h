/*
 * metrics.h -- process-wide counters, exported at GET /metrics in the
 * Prometheus text format.
 *
 * Counters are plain atomics in one process-wide struct: they are written
 * from every layer (HTTP, flush, store) and read only by the exporter, so
 * passing a context through every call would buy nothing. Per-dataset
 * gauges are read from the catalog at export time.
 */
#ifndef URSA_METRICS_H
#define URSA_METRICS_H

#include "common.h"

#include <stdatomic.h>

typedef struct ursa_metrics {
    atomic_ullong ingest_requests;
    atomic_ullong rows_accepted;
    atomic_ullong rows_rejected;
    atomic_ullong quarantined_rows;        /* refused rows kept in a quarantine */
    atomic_ullong quarantine_dropped_rows; /* refused rows past a request's quarantine cap */
    atomic_ullong quarantine_flush_rows;   /* quarantined rows written to Parquet files */
    atomic_ullong quarantine_flush_files;
    atomic_ullong ingest_bytes;
    atomic_ullong flushes_ok;
    atomic_ullong flushes_failed;
    atomic_ullong flush_rows;
    atomic_ullong flush_files;
    atomic_ullong flush_bytes;
    atomic_ullong table_commits;        /* flushes committed to a dataset's Iceberg table */
    atomic_ullong table_commits_failed; /* ... whose commit failed (retried by the next flush) */
    atomic_ullong table_upkeeps;        /* upkeep runs on a table (table_upkeep) */
    atomic_ullong table_upkeeps_failed;
    atomic_ullong table_snapshots_expired;
    atomic_ullong table_deleted_data; /* files upkeep deleted, by kind */
    atomic_ullong table_deleted_manifests;
    atomic_ullong table_deleted_lists;
    atomic_ullong table_deleted_metadata;
    atomic_ullong compactions_ok;     /* days compacted and committed (compactor.c) */
    atomic_ullong compactions_lost;   /* ... whose inputs another compaction replaced first */
    atomic_ullong compactions_failed; /* ... that failed */
    atomic_ullong compaction_files_in, compaction_files_out;
    atomic_ullong compaction_bytes_in, compaction_bytes_out;
    atomic_ullong compaction_rows;
    atomic_ullong compaction_ms; /* time spent in compactions that did something */
    atomic_ullong s3_requests;
    atomic_ullong s3_retries;
    atomic_ullong s3_failures;            /* operations that failed after their retries */
    atomic_ullong backpressure;           /* ingest requests refused over a budget */
    atomic_ullong slow_bodies_cut;        /* requests cut for a body slower than the floor rate */
    atomic_ullong live_results_sent;      /* results pushed to live subscribers */
    atomic_ullong live_results_coalesced; /* ... replaced by a newer one before they could be sent */
    atomic_ullong live_closed_slow;       /* live connections closed for not reading (1008) */
    atomic_ullong live_runs_shared; /* live results taken from another subscription's run of the same query */
    atomic_ullong auth_missing;     /* requests refused (401) without an API key */
    atomic_ullong auth_invalid;     /* ... with a key that is not valid */
    atomic_ullong auth_denied;      /* ... (403) with a key that lacks the scope */
    atomic_ullong auth_limited;     /* ... (429) from an address past its failed attempts */
} ursa_metrics_t;

extern ursa_metrics_t ursa_metrics;

#define URSA_COUNT(field, n) atomic_fetch_add_explicit(&ursa_metrics.field, (n), memory_order_relaxed)

/* Appends the counters in the Prometheus text format. */
int ursa_metrics_render(ursa_buf_t *b) URSA_MUST_CHECK;

#endif
