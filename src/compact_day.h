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

typedef struct compact_day_result {
    size_t inputs, outputs; /* files merged, files written */
    uint64_t rows;          /* rows in (= rows out) */
    uint64_t bytes_in, bytes_out;
    bool nothing; /* fewer than two files: nothing to do */
    bool already; /* the same compaction was committed before (redone after a crash) */
    bool lost;    /* another compaction replaced some of the inputs first: its outputs were deleted */
} compact_day_result_t;

/* Compacts dataset's files of date ("YYYY-MM-DD") in its table: the schema
 * and field ids are the table's, the files written with base's codec and
 * sizes (pq_write_opts_dataset), the commit keyed "compact:<hash of the
 * inputs>" under node's name. Outputs that lost to another compaction are
 * deleted again (res->lost, URSA_OK). URSA_ENOTFOUND: no table. */
int compact_day(ursa_store_t *st, const char *dataset, const char *date, const char *node,
                const pq_write_opts_t *base, compact_day_result_t *res, ursa_err_t *err) URSA_MUST_CHECK;

#endif
