/* Unit tests for the CSV scanner, with hostile input. */
#include "ingest_csv.h"
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
    ursa_ndjson_t state;
    ursa_csv_t p;
} fixture_t;

static void setup_schema(fixture_t *f, const char *schema, const ursa_csv_options_t *opt)
{
    ursa_err_t err;
    if (ursa_schema_parse(schema, strlen(schema), &f->schema, &err)) {
        fprintf(stderr, "schema: %s\n", err.msg);
        abort();
    }
    if (ursa_batch_init(&f->batch, &f->schema) || ursa_ndjson_init(&f->state, &f->schema, &f->batch, 0) ||
        ursa_csv_init(&f->p, &f->state, opt))
        abort();
}

static void setup(fixture_t *f, const ursa_csv_options_t *opt)
{
    setup_schema(f, SCHEMA, opt);
}

static void teardown(fixture_t *f)
{
    ursa_csv_free(&f->p);
    ursa_ndjson_free(&f->state);
    ursa_batch_free(&f->batch);
    ursa_schema_free(&f->schema);
}

/* Parses a whole body in one piece; returns the first failure. */
static int parse(fixture_t *f, const char *body, size_t n)
{
    int rc = ursa_csv_feed(&f->p, body, n);
    int rc2 = ursa_csv_finish(&f->p);
    return rc ? rc : rc2;
}

#define PARSE_OK(f, lit) CHECK_EQ_INT(parse((f), (lit), sizeof(lit) - 1), URSA_OK)

static bool str_eq(const ursa_column_t *c, size_t i, const char *want, size_t wn)
{
    size_t n;
    const uint8_t *s = ursa_column_str(c, i, &n);
    return ursa_column_valid(c, i) && n == wn && memcmp(s, want, n) == 0;
}

#define STR_EQ(c, i, lit) str_eq((c), (i), (lit), sizeof(lit) - 1)

/* Checks error i: row, line, column and a reason containing `why`. */
static void check_error(const fixture_t *f, size_t i, uint64_t row, uint64_t line, int column,
                        const char *why)
{
    if (i >= f->state.nerrors) {
        fprintf(stderr, "error %zu missing (%zu listed)\n", i, f->state.nerrors);
        test_cur_failed = 1;
        return;
    }
    const ursa_row_error_t *e = &f->state.errors[i];
    if (e->row != row || e->line != line || e->column != column || !strstr(e->reason, why)) {
        fprintf(stderr,
                "error %zu: row %llu line %llu column %d \"%s\"; want row %llu line %llu column %d \"%s\"\n",
                i, (unsigned long long)e->row, (unsigned long long)e->line, e->column, e->reason,
                (unsigned long long)row, (unsigned long long)line, column, why);
        test_cur_failed = 1;
    }
}

#define TS0 "2024-05-01T10:00:00Z"

TEST(values_nulls_and_row_numbers)
{
    fixture_t f;
    setup(&f, NULL);
    PARSE_OK(&f,
             "ts,id,v,ok,s\n" TS0 ",-9223372036854775808,-0.0,true,abc\n" TS0
             ",9223372036854775807,1e-3,false,\n" TS0 ",5,,,\"\"\n" TS0 ",x,,,\n" TS0 ",6,2.5,true,é日本😀");
    CHECK_EQ_INT(f.batch.nrows, 4);
    CHECK_EQ_INT(f.state.records, 5);
    CHECK_EQ_INT(f.state.rejected, 1);
    CHECK_EQ_INT(f.state.lines, 6);
    check_error(&f, 0, 4, 5, ID, "number");
    ursa_column_t *c = f.batch.cols;
    CHECK(ursa_column_i64(&c[TS], 0) == 1714557600000000LL);
    CHECK(ursa_column_i64(&c[ID], 0) == INT64_MIN);
    CHECK(ursa_column_i64(&c[ID], 1) == INT64_MAX);
    CHECK(signbit(ursa_column_f64(&c[V], 0)));
    CHECK(ursa_column_f64(&c[V], 1) == 1e-3);
    CHECK(ursa_column_bool(&c[OK], 0) && !ursa_column_bool(&c[OK], 1));
    CHECK(STR_EQ(&c[S], 0, "abc"));
    CHECK(!ursa_column_valid(&c[S], 1)); /* empty unquoted: null */
    CHECK(STR_EQ(&c[S], 2, ""));         /* empty quoted: the empty string */
    CHECK(!ursa_column_valid(&c[V], 2) && !ursa_column_valid(&c[OK], 2));
    CHECK(STR_EQ(&c[S], 3, "é日本😀"));
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(c[i].length, 4);
    teardown(&f);
}

TEST(every_column_type)
{
    static const char schema[] =
        "{\"columns\":[{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"i64\",\"type\":\"int64\"},"
        "{\"name\":\"f64\",\"type\":\"float64\"},{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"ts\",\"type\":\"timestamp\",\"unit\":\"ms\"},{\"name\":\"i8\",\"type\":\"int8\"},"
        "{\"name\":\"i16\",\"type\":\"int16\"},{\"name\":\"i32\",\"type\":\"int32\"},"
        "{\"name\":\"u8\",\"type\":\"uint8\"},{\"name\":\"u16\",\"type\":\"uint16\"},"
        "{\"name\":\"u32\",\"type\":\"uint32\"},{\"name\":\"u64\",\"type\":\"uint64\"},"
        "{\"name\":\"f32\",\"type\":\"float32\"},"
        "{\"name\":\"d\",\"type\":\"decimal\",\"precision\":9,\"scale\":2},"
        "{\"name\":\"bin\",\"type\":\"binary\"},{\"name\":\"day\",\"type\":\"date\"},"
        "{\"name\":\"tod\",\"type\":\"time\"},{\"name\":\"id\",\"type\":\"uuid\"},"
        "{\"name\":\"j\",\"type\":\"json\"},"
        "{\"name\":\"d38\",\"type\":\"decimal\",\"precision\":38,\"scale\":0}]}";
    enum { B, I64, F64, STR, TSM, I8, I16, I32, U8, U16, U32, U64, F32, D, BIN, DAY, TOD, UU, J, D38, NCOL };
    static const char head[] = "b,i64,f64,s,ts,i8,i16,i32,u8,u16,u32,u64,f32,d,bin,day,tod,id,j,d38\n";
    static const char good[] = "true,-42,2.5,\"a,b\",2024-01-01T00:00:00.001Z,-128,32767,-2147483648,255,"
                               "65535,4294967295,18446744073709551615,0.5,123.45,AAEC/w==,1970-01-02,"
                               "12:30:00.5,123e4567-e89b-12d3-a456-426614174000,\"{\"\"a\"\":[1,null]}\","
                               "-99999999999999999999999999999999999999\n";
    /* One bad value per column (the rest of the row empty, so null). */
    static const char *const bad[NCOL] = {
        "1",          "1.5",        "1e999",    "\xff",       "2024-13-01", "128", "32768",
        "2147483648", "-1",         "65536",    "4294967296", "-1",         "abc", "12345678.9",
        "A===",       "2023-02-29", "24:00:00", "123e4567",   "[1",         "1e40"};
    fixture_t f;
    setup_schema(&f, schema, NULL);
    ursa_buf_t body = {0};
    CHECK(ursa_buf_append(&body, head, sizeof(head) - 1) == URSA_OK);
    CHECK(ursa_buf_append(&body, good, sizeof(good) - 1) == URSA_OK);
    for (int k = 0; k < NCOL; k++) {
        for (int i = 0; i < NCOL; i++) {
            if (i) CHECK(ursa_buf_push(&body, ',') == URSA_OK);
            if (i == k) CHECK(ursa_buf_append(&body, bad[k], strlen(bad[k])) == URSA_OK);
        }
        CHECK(ursa_buf_push(&body, '\n') == URSA_OK);
    }
    /* And a row of nulls only. */
    for (int i = 1; i < NCOL; i++) CHECK(ursa_buf_push(&body, ',') == URSA_OK);
    CHECK_EQ_INT(parse(&f, (const char *)body.data, body.len), URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 2);
    CHECK_EQ_INT(f.state.rejected, NCOL);
    for (int k = 0; k < NCOL && k < (int)f.state.nerrors; k++) {
        CHECK_EQ_INT(f.state.errors[k].row, k + 2);
        CHECK_EQ_INT(f.state.errors[k].line, k + 3);
        CHECK_EQ_INT(f.state.errors[k].column, k);
    }
    ursa_column_t *c = f.batch.cols;
    CHECK(ursa_column_bool(&c[B], 0));
    CHECK_EQ_INT(ursa_column_i64(&c[I64], 0), -42);
    CHECK(ursa_column_f64(&c[F64], 0) == 2.5);
    CHECK(STR_EQ(&c[STR], 0, "a,b"));
    CHECK_EQ_INT(ursa_column_i64(&c[TSM], 0), 1704067200001LL);
    CHECK_EQ_INT(*(const int8_t *)ursa_column_ptr(&c[I8], 0), -128);
    CHECK_EQ_INT(*(const int16_t *)(const void *)ursa_column_ptr(&c[I16], 0), 32767);
    CHECK_EQ_INT(*(const int32_t *)(const void *)ursa_column_ptr(&c[I32], 0), INT32_MIN);
    CHECK_EQ_INT(*ursa_column_ptr(&c[U8], 0), 255);
    CHECK_EQ_INT(*(const uint16_t *)(const void *)ursa_column_ptr(&c[U16], 0), 65535);
    CHECK_EQ_INT(*(const uint32_t *)(const void *)ursa_column_ptr(&c[U32], 0), UINT32_MAX);
    CHECK(*(const uint64_t *)(const void *)ursa_column_ptr(&c[U64], 0) == UINT64_MAX);
    CHECK(*(const float *)(const void *)ursa_column_ptr(&c[F32], 0) == 0.5f);
    CHECK_EQ_INT(ursa_column_i64(&c[D], 0), 12345);
    size_t n;
    const uint8_t *bin = ursa_column_str(&c[BIN], 0, &n);
    CHECK(n == 4 && bin[0] == 0 && bin[3] == 0xff);
    CHECK_EQ_INT(*(const int32_t *)(const void *)ursa_column_ptr(&c[DAY], 0), 1);
    CHECK_EQ_INT(ursa_column_i64(&c[TOD], 0), 45000500000LL);
    CHECK(ursa_column_ptr(&c[UU], 0)[0] == 0x12 && ursa_column_ptr(&c[UU], 0)[15] == 0);
    CHECK(STR_EQ(&c[J], 0, "{\"a\":[1,null]}"));
    __int128 big = 0, got;
    for (int i = 0; i < 38; i++) big = big * 10 + 9;
    memcpy(&got, ursa_column_ptr(&c[D38], 0), sizeof(got));
    CHECK(got == -big);
    for (int i = 0; i < NCOL; i++) {
        CHECK_EQ_INT(c[i].length, 2);
        CHECK(!ursa_column_valid(&c[i], 1));
    }
    ursa_buf_free(&body);
    teardown(&f);
}

TEST(quoting)
{
    fixture_t f;
    setup(&f, NULL);
    PARSE_OK(&f, "\"ts\",\"id\",s\n"
                 "\"" TS0 "\",\"1\",\"say \"\"hi\"\"\"\n" /* doubled quotes */
             TS0 ",2,\"a,b\"\n"                           /* embedded delimiter */
             TS0 ",3,\"line1\nline2\r\nline3\rend\"\n"    /* embedded line ends */
             TS0 ",4,\"\"\"\"\n"                          /* just one quote */
             TS0 ",5,\"\"\"\"\"\"\n"                      /* two quotes */
             TS0 ",6,\"\"\n"                              /* empty, not null */
             TS0 ",7,\n"                                  /* null */
             TS0 ",8,\",\"\n"                             /* only a delimiter */
             TS0 ",\"9\",\"x\"\"\"\n");                   /* ends with a quote */
    CHECK_EQ_INT(f.state.rejected, 0);
    CHECK_EQ_INT(f.batch.nrows, 9);
    ursa_column_t *s = &f.batch.cols[S];
    CHECK(STR_EQ(s, 0, "say \"hi\""));
    CHECK(STR_EQ(s, 1, "a,b"));
    CHECK(STR_EQ(s, 2, "line1\nline2\r\nline3\rend"));
    CHECK(STR_EQ(s, 3, "\""));
    CHECK(STR_EQ(s, 4, "\"\""));
    CHECK(STR_EQ(s, 5, ""));
    CHECK(!ursa_column_valid(s, 6));
    CHECK(STR_EQ(s, 7, ","));
    CHECK(STR_EQ(s, 8, "x\""));
    CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], 8), 9);
    /* Columns v and ok are not in the header: null everywhere. */
    CHECK_EQ_INT(f.batch.cols[V].null_count, 9);
    CHECK_EQ_INT(f.batch.cols[OK].null_count, 9);
    CHECK_EQ_INT(f.state.lines, 13);
    teardown(&f);
}

TEST(line_ends_empty_lines_and_line_numbers)
{
    fixture_t f;
    setup(&f, NULL);
    /* Lines: 1 empty, 2 header, 3 good (CRLF), 4 empty, 5 bad (CR),
     * 6-8 a record spanning three lines, then a bad one on 9, 10 empty
     * (CRLF), 11-12 a good record spanning a CRLF, 13 bad with no line end. */
    PARSE_OK(&f, "\n"
                 "ts,id,s\r\n" TS0 ",1,a\r\n"
                 "\r" TS0 ",x,b\r" TS0 ",2,\"multi\nline\r\nvalue\"\n" TS0 ",y,c\n"
                 "\r\n" TS0 ",3,\"crlf\r\ninside\"\r\n" TS0 ",z,\"open");
    CHECK_EQ_INT(f.batch.nrows, 3);
    CHECK_EQ_INT(f.state.records, 6);
    CHECK_EQ_INT(f.state.lines, 13);
    check_error(&f, 0, 2, 5, ID, "number");
    check_error(&f, 1, 4, 9, ID, "number");
    check_error(&f, 2, 6, 13, -1, "unterminated");
    CHECK(STR_EQ(&f.batch.cols[S], 1, "multi\nline\r\nvalue"));
    CHECK(STR_EQ(&f.batch.cols[S], 2, "crlf\r\ninside"));
    teardown(&f);
}

TEST(header_rules)
{
    fixture_t f;
    /* Unknown header columns are ignored, also repeated ones; header names
     * may be quoted; a byte order mark is skipped. */
    setup(&f, NULL);
    PARSE_OK(&f, "\xEF\xBB\xBFx,\"ts\",x,id,\"\",,\"s\"\n1," TS0 ",2,7,,,hello\n");
    CHECK_EQ_INT(f.batch.nrows, 1);
    CHECK_EQ_INT(f.p.header_fields, 7);
    CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], 0), 7);
    CHECK(STR_EQ(&f.batch.cols[S], 0, "hello"));
    CHECK(!ursa_column_valid(&f.batch.cols[V], 0));
    teardown(&f);

    /* A schema column named twice fails the body. */
    setup(&f, NULL);
    static const char dup[] = "ts,id,s,id\n" TS0 ",1,a,2\n";
    CHECK_EQ_INT(ursa_csv_feed(&f.p, dup, sizeof(dup) - 1), URSA_EFORMAT);
    CHECK(strstr(f.p.err.msg, "duplicate column \"id\""));
    CHECK_EQ_INT(ursa_csv_finish(&f.p), URSA_EFORMAT);
    CHECK_EQ_INT(f.state.records, 0);
    teardown(&f);

    /* A missing non-nullable column rejects every row, naming it. */
    setup(&f, NULL);
    PARSE_OK(&f, "id,s\n1,a\n2,b\n");
    CHECK_EQ_INT(f.batch.nrows, 0);
    CHECK_EQ_INT(f.state.rejected, 2);
    check_error(&f, 0, 1, 2, TS, "missing from the CSV header");
    check_error(&f, 1, 2, 3, TS, "missing from the CSV header");
    teardown(&f);

    /* A malformed header fails the body; so does an over-long one. */
    static const char *const bad[] = {"ts,i\"d\n", "ts,\"id\"x\n", "ts,\"id"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(bad); i++) {
        setup(&f, NULL);
        CHECK_EQ_INT(parse(&f, bad[i], strlen(bad[i])), URSA_EFORMAT);
        CHECK(strstr(f.p.err.msg, "CSV header (line 1)"));
        teardown(&f);
    }
    ursa_csv_options_t small = {.max_record = 8};
    setup(&f, &small);
    CHECK_EQ_INT(parse(&f, "ts,id,\"s\n\"\n", 11), URSA_ELIMIT);
    teardown(&f);

    /* No header at all, or only a header: no records, no error. */
    static const char *const empty[] = {"", "\n\r\n\r", "\xEF\xBB\xBF", "ts,id", "ts,id\r\n\r\n"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(empty); i++) {
        setup(&f, NULL);
        CHECK_EQ_INT(parse(&f, empty[i], strlen(empty[i])), URSA_OK);
        CHECK_EQ_INT(f.state.records, 0);
        teardown(&f);
    }
    /* A BOM is only skipped at the very start; a partial one is data. */
    setup(&f, NULL);
    PARSE_OK(&f, "\xEF\xBBts,id,s\n" TS0 ",1,a\n");
    CHECK_EQ_INT(f.batch.nrows, 0);
    CHECK_EQ_INT(f.state.rejected, 1); /* "\xEF\xBBts" is not ts */
    teardown(&f);
}

/* Each case is the third line, after a good one: rejected with column. */
TEST(row_errors_and_precedence)
{
    static const struct {
        const char *line;
        int column;
        const char *why;
    } cases[] = {
        {TS0 ",1,a\"b", -1, "quote inside an unquoted field"},
        {TS0 ",1,\"ab\"c", -1, "after a closing quote"},
        {TS0 ",1,\"ab\" ", -1, "after a closing quote"},
        {TS0 ",1", -1, "wrong number of fields"},
        {TS0 ",1,a,b", -1, "wrong number of fields"},
        {TS0, -1, "wrong number of fields"},
        {",1,a", TS, "null in non-null column"},
        {TS0 ",,a", ID, "null in non-null column"},
        {TS0 ",\"\",a", ID, "empty"},
        {TS0 ", 1,a", ID, "number"},
        {TS0 ",1 ,a", ID, "number"},
        {TS0 ",1,\xC3", S, "UTF-8"},
        {TS0 ",1,\"\xED\xA0\x80\"", S, "UTF-8"},
        /* Precedence: quoting, then the field count, then cells. */
        {"x,y,a\"b,c", -1, "quote"},
        {"x,y", -1, "wrong number of fields"},
        {"x,y,z", TS, "timestamp"},
    };
    fixture_t f;
    setup(&f, NULL);
    ursa_buf_t body = {0};
    static const char head[] = "ts,id,s\n", good[] = TS0 ",7,good\n";
    CHECK(ursa_buf_append(&body, head, sizeof(head) - 1) == URSA_OK);
    for (size_t i = 0; i < URSA_ARRAY_LEN(cases); i++) {
        CHECK(ursa_buf_append(&body, good, sizeof(good) - 1) == URSA_OK);
        CHECK(ursa_buf_append(&body, cases[i].line, strlen(cases[i].line)) == URSA_OK);
        CHECK(ursa_buf_push(&body, '\n') == URSA_OK);
    }
    CHECK_EQ_INT(parse(&f, (const char *)body.data, body.len), URSA_OK);
    size_t n = URSA_ARRAY_LEN(cases);
    CHECK_EQ_INT(f.batch.nrows, n);
    CHECK_EQ_INT(f.state.rejected, n);
    for (size_t i = 0; i < n; i++) check_error(&f, i, 2 * i + 2, 2 * i + 3, cases[i].column, cases[i].why);
    for (int c = 0; c < 5; c++) CHECK_EQ_INT(f.batch.cols[c].length, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(ursa_column_i64(&f.batch.cols[ID], i), 7);
        CHECK(STR_EQ(&f.batch.cols[S], i, "good"));
    }
    ursa_buf_free(&body);
    teardown(&f);
}

/* An error's value is the failing cell's text (without its quotes, "" as
 * one quote): never the cells after it. */
TEST(error_values_are_the_cell)
{
    static const struct {
        const char *line;
        int column;
        const char *value;
    } cases[] = {
        {TS0 ",12abc,1.5,true,x", ID, "12abc"}, {TS0 ",1,1.2.3,true,x", V, "1.2.3"},
        {TS0 ",1,1.5,tru,x", OK, "tru"},        {"2024-13-01T00:00:00Z,1,,,x", TS, "2024-13-01T00:00:00Z"},
        {TS0 ",\"1\"\"2\",,,x", ID, "1\"2"},    {TS0 ",1,,,\"a\xff,b\"", S, "a?,b"},
    };
    fixture_t f;
    setup(&f, NULL);
    ursa_buf_t body = {0};
    static const char head[] = "ts,id,v,ok,s\n";
    CHECK(ursa_buf_append(&body, head, sizeof(head) - 1) == URSA_OK);
    for (size_t i = 0; i < URSA_ARRAY_LEN(cases); i++) {
        CHECK(ursa_buf_append(&body, cases[i].line, strlen(cases[i].line)) == URSA_OK);
        CHECK(ursa_buf_push(&body, '\n') == URSA_OK);
    }
    CHECK_EQ_INT(parse(&f, (const char *)body.data, body.len), URSA_OK);
    CHECK_EQ_INT(f.state.nerrors, URSA_ARRAY_LEN(cases));
    for (size_t i = 0; i < f.state.nerrors && i < URSA_ARRAY_LEN(cases); i++) {
        const ursa_row_error_t *e = &f.state.errors[i];
        if (e->column == cases[i].column && !strcmp(e->value, cases[i].value)) continue;
        fprintf(stderr, "case %zu: column %d value \"%s\", want %d \"%s\"\n", i, e->column, e->value,
                cases[i].column, cases[i].value);
        test_cur_failed = 1;
    }
    ursa_buf_free(&body);
    teardown(&f);
}

TEST(options_delimiter_and_null_marker)
{
    fixture_t f;
    ursa_csv_options_t o = {.delimiter = ';', .null_marker = "\\N"};
    setup(&f, &o);
    PARSE_OK(&f, "ts;id;v;s\n" TS0 ";1;\\N;\\N\n" TS0 ";2;1;\n" TS0 ";3;;x\n" TS0 ";4;1,5;\"\\N\"\n" TS0
                 ";\\N;1;a,b\n" TS0 ";6;2;\"\\N\"\n");
    CHECK_EQ_INT(f.batch.nrows, 3);
    ursa_column_t *c = f.batch.cols;
    CHECK(!ursa_column_valid(&c[V], 0) && !ursa_column_valid(&c[S], 0));
    CHECK(STR_EQ(&c[S], 1, ""));    /* with a marker, an empty cell is the empty string */
    CHECK(STR_EQ(&c[S], 2, "\\N")); /* a quoted marker is text */
    check_error(&f, 0, 3, 4, V, "empty");
    check_error(&f, 1, 4, 5, V, "number"); /* 1,5 is not a number */
    check_error(&f, 2, 5, 6, ID, "null in non-null column");
    teardown(&f);

    ursa_csv_options_t tab = {.delimiter = '\t', .null_marker = "NULL"};
    setup(&f, &tab);
    PARSE_OK(&f, "ts\tid\ts\n" TS0 "\t1\tNULL\n" TS0 "\t2\t\"NULL\"\n" TS0 "\t3\ta,b \"c\"\n");
    CHECK_EQ_INT(f.batch.nrows, 2);
    CHECK(!ursa_column_valid(&f.batch.cols[S], 0));
    CHECK(STR_EQ(&f.batch.cols[S], 1, "NULL"));
    check_error(&f, 0, 3, 4, -1, "quote");
    teardown(&f);

    /* Bad options. */
    ursa_schema_t s;
    ursa_batch_t b;
    ursa_ndjson_t st;
    ursa_csv_t p;
    ursa_err_t err;
    CHECK(ursa_schema_parse(SCHEMA, strlen(SCHEMA), &s, &err) == URSA_OK);
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&st, &s, &b, 0) == URSA_OK);
    static const ursa_csv_options_t bad[] = {
        {.delimiter = '"'},
        {.delimiter = '\n'},
        {.delimiter = '\r'},
        {.null_marker = "a,b"},
        {.null_marker = "\"x\""},
        {.null_marker = "x\ny"},
        {.max_record = UINT32_MAX},
        {.null_marker = "0123456789012345678901234567890123456789012345678901234567890123456789"},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(bad); i++) {
        CHECK_EQ_INT(ursa_csv_init(&p, &st, &bad[i]), URSA_EINVAL);
        ursa_csv_free(&p);
    }
    ursa_ndjson_free(&st);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

/* A fingerprint of everything a parse produced: the batch bytes, the
 * counters and every error. */
static void outcome(fixture_t *f, int rc, ursa_buf_t *out)
{
    out->len = 0;
    CHECK(ursa_batch_encode(&f->batch, out) == URSA_OK);
    CHECK(ursa_buf_printf(out, "|rc %d rows %zu rec %llu rej %llu lines %llu", rc, f->batch.nrows,
                          (unsigned long long)f->state.records, (unsigned long long)f->state.rejected,
                          (unsigned long long)f->state.lines) == URSA_OK);
    for (size_t i = 0; i < f->state.nerrors; i++) {
        const ursa_row_error_t *e = &f->state.errors[i];
        CHECK(ursa_buf_printf(out, "|%llu %llu %d %s", (unsigned long long)e->row,
                              (unsigned long long)e->line, e->column, e->reason) == URSA_OK);
    }
}

/* Feeds body in pieces cut at the given offsets (sorted, n = no more). */
static int feed_cut(fixture_t *f, const char *body, size_t n, const size_t *cuts, size_t ncuts)
{
    size_t at = 0;
    int rc = URSA_OK;
    for (size_t i = 0; i <= ncuts && !rc; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        rc = ursa_csv_feed(&f->p, body + at, to - at);
        at = to;
    }
    int rc2 = ursa_csv_finish(&f->p);
    return rc ? rc : rc2;
}

static const char SPLIT_BODY[] =
    "\xEF\xBB\xBF\r\n"
    "ts,\"i\"\"d\",id,v,ok,s\r\n" TS0 ",,1,2.5,true,\"a,\"\"b\"\"\r\nc\"\r\n" TS0 ",,x,,,\n"
    "\r\r\n" TS0 ",,2,,,\"\"\r" TS0 ",,3,,false,\"multi\r\n\r\nline\"\n" TS0 ",,4,,,a\"b\n" TS0
    ",,5,,,\"toolong--------------------------------\n\"\n" TS0 ",,6,,,\"x\"y\n" TS0 ",,7,,,é\n" TS0
    ",,8,,,\"open\r\n";

TEST(any_split_gives_the_same_result)
{
    size_t n = sizeof(SPLIT_BODY) - 1;
    ursa_csv_options_t o = {.max_record = 64};
    ursa_buf_t want = {0}, got = {0};
    fixture_t f;
    setup(&f, &o);
    int rc = parse(&f, SPLIT_BODY, n);
    outcome(&f, rc, &want);
    CHECK_EQ_INT(rc, URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 4);
    CHECK_EQ_INT(f.state.records, 9);
    CHECK_EQ_INT(f.state.lines, 17);
    check_error(&f, 0, 2, 5, ID, "number");
    check_error(&f, 1, 5, 12, -1, "quote inside");
    check_error(&f, 2, 6, 13, -1, "larger than");
    check_error(&f, 3, 7, 15, -1, "after a closing quote");
    check_error(&f, 4, 9, 17, -1, "unterminated");
    teardown(&f);

    /* Two pieces at every byte, three pieces at many pairs, and byte by byte. */
    for (size_t cut = 0; cut <= n; cut++) {
        setup(&f, &o);
        rc = feed_cut(&f, SPLIT_BODY, n, &cut, 1);
        outcome(&f, rc, &got);
        if (got.len != want.len || memcmp(got.data, want.data, got.len)) {
            fprintf(stderr, "cut at %zu: %.*s\n", cut, (int)got.len, (const char *)got.data);
            CHECK(0);
        }
        teardown(&f);
    }
    for (size_t c1 = 0; c1 <= n; c1 += 3) {
        for (size_t c2 = c1; c2 <= n; c2 += 7) {
            size_t cuts[2] = {c1, c2};
            setup(&f, &o);
            rc = feed_cut(&f, SPLIT_BODY, n, cuts, 2);
            outcome(&f, rc, &got);
            CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
            teardown(&f);
        }
    }
    setup(&f, &o);
    for (size_t i = 0; i < n; i++) CHECK(ursa_csv_feed(&f.p, SPLIT_BODY + i, 1) == URSA_OK);
    rc = ursa_csv_finish(&f.p);
    outcome(&f, rc, &got);
    CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
    teardown(&f);
    ursa_buf_free(&want);
    ursa_buf_free(&got);
}

/* A record of exactly max_record bytes is kept; one more byte is too many,
 * wherever the pieces are cut. */
TEST(record_size_limit_boundary)
{
    char body[256];
    for (int extra = 0; extra <= 1; extra++) {
        /* "ts,id,s\n" then a record of 40 + extra bytes, then a good one. */
        int k = snprintf(body, sizeof(body), "ts,id,s\n" TS0 ",1,\"%.*s\"\n" TS0 ",2,z\n", 15 + extra,
                         "xxxxxxxxxxxxxxxxxxxx");
        size_t n = (size_t)k;
        for (size_t cut = 0; cut <= n; cut++) {
            ursa_csv_options_t o = {.max_record = 40};
            fixture_t f;
            setup(&f, &o);
            CHECK_EQ_INT(feed_cut(&f, body, n, &cut, 1), URSA_OK);
            CHECK_EQ_INT(f.state.records, 2);
            CHECK_EQ_INT(f.batch.nrows, extra ? 1 : 2);
            if (extra) {
                check_error(&f, 0, 1, 2, -1, "larger than");
                /* The rule, as for NDJSON (found by fuzz_array: arrays and CSV gave none). */
                CHECK(strcmp(f.state.errors[0].rule, "max_record 40 bytes") == 0);
            }
            teardown(&f);
        }
    }
}

TEST(nul_bytes_and_invalid_utf8)
{
    fixture_t f;
    setup(&f, NULL);
    static const char body[] = "ts,id,s\n" TS0 ",1,a\0b\n" TS0 ",2,\"\0\"\n" TS0 ",\0,x\n" TS0
                               ",3,\xC0\x80\n" TS0 ",4,\"\xF4\x90\x80\x80\"\n" TS0 ",5,\x80\n" TS0 ",6,ok\n";
    CHECK_EQ_INT(parse(&f, body, sizeof(body) - 1), URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 3);
    CHECK(str_eq(&f.batch.cols[S], 0, "a\0b", 3)); /* NUL is data in a string */
    CHECK(str_eq(&f.batch.cols[S], 1, "\0", 1));
    check_error(&f, 0, 3, 4, ID, "number");
    check_error(&f, 1, 4, 5, S, "UTF-8");
    check_error(&f, 2, 5, 6, S, "UTF-8");
    check_error(&f, 3, 6, 7, S, "UTF-8");
    teardown(&f);
}

TEST(ten_megabyte_cell)
{
    size_t big = 10u << 20;
    char *body = malloc(2 * big + 256);
    int k = snprintf(body, 256, "ts,id,s\n" TS0 ",1,\"");
    size_t n = (size_t)k;
    for (size_t i = 0; i < big; i++) body[n + i] = (i % 1000 == 999) ? '\n' : (i % 100 == 99 ? '"' : 'a');
    /* Every '"' in the cell is doubled, so insert the second ones. */
    size_t w = n;
    char *cell = malloc(big);
    memcpy(cell, body + n, big);
    size_t quotes = 0, nls = 0;
    for (size_t i = 0; i < big; i++) {
        body[w++] = cell[i];
        if (cell[i] == '"') {
            body[w++] = '"';
            quotes++;
        }
        nls += cell[i] == '\n';
    }
    w += (size_t)snprintf(body + w, 256, "\"\n" TS0 ",2,after\n");
    for (int pieces = 0; pieces < 2; pieces++) {
        fixture_t f;
        setup(&f, NULL);
        if (pieces) {
            for (size_t at = 0; at < w; at += 65536)
                CHECK(ursa_csv_feed(&f.p, body + at, w - at < 65536 ? w - at : 65536) == URSA_OK);
            CHECK(ursa_csv_finish(&f.p) == URSA_OK);
        } else {
            CHECK(parse(&f, body, w) == URSA_OK);
        }
        CHECK_EQ_INT(f.batch.nrows, 2);
        size_t len;
        const uint8_t *s = ursa_column_str(&f.batch.cols[S], 0, &len);
        CHECK(len == big && memcmp(s, cell, big) == 0);
        CHECK(STR_EQ(&f.batch.cols[S], 1, "after"));
        CHECK_EQ_INT(f.state.lines, 3 + nls);
        teardown(&f);
    }
    /* Over the record limit: rejected, skipped up to the real end of the
     * record (not to the first line end inside the quotes). */
    ursa_csv_options_t o = {.max_record = 1u << 20};
    fixture_t f;
    setup(&f, &o);
    for (size_t at = 0; at < w; at += 100000)
        CHECK(ursa_csv_feed(&f.p, body + at, w - at < 100000 ? w - at : 100000) == URSA_OK);
    CHECK(ursa_csv_finish(&f.p) == URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 1);
    check_error(&f, 0, 1, 2, -1, "larger than");
    CHECK(STR_EQ(&f.batch.cols[S], 0, "after"));
    CHECK_EQ_INT(f.state.lines, 3 + nls);
    teardown(&f);
    (void)quotes;
    free(cell);
    free(body);
}

TEST(hundred_thousand_columns)
{
    size_t ncol = 100000;
    ursa_buf_t body = {0};
    fixture_t f;
    /* A row with 100k fields under a 3-field header. */
    setup(&f, NULL);
    CHECK(ursa_buf_append(&body, "ts,id,s\n", 8) == URSA_OK);
    for (size_t i = 0; i < ncol; i++) CHECK(ursa_buf_append(&body, i ? ",1" : "1", i ? 2 : 1) == URSA_OK);
    CHECK(ursa_buf_append(&body, "\n" TS0 ",1,a\n", sizeof(TS0) + 6) == URSA_OK);
    CHECK_EQ_INT(parse(&f, (const char *)body.data, body.len), URSA_OK);
    CHECK_EQ_INT(f.batch.nrows, 1);
    check_error(&f, 0, 1, 2, -1, "wrong number of fields");
    teardown(&f);

    /* A 100k-field header naming the schema's columns at its far end. */
    setup(&f, NULL);
    body.len = 0;
    for (size_t i = 0; i < ncol; i++) CHECK(ursa_buf_printf(&body, "c%zu,", i) == URSA_OK);
    CHECK(ursa_buf_printf(&body, "ts,id,s\n") == URSA_OK);
    for (int r = 0; r < 3; r++) {
        for (size_t i = 0; i < ncol; i++) CHECK(ursa_buf_append(&body, "x,", 2) == URSA_OK);
        CHECK(ursa_buf_printf(&body, TS0 ",%d,row%d\n", r, r) == URSA_OK);
    }
    CHECK_EQ_INT(parse(&f, (const char *)body.data, body.len), URSA_OK);
    CHECK_EQ_INT(f.p.header_fields, ncol + 3);
    CHECK_EQ_INT(f.batch.nrows, 3);
    CHECK(STR_EQ(&f.batch.cols[S], 2, "row2"));
    teardown(&f);
    ursa_buf_free(&body);
}

/* Every prefix of a body parses without crashing or reading past it. */
TEST(truncated_input_at_every_length)
{
    size_t n = sizeof(SPLIT_BODY) - 1;
    size_t header_end = (size_t)(strstr(SPLIT_BODY, "\"\"d\"") - SPLIT_BODY) + 4;
    for (size_t k = 0; k <= n; k++) {
        char *copy = malloc(k ? k : 1); /* exact size: ASan sees any overread */
        memcpy(copy, SPLIT_BODY, k);
        fixture_t f;
        setup(&f, NULL);
        /* Cut inside the quoted header name: the header is unterminated. */
        int quotes = 0;
        for (size_t i = 0; i < k && i < header_end; i++) quotes += SPLIT_BODY[i] == '"';
        CHECK_EQ_INT(parse(&f, copy, k), quotes % 2 ? URSA_EFORMAT : URSA_OK);
        CHECK(f.batch.nrows + f.state.rejected == f.state.records);
        teardown(&f);
        free(copy);
    }
}

static void count_errors(void *ctx, const ursa_row_error_t *e)
{
    (void)e;
    (*(int *)ctx)++;
}

TEST(errors_list_is_capped_and_callback_sees_all)
{
    fixture_t f;
    int seen = 0;
    setup(&f, NULL);
    f.state.on_error = count_errors;
    f.state.on_error_ctx = &seen;
    CHECK(ursa_csv_feed(&f.p, "ts,id\n", 6) == URSA_OK);
    for (int i = 0; i < 250; i++) CHECK(ursa_csv_feed(&f.p, "x,y\n", 4) == URSA_OK);
    CHECK(ursa_csv_finish(&f.p) == URSA_OK);
    CHECK_EQ_INT(f.state.rejected, 250);
    CHECK_EQ_INT(f.state.nerrors, URSA_ERRORS_LISTED);
    CHECK_EQ_INT(seen, 250);
    CHECK_EQ_INT(f.state.errors[URSA_ERRORS_LISTED - 1].line, URSA_ERRORS_LISTED + 1);
    teardown(&f);
}

TEST(out_of_memory_is_reported_not_crashed)
{
    static const char body[] = "ts,id,s\n" TS0 ",1,\"a\"\"bc\"\n" TS0 ",2,\"de\nf\"\n" TS0 ",3,x";
    for (long k = 1; k < 60; k++) {
        for (size_t cut = 0; cut < sizeof(body) - 1; cut += 13) {
            fixture_t f;
            setup(&f, NULL);
            ursa_mem_fail_after(k);
            int rc = feed_cut(&f, body, sizeof(body) - 1, &cut, 1);
            ursa_mem_fail_after(0);
            CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
            if (rc == URSA_OK) CHECK(f.batch.nrows + f.state.rejected == f.state.records);
            for (int c = 0; c < 5; c++) CHECK_EQ_INT(f.batch.cols[c].length, f.batch.nrows);
            teardown(&f);
        }
    }
}

/* Found by fuzz_csv: state->lines is the same however the body is cut,
 * also after a header failure, and a last line of NUL bytes counts. */
TEST(fuzz_regressions)
{
    static const char dup[] = "ts|s|s|n\n2024-01-01T00:00:00Z|a|b|c\n";
    ursa_csv_options_t bar = {.delimiter = '|'};
    for (size_t cut = 0; cut <= sizeof(dup) - 1; cut++) {
        fixture_t f;
        setup(&f, &bar);
        CHECK_EQ_INT(feed_cut(&f, dup, sizeof(dup) - 1, &cut, 1), URSA_EFORMAT);
        CHECK_EQ_INT(f.state.lines, 1);
        teardown(&f);
    }
    static const char nuls[] = "\x0e\xff\r\0\0";
    ursa_csv_options_t tab = {.delimiter = '\t', .null_marker = "x", .max_record = 48};
    fixture_t f;
    setup(&f, &tab);
    CHECK_EQ_INT(parse(&f, nuls, sizeof(nuls) - 1), URSA_OK);
    CHECK_EQ_INT(f.state.lines, 2);
    check_error(&f, 0, 1, 2, TS, "missing from the CSV header");
    teardown(&f);
}

/* Collects the raw text the error callback sees, one "row|raw|truncated" line each. */
static void collect_raw(void *ctx, const ursa_row_error_t *e)
{
    ursa_buf_t *b = ctx;
    CHECK(ursa_buf_printf(b, "%llu|%.*s|%d\n", (unsigned long long)e->row, (int)e->raw_len,
                          e->raw ? e->raw : "", e->raw_truncated) == URSA_OK);
}

/* The callback sees each rejected record as it was in the body (quotes,
 * embedded line ends and all), without its line end. */
TEST(raw_text_of_rejected_records)
{
    static const char body[] =
        "ts,id,s\r\n" TS0 ",1,a\r\n" TS0 ",x,\"multi\nline\"\r\n" TS0 ",3\n" TS0 ",4,ok";
    static const char want[] = "2|" TS0 ",x,\"multi\nline\"|0\n3|" TS0 ",3|0\n";
    for (size_t cut = 0; cut <= sizeof(body) - 1; cut++) {
        fixture_t f;
        ursa_buf_t got = {0};
        setup(&f, NULL);
        f.state.on_error = collect_raw;
        f.state.on_error_ctx = &got;
        CHECK_EQ_INT(feed_cut(&f, body, sizeof(body) - 1, &cut, 1), URSA_OK);
        CHECK(got.len == sizeof(want) - 1 && memcmp(got.data, want, got.len) == 0);
        CHECK_EQ_INT(f.batch.nrows, 2);
        ursa_buf_free(&got);
        teardown(&f);
    }
    ursa_csv_options_t small = {.max_record = 40};
    static const char big[] =
        "ts,id,s\n" TS0 ",1,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" TS0 ",2,b\n";
    for (size_t cut = 0; cut <= sizeof(big) - 1; cut++) {
        fixture_t f;
        ursa_buf_t got = {0};
        setup(&f, &small);
        f.state.on_error = collect_raw;
        f.state.on_error_ctx = &got;
        CHECK_EQ_INT(feed_cut(&f, big, sizeof(big) - 1, &cut, 1), URSA_OK);
        CHECK(got.len > 10 && memcmp(got.data, "1|" TS0, 2 + strlen(TS0)) == 0);
        CHECK(got.len > 3 && memcmp(got.data + got.len - 3, "|1\n", 3) == 0);
        CHECK_EQ_INT(got.len - 5, 40); /* the first 40 bytes, however the record came */
        CHECK_EQ_INT(f.batch.nrows, 1);
        ursa_buf_free(&got);
        teardown(&f);
    }
}

int main(void)
{
    RUN(values_nulls_and_row_numbers);
    RUN(raw_text_of_rejected_records);
    RUN(every_column_type);
    RUN(quoting);
    RUN(line_ends_empty_lines_and_line_numbers);
    RUN(header_rules);
    RUN(row_errors_and_precedence);
    RUN(error_values_are_the_cell);
    RUN(options_delimiter_and_null_marker);
    RUN(any_split_gives_the_same_result);
    RUN(record_size_limit_boundary);
    RUN(nul_bytes_and_invalid_utf8);
    RUN(ten_megabyte_cell);
    RUN(hundred_thousand_columns);
    RUN(truncated_input_at_every_length);
    RUN(errors_list_is_capped_and_callback_sees_all);
    RUN(out_of_memory_is_reported_not_crashed);
    RUN(fuzz_regressions);
    return TEST_EXIT();
}
