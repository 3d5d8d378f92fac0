/* Unit tests for the scanner on every column type: values, range checks,
 * and the reasons for rejected values. */
#include "ingest_json.h"
#include "one_column.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

/* Asserts that exactly the lines at the given 1-based positions were
 * rejected (mask bit i-1), each reason containing `why` when given. */
static void expect_rejected(one_t *o, uint64_t mask, const char *why)
{
    uint64_t got = 0;
    for (size_t i = 0; i < o->p.nerrors; i++) {
        got |= 1ULL << (o->p.errors[i].line - 1);
        if (why && !strstr(o->p.errors[i].reason, why))
            fprintf(stderr, "line %llu: reason \"%s\" lacks \"%s\"\n",
                    (unsigned long long)o->p.errors[i].line, o->p.errors[i].reason, why);
    }
    if (got != mask)
        fprintf(stderr, "rejected mask %#llx, want %#llx\n", (unsigned long long)got,
                (unsigned long long)mask);
    CHECK(got == mask);
}

TEST(narrow_integers)
{
    one_t o;
    run(&o, "{\"name\":\"x\",\"type\":\"int8\"}", LINES("-128", "127", "128", "-129", "0", "1.0", "\"5\""));
    expect_rejected(&o, 0x6c, NULL);
    CHECK_EQ_INT(o.batch.nrows, 3);
    CHECK_EQ_INT(o.batch.cols[0].width, 1);
    const int8_t *v = (const int8_t *)o.batch.cols[0].values.data;
    CHECK(v[0] == -128 && v[1] == 127 && v[2] == 0);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"uint8\"}", LINES("255", "256", "-1", "0", "-0"));
    expect_rejected(&o, 0x6, NULL);
    CHECK(strstr(o.p.errors[1].reason, "negative"));
    CHECK_EQ_INT(o.batch.nrows, 3);
    CHECK(o.batch.cols[0].values.data[0] == 255);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"int16\"}", LINES("-32768", "32767", "32768"));
    expect_rejected(&o, 0x4, "out of range");
    done(&o);
    run(&o, "{\"name\":\"x\",\"type\":\"uint16\"}", LINES("65535", "65536"));
    expect_rejected(&o, 0x2, NULL);
    done(&o);
    run(&o, "{\"name\":\"x\",\"type\":\"int32\"}", LINES("-2147483648", "2147483647", "2147483648"));
    expect_rejected(&o, 0x4, NULL);
    CHECK(((const int32_t *)(const void *)o.batch.cols[0].values.data)[0] == INT32_MIN);
    done(&o);
    run(&o, "{\"name\":\"x\",\"type\":\"uint32\"}", LINES("4294967295", "4294967296", "-5"));
    expect_rejected(&o, 0x6, NULL);
    CHECK(((const uint32_t *)(const void *)o.batch.cols[0].values.data)[0] == UINT32_MAX);
    done(&o);
    run(&o, "{\"name\":\"x\",\"type\":\"uint64\"}",
        LINES("18446744073709551615", "18446744073709551616", "-1", "9223372036854775808", "1e3"));
    expect_rejected(&o, 0x16, NULL);
    const uint64_t *u = (const uint64_t *)(const void *)o.batch.cols[0].values.data;
    CHECK(u[0] == UINT64_MAX && u[1] == 9223372036854775808ULL);
    done(&o);
}

TEST(float32)
{
    one_t o;
    run(&o, "{\"name\":\"x\",\"type\":\"float32\"}",
        LINES("1.5", "-0.0", "3.4028234663852886e38", "3.5e38", "1e-50", "0.1", "\"1\""));
    expect_rejected(&o, 0x48, NULL);
    const float *f = (const float *)(const void *)o.batch.cols[0].values.data;
    CHECK(f[0] == 1.5f && signbit(f[1]) && f[2] == 3.4028234663852886e38f && f[3] == 0.0f && f[4] == 0.1f);
    done(&o);
}

TEST(decimals)
{
    one_t o;
    run(&o, "{\"name\":\"x\",\"type\":\"decimal\",\"precision\":9,\"scale\":2}",
        LINES("123.45", "\"-0.01\"", "1.5e2", "1234567.89", "12345678.9", "0.001", "\"1.2300\"", "1e-2",
              "\"+7\"", "\"abc\"", "\"1.\"", "0"));
    expect_rejected(&o, 0x630, NULL);
    CHECK_EQ_INT(o.batch.cols[0].width, 8);
    const int64_t *v = (const int64_t *)(const void *)o.batch.cols[0].values.data;
    CHECK(v[0] == 12345 && v[1] == -1 && v[2] == 15000 && v[3] == 123456789 && v[4] == 123 && v[5] == 1 &&
          v[6] == 700 && v[7] == 0);
    CHECK(strstr(o.p.errors[0].reason, "integer digits"));
    CHECK(strstr(o.p.errors[1].reason, "fractional"));
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"decimal\",\"precision\":38,\"scale\":0}",
        LINES("99999999999999999999999999999999999999", "-99999999999999999999999999999999999999",
              "100000000000000000000000000000000000000", "\"12345678901234567890123456789012345678\""));
    expect_rejected(&o, 0x4, NULL);
    CHECK_EQ_INT(o.batch.cols[0].width, 16);
    __int128 big = 0;
    for (int i = 0; i < 38; i++) big = big * 10 + 9;
    __int128 got[3];
    memcpy(got, o.batch.cols[0].values.data, sizeof(got));
    CHECK(got[0] == big && got[1] == -big);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"decimal\",\"precision\":38,\"scale\":38}",
        LINES("0.12345678901234567890123456789012345678", "1"));
    expect_rejected(&o, 0x2, NULL);
    done(&o);
}

TEST(text_types)
{
    one_t o;
    run(&o, "{\"name\":\"x\",\"type\":\"binary\"}",
        LINES("\"AAEC/w==\"", "\"AAEC/w\"", "\"\"", "\"A===\"", "\"a b\"", "\"QQ\"", "\"QR==\""));
    expect_rejected(&o, 0x58, "base64");
    CHECK_EQ_INT(o.batch.nrows, 4);
    size_t n;
    const uint8_t *b = ursa_column_str(&o.batch.cols[0], 0, &n);
    CHECK(n == 4 && b[0] == 0 && b[1] == 1 && b[2] == 2 && b[3] == 0xff);
    b = ursa_column_str(&o.batch.cols[0], 1, &n);
    CHECK(n == 4 && b[3] == 0xff);
    ursa_column_str(&o.batch.cols[0], 2, &n);
    CHECK(n == 0);
    b = ursa_column_str(&o.batch.cols[0], 3, &n);
    CHECK(n == 1 && b[0] == 'A');
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"uuid\"}",
        LINES("\"123e4567-e89b-12d3-a456-426614174000\"", "\"123E4567E89B12D3A456426614174000\"",
              "\"123e4567-e89b-12d3-a456-42661417400\"", "\"123e4567xe89b-12d3-a456-426614174000\"",
              "\"g23e4567-e89b-12d3-a456-426614174000\""));
    expect_rejected(&o, 0x1c, "UUID");
    const uint8_t *u = o.batch.cols[0].values.data;
    CHECK(u[0] == 0x12 && u[1] == 0x3e && u[15] == 0x00 && memcmp(u, u + 16, 16) == 0);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"json\"}",
        LINES("{\"a\": [1, 2, {\"b\": null}]}", "\"text\"", "42", "null", "[1,", "true"));
    expect_rejected(&o, 0x10, NULL);
    CHECK_EQ_INT(o.batch.nrows, 5);
    b = ursa_column_str(&o.batch.cols[0], 0, &n);
    CHECK(n == 26 && memcmp(b, "{\"a\": [1, 2, {\"b\": null}]}", n) == 0);
    b = ursa_column_str(&o.batch.cols[0], 1, &n);
    CHECK(n == 6 && memcmp(b, "\"text\"", n) == 0);
    CHECK(!ursa_column_valid(&o.batch.cols[0], 3));
    done(&o);
}

TEST(dates_times_timestamps)
{
    one_t o;
    run(&o, "{\"name\":\"x\",\"type\":\"date\"}",
        LINES("\"1970-01-01\"", "\"1969-12-31\"", "\"0001-01-01\"", "\"9999-12-31\"", "\"2023-02-29\"",
              "\"2024-02-29\"", "\"2024-1-01\"", "19000", "\"0000-01-01\""));
    expect_rejected(&o, 0x1d0, NULL);
    const int32_t *d = (const int32_t *)(const void *)o.batch.cols[0].values.data;
    CHECK(d[0] == 0 && d[1] == -1 && d[2] == -719162 && d[3] == 2932896 && d[4] == 19782);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"time\"}",
        LINES("\"00:00:00\"", "\"23:59:59.999999999\"", "\"12:30:00.5\"", "\"24:00:00\"", "\"12:00\"",
              "\"12:00:00Z\""));
    expect_rejected(&o, 0x38, NULL);
    const int64_t *t = (const int64_t *)(const void *)o.batch.cols[0].values.data;
    CHECK(t[0] == 0 && t[1] == 86399999999LL && t[2] == 45000500000LL);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"unit\":\"ns\"}",
        LINES("\"1970-01-01T00:00:00.123456789Z\"", "\"2262-04-11T23:47:16.854775807Z\"",
              "\"2262-04-11T23:47:16.854775808Z\"", "\"1677-09-21T00:12:43.145224192Z\"",
              "\"3000-01-01T00:00:00Z\"", "\"1970-01-01T00:00:00\""));
    expect_rejected(&o, 0x34, NULL);
    t = (const int64_t *)(const void *)o.batch.cols[0].values.data;
    CHECK(t[0] == 123456789 && t[1] == INT64_MAX && t[2] == INT64_MIN);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"unit\":\"ms\",\"utc\":false}",
        LINES("\"2024-01-01T10:00:00.9999\"", "\"2024-01-01T10:00:00+01:00\"",
              "\"1969-12-31T23:59:59.9995\""));
    expect_rejected(&o, 0, NULL);
    t = (const int64_t *)(const void *)o.batch.cols[0].values.data;
    CHECK(t[0] == 1704103200999LL && t[1] == 1704099600000LL && t[2] == -1);
    done(&o);
}

TEST(mismatch_reasons_name_the_type)
{
    one_t o;
    run(&o, "{\"name\":\"x\",\"type\":\"uint16\"}", LINES("\"7\"", "true", "[1]", "NaN"));
    CHECK_EQ_INT(o.p.nerrors, 4);
    CHECK(strcmp(o.p.errors[0].reason, "expected uint16, got a string") == 0);
    CHECK(strcmp(o.p.errors[1].reason, "expected uint16, got a bool") == 0);
    CHECK(strcmp(o.p.errors[2].reason, "expected uint16, got an object or array") == 0);
    CHECK(strstr(o.p.errors[3].reason, "NaN"));
    done(&o);
    run(&o, "{\"name\":\"x\",\"type\":\"date\"}", LINES("5", "{}"));
    CHECK(o.p.nerrors == 2 && strcmp(o.p.errors[0].reason, "expected date, got a number") == 0);
    done(&o);
}

static int errors_seen;
static void count_error(void *ctx, const ursa_row_error_t *e)
{
    (void)ctx;
    (void)e;
    errors_seen++;
}

TEST(line_numbers_and_error_callback)
{
    ursa_schema_t s;
    ursa_err_t err;
    const char js[] = "{\"columns\":[{\"name\":\"x\",\"type\":\"int64\",\"nullable\":false}]}";
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    p.on_error = count_error;
    const char body[] = "\n{\"x\":1}\n\n\n{\"x\":\"a\"}\r\n{}\n";
    for (int i = 0; i < 150; i++) CHECK(ursa_ndjson_feed(&p, body, sizeof(body) - 1) == URSA_OK);
    CHECK(ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(errors_seen, 300); /* the callback sees all, not only the listed 100 */
    CHECK(p.errors[0].line == 5 && p.errors[0].row == 2);
    CHECK(p.errors[1].line == 6 && p.errors[1].row == 3);
    CHECK(p.errors[2].line == 11 && p.errors[2].row == 5);
    CHECK_EQ_INT(p.lines, 900);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

TEST(schema_options)
{
    static const char *const bad[] = {
        "{\"name\":\"x\",\"type\":\"decimal\"}",
        "{\"name\":\"x\",\"type\":\"decimal\",\"precision\":39}",
        "{\"name\":\"x\",\"type\":\"decimal\",\"precision\":5,\"scale\":6}",
        "{\"name\":\"x\",\"type\":\"int64\",\"precision\":5}",
        "{\"name\":\"x\",\"type\":\"timestamp\",\"unit\":\"s\"}",
        "{\"name\":\"x\",\"type\":\"date\",\"utc\":true}",
        "{\"name\":\"x\",\"type\":\"string\",\"encoding\":\"delta\"}",
        "{\"name\":\"x\",\"type\":\"int64\",\"encoding\":\"byte_stream_split\"}",
        "{\"name\":\"x\",\"type\":\"float64\",\"encoding\":\"delta_length\"}",
        "{\"name\":\"x\",\"type\":\"decimal\",\"precision\":20,\"encoding\":\"delta\"}",
        "{\"name\":\"x\",\"type\":\"bool\",\"bloom_filter\":true}",
        "{\"name\":\"x\",\"type\":\"int64\",\"encoding\":\"zip\"}",
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(bad); i++) {
        char js[512];
        snprintf(js, sizeof(js), "{\"columns\":[%s]}", bad[i]);
        ursa_schema_t s;
        ursa_err_t err;
        int rc = ursa_schema_parse(js, strlen(js), &s, &err);
        if (rc == URSA_OK) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            ursa_schema_free(&s);
        }
        CHECK(rc == URSA_EINVAL);
    }
    /* A full schema renders back to itself. */
    const char full[] =
        "{\"columns\":[{\"name\":\"a\",\"type\":\"decimal\",\"nullable\":true,\"precision\":20,\"scale\":3},"
        "{\"name\":\"b\",\"type\":\"timestamp\",\"nullable\":false,\"unit\":\"ns\",\"utc\":false,"
        "\"encoding\":"
        "\"delta\"},{\"name\":\"c\",\"type\":\"string\",\"nullable\":true,\"encoding\":\"delta_length\","
        "\"bloom_filter\":true}],\"time_column\":\"b\"}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(full, strlen(full), &s, &err) == URSA_OK);
    ursa_buf_t b = {0};
    CHECK(ursa_schema_to_json(&s, &b) == URSA_OK);
    CHECK(b.len == strlen(full) && memcmp(b.data, full, b.len) == 0);
    if (b.len != strlen(full) || memcmp(b.data, full, b.len)) fprintf(stderr, "%.*s\n", (int)b.len, b.data);
    CHECK_EQ_INT(ursa_field_width(&s.fields[0]), 16);
    ursa_buf_free(&b);
    ursa_schema_free(&s);
}

/* A batch of every type survives ursa_batch_encode/decode bit for bit,
 * and every truncation of the encoding is refused. */
TEST(batch_encoding_round_trip)
{
    const char js[] =
        "{\"columns\":[{\"name\":\"a\",\"type\":\"int8\"},{\"name\":\"b\",\"type\":\"bool\"},"
        "{\"name\":\"c\",\"type\":\"string\"},{\"name\":\"d\",\"type\":\"decimal\",\"precision\":30,"
        "\"scale\":2},{\"name\":\"e\",\"type\":\"uuid\"},{\"name\":\"f\",\"type\":\"float64\"}]}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b, c;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    const char body[] =
        "{\"a\":1,\"b\":true,\"c\":\"x\",\"d\":\"12.5\",\"e\":\"123e4567-e89b-12d3-a456-426614174000\","
        "\"f\":1.5}\n{}\n{\"c\":\"\",\"b\":false,\"d\":-1}\n{\"c\":\"longer text\"}\n";
    CHECK(ursa_ndjson_feed(&p, body, sizeof(body) - 1) == URSA_OK && ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(b.nrows, 4);
    ursa_buf_t e1 = {0}, e2 = {0};
    CHECK(ursa_batch_encode(&b, &e1) == URSA_OK);
    CHECK(ursa_batch_init(&c, &s) == URSA_OK);
    CHECK(ursa_batch_decode(&c, &s, e1.data, e1.len) == URSA_OK);
    CHECK(c.nrows == 4 && c.cols[2].null_count == 1 && c.cols[1].null_count == 2);
    CHECK(ursa_batch_encode(&c, &e2) == URSA_OK);
    CHECK(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
    ursa_batch_free(&c);
    for (size_t cut = 0; cut < e1.len; cut++) {
        CHECK(ursa_batch_init(&c, &s) == URSA_OK);
        CHECK(ursa_batch_decode(&c, &s, e1.data, cut) == URSA_EFORMAT);
        ursa_batch_free(&c);
    }
    /* A batch with no rows (string columns without offsets yet) too. */
    ursa_batch_t empty;
    CHECK(ursa_batch_init(&empty, &s) == URSA_OK);
    e1.len = 0;
    CHECK(ursa_batch_encode(&empty, &e1) == URSA_OK);
    CHECK(ursa_batch_init(&c, &s) == URSA_OK);
    CHECK(ursa_batch_decode(&c, &s, e1.data, e1.len) == URSA_OK && c.nrows == 0);
    ursa_batch_free(&c);
    ursa_batch_free(&empty);
    ursa_buf_free(&e1);
    ursa_buf_free(&e2);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

/* Rows [from, to) of a batch (a request's part in the log) decode as a batch
 * of exactly those rows: nulls, bools, strings (offsets rebased) and fixed
 * widths; a range not starting on a whole bitmap byte is refused. */
TEST(batch_encoding_of_row_ranges)
{
    const char js[] = "{\"columns\":[{\"name\":\"a\",\"type\":\"int64\"},{\"name\":\"b\",\"type\":\"bool\"},"
                      "{\"name\":\"c\",\"type\":\"string\"}]}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b, c;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    char body[4096];
    size_t n = 0;
    for (int i = 0; i < 21; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              i % 5 == 3 ? "{}\n" : "{\"a\":%d,\"b\":%s,\"c\":\"%.*s\"}\n", i,
                              i % 3 ? "true" : "false", i % 4, "wxyz");
    CHECK(ursa_ndjson_feed(&p, body, n) == URSA_OK && ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(b.nrows, 21);
    const size_t ranges[][2] = {{0, 8}, {8, 16}, {16, 21}, {8, 21}, {16, 16}, {0, 21}};
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        size_t from = ranges[r][0], to = ranges[r][1];
        ursa_buf_t e = {0};
        CHECK(ursa_batch_encode_rows(&b, from, to, &e) == URSA_OK);
        CHECK(e.len == ursa_batch_rows_encoded_size(&b, from, to));
        CHECK(ursa_batch_init(&c, &s) == URSA_OK);
        CHECK(ursa_batch_decode(&c, &s, e.data, e.len) == URSA_OK && c.nrows == to - from);
        size_t nulls = 0;
        for (size_t i = 0; i < c.nrows; i++) {
            size_t k = from + i, x, y;
            for (int col = 0; col < 3; col++)
                CHECK(ursa_column_valid(&c.cols[col], i) == ursa_column_valid(&b.cols[col], k));
            nulls += !ursa_column_valid(&c.cols[0], i);
            if (!ursa_column_valid(&b.cols[0], k)) continue;
            CHECK(ursa_column_i64(&c.cols[0], i) == ursa_column_i64(&b.cols[0], k));
            CHECK(ursa_column_bool(&c.cols[1], i) == ursa_column_bool(&b.cols[1], k));
            const uint8_t *sx = ursa_column_str(&c.cols[2], i, &x), *sy = ursa_column_str(&b.cols[2], k, &y);
            CHECK(x == y && memcmp(sx, sy, x) == 0);
        }
        CHECK(c.cols[0].null_count == nulls);
        ursa_batch_free(&c);
        ursa_buf_free(&e);
    }
    ursa_buf_t e = {0};
    CHECK(ursa_batch_encode_rows(&b, 4, 8, &e) == URSA_EINVAL &&
          ursa_batch_encode_rows(&b, 8, 22, &e) == URSA_EINVAL);
    ursa_buf_free(&e);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

TEST(harmonization_aliases_defaults_max_length)
{
    const char js[] =
        "{\"columns\":[{\"name\":\"user_id\",\"type\":\"int64\",\"aliases\":[\"userId\",\"uid\"]},"
        "{\"name\":\"country\",\"type\":\"string\",\"nullable\":false,\"default\":\"??\","
        "\"max_length\":3},{\"name\":\"n\",\"type\":\"int32\",\"default\":7}]}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    const char body[] =
        "{\"userId\":1,\"country\":\"NLD\"}\n"                 /* alias */
        "{\"uid\":2}\n"                                        /* defaults for country and n */
        "{\"user_id\":3,\"uid\":4}\n"                          /* the same field twice */
        "{\"user_id\":5,\"country\":\"Nether\"}\n"             /* too long */
        "{\"user_id\":6,\"country\":\"日本国\",\"n\":null}\n"; /* 3 characters; explicit null */
    CHECK(ursa_ndjson_feed(&p, body, sizeof(body) - 1) == URSA_OK && ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(b.nrows, 3);
    CHECK(p.nerrors == 2 && p.errors[0].row == 3 && p.errors[1].row == 4 &&
          strstr(p.errors[1].reason, "max_length"));
    CHECK(ursa_column_i64(&b.cols[0], 0) == 1 && ursa_column_i64(&b.cols[0], 1) == 2);
    size_t n;
    const uint8_t *c = ursa_column_str(&b.cols[1], 1, &n);
    CHECK(n == 2 && !memcmp(c, "??", 2));
    CHECK(((const int32_t *)(const void *)b.cols[2].values.data)[1] == 7);
    CHECK(ursa_column_valid(&b.cols[2], 0));  /* the default fills a missing n */
    CHECK(!ursa_column_valid(&b.cols[2], 2)); /* an explicit null stays null */
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);

    /* A default that does not fit its column, and aliases that clash. */
    const char bad1[] = "{\"columns\":[{\"name\":\"n\",\"type\":\"int8\",\"default\":300}]}";
    CHECK(ursa_schema_parse(bad1, strlen(bad1), &s, &err) == URSA_OK);
    CHECK(ursa_batch_init(&b, &s) == URSA_OK);
    CHECK(ursa_ndjson_init_err(&p, &s, &b, 0, &err) == URSA_EINVAL && strstr(err.msg, "default"));
    ursa_batch_free(&b);
    ursa_schema_free(&s);
    const char bad2[] = "{\"columns\":[{\"name\":\"a\",\"type\":\"int8\",\"aliases\":[\"b\"]},"
                        "{\"name\":\"b\",\"type\":\"int8\"}]}";
    CHECK(ursa_schema_parse(bad2, strlen(bad2), &s, &err) == URSA_EINVAL);
    const char bad3[] = "{\"columns\":[{\"name\":\"a\",\"type\":\"int8\",\"max_length\":3}]}";
    CHECK(ursa_schema_parse(bad3, strlen(bad3), &s, &err) == URSA_EINVAL);
}

int main(void)
{
    RUN(harmonization_aliases_defaults_max_length);
    RUN(batch_encoding_round_trip);
    RUN(batch_encoding_of_row_ranges);
    RUN(narrow_integers);
    RUN(float32);
    RUN(decimals);
    RUN(text_types);
    RUN(dates_times_timestamps);
    RUN(mismatch_reasons_name_the_type);
    RUN(line_numbers_and_error_callback);
    RUN(schema_options);
    return TEST_EXIT();
}
