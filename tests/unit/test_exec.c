/*
 * test_exec.c -- the executor on generated rows (sql_plan + exec_run_sources),
 * against answers computed here: the same query split among 1, 2 and 3
 * workers gives the same result (aggregations and sorters merged), and
 * count(DISTINCT) over millions of values is exact through its partitioned
 * dedup (on two threads past 4 Mi values) and its intermediate passes.
 */
#include "exec_run.h"
#include "schema.h"
#include "sql_plan.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static const char SCHEMA[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"k\",\"type\":\"int64\"},{\"name\":\"v\",\"type\":\"float64\"},"
                             "{\"name\":\"s\",\"type\":\"string\"}],\"time_column\":\"ts\"}";
static ursa_schema_t schema;

static int resolve(void *ctx, const char *name, bool quarantine, const ursa_schema_t **s, ursa_err_t *err)
{
    *s = &schema;
    return URSA_OK;
}

/* Rows [from, to) of every source, row r: k = r % kmod (null when r % 97 == 0), v = r % 1000 / 4, s = "s<r %
 * 13>" (null when r % 11 == 5, with snull). With coded, s carries dictionary codes, every other batch into
 * a dictionary in the opposite order (ids unique to the source and order). */
static int opt_snull, opt_coded;
/* With text: s is row r's slice of `text` (0 to 90 bytes, back to back), as a scanned column's values lie. */
static const char *opt_text;
static size_t text_len, text_off[100001];

typedef struct gen {
    const sql_plan_t *p;
    size_t row, to, kmod, batch;
    char names[13][4];
    exec_str_t strs[13], rev[13];
    exec_dict_t dict[2];
} gen_t;

static int next(void *ctx, exec_arena_t *a, exec_batch_t *out, ursa_err_t *err)
{
    gen_t *g = ctx;
    size_t n = g->to - g->row < 20000 ? g->to - g->row : 20000;
    out->n = n, out->ncols = g->p->nscan;
    if (!n) return URSA_OK;
    out->cols = exec_arena_alloc(a, (out->ncols + 1) * sizeof(exec_vec_t));
    for (size_t c = 0; c < out->ncols; c++) {
        exec_vec_t *v = &out->cols[c];
        if (exec_vec_alloc(v, a, g->p->scan_types[c], n) || exec_vec_nulls(v, a)) return URSA_ELIMIT;
        size_t field = g->p->scan_fields[c];
        for (size_t i = 0; i < n; i++) {
            size_t r = g->row + i;
            switch (field) {
            case 0:
                v->v.i[i] = 1764547200000000LL + (int64_t)r;
                break;
            case 1:
                v->v.i[i] = (int64_t)(r % g->kmod);
                v->nulls[i] = r % 97 == 0;
                break;
            case 2:
                v->v.f[i] = (double)(r % 1000) / 4;
                break;
            default:
                v->v.s[i] = opt_text ? (exec_str_t){opt_text + text_off[r], text_off[r + 1] - text_off[r]}
                                     : g->strs[r % 13];
                v->nulls[i] = opt_snull && r % 11 == 5;
            }
        }
        if (opt_coded && v->type == EXEC_STRING) {
            const exec_dict_t *d = &g->dict[g->batch & 1];
            uint32_t *codes = exec_arena_alloc(a, n * sizeof(*codes));
            if (!codes) return URSA_ELIMIT;
            for (size_t i = 0; i < n; i++) {
                uint32_t code = (uint32_t)((g->row + i) % 13);
                codes[i] = v->nulls[i] ? 0 : (g->batch & 1) ? 12 - code : code;
                if (v->nulls[i]) v->v.s[i] = (exec_str_t){"", 0};
            }
            v->codes = codes, v->dict = d;
        }
    }
    g->row += n;
    g->batch++;
    return URSA_OK;
}

typedef struct result {
    char text[4096];
    size_t len;
} result_t;

static int emit(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    result_t *r = ctx;
    for (size_t i = 0; i < b->n; i++) {
        for (size_t c = 0; c < b->ncols; c++) {
            const exec_vec_t *v = &b->cols[c];
            char cell[64];
            if (exec_is_null(v, i))
                snprintf(cell, sizeof(cell), "NULL");
            else if (v->type == EXEC_FLOAT64)
                snprintf(cell, sizeof(cell), "%.6f", v->v.f[i]);
            else if (v->type == EXEC_STRING)
                snprintf(cell, sizeof(cell), "%.*s", (int)v->v.s[i].n, v->v.s[i].p);
            else
                snprintf(cell, sizeof(cell), "%lld", (long long)v->v.i[i]);
            r->len +=
                (size_t)snprintf(r->text + r->len, sizeof(r->text) - r->len, "%s%s", c ? "|" : "", cell);
        }
        r->len += (size_t)snprintf(r->text + r->len, sizeof(r->text) - r->len, ";");
    }
    return URSA_OK;
}

/* Runs sql over rows [0, rows) split among `workers` sources; the result as text. */
static int run(const char *sql, size_t rows, size_t kmod, size_t workers, result_t *r)
{
    sql_plan_t *p = NULL;
    ursa_err_t err = {0};
    memset(r, 0, sizeof(*r));
    int rc = sql_plan(sql, resolve, NULL, 0, &p, &err);
    if (rc) {
        fprintf(stderr, "plan: %s\n", err.msg);
        return rc;
    }
    gen_t g[3];
    exec_source_t src[3];
    for (size_t w = 0; w < workers; w++) {
        memset(&g[w], 0, sizeof(g[w]));
        g[w].p = p, g[w].kmod = kmod;
        g[w].row = rows * w / workers, g[w].to = rows * (w + 1) / workers;
        for (int i = 0; i < 13; i++) {
            snprintf(g[w].names[i], sizeof(g[w].names[i]), "s%d", i);
            g[w].strs[i] = (exec_str_t){g[w].names[i], strlen(g[w].names[i])};
        }
        for (int i = 0; i < 13; i++) g[w].rev[i] = g[w].strs[12 - i];
        g[w].dict[0] = (exec_dict_t){g[w].strs, 13, 1000 + 2 * w};
        g[w].dict[1] = (exec_dict_t){g[w].rev, 13, 1001 + 2 * w};
        src[w] = (exec_source_t){next, &g[w]};
    }
    exec_budget_t budget = {(size_t)1 << 30, 0, 0};
    exec_run_opts_t o = {.budget = &budget, .emit = emit, .emit_ctx = r};
    rc = exec_run_sources(p, src, workers, &o, &err);
    if (rc) fprintf(stderr, "run: %s\n", err.msg);
    sql_plan_free(&p);
    return rc;
}

TEST(workers_agree)
{
    static const char *const queries[] = {
        "SELECT s, count(*), count(k), sum(k), min(v), max(s), avg(v), count(DISTINCT k) FROM t GROUP BY s "
        "ORDER BY s",
        "SELECT count(*), sum(v), count(DISTINCT k), count(DISTINCT s), percentile_cont(0.5) WITHIN GROUP "
        "(ORDER BY v) "
        "FROM t",
        "SELECT k, v FROM t WHERE k IS NOT NULL ORDER BY v DESC, k LIMIT 5 OFFSET 2",
        "SELECT s, count(*) AS n FROM t WHERE v > 100 GROUP BY s HAVING count(*) > 1000 ORDER BY n DESC, s "
        "LIMIT 3",
        "SELECT count(*) FROM t WHERE s LIKE '%1%'",
    };
    for (size_t q = 0; q < sizeof(queries) / sizeof(*queries); q++) {
        result_t one, two, three;
        CHECK_EQ_INT(run(queries[q], 100000, 5000, 1, &one), URSA_OK);
        CHECK_EQ_INT(run(queries[q], 100000, 5000, 2, &two), URSA_OK);
        CHECK_EQ_INT(run(queries[q], 100000, 5000, 3, &three), URSA_OK);
        CHECK(one.len > 0);
        if (strcmp(one.text, two.text) || strcmp(one.text, three.text))
            fprintf(stderr, "query %zu:\n 1: %s\n 2: %s\n 3: %s\n", q, one.text, two.text, three.text);
        CHECK(strcmp(one.text, two.text) == 0);
        CHECK(strcmp(one.text, three.text) == 0);
    }
    /* an answer computed here: LIMIT without ORDER BY stops early and gives exactly LIMIT rows */
    result_t lim;
    CHECK_EQ_INT(run("SELECT k FROM t LIMIT 7", 100000, 5000, 2, &lim), URSA_OK);
    size_t semis = 0;
    for (size_t i = 0; i < lim.len; i++) semis += lim.text[i] == ';';
    CHECK_EQ_INT(semis, 7);
}

/* Grouping by dictionary codes (exec_vec_t.codes): the answers are those of
 * the same strings without codes -- codes in batches of two dictionaries
 * mixed, NULL strings, a second key with and without codes' help, rows a
 * WHERE selected (codes gathered), strings computed from the coded ones. */
TEST(codes_group_alike)
{
    static const char *const queries[] = {
        "SELECT s, count(*), sum(v), min(s), max(s) FROM t GROUP BY s ORDER BY s NULLS FIRST",
        "SELECT s, k, count(*) FROM t GROUP BY s, k ORDER BY 3 DESC, 1, 2 LIMIT 20",
        "SELECT s, count(*) FROM t WHERE v > 100 AND k < 40 GROUP BY s ORDER BY s",
        "SELECT upper(s), s || 'x', count(*) FROM t GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT count(DISTINCT s), count(s) FROM t",
    };
    opt_snull = 1;
    for (size_t q = 0; q < sizeof(queries) / sizeof(*queries); q++)
        for (size_t workers = 1; workers <= 2; workers++) {
            result_t plain, coded;
            opt_coded = 0;
            CHECK_EQ_INT(run(queries[q], 100000, 50, workers, &plain), URSA_OK);
            opt_coded = 1;
            CHECK_EQ_INT(run(queries[q], 100000, 50, workers, &coded), URSA_OK);
            CHECK(plain.len > 0);
            if (strcmp(plain.text, coded.text))
                fprintf(stderr, "query %zu:\n plain: %s\n coded: %s\n", q, plain.text, coded.text);
            CHECK(strcmp(plain.text, coded.text) == 0);
        }
    /* an answer computed here: 13 strings, every 11th row's NULL */
    result_t r;
    opt_coded = 1;
    CHECK_EQ_INT(run("SELECT count(*) FROM t WHERE s IS NULL", 100000, 50, 2, &r), URSA_OK);
    CHECK(strcmp(r.text, "9091;") == 0);
    CHECK_EQ_INT(
        run("SELECT s, count(*) FROM t GROUP BY s ORDER BY s NULLS FIRST LIMIT 2", 100000, 50, 2, &r),
        URSA_OK);
    CHECK(strcmp(r.text, "NULL|9091;s0|6994;") == 0);
    if (strcmp(r.text, "NULL|9091;s0|6994;")) fprintf(stderr, "got %s\n", r.text);
    opt_snull = opt_coded = 0;
}

/* LIKE '%x%' over values back to back in memory (one search through
 * them all, sixteen bytes at a time): the rows that hold x, counted here
 * value by value -- needles of 1 to 20 bytes, hits at every offset and
 * across two values' boundary, which must not count. */
TEST(like_span_alike)
{
    static char text[100000 * 45];
    uint64_t x = 42;
    size_t at = 0;
    for (size_t r = 0; r < 100000; r++) {
        text_off[r] = at;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = (size_t)(x >> 33) % 91;
        for (size_t i = 0; i < n && at < sizeof(text); i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            text[at++] = (char)('a' + (x >> 40) % 6); /* six letters: short needles hit often */
        }
    }
    text_off[100000] = at, text_len = at;
    opt_text = text;
    static const char *const needles[] = {"a",     "ab",     "abc",        "fed",
                                          "abcab", "ffffff", "abcdefabcd", "cabbage"};
    char long_needle[21];
    memcpy(long_needle, text + text_off[777], 20); /* row 777's, if it is that long */
    long_needle[20] = 0;
    for (size_t q = 0; q < sizeof(needles) / sizeof(*needles) + 1; q++) {
        const char *nd = q < sizeof(needles) / sizeof(*needles) ? needles[q] : long_needle;
        size_t k = strlen(nd), want = 0;
        for (size_t r = 0; r < 100000; r++) {
            size_t n = text_off[r + 1] - text_off[r];
            for (size_t i = 0; i + k <= n; i++)
                if (memcmp(text + text_off[r] + i, nd, k) == 0) {
                    want++;
                    break;
                }
        }
        char sql[128], wtext[32];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE s LIKE '%%%s%%'", nd);
        snprintf(wtext, sizeof(wtext), "%zu;", want);
        result_t r;
        CHECK_EQ_INT(run(sql, 100000, 50, 2, &r), URSA_OK);
        if (strcmp(r.text, wtext)) fprintf(stderr, "%s: got %s, want %s\n", sql, r.text, wtext);
        CHECK(strcmp(r.text, wtext) == 0);
    }
    opt_text = NULL;
}

TEST(count_distinct_millions)
{
    /* k = r % kmod, null every 97th row: distinct non-null values are every residue some non-multiple of 97
     * hits */
    const size_t rows = 6000000, kmod = 2500000;
    result_t r;
    CHECK_EQ_INT(run("SELECT count(DISTINCT k), count(DISTINCT v) FROM t", rows, kmod, 2, &r), URSA_OK);
    /* residue x is missed only when every r = x + j*kmod < rows is a multiple of 97: never, for these sizes
     */
    char want[64];
    snprintf(want, sizeof(want), "%zu|1000;", kmod);
    CHECK(strcmp(r.text, want) == 0);
    if (strcmp(r.text, want)) fprintf(stderr, "got %s, want %s\n", r.text, want);
    /* past 16 Mi values the intermediate pass runs too */
    CHECK_EQ_INT(run("SELECT count(DISTINCT k) FROM t", 20000000, 3000000, 1, &r), URSA_OK);
    CHECK(strcmp(r.text, "3000000;") == 0);
    if (strcmp(r.text, "3000000;")) fprintf(stderr, "got %s\n", r.text);
}

int main(void)
{
    ursa_err_t e;
    if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &schema, &e)) return 1;
    RUN(workers_agree);
    RUN(codes_group_alike);
    RUN(like_span_alike);
    RUN(count_distinct_millions);
    ursa_schema_free(&schema);
    return TEST_EXIT();
}
