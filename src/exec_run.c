/*
 * exec_run.c -- the pipeline of a plan (see exec_run.h).
 *
 * Workers. Each source is read by a worker of its own (a thread, the
 * caller's for the first): it filters its batches, and aggregates them into
 * an aggregation of its own, adds them to a sorter of its own, or -- with
 * neither -- gives them out under the run's lock, which keeps OFFSET and
 * LIMIT exact. When every worker is done, the others' aggregations and
 * sorters are merged into the first's, which gives the result. The first
 * error stops every worker at its next batch.
 */
#include "exec_run.h"

#include "exec_agg.h"
#include "exec_expr.h"
#include "exec_sort.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct shared {
    const sql_plan_t *p;
    const exec_run_opts_t *o;
    pthread_mutex_t mu; /* the consumer, skip, left, the first error */
    int64_t skip;       /* OFFSET rows still to drop */
    int64_t left;       /* LIMIT rows still to give; -1: no limit */
    int rc;             /* the first error */
    ursa_err_t err;
    bool stop; /* an error, or the LIMIT reached: every worker ends */
} shared_t;

typedef struct worker {
    shared_t *sh;
    exec_source_t *src;
    exec_arena_t arena; /* the current batch's */
    exec_agg_t *agg;
    exec_sort_t *sort;
    uint32_t *sel;
    exec_vec_t *keys, *args;
    exec_stats_t stats; /* rows_scanned and rows of this worker */
    ursa_err_t err;
    pthread_t thread;
    bool started;
} worker_t;

static int limit_err(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ELIMIT, "the query needs more memory than its budget allows");
}

static bool stopped(shared_t *sh)
{
    return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
}

/* Gives rows of a projected batch to the consumer, after OFFSET and LIMIT (under the run's lock). */
static int give(worker_t *w, const exec_batch_t *b)
{
    shared_t *sh = w->sh;
    pthread_mutex_lock(&sh->mu);
    size_t from = 0, n = b->n;
    if (sh->skip) {
        size_t s = (size_t)sh->skip < n ? (size_t)sh->skip : n;
        from = s;
        sh->skip -= (int64_t)s;
    }
    n -= from;
    if (sh->left >= 0 && (int64_t)n > sh->left) n = (size_t)sh->left;
    int rc = URSA_OK;
    if (n) {
        if (sh->left >= 0) sh->left -= (int64_t)n;
        exec_vec_t cols[64], *vis = cols;
        size_t nv = sh->p->nvisible;
        if (nv > 64 && !(vis = exec_arena_alloc(&w->arena, nv * sizeof(*vis)))) rc = limit_err(&w->err);
        for (size_t c = 0; rc == URSA_OK && c < nv; c++) vis[c] = exec_vec_slice(&b->cols[c], from, n);
        exec_batch_t out = {vis, nv, n};
        w->stats.rows += n;
        if (rc == URSA_OK) rc = sh->o->emit(sh->o->emit_ctx, &out, &w->err);
    }
    if (sh->left == 0 && !sh->p->aggregate && !sh->p->norder)
        __atomic_store_n(&sh->stop, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* The select list (and hidden ORDER BY columns) over in[sel], then ORDER BY or out. */
static int project(worker_t *w, const exec_batch_t *in, const uint32_t *sel, size_t n)
{
    if (n == 0) return URSA_OK;
    const sql_plan_t *p = w->sh->p;
    exec_ctx_t cx = {&w->arena, &w->err};
    exec_batch_t out = {exec_arena_alloc(&w->arena, (p->nouts + 1) * sizeof(exec_vec_t)), p->nouts, n};
    if (!out.cols) return limit_err(&w->err);
    for (size_t c = 0; c < p->nouts; c++) {
        int rc = exec_eval(&cx, p->outs[c], in, sel, n, &out.cols[c]);
        if (rc) return rc;
    }
    if (w->sort) return exec_sort_add(w->sort, &out, &w->err);
    return give(w, &out);
}

/* A window of at most EXEC_BATCH_ROWS rows of a source batch: WHERE, then the next stage. */
static int window(worker_t *w, const exec_batch_t *b, size_t at)
{
    shared_t *sh = w->sh;
    const sql_plan_t *p = sh->p;
    exec_ctx_t cx = {&w->arena, &w->err};
    size_t n = b->n - at < EXEC_BATCH_ROWS ? b->n - at : EXEC_BATCH_ROWS;
    exec_vec_t cols[64], *wc = cols;
    if (b->ncols > 64 && !(wc = exec_arena_alloc(&w->arena, b->ncols * sizeof(*wc))))
        return limit_err(&w->err);
    for (size_t c = 0; c < b->ncols; c++) wc[c] = exec_vec_slice(&b->cols[c], at, n);
    exec_batch_t win = {wc, b->ncols, n};
    const uint32_t *s = NULL;
    int rc;
    if (p->where) {
        if ((rc = exec_filter(&cx, p->where, &win, NULL, n, w->sel, &n))) return rc;
        s = w->sel;
    }
    if (sh->o->scan_only) { /* the filtered scan batch, every column */
        if (n == 0) return URSA_OK;
        exec_batch_t f = {exec_arena_alloc(&w->arena, (win.ncols + 1) * sizeof(exec_vec_t)), win.ncols, n};
        if (!f.cols) return limit_err(&w->err);
        for (size_t c = 0; c < win.ncols; c++) {
            if (!s)
                f.cols[c] = win.cols[c];
            else if ((rc = exec_vec_gather(&cx, &win.cols[c], s, n, &f.cols[c])))
                return rc;
        }
        pthread_mutex_lock(&sh->mu);
        rc = sh->o->emit(sh->o->emit_ctx, &f, &w->err);
        pthread_mutex_unlock(&sh->mu);
        return rc;
    }
    if (w->agg) {
        for (size_t k = 0; k < p->nkeys; k++)
            if ((rc = exec_eval(&cx, p->keys[k], &win, s, n, &w->keys[k]))) return rc;
        for (size_t a = 0; a < p->naggs; a++)
            if (p->aggs[a].arg && (rc = exec_eval(&cx, p->aggs[a].arg, &win, s, n, &w->args[a]))) return rc;
        return exec_agg_add(w->agg, w->keys, w->args, n, &w->err);
    }
    return project(w, &win, s, n);
}

static void fail(shared_t *sh, int rc, const ursa_err_t *err)
{
    pthread_mutex_lock(&sh->mu);
    if (!sh->rc) {
        sh->rc = rc;
        sh->err = *err;
        if (!sh->err.msg[0]) snprintf(sh->err.msg, sizeof(sh->err.msg), "%s", ursa_strstatus(rc));
    }
    __atomic_store_n(&sh->stop, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sh->mu);
}

/* A worker: its source to its end, or until the run stops. */
static void *consume(void *arg)
{
    worker_t *w = arg;
    shared_t *sh = w->sh;
    const exec_run_opts_t *o = sh->o;
    int rc = URSA_OK;
    while (rc == URSA_OK && !stopped(sh)) {
        if (o->check && (rc = o->check(o->check_ctx, &w->err))) break;
        exec_arena_reset(&w->arena);
        exec_batch_t b = {0};
        if ((rc = w->src->next(w->src->ctx, &w->arena, &b, &w->err)) || b.n == 0) break;
        w->stats.rows_scanned += b.n;
        for (size_t at = 0; at < b.n && rc == URSA_OK && !stopped(sh); at += EXEC_BATCH_ROWS)
            rc = window(w, &b, at);
    }
    if (rc) fail(sh, rc, &w->err);
    return NULL;
}

static int worker_init(worker_t *w, shared_t *sh, exec_source_t *src, ursa_err_t *err)
{
    const sql_plan_t *p = sh->p;
    const exec_run_opts_t *o = sh->o;
    memset(w, 0, sizeof(*w));
    w->sh = sh, w->src = src;
    exec_arena_init(&w->arena, o->budget);
    w->sel = ursa_malloc(EXEC_BATCH_ROWS * sizeof(*w->sel));
    w->keys = ursa_calloc(p->nkeys + 1, sizeof(*w->keys));
    w->args = ursa_calloc(p->naggs + 1, sizeof(*w->args));
    if (!w->sel || !w->keys || !w->args) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (o->scan_only) return URSA_OK;
    if (p->aggregate && exec_agg_new(&w->agg, p, o->budget))
        return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (p->norder) {
        exec_type_t types[256], *t = types;
        if (p->nouts > 256 && !(t = ursa_malloc(p->nouts * sizeof(*t))))
            return ursa_err_set(err, URSA_ENOMEM, "out of memory");
        for (size_t c = 0; c < p->nouts; c++) t[c] = p->outs[c]->type;
        size_t keep = 0;
        if (p->limit >= 0) keep = (size_t)(p->limit + p->offset) + (p->limit + p->offset == 0);
        int rc = exec_sort_new(&w->sort, t, p->nouts, p->order, p->norder, keep, o->budget);
        if (t != types) ursa_free(t);
        if (rc) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    return URSA_OK;
}

static void worker_free(worker_t *w)
{
    exec_sort_free(&w->sort);
    exec_agg_free(&w->agg);
    exec_arena_free(&w->arena);
    ursa_free(w->sel), ursa_free(w->keys), ursa_free(w->args);
}

/* The groups of the (merged) aggregation: HAVING, the select list, on. */
static int drain_groups(worker_t *w)
{
    shared_t *sh = w->sh;
    const sql_plan_t *p = sh->p;
    size_t total = exec_agg_groups(w->agg);
    exec_ctx_t cx = {&w->arena, &w->err};
    int rc = URSA_OK;
    for (size_t from = 0; from < total && rc == URSA_OK && !stopped(sh); from += EXEC_BATCH_ROWS) {
        exec_arena_reset(&w->arena);
        size_t n = total - from < EXEC_BATCH_ROWS ? total - from : EXEC_BATCH_ROWS;
        exec_batch_t g;
        if ((rc = exec_agg_result(w->agg, from, n, &w->arena, &g, &w->err))) break;
        const uint32_t *s = NULL;
        if (p->having) {
            if ((rc = exec_filter(&cx, p->having, &g, NULL, n, w->sel, &n))) break;
            s = w->sel;
        }
        rc = project(w, &g, s, n);
        if (sh->left == 0 && !w->sort) break;
    }
    return rc;
}

int exec_run_sources(const sql_plan_t *p, exec_source_t *srcs, size_t nsrc, const exec_run_opts_t *o,
                     ursa_err_t *err)
{
    shared_t sh = {.p = p, .o = o, .skip = p->offset, .left = p->limit};
    if (o->scan_only) sh.skip = 0, sh.left = -1;
    pthread_mutex_init(&sh.mu, NULL);
    worker_t *ws = ursa_calloc(nsrc ? nsrc : 1, sizeof(*ws));
    int rc = ws ? URSA_OK : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    size_t n = 0;
    for (; rc == URSA_OK && n < nsrc; n++) rc = worker_init(&ws[n], &sh, &srcs[n], err);
    if (rc == URSA_OK && !(p->limit == 0 && !o->scan_only)) {
        for (size_t i = 1; i < nsrc; i++)
            ws[i].started = pthread_create(&ws[i].thread, NULL, consume, &ws[i]) == 0;
        consume(&ws[0]);
        for (size_t i = 1; i < nsrc; i++) {
            if (ws[i].started)
                pthread_join(ws[i].thread, NULL);
            else
                consume(&ws[i]); /* no thread: its share on this one */
        }
        if (sh.rc) {
            rc = sh.rc;
            *err = sh.err;
        }
    }
    worker_t *w = ws ? &ws[0] : NULL;
    /* the others' aggregations and sorters into the first's */
    for (size_t i = 1; rc == URSA_OK && i < n; i++) {
        if (w->agg) rc = exec_agg_merge(w->agg, ws[i].agg, err);
        if (rc == URSA_OK && w->sort) rc = exec_sort_merge(w->sort, ws[i].sort, err);
        exec_sort_free(&ws[i].sort);
        exec_agg_free(&ws[i].agg);
    }
    if (rc == URSA_OK && w && w->agg) {
        sh.stop = false;
        if ((rc = drain_groups(w))) *err = w->err;
    }
    if (rc == URSA_OK && w && w->sort) {
        exec_sort_t *s = w->sort;
        w->sort = NULL; /* give() from here on */
        rc = exec_sort_finish(s, err);
        while (rc == URSA_OK && sh.left != 0) {
            exec_arena_reset(&w->arena);
            exec_batch_t b;
            if ((rc = exec_sort_next(s, &w->arena, &b, err)) || b.n == 0) break;
            if ((rc = give(w, &b))) *err = w->err;
        }
        exec_sort_free(&s);
    }
    for (size_t i = 0; i < n; i++) {
        if (o->stats) o->stats->rows_scanned += ws[i].stats.rows_scanned, o->stats->rows += ws[i].stats.rows;
        worker_free(&ws[i]);
    }
    if (o->stats && o->budget) o->stats->peak_bytes = o->budget->peak;
    ursa_free(ws);
    pthread_mutex_destroy(&sh.mu);
    return rc;
}

int exec_run(const sql_plan_t *p, exec_source_t *src, const exec_run_opts_t *o, ursa_err_t *err)
{
    return exec_run_sources(p, src, 1, o, err);
}
