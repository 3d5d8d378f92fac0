/*
 * fuzz_decode.c -- libFuzzer driver for pq_decode (the value layer of the
 * Parquet reader) and pq_decompress.
 *
 * The first four bytes choose what to do, the rest is the page:
 *   byte 0  the mode: a value encoding and physical type (MODES below),
 *           a kind of levels, or a codec;
 *   byte 1-2  n, the values (or levels) asked for, little-endian (< 65536);
 *   byte 3  a parameter: the FIXED_LEN_BYTE_ARRAY length, the dictionary
 *           size, the maximum level, or the declared size's multiplier.
 * Invariants checked on success: n values, fixed-width output of n * width
 * bytes, byte-array offsets starting at 0, monotone and ending at the data
 * length, bytes used within the input, levels within the maximum, the
 * column holding n rows after pq_column_append; on failure URSA_EFORMAT
 * and the output as it was. Anything else aborts.
 */
#include "codec.h"
#include "pq_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int ptype, enc;
} MODES[] = {
    {PQV_T_BOOLEAN, PQV_E_PLAIN},
    {PQV_T_INT32, PQV_E_PLAIN},
    {PQV_T_INT64, PQV_E_PLAIN},
    {PQV_T_INT96, PQV_E_PLAIN},
    {PQV_T_FLOAT, PQV_E_PLAIN},
    {PQV_T_DOUBLE, PQV_E_PLAIN},
    {PQV_T_BYTE_ARRAY, PQV_E_PLAIN},
    {PQV_T_FIXED_LEN_BYTE_ARRAY, PQV_E_PLAIN},
    {PQV_T_BOOLEAN, PQV_E_RLE},
    {PQV_T_INT32, PQV_E_RLE_DICTIONARY},
    {PQV_T_INT64, PQV_E_PLAIN_DICTIONARY},
    {PQV_T_BYTE_ARRAY, PQV_E_RLE_DICTIONARY},
    {PQV_T_FIXED_LEN_BYTE_ARRAY, PQV_E_RLE_DICTIONARY},
    {PQV_T_INT32, PQV_E_DELTA_BINARY_PACKED},
    {PQV_T_INT64, PQV_E_DELTA_BINARY_PACKED},
    {PQV_T_BYTE_ARRAY, PQV_E_DELTA_LENGTH_BYTE_ARRAY},
    {PQV_T_BYTE_ARRAY, PQV_E_DELTA_BYTE_ARRAY},
    {PQV_T_FIXED_LEN_BYTE_ARRAY, PQV_E_DELTA_BYTE_ARRAY},
    {PQV_T_FLOAT, PQV_E_BYTE_STREAM_SPLIT},
    {PQV_T_DOUBLE, PQV_E_BYTE_STREAM_SPLIT},
    {PQV_T_INT32, PQV_E_BYTE_STREAM_SPLIT},
    {PQV_T_INT64, PQV_E_BYTE_STREAM_SPLIT},
    {PQV_T_FIXED_LEN_BYTE_ARRAY, PQV_E_BYTE_STREAM_SPLIT},
    {PQV_T_DOUBLE, PQV_E_DELTA_BINARY_PACKED}, /* an encoding the type does not take */
};
#define NMODES  (sizeof(MODES) / sizeof(MODES[0]))
#define NLEVELS 3
static const pq_codec_t CODECS[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,   PQ_CODEC_BROTLI,
                                    PQ_CODEC_LZ4,          PQ_CODEC_ZSTD,   PQ_CODEC_LZ4_RAW};
#define NCODECS (sizeof(CODECS) / sizeof(CODECS[0]))

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A dictionary of k entries of v's type: entry i is i bytes of 'a'
 * (byte arrays) or the fixed width filled with i. */
static void make_dict(pq_values_t *d, size_t k)
{
    ursa_buf_t b = {0};
    for (size_t i = 0; i < k; i++) {
        if (d->width == 0) {
            uint32_t l = (uint32_t)(i % 40);
            REQUIRE(ursa_buf_append(&b, &l, 4) == URSA_OK);
            for (uint32_t j = 0; j < l; j++) REQUIRE(ursa_buf_push(&b, 'a') == URSA_OK);
        } else {
            for (unsigned j = 0; j < d->width; j++)
                REQUIRE(ursa_buf_push(&b, d->ptype == PQV_T_BOOLEAN ? (uint8_t)(i & 1) : (uint8_t)i) ==
                        URSA_OK);
        }
    }
    size_t bytes = d->ptype == PQV_T_BOOLEAN ? (k + 7) / 8 : b.len;
    REQUIRE(pq_decode_dictionary(d, PQV_E_PLAIN, b.data, bytes, k, NULL) == URSA_OK);
    REQUIRE(d->count == k);
    ursa_buf_free(&b);
}

static void check_values(const pq_values_t *v, size_t n)
{
    REQUIRE(v->count == n);
    if (v->width) {
        REQUIRE(v->fixed.len == n * v->width);
        if (v->ptype == PQV_T_BOOLEAN)
            for (size_t i = 0; i < n; i++) REQUIRE(v->fixed.data[i] <= 1);
    } else if (n) {
        REQUIRE(v->offsets.len == (n + 1) * 8);
        const int64_t *o = (const int64_t *)(const void *)v->offsets.data;
        REQUIRE(o[0] == 0);
        for (size_t i = 0; i < n; i++) REQUIRE(o[i] <= o[i + 1]);
        REQUIRE((size_t)o[n] == v->data.len);
        REQUIRE(v->data.len <= v->max_data);
    }
}

/* Appends the values to a column of a matching type, with a null between
 * every value, and checks its shape. */
static void check_column(const pq_values_t *v, size_t n)
{
    ursa_type_t t = v->ptype == PQV_T_BOOLEAN ? URSA_TYPE_BOOL
                    : v->width == 0           ? URSA_TYPE_BINARY
                    : v->width == 8           ? URSA_TYPE_INT64
                    : v->width == 4           ? URSA_TYPE_INT32
                    : v->width == 16          ? URSA_TYPE_UUID
                                              : URSA_TYPE_COUNT_;
    if (t == URSA_TYPE_COUNT_ || n > 4096) return;
    ursa_column_t c;
    ursa_column_init(&c, t);
    uint32_t *def = malloc(2 * n * sizeof(uint32_t) + 1);
    for (size_t i = 0; i < 2 * n; i++) def[i] = (uint32_t)(i & 1);
    size_t next = 0;
    REQUIRE(pq_column_append(&c, def, 1, 2 * n, v, &next, NULL) == URSA_OK);
    REQUIRE(next == n && c.length == 2 * n && c.null_count == n);
    /* One row too many for the values left: an error, the column unchanged. */
    if (pq_column_append(&c, NULL, 0, 1, v, &next, NULL) != URSA_EFORMAT) abort();
    REQUIRE(c.length == 2 * n);
    /* The same values again without nulls (the bulk path), over the rows above. */
    next = 0;
    REQUIRE(pq_column_append(&c, NULL, 0, n, v, &next, NULL) == URSA_OK);
    REQUIRE(next == n && c.length == 3 * n && c.null_count == n);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(ursa_column_valid(&c, 2 * n + i));
        if (t == URSA_TYPE_BINARY) {
            size_t l1, l2;
            const uint8_t *a = ursa_column_str(&c, 2 * n + i, &l1), *b = ursa_column_str(&c, 2 * i + 1, &l2);
            REQUIRE(l1 == l2 && (l1 == 0 || memcmp(a, b, l1) == 0));
        } else if (t != URSA_TYPE_BOOL) {
            REQUIRE(memcmp(ursa_column_ptr(&c, 2 * n + i), ursa_column_ptr(&c, 2 * i + 1), c.width) == 0);
        }
    }
    free(def);
    ursa_column_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    unsigned mode = data[0];
    size_t n = (size_t)data[1] | (size_t)data[2] << 8;
    unsigned param = data[3];
    /* The page in a heap block of its own, so ASan sees any read past it. */
    size_t len = size - 4;
    uint8_t *p = malloc(len + 1);
    memcpy(p, data + 4, len);
    ursa_err_t err = {0};
    size_t used = 0;
    mode %= NMODES + NLEVELS + NCODECS;
    if (mode < NMODES) {
        int pt = MODES[mode].ptype, enc = MODES[mode].enc;
        int32_t tl = pt == PQV_T_FIXED_LEN_BYTE_ARRAY ? (int32_t)(param % 20) + 1 : 0;
        pq_values_t v, dict;
        REQUIRE(pq_values_init(&v, pt, tl) == URSA_OK);
        REQUIRE(pq_values_init(&dict, pt, tl) == URSA_OK);
        if (enc == PQV_E_PLAIN_DICTIONARY || enc == PQV_E_RLE_DICTIONARY) make_dict(&dict, param);
        v.max_data = (size_t)1 << 24;
        int rc = pq_decode_values(&v, enc, &dict, p, len, n, &used, &err);
        if (rc == URSA_OK) {
            REQUIRE(used <= len);
            check_values(&v, n);
            check_column(&v, n);
        } else {
            REQUIRE(rc == URSA_EFORMAT && err.msg[0] != 0);
            REQUIRE(v.count == 0 && v.fixed.len == 0 && v.data.len == 0);
        }
        pq_values_free(&v);
        pq_values_free(&dict);
    } else if (mode < NMODES + NLEVELS) {
        pq_levels_kind_t kind = (pq_levels_kind_t)(mode - NMODES);
        uint32_t max = param < 33 ? (param == 32 ? UINT32_MAX : (1u << param) - 1) : param;
        uint32_t *out = malloc(n * sizeof(uint32_t) + 1);
        int rc = pq_decode_levels(kind, p, len, max, out, n, &used, &err);
        if (rc == URSA_OK) {
            REQUIRE(used <= len);
            for (size_t i = 0; i < n; i++) REQUIRE(out[i] <= max);
        } else {
            REQUIRE(rc == URSA_EFORMAT);
        }
        free(out);
    } else {
        pq_codec_t codec = CODECS[mode - NMODES - NLEVELS];
        size_t expect = n * (param + 1u);
        ursa_buf_t out = {0};
        int rc = pq_decompress(codec, p, len, expect, &out);
        if (rc == URSA_OK)
            REQUIRE(out.len == expect);
        else
            REQUIRE(rc == URSA_EFORMAT && out.len == 0);
        ursa_buf_free(&out);
    }
    free(p);
    return 0;
}
