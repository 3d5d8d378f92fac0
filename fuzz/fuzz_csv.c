/*
 * libFuzzer driver for the CSV scanner. The first byte picks where the
 * input is split in two pieces, the second the options (delimiter, null
 * marker, a small or a larger record limit). The body is parsed in one
 * piece, in two pieces, and (when short) byte by byte; all three must give
 * the same batch, counters and errors, and hand the same raw text of each
 * rejected record to the error callback (an over-long one: its first
 * max_record bytes). Invariants checked besides: every
 * column has exactly nrows values, string offsets are monotone and inside
 * the data, rows = records - rejected, every error names a row that exists,
 * and errors come in order of rows and lines.
 */
#include "fuzz_common.h"
#include "ingest_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SCHEMA[] =
    "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
    "{\"name\":\"i\",\"type\":\"int64\"},{\"name\":\"f\",\"type\":\"float64\"},"
    "{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"i8\",\"type\":\"int8\"},{\"name\":\"u64\",\"type\":\"uint64\"},"
    "{\"name\":\"f32\",\"type\":\"float32\"},{\"name\":\"d\",\"type\":\"decimal\",\"precision\":38,"
    "\"scale\":6},{\"name\":\"d9\",\"type\":\"decimal\",\"precision\":9,\"scale\":2},"
    "{\"name\":\"bin\",\"type\":\"binary\"},{\"name\":\"day\",\"type\":\"date\"},"
    "{\"name\":\"tod\",\"type\":\"time\"},{\"name\":\"ns\",\"type\":\"timestamp\",\"unit\":\"ns\","
    "\"utc\":false},{\"name\":\"id\",\"type\":\"uuid\"},{\"name\":\"j\",\"type\":\"json\"},"
    "{\"name\":\"n\",\"type\":\"string\",\"nullable\":false}],"
    "\"time_column\":\"ts\"}";

static ursa_schema_t schema;

/* Parses body in the pieces cut at cuts[0..ncuts) (ncuts == SIZE_MAX: one
 * byte at a time) and appends a fingerprint of the outcome to out. */
static void run(const char *body, size_t n, const size_t *cuts, size_t ncuts, const ursa_csv_options_t *o,
                ursa_buf_t *out)
{
    ursa_batch_t b;
    ursa_ndjson_t st;
    ursa_csv_t p;
    fz_raw_t raw = {.max_record = o->max_record, .cut_bytes = true};
    if (ursa_batch_init(&b, &schema) || ursa_ndjson_init(&st, &schema, &b, 0) || ursa_csv_init(&p, &st, o))
        abort();
    st.on_error = fz_on_error;
    st.on_error_ctx = &raw;
    int rc = URSA_OK;
    if (ncuts == SIZE_MAX) {
        for (size_t i = 0; i < n && !rc; i++) rc = ursa_csv_feed(&p, body + i, 1);
    } else {
        size_t at = 0;
        for (size_t i = 0; i <= ncuts && !rc; i++) {
            size_t to = i < ncuts ? cuts[i] : n;
            rc = ursa_csv_feed(&p, body + at, to - at);
            at = to;
        }
    }
    int rc2 = ursa_csv_finish(&p);
    if (rc && rc2 != rc) abort(); /* failures are sticky */
    if (rc2 != URSA_OK && rc2 != URSA_EFORMAT && rc2 != URSA_ELIMIT) abort();

    for (size_t c = 0; c < b.ncols; c++) {
        if (b.cols[c].length != b.nrows) abort();
        if (!ursa_type_varlen(b.cols[c].type) && b.cols[c].type != URSA_TYPE_BOOL &&
            b.cols[c].values.len != b.nrows * b.cols[c].width)
            abort();
        if (ursa_type_varlen(b.cols[c].type) && b.nrows) {
            const int64_t *off = (const int64_t *)(const void *)b.cols[c].offsets.data;
            for (size_t i = 0; i < b.nrows; i++)
                if (off[i] > off[i + 1]) abort();
            if ((size_t)off[b.nrows] != b.cols[c].data.len) abort();
        }
        if (!schema.fields[c].nullable && b.cols[c].null_count) abort();
    }
    if (b.nrows + st.rejected != st.records) abort();
    for (size_t i = 0; i < st.nerrors; i++) {
        const ursa_row_error_t *e = &st.errors[i];
        if (e->row == 0 || e->row > st.records || e->line == 0 || e->line > st.lines) abort();
        if (e->column < -1 || e->column >= (int)schema.nfields || !e->reason) abort();
        if (i && (e->row <= st.errors[i - 1].row || e->line <= st.errors[i - 1].line)) abort();
    }

    out->len = 0;
    /* Not for an empty batch: ursa_batch_encode reads the offsets of a
     * string column that never had a row, which are not allocated yet. */
    if (b.nrows && ursa_batch_encode(&b, out)) abort();
    char line[160];
    snprintf(line, sizeof(line), "|%d %zu %llu %llu %llu %zu", rc2, b.nrows, (unsigned long long)st.records,
             (unsigned long long)st.rejected, (unsigned long long)st.lines, p.header_fields);
    if (ursa_buf_append(out, line, strlen(line))) abort();
    for (size_t i = 0; i < st.nerrors; i++) {
        const ursa_row_error_t *e = &st.errors[i];
        snprintf(line, sizeof(line), "|%llu %llu %d ", (unsigned long long)e->row,
                 (unsigned long long)e->line, e->column);
        if (ursa_buf_append(out, line, strlen(line)) || ursa_buf_append(out, e->reason, strlen(e->reason)))
            abort();
        if (!memchr(e->value, 0, sizeof(e->value)) || !memchr(e->rule, 0, sizeof(e->rule))) abort();
        if (ursa_buf_printf(out, " [value %s] [rule %s]", e->value, e->rule)) abort();
    }
    if (raw.log.len && ursa_buf_append(out, raw.log.data, raw.log.len)) abort();
    ursa_buf_free(&raw.log);
    ursa_csv_free(&p);
    ursa_ndjson_free(&st);
    ursa_batch_free(&b);
}

static void same(const ursa_buf_t *a, const ursa_buf_t *b, const char *what)
{
    if (a->len != b->len || memcmp(a->data, b->data, a->len)) {
        fprintf(stderr, "outcome differs (%s):\n%.*s\n%.*s\n", what, (int)a->len, (const char *)a->data,
                (int)b->len, (const char *)b->data);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = {',', ';', '\t', '|'};
    static const char *const markers[] = {NULL, "\\N", "NULL", "x"};
    static bool ready;
    if (!ready) {
        ursa_err_t err;
        if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &schema, &err)) abort();
        ready = true;
    }
    if (size < 2) return 0;
    const char *body = (const char *)data + 2;
    size_t n = size - 2;
    size_t cut = data[0] % (n + 1);
    ursa_csv_options_t o = {
        .delimiter = delims[data[1] & 3],
        .null_marker = markers[(data[1] >> 2) & 3],
        .max_record = (data[1] & 0x10) ? 4096 : 48,
    };
    ursa_buf_t whole = {0}, split = {0};
    run(body, n, NULL, 0, &o, &whole);
    run(body, n, &cut, 1, &o, &split);
    same(&whole, &split, "two pieces");
    if (n <= 512) {
        run(body, n, NULL, SIZE_MAX, &o, &split);
        same(&whole, &split, "byte by byte");
    }
    ursa_buf_free(&whole);
    ursa_buf_free(&split);
    return 0;
}
