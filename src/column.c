/*
 * column.c -- Arrow-layout columns: append, truncate, take.
 */
#include "column.h"

#include <string.h>

void ursa_column_init_field(ursa_column_t *c, const ursa_field_t *f)
{
    memset(c, 0, sizeof(*c));
    c->type = f->type;
    c->width = ursa_field_width(f);
}

void ursa_column_init(ursa_column_t *c, ursa_type_t t)
{
    ursa_field_t f = {.type = t, .precision = 18, .unit = URSA_UNIT_US, .utc = true};
    ursa_column_init_field(c, &f);
}

void ursa_column_free(ursa_column_t *c)
{
    ursa_buf_free(&c->validity);
    ursa_buf_free(&c->values);
    ursa_buf_free(&c->offsets);
    ursa_buf_free(&c->data);
    c->length = c->null_count = 0;
}

int ursa_column_reserve(ursa_column_t *c, size_t bytes)
{
    int rc = URSA_OK;
    /* Every buffer is grown before anything is written, so a failure
     * leaves the column as it was. */
    if ((c->length & 7) == 0) rc = ursa_buf_reserve(&c->validity, 1);
    if (rc) return rc;
    if (c->type == URSA_TYPE_BOOL) {
        if ((c->length & 7) == 0) rc = ursa_buf_reserve(&c->values, 1);
    } else if (ursa_type_varlen(c->type)) {
        /* The data buffer is allocated with the first row, so that
         * ursa_column_str() never adds an offset to a NULL pointer. */
        if ((rc = ursa_buf_reserve(&c->offsets, c->offsets.len ? 8 : 16)) ||
            (rc = ursa_buf_reserve(&c->data, bytes > 64 ? bytes : 64)))
            return rc;
        if (c->offsets.len == 0) {
            int64_t zero = 0;
            memcpy(c->offsets.data, &zero, 8);
            c->offsets.len = 8;
        }
    } else {
        rc = ursa_buf_reserve(&c->values, bytes);
    }
    return rc;
}

int ursa_column_append_null(ursa_column_t *c)
{
    int rc = ursa_column_reserve(c, ursa_type_varlen(c->type) ? 0 : c->width);
    if (rc) return rc;
    if (c->type == URSA_TYPE_BOOL) {
        if ((c->length & 7) == 0)
            c->values.data[c->values.len++] = 0;
        else
            ursa_bit_set(c->values.data, c->length, false);
    } else if (ursa_type_varlen(c->type)) {
        int64_t end = (int64_t)c->data.len;
        memcpy(c->offsets.data + c->offsets.len, &end, 8);
        c->offsets.len += 8;
    } else {
        memset(c->values.data + c->values.len, 0, c->width);
        c->values.len += c->width;
    }
    ursa_column_end_row_(c, false);
    return URSA_OK;
}

void ursa_column_truncate(ursa_column_t *c, size_t length)
{
    if (length >= c->length) return;
    size_t nulls = 0;
    for (size_t i = length; i < c->length; i++) nulls += !ursa_column_valid(c, i);
    c->null_count -= nulls;
    c->validity.len = (length + 7) / 8;
    if (c->type == URSA_TYPE_BOOL) {
        c->values.len = (length + 7) / 8;
    } else if (ursa_type_varlen(c->type)) {
        const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
        c->data.len = (size_t)off[length];
        c->offsets.len = (length + 1) * sizeof(int64_t);
    } else {
        c->values.len = length * c->width;
    }
    c->length = length;
}

/* Appends row i of src to dst. */
static inline int take_one(ursa_column_t *dst, const ursa_column_t *src, size_t i)
{
    if (!ursa_column_valid(src, i)) return ursa_column_append_null(dst);
    if (src->type == URSA_TYPE_BOOL) return ursa_column_append_bool(dst, ursa_column_bool(src, i));
    if (ursa_type_varlen(src->type)) {
        size_t len;
        const uint8_t *s = ursa_column_str(src, i, &len);
        return ursa_column_append_str(dst, s, len);
    }
    return ursa_column_append_fixed(dst, ursa_column_ptr(src, i));
}

int ursa_column_take(ursa_column_t *dst, const ursa_column_t *src, const uint32_t *idx, size_t n)
{
    int rc = URSA_OK;
    if (dst->type != src->type || dst->width != src->width) return URSA_EINVAL;
    for (size_t k = 0; k < n && rc == URSA_OK; k++) rc = take_one(dst, src, idx[k]);
    return rc;
}

int ursa_column_take_refs(ursa_column_t *dst, ursa_batch_t *const *batches, size_t col, const uint64_t *refs,
                          size_t n)
{
    int rc = URSA_OK;
    for (size_t k = 0; k < n && rc == URSA_OK; k++) {
        const ursa_column_t *src = &batches[URSA_REF_BATCH(refs[k])]->cols[col];
        if (dst->type != src->type || dst->width != src->width) return URSA_EINVAL;
        rc = take_one(dst, src, URSA_REF_ROW(refs[k]));
    }
    return rc;
}

size_t ursa_column_bytes(const ursa_column_t *c)
{
    return c->validity.cap + c->values.cap + c->offsets.cap + c->data.cap;
}

int ursa_batch_init(ursa_batch_t *b, const ursa_schema_t *s)
{
    size_t n = ursa_schema_nfields(s);
    memset(b, 0, sizeof(*b));
    b->cols = ursa_calloc(n ? n : 1, sizeof(ursa_column_t));
    if (!b->cols) return URSA_ENOMEM;
    b->ncols = n;
    for (size_t i = 0; i < n; i++) ursa_column_init_field(&b->cols[i], &s->fields[i]);
    return URSA_OK;
}

int ursa_column_append_nulls(ursa_column_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ursa_column_append_null(c)) return URSA_ENOMEM;
    return URSA_OK;
}

int ursa_batch_widen(ursa_batch_t *b, const ursa_schema_t *s, size_t n)
{
    if (n <= b->ncols) return URSA_OK;
    ursa_column_t *cols = ursa_realloc(b->cols, n * sizeof(*cols));
    if (!cols) return URSA_ENOMEM;
    b->cols = cols;
    while (b->ncols < n) {
        ursa_column_t *c = &b->cols[b->ncols];
        ursa_column_init_field(c, &s->fields[b->ncols]);
        b->ncols++;
        if (ursa_column_append_nulls(c, b->nrows)) return URSA_ENOMEM;
    }
    return URSA_OK;
}

void ursa_batch_free(ursa_batch_t *b)
{
    for (size_t i = 0; i < b->ncols; i++) ursa_column_free(&b->cols[i]);
    ursa_free(b->cols);
    memset(b, 0, sizeof(*b));
}

void ursa_batch_narrow(ursa_batch_t *b, size_t n)
{
    while (b->ncols > n) ursa_column_free(&b->cols[--b->ncols]);
}

void ursa_batch_truncate(ursa_batch_t *b, size_t nrows)
{
    for (size_t i = 0; i < b->ncols; i++) ursa_column_truncate(&b->cols[i], nrows);
    if (nrows < b->nrows) b->nrows = nrows;
}

/* Encoding: u64 rows (the low 48 bits; the high 16 hold the number of
 * columns, 0 in records written before schemas could evolve: all of
 * them), then per column u64 null_count, the validity bytes,
 * and the values (fixed width or bit-packed), or for variable-length
 * columns the rows + 1 offsets and the data bytes. Everything is in the
 * machine's byte order: the log is read back by the same machine. */
/* Byte off of buffer b (NULL when b has none: an empty column). */
static const uint8_t *at(const ursa_buf_t *b, size_t off)
{
    return b->data ? b->data + off : NULL;
}

/* Nulls among rows [from, to) of c (from a multiple of 8). */
static size_t nulls_in(const ursa_column_t *c, size_t from, size_t to)
{
    if (from == 0 && to == c->length) return c->null_count;
    size_t valid = 0, i = from;
    const uint8_t *v = c->validity.data;
    for (; i + 64 <= to; i += 64) {
        uint64_t w;
        memcpy(&w, v + i / 8, 8);
        valid += (size_t)__builtin_popcountll(w);
    }
    for (; i < to; i++) valid += ursa_bit_get(v, i);
    return (to - from) - valid;
}

int ursa_batch_encode_rows(const ursa_batch_t *b, size_t from, size_t to, ursa_buf_t *out)
{
    if (from % 8 || from > to || to > b->nrows) return URSA_EINVAL;
    size_t rows = to - from;
    uint64_t word = rows | (uint64_t)b->ncols << URSA_BATCH_NCOLS_SHIFT;
    int rc = ursa_buf_append(out, &word, 8);
    for (size_t i = 0; i < b->ncols && rc == URSA_OK; i++) {
        const ursa_column_t *c = &b->cols[i];
        uint64_t nulls = nulls_in(c, from, to);
        size_t bm = (rows + 7) / 8;
        rc = ursa_buf_append(out, &nulls, 8);
        if (rc == URSA_OK) rc = ursa_buf_append(out, at(&c->validity, from / 8), bm);
        if (rc) break;
        if (c->type == URSA_TYPE_BOOL) {
            rc = ursa_buf_append(out, at(&c->values, from / 8), bm);
        } else if (ursa_type_varlen(c->type)) {
            /* a column that never had a row has no offsets yet */
            const int64_t *off = c->offsets.data ? (const int64_t *)(const void *)c->offsets.data : NULL;
            int64_t base = off ? off[from] : 0, end = off ? off[to] : 0;
            if (!off || base == 0) {
                int64_t zero = 0;
                rc = off ? ursa_buf_append(out, off + from, (rows + 1) * 8) : ursa_buf_append(out, &zero, 8);
            } else if ((rc = ursa_buf_reserve(out, (rows + 1) * 8)) == URSA_OK) {
                int64_t *dst = (int64_t *)(void *)(out->data + out->len); /* rebased to start at 0 */
                for (size_t k = 0; k <= rows; k++) {
                    int64_t o = off[from + k] - base;
                    memcpy(dst + k, &o, 8);
                }
                out->len += (rows + 1) * 8;
            }
            if (rc == URSA_OK) rc = ursa_buf_append(out, at(&c->data, (size_t)base), (size_t)(end - base));
        } else {
            rc = ursa_buf_append(out, at(&c->values, from * c->width), rows * c->width);
        }
    }
    return rc;
}

int ursa_batch_encode(const ursa_batch_t *b, ursa_buf_t *out)
{
    return ursa_batch_encode_rows(b, 0, b->nrows, out);
}

size_t ursa_batch_rows_encoded_size(const ursa_batch_t *b, size_t from, size_t to)
{
    size_t rows = to - from, n = 8;
    for (size_t i = 0; i < b->ncols; i++) {
        const ursa_column_t *c = &b->cols[i];
        size_t bm = (rows + 7) / 8;
        n += 8 + bm;
        if (c->type == URSA_TYPE_BOOL) {
            n += bm;
        } else if (ursa_type_varlen(c->type)) {
            const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
            n += (rows + 1) * 8 + (off ? (size_t)(off[to] - off[from]) : 0);
        } else {
            n += rows * c->width;
        }
    }
    return n;
}

size_t ursa_batch_encoded_size(const ursa_batch_t *b)
{
    return ursa_batch_rows_encoded_size(b, 0, b->nrows);
}

/* Takes n bytes at *p into buffer dst (replacing it). */
static int take(ursa_buf_t *dst, const uint8_t **p, const uint8_t *end, size_t n)
{
    if ((size_t)(end - *p) < n) return URSA_EFORMAT;
    dst->len = 0;
    int rc = ursa_buf_append(dst, *p, n);
    *p += n;
    return rc;
}

int ursa_batch_decode(ursa_batch_t *b, const ursa_schema_t *s, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    uint64_t rows;
    if (n < 8 || b->ncols != ursa_schema_nfields(s)) return URSA_EFORMAT;
    memcpy(&rows, p, 8);
    p += 8;
    /* A batch written before the schema gained columns has fewer: those
     * read as nulls. */
    size_t ncols = (size_t)(rows >> URSA_BATCH_NCOLS_SHIFT);
    rows &= ((uint64_t)1 << URSA_BATCH_NCOLS_SHIFT) - 1;
    if (ncols == 0) ncols = b->ncols;
    if (ncols > b->ncols) return URSA_EFORMAT;
    if (rows > n * 8) return URSA_EFORMAT; /* every row takes at least one bit */
    for (size_t i = 0; i < ncols; i++) {
        ursa_column_t *c = &b->cols[i];
        uint64_t nulls;
        size_t bm = (size_t)(rows + 7) / 8;
        int rc;
        if ((size_t)(end - p) < 8) return URSA_EFORMAT;
        memcpy(&nulls, p, 8);
        p += 8;
        if (nulls > rows || (rc = take(&c->validity, &p, end, bm))) return URSA_EFORMAT;
        if (c->type == URSA_TYPE_BOOL) {
            rc = take(&c->values, &p, end, bm);
        } else if (ursa_type_varlen(c->type)) {
            if ((rc = take(&c->offsets, &p, end, (size_t)(rows + 1) * 8))) return rc;
            const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
            if (off[0] != 0) return URSA_EFORMAT;
            for (size_t k = 0; k < rows; k++)
                if (off[k + 1] < off[k]) return URSA_EFORMAT;
            rc = take(&c->data, &p, end, (size_t)off[rows]);
        } else {
            if (rows > SIZE_MAX / (c->width ? c->width : 1)) return URSA_EFORMAT;
            rc = take(&c->values, &p, end, (size_t)rows * c->width);
        }
        if (rc) return rc;
        c->length = (size_t)rows;
        c->null_count = (size_t)nulls;
    }
    if (p != end) return URSA_EFORMAT;
    for (size_t i = ncols; i < b->ncols; i++)
        if (ursa_column_append_nulls(&b->cols[i], (size_t)rows)) return URSA_ENOMEM;
    b->nrows = (size_t)rows;
    return URSA_OK;
}

size_t ursa_batch_bytes(const ursa_batch_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->ncols; i++) n += ursa_column_bytes(&b->cols[i]);
    return n;
}
