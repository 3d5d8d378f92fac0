/*
 * ingest_json.c -- the schema-directed NDJSON scanner (see ingest_json.h).
 *
 * Design. A record is parsed in one pass. Values of known fields are
 * appended to their columns as they are met; at the end of the record each
 * field not seen gets a null (or the record fails when the field is not
 * nullable). Failure anywhere truncates every column back to the row count
 * before the record, so a bad record leaves no trace. Strings are scanned
 * 16 bytes at a time (SSE2) for the closing quote, a backslash, a control
 * character or a non-ASCII byte; only the latter three leave the fast loop.
 * UTF-8 is validated byte-exactly (no overlongs, no surrogates, <= U+10FFFF).
 * Values of unknown fields are validated and skipped with an explicit depth
 * counter and a bit stack, so hostile nesting cannot exhaust the C stack.
 */
#include "ingest_json.h"

#include "coerce.h"

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
static const char R_NOMEM[] = "out of memory";
static const char R_NONFINITE[] = "NaN and Infinity are not JSON numbers";

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

static int hexval(unsigned c)
{
    if (c - '0' <= 9) return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' <= 5) return (int)(c - 'a' + 10);
    return -1;
}

static bool hex4(cur_t s, cur_t end, unsigned *out)
{
    if (end - s < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0) return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

/*
 * Scans a string whose opening quote is at s[-1]. On success *close points
 * at the closing quote and *esc tells whether a backslash occurred.
 */
static const char *scan_string(cur_t s, cur_t end, cur_t *close, bool *esc)
{
    for (;;) {
#ifdef __SSE2__
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
        while (end - s >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
            /* Signed compare: bytes >= 0x80 are negative, so < 0x20 too. */
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                     _mm_cmplt_epi8(v, sp));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            if (mask) {
                s += __builtin_ctz(mask);
                goto slow;
            }
            s += 16;
        }
#endif
        if (s >= end) return R_UNTERMINATED;
#ifdef __SSE2__
    slow :
#endif
    {
        unsigned c = *s;
        if (c == '"') {
            *close = s;
            return NULL;
        }
        if (c == '\\') {
            *esc = true;
            if (++s >= end) return R_UNTERMINATED;
            switch (*s) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                s++;
                break;
            case 'u': {
                unsigned u;
                if (!hex4(s + 1, end, &u)) return R_BAD_ESC;
                s += 5;
                break;
            }
            default:
                return R_BAD_ESC;
            }
        } else if (c < 0x20) {
            return R_CTRL;
        } else if (c >= 0x80) {
            size_t k = utf8_len(s, end);
            if (!k) return R_BAD_UTF8;
            s += k;
        } else {
            s++;
        }
    }
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

/* Unescapes the already-validated string body [s, close) into out. */
static const char *unescape(cur_t s, cur_t close, ursa_buf_t *out)
{
    out->len = 0;
    if (ursa_buf_reserve(out, (size_t)(close - s))) return R_NOMEM;
    unsigned char *o = out->data;
    while (s < close) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        unsigned c = *s++;
        switch (c) {
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
            unsigned cp = 0, lo = 0;
            (void)hex4(s, close, &cp);
            s += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return R_SURROGATE;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (close - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, close, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return R_SURROGATE;
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* A \u escape (6 bytes, or 12 for a pair) never expands. */
            o += put_utf8(o, cp);
            break;
        }
        default: /* " \ / */
            *o++ = (unsigned char)c;
        }
    }
    out->len = (size_t)(o - out->data);
    return NULL;
}

/* Reads the string whose opening quote is at s: *v, *n are its bytes,
 * unescaped into p->scratch when it has escapes (valid until the next
 * call), and *close is its closing quote. */
static const char *read_string(ursa_ndjson_t *p, cur_t s, cur_t end, cur_t *v, size_t *n, cur_t *close)
{
    bool esc = false;
    const char *r = scan_string(s + 1, end, close, &esc);
    if (r) return r;
    if (!esc) {
        *v = s + 1;
        *n = (size_t)(*close - *v);
        return NULL;
    }
    if ((r = unescape(s + 1, *close, &p->scratch))) return r;
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

/* ---------------------------------------------------------------------------
 * Field lookup: first the field after the previous one, then a hash table.
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
    if ((size_t)g < sc->nfields && sc->fields[g].name_len == n && memcmp(sc->fields[g].name, k, n) == 0)
        return g;
    for (uint32_t i = name_hash(k, n) & p->slot_mask;; i = (i + 1) & p->slot_mask) {
        int32_t f = p->slots[i];
        if (f < 0) return -1;
        if (sc->fields[f].name_len == n && memcmp(sc->fields[f].name, k, n) == 0) return f;
    }
}

/* ---------------------------------------------------------------------------
 * Typed values
 * ------------------------------------------------------------------------- */

static const char *type_mismatch(ursa_type_t t, unsigned c)
{
    static const char *const got[][5] = {
        /* bool, int64, float64, string, timestamp */
        {"", "expected int64, got a string", "expected float64, got a string", "", ""},
        {"expected bool, got a number", "", "", "expected string, got a number",
         "expected timestamp string, got a number"},
        {"expected bool, got an object or array", "expected int64, got an object or array",
         "expected float64, got an object or array", "expected string, got an object or array",
         "expected timestamp string, got an object or array"},
        {"", "expected int64, got a bool", "expected float64, got a bool", "expected string, got a bool",
         "expected timestamp string, got a bool"},
    };
    int k = c == '"' ? 0 : (c == '{' || c == '[') ? 2 : (c == 't' || c == 'f') ? 3 : 1;
    const char *r = got[k][t];
    if (!*r) {
        if (t == URSA_TYPE_BOOL) return "expected bool, got a string";
        return R_MALFORMED;
    }
    return r;
}

/* Parses the value at *ps for field f and appends it to column c. */
static const char *parse_field(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, cur_t *ps,
                               cur_t end)
{
    cur_t s = *ps;
    unsigned ch = *s;
    if (ch == 'n') {
        if (!match_lit(s, end, "null", 4)) return R_MALFORMED;
        if (!f->nullable) return R_NULL;
        *ps = s + 4;
        return ursa_column_append_null(c) ? R_NOMEM : NULL;
    }
    switch (f->type) {
    case URSA_TYPE_INT64:
    case URSA_TYPE_FLOAT64: {
        if (ch != '-' && (ch - '0') > 9) {
            if (ch == '"' || ch == '{' || ch == '[' || ch == 't' || ch == 'f') {
                /* Make sure the rest is valid JSON so the reason is right. */
                cur_t t = s;
                if (skip_value(&t, end)) return R_MALFORMED;
                return type_mismatch(f->type, ch);
            }
            return ch == 'N' || ch == 'I' ? R_NONFINITE : R_MALFORMED;
        }
        cur_t e;
        if (!scan_number(s, end, &e)) return end - s > 1 && s[1] == 'I' ? R_NONFINITE : "malformed number";
        const char *r;
        if (f->type == URSA_TYPE_INT64) {
            int64_t v;
            if ((r = ursa_parse_i64((const char *)s, (size_t)(e - s), &v))) return r;
            if (ursa_column_append_i64(c, v)) return R_NOMEM;
        } else {
            double v;
            if ((r = ursa_parse_f64((const char *)s, (size_t)(e - s), &v))) return r;
            if (ursa_column_append_f64(c, v)) return R_NOMEM;
        }
        *ps = e;
        return NULL;
    }
    case URSA_TYPE_BOOL:
        if (ch == 't' && match_lit(s, end, "true", 4)) {
            *ps = s + 4;
            return ursa_column_append_bool(c, true) ? R_NOMEM : NULL;
        }
        if (ch == 'f' && match_lit(s, end, "false", 5)) {
            *ps = s + 5;
            return ursa_column_append_bool(c, false) ? R_NOMEM : NULL;
        }
        break;
    case URSA_TYPE_STRING:
    case URSA_TYPE_TIMESTAMP: {
        if (ch != '"') break;
        cur_t close, v;
        size_t n;
        const char *r = read_string(p, s, end, &v, &n, &close);
        if (r) return r;
        if (f->type == URSA_TYPE_STRING) {
            if (ursa_column_append_str(c, v, n)) return R_NOMEM;
        } else {
            int64_t us;
            if ((r = ursa_parse_timestamp((const char *)v, n, &us))) return r;
            if (ursa_column_append_i64(c, us)) return R_NOMEM;
        }
        *ps = close + 1;
        return NULL;
    }
    }
    cur_t t = s;
    if (skip_value(&t, end)) return R_MALFORMED;
    return type_mismatch(f->type, ch);
}

/* ---------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------- */

static void add_error(ursa_ndjson_t *p, int column, const char *reason)
{
    p->rejected++;
    if (p->nerrors < URSA_ERRORS_LISTED) {
        ursa_row_error_t *e = &p->errors[p->nerrors++];
        e->row = p->records;
        e->column = column;
        e->reason = reason;
    }
}

/* Parses the object at [s, end). Returns NULL or the reason; *col is the
 * field the failure concerns, or -1. */
static const char *parse_object(ursa_ndjson_t *p, cur_t s, cur_t end, int *col)
{
    const ursa_schema_t *sc = p->schema;
    ursa_batch_t *b = p->batch;
    uint32_t gen = ++p->gen;
    if (URSA_UNLIKELY(gen == 0)) { /* wrapped: forget every old generation */
        memset(p->seen, 0, sc->nfields * sizeof(*p->seen));
        gen = p->gen = 1;
    }
    *col = -1;
    s = skip_ws(s, end);
    if (*s != '{') {
        cur_t t = s;
        return skip_value(&t, end) ? R_MALFORMED : (skip_ws(t, end) == end ? R_NOT_OBJECT : R_MALFORMED);
    }
    s = skip_ws(s + 1, end);
    p->guess = 0;
    if (s < end && *s == '}') {
        s++;
        goto done;
    }
    for (;;) {
        if (s >= end || *s != '"') return R_MALFORMED;
        cur_t close, k;
        size_t kn;
        const char *r = read_string(p, s, end, &k, &kn, &close);
        if (r) return r;
        int f = lookup(p, k, kn);
        s = skip_ws(close + 1, end);
        if (s >= end || *s != ':') return R_MALFORMED;
        s = skip_ws(s + 1, end);
        if (s >= end) return R_MALFORMED;
        if (f < 0) {
            if ((r = skip_value(&s, end))) return r;
        } else {
            *col = f;
            if (p->seen[f] == gen) return R_DUP;
            p->seen[f] = gen;
            if ((r = parse_field(p, &sc->fields[f], &b->cols[f], &s, end))) return r;
            p->guess = f + 1;
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
    for (size_t i = 0; i < sc->nfields; i++) {
        if (p->seen[i] == gen) continue;
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
    if (n && line[n - 1] == '\r') n--; /* CRLF line ends */
    cur_t s = (cur_t)line, end = s + n;
    if (skip_ws(s, end) == end) return URSA_OK; /* a blank line is not a record */
    p->records++;
    int col;
    const char *r = parse_object(p, s, end, &col);
    if (URSA_LIKELY(!r)) {
        p->batch->nrows++;
        return URSA_OK;
    }
    ursa_batch_truncate(p->batch, p->batch->nrows);
    if (r == R_NOMEM) return URSA_ENOMEM;
    add_error(p, col, r);
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Streaming
 * ------------------------------------------------------------------------- */

int ursa_ndjson_init(ursa_ndjson_t *p, const ursa_schema_t *s, ursa_batch_t *b, size_t max_record)
{
    memset(p, 0, sizeof(*p));
    p->schema = s;
    p->batch = b;
    p->max_record = max_record ? max_record : URSA_MAX_RECORD_DEFAULT;
    p->seen = ursa_calloc(s->nfields + 1, sizeof(*p->seen));
    uint32_t nslots = 8;
    while (nslots < 2 * s->nfields) nslots *= 2;
    p->slots = ursa_malloc(nslots * sizeof(*p->slots));
    if (!p->seen || !p->slots) {
        ursa_ndjson_free(p);
        return URSA_ENOMEM;
    }
    memset(p->slots, 0xff, nslots * sizeof(*p->slots));
    p->slot_mask = nslots - 1;
    for (size_t i = 0; i < s->nfields; i++) {
        uint32_t h = name_hash((const unsigned char *)s->fields[i].name, s->fields[i].name_len);
        uint32_t k = h & p->slot_mask;
        while (p->slots[k] >= 0) k = (k + 1) & p->slot_mask;
        p->slots[k] = (int32_t)i;
    }
    return URSA_OK;
}

void ursa_ndjson_free(ursa_ndjson_t *p)
{
    ursa_buf_free(&p->carry);
    ursa_buf_free(&p->scratch);
    ursa_free(p->seen);
    ursa_free(p->slots);
    p->seen = NULL;
    p->slots = NULL;
}

/* Carries a partial record over; an over-long one is rejected and skipped. */
static int carry(ursa_ndjson_t *p, const char *data, size_t n)
{
    if (p->carry.len + n > p->max_record) {
        p->carry.len = 0;
        p->skipping = true;
        p->records++;
        add_error(p, -1, R_TOO_LARGE);
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
