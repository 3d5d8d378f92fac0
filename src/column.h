/*
 * column.h -- Arrow-layout columns and batches of columns.
 *
 * A column holds `length` values of one type in the Arrow memory layout:
 *   validity  one bit per row, LSB first, 1 = value present. Always kept,
 *             also for non-nullable columns (all ones there).
 *   values    BOOL: one bit per row (LSB first); every other fixed-width
 *             type: `width` bytes per row, native byte order (int8 .. int64,
 *             uint8 .. uint64, float32/64, date as int32 days, time and
 *             timestamps as int64, decimal as int64 or int128 unscaled,
 *             uuid as its 16 bytes). A null row still occupies its slot
 *             (zero bytes).
 *   offsets   STRING, BINARY, JSON: int64_t offsets, length + 1 entries,
 *             offsets[0] == 0 (the Arrow "large" layout).
 *   data      STRING, BINARY, JSON: the bytes of all values back to back.
 * Columns append only; ursa_column_truncate() rolls back a partly
 * appended row. A batch is a set of columns of equal length following a
 * schema. Everything is owned by the column/batch and freed by _free().
 */
#ifndef URSA_COLUMN_H
#define URSA_COLUMN_H

#include "common.h"
#include "schema.h"

#include <string.h>

typedef struct ursa_column {
    ursa_type_t type;
    unsigned width; /* bytes per value, 0 for BOOL and variable-length types */
    size_t length;
    size_t null_count;
    ursa_buf_t validity;
    ursa_buf_t values;
    ursa_buf_t offsets;
    ursa_buf_t data;
} ursa_column_t;

static inline bool ursa_bit_get(const uint8_t *bits, size_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

static inline void ursa_bit_set(uint8_t *bits, size_t i, bool v)
{
    if (v)
        bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
        bits[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* Initializes an empty column for field f (caller-owned storage). */
void ursa_column_init_field(ursa_column_t *c, const ursa_field_t *f);
/* The same for a type alone (DECIMAL gets 8-byte values, TIMESTAMP µs). */
void ursa_column_init(ursa_column_t *c, ursa_type_t t);
void ursa_column_free(ursa_column_t *c);

/* Makes room for one more row holding `bytes` value bytes (fixed-width:
 * c->width; variable-length: the length of the value; BOOL: 0), so that the
 * appenders below need no allocation. Also adds the first offset of a
 * variable-length column. URSA_OK or URSA_ENOMEM (nothing changed then). */
int ursa_column_reserve(ursa_column_t *c, size_t bytes) URSA_MUST_CHECK;

/* Appenders. Each adds one row. They return URSA_OK or URSA_ENOMEM (and
 * leave the column as it was). They are inline: the scanners call them for
 * every value, and the common case is a store and a bit. */

/* True when the validity bitmap has room for row c->length. */
static inline bool ursa_column_bit_room_(const ursa_column_t *c)
{
    return (c->length & 7) != 0 || c->validity.len < c->validity.cap;
}

/* Adds row c->length's validity bit (and its byte when the row starts one;
 * bits past the length may be stale after a truncate, so they are written,
 * never assumed zero), and counts the row. */
static inline void ursa_column_end_row_(ursa_column_t *c, bool valid)
{
    size_t i = c->length;
    if ((i & 7) == 0)
        c->validity.data[c->validity.len++] = (uint8_t)valid;
    else
        ursa_bit_set(c->validity.data, i, valid);
    c->length = i + 1;
    c->null_count += !valid;
}

static inline int ursa_column_append_i64(ursa_column_t *c, int64_t v)
{
    if (URSA_UNLIKELY(!ursa_column_bit_room_(c) || c->values.cap - c->values.len < 8) &&
        ursa_column_reserve(c, 8))
        return URSA_ENOMEM;
    memcpy(c->values.data + c->values.len, &v, 8);
    c->values.len += 8;
    ursa_column_end_row_(c, true);
    return URSA_OK;
}

static inline int ursa_column_append_f64(ursa_column_t *c, double v)
{
    if (URSA_UNLIKELY(!ursa_column_bit_room_(c) || c->values.cap - c->values.len < 8) &&
        ursa_column_reserve(c, 8))
        return URSA_ENOMEM;
    memcpy(c->values.data + c->values.len, &v, 8);
    c->values.len += 8;
    ursa_column_end_row_(c, true);
    return URSA_OK;
}

/* Appends one value of c->width bytes (any fixed-width type but BOOL). */
static inline int ursa_column_append_fixed(ursa_column_t *c, const void *v)
{
    if (URSA_UNLIKELY(!ursa_column_bit_room_(c) || c->values.cap - c->values.len < c->width) &&
        ursa_column_reserve(c, c->width))
        return URSA_ENOMEM;
    memcpy(c->values.data + c->values.len, v, c->width);
    c->values.len += c->width;
    ursa_column_end_row_(c, true);
    return URSA_OK;
}

static inline int ursa_column_append_bool(ursa_column_t *c, bool v)
{
    size_t i = c->length;
    if (URSA_UNLIKELY((i & 7) == 0 &&
                      (c->validity.len == c->validity.cap || c->values.len == c->values.cap)) &&
        ursa_column_reserve(c, 0))
        return URSA_ENOMEM;
    if ((i & 7) == 0)
        c->values.data[c->values.len++] = (uint8_t)v;
    else
        ursa_bit_set(c->values.data, i, v);
    ursa_column_end_row_(c, true);
    return URSA_OK;
}

static inline int ursa_column_append_str(ursa_column_t *c, const void *s, size_t n)
{
    if (URSA_UNLIKELY(!ursa_column_bit_room_(c) || c->offsets.cap - c->offsets.len < 8 ||
                      c->offsets.len == 0 || c->data.cap - c->data.len < n) &&
        ursa_column_reserve(c, n))
        return URSA_ENOMEM;
    if (n) memcpy(c->data.data + c->data.len, s, n);
    c->data.len += n;
    int64_t end = (int64_t)c->data.len;
    memcpy(c->offsets.data + c->offsets.len, &end, 8);
    c->offsets.len += 8;
    ursa_column_end_row_(c, true);
    return URSA_OK;
}

/* A null: the validity bit 0 and a zeroed value slot (or an empty string). */
int ursa_column_append_null(ursa_column_t *c) URSA_MUST_CHECK;
/* n nulls (URSA_ENOMEM part way: some were appended). */
int ursa_column_append_nulls(ursa_column_t *c, size_t n) URSA_MUST_CHECK;

/* Accessors (i < length). */
static inline bool ursa_column_valid(const ursa_column_t *c, size_t i)
{
    return ursa_bit_get(c->validity.data, i);
}
static inline int64_t ursa_column_i64(const ursa_column_t *c, size_t i)
{
    return ((const int64_t *)(const void *)c->values.data)[i];
}
static inline double ursa_column_f64(const ursa_column_t *c, size_t i)
{
    return ((const double *)(const void *)c->values.data)[i];
}
/* The value slot of row i of a fixed-width column (c->width bytes). */
static inline const uint8_t *ursa_column_ptr(const ursa_column_t *c, size_t i)
{
    return c->values.data + i * c->width;
}
static inline bool ursa_column_bool(const ursa_column_t *c, size_t i)
{
    return ursa_bit_get(c->values.data, i);
}
static inline const uint8_t *ursa_column_str(const ursa_column_t *c, size_t i, size_t *n)
{
    const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
    *n = (size_t)(off[i + 1] - off[i]);
    return c->data.data + off[i];
}

/* Rolls the column back to `length` rows (length <= c->length). */
void ursa_column_truncate(ursa_column_t *c, size_t length);

/* Appends rows idx[0..n) of src to dst (same type). */
int ursa_column_take(ursa_column_t *dst, const ursa_column_t *src, const uint32_t *idx,
                     size_t n) URSA_MUST_CHECK;

struct ursa_batch;

/* A row of one of several batches: the batch's index in the high 32 bits,
 * the row in the low 32 (a flush's day spans the chunks it took). */
#define URSA_ROW_REF(batch, row) (((uint64_t)(batch) << 32) | (uint32_t)(row))
#define URSA_REF_BATCH(ref)      ((size_t)((ref) >> 32))
#define URSA_REF_ROW(ref)        ((size_t)(uint32_t)(ref))

/* Appends, for k in [0, n), row URSA_REF_ROW(refs[k]) of column `col` of
 * batch batches[URSA_REF_BATCH(refs[k])] to dst (same type): a gather
 * across batches. URSA_ENOMEM part way leaves the rows appended so far. */
int ursa_column_take_refs(ursa_column_t *dst, struct ursa_batch *const *batches, size_t col,
                          const uint64_t *refs, size_t n) URSA_MUST_CHECK;

/* Bytes of memory the column's buffers hold (their capacity). */
size_t ursa_column_bytes(const ursa_column_t *c);

/* A batch: one column per schema field, all of the same length. */
typedef struct ursa_batch {
    ursa_column_t *cols;
    size_t ncols;
    size_t nrows;
    uint64_t lsn;       /* the WAL record that holds these rows, 0 when none */
    uint64_t first_lsn; /* the first WAL record holding any of them (a request's parts, see catalog.h);
                           0: lsn */
    unsigned refs;      /* a dataset's chunk: its holders (the buffer, queries reading it); see catalog.h */
    /* a dataset's chunk: the least and greatest value of its time column (in
     * the column's unit), for queries to skip it; has_trange false: unknown */
    bool has_trange;
    int64_t tmin, tmax;
} ursa_batch_t;

/* The first WAL record holding any row of b (0 when not logged). */
static inline uint64_t ursa_batch_first_lsn(const ursa_batch_t *b)
{
    return b->first_lsn ? b->first_lsn : b->lsn;
}

/* Serializes a batch (all columns, as they are in memory) by appending to
 * out. The schema is not included: decoding needs the same schema. */
#define URSA_BATCH_NCOLS_SHIFT 48
int ursa_batch_encode(const ursa_batch_t *b, ursa_buf_t *out) URSA_MUST_CHECK;

/* The bytes ursa_batch_encode appends for b (to reserve them up front). */
size_t ursa_batch_encoded_size(const ursa_batch_t *b);

/* Like ursa_batch_encode for rows [from, to) only (from a multiple of 8, so
 * that bitmaps are copied whole; offsets are rebased to start at 0): the
 * bytes decode as a batch of to - from rows. URSA_EINVAL for a bad range. */
int ursa_batch_encode_rows(const ursa_batch_t *b, size_t from, size_t to, ursa_buf_t *out) URSA_MUST_CHECK;
size_t ursa_batch_rows_encoded_size(const ursa_batch_t *b, size_t from, size_t to);

/* Decodes what ursa_batch_encode wrote into an initialized, empty batch b
 * of schema s. URSA_EFORMAT when the bytes do not fit the schema. */
int ursa_batch_decode(ursa_batch_t *b, const ursa_schema_t *s, const uint8_t *p, size_t n) URSA_MUST_CHECK;

/* Allocates one empty column per field of s. */
int ursa_batch_init(ursa_batch_t *b, const ursa_schema_t *s) URSA_MUST_CHECK;
void ursa_batch_free(ursa_batch_t *b);
/* Adds columns for fields [b->ncols, n) of s (a schema that gained
 * fields), each holding b->nrows nulls. */
int ursa_batch_widen(ursa_batch_t *b, const ursa_schema_t *s, size_t n) URSA_MUST_CHECK;
/* Frees columns [n, b->ncols) (fields a request added and dropped again). */
void ursa_batch_narrow(ursa_batch_t *b, size_t n);
/* Rolls every column back to nrows rows. */
void ursa_batch_truncate(ursa_batch_t *b, size_t nrows);
size_t ursa_batch_bytes(const ursa_batch_t *b);

#endif
