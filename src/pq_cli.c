/*
 * pq_cli.c -- `ursa cat FILE [--columns a,b] [--limit N] [--format
 * ndjson|csv]` and `ursa inspect FILE [--json]`.
 *
 * FILE is s3://bucket/key (the S3 store of the bucket, settings from the
 * environment as for `serve`) or a local path, opened as the local
 * directory store of its folder. Rows are read one row group at a time
 * (only the projected columns), rendered by ursa_value_json (the JSON
 * conventions of ingest, so the output can be posted back to /records),
 * and written to stdout.
 */
#include "pq_cli.h"

#include "coerce.h"
#include "pq_read.h"
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------ */
/* Values as JSON */

static int b64(ursa_buf_t *out, const uint8_t *p, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (ursa_buf_reserve(out, (n + 2) / 3 * 4 + 2)) return URSA_ENOMEM;
    char *o = (char *)out->data + out->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = A[v >> 18], *o++ = A[(v >> 12) & 63], *o++ = A[(v >> 6) & 63], *o++ = A[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = A[v >> 18], *o++ = A[(v >> 12) & 63], *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = A[v >> 18], *o++ = A[(v >> 12) & 63], *o++ = A[(v >> 6) & 63], *o++ = '=';
    }
    *o++ = '"';
    out->len = (size_t)(o - (char *)out->data);
    return URSA_OK;
}

/* The unscaled decimal (int128, little-endian words) with scale s, exactly. */
static int decimal_text(ursa_buf_t *out, __int128 v, unsigned scale)
{
    char digits[64];
    int nd = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
    do {
        digits[nd++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (nd <= (int)scale) digits[nd++] = '0';
    char s[80];
    int k = 0;
    s[k++] = '"';
    if (neg) s[k++] = '-';
    for (int i = nd - 1; i >= 0; i--) {
        s[k++] = digits[i];
        if (i == (int)scale && scale > 0) s[k++] = '.';
    }
    s[k++] = '"';
    return ursa_buf_append(out, s, (size_t)k);
}

/* d in few digits that read back the same: a binary search over the
 * precision (%.17g, %.9g for floats, always reads back), so a value costs
 * about 4 formattings instead of up to 17. */
static int float_text(ursa_buf_t *out, double d, bool f32)
{
    if (isnan(d)) return ursa_buf_append(out, "\"NaN\"", 5);
    if (isinf(d))
        return d > 0 ? ursa_buf_append(out, "\"Infinity\"", 10) : ursa_buf_append(out, "\"-Infinity\"", 11);
    if (d == 0) return signbit(d) ? ursa_buf_append(out, "-0", 2) : ursa_buf_append(out, "0", 1);
    char b[400]; /* what the compiler assumes %.*g may need */
    if (d > -1e15 && d < 1e15 && d == (double)(long long)d) {
        int k = snprintf(b, sizeof(b), "%lld", (long long)d);
        return ursa_buf_append(out, b, (size_t)k);
    }
    int lo = 1, hi = f32 ? 9 : 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(b, sizeof(b), "%.*g", mid, d);
        if (f32 ? strtof(b, NULL) == (float)d : strtod(b, NULL) == d)
            hi = mid;
        else
            lo = mid + 1;
    }
    int k = snprintf(b, sizeof(b), "%.*g", lo, d);
    return ursa_buf_append(out, b, (size_t)k);
}

/* Length of the valid UTF-8 sequence at p (before end), 0 when invalid. */
static size_t utf8_len(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, min = 0x10000;
    else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    uint32_t cp = c & (0x3F >> (n - 1));
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* A JSON string of text that may not be UTF-8 (a foreign file's strings):
 * each invalid byte becomes U+FFFD, so the line stays valid JSON. */
static int json_text(ursa_buf_t *out, const uint8_t *p, size_t n, ursa_buf_t *tmp)
{
    const uint8_t *end = p + n;
    size_t k = 0;
    while (k < n) {
        size_t l = utf8_len(p + k, end);
        if (!l) break;
        k += l;
    }
    if (k == n) return ursa_buf_json_str(out, (const char *)p, n);
    tmp->len = 0;
    for (const uint8_t *q = p; q < end;) {
        size_t l = utf8_len(q, end);
        if (l ? ursa_buf_append(tmp, q, l) : ursa_buf_append(tmp, "\xEF\xBF\xBD", 3)) return URSA_ENOMEM;
        q += l ? l : 1;
    }
    return ursa_buf_json_str(out, (const char *)tmp->data, tmp->len);
}

/* "HH:MM:SS" and "fdigits" fraction digits of sub (of 10^fdigits). */
static int clock_text(char *s, size_t cap, int64_t secs_of_day, int64_t sub, int fdigits)
{
    int k = snprintf(s, cap, "%02d:%02d:%02d", (int)(secs_of_day / 3600), (int)(secs_of_day / 60 % 60),
                     (int)(secs_of_day % 60));
    if (fdigits) k += snprintf(s + k, cap - (size_t)k, ".%0*" PRId64, fdigits, sub);
    return k;
}

int ursa_value_json(const ursa_column_t *c, const ursa_field_t *f, size_t i, ursa_buf_t *out)
{
    if (!ursa_column_valid(c, i)) return ursa_buf_append(out, "null", 4);
    const uint8_t *p = c->width ? ursa_column_ptr(c, i) : NULL;
    char s[96];
    int k;
    switch (c->type) {
    case URSA_TYPE_BOOL:
        return ursa_column_bool(c, i) ? ursa_buf_append(out, "true", 4) : ursa_buf_append(out, "false", 5);
    case URSA_TYPE_INT8:
        return ursa_buf_printf(out, "%d", (int)(int8_t)p[0]);
    case URSA_TYPE_UINT8:
        return ursa_buf_printf(out, "%u", (unsigned)p[0]);
    case URSA_TYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        return ursa_buf_printf(out, "%d", (int)v);
    }
    case URSA_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return ursa_buf_printf(out, "%u", (unsigned)v);
    }
    case URSA_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        return ursa_buf_printf(out, "%" PRId32, v);
    }
    case URSA_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return ursa_buf_printf(out, "%" PRIu32, v);
    }
    case URSA_TYPE_INT64:
        return ursa_buf_printf(out, "%" PRId64, ursa_column_i64(c, i));
    case URSA_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        return ursa_buf_printf(out, "%" PRIu64, v);
    }
    case URSA_TYPE_FLOAT32: {
        float v;
        memcpy(&v, p, 4);
        return float_text(out, v, true);
    }
    case URSA_TYPE_FLOAT64:
        return float_text(out, ursa_column_f64(c, i), false);
    case URSA_TYPE_DECIMAL: {
        __int128 v;
        if (c->width == 16) {
            memcpy(&v, p, 16);
        } else {
            int64_t v64;
            memcpy(&v64, p, 8);
            v = v64;
        }
        return decimal_text(out, v, f->scale);
    }
    case URSA_TYPE_STRING: {
        size_t n;
        const uint8_t *d = ursa_column_str(c, i, &n);
        ursa_buf_t tmp = {0};
        int rc = json_text(out, d, n, &tmp);
        ursa_buf_free(&tmp);
        return rc;
    }
    case URSA_TYPE_JSON: { /* its text when it is JSON (Ursa's always are), else a string of it */
        size_t n;
        const uint8_t *d = ursa_column_str(c, i, &n);
        json_error_t je;
        json_t *j = json_loadb((const char *)d, n, JSON_DECODE_ANY, &je);
        if (j) { /* line breaks can only be white space in valid JSON: spaces keep it one line */
            json_decref(j);
            size_t at = out->len;
            if (ursa_buf_append(out, d, n)) return URSA_ENOMEM;
            for (size_t q = at; q < out->len; q++)
                if (out->data[q] == '\n' || out->data[q] == '\r') out->data[q] = ' ';
            return URSA_OK;
        }
        ursa_buf_t tmp = {0};
        int rc = json_text(out, d, n, &tmp);
        ursa_buf_free(&tmp);
        return rc;
    }
    case URSA_TYPE_BINARY: {
        size_t n;
        const uint8_t *d = ursa_column_str(c, i, &n);
        return b64(out, d, n);
    }
    case URSA_TYPE_UUID:
        k = snprintf(s, sizeof(s), "\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\"",
                     p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13],
                     p[14], p[15]);
        return ursa_buf_append(out, s, (size_t)k);
    case URSA_TYPE_DATE: {
        int32_t d;
        memcpy(&d, p, 4);
        s[0] = '"';
        ursa_format_date(d, s + 1);
        k = (int)strlen(s);
        s[k++] = '"';
        return ursa_buf_append(out, s, (size_t)k);
    }
    case URSA_TYPE_TIME: {
        int64_t us = ursa_column_i64(c, i);
        if (us < 0 || us >= 86400000000LL)
            return ursa_buf_printf(out, "%" PRId64, us); /* not a time of day */
        s[0] = '"';
        k = 1 + clock_text(s + 1, sizeof(s) - 2, us / 1000000, us % 1000000, 6);
        s[k++] = '"';
        return ursa_buf_append(out, s, (size_t)k);
    }
    case URSA_TYPE_TIMESTAMP: {
        static const int64_t per_s[] = {1000, 1000000, 1000000000};
        static const int digits[] = {3, 6, 9};
        int64_t v = ursa_column_i64(c, i), ps = per_s[f->unit];
        int64_t per_day = 86400 * ps, days = v / per_day, rest = v % per_day; /* floored, no overflow */
        if (rest < 0) rest += per_day, days--;
        s[0] = '"';
        ursa_format_date(days, s + 1);
        k = (int)strlen(s);
        s[k++] = 'T';
        k += clock_text(s + k, sizeof(s) - (size_t)k - 3, rest / ps, rest % ps, digits[f->unit]);
        if (f->utc) s[k++] = 'Z';
        s[k++] = '"';
        return ursa_buf_append(out, s, (size_t)k);
    }
    default:
        return ursa_buf_append(out, "null", 4);
    }
}

/* A CSV field: the JSON text, unquoted for strings (RFC 4180 quoting when
 * needed), empty for null. */
static int csv_value(const ursa_column_t *c, const ursa_field_t *f, size_t i, ursa_buf_t *out,
                     ursa_buf_t *tmp)
{
    if (!ursa_column_valid(c, i)) return URSA_OK;
    const uint8_t *d;
    size_t n;
    tmp->len = 0;
    if (c->type == URSA_TYPE_STRING || c->type == URSA_TYPE_JSON) {
        d = ursa_column_str(c, i, &n);
    } else {
        if (ursa_value_json(c, f, i, tmp)) return URSA_ENOMEM;
        d = tmp->data, n = tmp->len;
        if (n >= 2 && d[0] == '"') d++, n -= 2; /* the renderings above need no JSON escapes */
    }
    bool quote = false;
    for (size_t k = 0; k < n && !quote; k++)
        quote = d[k] == ',' || d[k] == '"' || d[k] == '\n' || d[k] == '\r';
    if (!quote) return ursa_buf_append(out, d, n);
    if (ursa_buf_push(out, '"')) return URSA_ENOMEM;
    for (size_t k = 0; k < n; k++)
        if ((d[k] == '"' && ursa_buf_push(out, '"')) || ursa_buf_push(out, d[k])) return URSA_ENOMEM;
    return ursa_buf_push(out, '"');
}

/* ------------------------------------------------------------------------ */
/* Opening FILE */

typedef struct target {
    ursa_store_t *st;
    char *key;
} target_t;

static int open_target(const char *file, target_t *t, ursa_err_t *err)
{
    memset(t, 0, sizeof(*t));
    char *url = NULL;
    const char *key;
    if (!strncmp(file, "s3://", 5)) {
        const char *slash = strchr(file + 5, '/');
        if (!slash || !slash[1]) return ursa_err_set(err, URSA_EINVAL, "%s: expected s3://bucket/key", file);
        url = ursa_malloc((size_t)(slash - file) + 1);
        if (!url) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
        memcpy(url, file, (size_t)(slash - file));
        url[slash - file] = 0;
        key = slash + 1;
    } else {
        struct stat sb;
        if (stat(file, &sb) != 0) return ursa_err_set(err, URSA_ENOTFOUND, "%s: %s", file, strerror(errno));
        if (!S_ISREG(sb.st_mode)) return ursa_err_set(err, URSA_EINVAL, "%s: not a file", file);
        const char *slash = strrchr(file, '/');
        size_t dn = slash ? (size_t)(slash - file) : 1;
        url = ursa_malloc(dn + 1);
        if (!url) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
        if (slash)
            memcpy(url, file, dn), url[dn] = 0;
        else
            strcpy(url, ".");
        if (slash && dn == 0) strcpy(url, "/");
        key = slash ? slash + 1 : file;
    }
    size_t kn = strlen(key);
    t->key = ursa_malloc(kn + 1);
    if (!t->key) {
        ursa_free(url);
        return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    memcpy(t->key, key, kn + 1);
    int rc = ursa_store_open(url, NULL, &t->st, err);
    ursa_free(url);
    if (rc) {
        ursa_free(t->key);
        t->key = NULL;
    }
    return rc;
}

static void close_target(target_t *t)
{
    ursa_store_destroy(&t->st);
    ursa_free(t->key);
    t->key = NULL;
}

static int flush_out(ursa_buf_t *b)
{
    if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len) return URSA_EIO;
    b->len = 0;
    return URSA_OK;
}

/* ------------------------------------------------------------------------ */
/* ursa cat */

static void cat_usage(FILE *f)
{
    fprintf(f, "usage: ursa cat FILE|s3://bucket/key [--columns a,b] [--limit N] [--format ndjson|csv]\n");
}

int ursa_cmd_cat(int argc, char **argv)
{
    const char *file = NULL, *columns = NULL, *format = "ndjson";
    long long limit = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cat_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--columns") && v) {
            columns = v, i++;
        } else if (!strcmp(a, "--limit") && v) {
            char *end;
            errno = 0;
            limit = strtoll(v, &end, 10);
            if (errno || *end || limit < 0) {
                cat_usage(stderr);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--format") && v && (!strcmp(v, "ndjson") || !strcmp(v, "csv"))) {
            format = v, i++;
        } else if (a[0] != '-' && !file) {
            file = a;
        } else {
            cat_usage(stderr);
            return 2;
        }
    }
    if (!file) {
        cat_usage(stderr);
        return 2;
    }
    bool csv = !strcmp(format, "csv");
    ursa_err_t err = {0};
    target_t t;
    pq_reader_t *r = NULL;
    size_t *cols = NULL, ncols = 0;
    ursa_buf_t out = {0}, tmp = {0};
    int status = 1;
    if (open_target(file, &t, &err)) goto fail;
    if (pq_reader_open(&r, t.st, t.key, &err)) goto fail;
    const ursa_schema_t *s = pq_reader_schema(r);
    const pq_file_meta_t *m = pq_reader_meta(r);
    cols = ursa_calloc(s->nfields + 1, sizeof(*cols));
    if (!cols) {
        ursa_err_set(&err, URSA_ENOMEM, "out of memory");
        goto fail;
    }
    if (columns) {
        const char *p = columns;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char name[1024];
            if (n == 0 || n >= sizeof(name)) {
                ursa_err_set(&err, URSA_EINVAL, "--columns: bad column list \"%s\"", columns);
                goto fail;
            }
            memcpy(name, p, n);
            name[n] = 0;
            int k = pq_reader_find(r, name);
            if (k < 0) {
                ursa_err_set(&err, URSA_ENOTFOUND, "%s: no column %s", t.key, name);
                goto fail;
            }
            if (ncols == s->nfields) {
                ursa_err_set(&err, URSA_EINVAL, "--columns: too many columns");
                goto fail;
            }
            cols[ncols++] = (size_t)k;
            if (!e) break;
            p = e + 1;
        }
    } else {
        for (size_t i = 0; i < s->nfields; i++) cols[ncols++] = i;
    }
    for (size_t i = 0; i < ncols; i++)
        if (pq_reader_column_why(r, cols[i])) {
            ursa_err_set(&err, URSA_ENOTSUP, "%s: column %s: %s", t.key, s->fields[cols[i]].name,
                         pq_reader_column_why(r, cols[i]));
            goto fail;
        }
    if (csv) {
        for (size_t i = 0; i < ncols; i++) {
            const char *nm = s->fields[cols[i]].name;
            if ((i && ursa_buf_push(&out, ',')) || ursa_buf_append(&out, nm, strlen(nm))) goto nomem;
        }
        if (ursa_buf_push(&out, '\n')) goto nomem;
    }
    long long left = limit;
    for (size_t g = 0; g < m->nrow_groups && left != 0; g++) {
        ursa_batch_t b;
        if (pq_reader_read(r, g, cols, ncols, &b, &err)) goto fail;
        for (size_t row = 0; row < b.nrows && left != 0; row++, left--) {
            if (!csv && ursa_buf_push(&out, '{')) goto nomem_b;
            for (size_t i = 0; i < ncols; i++) {
                const ursa_field_t *f = &s->fields[cols[i]];
                if (i && ursa_buf_push(&out, ',')) goto nomem_b;
                if (csv) {
                    if (csv_value(&b.cols[i], f, row, &out, &tmp)) goto nomem_b;
                } else if (ursa_buf_json_str(&out, f->name, f->name_len) || ursa_buf_push(&out, ':') ||
                           ursa_value_json(&b.cols[i], f, row, &out)) {
                    goto nomem_b;
                }
            }
            if ((!csv && ursa_buf_push(&out, '}')) || ursa_buf_push(&out, '\n')) goto nomem_b;
            if (out.len >= (1 << 16) && flush_out(&out)) {
                ursa_batch_free(&b);
                ursa_err_set(&err, URSA_EIO, "writing to stdout: %s", strerror(errno));
                goto fail;
            }
            continue;
        nomem_b:
            ursa_batch_free(&b);
            goto nomem;
        }
        ursa_batch_free(&b);
    }
    if (flush_out(&out) || fflush(stdout)) {
        ursa_err_set(&err, URSA_EIO, "writing to stdout: %s", strerror(errno));
        goto fail;
    }
    status = 0;
    goto out;
nomem:
    ursa_err_set(&err, URSA_ENOMEM, "out of memory");
fail:
    if (flush_out(&out) == URSA_OK) fflush(stdout);
    fprintf(stderr, "ursa cat: %s\n", err.msg);
out:
    ursa_buf_free(&out);
    ursa_buf_free(&tmp);
    ursa_free(cols);
    pq_reader_destroy(&r);
    close_target(&t);
    return status;
}

/* ------------------------------------------------------------------------ */
/* ursa inspect */

static const char *ptype_name(int t)
{
    static const char *const n[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                    "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? n[t] : t == -1 ? "group" : "?";
}

static const char *codec_name(int c)
{
    static const char *const n[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                    "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
    return c >= 0 && c < 8 ? n[c] : "?";
}

static const char *enc_name(int e)
{
    static const char *const n[] = {
        "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
        "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
        "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return e >= 0 && e < 10 ? n[e] : "?";
}

static const char *rep_name(int r)
{
    return r == PQ_REQUIRED ? "REQUIRED" : r == PQ_OPTIONAL ? "OPTIONAL" : r == PQ_REPEATED ? "REPEATED" : "";
}

static const char *converted_name(int c)
{
    static const char *const n[] = {"UTF8",
                                    "MAP",
                                    "MAP_KEY_VALUE",
                                    "LIST",
                                    "ENUM",
                                    "DECIMAL",
                                    "DATE",
                                    "TIME_MILLIS",
                                    "TIME_MICROS",
                                    "TIMESTAMP_MILLIS",
                                    "TIMESTAMP_MICROS",
                                    "UINT_8",
                                    "UINT_16",
                                    "UINT_32",
                                    "UINT_64",
                                    "INT_8",
                                    "INT_16",
                                    "INT_32",
                                    "INT_64",
                                    "JSON",
                                    "BSON",
                                    "INTERVAL"};
    return c >= 0 && c < 22 ? n[c] : c == -1 ? "" : "?";
}

/* The logical type as text: "TIMESTAMP(MICROS,utc)", "DECIMAL(9,2)", "". */
static void logical_text(const pq_logical_t *l, char *s, size_t cap)
{
    static const char *const units[] = {"", "MILLIS", "MICROS", "NANOS"};
    const char *u = l->unit >= 1 && l->unit <= 3 ? units[l->unit] : "?";
    switch (l->kind) {
    case PQ_LT_NONE:
        snprintf(s, cap, "%s", "");
        break;
    case PQ_LT_STRING:
        snprintf(s, cap, "STRING");
        break;
    case PQ_LT_MAP:
        snprintf(s, cap, "MAP");
        break;
    case PQ_LT_LIST:
        snprintf(s, cap, "LIST");
        break;
    case PQ_LT_ENUM:
        snprintf(s, cap, "ENUM");
        break;
    case PQ_LT_DECIMAL:
        snprintf(s, cap, "DECIMAL(%d,%d)", (int)l->precision, (int)l->scale);
        break;
    case PQ_LT_DATE:
        snprintf(s, cap, "DATE");
        break;
    case PQ_LT_TIME:
        snprintf(s, cap, "TIME(%s,%s)", u, l->utc ? "utc" : "local");
        break;
    case PQ_LT_TIMESTAMP:
        snprintf(s, cap, "TIMESTAMP(%s,%s)", u, l->utc ? "utc" : "local");
        break;
    case PQ_LT_INTEGER:
        snprintf(s, cap, "INTEGER(%d,%s)", l->bit_width, l->is_signed ? "signed" : "unsigned");
        break;
    case PQ_LT_UNKNOWN:
        snprintf(s, cap, "UNKNOWN");
        break;
    case PQ_LT_JSON:
        snprintf(s, cap, "JSON");
        break;
    case PQ_LT_BSON:
        snprintf(s, cap, "BSON");
        break;
    case PQ_LT_UUID:
        snprintf(s, cap, "UUID");
        break;
    case PQ_LT_FLOAT16:
        snprintf(s, cap, "FLOAT16");
        break;
    case PQ_LT_VARIANT:
        snprintf(s, cap, "VARIANT");
        break;
    case PQ_LT_GEOMETRY:
        snprintf(s, cap, "GEOMETRY");
        break;
    case PQ_LT_GEOGRAPHY:
        snprintf(s, cap, "GEOGRAPHY");
        break;
    default:
        snprintf(s, cap, "OTHER");
        break;
    }
}

/* The Ursa type of a field as text: "decimal(9,2)", "timestamp(us,utc)". */
static void ursa_type_text(const ursa_field_t *f, char *s, size_t cap)
{
    static const char *const units[] = {"ms", "us", "ns"};
    if (f->type == URSA_TYPE_DECIMAL)
        snprintf(s, cap, "decimal(%u,%u)", f->precision, f->scale);
    else if (f->type == URSA_TYPE_TIMESTAMP)
        snprintf(s, cap, "timestamp(%s,%s)", units[f->unit], f->utc ? "utc" : "local");
    else
        snprintf(s, cap, "%s", ursa_type_name(f->type));
}

/* A statistics value (PLAIN bytes of physical type t) as JSON: numbers for
 * the numeric types, a string for text-like byte arrays, else base64. */
static int stat_json(ursa_buf_t *out, const pq_bytes_t *b, int t, bool text)
{
    if (!b->p) return ursa_buf_append(out, "null", 4);
    if (t == PQ_BOOLEAN && b->n >= 1)
        return ursa_buf_append(out, b->p[0] ? "true" : "false", b->p[0] ? 4 : 5);
    if (t == PQ_INT32 && b->n == 4) {
        int32_t v;
        memcpy(&v, b->p, 4);
        return ursa_buf_printf(out, "%" PRId32, v);
    }
    if (t == PQ_INT64 && b->n == 8) {
        int64_t v;
        memcpy(&v, b->p, 8);
        return ursa_buf_printf(out, "%" PRId64, v);
    }
    if (t == PQ_FLOAT && b->n == 4) {
        float v;
        memcpy(&v, b->p, 4);
        return float_text(out, v, true);
    }
    if (t == PQ_DOUBLE && b->n == 8) {
        double v;
        memcpy(&v, b->p, 8);
        return float_text(out, v, false);
    }
    if (text) return ursa_buf_json_str(out, (const char *)b->p, b->n);
    return b64(out, b->p, b->n);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void inspect_usage(FILE *f)
{
    fprintf(f, "usage: ursa inspect FILE|s3://bucket/key [--json]\n");
}

#define P(...)                                            \
    do {                                                  \
        if (ursa_buf_printf(&o, __VA_ARGS__)) goto nomem; \
    } while (0)
#define JS(s)                                                  \
    do {                                                       \
        const char *s_ = nz(s);                                \
        if (ursa_buf_json_str(&o, s_, strlen(s_))) goto nomem; \
    } while (0)

int ursa_cmd_inspect(int argc, char **argv)
{
    const char *file = NULL;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            inspect_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            inspect_usage(stderr);
            return 2;
        }
    }
    if (!file) {
        inspect_usage(stderr);
        return 2;
    }
    ursa_err_t err = {0};
    target_t t;
    pq_reader_t *r = NULL;
    ursa_buf_t o = {0};
    int status = 1;
    char lt[64], ut[64];
    if (open_target(file, &t, &err)) goto fail;
    if (pq_reader_open(&r, t.st, t.key, &err)) goto fail;
    const pq_file_meta_t *m = pq_reader_meta(r);
    const ursa_schema_t *s = pq_reader_schema(r);
    if (json) {
        P("{\"file\":");
        JS(file);
        P(",\"bytes\":%" PRIu64 ",\"version\":%d,\"created_by\":", pq_reader_size(r), (int)m->version);
        if (m->created_by)
            JS(m->created_by);
        else
            P("null");
        P(",\"rows\":%" PRId64 ",\"key_value\":{", m->num_rows);
        for (size_t i = 0; i < m->nkv; i++) {
            if (i) P(",");
            JS(m->kv[i].key);
            P(":");
            if (m->kv[i].value)
                JS(m->kv[i].value);
            else
                P("null");
        }
        P("},\"schema\":[");
        for (size_t i = 0; i < m->nschema; i++) {
            const pq_schema_elem_t *e = &m->schema[i];
            logical_text(&e->logical, lt, sizeof(lt));
            P("%s{\"name\":", i ? "," : "");
            JS(e->name);
            P(",\"physical\":\"%s\",\"repetition\":\"%s\",\"logical\":", ptype_name(e->type),
              rep_name(e->repetition));
            JS(lt);
            P(",\"converted\":");
            JS(converted_name(e->converted_type));
            if (e->type_length >= 0) P(",\"type_length\":%d", (int)e->type_length);
            if (e->num_children >= 0) P(",\"children\":%d", (int)e->num_children);
            P("}");
        }
        P("],\"columns\":[");
        for (size_t i = 0; i < s->nfields; i++) {
            const char *why = pq_reader_column_why(r, i);
            ursa_type_text(&s->fields[i], ut, sizeof(ut));
            P("%s{\"name\":", i ? "," : "");
            JS(s->fields[i].name);
            P(",\"ursa_type\":");
            if (why) {
                P("null,\"unsupported\":");
                JS(why);
            } else {
                JS(ut);
            }
            P(",\"max_def\":%d,\"max_rep\":%d}", m->leaves[i].max_def, m->leaves[i].max_rep);
        }
        P("],\"row_groups\":[");
    } else {
        P("file        %s\nbytes       %" PRIu64 "\nversion     %d\ncreated_by  %s\nrows        %" PRId64
          "\nrow groups  %zu\n",
          file, pq_reader_size(r), (int)m->version, m->created_by ? m->created_by : "", m->num_rows,
          m->nrow_groups);
        for (size_t i = 0; i < m->nkv; i++) {
            const char *v = m->kv[i].value ? m->kv[i].value : "";
            size_t vn = strlen(v);
            P("kv          %s = %.*s%s\n", m->kv[i].key, (int)(vn > 100 ? 100 : vn), v,
              vn > 100 ? "..." : "");
        }
        P("\nschema\n  %-30s %-22s %-9s %-24s %-18s %s\n", "column", "physical", "rep", "logical",
          "converted", "ursa type");
        for (size_t i = 0; i < s->nfields; i++) {
            const pq_schema_elem_t *e = &m->schema[m->leaves[i].schema_index];
            const char *why = pq_reader_column_why(r, i);
            logical_text(&e->logical, lt, sizeof(lt));
            ursa_type_text(&s->fields[i], ut, sizeof(ut));
            char pt[48];
            if (e->type == PQ_FIXED_LEN_BYTE_ARRAY)
                snprintf(pt, sizeof(pt), "FIXED_LEN_BYTE_ARRAY(%d)", (int)e->type_length);
            else
                snprintf(pt, sizeof(pt), "%s", ptype_name(e->type));
            P("  %-30s %-22s %-9s %-24s %-18s %s%s\n", s->fields[i].name, pt, rep_name(e->repetition), lt,
              converted_name(e->converted_type), why ? "unsupported: " : "", why ? why : ut);
        }
    }
    for (size_t g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_t *rg = &m->row_groups[g];
        if (json) {
            P("%s{\"rows\":%" PRId64 ",\"total_byte_size\":%" PRId64, g ? "," : "", rg->num_rows,
              rg->total_byte_size);
            if (rg->nsorting) P(",\"sorting_columns\":[");
            for (size_t k = 0; k < rg->nsorting; k++)
                P("%s{\"column_idx\":%d,\"descending\":%s,\"nulls_first\":%s}%s", k ? "," : "",
                  (int)rg->sorting[k].column_idx, rg->sorting[k].descending ? "true" : "false",
                  rg->sorting[k].nulls_first ? "true" : "false", k + 1 == rg->nsorting ? "]" : "");
            P(",\"columns\":[");
        } else {
            P("\nrow group %zu: %" PRId64 " rows, %" PRId64 " bytes\n", g, rg->num_rows, rg->total_byte_size);
            for (size_t k = 0; k < rg->nsorting; k++) {
                int32_t ci = rg->sorting[k].column_idx; /* from the file: checked before use */
                P("%s%s %s%s%s", k ? ", " : "  sorted by ",
                  ci >= 0 && (size_t)ci < s->nfields ? s->fields[ci].name : "?",
                  rg->sorting[k].descending ? "descending" : "ascending",
                  rg->sorting[k].nulls_first ? " nulls first" : " nulls last",
                  k + 1 == rg->nsorting ? "\n" : "");
            }
            P("  %-30s %-14s %-44s %10s %10s %6s %6s  %s\n", "column", "codec", "encodings", "compressed",
              "raw", "index", "bloom", "statistics (nulls, min, max)");
        }
        for (size_t c = 0; c < rg->ncolumns; c++) {
            const pq_column_chunk_t *cc = &rg->columns[c];
            const pq_col_meta_t *cm = &cc->meta;
            const pq_schema_elem_t *e = &m->schema[m->leaves[c].schema_index];
            bool text = e->logical.kind == PQ_LT_STRING || e->logical.kind == PQ_LT_JSON ||
                        e->logical.kind == PQ_LT_ENUM || e->converted_type == 0 || e->converted_type == 19;
            bool pidx = cc->column_index_offset >= 0 || cc->offset_index_offset >= 0;
            bool bloom = cm->bloom_filter_offset >= 0;
            const pq_bytes_t *mn = cm->stats.min_value.p ? &cm->stats.min_value : &cm->stats.min;
            const pq_bytes_t *mx = cm->stats.max_value.p ? &cm->stats.max_value : &cm->stats.max;
            char encs[160] = "";
            size_t el = 0;
            for (size_t k = 0; k < cm->nencodings && el < sizeof(encs) - 1; k++)
                el += (size_t)snprintf(encs + el, sizeof(encs) - el, "%s%s", k ? "," : "",
                                       enc_name(cm->encodings[k]));
            if (el >= sizeof(encs)) el = sizeof(encs) - 1;
            if (json) {
                P("%s{\"column\":", c ? "," : "");
                JS(m->leaves[c].dotted);
                P(",\"codec\":\"%s\",\"encodings\":[", codec_name(cm->codec));
                for (size_t k = 0; k < cm->nencodings; k++)
                    P("%s\"%s\"", k ? "," : "", enc_name(cm->encodings[k]));
                P("],\"num_values\":%" PRId64 ",\"compressed_bytes\":%" PRId64
                  ",\"uncompressed_bytes\":%" PRId64 ",\"data_page_offset\":%" PRId64
                  ",\"dictionary_page_offset\":%" PRId64 ",\"page_index\":%s,\"column_index\":%s,\"offset_"
                  "index\":%s,\"bloom_filter\":%s,\"statistics\":",
                  cm->num_values, cm->total_compressed_size, cm->total_uncompressed_size,
                  cm->data_page_offset, cm->dictionary_page_offset, pidx ? "true" : "false",
                  cc->column_index_offset >= 0 ? "true" : "false",
                  cc->offset_index_offset >= 0 ? "true" : "false", bloom ? "true" : "false");
                if (!cm->stats.present) {
                    P("null}");
                    continue;
                }
                P("{\"null_count\":");
                if (cm->stats.null_count >= 0)
                    P("%" PRId64, cm->stats.null_count);
                else
                    P("null");
                if (cm->stats.distinct_count >= 0)
                    P(",\"distinct_count\":%" PRId64, cm->stats.distinct_count);
                P(",\"min\":");
                if (stat_json(&o, mn, cm->type, text)) goto nomem;
                P(",\"max\":");
                if (stat_json(&o, mx, cm->type, text)) goto nomem;
                P("}}");
            } else {
                P("  %-30s %-14s %-44s %10" PRId64 " %10" PRId64 " %6s %6s  ", m->leaves[c].dotted,
                  codec_name(cm->codec), encs, cm->total_compressed_size, cm->total_uncompressed_size,
                  pidx ? "yes" : "no", bloom ? "yes" : "no");
                if (!cm->stats.present) {
                    P("none\n");
                    continue;
                }
                if (cm->stats.null_count >= 0)
                    P("%" PRId64 ", ", cm->stats.null_count);
                else
                    P("?, ");
                if (stat_json(&o, mn, cm->type, text)) goto nomem;
                P(", ");
                if (stat_json(&o, mx, cm->type, text)) goto nomem;
                P("\n");
            }
            if (o.len >= (1 << 16) && flush_out(&o)) goto io;
        }
        if (json) P("]}");
    }
    if (json) P("]}\n");
    if (flush_out(&o) || fflush(stdout)) goto io;
    status = 0;
    goto out;
io:
    ursa_err_set(&err, URSA_EIO, "writing to stdout: %s", strerror(errno));
    goto fail;
nomem:
    ursa_err_set(&err, URSA_ENOMEM, "out of memory");
fail:
    fprintf(stderr, "ursa inspect: %s\n", err.msg);
out:
    ursa_buf_free(&o);
    pq_reader_destroy(&r);
    close_target(&t);
    return status;
}
