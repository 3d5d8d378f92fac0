/*
 * query.c -- a query from SQL to its result (see query.h): the plan, the
 * buffer pinned, the table pinned, a source that gives the buffered rows
 * the snapshot lacks and then the snapshot's files, pruned, and the run.
 */
#include "query.h"

#include "coerce.h"
#include "exec_run.h"
#include "peers.h"
#include "pq_read.h"
#include "sql_plan.h"
#include "table.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define US_PER_DAY 86400000000LL

/* ---- stored columns to vectors ---- */

static int limit_err(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ELIMIT, "the query needs more memory than its budget allows");
}

static int64_t ts_to_us(int64_t v, ursa_time_unit_t unit)
{
    if (unit == URSA_UNIT_MS) return v * 1000;
    if (unit == URSA_UNIT_NS) return v / 1000 - (v % 1000 < 0);
    return v;
}

/* Rows [from, from + n) of c (a column of field f; length 0: a column the
 * rows predate, all null) as a vector of type t. */
static int col_to_vec(const ursa_column_t *c, const ursa_field_t *f, size_t from, size_t n, exec_type_t t,
                      exec_arena_t *a, exec_vec_t *out, ursa_err_t *err)
{
    if (c->length == 0 && n) { /* missing: nulls */
        if (exec_vec_alloc(out, a, t, n) || exec_vec_nulls(out, a)) return limit_err(err);
        memset(out->nulls, 1, n);
        if (exec_type_width(t)) memset(out->v.p, 0, n * exec_type_width(t));
        return URSA_OK;
    }
    bool zero_copy = (f->type == URSA_TYPE_INT64 || f->type == URSA_TYPE_FLOAT64 ||
                      (f->type == URSA_TYPE_TIMESTAMP && f->unit == URSA_UNIT_US));
    if (zero_copy) {
        memset(out, 0, sizeof(*out));
        out->type = t, out->n = n;
        out->v.p = c->values.data + from * 8;
    } else if (exec_vec_alloc(out, a, t, n))
        return limit_err(err);
    if (c->null_count) {
        if (exec_vec_nulls(out, a)) return limit_err(err);
        const uint8_t *bits = c->validity.data;
        for (size_t i = 0; i < n; i++) out->nulls[i] = !ursa_bit_get(bits, from + i);
    }
    if (zero_copy) return URSA_OK;
    const uint8_t *vals = c->values.data;
    switch (f->type) {
    case URSA_TYPE_BOOL:
        for (size_t i = 0; i < n; i++) out->v.b[i] = ursa_bit_get(vals, from + i);
        break;
    case URSA_TYPE_INT8:
        for (size_t i = 0; i < n; i++) out->v.i[i] = ((const int8_t *)vals)[from + i];
        break;
    case URSA_TYPE_INT16:
        for (size_t i = 0; i < n; i++) out->v.i[i] = ((const int16_t *)(const void *)vals)[from + i];
        break;
    case URSA_TYPE_INT32:
        for (size_t i = 0; i < n; i++) out->v.i[i] = ((const int32_t *)(const void *)vals)[from + i];
        break;
    case URSA_TYPE_UINT8:
        for (size_t i = 0; i < n; i++) out->v.i[i] = vals[from + i];
        break;
    case URSA_TYPE_UINT16:
        for (size_t i = 0; i < n; i++) out->v.i[i] = ((const uint16_t *)(const void *)vals)[from + i];
        break;
    case URSA_TYPE_UINT32:
        for (size_t i = 0; i < n; i++) out->v.i[i] = ((const uint32_t *)(const void *)vals)[from + i];
        break;
    case URSA_TYPE_UINT64:
        for (size_t i = 0; i < n; i++) {
            uint64_t v = ((const uint64_t *)(const void *)vals)[from + i];
            if (v > INT64_MAX && !(out->nulls && out->nulls[i]))
                return ursa_err_set(err, URSA_EINVAL,
                                    "column %s: %llu is past the bigint range the engine computes in",
                                    f->name, (unsigned long long)v);
            out->v.i[i] = (int64_t)v;
        }
        break;
    case URSA_TYPE_FLOAT32:
        for (size_t i = 0; i < n; i++) out->v.f[i] = ((const float *)(const void *)vals)[from + i];
        break;
    case URSA_TYPE_DECIMAL: {
        double scale = pow(10.0, f->scale);
        if (f->precision <= 18)
            for (size_t i = 0; i < n; i++)
                out->v.f[i] = (double)((const int64_t *)(const void *)vals)[from + i] / scale;
        else
            for (size_t i = 0; i < n; i++) {
                __int128 v;
                memcpy(&v, vals + (from + i) * 16, 16);
                out->v.f[i] = (double)v / scale;
            }
        break;
    }
    case URSA_TYPE_TIMESTAMP:
        for (size_t i = 0; i < n; i++)
            out->v.i[i] = ts_to_us(((const int64_t *)(const void *)vals)[from + i], f->unit);
        break;
    case URSA_TYPE_DATE:
        for (size_t i = 0; i < n; i++) out->v.i[i] = ((const int32_t *)(const void *)vals)[from + i];
        break;
    case URSA_TYPE_STRING:
    case URSA_TYPE_JSON:
    case URSA_TYPE_BINARY: {
        const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
        const char *data = (const char *)c->data.data;
        for (size_t i = 0; i < n; i++)
            out->v.s[i] = (exec_str_t){data + off[from + i], (size_t)(off[from + i + 1] - off[from + i])};
        break;
    }
    case URSA_TYPE_TIME:
        for (size_t i = 0; i < n; i++) {
            int64_t us = ((const int64_t *)(const void *)vals)[from + i];
            char buf[32];
            int k = snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld", (long long)(us / 3600000000LL),
                             (long long)(us / 60000000 % 60), (long long)(us / 1000000 % 60));
            if (us % 1000000)
                k += snprintf(buf + k, sizeof(buf) - (size_t)k, ".%06lld", (long long)(us % 1000000));
            char *p = exec_arena_alloc(a, (size_t)k);
            if (!p) return limit_err(err);
            memcpy(p, buf, (size_t)k);
            out->v.s[i] = (exec_str_t){p, (size_t)k};
        }
        break;
    case URSA_TYPE_UUID:
        for (size_t i = 0; i < n; i++) {
            const uint8_t *u = vals + (from + i) * 16;
            char *p = exec_arena_alloc(a, 36);
            if (!p) return limit_err(err);
            static const char hex[] = "0123456789abcdef";
            size_t k = 0;
            for (int j = 0; j < 16; j++) {
                if (j == 4 || j == 6 || j == 8 || j == 10) p[k++] = '-';
                p[k++] = hex[u[j] >> 4], p[k++] = hex[u[j] & 15];
            }
            out->v.s[i] = (exec_str_t){p, 36};
        }
        break;
    default:
        return ursa_err_set(err, URSA_ENOTSUP, "column %s: its type cannot be queried", f->name);
    }
    return URSA_OK;
}

/* ---- the source: buffered rows, then files ---- */

typedef struct file_ref {
    char *key;
    int64_t day;
} file_ref_t;

typedef struct scan {
    const sql_plan_t *p;
    const ursa_schema_t *schema; /* the dataset's (live rows) */
    ursa_store_t *store;
    exec_stats_t *stats;
    exec_budget_t *budget;
    /* buffered rows */
    ursa_pin_t pin;
    /* What the stored rows hold already, to leave out of the buffered ones:
     * a table's commit keys by node, or (quarantines, not tables) the
     * published files' names -- node, day, LSN range -- listed. */
    json_t *commits;
    const char *self;
    const char *self_key; /* this node's commit key in commits, or NULL; its range: */
    uint64_t self_first, self_last;
    struct range {
        char node[URSA_PEERS_NODE_MAX + 1];
        int32_t day;
        uint64_t first, last;
    } * ranges;
    size_t nranges;
    size_t chunk, row;
    uint8_t *keep; /* scratch: rows of a chunk the snapshot lacks */
    /* files */
    file_ref_t *files;
    size_t nfiles, file;
    pq_reader_t *r;
    size_t rg;
    int *leaf; /* per scan column: the file's leaf, -1 when the file lacks it */
    size_t *cols;
    size_t ncols;
    pq_pred_t *preds;
    pq_value_t *pvals;
    uint8_t *pbytes;
    size_t npreds;
    ursa_batch_t b; /* the window of rows being given (or a row group's count, for count(*) alone) */
    bool have_b;
    size_t brow;
    size_t b_bytes;          /* counted against the budget */
    const ursa_schema_t *fs; /* the file's fields */
    /* a row group's rows that the predicates leave (wr) are read a window at a time into b, its buffers
     * reused (pq_reader_read_rows_into: each page decoded once, no fresh memory per window) */
    bool windowed;
    size_t wrg, wreads; /* wreads: windows read from this file (the reader counts each as a row group) */
    uint64_t wpages,
        wskipped; /* ... and the pages it counted for them (every page of the chunks, each time) */
    int64_t wnext;
    int64_t (*wr)[2]; /* the row group's rows to read (pq_reader_match_ranges), wr[iwr] the current range */
    size_t nwr, iwr;
    /* per scan column, a STRING read as dictionary codes: the views of the
     * dictionary they index (pq_reader_codes_dict), rebuilt when its id changes */
    struct coded {
        exec_dict_t d;
        exec_str_t *views;
        size_t cap; /* views' room, counted against the budget */
    } * coded;
    bool peer_mode; /* a peer's scan: each row's log position and day as two more columns */
    /* other nodes' buffered rows the snapshot lacks, in scan columns */
    exec_arena_t peer_arena;
    exec_batch_t *pb;
    size_t npb, ipb;
    /* Workers: the scan's units -- a buffered chunk's 64 Ki rows, a file's
     * row group, a peer's batch -- numbered in order; worker w of n takes
     * the units whose number is w modulo n. The fields above `chunk` are
     * shared (the first worker's own them); the cursors are each worker's. */
    size_t worker, nworkers;
    size_t unit; /* the next unit's number (live units; file units count on) */
    struct scan *shared;
} scan_t;

#define LIVE_UNIT_ROWS    65536
#define QUERY_WINDOW_ROWS 65536

/* Whether the stored rows hold record lsn's rows of day `day` from node. */
static bool stored(const scan_t *s, const char *node, uint64_t lsn, int32_t day)
{
    if (!node) return false;
    if (s->commits) {
        const char *key = json_string_value(json_object_get(s->commits, node));
        return key && table_commit_covers(key, lsn, day);
    }
    for (size_t i = 0; i < s->nranges; i++) {
        const struct range *r = &s->ranges[i];
        if (r->day == day && lsn >= r->first && lsn <= r->last && !strcmp(r->node, node)) return true;
    }
    return false;
}

/* Whether this node's rows of record lsn are in the stored rows: 0 none, 1
 * all, 2 it depends on their day. */
static int chunk_stored(const scan_t *s, uint64_t lsn)
{
    if (s->nranges) return 2; /* a quarantine's file names */
    if (!s->commits || !s->self_key) return 0;
    if (lsn < s->self_first) return 1;
    return lsn > s->self_last ? 0 : 2;
}

/* The day of row i of a chunk (the time column), or 0 when there is none. */
static int32_t row_day(const scan_t *s, const ursa_batch_t *b, size_t i)
{
    int tc = s->schema->time_column;
    if (tc < 0 || (size_t)tc >= b->ncols) return 0;
    return (int32_t)ursa_ts_to_days(ursa_column_i64(&b->cols[tc], i), (int)s->schema->fields[tc].unit);
}

static int next_live(scan_t *s, exec_arena_t *a, exec_batch_t *out, ursa_err_t *err)
{
    const sql_plan_t *p = s->p;
    while (s->chunk < s->pin.n) {
        ursa_batch_t *b = s->pin.chunks[s->chunk];
        const ursa_column_t *cols = s->pin.cols + s->chunk * s->pin.nfields;
        if (s->row >= b->nrows) {
            s->chunk++, s->row = 0;
            continue;
        }
        if (s->row == 0 && b->has_trange && p->time_col >= 0 &&
            (p->ts_lo != INT64_MIN || p->ts_hi != INT64_MAX)) {
            ursa_time_unit_t unit = s->schema->fields[s->schema->time_column].unit;
            if (ts_to_us(b->tmax, unit) < p->ts_lo ||
                ts_to_us(b->tmin, unit) > p->ts_hi) { /* none in range */
                s->unit += (b->nrows + LIVE_UNIT_ROWS - 1) / LIVE_UNIT_ROWS;
                s->chunk++;
                continue;
            }
        }
        if (s->row % LIVE_UNIT_ROWS == 0 && (s->unit++ % s->nworkers) != s->worker) { /* another's unit */
            s->row += LIVE_UNIT_ROWS;
            continue;
        }
        size_t from = s->row, n = b->nrows - from < EXEC_BATCH_ROWS ? b->nrows - from : EXEC_BATCH_ROWS;
        s->row += n;
        /* leave out the rows the snapshot has already: by the chunk's log
         * position alone, unless it lies in the range of this node's last commit */
        bool partial = false;
        int mode = chunk_stored(s, b->lsn);
        if (mode == 1) continue;
        if (mode == 2) {
            size_t kept = 0;
            for (size_t i = 0; i < n; i++) {
                s->keep[i] = !stored(s, s->self, b->lsn, row_day(s, b, from + i));
                kept += s->keep[i];
            }
            partial = kept != n;
            if (kept == 0) continue;
        }
        out->cols = exec_arena_alloc(a, (p->nscan + 3) * sizeof(exec_vec_t));
        if (!out->cols) return limit_err(err);
        out->ncols = p->nscan;
        for (size_t c = 0; c < p->nscan; c++) {
            const ursa_field_t *f = &s->schema->fields[p->scan_fields[c]];
            int rc = col_to_vec(&cols[c], f, from, n, p->scan_types[c], a, &out->cols[c], err);
            if (rc) return rc;
        }
        out->n = n;
        if (s->peer_mode) { /* _lsn, _day */
            exec_vec_t *l = &out->cols[p->nscan], *d = &out->cols[p->nscan + 1];
            if (exec_vec_alloc(l, a, EXEC_INT64, n) || exec_vec_alloc(d, a, EXEC_INT64, n))
                return limit_err(err);
            for (size_t i = 0; i < n; i++) l->v.i[i] = (int64_t)b->lsn, d->v.i[i] = row_day(s, b, from + i);
            out->ncols += 2;
        }
        if (partial) { /* keep the rows the snapshot lacks */
            uint32_t *sel = exec_arena_alloc(a, n * sizeof(*sel));
            if (!sel) return limit_err(err);
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (s->keep[i]) sel[k++] = (uint32_t)i;
            exec_ctx_t cx = {a, err};
            for (size_t c = 0; c < p->nscan; c++) {
                exec_vec_t g;
                int rc = exec_vec_gather(&cx, &out->cols[c], sel, k, &g);
                if (rc) return rc;
                out->cols[c] = g;
            }
            out->n = k;
        }
        s->stats->live_rows += out->n;
        return URSA_OK;
    }
    out->n = 0;
    return URSA_OK;
}

/* A predicate's value in the layout of the file's column type f: false
 * when it does not convert exactly (the predicate is then not pushed). */
static bool pred_value(const exec_value_t *v, const ursa_field_t *f, uint8_t *buf, pq_value_t *out)
{
    int64_t i = v->v.i;
    out->p = buf;
    switch (f->type) {
    case URSA_TYPE_INT64:
        if (v->type != EXEC_INT64) return false;
        memcpy(buf, &i, 8), out->n = 8;
        return true;
    case URSA_TYPE_INT32:
    case URSA_TYPE_DATE: {
        if (v->type != (f->type == URSA_TYPE_DATE ? EXEC_DATE : EXEC_INT64) || i < INT32_MIN || i > INT32_MAX)
            return false;
        int32_t x = (int32_t)i;
        memcpy(buf, &x, 4), out->n = 4;
        return true;
    }
    case URSA_TYPE_FLOAT64:
        if (v->type != EXEC_FLOAT64 || isnan(v->v.f)) return false;
        memcpy(buf, &v->v.f, 8), out->n = 8;
        return true;
    case URSA_TYPE_TIMESTAMP: {
        if (v->type != EXEC_TIMESTAMP) return false;
        int64_t x = i;
        if (f->unit == URSA_UNIT_MS) {
            if (i % 1000) return false;
            x = i / 1000;
        } else if (f->unit == URSA_UNIT_NS && __builtin_mul_overflow(i, 1000, &x))
            return false;
        memcpy(buf, &x, 8), out->n = 8;
        return true;
    }
    case URSA_TYPE_STRING:
        if (v->type != EXEC_STRING) return false;
        out->p = v->v.s.p, out->n = v->v.s.n;
        return true;
    case URSA_TYPE_BOOL:
        if (v->type != EXEC_BOOL) return false;
        buf[0] = (uint8_t)(i != 0), out->n = 1;
        return true;
    default:
        return false;
    }
}

static void close_file(scan_t *s)
{
    if (s->have_b) {
        ursa_batch_free(&s->b);
        exec_budget_give(s->budget, s->b_bytes);
        s->have_b = false;
        s->b_bytes = 0;
    }
    s->windowed = false;
    ursa_free(s->wr);
    s->wr = NULL, s->nwr = s->iwr = 0;
    if (s->r) {
        pq_reader_counters_t c;
        pq_reader_get_counters(s->r, &c);
        s->stats->row_groups += c.row_groups - s->wreads; /* (each row group once, not each window) */
        s->wreads = 0;
        s->stats->row_groups_pruned += c.row_groups_by_stats + c.row_groups_by_bloom;
        /* the pages of the predicates' columns, as pq_reader_match_ranges counted them (a column read
         * without predicates counts none) */
        s->stats->pages += c.pages - s->wpages;
        s->stats->pages_pruned += c.pages_skipped - s->wskipped;
        s->wpages = s->wskipped = 0;
        s->stats->bytes_read += c.bytes_read;
        pq_reader_destroy(&s->r);
    }
}

static int open_file(scan_t *s, ursa_err_t *err)
{
    const sql_plan_t *p = s->p;
    int rc = pq_reader_open(&s->r, s->store, s->files[s->file].key, err);
    if (rc) return rc;
    s->fs = pq_reader_schema(s->r);
    pq_reader_set_codes(s->r, PQ_CODES_ON);
    s->ncols = 0;
    for (size_t c = 0; c < p->nscan; c++) {
        s->leaf[c] = pq_reader_find(s->r, s->schema->fields[p->scan_fields[c]].name);
        if (s->leaf[c] >= 0) s->cols[s->ncols++] = (size_t)s->leaf[c];
    }
    s->npreds = 0;
    for (size_t k = 0; k < p->npreds; k++) {
        const sql_pred_t *sp = &p->preds[k];
        int leaf = s->leaf[sp->col];
        if (leaf < 0) continue; /* the file lacks the column: all null, WHERE decides */
        const ursa_field_t *f = &s->fs->fields[leaf];
        pq_pred_t *q = &s->preds[s->npreds];
        pq_value_t *vals = s->pvals + k * 64;
        uint8_t *buf = s->pbytes + k * 64 * 16;
        bool ok = sp->nvals <= 64;
        for (size_t i = 0; ok && i < sp->nvals; i++) ok = pred_value(&sp->vals[i], f, buf + i * 16, &vals[i]);
        if (!ok) continue;
        static const pq_op_t ops[] = {[PRED_EQ] = PQ_OP_EQ,           [PRED_LT] = PQ_OP_LT,
                                      [PRED_LE] = PQ_OP_LE,           [PRED_GT] = PQ_OP_GT,
                                      [PRED_GE] = PQ_OP_GE,           [PRED_IN] = PQ_OP_IN,
                                      [PRED_IS_NULL] = PQ_OP_IS_NULL, [PRED_NOT_NULL] = PQ_OP_NOT_NULL};
        *q = (pq_pred_t){(size_t)leaf, ops[sp->op], vals, sp->nvals};
        s->npreds++;
    }
    s->rg = 0;
    return URSA_OK;
}

/* Rows [from, from + n) of scan column c, a STRING column the reader gave
 * as dictionary codes (pq_reader_set_codes): views of the dictionary's
 * strings, with the codes beside them for grouping (exec_vec_t). */
static int codes_to_vec(scan_t *s, size_t c, const ursa_column_t *col, size_t from, size_t n, exec_arena_t *a,
                        exec_vec_t *out, ursa_err_t *err)
{
    struct coded *cd = &s->coded[c];
    const int64_t *off;
    const uint8_t *data;
    size_t nd;
    uint64_t id;
    if (!pq_reader_codes_dict(s->r, (size_t)s->leaf[c], &off, &data, &nd, &id))
        return ursa_err_set(err, URSA_EFORMAT, "%s: column %s: codes without a dictionary",
                            s->files[s->file].key, s->fs->fields[s->leaf[c]].name);
    if (cd->d.id != id) {
        if (nd > cd->cap) {
            if (!exec_budget_take(s->budget, (nd - cd->cap) * sizeof(exec_str_t))) return limit_err(err);
            exec_str_t *v = ursa_realloc(cd->views, nd * sizeof(*v));
            if (!v) {
                exec_budget_give(s->budget, (nd - cd->cap) * sizeof(exec_str_t));
                return ursa_err_set(err, URSA_ENOMEM, "out of memory");
            }
            cd->views = v, cd->cap = nd;
        }
        for (size_t i = 0; i < nd; i++)
            cd->views[i] = (exec_str_t){(const char *)data + off[i], (size_t)(off[i + 1] - off[i])};
        cd->d = (exec_dict_t){cd->views, nd, id};
    }
    if (exec_vec_alloc(out, a, EXEC_STRING, n)) return limit_err(err);
    const uint32_t *code = (const uint32_t *)(const void *)col->values.data + from;
    if (col->null_count) {
        if (exec_vec_nulls(out, a)) return limit_err(err);
        for (size_t i = 0; i < n; i++) {
            out->nulls[i] = !ursa_bit_get(col->validity.data, from + i);
            out->v.s[i] = out->nulls[i] ? (exec_str_t){"", 0} : cd->views[code[i]];
        }
    } else {
        for (size_t i = 0; i < n; i++) out->v.s[i] = cd->views[code[i]];
    }
    out->codes = code, out->dict = &cd->d;
    return URSA_OK;
}

static int next_file_rows(scan_t *s, exec_arena_t *a, exec_batch_t *out, ursa_err_t *err)
{
    const sql_plan_t *p = s->p;
    for (;;) {
        if (s->have_b && s->brow < s->b.nrows) {
            size_t from = s->brow,
                   n = s->b.nrows - from < EXEC_BATCH_ROWS ? s->b.nrows - from : EXEC_BATCH_ROWS;
            s->brow += n;
            out->cols = exec_arena_alloc(a, (p->nscan + 1) * sizeof(exec_vec_t));
            if (!out->cols) return limit_err(err);
            out->ncols = p->nscan, out->n = n;
            size_t k = 0;
            for (size_t c = 0; c < p->nscan; c++) {
                static const ursa_column_t missing = {0};
                const ursa_column_t *col = s->leaf[c] >= 0 ? &s->b.cols[k++] : &missing;
                const ursa_field_t *f =
                    s->leaf[c] >= 0 ? &s->fs->fields[s->leaf[c]] : &s->schema->fields[p->scan_fields[c]];
                if (s->leaf[c] >= 0 && sql_exec_type(f->type) != p->scan_types[c])
                    return ursa_err_set(err, URSA_EINVAL, "%s: column %s has type %s here, not the dataset's",
                                        s->files[s->file].key, f->name,
                                        exec_type_name(sql_exec_type(f->type)));
                int rc = s->leaf[c] >= 0 && f->type == URSA_TYPE_STRING && col->type == URSA_TYPE_UINT32
                             ? codes_to_vec(s, c, col, from, n, a, &out->cols[c], err)
                             : col_to_vec(col, f, from, n, p->scan_types[c], a, &out->cols[c], err);
                if (rc) return rc;
            }
            return URSA_OK;
        }
        while (s->windowed && s->iwr < s->nwr && s->wnext >= s->wr[s->iwr][1])
            if (++s->iwr < s->nwr) s->wnext = s->wr[s->iwr][0];
        if (s->windowed && s->iwr < s->nwr) { /* the row group's next window, into the same buffers */
            /* ending on a page bound of every column when there is one near: the decoded pages are then
             * handed over as they are, not copied out (pq_reader_page_bound) */
            int64_t rend = s->wr[s->iwr][1];
            int64_t lo = s->wnext + QUERY_WINDOW_ROWS / 2, hi = s->wnext + 2 * QUERY_WINDOW_ROWS, end;
            if (hi > rend) hi = rend;
            if (lo > hi) lo = hi;
            int rc = pq_reader_page_bound(s->r, s->wrg, s->cols, s->ncols, lo, hi, &end, err);
            if (rc) return rc;
            int64_t cnt = end - s->wnext;
            pq_reader_counters_t c0, c1;
            pq_reader_get_counters(s->r, &c0);
            rc = pq_reader_read_rows_into(s->r, s->wrg, s->cols, s->ncols, s->wnext, cnt, &s->b, err);
            pq_reader_get_counters(s->r, &c1);
            s->wpages += c1.pages - c0.pages, s->wskipped += c1.pages_skipped - c0.pages_skipped;
            if (rc) { /* (b freed) */
                exec_budget_give(s->budget, s->b_bytes);
                s->b_bytes = 0, s->have_b = false;
                return rc;
            }
            s->wnext += cnt;
            s->wreads++;
            s->have_b = true;
            s->brow = 0;
            size_t nb = ursa_batch_bytes(&s->b);
            if (nb > s->b_bytes && !exec_budget_take(s->budget, nb - s->b_bytes)) return limit_err(err);
            if (nb < s->b_bytes) exec_budget_give(s->budget, s->b_bytes - nb);
            s->b_bytes = nb;
            continue;
        }
        s->windowed = false;
        if (!s->r) {
            if (s->file >= s->nfiles) {
                out->n = 0;
                return URSA_OK;
            }
            int rc = open_file(s, err);
            if (rc) return rc;
        }
        if (s->rg >= pq_reader_meta(s->r)->nrow_groups) {
            close_file(s);
            s->file++;
            continue;
        }
        if ((s->unit++ % s->nworkers) != s->worker) { /* another worker's row group */
            s->rg++;
            continue;
        }
        if (s->ncols == 0) { /* no column read (count(*) alone): the row group's row count */
            const pq_file_meta_t *m = pq_reader_meta(s->r);
            if (s->have_b) ursa_batch_free(&s->b);
            memset(&s->b, 0, sizeof(s->b));
            s->b.nrows = (size_t)m->row_groups[s->rg++].num_rows;
            s->stats->row_groups++;
            s->have_b = true;
            s->brow = 0;
            continue;
        }
        /* The rows the predicates leave (pq_reader_match_ranges: by the
         * statistics, bloom filters and page indexes; WHERE then filters
         * them), read a window at a time. */
        s->wrg = s->rg++;
        ursa_free(s->wr);
        s->wr = NULL, s->nwr = s->iwr = 0;
        int rc = pq_reader_match_ranges(s->r, s->wrg, s->preds, s->npreds, &s->wr, &s->nwr, err);
        if (rc) return rc;
        s->windowed = s->nwr > 0;
        s->wnext = s->nwr ? s->wr[0][0] : 0;
    }
}

static int scan_next(void *ctx, exec_arena_t *a, exec_batch_t *out, ursa_err_t *err)
{
    scan_t *s = ctx;
    int rc = next_live(s, a, out, err);
    if (rc || out->n) return rc;
    while (s->ipb < s->npb) {
        if (s->ipb++ % s->nworkers != s->worker) continue;
        *out = s->pb[s->ipb - 1];
        if (out->n) {
            s->stats->live_rows += out->n;
            return URSA_OK;
        }
    }
    return next_file_rows(s, a, out, err);
}

/* A worker's own scratch: a window's keep flags, a file's columns and predicates. */
static int scan_scratch(scan_t *s)
{
    size_t np = s->p->npreds;
    s->keep = ursa_malloc(EXEC_BATCH_ROWS);
    s->leaf = ursa_calloc(s->p->nscan + 1, sizeof(*s->leaf));
    s->cols = ursa_calloc(s->p->nscan + 1, sizeof(*s->cols));
    s->preds = ursa_calloc(np + 1, sizeof(*s->preds));
    s->pvals = ursa_calloc(np * 64 + 1, sizeof(*s->pvals));
    s->pbytes = ursa_calloc(np * 64 * 16 + 1, 1);
    s->coded = ursa_calloc(s->p->nscan + 1, sizeof(*s->coded));
    return s->keep && s->leaf && s->cols && s->preds && s->pvals && s->pbytes && s->coded ? URSA_OK
                                                                                          : URSA_ENOMEM;
}

/* Worker w of n over what base pinned and listed, with stats of its own. */
static int scan_clone(const scan_t *base, scan_t *w, size_t idx, size_t n, exec_stats_t *stats)
{
    *w = *base;
    w->shared = (scan_t *)base;
    w->worker = idx, w->nworkers = n;
    w->stats = stats;
    w->chunk = w->row = w->file = w->rg = w->ipb = w->unit = 0;
    w->r = NULL;
    w->have_b = false;
    w->keep = NULL, w->leaf = NULL, w->cols = NULL, w->preds = NULL, w->pvals = NULL, w->pbytes = NULL;
    w->coded = NULL;
    w->wr = NULL, w->nwr = w->iwr = 0;
    return scan_scratch(w);
}

static void scan_free(scan_t *s)
{
    close_file(s);
    ursa_free(s->keep), ursa_free(s->leaf), ursa_free(s->cols), ursa_free(s->preds);
    ursa_free(s->pvals), ursa_free(s->pbytes);
    for (size_t c = 0; s->coded && c < s->p->nscan; c++) {
        exec_budget_give(s->budget, s->coded[c].cap * sizeof(exec_str_t));
        ursa_free(s->coded[c].views);
    }
    ursa_free(s->coded);
    if (s->shared) return; /* a worker: the rest is the first's */
    ursa_pin_release(&s->pin);
    for (size_t i = 0; i < s->nfiles; i++) ursa_free(s->files[i].key);
    ursa_free(s->files);
    ursa_free(s->pb);
    ursa_free(s->ranges);
    exec_arena_free(&s->peer_arena);
}

/* ---- other nodes' buffered rows ---- */

#define PEER_MAGIC "URSQ"

typedef struct peer_answers {
    ursa_peer_call_t *calls;
    size_t n;
} peer_answers_t;

static void peer_answers_free(peer_answers_t *pa)
{
    if (pa->calls) ursa_peer_calls_free(pa->calls, pa->n);
    for (size_t i = 0; i < pa->n; i++) { /* the names are ours (peers.h: the caller's) */
        ursa_free((char *)pa->calls[i].node);
        ursa_free((char *)pa->calls[i].address);
    }
    ursa_free(pa->calls);
    memset(pa, 0, sizeof(*pa));
}

static void add_missing(exec_stats_t *st, const char *node)
{
    size_t k = strlen(st->missing);
    snprintf(st->missing + k, sizeof(st->missing) - k, "%s%s", k ? "," : "", node);
}

/* Asks every other node for its buffered rows of the query (their pins
 * are taken when the requests arrive). */
static int ask_peers(const query_opts_t *o, const char *sql, int64_t now_us, int64_t timeout_ms,
                     peer_answers_t *pa, exec_stats_t *st, ursa_err_t *err)
{
    ursa_peer_list_t list = {0};
    const char *self = ursa_peers_node(o->peers);
    int rc = ursa_peers_list(o->store, self, ursa_peers_wall_ms(), ursa_peers_stale_ms(o->peers), &list, err);
    if (rc) return rc;
    size_t live = 0;
    for (size_t i = 0; i < list.n; i++) {
        if (!list.v[i].stale) continue;
        if (!o->partial) {
            rc = ursa_err_set(
                err, URSA_EIO,
                "node %s has not been heard from for %lld s: the rows it has not flushed cannot be "
                "read (ask with \"partial\": true to answer without them)",
                list.v[i].node, (long long)(list.v[i].age_ms / 1000));
            ursa_peer_list_free(&list);
            return rc;
        }
        add_missing(st, list.v[i].node);
    }
    for (size_t i = 0; i < list.n; i++) live += !list.v[i].stale;
    if (!live) {
        ursa_peer_list_free(&list);
        return URSA_OK;
    }
    json_t *body = json_pack("{s:s, s:I}", "sql", sql, "now_us", (json_int_t)now_us);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    pa->calls = ursa_calloc(live, sizeof(*pa->calls));
    if (!text || !pa->calls) {
        free(text);
        ursa_peer_list_free(&list);
        return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < list.n; i++)
        if (!list.v[i].stale) {
            pa->calls[pa->n].node = ursa_strdup(list.v[i].node);
            pa->calls[pa->n].address = ursa_strdup(list.v[i].address);
            pa->n++;
        }
    const char *headers[] = {"X-Ursa-Internal: 1", o->forward};
    ursa_peers_request_t rq = {.path = QUERY_SCAN_PATH,
                               .content_type = "application/json",
                               .body = text,
                               .body_len = strlen(text),
                               .headers = headers,
                               .nheaders = o->forward ? 2 : 1,
                               .timeout_ms = timeout_ms,
                               .max_response = o->memory_limit ? o->memory_limit : QUERY_MEMORY_DEFAULT,
                               .cancel = o->gone,
                               .cancel_ctx = o->gone_ctx};
    rq.https = ursa_peers_https(o->peers, &rq.ca_file);
    ursa_err_t e2 = {0};
    rc = ursa_peers_call(&rq, pa->calls, pa->n, &e2);
    free(text);
    ursa_peer_list_free(&list);
    if (rc == URSA_ECANCELED) return ursa_err_set(err, rc, "the client went away");
    for (size_t i = 0; i < pa->n; i++) {
        ursa_peer_call_t *c = &pa->calls[i];
        if (c->status == 200 && c->body.len >= 4 && memcmp(c->body.data, PEER_MAGIC, 4) == 0) continue;
        char why[300];
        if (c->status)
            snprintf(why, sizeof(why), "answered %ld: %.*s", c->status,
                     (int)(c->body.len > 200 ? 200 : c->body.len),
                     c->body.data ? (const char *)c->body.data : "");
        else
            snprintf(why, sizeof(why), "%s", c->error[0] ? c->error : "no answer");
        if (!o->partial)
            return ursa_err_set(err, URSA_EIO, "node %s (%s) could not give its buffered rows: %s", c->node,
                                c->address, why);
        add_missing(st, c->node);
        ursa_buf_free(&c->body);
    }
    return URSA_OK;
}

static bool rd(const uint8_t *p, size_t n, size_t *at, void *out, size_t len)
{
    if (n - *at < len) return false;
    memcpy(out, p + *at, len);
    *at += len;
    return true;
}

/* Decodes one peer's answer into s->pb: its rows the snapshot lacks
 * (commits: every node's last commit key), in the scan's columns. */
static int take_peer_rows(scan_t *s, const ursa_peer_call_t *c, ursa_err_t *err)
{
    const sql_plan_t *p = s->p;
    const uint8_t *d = c->body.data;
    size_t n = c->body.len, at = 4;
    uint32_t version, ncols;
    uint16_t len;
    char node[URSA_PEERS_NODE_MAX + 1];
    if (!rd(d, n, &at, &version, 4) || version != 1 || !rd(d, n, &at, &len, 2) || len > URSA_PEERS_NODE_MAX ||
        !rd(d, n, &at, node, len) || !rd(d, n, &at, &ncols, 4) || ncols < 2 || ncols > URSA_COLUMNS_MAX + 2)
        goto bad;
    node[len] = '\0';
    exec_type_t types[URSA_COLUMNS_MAX + 2];
    int map[URSA_COLUMNS_MAX + 2]; /* scan column -> the peer's */
    for (size_t c2 = 0; c2 < p->nscan; c2++) map[c2] = -1;
    for (uint32_t i = 0; i < ncols; i++) {
        uint8_t t;
        char name[URSA_NAME_MAX + 8];
        if (!rd(d, n, &at, &t, 1) || t >= EXEC_TYPE_COUNT_ || !rd(d, n, &at, &len, 2) ||
            len > URSA_NAME_MAX + 4 || !rd(d, n, &at, name, len))
            goto bad;
        name[len] = '\0';
        types[i] = (exec_type_t)t;
        for (size_t c2 = 0; i + 2 < ncols && c2 < p->nscan; c2++)
            if (!strcmp(s->schema->fields[p->scan_fields[c2]].name, name)) {
                if (types[i] != p->scan_types[c2])
                    return ursa_err_set(err, URSA_EINVAL, "node %s has column %s as %s, not %s", node, name,
                                        exec_type_name(types[i]), exec_type_name(p->scan_types[c2]));
                map[c2] = (int)i;
            }
    }
    exec_ctx_t cx = {&s->peer_arena, err};
    const char *key = s->commits ? json_string_value(json_object_get(s->commits, node)) : NULL;
    uint64_t kf = 0, kl = 0;
    if (key && !table_commit_range(key, &kf, &kl)) key = NULL;
    for (;;) {
        exec_batch_t b;
        int rc = exec_batch_decode(d, n, &at, types, ncols, &s->peer_arena, &b);
        if (rc == URSA_EFORMAT) goto bad;
        if (rc) return limit_err(err);
        if (b.n == 0) break;
        const exec_vec_t *lsn = &b.cols[ncols - 2], *day = &b.cols[ncols - 1];
        uint32_t *sel = exec_arena_alloc(&s->peer_arena, b.n * sizeof(*sel));
        if (!sel) return limit_err(err);
        size_t k = 0;
        for (size_t i = 0; i < b.n; i++) {
            uint64_t l = (uint64_t)lsn->v.i[i];
            if (!s->nranges && (!key || l > kl)) { /* past the node's last commit: not stored */
                sel[k++] = (uint32_t)i;
                continue;
            }
            if (s->nranges || l >= kf) {
                if (!stored(s, node, l, (int32_t)day->v.i[i])) sel[k++] = (uint32_t)i;
            }
        }
        if (!k) continue;
        exec_batch_t o = {exec_arena_alloc(&s->peer_arena, (p->nscan + 1) * sizeof(exec_vec_t)), p->nscan, k};
        exec_batch_t *arr = ursa_realloc(s->pb, (s->npb + 1) * sizeof(*arr));
        if (!o.cols || !arr) return limit_err(err);
        s->pb = arr;
        for (size_t c2 = 0; c2 < p->nscan; c2++) {
            if (map[c2] < 0) { /* a column the peer does not know yet: nulls */
                if (exec_vec_alloc(&o.cols[c2], &s->peer_arena, p->scan_types[c2], k) ||
                    exec_vec_nulls(&o.cols[c2], &s->peer_arena))
                    return limit_err(err);
                memset(o.cols[c2].nulls, 1, k);
                if (exec_type_width(p->scan_types[c2]))
                    memset(o.cols[c2].v.p, 0, k * exec_type_width(p->scan_types[c2]));
            } else if ((rc = exec_vec_gather(&cx, &b.cols[map[c2]], sel, k, &o.cols[c2])))
                return rc;
        }
        s->pb[s->npb++] = o;
    }
    return URSA_OK;
bad:
    return ursa_err_set(err, URSA_EFORMAT, "node %s gave an answer that cannot be read", c->node);
}

static int encode_emit(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    int rc = exec_batch_encode(b, ctx);
    return rc ? ursa_err_set(err, URSA_ENOMEM, "out of memory") : URSA_OK;
}

/* ---- a quarantine's files (not a table): listed ---- */

typedef struct qlist {
    scan_t *s;
    exec_stats_t *st;
    int rc;
} qlist_t;

/* One published file "<q>/date=YYYY-MM-DD/<node>-<first LSN>-<last LSN>.parquet". */
static int quarantine_file(void *ctx, const char *key, bool is_prefix)
{
    qlist_t *l = ctx;
    scan_t *s = l->s;
    const char *d = strstr(key, "/date="), *base = strrchr(key, '/');
    size_t n = strlen(key);
    if (is_prefix || !d || !base || n < 8 || strcmp(key + n - 8, ".parquet")) return URSA_OK;
    int32_t day;
    if (ursa_parse_date(d + 6, 10, &day)) return URSA_OK;
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(n - 8 - (size_t)(base + 1 - key)), base + 1);
    char *last = strrchr(name, '-');
    if (!last) return URSA_OK;
    *last = '\0';
    char *first = strrchr(name, '-');
    if (!first) return URSA_OK;
    *first = '\0';
    struct range r = {.day = day};
    r.first = strtoull(first + 1, NULL, 10), r.last = strtoull(last + 1, NULL, 10);
    if (strlen(name) >= sizeof(r.node)) return URSA_OK;
    memcpy(r.node, name, strlen(name) + 1);
    struct range *rs = ursa_realloc(s->ranges, (s->nranges + 1) * sizeof(*rs));
    file_ref_t *fs = ursa_realloc(s->files, (s->nfiles + 1) * sizeof(*fs));
    if (rs) s->ranges = rs;
    if (fs) s->files = fs;
    if (!rs || !fs) return l->rc = URSA_ENOMEM;
    s->ranges[s->nranges++] = r;
    l->st->files++;
    if (s->p->time_col >= 0) {
        int64_t lo = (int64_t)day * US_PER_DAY, hi = lo + US_PER_DAY - 1;
        if (hi < s->p->ts_lo || lo > s->p->ts_hi) {
            l->st->files_pruned++;
            return URSA_OK;
        }
    }
    if (!(s->files[s->nfiles].key = ursa_strdup(key))) return l->rc = URSA_ENOMEM;
    s->files[s->nfiles++].day = day;
    return URSA_OK;
}

/* A quarantine's stored rows: its files, listed after the buffers were
 * pinned (a flush takes chunks out of them only once its files are
 * published, so a row is in the pin or in the listing, and the files'
 * names say which pinned rows they hold). */
static int list_quarantine(scan_t *s, const char *qname, exec_stats_t *st, ursa_err_t *err)
{
    char prefix[URSA_DATASET_NAME_MAX + 16];
    snprintf(prefix, sizeof(prefix), "%s/date=", qname);
    qlist_t l = {s, st, URSA_OK};
    int rc = ursa_store_list(s->store, prefix, 0, quarantine_file, &l, err);
    if (rc == URSA_OK && l.rc) rc = ursa_err_set(err, l.rc, "out of memory");
    return rc;
}

/* ---- the query ---- */

typedef struct resolver {
    const query_opts_t *o;
    ursa_dataset_t *d;
    ursa_schema_t loaded; /* without a catalog: the table's schema */
    bool have_loaded;
} resolver_t;

static int resolve(void *ctx, const char *name, bool quarantine, const ursa_schema_t **s, ursa_err_t *err)
{
    resolver_t *r = ctx;
    /* The caller's right first: a caller who may not read a dataset does
     * not learn whether it exists. */
    if (r->o->allow) {
        int rc = r->o->allow(r->o->allow_ctx, name, err);
        if (rc) return rc;
    }
    if (r->o->cat) {
        ursa_dataset_t *d = ursa_catalog_find(r->o->cat, name);
        if (!d || d->parent) return ursa_err_set(err, URSA_ENOTFOUND, "dataset %s does not exist", name);
        if (quarantine) d = d->quarantine;
        if (!d) return ursa_err_set(err, URSA_ENOTFOUND, "dataset %s has no quarantine", name);
        r->d = d;
        *s = &d->schema;
        return URSA_OK;
    }
    if (quarantine)
        return ursa_err_set(err, URSA_ENOTSUP, "quarantines are read through a node (they are not tables)");
    int rc = table_load_schema(r->o->store, name, &r->loaded, err);
    if (rc == URSA_ENOTFOUND)
        return ursa_err_set(err, URSA_ENOTFOUND, "dataset %s has no table in the store", name);
    if (rc) return rc;
    r->have_loaded = true;
    *s = &r->loaded;
    return URSA_OK;
}

typedef struct runctx {
    const query_opts_t *o;
    int64_t deadline_ms;
    const query_sink_t *sink;
    bool paused; /* URSA_TEST_QUERY_PAUSE_MS done */
} runctx_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int check(void *ctx, ursa_err_t *err)
{
    runctx_t *r = ctx;
    /* test hook (inert without the variable): the query's first batch waits, so that a test can leave */
    const char *pause = getenv("URSA_TEST_QUERY_PAUSE_MS");
    if (pause && !__atomic_exchange_n(&r->paused, true, __ATOMIC_RELAXED))
        usleep((useconds_t)atoi(pause) * 1000);
    if (mono_ms() > r->deadline_ms)
        return ursa_err_set(err, URSA_ELIMIT, "the query ran past its time limit (%lld ms)",
                            (long long)(r->o->timeout_ms ? r->o->timeout_ms : QUERY_TIMEOUT_DEFAULT_MS));
    if (r->o->gone && r->o->gone(r->o->gone_ctx))
        return ursa_err_set(err, URSA_ECANCELED, "the client went away");
    return URSA_OK;
}

static int emit(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    runctx_t *r = ctx;
    return r->sink->rows(r->sink->ctx, b, err);
}

static int discard(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    return URSA_OK;
}

static const char *const agg_names[] = {"count(*)",
                                        "count",
                                        "count(DISTINCT)",
                                        "sum",
                                        "avg",
                                        "min",
                                        "max",
                                        "approx_count_distinct",
                                        "percentile_cont",
                                        "approx_quantile"};

/* EXPLAIN: the plan's stages and what the scan pruned, one line a row. */
static int explain(const sql_plan_t *p, const exec_stats_t *st, const query_sink_t *sink, ursa_err_t *err)
{
    char lines[16][300];
    size_t n = 0;
    snprintf(lines[n++], sizeof(lines[0]),
             "Scan %s%s: %zu column%s; buffered rows of every node, then the files of snapshot %lld",
             p->dataset, p->quarantine ? ".quarantine" : "", p->nscan, p->nscan == 1 ? "" : "s",
             (long long)st->snapshot_id);
    if (p->where)
        snprintf(lines[n++], sizeof(lines[0]),
                 "  Filter: WHERE, %zu condition%s pushed to files, row groups and pages", p->npreds,
                 p->npreds == 1 ? "" : "s");
    if (p->time_col >= 0 && (p->ts_lo != INT64_MIN || p->ts_hi != INT64_MAX))
        snprintf(lines[n++], sizeof(lines[0]), "  Time range: files outside it pruned by their day");
    snprintf(lines[n++], sizeof(lines[0]), "  Files: %llu in the snapshot, %llu pruned by day, %llu read",
             (unsigned long long)st->files, (unsigned long long)st->files_pruned,
             (unsigned long long)(st->files - st->files_pruned));
    snprintf(lines[n++], sizeof(lines[0]), "  Row groups: %llu, %llu pruned by statistics or bloom filters",
             (unsigned long long)st->row_groups, (unsigned long long)st->row_groups_pruned);
    snprintf(lines[n++], sizeof(lines[0]), "  Pages: %llu, %llu pruned by the page index",
             (unsigned long long)st->pages, (unsigned long long)st->pages_pruned);
    snprintf(lines[n++], sizeof(lines[0]), "  Rows: %llu scanned (%llu buffered)",
             (unsigned long long)st->rows_scanned, (unsigned long long)st->live_rows);
    if (p->aggregate) {
        char aggs[200] = "";
        for (size_t i = 0; i < p->naggs; i++)
            snprintf(aggs + strlen(aggs), sizeof(aggs) - strlen(aggs), "%s%s", i ? ", " : "",
                     agg_names[p->aggs[i].kind]);
        snprintf(lines[n++], sizeof(lines[0]), "Hash aggregate: %zu key%s; %s%s", p->nkeys,
                 p->nkeys == 1 ? "" : "s", aggs[0] ? aggs : "no aggregates", p->having ? "; HAVING" : "");
    }
    snprintf(lines[n++], sizeof(lines[0]), "Project: %zu column%s", p->nvisible, p->nvisible == 1 ? "" : "s");
    if (p->norder)
        snprintf(lines[n++], sizeof(lines[0]), "%s: %zu key%s", p->limit >= 0 ? "Top-N sort" : "Sort",
                 p->norder, p->norder == 1 ? "" : "s");
    if (p->limit >= 0 || p->offset)
        snprintf(lines[n++], sizeof(lines[0]), "Limit: %lld, offset %lld", (long long)p->limit,
                 (long long)p->offset);
    exec_str_t strs[16];
    for (size_t i = 0; i < n; i++) strs[i] = (exec_str_t){lines[i], strlen(lines[i])};
    exec_vec_t v = {.type = EXEC_STRING, .n = n, .v.s = strs};
    exec_batch_t b = {&v, 1, n};
    return sink->rows(sink->ctx, &b, err);
}

int query_source(const char *sql, const query_opts_t *o, ursa_dataset_t **d, ursa_err_t *err)
{
    *d = NULL;
    if (!o->cat) return ursa_err_set(err, URSA_EINVAL, "a query's source needs a node's datasets");
    resolver_t res = {o, NULL, {0}, false};
    sql_plan_t *p = NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rc = sql_plan(sql, resolve, &res, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, &p, err);
    if (rc == URSA_OK) *d = res.d;
    sql_plan_free(&p);
    return rc;
}

int query_run(const char *sql, const query_opts_t *o, const query_sink_t *sink, exec_stats_t *stats,
              ursa_err_t *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(stats, 0, sizeof(*stats));
    stats->snapshot_id = -1;
    resolver_t res = {o, NULL, {0}, false};
    sql_plan_t *p = NULL;
    scan_t s = {0};
    peer_answers_t answers = {0};
    json_t *pin = NULL;
    exec_schema_t schema = {0};
    exec_budget_t budget = {o->memory_limit ? o->memory_limit : QUERY_MEMORY_DEFAULT, 0, 0};
    int64_t now = o->now_us;
    if (!now) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    int rc = sql_plan(sql, resolve, &res, now, &p, err);
    if (rc) goto out;
    s.p = p;
    s.schema = res.d ? &res.d->schema : &res.loaded;
    s.store = o->store;
    s.stats = stats;
    s.budget = &budget;
    s.self = o->node;
    s.nworkers = 1;
    if (scan_scratch(&s)) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    /* the buffer first, then the table (query.h, "Exactness") */
    if (res.d && (rc = ursa_dataset_pin(res.d, p->scan_fields, p->nscan, &s.pin))) {
        ursa_err_set(err, rc, "out of memory");
        goto out;
    }
    stats->nodes = res.d ? 1 : 0;
    exec_arena_init(&s.peer_arena, &budget);
    if (res.d && o->peers &&
        (rc = ask_peers(o, sql, now, o->timeout_ms ? o->timeout_ms : QUERY_TIMEOUT_DEFAULT_MS, &answers,
                        stats, err)))
        goto out;
    bool table = !p->quarantine && (!o->cat || o->cat->iceberg);
    if (table) {
        if ((rc = table_pin(o->store, p->dataset, &pin, err))) goto out;
        json_t *sid = json_object_get(pin, "snapshot_id");
        if (json_is_integer(sid)) stats->snapshot_id = json_integer_value(sid);
        s.commits = json_object_get(pin, "commits");
        if (o->node) s.self_key = json_string_value(json_object_get(s.commits, o->node));
        if (s.self_key && !table_commit_range(s.self_key, &s.self_first, &s.self_last)) s.self_key = NULL;
        json_t *files = json_object_get(pin, "files");
        size_t i;
        json_t *f;
        s.files = ursa_calloc(json_array_size(files) + 1, sizeof(*s.files));
        if (!s.files) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
        json_array_foreach(files, i, f)
        {
            const char *date = json_string_value(json_object_get(f, "date"));
            int32_t day = 0;
            stats->files++;
            if (date && ursa_parse_date(date, strlen(date), &day) == NULL && p->time_col >= 0) {
                int64_t lo = (int64_t)day * US_PER_DAY, hi = lo + US_PER_DAY - 1;
                if (hi < p->ts_lo || lo > p->ts_hi) {
                    stats->files_pruned++;
                    continue;
                }
            }
            const char *key = json_string_value(json_object_get(f, "path"));
            if (!key || !(s.files[s.nfiles].key = ursa_strdup(key))) {
                rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                goto out;
            }
            s.files[s.nfiles++].day = day;
        }
    } else if (p->quarantine && (rc = list_quarantine(&s, res.d->name, stats, err)))
        goto out;
    for (size_t i = 0; i < answers.n; i++) {
        if (!answers.calls[i].body.len) continue; /* left out (partial) */
        /* (the answer's bytes stay: its strings are read where they are) */
        if ((rc = take_peer_rows(&s, &answers.calls[i], err))) goto out;
        stats->nodes++;
    }
    if (!p->explain) {
        schema.n = p->nvisible;
        schema.names = ursa_calloc(p->nvisible + 1, sizeof(char *));
        schema.types = ursa_calloc(p->nvisible + 1, sizeof(exec_type_t));
        if (!schema.names || !schema.types) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t c = 0; c < p->nvisible; c++) {
            schema.types[c] = p->outs[c]->type;
            if (!(schema.names[c] = ursa_strdup(p->names[c]))) {
                rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                goto out;
            }
        }
    } else {
        schema.n = 1;
        schema.names = ursa_calloc(2, sizeof(char *));
        schema.types = ursa_calloc(2, sizeof(exec_type_t));
        if (!schema.names || !schema.types || !(schema.names[0] = ursa_strdup("plan"))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
        schema.types[0] = EXEC_STRING;
    }
    if ((rc = sink->begin(sink->ctx, &schema, err))) goto out;
    runctx_t rcx = {o, mono_ms() + (o->timeout_ms ? o->timeout_ms : QUERY_TIMEOUT_DEFAULT_MS), sink, false};
    /* workers: one per core (at most QUERY_WORKERS_MAX), fewer for few rows */
    size_t rows_total = 0;
    for (size_t k = 0; k < s.pin.n; k++) rows_total += s.pin.chunks[k]->nrows;
    size_t nw = o->threads ? o->threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (nw > QUERY_WORKERS_MAX) nw = QUERY_WORKERS_MAX;
    if (nw < 1 || (s.nfiles == 0 && s.npb < 2 && rows_total < 2 * LIVE_UNIT_ROWS)) nw = 1;
    scan_t ws[QUERY_WORKERS_MAX];
    exec_stats_t wst[QUERY_WORKERS_MAX];
    exec_source_t srcs[QUERY_WORKERS_MAX];
    size_t made = 1;
    srcs[0] = (exec_source_t){scan_next, &s};
    s.nworkers = nw;
    for (; made < nw; made++) {
        memset(&wst[made], 0, sizeof(wst[made]));
        if (scan_clone(&s, &ws[made], made, nw, &wst[made])) {
            scan_free(&ws[made]);
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            break;
        }
        srcs[made] = (exec_source_t){scan_next, &ws[made]};
    }
    exec_run_opts_t ro = {.budget = &budget,
                          .check = check,
                          .check_ctx = &rcx,
                          .emit = p->explain ? discard : emit,
                          .emit_ctx = &rcx,
                          .stats = stats};
    if (rc == URSA_OK) rc = exec_run_sources(p, srcs, nw, &ro, err);
    for (size_t w = 1; w < made; w++) {
        scan_free(&ws[w]); /* closes its reader: its counters into wst[w] */
        stats->live_rows += wst[w].live_rows;
        stats->row_groups += wst[w].row_groups, stats->row_groups_pruned += wst[w].row_groups_pruned;
        stats->pages += wst[w].pages, stats->pages_pruned += wst[w].pages_pruned;
        stats->bytes_read += wst[w].bytes_read;
    }
    if (rc == URSA_OK && p->explain) {
        close_file(&s); /* its counters too */
        rc = explain(p, stats, sink, err);
    }
out:
    if (rc == URSA_ENOMEM && !err->msg[0]) ursa_err_set(err, rc, "out of memory");
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    stats->peak_bytes = budget.peak;
    scan_free(&s);
    peer_answers_free(&answers);
    json_decref(pin);
    exec_schema_free(&schema);
    sql_plan_free(&p);
    if (res.have_loaded) ursa_schema_free(&res.loaded);
    return rc;
}

int query_scan_live(const char *sql, int64_t now_us, const query_opts_t *o, ursa_buf_t *out, ursa_err_t *err)
{
    resolver_t res = {o, NULL, {0}, false};
    sql_plan_t *p = NULL;
    scan_t s = {0};
    exec_budget_t budget = {o->memory_limit ? o->memory_limit : QUERY_MEMORY_DEFAULT, 0, 0};
    exec_stats_t stats = {0};
    int rc = o->cat ? sql_plan(sql, resolve, &res, now_us, &p, err)
                    : ursa_err_set(err, URSA_EINVAL, "a scan needs a node's buffers");
    if (rc) goto out;
    s.p = p;
    s.schema = &res.d->schema;
    s.stats = &stats;
    s.budget = &budget;
    s.peer_mode = true;
    s.nworkers = 1;
    exec_arena_init(&s.peer_arena, &budget);
    if (!(s.keep = ursa_malloc(EXEC_BATCH_ROWS)) ||
        (rc = ursa_dataset_pin(res.d, p->scan_fields, p->nscan, &s.pin))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    /* the header: this node, then the columns (the scan's, _lsn, _day) */
    const char *node = o->node ? o->node : "";
    uint32_t version = 1, ncols = (uint32_t)p->nscan + 2;
    uint16_t len = (uint16_t)strlen(node);
    rc = ursa_buf_append(out, PEER_MAGIC, 4);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &version, 4);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &len, 2);
    if (rc == URSA_OK) rc = ursa_buf_append(out, node, len);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &ncols, 4);
    for (size_t c = 0; rc == URSA_OK && c < ncols; c++) {
        const char *name = c < p->nscan    ? s.schema->fields[p->scan_fields[c]].name
                           : c == p->nscan ? "_lsn"
                                           : "_day";
        uint8_t t = (uint8_t)(c < p->nscan ? p->scan_types[c] : EXEC_INT64);
        len = (uint16_t)strlen(name);
        if ((rc = ursa_buf_push(out, t)) == URSA_OK && (rc = ursa_buf_append(out, &len, 2)) == URSA_OK)
            rc = ursa_buf_append(out, name, len);
    }
    if (rc) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    exec_source_t src = {scan_next, &s};
    exec_run_opts_t ro = {
        .budget = &budget, .emit = encode_emit, .emit_ctx = out, .stats = &stats, .scan_only = true};
    if ((rc = exec_run(p, &src, &ro, err)) == URSA_OK) {
        uint32_t end = 0;
        if (ursa_buf_append(out, &end, 4)) rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
out:
    scan_free(&s);
    sql_plan_free(&p);
    return rc;
}
