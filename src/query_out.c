/*
 * query_out.c -- a query's result encoded as JSON, NDJSON, CSV, an Arrow
 * IPC stream or a Parquet file (query_out.h).
 *
 * DESIGN
 *
 * One encoder per result. It copies the result's schema, then turns each
 * batch of the executor (exec.h: typed vectors, nulls as bytes) into bytes
 * appended to the caller's buffer, which the caller may send and empty
 * between calls: the answer streams, and the encoder holds no rows. The
 * text formats go row by row, one switch per value; Arrow sends one
 * record batch per executor batch, its buffers laid out column by column;
 * Parquet goes through Ursa's own writer (pq_write), whose sink appends to
 * the buffer of the call under way, so its row groups stream too and only
 * the writer's current row group is held.
 *
 * Invariants:
 *   - After every successful call, the bytes appended so far are a prefix
 *     of a valid answer that ends between two rows (two Arrow messages); the
 *     header part (JSON's columns, the CSV header, Arrow's Schema message,
 *     Parquet's magic) comes exactly once, with the first call.
 *   - All text is UTF-8 in every format: invalid bytes in strings and in
 *     column names become U+FFFD, one per maximal invalid subpart (the
 *     WHATWG decoder's rule, what TextDecoder and browsers do), so Arrow's
 *     Utf8 and Parquet's STRING always hold what readers accept.
 *   - A value is written the same way in JSON, NDJSON and CSV (numbers,
 *     ISO 8601 timestamps, PostgreSQL's interval text); only the quoting
 *     differs. Parquet holds intervals as that same text.
 *
 * Failures: out of memory, a batch that does not fit the schema (the
 * engine's bug: URSA_EINTERNAL) and a value the format cannot hold (a date
 * past int32 days in Arrow or Parquet, an interval past int64 nanoseconds
 * in Arrow, a string of 2 GiB or more in Arrow: URSA_ELIMIT). The failed
 * call leaves the caller's buffer at the length it had, and the encoder
 * refuses every later call: bytes already sent cannot be taken back, so
 * the answer must be cut off (a truncated body tells the client).
 *
 * Arrow. The IPC streaming format: encapsulated messages (0xFFFFFFFF, the
 * metadata's length, a Message flatbuffer padded to 8 bytes, the body),
 * metadata version V5, little-endian, buffers 8-aligned, no validity
 * bitmap (a buffer of length 0) where a column has no null in the batch,
 * Null columns without buffers. A batch whose strings pass INT32_MAX bytes
 * in a column (Utf8 has int32 offsets) goes as several record batches.
 * The flatbuffers are written by hand, by the small builder below: Debian
 * 12 has no C flatbuffers builder (flatcc is not packaged, and
 * libflatbuffers-dev is the C++ library, whose flatc generates no C), and
 * four tables of scalars, strings and vectors need little. pq_write.c has
 * a builder of its own for the ARROW:schema it writes into Parquet footers;
 * the two could become one module.
 *
 * Parquet. Every column is nullable; varchar, interval (as text) and the
 * Null type (all nulls) are STRING, timestamps TIMESTAMP(µs, UTC), dates
 * DATE. Column names are written as the result has them ("count(*)"):
 * the [a-z][a-z0-9_]* rule belongs to dataset schemas (schema.c checks it
 * when parsing one), pq_write does not enforce it, and Parquet readers
 * take any UTF-8 name, so nothing is renamed. The writer runs on the
 * calling thread (threads = 1): a query answer is one of many.
 */
#include "query_out.h"
#include "pq_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "query_out.c copies vectors into Arrow's little-endian buffers as they are in memory"
#endif

#define US_PER_DAY    INT64_C(86400000000)
#define US_PER_HOUR   INT64_C(3600000000)
#define US_PER_MINUTE INT64_C(60000000)
#define US_PER_SECOND INT64_C(1000000)

/* ---------------------------------------------------------------------------
 * Choosing the format
 * ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *content_type;
} formats[] = {
    [QUERY_FMT_JSON] = {"json", "application/json"},
    [QUERY_FMT_NDJSON] = {"ndjson", "application/x-ndjson"},
    [QUERY_FMT_CSV] = {"csv", "text/csv; charset=utf-8"},
    [QUERY_FMT_ARROW] = {"arrow", "application/vnd.apache.arrow.stream"},
    [QUERY_FMT_PARQUET] = {"parquet", "application/vnd.apache.parquet"},
};

/* The media ranges an Accept header may name; rank orders a full type
 * before a type's wildcard before the wildcard of all. */
static const struct {
    const char *range;
    query_format_t f;
    int rank;
} media[] = {
    {"application/json", QUERY_FMT_JSON, 2},
    {"application/x-ndjson", QUERY_FMT_NDJSON, 2},
    {"application/ndjson", QUERY_FMT_NDJSON, 2},
    {"text/csv", QUERY_FMT_CSV, 2},
    {"application/vnd.apache.arrow.stream", QUERY_FMT_ARROW, 2},
    {"application/vnd.apache.parquet", QUERY_FMT_PARQUET, 2},
    {"application/x-parquet", QUERY_FMT_PARQUET, 2},
    {"application/*", QUERY_FMT_JSON, 1},
    {"text/*", QUERY_FMT_CSV, 1},
    {"*/*", QUERY_FMT_JSON, 0},
};

const char *query_format_content_type(query_format_t f)
{
    return (unsigned)f < URSA_ARRAY_LEN(formats) ? formats[f].content_type : "application/octet-stream";
}

const char *query_format_name(query_format_t f)
{
    return (unsigned)f < URSA_ARRAY_LEN(formats) ? formats[f].name : "?";
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses a qvalue ("0", "0.5", "1.000") of s[0..n) into thousandths; -1
 * when malformed. */
static int parse_q(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9') return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

int query_format_choose(const char *format, const char *accept, query_format_t *out, ursa_err_t *err)
{
    if (format) {
        for (size_t i = 0; i < URSA_ARRAY_LEN(formats); i++) {
            if (strcasecmp(format, formats[i].name) == 0) {
                *out = (query_format_t)i;
                return URSA_OK;
            }
        }
        return ursa_err_set(err, URSA_EINVAL,
                            "unknown format \"%.100s\" (json, ndjson, csv, arrow or parquet)", format);
    }
    *out = QUERY_FMT_JSON;
    if (!accept) return URSA_OK;
    const char *p = accept;
    bool any = false, found = false;
    int best_q = 0, best_rank = -1;
    while (*p) {
        /* One element: a media range, then ;-separated parameters. */
        while (is_ows(*p) || *p == ',') p++;
        if (!*p) break;
        any = true;
        const char *type = p;
        while (*p && *p != ';' && *p != ',') p++;
        size_t tn = (size_t)(p - type);
        while (tn && is_ows(type[tn - 1])) tn--;
        int q = 1000;
        while (*p == ';') {
            p++;
            while (is_ows(*p)) p++;
            const char *param = p;
            while (*p && *p != ';' && *p != ',') p++;
            size_t pn = (size_t)(p - param);
            while (pn && is_ows(param[pn - 1])) pn--;
            if (pn >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                q = parse_q(param + 2, pn - 2);
                if (q < 0) q = 0; /* a malformed weight accepts nothing */
            }
        }
        for (size_t i = 0; i < URSA_ARRAY_LEN(media); i++) {
            if (strlen(media[i].range) != tn || strncasecmp(media[i].range, type, tn) != 0) continue;
            if (q > 0 && (q > best_q || (q == best_q && media[i].rank > best_rank))) {
                best_q = q, best_rank = media[i].rank;
                *out = media[i].f;
                found = true;
            }
        }
    }
    if (!any || found) return URSA_OK;
    return ursa_err_set(err, URSA_EINVAL,
                        "no supported format in Accept \"%.100s\" (application/json, application/x-ndjson, "
                        "text/csv, application/vnd.apache.arrow.stream, application/vnd.apache.parquet)",
                        accept);
}

/* ---------------------------------------------------------------------------
 * UTF-8: what is well formed, and U+FFFD for what is not
 * ------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 character at s[0..n) (n >= 1), or 0
 * when there is none; then *bad gets the length of the maximal subpart of
 * one (at least 1), which becomes one U+FFFD. */
static size_t utf8_char(const uint8_t *s, size_t n, size_t *bad)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0; /* no overlong form */
        if (c == 0xed) hi = 0x9f; /* no surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90; /* no overlong form */
        if (c == 0xf4) hi = 0x8f; /* nothing past U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    size_t k = 1;
    for (; k <= need && k < n && s[k] >= lo && s[k] <= hi; k++) lo = 0x80, hi = 0xbf;
    if (k == need + 1) return k;
    *bad = k;
    return 0;
}

/* The offset of the first byte of s[0..n) that is not well-formed UTF-8,
 * or n. ASCII goes 8 bytes at a time. */
static size_t utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            uint64_t w;
            while (i + 8 <= n && (memcpy(&w, s + i, 8), (w & UINT64_C(0x8080808080808080)) == 0)) i += 8;
            while (i < n && s[i] < 0x80) i++;
            continue;
        }
        size_t bad, k = utf8_char(s + i, n - i, &bad);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* The bytes s[0..n) take with U+FFFD for what is not UTF-8. */
static size_t utf8_clean_len(const uint8_t *s, size_t n)
{
    size_t i = utf8_valid(s, n), len = i;
    while (i < n) {
        size_t bad, k = utf8_char(s + i, n - i, &bad);
        len += k ? k : 3;
        i += k ? k : bad;
    }
    return len;
}

/* Copies s[0..n) to d with U+FFFD for what is not UTF-8; returns the bytes
 * written (utf8_clean_len). */
static size_t utf8_clean_copy(uint8_t *d, const uint8_t *s, size_t n)
{
    size_t i = utf8_valid(s, n), len = i;
    memcpy(d, s, i);
    while (i < n) {
        size_t bad, k = utf8_char(s + i, n - i, &bad);
        if (k) {
            memcpy(d + len, s + i, k);
            len += k, i += k;
        } else {
            memcpy(d + len, "\xef\xbf\xbd", 3);
            len += 3, i += bad;
        }
    }
    return len;
}

/* s[0..n) made UTF-8 and NUL-terminated, in memory of ursa_malloc; NULL
 * when out of memory. */
static char *utf8_clean_dup(const char *s, size_t n, size_t *len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t m = utf8_clean_len(u, n);
    char *d = ursa_malloc(m + 1);
    if (!d) return NULL;
    utf8_clean_copy((uint8_t *)d, u, n);
    d[m] = '\0';
    *len = m;
    return d;
}

/* ---------------------------------------------------------------------------
 * Values as text (JSON, NDJSON, CSV)
 * ------------------------------------------------------------------------- */

/* Writes the decimal digits of u (at least `width`, zero-padded) to d;
 * returns how many. */
static size_t put_digits(char *d, uint64_t u, int width)
{
    char tmp[24];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (k < (size_t)width) tmp[k++] = '0';
    for (size_t i = 0; i < k; i++) d[i] = tmp[k - 1 - i];
    return k;
}

static size_t fmt_i64(char *d, int64_t v)
{
    if (v >= 0) return put_digits(d, (uint64_t)v, 1);
    d[0] = '-';
    return 1 + put_digits(d + 1, 0 - (uint64_t)v, 1);
}

/* A finite double in the fewest of 15, 16 or 17 significant digits that
 * read back as the same bits (-0.0 is "-0"). */
static size_t fmt_double(char d[32], double v)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(d, 32, "%.*g", prec, v);
        double back = strtod(d, NULL);
        if (memcmp(&back, &v, sizeof(v)) == 0) break;
    }
    return (size_t)n;
}

/* The proleptic Gregorian date of a day number (days since 1970-01-01),
 * for any int64 (H. Hinnant's civil_from_days, with 400-year eras taken
 * out first so that nothing overflows). */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era = days / 146097 - (days % 146097 < 0);
    int64_t doe = days - era * 146097 + 719468; /* days since 0000-03-01 of the era, plus eras */
    era += doe / 146097;
    doe %= 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DD"; years outside 0000..9999 get a sign and as many digits as
 * they need (ISO 8601's expanded form): "-0001-12-31", "+10000-01-01". */
static size_t fmt_date(char *d, int64_t days)
{
    int64_t y;
    unsigned m, day;
    civil_from_days(days, &y, &m, &day);
    size_t n = 0;
    if (y < 0)
        d[n++] = '-';
    else if (y > 9999)
        d[n++] = '+';
    n += put_digits(d + n, y < 0 ? 0 - (uint64_t)y : (uint64_t)y, 4);
    d[n++] = '-';
    n += put_digits(d + n, m, 2);
    d[n++] = '-';
    n += put_digits(d + n, day, 2);
    return n;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z": the fraction only when not zero,
 * in milliseconds when that is exact. */
static size_t fmt_timestamp(char *d, int64_t us)
{
    int64_t days = us / US_PER_DAY, t = us % US_PER_DAY;
    if (t < 0) t += US_PER_DAY, days--;
    size_t n = fmt_date(d, days);
    int64_t frac = t % US_PER_SECOND, s = t / US_PER_SECOND;
    d[n++] = 'T';
    n += put_digits(d + n, (uint64_t)(s / 3600), 2);
    d[n++] = ':';
    n += put_digits(d + n, (uint64_t)(s / 60 % 60), 2);
    d[n++] = ':';
    n += put_digits(d + n, (uint64_t)(s % 60), 2);
    if (frac) {
        d[n++] = '.';
        if (frac % 1000 == 0)
            n += put_digits(d + n, (uint64_t)(frac / 1000), 3);
        else
            n += put_digits(d + n, (uint64_t)frac, 6);
    }
    d[n++] = 'Z';
    return n;
}

/* One part of an interval as PostgreSQL's AddPostgresIntPart writes it. */
static size_t interval_part(char *d, size_t n, int64_t v, const char *unit, bool *is_zero, bool *is_before)
{
    if (v == 0) return n;
    if (!*is_zero) d[n++] = ' ';
    if (*is_before && v > 0) d[n++] = '+';
    n += fmt_i64(d + n, v);
    d[n++] = ' ';
    size_t k = strlen(unit);
    memcpy(d + n, unit, k);
    n += k;
    if (v != 1) d[n++] = 's';
    *is_before = v < 0;
    *is_zero = false;
    return n;
}

/* An interval as PostgreSQL prints it (IntervalStyle postgres): "1 year
 * 2 mons 3 days 04:05:06.7", "-1 years -2 mons +3 days -00:00:01",
 * "00:00:00" for nothing. d needs 96 bytes. */
static size_t fmt_interval(char *d, exec_interval_t iv)
{
    bool is_zero = true, is_before = false;
    size_t n = 0;
    n = interval_part(d, n, iv.months / 12, "year", &is_zero, &is_before);
    n = interval_part(d, n, iv.months % 12, "mon", &is_zero, &is_before);
    n = interval_part(d, n, iv.days, "day", &is_zero, &is_before);
    int64_t t = iv.us, hour = t / US_PER_HOUR;
    t -= hour * US_PER_HOUR;
    int64_t min = t / US_PER_MINUTE;
    t -= min * US_PER_MINUTE;
    int64_t sec = t / US_PER_SECOND, fsec = t - sec * US_PER_SECOND;
    if (is_zero || hour || min || sec || fsec) {
        bool minus = hour < 0 || min < 0 || sec < 0 || fsec < 0;
        if (!is_zero) d[n++] = ' ';
        if (minus)
            d[n++] = '-';
        else if (is_before)
            d[n++] = '+';
        /* All parts share t's sign, and |hour| <= 2562047788: no overflow. */
        n += put_digits(d + n, (uint64_t)(hour < 0 ? -hour : hour), 2);
        d[n++] = ':';
        n += put_digits(d + n, (uint64_t)(min < 0 ? -min : min), 2);
        d[n++] = ':';
        n += put_digits(d + n, (uint64_t)(sec < 0 ? -sec : sec), 2);
        if (fsec) {
            d[n++] = '.';
            size_t k = put_digits(d + n, (uint64_t)(fsec < 0 ? -fsec : fsec), 6);
            while (d[n + k - 1] == '0') k--;
            n += k;
        }
    }
    return n;
}

/* Appends s[0..n) as a JSON string: quoted, escaped (control characters
 * as \u00XX but for \n, \r, \t), U+FFFD for what is not UTF-8. */
static int put_json_str(ursa_buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *u = (const uint8_t *)s;
    if (n > URSA_BUF_MAX / 6) return URSA_ENOMEM;
    int rc = ursa_buf_reserve(out, 6 * n + 2); /* the worst case: every byte a \u00XX */
    if (rc) return rc;
    uint8_t *d = out->data + out->len;
    *d++ = '"';
    for (size_t i = 0; i < n;) {
        uint8_t c = u[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *d++ = c, i++;
        } else if (c < 0x80) {
            *d++ = '\\';
            if (c == '"' || c == '\\')
                *d++ = c;
            else if (c == '\n')
                *d++ = 'n';
            else if (c == '\r')
                *d++ = 'r';
            else if (c == '\t')
                *d++ = 't';
            else
                *d++ = 'u', *d++ = '0', *d++ = '0', *d++ = (uint8_t)hex[c >> 4], *d++ = (uint8_t)hex[c & 15];
            i++;
        } else {
            size_t bad, k = utf8_char(u + i, n - i, &bad);
            if (k) {
                memcpy(d, u + i, k);
                d += k, i += k;
            } else {
                memcpy(d, "\xef\xbf\xbd", 3);
                d += 3, i += bad;
            }
        }
    }
    *d++ = '"';
    out->len = (size_t)(d - out->data);
    return URSA_OK;
}

/* Appends s[0..n) as a CSV field: quoted when it holds a comma, a quote,
 * CR or LF, starts or ends with a space, or is empty (so that "" differs
 * from a NULL); quotes doubled; U+FFFD for what is not UTF-8. */
static int put_csv_str(ursa_buf_t *out, const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    bool quote = n == 0 || u[0] == ' ' || u[n - 1] == ' ';
    for (size_t i = 0; i < n && !quote; i++)
        quote = u[i] == ',' || u[i] == '"' || u[i] == '\r' || u[i] == '\n';
    if (n > URSA_BUF_MAX / 3) return URSA_ENOMEM;
    int rc = ursa_buf_reserve(out, 3 * n + 2); /* the worst case: every byte a U+FFFD */
    if (rc) return rc;
    uint8_t *d = out->data + out->len;
    if (quote) *d++ = '"';
    for (size_t i = 0; i < n;) {
        uint8_t c = u[i];
        if (c < 0x80) {
            if (c == '"') *d++ = '"';
            *d++ = c, i++;
            continue;
        }
        size_t bad, k = utf8_char(u + i, n - i, &bad);
        if (k) {
            memcpy(d, u + i, k);
            d += k, i += k;
        } else {
            memcpy(d, "\xef\xbf\xbd", 3);
            d += 3, i += bad;
        }
    }
    if (quote) *d++ = '"';
    out->len = (size_t)(d - out->data);
    return URSA_OK;
}

enum { TEXT_JSON, TEXT_CSV };

/* Appends row i of v (a column of type t) as JSON or CSV text. */
static int put_value(ursa_buf_t *out, exec_type_t t, const exec_vec_t *v, size_t i, int style)
{
    char buf[112];
    size_t n;
    bool quoted = style == TEXT_JSON; /* for the values JSON writes as strings */
    if (t == EXEC_NULL || v->type == EXEC_NULL || exec_is_null(v, i))
        return style == TEXT_JSON ? ursa_buf_append(out, "null", 4) : URSA_OK;
    switch (t) {
    case EXEC_BOOL:
        return v->v.b[i] ? ursa_buf_append(out, "true", 4) : ursa_buf_append(out, "false", 5);
    case EXEC_INT64:
        n = fmt_i64(buf + 1, v->v.i[i]);
        quoted = false;
        break;
    case EXEC_FLOAT64: {
        double f = v->v.f[i];
        const char *name = isnan(f) ? "NaN" : isinf(f) ? (f > 0 ? "Infinity" : "-Infinity") : NULL;
        if (name) {
            n = strlen(name);
            memcpy(buf + 1, name, n);
        } else {
            n = fmt_double(buf + 1, f);
            quoted = false;
        }
        break;
    }
    case EXEC_STRING:
        return style == TEXT_JSON ? put_json_str(out, v->v.s[i].p, v->v.s[i].n)
                                  : put_csv_str(out, v->v.s[i].p, v->v.s[i].n);
    case EXEC_TIMESTAMP:
        n = fmt_timestamp(buf + 1, v->v.i[i]);
        break;
    case EXEC_DATE:
        n = fmt_date(buf + 1, v->v.i[i]);
        break;
    case EXEC_INTERVAL:
        n = fmt_interval(buf + 1, v->v.iv[i]);
        break;
    default:
        return URSA_EINTERNAL;
    }
    if (!quoted) return ursa_buf_append(out, buf + 1, n);
    buf[0] = '"', buf[n + 1] = '"';
    return ursa_buf_append(out, buf, n + 2);
}

/* ---------------------------------------------------------------------------
 * The encoder
 * ------------------------------------------------------------------------- */

/* Arrow's FieldNode and Buffer structs, as they lie in the flatbuffer. */
typedef struct arrow_pair {
    int64_t a, b; /* FieldNode: length, null_count; Buffer: offset, length */
} arrow_pair_t;

struct query_out {
    query_format_t fmt;
    size_t ncols;
    exec_type_t *types;
    char **names; /* UTF-8 (cleaned), NUL-terminated */
    size_t *name_lens;
    bool started, ended, failed;
    uint64_t rows; /* rows encoded so far */

    /* NDJSON: `"name":` of every column, back to back; column i's at
     * keys.data + key_off[i], up to key_off[i + 1]. */
    ursa_buf_t keys;
    size_t *key_off;

    /* Arrow */
    int64_t str_limit;     /* string bytes of one column in one record batch, at most */
    int *str_slot;         /* a varchar column's index among them, else -1 */
    size_t nstr;           /* varchar columns */
    int64_t *cum;          /* per varchar column, the bytes (cleaned) of the batch's rows before each row */
    size_t cum_cap;        /* entries cum holds */
    arrow_pair_t *nodes;   /* one per column */
    arrow_pair_t *buffers; /* up to three per column */
    ursa_buf_t fb;         /* a message's flatbuffer */

    /* Parquet */
    ursa_schema_t pq_schema;
    ursa_batch_t pq_batch;
    bool pq_batch_ready;
    pq_writer_t *pq;
    ursa_buf_t *sink_out; /* the buffer of the call under way, where the writer's bytes go */
    ursa_buf_t scratch;   /* a string made UTF-8 */
};

void query_out_set_arrow_string_limit(query_out_t *o, int64_t n)
{
    o->str_limit = n < 1 || n > INT32_MAX ? INT32_MAX : n;
}

static int pq_sink_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    query_out_t *o = ctx;
    if (!o->sink_out) return ursa_err_set(err, URSA_EINTERNAL, "Parquet bytes written outside a call");
    int rc = ursa_buf_append(o->sink_out, p, n);
    return rc ? ursa_err_set(err, rc, "out of memory for the Parquet answer") : URSA_OK;
}

/* The Parquet schema of the result: every column nullable. */
static int pq_schema_build(query_out_t *o, ursa_err_t *err)
{
    if (o->ncols == 0 || o->ncols > URSA_COLUMNS_MAX)
        return ursa_err_set(err, URSA_EINVAL, "a Parquet answer needs 1 to %d columns, the result has %zu",
                            URSA_COLUMNS_MAX, o->ncols);
    ursa_schema_t *s = &o->pq_schema;
    if (!(s->fields = ursa_calloc(o->ncols, sizeof(*s->fields))))
        return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    for (size_t i = 0; i < o->ncols; i++) {
        ursa_field_t *f = &s->fields[i];
        if (!(f->name = ursa_strndup(o->names[i], o->name_lens[i])))
            return ursa_err_set(err, URSA_ENOMEM, "out of memory");
        s->nfields = i + 1; /* the fields so far, for ursa_schema_free */
        f->name_len = o->name_lens[i];
        f->nullable = true;
        f->unit = URSA_UNIT_US;
        f->utc = true;
        switch (o->types[i]) {
        case EXEC_BOOL:
            f->type = URSA_TYPE_BOOL;
            break;
        case EXEC_INT64:
            f->type = URSA_TYPE_INT64;
            break;
        case EXEC_FLOAT64:
            f->type = URSA_TYPE_FLOAT64;
            break;
        case EXEC_TIMESTAMP:
            f->type = URSA_TYPE_TIMESTAMP;
            break;
        case EXEC_DATE:
            f->type = URSA_TYPE_DATE;
            break;
        default: /* varchar, interval (its text), null (no value) */
            f->type = URSA_TYPE_STRING;
        }
    }
    int rc = ursa_batch_init(&o->pq_batch, s);
    if (rc) return ursa_err_set(err, rc, "out of memory");
    o->pq_batch_ready = true;
    return URSA_OK;
}

int query_out_new(query_out_t **op, query_format_t f, const exec_schema_t *schema, ursa_err_t *err)
{
    int rc;
    query_out_t *o = NULL;
    *op = NULL;
    if ((unsigned)f >= URSA_ARRAY_LEN(formats))
        return ursa_err_set(err, URSA_EINVAL, "unknown answer format %d", (int)f);
    if (!(o = ursa_calloc(1, sizeof(*o)))) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    o->fmt = f;
    o->ncols = schema->n;
    o->str_limit = INT32_MAX;
    o->pq_schema.time_column = -1;
    size_t n = o->ncols ? o->ncols : 1;
    if (!(o->types = ursa_calloc(n, sizeof(*o->types))) || !(o->names = ursa_calloc(n, sizeof(*o->names))) ||
        !(o->name_lens = ursa_calloc(n, sizeof(*o->name_lens)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o->ncols; i++) {
        if ((unsigned)schema->types[i] >= EXEC_TYPE_COUNT_) {
            rc = ursa_err_set(err, URSA_EINVAL, "column %zu: unknown type %d", i, (int)schema->types[i]);
            goto fail;
        }
        o->types[i] = schema->types[i];
        const char *name = schema->names[i] ? schema->names[i] : "";
        if (!(o->names[i] = utf8_clean_dup(name, strlen(name), &o->name_lens[i]))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto fail;
        }
    }
    switch (f) {
    case QUERY_FMT_NDJSON:
        if (!(o->key_off = ursa_calloc(o->ncols + 1, sizeof(*o->key_off)))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < o->ncols; i++) {
            if ((rc = put_json_str(&o->keys, o->names[i], o->name_lens[i])) ||
                (rc = ursa_buf_push(&o->keys, ':'))) {
                ursa_err_set(err, rc, "out of memory");
                goto fail;
            }
            o->key_off[i + 1] = o->keys.len;
        }
        break;
    case QUERY_FMT_ARROW:
        if (!(o->str_slot = ursa_calloc(n, sizeof(*o->str_slot))) ||
            !(o->nodes = ursa_calloc(n, sizeof(*o->nodes))) ||
            !(o->buffers = ursa_calloc(3 * n, sizeof(*o->buffers)))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < o->ncols; i++)
            o->str_slot[i] = o->types[i] == EXEC_STRING ? (int)o->nstr++ : -1;
        break;
    case QUERY_FMT_PARQUET:
        if ((rc = pq_schema_build(o, err))) goto fail;
        break;
    default:
        break;
    }
    *op = o;
    return URSA_OK;
fail:
    query_out_destroy(&o);
    return rc;
}

void query_out_destroy(query_out_t **op)
{
    query_out_t *o = *op;
    if (!o) return;
    pq_writer_destroy(&o->pq);
    if (o->pq_batch_ready) ursa_batch_free(&o->pq_batch);
    ursa_schema_free(&o->pq_schema);
    ursa_buf_free(&o->scratch);
    ursa_buf_free(&o->fb);
    ursa_free(o->buffers);
    ursa_free(o->nodes);
    ursa_free(o->cum);
    ursa_free(o->str_slot);
    ursa_free(o->key_off);
    ursa_buf_free(&o->keys);
    for (size_t i = 0; o->names && i < o->ncols; i++) ursa_free(o->names[i]);
    ursa_free(o->names);
    ursa_free(o->name_lens);
    ursa_free(o->types);
    ursa_free(o);
    *op = NULL;
}

/* Checks that b fits the schema: the engine's invariant, checked here
 * because a broken one would otherwise read memory that is not there. */
static int check_batch(const query_out_t *o, const exec_batch_t *b, ursa_err_t *err)
{
    if (b->ncols != o->ncols)
        return ursa_err_set(err, URSA_EINTERNAL, "a batch of %zu columns for a result of %zu", b->ncols,
                            o->ncols);
    for (size_t i = 0; i < o->ncols; i++) {
        const exec_vec_t *v = &b->cols[i];
        if (v->type != o->types[i] && v->type != EXEC_NULL)
            return ursa_err_set(err, URSA_EINTERNAL, "column %zu (%s): a vector of %s", i,
                                exec_type_name(o->types[i]), exec_type_name(v->type));
        if (v->n < b->n)
            return ursa_err_set(err, URSA_EINTERNAL, "column %zu: %zu values for %zu rows", i, v->n, b->n);
        if (b->n && v->type != EXEC_NULL && !v->v.p)
            return ursa_err_set(err, URSA_EINTERNAL, "column %zu: no values", i);
    }
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * JSON, NDJSON, CSV
 * ------------------------------------------------------------------------- */

static int json_start(query_out_t *o, ursa_buf_t *out)
{
    int rc = ursa_buf_append(out, "{\"columns\":[", 12);
    for (size_t i = 0; !rc && i < o->ncols; i++) {
        const char *type = exec_type_name(o->types[i]);
        if (!(rc = ursa_buf_append(out, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8)) &&
            !(rc = put_json_str(out, o->names[i], o->name_lens[i])))
            rc = ursa_buf_printf(out, ",\"type\":\"%s\"}", type);
    }
    return rc ? rc : ursa_buf_append(out, "],\"rows\":[", 10);
}

static int csv_start(query_out_t *o, ursa_buf_t *out)
{
    int rc = URSA_OK;
    for (size_t i = 0; !rc && i < o->ncols; i++) {
        if (i) rc = ursa_buf_push(out, ',');
        if (!rc) rc = put_csv_str(out, o->names[i], o->name_lens[i]);
    }
    return rc ? rc : ursa_buf_push(out, '\n');
}

static int text_batch(query_out_t *o, const exec_batch_t *b, ursa_buf_t *out)
{
    int rc = URSA_OK;
    for (size_t r = 0; r < b->n && !rc; r++, o->rows++) {
        switch (o->fmt) {
        case QUERY_FMT_JSON:
            rc = ursa_buf_append(out, o->rows ? ",[" : "[", o->rows ? 2 : 1);
            for (size_t c = 0; c < o->ncols && !rc; c++)
                if (!(c && (rc = ursa_buf_push(out, ','))))
                    rc = put_value(out, o->types[c], &b->cols[c], r, TEXT_JSON);
            if (!rc) rc = ursa_buf_push(out, ']');
            break;
        case QUERY_FMT_NDJSON:
            rc = ursa_buf_push(out, '{');
            for (size_t c = 0; c < o->ncols && !rc; c++) {
                if (c) rc = ursa_buf_push(out, ',');
                if (!rc)
                    rc =
                        ursa_buf_append(out, o->keys.data + o->key_off[c], o->key_off[c + 1] - o->key_off[c]);
                if (!rc) rc = put_value(out, o->types[c], &b->cols[c], r, TEXT_JSON);
            }
            if (!rc) rc = ursa_buf_append(out, "}\n", 2);
            break;
        default: /* CSV */
            for (size_t c = 0; c < o->ncols && !rc; c++)
                if (!(c && (rc = ursa_buf_push(out, ','))))
                    rc = put_value(out, o->types[c], &b->cols[c], r, TEXT_CSV);
            if (!rc) rc = ursa_buf_push(out, '\n');
        }
    }
    return rc;
}

static int put_u64_key(ursa_buf_t *out, const char *key, uint64_t v)
{
    char d[24];
    size_t n = put_digits(d, v, 1);
    int rc = ursa_buf_printf(out, ",\"%s\":", key);
    return rc ? rc : ursa_buf_append(out, d, n);
}

/* Appends `,"stats":{...}` from s. */
static int json_stats(ursa_buf_t *out, const exec_stats_t *s)
{
    char d[32];
    int rc = ursa_buf_printf(out, ",\"stats\":{\"rows\":%llu", (unsigned long long)s->rows);
    static const char *const names[] = {"rows_scanned", "live_rows",         "files", "files_pruned",
                                        "row_groups",   "row_groups_pruned", "pages", "pages_pruned",
                                        "bytes_read",   "peak_bytes"};
    const uint64_t values[] = {s->rows_scanned, s->live_rows,         s->files, s->files_pruned,
                               s->row_groups,   s->row_groups_pruned, s->pages, s->pages_pruned,
                               s->bytes_read,   s->peak_bytes};
    for (size_t i = 0; i < URSA_ARRAY_LEN(names) && !rc; i++) rc = put_u64_key(out, names[i], values[i]);
    if (!rc) rc = ursa_buf_append(out, ",\"seconds\":", 11);
    if (!rc) {
        if (isfinite(s->seconds))
            rc = ursa_buf_append(out, d, fmt_double(d, s->seconds));
        else
            rc = ursa_buf_append(out, "null", 4);
    }
    if (!rc) {
        if (s->snapshot_id < 0)
            rc = ursa_buf_append(out, ",\"snapshot_id\":null", 19);
        else
            rc = ursa_buf_printf(out, ",\"snapshot_id\":%lld", (long long)s->snapshot_id);
    }
    if (!rc) rc = ursa_buf_printf(out, ",\"nodes\":%u", s->nodes);
    /* missing: comma-separated node names (blanks around them dropped), maybe not NUL-terminated */
    size_t len = strnlen(s->missing, sizeof(s->missing)), k = 0;
    bool partial = false;
    for (size_t i = 0; i <= len && !rc; i++) {
        if (i < len && s->missing[i] != ',') continue;
        size_t a = k, z = i;
        k = i + 1;
        while (a < z && is_ows(s->missing[a])) a++;
        while (z > a && is_ows(s->missing[z - 1])) z--;
        if (a == z) continue;
        rc = ursa_buf_append(out, partial ? "," : ",\"partial\":true,\"missing\":[", partial ? 1 : 27);
        if (!rc) rc = put_json_str(out, s->missing + a, z - a);
        partial = true;
    }
    if (!rc) rc = partial ? ursa_buf_push(out, ']') : ursa_buf_append(out, ",\"partial\":false", 16);
    return rc ? rc : ursa_buf_push(out, '}');
}

/* ---------------------------------------------------------------------------
 * A flatbuffer builder that writes front to back
 *
 * Every table is preceded by its vtable (the table's soffset to it is then
 * positive) and followed by the objects it points to, whose uoffsets are
 * patched in once they are written (uoffsets are unsigned: they point
 * forward). Tables start 8-aligned and lay their fields out largest first,
 * each aligned to its size; vtables are 2-aligned, strings and vectors
 * 4-aligned, vectors of 16-byte structs 8-aligned. Every field is written,
 * defaults included. The buffer must start 8-aligned in the stream: a
 * message's flatbuffer follows its 8-byte prefix at an 8-aligned offset.
 * ------------------------------------------------------------------------- */

typedef struct fbb {
    ursa_buf_t *b;
    int rc;
} fbb_t;

typedef struct fb_field {
    uint8_t id;     /* the field's number in the table's schema */
    uint8_t size;   /* bytes: 1, 2, 4 or 8; a uoffset is 4 */
    bool ref;       /* a uoffset to an object written later (fb_ref) */
    uint64_t value; /* a scalar's value */
    size_t at;      /* out: where the field lies in the buffer */
} fb_field_t;

static void fb_bytes(fbb_t *f, const void *p, size_t n)
{
    if (!f->rc) f->rc = ursa_buf_append(f->b, p, n);
}

static void fb_pad(fbb_t *f, size_t align, size_t skew)
{
    static const uint8_t zeros[8] = {0};
    size_t k = (align - (f->b->len + skew) % align) % align;
    fb_bytes(f, zeros, k);
}

/* Points the uoffset at `at` to the object at target (target > at). */
static void fb_ref(fbb_t *f, size_t at, size_t target)
{
    if (f->rc) return;
    uint32_t v = (uint32_t)(target - at);
    memcpy(f->b->data + at, &v, 4);
}

/* Writes a vtable and its table of n fields (ids below 16); returns where
 * the table starts. */
static size_t fb_table(fbb_t *f, fb_field_t *fields, size_t n)
{
    uint16_t vt[2 + 16] = {0};
    size_t nslots = 0, pos = 4; /* the soffset comes first */
    for (unsigned size = 8; size >= 1; size /= 2) {
        for (size_t i = 0; i < n; i++) {
            if (fields[i].size != size) continue;
            pos = (pos + size - 1) / size * size;
            vt[2 + fields[i].id] = (uint16_t)pos;
            pos += size;
            if ((size_t)fields[i].id + 1 > nslots) nslots = (size_t)fields[i].id + 1;
        }
    }
    size_t tsize = (pos + 3) / 4 * 4;
    vt[0] = (uint16_t)(4 + 2 * nslots);
    vt[1] = (uint16_t)tsize;
    fb_pad(f, 2, 0);
    size_t vt_at = f->b->len;
    fb_bytes(f, vt, 4 + 2 * nslots);
    fb_pad(f, 8, 0);
    size_t at = f->b->len;
    uint8_t table[64] = {0};
    int32_t so = (int32_t)(at - vt_at);
    memcpy(table, &so, 4);
    for (size_t i = 0; i < n; i++) {
        fields[i].at = at + vt[2 + fields[i].id];
        if (!fields[i].ref) memcpy(table + vt[2 + fields[i].id], &fields[i].value, fields[i].size);
    }
    fb_bytes(f, table, tsize);
    return at;
}

/* Writes a string; returns where it starts. */
static size_t fb_string(fbb_t *f, const char *s, size_t n)
{
    fb_pad(f, 4, 0);
    size_t at = f->b->len;
    uint32_t len = (uint32_t)n;
    fb_bytes(f, &len, 4);
    fb_bytes(f, s, n);
    fb_bytes(f, "", 1);
    return at;
}

/* Writes a vector of n uoffsets, patched later; returns where it starts
 * (element i is at the result + 4 + 4 i). */
static size_t fb_refs(fbb_t *f, size_t n)
{
    fb_pad(f, 4, 0);
    size_t at = f->b->len;
    uint32_t len = (uint32_t)n, zero = 0;
    fb_bytes(f, &len, 4);
    for (size_t i = 0; i < n; i++) fb_bytes(f, &zero, 4);
    return at;
}

/* Writes a vector of n 16-byte structs (8-aligned); returns where it starts. */
static size_t fb_pairs(fbb_t *f, const arrow_pair_t *p, size_t n)
{
    fb_pad(f, 8, 4); /* the elements after the length, 8-aligned */
    size_t at = f->b->len;
    uint32_t len = (uint32_t)n;
    fb_bytes(f, &len, 4);
    fb_bytes(f, p, n * sizeof(*p));
    return at;
}

/* ---------------------------------------------------------------------------
 * Arrow IPC stream (format/Schema.fbs, format/Message.fbs)
 * ------------------------------------------------------------------------- */

enum { AR_V5 = 4 };                                          /* MetadataVersion */
enum { AR_MSG_SCHEMA = 1, AR_MSG_RECORD_BATCH = 3 };         /* MessageHeader */
enum { AR_NULL = 1, AR_INT = 2, AR_FLOAT = 3, AR_UTF8 = 5 }; /* Type */
enum { AR_BOOL = 6, AR_DATE = 8, AR_TIMESTAMP = 10, AR_INTERVAL = 11 };

/* Starts a message in f (emptied): the root uoffset, then the Message table.
 * Returns where the header's uoffset is. */
static size_t msg_begin(fbb_t *f, int header_type, int64_t body_len)
{
    f->b->len = 0;
    uint32_t root = 0;
    fb_bytes(f, &root, 4);
    fb_field_t m[] = {{0, 2, false, AR_V5, 0},
                      {1, 1, false, (uint64_t)header_type, 0},
                      {2, 4, true, 0, 0},
                      {3, 8, false, (uint64_t)body_len, 0}};
    fb_ref(f, 0, fb_table(f, m, URSA_ARRAY_LEN(m)));
    return m[2].at;
}

/* Appends the encapsulated message: the continuation marker, the
 * metadata's length, the flatbuffer padded to 8 bytes. */
static int msg_end(fbb_t *f, ursa_buf_t *out)
{
    fb_pad(f, 8, 0);
    if (f->rc) return f->rc;
    if (f->b->len > INT32_MAX) return URSA_ELIMIT;
    uint32_t pre[2] = {0xffffffffu, (uint32_t)f->b->len};
    int rc = ursa_buf_append(out, pre, 8);
    return rc ? rc : ursa_buf_append(out, f->b->data, f->b->len);
}

/* Writes a Field table (with its name, type and empty children); returns
 * where it starts. */
static size_t arrow_field(fbb_t *f, const char *name, size_t n, exec_type_t t)
{
    static const uint8_t type_ids[EXEC_TYPE_COUNT_] = {
        [EXEC_NULL] = AR_NULL,     [EXEC_BOOL] = AR_BOOL,        [EXEC_INT64] = AR_INT,
        [EXEC_FLOAT64] = AR_FLOAT, [EXEC_STRING] = AR_UTF8,      [EXEC_TIMESTAMP] = AR_TIMESTAMP,
        [EXEC_DATE] = AR_DATE,     [EXEC_INTERVAL] = AR_INTERVAL};
    fb_field_t fl[] = {{0, 4, true, 0, 0},
                       {1, 1, false, 1, 0}, /* nullable */
                       {2, 1, false, type_ids[t], 0},
                       {3, 4, true, 0, 0},
                       {5, 4, true, 0, 0}}; /* children: none, but there (some readers insist) */
    size_t at = fb_table(f, fl, URSA_ARRAY_LEN(fl));
    fb_ref(f, fl[0].at, fb_string(f, name, n));
    size_t type_at;
    switch (t) {
    case EXEC_INT64: {
        fb_field_t ty[] = {{0, 4, false, 64, 0}, {1, 1, false, 1, 0}}; /* bitWidth, is_signed */
        type_at = fb_table(f, ty, 2);
        break;
    }
    case EXEC_FLOAT64: {
        fb_field_t ty[] = {{0, 2, false, 2, 0}}; /* DOUBLE */
        type_at = fb_table(f, ty, 1);
        break;
    }
    case EXEC_TIMESTAMP: {
        fb_field_t ty[] = {{0, 2, false, 2, 0}, {1, 4, true, 0, 0}}; /* MICROSECOND, "UTC" */
        type_at = fb_table(f, ty, 2);
        fb_ref(f, ty[1].at, fb_string(f, "UTC", 3));
        break;
    }
    case EXEC_DATE: {
        fb_field_t ty[] = {{0, 2, false, 0, 0}}; /* DAY (not the default, MILLISECOND) */
        type_at = fb_table(f, ty, 1);
        break;
    }
    case EXEC_INTERVAL: {
        fb_field_t ty[] = {{0, 2, false, 2, 0}}; /* MONTH_DAY_NANO */
        type_at = fb_table(f, ty, 1);
        break;
    }
    default: /* Null, Bool, Utf8: empty tables */
        type_at = fb_table(f, NULL, 0);
    }
    fb_ref(f, fl[3].at, type_at);
    fb_ref(f, fl[4].at, fb_refs(f, 0));
    return at;
}

static int arrow_schema(query_out_t *o, ursa_buf_t *out)
{
    fbb_t f = {&o->fb, URSA_OK};
    size_t hdr = msg_begin(&f, AR_MSG_SCHEMA, 0);
    fb_field_t s[] = {{0, 2, false, 0, 0}, {1, 4, true, 0, 0}}; /* Little, fields */
    fb_ref(&f, hdr, fb_table(&f, s, 2));
    size_t vec = fb_refs(&f, o->ncols);
    fb_ref(&f, s[1].at, vec);
    for (size_t i = 0; i < o->ncols; i++)
        fb_ref(&f, vec + 4 + 4 * i, arrow_field(&f, o->names[i], o->name_lens[i], o->types[i]));
    return msg_end(&f, out);
}

/* Fills o->cum: for each varchar column, the bytes (U+FFFD put in) of rows
 * [0, i) at [i], for i in [0, n]. */
static int arrow_string_sizes(query_out_t *o, const exec_batch_t *b, ursa_err_t *err)
{
    size_t n = b->n;
    if (!o->nstr) return URSA_OK;
    if (o->cum_cap < o->nstr * (n + 1)) {
        int64_t *cum = ursa_realloc(o->cum, o->nstr * (n + 1) * sizeof(*cum));
        if (!cum) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
        o->cum = cum;
        o->cum_cap = o->nstr * (n + 1);
    }
    for (size_t c = 0; c < o->ncols; c++) {
        if (o->str_slot[c] < 0) continue;
        int64_t *cum = o->cum + (size_t)o->str_slot[c] * (n + 1);
        const exec_vec_t *v = &b->cols[c];
        cum[0] = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            if (v->type != EXEC_NULL && !exec_is_null(v, i)) {
                const uint8_t *s = (const uint8_t *)v->v.s[i].p;
                len = v->v.s[i].n;
                if (utf8_valid(s, len) < len) len = utf8_clean_len(s, len);
                if (len > (size_t)o->str_limit)
                    return ursa_err_set(
                        err, URSA_ELIMIT,
                        "column %s: a string of %zu bytes, more than Arrow's Utf8 holds (%lld)", o->names[c],
                        len, (long long)o->str_limit);
            }
            cum[i + 1] = cum[i] + (int64_t)len;
        }
    }
    return URSA_OK;
}

/* The end of the record batch that starts at row r0: as many rows as keep
 * every varchar column within str_limit bytes (one row at least). */
static size_t arrow_chunk_end(const query_out_t *o, size_t n, size_t r0)
{
    size_t r1 = r0 + 1;
    for (; r1 < n; r1++) {
        bool fits = true;
        for (size_t k = 0; k < o->nstr && fits; k++) {
            const int64_t *cum = o->cum + k * (n + 1);
            fits = cum[r1 + 1] - cum[r0] <= o->str_limit;
        }
        if (!fits) break;
    }
    return r1;
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Appends rows [r0, r1) of b as one RecordBatch message and its body. */
static int arrow_record_batch(query_out_t *o, const exec_batch_t *b, size_t r0, size_t r1, ursa_buf_t *out,
                              ursa_err_t *err)
{
    size_t n = r1 - r0, nbuf = 0, body = 0;
    /* The layout: a FieldNode per column, its buffers back to back, each 8-aligned. */
#define ADD_BUFFER(len) \
    (o->buffers[nbuf].a = (int64_t)body, o->buffers[nbuf++].b = (int64_t)(len), body += pad8(len))
    for (size_t c = 0; c < o->ncols; c++) {
        const exec_vec_t *v = &b->cols[c];
        exec_type_t t = o->types[c];
        size_t nulls = n;
        if (t != EXEC_NULL && v->type != EXEC_NULL) {
            nulls = 0;
            if (v->nulls)
                for (size_t i = r0; i < r1; i++) nulls += v->nulls[i] != 0;
        }
        o->nodes[c].a = (int64_t)n, o->nodes[c].b = (int64_t)nulls;
        if (t == EXEC_NULL) continue; /* the Null layout has no buffers */
        ADD_BUFFER(nulls ? (n + 7) / 8 : 0);
        switch (t) {
        case EXEC_BOOL:
            ADD_BUFFER((n + 7) / 8);
            break;
        case EXEC_DATE:
            ADD_BUFFER(4 * n);
            break;
        case EXEC_INTERVAL:
            ADD_BUFFER(16 * n);
            break;
        case EXEC_STRING: {
            const int64_t *cum = o->cum + (size_t)o->str_slot[c] * (b->n + 1);
            ADD_BUFFER(4 * (n + 1));
            ADD_BUFFER((size_t)(cum[r1] - cum[r0]));
            break;
        }
        default: /* bigint, double, timestamp */
            ADD_BUFFER(8 * n);
        }
    }
#undef ADD_BUFFER

    fbb_t f = {&o->fb, URSA_OK};
    size_t hdr = msg_begin(&f, AR_MSG_RECORD_BATCH, (int64_t)body);
    fb_field_t rb[] = {{0, 8, false, n, 0}, {1, 4, true, 0, 0}, {2, 4, true, 0, 0}};
    fb_ref(&f, hdr, fb_table(&f, rb, 3));
    fb_ref(&f, rb[1].at, fb_pairs(&f, o->nodes, o->ncols));
    fb_ref(&f, rb[2].at, fb_pairs(&f, o->buffers, nbuf));
    int rc = msg_end(&f, out);
    if (rc) return ursa_err_set(err, rc, "out of memory for an Arrow message");
    if ((rc = ursa_buf_reserve(out, body))) return ursa_err_set(err, rc, "out of memory for an Arrow batch");
    uint8_t *base = out->data + out->len;
    memset(base, 0, body); /* padding, and the values of all-null columns */
    out->len += body;

    /* The body, buffer by buffer in the same order. */
    size_t k = 0;
    for (size_t c = 0; c < o->ncols; c++) {
        const exec_vec_t *v = &b->cols[c];
        exec_type_t t = o->types[c];
        if (t == EXEC_NULL) continue;
        bool none = v->type == EXEC_NULL; /* every row null */
        const arrow_pair_t *valid = &o->buffers[k++];
        if (valid->b && !none) {
            uint8_t *bits = base + valid->a;
            for (size_t i = 0; i < n; i++)
                if (!v->nulls[r0 + i]) bits[i >> 3] |= (uint8_t)(1u << (i & 7));
        }
        const arrow_pair_t *values = &o->buffers[k++];
        uint8_t *d = base + values->a;
        if (none) {
            k += t == EXEC_STRING; /* zero offsets, no data */
            continue;
        }
        switch (t) {
        case EXEC_BOOL:
            for (size_t i = 0; i < n; i++)
                if (v->v.b[r0 + i]) d[i >> 3] |= (uint8_t)(1u << (i & 7));
            break;
        case EXEC_DATE:
            for (size_t i = 0; i < n; i++) {
                int64_t day = v->v.i[r0 + i];
                if (day < INT32_MIN || day > INT32_MAX) {
                    if (exec_is_null(v, r0 + i)) continue;
                    return ursa_err_set(err, URSA_ELIMIT,
                                        "column %s: date %lld days from 1970 is past Arrow's", o->names[c],
                                        (long long)day);
                }
                int32_t d32 = (int32_t)day;
                memcpy(d + 4 * i, &d32, 4);
            }
            break;
        case EXEC_INTERVAL:
            for (size_t i = 0; i < n; i++) {
                exec_interval_t iv = v->v.iv[r0 + i];
                int64_t ns;
                if (__builtin_mul_overflow(iv.us, 1000, &ns)) {
                    if (exec_is_null(v, r0 + i)) continue;
                    return ursa_err_set(
                        err, URSA_ELIMIT,
                        "column %s: an interval of %lld microseconds is past Arrow's nanoseconds",
                        o->names[c], (long long)iv.us);
                }
                memcpy(d + 16 * i, &iv.months, 4);
                memcpy(d + 16 * i + 4, &iv.days, 4);
                memcpy(d + 16 * i + 8, &ns, 8);
            }
            break;
        case EXEC_STRING: {
            const int64_t *cum = o->cum + (size_t)o->str_slot[c] * (b->n + 1);
            const arrow_pair_t *data = &o->buffers[k++];
            uint8_t *bytes = base + data->a;
            for (size_t i = 0; i <= n; i++) {
                int32_t off = (int32_t)(cum[r0 + i] - cum[r0]);
                memcpy(d + 4 * i, &off, 4);
            }
            for (size_t i = 0; i < n; i++) {
                int64_t at = cum[r0 + i] - cum[r0], len = cum[r0 + i + 1] - cum[r0 + i];
                if (!len) continue;
                const exec_str_t *s = &v->v.s[r0 + i];
                if ((size_t)len == s->n && utf8_valid((const uint8_t *)s->p, s->n) == s->n)
                    memcpy(bytes + at, s->p, s->n);
                else
                    utf8_clean_copy(bytes + at, (const uint8_t *)s->p, s->n);
            }
            break;
        }
        default: /* bigint, double, timestamp: 8 bytes as they are */
            memcpy(d, (const uint8_t *)v->v.p + 8 * r0, 8 * n);
        }
    }
    return URSA_OK;
}

static int arrow_batch(query_out_t *o, const exec_batch_t *b, ursa_buf_t *out, ursa_err_t *err)
{
    int rc = arrow_string_sizes(o, b, err);
    for (size_t r0 = 0; !rc && r0 < b->n;) {
        size_t r1 = arrow_chunk_end(o, b->n, r0);
        rc = arrow_record_batch(o, b, r0, r1, out, err);
        r0 = r1;
    }
    return rc;
}

/* ---------------------------------------------------------------------------
 * Parquet
 * ------------------------------------------------------------------------- */

static int pq_start(query_out_t *o, ursa_err_t *err)
{
    pq_write_opts_t opts;
    pq_write_opts_default(&opts);
    opts.threads = 1;
    ursa_sink_t sink = {pq_sink_write, o};
    return pq_writer_new(&o->pq, &o->pq_schema, &opts, sink, err);
}

/* Appends row i of v (type t) to the Parquet batch's column c. */
static int pq_value(query_out_t *o, ursa_column_t *c, exec_type_t t, const exec_vec_t *v, size_t i)
{
    switch (t) {
    case EXEC_BOOL:
        return ursa_column_append_bool(c, v->v.b[i] != 0);
    case EXEC_INT64:
    case EXEC_TIMESTAMP:
        return ursa_column_append_i64(c, v->v.i[i]);
    case EXEC_FLOAT64:
        return ursa_column_append_f64(c, v->v.f[i]);
    case EXEC_DATE: {
        int64_t day = v->v.i[i];
        if (day < INT32_MIN || day > INT32_MAX) return URSA_ELIMIT;
        int32_t d32 = (int32_t)day;
        return ursa_column_append_fixed(c, &d32);
    }
    case EXEC_STRING: {
        const uint8_t *s = (const uint8_t *)v->v.s[i].p;
        size_t n = v->v.s[i].n;
        if (utf8_valid(s, n) == n) return ursa_column_append_str(c, s, n);
        o->scratch.len = 0;
        if (n > URSA_BUF_MAX / 3 || ursa_buf_reserve(&o->scratch, 3 * n)) return URSA_ENOMEM;
        return ursa_column_append_str(c, o->scratch.data, utf8_clean_copy(o->scratch.data, s, n));
    }
    case EXEC_INTERVAL: {
        char text[96];
        return ursa_column_append_str(c, text, fmt_interval(text, v->v.iv[i]));
    }
    default:
        return URSA_EINTERNAL;
    }
}

static int pq_batch(query_out_t *o, const exec_batch_t *b, ursa_err_t *err)
{
    if (b->n == 0) return URSA_OK;
    ursa_batch_truncate(&o->pq_batch, 0);
    o->pq_batch.nrows = 0;
    for (size_t c = 0; c < o->ncols; c++) {
        ursa_column_t *col = &o->pq_batch.cols[c];
        const exec_vec_t *v = &b->cols[c];
        exec_type_t t = o->types[c];
        int rc = URSA_OK;
        if (t == EXEC_NULL || v->type == EXEC_NULL) {
            rc = ursa_column_append_nulls(col, b->n);
        } else {
            for (size_t i = 0; i < b->n && !rc; i++) {
                rc = exec_is_null(v, i) ? ursa_column_append_null(col) : pq_value(o, col, t, v, i);
                if (rc == URSA_ELIMIT)
                    return ursa_err_set(err, rc, "column %s: date %lld days from 1970 is past Parquet's",
                                        o->names[c], (long long)v->v.i[i]);
            }
        }
        if (rc) return ursa_err_set(err, rc, "out of memory for the Parquet answer");
    }
    o->pq_batch.nrows = b->n;
    return pq_writer_write(o->pq, &o->pq_batch, 0, b->n, err);
}

/* ---------------------------------------------------------------------------
 * The calls
 * ------------------------------------------------------------------------- */

/* The header part, once, before anything else. */
static int start(query_out_t *o, ursa_buf_t *out, ursa_err_t *err)
{
    int rc = URSA_OK;
    if (o->started) return URSA_OK;
    switch (o->fmt) {
    case QUERY_FMT_JSON:
        rc = json_start(o, out);
        break;
    case QUERY_FMT_CSV:
        rc = csv_start(o, out);
        break;
    case QUERY_FMT_ARROW:
        rc = arrow_schema(o, out);
        break;
    case QUERY_FMT_PARQUET:
        return (rc = pq_start(o, err)) ? rc : (o->started = true, URSA_OK);
    default:
        break;
    }
    if (rc) return ursa_err_set(err, rc, "out of memory for the answer's header");
    o->started = true;
    return URSA_OK;
}

/* What every call does first: refuses a finished or failed encoder. */
static int usable(const query_out_t *o, ursa_err_t *err)
{
    if (o->failed) return ursa_err_set(err, URSA_EINVAL, "the answer failed earlier: it cannot go on");
    if (o->ended) return ursa_err_set(err, URSA_EINVAL, "the answer has ended");
    return URSA_OK;
}

int query_out_batch(query_out_t *o, const exec_batch_t *b, ursa_buf_t *out, ursa_err_t *err)
{
    int rc;
    size_t mark = out->len;
    if ((rc = usable(o, err))) return rc;
    o->sink_out = out;
    if ((rc = check_batch(o, b, err)) || (rc = start(o, out, err))) goto out;
    switch (o->fmt) {
    case QUERY_FMT_ARROW:
        rc = b->n ? arrow_batch(o, b, out, err) : URSA_OK;
        break;
    case QUERY_FMT_PARQUET:
        rc = pq_batch(o, b, err);
        break;
    default:
        if ((rc = text_batch(o, b, out))) ursa_err_set(err, rc, "out of memory for the answer");
    }
out:
    o->sink_out = NULL;
    if (rc) {
        out->len = mark;
        o->failed = true;
    }
    return rc;
}

int query_out_end(query_out_t *o, const exec_stats_t *stats, ursa_buf_t *out, ursa_err_t *err)
{
    int rc;
    size_t mark = out->len;
    if ((rc = usable(o, err))) return rc;
    o->sink_out = out;
    if ((rc = start(o, out, err))) goto out;
    switch (o->fmt) {
    case QUERY_FMT_JSON:
        rc = ursa_buf_push(out, ']');
        if (!rc && stats) rc = json_stats(out, stats);
        if (!rc) rc = ursa_buf_append(out, "}\n", 2);
        if (rc) ursa_err_set(err, rc, "out of memory for the answer");
        break;
    case QUERY_FMT_ARROW: {
        static const uint32_t eos[2] = {0xffffffffu, 0};
        if ((rc = ursa_buf_append(out, eos, 8))) ursa_err_set(err, rc, "out of memory for the answer");
        break;
    }
    case QUERY_FMT_PARQUET:
        rc = pq_writer_close(o->pq, NULL, err);
        break;
    default: /* NDJSON and CSV end with their last row */
        break;
    }
out:
    o->sink_out = NULL;
    if (rc) {
        out->len = mark;
        o->failed = true;
    } else {
        o->ended = true;
    }
    return rc;
}
