/*
 * libFuzzer driver for the JSON array splitter (src/ingest_body.c) and the
 * record scanner behind it. Input: a control byte that seeds up to 16 cut
 * points (fz_cuts), an options byte (bit 0: a small record limit of 64
 * bytes, so over-long elements are skipped across pieces), then the body.
 *
 * Two bodies are made of it and each is checked:
 *
 * 1. The body itself, as an application/json request through ursa_body:
 *    parsed whole, in the pieces between the cut points and (when short)
 *    byte by byte, which must agree exactly, down to the raw text of each
 *    rejected record handed to the error callback (what the quarantine
 *    keeps; an over-long one: its first max_record bytes). When jansson, an independent
 *    parser, reads the body as an array of N values, the splitter must see
 *    exactly N records and report no structural error; when jansson reads
 *    another JSON value, that is the one record, rejected.
 *
 * 2. A differential: the body's non-blank lines L1..Lk as NDJSON, and the
 *    array "[L1,L2,...,Lk]". When jansson accepts every line as one JSON
 *    value, the splitter must cut exactly at the commas put between them,
 *    so the array must give the same batch, counters, errors (row, column,
 *    reason) and raw texts (without the blanks around them; of an over-long
 *    record only that it was cut) as the NDJSON. Each line jansson finds
 *    malformed (a syntax, UTF-8 or truncation error, not one of its own
 *    limits) must be a rejected row in the NDJSON: the scanner accepts no
 *    broken JSON. And with the values one a line ("[\n L1,\n L2\n]"),
 *    every error must name the line its element starts on, as the user
 *    guide promises.
 */
#include "fuzz_common.h"
#include "ingest_body.h"

#include <jansson.h>

static ursa_schema_t schema;

/* Parses body as a JSON array request cut at cuts[0..ncuts) (ncuts ==
 * SIZE_MAX: byte by byte), checks the invariants, sets out to the
 * fingerprint and *records / *structural to what a caller can assert on. */
static void run_array(const char *body, size_t n, const size_t *cuts, size_t ncuts, size_t max_record,
                      bool differential, ursa_buf_t *out, uint64_t *records, bool *structural,
                      int line_of_row)
{
    fz_raw_t raw = {.max_record = max_record, .blanks = differential, .cut_bytes = !differential};
    ursa_batch_t b;
    ursa_ndjson_t scan;
    ursa_body_t in;
    ursa_err_t err;
    if (ursa_batch_init(&b, &schema) || ursa_ndjson_init(&scan, &schema, &b, max_record) ||
        ursa_body_init(&in, URSA_FMT_JSON_ARRAY, URSA_CE_IDENTITY, &scan, UINT64_MAX))
        abort();
    scan.on_error = fz_on_error;
    scan.on_error_ctx = &raw;
    /* Without a Content-Encoding the only failure is running out of memory. */
    if (ncuts == SIZE_MAX) {
        for (size_t i = 0; i < n; i++)
            if (ursa_body_feed(&in, body + i, 1, &err)) abort();
    } else {
        size_t at = 0;
        for (size_t i = 0; i <= ncuts; i++) {
            size_t to = i < ncuts ? cuts[i] : n;
            if (ursa_body_feed(&in, body + at, to - at, &err)) abort();
            at = to;
        }
    }
    if (ursa_body_finish(&in, &err)) abort();
    fz_check(&schema, &b, &scan);
    fz_fingerprint(&b, &scan, !differential, &raw, out);
    ursa_buf_free(&raw.log);
    /* line_of_row >= 0: the body puts record r on line r + line_of_row. */
    for (size_t i = 0; i < scan.nerrors && line_of_row >= 0; i++) {
        const ursa_row_error_t *e = &scan.errors[i];
        if (e->line != e->row + (uint64_t)line_of_row) {
            fprintf(stderr, "the error of row %llu names line %llu, the element starts on line %llu\n",
                    (unsigned long long)e->row, (unsigned long long)e->line,
                    (unsigned long long)(e->row + (uint64_t)line_of_row));
            abort();
        }
    }
    if (records) *records = scan.records;
    if (structural) {
        *structural = false;
        for (size_t i = 0; i < scan.nerrors; i++)
            if (strstr(scan.errors[i].reason, "JSON array")) *structural = true;
    }
    ursa_body_free(&in);
    ursa_ndjson_free(&scan);
    ursa_batch_free(&b);
}

/* Part 1: the body as it is. */
static void raw_body(const char *body, size_t n, const size_t *cuts, size_t ncuts, size_t max_record)
{
    ursa_buf_t whole = {0}, split = {0};
    uint64_t records;
    bool structural;
    run_array(body, n, NULL, 0, max_record, false, &whole, &records, &structural, -1);
    run_array(body, n, cuts, ncuts, max_record, false, &split, NULL, NULL, -1);
    fz_same(&whole, &split, "array whole versus cut in pieces");
    if (n <= 512) {
        run_array(body, n, NULL, SIZE_MAX, max_record, false, &split, NULL, NULL, -1);
        fz_same(&whole, &split, "array whole versus byte by byte");
    }
    json_error_t jerr;
    json_t *j = json_loadb(body, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (j && json_is_array(j)) {
        if (records != json_array_size(j) || structural) {
            fprintf(stderr, "a well-formed array of %zu values gave %llu records%s:\n%s\n",
                    json_array_size(j), (unsigned long long)records,
                    structural ? " and a structural error" : "", (const char *)whole.data);
            abort();
        }
    } else if (j) {
        if (records != 1 || !structural) abort(); /* one value, not an array: rejected as a whole */
    }
    json_decref(j);
    ursa_buf_free(&whole);
    ursa_buf_free(&split);
}

/* True when jansson's failure is malformed input, not one of jansson's own
 * limits (integers past int64, doubles past the range, nesting past 2048),
 * which the scanner need not share. An unpaired surrogate escape
 * ("\ud83d\uda00") fits the JSON grammar; jansson refuses it, the scanner
 * refuses it in a column's string but lets it pass in a field it ignores. */
static bool malformed(const json_error_t *e)
{
    if (strstr(e->text, "invalid Unicode")) return false;
    switch (json_error_code(e)) {
    case json_error_invalid_syntax:
    case json_error_invalid_utf8:
    case json_error_premature_end_of_input:
    case json_error_end_of_input_expected:
        return true;
    default:
        return false;
    }
}

/* Part 2: the lines as NDJSON and as the elements of an array. */
static void lines_differential(const char *body, size_t n, const size_t *cuts, size_t ncuts,
                               size_t max_record)
{
    ursa_buf_t nd = {0}, arr = {0}, arr2 = {0}, a = {0}, b = {0};
    uint8_t bad[4096 / 2 + 1]; /* per kept line: malformed per jansson (lines <= n/2 + 1) */
    size_t k = 0;
    bool all_valid = true;
    if (ursa_buf_append(&arr, "[", 1) || ursa_buf_append(&arr2, "[", 1)) abort();
    for (const char *s = body, *end = body + n; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        size_t len = (size_t)(e - s);
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++) blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\r';
        if (!blank) {
            json_error_t jerr;
            json_t *j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!j) all_valid = false;
            if (k < sizeof(bad)) bad[k] = !j && malformed(&jerr);
            json_decref(j);
            if ((k && (ursa_buf_append(&arr, ",", 1) || ursa_buf_append(&arr2, ",", 1))) ||
                ursa_buf_append(&arr2, "\n", 1) || ursa_buf_append(&arr2, s, len) ||
                ursa_buf_append(&arr, s, len) || ursa_buf_append(&nd, s, len) ||
                ursa_buf_append(&nd, "\n", 1))
                abort();
            k++;
        }
        s = nl ? nl + 1 : end;
    }
    if (ursa_buf_append(&arr, "]", 1) || ursa_buf_append(&arr2, "\n]", 2)) abort();

    ursa_batch_t batch;
    ursa_ndjson_t p;
    fz_raw_t raw = {.max_record = max_record, .blanks = true};
    if (ursa_batch_init(&batch, &schema) || ursa_ndjson_init(&p, &schema, &batch, max_record)) abort();
    p.on_error = fz_on_error;
    p.on_error_ctx = &raw;
    if ((nd.len && ursa_ndjson_feed(&p, (const char *)nd.data, nd.len)) || ursa_ndjson_finish(&p)) abort();
    fz_check(&schema, &batch, &p);
    if (p.records != k) abort();
    /* Every malformed line is a rejected row (checkable while all errors are listed). */
    if (p.rejected <= URSA_ERRORS_LISTED) {
        size_t e = 0;
        for (size_t i = 0; i < k && i < sizeof(bad); i++) {
            while (e < p.nerrors && p.errors[e].row < i + 1) e++;
            if (bad[i] && !(e < p.nerrors && p.errors[e].row == i + 1)) {
                fprintf(stderr, "line %zu is malformed JSON, yet the NDJSON scanner accepted it\n", i + 1);
                abort();
            }
        }
    }
    /* Line numbers are not compared: in an array `line` counts elements
     * differently (an over-long element does not advance it). */
    fz_fingerprint(&batch, &p, false, &raw, &a);
    ursa_buf_free(&raw.log);
    ursa_ndjson_free(&p);
    ursa_batch_free(&batch);

    if (all_valid) {
        size_t acuts[FZ_MAX_CUTS], nacuts = ncuts;
        for (size_t i = 0; i < ncuts; i++) acuts[i] = cuts[i] * arr.len / (n ? n : 1); /* spread over arr */
        run_array((const char *)arr.data, arr.len, acuts, nacuts, max_record, true, &b, NULL, NULL, -1);
        fz_same(&a, &b, "NDJSON lines versus the same values as a JSON array");
        /* One element a line, after "[": each error names its element's line. */
        run_array((const char *)arr2.data, arr2.len, NULL, 0, max_record, false, &b, NULL, NULL, 1);
    }
    ursa_buf_free(&nd);
    ursa_buf_free(&arr);
    ursa_buf_free(&arr2);
    ursa_buf_free(&a);
    ursa_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        ursa_err_t err;
        if (ursa_schema_parse(FZ_SCHEMA, strlen(FZ_SCHEMA), &schema, &err)) abort();
        ready = true;
    }
    if (size < 2 || size > 4096 + 2) return 0;
    const char *body = (const char *)data + 2;
    size_t n = size - 2;
    size_t max_record = data[1] & 1 ? 64 : 4096;
    size_t cuts[FZ_MAX_CUTS];
    size_t ncuts = fz_cuts(data[0], n, cuts);
    raw_body(body, n, cuts, ncuts, max_record);
    lines_differential(body, n, cuts, ncuts, max_record);
    return 0;
}
