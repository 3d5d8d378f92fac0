/*
 * pq_encode.h -- Parquet value encodings used by the writer:
 *   - the RLE / bit-packed hybrid (definition levels, dictionary indices),
 *   - PLAIN for booleans, 8-byte values and byte arrays,
 *   - DELTA_BINARY_PACKED (INT32, INT64; also the lengths of
 *     DELTA_LENGTH_BYTE_ARRAY) and BYTE_STREAM_SPLIT,
 *   - a dictionary (the values of a dictionary page) of byte strings or of
 *     fixed-width values, with a hash table for lookups and a byte-size
 *     limit.
 *
 * Every function appends to a caller-owned ursa_buf_t and returns URSA_OK,
 * URSA_ENOMEM, or the error named in its comment. Little-endian hosts only
 * (checked at compile time in pq_encode.c).
 */
#ifndef URSA_PQ_ENCODE_H
#define URSA_PQ_ENCODE_H

#include "common.h"

/* Returns the number of bits needed to hold every value in 0..max (0 for 0). */
int pq_bit_width(uint64_t max);

/* Appends the RLE / bit-packed hybrid encoding of vals[0..n), bit_width
 * (0..32) bits per value, to out. No length prefix is written. Bits of a
 * value above bit_width are dropped. Runs of 8 or more equal values become
 * RLE runs; the rest is bit-packed in groups of 8 (the last group of the
 * stream padded with zeros). Returns URSA_EINVAL for a bad bit_width. */
int pq_rle_encode(ursa_buf_t *out, const uint32_t *vals, size_t n, int bit_width) URSA_MUST_CHECK;

/* The same with bit width 1 for bits [off, off + n) of an LSB-first
 * bitmap: definition levels straight from an Arrow validity bitmap. */
int pq_rle_encode_bits(ursa_buf_t *out, const uint8_t *bits, size_t off, size_t n) URSA_MUST_CHECK;

/* Decodes n values of the hybrid encoding with bit_width (0..32) from
 * p[0..len) into out. *used (when not NULL) gets the bytes consumed, which
 * ends at the run holding the n-th value. Returns URSA_EFORMAT when the
 * input ends early or is malformed, URSA_EINVAL for a bad bit_width. */
int pq_rle_decode(const uint8_t *p, size_t len, int bit_width, uint32_t *out, size_t n,
                  size_t *used) URSA_MUST_CHECK;

/* Appends bits [off, off + n) of src to the LSB-first bitmap in dst, which
 * holds *nbits bits (dst->len == (*nbits + 7) / 8); updates *nbits. */
int pq_bits_append(ursa_buf_t *dst, size_t *nbits, const uint8_t *src, size_t off, size_t n) URSA_MUST_CHECK;

/* PLAIN booleans: appends values[i] for the rows i in [off, off + n) whose
 * validity bit is set (all rows when validity is NULL) to the bit-packed
 * stream in dst holding *nbits bits; updates *nbits. */
int pq_plain_bools(ursa_buf_t *dst, size_t *nbits, const uint8_t *values, const uint8_t *validity, size_t off,
                   size_t n) URSA_MUST_CHECK;

/* PLAIN 8-byte values (INT64, DOUBLE): appends values[i] for the rows i in
 * [off, off + n) whose validity bit is set (all when validity is NULL). */
int pq_plain_fixed64(ursa_buf_t *dst, const void *values, const uint8_t *validity, size_t off,
                     size_t n) URSA_MUST_CHECK;

/* PLAIN BYTE_ARRAY: appends one value as a 4-byte little-endian length and
 * the bytes. Returns URSA_ELIMIT when n does not fit in an int32. */
int pq_plain_byte_array(ursa_buf_t *dst, const void *p, size_t n) URSA_MUST_CHECK;

/* DELTA_BINARY_PACKED with blocks of 128 values in 4 miniblocks of 32:
 * appends the encoding of v[0..n) to out. Deltas wrap around in the
 * value's width (32 or 64 bits), as readers add them back with wrapping
 * arithmetic, so every int32 / int64 sequence encodes. */
int pq_delta_encode32(ursa_buf_t *out, const int32_t *v, size_t n) URSA_MUST_CHECK;
int pq_delta_encode64(ursa_buf_t *out, const int64_t *v, size_t n) URSA_MUST_CHECK;

/* Decodes n values of DELTA_BINARY_PACKED (width 32 or 64: the result is
 * truncated to that width and sign-extended) from p[0..len) into out;
 * *used gets the bytes consumed. Returns URSA_EFORMAT for bad input. */
int pq_delta_decode(const uint8_t *p, size_t len, int width, int64_t *out, size_t n,
                    size_t *used) URSA_MUST_CHECK;

/* BYTE_STREAM_SPLIT: appends n values of width bytes from v, byte k of
 * every value in stream k. */
int pq_byte_stream_split(ursa_buf_t *out, const uint8_t *v, size_t n, size_t width) URSA_MUST_CHECK;

/* A fast 64-bit hash of n bytes (not cryptographic, not stable across
 * versions: use it for in-memory tables only). */
uint64_t pq_hash_bytes(const void *p, size_t n);

/*
 * A dictionary of distinct byte strings, numbered 0, 1, ... in insertion
 * order. The entries are kept PLAIN-encoded back to back in `data`, which
 * is therefore exactly the body of the dictionary page. The hash table is
 * open addressing with linear probing; a slot holds 32 bits of the hash
 * and the entry number, and entries are found through their offsets into
 * `data`, so a lookup touches no other memory and no value is allocated
 * on its own.
 */
typedef struct pq_dict {
    ursa_buf_t data;  /* PLAIN entries: 4-byte length, bytes (or width bytes each); owned */
    unsigned width;   /* 0: byte strings; else every entry is width bytes, no length */
    uint32_t *offs;   /* offs[i]: where entry i starts in data; owned */
    size_t count;     /* entries */
    size_t offs_cap;  /* capacity of offs */
    uint64_t *slots;  /* (hash32 << 32) | (index + 1), 0 = empty; owned */
    size_t nslots;    /* 0 or a power of two */
    size_t max_bytes; /* data.len never exceeds this */
} pq_dict_t;

#define PQ_DICT_HARD_MAX ((size_t)1 << 30) /* any larger max_bytes is clamped to this */

/* Initializes an empty dictionary (caller-owned storage; no allocation). */
void pq_dict_init(pq_dict_t *d, size_t max_bytes);
/* The same for fixed-width values of width bytes (PLAIN without lengths). */
void pq_dict_init_fixed(pq_dict_t *d, size_t max_bytes, unsigned width);
/* Frees what the dictionary holds; it can be initialized again. */
void pq_dict_free(pq_dict_t *d);
/* Empties the dictionary, keeping its memory for reuse. */
void pq_dict_clear(pq_dict_t *d);

/* Finds s[0..n) or adds it. On URSA_OK *index is its entry number and
 * *added tells whether it was new. Returns URSA_ELIMIT, adding nothing,
 * when the new entry would make data exceed max_bytes. */
int pq_dict_put(pq_dict_t *d, const void *s, size_t n, uint32_t *index, bool *added) URSA_MUST_CHECK;

/* Returns entry i (i < count) and its length in *n. */
const uint8_t *pq_dict_entry(const pq_dict_t *d, size_t i, size_t *n);

#endif
