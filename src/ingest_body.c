/*
 * ingest_body.c -- decompression and body formats in front of the scanner.
 *
 * Design. Bytes arrive in pieces. With a Content-Encoding they are inflated
 * (zlib, gzip or zlib framing detected) or decompressed (zstd) into a
 * 256 KiB buffer, again and again until the piece is used up; every output
 * chunk goes to the format's feeder, and the total output is capped so a
 * small body that expands without bound (a zip bomb) ends in URSA_ELIMIT
 * instead of memory exhaustion. NDJSON output goes straight to the scanner.
 * A JSON array is cut into its elements by a small state machine that
 * tracks strings and nesting; each element is handed to the scanner as one
 * record, so an element that is not an object, or is malformed, is a row
 * error like a bad NDJSON line. Structure outside the elements (a missing
 * '[', text after ']', a body that ends inside the array) is reported as
 * one more row error, so the rows before it are still accepted.
 *
 * A UTF-8 byte order mark (EF BB BF) at the very start of the decompressed
 * body is not data: it is skipped for NDJSON and JSON arrays here, also when
 * its bytes arrive in different pieces (up to two are held back until the
 * next byte tells), as the CSV parser skips it for CSV. Bytes that begin
 * like one but are not one are handed on as they came; a second mark is
 * data.
 */
#include "ingest_body.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define OUT_CHUNK (256u << 10)

int ursa_body_format(const char *ct)
{
    static const struct {
        const char *name;
        ursa_format_t fmt;
    } types[] = {
        {"application/x-ndjson", URSA_FMT_NDJSON},
        {"application/ndjson", URSA_FMT_NDJSON},
        {"application/jsonl", URSA_FMT_NDJSON},
        {"application/x-jsonlines", URSA_FMT_NDJSON},
        {"application/jsonlines", URSA_FMT_NDJSON},
        {"application/json", URSA_FMT_JSON_ARRAY},
        {"text/csv", URSA_FMT_CSV},
    };
    if (!ct) return -1;
    while (*ct == ' ') ct++;
    size_t n = strcspn(ct, "; ");
    for (size_t i = 0; i < URSA_ARRAY_LEN(types); i++)
        if (strlen(types[i].name) == n && strncasecmp(ct, types[i].name, n) == 0) return (int)types[i].fmt;
    return -1;
}

int ursa_body_encoding(const char *ce)
{
    if (!ce) return URSA_CE_IDENTITY;
    while (*ce == ' ') ce++;
    if (!strcasecmp(ce, "identity") || !*ce) return URSA_CE_IDENTITY;
    if (!strcasecmp(ce, "gzip") || !strcasecmp(ce, "x-gzip") || !strcasecmp(ce, "deflate"))
        return URSA_CE_GZIP;
    if (!strcasecmp(ce, "zstd")) return URSA_CE_ZSTD;
    return -1;
}

int ursa_body_init(ursa_body_t *b, ursa_format_t fmt, ursa_content_encoding_t ce, ursa_ndjson_t *scan,
                   uint64_t max_out)
{
    memset(b, 0, sizeof(*b));
    b->fmt = fmt;
    b->ce = ce;
    b->scan = scan;
    b->max_out = max_out;
    if (ce == URSA_CE_IDENTITY) return URSA_OK;
    b->tmp = ursa_malloc(OUT_CHUNK);
    if (!b->tmp) return URSA_ENOMEM;
    if (ce == URSA_CE_GZIP) {
        if (inflateInit2(&b->z, 15 + 32) != Z_OK) return URSA_ENOMEM; /* +32: gzip or zlib header */
        b->z_ready = true;
    } else {
        b->zs = ZSTD_createDStream();
        if (!b->zs) return URSA_ENOMEM;
        ZSTD_initDStream(b->zs);
    }
    return URSA_OK;
}

int ursa_body_set_csv(ursa_body_t *b, const ursa_csv_options_t *opt)
{
    int rc = ursa_csv_init(&b->csv, b->scan, opt);
    b->csv_ready = rc == URSA_OK;
    return rc;
}

bool ursa_body_csv_params(const char *ct, ursa_csv_options_t *opt, char *null_buf, size_t null_cap)
{
    const char *p = ct ? strchr(ct, ';') : NULL;
    while (p && *p == ';') {
        p++;
        while (*p == ' ') p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ';') p++;
        size_t kn = (size_t)(p - k);
        if (*p != '=') continue; /* a parameter without a value */
        p++;
        const char *v = p, *vend;
        if (*p == '"') { /* quoted: may hold ';' */
            v = ++p;
            while (*p && *p != '"') p++;
            if (!*p) return false;
            vend = p++;
        } else {
            while (*p && *p != ';') p++;
            vend = p;
            while (vend > v && vend[-1] == ' ') vend--;
        }
        while (*p && *p != ';') p++;
        size_t vn = (size_t)(vend - v);
        if (kn == 9 && !strncasecmp(k, "delimiter", 9)) {
            if (vn == 1 && *v != '"' && *v != '\r' && *v != '\n')
                opt->delimiter = *v;
            else if (vn == 3 && !strncasecmp(v, "tab", 3))
                opt->delimiter = '\t';
            else
                return false;
        } else if (kn == 4 && !strncasecmp(k, "null", 4)) {
            if (vn >= null_cap || vn >= URSA_CSV_NULL_MARKER_MAX) return false;
            memcpy(null_buf, v, vn);
            null_buf[vn] = '\0';
            opt->null_marker = null_buf;
        }
    }
    return true;
}

void ursa_body_free(ursa_body_t *b)
{
    if (b->csv_ready) ursa_csv_free(&b->csv);
    if (b->z_ready) inflateEnd(&b->z);
    if (b->zs) ZSTD_freeDStream(b->zs);
    ursa_free(b->tmp);
    ursa_buf_free(&b->elem);
    memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------------------
 * JSON arrays
 * ------------------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_blank((char)p[i])) return false;
    return true;
}

/* The 1-based body line of byte q of the piece being read. Positions only
 * move forward within a piece, so each line end is counted once. */
static uint64_t line_at(ursa_body_t *b, const uint8_t *q)
{
    for (const uint8_t *s = b->nl_at; (s = memchr(s, '\n', (size_t)(q - s))) != NULL; s++) b->newlines++;
    b->nl_at = q;
    return b->newlines + 1;
}

/* The line of the first non-blank byte of p[0..n), or 0 when all are blank. */
static uint64_t first_line(ursa_body_t *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_blank((char)p[i])) return line_at(b, p + i);
    return 0;
}

/* An element ended at ',' or (closing) at ']': hand it to the scanner.
 * Its bytes are e[0..n): in the piece that arrived, or in b->elem when it
 * spanned pieces. line: where it starts (where its separator is, when it
 * is blank). */
static int element_done(ursa_body_t *b, bool closing, const uint8_t *e0, size_t n, uint64_t line)
{
    int rc = URSA_OK;
    if (b->skipping) {
        b->skipping = false; /* rejected already: too large */
        b->nelem++;
    } else if (blank(e0, n)) {
        if (!(closing && b->nelem == 0)) { /* "[]" is an empty body; "[1,]" and "[,1]" miss one */
            b->scan->lines = line;
            ursa_ndjson_count_record(b->scan);
            ursa_ndjson_reject(b->scan, -1, "malformed JSON array: an element is missing");
            b->nelem++;
        }
    } else {
        /* Without the blanks around it, the element is the record's raw
         * text (the quarantine keeps it). */
        const char *e = (const char *)e0;
        while (n && is_blank(e[n - 1])) n--;
        while (n && is_blank(*e)) e++, n--;
        b->scan->lines = line - 1; /* the scanner counts the record's line */
        rc = ursa_ndjson_record(b->scan, e, n);
        b->nelem++;
    }
    b->elem.len = 0;
    b->elem_line = 0;
    return rc;
}

/* The first byte at or after p that may change the splitter's state: a
 * quote or backslash inside a string; outside one a quote, a bracket or a
 * brace, or (at the top level of the element) a comma. end when none. The
 * bytes in between are skipped 16 at a time. */
static const uint8_t *next_special(const ursa_body_t *b, const uint8_t *p, const uint8_t *end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), ob = _mm_set1_epi8('{'),
                  cb = _mm_set1_epi8('}'), os = _mm_set1_epi8('['), cs = _mm_set1_epi8(']'),
                  co = _mm_set1_epi8(',');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p), m;
        if (b->in_str) {
            m = _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs));
        } else {
            m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, ob)),
                             _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cb), _mm_cmpeq_epi8(v, os)),
                                          _mm_cmpeq_epi8(v, cs)));
            if (b->depth == 0) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, co));
        }
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return p + __builtin_ctz(mask);
        p += 16;
    }
#else
    (void)b;
#endif
    return p < end ? p : end;
}

static int array_feed(ursa_body_t *b, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    int rc = URSA_OK;
    b->nl_at = p;
    while (p < end && rc == URSA_OK) {
        if (b->arr == 0) { /* before the array */
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
            if (p == end) break;
            if (*p != '[') {
                b->scan->lines = line_at(b, p);
                ursa_ndjson_count_record(b->scan);
                ursa_ndjson_reject(b->scan, -1, "the body must be a JSON array of objects: [ {...}, ... ]");
                b->arr = 3; /* ignore the rest */
                break;
            }
            p++;
            b->arr = 1;
            continue;
        }
        if (b->arr >= 2) { /* after ']' only blanks */
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
            if (p < end && b->arr == 2) {
                b->scan->lines = line_at(b, p);
                ursa_ndjson_count_record(b->scan);
                ursa_ndjson_reject(b->scan, -1, "unexpected characters after the JSON array");
                b->arr = 3;
            }
            break;
        }
        /* Inside: collect one element up to a ',' or ']' at its top level. */
        const uint8_t *start = p;
        for (; p < end; p++) {
            if (!b->esc && (p = next_special(b, p, end)) == end) break;
            uint8_t c = *p;
            if (b->in_str) {
                if (b->esc)
                    b->esc = false;
                else if (c == '\\')
                    b->esc = true;
                else if (c == '"')
                    b->in_str = false;
                continue;
            }
            if (c == '"') {
                b->in_str = true;
            } else if (c == '{' || c == '[') {
                b->depth++;
            } else if ((c == '}' || c == ']') && b->depth > 0) {
                b->depth--;
            } else if (b->depth == 0 && (c == ',' || c == ']')) {
                break;
            }
        }
        size_t k = (size_t)(p - start);
        if (p < end && !b->skipping && b->elem.len == 0 && k <= b->scan->max_record) {
            /* The whole element is in this piece: parse it in place. */
            bool closing = *p == ']';
            uint64_t line = first_line(b, start, k);
            if (!line) line = line_at(b, p);
            p++;
            rc = element_done(b, closing, start, k, line);
            if (closing) b->arr = 2;
            continue;
        }
        if (!b->skipping) {
            if (b->elem.len + k > b->scan->max_record) {
                /* The quarantine keeps the element's first max_record bytes
                 * however the body was cut, as for NDJSON and CSV records. */
                size_t max = b->scan->max_record, have = b->elem.len;
                if (have && (rc = ursa_buf_append(&b->elem, start, max - have))) break;
                /* Its line: of its first non-blank byte within the limit, or
                 * of the byte past the limit, however the body was cut. */
                uint64_t line = b->elem_line ? b->elem_line : first_line(b, start, max - have);
                b->scan->lines = line ? line : line_at(b, start + (max - have));
                ursa_ndjson_count_record(b->scan);
                /* The rule, worded as the NDJSON scanner words its own. */
                snprintf(b->scan->err_rule, sizeof(b->scan->err_rule), "max_record %zu bytes", max);
                const char *raw = b->elem.len ? (const char *)b->elem.data : (const char *)start;
                ursa_ndjson_reject_raw(b->scan, -1, "record larger than the maximum record size", raw, max,
                                       true);
                b->skipping = true;
                b->elem.len = 0;
            } else {
                if (!b->elem_line) b->elem_line = first_line(b, start, k);
                if ((rc = ursa_buf_append(&b->elem, start, k))) break;
            }
        }
        if (p == end) break;
        bool closing = *p == ']';
        uint64_t line = b->elem_line ? b->elem_line : line_at(b, p);
        p++;
        rc = element_done(b, closing, b->elem.data, b->elem.len, line);
        if (closing) b->arr = 2;
    }
    line_at(b, end); /* the rest of the piece's line ends */
    return rc == URSA_OK ? URSA_OK : URSA_ENOMEM;
}

/* ---------------------------------------------------------------------------
 * Decompression and dispatch
 * ------------------------------------------------------------------------- */

static const uint8_t BOM[3] = {0xEF, 0xBB, 0xBF};

/* Hands decompressed bytes to the format's parser. */
static int to_format(ursa_body_t *b, const uint8_t *p, size_t n, ursa_err_t *err)
{
    if (b->fmt == URSA_FMT_CSV) {
        int rc = ursa_csv_feed(&b->csv, (const char *)p, n);
        if (rc == URSA_ENOMEM) return ursa_err_set(err, rc, "out of memory while parsing");
        return rc ? ursa_err_set(err, URSA_EFORMAT, "%s", b->csv.err.msg) : URSA_OK;
    }
    int rc = b->fmt == URSA_FMT_NDJSON ? ursa_ndjson_feed(b->scan, (const char *)p, n) : array_feed(b, p, n);
    return rc ? ursa_err_set(err, rc, "out of memory while parsing") : URSA_OK;
}

/* The bytes of a mark that turned out not to be one go first. */
static int start(ursa_body_t *b, ursa_err_t *err)
{
    b->started = true;
    return b->bom > 0 && b->bom < 3 ? to_format(b, BOM, b->bom, err) : URSA_OK;
}

static int deliver(ursa_body_t *b, const uint8_t *p, size_t n, ursa_err_t *err)
{
    int rc;
    b->out += n;
    if (b->out > b->max_out)
        return ursa_err_set(err, URSA_ELIMIT, "the decompressed body is larger than %llu bytes",
                            (unsigned long long)b->max_out);
    if (!b->started && b->fmt != URSA_FMT_CSV) {
        while (n && b->bom < 3 && *p == BOM[b->bom]) b->bom++, p++, n--;
        if (b->bom < 3 && n == 0) return URSA_OK; /* it may still be one */
        if ((rc = start(b, err))) return rc;
    }
    return n ? to_format(b, p, n, err) : URSA_OK;
}

int ursa_body_feed(ursa_body_t *b, const void *data, size_t n, ursa_err_t *err)
{
    int rc = URSA_OK;
    if (b->ce == URSA_CE_IDENTITY) return deliver(b, data, n, err);
    if (b->ce == URSA_CE_GZIP) {
        b->z.next_in = (Bytef *)(uintptr_t)data;
        b->z.avail_in = (uInt)n;
        while (b->z.avail_in && rc == URSA_OK) {
            if (b->z_done) {
                /* gzip allows several members back to back. */
                if (inflateReset(&b->z) != Z_OK) return ursa_err_set(err, URSA_EFORMAT, "bad gzip data");
                b->z_done = false;
            }
            b->z.next_out = b->tmp;
            b->z.avail_out = OUT_CHUNK;
            int zr = inflate(&b->z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                return ursa_err_set(err, URSA_EFORMAT, "the body is not valid gzip: %s",
                                    b->z.msg ? b->z.msg : "corrupt data");
            if (zr == Z_STREAM_END) b->z_done = true;
            rc = deliver(b, b->tmp, OUT_CHUNK - b->z.avail_out, err);
            if (zr == Z_BUF_ERROR && b->z.avail_out == OUT_CHUNK) break;
        }
        return rc;
    }
    ZSTD_inBuffer in = {data, n, 0};
    while (in.pos < in.size && rc == URSA_OK) {
        ZSTD_outBuffer out = {b->tmp, OUT_CHUNK, 0};
        size_t zr = ZSTD_decompressStream(b->zs, &out, &in);
        if (ZSTD_isError(zr))
            return ursa_err_set(err, URSA_EFORMAT, "the body is not valid zstd: %s", ZSTD_getErrorName(zr));
        b->z_done = zr == 0;
        rc = deliver(b, b->tmp, out.pos, err);
    }
    return rc;
}

int ursa_body_finish(ursa_body_t *b, ursa_err_t *err)
{
    if (b->ce == URSA_CE_GZIP && !b->z_done && (b->z.total_in > 0))
        return ursa_err_set(err, URSA_EFORMAT, "the gzip body ends before its end");
    if (b->ce == URSA_CE_ZSTD && !b->z_done && b->out > 0)
        return ursa_err_set(err, URSA_EFORMAT, "the zstd body ends before its end");
    int rc;
    if (!b->started && b->fmt != URSA_FMT_CSV && (rc = start(b, err))) return rc;
    if (b->fmt == URSA_FMT_CSV) {
        rc = ursa_csv_finish(&b->csv);
        if (rc == URSA_ENOMEM) return ursa_err_set(err, rc, "out of memory while parsing");
        return rc ? ursa_err_set(err, URSA_EFORMAT, "%s", b->csv.err.msg) : URSA_OK;
    }
    if (b->fmt == URSA_FMT_NDJSON)
        return ursa_ndjson_finish(b->scan) ? ursa_err_set(err, URSA_ENOMEM, "out of memory") : URSA_OK;
    if (b->arr == 1) {
        b->scan->lines = b->newlines + 1;
        ursa_ndjson_count_record(b->scan);
        ursa_ndjson_reject(b->scan, -1, "the body ends inside the JSON array (no closing ])");
    }
    return URSA_OK;
}
