/*
 * one_column.h -- a helper for scanner unit tests: parse lines {"x": <value>}
 * against a one-column schema given as the column's JSON.
 */
#ifndef URSA_TEST_ONE_COLUMN_H
#define URSA_TEST_ONE_COLUMN_H

#include "ingest_json.h"
#include "test.h"

#include <stdlib.h>

typedef struct one {
    ursa_schema_t schema;
    ursa_batch_t batch;
    ursa_ndjson_t p;
} one_t;

/* Parses {"x": <line>} for each line with the schema {"columns":[column_json]}. */
static void run(one_t *o, const char *column_json, const char *const *lines, size_t n)
{
    char schema[1024];
    snprintf(schema, sizeof(schema), "{\"columns\":[%s]}", column_json);
    ursa_err_t err;
    if (ursa_schema_parse(schema, strlen(schema), &o->schema, &err)) {
        fprintf(stderr, "schema %s: %s\n", schema, err.msg);
        abort();
    }
    if (ursa_batch_init(&o->batch, &o->schema) || ursa_ndjson_init(&o->p, &o->schema, &o->batch, 0)) abort();
    for (size_t i = 0; i < n; i++) {
        char line[1024];
        int k = snprintf(line, sizeof(line), "{\"x\":%s}\n", lines[i]);
        CHECK(ursa_ndjson_feed(&o->p, line, (size_t)k) == URSA_OK);
    }
    CHECK(ursa_ndjson_finish(&o->p) == URSA_OK);
}

static void done(one_t *o)
{
    ursa_ndjson_free(&o->p);
    ursa_batch_free(&o->batch);
    ursa_schema_free(&o->schema);
}

#define LINES(...) \
    (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)

#endif
