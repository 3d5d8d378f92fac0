/* Unit tests for the harmonization rules declared per column (coerce, trim,
 * case, epoch, formats, enum, min/max) and for what a rejection reports:
 * row, column, the value as sent (shortened) and the rule. */
#include "ingest_csv.h"
#include "ingest_json.h"
#include "one_column.h"
#include "test.h"

#include <stdlib.h>

/* The error of 1-based line `line`, or NULL. */
static const ursa_row_error_t *error_at(const one_t *o, uint64_t line)
{
    for (size_t i = 0; i < o->p.nerrors; i++)
        if (o->p.errors[i].line == line) return &o->p.errors[i];
    return NULL;
}

/* Asserts line `line` was rejected with the reason, value and rule given
 * (reason and rule as substrings; NULL: not checked). */
static void expect_error(const one_t *o, uint64_t line, const char *reason, const char *value,
                         const char *rule, int ln)
{
    const ursa_row_error_t *e = error_at(o, line);
    if (!e) {
        fprintf(stderr, "test_harmonize.c:%d: line %llu was not rejected\n", ln, (unsigned long long)line);
        test_cur_failed = 1;
        return;
    }
    if ((reason && !strstr(e->reason, reason)) || (value && strcmp(e->value, value)) ||
        (rule && !strstr(e->rule, rule))) {
        fprintf(stderr,
                "test_harmonize.c:%d: line %llu: reason \"%s\" value \"%s\" rule \"%s\"; want %s / %s / %s\n",
                ln, (unsigned long long)line, e->reason, e->value, e->rule, reason ? reason : "-",
                value ? value : "-", rule ? rule : "-");
        test_cur_failed = 1;
    }
}
#define EXPECT_ERROR(o, line, reason, value, rule) expect_error(o, line, reason, value, rule, __LINE__)

static int64_t int_at(const one_t *o, size_t row)
{
    const ursa_column_t *c = &o->batch.cols[0];
    const uint8_t *q = ursa_column_ptr(c, row);
    switch (c->width) {
    case 1:
        return (int8_t)q[0];
    case 2:
        return *(const int16_t *)(const void *)q;
    case 4:
        return *(const int32_t *)(const void *)q;
    default:
        return *(const int64_t *)(const void *)q;
    }
}

static bool str_is(const one_t *o, size_t row, const char *want)
{
    size_t n;
    const uint8_t *s = ursa_column_str(&o->batch.cols[0], row, &n);
    bool ok = n == strlen(want) && !memcmp(s, want, n);
    if (!ok) fprintf(stderr, "row %zu: \"%.*s\", want \"%s\"\n", row, (int)n, (const char *)s, want);
    return ok;
}

TEST(coerce_strings_to_numbers)
{
    one_t o = {0};
    run(&o, "{\"name\":\"x\",\"type\":\"int32\",\"coerce\":true,\"trim\":true}",
        LINES("\"42\"", "\" -7 \"", "\"4x\"", "\"\"", "17", "\"3.5\"", "\"99999999999\""));
    CHECK_EQ_INT(o.batch.nrows, 4);
    CHECK_EQ_INT(int_at(&o, 0), 42);
    CHECK_EQ_INT(int_at(&o, 1), -7);
    CHECK(!ursa_column_valid(&o.batch.cols[0], 2)); /* "" is a missing value under coerce */
    CHECK_EQ_INT(int_at(&o, 3), 17);
    EXPECT_ERROR(&o, 3, "malformed number", "\"4x\"", "type int32");
    EXPECT_ERROR(&o, 6, "not an integer", "\"3.5\"", "type int32");
    EXPECT_ERROR(&o, 7, "out of range", "\"99999999999\"", "type int32");
    done(&o);

    /* Off unless declared. */
    run(&o, "{\"name\":\"x\",\"type\":\"int64\"}", LINES("\"42\"", "42"));
    CHECK_EQ_INT(o.batch.nrows, 1);
    EXPECT_ERROR(&o, 1, "expected int64, got a string", "\"42\"", "type int64");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"float64\",\"coerce\":true}",
        LINES("\"3.5\"", "\"1e3\"", "\"abc\"", "2"));
    CHECK_EQ_INT(o.batch.nrows, 3);
    CHECK(ursa_column_f64(&o.batch.cols[0], 0) == 3.5);
    CHECK(ursa_column_f64(&o.batch.cols[0], 1) == 1000.0);
    CHECK(ursa_column_f64(&o.batch.cols[0], 2) == 2.0);
    EXPECT_ERROR(&o, 3, "malformed number", "\"abc\"", "type float64");
    done(&o);

    /* A non-null column refuses the empty string even under coerce. */
    run(&o, "{\"name\":\"x\",\"type\":\"int64\",\"nullable\":false,\"coerce\":true}", LINES("\"\"", "\"5\""));
    CHECK_EQ_INT(o.batch.nrows, 1);
    EXPECT_ERROR(&o, 1, "null in non-null column", "\"\"", "nullable false");
    done(&o);
}

TEST(coerce_bools_and_to_strings)
{
    one_t o = {0};
    run(&o, "{\"name\":\"x\",\"type\":\"bool\",\"coerce\":true}",
        LINES("\"true\"", "\"1\"", "\"yes\"", "\"Y\"", "\"OFF\"", "\"0\"", "1", "0", "false", "\"maybe\"",
              "2"));
    CHECK_EQ_INT(o.batch.nrows, 9);
    static const bool want[] = {true, true, true, true, false, false, true, false, false};
    for (size_t i = 0; i < 9; i++) CHECK(ursa_column_bool(&o.batch.cols[0], i) == want[i]);
    EXPECT_ERROR(&o, 10, "expected bool", "\"maybe\"", "type bool");
    EXPECT_ERROR(&o, 11, "expected bool, got a number", "2", "type bool");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"bool\"}", LINES("\"yes\"", "true"));
    CHECK_EQ_INT(o.batch.nrows, 1);
    EXPECT_ERROR(&o, 1, "expected bool, got a string", "\"yes\"", "type bool");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"string\",\"coerce\":true}",
        LINES("42", "true", "-1.50e3", "\"s\"", "{}"));
    CHECK_EQ_INT(o.batch.nrows, 4);
    CHECK(str_is(&o, 0, "42"));
    CHECK(str_is(&o, 1, "true"));
    CHECK(str_is(&o, 2, "-1.50e3")); /* the number's text as sent, not reformatted */
    CHECK(str_is(&o, 3, "s"));
    EXPECT_ERROR(&o, 5, "expected string", "{}", "type string");
    done(&o);
}

TEST(epoch_numbers_to_timestamps)
{
    one_t o = {0};
    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"epoch\":\"s\"}",
        LINES("1700000000", "\"1700000000.5\"", "-1.5", "\"2023-11-14T22:13:20Z\"", "1700000000.0000019",
              "1e9", "99999999999999999999"));
    CHECK_EQ_INT(o.batch.nrows, 5);
    CHECK_EQ_INT(int_at(&o, 0), 1700000000000000LL);
    CHECK_EQ_INT(int_at(&o, 1), 1700000000500000LL);
    CHECK_EQ_INT(int_at(&o, 2), -1500000LL);
    CHECK_EQ_INT(int_at(&o, 3), 1700000000000000LL);
    CHECK_EQ_INT(int_at(&o, 4), 1700000000000001LL); /* truncated below the µs */
    EXPECT_ERROR(&o, 6, "no exponent", "1e9", NULL);
    EXPECT_ERROR(&o, 7, "out of range", NULL, NULL);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"epoch\":\"ms\",\"unit\":\"ms\"}",
        LINES("1700000000123", "-1"));
    CHECK_EQ_INT(int_at(&o, 0), 1700000000123LL);
    CHECK_EQ_INT(int_at(&o, 1), -1);
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"epoch\":\"ns\"}", LINES("1700000000123456789", "-1"));
    CHECK_EQ_INT(int_at(&o, 0), 1700000000123456LL);
    CHECK_EQ_INT(int_at(&o, 1), -1); /* -1 ns is in the µs before the epoch */
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"epoch\":\"us\",\"unit\":\"ns\"}",
        LINES("1700000000123456"));
    CHECK_EQ_INT(int_at(&o, 0), 1700000000123456000LL);
    done(&o);

    /* Without "epoch" a number is a type error. */
    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\"}", LINES("1700000000"));
    EXPECT_ERROR(&o, 1, "expected timestamp, got a number", "1700000000", "type timestamp");
    done(&o);
}

TEST(declared_formats)
{
    one_t o = {0};
    run(&o,
        "{\"name\":\"x\",\"type\":\"timestamp\",\"formats\":[\"%d/%m/%Y %H:%M\",\"%b %e %Y %I:%M:%S.%f %p "
        "%z\"]}",
        LINES("\"24/11/2026 13:05\"", "\"nov  4 2026 01:05:06.25 PM +01:00\"", "\"2026-11-24T13:05:00Z\"",
              "\"31/02/2026 10:00\"", "\"yesterday\""));
    CHECK_EQ_INT(o.batch.nrows, 3);
    CHECK_EQ_INT(int_at(&o, 0), 1795525500000000LL); /* 2026-11-24T13:05:00Z */
    CHECK_EQ_INT(int_at(&o, 1), 1793793906250000LL); /* 2026-11-04T12:05:06.25Z */
    CHECK_EQ_INT(int_at(&o, 2), 1795525500000000LL);
    EXPECT_ERROR(&o, 4, "neither RFC 3339 nor a declared format", "\"31/02/2026 10:00\"", "formats");
    EXPECT_ERROR(&o, 5, "neither RFC 3339 nor a declared format", "\"yesterday\"", "formats");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"date\",\"formats\":[\"%m/%d/%Y\",\"%Y%j\"]}",
        LINES("\"11/24/2026\"", "\"2026-11-24\"", "\"2024060\"", "\"13/01/2026\""));
    CHECK_EQ_INT(o.batch.nrows, 3);
    CHECK_EQ_INT(int_at(&o, 0), 20781);
    CHECK_EQ_INT(int_at(&o, 1), 20781);
    CHECK_EQ_INT(int_at(&o, 2), 19782); /* day 60 of 2024 is 29 February */
    EXPECT_ERROR(&o, 4, "declared format", "\"13/01/2026\"", "formats");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"time\",\"formats\":[\"%I:%M %p\"]}",
        LINES("\"1:05 pm\"", "\"12:00 AM\""));
    CHECK_EQ_INT(o.batch.nrows, 2);
    CHECK_EQ_INT(int_at(&o, 0), (13 * 3600 + 5 * 60) * 1000000LL);
    CHECK_EQ_INT(int_at(&o, 1), 0);
    done(&o);
}

TEST(trim_case_enum)
{
    one_t o = {0};
    run(&o,
        "{\"name\":\"x\",\"type\":\"string\",\"trim\":true,\"case\":\"lower\",\"enum\":[\"view\",\"click\","
        "\"été\"]}",
        LINES("\" Click \"", "\"VIEW\"", "\"ÉTÉ\"", "\"tap\"", "\"cli ck\""));
    CHECK_EQ_INT(o.batch.nrows, 3);
    CHECK(str_is(&o, 0, "click"));
    CHECK(str_is(&o, 1, "view"));
    CHECK(str_is(&o, 2, "été"));
    EXPECT_ERROR(&o, 4, "not one of the allowed values", "\"tap\"", "enum [view, click, été]");
    EXPECT_ERROR(&o, 5, "not one of the allowed values", "\"cli ck\"", "enum");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"string\",\"case\":\"upper\"}", LINES("\"straße\"", "\"abc\""));
    CHECK(str_is(&o, 0, "STRASSE"));
    CHECK(str_is(&o, 1, "ABC"));
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"int16\",\"enum\":[3,1,2]}", LINES("2", "5", "null"));
    CHECK_EQ_INT(o.batch.nrows, 2);
    EXPECT_ERROR(&o, 2, "not one of the allowed values", "5", "enum [3, 1, 2]");
    done(&o);

    /* Trimming also applies before parsing: a padded timestamp. */
    run(&o, "{\"name\":\"x\",\"type\":\"timestamp\",\"trim\":true}", LINES("\" 2026-11-24T00:00:00Z\\n\""));
    CHECK_EQ_INT(o.batch.nrows, 1);
    done(&o);
}

TEST(ranges)
{
    one_t o = {0};
    run(&o, "{\"name\":\"x\",\"type\":\"int32\",\"min\":0,\"max\":150}",
        LINES("0", "150", "-1", "151", "75"));
    CHECK_EQ_INT(o.batch.nrows, 3);
    EXPECT_ERROR(&o, 3, "below the minimum", "-1", "min 0");
    EXPECT_ERROR(&o, 4, "above the maximum", "151", "max 150");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"float64\",\"min\":-0.5,\"max\":1e3}",
        LINES("-0.5", "-0.6", "1000.0001"));
    CHECK_EQ_INT(o.batch.nrows, 1);
    EXPECT_ERROR(&o, 2, "below the minimum", "-0.6", "min -0.5");
    EXPECT_ERROR(&o, 3, "above the maximum", "1000.0001", "max 1000");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"uint64\",\"max\":10}", LINES("10", "18446744073709551615"));
    CHECK_EQ_INT(o.batch.nrows, 1);
    EXPECT_ERROR(&o, 2, "above the maximum", "18446744073709551615", "max 10");
    done(&o);

    run(&o, "{\"name\":\"x\",\"type\":\"int8\",\"coerce\":true,\"min\":1}", LINES("\"0\"", "\"1\""));
    CHECK_EQ_INT(o.batch.nrows, 1);
    EXPECT_ERROR(&o, 1, "below the minimum", "\"0\"", "min 1");
    done(&o);
}

TEST(rejections_name_value_and_rule)
{
    one_t o = {0};
    /* A long value is cut at 64 bytes, never inside a UTF-8 sequence. */
    char line[400], want[80];
    memset(want, 0, sizeof(want));
    snprintf(line, sizeof(line), "\"%s\"",
             "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé"); /* 65 × 2 bytes */
    run(&o, "{\"name\":\"x\",\"type\":\"string\",\"max_length\":3}", LINES(line, "\"abc\""));
    CHECK_EQ_INT(o.batch.nrows, 1);
    const ursa_row_error_t *e = error_at(&o, 1);
    CHECK(e && !strncmp(e->value, "\"éééé", 9));
    CHECK(e && strlen(e->value) == 1 + 62 + 3 && !strcmp(e->value + 63, "..."));
    CHECK(e && !strcmp(e->rule, "max_length 3"));
    done(&o);

    /* Missing values name the nullable rule; duplicates name no rule. */
    run(&o, "{\"name\":\"x\",\"type\":\"int64\",\"nullable\":false}", LINES("null"));
    EXPECT_ERROR(&o, 1, "null in non-null column", "null", "nullable false");
    done(&o);
}

TEST(csv_cells_follow_the_rules)
{
    ursa_schema_t s;
    ursa_err_t err;
    const char *js = "{\"columns\":[{\"name\":\"b\",\"type\":\"bool\",\"coerce\":true},"
                     "{\"name\":\"n\",\"type\":\"int32\",\"trim\":true,\"max\":9},"
                     "{\"name\":\"t\",\"type\":\"timestamp\",\"epoch\":\"ms\"}]}";
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    CHECK(ursa_append_text_field(&p, &s.fields[0], &b.cols[0], "YES", 3) == NULL);
    CHECK(ursa_append_text_field(&p, &s.fields[1], &b.cols[1], " 7 ", 3) == NULL);
    CHECK(ursa_append_text_field(&p, &s.fields[2], &b.cols[2], "1700000000123", 13) == NULL);
    CHECK(ursa_column_bool(&b.cols[0], 0));
    CHECK_EQ_INT(*(const int32_t *)(const void *)ursa_column_ptr(&b.cols[1], 0), 7);
    CHECK_EQ_INT(ursa_column_i64(&b.cols[2], 0), 1700000000123000LL);
    CHECK(ursa_append_text_field(&p, &s.fields[1], &b.cols[1], "10", 2) != NULL);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);

    /* max_length holds for CSV cells of string and json columns without other rules too. */
    js = "{\"columns\":[{\"name\":\"s\",\"type\":\"string\",\"max_length\":3},"
         "{\"name\":\"j\",\"type\":\"json\",\"max_length\":3}]}";
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    CHECK(ursa_append_text_field(&p, &s.fields[0], &b.cols[0], "été", 5) == NULL); /* 3 characters */
    CHECK(ursa_append_text_field(&p, &s.fields[0], &b.cols[0], "abcd", 4) != NULL);
    CHECK(ursa_append_text_field(&p, &s.fields[1], &b.cols[1], "[1]", 3) == NULL);
    CHECK(ursa_append_text_field(&p, &s.fields[1], &b.cols[1], "[1,2]", 5) != NULL);
    CHECK_EQ_INT(b.cols[0].length, 1);
    CHECK_EQ_INT(b.cols[1].length, 1);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

TEST(schema_rules_checked_and_rendered)
{
    static const char *const bad[] = {
        "{\"name\":\"x\",\"type\":\"int64\",\"case\":\"lower\"}",
        "{\"name\":\"x\",\"type\":\"string\",\"case\":\"title\"}",
        "{\"name\":\"x\",\"type\":\"string\",\"epoch\":\"s\"}",
        "{\"name\":\"x\",\"type\":\"timestamp\",\"epoch\":\"days\"}",
        "{\"name\":\"x\",\"type\":\"timestamp\",\"formats\":[\"%Q\"]}",
        "{\"name\":\"x\",\"type\":\"timestamp\",\"formats\":[\"%I:%M\"]}",
        "{\"name\":\"x\",\"type\":\"timestamp\",\"formats\":[]}",
        "{\"name\":\"x\",\"type\":\"string\",\"formats\":[\"%Y\"]}",
        "{\"name\":\"x\",\"type\":\"float64\",\"enum\":[1.5]}",
        "{\"name\":\"x\",\"type\":\"int8\",\"enum\":[300]}",
        "{\"name\":\"x\",\"type\":\"string\",\"enum\":[1]}",
        "{\"name\":\"x\",\"type\":\"string\",\"enum\":[]}",
        "{\"name\":\"x\",\"type\":\"int32\",\"min\":5,\"max\":1}",
        "{\"name\":\"x\",\"type\":\"int32\",\"min\":0.5}",
        "{\"name\":\"x\",\"type\":\"uint8\",\"min\":-1}",
        "{\"name\":\"x\",\"type\":\"string\",\"min\":0}",
        "{\"name\":\"x\",\"type\":\"json\",\"coerce\":true}",
        "{\"name\":\"x\",\"type\":\"int64\",\"trim\":1}",
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(bad); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc), "{\"columns\":[%s]}", bad[i]);
        ursa_schema_t s;
        ursa_err_t err = {0};
        int rc = ursa_schema_parse(doc, strlen(doc), &s, &err);
        if (rc == URSA_OK) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            ursa_schema_free(&s);
        }
        CHECK(rc == URSA_EINVAL && strstr(err.msg, "column \"x\""));
    }
    /* Rendered and parsed again: the same schema. */
    const char *good =
        "{\"columns\":[{\"name\":\"x\",\"type\":\"string\",\"trim\":true,\"case\":\"upper\","
        "\"enum\":[\"B\",\"A\"],\"coerce\":true},{\"name\":\"t\",\"type\":\"timestamp\",\"epoch\":"
        "\"ms\",\"formats\":[\"%F %T\"]},{\"name\":\"f\",\"type\":\"float32\",\"min\":0.1,\"max\":2}]}";
    ursa_schema_t a, b;
    ursa_err_t err;
    CHECK(ursa_schema_parse(good, strlen(good), &a, &err) == URSA_OK);
    ursa_buf_t out = {0};
    CHECK(ursa_schema_to_json(&a, &out) == URSA_OK && ursa_buf_push(&out, 0) == URSA_OK);
    out.len--;
    CHECK(ursa_schema_parse((const char *)out.data, out.len, &b, &err) == URSA_OK);
    CHECK(ursa_schema_equal(&a, &b));
    CHECK(strstr((const char *)out.data, "\"enum\":[\"B\",\"A\"]") != NULL); /* as declared, not sorted */
    CHECK(strstr((const char *)out.data, "\"min\":0.1,") != NULL);
    ursa_buf_free(&out);
    ursa_schema_free(&b);
    ursa_schema_free(&a);
    /* Found by fuzz_rules: a bound past the range of long long (UBSan). */
    const char *huge = "{\"columns\":[{\"name\":\"f\",\"type\":\"float64\",\"min\":-1e300,\"max\":1e30}]}";
    CHECK(ursa_schema_parse(huge, strlen(huge), &a, &err) == URSA_OK);
    out = (ursa_buf_t){0};
    CHECK(ursa_schema_to_json(&a, &out) == URSA_OK && ursa_buf_push(&out, 0) == URSA_OK);
    CHECK(strstr((const char *)out.data, "\"min\":-1e+300,\"max\":1e+30") != NULL);
    CHECK(ursa_schema_parse((const char *)out.data, out.len - 1, &b, &err) == URSA_OK &&
          ursa_schema_equal(&a, &b));
    ursa_buf_free(&out);
    ursa_schema_free(&a);
    ursa_schema_free(&b);

    /* A default must pass the rules too. */
    const char *dflt =
        "{\"columns\":[{\"name\":\"x\",\"type\":\"string\",\"enum\":[\"a\"],\"default\":\"b\"}]}";
    CHECK(ursa_schema_parse(dflt, strlen(dflt), &a, &err) == URSA_OK);
    ursa_batch_t bt;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&bt, &a) == URSA_OK);
    CHECK(ursa_ndjson_init_err(&p, &a, &bt, 0, &err) == URSA_EINVAL);
    CHECK(strstr(err.msg, "not one of the allowed values") != NULL);
    ursa_batch_free(&bt);
    ursa_schema_free(&a);
}

/* A stand-in for another request that stores fields meanwhile: appends the
 * field to the shared (evolving) schema, as the catalog does. */
static void publish_field(ursa_schema_t *s, const char *name, ursa_type_t t)
{
    size_t n = strlen(name);
    ursa_field_t *f = &s->fields[s->nfields];
    memset(f, 0, sizeof(*f));
    f->name = ursa_malloc(n + 1);
    memcpy(f->name, name, n + 1);
    f->name_len = n;
    f->type = t;
    f->nullable = true;
    f->utc = true;
    f->unit = URSA_UNIT_US;
    __atomic_store_n(&s->nfields, s->nfields + 1, __ATOMIC_RELEASE);
}

TEST(evolve_adds_columns_mid_request)
{
    const char *js = "{\"columns\":[{\"name\":\"a\",\"type\":\"int64\"}],\"unknown_fields\":\"evolve\"}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK && s.evolve);
    ursa_batch_t b;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK);
    CHECK(ursa_ndjson_evolve(&p) == URSA_OK);
    const char *body = "{\"a\":1}\n"
                       "{\"a\":2,\"s\":\"x\",\"i\":-3,\"f\":2.5e1,\"t\":false,\"o\":{\"k\":[1]},\"z\":null}\n"
                       "{\"s\":\"y\",\"a\":\"bad\"}\n"
                       "{\"Bad\":1}\n"
                       "{\"i\":4}\n";
    CHECK(ursa_ndjson_feed(&p, body, strlen(body)) == URSA_OK);
    CHECK(ursa_ndjson_finish(&p) == URSA_OK);
    const ursa_schema_t *v = p.schema;
    CHECK_EQ_INT(v->nfields, 6); /* a s i f t o; z had only a null */
    CHECK_EQ_INT(p.base, 1);
    CHECK_EQ_INT(s.nfields, 1); /* the shared schema is not touched: the request's fields are its own */
    CHECK_EQ_INT(b.ncols, 6);
    CHECK_EQ_INT(b.nrows, 3);
    static const ursa_type_t want[] = {URSA_TYPE_INT64,   URSA_TYPE_STRING, URSA_TYPE_INT64,
                                       URSA_TYPE_FLOAT64, URSA_TYPE_BOOL,   URSA_TYPE_JSON};
    for (size_t i = 0; i < 6; i++) CHECK(v->fields[i].type == want[i] && v->fields[i].nullable);
    for (size_t i = 0; i < 6; i++) CHECK_EQ_INT(b.cols[i].length, 3);
    CHECK(!ursa_column_valid(&b.cols[1], 0)); /* row 1 predates the column: null */
    CHECK(ursa_column_f64(&b.cols[3], 1) == 25.0);
    CHECK_EQ_INT(ursa_column_i64(&b.cols[2], 2), 4);
    CHECK_EQ_INT(p.nerrors, 2);
    CHECK(p.errors[0].line == 3 && p.errors[0].column == 0 && !strcmp(p.errors[0].column_name, "a"));
    CHECK(p.errors[1].line == 4 && !strcmp(p.errors[1].value, "Bad") &&
          !strcmp(p.errors[1].rule, "unknown_fields evolve") && p.errors[1].column_name[0] == 0);

    /* A batch encoded before the change decodes under the wider schema with nulls. */
    ursa_schema_t narrow = *v;
    narrow.nfields = 2;
    ursa_batch_t old, wide;
    CHECK(ursa_batch_init(&old, &narrow) == URSA_OK);
    CHECK(ursa_column_append_i64(&old.cols[0], 9) == URSA_OK &&
          ursa_column_append_str(&old.cols[1], "q", 1) == URSA_OK);
    old.nrows = 1;
    ursa_buf_t enc = {0};
    CHECK(ursa_batch_encode(&old, &enc) == URSA_OK);
    CHECK(ursa_batch_init(&wide, v) == URSA_OK);
    CHECK(ursa_batch_decode(&wide, v, enc.data, enc.len) == URSA_OK);
    CHECK_EQ_INT(wide.nrows, 1);
    CHECK_EQ_INT(ursa_column_i64(&wide.cols[0], 0), 9);
    for (size_t i = 2; i < 6; i++) CHECK(wide.cols[i].length == 1 && !ursa_column_valid(&wide.cols[i], 0));
    ursa_buf_free(&enc);
    ursa_batch_free(&old);
    ursa_batch_free(&wide);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

/* A refused record takes the fields it brought with it: they add no column
 * and use up none of the room a later record needs (issue 11). */
TEST(evolve_refused_record_adds_no_field)
{
    const char *js = "{\"columns\":[{\"name\":\"a\",\"type\":\"int64\"}],\"unknown_fields\":\"evolve\"}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK &&
          ursa_ndjson_evolve(&p) == URSA_OK);
    ursa_buf_t body = {0};
    CHECK(ursa_buf_printf(&body, "{\"a\":1,\"x\":\"s\"}\n"                /* kept: x */
                                 "{\"y\":1,\"z\":true,\"a\":\"bad\"}\n"   /* refused for a: y, z go */
                                 "{\"w\":\"ok\",\"v\":tru}\n"             /* refused for its own v */
                                 "{\"x\":\"t\",\"u\":[1],\"x\":\"u\"}\n") /* refused: duplicate */
          == URSA_OK);
    /* 1,100 new fields: refused at the 1,024th column, and all of them go */
    CHECK(ursa_buf_printf(&body, "{\"a\":2") == URSA_OK);
    for (int i = 0; i < 1100; i++) CHECK(ursa_buf_printf(&body, ",\"w%d\":%d", i, i) == URSA_OK);
    CHECK(ursa_buf_printf(&body, "}\n{\"a\":3,\"late\":1.5}\n") == URSA_OK);
    CHECK(ursa_ndjson_feed(&p, (const char *)body.data, body.len) == URSA_OK);
    CHECK(ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(b.nrows, 2);
    CHECK_EQ_INT(p.schema->nfields, 3);
    CHECK_EQ_INT(b.ncols, 3);
    CHECK(!strcmp(p.schema->fields[1].name, "x") && p.schema->fields[1].type == URSA_TYPE_STRING);
    CHECK(!strcmp(p.schema->fields[2].name, "late") && p.schema->fields[2].type == URSA_TYPE_FLOAT64);
    for (size_t i = 0; i < 3; i++) CHECK_EQ_INT(b.cols[i].length, 2);
    CHECK(!ursa_column_valid(&b.cols[1], 1) && ursa_column_f64(&b.cols[2], 1) == 1.5);
    CHECK_EQ_INT(p.nerrors, 4);
    CHECK(p.errors[0].row == 2 && !strcmp(p.errors[0].column_name, "a") &&
          !strcmp(p.errors[0].rule, "type int64"));
    /* an error names a field that is gone by now */
    CHECK(p.errors[1].row == 3 && !strcmp(p.errors[1].column_name, "v"));
    CHECK(p.errors[2].row == 4 && !strcmp(p.errors[2].column_name, "x"));
    CHECK(p.errors[3].row == 5 && !strcmp(p.errors[3].rule, "columns max 1024") &&
          !strcmp(p.errors[3].value, "w1022"));
    CHECK_EQ_INT(s.nfields, 1);
    ursa_buf_free(&body);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

/* Fields another request stores meanwhile take the indices after the
 * scanner's base in the shared schema, the same indices as the scanner's
 * own: they never enter its view; one of the same name only lends its type. */
TEST(evolve_keeps_its_view_while_the_schema_grows)
{
    const char *js = "{\"columns\":[{\"name\":\"a\",\"type\":\"int64\"}],\"unknown_fields\":\"evolve\"}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b;
    ursa_ndjson_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK &&
          ursa_ndjson_evolve(&p) == URSA_OK);
    const char *r1 = "{\"a\":1,\"x\":\"s\"}\n";
    CHECK(ursa_ndjson_feed(&p, r1, strlen(r1)) == URSA_OK);
    publish_field(&s, "y", URSA_TYPE_FLOAT64);    /* index 1 of the dataset: x's in the request */
    publish_field(&s, "x", URSA_TYPE_INT64);      /* x as another type */
    const char *r2 = "{\"a\":2,\"y\":7}\n"        /* y is new here: float64, as stored (not int64) */
                     "{\"a\":3,\"x\":\"t\"}\n"    /* x stays the request's string (a conflict at commit) */
                     "{\"a\":4,\"y\":\"text\"}\n" /* refused: y is float64 */
                     "{\"a\":5,\"q\":\"r\"}\n";   /* q is new everywhere */
    CHECK(ursa_ndjson_feed(&p, r2, strlen(r2)) == URSA_OK);
    CHECK(ursa_ndjson_finish(&p) == URSA_OK);
    CHECK_EQ_INT(b.nrows, 4);
    CHECK_EQ_INT(p.schema->nfields, 4);
    CHECK_EQ_INT(b.ncols, 4);
    const ursa_field_t *f = p.schema->fields;
    CHECK(!strcmp(f[1].name, "x") && f[1].type == URSA_TYPE_STRING);
    CHECK(!strcmp(f[2].name, "y") && f[2].type == URSA_TYPE_FLOAT64);
    CHECK(!strcmp(f[3].name, "q") && f[3].type == URSA_TYPE_STRING);
    size_t n;
    CHECK(!memcmp(ursa_column_str(&b.cols[1], 2, &n), "t", 1) && n == 1);
    CHECK(ursa_column_valid(&b.cols[2], 1) && ursa_column_f64(&b.cols[2], 1) == 7.0);
    CHECK(!ursa_column_valid(&b.cols[2], 0) && !ursa_column_valid(&b.cols[2], 2));
    CHECK_EQ_INT(p.nerrors, 1);
    CHECK(p.errors[0].row == 4 && !strcmp(p.errors[0].column_name, "y") &&
          !strcmp(p.errors[0].rule, "type float64"));
    CHECK_EQ_INT(s.nfields, 3); /* a y x: the request's own fields are not in it */
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

/* Adding a field fails cleanly at every allocation: the request ends with
 * URSA_ENOMEM and frees everything (ASan/LSan check the rest). */
TEST(evolve_out_of_memory)
{
    const char *js = "{\"columns\":[{\"name\":\"a\",\"type\":\"int64\",\"default\":3}],"
                     "\"unknown_fields\":\"evolve\"}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    const char *body = "{\"a\":1}\n{\"b\":\"x\",\"c\":2,\"d\":[1]}\n{\"e\":1,\"a\":\"bad\"}\n{\"f\":true}\n";
    bool done = false;
    for (long k = 1; k < 200 && !done; k++) {
        ursa_batch_t b;
        ursa_ndjson_t p;
        CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&p, &s, &b, 0) == URSA_OK &&
              ursa_ndjson_evolve(&p) == URSA_OK);
        ursa_mem_fail_after(k);
        int rc = ursa_ndjson_feed(&p, body, strlen(body));
        ursa_mem_fail_after(0);
        CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
        for (size_t i = 0; i < b.ncols; i++) CHECK(b.cols[i].length <= b.nrows + 1);
        if (rc == URSA_OK) {
            done = true;
            CHECK_EQ_INT(b.nrows, 3);
            CHECK_EQ_INT(b.ncols, 5); /* a b c d f: e went with its record */
            CHECK_EQ_INT(p.schema->nfields, 5);
            CHECK(ursa_column_i64(&b.cols[0], 2) == 3); /* a's default */
        }
        ursa_ndjson_free(&p);
        ursa_batch_free(&b);
    }
    CHECK(done);
    ursa_schema_free(&s);
}

TEST(csv_header_aliases_and_evolve)
{
    const char *js = "{\"columns\":[{\"name\":\"user_id\",\"type\":\"int64\",\"aliases\":[\"userId\"]}],"
                     "\"unknown_fields\":\"evolve\"}";
    ursa_schema_t s;
    ursa_err_t err;
    CHECK(ursa_schema_parse(js, strlen(js), &s, &err) == URSA_OK);
    ursa_batch_t b;
    ursa_ndjson_t st;
    ursa_csv_t p;
    CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&st, &s, &b, 0) == URSA_OK);
    CHECK(ursa_ndjson_evolve(&st) == URSA_OK);
    CHECK(ursa_csv_init(&p, &st, NULL) == URSA_OK);
    const char *body = "userId,note\n7,hello\n8,\n";
    CHECK(ursa_csv_feed(&p, body, strlen(body)) == URSA_OK);
    CHECK(ursa_csv_finish(&p) == URSA_OK);
    CHECK_EQ_INT(st.schema->nfields, 2);
    CHECK_EQ_INT(s.nfields, 1);
    CHECK(st.schema->fields[1].type == URSA_TYPE_STRING && !strcmp(st.schema->fields[1].name, "note"));
    CHECK_EQ_INT(b.nrows, 2);
    CHECK_EQ_INT(ursa_column_i64(&b.cols[0], 1), 8);
    size_t n;
    CHECK(!memcmp(ursa_column_str(&b.cols[1], 0, &n), "hello", 5) && n == 5);
    CHECK(!ursa_column_valid(&b.cols[1], 1));
    ursa_csv_free(&p);
    ursa_ndjson_free(&st);
    ursa_batch_free(&b);

    /* A header that cannot be a column name refuses the body, and so does
     * one that would make more than 1,024 columns. */
    ursa_buf_t wide = {0};
    CHECK(ursa_buf_printf(&wide, "user_id") == URSA_OK);
    for (int i = 0; i < 1100; i++) CHECK(ursa_buf_printf(&wide, ",h%d", i) == URSA_OK);
    CHECK(ursa_buf_printf(&wide, "\n1\n") == URSA_OK);
    const struct {
        const char *body;
        size_t n;
        const char *msg;
    } bad[] = {{"user_id,Bad Name\n1,x\n", 22, "cannot become a column"},
               {(const char *)wide.data, wide.len, "\"h1023\" would make more than 1024 columns"}};
    for (size_t i = 0; i < 2; i++) {
        CHECK(ursa_batch_init(&b, &s) == URSA_OK && ursa_ndjson_init(&st, &s, &b, 0) == URSA_OK);
        CHECK(ursa_ndjson_evolve(&st) == URSA_OK);
        CHECK(ursa_csv_init(&p, &st, NULL) == URSA_OK);
        int rc = ursa_csv_feed(&p, bad[i].body, bad[i].n);
        if (rc == URSA_OK) rc = ursa_csv_finish(&p);
        CHECK_EQ_INT(rc, URSA_EFORMAT);
        CHECK(strstr(p.err.msg, bad[i].msg) != NULL);
        if (!strstr(p.err.msg, bad[i].msg)) fprintf(stderr, "%s\n", p.err.msg);
        CHECK_EQ_INT(s.nfields, 1);
        ursa_csv_free(&p);
        ursa_ndjson_free(&st);
        ursa_batch_free(&b);
    }
    ursa_buf_free(&wide);
    ursa_schema_free(&s);
}

int main(void)
{
    RUN(coerce_strings_to_numbers);
    RUN(coerce_bools_and_to_strings);
    RUN(epoch_numbers_to_timestamps);
    RUN(declared_formats);
    RUN(trim_case_enum);
    RUN(ranges);
    RUN(rejections_name_value_and_rule);
    RUN(csv_cells_follow_the_rules);
    RUN(schema_rules_checked_and_rendered);
    RUN(evolve_adds_columns_mid_request);
    RUN(evolve_refused_record_adds_no_field);
    RUN(evolve_keeps_its_view_while_the_schema_grows);
    RUN(evolve_out_of_memory);
    RUN(csv_header_aliases_and_evolve);
    return TEST_EXIT();
}
