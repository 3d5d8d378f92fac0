/*
 * test_pq_read.c -- the Parquet reader (pq_reader_*): files written by
 * Ursa's writer (every type, nulls, several row groups, data page v1 and
 * v2, dictionary on and off, delta and byte-stream-split, every codec),
 * stored in a local directory store, read back through the reader and
 * compared value by value with the batch that was written. Also: a
 * projection by name, a nested/unknown column, a damaged page (CRC-less
 * corruption gives an error naming file, row group, column and page), a
 * truncated file.
 */
#include "ingest_json.h"
#include "pq_cli.h"
#include "pq_read.h"
#include "pq_write.h"
#include "store.h"
#include "same_row.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef URSA_PARQUET_TESTING
#error "URSA_PARQUET_TESTING must name the parquet-testing directory (CMakeLists.txt sets it)"
#endif

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    (void)err;
    return ursa_buf_append(ctx, p, n);
}

/* Every type; %s is replaced by an encoding clause for the columns that take it. */
static const char *schema_json(int variant)
{
    switch (variant) {
    case 0: /* the writer's choices */
        return "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
               "{\"name\":\"i\",\"type\":\"int64\"},{\"name\":\"f\",\"type\":\"float64\"},"
               "{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"s\",\"type\":\"string\"},"
               "{\"name\":\"i8\",\"type\":\"int8\"},{\"name\":\"i16\",\"type\":\"int16\"},"
               "{\"name\":\"i32\",\"type\":\"int32\"},{\"name\":\"u8\",\"type\":\"uint8\"},"
               "{\"name\":\"u16\",\"type\":\"uint16\"},{\"name\":\"u32\",\"type\":\"uint32\"},"
               "{\"name\":\"u64\",\"type\":\"uint64\"},"
               "{\"name\":\"f32\",\"type\":\"float32\"},{\"name\":\"d\",\"type\":\"decimal\",\"precision\":"
               "38,"
               "\"scale\":6},{\"name\":\"d9\",\"type\":\"decimal\",\"precision\":9,\"scale\":2},"
               "{\"name\":\"d18\",\"type\":\"decimal\",\"precision\":18,\"scale\":3},"
               "{\"name\":\"bin\",\"type\":\"binary\"},{\"name\":\"day\",\"type\":\"date\"},"
               "{\"name\":\"tod\",\"type\":\"time\"},{\"name\":\"ns\",\"type\":\"timestamp\",\"unit\":\"ns\","
               "\"utc\":false},{\"name\":\"ms\",\"type\":\"timestamp\",\"unit\":\"ms\"},"
               "{\"name\":\"id\",\"type\":\"uuid\"},{\"name\":\"j\",\"type\":\"json\"}],"
               "\"time_column\":\"ts\"}";
    case 1: /* plain everywhere */
        return "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false,\"encoding\":"
               "\"plain\"},"
               "{\"name\":\"i\",\"type\":\"int64\",\"encoding\":\"plain\"},"
               "{\"name\":\"f\",\"type\":\"float64\",\"encoding\":\"plain\"},"
               "{\"name\":\"b\",\"type\":\"bool\",\"encoding\":\"plain\"},"
               "{\"name\":\"s\",\"type\":\"string\",\"encoding\":\"plain\"},"
               "{\"name\":\"i8\",\"type\":\"int8\",\"encoding\":\"plain\"},"
               "{\"name\":\"u64\",\"type\":\"uint64\",\"encoding\":\"plain\"},"
               "{\"name\":\"d\",\"type\":\"decimal\",\"precision\":38,\"scale\":6,\"encoding\":\"plain\"},"
               "{\"name\":\"bin\",\"type\":\"binary\",\"encoding\":\"plain\"},"
               "{\"name\":\"id\",\"type\":\"uuid\",\"encoding\":\"plain\"},"
               "{\"name\":\"j\",\"type\":\"json\",\"encoding\":\"plain\"}],"
               "\"time_column\":\"ts\"}";
    default: /* dictionary, delta, byte stream split */
        return "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false,\"encoding\":"
               "\"delta\"},"
               "{\"name\":\"i\",\"type\":\"int64\",\"encoding\":\"dictionary\"},"
               "{\"name\":\"f\",\"type\":\"float64\",\"encoding\":\"byte_stream_split\"},"
               "{\"name\":\"f32\",\"type\":\"float32\",\"encoding\":\"byte_stream_split\"},"
               "{\"name\":\"s\",\"type\":\"string\",\"encoding\":\"delta_length\"},"
               "{\"name\":\"i32\",\"type\":\"int32\",\"encoding\":\"delta\"},"
               "{\"name\":\"d9\",\"type\":\"decimal\",\"precision\":9,\"scale\":2,\"encoding\":\"delta\"},"
               "{\"name\":\"day\",\"type\":\"date\",\"encoding\":\"dictionary\"},"
               "{\"name\":\"bin\",\"type\":\"binary\",\"encoding\":\"dictionary\"}],"
               "\"time_column\":\"ts\"}";
    }
}

/* Parses `rows` records (every 7th field null where nullable) into b. */
static void make_batch(const ursa_schema_t *s, ursa_batch_t *b, size_t rows)
{
    ursa_ndjson_t p;
    if (ursa_batch_init(b, s) || ursa_ndjson_init(&p, s, b, 0)) abort();
    for (size_t r = 0; r < rows; r++) {
        char line[2048];
        bool nul = r % 7 == 3;
#define V(x) (nul ? "null" : (x))
        char i[32], f[48], str[48], small[16], u64[32], dec[64];
        snprintf(i, sizeof(i), "%lld", (long long)(r * 1000003) - 5000000);
        snprintf(f, sizeof(f), "%zu.25", r);
        snprintf(str, sizeof(str), "\"s%zu\"", r % 13);
        snprintf(small, sizeof(small), "%d", (int)(r % 200) - 100);
        snprintf(u64, sizeof(u64), "%llu", 18446744073709551615ull - r);
        snprintf(dec, sizeof(dec), "\"-%zu12345678901234567890.123456\"", r % 9);
        int k = snprintf(
            line, sizeof(line),
            "{\"ts\":\"2026-01-02T03:04:%02zu.%06zuZ\",\"i\":%s,\"f\":%s,\"b\":%s,\"s\":%s,\"i8\":%s,\"i16\":"
            "%s,"
            "\"i32\":%s,\"u8\":%s,\"u16\":%s,\"u32\":%s,\"u64\":%s,\"f32\":%s,\"d\":%s,\"d9\":%s,\"d18\":%s,"
            "\"bin\":%s,\"day\":%s,\"tod\":%s,\"ns\":%s,\"ms\":%s,\"id\":%s,\"j\":%s}\n",
            r % 60, r, V(i), V(f), V(r % 2 ? "true" : "false"), V(str), V(small), V("-32768"), V(i), V("255"),
            V("65535"), V("4294967295"), V(u64), V("1.5"), V(dec), V("\"-1234567.89\""),
            V("\"999999999999999.999\""), V("\"aGk=\""), V("\"2026-01-02\""), V("\"01:02:03.000004\""),
            V("\"2026-01-02T03:04:05.123456789\""), V("\"2026-01-02T03:04:05.123Z\""),
            V("\"123e4567-e89b-12d3-a456-426614174000\""), V("{\"a\":[1,2]}"));
#undef V
        if (ursa_ndjson_feed(&p, line, (size_t)k)) abort();
    }
    if (ursa_ndjson_finish(&p)) abort();
    CHECK(b->nrows > rows / 2); /* the narrower schemas reject some records (out of range there) */
    ursa_ndjson_free(&p);
}

static char tmpdir[256];

/* Writes b with o into the store as key, reads every row group back and
 * compares every value. */
static void roundtrip(ursa_store_t *st, const ursa_schema_t *s, const ursa_batch_t *b,
                      const pq_write_opts_t *o, const char *key)
{
    ursa_buf_t file = {0};
    ursa_err_t err = {0};
    pq_writer_t *w = NULL;
    ursa_sink_t sink = {mem_write, &file};
    if (pq_writer_new(&w, s, o, sink, &err) || pq_writer_write(w, b, 0, b->nrows, &err) ||
        pq_writer_close(w, NULL, &err)) {
        fprintf(stderr, "writer: %s\n", err.msg);
        abort();
    }
    pq_writer_destroy(&w);
    CHECK_EQ_INT(ursa_store_put(st, key, file.data, file.len, &err), URSA_OK);
    ursa_buf_free(&file);

    pq_reader_t *r = NULL;
    int rc = pq_reader_open(&r, st, key, &err);
    if (rc) fprintf(stderr, "open %s: %s\n", key, err.msg);
    CHECK_EQ_INT(rc, URSA_OK);
    if (rc) return;
    static int calls; /* every other file decoded on four threads: the same values */
    pq_reader_set_threads(r, ++calls % 2 ? 1 : 4);
    const ursa_schema_t *rs = pq_reader_schema(r);
    CHECK_EQ_INT(rs->nfields, s->nfields);
    for (size_t i = 0; i < s->nfields && i < rs->nfields; i++) {
        CHECK(strcmp(rs->fields[i].name, s->fields[i].name) == 0);
        CHECK_EQ_INT(rs->fields[i].type, s->fields[i].type);
        CHECK(pq_reader_column_why(r, i) == NULL);
        if (s->fields[i].type == URSA_TYPE_DECIMAL) {
            CHECK_EQ_INT(rs->fields[i].precision, s->fields[i].precision);
            CHECK_EQ_INT(rs->fields[i].scale, s->fields[i].scale);
        }
        if (s->fields[i].type == URSA_TYPE_TIMESTAMP) {
            CHECK_EQ_INT(rs->fields[i].unit, s->fields[i].unit);
            CHECK_EQ_INT(rs->fields[i].utc, s->fields[i].utc);
        }
    }
    const pq_file_meta_t *m = pq_reader_meta(r);
    CHECK_EQ_INT(m->num_rows, b->nrows);
    size_t base = 0;
    for (size_t g = 0; g < m->nrow_groups; g++) {
        ursa_batch_t got;
        rc = pq_reader_read(r, g, NULL, 0, &got, &err);
        if (rc) fprintf(stderr, "read %s: %s\n", key, err.msg);
        CHECK_EQ_INT(rc, URSA_OK);
        if (rc) break;
        CHECK_EQ_INT(got.ncols, s->nfields);
        for (size_t c = 0; c < got.ncols; c++) {
            CHECK_EQ_INT(got.cols[c].length, got.nrows);
            size_t bad = 0;
            for (size_t k = 0; k < got.nrows; k++)
                if (!same_row(&b->cols[c], base + k, &got.cols[c], k)) bad++;
            if (bad) fprintf(stderr, "%s: column %s: %zu rows differ\n", key, s->fields[c].name, bad);
            CHECK_EQ_INT(bad, 0);
        }
        base += got.nrows;
        /* Slices (pq_reader_read_rows): the same rows, the pages that hold
         * them found by the offset index. */
        size_t n = got.nrows;
        const size_t sl[4][2] = {
            {0, n / 3}, {n / 3, n / 3 + (n > 40 ? 17 : 0)}, {n > 5 ? n - 5 : 0, n}, {n / 2, n / 2}};
        for (int q = 0; q < 4; q++) {
            ursa_batch_t part;
            rc = pq_reader_read_rows(r, g, NULL, 0, (int64_t)sl[q][0], (int64_t)(sl[q][1] - sl[q][0]), &part,
                                     &err);
            if (rc) fprintf(stderr, "read rows %s: %s\n", key, err.msg);
            CHECK_EQ_INT(rc, URSA_OK);
            if (rc) continue;
            CHECK_EQ_INT(part.nrows, sl[q][1] - sl[q][0]);
            CHECK_EQ_INT(part.ncols, got.ncols);
            size_t bad = 0;
            for (size_t c = 0; c < part.ncols && c < got.ncols; c++) {
                CHECK_EQ_INT(part.cols[c].length, part.nrows);
                for (size_t k = 0; k < sl[q][1] - sl[q][0] && k < part.cols[c].length; k++)
                    bad += !same_row(&got.cols[c], sl[q][0] + k, &part.cols[c], k);
            }
            if (bad) fprintf(stderr, "%s: rows %zu..%zu: %zu values differ\n", key, sl[q][0], sl[q][1], bad);
            CHECK_EQ_INT(bad, 0);
            ursa_batch_free(&part);
        }
        /* The same slices into one batch, each reusing the last's buffers
         * (pq_reader_read_rows_into): the same values. */
        ursa_batch_t into = {0};
        for (int q = 0; q < 4; q++) {
            rc = pq_reader_read_rows_into(r, g, NULL, 0, (int64_t)sl[q][0], (int64_t)(sl[q][1] - sl[q][0]),
                                          &into, &err);
            CHECK_EQ_INT(rc, URSA_OK);
            if (rc) break;
            CHECK_EQ_INT(into.nrows, sl[q][1] - sl[q][0]);
            size_t bad = 0;
            for (size_t c = 0; c < into.ncols && c < got.ncols; c++) {
                CHECK_EQ_INT(into.cols[c].length, into.nrows);
                for (size_t k = 0; k < into.nrows && k < into.cols[c].length; k++)
                    bad += !same_row(&got.cols[c], sl[q][0] + k, &into.cols[c], k);
            }
            CHECK_EQ_INT(bad, 0);
        }
        CHECK_EQ_INT(pq_reader_read_rows_into(r, g, NULL, 0, (int64_t)n, 1, &into, &err), URSA_EINVAL);
        CHECK(into.cols == NULL && into.nrows == 0); /* freed on an error */
        ursa_batch_t none;
        CHECK_EQ_INT(pq_reader_read_rows(r, g, NULL, 0, (int64_t)n, 1, &none, &err), URSA_EINVAL);
        ursa_batch_free(&got);
    }
    CHECK_EQ_INT(base, b->nrows);
    pq_reader_destroy(&r);
    CHECK(r == NULL);
}

static ursa_store_t *open_store(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "test-tmp/pq_read-%d", (int)getpid());
    ursa_store_t *st = NULL;
    ursa_err_t err;
    if (ursa_store_open(tmpdir, NULL, &st, &err)) {
        fprintf(stderr, "store: %s\n", err.msg);
        abort();
    }
    return st;
}

TEST(matrix)
{
    ursa_store_t *st = open_store();
    static const int codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                                 PQ_CODEC_BROTLI,       PQ_CODEC_ZSTD,   PQ_CODEC_LZ4_RAW};
    for (int variant = 0; variant < 3; variant++) {
        ursa_schema_t s;
        ursa_err_t err;
        const char *js = schema_json(variant);
        if (ursa_schema_parse(js, strlen(js), &s, &err)) {
            fprintf(stderr, "schema %d: %s\n", variant, err.msg);
            abort();
        }
        ursa_batch_t b;
        make_batch(&s, &b, 3000);
        for (size_t ci = 0; ci < URSA_ARRAY_LEN(codecs); ci++) {
            for (int pv = 1; pv <= 2; pv++) {
                pq_write_opts_t o;
                pq_write_opts_default(&o);
                o.codec = (pq_codec_t)codecs[ci];
                o.page_version = pv;
                o.row_group_rows = 1100; /* three row groups */
                o.page_bytes = 4096;     /* several pages per chunk */
                o.threads = 1;
                char key[64];
                snprintf(key, sizeof(key), "m/v%d-c%d-p%d.parquet", variant, codecs[ci], pv);
                roundtrip(st, &s, &b, &o, key);
            }
        }
        ursa_batch_free(&b);
        ursa_schema_free(&s);
    }
    ursa_store_destroy(&st);
}

/* page_rows bounds the rows of every data page: 1000 rows in pages of at
 * most 100 are at least 10 pages per column (more where 1 MiB comes first:
 * none here), and read back the same. */
TEST(page_rows)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char *js = schema_json(0);
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    make_batch(&s, &b, 1000);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.threads = 1;
    o.page_rows = 100;
    roundtrip(st, &s, &b, &o, "p/page_rows.parquet");
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "p/page_rows.parquet", &err), URSA_OK);
    ursa_batch_t got;
    CHECK_EQ_INT(pq_reader_read(r, 0, NULL, 0, &got, &err), URSA_OK);
    pq_reader_counters_t ctr;
    pq_reader_get_counters(r, &ctr);
    size_t ncols = pq_reader_schema(r)->nfields, pages = (b.nrows + 99) / 100;
    CHECK_EQ_INT(ctr.pages, pages * ncols);
    ursa_batch_free(&got);
    pq_reader_destroy(&r);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* Pages that close on rows end on multiples of page_rows in every column,
 * even where a column's page closed early on bytes: pq_reader_page_bound
 * finds the rows where every column begins a page, and a slice between two
 * of them decodes exactly its pages. */
TEST(page_bound)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char js[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                      "{\"name\":\"s\",\"type\":\"string\",\"encoding\":\"plain\"}],"
                      "\"time_column\":\"ts\"}";
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK);
    for (size_t i = 0; i < 1000; i++) {
        char v[40];
        memset(v, 'a' + (int)(i % 26), sizeof(v));
        CHECK(ursa_column_append_i64(&b.cols[0], 1767225600000000ll + (int64_t)i) == URSA_OK);
        CHECK(ursa_column_append_str(&b.cols[1], v, sizeof(v)) == URSA_OK);
    }
    b.nrows = 1000;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.threads = 1;
    o.codec = PQ_CODEC_UNCOMPRESSED;
    o.page_rows = 100;
    o.page_bytes = 3000; /* about 68 strings of 44 bytes: s closes pages on bytes too */
    roundtrip(st, &s, &b, &o, "p/page_bound.parquet");
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "p/page_bound.parquet", &err), URSA_OK);
    int64_t e = -1;
    CHECK_EQ_INT(pq_reader_page_bound(r, 0, NULL, 0, 1, 150, &e, &err), URSA_OK);
    CHECK_EQ_INT(e, 100);
    CHECK_EQ_INT(pq_reader_page_bound(r, 0, NULL, 0, 101, 399, &e, &err), URSA_OK);
    CHECK_EQ_INT(e, 300);
    CHECK_EQ_INT(pq_reader_page_bound(r, 0, NULL, 0, 101, 199, &e, &err), URSA_OK);
    CHECK_EQ_INT(e, 199); /* none in between: hi */
    size_t ts = 0;
    CHECK_EQ_INT(pq_reader_page_bound(r, 0, &ts, 1, 101, 199, &e, &err), URSA_OK);
    CHECK_EQ_INT(e, 199);
    CHECK_EQ_INT(pq_reader_page_bound(r, 0, NULL, 0, 1, 1000, &e, &err), URSA_OK);
    CHECK_EQ_INT(e, 1000); /* the row group's end */
    CHECK_EQ_INT(pq_reader_page_bound(r, 0, NULL, 0, 1, 1001, &e, &err), URSA_EINVAL);
    CHECK_EQ_INT(pq_reader_page_bound(r, 1, NULL, 0, 1, 10, &e, &err), URSA_EINVAL);
    /* Rows 200..300: two pages of s (200..268, 268..300), one of ts. */
    pq_reader_counters_t before, after;
    pq_reader_get_counters(r, &before);
    ursa_batch_t got = {0};
    CHECK_EQ_INT(pq_reader_read_rows_into(r, 0, NULL, 0, 200, 100, &got, &err), URSA_OK);
    pq_reader_get_counters(r, &after);
    CHECK_EQ_INT((after.pages - after.pages_skipped) - (before.pages - before.pages_skipped), 3);
    CHECK_EQ_INT(got.nrows, 100);
    for (size_t k = 0; k < got.nrows; k++) {
        CHECK(same_row(&b.cols[0], 200 + k, &got.cols[0], k));
        CHECK(same_row(&b.cols[1], 200 + k, &got.cols[1], k));
    }
    ursa_batch_free(&got);
    pq_reader_destroy(&r);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* Slices read in order (a window at a time, as compaction reads) that end
 * inside pages: each column keeps the rest of the page a slice ended in,
 * and its dictionary, for the next slice, so that the values are those of
 * a whole read and every data page and dictionary is decoded once, on one
 * decoding thread or two. A read of another row group drops what is kept. */
TEST(slices_decode_pages_once)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char js[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                      "{\"name\":\"k\",\"type\":\"string\"},"
                      "{\"name\":\"w\",\"type\":\"string\",\"encoding\":\"plain\"},"
                      "{\"name\":\"i\",\"type\":\"int32\"}],"
                      "\"time_column\":\"ts\"}";
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK);
    for (size_t i = 0; i < 1000; i++) {
        char v[64];
        size_t n = 10 + (i * 7919) % 50; /* w: 10 to 59 bytes, pages closed on bytes at odd rows */
        memset(v, 'a' + (int)(i % 26), n);
        CHECK(ursa_column_append_i64(&b.cols[0], 1767225600000000ll + (int64_t)i) == URSA_OK);
        if (i % 7 == 3)
            CHECK(ursa_column_append_null(&b.cols[1]) == URSA_OK);
        else
            CHECK(ursa_column_append_str(&b.cols[1], i % 3 ? "left" : "right", i % 3 ? 4 : 5) == URSA_OK);
        CHECK(ursa_column_append_str(&b.cols[2], v, n) == URSA_OK);
        int32_t iv = (int32_t)(i * 31);
        CHECK(ursa_column_append_fixed(&b.cols[3], &iv) == URSA_OK);
    }
    b.nrows = 1000;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.threads = 1;
    o.page_rows = 100;
    o.page_bytes = 2500; /* w closes pages on bytes, at rows no other column shares */
    o.row_group_rows = 600;
    roundtrip(st, &s, &b, &o, "p/slices.parquet");
    for (int threads = 1; threads <= 2; threads++) {
        pq_reader_t *r = NULL;
        CHECK_EQ_INT(pq_reader_open(&r, st, "p/slices.parquet", &err), URSA_OK);
        CHECK_EQ_INT(pq_reader_meta(r)->nrow_groups, 2);
        pq_reader_set_threads(r, threads);
        size_t base = 0;
        for (size_t g = 0; g < 2; g++) {
            pq_reader_counters_t c0, c1, c2;
            ursa_batch_t whole = {0}, got = {0};
            pq_reader_get_counters(r, &c0);
            CHECK_EQ_INT(pq_reader_read(r, g, NULL, 0, &whole, &err), URSA_OK);
            pq_reader_get_counters(r, &c1);
            uint64_t pages = c1.pages_decoded - c0.pages_decoded, dicts = c1.dicts_decoded - c0.dicts_decoded;
            CHECK(pages > 4 * whole.nrows / 100); /* w has more pages than the others */
            CHECK(dicts >= 1);                    /* k's */
            int64_t rows = (int64_t)whole.nrows;
            for (int64_t first = 0; first < rows; first += 37) {
                int64_t count = rows - first < 37 ? rows - first : 37;
                CHECK_EQ_INT(pq_reader_read_rows_into(r, g, NULL, 0, first, count, &got, &err), URSA_OK);
                CHECK_EQ_INT(got.nrows, (size_t)count);
                for (size_t c = 0; c < got.ncols; c++)
                    for (int64_t k = 0; k < count; k++) {
                        CHECK(same_row(&whole.cols[c], (size_t)(first + k), &got.cols[c], (size_t)k));
                        CHECK(same_row(&b.cols[c], base + (size_t)(first + k), &got.cols[c], (size_t)k));
                    }
            }
            pq_reader_get_counters(r, &c2);
            CHECK_EQ_INT(c2.pages_decoded - c1.pages_decoded, pages);
            CHECK_EQ_INT(c2.dicts_decoded - c1.dicts_decoded, dicts);
            CHECK(c2.pages_reused - c1.pages_reused > 0);
            base += whole.nrows;
            ursa_batch_free(&got);
            ursa_batch_free(&whole);
        }
        /* Back to row group 0 in the middle of a page: nothing kept from
         * row group 1 is taken for it. */
        ursa_batch_t got = {0};
        CHECK_EQ_INT(pq_reader_read_rows_into(r, 0, NULL, 0, 150, 20, &got, &err), URSA_OK);
        for (size_t c = 0; c < got.ncols; c++)
            for (size_t k = 0; k < 20; k++) CHECK(same_row(&b.cols[c], 150 + k, &got.cols[c], k));
        ursa_batch_free(&got);
        pq_reader_destroy(&r);
    }
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* Codes (pq_reader_set_codes): a dictionary-encoded STRING column read a
 * slice at a time comes as UINT32 codes whose dictionary strings are the
 * column's; a plain one as strings; one whose writer fell back to plain
 * pages part way as strings (its page encoding stats say so), or going by
 * the pages (PQ_CODES_PAGES) as codes up to the slice that meets the first
 * plain page and strings from there on; other types and a whole row
 * group's read, as before. */
TEST(slices_as_codes)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char js[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                      "{\"name\":\"k\",\"type\":\"string\"},"
                      "{\"name\":\"w\",\"type\":\"string\",\"encoding\":\"plain\"},"
                      "{\"name\":\"m\",\"type\":\"string\"},"
                      "{\"name\":\"u\",\"type\":\"uint32\"}],"
                      "\"time_column\":\"ts\"}";
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK);
    for (size_t i = 0; i < 1000; i++) {
        char v[64];
        int n = snprintf(v, sizeof(v), "distinct-%zu-%zu", i, i * 7919);
        CHECK(ursa_column_append_i64(&b.cols[0], 1767225600000000ll + (int64_t)i) == URSA_OK);
        if (i % 7 == 3)
            CHECK(ursa_column_append_null(&b.cols[1]) == URSA_OK);
        else
            CHECK(ursa_column_append_str(&b.cols[1], i % 3 ? "left" : "right", i % 3 ? 4 : 5) == URSA_OK);
        CHECK(ursa_column_append_str(&b.cols[2], v, (size_t)n) == URSA_OK);
        CHECK(ursa_column_append_str(&b.cols[3], v, (size_t)n) == URSA_OK); /* past the dictionary's limit */
        uint32_t u = (uint32_t)i;
        CHECK(ursa_column_append_fixed(&b.cols[4], &u) == URSA_OK);
    }
    b.nrows = 1000;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.threads = 1;
    o.page_rows = 100;
    o.row_group_rows = 600;
    o.dict_max_bytes = 4000; /* m: a dictionary for the first rows, then plain pages */
    roundtrip(st, &s, &b, &o, "p/codes.parquet");
    for (int mode = PQ_CODES_ON; mode <= PQ_CODES_PAGES; mode++) {
        pq_reader_t *r = NULL;
        CHECK_EQ_INT(pq_reader_open(&r, st, "p/codes.parquet", &err), URSA_OK);
        pq_reader_set_codes(r, (pq_codes_t)mode);
        size_t base = 0, coded[5] = {0}, strings[5] = {0}, fallbacks = 0;
        for (size_t g = 0; g < 2; g++) {
            ursa_batch_t got = {0};
            int64_t rows = pq_reader_meta(r)->row_groups[g].num_rows;
            bool m_coded = false, m_str = false; /* m in this row group */
            for (int64_t first = 0; first < rows; first += 37) {
                int64_t count = rows - first < 37 ? rows - first : 37;
                CHECK_EQ_INT(pq_reader_read_rows_into(r, g, NULL, 0, first, count, &got, &err), URSA_OK);
                CHECK_EQ_INT(got.nrows, (size_t)count);
                for (size_t c = 0; c < got.ncols; c++) {
                    const ursa_column_t *col = &got.cols[c];
                    if (c == 0 || c == 4 || col->type == URSA_TYPE_STRING) {
                        CHECK(c != 4 || col->type == URSA_TYPE_UINT32);
                        strings[c]++;
                        if (c == 3) fallbacks += m_coded && !m_str, m_str = true;
                        for (int64_t k = 0; k < count; k++)
                            CHECK(same_row(&b.cols[c], base + (size_t)(first + k), col, (size_t)k));
                        continue;
                    }
                    CHECK_EQ_INT(col->type, URSA_TYPE_UINT32);
                    CHECK(!(c == 3 && m_str)); /* strings once they began, in this row group */
                    coded[c]++;
                    m_coded = m_coded || c == 3;
                    const int64_t *off;
                    const uint8_t *data;
                    size_t nd;
                    uint64_t id;
                    CHECK(pq_reader_codes_dict(r, c, &off, &data, &nd, &id));
                    CHECK(id != 0);
                    for (int64_t k = 0; k < count; k++) {
                        size_t row = base + (size_t)(first + k), n;
                        bool valid = ursa_column_valid(&b.cols[c], row);
                        CHECK_EQ_INT(ursa_column_valid(col, (size_t)k), valid);
                        if (!valid) continue;
                        uint32_t code = ((const uint32_t *)(const void *)col->values.data)[k];
                        CHECK(code < nd);
                        const uint8_t *want = ursa_column_str(&b.cols[c], row, &n);
                        CHECK_EQ_INT((size_t)(off[code + 1] - off[code]), n);
                        CHECK(memcmp(data + off[code], want, n) == 0);
                    }
                }
            }
            base += (size_t)rows;
            ursa_batch_free(&got);
        }
        CHECK(coded[1] > 0 && strings[1] == 0); /* k: codes throughout */
        CHECK(coded[2] == 0 && strings[2] > 0); /* w: plain */
        if (mode == PQ_CODES_ON)                /* m: its page encoding stats name plain pages */
            CHECK(coded[3] == 0 && strings[3] > 0);
        else /* m: by the pages, codes first, strings from the first plain page on, in each row group */
            CHECK(coded[3] > 0 && strings[3] > 0 && fallbacks == 2);
        /* A whole row group: strings, as without codes. */
        ursa_batch_t whole = {0};
        CHECK_EQ_INT(pq_reader_read(r, 0, NULL, 0, &whole, &err), URSA_OK);
        CHECK_EQ_INT(whole.cols[1].type, URSA_TYPE_STRING);
        for (size_t k = 0; k < whole.nrows; k++) CHECK(same_row(&b.cols[1], k, &whole.cols[1], k));
        ursa_batch_free(&whole);
        pq_reader_destroy(&r);
    }
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* Codes on the third-party files of parquet-testing: every STRING column
 * read a slice at a time with codes holds, row by row, what a whole read
 * without them holds (codes looked up in their dictionary) -- writers
 * without page encoding stats, and chunks that fall back to plain pages
 * part way (strings from the slice that meets the first). */
static size_t foreign_coded, foreign_fallback;

static void codes_match_whole(pq_reader_t *r, size_t rg, size_t leaf)
{
    ursa_err_t err;
    ursa_batch_t whole = {0}, got = {0};
    if (pq_reader_read(r, rg, &leaf, 1, &whole, &err) != URSA_OK) return; /* (unreadable here: other tests) */
    int64_t rows = (int64_t)whole.nrows;
    bool was_coded = false;
    for (int64_t first = 0; first < rows; first += 37) {
        int64_t count = rows - first < 37 ? rows - first : 37;
        CHECK_EQ_INT(pq_reader_read_rows_into(r, rg, &leaf, 1, first, count, &got, &err), URSA_OK);
        const ursa_column_t *col = &got.cols[0];
        if (col->type == URSA_TYPE_STRING) {
            foreign_fallback += was_coded;
            was_coded = false;
            for (int64_t k = 0; k < count; k++)
                CHECK(same_row(&whole.cols[0], (size_t)(first + k), col, (size_t)k));
            continue;
        }
        CHECK_EQ_INT(col->type, URSA_TYPE_UINT32);
        foreign_coded += !was_coded;
        was_coded = true;
        const int64_t *off;
        const uint8_t *data;
        size_t nd, n;
        uint64_t id;
        CHECK(pq_reader_codes_dict(r, leaf, &off, &data, &nd, &id));
        for (int64_t k = 0; k < count; k++) {
            bool valid = ursa_column_valid(&whole.cols[0], (size_t)(first + k));
            CHECK_EQ_INT(ursa_column_valid(col, (size_t)k), valid);
            if (!valid) continue;
            uint32_t code = ((const uint32_t *)(const void *)col->values.data)[k];
            CHECK(code < nd);
            const uint8_t *want = ursa_column_str(&whole.cols[0], (size_t)(first + k), &n);
            CHECK(code < nd && (size_t)(off[code + 1] - off[code]) == n &&
                  memcmp(data + off[code], want, n) == 0);
        }
    }
    ursa_batch_free(&got);
    ursa_batch_free(&whole);
}

TEST(codes_foreign)
{
    ursa_store_t *st = NULL;
    ursa_err_t err;
    CHECK_EQ_INT(ursa_store_open(URSA_PARQUET_TESTING "/data", NULL, &st, &err), URSA_OK);
    DIR *d = opendir(URSA_PARQUET_TESTING "/data");
    CHECK(d != NULL);
    size_t files = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 8 || strcmp(e->d_name + len - 8, ".parquet") != 0) continue;
        pq_reader_t *r = NULL;
        if (pq_reader_open(&r, st, e->d_name, &err) != URSA_OK) continue;
        pq_reader_set_codes(r, PQ_CODES_PAGES);
        const pq_file_meta_t *m = pq_reader_meta(r);
        const ursa_schema_t *fs = pq_reader_schema(r);
        for (size_t leaf = 0; leaf < fs->nfields; leaf++) {
            if (fs->fields[leaf].type != URSA_TYPE_STRING || pq_reader_column_why(r, leaf)) continue;
            for (size_t rg = 0; rg < m->nrow_groups && rg < 4; rg++) codes_match_whole(r, rg, leaf);
        }
        pq_reader_destroy(&r);
        files++;
    }
    if (d) closedir(d);
    fprintf(stderr, "  %zu files, %zu chunks with codes, %zu falling back to strings\n", files, foreign_coded,
            foreign_fallback);
    CHECK(files > 50);
    CHECK(foreign_coded > 0); /* (codes need an offset index, which few of these files have) */
    ursa_store_destroy(&st);
}

TEST(projection_and_errors)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char *js = schema_json(0);
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    make_batch(&s, &b, 500);
    ursa_buf_t file = {0};
    pq_writer_t *w = NULL;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    o.threads = 1;
    ursa_sink_t sink = {mem_write, &file};
    if (pq_writer_new(&w, &s, &o, sink, &err) || pq_writer_write(w, &b, 0, b.nrows, &err) ||
        pq_writer_close(w, NULL, &err))
        abort();
    pq_writer_destroy(&w);
    CHECK_EQ_INT(ursa_store_put(st, "p/ok.parquet", file.data, file.len, &err), URSA_OK);

    /* Projection by name: two columns, in the order asked. */
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "p/ok.parquet", &err), URSA_OK);
    int a = pq_reader_find(r, "s"), c = pq_reader_find(r, "u64");
    CHECK(a == 4 && c == 11);
    CHECK_EQ_INT(pq_reader_find(r, "nope"), -1);
    size_t cols[2] = {(size_t)c, (size_t)a};
    ursa_batch_t got;
    CHECK_EQ_INT(pq_reader_read(r, 0, cols, 2, &got, &err), URSA_OK);
    CHECK_EQ_INT(got.ncols, 2);
    CHECK_EQ_INT(got.nrows, 500);
    for (size_t k = 0; k < got.nrows; k++) {
        CHECK(same_row(&b.cols[11], k, &got.cols[0], k));
        CHECK(same_row(&b.cols[4], k, &got.cols[1], k));
    }
    ursa_batch_free(&got);
    CHECK_EQ_INT(pq_reader_read(r, 1, NULL, 0, &got, &err), URSA_EINVAL);
    pq_reader_destroy(&r);

    /* A damaged page: the first column's first value bytes zeroed out past
     * its page header make the values wrong but still decode; flipping
     * the page header's type byte region instead must give an error that
     * names the file, the row group, the column and the page. */
    {
        ursa_buf_t bad = {0};
        CHECK_EQ_INT(ursa_buf_append(&bad, file.data, file.len), URSA_OK);
        memset(bad.data + 4, 0xFF, 16); /* the first page header of the first chunk */
        CHECK_EQ_INT(ursa_store_put(st, "p/bad.parquet", bad.data, bad.len, &err), URSA_OK);
        CHECK_EQ_INT(pq_reader_open(&r, st, "p/bad.parquet", &err), URSA_OK);
        int rc = pq_reader_read(r, 0, NULL, 0, &got, &err);
        CHECK_EQ_INT(rc, URSA_EFORMAT);
        CHECK(strstr(err.msg, "p/bad.parquet") && strstr(err.msg, "row group 0") &&
              strstr(err.msg, "column ts") && strstr(err.msg, "page 0"));
        CHECK_EQ_INT(got.ncols, 0);
        pq_reader_destroy(&r);
        ursa_buf_free(&bad);
    }
    /* Truncated: no footer. */
    CHECK_EQ_INT(ursa_store_put(st, "p/short.parquet", file.data, file.len / 2, &err), URSA_OK);
    CHECK_EQ_INT(pq_reader_open(&r, st, "p/short.parquet", &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "p/short.parquet") != NULL);
    CHECK(r == NULL);
    /* Missing. */
    CHECK_EQ_INT(pq_reader_open(&r, st, "p/none.parquet", &err), URSA_ENOTFOUND);

    ursa_buf_free(&file);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* A file with nested columns opens; its flat columns read; projecting a
 * nested one is URSA_ENOTSUP naming it. */
TEST(nested_file)
{
    ursa_store_t *st = NULL;
    ursa_err_t err;
    CHECK_EQ_INT(ursa_store_open(URSA_PARQUET_TESTING "/data", NULL, &st, &err), URSA_OK);
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "nested_maps.snappy.parquet", &err), URSA_OK);
    int a = pq_reader_find(r, "a.key_value.key"), b = pq_reader_find(r, "b"), c = pq_reader_find(r, "c");
    CHECK(a >= 0 && b >= 0 && c >= 0);
    CHECK(pq_reader_column_why(r, (size_t)a) != NULL);
    CHECK(pq_reader_column_why(r, (size_t)b) == NULL);
    size_t cols[2] = {(size_t)b, (size_t)c};
    ursa_batch_t got;
    CHECK_EQ_INT(pq_reader_read(r, 0, cols, 2, &got, &err), URSA_OK);
    CHECK_EQ_INT(got.nrows, 6);
    CHECK_EQ_INT(got.cols[0].type, URSA_TYPE_INT32);
    CHECK_EQ_INT(ursa_column_ptr(&got.cols[0], 0)[0], 1);
    CHECK_EQ_INT(got.cols[1].type, URSA_TYPE_FLOAT64);
    CHECK(ursa_column_f64(&got.cols[1], 0) == 1.0);
    ursa_batch_free(&got);
    size_t bad[2] = {(size_t)b, (size_t)a};
    CHECK_EQ_INT(pq_reader_read(r, 0, bad, 2, &got, &err), URSA_ENOTSUP);
    CHECK(strstr(err.msg, "nested_maps.snappy.parquet") && strstr(err.msg, "column a.key_value.key"));
    CHECK(got.ncols == 0 && got.cols == NULL);
    pq_reader_destroy(&r);
    ursa_store_destroy(&st);
}

/* A footer longer than the 64 KiB tail: read with a second ranged read. */
TEST(long_footer)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char *js = schema_json(1);
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    make_batch(&s, &b, 100);
    char *big = malloc(200001);
    if (!big) abort();
    memset(big, 'x', 200000);
    big[200000] = 0;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.threads = 1;
    o.kv_key = "big";
    o.kv_value = big;
    roundtrip(st, &s, &b, &o, "f/long-footer.parquet");
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "f/long-footer.parquet", &err), URSA_OK);
    const pq_file_meta_t *m = r ? pq_reader_meta(r) : NULL;
    bool found = false;
    for (size_t i = 0; m && i < m->nkv; i++)
        if (!strcmp(m->kv[i].key, "big")) found = m->kv[i].value && strlen(m->kv[i].value) == 200000;
    CHECK(found);
    pq_reader_destroy(&r);
    free(big);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

/* ursa_value_json on what foreign files can hold: strings that are not
 * UTF-8, json text over several lines, json that is not JSON. */
TEST(value_json_foreign)
{
    ursa_field_t fs = {.type = URSA_TYPE_STRING}, fj = {.type = URSA_TYPE_JSON};
    ursa_column_t s, j;
    ursa_column_init_field(&s, &fs);
    ursa_column_init_field(&j, &fj);
    CHECK_EQ_INT(ursa_column_append_str(&s, "a\xff\xc3\xa9\xed\xa0\x80", 7), URSA_OK);
    CHECK_EQ_INT(ursa_column_append_str(&j, "{\n\"a\":\r\n1}", 10), URSA_OK);
    CHECK_EQ_INT(ursa_column_append_str(&j, "not json", 8), URSA_OK);
    ursa_buf_t out = {0};
    CHECK_EQ_INT(ursa_value_json(&s, &fs, 0, &out), URSA_OK);
    CHECK_EQ_INT(ursa_buf_push(&out, '|'), URSA_OK);
    CHECK_EQ_INT(ursa_value_json(&j, &fj, 0, &out), URSA_OK);
    CHECK_EQ_INT(ursa_buf_push(&out, '|'), URSA_OK);
    CHECK_EQ_INT(ursa_value_json(&j, &fj, 1, &out), URSA_OK);
    const char want[] =
        "\"a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"|{ \"a\":  1}|\"not json\"";
    if (out.len != sizeof(want) - 1 || memcmp(out.data, want, out.len))
        fprintf(stderr, "got %.*s\n", (int)out.len, (const char *)out.data);
    CHECK_EQ_INT(out.len, sizeof(want) - 1);
    CHECK_MEM(out.data, want, sizeof(want) - 1);
    ursa_buf_free(&out);
    ursa_column_free(&s);
    ursa_column_free(&j);
}

/* Inputs the fuzzer (fuzz/fuzz_read.c) found, each now an error. */
static const uint8_t ZERO_LENGTH_CHUNK[] =
    {/* a column chunk of 0 bytes for 3 rows: UB (NULL + 0) once */
     0x50, 0x41, 0x52, 0x31, 0x15, 0x04, 0x15, 0x08, 0x15, 0x08, 0x4c, 0x35, 0x04, 0x15, 0x00, 0x12, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x7e, 0x15, 0x00, 0x15, 0x12, 0x15, 0x12, 0x2c, 0x15, 0x06, 0x15, 0x10, 0x15,
     0x06, 0x15, 0x06, 0x1c, 0x18, 0x02, 0x00, 0x00, 0x18, 0x02, 0x00, 0x80, 0x16, 0x02, 0x28, 0x02, 0x00,
     0x00, 0x18, 0x02, 0x00, 0x80, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x06, 0x01, 0x03, 0x02,
     0x26, 0x00, 0x00, 0x00, 0x15, 0x04, 0x19, 0x2c, 0x35, 0x00, 0x18, 0x06, 0x73, 0x63, 0x68, 0x65, 0x6d,
     0x61, 0x15, 0x02, 0x00, 0x15, 0x0e, 0x15, 0x04, 0x15, 0x02, 0x18, 0x01, 0x78, 0x6c, 0xfc, 0x00, 0x00,
     0x00, 0x16, 0x06, 0x19, 0x1c, 0x19, 0x1c, 0x26, 0x88, 0x01, 0x1c, 0x15, 0x0e, 0x19, 0x35, 0x00, 0x06,
     0x10, 0x19, 0x18, 0x01, 0x78, 0x15, 0x00, 0x16, 0x06, 0x16, 0x80, 0x01, 0x16, 0x80, 0x00, 0x26, 0x2c,
     0x26, 0x08, 0x1c, 0x18, 0x02, 0x00, 0x00, 0x18, 0x02, 0x00, 0x80, 0x16, 0x02, 0x28, 0x02, 0x00, 0x00,
     0x18, 0x02, 0x00, 0x80, 0x00, 0x19, 0x2c, 0x15, 0x04, 0x15, 0x00, 0x15, 0x02, 0x00, 0x15, 0x00, 0x15,
     0x10, 0x15, 0x02, 0x00, 0x00, 0x00, 0x16, 0x80, 0x01, 0x16, 0x06, 0x26, 0x08, 0x16, 0x80, 0x01, 0x14,
     0x00, 0x00, 0x19, 0x1c, 0x18, 0x0c, 0x41, 0x52, 0x52, 0x4f, 0x57, 0x3a, 0x73, 0x63, 0x68, 0x65, 0x6d,
     0x61, 0x18, 0xa0, 0x01, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x33, 0x41, 0x41, 0x41, 0x41, 0x41, 0x51, 0x41,
     0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x4b, 0x41, 0x41, 0x77, 0x41, 0x42, 0x67, 0x41, 0x46, 0x41, 0x41,
     0x67, 0x41, 0x43, 0x67, 0x41, 0x41, 0x41, 0x41, 0x41, 0x42, 0x42, 0x41, 0x41, 0x4d, 0x41, 0x41, 0x41,
     0x41, 0x43, 0x41, 0x41, 0x49, 0x41, 0x41, 0x41, 0x41, 0x42, 0x41, 0x41, 0x49, 0x41, 0x41, 0x41, 0x41,
     0x42, 0x41, 0x41, 0x41, 0x41, 0x41, 0x45, 0x41, 0x41, 0x41, 0x41, 0x55, 0x41, 0x41, 0x41, 0x41, 0x45,
     0x41, 0x41, 0x55, 0x41, 0x41, 0x67, 0x41, 0x42, 0x67, 0x41, 0x48, 0x41, 0x41, 0x77, 0x41, 0x41, 0x41,
     0x41, 0x51, 0x41, 0x42, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x45, 0x44, 0x45, 0x41, 0x41,
     0x41, 0x41, 0x42, 0x67, 0x41, 0x41, 0x41, 0x41, 0x45, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
     0x41, 0x41, 0x45, 0x41, 0x41, 0x41, 0x42, 0x34, 0x41, 0x41, 0x41, 0x41, 0x42, 0x41, 0x40, 0x45, 0x41,
     0x41, 0x51, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x00, 0x18, 0x29, 0x70, 0x61, 0x72,
     0x71, 0x75, 0x65, 0x74, 0x2d, 0x63, 0x70, 0x70, 0x2d, 0x61, 0x72, 0x72, 0x6f, 0x77, 0x20, 0x76, 0x65,
     0x72, 0x73, 0x69, 0x6f, 0x6e, 0x20, 0x31, 0x35, 0x2e, 0x30, 0x2e, 0x30, 0x2d, 0x53, 0x4e, 0x41, 0x50,
     0x53, 0x48, 0x4f, 0x54, 0x19, 0x1c, 0x1c, 0x00, 0x00, 0x00, 0x5a, 0x01, 0x00, 0x00, 0x50, 0x41, 0x52,
     0x31};

/* Field ids (Iceberg's) written into the schema elements and read back. */
TEST(field_ids)
{
    ursa_store_t *st = open_store();
    ursa_schema_t s;
    ursa_err_t err;
    const char *js = schema_json(1);
    if (ursa_schema_parse(js, strlen(js), &s, &err)) abort();
    ursa_batch_t b;
    make_batch(&s, &b, 50);
    int32_t ids[16];
    for (size_t i = 0; i < s.nfields; i++) ids[i] = (int32_t)(100 + 3 * i);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.field_ids = ids;
    o.threads = 1;
    roundtrip(st, &s, &b, &o, "ids/a.parquet");
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "ids/a.parquet", &err), URSA_OK);
    const pq_file_meta_t *m = pq_reader_meta(r);
    CHECK(!m->schema[0].has_field_id);
    for (size_t i = 0; i < s.nfields; i++) {
        CHECK(m->schema[i + 1].has_field_id);
        CHECK_EQ_INT(m->schema[i + 1].field_id, 100 + 3 * (int)i);
    }
    pq_reader_destroy(&r);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    ursa_store_destroy(&st);
}

TEST(fuzz_regressions)
{
    ursa_store_t *st = open_store();
    ursa_err_t err;
    CHECK_EQ_INT(ursa_store_put(st, "z/zero.parquet", ZERO_LENGTH_CHUNK, sizeof(ZERO_LENGTH_CHUNK), &err),
                 URSA_OK);
    pq_reader_t *r = NULL;
    CHECK_EQ_INT(pq_reader_open(&r, st, "z/zero.parquet", &err), URSA_OK);
    ursa_batch_t b;
    CHECK_EQ_INT(pq_reader_read(r, 0, NULL, 0, &b, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "row group 0, column x: 0 values in the chunk's pages, 3 rows in the row group") !=
          NULL);
    pq_reader_destroy(&r);
    ursa_store_destroy(&st);
}

int main(void)
{
    RUN(field_ids);
    RUN(fuzz_regressions);
    RUN(value_json_foreign);
    RUN(matrix);
    RUN(projection_and_errors);
    RUN(page_rows);
    RUN(page_bound);
    RUN(slices_decode_pages_once);
    RUN(slices_as_codes);
    RUN(codes_foreign);
    RUN(nested_file);
    RUN(long_footer);
    if (!test_failed_count && tmpdir[0]) { /* kept for a look when a test failed */
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return TEST_EXIT();
}
