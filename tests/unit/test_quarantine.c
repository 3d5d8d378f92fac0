/* Unit tests for the quarantine rows (quarantine.c) and the footer reader
 * that lists their files (pq_read.c). */
#include "pq_read.h"
#include "pq_write.h"
#include "quarantine.h"
#include "test.h"

#include <stdlib.h>

typedef struct fixture {
    ursa_schema_t s;
    ursa_batch_t b;
} fixture_t;

static void setup(fixture_t *f)
{
    ursa_flush_policy_t p = {.max_rows = 7};
    if (ursa_quarantine_schema(&f->s, &p) || ursa_batch_init(&f->b, &f->s)) abort();
}

static void teardown(fixture_t *f)
{
    ursa_batch_free(&f->b);
    ursa_schema_free(&f->s);
}

static bool str_eq(const ursa_column_t *c, size_t i, const char *want, size_t wn)
{
    size_t n;
    const uint8_t *s = ursa_column_str(c, i, &n);
    return ursa_column_valid(c, i) && n == wn && memcmp(s, want, n) == 0;
}

static ursa_row_error_t err_of(uint64_t row, const char *raw, size_t n, bool cut)
{
    ursa_row_error_t e = {.row = row, .line = row + 1, .column = 2, .reason = "bad value"};
    if (row == 3) { /* the first row of raw_kept_byte_for_byte_when_valid: value and rule set */
        snprintf(e.value, sizeof(e.value), "\"x\"");
        snprintf(e.rule, sizeof(e.rule), "type int64");
    }
    e.raw = raw;
    e.raw_len = n;
    e.raw_truncated = cut;
    return e;
}

TEST(schema_is_fixed_and_takes_the_policy)
{
    fixture_t f;
    setup(&f);
    CHECK_EQ_INT(f.s.nfields, URSA_Q_NCOLS);
    CHECK_EQ_INT(f.s.time_column, URSA_Q_RECEIVED_AT);
    CHECK(strcmp(f.s.fields[URSA_Q_RAW].name, "raw") == 0);
    CHECK(f.s.fields[URSA_Q_COLUMN].nullable && !f.s.fields[URSA_Q_RAW].nullable);
    CHECK_EQ_INT(f.s.flush.max_rows, 7);
    char name[32];
    CHECK_EQ_INT(ursa_quarantine_name("events", name, sizeof(name)), URSA_OK);
    CHECK(strcmp(name, "_quarantine/events") == 0);
    CHECK_EQ_INT(ursa_quarantine_name("events", name, 12), URSA_EINVAL);
    teardown(&f);
}

TEST(raw_kept_byte_for_byte_when_valid)
{
    fixture_t f;
    setup(&f);
    static const char raw[] = "{\"s\":\"h\xc3\xa9 \xf0\x9f\x98\x80\",\"n\":\"x\"}\t\x01";
    ursa_row_error_t e = err_of(3, raw, sizeof(raw) - 1, false);
    CHECK_EQ_INT(ursa_quarantine_append(&f.b, 1700000000123456, "req-1", &e, "n"), URSA_OK);
    e = err_of(4, NULL, 0, false);
    CHECK_EQ_INT(ursa_quarantine_append(&f.b, 1700000000123456, "req-1", &e, NULL), URSA_OK);
    CHECK_EQ_INT(f.b.nrows, 2);
    CHECK(str_eq(&f.b.cols[URSA_Q_RAW], 0, raw, sizeof(raw) - 1));
    CHECK(str_eq(&f.b.cols[URSA_Q_RAW], 1, "", 0));
    CHECK(!ursa_column_valid(&f.b.cols[URSA_Q_COLUMN], 1));
    CHECK(str_eq(&f.b.cols[URSA_Q_COLUMN], 0, "n", 1));
    CHECK(!ursa_column_bool(&f.b.cols[URSA_Q_RAW_REPLACED], 0) &&
          !ursa_column_bool(&f.b.cols[URSA_Q_RAW_TRUNCATED], 0));

    ursa_buf_t j = {0};
    CHECK_EQ_INT(ursa_quarantine_row_json(&f.b, 0, &j), URSA_OK);
    static const char want[] =
        "{\"received_at\":\"2023-11-14T22:13:20.123456Z\",\"request_id\":\"req-1\",\"row\":3,"
        "\"line\":4,\"column\":\"n\",\"reason\":\"bad value\",\"value\":\"\\\"x\\\"\",\"rule\":\"type "
        "int64\","
        "\"raw\":\"{\\\"s\\\":\\\"h\xc3\xa9 "
        "\xf0\x9f\x98\x80\\\",\\\"n\\\":\\\"x\\\"}\\u0009\\u0001\",\"raw_truncated\":false,"
        "\"raw_replaced\":false}";
    CHECK(j.len == sizeof(want) - 1 && memcmp(j.data, want, j.len) == 0);
    if (j.len != sizeof(want) - 1 || memcmp(j.data, want, j.len))
        fprintf(stderr, "got %.*s\n", (int)j.len, j.data);
    ursa_buf_free(&j);
    teardown(&f);
}

TEST(invalid_utf8_is_replaced_and_said)
{
    static const struct {
        const char *raw, *want;
    } cases[] = {
        {"a\xff"
         "b",
         "a\xef\xbf\xbd"
         "b"},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* overlong '/' */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* a surrogate */
        {"x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd"},                               /* cut in the middle */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
    };
    for (size_t k = 0; k < URSA_ARRAY_LEN(cases); k++) {
        fixture_t f;
        setup(&f);
        ursa_row_error_t e = err_of(1, cases[k].raw, strlen(cases[k].raw), false);
        CHECK_EQ_INT(ursa_quarantine_append(&f.b, 0, "r", &e, NULL), URSA_OK);
        CHECK(str_eq(&f.b.cols[URSA_Q_RAW], 0, cases[k].want, strlen(cases[k].want)));
        CHECK(ursa_column_bool(&f.b.cols[URSA_Q_RAW_REPLACED], 0));
        CHECK(!ursa_column_bool(&f.b.cols[URSA_Q_RAW_TRUNCATED], 0));
        teardown(&f);
    }
}

TEST(long_raw_is_cut_on_a_character_boundary)
{
    size_t n = URSA_QUARANTINE_RAW_MAX + 10;
    char *raw = malloc(n);
    memset(raw, 'a', n);
    /* a 4-byte character straddling the cap */
    memcpy(raw + URSA_QUARANTINE_RAW_MAX - 2, "\xf0\x9f\x98\x80", 4);
    fixture_t f;
    setup(&f);
    ursa_row_error_t e = err_of(1, raw, n, false);
    CHECK_EQ_INT(ursa_quarantine_append(&f.b, 0, "r", &e, NULL), URSA_OK);
    size_t got;
    const uint8_t *s = ursa_column_str(&f.b.cols[URSA_Q_RAW], 0, &got);
    CHECK_EQ_INT(got, URSA_QUARANTINE_RAW_MAX - 2);
    CHECK(memcmp(s, raw, got) == 0);
    CHECK(ursa_column_bool(&f.b.cols[URSA_Q_RAW_TRUNCATED], 0));
    CHECK(!ursa_column_bool(&f.b.cols[URSA_Q_RAW_REPLACED], 0));
    /* a scanner that already cut the record says so, even when it fits */
    e = err_of(2, "abc", 3, true);
    CHECK_EQ_INT(ursa_quarantine_append(&f.b, 0, "r", &e, NULL), URSA_OK);
    CHECK(ursa_column_bool(&f.b.cols[URSA_Q_RAW_TRUNCATED], 1));
    teardown(&f);
    free(raw);
}

TEST(out_of_memory_leaves_the_batch_as_it_was)
{
    for (long k = 1; k < 40; k++) {
        fixture_t f;
        setup(&f);
        ursa_row_error_t e = err_of(1, "bad\xff", 4, false);
        CHECK_EQ_INT(ursa_quarantine_append(&f.b, 5, "r", &e, "c"), URSA_OK);
        ursa_mem_fail_after(k);
        int rc = ursa_quarantine_append(&f.b, 5, "r2", &e, "c");
        ursa_mem_fail_after(0);
        CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
        CHECK_EQ_INT(f.b.nrows, rc == URSA_OK ? 2 : 1);
        for (size_t c = 0; c < URSA_Q_NCOLS; c++) CHECK_EQ_INT(f.b.cols[c].length, f.b.nrows);
        teardown(&f);
    }
}

/* ------------------------------------------------------------------ pq_read */

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    (void)err;
    return ursa_buf_append(ctx, p, n);
}

TEST(footer_row_count_of_a_written_file)
{
    fixture_t f;
    setup(&f);
    for (uint64_t i = 0; i < 1000; i++) {
        ursa_row_error_t e = err_of(i + 1, "x", 1, false);
        CHECK_EQ_INT(ursa_quarantine_append(&f.b, (int64_t)i, "r", &e, i % 2 ? "c" : NULL), URSA_OK);
    }
    ursa_buf_t file = {0};
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.row_group_rows = 300; /* several row groups: num_rows is the file's total */
    o.kv_key = "k";
    o.kv_value = "v";
    pq_writer_t *w = NULL;
    ursa_err_t err;
    ursa_sink_t sink = {mem_write, &file};
    uint64_t bytes;
    CHECK_EQ_INT(pq_writer_new(&w, &f.s, &o, sink, &err), URSA_OK);
    CHECK_EQ_INT(pq_writer_write(w, &f.b, 0, f.b.nrows, &err), URSA_OK);
    CHECK_EQ_INT(pq_writer_close(w, &bytes, &err), URSA_OK);
    pq_writer_destroy(&w);
    uint32_t flen = 0;
    int64_t rows = -1;
    CHECK_EQ_INT(pq_read_footer_len(file.data, file.len, &flen), URSA_OK);
    CHECK(flen + 8 < file.len);
    CHECK_EQ_INT(pq_read_num_rows(file.data + file.len - 8 - flen, flen, &rows), URSA_OK);
    CHECK_EQ_INT(rows, 1000);
    /* Every truncation and a flipped byte anywhere: an answer or EFORMAT, never a crash. */
    const uint8_t *footer = file.data + file.len - 8 - flen;
    for (uint32_t cut = 0; cut < flen; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, footer, cut);
        int64_t r2;
        int rc = pq_read_num_rows(copy, cut, &r2);
        CHECK(rc == URSA_EFORMAT || (rc == URSA_OK && r2 == 1000));
        free(copy);
    }
    uint8_t *copy = malloc(flen);
    for (uint32_t i = 0; i < flen; i++) {
        memcpy(copy, footer, flen);
        copy[i] ^= 0xA5;
        int64_t r2;
        int rc = pq_read_num_rows(copy, flen, &r2);
        CHECK(rc == URSA_OK || rc == URSA_EFORMAT);
    }
    free(copy);
    CHECK_EQ_INT(pq_read_footer_len((const uint8_t *)"PAR1PAR1", 8, &flen), URSA_OK);
    CHECK_EQ_INT(pq_read_footer_len((const uint8_t *)"PAR1xxxx", 8, &flen), URSA_EFORMAT);
    CHECK_EQ_INT(pq_read_footer_len((const uint8_t *)"PAR1", 4, &flen), URSA_EFORMAT);
    ursa_buf_free(&file);
    teardown(&f);
}

int main(void)
{
    RUN(schema_is_fixed_and_takes_the_policy);
    RUN(raw_kept_byte_for_byte_when_valid);
    RUN(invalid_utf8_is_replaced_and_said);
    RUN(long_raw_is_cut_on_a_character_boundary);
    RUN(out_of_memory_leaves_the_batch_as_it_was);
    RUN(footer_row_count_of_a_written_file);
    return TEST_EXIT();
}
