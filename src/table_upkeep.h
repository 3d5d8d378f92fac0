/*
 * table_upkeep.h -- the upkeep of a dataset's Iceberg table: snapshots
 * expired after the retention, and the files nothing needs any more
 * deleted (docs/internals/iceberg.md, "Upkeep"; the rules and why they are
 * safe with several nodes: table_upkeep.c).
 */
#ifndef URSA_TABLE_UPKEEP_H
#define URSA_TABLE_UPKEEP_H

#include "common.h"
#include "store.h"

/* The default retention: one day (--retention, URSA_RETENTION). */
#define TABLE_RETENTION_DEFAULT_MS ((int64_t)86400 * 1000)

/* Unreferenced manifests and lists (orphans) go only once older than the
 * retention and than this: six times an append's deadline
 * (TABLE_APPEND_DEADLINE_MS), room for its last store request and for
 * clocks of nodes that differ by minutes. */
#define TABLE_ORPHAN_MIN_AGE_MS ((int64_t)3600 * 1000)

/* Data files a compaction replaced are deleted like any other once their
 * snapshots expire: a restart of the node that wrote them does not take
 * their records, still in its log, for unpublished, since it also asks the
 * table which of its flushes were committed (table_commit_covers). */

/* What the manifest lists of a table name, kept from one upkeep run to the
 * next (lists never change): a run then reads only the lists that are new
 * to it. One per table, used by one thread at a time; NULL until the first
 * run. */
typedef struct table_upkeep_cache table_upkeep_cache_t;

void table_upkeep_cache_destroy(table_upkeep_cache_t **cache);

typedef struct table_upkeep_stats {
    int64_t version;          /* the metadata version upkeep committed, or found (0: no table) */
    size_t snapshots_expired; /* removed from the metadata by this call's commit */
    size_t lists_deleted;     /* manifest lists: of expired snapshots, and orphans */
    size_t manifests_deleted; /* manifests: only expired snapshots named them, and orphans */
    size_t data_files_deleted;
    size_t metadata_deleted; /* vN.metadata.json files past the metadata log */
    size_t orphans_deleted;  /* of the lists and manifests deleted: those no snapshot named */
    size_t unknown_age;      /* unreferenced manifests and lists with names of the old form, left */
    int requests;            /* store requests made */
} table_upkeep_stats_t;

/* Expires the snapshots of dataset's table older than now_ms - retention_ms
 * (the current one and those a ref names always kept) in one commit, then
 * deletes what only they reached -- their manifest lists, the manifests no
 * retained snapshot names, the data files no retained snapshot has live --,
 * the metadata files past the metadata log once older than the retention,
 * and manifests and manifest lists no retained snapshot names whose names
 * say they are older than the retention and TABLE_ORPHAN_MIN_AGE_MS. A dataset without a table is
 * URSA_OK with stats->version 0. now_ms is the wall clock in ms (tests
 * pass another). cache (may be NULL: none kept) is the table's, created on
 * the first run; the caller frees it with table_upkeep_cache_destroy. stats (may be NULL) is filled even on
 * an error, with what was done up to it. Deletes are idempotent: a run that fails midway is finished by the
 * next (what the commit removed and was not deleted yet is then an orphan). */
int table_upkeep(ursa_store_t *st, const char *dataset, int64_t retention_ms, int64_t now_ms,
                 table_upkeep_cache_t **cache, table_upkeep_stats_t *stats, ursa_err_t *err) URSA_MUST_CHECK;

#endif
