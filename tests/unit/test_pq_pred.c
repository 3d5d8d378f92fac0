/*
 * test_pq_pred.c -- predicates of the Parquet reader: the range test and
 * the row filter of pq_pred.c on hand-made values (every kind of order,
 * NaN, nulls), and pq_reader_read_where on files -- written by Ursa
 * (sorted and unsorted columns, small row groups and pages, a bloom
 * filter) and by parquet-mr (apache/parquet-testing: a page index of
 * tiny pages, bloom filters with and without their length) -- whose
 * answers are compared row by row with a full read filtered here, and
 * whose counters must show what was skipped.
 */
#include "ingest_json.h"
#include "pq_pred.h"
#include "pq_read.h"
#include "pq_write.h"
#include "store.h"
#include "same_row.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef URSA_PARQUET_TESTING
#error "URSA_PARQUET_TESTING must name the parquet-testing directory (CMakeLists.txt sets it)"
#endif

static pq_value_t V(const void *p, size_t n)
{
    return (pq_value_t){p, n};
}

TEST(range_test)
{
    ursa_field_t i8 = {.type = URSA_TYPE_INT8}, u64 = {.type = URSA_TYPE_UINT64},
                 f64 = {.type = URSA_TYPE_FLOAT64}, str = {.type = URSA_TYPE_STRING},
                 dec = {.type = URSA_TYPE_DECIMAL, .precision = 30};
    int8_t lo = -5, hi = 7, x = 0;
    pq_range_t r = {&lo, &hi, 1, 1, 100, 0, false};
    pq_pred_t p = {0, PQ_OP_EQ, NULL, 1};
    pq_value_t v = V(&x, 1);
    p.vals = &v;
    x = -5;
    CHECK(pq_pred_may_match(&p, &i8, &r));
    x = 8;
    CHECK(!pq_pred_may_match(&p, &i8, &r));
    x = -6;
    CHECK(!pq_pred_may_match(&p, &i8, &r));
    p.op = PQ_OP_LT, x = -5;
    CHECK(!pq_pred_may_match(&p, &i8, &r));
    p.op = PQ_OP_LE;
    CHECK(pq_pred_may_match(&p, &i8, &r));
    p.op = PQ_OP_GT, x = 7;
    CHECK(!pq_pred_may_match(&p, &i8, &r));
    p.op = PQ_OP_GE;
    CHECK(pq_pred_may_match(&p, &i8, &r));
    p.op = PQ_OP_IS_NULL, p.nvals = 0;
    CHECK(!pq_pred_may_match(&p, &i8, &r)); /* null_count 0 */
    r.null_count = -1;
    CHECK(pq_pred_may_match(&p, &i8, &r)); /* unknown */
    r.null_count = 100, p.op = PQ_OP_NOT_NULL;
    CHECK(!pq_pred_may_match(&p, &i8, &r)); /* all null */
    r.min = NULL, r.null_count = -1, p.op = PQ_OP_EQ, p.nvals = 1, x = 100;
    CHECK(pq_pred_may_match(&p, &i8, &r)); /* no bounds: maybe */

    /* Unsigned order: 2^63 is above 1, not below. */
    uint64_t ulo = 1, uhi = (uint64_t)1 << 63, ux = ((uint64_t)1 << 63) + 1;
    pq_range_t ru = {&ulo, &uhi, 8, 8, 10, 0, false};
    pq_value_t uv = V(&ux, 8);
    p = (pq_pred_t){0, PQ_OP_GT, &uv, 1};
    CHECK(!pq_pred_may_match(&p, &u64, &ru));
    p.op = PQ_OP_LT;
    CHECK(pq_pred_may_match(&p, &u64, &ru));

    /* Floats: a NaN value matches nothing; NaN bounds say nothing; -0 == +0. */
    double flo = -0.0, fhi = 2.5, fx = NAN;
    pq_range_t rf = {&flo, &fhi, 8, 8, 10, 0, false};
    pq_value_t fv = V(&fx, 8);
    p = (pq_pred_t){0, PQ_OP_EQ, &fv, 1};
    CHECK(!pq_pred_may_match(&p, &f64, &rf));
    fx = 0.0;
    CHECK(pq_pred_may_match(&p, &f64, &rf));
    fx = 3.0;
    CHECK(!pq_pred_may_match(&p, &f64, &rf));
    double nan = NAN;
    rf.max = &nan;
    CHECK(pq_pred_may_match(&p, &f64, &rf));

    /* Bytes: unsigned, a prefix first. */
    pq_range_t rs = {"ab", "b\xff", 2, 2, 10, 0, false};
    pq_value_t sv[2] = {V("a", 1), V("\xc3\xa9", 2)};
    p = (pq_pred_t){0, PQ_OP_IN, sv, 2};
    CHECK(!pq_pred_may_match(&p, &str, &rs)); /* "a" < "ab", "é" > "b\xff" */
    sv[1] = V("b", 1);
    CHECK(pq_pred_may_match(&p, &str, &rs));
    p = (pq_pred_t){0, PQ_OP_BETWEEN, sv, 2};
    sv[0] = V("c", 1), sv[1] = V("d", 1);
    CHECK(!pq_pred_may_match(&p, &str, &rs));
    sv[0] = V("", 0), sv[1] = V("ab", 2);
    CHECK(pq_pred_may_match(&p, &str, &rs));

    /* int128: the high half signed. */
    uint8_t dlo[16], dhi[16], dx[16];
    int64_t m1 = -1, one = 1, zero = 0;
    memcpy(dlo, &one, 8), memcpy(dlo + 8, &m1, 8);  /* -2^64 + 1 */
    memcpy(dhi, &m1, 8), memcpy(dhi + 8, &zero, 8); /* 2^64 - 1 */
    pq_range_t rd = {dlo, dhi, 16, 16, 10, 0, false};
    pq_value_t dv = V(dx, 16);
    p = (pq_pred_t){0, PQ_OP_EQ, &dv, 1};
    memcpy(dx, &zero, 8), memcpy(dx + 8, &zero, 8);
    CHECK(pq_pred_may_match(&p, &dec, &rd));
    memcpy(dx + 8, &m1, 8);
    CHECK(!pq_pred_may_match(&p, &dec, &rd)); /* -2^64, below the min */
    memcpy(dx, &one, 8);
    CHECK(pq_pred_may_match(&p, &dec, &rd)); /* -2^64 + 1, the min */
    memcpy(dx, &zero, 8), memcpy(dx + 8, &one, 8);
    CHECK(!pq_pred_may_match(&p, &dec, &rd)); /* 2^64 */

    /* pq_pred_check: sizes and counts. */
    ursa_err_t err;
    p = (pq_pred_t){0, PQ_OP_EQ, &v, 1};
    CHECK_EQ_INT(pq_pred_check(&p, &i8, &err), URSA_OK);
    CHECK_EQ_INT(pq_pred_check(&p, &u64, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "1 bytes") != NULL);
    p.op = PQ_OP_BETWEEN;
    CHECK_EQ_INT(pq_pred_check(&p, &i8, &err), URSA_EINVAL);
    p.op = (pq_op_t)99;
    CHECK_EQ_INT(pq_pred_check(&p, &i8, &err), URSA_EINVAL);
}

TEST(row_filter)
{
    ursa_column_t c;
    ursa_column_init(&c, URSA_TYPE_FLOAT64);
    double vals[] = {1.0, NAN, -0.0, 3.0, 0.0};
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(ursa_column_append_f64(&c, vals[i]), URSA_OK);
    CHECK_EQ_INT(ursa_column_append_null(&c), URSA_OK);
    double z = 0.0, three = 3.0;
    pq_value_t v[2] = {V(&z, 8), V(&three, 8)};
    uint8_t keep[6];
    pq_pred_t p = {0, PQ_OP_EQ, v, 1};
    memset(keep, 1, 6), pq_pred_filter(&p, &c, NULL, 6, keep);
    CHECK(!keep[0] && !keep[1] && keep[2] && !keep[3] && keep[4] && !keep[5]);
    p = (pq_pred_t){0, PQ_OP_BETWEEN, v, 2};
    memset(keep, 1, 6), pq_pred_filter(&p, &c, NULL, 6, keep);
    CHECK(keep[0] && !keep[1] && keep[2] && keep[3] && keep[4] && !keep[5]);
    p = (pq_pred_t){0, PQ_OP_IS_NULL, NULL, 0};
    uint32_t rows[2] = {5, 1};
    memset(keep, 1, 6), pq_pred_filter(&p, &c, rows, 2, keep);
    CHECK(keep[0] && !keep[1]);
    ursa_column_free(&c);

    /* The integer fast path at the ends of the range. */
    ursa_column_init(&c, URSA_TYPE_INT64);
    int64_t iv[] = {INT64_MIN, -1, 0, INT64_MAX};
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(ursa_column_append_i64(&c, iv[i]), URSA_OK);
    int64_t x = INT64_MIN;
    pq_value_t xv = V(&x, 8);
    p = (pq_pred_t){0, PQ_OP_LT, &xv, 1};
    memset(keep, 1, 4), pq_pred_filter(&p, &c, NULL, 4, keep);
    CHECK(!keep[0] && !keep[1] && !keep[2] && !keep[3]);
    p.op = PQ_OP_LE, memset(keep, 1, 4), pq_pred_filter(&p, &c, NULL, 4, keep);
    CHECK(keep[0] && !keep[1] && !keep[2] && !keep[3]);
    x = INT64_MAX, p.op = PQ_OP_GT, memset(keep, 1, 4), pq_pred_filter(&p, &c, NULL, 4, keep);
    CHECK(!keep[0] && !keep[1] && !keep[2] && !keep[3]);
    x = -1, p.op = PQ_OP_GE, memset(keep, 1, 4), pq_pred_filter(&p, &c, NULL, 4, keep);
    CHECK(!keep[0] && keep[1] && keep[2] && keep[3]);
    ursa_column_free(&c);
}

/* ------------------------------------------------------------------------ */
/* Files. The oracle: a full read of the row group, filtered here by plain C
 * comparisons on the few types the files use. */

typedef struct cond {
    const char *col;
    pq_op_t op;
    size_t n;
    int64_t i[4];     /* signed integer columns (by their width) and uint64 */
    const char *s[4]; /* string columns */
} cond_t;

/* Whether row r of column c satisfies k (vals: k's values as pq_values). */
static bool oracle(const cond_t *k, const ursa_column_t *c, size_t r)
{
    bool valid = ursa_column_valid(c, r);
    if (k->op == PQ_OP_IS_NULL) return !valid;
    if (k->op == PQ_OP_NOT_NULL) return valid;
    if (!valid) return false;
    int cmps[4];
    for (size_t j = 0; j < k->n; j++) {
        if (ursa_type_varlen(c->type)) {
            size_t n;
            const uint8_t *p = ursa_column_str(c, r, &n);
            size_t m = strlen(k->s[j]);
            int d = memcmp(p, k->s[j], n < m ? n : m);
            cmps[j] = d ? (d < 0 ? -1 : 1) : (n < m ? -1 : n > m);
        } else if (c->type == URSA_TYPE_UINT64) {
            uint64_t a, b = (uint64_t)k->i[j];
            memcpy(&a, ursa_column_ptr(c, r), 8);
            cmps[j] = a < b ? -1 : a > b;
        } else {
            int64_t a = 0;
            if (c->width == 4) {
                int32_t t;
                memcpy(&t, ursa_column_ptr(c, r), 4);
                a = t;
            } else {
                memcpy(&a, ursa_column_ptr(c, r), 8);
            }
            cmps[j] = a < k->i[j] ? -1 : a > k->i[j];
        }
    }
    switch (k->op) {
    case PQ_OP_EQ:
        return cmps[0] == 0;
    case PQ_OP_LT:
        return cmps[0] < 0;
    case PQ_OP_LE:
        return cmps[0] <= 0;
    case PQ_OP_GT:
        return cmps[0] > 0;
    case PQ_OP_GE:
        return cmps[0] >= 0;
    case PQ_OP_BETWEEN:
        return cmps[0] >= 0 && cmps[1] <= 0;
    default:
        for (size_t j = 0; j < k->n; j++)
            if (cmps[j] == 0) return true;
        return false;
    }
}

/* Reads every row group of the open file with conds ANDed, checks every
 * row against the oracle, and returns the rows matched; *ctr gets the
 * counters of that pass alone. */
static size_t check_where(pq_reader_t *r, const cond_t *conds, size_t n, pq_reader_counters_t *ctr)
{
    const ursa_schema_t *s = pq_reader_schema(r);
    pq_pred_t preds[4];
    pq_value_t vals[4][4];
    int32_t i32[4][4];
    ursa_err_t err;
    pq_reader_counters_t before, after;
    for (size_t k = 0; k < n; k++) {
        int col = pq_reader_find(r, conds[k].col);
        CHECK(col >= 0);
        const ursa_field_t *f = &s->fields[col];
        for (size_t j = 0; j < conds[k].n; j++) {
            if (ursa_type_varlen(f->type)) {
                vals[k][j] = V(conds[k].s[j], strlen(conds[k].s[j]));
            } else if (ursa_field_width(f) == 4) {
                i32[k][j] = (int32_t)conds[k].i[j];
                vals[k][j] = V(&i32[k][j], 4);
            } else {
                vals[k][j] = V(&conds[k].i[j], 8);
            }
        }
        preds[k] = (pq_pred_t){(size_t)col, conds[k].op, conds[k].n ? vals[k] : NULL, conds[k].n};
    }
    size_t matched = 0;
    const pq_file_meta_t *m = pq_reader_meta(r);
    for (size_t g = 0; g < m->nrow_groups; g++) {
        ursa_batch_t all, got;
        CHECK_EQ_INT(pq_reader_read(r, g, NULL, 0, &all, &err), URSA_OK);
        pq_reader_get_counters(r, &before);
        int rc = pq_reader_read_where(r, g, NULL, 0, preds, n, &got, &err);
        if (rc) fprintf(stderr, "read_where: %s\n", err.msg);
        CHECK_EQ_INT(rc, URSA_OK);
        pq_reader_get_counters(r, &after);
        if (g == 0) memset(ctr, 0, sizeof(*ctr));
        ctr->row_groups += after.row_groups - before.row_groups;
        ctr->row_groups_by_stats += after.row_groups_by_stats - before.row_groups_by_stats;
        ctr->row_groups_by_bloom += after.row_groups_by_bloom - before.row_groups_by_bloom;
        ctr->pages += after.pages - before.pages;
        ctr->pages_skipped += after.pages_skipped - before.pages_skipped;
        ctr->rows_decoded += after.rows_decoded - before.rows_decoded;
        ctr->bytes_read += after.bytes_read - before.bytes_read;
        size_t j = 0, bad = 0;
        for (size_t row = 0; row < all.nrows; row++) {
            bool want = true;
            for (size_t k = 0; k < n; k++) want = want && oracle(&conds[k], &all.cols[preds[k].col], row);
            if (!want) continue;
            if (j >= got.nrows) {
                bad++;
                continue;
            }
            for (size_t c = 0; c < all.ncols; c++)
                if (!same_row(&all.cols[c], row, &got.cols[c], j)) bad++;
            j++;
        }
        if (bad || j != got.nrows)
            fprintf(stderr, "row group %zu (%s ...): %zu wrong values, %zu rows wanted, %zu got\n", g,
                    conds[0].col, bad, j, got.nrows);
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(j, got.nrows);
        for (size_t c = 0; c < got.ncols; c++) CHECK_EQ_INT(got.cols[c].length, got.nrows);
        matched += got.nrows;
        ursa_batch_free(&all);
        ursa_batch_free(&got);
    }
    return matched;
}

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    (void)err;
    return ursa_buf_append(ctx, p, n);
}

static char tmpdir[256];

static ursa_store_t *open_store(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "test-tmp/pq_pred-%d", (int)getpid());
    ursa_store_t *st = NULL;
    ursa_err_t err;
    if (ursa_store_open(tmpdir, NULL, &st, &err)) abort();
    return st;
}

#define ROWS 20000

/* 20,000 events: ts sorted (one a second from 2026-01-01), k random with
 * nulls, s "v<even number>" with a bloom filter, u above and below 2^63,
 * d a date; 10 row groups of small pages. */
static void write_events(ursa_store_t *st, const char *key, int page_version)
{
    static const char js[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"k\",\"type\":\"int64\"},"
                             "{\"name\":\"s\",\"type\":\"string\",\"bloom_filter\":true},"
                             "{\"name\":\"u\",\"type\":\"uint64\"},{\"name\":\"d\",\"type\":\"date\"}],"
                             "\"time_column\":\"ts\"}";
    ursa_schema_t s;
    ursa_err_t err;
    ursa_batch_t b;
    ursa_ndjson_t p;
    if (ursa_schema_parse(js, strlen(js), &s, &err) || ursa_batch_init(&b, &s) ||
        ursa_ndjson_init(&p, &s, &b, 0))
        abort();
    srand(7);
    for (int r = 0; r < ROWS; r++) {
        char line[512], k[32];
        if (r % 11 == 5)
            snprintf(k, sizeof(k), "null");
        else
            snprintf(k, sizeof(k), "%d", rand() % 1000 - 500);
        time_t day = (time_t)(20000 + r / 1000) * 86400;
        struct tm tm;
        char ds[16];
        strftime(ds, sizeof(ds), "%Y-%m-%d", gmtime_r(&day, &tm));
        int n = snprintf(
            line, sizeof(line),
            "{\"ts\":\"2026-01-01T%02d:%02d:%02dZ\",\"k\":%s,\"s\":\"v%05d\",\"u\":%llu,\"d\":\"%s\"}\n",
            r / 3600, r / 60 % 60, r % 60, k, 2 * (rand() % 5000),
            (r % 3 ? 9223372036854775808ULL : 0ULL) + (unsigned long long)r, ds);
        if (ursa_ndjson_feed(&p, line, (size_t)n)) abort();
    }
    if (ursa_ndjson_finish(&p)) abort();
    CHECK_EQ_INT(b.nrows, ROWS);
    ursa_ndjson_free(&p);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.row_group_rows = 2000;
    o.page_bytes = 2048;
    o.page_version = page_version;
    o.threads = 1;
    ursa_buf_t file = {0};
    pq_writer_t *w = NULL;
    if (pq_writer_new(&w, &s, &o, (ursa_sink_t){mem_write, &file}, &err) ||
        pq_writer_write(w, &b, 0, b.nrows, &err) || pq_writer_close(w, NULL, &err))
        abort();
    pq_writer_destroy(&w);
    CHECK_EQ_INT(ursa_store_put(st, key, file.data, file.len, &err), URSA_OK);
    ursa_buf_free(&file);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

#define T0 1767225600000000LL /* 2026-01-01T00:00:00Z in µs */

TEST(ursa_files)
{
    ursa_store_t *st = open_store();
    for (int pv = 1; pv <= 2; pv++) {
        char key[64];
        ursa_err_t err;
        snprintf(key, sizeof(key), "e/events-v%d.parquet", pv);
        write_events(st, key, pv);
        pq_reader_t *r = NULL;
        CHECK_EQ_INT(pq_reader_open(&r, st, key, &err), URSA_OK);
        pq_reader_set_threads(r, pv); /* v2 decoded on two threads */
        pq_reader_counters_t c;

        /* A time range of 3% of the rows: 9 row groups skipped by their
         * statistics, pages of the tenth by the page index. */
        cond_t between = {"ts", PQ_OP_BETWEEN, 2, {T0 + 4100 * 1000000LL, T0 + 4699 * 1000000LL}, {0}};
        CHECK_EQ_INT(check_where(r, &between, 1, &c), 600);
        CHECK_EQ_INT(c.row_groups, 10);
        CHECK_EQ_INT(c.row_groups_by_stats, 9);
        CHECK(c.pages_skipped > 0 && c.pages_skipped < c.pages);
        CHECK(c.rows_decoded < 2000);

        /* Boundaries of a row group: ts < the first of group 3, <= it, > the last of group 8. */
        cond_t lt = {"ts", PQ_OP_LT, 1, {T0 + 6000 * 1000000LL}, {0}};
        CHECK_EQ_INT(check_where(r, &lt, 1, &c), 6000);
        CHECK_EQ_INT(c.row_groups_by_stats, 7);
        lt.op = PQ_OP_LE;
        CHECK_EQ_INT(check_where(r, &lt, 1, &c), 6001);
        lt.op = PQ_OP_GT, lt.i[0] = T0 + 17999 * 1000000LL;
        CHECK_EQ_INT(check_where(r, &lt, 1, &c), 2000);
        lt.op = PQ_OP_GE;
        CHECK_EQ_INT(check_where(r, &lt, 1, &c), 2001);
        lt.op = PQ_OP_EQ;
        CHECK_EQ_INT(check_where(r, &lt, 1, &c), 1);
        CHECK_EQ_INT(c.row_groups_by_stats, 9);

        /* Nulls and sets on an unsorted column: nothing to skip, every row right. */
        cond_t nul = {"k", PQ_OP_IS_NULL, 0, {0}, {0}};
        CHECK_EQ_INT(check_where(r, &nul, 1, &c), (ROWS + 5) / 11);
        nul.op = PQ_OP_NOT_NULL;
        CHECK_EQ_INT(check_where(r, &nul, 1, &c), ROWS - (ROWS + 5) / 11);
        cond_t in = {"k", PQ_OP_IN, 3, {-500, 0, 499}, {0}};
        CHECK(check_where(r, &in, 1, &c) > 0);
        cond_t out_of_range = {"k", PQ_OP_GT, 1, {499}, {0}};
        CHECK_EQ_INT(check_where(r, &out_of_range, 1, &c), 0);
        CHECK_EQ_INT(c.row_groups_by_stats, 10);
        CHECK_EQ_INT(c.bytes_read, 0);

        /* Unsigned order above 2^63, and a date. */
        cond_t big = {"u", PQ_OP_GE, 1, {(int64_t)(9223372036854775808ULL + 19990)}, {0}};
        CHECK_EQ_INT(check_where(r, &big, 1, &c), 7); /* 19990 .. 19999 but those divisible by 3 */
        CHECK_EQ_INT(c.row_groups_by_stats, 9);
        cond_t day = {"d", PQ_OP_EQ, 1, {20007}, {0}};
        CHECK_EQ_INT(check_where(r, &day, 1, &c), 1000);

        /* A string inside every row group's min and max but in none: the
         * bloom filters skip them (each may give a false positive at 1%). */
        cond_t odd = {"s", PQ_OP_EQ, 1, {0}, {"v04321"}};
        CHECK_EQ_INT(check_where(r, &odd, 1, &c), 0);
        CHECK(c.row_groups_by_bloom >= 8);
        cond_t set = {"s", PQ_OP_IN, 2, {0}, {"v04321", "v00002"}};
        CHECK(check_where(r, &set, 1, &c) > 0);

        /* Two conditions: the time range and a set of k. */
        cond_t both[2] = {{"ts", PQ_OP_BETWEEN, 2, {T0 + 1500 * 1000000LL, T0 + 5600 * 1000000LL}, {0}},
                          {"k", PQ_OP_IN, 4, {1, 2, 3, 4}, {0}}};
        CHECK(check_where(r, both, 2, &c) > 0);
        CHECK_EQ_INT(c.row_groups_by_stats, 7);

        /* A projection that leaves out the predicate's column. */
        ursa_batch_t b;
        int64_t t = T0 + 7 * 1000000LL;
        pq_value_t tv = V(&t, 8);
        pq_pred_t pr = {0, PQ_OP_EQ, &tv, 1};
        size_t cols[] = {2, 1};
        CHECK_EQ_INT(pq_reader_read_where(r, 0, cols, 2, &pr, 1, &b, &err), URSA_OK);
        CHECK_EQ_INT(b.nrows, 1);
        CHECK_EQ_INT(b.ncols, 2);
        CHECK_EQ_INT(b.cols[0].type, URSA_TYPE_STRING);
        CHECK_EQ_INT(b.cols[0].length, 1);
        ursa_batch_free(&b);

        /* Errors: a value of the wrong size, a column that is not there. */
        int32_t small = 1;
        pq_value_t sv = V(&small, 4);
        pr.vals = &sv;
        CHECK_EQ_INT(pq_reader_read_where(r, 0, NULL, 0, &pr, 1, &b, &err), URSA_EINVAL);
        CHECK(strstr(err.msg, "predicate on ts") != NULL);
        pr.col = 99;
        CHECK_EQ_INT(pq_reader_read_where(r, 0, NULL, 0, &pr, 1, &b, &err), URSA_EINVAL);
        bool may;
        CHECK_EQ_INT(pq_reader_may_match(r, 0, &pr, 1, &may, &err), URSA_EINVAL);
        pq_reader_destroy(&r);
    }
    ursa_store_destroy(&st);
}

static pq_reader_t *open_testing(ursa_store_t **st, const char *name)
{
    ursa_err_t err;
    pq_reader_t *r = NULL;
    if (ursa_store_open(URSA_PARQUET_TESTING "/data", NULL, st, &err)) abort();
    int rc = pq_reader_open(&r, *st, name, &err);
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    CHECK_EQ_INT(rc, URSA_OK);
    return r;
}

/* parquet-mr's files: a page index of tiny pages; bloom filters. */
TEST(foreign_files)
{
    ursa_store_t *st;
    pq_reader_counters_t c;
    pq_reader_t *r = open_testing(&st, "alltypes_tiny_pages.parquet");
    if (r) {
        cond_t id = {"id", PQ_OP_BETWEEN, 2, {1000, 1100}, {0}};
        CHECK_EQ_INT(check_where(r, &id, 1, &c), 101);
        CHECK(c.pages > 100 && c.pages_skipped > c.pages * 9 / 10);
        cond_t ids = {"id", PQ_OP_IN, 3, {0, 3650, 7299}, {0}};
        CHECK_EQ_INT(check_where(r, &ids, 1, &c), 3);
        cond_t s = {"date_string_col", PQ_OP_EQ, 1, {0}, {"03/01/09"}};
        CHECK(check_where(r, &s, 1, &c) > 0);
        cond_t mix[2] = {{"month", PQ_OP_EQ, 1, {7}, {0}}, {"id", PQ_OP_LT, 1, {4000}, {0}}};
        CHECK(check_where(r, mix, 2, &c) > 0);
        pq_reader_destroy(&r);
    }
    ursa_store_destroy(&st);
    const char *bloom[] = {"data_index_bloom_encoding_stats.parquet",
                           "data_index_bloom_encoding_with_length.parquet"};
    for (size_t i = 0; i < 2; i++) {
        r = open_testing(&st, bloom[i]);
        if (!r) continue;
        cond_t there = {"String", PQ_OP_EQ, 1, {0}, {"jumps"}};
        CHECK_EQ_INT(check_where(r, &there, 1, &c), 1);
        CHECK_EQ_INT(c.row_groups_by_bloom, 0);
        cond_t absent = {"String", PQ_OP_EQ, 1, {0}, {"Hi"}}; /* between "Hello" and "today" */
        CHECK_EQ_INT(check_where(r, &absent, 1, &c), 0);
        CHECK_EQ_INT(c.row_groups_by_stats, 0);
        CHECK_EQ_INT(c.row_groups_by_bloom, 1);
        pq_reader_destroy(&r);
        ursa_store_destroy(&st);
    }
}

int main(void)
{
    RUN(range_test);
    RUN(row_filter);
    RUN(ursa_files);
    RUN(foreign_files);
    if (!test_failed_count) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return test_failed_count ? 1 : 0;
}
