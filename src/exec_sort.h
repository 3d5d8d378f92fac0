/*
 * exec_sort.h -- ORDER BY: rows kept, sorted, and given back in order;
 * with a LIMIT, only the best rows are kept (a top-N).
 *
 * Rows are copied into the sorter (strings into its own arena), since the
 * batches they came from are gone by the time the last row arrives. With
 * keep > 0 (OFFSET + LIMIT), whenever more than max(2 * keep, 8192) rows
 * are held they are sorted and cut to the best `keep`: memory stays
 * bounded by the limit, and each row is compared O(log keep) times on
 * average. Ties keep arrival order (the sort is stable).
 */
#ifndef URSA_EXEC_SORT_H
#define URSA_EXEC_SORT_H

#include "exec.h"
#include "sql_plan.h"

typedef struct exec_sort exec_sort_t;

/* Sorts rows of ncols columns of the given types by keys (column, order).
 * keep: at most this many rows are wanted (0: all). */
int exec_sort_new(exec_sort_t **out, const exec_type_t *types, size_t ncols, const sql_sort_key_t *keys,
                  size_t nkeys, size_t keep, exec_budget_t *budget) URSA_MUST_CHECK;
void exec_sort_free(exec_sort_t **s);

int exec_sort_add(exec_sort_t *s, const exec_batch_t *b, ursa_err_t *err) URSA_MUST_CHECK;

/* Adds every row `from` holds (same columns and keys: another worker's
 * share) to s. */
int exec_sort_merge(exec_sort_t *s, exec_sort_t *from, ursa_err_t *err) URSA_MUST_CHECK;

/* Sorts what was added; then exec_sort_next gives the rows in order, up to
 * EXEC_BATCH_ROWS at a time (out->n 0 at the end), from arena. */
int exec_sort_finish(exec_sort_t *s, ursa_err_t *err) URSA_MUST_CHECK;
int exec_sort_next(exec_sort_t *s, exec_arena_t *arena, exec_batch_t *out, ursa_err_t *err) URSA_MUST_CHECK;

#endif
