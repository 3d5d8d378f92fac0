/* Unit tests for the catalog and flush: partitioning by UTC day, atomic
 * publication, and failures that must lose nothing and publish nothing. */
#include "catalog.h"
#include "ingest_json.h"
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
    CHECK(ursa_catalog_new(cat, *st, "node1", &err) == URSA_OK);
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
    CHECK(ursa_catalog_new(&cat, st, "node1", &err) == URSA_OK);
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

int main(void)
{
    RUN(flush_partitions_by_utc_day);
    RUN(failed_flush_loses_nothing_and_publishes_nothing);
    return TEST_EXIT();
}
