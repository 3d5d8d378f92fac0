/*
 * table.h -- a dataset's Apache Iceberg table in the store: its schema and
 * field ids, and the files of a flush committed as one append snapshot,
 * exactly once.
 *
 * The table of dataset D lives at D/ in the store: data files where flushes
 * write them (D/date=YYYY-MM-DD/...), metadata in D/metadata/ (the
 * vN.metadata.json chain of iceberg_meta, manifests and manifest lists of
 * iceberg_avro). Locations inside the metadata are absolute URIs: the
 * store's ("s3://bucket/prefix", or "file://" and the local directory's
 * absolute path) followed by the key.
 */
#ifndef URSA_TABLE_H
#define URSA_TABLE_H

#include "common.h"
#include "schema.h"
#include "store.h"

#include "iceberg_meta.h"

#include <jansson.h>

/* The absolute URI of key in st (buf of n bytes). URSA_EINVAL when it does
 * not fit or the local directory cannot be resolved. */
int table_location(const ursa_store_t *st, const char *key, char *buf, size_t n) URSA_MUST_CHECK;

/* The property of the table's metadata that holds the dataset's Ursa schema
 * document (harmonization rules and all; Iceberg's types cannot tell int8
 * from int32, or json from string). It is the source of truth of a
 * dataset's columns when several nodes write it. */
#define TABLE_SCHEMA_PROPERTY "ursa.schema"

/* table_schema flags. */
#define TABLE_CREATE_ONLY 1u /* create the table from s when there is none, else change nothing */

/* Makes the table hold s's columns, in one commit: a table that does not
 * exist is created from s (partitioned by day of its time column, sorted by
 * its sort key); an existing one gets the columns of s it lacks, by name,
 * appended to its Ursa schema and as new Iceberg fields with new ids (its
 * other columns stay: s may be an older view of the dataset, as another
 * node's is). A column of s the table has with another type is URSA_EEXIST.
 * A schema the table already holds commits nothing. Then ids[i] (ids may
 * be NULL) gets the field id of s->fields[i], and *out (may be NULL; the
 * caller's, ursa_schema_free) the table's Ursa schema as committed. base
 * (may be NULL): the version to start from, and then the version committed
 * (iceberg_commit_on). */
int table_schema(ursa_store_t *st, const char *dataset, const ursa_schema_t *s, unsigned flags,
                 iceberg_base_t *base, int32_t *ids, ursa_schema_t *out, ursa_err_t *err) URSA_MUST_CHECK;

/* The table's Ursa schema: URSA_ENOTFOUND when there is no table, or a
 * table without the property. *out is the caller's. */
int table_load_schema(ursa_store_t *st, const char *dataset, ursa_schema_t *out,
                      ursa_err_t *err) URSA_MUST_CHECK;

typedef struct table_file {
    const char *key; /* a published Parquet file of the dataset */
    int32_t day;     /* its partition: days since 1970-01-01 of the time column */
} table_file_t;

typedef struct table_append {
    const char *dataset;
    const ursa_schema_t *schema;
    /* What makes the commit unique: a redone flush of the same node and
     * WAL range finds its snapshot and commits nothing. */
    const char *node;
    uint64_t first_lsn, last_lsn;
    const table_file_t *files;
    size_t nfiles;
    /* The field ids of schema's fields, when the caller has them (the
     * flush, from table_schema before writing); NULL: looked up (and
     * the schema made the table's, as table_schema does). */
    const int32_t *ids;
    /* Manifest merging: when the new snapshot would name more than this
     * many manifests, the parent's small ones are merged into one (0:
     * TABLE_MERGE_MIN_COUNT). */
    size_t merge_min_count;
    /* The table's version as the caller last saw it (the flush: from its
     * table_schema), to start the commit from; NULL: loaded. */
    iceberg_base_t *base;
    /* A replace (compaction): the store keys of live files the commit
     * removes in the same snapshot as it adds files (operation "replace"),
     * under the commit key `key` (the node order does not apply); the
     * commit fails with URSA_ENOTFOUND, writing nothing, when one of them
     * is no longer live (another compaction won). nremove 0: an append. */
    const char *const *remove;
    size_t nremove;
    const char *key;
} table_append_t;

/* Iceberg's commit.manifest.min-count-to-merge and target-size-bytes
 * defaults: a snapshot names at most about this many manifests below the
 * target size (those at or past it are kept as they are). */
#define TABLE_MERGE_MIN_COUNT      100
#define TABLE_MANIFEST_TARGET_SIZE ((int64_t)8 << 20)

/* An append gives up (URSA_ELIMIT; the flush keeps the files and retries
 * with a new manifest) rather than start a commit attempt this long after
 * it wrote its manifest: upkeep deletes unreferenced manifests and lists
 * only once much older (TABLE_ORPHAN_MIN_AGE_MS), so no commit can land
 * naming a file upkeep deleted. */
#define TABLE_APPEND_DEADLINE_MS ((int64_t)10 * 60 * 1000)

typedef struct table_result {
    bool already;    /* the snapshot was there (a redone commit) */
    int64_t version; /* the metadata version written (or found) */
    int64_t snapshot_id, sequence_number;
    int attempts, requests; /* commit attempts, store requests of the commit */
    size_t metadata_bytes;  /* the metadata, manifest list and manifest written */
    int merged;             /* manifests merged into one by the winning attempt (0: no merge) */
} table_result_t;

/* Commits the files as one append snapshot: reads each file's footer for
 * its row count and column statistics, writes one manifest, then, in
 * iceberg_commit's retry loop, a manifest list of the parent's manifests
 * (the small ones merged into one when there are too many: see
 * merge_min_count) and the new one, and the metadata. */
int table_append(ursa_store_t *st, const table_append_t *a, table_result_t *res,
                 ursa_err_t *err) URSA_MUST_CHECK;

/* The store key of loc, a location (URI) inside the table of dataset whose
 * location is `location`; NULL when loc lies elsewhere. Points into loc. */
const char *table_key(const char *location, const char *dataset, const char *loc);

/* The commit key of node's last flush in dataset's table ("<node>:<first
 * LSN>-<last LSN>:<day>,..."; after the rest of a flush cut by a crash,
 * the union of both: the whole range, every day committed in it), into
 * out[0..n): "" when the node committed none (or there is no table). A
 * node's flushes commit in log order, so every record before the range is
 * in the table, or was (a compaction may have replaced its file since), and
 * so are the range's records on its days: table_commit_covers. */
int table_node_commit(ursa_store_t *st, const char *dataset, const char *node, char *out, size_t n,
                      ursa_err_t *err) URSA_MUST_CHECK;

/* Whether the rows of record lsn on day (days since the epoch) are in the
 * flushes that the commit key `last` and the ones before it committed. */
bool table_commit_covers(const char *last, uint64_t lsn, int32_t day);

/* The LSN range of a commit key: records before *first are covered on
 * every day, records past *last on none (table_commit_covers decides the
 * rest by day). false when key is not a commit key. */
bool table_commit_range(const char *key, uint64_t *first, uint64_t *last);

/* Commits the published Parquet files of `node` in dataset that no
 * snapshot names -- left by a node killed between publishing a flush's
 * files and committing them, by a commit that failed and was still pending
 * at a stop, or written before the dataset had a table. Files are grouped
 * by the flush that wrote them (<node>-<first LSN>-<last LSN>.parquet, one
 * per day) and each group is appended with the flush's own commit key, so a
 * group that was committed after all is found, not committed twice.
 * *committed gets the files committed. */
int table_recover(ursa_store_t *st, const char *dataset, const ursa_schema_t *s, const char *node,
                  size_t *committed, ursa_err_t *err) URSA_MUST_CHECK;

/* The live data files of the table's current snapshot, as JSON:
 * {"dataset", "snapshot_id" (null before the first), "metadata_version",
 * "rows", "bytes", "files": [{"path" (the store key), "location" (the
 * URI), "date", "rows", "bytes"}]}. URSA_ENOTFOUND when the dataset has no
 * table. *out is the caller's. */
int table_files(ursa_store_t *st, const char *dataset, json_t **out, ursa_err_t *err) URSA_MUST_CHECK;

/* What a query reads of the table, from one version of its metadata: the
 * current snapshot's live data files (as table_files lists them) and each
 * node's last commit key (table_node_commit), so that the rows of the
 * nodes' buffers the snapshot already has can be told apart
 * (table_commit_covers): {"snapshot_id" (null before the first), "files":
 * [...], "commits": {"<node>": "<key>"}}. A dataset without a table gives
 * no files and no commits. */
int table_pin(ursa_store_t *st, const char *dataset, json_t **out, ursa_err_t *err) URSA_MUST_CHECK;

/* The table's snapshots, oldest first: {"dataset", "current_snapshot_id",
 * "metadata_version", "snapshots": [{"snapshot_id", "parent_snapshot_id",
 * "sequence_number", "timestamp_ms", "summary"}]}. */
int table_snapshots(ursa_store_t *st, const char *dataset, json_t **out, ursa_err_t *err) URSA_MUST_CHECK;

#endif
