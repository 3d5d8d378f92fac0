/*
 * pq_write.c -- the streaming Parquet writer (see pq_write.h and
 * docs/internals/parquet-writer.md).
 *
 * DESIGN
 *
 * File layout: "PAR1", then row groups, each a column chunk per schema
 * field in schema order followed by the bloom filters of that row group,
 * then (at close) the ColumnIndex of every chunk, the OffsetIndex of every
 * chunk, the FileMetaData footer (Thrift compact), its 4-byte
 * little-endian length and "PAR1" again. A column chunk is an optional
 * dictionary page followed by data pages (v1 or v2).
 *
 * Each column has an open page that rows are appended to straight from the
 * Arrow buffers of the batch: validity bits (OPTIONAL columns only: the
 * definition levels), and the non-null values in their physical Parquet
 * form (int8/16 widened to INT32, decimals narrowed to INT32 or turned into
 * big-endian FIXED_LEN_BYTE_ARRAY, ...) or, while the chunk's dictionary
 * has room, uint32 dictionary indices. When the open page's uncompressed
 * estimate reaches opts.page_bytes it is closed: levels and values are
 * encoded (PLAIN, RLE_DICTIONARY, DELTA_BINARY_PACKED, BYTE_STREAM_SPLIT,
 * DELTA_LENGTH_BYTE_ARRAY, RLE for v2 booleans), the body compressed, and
 * header + body kept, allocated to size, in the column's list of finished
 * pages, with the page's statistics for the page index. When the sum of
 * the columns' estimates reaches opts.row_group_bytes (or the row group
 * holds opts.row_group_rows rows), every open page is closed and the row
 * group is written to the sink: per column the dictionary page and the
 * data pages, then the bloom filters. So the memory held is at most one
 * row group (compressed pages, open pages, dictionaries, bloom hash sets)
 * plus the page index entries (about 200 bytes per page) kept for close.
 *
 * Rows of one write call are taken in slices of at most SLICE_ROWS rows
 * (fewer when the slice would overshoot the row group's byte budget), and
 * the row group is checked after each slice; row groups therefore end on
 * slice boundaries, the same row for every column, while pages end
 * independently per column: at opts.page_bytes, or at the latest on a
 * multiple of opts.page_rows of the chunk (so pages that close on rows end
 * on the same rows in every column, even after an early close).
 *
 * Dictionary fallback: when a new value would push the dictionary past
 * opts.dict_max_bytes, the open page (if it holds values) is closed as a
 * dictionary page and the rest of that column chunk is written with the
 * column's fallback encoding; the next row group starts a new dictionary.
 *
 * Statistics per page and per chunk: null count, min and max in the order
 * of the type (signed or unsigned integers, floats without NaN with
 * -0.0/+0.0 at zero bounds, false < true, unsigned bytes for strings,
 * binary and uuid, signed two's complement for FLBA decimals). A float
 * chunk holding NaN gets no min/max and no ColumnIndex (see
 * bounds_of()). Strings keep only the first STAT_KEEP bytes of the running
 * min and max, enough to emit a truncated min and a truncated, incremented
 * max.
 *
 * Failures: bad input (a batch that does not match the schema, a null in a
 * non-nullable column, a string that is not UTF-8 or is over 1 GiB) is found
 * before any state changes and leaves the writer usable. An allocation,
 * codec or sink failure in the middle of a write leaves a partial row group
 * behind; the writer then refuses every further call except destroy.
 */
#include "pq_write.h"

#include "codec.h"
#include "pq_encode.h"
#include "thrift.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <xxhash.h>

/* Parquet enums (parquet.thrift). */
enum {
    PT_BOOLEAN = 0,
    PT_INT32 = 1,
    PT_INT64 = 2,
    PT_FLOAT = 4,
    PT_DOUBLE = 5,
    PT_BYTE_ARRAY = 6,
    PT_FLBA = 7
};
enum {
    ENC_PLAIN = 0,
    ENC_RLE = 3,
    ENC_DELTA_BINARY_PACKED = 5,
    ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    ENC_RLE_DICTIONARY = 8,
    ENC_BYTE_STREAM_SPLIT = 9,
    ENC_COUNT_ = 10
};
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };
enum {
    CT_UTF8 = 0,
    CT_DECIMAL = 5,
    CT_DATE = 6,
    CT_TIME_MICROS = 8,
    CT_TIMESTAMP_MILLIS = 9,
    CT_TIMESTAMP_MICROS = 10,
    CT_UINT_8 = 11,
    CT_INT_8 = 15,
    CT_JSON = 19
};
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1 };
enum { BOUNDARY_UNORDERED = 0, BOUNDARY_ASCENDING = 1, BOUNDARY_DESCENDING = 2 };

/* How statistics compare values. */
enum { ORD_BOOL, ORD_SIGNED, ORD_UNSIGNED, ORD_FLOAT, ORD_BYTES, ORD_DECIMAL_BYTES };

/* How a column's values become physical values. */
enum {
    CONV_COPY,   /* same bytes (width == physical width) */
    CONV_I8,     /* int8 -> INT32 */
    CONV_I16,    /* int16 -> INT32 */
    CONV_U8,     /* uint8 -> INT32 */
    CONV_U16,    /* uint16 -> INT32 */
    CONV_I64_32, /* decimal <= 9 digits: int64 -> INT32 */
    CONV_I128_BE /* decimal > 18 digits: int128 -> big-endian FLBA */
};

#define FILE_VERSION    2 /* RLE_DICTIONARY and logical types are format 2.x features */
#define CREATED_BY      "ursa version " URSA_VERSION " (build ursa)"
#define SLICE_ROWS      4096
#define PAGE_MAX_VALUES ((size_t)1 << 20)
#define STAT_PREFIX     64                 /* string min/max longer than this are truncated */
#define STAT_KEEP       (STAT_PREFIX + 1)  /* bytes of the running string min/max kept */
#define STAT_BUF        (STAT_PREFIX + 4)  /* room for a truncated max with its last char bumped */
#define SIZE_MAX_OPTION ((size_t)1 << 30)  /* page_bytes and dict_max_bytes are clamped to this */
#define VALUE_MAX       ((int64_t)1 << 30) /* larger strings are refused (URSA_ELIMIT) */
#define PAGE_SOFT_MAX   ((size_t)3 << 29)  /* a page is closed before a value takes it past this */
#define BLOOM_MIN_BYTES 32
#define BLOOM_MAX_BYTES ((size_t)128 << 20)
#define THREADS_MAX     64  /* opts.threads is clamped to this */
#define POOL_SPARES     32  /* page buffers kept for reuse */
#define HDR_ROOM        128 /* bytes kept in front of a compressed page for its header */

/* AUTO for integer, date, time, timestamp and small decimal columns
 * (measured on the event table, see docs/internals/parquet-writer.md). */
#define PQ_AUTO_INT_ENCODING ENC_DELTA_BINARY_PACKED
#define PQ_AUTO_INT_DICT     false

enum { W_OPEN = 0, W_CLOSED, W_FAILED };

/* Running statistics of a page or a column chunk. */
typedef struct stats {
    int64_t nulls;
    int64_t nans;
    bool any; /* a value that counts for min/max was seen */
    int64_t imin, imax;
    uint64_t umin, umax;
    double dmin, dmax;
    bool seen_false, seen_true;
    uint8_t smin[STAT_KEEP], smax[STAT_KEEP]; /* first bytes of the byte-string min/max */
    size_t smin_len, smax_len;
} stats_t;

/* Statistics in their footer form: PLAIN-encoded min and max. */
typedef struct bound {
    bool has_min, has_max, min_exact, max_exact;
    uint8_t min_len, max_len;
    uint8_t min[STAT_BUF], max[STAT_BUF];
} bound_t;

/* A data page as the page index sees it. */
typedef struct page_meta {
    int64_t offset; /* in the chunk's data pages until flush, then in the file */
    int32_t size;   /* header included */
    int64_t first_row;
    int64_t nulls;
    bool null_page;
    bool has_nan;
    bound_t b;
} page_meta_t;

/* What the footer needs to know about a written column chunk. */
typedef struct chunk_meta {
    int64_t start;    /* offset of the chunk's first page */
    int64_t data_off; /* offset of its first data page */
    int64_t dict_off; /* offset of its dictionary page, -1 when none */
    int64_t num_values;
    int64_t unc_bytes; /* pages with headers, uncompressed */
    int64_t comp_bytes;
    int32_t pages_by_enc[ENC_COUNT_]; /* data pages per encoding */
    int64_t nulls;
    int64_t nans; /* floats only */
    bound_t b;
    page_meta_t *pages; /* for the page index; owned */
    size_t npages;
    int64_t ci_off, oi_off; /* page index offsets, -1 when not written */
    int32_t ci_len, oi_len;
    int64_t bloom_off;
    int32_t bloom_len;
} chunk_meta_t;

typedef struct rg_meta {
    int64_t num_rows;
    int64_t file_offset;
    int64_t unc_bytes;
    int64_t comp_bytes;
    chunk_meta_t *cols; /* one per field; owned */
} rg_meta_t;

/* What one thread needs to encode and compress pages: its compressor and
 * scratch buffers. The writer has one for the calling thread (whose
 * compressor also does dictionary pages) and one per worker. */
typedef struct pq_exec {
    pq_compressor_t comp;
    ursa_buf_t body; /* a page's levels and encoded values */
    ursa_buf_t hdr;  /* its header */
    ursa_buf_t lens; /* int32 lengths for DELTA_LENGTH_BYTE_ARRAY */
    size_t keep;     /* scratch larger than this is freed after a page */
    struct pq_writer *w;
} pq_exec_t;

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct col;

/* A data page from the moment its open page is closed: the raw page (validity
 * bits, PLAIN values or dictionary indices) handed over by the column, then,
 * once a thread has encoded and compressed it, the finished page: header,
 * levels and body at blob + start, len bytes. Owned by the column's page list
 * (col_t.pages); the queue only links it. A worker reads the column's fields
 * set up by pq_writer_new (never those that change while writing). */
typedef struct page_job {
    struct page_job *next; /* in the queue */
    int state;             /* JOB_*; under the pool's lock when there are workers */
    const struct col *c;
    bool v2;         /* a data page v2 */
    int bw;          /* bit width of dictionary indices */
    int enc;         /* the page's value encoding (ENC_*) */
    size_t rows;     /* values, nulls included */
    size_t nulls;    /* of them null */
    ursa_buf_t defs; /* validity bits (OPTIONAL columns) */
    ursa_buf_t vals; /* physical PLAIN values, PLAIN bool bits, or uint32 indices */
    /* Set by the thread that finishes it. */
    int rc;
    const char *why; /* what failed, for the error message */
    uint8_t *blob;
    size_t start, len; /* the page: header included */
    size_t hdr_len;
    size_t unc, comp; /* levels + body, uncompressed and as written */
} page_job_t;

/* The worker threads and the queue of pages waiting for them. */
typedef struct pq_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a page was queued, or stop */
    pthread_cond_t done; /* a page was finished */
    page_job_t *head, *tail;
    size_t inflight; /* queued or running */
    size_t max_inflight;
    bool stop;
    size_t nthreads;
    pthread_t *threads;
    pq_exec_t *execs;              /* one per thread */
    ursa_buf_t spare[POOL_SPARES]; /* page buffers given back by finished pages */
    size_t nspare;
} pq_pool_t;

/* A set of 64-bit hashes (the bloom filter's input for one chunk). */
typedef struct hset {
    uint64_t *slots; /* 0 = empty; the hash 0 is kept in has_zero */
    size_t nslots, count;
    bool has_zero;
} hset_t;

/* Per-column state: the open page and the current column chunk. */
typedef struct col {
    const ursa_field_t *field;
    int32_t field_id; /* SchemaElement.field_id; -1: none */
    int ptype;
    int plen;      /* bytes per physical value: 4, 8 or the FLBA length; 0 for BOOLEAN, BYTE_ARRAY */
    int width;     /* bytes per value in the batch's column (ursa_field_width) */
    int order;     /* ORD_* */
    int conv;      /* CONV_* */
    int enc;       /* value encoding of non-dictionary pages */
    bool use_dict; /* try RLE_DICTIONARY first in every chunk */
    bool nullable;

    /* The open page. */
    size_t pg_rows; /* values, nulls included */
    size_t pg_nulls;
    ursa_buf_t pg_defs; /* validity bits (OPTIONAL columns) */
    size_t pg_def_bits;
    ursa_buf_t pg_vals; /* physical PLAIN values, PLAIN bool bits, or uint32 indices */
    size_t pg_val_bits; /* bool bits in pg_vals */
    bool pg_dict;       /* pg_vals holds dictionary indices */
    stats_t pst;        /* the open page's statistics */

    /* The column chunk of the current row group. */
    page_job_t **pages; /* closed pages, in order, finished or on their way; owned */
    size_t npages, pages_cap;
    size_t ch_est;   /* uncompressed estimate of the closed pages (what rg_estimate counts) */
    page_meta_t *pm; /* their page index entries; owned */
    size_t npm, pm_cap;
    int64_t ch_values, ch_unc, ch_comp;
    int32_t ch_by_enc[ENC_COUNT_];
    pq_dict_t dict;
    uint32_t *dict_seen; /* per dictionary entry: the serial of the last page that used it */
    size_t dict_seen_cap;
    uint32_t page_serial;
    bool dict_on; /* still dictionary-encoding this chunk */
    stats_t st;
    hset_t bloom;
} col_t;

struct pq_writer {
    const ursa_schema_t *schema;
    pq_write_opts_t o;
    char *kv_key, *kv_value;         /* owned copies */
    int sorting[URSA_SORT_KEYS_MAX]; /* RowGroup.sorting_columns (o.sorting_columns copied) */
    size_t nsorting;
    ursa_sink_t sink;
    uint64_t offset; /* bytes written to the sink */
    int state;
    pq_exec_t mx;   /* the calling thread's compressor and scratch */
    pq_pool_t pool; /* workers: pool.nthreads may be 0 */

    col_t *cols; /* one per field */
    size_t ncols;
    size_t fixed_row_bytes; /* rough encoded bytes per row, strings' bytes aside */
    size_t rg_rows;         /* rows in the current row group */
    int64_t total_rows;     /* rows in finished row groups */

    rg_meta_t *rgs;
    size_t nrgs, rgs_cap;

    ursa_buf_t zbody; /* scratch: a compressed dictionary page */
    ursa_buf_t hdr; /* scratch: a dictionary page header, a bloom filter header, the page index, the footer */
    ursa_buf_t conv; /* scratch: converted values bound for the dictionary */
};

static inline size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static inline bool bit(const uint8_t *bits, size_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

static int flush_row_group(pq_writer_t *w, ursa_err_t *err);
static size_t count_zeros(const uint8_t *bits, size_t a, size_t n);

/* ---------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------- */

void pq_write_opts_default(pq_write_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->codec = PQ_CODEC_ZSTD;
    o->level = 3;
    o->row_group_bytes = (size_t)128 << 20;
    o->page_bytes = (size_t)1 << 20;
    o->dict_max_bytes = (size_t)1 << 20;
    o->page_version = 1;
    o->page_index = true;
    o->bloom_fpp = 0.01;
}

void pq_write_opts_dataset(pq_write_opts_t *o, const pq_write_opts_t *base, const ursa_schema_t *s,
                           const int32_t *ids, const char *schema_json, int keys[URSA_SORT_KEYS_MAX])
{
    *o = *base;
    if (o->page_rows == 0) o->page_rows = PQ_DATASET_PAGE_ROWS;
    o->field_ids = ids;
    o->kv_key = schema_json ? "ursa.schema" : NULL;
    o->kv_value = schema_json;
    o->nsorting = ursa_schema_sort_key(s, keys);
    o->sorting_columns = keys;
}

int pq_codec_from_name(const char *name)
{
    static const struct {
        const char *name;
        pq_codec_t codec;
    } names[] = {{"uncompressed", PQ_CODEC_UNCOMPRESSED},
                 {"none", PQ_CODEC_UNCOMPRESSED},
                 {"snappy", PQ_CODEC_SNAPPY},
                 {"gzip", PQ_CODEC_GZIP},
                 {"zstd", PQ_CODEC_ZSTD},
                 {"lz4_raw", PQ_CODEC_LZ4_RAW},
                 {"lz4", PQ_CODEC_LZ4_RAW},
                 {"brotli", PQ_CODEC_BROTLI}};
    if (!name) return -1;
    for (size_t i = 0; i < URSA_ARRAY_LEN(names); i++)
        if (strcasecmp(name, names[i].name) == 0) return (int)names[i].codec;
    return -1;
}

/* ---------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------- */

static void stats_reset(stats_t *st)
{
    st->nulls = st->nans = 0;
    st->any = st->seen_false = st->seen_true = false;
    st->smin_len = st->smax_len = 0;
}

/* Signed two's complement big-endian comparison of two n-byte values. */
static int cmp_decimal(const uint8_t *a, const uint8_t *b, size_t n)
{
    if ((a[0] ^ b[0]) & 0x80) return (a[0] & 0x80) ? -1 : 1;
    return memcmp(a, b, n);
}

/* Byte-wise unsigned comparison of two (possibly truncated) strings. */
static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, min_sz(an, bn));
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

#define MINMAX_LOOP(T, v, nn, mn, mx)                     \
    do {                                                  \
        for (size_t i_ = 0; i_ < (nn); i_++) {            \
            T x_;                                         \
            memcpy(&x_, (v) + i_ * sizeof(T), sizeof(T)); \
            mn = x_ < mn ? x_ : mn;                       \
            mx = x_ > mx ? x_ : mx;                       \
        }                                                 \
    } while (0)

/* Adds nn physical values v (c->plen bytes each) to st. */
static void stats_phys(const col_t *c, stats_t *st, const uint8_t *v, size_t nn)
{
    if (nn == 0) return;
    switch (c->order) {
    case ORD_SIGNED:
        if (c->plen == 4) {
            int32_t mn = st->any ? (int32_t)st->imin : INT32_MAX,
                    mx = st->any ? (int32_t)st->imax : INT32_MIN;
            MINMAX_LOOP(int32_t, v, nn, mn, mx);
            st->imin = mn;
            st->imax = mx;
        } else {
            int64_t mn = st->any ? st->imin : INT64_MAX, mx = st->any ? st->imax : INT64_MIN;
            MINMAX_LOOP(int64_t, v, nn, mn, mx);
            st->imin = mn;
            st->imax = mx;
        }
        st->any = true;
        break;
    case ORD_UNSIGNED:
        if (c->plen == 4) {
            uint32_t mn = st->any ? (uint32_t)st->umin : UINT32_MAX, mx = st->any ? (uint32_t)st->umax : 0;
            MINMAX_LOOP(uint32_t, v, nn, mn, mx);
            st->umin = mn;
            st->umax = mx;
        } else {
            uint64_t mn = st->any ? st->umin : UINT64_MAX, mx = st->any ? st->umax : 0;
            MINMAX_LOOP(uint64_t, v, nn, mn, mx);
            st->umin = mn;
            st->umax = mx;
        }
        st->any = true;
        break;
    case ORD_FLOAT:
        for (size_t i = 0; i < nn; i++) {
            double x;
            if (c->plen == 4) {
                float f;
                memcpy(&f, v + i * 4, 4);
                x = f;
            } else {
                memcpy(&x, v + i * 8, 8);
            }
            if (x != x) {
                st->nans++;
                continue;
            }
            if (!st->any || x < st->dmin) st->dmin = x;
            if (!st->any || x > st->dmax) st->dmax = x;
            st->any = true;
        }
        break;
    default: { /* FLBA: uuid (unsigned bytes) or decimal (signed) */
        size_t n = (size_t)c->plen;
        bool dec = c->order == ORD_DECIMAL_BYTES;
        for (size_t i = 0; i < nn; i++) {
            const uint8_t *x = v + i * n;
            if (!st->any || (dec ? cmp_decimal(x, st->smin, n) : memcmp(x, st->smin, n)) < 0)
                memcpy(st->smin, x, n);
            if (!st->any || (dec ? cmp_decimal(x, st->smax, n) : memcmp(x, st->smax, n)) > 0)
                memcpy(st->smax, x, n);
            st->smin_len = st->smax_len = n;
            st->any = true;
        }
    }
    }
}

static void stats_bool(stats_t *st, const uint8_t *values, const uint8_t *validity, size_t a, size_t n)
{
    for (size_t i = a; i < a + n && !(st->seen_false && st->seen_true); i++) {
        if (validity && !bit(validity, i)) continue;
        if (bit(values, i))
            st->seen_true = true;
        else
            st->seen_false = true;
    }
    st->any = st->seen_false || st->seen_true;
}

static void stats_str(stats_t *st, const uint8_t *s, size_t n)
{
    size_t k = min_sz(n, STAT_KEEP);
    if (!st->any || cmp_bytes(s, k, st->smin, st->smin_len) < 0) {
        memcpy(st->smin, s, k);
        st->smin_len = k;
    }
    if (!st->any || cmp_bytes(s, k, st->smax, st->smax_len) > 0) {
        memcpy(st->smax, s, k);
        st->smax_len = k;
    }
    st->any = true;
}

/* Folds the page statistics src into the chunk statistics dst. */
static void stats_merge(const col_t *c, stats_t *dst, const stats_t *src)
{
    dst->nulls += src->nulls;
    dst->nans += src->nans;
    dst->seen_false |= src->seen_false;
    dst->seen_true |= src->seen_true;
    if (!src->any) return;
    if (c->ptype == PT_BOOLEAN) {
        dst->any = true;
        return;
    }
    bool first = !dst->any;
    switch (c->order) {
    case ORD_SIGNED:
        if (first || src->imin < dst->imin) dst->imin = src->imin;
        if (first || src->imax > dst->imax) dst->imax = src->imax;
        break;
    case ORD_UNSIGNED:
        if (first || src->umin < dst->umin) dst->umin = src->umin;
        if (first || src->umax > dst->umax) dst->umax = src->umax;
        break;
    case ORD_FLOAT:
        if (first || src->dmin < dst->dmin) dst->dmin = src->dmin;
        if (first || src->dmax > dst->dmax) dst->dmax = src->dmax;
        break;
    case ORD_DECIMAL_BYTES:
    case ORD_BYTES:
        if (c->ptype == PT_FLBA) {
            size_t n = (size_t)c->plen;
            bool dec = c->order == ORD_DECIMAL_BYTES;
            if (first || (dec ? cmp_decimal(src->smin, dst->smin, n) : memcmp(src->smin, dst->smin, n)) < 0)
                memcpy(dst->smin, src->smin, n);
            if (first || (dec ? cmp_decimal(src->smax, dst->smax, n) : memcmp(src->smax, dst->smax, n)) > 0)
                memcpy(dst->smax, src->smax, n);
            dst->smin_len = dst->smax_len = n;
        } else {
            if (first || cmp_bytes(src->smin, src->smin_len, dst->smin, dst->smin_len) < 0) {
                memcpy(dst->smin, src->smin, src->smin_len);
                dst->smin_len = src->smin_len;
            }
            if (first || cmp_bytes(src->smax, src->smax_len, dst->smax, dst->smax_len) > 0) {
                memcpy(dst->smax, src->smax, src->smax_len);
                dst->smax_len = src->smax_len;
            }
        }
        break;
    }
    dst->any = true;
}

/* The longest prefix of s (which has more than lim bytes) of at most lim
 * bytes that does not split a UTF-8 character. */
static size_t utf8_cut(const uint8_t *s, size_t lim)
{
    size_t k = lim;
    for (int step = 0; step < 3 && k > 0 && (s[k] & 0xc0) == 0x80; step++) k--;
    return (s[k] & 0xc0) == 0x80 ? lim : k; /* not UTF-8: cut the bytes */
}

/* Decodes the UTF-8 character s[0..n) (n = 1..4); returns -1 if invalid. */
static int32_t utf8_decode(const uint8_t *s, size_t n)
{
    static const uint8_t lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    static const int32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t want = s[0] < 0x80             ? 1
                  : (s[0] & 0xe0) == 0xc0 ? 2
                  : (s[0] & 0xf0) == 0xe0 ? 3
                  : (s[0] & 0xf8) == 0xf0 ? 4
                                          : 0;
    if (want != n) return -1;
    int32_t cp = s[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++) cp = (cp << 6) | (s[i] & 0x3f);
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    return cp;
}

static size_t utf8_encode(int32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Writes to out (STAT_BUF bytes) a string greater than every string that
 * starts with s[0..k): s[0..k) with its last character incremented,
 * dropping characters that cannot be. Returns its length, 0 if none. */
static size_t upper_bound(const uint8_t *s, size_t k, uint8_t *out)
{
    memcpy(out, s, k);
    while (k > 0) {
        size_t j = k - 1;
        while (j > 0 && k - j < 4 && (out[j] & 0xc0) == 0x80) j--;
        int32_t cp = utf8_decode(out + j, k - j);
        if (cp >= 0) {
            int32_t next = cp == 0xd7ff ? 0xe000 : cp + 1;
            if (next <= 0x10ffff) return j + utf8_encode(next, out + j);
            k = j;
        } else if (out[k - 1] < 0xff) {
            out[k - 1]++; /* not UTF-8: work on bytes */
            return k;
        } else {
            k--;
        }
    }
    return 0;
}

/* Turns running statistics into PLAIN-encoded bounds. A float page or
 * chunk holding NaN gets none: DuckDB (1.5) prunes on a NaN-free max
 * although it orders NaN above every number, and so drops the NaN rows of
 * e.g. `x > max`. Its own writer leaves them out too. */
static void bounds_of(const col_t *c, const stats_t *st, bound_t *m)
{
    memset(m, 0, sizeof(*m));
    if (!st->any || (c->order == ORD_FLOAT && st->nans > 0)) return;
    m->has_min = m->has_max = m->min_exact = m->max_exact = true;
    switch (c->order) {
    case ORD_BOOL:
        m->min[0] = st->seen_false ? 0 : 1;
        m->max[0] = st->seen_true ? 1 : 0;
        m->min_len = m->max_len = 1;
        break;
    case ORD_SIGNED:
    case ORD_UNSIGNED: {
        uint64_t mn = c->order == ORD_SIGNED ? (uint64_t)st->imin : st->umin;
        uint64_t mx = c->order == ORD_SIGNED ? (uint64_t)st->imax : st->umax;
        memcpy(m->min, &mn, (size_t)c->plen); /* little-endian: the low bytes */
        memcpy(m->max, &mx, (size_t)c->plen);
        m->min_len = m->max_len = (uint8_t)c->plen;
        break;
    }
    case ORD_FLOAT: {
        double mn = st->dmin == 0.0 ? -0.0 : st->dmin;
        double mx = st->dmax == 0.0 ? 0.0 : st->dmax;
        if (c->plen == 4) {
            float fmn = (float)mn, fmx = (float)mx;
            memcpy(m->min, &fmn, 4);
            memcpy(m->max, &fmx, 4);
        } else {
            memcpy(m->min, &mn, 8);
            memcpy(m->max, &mx, 8);
        }
        m->min_len = m->max_len = (uint8_t)c->plen;
        break;
    }
    default:
        if (c->ptype == PT_FLBA || st->smin_len <= STAT_PREFIX) {
            memcpy(m->min, st->smin, st->smin_len);
            m->min_len = (uint8_t)st->smin_len;
        } else {
            size_t k = utf8_cut(st->smin, STAT_PREFIX);
            memcpy(m->min, st->smin, k);
            m->min_len = (uint8_t)k;
            m->min_exact = false;
        }
        if (c->ptype == PT_FLBA || st->smax_len <= STAT_PREFIX) {
            memcpy(m->max, st->smax, st->smax_len);
            m->max_len = (uint8_t)st->smax_len;
        } else {
            size_t k = upper_bound(st->smax, utf8_cut(st->smax, STAT_PREFIX), m->max);
            m->max_len = (uint8_t)k;
            m->max_exact = false;
            m->has_max = k > 0;
        }
    }
}

/* Compares two PLAIN-encoded bounds of column c in the column's order. */
static int cmp_bound(const col_t *c, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    switch (c->order) {
    case ORD_BOOL:
        return (a[0] > b[0]) - (a[0] < b[0]);
    case ORD_SIGNED: {
        int64_t x = 0, y = 0;
        if (c->plen == 4) {
            int32_t x4, y4;
            memcpy(&x4, a, 4);
            memcpy(&y4, b, 4);
            x = x4, y = y4;
        } else {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
        }
        return (x > y) - (x < y);
    }
    case ORD_UNSIGNED: {
        uint64_t x = 0, y = 0;
        memcpy(&x, a, (size_t)c->plen);
        memcpy(&y, b, (size_t)c->plen);
        return (x > y) - (x < y);
    }
    case ORD_FLOAT: {
        double x, y;
        if (c->plen == 4) {
            float x4, y4;
            memcpy(&x4, a, 4);
            memcpy(&y4, b, 4);
            x = x4, y = y4;
        } else {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
        }
        return (x > y) - (x < y);
    }
    case ORD_DECIMAL_BYTES:
        return cmp_decimal(a, b, an);
    default:
        return cmp_bytes(a, an, b, bn);
    }
}

/* ---------------------------------------------------------------------------
 * Bloom filters (split block, parquet-format BloomFilter.md)
 * ------------------------------------------------------------------------- */

static int hset_add(hset_t *h, uint64_t v)
{
    if (v == 0) {
        h->count += !h->has_zero;
        h->has_zero = true;
        return URSA_OK;
    }
    if ((h->count + 1) * 2 > h->nslots) {
        size_t n = h->nslots ? h->nslots * 2 : 1024;
        uint64_t *s = ursa_calloc(n, sizeof(*s));
        if (!s) return URSA_ENOMEM;
        for (size_t i = 0; i < h->nslots; i++) {
            uint64_t x = h->slots[i];
            if (!x) continue;
            size_t k = (size_t)(x * 0x9e3779b97f4a7c15ull >> 20) & (n - 1);
            while (s[k]) k = (k + 1) & (n - 1);
            s[k] = x;
        }
        ursa_free(h->slots);
        h->slots = s;
        h->nslots = n;
    }
    size_t mask = h->nslots - 1, k = (size_t)(v * 0x9e3779b97f4a7c15ull >> 20) & mask;
    while (h->slots[k]) {
        if (h->slots[k] == v) return URSA_OK;
        k = (k + 1) & mask;
    }
    h->slots[k] = v;
    h->count++;
    return URSA_OK;
}

static void hset_clear(hset_t *h)
{
    if (h->slots && h->nslots > 4096) {
        ursa_free(h->slots); /* do not keep a huge table for the next chunk */
        h->slots = NULL;
        h->nslots = 0;
    } else if (h->slots) {
        memset(h->slots, 0, h->nslots * sizeof(*h->slots));
    }
    h->count = 0;
    h->has_zero = false;
}

/* Bytes of a split-block filter for ndv distinct values at false-positive
 * rate fpp: m = -8 ndv / ln(1 - fpp^(1/8)) bits, rounded up to a power of
 * two between 32 bytes and 128 MiB. */
static size_t bloom_bytes(size_t ndv, double fpp)
{
    if (!(fpp > 0.0 && fpp < 1.0)) fpp = 0.01;
    double bits = -8.0 * (double)(ndv ? ndv : 1) / log(1.0 - pow(fpp, 1.0 / 8.0));
    size_t bytes = BLOOM_MIN_BYTES;
    while (bytes < BLOOM_MAX_BYTES && (double)bytes * 8.0 < bits) bytes *= 2;
    return bytes;
}

static void bloom_insert(uint8_t *bitset, size_t nbytes, uint64_t h)
{
    static const uint32_t salt[8] = {0x47b6137bu, 0x44974d91u, 0x8824ad5bu, 0xa2b7289du,
                                     0x705495c7u, 0x2df1424bu, 0x9efc4947u, 0x5c6bfb31u};
    uint64_t nblocks = nbytes / 32;
    size_t blk = (size_t)(((h >> 32) * nblocks) >> 32);
    uint32_t key = (uint32_t)h;
    uint8_t *b = bitset + blk * 32;
    for (int i = 0; i < 8; i++) {
        uint32_t word;
        memcpy(&word, b + 4 * i, 4);
        word |= 1u << ((key * salt[i]) >> 27);
        memcpy(b + 4 * i, &word, 4);
    }
}

static int bloom_add(col_t *c, const void *p, size_t n)
{
    return hset_add(&c->bloom, XXH64(p, n, 0));
}

/* ---------------------------------------------------------------------------
 * Pages
 * ------------------------------------------------------------------------- */

/* Uncompressed size estimate of the open page. */
static size_t page_estimate(const col_t *c)
{
    size_t est = c->pg_defs.len;
    if (c->pg_dict) {
        size_t nidx = c->pg_vals.len / 4;
        int bw = pq_bit_width(c->dict.count ? c->dict.count - 1 : 0);
        est += 1 + (nidx * (size_t)bw + 7) / 8;
    } else {
        est += c->pg_vals.len;
    }
    return est;
}

typedef struct page_info {
    int type; /* PAGE_* */
    size_t unc, comp, nvals, nulls, levels_len;
    int enc;
} page_info_t;

/* Encodes a PageHeader into hdr. */
static int page_header(ursa_buf_t *hdr, pq_codec_t codec, const page_info_t *pi)
{
    thrift_enc_t e;
    hdr->len = 0;
    thrift_enc_init(&e, hdr);
    thrift_struct_begin(&e);
    thrift_field_i32(&e, 1, pi->type);
    thrift_field_i32(&e, 2, (int32_t)pi->unc);
    thrift_field_i32(&e, 3, (int32_t)pi->comp);
    if (pi->type == PAGE_DATA) {
        thrift_field_struct_begin(&e, 5); /* DataPageHeader */
        thrift_field_i32(&e, 1, (int32_t)pi->nvals);
        thrift_field_i32(&e, 2, pi->enc);
        thrift_field_i32(&e, 3, ENC_RLE); /* definition levels */
        thrift_field_i32(&e, 4, ENC_RLE); /* repetition levels */
        thrift_struct_end(&e);
    } else if (pi->type == PAGE_DATA_V2) {
        thrift_field_struct_begin(&e, 8); /* DataPageHeaderV2 */
        thrift_field_i32(&e, 1, (int32_t)pi->nvals);
        thrift_field_i32(&e, 2, (int32_t)pi->nulls);
        thrift_field_i32(&e, 3, (int32_t)pi->nvals); /* rows: flat schema */
        thrift_field_i32(&e, 4, pi->enc);
        thrift_field_i32(&e, 5, (int32_t)pi->levels_len);
        thrift_field_i32(&e, 6, 0);
        thrift_field_bool(&e, 7, codec != PQ_CODEC_UNCOMPRESSED);
        thrift_struct_end(&e);
    } else {
        thrift_field_struct_begin(&e, 7); /* DictionaryPageHeader */
        thrift_field_i32(&e, 1, (int32_t)pi->nvals);
        thrift_field_i32(&e, 2, ENC_PLAIN);
        thrift_struct_end(&e);
    }
    thrift_struct_end(&e);
    return thrift_enc_status(&e);
}

/* Compresses a dictionary page body on the calling thread; on success the
 * header is in w->hdr and *payload is the body to write after it (body
 * itself, or w->zbody). Adds the page's sizes to the chunk's totals. */
static int encode_dict_page(pq_writer_t *w, col_t *c, page_info_t *pi, const ursa_buf_t *body,
                            const ursa_buf_t **payload, ursa_err_t *err)
{
    int rc;
    *payload = body;
    if (body->len > INT32_MAX || pi->nvals > INT32_MAX)
        return ursa_err_set(err, URSA_ELIMIT, "column %s: a page of %zu bytes is too large for Parquet",
                            c->field->name, body->len);
    if (w->mx.comp.codec != PQ_CODEC_UNCOMPRESSED) {
        w->zbody.len = 0;
        if ((rc = pq_compress(&w->mx.comp, body->data, body->len, &w->zbody)))
            return ursa_err_set(err, rc, "column %s: %s compression failed", c->field->name,
                                pq_codec_name(w->mx.comp.codec));
        *payload = &w->zbody;
        if (w->zbody.len > INT32_MAX)
            return ursa_err_set(err, URSA_ELIMIT, "column %s: a compressed page is too large for Parquet",
                                c->field->name);
    }
    pi->unc = body->len;
    pi->comp = (*payload)->len;
    if ((rc = page_header(&w->hdr, w->mx.comp.codec, pi)))
        return ursa_err_set(err, rc, "column %s: out of memory for a page header", c->field->name);
    c->ch_unc += (int64_t)(w->hdr.len + pi->unc);
    c->ch_comp += (int64_t)(w->hdr.len + pi->comp);
    return URSA_OK;
}

/* Page statistics of a dictionary-encoded byte-array page: every entry
 * the page uses, compared once. */
static int dict_page_stats(col_t *c, size_t nidx)
{
    if (c->dict_seen_cap < c->dict.count) {
        size_t cap = c->dict.count * 2;
        uint32_t *s = ursa_realloc(c->dict_seen, cap * sizeof(*s));
        if (!s) return URSA_ENOMEM;
        memset(s + c->dict_seen_cap, 0, (cap - c->dict_seen_cap) * sizeof(*s));
        c->dict_seen = s;
        c->dict_seen_cap = cap;
    }
    uint32_t serial = ++c->page_serial;
    if (serial == 0) { /* wrapped: forget old marks */
        memset(c->dict_seen, 0, c->dict_seen_cap * sizeof(*c->dict_seen));
        serial = c->page_serial = 1;
    }
    const uint32_t *idx = (const uint32_t *)(const void *)c->pg_vals.data;
    for (size_t i = 0; i < nidx; i++) {
        uint32_t k = idx[i];
        if (c->dict_seen[k] == serial) continue;
        c->dict_seen[k] = serial;
        size_t n;
        const uint8_t *s = pq_dict_entry(&c->dict, k, &n);
        stats_str(&c->pst, s, n);
    }
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Finishing pages: encoding and compression, on any thread
 * ------------------------------------------------------------------------- */

/* DELTA_LENGTH_BYTE_ARRAY from the PLAIN values of page j. */
static int encode_dlba(pq_exec_t *x, const page_job_t *j, size_t nonnull, ursa_buf_t *out)
{
    int rc;
    x->lens.len = 0;
    if ((rc = ursa_buf_reserve(&x->lens, nonnull * 4 + 4))) return rc;
    int32_t *lens = (int32_t *)(void *)x->lens.data;
    const uint8_t *p = j->vals.data;
    size_t q = 0, total = 0;
    for (size_t i = 0; i < nonnull; i++) {
        uint32_t l;
        memcpy(&l, p + q, 4);
        lens[i] = (int32_t)l;
        q += 4 + l;
        total += l;
    }
    if ((rc = pq_delta_encode32(out, lens, nonnull))) return rc;
    if ((rc = ursa_buf_reserve(out, total))) return rc;
    q = 0;
    for (size_t i = 0; i < nonnull; i++) {
        size_t l = (size_t)lens[i];
        if (l) memcpy(out->data + out->len, p + q + 4, l);
        out->len += l;
        q += 4 + l;
    }
    return URSA_OK;
}

/* Appends the encoded values of page j to out, except PLAIN values, which
 * are j->vals as they stand: then *as_is is set and nothing is appended. */
static int encode_values(pq_exec_t *x, const page_job_t *j, ursa_buf_t *out, bool *as_is)
{
    int rc;
    const col_t *c = j->c;
    size_t nonnull = j->rows - j->nulls;
    *as_is = false;
    switch (j->enc) {
    case ENC_RLE_DICTIONARY:
        if ((rc = ursa_buf_push(out, (uint8_t)j->bw))) return rc;
        return pq_rle_encode(out, (const uint32_t *)(const void *)j->vals.data, nonnull, j->bw);
    case ENC_RLE: { /* v2 booleans: a 4-byte length, then the hybrid with bit width 1 */
        size_t at = out->len;
        if ((rc = ursa_buf_reserve(out, 4))) return rc;
        out->len += 4;
        if ((rc = pq_rle_encode_bits(out, j->vals.data, 0, nonnull))) return rc;
        uint32_t n = (uint32_t)(out->len - at - 4);
        memcpy(out->data + at, &n, 4);
        return URSA_OK;
    }
    case ENC_DELTA_BINARY_PACKED:
        if (c->plen == 4) return pq_delta_encode32(out, (const int32_t *)(const void *)j->vals.data, nonnull);
        return pq_delta_encode64(out, (const int64_t *)(const void *)j->vals.data, nonnull);
    case ENC_BYTE_STREAM_SPLIT:
        return pq_byte_stream_split(out, j->vals.data, nonnull, (size_t)c->plen);
    case ENC_DELTA_LENGTH_BYTE_ARRAY:
        return encode_dlba(x, j, nonnull, out);
    default:
        *as_is = true;
        return URSA_OK;
    }
}

/* Encodes and compresses page j with x's compressor and scratch: the levels
 * and values go to x->body (PLAIN values without levels in front are
 * compressed where they are), the compressed body straight into the page's
 * own allocation behind HDR_ROOM bytes, and the header in front of it; the
 * allocation is then shrunk to what was used. Sets j->rc (and j->why). */
static void run_job(pq_exec_t *x, page_job_t *j)
{
    int rc;
    const col_t *c = j->c;
    bool v2 = j->v2;
    ursa_buf_t *body = &x->body;
    size_t levels_len = 0;
    body->len = 0;
    j->why = "out of memory encoding a page";
    if (c->nullable) {
        if (v2) {
            if ((rc = pq_rle_encode_bits(body, j->defs.data, 0, j->rows))) goto out;
            levels_len = body->len;
        } else {
            if ((rc = ursa_buf_reserve(body, 4))) goto out;
            body->len = 4;
            if ((rc = pq_rle_encode_bits(body, j->defs.data, 0, j->rows))) goto out;
            uint32_t n = (uint32_t)(body->len - 4);
            memcpy(body->data, &n, 4);
        }
    }
    bool as_is;
    if ((rc = encode_values(x, j, body, &as_is))) goto out;
    if (as_is && body->len > levels_len && (rc = ursa_buf_append(body, j->vals.data, j->vals.len))) goto out;
    /* What is compressed: the values (v2) or levels and values (v1). */
    const uint8_t *src = body->data + levels_len;
    size_t n = body->len - levels_len;
    if (as_is && body->len == levels_len) {
        src = j->vals.data;
        n = j->vals.len;
    }
    if (n == 0) src = (const uint8_t *)""; /* no NULL for the codecs */
    if (levels_len + n > INT32_MAX || j->rows > INT32_MAX) {
        rc = URSA_ELIMIT;
        j->why = "a page is too large for Parquet";
        goto out;
    }
    size_t bound = pq_compress_bound(&x->comp, n);
    if (bound == 0 && n > 0) {
        rc = URSA_ELIMIT;
        j->why = "a page is too large for its codec";
        goto out;
    }
    ursa_buf_t page = {0};
    page.cap = HDR_ROOM + levels_len + bound;
    if (!(page.data = ursa_malloc(page.cap))) {
        rc = URSA_ENOMEM;
        goto out;
    }
    j->blob = page.data;
    if (levels_len) memcpy(page.data + HDR_ROOM, body->data, levels_len);
    page.len = HDR_ROOM + levels_len;
    if ((rc = pq_compress(&x->comp, src, n, &page))) {
        j->blob = page.data; /* pq_compress may have moved it */
        j->why = rc == URSA_ENOMEM ? "out of memory compressing a page" : "compression failed";
        goto out;
    }
    j->blob = page.data;
    size_t comp = page.len - HDR_ROOM;
    if (comp > INT32_MAX) {
        rc = URSA_ELIMIT;
        j->why = "a compressed page is too large for Parquet";
        goto out;
    }
    page_info_t pi = {
        v2 ? PAGE_DATA_V2 : PAGE_DATA, levels_len + n, comp, j->rows, j->nulls, levels_len, j->enc};
    if ((rc = page_header(&x->hdr, x->comp.codec, &pi))) {
        j->why = "out of memory for a page header";
        goto out;
    }
    if (x->hdr.len > HDR_ROOM) { /* cannot happen: a header is at most about 80 bytes */
        rc = URSA_EINTERNAL;
        j->why = "a page header is too large";
        goto out;
    }
    j->start = HDR_ROOM - x->hdr.len;
    memcpy(j->blob + j->start, x->hdr.data, x->hdr.len);
    j->hdr_len = x->hdr.len;
    j->len = x->hdr.len + comp;
    j->unc = pi.unc;
    j->comp = comp;
    if (page.cap - page.len > 4096) { /* give back what compression did not use */
        uint8_t *p = ursa_realloc(j->blob, page.len);
        if (p) j->blob = p;
    }
    rc = URSA_OK;
out:
    j->rc = rc;
    /* Keep no scratch that a huge page blew up. */
    size_t keep = x->keep;
    if (body->cap > keep) ursa_buf_free(body);
    if (x->lens.cap > keep) ursa_buf_free(&x->lens);
}

/* ---------------------------------------------------------------------------
 * The worker pool
 *
 * A closed page is queued; workers (and the calling thread, when the queue
 * is full or while it waits for a page it must write) take pages from the
 * head of the queue and finish them. At most max_inflight pages are queued
 * or running, so the raw pages in flight cost a few page sizes. Pages are
 * written to the sink in their order by the calling thread only, so the file
 * does not depend on which thread finished which page. With no workers a
 * page is finished as soon as it is closed.
 * ------------------------------------------------------------------------- */

static void exec_init(pq_exec_t *x, const pq_writer_t *w)
{
    memset(x, 0, sizeof(*x));
    x->comp.codec = w->mx.comp.codec;
    x->comp.level = w->mx.comp.level;
    x->keep = 2 * w->o.page_bytes + 65536;
}

static void exec_free(pq_exec_t *x)
{
    pq_compressor_free(&x->comp);
    ursa_buf_free(&x->body);
    ursa_buf_free(&x->hdr);
    ursa_buf_free(&x->lens);
}

static void pool_lock(pq_pool_t *p)
{
    if (p->nthreads) pthread_mutex_lock(&p->mu);
}

static void pool_unlock(pq_pool_t *p)
{
    if (p->nthreads) pthread_mutex_unlock(&p->mu);
}

/* Under the lock: a buffer for a column's next open page. */
static void spare_take(pq_pool_t *p, ursa_buf_t *b)
{
    if (p->nspare) {
        *b = p->spare[--p->nspare];
    } else {
        memset(b, 0, sizeof(*b));
    }
}

/* Under the lock: keeps b for reuse, or frees it. */
static void spare_give(pq_pool_t *p, ursa_buf_t *b, size_t keep)
{
    if (b->data && b->cap <= keep && p->nspare < POOL_SPARES) {
        b->len = 0;
        p->spare[p->nspare++] = *b;
        memset(b, 0, sizeof(*b));
    } else {
        ursa_buf_free(b);
    }
}

/* Under the lock: the page was finished by some thread. */
static void job_done(pq_pool_t *p, page_job_t *j, size_t keep)
{
    spare_give(p, &j->vals, keep);
    ursa_buf_free(&j->defs);
    j->state = JOB_DONE;
    if (p->nthreads) {
        p->inflight--;
        pthread_cond_broadcast(&p->done);
    }
}

/* Under the lock: the page at the head of the queue, now running. */
static page_job_t *job_pop(pq_pool_t *p)
{
    page_job_t *j = p->head;
    p->head = j->next;
    if (!p->head) p->tail = NULL;
    j->next = NULL;
    j->state = JOB_RUNNING;
    return j;
}

/* Under the lock: finishes the page at the head of the queue on the
 * calling thread (the lock is let go meanwhile). */
static void help_one(pq_writer_t *w)
{
    pq_pool_t *p = &w->pool;
    page_job_t *j = job_pop(p);
    pthread_mutex_unlock(&p->mu);
    run_job(&w->mx, j);
    pthread_mutex_lock(&p->mu);
    job_done(p, j, w->mx.keep);
}

static void *worker_main(void *arg)
{
    pq_exec_t *x = arg;
    pq_pool_t *p = &x->w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        page_job_t *j = job_pop(p);
        pthread_mutex_unlock(&p->mu);
        run_job(x, j);
        pthread_mutex_lock(&p->mu);
        job_done(p, j, x->keep);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Hands page j over: finishes it now without workers, else queues it
 * (finishing queued pages on this thread while too many are in flight). */
static void job_submit(pq_writer_t *w, page_job_t *j)
{
    pq_pool_t *p = &w->pool;
    if (!p->nthreads) {
        run_job(&w->mx, j);
        job_done(p, j, w->mx.keep);
        return;
    }
    pthread_mutex_lock(&p->mu);
    while (p->inflight >= p->max_inflight) {
        if (p->head)
            help_one(w);
        else
            pthread_cond_wait(&p->done, &p->mu);
    }
    j->state = JOB_QUEUED;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->inflight++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

/* Returns when page j is finished, finishing queued pages meanwhile. */
static void job_wait(pq_writer_t *w, page_job_t *j)
{
    pq_pool_t *p = &w->pool;
    if (!p->nthreads) return;
    pthread_mutex_lock(&p->mu);
    while (j->state != JOB_DONE) {
        if (p->head)
            help_one(w);
        else
            pthread_cond_wait(&p->done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

static void job_free(page_job_t *j)
{
    if (!j) return;
    ursa_free(j->blob);
    ursa_buf_free(&j->vals);
    ursa_buf_free(&j->defs);
    ursa_free(j);
}

/* Starts threads - 1 workers (fewer if the system refuses threads). */
static int pool_start(pq_writer_t *w, int threads)
{
    pq_pool_t *p = &w->pool;
    if (threads <= 1) return URSA_OK;
    size_t n = (size_t)threads - 1;
    if (!(p->execs = ursa_calloc(n, sizeof(*p->execs))) ||
        !(p->threads = ursa_calloc(n, sizeof(*p->threads))))
        return URSA_ENOMEM;
    if (pthread_mutex_init(&p->mu, NULL)) return URSA_ENOMEM;
    if (pthread_cond_init(&p->work, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return URSA_ENOMEM;
    }
    if (pthread_cond_init(&p->done, NULL)) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        return URSA_ENOMEM;
    }
    p->max_inflight = 2 * (n + 1);
    for (size_t i = 0; i < n; i++) {
        exec_init(&p->execs[i], w);
        p->execs[i].w = w;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->execs[i])) break;
        p->nthreads = i + 1;
    }
    if (!p->nthreads) { /* no thread at all: work on the calling thread */
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
    }
    return URSA_OK;
}

/* Stops the workers (each finishes the page it holds) and frees the pool.
 * Pages still queued stay unfinished in their columns' lists. */
static void pool_stop(pq_writer_t *w)
{
    pq_pool_t *p = &w->pool;
    if (p->nthreads) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
    }
    for (size_t i = 0; p->execs && i < p->nthreads; i++) exec_free(&p->execs[i]);
    for (size_t i = 0; i < p->nspare; i++) ursa_buf_free(&p->spare[i]);
    ursa_free(p->execs);
    ursa_free(p->threads);
    memset(p, 0, sizeof(*p));
}

/* ---------------------------------------------------------------------------
 * Closing pages
 * ------------------------------------------------------------------------- */

static void page_reset(pq_writer_t *w, col_t *c)
{
    c->pg_rows = c->pg_nulls = 0;
    c->pg_def_bits = c->pg_val_bits = 0;
    c->pg_defs.len = 0;
    c->pg_vals.len = 0;
    c->pg_dict = c->dict_on;
    stats_reset(&c->pst);
    /* Give back the room a huge value left behind. */
    size_t keep = 2 * w->o.page_bytes + 65536;
    if (c->pg_vals.cap > keep) ursa_buf_free(&c->pg_vals);
    if (w->zbody.cap > keep) ursa_buf_free(&w->zbody);
    if (w->conv.cap > keep) ursa_buf_free(&w->conv);
}

/* Closes the open page of c (if it holds rows): takes its statistics and
 * page index entry, and hands the raw page over to be encoded and
 * compressed (see job_submit); the column goes on with fresh buffers. */
static int close_page(pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    if (c->pg_rows == 0) return URSA_OK;
    size_t nonnull = c->pg_rows - c->pg_nulls;
    bool dict = c->pg_dict && nonnull > 0;
    bool v2 = w->o.page_version == 2;
    if (dict && c->ptype == PT_BYTE_ARRAY && dict_page_stats(c, nonnull)) goto nomem;
    if (c->npages == c->pages_cap) {
        size_t cap = c->pages_cap ? c->pages_cap * 2 : 16;
        page_job_t **p = ursa_realloc(c->pages, cap * sizeof(*p));
        if (!p) goto nomem;
        c->pages = p;
        c->pages_cap = cap;
    }
    if (w->o.page_index && c->npm == c->pm_cap) {
        size_t cap = c->pm_cap ? c->pm_cap * 2 : 16;
        page_meta_t *p = ursa_realloc(c->pm, cap * sizeof(*p));
        if (!p) goto nomem;
        c->pm = p;
        c->pm_cap = cap;
    }
    page_job_t *j = ursa_calloc(1, sizeof(*j));
    if (!j) goto nomem;
    j->c = c;
    j->v2 = v2;
    j->rows = c->pg_rows;
    j->nulls = c->pg_nulls;
    /* v2 booleans are RLE unless the schema asked for PLAIN explicitly. */
    j->enc = dict                                                                   ? ENC_RLE_DICTIONARY
             : c->ptype == PT_BOOLEAN && v2 && c->field->encoding != URSA_ENC_PLAIN ? ENC_RLE
                                                                                    : c->enc;
    j->bw = dict ? pq_bit_width(c->dict.count - 1) : 0;
    c->ch_est += page_estimate(c) + 32; /* 32: about a page header */
    j->vals = c->pg_vals;
    j->defs = c->pg_defs;
    memset(&c->pg_defs, 0, sizeof(c->pg_defs));
    pool_lock(&w->pool);
    spare_take(&w->pool, &c->pg_vals);
    pool_unlock(&w->pool);
    c->pages[c->npages++] = j;
    if (w->o.page_index) {
        page_meta_t *pm = &c->pm[c->npm++];
        pm->offset = 0; /* offset and size: when the page is written */
        pm->size = 0;
        pm->first_row = c->ch_values;
        pm->nulls = (int64_t)c->pg_nulls;
        pm->null_page = nonnull == 0;
        pm->has_nan = c->pst.nans > 0;
        bounds_of(c, &c->pst, &pm->b);
    }
    c->ch_values += (int64_t)c->pg_rows;
    c->ch_by_enc[j->enc]++;
    stats_merge(c, &c->st, &c->pst);
    page_reset(w, c);
    job_submit(w, j);
    return URSA_OK;
nomem:
    return ursa_err_set(err, URSA_ENOMEM, "column %s: out of memory encoding a page", c->field->name);
}

/* The rows the open page of c may still take: up to the next multiple of
 * page_rows in the column chunk. Pages that close on page_rows therefore
 * end on the same rows in every column, even after one closed early (at
 * page_bytes, or at a dictionary's fallback): a reader of a slice of rows
 * (pq_reader_page_bound) then finds bounds common to all the columns. */
static inline size_t page_rows_left(const pq_writer_t *w, const col_t *c)
{
    return w->o.page_rows - ((size_t)c->ch_values + c->pg_rows) % w->o.page_rows;
}

static int maybe_close_page(pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    if ((c->pg_rows > 0 && page_rows_left(w, c) == w->o.page_rows) || page_estimate(c) >= w->o.page_bytes)
        return close_page(w, c, err);
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Appending rows to a column
 * ------------------------------------------------------------------------- */

static int nomem_col(const col_t *c, ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ENOMEM, "column %s: out of memory", c->field->name);
}

/* Number of zero bits among bits [a, a + n). */
static size_t count_zeros(const uint8_t *bits, size_t a, size_t n)
{
    size_t ones = 0, i = a, end = a + n;
    for (; i < end && (i & 7); i++) ones += bit(bits, i);
    for (; i + 64 <= end; i += 64) {
        uint64_t x;
        memcpy(&x, bits + (i >> 3), 8);
        ones += (size_t)__builtin_popcountll(x);
    }
    for (; i + 8 <= end; i += 8) ones += (size_t)__builtin_popcount(bits[i >> 3]);
    for (; i < end; i++) ones += bit(bits, i);
    return n - ones;
}

/* Converts one value (width bytes at s) to its physical form at d. */
static inline void conv_one(const col_t *c, const uint8_t *s, uint8_t *d)
{
    int32_t x;
    switch (c->conv) {
    case CONV_I8:
        x = (int8_t)s[0];
        break;
    case CONV_U8:
        x = s[0];
        break;
    case CONV_I16: {
        int16_t v;
        memcpy(&v, s, 2);
        x = v;
        break;
    }
    case CONV_U16: {
        uint16_t v;
        memcpy(&v, s, 2);
        x = v;
        break;
    }
    case CONV_I64_32: {
        int64_t v;
        memcpy(&v, s, 8);
        x = (int32_t)v; /* precision <= 9: fits */
        break;
    }
    case CONV_I128_BE: /* the low plen bytes, most significant first */
        for (int k = 0; k < c->plen; k++) d[k] = s[c->plen - 1 - k];
        return;
    default:
        memcpy(d, s, (size_t)c->width);
        return;
    }
    memcpy(d, &x, 4);
}

/* Writes the physical values of the non-null rows among [a, a + k) to d;
 * returns how many. */
static size_t convert_rows(const col_t *c, const uint8_t *values, const uint8_t *validity, size_t a, size_t k,
                           uint8_t *d)
{
    size_t w = (size_t)c->width, p = (size_t)c->plen, nn = 0;
    if (c->conv == CONV_COPY && !validity) {
        memcpy(d, values + a * w, k * w);
        return k;
    }
    for (size_t i = a; i < a + k; i++) {
        if (validity && !bit(validity, i)) continue;
        conv_one(c, values + i * w, d + nn * p);
        nn++;
    }
    return nn;
}

/* Appends the dictionary index of each of the nn physical values at v to
 * the open page; stops at the first value that does not fit in the
 * dictionary. Returns URSA_OK with *done = values indexed. */
static int dict_fixed(col_t *c, const uint8_t *v, size_t nn, size_t *done)
{
    int rc;
    size_t p = (size_t)c->plen;
    if ((rc = ursa_buf_reserve(&c->pg_vals, nn * 4))) return rc;
    uint32_t *out = (uint32_t *)(void *)(c->pg_vals.data + c->pg_vals.len);
    size_t i = 0;
    for (; i < nn; i++) {
        bool added;
        rc = pq_dict_put(&c->dict, v + i * p, p, &out[i], &added);
        if (rc == URSA_ELIMIT) break;
        if (rc) return rc;
    }
    c->pg_vals.len += i * 4;
    *done = i;
    return URSA_OK;
}

/* The dictionary is full: close the open page if it holds indices, and
 * write the rest of the chunk with the fallback encoding. */
static int dict_fallback(pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    int rc;
    c->dict_on = false;
    if (c->pg_rows > c->pg_nulls && (rc = close_page(w, c, err))) return rc;
    c->pg_dict = false; /* an open page of nulls only has no values yet */
    return URSA_OK;
}

/* The row holding the j-th (0-based) non-null value among rows from a. */
static size_t row_of_nonnull(const uint8_t *validity, size_t a, size_t j)
{
    size_t r = a;
    if (!validity) return a + j;
    for (;; r++) {
        if (!bit(validity, r)) continue;
        if (j-- == 0) return r;
    }
}

/* Every fixed-width type and BOOL: rows [a, a + n) of col. */
static int append_fixed(pq_writer_t *w, col_t *c, const ursa_column_t *col, size_t a, size_t n,
                        ursa_err_t *err)
{
    int rc;
    const uint8_t *validity = c->nullable && col->null_count ? col->validity.data : NULL;
    size_t width = c->ptype == PT_BOOLEAN ? 1 : (size_t)c->plen; /* bytes per value, rounded up */
    while (n > 0) {
        size_t est = page_estimate(c);
        size_t room = est < w->o.page_bytes ? (w->o.page_bytes - est) / width : 0;
        size_t k = min_sz(min_sz(n, room ? room : 1), page_rows_left(w, c));
        if (k == 0) k = 1;
        size_t nulls = validity ? count_zeros(validity, a, k) : 0;
        if (c->ptype == PT_BOOLEAN) {
            if ((rc = pq_plain_bools(&c->pg_vals, &c->pg_val_bits, col->values.data, validity, a, k)))
                return nomem_col(c, err);
            stats_bool(&c->pst, col->values.data, validity, a, k);
            if (c->field->bloom_filter)
                for (size_t i = a; i < a + k; i++) {
                    if (validity && !bit(validity, i)) continue;
                    uint8_t b = bit(col->values.data, i);
                    if (bloom_add(c, &b, 1)) return nomem_col(c, err);
                }
        } else {
            size_t nn = k - nulls, p = (size_t)c->plen;
            ursa_buf_t *dst = c->pg_dict ? &w->conv : &c->pg_vals;
            if (c->pg_dict) w->conv.len = 0;
            if (ursa_buf_reserve(dst, nn * p)) return nomem_col(c, err);
            uint8_t *v = dst->data + dst->len;
            convert_rows(c, col->values.data, validity, a, k, v);
            bool full = false;
            if (c->pg_dict) {
                size_t done;
                if ((rc = dict_fixed(c, v, nn, &done))) return nomem_col(c, err);
                if (done < nn) {
                    /* Take the rows before the value that did not fit, then fall back. */
                    full = true;
                    k = row_of_nonnull(validity, a, done) - a;
                    nn = done;
                    nulls = validity ? count_zeros(validity, a, k) : 0;
                }
            } else {
                dst->len += nn * p;
            }
            stats_phys(c, &c->pst, v, nn);
            if (c->field->bloom_filter)
                for (size_t i = 0; i < nn; i++)
                    if (bloom_add(c, v + i * p, p)) return nomem_col(c, err);
            if (full) {
                if (c->nullable && k &&
                    (rc = pq_bits_append(&c->pg_defs, &c->pg_def_bits, col->validity.data, a, k)))
                    return nomem_col(c, err);
                c->pg_rows += k;
                c->pg_nulls += nulls;
                c->pst.nulls += (int64_t)nulls;
                a += k;
                n -= k;
                if ((rc = dict_fallback(w, c, err))) return rc;
                continue;
            }
        }
        if (c->nullable && (rc = pq_bits_append(&c->pg_defs, &c->pg_def_bits, col->validity.data, a, k)))
            return nomem_col(c, err);
        c->pg_rows += k;
        c->pg_nulls += nulls;
        c->pst.nulls += (int64_t)nulls;
        a += k;
        n -= k;
        if ((rc = maybe_close_page(w, c, err))) return rc;
    }
    return URSA_OK;
}

static int append_strings(pq_writer_t *w, col_t *c, const ursa_column_t *col, size_t a, size_t n,
                          ursa_err_t *err)
{
    int rc;
    const int64_t *off = (const int64_t *)(const void *)col->offsets.data;
    const uint8_t *validity = c->nullable && col->null_count ? col->validity.data : NULL;
    bool bloom = c->field->bloom_filter;
    for (size_t i = a; i < a + n; i++) {
        bool valid = !validity || bit(validity, i);
        if (valid) {
            /* A column of empty strings may have no data buffer at all. */
            const uint8_t *s = col->data.data ? col->data.data + off[i] : (const uint8_t *)"";
            size_t len = (size_t)(off[i + 1] - off[i]);
            if (c->pg_dict) {
                uint32_t idx;
                bool added;
                rc = pq_dict_put(&c->dict, s, len, &idx, &added);
                if (rc == URSA_ELIMIT) {
                    if ((rc = dict_fallback(w, c, err))) return rc;
                } else if (rc) {
                    return nomem_col(c, err);
                } else {
                    if (c->pg_vals.cap - c->pg_vals.len < sizeof(idx) &&
                        ursa_buf_reserve(&c->pg_vals, sizeof(idx) * (a + n - i)))
                        return nomem_col(c, err);
                    memcpy(c->pg_vals.data + c->pg_vals.len, &idx, sizeof(idx));
                    c->pg_vals.len += sizeof(idx);
                    if (added && bloom && bloom_add(c, s, len)) return nomem_col(c, err);
                }
            }
            if (!c->pg_dict) {
                /* Keep every page well inside Parquet's int32 sizes. */
                if (c->pg_rows > 0 && page_estimate(c) + 4 + len > PAGE_SOFT_MAX &&
                    (rc = close_page(w, c, err)))
                    return rc;
                if ((rc = pq_plain_byte_array(&c->pg_vals, s, len)))
                    return rc == URSA_ELIMIT ? ursa_err_set(err, rc,
                                                            "column %s: a value of %zu bytes is too "
                                                            "large for Parquet",
                                                            c->field->name, len)
                                             : nomem_col(c, err);
                stats_str(&c->pst, s, len);
                if (bloom && bloom_add(c, s, len)) return nomem_col(c, err);
            }
        } else {
            c->pg_nulls++;
            c->pst.nulls++;
        }
        if (c->nullable) {
            if ((c->pg_def_bits & 7) == 0 && (rc = ursa_buf_push(&c->pg_defs, 0))) return nomem_col(c, err);
            c->pg_defs.data[c->pg_def_bits >> 3] |= (uint8_t)(valid << (c->pg_def_bits & 7));
            c->pg_def_bits++;
        }
        c->pg_rows++;
        if ((rc = maybe_close_page(w, c, err))) return rc;
    }
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Row groups
 * ------------------------------------------------------------------------- */

static int sink_write(pq_writer_t *w, const void *p, size_t n, ursa_err_t *err)
{
    if (n == 0) return URSA_OK;
    if (err) {
        err->code = URSA_OK;
        err->msg[0] = '\0';
    }
    int rc = w->sink.write(w->sink.ctx, p, n, err);
    if (rc) {
        if (err && err->code == URSA_OK)
            ursa_err_set(err, rc, "write of %zu bytes at offset %llu failed", n,
                         (unsigned long long)w->offset);
        return rc;
    }
    w->offset += n;
    return URSA_OK;
}

static size_t rg_estimate(const pq_writer_t *w)
{
    size_t est = 0;
    for (size_t i = 0; i < w->ncols; i++) {
        const col_t *c = &w->cols[i];
        est += c->ch_est + page_estimate(c) + c->dict.data.len;
    }
    return est;
}

static void chunk_reset(pq_writer_t *w, col_t *c)
{
    for (size_t k = 0; k < c->npages; k++) job_free(c->pages[k]);
    c->npages = 0;
    c->npm = 0;
    c->ch_est = 0;
    c->ch_values = c->ch_unc = c->ch_comp = 0;
    memset(c->ch_by_enc, 0, sizeof(c->ch_by_enc));
    pq_dict_clear(&c->dict);
    c->dict_on = c->use_dict && w->o.dict_max_bytes > 0;
    c->pg_dict = c->dict_on;
    stats_reset(&c->st);
    stats_reset(&c->pst);
    hset_clear(&c->bloom);
}

/* Writes the bloom filter of column c's chunk to the sink. */
static int write_bloom(pq_writer_t *w, col_t *c, chunk_meta_t *m, ursa_err_t *err)
{
    int rc;
    size_t nbytes = bloom_bytes(c->bloom.count, w->o.bloom_fpp);
    uint8_t *bits = ursa_calloc(1, nbytes);
    if (!bits)
        return ursa_err_set(err, URSA_ENOMEM, "column %s: out of memory for a bloom filter", c->field->name);
    if (c->bloom.has_zero) bloom_insert(bits, nbytes, 0);
    for (size_t i = 0; i < c->bloom.nslots; i++)
        if (c->bloom.slots[i]) bloom_insert(bits, nbytes, c->bloom.slots[i]);
    thrift_enc_t e;
    w->hdr.len = 0;
    thrift_enc_init(&e, &w->hdr);
    thrift_struct_begin(&e); /* BloomFilterHeader */
    thrift_field_i32(&e, 1, (int32_t)nbytes);
    thrift_field_struct_begin(&e, 2); /* algorithm: BLOCK */
    thrift_field_struct_begin(&e, 1);
    thrift_struct_end(&e);
    thrift_struct_end(&e);
    thrift_field_struct_begin(&e, 3); /* hash: XXHASH */
    thrift_field_struct_begin(&e, 1);
    thrift_struct_end(&e);
    thrift_struct_end(&e);
    thrift_field_struct_begin(&e, 4); /* compression: UNCOMPRESSED */
    thrift_field_struct_begin(&e, 1);
    thrift_struct_end(&e);
    thrift_struct_end(&e);
    thrift_struct_end(&e);
    if ((rc = thrift_enc_status(&e))) {
        ursa_free(bits);
        return ursa_err_set(err, rc, "out of memory for a bloom filter header");
    }
    m->bloom_off = (int64_t)w->offset;
    m->bloom_len = (int32_t)(w->hdr.len + nbytes);
    rc = sink_write(w, w->hdr.data, w->hdr.len, err);
    if (!rc) rc = sink_write(w, bits, nbytes, err);
    ursa_free(bits);
    return rc;
}

/* Writes the current row group (when it has rows) to the sink. */
static int flush_row_group(pq_writer_t *w, ursa_err_t *err)
{
    int rc;
    if (w->rg_rows == 0) return URSA_OK;
    if (w->nrgs == w->rgs_cap) {
        size_t cap = w->rgs_cap ? w->rgs_cap * 2 : 8;
        rg_meta_t *rgs = ursa_realloc(w->rgs, cap * sizeof(*rgs));
        if (!rgs) return ursa_err_set(err, URSA_ENOMEM, "out of memory for row group metadata");
        w->rgs = rgs;
        w->rgs_cap = cap;
    }
    rg_meta_t *rg = &w->rgs[w->nrgs];
    memset(rg, 0, sizeof(*rg));
    if (!(rg->cols = ursa_calloc(w->ncols, sizeof(*rg->cols))))
        return ursa_err_set(err, URSA_ENOMEM, "out of memory for row group metadata");
    w->nrgs++; /* so that destroy frees rg->cols whatever happens next */
    rg->file_offset = (int64_t)w->offset;
    for (size_t i = 0; i < w->ncols; i++) {
        col_t *c = &w->cols[i];
        chunk_meta_t *m = &rg->cols[i];
        m->ci_off = m->oi_off = m->bloom_off = -1;
        if ((rc = close_page(w, c, err))) return rc;
        m->start = (int64_t)w->offset;
        m->dict_off = -1;
        if (c->ch_by_enc[ENC_RLE_DICTIONARY] > 0) {
            /* The dictionary is the PLAIN body of the dictionary page. */
            const ursa_buf_t *payload;
            page_info_t pi = {PAGE_DICTIONARY, 0, 0, c->dict.count, 0, 0, ENC_PLAIN};
            m->dict_off = (int64_t)w->offset;
            if ((rc = encode_dict_page(w, c, &pi, &c->dict.data, &payload, err)) ||
                (rc = sink_write(w, w->hdr.data, w->hdr.len, err)) ||
                (rc = sink_write(w, payload->data, payload->len, err)))
                return rc;
        }
        m->data_off = (int64_t)w->offset;
        for (size_t k = 0; k < c->npages; k++) {
            page_job_t *j = c->pages[k];
            job_wait(w, j);
            if (j->rc) return ursa_err_set(err, j->rc, "column %s: %s", c->field->name, j->why);
            if (w->o.page_index) {
                c->pm[k].offset = (int64_t)w->offset;
                c->pm[k].size = (int32_t)j->len;
            }
            c->ch_unc += (int64_t)(j->hdr_len + j->unc);
            c->ch_comp += (int64_t)j->len;
            if ((rc = sink_write(w, j->blob + j->start, j->len, err))) return rc;
            job_free(j);
            c->pages[k] = NULL;
        }
        c->npages = 0;
        if (w->o.page_index && c->npm) {
            if (!(m->pages = ursa_malloc(c->npm * sizeof(*m->pages))))
                return ursa_err_set(err, URSA_ENOMEM, "out of memory for the page index");
            memcpy(m->pages, c->pm, c->npm * sizeof(*m->pages));
            m->npages = c->npm;
        }
        m->num_values = c->ch_values;
        m->unc_bytes = c->ch_unc;
        m->comp_bytes = c->ch_comp;
        memcpy(m->pages_by_enc, c->ch_by_enc, sizeof(m->pages_by_enc));
        m->nulls = c->st.nulls;
        m->nans = c->st.nans;
        bounds_of(c, &c->st, &m->b);
        rg->unc_bytes += c->ch_unc;
        rg->comp_bytes += c->ch_comp;
    }
    for (size_t i = 0; i < w->ncols; i++) {
        col_t *c = &w->cols[i];
        if (c->field->bloom_filter && (rc = write_bloom(w, c, &rg->cols[i], err))) return rc;
        chunk_reset(w, c);
    }
    rg->num_rows = (int64_t)w->rg_rows;
    w->total_rows += (int64_t)w->rg_rows;
    w->rg_rows = 0;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * The page index
 * ------------------------------------------------------------------------- */

/* A ColumnIndex needs bounds for every page that has values. */
static bool column_index_ok(const col_t *c, const chunk_meta_t *m)
{
    if (!m->npages) return false;
    for (size_t k = 0; k < m->npages; k++) {
        const page_meta_t *p = &m->pages[k];
        if (p->has_nan) return false;
        if (!p->null_page && (!p->b.has_min || !p->b.has_max)) return false;
    }
    return true;
}

static int boundary_order(const col_t *c, const chunk_meta_t *m)
{
    bool asc = true, desc = true;
    const page_meta_t *prev = NULL;
    for (size_t k = 0; k < m->npages; k++) {
        const page_meta_t *p = &m->pages[k];
        if (p->null_page) continue;
        if (prev) {
            int cmin = cmp_bound(c, p->b.min, p->b.min_len, prev->b.min, prev->b.min_len);
            int cmax = cmp_bound(c, p->b.max, p->b.max_len, prev->b.max, prev->b.max_len);
            if (cmin < 0 || cmax < 0) asc = false;
            if (cmin > 0 || cmax > 0) desc = false;
        }
        prev = p;
    }
    return asc ? BOUNDARY_ASCENDING : desc ? BOUNDARY_DESCENDING : BOUNDARY_UNORDERED;
}

static void encode_column_index(thrift_enc_t *e, const col_t *c, const chunk_meta_t *m)
{
    thrift_struct_begin(e);
    thrift_field_list_begin(e, 1, THRIFT_TRUE, m->npages);
    for (size_t k = 0; k < m->npages; k++) thrift_elem_bool(e, m->pages[k].null_page);
    thrift_field_list_begin(e, 2, THRIFT_BINARY, m->npages);
    for (size_t k = 0; k < m->npages; k++)
        thrift_elem_binary(e, m->pages[k].b.min, m->pages[k].null_page ? 0 : m->pages[k].b.min_len);
    thrift_field_list_begin(e, 3, THRIFT_BINARY, m->npages);
    for (size_t k = 0; k < m->npages; k++)
        thrift_elem_binary(e, m->pages[k].b.max, m->pages[k].null_page ? 0 : m->pages[k].b.max_len);
    thrift_field_i32(e, 4, boundary_order(c, m));
    thrift_field_list_begin(e, 5, THRIFT_I64, m->npages);
    for (size_t k = 0; k < m->npages; k++) thrift_elem_i64(e, m->pages[k].nulls);
    thrift_struct_end(e);
}

static void encode_offset_index(thrift_enc_t *e, const chunk_meta_t *m)
{
    thrift_struct_begin(e);
    thrift_field_list_begin(e, 1, THRIFT_STRUCT, m->npages);
    for (size_t k = 0; k < m->npages; k++) {
        thrift_struct_begin(e); /* PageLocation */
        thrift_field_i64(e, 1, m->pages[k].offset);
        thrift_field_i32(e, 2, m->pages[k].size);
        thrift_field_i64(e, 3, m->pages[k].first_row);
        thrift_struct_end(e);
    }
    thrift_struct_end(e);
}

/* Writes every ColumnIndex, then every OffsetIndex, and records where. */
static int write_page_index(pq_writer_t *w, ursa_err_t *err)
{
    int rc;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t r = 0; r < w->nrgs; r++) {
            for (size_t i = 0; i < w->ncols; i++) {
                const col_t *c = &w->cols[i];
                chunk_meta_t *m = &w->rgs[r].cols[i];
                if (!m->npages || (pass == 0 && !column_index_ok(c, m))) continue;
                thrift_enc_t e;
                w->hdr.len = 0;
                thrift_enc_init(&e, &w->hdr);
                if (pass == 0)
                    encode_column_index(&e, c, m);
                else
                    encode_offset_index(&e, m);
                if ((rc = thrift_enc_status(&e)))
                    return ursa_err_set(err, rc, "out of memory for the page index");
                if (w->hdr.len > INT32_MAX) return ursa_err_set(err, URSA_ELIMIT, "page index too large");
                if (pass == 0) {
                    m->ci_off = (int64_t)w->offset;
                    m->ci_len = (int32_t)w->hdr.len;
                } else {
                    m->oi_off = (int64_t)w->offset;
                    m->oi_len = (int32_t)w->hdr.len;
                }
                if ((rc = sink_write(w, w->hdr.data, w->hdr.len, err))) return rc;
            }
        }
    }
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * ARROW:schema -- an Arrow IPC Schema message (Schema.fbs, Message.fbs)
 *
 * A flatbuffer written front to back: every table is preceded by its
 * vtable (so the table's soffset to it is positive), and every object a
 * table points to is written after it, its uoffset patched in then
 * (uoffsets must point forward). Tables start 8-aligned, fields are
 * aligned to their size, strings and vectors to 4.
 * ------------------------------------------------------------------------- */

typedef struct fb {
    ursa_buf_t b;
    int rc;
} fb_t;

typedef struct fb_field {
    int id;
    int size;       /* 1, 2, 4 or 8; 4 for offsets */
    uint64_t value; /* scalars */
    bool is_offset; /* a uoffset to an object written later */
    size_t slot;    /* out: where the uoffset is, for fb_patch() */
} fb_field_t;

static void fb_bytes(fb_t *f, const void *p, size_t n)
{
    if (!f->rc) f->rc = ursa_buf_append(&f->b, p, n);
}

static void fb_align(fb_t *f, size_t a)
{
    static const uint8_t zeros[8] = {0};
    if (f->b.len % a) fb_bytes(f, zeros, a - f->b.len % a);
}

/* Points the uoffset at slot to the object at target (after it). */
static void fb_patch(fb_t *f, size_t slot, size_t target)
{
    if (f->rc) return;
    uint32_t v = (uint32_t)(target - slot);
    memcpy(f->b.data + slot, &v, 4);
}

/* Writes a vtable and its table; fills fields[].slot for offsets.
 * Returns where the table starts. */
static size_t fb_table(fb_t *f, fb_field_t *fields, int n)
{
    int nslots = 0;
    uint16_t off[16] = {0};
    size_t pos = 4;
    for (int size = 8; size >= 1; size /= 2) /* largest first, each aligned to its size */
        for (int i = 0; i < n; i++) {
            if (fields[i].size != size) continue;
            pos = (pos + (size_t)size - 1) / (size_t)size * (size_t)size;
            off[fields[i].id] = (uint16_t)pos;
            pos += (size_t)size;
            if (fields[i].id + 1 > nslots) nslots = fields[i].id + 1;
        }
    size_t tsize = (pos + 3) / 4 * 4;
    fb_align(f, 2);
    size_t vt = f->b.len;
    uint16_t head[2] = {(uint16_t)(4 + 2 * nslots), (uint16_t)tsize};
    fb_bytes(f, head, 4);
    fb_bytes(f, off, (size_t)nslots * 2);
    fb_align(f, 8);
    size_t t = f->b.len;
    int32_t so = (int32_t)(t - vt);
    uint8_t tbl[128] = {0};
    memcpy(tbl, &so, 4);
    for (int i = 0; i < n; i++) {
        fields[i].slot = t + off[fields[i].id];
        if (!fields[i].is_offset) memcpy(tbl + off[fields[i].id], &fields[i].value, (size_t)fields[i].size);
    }
    fb_bytes(f, tbl, tsize);
    return t;
}

/* Returns where the string starts. */
static size_t fb_string(fb_t *f, const char *s, size_t n)
{
    fb_align(f, 4);
    size_t at = f->b.len;
    uint32_t len = (uint32_t)n;
    fb_bytes(f, &len, 4);
    fb_bytes(f, s, n);
    fb_bytes(f, "", 1);
    return at;
}

/* A vector of n uoffsets; returns where it starts (its first slot is 4
 * bytes later). */
static size_t fb_offsets(fb_t *f, size_t n)
{
    fb_align(f, 4);
    size_t at = f->b.len;
    uint32_t len = (uint32_t)n;
    fb_bytes(f, &len, 4);
    for (size_t i = 0; i < n; i++) fb_bytes(f, &len, 4); /* patched later */
    return at;
}

/* Arrow Type union members. */
enum { AT_INT = 2, AT_FLOAT = 3, AT_BINARY = 4, AT_UTF8 = 5, AT_BOOL = 6, AT_DECIMAL = 7, AT_DATE = 8 };
enum { AT_TIME = 9, AT_TIMESTAMP = 10, AT_FIXED_SIZE_BINARY = 15 };

/* Writes an Arrow Field table for fd; returns where it starts. */
static size_t fb_arrow_field(fb_t *f, const ursa_field_t *fd)
{
    int tt;
    switch (fd->type) {
    case URSA_TYPE_BOOL:
        tt = AT_BOOL;
        break;
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_FLOAT64:
        tt = AT_FLOAT;
        break;
    case URSA_TYPE_DECIMAL:
        tt = AT_DECIMAL;
        break;
    case URSA_TYPE_STRING:
    case URSA_TYPE_JSON: /* plain Utf8: Polars refuses the arrow.json extension type */
        tt = AT_UTF8;
        break;
    case URSA_TYPE_BINARY:
        tt = AT_BINARY;
        break;
    case URSA_TYPE_DATE:
        tt = AT_DATE;
        break;
    case URSA_TYPE_TIME:
        tt = AT_TIME;
        break;
    case URSA_TYPE_TIMESTAMP:
        tt = AT_TIMESTAMP;
        break;
    case URSA_TYPE_UUID:
        tt = AT_FIXED_SIZE_BINARY;
        break;
    default:
        tt = AT_INT;
    }
    fb_field_t field[] = {{0, 4, 0, true, 0},
                          {1, 1, fd->nullable, false, 0},
                          {2, 1, (uint64_t)tt, false, 0},
                          {3, 4, 0, true, 0},
                          {5, 4, 0, true, 0},
                          {6, 4, 0, true, 0}};
    size_t at = fb_table(f, field, 5);
    fb_patch(f, field[0].slot, fb_string(f, fd->name, fd->name_len));
    size_t type_at;
    switch (tt) {
    case AT_INT: {
        static const struct {
            ursa_type_t t;
            int bits;
            bool sign;
        } ints[] = {{URSA_TYPE_INT8, 8, true},     {URSA_TYPE_INT16, 16, true},
                    {URSA_TYPE_INT32, 32, true},   {URSA_TYPE_INT64, 64, true},
                    {URSA_TYPE_UINT8, 8, false},   {URSA_TYPE_UINT16, 16, false},
                    {URSA_TYPE_UINT32, 32, false}, {URSA_TYPE_UINT64, 64, false}};
        fb_field_t t[] = {{0, 4, 64, false, 0}, {1, 1, 1, false, 0}};
        for (size_t i = 0; i < URSA_ARRAY_LEN(ints); i++)
            if (ints[i].t == fd->type) t[0].value = (uint64_t)ints[i].bits, t[1].value = ints[i].sign;
        type_at = fb_table(f, t, 2);
        break;
    }
    case AT_FLOAT: {
        fb_field_t t[] = {{0, 2, fd->type == URSA_TYPE_FLOAT32 ? 1 : 2, false, 0}};
        type_at = fb_table(f, t, 1);
        break;
    }
    case AT_DECIMAL: {
        fb_field_t t[] = {
            {0, 4, fd->precision, false, 0}, {1, 4, fd->scale, false, 0}, {2, 4, 128, false, 0}};
        type_at = fb_table(f, t, 3);
        break;
    }
    case AT_DATE: {
        fb_field_t t[] = {{0, 2, 0, false, 0}}; /* DAY: date32 */
        type_at = fb_table(f, t, 1);
        break;
    }
    case AT_TIME: {
        fb_field_t t[] = {{0, 2, 2, false, 0}, {1, 4, 64, false, 0}}; /* MICROSECOND, time64 */
        type_at = fb_table(f, t, 2);
        break;
    }
    case AT_TIMESTAMP: {
        uint64_t unit = fd->unit == URSA_UNIT_MS ? 1 : fd->unit == URSA_UNIT_NS ? 3 : 2;
        fb_field_t t[] = {{0, 2, unit, false, 0}, {1, 4, 0, true, 0}};
        type_at = fb_table(f, t, fd->utc ? 2 : 1);
        if (fd->utc) fb_patch(f, t[1].slot, fb_string(f, "UTC", 3));
        break;
    }
    case AT_FIXED_SIZE_BINARY: {
        fb_field_t t[] = {{0, 4, 16, false, 0}};
        type_at = fb_table(f, t, 1);
        break;
    }
    default: /* Bool, Utf8, Binary: empty tables */
        type_at = fb_table(f, NULL, 0);
    }
    fb_patch(f, field[3].slot, type_at);
    fb_patch(f, field[4].slot, fb_offsets(f, 0)); /* children: none, but present */
    return at;
}

/* Builds the base64 text of the encapsulated IPC Schema message into out
 * (NUL-terminated). */
static int arrow_schema(const pq_writer_t *w, ursa_buf_t *out)
{
    fb_t f = {{0}, URSA_OK};
    uint32_t zero = 0;
    fb_bytes(&f, &zero, 4);                                                            /* root uoffset */
    fb_field_t msg[] = {{0, 2, 4, false, 0}, {1, 1, 1, false, 0}, {2, 4, 0, true, 0}}; /* V5, Schema */
    fb_patch(&f, 0, fb_table(&f, msg, 3));
    fb_field_t sch[] = {{1, 4, 0, true, 0}};
    fb_patch(&f, msg[2].slot, fb_table(&f, sch, 1));
    size_t vec = fb_offsets(&f, w->ncols);
    fb_patch(&f, sch[0].slot, vec);
    for (size_t i = 0; i < w->ncols; i++) fb_patch(&f, vec + 4 + 4 * i, fb_arrow_field(&f, w->cols[i].field));
    fb_align(&f, 8);
    int rc = f.rc;
    if (rc) goto out;
    /* Encapsulation: continuation marker, metadata length, metadata. */
    uint8_t pre[8];
    uint32_t cont = 0xffffffffu, len = (uint32_t)f.b.len;
    memcpy(pre, &cont, 4);
    memcpy(pre + 4, &len, 4);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t total = 8 + f.b.len;
    if ((rc = ursa_buf_reserve(out, (total + 2) / 3 * 4 + 1))) goto out;
    for (size_t i = 0; i < total; i += 3) {
        uint32_t v = 0;
        size_t k;
        for (k = 0; k < 3; k++) {
            size_t at = i + k;
            uint8_t byte = at >= total ? 0 : at < 8 ? pre[at] : f.b.data[at - 8];
            v = (v << 8) | byte;
        }
        size_t left = total - i;
        out->data[out->len++] = (uint8_t)b64[(v >> 18) & 63];
        out->data[out->len++] = (uint8_t)b64[(v >> 12) & 63];
        out->data[out->len++] = left > 1 ? (uint8_t)b64[(v >> 6) & 63] : '=';
        out->data[out->len++] = left > 2 ? (uint8_t)b64[v & 63] : '=';
    }
    out->data[out->len] = 0;
out:
    ursa_buf_free(&f.b);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Footer
 * ------------------------------------------------------------------------- */

static void encode_statistics(thrift_enc_t *e, const col_t *c, const chunk_meta_t *m)
{
    thrift_field_struct_begin(e, 12);
    thrift_field_i64(e, 3, m->nulls);
    if (m->b.has_max) thrift_field_binary(e, 5, m->b.max, m->b.max_len);
    if (m->b.has_min) thrift_field_binary(e, 6, m->b.min, m->b.min_len);
    if (m->b.has_max) thrift_field_bool(e, 7, m->b.max_exact);
    if (m->b.has_min) thrift_field_bool(e, 8, m->b.min_exact);
    if (c->order == ORD_FLOAT) thrift_field_i64(e, 9, m->nans);
    thrift_struct_end(e);
}

static void encode_encoding_stat(thrift_enc_t *e, int page_type, int enc, int32_t count)
{
    thrift_struct_begin(e);
    thrift_field_i32(e, 1, page_type);
    thrift_field_i32(e, 2, enc);
    thrift_field_i32(e, 3, count);
    thrift_struct_end(e);
}

static void encode_column_chunk(thrift_enc_t *e, const pq_writer_t *w, const col_t *c, const chunk_meta_t *m)
{
    bool has_dict = m->dict_off >= 0;
    int data_type = w->o.page_version == 2 ? PAGE_DATA_V2 : PAGE_DATA;
    /* encodings: PLAIN (dictionary page or PLAIN pages), RLE (levels), and the data encodings used. */
    bool used[ENC_COUNT_] = {false};
    used[ENC_RLE] = true;
    if (has_dict) used[ENC_PLAIN] = true;
    size_t nenc = 0, nstats = has_dict;
    for (int k = 0; k < ENC_COUNT_; k++) {
        if (m->pages_by_enc[k]) {
            used[k] = true;
            nstats++;
        }
    }
    for (int k = 0; k < ENC_COUNT_; k++) nenc += used[k];
    thrift_struct_begin(e);
    thrift_field_i64(e, 2, m->start); /* file_offset: where the chunk starts */
    thrift_field_struct_begin(e, 3);  /* ColumnMetaData */
    thrift_field_i32(e, 1, c->ptype);
    thrift_field_list_begin(e, 2, THRIFT_I32, nenc);
    for (int k = 0; k < ENC_COUNT_; k++)
        if (used[k]) thrift_elem_i32(e, k);
    thrift_field_list_begin(e, 3, THRIFT_BINARY, 1);
    thrift_elem_binary(e, c->field->name, c->field->name_len);
    thrift_field_i32(e, 4, (int32_t)w->mx.comp.codec);
    thrift_field_i64(e, 5, m->num_values);
    thrift_field_i64(e, 6, m->unc_bytes);
    thrift_field_i64(e, 7, m->comp_bytes);
    thrift_field_i64(e, 9, m->data_off);
    if (has_dict) thrift_field_i64(e, 11, m->dict_off);
    encode_statistics(e, c, m);
    thrift_field_list_begin(e, 13, THRIFT_STRUCT, nstats);
    if (has_dict) encode_encoding_stat(e, PAGE_DICTIONARY, ENC_PLAIN, 1);
    for (int k = 0; k < ENC_COUNT_; k++)
        if (m->pages_by_enc[k]) encode_encoding_stat(e, data_type, k, m->pages_by_enc[k]);
    if (m->bloom_off >= 0) {
        thrift_field_i64(e, 14, m->bloom_off);
        thrift_field_i32(e, 15, m->bloom_len);
    }
    thrift_struct_end(e); /* ColumnMetaData */
    if (m->oi_off >= 0) {
        thrift_field_i64(e, 4, m->oi_off);
        thrift_field_i32(e, 5, m->oi_len);
    }
    if (m->ci_off >= 0) {
        thrift_field_i64(e, 6, m->ci_off);
        thrift_field_i32(e, 7, m->ci_len);
    }
    thrift_struct_end(e); /* ColumnChunk */
}

/* An empty struct as a field: the members of LogicalType and TimeUnit. */
static void empty_struct(thrift_enc_t *e, int16_t id)
{
    thrift_field_struct_begin(e, id);
    thrift_struct_end(e);
}

static void encode_time_unit(thrift_enc_t *e, int16_t id, ursa_time_unit_t u)
{
    thrift_field_struct_begin(e, id);
    empty_struct(e, u == URSA_UNIT_MS ? 1 : u == URSA_UNIT_NS ? 3 : 2); /* MILLIS, MICROS, NANOS */
    thrift_struct_end(e);
}

static int int_bits(ursa_type_t t)
{
    switch (t) {
    case URSA_TYPE_INT8:
    case URSA_TYPE_UINT8:
        return 8;
    case URSA_TYPE_INT16:
    case URSA_TYPE_UINT16:
        return 16;
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT32:
        return 32;
    default:
        return 64;
    }
}

static void encode_schema_element(thrift_enc_t *e, const col_t *c)
{
    const ursa_field_t *f = c->field;
    thrift_struct_begin(e);
    thrift_field_i32(e, 1, c->ptype);
    if (c->ptype == PT_FLBA) thrift_field_i32(e, 2, c->plen);
    thrift_field_i32(e, 3, c->nullable ? REP_OPTIONAL : REP_REQUIRED);
    thrift_field_binary(e, 4, f->name, f->name_len);
    switch (f->type) {
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_UINT64: {
        bool sign = f->type == URSA_TYPE_INT8 || f->type == URSA_TYPE_INT16 || f->type == URSA_TYPE_INT32;
        int bits = int_bits(f->type);
        int log = bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : 3;
        thrift_field_i32(e, 6, (sign ? CT_INT_8 : CT_UINT_8) + log);
        thrift_field_struct_begin(e, 10);
        thrift_field_struct_begin(e, 10); /* INTEGER */
        thrift_field_i8(e, 1, (int8_t)bits);
        thrift_field_bool(e, 2, sign);
        thrift_struct_end(e);
        thrift_struct_end(e);
        break;
    }
    case URSA_TYPE_DECIMAL:
        thrift_field_i32(e, 6, CT_DECIMAL);
        thrift_field_i32(e, 7, f->scale);
        thrift_field_i32(e, 8, f->precision);
        thrift_field_struct_begin(e, 10);
        thrift_field_struct_begin(e, 5); /* DECIMAL */
        thrift_field_i32(e, 1, f->scale);
        thrift_field_i32(e, 2, f->precision);
        thrift_struct_end(e);
        thrift_struct_end(e);
        break;
    case URSA_TYPE_STRING:
    case URSA_TYPE_JSON:
        thrift_field_i32(e, 6, f->type == URSA_TYPE_STRING ? CT_UTF8 : CT_JSON);
        thrift_field_struct_begin(e, 10);
        empty_struct(e, f->type == URSA_TYPE_STRING ? 1 : 12); /* STRING, JSON */
        thrift_struct_end(e);
        break;
    case URSA_TYPE_DATE:
        thrift_field_i32(e, 6, CT_DATE);
        thrift_field_struct_begin(e, 10);
        empty_struct(e, 6); /* DATE */
        thrift_struct_end(e);
        break;
    case URSA_TYPE_TIME:
        /* A wall-clock time of day: isAdjustedToUTC = false, so DuckDB reads
         * TIME (true would make it TIME WITH TIME ZONE). */
        thrift_field_i32(e, 6, CT_TIME_MICROS);
        thrift_field_struct_begin(e, 10);
        thrift_field_struct_begin(e, 7); /* TIME */
        thrift_field_bool(e, 1, false);
        encode_time_unit(e, 2, URSA_UNIT_US);
        thrift_struct_end(e);
        thrift_struct_end(e);
        break;
    case URSA_TYPE_TIMESTAMP:
        /* The converted types imply UTC and exist for ms and µs only. */
        if (f->utc && f->unit != URSA_UNIT_NS)
            thrift_field_i32(e, 6, f->unit == URSA_UNIT_MS ? CT_TIMESTAMP_MILLIS : CT_TIMESTAMP_MICROS);
        thrift_field_struct_begin(e, 10);
        thrift_field_struct_begin(e, 8); /* TIMESTAMP */
        thrift_field_bool(e, 1, f->utc);
        encode_time_unit(e, 2, f->unit);
        thrift_struct_end(e);
        thrift_struct_end(e);
        break;
    case URSA_TYPE_UUID:
        thrift_field_struct_begin(e, 10);
        empty_struct(e, 14); /* UUID */
        thrift_struct_end(e);
        break;
    default: /* bool, int64, float32, float64, binary: the physical type says it all */
        break;
    }
    if (c->field_id >= 0) thrift_field_i32(e, 9, c->field_id); /* after 10: compact Thrift takes any order */
    thrift_struct_end(e);
}

static void encode_kv(thrift_enc_t *e, const char *k, const char *v)
{
    thrift_struct_begin(e);
    thrift_field_string(e, 1, k);
    if (v) thrift_field_string(e, 2, v);
    thrift_struct_end(e);
}

static int encode_footer(const pq_writer_t *w, const char *arrow, ursa_buf_t *out)
{
    thrift_enc_t e;
    thrift_enc_init(&e, out);
    thrift_struct_begin(&e); /* FileMetaData */
    thrift_field_i32(&e, 1, FILE_VERSION);
    thrift_field_list_begin(&e, 2, THRIFT_STRUCT, w->ncols + 1);
    thrift_struct_begin(&e); /* the root group */
    thrift_field_string(&e, 4, "schema");
    thrift_field_i32(&e, 5, (int32_t)w->ncols);
    thrift_struct_end(&e);
    for (size_t i = 0; i < w->ncols; i++) encode_schema_element(&e, &w->cols[i]);
    thrift_field_i64(&e, 3, w->total_rows);
    thrift_field_list_begin(&e, 4, THRIFT_STRUCT, w->nrgs);
    for (size_t r = 0; r < w->nrgs; r++) {
        const rg_meta_t *rg = &w->rgs[r];
        thrift_struct_begin(&e);
        thrift_field_list_begin(&e, 1, THRIFT_STRUCT, w->ncols);
        for (size_t i = 0; i < w->ncols; i++) encode_column_chunk(&e, w, &w->cols[i], &rg->cols[i]);
        thrift_field_i64(&e, 2, rg->unc_bytes);
        thrift_field_i64(&e, 3, rg->num_rows);
        if (w->nsorting) {
            thrift_field_list_begin(&e, 4, THRIFT_STRUCT, w->nsorting);
            for (size_t k = 0; k < w->nsorting; k++) {
                thrift_struct_begin(&e); /* SortingColumn: ascending, nulls first */
                thrift_field_i32(&e, 1, w->sorting[k]);
                thrift_field_bool(&e, 2, false);
                thrift_field_bool(&e, 3, true);
                thrift_struct_end(&e);
            }
        }
        thrift_field_i64(&e, 5, rg->file_offset);
        thrift_field_i64(&e, 6, rg->comp_bytes);
        if (r <= INT16_MAX) thrift_field_i16(&e, 7, (int16_t)r);
        thrift_struct_end(&e);
    }
    thrift_field_list_begin(&e, 5, THRIFT_STRUCT, (size_t)(w->kv_key != NULL) + 1);
    if (w->kv_key) encode_kv(&e, w->kv_key, w->kv_value);
    encode_kv(&e, "ARROW:schema", arrow);
    thrift_field_string(&e, 6, CREATED_BY);
    thrift_field_list_begin(&e, 7, THRIFT_STRUCT, w->ncols);
    for (size_t i = 0; i < w->ncols; i++) {
        thrift_struct_begin(&e);          /* ColumnOrder */
        thrift_field_struct_begin(&e, 1); /* TYPE_ORDER */
        thrift_struct_end(&e);
        thrift_struct_end(&e);
    }
    thrift_struct_end(&e);
    return thrift_enc_status(&e);
}

/* ---------------------------------------------------------------------------
 * The public API
 * ------------------------------------------------------------------------- */

/* Bytes of the smallest two's complement holding every value of precision p. */
static int decimal_bytes(int p)
{
    double max = pow(10.0, p) - 1;
    int n = 1;
    while (ldexp(1.0, 8 * n - 1) <= max) n++;
    return n;
}

/* Sets up the physical type, order, conversion and encoding of column c. */
static int setup_column(const pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    const ursa_field_t *f = c->field;
    c->width = (int)ursa_field_width(f);
    c->conv = CONV_COPY;
    c->order = ORD_SIGNED;
    switch (f->type) {
    case URSA_TYPE_BOOL:
        c->ptype = PT_BOOLEAN;
        c->order = ORD_BOOL;
        break;
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_DATE:
        c->ptype = PT_INT32;
        c->plen = 4;
        c->conv = f->type == URSA_TYPE_INT8 ? CONV_I8 : f->type == URSA_TYPE_INT16 ? CONV_I16 : CONV_COPY;
        break;
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
        c->ptype = PT_INT32;
        c->plen = 4;
        c->order = ORD_UNSIGNED;
        c->conv = f->type == URSA_TYPE_UINT8 ? CONV_U8 : f->type == URSA_TYPE_UINT16 ? CONV_U16 : CONV_COPY;
        break;
    case URSA_TYPE_INT64:
    case URSA_TYPE_TIME:
    case URSA_TYPE_TIMESTAMP:
        c->ptype = PT_INT64;
        c->plen = 8;
        break;
    case URSA_TYPE_UINT64:
        c->ptype = PT_INT64;
        c->plen = 8;
        c->order = ORD_UNSIGNED;
        break;
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_FLOAT64:
        c->ptype = f->type == URSA_TYPE_FLOAT32 ? PT_FLOAT : PT_DOUBLE;
        c->plen = f->type == URSA_TYPE_FLOAT32 ? 4 : 8;
        c->order = ORD_FLOAT;
        break;
    case URSA_TYPE_DECIMAL:
        if (f->precision < 1 || f->precision > 38 || f->scale > f->precision)
            return ursa_err_set(err, URSA_EINVAL, "column %s: bad decimal(%d, %d)", f->name, f->precision,
                                f->scale);
        if (f->precision <= 9) {
            c->ptype = PT_INT32;
            c->plen = 4;
            c->conv = CONV_I64_32;
        } else if (f->precision <= 18) {
            c->ptype = PT_INT64;
            c->plen = 8;
        } else {
            c->ptype = PT_FLBA;
            c->plen = decimal_bytes(f->precision);
            c->order = ORD_DECIMAL_BYTES;
            c->conv = CONV_I128_BE;
        }
        break;
    case URSA_TYPE_UUID:
        c->ptype = PT_FLBA;
        c->plen = 16;
        c->order = ORD_BYTES;
        break;
    case URSA_TYPE_STRING:
    case URSA_TYPE_BINARY:
    case URSA_TYPE_JSON:
        c->ptype = PT_BYTE_ARRAY;
        c->order = ORD_BYTES;
        break;
    default:
        return ursa_err_set(err, URSA_EINVAL, "column %s: unknown type %d", f->name, (int)f->type);
    }
    int want = c->conv == CONV_COPY      ? c->plen
               : c->conv == CONV_I64_32  ? 8
               : c->conv == CONV_I128_BE ? 16
                                         : c->width;
    if (c->width != want)
        return ursa_err_set(err, URSA_EINTERNAL, "column %s: values of %d bytes, %d expected", f->name,
                            c->width, want);
    bool ints = c->ptype == PT_INT32 || c->ptype == PT_INT64;
    c->enc = ENC_PLAIN;
    c->use_dict = false;
    switch (f->encoding) {
    case URSA_ENC_AUTO:
        if (c->ptype == PT_BYTE_ARRAY) c->use_dict = true;
        if (ints) c->enc = PQ_AUTO_INT_ENCODING;
        if (ints) c->use_dict = PQ_AUTO_INT_DICT;
        break;
    case URSA_ENC_PLAIN:
        break;
    case URSA_ENC_DICTIONARY:
        if (c->ptype == PT_BOOLEAN)
            return ursa_err_set(err, URSA_EINVAL, "column %s: no dictionary for bool", f->name);
        c->use_dict = true;
        break;
    case URSA_ENC_DELTA_BINARY_PACKED:
        if (!ints) return ursa_err_set(err, URSA_EINVAL, "column %s: delta needs an integer column", f->name);
        c->enc = ENC_DELTA_BINARY_PACKED;
        break;
    case URSA_ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (c->ptype != PT_BYTE_ARRAY)
            return ursa_err_set(err, URSA_EINVAL, "column %s: delta_length needs string, binary or json",
                                f->name);
        c->enc = ENC_DELTA_LENGTH_BYTE_ARRAY;
        break;
    case URSA_ENC_BYTE_STREAM_SPLIT:
        if (c->order != ORD_FLOAT)
            return ursa_err_set(err, URSA_EINVAL, "column %s: byte_stream_split needs a float column",
                                f->name);
        c->enc = ENC_BYTE_STREAM_SPLIT;
        break;
    default:
        return ursa_err_set(err, URSA_EINVAL, "column %s: unknown encoding %d", f->name, (int)f->encoding);
    }
    if (c->ptype == PT_BYTE_ARRAY)
        pq_dict_init(&c->dict, w->o.dict_max_bytes);
    else
        pq_dict_init_fixed(&c->dict, w->o.dict_max_bytes, (unsigned)(c->plen ? c->plen : 1));
    return URSA_OK;
}

int pq_writer_new(pq_writer_t **wp, const ursa_schema_t *s, const pq_write_opts_t *o, ursa_sink_t sink,
                  ursa_err_t *err)
{
    int rc;
    pq_writer_t *w = NULL;
    pq_write_opts_t defaults;
    *wp = NULL;
    if (!o) {
        pq_write_opts_default(&defaults);
        o = &defaults;
    }
    if (!s || s->nfields == 0 || s->nfields > URSA_COLUMNS_MAX)
        return ursa_err_set(err, URSA_EINVAL, "a Parquet file needs 1 to %d columns", URSA_COLUMNS_MAX);
    if (!sink.write) return ursa_err_set(err, URSA_EINVAL, "no sink");
    if (o->page_bytes == 0 || o->row_group_bytes == 0)
        return ursa_err_set(err, URSA_EINVAL, "page_bytes and row_group_bytes must be positive");
    if (o->page_version != 1 && o->page_version != 2)
        return ursa_err_set(err, URSA_EINVAL, "page_version must be 1 or 2");
    if (!o->kv_key && o->kv_value) return ursa_err_set(err, URSA_EINVAL, "kv_value without kv_key");
    if (o->nsorting > URSA_SORT_KEYS_MAX || (o->nsorting && !o->sorting_columns))
        return ursa_err_set(err, URSA_EINVAL, "at most %d sorting columns", URSA_SORT_KEYS_MAX);
    for (size_t i = 0; i < o->nsorting; i++)
        if (o->sorting_columns[i] < 0 || (size_t)o->sorting_columns[i] >= s->nfields)
            return ursa_err_set(err, URSA_EINVAL, "sorting column %d is not a column", o->sorting_columns[i]);

    if (!(w = ursa_calloc(1, sizeof(*w)))) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    w->schema = s;
    w->o = *o;
    w->o.page_bytes = min_sz(w->o.page_bytes, SIZE_MAX_OPTION);
    if (w->o.page_rows == 0 || w->o.page_rows > PAGE_MAX_VALUES) w->o.page_rows = PAGE_MAX_VALUES;
    w->o.dict_max_bytes = min_sz(w->o.dict_max_bytes, SIZE_MAX_OPTION);
    w->o.kv_key = w->o.kv_value = NULL;
    w->o.sorting_columns = NULL;
    for (size_t i = 0; i < o->nsorting; i++) w->sorting[i] = o->sorting_columns[i];
    w->nsorting = o->nsorting;
    w->sink = sink;
    if ((rc = pq_compressor_init(&w->mx.comp, o->codec, o->level))) {
        ursa_err_set(err, rc, "bad codec %d or level %d", (int)o->codec, o->level);
        goto fail;
    }
    if ((o->kv_key && !(w->kv_key = ursa_strdup(o->kv_key))) ||
        (o->kv_value && !(w->kv_value = ursa_strdup(o->kv_value)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(w->cols = ursa_calloc(s->nfields, sizeof(*w->cols)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto fail;
    }
    w->ncols = s->nfields;
    for (size_t i = 0; i < w->ncols; i++) {
        col_t *c = &w->cols[i];
        c->field = &s->fields[i];
        c->field_id = o->field_ids ? o->field_ids[i] : -1;
        c->nullable = c->field->nullable;
        if ((rc = setup_column(w, c, err))) goto fail;
        chunk_reset(w, c);
        page_reset(w, c);
        w->fixed_row_bytes += (c->ptype == PT_BOOLEAN      ? 1
                               : c->ptype == PT_BYTE_ARRAY ? 4
                                                           : (size_t)c->plen) +
                              c->nullable;
    }
    w->mx.keep = 2 * w->o.page_bytes + 65536;
    long cores = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if ((rc = pool_start(w, (int)(cores < 1 ? 1 : cores > THREADS_MAX ? THREADS_MAX : cores)))) {
        ursa_err_set(err, rc, "out of memory for the writer's threads");
        goto fail;
    }
    if ((rc = sink_write(w, "PAR1", 4, err))) goto fail;
    *wp = w;
    return URSA_OK;
fail:
    pq_writer_destroy(&w);
    return rc;
}

/* Returns the offset of the first byte of s[0..n) that is not part of
 * well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), or n when all is well. ASCII goes 8 bytes at a time. */
static size_t utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return i;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return i;
        i += len;
    }
    return n;
}

/* Checks that rows [off, off + n) of b can be written; changes nothing. */
static int validate_batch(const pq_writer_t *w, const ursa_batch_t *b, size_t off, size_t n, ursa_err_t *err)
{
    if (!b || b->ncols != w->ncols)
        return ursa_err_set(err, URSA_EINVAL, "batch has %zu columns, schema has %zu", b ? b->ncols : 0,
                            w->ncols);
    if (off > SIZE_MAX - n) return ursa_err_set(err, URSA_EINVAL, "bad row range");
    size_t end = off + n;
    for (size_t i = 0; i < w->ncols; i++) {
        const col_t *c = &w->cols[i];
        const ursa_column_t *col = &b->cols[i];
        const char *name = c->field->name;
        if (col->type != c->field->type)
            return ursa_err_set(err, URSA_EINVAL, "column %s: batch type %s, schema type %s", name,
                                ursa_type_name(col->type), ursa_type_name(c->field->type));
        if (n == 0) continue; /* an empty column may have no buffers at all */
        if (col->length < end || col->validity.len < (end + 7) / 8)
            return ursa_err_set(err, URSA_EINVAL, "column %s: rows %zu..%zu asked, %zu present", name, off,
                                end, col->length);
        bool fixed = c->ptype != PT_BOOLEAN && c->ptype != PT_BYTE_ARRAY;
        if (fixed && col->width != (unsigned)c->width)
            return ursa_err_set(err, URSA_EINVAL, "column %s: values of %u bytes, %d expected", name,
                                col->width, c->width);
        size_t need = c->ptype == PT_BOOLEAN ? (end + 7) / 8 : fixed ? end * (size_t)c->width : 0;
        if (col->values.len < need)
            return ursa_err_set(err, URSA_EINVAL, "column %s: values too short", name);
        if (c->ptype == PT_BYTE_ARRAY) {
            if (col->offsets.len < (end + 1) * sizeof(int64_t))
                return ursa_err_set(err, URSA_EINVAL, "column %s: offsets too short", name);
            const int64_t *o = (const int64_t *)(const void *)col->offsets.data;
            if (o[off] < 0 || (uint64_t)o[end] > col->data.len)
                return ursa_err_set(err, URSA_EINVAL, "column %s: offsets out of range", name);
            for (size_t r = off; r < end; r++) {
                int64_t len = o[r + 1] - o[r];
                if (URSA_UNLIKELY(len < 0 || len > VALUE_MAX)) {
                    if (len < 0)
                        return ursa_err_set(err, URSA_EINVAL, "column %s: offsets decrease at row %zu", name,
                                            r);
                    return ursa_err_set(err, URSA_ELIMIT,
                                        "column %s: a value of %lld bytes at row %zu is over the "
                                        "%lld-byte limit",
                                        name, (long long)len, r, (long long)VALUE_MAX);
                }
            }
        }
        if (c->ptype == PT_BYTE_ARRAY && c->field->type != URSA_TYPE_BINARY && !w->o.trusted_utf8) {
            /* STRING and JSON columns must hold UTF-8, or readers refuse the whole file. */
            const int64_t *o = (const int64_t *)(const void *)col->offsets.data;
            const uint8_t *d = col->data.data;
            size_t from = (size_t)o[off], to = (size_t)o[end];
            bool bad = from < to && utf8_check(d + from, to - from) < to - from;
            /* The bytes are valid as a whole; a value boundary must also
             * not fall inside a character. */
            for (size_t r = off + 1; r < end && !bad; r++)
                bad = (size_t)o[r] < to && (d[o[r]] & 0xc0) == 0x80;
            for (size_t r = off; bad && r < end; r++)
                if (utf8_check(d + o[r], (size_t)(o[r + 1] - o[r])) < (size_t)(o[r + 1] - o[r]))
                    return ursa_err_set(err, URSA_EINVAL, "column %s: invalid UTF-8 at row %zu", name, r);
        }
        if (!c->nullable && col->null_count && count_zeros(col->validity.data, off, n)) {
            size_t r = off;
            while (bit(col->validity.data, r)) r++;
            return ursa_err_set(err, URSA_EINVAL, "column %s: null at row %zu in a non-nullable column", name,
                                r);
        }
    }
    return URSA_OK;
}

static int check_open(const pq_writer_t *w, ursa_err_t *err)
{
    if (!w) return ursa_err_set(err, URSA_EINVAL, "no writer");
    if (w->state == W_CLOSED) return ursa_err_set(err, URSA_EINVAL, "the Parquet writer is closed");
    if (w->state == W_FAILED) return ursa_err_set(err, URSA_EINVAL, "the Parquet writer failed earlier");
    return URSA_OK;
}

int pq_writer_write(pq_writer_t *w, const ursa_batch_t *b, size_t offset, size_t nrows, ursa_err_t *err)
{
    int rc;
    if ((rc = check_open(w, err)) || (rc = validate_batch(w, b, offset, nrows, err))) return rc;
    size_t pos = offset, end = offset + nrows;
    while (pos < end) {
        size_t est = rg_estimate(w);
        size_t budget = est < w->o.row_group_bytes ? w->o.row_group_bytes - est : 1;
        size_t n = min_sz(end - pos, SLICE_ROWS);
        if (w->o.row_group_rows) n = min_sz(n, w->o.row_group_rows - w->rg_rows);
        size_t by_width = budget / w->fixed_row_bytes;
        if (by_width < n) n = by_width ? by_width : 1;
        for (size_t i = 0; i < w->ncols; i++) {
            const ursa_column_t *col = &b->cols[i];
            if (!ursa_type_varlen(col->type)) continue;
            const int64_t *o = (const int64_t *)(const void *)col->offsets.data;
            while (n > 1 && (size_t)(o[pos + n] - o[pos]) > budget) n /= 2;
        }
        for (size_t i = 0; i < w->ncols && rc == URSA_OK; i++) {
            col_t *c = &w->cols[i];
            if (c->ptype == PT_BYTE_ARRAY)
                rc = append_strings(w, c, &b->cols[i], pos, n, err);
            else
                rc = append_fixed(w, c, &b->cols[i], pos, n, err);
        }
        if (rc) goto fail;
        w->rg_rows += n;
        pos += n;
        if ((rg_estimate(w) >= w->o.row_group_bytes ||
             (w->o.row_group_rows && w->rg_rows >= w->o.row_group_rows)) &&
            (rc = flush_row_group(w, err)))
            goto fail;
    }
    return URSA_OK;
fail:
    w->state = W_FAILED;
    return rc;
}

int pq_writer_close(pq_writer_t *w, uint64_t *file_bytes, ursa_err_t *err)
{
    int rc;
    ursa_buf_t arrow = {0};
    if ((rc = check_open(w, err))) return rc;
    if ((rc = flush_row_group(w, err))) goto fail;
    if (w->o.page_index && (rc = write_page_index(w, err))) goto fail;
    if ((rc = arrow_schema(w, &arrow))) {
        ursa_err_set(err, rc, "out of memory for ARROW:schema");
        goto fail;
    }
    w->hdr.len = 0;
    if ((rc = encode_footer(w, (const char *)arrow.data, &w->hdr))) {
        ursa_err_set(err, rc, "encoding the Parquet footer failed");
        goto fail;
    }
    if (w->hdr.len > INT32_MAX) {
        rc = ursa_err_set(err, URSA_ELIMIT, "the Parquet footer is too large (%zu bytes)", w->hdr.len);
        goto fail;
    }
    uint8_t tail[8];
    uint32_t len = (uint32_t)w->hdr.len;
    memcpy(tail, &len, 4);
    memcpy(tail + 4, "PAR1", 4);
    if ((rc = sink_write(w, w->hdr.data, w->hdr.len, err)) || (rc = sink_write(w, tail, 8, err))) goto fail;
    w->state = W_CLOSED;
    if (file_bytes) *file_bytes = w->offset;
    ursa_buf_free(&arrow);
    return URSA_OK;
fail:
    ursa_buf_free(&arrow);
    w->state = W_FAILED;
    return rc;
}

void pq_writer_destroy(pq_writer_t **wp)
{
    pq_writer_t *w = wp ? *wp : NULL;
    if (!w) return;
    pool_stop(w); /* before the pages: a worker may hold one */
    for (size_t i = 0; i < w->ncols; i++) {
        col_t *c = &w->cols[i];
        ursa_buf_free(&c->pg_defs);
        ursa_buf_free(&c->pg_vals);
        for (size_t k = 0; k < c->npages; k++) job_free(c->pages[k]);
        ursa_free(c->pages);
        ursa_free(c->pm);
        ursa_free(c->dict_seen);
        ursa_free(c->bloom.slots);
        pq_dict_free(&c->dict);
    }
    ursa_free(w->cols);
    for (size_t r = 0; r < w->nrgs; r++) {
        for (size_t i = 0; w->rgs[r].cols && i < w->ncols; i++) ursa_free(w->rgs[r].cols[i].pages);
        ursa_free(w->rgs[r].cols);
    }
    ursa_free(w->rgs);
    ursa_free(w->kv_key);
    ursa_free(w->kv_value);
    ursa_buf_free(&w->zbody);
    ursa_buf_free(&w->hdr);
    ursa_buf_free(&w->conv);
    exec_free(&w->mx);
    ursa_free(w);
    *wp = NULL;
}
