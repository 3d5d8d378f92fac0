/*
 * bench_compact.c -- the merge of compaction on a local store (not part of
 * CI; bench/compact.mjs drives it against DuckDB and Polars).
 *
 *   bench_compact gen DIR FILES ROWS [row_group_mb]
 *       FILES flushes of ROWS rows each of the event table of bench_flush,
 *       one UTC day, every file over the same span of time (as nodes behind
 *       a gateway write them: the runs interleave row by row), written by
 *       ursa_dataset_flush (so each is a sorted run by the time column);
 *       row_group_mb sets the flush's row group size (default: the
 *       catalog's, 128 MiB uncompressed); BENCH_PAGE_ROWS its page_rows
 *       (pq_write.h; default PQ_DATASET_PAGE_ROWS). Prints the files' keys.
 *   bench_compact merge DIR OUT_BASE KEY...
 *       merges the files KEY... of the store DIR into OUT_BASE-<k>.parquet
 *       with the catalog's default writer options (the flush's) and prints
 *       one line of JSON: seconds, rows, bytes, outputs, the peak of
 *       ursa_mem_used() and the process's peak RSS and CPU seconds.
 *       Environment: BENCH_THREADS (the writer's threads; 1 also means no
 *       prefetch thread), BENCH_RG_MB (row_group_bytes of the merge's
 *       output; default URSA_COMPACT_ROW_GROUP_DEFAULT), BENCH_PAGE_ROWS
 *       (the writer's page_rows), BENCH_TARGET_MB (target_bytes),
 *       BENCH_WINDOW_MB (window_bytes; default URSA_COMPACT_WINDOW_DEFAULT).
 */
#include "catalog.h"
#include "compact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char SCHEMA[] =
    "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},{\"name\":\"user_id\","
    "\"type\":\"int64\",\"nullable\":false},{\"name\":\"event\",\"type\":\"string\",\"nullable\":false},"
    "{\"name\":\"value\",\"type\":\"float64\"},{\"name\":\"ok\",\"type\":\"bool\",\"nullable\":false},"
    "{\"name\":\"country\",\"type\":\"string\",\"nullable\":false},{\"name\":\"payload\",\"type\":"
    "\"string\",\"nullable\":false}],\"time_column\":\"ts\"}";

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

static int open_catalog(const char *dir, ursa_store_t **st, ursa_catalog_t **cat, ursa_dataset_t **d)
{
    ursa_err_t err = {0};
    bool created;
    if (ursa_store_open(dir, NULL, st, &err) || ursa_catalog_new(cat, *st, "bench", 0, &err) ||
        ursa_catalog_create(*cat, "ev", SCHEMA, strlen(SCHEMA), &created, &err)) {
        fprintf(stderr, "bench_compact: %s\n", err.msg);
        return 1;
    }
    *d = ursa_catalog_get(*cat, "ev");
    return 0;
}

static int gen(const char *dir, int files, size_t rows, size_t rg_mb)
{
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    if (open_catalog(dir, &st, &cat, &d)) return 1;
    if (rg_mb) cat->pq.row_group_bytes = rg_mb << 20;
    if (getenv("BENCH_PAGE_ROWS")) cat->pq.page_rows = (size_t)atoll(getenv("BENCH_PAGE_ROWS"));
    char events[50][16], countries[200][8];
    for (int i = 0; i < 50; i++) snprintf(events[i], sizeof(events[i]), "event_%02d", i);
    for (int i = 0; i < 200; i++) snprintf(countries[i], sizeof(countries[i]), "C%03d", i);
    for (int f = 0; f < files; f++) {
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
                rc |= (x >> 8) % 100 < 5
                          ? ursa_column_append_null(&b->cols[3])
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
        ursa_flush_result_t res;
        ursa_err_t err = {0};
        if (ursa_dataset_flush(cat, d, &res, &err)) {
            fprintf(stderr, "bench_compact: %s\n", err.msg);
            return 1;
        }
        for (size_t k = 0; k < res.nfiles; k++) printf("%s\n", res.files[k].key);
        ursa_flush_result_free(&res);
    }
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
    return 0;
}

static int merge(const char *dir, const char *base, const char *const *keys, size_t n)
{
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    if (open_catalog(dir, &st, &cat, &d)) return 1;
    if (getenv("BENCH_THREADS")) cat->pq.threads = atoi(getenv("BENCH_THREADS"));
    if (getenv("BENCH_PAGE_ROWS")) cat->pq.page_rows = (size_t)atoll(getenv("BENCH_PAGE_ROWS"));
    ursa_compact_opts_t o = {.store = st,
                             .schema = &d->schema,
                             .pq = &cat->pq,
                             .schema_json = d->schema_json,
                             .inputs = keys,
                             .ninputs = n,
                             .out_base = base};
    if (getenv("BENCH_RG_MB")) o.row_group_bytes = (size_t)atoll(getenv("BENCH_RG_MB")) << 20;
    if (getenv("BENCH_TARGET_MB")) o.target_bytes = (uint64_t)atoll(getenv("BENCH_TARGET_MB")) << 20;
    if (getenv("BENCH_WINDOW_MB")) o.window_bytes = (size_t)atoll(getenv("BENCH_WINDOW_MB")) << 20;
    size_t base_mem = ursa_mem_used();
    double t0 = now();
    ursa_compact_result_t res;
    ursa_err_t err = {0};
    if (ursa_compact_merge(&o, &res, &err)) {
        fprintf(stderr, "bench_compact: %s\n", err.msg);
        return 1;
    }
    double t = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t bytes = 0;
    for (size_t k = 0; k < res.noutputs; k++) bytes += res.outputs[k].bytes;
    printf("{\"seconds\":%.3f,\"rows_in\":%llu,\"rows_out\":%llu,\"runs\":%zu,\"outputs\":%zu,\"bytes\":%llu,"
           "\"mem_peak_mb\":%.1f,\"rss_mb\":%.1f,\"cpu_s\":%.2f}\n",
           t, (unsigned long long)res.rows_in, (unsigned long long)res.rows_out, res.runs, res.noutputs,
           (unsigned long long)bytes, (double)(ursa_mem_peak() - base_mem) / 1048576.0,
           (double)ru.ru_maxrss / 1024.0,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6);
    ursa_compact_result_free(&res);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "gen"))
        return gen(argv[2], atoi(argv[3]), (size_t)atoll(argv[4]), argc > 5 ? (size_t)atoll(argv[5]) : 0);
    if (argc >= 5 && !strcmp(argv[1], "merge"))
        return merge(argv[2], argv[3], (const char *const *)argv + 4, (size_t)(argc - 4));
    fprintf(stderr, "usage: bench_compact gen DIR FILES ROWS [row_group_mb] | merge DIR OUT_BASE KEY...\n");
    return 2;
}
