/*
 * bench_upkeep.c -- times appends with manifest merging and table upkeep on
 * a local store (not part of CI).
 *
 *   bench_upkeep [appends] [dir]    defaults: 1000 /tmp/ursa_bench_upkeep
 *
 * Makes a table of `appends` snapshots, one small Parquet file each, with
 * the default merge threshold (TABLE_MERGE_MIN_COUNT); prints the appends'
 * time and store requests, those of the appends that merged apart. Then
 * table_upkeep four times: with nothing old; with the clock set so that the
 * older half of the snapshots expire; at once again (nothing to expire, but
 * manifests merged away are still named by retained snapshots); with every
 * snapshot but the current one old. Each prints its store requests, time
 * and what it deleted. The runs share a cache of lists (table_upkeep_cache_t)
 * as the server's do; BENCH_NO_CACHE=1: none.
 */
#include "iceberg_meta.h"
#include "ingest_json.h"
#include "pq_write.h"
#include "table.h"
#include "table_upkeep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    (void)err;
    return ursa_buf_append(ctx, p, n);
}

static void die(const char *what, const ursa_err_t *err)
{
    fprintf(stderr, "%s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static table_upkeep_cache_t *the_cache, **cache; /* NULL with BENCH_NO_CACHE=1 */

static void upkeep(ursa_store_t *st, const char *label, int64_t retention, int64_t at)
{
    table_upkeep_stats_t s;
    ursa_err_t err;
    double t0 = now();
    if (table_upkeep(st, "ev", retention, at, cache, &s, &err)) die("upkeep", &err);
    printf(
        "upkeep, %s: %d requests, %.1f ms; %zu snapshots expired, deleted %zu lists, %zu manifests, %zu data "
        "files, %zu metadata files\n",
        label, s.requests, (now() - t0) * 1e3, s.snapshots_expired, s.lists_deleted, s.manifests_deleted,
        s.data_files_deleted, s.metadata_deleted);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    const char *dir = argc > 2 ? argv[2] : "/tmp/ursa_bench_upkeep";
    static const char *js = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                            "{\"name\":\"k\",\"type\":\"int64\"}],\"time_column\":\"ts\"}";
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    ursa_store_t *st;
    ursa_schema_t s;
    ursa_err_t err;
    int32_t ids[2];
    if (ursa_store_open(dir, NULL, &st, &err) || ursa_schema_parse(js, strlen(js), &s, &err))
        die("open", &err);
    if (table_schema(st, "ev", &s, 0, NULL, ids, NULL, &err)) die("field ids", &err);
    double t_all = 0, t_merge = 0;
    long req_all = 0, req_merge = 0;
    int merges = 0;
    for (int i = 0; i < n; i++) {
        ursa_batch_t b;
        ursa_ndjson_t p;
        char line[128], key[128];
        if (ursa_batch_init(&b, &s) || ursa_ndjson_init(&p, &s, &b, 0)) die("batch", NULL);
        for (int r = 0; r < 10; r++) {
            int k = snprintf(line, sizeof(line), "{\"ts\":\"2024-10-01T00:%02d:00Z\",\"k\":%d}\n", r, i);
            if (ursa_ndjson_feed(&p, line, (size_t)k)) die("feed", NULL);
        }
        if (ursa_ndjson_finish(&p)) die("finish", NULL);
        ursa_ndjson_free(&p);
        pq_write_opts_t o;
        pq_write_opts_default(&o);
        o.field_ids = ids;
        o.threads = 1;
        ursa_buf_t file = {0};
        pq_writer_t *w = NULL;
        if (pq_writer_new(&w, &s, &o, (ursa_sink_t){mem_write, &file}, &err) ||
            pq_writer_write(w, &b, 0, b.nrows, &err) || pq_writer_close(w, NULL, &err))
            die("write", &err);
        pq_writer_destroy(&w);
        snprintf(key, sizeof(key), "ev/date=2024-10-01/b-%d-%d.parquet", i, i);
        if (ursa_store_put(st, key, file.data, file.len, &err)) die("put", &err);
        ursa_buf_free(&file);
        ursa_batch_free(&b);
        table_file_t tf = {key, 19997};
        table_append_t a = {"ev", &s, "b", (uint64_t)i, (uint64_t)i, &tf, 1, ids, 0};
        table_result_t r;
        double t0 = now();
        if (table_append(st, &a, &r, &err)) die("append", &err);
        double dt = now() - t0;
        t_all += dt, req_all += r.requests;
        if (r.merged) t_merge += dt, req_merge += r.requests, merges++;
    }
    printf("%d appends: %.2f ms and %.1f requests each; %d merged (%.2f ms and %.1f requests each)\n", n,
           t_all * 1e3 / n, (double)req_all / n, merges, merges ? t_merge * 1e3 / merges : 0,
           merges ? (double)req_merge / merges : 0);
    /* The snapshots' times, to set the clock by. */
    json_t *t;
    int64_t v;
    if (iceberg_load(st, "ev", &t, &v, NULL, &err) || !t) die("load", &err);
    json_t *snaps = json_object_get(t, "snapshots");
    size_t ns = json_array_size(snaps);
    int64_t mid = json_integer_value(json_object_get(json_array_get(snaps, ns / 2), "timestamp-ms"));
    int64_t last = json_integer_value(json_object_get(json_array_get(snaps, ns - 1), "timestamp-ms"));
    json_decref(t);
    int64_t day = TABLE_RETENTION_DEFAULT_MS;
    cache = getenv("BENCH_NO_CACHE") ? NULL : &the_cache;
    upkeep(st, "nothing old", day, iceberg_now_ms());
    upkeep(st, "the older half old", day, mid + day);
    upkeep(st, "again at once", day, mid + day);
    upkeep(st, "all but the current one old", day, last + day + 1);
    upkeep(st, "again at once", day, last + day + 1);
    table_upkeep_cache_destroy(&the_cache);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
    return 0;
}
