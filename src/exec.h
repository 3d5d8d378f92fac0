/*
 * exec.h -- the query engine's data: typed vectors of a batch of rows, the
 * arena their memory comes from, a result's columns and a query's
 * statistics. Everything the executor (exec_*.c), the planner (sql_*.c) and
 * the result encoders (query_out.c) pass between them.
 *
 * A vector holds n values of one of a few execution types, whatever the
 * stored type was: every integer type is INT64, FLOAT32 and DECIMAL become
 * FLOAT64, TIMESTAMP is INT64 microseconds since the epoch (UTC), DATE is
 * INT64 days, STRING, JSON, BINARY (as its bytes), UUID and TIME (as text)
 * are STRING. Few types keep the kernels few; every value of a stored type
 * fits its execution type exactly (a UINT64 above INT64_MAX and a DECIMAL
 * past 2^53 excepted: the scan refuses the first, the second rounds).
 *
 * Nulls are bytes, not bits (nulls[i] != 0: row i is null; a NULL pointer:
 * no row is), and booleans are bytes (0 or 1): kernels then loop over
 * arrays with no bit arithmetic. The value slot of a null row holds
 * something of the right type (0, "") and must be ignored. Strings are
 * views (pointer, length) into memory that outlives the batch: a scanned
 * column's data, or the batch's arena.
 *
 * A string vector read from a dictionary-encoded column may carry the
 * dictionary's codes beside its views: codes[i] is row i's index in dict
 * (for a row that is not null), whose views the row's view equals. Kernels
 * that know nothing of codes read the views as usual; hash aggregation
 * groups by the codes instead of hashing each row's bytes. A vector made
 * from another keeps the codes only where its rows are the same rows
 * (sliced along with them, gathered by a selection), else has none.
 *
 * A batch has at most EXEC_BATCH_ROWS rows. A selection vector, where one
 * is passed, lists the rows (ascending) an operation applies to; the others
 * are left as they were.
 */
#ifndef URSA_EXEC_H
#define URSA_EXEC_H

#include "common.h"

#include <stdint.h>

#define EXEC_BATCH_ROWS 4096

typedef enum exec_type {
    EXEC_NULL = 0,  /* the type of a bare NULL literal: every row null */
    EXEC_BOOL,      /* uint8_t 0 or 1 */
    EXEC_INT64,     /* int64_t */
    EXEC_FLOAT64,   /* double */
    EXEC_STRING,    /* exec_str_t: UTF-8 text (bytes of BINARY columns as they are) */
    EXEC_TIMESTAMP, /* int64_t microseconds since 1970-01-01 00:00:00 UTC */
    EXEC_DATE,      /* int64_t days since 1970-01-01 */
    EXEC_INTERVAL,  /* exec_interval_t */
    EXEC_TYPE_COUNT_
} exec_type_t;

typedef struct exec_str {
    const char *p;
    size_t n;
} exec_str_t;

/* An interval as PostgreSQL keeps one: months, days and microseconds do
 * not convert into each other (a month has no fixed length). */
typedef struct exec_interval {
    int32_t months;
    int32_t days;
    int64_t us;
} exec_interval_t;

/* The SQL name of a type: "boolean", "bigint", "double", "varchar",
 * "timestamp", "date", "interval", "null". */
const char *exec_type_name(exec_type_t t);

/* A dictionary of strings: n views; id tells one dictionary from every
 * other the process has made (never 0). */
typedef struct exec_dict {
    const exec_str_t *vals;
    size_t n;
    uint64_t id;
} exec_dict_t;

typedef struct exec_vec {
    exec_type_t type;
    size_t n;
    uint8_t *nulls;        /* n bytes, nonzero = null; NULL when no row is null */
    const uint32_t *codes; /* STRING from a dictionary: each row's index in dict; else NULL */
    const exec_dict_t *dict;
    union {
        uint8_t *b;          /* BOOL */
        int64_t *i;          /* INT64, TIMESTAMP, DATE */
        double *f;           /* FLOAT64 */
        exec_str_t *s;       /* STRING */
        exec_interval_t *iv; /* INTERVAL */
        void *p;
    } v;
} exec_vec_t;

static inline bool exec_is_null(const exec_vec_t *v, size_t i)
{
    return v->nulls && v->nulls[i];
}

/* Bytes of one value of type t in a vector (0 for EXEC_NULL). */
size_t exec_type_width(exec_type_t t);

/* v's rows [from, from + n) as a vector of their own, sharing v's memory. */
static inline exec_vec_t exec_vec_slice(const exec_vec_t *v, size_t from, size_t n)
{
    exec_vec_t s = *v;
    size_t w = exec_type_width(v->type);
    if (w) s.v.p = (char *)s.v.p + from * w;
    if (s.nulls) s.nulls += from;
    if (s.codes) s.codes += from;
    s.n = n;
    return s;
}

/* A batch: ncols vectors of n rows each. */
typedef struct exec_batch {
    exec_vec_t *cols;
    size_t ncols;
    size_t n;
} exec_batch_t;

/*
 * The arena: memory of a batch's vectors and of the strings computed for
 * it, freed all at once. Allocation bumps a pointer in blocks of at least
 * 64 KiB; every byte is counted against the query's memory budget (the
 * budget may be NULL: not counted).
 */
typedef struct exec_budget exec_budget_t;

typedef struct exec_arena {
    struct exec_arena_block *head;
    size_t used; /* bytes of blocks held */
    exec_budget_t *budget;
} exec_arena_t;

void exec_arena_init(exec_arena_t *a, exec_budget_t *budget);
/* n bytes aligned to 16, or NULL (out of memory, or past the budget). */
void *exec_arena_alloc(exec_arena_t *a, size_t n);
/* Frees every block but the first, which is kept for reuse. */
void exec_arena_reset(exec_arena_t *a);
void exec_arena_free(exec_arena_t *a);

/* Allocates v's storage in a for n rows of type t (values uninitialized,
 * nulls NULL). URSA_ENOMEM when the arena cannot. */
int exec_vec_alloc(exec_vec_t *v, exec_arena_t *a, exec_type_t t, size_t n) URSA_MUST_CHECK;
/* Gives v a nulls array in a, all zero, when it has none. */
int exec_vec_nulls(exec_vec_t *v, exec_arena_t *a) URSA_MUST_CHECK;

/*
 * The memory budget of one query: bytes its arenas, hash tables, sort runs
 * and results hold. Past the limit an allocation fails and the query ends
 * with URSA_ELIMIT (a 4xx naming the budget), never with the process out
 * of memory.
 */
struct exec_budget {
    size_t limit; /* 0: none */
    size_t used;
    size_t peak;
};
/* Counts n more bytes: false (nothing counted) when that passes the limit.
 * Safe from several threads at once (a query's workers share it). */
bool exec_budget_take(exec_budget_t *b, size_t n);
void exec_budget_give(exec_budget_t *b, size_t n);

/* A result's shape: names and types of its columns. */
typedef struct exec_schema {
    char **names; /* owned */
    exec_type_t *types;
    size_t n;
} exec_schema_t;

void exec_schema_free(exec_schema_t *s);

/* What a query did, for the answer's statistics and for EXPLAIN ANALYZE-like
 * lines. Counted by the scans; read when the query ends. */
typedef struct exec_stats {
    uint64_t rows;              /* rows of the result */
    uint64_t rows_scanned;      /* rows the scans produced (after pruning, before WHERE) */
    uint64_t live_rows;         /* ... of them from buffers (this node's and its peers') */
    uint64_t files;             /* data files of the pinned snapshot */
    uint64_t files_pruned;      /* ... not opened: their day outside WHERE's time range */
    uint64_t row_groups;        /* row groups of the files opened */
    uint64_t row_groups_pruned; /* ... skipped by statistics or bloom filters */
    uint64_t pages;             /* data pages of the column chunks read (under predicates; not counted for
                                   row groups read a window at a time) */
    uint64_t pages_pruned;      /* ... skipped by the page index */
    uint64_t bytes_read;        /* bytes fetched from the store */
    uint64_t peak_bytes;        /* the memory budget's peak */
    double seconds;
    int64_t snapshot_id; /* the table snapshot the query pinned; -1: none */
    unsigned nodes;      /* nodes whose buffered rows were read, this one included */
    char missing[256];   /* with partial answers: the nodes that could not be reached, comma-separated */
} exec_stats_t;

/*
 * Batches on the wire, between nodes (a peer's buffered rows for a query):
 * "URSQ", then per batch a u32 row count (0 ends the stream) and per
 * column a u8 (1: a null byte per row follows) and the values: fixed-width
 * types as they are in memory (little-endian), strings as u32 lengths and
 * then their bytes. Types and column count are agreed beforehand (the
 * schema is sent ahead).
 */
int exec_batch_encode(const exec_batch_t *b, ursa_buf_t *out) URSA_MUST_CHECK;

/* Reads one batch of ncols columns of types[] from p[*at..n) into out
 * (memory from a; strings point into p), advancing *at. out->n 0: the end.
 * URSA_EFORMAT when the bytes do not fit. */
int exec_batch_decode(const uint8_t *p, size_t n, size_t *at, const exec_type_t *types, size_t ncols,
                      exec_arena_t *a, exec_batch_t *out) URSA_MUST_CHECK;

#endif
