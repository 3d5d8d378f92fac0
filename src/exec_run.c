/*
 * exec_run.c -- the pipeline of a plan (see exec_run.h).
 */
#include "exec_run.h"

#include "exec_agg.h"
#include "exec_expr.h"
#include "exec_sort.h"

#include <string.h>

typedef struct run {
    const sql_plan_t *p;
    const exec_run_opts_t *o;
    exec_arena_t arena; /* the current batch's */
    exec_sort_t *sort;
    int64_t skip;       /* OFFSET rows still to drop */
    int64_t left;       /* LIMIT rows still to give; -1: no limit */
    exec_type_t *types; /* of the projected columns */
    ursa_err_t *err;
} run_t;

static int limit_err(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ELIMIT, "the query needs more memory than its budget allows");
}

/* Gives rows of a projected batch to the consumer, after OFFSET and LIMIT. */
static int give(run_t *r, const exec_batch_t *b)
{
    size_t from = 0, n = b->n;
    if (r->skip) {
        size_t s = (size_t)r->skip < n ? (size_t)r->skip : n;
        from = s;
        r->skip -= (int64_t)s;
    }
    n -= from;
    if (r->left >= 0 && (int64_t)n > r->left) n = (size_t)r->left;
    if (n == 0) return URSA_OK;
    if (r->left >= 0) r->left -= (int64_t)n;
    exec_vec_t cols[64], *vis = cols;
    size_t nv = r->p->nvisible;
    if (nv > 64 && !(vis = exec_arena_alloc(&r->arena, nv * sizeof(*vis)))) return limit_err(r->err);
    for (size_t c = 0; c < nv; c++) {
        vis[c] = b->cols[c];
        size_t w = exec_type_width(vis[c].type);
        if (w) vis[c].v.p = (char *)vis[c].v.p + from * w;
        if (vis[c].nulls) vis[c].nulls += from;
        vis[c].n = n;
    }
    exec_batch_t out = {vis, nv, n};
    if (r->o->stats) r->o->stats->rows += n;
    return r->o->emit(r->o->emit_ctx, &out, r->err);
}

/* The select list (and hidden ORDER BY columns) over in[sel], then ORDER BY or out. */
static int project(run_t *r, const exec_batch_t *in, const uint32_t *sel, size_t n)
{
    if (n == 0) return URSA_OK;
    const sql_plan_t *p = r->p;
    exec_ctx_t cx = {&r->arena, r->err};
    exec_batch_t out = {exec_arena_alloc(&r->arena, (p->nouts + 1) * sizeof(exec_vec_t)), p->nouts, n};
    if (!out.cols) return limit_err(r->err);
    for (size_t c = 0; c < p->nouts; c++) {
        int rc = exec_eval(&cx, p->outs[c], in, sel, n, &out.cols[c]);
        if (rc) return rc;
    }
    if (r->sort) return exec_sort_add(r->sort, &out, r->err);
    return give(r, &out);
}

static bool done(const run_t *r)
{
    return !r->sort && !r->p->aggregate && r->left == 0;
}

static int drain_groups(run_t *r, exec_agg_t *agg)
{
    const sql_plan_t *p = r->p;
    size_t total = exec_agg_groups(agg);
    uint32_t *sel = ursa_malloc(EXEC_BATCH_ROWS * sizeof(*sel));
    if (!sel) return ursa_err_set(r->err, URSA_ENOMEM, "out of memory");
    int rc = URSA_OK;
    exec_ctx_t cx = {&r->arena, r->err};
    for (size_t from = 0; from < total && rc == URSA_OK && !done(r); from += EXEC_BATCH_ROWS) {
        exec_arena_reset(&r->arena);
        size_t n = total - from < EXEC_BATCH_ROWS ? total - from : EXEC_BATCH_ROWS;
        exec_batch_t g;
        if ((rc = exec_agg_result(agg, from, n, &r->arena, &g, r->err))) break;
        const uint32_t *s = NULL;
        if (p->having) {
            if ((rc = exec_filter(&cx, p->having, &g, NULL, n, sel, &n))) break;
            s = sel;
        }
        rc = project(r, &g, s, n);
    }
    ursa_free(sel);
    return rc;
}

int exec_run(const sql_plan_t *p, exec_source_t *src, const exec_run_opts_t *o, ursa_err_t *err)
{
    run_t r = {.p = p, .o = o, .err = err, .skip = p->offset, .left = p->limit};
    exec_arena_init(&r.arena, o->budget);
    exec_agg_t *agg = NULL;
    uint32_t *sel = ursa_malloc(EXEC_BATCH_ROWS * sizeof(*sel));
    exec_vec_t *keys = ursa_calloc(p->nkeys + 1, sizeof(*keys)),
               *args = ursa_calloc(p->naggs + 1, sizeof(*args));
    int rc = URSA_OK;
    if (!sel || !keys || !args) rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (o->scan_only) r.skip = 0, r.left = -1;
    if (rc == URSA_OK && !o->scan_only && p->aggregate) rc = exec_agg_new(&agg, p, o->budget);
    if (rc == URSA_OK && !o->scan_only && p->norder) {
        if (!(r.types = ursa_malloc((p->nouts + 1) * sizeof(*r.types)))) rc = URSA_ENOMEM;
        for (size_t c = 0; rc == URSA_OK && c < p->nouts; c++) r.types[c] = p->outs[c]->type;
        size_t keep = 0;
        if (rc == URSA_OK && p->limit >= 0)
            keep = (size_t)(p->limit + p->offset) + (p->limit + p->offset == 0);
        if (rc == URSA_OK)
            rc = exec_sort_new(&r.sort, r.types, p->nouts, p->order, p->norder, keep, o->budget);
        if (rc == URSA_ENOMEM) ursa_err_set(err, rc, "out of memory");
    }
    exec_ctx_t cx = {&r.arena, err};
    while (rc == URSA_OK && !(done(&r) && !o->scan_only)) {
        if (o->check && (rc = o->check(o->check_ctx, err))) break;
        exec_arena_reset(&r.arena);
        exec_batch_t b = {0};
        if ((rc = src->next(src->ctx, &r.arena, &b, err)) || b.n == 0) break;
        if (o->stats) o->stats->rows_scanned += b.n;
        for (size_t at = 0; at < b.n && rc == URSA_OK; at += EXEC_BATCH_ROWS) {
            /* a source may give more than EXEC_BATCH_ROWS rows: windows of it */
            exec_batch_t w = b;
            size_t n = b.n - at < EXEC_BATCH_ROWS ? b.n - at : EXEC_BATCH_ROWS;
            exec_vec_t cols[64], *wc = cols;
            if (b.ncols > 64 && !(wc = exec_arena_alloc(&r.arena, b.ncols * sizeof(*wc)))) {
                rc = limit_err(err);
                break;
            }
            for (size_t c = 0; c < b.ncols; c++) {
                wc[c] = b.cols[c];
                size_t wd = exec_type_width(wc[c].type);
                if (wd) wc[c].v.p = (char *)wc[c].v.p + at * wd;
                if (wc[c].nulls) wc[c].nulls += at;
                wc[c].n = n;
            }
            w.cols = wc, w.n = n;
            const uint32_t *s = NULL;
            if (p->where) {
                if ((rc = exec_filter(&cx, p->where, &w, NULL, n, sel, &n))) break;
                s = sel;
            }
            if (o->scan_only) {
                if (n == 0) continue;
                exec_batch_t f = {exec_arena_alloc(&r.arena, (w.ncols + 1) * sizeof(exec_vec_t)), w.ncols, n};
                if (!f.cols) {
                    rc = limit_err(err);
                    break;
                }
                for (size_t c = 0; c < w.ncols && rc == URSA_OK; c++)
                    rc = s ? exec_vec_gather(&cx, &w.cols[c], s, n, &f.cols[c])
                           : (f.cols[c] = w.cols[c], URSA_OK);
                if (rc == URSA_OK) rc = o->emit(o->emit_ctx, &f, err);
                continue;
            }
            if (agg) {
                for (size_t k = 0; k < p->nkeys && rc == URSA_OK; k++)
                    rc = exec_eval(&cx, p->keys[k], &w, s, n, &keys[k]);
                for (size_t a = 0; a < p->naggs && rc == URSA_OK; a++)
                    if (p->aggs[a].arg) rc = exec_eval(&cx, p->aggs[a].arg, &w, s, n, &args[a]);
                if (rc == URSA_OK) rc = exec_agg_add(agg, keys, args, n, err);
            } else
                rc = project(&r, &w, s, n);
            if (done(&r)) break;
        }
    }
    if (rc == URSA_OK && agg) rc = drain_groups(&r, agg);
    if (rc == URSA_OK && r.sort) {
        exec_sort_t *s = r.sort;
        r.sort = NULL; /* give() from here on */
        rc = exec_sort_finish(s, err);
        while (rc == URSA_OK && !done(&r)) {
            exec_arena_reset(&r.arena);
            exec_batch_t b;
            if ((rc = exec_sort_next(s, &r.arena, &b, err)) || b.n == 0) break;
            rc = give(&r, &b);
        }
        exec_sort_free(&s);
    }
    if (o->stats && o->budget) o->stats->peak_bytes = o->budget->peak;
    exec_sort_free(&r.sort);
    exec_agg_free(&agg);
    exec_arena_free(&r.arena);
    ursa_free(sel), ursa_free(keys), ursa_free(args), ursa_free(r.types);
    return rc;
}
