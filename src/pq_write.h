/*
 * pq_write.h -- the streaming Parquet writer.
 *
 * Usage:
 *   pq_write_opts_t o; pq_write_opts_default(&o);
 *   pq_writer_t *w;
 *   pq_writer_new(&w, schema, &o, sink, &err);
 *   pq_writer_write(w, batch, offset, nrows, &err);   (any number of times)
 *   pq_writer_close(w, &err);                         (ends the last row group, writes the footer)
 *   pq_writer_destroy(&w);
 * Rows are buffered as encoded, compressed pages of the current row group
 * (pages are encoded and compressed by o.threads - 1 worker threads and the
 * caller; the bytes written do not depend on the number of threads);
 * a row group is written to the sink when it reaches o.row_group_bytes
 * (uncompressed) or at close, so memory is bounded by one row group.
 * The writer never owns the batch or the schema; the schema must outlive it.
 */
#ifndef URSA_PQ_WRITE_H
#define URSA_PQ_WRITE_H

#include "column.h"
#include "sink.h"

typedef enum pq_codec {
    PQ_CODEC_UNCOMPRESSED = 0, /* values are Parquet's CompressionCodec enum */
    PQ_CODEC_SNAPPY = 1,
    PQ_CODEC_GZIP = 2,
    PQ_CODEC_BROTLI = 4,
    PQ_CODEC_LZ4 = 5, /* deprecated Hadoop-framed LZ4: read (pq_decompress) only, never written */
    PQ_CODEC_ZSTD = 6,
    PQ_CODEC_LZ4_RAW = 7
} pq_codec_t;

typedef struct pq_write_opts {
    pq_codec_t codec;       /* default ZSTD */
    int level;              /* compression level for zstd, gzip, brotli; 0: the codec's default (zstd 3) */
    int page_version;       /* data page v1 (default) or v2 */
    size_t row_group_bytes; /* uncompressed bytes per row group, default 128 MiB */
    size_t row_group_rows;  /* rows per row group, 0: no limit */
    size_t page_bytes;      /* target uncompressed bytes per data page, default 1 MiB */
    size_t page_rows;       /* rows per data page at most: a page ends at the latest on a multiple of
                               page_rows of its column chunk (the same row in every column); 0 (default)
                               or more than 2^20: 2^20 */
    size_t dict_max_bytes;  /* dictionary size limit per column chunk, default 1 MiB */
    bool page_index;        /* write ColumnIndex and OffsetIndex, default true */
    double bloom_fpp;  /* false-positive rate of bloom filters (fields with bloom_filter), default 0.01 */
    bool trusted_utf8; /* string/json values were validated by the caller: skip the UTF-8 check */
    int threads;       /* threads that encode and compress pages, the caller's included: 0 (default) one per
                          online core, 1 everything on the calling thread; the file is the same either way */
    const int32_t *field_ids; /* one per schema field, written as each column's field_id (Iceberg's ids);
                                 NULL: none. Copied by pq_writer_new */
    const char *kv_key;       /* optional key-value metadata entry (e.g. "ursa.schema") */
    const char *kv_value;     /* its value; both NULL for none */
    /* The caller's promise that the rows come sorted, ascending with nulls
     * first, by these columns (schema indexes, in key order; at most
     * URSA_SORT_KEYS_MAX): written as every row group's sorting_columns.
     * The writer copies them and does not check the order. NULL/0: none. */
    const int *sorting_columns;
    size_t nsorting;
} pq_write_opts_t;

typedef struct pq_writer pq_writer_t;

void pq_write_opts_default(pq_write_opts_t *o);

/* The bound on the rows of a data page in a dataset's files when base sets
 * none (what parquet-mr and arrow-rs write by default). Without it a column
 * that encodes small (dictionary indexes of a few distinct strings,
 * delta-encoded timestamps, booleans) gets pages of up to 2^20 rows, which a
 * reader of a few rows (a compaction's window, a point lookup through the
 * page index) must decompress and decode whole. */
#define PQ_DATASET_PAGE_ROWS 20000

/* The options of a dataset's files, the same for a flush and a compaction:
 * base's codec, level, encodings, sizes (page_rows 0: PQ_DATASET_PAGE_ROWS),
 * bloom filter rate and threads;
 * ids as the columns' field ids (NULL: none); schema_json, when not NULL,
 * as the key-value entry "ursa.schema"; s's sort key (ursa_schema_sort_key)
 * as every row group's sorting_columns. keys is the caller's storage for
 * the key, which *o points into (as it does into ids and schema_json), so
 * all three must outlive the writer. */
void pq_write_opts_dataset(pq_write_opts_t *o, const pq_write_opts_t *base, const ursa_schema_t *s,
                           const int32_t *ids, const char *schema_json, int keys[URSA_SORT_KEYS_MAX]);

/* Returns the codec for a name ("zstd", "snappy", "gzip", "brotli",
 * "lz4_raw" or its alias "lz4", "uncompressed" or "none"; any case), or -1. */
int pq_codec_from_name(const char *name);

/* Creates a writer and writes the leading magic "PAR1" to the sink. */
int pq_writer_new(pq_writer_t **w, const ursa_schema_t *s, const pq_write_opts_t *o, ursa_sink_t sink,
                  ursa_err_t *err) URSA_MUST_CHECK;

/* Appends rows [offset, offset + nrows) of batch b (whose columns follow the
 * writer's schema, in order) to the file. */
int pq_writer_write(pq_writer_t *w, const ursa_batch_t *b, size_t offset, size_t nrows,
                    ursa_err_t *err) URSA_MUST_CHECK;

/* Writes the last row group, the footer and the trailing magic. Returns the
 * total number of bytes written in *file_bytes when not NULL. */
int pq_writer_close(pq_writer_t *w, uint64_t *file_bytes, ursa_err_t *err) URSA_MUST_CHECK;

/* Frees the writer (closed or not) and sets *w to NULL. */
void pq_writer_destroy(pq_writer_t **w);

#endif
