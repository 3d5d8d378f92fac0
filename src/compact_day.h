/*
 * compact_day.h -- compaction of one dataset-day: the files the table's
 * current snapshot has for the day merged into one sorted file (or a few)
 * by the merge engine (compact.h) and swapped in by one replace commit
 * (table.h). See docs/internals/compaction.md.
 */
#ifndef URSA_COMPACT_DAY_H
#define URSA_COMPACT_DAY_H

#include "pq_write.h"
#include "store.h"

#include <jansson.h>
#include <stdatomic.h>

/* The default for open days: merged once they hold more than this many
 * files (compact_day_opts_t.open_max_files). */
#define URSA_COMPACT_OPEN_MAX_FILES 32

typedef struct compact_day_opts {
    const char *node;          /* names the commit ("ursa.node" of the snapshot) */
    const pq_write_opts_t *pq; /* codec and sizes: the catalog's, as the flush writes */
    /* 0: the day is closed (or the user asked): merge all its files unless
     * they are one compaction's outputs already. N: the day is still open:
     * merge only once it holds more than N files, and then only the files
     * flushes wrote, while earlier compactions' outputs come from fewer
     * than N / 2 merges (else all of them): an open day costs each row
     * about two rewrites before it closes, not one per merge. */
    size_t open_max_files;
    const atomic_bool *cancel; /* stops the merge (URSA_ECANCELED, nothing published); NULL: never */
} compact_day_opts_t;

typedef struct compact_day_result {
    size_t inputs, outputs; /* files merged, files written */
    uint64_t rows;          /* rows in (= rows out) */
    uint64_t bytes_in, bytes_out;
    size_t files; /* the day's live files before */
    bool nothing; /* nothing to do by the rule above */
    bool already; /* the same compaction was committed before (redone after a crash) */
    bool lost;    /* another compaction replaced some of the inputs first: its outputs were deleted */
} compact_day_result_t;

/* Which of a day's live files (store keys, n of them) a compaction merges
 * by o->open_max_files' rule: sets pick[i] and returns how many (0 or at
 * least 2). */
size_t compact_day_pick(const char *const *paths, size_t n, size_t open_max_files, bool *pick);

/* The days of a table's listing (table_files' answer) that compaction
 * would merge now, ascending, as a JSON array of {"date", "open"}: a day
 * that ended grace_ms before now_ms (epoch ms) is closed and goes by the
 * closed rule of compact_day_pick, a later one ("open": true) by
 * open_max_files; grace_ms < 0 takes every day as closed. NULL when out of
 * memory. */
json_t *compact_days_due(const json_t *listing, int64_t now_ms, int64_t grace_ms, size_t open_max_files);

/* Compacts dataset's files of date ("YYYY-MM-DD") in its table: the schema
 * and field ids are the table's, the files written with o->pq's codec and
 * sizes (pq_write_opts_dataset), the commit keyed "compact:<name of the
 * outputs>". Outputs that lost to another compaction are deleted again
 * (res->lost, URSA_OK). URSA_ENOTFOUND: no table; URSA_ECANCELED: stopped. */
int compact_day(ursa_store_t *st, const char *dataset, const char *date, const compact_day_opts_t *o,
                compact_day_result_t *res, ursa_err_t *err) URSA_MUST_CHECK;

#endif
