/*
 * bench_flush.c -- times one flush of a dataset's buffer to a local store:
 * the event table of bench_write.c, generated in memory as requests of
 * 1000 rows, one UTC day (not part of CI).
 *
 *   bench_flush [rows] [key] [dir]    defaults: 1000000 time /tmp/ursa_bench_flush
 *
 * key: "time" (no "sort_by": the time column, which the rows arrive in
 * order of, so the flush finds them sorted and reorders nothing),
 * "country_ts" ("sort_by": ["country", "ts"]: every row moves), "user"
 * ("sort_by": ["user_id"]). Prints the seconds of ursa_dataset_flush, rows/s,
 * the file's bytes, the memory the buffer held and the peak of
 * ursa_mem_used() during the flush above it. BENCH_THREADS=n sets the
 * writer's threads, BENCH_PAGE_ROWS=n its page_rows (0: the dataset's
 * default, PQ_DATASET_PAGE_ROWS; 1048576: the writer's bound before it).
 */
#include "catalog.h"

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

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    size_t rows = argc > 1 ? (size_t)atoll(argv[1]) : 1000000;
    const char *key = argc > 2 ? argv[2] : "time";
    const char *dir = argc > 3 ? argv[3] : "/tmp/ursa_bench_flush";
    const char *sort_by = !strcmp(key, "country_ts") ? ",\"sort_by\":[\"country\",\"ts\"]"
                          : !strcmp(key, "user")     ? ",\"sort_by\":[\"user_id\"]"
                                                     : "";
    char schema[1024];
    snprintf(
        schema, sizeof(schema),
        "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},{\"name\":\"user_id\","
        "\"type\":\"int64\",\"nullable\":false},{\"name\":\"event\",\"type\":\"string\",\"nullable\":false},"
        "{\"name\":\"value\",\"type\":\"float64\"},{\"name\":\"ok\",\"type\":\"bool\",\"nullable\":false},"
        "{\"name\":\"country\",\"type\":\"string\",\"nullable\":false},{\"name\":\"payload\",\"type\":"
        "\"string\",\"nullable\":false}],\"time_column\":\"ts\"%s}",
        sort_by);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    ursa_err_t err = {0};
    ursa_store_t *st = NULL;
    ursa_catalog_t *cat = NULL;
    bool created;
    if (ursa_store_open(dir, NULL, &st, &err) || ursa_catalog_new(&cat, st, "bench", 0, &err) ||
        ursa_catalog_create(cat, "ev", schema, strlen(schema), &created, &err)) {
        fprintf(stderr, "bench_flush: %s\n", err.msg);
        return 1;
    }
    if (getenv("BENCH_THREADS")) cat->pq.threads = atoi(getenv("BENCH_THREADS"));
    if (getenv("BENCH_PAGE_ROWS")) cat->pq.page_rows = (size_t)atoll(getenv("BENCH_PAGE_ROWS"));
    ursa_dataset_t *d = ursa_catalog_get(cat, "ev");
    char events[50][16], countries[200][8];
    for (int i = 0; i < 50; i++) snprintf(events[i], sizeof(events[i]), "event_%02d", i);
    for (int i = 0; i < 200; i++) snprintf(countries[i], sizeof(countries[i]), "C%03d", i);
    int rc = 0;
    int64_t ts = 1704067200000000ll;
    for (size_t done = 0; done < rows && !rc;) {
        ursa_batch_t *b = ursa_calloc(1, sizeof(*b));
        if (!b || ursa_batch_init(b, &d->schema)) return 1;
        size_t n = rows - done < 1000 ? rows - done : 1000;
        for (size_t r = 0; r < n && !rc; r++) {
            uint64_t x = rnd();
            ts += (int64_t)(x % 2000);
            rc |= ursa_column_append_i64(&b->cols[0], ts);
            rc |= ursa_column_append_i64(&b->cols[1], (int64_t)(rnd() % 100000));
            const char *e = events[x % 50];
            rc |= ursa_column_append_str(&b->cols[2], e, strlen(e));
            rc |= (x >> 8) % 100 < 5 ? ursa_column_append_null(&b->cols[3])
                                     : ursa_column_append_f64(&b->cols[3], (double)(rnd() % 1000000) / 100.0);
            rc |= ursa_column_append_bool(&b->cols[4], (x >> 20) & 1);
            const char *c = countries[(x >> 24) % 200];
            rc |= ursa_column_append_str(&b->cols[5], c, strlen(c));
            char p[40];
            for (int k = 0; k < 40; k += 8) {
                uint64_t y = rnd();
                for (int j = 0; j < 8; j++) p[k + j] = (char)('a' + (y >> (j * 8)) % 26);
            }
            rc |= ursa_column_append_str(&b->cols[6], p, 40);
        }
        b->nrows = n;
        done += n;
        if (rc || ursa_dataset_append(d, b)) return 1;
    }
    size_t base = ursa_mem_used();
    double t0 = now();
    ursa_flush_result_t res;
    rc = ursa_dataset_flush(cat, d, &res, &err);
    double t = now() - t0;
    if (rc) {
        fprintf(stderr, "bench_flush: %s\n", err.msg);
        return 1;
    }
    printf("rows %zu key %s: flush %.3f s, %.2f M rows/s, %llu bytes in %zu file(s), buffer %.1f MB, "
           "peak above it %.1f MB\n",
           rows, key, t, (double)rows / t / 1e6, (unsigned long long)(res.nfiles ? res.files[0].bytes : 0),
           res.nfiles, (double)base / 1e6, (double)(ursa_mem_peak() - base) / 1e6);
    ursa_flush_result_free(&res);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
    return 0;
}
