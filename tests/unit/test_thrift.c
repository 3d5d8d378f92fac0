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
    return TEST_EXIT();
}
