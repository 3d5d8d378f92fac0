/*
 * exec_run.h -- runs a plan: batches from a source through WHERE, the
 * aggregation, the select list, ORDER BY and LIMIT, to a consumer.
 *
 * A source gives batches of the plan's scan columns; how it found them
 * (buffers, files, other nodes) is its own business. Every batch's memory
 * comes from one arena, reset before the next: a query holds one batch
 * of each stage at a time, plus what aggregation and sorting keep, all
 * counted against its budget. Without ORDER BY and aggregation the run
 * stops reading as soon as OFFSET + LIMIT rows are out.
 *
 * Between batches the run asks `check` whether to go on (a deadline, a
 * client gone): a non-zero status ends it with that error. `check` and the
 * source's `next` are called from the workers' threads (exec_run_sources);
 * `emit` under the run's lock, one call at a time.
 */
#ifndef URSA_EXEC_RUN_H
#define URSA_EXEC_RUN_H

#include "exec.h"
#include "sql_plan.h"

typedef struct exec_source {
    /* The next batch of scan columns into *out (out->n 0 at the end). */
    int (*next)(void *ctx, exec_arena_t *arena, exec_batch_t *out, ursa_err_t *err);
    void *ctx;
} exec_source_t;

typedef struct exec_run_opts {
    exec_budget_t *budget;
    int (*check)(void *ctx, ursa_err_t *err); /* NULL: never stop */
    void *check_ctx;
    /* receives the result, visible columns only, in order */
    int (*emit)(void *ctx, const exec_batch_t *b, ursa_err_t *err);
    void *emit_ctx;
    /* rows_scanned counted here; the rest of stats by the source */
    exec_stats_t *stats;
    /* only the scan and WHERE: emit gets the filtered scan batches (a peer's part of a query) */
    bool scan_only;
} exec_run_opts_t;

int exec_run(const sql_plan_t *p, exec_source_t *src, const exec_run_opts_t *o,
             ursa_err_t *err) URSA_MUST_CHECK;

/* The same over nsrc sources, each read by a worker thread of its own (the
 * caller's thread is the first): a query's rows split into shares. Without
 * ORDER BY the order in which shares' rows come out is not defined. */
int exec_run_sources(const sql_plan_t *p, exec_source_t *srcs, size_t nsrc, const exec_run_opts_t *o,
                     ursa_err_t *err) URSA_MUST_CHECK;

#endif
