/*
 * test_thrift.c -- the compact-protocol encoder: exact bytes for each kind
 * of value and header, round trips of varints, and failure reporting.
 */
#include "test.h"
#include "thrift.h"

#include <stdlib.h>

/* Encodes with fn and compares the output with the expected bytes. */
#define EXPECT_BYTES(buf, ...)                                                       \
    do {                                                                             \
        const uint8_t want_[] = {__VA_ARGS__};                                       \
        CHECK_EQ_INT((buf).len, sizeof(want_));                                      \
        if ((buf).len == sizeof(want_)) CHECK_MEM((buf).data, want_, sizeof(want_)); \
    } while (0)

TEST(field_header_delta_and_long_form)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_i32(&e, 1, 5);  /* delta 1: 0x15, zigzag(5) = 10 */
    thrift_field_i32(&e, 16, 0); /* delta 15: still short */
    thrift_field_i32(&e, 32, 1); /* delta 16: long form, id zigzag(32) = 64 */
    thrift_field_i64(&e, 2, -1); /* negative delta: long form */
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x15, 0x0a, 0xf5, 0x00, 0x05, 0x40, 0x02, 0x06, 0x04, 0x01, 0x00);
    ursa_buf_free(&b);
}

TEST(bool_fields_in_type_nibble)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_bool(&e, 1, true);
    thrift_field_bool(&e, 2, false);
    thrift_field_bool(&e, 20, true);
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x11, 0x12, 0x01, 0x28, 0x00);
    ursa_buf_free(&b);
}

TEST(integers_and_zigzag)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_i32(&e, 1, 300);       /* zigzag 600 = 0xd8 0x04 */
    thrift_field_i32(&e, 2, -300);      /* zigzag 599 = 0xd7 0x04 */
    thrift_field_i64(&e, 3, INT64_MIN); /* zigzag 2^64 - 1 */
    thrift_field_i64(&e, 4, INT64_MAX); /* zigzag 2^64 - 2 */
    thrift_field_i8(&e, 5, -2);
    thrift_field_i16(&e, 6, 7);
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x15, 0xd8, 0x04, 0x15, 0xd7, 0x04, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                 0xff, 0x01, 0x16, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x13, 0xfe,
                 0x14, 0x0e, 0x00);
    ursa_buf_free(&b);
}

TEST(binary_and_string)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_string(&e, 4, "abc");
    thrift_field_binary(&e, 5, "", 0);
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x48, 0x03, 'a', 'b', 'c', 0x18, 0x00, 0x00);
    ursa_buf_free(&b);

    /* A 200-byte string has a two-byte length varint. */
    char big[200];
    memset(big, 'x', sizeof(big));
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_binary(&e, 1, big, sizeof(big));
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    CHECK_EQ_INT(b.len, 1 + 2 + 200 + 1);
    CHECK_EQ_INT(b.data[1], 0xc8);
    CHECK_EQ_INT(b.data[2], 0x01);
    ursa_buf_free(&b);
}

TEST(lists_short_and_long)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_list_begin(&e, 2, THRIFT_I32, 3);
    thrift_elem_i32(&e, 0);
    thrift_elem_i32(&e, 3);
    thrift_elem_i32(&e, 8);
    thrift_field_list_begin(&e, 3, THRIFT_BINARY, 1);
    thrift_elem_string(&e, "id");
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x29, 0x35, 0x00, 0x06, 0x10, 0x19, 0x18, 0x02, 'i', 'd', 0x00);
    ursa_buf_free(&b);

    /* 15 or more elements: 0xf0 | type, then the count as a varint. */
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_list_begin(&e, 1, THRIFT_I64, 20);
    for (int i = 0; i < 20; i++) thrift_elem_i64(&e, 1);
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    CHECK_EQ_INT(b.len, 1 + 1 + 1 + 20 + 1);
    CHECK_EQ_INT(b.data[0], 0x19);
    CHECK_EQ_INT(b.data[1], 0xf6);
    CHECK_EQ_INT(b.data[2], 20);
    CHECK_EQ_INT(b.data[3], 0x02);
    ursa_buf_free(&b);
}

TEST(nested_structs_restart_field_ids)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_i32(&e, 1, 1);
    thrift_field_struct_begin(&e, 5);
    thrift_field_i32(&e, 1, 2); /* delta from 0, not from 5 */
    thrift_struct_end(&e);
    thrift_field_i32(&e, 6, 3); /* delta from 5 */
    thrift_field_list_begin(&e, 7, THRIFT_STRUCT, 2);
    for (int i = 0; i < 2; i++) {
        thrift_struct_begin(&e);
        thrift_field_struct_begin(&e, 1); /* an empty struct, e.g. a union member */
        thrift_struct_end(&e);
        thrift_struct_end(&e);
    }
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x15, 0x02, 0x4c, 0x15, 0x04, 0x00, 0x15, 0x06, 0x19, 0x2c, 0x1c, 0x00, 0x00, 0x1c, 0x00,
                 0x00, 0x00);
    ursa_buf_free(&b);
}

/* A reader for varints, to round-trip many values. */
static uint64_t read_varint(const uint8_t **p)
{
    uint64_t v = 0;
    int shift = 0;
    for (;;) {
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
        shift += 7;
    }
}

TEST(zigzag_round_trip)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    int64_t vals[2000];
    srand(7);
    for (int i = 0; i < 2000; i++) {
        uint64_t r = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();
        int shift = rand() % 64;
        vals[i] = (int64_t)(r >> shift) * (i % 2 ? -1 : 1);
    }
    vals[0] = INT64_MIN;
    vals[1] = INT64_MAX;
    vals[2] = 0;
    vals[3] = -1;
    for (int i = 0; i < 2000; i++) thrift_write_zigzag(&e, vals[i]);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);
    const uint8_t *p = b.data;
    for (int i = 0; i < 2000; i++) {
        uint64_t u = read_varint(&p);
        int64_t v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
        if (v != vals[i]) {
            CHECK(v == vals[i]);
            break;
        }
    }
    CHECK(p == b.data + b.len);
    ursa_buf_free(&b);
}

TEST(misuse_is_reported)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;

    thrift_enc_init(&e, &b);
    thrift_field_i32(&e, 1, 1); /* no struct open */
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_EINTERNAL);

    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_EINTERNAL); /* unclosed */

    thrift_enc_init(&e, &b);
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_EINTERNAL);

    thrift_enc_init(&e, &b);
    for (int i = 0; i < THRIFT_MAX_DEPTH + 1; i++) thrift_struct_begin(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_EINTERNAL);
    ursa_buf_free(&b);
}

TEST(out_of_memory_sticks)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    ursa_mem_fail_after(1);
    thrift_struct_begin(&e);
    thrift_field_string(&e, 1, "hello");
    thrift_field_i32(&e, 2, 1);
    thrift_struct_end(&e);
    ursa_mem_fail_after(0);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_ENOMEM);
    ursa_buf_free(&b);
}

/* ---------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------- */

/* Everything the encoder writes, read back by the decoder. */
/* No bytes at all, as a NULL pointer (an empty page index read from a file;
 * the undefined NULL + 0 this once did shows in clang's UBSan, which replays
 * fuzz/corpus/read/regression_empty_column_index). */
TEST(decode_nothing)
{
    thrift_dec_t d;
    ursa_err_t err = {0};
    thrift_dec_init(&d, NULL, 0, &err);
    CHECK_EQ_INT(thrift_dec_struct_begin(&d), URSA_OK);
    int16_t id;
    int t;
    CHECK_EQ_INT(thrift_dec_field(&d, &id, &t), URSA_EFORMAT);
}

TEST(decode_round_trip)
{
    ursa_buf_t b = {0};
    thrift_enc_t e;
    thrift_enc_init(&e, &b);
    thrift_struct_begin(&e);
    thrift_field_bool(&e, 1, true);
    thrift_field_bool(&e, 2, false);
    thrift_field_i8(&e, 3, -5);
    thrift_field_i16(&e, 4, -300);
    thrift_field_i32(&e, 5, INT32_MIN);
    thrift_field_i64(&e, 40, INT64_MIN); /* long-form header */
    thrift_field_string(&e, 41, "hello");
    thrift_field_list_begin(&e, 42, THRIFT_I64, 20); /* long-form count */
    for (int i = 0; i < 20; i++) thrift_elem_i64(&e, (int64_t)i * -1000000007);
    thrift_field_list_begin(&e, 43, THRIFT_TRUE, 2);
    thrift_elem_bool(&e, true);
    thrift_elem_bool(&e, false);
    thrift_field_struct_begin(&e, 2); /* negative delta: long form */
    thrift_field_i64(&e, 1, 7);
    thrift_struct_end(&e);
    thrift_field_i32(&e, 99, 1); /* unknown: skipped */
    thrift_struct_end(&e);
    CHECK_EQ_INT(thrift_enc_status(&e), URSA_OK);

    thrift_dec_t d;
    ursa_err_t err = {0};
    thrift_dec_init(&d, b.data, b.len, &err);
    int16_t id = 0;
    int t = 0, n_fields = 0;
    CHECK_EQ_INT(thrift_dec_struct_begin(&d), URSA_OK);
    for (;;) {
        CHECK_EQ_INT(thrift_dec_field(&d, &id, &t), URSA_OK);
        if (t == THRIFT_STOP) break;
        n_fields++;
        int64_t v = 0;
        switch (id) {
        case 1:
            CHECK_EQ_INT(t, THRIFT_TRUE);
            break;
        case 3:
            CHECK_EQ_INT(thrift_dec_int(&d, t, &v), URSA_OK);
            CHECK_EQ_INT(v, -5);
            break;
        case 4:
            CHECK_EQ_INT(thrift_dec_int(&d, t, &v), URSA_OK);
            CHECK_EQ_INT(v, -300);
            break;
        case 5:
            CHECK_EQ_INT(thrift_dec_int(&d, t, &v), URSA_OK);
            CHECK_EQ_INT(v, INT32_MIN);
            break;
        case 40:
            CHECK_EQ_INT(thrift_dec_int(&d, t, &v), URSA_OK);
            CHECK(v == INT64_MIN);
            break;
        case 41: {
            const uint8_t *p;
            size_t n;
            CHECK_EQ_INT(thrift_dec_binary(&d, &p, &n), URSA_OK);
            CHECK(n == 5 && memcmp(p, "hello", 5) == 0);
            break;
        }
        case 42: {
            int et;
            size_t n;
            CHECK_EQ_INT(thrift_dec_list_begin(&d, &et, &n), URSA_OK);
            CHECK_EQ_INT(et, THRIFT_I64);
            CHECK_EQ_INT(n, 20);
            for (size_t i = 0; i < n; i++) {
                CHECK_EQ_INT(thrift_dec_i64(&d, &v), URSA_OK);
                CHECK(v == (int64_t)i * -1000000007);
            }
            thrift_dec_list_end(&d);
            break;
        }
        case 43: {
            int et;
            size_t n;
            bool x, y;
            CHECK_EQ_INT(thrift_dec_list_begin(&d, &et, &n), URSA_OK);
            CHECK(et == THRIFT_TRUE && n == 2);
            CHECK(thrift_dec_bool_elem(&d, &x) == URSA_OK && x);
            CHECK(thrift_dec_bool_elem(&d, &y) == URSA_OK && !y);
            thrift_dec_list_end(&d);
            break;
        }
        case 2:
            if (t == THRIFT_FALSE) break;
            CHECK_EQ_INT(t, THRIFT_STRUCT);
            CHECK_EQ_INT(thrift_dec_skip(&d, t, false), URSA_OK);
            break;
        default:
            CHECK_EQ_INT(id, 99);
            CHECK_EQ_INT(thrift_dec_skip(&d, t, false), URSA_OK);
        }
    }
    CHECK_EQ_INT(n_fields, 11);
    CHECK_EQ_INT(d.depth, 0);
    CHECK_EQ_INT(thrift_dec_left(&d), 0);
    ursa_buf_free(&b);
}

TEST(decode_double_map_set_skip)
{
    /* struct { 1: double 1.5, 2: map<i32,binary>{1:"a"}, 3: set<i8>{1,2}, 4: map {} } */
    const uint8_t in[] = {0x17, 0,    0,    0,   0,    0,    0,    0xf8, 0x3f, 0x1b, 0x01,
                          0x58, 0x02, 0x01, 'a', 0x1a, 0x23, 0x01, 0x02, 0x1b, 0x00, 0x00};
    thrift_dec_t d;
    thrift_dec_init(&d, in, sizeof(in), NULL);
    int16_t id = 0;
    int t;
    double x;
    CHECK_EQ_INT(thrift_dec_struct_begin(&d), URSA_OK);
    CHECK(thrift_dec_field(&d, &id, &t) == URSA_OK && t == THRIFT_DOUBLE);
    CHECK(thrift_dec_double(&d, &x) == URSA_OK && x == 1.5);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(thrift_dec_field(&d, &id, &t), URSA_OK);
        CHECK_EQ_INT(thrift_dec_skip(&d, t, false), URSA_OK);
    }
    CHECK(thrift_dec_field(&d, &id, &t) == URSA_OK && t == THRIFT_STOP);
    CHECK_EQ_INT(thrift_dec_left(&d), 0);
    /* The whole struct skipped at once, and every prefix of it refused. */
    for (size_t n = 0; n <= sizeof(in); n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, in, n);
        thrift_dec_init(&d, copy, n, NULL);
        CHECK_EQ_INT(thrift_dec_skip(&d, THRIFT_STRUCT, false), n == sizeof(in) ? URSA_OK : URSA_EFORMAT);
        free(copy);
    }
}

TEST(decode_errors_name_offset)
{
    ursa_err_t err = {0};
    thrift_dec_t d;
    uint64_t v;
    /* 11-byte varint; a 10th byte above 1 overflows. */
    const uint8_t long_var[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    thrift_dec_init(&d, long_var, sizeof(long_var), &err);
    CHECK_EQ_INT(thrift_dec_varint(&d, &v), URSA_EFORMAT);
    CHECK(strstr(err.msg, "at byte 10") != NULL);
    const uint8_t max_var[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    thrift_dec_init(&d, max_var, sizeof(max_var), &err);
    CHECK(thrift_dec_varint(&d, &v) == URSA_OK && v == UINT64_MAX);
    const uint8_t over_var[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    thrift_dec_init(&d, over_var, sizeof(over_var), &err);
    CHECK_EQ_INT(thrift_dec_varint(&d, &v), URSA_EFORMAT);
    /* i32 out of range. */
    const uint8_t big32[] = {0x80, 0x80, 0x80, 0x80, 0x10};
    int32_t i32;
    thrift_dec_init(&d, big32, sizeof(big32), &err);
    CHECK_EQ_INT(thrift_dec_i32(&d, &i32), URSA_EFORMAT);
    CHECK(strstr(err.msg, "i32 out of range") != NULL);
    /* A binary longer than the input. */
    const uint8_t bin[] = {0x05, 'a', 'b'};
    const uint8_t *p;
    size_t n;
    thrift_dec_init(&d, bin, sizeof(bin), &err);
    CHECK_EQ_INT(thrift_dec_binary(&d, &p, &n), URSA_EFORMAT);
    CHECK(strstr(err.msg, "binary of 5 bytes with 2 left at byte 1") != NULL);
    /* A list count larger than the bytes left. */
    const uint8_t list[] = {0xf5, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00};
    int et;
    thrift_dec_init(&d, list, sizeof(list), &err);
    CHECK_EQ_INT(thrift_dec_list_begin(&d, &et, &n), URSA_EFORMAT);
    CHECK(strstr(err.msg, "list of 2147483647 elements") != NULL);
    /* Bad field and element types. */
    const uint8_t bad_field[] = {0x1d};
    int16_t id = 0;
    int t;
    thrift_dec_init(&d, bad_field, sizeof(bad_field), &err);
    CHECK_EQ_INT(thrift_dec_field(&d, &id, &t), URSA_EFORMAT);
    thrift_dec_init(&d, bad_field, sizeof(bad_field), &err);
    CHECK_EQ_INT(thrift_dec_skip(&d, 13, false), URSA_EFORMAT);
}

TEST(decode_nesting_limit)
{
    /* Structs, lists and maps nested 10,000 deep: an error, not a stack overflow. */
    size_t depth = 10000;
    uint8_t *p = calloc(depth * 3, 1);
    thrift_dec_t d;
    ursa_err_t err = {0};
    for (size_t i = 0; i < depth; i++) p[i] = 0x1c; /* field 1, struct */
    thrift_dec_init(&d, p, depth * 3, &err);
    CHECK_EQ_INT(thrift_dec_skip(&d, THRIFT_STRUCT, false), URSA_EFORMAT);
    CHECK(strstr(err.msg, "nested deeper than 64") != NULL);
    for (size_t i = 0; i < depth; i++) p[i] = 0x19; /* list of one list */
    thrift_dec_init(&d, p, depth * 3, &err);
    CHECK_EQ_INT(thrift_dec_skip(&d, THRIFT_LIST, false), URSA_EFORMAT);
    CHECK(strstr(err.msg, "nested deeper") != NULL);
    for (size_t i = 0; i + 3 <= depth * 3; i += 3) p[i] = 0x01, p[i + 1] = 0x3b, p[i + 2] = 0; /* {i8: map} */
    thrift_dec_init(&d, p, depth * 3, &err);
    CHECK_EQ_INT(thrift_dec_skip(&d, THRIFT_MAP, false), URSA_EFORMAT);
    CHECK(strstr(err.msg, "nested deeper") != NULL);
    /* 63 levels are fine. */
    memset(p, 0, depth * 3);
    for (size_t i = 0; i < 63; i++) p[i] = 0x1c;
    thrift_dec_init(&d, p, 63 * 2 + 1, &err);
    CHECK_EQ_INT(thrift_dec_skip(&d, THRIFT_STRUCT, false), URSA_OK);
    CHECK_EQ_INT(d.depth, 0);
    free(p);
}

int main(void)
{
    RUN(field_header_delta_and_long_form);
    RUN(bool_fields_in_type_nibble);
    RUN(integers_and_zigzag);
    RUN(binary_and_string);
    RUN(lists_short_and_long);
    RUN(nested_structs_restart_field_ids);
    RUN(zigzag_round_trip);
    RUN(misuse_is_reported);
    RUN(out_of_memory_sticks);
    RUN(decode_nothing);
    RUN(decode_round_trip);
    RUN(decode_double_map_set_skip);
    RUN(decode_errors_name_offset);
    RUN(decode_nesting_limit);
    return TEST_EXIT();
}
