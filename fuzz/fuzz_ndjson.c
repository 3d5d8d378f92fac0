/*
 * libFuzzer driver for the NDJSON scanner. The first byte picks where the
 * input is split in two pieces, so carry-over between chunks is exercised.
 * Invariants checked: every column has exactly nrows values, string offsets
 * are monotone and inside the data, every error names a row that exists.
 */
#include "ingest_json.h"

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
    "\"utc\":false},{\"name\":\"id\",\"type\":\"uuid\"},{\"name\":\"j\",\"type\":\"json\"}],"
    "\"time_column\":\"ts\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ursa_schema_t schema;
    static bool ready;
    if (!ready) {
        ursa_err_t err;
        if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &schema, &err)) abort();
        ready = true;
    }
    if (size == 0) return 0;
    size_t cut = size > 1 ? data[0] % size : 0;
    ursa_batch_t b;
    ursa_ndjson_t p;
    if (ursa_batch_init(&b, &schema) || ursa_ndjson_init(&p, &schema, &b, 4096)) abort();
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    if (cut > n) cut = n;
    if (ursa_ndjson_feed(&p, body, cut) || ursa_ndjson_feed(&p, body + cut, n - cut) ||
        ursa_ndjson_finish(&p))
        abort();
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
    }
    if (b.nrows + p.rejected != p.records) abort();
    for (size_t i = 0; i < p.nerrors; i++)
        if (p.errors[i].row == 0 || p.errors[i].row > p.records) abort();
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    return 0;
}
