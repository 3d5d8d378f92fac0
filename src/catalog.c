/*
 * catalog.c -- datasets, their persisted schemas and their buffers.
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dataset_free(ursa_dataset_t *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nchunks; i++) {
        ursa_batch_free(d->chunks[i]);
        ursa_free(d->chunks[i]);
    }
    ursa_free(d->chunks);
    ursa_schema_free(&d->schema);
    ursa_free(d->schema_json);
    ursa_free(d->name);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->flush_lock);
    ursa_free(d);
}

/* Makes a dataset from a parsed schema (taking it over). */
static int dataset_new(const char *name, ursa_schema_t *s, ursa_dataset_t **out)
{
    ursa_dataset_t *d = ursa_calloc(1, sizeof(*d));
    if (!d) return URSA_ENOMEM;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->flush_lock, NULL);
    d->schema = *s;
    memset(s, 0, sizeof(*s));
    ursa_buf_t json = {0};
    int rc = ursa_schema_to_json(&d->schema, &json);
    if (rc == URSA_OK) rc = ursa_buf_push(&json, '\0');
    d->schema_json = (char *)json.data;
    d->name = ursa_strdup(name);
    if (rc == URSA_OK && !d->name) rc = URSA_ENOMEM;
    if (rc) {
        dataset_free(d);
        return rc;
    }
    *out = d;
    return URSA_OK;
}

/* Adds d to the array; the caller holds the write lock. */
static int catalog_add(ursa_catalog_t *c, ursa_dataset_t *d)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        ursa_dataset_t **p = ursa_realloc(c->ds, cap * sizeof(*p));
        if (!p) return URSA_ENOMEM;
        c->ds = p;
        c->cap = cap;
    }
    c->ds[c->n++] = d;
    return URSA_OK;
}

static ursa_dataset_t *find(ursa_catalog_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->ds[i]->name, name) == 0) return c->ds[i];
    return NULL;
}

static int schema_key(const char *name, char *key, size_t n)
{
    int k = snprintf(key, n, "%s/%s", name, URSA_SCHEMA_KEY);
    return k > 0 && (size_t)k < n ? URSA_OK : URSA_EINVAL;
}

/* Listing callback: every top-level prefix that holds a schema is a dataset. */
static int load_one(void *ctx, const char *key, bool is_prefix)
{
    ursa_catalog_t *c = ctx;
    if (!is_prefix) return URSA_OK;
    size_t n = strlen(key) - 1; /* drop the '/' */
    if (!ursa_name_valid(key, n)) return URSA_OK;
    char name[URSA_NAME_MAX + 1], skey[URSA_NAME_MAX + 64];
    memcpy(name, key, n);
    name[n] = '\0';
    if (schema_key(name, skey, sizeof(skey))) return URSA_OK;
    ursa_buf_t buf = {0};
    ursa_err_t err;
    ursa_schema_t s;
    int rc = ursa_store_get(c->store, skey, &buf, &err);
    if (rc == URSA_ENOTFOUND) {
        rc = URSA_OK;
        goto out;
    }
    if (rc) {
        ursa_error("loading the schema of dataset %s: %s", name, err.msg);
        goto out;
    }
    if (ursa_schema_parse((const char *)buf.data, buf.len, &s, &err)) {
        /* A damaged schema must not be served as an empty dataset, nor
         * overwritten by a new PUT: refuse to start. */
        ursa_error("the stored schema of dataset %s is invalid: %s", name, err.msg);
        rc = URSA_EFORMAT;
        goto out;
    }
    ursa_dataset_t *d;
    if ((rc = dataset_new(name, &s, &d))) {
        ursa_schema_free(&s);
        goto out;
    }
    if ((rc = catalog_add(c, d))) dataset_free(d);
out:
    ursa_buf_free(&buf);
    return rc;
}

int ursa_catalog_new(ursa_catalog_t **out, ursa_store_t *store, const char *node, ursa_err_t *err)
{
    *out = NULL;
    ursa_catalog_t *c = ursa_calloc(1, sizeof(*c));
    if (!c) return URSA_ENOMEM;
    c->store = store;
    pthread_rwlock_init(&c->lock, NULL);
    pq_write_opts_default(&c->pq);
    c->node = ursa_strdup(node);
    int rc = c->node ? URSA_OK : URSA_ENOMEM;
    if (rc == URSA_OK) rc = ursa_store_list(store, "", '/', load_one, c, err);
    if (rc == URSA_EFORMAT) ursa_err_set(err, rc, "a stored dataset schema is invalid (see the log)");
    if (rc) {
        ursa_catalog_destroy(&c);
        return rc;
    }
    *out = c;
    return URSA_OK;
}

void ursa_catalog_destroy(ursa_catalog_t **cp)
{
    ursa_catalog_t *c = *cp;
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) dataset_free(c->ds[i]);
    ursa_free(c->ds);
    ursa_free(c->node);
    pthread_rwlock_destroy(&c->lock);
    ursa_free(c);
    *cp = NULL;
}

int ursa_catalog_create(ursa_catalog_t *c, const char *name, const char *json, size_t len, bool *created,
                        ursa_err_t *err)
{
    *created = false;
    if (!ursa_name_valid(name, strlen(name)))
        return ursa_err_set(err, URSA_EINVAL, "dataset names must match [a-z][a-z0-9_]* (at most %d bytes)",
                            URSA_NAME_MAX);
    ursa_schema_t s;
    int rc = ursa_schema_parse(json, len, &s, err);
    if (rc) return rc;
    if (s.time_column < 0) {
        ursa_schema_free(&s);
        return ursa_err_set(
            err, URSA_EINVAL,
            "\"time_column\" is required: the non-null timestamp column that partitions files by day");
    }
    pthread_rwlock_wrlock(&c->lock);
    ursa_dataset_t *d = find(c, name);
    if (d) {
        if (!ursa_schema_equal(&d->schema, &s))
            rc = ursa_err_set(err, URSA_EEXIST, "dataset %s exists with a different schema", name);
        ursa_schema_free(&s);
        goto out;
    }
    if ((rc = dataset_new(name, &s, &d))) {
        ursa_schema_free(&s);
        goto out;
    }
    char key[URSA_NAME_MAX + 64];
    if ((rc = schema_key(name, key, sizeof(key))) ||
        (rc = ursa_store_put(c->store, key, d->schema_json, strlen(d->schema_json), err)) ||
        (rc = catalog_add(c, d))) {
        dataset_free(d);
        goto out;
    }
    *created = true;
out:
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

ursa_dataset_t *ursa_catalog_get(ursa_catalog_t *c, const char *name)
{
    pthread_rwlock_rdlock(&c->lock);
    ursa_dataset_t *d = find(c, name);
    pthread_rwlock_unlock(&c->lock);
    return d;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(ursa_dataset_t *const *)a)->name, (*(ursa_dataset_t *const *)b)->name);
}

int ursa_catalog_list(ursa_catalog_t *c, ursa_dataset_t ***out, size_t *n)
{
    pthread_rwlock_rdlock(&c->lock);
    *n = c->n;
    *out = ursa_malloc((c->n ? c->n : 1) * sizeof(**out));
    if (*out && c->n) memcpy(*out, c->ds, c->n * sizeof(**out));
    pthread_rwlock_unlock(&c->lock);
    if (!*out) return URSA_ENOMEM;
    qsort(*out, *n, sizeof(**out), cmp_name);
    return URSA_OK;
}

int ursa_dataset_append(ursa_dataset_t *d, ursa_batch_t *b)
{
    int rc = URSA_OK;
    uint64_t bytes = ursa_batch_bytes(b);
    pthread_mutex_lock(&d->lock);
    if (d->nchunks == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        ursa_batch_t **p = ursa_realloc(d->chunks, cap * sizeof(*p));
        if (!p) {
            rc = URSA_ENOMEM;
            goto out;
        }
        d->chunks = p;
        d->cap = cap;
    }
    d->chunks[d->nchunks++] = b;
    d->rows += b->nrows;
    d->bytes += bytes;
out:
    pthread_mutex_unlock(&d->lock);
    if (rc) {
        ursa_batch_free(b);
        ursa_free(b);
    }
    return rc;
}

void ursa_dataset_stats(ursa_dataset_t *d, uint64_t *rows, uint64_t *bytes)
{
    pthread_mutex_lock(&d->lock);
    *rows = d->rows;
    *bytes = d->bytes;
    pthread_mutex_unlock(&d->lock);
}
