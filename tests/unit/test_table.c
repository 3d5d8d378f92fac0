/*
 * test_table.c -- a dataset's Iceberg table on a local store: field ids
 * before writing, appends of Parquet files written with those ids (the
 * manifest's counts, partition and bounds, read back with avro_read), a
 * redone append committing nothing, and three threads appending at once:
 * every snapshot there, and the last manifest list naming every manifest;
 * the schema as several nodes change it (merged by name, ids kept).
 */
#include "avro_read.h"
#include "iceberg_meta.h"
#include "ingest_json.h"
#include "pq_write.h"
#include "table.h"
#include "table_files.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

/* The records of an Avro file at a location of the store. */
static json_t *read_avro(ursa_store_t *st, const char *ds, const char *location)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "/%s/", ds);
    const char *key = strstr(location, pat);
    return table_test_avro(st, key ? key + 1 : NULL);
}

TEST(appends)
{
    snprintf(tmpdir, sizeof(tmpdir), "test-tmp/table-%d", (int)getpid());
    ursa_store_t *st;
    ursa_err_t err;
    ursa_schema_t s;
    if (ursa_store_open(tmpdir, NULL, &st, &err) || ursa_schema_parse(JS, strlen(JS), &s, &err)) abort();
    int32_t ids[3];
    CHECK_EQ_INT(table_schema(st, "ev", &s, 0, NULL, ids, NULL, &err), URSA_OK);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
    table_test_file(st, &s, ids, "ev/date=2024-10-01/a.parquet", 20000, 0, 30, true, 10);
    table_test_file(st, &s, ids, "ev/date=2024-10-02/b.parquet", 20001, 0, 25, true, 10);
    table_test_file(st, &s, ids, "ev/date=2024-10-02/c.parquet", 20001, 25, 40, true, 10);
    table_file_t f1[] = {{"ev/date=2024-10-01/a.parquet", 20000}, {"ev/date=2024-10-02/b.parquet", 20001}};
    table_file_t f2[] = {{"ev/date=2024-10-02/c.parquet", 20001}};
    table_append_t a = {"ev", &s, "n1", 1, 10, f1, 2};
    table_result_t r;
    int rc = table_append(st, &a, &r, &err);
    if (rc) fprintf(stderr, "append: %s\n", err.msg);
    CHECK_EQ_INT(rc, URSA_OK);
    CHECK(!r.already);
    CHECK_EQ_INT(r.sequence_number, 1);
    int64_t first = r.snapshot_id;
    table_append_t a2 = {"ev", &s, "n1", 11, 20, f2, 1};
    CHECK_EQ_INT(table_append(st, &a2, &r, &err), URSA_OK);
    CHECK_EQ_INT(r.sequence_number, 2);
    printf("# append: %d requests, %zu metadata bytes, version %lld\n", r.requests, r.metadata_bytes,
           (long long)r.version);
    /* Redone: found, nothing written. */
    CHECK_EQ_INT(table_append(st, &a, &r, &err), URSA_OK);
    CHECK(r.already);
    CHECK_EQ_INT(r.snapshot_id, first);

    json_t *t;
    int64_t v;
    CHECK_EQ_INT(iceberg_load(st, "ev", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), 2);
    const json_t *cur = iceberg_table_current(t);
    json_t *list = read_avro(st, "ev", json_string_value(json_object_get(cur, "manifest-list")));
    CHECK_EQ_INT(json_array_size(list), 2); /* the parent's manifest and the new one */
    long long added = 0, rows = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        added += num(json_array_get(list, i), "added_files_count");
        rows += num(json_array_get(list, i), "added_rows_count");
    }
    CHECK_EQ_INT(added, 3);
    CHECK_EQ_INT(rows, 70);
    /* The first manifest: two files, their rows, days and the bounds of ts (field 1). */
    const json_t *m0 = NULL;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (num(json_array_get(list, i), "added_snapshot_id") == first) m0 = json_array_get(list, i);
    CHECK(m0 != NULL);
    if (m0) {
        json_t *entries = read_avro(st, "ev", json_string_value(json_object_get(m0, "manifest_path")));
        CHECK_EQ_INT(json_array_size(entries), 2);
        const json_t *df = json_object_get(json_array_get(entries, 0), "data_file");
        CHECK_EQ_INT(num(json_array_get(entries, 0), "status"), 1);
        CHECK(json_is_null(json_object_get(json_array_get(entries, 0), "snapshot_id"))); /* inherited */
        CHECK(strstr(json_string_value(json_object_get(df, "file_path")), "/ev/date=2024-10-01/a.parquet") !=
              NULL);
        CHECK(strncmp(json_string_value(json_object_get(df, "file_path")), "file:///", 8) == 0);
        CHECK_EQ_INT(num(df, "record_count"), 30);
        CHECK_EQ_INT(num(json_object_get(df, "partition"), "ts_day"), 20000);
        const json_t *lb = json_object_get(df, "lower_bounds"),
                     *nc = json_object_get(df, "null_value_counts");
        bool ts_bound = false, k_nulls = false;
        for (size_t i = 0; i < json_array_size(lb); i++)
            if (num(json_array_get(lb, i), "key") == 1)
                ts_bound = strcmp(json_string_value(json_object_get(json_array_get(lb, i), "value")),
                                  "00002c5a9b230600") == 0; /* 20000 days in µs, little-endian */
        for (size_t i = 0; i < json_array_size(nc); i++)
            if (num(json_array_get(nc, i), "key") == 2) k_nulls = num(json_array_get(nc, i), "value") == 6;
        CHECK(ts_bound);
        CHECK(k_nulls);
        json_decref(entries);
    }
    json_decref(list);
    json_decref(t);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

#define THREADS 3
#define EACH    5

typedef struct racer {
    ursa_store_t *st;
    const ursa_schema_t *s;
    int id, failures;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    for (int n = 0; n < EACH; n++) {
        char node[16];
        snprintf(node, sizeof(node), "n%d", r->id);
        table_file_t f = {"ev/date=2024-10-02/c.parquet", 20001};
        table_append_t a = {"race", r->s, node, (uint64_t)n * 10 + 1, (uint64_t)n * 10 + 10, &f, 1};
        table_result_t res;
        ursa_err_t err;
        if (table_append(r->st, &a, &res, &err)) {
            fprintf(stderr, "racer %d: %s\n", r->id, err.msg);
            r->failures++;
        }
    }
    return NULL;
}

TEST(appends_racing)
{
    ursa_store_t *st;
    ursa_err_t err;
    ursa_schema_t s;
    if (ursa_store_open(tmpdir, NULL, &st, &err) || ursa_schema_parse(JS, strlen(JS), &s, &err)) abort();
    pthread_t th[THREADS];
    racer_t r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (racer_t){st, &s, i, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(r[i].failures, 0);
    }
    json_t *t;
    int64_t v;
    CHECK_EQ_INT(iceberg_load(st, "race", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), THREADS * EACH);
    json_t *list =
        read_avro(st, "race", json_string_value(json_object_get(iceberg_table_current(t), "manifest-list")));
    CHECK_EQ_INT(json_array_size(list), THREADS * EACH); /* no manifest lost to a race */
    json_decref(list);
    json_decref(t);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* The schema through the table, as several nodes change it: each view's new
 * columns are merged by name, columns a view lacks stay, ids are kept. */
TEST(schema_merged)
{
    ursa_store_t *st;
    ursa_err_t err;
    ursa_schema_t a, b, c, bad, out;
    const char *ja =
        "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
        "{\"name\":\"k\",\"type\":\"int8\"}],\"time_column\":\"ts\",\"unknown_fields\":\"evolve\"}";
    const char *jb = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                     "{\"name\":\"k\",\"type\":\"int8\"},{\"name\":\"x\",\"type\":\"json\"}],"
                     "\"time_column\":\"ts\",\"unknown_fields\":\"evolve\"}";
    const char *jc = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                     "{\"name\":\"k\",\"type\":\"int8\"},{\"name\":\"y\",\"type\":\"string\"}],"
                     "\"time_column\":\"ts\",\"unknown_fields\":\"evolve\"}";
    const char *jbad =
        "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
        "{\"name\":\"x\",\"type\":\"string\"}],\"time_column\":\"ts\",\"unknown_fields\":\"evolve\"}";
    if (ursa_store_open(tmpdir, NULL, &st, &err) || ursa_schema_parse(ja, strlen(ja), &a, &err) ||
        ursa_schema_parse(jb, strlen(jb), &b, &err) || ursa_schema_parse(jc, strlen(jc), &c, &err) ||
        ursa_schema_parse(jbad, strlen(jbad), &bad, &err))
        abort();
    CHECK_EQ_INT(table_load_schema(st, "sm", &out, &err), URSA_ENOTFOUND);
    int32_t ids[4];
    CHECK_EQ_INT(table_schema(st, "sm", &a, TABLE_CREATE_ONLY, NULL, ids, NULL, &err), URSA_OK);
    CHECK(ids[0] == 1 && ids[1] == 2);
    /* Node B adds x; node C, which never saw x, adds y: x stays. */
    CHECK_EQ_INT(table_schema(st, "sm", &b, 0, NULL, ids, NULL, &err), URSA_OK);
    CHECK_EQ_INT(ids[2], 3);
    CHECK_EQ_INT(table_schema(st, "sm", &c, 0, NULL, ids, &out, &err), URSA_OK);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 4);
    CHECK_EQ_INT(out.nfields, 4);
    CHECK(strcmp(out.fields[2].name, "x") == 0 && out.fields[2].type == URSA_TYPE_JSON); /* not string */
    CHECK(strcmp(out.fields[3].name, "y") == 0 && out.fields[1].type == URSA_TYPE_INT8); /* not int32 */
    ursa_schema_free(&out);
    /* Creating it again changes nothing; an older view commits nothing. */
    CHECK_EQ_INT(table_schema(st, "sm", &a, TABLE_CREATE_ONLY, NULL, NULL, &out, &err), URSA_OK);
    CHECK_EQ_INT(out.nfields, 4);
    ursa_schema_free(&out);
    json_t *t;
    int64_t v, v2;
    CHECK_EQ_INT(iceberg_load(st, "sm", &t, &v, NULL, &err), URSA_OK);
    json_decref(t);
    CHECK_EQ_INT(table_schema(st, "sm", &a, 0, NULL, NULL, NULL, &err), URSA_OK);
    /* A column another node added with another type. */
    CHECK_EQ_INT(table_schema(st, "sm", &bad, 0, NULL, NULL, NULL, &err), URSA_EEXIST);
    CHECK(strstr(err.msg, "\"x\" is json") != NULL);
    CHECK_EQ_INT(iceberg_load(st, "sm", &t, &v2, NULL, &err), URSA_OK);
    CHECK_EQ_INT(v2, v);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "last-column-id")), 4);
    json_decref(t);
    CHECK_EQ_INT(table_load_schema(st, "sm", &out, &err), URSA_OK);
    CHECK_EQ_INT(out.nfields, 4);
    ursa_schema_free(&out);
    ursa_schema_free(&a), ursa_schema_free(&b), ursa_schema_free(&c), ursa_schema_free(&bad);
    ursa_store_destroy(&st);
}

/* A commit started from the version the caller saw: three store requests
 * fewer; when another writer committed since, it loads and lands on top. */
TEST(append_from_base)
{
    ursa_store_t *st;
    ursa_err_t err;
    ursa_schema_t s;
    if (ursa_store_open(tmpdir, NULL, &st, &err) || ursa_schema_parse(JS, strlen(JS), &s, &err)) abort();
    int32_t ids[3];
    iceberg_base_t base = {0};
    CHECK_EQ_INT(table_schema(st, "based", &s, 0, &base, ids, NULL, &err), URSA_OK);
    CHECK(base.doc != NULL && base.version == 1);
    table_test_file(st, &s, ids, "based/date=2024-10-01/a.parquet", 20000, 0, 10, true, 10);
    table_test_file(st, &s, ids, "based/date=2024-10-01/b.parquet", 20000, 10, 20, true, 10);
    table_test_file(st, &s, ids, "based/date=2024-10-01/c.parquet", 20000, 20, 30, true, 10);
    table_file_t fa = {"based/date=2024-10-01/a.parquet", 20000},
                 fb = {"based/date=2024-10-01/b.parquet", 20000},
                 fc = {"based/date=2024-10-01/c.parquet", 20000};
    table_result_t with, without;
    table_append_t a = {"based", &s, "n1", 1, 1, &fa, 1, ids, 0, &base};
    CHECK_EQ_INT(table_append(st, &a, &with, &err), URSA_OK);
    CHECK_EQ_INT(base.version, 2);
    table_append_t b = {"based", &s, "n2", 1, 1, &fb, 1, ids, 0, NULL};
    CHECK_EQ_INT(table_append(st, &b, &without, &err), URSA_OK);
    /* Without: twice the three of a load (the key looked for, then the commit), and one more (the
     * parent's manifest list, which the first had not). */
    CHECK_EQ_INT(without.requests - with.requests, 2 * 3 + 1);
    /* base is stale now (n2 committed version 3): the commit finds out and lands on top. */
    table_append_t c = {"based", &s, "n1", 2, 2, &fc, 1, ids, 0, &base};
    CHECK_EQ_INT(table_append(st, &c, &with, &err), URSA_OK);
    CHECK_EQ_INT(with.attempts, 2);
    CHECK_EQ_INT(with.sequence_number, 3);
    CHECK_EQ_INT(base.version, 4);
    json_t *t;
    int64_t v;
    CHECK_EQ_INT(iceberg_load(st, "based", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(v, 4);
    json_t *list =
        read_avro(st, "based", json_string_value(json_object_get(iceberg_table_current(t), "manifest-list")));
    CHECK_EQ_INT(json_array_size(list), 3);
    json_decref(list);
    json_decref(t);
    iceberg_base_free(&base);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* A node's flushes commit in log order, so the table knows which are in: a
 * flush cut between its days is finished by one of the same range and the
 * other days (committed); anything before the node's last commit, or that
 * commit again, is in already (committed nothing), whether or not its
 * snapshot is still there. */
TEST(node_order)
{
    ursa_store_t *st;
    ursa_err_t err;
    ursa_schema_t s;
    if (ursa_store_open(tmpdir, NULL, &st, &err) || ursa_schema_parse(JS, strlen(JS), &s, &err)) abort();
    int32_t ids[3];
    CHECK_EQ_INT(table_schema(st, "ord", &s, 0, NULL, ids, NULL, &err), URSA_OK);
    table_test_file(st, &s, ids, "ord/date=2024-10-01/n1-10-20.parquet", 20000, 0, 5, true, 0);
    table_test_file(st, &s, ids, "ord/date=2024-10-02/n1-10-20.parquet", 20001, 5, 9, true, 0);
    table_file_t x = {"ord/date=2024-10-01/n1-10-20.parquet", 20000},
                 y = {"ord/date=2024-10-02/n1-10-20.parquet", 20001};
    table_result_t r;
    table_append_t ax = {"ord", &s, "n1", 10, 20, &x, 1, ids, 0, NULL};
    CHECK_EQ_INT(table_append(st, &ax, &r, &err), URSA_OK);
    CHECK(!r.already);
    table_append_t ay = {"ord", &s, "n1", 10, 20, &y, 1, ids, 0, NULL}; /* the other day of that flush */
    CHECK_EQ_INT(table_append(st, &ay, &r, &err), URSA_OK);
    CHECK(!r.already);
    CHECK_EQ_INT(table_append(st, &ax, &r, &err), URSA_OK); /* redone */
    CHECK(r.already);
    table_append_t older = {"ord", &s, "n1", 5, 9, &x, 1, ids, 0, NULL};
    CHECK_EQ_INT(table_append(st, &older, &r, &err), URSA_OK);
    CHECK(r.already && r.snapshot_id == 0); /* no snapshot with its key: known by the order */
    table_append_t other = {"ord", &s, "n2", 5, 9, &x, 1, ids, 0, NULL}; /* another node's order is its own */
    CHECK_EQ_INT(table_append(st, &other, &r, &err), URSA_OK);
    CHECK(!r.already);
    json_t *t;
    int64_t v;
    CHECK_EQ_INT(iceberg_load(st, "ord", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), 3);
    const char *last =
        json_string_value(json_object_get(json_object_get(t, "properties"), "ursa.node.n1.last-commit"));
    CHECK(last && strcmp(last, "n1:10-20:20001,20000") == 0); /* every day of the range committed */
    CHECK(table_commit_covers(last, 5, 19000));               /* an earlier flush of n1 */
    CHECK(table_commit_covers(last, 10, 20000));              /* this one, both days */
    CHECK(table_commit_covers(last, 20, 20001));
    CHECK(!table_commit_covers(last, 20, 20002)); /* not a day it had */
    CHECK(!table_commit_covers(last, 21, 20000)); /* a later flush */
    CHECK(!table_commit_covers("", 1, 20000));
    char got[200];
    CHECK_EQ_INT(table_node_commit(st, "ord", "n1", got, sizeof(got), &err), URSA_OK);
    CHECK(strcmp(got, last) == 0);
    CHECK_EQ_INT(table_node_commit(st, "ord", "n9", got, sizeof(got), &err), URSA_OK);
    CHECK(got[0] == '\0');
    CHECK_EQ_INT(table_node_commit(st, "nothing", "n1", got, sizeof(got), &err), URSA_OK);
    CHECK(got[0] == '\0');
    json_decref(t);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

int main(void)
{
    RUN(appends);
    RUN(appends_racing);
    RUN(schema_merged);
    RUN(append_from_base);
    RUN(node_order);
    if (!test_failed_count && !getenv("URSA_TEST_KEEP")) { /* URSA_TEST_KEEP=1: keep the tables to look at */
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return test_failed_count ? 1 : 0;
}
