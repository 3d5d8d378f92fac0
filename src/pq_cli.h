/*
 * pq_cli.h -- `ursa cat` and `ursa inspect`: a Parquet file (a local path
 * or s3://bucket/key) read through the reader (pq_read.h) and shown as
 * rows (NDJSON or CSV) or as its metadata.
 */
#ifndef URSA_PQ_CLI_H
#define URSA_PQ_CLI_H

#include "column.h"
#include "common.h"
#include "schema.h"

/* Run the verbs with their arguments (after the verb). Return the process
 * exit status: 0 done, 1 failed, 2 bad usage. */
int ursa_cmd_cat(int argc, char **argv);
int ursa_cmd_inspect(int argc, char **argv);

/* Appends row i of column c (of field f) to out as JSON, in ingest's
 * conventions: integers as numbers, float NaN/Infinity as the strings
 * "NaN", "Infinity", "-Infinity", decimals as exact strings ("-1.50"),
 * binary as base64 strings, dates "YYYY-MM-DD", times "HH:MM:SS.ffffff",
 * timestamps RFC 3339 with the unit's digits ("Z" when utc, no offset
 * otherwise), uuids 8-4-4-4-12 lowercase, json as its text (line breaks
 * as spaces; text that is not JSON as a string), null as null. Bytes of a
 * string that are not UTF-8 become U+FFFD. URSA_ENOMEM only. */
int ursa_value_json(const ursa_column_t *c, const ursa_field_t *f, size_t i, ursa_buf_t *out) URSA_MUST_CHECK;

#endif
