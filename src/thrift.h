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

#endif
