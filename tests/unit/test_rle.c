/*
 * test_rle.c -- pq_encode: the RLE / bit-packed hybrid (checked against a
 * strict decoder written here from the format description), bitmap
 * copies, PLAIN encoders, the hash, and the string dictionary.
 */
#include "pq_encode.h"
#include "test.h"

#include <stdlib.h>

/* ---------------------------------------------------------------------------
 * A strict hybrid decoder: returns the number of values decoded into out
 * (at most cap), or -1 when the stream is malformed, including a literal
 * run padded anywhere but at the end or a run that overshoots n when it is
 * not the last.
 * ------------------------------------------------------------------------- */

static int read_uvarint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= n) return -1;
        uint8_t c = p[(*pos)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

static long decode_hybrid(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n)
{
    size_t pos = 0, got = 0;
    while (pos < len) {
        uint64_t h;
        if (read_uvarint(p, len, &pos, &h)) return -1;
        if (h & 1) {
            size_t count = (size_t)(h >> 1) * 8;
            if (count == 0) return -1;
            size_t bytes = (count * (size_t)bw) / 8;
            if (pos + bytes > len) return -1;
            uint64_t acc = 0;
            int nbits = 0;
            size_t bp = pos;
            for (size_t k = 0; k < count; k++) {
                while (nbits < bw) {
                    acc |= (uint64_t)p[bp++] << nbits;
                    nbits += 8;
                }
                uint32_t v = (uint32_t)(acc & (bw == 32 ? 0xffffffffull : ((1ull << bw) - 1)));
                acc >>= bw;
                nbits -= bw;
                if (got < n) out[got] = v;
                got++;
            }
            pos += bytes;
        } else {
            size_t count = (size_t)(h >> 1);
            if (count == 0) return -1;
            int vb = (bw + 7) / 8;
            if (pos + (size_t)vb > len) return -1;
            uint32_t v = 0;
            for (int k = 0; k < vb; k++) v |= (uint32_t)p[pos + k] << (8 * k);
            pos += (size_t)vb;
            for (size_t k = 0; k < count; k++) {
                if (got < n) out[got] = v;
                got++;
            }
        }
        if (got > n && pos < len) return -1; /* only the last run may go past n */
    }
    if (got > n) {
        /* Padding is allowed only inside the last bit-packed group. */
        if (got - n >= 8) return -1;
        got = n;
    }
    return (long)got;
}

static void check_round_trip(const uint32_t *vals, size_t n, int bw)
{
    ursa_buf_t b = {0};
    CHECK_EQ_INT(pq_rle_encode(&b, vals, n, bw), URSA_OK);
    uint32_t *out = calloc(n + 1, sizeof(uint32_t));
    long got = decode_hybrid(b.data, b.len, bw, out, n);
    CHECK_EQ_INT(got, (long)n);
    if (got == (long)n) {
        for (size_t i = 0; i < n; i++) {
            if (out[i] != vals[i]) {
                fprintf(stderr, "bw %d n %zu: value %zu is %u, expected %u\n", bw, n, i, out[i], vals[i]);
                CHECK(out[i] == vals[i]);
                break;
            }
        }
    }
    free(out);
    ursa_buf_free(&b);
}

TEST(rle_known_bytes)
{
    ursa_buf_t b = {0};
    /* The format description's example: 0..7 with bit width 3. */
    uint32_t seq[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    CHECK_EQ_INT(pq_rle_encode(&b, seq, 8, 3), URSA_OK);
    const uint8_t want1[] = {0x03, 0x88, 0xc6, 0xfa};
    CHECK_EQ_INT(b.len, sizeof(want1));
    CHECK_MEM(b.data, want1, sizeof(want1));

    /* 100 ones with bit width 1: one RLE run. */
    uint32_t ones[100];
    for (int i = 0; i < 100; i++) ones[i] = 1;
    b.len = 0;
    CHECK_EQ_INT(pq_rle_encode(&b, ones, 100, 1), URSA_OK);
    const uint8_t want2[] = {0xc8, 0x01, 0x01};
    CHECK_EQ_INT(b.len, sizeof(want2));
    CHECK_MEM(b.data, want2, sizeof(want2));

    /* A value of 300 with width 9 takes two bytes in an RLE run. */
    uint32_t v300[10];
    for (int i = 0; i < 10; i++) v300[i] = 300;
    b.len = 0;
    CHECK_EQ_INT(pq_rle_encode(&b, v300, 10, 9), URSA_OK);
    const uint8_t want3[] = {0x14, 0x2c, 0x01};
    CHECK_EQ_INT(b.len, sizeof(want3));
    CHECK_MEM(b.data, want3, sizeof(want3));

    /* Three values, all different: one padded group at the end. */
    uint32_t three[3] = {1, 0, 1};
    b.len = 0;
    CHECK_EQ_INT(pq_rle_encode(&b, three, 3, 1), URSA_OK);
    const uint8_t want4[] = {0x03, 0x05};
    CHECK_EQ_INT(b.len, sizeof(want4));
    CHECK_MEM(b.data, want4, sizeof(want4));

    /* Nothing to encode: nothing written. Bad widths are refused. */
    b.len = 0;
    CHECK_EQ_INT(pq_rle_encode(&b, seq, 0, 3), URSA_OK);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(pq_rle_encode(&b, seq, 8, 33), URSA_EINVAL);
    CHECK_EQ_INT(pq_rle_encode(&b, seq, 8, -1), URSA_EINVAL);
    ursa_buf_free(&b);
}

TEST(rle_round_trips)
{
    srand(42);
    size_t sizes[] = {1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 503, 504, 505, 1000, 4099, 70000};
    for (int bw = 0; bw <= 32; bw++) {
        uint32_t mask = bw == 32 ? 0xffffffffu : (uint32_t)((1ull << bw) - 1);
        for (size_t si = 0; si < URSA_ARRAY_LEN(sizes); si++) {
            size_t n = sizes[si];
            uint32_t *v = malloc(n * sizeof(uint32_t));
            for (int pattern = 0; pattern < 5; pattern++) {
                for (size_t i = 0; i < n; i++) {
                    uint32_t r = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
                    switch (pattern) {
                    case 0: /* random */
                        v[i] = r & mask;
                        break;
                    case 1: /* constant, the maximum value */
                        v[i] = mask;
                        break;
                    case 2: /* runs of random length 1..20 */
                        v[i] = (i == 0 || rand() % 10 == 0) ? (r & mask) : v[i - 1];
                        break;
                    case 3: /* alternating */
                        v[i] = (i & 1) ? mask : 0;
                        break;
                    default: /* runs of exactly 7 and 9 */
                        v[i] = ((i % 16) < 7 ? 1u : 0u) & mask;
                    }
                }
                check_round_trip(v, n, bw);
            }
            free(v);
        }
    }
}

TEST(rle_bits_matches_array)
{
    srand(3);
    for (int trial = 0; trial < 300; trial++) {
        size_t nbits = 1 + (size_t)(rand() % 3000);
        size_t off = (size_t)(rand() % 17);
        uint8_t *bm = calloc((off + nbits + 7) / 8 + 1, 1);
        uint32_t *arr = malloc(nbits * sizeof(uint32_t));
        int density = rand() % 4; /* 0: all zero ... 3: all one */
        for (size_t i = 0; i < nbits; i++) {
            int v = density == 0 ? 0 : density == 3 ? 1 : (rand() % (density == 1 ? 50 : 2)) != 0;
            if (trial % 5 == 0) v = (i / 37) & 1; /* long runs */
            arr[i] = (uint32_t)v;
            if (v) bm[(off + i) >> 3] |= (uint8_t)(1u << ((off + i) & 7));
        }
        ursa_buf_t a = {0}, b = {0};
        CHECK_EQ_INT(pq_rle_encode(&a, arr, nbits, 1), URSA_OK);
        CHECK_EQ_INT(pq_rle_encode_bits(&b, bm, off, nbits), URSA_OK);
        CHECK_EQ_INT(a.len, b.len);
        if (a.len == b.len) CHECK_MEM(a.data, b.data, a.len);
        ursa_buf_free(&a);
        ursa_buf_free(&b);
        free(bm);
        free(arr);
    }
}

TEST(bits_append)
{
    srand(5);
    uint8_t src[64];
    for (size_t i = 0; i < sizeof(src); i++) src[i] = (uint8_t)rand();
    for (int trial = 0; trial < 500; trial++) {
        ursa_buf_t dst = {0};
        size_t nbits = 0;
        size_t expect = 0;
        uint8_t ref[256] = {0};
        for (int piece = 0; piece < 5; piece++) {
            size_t off = (size_t)(rand() % 100), n = (size_t)(rand() % 90);
            CHECK_EQ_INT(pq_bits_append(&dst, &nbits, src, off, n), URSA_OK);
            for (size_t k = 0; k < n; k++) {
                if ((src[(off + k) >> 3] >> ((off + k) & 7)) & 1)
                    ref[expect >> 3] |= (uint8_t)(1u << (expect & 7));
                expect++;
            }
        }
        CHECK_EQ_INT(nbits, expect);
        CHECK_EQ_INT(dst.len, (expect + 7) / 8);
        if (dst.len == (expect + 7) / 8 && dst.len) CHECK_MEM(dst.data, ref, dst.len);
        ursa_buf_free(&dst);
    }
}

TEST(plain_encoders)
{
    /* Booleans with a validity bitmap: only valid rows are packed. */
    uint8_t vals = 0xb5;  /* rows 0..7: 1 0 1 0 1 1 0 1 */
    uint8_t valid = 0xf3; /* rows 2, 3 are null */
    ursa_buf_t b = {0};
    size_t nbits = 0;
    CHECK_EQ_INT(pq_plain_bools(&b, &nbits, &vals, &valid, 0, 8), URSA_OK);
    CHECK_EQ_INT(nbits, 6);
    CHECK_EQ_INT(b.len, 1);
    CHECK_EQ_INT(b.data[0], 0x2d); /* 1 0 1 1 0 1 */
    CHECK_EQ_INT(pq_plain_bools(&b, &nbits, &vals, NULL, 0, 4), URSA_OK);
    CHECK_EQ_INT(nbits, 10);
    CHECK_EQ_INT(b.len, 2);
    CHECK_EQ_INT(b.data[0], 0x6d); /* ... then 1 0 1 0 */
    CHECK_EQ_INT(b.data[1], 0x01);
    ursa_buf_free(&b);

    int64_t iv[4] = {1, INT64_MIN, 3, INT64_MAX};
    uint8_t iv_valid = 0x0d; /* row 1 null */
    CHECK_EQ_INT(pq_plain_fixed64(&b, iv, &iv_valid, 0, 4), URSA_OK);
    CHECK_EQ_INT(b.len, 24);
    int64_t back[3];
    memcpy(back, b.data, 24);
    CHECK(back[0] == 1 && back[1] == 3 && back[2] == INT64_MAX);
    b.len = 0;
    CHECK_EQ_INT(pq_plain_fixed64(&b, iv, NULL, 1, 2), URSA_OK);
    CHECK_EQ_INT(b.len, 16);
    memcpy(back, b.data, 16);
    CHECK(back[0] == INT64_MIN && back[1] == 3);
    ursa_buf_free(&b);

    CHECK_EQ_INT(pq_plain_byte_array(&b, "héllo", 6), URSA_OK);
    CHECK_EQ_INT(pq_plain_byte_array(&b, "", 0), URSA_OK);
    const uint8_t want[] = {6, 0, 0, 0, 'h', 0xc3, 0xa9, 'l', 'l', 'o', 0, 0, 0, 0};
    CHECK_EQ_INT(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    CHECK_EQ_INT(pq_plain_byte_array(&b, "x", (size_t)INT32_MAX + 1), URSA_ELIMIT);
    ursa_buf_free(&b);
}

TEST(bit_width)
{
    CHECK_EQ_INT(pq_bit_width(0), 0);
    CHECK_EQ_INT(pq_bit_width(1), 1);
    CHECK_EQ_INT(pq_bit_width(2), 2);
    CHECK_EQ_INT(pq_bit_width(3), 2);
    CHECK_EQ_INT(pq_bit_width(4), 3);
    CHECK_EQ_INT(pq_bit_width(255), 8);
    CHECK_EQ_INT(pq_bit_width(256), 9);
    CHECK_EQ_INT(pq_bit_width(UINT32_MAX), 32);
}

TEST(hash)
{
    CHECK(pq_hash_bytes("abc", 3) == pq_hash_bytes("abc", 3));
    CHECK(pq_hash_bytes("abc", 3) != pq_hash_bytes("abd", 3));
    CHECK(pq_hash_bytes("", 0) != pq_hash_bytes("\0", 1));
    CHECK(pq_hash_bytes("abcdefgh", 8) != pq_hash_bytes("abcdefgh\0", 9));
    /* Low bits spread: 4096 sequential keys fill most of 4096 buckets. */
    static uint8_t seen[4096];
    size_t used = 0;
    for (int i = 0; i < 4096; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "user-%d", i);
        size_t slot = pq_hash_bytes(key, (size_t)n) & 4095;
        used += !seen[slot];
        seen[slot] = 1;
    }
    CHECK(used > 2400); /* a random function fills about 63% */
}

TEST(dictionary)
{
    pq_dict_t d;
    pq_dict_init(&d, 1 << 20);
    uint32_t idx;
    bool added;
    CHECK_EQ_INT(pq_dict_put(&d, "a", 1, &idx, &added), URSA_OK);
    CHECK(added && idx == 0);
    CHECK_EQ_INT(pq_dict_put(&d, "", 0, &idx, &added), URSA_OK);
    CHECK(added && idx == 1);
    CHECK_EQ_INT(pq_dict_put(&d, "a", 1, &idx, &added), URSA_OK);
    CHECK(!added && idx == 0);
    CHECK_EQ_INT(pq_dict_put(&d, "", 0, &idx, &added), URSA_OK);
    CHECK(!added && idx == 1);

    /* Many entries: the table grows, every entry stays findable. */
    char key[32];
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        CHECK_EQ_INT(pq_dict_put(&d, key, (size_t)n, &idx, &added), URSA_OK);
        if (!added || idx != (uint32_t)i + 2) {
            CHECK(added && idx == (uint32_t)i + 2);
            break;
        }
    }
    for (int i = 0; i < 50000; i += 7) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        CHECK_EQ_INT(pq_dict_put(&d, key, (size_t)n, &idx, &added), URSA_OK);
        CHECK(!added && idx == (uint32_t)i + 2);
    }
    CHECK_EQ_INT(d.count, 50002);
    size_t n;
    const uint8_t *e = pq_dict_entry(&d, 12345 + 2, &n);
    CHECK(n == 6 && memcmp(e, "k12345", 6) == 0);

    /* The data is the PLAIN dictionary page body. */
    CHECK(d.data.len >= 4 + 1 + 4);
    CHECK(memcmp(d.data.data, "\1\0\0\0a\0\0\0\0", 9) == 0);

    /* Clear keeps memory and empties. */
    pq_dict_clear(&d);
    CHECK_EQ_INT(d.count, 0);
    CHECK_EQ_INT(d.data.len, 0);
    CHECK_EQ_INT(pq_dict_put(&d, "k5", 2, &idx, &added), URSA_OK);
    CHECK(added && idx == 0);
    pq_dict_free(&d);
}

TEST(dictionary_limit)
{
    pq_dict_t d;
    pq_dict_init(&d, 20);
    uint32_t idx;
    bool added;
    CHECK_EQ_INT(pq_dict_put(&d, "0123456789", 10, &idx, &added), URSA_OK); /* 14 bytes */
    CHECK_EQ_INT(pq_dict_put(&d, "abc", 3, &idx, &added), URSA_ELIMIT);     /* 21 > 20 */
    CHECK_EQ_INT(d.count, 1);
    CHECK_EQ_INT(pq_dict_put(&d, "ab", 2, &idx, &added), URSA_OK); /* exactly 20 */
    CHECK(added && idx == 1);
    CHECK_EQ_INT(d.data.len, 20);
    /* Known values are still found when the dictionary is full. */
    CHECK_EQ_INT(pq_dict_put(&d, "0123456789", 10, &idx, &added), URSA_OK);
    CHECK(!added && idx == 0);
    CHECK_EQ_INT(pq_dict_put(&d, "", 0, &idx, &added), URSA_ELIMIT);
    /* A value larger than the whole limit. */
    CHECK_EQ_INT(pq_dict_put(&d, "x", SIZE_MAX - 2, &idx, &added), URSA_ELIMIT);
    pq_dict_free(&d);

    /* Out of memory is reported and leaves the dictionary usable. */
    pq_dict_init(&d, 1 << 20);
    ursa_mem_fail_after(1);
    CHECK_EQ_INT(pq_dict_put(&d, "a", 1, &idx, &added), URSA_ENOMEM);
    ursa_mem_fail_after(0);
    CHECK_EQ_INT(pq_dict_put(&d, "a", 1, &idx, &added), URSA_OK);
    CHECK(added && idx == 0);
    pq_dict_free(&d);
    CHECK_EQ_INT(ursa_mem_used(), 0);
}

int main(void)
{
    RUN(rle_known_bytes);
    RUN(rle_round_trips);
    RUN(rle_bits_matches_array);
    RUN(bits_append);
    RUN(plain_encoders);
    RUN(bit_width);
    RUN(hash);
    RUN(dictionary);
    RUN(dictionary_limit);
    return TEST_EXIT();
}
