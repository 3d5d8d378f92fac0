/*
 * pq_write.c -- the streaming Parquet writer (see pq_write.h).
 *
 * DESIGN
 *
 * File layout: "PAR1", then row groups, each a column chunk per schema
 * field in schema order, then the FileMetaData footer (Thrift compact),
 * its 4-byte little-endian length and "PAR1" again. A column chunk is an
 * optional dictionary page followed by v1 data pages.
 *
 * Each column has an open page that rows are appended to straight from the
 * Arrow buffers of the batch: validity bits (OPTIONAL columns only: the
 * definition levels), and either PLAIN-encoded values or, for strings while
 * the chunk's dictionary has room, uint32 dictionary indices. When the open
 * page's uncompressed estimate reaches opts.page_bytes it is closed: levels
 * and indices are RLE/bit-packed, the body compressed, and header + body
 * kept, allocated to size, in the column's list of finished pages. When the sum
 * of the columns' estimates reaches opts.row_group_bytes, every column's
 * open page is closed and the row group is written to the sink: per column,
 * the dictionary page (built from the dictionary, which is already the
 * PLAIN page body) and then the data pages. So the memory held is at most
 * one row group (compressed pages, open pages and dictionaries). The file
 * offset is counted here, since the sink can only append.
 *
 * Rows of one write call are taken in slices of at most SLICE_ROWS rows
 * (fewer when the slice would overshoot the row group's byte budget, e.g.
 * for huge strings), and the row group is checked after each slice; row
 * groups therefore end on slice boundaries, the same row for every column,
 * while pages end independently per column.
 *
 * Dictionary fallback: when a new string would push the dictionary past
 * opts.dict_max_bytes, the open page (if it holds values) is closed as a
 * dictionary page and the rest of that column chunk is written PLAIN; the
 * next row group starts a new dictionary. A chunk without any dictionary
 * encoded page gets no dictionary page; a page that holds only nulls is
 * written PLAIN (it has no values to index).
 *
 * Statistics per chunk: null count, min and max in the column order of the
 * type (signed for int64/timestamp; -0.0/+0.0 at zero bounds and nan_count
 * for doubles, and no min/max for a double chunk holding NaN, see
 * stats_finish(); false < true; unsigned bytes for strings).
 * For strings only the first STAT_KEEP bytes of the running min and max
 * are kept: taking a prefix preserves order, so that is enough to emit a
 * truncated min (a prefix, marked inexact) and a truncated max (a prefix
 * with its last character incremented, marked inexact; left out when no
 * such string exists). For dictionary-encoded pages only new dictionary
 * entries are compared.
 *
 * Failures: bad input (a batch that does not match the schema, a null in a
 * non-nullable column, a string that is not UTF-8 or is over 1 GiB) is found
 * before any state changes and leaves the writer usable. An allocation, codec or sink
 * failure in the middle of a write leaves a partial row group behind; the
 * writer then refuses every further call except destroy.
 */
#include "pq_write.h"

#include "codec.h"
#include "pq_encode.h"
#include "thrift.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Parquet enums (parquet.thrift). */
enum { PT_BOOLEAN = 0, PT_INT64 = 2, PT_DOUBLE = 5, PT_BYTE_ARRAY = 6 };
enum { ENC_PLAIN = 0, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };
enum { CT_UTF8 = 0, CT_TIMESTAMP_MICROS = 10 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1 };

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

enum { W_OPEN = 0, W_CLOSED, W_FAILED };

/* Running statistics of the current column chunk. */
typedef struct stats {
    int64_t nulls;
    int64_t nans;
    bool any; /* a value that counts for min/max was seen */
    int64_t imin, imax;
    double dmin, dmax;
    bool seen_false, seen_true;
    uint8_t smin[STAT_KEEP], smax[STAT_KEEP]; /* first bytes of the string min/max */
    size_t smin_len, smax_len;
} stats_t;

/* What the footer needs to know about a written column chunk. */
typedef struct chunk_meta {
    int64_t start;    /* offset of the chunk's first page */
    int64_t data_off; /* offset of its first data page */
    int64_t dict_off; /* offset of its dictionary page, -1 when none */
    int64_t num_values;
    int64_t unc_bytes; /* pages with headers, uncompressed */
    int64_t comp_bytes;
    int32_t dict_data_pages;
    int32_t plain_data_pages;
    int64_t nulls;
    int64_t nans; /* doubles only */
    bool has_min, has_max, min_exact, max_exact;
    uint8_t min_len, max_len;
    uint8_t min[STAT_BUF], max[STAT_BUF];
} chunk_meta_t;

typedef struct rg_meta {
    int64_t num_rows;
    int64_t file_offset;
    int64_t unc_bytes;
    int64_t comp_bytes;
    chunk_meta_t *cols; /* one per field; owned */
} rg_meta_t;

/* A finished page: header and compressed body, allocated to size. */
typedef struct page_blob {
    uint8_t *data;
    size_t len;
} page_blob_t;

/* Per-column state: the open page and the current column chunk. */
typedef struct col {
    const ursa_field_t *field;
    int ptype;
    bool nullable;

    /* The open page. */
    size_t pg_rows; /* values, nulls included */
    size_t pg_nulls;
    ursa_buf_t pg_defs; /* validity bits (OPTIONAL columns) */
    size_t pg_def_bits;
    ursa_buf_t pg_vals; /* PLAIN bytes, PLAIN bool bits, or uint32 indices */
    size_t pg_val_bits; /* bool bits in pg_vals */
    bool pg_dict;       /* pg_vals holds dictionary indices */

    /* The column chunk of the current row group. */
    page_blob_t *pages; /* finished pages, in order; owned */
    size_t npages, pages_cap;
    int64_t ch_values, ch_unc, ch_comp;
    int32_t ch_dict_pages, ch_plain_pages;
    pq_dict_t dict;
    bool dict_on; /* still dictionary-encoding this chunk */
    stats_t st;
} col_t;

struct pq_writer {
    const ursa_schema_t *schema;
    pq_write_opts_t o;
    char *kv_key, *kv_value; /* owned copies */
    ursa_sink_t sink;
    uint64_t offset; /* bytes written to the sink */
    int state;
    pq_compressor_t comp;

    col_t *cols; /* one per field */
    size_t ncols;
    size_t fixed_row_bytes; /* rough encoded bytes per row, strings' bytes aside */
    size_t rg_rows;         /* rows in the current row group */
    int64_t total_rows;     /* rows in finished row groups */

    rg_meta_t *rgs;
    size_t nrgs, rgs_cap;

    ursa_buf_t body;  /* scratch: a page body being assembled */
    ursa_buf_t zbody; /* scratch: the compressed body */
    ursa_buf_t hdr;   /* scratch: a page header, then the footer */
};

static inline size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static inline bool bit(const uint8_t *bits, size_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

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

int pq_codec_from_name(const char *name)
{
    if (!name) return -1;
    if (strcasecmp(name, "zstd") == 0) return PQ_CODEC_ZSTD;
    if (strcasecmp(name, "snappy") == 0) return PQ_CODEC_SNAPPY;
    if (strcasecmp(name, "uncompressed") == 0 || strcasecmp(name, "none") == 0) return PQ_CODEC_UNCOMPRESSED;
    return -1;
}

/* ---------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------- */

static void stats_reset(stats_t *st)
{
    memset(st, 0, sizeof(*st));
}

static void stats_i64(stats_t *st, const int64_t *v, const uint8_t *validity, size_t a, size_t n)
{
    int64_t mn = st->any ? st->imin : INT64_MAX, mx = st->any ? st->imax : INT64_MIN;
    size_t seen = 0;
    if (!validity) {
        for (size_t i = a; i < a + n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
        seen = n;
    } else {
        for (size_t i = a; i < a + n; i++) {
            if (!bit(validity, i)) continue;
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
            seen++;
        }
    }
    if (seen) {
        st->imin = mn;
        st->imax = mx;
        st->any = true;
    }
}

static void stats_f64(stats_t *st, const double *v, const uint8_t *validity, size_t a, size_t n)
{
    for (size_t i = a; i < a + n; i++) {
        if (validity && !bit(validity, i)) continue;
        double x = v[i];
        if (x != x) {
            st->nans++;
            continue;
        }
        if (!st->any || x < st->dmin) st->dmin = x;
        if (!st->any || x > st->dmax) st->dmax = x;
        st->any = true;
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

/* Byte-wise unsigned comparison of two (possibly truncated) strings. */
static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, min_sz(an, bn));
    if (c) return c;
    return an < bn ? -1 : an > bn;
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

static void put_le64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Turns the running statistics of c into the footer's form in m. */
static void stats_finish(const col_t *c, chunk_meta_t *m)
{
    const stats_t *st = &c->st;
    m->nulls = st->nulls;
    m->nans = st->nans;
    /* A double chunk holding NaN gets no min/max: DuckDB (1.5) prunes on a
     * NaN-free max although it orders NaN above every number, and so drops
     * the NaN rows of e.g. `x > max`. Its own writer leaves them out too. */
    if (!st->any || (c->field->type == URSA_TYPE_FLOAT64 && st->nans > 0)) return;
    m->has_min = m->has_max = m->min_exact = m->max_exact = true;
    switch (c->field->type) {
    case URSA_TYPE_BOOL:
        m->min[0] = st->seen_false ? 0 : 1;
        m->max[0] = st->seen_true ? 1 : 0;
        m->min_len = m->max_len = 1;
        break;
    case URSA_TYPE_INT64:
    case URSA_TYPE_TIMESTAMP:
        put_le64(m->min, (uint64_t)st->imin);
        put_le64(m->max, (uint64_t)st->imax);
        m->min_len = m->max_len = 8;
        break;
    case URSA_TYPE_FLOAT64: {
        double mn = st->dmin == 0.0 ? -0.0 : st->dmin;
        double mx = st->dmax == 0.0 ? 0.0 : st->dmax;
        memcpy(m->min, &mn, 8);
        memcpy(m->max, &mx, 8);
        m->min_len = m->max_len = 8;
        break;
    }
    case URSA_TYPE_STRING:
        if (st->smin_len <= STAT_PREFIX) {
            memcpy(m->min, st->smin, st->smin_len);
            m->min_len = (uint8_t)st->smin_len;
        } else {
            size_t k = utf8_cut(st->smin, STAT_PREFIX);
            memcpy(m->min, st->smin, k);
            m->min_len = (uint8_t)k;
            m->min_exact = false;
        }
        if (st->smax_len <= STAT_PREFIX) {
            memcpy(m->max, st->smax, st->smax_len);
            m->max_len = (uint8_t)st->smax_len;
        } else {
            size_t k = upper_bound(st->smax, utf8_cut(st->smax, STAT_PREFIX), m->max);
            m->max_len = (uint8_t)k;
            m->max_exact = false;
            m->has_max = k > 0;
        }
        break;
    }
}

/* ---------------------------------------------------------------------------
 * Pages
 * ------------------------------------------------------------------------- */

static bool is_string(const col_t *c)
{
    return c->ptype == PT_BYTE_ARRAY;
}

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

/* Encodes a PageHeader into w->hdr. */
static int page_header(pq_writer_t *w, int type, size_t unc, size_t comp, size_t nvals, int enc)
{
    thrift_enc_t e;
    w->hdr.len = 0;
    thrift_enc_init(&e, &w->hdr);
    thrift_struct_begin(&e);
    thrift_field_i32(&e, 1, type);
    thrift_field_i32(&e, 2, (int32_t)unc);
    thrift_field_i32(&e, 3, (int32_t)comp);
    if (type == PAGE_DATA) {
        thrift_field_struct_begin(&e, 5); /* DataPageHeader */
        thrift_field_i32(&e, 1, (int32_t)nvals);
        thrift_field_i32(&e, 2, enc);
        thrift_field_i32(&e, 3, ENC_RLE); /* definition levels */
        thrift_field_i32(&e, 4, ENC_RLE); /* repetition levels */
        thrift_struct_end(&e);
    } else {
        thrift_field_struct_begin(&e, 7); /* DictionaryPageHeader */
        thrift_field_i32(&e, 1, (int32_t)nvals);
        thrift_field_i32(&e, 2, ENC_PLAIN);
        thrift_struct_end(&e);
    }
    thrift_struct_end(&e);
    return thrift_enc_status(&e);
}

/* Compresses the page body; on success the header is in w->hdr and
 * *payload is the body to write after it (body itself, or w->zbody).
 * Adds the page's sizes to the chunk's totals. */
static int encode_page(pq_writer_t *w, col_t *c, int type, const ursa_buf_t *body, size_t nvals, int enc,
                       const ursa_buf_t **payload, ursa_err_t *err)
{
    int rc;
    *payload = body;
    if (body->len > INT32_MAX || nvals > INT32_MAX)
        return ursa_err_set(err, URSA_ELIMIT, "column %s: a page of %zu bytes is too large for Parquet",
                            c->field->name, body->len);
    if (w->comp.codec != PQ_CODEC_UNCOMPRESSED) {
        w->zbody.len = 0;
        if ((rc = pq_compress(&w->comp, body->data, body->len, &w->zbody)))
            return ursa_err_set(err, rc, "column %s: %s compression failed", c->field->name,
                                pq_codec_name(w->comp.codec));
        *payload = &w->zbody;
        if (w->zbody.len > INT32_MAX)
            return ursa_err_set(err, URSA_ELIMIT, "column %s: a compressed page is too large for Parquet",
                                c->field->name);
    }
    if ((rc = page_header(w, type, body->len, (*payload)->len, nvals, enc)))
        return ursa_err_set(err, rc, "column %s: out of memory for a page header", c->field->name);
    c->ch_unc += (int64_t)(w->hdr.len + body->len);
    c->ch_comp += (int64_t)(w->hdr.len + (*payload)->len);
    return URSA_OK;
}

/* Keeps header + payload as the chunk's next finished page. */
static int keep_page(pq_writer_t *w, col_t *c, const ursa_buf_t *payload, ursa_err_t *err)
{
    if (c->npages == c->pages_cap) {
        size_t cap = c->pages_cap ? c->pages_cap * 2 : 16;
        page_blob_t *p = ursa_realloc(c->pages, cap * sizeof(*p));
        if (!p) return ursa_err_set(err, URSA_ENOMEM, "column %s: out of memory", c->field->name);
        c->pages = p;
        c->pages_cap = cap;
    }
    size_t n = w->hdr.len + payload->len;
    uint8_t *blob = ursa_malloc(n);
    if (!blob) return ursa_err_set(err, URSA_ENOMEM, "column %s: out of memory", c->field->name);
    memcpy(blob, w->hdr.data, w->hdr.len);
    if (payload->len) memcpy(blob + w->hdr.len, payload->data, payload->len);
    c->pages[c->npages].data = blob;
    c->pages[c->npages].len = n;
    c->npages++;
    return URSA_OK;
}

static void page_reset(pq_writer_t *w, col_t *c)
{
    c->pg_rows = c->pg_nulls = 0;
    c->pg_def_bits = c->pg_val_bits = 0;
    c->pg_defs.len = 0;
    c->pg_vals.len = 0;
    c->pg_dict = c->dict_on;
    /* Give back the room a huge value left behind. */
    size_t keep = 2 * w->o.page_bytes + 65536;
    if (c->pg_vals.cap > keep) ursa_buf_free(&c->pg_vals);
    if (w->body.cap > keep) ursa_buf_free(&w->body);
    if (w->zbody.cap > keep) ursa_buf_free(&w->zbody);
}

/* Closes the open page of c (if it holds rows) into c->pages. */
static int close_page(pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    int rc;
    if (c->pg_rows == 0) return URSA_OK;
    size_t nonnull = c->pg_rows - c->pg_nulls;
    bool dict = c->pg_dict && nonnull > 0;
    ursa_buf_t *body = &w->body;
    body->len = 0;
    if (c->nullable) {
        if ((rc = ursa_buf_reserve(body, 4))) goto nomem;
        body->len = 4;
        if ((rc = pq_rle_encode_bits(body, c->pg_defs.data, 0, c->pg_rows))) goto nomem;
        uint32_t n = (uint32_t)(body->len - 4);
        memcpy(body->data, &n, 4);
    }
    if (dict) {
        int bw = pq_bit_width(c->dict.count - 1);
        if ((rc = ursa_buf_push(body, (uint8_t)bw))) goto nomem;
        if ((rc = pq_rle_encode(body, (const uint32_t *)(const void *)c->pg_vals.data, nonnull, bw)))
            goto nomem;
    } else if ((rc = ursa_buf_append(body, c->pg_vals.data, c->pg_vals.len))) {
        goto nomem;
    }
    const ursa_buf_t *payload;
    if ((rc = encode_page(w, c, PAGE_DATA, body, c->pg_rows, dict ? ENC_RLE_DICTIONARY : ENC_PLAIN, &payload,
                          err)) ||
        (rc = keep_page(w, c, payload, err)))
        return rc;
    c->ch_values += (int64_t)c->pg_rows;
    if (dict)
        c->ch_dict_pages++;
    else
        c->ch_plain_pages++;
    page_reset(w, c);
    return URSA_OK;
nomem:
    return ursa_err_set(err, rc, "column %s: out of memory encoding a page", c->field->name);
}

static int maybe_close_page(pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    if (c->pg_rows >= PAGE_MAX_VALUES || page_estimate(c) >= w->o.page_bytes) return close_page(w, c, err);
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
    for (; i + 8 <= end; i += 8) ones += (size_t)__builtin_popcount(bits[i >> 3]);
    for (; i < end; i++) ones += bit(bits, i);
    return n - ones;
}

/* BOOL, INT64, FLOAT64, TIMESTAMP: rows [a, a + n) of col. */
static int append_fixed(pq_writer_t *w, col_t *c, const ursa_column_t *col, size_t a, size_t n,
                        ursa_err_t *err)
{
    int rc;
    const uint8_t *validity = c->nullable && col->null_count ? col->validity.data : NULL;
    size_t width = c->ptype == PT_BOOLEAN ? 1 : 8; /* bytes per value, rounded up */
    while (n > 0) {
        size_t est = page_estimate(c);
        size_t room = est < w->o.page_bytes ? (w->o.page_bytes - est) / width : 0;
        size_t k = min_sz(min_sz(n, room ? room : 1), PAGE_MAX_VALUES - c->pg_rows);
        if (k == 0) k = 1;
        if (c->nullable && (rc = pq_bits_append(&c->pg_defs, &c->pg_def_bits, col->validity.data, a, k)))
            return nomem_col(c, err);
        size_t nulls = validity ? count_zeros(validity, a, k) : 0;
        switch (c->field->type) {
        case URSA_TYPE_BOOL:
            rc = pq_plain_bools(&c->pg_vals, &c->pg_val_bits, col->values.data, validity, a, k);
            stats_bool(&c->st, col->values.data, validity, a, k);
            break;
        case URSA_TYPE_FLOAT64:
            rc = pq_plain_fixed64(&c->pg_vals, col->values.data, validity, a, k);
            stats_f64(&c->st, (const double *)(const void *)col->values.data, validity, a, k);
            break;
        default:
            rc = pq_plain_fixed64(&c->pg_vals, col->values.data, validity, a, k);
            stats_i64(&c->st, (const int64_t *)(const void *)col->values.data, validity, a, k);
        }
        if (rc) return nomem_col(c, err);
        c->pg_rows += k;
        c->pg_nulls += nulls;
        c->st.nulls += (int64_t)nulls;
        a += k;
        n -= k;
        if ((rc = maybe_close_page(w, c, err))) return rc;
    }
    return URSA_OK;
}

/* The dictionary is full: close the open page if it holds indices, and
 * write the rest of the chunk PLAIN. */
static int dict_fallback(pq_writer_t *w, col_t *c, ursa_err_t *err)
{
    int rc;
    c->dict_on = false;
    if (c->pg_rows > c->pg_nulls && (rc = close_page(w, c, err))) return rc;
    c->pg_dict = false; /* an open page of nulls only has no values yet */
    return URSA_OK;
}

static int append_strings(pq_writer_t *w, col_t *c, const ursa_column_t *col, size_t a, size_t n,
                          ursa_err_t *err)
{
    int rc;
    const int64_t *off = (const int64_t *)(const void *)col->offsets.data;
    const uint8_t *validity = c->nullable && col->null_count ? col->validity.data : NULL;
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
                    if (added) stats_str(&c->st, s, len);
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
                stats_str(&c->st, s, len);
            }
        } else {
            c->pg_nulls++;
            c->st.nulls++;
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
        est += (size_t)c->ch_unc + page_estimate(c) + c->dict.data.len;
    }
    return est;
}

static void chunk_reset(pq_writer_t *w, col_t *c)
{
    for (size_t k = 0; k < c->npages; k++) ursa_free(c->pages[k].data);
    c->npages = 0;
    c->ch_values = c->ch_unc = c->ch_comp = 0;
    c->ch_dict_pages = c->ch_plain_pages = 0;
    pq_dict_clear(&c->dict);
    c->dict_on = is_string(c) && w->o.dict_max_bytes > 0;
    c->pg_dict = c->dict_on;
    stats_reset(&c->st);
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
        if ((rc = close_page(w, c, err))) return rc;
        m->start = (int64_t)w->offset;
        m->dict_off = -1;
        if (c->ch_dict_pages > 0) {
            /* The dictionary is the PLAIN body of the dictionary page. */
            const ursa_buf_t *payload;
            m->dict_off = (int64_t)w->offset;
            if ((rc = encode_page(w, c, PAGE_DICTIONARY, &c->dict.data, c->dict.count, ENC_PLAIN, &payload,
                                  err)) ||
                (rc = sink_write(w, w->hdr.data, w->hdr.len, err)) ||
                (rc = sink_write(w, payload->data, payload->len, err)))
                return rc;
        }
        m->data_off = (int64_t)w->offset;
        for (size_t k = 0; k < c->npages; k++) {
            if ((rc = sink_write(w, c->pages[k].data, c->pages[k].len, err))) return rc;
            ursa_free(c->pages[k].data);
            c->pages[k].data = NULL;
        }
        c->npages = 0;
        m->num_values = c->ch_values;
        m->unc_bytes = c->ch_unc;
        m->comp_bytes = c->ch_comp;
        m->dict_data_pages = c->ch_dict_pages;
        m->plain_data_pages = c->ch_plain_pages;
        stats_finish(c, m);
        rg->unc_bytes += c->ch_unc;
        rg->comp_bytes += c->ch_comp;
        chunk_reset(w, c);
    }
    rg->num_rows = (int64_t)w->rg_rows;
    w->total_rows += (int64_t)w->rg_rows;
    w->rg_rows = 0;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Footer
 * ------------------------------------------------------------------------- */

static void encode_statistics(thrift_enc_t *e, const col_t *c, const chunk_meta_t *m)
{
    thrift_field_struct_begin(e, 12);
    thrift_field_i64(e, 3, m->nulls);
    if (m->has_max) thrift_field_binary(e, 5, m->max, m->max_len);
    if (m->has_min) thrift_field_binary(e, 6, m->min, m->min_len);
    if (m->has_max) thrift_field_bool(e, 7, m->max_exact);
    if (m->has_min) thrift_field_bool(e, 8, m->min_exact);
    if (c->ptype == PT_DOUBLE) thrift_field_i64(e, 9, m->nans);
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
    bool plain = has_dict || m->plain_data_pages > 0;
    thrift_struct_begin(e);
    thrift_field_i64(e, 2, m->start); /* file_offset: where the chunk starts */
    thrift_field_struct_begin(e, 3);  /* ColumnMetaData */
    thrift_field_i32(e, 1, c->ptype);
    thrift_field_list_begin(e, 2, THRIFT_I32, (size_t)plain + 1 + (size_t)(m->dict_data_pages > 0));
    if (plain) thrift_elem_i32(e, ENC_PLAIN);
    thrift_elem_i32(e, ENC_RLE);
    if (m->dict_data_pages > 0) thrift_elem_i32(e, ENC_RLE_DICTIONARY);
    thrift_field_list_begin(e, 3, THRIFT_BINARY, 1);
    thrift_elem_binary(e, c->field->name, c->field->name_len);
    thrift_field_i32(e, 4, (int32_t)w->comp.codec);
    thrift_field_i64(e, 5, m->num_values);
    thrift_field_i64(e, 6, m->unc_bytes);
    thrift_field_i64(e, 7, m->comp_bytes);
    thrift_field_i64(e, 9, m->data_off);
    if (has_dict) thrift_field_i64(e, 11, m->dict_off);
    encode_statistics(e, c, m);
    size_t nstats = (size_t)has_dict + (m->dict_data_pages > 0) + (m->plain_data_pages > 0);
    thrift_field_list_begin(e, 13, THRIFT_STRUCT, nstats);
    if (has_dict) encode_encoding_stat(e, PAGE_DICTIONARY, ENC_PLAIN, 1);
    if (m->dict_data_pages > 0) encode_encoding_stat(e, PAGE_DATA, ENC_RLE_DICTIONARY, m->dict_data_pages);
    if (m->plain_data_pages > 0) encode_encoding_stat(e, PAGE_DATA, ENC_PLAIN, m->plain_data_pages);
    thrift_struct_end(e); /* ColumnMetaData */
    thrift_struct_end(e); /* ColumnChunk */
}

static void encode_schema(thrift_enc_t *e, const pq_writer_t *w)
{
    thrift_field_list_begin(e, 2, THRIFT_STRUCT, w->ncols + 1);
    thrift_struct_begin(e); /* the root group */
    thrift_field_string(e, 4, "schema");
    thrift_field_i32(e, 5, (int32_t)w->ncols);
    thrift_struct_end(e);
    for (size_t i = 0; i < w->ncols; i++) {
        const col_t *c = &w->cols[i];
        thrift_struct_begin(e);
        thrift_field_i32(e, 1, c->ptype);
        thrift_field_i32(e, 3, c->nullable ? REP_OPTIONAL : REP_REQUIRED);
        thrift_field_binary(e, 4, c->field->name, c->field->name_len);
        if (c->field->type == URSA_TYPE_STRING) {
            thrift_field_i32(e, 6, CT_UTF8);
            thrift_field_struct_begin(e, 10); /* LogicalType */
            thrift_field_struct_begin(e, 1);  /* STRING */
            thrift_struct_end(e);
            thrift_struct_end(e);
        } else if (c->field->type == URSA_TYPE_TIMESTAMP) {
            thrift_field_i32(e, 6, CT_TIMESTAMP_MICROS);
            thrift_field_struct_begin(e, 10); /* LogicalType */
            thrift_field_struct_begin(e, 8);  /* TIMESTAMP */
            thrift_field_bool(e, 1, true);    /* isAdjustedToUTC */
            thrift_field_struct_begin(e, 2);  /* unit */
            thrift_field_struct_begin(e, 2);  /* MICROS */
            thrift_struct_end(e);
            thrift_struct_end(e);
            thrift_struct_end(e);
            thrift_struct_end(e);
        }
        thrift_struct_end(e);
    }
}

static int encode_footer(const pq_writer_t *w, ursa_buf_t *out)
{
    thrift_enc_t e;
    thrift_enc_init(&e, out);
    thrift_struct_begin(&e); /* FileMetaData */
    thrift_field_i32(&e, 1, FILE_VERSION);
    encode_schema(&e, w);
    thrift_field_i64(&e, 3, w->total_rows);
    thrift_field_list_begin(&e, 4, THRIFT_STRUCT, w->nrgs);
    for (size_t r = 0; r < w->nrgs; r++) {
        const rg_meta_t *rg = &w->rgs[r];
        thrift_struct_begin(&e);
        thrift_field_list_begin(&e, 1, THRIFT_STRUCT, w->ncols);
        for (size_t i = 0; i < w->ncols; i++) encode_column_chunk(&e, w, &w->cols[i], &rg->cols[i]);
        thrift_field_i64(&e, 2, rg->unc_bytes);
        thrift_field_i64(&e, 3, rg->num_rows);
        thrift_field_i64(&e, 5, rg->file_offset);
        thrift_field_i64(&e, 6, rg->comp_bytes);
        if (r <= INT16_MAX) thrift_field_i16(&e, 7, (int16_t)r);
        thrift_struct_end(&e);
    }
    if (w->kv_key) {
        thrift_field_list_begin(&e, 5, THRIFT_STRUCT, 1);
        thrift_struct_begin(&e);
        thrift_field_string(&e, 1, w->kv_key);
        if (w->kv_value) thrift_field_string(&e, 2, w->kv_value);
        thrift_struct_end(&e);
    }
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

static const char *type_name(ursa_type_t t)
{
    static const char *const names[] = {"bool", "int64", "float64", "string", "timestamp"};
    return (unsigned)t < URSA_ARRAY_LEN(names) ? names[t] : "?";
}

static int parquet_type(ursa_type_t t)
{
    switch (t) {
    case URSA_TYPE_BOOL:
        return PT_BOOLEAN;
    case URSA_TYPE_INT64:
    case URSA_TYPE_TIMESTAMP:
        return PT_INT64;
    case URSA_TYPE_FLOAT64:
        return PT_DOUBLE;
    case URSA_TYPE_STRING:
        return PT_BYTE_ARRAY;
    }
    return -1;
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
    if (!o->kv_key && o->kv_value) return ursa_err_set(err, URSA_EINVAL, "kv_value without kv_key");
    for (size_t i = 0; i < s->nfields; i++)
        if (parquet_type(s->fields[i].type) < 0)
            return ursa_err_set(err, URSA_EINVAL, "column %s: unknown type %d", s->fields[i].name,
                                (int)s->fields[i].type);

    if (!(w = ursa_calloc(1, sizeof(*w)))) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    w->schema = s;
    w->o = *o;
    w->o.page_bytes = min_sz(w->o.page_bytes, SIZE_MAX_OPTION);
    w->o.dict_max_bytes = min_sz(w->o.dict_max_bytes, SIZE_MAX_OPTION);
    w->o.kv_key = w->o.kv_value = NULL;
    w->sink = sink;
    if ((rc = pq_compressor_init(&w->comp, o->codec, o->level))) {
        ursa_err_set(err, rc, "bad codec %d or zstd level %d", (int)o->codec, o->level);
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
        c->ptype = parquet_type(c->field->type);
        c->nullable = c->field->nullable;
        pq_dict_init(&c->dict, w->o.dict_max_bytes);
        chunk_reset(w, c);
        w->fixed_row_bytes += (c->ptype == PT_BOOLEAN ? 1 : c->ptype == PT_BYTE_ARRAY ? 4 : 8) + c->nullable;
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
                                type_name(col->type), type_name(c->field->type));
        if (n == 0) continue; /* an empty column may have no buffers at all */
        if (col->length < end || col->validity.len < (end + 7) / 8)
            return ursa_err_set(err, URSA_EINVAL, "column %s: rows %zu..%zu asked, %zu present", name, off,
                                end, col->length);
        size_t need = c->ptype == PT_BOOLEAN ? (end + 7) / 8 : c->ptype == PT_BYTE_ARRAY ? 0 : end * 8;
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
        if (c->ptype == PT_BYTE_ARRAY) {
            /* A STRING column must hold UTF-8, or readers refuse the whole file. */
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
        size_t by_width = budget / w->fixed_row_bytes;
        if (by_width < n) n = by_width ? by_width : 1;
        for (size_t i = 0; i < w->ncols; i++) {
            const ursa_column_t *col = &b->cols[i];
            if (col->type != URSA_TYPE_STRING) continue;
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
        if (rg_estimate(w) >= w->o.row_group_bytes && (rc = flush_row_group(w, err))) goto fail;
    }
    return URSA_OK;
fail:
    w->state = W_FAILED;
    return rc;
}

int pq_writer_close(pq_writer_t *w, uint64_t *file_bytes, ursa_err_t *err)
{
    int rc;
    if ((rc = check_open(w, err))) return rc;
    if ((rc = flush_row_group(w, err))) goto fail;
    w->hdr.len = 0;
    if ((rc = encode_footer(w, &w->hdr))) {
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
    return URSA_OK;
fail:
    w->state = W_FAILED;
    return rc;
}

void pq_writer_destroy(pq_writer_t **wp)
{
    pq_writer_t *w = wp ? *wp : NULL;
    if (!w) return;
    for (size_t i = 0; i < w->ncols; i++) {
        col_t *c = &w->cols[i];
        ursa_buf_free(&c->pg_defs);
        ursa_buf_free(&c->pg_vals);
        for (size_t k = 0; k < c->npages; k++) ursa_free(c->pages[k].data);
        ursa_free(c->pages);
        pq_dict_free(&c->dict);
    }
    ursa_free(w->cols);
    for (size_t r = 0; r < w->nrgs; r++) ursa_free(w->rgs[r].cols);
    ursa_free(w->rgs);
    ursa_free(w->kv_key);
    ursa_free(w->kv_value);
    ursa_buf_free(&w->body);
    ursa_buf_free(&w->zbody);
    ursa_buf_free(&w->hdr);
    pq_compressor_free(&w->comp);
    ursa_free(w);
    *wp = NULL;
}
