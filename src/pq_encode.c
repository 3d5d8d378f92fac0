/*
 * pq_encode.c -- RLE / bit-packed hybrid, PLAIN, and the string dictionary.
 *
 * The hybrid encoder works on a whole array at once (the writer keeps a
 * page's levels and indices until the page is closed), which makes the run
 * detection simple: at position i, measure the run of equal values; a run
 * of 8 or more is written as an RLE run, anything shorter joins a literal
 * (bit-packed) run. A literal run ends where a run of 8 or more begins; it
 * is then padded to a multiple of 8 values by borrowing the first values of
 * that run (still at least one left for the RLE run), because only the last
 * literal run of a stream may be padded with zeros. Literal runs are capped
 * at 63 groups of 8 so that their header is one byte, as other writers do.
 */
#include "pq_encode.h"

#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pq_encode.c assumes a little-endian host"
#endif

int pq_bit_width(uint64_t max)
{
    return max ? 64 - __builtin_clzll(max) : 0;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* ---------------------------------------------------------------------------
 * RLE / bit-packed hybrid
 * ------------------------------------------------------------------------- */

#define LITERAL_MAX_GROUPS 63

/* The values to encode: a uint32 array, or the bits of a bitmap. The
 * functions below take `bits` as a separate constant argument and are
 * always inlined, so each entry point gets its own loop without a test
 * per value. */
typedef struct src {
    const uint32_t *vals;
    const uint8_t *bits;
    size_t off; /* first bit, for bits */
} src_t;

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint32_t get(const src_t *s, size_t i, const bool bits)
{
    if (!bits) return s->vals[i];
    size_t b = s->off + i;
    return (s->bits[b >> 3] >> (b & 7)) & 1u;
}

/* Length of the run of values equal to value i, starting at i (< n). */
ALWAYS_INLINE size_t run_len(const src_t *s, size_t i, size_t n, const bool bits)
{
    uint32_t v = get(s, i, bits);
    size_t j = i + 1;
    if (!bits) {
        while (j < n && s->vals[j] == v) j++;
        return j - i;
    }
    /* Bits: step to a byte boundary, then compare whole bytes. */
    while (j < n && ((s->off + j) & 7) && get(s, j, bits) == v) j++;
    if (j < n && ((s->off + j) & 7) == 0) {
        uint8_t full = v ? 0xff : 0x00;
        while (j + 8 <= n && s->bits[(s->off + j) >> 3] == full) j += 8;
        while (j < n && get(s, j, bits) == v) j++;
    }
    return j - i;
}

static int emit_rle(ursa_buf_t *out, uint32_t v, size_t count, int bw)
{
    int rc = ursa_buf_reserve(out, 10 + 4);
    if (rc) return rc;
    uint8_t *p = out->data + out->len;
    size_t n = varint_put(p, (uint64_t)count << 1);
    for (int k = 0; k < (bw + 7) / 8; k++) p[n++] = (uint8_t)(v >> (8 * k));
    out->len += n;
    return URSA_OK;
}

/* Bit-packs values [start, start + count), padding to a group of 8. */
ALWAYS_INLINE int emit_packed(ursa_buf_t *out, const src_t *s, size_t start, size_t count, int bw,
                              const bool bits)
{
    size_t groups = (count + 7) / 8;
    int rc = ursa_buf_reserve(out, 10 + groups * (size_t)bw);
    if (rc) return rc;
    uint8_t *p = out->data + out->len;
    size_t n = varint_put(p, ((uint64_t)groups << 1) | 1);
    uint64_t mask = bw == 32 ? 0xffffffffu : ((uint64_t)1 << bw) - 1;
    uint64_t acc = 0;
    int nbits = 0;
    for (size_t k = 0; k < groups * 8; k++) {
        uint64_t v = k < count ? (get(s, start + k, bits) & mask) : 0;
        acc |= v << nbits;
        nbits += bw;
        while (nbits >= 8) {
            p[n++] = (uint8_t)acc;
            acc >>= 8;
            nbits -= 8;
        }
    }
    /* groups * 8 * bw bits is a whole number of bytes: nothing is left. */
    out->len += n;
    return URSA_OK;
}

ALWAYS_INLINE int rle_encode(ursa_buf_t *out, const src_t *s, size_t n, int bw, const bool bits)
{
    if (bw < 0 || bw > 32) return URSA_EINVAL;
    uint32_t mask = bw == 32 ? 0xffffffffu : (uint32_t)((1ull << bw) - 1);
    size_t i = 0;
    while (i < n) {
        size_t r = run_len(s, i, n, bits);
        if (r >= 8 || i + r == n) {
            /* A long run, or the rest of the stream is one value. */
            int rc = emit_rle(out, get(s, i, bits) & mask, r, bw);
            if (rc) return rc;
            i += r;
            continue;
        }
        size_t start = i, j = i + r;
        while (j < n && j - start < LITERAL_MAX_GROUPS * 8) {
            size_t rj = run_len(s, j, n, bits);
            if (rj >= 8) break;
            j += rj;
        }
        if (j - start > LITERAL_MAX_GROUPS * 8) j = start + LITERAL_MAX_GROUPS * 8;
        size_t lit = j - start;
        if (j < n && lit % 8) {
            /* Borrow from what follows so that only the stream's last
             * literal run is ever padded. */
            size_t take = 8 - lit % 8;
            if (take > n - j) take = n - j;
            lit += take;
        }
        int rc = emit_packed(out, s, start, lit, bw, bits);
        if (rc) return rc;
        i = start + lit;
    }
    return URSA_OK;
}

int pq_rle_encode(ursa_buf_t *out, const uint32_t *vals, size_t n, int bit_width)
{
    src_t s = {.vals = vals};
    return rle_encode(out, &s, n, bit_width, false);
}

int pq_rle_encode_bits(ursa_buf_t *out, const uint8_t *bits, size_t off, size_t n)
{
    src_t s = {.bits = bits, .off = off};
    return rle_encode(out, &s, n, 1, true);
}

int pq_rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n, size_t *used)
{
    if (bw < 0 || bw > 32) return URSA_EINVAL;
    uint64_t mask = bw == 32 ? 0xffffffffu : ((uint64_t)1 << bw) - 1;
    size_t pos = 0, got = 0;
    while (got < n) {
        uint64_t h = 0;
        for (int shift = 0;; shift += 7) {
            if (pos >= len || shift > 63) return URSA_EFORMAT;
            uint8_t c = p[pos++];
            h |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80)) break;
        }
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0 || groups > SIZE_MAX / 8 || (bw > 0 && groups > (len - pos) / (size_t)bw))
                return URSA_EFORMAT;
            size_t count = (size_t)groups * 8, start = pos;
            size_t take = count < n - got ? count : n - got;
            uint64_t acc = 0;
            int nbits = 0;
            for (size_t k = 0; k < take; k++) {
                while (nbits < bw) {
                    acc |= (uint64_t)p[pos++] << nbits;
                    nbits += 8;
                }
                out[got++] = (uint32_t)(acc & mask);
                acc >>= bw;
                nbits -= bw;
            }
            pos = start + (size_t)groups * (size_t)bw;
        } else {
            uint64_t count = h >> 1;
            size_t vb = ((size_t)bw + 7) / 8;
            if (count == 0 || len - pos < vb) return URSA_EFORMAT;
            uint32_t v = 0;
            for (size_t k = 0; k < vb; k++) v |= (uint32_t)p[pos + k] << (8 * k);
            pos += vb;
            for (uint64_t k = 0; k < count && got < n; k++) out[got++] = v;
        }
    }
    if (used) *used = pos;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * PLAIN
 * ------------------------------------------------------------------------- */

static inline bool bit(const uint8_t *bits, size_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

int pq_bits_append(ursa_buf_t *dst, size_t *nbits, const uint8_t *src, size_t off, size_t n)
{
    if (n == 0) return URSA_OK;
    size_t have = *nbits;
    size_t need = (have + n + 7) / 8;
    int rc = ursa_buf_reserve(dst, need - dst->len);
    if (rc) return rc;
    uint8_t *d = dst->data;
    size_t k = 0;
    /* Bit by bit until the destination is at a byte boundary ... */
    for (; k < n && ((have + k) & 7); k++)
        d[(have + k) >> 3] |= (uint8_t)(bit(src, off + k) << ((have + k) & 7));
    /* ... then whole destination bytes, each from one or two source bytes ... */
    size_t full = (n - k) / 8;
    uint8_t *dp = d + (have + k) / 8;
    const uint8_t *sp = src + ((off + k) >> 3);
    unsigned sh = (off + k) & 7;
    if (sh == 0) {
        if (full) memcpy(dp, sp, full);
    } else {
        for (size_t m = 0; m < full; m++) dp[m] = (uint8_t)((sp[m] >> sh) | (sp[m + 1] << (8 - sh)));
    }
    k += full * 8;
    /* ... and the rest bit by bit into a fresh byte. */
    for (; k < n; k++) {
        size_t o = have + k;
        if ((o & 7) == 0) d[o >> 3] = 0;
        d[o >> 3] |= (uint8_t)(bit(src, off + k) << (o & 7));
    }
    dst->len = need;
    *nbits = have + n;
    return URSA_OK;
}

int pq_plain_bools(ursa_buf_t *dst, size_t *nbits, const uint8_t *values, const uint8_t *validity, size_t off,
                   size_t n)
{
    if (!validity) return pq_bits_append(dst, nbits, values, off, n);
    if (n == 0) return URSA_OK;
    size_t have = *nbits;
    int rc = ursa_buf_reserve(dst, (have + n + 7) / 8 - dst->len);
    if (rc) return rc;
    uint8_t *d = dst->data;
    size_t o = have;
    for (size_t k = 0; k < n; k++) {
        if (!bit(validity, off + k)) continue;
        if ((o & 7) == 0) d[o >> 3] = 0;
        d[o >> 3] |= (uint8_t)(bit(values, off + k) << (o & 7));
        o++;
    }
    dst->len = (o + 7) / 8;
    *nbits = o;
    return URSA_OK;
}

int pq_plain_fixed64(ursa_buf_t *dst, const void *values, const uint8_t *validity, size_t off, size_t n)
{
    if (n == 0) return URSA_OK;
    const uint8_t *v = (const uint8_t *)values + off * 8;
    if (!validity) return ursa_buf_append(dst, v, n * 8);
    int rc = ursa_buf_reserve(dst, n * 8);
    if (rc) return rc;
    uint8_t *d = dst->data + dst->len;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (!bit(validity, off + k)) continue;
        memcpy(d + m * 8, v + k * 8, 8);
        m++;
    }
    dst->len += m * 8;
    return URSA_OK;
}

int pq_plain_byte_array(ursa_buf_t *dst, const void *p, size_t n)
{
    if (n > INT32_MAX) return URSA_ELIMIT;
    int rc = ursa_buf_reserve(dst, 4 + n);
    if (rc) return rc;
    uint32_t len = (uint32_t)n;
    memcpy(dst->data + dst->len, &len, 4);
    if (n) memcpy(dst->data + dst->len + 4, p, n);
    dst->len += 4 + n;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Hash: multiply-xorshift over 8-byte words, then a final avalanche.
 * ------------------------------------------------------------------------- */

#define HASH_M1 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, odd */
#define HASH_M2 0xff51afd7ed558ccdull

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t pq_hash_bytes(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 0x5bd1e9955bd1e995ull ^ ((uint64_t)n * HASH_M1);
    while (n >= 8) {
        h = (h ^ load64(p)) * HASH_M1;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t t = 0;
        memcpy(&t, p, n);
        h = (h ^ t) * HASH_M1;
        h ^= h >> 31;
    }
    h ^= h >> 33;
    h *= HASH_M2;
    h ^= h >> 29;
    h *= HASH_M1;
    h ^= h >> 32;
    return h;
}

/* ---------------------------------------------------------------------------
 * Dictionary
 * ------------------------------------------------------------------------- */

#define DICT_MIN_SLOTS 256

void pq_dict_init(pq_dict_t *d, size_t max_bytes)
{
    memset(d, 0, sizeof(*d));
    d->max_bytes = max_bytes < PQ_DICT_HARD_MAX ? max_bytes : PQ_DICT_HARD_MAX;
}

void pq_dict_init_fixed(pq_dict_t *d, size_t max_bytes, unsigned width)
{
    pq_dict_init(d, max_bytes);
    d->width = width;
}

void pq_dict_free(pq_dict_t *d)
{
    ursa_buf_free(&d->data);
    ursa_free(d->offs);
    ursa_free(d->slots);
    size_t max = d->max_bytes;
    unsigned width = d->width;
    memset(d, 0, sizeof(*d));
    d->max_bytes = max;
    d->width = width;
}

void pq_dict_clear(pq_dict_t *d)
{
    d->data.len = 0;
    d->count = 0;
    if (d->slots) memset(d->slots, 0, d->nslots * sizeof(*d->slots));
}

const uint8_t *pq_dict_entry(const pq_dict_t *d, size_t i, size_t *n)
{
    if (d->width) {
        *n = d->width;
        return d->data.data + i * d->width;
    }
    uint32_t len;
    memcpy(&len, d->data.data + d->offs[i], 4);
    *n = len;
    return d->data.data + d->offs[i] + 4;
}

/* Doubles the table (or creates it) and reinserts every entry. */
static int dict_grow(pq_dict_t *d)
{
    size_t nslots = d->nslots ? d->nslots * 2 : DICT_MIN_SLOTS;
    uint64_t *slots = ursa_calloc(nslots, sizeof(*slots));
    if (!slots) return URSA_ENOMEM;
    size_t mask = nslots - 1;
    for (size_t k = 0; k < d->nslots; k++) {
        uint64_t e = d->slots[k];
        if (!e) continue;
        size_t i = (uint32_t)(e >> 32) & mask;
        while (slots[i]) i = (i + 1) & mask;
        slots[i] = e;
    }
    ursa_free(d->slots);
    d->slots = slots;
    d->nslots = nslots;
    return URSA_OK;
}

int pq_dict_put(pq_dict_t *d, const void *s, size_t n, uint32_t *index, bool *added)
{
    int rc;
    /* A value that could never fit is not looked for (nor hashed). */
    size_t entry = d->width ? d->width : 4 + n; /* bytes the entry takes in data */
    if (d->width && n != d->width) return URSA_EINVAL;
    if (n > d->max_bytes || entry > d->max_bytes) return URSA_ELIMIT;
    if ((d->count + 1) * 2 > d->nslots && (rc = dict_grow(d))) return rc;
    uint32_t tag = (uint32_t)pq_hash_bytes(s, n);
    size_t mask = d->nslots - 1;
    size_t i = tag & mask;
    for (;;) {
        uint64_t e = d->slots[i];
        if (!e) break;
        if ((uint32_t)(e >> 32) == tag) {
            uint32_t idx = (uint32_t)e - 1;
            size_t len;
            const uint8_t *p = pq_dict_entry(d, idx, &len);
            if (len == n && memcmp(p, s, n) == 0) {
                *index = idx;
                *added = false;
                return URSA_OK;
            }
        }
        i = (i + 1) & mask;
    }
    /* Absent: add it if it fits. */
    if (entry > d->max_bytes - d->data.len || d->count >= UINT32_MAX - 1) return URSA_ELIMIT;
    if (d->width) {
        if ((rc = ursa_buf_append(&d->data, s, n))) return rc;
        d->slots[i] = ((uint64_t)tag << 32) | (uint64_t)(d->count + 1);
        *index = (uint32_t)d->count++;
        *added = true;
        return URSA_OK;
    }
    if (d->count == d->offs_cap) {
        size_t cap = d->offs_cap ? d->offs_cap * 2 : 64;
        uint32_t *offs = ursa_realloc(d->offs, cap * sizeof(*offs));
        if (!offs) return URSA_ENOMEM;
        d->offs = offs;
        d->offs_cap = cap;
    }
    size_t at = d->data.len;
    if ((rc = pq_plain_byte_array(&d->data, s, n))) return rc;
    d->offs[d->count] = (uint32_t)at;
    d->slots[i] = ((uint64_t)tag << 32) | (uint64_t)(d->count + 1);
    *index = (uint32_t)d->count++;
    *added = true;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * DELTA_BINARY_PACKED and BYTE_STREAM_SPLIT
 * ------------------------------------------------------------------------- */

#define DELTA_BLOCK      128
#define DELTA_MINIBLOCKS 4
#define DELTA_MINI       (DELTA_BLOCK / DELTA_MINIBLOCKS)

static uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Bit-packs the 32 values of a miniblock, bw (0..64) bits each, LSB first:
 * 4 * bw bytes. */
static void pack_mini(uint8_t *out, const uint64_t *v, int bw)
{
    unsigned __int128 acc = 0;
    int nbits = 0;
    for (int i = 0; i < DELTA_MINI; i++) {
        acc |= (unsigned __int128)v[i] << nbits;
        nbits += bw;
        if (nbits >= 64) {
            uint64_t lo = (uint64_t)acc;
            memcpy(out, &lo, 8);
            out += 8;
            acc >>= 64;
            nbits -= 64;
        }
    }
    for (; nbits > 0; nbits -= 8) { /* 32 * bw bits are whole bytes */
        *out++ = (uint8_t)acc;
        acc >>= 8;
    }
}

/* The encoder for both widths: v is read as int64 (is32: as int32). */
static int delta_encode(ursa_buf_t *out, const void *vals, size_t n, bool is32)
{
    int rc;
    const int32_t *v32 = vals;
    const int64_t *v64 = vals;
    uint64_t mask = is32 ? 0xffffffffull : ~0ull;
#define VAL(i) (is32 ? (uint64_t)(int64_t)v32[i] : (uint64_t)v64[i])
    if ((rc = ursa_buf_reserve(out, 40))) return rc;
    out->len += varint_put(out->data + out->len, DELTA_BLOCK);
    out->len += varint_put(out->data + out->len, DELTA_MINIBLOCKS);
    out->len += varint_put(out->data + out->len, n);
    out->len += varint_put(out->data + out->len, zigzag64(n ? (int64_t)VAL(0) : 0));
    uint64_t d[DELTA_BLOCK];
    for (size_t i = 1; i < n; i += DELTA_BLOCK) {
        size_t cnt = n - i < DELTA_BLOCK ? n - i : DELTA_BLOCK;
        int64_t min = INT64_MAX;
        for (size_t k = 0; k < cnt; k++) {
            uint64_t delta = (VAL(i + k) - VAL(i + k - 1)) & mask;
            int64_t sd = is32 ? (int64_t)(int32_t)(uint32_t)delta : (int64_t)delta;
            d[k] = (uint64_t)sd;
            if (sd < min) min = sd;
        }
        int bws[DELTA_MINIBLOCKS] = {0};
        size_t body = 0;
        for (size_t k = 0; k < DELTA_BLOCK; k++) {
            d[k] = k < cnt ? (d[k] - (uint64_t)min) & mask : 0;
        }
        for (int m = 0; m < DELTA_MINIBLOCKS; m++) {
            if ((size_t)m * DELTA_MINI >= cnt) break;
            uint64_t or = 0;
            for (int k = 0; k < DELTA_MINI; k++) or |= d[m * DELTA_MINI + k];
            bws[m] = pq_bit_width(or);
            body += (size_t)bws[m] * 4;
        }
        if ((rc = ursa_buf_reserve(out, 10 + DELTA_MINIBLOCKS + body))) return rc;
        out->len += varint_put(out->data + out->len, zigzag64(min));
        for (int m = 0; m < DELTA_MINIBLOCKS; m++) out->data[out->len++] = (uint8_t)bws[m];
        for (int m = 0; m < DELTA_MINIBLOCKS; m++) {
            if ((size_t)m * DELTA_MINI >= cnt) break;
            memset(out->data + out->len, 0, (size_t)bws[m] * 4);
            pack_mini(out->data + out->len, d + m * DELTA_MINI, bws[m]);
            out->len += (size_t)bws[m] * 4;
        }
    }
#undef VAL
    return URSA_OK;
}

int pq_delta_encode32(ursa_buf_t *out, const int32_t *v, size_t n)
{
    return delta_encode(out, v, n, true);
}

int pq_delta_encode64(ursa_buf_t *out, const int64_t *v, size_t n)
{
    return delta_encode(out, v, n, false);
}

static int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return URSA_EFORMAT;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return URSA_OK;
        }
    }
    return URSA_EFORMAT;
}

int pq_delta_decode(const uint8_t *p, size_t len, int width, int64_t *out, size_t n, size_t *used)
{
    const uint8_t *q = p, *end = p + len;
    uint64_t bs, nm, total, first;
    if (varint_get(&q, end, &bs) || varint_get(&q, end, &nm) || varint_get(&q, end, &total) ||
        varint_get(&q, end, &first))
        return URSA_EFORMAT;
    if (bs == 0 || bs % 128 || nm == 0 || bs % nm || (bs / nm) % 32 || total != n) return URSA_EFORMAT;
    uint64_t mask = width == 32 ? 0xffffffffull : ~0ull;
    uint64_t cur = (uint64_t)((int64_t)(first >> 1) ^ -(int64_t)(first & 1));
    size_t got = 0, per_mini = (size_t)(bs / nm);
    if (n) out[got++] = width == 32 ? (int64_t)(int32_t)(uint32_t)cur : (int64_t)cur;
    while (got < n) {
        uint64_t zmin;
        if (varint_get(&q, end, &zmin)) return URSA_EFORMAT;
        uint64_t min = (uint64_t)((int64_t)(zmin >> 1) ^ -(int64_t)(zmin & 1));
        if ((size_t)(end - q) < nm) return URSA_EFORMAT;
        const uint8_t *bws = q;
        q += nm;
        for (size_t m = 0; m < nm && got < n; m++) {
            int bw = bws[m];
            if (bw > 64) return URSA_EFORMAT;
            size_t bytes = per_mini * (size_t)bw / 8;
            if ((size_t)(end - q) < bytes) return URSA_EFORMAT;
            for (size_t k = 0; k < per_mini; k++) {
                uint64_t x = 0;
                for (int b = 0; b < bw; b++) {
                    size_t bitpos = k * (size_t)bw + (size_t)b;
                    x |= (uint64_t)((q[bitpos >> 3] >> (bitpos & 7)) & 1) << b;
                }
                if (got < n) {
                    cur = (cur + min + x) & mask;
                    out[got++] = width == 32 ? (int64_t)(int32_t)(uint32_t)cur : (int64_t)cur;
                }
            }
            q += bytes;
        }
    }
    if (used) *used = (size_t)(q - p);
    return URSA_OK;
}

int pq_byte_stream_split(ursa_buf_t *out, const uint8_t *v, size_t n, size_t width)
{
    int rc;
    if ((rc = ursa_buf_reserve(out, n * width))) return rc;
    uint8_t *o = out->data + out->len;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < width; k++) o[k * n + i] = v[i * width + k];
    out->len += n * width;
    return URSA_OK;
}
