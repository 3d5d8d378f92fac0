/* Unit tests for sort keys: the order of every orderable type (nulls first,
 * NaN last, -0 == +0, unsigned bytes), stability, multi-column keys over
 * several batches, "sort_by" in schemas, and flushed files that come out
 * sorted with RowGroup.sorting_columns in their footer. */
#include "catalog.h"
#include "ingest_json.h"
#include "pq_read.h"
#include "sort.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------
 * The order of each type
 * ------------------------------------------------------------------------- */

/* One value of a test list: rank is its place in the order (equal ranks
 * are ties); null when is_null. */
typedef struct tv {
    int rank;
    bool is_null;
    int64_t i;
    uint64_t u;
    double d;
    __int128 big;
    const char *s; /* string, binary (len n) and uuid (16 bytes) */
    size_t n;
} tv_t;

#define NUL(r)                       \
    {                                \
        .rank = (r), .is_null = true \
    }

static void append(ursa_column_t *c, const tv_t *v)
{
    int rc = URSA_OK;
    if (v->is_null) {
        rc = ursa_column_append_null(c);
    } else {
        switch (c->type) {
        case URSA_TYPE_BOOL:
            rc = ursa_column_append_bool(c, v->i != 0);
            break;
        case URSA_TYPE_INT8: {
            int8_t x = (int8_t)v->i;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_INT16: {
            int16_t x = (int16_t)v->i;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_INT32:
        case URSA_TYPE_DATE: {
            int32_t x = (int32_t)v->i;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_UINT8: {
            uint8_t x = (uint8_t)v->u;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_UINT16: {
            uint16_t x = (uint16_t)v->u;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_UINT32: {
            uint32_t x = (uint32_t)v->u;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_UINT64:
            rc = ursa_column_append_fixed(c, &v->u);
            break;
        case URSA_TYPE_FLOAT32: {
            float x = (float)v->d;
            rc = ursa_column_append_fixed(c, &x);
            break;
        }
        case URSA_TYPE_FLOAT64:
            rc = ursa_column_append_f64(c, v->d);
            break;
        case URSA_TYPE_DECIMAL:
            if (c->width == 16)
                rc = ursa_column_append_fixed(c, &v->big);
            else
                rc = ursa_column_append_i64(c, v->i);
            break;
        case URSA_TYPE_UUID:
            rc = ursa_column_append_fixed(c, v->s);
            break;
        case URSA_TYPE_STRING:
        case URSA_TYPE_BINARY:
            rc = ursa_column_append_str(c, v->s, v->n);
            break;
        default:
            rc = ursa_column_append_i64(c, v->i);
            break; /* int64, time, timestamp */
        }
    }
    CHECK_EQ_INT(rc, URSA_OK);
}

/* Feeds vals (listed in the expected order) in reverse to a one-column
 * batch, sorts, and checks the result against a stable sort of the ranks:
 * ties come out in their input order, i.e. reversed from the list. */
static void check_order(const char *what, ursa_type_t t, unsigned precision, const tv_t *vals, size_t n)
{
    ursa_field_t f = {.type = t, .precision = (uint8_t)precision, .nullable = true};
    ursa_batch_t b = {0}, *bp = &b;
    ursa_column_t col;
    ursa_column_init_field(&col, &f);
    CHECK_EQ_INT(col.width, ursa_field_width(&f));
    for (size_t k = 0; k < n; k++) append(&col, &vals[n - 1 - k]); /* row k holds vals[n-1-k] */
    b.cols = &col;
    b.ncols = 1;
    b.nrows = n;
    uint64_t refs[64];
    for (size_t k = 0; k < n; k++) refs[k] = URSA_ROW_REF(0, k);
    int key = 0;
    bool moved;
    CHECK_EQ_INT(ursa_sort_refs(&bp, &key, 1, refs, n, &moved), URSA_OK);
    CHECK(moved);
    /* Expected: rows by rank, ties by row (input) order. */
    size_t want[64], m = 0;
    for (int r = 0; m < n; r++)
        for (size_t k = 0; k < n; k++)
            if (vals[n - 1 - k].rank == r) want[m++] = k;
    bool ok = true;
    for (size_t k = 0; k < n; k++) ok &= URSA_REF_ROW(refs[k]) == want[k];
    if (!ok) {
        fprintf(stderr, "%s: got rows", what);
        for (size_t k = 0; k < n; k++) fprintf(stderr, " %zu", URSA_REF_ROW(refs[k]));
        fprintf(stderr, ", want");
        for (size_t k = 0; k < n; k++) fprintf(stderr, " %zu", want[k]);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
    /* The comparison agrees with the ranks both ways round. */
    for (size_t x = 0; x < n; x++)
        for (size_t y = 0; y < n; y++) {
            int rx = vals[n - 1 - x].rank, ry = vals[n - 1 - y].rank;
            int c = ursa_sort_cmp(&col, x, &col, y);
            CHECK((c < 0) == (rx < ry) && (c > 0) == (rx > ry));
        }
    ursa_column_free(&col);
}

#define ORDER(t, p, ...)                                       \
    do {                                                       \
        static const tv_t v_[] = {__VA_ARGS__};                \
        check_order(#t, t, p, v_, sizeof(v_) / sizeof(v_[0])); \
    } while (0)

TEST(every_type_orders_nulls_first_and_keeps_ties)
{
    ORDER(URSA_TYPE_BOOL, 0, NUL(0), NUL(0), {1, .i = 0}, {1, .i = 0}, {2, .i = 1});
    ORDER(URSA_TYPE_INT8, 0, NUL(0), {1, .i = -128}, {2, .i = -1}, {3, .i = 0}, {3, .i = 0}, {4, .i = 127});
    ORDER(URSA_TYPE_INT16, 0, NUL(0), {1, .i = -32768}, {2, .i = -1}, {3, .i = 300}, {3, .i = 300},
          {4, .i = 32767});
    ORDER(URSA_TYPE_INT32, 0, NUL(0), {1, .i = INT32_MIN}, {2, .i = -1}, {3, .i = 7}, {3, .i = 7},
          {4, .i = INT32_MAX});
    ORDER(URSA_TYPE_INT64, 0, NUL(0), {1, .i = INT64_MIN}, {2, .i = -1}, {3, .i = 0}, {3, .i = 0},
          {4, .i = INT64_MAX});
    ORDER(URSA_TYPE_UINT8, 0, NUL(0), {1, .u = 0}, {2, .u = 127}, {3, .u = 128}, {3, .u = 128},
          {4, .u = 255});
    ORDER(URSA_TYPE_UINT16, 0, NUL(0), {1, .u = 0}, {2, .u = 32767}, {3, .u = 32768}, {4, .u = 65535},
          {4, .u = 65535});
    ORDER(URSA_TYPE_UINT32, 0, NUL(0), {1, .u = 1}, {2, .u = 0x7fffffffu}, {3, .u = 0x80000000u},
          {4, .u = UINT32_MAX});
    ORDER(URSA_TYPE_UINT64, 0, NUL(0), {1, .u = 0}, {2, .u = INT64_MAX}, {3, .u = (uint64_t)1 << 63},
          {4, .u = UINT64_MAX}, {4, .u = UINT64_MAX});
    ORDER(URSA_TYPE_FLOAT32, 0, NUL(0), {1, .d = -INFINITY}, {2, .d = -1.5}, {3, .d = -0.0}, {3, .d = 0.0},
          {4, .d = 1e30}, {5, .d = INFINITY}, {6, .d = NAN}, {6, .d = -NAN});
    ORDER(URSA_TYPE_FLOAT64, 0, NUL(0), {1, .d = -INFINITY}, {2, .d = -1e300}, {3, .d = -0.0}, {3, .d = 0.0},
          {3, .d = -0.0}, {4, .d = 5e-324}, {5, .d = INFINITY}, {6, .d = -NAN}, {6, .d = NAN});
    ORDER(URSA_TYPE_DECIMAL, 10, NUL(0), {1, .i = -99999}, {2, .i = -1}, {3, .i = 12}, {3, .i = 12},
          {4, .i = 9999999999});
    ORDER(URSA_TYPE_DECIMAL, 30, NUL(0), {1, .big = -((__int128)1 << 100)}, {2, .big = INT64_MIN},
          {3, .big = -1}, {4, .big = 0}, {5, .big = (__int128)1 << 70}, {5, .big = (__int128)1 << 70});
    ORDER(URSA_TYPE_DATE, 0, NUL(0), {1, .i = -719162}, {2, .i = 0}, {2, .i = 0}, {3, .i = 19783});
    ORDER(URSA_TYPE_TIME, 0, NUL(0), {1, .i = 0}, {2, .i = 1}, {3, .i = 86399999999}, {3, .i = 86399999999});
    ORDER(URSA_TYPE_TIMESTAMP, 0, NUL(0), NUL(0), {1, .i = -62135596800000000}, {2, .i = -1}, {3, .i = 0},
          {4, .i = 1709337600000000}, {4, .i = 1709337600000000});
    ORDER(URSA_TYPE_STRING, 0, NUL(0), {1, .s = "", .n = 0}, {2, .s = "A", .n = 1}, {3, .s = "a", .n = 1},
          {3, .s = "a", .n = 1}, {4, .s = "ab", .n = 2}, {5, .s = "b", .n = 1}, {6, .s = "\xc3\xa9", .n = 2});
    ORDER(URSA_TYPE_BINARY, 0, NUL(0), {1, .s = "", .n = 0}, {2, .s = "\x00", .n = 1},
          {3, .s = "\x00\x00", .n = 2}, {4, .s = "\x7f", .n = 1}, {5, .s = "\x80", .n = 1},
          {5, .s = "\x80", .n = 1}, {6, .s = "\xff", .n = 1});
    ORDER(URSA_TYPE_UUID, 0, NUL(0),
          {1, .s = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"},
          {2, .s = "\x7f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
          {3, .s = "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
          {3, .s = "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
          {4, .s = "\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"});
}

/* ---------------------------------------------------------------------------
 * Several batches, a key of two columns, against a reference
 * ------------------------------------------------------------------------- */

typedef struct ref_row {
    uint64_t ref;
    size_t pos; /* input position: the tie-break that makes qsort stable */
} ref_row_t;

static ursa_batch_t *const *g_batches;
static const int *g_keys;
static size_t g_nkeys;

static int cmp_reference(const void *x, const void *y)
{
    const ref_row_t *a = x, *b = y;
    for (size_t k = 0; k < g_nkeys; k++) {
        const ursa_column_t *ca = &g_batches[URSA_REF_BATCH(a->ref)]->cols[g_keys[k]];
        const ursa_column_t *cb = &g_batches[URSA_REF_BATCH(b->ref)]->cols[g_keys[k]];
        size_t i = URSA_REF_ROW(a->ref), j = URSA_REF_ROW(b->ref);
        bool va = ursa_column_valid(ca, i), vb = ursa_column_valid(cb, j);
        if (va != vb) return va ? 1 : -1;
        if (!va) continue;
        if (ca->type == URSA_TYPE_STRING) {
            size_t an, bn;
            const uint8_t *sa = ursa_column_str(ca, i, &an), *sb = ursa_column_str(cb, j, &bn);
            int r = memcmp(sa, sb, an < bn ? an : bn);
            if (r) return r;
            if (an != bn) return an < bn ? -1 : 1;
        } else {
            int64_t p = ursa_column_i64(ca, i), q = ursa_column_i64(cb, j);
            if (p != q) return p < q ? -1 : 1;
        }
    }
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

TEST(two_column_key_over_batches_matches_a_stable_reference)
{
    static const char *const countries[] = {"de", "fr", "us", "jp", "br", "d", "dee"};
    enum { NB = 7, PER = 9000 };
    ursa_batch_t batches[NB], *bp[NB];
    ursa_field_t fc = {.type = URSA_TYPE_STRING, .nullable = true};
    ursa_field_t ft = {.type = URSA_TYPE_TIMESTAMP, .nullable = false};
    ursa_field_t fn = {.type = URSA_TYPE_INT64, .nullable = false};
    srand(7);
    for (size_t b = 0; b < NB; b++) {
        bp[b] = &batches[b];
        memset(&batches[b], 0, sizeof(batches[b]));
        batches[b].cols = ursa_calloc(3, sizeof(ursa_column_t));
        batches[b].ncols = 3;
        ursa_column_init_field(&batches[b].cols[0], &fn);
        ursa_column_init_field(&batches[b].cols[1], &fc);
        ursa_column_init_field(&batches[b].cols[2], &ft);
        size_t rows = PER - b * 100;
        for (size_t i = 0; i < rows; i++) {
            CHECK_EQ_INT(ursa_column_append_i64(&batches[b].cols[0], (int64_t)(b * PER + i)), URSA_OK);
            int c = rand() % 8;
            if (c == 7)
                CHECK_EQ_INT(ursa_column_append_null(&batches[b].cols[1]), URSA_OK);
            else
                CHECK_EQ_INT(ursa_column_append_str(&batches[b].cols[1], countries[c], strlen(countries[c])),
                             URSA_OK);
            /* few distinct times: many ties on the whole key */
            CHECK_EQ_INT(ursa_column_append_i64(&batches[b].cols[2], (int64_t)(rand() % 50) * 1000 - 20000),
                         URSA_OK);
        }
        batches[b].nrows = rows;
    }
    size_t n = 0;
    for (size_t b = 0; b < NB; b++) n += batches[b].nrows;
    uint64_t *refs = ursa_malloc(n * sizeof(*refs));
    ref_row_t *want = ursa_malloc(n * sizeof(*want));
    size_t k = 0;
    for (size_t b = 0; b < NB; b++)
        for (size_t i = 0; i < batches[b].nrows; i++, k++) {
            refs[k] = URSA_ROW_REF(b, i);
            want[k] = (ref_row_t){refs[k], k};
        }
    int keys[2] = {1, 2};
    g_batches = bp, g_keys = keys, g_nkeys = 2;
    qsort(want, n, sizeof(*want), cmp_reference);
    bool moved;
    CHECK_EQ_INT(ursa_sort_refs(bp, keys, 2, refs, n, &moved), URSA_OK);
    CHECK(moved);
    size_t bad = 0;
    for (k = 0; k < n; k++) bad += refs[k] != want[k].ref;
    CHECK_EQ_INT(bad, 0);
    /* Sorted input is left alone, and so is the sort by a key it is in
     * order of already (column 0 grows with the refs). */
    CHECK_EQ_INT(ursa_sort_refs(bp, keys, 2, refs, n, &moved), URSA_OK);
    CHECK(!moved);
    for (k = 0, bad = 0; k < n; k++) bad += refs[k] != want[k].ref;
    CHECK_EQ_INT(bad, 0);
    int key0 = 0;
    for (k = 0; k < n; k++) refs[k] = want[k].ref;
    for (k = 0; k < n; k++) want[k].pos = k;
    uint64_t *back = ursa_malloc(n * sizeof(*back));
    for (k = 0; k < n; k++) back[k] = want[n - 1 - k].ref; /* out of order */
    CHECK_EQ_INT(ursa_sort_refs(bp, &key0, 1, refs, n, &moved), URSA_OK);
    CHECK(moved);
    for (k = 0, bad = 0; k + 1 < n; k++)
        bad += ursa_column_i64(&bp[URSA_REF_BATCH(refs[k])]->cols[0], URSA_REF_ROW(refs[k])) + 1 !=
                   ursa_column_i64(&bp[URSA_REF_BATCH(refs[k + 1])]->cols[0], URSA_REF_ROW(refs[k + 1])) &&
               URSA_REF_BATCH(refs[k]) == URSA_REF_BATCH(refs[k + 1]);
    CHECK_EQ_INT(bad, 0);
    /* A failed allocation leaves the refs as they were. */
    ursa_mem_fail_after(1);
    CHECK_EQ_INT(ursa_sort_refs(bp, keys, 2, back, n, &moved), URSA_ENOMEM);
    ursa_mem_fail_after(0);
    for (k = 0, bad = 0; k < n; k++) bad += back[k] != want[n - 1 - k].ref;
    CHECK_EQ_INT(bad, 0);
    ursa_free(back);
    ursa_free(refs);
    ursa_free(want);
    for (size_t b = 0; b < NB; b++) ursa_batch_free(&batches[b]);
}

/* ---------------------------------------------------------------------------
 * "sort_by" in schemas
 * ------------------------------------------------------------------------- */

#define COLS                                                                                             \
    "\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},{\"name\":\"country\","    \
    "\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int64\"},{\"name\":\"doc\",\"type\":\"json\"},"     \
    "{\"name\":\"f\",\"type\":\"float64\"},{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"u\",\"type\":" \
    "\"uint8\"},{\"name\":\"d\",\"type\":\"date\"},{\"name\":\"bin\",\"type\":\"binary\"}]"

static void refused(const char *sort_by, const char *msg_part)
{
    char doc[1024];
    snprintf(doc, sizeof(doc), "{" COLS ",\"time_column\":\"ts\",\"sort_by\":%s}", sort_by);
    ursa_schema_t s;
    ursa_err_t err = {0};
    int rc = ursa_schema_parse(doc, strlen(doc), &s, &err);
    CHECK_EQ_INT(rc, URSA_EINVAL);
    if (rc == URSA_OK) ursa_schema_free(&s);
    if (!strstr(err.msg, msg_part)) fprintf(stderr, "sort_by %s: message \"%s\"\n", sort_by, err.msg);
    CHECK(strstr(err.msg, msg_part) != NULL);
}

TEST(sort_by_is_parsed_validated_and_rendered)
{
    refused("\"country\"", "list of 1 to 8");
    refused("[]", "list of 1 to 8");
    refused("[\"ts\",\"country\",\"n\",\"f\",\"b\",\"u\",\"d\",\"bin\",\"ts\"]", "list of 1 to 8");
    refused("[\"country\",3]", "\"sort_by\"[1] must be a column name");
    refused("[\"country\",\"nope\"]", "\"sort_by\"[1]: no column \"nope\"");
    refused("[\"doc\"]", "column \"doc\" is json, which has no order");
    refused("[\"country\",\"ts\",\"country\"]", "column \"country\" is named twice");

    const char doc[] = "{" COLS ",\"time_column\":\"ts\",\"sort_by\":[\"country\",\"ts\",\"f\",\"b\",\"u\","
                       "\"d\",\"bin\",\"n\"]}";
    ursa_schema_t s, back, plain, by_ts;
    ursa_err_t err;
    CHECK_EQ_INT(ursa_schema_parse(doc, strlen(doc), &s, &err), URSA_OK);
    CHECK_EQ_INT(s.nsort_by, 8);
    int keys[URSA_SORT_KEYS_MAX];
    CHECK_EQ_INT(ursa_schema_sort_key(&s, keys), 8);
    CHECK(keys[0] == 1 && keys[1] == 0 && keys[7] == 2);
    ursa_buf_t js = {0};
    CHECK_EQ_INT(ursa_schema_to_json(&s, &js), URSA_OK);
    CHECK_EQ_INT(ursa_buf_push(&js, 0), URSA_OK);
    CHECK(strstr((char *)js.data,
                 ",\"sort_by\":[\"country\",\"ts\",\"f\",\"b\",\"u\",\"d\",\"bin\",\"n\"]") != NULL);
    CHECK_EQ_INT(ursa_schema_parse((char *)js.data, js.len - 1, &back, &err), URSA_OK);
    CHECK(ursa_schema_equal(&s, &back));
    ursa_buf_free(&js);

    /* No "sort_by": the key is the time column, and saying so is the same
     * schema; another key is another schema. */
    const char d_plain[] = "{" COLS ",\"time_column\":\"ts\"}";
    const char d_ts[] = "{" COLS ",\"time_column\":\"ts\",\"sort_by\":[\"ts\"]}";
    CHECK_EQ_INT(ursa_schema_parse(d_plain, strlen(d_plain), &plain, &err), URSA_OK);
    CHECK_EQ_INT(ursa_schema_parse(d_ts, strlen(d_ts), &by_ts, &err), URSA_OK);
    CHECK_EQ_INT(plain.nsort_by, 0);
    CHECK_EQ_INT(ursa_schema_sort_key(&plain, keys), 1);
    CHECK_EQ_INT(keys[0], 0);
    CHECK(ursa_schema_equal(&plain, &by_ts));
    CHECK(!ursa_schema_equal(&plain, &s));
    ursa_buf_t pj = {0};
    CHECK_EQ_INT(ursa_schema_to_json(&plain, &pj), URSA_OK);
    CHECK(pj.len && !memmem(pj.data, pj.len, "sort_by", 7));
    ursa_buf_free(&pj);
    ursa_schema_free(&s);
    ursa_schema_free(&back);
    ursa_schema_free(&plain);
    ursa_schema_free(&by_ts);
}

/* ---------------------------------------------------------------------------
 * Flushed files
 * ------------------------------------------------------------------------- */

static char root[512];

static void fresh_root(void)
{
    const char *tmp = getenv("URSA_TEST_TMP");
    snprintf(root, sizeof(root), "%s/sort.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) abort();
}

static void ingest(ursa_dataset_t *d, const char *body)
{
    ursa_batch_t *b = ursa_calloc(1, sizeof(*b));
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(b, &d->schema) == URSA_OK);
    CHECK(ursa_ndjson_init(&p, &d->schema, b, 0) == URSA_OK);
    CHECK(ursa_ndjson_feed(&p, body, strlen(body)) == URSA_OK);
    CHECK(ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(p.rejected, 0);
    ursa_ndjson_free(&p);
    CHECK(ursa_dataset_append(d, b) == URSA_OK);
}

/* Reads a flushed file: column n of every row in file order into ns, and
 * the sorting columns of every row group as "idx,idx;" per group. */
static size_t read_file(ursa_store_t *st, const char *key, int64_t *ns, size_t cap, char *sorting,
                        size_t scap)
{
    pq_reader_t *r = NULL;
    ursa_err_t err;
    CHECK_EQ_INT(pq_reader_open(&r, st, key, &err), URSA_OK);
    if (!r) return 0;
    const pq_file_meta_t *m = pq_reader_meta(r);
    int nc = pq_reader_find(r, "n");
    size_t got = 0, sl = 0;
    sorting[0] = '\0';
    for (size_t g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_t *rg = &m->row_groups[g];
        for (size_t k = 0; k < rg->nsorting; k++) {
            CHECK(!rg->sorting[k].descending && rg->sorting[k].nulls_first);
            sl += (size_t)snprintf(sorting + sl, scap - sl, "%d,", (int)rg->sorting[k].column_idx);
        }
        sl += (size_t)snprintf(sorting + sl, scap - sl, ";");
        size_t col = (size_t)nc;
        ursa_batch_t b;
        CHECK_EQ_INT(pq_reader_read(r, g, &col, 1, &b, &err), URSA_OK);
        for (size_t i = 0; i < b.nrows && got < cap; i++) ns[got++] = ursa_column_i64(&b.cols[0], i);
        ursa_batch_free(&b);
    }
    pq_reader_destroy(&r);
    return got;
}

/* Two requests, two days, rows out of order on (country, ts); n numbers
 * the rows in the order a sorted file must hold them (per day). */
static const char SORTED_SCHEMA[] =
    "{\"columns\":[{\"name\":\"n\",\"type\":\"int64\",\"nullable\":false},{\"name\":\"ts\",\"type\":"
    "\"timestamp\",\"nullable\":false},{\"name\":\"country\",\"type\":\"string\"}],\"time_column\":\"ts\","
    "\"sort_by\":[\"country\",\"ts\"]}";
static const char *const SORTED_BODIES[] = {
    "{\"n\":6,\"ts\":\"2024-03-01T10:00:00Z\",\"country\":\"us\"}\n"
    "{\"n\":102,\"ts\":\"2024-03-02T09:00:00Z\",\"country\":\"fr\"}\n"
    "{\"n\":3,\"ts\":\"2024-03-01T05:00:00Z\",\"country\":\"de\"}\n"
    "{\"n\":0,\"ts\":\"2024-03-01T23:00:00Z\"}\n"
    "{\"n\":4,\"ts\":\"2024-03-01T05:00:00Z\",\"country\":\"de\"}\n",
    "{\"n\":101,\"ts\":\"2024-03-02T10:00:00Z\",\"country\":null}\n"
    "{\"n\":5,\"ts\":\"2024-03-01T07:00:00Z\",\"country\":\"de\"}\n"
    "{\"n\":2,\"ts\":\"2024-03-01T00:00:00Z\",\"country\":\"ca\"}\n"
    "{\"n\":7,\"ts\":\"2024-03-01T10:00:00Z\",\"country\":\"us\"}\n"
    "{\"n\":1,\"ts\":\"2024-03-01T23:59:00Z\"}\n",
};

TEST(flushed_files_are_sorted_and_say_so)
{
    fresh_root();
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_err_t err;
    bool created;
    CHECK_EQ_INT(ursa_store_open(root, NULL, &st, &err), URSA_OK);
    CHECK_EQ_INT(ursa_catalog_new(&cat, st, "node1", 0, &err), URSA_OK);
    CHECK_EQ_INT(ursa_catalog_create(cat, "ev", SORTED_SCHEMA, strlen(SORTED_SCHEMA), &created, &err),
                 URSA_OK);
    ursa_dataset_t *d = ursa_catalog_get(cat, "ev");
    for (size_t i = 0; i < 2; i++) ingest(d, SORTED_BODIES[i]);
    ursa_flush_result_t res;
    CHECK_EQ_INT(ursa_dataset_flush(cat, d, &res, &err), URSA_OK);
    CHECK_EQ_INT(res.nfiles, 2);
    int64_t ns[32];
    char sorting[128];
    if (res.nfiles == 2) {
        /* Nulls first; (de, 05:00) twice: 3 before 4, their arrival order. */
        size_t n = read_file(st, res.files[0].key, ns, 32, sorting, sizeof(sorting));
        CHECK_EQ_INT(n, 8);
        for (size_t i = 0; i < n; i++) CHECK_EQ_INT(ns[i], (int64_t)i);
        CHECK(strcmp(sorting, "2,1,;") == 0);
        n = read_file(st, res.files[1].key, ns, 32, sorting, sizeof(sorting));
        CHECK_EQ_INT(n, 2);
        CHECK(n == 2 && ns[0] == 101 && ns[1] == 102);
    }
    ursa_flush_result_free(&res);

    /* The key survives a restart (the schema in the store), with rows in
     * order already: written without reordering, still sorted. */
    ursa_catalog_destroy(&cat);
    CHECK_EQ_INT(ursa_catalog_new(&cat, st, "node1", 0, &err), URSA_OK);
    d = ursa_catalog_get(cat, "ev");
    CHECK(d && d->schema.nsort_by == 2 && strstr(d->schema_json, "\"sort_by\":[\"country\",\"ts\"]"));
    if (!d) return;
    ingest(d, "{\"n\":0,\"ts\":\"2024-03-05T01:00:00Z\",\"country\":\"a\"}\n"
              "{\"n\":1,\"ts\":\"2024-03-05T00:00:00Z\",\"country\":\"b\"}\n");
    CHECK_EQ_INT(ursa_dataset_flush(cat, d, &res, &err), URSA_OK);
    CHECK_EQ_INT(res.nfiles, 1);
    if (res.nfiles == 1) {
        CHECK_EQ_INT(read_file(st, res.files[0].key, ns, 32, sorting, sizeof(sorting)), 2);
        CHECK(ns[0] == 0 && ns[1] == 1 && strcmp(sorting, "2,1,;") == 0);
    }
    ursa_flush_result_free(&res);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
}

/* Without "sort_by" files are sorted by the time column, over many row
 * groups and gather slices, equal times in arrival order. */
TEST(default_key_is_the_time_column)
{
    fresh_root();
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_err_t err;
    bool created;
    const char schema[] = "{\"columns\":[{\"name\":\"n\",\"type\":\"int64\",\"nullable\":false},{\"name\":"
                          "\"ts\",\"type\":\"timestamp\",\"nullable\":false}],\"time_column\":\"ts\"}";
    CHECK_EQ_INT(ursa_store_open(root, NULL, &st, &err), URSA_OK);
    CHECK_EQ_INT(ursa_catalog_new(&cat, st, "node1", 0, &err), URSA_OK);
    cat->pq.row_group_rows = 7000;
    CHECK_EQ_INT(ursa_catalog_create(cat, "ev", schema, strlen(schema), &created, &err), URSA_OK);
    ursa_dataset_t *d = ursa_catalog_get(cat, "ev");
    enum { N = 40000 };
    ursa_buf_t body = {0};
    for (int part = 0; part < 2; part++) {
        body.len = 0;
        /* seconds 0..N/2-1 descending in part 0, ascending in part 1: each
         * second twice, the part-0 row first */
        for (int i = 0; i < N / 2; i++) {
            int sec = part ? i : N / 2 - 1 - i;
            CHECK_EQ_INT(ursa_buf_printf(&body, "{\"n\":%d,\"ts\":\"2024-03-01T%02d:%02d:%02dZ\"}\n",
                                         part * N + sec, sec / 3600, sec / 60 % 60, sec % 60),
                         URSA_OK);
        }
        CHECK_EQ_INT(ursa_buf_push(&body, 0), URSA_OK);
        ingest(d, (const char *)body.data);
    }
    ursa_buf_free(&body);
    ursa_flush_result_t res;
    CHECK_EQ_INT(ursa_dataset_flush(cat, d, &res, &err), URSA_OK);
    CHECK_EQ_INT(res.nfiles, 1);
    if (res.nfiles == 1) {
        int64_t *ns = ursa_malloc(N * sizeof(*ns));
        char sorting[256];
        CHECK_EQ_INT(read_file(st, res.files[0].key, ns, N, sorting, sizeof(sorting)), N);
        size_t bad = 0;
        for (int i = 0; i < N; i++) bad += ns[i] != (i % 2 ? N : 0) + i / 2;
        CHECK_EQ_INT(bad, 0);
        CHECK(strcmp(sorting, "1,;1,;1,;1,;1,;1,;") == 0);
        ursa_free(ns);
    }
    ursa_flush_result_free(&res);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
}

int main(void)
{
    RUN(every_type_orders_nulls_first_and_keeps_ties);
    RUN(two_column_key_over_batches_matches_a_stable_reference);
    RUN(sort_by_is_parsed_validated_and_rendered);
    RUN(flushed_files_are_sorted_and_say_so);
    RUN(default_key_is_the_time_column);
    return TEST_EXIT();
}
