/* Unit tests for ingest_body: gzip and zstd streams, the decompressed-size
 * cap, and JSON arrays cut into records. */
#include "ingest_body.h"
#include "test.h"

#include <stdlib.h>

static const char SCHEMA[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"n\",\"type\":\"int64\"}]}";

typedef struct fx {
    ursa_schema_t s;
    ursa_batch_t b;
    ursa_ndjson_t scan;
    ursa_body_t in;
} fx_t;

static void setup(fx_t *f, ursa_format_t fmt, ursa_content_encoding_t ce, uint64_t max_out)
{
    ursa_err_t err;
    if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &f->s, &err) || ursa_batch_init(&f->b, &f->s) ||
        ursa_ndjson_init(&f->scan, &f->s, &f->b, 0) || ursa_body_init(&f->in, fmt, ce, &f->scan, max_out))
        abort();
}

static void teardown(fx_t *f)
{
    ursa_body_free(&f->in);
    ursa_ndjson_free(&f->scan);
    ursa_batch_free(&f->b);
    ursa_schema_free(&f->s);
}

/* Feeds body in pieces of `piece` bytes; returns the first error code. */
static int feed(fx_t *f, const void *body, size_t n, size_t piece, ursa_err_t *err)
{
    const uint8_t *p = body;
    for (size_t off = 0; off < n; off += piece) {
        int rc = ursa_body_feed(&f->in, p + off, n - off < piece ? n - off : piece, err);
        if (rc) return rc;
    }
    return ursa_body_finish(&f->in, err);
}

static const char ROWS[] =
    "{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}\n{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":\"x\"}\n"
    "{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":3}\n";

static size_t gz(const void *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY); /* +16: gzip framing */
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t k = z.total_out;
    deflateEnd(&z);
    return k;
}

TEST(gzip_and_zstd_in_any_pieces)
{
    uint8_t g[4096], zs[4096];
    size_t gn = gz(ROWS, sizeof(ROWS) - 1, g, sizeof(g));
    size_t zn = ZSTD_compress(zs, sizeof(zs), ROWS, sizeof(ROWS) - 1, 3);
    CHECK(!ZSTD_isError(zn));
    if (gn == 0 || gn > 4000 || ZSTD_isError(zn)) return;
    for (size_t piece = 1; piece <= gn + 1; piece++) {
        fx_t f;
        ursa_err_t err = {0};
        setup(&f, URSA_FMT_NDJSON, URSA_CE_GZIP, 1 << 20);
        CHECK_EQ_INT(feed(&f, g, gn, piece, &err), URSA_OK);
        CHECK(f.b.nrows == 2 && f.scan.rejected == 1 && f.scan.errors[0].row == 2);
        teardown(&f);
    }
    for (size_t piece = 1; piece <= zn + 1; piece += 3) {
        fx_t f;
        ursa_err_t err = {0};
        setup(&f, URSA_FMT_NDJSON, URSA_CE_ZSTD, 1 << 20);
        CHECK_EQ_INT(feed(&f, zs, zn, piece, &err), URSA_OK);
        CHECK(f.b.nrows == 2 && f.scan.rejected == 1);
        teardown(&f);
    }
    /* Two gzip members back to back, as `cat a.gz b.gz` makes. */
    uint8_t two[8192];
    memcpy(two, g, gn);
    memcpy(two + gn, g, gn);
    fx_t f;
    ursa_err_t err = {0};
    setup(&f, URSA_FMT_NDJSON, URSA_CE_GZIP, 1 << 20);
    CHECK_EQ_INT(feed(&f, two, 2 * gn, 7, &err), URSA_OK);
    CHECK_EQ_INT(f.b.nrows, 4);
    teardown(&f);
}

TEST(broken_and_truncated_streams)
{
    uint8_t g[4096];
    size_t gn = gz(ROWS, sizeof(ROWS) - 1, g, sizeof(g));
    fx_t f;
    ursa_err_t err = {0};
    setup(&f, URSA_FMT_NDJSON, URSA_CE_GZIP, 1 << 20);
    CHECK_EQ_INT(feed(&f, "not gzip at all", 15, 15, &err), URSA_EFORMAT);
    teardown(&f);
    setup(&f, URSA_FMT_NDJSON, URSA_CE_GZIP, 1 << 20);
    CHECK_EQ_INT(feed(&f, g, gn - 5, 64, &err), URSA_EFORMAT); /* cut before its end */
    teardown(&f);
    setup(&f, URSA_FMT_NDJSON, URSA_CE_ZSTD, 1 << 20);
    CHECK_EQ_INT(feed(&f, "\x28\xb5\x2f\xfd garbage", 12, 12, &err), URSA_EFORMAT);
    teardown(&f);
}

TEST(zip_bomb_hits_the_cap)
{
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(1, big), *g = malloc(1 << 20);
    size_t gn = gz(zeros, big, g, 1 << 20);
    CHECK(gn < 200000); /* 64 MiB of zeros in well under 200 KB */
    fx_t f;
    ursa_err_t err = {0};
    setup(&f, URSA_FMT_NDJSON, URSA_CE_GZIP, 1 << 20);
    size_t before = ursa_mem_used();
    CHECK_EQ_INT(feed(&f, g, gn, 4096, &err), URSA_ELIMIT);
    CHECK(ursa_mem_used() - before < (8u << 20)); /* never near the expanded size */
    teardown(&f);
    free(zeros);
    free(g);
}

static void array_case(const char *body, size_t want_rows, uint64_t want_rejected, size_t piece)
{
    fx_t f;
    ursa_err_t err = {0};
    setup(&f, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, 1 << 20);
    CHECK_EQ_INT(feed(&f, body, strlen(body), piece, &err), URSA_OK);
    if (f.b.nrows != want_rows || f.scan.rejected != want_rejected)
        fprintf(stderr, "%s (piece %zu): %zu rows, %llu rejected\n", body, piece, f.b.nrows,
                (unsigned long long)f.scan.rejected);
    CHECK_EQ_INT(f.b.nrows, want_rows);
    CHECK_EQ_INT(f.scan.rejected, want_rejected);
    teardown(&f);
}

TEST(json_arrays)
{
    static const struct {
        const char *body;
        size_t rows;
        uint64_t rejected;
    } cases[] = {
        {"[]", 0, 0},
        {" [ ] ", 0, 0},
        {"", 0, 0},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}]", 1, 0},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1},{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":2}]", 2, 0},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1,\"x\":[1,{\"a\":\"],}\"}]},5,\"s\",null]", 1, 3},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1},]", 1, 1},
        {"[,{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}]", 1, 1},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":\"\\\"]\"}]", 0, 1},
        {"{\"ts\":\"2024-01-01T00:00:00Z\"}", 0, 1},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}", 0, 1},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}] x", 1, 1},
        {"[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}]\n\n", 1, 0},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(cases); i++)
        for (size_t piece = 1; piece <= 64; piece = piece * 2 + 1)
            array_case(cases[i].body, cases[i].rows, cases[i].rejected, piece);
}

TEST(content_types_and_encodings)
{
    CHECK_EQ_INT(ursa_body_format("application/x-ndjson; charset=utf-8"), URSA_FMT_NDJSON);
    CHECK_EQ_INT(ursa_body_format("Application/JSON"), URSA_FMT_JSON_ARRAY);
    CHECK_EQ_INT(ursa_body_format("text/plain"), -1);
    CHECK_EQ_INT(ursa_body_format(NULL), -1);
    CHECK_EQ_INT(ursa_body_encoding(NULL), URSA_CE_IDENTITY);
    CHECK_EQ_INT(ursa_body_encoding("GZIP"), URSA_CE_GZIP);
    CHECK_EQ_INT(ursa_body_encoding("zstd"), URSA_CE_ZSTD);
    CHECK_EQ_INT(ursa_body_encoding("br"), -1);
}

/* Collects the raw text the error callback sees, one "row|raw|truncated" line each. */
static void collect_raw(void *ctx, const ursa_row_error_t *e)
{
    ursa_buf_t *b = ctx;
    CHECK(ursa_buf_printf(b, "%llu|%.*s|%d\n", (unsigned long long)e->row, (int)e->raw_len,
                          e->raw ? e->raw : "", e->raw_truncated) == URSA_OK);
}

/* A rejected JSON-array element reaches the callback as its text, without
 * the blanks and commas around it. */
TEST(raw_text_of_rejected_array_elements)
{
    static const char body[] =
        "[ {\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1},\n  {\"ts\":\"2024-01-01T00:00:00Z\",\"n\":\"x\"} ,"
        "[1, 2], {\"n\":3}\n]";
    static const char want[] =
        "2|{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":\"x\"}|0\n3|[1, 2]|0\n4|{\"n\":3}|0\n";
    for (size_t piece = 1; piece <= sizeof(body); piece++) {
        fx_t f;
        ursa_buf_t got = {0};
        ursa_err_t err;
        setup(&f, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, 1 << 20);
        f.scan.on_error = collect_raw;
        f.scan.on_error_ctx = &got;
        CHECK_EQ_INT(feed(&f, body, sizeof(body) - 1, piece, &err), URSA_OK);
        CHECK(got.len == sizeof(want) - 1 && memcmp(got.data, want, got.len) == 0);
        CHECK_EQ_INT(f.b.nrows, 1);
        ursa_buf_free(&got);
        teardown(&f);
    }
}

/* Found by fuzz_array: an over-long element reached the callback as however
 * much of it the earlier pieces had brought (1 to max_record bytes), so what
 * the quarantine keeps depended on how the body was cut. Now it is always
 * the element's first max_record bytes, as for NDJSON and CSV records. And
 * its error named no rule, where NDJSON's names "max_record N bytes". */
TEST(over_long_array_element_raw_is_its_start_however_cut)
{
    static const char body[] = "[{\"n\":1},  {\"ts\":\"2024-01-01T00:00:00Z\",\"n\":22222}, {\"n\":3}]";
    static const char want[] = "1|{\"n\":1}|0\n2|  {\"ts\":\"2024-01-01T00:0|1\n3|{\"n\":3}|0\n";
    for (size_t piece = 1; piece <= sizeof(body); piece++) {
        fx_t f;
        ursa_buf_t got = {0};
        ursa_err_t err;
        setup(&f, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, 1 << 20);
        ursa_ndjson_free(&f.scan); /* again with a 24-byte record limit */
        if (ursa_ndjson_init(&f.scan, &f.s, &f.b, 24)) abort();
        f.scan.on_error = collect_raw;
        f.scan.on_error_ctx = &got;
        CHECK_EQ_INT(feed(&f, body, sizeof(body) - 1, piece, &err), URSA_OK);
        if (got.len != sizeof(want) - 1 || memcmp(got.data, want, got.len) != 0) {
            fprintf(stderr, "pieces of %zu bytes: got\n%.*s", piece, (int)got.len, (const char *)got.data);
            CHECK(false);
        }
        CHECK_EQ_INT(f.b.nrows, 0);
        /* The rule, as for NDJSON (an array element gave none). */
        CHECK(f.scan.nerrors == 3 && strcmp(f.scan.errors[1].rule, "max_record 24 bytes") == 0);
        ursa_buf_free(&got);
        teardown(&f);
    }
}

/* Found by fuzz_array: an error's line counted the elements handed to the
 * scanner, not the body's lines (the user guide: "line, its first line in
 * the body"); over-long elements did not count at all. Each error now names
 * the line where its element (or the structural fault) starts. */
TEST(array_errors_name_body_lines)
{
    static const char body[] =
        "[\n  {\"n\":1},\n  {\"ts\":\"2024-01-01T00:00:00Z\",\n   \"n\":\"x\"},\n\n"
        "  {\"ts\":\"2024-01-01T00:00:00Z\",\"n\":3}, ,\n {\"n\":4}, {\"ts\":\"2024-01-01T00:00:00Z\","
        "\"n\":55555555555555}\n] x";
    static const uint64_t want_row[] = {1, 2, 4, 5, 6, 7}, want_line[] = {2, 3, 6, 7, 7, 8};
    for (size_t piece = 1; piece <= sizeof(body); piece++) {
        fx_t f;
        ursa_err_t err;
        setup(&f, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, 1 << 20);
        ursa_ndjson_free(&f.scan); /* again with a 48-byte record limit: element 6 is too long */
        if (ursa_ndjson_init(&f.scan, &f.s, &f.b, 48)) abort();
        CHECK_EQ_INT(feed(&f, body, sizeof(body) - 1, piece, &err), URSA_OK);
        CHECK_EQ_INT(f.scan.records, 7);
        CHECK_EQ_INT(f.scan.nerrors, 6);
        for (size_t i = 0; i < f.scan.nerrors && i < 6; i++) {
            CHECK_EQ_INT(f.scan.errors[i].row, want_row[i]);
            CHECK_EQ_INT(f.scan.errors[i].line, want_line[i]);
        }
        teardown(&f);
    }
    /* An over-long element whose first 48 bytes are line ends: the line of
     * its byte past the limit (found by fuzz_array: it was where the piece
     * holding the overflow ended). */
    char body2[128] = "[1,";
    memset(body2 + 3, '\n', 70);
    memcpy(body2 + 73, "2]", 3);
    for (size_t piece = 1; piece <= 76; piece++) {
        fx_t f;
        ursa_err_t err;
        setup(&f, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, 1 << 20);
        ursa_ndjson_free(&f.scan);
        if (ursa_ndjson_init(&f.scan, &f.s, &f.b, 48)) abort();
        CHECK_EQ_INT(feed(&f, body2, strlen(body2), piece, &err), URSA_OK);
        CHECK_EQ_INT(f.scan.nerrors, 2);
        if (f.scan.nerrors == 2) {
            CHECK_EQ_INT(f.scan.errors[0].line, 1);
            CHECK_EQ_INT(f.scan.errors[1].line, 49);
        }
        teardown(&f);
    }
}

/* An array element's error value stops at the value's end, as in NDJSON,
 * however the body is cut. */
TEST(array_error_values_stop_at_the_value_end)
{
    static const char body[] = "[{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":12abc , \"x\":[1]},\n"
                               " {\"n\":[1,\"],\"x] ,\"ts\":\"2024-01-01T00:00:00Z\"},\n"
                               " {\"ts\":\"2024-01-01T00:00:00Z\",\"n\":tru},\n"
                               " {\"ts\":\"2024-01-01T00:00:00Z\",\"n\":3}]";
    for (size_t piece = 1; piece <= sizeof(body); piece++) {
        fx_t f;
        ursa_err_t err = {0};
        setup(&f, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, 1 << 20);
        CHECK_EQ_INT(feed(&f, body, sizeof(body) - 1, piece, &err), URSA_OK);
        CHECK_EQ_INT(f.b.nrows, 1);
        CHECK_EQ_INT(f.scan.nerrors, 3);
        if (f.scan.nerrors == 3) {
            CHECK(!strcmp(f.scan.errors[0].value, "12abc"));
            CHECK(!strcmp(f.scan.errors[1].value, "[1,\"],\"x]"));
            CHECK(!strcmp(f.scan.errors[2].value, "tru"));
        }
        teardown(&f);
    }
}

/* Feeds body cut at a and b (0 <= a <= b <= n: three pieces, some empty). */
static int feed3(fx_t *f, const void *body, size_t n, size_t a, size_t b, ursa_err_t *err)
{
    const uint8_t *p = body;
    int rc = ursa_body_feed(&f->in, p, a, err);
    if (rc == URSA_OK) rc = ursa_body_feed(&f->in, p + a, b - a, err);
    if (rc == URSA_OK) rc = ursa_body_feed(&f->in, p + b, n - b, err);
    return rc ? rc : ursa_body_finish(&f->in, err);
}

#define BOM_S "\xEF\xBB\xBF"
#define ROW1  "{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":1}"
#define ROW2  "{\"ts\":\"2024-01-01T00:00:00Z\",\"n\":2}"

/* A byte order mark at the start of an NDJSON or JSON-array body is
 * skipped, wherever the pieces cut it, also inside gzip and zstd; one that
 * is not whole, or a second one, is data. */
TEST(byte_order_mark_is_skipped_however_cut)
{
    static const struct {
        ursa_format_t fmt;
        const char *body;
        uint64_t rows, rejected;
    } cases[] = {
        {URSA_FMT_NDJSON, BOM_S ROW1 "\n" ROW2 "\n", 2, 0},
        {URSA_FMT_NDJSON, BOM_S ROW1, 1, 0},
        {URSA_FMT_NDJSON, BOM_S, 0, 0},
        {URSA_FMT_NDJSON, BOM_S "\n", 0, 0},
        {URSA_FMT_NDJSON, "\xEF\xBB" ROW1 "\n" ROW2 "\n", 1, 1}, /* not a whole mark: data */
        {URSA_FMT_NDJSON, "\xEF", 0, 1},
        {URSA_FMT_NDJSON, BOM_S BOM_S ROW1 "\n" ROW2, 1, 1}, /* a second mark is data */
        {URSA_FMT_NDJSON, ROW1 "\n" BOM_S ROW2 "\n", 1, 1},  /* so is one past the start */
        {URSA_FMT_JSON_ARRAY, BOM_S "[" ROW1 "," ROW2 "]", 2, 0},
        {URSA_FMT_JSON_ARRAY, BOM_S " [\n" ROW1 "]\n", 1, 0},
        {URSA_FMT_JSON_ARRAY, BOM_S "[]", 0, 0},
        {URSA_FMT_JSON_ARRAY, "\xEF\xBB\xBE[" ROW1 "]", 0, 1},
        {URSA_FMT_JSON_ARRAY, "\xEF\xBB", 0, 1},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(cases); i++) {
        const char *body = cases[i].body;
        size_t n = strlen(body);
        for (size_t a = 0; a <= n; a++) {
            for (size_t b = a; b <= n; b++) {
                fx_t f;
                ursa_err_t err = {0};
                setup(&f, cases[i].fmt, URSA_CE_IDENTITY, 1 << 20);
                CHECK_EQ_INT(feed3(&f, body, n, a, b, &err), URSA_OK);
                if (f.b.nrows != cases[i].rows || f.scan.rejected != cases[i].rejected) {
                    fprintf(stderr, "case %zu cut at %zu, %zu: %zu rows, %llu rejected\n", i, a, b, f.b.nrows,
                            (unsigned long long)f.scan.rejected);
                    test_cur_failed = 1;
                }
                if (cases[i].rows == 2 && f.b.nrows == 2) CHECK(ursa_column_i64(&f.b.cols[1], 0) == 1);
                teardown(&f);
            }
        }
        /* Compressed: the mark is in the decompressed bytes, which come out
         * in pieces as the compressed ones are cut. */
        uint8_t g[4096], zs[4096];
        size_t gn = gz(body, n, g, sizeof(g));
        size_t zn = ZSTD_compress(zs, sizeof(zs), body, n, 3);
        CHECK(gn > 0 && !ZSTD_isError(zn));
        for (int z = 0; z < 2; z++) {
            const uint8_t *cb = z ? zs : g;
            size_t cn = z ? zn : gn;
            for (size_t a = 0; a <= cn; a++) {
                fx_t f;
                ursa_err_t err = {0};
                setup(&f, cases[i].fmt, z ? URSA_CE_ZSTD : URSA_CE_GZIP, 1 << 20);
                CHECK_EQ_INT(feed3(&f, cb, cn, a, a, &err), URSA_OK);
                CHECK(f.b.nrows == cases[i].rows && f.scan.rejected == cases[i].rejected);
                teardown(&f);
            }
            fx_t f;
            ursa_err_t err = {0};
            setup(&f, cases[i].fmt, z ? URSA_CE_ZSTD : URSA_CE_GZIP, 1 << 20);
            CHECK_EQ_INT(feed(&f, cb, cn, 1, &err), URSA_OK); /* byte by byte */
            CHECK(f.b.nrows == cases[i].rows && f.scan.rejected == cases[i].rejected);
            teardown(&f);
        }
    }
}

int main(void)
{
    RUN(array_errors_name_body_lines);
    RUN(over_long_array_element_raw_is_its_start_however_cut);
    RUN(raw_text_of_rejected_array_elements);
    RUN(gzip_and_zstd_in_any_pieces);
    RUN(broken_and_truncated_streams);
    RUN(zip_bomb_hits_the_cap);
    RUN(json_arrays);
    RUN(byte_order_mark_is_skipped_however_cut);
    RUN(array_error_values_stop_at_the_value_end);
    RUN(content_types_and_encodings);
    return TEST_EXIT();
}
