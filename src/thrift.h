/*
 * thrift.h -- an encoder for the Thrift compact protocol, enough to write
 * Parquet's page headers and file footer.
 *
 * The encoder appends to a caller-owned ursa_buf_t. Its calls return
 * nothing: the first failure (out of memory, nesting too deep, a list
 * element count that does not fit) is kept in the encoder and every later
 * call does nothing, so a whole struct can be written without checking
 * each field. thrift_enc_status() returns that first failure, and the caller
 * must check it before using the bytes (it is warn_unused_result).
 *
 * Writing a struct: thrift_struct_begin() (top level or list element) or
 * thrift_field_struct_begin() (a field of the enclosing struct), then its
 * fields in any order (ascending ids give the shortest encoding), then
 * thrift_struct_end(), which writes the stop byte. A union is a struct with
 * exactly one field set. Lists: thrift_field_list_begin() with the element
 * type and count, then exactly that many thrift_elem_*() or struct elements;
 * lists need no end call.
 *
 * Wire format summary (the compact protocol):
 *   field header  (delta << 4) | type when 0 < delta <= 15, where delta is
 *                 the id minus the previous field id in the same struct;
 *                 otherwise the type byte followed by the id as a zigzag
 *                 varint.
 *   bool field    no value: the type nibble is 1 for true, 2 for false.
 *   i8            one byte.  i16, i32, i64: zigzag, then ULEB128 varint.
 *   binary        varint length, then the bytes.
 *   list          (count << 4) | elem_type when count < 15, otherwise
 *                 0xf0 | elem_type followed by the count as a varint.
 *   struct        its fields, then a stop byte 0x00.
 *
 * The decoder (thrift_dec_*) reads the same format from untrusted bytes.
 * Every length and count is checked against the bytes left before it is
 * used (a list element or map entry takes at least one byte, so a count
 * larger than the bytes left is refused before anything is allocated);
 * varints take at most 10 bytes and integers are range-checked for their
 * type; structs, lists and maps nest at most THRIFT_DEC_MAX_DEPTH deep, so
 * hostile nesting is an error, never a stack overflow. Every failure is
 * URSA_EFORMAT with a message naming what was read and the byte offset.
 * Binary values are returned as pointers into the input (zero copy).
 */
#ifndef URSA_THRIFT_H
#define URSA_THRIFT_H

#include "common.h"

/* Compact protocol type ids (as they appear in field headers and lists). */
enum {
    THRIFT_STOP = 0,
    THRIFT_TRUE = 1, /* a bool field's header type; also the bool list element type */
    THRIFT_FALSE = 2,
    THRIFT_I8 = 3,
    THRIFT_I16 = 4,
    THRIFT_I32 = 5,
    THRIFT_I64 = 6,
    THRIFT_DOUBLE = 7,
    THRIFT_BINARY = 8,
    THRIFT_LIST = 9,
    THRIFT_SET = 10,
    THRIFT_MAP = 11,
    THRIFT_STRUCT = 12
};

#define THRIFT_MAX_DEPTH 32

typedef struct thrift_enc {
    ursa_buf_t *out; /* not owned */
    int rc;          /* first failure, URSA_OK while none */
    int depth;       /* open structs */
    int16_t last_id[THRIFT_MAX_DEPTH];
} thrift_enc_t;

/* Starts encoding; bytes are appended to out (which the caller owns). */
void thrift_enc_init(thrift_enc_t *e, ursa_buf_t *out);

/* Returns URSA_OK when every call so far succeeded and all structs are
 * closed, else the first failure (URSA_ENOMEM, or URSA_EINTERNAL for
 * misuse such as unbalanced structs). */
int thrift_enc_status(const thrift_enc_t *e) URSA_MUST_CHECK;

/* Raw values (no field header): used for list elements and by tests. */
void thrift_write_varint(thrift_enc_t *e, uint64_t v);
void thrift_write_zigzag(thrift_enc_t *e, int64_t v);
void thrift_write_binary(thrift_enc_t *e, const void *p, size_t n);

/* Fields of the current struct. */
void thrift_field_bool(thrift_enc_t *e, int16_t id, bool v);
void thrift_field_i8(thrift_enc_t *e, int16_t id, int8_t v);
void thrift_field_i16(thrift_enc_t *e, int16_t id, int16_t v);
void thrift_field_i32(thrift_enc_t *e, int16_t id, int32_t v);
void thrift_field_i64(thrift_enc_t *e, int16_t id, int64_t v);
void thrift_field_binary(thrift_enc_t *e, int16_t id, const void *p, size_t n);
/* A NUL-terminated string. */
void thrift_field_string(thrift_enc_t *e, int16_t id, const char *s);
/* Opens a struct-valued field; close it with thrift_struct_end(). */
void thrift_field_struct_begin(thrift_enc_t *e, int16_t id);
/* Opens a list-valued field of n elements of elem_type (THRIFT_I32 ...). */
void thrift_field_list_begin(thrift_enc_t *e, int16_t id, int elem_type, size_t n);

/* Opens a struct that is not a field: the top-level struct or a list element. */
void thrift_struct_begin(thrift_enc_t *e);
/* Writes the stop byte and closes the innermost struct. */
void thrift_struct_end(thrift_enc_t *e);

/* List elements. */
/* A bool element is one byte: 1 for true, 2 for false (list element type THRIFT_TRUE). */
void thrift_elem_bool(thrift_enc_t *e, bool v);
void thrift_elem_i32(thrift_enc_t *e, int32_t v);
void thrift_elem_i64(thrift_enc_t *e, int64_t v);
void thrift_elem_binary(thrift_enc_t *e, const void *p, size_t n);
void thrift_elem_string(thrift_enc_t *e, const char *s);

/* ---------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------- */

#define THRIFT_DEC_MAX_DEPTH 64

typedef struct thrift_dec {
    const uint8_t *base, *p, *end; /* the input (not owned), the read position */
    int depth;                     /* open structs, lists and maps */
    ursa_err_t *err;               /* may be NULL */
} thrift_dec_t;

/* Starts decoding p[0..n). err (may be NULL) receives the first failure's message. */
void thrift_dec_init(thrift_dec_t *d, const void *p, size_t n, ursa_err_t *err);
/* The read position as a byte offset from the start, and the bytes left. */
size_t thrift_dec_offset(const thrift_dec_t *d);
size_t thrift_dec_left(const thrift_dec_t *d);
/* Sets the error "<message> at byte <offset>" and returns URSA_EFORMAT. */
int thrift_dec_fail(thrift_dec_t *d, const char *fmt, ...) URSA_PRINTF(2, 3);

/* Raw values (list elements, or a field's value after its header). */
int thrift_dec_varint(thrift_dec_t *d, uint64_t *v) URSA_MUST_CHECK;
int thrift_dec_i8(thrift_dec_t *d, int8_t *v) URSA_MUST_CHECK;
int thrift_dec_i16(thrift_dec_t *d, int16_t *v) URSA_MUST_CHECK;
int thrift_dec_i32(thrift_dec_t *d, int32_t *v) URSA_MUST_CHECK;
int thrift_dec_i64(thrift_dec_t *d, int64_t *v) URSA_MUST_CHECK;
int thrift_dec_double(thrift_dec_t *d, double *v) URSA_MUST_CHECK;
/* A bool list element: one byte, 1 is true (anything else false). */
int thrift_dec_bool_elem(thrift_dec_t *d, bool *v) URSA_MUST_CHECK;
/* Binary or string: *p points into the input, *n <= the bytes that were left. */
int thrift_dec_binary(thrift_dec_t *d, const uint8_t **p, size_t *n) URSA_MUST_CHECK;
/* An integer of wire type `type` (THRIFT_I8 .. THRIFT_I64) into an int64_t. */
int thrift_dec_int(thrift_dec_t *d, int type, int64_t *v) URSA_MUST_CHECK;

/* Structs: thrift_dec_struct_begin(), then thrift_dec_field() until it
 * gives *type == THRIFT_STOP (which also closes the struct). *id carries the
 * previous field id of this struct between calls: start it at 0. A bool
 * field's value is its type: THRIFT_TRUE or THRIFT_FALSE (no bytes follow). */
int thrift_dec_struct_begin(thrift_dec_t *d) URSA_MUST_CHECK;
int thrift_dec_field(thrift_dec_t *d, int16_t *id, int *type) URSA_MUST_CHECK;

/* Lists and sets: the element type and count (checked against the bytes
 * left). Read exactly *n elements, then call thrift_dec_list_end(). */
int thrift_dec_list_begin(thrift_dec_t *d, int *elem_type, size_t *n) URSA_MUST_CHECK;
/* Maps: key and value types and the entry count (checked likewise). */
int thrift_dec_map_begin(thrift_dec_t *d, int *key_type, int *value_type, size_t *n) URSA_MUST_CHECK;
/* Closes a list, set or map. */
void thrift_dec_list_end(thrift_dec_t *d);

/* Skips one value of wire type `type` (a field's value, or a collection element when
 * in_collection: bools are then one byte). */
int thrift_dec_skip(thrift_dec_t *d, int type, bool in_collection) URSA_MUST_CHECK;

#endif
