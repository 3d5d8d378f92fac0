/*
 * ingest_body.h -- a request body on its way to the record parser:
 * Content-Encoding (gzip, zstd) undone as a stream with a cap on the
 * decompressed size, and the body format (NDJSON, a JSON array of objects)
 * cut into records for the schema-directed scanner.
 */
#ifndef URSA_INGEST_BODY_H
#define URSA_INGEST_BODY_H

#include "ingest_csv.h"
#include "ingest_json.h"

#include <zlib.h>
#include <zstd.h>

typedef enum ursa_format { URSA_FMT_NDJSON = 0, URSA_FMT_JSON_ARRAY, URSA_FMT_CSV } ursa_format_t;
typedef enum ursa_content_encoding {
    URSA_CE_IDENTITY = 0,
    URSA_CE_GZIP,
    URSA_CE_ZSTD
} ursa_content_encoding_t;

typedef struct ursa_body {
    ursa_format_t fmt;
    ursa_content_encoding_t ce;
    ursa_ndjson_t *scan; /* records go here (not owned) */
    uint64_t max_out;    /* decompressed bytes allowed */
    uint64_t out;        /* decompressed bytes so far */
    /* A UTF-8 byte order mark at the start (NDJSON and JSON arrays; the CSV
     * parser skips its own): its bytes matched so far, until started. */
    uint8_t bom;
    bool started;

    z_stream z;
    bool z_ready, z_done;
    ZSTD_DStream *zs;
    uint8_t *tmp; /* decompression output */

    /* JSON array state */
    int arr;   /* 0 before '[', 1 inside, 2 after ']' */
    int depth; /* nesting inside the current element */
    bool in_str, esc, skipping;
    uint64_t nelem;  /* elements of the array so far */
    ursa_buf_t elem; /* the element being collected */
    /* Errors name body lines: line ends are counted once per piece, up to
     * nl_at (a position in the piece being read) so far. */
    uint64_t newlines;
    const uint8_t *nl_at;
    uint64_t elem_line; /* line of the element's first non-blank byte, 0 before it */

    ursa_csv_t csv; /* URSA_FMT_CSV */
    bool csv_ready;
} ursa_body_t;

/* Returns the format for a Content-Type (parameters ignored), or -1. */
int ursa_body_format(const char *content_type);

/* Returns the encoding for a Content-Encoding header (NULL: identity), or -1. */
int ursa_body_encoding(const char *content_encoding);

int ursa_body_init(ursa_body_t *b, ursa_format_t fmt, ursa_content_encoding_t ce, ursa_ndjson_t *scan,
                   uint64_t max_out) URSA_MUST_CHECK;

/* For URSA_FMT_CSV, after init: the CSV parser, appending to the scanner's
 * batch with the given options (the body keeps no pointer to opt). */
int ursa_body_set_csv(ursa_body_t *b, const ursa_csv_options_t *opt) URSA_MUST_CHECK;

/* Reads the CSV parameters of a Content-Type ("text/csv; delimiter=;;
 * null=NULL"): delimiter is one character or "tab"; null is the marker.
 * The marker is copied into null_buf. Returns false when a value is bad. */
bool ursa_body_csv_params(const char *content_type, ursa_csv_options_t *opt, char *null_buf, size_t null_cap);

/* Feeds n more bytes as they arrived. Returns URSA_OK; URSA_ELIMIT when the
 * decompressed body passes max_out; URSA_EFORMAT (with a message) when the
 * compressed data or the array structure is broken beyond records;
 * URSA_ENOMEM. Bad records are row errors in scan, not failures. */
int ursa_body_feed(ursa_body_t *b, const void *p, size_t n, ursa_err_t *err) URSA_MUST_CHECK;

/* Ends the body (a truncated compressed stream is URSA_EFORMAT). */
int ursa_body_finish(ursa_body_t *b, ursa_err_t *err) URSA_MUST_CHECK;

void ursa_body_free(ursa_body_t *b);

#endif
