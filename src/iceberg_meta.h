/*
 * iceberg_meta.h -- an Apache Iceberg v2 table's metadata file (the
 * `metadata/vN.metadata.json` of a dataset), kept as a JSON document, and
 * the commit that replaces it atomically in a store.
 *
 * The document is a jansson object in the spec's shape ("Table Metadata"
 * in the Iceberg table spec): format-version 2, table-uuid, location,
 * last-sequence-number, last-updated-ms, last-column-id, schemas and
 * current-schema-id, partition-specs (one: day(<time column>)),
 * last-partition-id, sort-orders (from the dataset's sort key), snapshots,
 * current-snapshot-id, refs.main, snapshot-log and metadata-log. Fields
 * this module does not know are kept as they are.
 *
 * Field ids. A column's id is assigned once, when its name first appears
 * in the table, from last-column-id + 1, and never reused: a schema change
 * adds a new schema (schema-id + 1) with the old columns' ids and the new
 * columns' new ids. Data files carry the ids in their Parquet field_id.
 */
#ifndef URSA_ICEBERG_META_H
#define URSA_ICEBERG_META_H

#include "common.h"
#include "schema.h"
#include "store.h"

#include <jansson.h>

/* The Iceberg type of a field ("long", "decimal(38, 6)", "timestamptz",
 * ...) into buf; NULL when it has none (never: every Ursa type maps, some
 * loosely -- see docs/internals/iceberg.md). */
const char *iceberg_type_name(const ursa_field_t *f, char *buf, size_t n);

/* A new table's metadata for schema s (its time column the partition
 * source, day transform), sorted by sort_by[0..nsort) (column names of s;
 * nsort 0: the time column), at location (the table's base, e.g.
 * "s3://bucket/prefix/events" or "file:///data/events"). *out is the
 * caller's (json_decref). */
int iceberg_table_new(json_t **out, const char *location, const ursa_schema_t *s, const char *const *sort_by,
                      size_t nsort, int64_t now_ms, ursa_err_t *err) URSA_MUST_CHECK;

/* Makes s the current schema: its columns keep their ids by name, new
 * names get new ids; when that differs from the current schema, a new
 * schema is added and made current (*changed set). A column that changed
 * type, or a current column missing from s, is URSA_EINVAL (Ursa only adds
 * columns). */
int iceberg_table_set_schema(json_t *t, const ursa_schema_t *s, bool *changed,
                             ursa_err_t *err) URSA_MUST_CHECK;

/* ids[i] := the field id of s->fields[i] in the current schema; URSA_EINVAL
 * when a name is not there. */
int iceberg_table_field_ids(const json_t *t, const ursa_schema_t *s, int32_t *ids,
                            ursa_err_t *err) URSA_MUST_CHECK;

/* A summary entry of a snapshot (string key and value, as the spec has). */
typedef struct iceberg_kv {
    const char *key, *value;
} iceberg_kv_t;

/* Adds an append snapshot: id, the next sequence number, the current
 * snapshot as parent, the current schema, manifest_list (a full location),
 * the summary (operation "append" first, then kv[0..nkv); a kv
 * "operation" replaces it in place); makes it
 * current (refs.main, current-snapshot-id, snapshot-log). *seq gets its
 * sequence number. */
int iceberg_table_add_snapshot(json_t *t, int64_t id, const char *manifest_list, const iceberg_kv_t *kv,
                               size_t nkv, int64_t now_ms, int64_t *seq, ursa_err_t *err) URSA_MUST_CHECK;

/* The current snapshot, or NULL. */
const json_t *iceberg_table_current(const json_t *t);
/* The snapshot whose summary has key == value (the newest such), or NULL. */
const json_t *iceberg_table_find_snapshot(const json_t *t, const char *key, const char *value);

/* ------------------------------------------------------------------------ */
/*
 * The commit. The table at `dir` in the store ("<dataset>") keeps its
 * metadata files in `dir/metadata/`: v1.metadata.json, v2..., each written
 * once with ursa_store_put_if_absent (S3: If-None-Match: *; local: link()),
 * so of two writers racing for vN+1 exactly one wins; and version-hint.text,
 * the last N written, a hint only (a crash may leave it behind; the loader
 * probes vN+1, vN+2, ... until one is missing).
 *
 * iceberg_commit loads the current version (none for a new table), calls
 * fn to change it (fn gets NULL for a table that does not exist yet and
 * must then create it in *t), writes the next version; when another writer
 * won that version it loads again and calls fn again, with backoff, up to
 * `attempts` times (URSA_ELIMIT then). fn returning URSA_OK with *t
 * unchanged (the same pointer, *skip set) commits nothing.
 */
typedef int (*iceberg_mutate_fn)(void *ctx, json_t **t, bool *skip, ursa_err_t *err);

typedef struct iceberg_commit_stats {
    int64_t version; /* the version written (or found, when skipped) */
    int attempts;    /* 1 without a conflict */
    int requests;    /* store requests made */
    size_t bytes;    /* bytes of the metadata file written */
} iceberg_commit_stats_t;

int iceberg_commit(ursa_store_t *st, const char *dir, iceberg_mutate_fn fn, void *ctx, int attempts,
                   iceberg_commit_stats_t *stats, ursa_err_t *err) URSA_MUST_CHECK;

/* A version of a table the caller holds (doc is its metadata, a reference
 * of the caller's), so that a commit can start from it instead of loading
 * (three store requests and the metadata's bytes): when another writer
 * committed since, the write of version + 1 fails and the commit loads as
 * usual. iceberg_commit_on starts from *base when it has a doc and leaves
 * in it the version it wrote or found (base may be NULL: iceberg_commit). */
typedef struct iceberg_base {
    json_t *doc;
    int64_t version;
} iceberg_base_t;
void iceberg_base_free(iceberg_base_t *b);
int iceberg_commit_on(ursa_store_t *st, const char *dir, iceberg_base_t *base, iceberg_mutate_fn fn,
                      void *ctx, int attempts, iceberg_commit_stats_t *stats,
                      ursa_err_t *err) URSA_MUST_CHECK;

/* Crash-test hooks (tests/integration/iceberg.test.mjs), inert unless the
 * environment asks: URSA_TEST_KILL_AT=<step> raises SIGKILL at that step --
 * "before-commit" (a flush's files published, its commit not begun),
 * "before-hint" (a metadata version written, version-hint.text not yet),
 * "on-conflict" (an attempt lost to another writer, before the retry),
 * "compact-before-commit" (a compaction's outputs written, its commit not
 * begun);
 * URSA_TEST_COMMIT_PAUSE_MS=N holds every commit attempt N ms between its
 * load and its write, so that nodes committing together collide. */
void iceberg_test_kill(const char *step);

/* Loads the current metadata of the table at dir: *t NULL (and *version 0)
 * when there is none. */
int iceberg_load(ursa_store_t *st, const char *dir, json_t **t, int64_t *version, int *requests,
                 ursa_err_t *err) URSA_MUST_CHECK;

/* The wall clock in ms since the epoch (timestamps of the metadata), and
 * 64 random bits (table ids, snapshot ids, object names). */
int64_t iceberg_now_ms(void);
uint64_t iceberg_random64(void);

/* The most metadata-log entries kept (older ones are dropped from the log;
 * their files stay until upkeep removes them). */
#define ICEBERG_METADATA_LOG_MAX 100

#endif
