/*
 * table.c -- a dataset's Iceberg table: field ids, and append commits.
 *
 * Design. An append is a fast append, as the spec describes it: the new
 * files go into one new manifest, written once before the commit (its
 * entries inherit the snapshot id and sequence number from the manifest
 * list, so it does not depend on which version the commit lands on); the
 * manifest list -- the parent snapshot's manifests plus the new one -- and
 * the metadata file are made inside iceberg_commit's retry loop, because a
 * conflict changes the parent and the sequence number. Each attempt writes
 * its own manifest list under a new name, so a losing attempt's list is
 * never referenced and is left for upkeep to delete. Names carry the time
 * they were written (<ms>-<random>-m0.avro, snap-<id>-<seq>-<ms>-<random>
 * .avro), so upkeep knows an unreferenced one's age without the store's
 * clock (table_upkeep.c).
 *
 * Exactly once: the snapshot's summary carries "ursa.commit" =
 * "<node>:<first LSN>-<last LSN>:<days>" (the flush's files exactly), and
 * the table's property "ursa.node.<node>.last-commit" the key of the
 * node's last flush; a node commits its flushes in log order (flush.c), so
 * an append whose key is in the table, or that comes before that last one
 * (its LSNs lower, or the same range and days), is in already -- a flush
 * redone after a crash between its commit and its acknowledgement, one
 * whose snapshot expired, one whose files compaction replaced -- and
 * commits nothing, and says so. Failure cases: a file whose
 * footer cannot be read fails the append before anything is written; a
 * store error while writing the manifest list or the metadata fails the
 * attempt (the manifest, written, is left for upkeep).
 *
 * A replace (compaction's commit) is an append that also removes files:
 * the parent's manifests that name them are rewritten with those entries
 * DELETED; it fails, writing nothing the table names, when a file to remove
 * is no longer live (remove_files).
 *
 * Column statistics come from the Parquet footers through the reader
 * (pq_reader_chunk_stats: only statistics whose order is known), merged
 * over row groups in the Ursa type's order and serialized with
 * iceberg_bound; a column without usable statistics gets no bounds.
 */
#include "table.h"

#include "avro_read.h"
#include "coerce.h"
#include "iceberg_avro.h"
#include "iceberg_meta.h"
#include "pq_pred.h"
#include "pq_read.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int table_location(const ursa_store_t *st, const char *key, char *buf, size_t n)
{
    const char *u = st->url ? st->url : "";
    int k;
    if (strncmp(u, "s3://", 5) == 0) {
        size_t len = strlen(u);
        while (len > 5 && u[len - 1] == '/') len--;
        k = snprintf(buf, n, "%.*s/%s", (int)len, u, key);
    } else {
        char abs[PATH_MAX];
        if (!realpath(strncmp(u, "file://", 7) == 0 ? u + 7 : u, abs)) return URSA_EINVAL;
        k = snprintf(buf, n, "file://%s/%s", abs, key);
    }
    return k > 0 && (size_t)k < n ? URSA_OK : URSA_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* The schema: field ids, and the dataset's own document. */

/* The Ursa schema document of the table (TABLE_SCHEMA_PROPERTY), parsed
 * into *out; URSA_ENOTFOUND when the table has none (a table an older Ursa
 * made). */
static int prop_schema(const json_t *t, ursa_schema_t *out, ursa_err_t *err)
{
    const char *doc =
        json_string_value(json_object_get(json_object_get(t, "properties"), TABLE_SCHEMA_PROPERTY));
    if (!doc) return URSA_ENOTFOUND;
    int rc = ursa_schema_parse(doc, strlen(doc), out, err);
    if (rc) {
        err->code = URSA_EFORMAT;
        rc = ursa_err_prefix(err, "the table's %s is invalid", TABLE_SCHEMA_PROPERTY);
    }
    return rc;
}

static int schema_text(const ursa_schema_t *s, char **out)
{
    ursa_buf_t b = {0};
    int rc = ursa_schema_to_json(s, &b);
    if (rc == URSA_OK) rc = ursa_buf_push(&b, '\0');
    if (rc) ursa_buf_free(&b);
    *out = rc ? NULL : (char *)b.data;
    return rc;
}

typedef struct schema_ctx {
    const ursa_schema_t *s;
    const char *location;
    const char *const *sort_by;
    size_t nsort;
    bool create_only;
    json_t *doc; /* the document committed (or found): a reference */
} schema_ctx_t;

/* Makes the table's schema hold s's columns: the table's document (or s
 * for a new table, or a table without one) with s's new columns, as the
 * Iceberg schema and the property. */
static int ensure_schema(void *vctx, json_t **t, bool *skip, ursa_err_t *err)
{
    schema_ctx_t *c = vctx;
    ursa_schema_t have, merged;
    bool grew = true, changed = false;
    char *text = NULL;
    int rc;
    if (!*t) {
        rc = iceberg_table_new(t, c->location, c->s, c->sort_by, c->nsort, iceberg_now_ms(), err);
        if (rc == URSA_OK) rc = schema_text(c->s, &text);
    } else if ((rc = prop_schema(*t, &have, err)) == URSA_ENOTFOUND) {
        if ((rc = iceberg_table_set_schema(*t, c->s, &changed, err)) == URSA_OK)
            rc = schema_text(c->s, &text);
    } else if (rc == URSA_OK) {
        if (!c->create_only && (rc = ursa_schema_merge(&have, c->s, &merged, &grew, err)) == URSA_OK) {
            if (grew && (rc = iceberg_table_set_schema(*t, &merged, &changed, err)) == URSA_OK)
                rc = schema_text(&merged, &text);
            ursa_schema_free(&merged);
        }
        ursa_schema_free(&have);
        if (c->create_only) grew = false;
    }
    if (rc == URSA_OK && text && grew)
        rc = json_object_set_new(json_object_get(*t, "properties"), TABLE_SCHEMA_PROPERTY, json_string(text))
                 ? ursa_err_set(err, URSA_ENOMEM, "out of memory")
                 : URSA_OK;
    ursa_free(text);
    *skip = rc == URSA_OK && !grew && !changed;
    json_decref(c->doc);
    c->doc = rc == URSA_OK ? json_incref(*t) : NULL;
    return rc;
}

int table_schema(ursa_store_t *st, const char *dataset, const ursa_schema_t *s, unsigned flags,
                 iceberg_base_t *base, int32_t *ids, ursa_schema_t *out, ursa_err_t *err)
{
    char location[2048];
    const char *names[URSA_SORT_KEYS_MAX];
    int cols[URSA_SORT_KEYS_MAX];
    size_t nsort = ursa_schema_sort_key(s, cols);
    for (size_t i = 0; i < nsort; i++) names[i] = s->fields[cols[i]].name;
    if (table_location(st, dataset, location, sizeof(location)))
        return ursa_err_set(err, URSA_EINVAL, "%s: the table's location cannot be made", dataset);
    schema_ctx_t c = {s, location, names, nsort, (flags & TABLE_CREATE_ONLY) != 0, NULL};
    iceberg_commit_stats_t cs;
    int rc = iceberg_commit_on(st, dataset, base, ensure_schema, &c, 50, &cs, err);
    if (rc == URSA_OK && ids) rc = iceberg_table_field_ids(c.doc, s, ids, err);
    if (rc == URSA_OK && out) {
        if ((rc = prop_schema(c.doc, out, err)) == URSA_ENOTFOUND)
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: the table has no %s", dataset, TABLE_SCHEMA_PROPERTY);
    }
    json_decref(c.doc);
    return rc;
}

int table_load_schema(ursa_store_t *st, const char *dataset, ursa_schema_t *out, ursa_err_t *err)
{
    json_t *t;
    int64_t v;
    int rc = iceberg_load(st, dataset, &t, &v, NULL, err);
    if (rc) return rc;
    if (!t) return URSA_ENOTFOUND;
    rc = prop_schema(t, out, err);
    json_decref(t);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Statistics of one data file. */

typedef struct file_stats {
    int64_t rows, size;
    iceberg_col_stats_t *cols; /* one per schema field present in the file */
    size_t ncols;
    ursa_buf_t *lo, *hi; /* their bounds' bytes */
} file_stats_t;

static void file_stats_free(file_stats_t *f, size_t nfields)
{
    for (size_t i = 0; f->lo && i < nfields; i++) ursa_buf_free(&f->lo[i]), ursa_buf_free(&f->hi[i]);
    ursa_free(f->lo), ursa_free(f->hi), ursa_free(f->cols);
    memset(f, 0, sizeof(*f));
}

static int file_stats(ursa_store_t *st, const char *key, const ursa_schema_t *s, const int32_t *ids,
                      file_stats_t *fs, ursa_err_t *err)
{
    pq_reader_t *r = NULL;
    ursa_buf_t mn = {0}, mx = {0}, cmin = {0}, cmax = {0};
    int rc = pq_reader_open(&r, st, key, err);
    if (rc) return rc;
    const pq_file_meta_t *m = pq_reader_meta(r);
    const ursa_schema_t *fsch = pq_reader_schema(r);
    fs->rows = m->num_rows, fs->size = (int64_t)pq_reader_size(r);
    fs->cols = ursa_calloc(s->nfields + 1, sizeof(*fs->cols));
    fs->lo = ursa_calloc(s->nfields + 1, sizeof(*fs->lo));
    fs->hi = ursa_calloc(s->nfields + 1, sizeof(*fs->hi));
    if (!fs->cols || !fs->lo || !fs->hi) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->nfields; i++) {
        int leaf = pq_reader_find(r, s->fields[i].name);
        if (leaf < 0) continue; /* a column added after this file was written */
        const ursa_field_t *f = &fsch->fields[leaf];
        iceberg_col_stats_t *c = &fs->cols[fs->ncols++];
        *c = (iceberg_col_stats_t){ids[i], 0, 0, 0, -1, NULL, NULL, 0, 0};
        bool bounds = true, have = false; /* have: cmin and cmax hold the bounds so far */
        for (size_t g = 0; g < m->nrow_groups; g++) {
            const pq_col_meta_t *cm = &m->row_groups[g].columns[leaf].meta;
            bool has;
            int64_t nulls;
            c->column_size += cm->total_compressed_size;
            c->value_count += m->row_groups[g].num_rows;
            if ((rc = pq_reader_chunk_stats(r, g, (size_t)leaf, &has, &mn, &mx, &nulls, err))) goto out;
            c->null_count = nulls < 0 || c->null_count < 0 ? -1 : c->null_count + nulls;
            if (!has) {
                if (m->row_groups[g].num_rows > nulls || nulls < 0)
                    bounds = false; /* values with no bounds */
                continue;
            }
            if (!have) {
                if (ursa_buf_append(&cmin, mn.data, mn.len) || ursa_buf_append(&cmax, mx.data, mx.len) ||
                    ursa_buf_reserve(&cmin, 1) || ursa_buf_reserve(&cmax, 1)) /* a buffer even for "" */
                    goto nomem;
                have = true;
                continue;
            }
            if (pq_value_cmp(f->type, mn.data, mn.len, cmin.data, cmin.len) == -1) {
                cmin.len = 0;
                if (ursa_buf_append(&cmin, mn.data, mn.len)) goto nomem;
            }
            if (pq_value_cmp(f->type, mx.data, mx.len, cmax.data, cmax.len) == 1) {
                cmax.len = 0;
                if (ursa_buf_append(&cmax, mx.data, mx.len)) goto nomem;
            }
        }
        if (bounds && have && iceberg_bound(f, cmin.data, cmin.len, false, &fs->lo[i]) == URSA_OK &&
            iceberg_bound(f, cmax.data, cmax.len, true, &fs->hi[i]) == URSA_OK) {
            c->lower = fs->lo[i].data, c->lower_len = fs->lo[i].len;
            c->upper = fs->hi[i].data, c->upper_len = fs->hi[i].len;
        }
        ursa_buf_free(&cmin), ursa_buf_free(&cmax);
    }
    rc = URSA_OK;
    goto out;
nomem:
    rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
out:
    ursa_buf_free(&mn), ursa_buf_free(&mx), ursa_buf_free(&cmin), ursa_buf_free(&cmax);
    pq_reader_destroy(&r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The commit. */

typedef struct append_ctx {
    ursa_store_t *st;
    const table_append_t *a;
    const char *location;   /* of the table */
    const char *commit_key; /* "node:first-last" */
    iceberg_manifest_writer_t *mw;
    const char *manifest_path;
    int64_t snapshot_id, records, files_size;
    size_t list_bytes;
    bool already;
    int64_t found_id, seq;
    int requests;
    int merged;         /* manifests the last attempt merged */
    int64_t started_ms; /* when the manifest was named (TABLE_APPEND_DEADLINE_MS) */
} append_ctx_t;

static int unhex(const char *h, ursa_buf_t *out)
{
    size_t n = strlen(h);
    out->len = 0;
    if (n % 2 || ursa_buf_reserve(out, n / 2 + 1)) return URSA_EINVAL;
    for (size_t i = 0; i < n; i += 2) {
        unsigned x;
        if (sscanf(h + i, "%2x", &x) != 1) return URSA_EINVAL;
        out->data[out->len++] = (uint8_t)x;
    }
    return URSA_OK;
}

/* loc less the location's part before the dataset. */
const char *table_key(const char *location, const char *dataset, const char *loc)
{
    size_t tl = strlen(location), dl = strlen(dataset);
    if (tl < dl || strncmp(loc, location, tl - dl) != 0) return NULL;
    return loc + (tl - dl);
}

static int64_t jint(const json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* A flush's commit key, "<node>:<first LSN>-<last LSN>:<day>,<day>...":
 * its files exactly (a flush cut between the publication of its days is
 * finished by a later flush of the same LSN range with the other days). */
static void commit_key_of(const table_append_t *a, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s:%llu-%llu:", a->node, (unsigned long long)a->first_lsn,
                     (unsigned long long)a->last_lsn);
    int32_t prev = INT32_MIN;
    while (k > 0 && (size_t)k < n) { /* the days, ascending, once each */
        int32_t next = INT32_MAX;
        for (size_t i = 0; i < a->nfiles; i++)
            if (a->files[i].day > prev && a->files[i].day < next) next = a->files[i].day;
        if (next == INT32_MAX) break;
        k += snprintf(buf + k, n - (size_t)k, "%s%d", prev == INT32_MIN ? "" : ",", (int)next);
        prev = next;
    }
}

/* The property that holds the commit key of a node's last flush: its
 * flushes commit in log order, so every flush of the node before it is in
 * the table (or was, before compaction replaced its files). */
static void node_property(const char *node, char *buf, size_t n)
{
    snprintf(buf, n, "ursa.node.%s.last-commit", node);
}

/* Whether day is in the list "d,d,...". */
static bool day_listed(const char *list, int32_t day)
{
    for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
        if (strtol(p, NULL, 10) == day) return true;
    return false;
}

/* Parses a commit key "<node>:<first LSN>-<last LSN>:<day>,...": false
 * when it is not one. *days points into key. */
static bool parse_key(const char *key, uint64_t *first, uint64_t *last, const char **days)
{
    const char *d = key ? strrchr(key, ':') : NULL, *range = d;
    if (!d || d == key) return false;
    while (range > key && range[-1] != ':') range--;
    char *end;
    unsigned long long f = strtoull(range, &end, 10);
    if (end == range || *end != '-') return false;
    *first = f;
    *last = strtoull(end + 1, NULL, 10);
    *days = d + 1;
    return true;
}

/* Whether the flush a (key commit_key) is in t already: its key is there;
 * or its node's last commit key (the records before its first LSN are in,
 * and those of its range on its days) says so: a is older than that range
 * (a node's flushes commit in log order), or lies within it with every day
 * of a listed -- a flush redone after a crash, one whose snapshot expired,
 * one whose files compaction replaced. A flush that overlaps the range
 * with a day it does not list is new: the rest of a flush a crash cut
 * between its days, written after the restart (its LSN range may be
 * narrower than the cut flush's). *found: the snapshot with the key. */
static bool appended_already(const json_t *t, const table_append_t *a, const char *commit_key,
                             const json_t **found)
{
    char prop[300];
    *found = iceberg_table_find_snapshot(t, "ursa.commit", commit_key);
    if (*found || a->key) return *found != NULL;
    node_property(a->node, prop, sizeof(prop));
    uint64_t f, l;
    const char *days;
    if (!parse_key(json_string_value(json_object_get(json_object_get(t, "properties"), prop)), &f, &l, &days))
        return false;
    if (a->last_lsn < f) return true;
    if (a->first_lsn > l || a->last_lsn > l) return false;
    for (size_t i = 0; i < a->nfiles; i++)
        if (!day_listed(days, a->files[i].day)) return false;
    return true;
}

/* The parent snapshot's manifests, read from its manifest list, as
 * manifest_file entries into mf (*n of them, and room for one more; bound
 * bytes in bufs, strings in *keep). */
static int parent_manifests(append_ctx_t *c, const json_t *t, iceberg_manifest_file_t **mf, size_t *n,
                            iceberg_field_summary_t **sums, ursa_buf_t **bufs, size_t *nbufs, json_t **keep,
                            ursa_err_t *err)
{
    const json_t *cur = iceberg_table_current(t);
    *mf = NULL, *n = 0, *sums = NULL, *bufs = NULL, *nbufs = 0, *keep = NULL;
    if (!cur) { /* the first snapshot: room for the new manifest only */
        *mf = ursa_calloc(1, sizeof(**mf));
        return *mf ? URSA_OK : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    const char *list = json_string_value(json_object_get(cur, "manifest-list"));
    const char *key = list ? table_key(c->location, c->a->dataset, list) : NULL;
    if (!key)
        return ursa_err_set(err, URSA_EFORMAT, "%s: a manifest list outside the table's store",
                            c->a->dataset);
    ursa_buf_t b = {0};
    json_t *meta = NULL, *recs = NULL;
    int rc = ursa_store_get(c->st, key, &b, err);
    c->requests++;
    if (!rc) rc = avro_read_file(b.data, b.len, &meta, &recs, err);
    ursa_buf_free(&b);
    json_decref(meta);
    if (rc) return rc;
    size_t nr = json_array_size(recs), nsum = 0, i;
    const json_t *r;
    json_array_foreach(recs, i, r) nsum += json_array_size(json_object_get(r, "partitions"));
    *mf = ursa_calloc(nr + 2, sizeof(**mf));
    *sums = ursa_calloc(nsum + 1, sizeof(**sums));
    *bufs = ursa_calloc(2 * nsum + 1, sizeof(**bufs));
    if (!*mf || !*sums || !*bufs) {
        json_decref(recs);
        return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    size_t s = 0;
    json_array_foreach(recs, i, r)
    {
        iceberg_manifest_file_t *m = &(*mf)[i];
        m->manifest_path = json_string_value(json_object_get(r, "manifest_path"));
        m->manifest_length = jint(r, "manifest_length");
        m->partition_spec_id = (int32_t)jint(r, "partition_spec_id");
        m->content = (int32_t)jint(r, "content");
        m->sequence_number = jint(r, "sequence_number");
        m->min_sequence_number = jint(r, "min_sequence_number");
        m->added_snapshot_id = jint(r, "added_snapshot_id");
        m->added_files_count = (int32_t)jint(r, "added_files_count");
        m->existing_files_count = (int32_t)jint(r, "existing_files_count");
        m->deleted_files_count = (int32_t)jint(r, "deleted_files_count");
        m->added_rows_count = jint(r, "added_rows_count");
        m->existing_rows_count = jint(r, "existing_rows_count");
        m->deleted_rows_count = jint(r, "deleted_rows_count");
        const json_t *parts = json_object_get(r, "partitions"), *p;
        size_t j;
        if (json_is_array(parts)) m->partitions = &(*sums)[s], m->npartitions = json_array_size(parts);
        json_array_foreach(parts, j, p)
        {
            iceberg_field_summary_t *fsum = &(*sums)[s++];
            const json_t *nan = json_object_get(p, "contains_nan");
            fsum->contains_null = json_is_true(json_object_get(p, "contains_null"));
            fsum->contains_nan = json_is_boolean(nan) ? json_is_true(nan) : -1;
            const char *lo = json_string_value(json_object_get(p, "lower_bound"));
            const char *hi = json_string_value(json_object_get(p, "upper_bound"));
            ursa_buf_t *lb = &(*bufs)[(*nbufs)++], *hb = &(*bufs)[(*nbufs)++];
            if ((lo && unhex(lo, lb)) || (hi && unhex(hi, hb))) {
                json_decref(recs);
                return ursa_err_set(err, URSA_EFORMAT, "%s: a bad partition bound in %s", c->a->dataset, key);
            }
            if (lo) fsum->lower = lb->data, fsum->lower_len = lb->len;
            if (hi) fsum->upper = hb->data, fsum->upper_len = hb->len;
        }
        if (!m->manifest_path) {
            json_decref(recs);
            return ursa_err_set(err, URSA_EFORMAT, "%s: a manifest without a path in %s", c->a->dataset, key);
        }
    }
    *n = nr;
    *keep = recs; /* the strings point into it */
    return URSA_OK;
}

/* ------------------------------------------------------------------------ */
/*
 * Manifest merging. Every append adds a manifest, so without merging a
 * snapshot's list grows by one per flush and a reader opens thousands of
 * small files. As Iceberg's MergeAppend does (commit.manifest-merge.enabled,
 * min-count-to-merge 100, target-size-bytes 8 MB), an append whose list
 * would name more than merge_min_count manifests rewrites the parent's
 * manifests below the target size as one: their live entries (deleted ones
 * are history no reader of this snapshot needs) with status EXISTING and
 * the snapshot id, data sequence number and file sequence number each had
 * -- written out, never left to inheritance, since inheritance would give
 * them the new snapshot's -- so a reader of the new snapshot sees the same
 * files with the same sequence numbers. The merged manifest is written in
 * the attempt (the parent may change on a conflict); a losing attempt's is
 * an orphan that upkeep deletes after the retention. The manifests merged
 * away stay for the snapshots that still name them, and go with the last
 * of those when it expires (table_upkeep).
 */

/* A manifest entry read back (avro_read's JSON) in the writer's shape; the
 * buffers are reused from entry to entry. */
typedef struct entry_conv {
    iceberg_col_stats_t *cols;
    ursa_buf_t *lo, *hi; /* the bounds' bytes, by column */
    size_t ncols, cap;
    int64_t *splits;
    size_t nsplits, splits_cap;
    int32_t days[ICEBERG_PART_MAX];
    bool nulls[ICEBERG_PART_MAX];
} entry_conv_t;

static void entry_conv_free(entry_conv_t *cv)
{
    for (size_t i = 0; i < cv->cap; i++) ursa_buf_free(&cv->lo[i]), ursa_buf_free(&cv->hi[i]);
    ursa_free(cv->cols), ursa_free(cv->lo), ursa_free(cv->hi), ursa_free(cv->splits);
    memset(cv, 0, sizeof(*cv));
}

/* The statistics of field id, added (every count unknown) when new. */
static iceberg_col_stats_t *conv_col(entry_conv_t *cv, int32_t id)
{
    for (size_t i = 0; i < cv->ncols; i++)
        if (cv->cols[i].field_id == id) return &cv->cols[i];
    if (cv->ncols == cv->cap) {
        size_t cap = cv->cap ? 2 * cv->cap : 16;
        iceberg_col_stats_t *c = ursa_realloc(cv->cols, cap * sizeof(*c));
        if (c) cv->cols = c;
        ursa_buf_t *lo = c ? ursa_realloc(cv->lo, cap * sizeof(*lo)) : NULL;
        if (lo) cv->lo = lo;
        ursa_buf_t *hi = lo ? ursa_realloc(cv->hi, cap * sizeof(*hi)) : NULL;
        if (!hi) return NULL; /* the arrays that did grow are kept: cap says how far all three reach */
        cv->hi = hi;
        memset(cv->lo + cv->cap, 0, (cap - cv->cap) * sizeof(*lo));
        memset(cv->hi + cv->cap, 0, (cap - cv->cap) * sizeof(*hi));
        cv->cap = cap;
    }
    iceberg_col_stats_t *c = &cv->cols[cv->ncols];
    *c = (iceberg_col_stats_t){id, -1, -1, -1, -1, NULL, NULL, 0, 0};
    cv->lo[cv->ncols].len = cv->hi[cv->ncols].len = 0;
    cv->ncols++;
    return c;
}

/* One of data_file's int-keyed maps: counts (off: the field of
 * iceberg_col_stats_t) or bounds (off < 0: lower, upper by `upper`). */
static int conv_map(entry_conv_t *cv, const json_t *map, ptrdiff_t off, bool upper)
{
    size_t i;
    const json_t *kv;
    json_array_foreach(map, i, kv)
    {
        const json_t *k = json_object_get(kv, "key"), *v = json_object_get(kv, "value");
        if (!json_is_integer(k)) return URSA_EFORMAT;
        iceberg_col_stats_t *c = conv_col(cv, (int32_t)json_integer_value(k));
        if (!c) return URSA_ENOMEM;
        if (off >= 0) {
            if (!json_is_integer(v)) return URSA_EFORMAT;
            int64_t x = (int64_t)json_integer_value(v);
            memcpy((char *)c + off, &x, sizeof(x));
            continue;
        }
        ursa_buf_t *b = upper ? &cv->hi[c - cv->cols] : &cv->lo[c - cv->cols];
        if (!json_is_string(v) || unhex(json_string_value(v), b)) return URSA_EFORMAT;
        if (upper)
            c->upper = b->data, c->upper_len = b->len;
        else
            c->lower = b->data, c->lower_len = b->len;
    }
    return URSA_OK;
}

/* Entry e of the manifest `from` names as EXISTING, with its snapshot id
 * and sequence numbers written out (inherited ones resolved from `from`). */
static int conv_entry(entry_conv_t *cv, const json_t *e, const iceberg_manifest_file_t *from,
                      const iceberg_part_field_t *part, size_t npart, iceberg_manifest_entry_t *out)
{
    const json_t *df = json_object_get(e, "data_file");
    const json_t *sid = json_object_get(e, "snapshot_id"), *sq = json_object_get(e, "sequence_number");
    const json_t *fsq = json_object_get(e, "file_sequence_number");
    bool added = jint(e, "status") == ICEBERG_ADDED;
    memset(out, 0, sizeof(*out));
    out->status = ICEBERG_EXISTING;
    out->has_snapshot_id = out->has_sequence_number = out->has_file_sequence_number = true;
    out->snapshot_id = json_is_integer(sid) ? (int64_t)json_integer_value(sid) : from->added_snapshot_id;
    /* Only an entry added by its manifest's snapshot may inherit sequence numbers. */
    if (!json_is_integer(sq) && !added) return URSA_EFORMAT;
    out->sequence_number = json_is_integer(sq) ? (int64_t)json_integer_value(sq) : from->sequence_number;
    out->file_sequence_number = json_is_integer(fsq) ? (int64_t)json_integer_value(fsq)
                                : added              ? from->sequence_number
                                                     : out->sequence_number;
    if (!json_is_object(df)) return URSA_EFORMAT;
    iceberg_data_file_t *f = &out->file;
    f->content = (int32_t)jint(df, "content");
    f->file_path = json_string_value(json_object_get(df, "file_path"));
    f->record_count = jint(df, "record_count");
    f->file_size_in_bytes = jint(df, "file_size_in_bytes");
    const json_t *pv = json_object_get(df, "partition");
    for (size_t i = 0; i < npart; i++) {
        const json_t *d = json_object_get(pv, part[i].name);
        cv->nulls[i] = !json_is_integer(d);
        cv->days[i] = cv->nulls[i] ? 0 : (int32_t)json_integer_value(d);
    }
    f->part_days = cv->days, f->part_null = cv->nulls;
    cv->ncols = 0;
    int rc;
    if ((rc = conv_map(cv, json_object_get(df, "column_sizes"), offsetof(iceberg_col_stats_t, column_size),
                       false)) ||
        (rc = conv_map(cv, json_object_get(df, "value_counts"), offsetof(iceberg_col_stats_t, value_count),
                       false)) ||
        (rc = conv_map(cv, json_object_get(df, "null_value_counts"),
                       offsetof(iceberg_col_stats_t, null_count), false)) ||
        (rc = conv_map(cv, json_object_get(df, "nan_value_counts"), offsetof(iceberg_col_stats_t, nan_count),
                       false)) ||
        (rc = conv_map(cv, json_object_get(df, "lower_bounds"), -1, false)) ||
        (rc = conv_map(cv, json_object_get(df, "upper_bounds"), -1, true)))
        return rc;
    f->cols = cv->cols, f->ncols = cv->ncols;
    const json_t *so = json_object_get(df, "split_offsets"), *x;
    size_t n = json_array_size(so), i;
    if (n > cv->splits_cap) {
        int64_t *p = ursa_realloc(cv->splits, n * sizeof(*p));
        if (!p) return URSA_ENOMEM;
        cv->splits = p, cv->splits_cap = n;
    }
    json_array_foreach(so, i, x) cv->splits[i] = (int64_t)json_integer_value(x);
    f->split_offsets = n ? cv->splits : NULL, f->nsplit = n;
    const json_t *sort = json_object_get(df, "sort_order_id");
    f->sort_order_id = json_is_integer(sort) ? (int32_t)json_integer_value(sort) : -1;
    return f->file_path ? URSA_OK : URSA_EFORMAT;
}

/* The table's current schema as JSON text (free()), its id, and its
 * default partition spec's id and fields (names point into t). */
static int table_spec(const json_t *t, char **schema_text, int32_t *schema_id, int32_t *spec_id,
                      iceberg_part_field_t *part, size_t *npart)
{
    int64_t sid = jint(t, "current-schema-id"), pid = jint(t, "default-spec-id");
    const json_t *sc = NULL, *sp = NULL, *x;
    size_t k;
    json_array_foreach(json_object_get(t, "schemas"), k, x) if (jint(x, "schema-id") == sid) sc = x;
    json_array_foreach(json_object_get(t, "partition-specs"), k, x) if (jint(x, "spec-id") == pid) sp = x;
    const json_t *fields = json_object_get(sp, "fields");
    if (!sc || !sp || json_array_size(fields) > ICEBERG_PART_MAX) return URSA_EFORMAT;
    *npart = 0;
    json_array_foreach(fields, k, x) part[(*npart)++] = (iceberg_part_field_t){
        json_string_value(json_object_get(x, "name")), (int32_t)jint(x, "field-id"),
        (int32_t)jint(x, "source-id"), json_string_value(json_object_get(x, "transform"))};
    *schema_id = (int32_t)sid, *spec_id = (int32_t)pid;
    *schema_text = json_dumps(sc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return *schema_text ? URSA_OK : URSA_ENOMEM;
}

/* The entries of the manifest at location path (a table's), into *recs
 * (the caller's); its key into *key. */
static int read_manifest(append_ctx_t *c, const char *path, const char **key, json_t **recs, ursa_err_t *err)
{
    ursa_buf_t b = {0};
    json_t *meta = NULL;
    *recs = NULL;
    if (!(*key = table_key(c->location, c->a->dataset, path)))
        return ursa_err_set(err, URSA_EFORMAT, "%s: a manifest outside the table's store", c->a->dataset);
    int rc = ursa_store_get(c->st, *key, &b, err);
    c->requests++;
    if (rc == URSA_OK) rc = avro_read_file(b.data, b.len, &meta, recs, err);
    json_decref(meta);
    ursa_buf_free(&b);
    return rc;
}

/* Closes w (its bytes in out), writes it under a new name and makes *mf
 * name it (location in loc, which must outlive mf; its summary points into
 * w) as added by this commit's snapshot. */
static int put_manifest(append_ctx_t *c, iceberg_manifest_writer_t *w, ursa_buf_t *out, int64_t seq,
                        iceberg_manifest_file_t *mf, char *loc, size_t locn, ursa_err_t *err)
{
    char key[1024];
    int rc = iceberg_manifest_close(w, err);
    if (rc) return rc;
    snprintf(key, sizeof(key), "%s/metadata/%lld-%016llx-m0.avro", c->a->dataset, (long long)iceberg_now_ms(),
             (unsigned long long)iceberg_random64());
    rc = ursa_store_put(c->st, key, out->data, out->len, err);
    c->requests++;
    if (rc) return rc;
    c->list_bytes += out->len;
    if ((rc = table_location(c->st, key, loc, locn)))
        return ursa_err_set(err, rc, "%s: a location too long", key);
    iceberg_manifest_summary(w, seq, mf);
    mf->manifest_path = loc;
    mf->added_snapshot_id = c->snapshot_id;
    return URSA_OK;
}

/* Merges the manifests of mf[0..*n) below the target size (data, of the
 * default spec) into one, written to the store at *mkey/mloc (a new name);
 * mf then names the others and the merged one (*n updated; its partition
 * summaries point into *wout, the caller's to destroy). *merged gets the
 * manifests merged, 0 when fewer than two qualify (nothing written). */
static int merge_manifests(append_ctx_t *c, const json_t *t, iceberg_manifest_file_t *mf, size_t *n,
                           int64_t seq, iceberg_manifest_writer_t **wout, char *mloc, size_t mlocn,
                           int *merged, ursa_err_t *err)
{
    iceberg_part_field_t part[ICEBERG_PART_MAX];
    size_t npart, nsmall = 0;
    int32_t schema_id, spec_id;
    char *schema_text = NULL;
    ursa_buf_t out = {0};
    entry_conv_t cv = {0};
    json_t *recs = NULL;
    int rc = table_spec(t, &schema_text, &schema_id, &spec_id, part, &npart);
    *merged = 0;
    if (rc) {
        rc = ursa_err_set(err, rc, "%s: no current schema or partition spec to merge manifests with",
                          c->a->dataset);
        goto out;
    }
    for (size_t i = 0; i < *n; i++)
        nsmall += mf[i].content == 0 && mf[i].partition_spec_id == spec_id &&
                  mf[i].manifest_length < TABLE_MANIFEST_TARGET_SIZE;
    if (nsmall < 2) goto out;
    iceberg_manifest_meta_t mm = {schema_text, schema_id, spec_id, part, npart};
    if ((rc = iceberg_manifest_writer_new(avro_buf_sink(&out), &mm, NULL, wout, err))) goto out;
    size_t keep = 0;
    for (size_t i = 0; i < *n; i++) {
        if (!(mf[i].content == 0 && mf[i].partition_spec_id == spec_id &&
              mf[i].manifest_length < TABLE_MANIFEST_TARGET_SIZE)) {
            mf[keep++] = mf[i];
            continue;
        }
        const char *mk;
        if ((rc = read_manifest(c, mf[i].manifest_path, &mk, &recs, err))) goto out;
        size_t j;
        const json_t *e;
        json_array_foreach(recs, j, e)
        {
            iceberg_manifest_entry_t en;
            if (jint(e, "status") == ICEBERG_DELETED) continue;
            if ((rc = conv_entry(&cv, e, &mf[i], part, npart, &en))) {
                rc = ursa_err_set(err, rc, "%s: entry %zu of %s cannot be merged", c->a->dataset, j, mk);
                goto out;
            }
            if ((rc = iceberg_manifest_add(*wout, &en, err))) goto out;
        }
        json_decref(recs), recs = NULL;
        (*merged)++;
    }
    if ((rc = put_manifest(c, *wout, &out, seq, &mf[keep], mloc, mlocn, err))) goto out;
    *n = keep + 1;
out:
    if (rc) *merged = 0;
    free(schema_text);
    json_decref(recs);
    ursa_buf_free(&out);
    entry_conv_free(&cv);
    return rc;
}

/* ------------------------------------------------------------------------ */
/*
 * Replace (compaction). The parent's manifests that name a file to remove
 * are rewritten: that entry DELETED, with the new snapshot's id and its
 * sequence numbers kept (the spec's way of saying "removed here"), the
 * others EXISTING with theirs written out (as merging does); the other
 * manifests are kept as they are. A file to remove that no manifest names
 * live (another compaction replaced it first) fails the attempt with
 * URSA_ENOTFOUND, having written nothing the table names.
 */

typedef struct rewritten {
    iceberg_manifest_writer_t *w;
    char loc[2048];
} rewritten_t;

static int remove_files(append_ctx_t *c, const json_t *t, iceberg_manifest_file_t *mf, size_t n, int64_t seq,
                        rewritten_t *rw, int64_t *records, ursa_err_t *err)
{
    const table_append_t *a = c->a;
    iceberg_part_field_t part[ICEBERG_PART_MAX];
    size_t npart, found = 0;
    int32_t schema_id, spec_id;
    char *schema_text = NULL;
    ursa_buf_t out = {0};
    entry_conv_t cv = {0};
    json_t *recs = NULL, *gone = json_object();
    int rc = gone ? table_spec(t, &schema_text, &schema_id, &spec_id, part, &npart) : URSA_ENOMEM;
    *records = 0;
    if (rc) {
        rc = ursa_err_set(err, rc, "%s: no current schema or partition spec to rewrite manifests with",
                          a->dataset);
        goto out;
    }
    for (size_t i = 0; i < a->nremove; i++)
        if (json_object_set_new(gone, a->remove[i], json_false())) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
    iceberg_manifest_meta_t mm = {schema_text, schema_id, spec_id, part, npart};
    for (size_t i = 0; i < n && found < a->nremove; i++) {
        if (mf[i].content != 0) continue;
        const char *mk;
        if ((rc = read_manifest(c, mf[i].manifest_path, &mk, &recs, err))) goto out;
        size_t j, hits = 0;
        const json_t *e;
        json_array_foreach(recs, j, e)
        {
            const char *path =
                json_string_value(json_object_get(json_object_get(e, "data_file"), "file_path"));
            const char *fk = path ? table_key(c->location, a->dataset, path) : NULL;
            json_t *g = fk ? json_object_get(gone, fk) : NULL;
            hits += jint(e, "status") != ICEBERG_DELETED && json_is_false(g);
        }
        if (hits == 0) {
            json_decref(recs), recs = NULL;
            continue;
        }
        out.len = 0;
        if ((rc = iceberg_manifest_writer_new(avro_buf_sink(&out), &mm, NULL, &rw[i].w, err))) goto out;
        json_array_foreach(recs, j, e)
        {
            iceberg_manifest_entry_t en;
            if (jint(e, "status") == ICEBERG_DELETED) continue; /* history this snapshot does not need */
            if ((rc = conv_entry(&cv, e, &mf[i], part, npart, &en))) {
                rc = ursa_err_set(err, rc, "%s: entry %zu of %s cannot be rewritten", a->dataset, j, mk);
                goto out;
            }
            const char *fk = table_key(c->location, a->dataset, en.file.file_path);
            json_t *g = fk ? json_object_get(gone, fk) : NULL;
            if (json_is_false(g)) {
                en.status = ICEBERG_DELETED, en.snapshot_id = c->snapshot_id;
                *records += en.file.record_count;
                found++;
                if (json_object_set_new(gone, fk, json_true())) {
                    rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                    goto out;
                }
            }
            if ((rc = iceberg_manifest_add(rw[i].w, &en, err))) goto out;
        }
        json_decref(recs), recs = NULL;
        if ((rc = put_manifest(c, rw[i].w, &out, seq, &mf[i], rw[i].loc, sizeof(rw[i].loc), err))) goto out;
    }
    if (found < a->nremove)
        rc =
            ursa_err_set(err, URSA_ENOTFOUND,
                         "%s: %zu of the %zu files to replace are no longer in the table (another compaction "
                         "replaced them first)",
                         a->dataset, a->nremove - found, a->nremove);
out:
    free(schema_text);
    json_decref(recs), json_decref(gone);
    ursa_buf_free(&out);
    entry_conv_free(&cv);
    return rc;
}

static int add_snapshot(void *vctx, json_t **t, bool *skip, ursa_err_t *err)
{
    append_ctx_t *c = vctx;
    const table_append_t *a = c->a;
    int rc;
    if (!*t) return ursa_err_set(err, URSA_EINTERNAL, "%s: no table to append to", a->dataset);
    const json_t *found;
    if (appended_already(*t, a, c->commit_key, &found)) {
        c->already = true;
        if (found) c->found_id = jint(found, "snapshot-id"), c->seq = jint(found, "sequence-number");
        *skip = true;
        return URSA_OK;
    }
    if (iceberg_now_ms() - c->started_ms > TABLE_APPEND_DEADLINE_MS)
        return ursa_err_set(err, URSA_ELIMIT,
                            "%s: the append has taken more than %lld s; given up so that no commit names a "
                            "manifest old enough for upkeep to delete",
                            a->dataset, (long long)(TABLE_APPEND_DEADLINE_MS / 1000));
    int64_t seq = jint(*t, "last-sequence-number") + 1;
    int64_t parent = jint(*t, "current-snapshot-id");
    iceberg_manifest_file_t *mf = NULL;
    iceberg_field_summary_t *sums = NULL;
    iceberg_manifest_writer_t *merged_w = NULL;
    rewritten_t *rw = NULL;
    size_t nrw = 0;
    int64_t removed_records = 0;
    char merged_loc[2048];
    ursa_buf_t *bufs = NULL, list = {0};
    size_t n = 0, nbufs = 0;
    json_t *keep = NULL;
    if ((rc = parent_manifests(c, *t, &mf, &n, &sums, &bufs, &nbufs, &keep, err))) goto out;
    size_t min_count = a->merge_min_count ? a->merge_min_count : TABLE_MERGE_MIN_COUNT;
    c->merged = 0;
    if (a->nremove) { /* a replace rewrites what it must and merges nothing */
        if (!(rw = ursa_calloc(n + 1, sizeof(*rw)))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
        nrw = n;
        if ((rc = remove_files(c, *t, mf, n, seq, rw, &removed_records, err))) goto out;
    } else if (n + 1 > min_count && (rc = merge_manifests(c, *t, mf, &n, seq, &merged_w, merged_loc,
                                                          sizeof(merged_loc), &c->merged, err)))
        goto out;
    iceberg_manifest_summary(c->mw, seq, &mf[n]);
    mf[n].manifest_path = c->manifest_path;
    mf[n].added_snapshot_id = c->snapshot_id;
    iceberg_list_meta_t lm = {c->snapshot_id, parent, seq};
    uint64_t lbytes;
    if ((rc = iceberg_manifest_list_write(avro_buf_sink(&list), &lm, mf, n + 1, NULL, &lbytes, err)))
        goto out;
    char key[1024], loc[2048], v[5][32];
    snprintf(key, sizeof(key), "%s/metadata/snap-%lld-%lld-%lld-%016llx.avro", a->dataset,
             (long long)c->snapshot_id, (long long)seq, (long long)iceberg_now_ms(),
             (unsigned long long)iceberg_random64());
    rc = ursa_store_put(c->st, key, list.data, list.len, err);
    c->requests++;
    if (rc) goto out;
    c->list_bytes += list.len;
    if ((rc = table_location(c->st, key, loc, sizeof(loc)))) {
        rc = ursa_err_set(err, rc, "%s: a location too long", key);
        goto out;
    }
    snprintf(v[0], sizeof(v[0]), "%zu", a->nfiles);
    snprintf(v[1], sizeof(v[1]), "%lld", (long long)c->records);
    snprintf(v[2], sizeof(v[2]), "%lld", (long long)c->files_size);
    snprintf(v[3], sizeof(v[3]), "%zu", a->nremove);
    snprintf(v[4], sizeof(v[4]), "%lld", (long long)removed_records);
    iceberg_kv_t kv[] = {{"ursa.commit", c->commit_key}, {"ursa.node", a->node},
                         {"added-data-files", v[0]},     {"added-records", v[1]},
                         {"added-files-size", v[2]},     {"operation", "replace"},
                         {"deleted-data-files", v[3]},   {"deleted-records", v[4]}};
    rc = iceberg_table_add_snapshot(*t, c->snapshot_id, loc, kv, a->nremove ? 8 : 5, iceberg_now_ms(),
                                    &c->seq, err);
    if (a->nremove) goto out; /* the node order is about flushes */
    char prop[300];
    node_property(a->node, prop, sizeof(prop));
    json_t *props = json_object_get(*t, "properties");
    if (rc == URSA_OK && !json_is_object(props) &&
        json_object_set_new(*t, "properties", props = json_object()))
        props = NULL;
    /* A flush that overlaps the node's last committed range (the rest of a
     * flush a crash cut between its days): the property keeps the whole
     * range and every day committed in it, so that table_commit_covers
     * knows them all -- records of the range on a day of neither flush
     * have no rows there (the re-flush took every buffered row of its
     * records). Otherwise the new key replaces the old. */
    const char *prev = props ? json_string_value(json_object_get(props, prop)) : NULL;
    char both[sizeof(c->commit_key) + 512];
    const char *value = c->commit_key;
    uint64_t pf, pl, cf, cl;
    const char *pdays, *cdays;
    if (parse_key(prev, &pf, &pl, &pdays) && parse_key(c->commit_key, &cf, &cl, &cdays) && cf <= pl) {
        int k =
            snprintf(both, sizeof(both), "%s:%llu-%llu:%s", a->node, (unsigned long long)(cf < pf ? cf : pf),
                     (unsigned long long)(cl > pl ? cl : pl), cdays);
        for (const char *p = pdays; *p && k > 0 && (size_t)k < sizeof(both);
             p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
            int32_t day = (int32_t)strtol(p, NULL, 10);
            if (!day_listed(cdays, day)) k += snprintf(both + k, sizeof(both) - (size_t)k, ",%d", (int)day);
        }
        if (k > 0 && (size_t)k < sizeof(both)) value = both;
    }
    if (rc == URSA_OK && (!props || json_object_set_new(props, prop, json_string(value))))
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
out:
    for (size_t i = 0; bufs && i < nbufs; i++) ursa_buf_free(&bufs[i]);
    ursa_free(bufs), ursa_free(sums), ursa_free(mf);
    iceberg_manifest_writer_destroy(&merged_w);
    for (size_t i = 0; rw && i < nrw; i++) iceberg_manifest_writer_destroy(&rw[i].w);
    ursa_free(rw);
    json_decref(keep);
    ursa_buf_free(&list);
    return rc;
}

int table_append(ursa_store_t *st, const table_append_t *a, table_result_t *res, ursa_err_t *err)
{
    const ursa_schema_t *s = a->schema;
    int32_t *ids = ursa_calloc(s->nfields + 1, sizeof(*ids));
    file_stats_t *fs = ursa_calloc(a->nfiles + 1, sizeof(*fs));
    json_t *t = NULL;
    char *schema_text = NULL;
    ursa_buf_t man = {0};
    iceberg_manifest_writer_t *mw = NULL;
    char location[2048], commit_key[300], mkey[1024], mloc[2048], pname[300];
    int rc;
    memset(res, 0, sizeof(*res));
    if (!ids || !fs) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = table_location(st, a->dataset, location, sizeof(location)))) {
        rc = ursa_err_set(err, URSA_EINVAL, "%s: the table's location cannot be made", a->dataset);
        goto out;
    }
    if (a->key)
        snprintf(commit_key, sizeof(commit_key), "%s", a->key);
    else
        commit_key_of(a, commit_key, sizeof(commit_key));
    if (a->ids)
        memcpy(ids, a->ids, s->nfields * sizeof(*ids));
    else if ((rc = table_schema(st, a->dataset, s, 0, a->base, ids, NULL, err)))
        goto out;
    int64_t v;
    if (a->base && a->base->doc) /* the version the caller saw; the commit finds out if it is stale */
        t = json_incref(a->base->doc), v = a->base->version;
    else if ((rc = iceberg_load(st, a->dataset, &t, &v, &res->requests, err)))
        goto out;
    if (!t) {
        rc = ursa_err_set(err, URSA_EINTERNAL, "%s: no table", a->dataset);
        goto out;
    }
    const json_t *f;
    if (appended_already(t, a, commit_key, &f)) { /* redone: nothing to write */
        res->already = true, res->version = v;
        if (f) res->snapshot_id = jint(f, "snapshot-id"), res->sequence_number = jint(f, "sequence-number");
        goto out;
    }
    /* The manifest of the new files. */
    int64_t schema_id = jint(t, "current-schema-id"), records = 0, fsize = 0;
    const json_t *sc = NULL, *x;
    size_t k;
    json_array_foreach(json_object_get(t, "schemas"), k, x) if (jint(x, "schema-id") == schema_id) sc = x;
    if (!sc || !(schema_text = json_dumps(sc, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(pname, sizeof(pname), "%s_day", s->fields[s->time_column].name);
    iceberg_part_field_t part = {pname, 1000, ids[s->time_column], "day"};
    iceberg_manifest_meta_t mm = {schema_text, (int32_t)schema_id, 0, &part, 1};
    if ((rc = iceberg_manifest_writer_new(avro_buf_sink(&man), &mm, NULL, &mw, err))) goto out;
    for (size_t i = 0; i < a->nfiles; i++) {
        char floc[2048];
        if ((rc = file_stats(st, a->files[i].key, s, ids, &fs[i], err))) goto out;
        if ((rc = table_location(st, a->files[i].key, floc, sizeof(floc)))) {
            rc = ursa_err_set(err, rc, "%s: a location too long", a->files[i].key);
            goto out;
        }
        iceberg_manifest_entry_t e = {0};
        e.status = ICEBERG_ADDED;
        e.file = (iceberg_data_file_t){
            0, floc, &a->files[i].day, NULL, fs[i].rows, fs[i].size, fs[i].cols, fs[i].ncols, NULL, 0, -1};
        if ((rc = iceberg_manifest_add(mw, &e, err))) goto out;
        records += fs[i].rows, fsize += fs[i].size;
    }
    if ((rc = iceberg_manifest_close(mw, err))) goto out;
    int64_t started = iceberg_now_ms(); /* before the put: a name never says younger than the file is */
    snprintf(mkey, sizeof(mkey), "%s/metadata/%lld-%016llx-m0.avro", a->dataset, (long long)started,
             (unsigned long long)iceberg_random64());
    if ((rc = ursa_store_put(st, mkey, man.data, man.len, err))) goto out;
    res->requests++;
    if ((rc = table_location(st, mkey, mloc, sizeof(mloc)))) {
        rc = ursa_err_set(err, rc, "%s: a location too long", mkey);
        goto out;
    }
    /* The snapshot (its id below 2^53, so that readers in JavaScript keep it exact). */
    append_ctx_t c = {.st = st,
                      .a = a,
                      .location = location,
                      .commit_key = commit_key,
                      .mw = mw,
                      .manifest_path = mloc,
                      .snapshot_id = (int64_t)(iceberg_random64() >> 11),
                      .records = records,
                      .files_size = fsize,
                      .started_ms = started};
    iceberg_commit_stats_t cs;
    rc = iceberg_commit_on(st, a->dataset, a->base, add_snapshot, &c, 50, &cs, err);
    res->attempts = cs.attempts, res->requests += cs.requests + c.requests, res->version = cs.version;
    res->metadata_bytes = man.len + c.list_bytes + cs.bytes;
    if (rc) goto out;
    res->already = c.already;
    res->merged = c.merged;
    res->snapshot_id = c.already ? c.found_id : c.snapshot_id;
    res->sequence_number = c.seq;
out:
    for (size_t i = 0; fs && i < a->nfiles; i++) file_stats_free(&fs[i], s->nfields);
    ursa_free(fs);
    ursa_free(ids);
    iceberg_manifest_writer_destroy(&mw);
    ursa_buf_free(&man);
    free(schema_text);
    json_decref(t);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Recovery. */

typedef struct listing {
    char **keys;
    size_t n, cap;
    const char *node;
} listing_t;

/* Keeps the keys of the node's Parquet files (not temporaries). */
static int keep_node_file(void *ctx, const char *key, bool is_prefix)
{
    listing_t *l = ctx;
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    size_t bl = strlen(base), nl = strlen(l->node);
    if (is_prefix || bl < 9 || strcmp(base + bl - 8, ".parquet") != 0 || strncmp(base, l->node, nl) != 0 ||
        base[nl] != '-')
        return URSA_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **k = ursa_realloc(l->keys, cap * sizeof(*k));
        if (!k) return URSA_ENOMEM;
        l->keys = k, l->cap = cap;
    }
    if (!(l->keys[l->n] = ursa_strdup(key))) return URSA_ENOMEM;
    l->n++;
    return URSA_OK;
}

/* The store keys of every live data file of the table's current snapshot,
 * as the keys of *set. */
static int live_files(ursa_store_t *st, const char *dataset, const json_t *t, json_t *set, json_t *out,
                      ursa_err_t *err)
{
    char location[2048];
    const json_t *cur = iceberg_table_current(t);
    if (!cur) return URSA_OK;
    if (table_location(st, dataset, location, sizeof(location)))
        return ursa_err_set(err, URSA_EINVAL, "%s: the table's location cannot be made", dataset);
    const char *list = json_string_value(json_object_get(cur, "manifest-list"));
    const char *lkey = list ? table_key(location, dataset, list) : NULL;
    ursa_buf_t b = {0};
    json_t *meta = NULL, *lists = NULL;
    int rc = lkey ? ursa_store_get(st, lkey, &b, err)
                  : ursa_err_set(err, URSA_EFORMAT, "%s: a manifest list outside the store", dataset);
    if (!rc) rc = avro_read_file(b.data, b.len, &meta, &lists, err);
    json_decref(meta), meta = NULL;
    size_t i;
    const json_t *m;
    json_array_foreach(lists, i, m)
    {
        if (rc) break;
        const char *mp = json_string_value(json_object_get(m, "manifest_path"));
        const char *mkey = mp ? table_key(location, dataset, mp) : NULL;
        json_t *entries = NULL;
        if (!mkey) {
            rc = ursa_err_set(err, URSA_EFORMAT, "%s: a manifest outside the store", dataset);
            break;
        }
        if ((rc = ursa_store_get(st, mkey, &b, err)) ||
            (rc = avro_read_file(b.data, b.len, &meta, &entries, err)))
            break;
        json_decref(meta), meta = NULL;
        size_t k;
        const json_t *e;
        json_array_foreach(entries, k, e)
        {
            const json_t *df = json_object_get(e, "data_file");
            const char *fp = json_string_value(json_object_get(df, "file_path"));
            const char *fkey = fp ? table_key(location, dataset, fp) : NULL;
            if (jint(e, "status") == ICEBERG_DELETED || !fkey) continue;
            if (set && json_object_set_new(set, fkey, json_true())) {
                rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                break;
            }
            if (out) { /* the day: the partition's one field */
                const char *pk;
                json_t *pv;
                char date[16] = "";
                json_object_foreach((json_t *)json_object_get(df, "partition"), pk,
                                    pv) if (json_is_integer(pv))
                    ursa_format_date((int64_t)json_integer_value(pv), date);
                json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "path", fkey, "location", fp, "date", date,
                                      "rows", (json_int_t)jint(df, "record_count"), "bytes",
                                      (json_int_t)jint(df, "file_size_in_bytes"));
                if (!o || json_array_append_new(out, o)) {
                    rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                    break;
                }
            }
        }
        json_decref(entries);
    }
    json_decref(lists);
    ursa_buf_free(&b);
    return rc;
}

/* The flush part of a file's name: what follows "<node>-", up to ".parquet". */
static const char *flush_part(const char *key, size_t nodelen, size_t *n)
{
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    *n = strlen(base) - nodelen - 1 - 8;
    return base + nodelen + 1;
}

/* Orders a node's file keys by their flush's first and last LSN (numbers,
 * not text: 9 before 10), then by key. ctx: the node name's length. */
static int cmp_flush(const void *a, const void *b, void *ctx)
{
    size_t nl = *(const size_t *)ctx, an, bn;
    const char *ka = *(char *const *)a, *kb = *(char *const *)b;
    const char *pa = flush_part(ka, nl, &an), *pb = flush_part(kb, nl, &bn);
    unsigned long long fa = strtoull(pa, NULL, 10), fb = strtoull(pb, NULL, 10);
    const char *da = strchr(pa, '-'), *db = strchr(pb, '-');
    unsigned long long la = da ? strtoull(da + 1, NULL, 10) : fa, lb = db ? strtoull(db + 1, NULL, 10) : fb;
    if (fa != fb) return fa < fb ? -1 : 1;
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(ka, kb);
}

int table_node_commit(ursa_store_t *st, const char *dataset, const char *node, char *out, size_t n,
                      ursa_err_t *err)
{
    json_t *t = NULL;
    int64_t v;
    char prop[300];
    out[0] = '\0';
    int rc = iceberg_load(st, dataset, &t, &v, NULL, err);
    node_property(node, prop, sizeof(prop));
    const char *last = json_string_value(json_object_get(json_object_get(t, "properties"), prop));
    if (rc == URSA_OK && last && strlen(last) < n) memcpy(out, last, strlen(last) + 1);
    json_decref(t);
    return rc;
}

bool table_commit_range(const char *key, uint64_t *first, uint64_t *last)
{
    const char *days;
    return parse_key(key, first, last, &days);
}

bool table_commit_covers(const char *last, uint64_t lsn, int32_t day)
{
    uint64_t f, l;
    const char *days;
    if (!parse_key(last, &f, &l, &days)) return false;
    if (lsn < f) return true;
    return lsn <= l && day_listed(days, day);
}

int table_recover(ursa_store_t *st, const char *dataset, const ursa_schema_t *s, const char *node,
                  size_t *committed, ursa_err_t *err)
{
    listing_t l = {NULL, 0, 0, node};
    json_t *t = NULL, *live = json_object();
    table_file_t *files = NULL;
    char prefix[600];
    int rc;
    int64_t v;
    *committed = 0;
    snprintf(prefix, sizeof(prefix), "%s/date=", dataset);
    if (!live) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if ((rc = ursa_store_list(st, prefix, 0, keep_node_file, &l, err))) goto out;
    if (l.n == 0) goto out;
    if ((rc = iceberg_load(st, dataset, &t, &v, NULL, err))) goto out;
    if (t && (rc = live_files(st, dataset, t, live, NULL, err))) goto out;
    /* The files no snapshot names, grouped by the flush that wrote them
     * (sorted by name part, then key). */
    size_t keep = 0, nl = strlen(node);
    for (size_t i = 0; i < l.n; i++) {
        if (json_object_get(live, l.keys[i])) {
            ursa_free(l.keys[i]);
            continue;
        }
        l.keys[keep++] = l.keys[i];
    }
    l.n = keep;
    /* by flush, in log order (so that each is committed after the ones before it), then by key: the
     * same flush has the same name under each day */
    qsort_r(l.keys, l.n, sizeof(*l.keys), cmp_flush, &nl);
    if (!(files = ursa_calloc(l.n + 1, sizeof(*files)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    bool *used = ursa_calloc(l.n + 1, sizeof(*used));
    if (!used) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l.n && rc == URSA_OK; i++) {
        if (used[i]) continue;
        size_t pn, n = 0;
        const char *part = flush_part(l.keys[i], nl, &pn);
        unsigned long long first = 0, last = 0;
        char tail;
        if (sscanf(part, "%llu-%llu.parque%c", &first, &last, &tail) !=
            3) { /* <node>-<stamp>.parquet: no log */
            if (sscanf(part, "%llu", &first) != 1) continue;
            last = first;
        }
        for (size_t j = i; j < l.n; j++) {
            size_t qn;
            const char *q = flush_part(l.keys[j], nl, &qn);
            if (used[j] || qn != pn || memcmp(q, part, pn) != 0) continue;
            const char *d = strstr(l.keys[j], "/date=");
            int32_t day;
            if (!d || ursa_parse_date(d + 6, 10, &day)) continue; /* not a partition directory: not ours */
            used[j] = true;
            files[n++] = (table_file_t){l.keys[j], day};
        }
        if (n == 0) continue;
        table_append_t a = {dataset, s, node, first, last, files, n, NULL, 0};
        table_result_t r;
        if ((rc = table_append(st, &a, &r, err)) == URSA_OK && !r.already) *committed += n;
    }
    ursa_free(used);
out:
    for (size_t i = 0; i < l.n; i++) ursa_free(l.keys[i]);
    ursa_free(l.keys);
    ursa_free(files);
    json_decref(t);
    json_decref(live);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Listings. */

int table_pin(ursa_store_t *st, const char *dataset, json_t **out, ursa_err_t *err)
{
    json_t *t = NULL, *files = json_array(), *commits = json_object();
    int64_t v;
    *out = NULL;
    int rc = files && commits ? iceberg_load(st, dataset, &t, &v, NULL, err)
                              : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (rc == URSA_OK && t) rc = live_files(st, dataset, t, NULL, files, err);
    if (rc == URSA_OK && t) {
        const char *k;
        json_t *val;
        json_object_foreach(json_object_get(t, "properties"), k, val)
        {
            size_t n = strlen(k);
            if (n > 22 && !strncmp(k, "ursa.node.", 10) && !strcmp(k + n - 12, ".last-commit") &&
                json_is_string(val)) {
                char node[256];
                snprintf(node, sizeof(node), "%.*s", (int)(n - 22), k + 10);
                if (json_object_set(commits, node, val)) rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            }
        }
    }
    if (rc == URSA_OK) {
        const json_t *cur = t ? iceberg_table_current(t) : NULL;
        *out = json_pack("{s:o, s:O, s:O}", "snapshot_id",
                         cur ? json_integer(jint(cur, "snapshot-id")) : json_null(), "files", files,
                         "commits", commits);
        if (!*out) rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    json_decref(files);
    json_decref(commits);
    json_decref(t);
    return rc;
}

int table_files(ursa_store_t *st, const char *dataset, json_t **out, ursa_err_t *err)
{
    json_t *t = NULL, *files = json_array();
    int64_t v;
    *out = NULL;
    int rc = files ? iceberg_load(st, dataset, &t, &v, NULL, err)
                   : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (rc == URSA_OK && !t)
        rc = ursa_err_set(err, URSA_ENOTFOUND, "dataset %s has no Iceberg table", dataset);
    if (rc == URSA_OK) rc = live_files(st, dataset, t, NULL, files, err);
    if (rc == URSA_OK) {
        const json_t *cur = iceberg_table_current(t);
        json_int_t rows = 0, bytes = 0;
        size_t i;
        const json_t *f;
        json_array_foreach(files, i, f) rows += json_integer_value(json_object_get(f, "rows")),
            bytes += json_integer_value(json_object_get(f, "bytes"));
        *out = json_pack("{s:s, s:o, s:I, s:I, s:I, s:O}", "dataset", dataset, "snapshot_id",
                         cur ? json_integer(jint(cur, "snapshot-id")) : json_null(), "metadata_version",
                         (json_int_t)v, "rows", rows, "bytes", bytes, "files", files);
        if (!*out) rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    json_decref(files);
    json_decref(t);
    return rc;
}

int table_snapshots(ursa_store_t *st, const char *dataset, json_t **out, ursa_err_t *err)
{
    json_t *t = NULL, *list = json_array();
    int64_t v;
    *out = NULL;
    int rc =
        list ? iceberg_load(st, dataset, &t, &v, NULL, err) : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (rc == URSA_OK && !t)
        rc = ursa_err_set(err, URSA_ENOTFOUND, "dataset %s has no Iceberg table", dataset);
    if (rc == URSA_OK) {
        size_t i;
        const json_t *sn;
        json_array_foreach(json_object_get(t, "snapshots"), i, sn)
        {
            const json_t *parent = json_object_get(sn, "parent-snapshot-id");
            json_t *o = json_pack(
                "{s:I, s:O, s:I, s:I, s:O}", "snapshot_id", (json_int_t)jint(sn, "snapshot-id"),
                "parent_snapshot_id", parent ? (json_t *)parent : json_null(), "sequence_number",
                (json_int_t)jint(sn, "sequence-number"), "timestamp_ms", (json_int_t)jint(sn, "timestamp-ms"),
                "summary", json_object_get(sn, "summary") ? json_object_get(sn, "summary") : json_null());
            if (!o || json_array_append_new(list, o)) {
                rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
                break;
            }
        }
    }
    if (rc == URSA_OK) {
        /* none yet: Iceberg's -1, null here as in GET .../files */
        json_t *cur = json_object_get(t, "current-snapshot-id");
        *out =
            json_pack("{s:s, s:o, s:I, s:O}", "dataset", dataset, "current_snapshot_id",
                      json_is_integer(cur) && json_integer_value(cur) >= 0 ? json_incref(cur) : json_null(),
                      "metadata_version", (json_int_t)v, "snapshots", list);
        if (!*out) rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    json_decref(list);
    json_decref(t);
    return rc;
}
