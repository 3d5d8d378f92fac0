/*
 * thrift.c -- the Thrift compact-protocol encoder (see thrift.h).
 *
 * Every writer goes through put(), which reserves room and copies; the
 * first failure sticks in e->rc and turns the rest into no-ops, so the
 * output is either complete or reported as failed, never silently short.
 */
#include "thrift.h"

#include <string.h>

void thrift_enc_init(thrift_enc_t *e, ursa_buf_t *out)
{
    memset(e, 0, sizeof(*e));
    e->out = out;
}

int thrift_enc_status(const thrift_enc_t *e)
{
    if (e->rc) return e->rc;
    return e->depth == 0 ? URSA_OK : URSA_EINTERNAL;
}

static void fail(thrift_enc_t *e, int rc)
{
    if (e->rc == URSA_OK) e->rc = rc;
}

static void put(thrift_enc_t *e, const void *p, size_t n)
{
    if (e->rc) return;
    int rc = ursa_buf_append(e->out, p, n);
    if (rc) fail(e, rc);
}

static void put_byte(thrift_enc_t *e, uint8_t b)
{
    if (e->rc) return;
    int rc = ursa_buf_push(e->out, b);
    if (rc) fail(e, rc);
}

/* ---------------------------------------------------------------------------
 * Raw values
 * ------------------------------------------------------------------------- */

void thrift_write_varint(thrift_enc_t *e, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    put(e, tmp, n);
}

void thrift_write_zigzag(thrift_enc_t *e, int64_t v)
{
    /* Shift as unsigned: a left shift of a negative value is undefined. */
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    thrift_write_varint(e, u);
}

void thrift_write_binary(thrift_enc_t *e, const void *p, size_t n)
{
    if (n > INT32_MAX) {
        fail(e, URSA_ELIMIT); /* Thrift lengths are i32 */
        return;
    }
    thrift_write_varint(e, n);
    put(e, p, n);
}

/* ---------------------------------------------------------------------------
 * Field headers and structs
 * ------------------------------------------------------------------------- */

static void field_header(thrift_enc_t *e, int16_t id, int type)
{
    if (e->rc) return;
    if (e->depth == 0) {
        fail(e, URSA_EINTERNAL); /* a field outside any struct */
        return;
    }
    int16_t *last = &e->last_id[e->depth - 1];
    int delta = (int)id - (int)*last;
    if (delta > 0 && delta <= 15) {
        put_byte(e, (uint8_t)((delta << 4) | type));
    } else {
        put_byte(e, (uint8_t)type);
        thrift_write_zigzag(e, id);
    }
    *last = id;
}

static void push(thrift_enc_t *e)
{
    if (e->rc) return;
    if (e->depth == THRIFT_MAX_DEPTH) {
        fail(e, URSA_EINTERNAL);
        return;
    }
    e->last_id[e->depth++] = 0;
}

void thrift_struct_begin(thrift_enc_t *e)
{
    push(e);
}

void thrift_field_struct_begin(thrift_enc_t *e, int16_t id)
{
    field_header(e, id, THRIFT_STRUCT);
    push(e);
}

void thrift_struct_end(thrift_enc_t *e)
{
    if (e->rc) return;
    if (e->depth == 0) {
        fail(e, URSA_EINTERNAL);
        return;
    }
    put_byte(e, THRIFT_STOP);
    e->depth--;
}

void thrift_field_bool(thrift_enc_t *e, int16_t id, bool v)
{
    field_header(e, id, v ? THRIFT_TRUE : THRIFT_FALSE);
}

void thrift_field_i8(thrift_enc_t *e, int16_t id, int8_t v)
{
    field_header(e, id, THRIFT_I8);
    put_byte(e, (uint8_t)v);
}

void thrift_field_i16(thrift_enc_t *e, int16_t id, int16_t v)
{
    field_header(e, id, THRIFT_I16);
    thrift_write_zigzag(e, v);
}

void thrift_field_i32(thrift_enc_t *e, int16_t id, int32_t v)
{
    field_header(e, id, THRIFT_I32);
    thrift_write_zigzag(e, v);
}

void thrift_field_i64(thrift_enc_t *e, int16_t id, int64_t v)
{
    field_header(e, id, THRIFT_I64);
    thrift_write_zigzag(e, v);
}

void thrift_field_binary(thrift_enc_t *e, int16_t id, const void *p, size_t n)
{
    field_header(e, id, THRIFT_BINARY);
    thrift_write_binary(e, p, n);
}

void thrift_field_string(thrift_enc_t *e, int16_t id, const char *s)
{
    thrift_field_binary(e, id, s, strlen(s));
}

void thrift_field_list_begin(thrift_enc_t *e, int16_t id, int elem_type, size_t n)
{
    field_header(e, id, THRIFT_LIST);
    if (n > INT32_MAX) {
        fail(e, URSA_ELIMIT);
        return;
    }
    if (n < 15) {
        put_byte(e, (uint8_t)((n << 4) | (size_t)elem_type));
    } else {
        put_byte(e, (uint8_t)(0xf0 | elem_type));
        thrift_write_varint(e, n);
    }
}

/* ---------------------------------------------------------------------------
 * List elements
 * ------------------------------------------------------------------------- */

void thrift_elem_i32(thrift_enc_t *e, int32_t v)
{
    thrift_write_zigzag(e, v);
}

void thrift_elem_bool(thrift_enc_t *e, bool v)
{
    thrift_write_varint(e, v ? THRIFT_TRUE : THRIFT_FALSE);
}

void thrift_elem_i64(thrift_enc_t *e, int64_t v)
{
    thrift_write_zigzag(e, v);
}

void thrift_elem_binary(thrift_enc_t *e, const void *p, size_t n)
{
    thrift_write_binary(e, p, n);
}

void thrift_elem_string(thrift_enc_t *e, const char *s)
{
    thrift_write_binary(e, s, strlen(s));
}
