/*
 * catalog.c -- datasets, their persisted schemas and their buffers.
 */
#include "catalog.h"

#include "coerce.h"
#include "iceberg_meta.h"
#include "metrics.h"
#include "quarantine.h"
#include "table.h"
#include "table_upkeep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void dataset_free(ursa_dataset_t *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nchunks; i++) ursa_chunk_release(d->chunks[i]);
    ursa_free(d->chunks);
    for (size_t i = 0; i < d->nheld; i++) ursa_chunk_release(d->held[i]);
    ursa_free(d->held);
    ursa_flush_pending_free(d);
    table_upkeep_cache_destroy(&d->upkeep_cache);
    ursa_schema_free(&d->schema);
    ursa_free(d->schema_json);
    ursa_free(d->name);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->flush_lock);
    pthread_mutex_destroy(&d->evolve_lock);
    ursa_free(d);
}

/* Makes a dataset from a parsed schema (taking it over). */
static int dataset_new(const char *name, ursa_schema_t *s, ursa_dataset_t **out)
{
    ursa_dataset_t *d = ursa_calloc(1, sizeof(*d));
    if (!d) return URSA_ENOMEM;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->flush_lock, NULL);
    pthread_mutex_init(&d->evolve_lock, NULL);
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

/* Adds d and its quarantine to the array; the caller holds the write lock.
 * On failure neither is in the array and d is freed. */
static int catalog_add_with_quarantine(ursa_catalog_t *c, ursa_dataset_t *d)
{
    char qname[URSA_DATASET_NAME_MAX + 1];
    ursa_schema_t qs;
    ursa_dataset_t *q = NULL;
    int rc = ursa_quarantine_name(d->name, qname, sizeof(qname));
    if (rc == URSA_OK) rc = ursa_quarantine_schema(&qs, &d->schema.flush);
    if (rc == URSA_OK && (rc = dataset_new(qname, &qs, &q))) ursa_schema_free(&qs);
    if (rc == URSA_OK && (rc = catalog_add(c, d)) == URSA_OK && (rc = catalog_add(c, q))) c->n--;
    if (rc) {
        dataset_free(q);
        dataset_free(d);
        return rc;
    }
    d->quarantine = q;
    q->parent = d;
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

/* The schema of dataset name in the store: with tables, the table's
 * document (the source of truth, which every node's changes go to) with
 * the columns of the dataset's own schema file it lacks (columns added while
 * tables were off: the log may hold rows of them); without, the schema
 * file. URSA_ENOTFOUND when there is neither. */
static int load_schema(ursa_catalog_t *c, const char *name, ursa_schema_t *out, ursa_err_t *err)
{
    char key[URSA_NAME_MAX + 64];
    ursa_schema_t t, f;
    bool have_t = false;
    int rc;
    if (c->iceberg) {
        if ((rc = table_load_schema(c->store, name, &t, err)) == URSA_OK)
            have_t = true;
        else if (rc != URSA_ENOTFOUND)
            return rc;
    }
    ursa_buf_t buf = {0};
    if ((rc = schema_key(name, key, sizeof(key))) == URSA_OK) rc = ursa_store_get(c->store, key, &buf, err);
    if (rc == URSA_OK && ursa_schema_parse((const char *)buf.data, buf.len, &f, err)) {
        err->code = URSA_EFORMAT;
        rc = ursa_err_prefix(err, "the stored schema of dataset %s is invalid", name);
    }
    ursa_buf_free(&buf);
    if (rc == URSA_ENOTFOUND && have_t) {
        *out = t;
        return URSA_OK;
    }
    if (rc || !have_t) {
        if (have_t) ursa_schema_free(&t);
        if (rc == URSA_OK) *out = f;
        return rc;
    }
    bool grew;
    ursa_err_t e;
    if (ursa_schema_merge(&t, &f, out, &grew, &e)) {
        ursa_error("dataset %s: its schema file does not agree with its table (%s): the table's is used",
                   name, e.msg);
        *out = t;
        memset(&t, 0, sizeof(t));
    }
    ursa_schema_free(&t);
    ursa_schema_free(&f);
    return URSA_OK;
}

/* Reads dataset name from the store into a new dataset (not in the
 * catalog yet); URSA_ENOTFOUND when the store has no such dataset. */
static int load_dataset(ursa_catalog_t *c, const char *name, ursa_dataset_t **out, ursa_err_t *err)
{
    ursa_schema_t s;
    int rc = load_schema(c, name, &s, err);
    if (rc) return rc;
    if ((rc = dataset_new(name, &s, out))) ursa_schema_free(&s);
    return rc;
}

/* Listing callback: every top-level prefix that holds a schema is a dataset. */
static int load_one(void *ctx, const char *key, bool is_prefix)
{
    ursa_catalog_t *c = ctx;
    if (!is_prefix) return URSA_OK;
    size_t n = strlen(key) - 1; /* drop the '/' */
    if (!ursa_name_valid(key, n)) return URSA_OK;
    char name[URSA_NAME_MAX + 1];
    memcpy(name, key, n);
    name[n] = '\0';
    if (find(c, name)) return URSA_OK;
    ursa_err_t err;
    ursa_dataset_t *d;
    int rc = load_dataset(c, name, &d, &err);
    if (rc == URSA_OK) rc = catalog_add_with_quarantine(c, d);
    if (rc == URSA_ENOTFOUND) return URSA_OK;
    if (rc == URSA_EFORMAT) {
        /* A damaged schema must not be served as an empty dataset, nor
         * overwritten by a new PUT: refuse to start. */
        ursa_error("%s", err.msg);
        return rc;
    }
    if (rc) ursa_error("loading the schema of dataset %s: %s", name, err.msg);
    return rc;
}

int ursa_catalog_new(ursa_catalog_t **out, ursa_store_t *store, const char *node, unsigned flags,
                     ursa_err_t *err)
{
    *out = NULL;
    ursa_catalog_t *c = ursa_calloc(1, sizeof(*c));
    if (!c) return URSA_ENOMEM;
    c->store = store;
    pthread_rwlock_init(&c->lock, NULL);
    pthread_mutex_init(&c->flusher_mu, NULL);
    pthread_mutex_init(&c->mark_mu, NULL);
    pthread_cond_init(&c->flusher_cv, NULL);
    pthread_cond_init(&c->upkeep_cv, NULL);
    pq_write_opts_default(&c->pq);
    c->node = ursa_strdup(node);
    c->iceberg = (flags & URSA_CATALOG_TABLES) != 0;
    pthread_mutex_init(&c->miss_mu, NULL);
    pthread_mutex_init(&c->release_mu, NULL);
    int rc = c->node ? ursa_idem_new(&c->idem, 100000) : URSA_ENOMEM;
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
    ursa_catalog_stop_flusher(c);
    ursa_catalog_replay_done(c);
    ursa_idem_destroy(&c->idem);
    for (size_t i = 0; i < c->n; i++) dataset_free(c->ds[i]);
    ursa_free(c->ds);
    ursa_free(c->node);
    pthread_mutex_destroy(&c->flusher_mu);
    pthread_mutex_destroy(&c->mark_mu);
    pthread_mutex_destroy(&c->miss_mu);
    pthread_mutex_destroy(&c->release_mu);
    pthread_cond_destroy(&c->flusher_cv);
    pthread_cond_destroy(&c->upkeep_cv);
    pthread_rwlock_destroy(&c->lock);
    ursa_free(c);
    *cp = NULL;
}

/* Whether schema have is the one document s declares: a schema that
 * evolved still is, the columns it gained coming after the declared ones. */
static bool declares(const ursa_schema_t *have, const ursa_schema_t *s)
{
    ursa_schema_t view = *have;
    size_t n = ursa_schema_nfields(have);
    view.nfields = have->evolve && s->nfields < n ? s->nfields : n;
    return ursa_schema_equal(&view, s);
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
        if (!declares(&d->schema, &s))
            rc = ursa_err_set(err, URSA_EEXIST, "dataset %s exists with a different schema", name);
        ursa_schema_free(&s);
        goto out;
    }
    /* With tables, the table is the dataset: another node may have made it
     * (and added columns since). */
    ursa_schema_t t;
    if (c->iceberg &&
        (rc = table_schema(c->store, name, &s, TABLE_CREATE_ONLY, NULL, NULL, &t, err)) == URSA_OK) {
        bool same = declares(&t, &s);
        ursa_schema_free(&s);
        s = t;
        if (!same) {
            rc = ursa_err_set(err, URSA_EEXIST, "dataset %s exists with a different schema (its table's)",
                              name);
            ursa_schema_free(&s);
            goto out;
        }
    } else if (rc) {
        if (rc != URSA_EEXIST) ursa_err_prefix(err, "dataset %s: its table", name);
        ursa_schema_free(&s);
        goto out;
    }
    if ((rc = dataset_new(name, &s, &d))) {
        ursa_schema_free(&s);
        goto out;
    }
    char key[URSA_NAME_MAX + 64];
    if ((rc = schema_key(name, key, sizeof(key))) ||
        (rc = ursa_store_put(c->store, key, d->schema_json, strlen(d->schema_json), err))) {
        dataset_free(d);
        goto out;
    }
    if ((rc = catalog_add_with_quarantine(c, d))) goto out;
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

/* Whether name may be looked up in the store now: not when it was missed
 * there in the last second (a client posting to a misspelt name costs one
 * store request a second), nor past URSA_LOOKUPS_PER_S lookups this second
 * (a client posting to ever new names cannot turn into a flood of store
 * requests). note: name was just missed. */
static bool may_look_up(ursa_catalog_t *c, const char *name, bool note)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    int64_t now = ursa_now_ms();
    pthread_mutex_lock(&c->miss_mu);
    struct ursa_miss *m = &c->misses[h % URSA_MISS_SLOTS];
    bool yes = !(m->hash == h && now - m->ms < 1000);
    if (note) m->hash = h, m->ms = now;
    if (!note && yes) {
        if (now / 1000 != c->lookup_second) c->lookup_second = now / 1000, c->lookups = 0;
        yes = c->lookups++ < URSA_LOOKUPS_PER_S;
    }
    pthread_mutex_unlock(&c->miss_mu);
    return yes;
}

ursa_dataset_t *ursa_catalog_find(ursa_catalog_t *c, const char *name)
{
    ursa_dataset_t *d = ursa_catalog_get(c, name), *mine = NULL;
    if (d || !ursa_name_valid(name, strlen(name)) || !may_look_up(c, name, false)) return d;
    ursa_err_t err;
    int rc = load_dataset(c, name, &mine, &err); /* outside the lock: it may take a while */
    if (rc == URSA_OK) {
        bool added = false;
        pthread_rwlock_wrlock(&c->lock);
        if (!(d = find(c, name))) { /* else another request loaded it first */
            added = (rc = catalog_add_with_quarantine(c, mine)) == URSA_OK; /* frees mine on failure */
            d = added ? mine : NULL;
            mine = NULL;
        }
        pthread_rwlock_unlock(&c->lock);
        dataset_free(mine);
        if (added) ursa_info("dataset %s: loaded from the store (created through another node)", name);
    }
    if (rc && rc != URSA_ENOTFOUND) ursa_error("dataset %s: loading it from the store: %s", name, err.msg);
    if (rc) may_look_up(c, name, true);
    return rc ? NULL : d;
}

static int discover_one(void *ctx, const char *key, bool is_prefix)
{
    ursa_catalog_t *c = ctx;
    size_t n = strlen(key);
    char name[URSA_NAME_MAX + 1];
    if (!is_prefix || n < 2 || n - 1 > URSA_NAME_MAX || !ursa_name_valid(key, n - 1)) return URSA_OK;
    memcpy(name, key, n - 1);
    name[n - 1] = '\0';
    (void)ursa_catalog_find(c, name);
    return URSA_OK;
}

int ursa_catalog_discover(ursa_catalog_t *c, ursa_err_t *err)
{
    return ursa_store_list(c->store, "", '/', discover_one, c, err);
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
    int tc = d->schema.time_column; /* the chunk's time range, for queries (never null: the time column) */
    if (tc >= 0 && (size_t)tc < b->ncols && b->nrows && b->cols[tc].length == b->nrows) {
        const int64_t *v = (const int64_t *)(const void *)b->cols[tc].values.data;
        int64_t lo = v[0], hi = v[0];
        for (size_t i = 1; i < b->nrows; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        b->tmin = lo, b->tmax = hi, b->has_trange = true;
    }
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
    b->refs = 1; /* the buffer's */
    d->chunks[d->nchunks++] = b;
    if (!d->oldest_ms) d->oldest_ms = ursa_now_ms();
    d->rows += b->nrows;
    d->bytes += bytes;
    atomic_fetch_add(&d->appends, 1);
out:
    pthread_mutex_unlock(&d->lock);
    if (rc) {
        ursa_batch_free(b);
        ursa_free(b);
    }
    return rc;
}

void ursa_chunk_release(ursa_batch_t *b)
{
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        ursa_batch_free(b);
        ursa_free(b);
    }
}

static void pin_one(ursa_pin_t *p, ursa_batch_t *b, const size_t *fields)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    ursa_column_t *cols = p->cols + p->n * p->nfields;
    for (size_t i = 0; i < p->nfields; i++) {
        if (fields[i] < b->ncols)
            cols[i] = b->cols[fields[i]];
        else
            memset(&cols[i], 0, sizeof(cols[i]));
    }
    p->chunks[p->n++] = b;
}

int ursa_dataset_pin(ursa_dataset_t *d, const size_t *fields, size_t nfields, ursa_pin_t *out)
{
    memset(out, 0, sizeof(*out));
    out->nfields = nfields;
    pthread_mutex_lock(&d->lock);
    size_t n = d->nheld + d->nchunks;
    out->chunks = ursa_malloc((n + 1) * sizeof(*out->chunks));
    out->cols = ursa_malloc((n * nfields + 1) * sizeof(*out->cols));
    if (out->chunks && out->cols) {
        for (size_t k = 0; k < d->nheld; k++) pin_one(out, d->held[k], fields);
        for (size_t k = 0; k < d->nchunks; k++) pin_one(out, d->chunks[k], fields);
    }
    pthread_mutex_unlock(&d->lock);
    if (!out->chunks || !out->cols) {
        ursa_pin_release(out);
        return URSA_ENOMEM;
    }
    return URSA_OK;
}

void ursa_pin_release(ursa_pin_t *p)
{
    for (size_t k = 0; k < p->n; k++) ursa_chunk_release(p->chunks[k]);
    ursa_free(p->chunks);
    ursa_free(p->cols);
    memset(p, 0, sizeof(*p));
}

void ursa_dataset_stats(ursa_dataset_t *d, uint64_t *rows, uint64_t *bytes)
{
    pthread_mutex_lock(&d->lock);
    *rows = d->rows + d->flushing_rows;
    *bytes = d->bytes + d->flushing_bytes;
    pthread_mutex_unlock(&d->lock);
}

/* ---------------------------------------------------------------------------
 * The write-ahead log: records, replay, release
 *
 * A record is: u16 name length | dataset name | u16 key length | key |
 * u16 status | u32 answer length | answer | [body digest] | [parts] | the
 * batch's encoding;
 * or a request's part or abort (PART_MARK below; docs/internals/wal.md).
 * ------------------------------------------------------------------------- */

/* The first u16 of a record's payload is its dataset name's length, or
 * PART_MARK for a request's part (rows logged while the rest of the body
 * is parsed) or abort (the request logged parts and then failed). A
 * request's last record sets STATUS_PARTS in its status and lists the LSNs
 * of its parts before its own rows. */
#define PART_MARK    0xFFFFu
#define KIND_PART    1
#define KIND_ABORT   2
#define KIND_KEYS    3 /* answered Idempotency-Keys carried over from released segments */
#define STATUS_PARTS 0x8000u
/* A record with a key sets STATUS_DIGEST and carries the digest of the
 * request's body (URSA_IDEM_DIGEST bytes) after its answer; records logged
 * before digests were kept have none, and their keys replay any body. */
#define STATUS_DIGEST 0x4000u

/* The request parts waiting for their last record (replay only). */
typedef struct replay_part {
    uint64_t lsn;
    uint8_t *p;
    size_t n;
} replay_part_t;

static replay_part_t *find_part(ursa_catalog_t *c, uint64_t lsn)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].lsn == lsn) return &c->parts[i];
    return NULL;
}

static void drop_part(ursa_catalog_t *c, replay_part_t *x)
{
    ursa_free(x->p);
    *x = c->parts[--c->nparts];
}

/* The head of a record and of each entry of a keys record: u16 name
 * length | name | u16 key length | key | u16 status (| STATUS_DIGEST when
 * digest) | u32 answer length | answer | [digest]. */
typedef struct keyed {
    char name[URSA_DATASET_NAME_MAX + 1], key[URSA_IDEM_KEY_MAX + 1];
    uint16_t status; /* without STATUS_DIGEST */
    const uint8_t *answer, *digest;
    uint32_t answer_len;
} keyed_t;

static int put_keyed(ursa_buf_t *out, const char *name, const char *key, size_t key_len, unsigned status,
                     const void *answer, size_t answer_len, const uint8_t *digest)
{
    uint16_t n = (uint16_t)strlen(name), kn = (uint16_t)key_len,
             st = (uint16_t)(status | (digest ? STATUS_DIGEST : 0));
    uint32_t an = (uint32_t)answer_len;
    int rc = ursa_buf_append(out, &n, 2);
    if (rc == URSA_OK) rc = ursa_buf_append(out, name, n);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &kn, 2);
    if (rc == URSA_OK) rc = ursa_buf_append(out, key, kn);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &st, 2);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &an, 4);
    if (rc == URSA_OK) rc = ursa_buf_append(out, answer, an);
    if (rc == URSA_OK && digest) rc = ursa_buf_append(out, digest, URSA_IDEM_DIGEST);
    return rc;
}

/* Reads a head at *q (moved past it); false when it is malformed. */
static bool get_keyed(const uint8_t **qp, const uint8_t *end, keyed_t *k)
{
    const uint8_t *q = *qp;
    uint16_t nl, kl;
    if (end - q < 2 || (memcpy(&nl, q, 2), nl > URSA_DATASET_NAME_MAX) || end - q < 2 + nl + 2) return false;
    memcpy(k->name, q + 2, nl), k->name[nl] = '\0';
    q += 2 + nl;
    if ((memcpy(&kl, q, 2), kl > URSA_IDEM_KEY_MAX) || end - q < 2 + kl + 6) return false;
    memcpy(k->key, q + 2, kl), k->key[kl] = '\0';
    q += 2 + kl;
    memcpy(&k->status, q, 2), memcpy(&k->answer_len, q + 2, 4);
    q += 6;
    if ((size_t)(end - q) < k->answer_len) return false;
    k->answer = q, k->digest = NULL;
    q += k->answer_len;
    if (k->status & STATUS_DIGEST) {
        k->status &= (uint16_t)~STATUS_DIGEST;
        if (end - q < URSA_IDEM_DIGEST) return false;
        k->digest = q;
        q += URSA_IDEM_DIGEST;
    }
    *qp = q;
    return true;
}

int ursa_catalog_wal_record(const char *name, const char *key, unsigned status, const void *answer,
                            size_t answer_len, const uint8_t *digest, const ursa_batch_t *b,
                            const uint64_t *parts, size_t nparts, size_t from, ursa_buf_t *out)
{
    uint32_t np = (uint32_t)nparts;
    int rc = put_keyed(out, name, key ? key : "", key ? strlen(key) : 0, status | (nparts ? STATUS_PARTS : 0),
                       answer, key ? answer_len : 0, key ? digest : NULL);
    if (rc == URSA_OK && nparts) rc = ursa_buf_append(out, &np, 4);
    if (rc == URSA_OK && nparts) rc = ursa_buf_append(out, parts, nparts * 8);
    if (rc == URSA_OK) rc = ursa_batch_encode_rows(b, from, b->nrows, out);
    return rc;
}

int ursa_catalog_wal_part(const ursa_batch_t *b, size_t from, size_t to, ursa_buf_t *out)
{
    uint16_t mark = PART_MARK;
    uint8_t kind = KIND_PART;
    int rc = ursa_buf_append(out, &mark, 2);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &kind, 1);
    if (rc == URSA_OK) rc = ursa_batch_encode_rows(b, from, to, out);
    return rc;
}

int ursa_catalog_wal_abort(const uint64_t *parts, size_t nparts, ursa_buf_t *out)
{
    uint16_t mark = PART_MARK;
    uint8_t kind = KIND_ABORT;
    uint32_t np = (uint32_t)nparts;
    int rc = ursa_buf_append(out, &mark, 2);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &kind, 1);
    if (rc == URSA_OK) rc = ursa_buf_append(out, &np, 4);
    if (rc == URSA_OK) rc = ursa_buf_append(out, parts, nparts * 8);
    return rc;
}

typedef struct ranges {
    uint64_t (*r)[2];
    size_t n, cap;
    const char *node;
    size_t node_len;
} ranges_t;

/* Collects the LSN ranges of this node's files "<node>-<a>-<b>.parquet". */
static int collect_range(void *ctx, const char *key, bool is_prefix)
{
    ranges_t *rs = ctx;
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    size_t n = strlen(base);
    if (is_prefix || n < 9 || strcmp(base + n - 8, ".parquet")) return URSA_OK;
    if (strncmp(base, rs->node, rs->node_len) || base[rs->node_len] != '-') return URSA_OK;
    unsigned long long a, b;
    char tail[16];
    if (sscanf(base + rs->node_len + 1, "%llu-%llu%15s", &a, &b, tail) != 3 || strcmp(tail, ".parquet"))
        return URSA_OK;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        void *p = ursa_realloc(rs->r, cap * sizeof(*rs->r));
        if (!p) return URSA_ENOMEM;
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n][0] = a;
    rs->r[rs->n][1] = b;
    rs->n++;
    return URSA_OK;
}

/* The published LSN ranges of one dataset and day, listed once per replay;
 * with day INT64_MIN, the dataset's table's last commit of this node. */
typedef struct replay_cache {
    struct replay_cache *next;
    const ursa_dataset_t *d;
    int64_t day;
    ranges_t rs;
    char commit[URSA_DATASET_NAME_MAX + 200];
} replay_cache_t;

/* Is record lsn published, on day, by this node in dataset d? Yes when a
 * file of the node holds it, or (with tables) when the node's flushes that
 * the table has committed hold it: a compaction may have replaced the file
 * and upkeep deleted it since (table_commit_covers). */
static int published(ursa_catalog_t *c, ursa_dataset_t *d, int64_t day, uint64_t lsn, bool *yes,
                     ursa_err_t *err)
{
    replay_cache_t *e = c->replay;
    if (c->iceberg && !d->parent) {
        while (e && !(e->d == d && e->day == INT64_MIN)) e = e->next;
        if (!e) {
            if (!(e = ursa_calloc(1, sizeof(*e)))) return URSA_ENOMEM;
            e->d = d, e->day = INT64_MIN;
            int rc = table_node_commit(c->store, d->name, c->node, e->commit, sizeof(e->commit), err);
            if (rc) {
                ursa_free(e);
                return rc;
            }
            e->next = c->replay;
            c->replay = e;
        }
        if (e->commit[0] && table_commit_covers(e->commit, lsn, (int32_t)day)) {
            *yes = true;
            return URSA_OK;
        }
        e = c->replay;
    }
    while (e && !(e->d == d && e->day == day)) e = e->next;
    if (!e) {
        char date[16], prefix[URSA_DATASET_NAME_MAX + 128];
        ursa_format_date(day, date);
        snprintf(prefix, sizeof(prefix), "%s/date=%s/%s-", d->name, date, c->node);
        if (!(e = ursa_calloc(1, sizeof(*e)))) return URSA_ENOMEM;
        e->d = d;
        e->day = day;
        e->rs.node = c->node;
        e->rs.node_len = strlen(c->node);
        int rc = ursa_store_list(c->store, prefix, 0, collect_range, &e->rs, err);
        if (rc) {
            ursa_free(e->rs.r);
            ursa_free(e);
            return rc;
        }
        e->next = c->replay;
        c->replay = e;
    }
    *yes = false;
    for (size_t i = 0; i < e->rs.n; i++) *yes |= e->rs.r[i][0] <= lsn && lsn <= e->rs.r[i][1];
    return URSA_OK;
}

void ursa_catalog_replay_done(ursa_catalog_t *c)
{
    if (c->nparts)
        ursa_info("replay left out %zu parts of requests that never finished (no answer was sent for them)",
                  c->nparts);
    while (c->nparts) drop_part(c, &c->parts[0]);
    ursa_free(c->parts);
    c->parts = NULL;
    c->parts_cap = 0;
    while (c->replay) {
        replay_cache_t *e = c->replay;
        c->replay = e->next;
        ursa_free(e->rs.r);
        ursa_free(e);
    }
    if (c->replay_skipped)
        ursa_info("replay left out %llu rows that were already published",
                  (unsigned long long)c->replay_skipped);
    c->replay_skipped = 0;
}
/* Puts the rows of one encoded batch (p, n) of record lsn back in d's
 * buffer, leaving out the days a file of this node already holds this
 * record for (a flush finished those before the crash). */
static int replay_rows(ursa_catalog_t *c, ursa_dataset_t *d, uint64_t lsn, uint64_t first_lsn,
                       const uint8_t *p, size_t n, ursa_err_t *err)
{
    ursa_batch_t *b = ursa_calloc(1, sizeof(*b));
    if (!b) return URSA_ENOMEM;
    int rc = ursa_batch_init(b, &d->schema);
    if (rc == URSA_OK && ursa_batch_decode(b, &d->schema, p, n))
        rc = ursa_err_set(err, URSA_EFORMAT, "WAL record %llu does not match the schema of %s",
                          (unsigned long long)lsn, d->name);
    b->lsn = lsn;
    b->first_lsn = first_lsn;

    /* Leave out the days a file of this node already holds this record for
     * (a flush finished those before the crash). */
    int tc = d->schema.time_column;
    int unit = (int)d->schema.fields[tc].unit;
    int64_t days[64];
    bool pub[64];
    size_t ndays = 0;
    bool any = false;
    for (size_t i = 0; i < b->nrows && rc == URSA_OK; i++) {
        int64_t day = ursa_ts_to_days(ursa_column_i64(&b->cols[tc], i), unit);
        size_t k = 0;
        while (k < ndays && days[k] != day) k++;
        if (k < ndays) continue;
        if (ndays == URSA_ARRAY_LEN(days)) break; /* checked below, row by row */
        days[ndays] = day;
        rc = published(c, d, day, lsn, &pub[ndays], err);
        any |= pub[ndays++];
    }
    if (rc == URSA_OK && any) {
        ursa_batch_t *keep = ursa_calloc(1, sizeof(*keep));
        uint32_t *idx = ursa_malloc((b->nrows ? b->nrows : 1) * sizeof(uint32_t));
        size_t nk = 0;
        rc = keep && idx ? ursa_batch_init(keep, &d->schema) : URSA_ENOMEM;
        for (size_t i = 0; i < b->nrows && rc == URSA_OK; i++) {
            int64_t day = ursa_ts_to_days(ursa_column_i64(&b->cols[tc], i), unit);
            size_t k = 0;
            while (k < ndays && days[k] != day) k++;
            bool skip = false;
            if (k < ndays)
                skip = pub[k];
            else
                rc = published(c, d, day, lsn, &skip, err);
            if (!skip) idx[nk++] = (uint32_t)i;
        }
        for (size_t col = 0; col < d->schema.nfields && rc == URSA_OK; col++)
            rc = ursa_column_take(&keep->cols[col], &b->cols[col], idx, nk);
        ursa_free(idx);
        size_t had = b->nrows;
        if (keep) {
            keep->nrows = nk;
            keep->lsn = lsn;
            keep->first_lsn = first_lsn;
        }
        ursa_batch_free(b);
        ursa_free(b);
        b = keep;
        if (rc == URSA_OK) c->replay_skipped += had - nk;
    }
    if (rc == URSA_OK && b->nrows) return ursa_dataset_append(d, b);
    if (b) {
        ursa_batch_free(b);
        ursa_free(b);
    }
    return rc;
}

/* A part, an abort or a keys record (after PART_MARK). */
static int replay_part(ursa_catalog_t *c, uint64_t lsn, const uint8_t *q, const uint8_t *end, ursa_err_t *err)
{
    if (end - q < 1) goto bad;
    if (*q == KIND_PART) {
        if (c->nparts == c->parts_cap) {
            size_t cap = c->parts_cap ? c->parts_cap * 2 : 16;
            replay_part_t *np = ursa_realloc(c->parts, cap * sizeof(*np));
            if (!np) return URSA_ENOMEM;
            c->parts = np;
            c->parts_cap = cap;
        }
        size_t n = (size_t)(end - q - 1);
        uint8_t *copy = ursa_malloc(n);
        if (!copy) return URSA_ENOMEM;
        memcpy(copy, q + 1, n);
        c->parts[c->nparts++] = (replay_part_t){lsn, copy, n};
        return URSA_OK;
    }
    if (*q == KIND_KEYS) { /* u32 count | count heads (put_keyed) */
        uint32_t n;
        keyed_t k;
        if (end - q < 5) goto bad;
        memcpy(&n, q + 1, 4);
        q += 5;
        for (uint32_t i = 0; i < n; i++) {
            if (!get_keyed(&q, end, &k)) goto bad;
            if (ursa_idem_finish(c->idem, k.name, k.key, k.status, k.answer, k.answer_len, k.digest, lsn))
                return URSA_ENOMEM;
        }
        if (q != end) goto bad;
        return URSA_OK;
    }
    uint32_t np;
    if (*q != KIND_ABORT || end - q < 5 || (memcpy(&np, q + 1, 4), (size_t)(end - q - 5) != (size_t)np * 8))
        goto bad;
    for (uint32_t i = 0; i < np; i++) {
        uint64_t l;
        memcpy(&l, q + 5 + 8 * (size_t)i, 8);
        replay_part_t *x = find_part(c, l);
        if (x) drop_part(c, x);
    }
    return URSA_OK;
bad:
    return ursa_err_set(err, URSA_EFORMAT, "WAL record %llu is malformed", (unsigned long long)lsn);
}

int ursa_catalog_replay(ursa_catalog_t *c, uint64_t lsn, const uint8_t *p, size_t n, ursa_err_t *err)
{
    /* name, key, status, answer, [parts,] batch (see ursa_catalog_wal_record) */
    const uint8_t *q = p, *end = p + n;
    uint16_t mark, status;
    uint32_t np = 0;
    keyed_t k;
    if (end - q >= 2 && (memcpy(&mark, q, 2), mark == PART_MARK)) return replay_part(c, lsn, q + 2, end, err);
    if (!get_keyed(&q, end, &k)) goto bad;
    const char *name = k.name, *key = k.key;
    status = k.status;
    const uint8_t *parts = q;
    if (status & STATUS_PARTS) {
        status &= (uint16_t)~STATUS_PARTS;
        if (end - q < 4 || (memcpy(&np, q, 4), (size_t)(end - q - 4) / 8 < np)) goto bad;
        parts = q + 4;
        q += 4 + (size_t)np * 8;
    }
    /* A request whose rows were all refused logs its key with its
     * quarantine record; keys belong to the user's dataset. */
    const char *idem_name = strncmp(name, URSA_QUARANTINE_PREFIX, URSA_QUARANTINE_PREFIX_LEN)
                                ? name
                                : name + URSA_QUARANTINE_PREFIX_LEN;
    if (key[0] && ursa_idem_finish(c->idem, idem_name, key, status, k.answer, k.answer_len, k.digest, lsn))
        return URSA_ENOMEM;

    /* Its parts, in order, then its own rows. A part no longer in the log
     * was released, which happens only once a flush published every row of
     * the request: then all of it is left out. */
    replay_part_t *found[64];
    replay_part_t **xs = np <= 64 ? found : ursa_malloc((size_t)np * sizeof(*xs));
    if (!xs) return URSA_ENOMEM;
    bool missing = false;
    uint64_t first_lsn = lsn;
    for (uint32_t i = 0; i < np; i++) {
        uint64_t l;
        memcpy(&l, parts + 8 * (size_t)i, 8);
        xs[i] = find_part(c, l);
        missing |= !xs[i];
        if (i == 0) first_lsn = l;
        for (uint32_t j = 0; j < i && xs[i]; j++)
            if (xs[j] == xs[i]) { /* a part listed twice: not written by Ursa */
                if (xs != found) ursa_free(xs);
                goto bad;
            }
    }
    ursa_dataset_t *d = ursa_catalog_get(c, name);
    int rc = URSA_OK;
    if (!d) {
        ursa_warn("WAL record %llu is for dataset %s, which the store no longer has: skipped",
                  (unsigned long long)lsn, name);
    } else if (missing) {
        ursa_info("WAL record %llu: its earlier parts were released after a flush published them: left out",
                  (unsigned long long)lsn);
    } else {
        for (uint32_t i = 0; i < np && rc == URSA_OK; i++)
            rc = replay_rows(c, d, lsn, first_lsn, xs[i]->p, xs[i]->n, err);
        if (rc == URSA_OK) rc = replay_rows(c, d, lsn, first_lsn, q, (size_t)(end - q), err);
    }
    /* Drop the parts (found[] pointers move as parts are dropped: look up again). */
    for (uint32_t i = 0; i < np; i++) {
        uint64_t l;
        memcpy(&l, parts + 8 * (size_t)i, 8);
        replay_part_t *x = find_part(c, l);
        if (x) drop_part(c, x);
    }
    if (xs != found) ursa_free(xs);
    return rc;
bad:
    return ursa_err_set(err, URSA_EFORMAT, "WAL record %llu is malformed", (unsigned long long)lsn);
}

static int mark_key(const ursa_catalog_t *c, char *key, size_t n)
{
    int k = snprintf(key, n, "_ursa/nodes/%s.lsn", c->node);
    return k > 0 && (size_t)k < n ? URSA_OK : URSA_EINVAL;
}

int ursa_catalog_load_mark(ursa_catalog_t *c, ursa_err_t *err)
{
    char key[160];
    ursa_buf_t b = {0};
    int rc = mark_key(c, key, sizeof(key));
    if (rc == URSA_OK) rc = ursa_store_get(c->store, key, &b, err);
    if (rc == URSA_ENOTFOUND) {
        c->lsn_mark = 0;
        rc = URSA_OK;
    } else if (rc == URSA_OK) {
        char text[32];
        snprintf(text, sizeof(text), "%.*s", (int)(b.len < 31 ? b.len : 31), (const char *)b.data);
        char *end;
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text) rc = ursa_err_set(err, URSA_EFORMAT, "bad LSN mark in %s", key);
        c->lsn_mark = v;
    }
    ursa_buf_free(&b);
    return rc;
}

int ursa_catalog_raise_mark(ursa_catalog_t *c, uint64_t next, ursa_err_t *err)
{
    int rc = URSA_OK;
    pthread_mutex_lock(&c->mark_mu);
    if (next > c->lsn_mark) {
        char key[160], text[32];
        int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)next);
        rc = mark_key(c, key, sizeof(key));
        if (rc == URSA_OK) rc = ursa_store_put(c->store, key, text, (size_t)n, err);
        if (rc == URSA_OK) c->lsn_mark = next;
    }
    pthread_mutex_unlock(&c->mark_mu);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Temporaries left by a killed process
 *
 * A local store writes each object into ".<name>.tmp-<pid>-<n>" beside it
 * and renames it at commit, so a node killed mid-flush (or mid-schema
 * write) leaves the temporary behind. Several nodes may share one store
 * directory, and a starting node must not remove a temporary that another
 * live node is still writing. Whose a temporary is follows from the key it
 * was written for:
 *
 * - "<dataset>/date=<day>/<node>-<first>-<last>.parquet" (also under
 *   _quarantine/) and "_ursa/nodes/<node>.lsn" name the node that writes
 *   them. This node's are removed whatever their age: the node is starting,
 *   so none of its writes is in progress (node names are unique per store).
 * - "<dataset>/_ursa/schema.json" and the table's "<dataset>/metadata/..."
 *   are written by any node (PUT, schema evolution, commits) in
 *   milliseconds: a temporary older than SCHEMA_TEMP_AGE_S
 *   is from a process that died. (A writer slower than that would only see
 *   its rename fail and report the error.)
 * - Everything else, other nodes' files and marks above all, is left to
 *   its owner, which removes it when it starts again.
 * ------------------------------------------------------------------------- */

#define SCHEMA_TEMP_AGE_S 3600

/* Is base "<node>-<digits>-<digits>.parquet" for this node? */
static bool own_data_name(const ursa_catalog_t *c, const char *base)
{
    size_t n = strlen(c->node);
    if (strncmp(base, c->node, n) || base[n] != '-') return false;
    const char *q = base + n + 1;
    for (int part = 0; part < 2; part++) {
        const char *d = q;
        while ((unsigned)(*q - '0') < 10u) q++;
        if (q == d || q - d > 20) return false;
        if (part == 0 && *q++ != '-') return false;
    }
    return strcmp(q, ".parquet") == 0;
}

static bool own_temp(void *ctx, const char *key, int64_t age_s)
{
    const ursa_catalog_t *c = ctx;
    char mark[160];
    const char *base = strrchr(key, '/'), *day = base;
    while (day && day > key && day[-1] != '/') day--; /* the directory holding base */
    if (day && !strncmp(day, "date=", 5) && own_data_name(c, base + 1)) return true;
    /* A compaction's outputs may be any node's (or `ursa compact`'s), and
     * are written for as long as a merge takes: an hour old, a killed one. */
    if (day && !strncmp(day, "date=", 5) && !strncmp(base + 1, "c-", 2)) return age_s >= SCHEMA_TEMP_AGE_S;
    if (mark_key(c, mark, sizeof(mark)) == URSA_OK) {
        if (strcmp(key, mark) == 0) return true;
        /* This node's heartbeat (peers.c) beside it: written by this node alone. */
        size_t stem = strlen(mark) - 4; /* without ".lsn" */
        if (strncmp(key, mark, stem) == 0 && strcmp(key + stem, ".json") == 0) return true;
    }
    /* Schemas and table metadata are written by every node, each in moments:
     * a temporary an hour old is a killed writer's. */
    const char *slash = strchr(key, '/');
    return slash && (strcmp(slash + 1, URSA_SCHEMA_KEY) == 0 || strncmp(slash + 1, "metadata/", 9) == 0) &&
           age_s >= SCHEMA_TEMP_AGE_S;
}

int ursa_catalog_remove_temps(ursa_catalog_t *c, ursa_err_t *err)
{
    size_t removed = 0, left = 0;
    int rc = ursa_store_remove_temps(c->store, own_temp, c, &removed, &left, err);
    if (removed)
        ursa_info(
            "removed %zu temporary files of writes that never finished (a process killed while writing)",
            removed);
    if (left)
        ursa_info("left %zu temporary files that other nodes may still be writing (each node removes its "
                  "own when it starts)",
                  left);
    return rc;
}

/* The keys record: one entry per answered key (ursa_idem_below). */
static int encode_key(void *ctx, const char *dataset, const char *key, size_t key_len, unsigned status,
                      const void *body, size_t n, const uint8_t *digest)
{
    ursa_buf_t *b = ctx;
    int rc = put_keyed(b, dataset, key, key_len, status, body, n, digest);
    uint32_t count;
    if (rc == URSA_OK) { /* b starts with the count */
        memcpy(&count, b->data, 4);
        count++;
        memcpy(b->data, &count, 4);
    }
    return rc;
}

/* Logs the answered keys whose records are below cut (about to be
 * released) again, in one keys record, and waits until it is durable: a
 * retry after a restart finds its key whatever was released. */
static int carry_keys(ursa_catalog_t *c, uint64_t cut, ursa_err_t *err)
{
    ursa_buf_t b = {0};
    uint16_t mark = PART_MARK;
    uint8_t kind = KIND_KEYS;
    uint32_t zero = 0;
    ursa_buf_t entries = {0}; /* the count, then the entries (encode_key) */
    int rc = ursa_buf_append(&entries, &zero, 4);
    if (rc == URSA_OK) rc = ursa_idem_below(c->idem, cut, URSA_IDEM_CARRY_S, encode_key, &entries);
    uint32_t n = 0;
    if (rc == URSA_OK) memcpy(&n, entries.data, 4);
    if (rc == URSA_OK && n) {
        uint64_t lsn;
        if ((rc = ursa_wal_record_buf(c->wal, 3 + entries.len, &b)) == URSA_OK &&
            (rc = ursa_buf_append(&b, &mark, 2)) == URSA_OK &&
            (rc = ursa_buf_append(&b, &kind, 1)) == URSA_OK &&
            (rc = ursa_buf_append(&b, entries.data, entries.len)) == URSA_OK &&
            (rc = ursa_wal_append_buf(c->wal, &b, NULL, NULL, &lsn, err)) == URSA_OK &&
            (rc = ursa_wal_wait(c->wal, lsn, err)) == URSA_OK)
            ursa_idem_moved(c->idem, cut, lsn);
    }
    ursa_buf_free(&b);
    ursa_buf_free(&entries);
    return rc;
}

void ursa_catalog_release_wal(ursa_catalog_t *c)
{
    if (!c->wal) return;
    /* Needed: the oldest row still buffered or being flushed, anywhere. */
    uint64_t need = ursa_wal_durable(c->wal) + 1;
    pthread_rwlock_rdlock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        ursa_dataset_t *d = c->ds[i];
        pthread_mutex_lock(&d->lock);
        /* Chunks are in the order of their last records; the records of a
         * request's parts come earlier, so every chunk is looked at. */
        for (size_t k = 0; k < d->nchunks; k++) {
            uint64_t first = ursa_batch_first_lsn(d->chunks[k]);
            if (first && first < need) need = first;
        }
        if (d->flushing_lsn && d->flushing_lsn < need) need = d->flushing_lsn;
        pthread_mutex_unlock(&d->lock);
    }
    pthread_rwlock_unlock(&c->lock);
    /* What a release would delete holds answered keys: they go into a new
     * record first (one release at a time, so they are carried once). */
    pthread_mutex_lock(&c->release_mu);
    uint64_t cut = ursa_wal_releasable(c->wal, need);
    ursa_err_t err;
    int rc = cut ? carry_keys(c, cut, &err) : URSA_OK;
    if (rc)
        ursa_error("carrying Idempotency-Keys over in the log: %s (its old segments are kept)",
                   rc == URSA_ENOMEM ? "out of memory" : err.msg);
    else if (cut)
        ursa_wal_release(c->wal, cut);
    pthread_mutex_unlock(&c->release_mu);
}

/* ---------------------------------------------------------------------------
 * The flusher: flushes datasets whose buffer is due by their policy, and
 * the largest buffers first when memory runs short.
 *
 * Memory pressure: buffered rows are most of what the budget holds, and
 * only a flush gives them back. A budget smaller than the flush policy's
 * size (or many datasets each below it) would otherwise leave ingest
 * refused with 429 until the age policy fires, minutes later. So past 3/4
 * of the budget the flusher writes out the biggest buffers, one at a time,
 * until half of the budget is free or nothing is left to flush; the
 * margin leaves room for the flush's own buffers and the requests still
 * arriving. A dataset whose flush failed keeps its back-off.
 * ------------------------------------------------------------------------- */

static bool high_water(const ursa_catalog_t *c)
{
    return c->memory_limit && ursa_mem_used() >= c->memory_limit / 4 * 3;
}

/* Pressure starts past the high-water mark and goes on, once started,
 * until half of the budget is free. */
static bool high_water_reached(const ursa_catalog_t *c, size_t round)
{
    if (!c->memory_limit) return false;
    return round == 0 ? high_water(c) : ursa_mem_used() > c->memory_limit / 2;
}

bool ursa_catalog_pressure(ursa_catalog_t *c)
{
    if (!high_water(c)) return false;
    pthread_mutex_lock(&c->flusher_mu);
    pthread_cond_signal(&c->flusher_cv);
    pthread_mutex_unlock(&c->flusher_mu);
    return true;
}

int64_t ursa_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The dataset's policy, field by field falling back to the default. */
static ursa_flush_policy_t policy_of(const ursa_catalog_t *c, const ursa_dataset_t *d)
{
    ursa_flush_policy_t p = d->schema.flush;
    const ursa_flush_policy_t *q = &c->flush_default;
    if (!p.max_rows) p.max_rows = q->max_rows;
    if (!p.max_bytes) p.max_bytes = q->max_bytes;
    if (!p.max_age_s) p.max_age_s = q->max_age_s;
    if (!p.every_s) p.every_s = q->every_s;
    if (!p.nat) {
        memcpy(p.at, q->at, sizeof(p.at));
        p.nat = q->nat;
    }
    return p;
}

/* Did a time of day in at[] pass in the wall-clock window (prev, now]? */
static bool passed_time_of_day(const ursa_flush_policy_t *p, int64_t prev, int64_t now)
{
    for (int i = 0; i < p->nat && prev; i++) {
        int64_t t = (int64_t)p->at[i] * 60, day = 86400;
        int64_t last = (now - t) / day * day + t; /* the latest occurrence at or before now */
        if (last > now) last -= day;
        if (last > prev) return true;
    }
    return false;
}

static const char *due(const ursa_catalog_t *c, ursa_dataset_t *d, int64_t now, int64_t wall_prev,
                       int64_t wall)
{
    ursa_flush_policy_t p = policy_of(c, d);
    pthread_mutex_lock(&d->lock);
    uint64_t rows = d->rows, bytes = d->bytes;
    int64_t oldest = d->oldest_ms;
    pthread_mutex_unlock(&d->lock);
    /* A table commit that failed is retried every few seconds, rows or not
     * (the flush retries it first). */
    if (!rows)
        return __atomic_load_n(&d->ntpending, __ATOMIC_RELAXED) && now - d->last_flush_ms >= 5000
                   ? "table commit"
                   : NULL;
    if (p.max_rows && rows >= p.max_rows) return "max_rows";
    if (p.max_bytes && bytes >= p.max_bytes) return "max_bytes";
    if (p.max_age_s && oldest && now - oldest >= (int64_t)p.max_age_s * 1000) return "max_age";
    if (p.every_s && now - d->last_flush_ms >= (int64_t)p.every_s * 1000) return "schedule";
    if (passed_time_of_day(&p, wall_prev, wall)) return "time of day";
    return NULL;
}

/* Flushes d for the reason why; a failure backs the dataset off (1, 2, 4
 * ... 32 s). Returns true when it was flushed. */
static bool flush_one(ursa_catalog_t *c, ursa_dataset_t *d, const char *why)
{
    ursa_flush_result_t res;
    ursa_err_t err = {0};
    int64_t now = ursa_now_ms();
    if (ursa_dataset_flush(c, d, &res, &err)) {
        int64_t wait = 1000LL << (d->failures < 5 ? d->failures : 5);
        d->failures++;
        d->retry_at_ms = now + wait;
        ursa_error("flush of %s (%s) failed, next try in %lld s: %s", d->name, why, (long long)(wait / 1000),
                   err.msg);
        return false;
    }
    d->failures = 0;
    d->retry_at_ms = 0;
    d->last_flush_ms = ursa_now_ms();
    if (res.nfiles)
        ursa_info("flushed %s (%s): %llu rows in %zu files", d->name, why, (unsigned long long)res.rows,
                  res.nfiles);
    ursa_flush_result_free(&res);
    return true;
}

/* With tables: the upkeep of d's table (table_upkeep.c) when it is due,
 * every quarter of the retention, at least a second and at most 10 minutes
 * apart (with the dataset's cache of lists, a run reads little more than
 * the lists of snapshots made or expired since the last: bench_upkeep). A
 * failure is logged and tried again at the next turn. */
static void upkeep_one(ursa_catalog_t *c, ursa_dataset_t *d, int64_t now)
{
    if (!c->iceberg || d->parent || now < d->upkeep_at_ms) return;
    int64_t retention = c->retention_ms > 0 ? c->retention_ms : TABLE_RETENTION_DEFAULT_MS;
    int64_t every = retention / 4 < 1000 ? 1000 : retention / 4 > 600000 ? 600000 : retention / 4;
    d->upkeep_at_ms = now + every;
    table_upkeep_stats_t s;
    ursa_err_t err = {0};
    int rc = table_upkeep(c->store, d->name, retention, iceberg_now_ms(), &d->upkeep_cache, &s, &err);
    URSA_COUNT(table_upkeeps, rc == URSA_OK);
    URSA_COUNT(table_upkeeps_failed, rc != URSA_OK);
    URSA_COUNT(table_snapshots_expired, s.snapshots_expired);
    URSA_COUNT(table_deleted_data, s.data_files_deleted);
    URSA_COUNT(table_deleted_manifests, s.manifests_deleted);
    URSA_COUNT(table_deleted_lists, s.lists_deleted);
    URSA_COUNT(table_deleted_metadata, s.metadata_deleted);
    if (rc)
        ursa_error("upkeep of the table of %s failed (tried again in %lld s): %s", d->name,
                   (long long)(every / 1000), err.msg);
    else if (s.snapshots_expired || s.lists_deleted || s.manifests_deleted || s.data_files_deleted ||
             s.metadata_deleted)
        ursa_info("upkeep of %s: %zu snapshots expired; deleted %zu data files, %zu manifests, %zu manifest "
                  "lists (%zu of them orphans), %zu metadata files",
                  d->name, s.snapshots_expired, s.data_files_deleted, s.manifests_deleted, s.lists_deleted,
                  s.orphans_deleted, s.metadata_deleted);
}

/* The upkeeper: every second, the tables whose upkeep is due. */
static void *upkeeper(void *arg)
{
    ursa_catalog_t *c = arg;
    ursa_thread_background();
    for (;;) {
        pthread_mutex_lock(&c->flusher_mu);
        if (!c->flusher_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec++;
            pthread_cond_timedwait(&c->upkeep_cv, &c->flusher_mu, &ts);
        }
        bool stop = c->flusher_stop;
        pthread_mutex_unlock(&c->flusher_mu);
        ursa_dataset_t **all;
        size_t n;
        if (stop) break;
        if (ursa_catalog_list(c, &all, &n)) continue;
        for (size_t i = 0; i < n && !stop; i++) {
            upkeep_one(c, all[i], ursa_now_ms());
            pthread_mutex_lock(&c->flusher_mu); /* a stop waits for one table's run at most */
            stop = c->flusher_stop;
            pthread_mutex_unlock(&c->flusher_mu);
        }
        ursa_free(all);
    }
    return NULL;
}

static void *flusher(void *arg)
{
    ursa_catalog_t *c = arg;
    ursa_thread_background(); /* its writers' encoding threads inherit it */
    int64_t start = ursa_now_ms();
    pthread_rwlock_rdlock(&c->lock);
    for (size_t i = 0; i < c->n; i++) c->ds[i]->last_flush_ms = start;
    pthread_rwlock_unlock(&c->lock);
    int64_t wall_prev = (int64_t)time(NULL);
    uint64_t round_id = 1; /* marks the datasets flushed for memory in one pass */
    for (;;) {
        pthread_mutex_lock(&c->flusher_mu);
        if (!c->flusher_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100000000;
            if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&c->flusher_cv, &c->flusher_mu, &ts);
        }
        bool stop = c->flusher_stop;
        pthread_mutex_unlock(&c->flusher_mu);
        if (stop) break;
        ursa_dataset_t **all;
        size_t n;
        int64_t wall = (int64_t)time(NULL);
        if (ursa_catalog_list(c, &all, &n)) continue;
        for (size_t i = 0; i < n; i++) {
            ursa_dataset_t *d = all[i];
            int64_t now = ursa_now_ms();
            if (!d->last_flush_ms) d->last_flush_ms = now; /* created after start */
            const char *why = due(c, d, now, wall_prev, wall);
            if (why && now >= d->retry_at_ms) flush_one(c, d, why);
        }
        /* Under pressure: the largest buffer, then the next largest ...
         * (each dataset once a round: rows not yet durable stay). */
        for (size_t round = 0; round < n && high_water_reached(c, round); round++) {
            ursa_dataset_t *big = NULL;
            uint64_t most = 0;
            int64_t now = ursa_now_ms();
            for (size_t i = 0; i < n; i++) {
                uint64_t rows, bytes;
                ursa_dataset_stats(all[i], &rows, &bytes);
                if (rows && bytes > most && now >= all[i]->retry_at_ms &&
                    all[i]->pressure_round != round_id) {
                    most = bytes;
                    big = all[i];
                }
            }
            if (!big) break;
            big->pressure_round = round_id;
            flush_one(c, big, "memory");
        }
        round_id++;
        ursa_free(all);
        wall_prev = wall;
    }
    return NULL;
}

int ursa_catalog_start_flusher(ursa_catalog_t *c)
{
    if (c->flusher_started) return URSA_OK;
    c->flusher_stop = false;
    if (pthread_create(&c->flusher, NULL, flusher, c)) return URSA_ENOMEM;
    c->flusher_started = true;
    if (c->iceberg && !c->upkeeper_started) {
        if (pthread_create(&c->upkeeper, NULL, upkeeper, c)) return URSA_ENOMEM;
        c->upkeeper_started = true;
    }
    return URSA_OK;
}

void ursa_catalog_stop_flusher(ursa_catalog_t *c)
{
    if (!c->flusher_started) return;
    pthread_mutex_lock(&c->flusher_mu);
    c->flusher_stop = true;
    pthread_cond_signal(&c->flusher_cv);
    pthread_cond_signal(&c->upkeep_cv);
    pthread_mutex_unlock(&c->flusher_mu);
    pthread_join(c->flusher, NULL);
    c->flusher_started = false;
    if (c->upkeeper_started) pthread_join(c->upkeeper, NULL);
    c->upkeeper_started = false;
}

/* Moves the fields of t that d's schema lacks (by name) into the free slots
 * of d's schema from `at` on, past the published count (an evolving
 * dataset's array has room for URSA_COLUMNS_MAX); returns how many. The
 * caller holds d's evolve_lock and publishes them. */
static size_t adopt_fields(ursa_dataset_t *d, size_t at, ursa_schema_t *t)
{
    ursa_schema_t view = d->schema;
    size_t n = 0;
    for (size_t i = 0; i < t->nfields && at + n < URSA_COLUMNS_MAX; i++) {
        ursa_field_t *f = &t->fields[i];
        view.nfields = at + n;
        if (ursa_schema_find(&view, f->name, f->name_len) >= 0) continue;
        d->schema.fields[at + n++] = *f;
        memset(f, 0, sizeof(*f));
    }
    return n;
}

/* Raises d's field count to ncols with json (taken over) as its document. */
static void publish_fields(ursa_dataset_t *d, size_t ncols, ursa_buf_t *json)
{
    pthread_mutex_lock(&d->lock); /* a flush takes the field count and document together */
    size_t nf = d->schema.nfields;
    __atomic_store_n(&d->schema.nfields, ncols, __ATOMIC_RELEASE);
    char *old = d->schema_json;
    d->schema_json = (char *)json->data;
    pthread_mutex_unlock(&d->lock);
    json->data = NULL;
    ursa_free(old);
    for (size_t j = nf; j < ncols; j++)
        ursa_info("dataset %s: new column %s (%s)", d->name, d->schema.fields[j].name,
                  ursa_type_name(d->schema.fields[j].type));
}

static int render(const ursa_schema_t *s, size_t nfields, ursa_buf_t *json)
{
    ursa_schema_t view = *s;
    view.nfields = nfields;
    int rc = ursa_schema_to_json(&view, json);
    return rc ? rc : ursa_buf_push(json, '\0');
}

/* Takes the columns other nodes added to d's table (the caller holds d's
 * evolve_lock; evolving datasets with tables only). */
static int sync_from_table(ursa_catalog_t *c, ursa_dataset_t *d, ursa_err_t *err)
{
    ursa_schema_t t;
    int rc = table_load_schema(c->store, d->name, &t, err);
    if (rc == URSA_ENOTFOUND) return URSA_OK;
    if (rc) return rc;
    size_t nf = d->schema.nfields, n = adopt_fields(d, nf, &t);
    ursa_schema_free(&t);
    ursa_buf_t json = {0};
    if (n && (rc = render(&d->schema, nf + n, &json))) {
        for (size_t k = nf; k < nf + n; k++) ursa_field_free(&d->schema.fields[k]);
        ursa_buf_free(&json);
        return ursa_err_set(err, rc, "out of memory");
    }
    if (n) publish_fields(d, nf + n, &json);
    return URSA_OK;
}

int ursa_dataset_refresh(ursa_catalog_t *c, ursa_dataset_t *d, ursa_err_t *err)
{
    if (!c->iceberg || !d->schema.evolve || d->parent) return URSA_OK;
    pthread_mutex_lock(&d->evolve_lock);
    int rc = sync_from_table(c, d, err);
    pthread_mutex_unlock(&d->evolve_lock);
    return rc;
}

int ursa_dataset_evolve(ursa_catalog_t *c, ursa_dataset_t *d, const ursa_schema_t *req, size_t base,
                        ursa_batch_t *b, ursa_err_t *err)
{
    ursa_schema_t *s = &d->schema;
    size_t nown = b->ncols > base ? b->ncols - base : 0;
    if (!nown) return URSA_OK; /* the request added no field */
    if (!s->evolve || req->nfields != b->ncols || base > ursa_schema_nfields(s))
        return ursa_err_set(err, URSA_EINVAL, "dataset %s: a batch that does not fit its schema", d->name);
    int32_t *to = ursa_malloc(nown * sizeof(*to)); /* own field -> d's column, -1: dropped */
    int32_t *from = NULL;                          /* d's column - base -> own field, -1: nulls */
    ursa_column_t *cols = NULL;
    ursa_buf_t json = {0};
    char key[URSA_NAME_MAX + 64];
    size_t nf, nadd = 0, ncols = 0, written = 0;
    if (!to) return URSA_ENOMEM;
    int rc = URSA_OK;
    pthread_mutex_lock(&d->evolve_lock); /* the only writer of the schema */
    /* With tables, first the columns other nodes added, when a field is
     * new here: one of theirs is then found below by name, with their type. */
    bool unknown = false;
    for (size_t i = 0; i < nown && !unknown; i++)
        unknown = b->cols[base + i].null_count < b->cols[base + i].length &&
                  ursa_schema_find(s, req->fields[base + i].name, req->fields[base + i].name_len) < 0;
    if (c->iceberg && unknown && (rc = sync_from_table(c, d, err))) goto out;
    nf = s->nfields;
    for (size_t i = 0; i < nown && rc == URSA_OK; i++) {
        const ursa_field_t *f = &req->fields[base + i];
        const ursa_column_t *col = &b->cols[base + i];
        to[i] = -1;
        if (col->null_count == col->length) continue; /* no row to be stored has a value */
        int k = ursa_schema_find(s, f->name, f->name_len);
        if (k >= 0 && s->fields[k].type != f->type)
            rc = ursa_err_set(err, URSA_EEXIST,
                              "column \"%s\" was added meanwhile by another request or node as %s, and this "
                              "request has %s values for it; nothing was accepted, retry (values of "
                              "another type than %s are then refused row by row)",
                              f->name, ursa_type_name(s->fields[k].type), ursa_type_name(f->type),
                              ursa_type_name(s->fields[k].type));
        else if (k >= 0)
            to[i] = k;
        else if (!ursa_name_valid(f->name, f->name_len))
            rc = ursa_err_set(err, URSA_EINVAL, "\"%.64s\" cannot be a column name", f->name);
        else
            to[i] = (int32_t)(nf + nadd++);
    }
    if (rc == URSA_OK && nf + nadd > URSA_COLUMNS_MAX)
        rc = ursa_err_set(err, URSA_ELIMIT,
                          "this request's %zu new columns would make %zu, more than the %d columns a "
                          "schema may have (other requests added columns meanwhile); nothing was "
                          "accepted, retry (records past the limit are then refused row by row)",
                          nadd, nf + nadd, URSA_COLUMNS_MAX);
    if (rc) goto out;
    /* The new fields go into slots past the published count: no reader
     * looks there until the count is raised. */
    for (size_t i = 0; i < nown && rc == URSA_OK; i++) {
        if (to[i] < (int32_t)nf) continue;
        const ursa_field_t *rf = &req->fields[base + i];
        ursa_field_t *f = &s->fields[to[i]];
        memset(f, 0, sizeof(*f));
        if (!(f->name = ursa_malloc(rf->name_len + 1))) {
            rc = URSA_ENOMEM;
            break;
        }
        memcpy(f->name, rf->name, rf->name_len + 1);
        f->name_len = rf->name_len;
        f->type = rf->type;
        f->nullable = true;
        f->unit = URSA_UNIT_US;
        f->utc = true;
        written++;
    }
    ncols = nf + nadd;
    /* The table first: it is the schema of every node. Columns another
     * node added meanwhile come back with it and are taken too. */
    if (rc == URSA_OK && nadd && c->iceberg) {
        ursa_schema_t view = *s, t;
        view.nfields = ncols;
        if ((rc = table_schema(c->store, d->name, &view, 0, NULL, NULL, &t, err)) == URSA_OK) {
            size_t more = adopt_fields(d, ncols, &t);
            ncols += more, written += more;
            ursa_schema_free(&t);
        }
    }
    /* The batch in d's order is built before anything is committed, so that
     * nothing can fail once the store has the schema. Columns of fields
     * others added get nulls (under the lock: only requests that add fields
     * wait for it). */
    if (rc == URSA_OK) {
        cols = ursa_calloc(ncols, sizeof(*cols));
        from = ursa_malloc((ncols - base + 1) * sizeof(*from));
        if (!cols || !from) rc = URSA_ENOMEM;
    }
    if (rc == URSA_OK) {
        for (size_t j = base; j < ncols; j++) from[j - base] = -1;
        for (size_t i = 0; i < nown; i++)
            if (to[i] >= 0) from[to[i] - (int32_t)base] = (int32_t)i;
        for (size_t j = base; j < ncols && rc == URSA_OK; j++) {
            if (from[j - base] >= 0) continue;
            ursa_column_init_field(&cols[j], &s->fields[j]);
            rc = ursa_column_append_nulls(&cols[j], b->nrows);
        }
    }
    /* The schema with the new fields is in the store before any row that
     * has them is logged: a restart replays the log against it. (With
     * tables the file is a copy of the table's, for a start without them.) */
    if (rc == URSA_OK && ncols > nf && (rc = render(s, ncols, &json)) == URSA_OK &&
        (rc = schema_key(d->name, key, sizeof(key))) == URSA_OK)
        rc = ursa_store_put(c->store, key, json.data, json.len - 1, err);
    if (rc) {
        for (size_t j = 0; cols && j < ncols; j++) ursa_column_free(&cols[j]);
        for (size_t k = 0; k < written; k++) ursa_field_free(&s->fields[nf + k]);
        goto out;
    }
    if (ncols > nf) publish_fields(d, ncols, &json);
out:
    pthread_mutex_unlock(&d->evolve_lock);
    if (rc == URSA_OK) { /* move the columns over; own fields without a value go */
        for (size_t j = 0; j < base; j++) cols[j] = b->cols[j];
        for (size_t i = 0; i < nown; i++) {
            if (to[i] >= 0)
                cols[to[i]] = b->cols[base + i];
            else
                ursa_column_free(&b->cols[base + i]);
        }
        ursa_free(b->cols);
        b->cols = cols;
        b->ncols = ncols;
        cols = NULL;
    }
    ursa_free(cols);
    ursa_free(from);
    ursa_free(to);
    ursa_buf_free(&json);
    return rc;
}

char *ursa_dataset_schema_json(ursa_dataset_t *d)
{
    pthread_mutex_lock(&d->lock);
    char *j = ursa_strdup(d->schema_json);
    pthread_mutex_unlock(&d->lock);
    return j;
}
