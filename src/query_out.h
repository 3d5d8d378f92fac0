/*
 * query_out.h -- a query's result encoded for the client: JSON, NDJSON,
 * CSV, an Arrow IPC stream or a Parquet file.
 *
 * Usage:
 *   query_format_t f;
 *   query_format_choose(format_param, accept_header, &f, &err);    (400/406 on error)
 *   query_out_t *o;
 *   query_out_new(&o, f, &schema, &err);
 *   query_out_batch(o, batch, &out, &err);      (once per result batch, zero or more times)
 *   query_out_end(o, &stats, &out, &err);       (once)
 *   query_out_destroy(&o);
 * Each call appends to the caller's buffer, which may be sent and emptied
 * between calls: JSON, NDJSON, CSV and Arrow bytes come batch by batch
 * (the header part with the first call), Parquet row groups as the writer
 * completes them and the footer at the end. See docs/internals/query-output.md.
 */
#ifndef URSA_QUERY_OUT_H
#define URSA_QUERY_OUT_H

#include "exec.h"

typedef enum query_format {
    QUERY_FMT_JSON = 0, /* {"columns":[...],"rows":[[...],...],"stats":{...}} */
    QUERY_FMT_NDJSON,   /* one {"name":value,...} object per row and line */
    QUERY_FMT_CSV,      /* RFC 4180, a header line, "\n" line ends */
    QUERY_FMT_ARROW,    /* the Arrow IPC streaming format */
    QUERY_FMT_PARQUET   /* one Parquet file, written by pq_write */
} query_format_t;

/*
 * Chooses the format from a ?format= (or a body's "format") value and an
 * Accept header; either may be NULL (not given). An explicit format wins:
 * "json", "ndjson", "csv", "arrow", "parquet" (any case). Otherwise the
 * Accept header's media ranges are weighed by their q (q=0: not
 * acceptable; at equal q a full type beats a wildcard, then the first
 * listed wins): application/json, application/x-ndjson and
 * application/ndjson, text/csv, application/vnd.apache.arrow.stream,
 * application/vnd.apache.parquet and application/x-parquet; the wildcard
 * ranges of every type and of every application type mean JSON, that of
 * every text type CSV. No Accept header (or an empty one): JSON. URSA_EINVAL, with err naming the value, for
 * an unknown format or an Accept header that names none of these (the caller answers 400 or 406).
 */
int query_format_choose(const char *format, const char *accept, query_format_t *out,
                        ursa_err_t *err) URSA_MUST_CHECK;

/* The Content-Type of a format's answer (a static string). */
const char *query_format_content_type(query_format_t f);

/* The format's name as ?format= takes it ("json", ...; a static string). */
const char *query_format_name(query_format_t f);

typedef struct query_out query_out_t;

/*
 * Creates an encoder of format f for results of the given schema, which
 * is copied (the caller keeps and frees its own). Nothing is output yet.
 * URSA_ENOMEM; URSA_EINVAL for a column type out of range, or for
 * Parquet, a schema of no column or more than URSA_COLUMNS_MAX.
 */
int query_out_new(query_out_t **o, query_format_t f, const exec_schema_t *schema,
                  ursa_err_t *err) URSA_MUST_CHECK;

/*
 * Appends the encoding of b's rows to out (the first call also the header
 * part: JSON's columns, the CSV header line, Arrow's Schema message). b
 * must have the schema's columns in order, each of b->n rows and of the
 * column's type, or of type EXEC_NULL (all rows null); b may have no rows.
 * The batch is only read and may be freed when the call returns.
 * Parquet appends nothing until the writer completes a row group.
 * On error out's length is as it was and the encoder is done: every later
 * call fails (the answer must be cut off). Errors: URSA_ENOMEM;
 * URSA_EINTERNAL for a batch that does not fit the schema; URSA_ELIMIT for
 * a value the format cannot hold (a date past int32 days for Arrow and
 * Parquet, an interval past int64 nanoseconds for Arrow, a string over
 * INT32_MAX bytes for Arrow).
 */
int query_out_batch(query_out_t *o, const exec_batch_t *b, ursa_buf_t *out, ursa_err_t *err) URSA_MUST_CHECK;

/*
 * Appends what ends the result (the header part too when no batch came):
 * JSON's "stats" object (from stats; NULL: no "stats" key) and closing
 * brackets, nothing for NDJSON and CSV, Arrow's end-of-stream marker, the
 * rest of the Parquet file (its last row group and footer). Call once;
 * errors as for query_out_batch.
 */
int query_out_end(query_out_t *o, const exec_stats_t *stats, ursa_buf_t *out,
                  ursa_err_t *err) URSA_MUST_CHECK;

/* Frees the encoder (ended or not) and sets *o to NULL. */
void query_out_destroy(query_out_t **o);

/*
 * For tests: the most string bytes one Arrow record batch holds in one
 * column (default and maximum INT32_MAX, the reach of Utf8's int32
 * offsets); a batch with more is sent as several record batches. Values
 * of n under 1 or over INT32_MAX restore the default.
 */
void query_out_set_arrow_string_limit(query_out_t *o, int64_t n);

#endif
