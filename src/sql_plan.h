/*
 * sql_plan.h -- from SQL text to a plan the executor runs: PostgreSQL's
 * own parser (libpg_query, Debian's libpg-query-dev) gives the parse tree;
 * here names are resolved against the dataset's schema, types decided,
 * casts made explicit, constants folded, and the query cut into the
 * stages of one fixed pipeline:
 *
 *   scan (the columns used) -> WHERE -> [GROUP BY keys + aggregates ->
 *   HAVING] -> select list (+ hidden ORDER BY columns) -> ORDER BY ->
 *   OFFSET / LIMIT
 *
 * Anything outside the subset the engine runs (joins, subqueries, window
 * functions, set operations, DISTINCT, functions it does not know) is an
 * error naming the construct -- a 400 -- never a wrong answer.
 *
 * Conjuncts of WHERE of the form `column op constant` (=, <, <=, >, >=,
 * BETWEEN, IN, IS [NOT] NULL) are also listed as pushdown predicates, for
 * the scans to skip files, row groups and pages; the WHERE expression is
 * still evaluated on every row read, so a predicate only ever skips rows
 * that could not match.
 */
#ifndef URSA_SQL_PLAN_H
#define URSA_SQL_PLAN_H

#include "exec_expr.h"
#include "schema.h"

typedef enum sql_agg_kind {
    AGG_COUNT_STAR,
    AGG_COUNT,
    AGG_COUNT_DISTINCT,
    AGG_SUM,
    AGG_AVG,
    AGG_MIN,
    AGG_MAX,
    AGG_APPROX_DISTINCT, /* HyperLogLog */
    AGG_QUANTILE_CONT,   /* percentile_cont(f) WITHIN GROUP (ORDER BY x), exact */
    AGG_APPROX_QUANTILE  /* approx_quantile(x, f): the exact quantile, in x's type */
} sql_agg_kind_t;

typedef struct sql_agg {
    sql_agg_kind_t kind;
    exec_expr_t *arg; /* over the scan batch; NULL for count(*) */
    exec_type_t type; /* the result's */
    double fraction;  /* quantiles */
} sql_agg_t;

/* A pushdown predicate: scan column `col` op the constants. */
typedef enum sql_pred_op {
    PRED_EQ,
    PRED_LT,
    PRED_LE,
    PRED_GT,
    PRED_GE,
    PRED_IN,
    PRED_IS_NULL,
    PRED_NOT_NULL
} sql_pred_op_t;

typedef struct sql_pred {
    size_t col; /* scan column */
    sql_pred_op_t op;
    exec_value_t *vals; /* of the column's exec type; owned */
    size_t nvals;
} sql_pred_t;

typedef struct sql_sort_key {
    size_t col; /* in the projected batch */
    bool desc, nulls_first;
} sql_sort_key_t;

typedef struct sql_plan {
    bool explain;
    char *dataset; /* owned */
    bool quarantine;
    /* the scan: dataset fields read, their names and execution types */
    size_t nscan;
    size_t *scan_fields;
    exec_type_t *scan_types;
    exec_expr_t *where; /* over the scan batch, or NULL */
    sql_pred_t *preds;
    size_t npreds;
    /* the time column's bounds from WHERE (inclusive µs; INT64_MIN/MAX when open), or time_col -1 */
    int time_col; /* scan column of the dataset's time column, -1 when not scanned */
    int64_t ts_lo, ts_hi;
    /* aggregation: keys and aggregates over the scan batch; HAVING over [keys, aggregates] */
    bool aggregate;
    exec_expr_t **keys;
    size_t nkeys;
    sql_agg_t *aggs;
    size_t naggs;
    exec_expr_t *having;
    /* the select list (nvisible) and the ORDER BY columns not in it, over [keys, aggregates] or the scan */
    exec_expr_t **outs;
    size_t nouts, nvisible;
    char **names; /* nvisible */
    sql_sort_key_t *order;
    size_t norder;
    int64_t limit; /* -1: none */
    int64_t offset;
} sql_plan_t;

/* Finds a dataset's schema for the planner: *s stays valid while the plan
 * is used. URSA_ENOTFOUND when there is no such dataset. */
typedef int (*sql_resolve_fn)(void *ctx, const char *dataset, bool quarantine, const ursa_schema_t **s,
                              ursa_err_t *err);

/* Plans sql. now_us is what now() and CURRENT_TIMESTAMP give. URSA_EINVAL
 * (err says what, naming the construct) for SQL that does not parse or
 * is outside the subset; URSA_ENOTFOUND for an unknown dataset. */
int sql_plan(const char *sql, sql_resolve_fn resolve, void *ctx, int64_t now_us, sql_plan_t **out,
             ursa_err_t *err) URSA_MUST_CHECK;
void sql_plan_free(sql_plan_t **p);

/* The execution type of a stored type. */
exec_type_t sql_exec_type(ursa_type_t t);

#endif
