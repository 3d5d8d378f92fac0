/*
 * fuzz_avro.c -- libFuzzer driver for the Avro container reader
 * (avro_read_file): the input is a whole file. Invariants: the reader
 * returns OK (then a metadata object and an array of records), EFORMAT,
 * ENOTSUP (a codec it does not read) or ENOMEM, and on failure leaves both
 * outputs NULL with a message; no crash, no leak, no read past the input.
 * Seeds: files written by Debian's python3-avro (tests/tools/avro_fixture.py,
 * a few records, both codecs).
 */
#include "avro_read.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *meta = NULL, *recs = NULL;
    ursa_err_t err = {0};
    int rc = avro_read_file(data, size, &meta, &recs, &err);
    if (rc == URSA_OK) {
        if (!json_is_object(meta) || !json_is_array(recs)) abort();
        json_decref(meta), json_decref(recs);
        return 0;
    }
    if (rc != URSA_EFORMAT && rc != URSA_ENOTSUP && rc != URSA_ENOMEM) abort();
    if (meta || recs || !err.msg[0]) abort();
    return 0;
}
