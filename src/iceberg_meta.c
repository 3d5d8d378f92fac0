/*
 * iceberg_meta.c -- Iceberg table metadata (JSON) and its atomic commit.
 *
 * Design. The metadata is one JSON document per version, written once and
 * never changed; a version is current when it is the highest that exists.
 * Writers race only for the name of the next version, and the store's
 * conditional write (put_if_absent) lets exactly one win; a loser reloads
 * the winner's document, applies its change to it again, and tries the
 * version after. version-hint.text records the last version written so
 * that readers that look for it (Spark's Hadoop catalog, DuckDB, icebird)
 * find the table, and so that loading does not list the folder; because a
 * writer can die between the metadata file and the hint, the hint is
 * trusted as a lower bound only: the loader probes the versions after it.
 *
 * Invariants: a version's document names its predecessor in metadata-log;
 * sequence numbers and snapshot ids grow by commit; field ids are never
 * reused (last-column-id only grows). Failure cases: a store without
 * conditional writes gives URSA_ENOTSUP from put_if_absent and the commit
 * fails (the caller refuses to start multi-node use on such a store); a
 * damaged metadata file is URSA_EFORMAT naming it; a hint that is not a
 * number is ignored (probing from 1).
 */
#include "iceberg_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

const char *iceberg_type_name(const ursa_field_t *f, char *buf, size_t n)
{
    switch (f->type) {
    case URSA_TYPE_BOOL:
        return "boolean";
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
        return "int";
    case URSA_TYPE_INT64:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_UINT64: /* values above 2^63 - 1 read as negative: Iceberg has no unsigned long */
        return "long";
    case URSA_TYPE_FLOAT32:
        return "float";
    case URSA_TYPE_FLOAT64:
        return "double";
    case URSA_TYPE_DECIMAL:
        snprintf(buf, n, "decimal(%u, %u)", (unsigned)f->precision, (unsigned)f->scale);
        return buf;
    case URSA_TYPE_STRING:
    case URSA_TYPE_JSON: /* JSON text */
        return "string";
    case URSA_TYPE_BINARY:
        return "binary";
    case URSA_TYPE_DATE:
        return "date";
    case URSA_TYPE_TIME:
        return "time";
    case URSA_TYPE_TIMESTAMP: /* Iceberg v2 has microseconds only: ms and ns columns keep their Parquet unit
                               */
        return f->utc ? "timestamptz" : "timestamp";
    case URSA_TYPE_UUID:
        return "uuid";
    default:
        return NULL;
    }
}

static int nomem(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ENOMEM, "out of memory");
}

/* json_object_set_new that reports failure. */
static int set(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0 ? URSA_OK : URSA_ENOMEM;
}

static int64_t get_int(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int64_t iceberg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t iceberg_random64(void)
{
    uint64_t x;
    if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x)) /* no entropy yet: time, unique enough for names */
        x = (uint64_t)iceberg_now_ms() * 6364136223846793005ull + (uint64_t)clock() + 1442695040888963407ull;
    return x;
}

static void uuid_v4(char out[37])
{
    uint64_t hi = iceberg_random64(), lo = iceberg_random64();
    uint8_t b[16];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(hi >> (56 - 8 * i)), b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40), b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* The schema object of schema_id with the given fields (ids[i] for s's
 * field i). */
static json_t *schema_json(const ursa_schema_t *s, const int32_t *ids, int32_t schema_id)
{
    json_t *o = json_object(), *fields = json_array();
    if (!o || !fields || set(o, "type", json_string("struct")) ||
        set(o, "schema-id", json_integer(schema_id))) {
        json_decref(o), json_decref(fields);
        return NULL;
    }
    for (size_t i = 0; i < s->nfields; i++) {
        const ursa_field_t *f = &s->fields[i];
        char buf[32];
        json_t *fj = json_object();
        if (!fj || set(fj, "id", json_integer(ids[i])) || set(fj, "name", json_string(f->name)) ||
            set(fj, "required", json_boolean(!f->nullable)) ||
            set(fj, "type", json_string(iceberg_type_name(f, buf, sizeof(buf)))) ||
            json_array_append_new(fields, fj)) {
            json_decref(o), json_decref(fields);
            return NULL;
        }
    }
    if (set(o, "fields", fields)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The current schema object. */
static const json_t *current_schema(const json_t *t)
{
    int64_t id = get_int(t, "current-schema-id", -1);
    const json_t *schemas = json_object_get(t, "schemas"), *sc;
    size_t i;
    json_array_foreach(schemas, i, sc) if (get_int(sc, "schema-id", -2) == id) return sc;
    return NULL;
}

/* The field of the current schema named name, or NULL. */
static const json_t *field_named(const json_t *schema, const char *name)
{
    const json_t *fields = json_object_get(schema, "fields"), *f;
    size_t i;
    json_array_foreach(fields, i, f)
    {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, name) == 0) return f;
    }
    return NULL;
}

int iceberg_table_new(json_t **out, const char *location, const ursa_schema_t *s, const char *const *sort_by,
                      size_t nsort, int64_t now_ms, ursa_err_t *err)
{
    *out = NULL;
    if (s->time_column < 0 || (size_t)s->time_column >= s->nfields)
        return ursa_err_set(err, URSA_EINVAL, "a table needs a time column to partition by");
    int32_t *ids = ursa_calloc(s->nfields ? s->nfields : 1, sizeof(*ids));
    if (!ids) return nomem(err);
    for (size_t i = 0; i < s->nfields; i++) ids[i] = (int32_t)i + 1;
    char uuid[37];
    uuid_v4(uuid);
    json_t *t = json_object(), *schemas = json_array(), *sc = schema_json(s, ids, 0);
    json_t *specs = json_array(), *spec = json_object(), *pfields = json_array(), *pf = json_object();
    json_t *orders = json_array(), *unsorted = json_object(), *order = json_object(), *ofields = json_array();
    int rc = URSA_ENOMEM;
    const ursa_field_t *tf = &s->fields[s->time_column];
    char pname[300];
    snprintf(pname, sizeof(pname), "%s_day", tf->name);
    if (!t || !schemas || !sc || !specs || !spec || !pfields || !pf || !orders || !unsorted || !order ||
        !ofields)
        goto out;
    if (json_array_append(schemas, sc) || set(pf, "name", json_string(pname)) ||
        set(pf, "transform", json_string("day")) || set(pf, "source-id", json_integer(ids[s->time_column])) ||
        set(pf, "field-id", json_integer(1000)) || json_array_append(pfields, pf) ||
        set(spec, "spec-id", json_integer(0)) || set(spec, "fields", json_incref(pfields)) ||
        json_array_append(specs, spec) || set(unsorted, "order-id", json_integer(0)) ||
        set(unsorted, "fields", json_array()) || json_array_append(orders, unsorted))
        goto out;
    size_t nkeys = nsort ? nsort : 1;
    for (size_t k = 0; k < nkeys; k++) {
        const char *name = nsort ? sort_by[k] : tf->name;
        size_t i = 0;
        while (i < s->nfields && strcmp(s->fields[i].name, name) != 0) i++;
        if (i == s->nfields) {
            rc = ursa_err_set(err, URSA_EINVAL, "sort key %s is not a column", name);
            goto out_set;
        }
        json_t *of = json_object();
        if (!of || set(of, "transform", json_string("identity")) ||
            set(of, "source-id", json_integer(ids[i])) || set(of, "direction", json_string("asc")) ||
            set(of, "null-order", json_string("nulls-first")) || json_array_append_new(ofields, of)) {
            json_decref(of);
            goto out;
        }
    }
    if (set(order, "order-id", json_integer(1)) || set(order, "fields", json_incref(ofields)) ||
        json_array_append(orders, order))
        goto out;
    if (set(t, "format-version", json_integer(2)) || set(t, "table-uuid", json_string(uuid)) ||
        set(t, "location", json_string(location)) || set(t, "last-sequence-number", json_integer(0)) ||
        set(t, "last-updated-ms", json_integer(now_ms)) ||
        set(t, "last-column-id", json_integer((json_int_t)s->nfields)) ||
        set(t, "schemas", json_incref(schemas)) || set(t, "current-schema-id", json_integer(0)) ||
        set(t, "partition-specs", json_incref(specs)) || set(t, "default-spec-id", json_integer(0)) ||
        set(t, "last-partition-id", json_integer(1000)) || set(t, "sort-orders", json_incref(orders)) ||
        set(t, "default-sort-order-id", json_integer(1)) || set(t, "properties", json_object()) ||
        set(t, "current-snapshot-id", json_integer(-1)) || set(t, "refs", json_object()) ||
        set(t, "snapshots", json_array()) || set(t, "snapshot-log", json_array()) ||
        set(t, "metadata-log", json_array()))
        goto out;
    *out = t;
    t = NULL;
    rc = URSA_OK;
out:
    if (rc == URSA_ENOMEM) nomem(err);
out_set:
    json_decref(t), json_decref(schemas), json_decref(sc), json_decref(specs), json_decref(spec);
    json_decref(pfields), json_decref(pf), json_decref(orders), json_decref(unsorted), json_decref(order);
    json_decref(ofields);
    ursa_free(ids);
    return rc;
}

int iceberg_table_field_ids(const json_t *t, const ursa_schema_t *s, int32_t *ids, ursa_err_t *err)
{
    const json_t *sc = current_schema(t);
    if (!sc) return ursa_err_set(err, URSA_EFORMAT, "the table has no current schema");
    for (size_t i = 0; i < s->nfields; i++) {
        const json_t *f = field_named(sc, s->fields[i].name);
        if (!f)
            return ursa_err_set(err, URSA_EINVAL, "column %s is not in the table's schema",
                                s->fields[i].name);
        ids[i] = (int32_t)get_int(f, "id", 0);
    }
    return URSA_OK;
}

int iceberg_table_set_schema(json_t *t, const ursa_schema_t *s, bool *changed, ursa_err_t *err)
{
    *changed = false;
    const json_t *sc = current_schema(t);
    if (!sc) return ursa_err_set(err, URSA_EFORMAT, "the table has no current schema");
    int64_t last = get_int(t, "last-column-id", 0), max_schema = -1;
    int32_t *ids = ursa_calloc(s->nfields ? s->nfields : 1, sizeof(*ids));
    if (!ids) return nomem(err);
    int rc = URSA_OK;
    size_t kept = 0;
    bool differs = false;
    for (size_t i = 0; i < s->nfields; i++) {
        const ursa_field_t *f = &s->fields[i];
        const json_t *old = field_named(sc, f->name);
        char buf[32];
        const char *type = iceberg_type_name(f, buf, sizeof(buf));
        if (old) {
            const char *ot = json_string_value(json_object_get(old, "type"));
            if (!ot || !type || strcmp(ot, type) != 0) {
                rc = ursa_err_set(err, URSA_EINVAL, "column %s changes type (%s to %s)", f->name,
                                  ot ? ot : "?", type ? type : "?");
                goto out;
            }
            ids[i] = (int32_t)get_int(old, "id", 0);
            differs = differs || json_is_true(json_object_get(old, "required")) != !f->nullable;
            kept++;
        } else {
            ids[i] = (int32_t)++last;
            differs = true;
        }
    }
    if (kept != json_array_size(json_object_get(sc, "fields"))) {
        rc = ursa_err_set(err, URSA_EINVAL, "a column of the table's schema is missing from the new schema");
        goto out;
    }
    if (!differs) goto out;
    const json_t *schemas = json_object_get(t, "schemas"), *x;
    size_t k;
    json_array_foreach(schemas, k, x) if (get_int(x, "schema-id", -1) > max_schema) max_schema =
        get_int(x, "schema-id", -1);
    json_t *nsc = schema_json(s, ids, (int32_t)(max_schema + 1));
    if (!nsc || json_array_append_new(json_object_get(t, "schemas"), nsc) ||
        set(t, "current-schema-id", json_integer(max_schema + 1)) ||
        set(t, "last-column-id", json_integer(last))) {
        rc = nomem(err);
        goto out;
    }
    *changed = true;
out:
    ursa_free(ids);
    return rc;
}

const json_t *iceberg_table_current(const json_t *t)
{
    int64_t id = get_int(t, "current-snapshot-id", -1);
    const json_t *snaps = json_object_get(t, "snapshots"), *s;
    size_t i;
    if (id < 0) return NULL;
    json_array_foreach(snaps, i, s) if (get_int(s, "snapshot-id", -1) == id) return s;
    return NULL;
}

const json_t *iceberg_table_find_snapshot(const json_t *t, const char *key, const char *value)
{
    const json_t *snaps = json_object_get(t, "snapshots");
    for (size_t i = json_array_size(snaps); i-- > 0;) {
        const json_t *s = json_array_get(snaps, i);
        const char *v = json_string_value(json_object_get(json_object_get(s, "summary"), key));
        if (v && strcmp(v, value) == 0) return s;
    }
    return NULL;
}

int iceberg_table_add_snapshot(json_t *t, int64_t id, const char *manifest_list, const iceberg_kv_t *kv,
                               size_t nkv, int64_t now_ms, int64_t *seq, ursa_err_t *err)
{
    /* jansson's *_new calls take the reference even when they fail, so each
     * object is handed over as soon as it is made; on an error t is left
     * half changed, and the caller drops it. */
    int64_t parent = get_int(t, "current-snapshot-id", -1), next = get_int(t, "last-sequence-number", 0) + 1;
    json_t *s = json_object(), *sum = json_object(), *main = json_object(), *log = json_object();
    if (!s || !sum || !main || !log) {
        json_decref(s), json_decref(sum), json_decref(main), json_decref(log);
        return nomem(err);
    }
    int bad = set(sum, "operation", json_string("append"));
    for (size_t i = 0; i < nkv && !bad; i++) bad = set(sum, kv[i].key, json_string(kv[i].value));
    bad = bad || set(s, "snapshot-id", json_integer(id)) ||
          (parent >= 0 && set(s, "parent-snapshot-id", json_integer(parent))) ||
          set(s, "sequence-number", json_integer(next)) || set(s, "timestamp-ms", json_integer(now_ms)) ||
          set(s, "manifest-list", json_string(manifest_list)) ||
          set(s, "schema-id", json_integer(get_int(t, "current-schema-id", 0)));
    bad = bad || set(main, "snapshot-id", json_integer(id)) || set(main, "type", json_string("branch")) ||
          set(log, "timestamp-ms", json_integer(now_ms)) || set(log, "snapshot-id", json_integer(id));
    if (bad || set(s, "summary", sum)) { /* sum is taken (and freed) by the second */
        if (bad) json_decref(sum);
        json_decref(s), json_decref(main), json_decref(log);
        return nomem(err);
    }
    if (!json_is_object(json_object_get(t, "refs"))) bad = set(t, "refs", json_object());
    if (!bad && !json_is_array(json_object_get(t, "snapshots"))) bad = set(t, "snapshots", json_array());
    if (!bad && !json_is_array(json_object_get(t, "snapshot-log")))
        bad = set(t, "snapshot-log", json_array());
    if (bad) {
        json_decref(s), json_decref(main), json_decref(log);
        return nomem(err);
    }
    bad = json_array_append_new(json_object_get(t, "snapshots"), s) != 0;
    bad = json_object_set_new(json_object_get(t, "refs"), "main", main) != 0 || bad;
    bad = json_array_append_new(json_object_get(t, "snapshot-log"), log) != 0 || bad;
    if (bad || set(t, "current-snapshot-id", json_integer(id)) ||
        set(t, "last-sequence-number", json_integer(next)) || set(t, "last-updated-ms", json_integer(now_ms)))
        return nomem(err);
    if (seq) *seq = next;
    return URSA_OK;
}

/* ------------------------------------------------------------------------ */
/* Loading and committing. */

static int meta_key(char *buf, size_t n, const char *dir, int64_t v)
{
    int k = snprintf(buf, n, "%s/metadata/v%lld.metadata.json", dir, (long long)v);
    return k > 0 && (size_t)k < n ? URSA_OK : URSA_EINVAL;
}

int iceberg_load(ursa_store_t *st, const char *dir, json_t **t, int64_t *version, int *requests,
                 ursa_err_t *err)
{
    char key[1024];
    ursa_buf_t b = {0};
    ursa_err_t e = {0};
    int rc, reqs = 0;
    int64_t v = 0;
    *t = NULL, *version = 0;
    /* The hint: a lower bound. */
    snprintf(key, sizeof(key), "%s/metadata/version-hint.text", dir);
    rc = ursa_store_get(st, key, &b, &e);
    reqs++;
    if (rc == URSA_OK) {
        char num[32];
        size_t n = b.len < sizeof(num) - 1 ? b.len : sizeof(num) - 1;
        memcpy(num, b.data, n), num[n] = '\0';
        char *end;
        long long x = strtoll(num, &end, 10);
        while (*end == '\n' || *end == ' ' || *end == '\r') end++;
        if (end != num && *end == '\0' && x > 0) v = x;
    } else if (rc != URSA_ENOTFOUND) {
        rc = ursa_err_set(err, rc, "%s: %s", key, e.msg);
        goto out;
    }
    /* Probe forward: versions written after the hint. */
    for (;;) {
        uint64_t size;
        if ((rc = meta_key(key, sizeof(key), dir, v + 1))) {
            rc = ursa_err_set(err, rc, "%s: a key too long", dir);
            goto out;
        }
        rc = ursa_store_head(st, key, &size, &e);
        reqs++;
        if (rc == URSA_ENOTFOUND) break;
        if (rc) {
            rc = ursa_err_set(err, rc, "%s: %s", key, e.msg);
            goto out;
        }
        v++;
    }
    if (v == 0) {
        rc = URSA_OK;
        goto out;
    }
    if ((rc = meta_key(key, sizeof(key), dir, v)) || (rc = ursa_store_get(st, key, &b, &e))) {
        rc = ursa_err_set(err, rc, "%s: %s", key, e.msg);
        goto out;
    }
    reqs++;
    json_error_t je;
    *t = json_loadb((const char *)b.data, b.len, 0, &je);
    if (!*t || !json_is_object(*t) || get_int(*t, "format-version", 0) != 2) {
        json_decref(*t), *t = NULL;
        rc = ursa_err_set(err, URSA_EFORMAT, "%s: not Iceberg v2 table metadata (%s)", key, je.text);
        goto out;
    }
    *version = v;
    rc = URSA_OK;
out:
    if (requests) *requests += reqs;
    ursa_buf_free(&b);
    return rc;
}

/* Sleeps a random time up to base * 2^attempt ms (capped at 1 s). */
static void backoff(int attempt)
{
    long cap = 5L << (attempt < 8 ? attempt : 8);
    if (cap > 1000) cap = 1000;
    long ms = 1 + rand() % cap;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Adds the previous version's file to the metadata log of t (capped). */
static int log_previous(json_t *t, const char *location, int64_t v, int64_t ts)
{
    if (v <= 0) return URSA_OK;
    char file[2048];
    snprintf(file, sizeof(file), "%s/metadata/v%lld.metadata.json", location, (long long)v);
    json_t *log = json_object_get(t, "metadata-log");
    if (!json_is_array(log)) {
        if (set(t, "metadata-log", json_array())) return URSA_ENOMEM;
        log = json_object_get(t, "metadata-log");
    }
    json_t *e = json_object();
    if (!e || set(e, "timestamp-ms", json_integer(ts)) || set(e, "metadata-file", json_string(file)) ||
        json_array_append_new(log, e)) {
        json_decref(e);
        return URSA_ENOMEM;
    }
    while (json_array_size(log) > ICEBERG_METADATA_LOG_MAX) json_array_remove(log, 0);
    return URSA_OK;
}

void iceberg_test_kill(const char *step)
{
    const char *at = getenv("URSA_TEST_KILL_AT");
    if (at && strcmp(at, step) == 0) raise(SIGKILL);
}

int iceberg_commit(ursa_store_t *st, const char *dir, iceberg_mutate_fn fn, void *ctx, int attempts,
                   iceberg_commit_stats_t *stats, ursa_err_t *err)
{
    const char *pause = getenv("URSA_TEST_COMMIT_PAUSE_MS");
    iceberg_commit_stats_t sx = {0};
    int rc = URSA_OK, a;
    for (a = 0; a < attempts; a++) {
        json_t *t = NULL, *orig;
        int64_t v;
        sx.attempts = a + 1;
        if ((rc = iceberg_load(st, dir, &t, &v, &sx.requests, err))) break;
        orig = t;
        int64_t prev_updated = t ? get_int(t, "last-updated-ms", iceberg_now_ms()) : 0;
        bool skip = false;
        if ((rc = fn(ctx, &t, &skip, err))) {
            if (t != orig) json_decref(orig);
            json_decref(t);
            break;
        }
        if (skip) {
            if (t != orig) json_decref(orig);
            json_decref(t);
            sx.version = v;
            break;
        }
        if (t != orig) json_decref(orig);
        if (!t) {
            rc = ursa_err_set(err, URSA_EINTERNAL, "%s: the change left no table", dir);
            break;
        }
        const char *location = json_string_value(json_object_get(t, "location"));
        if ((rc = log_previous(t, location ? location : dir, v, prev_updated))) {
            json_decref(t);
            rc = nomem(err);
            break;
        }
        char *text = json_dumps(t, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(t);
        if (!text) {
            rc = nomem(err);
            break;
        }
        char key[1024];
        ursa_err_t e = {0};
        size_t n = strlen(text);
        if (pause) usleep((useconds_t)atoi(pause) * 1000);
        if ((rc = meta_key(key, sizeof(key), dir, v + 1)) == URSA_OK)
            rc = ursa_store_put_if_absent(st, key, text, n, &e);
        free(text);
        sx.requests++;
        if (rc == URSA_EEXIST) { /* another writer took v + 1: again on top of theirs */
            iceberg_test_kill("on-conflict");
            backoff(a);
            continue;
        }
        if (rc) {
            rc = ursa_err_set(err, rc, "%s: %s", key, e.msg);
            break;
        }
        sx.version = v + 1, sx.bytes = n;
        iceberg_test_kill("before-hint");
        /* The hint, best effort: readers probe past a stale one. */
        char hint[32];
        int hn = snprintf(hint, sizeof(hint), "%lld", (long long)(v + 1));
        snprintf(key, sizeof(key), "%s/metadata/version-hint.text", dir);
        if (ursa_store_put(st, key, hint, (size_t)hn, &e) != URSA_OK)
            fprintf(stderr, "iceberg: %s: %s (readers probe past it)\n", key, e.msg);
        sx.requests++;
        break;
    }
    if (a ==
        attempts) /* every attempt lost its version (fn's own URSA_EEXIST stops the loop: a < attempts) */
        rc = ursa_err_set(err, URSA_ELIMIT, "%s: %d commit attempts lost to other writers", dir, attempts);
    if (stats) *stats = sx;
    return rc;
}
