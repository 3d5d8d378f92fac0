/*
 * bench_write.c -- times the Parquet writer alone on the 10 M-row event
 * table, generated in memory (not part of CI).
 *
 *   bench_write [rows] [codec] [out.parquet]    defaults: 10000000 zstd /tmp/ursa_bench.parquet
 *
 * Columns: ts timestamp (µs, rising, ~1 ms apart), user_id int64 (100 000
 * users), event string (50 values), value float64 (5 % nulls), ok bool,
 * country string (200 values), payload string (40 random characters).
 * Prints seconds for pq_writer_* alone, rows/s, file bytes and the peak of
 * ursa_mem_used() during the write. Env: BENCH_ENC_INT=plain|delta|dict
 * forces the encoding of ts and user_id (for the AUTO measurement);
 * BENCH_THREADS=n sets opts.threads, BENCH_LEVEL=n the zstd level,
 * BENCH_PAGE_KB=n the page size, BENCH_TRUSTED_UTF8=1 skips the UTF-8 check.
 */
#include "pq_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int file_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    return fwrite(p, 1, n, ctx) == n ? URSA_OK : ursa_err_set(err, URSA_EIO, "write failed");
}

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

#define F(n, t, null)                                                                    \
    {                                                                                    \
        .name = (char *)(n), .name_len = sizeof(n) - 1, .type = (t), .nullable = (null), \
        .unit = URSA_UNIT_US, .utc = true                                                \
    }

int main(int argc, char **argv)
{
    size_t rows = argc > 1 ? (size_t)atoll(argv[1]) : 10000000;
    const char *codec = argc > 2 ? argv[2] : "zstd";
    const char *out = argc > 3 ? argv[3] : "/tmp/ursa_bench.parquet";
    ursa_field_t fields[] = {F("ts", URSA_TYPE_TIMESTAMP, false),  F("user_id", URSA_TYPE_INT64, false),
                             F("event", URSA_TYPE_STRING, false),  F("value", URSA_TYPE_FLOAT64, true),
                             F("ok", URSA_TYPE_BOOL, false),       F("country", URSA_TYPE_STRING, false),
                             F("payload", URSA_TYPE_STRING, false)};
    const char *fe = getenv("BENCH_ENC_INT");
    if (fe) {
        ursa_encoding_t e = !strcmp(fe, "plain")  ? URSA_ENC_PLAIN
                            : !strcmp(fe, "dict") ? URSA_ENC_DICTIONARY
                                                  : URSA_ENC_DELTA_BINARY_PACKED;
        fields[0].encoding = fields[1].encoding = e;
    }
    ursa_schema_t s = {fields, 7, 0};
    ursa_batch_t b;
    if (ursa_batch_init(&b, &s)) return 1;
    char events[50][16], countries[200][8];
    for (int i = 0; i < 50; i++) snprintf(events[i], sizeof(events[i]), "event_%02d", i);
    for (int i = 0; i < 200; i++) snprintf(countries[i], sizeof(countries[i]), "C%03d", i);
    int rc = 0;
    int64_t ts = 1704067200000000ll;
    for (size_t r = 0; r < rows && !rc; r++) {
        uint64_t x = rnd();
        ts += (int64_t)(x % 2000);
        rc |= ursa_column_append_i64(&b.cols[0], ts);
        rc |= ursa_column_append_i64(&b.cols[1], (int64_t)(rnd() % 100000));
        const char *e = events[x % 50];
        rc |= ursa_column_append_str(&b.cols[2], e, strlen(e));
        rc |= (x >> 8) % 100 < 5 ? ursa_column_append_null(&b.cols[3])
                                 : ursa_column_append_f64(&b.cols[3], (double)(rnd() % 1000000) / 100.0);
        rc |= ursa_column_append_bool(&b.cols[4], (x >> 20) & 1);
        const char *c = countries[(x >> 24) % 200];
        rc |= ursa_column_append_str(&b.cols[5], c, strlen(c));
        char p[40];
        for (int k = 0; k < 40; k += 8) {
            uint64_t y = rnd();
            for (int j = 0; j < 8; j++) p[k + j] = (char)('a' + (y >> (j * 8)) % 26);
        }
        rc |= ursa_column_append_str(&b.cols[6], p, 40);
    }
    b.nrows = rows;
    if (rc) return 1;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    int cd = pq_codec_from_name(codec);
    if (cd < 0) return 2;
    o.codec = (pq_codec_t)cd;
    if (getenv("BENCH_TRUSTED_UTF8")) o.trusted_utf8 = true;
    if (getenv("BENCH_THREADS")) o.threads = atoi(getenv("BENCH_THREADS"));
    if (getenv("BENCH_LEVEL")) o.level = atoi(getenv("BENCH_LEVEL"));
    if (getenv("BENCH_PAGE_KB")) o.page_bytes = (size_t)atoi(getenv("BENCH_PAGE_KB")) << 10;
    FILE *fp = fopen(out, "wb");
    if (!fp) return 1;
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    ursa_sink_t sink = {file_write, fp};
    size_t base = ursa_mem_used(), peak = 0;
    double t0 = now();
    pq_writer_t *w;
    ursa_err_t err = {0};
    uint64_t bytes = 0;
    rc = pq_writer_new(&w, &s, &o, sink, &err);
    for (size_t pos = 0; !rc && pos < rows; pos += 65536) {
        rc = pq_writer_write(w, &b, pos, rows - pos < 65536 ? rows - pos : 65536, &err);
        size_t m = ursa_mem_used() - base;
        if (m > peak) peak = m;
    }
    if (!rc) rc = pq_writer_close(w, &bytes, &err);
    fflush(fp);
    double t = now() - t0;
    pq_writer_destroy(&w);
    fclose(fp);
    if (rc) {
        fprintf(stderr, "bench_write: %s\n", err.msg);
        return 1;
    }
    printf("rows %zu codec %s: %.3f s, %.2f M rows/s, %llu bytes, peak writer memory %.1f MB\n", rows, codec,
           t, (double)rows / t / 1e6, (unsigned long long)bytes, (double)peak / 1e6);
    ursa_batch_free(&b);
    return 0;
}
