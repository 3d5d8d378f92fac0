/*
 * libFuzzer driver for ingest_body: the first byte picks the format (NDJSON
 * or JSON array), the encoding (none, gzip, zstd) and a piece size; the rest
 * is the body. Invariants: no crash, columns agree with the row count, every
 * record is accepted or rejected, and the decompressed total respects the
 * cap.
 */
#include "ingest_body.h"

#include <stdlib.h>
#include <string.h>

static const char SCHEMA[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"n\",\"type\":\"int64\"},{\"name\":\"s\",\"type\":\"string\"},"
                             "{\"name\":\"j\",\"type\":\"json\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ursa_schema_t schema;
    static bool ready;
    if (!ready) {
        ursa_err_t err;
        if (ursa_schema_parse(SCHEMA, strlen(SCHEMA), &schema, &err)) abort();
        ready = true;
    }
    if (size < 1) return 0;
    ursa_format_t fmt = data[0] & 1 ? URSA_FMT_JSON_ARRAY : URSA_FMT_NDJSON;
    ursa_content_encoding_t ce = (ursa_content_encoding_t)((data[0] >> 1) % 3);
    size_t piece = 1 + (data[0] >> 3) * 7;
    ursa_batch_t b;
    ursa_ndjson_t scan;
    ursa_body_t in;
    if (ursa_batch_init(&b, &schema) || ursa_ndjson_init(&scan, &schema, &b, 4096) ||
        ursa_body_init(&in, fmt, ce, &scan, 1 << 20))
        abort();
    ursa_err_t err;
    int rc = URSA_OK;
    for (size_t off = 1; off < size && rc == URSA_OK; off += piece)
        rc = ursa_body_feed(&in, data + off, size - off < piece ? size - off : piece, &err);
    if (rc == URSA_OK) rc = ursa_body_finish(&in, &err);
    if (rc == URSA_ENOMEM || rc == URSA_EINTERNAL) abort();
    if (in.out > (1 << 20) + (256u << 10)) abort();
    for (size_t c = 0; c < b.ncols; c++)
        if (b.cols[c].length != b.nrows) abort();
    if (b.nrows + scan.rejected != scan.records) abort();
    ursa_body_free(&in);
    ursa_ndjson_free(&scan);
    ursa_batch_free(&b);
    return 0;
}
