/*
 * pq_read.h -- reading Parquet back: a file's row count from its footer
 * (for listings of published files; a bounded Thrift compact-protocol
 * skipper, safe on hostile bytes), and the reader (pq_reader_*, built on
 * pq_meta, pq_decode and pq_pred): row groups of chosen columns, whole or
 * under predicates that skip row groups and pages, footers shared through
 * a cache, columns decoded on several threads when asked.
 */
#ifndef URSA_PQ_READ_H
#define URSA_PQ_READ_H

#include "common.h"
#include "pq_cache.h"
#include "pq_meta.h"
#include "pq_pred.h"
#include "schema.h"
#include "store.h"

/* The tail of a Parquet file is "<footer><u32 footer length>PAR1". Given the
 * last n bytes of the file (n >= 8), sets *footer_len to the footer's
 * length. URSA_EFORMAT when the magic is missing. */
int pq_read_footer_len(const uint8_t *tail, size_t n, uint32_t *footer_len) URSA_MUST_CHECK;

/* Reads num_rows from a FileMetaData footer p[0..n) (without the trailing
 * length and magic). URSA_EFORMAT when the bytes are not a footer. */
int pq_read_num_rows(const uint8_t *p, size_t n, int64_t *rows) URSA_MUST_CHECK;

/*
 * The reader: a Parquet file in a store, opened by key, its schema mapped
 * onto Ursa's types, and row groups read column by column into batches.
 *
 *   pq_reader_t *r;
 *   rc = pq_reader_open(&r, store, "ds/date=2026-11-23/n1-1-2.parquet", &err);
 *   const ursa_schema_t *s = pq_reader_schema(r);   // one field per leaf column
 *   for (size_t g = 0; g < pq_reader_meta(r)->nrow_groups; g++) {
 *       ursa_batch_t b;
 *       rc = pq_reader_read(r, g, cols, ncols, &b, &err);  // b.cols[i] is column cols[i]
 *       ...
 *       ursa_batch_free(&b);
 *   }
 *   pq_reader_destroy(&r);
 *
 * Errors are URSA_EFORMAT for bad bytes, URSA_ENOTSUP for a column Ursa has
 * no type for (nested, or a type listed in pq_read.c as unmapped), URSA_EIO
 * / URSA_ENOTFOUND from the store, URSA_ENOMEM; every message names the key
 * and, while reading, the row group, column and page.
 */

struct ursa_batch;

typedef struct pq_reader pq_reader_t;

/* Largest uncompressed page the reader accepts (a bound on what a page
 * header can make it allocate). */
#define PQ_READ_PAGE_MAX ((int64_t)1 << 30)

/* Bounds on what a file can make the reader allocate. RLE levels can claim
 * millions of null values in a few bytes, so values and rows are bounded
 * by counts, not by the file's size. The defaults are far above what
 * writers produce (row groups of 10^5 to 10^7 rows); the fuzzer lowers them. */
typedef struct pq_reader_limits {
    int64_t page_bytes;  /* uncompressed bytes of a page; default PQ_READ_PAGE_MAX */
    int64_t page_values; /* values of a page; default 2^28 */
    int64_t rows;        /* rows of a row group being read; default 2^28 */
    int64_t data_bytes;  /* byte-array bytes of a page's decoded values; default PQ_VALUES_MAX_DATA */
} pq_reader_limits_t;

/* Opens the file `key` of st: its size and version by ursa_store_stat,
 * then its footer from the footer cache, or else read (its last 64 KiB by
 * one ranged read, a second read only when the footer is longer), decoded,
 * its schema mapped, and cached. st must outlive the reader; key is
 * copied. On success *r is the caller's, freed by pq_reader_destroy(). */
int pq_reader_open(pq_reader_t **r, ursa_store_t *st, const char *key, ursa_err_t *err) URSA_MUST_CHECK;
void pq_reader_destroy(pq_reader_t **r);

/* The footer cache: decoded footers shared by the readers of one object,
 * process-wide, keyed by the store, the key, the size and the version
 * token of ursa_store_stat (a rewritten object is read afresh). Bounded by
 * bytes (the decoded footers' heap, counted by ursa_mem_used() as well),
 * least recently used first out; readers keep their footer after it is
 * evicted. */
#define PQ_FOOTER_CACHE_DEFAULT ((size_t)64 << 20)
/* Sets the bound (evicting down to it at once); 0 disables the cache and
 * empties it. */
void pq_footer_cache_set_limit(size_t bytes);
void pq_footer_cache_stats(pq_cache_stats_t *s);

/* Decoding threads: the columns of a row group are decoded on up to n
 * threads, the caller's included, each column on one. 1 (the default):
 * everything on the calling thread; 0: one per online core. At most
 * PQ_READ_THREADS_MAX. The batches are the same either way. */
#define PQ_READ_THREADS_MAX 64
void pq_reader_set_threads(pq_reader_t *r, int n);

/* Dictionary codes (PQ_CODES_OFF by default): a STRING column read a slice
 * at a time (pq_reader_read_rows_into, pq_reader_read_rows) whose pages are
 * dictionary-encoded comes out as its codes -- a column of type UINT32,
 * each row's index in the row group's dictionary (0 for a null row) --
 * instead of its strings; pq_reader_codes_dict() gives that dictionary.
 * PQ_CODES_ON takes a chunk whose page encoding stats name a page that is
 * not dictionary-encoded as strings; PQ_CODES_PAGES ignores the stats and
 * goes by the pages (as it must for a chunk without stats). Going by the
 * pages, a writer that fell back to plain pages part way gives codes in one
 * slice and strings from the slice that meets the first plain page on:
 * each slice says which by its columns' types. */
typedef enum { PQ_CODES_OFF = 0, PQ_CODES_ON, PQ_CODES_PAGES } pq_codes_t;
void pq_reader_set_codes(pq_reader_t *r, pq_codes_t mode);

/* The dictionary that leaf's codes index in the last slice read: its n
 * strings, string i the bytes data[offsets[i] .. offsets[i + 1]). *id
 * tells it from every other dictionary any reader of the process has
 * decoded. false when there is none. Valid until the next read of another
 * row group, an error, or pq_reader_destroy(). */
bool pq_reader_codes_dict(const pq_reader_t *r, size_t leaf, const int64_t **offsets, const uint8_t **data,
                          size_t *n, uint64_t *id);

/* Replaces the reader's limits (fields <= 0 keep the current value). */
void pq_reader_set_limits(pq_reader_t *r, const pq_reader_limits_t *l);

/* The decoded footer (owned by the reader). */
const pq_file_meta_t *pq_reader_meta(const pq_reader_t *r);
/* The file's size in bytes. */
uint64_t pq_reader_size(const pq_reader_t *r);
/* The file's columns as Ursa fields, one per leaf column in the file's
 * order (owned by the reader). A leaf that does not map (see
 * pq_reader_column_why) has a BINARY field that cannot be read. */
const ursa_schema_t *pq_reader_schema(const pq_reader_t *r);
/* NULL when leaf column i maps onto an Ursa type, else why not. */
const char *pq_reader_column_why(const pq_reader_t *r, size_t i);
/* The index of the leaf whose dotted path is name, or -1. */
int pq_reader_find(const pq_reader_t *r, const char *name);

/* Reads leaf columns cols[0..ncols) of row group rg into out (caller-owned
 * storage, initialized here: out->cols[i] holds column cols[i], out->nrows
 * the row group's rows; free it with ursa_batch_free() on success; on an
 * error it is left empty). cols NULL reads every column. One ranged read
 * per column chunk (neighbouring chunks coalesced); memory is bounded by
 * the projected chunks and their decoded columns. The reader keeps its read
 * buffers and its decoding scratch (a page, its levels and values) from one
 * call to the next, until pq_reader_destroy(); a reader is used by one
 * thread at a time. */
int pq_reader_read(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, struct ursa_batch *out,
                   ursa_err_t *err) URSA_MUST_CHECK;

/* Reads rows [first, first + count) of row group rg, as pq_reader_read
 * reads all of them (out->nrows is count): only the pages holding them are
 * fetched and decoded, found by each column's offset index (a column
 * without one is read whole, and the rows taken from it). For reading a
 * big row group a window at a time (compaction). URSA_EINVAL for rows
 * outside the row group. */
int pq_reader_read_rows(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t first,
                        int64_t count, struct ursa_batch *out, ursa_err_t *err) URSA_MUST_CHECK;

/* As pq_reader_read_rows, but *out is a batch an earlier read of the same
 * cols returned (still owned by the caller), or zeroed: its columns are
 * emptied and decoded into again, so their buffers' room is reused rather
 * than fresh memory allocated (and zeroed by the kernel) for every slice.
 * *out is overwritten; on an error it is freed and left empty. When a slice
 * begins and ends on page bounds of every column (pq_reader_page_bound), the
 * decoded columns are handed over without a copy.
 *
 * Slices in order: each column keeps, until the next read, its decoded
 * dictionary and, when the slice ended inside a data page, the rows of
 * that page after the slice's end, so that the next slice, which begins
 * there, does not fetch, decompress or decode that page (or the
 * dictionary) again: read a window at a time, each page is decoded once.
 * That costs at most the tail of one page and the dictionary per column;
 * a read of another row group, an error, and pq_reader_destroy() free it. */
int pq_reader_read_rows_into(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t first,
                             int64_t count, struct ursa_batch *out, ursa_err_t *err) URSA_MUST_CHECK;

/* The greatest row in [lo, hi] of row group rg at which a data page begins
 * in every column of cols[0..ncols) (NULL: all), by their offset indexes,
 * into *end; hi when there is none, when a column has no offset index, or
 * when hi is the row group's end. A slice [first, *end) read with
 * pq_reader_read_rows when first is such a row too decodes no page twice
 * and copies nothing. The offset indexes are kept for the next call on the
 * same row group and columns. URSA_EINVAL for rows or columns the row group
 * lacks, URSA_EFORMAT for a bad offset index. */
int pq_reader_page_bound(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t lo, int64_t hi,
                         int64_t *end, ursa_err_t *err) URSA_MUST_CHECK;

/*
 * Predicates. A read may carry a conjunction of conditions on leaf
 * columns; rows that fail one are not returned, and what cannot hold a
 * match is not read at all: row groups by their column statistics and
 * bloom filters, pages by the page index (ColumnIndex + OffsetIndex), which
 * is also how only part of a row group is read. The conditions need not be
 * on projected columns.
 *
 * A value is given in the layout of the column's Ursa type (the field of
 * pq_reader_schema()): the fixed-width types as their little-endian bytes
 * (INT8..UINT64; DATE int32 days; TIME int64 µs; TIMESTAMP int64 in the
 * field's unit; DECIMAL the unscaled int64, or int128 above precision 18;
 * FLOAT32, FLOAT64; UUID 16 bytes), BOOL one byte 0 or 1, and STRING,
 * BINARY, JSON their bytes. Comparisons follow the type: signed or
 * unsigned integers, IEEE order for floats (a NaN matches nothing; -0 and
 * +0 are equal), bytes unsigned lexicographic. Null matches only IS NULL.
 * The types are in pq_pred.h.
 */
/* What the reader skipped and read since it was opened. */
typedef struct pq_reader_counters {
    uint64_t row_groups;          /* row groups asked for */
    uint64_t row_groups_by_stats; /* ... skipped by their statistics */
    uint64_t row_groups_by_bloom; /* ... skipped by a bloom filter */
    uint64_t pages;               /* data pages of the chunks asked for */
    uint64_t pages_skipped;       /* ... not read, by the page index */
    uint64_t pages_decoded;       /* data pages decompressed and decoded (a page read twice counts twice) */
    uint64_t pages_reused;        /* data pages a slice took from the last slice's cache instead */
    uint64_t dicts_decoded;       /* dictionary pages decompressed and decoded */
    uint64_t rows_decoded;        /* rows decoded (per row group, not per column) */
    uint64_t bytes_read;          /* bytes fetched from the store by reads of row groups */
    uint64_t reads;               /* ... in this many ranged reads */
} pq_reader_counters_t;

/* Whether row group rg may hold a row matching every pred (its statistics
 * and bloom filters, no data page read): false means it holds none.
 * URSA_EINVAL for a predicate that does not fit its column (an unknown
 * column or op, a value of the wrong size, the wrong count of values). */
int pq_reader_may_match(pq_reader_t *r, size_t rg, const pq_pred_t *preds, size_t npreds, bool *may,
                        ursa_err_t *err) URSA_MUST_CHECK;

/* pq_reader_read with predicates: out holds only the rows of rg that
 * match every pred, in the file's order (out->nrows may be 0, with nothing
 * read when the row group or every page was skipped). npreds 0 is
 * pq_reader_read. */
int pq_reader_read_where(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, const pq_pred_t *preds,
                         size_t npreds, struct ursa_batch *out, ursa_err_t *err) URSA_MUST_CHECK;

/* The rows of row group rg that may match every predicate, without reading
 * them: none when the row group's statistics or bloom filters rule it out,
 * else the row ranges [start, end) -- ascending, apart -- that the
 * predicates' column indexes allow (the whole row group without them).
 * *ranges is the caller's to ursa_free() (NULL when there are none). The
 * counters count the row group and the pages of the predicates' columns
 * (pages_skipped: those left out) as a read would. */
int pq_reader_match_ranges(pq_reader_t *r, size_t rg, const pq_pred_t *preds, size_t npreds,
                           int64_t (**ranges)[2], size_t *nranges, ursa_err_t *err) URSA_MUST_CHECK;

void pq_reader_get_counters(const pq_reader_t *r, pq_reader_counters_t *c);

/* The statistics of leaf's chunk in rg as the reader trusts them (see
 * "Predicates"): min and max in the column's Ursa layout (both left empty
 * when not known; *has says whether they are), the null count (-1 when not
 * known). For table manifests. */
int pq_reader_chunk_stats(pq_reader_t *r, size_t rg, size_t leaf, bool *has, ursa_buf_t *min, ursa_buf_t *max,
                          int64_t *null_count, ursa_err_t *err) URSA_MUST_CHECK;

#endif
