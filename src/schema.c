/*
 * schema.c -- dataset schemas: parse and render JSON (jansson), validate names.
 */
#include "schema.h"

#include <jansson.h>
#include <string.h>

static const char *const type_names[] = {"bool", "int64", "float64", "string", "timestamp"};

const char *ursa_type_name(ursa_type_t t)
{
    return (size_t)t < URSA_ARRAY_LEN(type_names) ? type_names[t] : "?";
}

static int type_from_name(const char *s)
{
    for (size_t i = 0; i < URSA_ARRAY_LEN(type_names); i++)
        if (strcmp(s, type_names[i]) == 0) return (int)i;
    return -1;
}

bool ursa_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > URSA_NAME_MAX) return false;
    if (s[0] < 'a' || s[0] > 'z') return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

void ursa_schema_free(ursa_schema_t *s)
{
    for (size_t i = 0; i < s->nfields; i++) ursa_free(s->fields[i].name);
    ursa_free(s->fields);
    memset(s, 0, sizeof(*s));
    s->time_column = -1;
}

int ursa_schema_find(const ursa_schema_t *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].name_len == n && memcmp(s->fields[i].name, name, n) == 0) return (int)i;
    return -1;
}

int ursa_schema_parse(const char *json, size_t len, ursa_schema_t *out, ursa_err_t *err)
{
    json_error_t jerr;
    int rc = URSA_OK;
    memset(out, 0, sizeof(*out));
    out->time_column = -1;

    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ursa_err_set(err, URSA_EFORMAT, "schema is not valid JSON: %s (line %d)", jerr.text,
                            jerr.line);
    if (!json_is_object(root)) {
        rc = ursa_err_set(err, URSA_EINVAL, "schema must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "columns") && strcmp(key, "time_column")) {
            rc = ursa_err_set(err, URSA_EINVAL, "unknown schema field \"%.64s\"", key);
            goto out;
        }
    }
    json_t *cols = json_object_get(root, "columns");
    if (!json_is_array(cols) || json_array_size(cols) == 0) {
        rc = ursa_err_set(err, URSA_EINVAL, "\"columns\" must be a non-empty array");
        goto out;
    }
    size_t n = json_array_size(cols);
    if (n > URSA_COLUMNS_MAX) {
        rc = ursa_err_set(err, URSA_ELIMIT, "too many columns: %zu (at most %d)", n, URSA_COLUMNS_MAX);
        goto out;
    }
    out->fields = ursa_calloc(n, sizeof(ursa_field_t));
    if (!out->fields) {
        rc = URSA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        if (!json_is_object(c)) {
            rc = ursa_err_set(err, URSA_EINVAL, "columns[%zu] must be an object", i);
            goto out;
        }
        json_object_foreach(c, key, val)
        {
            if (strcmp(key, "name") && strcmp(key, "type") && strcmp(key, "nullable")) {
                rc = ursa_err_set(err, URSA_EINVAL, "columns[%zu]: unknown field \"%.64s\"", i, key);
                goto out;
            }
        }
        json_t *jn = json_object_get(c, "name"), *jt = json_object_get(c, "type");
        json_t *jnull = json_object_get(c, "nullable");
        if (!json_is_string(jn) || !ursa_name_valid(json_string_value(jn), json_string_length(jn))) {
            rc = ursa_err_set(err, URSA_EINVAL,
                              "columns[%zu]: \"name\" must match [a-z][a-z0-9_]* (at most %d bytes)", i,
                              URSA_NAME_MAX);
            goto out;
        }
        const char *name = json_string_value(jn);
        int t = json_is_string(jt) ? type_from_name(json_string_value(jt)) : -1;
        if (t < 0) {
            rc = ursa_err_set(
                err, URSA_EINVAL,
                "column \"%s\": \"type\" must be one of bool, int64, float64, string, timestamp", name);
            goto out;
        }
        if (jnull && !json_is_boolean(jnull)) {
            rc = ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"nullable\" must be true or false", name);
            goto out;
        }
        if (ursa_schema_find(out, name, strlen(name)) >= 0) {
            rc = ursa_err_set(err, URSA_EINVAL, "duplicate column \"%s\"", name);
            goto out;
        }
        ursa_field_t *f = &out->fields[out->nfields];
        f->name = ursa_strdup(name);
        if (!f->name) {
            rc = URSA_ENOMEM;
            goto out;
        }
        f->name_len = strlen(name);
        f->type = (ursa_type_t)t;
        f->nullable = jnull ? json_is_true(jnull) : true;
        out->nfields++;
    }
    /* Files are partitioned by the UTC day of the time column, so every
     * dataset has one and it is never null. */
    json_t *tc = json_object_get(root, "time_column");
    if (!json_is_string(tc)) {
        rc = ursa_err_set(err, URSA_EINVAL, "\"time_column\" is required: the name of a timestamp column");
        goto out;
    }
    int idx = ursa_schema_find(out, json_string_value(tc), json_string_length(tc));
    if (idx < 0 || out->fields[idx].type != URSA_TYPE_TIMESTAMP) {
        rc = ursa_err_set(err, URSA_EINVAL, "\"time_column\" must name a timestamp column");
        goto out;
    }
    if (out->fields[idx].nullable) {
        rc = ursa_err_set(err, URSA_EINVAL, "the time column \"%s\" must be declared \"nullable\": false",
                          out->fields[idx].name);
        goto out;
    }
    out->time_column = idx;
out:
    json_decref(root);
    if (rc) ursa_schema_free(out);
    return rc;
}

int ursa_schema_to_json(const ursa_schema_t *s, ursa_buf_t *b)
{
    int rc = ursa_buf_printf(b, "{\"columns\":[");
    for (size_t i = 0; i < s->nfields && rc == URSA_OK; i++) {
        const ursa_field_t *f = &s->fields[i];
        rc = ursa_buf_printf(b, "%s{\"name\":\"%s\",\"type\":\"%s\",\"nullable\":%s}", i ? "," : "", f->name,
                             ursa_type_name(f->type), f->nullable ? "true" : "false");
    }
    if (rc) return rc;
    if (s->time_column >= 0)
        return ursa_buf_printf(b, "],\"time_column\":\"%s\"}", s->fields[s->time_column].name);
    return ursa_buf_printf(b, "]}");
}

bool ursa_schema_equal(const ursa_schema_t *a, const ursa_schema_t *b)
{
    if (a->nfields != b->nfields || a->time_column != b->time_column) return false;
    for (size_t i = 0; i < a->nfields; i++) {
        const ursa_field_t *x = &a->fields[i], *y = &b->fields[i];
        if (x->type != y->type || x->nullable != y->nullable || strcmp(x->name, y->name)) return false;
    }
    return true;
}
