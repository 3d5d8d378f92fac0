/*
 * test_avro.c -- the Avro encoder against bytes worked out by hand from the
 * Avro specification, the container header byte for byte, Iceberg bounds,
 * failures (allocation, sink, misuse), and manifests and manifest lists read
 * back by an independent reader: Debian's python3-avro (tests/tools/
 * avro_check.py), with both codecs and several blocks per file.
 */
#include "avro.h"
#include "iceberg_avro.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef URSA_SOURCE_DIR
#error "URSA_SOURCE_DIR must name the source tree (CMakeLists.txt sets it)"
#endif

#define EXPECT_BYTES(buf, ...)                                                       \
    do {                                                                             \
        const uint8_t want_[] = {__VA_ARGS__};                                       \
        CHECK_EQ_INT((buf).len, sizeof(want_));                                      \
        if ((buf).len == sizeof(want_)) CHECK_MEM((buf).data, want_, sizeof(want_)); \
    } while (0)

/* Encodes one long and compares. */
static void long_is(int64_t v, const uint8_t *want, size_t n)
{
    ursa_buf_t b = {0};
    avro_enc_t e;
    avro_enc_init(&e, &b);
    avro_enc_long(&e, v);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_OK);
    CHECK_EQ_INT(b.len, n);
    if (b.len == n) CHECK_MEM(b.data, want, n);
    if (b.len != n || memcmp(b.data, want, n)) fprintf(stderr, "  (long %lld)\n", (long long)v);
    ursa_buf_free(&b);
}

TEST(zigzag_varints_from_the_spec)
{
    /* The specification's table: 0 -> 00, -1 -> 01, 1 -> 02, -2 -> 03, 2 -> 04, -64 -> 7f, 64 -> 80 01. */
    long_is(0, (const uint8_t[]){0x00}, 1);
    long_is(-1, (const uint8_t[]){0x01}, 1);
    long_is(1, (const uint8_t[]){0x02}, 1);
    long_is(-2, (const uint8_t[]){0x03}, 1);
    long_is(2, (const uint8_t[]){0x04}, 1);
    long_is(-64, (const uint8_t[]){0x7f}, 1);
    long_is(64, (const uint8_t[]){0x80, 0x01}, 2);
    long_is(8192, (const uint8_t[]){0x80, 0x80, 0x01}, 3);
    long_is(INT64_MAX, (const uint8_t[]){0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10);
    long_is(INT64_MIN, (const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10);
}

TEST(other_primitives)
{
    ursa_buf_t b = {0};
    avro_enc_t e;
    avro_enc_init(&e, &b);
    avro_enc_string(&e, "foo", 3); /* the spec's example: 06 66 6f 6f */
    avro_enc_null(&e);
    avro_enc_bool(&e, true);
    avro_enc_bool(&e, false);
    avro_enc_int(&e, INT32_MIN); /* zigzag 2^32 - 1 */
    avro_enc_float(&e, 1.0f);
    avro_enc_double(&e, -2.0);
    avro_enc_bytes(&e, "", 0);
    avro_enc_fixed(&e, "\x01\x02", 2);
    avro_enc_enum(&e, 3);
    avro_enc_union_index(&e, 1);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x06, 'f', 'o', 'o',       /* string */
                 0x01, 0x00,                   /* booleans */
                 0xff, 0xff, 0xff, 0xff, 0x0f, /* int */
                 0x00, 0x00, 0x80, 0x3f,       /* float 1.0 LE */
                 0, 0, 0, 0, 0, 0, 0x00, 0xc0, /* double -2.0 LE */
                 0x00,                         /* empty bytes */
                 0x01, 0x02,                   /* fixed */
                 0x06,                         /* enum 3 */
                 0x02);                        /* union branch 1 */
    ursa_buf_free(&b);
}

TEST(arrays_and_maps_in_blocks)
{
    ursa_buf_t b = {0};
    avro_enc_t e;
    avro_enc_init(&e, &b);
    /* [3, 27] from the spec: 04 06 36 00 */
    avro_enc_array_begin(&e, 2);
    avro_enc_array_item(&e);
    avro_enc_long(&e, 3);
    avro_enc_array_item(&e);
    avro_enc_long(&e, 27);
    avro_enc_array_end(&e);
    /* an empty array */
    avro_enc_array_begin(&e, 0);
    avro_enc_array_end(&e);
    /* {"a": [1]} in two blocks of a map: the second block is empty of items, so one block then 0 */
    avro_enc_map_begin(&e, 1);
    avro_enc_map_key(&e, "a", 1);
    avro_enc_array_begin(&e, 1);
    avro_enc_array_item(&e);
    avro_enc_long(&e, 1);
    avro_enc_array_end(&e);
    avro_enc_map_block(&e, 1);
    avro_enc_map_key(&e, "b", 1);
    avro_enc_array_begin(&e, 0);
    avro_enc_array_end(&e);
    avro_enc_map_end(&e);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_OK);
    EXPECT_BYTES(b, 0x04, 0x06, 0x36, 0x00,         /* [3, 27] */
                 0x00,                              /* [] */
                 0x02, 0x02, 'a', 0x02, 0x02, 0x00, /* block 1: "a" -> [1] */
                 0x02, 0x02, 'b', 0x00,             /* block 2: "b" -> [] */
                 0x00);
    ursa_buf_free(&b);
}

TEST(misuse_is_reported)
{
    ursa_buf_t b = {0};
    avro_enc_t e;
    /* an item with no array */
    avro_enc_init(&e, &b);
    avro_enc_array_item(&e);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_EINTERNAL);
    /* fewer items than announced */
    b.len = 0;
    avro_enc_init(&e, &b);
    avro_enc_array_begin(&e, 2);
    avro_enc_array_item(&e);
    avro_enc_long(&e, 1);
    avro_enc_array_end(&e);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_EINTERNAL);
    /* more items than announced */
    b.len = 0;
    avro_enc_init(&e, &b);
    avro_enc_map_begin(&e, 1);
    avro_enc_map_key(&e, "a", 1);
    avro_enc_null(&e);
    avro_enc_map_key(&e, "b", 1);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_EINTERNAL);
    /* an array left open */
    b.len = 0;
    avro_enc_init(&e, &b);
    avro_enc_array_begin(&e, 0);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_EINTERNAL);
    /* a map closed as an array */
    b.len = 0;
    avro_enc_init(&e, &b);
    avro_enc_map_begin(&e, 0);
    avro_enc_array_end(&e);
    CHECK_EQ_INT(avro_enc_status(&e), URSA_EINTERNAL);
    ursa_buf_free(&b);
}

static const uint8_t test_sync[AVRO_SYNC_SIZE] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                                  0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};

TEST(container_bytes)
{
    ursa_buf_t file = {0};
    avro_writer_t *w = NULL;
    avro_writer_opts_t o = {.codec = AVRO_CODEC_NULL, .sync = test_sync};
    const avro_meta_t meta[] = {{"k", "v"}};
    ursa_err_t err = {0};
    CHECK_EQ_INT(avro_writer_new(avro_buf_sink(&file), "\"long\"", meta, 1, &o, &w, &err), URSA_OK);
    if (!w) return;
    avro_enc_long(avro_writer_enc(w), 1);
    CHECK_EQ_INT(avro_writer_record_end(w, &err), URSA_OK);
    avro_enc_long(avro_writer_enc(w), -1);
    CHECK_EQ_INT(avro_writer_record_end(w, &err), URSA_OK);
    CHECK_EQ_INT(avro_writer_close(w, &err), URSA_OK);
    CHECK_EQ_INT(avro_writer_records(w), 2);
    CHECK_EQ_INT(avro_writer_bytes(w), file.len);
    /* A record after close is refused. */
    CHECK_EQ_INT(avro_writer_record_end(w, &err), URSA_EINVAL);
    avro_writer_destroy(&w);
    CHECK(w == NULL);
    EXPECT_BYTES(file, 'O', 'b', 'j', 0x01, 0x06, /* 3 metadata entries in one block */
                 0x16, 'a', 'v', 'r', 'o', '.', 's', 'c', 'h', 'e', 'm', 'a', 0x0c, '"', 'l', 'o', 'n', 'g',
                 '"', 0x14, 'a', 'v', 'r', 'o', '.', 'c', 'o', 'd', 'e', 'c', 0x08, 'n', 'u', 'l', 'l', 0x02,
                 'k', 0x02, 'v', 0x00, /* end of the map */
                 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae,
                 0xaf, 0x04, 0x04, /* 2 records, 2 bytes */
                 0x02, 0x01, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac,
                 0xad, 0xae, 0xaf);
    ursa_buf_free(&file);
}

TEST(writer_refuses_bad_arguments)
{
    ursa_buf_t file = {0};
    avro_writer_t *w = NULL;
    ursa_err_t err = {0};
    const avro_meta_t reserved[] = {{"avro.codec", "x"}};
    const avro_meta_t twice[] = {{"a", "1"}, {"a", "2"}};
    CHECK_EQ_INT(avro_writer_new(avro_buf_sink(&file), "{\"type\":", NULL, 0, NULL, &w, &err), URSA_EINVAL);
    CHECK_EQ_INT(avro_writer_new(avro_buf_sink(&file), "\"int\"", reserved, 1, NULL, &w, &err), URSA_EINVAL);
    CHECK_EQ_INT(avro_writer_new(avro_buf_sink(&file), "\"int\"", twice, 2, NULL, &w, &err), URSA_EINVAL);
    CHECK(w == NULL);
    /* A record begun and not ended makes close fail. */
    CHECK_EQ_INT(avro_writer_new(avro_buf_sink(&file), "\"int\"", NULL, 0, NULL, &w, &err), URSA_OK);
    if (w) {
        avro_enc_int(avro_writer_enc(w), 5);
        CHECK_EQ_INT(avro_writer_close(w, &err), URSA_EINTERNAL);
        avro_writer_destroy(&w);
    }
    ursa_buf_free(&file);
}

/* A sink that fails once `left` bytes are used up. */
typedef struct {
    size_t left;
} short_sink_t;

static int short_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    short_sink_t *s = ctx;
    if (n > s->left) return ursa_err_set(err, URSA_EIO, "test sink full");
    s->left -= n;
    return URSA_OK;
}

TEST(sink_failure_sticks)
{
    short_sink_t s = {200};
    ursa_sink_t sink = {short_write, &s};
    avro_writer_t *w = NULL;
    avro_writer_opts_t o = {.block_bytes = 64};
    ursa_err_t err = {0};
    CHECK_EQ_INT(avro_writer_new(sink, "\"string\"", NULL, 0, &o, &w, &err), URSA_OK);
    if (!w) return;
    int rc = URSA_OK, i;
    for (i = 0; i < 100 && rc == URSA_OK; i++) {
        avro_enc_cstr(avro_writer_enc(w), "0123456789012345678901234567890123456789");
        rc = avro_writer_record_end(w, &err);
    }
    CHECK_EQ_INT(rc, URSA_EIO);
    CHECK(strstr(err.msg, "test sink full") != NULL);
    CHECK(i < 100);
    CHECK_EQ_INT(avro_writer_record_end(w, &err), URSA_EIO); /* sticky */
    CHECK_EQ_INT(avro_writer_close(w, &err), URSA_EIO);
    avro_writer_destroy(&w);
}

/* ---------------------------------------------------------------------------
 * Bounds
 * ------------------------------------------------------------------------- */

static ursa_field_t field_of(ursa_type_t t)
{
    ursa_field_t f;
    memset(&f, 0, sizeof(f));
    f.type = t;
    f.unit = URSA_UNIT_US;
    f.utc = true;
    return f;
}

#define BOUND_IS(f, value, len, upper, ...)                                       \
    do {                                                                          \
        ursa_buf_t b_ = {0};                                                      \
        CHECK_EQ_INT(iceberg_bound(&(f), (value), (len), (upper), &b_), URSA_OK); \
        EXPECT_BYTES(b_, __VA_ARGS__);                                            \
        ursa_buf_free(&b_);                                                       \
    } while (0)

TEST(bounds)
{
    ursa_field_t f = field_of(URSA_TYPE_INT8);
    int8_t i8 = -1;
    BOUND_IS(f, &i8, 0, false, 0xff, 0xff, 0xff, 0xff);
    f = field_of(URSA_TYPE_UINT16);
    uint16_t u16 = 0xfffe;
    BOUND_IS(f, &u16, 0, false, 0xfe, 0xff, 0x00, 0x00);
    f = field_of(URSA_TYPE_UINT32);
    uint32_t u32 = 0x80000000u;
    BOUND_IS(f, &u32, 0, false, 0, 0, 0, 0x80, 0, 0, 0, 0);
    f = field_of(URSA_TYPE_INT64);
    int64_t i64 = 0x0102030405060708;
    BOUND_IS(f, &i64, 0, false, 8, 7, 6, 5, 4, 3, 2, 1);
    f = field_of(URSA_TYPE_DATE);
    int32_t day = 19000;
    BOUND_IS(f, &day, 0, false, 0x38, 0x4a, 0, 0);
    f = field_of(URSA_TYPE_FLOAT32);
    float fl = 1.0f;
    BOUND_IS(f, &fl, 0, false, 0, 0, 0x80, 0x3f);
    f = field_of(URSA_TYPE_FLOAT64);
    double db = 1.0;
    BOUND_IS(f, &db, 0, false, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f);
    f = field_of(URSA_TYPE_BOOL);
    uint8_t t = 1;
    BOUND_IS(f, &t, 0, false, 0x01);
    f = field_of(URSA_TYPE_STRING);
    BOUND_IS(f, "abc", 3, false, 'a', 'b', 'c');
    f = field_of(URSA_TYPE_UUID);
    const uint8_t uuid[16] = {0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd,
                              0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7};
    BOUND_IS(f, uuid, 16, false, 0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd, 0xa4, 0x79, 0x3f, 0x34, 0x9c,
             0xb7, 0x85, 0xe7);

    /* Timestamps: ms times 1000; ns rounded outwards (floor for lower, ceiling for upper). */
    f = field_of(URSA_TYPE_TIMESTAMP);
    f.unit = URSA_UNIT_MS;
    int64_t ts = 1;
    BOUND_IS(f, &ts, 0, false, 0xe8, 0x03, 0, 0, 0, 0, 0, 0);
    f.unit = URSA_UNIT_NS;
    ts = 1500;
    BOUND_IS(f, &ts, 0, false, 1, 0, 0, 0, 0, 0, 0, 0);
    BOUND_IS(f, &ts, 0, true, 2, 0, 0, 0, 0, 0, 0, 0);
    ts = -1500;
    BOUND_IS(f, &ts, 0, false, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    BOUND_IS(f, &ts, 0, true, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    ts = 3000;
    BOUND_IS(f, &ts, 0, true, 3, 0, 0, 0, 0, 0, 0, 0);

    /* Decimals: fewest two's complement bytes, big-endian. */
    f = field_of(URSA_TYPE_DECIMAL);
    f.precision = 10;
    int64_t d = 0;
    BOUND_IS(f, &d, 0, false, 0x00);
    d = 127;
    BOUND_IS(f, &d, 0, false, 0x7f);
    d = 128;
    BOUND_IS(f, &d, 0, false, 0x00, 0x80);
    d = -1;
    BOUND_IS(f, &d, 0, false, 0xff);
    d = -128;
    BOUND_IS(f, &d, 0, false, 0x80);
    d = -129;
    BOUND_IS(f, &d, 0, false, 0xff, 0x7f);
    d = 1234; /* 12.34 as decimal(10,2): 0x04d2 */
    BOUND_IS(f, &d, 0, false, 0x04, 0xd2);
    f.precision = 38;
    __int128 big = -((__int128)1 << 100);
    BOUND_IS(f, &big, 0, false, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /* No bound: NaN, uint64, json; a ms timestamp past the µs range. */
    ursa_buf_t b = {0};
    f = field_of(URSA_TYPE_FLOAT64);
    db = NAN;
    CHECK_EQ_INT(iceberg_bound(&f, &db, 0, false, &b), URSA_EINVAL);
    f = field_of(URSA_TYPE_UINT64);
    CHECK_EQ_INT(iceberg_bound(&f, &i64, 0, false, &b), URSA_ENOTSUP);
    f = field_of(URSA_TYPE_JSON);
    CHECK_EQ_INT(iceberg_bound(&f, "{}", 2, false, &b), URSA_ENOTSUP);
    f = field_of(URSA_TYPE_TIMESTAMP);
    f.unit = URSA_UNIT_MS;
    ts = INT64_MAX / 10;
    CHECK_EQ_INT(iceberg_bound(&f, &ts, 0, false, &b), URSA_EINVAL);
    CHECK_EQ_INT(b.len, 0);
    ursa_buf_free(&b);
}

/* ---------------------------------------------------------------------------
 * Manifests and manifest lists, read back by python3-avro
 * ------------------------------------------------------------------------- */

static const char table_schema[] = "{\"type\":\"struct\",\"schema-id\":0,\"fields\":["
                                   "{\"id\":1,\"name\":\"ts\",\"required\":true,\"type\":\"timestamptz\"},"
                                   "{\"id\":2,\"name\":\"country\",\"required\":false,\"type\":\"string\"},"
                                   "{\"id\":3,\"name\":\"price\",\"required\":false,\"type\":\"double\"}]}";
static const iceberg_part_field_t spec[] = {{"ts_day", 1000, 1, "day"}};
static const char spec_json[] =
    "[{\"name\":\"ts_day\",\"transform\":\"day\",\"source-id\":1,\"field-id\":1000}]";

/* Appends ",\"name\":" and then either null or a hex string. */
static int json_hex(ursa_buf_t *j, const uint8_t *p, size_t n)
{
    int rc = ursa_buf_push(j, '"');
    for (size_t i = 0; i < n && !rc; i++) rc = ursa_buf_printf(j, "%02x", p[i]);
    if (!rc) rc = ursa_buf_push(j, '"');
    return rc;
}

/* Appends the expected python value of an int-keyed count map. */
static int json_count_map(ursa_buf_t *j, const iceberg_col_stats_t *c, size_t n, size_t off)
{
    int rc = URSA_OK, k = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t v;
        memcpy(&v, (const char *)&c[i] + off, 8);
        if (v < 0) continue;
        rc = ursa_buf_printf(j, "%s{\"key\":%d,\"value\":%lld}", k++ ? "," : "[", (int)c[i].field_id,
                             (long long)v);
    }
    if (!rc) rc = ursa_buf_printf(j, "%s", k ? "]" : "null");
    return rc;
}

static int json_bound_map(ursa_buf_t *j, const iceberg_col_stats_t *c, size_t n, bool upper)
{
    int rc = URSA_OK, k = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const uint8_t *p = upper ? c[i].upper : c[i].lower;
        if (!p) continue;
        rc = ursa_buf_printf(j, "%s{\"key\":%d,\"value\":", k++ ? "," : "[", (int)c[i].field_id);
        if (!rc) rc = json_hex(j, p, upper ? c[i].upper_len : c[i].lower_len);
        if (!rc) rc = ursa_buf_push(j, '}');
    }
    if (!rc) rc = ursa_buf_printf(j, "%s", k ? "]" : "null");
    return rc;
}

static int json_opt_long(ursa_buf_t *j, bool has, int64_t v)
{
    return has ? ursa_buf_printf(j, "%lld", (long long)v) : ursa_buf_printf(j, "null");
}

/* The expected python value of one manifest entry. */
static int json_entry(ursa_buf_t *j, const iceberg_manifest_entry_t *e)
{
    const iceberg_data_file_t *f = &e->file;
    int rc = ursa_buf_printf(j, "{\"status\":%d,\"snapshot_id\":", (int)e->status);
    rc = rc ? rc : json_opt_long(j, e->has_snapshot_id, e->snapshot_id);
    rc = rc ? rc : ursa_buf_printf(j, ",\"sequence_number\":");
    rc = rc ? rc : json_opt_long(j, e->has_sequence_number, e->sequence_number);
    rc = rc ? rc : ursa_buf_printf(j, ",\"file_sequence_number\":");
    rc = rc ? rc : json_opt_long(j, e->has_file_sequence_number, e->file_sequence_number);
    rc = rc ? rc
            : ursa_buf_printf(
                  j, ",\"data_file\":{\"content\":0,\"file_path\":\"%s\",\"file_format\":\"PARQUET\",",
                  f->file_path);
    if (!rc && f->part_null && f->part_null[0])
        rc = ursa_buf_printf(j, "\"partition\":{\"ts_day\":null},");
    else if (!rc)
        rc = ursa_buf_printf(j, "\"partition\":{\"ts_day\":%d},", (int)f->part_days[0]);
    rc = rc ? rc
            : ursa_buf_printf(j, "\"record_count\":%lld,\"file_size_in_bytes\":%lld,\"column_sizes\":",
                              (long long)f->record_count, (long long)f->file_size_in_bytes);
    rc = rc ? rc : json_count_map(j, f->cols, f->ncols, offsetof(iceberg_col_stats_t, column_size));
    rc = rc ? rc : ursa_buf_printf(j, ",\"value_counts\":");
    rc = rc ? rc : json_count_map(j, f->cols, f->ncols, offsetof(iceberg_col_stats_t, value_count));
    rc = rc ? rc : ursa_buf_printf(j, ",\"null_value_counts\":");
    rc = rc ? rc : json_count_map(j, f->cols, f->ncols, offsetof(iceberg_col_stats_t, null_count));
    rc = rc ? rc : ursa_buf_printf(j, ",\"nan_value_counts\":");
    rc = rc ? rc : json_count_map(j, f->cols, f->ncols, offsetof(iceberg_col_stats_t, nan_count));
    rc = rc ? rc : ursa_buf_printf(j, ",\"lower_bounds\":");
    rc = rc ? rc : json_bound_map(j, f->cols, f->ncols, false);
    rc = rc ? rc : ursa_buf_printf(j, ",\"upper_bounds\":");
    rc = rc ? rc : json_bound_map(j, f->cols, f->ncols, true);
    rc = rc ? rc : ursa_buf_printf(j, ",\"key_metadata\":null,\"split_offsets\":");
    for (size_t i = 0; !rc && i < f->nsplit; i++)
        rc = ursa_buf_printf(j, "%s%lld", i ? "," : "[", (long long)f->split_offsets[i]);
    rc =
        rc ? rc : ursa_buf_printf(j, "%s,\"equality_ids\":null,\"sort_order_id\":", f->nsplit ? "]" : "null");
    rc = rc ? rc : json_opt_long(j, f->sort_order_id >= 0, f->sort_order_id);
    rc = rc ? rc : ursa_buf_printf(j, "}}");
    return rc;
}

/* The bounds of entry i's three columns, kept for the test's lifetime. */
static uint8_t bound_store[64][3][2][32];

/* Fills n entries of assorted shapes (statuses, nulls, missing stats, many columns). */
static void make_entries(iceberg_manifest_entry_t *en, iceberg_col_stats_t (*cols)[3], int32_t *days,
                         bool *nulls, int64_t (*splits)[3], char (*paths)[96], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memset(&en[i], 0, sizeof(en[i]));
        snprintf(paths[i], sizeof(paths[i]), "s3://bucket/ds/data/date=2022-01-%02d/node-a-%zu-%zu.parquet",
                 (int)(1 + i % 28), i * 10, i * 10 + 9);
        days[i] = i == 5 ? -1 : 18993 + (int32_t)(i % 7); /* one day before 1970: a negative int */
        nulls[i] = i == 3;                                /* one null partition value */
        en[i].status = i % 5 == 4 ? ICEBERG_DELETED : i % 3 == 2 ? ICEBERG_EXISTING : ICEBERG_ADDED;
        en[i].has_snapshot_id = en[i].status != ICEBERG_ADDED;
        en[i].snapshot_id = 7000000000000000000LL + (int64_t)i;
        en[i].has_sequence_number = en[i].status != ICEBERG_ADDED;
        en[i].sequence_number = 1 + (int64_t)i;
        en[i].has_file_sequence_number = en[i].has_sequence_number;
        en[i].file_sequence_number = 1 + (int64_t)i;
        iceberg_data_file_t *f = &en[i].file;
        f->file_path = paths[i];
        f->part_days = &days[i];
        f->part_null = &nulls[i];
        f->record_count = 1000 * (int64_t)i + 1;
        f->file_size_in_bytes = 4096 + 17 * (int64_t)i;
        f->sort_order_id = i % 2 ? 1 : -1;
        splits[i][0] = 4;
        splits[i][1] = 65536 + (int64_t)i;
        f->split_offsets = i % 4 ? splits[i] : NULL;
        f->nsplit = i % 4 ? 2 : 0;
        /* ts: int64 µs bounds; country: strings; price: doubles with a NaN count. */
        int64_t lo = 1640995200000000LL + (int64_t)i, hi = lo + 86399999999LL;
        double plo = -1.5 * (double)i, phi = 2.25 * (double)i;
        uint8_t(*bs)[2][32] = bound_store[i];
        ursa_field_t fts = field_of(URSA_TYPE_TIMESTAMP), fd = field_of(URSA_TYPE_FLOAT64);
        ursa_buf_t b = {0};
        int rc = iceberg_bound(&fts, &lo, 0, false, &b);
        rc = rc ? rc : iceberg_bound(&fts, &hi, 0, true, &b);
        rc = rc ? rc : iceberg_bound(&fd, &plo, 0, false, &b);
        rc = rc ? rc : iceberg_bound(&fd, &phi, 0, true, &b);
        CHECK_EQ_INT(rc, URSA_OK);
        CHECK_EQ_INT(b.len, 32);
        if (b.len == 32) {
            memcpy(bs[0][0], b.data, 8);
            memcpy(bs[0][1], b.data + 8, 8);
            memcpy(bs[2][0], b.data + 16, 8);
            memcpy(bs[2][1], b.data + 24, 8);
        }
        ursa_buf_free(&b);
        memcpy(bs[1][0], "AT", 2);
        memcpy(bs[1][1], "US", 2);
        iceberg_col_stats_t *c = cols[i];
        c[0] = (iceberg_col_stats_t){1, 800 + (int64_t)i, f->record_count, 0, -1, bs[0][0], bs[0][1], 8, 8};
        c[1] = (iceberg_col_stats_t){2, 300, f->record_count, (int64_t)i, -1, bs[1][0], bs[1][1], 2, 2};
        c[2] = (iceberg_col_stats_t){
            3, i == 1 ? -1 : 900, f->record_count, 1, (int64_t)i % 2, bs[2][0], bs[2][1], 8, 8};
        if (i == 2) c[2].lower = c[2].upper = NULL; /* a column without bounds */
        f->cols = c;
        f->ncols = i == 0 ? 0 : 3; /* a file with no column stats at all */
    }
}

static int write_file(const char *path, const ursa_buf_t *b)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return URSA_EIO;
    size_t w = fwrite(b->data, 1, b->len, fp);
    return fclose(fp) == 0 && w == b->len ? URSA_OK : URSA_EIO;
}

#define NENT 40

/* Writes a manifest of NENT entries and a manifest list of three manifests
 * with the codec, appends their expectations to expect, returns OK. */
static int write_pair(const char *dir, avro_codec_t codec, ursa_buf_t *expect)
{
    static iceberg_manifest_entry_t en[NENT];
    static iceberg_col_stats_t cols[NENT][3];
    static int32_t days[NENT];
    static bool nulls[NENT];
    static int64_t splits[NENT][3];
    static char paths[NENT][96];
    make_entries(en, cols, days, nulls, splits, paths, NENT);
    const char *cname = codec == AVRO_CODEC_DEFLATE ? "deflate" : "null";
    char mpath[512], lpath[512];
    snprintf(mpath, sizeof(mpath), "%s/manifest-%s.avro", dir, cname);
    snprintf(lpath, sizeof(lpath), "%s/snap-%s.avro", dir, cname);

    ursa_buf_t file = {0};
    ursa_err_t err = {0};
    iceberg_manifest_writer_t *w = NULL;
    iceberg_manifest_meta_t m = {table_schema, 0, 0, spec, 1};
    avro_writer_opts_t o = {.codec = codec, .block_bytes = 1024};
    int rc = iceberg_manifest_writer_new(avro_buf_sink(&file), &m, &o, &w, &err);
    for (size_t i = 0; i < NENT && !rc; i++) rc = iceberg_manifest_add(w, &en[i], &err);
    if (!rc) rc = iceberg_manifest_close(w, &err);
    if (rc) {
        fprintf(stderr, "manifest: %s\n", err.msg);
        goto out;
    }
    iceberg_manifest_file_t mf[3];
    iceberg_manifest_summary(w, 9, &mf[0]);
    CHECK_EQ_INT(mf[0].manifest_length, file.len);
    mf[0].manifest_path = mpath;
    mf[0].added_snapshot_id = 8000000000000000001LL;
    if ((rc = write_file(mpath, &file))) goto out;

    /* The expectations of the manifest. */
    rc = ursa_buf_printf(expect, "%s{\"path\":\"%s\",\"codec\":\"%s\",\"min_blocks\":4,\"meta\":{\"schema\":",
                         expect->len > 1 ? "," : "", mpath, cname);
    rc = rc ? rc : ursa_buf_json_str(expect, table_schema, strlen(table_schema));
    rc = rc ? rc : ursa_buf_printf(expect, ",\"schema-id\":\"0\",\"partition-spec\":");
    rc = rc ? rc : ursa_buf_json_str(expect, spec_json, strlen(spec_json));
    rc = rc ? rc
            : ursa_buf_printf(expect,
                              ",\"partition-spec-id\":\"0\",\"format-version\":\"2\",\"content\":\"data\"},"
                              "\"records\":[");
    for (size_t i = 0; i < NENT && !rc; i++) {
        if (i) rc = ursa_buf_push(expect, ',');
        rc = rc ? rc : json_entry(expect, &en[i]);
    }
    rc = rc ? rc : ursa_buf_printf(expect, "]}");

    /* The summary, worked out here from the entries. */
    int added = 0, existing = 0, deleted = 0;
    int64_t arows = 0, erows = 0, drows = 0, minseq = 9;
    for (size_t i = 0; i < NENT; i++) {
        int64_t r = en[i].file.record_count;
        if (en[i].status == ICEBERG_ADDED) added++, arows += r;
        if (en[i].status == ICEBERG_EXISTING) existing++, erows += r;
        if (en[i].status == ICEBERG_DELETED) deleted++, drows += r;
        if (en[i].status != ICEBERG_DELETED && en[i].has_sequence_number && en[i].sequence_number < minseq)
            minseq = en[i].sequence_number;
    }
    CHECK_EQ_INT(mf[0].added_files_count, added);
    CHECK_EQ_INT(mf[0].existing_files_count, existing);
    CHECK_EQ_INT(mf[0].deleted_files_count, deleted);
    CHECK_EQ_INT(mf[0].added_rows_count, arows);
    CHECK_EQ_INT(mf[0].existing_rows_count, erows);
    CHECK_EQ_INT(mf[0].deleted_rows_count, drows);
    CHECK_EQ_INT(mf[0].min_sequence_number, minseq);
    CHECK_EQ_INT(mf[0].sequence_number, 9);
    CHECK_EQ_INT(mf[0].npartitions, 1);
    if (mf[0].npartitions != 1 || !mf[0].partitions) {
        rc = URSA_EINTERNAL;
        goto out;
    }
    CHECK(mf[0].partitions[0].contains_null);
    CHECK_EQ_INT(mf[0].partitions[0].lower_len, 4);
    CHECK_MEM(mf[0].partitions[0].lower, "\xff\xff\xff\xff", 4); /* -1 */
    CHECK_MEM(mf[0].partitions[0].upper, "\x37\x4a\x00\x00", 4); /* 18999 */

    /* Two more manifests in the list: one without summaries, one with all kinds of summary values. */
    iceberg_field_summary_t fs = {false, 1, NULL, (const uint8_t *)"\x01\x02", 0, 2};
    mf[1] = (iceberg_manifest_file_t){
        "s3://bucket/ds/metadata/m1.avro", 1234, 0, 0, 3, 2, 42, 1, 2, 3, 10, 20, 30, NULL, 0};
    mf[2] = mf[1];
    mf[2].manifest_path = "s3://bucket/ds/metadata/m2.avro";
    mf[2].content = 1;
    mf[2].partitions = &fs;
    mf[2].npartitions = 1;
    iceberg_list_meta_t lm = {8000000000000000001LL, -1, 9};
    ursa_buf_t list = {0};
    uint64_t lbytes = 0;
    /* A small block size: one manifest_file per block. */
    o.block_bytes = 40;
    if (!rc) rc = iceberg_manifest_list_write(avro_buf_sink(&list), &lm, mf, 3, &o, &lbytes, &err);
    if (rc) {
        fprintf(stderr, "manifest list: %s\n", err.msg);
        ursa_buf_free(&list);
        goto out;
    }
    CHECK_EQ_INT(lbytes, list.len);
    rc = write_file(lpath, &list);
    ursa_buf_free(&list);
    rc = rc ? rc
            : ursa_buf_printf(expect,
                              ",{\"path\":\"%s\",\"codec\":\"%s\",\"min_blocks\":3,\"meta\":{"
                              "\"snapshot-id\":\"8000000000000000001\",\"parent-snapshot-id\":\"null\","
                              "\"sequence-number\":\"9\",\"format-version\":\"2\"},\"records\":[",
                              lpath, cname);
    for (int i = 0; i < 3 && !rc; i++) {
        const iceberg_manifest_file_t *f = &mf[i];
        rc = ursa_buf_printf(
            expect,
            "%s{\"manifest_path\":\"%s\",\"manifest_length\":%lld,\"partition_spec_id\":%d,\"content\":%d,"
            "\"sequence_number\":%lld,\"min_sequence_number\":%lld,\"added_snapshot_id\":%lld,"
            "\"added_files_count\":%d,\"existing_files_count\":%d,\"deleted_files_count\":%d,"
            "\"added_rows_count\":%lld,\"existing_rows_count\":%lld,\"deleted_rows_count\":%lld,"
            "\"key_metadata\":null,\"partitions\":",
            i ? "," : "", f->manifest_path, (long long)f->manifest_length, (int)f->partition_spec_id,
            (int)f->content, (long long)f->sequence_number, (long long)f->min_sequence_number,
            (long long)f->added_snapshot_id, (int)f->added_files_count, (int)f->existing_files_count,
            (int)f->deleted_files_count, (long long)f->added_rows_count, (long long)f->existing_rows_count,
            (long long)f->deleted_rows_count);
        if (rc) break;
        if (i == 0)
            rc = ursa_buf_printf(expect, "[{\"contains_null\":true,\"contains_nan\":false,"
                                         "\"lower_bound\":\"ffffffff\",\"upper_bound\":\"374a0000\"}]}");
        else if (i == 1)
            rc = ursa_buf_printf(expect, "null}");
        else
            rc = ursa_buf_printf(expect, "[{\"contains_null\":false,\"contains_nan\":true,"
                                         "\"lower_bound\":null,\"upper_bound\":\"0102\"}]}");
    }
    rc = rc ? rc : ursa_buf_printf(expect, "]}");
out:
    iceberg_manifest_writer_destroy(&w);
    ursa_buf_free(&file);
    return rc;
}

TEST(manifests_read_by_python3_avro)
{
    char dir[256];
    mkdir("test-tmp", 0755);
    snprintf(dir, sizeof(dir), "test-tmp/avro-%d", (int)getpid());
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
    ursa_buf_t expect = {0};
    CHECK_EQ_INT(ursa_buf_push(&expect, '['), URSA_OK);
    CHECK_EQ_INT(write_pair(dir, AVRO_CODEC_NULL, &expect), URSA_OK);
    CHECK_EQ_INT(write_pair(dir, AVRO_CODEC_DEFLATE, &expect), URSA_OK);
    CHECK_EQ_INT(ursa_buf_printf(&expect, "]"), URSA_OK);
    char epath[300], cmd[1024];
    snprintf(epath, sizeof(epath), "%s/expect.json", dir);
    CHECK_EQ_INT(write_file(epath, &expect), URSA_OK);
    ursa_buf_free(&expect);
    /* Debian's interpreter, where Debian's python3-avro is (scripts/deps.sh test). */
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/tools/avro_check.py %s", URSA_SOURCE_DIR, epath);
    int st = system(cmd);
    CHECK_EQ_INT(st, 0);
    if (st != 0) {
        fprintf(stderr, "  (%s; the files are kept in %s)\n", cmd, dir);
        return;
    }
    const char *names[] = {"manifest-null.avro", "snap-null.avro", "manifest-deflate.avro",
                           "snap-deflate.avro", "expect.json"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(names); i++) {
        snprintf(epath, sizeof(epath), "%s/%s", dir, names[i]);
        unlink(epath);
    }
    rmdir(dir);
}

/* Every allocation of a manifest and a list fails in turn: each run ends in
 * URSA_ENOMEM, nothing leaks (ASan), and the last run succeeds. */
TEST(allocation_failures)
{
    static iceberg_manifest_entry_t en[4];
    static iceberg_col_stats_t cols[4][3];
    static int32_t days[4];
    static bool nulls[4];
    static int64_t splits[4][3];
    static char paths[4][96];
    make_entries(en, cols, days, nulls, splits, paths, 4);
    int ok = 0;
    for (long n = 1; n < 200 && !ok; n++) {
        ursa_buf_t file = {0}, list = {0};
        ursa_err_t err = {0};
        iceberg_manifest_writer_t *w = NULL;
        iceberg_manifest_meta_t m = {table_schema, 0, 0, spec, 1};
        avro_writer_opts_t o = {.codec = AVRO_CODEC_DEFLATE, .block_bytes = 256};
        ursa_mem_fail_after(n);
        int rc = iceberg_manifest_writer_new(avro_buf_sink(&file), &m, &o, &w, &err);
        for (size_t i = 0; i < 4 && !rc; i++) rc = iceberg_manifest_add(w, &en[i], &err);
        if (!rc) rc = iceberg_manifest_close(w, &err);
        if (!rc) {
            iceberg_manifest_file_t mf;
            iceberg_manifest_summary(w, 1, &mf);
            mf.manifest_path = "m.avro";
            iceberg_list_meta_t lm = {1, -1, 1};
            rc = iceberg_manifest_list_write(avro_buf_sink(&list), &lm, &mf, 1, &o, NULL, &err);
        }
        ursa_mem_fail_after(0);
        if (rc != URSA_OK && rc != URSA_ENOMEM) {
            fprintf(stderr, "  allocation %ld: %s (%s)\n", n, ursa_strstatus(rc), err.msg);
            CHECK(0);
        }
        ok = rc == URSA_OK;
        iceberg_manifest_writer_destroy(&w);
        ursa_buf_free(&file);
        ursa_buf_free(&list);
    }
    CHECK(ok);
}

int main(void)
{
    RUN(zigzag_varints_from_the_spec);
    RUN(other_primitives);
    RUN(arrays_and_maps_in_blocks);
    RUN(misuse_is_reported);
    RUN(container_bytes);
    RUN(writer_refuses_bad_arguments);
    RUN(sink_failure_sticks);
    RUN(bounds);
    RUN(manifests_read_by_python3_avro);
    RUN(allocation_failures);
    return TEST_EXIT();
}
