/*
 * exec_agg.h -- hash aggregation: GROUP BY keys and aggregate states.
 *
 * Each batch's key vectors are encoded row by row into byte strings (a null
 * flag and the value per key: 8 bytes for numbers and times, the bytes of a
 * string behind its length), hashed, and looked up in an open-addressing
 * table of groups; the group ids of the batch's rows then drive one update
 * loop per aggregate. Groups keep the order in which they were first met.
 * Without keys there is one group, present even when no row arrives (so
 * count(*) of nothing is 0 and sum of nothing NULL).
 *
 * Memory: the table, the encoded keys, and per group the aggregates'
 * states (a count distinct keeps every distinct (group, value) pair -- of
 * numbers without GROUP BY, the values themselves, made distinct past 16 Mi
 * of them and at the end; a quantile every value; approx_count_distinct a
 * 4 KiB HyperLogLog) -- all counted against the query's budget: past it,
 * URSA_ELIMIT. Several workers each aggregate a share; exec_agg_merge joins
 * them.
 */
#ifndef URSA_EXEC_AGG_H
#define URSA_EXEC_AGG_H

#include "exec.h"
#include "sql_plan.h"

typedef struct exec_agg exec_agg_t;

int exec_agg_new(exec_agg_t **out, const sql_plan_t *p, exec_budget_t *budget) URSA_MUST_CHECK;
void exec_agg_free(exec_agg_t **a);

/* Adds n rows: keys[0..nkeys) and args[0..naggs) (args[i] unused for
 * count(*)), all of n rows. */
int exec_agg_add(exec_agg_t *a, const exec_vec_t *keys, const exec_vec_t *args, size_t n,
                 ursa_err_t *err) URSA_MUST_CHECK;

/* The number of groups. */
size_t exec_agg_groups(const exec_agg_t *a);

/* Groups [from, from + n) as a batch of nkeys + naggs columns (memory from
 * arena; strings point into the aggregation's own memory, valid until
 * exec_agg_free). */
int exec_agg_result(exec_agg_t *a, size_t from, size_t n, exec_arena_t *arena, exec_batch_t *out,
                    ursa_err_t *err) URSA_MUST_CHECK;

/* Adds what `from` aggregated (same plan; another worker's share of the
 * rows) into a: its groups joined by key, their states combined (counts
 * and sums added, min/max compared, distinct sets united, HyperLogLog
 * registers maxed, quantile values appended). from is left as it was. */
int exec_agg_merge(exec_agg_t *a, exec_agg_t *from, ursa_err_t *err) URSA_MUST_CHECK;

#endif
