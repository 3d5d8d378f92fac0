/*
 * libFuzzer driver for the NDJSON scanner. The first byte is a control
 * byte: it seeds up to 16 cut points (fz_cuts), and its top bit picks a
 * small record limit (64 bytes) so over-long records, which are rejected
 * and skipped across chunks, are reached often. The rest is the body. It is
 * parsed in one piece, in the pieces between the cut points, and (when
 * short) byte by byte; all must give the same batch, counters, line numbers
 * and errors, hand the same raw text of each rejected record to the error
 * callback (an over-long one: its first max_record bytes), and keep the
 * invariants of fz_check.
 */
#include "fuzz_common.h"

static ursa_schema_t schema;

/* Parses body cut at cuts[0..ncuts) (ncuts == SIZE_MAX: byte by byte) and
 * sets out to the outcome's fingerprint. */
static void run(const char *body, size_t n, const size_t *cuts, size_t ncuts, size_t max_record,
                ursa_buf_t *out)
{
    ursa_batch_t b;
    ursa_ndjson_t p;
    fz_raw_t raw = {.max_record = max_record, .cut_bytes = true};
    if (ursa_batch_init(&b, &schema) || ursa_ndjson_init(&p, &schema, &b, max_record)) abort();
    p.on_error = fz_on_error;
    p.on_error_ctx = &raw;
    if (ncuts == SIZE_MAX) {
        for (size_t i = 0; i < n; i++)
            if (ursa_ndjson_feed(&p, body + i, 1)) abort();
    } else {
        size_t at = 0;
        for (size_t i = 0; i <= ncuts; i++) {
            size_t to = i < ncuts ? cuts[i] : n;
            if (ursa_ndjson_feed(&p, body + at, to - at)) abort();
            at = to;
        }
    }
    if (ursa_ndjson_finish(&p)) abort();
    fz_check(&schema, &b, &p);
    fz_fingerprint(&b, &p, true, &raw, out);
    ursa_buf_free(&raw.log);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        ursa_err_t err;
        if (ursa_schema_parse(FZ_SCHEMA, strlen(FZ_SCHEMA), &schema, &err)) abort();
        ready = true;
    }
    if (size == 0) return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    size_t max_record = data[0] & 0x80 ? 64 : 4096;
    size_t cuts[FZ_MAX_CUTS];
    size_t ncuts = fz_cuts(data[0], n, cuts);
    ursa_buf_t whole = {0}, split = {0};
    run(body, n, NULL, 0, max_record, &whole);
    run(body, n, cuts, ncuts, max_record, &split);
    fz_same(&whole, &split, "whole versus cut in pieces");
    if (n <= 512) {
        run(body, n, NULL, SIZE_MAX, max_record, &split);
        fz_same(&whole, &split, "whole versus byte by byte");
    }
    ursa_buf_free(&whole);
    ursa_buf_free(&split);
    return 0;
}
