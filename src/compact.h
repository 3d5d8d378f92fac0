/*
 * compact.h -- the merge engine of compaction: a dataset-day's Parquet
 * files, each a sorted run by the schema's sort key, merged into one file
 * (or a few, with non-overlapping key ranges) sorted by that key.
 *
 * Usage:
 *   char base[URSA_COMPACT_KEY_MAX];
 *   ursa_compact_name(base, sizeof(base), "ev", "2026-11-23", inputs, n);  // "ev/date=2026-11-23/c-<hex>"
 *   ursa_compact_opts_t o = {store, &schema, ids, &pq, schema_json, inputs, n, base, 0};
 *   ursa_compact_result_t res;
 *   rc = ursa_compact_merge(&o, &res, &err);   // outputs published, or none at all
 *   ... res.outputs[k].key, .rows, .bytes; res.rows_in == res.rows_out
 *   ursa_compact_result_free(&res);
 *
 * The inputs are not touched: replacing them in the table (and deleting
 * them later) is the caller's (docs/internals/compaction.md).
 */
#ifndef URSA_COMPACT_H
#define URSA_COMPACT_H

#include "pq_write.h"
#include "schema.h"
#include "store.h"

#include <stdatomic.h>

/* Room for an output key. */
#define URSA_COMPACT_KEY_MAX 1024
/* The default target size of an output file, in Parquet bytes. */
#define URSA_COMPACT_TARGET_DEFAULT ((uint64_t)1 << 30)
/* The default bound on sorted runs merged at once (each holds one window
 * in memory); an input that is not sorted counts one per run. */
#define URSA_COMPACT_RUNS_DEFAULT 256
/* The default window: the rows of a run read (and decoded) at a time, as
 * bytes of its row group's uncompressed size (never fewer than
 * URSA_COMPACT_WINDOW_MIN_ROWS rows, nor more than the row group; ended on
 * a page bound common to every column when one lies within). Each run
 * holds two windows (the current and the next, loaded ahead). */
#define URSA_COMPACT_WINDOW_DEFAULT  ((size_t)2 << 20)
#define URSA_COMPACT_WINDOW_MIN_ROWS 64
/* The default row group of an output, in uncompressed bytes: the writer
 * holds one (its compressed pages) while the merge runs. */
#define URSA_COMPACT_ROW_GROUP_DEFAULT ((size_t)32 << 20)

typedef struct ursa_compact_opts {
    ursa_store_t *store;
    /* The dataset's current schema: the outputs' columns, in its order.
     * Input columns are matched by name; a column an input lacks reads as
     * nulls there (it must be nullable). Same type required. */
    const ursa_schema_t *schema;
    const int32_t *field_ids;  /* the table's ids of schema's fields, or NULL */
    const pq_write_opts_t *pq; /* codec, encodings, sizes (the catalog's, as the flush uses) */
    const char *schema_json;   /* written as "ursa.schema", or NULL */
    const char *const *inputs; /* store keys, in the order that breaks ties (ursa_compact_merge) */
    size_t ninputs;
    const char *out_base;   /* outputs are "<out_base>-<k>.parquet", k = 0, 1, ... */
    uint64_t target_bytes;  /* an output is cut past this many bytes; 0: URSA_COMPACT_TARGET_DEFAULT */
    size_t max_runs;        /* 0: URSA_COMPACT_RUNS_DEFAULT */
    size_t window_bytes;    /* a run's rows read at a time, in its row group's uncompressed bytes;
                               0: URSA_COMPACT_WINDOW_DEFAULT */
    size_t row_group_bytes; /* the outputs' row groups (uncompressed bytes), in place of pq's;
                               0: URSA_COMPACT_ROW_GROUP_DEFAULT */
    /* when set (by another thread), the merge stops at its next window with
     * URSA_ECANCELED, publishing nothing; NULL: never */
    const atomic_bool *cancel;
} ursa_compact_opts_t;

typedef struct ursa_compact_output {
    char *key; /* owned */
    uint64_t rows, bytes;
} ursa_compact_output_t;

typedef struct ursa_compact_result {
    ursa_compact_output_t *outputs; /* owned; noutputs of them, in key order */
    size_t noutputs;
    uint64_t rows_in, rows_out; /* equal on success */
    uint64_t bytes_in;          /* the inputs' sizes */
    size_t runs;                /* sorted runs merged (inputs, plus the extra runs of unsorted ones) */
} ursa_compact_result_t;

/* Merges the inputs into new objects "<out_base>-<k>.parquet" and
 * publishes them all at the end; on any failure none is left (those
 * already committed are deleted again) and *res is empty. Stable: rows
 * with equal keys come out in input order, then in each input's order.
 * Returns URSA_EFORMAT for an input whose column does not fit the schema
 * or that claims an order it does not have, URSA_ELIMIT when the inputs
 * hold more than max_runs sorted runs, and the reader's, writer's and
 * store's errors; err names the key. *res is the caller's (free with
 * ursa_compact_result_free). No inputs, or only empty ones, write nothing. */
int ursa_compact_merge(const ursa_compact_opts_t *o, ursa_compact_result_t *res,
                       ursa_err_t *err) URSA_MUST_CHECK;
void ursa_compact_result_free(ursa_compact_result_t *res);

/* The base name of a merge's outputs, "<dataset>/date=<date>/c-<16 hex>",
 * into out[0..n): the hex is a 64-bit FNV-1a hash of the input keys sorted
 * bytewise (each followed by a NUL), then of salt (or nothing), so the same
 * set of inputs always gives the same names, whatever order they were
 * listed in. The salt is what else decides the bytes written (the schema,
 * the codec): two merges of one set that would write different bytes must
 * not write the same object. URSA_EINVAL when it does not fit, URSA_ENOMEM. */
int ursa_compact_name(char *out, size_t n, const char *dataset, const char *date, const char *const *inputs,
                      size_t ninputs, const char *salt) URSA_MUST_CHECK;

#endif
