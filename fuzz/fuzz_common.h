/*
 * fuzz_common.h -- helpers shared by the libFuzzer drivers (static, one
 * copy per driver): the schema with every column type, chunk cut points
 * derived from the input, the invariants every batch must keep, and a
 * fingerprint of a parse's outcome, so two ways of parsing the same body
 * can be compared byte for byte.
 */
#ifndef URSA_FUZZ_COMMON_H
#define URSA_FUZZ_COMMON_H

#include "ingest_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not every driver uses every helper. */
#define FZ_FN static __attribute__((unused))

/* Every column type, so each value parser is reached from the scanners. */
static const char FZ_SCHEMA[] __attribute__((unused)) =
    "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
    "{\"name\":\"i\",\"type\":\"int64\"},{\"name\":\"f\",\"type\":\"float64\"},"
    "{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"i8\",\"type\":\"int8\"},{\"name\":\"u64\",\"type\":\"uint64\"},"
    "{\"name\":\"f32\",\"type\":\"float32\"},{\"name\":\"d\",\"type\":\"decimal\",\"precision\":38,"
    "\"scale\":6},{\"name\":\"d9\",\"type\":\"decimal\",\"precision\":9,\"scale\":2},"
    "{\"name\":\"bin\",\"type\":\"binary\"},{\"name\":\"day\",\"type\":\"date\"},"
    "{\"name\":\"tod\",\"type\":\"time\"},{\"name\":\"ns\",\"type\":\"timestamp\",\"unit\":\"ns\","
    "\"utc\":false},{\"name\":\"id\",\"type\":\"uuid\"},{\"name\":\"j\",\"type\":\"json\"}],"
    "\"time_column\":\"ts\"}";

#define FZ_MAX_CUTS 16

/* Fills cuts[] with up to FZ_MAX_CUTS ascending positions in [0, n], drawn
 * by a xorshift generator seeded from the control byte `seed`: the fuzzer
 * picks the split pattern by mutating that byte, and the same input always
 * gives the same pieces (so a crash reproduces). Returns how many. */
FZ_FN size_t fz_cuts(uint8_t seed, size_t n, size_t cuts[FZ_MAX_CUTS])
{
    uint32_t x = 2463534242u ^ ((uint32_t)seed * 0x9e3779b9u) ^ (uint32_t)n;
    size_t k = 1 + seed % FZ_MAX_CUTS;
    for (size_t i = 0; i < k; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t c = n ? x % (n + 1) : 0;
        size_t j = i;
        for (; j > 0 && cuts[j - 1] > c; j--) cuts[j] = cuts[j - 1]; /* insertion sort */
        cuts[j] = c;
    }
    return k;
}

/* Aborts unless the batch is consistent: every column holds nrows values,
 * fixed-width buffers match, string offsets are monotone and end at the
 * data's length, non-nullable columns hold no null; rows plus rejected
 * records are all records; each listed error names a row that exists, in
 * order. */
FZ_FN void fz_check(const ursa_schema_t *s, const ursa_batch_t *b, const ursa_ndjson_t *st)
{
    for (size_t c = 0; c < b->ncols; c++) {
        const ursa_column_t *col = &b->cols[c];
        if (col->length != b->nrows) abort();
        if (!ursa_type_varlen(col->type) && col->type != URSA_TYPE_BOOL &&
            col->values.len != b->nrows * col->width)
            abort();
        if (ursa_type_varlen(col->type) && b->nrows) {
            const int64_t *off = (const int64_t *)(const void *)col->offsets.data;
            for (size_t i = 0; i < b->nrows; i++)
                if (off[i] > off[i + 1]) abort();
            if ((size_t)off[b->nrows] != col->data.len) abort();
        }
        if (!s->fields[c].nullable && col->null_count) abort();
        if (col->null_count > b->nrows) abort();
    }
    if (b->nrows + st->rejected != st->records) abort();
    if (st->nerrors > st->rejected) abort();
    for (size_t i = 0; i < st->nerrors; i++) {
        const ursa_row_error_t *e = &st->errors[i];
        if (e->row == 0 || e->row > st->records) abort();
        if (e->column < -1 || e->column >= (int)s->nfields || !e->reason) abort();
        if (i && e->row <= st->errors[i - 1].row) abort();
    }
}

/* The raw record texts handed to the error callback (what the quarantine
 * keeps), logged for comparison. */
typedef struct fz_raw {
    ursa_buf_t log;
    size_t max_record; /* no raw text may be longer */
    bool blanks;       /* strip blanks around it (NDJSON against array elements) */
    bool cut_bytes;    /* log the bytes of a truncated one too (else only that it was cut) */
} fz_raw_t;

/* on_error callback: checks the raw text and appends it to the log. */
FZ_FN void fz_on_error(void *ctx, const ursa_row_error_t *e)
{
    fz_raw_t *r = ctx;
    const char *s = e->raw;
    size_t n = e->raw_len;
    if (!s && n) abort();
    if (n > r->max_record) abort();
    if (r->blanks) {
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
        while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++, n--;
    }
    char head[64];
    snprintf(head, sizeof(head), "\n  raw of row %llu%s: ", (unsigned long long)e->row,
             e->raw_truncated ? " (truncated)" : "");
    if (ursa_buf_append(&r->log, head, strlen(head))) abort();
    if (n && (!e->raw_truncated || r->cut_bytes) && ursa_buf_append(&r->log, s, n)) abort();
}

/* Sets out to a fingerprint of the outcome: the counters and each listed
 * error (row, column, reason, value, rule; the line too when with_lines) as
 * text, the raw texts logged (when raw is not NULL), a NUL, then the
 * batch's bytes. */
FZ_FN void fz_fingerprint(const ursa_batch_t *b, const ursa_ndjson_t *st, bool with_lines,
                          const fz_raw_t *raw, ursa_buf_t *out)
{
    char line[160];
    out->len = 0;
    snprintf(line, sizeof(line), "rows %zu records %llu rejected %llu lines %llu", b->nrows,
             (unsigned long long)st->records, (unsigned long long)st->rejected,
             with_lines ? (unsigned long long)st->lines : 0ull);
    if (ursa_buf_append(out, line, strlen(line))) abort();
    for (size_t i = 0; i < st->nerrors; i++) {
        const ursa_row_error_t *e = &st->errors[i];
        snprintf(line, sizeof(line), "\n  row %llu line %llu column %d: ", (unsigned long long)e->row,
                 with_lines ? (unsigned long long)e->line : 0ull, e->column);
        if (ursa_buf_append(out, line, strlen(line)) || ursa_buf_append(out, e->reason, strlen(e->reason)))
            abort();
        /* The offending value and the rule, each a NUL-terminated text in its array. */
        if (!memchr(e->value, 0, sizeof(e->value)) || !memchr(e->rule, 0, sizeof(e->rule))) abort();
        if (ursa_buf_printf(out, " [value %s] [rule %s]", e->value, e->rule)) abort();
    }
    if (raw && raw->log.len && ursa_buf_append(out, raw->log.data, raw->log.len)) abort();
    if (ursa_buf_append(out, "", 1) || ursa_batch_encode(b, out)) abort();
}

/* Aborts, printing both outcomes, when two fingerprints differ. */
FZ_FN void fz_same(const ursa_buf_t *a, const ursa_buf_t *b, const char *what)
{
    if (a->len != b->len || memcmp(a->data, b->data, a->len)) {
        fprintf(stderr, "outcome differs (%s):\n%s\n--- versus ---\n%s\n", what, (const char *)a->data,
                (const char *)b->data);
        abort();
    }
}

#endif
