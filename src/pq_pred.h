/*
 * pq_pred.h -- predicates of the Parquet reader: conditions on a column's
 * values, tested against a value range (statistics, a page's min and max)
 * to skip what cannot match, and against a column's rows to keep what
 * does; and the split-block bloom filter probe.
 *
 * A predicate's values are in the layout of the column's Ursa type (see
 * pq_read.h, "Predicates"); so are the ranges, which the reader converts
 * from the file's physical values first. Nothing here reads a file.
 */
#ifndef URSA_PQ_PRED_H
#define URSA_PQ_PRED_H

#include "column.h"
#include "common.h"
#include "schema.h"

typedef enum pq_op {
    PQ_OP_EQ,
    PQ_OP_LT,
    PQ_OP_LE,
    PQ_OP_GT,
    PQ_OP_GE,
    PQ_OP_BETWEEN, /* vals[0] <= v <= vals[1] */
    PQ_OP_IN,      /* v equals one of vals[0..nvals) */
    PQ_OP_IS_NULL,
    PQ_OP_NOT_NULL
} pq_op_t;

typedef struct pq_value {
    const void *p;
    size_t n;
} pq_value_t;

typedef struct pq_pred {
    size_t col; /* leaf index (pq_reader_find) */
    pq_op_t op;
    const pq_value_t *vals; /* 1 for EQ .. GE, 2 for BETWEEN, nvals for IN, none for the null tests */
    size_t nvals;
} pq_pred_t;

/* Compares two values of Ursa type t in its order: -1, 0, 1, or 2 when
 * unordered (a NaN). Fixed-width values have an = bn = the width. */
int pq_value_cmp(ursa_type_t t, const void *a, size_t an, const void *b, size_t bn);

/* URSA_EINVAL (err says why) when p does not fit a column of field f: an
 * unknown op, the wrong count of values, a value of the wrong size. */
int pq_pred_check(const pq_pred_t *p, const ursa_field_t *f, ursa_err_t *err) URSA_MUST_CHECK;

/* What is known of a set of values (a row group's column chunk, a page). */
typedef struct pq_range {
    const void *min, *max; /* NULL when unknown; in the column's layout */
    size_t min_n, max_n;
    int64_t values;     /* rows, nulls included; -1 when unknown */
    int64_t null_count; /* -1 when unknown */
    bool all_null;      /* known to hold nulls only */
} pq_range_t;

/* False only when no value in r can satisfy p (f: the column's field). */
bool pq_pred_may_match(const pq_pred_t *p, const ursa_field_t *f, const pq_range_t *r);

/* keep[i] &= whether row rows[i] of c satisfies p, for i < n (rows NULL:
 * row i). c is a column of p's column's type. */
void pq_pred_filter(const pq_pred_t *p, const ursa_column_t *c, const uint32_t *rows, size_t n,
                    uint8_t *keep);

/* The bloom filter hash of a value as its PLAIN bytes (XXH64, seed 0). */
uint64_t pq_bloom_hash(const void *p, size_t n);
/* Whether a split-block bloom filter bitset[0..nbytes) (nbytes a multiple
 * of 32) may hold a value of that hash. */
bool pq_bloom_may_contain(const uint8_t *bitset, size_t nbytes, uint64_t hash);

#endif
