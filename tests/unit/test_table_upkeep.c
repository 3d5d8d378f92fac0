/*
 * test_table_upkeep.c -- manifest merging and table upkeep on a local
 * store, with an injected clock: merged manifests keep every file once with
 * its snapshot id and sequence numbers (read by python3-avro through
 * tests/tools/iceberg_scan.py, an independent scan); expiry keeps the
 * current snapshot and deletes exactly what only expired snapshots reached
 * (lists, manifests merged away, a data file a later snapshot dropped);
 * orphans go only when their names say they are old, Parquet files no
 * snapshot names never; metadata files past the log; appends and upkeep
 * racing lose nothing.
 */
#include "avro_read.h"
#include "iceberg_avro.h"
#include "iceberg_meta.h"
#include "ingest_json.h"
#include "pq_write.h"
#include "table.h"
#include "table_upkeep.h"
#include "table_files.h"
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

typedef struct fixture {
    ursa_store_t *st;
    ursa_schema_t s;
    int32_t ids[3];
    char ds[64];
} fixture_t;

static void fixture_open(fixture_t *f, const char *ds)
{
    ursa_err_t err;
    memset(f, 0, sizeof(*f));
    snprintf(f->ds, sizeof(f->ds), "%s", ds);
    if (ursa_store_open(tmpdir, NULL, &f->st, &err) || ursa_schema_parse(JS, strlen(JS), &f->s, &err) ||
        table_schema(f->st, ds, &f->s, 0, NULL, f->ids, NULL, &err))
        abort();
}

static void fixture_close(fixture_t *f)
{
    ursa_schema_free(&f->s);
    ursa_store_destroy(&f->st);
}

/* Append number n: one file of n + 1 rows, <ds>/date=2024-10-0<day>/n1-<n>-<n>.parquet. */
static int append(fixture_t *f, const char *node, int n, size_t merge_min, table_result_t *r)
{
    char key[256];
    int day = 20000 + n % 3;
    snprintf(key, sizeof(key), "%s/date=2024-10-%02d/%s-%d-%d.parquet", f->ds, 1 + n % 3, node, n, n);
    table_test_file(f->st, &f->s, f->ids, key, day, 0, n + 1, false, 0);
    table_file_t tf = {key, day};
    table_append_t a = {f->ds, &f->s, node, (uint64_t)n, (uint64_t)n, &tf, 1, f->ids, merge_min};
    ursa_err_t err;
    int rc = table_append(f->st, &a, r, &err);
    if (rc) fprintf(stderr, "append %d: %s\n", n, err.msg);
    return rc;
}

static bool exists(const fixture_t *f, const char *key)
{
    char p[1024];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/%s", tmpdir, key);
    return stat(p, &sb) == 0;
}

/* The key of a location in the table (after "<tmpdir>/"). */
static const char *key_in(const char *location)
{
    const char *k = strstr(location, tmpdir);
    return k ? k + strlen(tmpdir) + 1 : location;
}

/* The current snapshot as the independent scan sees it. */
static json_t *scan(const fixture_t *f)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/tools/iceberg_scan.py %s/%s", URSA_SOURCE_DIR,
             tmpdir, f->ds);
    FILE *p = popen(cmd, "r");
    if (!p) abort();
    json_error_t je;
    json_t *o = json_loadf(p, 0, &je);
    int st = pclose(p);
    if (!o || st != 0) {
        fprintf(stderr, "%s: exit %d, %s\n", cmd, st, je.text);
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *load(const fixture_t *f)
{
    json_t *t;
    int64_t v;
    ursa_err_t err;
    if (iceberg_load(f->st, f->ds, &t, &v, NULL, &err) || !t) abort();
    return t;
}

static json_t *read_avro(const fixture_t *f, const char *location)
{
    return table_test_avro(f->st, key_in(location));
}

/* The store keys of the manifests the current snapshot's list names, as a set. */
static json_t *current_manifests(const fixture_t *f)
{
    json_t *t = load(f), *set = json_object();
    json_t *list =
        read_avro(f, json_string_value(json_object_get(iceberg_table_current(t), "manifest-list")));
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
        json_object_set_new(set, key_in(json_string_value(json_object_get(m, "manifest_path"))), json_true());
    json_decref(list);
    json_decref(t);
    return set;
}

/* ------------------------------------------------------------------------ */

#define MERGE_MIN 4
#define APPENDS   9

TEST(merge_keeps_every_file_once)
{
    fixture_t f;
    fixture_open(&f, "merge");
    int64_t snap[APPENDS + 1], seq[APPENDS + 1];
    int merges = 0;
    for (int n = 1; n <= APPENDS; n++) {
        table_result_t r;
        CHECK_EQ_INT(append(&f, "n1", n, MERGE_MIN, &r), URSA_OK);
        snap[n] = r.snapshot_id, seq[n] = r.sequence_number;
        CHECK_EQ_INT(r.sequence_number, n);
        /* Lists of 1, 2, 3, 4 manifests; the 5th append merges the 4 into 1 (+ its own: 2) ... */
        CHECK_EQ_INT(r.merged, n == 5 || n == 8 ? 4 : 0);
        merges += r.merged > 0;
        json_t *cm = current_manifests(&f);
        CHECK(json_object_size(cm) <= MERGE_MIN);
        json_decref(cm);
    }
    CHECK_EQ_INT(merges, 2);
    json_t *sc = scan(&f);
    CHECK(sc != NULL);
    if (sc) {
        json_t *files = json_object_get(sc, "files");
        CHECK_EQ_INT(num(sc, "manifests"), 3); /* the 8th's merged one and its own, the 9th's */
        CHECK_EQ_INT(json_array_size(files), APPENDS);
        long long rows = 0;
        int seen[APPENDS + 1] = {0}, existing = 0;
        size_t i;
        json_t *e;
        json_array_foreach(files, i, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            int n = 0, n2 = 0;
            const char *b = strstr(p, "/n1-");
            if (!b || sscanf(b, "/n1-%d-%d.parquet", &n, &n2) != 2 || n < 1 || n > APPENDS) {
                CHECK(false);
                continue;
            }
            seen[n]++;
            rows += num(e, "records");
            existing += num(e, "status") == 0;
            CHECK_EQ_INT(num(e, "snapshot_id"), snap[n]);
            CHECK_EQ_INT(num(e, "sequence_number"), seq[n]);
            CHECK_EQ_INT(num(e, "file_sequence_number"), seq[n]);
            CHECK_EQ_INT(num(e, "records"), n + 1);
        }
        for (int n = 1; n <= APPENDS; n++) CHECK_EQ_INT(seen[n], 1);
        CHECK_EQ_INT(rows, APPENDS * (APPENDS + 3) / 2);
        CHECK_EQ_INT(existing, 7); /* all but the two the last appends added */
    }
    json_decref(sc);
    /* The merged manifest's list entry: no added files, its min sequence number the oldest entry's. */
    json_t *t = load(&f);
    json_t *list =
        read_avro(&f, json_string_value(json_object_get(iceberg_table_current(t), "manifest-list")));
    bool found = false;
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) if (num(m, "existing_files_count") == 7)
    {
        found = true;
        CHECK_EQ_INT(num(m, "added_files_count"), 0);
        CHECK_EQ_INT(num(m, "min_sequence_number"), 1);
        CHECK_EQ_INT(num(m, "sequence_number"), 8);
        CHECK_EQ_INT(num(m, "existing_rows_count"), 2 + 3 + 4 + 5 + 6 + 7 + 8);
    }
    CHECK(found);
    json_decref(list);
    json_decref(t);
    fixture_close(&f);
}

/* Appends, then upkeep with the clock far ahead: every snapshot but the
 * current one expires. */
TEST(expiry_keeps_current_deletes_unreachable)
{
    fixture_t f;
    ursa_err_t err;
    fixture_open(&f, "exp");
    table_result_t r;
    int64_t now = iceberg_now_ms();
    for (int n = 1; n <= 6; n++) CHECK_EQ_INT(append(&f, "n1", n, MERGE_MIN, &r), URSA_OK);
    /* Lists of every snapshot, manifests of the current one. */
    json_t *t = load(&f), *lists = json_array();
    size_t i;
    json_t *sn;
    json_array_foreach(json_object_get(t, "snapshots"), i, sn) json_array_append_new(
        lists, json_string(key_in(json_string_value(json_object_get(sn, "manifest-list")))));
    int64_t cur = num(t, "current-snapshot-id");
    json_decref(t);
    json_t *cm = current_manifests(&f);
    /* Nothing is old yet: nothing happens. */
    table_upkeep_stats_t us;
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 60000, now + 1000, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired, 0);
    CHECK_EQ_INT(us.lists_deleted + us.manifests_deleted + us.data_files_deleted + us.metadata_deleted, 0);
    /* Orphans: old and young by name (young: past the retention, not past TABLE_ORPHAN_MIN_AGE_MS), one of
     * the old form, and a Parquet file no snapshot names. */
    char old_m[256], young_m[256], old_l[256], young_l[256], legacy[256], lone[256];
    int64_t later = now + 3 * 3600000, retention = 60000; /* the clock 3 h ahead, a minute's retention */
    int64_t orphan_age = TABLE_ORPHAN_MIN_AGE_MS;
    snprintf(old_m, sizeof(old_m), "exp/metadata/%lld-00000000000000aa-m0.avro",
             (long long)(later - orphan_age - 1));
    snprintf(young_m, sizeof(young_m), "exp/metadata/%lld-00000000000000bb-m0.avro",
             (long long)(later - orphan_age + 1000));
    snprintf(old_l, sizeof(old_l), "exp/metadata/snap-12-3-%lld-00000000000000cc.avro",
             (long long)(later - orphan_age - 1));
    snprintf(young_l, sizeof(young_l), "exp/metadata/snap-12-3-%lld-00000000000000dd.avro",
             (long long)(later - 10 * retention));
    snprintf(legacy, sizeof(legacy), "exp/metadata/0123456789abcdef-m0.avro");
    snprintf(lone, sizeof(lone), "exp/date=2024-10-01/n9-100-200.parquet");
    const char *made[] = {old_m, young_m, old_l, young_l, legacy};
    for (size_t k = 0; k < URSA_ARRAY_LEN(made); k++)
        CHECK_EQ_INT(ursa_store_put(f.st, made[k], "x", 1, &err), 0);
    table_test_file(f.st, &f.s, f.ids, lone, 20000, 0, 3, false, 0);

    CHECK_EQ_INT(table_upkeep(f.st, f.ds, retention, later, NULL, &us, &err), URSA_OK);
    printf("# upkeep: %d requests, %zu snapshots expired, %zu lists, %zu manifests, %zu data files deleted\n",
           us.requests, us.snapshots_expired, us.lists_deleted, us.manifests_deleted, us.data_files_deleted);
    CHECK_EQ_INT(us.snapshots_expired, 5);
    CHECK_EQ_INT(us.orphans_deleted, 2);
    CHECK_EQ_INT(us.unknown_age, 1);
    CHECK_EQ_INT(us.data_files_deleted, 0); /* every file is live in the current snapshot */
    CHECK_EQ_INT(us.lists_deleted, 5 + 1);
    /* Manifests merged away by the 5th append: only expired snapshots named them. */
    CHECK_EQ_INT(us.manifests_deleted, 4 + 1);
    t = load(&f);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), 1);
    CHECK_EQ_INT(num(iceberg_table_current(t), "snapshot-id"), cur);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshot-log")), 1);
    CHECK_EQ_INT(num(json_array_get(json_object_get(t, "snapshot-log"), 0), "snapshot-id"), cur);
    json_decref(t);
    json_array_foreach(lists, i, sn)
    {
        bool is_cur = i == json_array_size(lists) - 1;
        CHECK(exists(&f, json_string_value(sn)) == is_cur);
    }
    const char *k;
    json_t *v;
    json_object_foreach(cm, k, v) CHECK(exists(&f, k));
    /* Every manifest left in metadata/ is the current snapshot's, or an orphan too young or of unknown age.
     */
    CHECK(!exists(&f, old_m) && !exists(&f, old_l));
    CHECK(exists(&f, young_m) && exists(&f, young_l) && exists(&f, legacy) && exists(&f, lone));
    for (int n = 1; n <= 6; n++) {
        char key[256];
        snprintf(key, sizeof(key), "exp/date=2024-10-%02d/n1-%d-%d.parquet", 1 + n % 3, n, n);
        CHECK(exists(&f, key));
    }
    json_t *sc = scan(&f);
    CHECK(sc && json_array_size(json_object_get(sc, "files")) == 6);
    json_decref(sc);
    /* Again: nothing more to do. */
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, retention, later, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired + us.lists_deleted + us.manifests_deleted + us.data_files_deleted, 0);
    json_decref(cm);
    json_decref(lists);
    fixture_close(&f);
}

/* A snapshot that drops a file (as compaction will): once the snapshots
 * that had it live expire, the file goes, and only it. */
typedef struct drop_ctx {
    const char *list_loc;
    int64_t id;
} drop_ctx_t;

static int add_drop(void *vctx, json_t **t, bool *skip, ursa_err_t *err)
{
    drop_ctx_t *c = vctx;
    int64_t seq;
    (void)skip;
    iceberg_kv_t kv[] = {{"ursa.test", "drop"}};
    return iceberg_table_add_snapshot(*t, c->id, c->list_loc, kv, 1, iceberg_now_ms(), &seq, err);
}

/* A snapshot that dropped the file of append 1 (as a compaction's replace
 * does): once the snapshots that had it expire, upkeep deletes it. (Its
 * node's log may still hold its records: a restart asks the table, not
 * only the store, what the node published -- test_table's covers.) */
TEST(expiry_deletes_a_dropped_file)
{
    const char *ds = "drop";
    fixture_t f;
    ursa_err_t err;
    fixture_open(&f, ds);
    table_result_t r;
    for (int n = 1; n <= 3; n++) CHECK_EQ_INT(append(&f, "n1", n, 0, &r), URSA_OK);
    /* A list naming the manifests of appends 2 and 3 only: the file of append 1 dropped. */
    json_t *t = load(&f);
    json_t *list =
        read_avro(&f, json_string_value(json_object_get(iceberg_table_current(t), "manifest-list")));
    iceberg_manifest_file_t mf[3];
    size_t n = 0, i;
    json_t *m;
    char dropped_manifest[512] = "";
    json_array_foreach(list, i, m)
    {
        if (num(m, "sequence_number") == 1) {
            snprintf(dropped_manifest, sizeof(dropped_manifest), "%s",
                     key_in(json_string_value(json_object_get(m, "manifest_path"))));
            continue;
        }
        mf[n++] = (iceberg_manifest_file_t){json_string_value(json_object_get(m, "manifest_path")),
                                            num(m, "manifest_length"),
                                            0,
                                            0,
                                            num(m, "sequence_number"),
                                            num(m, "min_sequence_number"),
                                            num(m, "added_snapshot_id"),
                                            (int32_t)num(m, "added_files_count"),
                                            0,
                                            0,
                                            num(m, "added_rows_count"),
                                            0,
                                            0,
                                            NULL,
                                            0};
    }
    CHECK_EQ_INT(n, 2);
    ursa_buf_t b = {0};
    int64_t id = 4242;
    iceberg_list_meta_t lm = {id, num(t, "current-snapshot-id"), 4};
    CHECK_EQ_INT(iceberg_manifest_list_write(avro_buf_sink(&b), &lm, mf, n, NULL, NULL, &err), URSA_OK);
    char lkey[256], lloc[2048];
    snprintf(lkey, sizeof(lkey), "%s/metadata/snap-4242-4-%lld-00000000000000ee.avro", ds,
             (long long)iceberg_now_ms());
    CHECK_EQ_INT(ursa_store_put(f.st, lkey, b.data, b.len, &err), URSA_OK);
    CHECK_EQ_INT(table_location(f.st, lkey, lloc, sizeof(lloc)), URSA_OK);
    drop_ctx_t dc = {lloc, id};
    iceberg_commit_stats_t cs;
    CHECK_EQ_INT(iceberg_commit(f.st, ds, add_drop, &dc, 5, &cs, &err), URSA_OK);
    ursa_buf_free(&b);
    json_decref(list);
    json_decref(t);

    char dropped[256];
    snprintf(dropped, sizeof(dropped), "%s/date=2024-10-02/n1-1-1.parquet", ds);
    table_upkeep_stats_t us;
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 1000, iceberg_now_ms() + 10000, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired, 3);
    CHECK_EQ_INT(us.lists_deleted, 3);
    CHECK_EQ_INT(us.manifests_deleted, 1);
    CHECK_EQ_INT(us.data_files_deleted, 1);
    CHECK(dropped_manifest[0] && !exists(&f, dropped_manifest));
    CHECK(!exists(&f, dropped));
    const char *kept[] = {"date=2024-10-03/n1-2-2.parquet", "date=2024-10-01/n1-3-3.parquet"};
    for (size_t k = 0; k < 2; k++) {
        char key[256];
        snprintf(key, sizeof(key), "%s/%s", ds, kept[k]);
        CHECK(exists(&f, key)); /* live: never deleted */
    }
    json_t *sc = scan(&f);
    CHECK(sc && json_array_size(json_object_get(sc, "files")) == 2);
    json_decref(sc);
    fixture_close(&f);
}

/* Upkeep with a cache of lists over two runs: the second reads no list it
 * read before, and still finds what the retained lists name. Eight appends
 * merging past 4: lists A1 [m1] ... A4 [m1..m4], A5 [M5 m5], A6 [M5 m5 m6],
 * A7 [M5 m5 m6 m7], A8 [M8 m8]. */
TEST(cache_across_runs)
{
    fixture_t f;
    ursa_err_t err;
    fixture_open(&f, "cache");
    table_result_t r;
    for (int n = 1; n <= 8; n++) {
        CHECK_EQ_INT(append(&f, "n1", n, MERGE_MIN, &r), URSA_OK);
        usleep(2000); /* distinct timestamps: a snapshot expires by its successor's */
    }
    json_t *t = load(&f);
    int64_t ts[9];
    for (int n = 1; n <= 8; n++)
        ts[n] = num(json_array_get(json_object_get(t, "snapshots"), (size_t)n - 1), "timestamp-ms");
    json_decref(t);
    CHECK(ts[5] < ts[6] && ts[6] < ts[7] && ts[7] < ts[8]);
    table_upkeep_cache_t *cache = NULL;
    table_upkeep_stats_t us, first;
    int64_t two_h = 2 * 3600000;
    /* A1..A5 expire (each replaced more than the retention ago: A6 was made before the cutoff, ts[7]): m1..m4
     * go; M5 and m5, named by A6 and A7, stay. */
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, two_h, ts[7] + two_h, &cache, &first, &err), URSA_OK);
    CHECK_EQ_INT(first.snapshots_expired, 5);
    CHECK_EQ_INT(first.lists_deleted, 5);
    CHECK_EQ_INT(first.manifests_deleted, 4);
    json_t *cm = current_manifests(&f);
    CHECK_EQ_INT(json_object_size(cm), 2);
    json_decref(cm);
    /* Again at the same time: nothing to do, but M5 and m5 are old and not in the current list, so whether
     * a retained list names them is asked: with the cache no list is read, without it A6's and A7's are. */
    table_upkeep_stats_t with, without;
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, two_h, ts[7] + two_h, &cache, &with, &err), URSA_OK);
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, two_h, ts[7] + two_h, NULL, &without, &err), URSA_OK);
    CHECK_EQ_INT(with.snapshots_expired + with.lists_deleted + with.manifests_deleted, 0);
    CHECK_EQ_INT(without.snapshots_expired + without.lists_deleted + without.manifests_deleted, 0);
    CHECK_EQ_INT(without.requests, with.requests + 2);
    /* A6 and A7 expire: M5, m5, m6, m7 go; the cache knew A8's list already. */
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, two_h, ts[8] + two_h + 1, &cache, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired, 2);
    CHECK_EQ_INT(us.lists_deleted, 2);
    CHECK_EQ_INT(us.manifests_deleted, 4);
    /* Its requests: the load and the commit, the current list, the 2 expired lists, the 4 manifests' files
     * (for data candidates) and A8's 2 for their live files, the listing, 2 deletes -- A8's list not twice.
     */
    printf("# cache: first run %d requests, second %d\n", first.requests, us.requests);
    table_upkeep_stats_t again;
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, two_h, ts[8] + two_h + 1, &cache, &again, &err), URSA_OK);
    CHECK_EQ_INT(again.snapshots_expired + again.lists_deleted + again.manifests_deleted, 0);
    json_t *sc = scan(&f);
    CHECK(sc && json_array_size(json_object_get(sc, "files")) == 8 && num(sc, "manifests") == 2);
    json_decref(sc);
    table_upkeep_cache_destroy(&cache);
    CHECK(cache == NULL);
    fixture_close(&f);
}

/* Metadata files that fell out of the metadata log go once old. */
static int bump(void *vctx, json_t **t, bool *skip, ursa_err_t *err)
{
    (void)vctx, (void)skip, (void)err;
    json_t *p = json_object_get(*t, "properties");
    if (!p) json_object_set_new(*t, "properties", p = json_object());
    json_object_set_new(p, "test.n", json_integer(json_integer_value(json_object_get(p, "test.n")) + 1));
    return URSA_OK;
}

TEST(metadata_past_the_log)
{
    fixture_t f;
    ursa_err_t err;
    fixture_open(&f, "meta"); /* v1 */
    iceberg_commit_stats_t cs;
    for (int i = 0; i < ICEBERG_METADATA_LOG_MAX + 9; i++)
        CHECK_EQ_INT(iceberg_commit(f.st, "meta", bump, NULL, 5, &cs, &err), URSA_OK);
    int64_t v = cs.version; /* 110: versions 10..109 logged */
    CHECK_EQ_INT(v, ICEBERG_METADATA_LOG_MAX + 10);
    table_upkeep_stats_t us;
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 3600000, iceberg_now_ms(), NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.metadata_deleted, 0); /* young */
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 3600000, iceberg_now_ms() + 7200000, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.metadata_deleted, v - 1 - ICEBERG_METADATA_LOG_MAX);
    CHECK(!exists(&f, "meta/metadata/v1.metadata.json"));
    CHECK(!exists(&f, "meta/metadata/v9.metadata.json"));
    CHECK(exists(&f, "meta/metadata/v10.metadata.json"));
    json_t *t;
    int64_t lv;
    CHECK_EQ_INT(iceberg_load(f.st, "meta", &t, &lv, NULL, &err), URSA_OK);
    CHECK_EQ_INT(lv, v);
    json_decref(t);
    fixture_close(&f);
}

/* Appends from three threads while a fourth runs upkeep over and over with a
 * short retention: every file committed is in the current snapshot once,
 * and everything that snapshot names exists. */
#define RACERS 3
#define EACH   12

typedef struct racer {
    fixture_t *f;
    int id, failures;
    size_t expired;
} racer_t;

static volatile int racers_done;

static void *race_append(void *arg)
{
    racer_t *r = arg;
    char node[16];
    snprintf(node, sizeof(node), "r%d", r->id);
    for (int n = 1; n <= EACH; n++) {
        table_result_t res;
        if (append(r->f, node, n, 3, &res)) r->failures++;
        usleep(300000);
    }
    __atomic_add_fetch(&racers_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *race_upkeep(void *arg)
{
    racer_t *r = arg;
    table_upkeep_cache_t *cache = NULL;
    while (__atomic_load_n(&racers_done, __ATOMIC_SEQ_CST) < RACERS) {
        table_upkeep_stats_t us;
        ursa_err_t err;
        if (table_upkeep(r->f->st, r->f->ds, 3000, iceberg_now_ms(), &cache, &us, &err)) {
            fprintf(stderr, "upkeep: %s\n", err.msg);
            r->failures++;
        }
        r->expired += us.snapshots_expired;
        usleep(50000);
    }
    table_upkeep_cache_destroy(&cache);
    return NULL;
}

TEST(appends_and_upkeep_racing)
{
    fixture_t f;
    fixture_open(&f, "race");
    pthread_t th[RACERS + 1];
    racer_t r[RACERS + 1];
    for (int i = 0; i <= RACERS; i++) {
        r[i] = (racer_t){&f, i, 0, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, i < RACERS ? race_append : race_upkeep, &r[i]), 0);
    }
    for (int i = 0; i <= RACERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(r[i].failures, 0);
    }
    printf("# racing: %zu snapshots expired while appending\n", r[RACERS].expired);
    CHECK(r[RACERS].expired > 0);
    json_t *sc = scan(&f);
    CHECK(sc != NULL);
    if (sc) {
        json_t *files = json_object_get(sc, "files");
        CHECK_EQ_INT(json_array_size(files), RACERS * EACH);
        json_t *seen = json_object();
        size_t i;
        json_t *e;
        json_array_foreach(files, i, e)
            json_object_set(seen, json_string_value(json_object_get(e, "path")), e);
        CHECK_EQ_INT(json_object_size(seen), RACERS * EACH);
        json_decref(seen);
        CHECK(num(sc, "manifests") <= 3);
    }
    json_decref(sc);
    fixture_close(&f);
}

/* A replace (compaction's commit) swaps files in one snapshot: the scan sees
 * the files kept, with their sequence numbers, and the new one, never the
 * files removed; redone it commits nothing; one whose files another replace
 * removed first fails and changes nothing. */
TEST(replace_swaps_files)
{
    fixture_t f;
    fixture_open(&f, "rep");
    table_result_t r;
    for (int n = 0; n < 3; n++) CHECK_EQ_INT(append(&f, "n1", n, 0, &r), URSA_OK);
    const char *gone[] = {"rep/date=2024-10-01/n1-0-0.parquet", "rep/date=2024-10-02/n1-1-1.parquet"};
    table_file_t out = {"rep/date=2024-10-01/c-0123456789abcdef-0.parquet", 20000};
    table_test_file(f.st, &f.s, f.ids, out.key, 20000, 0, 3, false, 0); /* the 1 + 2 rows merged */
    table_append_t rp = {
        f.ds, &f.s, "n1", 0, 0, &out, 1, f.ids, 0, NULL, gone, 2, "compact:0123456789abcdef"};
    ursa_err_t err;
    CHECK_EQ_INT(table_append(f.st, &rp, &r, &err), URSA_OK);
    CHECK(!r.already);
    CHECK_EQ_INT(r.sequence_number, 4);
    json_t *sc = scan(&f), *x;
    size_t i, nfiles = 0;
    int64_t rows = 0;
    bool kept = false, added = false;
    json_array_foreach(json_object_get(sc, "files"), i, x)
    {
        const char *path = json_string_value(json_object_get(x, "path"));
        nfiles++, rows += num(x, "records");
        for (size_t k = 0; k < 2; k++) CHECK(strstr(path, gone[k]) == NULL);
        if (strstr(path, "n1-2-2.parquet")) kept = num(x, "sequence_number") == 3;
        if (strstr(path, out.key))
            added = num(x, "sequence_number") == 4 && num(x, "status") == ICEBERG_ADDED;
    }
    CHECK_EQ_INT(nfiles, 2);
    CHECK_EQ_INT(rows, 3 + 3);
    CHECK(kept && added);
    json_decref(sc);
    json_t *t = load(&f);
    const json_t *sum = json_object_get(iceberg_table_current(t), "summary");
    CHECK(strcmp(json_string_value(json_object_get(sum, "operation")), "replace") == 0);
    CHECK(strcmp(json_string_value(json_object_get(sum, "deleted-records")), "3") == 0);
    int64_t version = json_integer_value(json_object_get(t, "last-sequence-number"));
    json_decref(t);
    /* Redone (a crash after the commit): nothing. */
    CHECK_EQ_INT(table_append(f.st, &rp, &r, &err), URSA_OK);
    CHECK(r.already);
    /* Another compaction of the same files, second: its inputs are gone. */
    table_append_t late = rp;
    late.key = "compact:fedcba9876543210";
    CHECK_EQ_INT(table_append(f.st, &late, &r, &err), URSA_ENOTFOUND);
    CHECK(strstr(err.msg, "2 of the 2 files to replace are no longer in the table") != NULL);
    t = load(&f);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "last-sequence-number")), version);
    int64_t replaced_ms = num(iceberg_table_current(t), "timestamp-ms");
    json_decref(t);
    /* Upkeep past the retention, killed between the deletes of the two replaced files (in a child): one
     * is gone, the snapshots that name them are not expired yet, and the next run deletes the other -- a
     * run killed there used to leave it for good, and a glob reader would see its rows twice. */
    int64_t later = replaced_ms + 2 * 3600000;
    pid_t pid = fork();
    if (pid == 0) {
        setenv("URSA_TEST_KILL_AT", "upkeep-between-deletes", 1);
        table_upkeep_stats_t us;
        int rc = table_upkeep(f.st, f.ds, 3600000, later, NULL, &us, &err);
        _exit(rc == URSA_OK ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_EQ_INT((int)exists(&f, gone[0]) + (int)exists(&f, gone[1]), 1);
    t = load(&f);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), 4);
    json_decref(t);
    table_upkeep_stats_t us;
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 3600000, later, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired, 3);
    CHECK(!exists(&f, gone[0]) && !exists(&f, gone[1]));
    CHECK(exists(&f, "rep/date=2024-10-03/n1-2-2.parquet") && exists(&f, out.key));
    sc = scan(&f);
    rows = 0;
    json_array_foreach(json_object_get(sc, "files"), i, x) rows += num(x, "records");
    CHECK_EQ_INT(rows, 3 + 3);
    json_decref(sc);
    fixture_close(&f);
}

/* A snapshot expires a retention after it stopped being current, however
 * old it is: a query that began on it just before the next commit has the
 * whole retention to finish. */
TEST(expiry_counts_from_the_next_snapshot)
{
    fixture_t f;
    ursa_err_t err;
    fixture_open(&f, "succ");
    table_result_t r;
    CHECK_EQ_INT(append(&f, "n1", 1, 0, &r), URSA_OK);
    usleep(2000);
    CHECK_EQ_INT(append(&f, "n1", 2, 0, &r), URSA_OK);
    usleep(1200000); /* the second stays current for 1.2 s */
    CHECK_EQ_INT(append(&f, "n1", 3, 0, &r), URSA_OK);
    json_t *t = load(&f);
    int64_t t2 = num(json_array_get(json_object_get(t, "snapshots"), 1), "timestamp-ms");
    int64_t t3 = num(json_array_get(json_object_get(t, "snapshots"), 2), "timestamp-ms");
    json_decref(t);
    CHECK(t3 - t2 >= 1200);
    table_upkeep_stats_t us;
    /* Half a second after the third, with a 1 s retention: the second was made 1.7 s ago, but it was
     * current until 0.5 s ago -- it stays; the first (replaced by the second) goes. */
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 1000, t3 + 500, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired, 1);
    t = load(&f);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "snapshots")), 2);
    CHECK_EQ_INT(num(json_array_get(json_object_get(t, "snapshots"), 0), "timestamp-ms"), t2);
    json_decref(t);
    /* A retention after the third: the second goes. */
    CHECK_EQ_INT(table_upkeep(f.st, f.ds, 1000, t3 + 1001, NULL, &us, &err), URSA_OK);
    CHECK_EQ_INT(us.snapshots_expired, 1);
    fixture_close(&f);
}

int main(void)
{
    mkdir("test-tmp", 0755);
    snprintf(tmpdir, sizeof(tmpdir), "test-tmp/upkeep-%d", (int)getpid());
    RUN(merge_keeps_every_file_once);
    RUN(expiry_keeps_current_deletes_unreachable);
    RUN(expiry_deletes_a_dropped_file);
    RUN(cache_across_runs);
    RUN(metadata_past_the_log);
    RUN(appends_and_upkeep_racing);
    RUN(replace_swaps_files);
    RUN(expiry_counts_from_the_next_snapshot);
    if (!test_failed_count && !getenv("URSA_TEST_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return TEST_EXIT();
}
