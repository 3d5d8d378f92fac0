/*
 * schema.h -- a dataset's schema: named, typed columns and the time column.
 *
 * A schema is parsed from and rendered to JSON (the control plane, with
 * jansson). Column names match [a-z][a-z0-9_]* and are at most
 * URSA_NAME_MAX bytes; the time column must be a timestamp column.
 */
#ifndef URSA_SCHEMA_H
#define URSA_SCHEMA_H

#include "common.h"

#define URSA_NAME_MAX    128
#define URSA_COLUMNS_MAX 1024

typedef enum ursa_type {
    URSA_TYPE_BOOL = 0,
    URSA_TYPE_INT64,
    URSA_TYPE_FLOAT64,
    URSA_TYPE_STRING,
    URSA_TYPE_TIMESTAMP /* int64 microseconds since the epoch, UTC */
} ursa_type_t;

typedef struct ursa_field {
    char *name; /* owned, NUL-terminated */
    size_t name_len;
    ursa_type_t type;
    bool nullable;
} ursa_field_t;

typedef struct ursa_schema {
    ursa_field_t *fields; /* owned array of nfields */
    size_t nfields;
    int time_column; /* index into fields of the non-null timestamp that partitions files */
} ursa_schema_t;

/* Returns the schema name of a type ("int64", ...). */
const char *ursa_type_name(ursa_type_t t);

/* Returns true when s[0..n) is a valid dataset or column name. */
bool ursa_name_valid(const char *s, size_t n);

/* Parses a schema document. On success *out owns the schema (free with
 * ursa_schema_free). On failure err says what is wrong and where. */
int ursa_schema_parse(const char *json, size_t len, ursa_schema_t *out, ursa_err_t *err) URSA_MUST_CHECK;

/* Renders the schema as a JSON object into b (appends). */
int ursa_schema_to_json(const ursa_schema_t *s, ursa_buf_t *b) URSA_MUST_CHECK;

/* Returns true when the two schemas are the same. */
bool ursa_schema_equal(const ursa_schema_t *a, const ursa_schema_t *b);

/* Returns the index of the field named name[0..n), or -1. */
int ursa_schema_find(const ursa_schema_t *s, const char *name, size_t n);

void ursa_schema_free(ursa_schema_t *s);

#endif
