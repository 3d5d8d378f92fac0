/*
 * pq_read.c -- reading Parquet files: first a footer's row count with a
 * Thrift compact skipper (for listings), then the reader of whole files
 * (pq_reader_*, its design comment below).
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
 * The reader of whole files.
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

struct pq_reader {
    ursa_store_t *st;
    char *key;
    uint64_t size;
    pq_footer_t *f;
    pq_reader_limits_t lim;
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

void pq_reader_destroy(pq_reader_t **rp)
{
    pq_reader_t *r = *rp;
    if (!r) return;
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

/* One column chunk being read. */
typedef struct chunk_ctx {
    const pq_reader_t *r;
    size_t rg, leaf;
    const uint8_t *p;
    size_t len;
    uint64_t off; /* the chunk's offset in the file */
} chunk_ctx_t;

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

/* Decodes every page of a chunk into col. */
static int read_chunk(const chunk_ctx_t *c, ursa_column_t *col, ursa_err_t *err)
{
    const pq_reader_t *r = c->r;
    const pq_col_meta_t *cm = &r->f->meta.row_groups[c->rg].columns[c->leaf].meta;
    const pq_leaf_t *leaf = &r->f->meta.leaves[c->leaf];
    const pq_schema_elem_t *el = &r->f->meta.schema[leaf->schema_index];
    int64_t rows = r->f->meta.row_groups[c->rg].num_rows;
    int cv = r->f->cols[c->leaf].conv;
    uint32_t max_def = (uint32_t)leaf->max_def;
    ursa_err_t e = {0};
    pq_values_t dict = {0}, vals = {0}, conv = {0};
    pq_page_header_t h;
    ursa_buf_t ub = {0}, defb = {0};
    bool have_dict = false;
    int rc;
    size_t pos = 0;
    long page = 0;
    int64_t seen = 0;
    int32_t tl = cm->type == PQ_FIXED_LEN_BYTE_ARRAY ? el->type_length : 0;
    memset(&h, 0, sizeof(h));
    if ((rc = pq_values_init(&dict, cm->type, tl)) || (rc = pq_values_init(&vals, cm->type, tl)) ||
        (rc = pq_values_init(&conv, PQ_INT64, 0))) {
        ursa_err_set(&e, rc, "cannot hold values of physical type %d (type_length %d)", cm->type, (int)tl);
        rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, -1, &e);
        goto out;
    }
    dict.max_data = vals.max_data = (size_t)r->lim.data_bytes;
    while (seen < cm->num_values && pos < c->len) {
        size_t used;
        pq_page_header_free(&h);
        if ((rc = pq_page_header_decode(c->p + pos, c->len - pos, &h, &used, &e))) {
            ursa_err_t e2;
            ursa_err_set(&e2, rc, "header at byte %llu of the file: %s", (unsigned long long)(c->off + pos),
                         e.msg);
            rc = chunk_err(err, rc, c, page, &e2);
            goto out;
        }
        const uint8_t *body = c->p + pos + used;
        size_t csize = (size_t)h.compressed_page_size, usize = (size_t)h.uncompressed_page_size;
        if (h.compressed_page_size < 0 || csize > c->len - pos - used) {
            ursa_err_set(&e, URSA_EFORMAT, "compressed size %d past the chunk's end (%zu bytes left)",
                         (int)h.compressed_page_size, c->len - pos - used);
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
            ub.len = 0;
            rc = pq_decompress(cm->codec, body + lvl, csize - lvl, ulen, &ub);
            if (rc) {
                ursa_err_set(&e, rc, "decompression (codec %d, %zu bytes to %zu) failed", cm->codec,
                             csize - lvl, ulen);
                rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                goto out;
            }
            u = ub.data;
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
            if (h.dict.num_values < 0 ||
                (rc = pq_decode_dictionary(&dict, h.dict.encoding, u, ulen, (size_t)h.dict.num_values, &e))) {
                if (h.dict.num_values < 0) ursa_err_set(&e, URSA_EFORMAT, "negative num_values");
                rc = chunk_err(err, rc ? rc : URSA_EFORMAT, c, page, &e);
                goto out;
            }
            have_dict = true;
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
            defb.len = 0;
            if (ursa_buf_reserve(&defb, n * 4 + 4)) {
                rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
                goto out;
            }
            def = (uint32_t *)(void *)defb.data;
            if (h.type == PQ_DATA_PAGE) {
                pq_levels_kind_t kind =
                    h.v1.def_encoding == PQV_E_BIT_PACKED ? PQ_LEVELS_BIT_PACKED_V1 : PQ_LEVELS_RLE_V1;
                rc = pq_decode_levels(kind, u, ulen, max_def, def, n, &vused, &e);
            } else {
                size_t dl = (size_t)h.v2.def_levels_byte_length, dused;
                rc = pq_decode_levels(PQ_LEVELS_RLE_V2, body + h.v2.rep_levels_byte_length, dl, max_def, def,
                                      n, &dused, &e);
            }
            if (rc) {
                rc = chunk_err(err, rc, c, page, &e);
                goto out;
            }
            k = pq_levels_count(def, n, max_def);
        }
        pq_values_clear(&vals);
        if (cv == CV_NULL) {
            if ((rc = ursa_column_append_nulls(col, n))) {
                rc = ursa_err_set(err, rc, "%s: out of memory", r->key);
                goto out;
            }
        } else {
            if ((rc = pq_decode_values(&vals, enc, have_dict ? &dict : NULL, u + vused, ulen - vused, k, NULL,
                                       &e))) {
                rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                goto out;
            }
            const pq_values_t *src = &vals;
            if (cv != CV_NONE) {
                if ((rc = convert(cv, &vals, col->width, &conv, &e))) {
                    rc = chunk_err(err, rc, c, page, &e);
                    goto out;
                }
                src = &conv;
            }
            size_t next = 0;
            if ((rc = pq_column_append(col, def, max_def, n, src, &next, &e))) {
                rc = chunk_err(err, rc == URSA_EINVAL ? URSA_EFORMAT : rc, c, page, &e);
                goto out;
            }
        }
        seen += nv;
        page++;
    }
    if ((int64_t)col->length != rows) {
        ursa_err_set(&e, URSA_EFORMAT, "%zu values in the chunk's pages, %lld rows in the row group",
                     col->length, (long long)rows);
        rc = chunk_err(err, URSA_EFORMAT, c, -1, &e);
        goto out;
    }
    rc = URSA_OK;
out:
    pq_page_header_free(&h);
    pq_values_free(&dict);
    pq_values_free(&vals);
    pq_values_free(&conv);
    ursa_buf_free(&ub);
    ursa_buf_free(&defb);
    return rc;
}

typedef struct span {
    uint64_t start, end; /* a chunk's bytes in the file */
    size_t col;          /* index into the projection */
    size_t buf;          /* which read holds them */
} span_t;

static int span_cmp(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int pq_reader_read(pq_reader_t *r, size_t rg, const size_t *cols, size_t ncols, ursa_batch_t *out,
                   ursa_err_t *err)
{
    ursa_err_t e = {0};
    span_t *sp = NULL;
    ursa_buf_t *bufs = NULL;
    uint64_t *bstart = NULL;
    size_t nbufs = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    if (rg >= r->f->meta.nrow_groups)
        return ursa_err_set(err, URSA_EINVAL, "%s: no row group %zu (the file has %zu)", r->key, rg,
                            r->f->meta.nrow_groups);
    if (!cols) ncols = r->f->meta.nleaves;
    const pq_row_group_t *g = &r->f->meta.row_groups[rg];
    /* The data of the file: after the leading magic, before the footer. */
    uint64_t data_end = r->size - 8;
    sp = ursa_calloc(ncols ? ncols : 1, sizeof(*sp));
    out->cols = ursa_calloc(ncols ? ncols : 1, sizeof(ursa_column_t));
    bufs = ursa_calloc(ncols ? ncols : 1, sizeof(*bufs));
    bstart = ursa_calloc(ncols ? ncols : 1, sizeof(*bstart));
    if (!sp || !out->cols || !bufs || !bstart) {
        rc = ursa_err_set(err, URSA_ENOMEM, "%s: out of memory", r->key);
        goto out;
    }
    for (size_t i = 0; i < ncols; i++) {
        size_t leaf = cols ? cols[i] : i;
        if (leaf >= r->f->meta.nleaves) {
            rc = ursa_err_set(err, URSA_EINVAL, "%s: no column %zu (the file has %zu)", r->key, leaf,
                              r->f->meta.nleaves);
            goto out;
        }
        ursa_column_init_field(&out->cols[i], &r->f->schema.fields[leaf]);
        out->ncols = i + 1;
        const char *name = r->f->meta.leaves[leaf].dotted;
        if (r->f->cols[leaf].why) {
            rc = ursa_err_set(err, URSA_ENOTSUP, "%s: column %s: %s", r->key, name, r->f->cols[leaf].why);
            goto out;
        }
        const pq_column_chunk_t *cc = &g->columns[leaf];
        if (!cc->has_meta_data || cc->encrypted) {
            rc = ursa_err_set(err, URSA_ENOTSUP, "%s: row group %zu, column %s: encrypted", r->key, rg, name);
            goto out;
        }
        if (cc->file_path) {
            rc = ursa_err_set(err, URSA_ENOTSUP,
                              "%s: row group %zu, column %s: its data is in another file (%s)", r->key, rg,
                              name, cc->file_path);
            goto out;
        }
        if (!pq_codec_readable(cc->meta.codec)) {
            rc = ursa_err_set(err, URSA_ENOTSUP, "%s: row group %zu, column %s: codec %d is not supported",
                              r->key, rg, name, cc->meta.codec);
            goto out;
        }
        if (g->num_rows == 0 && cc->meta.num_values == 0) { /* nothing to read (offsets may be 0) */
            sp[i] = (span_t){0, 0, i, SIZE_MAX};
            continue;
        }
        int64_t start = cc->meta.data_page_offset, dpo = cc->meta.dictionary_page_offset;
        if (dpo >= 4 && (dpo < start || start < 4)) start = dpo;
        int64_t len = cc->meta.total_compressed_size;
        if (start < 4 || len < 0 || (uint64_t)start > data_end ||
            (uint64_t)len > data_end - (uint64_t)start) {
            rc = ursa_err_set(
                err, URSA_EFORMAT,
                "%s: row group %zu, column %s: chunk at %lld of %lld bytes outside the file's %llu "
                "bytes of data",
                r->key, rg, name, (long long)start, (long long)len, (unsigned long long)data_end);
            goto out;
        }
        sp[i] = (span_t){(uint64_t)start, (uint64_t)start + (uint64_t)len, i, 0};
    }
    if (g->num_rows > r->lim.rows) {
        rc = ursa_err_set(err, URSA_EFORMAT, "%s: row group %zu: %lld rows, more than the limit of %lld",
                          r->key, rg, (long long)g->num_rows, (long long)r->lim.rows);
        goto out;
    }
    out->nrows = (size_t)g->num_rows;
    /* Coalesce neighbouring chunks into reads. */
    qsort(sp, ncols, sizeof(*sp), span_cmp);
    size_t first = 0;
    while (first < ncols && sp[first].buf == SIZE_MAX) first++;
    for (size_t i = first; i < ncols;) {
        uint64_t s = sp[i].start, end = sp[i].end;
        size_t j = i;
        while (j < ncols && sp[j].start <= end + COALESCE_GAP &&
               (sp[j].end > end ? sp[j].end : end) - s <= COALESCE_LIMIT) {
            if (sp[j].end > end) end = sp[j].end;
            sp[j].buf = nbufs;
            j++;
        }
        if (j == i) { /* a single chunk above the limit */
            sp[j].buf = nbufs;
            j++;
        }
        bstart[nbufs] = s;
        if (end > s && (rc = ursa_store_get_range(r->st, r->key, s, end - s, &bufs[nbufs], &e))) {
            rc = wrap(err, rc, r->key, "reading column chunks: ", &e);
            nbufs++;
            goto out;
        }
        if (bufs[nbufs].len != end - s) {
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: the file shrank while being read", r->key);
            nbufs++;
            goto out;
        }
        nbufs++;
        i = j;
    }
    for (size_t i = 0; i < ncols; i++) {
        const span_t *s = &sp[i];
        if (s->buf == SIZE_MAX) continue; /* an empty chunk of an empty row group */
        chunk_ctx_t c = {r,
                         rg,
                         cols ? cols[s->col] : s->col,
                         bufs[s->buf].data ? bufs[s->buf].data + (s->start - bstart[s->buf]) : NULL,
                         (size_t)(s->end - s->start),
                         s->start};
        if ((rc = read_chunk(&c, &out->cols[s->col], err))) goto out;
    }
    rc = URSA_OK;
out:
    for (size_t i = 0; i < nbufs; i++) ursa_buf_free(&bufs[i]);
    ursa_free(bufs);
    ursa_free(bstart);
    ursa_free(sp);
    if (rc) ursa_batch_free(out);
    return rc;
}
