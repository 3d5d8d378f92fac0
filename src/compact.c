/*
 * compact.c -- the merge engine of compaction (see compact.h).
 *
 * Design. Every input is a sorted run by the schema's sort key (a flush
 * writes each day's rows sorted, and says so in every row group's
 * sorting_columns). A cursor reads its run a window of rows at a time
 * (pq_reader_read_rows: only the pages holding them; never a whole file)
 * into a batch shaped like the schema: the file's columns matched by name,
 * a column the file lacks filled with nulls. The cursors sit in a binary
 * min-heap ordered by their current row's key, ties by cursor number;
 * cursors are numbered in input order
 * (and a file's runs in file order), so rows with equal keys come out
 * input by input and, within one, in file order: the merge is stable.
 *
 * The top cursor gives not one row but every row up to the runner-up's
 * key (the smaller of the root's children): a run of n rows costs n key
 * comparisons and one sift. Short runs are gathered, GATHER_ROWS rows at a
 * time across the cursors' batches (column.h's row refs), into one reused
 * scratch batch; a run of DIRECT_ROWS or more is written straight from the
 * cursor's batch. A cursor's batch is replaced only after the gathered
 * rows are written, since refs point into it.
 *
 * Order is checked, not assumed. A file whose every row group declares the
 * schema's sort key (ascending, nulls first, by column names) in
 * sorting_columns is one run, and each step of its cursor checks that the
 * key does not go backwards: a file that lies fails the merge
 * (URSA_EFORMAT). Any other file is scanned first (its key columns only,
 * a window at a time) and cut where the key goes backwards: each piece
 * is a run of its own, with its own cursor (sharing the file's reader).
 * A fully shuffled file would make as many runs as half its rows, so the
 * runs are bounded (max_runs, URSA_ELIMIT beyond).
 *
 * Windows end where every column begins a page, when such a row lies
 * within the window (pq_reader_page_bound; the flush's pages of
 * PQ_DATASET_PAGE_ROWS rows all end on multiples of it): no page is then
 * decoded for two windows, and the decoded pages become the window without
 * a copy. A window decodes into the buffers of the one before it. Each
 * cursor's next window is loaded ahead by a prefetch thread (see
 * "prefetch") while the merge and the writer work.
 *
 * Memory: per cursor two windows (the current and the next), plus each
 * input's reader scratch, the gather batch and the writer's row group
 * (pq_write.h; row_group_bytes, URSA_COMPACT_ROW_GROUP_DEFAULT): the number
 * of runs times two windows, whatever the size of the day. A window is
 * window_bytes of its row group's uncompressed size, but the reader decodes
 * whole pages, so a column whose pages hold many rows (files written
 * without a page_rows bound) costs its whole decoded page per window
 * (docs/internals/compaction.md, "Memory").
 *
 * Outputs. Rows stream into "<out_base>-0.parquet"; once the bytes the
 * writer has handed to the store reach the target, the file ends before
 * the next row whose key differs from the last one emitted (equal keys
 * never straddle two files), and "<out_base>-1.parquet" begins. The
 * writer only hands over whole row groups, so a file exceeds the target by
 * at most a row group and the rows equal to its last key. Files are
 * written with the dataset's options (pq_write_opts_dataset: codec,
 * encodings, bloom filters, field ids, "ursa.schema", the sort key in
 * sorting_columns), into uncommitted store writers, and committed together
 * at the end: a failure before aborts them all, a failed commit deletes
 * the ones already published. The rows written must equal the rows the
 * inputs' footers declare, or the merge fails (URSA_EINTERNAL).
 *
 * Names (ursa_compact_name): a hash of the sorted input keys, so a merge
 * redone after a crash writes the same keys (and overwrites its own
 * leftovers rather than adding new objects).
 */
#include "compact.h"

#include "column.h"
#include "iceberg_meta.h"
#include "pq_read.h"
#include "sort.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GATHER_ROWS 8192
#define DIRECT_ROWS 1024

/* An input file: its reader and how the schema's fields map onto it. */
typedef struct input {
    const char *key;
    pq_reader_t *r;
    int *leaf;    /* per schema field: the file's leaf index, or -1 (nulls) */
    size_t *cols; /* the leaves to read, in schema order */
    size_t ncols;
    bool declared;      /* every row group declares the sort key */
    bool busy;          /* a window is being loaded with r (under the prefetch lock) */
    uint64_t *rg_first; /* per row group: its first row in the file (nrow_groups + 1 entries) */
} input_t;

/* A sorted run: rows [start, end) of an input, read a window at a time
 * into b, whose rows [pos, lim) are still to come. */
typedef struct cursor {
    input_t *in;
    uint64_t start, end;
    size_t rg;  /* the row group b comes from */
    size_t off; /* b's first row in that row group */
    ursa_batch_t b;
    size_t pos, lim;
    /* The next window (see "prefetch"), and where the one after begins. */
    int state;          /* NEXT_*, under the prefetch lock */
    ursa_batch_t next;  /* when ready: the window after b (empty: the run is done) */
    size_t next_rg;     /* its row group */
    size_t next_off;    /* its first row in that row group */
    ursa_batch_t spare; /* the window before b, whose buffers the loader reuses */
    size_t lrg;         /* the next load begins at row lrow of row group lrg */
    uint64_t lrow;
    int next_rc;
    ursa_err_t next_err;
} cursor_t;

/* The prefetch thread and its queue of cursors (see "prefetch"). */
typedef struct prefetch {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a request was queued, an input became free, or stop */
    pthread_cond_t done; /* a request was loaded */
    size_t *q;           /* cursor numbers, in the order they asked */
    size_t nq;
    bool stop, init, running;
    pthread_t th;
} prefetch_t;

/* A sink that counts what passes through it. */
typedef struct counting {
    ursa_sink_t inner;
    uint64_t bytes;
} counting_t;

static int counting_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    counting_t *c = ctx;
    int rc = c->inner.write(c->inner.ctx, p, n, err);
    if (rc == URSA_OK) c->bytes += n;
    return rc;
}

typedef struct merge {
    const ursa_compact_opts_t *o;
    const ursa_schema_t *s;
    int keys[URSA_SORT_KEYS_MAX];
    size_t nkeys;
    bool key_i64; /* the key is one INT64, TIMESTAMP or TIME column */
    pq_write_opts_t wo;
    uint64_t target;
    uint64_t window; /* bytes of a row group's uncompressed size read at a time */
    input_t *inputs;
    size_t ninputs;
    cursor_t *cur;
    size_t ncur;
    size_t *heap; /* cursor numbers */
    size_t nheap;
    ursa_batch_t **batches; /* each cursor's batch, for the gather */
    uint64_t *refs;         /* gathered rows, URSA_ROW_REF(cursor, row) */
    size_t nrefs;
    ursa_batch_t scratch;
    /* the output being written */
    ursa_store_writer_t **pending; /* uncommitted writers, one per output */
    ursa_compact_output_t *outs;
    size_t nouts, capouts;
    pq_writer_t *w;
    counting_t sink;
    /* set once the current output passed the target: the last key written */
    bool cut;
    ursa_batch_t last;
    prefetch_t pf;
    ursa_err_t *err;
} merge_t;

/* ---------------------------------------------------------------- naming */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ursa_compact_name(char *out, size_t n, const char *dataset, const char *date, const char *const *inputs,
                      size_t ninputs, const char *salt)
{
    const char **sorted = ursa_malloc((ninputs ? ninputs : 1) * sizeof(*sorted));
    if (!sorted) return URSA_ENOMEM;
    memcpy(sorted, inputs, ninputs * sizeof(*sorted));
    qsort(sorted, ninputs, sizeof(*sorted), cmp_str);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < ninputs; i++) {
        const unsigned char *p = (const unsigned char *)sorted[i];
        do { /* the NUL too: "ab","c" and "a","bc" differ */
            h ^= *p;
            h *= 0x100000001b3ull;
        } while (*p++);
    }
    for (const unsigned char *p = (const unsigned char *)(salt ? salt : ""); *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    ursa_free(sorted);
    int k = snprintf(out, n, "%s/date=%s/c-%016llx", dataset, date, (unsigned long long)h);
    return k < 0 || (size_t)k >= n ? URSA_EINVAL : URSA_OK;
}

/* ------------------------------------------------------------------ keys */

/* Empties c, keeping its buffers' room (ursa_column_truncate to 0 without
 * its walk over the rows). */
static void column_clear(ursa_column_t *c)
{
    c->length = c->null_count = 0;
    c->validity.len = c->values.len = c->data.len = 0;
    c->offsets.len = c->offsets.len ? 8 : 0; /* the leading 0 stays */
}

/* Compares row i of a with row j of b on the sort key (both schema-shaped,
 * or at least holding the key columns at the schema's indexes). A key of
 * one 64-bit signed column (the time column, every dataset's default)
 * without nulls is compared in place. */
static inline int key_cmp(const merge_t *m, const ursa_batch_t *a, size_t i, const ursa_batch_t *b, size_t j)
{
    if (m->key_i64) {
        const ursa_column_t *x = &a->cols[m->keys[0]], *y = &b->cols[m->keys[0]];
        if (!x->null_count && !y->null_count) {
            int64_t u = ursa_column_i64(x, i), v = ursa_column_i64(y, j);
            return (u > v) - (u < v);
        }
    }
    for (size_t k = 0; k < m->nkeys; k++) {
        int c = ursa_sort_cmp(&a->cols[m->keys[k]], i, &b->cols[m->keys[k]], j);
        if (c) return c;
    }
    return 0;
}

static bool is_key(const merge_t *m, size_t f)
{
    for (size_t k = 0; k < m->nkeys; k++)
        if (m->keys[k] == (int)f) return true;
    return false;
}

/* The last key emitted, as a one-row batch (key columns only, the others
 * empty), for the cut between outputs. */
static int keep_last(merge_t *m, const ursa_batch_t *b, size_t row)
{
    ursa_batch_truncate(&m->last, 0);
    uint32_t idx = (uint32_t)row;
    for (size_t k = 0; k < m->nkeys; k++) {
        int c = m->keys[k];
        if (ursa_column_take(&m->last.cols[c], &b->cols[c], &idx, 1)) return URSA_ENOMEM;
    }
    m->last.nrows = 1;
    return URSA_OK;
}

/* ---------------------------------------------------------------- inputs */

static bool same_type(const ursa_field_t *a, const ursa_field_t *b)
{
    if (a->type != b->type || ursa_field_width(a) != ursa_field_width(b)) return false;
    if (a->type == URSA_TYPE_TIMESTAMP && a->unit != b->unit) return false;
    if (a->type == URSA_TYPE_DECIMAL && a->scale != b->scale) return false;
    return true;
}

/* Opens input i and maps the schema onto its columns. */
static int open_input(merge_t *m, size_t i)
{
    input_t *in = &m->inputs[i];
    in->key = m->o->inputs[i];
    int rc = pq_reader_open(&in->r, m->o->store, in->key, m->err);
    if (rc) return rc;
    const ursa_schema_t *fs = pq_reader_schema(in->r);
    const pq_file_meta_t *meta = pq_reader_meta(in->r);
    in->leaf = ursa_malloc((m->s->nfields ? m->s->nfields : 1) * sizeof(*in->leaf));
    in->cols = ursa_malloc((m->s->nfields ? m->s->nfields : 1) * sizeof(*in->cols));
    in->rg_first = ursa_malloc((meta->nrow_groups + 1) * sizeof(*in->rg_first));
    if (!in->leaf || !in->cols || !in->rg_first) return URSA_ENOMEM;
    for (size_t f = 0; f < m->s->nfields; f++) {
        const ursa_field_t *sf = &m->s->fields[f];
        int l = pq_reader_find(in->r, sf->name);
        in->leaf[f] = l;
        if (l < 0) {
            if (!sf->nullable)
                return ursa_err_set(m->err, URSA_EFORMAT, "%s: lacks column %s, which is not nullable",
                                    in->key, sf->name);
            continue;
        }
        const char *why = pq_reader_column_why(in->r, (size_t)l);
        if (why || !same_type(&fs->fields[l], sf))
            return ursa_err_set(m->err, URSA_EFORMAT, "%s: column %s is %s%s%s, the schema's is %s", in->key,
                                sf->name, why ? "unreadable (" : ursa_type_name(fs->fields[l].type),
                                why ? why : "", why ? ")" : "", ursa_type_name(sf->type));
        in->cols[in->ncols++] = (size_t)l;
    }
    /* The declared order: every row group names the key, by leaf names. */
    in->declared = meta->nrow_groups > 0;
    in->rg_first[0] = 0;
    for (size_t g = 0; g < meta->nrow_groups; g++) {
        const pq_row_group_t *rg = &meta->row_groups[g];
        if (rg->num_rows < 0)
            return ursa_err_set(m->err, URSA_EFORMAT, "%s: row group %zu: negative rows", in->key, g);
        in->rg_first[g + 1] = in->rg_first[g] + (uint64_t)rg->num_rows;
        bool ok = rg->nsorting >= m->nkeys;
        for (size_t k = 0; ok && k < m->nkeys; k++) {
            const pq_sorting_column_t *sc = &rg->sorting[k];
            int want = in->leaf[m->keys[k]];
            ok = want >= 0 && sc->column_idx == want && !sc->descending && sc->nulls_first;
        }
        in->declared = in->declared && ok;
    }
    return URSA_OK;
}

/* The rows of row group g a window holds (see compact.h). */
static size_t window_rows(const merge_t *m, const input_t *in, size_t g)
{
    const pq_row_group_t *rg = &pq_reader_meta(in->r)->row_groups[g];
    uint64_t rows = (uint64_t)rg->num_rows,
             bytes = rg->total_byte_size > 0 ? (uint64_t)rg->total_byte_size : 1;
    uint64_t w = rows <= UINT64_MAX / m->window ? rows * m->window / bytes : rows;
    if (w < URSA_COMPACT_WINDOW_MIN_ROWS) w = URSA_COMPACT_WINDOW_MIN_ROWS;
    return (size_t)(w < rows ? w : rows);
}

/* Reads rows [first, first + count) of row group g of in into b, shaped
 * like the schema: its columns (all of them, or the key columns alone when
 * keys_only; the others empty) with nulls where the file has none. *b is
 * zeroed or an earlier window of the same shape, whose buffers are reused
 * (pq_reader_read_rows_into). b is empty on an error. */
static int read_window(merge_t *m, input_t *in, size_t g, size_t first, size_t count, bool keys_only,
                       ursa_batch_t *b, ursa_err_t *err)
{
    size_t cols[URSA_SORT_KEYS_MAX];
    const size_t *want = in->cols;
    size_t nwant = in->ncols;
    if (keys_only) { /* in schema order, as below */
        nwant = 0;
        for (size_t f = 0; f < m->s->nfields; f++)
            if (is_key(m, f) && in->leaf[f] >= 0) cols[nwant++] = (size_t)in->leaf[f];
        want = cols;
    }
    ursa_batch_t raw = {0};
    int rc = URSA_OK;
    size_t nrows = count;
    if (b->cols && b->ncols != m->s->nfields) ursa_batch_free(b);
    if (!b->cols) {
        memset(b, 0, sizeof(*b));
        if (!(b->cols = ursa_calloc(m->s->nfields ? m->s->nfields : 1, sizeof(*b->cols)))) return URSA_ENOMEM;
        b->ncols = m->s->nfields;
        for (size_t f = 0; f < m->s->nfields; f++) ursa_column_init_field(&b->cols[f], &m->s->fields[f]);
    }
    /* The file's columns of b go to the reader to decode into. */
    if (nwant && !(raw.cols = ursa_calloc(nwant, sizeof(*raw.cols)))) {
        rc = URSA_ENOMEM;
        goto out;
    }
    raw.ncols = nwant;
    for (size_t f = 0, j = 0; f < m->s->nfields && j < nwant; f++)
        if (in->leaf[f] >= 0 && (!keys_only || is_key(m, f))) {
            raw.cols[j++] = b->cols[f];
            ursa_column_init_field(&b->cols[f], &m->s->fields[f]); /* moved */
        }
    if (nwant &&
        (rc = pq_reader_read_rows_into(in->r, g, want, nwant, (int64_t)first, (int64_t)count, &raw, err)))
        goto out;
    if (nwant && raw.nrows != nrows) {
        rc = ursa_err_set(err, URSA_EFORMAT, "%s: row group %zu: %zu rows read, %zu declared", in->key, g,
                          raw.nrows, nrows);
        goto out;
    }
    b->nrows = nrows;
    size_t j = 0;
    for (size_t f = 0; f < m->s->nfields; f++) {
        bool key = is_key(m, f);
        if (in->leaf[f] >= 0 && (!keys_only || key)) {
            ursa_column_free(&b->cols[f]);
            b->cols[f] = raw.cols[j];
            memset(&raw.cols[j], 0, sizeof(raw.cols[j])); /* moved */
            j++;
            continue;
        }
        column_clear(&b->cols[f]);
        if ((!keys_only || key) && ursa_column_append_nulls(&b->cols[f], nrows)) {
            rc = URSA_ENOMEM;
            goto out;
        }
    }
out:
    ursa_batch_free(&raw);
    if (rc) ursa_batch_free(b);
    return rc;
}

/* Adds a cursor over rows [start, end) of in. */
static int add_cursor(merge_t *m, input_t *in, uint64_t start, uint64_t end)
{
    if (start == end) return URSA_OK;
    size_t max = m->o->max_runs ? m->o->max_runs : URSA_COMPACT_RUNS_DEFAULT;
    if (m->ncur == max)
        return ursa_err_set(
            m->err, URSA_ELIMIT,
            "%s: the inputs hold more than %zu sorted runs: too many to merge within the memory "
            "bound",
            in->key, max);
    m->cur[m->ncur++] = (cursor_t){.in = in, .start = start, .end = end};
    return URSA_OK;
}

/* Cuts an input whose order is not declared into sorted runs, reading its
 * key columns a window at a time. */
static int split_runs(merge_t *m, input_t *in)
{
    const pq_file_meta_t *meta = pq_reader_meta(in->r);
    ursa_batch_t prev = {0}, b = {0};
    uint64_t start = 0;
    int rc = URSA_OK;
    for (size_t g = 0; g < meta->nrow_groups; g++) {
        size_t rows = (size_t)meta->row_groups[g].num_rows, w = window_rows(m, in, g);
        for (size_t lo = 0; lo < rows; lo += w) {
            size_t cnt = rows - lo < w ? rows - lo : w;
            uint64_t at = in->rg_first[g] + lo; /* the window's first row in the file */
            if ((rc = read_window(m, in, g, lo, cnt, true, &b, m->err))) goto out;
            if (prev.nrows && key_cmp(m, &prev, prev.nrows - 1, &b, 0) > 0) {
                if ((rc = add_cursor(m, in, start, at))) goto out;
                start = at;
            }
            for (size_t i = 1; i < b.nrows; i++)
                if (key_cmp(m, &b, i - 1, &b, i) > 0) {
                    if ((rc = add_cursor(m, in, start, at + i))) goto out;
                    start = at + i;
                }
            ursa_batch_free(&prev);
            prev = b;
            memset(&b, 0, sizeof(b));
        }
    }
    rc = add_cursor(m, in, start, in->rg_first[meta->nrow_groups]);
out:
    ursa_batch_free(&prev);
    ursa_batch_free(&b);
    return rc;
}

/* ------------------------------------------------------------- the output */

static int open_output(merge_t *m)
{
    if (m->nouts == m->capouts) {
        size_t cap = m->capouts ? m->capouts * 2 : 4;
        ursa_compact_output_t *o = ursa_realloc(m->outs, cap * sizeof(*o));
        if (!o) return URSA_ENOMEM;
        m->outs = o;
        ursa_store_writer_t **p = ursa_realloc(m->pending, cap * sizeof(*p));
        if (!p) return URSA_ENOMEM;
        m->pending = p;
        for (size_t k = m->capouts; k < cap; k++)
            m->outs[k] = (ursa_compact_output_t){0}, m->pending[k] = NULL;
        m->capouts = cap;
    }
    ursa_compact_output_t *out = &m->outs[m->nouts];
    char key[URSA_COMPACT_KEY_MAX];
    int n = snprintf(key, sizeof(key), "%s-%zu.parquet", m->o->out_base, m->nouts);
    if (n < 0 || (size_t)n >= sizeof(key)) return ursa_err_set(m->err, URSA_EINVAL, "output key too long");
    if (!(out->key = ursa_strdup(key))) return URSA_ENOMEM;
    m->nouts++;
    int rc = ursa_store_writer_open(m->o->store, key, &m->pending[m->nouts - 1], m->err);
    if (rc) return rc;
    m->sink = (counting_t){ursa_store_writer_sink(m->pending[m->nouts - 1]), 0};
    return pq_writer_new(&m->w, m->s, &m->wo, (ursa_sink_t){counting_write, &m->sink}, m->err);
}

static int close_output(merge_t *m)
{
    ursa_compact_output_t *out = &m->outs[m->nouts - 1];
    int rc = pq_writer_close(m->w, &out->bytes, m->err);
    pq_writer_destroy(&m->w);
    return rc;
}

/* Writes rows [off, off + n) of b to the output, and notes when the
 * output has reached its target. */
static int write_rows(merge_t *m, const ursa_batch_t *b, size_t off, size_t n)
{
    if (!m->w) {
        int rc = open_output(m);
        if (rc) return rc;
    }
    int rc = pq_writer_write(m->w, b, off, n, m->err);
    if (rc) return rc;
    m->outs[m->nouts - 1].rows += n;
    if (!m->cut && m->sink.bytes >= m->target) {
        m->cut = true;
        return keep_last(m, b, off + n - 1);
    }
    return URSA_OK;
}

/* Writes the gathered rows. */
/* Appends the gathered rows of field f to the empty column dst: the
 * common cases (no nulls in the sources; fixed width, or strings) in
 * tight loops, the others by ursa_column_take_refs. */
static int gather_column(merge_t *m, ursa_column_t *dst, size_t f)
{
    const uint64_t *refs = m->refs;
    size_t n = m->nrefs;
    ursa_batch_t *const *bs = m->batches;
    bool simple = dst->length == 0 && dst->type != URSA_TYPE_BOOL;
    for (size_t k = 0; simple && k < m->ncur; k++) { /* the batches the refs may point into */
        if (!bs[k] || !bs[k]->cols || !bs[k]->nrows) continue;
        const ursa_column_t *c = &bs[k]->cols[f];
        simple = !c->null_count && c->type == dst->type && c->width == dst->width;
    }
    if (!simple) return ursa_column_take_refs(dst, bs, f, refs, n) ? URSA_ENOMEM : URSA_OK;
    if (ursa_buf_reserve(&dst->validity, n / 8 + 1)) return URSA_ENOMEM;
    if (ursa_type_varlen(dst->type)) {
        if (ursa_buf_reserve(&dst->offsets, (n + 1) * 8)) return URSA_ENOMEM;
        int64_t *off = (int64_t *)(void *)dst->offsets.data;
        off[0] = 0;
        for (size_t k = 0; k < n; k++) {
            size_t len;
            const uint8_t *p =
                ursa_column_str(&bs[URSA_REF_BATCH(refs[k])]->cols[f], URSA_REF_ROW(refs[k]), &len);
            if (dst->data.cap - dst->data.len < len && ursa_buf_reserve(&dst->data, len > 64 ? len : 64))
                return URSA_ENOMEM;
            memcpy(dst->data.data + dst->data.len, p, len);
            dst->data.len += len;
            off[k + 1] = (int64_t)dst->data.len;
        }
        if (!dst->data.data && ursa_buf_reserve(&dst->data, 64))
            return URSA_ENOMEM; /* never NULL (column.c) */
        dst->offsets.len = (n + 1) * 8;
    } else {
        size_t w = dst->width;
        if (ursa_buf_reserve(&dst->values, n * w)) return URSA_ENOMEM;
        uint8_t *v = dst->values.data;
        if (w == 8)
            for (size_t k = 0; k < n; k++)
                memcpy(v + 8 * k,
                       ursa_column_ptr(&bs[URSA_REF_BATCH(refs[k])]->cols[f], URSA_REF_ROW(refs[k])), 8);
        else
            for (size_t k = 0; k < n; k++)
                memcpy(v + w * k,
                       ursa_column_ptr(&bs[URSA_REF_BATCH(refs[k])]->cols[f], URSA_REF_ROW(refs[k])), w);
        dst->values.len = n * w;
    }
    /* Every row valid: whole bytes of ones, the last byte's rows only. */
    memset(dst->validity.data, 0xff, n / 8);
    if (n % 8) dst->validity.data[n / 8] = (uint8_t)((1u << (n % 8)) - 1);
    dst->validity.len = (n + 7) / 8;
    dst->length = n;
    dst->null_count = 0;
    return URSA_OK;
}

static int flush_gather(merge_t *m)
{
    if (!m->nrefs) return URSA_OK;
    for (size_t f = 0; f < m->s->nfields; f++) column_clear(&m->scratch.cols[f]);
    m->scratch.nrows = 0;
    for (size_t f = 0; f < m->s->nfields; f++)
        if (gather_column(m, &m->scratch.cols[f], f)) return URSA_ENOMEM;
    m->scratch.nrows = m->nrefs;
    size_t n = m->nrefs;
    m->nrefs = 0;
    return write_rows(m, &m->scratch, 0, n);
}

/* Ends the current output when it passed the target and the next row
 * (row of b) has another key than the last one emitted. */
static int maybe_cut(merge_t *m, const ursa_batch_t *b, size_t row)
{
    if (!m->cut || key_cmp(m, b, row, &m->last, 0) == 0) return URSA_OK;
    int rc = flush_gather(m);
    if (rc) return rc;
    m->cut = false;
    return close_output(m); /* the next write opens the next one */
}

/* ---------------------------------------------------------------- cursors */

/* Loads the cursor's next window into c->next: the rows from (lrg, lrow)
 * on, up to a window, within one row group and the cursor's run (none:
 * c->next empty). The loader's side of the prefetch (see below): it runs
 * on the prefetch thread or on the merge's, and touches only c's loader
 * fields, its input's reader and err. */
static int load_next(merge_t *m, cursor_t *c, ursa_err_t *err)
{
    const pq_file_meta_t *meta = pq_reader_meta(c->in->r);
    const uint64_t *rf = c->in->rg_first;
    size_t g = c->lrg;
    uint64_t row = c->lrow; /* within row group g */
    for (;; g++, row = 0) {
        if (g >= meta->nrow_groups || rf[g] + row >= c->end) {
            ursa_batch_free(&c->spare);
            ursa_batch_free(&c->next);
            return URSA_OK;
        }
        if (row < (uint64_t)meta->row_groups[g].num_rows) break;
    }
    uint64_t hi = rf[g + 1] - rf[g], w = window_rows(m, c->in, g);
    if (c->end - rf[g] < hi) hi = c->end - rf[g];
    if (row + w < hi) {
        /* End the window where a page begins in every column, if one
         * does within it: no page is then decoded for two windows, and
         * the decoded pages become the window without a copy. */
        int64_t e;
        int rc = pq_reader_page_bound(c->in->r, g, c->in->cols, c->in->ncols, (int64_t)row + 1,
                                      (int64_t)(row + w), &e, err);
        if (rc) return rc;
        hi = (uint64_t)e;
    }
    ursa_batch_t nb = c->spare;
    memset(&c->spare, 0, sizeof(c->spare));
    int rc = read_window(m, c->in, g, (size_t)row, (size_t)(hi - row), false, &nb, err);
    if (rc) return rc;
    c->next = nb;
    c->next_rg = g;
    c->next_off = (size_t)row;
    c->lrg = g;
    c->lrow = hi;
    return URSA_OK;
}

/* ---------------------------------------------------------------- prefetch
 *
 * Each cursor's next window is loaded ahead, by the prefetch thread, while
 * the merge works through the current one: decoding then overlaps the
 * merge and the writer. A cursor asks for its next window as soon as it
 * takes one (enqueue); the thread loads the requests in order, one at a
 * time, skipping those whose input's reader is busy (the runs of one
 * unsorted input share it). When the merge needs a window not loaded yet
 * it loads it itself if nobody has begun to, or waits. Ownership: while a
 * request is queued or running, its cursor's loader fields (next, spare,
 * lrg, lrow, next_*) are the loader's; once ready, the merge's. Without the
 * thread (pq threads 1, or none could start) the merge loads every window
 * itself, when it needs it. Memory: two windows per run (the current and
 * the next). */

enum { NEXT_NONE, NEXT_QUEUED, NEXT_RUNNING, NEXT_READY };

/* Under the lock: runs cursor k's queued request on this thread. */
static void run_request(merge_t *m, size_t k)
{
    cursor_t *c = &m->cur[k];
    prefetch_t *pf = &m->pf;
    for (size_t i = 0; i < pf->nq; i++)
        if (pf->q[i] == k) {
            memmove(&pf->q[i], &pf->q[i + 1], (pf->nq - i - 1) * sizeof(*pf->q));
            pf->nq--;
            break;
        }
    c->state = NEXT_RUNNING;
    c->in->busy = true;
    pthread_mutex_unlock(&pf->mu);
    c->next_err.msg[0] = '\0';
    c->next_rc = load_next(m, c, &c->next_err);
    pthread_mutex_lock(&pf->mu);
    c->state = NEXT_READY;
    c->in->busy = false;
    pthread_cond_broadcast(&pf->done);
    pthread_cond_signal(&pf->work); /* the input is free again */
}

static void *prefetch_main(void *arg)
{
    merge_t *m = arg;
    prefetch_t *pf = &m->pf;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        size_t i = 0;
        while (i < pf->nq && m->cur[pf->q[i]].in->busy) i++;
        if (pf->stop) break;
        if (i == pf->nq) {
            pthread_cond_wait(&pf->work, &pf->mu);
            continue;
        }
        run_request(m, pf->q[i]);
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

/* Asks for cursor k's next window. */
static void enqueue(merge_t *m, size_t k)
{
    prefetch_t *pf = &m->pf;
    pthread_mutex_lock(&pf->mu);
    m->cur[k].state = NEXT_QUEUED;
    pf->q[pf->nq++] = k;
    pthread_cond_signal(&pf->work);
    pthread_mutex_unlock(&pf->mu);
}

static int prefetch_start(merge_t *m)
{
    prefetch_t *pf = &m->pf;
    if (!(pf->q = ursa_malloc((m->ncur ? m->ncur : 1) * sizeof(*pf->q)))) return URSA_ENOMEM;
    if (pthread_mutex_init(&pf->mu, NULL)) return URSA_ENOMEM;
    if (pthread_cond_init(&pf->work, NULL)) {
        pthread_mutex_destroy(&pf->mu);
        return URSA_ENOMEM;
    }
    if (pthread_cond_init(&pf->done, NULL)) {
        pthread_cond_destroy(&pf->work);
        pthread_mutex_destroy(&pf->mu);
        return URSA_ENOMEM;
    }
    pf->init = true;
    /* No thread is no error: the merge then loads every window itself. */
    if (m->o->pq->threads != 1 && pthread_create(&pf->th, NULL, prefetch_main, m) == 0) pf->running = true;
    return URSA_OK;
}

/* Stops the thread (after the request it runs, if any) and frees the rest. */
static void prefetch_stop(merge_t *m)
{
    prefetch_t *pf = &m->pf;
    if (pf->running) {
        pthread_mutex_lock(&pf->mu);
        pf->stop = true;
        pthread_cond_broadcast(&pf->work);
        pthread_mutex_unlock(&pf->mu);
        pthread_join(pf->th, NULL);
        pf->running = false;
    }
    if (pf->init) {
        pthread_cond_destroy(&pf->done);
        pthread_cond_destroy(&pf->work);
        pthread_mutex_destroy(&pf->mu);
        pf->init = false;
    }
    ursa_free(pf->q);
    pf->q = NULL;
}

/* Moves the cursor to its next window (loaded ahead, or loaded now), and
 * asks for the one after; lim == pos when it has none left. The new
 * window's first row must not come before the old one's last (for a
 * declared run). */
static int advance(merge_t *m, size_t k)
{
    cursor_t *c = &m->cur[k];
    prefetch_t *pf = &m->pf;
    if (m->o->cancel && atomic_load(m->o->cancel))
        return ursa_err_set(m->err, URSA_ECANCELED, "the merge was stopped (the node is shutting down)");
    pthread_mutex_lock(&pf->mu);
    while (c->state != NEXT_READY) {
        if (c->state == NEXT_QUEUED && !c->in->busy)
            run_request(m, k);
        else
            pthread_cond_wait(&pf->done, &pf->mu);
    }
    c->state = NEXT_NONE;
    pthread_mutex_unlock(&pf->mu);
    if (c->next_rc) {
        if (m->err) *m->err = c->next_err;
        return c->next_rc;
    }
    const uint64_t *rf = c->in->rg_first;
    ursa_batch_t *nb = &c->next;
    if (c->b.nrows && nb->nrows && key_cmp(m, &c->b, c->b.nrows - 1, nb, 0) > 0)
        return ursa_err_set(m->err, URSA_EFORMAT,
                            "%s: declares its rows sorted by the key but row %llu comes before row %llu",
                            c->in->key, (unsigned long long)(rf[c->next_rg] + c->next_off),
                            (unsigned long long)(rf[c->next_rg] + c->next_off - 1));
    c->spare = c->b; /* the loader's to reuse (the gathered rows that pointed into it are written) */
    c->b = *nb;
    memset(nb, 0, sizeof(*nb));
    c->rg = c->next_rg;
    c->off = c->next_off;
    c->pos = 0;
    c->lim = c->b.nrows;
    if (c->lim == 0) {
        ursa_batch_free(&c->b);
        ursa_batch_free(&c->spare);
        return URSA_OK;
    }
    enqueue(m, k);
    return URSA_OK;
}

/* True when cursor a's row comes before cursor b's (ties: lower number). */
static inline bool before(const merge_t *m, size_t a, size_t b)
{
    const cursor_t *x = &m->cur[a], *y = &m->cur[b];
    int c = key_cmp(m, &x->b, x->pos, &y->b, y->pos);
    return c < 0 || (c == 0 && a < b);
}

static void sift_down(merge_t *m, size_t i)
{
    size_t n = m->nheap;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < n && before(m, m->heap[l], m->heap[best])) best = l;
        if (l + 1 < n && before(m, m->heap[l + 1], m->heap[best])) best = l + 1;
        if (best == i) return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[best];
        m->heap[best] = t;
        i = best;
    }
}

/* Emits the top cursor's rows that come before the runner-up's. */
static int step(merge_t *m)
{
    size_t top = m->heap[0];
    cursor_t *c = &m->cur[top];
    int rc = maybe_cut(m, &c->b, c->pos);
    if (rc) return rc;
    size_t n = 1;
    if (!m->cut) {
        size_t second = SIZE_MAX;
        if (m->nheap > 1) second = m->heap[1];
        if (m->nheap > 2 && before(m, m->heap[2], second)) second = m->heap[2];
        const cursor_t *s = second == SIZE_MAX ? NULL : &m->cur[second];
        while (c->pos + n < c->lim) {
            if (s) {
                int k = key_cmp(m, &c->b, c->pos + n, &s->b, s->pos);
                if (k > 0 || (k == 0 && second < top)) break;
            }
            if (key_cmp(m, &c->b, c->pos + n - 1, &c->b, c->pos + n) > 0) break; /* checked below */
            n++;
        }
    }
    if (c->pos + n < c->lim && key_cmp(m, &c->b, c->pos + n - 1, &c->b, c->pos + n) > 0)
        return ursa_err_set(m->err, URSA_EFORMAT,
                            "%s: declares its rows sorted by the key but row %llu comes before row %llu",
                            c->in->key, (unsigned long long)(c->in->rg_first[c->rg] + c->off + c->pos + n),
                            (unsigned long long)(c->in->rg_first[c->rg] + c->off + c->pos + n - 1));
    if (n >= DIRECT_ROWS) {
        if ((rc = flush_gather(m)) || (rc = write_rows(m, &c->b, c->pos, n))) return rc;
    } else {
        if (m->nrefs + n > GATHER_ROWS && (rc = flush_gather(m))) return rc;
        for (size_t i = 0; i < n; i++) m->refs[m->nrefs++] = URSA_ROW_REF(top, c->pos + i);
    }
    /* Past the target, m->last follows the last row emitted (written or
     * gathered): the greatest key the current output holds. */
    if (m->cut && (rc = keep_last(m, &c->b, c->pos + n - 1))) return rc;
    c->pos += n;
    if (c->pos == c->lim) {
        /* The gathered rows may point into the batch about to go. */
        if ((rc = flush_gather(m)) || (rc = advance(m, top))) return rc;
        m->batches[top] = &c->b;
        if (c->pos == c->lim) {
            m->heap[0] = m->heap[--m->nheap];
            if (m->nheap == 0) return URSA_OK;
        }
    }
    sift_down(m, 0);
    return URSA_OK;
}

/* ------------------------------------------------------------------ merge */

void ursa_compact_result_free(ursa_compact_result_t *res)
{
    for (size_t k = 0; k < res->noutputs; k++) ursa_free(res->outputs[k].key);
    ursa_free(res->outputs);
    memset(res, 0, sizeof(*res));
}

int ursa_compact_merge(const ursa_compact_opts_t *o, ursa_compact_result_t *res, ursa_err_t *err)
{
    memset(res, 0, sizeof(*res));
    if (err) err->msg[0] = '\0';
    merge_t m = {.o = o, .s = o->schema, .err = err};
    m.target = o->target_bytes ? o->target_bytes : URSA_COMPACT_TARGET_DEFAULT;
    m.window = o->window_bytes ? o->window_bytes : URSA_COMPACT_WINDOW_DEFAULT;
    pq_write_opts_dataset(&m.wo, o->pq, o->schema, o->field_ids, o->schema_json, m.keys);
    m.wo.row_group_bytes = o->row_group_bytes ? o->row_group_bytes : URSA_COMPACT_ROW_GROUP_DEFAULT;
    m.nkeys = m.wo.nsorting;
    if (m.nkeys == 1) {
        ursa_type_t t = o->schema->fields[m.keys[0]].type;
        m.key_i64 = t == URSA_TYPE_INT64 || t == URSA_TYPE_TIMESTAMP || t == URSA_TYPE_TIME;
    }
    size_t committed = 0;
    int rc = URSA_OK;
    if (m.nkeys == 0) {
        rc = ursa_err_set(err, URSA_EINVAL, "the schema has no sort key");
        goto out;
    }
    size_t maxruns = o->max_runs ? o->max_runs : URSA_COMPACT_RUNS_DEFAULT;
    m.inputs = ursa_calloc(o->ninputs ? o->ninputs : 1, sizeof(*m.inputs));
    m.cur = ursa_calloc(maxruns, sizeof(*m.cur));
    m.refs = ursa_malloc(GATHER_ROWS * sizeof(*m.refs));
    if (!m.inputs || !m.cur || !m.refs) {
        rc = URSA_ENOMEM;
        goto out;
    }
    m.ninputs = o->ninputs;
    if ((rc = ursa_batch_init(&m.scratch, m.s)) || (rc = ursa_batch_init(&m.last, m.s))) goto out;
    /* Inputs, their runs, and each run's first row group. */
    for (size_t i = 0; i < o->ninputs && rc == URSA_OK; i++) {
        if ((rc = open_input(&m, i))) break;
        input_t *in = &m.inputs[i];
        res->rows_in += in->rg_first[pq_reader_meta(in->r)->nrow_groups];
        res->bytes_in += pq_reader_size(in->r);
        rc = in->declared ? add_cursor(&m, in, 0, in->rg_first[pq_reader_meta(in->r)->nrow_groups])
                          : split_runs(&m, in);
    }
    if (rc) goto out;
    res->runs = m.ncur;
    m.heap = ursa_malloc((m.ncur ? m.ncur : 1) * sizeof(*m.heap));
    m.batches = ursa_calloc(m.ncur ? m.ncur : 1, sizeof(*m.batches));
    if (!m.heap || !m.batches) {
        rc = URSA_ENOMEM;
        goto out;
    }
    /* Every run's first window, loaded by the thread as the merge's takes
     * them in turn. */
    if ((rc = prefetch_start(&m))) goto out;
    for (size_t i = 0; i < m.ncur; i++) {
        cursor_t *c = &m.cur[i];
        const pq_file_meta_t *meta = pq_reader_meta(c->in->r);
        while (c->lrg < meta->nrow_groups && c->in->rg_first[c->lrg + 1] <= c->start) c->lrg++;
        c->lrow = c->lrg < meta->nrow_groups ? c->start - c->in->rg_first[c->lrg] : 0;
        enqueue(&m, i);
    }
    for (size_t i = 0; i < m.ncur; i++) {
        if ((rc = advance(&m, i))) goto out;
        m.batches[i] = &m.cur[i].b;
        if (m.cur[i].pos < m.cur[i].lim) m.heap[m.nheap++] = i;
    }
    for (size_t i = m.nheap; i-- > 0;) sift_down(&m, i);
    /* The merge. */
    while (m.nheap && rc == URSA_OK) rc = step(&m);
    if (rc == URSA_OK) rc = flush_gather(&m);
    if (rc == URSA_OK && m.w) rc = close_output(&m);
    if (rc == URSA_OK) iceberg_test_kill("compact-before-publish"); /* tests: killed during the merge */
    if (rc) goto out;
    for (size_t k = 0; k < m.nouts; k++) res->rows_out += m.outs[k].rows;
    if (res->rows_out != res->rows_in) {
        rc = ursa_err_set(err, URSA_EINTERNAL, "the merge wrote %llu rows of %llu",
                          (unsigned long long)res->rows_out, (unsigned long long)res->rows_in);
        goto out;
    }
    /* Publish, all or nothing. */
    while (committed < m.nouts) {
        rc = ursa_store_writer_commit(m.pending[committed], err);
        m.pending[committed++] = NULL; /* freed by commit, also on failure */
        if (rc) goto out;
    }
    res->outputs = m.outs;
    res->noutputs = m.nouts;
    m.outs = NULL;
    m.nouts = 0;
out:
    prefetch_stop(&m);
    pq_writer_destroy(&m.w);
    if (rc) {
        for (size_t k = 0; k < m.nouts; k++)
            if (m.pending[k]) ursa_store_writer_abort(m.pending[k]);
        for (size_t k = 0; k < committed; k++) {
            ursa_err_t e2;
            if (ursa_store_del(o->store, m.outs[k].key, &e2))
                ursa_error("compaction failed and its output %s could not be removed: %s", m.outs[k].key,
                           e2.msg);
        }
        if (rc == URSA_ENOMEM && err && !err->msg[0]) ursa_err_set(err, rc, "out of memory");
        memset(res, 0, sizeof(*res));
    }
    for (size_t k = 0; k < m.nouts; k++) ursa_free(m.outs[k].key);
    ursa_free(m.outs);
    ursa_free(m.pending);
    for (size_t i = 0; i < m.ncur; i++) {
        ursa_batch_free(&m.cur[i].b);
        ursa_batch_free(&m.cur[i].next);
        ursa_batch_free(&m.cur[i].spare);
    }
    for (size_t i = 0; i < m.ninputs; i++) {
        pq_reader_destroy(&m.inputs[i].r);
        ursa_free(m.inputs[i].leaf);
        ursa_free(m.inputs[i].cols);
        ursa_free(m.inputs[i].rg_first);
    }
    ursa_free(m.inputs);
    ursa_free(m.cur);
    ursa_free(m.heap);
    ursa_free(m.batches);
    ursa_free(m.refs);
    ursa_batch_free(&m.scratch);
    ursa_batch_free(&m.last);
    return rc;
}
