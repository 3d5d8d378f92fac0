/* Unit tests for the catalog and flush: partitioning by UTC day, atomic
 * publication, and failures that must lose nothing and publish nothing. */
#include "catalog.h"
#include "ingest_json.h"
#include "pq_read.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char root[512];
static const char SCHEMA[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"n\",\"type\":\"int64\"},{\"name\":\"s\",\"type\":\"string\"}],"
                             "\"time_column\":\"ts\"}";

static void fresh_root(void)
{
    const char *tmp = getenv("URSA_TEST_TMP");
    snprintf(root, sizeof(root), "%s/flush.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0) abort();
}

/* Counts the files under the store root that `find` selects with args. */
static int count(const char *args)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "find '%s' -type f %s | wc -l", root, args);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (!p || fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

#define count_files()     count("-name '*.parquet'")
#define count_all_files() count("")

/* Ingests NDJSON text as one request would. */
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

/* Three requests over two UTC days; the second mixes the days. */
static const char *const BODIES[] = {
    "{\"ts\":\"2024-03-01T23:00:00Z\",\"n\":1,\"s\":\"a\"}\n{\"ts\":\"2024-03-01T23:30:00Z\",\"n\":2}\n",
    "{\"ts\":\"2024-03-02T01:00:00+05:30\",\"n\":3,\"s\":\"b\"}\n" /* 2024-03-01 19:30 UTC */
    "{\"ts\":\"2024-03-01T20:00:00-08:00\",\"n\":4,\"s\":\"c\"}\n" /* 2024-03-02 04:00 UTC */
    "{\"ts\":\"2024-03-01T00:00:00Z\",\"n\":5,\"s\":\"d\"}\n",
    "{\"ts\":\"2024-03-02T12:00:00Z\",\"n\":6,\"s\":\"e\"}\n",
};

static void setup(ursa_store_t **st, ursa_catalog_t **cat, ursa_dataset_t **d)
{
    ursa_err_t err;
    bool created;
    CHECK(ursa_store_open(root, NULL, st, &err) == URSA_OK);
    CHECK(ursa_catalog_new(cat, *st, "node1", 0, &err) == URSA_OK);
    int rc = ursa_catalog_create(*cat, "ev", SCHEMA, strlen(SCHEMA), &created, &err);
    CHECK(rc == URSA_OK);
    *d = ursa_catalog_get(*cat, "ev");
    CHECK(*d != NULL);
    for (size_t i = 0; i < sizeof(BODIES) / sizeof(BODIES[0]); i++) ingest(*d, BODIES[i]);
}

TEST(flush_partitions_by_utc_day)
{
    fresh_root();
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    setup(&st, &cat, &d);
    uint64_t rows, bytes;
    ursa_dataset_stats(d, &rows, &bytes);
    CHECK_EQ_INT(rows, 6);
    CHECK(bytes > 0);

    ursa_flush_result_t res;
    ursa_err_t err;
    CHECK(ursa_dataset_flush(cat, d, &res, &err) == URSA_OK);
    CHECK_EQ_INT(res.rows, 6);
    CHECK_EQ_INT(res.nfiles, 2);
    if (res.nfiles == 2) {
        CHECK(strcmp(res.files[0].date, "2024-03-01") == 0 && res.files[0].rows == 4);
        CHECK(strcmp(res.files[1].date, "2024-03-02") == 0 && res.files[1].rows == 2);
        CHECK(strncmp(res.files[0].key, "ev/date=2024-03-01/node1-", 25) == 0);
        /* The file is really there with the size reported, and is Parquet. */
        ursa_buf_t b = {0};
        CHECK(ursa_store_get(st, res.files[0].key, &b, &err) == URSA_OK);
        CHECK_EQ_INT(b.len, res.files[0].bytes);
        CHECK(b.len > 8 && memcmp(b.data, "PAR1", 4) == 0 && memcmp(b.data + b.len - 4, "PAR1", 4) == 0);
        ursa_buf_free(&b);
    }
    ursa_flush_result_free(&res);
    ursa_dataset_stats(d, &rows, &bytes);
    CHECK(rows == 0 && bytes == 0);
    CHECK_EQ_INT(count_files(), 2);

    /* An empty buffer writes nothing. */
    CHECK(ursa_dataset_flush(cat, d, &res, &err) == URSA_OK);
    CHECK(res.nfiles == 0 && res.rows == 0);
    ursa_flush_result_free(&res);

    /* The schema survives a restart; a different schema is refused. */
    ursa_catalog_destroy(&cat);
    CHECK(ursa_catalog_new(&cat, st, "node1", 0, &err) == URSA_OK);
    CHECK(ursa_catalog_get(cat, "ev") != NULL);
    bool created;
    CHECK(ursa_catalog_create(cat, "ev", SCHEMA, strlen(SCHEMA), &created, &err) == URSA_OK && !created);
    const char other[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false}],"
                         "\"time_column\":\"ts\"}";
    CHECK(ursa_catalog_create(cat, "ev", other, strlen(other), &created, &err) == URSA_EEXIST);
    CHECK(ursa_catalog_create(cat, "../x", other, strlen(other), &created, &err) == URSA_EINVAL);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
}

/* Failing the Nth allocation of a flush, for every N until it succeeds:
 * each failure must publish nothing and keep all six rows buffered. */
TEST(failed_flush_loses_nothing_and_publishes_nothing)
{
    fresh_root();
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    setup(&st, &cat, &d);
    int failures = 0;
    for (long k = 1; k < 10000; k++) {
        ursa_flush_result_t res;
        ursa_err_t err = {0};
        ursa_mem_fail_after(k);
        int rc = ursa_dataset_flush(cat, d, &res, &err);
        ursa_mem_fail_after(0);
        uint64_t rows, bytes;
        ursa_dataset_stats(d, &rows, &bytes);
        if (rc == URSA_OK) {
            CHECK_EQ_INT(res.rows, 6);
            CHECK_EQ_INT(rows, 0);
            CHECK_EQ_INT(count_files(), 2);
            ursa_flush_result_free(&res);
            break;
        }
        failures++;
        CHECK(err.msg[0] != '\0');
        CHECK_EQ_INT(rows, 6);
        CHECK_EQ_INT(count_files(), 0);
        CHECK_EQ_INT(count_all_files(), 1); /* only the schema: no temporaries left */
    }
    CHECK(failures > 5);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

/* One request on an evolving dataset: its scanner and its batch. */
typedef struct request {
    ursa_batch_t *b;
    ursa_ndjson_t p;
} request_t;

static void request_begin(request_t *r, ursa_dataset_t *d)
{
    r->b = ursa_calloc(1, sizeof(*r->b));
    CHECK(ursa_batch_init(r->b, &d->schema) == URSA_OK);
    CHECK(ursa_ndjson_init(&r->p, &d->schema, r->b, 0) == URSA_OK);
    CHECK(ursa_ndjson_evolve(&r->p) == URSA_OK);
}

static void request_feed(request_t *r, const char *body)
{
    CHECK(ursa_ndjson_feed(&r->p, body, strlen(body)) == URSA_OK);
}

/* Frees what the request still owns (its batch unless the dataset took it). */
static void request_end(request_t *r)
{
    ursa_ndjson_free(&r->p);
    if (r->b) {
        ursa_batch_free(r->b);
        ursa_free(r->b);
    }
}

/* A store whose puts fail (the rest as the real one's). */
static int failing_put(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    (void)st, (void)data, (void)n;
    return ursa_err_set(err, URSA_EIO, "put %s: injected failure", key);
}

/* The names of the dataset's columns, "a,b,c". */
static const char *names(const ursa_schema_t *s, char *out, size_t cap)
{
    size_t o = 0, n = ursa_schema_nfields(s);
    out[0] = 0;
    for (size_t i = 0; i < n && o + URSA_NAME_MAX + 2 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", s->fields[i].name);
    return out;
}

/* ursa_dataset_evolve commits only the request's fields that have values,
 * in the dataset's order of that moment, and refuses (changing nothing) a
 * field another request stored with another type, or more columns than a
 * schema may have (issue 11). */
TEST(evolve_commits_stored_fields_in_the_dataset_order)
{
    fresh_root();
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_err_t err;
    bool created;
    char buf[8192];
    CHECK(ursa_store_open(root, NULL, &st, &err) == URSA_OK);
    CHECK(ursa_catalog_new(&cat, st, "node1", 0, &err) == URSA_OK);
    const char js[] =
        "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
        "{\"name\":\"n\",\"type\":\"int64\"}],\"time_column\":\"ts\",\"unknown_fields\":\"evolve\"}";
    CHECK(ursa_catalog_create(cat, "ev", js, strlen(js), &created, &err) == URSA_OK && created);
    ursa_dataset_t *d = ursa_catalog_get(cat, "ev");
    CHECK(d != NULL);
    ursa_schema_t *s = &d->schema;

    /* Four requests begin while the dataset has ts, n. */
    request_t a, b, c, w;
    request_begin(&a, d);
    request_begin(&b, d);
    request_begin(&c, d);
    request_begin(&w, d);
    request_feed(&a, "{\"ts\":\"2024-03-01T00:00:00Z\",\"n\":1,\"x\":\"a\",\"v\":null}\n");
    request_feed(&b, "{\"ts\":\"2024-03-01T00:00:01Z\",\"n\":2,\"y\":true,\"x\":\"b\"}\n");
    request_feed(&c, "{\"ts\":\"2024-03-01T00:00:02Z\",\"n\":3,\"x\":5}\n");
    ursa_buf_t wide = {0};
    CHECK(ursa_buf_printf(&wide, "{\"ts\":\"2024-03-01T00:00:03Z\"") == URSA_OK);
    for (int i = 0; i < 1021; i++) CHECK(ursa_buf_printf(&wide, ",\"w%d\":%d", i, i) == URSA_OK);
    CHECK(ursa_buf_printf(&wide, "}\n") == URSA_OK);
    request_feed(&w, (const char *)wide.data); /* 2 + 1,021 columns: fits now */
    ursa_buf_free(&wide);
    CHECK_EQ_INT(w.b->ncols, 1023);

    /* b stores first: y, x in its order. */
    CHECK(ursa_dataset_evolve(cat, d, b.p.schema, b.p.base, b.b, &err) == URSA_OK);
    CHECK(!strcmp(names(s, buf, sizeof(buf)), "ts,n,y,x"));
    CHECK_EQ_INT(b.b->ncols, 4);
    CHECK(ursa_column_bool(&b.b->cols[2], 0));
    size_t len;
    CHECK(!memcmp(ursa_column_str(&b.b->cols[3], 0, &len), "b", 1) && len == 1);
    ursa_buf_t doc = {0};
    CHECK(ursa_store_get(st, "ev/_ursa/schema.json", &doc, &err) == URSA_OK);
    CHECK(ursa_buf_push(&doc, 0) == URSA_OK);
    CHECK(strstr((char *)doc.data, "\"y\"") && strstr((char *)doc.data, "\"x\""));
    ursa_buf_free(&doc);

    /* c has x as int64: refused, nothing changes. */
    CHECK_EQ_INT(ursa_dataset_evolve(cat, d, c.p.schema, c.p.base, c.b, &err), URSA_EEXIST);
    CHECK(strstr(err.msg, "\"x\"") && strstr(err.msg, "as string") && strstr(err.msg, "int64 values") &&
          strstr(err.msg, "retry"));
    CHECK(!strcmp(names(s, buf, sizeof(buf)), "ts,n,y,x"));
    CHECK(c.b->ncols == 3 && ursa_column_i64(&c.b->cols[2], 0) == 5);

    /* w's 1,021 would make 1,025: refused, nothing changes. */
    CHECK_EQ_INT(ursa_dataset_evolve(cat, d, w.p.schema, w.p.base, w.b, &err), URSA_ELIMIT);
    CHECK(strstr(err.msg, "1024 columns") && strstr(err.msg, "retry"));
    CHECK_EQ_INT(ursa_schema_nfields(s), 4);
    CHECK_EQ_INT(w.b->ncols, 1023);

    /* a: x is there already (same type) at another index; y gets nulls; v
     * had no value and adds nothing. Every allocation may fail first. */
    CHECK_EQ_INT(a.b->ncols, 3);
    int rc = URSA_ENOMEM;
    for (long k = 1; rc == URSA_ENOMEM && k < 100; k++) {
        ursa_mem_fail_after(k);
        rc = ursa_dataset_evolve(cat, d, a.p.schema, a.p.base, a.b, &err);
        ursa_mem_fail_after(0);
        if (rc == URSA_ENOMEM) CHECK(a.b->ncols == 3 && ursa_schema_nfields(s) == 4);
    }
    CHECK_EQ_INT(rc, URSA_OK);
    CHECK_EQ_INT(a.b->ncols, 4);
    CHECK(a.b->cols[2].type == URSA_TYPE_BOOL && !ursa_column_valid(&a.b->cols[2], 0));
    CHECK(!memcmp(ursa_column_str(&a.b->cols[3], 0, &len), "a", 1) && len == 1);

    /* A new field while the store fails: nothing changes. */
    request_t e;
    request_begin(&e, d);
    request_feed(&e, "{\"ts\":\"2024-03-01T00:00:04Z\",\"n\":4,\"z\":1.5}\n");
    const struct ursa_store_ops *ops = st->ops;
    struct ursa_store_ops broken = *ops;
    broken.put = failing_put;
    st->ops = &broken;
    CHECK_EQ_INT(ursa_dataset_evolve(cat, d, e.p.schema, e.p.base, e.b, &err), URSA_EIO);
    st->ops = ops;
    CHECK(strstr(err.msg, "injected failure") != NULL);
    CHECK(e.b->ncols == 5 && ursa_schema_nfields(s) == 4);
    char *doc_now = ursa_dataset_schema_json(d);
    CHECK(doc_now && !strstr(doc_now, "\"z\""));
    ursa_free(doc_now);

    /* And with every allocation failing first: the schema stays as it was
     * until it is all done. */
    rc = URSA_ENOMEM;
    for (long k = 1; rc == URSA_ENOMEM && k < 200; k++) {
        ursa_mem_fail_after(k);
        rc = ursa_dataset_evolve(cat, d, e.p.schema, e.p.base, e.b, &err);
        ursa_mem_fail_after(0);
        if (rc == URSA_ENOMEM) CHECK(e.b->ncols == 5 && ursa_schema_nfields(s) == 4);
    }
    CHECK_EQ_INT(rc, URSA_OK);
    CHECK(!strcmp(names(s, buf, sizeof(buf)), "ts,n,y,x,z"));

    /* The rows flush in one file with the dataset's columns. */
    CHECK(ursa_dataset_append(d, a.b) == URSA_OK);
    CHECK(ursa_dataset_append(d, b.b) == URSA_OK);
    CHECK(ursa_dataset_append(d, e.b) == URSA_OK);
    a.b = b.b = e.b = NULL;
    ursa_flush_result_t res;
    CHECK(ursa_dataset_flush(cat, d, &res, &err) == URSA_OK);
    CHECK(res.rows == 3 && res.nfiles == 1);
    ursa_flush_result_free(&res);
    request_end(&a);
    request_end(&b);
    request_end(&c);
    request_end(&w);
    request_end(&e);

    /* After a restart the stored schema is the one published. */
    ursa_catalog_destroy(&cat);
    CHECK(ursa_catalog_new(&cat, st, "node1", 0, &err) == URSA_OK);
    d = ursa_catalog_get(cat, "ev");
    CHECK(d && !strcmp(names(&d->schema, buf, sizeof(buf)), "ts,n,y,x,z"));
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
}

/* A flushed file's data pages hold at most PQ_DATASET_PAGE_ROWS rows
 * (unless the catalog sets page_rows), whatever their encoded size: 45,000
 * small rows are three pages in every column, and a reader of ten rows in
 * the middle decodes one page per column, not the whole chunk. */
TEST(flush_writes_pages_of_bounded_rows)
{
    fresh_root();
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    ursa_err_t err;
    bool created;
    CHECK(ursa_store_open(root, NULL, &st, &err) == URSA_OK);
    CHECK(ursa_catalog_new(&cat, st, "node1", 0, &err) == URSA_OK);
    CHECK(ursa_catalog_create(cat, "ev", SCHEMA, strlen(SCHEMA), &created, &err) == URSA_OK);
    d = ursa_catalog_get(cat, "ev");
    const size_t rows = 45000;
    ursa_batch_t *b = ursa_calloc(1, sizeof(*b));
    CHECK(b && ursa_batch_init(b, &d->schema) == URSA_OK);
    for (size_t i = 0; i < rows; i++) {
        CHECK(ursa_column_append_i64(&b->cols[0], 1709251200000000ll + (int64_t)i) == URSA_OK);
        CHECK(ursa_column_append_i64(&b->cols[1], (int64_t)(i % 7)) == URSA_OK);
        CHECK(ursa_column_append_str(&b->cols[2], i % 2 ? "x" : "y", 1) == URSA_OK);
    }
    b->nrows = rows;
    CHECK(ursa_dataset_append(d, b) == URSA_OK);
    ursa_flush_result_t res;
    CHECK(ursa_dataset_flush(cat, d, &res, &err) == URSA_OK);
    CHECK(res.nfiles == 1 && res.rows == rows);
    pq_reader_t *r = NULL;
    CHECK(res.nfiles == 1 && pq_reader_open(&r, st, res.files[0].key, &err) == URSA_OK);
    ursa_batch_t got;
    pq_reader_counters_t ctr;
    CHECK(pq_reader_read(r, 0, NULL, 0, &got, &err) == URSA_OK && got.nrows == rows);
    pq_reader_get_counters(r, &ctr);
    size_t per_col = (rows + PQ_DATASET_PAGE_ROWS - 1) / PQ_DATASET_PAGE_ROWS;
    CHECK_EQ_INT(per_col, 3);
    CHECK_EQ_INT(ctr.pages, per_col * 3);
    ursa_batch_free(&got);
    pq_reader_destroy(&r);
    CHECK(pq_reader_open(&r, st, res.files[0].key, &err) == URSA_OK);
    CHECK(pq_reader_read_rows(r, 0, NULL, 0, 25000, 10, &got, &err) == URSA_OK && got.nrows == 10);
    pq_reader_get_counters(r, &ctr);
    CHECK_EQ_INT(ctr.pages - ctr.pages_skipped, 3); /* one page of each column */
    CHECK_EQ_INT(ursa_column_i64(&got.cols[0], 0), 1709251200000000ll + 25000);
    ursa_batch_free(&got);
    pq_reader_destroy(&r);
    ursa_flush_result_free(&res);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
}

int main(void)
{
    RUN(flush_partitions_by_utc_day);
    RUN(failed_flush_loses_nothing_and_publishes_nothing);
    RUN(evolve_commits_stored_fields_in_the_dataset_order);
    RUN(flush_writes_pages_of_bounded_rows);
    return TEST_EXIT();
}
