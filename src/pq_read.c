/*
 * pq_read.c -- reading Parquet files: first a footer's row count with a
 * Thrift compact skipper (for listings), then the reader (pq_reader_*,
 * its design comment below).
 *
 * The footer is a Thrift compact struct (FileMetaData) whose field 3 is
 * num_rows. Fields before it (the schema list) are skipped without being
 * understood. Every read is bounds-checked and nesting is limited, so a
 * damaged or hostile file gives URSA_EFORMAT, never a crash.
 */
#include "pq_read.h"

#include "codec.h"
#include "column.h"
#include "pq_decode.h"
#include "pq_write.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
#include <zlib.h> /* crc32 of pages */
#include <string.h>

#define MAX_DEPTH 32

typedef struct rd {
    const uint8_t *p, *end;
} rd_t;

static int varint(rd_t *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return URSA_EFORMAT;
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return URSA_OK;
    }
    return URSA_EFORMAT;
}

static int skip_bytes(rd_t *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) return URSA_EFORMAT;
    r->p += n;
    return URSA_OK;
}

static int skip_struct(rd_t *r, int depth);

/* Skips one value of compact type t. */
static int skip_value(rd_t *r, unsigned t, int depth)
{
    uint64_t v;
    if (depth > MAX_DEPTH) return URSA_EFORMAT;
    switch (t) {
    case 1: /* bool true/false inside a field header: no bytes */
    case 2:
        return URSA_OK;
    case 3: /* i8 */
        return skip_bytes(r, 1);
    case 4: /* i16, i32, i64: zigzag varints */
    case 5:
    case 6:
        return varint(r, &v);
    case 7: /* double */
        return skip_bytes(r, 8);
    case 8: /* binary */
        if (varint(r, &v)) return URSA_EFORMAT;
        return skip_bytes(r, v);
    case 9: /* list, set */
    case 10: {
        if (r->p >= r->end) return URSA_EFORMAT;
        uint8_t h = *r->p++;
        uint64_t n = h >> 4;
        unsigned et = h & 0x0F;
        if (n == 15 && varint(r, &n)) return URSA_EFORMAT;
        if (n > (uint64_t)(r->end - r->p)) return URSA_EFORMAT; /* every element takes a byte at least */
        for (uint64_t i = 0; i < n; i++) {
            int rc = et == 1 || et == 2 ? skip_bytes(r, 1) : skip_value(r, et, depth + 1);
            if (rc) return rc;
        }
        return URSA_OK;
    }
    case 11: { /* map */
        uint64_t n;
        if (varint(r, &n)) return URSA_EFORMAT;
        if (n == 0) return URSA_OK;
        if (r->p >= r->end || n > (uint64_t)(r->end - r->p)) return URSA_EFORMAT;
        uint8_t kv = *r->p++;
        for (uint64_t i = 0; i < n; i++) {
            unsigned kt = kv >> 4, vt = kv & 0x0F;
            int rc = kt == 1 || kt == 2 ? skip_bytes(r, 1) : skip_value(r, kt, depth + 1);
            if (rc == URSA_OK) rc = vt == 1 || vt == 2 ? skip_bytes(r, 1) : skip_value(r, vt, depth + 1);
            if (rc) return rc;
        }
        return URSA_OK;
    }
    case 12:
        return skip_struct(r, depth + 1);
    default:
        return URSA_EFORMAT;
    }
}

/* Reads a field header: *t 0 at the end of the struct. */
static int field_header(rd_t *r, int16_t *id, unsigned *t)
{
    if (r->p >= r->end) return URSA_EFORMAT;
    uint8_t h = *r->p++;
    *t = h & 0x0F;
    if (*t == 0) return URSA_OK;
    if (h >> 4) {
        *id = (int16_t)(*id + (h >> 4));
    } else {
        uint64_t z;
        if (varint(r, &z)) return URSA_EFORMAT;
        *id = (int16_t)((z >> 1) ^ (~(z & 1) + 1));
    }
    return URSA_OK;
}

static int skip_struct(rd_t *r, int depth)
{
    int16_t id = 0;
    if (depth > MAX_DEPTH) return URSA_EFORMAT;
    for (;;) {
        unsigned t;
        if (field_header(r, &id, &t)) return URSA_EFORMAT;
        if (t == 0) return URSA_OK;
        if (skip_value(r, t, depth)) return URSA_EFORMAT;
    }
}

int pq_read_footer_len(const uint8_t *tail, size_t n, uint32_t *footer_len)
{
    if (n < 8 || memcmp(tail + n - 4, "PAR1", 4) != 0) return URSA_EFORMAT;
    const uint8_t *l = tail + n - 8;
    *footer_len = (uint32_t)l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
    return URSA_OK;
}

int pq_read_num_rows(const uint8_t *p, size_t n, int64_t *rows)
{
    rd_t r = {p, p + n};
    int16_t id = 0;
    for (;;) {
        unsigned t;
        if (field_header(&r, &id, &t) || t == 0) return URSA_EFORMAT;
        if (id == 3 && t == 6) {
            uint64_t z;
            if (varint(&r, &z)) return URSA_EFORMAT;
            *rows = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
            return *rows >= 0 ? URSA_OK : URSA_EFORMAT;
        }
        if (skip_value(&r, t, 0)) return URSA_EFORMAT;
    }
}

/* ======================================================================== */
/*
 * The reader.
 *
 * Design. pq_reader_open stats the object (size and version token) and
 * takes its decoded footer from the process-wide footer cache when the
 * object is unchanged; otherwise it reads the footer with at most two
 * ranged reads, maps every leaf column onto an Ursa field once (map_leaf)
 * and caches the result. A footer (pq_footer_t) is immutable and
 * reference-counted: readers and the cache share it, and eviction only
 * drops the cache's reference. pq_reader_read
 * then reads the projected column chunks of one row group (one ranged read
 * per run of neighbouring chunks) and walks each chunk page by page: header,
 * CRC, decompression, definition levels, values (pq_decode), a conversion
 * to the Ursa column's layout where the widths differ (convert), and
 * pq_column_append. Nothing from the file is trusted: every offset and size
 * is checked against the chunk, the chunk against the file, and a page's
 * declared sizes against PQ_READ_PAGE_MAX before memory is reserved.
 *
 * Predicates (pq_reader_read_where) skip what cannot match, coarse to
 * fine: a row group by its chunks' statistics (converted to the column's
 * Ursa type first, and used only where their order is the type's: the
 * current min_value/max_value under a TYPE_ORDER column order, the
 * deprecated min/max only for signed integers, floats and booleans), then
 * by a bloom filter for = and IN (values hashed as the file's PLAIN bytes;
 * skipped where that is not exact: floats, lossy conversions); then pages
 * by the ColumnIndex of each predicate's column, which leaves row ranges,
 * read in every projected column through its OffsetIndex (the dictionary,
 * then only the pages that overlap the ranges; a column without one is
 * read whole). The candidate rows are finally tested row by row
 * (pq_pred_filter), so what is returned is exact whatever was skipped.
 * Pruning never trusts the file more than decoding does: a page index or
 * bloom filter outside the file, out of order or of the wrong page count
 * is URSA_EFORMAT, not a reason to skip rows.
 *
 * What does not map onto Ursa's types (pq_reader_column_why says which):
 * nested columns (LIST, MAP, structs, repeated fields); DECIMAL with a
 * precision above 38 or a scale outside 0..precision; INTEGER / INT_* /
 * UINT_* annotations on a physical type they do not belong to; a TIMESTAMP,
 * TIME or DATE on the wrong physical type. Lossy on purpose: TIME(NANOS)
 * is read as microseconds (Ursa's time unit), rounded toward the past;
 * INTERVAL and FIXED_LEN_BYTE_ARRAY without annotation are read as binary,
 * BSON, GEOMETRY, GEOGRAPHY, VARIANT and un-annotated BYTE_ARRAY as binary;
 * UNKNOWN (always null) as a string column of nulls; TIME with
 * isAdjustedToUTC as a plain time.
 */

#define TAIL_BYTES     ((uint64_t)64 << 10)
#define COALESCE_GAP   ((uint64_t)64 << 10) /* chunks this close are read together */
#define COALESCE_LIMIT ((uint64_t)64 << 20) /* ... up to this many bytes in one read */

/* How decoded values become a column's values. */
enum {
    CV_NONE = 0, /* same layout */
    CV_I32_I8,   /* INT32 to int8 (range-checked), and the others below */
    CV_I32_I16,
    CV_I32_U8,
    CV_I32_U16,
    CV_INT_DEC,   /* INT32/INT64 unscaled to int64/int128 decimal */
    CV_BE_DEC,    /* big-endian two's complement (FLBA, BYTE_ARRAY) to decimal */
    CV_MS_US32,   /* INT32 milliseconds to int64 microseconds (TIME_MILLIS) */
    CV_NS_US,     /* INT64 nanoseconds to microseconds, floor (TIME(NANOS)) */
    CV_F16,       /* FLBA(2) half to float32 */
    CV_FIXED_VAR, /* FLBA to binary */
    CV_NULL       /* every value null (LogicalType UNKNOWN) */
};

typedef struct rcol {
    int conv;
    const char *why; /* NULL when readable */
} rcol_t;

/* What a footer decodes into: immutable once built, so that readers of
 * the same object share it through the footer cache. Each reader holds a
 * reference, and so does the cache while the footer is in it; the last
 * footer_release() frees it. */
typedef struct pq_footer {
    pq_file_meta_t meta;
    ursa_schema_t schema;
    rcol_t *cols; /* one per leaf */
    atomic_size_t refs;
} pq_footer_t;

/* What decoding a chunk needs besides the column: kept by the reader, one
 * per decoding thread, and reused from chunk to chunk and row group to row
 * group, so that the memory of pages and values is not returned to the
 * system and asked for again (the kernel zeroes every fresh page; that was
 * half the time of a full read). */
typedef struct scratch {
    pq_values_t dict, vals, conv, codes;
    ursa_buf_t ub, defb; /* a decompressed page; its definition levels */
} scratch_t;

/* What one column keeps from one slice of a row group to the next
 * (pq_reader_read_rows_into reading a row group a window at a time): the
 * decoded dictionary, and the rows [first, end) of data page `page` that
 * the last slice decoded but did not return, so that the next slice, which
 * begins there, neither fetches, decompresses nor decodes that page (or the
 * dictionary) again. At most the tail of one page per column: the page a
 * slice ended inside. Dropped when a read moves to another row group, on
 * an error, and by pq_reader_destroy(). */
typedef struct pcache {
    bool have_dict;
    pq_values_t dict;
    uint64_t dict_id; /* (pq_reader_codes_dict) */
    bool plain;       /* a page not dictionary-encoded was met: strings from then on */
    long page;        /* -1: no rows kept */
    int64_t first, end;
    ursa_column_t col; /* rows [first, end) of the row group */
} pcache_t;

/* The bytes of ranged reads (fetch_spans). */
typedef struct fetched {
    ursa_buf_t *bufs; /* cap of them, nbufs in use */
    size_t nbufs, cap;
} fetched_t;

struct pq_reader {
    ursa_store_t *st;
    char *key;
    uint64_t size;
    pq_footer_t *f;
    pq_reader_limits_t lim;
    pq_reader_counters_t ctr;
    int threads;      /* decoding threads, the caller's included */
    pq_codes_t codes; /* STRING columns of slices as dictionary codes (pq_reader_set_codes) */
    /* Kept from one read to the next (see scratch_t): the chunks' read
     * buffers, and each decoding thread's scratch. */
    fetched_t chunks;
    scratch_t *scratch;
    size_t nscratch;
    /* pq_reader_page_bound's offset indexes: of leaves bounds_cols[0..bounds_n)
     * in row group bounds_rg. */
    struct pindex *bounds_px;
    size_t *bounds_cols, bounds_n, bounds_rg;
    /* The slices' cache (pcache_t): one per leaf, of row group pc_rg, NULL
     * when empty. */
    pcache_t *pc;
    size_t pc_rg;
};

/* The logical type of e, from its LogicalType or its converted type. */
static pq_logical_t logical_of(const pq_schema_elem_t *e)
{
    pq_logical_t l = e->logical;
    if (l.kind != PQ_LT_NONE) {
        if (l.kind == PQ_LT_DECIMAL && l.precision <= 0 && e->precision > 0) {
            l.precision = e->precision;
            l.scale = e->scale < 0 ? 0 : e->scale;
        }
        return l;
    }
    memset(&l, 0, sizeof(l));
    switch (e->converted_type) {
    case 0:
        l.kind = PQ_LT_STRING;
        break; /* UTF8 */
    case 4:
        l.kind = PQ_LT_ENUM;
        break;
    case 5:
        l.kind = PQ_LT_DECIMAL;
        l.precision = e->precision;
        l.scale = e->scale < 0 ? 0 : e->scale;
        break;
    case 6:
        l.kind = PQ_LT_DATE;
        break;
    case 7:
        l.kind = PQ_LT_TIME, l.unit = PQ_UNIT_MILLIS, l.utc = true;
        break;
    case 8:
        l.kind = PQ_LT_TIME, l.unit = PQ_UNIT_MICROS, l.utc = true;
        break;
    case 9:
        l.kind = PQ_LT_TIMESTAMP, l.unit = PQ_UNIT_MILLIS, l.utc = true;
        break;
    case 10:
        l.kind = PQ_LT_TIMESTAMP, l.unit = PQ_UNIT_MICROS, l.utc = true;
        break;
    case 11:
        l.kind = PQ_LT_INTEGER, l.bit_width = 8;
        break;
    case 12:
        l.kind = PQ_LT_INTEGER, l.bit_width = 16;
        break;
    case 13:
        l.kind = PQ_LT_INTEGER, l.bit_width = 32;
        break;
    case 14:
        l.kind = PQ_LT_INTEGER, l.bit_width = 64;
        break;
    case 15:
        l.kind = PQ_LT_INTEGER, l.bit_width = 8, l.is_signed = true;
        break;
    case 16:
        l.kind = PQ_LT_INTEGER, l.bit_width = 16, l.is_signed = true;
        break;
    case 17:
        l.kind = PQ_LT_INTEGER, l.bit_width = 32, l.is_signed = true;
        break;
    case 18:
        l.kind = PQ_LT_INTEGER, l.bit_width = 64, l.is_signed = true;
        break;
    case 19:
        l.kind = PQ_LT_JSON;
        break;
    case 20:
        l.kind = PQ_LT_BSON;
        break;
    default:
        break; /* INTERVAL (21) and the group annotations: the physical view */
    }
    return l;
}

/* Maps a leaf onto a field type (f->type and its parameters) and a
 * conversion; returns NULL or why it does not map. */
static const char *map_leaf(const pq_schema_elem_t *e, const pq_leaf_t *leaf, ursa_field_t *f, int *conv)
{
    pq_logical_t l = logical_of(e);
    int t = e->type;
    *conv = CV_NONE;
    f->nullable = e->repetition != PQ_REQUIRED;
    if (leaf->nested || leaf->max_rep > 0) return "a nested column (LIST, MAP, struct or repeated)";
    if (l.kind == PQ_LT_UNKNOWN) {
        f->type = URSA_TYPE_STRING, *conv = CV_NULL;
        return NULL;
    }
    if (l.kind == PQ_LT_DECIMAL) {
        if (l.precision < 1 || l.precision > 38) return "DECIMAL with a precision outside 1..38";
        if (l.scale < 0 || l.scale > l.precision) return "DECIMAL with a scale outside 0..precision";
        f->type = URSA_TYPE_DECIMAL;
        f->precision = (uint8_t)l.precision, f->scale = (uint8_t)l.scale;
        if (t == PQ_INT32 || t == PQ_INT64) {
            *conv = (t == PQ_INT64 && l.precision <= 18) ? CV_NONE : CV_INT_DEC;
            return NULL;
        }
        if (t == PQ_BYTE_ARRAY || t == PQ_FIXED_LEN_BYTE_ARRAY) {
            *conv = CV_BE_DEC;
            return NULL;
        }
        return "DECIMAL on a physical type other than INT32, INT64, BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY";
    }
    switch (t) {
    case PQ_BOOLEAN:
        f->type = URSA_TYPE_BOOL;
        return NULL;
    case PQ_FLOAT:
        f->type = URSA_TYPE_FLOAT32;
        return NULL;
    case PQ_DOUBLE:
        f->type = URSA_TYPE_FLOAT64;
        return NULL;
    case PQ_INT96:
        f->type = URSA_TYPE_TIMESTAMP, f->unit = URSA_UNIT_US, f->utc = true;
        return NULL;
    case PQ_INT32:
        if (l.kind == PQ_LT_NONE) {
            f->type = URSA_TYPE_INT32;
            return NULL;
        }
        if (l.kind == PQ_LT_DATE) {
            f->type = URSA_TYPE_DATE;
            return NULL;
        }
        if (l.kind == PQ_LT_TIME && l.unit == PQ_UNIT_MILLIS) {
            f->type = URSA_TYPE_TIME, *conv = CV_MS_US32;
            return NULL;
        }
        if (l.kind == PQ_LT_INTEGER) {
            switch (l.bit_width * (l.is_signed ? 1 : -1)) {
            case 8:
                f->type = URSA_TYPE_INT8, *conv = CV_I32_I8;
                return NULL;
            case 16:
                f->type = URSA_TYPE_INT16, *conv = CV_I32_I16;
                return NULL;
            case 32:
                f->type = URSA_TYPE_INT32;
                return NULL;
            case -8:
                f->type = URSA_TYPE_UINT8, *conv = CV_I32_U8;
                return NULL;
            case -16:
                f->type = URSA_TYPE_UINT16, *conv = CV_I32_U16;
                return NULL;
            case -32:
                f->type = URSA_TYPE_UINT32;
                return NULL;
            default:
                return "an INTEGER annotation of 64 bits on INT32";
            }
        }
        return "a logical type INT32 cannot carry";
    case PQ_INT64:
        if (l.kind == PQ_LT_NONE) {
            f->type = URSA_TYPE_INT64;
            return NULL;
        }
        if (l.kind == PQ_LT_INTEGER) {
            if (l.bit_width != 64) return "an INTEGER annotation narrower than 64 bits on INT64";
            f->type = l.is_signed ? URSA_TYPE_INT64 : URSA_TYPE_UINT64;
            return NULL;
        }
        if (l.kind == PQ_LT_TIMESTAMP) {
            f->type = URSA_TYPE_TIMESTAMP, f->utc = l.utc;
            f->unit = l.unit == PQ_UNIT_MILLIS  ? URSA_UNIT_MS
                      : l.unit == PQ_UNIT_NANOS ? URSA_UNIT_NS
                                                : URSA_UNIT_US;
            return NULL;
        }
        if (l.kind == PQ_LT_TIME && (l.unit == PQ_UNIT_MICROS || l.unit == PQ_UNIT_NANOS)) {
            f->type = URSA_TYPE_TIME, *conv = l.unit == PQ_UNIT_NANOS ? CV_NS_US : CV_NONE;
            return NULL;
        }
        return "a logical type INT64 cannot carry";
    case PQ_BYTE_ARRAY:
        if (l.kind == PQ_LT_STRING || l.kind == PQ_LT_ENUM)
            f->type = URSA_TYPE_STRING;
        else if (l.kind == PQ_LT_JSON)
            f->type = URSA_TYPE_JSON;
        else
            f->type = URSA_TYPE_BINARY;
        return NULL;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (e->type_length < 1 || e->type_length > PQ_FLBA_MAX) return "FIXED_LEN_BYTE_ARRAY of a bad length";
        if (l.kind == PQ_LT_UUID) {
            if (e->type_length != 16) return "UUID not of 16 bytes";
            f->type = URSA_TYPE_UUID;
            return NULL;
        }
        if (l.kind == PQ_LT_FLOAT16) {
            if (e->type_length != 2) return "FLOAT16 not of 2 bytes";
            f->type = URSA_TYPE_FLOAT32, *conv = CV_F16;
            return NULL;
        }
        f->type = URSA_TYPE_BINARY, *conv = CV_FIXED_VAR;
        return NULL;
    default:
        return "an unknown physical type";
    }
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = ursa_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

void pq_reader_set_threads(pq_reader_t *r, int n)
{
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    r->threads = n < 1 ? 1 : n > PQ_READ_THREADS_MAX ? PQ_READ_THREADS_MAX : n;
}

void pq_reader_set_codes(pq_reader_t *r, pq_codes_t mode)
{
    r->codes = mode;
}

bool pq_reader_codes_dict(const pq_reader_t *r, size_t leaf, const int64_t **offsets, const uint8_t **data,
                          size_t *n, uint64_t *id)
{
    if (!r->pc || leaf >= r->f->meta.nleaves || !r->pc[leaf].have_dict || r->pc[leaf].dict.width != 0)
        return false;
    const pq_values_t *d = &r->pc[leaf].dict;
    *offsets = (const int64_t *)(const void *)d->offsets.data;
    *data = d->data.data;
    *n = d->count, *id = r->pc[leaf].dict_id;
    return true;
}

void pq_reader_set_limits(pq_reader_t *r, const pq_reader_limits_t *l)
{
    if (l->page_bytes > 0) r->lim.page_bytes = l->page_bytes;
    if (l->page_values > 0) r->lim.page_values = l->page_values;
    if (l->rows > 0) r->lim.rows = l->rows;
    if (l->data_bytes > 0) r->lim.data_bytes = l->data_bytes;
}

const pq_file_meta_t *pq_reader_meta(const pq_reader_t *r)
{
    return &r->f->meta;
}

uint64_t pq_reader_size(const pq_reader_t *r)
{
    return r->size;
}

const ursa_schema_t *pq_reader_schema(const pq_reader_t *r)
{
    return &r->f->schema;
}

const char *pq_reader_column_why(const pq_reader_t *r, size_t i)
{
    return i < r->f->meta.nleaves ? r->f->cols[i].why : "no such column";
}

int pq_reader_find(const pq_reader_t *r, const char *name)
{
    const pq_leaf_t *l = pq_meta_leaf_by_name(&r->f->meta, name);
    return l ? (int)(l - r->f->meta.leaves) : -1;
}

/* Drops one reference to f, freeing it with the last. */
static void footer_free(pq_footer_t *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1) return;
    pq_meta_free(&f->meta);
    ursa_schema_free(&f->schema);
    ursa_free(f->cols);
    ursa_free(f);
}

static void read_state_free(pq_reader_t *r);

void pq_reader_destroy(pq_reader_t **rp)
{
    pq_reader_t *r = *rp;
    if (!r) return;
    read_state_free(r);
    footer_free(r->f);
    ursa_free(r->key);
    ursa_free(r);
    *rp = NULL;
}

/* Prefixes err's message with the key (and more context in ctx). */
static int wrap(ursa_err_t *err, int rc, const char *key, const char *ctx, const ursa_err_t *inner)
{
    char msg[sizeof(inner->msg)];
    snprintf(msg, sizeof(msg), "%s", inner->msg[0] ? inner->msg : ursa_strstatus(rc));
    return ursa_err_set(err, rc, "%s: %s%s", key, ctx, msg);
}

/* ------------------------------------------------------------------------
 * The footer cache. Process-wide: every reader of an object opens it
 * through the same cache, whatever store handle it came by. Keyed by the
 * store (its URL, or its address when it was not opened by URL) and the
 * object's key; tagged by the size and version token ursa_store_stat gives,
 * so a rewritten object misses, its stale entry is dropped, and its new
 * footer is read. A store that gives no version token gets no caching.
 * ---------------------------------------------------------------------- */

static void footer_retain(void *v)
{
    atomic_fetch_add(&((pq_footer_t *)v)->refs, 1);
}

static void footer_release(void *v)
{
    footer_free(v);
}

static const pq_cache_ops_t FOOTER_OPS = {footer_retain, footer_release};
static pq_cache_t footer_cache = PQ_CACHE_INIT(&FOOTER_OPS, PQ_FOOTER_CACHE_DEFAULT);

void pq_footer_cache_set_limit(size_t bytes)
{
    pq_cache_set_limit(&footer_cache, bytes);
}

void pq_footer_cache_stats(pq_cache_stats_t *s)
{
    pq_cache_get_stats(&footer_cache, s);
}

/* What f holds on the heap: the metadata's arena, the fields and their
 * names, the column mapping. */
static size_t footer_cost(const pq_footer_t *f)
{
    size_t n = sizeof(*f) + pq_meta_mem(&f->meta) + f->meta.nleaves * sizeof(rcol_t) +
               f->schema.nfields * sizeof(ursa_field_t);
    for (size_t i = 0; i < f->schema.nfields; i++) n += f->schema.fields[i].name_len + 1;
    return n;
}

/* The cache key of key in st: the store's identity, a NUL, the key. */
static int cache_key(const ursa_store_t *st, const char *key, ursa_buf_t *k)
{
    char id[32];
    const char *s = st->url;
    if (!s) {
        snprintf(id, sizeof(id), "%p", (const void *)st);
        s = id;
    }
    int rc = ursa_buf_append(k, s, strlen(s) + 1);
    return rc ? rc : ursa_buf_append(k, key, strlen(key));
}

/* Reads the footer of key (size bytes) and decodes it into a new footer
 * whose one reference is the caller's (*out; NULL on an error). At most
 * two ranged reads: the last 64 KiB, and the rest of a longer footer. */
static int footer_load(ursa_store_t *st, const char *key, uint64_t size, pq_footer_t **out, ursa_err_t *err)
{
    ursa_err_t e = {0};
    ursa_buf_t tail = {0}, foot = {0};
    int rc;
    pq_footer_t *f = ursa_calloc(1, sizeof(*f));
    if (!f) {
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", key);
        goto out;
    }
    atomic_init(&f->refs, 1);
    f->schema.time_column = -1;
    uint64_t tn = size < TAIL_BYTES ? size : TAIL_BYTES;
    if ((rc = ursa_store_get_range(st, key, size - tn, tn, &tail, &e))) {
        rc = wrap(err, rc, key, "reading the footer: ", &e);
        goto out;
    }
    if (tail.len != tn) {
        rc = ursa_err_set(err, URSA_EFORMAT, "%s: the file shrank while being read", key);
        goto out;
    }
    uint32_t flen;
    if ((rc = pq_meta_footer_len(tail.data, tail.len, size, &flen, &e))) {
        rc = wrap(err, rc, key, "", &e);
        goto out;
    }
    const uint8_t *fp;
    if ((uint64_t)flen + 8 <= tail.len) {
        fp = tail.data + tail.len - 8 - flen;
    } else {
        if ((rc = ursa_store_get_range(st, key, size - 8 - flen, flen, &foot, &e))) {
            rc = wrap(err, rc, key, "reading the footer: ", &e);
            goto out;
        }
        if (foot.len != flen) {
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: the file shrank while being read", key);
            goto out;
        }
        fp = foot.data;
    }
    if ((rc = pq_meta_decode(fp, flen, &f->meta, &e))) {
        rc = wrap(err, rc, key, "footer: ", &e);
        goto out;
    }
    size_t n = f->meta.nleaves;
    f->schema.fields = ursa_calloc(n ? n : 1, sizeof(ursa_field_t));
    f->cols = ursa_calloc(n ? n : 1, sizeof(rcol_t));
    if (!f->schema.fields || !f->cols) {
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", key);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const pq_leaf_t *leaf = &f->meta.leaves[i];
        ursa_field_t *fl = &f->schema.fields[i];
        if (!(fl->name = dup_str(leaf->dotted))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", key);
            goto out;
        }
        f->schema.nfields = i + 1;
        fl->name_len = strlen(fl->name);
        f->cols[i].why = map_leaf(&f->meta.schema[leaf->schema_index], leaf, fl, &f->cols[i].conv);
        if (f->cols[i].why) fl->type = URSA_TYPE_BINARY, fl->nullable = true;
    }
    *out = f;
    f = NULL;
    rc = URSA_OK;
out:
    ursa_buf_free(&tail);
    ursa_buf_free(&foot);
    footer_free(f);
    return rc;
}

int pq_reader_open(pq_reader_t **out, ursa_store_t *st, const char *key, ursa_err_t *err)
{
    ursa_err_t e = {0};
    ursa_store_info_t info;
    ursa_buf_t ck = {0};
    char tag[URSA_STORE_VERSION_MAX + 24];
    int rc, tlen = 0;
    *out = NULL;
    pq_reader_t *r = ursa_calloc(1, sizeof(*r));
    if (!r || !(r->key = dup_str(key))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", key);
        goto out;
    }
    r->st = st;
    r->lim = (pq_reader_limits_t){PQ_READ_PAGE_MAX, (int64_t)1 << 28, (int64_t)1 << 28,
                                  (int64_t)PQ_VALUES_MAX_DATA};
    r->threads = 1;
    if ((rc = ursa_store_stat(st, key, &info, &e))) {
        rc = wrap(err, rc, key, "", &e);
        goto out;
    }
    r->size = info.size;
    if (r->size < 12) {
        rc = ursa_err_set(err, URSA_EFORMAT, "%s: %llu bytes is too small for a Parquet file", key,
                          (unsigned long long)r->size);
        goto out;
    }
    if (info.version[0]) { /* cacheable: look it up */
        if (cache_key(st, key, &ck)) {
            rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", key);
            goto out;
        }
        tlen = snprintf(tag, sizeof(tag), "%llu/%s", (unsigned long long)info.size, info.version);
        r->f = pq_cache_get(&footer_cache, ck.data, ck.len, tag, (size_t)tlen);
    }
    if (!r->f) {
        if ((rc = footer_load(st, key, r->size, &r->f, err))) goto out;
        if (tlen)
            (void)pq_cache_put(&footer_cache, ck.data, ck.len, tag, (size_t)tlen, r->f, footer_cost(r->f));
    }
    *out = r;
    r = NULL;
    rc = URSA_OK;
out:
    ursa_buf_free(&ck);
    pq_reader_destroy(&r);
    return rc;
}

/* IEEE half to float. */
static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF, bits;
    if (e == 0) {
        if (m == 0) {
            bits = s;
        } else { /* subnormal: normalize */
            e = 127 - 15 + 1;
            while (!(m & 0x400)) m <<= 1, e--;
            bits = s | e << 23 | (m & 0x3FF) << 13;
        }
    } else if (e == 31) {
        bits = s | 0xFFu << 23 | m << 13;
    } else {
        bits = s | (e + 127 - 15) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Big-endian two's complement b[0..n) into w (8 or 16) little-endian bytes;
 * false when it does not fit. */
static bool be_to_le(const uint8_t *b, size_t n, uint8_t *out, unsigned w)
{
    if (n == 0) return false;
    uint8_t sign = (b[0] & 0x80) ? 0xFF : 0;
    while (n > w) { /* leading bytes beyond w must be sign extension */
        if (b[0] != sign) return false;
        b++, n--;
    }
    if (n == w && ((b[0] & 0x80) ? 0xFF : 0) != sign) return false;
    for (unsigned i = 0; i < w; i++) out[i] = i < n ? b[n - 1 - i] : sign;
    return true;
}

/* Converts src (dense values) into dst (cleared here) for conversion cv
 * and a column of width w. */
static int convert(int cv, const pq_values_t *src, unsigned w, pq_values_t *dst, ursa_err_t *err)
{
    pq_values_clear(dst);
    size_t n = src->count;
    if (cv == CV_FIXED_VAR) {
        dst->width = 0;
        size_t sw = src->width;
        if (ursa_buf_reserve(&dst->offsets, (n + 1) * 8) || ursa_buf_reserve(&dst->data, n * sw))
            return ursa_err_set(err, URSA_ENOMEM, "out of memory");
        int64_t *off = (int64_t *)(void *)dst->offsets.data;
        for (size_t i = 0; i <= n; i++) off[i] = (int64_t)(i * sw);
        dst->offsets.len = (n + 1) * 8;
        if (n) memcpy(dst->data.data, src->fixed.data, n * sw);
        dst->data.len = n * sw;
        dst->count = n;
        return URSA_OK;
    }
    dst->width = w;
    if (ursa_buf_reserve(&dst->fixed, n * w)) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    uint8_t *o = dst->fixed.data;
    for (size_t i = 0; i < n; i++, o += w) {
        size_t len;
        const uint8_t *p = pq_values_get(src, i, &len);
        int32_t i32;
        int64_t i64;
        switch (cv) {
        case CV_I32_I8:
        case CV_I32_I16:
        case CV_I32_U8:
        case CV_I32_U16: {
            memcpy(&i32, p, 4);
            int32_t lo = cv == CV_I32_I8 ? -128 : cv == CV_I32_I16 ? -32768 : 0;
            int32_t hi = cv == CV_I32_I8 ? 127 : cv == CV_I32_I16 ? 32767 : cv == CV_I32_U8 ? 255 : 65535;
            if (i32 < lo || i32 > hi)
                return ursa_err_set(err, URSA_EFORMAT, "value %d of value %zu out of its type's range", i32,
                                    i);
            if (w == 1) {
                int8_t v8 = (int8_t)(uint8_t)i32;
                memcpy(o, &v8, 1);
            } else {
                int16_t v16 = (int16_t)(uint16_t)i32;
                memcpy(o, &v16, 2);
            }
            break;
        }
        case CV_INT_DEC:
            if (src->width == 4) {
                memcpy(&i32, p, 4);
                i64 = i32;
            } else {
                memcpy(&i64, p, 8);
            }
            memcpy(o, &i64, 8);
            if (w == 16) memset(o + 8, i64 < 0 ? 0xFF : 0, 8);
            break;
        case CV_BE_DEC:
            if (!be_to_le(p, len, o, w))
                return ursa_err_set(err, URSA_EFORMAT, "decimal value %zu of %zu bytes does not fit %u bytes",
                                    i, len, w);
            break;
        case CV_MS_US32:
            memcpy(&i32, p, 4);
            i64 = (int64_t)i32 * 1000;
            memcpy(o, &i64, 8);
            break;
        case CV_NS_US:
            memcpy(&i64, p, 8);
            i64 = i64 / 1000 - (i64 % 1000 < 0);
            memcpy(o, &i64, 8);
            break;
        case CV_F16: {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8);
            float f = half_to_float(h);
            memcpy(o, &f, 4);
            break;
        }
        default:
            return ursa_err_set(err, URSA_EINTERNAL, "conversion %d", cv);
        }
    }
    dst->fixed.len = n * w;
    dst->count = n;
    return URSA_OK;
}

/* A run of a column chunk's bytes that starts at a page header: the whole
 * chunk, its dictionary page(s), or one data page found by the
 * OffsetIndex. */
typedef struct piece {
    const uint8_t *p;
    size_t len;
    uint64_t off; /* in the file */
    long page;    /* the number of its first page in the chunk (for messages) */
} piece_t;

static void scratch_free(scratch_t *s)
{
    pq_values_free(&s->dict);
    pq_values_free(&s->vals);
    pq_values_free(&s->conv);
    pq_values_free(&s->codes);
    ursa_buf_free(&s->ub);
    ursa_buf_free(&s->defb);
}

/* Empties the slices' cache. */
static void pcache_drop(pq_reader_t *r)
{
    for (size_t i = 0; r->pc && i < r->f->meta.nleaves; i++) {
        pq_values_free(&r->pc[i].dict);
        ursa_column_free(&r->pc[i].col);
    }
    ursa_free(r->pc);
    r->pc = NULL;
}

/* One column chunk being read. */
typedef struct chunk_ctx {
    const pq_reader_t *r;
    size_t rg, leaf;
    const piece_t *pieces;
    size_t npieces;
    bool whole;      /* the pieces are the whole chunk: stop at its num_values */
    int64_t rows;    /* the rows the pieces hold */
    uint64_t *pages; /* data pages decoded, counted when whole */
    scratch_t *s;
    pcache_t *ce;     /* a slice's cache: the dictionary taken from it or kept in it; or NULL */
    uint64_t *counts; /* [0] data pages decoded, [1] dictionary pages decoded */
    bool codes;       /* a STRING column with ce: its dictionary codes while its pages have them */
} chunk_ctx_t;

/* The ids of dictionaries decoded for codes (pq_reader_codes_dict). */
static _Atomic uint64_t dict_ids;

/* A column of codes (pq_reader_set_codes) made the strings they stand for. */
static int uncode(ursa_column_t *col, const pq_values_t *dict)
{
    ursa_column_t s;
    ursa_column_init(&s, URSA_TYPE_STRING);
    const uint32_t *code = (const uint32_t *)(const void *)col->values.data;
    int rc = URSA_OK;
    for (size_t i = 0; i < col->length && rc == URSA_OK; i++) {
        size_t n = 0;
        const uint8_t *v = ursa_column_valid(col, i) ? pq_values_get(dict, code[i], &n) : NULL;
        rc = ursa_column_valid(col, i)
                 ? ursa_column_append_str(&s, v ? v : (const uint8_t *)"", n)
                 : ursa_column_append_null(&s); /* (an empty string may have no bytes) */
    }
    ursa_column_free(col);
    *col = s;
    return rc;
}

static int chunk_err(ursa_err_t *err, int rc, const chunk_ctx_t *c, long page, const ursa_err_t *inner)
{
    char ctx[200];
    if (page >= 0)
        snprintf(ctx, sizeof(ctx), "row group %zu, column %s, page %ld: ", c->rg,
                 c->r->f->meta.leaves[c->leaf].dotted, page);
    else
        snprintf(ctx, sizeof(ctx), "row group %zu, column %s: ", c->rg, c->r->f->meta.leaves[c->leaf].dotted);
    return wrap(err, rc, c->r->key, ctx, inner);
}

/* Decodes every page of the pieces into col. */
static int read_chunk(const chunk_ctx_t *c, ursa_column_t *col, ursa_err_t *err)
{
    const pq_reader_t *r = c->r;
    const pq_col_meta_t *cm = &r->f->meta.row_groups[c->rg].columns[c->leaf].meta;
    const pq_leaf_t *leaf = &r->f->meta.leaves[c->leaf];
    const pq_schema_elem_t *el = &r->f->meta.schema[leaf->schema_index];
    int64_t rows = c->rows;
    int cv = r->f->cols[c->leaf].conv;
    uint32_t max_def = (uint32_t)leaf->max_def;
    ursa_err_t e = {0};
    pq_values_t *dict = c->ce ? &c->ce->dict : &c->s->dict, *vals = &c->s->vals, *conv = &c->s->conv;
    pq_page_header_t h;
    ursa_buf_t *ub = &c->s->ub, *defb = &c->s->defb;
    bool have_dict = c->ce && c->ce->have_dict;
    int rc;
    long page = 0;
    int64_t seen = 0;
    int32_t tl = cm->type == PQ_FIXED_LEN_BYTE_ARRAY ? el->type_length : 0;
    memset(&h, 0, sizeof(h));
    if ((!have_dict && (rc = pq_values_reset(dict, cm->type, tl))) ||
        (rc = pq_values_reset(vals, cm->type, tl)) || (rc = pq_values_reset(conv, PQ_INT64, 0))) {
        ursa_err_set(&e, rc, "cannot hold values of physical type %d (type_length %d)", cm->type, (int)tl);
        rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, -1, &e);
        goto out;
    }
    dict->max_data = vals->max_data = (size_t)r->lim.data_bytes;
    /* Codes (pq_reader_set_codes): a STRING column is decoded as its
     * dictionary's codes, into a column of UINT32, when its first data page
     * is dictionary-encoded (coded -1: no data page yet), and made strings
     * at the first page that is not. An empty column keeps its buffers (a
     * donor's) until the first page says which kind it holds. */
    bool is_str = r->f->schema.fields[c->leaf].type == URSA_TYPE_STRING;
    int coded = 0;
    if (is_str && col->type == URSA_TYPE_UINT32 && col->length) { /* a cached slice's codes */
        coded = 1;
        if (!c->codes) {
            coded = 0;
            if ((rc = uncode(col, dict))) {
                rc = ursa_err_set(err, rc, "%s: out of memory", r->key);
                goto out;
            }
        }
    } else if (is_str && col->length == 0) {
        coded = c->codes ? -1 : 0;
        if (!c->codes && col->type == URSA_TYPE_UINT32) {
            ursa_column_free(col);
            ursa_column_init_field(col, &r->f->schema.fields[c->leaf]);
        }
    }
    for (size_t pi = 0; pi < c->npieces; pi++) {
        const piece_t *pc = &c->pieces[pi];
        size_t pos = 0;
        page = pc->page;
        while (pos < pc->len && (!c->whole || seen < cm->num_values)) {
            size_t used;
            pq_page_header_free(&h);
            if ((rc = pq_page_header_decode(pc->p + pos, pc->len - pos, &h, &used, &e))) {
                ursa_err_t e2;
                ursa_err_set(&e2, rc, "header at byte %llu of the file: %s",
                             (unsigned long long)(pc->off + pos), e.msg);
                rc = chunk_err(err, rc, c, page, &e2);
                goto out;
            }
            const uint8_t *body = pc->p + pos + used;
            size_t csize = (size_t)h.compressed_page_size, usize = (size_t)h.uncompressed_page_size;
            if (h.compressed_page_size < 0 || csize > pc->len - pos - used) {
                ursa_err_set(&e, URSA_EFORMAT, "compressed size %d past the chunk's end (%zu bytes left)",
                             (int)h.compressed_page_size, pc->len - pos - used);
                rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                goto out;
            }
            if (h.uncompressed_page_size < 0 || (int64_t)usize > r->lim.page_bytes) {
                ursa_err_set(&e, URSA_EFORMAT, "uncompressed size %d outside 0..%lld",
                             (int)h.uncompressed_page_size, (long long)r->lim.page_bytes);
                rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                goto out;
            }
            pos += used + csize;
            if (h.has_crc && (uint32_t)crc32(0, body, (uInt)csize) != (uint32_t)h.crc) {
                ursa_err_set(&e, URSA_EFORMAT, "CRC mismatch (header %08x, page %08x)", (unsigned)h.crc,
                             (unsigned)crc32(0, body, (uInt)csize));
                rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                goto out;
            }
            if (h.type != PQ_DICTIONARY_PAGE && h.type != PQ_DATA_PAGE && h.type != PQ_DATA_PAGE_V2) {
                page++; /* an index page or a type from the future: skipped */
                continue;
            }
            /* The bytes to decompress: everything but v2's levels. */
            size_t lvl = 0;
            bool compressed = cm->codec != PQ_CODEC_UNCOMPRESSED;
            if (h.type == PQ_DATA_PAGE_V2) {
                lvl = (size_t)h.v2.rep_levels_byte_length + (size_t)h.v2.def_levels_byte_length;
                if (h.v2.rep_levels_byte_length < 0 || h.v2.def_levels_byte_length < 0 || lvl > csize ||
                    lvl > usize) {
                    ursa_err_set(&e, URSA_EFORMAT, "level lengths %d + %d past the page's %zu bytes",
                                 (int)h.v2.rep_levels_byte_length, (int)h.v2.def_levels_byte_length, csize);
                    rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                    goto out;
                }
                compressed = compressed && h.v2.is_compressed;
            }
            const uint8_t *u = body + lvl;
            size_t ulen = usize - lvl;
            if (compressed && ulen == 0 && csize == lvl) {
                u = body; /* an empty page with no compressed bytes at all (some writers) */
            } else if (compressed) {
                ub->len = 0;
                rc = pq_decompress(cm->codec, body + lvl, csize - lvl, ulen, ub);
                if (rc) {
                    ursa_err_set(&e, rc, "decompression (codec %d, %zu bytes to %zu) failed", cm->codec,
                                 csize - lvl, ulen);
                    rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                    goto out;
                }
                u = ub->data;
            } else if (csize != usize) {
                ursa_err_set(&e, URSA_EFORMAT, "uncompressed page of %zu bytes declares %zu", csize, usize);
                rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                goto out;
            }
            if (h.type == PQ_DICTIONARY_PAGE) {
                if (have_dict) {
                    ursa_err_set(&e, URSA_EFORMAT, "a second dictionary page");
                    rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                    goto out;
                }
                if (h.dict.num_values < 0 || (rc = pq_decode_dictionary(dict, h.dict.encoding, u, ulen,
                                                                        (size_t)h.dict.num_values, &e))) {
                    if (h.dict.num_values < 0) ursa_err_set(&e, URSA_EFORMAT, "negative num_values");
                    rc = chunk_err(err, rc ? rc : URSA_EFORMAT, c, page, &e);
                    goto out;
                }
                have_dict = true;
                if (c->ce) c->ce->have_dict = true, c->ce->dict_id = atomic_fetch_add(&dict_ids, 1) + 1;
                c->counts[1]++;
                page++;
                continue;
            }
            int32_t nv = h.type == PQ_DATA_PAGE ? h.v1.num_values : h.v2.num_values;
            int enc = h.type == PQ_DATA_PAGE ? h.v1.encoding : h.v2.encoding;
            if (nv > r->lim.page_values) {
                ursa_err_set(&e, URSA_EFORMAT, "%d values, more than the limit of %lld per page", (int)nv,
                             (long long)r->lim.page_values);
                rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                goto out;
            }
            if (nv < 0 || (int64_t)nv > rows - (int64_t)col->length) {
                ursa_err_set(&e, URSA_EFORMAT, "%d values with %lld rows of the row group left", (int)nv,
                             (long long)(rows - (int64_t)col->length));
                rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                goto out;
            }
            size_t n = (size_t)nv, vused = 0, k = n;
            uint32_t *def = NULL;
            if (max_def > 0) {
                defb->len = 0;
                if (ursa_buf_reserve(defb, n * 4 + 4)) {
                    rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
                    goto out;
                }
                def = (uint32_t *)(void *)defb->data;
                if (h.type == PQ_DATA_PAGE) {
                    pq_levels_kind_t kind =
                        h.v1.def_encoding == PQV_E_BIT_PACKED ? PQ_LEVELS_BIT_PACKED_V1 : PQ_LEVELS_RLE_V1;
                    rc = pq_decode_levels(kind, u, ulen, max_def, def, n, &vused, &e);
                } else {
                    size_t dl = (size_t)h.v2.def_levels_byte_length, dused;
                    rc = pq_decode_levels(PQ_LEVELS_RLE_V2, body + h.v2.rep_levels_byte_length, dl, max_def,
                                          def, n, &dused, &e);
                }
                if (rc) {
                    rc = chunk_err(err, rc, c, page, &e);
                    goto out;
                }
                k = pq_levels_count(def, n, max_def);
            }
            pq_values_clear(vals);
            bool dict_enc = have_dict && (enc == PQV_E_RLE_DICTIONARY || enc == PQV_E_PLAIN_DICTIONARY);
            if (coded && !dict_enc) { /* strings from here on */
                if (c->ce) c->ce->plain = true;
                if (coded < 0 && col->type == URSA_TYPE_UINT32) {
                    ursa_column_free(col);
                    ursa_column_init_field(col, &r->f->schema.fields[c->leaf]);
                } else if (coded > 0 && (rc = uncode(col, dict))) {
                    rc = ursa_err_set(err, rc, "%s: out of memory", r->key);
                    goto out;
                }
                coded = 0;
            } else if (coded < 0) { /* codes */
                if (col->type != URSA_TYPE_UINT32) {
                    ursa_column_free(col);
                    ursa_column_init(col, URSA_TYPE_UINT32);
                }
                coded = 1;
            }
            if (coded) {
                pq_values_t *cd = &c->s->codes;
                size_t next = 0;
                if ((rc = pq_values_reset(cd, PQ_INT32, 0)) ||
                    (rc = ursa_buf_reserve(&cd->fixed, k * 4 + 4))) {
                    rc = ursa_err_set(err, rc, "%s: out of memory", r->key);
                    goto out;
                }
                if ((rc = pq_decode_dict_indices(u + vused, ulen - vused, k, dict->count,
                                                 (uint32_t *)(void *)cd->fixed.data, NULL, &e)) == URSA_OK) {
                    cd->count = k, cd->fixed.len = k * 4;
                    rc = pq_column_append(col, def, max_def, n, cd, &next, &e);
                }
                if (rc) {
                    rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                    goto out;
                }
            } else if (cv == CV_NULL) {
                if ((rc = ursa_column_append_nulls(col, n))) {
                    rc = ursa_err_set(err, rc, "%s: out of memory", r->key);
                    goto out;
                }
            } else {
                /* PLAIN fixed-width values the column keeps as they are: appended
                 * from the page itself (a view), not copied into vals first. */
                pq_values_t view;
                const pq_values_t *src = vals;
                if (enc == PQV_E_PLAIN && cv == CV_NONE && vals->width && vals->ptype != PQV_T_BOOLEAN &&
                    vals->ptype != PQV_T_INT96) { /* (INT96 is decoded to 8 bytes, booleans from bits) */
                    if (k > (ulen - vused) / vals->width) {
                        ursa_err_set(&e, URSA_EFORMAT, "PLAIN: %zu values of %u bytes, %zu bytes in the page",
                                     k, vals->width, ulen - vused);
                        rc = chunk_err(err, URSA_EFORMAT, c, page, &e);
                        goto out;
                    }
                    view = *vals;
                    view.fixed =
                        (ursa_buf_t){(uint8_t *)(uintptr_t)(u + vused), k * vals->width, k * vals->width};
                    view.count = k;
                    src = &view;
                } else if ((rc = pq_decode_values(vals, enc, have_dict ? dict : NULL, u + vused, ulen - vused,
                                                  k, NULL, &e))) {
                    rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                    goto out;
                }
                if (cv != CV_NONE) {
                    if ((rc = convert(cv, vals, col->width, conv, &e))) {
                        rc = chunk_err(err, rc, c, page, &e);
                        goto out;
                    }
                    src = conv;
                }
                size_t next = 0;
                if ((rc = pq_column_append(col, def, max_def, n, src, &next, &e))) {
                    rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                    goto out;
                }
            }
            seen += nv;
            c->counts[0]++;
            if (c->whole) (*c->pages)++;
            page++;
        }
    }
    if ((int64_t)col->length != rows) {
        ursa_err_set(&e, URSA_EFORMAT, "%zu values in the %s pages, %lld rows %s", col->length,
                     c->whole ? "chunk's" : "selected", (long long)rows,
                     c->whole ? "in the row group" : "by the offset index");
        rc = chunk_err(err, URSA_EFORMAT, c, -1, &e);
        goto out;
    }
    rc = URSA_OK;
out:
    pq_page_header_free(&h);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Ranged reads, neighbours coalesced. */

typedef struct span {
    uint64_t start, end; /* bytes of the file */
    size_t id;           /* the caller's */
} span_t;

static int span_cmp(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void fetched_free(fetched_t *f)
{
    for (size_t i = 0; i < f->cap; i++) ursa_buf_free(&f->bufs[i]);
    ursa_free(f->bufs);
    memset(f, 0, sizeof(*f));
}

/* Reads the spans sp[0..n) (sorted here; each already checked to lie in
 * the file), spans less than COALESCE_GAP apart in one read of up to
 * COALESCE_LIMIT bytes; data[sp.id] then points at a span's bytes (NULL
 * for an empty span), held by f (zeroed, or used before: its buffers are
 * reused) until its next use or fetched_free(). */
static int fetch_spans(pq_reader_t *r, span_t *sp, size_t n, const uint8_t **data, fetched_t *f,
                       ursa_err_t *err)
{
    ursa_err_t e = {0};
    f->nbufs = 0;
    if (n > f->cap) {
        ursa_buf_t *b = ursa_realloc(f->bufs, n * sizeof(*b));
        if (!b) return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
        memset(b + f->cap, 0, (n - f->cap) * sizeof(*b));
        f->bufs = b, f->cap = n;
    }
    qsort(sp, n, sizeof(*sp), span_cmp);
    for (size_t i = 0; i < n;) {
        if (sp[i].start == sp[i].end) {
            data[sp[i].id] = NULL;
            i++;
            continue;
        }
        uint64_t s = sp[i].start, end = sp[i].end;
        size_t j = i + 1;
        while (j < n && sp[j].start <= end + COALESCE_GAP &&
               (sp[j].end > end ? sp[j].end : end) - s <= COALESCE_LIMIT) {
            if (sp[j].end > end) end = sp[j].end;
            j++;
        }
        ursa_buf_t *b = &f->bufs[f->nbufs++];
        int rc = ursa_store_get_range(r->st, r->key, s, end - s, b, &e);
        if (rc) return wrap(err, rc, r->key, "reading column chunks: ", &e);
        r->ctr.reads++;
        r->ctr.bytes_read += b->len;
        if (b->len != end - s)
            return ursa_err_set(err, URSA_EFORMAT, "%s: the file shrank while being read", r->key);
        for (size_t k = i; k < j; k++)
            data[sp[k].id] = sp[k].start == sp[k].end ? NULL : b->data + (sp[k].start - s);
        i = j;
    }
    return URSA_OK;
}

/* Checks that [off, off + len) lies in the file's data (between the
 * leading magic and the footer). */
static bool in_data(const pq_reader_t *r, int64_t off, int64_t len)
{
    uint64_t data_end = r->size - 8;
    return off >= 4 && len >= 0 && (uint64_t)off <= data_end && (uint64_t)len <= data_end - (uint64_t)off;
}

/* The bytes of column leaf's chunk in rg, checked: [*start, *end), both
 * 0 (and only then) for the empty chunk of an empty row group. URSA_ENOTSUP for what the
 * reader cannot read (an unmapped type, encryption, another file, a
 * codec). */
static int chunk_bounds(const pq_reader_t *r, size_t rg, size_t leaf, uint64_t *start, uint64_t *end,
                        ursa_err_t *err)
{
    const pq_row_group_t *g = &r->f->meta.row_groups[rg];
    const char *name = r->f->meta.leaves[leaf].dotted;
    if (r->f->cols[leaf].why)
        return ursa_err_set(err, URSA_ENOTSUP, "%s: column %s: %s", r->key, name, r->f->cols[leaf].why);
    const pq_column_chunk_t *cc = &g->columns[leaf];
    if (!cc->has_meta_data || cc->encrypted)
        return ursa_err_set(err, URSA_ENOTSUP, "%s: row group %zu, column %s: encrypted", r->key, rg, name);
    if (cc->file_path)
        return ursa_err_set(err, URSA_ENOTSUP,
                            "%s: row group %zu, column %s: its data is in another file (%s)", r->key, rg,
                            name, cc->file_path);
    if (!pq_codec_readable(cc->meta.codec))
        return ursa_err_set(err, URSA_ENOTSUP, "%s: row group %zu, column %s: codec %d is not supported",
                            r->key, rg, name, cc->meta.codec);
    *start = *end = 0;
    if (g->num_rows == 0 && cc->meta.num_values == 0) return URSA_OK; /* nothing to read (offsets may be 0) */
    int64_t s = cc->meta.data_page_offset, dpo = cc->meta.dictionary_page_offset;
    if (dpo >= 4 && (dpo < s || s < 4)) s = dpo;
    int64_t len = cc->meta.total_compressed_size;
    if (!in_data(r, s, len))
        return ursa_err_set(
            err, URSA_EFORMAT,
            "%s: row group %zu, column %s: chunk at %lld of %lld bytes outside the file's %llu "
            "bytes of data",
            r->key, rg, name, (long long)s, (long long)len, (unsigned long long)(r->size - 8));
    *start = (uint64_t)s, *end = (uint64_t)s + (uint64_t)len;
    return URSA_OK;
}

/* ------------------------------------------------------------------------ */
/* Statistics, page indexes and bloom filters. */

/* A value of the file (the PLAIN bytes of statistics and page indexes:
 * byte arrays without their length) in the layout of leaf's Ursa type:
 * *p and *n point into raw or conv. False when it cannot be had (a
 * type without an order here, bytes of the wrong size, out of range). */
static bool to_ursa(const pq_reader_t *r, size_t leaf, const pq_bytes_t *b, pq_values_t *raw,
                    pq_values_t *conv, const void **p, size_t *n)
{
    const pq_schema_elem_t *el = &r->f->meta.schema[r->f->meta.leaves[leaf].schema_index];
    int cv = r->f->cols[leaf].conv;
    if (!b->p || el->type == PQ_INT96 || cv == CV_NULL) return false;
    pq_values_clear(raw);
    if (raw->width) {
        if (b->n != raw->width || ursa_buf_append(&raw->fixed, b->p, b->n)) return false;
    } else {
        int64_t off[2] = {0, (int64_t)b->n};
        if (ursa_buf_append(&raw->offsets, off, sizeof(off)) || ursa_buf_append(&raw->data, b->p, b->n))
            return false;
    }
    raw->count = 1;
    const pq_values_t *v = raw;
    if (cv != CV_NONE) {
        ursa_err_t e;
        if (convert(cv, raw, ursa_field_width(&r->f->schema.fields[leaf]), conv, &e)) return false;
        v = conv;
    }
    *p = pq_values_get(v, 0, n);
    return true;
}

/* Whether min and max statistics of leaf can be trusted in its type's
 * order: the current fields (min_value, max_value) when the footer says
 * the column uses the type's order; the deprecated ones (min, max, in
 * signed order) only where signed order is the type's (signed integers,
 * floats, booleans). */
static bool order_known(const pq_reader_t *r, size_t leaf)
{
    return leaf < r->f->meta.ncolumn_orders && r->f->meta.column_orders[leaf] == 0;
}

static bool signed_order_is_type_order(const pq_reader_t *r, size_t leaf)
{
    const pq_schema_elem_t *el = &r->f->meta.schema[r->f->meta.leaves[leaf].schema_index];
    ursa_type_t t = r->f->schema.fields[leaf].type;
    bool uns =
        t == URSA_TYPE_UINT8 || t == URSA_TYPE_UINT16 || t == URSA_TYPE_UINT32 || t == URSA_TYPE_UINT64;
    switch (el->type) {
    case PQ_BOOLEAN:
    case PQ_FLOAT:
    case PQ_DOUBLE:
        return true;
    case PQ_INT32:
    case PQ_INT64:
        return !uns;
    default:
        return false;
    }
}

/* Scratch values for to_ursa: a pair for min, a pair for max. */
typedef struct bounds {
    pq_values_t raw[2], conv[2];
} bounds_t;

static int bounds_init(const pq_reader_t *r, size_t leaf, bounds_t *b)
{
    const pq_schema_elem_t *el = &r->f->meta.schema[r->f->meta.leaves[leaf].schema_index];
    int32_t tl = el->type == PQ_FIXED_LEN_BYTE_ARRAY ? el->type_length : 0;
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < 2; i++)
        if (pq_values_init(&b->raw[i], el->type, tl) || pq_values_init(&b->conv[i], PQ_INT64, 0))
            return URSA_ENOMEM;
    return URSA_OK;
}

static void bounds_free(bounds_t *b)
{
    for (int i = 0; i < 2; i++) pq_values_free(&b->raw[i]), pq_values_free(&b->conv[i]);
}

/* Sets rg's range of leaf from its chunk's statistics. */
static void chunk_range(const pq_reader_t *r, size_t rg, size_t leaf, bounds_t *b, pq_range_t *out)
{
    const pq_col_meta_t *cm = &r->f->meta.row_groups[rg].columns[leaf].meta;
    const pq_stats_t *s = &cm->stats;
    memset(out, 0, sizeof(*out));
    out->values = r->f->meta.row_groups[rg].num_rows;
    out->null_count = s->present ? s->null_count : -1;
    const pq_bytes_t *mn = NULL, *mx = NULL;
    if (!s->present) return;
    if (order_known(r, leaf) && s->min_value.p && s->max_value.p)
        mn = &s->min_value, mx = &s->max_value;
    else if (signed_order_is_type_order(r, leaf) && s->min.p && s->max.p)
        mn = &s->min, mx = &s->max;
    if (mn && (!to_ursa(r, leaf, mn, &b->raw[0], &b->conv[0], &out->min, &out->min_n) ||
               !to_ursa(r, leaf, mx, &b->raw[1], &b->conv[1], &out->max, &out->max_n)))
        out->min = out->max = NULL;
}

/* The PLAIN bytes of a predicate value in leaf's physical type, as a bloom
 * filter hashes them, into buf (16 bytes) or pointing at v: false where
 * that is not exact (floats, whose -0 and +0 hash apart; lossy
 * conversions; decimals as byte arrays, which writers size differently). */
static bool bloom_bytes(const pq_reader_t *r, size_t leaf, const pq_value_t *v, uint8_t *buf, const void **p,
                        size_t *n)
{
    const pq_schema_elem_t *el = &r->f->meta.schema[r->f->meta.leaves[leaf].schema_index];
    const uint8_t *x = v->p;
    int64_t i64;
    switch (r->f->cols[leaf].conv) {
    case CV_NONE:
        if (el->type == PQ_FLOAT || el->type == PQ_DOUBLE || el->type == PQ_BOOLEAN || el->type == PQ_INT96)
            return false;
        *p = v->p, *n = v->n;
        return true;
    case CV_I32_I8:
        i64 = (int8_t)x[0];
        break;
    case CV_I32_U8:
        i64 = x[0];
        break;
    case CV_I32_I16: {
        int16_t s;
        memcpy(&s, x, 2);
        i64 = s;
        break;
    }
    case CV_I32_U16: {
        uint16_t s;
        memcpy(&s, x, 2);
        i64 = s;
        break;
    }
    case CV_INT_DEC:
        if (v->n == 16) { /* the high half must be the low half's sign */
            int64_t hi;
            memcpy(&i64, x, 8), memcpy(&hi, x + 8, 8);
            if (hi != (i64 < 0 ? -1 : 0)) return false;
        } else {
            memcpy(&i64, x, 8);
        }
        if (el->type == PQ_INT64) {
            memcpy(buf, &i64, 8), *p = buf, *n = 8;
            return true;
        }
        break;
    case CV_BE_DEC: {
        if (el->type != PQ_FIXED_LEN_BYTE_ARRAY || el->type_length > 16) return false;
        size_t w = (size_t)el->type_length;
        uint8_t sign = (x[v->n - 1] & 0x80) ? 0xFF : 0; /* little-endian: the top byte last */
        for (size_t i = w; i < v->n; i++)
            if (x[i] != sign) return false; /* does not fit: such a value cannot be in the file */
        if (w < v->n && ((x[w - 1] & 0x80) ? 0xFF : 0) != sign) return false;
        for (size_t i = 0; i < w; i++) buf[i] = i < v->n ? x[w - 1 - i] : sign;
        *p = buf, *n = w;
        return true;
    }
    case CV_FIXED_VAR:
        if (v->n != (size_t)el->type_length) return false;
        *p = v->p, *n = v->n;
        return true;
    default:
        return false;
    }
    if (i64 < INT32_MIN || i64 > INT32_MAX) return false;
    int32_t i32 = (int32_t)i64;
    memcpy(buf, &i32, 4), *p = buf, *n = 4;
    return true;
}

#define BLOOM_MAX ((int64_t)128 << 20) /* a bloom filter above this is not read */

/* Whether leaf's bloom filter in rg may hold one of pred's values (true
 * when there is no usable filter). */
static int bloom_may(pq_reader_t *r, size_t rg, const pq_pred_t *pred, bool *may, ursa_err_t *err)
{
    const pq_col_meta_t *cm = &r->f->meta.row_groups[rg].columns[pred->col].meta;
    const char *name = r->f->meta.leaves[pred->col].dotted;
    uint8_t bufs[64][16];
    const void *vp[64];
    size_t vn[64];
    *may = true;
    if (cm->bloom_filter_offset < 0 || pred->nvals == 0 || pred->nvals > 64) return URSA_OK;
    for (size_t i = 0; i < pred->nvals; i++)
        if (!bloom_bytes(r, pred->col, &pred->vals[i], bufs[i], &vp[i], &vn[i])) return URSA_OK;
    int64_t off = cm->bloom_filter_offset, len = cm->bloom_filter_length;
    uint64_t data_end = r->size - 8;
    if (len < 0) /* the header's length is unknown: up to 64 bytes of it, then the bitset */
        len = (int64_t)(data_end - (uint64_t)off < 64 ? data_end - (uint64_t)off : 64);
    if (!in_data(r, off, len) || len > BLOOM_MAX)
        return ursa_err_set(
            err, URSA_EFORMAT,
            "%s: row group %zu, column %s: bloom filter at %lld of %lld bytes outside the file's data",
            r->key, rg, name, (long long)off, (long long)len);
    ursa_buf_t b = {0}, bits = {0};
    ursa_err_t e = {0};
    pq_bloom_header_t h;
    size_t used;
    int rc = ursa_store_get_range(r->st, r->key, (uint64_t)off, (uint64_t)len, &b, &e);
    if (rc) {
        rc = wrap(err, rc, r->key, "reading a bloom filter: ", &e);
        goto out;
    }
    r->ctr.reads++, r->ctr.bytes_read += b.len;
    if ((rc = pq_bloom_header_decode(b.data, b.len, &h, &used, &e))) {
        char ctx[160];
        snprintf(ctx, sizeof(ctx), "row group %zu, column %s, bloom filter: ", rg, name);
        rc = wrap(err, rc, r->key, ctx, &e);
        goto out;
    }
    if (h.algorithm != 1 || h.hash != 1 || h.compression != 1 || h.num_bytes % 32 != 0)
        goto out; /* unknown: no use */
    const uint8_t *set;
    if (cm->bloom_filter_length >= 0) {
        if ((uint64_t)h.num_bytes > b.len - used) {
            rc = ursa_err_set(err, URSA_EFORMAT,
                              "%s: row group %zu, column %s: a bloom filter of %d bytes in %lld", r->key, rg,
                              name, (int)h.num_bytes, (long long)len);
            goto out;
        }
        set = b.data + used;
    } else {
        if (h.num_bytes > BLOOM_MAX || !in_data(r, off + (int64_t)used, h.num_bytes)) {
            rc = ursa_err_set(err, URSA_EFORMAT,
                              "%s: row group %zu, column %s: a bloom filter of %d bytes past the file's data",
                              r->key, rg, name, (int)h.num_bytes);
            goto out;
        }
        if ((rc = ursa_store_get_range(r->st, r->key, (uint64_t)off + used, (uint64_t)h.num_bytes, &bits,
                                       &e))) {
            rc = wrap(err, rc, r->key, "reading a bloom filter: ", &e);
            goto out;
        }
        r->ctr.reads++, r->ctr.bytes_read += bits.len;
        if (bits.len != (size_t)h.num_bytes) {
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: the file shrank while being read", r->key);
            goto out;
        }
        set = bits.data;
    }
    *may = false;
    for (size_t i = 0; i < pred->nvals && !*may; i++)
        *may = pq_bloom_may_contain(set, (size_t)h.num_bytes, pq_bloom_hash(vp[i], vn[i]));
out:
    ursa_buf_free(&b);
    ursa_buf_free(&bits);
    return rc;
}

static int check_preds(const pq_reader_t *r, const pq_pred_t *preds, size_t n, ursa_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        ursa_err_t e = {0};
        if (preds[i].col >= r->f->meta.nleaves)
            return ursa_err_set(err, URSA_EINVAL, "%s: a predicate on column %zu (the file has %zu)", r->key,
                                preds[i].col, r->f->meta.nleaves);
        const char *name = r->f->meta.leaves[preds[i].col].dotted;
        if (r->f->cols[preds[i].col].why)
            return ursa_err_set(err, URSA_ENOTSUP, "%s: column %s: %s", r->key, name,
                                r->f->cols[preds[i].col].why);
        if (pq_pred_check(&preds[i], &r->f->schema.fields[preds[i].col], &e))
            return ursa_err_set(err, URSA_EINVAL, "%s: predicate on %s: %s", r->key, name, e.msg);
    }
    return URSA_OK;
}

/* Whether rg may match by statistics (*by = 1 when not) and bloom
 * filters (*by = 2). */
static int rg_may_match(pq_reader_t *r, size_t rg, const pq_pred_t *preds, size_t n, bool *may, int *by,
                        ursa_err_t *err)
{
    *may = true, *by = 0;
    for (size_t i = 0; i < n && *may; i++) {
        bounds_t b;
        pq_range_t range;
        if (bounds_init(r, preds[i].col, &b)) {
            bounds_free(&b);
            return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
        }
        chunk_range(r, rg, preds[i].col, &b, &range);
        *may = pq_pred_may_match(&preds[i], &r->f->schema.fields[preds[i].col], &range);
        bounds_free(&b);
        if (!*may) *by = 1;
    }
    for (size_t i = 0; i < n && *may; i++) {
        if (preds[i].op != PQ_OP_EQ && preds[i].op != PQ_OP_IN) continue;
        int rc = bloom_may(r, rg, &preds[i], may, err);
        if (rc) return rc;
        if (!*may) *by = 2;
    }
    return URSA_OK;
}

int pq_reader_chunk_stats(pq_reader_t *r, size_t rg, size_t leaf, bool *has, ursa_buf_t *min, ursa_buf_t *max,
                          int64_t *null_count, ursa_err_t *err)
{
    if (rg >= r->f->meta.nrow_groups || leaf >= r->f->meta.nleaves)
        return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu or column %zu", r->key, rg, leaf);
    bounds_t b;
    pq_range_t range;
    min->len = max->len = 0;
    *null_count = -1;
    *has = false;
    if (r->f->cols[leaf].why) return URSA_OK;
    if (bounds_init(r, leaf, &b)) {
        bounds_free(&b);
        return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
    }
    chunk_range(r, rg, leaf, &b, &range);
    *null_count = range.null_count;
    int rc = URSA_OK;
    if (range.min && range.max &&
        (ursa_buf_append(min, range.min, range.min_n) || ursa_buf_append(max, range.max, range.max_n)))
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
    *has = rc == URSA_OK && range.min && range.max;
    bounds_free(&b);
    return rc;
}

int pq_reader_may_match(pq_reader_t *r, size_t rg, const pq_pred_t *preds, size_t npreds, bool *may,
                        ursa_err_t *err)
{
    int by, rc;
    if (rg >= r->f->meta.nrow_groups)
        return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu (the file has %zu)", r->key, rg,
                            r->f->meta.nrow_groups);
    if ((rc = check_preds(r, preds, npreds, err))) return rc;
    return rg_may_match(r, rg, preds, npreds, may, &by, err);
}

/* Row ranges: sorted, disjoint [start, end) pairs of a row group's rows. */
typedef struct ranges {
    int64_t (*v)[2];
    size_t n, cap;
} ranges_t;

static int ranges_add(ranges_t *rs, int64_t s, int64_t e)
{
    if (rs->n && rs->v[rs->n - 1][1] == s) { /* adjacent: extend */
        rs->v[rs->n - 1][1] = e;
        return URSA_OK;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 8;
        void *v = ursa_realloc(rs->v, cap * sizeof(*rs->v));
        if (!v) return URSA_ENOMEM;
        rs->v = v, rs->cap = cap;
    }
    rs->v[rs->n][0] = s, rs->v[rs->n][1] = e;
    rs->n++;
    return URSA_OK;
}

/* a := a intersected with b. */
static int ranges_and(ranges_t *a, const ranges_t *b)
{
    ranges_t out = {0};
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        int64_t s = a->v[i][0] > b->v[j][0] ? a->v[i][0] : b->v[j][0];
        int64_t e = a->v[i][1] < b->v[j][1] ? a->v[i][1] : b->v[j][1];
        if (s < e && ranges_add(&out, s, e)) {
            ursa_free(out.v);
            return URSA_ENOMEM;
        }
        if (a->v[i][1] < b->v[j][1])
            i++;
        else
            j++;
    }
    ursa_free(a->v);
    *a = out;
    return URSA_OK;
}

/* The page index of one column chunk. */
typedef struct pindex {
    bool has_oi, has_ci;
    pq_offset_index_t oi;
    pq_column_index_t ci;
} pindex_t;

static void pindex_free(pindex_t *x)
{
    pq_offset_index_free(&x->oi);
    pq_column_index_free(&x->ci);
}

#define PAGE_INDEX_MAX ((int64_t)64 << 20) /* a page index above this is not read */

/* Loads the offset index (and, with want_ci, the column index) of the
 * chunks of leaves[0..n) in rg, in one coalesced read; a chunk without
 * them gets has_oi / has_ci false. The offset index is checked against the
 * chunk: pages in order inside it, first rows increasing from 0. */
static int load_page_indexes(pq_reader_t *r, size_t rg, const size_t *leaves, const bool *want_ci, size_t n,
                             pindex_t *px, ursa_err_t *err)
{
    const pq_row_group_t *g = &r->f->meta.row_groups[rg];
    span_t *sp = ursa_calloc(2 * n + 1, sizeof(*sp));
    const uint8_t **data = ursa_calloc(2 * n + 1, sizeof(*data));
    fetched_t f = {0};
    size_t ns = 0;
    int rc = URSA_OK;
    if (!sp || !data) {
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const pq_column_chunk_t *cc = &g->columns[leaves[i]];
        const char *name = r->f->meta.leaves[leaves[i]].dotted;
        int64_t o[2] = {cc->offset_index_offset, want_ci[i] ? cc->column_index_offset : -1};
        int64_t l[2] = {cc->offset_index_length, cc->column_index_length};
        for (int k = 0; k < 2; k++) {
            if (o[k] < 0 || l[k] <= 0) continue; /* none (an empty one is none too) */
            if (!in_data(r, o[k], l[k]) || l[k] > PAGE_INDEX_MAX) {
                rc = ursa_err_set(
                    err, URSA_EFORMAT,
                    "%s: row group %zu, column %s: %s index at %lld of %lld bytes outside the file's data",
                    r->key, rg, name, k ? "column" : "offset", (long long)o[k], (long long)l[k]);
                goto out;
            }
            sp[ns++] = (span_t){(uint64_t)o[k], (uint64_t)(o[k] + l[k]), 2 * i + (size_t)k};
        }
    }
    if ((rc = fetch_spans(r, sp, ns, data, &f, err))) goto out;
    for (size_t i = 0; i < ns; i++) {
        size_t id = sp[i].id, c = id / 2;
        const char *name = r->f->meta.leaves[leaves[c]].dotted;
        ursa_err_t e = {0};
        size_t len = (size_t)(sp[i].end - sp[i].start);
        rc = id % 2 ? pq_column_index_decode(data[id], len, &px[c].ci, &e)
                    : pq_offset_index_decode(data[id], len, &px[c].oi, &e);
        if (rc) {
            char ctx[200];
            snprintf(ctx, sizeof(ctx), "row group %zu, column %s, %s index: ", rg, name,
                     id % 2 ? "column" : "offset");
            rc = wrap(err, rc, r->key, ctx, &e);
            goto out;
        }
        if (id % 2)
            px[c].has_ci = true;
        else
            px[c].has_oi = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!px[i].has_oi) continue;
        const pq_offset_index_t *oi = &px[i].oi;
        uint64_t start, end;
        if ((rc = chunk_bounds(r, rg, leaves[i], &start, &end, err))) goto out;
        const char *why = NULL;
        for (size_t p = 0; p < oi->npages && !why; p++) {
            const pq_page_location_t *pl = &oi->pages[p];
            if (pl->offset < (int64_t)start || pl->compressed_page_size <= 0 ||
                (uint64_t)pl->offset + (uint64_t)pl->compressed_page_size > end)
                why = "a page outside its chunk";
            else if (p && pl->offset < oi->pages[p - 1].offset + oi->pages[p - 1].compressed_page_size)
                why = "pages overlapping or out of order";
            else if (p ? pl->first_row_index <= oi->pages[p - 1].first_row_index : pl->first_row_index != 0)
                why = "first rows not increasing from 0";
            else if (pl->first_row_index >= g->num_rows)
                why = "a first row past the row group";
        }
        if (!why && oi->npages == 0 && g->num_rows > 0) why = "no pages";
        if (!why && px[i].has_ci && px[i].ci.npages != oi->npages)
            why = "a column index of another page count";
        if (why) {
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: row group %zu, column %s, offset index: %s", r->key, rg,
                              r->f->meta.leaves[leaves[i]].dotted, why);
            goto out;
        }
    }
out:
    fetched_free(&f);
    ursa_free(sp);
    ursa_free(data);
    return rc;
}

/* The rows of page p of a chunk by its offset index. */
static void page_rows(const pq_offset_index_t *oi, size_t p, int64_t rows, int64_t *s, int64_t *e)
{
    *s = oi->pages[p].first_row_index;
    *e = p + 1 < oi->npages ? oi->pages[p + 1].first_row_index : rows;
}

/* The rows of rg whose pages of pred's column may match pred by the
 * column index (every row when the chunk has none). */
static int pred_ranges(pq_reader_t *r, size_t rg, const pq_pred_t *pred, const pindex_t *px, ranges_t *out)
{
    int64_t rows = r->f->meta.row_groups[rg].num_rows;
    size_t leaf = pred->col;
    if (!px->has_oi || !px->has_ci || !(order_known(r, leaf) || signed_order_is_type_order(r, leaf)))
        return ranges_add(out, 0, rows);
    bounds_t b;
    int rc = bounds_init(r, leaf, &b);
    for (size_t p = 0; p < px->oi.npages && !rc; p++) {
        pq_range_t range = {0};
        int64_t s, e;
        page_rows(&px->oi, p, rows, &s, &e);
        range.values = e - s;
        range.null_count = px->ci.null_counts ? px->ci.null_counts[p] : -1;
        range.all_null = px->ci.null_pages[p];
        if (!range.all_null &&
            (!to_ursa(r, leaf, &px->ci.min_values[p], &b.raw[0], &b.conv[0], &range.min, &range.min_n) ||
             !to_ursa(r, leaf, &px->ci.max_values[p], &b.raw[1], &b.conv[1], &range.max, &range.max_n)))
            range.min = range.max = NULL;
        if (pq_pred_may_match(pred, &r->f->schema.fields[leaf], &range)) rc = ranges_add(out, s, e);
    }
    bounds_free(&b);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading columns of a row group. */

/* How one column of a row group is read. */
typedef struct colplan {
    size_t leaf;
    uint64_t start, end; /* the chunk */
    piece_t *pieces;
    size_t npieces;
    ranges_t held;          /* the rows the decoded column holds */
    bool whole;             /* the pieces are the whole chunk */
    ursa_column_t col;      /* decoded */
    uint32_t *idx;          /* the candidate rows' indexes into col */
    uint64_t pages;         /* data pages decoded (whole chunks) */
    uint64_t counts[2];     /* data and dictionary pages decoded */
    pcache_t *ce;           /* a slice's cache of the column (NULL: none) */
    bool cached;            /* held begins with the rows of ce (not among the pieces) */
    long last;              /* the last page of the pieces (-1: none) */
    int64_t last_s, last_e; /* its rows */
    int rc;                 /* how decoding went */
    ursa_err_t err;
} colplan_t;

/* Plans cp: the whole chunk, or with an offset index only the pages that
 * hold rows of want (and the bytes before the first page: the dictionary).
 * With cp->ce (a slice), the dictionary is not fetched when ce holds it,
 * nor the first page when ce holds its rows from the slice's first on. */
static int plan_column(pq_reader_t *r, size_t rg, colplan_t *cp, const pindex_t *px, const ranges_t *want,
                       bool all, ursa_err_t *err)
{
    int64_t rows = r->f->meta.row_groups[rg].num_rows;
    int rc = chunk_bounds(r, rg, cp->leaf, &cp->start, &cp->end, err);
    if (rc) return rc;
    size_t np = px && px->has_oi && !all ? px->oi.npages + 1 : 1;
    if (!(cp->pieces = ursa_calloc(np, sizeof(*cp->pieces))))
        return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
    if (np == 1) {
        cp->pieces[0] = (piece_t){NULL, (size_t)(cp->end - cp->start), cp->start, 0};
        cp->npieces = 1;
        return ranges_add(&cp->held, 0, rows) ? ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key)
                                              : URSA_OK;
    }
    const pq_offset_index_t *oi = &px->oi;
    pcache_t *ce = cp->ce;
    bool first = true; /* the first page that holds rows of want */
    cp->last = -1;
    if ((uint64_t)oi->pages[0].offset > cp->start && !(ce && ce->have_dict)) {
        cp->pieces[cp->npieces++] =
            (piece_t){NULL, (size_t)((uint64_t)oi->pages[0].offset - cp->start), cp->start, 0};
    }
    size_t w = 0;
    for (size_t p = 0; p < oi->npages; p++) {
        int64_t s, e;
        page_rows(oi, p, rows, &s, &e);
        while (w < want->n && want->v[w][1] <= s) w++;
        r->ctr.pages++;
        if (w == want->n || want->v[w][0] >= e) {
            r->ctr.pages_skipped++;
            continue;
        }
        if (first && ce && ce->page == (long)p && ce->end == e && ce->first <= want->v[w][0] &&
            want->v[w][0] < e) {
            first = false;
            cp->cached = true;
            r->ctr.pages_reused++;
            if (ranges_add(&cp->held, ce->first, e))
                return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
            continue;
        }
        first = false;
        cp->pieces[cp->npieces++] = (piece_t){NULL, (size_t)oi->pages[p].compressed_page_size,
                                              (uint64_t)oi->pages[p].offset, (long)p};
        cp->last = (long)p, cp->last_s = s, cp->last_e = e;
        if (ranges_add(&cp->held, s, e)) return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
    }
    return URSA_OK;
}

static int64_t ranges_rows(const ranges_t *rs)
{
    int64_t n = 0;
    for (size_t i = 0; i < rs->n; i++) n += rs->v[i][1] - rs->v[i][0];
    return n;
}

/* Decoding the planned columns of a row group, each column on one thread:
 * the calling thread and up to r->threads - 1 more take columns in turn.
 * Every column is decoded even after one failed, and the error reported is
 * that of the first failed column in plan order, so that it does not
 * depend on timing. */
static void read_state_free(pq_reader_t *r)
{
    for (size_t k = 0; k < r->bounds_n; k++) pindex_free(&r->bounds_px[k]);
    ursa_free(r->bounds_px);
    ursa_free(r->bounds_cols);
    fetched_free(&r->chunks);
    pcache_drop(r);
    for (size_t i = 0; i < r->nscratch; i++) scratch_free(&r->scratch[i]);
    ursa_free(r->scratch);
}

typedef struct decoder {
    const pq_reader_t *r;
    size_t rg;
    colplan_t *cp;
    size_t n;
    atomic_size_t next;
} decoder_t;

typedef struct worker {
    decoder_t *d;
    scratch_t *s;
} worker_t;

/* Whether every data page of a chunk may be dictionary-encoded: by its
 * page encoding stats, when the writer left them (else the pages tell). */
static bool dict_pages(const pq_col_meta_t *cm)
{
    for (size_t i = 0; i < cm->nencoding_stats; i++) {
        const pq_enc_stats_t *e = &cm->encoding_stats[i];
        if ((e->page_type == PQ_DATA_PAGE || e->page_type == PQ_DATA_PAGE_V2) && e->count > 0 &&
            e->encoding != PQV_E_RLE_DICTIONARY && e->encoding != PQV_E_PLAIN_DICTIONARY)
            return false;
    }
    return true;
}

static void *decode_worker(void *arg)
{
    const worker_t *w = arg;
    decoder_t *d = w->d;
    for (size_t k; (k = atomic_fetch_add(&d->next, 1)) < d->n;) {
        colplan_t *c = &d->cp[k];
        if (c->end == 0) continue; /* the empty chunk of an empty row group */
        chunk_ctx_t ctx = {d->r,
                           d->rg,
                           c->leaf,
                           c->pieces,
                           c->npieces,
                           c->whole,
                           ranges_rows(&c->held),
                           &c->pages,
                           w->s,
                           c->ce,
                           c->counts,
                           c->ce && !c->ce->plain && d->r->codes && d->r->f->cols[c->leaf].conv == CV_NONE &&
                               (d->r->codes == PQ_CODES_PAGES ||
                                dict_pages(&d->r->f->meta.row_groups[d->rg].columns[c->leaf].meta))};
        c->rc = read_chunk(&ctx, &c->col, &c->err);
    }
    return NULL;
}

static int decode_all(pq_reader_t *r, size_t rg, colplan_t *cp, size_t n, ursa_err_t *err)
{
    decoder_t d = {r, rg, cp, n, 0};
    pthread_t th[PQ_READ_THREADS_MAX];
    worker_t w[PQ_READ_THREADS_MAX];
    size_t started = 0, want = (size_t)r->threads < n ? (size_t)r->threads : n;
    if (want == 0) want = 1;
    if (want > r->nscratch) {
        scratch_t *s = ursa_realloc(r->scratch, want * sizeof(*s));
        if (!s) return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
        memset(s + r->nscratch, 0, (want - r->nscratch) * sizeof(*s));
        r->scratch = s, r->nscratch = want;
    }
    atomic_init(&d.next, 0);
    for (size_t i = 0; i < want; i++) w[i] = (worker_t){&d, &r->scratch[i]};
    while (started + 1 < want && pthread_create(&th[started], NULL, decode_worker, &w[started + 1]) == 0)
        started++;
    decode_worker(
        &w[0]); /* fewer threads than asked when one cannot start: the work gets done all the same */
    for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
    for (size_t k = 0; k < n; k++) {
        r->ctr.pages += cp[k].pages;
        r->ctr.pages_decoded += cp[k].counts[0];
        r->ctr.dicts_decoded += cp[k].counts[1];
    }
    for (size_t k = 0; k < n; k++)
        if (cp[k].rc) {
            if (err) *err = cp[k].err;
            return cp[k].rc;
        }
    return URSA_OK;
}

/* The index in c's decoded column of each of the m rows of want (which c's
 * held rows include), into idx[0..m). */
static void held_index(const colplan_t *c, const ranges_t *want, uint32_t *idx)
{
    size_t h = 0, i = 0;
    int64_t base = 0; /* the index in the column of held[h]'s first row */
    for (size_t w = 0; w < want->n; w++)
        for (int64_t row = want->v[w][0]; row < want->v[w][1]; row++) {
            while (c->held.v[h][1] <= row) base += c->held.v[h][1] - c->held.v[h][0], h++;
            idx[i++] = (uint32_t)(base + row - c->held.v[h][0]);
        }
}

/* The rows of rg that may match every pred, into *want (empty): *may
 * false when the row group's statistics or bloom filters rule it out (then
 * counted), else the rows every predicate's column index allows (the page
 * indexes of need[0..nneed), which holds every predicate's column, loaded
 * into px -- the column index too where want_ci[k] is set or the column is
 * a predicate's -- when a predicate's column has them). */
static int match_rows(pq_reader_t *r, size_t rg, const pq_pred_t *preds, size_t npreds, const size_t *need,
                      size_t nneed, pindex_t *px, bool *want_ci, bool *may, ranges_t *want, ursa_err_t *err)
{
    const pq_row_group_t *g = &r->f->meta.row_groups[rg];
    int by, rc;
    if ((rc = rg_may_match(r, rg, preds, npreds, may, &by, err))) return rc;
    if (!*may) {
        if (by == 1)
            r->ctr.row_groups_by_stats++;
        else
            r->ctr.row_groups_by_bloom++;
        return URSA_OK;
    }
    bool any = false;
    for (size_t k = 0; k < nneed; k++)
        for (size_t i = 0; i < npreds; i++) want_ci[k] |= preds[i].col == need[k];
    for (size_t i = 0; i < npreds; i++)
        any = any || (g->columns[preds[i].col].column_index_offset >= 0 &&
                      g->columns[preds[i].col].offset_index_offset >= 0);
    if (any && (rc = load_page_indexes(r, rg, need, want_ci, nneed, px, err))) return rc;
    if (ranges_add(want, 0, g->num_rows)) return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
    for (size_t i = 0; i < npreds; i++) {
        size_t k = 0;
        while (need[k] != preds[i].col) k++;
        ranges_t pr = {0};
        rc = pred_ranges(r, rg, &preds[i], &px[k], &pr);
        if (!rc) rc = ranges_and(want, &pr);
        ursa_free(pr.v);
        if (rc) return ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
    }
    return URSA_OK;
}

/* Reads leaves cols[0..ncols) of rg into out: the rows that match every
 * pred (npreds > 0), or rows [first, first + count) (count >= 0, no preds),
 * or all of them. reuse: out holds the columns of an earlier read of the
 * same cols (pq_reader_read_rows_into), whose buffers are decoded into
 * again. */
static int read_rows(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, const pq_pred_t *preds,
                     size_t npreds, int64_t first, int64_t count, bool reuse, ursa_batch_t *out,
                     ursa_err_t *err)
{
    const pq_row_group_t *g = &r->f->meta.row_groups[rg];
    int64_t rows = g->num_rows;
    size_t nneed = 0, ns = 0, nspans = 0;
    size_t *need = NULL, *outmap = NULL; /* need: leaves to decode; outmap: out column -> need */
    colplan_t *cp = NULL;
    pindex_t *px = NULL;
    bool *want_ci = NULL;
    span_t *sp = NULL;
    const uint8_t **data = NULL;
    ranges_t want = {0};
    uint8_t *keep = NULL;
    uint32_t *sel = NULL, *loc = NULL, *tail = NULL;
    bool slice = false; /* a slice of rows, through the slices' cache */
    int rc;
    ursa_column_t *donor = reuse ? out->cols : NULL; /* buffers to decode into */
    size_t ndonor = reuse && out->cols ? out->ncols : 0;
    memset(out, 0, sizeof(*out));
    if (!cols) ncols = r->f->meta.nleaves;
    size_t cap = ncols + npreds + 1;
    need = ursa_calloc(cap, sizeof(*need));
    outmap = ursa_calloc(ncols + 1, sizeof(*outmap));
    out->cols = ursa_calloc(ncols ? ncols : 1, sizeof(ursa_column_t));
    if (!need || !outmap || !out->cols) goto nomem;
    for (size_t i = 0; i < ncols + npreds; i++) {
        size_t leaf = i < ncols ? (cols ? cols[i] : i) : preds[i - ncols].col;
        if (leaf >= r->f->meta.nleaves) {
            rc = ursa_err_set(err, URSA_EINVAL, "%s: no column %zu (the file has %zu)", r->key, leaf,
                              r->f->meta.nleaves);
            goto out;
        }
        size_t k = 0;
        while (k < nneed && need[k] != leaf) k++;
        if (k == nneed) need[nneed++] = leaf;
        if (i < ncols) {
            outmap[i] = k;
            ursa_column_init_field(&out->cols[i], &r->f->schema.fields[leaf]);
            out->ncols = i + 1;
        }
    }
    if (g->num_rows > r->lim.rows) {
        rc = ursa_err_set(err, URSA_EFORMAT, "%s: row group %zu: %lld rows, more than the limit of %lld",
                          r->key, rg, (long long)g->num_rows, (long long)r->lim.rows);
        goto out;
    }
    if (r->pc && r->pc_rg != rg) pcache_drop(r);
    cp = ursa_calloc(nneed ? nneed : 1, sizeof(*cp));
    px = ursa_calloc(nneed ? nneed : 1, sizeof(*px));
    want_ci = ursa_calloc(nneed ? nneed : 1, sizeof(*want_ci));
    if (!cp || !px || !want_ci) goto nomem;
    for (size_t k = 0; k < nneed; k++) {
        cp[k].leaf = need[k];
        ursa_column_init_field(&cp[k].col, &r->f->schema.fields[need[k]]);
        uint64_t s, e;
        if ((rc = chunk_bounds(r, rg, need[k], &s, &e, err))) goto out;
    }
    /* An earlier read's columns, emptied, take the decoded values (their
     * buffers keep their room: no fresh memory for the kernel to zero). */
    for (size_t i = 0; i < ndonor && i < ncols; i++) {
        colplan_t *c = &cp[outmap[i]];
        bool codes = r->codes && donor[i].type == URSA_TYPE_UINT32 && c->col.type == URSA_TYPE_STRING;
        if (c->col.values.data || c->col.offsets.data || c->col.validity.data ||
            (!codes && (donor[i].type != c->col.type || donor[i].width != c->col.width)))
            continue;
        c->col = donor[i];
        memset(&donor[i], 0, sizeof(donor[i]));
        /* Emptied, its room kept (what ursa_column_truncate(.., 0) does,
         * without its walk over the rows). */
        c->col.length = c->col.null_count = 0;
        c->col.validity.len = c->col.values.len = c->col.data.len = 0;
        c->col.offsets.len = c->col.offsets.len ? 8 : 0; /* the leading 0 stays */
    }
    r->ctr.row_groups++;
    if (npreds) {
        bool may;
        if ((rc = match_rows(r, rg, preds, npreds, need, nneed, px, want_ci, &may, &want, err))) goto out;
        if (!may) goto out;
    } else if (count >= 0 && !(first == 0 && count == rows)) {
        /* A slice: the pages that hold it, by each column's offset index
         * (a column without one is read whole). */
        bool any = false;
        for (size_t k = 0; k < nneed; k++) any = any || g->columns[need[k]].offset_index_offset >= 0;
        if (any && (rc = load_page_indexes(r, rg, need, want_ci, nneed, px, err))) goto out;
        if (count > 0 && ranges_add(&want, first, first + count)) goto nomem;
        if (any && !r->pc) {
            if (!(r->pc = ursa_calloc(r->f->meta.nleaves, sizeof(*r->pc)))) goto nomem;
            for (size_t i = 0; i < r->f->meta.nleaves; i++) r->pc[i].page = -1;
            r->pc_rg = rg;
        }
        slice = any;
        for (size_t k = 0; slice && k < nneed; k++)
            if (px[k].has_oi) cp[k].ce = &r->pc[need[k]];
    } else if (ranges_add(&want, 0, rows)) {
        goto nomem;
    }
    bool all = want.n == 1 && want.v[0][0] == 0 && want.v[0][1] == rows;
    int64_t m = ranges_rows(&want);
    if (m == 0 && rows > 0) { /* the page index leaves nothing */
        for (size_t k = 0; k < nneed; k++)
            if (px[k].has_oi) r->ctr.pages += px[k].oi.npages, r->ctr.pages_skipped += px[k].oi.npages;
        rc = URSA_OK;
        goto out;
    }
    r->ctr.rows_decoded += (uint64_t)m;
    /* Plan and fetch every piece. */
    for (size_t k = 0; k < nneed; k++) nspans += px[k].has_oi && !all ? px[k].oi.npages + 1 : 1;
    sp = ursa_calloc(nspans ? nspans : 1, sizeof(*sp));
    data = ursa_calloc(nspans ? nspans : 1, sizeof(*data));
    if (!sp || !data) goto nomem;
    for (size_t k = 0; k < nneed; k++) {
        if ((rc = plan_column(r, rg, &cp[k], &px[k], &want, all, err))) goto out;
        for (size_t j = 0; j < cp[k].npieces && cp[k].end != 0; j++, ns++)
            sp[ns] = (span_t){cp[k].pieces[j].off, cp[k].pieces[j].off + cp[k].pieces[j].len, ns};
    }
    if ((rc = fetch_spans(r, sp, ns, data, &r->chunks, err))) goto out;
    ns = 0; /* data[] is in the order the spans were made */
    for (size_t k = 0; k < nneed; k++)
        for (size_t j = 0; j < cp[k].npieces && cp[k].end != 0; j++) cp[k].pieces[j].p = data[ns++];
    for (size_t k = 0; k < nneed; k++) {
        cp[k].whole = all || !px[k].has_oi;
        if (cp[k].cached) { /* the kept rows begin the column; the pages decoded are appended */
            ursa_column_free(&cp[k].col);
            cp[k].col = cp[k].ce->col;
            memset(&cp[k].ce->col, 0, sizeof(cp[k].ce->col));
        }
    }
    if ((rc = decode_all(r, rg, cp, nneed, err))) goto out;
    /* Which rows to keep: every one without predicates; else, among the
     * candidates (the rows of want), those that match. sel holds the kept
     * candidates' numbers; cp[k].idx maps a candidate to its index in
     * column k (which may hold more rows: whole pages, whole chunks). */
    size_t kept = (size_t)m;
    bool identity = npreds == 0 && all; /* every row of every column, as decoded */
    if (npreds) {
        sel = ursa_malloc(((size_t)m + 1) * sizeof(*sel));
        if (!sel) goto nomem;
        if (!(keep = ursa_malloc((size_t)m + 1))) goto nomem;
        memset(keep, 1, (size_t)m);
        for (size_t k = 0; k < nneed; k++) {
            if (!(cp[k].idx = ursa_malloc(((size_t)m + 1) * sizeof(uint32_t)))) goto nomem;
            held_index(&cp[k], &want, cp[k].idx);
        }
        for (size_t i = 0; i < npreds; i++) {
            size_t k = 0;
            while (need[k] != preds[i].col) k++;
            pq_pred_filter(&preds[i], &cp[k].col, cp[k].idx, (size_t)m, keep);
        }
        kept = 0;
        for (int64_t i = 0; i < m; i++)
            if (keep[i]) sel[kept++] = (uint32_t)i;
    }
    for (size_t i = 0; i < ncols; i++) {
        colplan_t *c = &cp[outmap[i]];
        bool last = true; /* the last output column of this leaf may take the decoded column over */
        for (size_t j = i + 1; j < ncols; j++) last = last && outmap[j] != outmap[i];
        if (last && kept == c->col.length) { /* every row it holds: no copy */
            ursa_column_t t = out->cols[i];
            out->cols[i] = c->col;
            c->col = t;
            continue;
        }
        /* A copy: a leaf projected twice, or some rows only (a slice
         * that does not begin and end on the column's page bounds). */
        if (!loc && !(loc = ursa_malloc(((size_t)m + 1) * sizeof(*loc)))) goto nomem;
        if (npreds)
            for (size_t j = 0; j < kept; j++) loc[j] = c->idx[sel[j]];
        else if (identity)
            for (size_t j = 0; j < kept; j++) loc[j] = (uint32_t)j;
        else
            held_index(c, &want, loc);
        if (out->cols[i].type != c->col.type) { /* codes */
            ursa_column_free(&out->cols[i]);
            ursa_column_init(&out->cols[i], c->col.type);
        }
        if ((rc = ursa_column_take(&out->cols[i], &c->col, loc, kept))) goto nomem;
    }
    /* The slices' cache: a column keeps the rows after the slice's end when
     * the slice ended inside a page, as long as that page's rows last. */
    for (size_t k = 0; slice && k < nneed; k++) {
        colplan_t *c = &cp[k];
        pcache_t *ce = c->ce;
        int64_t end = first + count;
        if (!ce) continue;
        if (c->last < 0 && c->cached && end < ce->end) { /* only kept rows were read: they stay */
            ce->col = c->col;
            memset(&c->col, 0, sizeof(c->col));
            continue;
        }
        ursa_column_free(&ce->col);
        ce->page = -1;
        if (c->last < 0 || end >= c->last_e) continue;
        /* The last page decoded is at the end of the column. */
        size_t nt = (size_t)(c->last_e - end), base = c->col.length - nt;
        uint32_t *t = ursa_realloc(tail, nt * sizeof(*tail));
        if (!t) goto nomem;
        tail = t;
        for (size_t j = 0; j < nt; j++) tail[j] = (uint32_t)(base + j);
        if (c->col.type == URSA_TYPE_UINT32 && r->f->schema.fields[c->leaf].type == URSA_TYPE_STRING)
            ursa_column_init(&ce->col, URSA_TYPE_UINT32); /* codes */
        else
            ursa_column_init_field(&ce->col, &r->f->schema.fields[c->leaf]);
        if ((rc = ursa_column_take(&ce->col, &c->col, tail, nt))) goto nomem;
        ce->page = c->last, ce->first = end, ce->end = c->last_e;
    }
    out->nrows = kept;
    rc = URSA_OK;
    goto out;
nomem:
    rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
out:
    for (size_t k = 0; cp && k < nneed; k++) {
        ursa_free(cp[k].pieces);
        ursa_free(cp[k].held.v);
        ursa_column_free(&cp[k].col);
        ursa_free(cp[k].idx);
    }
    for (size_t k = 0; px && k < nneed; k++) pindex_free(&px[k]);
    ursa_free(cp);
    ursa_free(px);
    ursa_free(want_ci);
    ursa_free(sp);
    ursa_free(data);
    ursa_free(want.v);
    ursa_free(keep);
    ursa_free(sel);
    ursa_free(loc);
    ursa_free(tail);
    ursa_free(need);
    ursa_free(outmap);
    if (rc) pcache_drop(r);
    for (size_t i = 0; i < ndonor; i++) ursa_column_free(&donor[i]);
    ursa_free(donor);
    if (rc) ursa_batch_free(out);
    return rc;
}

int pq_reader_read(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, ursa_batch_t *out,
                   ursa_err_t *err)
{
    return pq_reader_read_where(r, rg, cols, ncols, NULL, 0, out, err);
}

int pq_reader_read_where(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, const pq_pred_t *preds,
                         size_t npreds, ursa_batch_t *out, ursa_err_t *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (rg >= r->f->meta.nrow_groups)
        return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu (the file has %zu)", r->key, rg,
                            r->f->meta.nrow_groups);
    if ((rc = check_preds(r, preds, npreds, err))) return rc;
    return read_rows(r, rg, cols, ncols, preds, npreds, 0, -1, false, out, err);
}

int pq_reader_match_ranges(pq_reader_t *r, size_t rg, const pq_pred_t *preds, size_t npreds,
                           int64_t (**ranges)[2], size_t *nranges, ursa_err_t *err)
{
    *ranges = NULL, *nranges = 0;
    if (rg >= r->f->meta.nrow_groups)
        return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu (the file has %zu)", r->key, rg,
                            r->f->meta.nrow_groups);
    int rc = check_preds(r, preds, npreds, err);
    if (rc) return rc;
    size_t *need = ursa_calloc(npreds + 1, sizeof(*need)), nneed = 0;
    pindex_t *px = ursa_calloc(npreds + 1, sizeof(*px));
    bool *want_ci = ursa_calloc(npreds + 1, sizeof(*want_ci)), may = true;
    ranges_t want = {0};
    if (!need || !px || !want_ci) {
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
        goto out;
    }
    for (size_t i = 0; i < npreds; i++) {
        size_t k = 0;
        while (k < nneed && need[k] != preds[i].col) k++;
        if (k == nneed) need[nneed++] = preds[i].col;
    }
    r->ctr.row_groups++;
    if (npreds == 0) {
        rc = ranges_add(&want, 0, r->f->meta.row_groups[rg].num_rows)
                 ? ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key)
                 : URSA_OK;
    } else {
        rc = match_rows(r, rg, preds, npreds, need, nneed, px, want_ci, &may, &want, err);
    }
    /* The pages of the predicates' columns, and those left out. */
    for (size_t k = 0; rc == URSA_OK && may && k < nneed; k++) {
        if (!px[k].has_oi) continue;
        size_t w = 0;
        for (size_t p = 0; p < px[k].oi.npages; p++) {
            int64_t s, e;
            page_rows(&px[k].oi, p, r->f->meta.row_groups[rg].num_rows, &s, &e);
            while (w < want.n && want.v[w][1] <= s) w++;
            r->ctr.pages++;
            if (w == want.n || want.v[w][0] >= e) r->ctr.pages_skipped++;
        }
    }
    if (rc == URSA_OK && may) *ranges = want.v, *nranges = want.n, want.v = NULL;
out:
    for (size_t k = 0; px && k < nneed; k++) pindex_free(&px[k]);
    ursa_free(px), ursa_free(need), ursa_free(want_ci), ursa_free(want.v);
    return rc;
}

static int read_slice(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t first,
                      int64_t count, bool reuse, ursa_batch_t *out, ursa_err_t *err)
{
    int64_t rows = rg < r->f->meta.nrow_groups ? r->f->meta.row_groups[rg].num_rows : 0;
    if (rg >= r->f->meta.nrow_groups || first < 0 || count < 0 || first > rows || count > rows - first) {
        if (reuse) ursa_batch_free(out);
        memset(out, 0, sizeof(*out));
        if (rg >= r->f->meta.nrow_groups)
            return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu (the file has %zu)", r->key, rg,
                                r->f->meta.nrow_groups);
        return ursa_err_set(err, URSA_EINVAL, "%s: row group %zu: rows %lld..%lld are not among its %lld",
                            r->key, rg, (long long)first, (long long)(first + count), (long long)rows);
    }
    return read_rows(r, rg, cols, ncols, NULL, 0, first, count, reuse, out, err);
}

int pq_reader_read_rows(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t first,
                        int64_t count, ursa_batch_t *out, ursa_err_t *err)
{
    return read_slice(r, rg, cols, ncols, first, count, false, out, err);
}

int pq_reader_read_rows_into(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t first,
                             int64_t count, ursa_batch_t *out, ursa_err_t *err)
{
    return read_slice(r, rg, cols, ncols, first, count, true, out, err);
}

int pq_reader_page_bound(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, int64_t lo, int64_t hi,
                         int64_t *end, ursa_err_t *err)
{
    *end = hi;
    if (rg >= r->f->meta.nrow_groups)
        return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu (the file has %zu)", r->key, rg,
                            r->f->meta.nrow_groups);
    int64_t rows = r->f->meta.row_groups[rg].num_rows;
    if (lo < 0 || lo > hi || hi > rows)
        return ursa_err_set(err, URSA_EINVAL, "%s: row group %zu: rows %lld..%lld are not among its %lld",
                            r->key, rg, (long long)lo, (long long)hi, (long long)rows);
    if (!cols) ncols = r->f->meta.nleaves;
    if (ncols == 0 || hi == rows) return URSA_OK;
    for (size_t i = 0; i < ncols; i++) {
        size_t leaf = cols ? cols[i] : i;
        if (leaf >= r->f->meta.nleaves)
            return ursa_err_set(err, URSA_EINVAL, "%s: no column %zu (the file has %zu)", r->key, leaf,
                                r->f->meta.nleaves);
        if (r->f->meta.row_groups[rg].columns[leaf].offset_index_offset < 0) return URSA_OK;
    }
    /* The offset indexes of the columns, kept for the next call on rg. */
    bool same = r->bounds_px && r->bounds_rg == rg && r->bounds_n == ncols;
    for (size_t i = 0; same && i < ncols; i++) same = r->bounds_cols[i] == (cols ? cols[i] : i);
    if (!same) {
        for (size_t k = 0; k < r->bounds_n; k++) pindex_free(&r->bounds_px[k]);
        ursa_free(r->bounds_px);
        ursa_free(r->bounds_cols);
        r->bounds_px = NULL, r->bounds_cols = NULL, r->bounds_n = 0;
        pindex_t *px = ursa_calloc(ncols, sizeof(*px));
        size_t *lv = ursa_calloc(ncols, sizeof(*lv));
        bool *no_ci = ursa_calloc(ncols, sizeof(*no_ci));
        int rc = !px || !lv || !no_ci ? ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key) : URSA_OK;
        for (size_t i = 0; rc == URSA_OK && i < ncols; i++) lv[i] = cols ? cols[i] : i;
        if (rc == URSA_OK) rc = load_page_indexes(r, rg, lv, no_ci, ncols, px, err);
        ursa_free(no_ci);
        if (rc) {
            for (size_t k = 0; px && k < ncols; k++) pindex_free(&px[k]);
            ursa_free(px);
            ursa_free(lv);
            return rc;
        }
        r->bounds_px = px, r->bounds_cols = lv, r->bounds_n = ncols, r->bounds_rg = rg;
    }
    /* The greatest first row of a page of the first column in [lo, hi]
     * that is a first row in every other column too. */
    const pindex_t *px = r->bounds_px;
    for (size_t i = 0; i < ncols; i++)
        if (!px[i].has_oi) return URSA_OK;
    const pq_offset_index_t *oi0 = &px[0].oi;
    for (size_t p = oi0->npages; p-- > 0;) {
        int64_t row = oi0->pages[p].first_row_index;
        if (row > hi) continue;
        if (row < lo) break;
        bool common = true;
        for (size_t i = 1; i < ncols && common; i++) {
            const pq_offset_index_t *oi = &px[i].oi;
            size_t a = 0, b = oi->npages; /* binary search for row */
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (oi->pages[mid].first_row_index < row)
                    a = mid + 1;
                else
                    b = mid;
            }
            common = a < oi->npages && oi->pages[a].first_row_index == row;
        }
        if (common) {
            *end = row;
            return URSA_OK;
        }
    }
    return URSA_OK;
}

void pq_reader_get_counters(const pq_reader_t *r, pq_reader_counters_t *c)
{
    *c = r->ctr;
}
