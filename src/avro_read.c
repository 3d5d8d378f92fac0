/*
 * avro_read.c -- Avro object container files into JSON (see avro_read.h).
 *
 * Design. A file is "Obj\1", a metadata map (string keys, bytes values),
 * a 16-byte sync marker, then blocks: a count of records, a byte size, the
 * records (deflated as a whole with codec "deflate"), the sync marker
 * again. The records are decoded by the writer's schema (avro.schema),
 * walked as jansson values: no code generation, no reader schema, since the
 * caller looks fields up by name. Failure cases: every length and count is
 * checked against the bytes left (each item takes a byte at least, so a
 * count larger than the bytes left is refused before anything is made);
 * schemas and values nest AVRO_READ_DEPTH deep at most; a block must use
 * exactly its declared bytes and end with the file's sync marker; deflated
 * blocks inflate to AVRO_READ_MAX at most.
 */
#include "avro_read.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

typedef struct rd {
    const uint8_t *p, *end, *base;
    ursa_err_t *err;
    const json_t *names; /* named types of the schema: name -> schema */
} rd_t;

static int fail(rd_t *r, const char *what)
{
    return ursa_err_set(r->err, URSA_EFORMAT, "avro: %s at byte %zu", what, (size_t)(r->p - r->base));
}

static int get_long(rd_t *r, int64_t *v)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return fail(r, "a number past the end");
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7E)) return fail(r, "a number of more than 64 bits");
        u |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return URSA_OK;
        }
    }
    return fail(r, "a number of more than 10 bytes");
}

static int get_bytes(rd_t *r, const uint8_t **p, size_t *n)
{
    int64_t len;
    int rc = get_long(r, &len);
    if (rc) return rc;
    if (len < 0 || (uint64_t)len > (uint64_t)(r->end - r->p)) return fail(r, "a length past the end");
    *p = r->p, *n = (size_t)len;
    r->p += len;
    return URSA_OK;
}

static json_t *hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = ursa_malloc(2 * n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[2 * i] = digits[p[i] >> 4], s[2 * i + 1] = digits[p[i] & 15];
    json_t *j = json_stringn(s, 2 * n);
    ursa_free(s);
    return j;
}

/* The type name of a schema node (a string, or an object's "type"). */
static const char *type_of(const json_t *s)
{
    if (json_is_string(s)) return json_string_value(s);
    if (json_is_object(s)) return json_string_value(json_object_get(s, "type"));
    return NULL;
}

static int decode(rd_t *r, const json_t *s, int depth, json_t **out);

/* Blocks of an array or a map: items until a count of 0. */
static int decode_blocks(rd_t *r, const json_t *item, bool map, int depth, json_t **out)
{
    json_t *c = map ? json_object() : json_array();
    if (!c) return ursa_err_set(r->err, URSA_ENOMEM, "out of memory");
    for (;;) {
        int64_t count, size;
        int rc = get_long(r, &count);
        if (rc) goto bad;
        if (count == 0) break;
        if (count < 0) {
            if (count == INT64_MIN) {
                rc = fail(r, "a bad block count");
                goto bad;
            }
            count = -count;
            if ((rc = get_long(r, &size))) goto bad;
            if (size < 0 || (uint64_t)size > (uint64_t)(r->end - r->p)) {
                rc = fail(r, "a block size past the end");
                goto bad;
            }
        }
        /* An item of a null type takes no bytes, but only a hostile file
         * has more of them than it has bytes. */
        if ((uint64_t)count > (uint64_t)(r->end - r->p) + 1) {
            rc = fail(r, "more items than bytes");
            goto bad;
        }
        for (int64_t i = 0; i < count; i++) {
            const uint8_t *k = NULL;
            size_t kn = 0;
            json_t *v;
            if (map && (rc = get_bytes(r, &k, &kn))) goto bad;
            if ((rc = decode(r, item, depth + 1, &v))) goto bad;
            if (map) {
                char *key = ursa_strndup((const char *)k, kn);
                int bad = !key || json_object_set_new(c, key, v) != 0;
                ursa_free(key);
                if (bad) {
                    rc = fail(r, "a map key that is not UTF-8");
                    goto bad;
                }
            } else if (json_array_append_new(c, v)) {
                rc = ursa_err_set(r->err, URSA_ENOMEM, "out of memory");
                goto bad;
            }
        }
        continue;
    bad:
        json_decref(c);
        return rc;
    }
    *out = c;
    return URSA_OK;
}

static int decode(rd_t *r, const json_t *s, int depth, json_t **out)
{
    *out = NULL;
    if (depth > AVRO_READ_DEPTH) return fail(r, "values nested too deep");
    if (json_is_array(s)) { /* a union */
        int64_t i;
        int rc = get_long(r, &i);
        if (rc) return rc;
        if (i < 0 || (size_t)i >= json_array_size(s)) return fail(r, "a union branch out of range");
        return decode(r, json_array_get(s, (size_t)i), depth + 1, out);
    }
    if (json_is_object(s) &&
        !json_is_string(json_object_get(s, "type"))) /* {"type": {...}} or {"type": [...]} */
        return decode(r, json_object_get(s, "type"), depth + 1, out);
    const char *t = type_of(s);
    if (!t) return fail(r, "a schema node without a type");
    int rc;
    int64_t v;
    const uint8_t *p;
    size_t n;
    if (strcmp(t, "null") == 0) {
        *out = json_null();
    } else if (strcmp(t, "boolean") == 0) {
        if (r->p >= r->end || *r->p > 1) return fail(r, "a bad boolean");
        *out = json_boolean(*r->p++);
    } else if (strcmp(t, "int") == 0 || strcmp(t, "long") == 0) {
        if ((rc = get_long(r, &v))) return rc;
        if (t[0] == 'i' && (v < INT32_MIN || v > INT32_MAX)) return fail(r, "an int out of range");
        *out = json_integer(v);
    } else if (strcmp(t, "float") == 0 || strcmp(t, "double") == 0) {
        size_t w = t[0] == 'f' ? 4 : 8;
        if ((size_t)(r->end - r->p) < w) return fail(r, "a number past the end");
        double d;
        if (w == 4) {
            float f;
            memcpy(&f, r->p, 4);
            d = f;
        } else {
            memcpy(&d, r->p, 8);
        }
        r->p += w;
        *out = d == d ? json_real(d) : json_null(); /* JSON has no NaN */
    } else if (strcmp(t, "string") == 0) {
        if ((rc = get_bytes(r, &p, &n))) return rc;
        if (!(*out = json_stringn((const char *)p, n))) return fail(r, "a string that is not UTF-8");
    } else if (strcmp(t, "bytes") == 0) {
        if ((rc = get_bytes(r, &p, &n))) return rc;
        *out = hex(p, n);
    } else if (strcmp(t, "fixed") == 0) {
        json_int_t size = json_integer_value(json_object_get(s, "size"));
        if (size < 0 || (uint64_t)size > (uint64_t)(r->end - r->p)) return fail(r, "a fixed past the end");
        *out = hex(r->p, (size_t)size);
        r->p += size;
    } else if (strcmp(t, "enum") == 0) {
        if ((rc = get_long(r, &v))) return rc;
        const json_t *sym = json_array_get(json_object_get(s, "symbols"), v < 0 ? (size_t)-1 : (size_t)v);
        if (!json_is_string(sym)) return fail(r, "an enum index out of range");
        *out = json_incref((json_t *)sym);
    } else if (strcmp(t, "array") == 0 && json_is_object(s)) {
        return decode_blocks(r, json_object_get(s, "items"), false, depth, out);
    } else if (strcmp(t, "map") == 0 && json_is_object(s)) {
        return decode_blocks(r, json_object_get(s, "values"), true, depth, out);
    } else if (strcmp(t, "record") == 0 && json_is_object(s)) {
        const json_t *fields = json_object_get(s, "fields"), *f;
        size_t i;
        json_t *o = json_object();
        if (!o) return ursa_err_set(r->err, URSA_ENOMEM, "out of memory");
        json_array_foreach(fields, i, f)
        {
            const char *name = json_string_value(json_object_get(f, "name"));
            json_t *fv;
            if (!name) {
                json_decref(o);
                return fail(r, "a record field without a name");
            }
            if ((rc = decode(r, json_object_get(f, "type"), depth + 1, &fv)) ||
                json_object_set_new(o, name, fv)) {
                json_decref(o);
                return rc ? rc : ursa_err_set(r->err, URSA_ENOMEM, "out of memory");
            }
        }
        *out = o;
    } else if (json_is_object(s) && json_is_string(json_object_get(s, "type"))) {
        /* a primitive with attributes ({"type": "int", "logicalType": ...}) or a named reference */
        return decode(r, json_object_get(s, "type"), depth + 1, out);
    } else {
        const json_t *named = json_object_get(r->names, t);
        if (!named || named == s) return fail(r, "an unknown type in the schema");
        return decode(r, named, depth + 1, out);
    }
    if (!*out) return ursa_err_set(r->err, URSA_ENOMEM, "out of memory");
    return URSA_OK;
}

/* Registers the named types (record, enum, fixed) of schema s in names. */
static int collect_names(json_t *names, const json_t *s, int depth)
{
    if (depth > AVRO_READ_DEPTH) return URSA_EFORMAT;
    if (json_is_array(s)) {
        size_t i;
        const json_t *b;
        json_array_foreach(s, i, b) if (collect_names(names, b, depth + 1)) return URSA_EFORMAT;
        return URSA_OK;
    }
    if (!json_is_object(s)) return URSA_OK;
    const char *t = type_of(s), *name = json_string_value(json_object_get(s, "name"));
    if (t && name && (strcmp(t, "record") == 0 || strcmp(t, "enum") == 0 || strcmp(t, "fixed") == 0)) {
        if (json_object_set(names, name, (json_t *)s)) return URSA_ENOMEM;
        const char *ns = json_string_value(json_object_get(s, "namespace"));
        if (ns) {
            char full[512];
            snprintf(full, sizeof(full), "%s.%s", ns, name);
            if (json_object_set(names, full, (json_t *)s)) return URSA_ENOMEM;
        }
    }
    if (t && strcmp(t, "record") == 0) {
        const json_t *fields = json_object_get(s, "fields"), *f;
        size_t i;
        json_array_foreach(fields, i, f) if (collect_names(names, json_object_get(f, "type"),
                                                           depth + 1)) return URSA_EFORMAT;
    } else if (t && strcmp(t, "array") == 0) {
        return collect_names(names, json_object_get(s, "items"), depth + 1);
    } else if (t && strcmp(t, "map") == 0) {
        return collect_names(names, json_object_get(s, "values"), depth + 1);
    } else if (json_is_object(json_object_get(s, "type")) || json_is_array(json_object_get(s, "type"))) {
        return collect_names(names, json_object_get(s, "type"), depth + 1);
    }
    return URSA_OK;
}

/* Raw deflate (RFC 1951) of p[0..n) into out, at most AVRO_READ_MAX. */
static int inflate_raw(const uint8_t *p, size_t n, ursa_buf_t *out, ursa_err_t *err)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, -15) != Z_OK) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    out->len = 0;
    int rc = URSA_OK, zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (out->len >= AVRO_READ_MAX) {
            rc = ursa_err_set(err, URSA_EFORMAT, "avro: a deflated block of more than %zu bytes",
                              AVRO_READ_MAX);
            break;
        }
        if (ursa_buf_reserve(out, 64 << 10)) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            break;
        }
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len);
        zr = inflate(&z, Z_NO_FLUSH);
        out->len = out->cap - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END) {
            rc = ursa_err_set(err, URSA_EFORMAT, "avro: a deflated block does not inflate");
            break;
        }
        if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            rc = ursa_err_set(err, URSA_EFORMAT, "avro: a deflated block ends early");
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

int avro_read_file(const void *data, size_t size, json_t **meta, json_t **records, ursa_err_t *err)
{
    const uint8_t *p = data;
    rd_t r = {p, p + size, p, err, NULL};
    json_t *m = NULL, *recs = json_array(), *schema = NULL, *names = json_object();
    ursa_buf_t inflated = {0};
    uint8_t sync[16];
    int rc;
    *meta = *records = NULL;
    if (!recs || !names) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    if (size > AVRO_READ_MAX) {
        rc = ursa_err_set(err, URSA_EFORMAT, "avro: a file of %zu bytes, more than %zu", size, AVRO_READ_MAX);
        goto out;
    }
    if (size < 4 || memcmp(p, "Obj\1", 4) != 0) {
        rc = ursa_err_set(err, URSA_EFORMAT, "avro: not an object container file (no \"Obj\\1\")");
        goto out;
    }
    r.p += 4;
    /* The metadata map: bytes values, decoded as strings (the same
     * encoding), since every key Ursa reads holds text. */
    json_t *text = json_string("string");
    rc = text ? decode_blocks(&r, text, true, 0, &m) : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    json_decref(text);
    if (rc) goto out;
    if ((size_t)(r.end - r.p) < 16) {
        rc = fail(&r, "no sync marker");
        goto out;
    }
    memcpy(sync, r.p, 16);
    r.p += 16;
    const char *stext = json_string_value(json_object_get(m, "avro.schema"));
    const char *codec = json_string_value(json_object_get(m, "avro.codec"));
    bool deflate = codec && strcmp(codec, "deflate") == 0;
    if (codec && !deflate && strcmp(codec, "null") != 0) {
        rc = ursa_err_set(err, URSA_ENOTSUP, "avro: codec %s is not supported", codec);
        goto out;
    }
    json_error_t je;
    if (!stext || !(schema = json_loads(stext, JSON_DECODE_ANY, &je))) {
        rc = ursa_err_set(err, URSA_EFORMAT, "avro: no schema, or not JSON");
        goto out;
    }
    if ((rc = collect_names(names, schema, 0))) {
        rc = ursa_err_set(err, rc, "avro: a schema nested too deep");
        goto out;
    }
    r.names = names;
    /* The blocks. */
    while (r.p < r.end) {
        int64_t count, bsize;
        if ((rc = get_long(&r, &count)) || (rc = get_long(&r, &bsize))) goto out;
        if (count < 0 || bsize < 0 || (uint64_t)bsize > (uint64_t)(r.end - r.p)) {
            rc = fail(&r, "a bad block header");
            goto out;
        }
        const uint8_t *bp = r.p;
        rd_t b = {bp, bp + bsize, bp, err, names};
        if (deflate) {
            if ((rc = inflate_raw(bp, (size_t)bsize, &inflated, err))) goto out;
            b = (rd_t){inflated.data, inflated.data + inflated.len, inflated.data, err, names};
        }
        if ((uint64_t)count > (uint64_t)(b.end - b.p) + 1) {
            rc = fail(&r, "more records than bytes in a block");
            goto out;
        }
        for (int64_t i = 0; i < count; i++) {
            json_t *v;
            if ((rc = decode(&b, schema, 0, &v))) goto out;
            if (json_array_append_new(recs, v)) {
                rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                goto out;
            }
        }
        if (b.p != b.end) {
            rc = fail(&r, "a block with bytes its records do not use");
            goto out;
        }
        r.p += bsize;
        if ((size_t)(r.end - r.p) < 16 || memcmp(r.p, sync, 16) != 0) {
            rc = fail(&r, "a block not followed by the sync marker");
            goto out;
        }
        r.p += 16;
    }
    *meta = m, *records = recs;
    m = recs = NULL;
    rc = URSA_OK;
out:
    json_decref(m), json_decref(recs), json_decref(schema), json_decref(names);
    ursa_buf_free(&inflated);
    return rc;
}
