/*
 * pq_read.c -- a Parquet footer's row count, with a Thrift compact skipper.
 *
 * The footer is a Thrift compact struct (FileMetaData) whose field 3 is
 * num_rows. Fields before it (the schema list) are skipped without being
 * understood. Every read is bounds-checked and nesting is limited, so a
 * damaged or hostile file gives URSA_EFORMAT, never a crash.
 */
#include "pq_read.h"

#include <string.h>

#define MAX_DEPTH 32

typedef struct rd {
    const uint8_t *p, *end;
} rd_t;

static int varint(rd_t *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return URSA_EFORMAT;
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return URSA_OK;
    }
    return URSA_EFORMAT;
}

static int skip_bytes(rd_t *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) return URSA_EFORMAT;
    r->p += n;
    return URSA_OK;
}

static int skip_struct(rd_t *r, int depth);

/* Skips one value of compact type t. */
static int skip_value(rd_t *r, unsigned t, int depth)
{
    uint64_t v;
    if (depth > MAX_DEPTH) return URSA_EFORMAT;
    switch (t) {
    case 1: /* bool true/false inside a field header: no bytes */
    case 2:
        return URSA_OK;
    case 3: /* i8 */
        return skip_bytes(r, 1);
    case 4: /* i16, i32, i64: zigzag varints */
    case 5:
    case 6:
        return varint(r, &v);
    case 7: /* double */
        return skip_bytes(r, 8);
    case 8: /* binary */
        if (varint(r, &v)) return URSA_EFORMAT;
        return skip_bytes(r, v);
    case 9: /* list, set */
    case 10: {
        if (r->p >= r->end) return URSA_EFORMAT;
        uint8_t h = *r->p++;
        uint64_t n = h >> 4;
        unsigned et = h & 0x0F;
        if (n == 15 && varint(r, &n)) return URSA_EFORMAT;
        if (n > (uint64_t)(r->end - r->p)) return URSA_EFORMAT; /* every element takes a byte at least */
        for (uint64_t i = 0; i < n; i++) {
            int rc = et == 1 || et == 2 ? skip_bytes(r, 1) : skip_value(r, et, depth + 1);
            if (rc) return rc;
        }
        return URSA_OK;
    }
    case 11: { /* map */
        uint64_t n;
        if (varint(r, &n)) return URSA_EFORMAT;
        if (n == 0) return URSA_OK;
        if (r->p >= r->end || n > (uint64_t)(r->end - r->p)) return URSA_EFORMAT;
        uint8_t kv = *r->p++;
        for (uint64_t i = 0; i < n; i++) {
            unsigned kt = kv >> 4, vt = kv & 0x0F;
            int rc = kt == 1 || kt == 2 ? skip_bytes(r, 1) : skip_value(r, kt, depth + 1);
            if (rc == URSA_OK) rc = vt == 1 || vt == 2 ? skip_bytes(r, 1) : skip_value(r, vt, depth + 1);
            if (rc) return rc;
        }
        return URSA_OK;
    }
    case 12:
        return skip_struct(r, depth + 1);
    default:
        return URSA_EFORMAT;
    }
}

/* Reads a field header: *t 0 at the end of the struct. */
static int field_header(rd_t *r, int16_t *id, unsigned *t)
{
    if (r->p >= r->end) return URSA_EFORMAT;
    uint8_t h = *r->p++;
    *t = h & 0x0F;
    if (*t == 0) return URSA_OK;
    if (h >> 4) {
        *id = (int16_t)(*id + (h >> 4));
    } else {
        uint64_t z;
        if (varint(r, &z)) return URSA_EFORMAT;
        *id = (int16_t)((z >> 1) ^ (~(z & 1) + 1));
    }
    return URSA_OK;
}

static int skip_struct(rd_t *r, int depth)
{
    int16_t id = 0;
    if (depth > MAX_DEPTH) return URSA_EFORMAT;
    for (;;) {
        unsigned t;
        if (field_header(r, &id, &t)) return URSA_EFORMAT;
        if (t == 0) return URSA_OK;
        if (skip_value(r, t, depth)) return URSA_EFORMAT;
    }
}

int pq_read_footer_len(const uint8_t *tail, size_t n, uint32_t *footer_len)
{
    if (n < 8 || memcmp(tail + n - 4, "PAR1", 4) != 0) return URSA_EFORMAT;
    const uint8_t *l = tail + n - 8;
    *footer_len = (uint32_t)l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
    return URSA_OK;
}

int pq_read_num_rows(const uint8_t *p, size_t n, int64_t *rows)
{
    rd_t r = {p, p + n};
    int16_t id = 0;
    for (;;) {
        unsigned t;
        if (field_header(&r, &id, &t) || t == 0) return URSA_EFORMAT;
        if (id == 3 && t == 6) {
            uint64_t z;
            if (varint(&r, &z)) return URSA_EFORMAT;
            *rows = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
            return *rows >= 0 ? URSA_OK : URSA_EFORMAT;
        }
        if (skip_value(&r, t, 0)) return URSA_EFORMAT;
    }
}
