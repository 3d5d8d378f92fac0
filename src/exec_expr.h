/*
 * exec_expr.h -- typed expression trees and their vectorized evaluation.
 *
 * The planner (sql_plan.c) builds a tree whose every node has its result
 * type decided already, with the casts the type rules need made explicit;
 * evaluation is then a walk of the tree per batch, each node one loop over
 * a vector (a kernel), never a switch per value.
 *
 * Evaluation takes a batch and a selection (the rows, ascending, an
 * expression applies to; NULL: all n rows) and gives a dense vector of one
 * value per selected row. A column with no selection is passed through
 * without a copy. CASE evaluates each branch on the rows that reach it
 * only, so `CASE WHEN x <> 0 THEN 10 / x END` never divides by zero; AND
 * and OR evaluate both sides (SQL promises no order).
 *
 * Semantics follow DuckDB where PostgreSQL and DuckDB differ (Ursa's
 * results are checked against DuckDB): `/` divides as double; x / 0 and
 * x % 0 are NULL; bigint + - * and abs overflow with an error; NaN equals
 * NaN and sorts above every number; three-valued logic for AND, OR, NOT,
 * IN and comparisons with NULL.
 */
#ifndef URSA_EXEC_EXPR_H
#define URSA_EXEC_EXPR_H

#include "exec.h"

typedef enum exec_op {
    /* leaves */
    OP_COL,   /* input column `col` */
    OP_CONST, /* `value` */
    /* arithmetic (numbers; + and - also timestamp/date +- interval) */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_NEG,
    /* comparisons: both sides of one type */
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    /* logic */
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_IS_NULL,
    OP_IS_NOT_NULL,
    OP_IN,    /* args[0] IN (args[1..]) */
    OP_LIKE,  /* args[0] LIKE args[1] (a constant pattern) */
    OP_ILIKE, /* case-insensitive (ASCII and Unicode simple folding) */
    OP_CASE,  /* args: cond, value, cond, value, ..., [else] (nargs odd: with else) */
    OP_CAST,  /* args[0] to e->type */
    OP_COALESCE,
    OP_NULLIF,
    /* strings */
    OP_LOWER,
    OP_UPPER,
    OP_LENGTH, /* characters */
    OP_SUBSTR, /* (s, start[, count]) in characters, 1-based */
    OP_STARTS_WITH,
    OP_CONCAT,    /* concat(): NULL arguments are skipped */
    OP_CONCAT_OP, /* ||: NULL if any side is */
    /* time */
    OP_DATE_TRUNC,  /* (unit constant, ts) */
    OP_TIME_BUCKET, /* (interval constant, ts) */
    OP_EXTRACT,     /* (field constant, ts|date) */
    /* math */
    OP_ABS,
    OP_ROUND, /* (x[, digits]) */
    OP_FLOOR,
    OP_CEIL,
    OP_AGG, /* an aggregate call, only while planning: replaced by OP_COL of the aggregation's output */
    OP_COUNT_
} exec_op_t;

/* A constant value. */
typedef struct exec_value {
    exec_type_t type;
    bool null;
    union {
        int64_t i; /* BOOL, INT64, TIMESTAMP, DATE */
        double f;
        exec_str_t s; /* owned by the tree */
        exec_interval_t iv;
    } v;
} exec_value_t;

typedef struct exec_expr {
    exec_op_t op;
    exec_type_t type;
    size_t col;         /* OP_COL; OP_AGG: the aggregate's index in the plan */
    exec_value_t value; /* OP_CONST */
    int unit;           /* OP_DATE_TRUNC / OP_EXTRACT: an exec_time_unit_t */
    struct exec_expr **args;
    size_t nargs;
    char *text; /* OP_LIKE/ILIKE: the compiled pattern (owned) */
} exec_expr_t;

/* Units of date_trunc and fields of extract. */
typedef enum exec_time_unit {
    TU_MICROSECOND,
    TU_MILLISECOND,
    TU_SECOND,
    TU_MINUTE,
    TU_HOUR,
    TU_DAY,
    TU_WEEK,
    TU_MONTH,
    TU_QUARTER,
    TU_YEAR,
    TU_DECADE,
    TU_CENTURY,
    TU_MILLENNIUM,
    TU_DOW,    /* extract only: 0 = Sunday */
    TU_ISODOW, /* 1 = Monday .. 7 */
    TU_DOY,
    TU_EPOCH, /* seconds since the epoch (a double) */
    TU_COUNT_
} exec_time_unit_t;

/* The unit named s (date_trunc's and extract's spellings, any case);
 * -1 when unknown. */
int exec_time_unit(const char *s);

/* Evaluation context: the arena results come from, and the error. */
typedef struct exec_ctx {
    exec_arena_t *arena;
    ursa_err_t *err;
} exec_ctx_t;

/* out = e over the rows sel[0..n) of in (sel NULL: rows 0..n). Errors
 * (overflow, a bad cast, out of memory) are URSA_EINVAL / URSA_ELIMIT with
 * cx->err set. out's memory is the arena's, or in's (a column passed
 * through). */
int exec_eval(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel, size_t n,
              exec_vec_t *out) URSA_MUST_CHECK;

/* The rows of sel[0..n) (sel NULL: 0..n) where the boolean e is true,
 * into out_sel (room for n), their count into *out_n. */
int exec_filter(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel, size_t n,
                uint32_t *out_sel, size_t *out_n) URSA_MUST_CHECK;

/* out = rows sel[0..n) of v (a copy; strings still point where v's did). */
int exec_vec_gather(exec_ctx_t *cx, const exec_vec_t *v, const uint32_t *sel, size_t n,
                    exec_vec_t *out) URSA_MUST_CHECK;

/* Trees. */
exec_expr_t *exec_expr_new(exec_op_t op, exec_type_t type);
/* Appends a to e's arguments (taking it). URSA_ENOMEM: a freed too. */
int exec_expr_add(exec_expr_t *e, exec_expr_t *a) URSA_MUST_CHECK;
void exec_expr_free(exec_expr_t *e);
bool exec_expr_equal(const exec_expr_t *a, const exec_expr_t *b);
/* Whether e reads no column (a tree of constants, folded by the planner). */
bool exec_expr_is_const(const exec_expr_t *e);

/* Compares two values of type t (not null): <0, 0, >0; floats in total
 * order (NaN last, -0 = 0). */
int exec_cmp_value(exec_type_t t, const exec_vec_t *a, size_t i, const exec_vec_t *b, size_t j);

/* Lower- or upper-cases s[0..n) into out (room for EXEC_CASE_MAP_MAX(n)
 * bytes), one code point to one, as DuckDB maps them (no ß -> SS, no final
 * sigma; invalid UTF-8 kept byte for byte); returns the bytes written. The
 * one mapping of lower(), upper(), ILIKE's values and ILIKE's pattern. */
#define EXEC_CASE_MAP_MAX(n) ((n)*2 + 4)
size_t exec_case_map(const char *s, size_t n, bool upper, char *out);

/* Calendar helpers shared with the planner (the rest is coerce.h's). */
/* Parses "YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z|+HH:MM]" or a date alone into
 * µs since the epoch (a time without an offset is taken as UTC). false
 * when malformed. */
bool exec_parse_timestamp(const char *s, size_t n, int64_t *us);
/* Parses PostgreSQL interval text ("15 minutes", "1 day 2 hours",
 * "1h", "00:05:00"). false when malformed. */
bool exec_parse_interval(const char *s, size_t n, exec_interval_t *iv);
/* t + iv (months first, then days, then µs, as PostgreSQL adds). */
bool exec_ts_add_interval(int64_t ts, const exec_interval_t *iv, int sign, int64_t *out);

#endif
