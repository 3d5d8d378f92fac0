/*
 * exec_sort.c -- ORDER BY and top-N (see exec_sort.h).
 */
#include "exec_sort.h"

#include "exec_expr.h"

#include <stdlib.h>
#include <string.h>

/* Rows held column by column, values and null bytes in growable arrays. */
typedef struct rowset {
    size_t n, cap;
    void **vals;     /* per column */
    uint8_t **nulls; /* per column */
    exec_arena_t strs;
} rowset_t;

struct exec_sort {
    size_t ncols;
    exec_type_t *types;
    sql_sort_key_t *keys;
    size_t nkeys, keep;
    exec_budget_t *budget;
    rowset_t rs;
    uint32_t *perm; /* after finish: the order */
    size_t next;    /* the next position of perm to give */
};

static int limit_err(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ELIMIT, "the query needs more memory than its budget allows (ORDER BY)");
}

static void rowset_free(exec_sort_t *s, rowset_t *r)
{
    for (size_t c = 0; r->vals && c < s->ncols; c++) {
        ursa_free(r->vals[c]);
        ursa_free(r->nulls[c]);
    }
    size_t row = 1;
    for (size_t c = 0; c < s->ncols; c++) row += exec_type_width(s->types[c]);
    exec_budget_give(s->budget, r->cap * row);
    ursa_free(r->vals);
    ursa_free(r->nulls);
    exec_arena_free(&r->strs);
    memset(r, 0, sizeof(*r));
}

static int rowset_init(exec_sort_t *s, rowset_t *r)
{
    memset(r, 0, sizeof(*r));
    exec_arena_init(&r->strs, s->budget);
    r->vals = ursa_calloc(s->ncols + 1, sizeof(void *));
    r->nulls = ursa_calloc(s->ncols + 1, sizeof(uint8_t *));
    return r->vals && r->nulls ? URSA_OK : URSA_ENOMEM;
}

static int rowset_reserve(exec_sort_t *s, rowset_t *r, size_t need)
{
    if (need <= r->cap) return URSA_OK;
    size_t cap = r->cap ? r->cap * 2 : 1024;
    while (cap < need) cap *= 2;
    size_t row = 1;
    for (size_t c = 0; c < s->ncols; c++) row += exec_type_width(s->types[c]);
    if (!exec_budget_take(s->budget, (cap - r->cap) * row)) return URSA_ELIMIT;
    for (size_t c = 0; c < s->ncols; c++) {
        size_t w = exec_type_width(s->types[c]);
        void *v = ursa_realloc(r->vals[c], cap * (w ? w : 1));
        if (v) r->vals[c] = v;
        uint8_t *nl = ursa_realloc(r->nulls[c], cap);
        if (nl) r->nulls[c] = nl;
        if (!v || !nl) return URSA_ENOMEM;
    }
    r->cap = cap;
    return URSA_OK;
}

/* Appends row i of batch b (its visible columns) to r. */
static int rowset_add(exec_sort_t *s, rowset_t *r, const exec_batch_t *b, const uint32_t *rows, size_t n)
{
    int rc = rowset_reserve(s, r, r->n + n);
    if (rc) return rc;
    for (size_t c = 0; c < s->ncols; c++) {
        const exec_vec_t *v = &b->cols[c];
        size_t w = exec_type_width(s->types[c]);
        uint8_t *nl = r->nulls[c] + r->n;
        char *dst = (char *)r->vals[c] + r->n * w;
        for (size_t k = 0; k < n; k++) {
            size_t i = rows ? rows[k] : k;
            nl[k] = v->type == EXEC_NULL || exec_is_null(v, i);
            if (!w) continue;
            if (s->types[c] == EXEC_STRING && !nl[k]) {
                exec_str_t x = v->v.s[i];
                char *p = exec_arena_alloc(&r->strs, x.n);
                if (!p) return URSA_ELIMIT;
                if (x.n) memcpy(p, x.p, x.n);
                ((exec_str_t *)(void *)dst)[k] = (exec_str_t){p, x.n};
            } else if (nl[k])
                memset(dst + k * w, 0, w);
            else
                memcpy(dst + k * w, (const char *)v->v.p + i * w, w);
        }
    }
    r->n += n;
    return URSA_OK;
}

int exec_sort_new(exec_sort_t **out, const exec_type_t *types, size_t ncols, const sql_sort_key_t *keys,
                  size_t nkeys, size_t keep, exec_budget_t *budget)
{
    exec_sort_t *s = ursa_calloc(1, sizeof(*s));
    if (!s) return URSA_ENOMEM;
    s->ncols = ncols, s->nkeys = nkeys, s->keep = keep, s->budget = budget;
    s->types = ursa_malloc((ncols + 1) * sizeof(*types));
    s->keys = ursa_malloc((nkeys + 1) * sizeof(*keys));
    if (!s->types || !s->keys || rowset_init(s, &s->rs)) {
        exec_sort_free(&s);
        return URSA_ENOMEM;
    }
    memcpy(s->types, types, ncols * sizeof(*types));
    memcpy(s->keys, keys, nkeys * sizeof(*keys));
    *out = s;
    return URSA_OK;
}

void exec_sort_free(exec_sort_t **ps)
{
    exec_sort_t *s = *ps;
    if (!s) return;
    if (s->types) rowset_free(s, &s->rs);
    ursa_free(s->types);
    ursa_free(s->keys);
    ursa_free(s->perm);
    ursa_free(s);
    *ps = NULL;
}

static int cmp_rows(const void *x, const void *y, void *ctx)
{
    const exec_sort_t *s = ctx;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    for (size_t k = 0; k < s->nkeys; k++) {
        const sql_sort_key_t *key = &s->keys[k];
        size_t c = key->col;
        bool an = s->rs.nulls[c][a], bn = s->rs.nulls[c][b];
        if (an || bn) {
            if (an && bn) continue;
            return (an ? 1 : -1) * (key->nulls_first ? -1 : 1);
        }
        exec_vec_t v = {.type = s->types[c], .v.p = s->rs.vals[c]};
        int r = exec_cmp_value(s->types[c], &v, a, &v, b);
        if (r) return key->desc ? -r : r;
    }
    return a < b ? -1 : a > b; /* stable */
}

static int sort_perm(exec_sort_t *s, ursa_err_t *err)
{
    ursa_free(s->perm);
    s->perm = ursa_malloc((s->rs.n + 1) * sizeof(*s->perm));
    if (!s->perm) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->rs.n; i++) s->perm[i] = (uint32_t)i;
    qsort_r(s->perm, s->rs.n, sizeof(*s->perm), cmp_rows, s);
    return URSA_OK;
}

/* Keeps the best `keep` rows only. */
static int cut(exec_sort_t *s, ursa_err_t *err)
{
    int rc = sort_perm(s, err);
    if (rc) return rc;
    rowset_t nr;
    if (rowset_init(s, &nr)) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    size_t n = s->rs.n < s->keep ? s->rs.n : s->keep;
    /* gather through a batch view of the old rows */
    exec_vec_t *cols = ursa_calloc(s->ncols + 1, sizeof(*cols));
    if (!cols) {
        rowset_free(s, &nr);
        return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    for (size_t c = 0; c < s->ncols; c++)
        cols[c] =
            (exec_vec_t){.type = s->types[c], .n = s->rs.n, .nulls = s->rs.nulls[c], .v.p = s->rs.vals[c]};
    exec_batch_t b = {cols, s->ncols, s->rs.n};
    rc = rowset_add(s, &nr, &b, s->perm, n);
    ursa_free(cols);
    if (rc) {
        rowset_free(s, &nr);
        return rc == URSA_ELIMIT ? limit_err(err) : ursa_err_set(err, rc, "out of memory");
    }
    rowset_free(s, &s->rs);
    s->rs = nr;
    return URSA_OK;
}

int exec_sort_add(exec_sort_t *s, const exec_batch_t *b, ursa_err_t *err)
{
    int rc = rowset_add(s, &s->rs, b, NULL, b->n);
    if (rc) return rc == URSA_ELIMIT ? limit_err(err) : ursa_err_set(err, rc, "out of memory");
    if (s->keep && s->rs.n > 8192 && s->rs.n > 2 * s->keep) return cut(s, err);
    return URSA_OK;
}

int exec_sort_finish(exec_sort_t *s, ursa_err_t *err)
{
    int rc = sort_perm(s, err);
    if (rc) return rc;
    if (s->keep && s->rs.n > s->keep) s->rs.n = s->keep; /* perm's first rows are the best */
    s->next = 0;
    return URSA_OK;
}

int exec_sort_next(exec_sort_t *s, exec_arena_t *arena, exec_batch_t *out, ursa_err_t *err)
{
    size_t total = s->keep && s->keep < s->rs.n ? s->keep : s->rs.n;
    size_t n = total - s->next < EXEC_BATCH_ROWS ? total - s->next : EXEC_BATCH_ROWS;
    out->ncols = s->ncols;
    out->n = n;
    out->cols = exec_arena_alloc(arena, (s->ncols + 1) * sizeof(exec_vec_t));
    if (!out->cols) return limit_err(err);
    for (size_t c = 0; c < s->ncols; c++) {
        exec_vec_t *v = &out->cols[c];
        if (exec_vec_alloc(v, arena, s->types[c], n) || exec_vec_nulls(v, arena)) return limit_err(err);
        size_t w = exec_type_width(s->types[c]);
        for (size_t k = 0; k < n; k++) {
            uint32_t i = s->perm[s->next + k];
            v->nulls[k] = s->rs.nulls[c][i];
            if (w) memcpy((char *)v->v.p + k * w, (const char *)s->rs.vals[c] + (size_t)i * w, w);
        }
    }
    s->next += n;
    return URSA_OK;
}

int exec_sort_merge(exec_sort_t *s, exec_sort_t *from, ursa_err_t *err)
{
    if (!from->rs.n) return URSA_OK;
    exec_vec_t *cols = ursa_calloc(s->ncols + 1, sizeof(*cols));
    if (!cols) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    for (size_t c = 0; c < s->ncols; c++)
        cols[c] = (exec_vec_t){
            .type = s->types[c], .n = from->rs.n, .nulls = from->rs.nulls[c], .v.p = from->rs.vals[c]};
    exec_batch_t b = {cols, s->ncols, from->rs.n};
    int rc = exec_sort_add(s, &b, err);
    ursa_free(cols);
    return rc;
}
