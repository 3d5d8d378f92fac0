/*
 * avro_read.h -- reading an Avro object container file (Iceberg's manifest
 * lists and manifests) from untrusted bytes into JSON values, decoded by
 * the writer's schema in the file's header.
 *
 * Values map onto jansson as: null, boolean, int/long (json integers),
 * float/double (json reals), string (json strings; must be UTF-8), bytes
 * and fixed (lowercase hex strings), enum (its symbol), array, map (json
 * object), record (json object of its fields by name), union (the branch's
 * value as is). Every count and length is checked against the bytes left,
 * nesting is limited, and the file's size against AVRO_READ_MAX: a
 * damaged or hostile file is URSA_EFORMAT naming what and where.
 */
#ifndef URSA_AVRO_READ_H
#define URSA_AVRO_READ_H

#include "common.h"

#include <jansson.h>

#define AVRO_READ_MAX   ((size_t)256 << 20) /* the largest file read */
#define AVRO_READ_DEPTH 32                  /* nesting of schemas and values */

/* Decodes the container file p[0..n): *meta gets the header's metadata
 * (an object of strings: avro.schema, avro.codec, and the writer's own
 * keys; a value that is not UTF-8 text is URSA_EFORMAT), *records an array of every record. Codecs "null" and
 * "deflate". Both are the caller's (json_decref), NULL on an error. */
int avro_read_file(const void *p, size_t n, json_t **meta, json_t **records, ursa_err_t *err) URSA_MUST_CHECK;

#endif
