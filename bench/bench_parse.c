/*
 * bench_parse.c -- times parse + validate + append alone: a file preloaded
 * in memory is fed through the code the server runs for a request body
 * (ursa_body_feed -> the NDJSON, JSON-array or CSV scanner -> one batch),
 * in pieces of the size libmicrohttpd hands to the request handler. Not
 * part of CI; bench/parse.mjs runs it against DuckDB and Polars.
 *
 *   bench_parse --schema S.json --input F --format ndjson|json|csv [--chunk BYTES] [--repeat N]
 *
 * --chunk    bytes per feed call (default 131072: about what libmicrohttpd
 *            delivers per call with Ursa's 256 KiB connection memory limit)
 * --repeat   parse the file N times (fresh batch each time) and report each
 *
 * The file is read whole before the clock starts. Timed: scanner and body
 * setup, every feed, finish. Not timed: freeing the batch. Prints one JSON
 * line per repetition: bytes, rows, rejected, seconds, MB/s, the CPU
 * seconds of the process during the timed part, and checks of the batch
 * (sums and counts per column) that bench/parse.mjs compares with the
 * peers' results on the same bytes.
 */
#include "ingest_body.h"

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

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = p ? (size_t)len : 0;
    return p;
}

/* Prints the checks of one column as JSON members: non-null count, and per
 * type a sum (integers and timestamps exactly, doubles as the sum of
 * round(v * 100) with v clamped to [-1e9, 1e9] so that values up to
 * 1.8e308 sum in an int64, bools as the count of true, strings as total
 * length in bytes). */
static void print_checks(const ursa_schema_t *s, const ursa_batch_t *b)
{
    printf("\"checks\":{");
    for (size_t i = 0; i < s->nfields; i++) {
        const ursa_column_t *c = &b->cols[i];
        const ursa_field_t *f = &s->fields[i];
        size_t nn = c->length - c->null_count;
        printf("%s\"%s\":{\"count\":%zu", i ? "," : "", f->name, nn);
        if (f->type == URSA_TYPE_INT64 || f->type == URSA_TYPE_TIMESTAMP) {
            __int128 sum = 0;
            for (size_t r = 0; r < c->length; r++)
                if (ursa_column_valid(c, r)) sum += ursa_column_i64(c, r);
            /* Printed as a string: the sum may pass 2^53. */
            char buf[48], *q = buf + sizeof(buf);
            *--q = '\0';
            bool neg = sum < 0;
            unsigned __int128 u = neg ? (unsigned __int128)(-sum) : (unsigned __int128)sum;
            do *--q = (char)('0' + (int)(u % 10));
            while ((u /= 10));
            if (neg) *--q = '-';
            printf(",\"sum\":\"%s\"", q);
        } else if (f->type == URSA_TYPE_FLOAT64) {
            long long cents = 0;
            for (size_t r = 0; r < c->length; r++)
                if (ursa_column_valid(c, r))
                    cents += llround(fmin(fmax(ursa_column_f64(c, r), -1e9), 1e9) * 100);
            printf(",\"sum_x100\":\"%lld\"", cents);
        } else if (f->type == URSA_TYPE_BOOL) {
            size_t t = 0;
            for (size_t r = 0; r < c->length; r++) t += ursa_column_valid(c, r) && ursa_column_bool(c, r);
            printf(",\"true\":%zu", t);
        } else if (ursa_type_varlen(f->type)) {
            printf(",\"bytes\":%zu", c->data.len);
        }
        printf("}");
    }
    printf("}");
}

int main(int argc, char **argv)
{
    const char *schema_path = NULL, *input = NULL, *format = "ndjson";
    size_t chunk = 128u << 10;
    int repeat = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--schema"))
            schema_path = argv[i + 1];
        else if (!strcmp(argv[i], "--input"))
            input = argv[i + 1];
        else if (!strcmp(argv[i], "--format"))
            format = argv[i + 1];
        else if (!strcmp(argv[i], "--chunk"))
            chunk = (size_t)atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat"))
            repeat = atoi(argv[i + 1]);
    }
    ursa_format_t fmt = !strcmp(format, "json")  ? URSA_FMT_JSON_ARRAY
                        : !strcmp(format, "csv") ? URSA_FMT_CSV
                                                 : URSA_FMT_NDJSON;
    if (!schema_path || !input || !chunk || repeat < 1) {
        fprintf(stderr,
                "usage: bench_parse --schema S.json --input F --format ndjson|json|csv [--chunk BYTES] "
                "[--repeat N]\n");
        return 2;
    }
    size_t sn, n;
    char *sj = read_file(schema_path, &sn), *data = read_file(input, &n);
    if (!sj || !data) {
        fprintf(stderr, "bench_parse: cannot read %s\n", sj ? input : schema_path);
        return 1;
    }
    ursa_schema_t s;
    ursa_err_t err = {0};
    if (ursa_schema_parse(sj, sn, &s, &err)) {
        fprintf(stderr, "bench_parse: schema: %s\n", err.msg);
        return 1;
    }
    for (int rep = 0; rep < repeat; rep++) {
        ursa_batch_t b;
        ursa_ndjson_t scan;
        ursa_body_t body;
        double c0 = cpu_now(), t0 = now();
        int rc = ursa_batch_init(&b, &s);
        if (!rc) rc = ursa_ndjson_init(&scan, &s, &b, 0);
        if (!rc) rc = ursa_body_init(&body, fmt, URSA_CE_IDENTITY, &scan, UINT64_MAX);
        if (!rc && fmt == URSA_FMT_CSV) rc = ursa_body_set_csv(&body, NULL);
        for (size_t off = 0; !rc && off < n; off += chunk)
            rc = ursa_body_feed(&body, data + off, n - off < chunk ? n - off : chunk, &err);
        if (!rc) rc = ursa_body_finish(&body, &err);
        double t = now() - t0, cpu = cpu_now() - c0;
        if (rc) {
            fprintf(stderr, "bench_parse: %s (%s)\n", err.msg, ursa_strstatus(rc));
            return 1;
        }
        for (size_t i = 0; i < scan.nerrors && i < 5; i++)
            fprintf(stderr, "row %llu: column %d: %s\n", (unsigned long long)scan.errors[i].row,
                    scan.errors[i].column, scan.errors[i].reason);
        printf(
            "{\"format\":\"%s\",\"bytes\":%zu,\"chunk\":%zu,\"rows\":%zu,\"rejected\":%llu,\"seconds\":%.6f,"
            "\"mb_per_s\":%.1f,\"cpu_seconds\":%.3f,",
            format, n, chunk, b.nrows, (unsigned long long)scan.rejected, t, (double)n / t / 1e6, cpu);
        print_checks(&s, &b);
        printf("}\n");
        fflush(stdout);
        ursa_body_free(&body);
        ursa_ndjson_free(&scan);
        ursa_batch_free(&b);
    }
    ursa_schema_free(&s);
    free(sj);
    free(data);
    return 0;
}
