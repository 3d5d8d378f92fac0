/*
 * libFuzzer driver for the harmonization rules and schema evolution: NDJSON
 * records against a schema whose columns declare coerce, trim, case
 * (Unicode), epoch, formats, enum and min/max, with "unknown_fields":
 * "evolve" (fields the scanner adds are its own, as in a request). The first
 * byte picks a split point; the second
 * picks a declared format that the rest of the input, up to the first
 * newline, is also parsed with directly (ursa_parse_format,
 * ursa_parse_epoch). Invariants: every column has nrows values, every
 * error has a row, and a value and rule that are NUL-terminated UTF-8, and
 * every column the scanner added has a value in a row kept (a refused
 * record takes the fields it brought with it).
 */
#include "coerce.h"
#include "ingest_json.h"

#include <stdlib.h>
#include <string.h>

static const char SCHEMA[] =
    "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false,\"epoch\":\"ms\","
    "\"formats\":[\"%d/%m/%Y %H:%M:%S.%f %z\",\"%b %e %Y %I:%M %p\",\"%Y%j\"],\"trim\":true},"
    "{\"name\":\"i\",\"type\":\"int32\",\"coerce\":true,\"min\":-5,\"max\":1000,\"trim\":true},"
    "{\"name\":\"u\",\"type\":\"uint64\",\"coerce\":true,\"max\":100},"
    "{\"name\":\"f\",\"type\":\"float32\",\"coerce\":true,\"min\":-1.5,\"max\":1e30},"
    "{\"name\":\"b\",\"type\":\"bool\",\"coerce\":true},"
    "{\"name\":\"s\",\"type\":\"string\",\"trim\":true,\"case\":\"lower\",\"enum\":[\"a\",\"été\","
    "\"strasse\"],"
    "\"coerce\":true},"
    "{\"name\":\"up\",\"type\":\"string\",\"case\":\"upper\",\"max_length\":5,\"coerce\":true},"
    "{\"name\":\"e8\",\"type\":\"int8\",\"enum\":[-1,0,7]},"
    "{\"name\":\"day\",\"type\":\"date\",\"formats\":[\"%m/%d/%y\",\"%F\"],\"coerce\":true},"
    "{\"name\":\"tod\",\"type\":\"time\",\"formats\":[\"%I:%M:%S %p\",\"%T.%f\"]},"
    "{\"name\":\"ns\",\"type\":\"timestamp\",\"unit\":\"ns\",\"epoch\":\"s\",\"coerce\":true},"
    "{\"name\":\"d\",\"type\":\"decimal\",\"precision\":12,\"scale\":3,\"coerce\":true}],"
    "\"time_column\":\"ts\",\"unknown_fields\":\"evolve\"}";

static const char *const FORMATS[] = {"%d/%m/%Y %H:%M:%S.%f %z", "%b %e %Y %I:%M %p", "%Y%j", "%F %T",
                                      "%y-%m-%d"};

static void check_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static ursa_schema_t schema; /* parsed once */
    static size_t declared;
    if (!declared) {
        ursa_err_t err;
        if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &schema, &err)) abort();
        declared = schema.nfields;
    }
    const char *body = (const char *)data + 2;
    size_t n = size - 2, cut = data[0] % (n + 1);

    /* The date-time parsers alone, on the first line. */
    const char *nl = memchr(body, '\n', n);
    size_t first = nl ? (size_t)(nl - body) : n;
    ursa_datetime_t dt;
    int64_t x;
    if (!ursa_parse_format(FORMATS[data[1] % 5], body, first, &dt)) {
        if (dt.month < 1 || dt.month > 12 || dt.day < 1 || dt.day > 31 || dt.hour > 23 || dt.minute > 59 ||
            dt.second > 59 || dt.nanos > 999999999u)
            abort();
        for (int unit = 0; unit < 3; unit++) (void)ursa_datetime_to_ts(&dt, unit, &x);
    }
    for (int eu = 0; eu < 4; eu++) {
        int64_t a, c;
        if (!ursa_parse_epoch(body, first, eu, 2, &a) && !ursa_parse_epoch(body, first, eu, 1, &c)) {
            /* µs is ns floored to whole µs */
            int64_t q = a / 1000 - (a % 1000 < 0);
            if (q != c) abort();
        }
    }

    ursa_batch_t b;
    ursa_ndjson_t p;
    if (ursa_batch_init(&b, &schema) || ursa_ndjson_init(&p, &schema, &b, 4096) || ursa_ndjson_evolve(&p))
        abort();
    if (ursa_ndjson_feed(&p, body, cut) || ursa_ndjson_feed(&p, body + cut, n - cut) ||
        ursa_ndjson_finish(&p))
        abort();
    if (b.ncols < declared || b.ncols != p.schema->nfields || p.base != declared ||
        schema.nfields != declared)
        abort();
    for (size_t c = 0; c < b.ncols; c++)
        if (b.cols[c].length != b.nrows || (c >= declared && b.cols[c].null_count == b.nrows)) abort();
    if (b.nrows + p.rejected != p.records) abort();
    for (size_t i = 0; i < p.nerrors; i++) {
        if (p.errors[i].row == 0 || p.errors[i].row > p.records) abort();
        check_text(p.errors[i].value, sizeof(p.errors[i].value));
        check_text(p.errors[i].rule, sizeof(p.errors[i].rule));
    }
    /* Cells as CSV gives them, through the same rules. */
    for (size_t c = 0; c < declared && first <= 256; c++) {
        size_t before = b.cols[c].length;
        const char *r = ursa_append_text_field(&p, &schema.fields[c], &b.cols[c], body, first);
        if (!r ? b.cols[c].length != before + 1 : b.cols[c].length > before + 1) abort();
        ursa_column_truncate(&b.cols[c], before);
    }
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    return 0;
}
