/*
 * pq_decode.c -- the value layer of the Parquet reader.
 *
 * DESIGN
 *
 * The bytes of a page come from a file anyone may have written, so every
 * decoder here is a pure function on p[0..len) that reads through one
 * discipline: a position `pos` and, before each read of k bytes, a check
 * that k <= len - pos (never `pos + k <= len`, which can wrap). Counts read
 * from the input (run lengths, delta headers, byte-array lengths) are
 * checked against what is left of the input, or against the n values the
 * caller asked for, before anything is allocated or written, so a page
 * never earns more memory than the output it really produces. Output is
 * bounded by n values (fixed widths) and by pq_values_t.max_data (byte
 * arrays; DELTA_BYTE_ARRAY can repeat prefixes, so its output is not bounded
 * by its input).
 *
 * Failures carry one message naming what and where: the encoding, the
 * value index and the byte offset within the range given
 * ("DELTA_BINARY_PACKED: miniblock bit width 70 > 65 at byte 12"). The
 * reader above adds file, row group, column and page.
 *
 * Decoded values are dense (pq_values_t): the encoded stream holds no
 * nulls, so levels and values are decoded apart and merged by
 * pq_column_append(), which builds the validity bitmap from the levels.
 * Dictionary pages decode into a pq_values_t of their own, and dictionary
 * indices gather from it after each index is checked against its size.
 *
 * Little-endian hosts only, as the writer.
 */
#include "pq_decode.h"

#include "pq_encode.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pq_decode.c assumes a little-endian host"
#endif

#define FAIL(...) ursa_err_set(err, URSA_EFORMAT, __VA_ARGS__)

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int ptype_width(int ptype, int32_t type_length)
{
    switch (ptype) {
    case PQV_T_BOOLEAN:
        return 1;
    case PQV_T_INT32:
    case PQV_T_FLOAT:
        return 4;
    case PQV_T_INT64:
    case PQV_T_DOUBLE:
    case PQV_T_INT96:
        return 8;
    case PQV_T_BYTE_ARRAY:
        return 0;
    case PQV_T_FIXED_LEN_BYTE_ARRAY:
        return type_length >= 1 && type_length <= PQ_FLBA_MAX ? type_length : -1;
    default:
        return -1;
    }
}

/* ---------------------------------------------------------------------------
 * pq_values_t
 * ------------------------------------------------------------------------- */

int pq_values_init(pq_values_t *v, int ptype, int32_t type_length)
{
    memset(v, 0, sizeof(*v));
    int w = ptype_width(ptype, type_length);
    if (w < 0) return URSA_EINVAL;
    v->ptype = ptype;
    v->width = (unsigned)w;
    v->max_data = PQ_VALUES_MAX_DATA;
    return URSA_OK;
}

int pq_values_reset(pq_values_t *v, int ptype, int32_t type_length)
{
    int w = ptype_width(ptype, type_length);
    if (w < 0) return URSA_EINVAL;
    pq_values_clear(v);
    v->ptype = ptype;
    v->width = (unsigned)w;
    v->max_data = PQ_VALUES_MAX_DATA;
    return URSA_OK;
}

void pq_values_free(pq_values_t *v)
{
    ursa_buf_free(&v->fixed);
    ursa_buf_free(&v->offsets);
    ursa_buf_free(&v->data);
    v->count = 0;
}

void pq_values_clear(pq_values_t *v)
{
    v->count = 0;
    v->fixed.len = 0;
    v->offsets.len = 0;
    v->data.len = 0;
}

static const int64_t *offs(const pq_values_t *v)
{
    return (const int64_t *)(const void *)v->offsets.data;
}

const uint8_t *pq_values_get(const pq_values_t *v, size_t i, size_t *n)
{
    if (v->width) {
        *n = v->width;
        return v->fixed.data + i * v->width;
    }
    *n = (size_t)(offs(v)[i + 1] - offs(v)[i]);
    return v->data.data ? v->data.data + offs(v)[i] : (const uint8_t *)""; /* empty values hold no buffer */
}

/* Makes room for k more byte arrays holding `bytes` bytes in all, within
 * max_data; adds the first offset. */
static int ba_reserve(pq_values_t *v, size_t k, size_t bytes, ursa_err_t *err, const char *what)
{
    int rc;
    size_t max = v->max_data ? v->max_data : PQ_VALUES_MAX_DATA;
    if (v->data.len > max || bytes > max - v->data.len)
        return FAIL("%s: %zu bytes of values exceed the limit of %zu", what, bytes, max);
    if (k > (SIZE_MAX / 8) - 2) return URSA_ENOMEM;
    if ((rc = ursa_buf_reserve(&v->offsets, (k + 1) * 8)) ||
        (rc = ursa_buf_reserve(&v->data, bytes ? bytes : 1)))
        return rc;
    if (v->offsets.len == 0) {
        memset(v->offsets.data, 0, 8);
        v->offsets.len = 8;
    }
    return URSA_OK;
}

/* Appends one byte array; room was made by ba_reserve(). */
static void ba_push(pq_values_t *v, const uint8_t *s, size_t k)
{
    if (k) memcpy(v->data.data + v->data.len, s, k);
    v->data.len += k;
    int64_t end = (int64_t)v->data.len;
    memcpy(v->offsets.data + v->offsets.len, &end, 8);
    v->offsets.len += 8;
    v->count++;
}

/* Makes room for k more fixed-width values. */
static int fx_reserve(pq_values_t *v, size_t k)
{
    if (k > URSA_BUF_MAX / (v->width ? v->width : 1)) return URSA_ENOMEM;
    size_t bytes = k * v->width;
    return ursa_buf_reserve(&v->fixed, bytes ? bytes : 1);
}

/* ---------------------------------------------------------------------------
 * The RLE / bit-packed hybrid and levels
 * ------------------------------------------------------------------------- */

/* Reads a ULEB128 varint of at most 64 bits at p[*pos..len). */
static int uvarint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len) return URSA_EFORMAT;
        uint8_t b = p[(*pos)++];
        if (shift == 63 && b > 1) return URSA_EFORMAT;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return URSA_OK;
        }
    }
    return URSA_EFORMAT;
}

int pq_decode_hybrid(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n, size_t *used,
                     ursa_err_t *err)
{
    if (bw < 0 || bw > 32) return FAIL("RLE/bit-packed hybrid: bit width %d > 32", bw);
    uint64_t mask = ((uint64_t)1 << bw) - 1;
    size_t pos = 0, got = 0;
    while (got < n) {
        size_t at = pos;
        uint64_t h;
        if (uvarint(p, len, &pos, &h))
            return FAIL(
                "RLE/bit-packed hybrid: run header cut short or too long at byte %zu (value %zu of %zu)", at,
                got, n);
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0) return FAIL("RLE/bit-packed hybrid: empty bit-packed run at byte %zu", at);
            size_t left = n - got;
            size_t take = groups < left / 8 + 1 ? (size_t)groups * 8 : left;
            if (take > left) take = left;
            size_t avail = len - pos;
            /* The bytes the run declares (capped: a run longer than the
             * input is fine when the values needed are all there). */
            size_t declared =
                bw == 0 ? 0 : (groups > avail / (size_t)bw ? avail + 1 : (size_t)groups * (size_t)bw);
            size_t need = bw == 0 ? 0 : (size_t)(((uint64_t)take * (uint64_t)bw + 7) / 8);
            if (need > avail)
                return FAIL("RLE/bit-packed hybrid: bit-packed run at byte %zu needs %zu bytes, %zu left", at,
                            need, avail);
            if (bw == 0) {
                memset(out + got, 0, take * sizeof(uint32_t));
                got += take;
            } else {
                const uint8_t *q = p + pos, *end = p + len;
                uint64_t acc = 0;
                int nbits = 0;
                size_t k = 0;
                /* Eight values (bw bytes) at a time, each from one 8-byte
                 * load, while 8 bytes past the group can be read. */
                for (; k + 8 <= take && (size_t)(end - q) >= (size_t)bw + 8; k += 8, q += bw)
                    for (unsigned m = 0; m < 8; m++) {
                        unsigned bit = m * (unsigned)bw;
                        uint64_t word;
                        memcpy(&word, q + (bit >> 3), 8);
                        out[got++] = (uint32_t)((word >> (bit & 7)) & mask);
                    }
                for (; k < take; k++) {
                    while (nbits < bw) {
                        acc |= (uint64_t)*q++ << nbits;
                        nbits += 8;
                    }
                    out[got++] = (uint32_t)(acc & mask);
                    acc >>= bw;
                    nbits -= bw;
                }
            }
            pos += declared > avail ? avail : declared;
        } else {
            uint64_t count = h >> 1;
            size_t vb = ((size_t)bw + 7) / 8;
            if (count == 0) return FAIL("RLE/bit-packed hybrid: empty RLE run at byte %zu", at);
            if (len - pos < vb) return FAIL("RLE/bit-packed hybrid: RLE run at byte %zu cut short", at);
            uint32_t val = 0;
            for (size_t k = 0; k < vb; k++) val |= (uint32_t)p[pos + k] << (8 * k);
            pos += vb;
            if (val > mask)
                return FAIL("RLE/bit-packed hybrid: RLE value %" PRIu32 " at byte %zu wider than %d bits",
                            val, at, bw);
            size_t take = count < n - got ? (size_t)count : n - got;
            for (size_t k = 0; k < take; k++) out[got + k] = val;
            got += take;
        }
    }
    if (used) *used = pos;
    return URSA_OK;
}

int pq_decode_levels(pq_levels_kind_t kind, const uint8_t *p, size_t len, uint32_t max_level, uint32_t *out,
                     size_t n, size_t *used, ursa_err_t *err)
{
    int rc, bw = pq_bit_width(max_level);
    size_t u = 0;
    *used = 0;
    if (max_level == 0) {
        if (n) memset(out, 0, n * sizeof(uint32_t));
        return URSA_OK;
    }
    switch (kind) {
    case PQ_LEVELS_RLE_V1: {
        if (len < 4) return FAIL("levels: %zu bytes, no room for the 4-byte length", len);
        uint32_t l = load32(p);
        if (l > len - 4) return FAIL("levels: length %" PRIu32 " past the %zu bytes left", l, len - 4);
        if ((rc = pq_decode_hybrid(p + 4, l, bw, out, n, NULL, err))) return rc;
        u = 4 + (size_t)l;
        break;
    }
    case PQ_LEVELS_RLE_V2:
        if ((rc = pq_decode_hybrid(p, len, bw, out, n, NULL, err))) return rc;
        u = len;
        break;
    case PQ_LEVELS_BIT_PACKED_V1: {
        if (n > len / (size_t)bw * 8 + 7 || (n * (size_t)bw + 7) / 8 > len)
            return FAIL("BIT_PACKED levels: %zu levels of %d bits need more than the %zu bytes left", n, bw,
                        len);
        size_t bitpos = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t v = 0;
            for (int b = 0; b < bw; b++, bitpos++)
                v = (v << 1) | ((p[bitpos >> 3] >> (7 - (bitpos & 7))) & 1u);
            out[i] = v;
        }
        u = (n * (size_t)bw + 7) / 8;
        break;
    }
    default:
        return ursa_err_set(err, URSA_EINVAL, "levels: unknown kind %d", (int)kind);
    }
    for (size_t i = 0; max_level < ((uint64_t)1 << bw) - 1 && i < n; i++) /* (else every level fits) */
        if (out[i] > max_level)
            return FAIL("levels: level %" PRIu32 " at %zu exceeds the maximum %" PRIu32, out[i], i,
                        max_level);
    *used = u;
    return URSA_OK;
}

size_t pq_levels_count(const uint32_t *def, size_t n, uint32_t max_def)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += def[i] == max_def;
    return k;
}

/* ---------------------------------------------------------------------------
 * PLAIN
 * ------------------------------------------------------------------------- */

#define JULIAN_EPOCH 2440588 /* the Julian day of 1970-01-01 */
#define NS_PER_DAY   86400000000000ull
#define US_PER_DAY   86400000000ll

int pq_int96_to_us(const uint8_t b[12], int64_t *us)
{
    uint64_t ns = load64(b);
    uint32_t jd = load32(b + 8);
    if (ns >= NS_PER_DAY) return URSA_EFORMAT;
    int64_t days = (int64_t)jd - JULIAN_EPOCH, r;
    if (__builtin_mul_overflow(days, US_PER_DAY, &r) || __builtin_add_overflow(r, (int64_t)(ns / 1000), &r))
        return URSA_EFORMAT;
    *us = r;
    return URSA_OK;
}

static int plain_decode(pq_values_t *v, const uint8_t *p, size_t len, size_t n, size_t *used, ursa_err_t *err)
{
    int rc;
    size_t w = v->width;
    switch (v->ptype) {
    case PQV_T_BOOLEAN: {
        size_t bytes = n / 8 + (n % 8 != 0);
        if (bytes > len) return FAIL("PLAIN BOOLEAN: %zu values need %zu bytes, %zu left", n, bytes, len);
        if ((rc = fx_reserve(v, n))) return rc;
        uint8_t *o = v->fixed.data + v->fixed.len;
        for (size_t i = 0; i < n; i++) o[i] = (p[i >> 3] >> (i & 7)) & 1;
        v->fixed.len += n;
        v->count += n;
        *used = bytes;
        return URSA_OK;
    }
    case PQV_T_INT96: {
        if (n > len / 12) return FAIL("PLAIN INT96: %zu values need more than the %zu bytes left", n, len);
        if ((rc = fx_reserve(v, n))) return rc;
        uint8_t *o = v->fixed.data + v->fixed.len;
        for (size_t i = 0; i < n; i++) {
            int64_t us;
            if (pq_int96_to_us(p + 12 * i, &us))
                return FAIL("PLAIN INT96: value %zu (byte %zu) is not a timestamp in range", i, 12 * i);
            memcpy(o + 8 * i, &us, 8);
        }
        v->fixed.len += 8 * n;
        v->count += n;
        *used = 12 * n;
        return URSA_OK;
    }
    case PQV_T_BYTE_ARRAY: {
        /* Two passes: check every length and sum them, then copy. */
        if (n > len / 4)
            return FAIL("PLAIN BYTE_ARRAY: %zu values need more than the %zu bytes left", n, len);
        size_t pos = 0, total = 0;
        for (size_t i = 0; i < n; i++) {
            if (len - pos < 4)
                return FAIL("PLAIN BYTE_ARRAY: value %zu at byte %zu: length cut short", i, pos);
            uint32_t l = load32(p + pos);
            pos += 4;
            if (l > len - pos)
                return FAIL("PLAIN BYTE_ARRAY: value %zu at byte %zu: length %" PRIu32
                            " past the %zu bytes left",
                            i, pos - 4, l, len - pos);
            pos += l;
            total += l;
        }
        if ((rc = ba_reserve(v, n, total, err, "PLAIN BYTE_ARRAY"))) return rc;
        pos = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t l = load32(p + pos);
            ba_push(v, p + pos + 4, l);
            pos += 4 + (size_t)l;
        }
        *used = pos;
        return URSA_OK;
    }
    default: /* INT32, INT64, FLOAT, DOUBLE, FIXED_LEN_BYTE_ARRAY: the bytes as they are */
        if (n > len / w)
            return FAIL("PLAIN: %zu values of %zu bytes need more than the %zu bytes left", n, w, len);
        if ((rc = fx_reserve(v, n))) return rc;
        if (n) memcpy(v->fixed.data + v->fixed.len, p, n * w);
        v->fixed.len += n * w;
        v->count += n;
        *used = n * w;
        return URSA_OK;
    }
}

/* ---------------------------------------------------------------------------
 * RLE booleans and dictionaries
 * ------------------------------------------------------------------------- */

static int rle_bool_decode(pq_values_t *v, const uint8_t *p, size_t len, size_t n, size_t *used,
                           ursa_err_t *err)
{
    int rc;
    if (len < 4) return FAIL("RLE BOOLEAN: %zu bytes, no room for the 4-byte length", len);
    uint32_t l = load32(p);
    if (l > len - 4) return FAIL("RLE BOOLEAN: length %" PRIu32 " past the %zu bytes left", l, len - 4);
    if (n > SIZE_MAX / sizeof(uint32_t)) return URSA_ENOMEM;
    uint32_t *tmp = ursa_malloc(n * sizeof(uint32_t));
    if (!tmp) return URSA_ENOMEM;
    if ((rc = pq_decode_hybrid(p + 4, l, 1, tmp, n, NULL, err)) || (rc = fx_reserve(v, n))) goto out;
    for (size_t i = 0; i < n; i++) v->fixed.data[v->fixed.len + i] = (uint8_t)tmp[i];
    v->fixed.len += n;
    v->count += n;
    *used = 4 + (size_t)l;
out:
    ursa_free(tmp);
    return rc;
}

int pq_decode_dict_indices(const uint8_t *p, size_t len, size_t n, size_t dict_count, uint32_t *idx,
                           size_t *used, ursa_err_t *err)
{
    int rc;
    size_t u;
    if (n == 0) {
        if (used) *used = len ? 1 : 0;
        return URSA_OK;
    }
    if (len < 1) return FAIL("dictionary indices: no bit width byte");
    if (p[0] > 32) return FAIL("dictionary indices: bit width %d > 32", p[0]);
    if (p[0] == 0 && len == 1) {
        /* Width 0 and no runs: every index 0 (a dictionary of one entry;
         * some writers stop there). */
        memset(idx, 0, n * sizeof(uint32_t));
        u = 0;
    } else if ((rc = pq_decode_hybrid(p + 1, len - 1, p[0], idx, n, &u, err))) {
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= dict_count)
            return FAIL("dictionary index %" PRIu32 " at value %zu is past the dictionary of %zu entries",
                        idx[i], i, dict_count);
    if (used) *used = 1 + u;
    return URSA_OK;
}

static int dict_decode(pq_values_t *v, const pq_values_t *dict, const uint8_t *p, size_t len, size_t n,
                       size_t *used, ursa_err_t *err)
{
    int rc;
    if (!dict) return FAIL("dictionary-encoded page without a dictionary page");
    if (dict->ptype != v->ptype || dict->width != v->width)
        return FAIL("dictionary of another type than the column");
    if (n > SIZE_MAX / sizeof(uint32_t)) return URSA_ENOMEM;
    uint32_t *idx = ursa_malloc(n * sizeof(uint32_t));
    if (!idx) return URSA_ENOMEM;
    if ((rc = pq_decode_dict_indices(p, len, n, dict->count, idx, used, err))) goto out;
    if (v->width) {
        if ((rc = fx_reserve(v, n))) goto out;
        uint8_t *o = v->fixed.data + v->fixed.len;
        const uint8_t *d = dict->fixed.data;
        size_t w = v->width;
        if (w == 8)
            for (size_t i = 0; i < n; i++) memcpy(o + 8 * i, d + 8 * (size_t)idx[i], 8);
        else if (w == 4)
            for (size_t i = 0; i < n; i++) memcpy(o + 4 * i, d + 4 * (size_t)idx[i], 4);
        else
            for (size_t i = 0; i < n; i++) memcpy(o + w * i, d + w * (size_t)idx[i], w);
        v->fixed.len += n * w;
        v->count += n;
    } else {
        const int64_t *o = offs(dict);
        size_t total = 0, max = v->max_data ? v->max_data : PQ_VALUES_MAX_DATA;
        for (size_t i = 0; i < n; i++) {
            total += (size_t)(o[idx[i] + 1] - o[idx[i]]);
            if (total > max) {
                rc = FAIL("dictionary page values: %zu values expand past the limit of %zu bytes", n, max);
                goto out;
            }
        }
        if ((rc = ba_reserve(v, n, total, err, "dictionary values"))) goto out;
        for (size_t i = 0; i < n; i++)
            ba_push(v, dict->data.data + o[idx[i]], (size_t)(o[idx[i] + 1] - o[idx[i]]));
    }
out:
    ursa_free(idx);
    return rc;
}

/* ---------------------------------------------------------------------------
 * DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY
 * ------------------------------------------------------------------------- */

/* Reads bw (1..64) bits at bit position bitpos of q[0..avail), LSB first
 * (the caller checked that the bits are within avail). One unaligned load
 * when 8 bytes are there and the bits fit in them, else byte by byte. */
static uint64_t get_bits(const uint8_t *q, size_t avail, size_t bitpos, int bw)
{
    size_t byte = bitpos >> 3;
    int sh = (int)(bitpos & 7);
    if (bw + sh <= 64 && avail - byte >= 8) {
        uint64_t x = load64(q + byte) >> sh;
        return bw == 64 ? x : x & (((uint64_t)1 << bw) - 1);
    }
    uint64_t x = (uint64_t)q[byte++] >> sh;
    int got = 8 - sh;
    while (got < bw) {
        x |= (uint64_t)q[byte++] << got;
        got += 8;
    }
    return bw == 64 ? x : x & (((uint64_t)1 << bw) - 1);
}

/* Decodes n values of DELTA_BINARY_PACKED with `bits` (32 or 64) from
 * p[0..len) into out (int32_t or int64_t by bits); *used gets the bytes. */
static int delta_decode(const uint8_t *p, size_t len, int bits, void *out, size_t n, size_t *used,
                        const char *what, ursa_err_t *err)
{
    size_t pos = 0;
    uint64_t bs, nm, total, zfirst;
    if (uvarint(p, len, &pos, &bs) || uvarint(p, len, &pos, &nm) || uvarint(p, len, &pos, &total) ||
        uvarint(p, len, &pos, &zfirst))
        return FAIL("%s: header cut short or malformed", what);
    if (bs == 0 || bs % 128 || bs > PQ_DELTA_BLOCK_MAX)
        return FAIL("%s: block size %" PRIu64 " is not a multiple of 128 in 128..%" PRIu64, what, bs,
                    PQ_DELTA_BLOCK_MAX);
    if (nm == 0 || bs % nm || (bs / nm) % 32)
        return FAIL("%s: %" PRIu64 " miniblocks do not split a block of %" PRIu64 " into multiples of 32",
                    what, nm, bs);
    if (total != n) return FAIL("%s: header claims %" PRIu64 " values, expected %zu", what, total, n);
    uint64_t mask = bits == 32 ? 0xffffffffu : ~(uint64_t)0;
    uint64_t cur = (zfirst >> 1) ^ (~(zfirst & 1) + 1);
    size_t got = 0, per_mini = (size_t)(bs / nm);
#define STORE(i, x)                                   \
    do {                                              \
        if (bits == 32) {                             \
            int32_t s_ = (int32_t)(uint32_t)(x);      \
            memcpy((uint8_t *)out + 4 * (i), &s_, 4); \
        } else {                                      \
            int64_t s_ = (int64_t)(x);                \
            memcpy((uint8_t *)out + 8 * (i), &s_, 8); \
        }                                             \
    } while (0)
    if (n) {
        cur &= mask;
        STORE(got, cur);
        got++;
    }
    while (got < n) {
        size_t at = pos;
        uint64_t zmin;
        if (uvarint(p, len, &pos, &zmin)) return FAIL("%s: block header at byte %zu cut short", what, at);
        uint64_t min = (zmin >> 1) ^ (~(zmin & 1) + 1);
        if (len - pos < nm) return FAIL("%s: miniblock bit widths at byte %zu cut short", what, pos);
        const uint8_t *bws = p + pos;
        pos += (size_t)nm;
        for (size_t m = 0; m < nm && got < n; m++) {
            /* One bit more than the type is allowed: a writer that takes
             * INT32 deltas in 64 bits (DuckDB) needs 33, and the spec says
             * readers should accept it (PARQUET-2435). The arithmetic wraps
             * in the type's width, so only a delta's low `bits` bits count. */
            int bw = bws[m], rb = bw > 64 ? 64 : bw;
            if (bw > bits + 1)
                return FAIL("%s: miniblock bit width %d > %d at byte %zu", what, bw, bits + 1, pos);
            size_t bytes = per_mini / 8 * (size_t)bw;
            size_t take = n - got < per_mini ? n - got : per_mini;
            size_t need = (take * (size_t)bw + 7) / 8;
            /* The last miniblock should be padded to its full size; one
             * that stops once its values are there is accepted. */
            if (len - pos < bytes && (take == per_mini || len - pos < need))
                return FAIL("%s: miniblock at byte %zu needs %zu bytes, %zu left", what, pos, bytes,
                            len - pos);
            const uint8_t *q = p + pos;
            if (bw == 0) {
                for (size_t k = 0; k < take; k++) {
                    cur = (cur + min) & mask;
                    STORE(got, cur);
                    got++;
                }
            } else {
                for (size_t k = 0; k < take; k++) {
                    cur = (cur + min + get_bits(q, len - pos, k * (size_t)bw, rb)) & mask;
                    STORE(got, cur);
                    got++;
                }
            }
            pos += len - pos < bytes ? len - pos : bytes;
        }
    }
#undef STORE
    *used = pos;
    return URSA_OK;
}

static int dbp_decode(pq_values_t *v, const uint8_t *p, size_t len, size_t n, size_t *used, ursa_err_t *err)
{
    int rc;
    if ((rc = fx_reserve(v, n))) return rc;
    if ((rc = delta_decode(p, len, v->ptype == PQV_T_INT32 ? 32 : 64, v->fixed.data + v->fixed.len, n, used,
                           "DELTA_BINARY_PACKED", err)))
        return rc;
    v->fixed.len += n * v->width;
    v->count += n;
    return URSA_OK;
}

/* Decodes n lengths (DELTA_BINARY_PACKED int32, each >= 0) into a new
 * array *lens, with their sum. */
static int delta_lengths(const uint8_t *p, size_t len, size_t n, int32_t **lens, size_t *used, uint64_t *sum,
                         const char *what, ursa_err_t *err)
{
    int rc;
    if (n > SIZE_MAX / 4) return URSA_ENOMEM;
    int32_t *l = ursa_malloc(n * 4);
    if (!l) return URSA_ENOMEM;
    if ((rc = delta_decode(p, len, 32, l, n, used, what, err))) goto fail;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (l[i] < 0) {
            rc = FAIL("%s: length %" PRId32 " of value %zu is negative", what, l[i], i);
            goto fail;
        }
        s += (uint64_t)l[i];
    }
    *lens = l;
    *sum = s;
    return URSA_OK;
fail:
    ursa_free(l);
    return rc;
}

static int dlba_decode(pq_values_t *v, const uint8_t *p, size_t len, size_t n, size_t *used, ursa_err_t *err)
{
    int rc;
    int32_t *l = NULL;
    size_t u;
    uint64_t sum;
    if ((rc = delta_lengths(p, len, n, &l, &u, &sum, "DELTA_LENGTH_BYTE_ARRAY lengths", err))) return rc;
    if (sum > len - u) {
        rc = FAIL("DELTA_LENGTH_BYTE_ARRAY: %" PRIu64 " bytes of values, %zu left", sum, len - u);
        goto out;
    }
    if ((rc = ba_reserve(v, n, (size_t)sum, err, "DELTA_LENGTH_BYTE_ARRAY"))) goto out;
    for (size_t i = 0; i < n; i++) {
        ba_push(v, p + u, (size_t)l[i]);
        u += (size_t)l[i];
    }
    *used = u;
out:
    ursa_free(l);
    return rc;
}

static int dba_decode(pq_values_t *v, const uint8_t *p, size_t len, size_t n, size_t *used, ursa_err_t *err)
{
    int rc;
    int32_t *pre = NULL, *suf = NULL;
    size_t u1, u2;
    uint64_t psum, ssum;
    if ((rc = delta_lengths(p, len, n, &pre, &u1, &psum, "DELTA_BYTE_ARRAY prefix lengths", err))) return rc;
    if ((rc = delta_lengths(p + u1, len - u1, n, &suf, &u2, &ssum, "DELTA_BYTE_ARRAY suffix lengths", err)))
        goto out;
    size_t pos = u1 + u2;
    if (ssum > len - pos) {
        rc = FAIL("DELTA_BYTE_ARRAY: %" PRIu64 " bytes of suffixes, %zu left", ssum, len - pos);
        goto out;
    }
    /* Every prefix within the previous value (the first's is 0), and for
     * FIXED_LEN_BYTE_ARRAY every value of the type's length. */
    size_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        if ((uint64_t)pre[i] > prev) {
            rc = FAIL("DELTA_BYTE_ARRAY: prefix length %" PRId32
                      " of value %zu exceeds the previous value's %zu",
                      pre[i], i, prev);
            goto out;
        }
        prev = (size_t)pre[i] + (size_t)suf[i];
        if (v->width && prev != v->width) {
            rc = FAIL("DELTA_BYTE_ARRAY: value %zu has %zu bytes, the type %u", i, prev, v->width);
            goto out;
        }
    }
    size_t max = v->max_data ? v->max_data : PQ_VALUES_MAX_DATA;
    if (psum + ssum > max) {
        rc = FAIL("DELTA_BYTE_ARRAY: values of %" PRIu64 " bytes exceed the limit of %zu", psum + ssum, max);
        goto out;
    }
    if (v->width) {
        if ((rc = fx_reserve(v, n))) goto out;
        uint8_t *o = v->fixed.data + v->fixed.len, *last = NULL;
        for (size_t i = 0; i < n; i++) {
            if (pre[i]) memcpy(o, last, (size_t)pre[i]);
            if (suf[i]) memcpy(o + pre[i], p + pos, (size_t)suf[i]);
            pos += (size_t)suf[i];
            last = o;
            o += v->width;
        }
        v->fixed.len += n * v->width;
        v->count += n;
    } else {
        if ((rc = ba_reserve(v, n, (size_t)(psum + ssum), err, "DELTA_BYTE_ARRAY"))) goto out;
        size_t last = 0; /* where the previous value starts in v->data */
        for (size_t i = 0; i < n; i++) {
            uint8_t *o = v->data.data + v->data.len;
            size_t start = v->data.len;
            if (pre[i]) memcpy(o, v->data.data + last, (size_t)pre[i]);
            if (suf[i]) memcpy(o + pre[i], p + pos, (size_t)suf[i]);
            pos += (size_t)suf[i];
            v->data.len += (size_t)pre[i];
            v->data.len += (size_t)suf[i];
            int64_t end = (int64_t)v->data.len;
            memcpy(v->offsets.data + v->offsets.len, &end, 8);
            v->offsets.len += 8;
            v->count++;
            last = start;
        }
    }
    *used = pos;
out:
    ursa_free(pre);
    ursa_free(suf);
    return rc;
}

/* ---------------------------------------------------------------------------
 * BYTE_STREAM_SPLIT
 * ------------------------------------------------------------------------- */

static int bss_decode(pq_values_t *v, const uint8_t *p, size_t len, size_t n, size_t *used, ursa_err_t *err)
{
    int rc;
    size_t w = v->width;
    if (n > len / w || n * w != len)
        return FAIL("BYTE_STREAM_SPLIT: %zu bytes for %zu values of %zu bytes", len, n, w);
    if ((rc = fx_reserve(v, n))) return rc;
    uint8_t *o = v->fixed.data + v->fixed.len;
    for (size_t k = 0; k < w; k++) {
        const uint8_t *s = p + k * n;
        for (size_t i = 0; i < n; i++) o[i * w + k] = s[i];
    }
    v->fixed.len += n * w;
    v->count += n;
    *used = len;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * The entry points
 * ------------------------------------------------------------------------- */

static const char *ptype_name(int t)
{
    static const char *names[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                  "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? names[t] : "?";
}

int pq_decode_values(pq_values_t *v, int encoding, const pq_values_t *dict, const uint8_t *p, size_t len,
                     size_t n, size_t *used, ursa_err_t *err)
{
    int rc, t = v->ptype;
    size_t u = 0, count = v->count, flen = v->fixed.len, olen = v->offsets.len, dlen = v->data.len;
    switch (encoding) {
    case PQV_E_PLAIN:
        rc = plain_decode(v, p, len, n, &u, err);
        break;
    case PQV_E_RLE:
        if (t != PQV_T_BOOLEAN) goto bad;
        rc = rle_bool_decode(v, p, len, n, &u, err);
        break;
    case PQV_E_PLAIN_DICTIONARY:
    case PQV_E_RLE_DICTIONARY:
        rc = dict_decode(v, dict, p, len, n, &u, err);
        break;
    case PQV_E_DELTA_BINARY_PACKED:
        if (t != PQV_T_INT32 && t != PQV_T_INT64) goto bad;
        rc = dbp_decode(v, p, len, n, &u, err);
        break;
    case PQV_E_DELTA_LENGTH_BYTE_ARRAY:
        if (t != PQV_T_BYTE_ARRAY) goto bad;
        rc = dlba_decode(v, p, len, n, &u, err);
        break;
    case PQV_E_DELTA_BYTE_ARRAY:
        if (t != PQV_T_BYTE_ARRAY && t != PQV_T_FIXED_LEN_BYTE_ARRAY) goto bad;
        rc = dba_decode(v, p, len, n, &u, err);
        break;
    case PQV_E_BYTE_STREAM_SPLIT:
        if (t != PQV_T_FLOAT && t != PQV_T_DOUBLE && t != PQV_T_INT32 && t != PQV_T_INT64 &&
            t != PQV_T_FIXED_LEN_BYTE_ARRAY)
            goto bad;
        rc = bss_decode(v, p, len, n, &u, err);
        break;
    default:
    bad:
        rc = FAIL("encoding %d is not one for values of type %s", encoding, ptype_name(t));
    }
    if (rc) {
        v->count = count;
        v->fixed.len = flen;
        v->offsets.len = olen;
        v->data.len = dlen;
        return rc;
    }
    if (used) *used = u;
    return URSA_OK;
}

int pq_decode_dictionary(pq_values_t *dict, int encoding, const uint8_t *p, size_t len, size_t n,
                         ursa_err_t *err)
{
    if (encoding != PQV_E_PLAIN && encoding != PQV_E_PLAIN_DICTIONARY)
        return FAIL("dictionary page encoding %d is not PLAIN", encoding);
    return pq_decode_values(dict, PQV_E_PLAIN, NULL, p, len, n, NULL, err);
}

/* Marks rows [c->length, c->length + k) valid and counts them; the
 * validity bitmap has room. Bits past the old length may be stale (after
 * a truncate), so every bit is written. */
static void validity_ones(ursa_column_t *c, size_t k)
{
    size_t i = c->length, end = i + k;
    for (; i < end && (i & 7); i++) ursa_bit_set(c->validity.data, i, true);
    size_t full = (end - i) / 8;
    if (full) memset(c->validity.data + i / 8, 0xff, full);
    i += full * 8;
    if (i < end) c->validity.data[i / 8] = (uint8_t)((1u << (end - i)) - 1);
    c->validity.len = (end + 7) / 8;
    c->length = end;
}

int pq_column_append(ursa_column_t *c, const uint32_t *def, uint32_t max_def, size_t n, const pq_values_t *v,
                     size_t *next, ursa_err_t *err)
{
    int rc = URSA_OK;
    bool is_bool = c->type == URSA_TYPE_BOOL, varlen = ursa_type_varlen(c->type);
    if (is_bool  ? v->ptype != PQV_T_BOOLEAN
        : varlen ? v->width != 0
                 : (v->width == 0 || v->width != c->width))
        return ursa_err_set(err, URSA_EINVAL, "values of %u bytes do not fit a column of %u", v->width,
                            c->width);
    size_t k = def ? pq_levels_count(def, n, max_def) : n;
    if (*next > v->count || k > v->count - *next)
        return FAIL("%zu values for %zu non-null rows, %zu left", v->count, k, v->count - *next);
    size_t start = c->length, j = *next;
    /* Room for every row up front, so that the appenders do not allocate. */
    if ((rc = ursa_buf_reserve(&c->validity, n / 8 + 2))) return rc;
    if (is_bool)
        rc = ursa_buf_reserve(&c->values, n / 8 + 2);
    else if (varlen)
        rc = ursa_buf_reserve(&c->offsets, (n + 1) * 8);
    else
        rc = ursa_buf_reserve(&c->values, n * c->width);
    if (rc) return rc;
    if (k == n && !is_bool && n) {
        /* No nulls: the values in bulk, the validity bits all ones. */
        if (varlen) {
            const int64_t *o = offs(v);
            size_t bytes = (size_t)(o[j + n] - o[j]);
            if ((rc = ursa_buf_reserve(&c->data, bytes ? bytes : 1))) return rc;
            if (c->offsets.len == 0) {
                memset(c->offsets.data, 0, 8);
                c->offsets.len = 8;
            }
            int64_t base = (int64_t)c->data.len - o[j];
            if (bytes) memcpy(c->data.data + c->data.len, v->data.data + o[j], bytes);
            c->data.len += bytes;
            for (size_t i = 1; i <= n; i++) {
                int64_t end = o[j + i] + base;
                memcpy(c->offsets.data + c->offsets.len, &end, 8);
                c->offsets.len += 8;
            }
        } else {
            memcpy(c->values.data + c->values.len, v->fixed.data + (size_t)v->width * j, n * c->width);
            c->values.len += n * c->width;
        }
        validity_ones(c, n);
        *next = j + n;
        return URSA_OK;
    }
    if (!is_bool && !varlen && n) {
        /* Fixed width with nulls: a value or zeros per row, and its bit (a
         * row that starts a byte writes the whole byte; bits past the length
         * may be stale), into the room reserved above. */
        size_t w = c->width, row = c->length;
        uint8_t *dst = c->values.data + c->values.len, *bits = c->validity.data;
        const uint8_t *src =
            k ? v->fixed.data + (size_t)v->width * j : NULL; /* (no values: maybe no buffer) */
#define FIXED_ROW(W, valid)        \
    do {                           \
        if (valid) {               \
            memcpy(dst, src, (W)); \
            src += (W);            \
        } else {                   \
            memset(dst, 0, (W));   \
        }                          \
        dst += (W);                \
    } while (0)
#define FIXED_WITH_NULLS(W)                                                    \
    {                                                                          \
        size_t i = 0;                                                          \
        for (; i < n && (row & 7); i++, row++) { /* to a byte's first row */   \
            bool valid = def[i] == max_def;                                    \
            FIXED_ROW(W, valid);                                               \
            ursa_bit_set(bits, row, valid);                                    \
        }                                                                      \
        for (; i + 8 <= n; i += 8, row += 8) { /* a validity byte at a time */ \
            unsigned byte = 0;                                                 \
            for (unsigned b = 0; b < 8; b++) {                                 \
                bool valid = def[i + b] == max_def;                            \
                FIXED_ROW(W, valid);                                           \
                byte |= (unsigned)valid << b;                                  \
            }                                                                  \
            bits[row >> 3] = (uint8_t)byte;                                    \
        }                                                                      \
        for (; i < n; i++, row++) {                                            \
            bool valid = def[i] == max_def;                                    \
            FIXED_ROW(W, valid);                                               \
            if ((row & 7) == 0)                                                \
                bits[row >> 3] = (uint8_t)valid;                               \
            else                                                               \
                ursa_bit_set(bits, row, valid);                                \
        }                                                                      \
    }
        if (w == 8) { /* the common widths with constant sizes: copies the compiler inlines */
            FIXED_WITH_NULLS(8)
        } else if (w == 4) {
            FIXED_WITH_NULLS(4)
        } else {
            FIXED_WITH_NULLS(w)
        }
#undef FIXED_WITH_NULLS
#undef FIXED_ROW
        c->values.len += n * w;
        c->length = row;
        c->validity.len = (row + 7) / 8;
        c->null_count += n - k;
        *next = j + k;
        return URSA_OK;
    }
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        if (def && def[i] != max_def) {
            rc = ursa_column_append_null(c);
        } else if (is_bool) {
            rc = ursa_column_append_bool(c, v->fixed.data[j++] != 0);
        } else if (varlen) {
            size_t l;
            const uint8_t *s = pq_values_get(v, j++, &l);
            rc = ursa_column_append_str(c, s, l);
        } else {
            rc = ursa_column_append_fixed(c, v->fixed.data + (size_t)v->width * j++);
        }
    }
    if (rc) {
        ursa_column_truncate(c, start);
        return rc;
    }
    *next = j;
    return URSA_OK;
}
