/*
 * test_iceberg_meta.c -- Iceberg table metadata: the type mapping, a new
 * table's document, field ids through schema changes, snapshots, and the
 * commit on a local store: versions written once, the hint, a stale hint
 * probed past, and four threads committing at once with none lost.
 */
#include "iceberg_meta.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static ursa_schema_t parse(const char *js)
{
    ursa_schema_t s;
    ursa_err_t err;
    if (ursa_schema_parse(js, strlen(js), &s, &err)) {
        fprintf(stderr, "schema: %s\n", err.msg);
        abort();
    }
    return s;
}

static const char *EVENTS = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                            "{\"name\":\"country\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int64\"}],"
                            "\"time_column\":\"ts\"}";

TEST(types)
{
    const char *js =
        "{\"columns\":[{\"name\":\"a\",\"type\":\"bool\"},{\"name\":\"b\",\"type\":\"int8\"},"
        "{\"name\":\"c\",\"type\":\"uint16\"},{\"name\":\"d\",\"type\":\"uint32\"},"
        "{\"name\":\"e\",\"type\":\"uint64\"},{\"name\":\"f\",\"type\":\"float32\"},"
        "{\"name\":\"g\",\"type\":\"decimal\",\"precision\":38,\"scale\":6},"
        "{\"name\":\"h\",\"type\":\"json\"},{\"name\":\"i\",\"type\":\"binary\"},"
        "{\"name\":\"j\",\"type\":\"date\"},{\"name\":\"k\",\"type\":\"time\"},"
        "{\"name\":\"l\",\"type\":\"timestamp\",\"utc\":false},{\"name\":\"m\",\"type\":\"uuid\"},"
        "{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},{\"name\":\"o\",\"type\":\"float64\"}],"
        "\"time_column\":\"ts\"}";
    static const char *want[] = {"boolean",        "int",         "int",    "long", "long", "float",
                                 "decimal(38, 6)", "string",      "binary", "date", "time", "timestamp",
                                 "uuid",           "timestamptz", "double"};
    ursa_schema_t s = parse(js);
    char buf[32];
    for (size_t i = 0; i < s.nfields; i++) {
        const char *t = iceberg_type_name(&s.fields[i], buf, sizeof(buf));
        CHECK(t && strcmp(t, want[i]) == 0);
    }
    ursa_schema_free(&s);
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static long long num(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

TEST(new_table_and_schema_changes)
{
    ursa_schema_t s = parse(EVENTS);
    ursa_err_t err;
    json_t *t;
    const char *sort[] = {"country", "ts"};
    CHECK_EQ_INT(iceberg_table_new(&t, "file:///data/events", &s, sort, 2, 1000, &err), URSA_OK);
    CHECK_EQ_INT(num(t, "format-version"), 2);
    CHECK_EQ_INT(strlen(str(t, "table-uuid")), 36);
    CHECK(strcmp(str(t, "location"), "file:///data/events") == 0);
    CHECK_EQ_INT(num(t, "last-column-id"), 3);
    CHECK_EQ_INT(num(t, "current-snapshot-id"), -1);
    const json_t *pf = json_array_get(
        json_object_get(json_array_get(json_object_get(t, "partition-specs"), 0), "fields"), 0);
    CHECK(strcmp(str(pf, "transform"), "day") == 0);
    CHECK_EQ_INT(num(pf, "source-id"), 1);
    CHECK_EQ_INT(num(pf, "field-id"), 1000);
    CHECK(strcmp(str(pf, "name"), "ts_day") == 0);
    const json_t *order = json_array_get(json_object_get(t, "sort-orders"), 1);
    CHECK_EQ_INT(num(order, "order-id"), 1);
    CHECK_EQ_INT(num(json_array_get(json_object_get(order, "fields"), 0), "source-id"), 2);
    CHECK_EQ_INT(num(json_array_get(json_object_get(order, "fields"), 1), "source-id"), 1);
    const char *bad[] = {"nope"};
    json_t *t2;
    CHECK_EQ_INT(iceberg_table_new(&t2, "x", &s, bad, 1, 0, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "nope") != NULL);

    /* The same schema: nothing changes. A column more: a new schema, old ids kept, the new one 4. */
    bool changed;
    CHECK_EQ_INT(iceberg_table_set_schema(t, &s, &changed, &err), URSA_OK);
    CHECK(!changed);
    ursa_schema_t s2 = parse("{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"country\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int64\"},"
                             "{\"name\":\"city\",\"type\":\"string\"}],\"time_column\":\"ts\"}");
    CHECK_EQ_INT(iceberg_table_set_schema(t, &s2, &changed, &err), URSA_OK);
    CHECK(changed);
    CHECK_EQ_INT(num(t, "current-schema-id"), 1);
    CHECK_EQ_INT(num(t, "last-column-id"), 4);
    int32_t ids[4];
    CHECK_EQ_INT(iceberg_table_field_ids(t, &s2, ids, &err), URSA_OK);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 3 && ids[3] == 4);
    /* A type change and a dropped column are refused. */
    ursa_schema_t s3 = parse("{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"country\",\"type\":\"int64\"},{\"name\":\"n\",\"type\":\"int64\"},"
                             "{\"name\":\"city\",\"type\":\"string\"}],\"time_column\":\"ts\"}");
    CHECK_EQ_INT(iceberg_table_set_schema(t, &s3, &changed, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "country") != NULL);
    CHECK_EQ_INT(iceberg_table_set_schema(t, &s, &changed, &err), URSA_EINVAL);

    /* Snapshots: sequence numbers, parents, the current one, found by summary. */
    iceberg_kv_t kv[] = {{"ursa.node", "n1"}, {"ursa.wal-range", "1-10"}};
    int64_t seq;
    CHECK_EQ_INT(iceberg_table_add_snapshot(t, 111, "file:///data/events/metadata/snap-111.avro", kv, 2, 2000,
                                            &seq, &err),
                 URSA_OK);
    CHECK_EQ_INT(seq, 1);
    kv[1].value = "11-20";
    CHECK_EQ_INT(iceberg_table_add_snapshot(t, 222, "file:///data/events/metadata/snap-222.avro", kv, 2, 3000,
                                            &seq, &err),
                 URSA_OK);
    CHECK_EQ_INT(seq, 2);
    const json_t *cur = iceberg_table_current(t);
    CHECK(cur && num(cur, "snapshot-id") == 222 && num(cur, "parent-snapshot-id") == 111);
    CHECK(strcmp(str(json_object_get(cur, "summary"), "operation"), "append") == 0);
    CHECK_EQ_INT(num(json_object_get(json_object_get(t, "refs"), "main"), "snapshot-id"), 222);
    const json_t *f = iceberg_table_find_snapshot(t, "ursa.wal-range", "1-10");
    CHECK(f && num(f, "snapshot-id") == 111);
    CHECK(iceberg_table_find_snapshot(t, "ursa.wal-range", "21-30") == NULL);
    json_decref(t);
    ursa_schema_free(&s);
    ursa_schema_free(&s2);
    ursa_schema_free(&s3);
}

/* ------------------------------------------------------------------------ */

static char tmpdir[256];

static ursa_store_t *open_store(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "test-tmp/iceberg-%d", (int)getpid());
    ursa_store_t *st = NULL;
    ursa_err_t err;
    if (ursa_store_open(tmpdir, NULL, &st, &err)) abort();
    return st;
}

typedef struct append_ctx {
    const ursa_schema_t *s;
    int writer, n;
    int calls;
} append_ctx_t;

/* Creates the table when there is none, then adds a snapshot named by the
 * writer and its count -- unless that one is there already. */
static int append(void *vctx, json_t **t, bool *skip, ursa_err_t *err)
{
    append_ctx_t *c = vctx;
    char v[32];
    c->calls++;
    snprintf(v, sizeof(v), "w%d-%d", c->writer, c->n);
    if (!*t) {
        int rc = iceberg_table_new(t, "file:///x/events", c->s, NULL, 0, 1, err);
        if (rc) return rc;
    } else if (iceberg_table_find_snapshot(*t, "ursa.test", v)) {
        *skip = true;
        return URSA_OK;
    }
    iceberg_kv_t kv = {"ursa.test", v};
    int64_t id = (int64_t)c->writer * 1000000 + c->n + 1;
    return iceberg_table_add_snapshot(*t, id, "file:///x/events/metadata/m.avro", &kv, 1, 5, NULL, err);
}

TEST(commit_on_a_local_store)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s = parse(EVENTS);
    ursa_err_t err;
    iceberg_commit_stats_t cs;
    append_ctx_t c = {&s, 0, 0, 0};
    CHECK_EQ_INT(iceberg_commit(st, "events", append, &c, 10, &cs, &err), URSA_OK);
    CHECK_EQ_INT(cs.version, 1);
    CHECK_EQ_INT(cs.attempts, 1);
    c.n = 1;
    CHECK_EQ_INT(iceberg_commit(st, "events", append, &c, 10, &cs, &err), URSA_OK);
    CHECK_EQ_INT(cs.version, 2);
    /* Redone: found, nothing written. */
    CHECK_EQ_INT(iceberg_commit(st, "events", append, &c, 10, &cs, &err), URSA_OK);
    CHECK_EQ_INT(cs.version, 2);
    ursa_buf_t b = {0};
    CHECK_EQ_INT(ursa_store_get(st, "events/metadata/version-hint.text", &b, &err), URSA_OK);
    CHECK(b.len == 1 && b.data[0] == '2');
    json_t *t;
    int64_t v;
    CHECK_EQ_INT(iceberg_load(st, "events", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(v, 2);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), 2);
    const json_t *log = json_object_get(t, "metadata-log");
    CHECK_EQ_INT(json_array_size(log), 1);
    CHECK(strcmp(str(json_array_get(log, 0), "metadata-file"),
                 "file:///x/events/metadata/v1.metadata.json") == 0);
    json_decref(t);
    /* A stale hint (a writer died before updating it): the loader probes past it. */
    CHECK_EQ_INT(ursa_store_put(st, "events/metadata/version-hint.text", "1", 1, &err), URSA_OK);
    CHECK_EQ_INT(iceberg_load(st, "events", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(v, 2);
    json_decref(t);
    CHECK_EQ_INT(ursa_store_put(st, "events/metadata/version-hint.text", "junk", 4, &err), URSA_OK);
    CHECK_EQ_INT(iceberg_load(st, "events", &t, &v, NULL, &err), URSA_OK);
    CHECK_EQ_INT(v, 2);
    json_decref(t);
    /* A damaged metadata file is an error naming it. */
    CHECK_EQ_INT(ursa_store_put(st, "bad/metadata/v1.metadata.json", "{", 1, &err), URSA_OK);
    CHECK_EQ_INT(iceberg_load(st, "bad", &t, &v, NULL, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "bad/metadata/v1.metadata.json") != NULL);
    ursa_buf_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

#define WRITERS 4
#define COMMITS 12

typedef struct racer {
    ursa_store_t *st;
    const ursa_schema_t *s;
    int writer, failures, conflicts;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    for (int n = 0; n < COMMITS; n++) {
        append_ctx_t c = {r->s, r->writer, n, 0};
        iceberg_commit_stats_t cs;
        ursa_err_t err;
        if (iceberg_commit(r->st, "race", append, &c, 200, &cs, &err)) r->failures++;
        r->conflicts += cs.attempts - 1;
    }
    return NULL;
}

TEST(writers_racing)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s = parse(EVENTS);
    pthread_t th[WRITERS];
    racer_t r[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        r[i] = (racer_t){st, &s, i + 1, 0, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    int conflicts = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(r[i].failures, 0);
        conflicts += r[i].conflicts;
    }
    json_t *t;
    int64_t v;
    ursa_err_t err;
    CHECK_EQ_INT(iceberg_load(st, "race", &t, &v, NULL, &err), URSA_OK);
    /* Every commit is there exactly once, in one chain of parents. */
    const json_t *snaps = json_object_get(t, "snapshots");
    CHECK_EQ_INT(json_array_size(snaps), WRITERS * COMMITS);
    CHECK_EQ_INT(v, WRITERS * COMMITS); /* the first commit created the table with its snapshot */
    for (int w = 1; w <= WRITERS; w++)
        for (int n = 0; n < COMMITS; n++) {
            char name[32];
            snprintf(name, sizeof(name), "w%d-%d", w, n);
            CHECK(iceberg_table_find_snapshot(t, "ursa.test", name) != NULL);
        }
    int64_t expect_parent = -1;
    for (size_t i = 0; i < json_array_size(snaps); i++) {
        const json_t *sn = json_array_get(snaps, i);
        CHECK_EQ_INT(num(sn, "sequence-number"), (long long)i + 1);
        if (i) CHECK_EQ_INT(num(sn, "parent-snapshot-id"), expect_parent);
        expect_parent = num(sn, "snapshot-id");
    }
    printf("# %d writers x %d commits: %d conflicts retried\n", WRITERS, COMMITS, conflicts);
    json_decref(t);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

int main(void)
{
    RUN(types);
    RUN(new_table_and_schema_changes);
    RUN(commit_on_a_local_store);
    RUN(writers_racing);
    if (!test_failed_count) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return test_failed_count ? 1 : 0;
}
