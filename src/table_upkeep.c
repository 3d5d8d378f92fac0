/*
 * table_upkeep.c -- expiring snapshots and deleting what nothing needs.
 *
 * Design. One run (table_upkeep) on a dataset's table, with cutoff = now -
 * retention:
 *
 *  1. Expiry, as Iceberg's expire_snapshots but timed from when a snapshot
 *     stopped being current: one commit through iceberg_commit removes from
 *     `snapshots` (and their entries from `snapshot-log`) every snapshot
 *     whose successor (the next by sequence number) was committed before
 *     the cutoff, except the current one and any a ref names. So a query
 *     that began on a snapshot has the retention to finish from the moment
 *     another replaced it -- a day's inputs stay that long after the
 *     compaction that replaced them, however old their last snapshot was. On a conflict the mutate
 *     function runs again on the winner's document, so it expires what is
 *     old there: a snapshot a concurrent append just added is young, and a
 *     snapshot another node's upkeep expired first is not ours to clean.
 *  2. What only the expired snapshots reached, computed against R, the
 *     snapshots kept: their manifest lists; the manifests those lists name
 *     that no list of R names; the data files those manifests name that no
 *     manifest of R has live (status ADDED or EXISTING). The data files are
 *     deleted first, before the commit of step 1, by this rule applied to
 *     the document as loaded (1a): a run that dies among those deletes, or
 *     before its commit, leaves the snapshots that name them, and the next
 *     run finds the same files and deletes the rest. (Deleted after the
 *     commit, the data files of a run that died between the two stayed for
 *     good: nothing named them any more, and no data file is deleted for
 *     being named by nothing -- and a glob reader saw the rows of a
 *     compaction's inputs twice.) Until the commit lands, the snapshots
 *     past the retention name files that are gone: readers of such old
 *     snapshots are what the retention gives up on. Then, after the
 *     commit, against R of the document committed: manifests, then lists,
 *     so a run that dies midway leaves nothing pointing at a deleted
 *     manifest, and the next run finds the rest as orphans. R as loaded is
 *     as good as R as committed: a commit in between builds on the current
 *     snapshot, which is in both, and adds only new files (below); so the
 *     plan made before the commit is kept when the commit expired the same
 *     snapshots (rule 2's lists and manifests are read once a run).
 *  3. Metadata files: the vN.metadata.json older than every version in the
 *     document's metadata-log (capped at ICEBERG_METADATA_LOG_MAX), once the
 *     oldest logged version's timestamp -- later than theirs -- is before
 *     the cutoff. version-hint.text names a recent version and the loader
 *     probes forward from it, so the deleted versions are never loaded.
 *  4. Orphans: manifests and manifest lists in metadata/ that no list of R
 *     names (lists of attempts that lost a commit, manifests of appends that
 *     failed, merged manifests of losing attempts, what a run that died in
 *     2 left), once their names say they were written before now less the
 *     retention and less TABLE_ORPHAN_MIN_AGE_MS (an hour), whichever is
 *     earlier (table.c puts the writing time in ms in every new name, taken
 *     before the write). Names of the old form carry no time: they are left,
 *     and counted.
 *
 * Data files are deleted only by rule 2. A Parquet file no snapshot names
 * may be a flush whose commit has not landed yet -- a node killed between
 * publishing and committing commits it at its next start (table_recover),
 * and its rows were acknowledged -- so "named by nothing" is never a reason.
 *
 * Why this is safe with several nodes appending and running upkeep at once.
 * An append that lands builds its manifest list inside iceberg_commit from
 * the document it replaces: that document's current snapshot's manifests,
 * its own new manifest and, when it merges, a manifest it wrote in that
 * attempt. A commit built on an older document fails (its version is taken)
 * and is built again. So every commit after ours names only (a) manifests
 * of our document's current snapshot, which is in R, so rule 2 keeps them
 * and rule 4 does not see them as orphans, and (b) files the append itself
 * wrote, all named after it started; an append gives up before an attempt
 * that starts more than TABLE_APPEND_DEADLINE_MS (10 minutes) after that
 * (table.c), so its files are at most that old, plus its last store request,
 * when its commit lands, and rule 4 waits for an hour: a margin for the
 * request and for node clocks that differ by minutes. A data file a later
 * commit adds is new (its name carries its node and log range), so rule 2
 * cannot have it. Two upkeeps at once: each deletes only what its own commit
 * expired (rule 2) or what is old and unnamed in its own R (rule 4);
 * deleting a missing key is not an error, so the same delete twice is
 * harmless. Readers: a query that began on a snapshot expired since finds
 * its files gone -- the retention is how long a reader may take, as in
 * Iceberg's expire_snapshots.
 *
 * Cost: a run with nothing to expire and no orphan loads the metadata,
 * lists metadata/ and reads the current manifest list. Expiry reads the
 * expired snapshots' lists; the other retained lists and the manifests are
 * read only when something is not settled by the current snapshot alone
 * (after manifests were merged away).
 */
#include "table_upkeep.h"

#include "avro_read.h"
#include "iceberg_avro.h"
#include "iceberg_meta.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct upkeep {
    ursa_store_t *st;
    const char *dataset;
    int64_t cutoff;        /* now - retention: snapshots and metadata files */
    int64_t orphan_cutoff; /* ... and TABLE_ORPHAN_MIN_AGE_MS: orphans */
    char location[2048];
    table_upkeep_stats_t *stats;
    json_t *doc;     /* the document committed (or found) */
    json_t *expired; /* the manifest-list keys of the snapshots this run's commit expired */
    json_t *rlists;  /* set: the manifest-list keys of R */
    json_t *cur_man; /* set: the manifests of the current snapshot's list */
    json_t *all_man; /* set: the manifests of every list of R (when all_keys) */
    bool all_keys;
    table_upkeep_cache_t *cache; /* what each list of R names, as hashes (when all_read) */
    uint64_t *all;               /* ... all of them, sorted */
    size_t nall;
    bool all_read;
    const char *cur_list; /* the current snapshot's list key, or NULL */
} upkeep_t;

static int nomem(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ENOMEM, "out of memory");
}

static int64_t jint(const json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* Is key inside the dataset's folder (where upkeep may delete)? */
static bool inside(const upkeep_t *u, const char *key)
{
    size_t n = strlen(u->dataset);
    return key && strncmp(key, u->dataset, n) == 0 && key[n] == '/';
}

/* ------------------------------------------------------------------------ */
/* 1. Expiry. */

static bool named_by_ref(const json_t *t, int64_t id)
{
    const char *k;
    const json_t *r;
    json_object_foreach((json_t *)json_object_get(t, "refs"), k,
                        r) if (jint(r, "snapshot-id") == id) return true;
    return false;
}

typedef struct seq_ts {
    int64_t seq, ts;
    size_t at; /* index in `snapshots` */
} seq_ts_t;

static int cmp_seq(const void *a, const void *b)
{
    const seq_ts_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* When each snapshot of t stopped being current: the timestamp of the next
 * one by sequence number (INT64_MAX for the last), into until[] by index in
 * `snapshots`. */
static int superseded(const json_t *t, int64_t **until)
{
    const json_t *snaps = json_object_get(t, "snapshots"), *sn;
    size_t n = json_array_size(snaps), i;
    seq_ts_t *v = ursa_calloc(n + 1, sizeof(*v));
    *until = ursa_calloc(n + 1, sizeof(**until));
    if (!v || !*until) {
        ursa_free(v), ursa_free(*until), *until = NULL;
        return URSA_ENOMEM;
    }
    json_array_foreach(snaps, i, sn) v[i] =
        (seq_ts_t){jint(sn, "sequence-number"), jint(sn, "timestamp-ms"), i};
    qsort(v, n, sizeof(*v), cmp_seq);
    for (i = 0; i < n; i++) (*until)[v[i].at] = i + 1 < n ? v[i + 1].ts : INT64_MAX;
    ursa_free(v);
    return URSA_OK;
}

static int expire(void *vctx, json_t **t, bool *skip, ursa_err_t *err)
{
    upkeep_t *u = vctx;
    json_decref(u->doc), u->doc = NULL;
    json_array_clear(u->expired);
    if (!*t) {
        *skip = true;
        return URSA_OK;
    }
    int64_t cur = jint(*t, "current-snapshot-id"), *until = NULL;
    json_t *keep = json_array(), *ids = json_object();
    const json_t *sn;
    size_t i, n = 0;
    if (!keep || !ids || superseded(*t, &until)) goto nomem;
    json_array_foreach(json_object_get(*t, "snapshots"), i, sn)
    {
        int64_t id = jint(sn, "snapshot-id");
        if (id == cur || named_by_ref(*t, id) || until[i] >= u->cutoff) {
            char k[32];
            snprintf(k, sizeof(k), "%lld", (long long)id);
            if (json_array_append(keep, (json_t *)sn) || json_object_set_new(ids, k, json_true())) goto nomem;
            continue;
        }
        const char *list = json_string_value(json_object_get(sn, "manifest-list"));
        const char *key = list ? table_key(u->location, u->dataset, list) : NULL;
        if (inside(u, key) && json_array_append_new(u->expired, json_string(key))) goto nomem;
        n++;
    }
    if (n == 0) {
        *skip = true;
    } else {
        json_t *log = json_array();
        const json_t *e;
        if (!log) goto nomem;
        json_array_foreach(json_object_get(*t, "snapshot-log"), i, e)
        {
            char k[32];
            snprintf(k, sizeof(k), "%lld", (long long)jint(e, "snapshot-id"));
            if (json_object_get(ids, k) && json_array_append(log, (json_t *)e)) {
                json_decref(log);
                goto nomem;
            }
        }
        if (json_object_set_new(*t, "snapshot-log", log) || json_object_set(*t, "snapshots", keep) ||
            json_object_set_new(*t, "last-updated-ms", json_integer(iceberg_now_ms())))
            goto nomem;
    }
    u->stats->snapshots_expired = n;
    u->doc = json_incref(*t);
    json_decref(keep), json_decref(ids);
    ursa_free(until);
    return URSA_OK;
nomem:
    json_decref(keep), json_decref(ids);
    ursa_free(until);
    return nomem(err);
}

/* ------------------------------------------------------------------------ */
/* Reading lists and manifests. */

/* The records of the Avro file at key. */
static int read_avro(upkeep_t *u, const char *key, json_t **recs, ursa_err_t *err)
{
    ursa_buf_t b = {0};
    json_t *meta = NULL;
    int rc = ursa_store_get(u->st, key, &b, err);
    u->stats->requests++;
    if (rc == URSA_OK) rc = avro_read_file(b.data, b.len, &meta, recs, err);
    json_decref(meta);
    ursa_buf_free(&b);
    return rc;
}

/* Adds the keys of the manifests list `key` names to set. */
static int list_manifests(upkeep_t *u, const char *key, json_t *set, ursa_err_t *err)
{
    json_t *recs = NULL;
    int rc = read_avro(u, key, &recs, err);
    size_t i;
    const json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (rc) break;
        const char *mp = json_string_value(json_object_get(r, "manifest_path"));
        const char *mk = mp ? table_key(u->location, u->dataset, mp) : NULL;
        if (!mk)
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: a manifest outside the table's store", key);
        else if (json_object_set_new(set, mk, json_true()))
            rc = nomem(err);
    }
    json_decref(recs);
    return rc;
}

/* Reads every list of R into all_man, as keys (once). */
static int read_all_keys(upkeep_t *u, ursa_err_t *err)
{
    if (u->all_keys) return URSA_OK;
    const char *k;
    json_t *v;
    int rc = json_object_update(u->all_man, u->cur_man) ? nomem(err) : URSA_OK;
    json_object_foreach(u->rlists, k, v)
    {
        if (rc) break;
        if (u->cur_list && strcmp(k, u->cur_list) == 0) continue;
        rc = list_manifests(u, k, u->all_man, err);
    }
    u->all_keys = rc == URSA_OK;
    return rc;
}

/* ------------------------------------------------------------------------ */
/*
 * The cache of lists. Whether a manifest is named by any list of R is asked
 * of every manifest merged away (rule 2) and of every old unnamed one (rule
 * 4), and after a merge the current list no longer settles it: without a
 * cache every run would read every retained list (1440 a day at a flush a
 * minute). Lists are written once and never changed (their names are
 * unique), so what a list names can be kept from run to run: the cache
 * holds, per list key, the 64-bit hashes of the manifest keys it names; a
 * run drops the lists no longer in R and reads only those new to it. A
 * hash that matches by accident makes a manifest look named, so it is kept:
 * a collision can only delay a delete, never cause one.
 */

typedef struct cached_list {
    char *key;
    uint64_t *h;
    size_t n;
} cached_list_t;

struct table_upkeep_cache {
    json_t *index; /* list key -> slot in lists */
    cached_list_t *lists;
    size_t n, cap;
};

void table_upkeep_cache_destroy(table_upkeep_cache_t **cp)
{
    table_upkeep_cache_t *c = *cp;
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) ursa_free(c->lists[i].key), ursa_free(c->lists[i].h);
    ursa_free(c->lists);
    json_decref(c->index);
    ursa_free(c);
    *cp = NULL;
}

static int cache_new(table_upkeep_cache_t **out)
{
    table_upkeep_cache_t *c = ursa_calloc(1, sizeof(*c));
    if (c && !(c->index = json_object())) ursa_free(c), c = NULL;
    *out = c;
    return c ? URSA_OK : URSA_ENOMEM;
}

static uint64_t key_hash(const char *s) /* FNV-1a */
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Keeps what list `key` names (the keys of set). */
static int cache_add(table_upkeep_cache_t *c, const char *key, const json_t *set)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        cached_list_t *l = ursa_realloc(c->lists, cap * sizeof(*l));
        if (!l) return URSA_ENOMEM;
        c->lists = l, c->cap = cap;
    }
    cached_list_t *l = &c->lists[c->n];
    l->n = json_object_size(set);
    l->h = ursa_calloc(l->n + 1, sizeof(*l->h));
    l->key = ursa_strdup(key);
    if (!l->h || !l->key || json_object_set_new(c->index, key, json_integer((json_int_t)c->n))) {
        ursa_free(l->h), ursa_free(l->key);
        json_object_del(c->index, key);
        return URSA_ENOMEM;
    }
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)set, k, v) l->h[i++] = key_hash(k);
    c->n++;
    return URSA_OK;
}

static void cache_drop(table_upkeep_cache_t *c, size_t i)
{
    json_object_del(c->index, c->lists[i].key);
    ursa_free(c->lists[i].key), ursa_free(c->lists[i].h);
    c->lists[i] = c->lists[--c->n];
    if (i < c->n) json_object_set_new(c->index, c->lists[i].key, json_integer((json_int_t)i));
}

/* Brings the cache to the lists of R (dropping the others, reading the new
 * ones) and sorts the hashes of all they name into u->all (once a run). */
static int read_all_lists(upkeep_t *u, ursa_err_t *err)
{
    if (u->all_read) return URSA_OK;
    table_upkeep_cache_t *c = u->cache;
    for (size_t i = c->n; i-- > 0;)
        if (!json_object_get(u->rlists, c->lists[i].key)) cache_drop(c, i);
    const char *k;
    json_t *v;
    int rc = URSA_OK;
    json_object_foreach(u->rlists, k, v)
    {
        if (json_object_get(c->index, k)) continue;
        bool cur = u->cur_list && strcmp(k, u->cur_list) == 0;
        json_t *set = cur ? json_incref(u->cur_man) : json_object();
        if (!set) return nomem(err);
        if (!cur) rc = list_manifests(u, k, set, err);
        if (!rc && cache_add(c, k, set)) rc = nomem(err);
        json_decref(set);
        if (rc) return rc;
    }
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) total += c->lists[i].n;
    ursa_free(u->all);
    if (!(u->all = ursa_calloc(total + 1, sizeof(*u->all)))) return nomem(err);
    u->nall = 0;
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->lists[i].n; j++) u->all[u->nall++] = c->lists[i].h[j];
    qsort(u->all, u->nall, sizeof(*u->all), cmp_u64);
    u->all_read = true;
    return URSA_OK;
}

/* Is manifest key named by a list of R? (A hash collision says yes: the
 * manifest is kept.) */
static int named(upkeep_t *u, const char *key, bool *yes, ursa_err_t *err)
{
    *yes = json_object_get(u->cur_man, key) != NULL;
    if (*yes) return URSA_OK;
    int rc = read_all_lists(u, err);
    uint64_t h = key_hash(key);
    *yes = rc == URSA_OK && bsearch(&h, u->all, u->nall, sizeof(h), cmp_u64) != NULL;
    return rc;
}

/* Adds the data files manifest key names to set: live ones only, or all. */
static int manifest_files(upkeep_t *u, const char *key, bool live_only, json_t *set, ursa_err_t *err)
{
    json_t *recs = NULL;
    int rc = read_avro(u, key, &recs, err);
    size_t i;
    const json_t *e;
    json_array_foreach(recs, i, e)
    {
        if (rc) break;
        if (live_only && jint(e, "status") == ICEBERG_DELETED) continue;
        const char *fp = json_string_value(json_object_get(json_object_get(e, "data_file"), "file_path"));
        const char *fk = fp ? table_key(u->location, u->dataset, fp) : NULL;
        if (inside(u, fk) && json_object_set_new(set, fk, json_true())) rc = nomem(err);
    }
    json_decref(recs);
    return rc;
}

static int del_keys(upkeep_t *u, json_t *keys, size_t *count, const char *kill_step, ursa_err_t *err)
{
    size_t n = json_array_size(keys), i, first = 0;
    if (n == 0) return URSA_OK;
    const char **k = ursa_calloc(n, sizeof(*k));
    if (!k) return nomem(err);
    for (i = 0; i < n; i++) k[i] = json_string_value(json_array_get(keys, i));
    int rc = URSA_OK;
    if (kill_step && n > 1 && getenv("URSA_TEST_KILL_AT")) { /* a test's kill between two deletes */
        rc = ursa_store_del(u->st, k[0], err);
        iceberg_test_kill(kill_step);
        first = 1;
    }
    if (rc == URSA_OK) rc = ursa_store_del_many(u->st, k + first, n - first, err);
    u->stats->requests++;
    ursa_free(k);
    if (rc == URSA_OK) *count += n;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Names. */

static bool digits(const char *s, size_t n)
{
    if (n == 0 || n > 18) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

enum { NOT_OURS, OLD_NAME, TIMED };

/* What the base name of a key in metadata/ is: a manifest list ("snap-")
 * or a manifest, with its writing time in *ms (TIMED) or of the old form
 * without one (OLD_NAME); anything else NOT_OURS. */
static int meta_name(const char *base, bool *is_list, int64_t *ms)
{
    size_t n = strlen(base);
    if (n < 6 || strcmp(base + n - 5, ".avro") != 0) return NOT_OURS;
    n -= 5;
    const char *tok[6];
    size_t len[6], nt = 0;
    for (size_t i = 0, s = 0; i <= n; i++) {
        if (i < n && base[i] != '-') continue;
        if (nt == 6) return NOT_OURS;
        tok[nt] = base + s, len[nt++] = i - s, s = i + 1;
    }
    *is_list = len[0] == 4 && memcmp(tok[0], "snap", 4) == 0;
    const char *t = NULL;
    size_t tl = 0;
    if (*is_list) { /* snap-<id>-<seq>[-<ms>]-<random> */
        if (nt == 4) return OLD_NAME;
        if (nt != 5) return NOT_OURS;
        t = tok[3], tl = len[3];
    } else { /* [<ms>-]<random>-m<n> */
        if (len[nt - 1] < 2 || tok[nt - 1][0] != 'm' || !digits(tok[nt - 1] + 1, len[nt - 1] - 1))
            return NOT_OURS;
        if (nt == 2) return OLD_NAME;
        if (nt != 3) return NOT_OURS;
        t = tok[0], tl = len[0];
    }
    if (!digits(t, tl)) return NOT_OURS;
    *ms = strtoll(t, NULL, 10);
    return TIMED;
}

/* The N of ".../vN.metadata.json", or -1. */
static int64_t meta_version(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    const char *suf = ".metadata.json";
    size_t sl = strlen(suf);
    if (n <= sl + 1 || b[0] != 'v' || strcmp(b + n - sl, suf) != 0 || !digits(b + 1, n - sl - 1)) return -1;
    return strtoll(b + 1, NULL, 10);
}

typedef struct meta_listing {
    json_t *keys;
} meta_listing_t;

static int keep_key(void *ctx, const char *key, bool is_prefix)
{
    meta_listing_t *l = ctx;
    if (is_prefix) return URSA_OK;
    return json_array_append_new(l->keys, json_string(key)) ? URSA_ENOMEM : URSA_OK;
}

/* ------------------------------------------------------------------------ */

/* R, the snapshots of u->doc (after expiry): their lists into u->rlists,
 * the current one's manifests into u->cur_man. */
static int plan_r(upkeep_t *u, ursa_err_t *err)
{
    int64_t cur = jint(u->doc, "current-snapshot-id");
    size_t i;
    const json_t *sn;
    json_array_foreach(json_object_get(u->doc, "snapshots"), i, sn)
    {
        const char *list = json_string_value(json_object_get(sn, "manifest-list"));
        const char *key = list ? table_key(u->location, u->dataset, list) : NULL;
        if (!key) {
            return ursa_err_set(err, URSA_EFORMAT, "%s: a manifest list outside the table's store",
                                u->dataset);
        }
        if (json_object_set_new(u->rlists, key, json_true())) {
            return nomem(err);
        }
        if (jint(sn, "snapshot-id") == cur)
            u->cur_list = json_object_iter_key(json_object_iter_at(u->rlists, key));
    }
    return u->cur_list ? list_manifests(u, u->cur_list, u->cur_man, err) : URSA_OK;
}

/* R, and rule 2 against it: the expired snapshots' lists into
 * doomed_lists, every manifest they name into xman and those no list of R
 * names into doomed_man, and the data files these have that no manifest of
 * R has live into del_data (cand and live: scratch sets). */
static int plan(upkeep_t *u, json_t *doomed_lists, json_t *xman, json_t *doomed_man, json_t *cand,
                json_t *live, json_t *del_data, ursa_err_t *err)
{
    int rc = plan_r(u, err);
    size_t i;
    if (rc) return rc;

    /* 2. What only the expired snapshots reached. */
    const json_t *x;
    json_array_foreach(u->expired, i, x)
    {
        if ((rc = list_manifests(u, json_string_value(x), xman, err))) return rc;
        if (json_array_append(doomed_lists, (json_t *)x)) {
            return nomem(err);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(xman, k, v)
    {
        bool yes;
        if ((rc = named(u, k, &yes, err))) return rc;
        if (!yes && inside(u, k) && json_array_append_new(doomed_man, json_string(k))) {
            return nomem(err);
        }
    }
    json_array_foreach(doomed_man, i,
                       x) if ((rc = manifest_files(u, json_string_value(x), false, cand, err))) return rc;
    if (json_object_size(cand)) { /* live in R: the current snapshot's manifests first, then the others */
        json_object_foreach(u->cur_man, k, v) if ((rc = manifest_files(u, k, true, live, err))) return rc;
        bool settled = true;
        json_object_foreach(cand, k, v) if (!json_object_get(live, k)) settled = false;
        if (!settled) {
            if ((rc = read_all_keys(u, err))) return rc;
            json_object_foreach(u->all_man, k, v)
            {
                if (json_object_get(u->cur_man, k)) continue;
                if ((rc = manifest_files(u, k, true, live, err))) return rc;
            }
        }
        json_object_foreach(cand, k, v) if (!json_object_get(live, k) &&
                                            json_array_append_new(del_data, json_string(k)))
        {
            return nomem(err);
        }
    }
    return URSA_OK;
}

/* Forgets what plan learned, before planning again on another document. */
static void forget(upkeep_t *u, json_t *const *sets, size_t n)
{
    json_object_clear(u->rlists), json_object_clear(u->cur_man), json_object_clear(u->all_man);
    u->cur_list = NULL, u->all_keys = false, u->all_read = false;
    for (size_t i = 0; i < n; i++)
        if (json_is_array(sets[i]))
            json_array_clear(sets[i]);
        else
            json_object_clear(sets[i]);
}

int table_upkeep(ursa_store_t *st, const char *dataset, int64_t retention_ms, int64_t now_ms,
                 table_upkeep_cache_t **cache, table_upkeep_stats_t *stats, ursa_err_t *err)
{
    table_upkeep_stats_t sx = {0};
    upkeep_t u = {0};
    table_upkeep_cache_t *own = NULL;
    json_t *doomed_man = json_array(), *doomed_lists = json_array(), *cand = json_object(),
           *live = json_object(), *del_data = json_array(), *del_meta = json_array(), *xman = json_object(),
           *decided = json_object(), *pre = NULL;
    meta_listing_t ml = {json_array()};
    int rc;
    u.st = st, u.dataset = dataset, u.cutoff = now_ms - retention_ms, u.stats = &sx;
    u.orphan_cutoff =
        now_ms - (retention_ms > TABLE_ORPHAN_MIN_AGE_MS ? retention_ms : TABLE_ORPHAN_MIN_AGE_MS);
    u.expired = json_array(), u.rlists = json_object(), u.cur_man = json_object(), u.all_man = json_object();
    if (!doomed_man || !doomed_lists || !cand || !live || !del_data || !del_meta || !xman || !decided ||
        !ml.keys || !u.expired || !u.rlists || !u.cur_man || !u.all_man) {
        rc = nomem(err);
        goto out;
    }
    if (cache && !*cache && cache_new(cache)) {
        rc = nomem(err);
        goto out;
    }
    if (!cache && cache_new(&own)) {
        rc = nomem(err);
        goto out;
    }
    u.cache = cache ? *cache : own;
    if (retention_ms < 0) {
        rc = ursa_err_set(err, URSA_EINVAL, "%s: a negative retention", dataset);
        goto out;
    }
    if (table_location(st, dataset, u.location, sizeof(u.location))) {
        rc = ursa_err_set(err, URSA_EINVAL, "%s: the table's location cannot be made", dataset);
        goto out;
    }
    /* 1a. The data files first: rule 2 on the current document, before the
     * commit that expires their snapshots (see the design comment). */
    iceberg_base_t loaded = {0}; /* the document as loaded: the commit starts from it */
    json_t *t0 = NULL;
    int req = 0;
    bool skip = false;
    rc = iceberg_load(st, dataset, &loaded.doc, &loaded.version, &req, err);
    sx.requests += (size_t)req;
    if (rc == URSA_OK && loaded.doc && !(t0 = json_deep_copy(loaded.doc))) rc = nomem(err);
    if (rc == URSA_OK && t0 && (rc = expire(&u, &t0, &skip, err)) == URSA_OK && !skip &&
        (rc = plan(&u, doomed_lists, xman, doomed_man, cand, live, del_data, err)) == URSA_OK) {
        size_t j;
        json_t *x0;
        json_array_foreach(del_data, j, x0) if (json_object_set(decided, json_string_value(x0), json_true()))
            rc = nomem(err);
        if (rc == URSA_OK) rc = del_keys(&u, del_data, &sx.data_files_deleted, "upkeep-between-deletes", err);
    }
    json_decref(t0);
    /* What the first pass planned stands after the commit when the commit
     * expired the same snapshots: a commit in between only adds snapshots
     * built on the current one (see the design comment). */
    if (rc == URSA_OK && t0 && !skip &&
        !(pre = json_pack("{s:o, s:o, s:o, s:o}", "expired", json_deep_copy(u.expired), "lists",
                          json_deep_copy(doomed_lists), "xman", json_deep_copy(xman), "doomed",
                          json_deep_copy(doomed_man))))
        rc = nomem(err);
    json_t *const scratch[] = {doomed_lists, xman, doomed_man, cand, live, del_data};
    forget(&u, scratch, URSA_ARRAY_LEN(scratch));
    if (rc) {
        iceberg_base_free(&loaded);
        goto out;
    }

    /* 1. Expiry. */
    iceberg_commit_stats_t cs = {0};
    rc = iceberg_commit_on(st, dataset, &loaded, expire, &u, 50, &cs, err);
    iceberg_base_free(&loaded);
    sx.requests += cs.requests, sx.version = cs.version;
    if (rc) {
        sx.snapshots_expired = 0;
        goto out;
    }
    if (!u.doc) goto out; /* no table */

    if (pre && json_equal(u.expired, json_object_get(pre, "expired"))) {
        if ((rc = plan_r(&u, err)) || json_array_extend(doomed_lists, json_object_get(pre, "lists")) ||
            json_object_update(xman, json_object_get(pre, "xman")) ||
            json_array_extend(doomed_man, json_object_get(pre, "doomed"))) {
            if (rc == URSA_OK) rc = nomem(err);
            goto out;
        }
    } else if ((rc = plan(&u, doomed_lists, xman, doomed_man, cand, live, del_data, err)))
        goto out;
    for (size_t j = json_array_size(del_data); j-- > 0;) /* the first pass decided these */
        if (json_object_get(decided, json_string_value(json_array_get(del_data, j))))
            json_array_remove(del_data, j);

    /* 3 and 4: the listing of metadata/. */
    size_t i;
    const json_t *x;
    char prefix[1024];
    snprintf(prefix, sizeof(prefix), "%s/metadata/", dataset);
    rc = ursa_store_list(st, prefix, 0, keep_key, &ml, err);
    sx.requests++;
    if (rc) goto out;
    const json_t *mlog = json_object_get(u.doc, "metadata-log");
    const json_t *oldest = json_array_get(mlog, 0);
    int64_t min_logged =
        oldest ? meta_version(json_string_value(json_object_get(oldest, "metadata-file"))) : -1;
    bool logged_old = oldest && jint(oldest, "timestamp-ms") < u.cutoff;
    json_array_foreach(ml.keys, i, x)
    {
        const char *key = json_string_value(x);
        const char *base = key + strlen(prefix);
        int64_t ver = meta_version(base), ms = 0;
        bool is_list = false, yes;
        if (ver >= 0) {
            if (logged_old && min_logged > 0 && ver < min_logged && ver < sx.version &&
                json_array_append(del_meta, (json_t *)x)) {
                rc = nomem(err);
                goto out;
            }
            continue;
        }
        int kind = meta_name(base, &is_list, &ms);
        if (kind == NOT_OURS) continue;
        if (is_list) {
            bool expired = false;
            const json_t *y;
            size_t j;
            json_array_foreach(u.expired, j, y) expired = expired || strcmp(json_string_value(y), key) == 0;
            if (expired) continue; /* rule 2 decided */
            yes = json_object_get(u.rlists, key) != NULL;
        } else {
            if (json_object_get(xman, key)) continue; /* rule 2 decided */
            if (kind == TIMED && ms >= u.orphan_cutoff) continue;
            if ((rc = named(&u, key, &yes, err))) goto out;
        }
        if (yes) continue;
        if (kind == OLD_NAME) {
            sx.unknown_age++;
            continue;
        }
        if (ms >= u.orphan_cutoff) continue;
        if (json_array_append(is_list ? doomed_lists : doomed_man, (json_t *)x)) {
            rc = nomem(err);
            goto out;
        }
        sx.orphans_deleted++;
    }

    /* The deletes: data files, then manifests, then lists (nothing left naming a deleted file). */
    if ((rc = del_keys(&u, del_data, &sx.data_files_deleted, NULL, err)) ||
        (rc = del_keys(&u, doomed_man, &sx.manifests_deleted, NULL, err)) ||
        (rc = del_keys(&u, doomed_lists, &sx.lists_deleted, NULL, err)) ||
        (rc = del_keys(&u, del_meta, &sx.metadata_deleted, NULL, err)))
        goto out;
out:
    if (rc) sx.orphans_deleted = 0;
    if (stats) *stats = sx;
    table_upkeep_cache_destroy(&own);
    ursa_free(u.all);
    json_decref(u.doc), json_decref(u.expired), json_decref(u.rlists), json_decref(u.cur_man),
        json_decref(u.all_man);
    json_decref(doomed_man), json_decref(doomed_lists), json_decref(cand), json_decref(live);
    json_decref(del_data), json_decref(del_meta), json_decref(xman), json_decref(ml.keys);
    json_decref(decided), json_decref(pre);
    return rc;
}
