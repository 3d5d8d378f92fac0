/*
 * bench_read.c -- times the Parquet reader alone (pq_reader_*) on one file
 * of a local-directory store. Not part of CI; bench/read.mjs runs it
 * against Polars and DuckDB on the same rows.
 *
 *   bench_read --store DIR --key KEY [--threads N]          every column of every row group
 *   bench_read --store DIR --key KEY --project C[,C...] --between COL LO HI [--threads N]
 *
 * Without --between: pq_reader_open, then pq_reader_read of every column of
 * every row group, each batch kept in memory until the end (the whole
 * table is materialized, as Polars' read_parquet does).
 * With --between: the projected columns of the rows with LO <= COL <= HI,
 * by pq_reader_read_where on every row group (the reader skips what its
 * statistics and page index rule out); COL must be an integer or
 * timestamp column, LO and HI integers (for a timestamp: microseconds
 * since the epoch, converted to the column's unit here).
 *
 * Env: BENCH_MAP_THRESHOLD=n sets ursa_mem_set_map_threshold (blocks of n
 * bytes and up mapped on their own; 0 or unset: the default 1 MiB).
 *
 * --threads N is pq_reader_set_threads (default 1: everything on the
 * calling thread; N > 1: the columns of a row group decode on N threads).
 *
 * Timed: open, every read. Not timed: the checks, freeing the batches.
 * Prints one JSON line:
 * rows, seconds, cpu_seconds (getrusage user + system of the timed part),
 * peak_rss (ru_maxrss of the process), mem_peak (the peak of the bytes
 * Ursa's allocator accounted), row groups, the reader's counters after a
 * filtered read, and checks per output column (non-null count, and per
 * type a sum: integers and timestamps exactly, doubles as the sum of
 * round(v * 100), bools as the count of true, strings as total bytes) that
 * bench/read.mjs compares with the peers' results.
 */
#include "column.h"
#include "pq_read.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void print_i128(__int128 v)
{
    char buf[48], *q = buf + sizeof(buf);
    *--q = '\0';
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-v) : (unsigned __int128)v;
    do *--q = (char)('0' + (int)(u % 10));
    while ((u /= 10));
    if (neg) *--q = '-';
    printf("\"%s\"", q);
}

/* Prints the checks of output column i over every batch as a JSON member. */
static void print_checks_col(const ursa_field_t *f, const ursa_batch_t *bs, size_t nb, size_t i)
{
    size_t nn = 0;
    __int128 sum = 0;
    long long cents = 0;
    size_t t = 0, bytes = 0;
    for (size_t k = 0; k < nb; k++) {
        const ursa_column_t *c = &bs[k].cols[i];
        nn += c->length - c->null_count;
        if (f->type == URSA_TYPE_BOOL) {
            for (size_t r = 0; r < c->length; r++) t += ursa_column_valid(c, r) && ursa_column_bool(c, r);
        } else if (ursa_type_varlen(f->type)) {
            bytes += c->data.len;
        } else if (f->type == URSA_TYPE_FLOAT64) {
            for (size_t r = 0; r < c->length; r++)
                if (ursa_column_valid(c, r)) cents += llround(ursa_column_f64(c, r) * 100);
        } else if (f->type == URSA_TYPE_INT64 || f->type == URSA_TYPE_TIMESTAMP) {
            for (size_t r = 0; r < c->length; r++)
                if (ursa_column_valid(c, r)) sum += ursa_column_i64(c, r);
        }
    }
    printf("\"%s\":{\"count\":%zu", f->name, nn);
    if (f->type == URSA_TYPE_BOOL) {
        printf(",\"true\":%zu", t);
    } else if (ursa_type_varlen(f->type)) {
        printf(",\"bytes\":%zu", bytes);
    } else if (f->type == URSA_TYPE_FLOAT64) {
        printf(",\"sum_x100\":\"%lld\"", cents);
    } else if (f->type == URSA_TYPE_INT64 || f->type == URSA_TYPE_TIMESTAMP) {
        printf(",\"sum\":");
        print_i128(sum);
    }
    printf("}");
}

/* Splits a comma-separated list of names into leaf indexes of r. */
static int project(pq_reader_t *r, const char *list, size_t *cols, size_t max, size_t *n)
{
    *n = 0;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        int i = pq_reader_find(r, s);
        if (i < 0 || *n == max) {
            fprintf(stderr, "bench_read: no column %s (or too many)\n", s);
            return -1;
        }
        cols[(*n)++] = (size_t)i;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *key = NULL, *proj = NULL, *wcol = NULL;
    long long lo = 0, hi = 0;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--store") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--project") && i + 1 < argc)
            proj = argv[++i];
        else if (!strcmp(argv[i], "--between") && i + 3 < argc) {
            wcol = argv[++i];
            lo = atoll(argv[++i]);
            hi = atoll(argv[++i]);
        } else {
            dir = NULL;
            break;
        }
    }
    if (!dir || !key) {
        fprintf(stderr, "usage: bench_read --store DIR --key KEY [--project C[,C...]] [--between COL LO HI] "
                        "[--threads N]\n");
        return 2;
    }
    /* An experiment: blocks of this size and up get mappings of their own
     * (with huge pages); the default is 1 MiB (see ursa_malloc). */
    const char *mt = getenv("BENCH_MAP_THRESHOLD");
    if (mt && atoll(mt) > 0) ursa_mem_set_map_threshold((size_t)atoll(mt));
    ursa_err_t err = {0};
    ursa_store_t *st = NULL;
    if (ursa_store_open(dir, NULL, &st, &err)) {
        fprintf(stderr, "bench_read: %s\n", err.msg);
        return 1;
    }
    size_t base = ursa_mem_used();
    double c0 = cpu_now(), t0 = now();
    pq_reader_t *r = NULL;
    int rc = pq_reader_open(&r, st, key, &err);
    if (rc) {
        fprintf(stderr, "bench_read: %s (%s)\n", err.msg, ursa_strstatus(rc));
        return 1;
    }
    pq_reader_set_threads(r, threads);
    const ursa_schema_t *s = pq_reader_schema(r);
    size_t cols[64], ncols = s->nfields;
    for (size_t i = 0; i < ncols && i < 64; i++) cols[i] = i;
    if (ncols > 64 || (proj && project(r, proj, cols, 64, &ncols))) return 2;
    pq_pred_t pred;
    int64_t vals[2];
    pq_value_t pv[2] = {{&vals[0], 8}, {&vals[1], 8}};
    if (wcol) {
        int c = pq_reader_find(r, wcol);
        const ursa_field_t *f = c >= 0 ? &s->fields[c] : NULL;
        if (!f || (f->type != URSA_TYPE_INT64 && f->type != URSA_TYPE_TIMESTAMP)) {
            fprintf(stderr, "bench_read: %s is not an int64 or timestamp column\n", wcol);
            return 2;
        }
        vals[0] = lo;
        vals[1] = hi;
        if (f->type == URSA_TYPE_TIMESTAMP && f->unit == URSA_UNIT_MS) {
            vals[0] = (int64_t)floor((double)lo / 1e3); /* exact for the bench's bounds */
            vals[1] = (int64_t)floor((double)hi / 1e3);
        } else if (f->type == URSA_TYPE_TIMESTAMP && f->unit == URSA_UNIT_NS) {
            vals[0] = lo * 1000;
            vals[1] = hi * 1000;
        }
        pred = (pq_pred_t){.col = (size_t)c, .op = PQ_OP_BETWEEN, .vals = pv, .nvals = 2};
    }
    size_t ngroups = pq_reader_meta(r)->nrow_groups, nonempty = 0, rows = 0;
    ursa_batch_t *bs = calloc(ngroups ? ngroups : 1, sizeof(*bs));
    if (!bs) return 1;
    for (size_t g = 0; g < ngroups && !rc; g++) {
        rc = wcol ? pq_reader_read_where(r, g, cols, ncols, &pred, 1, &bs[g], &err)
                  : pq_reader_read(r, g, cols, ncols, &bs[g], &err);
        rows += rc ? 0 : bs[g].nrows;
        nonempty += !rc && bs[g].nrows > 0;
    }
    double t = now() - t0, cpu = cpu_now() - c0;
    if (rc) {
        fprintf(stderr, "bench_read: %s (%s)\n", err.msg, ursa_strstatus(rc));
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"engine\":\"ursa\",\"mode\":\"%s\",\"threads\":%d,\"rows\":%zu,", wcol ? "filter" : "all",
           threads, rows);
    printf("\"seconds\":%.6f,\"cpu_seconds\":%.3f,\"peak_rss\":%lld,", t, cpu,
           (long long)ru.ru_maxrss * 1024);
    printf("\"mem_peak\":%zu,\"row_groups\":%zu,", ursa_mem_peak() - base, ngroups);
    printf("\"row_groups_with_rows\":%zu,", nonempty);
    if (wcol) {
        pq_reader_counters_t k;
        pq_reader_get_counters(r, &k);
        printf("\"counters\":{\"row_groups\":%llu,\"row_groups_by_stats\":%llu,",
               (unsigned long long)k.row_groups, (unsigned long long)k.row_groups_by_stats);
        printf("\"row_groups_by_bloom\":%llu,\"pages\":%llu,\"pages_skipped\":%llu,",
               (unsigned long long)k.row_groups_by_bloom, (unsigned long long)k.pages,
               (unsigned long long)k.pages_skipped);
        printf("\"rows_decoded\":%llu,\"bytes_read\":%llu,\"reads\":%llu},",
               (unsigned long long)k.rows_decoded, (unsigned long long)k.bytes_read,
               (unsigned long long)k.reads);
    }
    printf("\"checks\":{");
    for (size_t i = 0; i < ncols; i++) {
        if (i) printf(",");
        print_checks_col(&s->fields[cols[i]], bs, ngroups, i);
    }
    printf("}}\n");
    for (size_t g = 0; g < ngroups; g++) ursa_batch_free(&bs[g]);
    free(bs);
    pq_reader_destroy(&r);
    ursa_store_destroy(&st);
    return 0;
}
