/*
 * query.h -- a SQL query over one dataset: its rows still in memory (this
 * node's buffer) and its table's files, as one relation, at one point in
 * time.
 *
 * Exactness. A query first pins the buffer (every chunk of the list and
 * of the flushes in progress or waiting for their commit, held so none is
 * freed), then loads the table's metadata once: the snapshot's files and
 * every node's last commit key. A buffered row counts unless that key
 * says the snapshot has it already (table_commit_covers: its LSN, its
 * day); every other row is in the snapshot's files. Chunks leave the
 * buffer only after their commit, and the metadata is loaded after the
 * pin, so a row acknowledged before the query began is either in the pin
 * or in the snapshot -- counted once -- whatever flushes, commits and
 * compactions (which change files, not commit keys) do meanwhile.
 *
 * Several nodes: the node a query reaches asks every other node whose
 * heartbeat is fresh (peers.h) for the rows of its buffer that pass WHERE,
 * each with its log position and day (query_scan_live), after pinning its
 * own buffer and before loading the table; a peer pins its buffer when
 * the request arrives. The snapshot loaded afterwards is thus newer than
 * every pin, and the same rule, with each peer's own commit key, leaves
 * out the rows it already has. A node that cannot be reached (or whose
 * heartbeat is stale: it died with rows only in its log) fails the query,
 * or with `partial` is named in stats.missing.
 *
 * Pruning: files by the day of their partition against the time column's
 * bounds in WHERE, then row groups and pages by the reader's predicates
 * (statistics, bloom filters, page index) from WHERE's simple conjuncts;
 * only the columns the query uses are read. WHERE itself is evaluated on
 * every row read, so pruning never changes an answer.
 */
#ifndef URSA_QUERY_H
#define URSA_QUERY_H

#include "catalog.h"
#include "exec.h"

typedef struct query_sink {
    /* The result's columns, once, before any row. */
    int (*begin)(void *ctx, const exec_schema_t *s, ursa_err_t *err);
    /* Rows, in order. */
    int (*rows)(void *ctx, const exec_batch_t *b, ursa_err_t *err);
    void *ctx;
} query_sink_t;

struct ursa_peers;

typedef struct query_opts {
    ursa_catalog_t *cat; /* the node's datasets and buffers; NULL: the store's tables only (ursa query) */
    ursa_store_t *store;
    const char *node;        /* this node's name (its commit key), with cat */
    size_t memory_limit;     /* bytes a query may hold; 0: QUERY_MEMORY_DEFAULT */
    int64_t timeout_ms;      /* 0: QUERY_TIMEOUT_DEFAULT_MS */
    bool (*gone)(void *ctx); /* true when the client went away (polled between batches) */
    void *gone_ctx;
    int64_t now_us; /* what now() is; 0: the clock */
    /* the cluster: every other live node is asked for its buffered rows */
    struct ursa_peers *peers; /* NULL: this node alone */
    bool partial;             /* a node that cannot be reached is left out (stats.missing), not an error */
    unsigned threads;         /* workers of one query; 0: one per core (at most QUERY_WORKERS_MAX) */
    /* the caller's right to read a dataset (API keys), asked before the
     * dataset is looked up: URSA_OK, or the error that fails the query;
     * NULL: anyone may */
    int (*allow)(void *ctx, const char *dataset, ursa_err_t *err);
    void *allow_ctx;
    /* a header line sent with the calls to the other nodes (the caller's
     * "Authorization: Bearer ..."); NULL: none */
    const char *forward;
} query_opts_t;

#define QUERY_WORKERS_MAX 16

#define QUERY_MEMORY_DEFAULT     ((size_t)1 << 30)
#define QUERY_TIMEOUT_DEFAULT_MS 300000

/* Runs sql, giving its result to sink and what it did to stats. Errors:
 * URSA_EINVAL (the SQL: a 400), URSA_ENOTFOUND (no such dataset: 404),
 * URSA_ELIMIT (past the memory budget or the timeout: 4xx), URSA_ECANCELED
 * (the client went away), store errors. err names the cause. */
int query_run(const char *sql, const query_opts_t *o, const query_sink_t *sink, exec_stats_t *stats,
              ursa_err_t *err) URSA_MUST_CHECK;

/* The dataset sql reads (its quarantine, for a quarantine query), checking
 * the SQL as query_run would: the same errors. Needs o->cat. */
int query_source(const char *sql, const query_opts_t *o, ursa_dataset_t **d, ursa_err_t *err) URSA_MUST_CHECK;

/* A peer's part of a query (POST /v1/internal/scan, from the node that
 * answers it): the rows of this node's buffer that pass the query's WHERE,
 * the query's scan columns plus each row's log position and day, encoded
 * (exec_batch_encode) behind a header naming this node and the columns.
 * The asking node leaves out the rows its table snapshot already has. */
int query_scan_live(const char *sql, int64_t now_us, const query_opts_t *o, ursa_buf_t *out,
                    ursa_err_t *err) URSA_MUST_CHECK;

#define QUERY_SCAN_PATH "/v1/internal/scan"

#endif
