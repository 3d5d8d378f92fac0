/*
 * fuzz_read.c -- libFuzzer driver for the Parquet reader (pq_reader_*):
 * the input is a whole file, served by an in-memory store. The reader
 * opens it and reads every row group, every readable column at once and
 * then each column alone, with limits lowered so that no file can make it
 * allocate more than a few hundred MiB. Invariants on success: the batch
 * has the row group's rows in every column, each column's length and
 * buffers agree with its type, and reading a column alone gives the same
 * values as reading it with the others. Then, per column, reads with a
 * predicate made from its first value (= and >=, or IS NULL): what comes
 * back must be well formed, every row must satisfy the predicate, and no
 * more rows may come than the full read holds that do (fewer may: a
 * hostile file's statistics can lie, and pruning believes them). On
 * failure: URSA_EFORMAT, ENOTSUP or ENOMEM with a message naming the key,
 * and an empty batch.
 */
#include "column.h"
#include "pq_pred.h"
#include "pq_read.h"
#include "store.h"
#include "../tests/unit/same_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_store {
    ursa_store_t base;
    const uint8_t *p;
    size_t n;
} mem_store_t;

static int mem_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                         ursa_err_t *err)
{
    const mem_store_t *m = (const mem_store_t *)st;
    out->len = 0;
    if (off > m->n) return URSA_OK;
    if (len > m->n - off) len = m->n - off;
    return ursa_buf_append(out, m->p + off, (size_t)len) ? ursa_err_set(err, URSA_ENOMEM, "oom") : URSA_OK;
}

/* No version token: the reader caches nothing from this store, so every
 * input is decoded afresh. */
static int mem_stat(ursa_store_t *st, const char *key, ursa_store_info_t *info, ursa_err_t *err)
{
    info->size = ((const mem_store_t *)st)->n;
    return URSA_OK;
}

static const struct ursa_store_ops MEM_OPS = {.get_range = mem_get_range, .stat = mem_stat};

static void check_column(const ursa_column_t *c, size_t rows)
{
    if (c->length != rows || c->null_count > rows) abort();
    if (c->validity.len < (rows + 7) / 8) abort();
    if (ursa_type_varlen(c->type)) {
        if (rows && c->offsets.len != (rows + 1) * 8) abort();
        const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
        for (size_t i = 0; rows && i < rows; i++)
            if (off[i] > off[i + 1]) abort();
        if (rows && (size_t)off[rows] != c->data.len) abort();
    } else if (c->type != URSA_TYPE_BOOL) {
        if (c->values.len != rows * c->width) abort();
    }
}

static bool same_column(const ursa_column_t *a, const ursa_column_t *b)
{
    if (a->length != b->length || a->null_count != b->null_count || a->values.len != b->values.len ||
        a->data.len != b->data.len)
        return false;
    for (size_t i = 0; i < a->length; i++)
        if (ursa_column_valid(a, i) != ursa_column_valid(b, i)) return false;
    if (a->type == URSA_TYPE_BOOL) {
        for (size_t i = 0; i < a->length; i++)
            if (ursa_column_valid(a, i) && ursa_column_bool(a, i) != ursa_column_bool(b, i)) return false;
        return true;
    }
    return (a->values.len == 0 || memcmp(a->values.data, b->values.data, a->values.len) == 0) &&
           (a->data.len == 0 || memcmp(a->data.data, b->data.data, a->data.len) == 0);
}

/* Reads rg with a predicate on projected column c made from its first
 * row in the full read b (op 0: =, 1: >=; IS NULL when that row is null). */
static void check_where(pq_reader_t *r, size_t rg, const size_t *cols, size_t n, size_t c,
                        const ursa_batch_t *b, int op)
{
    const ursa_column_t *col = &b->cols[c];
    if (b->nrows == 0) return;
    uint8_t one;
    pq_value_t v;
    pq_pred_t p = {cols[c], PQ_OP_IS_NULL, NULL, 0};
    if (ursa_column_valid(col, 0)) {
        if (col->type == URSA_TYPE_BOOL)
            one = ursa_column_bool(col, 0), v = (pq_value_t){&one, 1};
        else if (ursa_type_varlen(col->type))
            v.p = ursa_column_str(col, 0, &v.n);
        else
            v = (pq_value_t){ursa_column_ptr(col, 0), col->width};
        p = (pq_pred_t){cols[c], op ? PQ_OP_GE : PQ_OP_EQ, &v, 1};
    }
    uint8_t *keep = malloc(b->nrows);
    if (!keep) abort();
    memset(keep, 1, b->nrows);
    pq_pred_filter(&p, col, NULL, b->nrows, keep);
    size_t want = 0;
    for (size_t i = 0; i < b->nrows; i++) want += keep[i];
    free(keep);
    ursa_batch_t w;
    ursa_err_t err = {0};
    int64_t(*ranges)[2];
    size_t nranges;
    int rc = pq_reader_match_ranges(r, rg, &p, 1, &ranges, &nranges, &err);
    if (rc && ((rc != URSA_EFORMAT && rc != URSA_ENOMEM) || !strstr(err.msg, "f.parquet"))) abort();
    for (size_t i = 0; rc == URSA_OK && i < nranges; i++) /* ascending, apart, within the row group */
        if (ranges[i][0] >= ranges[i][1] || (i && ranges[i][0] <= ranges[i - 1][1]) || ranges[i][0] < 0 ||
            ranges[i][1] > (int64_t)b->nrows)
            abort();
    ursa_free(ranges);
    rc = pq_reader_read_where(r, rg, cols, n, &p, 1, &w, &err);
    if (rc) { /* a page index or bloom filter the full read did not need */
        if (rc != URSA_EFORMAT && rc != URSA_ENOMEM) abort();
        if (!strstr(err.msg, "f.parquet") || w.ncols || w.cols) abort();
        return;
    }
    if (w.ncols != n || w.nrows > want) abort();
    for (size_t k = 0; k < n; k++) check_column(&w.cols[k], w.nrows);
    if ((keep = malloc(w.nrows + 1)) == NULL) abort();
    memset(keep, 1, w.nrows);
    pq_pred_filter(&p, &w.cols[c], NULL, w.nrows, keep);
    for (size_t i = 0; i < w.nrows; i++)
        if (!keep[i]) abort();
    free(keep);
    ursa_batch_free(&w);
}

/* Reads rg in slices with dictionary codes on: every slice holds the full
 * read b's rows -- a STRING column given as codes, their dictionary's
 * strings -- or fails as a read may (a page index the full read did not
 * need). */
static void check_slices(pq_reader_t *r, size_t rg, const size_t *cols, size_t n, const ursa_batch_t *b)
{
    const ursa_schema_t *fs = pq_reader_schema(r);
    ursa_batch_t sl = {0};
    ursa_err_t err = {0};
    pq_reader_set_codes(r, PQ_CODES_PAGES);
    for (size_t first = 0; first < b->nrows; first += 1000) {
        size_t cnt = b->nrows - first < 1000 ? b->nrows - first : 1000;
        int rc = pq_reader_read_rows_into(r, rg, cols, n, (int64_t)first, (int64_t)cnt, &sl, &err);
        if (rc) {
            if (rc != URSA_EFORMAT && rc != URSA_ENOMEM) abort();
            if (!strstr(err.msg, "f.parquet")) abort();
            break;
        }
        if (sl.nrows != cnt || sl.ncols != n) abort();
        for (size_t c = 0; c < n; c++) {
            const ursa_column_t *col = &sl.cols[c];
            if (fs->fields[cols[c]].type == URSA_TYPE_STRING && col->type == URSA_TYPE_UINT32) {
                const int64_t *off;
                const uint8_t *d;
                size_t nd, len;
                uint64_t id;
                if (!pq_reader_codes_dict(r, cols[c], &off, &d, &nd, &id)) abort();
                for (size_t k = 0; k < cnt; k++) {
                    if (ursa_column_valid(col, k) != ursa_column_valid(&b->cols[c], first + k)) abort();
                    if (!ursa_column_valid(col, k)) continue;
                    uint32_t code = ((const uint32_t *)(const void *)col->values.data)[k];
                    const uint8_t *want = ursa_column_str(&b->cols[c], first + k, &len);
                    if (code >= nd || (size_t)(off[code + 1] - off[code]) != len ||
                        (len && memcmp(d + off[code], want, len) != 0))
                        abort();
                }
                continue;
            }
            check_column(col, cnt);
            for (size_t k = 0; k < cnt; k++)
                if (!same_row(col, k, &b->cols[c], first + k)) abort();
        }
    }
    pq_reader_set_codes(r, PQ_CODES_OFF);
    ursa_batch_free(&sl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mem_store_t st = {{&MEM_OPS, NULL}, data, size};
    pq_reader_t *r = NULL;
    ursa_err_t err = {0};
    int rc = pq_reader_open(&r, &st.base, "f.parquet", &err);
    if (rc) {
        if (rc != URSA_EFORMAT && rc != URSA_ENOMEM) abort();
        if (!strstr(err.msg, "f.parquet") || r) abort();
        return 0;
    }
    pq_reader_limits_t lim = {1 << 24, 1 << 20, 1 << 20, 1 << 24};
    pq_reader_set_limits(r, &lim);
    const pq_file_meta_t *m = pq_reader_meta(r);
    size_t *cols = malloc((m->nleaves + 1) * sizeof(size_t)), n = 0;
    if (!cols) abort();
    for (size_t i = 0; i < m->nleaves; i++)
        if (!pq_reader_column_why(r, i)) cols[n++] = i;
    for (size_t g = 0; g < m->nrow_groups && g < 4; g++) {
        ursa_batch_t b;
        rc = pq_reader_read(r, g, cols, n, &b, &err);
        if (rc) {
            if (rc != URSA_EFORMAT && rc != URSA_ENOMEM && rc != URSA_ENOTSUP) abort();
            if (!strstr(err.msg, "f.parquet") || b.ncols || b.cols) abort();
            continue;
        }
        if (b.ncols != n || (int64_t)b.nrows != m->row_groups[g].num_rows) abort();
        for (size_t c = 0; c < n; c++) {
            check_column(&b.cols[c], b.nrows);
            ursa_batch_t one;
            if (pq_reader_read(r, g, &cols[c], 1, &one, &err)) abort(); /* it read before */
            if (!same_column(&b.cols[c], &one.cols[0])) abort();
            ursa_batch_free(&one);
        }
        for (size_t c = 0; c < n && c < 4; c++)
            for (int op = 0; op < 2; op++) check_where(r, g, cols, n, c, &b, op);
        check_slices(r, g, cols, n, &b);
        ursa_batch_free(&b);
    }
    free(cols);
    pq_reader_destroy(&r);
    return 0;
}
