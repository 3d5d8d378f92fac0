/*
 * ingest_json.c -- the schema-directed NDJSON scanner (see ingest_json.h).
 *
 * Design. A record is parsed in one pass. Values of known fields are
 * appended to their columns as they are met; at the end of the record each
 * field not seen gets a null (or the record fails when the field is not
 * nullable). Failure anywhere truncates every column back to the row count
 * before the record, so a bad record leaves no trace. Strings are scanned
 * 16 bytes at a time (SSE2) for the closing quote, a backslash, a control
 * character or a non-ASCII byte; only the latter three leave the fast loop,
 * and a run of escapes or of multi-byte characters is handled in one go.
 * A string with escapes is unescaped in the same pass (scan_unescape): from
 * its first backslash on, the blocks between escapes are copied whole.
 * UTF-8 is validated byte-exactly (no overlongs, no surrogates, <= U+10FFFF).
 * Values of unknown fields are validated and skipped with an explicit depth
 * counter and a bit stack, so hostile nesting cannot exhaust the C stack.
 *
 * Schema evolution. A scanner that evolves (ursa_ndjson_evolve) reads its
 * own view of the schema: the dataset's fields as they were at init (the
 * batch's columns then, `base`), then the fields it added itself. Nothing
 * another request adds meanwhile enters the view, because the dataset's
 * fields past `base` and ours would claim the same indices; such a field
 * only lends its type to ours of the same name (ursa_ndjson_add_field). A
 * record that fails drops the fields it added (drop_fields, which cannot
 * fail: the name table is rebuilt in place), so that a refused record
 * leaves no trace in the columns either and uses up none of the 1,024.
 * Whoever stores the rows commits the fields that have values and puts
 * the columns in the dataset's order (ursa_dataset_evolve, catalog.c);
 * nothing of a request reaches the dataset's schema before that.
 */
#include "ingest_json.h"

#include "coerce.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unicase.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef const unsigned char *cur_t;

static const char R_MALFORMED[] = "malformed JSON";
static const char R_NOT_OBJECT[] = "record is not a JSON object";
static const char R_TRAILING[] = "unexpected characters after the record";
static const char R_DUP[] = "duplicate field in record";
static const char R_MISSING[] = "missing value for non-null column";
static const char R_NULL[] = "null in non-null column";
static const char R_TOO_DEEP[] = "value nested too deeply";
static const char R_TOO_LARGE[] = "record larger than the maximum record size";
static const char R_BAD_UTF8[] = "invalid UTF-8 in string";
static const char R_CTRL[] = "unescaped control character in string";
static const char R_BAD_ESC[] = "invalid escape in string";
static const char R_SURROGATE[] = "unpaired UTF-16 surrogate in \\u escape";
static const char R_UNTERMINATED[] = "unterminated string";
#define R_NOMEM ursa_reason_nomem
static const char R_NONFINITE[] = "NaN and Infinity are not JSON numbers";
static const char R_TOO_LONG[] = "longer than the column's max_length";

/* Characters (code points) of valid UTF-8. */
static size_t utf8_chars(const unsigned char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (s[i] & 0xC0) != 0x80;
    return k;
}

/* ---------------------------------------------------------------------------
 * Lexical helpers
 * ------------------------------------------------------------------------- */

static inline cur_t skip_ws(cur_t s, cur_t end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++;
    return s;
}

/* Length of the UTF-8 sequence at s (0 when invalid). */
static size_t utf8_len(cur_t s, cur_t end)
{
    unsigned c = s[0];
    size_t avail = (size_t)(end - s);
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail >= 2 && (s[1] & 0xC0) == 0x80) return 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
        return 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] > 0x8F) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/* 1 + the value of each hex digit; 0 for any other byte. */
static const uint8_t hex_tab[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Four hex digits (a \u escape's), without a branch per digit. */
static bool hex4(cur_t s, cur_t end, unsigned *out)
{
    if (end - s < 4) return false;
    unsigned a = hex_tab[s[0]], b = hex_tab[s[1]], c = hex_tab[s[2]], d = hex_tab[s[3]];
    *out = (a - 1) << 12 | (b - 1) << 8 | (c - 1) << 4 | (d - 1);
    return a && b && c && d;
}

#ifdef __SSE2__
/* The bytes of the 16 at s that end a string's plain run: a quote, a
 * backslash, a control or a non-ASCII byte (a bit each). */
static inline unsigned special16(cur_t s, __m128i *v)
{
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    *v = _mm_loadu_si128((const __m128i *)(const void *)s);
    /* Signed compare: bytes >= 0x80 are negative, so < 0x20 too. */
    __m128i m =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(*v, q), _mm_cmpeq_epi8(*v, bs)), _mm_cmplt_epi8(*v, sp));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Scans from s, in a string, to its closing quote (*close set, NULL
 * returned) or to its next backslash (*close NULL, *ps at it), checking
 * control and UTF-8 bytes on the way; else returns the reason. Blocks of 16
 * bytes (SSE2) without a quote, backslash, control or non-ASCII byte are
 * passed over whole; a run of multi-byte characters is checked in one go. */
static inline const char *scan_to_escape(cur_t *ps, cur_t end, cur_t *close)
{
    cur_t s = *ps;
    for (;;) {
#ifdef __SSE2__
        __m128i v;
        while (end - s >= 16) {
            unsigned mask = special16(s, &v);
            if (mask) {
                s += __builtin_ctz(mask);
                break;
            }
            s += 16;
        }
#endif
        if (s >= end) return R_UNTERMINATED;
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            *close = c == '"' ? s : NULL;
            *ps = s;
            return NULL;
        }
        if (c < 0x20) return R_CTRL;
        if (c >= 0x80) {
            do {
                size_t k = utf8_len(s, end);
                if (!k) return R_BAD_UTF8;
                s += k;
            } while (s < end && *s >= 0x80);
        } else {
            s++;
        }
    }
}

/* Checks the escape at s (a backslash): the byte after it, or NULL. */
static cur_t check_escape(cur_t s, cur_t end)
{
    if (++s >= end) return NULL;
    switch (*s) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return s + 1;
    case 'u': {
        unsigned u;
        return hex4(s + 1, end, &u) ? s + 5 : NULL;
    }
    default:
        return NULL;
    }
}

/*
 * Scans a string whose opening quote is at s[-1]. On success *close points
 * at the closing quote and *esc tells whether a backslash occurred.
 */
static const char *scan_string(cur_t s, cur_t end, cur_t *close, bool *esc)
{
    for (;;) {
        const char *r = scan_to_escape(&s, end, close);
        if (r || *close) return r;
        *esc = true;
        do { /* a run of escapes (\u00e9\u00e8..., as ASCII-only encoders write text) */
            cur_t next = check_escape(s, end);
            if (!next) return s + 1 >= end ? R_UNTERMINATED : R_BAD_ESC;
            s = next;
        } while (s < end && *s == '\\');
    }
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at s (a backslash; validated by the caller's scan
 * or checked here) into o. Returns the byte after it, or NULL with *why. */
static cur_t unescape_one(cur_t s, cur_t end, unsigned char **po, const char **why)
{
    unsigned char *o = *po;
    if (end - s < 2) {
        *why = R_UNTERMINATED;
        return NULL;
    }
    unsigned c = s[1];
    s += 2;
    switch (c) {
    case '"':
    case '\\':
    case '/':
        *o++ = (unsigned char)c;
        break;
    case 'b':
        *o++ = '\b';
        break;
    case 'f':
        *o++ = '\f';
        break;
    case 'n':
        *o++ = '\n';
        break;
    case 'r':
        *o++ = '\r';
        break;
    case 't':
        *o++ = '\t';
        break;
    case 'u': {
        unsigned cp, lo;
        if (!hex4(s, end, &cp)) {
            *why = R_BAD_ESC;
            return NULL;
        }
        s += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            *why = R_SURROGATE;
            return NULL;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, end, &lo) || lo < 0xDC00 ||
                lo > 0xDFFF) {
                *why = R_SURROGATE;
                return NULL;
            }
            s += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        o += put_utf8(o, cp); /* never longer than the escape */
        break;
    }
    default:
        *why = R_BAD_ESC;
        return NULL;
    }
    *po = o;
    return s;
}

/* scan_string and unescape in one pass: the string whose opening quote is
 * at s[-1] is checked as scan_string checks it; when it has escapes
 * (*esc), its unescaped bytes are in out. The bytes before the first
 * escape are only scanned; from there on each 16-byte block without a
 * quote, backslash, control or non-ASCII byte is copied whole. */
static const char *scan_unescape(cur_t s, cur_t end, cur_t *close, bool *esc, ursa_buf_t *out)
{
    cur_t s0 = s;
    const char *r = scan_to_escape(&s, end, close);
    *esc = false;
    if (r || *close) return r;
    *esc = true;
    out->len = 0;
    /* the unescaped string is never longer than what is left of the input;
     * 16 more for whole-block stores */
    if (ursa_buf_reserve(out, (size_t)(end - s0) + 16)) return R_NOMEM;
    unsigned char *o = out->data;
    memcpy(o, s0, (size_t)(s - s0));
    o += s - s0;
    for (;;) {
#ifdef __SSE2__
        __m128i v;
        while (end - s >= 16) {
            unsigned mask = special16(s, &v);
            _mm_storeu_si128((__m128i *)(void *)o, v); /* the bytes before the first special one count */
            if (mask) {
                unsigned k = (unsigned)__builtin_ctz(mask);
                s += k;
                o += k;
                break;
            }
            s += 16;
            o += 16;
        }
#endif
        if (s >= end) return R_UNTERMINATED;
        unsigned c = *s;
        if (c == '"') {
            *close = s;
            out->len = (size_t)(o - out->data);
            return NULL;
        }
        if (c == '\\') {
            do { /* a run of escapes without going back to the block loop */
                if (!(s = unescape_one(s, end, &o, &r))) return r;
            } while (s < end && *s == '\\');
        } else if (c < 0x20) {
            return R_CTRL;
        } else if (c >= 0x80) {
            do {
                size_t k = utf8_len(s, end);
                if (!k) return R_BAD_UTF8;
                memcpy(o, s, k);
                o += k;
                s += k;
            } while (s < end && *s >= 0x80);
        } else {
            *o++ = *s++;
        }
    }
}

/* Reads the string whose opening quote is at s: *v, *n are its bytes,
 * unescaped into p->scratch when it has escapes (valid until the next
 * call), and *close is its closing quote. */
static const char *read_string(ursa_ndjson_t *p, cur_t s, cur_t end, cur_t *v, size_t *n, cur_t *close)
{
    bool esc;
    const char *r = scan_unescape(s + 1, end, close, &esc, &p->scratch);
    if (r) return r;
    if (!esc) {
        *v = s + 1;
        *n = (size_t)(*close - *v);
        return NULL;
    }
    *v = p->scratch.data;
    *n = p->scratch.len;
    return NULL;
}

/* Scans a JSON number; on success *tok_end is the first byte after it. */
static bool scan_number(cur_t s, cur_t end, cur_t *tok_end)
{
    if (s < end && *s == '-') s++;
    if (s >= end) return false;
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (s < end && (unsigned)(*s - '0') <= 9) s++;
    } else {
        return false;
    }
    if (s < end && *s == '.') {
        cur_t d = ++s;
        while (s < end && (unsigned)(*s - '0') <= 9) s++;
        if (s == d) return false;
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < end && (*s == '+' || *s == '-')) s++;
        cur_t d = s;
        while (s < end && (unsigned)(*s - '0') <= 9) s++;
        if (s == d) return false;
    }
    /* A number must end at a delimiter, not run into letters. */
    if (s < end &&
        !(*s == ',' || *s == '}' || *s == ']' || *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        return false;
    *tok_end = s;
    return true;
}

static bool match_lit(cur_t s, cur_t end, const char *lit, size_t n)
{
    return (size_t)(end - s) >= n && memcmp(s, lit, n) == 0;
}

/* Validates and skips any JSON value. */
static const char *skip_value(cur_t *ps, cur_t end)
{
    uint64_t stack[(URSA_MAX_DEPTH + 63) / 64] = {0}; /* bit set = inside an object */
    int depth = 0;
    cur_t s = *ps;
    for (;;) {
        /* Expect a value. */
        s = skip_ws(s, end);
        if (s >= end) return R_MALFORMED;
        bool in_obj;
        switch (*s) {
        case '{':
        case '[':
            if (depth == URSA_MAX_DEPTH) return R_TOO_DEEP;
            in_obj = *s == '{';
            if (in_obj)
                stack[depth / 64] |= 1ULL << (depth % 64);
            else
                stack[depth / 64] &= ~(1ULL << (depth % 64));
            depth++;
            s = skip_ws(s + 1, end);
            if (s < end && *s == (in_obj ? '}' : ']')) {
                s++;
                depth--;
                goto after_value;
            }
            if (in_obj) goto expect_key;
            continue;
        case '"': {
            cur_t close;
            bool esc = false;
            const char *r = scan_string(s + 1, end, &close, &esc);
            if (r) return r;
            s = close + 1;
            break;
        }
        case 't':
            if (!match_lit(s, end, "true", 4)) return R_MALFORMED;
            s += 4;
            break;
        case 'f':
            if (!match_lit(s, end, "false", 5)) return R_MALFORMED;
            s += 5;
            break;
        case 'n':
            if (!match_lit(s, end, "null", 4)) return R_MALFORMED;
            s += 4;
            break;
        default: {
            cur_t e;
            if (!scan_number(s, end, &e)) return R_MALFORMED;
            s = e;
        }
        }
    after_value:
        for (;;) {
            if (depth == 0) {
                *ps = s;
                return NULL;
            }
            in_obj = (stack[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
            s = skip_ws(s, end);
            if (s >= end) return R_MALFORMED;
            if (*s == ',') {
                s++;
                if (in_obj) goto expect_key;
                break; /* next array element */
            }
            if (*s != (in_obj ? '}' : ']')) return R_MALFORMED;
            s++;
            depth--;
        }
        continue;
    expect_key:
        s = skip_ws(s, end);
        if (s >= end || *s != '"') return R_MALFORMED;
        {
            cur_t close;
            bool esc = false;
            const char *r = scan_string(s + 1, end, &close, &esc);
            if (r) return r;
            s = skip_ws(close + 1, end);
        }
        if (s >= end || *s != ':') return R_MALFORMED;
        s++;
    }
}

/* Where the value at s ends, for an error's value: where skip_value ends
 * it when it is valid JSON. A malformed value is scanned tolerantly:
 * strings are skipped to their closing quote, and a closing bracket closes
 * the innermost open one of its kind (dropping unclosed ones inside it).
 * The value ends after its closing quote when it starts as a string, after
 * the bracket that closes its first one, or before a ',' outside its
 * brackets or a closing bracket none of whose kind is open. An
 * unterminated string or an unclosed bracket runs to end: nothing tells
 * where it would have ended. Blanks before the end are left out. Never
 * past end. */
static cur_t value_end(cur_t s, cur_t end)
{
    cur_t t = s;
    if (!skip_value(&t, end)) return t;
    uint64_t objs[(URSA_MAX_DEPTH + 63) / 64] = {0}; /* bit set = that level is an object */
    size_t depth = 0;
    for (t = s; t < end; t++) {
        unsigned c = *t;
        if (c == '"') {
            for (t++; t < end && *t != '"'; t++)
                if (*t == '\\' && t + 1 < end) t++;
            if (t == end) break; /* unterminated: no end before the record's */
            if (depth == 0) {
                t++;
                break;
            }
        } else if (c == '{' || c == '[') {
            if (depth < URSA_MAX_DEPTH) {
                if (c == '{')
                    objs[depth / 64] |= 1ULL << (depth % 64);
                else
                    objs[depth / 64] &= ~(1ULL << (depth % 64));
            }
            depth++;
        } else if (c == '}' || c == ']') {
            /* Levels deeper than the ones tracked match any bracket. */
            size_t k = depth;
            while (k > 0 && k - 1 < URSA_MAX_DEPTH &&
                   ((objs[(k - 1) / 64] >> ((k - 1) % 64)) & 1) != (c == '}'))
                k--;
            if (k == 0) break; /* closes what holds the value */
            depth = k - 1;
            if (depth == 0) {
                t++;
                break;
            }
        } else if (c == ',' && depth == 0) {
            break;
        }
    }
    while (t > s && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r' || t[-1] == '\n')) t--;
    return t;
}

/* ---------------------------------------------------------------------------
 * Field lookup: first the field expected next (the one that followed the
 * previous field in the last record, else the next in schema order), then
 * a hash table.
 * ------------------------------------------------------------------------- */

static uint32_t name_hash(const unsigned char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

static int lookup(ursa_ndjson_t *p, const unsigned char *k, size_t n)
{
    const ursa_schema_t *sc = p->schema;
    int g = p->guess;
    if ((size_t)g < p->nfields && sc->fields[g].name_len == n && memcmp(sc->fields[g].name, k, n) == 0)
        return g;
    for (uint32_t i = name_hash(k, n) & p->slot_mask;; i = (i + 1) & p->slot_mask) {
        int32_t e = p->slots[i];
        if (e < 0) return -1;
        if (p->names[e].n == n && memcmp(p->names[e].s, k, n) == 0) return p->names[e].field;
    }
}

/* ---------------------------------------------------------------------------
 * Typed values
 * ------------------------------------------------------------------------- */

/* What kind of JSON value starts with byte c. */
enum kind { K_STRING, K_NUMBER, K_CONTAINER, K_BOOL, K_COUNT };

static enum kind kind_of(unsigned c)
{
    return c == '"'                 ? K_STRING
           : (c == '{' || c == '[') ? K_CONTAINER
           : (c == 't' || c == 'f') ? K_BOOL
                                    : K_NUMBER;
}

/* "expected <type>, got a <kind>", built once for every pair. */
static char mismatch_text[URSA_TYPE_COUNT_][K_COUNT][64];
static pthread_once_t mismatch_once = PTHREAD_ONCE_INIT;

static void mismatch_init(void)
{
    static const char *const kinds[] = {"a string", "a number", "an object or array", "a bool"};
    for (int t = 0; t < URSA_TYPE_COUNT_; t++)
        for (int k = 0; k < K_COUNT; k++)
            snprintf(mismatch_text[t][k], sizeof(mismatch_text[t][k]), "expected %s, got %s",
                     ursa_type_name((ursa_type_t)t), kinds[k]);
}

static const char *type_mismatch(ursa_type_t t, unsigned c)
{
    pthread_once(&mismatch_once, mismatch_init);
    return mismatch_text[t][kind_of(c)];
}

/* Range-checks an int64 for the narrow integer types and appends it. */
static const char *append_int(ursa_column_t *c, ursa_type_t t, int64_t v)
{
    static const int64_t lo[] = {
        [URSA_TYPE_INT8] = INT8_MIN, [URSA_TYPE_INT16] = INT16_MIN, [URSA_TYPE_INT32] = INT32_MIN,
        [URSA_TYPE_UINT8] = 0,       [URSA_TYPE_UINT16] = 0,        [URSA_TYPE_UINT32] = 0};
    static const int64_t hi[] = {
        [URSA_TYPE_INT8] = INT8_MAX,   [URSA_TYPE_INT16] = INT16_MAX,   [URSA_TYPE_INT32] = INT32_MAX,
        [URSA_TYPE_UINT8] = UINT8_MAX, [URSA_TYPE_UINT16] = UINT16_MAX, [URSA_TYPE_UINT32] = UINT32_MAX};
    union {
        int8_t i8;
        int16_t i16;
        int32_t i32;
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        int64_t i64;
    } u;
    switch (t) {
    case URSA_TYPE_INT64:
        u.i64 = v;
        break;
    case URSA_TYPE_INT8:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT32:
        if (v < lo[t] || v > hi[t])
            return v < 0 && lo[t] == 0 ? "negative value for an unsigned column"
                                       : "integer out of range for the column type";
        if (t == URSA_TYPE_INT8) u.i8 = (int8_t)v;
        if (t == URSA_TYPE_UINT8) u.u8 = (uint8_t)v;
        if (t == URSA_TYPE_INT16) u.i16 = (int16_t)v;
        if (t == URSA_TYPE_UINT16) u.u16 = (uint16_t)v;
        if (t == URSA_TYPE_INT32) u.i32 = (int32_t)v;
        if (t == URSA_TYPE_UINT32) u.u32 = (uint32_t)v;
        break;
    default:
        return R_MALFORMED;
    }
    return ursa_column_append_fixed(c, &u) ? R_NOMEM : NULL;
}

/* Parses a number token for a numeric column. */
static const char *parse_number_value(const ursa_field_t *f, ursa_column_t *c, cur_t s, cur_t e)
{
    const char *r, *t = (const char *)s;
    size_t n = (size_t)(e - s);
    switch (f->type) {
    case URSA_TYPE_FLOAT64: {
        double v;
        if ((r = ursa_parse_f64(t, n, &v))) return r;
        return ursa_column_append_f64(c, v) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_FLOAT32: {
        float v;
        if ((r = ursa_parse_f32(t, n, &v))) return r;
        return ursa_column_append_fixed(c, &v) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_UINT64: {
        uint64_t v;
        if ((r = ursa_parse_u64(t, n, &v))) return r;
        return ursa_column_append_fixed(c, &v) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_DECIMAL:
        return NULL; /* handled by the caller */
    default: {
        int64_t v;
        if ((r = ursa_parse_i64(t, n, &v))) return r;
        return append_int(c, f->type, v);
    }
    }
}

static const char *append_decimal(const ursa_field_t *f, ursa_column_t *c, const char *t, size_t n)
{
    __int128 v;
    const char *r = ursa_parse_decimal(t, n, f->precision, f->scale, &v);
    if (r) return r;
    if (c->width == 8) {
        int64_t v64 = (int64_t)v;
        return ursa_column_append_fixed(c, &v64) ? R_NOMEM : NULL;
    }
    return ursa_column_append_fixed(c, &v) ? R_NOMEM : NULL;
}

static bool is_number_type(ursa_type_t t)
{
    switch (t) {
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_INT64:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_UINT64:
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_FLOAT64:
    case URSA_TYPE_DECIMAL:
        return true;
    default:
        return false;
    }
}

/* Converts the text of a string value for a string-typed column. */
static const char *append_text(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t v, size_t n)
{
    const char *r, *t = (const char *)v;
    switch (f->type) {
    case URSA_TYPE_STRING:
        if (f->max_length && utf8_chars(v, n) > f->max_length) return R_TOO_LONG;
        return ursa_column_append_str(c, v, n) ? R_NOMEM : NULL;
    case URSA_TYPE_TIMESTAMP: {
        int64_t x;
        if ((r = ursa_parse_timestamp_unit(t, n, (int)f->unit, f->utc, &x))) return r;
        return ursa_column_append_i64(c, x) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_DATE: {
        int32_t x;
        if ((r = ursa_parse_date(t, n, &x))) return r;
        return ursa_column_append_fixed(c, &x) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_TIME: {
        int64_t x;
        if ((r = ursa_parse_time(t, n, &x))) return r;
        return ursa_column_append_i64(c, x) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_UUID: {
        uint8_t x[16];
        if ((r = ursa_parse_uuid(t, n, x))) return r;
        return ursa_column_append_fixed(c, x) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_BINARY:
        p->bytes.len = 0;
        if ((r = ursa_parse_base64(t, n, &p->bytes))) return r;
        if (f->max_length && p->bytes.len > f->max_length) return R_TOO_LONG;
        return ursa_column_append_str(c, p->bytes.data, p->bytes.len) ? R_NOMEM : NULL;
    case URSA_TYPE_DECIMAL:
        return append_decimal(f, c, t, n);
    default:
        return R_MALFORMED;
    }
}

static void add_error(ursa_ndjson_t *p, int column, const char *reason);

static bool utf8_valid(cur_t q, cur_t e)
{
    while (q < e) {
        /* ASCII 8 bytes at a time: no byte has its top bit set. */
        uint64_t w;
        if (e - q >= 8 && (memcpy(&w, q, 8), (w & 0x8080808080808080ULL) == 0)) {
            q += 8;
            continue;
        }
        if (*q < 0x80) {
            q++;
            continue;
        }
        size_t k = utf8_len(q, e);
        if (!k) return false;
        q += k;
    }
    return true;
}

/* ---------------------------------------------------------------------------
 * Harmonization rules (ursa_rules_t): off the fast path, taken only by
 * fields that declare rules.
 * ------------------------------------------------------------------------- */

static const char *parse_plain(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t *ps,
                               cur_t end);

static const char R_ENUM[] = "not one of the allowed values";
static const char R_BELOW[] = "below the minimum";
static const char R_ABOVE[] = "above the maximum";
static const char R_NO_FORMAT[] = "matches neither RFC 3339 nor a declared format";
static const char R_BOOL_WORD[] = "expected bool (true/false, 1/0, yes/no, y/n, t/f, on/off)";

static void set_rule(ursa_ndjson_t *p, const char *fmt, ...) URSA_PRINTF(2, 3);
static void set_rule(ursa_ndjson_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err_rule, sizeof(p->err_rule), fmt, ap);
    va_end(ap);
}

static bool is_ws(unsigned c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims and case-folds the (valid UTF-8) text *v, *n as the rules say;
 * a folded value lives in p->text. */
static const char *prepare_text(ursa_ndjson_t *p, const ursa_field_t *f, cur_t *v, size_t *n)
{
    const ursa_rules_t *r = f->rules;
    if (r->trim) {
        while (*n && is_ws((*v)[0])) (*v)++, (*n)--;
        while (*n && is_ws((*v)[*n - 1])) (*n)--;
    }
    if (r->fold == URSA_FOLD_NONE || f->type != URSA_TYPE_STRING) return NULL;
    bool ascii = true;
    for (size_t i = 0; i < *n && ascii; i++) ascii = (*v)[i] < 0x80;
    p->text.len = 0;
    if (ascii) {
        if (ursa_buf_reserve(&p->text, *n + 1)) return R_NOMEM;
        for (size_t i = 0; i < *n; i++) {
            unsigned ch = (*v)[i];
            if (r->fold == URSA_FOLD_LOWER && ch - 'A' < 26u) ch += 32;
            if (r->fold == URSA_FOLD_UPPER && ch - 'a' < 26u) ch -= 32;
            p->text.data[i] = (uint8_t)ch;
        }
        p->text.len = *n;
    } else {
        /* Full Unicode case mapping (e.g. "STRASSE" and "straße" differ in
         * length) by libunistring. */
        size_t len = 0;
        uint8_t *m = r->fold == URSA_FOLD_LOWER ? u8_tolower(*v, *n, NULL, NULL, NULL, &len)
                                                : u8_toupper(*v, *n, NULL, NULL, NULL, &len);
        if (!m) return R_NOMEM;
        int rc = ursa_buf_append(&p->text, m, len);
        free(m);
        if (rc) return R_NOMEM;
    }
    *v = p->text.data;
    *n = p->text.len;
    return NULL;
}

/* 1 for a word meaning true, 0 for false, -1 for neither. */
static int bool_word(cur_t v, size_t n)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "1", "on"};
    static const char *const no[] = {"false", "f", "no", "n", "0", "off"};
    char w[6];
    if (n == 0 || n > 5) return -1;
    for (size_t i = 0; i < n; i++) w[i] = (char)((unsigned)(v[i] - 'A') < 26u ? v[i] + 32 : v[i]);
    w[n] = 0;
    for (size_t i = 0; i < URSA_ARRAY_LEN(yes); i++) {
        if (!strcmp(w, yes[i])) return 1;
        if (!strcmp(w, no[i])) return 0;
    }
    return -1;
}

/* Parses a date-time with the declared formats, in order. */
static const char *parse_formats(ursa_ndjson_t *p, const ursa_field_t *f, cur_t v, size_t n,
                                 ursa_datetime_t *dt)
{
    const ursa_rules_t *r = f->rules;
    for (size_t i = 0; i < r->nformats; i++)
        if (!ursa_parse_format(r->formats[i], (const char *)v, n, dt)) return NULL;
    set_rule(p, "formats");
    return R_NO_FORMAT;
}

/* Appends a null for an empty text value under "coerce" ("" means missing). */
static const char *append_empty(const ursa_field_t *f, ursa_column_t *c)
{
    if (!f->nullable) return R_NULL;
    return ursa_column_append_null(c) ? R_NOMEM : NULL;
}

/* Converts the text of a value (a JSON string's contents when json, else
 * raw text: a CSV cell, or the token of a JSON number or bool coerced to a
 * string) under the field's rules and appends it. */
static const char *append_ruled_text(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t v,
                                     size_t n, bool json)
{
    const ursa_rules_t *r = f->rules;
    const char *e;
    if (f->type == URSA_TYPE_STRING && !json && !utf8_valid(v, v + n)) return R_BAD_UTF8;
    if ((e = prepare_text(p, f, &v, &n))) return e;
    const char *t = (const char *)v;
    switch (f->type) {
    case URSA_TYPE_STRING:
        if (f->max_length && utf8_chars(v, n) > f->max_length) return R_TOO_LONG;
        return ursa_column_append_str(c, v, n) ? R_NOMEM : NULL;
    case URSA_TYPE_BOOL: {
        if (json && !r->coerce) return type_mismatch(f->type, '"');
        if (n == 0 && r->coerce) return append_empty(f, c);
        int b = r->coerce                          ? bool_word(v, n)
                : n == 4 && !memcmp(t, "true", 4)  ? 1
                : n == 5 && !memcmp(t, "false", 5) ? 0
                                                   : -1;
        if (b < 0) return r->coerce ? R_BOOL_WORD : "expected bool (true or false)";
        return ursa_column_append_bool(c, b == 1) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_TIMESTAMP: {
        int64_t x;
        ursa_datetime_t dt;
        if (n == 0 && r->coerce) return append_empty(f, c);
        if (!(e = ursa_parse_timestamp_unit(t, n, (int)f->unit, f->utc, &x)))
            return ursa_column_append_i64(c, x) ? R_NOMEM : NULL;
        if (r->epoch >= 0 && n && (v[0] == '-' || (unsigned)(v[0] - '0') < 10u)) {
            const char *ee = ursa_parse_epoch(t, n, r->epoch, (int)f->unit, &x);
            if (!ee) return ursa_column_append_i64(c, x) ? R_NOMEM : NULL;
            if (!r->nformats) return ee; /* else a format may still match ("24/11/2026") */
        }
        if (!r->nformats) return e;
        if ((e = parse_formats(p, f, v, n, &dt))) return e;
        if (!dt.has_date) return "the matching format has no date";
        if ((e = ursa_datetime_to_ts(&dt, (int)f->unit, &x))) return e;
        return ursa_column_append_i64(c, x) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_DATE:
    case URSA_TYPE_TIME: {
        ursa_datetime_t dt;
        if (n == 0 && r->coerce) return append_empty(f, c);
        if (!r->nformats) return append_text(p, f, c, v, n);
        int32_t d = 0;
        int64_t us = 0;
        bool standard = f->type == URSA_TYPE_DATE ? !ursa_parse_date(t, n, &d) : !ursa_parse_time(t, n, &us);
        if (!standard) { /* YYYY-MM-DD / HH:MM:SS did not match: the declared formats */
            if ((e = parse_formats(p, f, v, n, &dt))) return e;
            if (f->type == URSA_TYPE_DATE) {
                if (!dt.has_date) return "the matching format has no date";
                if (dt.year > 9999) return "year out of range (0001 to 9999)";
                d = (int32_t)ursa_days_from_civil(dt.year, dt.month, dt.day);
            } else {
                if (!dt.has_time) return "the matching format has no time of day";
                us = ((int64_t)dt.hour * 3600 + dt.minute * 60 + dt.second) * 1000000 + dt.nanos / 1000;
            }
        }
        if (f->type == URSA_TYPE_DATE) return ursa_column_append_fixed(c, &d) ? R_NOMEM : NULL;
        return ursa_column_append_i64(c, us) ? R_NOMEM : NULL;
    }
    default:
        if (!is_number_type(f->type)) return append_text(p, f, c, v, n);
        if (json && !r->coerce && f->type != URSA_TYPE_DECIMAL) return type_mismatch(f->type, '"');
        if (n == 0 && r->coerce) return append_empty(f, c);
        if (f->type == URSA_TYPE_DECIMAL) return append_decimal(f, c, t, n);
        cur_t end;
        if (!scan_number(v, v + n, &end) || end != v + n)
            return n ? "malformed number" : "empty value for a number";
        return parse_number_value(f, c, v, v + n);
    }
}

/* The integer in row i of an integer column, widened; *neg_big for
 * uint64 values above INT64_MAX (*u holds them). */
static int64_t column_int(const ursa_column_t *c, ursa_type_t t, size_t i, uint64_t *u)
{
    const uint8_t *q = ursa_column_ptr(c, i);
    int64_t v;
    switch (t) {
    case URSA_TYPE_INT8:
        v = *(const int8_t *)q;
        break;
    case URSA_TYPE_INT16:
        v = *(const int16_t *)(const void *)q;
        break;
    case URSA_TYPE_INT32:
        v = *(const int32_t *)(const void *)q;
        break;
    case URSA_TYPE_UINT8:
        v = *q;
        break;
    case URSA_TYPE_UINT16:
        v = *(const uint16_t *)(const void *)q;
        break;
    case URSA_TYPE_UINT32:
        v = *(const uint32_t *)(const void *)q;
        break;
    case URSA_TYPE_UINT64:
        memcpy(u, q, 8);
        return (int64_t)*u;
    default:
        memcpy(&v, q, 8);
        break;
    }
    *u = (uint64_t)v;
    return v;
}

static int cmp_text(const void *key, const void *elem)
{
    const ursa_buf_t *k = key;
    const char *e = *(char *const *)elem;
    size_t n = strlen(e);
    if (k->len != n) return k->len < n ? -1 : 1;
    return memcmp(k->data, e, n);
}

static int cmp_int(const void *key, const void *elem)
{
    int64_t a = *(const int64_t *)key, b = *(const int64_t *)elem;
    return (a > b) - (a < b);
}

static void rule_enum(ursa_ndjson_t *p, const ursa_field_t *f)
{
    const char *l = f->rules->allowed_text ? f->rules->allowed_text : "";
    set_rule(p, "enum [%.56s%s]", l, strlen(l) > 56 ? "..." : "");
}

/* Checks the value just appended to c against the field's allowed values
 * and range. */
static const char *check_rules(ursa_ndjson_t *p, const ursa_field_t *f, const ursa_column_t *c)
{
    const ursa_rules_t *r = f->rules;
    size_t i = c->length - 1;
    if (!ursa_column_valid(c, i) || (!r->nallowed && !r->has_min && !r->has_max)) return NULL;
    if (r->nallowed) {
        bool found;
        if (r->allowed) {
            size_t n;
            const uint8_t *s = ursa_column_str(c, i, &n);
            ursa_buf_t key = {(uint8_t *)(uintptr_t)s, n, 0};
            found = bsearch(&key, r->allowed, r->nallowed, sizeof(char *), cmp_text) != NULL;
        } else {
            uint64_t u;
            int64_t v = column_int(c, f->type, i, &u);
            found = !(f->type == URSA_TYPE_UINT64 && u > INT64_MAX) &&
                    bsearch(&v, r->allowed_int, r->nallowed, sizeof(int64_t), cmp_int) != NULL;
        }
        if (!found) {
            rule_enum(p, f);
            return R_ENUM;
        }
    }
    if (!r->has_min && !r->has_max) return NULL;
    if (f->type == URSA_TYPE_FLOAT32 || f->type == URSA_TYPE_FLOAT64) {
        char num[40];
        double d = f->type == URSA_TYPE_FLOAT64 ? ursa_column_f64(c, i)
                                                : *(const float *)(const void *)ursa_column_ptr(c, i);
        if (r->has_min && !(d >= r->min_d))
            return set_rule(p, "min %s", ursa_fmt_double(num, r->min_d)), R_BELOW;
        if (r->has_max && !(d <= r->max_d))
            return set_rule(p, "max %s", ursa_fmt_double(num, r->max_d)), R_ABOVE;
    } else if (f->type >= URSA_TYPE_UINT8 && f->type <= URSA_TYPE_UINT64) {
        uint64_t u;
        column_int(c, f->type, i, &u);
        if (r->has_min && u < r->min_u) return set_rule(p, "min %llu", (unsigned long long)r->min_u), R_BELOW;
        if (r->has_max && u > r->max_u) return set_rule(p, "max %llu", (unsigned long long)r->max_u), R_ABOVE;
    } else {
        uint64_t u;
        int64_t v = column_int(c, f->type, i, &u);
        if (r->has_min && v < r->min_i) return set_rule(p, "min %lld", (long long)r->min_i), R_BELOW;
        if (r->has_max && v > r->max_i) return set_rule(p, "max %lld", (long long)r->max_i), R_ABOVE;
    }
    return NULL;
}

/* Parses the value at *ps for a field with rules. */
static const char *parse_ruled(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t *ps,
                               cur_t end)
{
    const ursa_rules_t *r = f->rules;
    cur_t s = *ps, e;
    unsigned ch = *s;
    const char *rr;
    if (ch == '"') {
        cur_t close, v;
        size_t n;
        if ((rr = read_string(p, s, end, &v, &n, &close))) return rr;
        if ((rr = append_ruled_text(p, f, c, v, n, true))) return rr;
        *ps = close + 1;
    } else if ((ch == '-' || ch - '0' <= 9) && scan_number(s, end, &e) &&
               ((f->type == URSA_TYPE_TIMESTAMP && r->epoch >= 0) ||
                (f->type == URSA_TYPE_STRING && r->coerce) ||
                (f->type == URSA_TYPE_BOOL && r->coerce && e - s == 1 && (ch == '0' || ch == '1')))) {
        if (f->type == URSA_TYPE_TIMESTAMP) {
            int64_t x;
            if ((rr = ursa_parse_epoch((const char *)s, (size_t)(e - s), r->epoch, (int)f->unit, &x)))
                return rr;
            if (ursa_column_append_i64(c, x)) return R_NOMEM;
        } else if ((rr = append_ruled_text(p, f, c, s, (size_t)(e - s), false))) {
            return rr;
        }
        *ps = e;
    } else if ((ch == 't' || ch == 'f') && f->type == URSA_TYPE_STRING && r->coerce &&
               (match_lit(s, end, "true", 4) || match_lit(s, end, "false", 5))) {
        size_t n = ch == 't' ? 4 : 5;
        if ((rr = append_ruled_text(p, f, c, s, n, false))) return rr;
        *ps = s + n;
    } else if ((rr = parse_plain(p, f, c, ps, end))) {
        return rr;
    }
    return check_rules(p, f, c);
}

static inline cur_t fast_int(cur_t s, cur_t end, int64_t *out);
static inline cur_t fast_f64(cur_t s, cur_t end, double *out);

const char *ursa_append_text_field(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, const char *s,
                                   size_t n)
{
    cur_t b = (cur_t)s, e = b + n, end;
    const char *r;
    if (URSA_UNLIKELY(f->rules)) {
        if ((r = append_ruled_text(p, f, c, b, n, false))) return r;
        return check_rules(p, f, c);
    }
    if (is_number_type(f->type)) {
        if (f->type == URSA_TYPE_DECIMAL) return append_decimal(f, c, s, n);
        /* The common shapes in one pass (see the fast path below). */
        int64_t i64;
        double f64;
        if (f->type == URSA_TYPE_INT64 && n && fast_int(b, e, &i64) == e)
            return ursa_column_append_i64(c, i64) ? R_NOMEM : NULL;
        if (f->type == URSA_TYPE_FLOAT64 && n && fast_f64(b, e, &f64) == e)
            return ursa_column_append_f64(c, f64) ? R_NOMEM : NULL;
        if (!scan_number(b, e, &end) || end != e) return n ? "malformed number" : "empty value for a number";
        return parse_number_value(f, c, b, e);
    }
    switch (f->type) {
    case URSA_TYPE_BOOL:
        if (n == 4 && !memcmp(s, "true", 4)) return ursa_column_append_bool(c, true) ? R_NOMEM : NULL;
        if (n == 5 && !memcmp(s, "false", 5)) return ursa_column_append_bool(c, false) ? R_NOMEM : NULL;
        return "expected bool (true or false)";
    case URSA_TYPE_JSON:
        end = b;
        if ((r = skip_value(&end, e))) return r;
        if (skip_ws(end, e) != e) return R_TRAILING;
        if (f->max_length && utf8_chars(b, n) > f->max_length) return R_TOO_LONG;
        return ursa_column_append_str(c, s, n) ? R_NOMEM : NULL;
    case URSA_TYPE_STRING:
        /* The text is not JSON-escaped, but it must still be UTF-8. */
        if (!utf8_valid(b, e)) return R_BAD_UTF8;
        if (f->max_length && utf8_chars(b, n) > f->max_length) return R_TOO_LONG;
        return ursa_column_append_str(c, s, n) ? R_NOMEM : NULL;
    default:
        return append_text(p, f, c, b, n);
    }
}

void ursa_ndjson_count_record(ursa_ndjson_t *p)
{
    p->err_value = NULL;
    p->err_rule[0] = 0;
    p->records++;
}

void ursa_ndjson_reject(ursa_ndjson_t *p, int column, const char *reason)
{
    add_error(p, column, reason);
}

void ursa_ndjson_reject_raw(ursa_ndjson_t *p, int column, const char *reason, const char *raw, size_t n,
                            bool truncated)
{
    p->raw = raw;
    p->raw_len = raw ? n : 0;
    p->raw_cut = truncated;
    add_error(p, column, reason);
}

/* Parses the value at *ps for field f (no harmonization rules) and
 * appends it to column c. */
static const char *parse_plain(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t *ps,
                               cur_t end)
{
    cur_t s = *ps;
    unsigned ch = *s;
    const char *r;
    if (ch == 'n') {
        if (!match_lit(s, end, "null", 4)) return R_MALFORMED;
        if (!f->nullable) return R_NULL;
        *ps = s + 4;
        return ursa_column_append_null(c) ? R_NOMEM : NULL;
    }
    if (f->type == URSA_TYPE_JSON) {
        cur_t e = s;
        if ((r = skip_value(&e, end))) return r;
        if (f->max_length && utf8_chars(s, (size_t)(e - s)) > f->max_length) return R_TOO_LONG;
        *ps = e;
        return ursa_column_append_str(c, s, (size_t)(e - s)) ? R_NOMEM : NULL;
    }
    if (ch == '-' || (ch - '0') <= 9) {
        if (!is_number_type(f->type)) {
            cur_t e;
            if (!scan_number(s, end, &e)) return R_MALFORMED;
            return type_mismatch(f->type, ch);
        }
        cur_t e;
        if (!scan_number(s, end, &e)) return end - s > 1 && s[1] == 'I' ? R_NONFINITE : "malformed number";
        r = f->type == URSA_TYPE_DECIMAL ? append_decimal(f, c, (const char *)s, (size_t)(e - s))
                                         : parse_number_value(f, c, s, e);
        if (r) return r;
        *ps = e;
        return NULL;
    }
    if (ch == '"' && (!is_number_type(f->type) || f->type == URSA_TYPE_DECIMAL) &&
        f->type != URSA_TYPE_BOOL) {
        cur_t close, v;
        size_t n;
        if ((r = read_string(p, s, end, &v, &n, &close))) return r;
        if ((r = append_text(p, f, c, v, n))) return r;
        *ps = close + 1;
        return NULL;
    }
    if (f->type == URSA_TYPE_BOOL) {
        if (ch == 't' && match_lit(s, end, "true", 4)) {
            *ps = s + 4;
            return ursa_column_append_bool(c, true) ? R_NOMEM : NULL;
        }
        if (ch == 'f' && match_lit(s, end, "false", 5)) {
            *ps = s + 5;
            return ursa_column_append_bool(c, false) ? R_NOMEM : NULL;
        }
    }
    if (ch == 'N' || ch == 'I') return is_number_type(f->type) ? R_NONFINITE : R_MALFORMED;
    /* Anything else is a mismatch, provided the value is valid JSON. */
    cur_t t = s;
    if (skip_value(&t, end)) return R_MALFORMED;
    return type_mismatch(f->type, ch);
}

/* Parses the value at *ps for field f and appends it to column c. */
static inline const char *parse_field(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t *ps,
                                      cur_t end)
{
    if (URSA_LIKELY(!f->rules)) return parse_plain(p, f, c, ps, end);
    return parse_ruled(p, f, c, ps, end);
}

/* ---------------------------------------------------------------------------
 * The fast path. Producers mostly send the fields of a record in the order
 * of their last record (the schema's, or their map's), with plain values:
 * the key is compared in place with the name expected next, and the common
 * value shapes of the common types are parsed and appended in one pass
 * (strings with escapes too, unescaped as they are scanned). Anything else
 * (nulls, exponents, long numbers, errors of numbers) goes to the general
 * code above, which has the exact error reasons; a fast parser appends
 * nothing before it is sure.
 * ------------------------------------------------------------------------- */

/* Returned by parse_fast: not handled here, use parse_field. */
static const char NOT_FAST[] = "not on the fast path";

/* Compares the key whose opening quote is at s with the name of field g in
 * place; returns the byte after its closing quote, or NULL when it is not
 * that key. A plain name holds no quote, backslash or control byte, so
 * input bytes equal to name + '"' are exactly that key. */
static inline cur_t match_key(const ursa_ndjson_t *p, int g, cur_t s, cur_t end)
{
    const struct ursa_key_head *h = &p->heads[g];
    size_t n = p->schema->fields[g].name_len;
    if (!h->plain || (size_t)(end - s) < n + 2) return NULL;
    if (end - s >= 9) {
        uint64_t v;
        memcpy(&v, s + 1, 8);
        if ((v & h->mask) != h->head) return NULL;
        if (n < 8) return s + n + 2; /* the mask covered the name and its quote */
    }
    if (s[n + 1] != '"' || memcmp(s + 1, p->schema->fields[g].name, n) != 0) return NULL;
    return s + n + 2;
}

static inline bool is_delim(unsigned c)
{
    return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* An integer of at most 18 digits (so no overflow is possible) followed by
 * a delimiter; NULL for anything else. */
static inline cur_t fast_int(cur_t s, cur_t end, int64_t *out)
{
    bool neg = *s == '-';
    cur_t q = s + neg, d0 = q;
    uint64_t v = 0;
    while (q < end && (unsigned)(*q - '0') <= 9 && q - d0 < 18) v = v * 10 + (unsigned)(*q++ - '0');
    size_t nd = (size_t)(q - d0);
    if (nd == 0 || (nd > 1 && *d0 == '0') || (q < end && !is_delim(*q))) return NULL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return q;
}

static const double pow10_small[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number without exponent of at most 19 digits whose digits, as an
 * integer, fit 53 bits, and at most 22 of them after the point: then the
 * integer and the power of ten are exact doubles and one division rounds
 * correctly (Clinger's fast path, the same as ursa_parse_f64 takes for
 * such a number, so the result is the same). NULL for anything else. */
static inline cur_t fast_f64(cur_t s, cur_t end, double *out)
{
    bool neg = *s == '-';
    cur_t q = s + neg, d0 = q;
    uint64_t mant = 0;
    while (q < end && (unsigned)(*q - '0') <= 9) mant = mant * 10 + (unsigned)(*q++ - '0');
    size_t ni = (size_t)(q - d0), nf = 0;
    if (ni == 0 || (ni > 1 && *d0 == '0')) return NULL;
    if (q < end && *q == '.') {
        cur_t f0 = ++q;
        while (q < end && (unsigned)(*q - '0') <= 9) mant = mant * 10 + (unsigned)(*q++ - '0');
        nf = (size_t)(q - f0);
        if (nf == 0) return NULL;
    }
    if (ni + nf > 19 || mant > (1ULL << 53) || nf > 22 || (q < end && !is_delim(*q))) return NULL;
    double d = nf ? (double)mant / pow10_small[nf] : (double)mant;
    *out = neg ? -d : d;
    return q;
}

/* The value at *ps for field f, if it has a common shape: NULL (appended,
 * *ps after it), a reason (the value is bad; the same reason parse_field
 * gives), or NOT_FAST (nothing done). */
static inline const char *parse_fast(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t *ps,
                                     cur_t end)
{
    cur_t s = *ps, e, close;
    bool esc = false;
    const char *r;
    if (f->rules) return NOT_FAST; /* harmonization rules: parse_ruled */
    switch (f->type) {
    case URSA_TYPE_INT64: {
        int64_t v;
        if (!(e = fast_int(s, end, &v))) return NOT_FAST;
        *ps = e;
        return ursa_column_append_i64(c, v) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_FLOAT64: {
        double v;
        if (*s == 'n' || !(e = fast_f64(s, end, &v))) return NOT_FAST;
        *ps = e;
        return ursa_column_append_f64(c, v) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_STRING:
        if (*s != '"' || f->max_length) return NOT_FAST;
        if ((r = scan_unescape(s + 1, end, &close, &esc, &p->scratch))) return r;
        *ps = close + 1;
        if (esc) return ursa_column_append_str(c, p->scratch.data, p->scratch.len) ? R_NOMEM : NULL;
        return ursa_column_append_str(c, s + 1, (size_t)(close - s - 1)) ? R_NOMEM : NULL;
    case URSA_TYPE_TIMESTAMP: {
        int64_t v;
        if (*s != '"') return NOT_FAST;
        if ((r = scan_string(s + 1, end, &close, &esc))) return r;
        if (esc) return NOT_FAST;
        if ((r = ursa_parse_timestamp_unit((const char *)s + 1, (size_t)(close - s - 1), (int)f->unit, f->utc,
                                           &v)))
            return r;
        *ps = close + 1;
        return ursa_column_append_i64(c, v) ? R_NOMEM : NULL;
    }
    case URSA_TYPE_BOOL:
        if (end - s >= 4 && !memcmp(s, "true", 4)) {
            *ps = s + 4;
            return ursa_column_append_bool(c, true) ? R_NOMEM : NULL;
        }
        if (end - s >= 5 && !memcmp(s, "false", 5)) {
            *ps = s + 5;
            return ursa_column_append_bool(c, false) ? R_NOMEM : NULL;
        }
        return NOT_FAST;
    default:
        return NOT_FAST;
    }
}

/* ---------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------- */

/* Copies at most 64 bytes of v into out (NUL-terminated), not cutting a
 * UTF-8 sequence, replacing invalid bytes by '?', and marks a cut with
 * "...". */
static void copy_value(char out[72], cur_t v, size_t n)
{
    size_t o = 0;
    cur_t e = v + n;
    while (v < e && o < 64) {
        size_t k = *v < 0x80 ? 1 : utf8_len(v, e);
        if (!k) {
            out[o++] = '?';
            v++;
            continue;
        }
        if (o + k > 64) break;
        memcpy(out + o, v, k);
        o += k;
        v += k;
    }
    if (v < e) memcpy(out + o, "...", 3), o += 3;
    out[o] = 0;
}

static void add_error(ursa_ndjson_t *p, int column, const char *reason)
{
    ursa_row_error_t e = {.row = p->records, .line = p->lines, .column = column, .reason = reason};
    const ursa_field_t *f = column >= 0 ? &p->schema->fields[column] : NULL;
    if (f) memcpy(e.column_name, f->name, f->name_len + 1); /* at most URSA_NAME_MAX bytes */
    if (p->err_value) copy_value(e.value, p->err_value, p->err_value_len);
    if (p->err_rule[0]) {
        memcpy(e.rule, p->err_rule, sizeof(e.rule));
    } else if (reason == R_TOO_LONG && f) {
        snprintf(e.rule, sizeof(e.rule), "max_length %u", f->max_length);
    } else if ((reason == R_MISSING || reason == R_NULL) && f) {
        snprintf(e.rule, sizeof(e.rule), "nullable false");
    } else if (reason == R_TOO_DEEP) {
        snprintf(e.rule, sizeof(e.rule), "max_depth %d", URSA_MAX_DEPTH);
    } else if (reason == R_TOO_LARGE) {
        snprintf(e.rule, sizeof(e.rule), "max_record %zu bytes", p->max_record);
    } else if (f && reason != R_DUP && p->err_value) {
        if (f->type == URSA_TYPE_DECIMAL)
            snprintf(e.rule, sizeof(e.rule), "type decimal(%u,%u)", f->precision, f->scale);
        else
            snprintf(e.rule, sizeof(e.rule), "type %s", ursa_type_name(f->type));
    }
    p->err_value = NULL;
    p->err_value_len = 0;
    p->err_rule[0] = 0;
    p->rejected++;
    if (p->nerrors < URSA_ERRORS_LISTED)
        p->errors[p->nerrors++] = e; /* without raw: it does not outlive us */
    e.raw = p->raw;
    e.raw_len = p->raw_len;
    e.raw_truncated = p->raw_cut;
    p->raw = NULL;
    p->raw_len = 0;
    p->raw_cut = false;
    if (p->on_error) p->on_error(p->on_error_ctx, &e);
}

/* An unknown field in a dataset whose schema evolves: adds it as a
 * nullable column of this scanner, of the type its value suggests (string,
 * int64 for integers, float64 for other numbers, bool, json for objects and
 * arrays), and sets *f to it. A null value adds nothing (no type to give). */
static const char *evolve_field(ursa_ndjson_t *p, cur_t k, size_t kn, cur_t v, cur_t end, int *f)
{
    ursa_type_t t;
    cur_t e;
    switch (*v) {
    case '"':
        t = URSA_TYPE_STRING;
        break;
    case 't':
    case 'f':
        t = URSA_TYPE_BOOL;
        break;
    case '{':
    case '[':
        t = URSA_TYPE_JSON;
        break;
    default:
        if (!scan_number(v, end, &e)) return NULL; /* not a value: the caller reports it */
        t = URSA_TYPE_INT64;
        for (cur_t q = v; q < e; q++)
            if (*q == '.' || *q == 'e' || *q == 'E') t = URSA_TYPE_FLOAT64;
    }
    int rc = ursa_ndjson_add_field(p, (const char *)k, kn, t, f);
    if (rc == URSA_EINVAL || rc == URSA_ELIMIT) {
        p->err_value = k;
        p->err_value_len = kn;
        if (rc == URSA_ELIMIT)
            set_rule(p, "columns max %d", URSA_COLUMNS_MAX);
        else
            set_rule(p, "unknown_fields evolve");
        return rc == URSA_ELIMIT
                   ? "the dataset has the most columns a schema may have"
                   : "field name cannot be a column name (must match [a-z][a-z0-9_]*, at most 128 "
                     "bytes)";
    }
    return rc ? R_NOMEM : NULL;
}

static void drop_fields(ursa_ndjson_t *p, size_t n);

/* Parses the object at [s, end). Returns NULL or the reason; *col is the
 * field the failure concerns, or -1. */
static const char *parse_object(ursa_ndjson_t *p, cur_t s, cur_t end, int *col)
{
    const ursa_schema_t *sc = p->schema;
    ursa_batch_t *b = p->batch;
    uint32_t gen = ++p->gen;
    if (URSA_UNLIKELY(gen == 0)) { /* wrapped: forget every old generation */
        memset(p->seen, 0, p->nfields * sizeof(*p->seen));
        gen = p->gen = 1;
    }
    *col = -1;
    s = skip_ws(s, end);
    if (*s != '{') {
        cur_t t = s;
        return skip_value(&t, end) ? R_MALFORMED : (skip_ws(t, end) == end ? R_NOT_OBJECT : R_MALFORMED);
    }
    s = skip_ws(s + 1, end);
    p->guess = p->first;
    int prev = -1;
    if (s < end && *s == '}') {
        s++;
        goto done;
    }
    for (;;) {
        if (s >= end || *s != '"') return R_MALFORMED;
        int f;
        cur_t after, k = NULL;
        size_t kn = 0;
        const char *r;
        if ((size_t)p->guess < p->nfields && (after = match_key(p, p->guess, s, end))) {
            f = p->guess;
        } else {
            cur_t close;
            if ((r = read_string(p, s, end, &k, &kn, &close))) return r;
            f = lookup(p, k, kn);
            after = close + 1;
        }
        s = skip_ws(after, end);
        if (s >= end || *s != ':') return R_MALFORMED;
        s = skip_ws(s + 1, end);
        if (s >= end) return R_MALFORMED;
        if (f < 0 && p->evolving && *s != 'n') {
            if ((r = evolve_field(p, k, kn, s, end, &f))) return r;
        }
        if (f < 0) {
            if (sc->reject_unknown) {
                p->err_value = k;
                p->err_value_len = kn;
                set_rule(p, "unknown_fields reject");
                return "field not in the schema (the dataset rejects unknown fields)";
            }
            if ((r = skip_value(&s, end))) return r;
        } else {
            *col = f;
            if (p->seen[f] == gen) return R_DUP;
            p->seen[f] = gen;
            cur_t v0 = s;
            r = parse_fast(p, &sc->fields[f], &b->cols[f], &s, end);
            if (r == NOT_FAST) r = parse_field(p, &sc->fields[f], &b->cols[f], &s, end);
            if (r) {
                /* The value as sent, for the error: up to its end, not
                 * into the fields after it (value_end). */
                p->err_value = v0;
                p->err_value_len = (size_t)(value_end(v0, end) - v0);
                return r;
            }
            /* The order of this record predicts the next one's: producers
             * that build objects from maps keep an order, not the schema's. */
            if (prev < 0)
                p->first = f;
            else
                p->heads[prev].follow = f + 1;
            prev = f;
            p->guess = p->heads[f].follow ? p->heads[f].follow - 1 : f + 1;
            *col = -1;
        }
        s = skip_ws(s, end);
        if (s >= end) return R_MALFORMED;
        if (*s == '}') {
            s++;
            break;
        }
        if (*s != ',') return R_MALFORMED;
        s = skip_ws(s + 1, end);
    }
done:
    if (skip_ws(s, end) != end) return R_TRAILING;
    for (size_t i = 0; i < p->nfields; i++) {
        if (p->seen[i] == gen) continue;
        if (p->has_defaults && ursa_column_valid(&p->defaults.cols[i], 0)) {
            uint32_t zero = 0;
            if (ursa_column_take(&b->cols[i], &p->defaults.cols[i], &zero, 1)) return R_NOMEM;
            continue;
        }
        if (!sc->fields[i].nullable) {
            *col = (int)i;
            return R_MISSING;
        }
        if (ursa_column_append_null(&b->cols[i])) return R_NOMEM;
    }
    return NULL;
}

int ursa_ndjson_record(ursa_ndjson_t *p, const char *line, size_t n)
{
    p->lines++;
    if (n && line[n - 1] == '\r') n--; /* CRLF line ends */
    cur_t s = (cur_t)line, end = s + n;
    if (skip_ws(s, end) == end) return URSA_OK; /* a blank line is not a record */
    p->records++;
    p->rec_fields = p->nfields;
    int col;
    const char *r = parse_object(p, s, end, &col);
    if (URSA_LIKELY(!r)) {
        p->batch->nrows++;
        return URSA_OK;
    }
    ursa_batch_truncate(p->batch, p->batch->nrows);
    if (r == R_NOMEM) {
        p->err_value = NULL;
        p->err_rule[0] = 0;
        return URSA_ENOMEM;
    }
    p->raw = line;
    p->raw_len = n;
    add_error(p, col, r);
    /* The fields it brought go with it: a refused record adds no column and
     * uses up none of the room a later record may need. */
    if (p->nfields > p->rec_fields) drop_fields(p, p->rec_fields);
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Streaming
 * ------------------------------------------------------------------------- */

/* The fast-path key head of field i (see match_key). */
static void set_head(ursa_ndjson_t *p, size_t i)
{
    const ursa_field_t *f = &p->schema->fields[i];
    uint8_t head[8] = {0}, mask[8] = {0};
    bool plain = true;
    for (size_t k = 0; k < f->name_len; k++) {
        unsigned char ch = (unsigned char)f->name[k];
        plain &= ch >= 0x20 && ch != '"' && ch != '\\';
    }
    for (size_t k = 0; k < 8 && k <= f->name_len; k++) {
        head[k] = k < f->name_len ? (uint8_t)f->name[k] : '"';
        mask[k] = 0xff;
    }
    memcpy(&p->heads[i].head, head, 8);
    memcpy(&p->heads[i].mask, mask, 8);
    p->heads[i].plain = plain;
}

/* Adds name nm of field i to the table (which has room for it). */
static void add_name_ent(ursa_ndjson_t *p, const char *nm, size_t i)
{
    size_t e = p->nnames++;
    p->names[e] = (struct ursa_name_ent){nm, strlen(nm), (int)i};
    uint32_t k = name_hash((const unsigned char *)nm, p->names[e].n) & p->slot_mask;
    while (p->slots[k] >= 0) k = (k + 1) & p->slot_mask;
    p->slots[k] = (int32_t)e;
}

/* (Re)builds the table of names and aliases of fields [0, p->nfields). It
 * allocates only when the table must grow (then with room for as many again,
 * so fields added one by one cost amortized O(1)); for fewer fields than
 * before it cannot fail. On failure the old table is still in place. */
static int build_names(ursa_ndjson_t *p)
{
    const ursa_schema_t *s = p->schema;
    size_t nnames = 0;
    for (size_t i = 0; i < p->nfields; i++) nnames += 1 + s->fields[i].naliases;
    uint32_t nslots = 8;
    while (nslots < 2 * nnames) nslots *= 2;
    bool grow =
        nnames > p->names_cap || p->nfields + 1 > p->heads_cap || !p->slots || nslots > p->slot_mask + 1;
    if (grow) {
        size_t ncap = nnames + nnames / 2 + 8, hcap = p->nfields + p->nfields / 2 + 8;
        while (nslots < 2 * ncap) nslots *= 2;
        struct ursa_name_ent *names = ursa_calloc(ncap, sizeof(*names));
        int32_t *slots = ursa_malloc(nslots * sizeof(*slots));
        struct ursa_key_head *heads = ursa_calloc(hcap, sizeof(*heads));
        if (!names || !slots || !heads) {
            ursa_free(names);
            ursa_free(slots);
            ursa_free(heads);
            return URSA_ENOMEM;
        }
        ursa_free(p->names);
        ursa_free(p->slots);
        ursa_free(p->heads);
        p->names = names;
        p->slots = slots;
        p->heads = heads;
        p->names_cap = ncap;
        p->heads_cap = hcap;
        p->slot_mask = nslots - 1;
    }
    memset(p->heads, 0, p->heads_cap * sizeof(*p->heads));
    memset(p->slots, 0xff, ((size_t)p->slot_mask + 1) * sizeof(*p->slots));
    p->nnames = 0;
    for (size_t i = 0; i < p->nfields; i++) {
        set_head(p, i);
        for (size_t a = 0; a <= s->fields[i].naliases; a++)
            add_name_ent(p, a ? s->fields[i].aliases[a - 1] : s->fields[i].name, i);
    }
    return URSA_OK;
}

/* Takes field p->nfields - 1 (just added, no aliases) into the table. */
static int add_name(ursa_ndjson_t *p)
{
    size_t i = p->nfields - 1;
    if (p->nnames + 1 > p->names_cap || i + 2 > p->heads_cap ||
        2 * (p->nnames + 1) > (size_t)p->slot_mask + 1)
        return build_names(p);
    set_head(p, i);
    add_name_ent(p, p->schema->fields[i].name, i);
    return URSA_OK;
}

/* Drops this scanner's fields [n, p->nfields) with their columns (a refused
 * record's). Allocates nothing, so it cannot fail. */
static void drop_fields(ursa_ndjson_t *p, size_t n)
{
    size_t had = p->nfields;
    assert(p->evolving && n >= p->base && n <= had);
    ursa_batch_narrow(p->batch, n);
    if (p->has_defaults) ursa_batch_narrow(&p->defaults, n);
    p->own.nfields = p->nfields = n;
    int rc = build_names(p); /* before the names it pointed to are freed */
    assert(rc == URSA_OK);
    (void)rc;
    for (size_t i = n; i < had; i++) {
        ursa_free(p->own.fields[i].name);
        memset(&p->own.fields[i], 0, sizeof(p->own.fields[i]));
    }
}

int ursa_ndjson_evolve(ursa_ndjson_t *p)
{
    const ursa_schema_t *sh = p->shared;
    if (!sh->evolve || p->evolving) return URSA_OK;
    size_t n = p->nfields, cap = 2 * n + 8;
    if (cap > URSA_COLUMNS_MAX) cap = n > URSA_COLUMNS_MAX ? n : URSA_COLUMNS_MAX;
    ursa_field_t *fields = ursa_calloc(cap, sizeof(*fields));
    uint32_t *seen = fields ? ursa_realloc(p->seen, (cap + 1) * sizeof(*seen)) : NULL;
    if (!seen) {
        ursa_free(fields);
        return URSA_ENOMEM;
    }
    p->seen = seen; /* room for every field the view can hold */
    /* Shallow copies: the dataset's fields never move or change. Fields it
     * gains later are not taken in: their indices are this scanner's own. */
    memcpy(fields, sh->fields, n * sizeof(*fields));
    memset(&p->own, 0, sizeof(p->own));
    p->own.fields = fields;
    p->own.nfields = n;
    p->own.time_column = sh->time_column;
    p->own.flush = sh->flush;
    p->own.reject_unknown = sh->reject_unknown;
    p->own.evolve = true;
    p->own_cap = cap;
    p->base = p->rec_fields = n;
    p->schema = &p->own; /* the names table points at the same strings */
    p->evolving = true;
    return URSA_OK;
}

int ursa_ndjson_add_field(ursa_ndjson_t *p, const char *name, size_t n, ursa_type_t t, int *field)
{
    if (!p->evolving) return URSA_EINVAL;
    int f = lookup(p, (const unsigned char *)name, n); /* an alias need not be a column name */
    if (f >= 0) {
        *field = f;
        return URSA_OK;
    }
    if (!ursa_name_valid(name, n)) return URSA_EINVAL;
    size_t nf = p->nfields;
    if (nf >= URSA_COLUMNS_MAX) return URSA_ELIMIT;
    /* A field of that name that another request stored meanwhile lends its
     * type: rows of another type could not be stored. Its index is not
     * ours (ours follow our base), so only the type is taken. */
    const ursa_schema_t *sh = p->shared;
    size_t shn = ursa_schema_nfields(sh);
    for (size_t i = p->base; i < shn; i++)
        if (sh->fields[i].name_len == n && memcmp(sh->fields[i].name, name, n) == 0) {
            t = sh->fields[i].type;
            break;
        }
    if (nf == p->own_cap) {
        size_t cap = 2 * nf > URSA_COLUMNS_MAX ? URSA_COLUMNS_MAX : 2 * nf;
        uint32_t *seen = ursa_realloc(p->seen, (cap + 1) * sizeof(*seen));
        if (!seen) return URSA_ENOMEM;
        p->seen = seen;
        ursa_field_t *fields = ursa_realloc(p->own.fields, cap * sizeof(*fields));
        if (!fields) return URSA_ENOMEM;
        p->own.fields = fields;
        p->own_cap = cap;
    }
    p->seen[nf] = 0; /* never this record's generation */
    ursa_field_t *fd = &p->own.fields[nf];
    memset(fd, 0, sizeof(*fd));
    if (!(fd->name = ursa_malloc(n + 1))) return URSA_ENOMEM;
    memcpy(fd->name, name, n);
    fd->name[n] = '\0';
    fd->name_len = n;
    fd->type = t;
    fd->nullable = true;
    fd->unit = URSA_UNIT_US;
    fd->utc = true;
    int rc = URSA_OK;
    if (ursa_batch_widen(p->batch, &p->own, nf + 1) ||
        (p->has_defaults && ursa_batch_widen(&p->defaults, &p->own, nf + 1))) {
        rc = URSA_ENOMEM;
    } else {
        p->own.nfields = p->nfields = nf + 1;
        if ((rc = add_name(p))) p->own.nfields = p->nfields = nf; /* the old table is in place */
    }
    if (rc) {
        ursa_batch_narrow(p->batch, nf);
        if (p->has_defaults) ursa_batch_narrow(&p->defaults, nf);
        ursa_free(fd->name);
        memset(fd, 0, sizeof(*fd));
        return rc;
    }
    *field = (int)nf;
    return URSA_OK;
}

int ursa_ndjson_init(ursa_ndjson_t *p, const ursa_schema_t *s, ursa_batch_t *b, size_t max_record)
{
    return ursa_ndjson_init_err(p, s, b, max_record, NULL);
}

int ursa_ndjson_init_err(ursa_ndjson_t *p, const ursa_schema_t *s, ursa_batch_t *b, size_t max_record,
                         ursa_err_t *err)
{
    memset(p, 0, sizeof(*p));
    p->schema = p->shared = s;
    p->batch = b;
    /* The batch's view of a schema that may be gaining fields. */
    p->nfields = p->base = p->rec_fields = b->ncols;
    p->max_record = max_record ? max_record : URSA_MAX_RECORD_DEFAULT;
    bool defaults = false;
    for (size_t i = 0; i < p->nfields; i++) defaults |= s->fields[i].default_json != NULL;
    p->seen = ursa_calloc(p->nfields + 1, sizeof(*p->seen));
    if (!p->seen || build_names(p)) {
        ursa_ndjson_free(p);
        return URSA_ENOMEM;
    }
    if (defaults) {
        /* Parse each default once, as a value of its field, into a one-row batch. */
        int rc = ursa_batch_init(&p->defaults, s);
        p->has_defaults = rc == URSA_OK;
        if (rc == URSA_OK) ursa_batch_narrow(&p->defaults, p->nfields); /* s may have gained fields since b */
        for (size_t i = 0; i < p->nfields && rc == URSA_OK; i++) {
            const ursa_field_t *f = &s->fields[i];
            const char *r = NULL;
            if (!f->default_json) {
                rc = ursa_column_append_null(&p->defaults.cols[i]) ? URSA_ENOMEM : URSA_OK;
                continue;
            }
            cur_t d = (cur_t)f->default_json, dend = d + strlen(f->default_json);
            if ((r = parse_field(p, f, &p->defaults.cols[i], &d, dend)) || skip_ws(d, dend) != dend) {
                rc = ursa_err_set(err, URSA_EINVAL, "column \"%s\": the default %s does not fit: %s", f->name,
                                  f->default_json, r ? r : "trailing characters");
            }
        }
        p->err_value = NULL;
        p->err_rule[0] = 0;
        if (rc) {
            ursa_ndjson_free(p);
            return rc;
        }
        p->defaults.nrows = 1; /* so that columns added later get their null row too */
    }
    return URSA_OK;
}

void ursa_ndjson_free(ursa_ndjson_t *p)
{
    ursa_buf_free(&p->carry);
    ursa_buf_free(&p->scratch);
    ursa_buf_free(&p->bytes);
    ursa_buf_free(&p->text);
    ursa_free(p->seen);
    ursa_free(p->slots);
    ursa_free(p->names);
    ursa_free(p->heads);
    p->names = NULL;
    p->heads = NULL;
    p->names_cap = p->heads_cap = p->nnames = 0;
    if (p->evolving) {
        for (size_t i = p->base; i < p->own.nfields; i++) ursa_free(p->own.fields[i].name);
        ursa_free(p->own.fields);
        memset(&p->own, 0, sizeof(p->own));
        p->schema = p->shared;
        p->nfields = p->base;
        p->evolving = false;
    }
    if (p->has_defaults) ursa_batch_free(&p->defaults);
    p->has_defaults = false;
    p->seen = NULL;
    p->slots = NULL;
}

/* Carries a partial record over; an over-long one is rejected and skipped. */
static int carry(ursa_ndjson_t *p, const char *data, size_t n)
{
    if (p->carry.len + n > p->max_record) {
        p->skipping = true;
        p->records++;
        p->lines++;
        /* The quarantine keeps the record's first max_record bytes. */
        if (p->carry.len) {
            size_t more = p->max_record - p->carry.len;
            int rc = ursa_buf_append(&p->carry, data, more < n ? more : n);
            if (rc) return rc;
        }
        p->raw = p->carry.len ? (const char *)p->carry.data : data;
        p->raw_len = p->carry.len ? p->carry.len : (n < p->max_record ? n : p->max_record);
        p->raw_cut = true;
        add_error(p, -1, R_TOO_LARGE);
        p->carry.len = 0;
        return URSA_OK;
    }
    return ursa_buf_append(&p->carry, data, n);
}

int ursa_ndjson_feed(ursa_ndjson_t *p, const char *data, size_t n)
{
    const char *end = data + n;
    int rc;
    while (data < end) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        if (p->skipping) {
            if (!nl) return URSA_OK;
            p->skipping = false;
            data = nl + 1;
            continue;
        }
        if (!nl) return carry(p, data, (size_t)(end - data));
        if (p->carry.len) {
            if ((rc = carry(p, data, (size_t)(nl - data)))) return rc;
            if (p->skipping) { /* the record just overflowed; it ends here */
                p->skipping = false;
            } else {
                rc = ursa_ndjson_record(p, (const char *)p->carry.data, p->carry.len);
                p->carry.len = 0;
                if (rc) return rc;
            }
        } else if ((size_t)(nl - data) > p->max_record) {
            p->records++;
            p->lines++;
            p->raw = data;
            p->raw_len = p->max_record;
            p->raw_cut = true;
            add_error(p, -1, R_TOO_LARGE);
        } else if ((rc = ursa_ndjson_record(p, data, (size_t)(nl - data)))) {
            return rc;
        }
        data = nl + 1;
    }
    return URSA_OK;
}

int ursa_ndjson_finish(ursa_ndjson_t *p)
{
    int rc = URSA_OK;
    if (!p->skipping && p->carry.len) rc = ursa_ndjson_record(p, (const char *)p->carry.data, p->carry.len);
    p->carry.len = 0;
    p->skipping = false;
    return rc;
}
