/* Unit tests for the NDJSON scanner, with hostile input. */
#include "ingest_json.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static const char SCHEMA[] = "{\"columns\":["
                             "{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"id\",\"type\":\"int64\",\"nullable\":false},"
                             "{\"name\":\"v\",\"type\":\"float64\"},"
                             "{\"name\":\"ok\",\"type\":\"bool\"},"
                             "{\"name\":\"s\",\"type\":\"string\"}],"
                             "\"time_column\":\"ts\"}";

enum { TS, ID, V, OK, S };

typedef struct fixture {
    ursa_schema_t schema;
    ursa_batch_t batch;
    ursa_ndjson_t p;
} fixture_t;

static void setup(fixture_t *f, size_t max_record)
{
    ursa_err_t err;
    if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &f->schema, &err)) {
        fprintf(stderr, "schema: %s\n", err.msg);
        abort();
    }
    if (ursa_batch_init(&f->batch, &f->schema) || ursa_ndjson_init(&f->p, &f->schema, &f->batch, max_record))
        abort();
}

static void teardown(fixture_t *f)
{
    ursa_ndjson_free(&f->p);
    ursa_batch_free(&f->batch);
    ursa_schema_free(&f->schema);
}

/* Parses a whole body in one piece. */
static void parse(fixture_t *f, const char *body, size_t n)
{
    CHECK(ursa_ndjson_feed(&f->p, body, n) == URSA_OK);
    CHECK(ursa_ndjson_finish(&f->p) == URSA_OK);
}

static bool str_eq(const ursa_column_t *c, size_t i, const char *want, size_t wn)
{
    size_t n;
    const uint8_t *s = ursa_column_str(c, i, &n);
    return ursa_column_valid(c, i) && n == wn && memcmp(s, want, n) == 0;
}

#define T0 "\"ts\":\"2024-05-01T10:00:00Z\""

TEST(values_and_nulls)
{
    fixture_t f;
    setup(&f, 0);
    const char body[] =
        "{" T0 ",\"id\":-9223372036854775808,\"v\":-0.0,\"ok\":true,\"s\":\"a\\\"b\\\\c\\n\"}\n"
        "{\"id\":9223372036854775807," T0 ",\"s\":null,\"v\":1e-3,\"ok\":false}\n"
        "{" T0 ",\"id\":0}\n"
        "  { " T0 " , \"id\" : 5 , \"unknown\" : {\"a\":[1,2,{\"b\":null}],\"c\":\"x\"} }  \r\n";
    parse(&f, body, sizeof(body) - 1);
    CHECK_EQ_INT(f.batch.nrows, 4);
    CHECK_EQ_INT(f.p.rejected, 0);
    ursa_column_t *c = f.batch.cols;
    CHECK(ursa_column_i64(&c[TS], 0) == 1714557600000000LL);
    CHECK(ursa_column_i64(&c[ID], 0) == INT64_MIN);
    CHECK(ursa_column_i64(&c[ID], 1) == INT64_MAX);
    CHECK(signbit(ursa_column_f64(&c[V], 0)));
    CHECK(ursa_column_f64(&c[V], 1) == 1e-3);
    CHECK(ursa_column_bool(&c[OK], 0) && !ursa_column_bool(&c[OK], 1));
    CHECK(str_eq(&c[S], 0, "a\"b\\c\n", 6));
    CHECK(!ursa_column_valid(&c[S], 1));
    /* Missing nullable fields are nulls. */
    CHECK(!ursa_column_valid(&c[V], 2) && !ursa_column_valid(&c[OK], 2) && !ursa_column_valid(&c[S], 2));
    CHECK_EQ_INT(c[S].null_count, 3);
    CHECK_EQ_INT(ursa_column_i64(&c[ID], 3), 5);
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(c[i].length, 4);
    teardown(&f);
}

TEST(escapes_and_unicode)
{
    fixture_t f;
    setup(&f, 0);
    const char body[] = "{" T0 ",\"id\":1,\"s\":\"\\uD83D\\uDE00 \\u00e9 \\/ \\t é 日本 😀\"}\n"
                        "{" T0 ",\"id\":2,\"s\":\"\\uDC00\"}\n"
                        "{" T0 ",\"id\":3,\"s\":\"\\uD800x\"}\n"
                        "{" T0 ",\"id\":4,\"s\":\"\\uD800\\u0041\"}\n"
                        "{" T0 ",\"id\":5,\"s\":\"\\x\"}\n"
                        "{" T0 ",\"id\":6,\"\\u0073\":\"key with escape\"}\n";
    parse(&f, body, sizeof(body) - 1);
    CHECK_EQ_INT(f.batch.nrows, 2);
    const char want[] = "\xF0\x9F\x98\x80 \xC3\xA9 / \t é 日本 😀";
    CHECK(str_eq(&f.batch.cols[S], 0, want, sizeof(want) - 1));
    CHECK(str_eq(&f.batch.cols[S], 1, "key with escape", 15));
    CHECK_EQ_INT(f.p.nerrors, 4);
    for (size_t i = 0; i < f.p.nerrors; i++) CHECK_EQ_INT(f.p.errors[i].column, S);
    CHECK_EQ_INT(f.p.errors[0].row, 2);
    CHECK_EQ_INT(f.p.errors[3].row, 5);
    teardown(&f);
}

/* Strings with escapes and multi-byte characters at every offset around
 * the scanner's 16-byte blocks: each decoded as a plain byte-by-byte
 * decoder would (the scanner copies whole blocks between escapes). */
TEST(escapes_at_every_offset)
{
    static const struct {
        const char *esc, *dec;
    } pieces[] = {{"\\n", "\n"},
                  {"\\\"", "\""},
                  {"\\\\", "\\"},
                  {"\\/", "/"},
                  {"\\u00e9", "\xC3\xA9"},
                  {"\\u65e5\\u672c", "\xE6\x97\xA5\xE6\x9C\xAC"},
                  {"\\ud83d\\ude00", "\xF0\x9F\x98\x80"},
                  {"\xC3\xA9", "\xC3\xA9"},
                  {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"}};
    fixture_t f;
    setup(&f, 0);
    char body[400], want[300];
    size_t rows = 0;
    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++)
        for (size_t before = 0; before < 40; before++)
            for (size_t after = 0; after < 20; after += 7) {
                /* a run of `before` letters, the piece, `after` letters, the piece again */
                char raw[200] = "", dec[200] = "";
                for (size_t i = 0; i < before; i++) strcat(raw, "a"), strcat(dec, "a");
                strcat(raw, pieces[k].esc), strcat(dec, pieces[k].dec);
                for (size_t i = 0; i < after; i++) strcat(raw, "b"), strcat(dec, "b");
                strcat(raw, pieces[k].esc), strcat(dec, pieces[k].dec);
                snprintf(body, sizeof(body), "{" T0 ",\"id\":%zu,\"s\":\"%s\"}\n", rows, raw);
                CHECK(ursa_ndjson_feed(&f.p, body, strlen(body)) == URSA_OK);
                snprintf(want, sizeof(want), "%s", dec);
                CHECK_EQ_INT(f.batch.nrows, rows + 1);
                if (f.batch.nrows == rows + 1 && !str_eq(&f.batch.cols[S], rows, want, strlen(want))) {
                    fprintf(stderr, "piece %zu before %zu after %zu\n", k, before, after);
                    CHECK(false);
                }
                rows++;
            }
    CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
    CHECK_EQ_INT(f.p.nerrors, 0);
    teardown(&f);
}

/* Fields in another order than the schema's, the order changing from one
 * record to the next (the scanner predicts each record's order from the
 * last), unknown fields between: every value lands in its column, and a
 * field twice is still refused. */
TEST(fields_in_changing_orders)
{
    fixture_t f;
    setup(&f, 0);
    const char body[] = "{\"s\":\"a\",\"ok\":true,\"v\":1.5,\"id\":1," T0 "}\n"
                        "{\"s\":\"b\",\"ok\":false,\"v\":2.5,\"id\":2," T0 "}\n"
                        "{\"id\":3,\"x\":[1,{\"y\":2}]," T0 ",\"s\":\"c\"}\n"
                        "{\"s\":\"d\",\"ok\":true,\"v\":4.5,\"id\":4," T0 "}\n"
                        "{" T0 ",\"id\":5,\"v\":5.5,\"ok\":true,\"s\":\"e\"}\n"
                        "{\"s\":\"f\",\"id\":6,\"s\":\"g\"," T0 "}\n"
                        "{\"v\" : 7.5 , \"id\" :7 ,\t" T0 " }\n";
    parse(&f, body, sizeof(body) - 1);
    CHECK_EQ_INT(f.batch.nrows, 6);
    static const char *const strs[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], i), (int64_t)i + 1);
        CHECK(str_eq(&f.batch.cols[S], i, strs[i], 1));
    }
    CHECK(!ursa_column_valid(&f.batch.cols[V], 2) && !ursa_column_valid(&f.batch.cols[OK], 2));
    CHECK(ursa_column_f64(&f.batch.cols[V], 3) == 4.5 && ursa_column_f64(&f.batch.cols[V], 5) == 7.5);
    CHECK_EQ_INT(f.p.nerrors, 1);
    CHECK_EQ_INT(f.p.errors[0].row, 6);
    teardown(&f);
}

/* Each line must be rejected for the given column (-1: the record). */
TEST(rejections_name_row_and_column)
{
    static const struct {
        const char *line;
        int column;
    } cases[] = {
        {"{" T0 ",\"id\":\"42\"}", ID},
        {"{" T0 ",\"id\":1.5}", ID},
        {"{" T0 ",\"id\":1e3}", ID},
        {"{" T0 ",\"id\":123456789012345678901234567890}", ID},
        {"{" T0 ",\"id\":true}", ID},
        {"{" T0 ",\"id\":[1]}", ID},
        {"{" T0 ",\"id\":null}", ID},
        {"{" T0 "}", ID},
        {"{\"id\":1}", TS},
        {"{\"ts\":\"2023-02-29T00:00:00Z\",\"id\":1}", TS},
        {"{\"ts\":\"2024-01-01T24:00:00Z\",\"id\":1}", TS},
        {"{\"ts\":1714557600,\"id\":1}", TS},
        {"{" T0 ",\"id\":1,\"v\":\"1.5\"}", V},
        {"{" T0 ",\"id\":1,\"v\":NaN}", V},
        {"{" T0 ",\"id\":1,\"v\":Infinity}", V},
        {"{" T0 ",\"id\":1,\"v\":1e999}", V},
        {"{" T0 ",\"id\":1,\"v\":01}", V},
        {"{" T0 ",\"id\":1,\"ok\":1}", OK},
        {"{" T0 ",\"id\":1,\"ok\":\"true\"}", OK},
        {"{" T0 ",\"id\":1,\"s\":5}", S},
        {"{" T0 ",\"id\":1,\"s\":\"a\",\"s\":\"b\"}", S},
        {"{" T0 ",\"id\":1,\"s\":\"unterminated}", S},
        {"[1,2,3]", -1},
        {"\"just a string\"", -1},
        {"{" T0 ",\"id\":1", -1},
        {"{" T0 ",\"id\":1}}", -1},
        {"{" T0 ",\"id\":1} {}", -1},
        {"{" T0 " \"id\":1}", -1},
        {"{" T0 ",,\"id\":1}", -1},
        {"{" T0 ",\"id\":1,}", -1},
        {"{'ts':1}", -1},
        {"{" T0 ",\"id\":1,\"x\":tru}", -1},
        {"{" T0 ",\"id\":1,\"x\":[1,]}", -1},
        {"{" T0 ",\"id\":1,\"x\":{\"a\"}}", -1},
        {"nul", -1},
    };
    fixture_t f;
    setup(&f, 0);
    ursa_buf_t body = {0};
    const char good[] = "{" T0 ",\"id\":7}\n";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(ursa_buf_append(&body, good, sizeof(good) - 1) == URSA_OK);
        CHECK(ursa_buf_append(&body, cases[i].line, strlen(cases[i].line)) == URSA_OK);
        CHECK(ursa_buf_push(&body, '\n') == URSA_OK);
    }
    parse(&f, (const char *)body.data, body.len);
    size_t n = sizeof(cases) / sizeof(cases[0]);
    CHECK_EQ_INT(f.batch.nrows, n);
    CHECK_EQ_INT(f.p.rejected, n);
    CHECK_EQ_INT(f.p.nerrors, n);
    for (size_t i = 0; i < f.p.nerrors && i < n; i++) {
        const ursa_row_error_t *e = &f.p.errors[i];
        if (e->row != 2 * i + 2 || e->column != cases[i].column)
            fprintf(stderr, "case %zu (%s): row %llu column %d reason %s\n", i, cases[i].line,
                    (unsigned long long)e->row, e->column, e->reason);
        CHECK_EQ_INT(e->row, 2 * i + 2);
        CHECK_EQ_INT(e->column, cases[i].column);
        CHECK(e->reason && e->reason[0]);
    }
    /* Rejected records leave no partial values behind. */
    for (int c = 0; c < 5; c++) CHECK_EQ_INT(f.batch.cols[c].length, n);
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], i), 7);
    ursa_buf_free(&body);
    teardown(&f);
}

TEST(invalid_utf8_and_nul)
{
    static const char *const bad[] = {
        "\xC0\x80",         /* overlong NUL */
        "\xE0\x80\xAF",     /* overlong '/' */
        "\xED\xA0\x80",     /* UTF-16 surrogate */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xFF",             /* never valid */
        "\xE6\x97",         /* truncated sequence */
        "\x80",             /* lone continuation */
        "tab\there",        /* raw control character */
    };
    fixture_t f;
    setup(&f, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[128];
        int n = snprintf(line, sizeof(line), "{" T0 ",\"id\":1,\"s\":\"x%sy\"}", bad[i]);
        CHECK(ursa_ndjson_record(&f.p, line, (size_t)n) == URSA_OK);
        /* The same bytes in an ignored field are rejected too. */
        n = snprintf(line, sizeof(line), "{" T0 ",\"id\":1,\"zz\":\"x%sy\"}", bad[i]);
        CHECK(ursa_ndjson_record(&f.p, line, (size_t)n) == URSA_OK);
    }
    /* A NUL byte inside a string and between tokens. */
    const char nul1[] = "{" T0 ",\"id\":1,\"s\":\"a\0b\"}";
    const char nul2[] = "{" T0 ",\"id\":1,\0\"s\":\"ab\"}";
    CHECK(ursa_ndjson_record(&f.p, nul1, sizeof(nul1) - 1) == URSA_OK);
    CHECK(ursa_ndjson_record(&f.p, nul2, sizeof(nul2) - 1) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 0);
    CHECK_EQ_INT(f.p.rejected, 2 * (sizeof(bad) / sizeof(bad[0])) + 2);
    teardown(&f);
}

TEST(deep_nesting_and_big_numbers)
{
    fixture_t f;
    setup(&f, 0);
    size_t depth = 100000;
    char *line = malloc(depth * 2 + 128);
    size_t n = (size_t)sprintf(line, "{" T0 ",\"id\":1,\"deep\":");
    memset(line + n, '[', depth);
    memset(line + n + depth, ']', depth);
    n += 2 * depth;
    line[n++] = '}';
    CHECK(ursa_ndjson_record(&f.p, line, n) == URSA_OK);
    CHECK_EQ_INT(f.p.rejected, 1);
    CHECK(f.p.nerrors == 1 && strstr(f.p.errors[0].reason, "deep"));
    /* Nesting within the limit is fine. */
    n = (size_t)sprintf(line, "{" T0 ",\"id\":1,\"deep\":");
    for (int i = 0; i < 100; i++)
        line[n++] = i % 2 ? '[' : '{', n += (i % 2 ? 0 : (size_t)sprintf(line + n, "\"k\":"));
    for (int i = 99; i >= 0; i--) line[n++] = i % 2 ? ']' : '}';
    line[n++] = '}';
    CHECK(ursa_ndjson_record(&f.p, line, n) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 1);
    /* 30-digit numbers: rejected for int64, rounded for float64. */
    n = (size_t)sprintf(line, "{" T0 ",\"id\":2,\"v\":123456789012345678901234567890}");
    CHECK(ursa_ndjson_record(&f.p, line, n) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 2);
    CHECK(ursa_column_f64(&f.batch.cols[V], 1) == 1.2345678901234568e29);
    free(line);
    teardown(&f);
}

TEST(big_strings_and_record_limit)
{
    fixture_t f;
    setup(&f, 0);
    size_t big = 10u << 20;
    char *body = malloc(big + 256);
    size_t n = (size_t)sprintf(body, "{" T0 ",\"id\":1,\"s\":\"");
    for (size_t i = 0; i < big; i++) body[n + i] = (char)('a' + i % 26);
    n += big;
    n += (size_t)sprintf(body + n, "\"}\n{" T0 ",\"id\":2}\n");
    /* Fed in 64 KiB pieces, as the HTTP server does. */
    for (size_t off = 0; off < n; off += 65536)
        CHECK(ursa_ndjson_feed(&f.p, body + off, n - off < 65536 ? n - off : 65536) == URSA_OK);
    CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 2);
    size_t len;
    const uint8_t *s = ursa_column_str(&f.batch.cols[S], 0, &len);
    CHECK_EQ_INT(len, big);
    CHECK(s[0] == 'a' && s[big - 1] == (char)('a' + (big - 1) % 26));
    teardown(&f);

    /* Over the record limit: rejected, the next record is fine. */
    setup(&f, 1u << 20);
    for (size_t off = 0; off < n; off += 65536)
        CHECK(ursa_ndjson_feed(&f.p, body + off, n - off < 65536 ? n - off : 65536) == URSA_OK);
    CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 1);
    CHECK_EQ_INT(f.p.rejected, 1);
    CHECK(f.p.errors[0].row == 1 && strstr(f.p.errors[0].reason, "larger"));
    CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], 0), 2);
    teardown(&f);
    free(body);
}

/* Splitting the body anywhere gives the same result as one piece. */
TEST(any_split_gives_the_same_result)
{
    const char body[] = "{" T0 ",\"id\":1,\"s\":\"é\"}\n\n"
                        "{" T0 ",\"id\":2,\"s\":\"x\"\r\n"
                        "{" T0 ",\"id\":3,\"v\":2.5}\r\n"
                        "   \n"
                        "{" T0 ",\"id\":4,\"ok\":true}";
    size_t n = sizeof(body) - 1;
    for (size_t cut1 = 0; cut1 <= n; cut1 += 3) {
        for (size_t cut2 = cut1; cut2 <= n; cut2 += 11) {
            fixture_t f;
            setup(&f, 0);
            CHECK(ursa_ndjson_feed(&f.p, body, cut1) == URSA_OK);
            CHECK(ursa_ndjson_feed(&f.p, body + cut1, cut2 - cut1) == URSA_OK);
            CHECK(ursa_ndjson_feed(&f.p, body + cut2, n - cut2) == URSA_OK);
            CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
            CHECK_EQ_INT(f.p.records, 4);
            CHECK_EQ_INT(f.batch.nrows, 3);
            CHECK(f.p.nerrors == 1 && f.p.errors[0].row == 2);
            CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], 2), 4);
            teardown(&f);
        }
    }
}

TEST(truncated_input_at_every_length)
{
    const char line[] =
        "{" T0 ",\"id\":-12,\"v\":-1.25e-2,\"ok\":false,\"s\":\"\\u00e9\\uD83D\\uDE00x\",\"u\":[{}]}";
    size_t n = sizeof(line) - 1;
    for (size_t k = 0; k < n; k++) {
        fixture_t f;
        setup(&f, 0);
        CHECK(ursa_ndjson_record(&f.p, line, k) == URSA_OK);
        CHECK_EQ_INT(f.batch.nrows, 0);
        CHECK_EQ_INT(f.p.rejected, k ? 1 : 0);
        teardown(&f);
    }
    fixture_t f;
    setup(&f, 0);
    CHECK(ursa_ndjson_record(&f.p, line, n) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 1);
    teardown(&f);
}

TEST(errors_list_is_capped)
{
    fixture_t f;
    setup(&f, 0);
    for (int i = 0; i < 250; i++) CHECK(ursa_ndjson_feed(&f.p, "{}\n", 3) == URSA_OK);
    CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
    CHECK_EQ_INT(f.p.rejected, 250);
    CHECK_EQ_INT(f.p.nerrors, URSA_ERRORS_LISTED);
    teardown(&f);
}

TEST(out_of_memory_is_reported_not_crashed)
{
    const char body[] = "{" T0 ",\"id\":1,\"s\":\"abc\"}\n{" T0 ",\"id\":2,\"s\":\"def\"}\n";
    for (long k = 1; k < 40; k++) {
        fixture_t f;
        setup(&f, 0);
        ursa_mem_fail_after(k);
        int rc = ursa_ndjson_feed(&f.p, body, sizeof(body) - 1);
        ursa_mem_fail_after(0);
        CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
        teardown(&f);
    }
}

/* Collects the raw text the error callback sees, one "row|raw|truncated" line each. */
static void collect_raw(void *ctx, const ursa_row_error_t *e)
{
    ursa_buf_t *b = ctx;
    CHECK(ursa_buf_printf(b, "%llu|%.*s|%d\n", (unsigned long long)e->row, (int)e->raw_len,
                          e->raw ? e->raw : "", e->raw_truncated) == URSA_OK);
}

/* Every rejected record reaches the callback with its line as received,
 * however the body is cut; an over-long one with its start only. */
TEST(raw_text_of_rejected_records)
{
    static const char body[] = "{" T0 ",\"id\":1}\n"
                               "{" T0 ",\"id\":\"two\"}\r\n"
                               "  not json  \n"
                               "{" T0 ",\"id\":4}\n"
                               "{" T0 ",\"s\":\"no id\"}";
    static const char want[] = "2|{" T0 ",\"id\":\"two\"}|0\n"
                               "3|  not json  |0\n"
                               "5|{" T0 ",\"s\":\"no id\"}|0\n";
    for (size_t cut = 0; cut <= sizeof(body) - 1; cut++) {
        fixture_t f;
        ursa_buf_t got = {0};
        setup(&f, 0);
        f.p.on_error = collect_raw;
        f.p.on_error_ctx = &got;
        CHECK(ursa_ndjson_feed(&f.p, body, cut) == URSA_OK);
        CHECK(ursa_ndjson_feed(&f.p, body + cut, sizeof(body) - 1 - cut) == URSA_OK);
        CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
        CHECK_EQ_INT(got.len, sizeof(want) - 1);
        CHECK(got.len == sizeof(want) - 1 && memcmp(got.data, want, got.len) == 0);
        CHECK(f.p.errors[0].raw == NULL); /* the list does not keep pointers into the body */
        CHECK_EQ_INT(f.batch.nrows, 2);
        ursa_buf_free(&got);
        teardown(&f);
    }
    /* Over the limit (64 bytes): the start of the record, marked truncated,
     * whether it came in one piece or in several. */
    char big[200];
    size_t n = (size_t)sprintf(big, "{" T0 ",\"id\":7,\"s\":\"%090d\"}\n{" T0 ",\"id\":8}\n", 0);
    for (size_t piece = 1; piece <= n; piece = piece * 2 + 1) {
        fixture_t f;
        ursa_buf_t got = {0};
        setup(&f, 64);
        f.p.on_error = collect_raw;
        f.p.on_error_ctx = &got;
        for (size_t off = 0; off < n; off += piece)
            CHECK(ursa_ndjson_feed(&f.p, big + off, n - off < piece ? n - off : piece) == URSA_OK);
        CHECK(ursa_ndjson_finish(&f.p) == URSA_OK);
        CHECK_EQ_INT(f.batch.nrows, 1);
        CHECK(got.len > 5 && memcmp(got.data, "1|{\"ts\"", 7) == 0);
        CHECK(got.len > 3 && memcmp(got.data + got.len - 3, "|1\n", 3) == 0);
        CHECK_EQ_INT(got.len - 5, 64); /* the first 64 bytes, however the record came */
        ursa_buf_free(&got);
        teardown(&f);
    }
}

/* An error's value is the value as sent, up to its end: never the fields
 * after it. Each value is sent first with more fields after it (and blanks
 * before the comma), then as the record's last field. */
TEST(error_values_stop_at_the_value_end)
{
    static const struct {
        const char *column; /* the JSON of column x */
        const char *value;  /* as sent */
        const char *want;   /* the error's value */
    } cases[] = {
        /* strings */
        {"{\"name\":\"x\",\"type\":\"string\"}", "\"ab\xff\"", "\"ab?\""},
        {"{\"name\":\"x\",\"type\":\"string\"}", "\"a\tb\"", "\"a\tb\""},
        {"{\"name\":\"x\",\"type\":\"string\"}", "\"a\\qb\"", "\"a\\qb\""},
        {"{\"name\":\"x\",\"type\":\"string\"}", "\"\\ud800\"", "\"\\ud800\""},
        {"{\"name\":\"x\",\"type\":\"string\",\"max_length\":2}", "\"a,b}\"", "\"a,b}\""},
        {"{\"name\":\"x\",\"type\":\"string\"}", "12abc", "12abc"},
        /* numbers */
        {"{\"name\":\"x\",\"type\":\"int64\"}", "12abc", "12abc"},
        {"{\"name\":\"x\",\"type\":\"int64\"}", "1.5e", "1.5e"},
        {"{\"name\":\"x\",\"type\":\"int64\"}", "01", "01"},
        {"{\"name\":\"x\",\"type\":\"int64\"}", "-", "-"},
        {"{\"name\":\"x\",\"type\":\"int64\"}", "NaN", "NaN"},
        {"{\"name\":\"x\",\"type\":\"float64\"}", "-Infinity", "-Infinity"},
        {"{\"name\":\"x\",\"type\":\"float64\"}", "1.2.3", "1.2.3"},
        {"{\"name\":\"x\",\"type\":\"int8\"}", "300", "300"},
        {"{\"name\":\"x\",\"type\":\"decimal\",\"precision\":5,\"scale\":2}", "12.3x5", "12.3x5"},
        /* bools */
        {"{\"name\":\"x\",\"type\":\"bool\"}", "tru", "tru"},
        {"{\"name\":\"x\",\"type\":\"bool\"}", "True", "True"},
        {"{\"name\":\"x\",\"type\":\"bool\"}", "\"yes\"", "\"yes\""},
        /* objects and arrays */
        {"{\"name\":\"x\",\"type\":\"int32\"}", "{\"a\":1x}", "{\"a\":1x}"},
        {"{\"name\":\"x\",\"type\":\"int32\"}", "[1, \"x\\q\", {\"b\":[2]}]", "[1, \"x\\q\", {\"b\":[2]}]"},
        {"{\"name\":\"x\",\"type\":\"int32\"}", "[1, {\"a\": [2}]", "[1, {\"a\": [2}]"},
        {"{\"name\":\"x\",\"type\":\"int32\"}", "{\"a\":{\"b\":\"}\"}}", "{\"a\":{\"b\":\"}\"}}"},
        {"{\"name\":\"x\",\"type\":\"json\"}", "{\"a\":[1,]}", "{\"a\":[1,]}"},
        /* timestamps */
        {"{\"name\":\"x\",\"type\":\"timestamp\"}", "\"2024-01-01\t00:00:00Z\"", "\"2024-01-01\t00:00:00Z\""},
        {"{\"name\":\"x\",\"type\":\"timestamp\"}", "\"2024-13-01T00:00:00Z\"", "\"2024-13-01T00:00:00Z\""},
        {"{\"name\":\"x\",\"type\":\"timestamp\"}", "2024-01-01", "2024-01-01"},
        /* harmonization rules */
        {"{\"name\":\"x\",\"type\":\"int64\",\"coerce\":true}", "12abc", "12abc"},
        {"{\"name\":\"x\",\"type\":\"string\",\"coerce\":true}", "1e", "1e"},
        {"{\"name\":\"x\",\"type\":\"bool\",\"coerce\":true}", "yes", "yes"},
        {"{\"name\":\"x\",\"type\":\"timestamp\",\"epoch\":\"s\"}", "17000x", "17000x"},
        {"{\"name\":\"x\",\"type\":\"timestamp\",\"formats\":[\"%d/%m/%Y\"]}", "\"1/2/x\xc3\"", "\"1/2/x?\""},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(cases); i++) {
        char schema[512], body[512];
        snprintf(
            schema, sizeof(schema),
            "{\"columns\":[%s,{\"name\":\"y\",\"type\":\"int64\"},{\"name\":\"z\",\"type\":\"string\"}]}",
            cases[i].column);
        int n = snprintf(body, sizeof(body),
                         "{\"x\":%s  , \"y\":1,\"z\":\"tail\"}\n{\"y\":2, \"x\": %s}\n{\"x\": %s\t}\n",
                         cases[i].value, cases[i].value, cases[i].value);
        ursa_schema_t s;
        ursa_batch_t b;
        ursa_ndjson_t p;
        ursa_err_t err;
        if (ursa_schema_parse(schema, strlen(schema), &s, &err)) {
            fprintf(stderr, "schema %s: %s\n", schema, err.msg);
            abort();
        }
        CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
        CHECK(ursa_ndjson_feed(&p, body, (size_t)n) == URSA_OK && ursa_ndjson_finish(&p) == URSA_OK);
        CHECK_EQ_INT(p.nerrors, 3);
        for (size_t k = 0; k < p.nerrors; k++) {
            if (p.errors[k].column == 0 && !strcmp(p.errors[k].value, cases[i].want)) continue;
            fprintf(stderr, "case %zu, line %zu (%s): column %d, value \"%s\", want \"%s\"\n", i, k + 1,
                    p.errors[k].reason, p.errors[k].column, p.errors[k].value, cases[i].want);
            test_cur_failed = 1;
        }
        ursa_ndjson_free(&p);
        ursa_batch_free(&b);
        ursa_schema_free(&s);
    }
}

int main(void)
{
    RUN(values_and_nulls);
    RUN(raw_text_of_rejected_records);
    RUN(escapes_and_unicode);
    RUN(rejections_name_row_and_column);
    RUN(invalid_utf8_and_nul);
    RUN(deep_nesting_and_big_numbers);
    RUN(big_strings_and_record_limit);
    RUN(any_split_gives_the_same_result);
    RUN(truncated_input_at_every_length);
    RUN(errors_list_is_capped);
    RUN(out_of_memory_is_reported_not_crashed);
    RUN(error_values_stop_at_the_value_end);
    RUN(escapes_at_every_offset);
    RUN(fields_in_changing_orders);
    return TEST_EXIT();
}
