/*
 * test_pq_decode.c -- pq_decode: round trips with pq_encode's encoders over
 * random data of many sizes and edge values, hand-made byte vectors from the
 * Parquet encodings spec, INT96 known values, pq_decompress (Hadoop LZ4,
 * codecs inflating past the declared size), every truncation and random
 * corruption of valid inputs (decode or URSA_EFORMAT, never a crash), and
 * pages appended to columns with nulls.
 */
#include "codec.h"
#include "pq_decode.h"
#include "pq_encode.h"
#include "test.h"

#include <lz4.h>
#include <math.h>
#include <stdlib.h>
#include <zstd.h>

static const size_t SIZES[] = {0, 1, 7, 8, 9, 127, 128, 129, 1000, 100000};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* Decodes with a fresh pq_values_t of the given type; returns the status. */
static int decode(int ptype, int32_t tl, int enc, const pq_values_t *dict, const uint8_t *p, size_t len,
                  size_t n, pq_values_t *out, size_t *used)
{
    if (pq_values_init(out, ptype, tl)) return -1;
    ursa_err_t err = {0};
    int rc = pq_decode_values(out, enc, dict, p, len, n, used, &err);
    if (rc == URSA_OK && out->count != n) return -2;
    if (rc == URSA_EFORMAT && err.msg[0] == 0) return -3; /* every format error says what */
    return rc;
}

/* ---------------------------------------------------------------------------
 * Hybrid and levels
 * ------------------------------------------------------------------------- */

TEST(hybrid_round_trip)
{
    static const int widths[] = {0, 1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 24, 31, 32};
    for (size_t s = 0; s < URSA_ARRAY_LEN(SIZES); s++) {
        size_t n = SIZES[s];
        uint32_t *v = malloc((n + 1) * 4), *o = malloc((n + 1) * 4);
        for (size_t w = 0; w < URSA_ARRAY_LEN(widths); w++) {
            int bw = widths[w];
            uint32_t mask = bw == 32 ? UINT32_MAX : (uint32_t)((1ull << bw) - 1);
            for (size_t i = 0; i < n; i++) v[i] = i && (i / 16) % 3 == 0 ? v[i - 1] : (uint32_t)rnd() & mask;
            ursa_buf_t b = {0};
            CHECK(pq_rle_encode(&b, v, n, bw) == URSA_OK);
            size_t used = 99;
            CHECK_EQ_INT(pq_decode_hybrid(b.data, b.len, bw, o, n, &used, NULL), URSA_OK);
            CHECK_EQ_INT(used, b.len);
            CHECK(n == 0 || memcmp(v, o, n * 4) == 0);
            ursa_buf_free(&b);
        }
        free(v);
        free(o);
    }
}

TEST(levels_spec_examples)
{
    /* The spec's 0..7 in 3 bits: hybrid bit-packed (LSB first) and BIT_PACKED (MSB first). */
    const uint8_t hybrid[] = {0x03, 0x88, 0xc6, 0xfa};
    const uint8_t packed[] = {0x05, 0x39, 0x77};
    uint32_t out[8];
    size_t used;
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_RLE_V2, hybrid, sizeof(hybrid), 7, out, 8, &used, NULL), URSA_OK);
    for (uint32_t i = 0; i < 8; i++) CHECK_EQ_INT(out[i], i);
    CHECK_EQ_INT(used, sizeof(hybrid));
    memset(out, 0xff, sizeof(out));
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_BIT_PACKED_V1, packed, sizeof(packed), 7, out, 8, &used, NULL),
                 URSA_OK);
    for (uint32_t i = 0; i < 8; i++) CHECK_EQ_INT(out[i], i);
    CHECK_EQ_INT(used, 3);
    /* The same with the v1 length prefix. */
    uint8_t v1[8];
    put32(v1, 4);
    memcpy(v1 + 4, hybrid, 4);
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_RLE_V1, v1, 8, 7, out, 8, &used, NULL), URSA_OK);
    CHECK_EQ_INT(used, 8);
    CHECK_EQ_INT(out[7], 7);
    /* A level above the maximum (7 > 6 at 3 bits), a length past the input, short input. */
    ursa_err_t err = {0};
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_RLE_V2, hybrid, sizeof(hybrid), 6, out, 8, &used, &err),
                 URSA_EFORMAT);
    CHECK(strstr(err.msg, "exceeds") != NULL);
    put32(v1, 5);
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_RLE_V1, v1, 8, 7, out, 8, &used, NULL), URSA_EFORMAT);
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_BIT_PACKED_V1, packed, 2, 7, out, 8, &used, NULL), URSA_EFORMAT);
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_RLE_V1, v1, 3, 7, out, 8, &used, NULL), URSA_EFORMAT);
    /* Max level 0 reads nothing. */
    CHECK_EQ_INT(pq_decode_levels(PQ_LEVELS_RLE_V1, NULL, 0, 0, out, 8, &used, NULL), URSA_OK);
    CHECK_EQ_INT(used, 0);
    CHECK_EQ_INT(out[3], 0);
    /* Bit width 33 in the hybrid; an RLE run whose value is wider than its width. */
    CHECK_EQ_INT(pq_decode_hybrid(hybrid, sizeof(hybrid), 33, out, 8, &used, NULL), URSA_EFORMAT);
    const uint8_t wide[] = {0x10, 0x02}; /* RLE run of 8, value 2, bit width 1 */
    CHECK_EQ_INT(pq_decode_hybrid(wide, 2, 1, out, 8, &used, NULL), URSA_EFORMAT);
    /* A final bit-packed run shorter than it declares is fine when the values are there. */
    const uint8_t shortrun[] = {0x05, 0xff}; /* 2 groups declared, 8 one-bit values present */
    CHECK_EQ_INT(pq_decode_hybrid(shortrun, 2, 1, out, 5, &used, NULL), URSA_OK);
    CHECK_EQ_INT(out[4], 1);
    CHECK_EQ_INT(pq_decode_hybrid(shortrun, 2, 1, out, 9, &used, NULL), URSA_EFORMAT);
}

/* ---------------------------------------------------------------------------
 * PLAIN, INT96, RLE booleans
 * ------------------------------------------------------------------------- */

TEST(plain_round_trip)
{
    for (size_t s = 0; s < URSA_ARRAY_LEN(SIZES); s++) {
        size_t n = SIZES[s];
        int64_t *iv = malloc((n + 1) * 8);
        double *dv = malloc((n + 1) * 8);
        float *fv = malloc((n + 1) * 4);
        uint8_t *bv = malloc(n + 1);
        static const int64_t edges[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
        for (size_t i = 0; i < n; i++) {
            iv[i] = i < 5 ? edges[i] : (int64_t)rnd();
            dv[i] = i == 0 ? NAN : i == 1 ? -0.0 : i == 2 ? INFINITY : (double)(int64_t)rnd() / 7.0;
            fv[i] = (float)dv[i];
            bv[i] = rnd() & 1;
        }
        pq_values_t v;
        size_t used;
        /* INT64 and DOUBLE through the writer's encoder. */
        ursa_buf_t b = {0};
        CHECK(pq_plain_fixed64(&b, iv, NULL, 0, n) == URSA_OK);
        CHECK_EQ_INT(decode(PQV_T_INT64, 0, PQV_E_PLAIN, NULL, b.data, b.len, n, &v, &used), URSA_OK);
        CHECK(n == 0 || memcmp(v.fixed.data, iv, n * 8) == 0);
        CHECK_EQ_INT(used, n * 8);
        pq_values_free(&v);
        b.len = 0;
        CHECK(pq_plain_fixed64(&b, dv, NULL, 0, n) == URSA_OK);
        CHECK_EQ_INT(decode(PQV_T_DOUBLE, 0, PQV_E_PLAIN, NULL, b.data, b.len, n, &v, &used), URSA_OK);
        CHECK(n == 0 || memcmp(v.fixed.data, dv, n * 8) == 0); /* NaN and -0.0 bit for bit */
        pq_values_free(&v);
        /* FLOAT and INT32: the bytes as they are. */
        b.len = 0;
        CHECK(ursa_buf_append(&b, fv, n * 4) == URSA_OK);
        CHECK_EQ_INT(decode(PQV_T_FLOAT, 0, PQV_E_PLAIN, NULL, b.data, b.len, n, &v, &used), URSA_OK);
        CHECK(n == 0 || memcmp(v.fixed.data, fv, n * 4) == 0);
        pq_values_free(&v);
        CHECK_EQ_INT(decode(PQV_T_INT32, 0, PQV_E_PLAIN, NULL, b.data, b.len, n + 1, &v, &used),
                     URSA_EFORMAT);
        pq_values_free(&v);
        /* BOOLEAN, bit-packed. */
        b.len = 0;
        size_t nbits = 0;
        uint8_t *bitmap = calloc(1, n / 8 + 1);
        for (size_t i = 0; i < n; i++) bitmap[i / 8] |= (uint8_t)(bv[i] << (i % 8));
        CHECK(pq_plain_bools(&b, &nbits, bitmap, NULL, 0, n) == URSA_OK);
        free(bitmap);
        CHECK_EQ_INT(decode(PQV_T_BOOLEAN, 0, PQV_E_PLAIN, NULL, b.data, b.len, n, &v, &used), URSA_OK);
        CHECK(n == 0 || memcmp(v.fixed.data, bv, n) == 0);
        CHECK_EQ_INT(used, (n + 7) / 8);
        pq_values_free(&v);
        /* RLE booleans: a 4-byte length, then the hybrid of width 1. */
        b.len = 0;
        CHECK(ursa_buf_append(&b, "\0\0\0\0", 4) == URSA_OK);
        {
            ursa_buf_t h = {0};
            uint32_t *u = malloc((n + 1) * 4);
            for (size_t i = 0; i < n; i++) u[i] = bv[i];
            CHECK(pq_rle_encode(&h, u, n, 1) == URSA_OK);
            put32(b.data, (uint32_t)h.len);
            CHECK(ursa_buf_append(&b, h.data, h.len) == URSA_OK);
            free(u);
            ursa_buf_free(&h);
        }
        CHECK_EQ_INT(decode(PQV_T_BOOLEAN, 0, PQV_E_RLE, NULL, b.data, b.len, n, &v, &used), URSA_OK);
        CHECK(n == 0 || memcmp(v.fixed.data, bv, n) == 0);
        CHECK_EQ_INT(used, b.len);
        pq_values_free(&v);
        /* BYTE_ARRAY, every third value empty. */
        b.len = 0;
        ursa_buf_t all = {0};
        for (size_t i = 0; i < n; i++) {
            size_t l = i % 3 == 0 ? 0 : rnd() % 20;
            char str[20];
            for (size_t k = 0; k < l; k++) str[k] = (char)rnd();
            CHECK(pq_plain_byte_array(&b, str, l) == URSA_OK);
            CHECK(ursa_buf_append(&all, &l, sizeof(l)) == URSA_OK);
            CHECK(ursa_buf_append(&all, str, l) == URSA_OK);
        }
        CHECK_EQ_INT(decode(PQV_T_BYTE_ARRAY, 0, PQV_E_PLAIN, NULL, b.data, b.len, n, &v, &used), URSA_OK);
        CHECK_EQ_INT(used, b.len);
        size_t q = 0;
        for (size_t i = 0; i < n && v.count == n; i++) {
            size_t l, got;
            memcpy(&l, all.data + q, sizeof(l));
            const uint8_t *g = pq_values_get(&v, i, &got);
            CHECK_EQ_INT(got, l);
            CHECK(l == 0 || memcmp(g, all.data + q + sizeof(l), l) == 0);
            q += sizeof(l) + l;
        }
        pq_values_free(&v);
        /* FIXED_LEN_BYTE_ARRAY of 3 bytes. */
        CHECK_EQ_INT(
            decode(PQV_T_FIXED_LEN_BYTE_ARRAY, 3, PQV_E_PLAIN, NULL, b.data, b.len, b.len / 3, &v, &used),
            URSA_OK);
        CHECK(b.len < 3 || memcmp(v.fixed.data, b.data, b.len / 3 * 3) == 0);
        pq_values_free(&v);
        ursa_buf_free(&all);
        ursa_buf_free(&b);
        free(iv);
        free(dv);
        free(fv);
        free(bv);
    }
}

static void int96(uint8_t b[12], uint64_t ns, uint32_t jd)
{
    memcpy(b, &ns, 8);
    memcpy(b + 8, &jd, 4);
}

TEST(int96)
{
    uint8_t b[36];
    int64_t us;
    int96(b, 0, 2440588); /* 1970-01-01 */
    CHECK_EQ_INT(pq_int96_to_us(b, &us), URSA_OK);
    CHECK_EQ_INT(us, 0);
    int96(b, 1500, 2451545); /* 2000-01-01 00:00:00.0000015 */
    CHECK_EQ_INT(pq_int96_to_us(b, &us), URSA_OK);
    CHECK_EQ_INT(us, 946684800000001ll);
    int96(b, 86399999999999ull, 2440587); /* 1969-12-31 23:59:59.999999999 */
    CHECK_EQ_INT(pq_int96_to_us(b, &us), URSA_OK);
    CHECK_EQ_INT(us, -1);
    int96(b, 0, 0); /* Julian day 0: 4713 BC, still in range */
    CHECK_EQ_INT(pq_int96_to_us(b, &us), URSA_OK);
    CHECK_EQ_INT(us, -2440588ll * 86400000000ll);
    int96(b, 86400000000000ull, 2440588); /* a day of nanoseconds */
    CHECK_EQ_INT(pq_int96_to_us(b, &us), URSA_EFORMAT);
    int96(b, 0, UINT32_MAX); /* past int64 microseconds */
    CHECK_EQ_INT(pq_int96_to_us(b, &us), URSA_EFORMAT);
    /* Through PLAIN: three values, the third out of range. */
    int96(b, 0, 2440588);
    int96(b + 12, 1000, 2440589);
    int96(b + 24, 0, UINT32_MAX);
    pq_values_t v;
    size_t used;
    CHECK_EQ_INT(decode(PQV_T_INT96, 0, PQV_E_PLAIN, NULL, b, 24, 2, &v, &used), URSA_OK);
    int64_t got[2];
    memcpy(got, v.fixed.data, 16);
    CHECK_EQ_INT(got[1], 86400000000ll + 1);
    CHECK_EQ_INT(used, 24);
    pq_values_free(&v);
    CHECK_EQ_INT(decode(PQV_T_INT96, 0, PQV_E_PLAIN, NULL, b, 36, 3, &v, &used), URSA_EFORMAT);
    CHECK_EQ_INT(v.count, 0);
    pq_values_free(&v);
}

/* ---------------------------------------------------------------------------
 * Dictionaries
 * ------------------------------------------------------------------------- */

static void dict_indices(ursa_buf_t *b, const uint32_t *idx, size_t n, size_t count)
{
    int bw = pq_bit_width(count ? count - 1 : 0);
    CHECK(ursa_buf_push(b, (uint8_t)bw) == URSA_OK);
    CHECK(pq_rle_encode(b, idx, n, bw) == URSA_OK);
}

TEST(dictionary_round_trip)
{
    for (size_t s = 0; s < URSA_ARRAY_LEN(SIZES); s++) {
        size_t n = SIZES[s];
        pq_dict_t sd, fd;
        pq_dict_init(&sd, 1 << 20);
        pq_dict_init_fixed(&fd, 1 << 20, 8);
        uint32_t *si = malloc((n + 1) * 4), *fi = malloc((n + 1) * 4);
        char str[32];
        for (size_t i = 0; i < n; i++) {
            int l = i % 50 == 0 ? 0 : snprintf(str, sizeof(str), "v%u", (unsigned)(rnd() % 300));
            bool added;
            CHECK(pq_dict_put(&sd, str, (size_t)l, &si[i], &added) == URSA_OK);
            int64_t x = i % 7 == 0 ? INT64_MIN : (int64_t)(rnd() % 1000);
            CHECK(pq_dict_put(&fd, &x, 8, &fi[i], &added) == URSA_OK);
        }
        pq_values_t sdict, fdict, v;
        CHECK(pq_values_init(&sdict, PQV_T_BYTE_ARRAY, 0) == URSA_OK);
        CHECK(pq_values_init(&fdict, PQV_T_INT64, 0) == URSA_OK);
        CHECK_EQ_INT(pq_decode_dictionary(&sdict, PQV_E_PLAIN, sd.data.data, sd.data.len, sd.count, NULL),
                     URSA_OK);
        CHECK_EQ_INT(
            pq_decode_dictionary(&fdict, PQV_E_PLAIN_DICTIONARY, fd.data.data, fd.data.len, fd.count, NULL),
            URSA_OK);
        ursa_buf_t b = {0};
        size_t used;
        dict_indices(&b, si, n, sd.count);
        CHECK_EQ_INT(decode(PQV_T_BYTE_ARRAY, 0, PQV_E_RLE_DICTIONARY, &sdict, b.data, b.len, n, &v, &used),
                     URSA_OK);
        CHECK_EQ_INT(used, b.len);
        for (size_t i = 0; i < n && v.count == n; i++) {
            size_t l, l2;
            const uint8_t *g = pq_values_get(&v, i, &l);
            const uint8_t *e = pq_dict_entry(&sd, si[i], &l2);
            CHECK(l == l2 && (l == 0 || memcmp(g, e, l) == 0));
        }
        pq_values_free(&v);
        b.len = 0;
        dict_indices(&b, fi, n, fd.count);
        CHECK_EQ_INT(decode(PQV_T_INT64, 0, PQV_E_PLAIN_DICTIONARY, &fdict, b.data, b.len, n, &v, &used),
                     URSA_OK);
        for (size_t i = 0; i < n && v.count == n; i++) {
            size_t l;
            CHECK(memcmp(v.fixed.data + 8 * i, pq_dict_entry(&fd, fi[i], &l), 8) == 0);
        }
        pq_values_free(&v);
        /* An index past the dictionary, named in the message. */
        if (n) {
            b.len = 0;
            uint32_t bad = (uint32_t)sd.count;
            si[n - 1] = bad;
            dict_indices(&b, si, n, sd.count + 1);
            ursa_err_t err = {0};
            CHECK(pq_values_init(&v, PQV_T_BYTE_ARRAY, 0) == URSA_OK);
            CHECK_EQ_INT(pq_decode_values(&v, PQV_E_RLE_DICTIONARY, &sdict, b.data, b.len, n, &used, &err),
                         URSA_EFORMAT);
            char want[64];
            snprintf(want, sizeof(want), "index %u at value %zu", bad, n - 1);
            CHECK(strstr(err.msg, want) != NULL);
            CHECK_EQ_INT(v.count, 0);
            pq_values_free(&v);
        }
        /* No dictionary at all. */
        CHECK_EQ_INT(decode(PQV_T_INT64, 0, PQV_E_RLE_DICTIONARY, NULL, b.data, b.len, n, &v, &used),
                     URSA_EFORMAT);
        pq_values_free(&v);
        ursa_buf_free(&b);
        pq_values_free(&sdict);
        pq_values_free(&fdict);
        pq_dict_free(&sd);
        pq_dict_free(&fd);
        free(si);
        free(fi);
    }
    /* A bit width of 33. */
    const uint8_t w33[] = {33, 0x02, 0, 0, 0, 0, 0};
    uint32_t idx[1];
    CHECK_EQ_INT(pq_decode_dict_indices(w33, sizeof(w33), 1, 10, idx, NULL, NULL), URSA_EFORMAT);
    /* Width 0 with no runs: all indices 0, valid only with a dictionary. */
    const uint8_t w0[] = {0};
    uint32_t idx3[3] = {9, 9, 9};
    size_t used = 9;
    CHECK_EQ_INT(pq_decode_dict_indices(w0, 1, 3, 1, idx3, &used, NULL), URSA_OK);
    CHECK(idx3[0] == 0 && idx3[2] == 0 && used == 1);
    CHECK_EQ_INT(pq_decode_dict_indices(w0, 1, 3, 0, idx3, &used, NULL), URSA_EFORMAT);
}

/* ---------------------------------------------------------------------------
 * DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY
 * ------------------------------------------------------------------------- */

TEST(delta_round_trip)
{
    for (size_t s = 0; s < URSA_ARRAY_LEN(SIZES); s++) {
        size_t n = SIZES[s];
        int64_t *v64 = malloc((n + 1) * 8);
        int32_t *v32 = malloc((n + 1) * 4);
        for (int pattern = 0; pattern < 3; pattern++) {
            for (size_t i = 0; i < n; i++) {
                uint64_t r = rnd();
                v64[i] = pattern == 0   ? (int64_t)r
                         : pattern == 1 ? (i & 1 ? INT64_MIN : INT64_MAX)
                                        : (int64_t)i * 3 - (int64_t)(r % 5);
                v32[i] = pattern == 1 ? (i & 1 ? INT32_MIN : INT32_MAX) : (int32_t)v64[i];
            }
            ursa_buf_t b = {0};
            pq_values_t v;
            size_t used;
            CHECK(pq_delta_encode64(&b, v64, n) == URSA_OK);
            CHECK_EQ_INT(decode(PQV_T_INT64, 0, PQV_E_DELTA_BINARY_PACKED, NULL, b.data, b.len, n, &v, &used),
                         URSA_OK);
            CHECK_EQ_INT(used, b.len);
            CHECK(n == 0 || memcmp(v.fixed.data, v64, n * 8) == 0);
            pq_values_free(&v);
            /* A page of other count than the header's. */
            CHECK_EQ_INT(
                decode(PQV_T_INT64, 0, PQV_E_DELTA_BINARY_PACKED, NULL, b.data, b.len, n + 1, &v, &used),
                URSA_EFORMAT);
            pq_values_free(&v);
            b.len = 0;
            CHECK(pq_delta_encode32(&b, v32, n) == URSA_OK);
            CHECK_EQ_INT(decode(PQV_T_INT32, 0, PQV_E_DELTA_BINARY_PACKED, NULL, b.data, b.len, n, &v, &used),
                         URSA_OK);
            CHECK_EQ_INT(used, b.len);
            CHECK(n == 0 || memcmp(v.fixed.data, v32, n * 4) == 0);
            pq_values_free(&v);
            ursa_buf_free(&b);
        }
        free(v64);
        free(v32);
    }
}

/* Sets the bw-bit value x (LSB first) at bit position at of p. */
static void put_bits(uint8_t *p, size_t at, int bw, unsigned __int128 x)
{
    for (int k = 0; k < bw; k++, at++)
        if ((x >> k) & 1) p[at >> 3] |= (uint8_t)(1u << (at & 7));
}

/* A miniblock one bit wider than the type (33 for INT32, 65 for INT64), as a
 * writer that takes deltas in wider arithmetic produces (DuckDB writes 33 for
 * INT32); the spec says readers should accept it, and only the low bits of
 * a delta count. One block of 128 in 4 miniblocks of 32 values. */
static void delta_one_bit_wider(void)
{
    /* INT32: deltas in 64 bits, min delta -2779115970, deltas up to 2^33 - 1
     * (the values of ARROW-17465). */
    static const int32_t v32[] = {863490391, -816295192, 1613070492, -1166045478, 1856530847};
    /* INT64: deltas in 128 bits, min delta -(2^64 - 1), stored wrapped (1);
     * the second delta less the min is 2^65 - 2. */
    static const int64_t v64[] = {INT64_MAX, INT64_MIN, INT64_MAX};
    for (int wide = 0; wide < 2; wide++) {
        uint8_t b[16 + 32 * 65 / 8] = {0x80, 0x01, 0x04};
        size_t pos = 3, n = wide ? 3 : 5;
        const int bw = wide ? 65 : 33;
        __int128 d[4], min = 0;
        for (size_t i = 1; i < n; i++) {
            d[i - 1] = wide ? (__int128)v64[i] - v64[i - 1] : (__int128)v32[i] - v32[i - 1];
            if (i == 1 || d[i - 1] < min) min = d[i - 1];
        }
        b[pos++] = (uint8_t)n;
        /* zigzag varints of the first value and of the min delta (wrapped to 64 bits) */
        int64_t hdr[2] = {wide ? v64[0] : v32[0], (int64_t)(uint64_t)min};
        for (int h = 0; h < 2; h++) {
            uint64_t z = ((uint64_t)hdr[h] << 1) ^ (uint64_t)(hdr[h] >> 63);
            do {
                b[pos++] = (uint8_t)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
                z >>= 7;
            } while (z);
        }
        b[pos] = (uint8_t)bw; /* then three unused miniblocks of width 0 */
        pos += 4;
        for (size_t i = 1; i < n; i++)
            put_bits(b + pos, (i - 1) * (size_t)bw, bw, (unsigned __int128)(d[i - 1] - min));
        pos += 32 * (size_t)bw / 8;
        pq_values_t v;
        size_t used = 0;
        CHECK_EQ_INT(decode(wide ? PQV_T_INT64 : PQV_T_INT32, 0, PQV_E_DELTA_BINARY_PACKED, NULL, b, pos, n,
                            &v, &used),
                     URSA_OK);
        CHECK_EQ_INT(used, pos);
        CHECK(v.count == n &&
              memcmp(v.fixed.data, wide ? (const void *)v64 : (const void *)v32, n * v.width) == 0);
        pq_values_free(&v);
    }
}

TEST(delta_spec_examples)
{
    /* 1,2,3,4,5: block 128 in 4 miniblocks, 5 values, first 1; min delta 1, all widths 0. */
    const uint8_t ex1[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
    /* 7,5,3,1,2,3,4,5: min delta -2, deltas 0,0,0,3,3,3,3 in 2 bits. */
    uint8_t ex2[10 + 8] = {0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 2, 0, 0, 0, 0xc0, 0x3f};
    pq_values_t v;
    size_t used;
    CHECK_EQ_INT(decode(PQV_T_INT32, 0, PQV_E_DELTA_BINARY_PACKED, NULL, ex1, sizeof(ex1), 5, &v, &used),
                 URSA_OK);
    for (int i = 0; i < 5 && v.count == 5; i++) CHECK_EQ_INT(((int32_t *)(void *)v.fixed.data)[i], i + 1);
    CHECK_EQ_INT(used, sizeof(ex1));
    pq_values_free(&v);
    CHECK_EQ_INT(decode(PQV_T_INT64, 0, PQV_E_DELTA_BINARY_PACKED, NULL, ex2, sizeof(ex2), 8, &v, &used),
                 URSA_OK);
    static const int64_t want2[] = {7, 5, 3, 1, 2, 3, 4, 5};
    CHECK(v.count == 8 && memcmp(v.fixed.data, want2, sizeof(want2)) == 0);
    CHECK_EQ_INT(used, sizeof(ex2));
    pq_values_free(&v);
    /* Bad headers: block size 100, miniblock count 0, 2^40 values, a miniblock width of 66 / 34. */
    const uint8_t bs100[] = {100, 0x04, 0x01, 0x02};
    const uint8_t nm0[] = {0x80, 0x01, 0x00, 0x01, 0x02};
    const uint8_t huge[] = {0x80, 0x01, 0x04, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x02};
    uint8_t w66[] = {0x80, 0x01, 0x04, 0x02, 0x02, 0x02, 66,   0,    0,   0,
                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ursa_err_t err = {0};
    CHECK_EQ_INT(pq_values_init(&v, PQV_T_INT64, 0), URSA_OK);
    CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BINARY_PACKED, NULL, bs100, sizeof(bs100), 1, &used, &err),
                 URSA_EFORMAT);
    CHECK(strstr(err.msg, "block size 100") != NULL);
    CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BINARY_PACKED, NULL, nm0, sizeof(nm0), 1, &used, &err),
                 URSA_EFORMAT);
    CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BINARY_PACKED, NULL, huge, sizeof(huge), 1, &used, &err),
                 URSA_EFORMAT);
    CHECK(strstr(err.msg, "1099511627776 values") != NULL);
    CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BINARY_PACKED, NULL, w66, sizeof(w66), 2, &used, &err),
                 URSA_EFORMAT);
    CHECK(strstr(err.msg, "bit width 66 > 65") != NULL);
    pq_values_free(&v);
    w66[6] = 34;
    CHECK_EQ_INT(pq_values_init(&v, PQV_T_INT32, 0), URSA_OK);
    CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BINARY_PACKED, NULL, w66, sizeof(w66), 2, &used, &err),
                 URSA_EFORMAT);
    CHECK(strstr(err.msg, "bit width 34 > 33") != NULL);
    pq_values_free(&v);
    delta_one_bit_wider();
    /* Types other than INT32 and INT64. */
    CHECK_EQ_INT(decode(PQV_T_DOUBLE, 0, PQV_E_DELTA_BINARY_PACKED, NULL, ex1, sizeof(ex1), 5, &v, &used),
                 URSA_EFORMAT);
    pq_values_free(&v);
}

static void append_lengths(ursa_buf_t *b, const int32_t *l, size_t n)
{
    CHECK(pq_delta_encode32(b, l, n) == URSA_OK);
}

TEST(delta_byte_arrays)
{
    /* The spec's DELTA_BYTE_ARRAY example. */
    const char *words[] = {"axis", "axle", "babble", "babyhood"};
    const int32_t pre[] = {0, 2, 0, 3}, suf[] = {4, 2, 6, 5};
    ursa_buf_t b = {0};
    append_lengths(&b, pre, 4);
    append_lengths(&b, suf, 4);
    CHECK(ursa_buf_append(&b, "axislebabbleyhood", 17) == URSA_OK);
    pq_values_t v;
    size_t used, l;
    CHECK_EQ_INT(decode(PQV_T_BYTE_ARRAY, 0, PQV_E_DELTA_BYTE_ARRAY, NULL, b.data, b.len, 4, &v, &used),
                 URSA_OK);
    for (size_t i = 0; i < 4 && v.count == 4; i++) {
        const uint8_t *g = pq_values_get(&v, i, &l);
        CHECK(l == strlen(words[i]) && memcmp(g, words[i], l) == 0);
    }
    CHECK_EQ_INT(used, b.len);
    pq_values_free(&v);
    /* A prefix longer than the previous value. */
    ursa_buf_t bad = {0};
    const int32_t pre_bad[] = {0, 5, 0, 3};
    append_lengths(&bad, pre_bad, 4);
    append_lengths(&bad, suf, 4);
    CHECK(ursa_buf_append(&bad, "axislebabbleyhood", 17) == URSA_OK);
    ursa_err_t err = {0};
    CHECK(pq_values_init(&v, PQV_T_BYTE_ARRAY, 0) == URSA_OK);
    CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BYTE_ARRAY, NULL, bad.data, bad.len, 4, &used, &err),
                 URSA_EFORMAT);
    CHECK(strstr(err.msg, "prefix length 5 of value 1") != NULL);
    pq_values_free(&v);
    /* FIXED_LEN_BYTE_ARRAY of 4: "axis", "axle" fit, then a 6-byte value does not. */
    CHECK_EQ_INT(
        decode(PQV_T_FIXED_LEN_BYTE_ARRAY, 4, PQV_E_DELTA_BYTE_ARRAY, NULL, b.data, b.len, 4, &v, &used),
        URSA_EFORMAT);
    pq_values_free(&v);
    ursa_buf_free(&bad);

    /* DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY round trips of random strings with shared prefixes. */
    for (size_t s = 0; s < URSA_ARRAY_LEN(SIZES); s++) {
        size_t n = SIZES[s];
        int32_t *lens = malloc((n + 1) * 4), *pl = malloc((n + 1) * 4), *sl = malloc((n + 1) * 4);
        ursa_buf_t data = {0}, sufs = {0};
        size_t prev_at = 0, prev_len = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = i % 4 == 0 ? 0 : rnd() % 24;
            size_t at = data.len;
            size_t p = prev_len && len ? rnd() % (prev_len < len ? prev_len + 1 : len + 1) : 0;
            CHECK(ursa_buf_reserve(&data, len + 1) == URSA_OK);
            memmove(data.data + at, data.data + prev_at, p);
            for (size_t k = p; k < len; k++) data.data[at + k] = (uint8_t)('a' + rnd() % 3);
            data.len += len;
            CHECK(ursa_buf_append(&sufs, data.data + at + p, len - p) == URSA_OK);
            lens[i] = (int32_t)len;
            pl[i] = (int32_t)p;
            sl[i] = (int32_t)(len - p);
            prev_at = at;
            prev_len = len;
        }
        ursa_buf_t dl = {0}, db = {0};
        append_lengths(&dl, lens, n);
        CHECK(ursa_buf_append(&dl, data.data, data.len) == URSA_OK);
        append_lengths(&db, pl, n);
        append_lengths(&db, sl, n);
        CHECK(ursa_buf_append(&db, sufs.data, sufs.len) == URSA_OK);
        for (int e = 0; e < 2; e++) {
            ursa_buf_t *in = e ? &db : &dl;
            CHECK_EQ_INT(decode(PQV_T_BYTE_ARRAY, 0,
                                e ? PQV_E_DELTA_BYTE_ARRAY : PQV_E_DELTA_LENGTH_BYTE_ARRAY, NULL, in->data,
                                in->len, n, &v, &used),
                         URSA_OK);
            CHECK_EQ_INT(used, in->len);
            CHECK_EQ_INT(v.data.len, data.len);
            CHECK(data.len == 0 || memcmp(v.data.data, data.data, data.len) == 0);
            size_t q = 0;
            for (size_t i = 0; i < n && v.count == n; i++) {
                pq_values_get(&v, i, &l);
                CHECK_EQ_INT(l, lens[i]);
                q += l;
            }
            pq_values_free(&v);
        }
        /* The output limit holds for DELTA_BYTE_ARRAY. */
        if (data.len > 1) {
            CHECK(pq_values_init(&v, PQV_T_BYTE_ARRAY, 0) == URSA_OK);
            v.max_data = data.len - 1;
            CHECK_EQ_INT(pq_decode_values(&v, PQV_E_DELTA_BYTE_ARRAY, NULL, db.data, db.len, n, &used, NULL),
                         URSA_EFORMAT);
            pq_values_free(&v);
        }
        ursa_buf_free(&dl);
        ursa_buf_free(&db);
        ursa_buf_free(&data);
        ursa_buf_free(&sufs);
        free(lens);
        free(pl);
        free(sl);
    }
    ursa_buf_free(&b);
}

/* ---------------------------------------------------------------------------
 * BYTE_STREAM_SPLIT
 * ------------------------------------------------------------------------- */

TEST(byte_stream_split)
{
    static const struct {
        int t;
        int32_t w;
    } types[] = {{PQV_T_FLOAT, 4},
                 {PQV_T_DOUBLE, 8},
                 {PQV_T_INT32, 4},
                 {PQV_T_INT64, 8},
                 {PQV_T_FIXED_LEN_BYTE_ARRAY, 2},
                 {PQV_T_FIXED_LEN_BYTE_ARRAY, 3},
                 {PQV_T_FIXED_LEN_BYTE_ARRAY, 16}};
    for (size_t s = 0; s < URSA_ARRAY_LEN(SIZES); s++) {
        size_t n = SIZES[s];
        for (size_t t = 0; t < URSA_ARRAY_LEN(types); t++) {
            size_t w = (size_t)types[t].w;
            uint8_t *raw = malloc(n * w + 1);
            for (size_t i = 0; i < n * w; i++) raw[i] = (uint8_t)rnd();
            ursa_buf_t b = {0};
            CHECK(pq_byte_stream_split(&b, raw, n, w) == URSA_OK);
            pq_values_t v;
            size_t used;
            CHECK_EQ_INT(
                decode(types[t].t, types[t].w, PQV_E_BYTE_STREAM_SPLIT, NULL, b.data, b.len, n, &v, &used),
                URSA_OK);
            CHECK(n == 0 || memcmp(v.fixed.data, raw, n * w) == 0);
            pq_values_free(&v);
            if (b.len) {
                CHECK_EQ_INT(decode(types[t].t, types[t].w, PQV_E_BYTE_STREAM_SPLIT, NULL, b.data, b.len - 1,
                                    n, &v, &used),
                             URSA_EFORMAT);
                pq_values_free(&v);
            }
            ursa_buf_free(&b);
            free(raw);
        }
    }
    pq_values_t v;
    size_t used;
    CHECK_EQ_INT(
        decode(PQV_T_BYTE_ARRAY, 0, PQV_E_BYTE_STREAM_SPLIT, NULL, (const uint8_t *)"abcd", 4, 1, &v, &used),
        URSA_EFORMAT);
    pq_values_free(&v);
}

/* ---------------------------------------------------------------------------
 * Codecs
 * ------------------------------------------------------------------------- */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

TEST(codec_hadoop_lz4)
{
    size_t n = 300000;
    uint8_t *raw = malloc(n);
    for (size_t i = 0; i < n; i++) raw[i] = (uint8_t)(i % 251 < 100 ? 'x' : rnd() % 4);
    /* Three Hadoop blocks of 100000 bytes. */
    ursa_buf_t f = {0}, out = {0};
    for (size_t at = 0; at < n; at += 100000) {
        int bound = LZ4_compressBound(100000);
        CHECK(ursa_buf_reserve(&f, 8 + (size_t)bound) == URSA_OK);
        int c = LZ4_compress_default((const char *)raw + at, (char *)f.data + f.len + 8, 100000, bound);
        CHECK(c > 0);
        be32(f.data + f.len, 100000);
        be32(f.data + f.len + 4, (uint32_t)c);
        f.len += 8 + (size_t)c;
    }
    CHECK_EQ_INT(pq_decompress(PQ_CODEC_LZ4, f.data, f.len, n, &out), URSA_OK);
    CHECK(out.len == n && memcmp(out.data, raw, n) == 0);
    /* Declared smaller than the frames hold: an error, nothing appended. */
    out.len = 0;
    CHECK_EQ_INT(pq_decompress(PQ_CODEC_LZ4, f.data, f.len, n - 1, &out), URSA_EFORMAT);
    CHECK_EQ_INT(out.len, 0);
    /* A raw LZ4 block under the LZ4 codec: the fallback. */
    ursa_buf_t r = {0};
    int bound = LZ4_compressBound((int)n);
    CHECK(ursa_buf_reserve(&r, (size_t)bound) == URSA_OK);
    int c = LZ4_compress_default((const char *)raw, (char *)r.data, (int)n, bound);
    r.len = (size_t)c;
    CHECK_EQ_INT(pq_decompress(PQ_CODEC_LZ4, r.data, r.len, n, &out), URSA_OK);
    CHECK(out.len == n && memcmp(out.data, raw, n) == 0);
    out.len = 0;
    CHECK_EQ_INT(pq_decompress(PQ_CODEC_LZ4_RAW, r.data, r.len, n / 2, &out), URSA_EFORMAT);
    /* A declared size no LZ4 input of this length can reach is refused before reserving it. */
    CHECK_EQ_INT(pq_decompress(PQ_CODEC_LZ4, r.data, 16, (size_t)1 << 40, &out), URSA_EFORMAT);
    CHECK(out.cap < ((size_t)1 << 30));
    CHECK(pq_codec_readable(PQ_CODEC_LZ4) && !pq_codec_supported(PQ_CODEC_LZ4) && !pq_codec_readable(3));
    CHECK(strcmp(pq_codec_name(PQ_CODEC_LZ4), "LZ4") == 0);
    ursa_buf_free(&r);
    ursa_buf_free(&f);
    ursa_buf_free(&out);
    free(raw);
}

/* A gzip page of several members one after the other (RFC 1952 allows
 * it; a parquet-testing file has one) reads whole; one byte more or less
 * than declared, or garbage after a member, is an error. */
TEST(codec_gzip_members)
{
    uint8_t plain[3000];
    for (size_t i = 0; i < sizeof(plain); i++) plain[i] = (uint8_t)(i * 31 + (i >> 7));
    pq_compressor_t c;
    CHECK(pq_compressor_init(&c, PQ_CODEC_GZIP, 0) == URSA_OK);
    ursa_buf_t z = {0}, out = {0};
    CHECK(pq_compress(&c, plain, 1000, &z) == URSA_OK);
    CHECK(pq_compress(&c, plain + 1000, 0, &z) == URSA_OK); /* an empty member in the middle */
    CHECK(pq_compress(&c, plain + 1000, 2000, &z) == URSA_OK);
    CHECK(pq_decompress(PQ_CODEC_GZIP, z.data, z.len, sizeof(plain), &out) == URSA_OK);
    CHECK(out.len == sizeof(plain) && memcmp(out.data, plain, sizeof(plain)) == 0);
    out.len = 0;
    CHECK(pq_decompress(PQ_CODEC_GZIP, z.data, z.len, sizeof(plain) - 1, &out) == URSA_EFORMAT);
    out.len = 0;
    CHECK(pq_decompress(PQ_CODEC_GZIP, z.data, z.len, sizeof(plain) + 1, &out) == URSA_EFORMAT);
    out.len = 0;
    CHECK(ursa_buf_append(&z, "\0\0\0\0", 4) == URSA_OK); /* padding is not a member */
    CHECK(pq_decompress(PQ_CODEC_GZIP, z.data, z.len, sizeof(plain), &out) == URSA_EFORMAT);
    ursa_buf_free(&z);
    ursa_buf_free(&out);
    pq_compressor_free(&c);
}

TEST(codec_inflating_past_declared)
{
    size_t n = 100000;
    uint8_t *raw = calloc(1, n);
    static const pq_codec_t codecs[] = {PQ_CODEC_SNAPPY, PQ_CODEC_GZIP, PQ_CODEC_BROTLI, PQ_CODEC_ZSTD,
                                        PQ_CODEC_LZ4_RAW};
    for (size_t k = 0; k < URSA_ARRAY_LEN(codecs); k++) {
        pq_compressor_t c;
        ursa_buf_t z = {0}, out = {0};
        CHECK(pq_compressor_init(&c, codecs[k], 0) == URSA_OK);
        CHECK(pq_compress(&c, raw, n, &z) == URSA_OK);
        CHECK_EQ_INT(pq_decompress(codecs[k], z.data, z.len, n, &out), URSA_OK);
        CHECK_EQ_INT(out.len, n);
        out.len = 0;
        CHECK_EQ_INT(pq_decompress(codecs[k], z.data, z.len, n / 2, &out), URSA_EFORMAT);
        CHECK_EQ_INT(pq_decompress(codecs[k], z.data, z.len, n + 1, &out), URSA_EFORMAT);
        CHECK_EQ_INT(out.len, 0);
        /* Every truncation fails cleanly. */
        for (size_t t = 0; t < z.len; t += 1 + z.len / 64)
            CHECK_EQ_INT(pq_decompress(codecs[k], z.data, t, n, &out), URSA_EFORMAT);
        pq_compressor_free(&c);
        ursa_buf_free(&z);
        ursa_buf_free(&out);
    }
    /* zstd's frame says its size: a larger declared size is refused before reserving it. */
    ursa_buf_t z = {0}, out = {0};
    pq_compressor_t c;
    CHECK(pq_compressor_init(&c, PQ_CODEC_ZSTD, 0) == URSA_OK);
    CHECK(pq_compress(&c, raw, n, &z) == URSA_OK);
    CHECK(ZSTD_getFrameContentSize(z.data, z.len) == n);
    CHECK_EQ_INT(pq_decompress(PQ_CODEC_ZSTD, z.data, z.len, (size_t)1 << 40, &out), URSA_EFORMAT);
    CHECK(out.cap < ((size_t)1 << 30));
    pq_compressor_free(&c);
    ursa_buf_free(&z);
    ursa_buf_free(&out);
    free(raw);
}

/* ---------------------------------------------------------------------------
 * Truncation and corruption
 * ------------------------------------------------------------------------- */

typedef struct sample {
    int t, enc;
    int32_t tl;
    size_t n;
    ursa_buf_t b;
} sample_t;

static void torture(const sample_t *s, const pq_values_t *dict)
{
    pq_values_t v;
    size_t used;
    uint8_t *copy = malloc(s->b.len + 1);
    /* Every truncation: a heap copy of exactly that length, so ASan sees any overread. */
    for (size_t t = 0; t <= s->b.len; t++) {
        uint8_t *p = malloc(t + 1);
        memcpy(p, s->b.data, t);
        int rc = decode(s->t, s->tl, s->enc, dict, p, t, s->n, &v, &used);
        CHECK(rc == URSA_OK || rc == URSA_EFORMAT);
        CHECK(rc != URSA_OK || used <= t);
        pq_values_free(&v);
        free(p);
    }
    for (int k = 0; k < 300; k++) {
        memcpy(copy, s->b.data, s->b.len);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips && s->b.len; f++) copy[rnd() % s->b.len] = (uint8_t)rnd();
        size_t n = k % 3 == 0 ? s->n + rnd() % 5 : s->n;
        int rc = decode(s->t, s->tl, s->enc, dict, copy, s->b.len, n, &v, &used);
        CHECK(rc == URSA_OK || rc == URSA_EFORMAT);
        if (rc == URSA_OK && v.width == 0) {
            const int64_t *o = (const int64_t *)(const void *)v.offsets.data;
            for (size_t i = 0; i < v.count; i++) CHECK(o[i] <= o[i + 1]);
            CHECK(v.count == 0 || (size_t)o[v.count] == v.data.len);
        }
        pq_values_free(&v);
    }
    free(copy);
}

TEST(truncation_and_corruption)
{
    enum { N = 300 };
    int64_t iv[N];
    int32_t lens[N];
    uint32_t idx[N];
    for (size_t i = 0; i < N; i++) {
        iv[i] = (int64_t)(rnd() % 100000) - 50000;
        lens[i] = (int32_t)(rnd() % 5);
        idx[i] = (uint32_t)(rnd() % 10);
    }
    sample_t s[8];
    memset(s, 0, sizeof(s));
    s[0] = (sample_t){PQV_T_INT64, PQV_E_DELTA_BINARY_PACKED, 0, N, {0}};
    CHECK(pq_delta_encode64(&s[0].b, iv, N) == URSA_OK);
    s[1] = (sample_t){PQV_T_BYTE_ARRAY, PQV_E_PLAIN, 0, N, {0}};
    for (size_t i = 0; i < N; i++) CHECK(pq_plain_byte_array(&s[1].b, "abcd", (size_t)lens[i]) == URSA_OK);
    s[2] = (sample_t){PQV_T_BYTE_ARRAY, PQV_E_DELTA_LENGTH_BYTE_ARRAY, 0, N, {0}};
    append_lengths(&s[2].b, lens, N);
    for (size_t i = 0; i < N; i++) CHECK(ursa_buf_append(&s[2].b, "abcd", (size_t)lens[i]) == URSA_OK);
    s[3] = (sample_t){PQV_T_BYTE_ARRAY, PQV_E_DELTA_BYTE_ARRAY, 0, N, {0}};
    {
        int32_t pre[N];
        size_t total = 0;
        for (size_t i = 0; i < N; i++) {
            pre[i] = i && lens[i - 1] > 0 ? 1 : 0;
            total += (size_t)lens[i];
        }
        append_lengths(&s[3].b, pre, N);
        append_lengths(&s[3].b, lens, N);
        for (size_t i = 0; i < total; i++) CHECK(ursa_buf_push(&s[3].b, 'q') == URSA_OK);
    }
    s[4] = (sample_t){PQV_T_INT64, PQV_E_RLE_DICTIONARY, 0, N, {0}};
    dict_indices(&s[4].b, idx, N, 10);
    s[5] = (sample_t){PQV_T_BOOLEAN, PQV_E_RLE, 0, N, {0}};
    {
        uint32_t bits[N];
        for (size_t i = 0; i < N; i++) bits[i] = i % 17 < 9;
        CHECK(ursa_buf_append(&s[5].b, "\0\0\0\0", 4) == URSA_OK);
        CHECK(pq_rle_encode(&s[5].b, bits, N, 1) == URSA_OK);
        put32(s[5].b.data, (uint32_t)(s[5].b.len - 4));
    }
    s[6] = (sample_t){PQV_T_DOUBLE, PQV_E_BYTE_STREAM_SPLIT, 0, N, {0}};
    CHECK(pq_byte_stream_split(&s[6].b, (const uint8_t *)iv, N, 8) == URSA_OK);
    s[7] = (sample_t){PQV_T_INT96, PQV_E_PLAIN, 0, 20, {0}};
    for (size_t i = 0; i < 20; i++) {
        uint8_t b[12];
        int96(b, (uint64_t)i * 1000000007ull, 2440588 + (uint32_t)i);
        CHECK(ursa_buf_append(&s[7].b, b, 12) == URSA_OK);
    }
    pq_values_t dict;
    CHECK(pq_values_init(&dict, PQV_T_INT64, 0) == URSA_OK);
    CHECK(pq_decode_values(&dict, PQV_E_PLAIN, NULL, (const uint8_t *)iv, 80, 10, NULL, NULL) == URSA_OK);
    for (size_t k = 0; k < URSA_ARRAY_LEN(s); k++) {
        pq_values_t v;
        size_t used;
        CHECK_EQ_INT(decode(s[k].t, s[k].tl, s[k].enc, &dict, s[k].b.data, s[k].b.len, s[k].n, &v, &used),
                     URSA_OK);
        CHECK_EQ_INT(used, s[k].b.len);
        pq_values_free(&v);
        torture(&s[k], &dict);
        ursa_buf_free(&s[k].b);
    }
    /* Levels: every truncation of a v1 level run. */
    uint32_t lv[N], out[N];
    for (size_t i = 0; i < N; i++) lv[i] = (uint32_t)(rnd() % 3);
    ursa_buf_t b = {0};
    CHECK(ursa_buf_append(&b, "\0\0\0\0", 4) == URSA_OK);
    CHECK(pq_rle_encode(&b, lv, N, 2) == URSA_OK);
    put32(b.data, (uint32_t)(b.len - 4));
    for (size_t t = 0; t <= b.len; t++) {
        uint8_t *p = malloc(t + 1);
        memcpy(p, b.data, t);
        size_t used;
        int rc = pq_decode_levels(PQ_LEVELS_RLE_V1, p, t, 2, out, N, &used, NULL);
        CHECK(t == b.len ? rc == URSA_OK : rc == URSA_EFORMAT);
        free(p);
    }
    CHECK(memcmp(out, lv, sizeof(lv)) == 0);
    ursa_buf_free(&b);
    pq_values_free(&dict);
}

/* ---------------------------------------------------------------------------
 * Into columns
 * ------------------------------------------------------------------------- */

/* Rows all null, so no values at all: values that never got a buffer (a
 * page of nulls decodes none) append as nulls. fuzz_read found NULL + 0 in
 * the fixed-width loop here (clang's UBSan; gcc's, which these tests use,
 * does not check it: the input, fuzz/corpus/read/regression_all_null_page,
 * replays it under clang in fuzz/run.sh). */
TEST(append_all_null_without_values)
{
    ursa_column_t c;
    ursa_column_init(&c, URSA_TYPE_INT64);
    pq_values_t v;
    CHECK_EQ_INT(pq_values_init(&v, PQV_T_INT64, 0), URSA_OK);
    uint32_t def[11] = {0};
    size_t next = 0;
    ursa_err_t e;
    CHECK_EQ_INT(pq_column_append(&c, def, 1, 11, &v, &next, &e), URSA_OK);
    CHECK_EQ_INT(c.length, 11);
    CHECK_EQ_INT(c.null_count, 11);
    CHECK_EQ_INT(next, 0);
    for (size_t i = 0; i < 11; i++) CHECK(!ursa_column_valid(&c, i));
    pq_values_free(&v);
    ursa_column_free(&c);
}

TEST(column_append)
{
    /* Two pages of an optional int64 column: levels 1 = value, 0 = null. */
    const uint32_t def1[] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
    const int64_t vals1[] = {10, 20, 30, 40, 50, 60};
    ursa_column_t c;
    ursa_column_init(&c, URSA_TYPE_INT64);
    pq_values_t v;
    CHECK(pq_values_init(&v, PQV_T_INT64, 0) == URSA_OK);
    CHECK(pq_decode_values(&v, PQV_E_PLAIN, NULL, (const uint8_t *)vals1, sizeof(vals1), 6, NULL, NULL) ==
          URSA_OK);
    size_t next = 0;
    CHECK_EQ_INT(pq_column_append(&c, def1, 1, 10, &v, &next, NULL), URSA_OK);
    CHECK_EQ_INT(next, 6);
    CHECK_EQ_INT(c.length, 10);
    CHECK_EQ_INT(c.null_count, 4);
    CHECK(!ursa_column_valid(&c, 1) && ursa_column_valid(&c, 2));
    CHECK_EQ_INT(ursa_column_i64(&c, 2), 20);
    CHECK_EQ_INT(ursa_column_i64(&c, 8), 60);
    /* Not enough values: an error and the column as it was. */
    next = 0;
    pq_values_clear(&v);
    CHECK(pq_decode_values(&v, PQV_E_PLAIN, NULL, (const uint8_t *)vals1, 16, 2, NULL, NULL) == URSA_OK);
    CHECK_EQ_INT(pq_column_append(&c, def1, 1, 10, &v, &next, NULL), URSA_EFORMAT);
    CHECK_EQ_INT(c.length, 10);
    /* A required column: no levels. */
    CHECK_EQ_INT(pq_column_append(&c, NULL, 0, 2, &v, &next, NULL), URSA_OK);
    CHECK_EQ_INT(c.length, 12);
    CHECK_EQ_INT(ursa_column_i64(&c, 11), 20);
    /* The bulk path over stale validity bits: truncate to 3 rows, then 20 values. */
    ursa_column_truncate(&c, 3);
    int64_t many[20];
    for (int i = 0; i < 20; i++) many[i] = i * 11;
    pq_values_clear(&v);
    CHECK(pq_decode_values(&v, PQV_E_PLAIN, NULL, (const uint8_t *)many, sizeof(many), 20, NULL, NULL) ==
          URSA_OK);
    next = 0;
    CHECK_EQ_INT(pq_column_append(&c, NULL, 0, 20, &v, &next, NULL), URSA_OK);
    CHECK_EQ_INT(c.length, 23);
    CHECK_EQ_INT(c.null_count, 1);
    CHECK(!ursa_column_valid(&c, 1));
    for (size_t i = 3; i < 23; i++) {
        CHECK(ursa_column_valid(&c, i));
        CHECK_EQ_INT(ursa_column_i64(&c, i), (int64_t)(i - 3) * 11);
    }
    CHECK_EQ_INT(c.validity.len, 3);
    pq_values_free(&v);
    ursa_column_free(&c);

    /* Strings from a dictionary, and booleans, with nulls. */
    ursa_column_init(&c, URSA_TYPE_STRING);
    pq_values_t d;
    CHECK(pq_values_init(&d, PQV_T_BYTE_ARRAY, 0) == URSA_OK);
    ursa_buf_t b = {0};
    CHECK(pq_plain_byte_array(&b, "", 0) == URSA_OK);
    CHECK(pq_plain_byte_array(&b, "hello", 5) == URSA_OK);
    CHECK(pq_decode_dictionary(&d, PQV_E_PLAIN, b.data, b.len, 2, NULL) == URSA_OK);
    const uint32_t idx[] = {1, 0, 1};
    b.len = 0;
    dict_indices(&b, idx, 3, 2);
    CHECK(pq_values_init(&v, PQV_T_BYTE_ARRAY, 0) == URSA_OK);
    CHECK(pq_decode_values(&v, PQV_E_RLE_DICTIONARY, &d, b.data, b.len, 3, NULL, NULL) == URSA_OK);
    const uint32_t def2[] = {0, 1, 1, 0, 1};
    next = 0;
    CHECK_EQ_INT(pq_column_append(&c, def2, 1, 5, &v, &next, NULL), URSA_OK);
    size_t l;
    const uint8_t *s = ursa_column_str(&c, 1, &l);
    CHECK(l == 5 && memcmp(s, "hello", 5) == 0);
    ursa_column_str(&c, 2, &l);
    CHECK_EQ_INT(l, 0);
    CHECK(!ursa_column_valid(&c, 3) && ursa_column_valid(&c, 4));
    /* No nulls: the bulk path, after rows with nulls. */
    next = 0;
    CHECK_EQ_INT(pq_column_append(&c, NULL, 0, 3, &v, &next, NULL), URSA_OK);
    CHECK_EQ_INT(c.length, 8);
    CHECK_EQ_INT(c.null_count, 2);
    s = ursa_column_str(&c, 7, &l);
    CHECK(l == 5 && memcmp(s, "hello", 5) == 0);
    ursa_column_str(&c, 6, &l);
    CHECK_EQ_INT(l, 0);
    for (size_t i = 5; i < 8; i++) CHECK(ursa_column_valid(&c, i));
    /* Wrong shape: int64 values into a string column. */
    pq_values_t w;
    CHECK(pq_values_init(&w, PQV_T_INT64, 0) == URSA_OK);
    CHECK_EQ_INT(pq_column_append(&c, NULL, 0, 0, &w, &next, NULL), URSA_EINVAL);
    pq_values_free(&w);
    pq_values_free(&v);
    pq_values_free(&d);
    ursa_column_free(&c);

    ursa_column_init(&c, URSA_TYPE_BOOL);
    const uint8_t bits[] = {0x05}; /* 1, 0, 1 */
    CHECK(pq_values_init(&v, PQV_T_BOOLEAN, 0) == URSA_OK);
    CHECK(pq_decode_values(&v, PQV_E_PLAIN, NULL, bits, 1, 3, NULL, NULL) == URSA_OK);
    next = 0;
    CHECK_EQ_INT(pq_column_append(&c, def2, 1, 5, &v, &next, NULL), URSA_OK);
    CHECK(ursa_column_bool(&c, 1) && !ursa_column_bool(&c, 2) && ursa_column_bool(&c, 4));
    CHECK(!ursa_column_valid(&c, 0));
    pq_values_free(&v);
    ursa_column_free(&c);
    ursa_buf_free(&b);
}

int main(void)
{
    RUN(hybrid_round_trip);
    RUN(levels_spec_examples);
    RUN(plain_round_trip);
    RUN(int96);
    RUN(dictionary_round_trip);
    RUN(delta_round_trip);
    RUN(delta_spec_examples);
    RUN(delta_byte_arrays);
    RUN(byte_stream_split);
    RUN(codec_hadoop_lz4);
    RUN(codec_gzip_members);
    RUN(codec_inflating_past_declared);
    RUN(truncation_and_corruption);
    RUN(column_append);
    RUN(append_all_null_without_values);
    return TEST_EXIT();
}
