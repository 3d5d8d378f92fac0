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

/* ---------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------- */

#include <stdarg.h>
#include <stdio.h>

void thrift_dec_init(thrift_dec_t *d, const void *p, size_t n, ursa_err_t *err)
{
    d->base = d->p = p;
    d->end = n ? d->p + n : d->p; /* NULL + 0 is undefined in C */
    d->depth = 0;
    d->err = err;
}

size_t thrift_dec_offset(const thrift_dec_t *d)
{
    return (size_t)(d->p - d->base);
}

size_t thrift_dec_left(const thrift_dec_t *d)
{
    return (size_t)(d->end - d->p);
}

int thrift_dec_fail(thrift_dec_t *d, const char *fmt, ...)
{
    if (d->err) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ursa_err_set(d->err, URSA_EFORMAT, "%s at byte %zu", msg, thrift_dec_offset(d));
    }
    return URSA_EFORMAT;
}

int thrift_dec_varint(thrift_dec_t *d, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (d->p >= d->end) return thrift_dec_fail(d, "thrift: varint cut short");
        uint8_t b = *d->p++;
        if (i == 9 && b > 1) return thrift_dec_fail(d, "thrift: varint overflows 64 bits");
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return URSA_OK;
        }
    }
    return thrift_dec_fail(d, "thrift: varint longer than 10 bytes");
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int thrift_dec_i64(thrift_dec_t *d, int64_t *v)
{
    uint64_t u;
    int rc = thrift_dec_varint(d, &u);
    if (rc) return rc;
    *v = unzigzag(u);
    return URSA_OK;
}

int thrift_dec_i32(thrift_dec_t *d, int32_t *v)
{
    int64_t x;
    int rc = thrift_dec_i64(d, &x);
    if (rc) return rc;
    if (x < INT32_MIN || x > INT32_MAX) return thrift_dec_fail(d, "thrift: i32 out of range");
    *v = (int32_t)x;
    return URSA_OK;
}

int thrift_dec_i16(thrift_dec_t *d, int16_t *v)
{
    int64_t x;
    int rc = thrift_dec_i64(d, &x);
    if (rc) return rc;
    if (x < INT16_MIN || x > INT16_MAX) return thrift_dec_fail(d, "thrift: i16 out of range");
    *v = (int16_t)x;
    return URSA_OK;
}

int thrift_dec_i8(thrift_dec_t *d, int8_t *v)
{
    if (d->p >= d->end) return thrift_dec_fail(d, "thrift: i8 cut short");
    *v = (int8_t)*d->p++;
    return URSA_OK;
}

int thrift_dec_int(thrift_dec_t *d, int type, int64_t *v)
{
    int rc;
    switch (type) {
    case THRIFT_I8: {
        int8_t x = 0; /* *v is set even on failure */
        rc = thrift_dec_i8(d, &x);
        *v = x;
        return rc;
    }
    case THRIFT_I16: {
        int16_t x = 0; /* *v is set even on failure */
        rc = thrift_dec_i16(d, &x);
        *v = x;
        return rc;
    }
    case THRIFT_I32: {
        int32_t x = 0; /* *v is set even on failure */
        rc = thrift_dec_i32(d, &x);
        *v = x;
        return rc;
    }
    case THRIFT_I64:
        return thrift_dec_i64(d, v);
    default:
        return thrift_dec_fail(d, "thrift: wire type %d where an integer was expected", type);
    }
}

int thrift_dec_double(thrift_dec_t *d, double *v)
{
    if (thrift_dec_left(d) < 8) return thrift_dec_fail(d, "thrift: double cut short");
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u |= (uint64_t)d->p[i] << (8 * i); /* little-endian */
    d->p += 8;
    memcpy(v, &u, sizeof(*v));
    return URSA_OK;
}

int thrift_dec_bool_elem(thrift_dec_t *d, bool *v)
{
    if (d->p >= d->end) return thrift_dec_fail(d, "thrift: bool cut short");
    *v = *d->p++ == 1;
    return URSA_OK;
}

int thrift_dec_binary(thrift_dec_t *d, const uint8_t **p, size_t *n)
{
    uint64_t len;
    int rc = thrift_dec_varint(d, &len);
    if (rc) return rc;
    if (len > thrift_dec_left(d))
        return thrift_dec_fail(d, "thrift: binary of %llu bytes with %zu left", (unsigned long long)len,
                               thrift_dec_left(d));
    *p = d->p;
    *n = (size_t)len;
    d->p += len;
    return URSA_OK;
}

static int enter(thrift_dec_t *d)
{
    if (d->depth >= THRIFT_DEC_MAX_DEPTH)
        return thrift_dec_fail(d, "thrift: nested deeper than %d", THRIFT_DEC_MAX_DEPTH);
    d->depth++;
    return URSA_OK;
}

int thrift_dec_struct_begin(thrift_dec_t *d)
{
    return enter(d);
}

int thrift_dec_field(thrift_dec_t *d, int16_t *id, int *type)
{
    if (d->p >= d->end) return thrift_dec_fail(d, "thrift: struct cut short");
    uint8_t h = *d->p++;
    int t = h & 0x0F;
    if (t == THRIFT_STOP) {
        if (h != 0) return thrift_dec_fail(d, "thrift: bad stop byte 0x%02x", h);
        if (d->depth > 0) d->depth--;
        *type = THRIFT_STOP;
        return URSA_OK;
    }
    if (t > THRIFT_STRUCT) return thrift_dec_fail(d, "thrift: bad field type %d", t);
    if (h >> 4) {
        int next = *id + (h >> 4);
        if (next > INT16_MAX) return thrift_dec_fail(d, "thrift: field id overflows i16");
        *id = (int16_t)next;
    } else {
        int rc = thrift_dec_i16(d, id);
        if (rc) return rc;
    }
    *type = t;
    return URSA_OK;
}

int thrift_dec_list_begin(thrift_dec_t *d, int *elem_type, size_t *n)
{
    if (d->p >= d->end) return thrift_dec_fail(d, "thrift: list header cut short");
    uint8_t h = *d->p++;
    uint64_t count = h >> 4;
    int t = h & 0x0F;
    if (count == 15) {
        int rc = thrift_dec_varint(d, &count);
        if (rc) return rc;
    }
    if (t == THRIFT_STOP || t > THRIFT_STRUCT)
        return thrift_dec_fail(d, "thrift: bad list element type %d", t);
    if (t == THRIFT_FALSE) t = THRIFT_TRUE; /* either nibble means bool */
    /* Every element takes at least one byte: a larger count is a lie. */
    if (count > thrift_dec_left(d))
        return thrift_dec_fail(d, "thrift: list of %llu elements with %zu bytes left",
                               (unsigned long long)count, thrift_dec_left(d));
    int rc = enter(d);
    if (rc) return rc;
    *elem_type = t;
    *n = (size_t)count;
    return URSA_OK;
}

int thrift_dec_map_begin(thrift_dec_t *d, int *key_type, int *value_type, size_t *n)
{
    uint64_t count;
    int rc = thrift_dec_varint(d, &count);
    if (rc) return rc;
    int kt = 0, vt = 0;
    if (count) {
        if (d->p >= d->end) return thrift_dec_fail(d, "thrift: map header cut short");
        uint8_t h = *d->p++;
        kt = h >> 4, vt = h & 0x0F;
        if (kt == THRIFT_STOP || kt > THRIFT_STRUCT || vt == THRIFT_STOP || vt > THRIFT_STRUCT)
            return thrift_dec_fail(d, "thrift: bad map types 0x%02x", h);
        if (kt == THRIFT_FALSE) kt = THRIFT_TRUE;
        if (vt == THRIFT_FALSE) vt = THRIFT_TRUE;
        /* Every entry takes at least two bytes. */
        if (count > thrift_dec_left(d) / 2)
            return thrift_dec_fail(d, "thrift: map of %llu entries with %zu bytes left",
                                   (unsigned long long)count, thrift_dec_left(d));
    }
    rc = enter(d);
    if (rc) return rc;
    *key_type = kt, *value_type = vt;
    *n = (size_t)count;
    return URSA_OK;
}

void thrift_dec_list_end(thrift_dec_t *d)
{
    if (d->depth > 0) d->depth--;
}

int thrift_dec_skip(thrift_dec_t *d, int type, bool in_collection)
{
    int rc;
    uint64_t u;
    switch (type) {
    case THRIFT_TRUE:
    case THRIFT_FALSE:
        if (!in_collection) return URSA_OK; /* the value was the field header's type */
        if (d->p >= d->end) return thrift_dec_fail(d, "thrift: bool cut short");
        d->p++;
        return URSA_OK;
    case THRIFT_I8:
        if (d->p >= d->end) return thrift_dec_fail(d, "thrift: i8 cut short");
        d->p++;
        return URSA_OK;
    case THRIFT_I16:
    case THRIFT_I32:
    case THRIFT_I64:
        return thrift_dec_varint(d, &u);
    case THRIFT_DOUBLE:
        if (thrift_dec_left(d) < 8) return thrift_dec_fail(d, "thrift: double cut short");
        d->p += 8;
        return URSA_OK;
    case THRIFT_BINARY: {
        const uint8_t *p;
        size_t n;
        return thrift_dec_binary(d, &p, &n);
    }
    case THRIFT_LIST:
    case THRIFT_SET: {
        int et;
        size_t n;
        if ((rc = thrift_dec_list_begin(d, &et, &n))) return rc;
        for (size_t i = 0; i < n; i++)
            if ((rc = thrift_dec_skip(d, et, true))) return rc;
        thrift_dec_list_end(d);
        return URSA_OK;
    }
    case THRIFT_MAP: {
        int kt, vt;
        size_t n;
        if ((rc = thrift_dec_map_begin(d, &kt, &vt, &n))) return rc;
        for (size_t i = 0; i < n; i++) {
            if ((rc = thrift_dec_skip(d, kt, true))) return rc;
            if ((rc = thrift_dec_skip(d, vt, true))) return rc;
        }
        thrift_dec_list_end(d);
        return URSA_OK;
    }
    case THRIFT_STRUCT: {
        int16_t id = 0;
        int t;
        if ((rc = thrift_dec_struct_begin(d))) return rc;
        for (;;) {
            if ((rc = thrift_dec_field(d, &id, &t))) return rc;
            if (t == THRIFT_STOP) return URSA_OK;
            if ((rc = thrift_dec_skip(d, t, false))) return rc;
        }
    }
    default:
        return thrift_dec_fail(d, "thrift: bad wire type %d", type);
    }
}
