/*
 * pq_decode.h -- the value layer of the Parquet reader: definition levels
 * and the values of one page, decoded from a byte range that is not
 * trusted, into dense value buffers and from there into Ursa's columns.
 *
 * Every function is pure on its input bytes: it reads p[0..len) and no
 * further, checks every length and count against what is left, and returns
 * URSA_EFORMAT (with a message in err when err is not NULL) on malformed or
 * short input, URSA_ENOMEM when memory runs out, URSA_EINVAL for bad
 * arguments of our own. Nothing is allocated beyond the output the caller
 * asked for (n values; byte-array bytes are bounded by pq_values_t.max_data).
 *
 * A page is decoded in three steps:
 *   1. pq_decode_levels(): the definition levels into a uint32_t array (the
 *      caller's, n entries), checked against the maximum level;
 *   2. pq_decode_values(): the non-null values (as many as levels equal to
 *      the maximum) appended to a pq_values_t;
 *   3. pq_column_append(): n rows appended to an ursa_column_t, a value for
 *      every level equal to the maximum and a null for the others.
 * Type conversions (INT32 into an int8 column, timestamp units, decimals)
 * belong to the reader, between steps 2 and 3.
 */
#ifndef URSA_PQ_DECODE_H
#define URSA_PQ_DECODE_H

#include "column.h"
#include "common.h"

/* Parquet physical types (parquet.thrift's Type; the same numbers). */
enum {
    PQV_T_BOOLEAN = 0,
    PQV_T_INT32 = 1,
    PQV_T_INT64 = 2,
    PQV_T_INT96 = 3,
    PQV_T_FLOAT = 4,
    PQV_T_DOUBLE = 5,
    PQV_T_BYTE_ARRAY = 6,
    PQV_T_FIXED_LEN_BYTE_ARRAY = 7
};

/* Parquet encodings (parquet.thrift's Encoding; the same numbers). */
enum {
    PQV_E_PLAIN = 0,
    PQV_E_PLAIN_DICTIONARY = 2,
    PQV_E_RLE = 3,
    PQV_E_BIT_PACKED = 4,
    PQV_E_DELTA_BINARY_PACKED = 5,
    PQV_E_DELTA_LENGTH_BYTE_ARRAY = 6,
    PQV_E_DELTA_BYTE_ARRAY = 7,
    PQV_E_RLE_DICTIONARY = 8,
    PQV_E_BYTE_STREAM_SPLIT = 9
};

/* How the levels of a page are stored. */
typedef enum pq_levels_kind {
    PQ_LEVELS_RLE_V1,       /* data page v1: a 4-byte little-endian length, then the hybrid */
    PQ_LEVELS_RLE_V2,       /* data page v2: the hybrid alone, its length given by the header */
    PQ_LEVELS_BIT_PACKED_V1 /* the deprecated BIT_PACKED: MSB-first, ceil(n * width / 8) bytes */
} pq_levels_kind_t;

#define PQ_FLBA_MAX        ((int32_t)1 << 20)  /* a FIXED_LEN_BYTE_ARRAY type_length above this is refused */
#define PQ_VALUES_MAX_DATA ((size_t)1 << 31)   /* default bound of the byte-array bytes of a pq_values_t */
#define PQ_DELTA_BLOCK_MAX ((uint64_t)1 << 20) /* a DELTA_BINARY_PACKED block size above this is refused */

/*
 * Decoded values, dense (no nulls), appended to by the decoders:
 *   width > 0: fixed-width values of width bytes each, back to back in
 *              `fixed` (BOOLEAN: one byte 0 or 1; INT96: an int64 of
 *              microseconds since the epoch; FLOAT16 and other
 *              FIXED_LEN_BYTE_ARRAY: type_length bytes);
 *   width == 0: byte arrays, int64 offsets (count + 1 entries, the first 0)
 *              into `data`.
 * Caller-owned storage; the buffers are owned and freed by pq_values_free().
 */
typedef struct pq_values {
    size_t count;       /* values held */
    int ptype;          /* the Parquet physical type (PQV_T_*) */
    unsigned width;     /* bytes per value, 0 for byte arrays */
    ursa_buf_t fixed;   /* width > 0: count * width bytes */
    ursa_buf_t offsets; /* width == 0: int64_t, count + 1 entries */
    ursa_buf_t data;    /* width == 0: the bytes of the values */
    size_t max_data;    /* data.len never exceeds this (0 in init: PQ_VALUES_MAX_DATA) */
} pq_values_t;

/* Initializes empty values of the given Parquet physical type (type_length
 * for FIXED_LEN_BYTE_ARRAY, else ignored). Returns URSA_EINVAL for an
 * unknown type or a type_length outside 1..PQ_FLBA_MAX. */
int pq_values_init(pq_values_t *v, int ptype, int32_t type_length) URSA_MUST_CHECK;
/* Empties initialized (or zeroed) values and gives them a type as
 * pq_values_init does, keeping their memory for reuse. */
int pq_values_reset(pq_values_t *v, int ptype, int32_t type_length) URSA_MUST_CHECK;
/* Frees the buffers; v can be initialized again. */
void pq_values_free(pq_values_t *v);
/* Empties v, keeping its memory. */
void pq_values_clear(pq_values_t *v);

/* Value i (i < count): fixed-width values return their width bytes, byte
 * arrays their bytes and length in *n. */
const uint8_t *pq_values_get(const pq_values_t *v, size_t i, size_t *n);

/* Decodes n levels of the given kind from p[0..len) into out[0..n), each
 * checked to be <= max_level (the bit width is pq_bit_width(max_level)).
 * *used gets the bytes consumed (V1: 4 + the prefixed length; V2: len,
 * the whole given length). max_level 0 needs no bytes and gives zeros. */
int pq_decode_levels(pq_levels_kind_t kind, const uint8_t *p, size_t len, uint32_t max_level, uint32_t *out,
                     size_t n, size_t *used, ursa_err_t *err) URSA_MUST_CHECK;

/* The RLE / bit-packed hybrid without a length: n values of bit_width
 * (0..32) bits from p[0..len) into out; *used (may be NULL) gets the bytes
 * consumed. A final bit-packed run may stop short of its declared groups
 * when the values needed are all present (as written by some writers). */
int pq_decode_hybrid(const uint8_t *p, size_t len, int bit_width, uint32_t *out, size_t n, size_t *used,
                     ursa_err_t *err) URSA_MUST_CHECK;

/* Decodes n values of a page's value section p[0..len) with the given
 * encoding and appends them to out (initialized for the column's physical
 * type). dict holds the dictionary page's values for PLAIN_DICTIONARY and
 * RLE_DICTIONARY (NULL: those are URSA_EFORMAT); every index is checked
 * against dict->count. *used (may be NULL) gets the bytes consumed. On an
 * error out keeps the values it held before the call. */
int pq_decode_values(pq_values_t *out, int encoding, const pq_values_t *dict, const uint8_t *p, size_t len,
                     size_t n, size_t *used, ursa_err_t *err) URSA_MUST_CHECK;

/* A dictionary page: n PLAIN values appended to dict (as
 * pq_decode_values with PQV_E_PLAIN; PLAIN_DICTIONARY is accepted too). */
int pq_decode_dictionary(pq_values_t *dict, int encoding, const uint8_t *p, size_t len, size_t n,
                         ursa_err_t *err) URSA_MUST_CHECK;

/* Dictionary indices (PLAIN_DICTIONARY / RLE_DICTIONARY): one byte of bit
 * width (0..32), then the hybrid, n indices into idx, each < dict_count. */
int pq_decode_dict_indices(const uint8_t *p, size_t len, size_t n, size_t dict_count, uint32_t *idx,
                           size_t *used, ursa_err_t *err) URSA_MUST_CHECK;

/* Appends n rows to column c: for row i, when def is NULL or def[i] ==
 * max_def, the next value of v from *next (then *next is advanced),
 * otherwise a null. v must suit c: fixed-width values of c->width bytes
 * (BOOL columns: one byte per value), byte arrays for string, binary and
 * json columns (else URSA_EINVAL). URSA_EFORMAT when v runs out of values.
 * On an error c is rolled back to its length before the call. */
int pq_column_append(ursa_column_t *c, const uint32_t *def, uint32_t max_def, size_t n, const pq_values_t *v,
                     size_t *next, ursa_err_t *err) URSA_MUST_CHECK;

/* Counts the levels in def[0..n) equal to max_def (the values a page holds). */
size_t pq_levels_count(const uint32_t *def, size_t n, uint32_t max_def);

/* INT96 (nanoseconds of the day, a little-endian u64, then the Julian day,
 * a u32) to microseconds since the Unix epoch. URSA_EFORMAT when the
 * nanoseconds exceed a day or the result does not fit an int64. */
int pq_int96_to_us(const uint8_t b[12], int64_t *us) URSA_MUST_CHECK;

#endif
