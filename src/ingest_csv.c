/*
 * ingest_csv.c -- the streaming CSV scanner.
 *
 * DESIGN
 *
 * One small state machine decides where fields and records end:
 *
 *   START     at the start of a field: '"' opens a quoted field (QUOTED),
 *             a delimiter ends an empty field, CR/LF ends the record, any
 *             other byte makes the field UNQUOTED;
 *   UNQUOTED  a delimiter ends the field, CR/LF the record; a '"' is a
 *             quoting error (noted, the byte is then treated as data);
 *   QUOTED    everything is data up to the next '"' (QUOTE); CR and LF
 *             only advance the line count;
 *   QUOTE     after a '"' inside a quoted field: '"' is an escaped quote
 *             (back to QUOTED), a delimiter or CR/LF ends the field or the
 *             record, anything else is a quoting error (then UNQUOTED).
 *
 * scan() runs that machine over a piece of input with a vectorizable search
 * for the next byte of interest (delimiter, '"', CR, LF; in QUOTED only '"',
 * CR, LF), records where each field ends (offsets from the record's start)
 * and stops at the record's terminator or at the end of the piece. Its
 * state lives in the scanner, so a record split across pieces is scanned
 * once: its bytes are appended to one carry buffer and the scan resumes in
 * the next piece. When the terminator is found the record is complete and
 * contiguous (in the input or in carry) and its fields are converted from
 * the recorded offsets without another search: a quoted field is the slice
 * between its quotes, copied to one scratch buffer only when it holds "".
 *
 * Invariants: a record handed to row() or header() is complete, holds no
 * line end outside quotes, and when qerr is NULL every field that starts
 * with '"' ends with '"' and holds only doubled quotes, and no unquoted
 * field holds a '"'. At most max_record + 1 bytes of a record are scanned
 * before it is declared too large, so carry never exceeds max_record.
 * Line numbers: CR, LF and CRLF each end one line, inside quotes as well;
 * prev_cr carries "the last byte was CR" across pieces so a CRLF split in
 * two is still one line end.
 *
 * Failure cases: row errors are recorded in the shared NDJSON state and the
 * row is rolled back; a bad header fails the body with a sticky status;
 * out of memory fails the call with URSA_ENOMEM (sticky as well).
 */
#include "ingest_csv.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FIELDS_MAX (1u << 20) /* fields in a header */

enum { ST_START, ST_UNQUOTED, ST_QUOTED, ST_QUOTE };

static const char R_QUOTE_IN_FIELD[] = "quote inside an unquoted field";
static const char R_AFTER_QUOTE[] = "characters after a closing quote";
static const char R_UNTERMINATED[] = "unterminated quoted field";
static const char R_FIELD_COUNT[] = "wrong number of fields";
static const char R_TOO_LARGE[] = "record larger than the maximum record size";
static const char R_NULL[] = "null in non-null column";
static const char R_MISSING_COL[] = "column missing from the CSV header";
#define R_NOMEM ursa_reason_nomem /* what ursa_append_text_field returns when memory ran out */

/* ---------------------------------------------------------------------------
 * Scanning
 * ------------------------------------------------------------------------- */

/* Returns the first byte of [s, e) equal to a, b, c or d, or e. */
static inline const char *find4(const char *s, const char *e, unsigned char a, unsigned char b,
                                unsigned char c, unsigned char d)
{
#if defined(__SSE2__)
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b);
    const __m128i vc = _mm_set1_epi8((char)c), vd = _mm_set1_epi8((char)d);
    while (e - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, vc), _mm_cmpeq_epi8(x, vd)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return s + __builtin_ctz(mask);
        s += 16;
    }
#endif
    for (; s < e; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == a || ch == b || ch == c || ch == d) return s;
    }
    return e;
}

/* Runs the record machine over [s, e), which starts `base` bytes after the
 * record's first byte. Returns the record's terminator (CR or LF, not
 * consumed) or NULL when the bytes ran out first. */
static const char *scan(ursa_csv_t *p, const char *s, const char *e, size_t base)
{
    const char *s0 = s;
    const unsigned char d = p->delim;
    unsigned st = p->st;
    while (s < e) {
        if (st == ST_QUOTED) {
            const char *q = find4(s, e, '"', '"', '\r', '\n');
            if (q == e) {
                s = e;
                break;
            }
            s = q + 1;
            if (*q == '"')
                st = ST_QUOTE;
            else if (*q == '\r' || !(q > s0 ? q[-1] == '\r' : p->prev_cr))
                p->line++; /* the LF of a CRLF is not another line end */
            continue;
        }
        unsigned char c = (unsigned char)*s;
        if (st == ST_QUOTE) {
            if (c == '"') { /* "" inside a quoted field */
                st = ST_QUOTED;
                s++;
                continue;
            }
            if (c != d && c != '\r' && c != '\n' && !p->qerr) p->qerr = R_AFTER_QUOTE;
            st = ST_UNQUOTED;
        } else if (st == ST_START && c == '"') {
            st = ST_QUOTED;
            s++;
            continue;
        }
        const char *q = find4(s, e, d, '"', '\r', '\n');
        if (q > s) st = ST_UNQUOTED;
        if (q == e) {
            s = e;
            break;
        }
        c = (unsigned char)*q;
        if (c == d) {
            size_t k = p->nfields - 1;
            if (k < p->ends_limit) p->ends[k] = (uint32_t)(base + (size_t)(q - s0));
            p->nfields++;
            st = ST_START;
        } else if (c == '"') {
            if (!p->qerr) p->qerr = R_QUOTE_IN_FIELD;
            st = ST_UNQUOTED;
        } else {
            p->st = st;
            return q;
        }
        s = q + 1;
    }
    p->st = st;
    if (s > s0) p->prev_cr = s[-1] == '\r';
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Cells
 * ------------------------------------------------------------------------- */

/* Sets *out and *outn to the text of the cell c[0..n): a quoted cell without
 * its quotes and with "" as ", copied to scratch only when it holds "".
 * Returns URSA_OK or URSA_ENOMEM. */
static int cell_text(ursa_csv_t *p, const char *c, size_t n, const char **out, size_t *outn, bool *quoted)
{
    *quoted = n && c[0] == '"';
    if (!*quoted) {
        *out = c;
        *outn = n;
        return URSA_OK;
    }
    assert(n >= 2 && c[n - 1] == '"');
    const char *s = c + 1, *e = c + n - 1;
    const char *q = memchr(s, '"', (size_t)(e - s));
    if (!q) {
        *out = s;
        *outn = (size_t)(e - s);
        return URSA_OK;
    }
    p->scratch.len = 0;
    if (ursa_buf_reserve(&p->scratch, (size_t)(e - s))) return URSA_ENOMEM;
    uint8_t *w = p->scratch.data;
    while (q) {
        assert(q + 1 < e && q[1] == '"');
        memcpy(w, s, (size_t)(q + 1 - s)); /* up to and with one quote */
        w += q + 1 - s;
        s = q + 2 < e ? q + 2 : e;
        q = memchr(s, '"', (size_t)(e - s));
    }
    memcpy(w, s, (size_t)(e - s));
    w += e - s;
    p->scratch.len = (size_t)(w - p->scratch.data);
    *out = (const char *)p->scratch.data;
    *outn = p->scratch.len;
    return URSA_OK;
}

/* Bounds of field k of a record of len bytes with nf fields. */
static inline void field_bounds(const ursa_csv_t *p, size_t k, size_t nf, size_t len, size_t *a, size_t *z)
{
    *a = k ? (size_t)p->ends[k - 1] + 1 : 0;
    *z = k + 1 < nf ? (size_t)p->ends[k] : len;
}

static inline bool is_null(const ursa_csv_t *p, const char *s, size_t n)
{
    if (!p->has_marker) return n == 0;
    return n == p->null_len && memcmp(s, p->null_marker, n) == 0;
}

static inline bool is_nomem(const char *r)
{
    return r == R_NOMEM;
}

/* ---------------------------------------------------------------------------
 * Header and rows
 * ------------------------------------------------------------------------- */

static int fail(ursa_csv_t *p, int code, const char *fmt, ...) URSA_PRINTF(3, 4);

/* Fails the body for a reason in its header. */
static int fail(ursa_csv_t *p, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ursa_err_set(&p->err, code, "CSV header (line %llu): %s", (unsigned long long)p->rec_line, msg);
    return p->status = code;
}

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The field of fields [0, nf) that has the alias txt[0..tn), or -1. */
static int find_alias(const ursa_schema_t *sc, size_t nf, const char *txt, size_t tn)
{
    for (size_t f = 0; f < nf; f++)
        for (size_t a = 0; a < sc->fields[f].naliases; a++)
            if (strlen(sc->fields[f].aliases[a]) == tn && !memcmp(sc->fields[f].aliases[a], txt, tn))
                return (int)f;
    return -1;
}

/* For a schema that evolves: every header field the scanner's schema lacks
 * becomes a nullable string column (a CSV cell carries no type; the type of
 * a column of that name another request stored meanwhile, if any) before the
 * header is matched. The columns are the request's own until its rows are
 * stored (see ingest_json.h): a header refused here adds nothing. */
static int evolve_header(ursa_csv_t *p, const char *rec, size_t len)
{
    ursa_ndjson_t *st = p->state;
    size_t n = p->nfields, old = st->nfields;
    for (size_t i = 0; i < n; i++) {
        size_t a, z, tn;
        const char *txt;
        bool quoted;
        int f;
        field_bounds(p, i, n, len, &a, &z);
        if (cell_text(p, rec + a, z - a, &txt, &tn, &quoted)) return p->status = URSA_ENOMEM;
        int rc = ursa_ndjson_add_field(st, txt, tn, URSA_TYPE_STRING, &f);
        int shown = tn < 64 ? (int)tn : 64; /* the cell is not NUL-terminated */
        if (rc == URSA_EINVAL)
            return fail(p, URSA_EFORMAT,
                        "field \"%.*s\" cannot become a column (names must match [a-z][a-z0-9_]*, at most %d "
                        "bytes)",
                        shown, txt, URSA_NAME_MAX);
        if (rc == URSA_ELIMIT)
            return fail(p, URSA_EFORMAT, "field \"%.*s\" would make more than %d columns", shown, txt,
                        URSA_COLUMNS_MAX);
        if (rc) return p->status = rc;
    }
    int32_t *pos = ursa_realloc(p->pos, (st->nfields + 1) * sizeof(*pos));
    if (pos) p->pos = pos;
    int32_t *missing = ursa_realloc(p->missing, (st->nfields + 1) * sizeof(*missing));
    if (missing) p->missing = missing;
    if (!pos || !missing) return p->status = URSA_ENOMEM;
    memset(p->pos + old, 0xff, (st->nfields + 1 - old) * sizeof(*p->pos));
    return URSA_OK;
}

/* Maps every header field to its schema field (map, pos, missing). */
static int match_header(ursa_csv_t *p, const char *rec, size_t len)
{
    size_t n = p->nfields;
    if (p->state->evolving) {
        int rc = evolve_header(p, rec, len);
        if (rc) return rc;
    }
    const ursa_schema_t *sc = p->state->schema; /* after evolve_header: it may have grown */
    size_t nf = p->state->nfields;              /* the batch's columns */
    uint32_t nslots = 8;
    while (nslots < 2 * nf) nslots *= 2;
    int32_t *slots = ursa_malloc(nslots * sizeof(*slots));
    if (!slots) return p->status = URSA_ENOMEM;
    memset(slots, 0xff, nslots * sizeof(*slots));
    for (size_t f = 0; f < nf; f++) {
        uint32_t k = name_hash(sc->fields[f].name, sc->fields[f].name_len) & (nslots - 1);
        while (slots[k] >= 0) k = (k + 1) & (nslots - 1);
        slots[k] = (int32_t)f;
    }
    int rc = URSA_OK;
    for (size_t i = 0; i < n; i++) {
        size_t a, z, tn;
        const char *txt;
        bool quoted;
        field_bounds(p, i, n, len, &a, &z);
        if (cell_text(p, rec + a, z - a, &txt, &tn, &quoted)) {
            rc = p->status = URSA_ENOMEM;
            goto out;
        }
        int f = -1;
        if (tn <= URSA_NAME_MAX) {
            for (uint32_t k = name_hash(txt, tn) & (nslots - 1); slots[k] >= 0; k = (k + 1) & (nslots - 1)) {
                const ursa_field_t *fd = &sc->fields[slots[k]];
                if (fd->name_len == tn && memcmp(fd->name, txt, tn) == 0) {
                    f = slots[k];
                    break;
                }
            }
        }
        if (f < 0 && tn <= URSA_NAME_MAX) f = find_alias(sc, nf, txt, tn);
        p->map[i] = f;
        if (f < 0) continue;
        if (p->pos[f] >= 0) {
            rc = fail(p, URSA_EFORMAT, "duplicate column \"%s\"", sc->fields[f].name);
            goto out;
        }
        p->pos[f] = (int32_t)i;
    }
    for (size_t f = 0; f < nf; f++) {
        if (p->pos[f] >= 0) continue;
        if (!sc->fields[f].nullable && p->missing_nonnull < 0) p->missing_nonnull = (int)f;
        p->missing[p->nmissing++] = (int32_t)f;
    }
out:
    ursa_free(slots);
    return rc;
}

/* Reads the header record: where its fields end, what they name. */
static int header(ursa_csv_t *p, const char *rec, size_t len)
{
    if (p->qerr) return fail(p, URSA_EFORMAT, "%s", p->qerr);
    size_t n = p->nfields;
    if (n > FIELDS_MAX) return fail(p, URSA_ELIMIT, "more than %u fields", FIELDS_MAX);
    p->ends = ursa_malloc(n * sizeof(*p->ends));
    p->map = ursa_malloc(n * sizeof(*p->map));
    if (!p->ends || !p->map) return p->status = URSA_ENOMEM;

    /* Scan the (complete) header again, now storing where fields end. */
    uint64_t line = p->line;
    bool prev_cr = p->prev_cr;
    p->st = ST_START;
    p->nfields = 1;
    p->ends_limit = n;
    const char *t = scan(p, rec, rec + len, 0);
    assert(!t && p->nfields == n && !p->qerr);
    (void)t;
    p->line = line;
    p->prev_cr = prev_cr;

    int rc = match_header(p, rec, len);
    if (rc) return rc;
    p->header_fields = n;
    p->header_done = true;
    return URSA_OK;
}

/* Converts one complete record into a row, or rejects it. */
static int row(ursa_csv_t *p, const char *rec, size_t len)
{
    ursa_ndjson_t *state = p->state;
    ursa_batch_t *b = state->batch;
    const ursa_field_t *fields = state->schema->fields;
    const char *r = NULL;
    int col = -1;
    state->lines = p->rec_line;
    ursa_ndjson_count_record(state);
    if (p->qerr) {
        r = p->qerr;
    } else if (p->nfields != p->header_fields) {
        r = R_FIELD_COUNT;
    } else if (p->missing_nonnull >= 0) {
        r = R_MISSING_COL;
        col = p->missing_nonnull;
    }
    if (r) {
        ursa_ndjson_reject_raw(state, col, r, rec, len, false);
        return URSA_OK;
    }
    size_t n = p->nfields, tn = 0;
    const char *txt = NULL;
    for (size_t k = 0; k < n && !r; k++) {
        int f = p->map[k];
        if (f < 0) continue;
        size_t a, z;
        bool quoted;
        field_bounds(p, k, n, len, &a, &z);
        if (cell_text(p, rec + a, z - a, &txt, &tn, &quoted)) {
            r = R_NOMEM;
        } else if (!quoted && is_null(p, txt, tn)) {
            if (!fields[f].nullable)
                r = R_NULL;
            else if (ursa_column_append_null(&b->cols[f]))
                r = R_NOMEM;
        } else {
            r = ursa_append_text_field(state, &fields[f], &b->cols[f], txt, tn);
        }
        col = f;
    }
    /* Nullable schema columns the header does not name. */
    for (size_t i = 0; i < p->nmissing && !r; i++)
        if (ursa_column_append_null(&b->cols[p->missing[i]])) r = R_NOMEM;
    if (URSA_LIKELY(!r)) {
        b->nrows++;
        return URSA_OK;
    }
    ursa_batch_truncate(b, b->nrows);
    if (is_nomem(r)) return URSA_ENOMEM;
    if (txt) {
        state->err_value = (const unsigned char *)txt; /* the cell, for the error's value */
        state->err_value_len = tn;
    }
    ursa_ndjson_reject_raw(state, col, r, rec, len, false);
    return URSA_OK;
}

/* A record passed max_record bytes: reject it (or fail on the header).
 * start[0..n) is the record's first part that is at hand (for the
 * quarantine). */
static int too_large(ursa_csv_t *p, const char *start, size_t n)
{
    if (!p->header_done) {
        return fail(p, URSA_ELIMIT, "longer than the maximum record size (%zu bytes)", p->max_record);
    }
    p->state->lines = p->rec_line;
    ursa_ndjson_count_record(p->state);
    /* The rule with this parser's limit (the scanner's may differ). */
    snprintf(p->state->err_rule, sizeof(p->state->err_rule), "max_record %zu bytes", p->max_record);
    ursa_ndjson_reject_raw(p->state, -1, R_TOO_LARGE, start, n, true);
    return URSA_OK;
}

static int record(ursa_csv_t *p, const char *rec, size_t len)
{
    return p->header_done ? row(p, rec, len) : header(p, rec, len);
}

/* ---------------------------------------------------------------------------
 * Streaming
 * ------------------------------------------------------------------------- */

static int feed_data(ursa_csv_t *p, const char *s, const char *e)
{
    int rc;
    while (s < e) {
        if (!p->in_record) {
            unsigned char c = (unsigned char)*s;
            if (c == '\n' || c == '\r') { /* an empty line, or the LF of a CRLF */
                if (c == '\r' || !p->prev_cr) p->line++;
                p->prev_cr = c == '\r';
                s++;
                continue;
            }
            p->in_record = true;
            p->carried = false;
            p->skipping = false;
            p->prev_cr = false;
            p->st = ST_START;
            p->nfields = 1;
            p->qerr = NULL;
            p->rec_line = p->line;
            p->carry.len = 0;
        }
        if (p->skipping) {
            const char *t = scan(p, s, e, 0);
            if (!t) return URSA_OK;
            p->line++;
            p->prev_cr = *t == '\r';
            p->in_record = p->skipping = false;
            s = t + 1;
            continue;
        }
        size_t have = p->carried ? p->carry.len : 0; /* <= max_record */
        size_t room = p->max_record - have + 1;
        const char *lim = (size_t)(e - s) > room ? s + room : e;
        const char *t = scan(p, s, lim, have);
        if (t) {
            const char *rec = s;
            size_t len = (size_t)(t - s);
            if (p->carried) {
                if ((rc = ursa_buf_append(&p->carry, s, len))) return rc;
                rec = (const char *)p->carry.data;
                len = p->carry.len;
            }
            p->line++;
            p->prev_cr = *t == '\r';
            p->in_record = false;
            rc = record(p, rec, len);
            p->carry.len = 0;
            p->carried = false;
            if (rc) return rc;
            s = t + 1;
            continue;
        }
        if (lim < e || have + (size_t)(e - s) > p->max_record) {
            if (p->carried) { /* the quarantine keeps the first max_record bytes */
                size_t more =
                    p->max_record - have < (size_t)(lim - s) ? p->max_record - have : (size_t)(lim - s);
                if ((rc = ursa_buf_append(&p->carry, s, more))) return rc;
            }
            if ((rc = p->carried
                          ? too_large(p, (const char *)p->carry.data, p->carry.len)
                          : too_large(p, s,
                                      (size_t)(lim - s) < p->max_record ? (size_t)(lim - s) : p->max_record)))
                return rc;
            p->skipping = true;
            p->carried = false;
            p->carry.len = 0;
            s = lim;
            continue;
        }
        if ((rc = ursa_buf_append(&p->carry, s, (size_t)(e - s)))) return rc;
        p->carried = true;
        return URSA_OK;
    }
    return URSA_OK;
}

/* Lines seen so far: complete ones, and the current one when it has bytes;
 * after a failure, the line of the record that failed. */
static void set_lines(ursa_csv_t *p)
{
    if (p->status) {
        p->state->lines = p->rec_line;
        return;
    }
    p->state->lines = p->line - 1 + (p->line_open ? 1 : 0);
}

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

int ursa_csv_feed(ursa_csv_t *p, const char *data, size_t n)
{
    const char *s = data, *e = data + n;
    int rc;
    if (p->status) return p->status;
    if (!p->started) {
        while (s < e && p->bom < 3 && (unsigned char)*s == BOM[p->bom]) {
            p->bom++;
            s++;
        }
        if (p->bom < 3 && s == e) { /* could still be a byte order mark */
            if (n) p->line_open = true;
            return URSA_OK;
        }
        p->started = true;
        if (p->bom < 3 && p->bom > 0) { /* it was not one: those bytes are data */
            if ((rc = feed_data(p, (const char *)BOM, (const char *)BOM + p->bom))) {
                p->status = rc;
                set_lines(p);
                return rc;
            }
        }
    }
    p->status = feed_data(p, s, e);
    if (n) p->line_open = data[n - 1] != '\r' && data[n - 1] != '\n';
    set_lines(p);
    return p->status;
}

int ursa_csv_finish(ursa_csv_t *p)
{
    int rc;
    if (p->status) return p->status;
    if (!p->started) {
        p->started = true;
        if (p->bom < 3 && (rc = feed_data(p, (const char *)BOM, (const char *)BOM + p->bom))) {
            p->status = rc;
            set_lines(p);
            return rc;
        }
    }
    if (p->in_record && !p->skipping) {
        if (p->st == ST_QUOTED && !p->qerr) p->qerr = R_UNTERMINATED;
        if ((rc = record(p, (const char *)p->carry.data, p->carry.len))) {
            p->status = rc;
            set_lines(p);
            return rc;
        }
    }
    set_lines(p);
    p->in_record = p->skipping = p->carried = false;
    p->carry.len = 0;
    return URSA_OK;
}

int ursa_csv_init(ursa_csv_t *p, ursa_ndjson_t *state, const ursa_csv_options_t *opt)
{
    memset(p, 0, sizeof(*p));
    unsigned char d = opt && opt->delimiter ? (unsigned char)opt->delimiter : ',';
    if (d == '"' || d == '\r' || d == '\n') return URSA_EINVAL;
    size_t max = opt && opt->max_record ? opt->max_record : URSA_MAX_RECORD_DEFAULT;
    if (max >= UINT32_MAX) return URSA_EINVAL; /* field offsets are 32-bit */
    if (opt && opt->null_marker && opt->null_marker[0]) {
        size_t ml = strlen(opt->null_marker);
        if (ml > sizeof(p->null_marker)) return URSA_EINVAL;
        /* A marker with these bytes could never be an unquoted cell. */
        for (size_t i = 0; i < ml; i++) {
            unsigned char c = (unsigned char)opt->null_marker[i];
            if (c == d || c == '"' || c == '\r' || c == '\n') return URSA_EINVAL;
        }
        memcpy(p->null_marker, opt->null_marker, ml);
        p->null_len = ml;
        p->has_marker = true;
    }
    p->delim = d;
    p->max_record = max;
    p->state = state;
    p->line = 1;
    p->missing_nonnull = -1;
    size_t nf = state->nfields;
    p->pos = ursa_malloc((nf + 1) * sizeof(*p->pos));
    p->missing = ursa_malloc((nf + 1) * sizeof(*p->missing));
    if (!p->pos || !p->missing) {
        ursa_csv_free(p);
        return URSA_ENOMEM;
    }
    memset(p->pos, 0xff, (nf + 1) * sizeof(*p->pos));
    return URSA_OK;
}

void ursa_csv_free(ursa_csv_t *p)
{
    ursa_buf_free(&p->carry);
    ursa_buf_free(&p->scratch);
    ursa_free(p->ends);
    ursa_free(p->map);
    ursa_free(p->pos);
    ursa_free(p->missing);
    p->missing = NULL;
    p->ends = NULL;
    p->map = NULL;
    p->pos = NULL;
}
