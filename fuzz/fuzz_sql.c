/*
 * libFuzzer driver for the query engine's planner and executor: the input
 * is SQL text, planned (sql_plan: libpg_query's parse, then binding,
 * typing, folding) against a dataset with a column of every type, and run
 * (exec_run) over 3000 generated rows -- nulls, zeros, extremes, unicode --
 * under a 64 MiB budget. Invariants: no crash, no leak, no sanitizer
 * report; a failure is one of the statuses a query may end with, and
 * carries a message; a result has as many columns as the plan says, every
 * vector as many values as the batch has rows.
 */
#include "exec_run.h"
#include "schema.h"
#include "sql_plan.h"

#include <stdlib.h>
#include <string.h>

static const char SCHEMA[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"i\",\"type\":\"int64\"},{\"name\":\"f\",\"type\":\"float64\"},"
                             "{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"s\",\"type\":\"string\"},"
                             "{\"name\":\"i8\",\"type\":\"int8\"},{\"name\":\"day\",\"type\":\"date\"},"
                             "{\"name\":\"j\",\"type\":\"json\"}],\"time_column\":\"ts\"}";

static ursa_schema_t schema;
static bool ready;

static int resolve(void *ctx, const char *name, bool quarantine, const ursa_schema_t **s, ursa_err_t *err)
{
    if (strcmp(name, "t")) return ursa_err_set(err, URSA_ENOTFOUND, "dataset %s does not exist", name);
    *s = &schema;
    return URSA_OK;
}

typedef struct gen {
    const sql_plan_t *p;
    size_t row, rows;
} gen_t;

static const char *const STRS[] = {"", "a", "abc", "ÉtÉ", "日本語", "%_", "x y", "🙂", "NULL", "-0"};

static int next(void *ctx, exec_arena_t *a, exec_batch_t *out, ursa_err_t *err)
{
    gen_t *g = ctx;
    size_t n = g->rows - g->row < 1000 ? g->rows - g->row : 1000;
    out->n = n;
    out->ncols = g->p->nscan;
    if (!n) return URSA_OK;
    out->cols = exec_arena_alloc(a, (out->ncols + 1) * sizeof(exec_vec_t));
    if (!out->cols) return ursa_err_set(err, URSA_ELIMIT, "budget");
    for (size_t c = 0; c < out->ncols; c++) {
        exec_vec_t *v = &out->cols[c];
        if (exec_vec_alloc(v, a, g->p->scan_types[c], n) || exec_vec_nulls(v, a))
            return ursa_err_set(err, URSA_ELIMIT, "budget");
        for (size_t k = 0; k < n; k++) {
            size_t r = g->row + k;
            v->nulls[k] = r % 7 == 3 && g->p->scan_fields[c] != 0;
            switch (v->type) {
            case EXEC_BOOL:
                v->v.b[k] = r % 3 == 0;
                break;
            case EXEC_FLOAT64:
                v->v.f[k] = r % 11 == 0 ? 0.0 / 0.0 : r % 13 == 0 ? -0.0 : (double)r * 1.5 - 700;
                break;
            case EXEC_STRING:
                v->v.s[k] = (exec_str_t){STRS[r % 10], strlen(STRS[r % 10])};
                break;
            case EXEC_TIMESTAMP:
                v->v.i[k] = 1764547200000000LL + (int64_t)r * 61000000;
                break;
            case EXEC_DATE:
                v->v.i[k] = 20400 + (int64_t)(r % 40);
                break;
            default:
                v->v.i[k] = r % 17 == 0   ? INT64_MAX - (int64_t)r
                            : r % 19 == 0 ? INT64_MIN + (int64_t)r
                                          : (int64_t)r - 1500;
            }
        }
    }
    g->row += n;
    return URSA_OK;
}

typedef struct sink {
    const sql_plan_t *p;
} sink_t;

static int emit(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    sink_t *s = ctx;
    if (b->ncols != s->p->nvisible) abort();
    for (size_t c = 0; c < b->ncols; c++) {
        if (b->cols[c].n != b->n) abort();
        if (b->cols[c].type != s->p->outs[c]->type && b->cols[c].type != EXEC_NULL) abort();
        if (b->cols[c].type == EXEC_STRING)
            for (size_t k = 0; k < b->n; k++)
                if (!exec_is_null(&b->cols[c], k) && b->cols[c].v.s[k].n && !b->cols[c].v.s[k].p) abort();
    }
    return URSA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        ursa_err_t e;
        if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &schema, &e)) abort();
        ready = true;
    }
    if (size > 4096) return 0;
    char *sql = malloc(size + 1);
    memcpy(sql, data, size);
    sql[size] = '\0';
    sql_plan_t *p = NULL;
    ursa_err_t err = {0};
    int rc = sql_plan(sql, resolve, NULL, 1764590000000000LL, &p, &err);
    if (rc) {
        if (rc != URSA_EINVAL && rc != URSA_ENOTFOUND && rc != URSA_ENOMEM) abort();
        if (!err.msg[0]) abort();
    } else {
        exec_budget_t budget = {64u << 20, 0, 0};
        gen_t g = {p, 0, 3000};
        sink_t s = {p};
        exec_source_t src = {next, &g};
        exec_stats_t st = {0};
        exec_run_opts_t o = {.budget = &budget, .emit = emit, .emit_ctx = &s, .stats = &st};
        rc = exec_run(p, &src, &o, &err);
        if (rc && rc != URSA_EINVAL && rc != URSA_ELIMIT && rc != URSA_ENOMEM) abort();
        if (rc && !err.msg[0]) abort();
        sql_plan_free(&p);
    }
    free(sql);
    return 0;
}
