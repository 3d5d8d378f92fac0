/*
 * sort.h -- ordering rows by a sort key (a dataset's "sort_by").
 *
 * The order, ascending, for every orderable type (ursa_type_orderable):
 *   - nulls first (before every value; Iceberg's default for ascending);
 *   - signed integers, decimals (int64 or int128 unscaled), date, time and
 *     timestamps as signed numbers; unsigned integers as unsigned;
 *   - floats numerically, -0.0 equal to +0.0, every NaN after +infinity
 *     and equal to every other NaN;
 *   - false before true;
 *   - strings, binary and uuid by their bytes, unsigned, a prefix first
 *     (the order of Parquet's statistics for these types).
 * A key of several columns compares them in order; rows equal on the whole
 * key keep their order (the sort is stable).
 */
#ifndef URSA_SORT_H
#define URSA_SORT_H

#include "column.h"

/* Compares row i of a with row j of b (columns of the same type and
 * width): <0, 0, >0 in the order above. */
int ursa_sort_cmp(const ursa_column_t *a, size_t i, const ursa_column_t *b, size_t j);

/* Sorts refs[0..n) (URSA_ROW_REF rows of batches) stably by the columns
 * keys[0..nkeys) of the batches (each batch holds at least those columns).
 * *moved is set false when the refs were in order already (nothing was
 * done, nor allocated), true when they were reordered. Scratch memory: 8
 * bytes per ref, allocated and freed here. URSA_OK or URSA_ENOMEM (refs
 * unchanged then). */
int ursa_sort_refs(ursa_batch_t *const *batches, const int *keys, size_t nkeys, uint64_t *refs, size_t n,
                   bool *moved) URSA_MUST_CHECK;

#endif
