/*
 * compactor.h -- compaction inside `serve`: a policy thread that compacts
 * each table's days when they are due, and compactions on request (the API).
 *
 *   ursa_compactor_opts_t o;
 *   ursa_compactor_opts_default(&o);
 *   ursa_compactor_new(&cp, catalog, &o);
 *   ursa_compactor_start(cp);          // the policy thread (o.policy)
 *   ursa_compactor_run(cp, "ev", "2026-12-06", &answer, &err);   // now, on this thread
 *   ursa_compactor_stop(cp);           // a merge in progress stops, nothing published
 *   ursa_compactor_destroy(&cp);
 *
 * One compaction at a time per node (memory: one merge's windows); a
 * request waits for the policy's merge in progress. See
 * docs/internals/compaction.md, "When".
 */
#ifndef URSA_COMPACTOR_H
#define URSA_COMPACTOR_H

#include "catalog.h"

#include <jansson.h>

typedef struct ursa_compactor_opts {
    bool policy;           /* run the policy thread (false: compactions on request only) */
    int64_t grace_ms;      /* a day is closed this long after its UTC midnight (late rows) */
    size_t open_max_files; /* an open day is compacted past this many files (compact_day_opts_t) */
    int64_t every_ms;      /* the policy looks at every table this often (with a random offset) */
} ursa_compactor_opts_t;

typedef struct ursa_compactor ursa_compactor_t;

/* policy on, grace 30 min, 32 files, every 60 s. */
void ursa_compactor_opts_default(ursa_compactor_opts_t *o);

/* A compactor for the catalog's tables (the catalog outlives it). */
int ursa_compactor_new(ursa_compactor_t **out, ursa_catalog_t *cat,
                       const ursa_compactor_opts_t *o) URSA_MUST_CHECK;

/* Starts the policy thread (when o->policy). */
int ursa_compactor_start(ursa_compactor_t *cp) URSA_MUST_CHECK;

/* Stops the policy thread and any merge in progress (it publishes nothing);
 * later runs answer URSA_ECANCELED. Idempotent. */
void ursa_compactor_stop(ursa_compactor_t *cp);

void ursa_compactor_destroy(ursa_compactor_t **cp);

/* Compacts dataset's day date ("YYYY-MM-DD"; NULL: every day not compacted
 * yet) now, on the calling thread, once this node's compaction in progress
 * is over. *out (the caller's, also on failure when not NULL): {"dataset",
 * "days": [{"date", "result" ("compacted", "compacted before", "nothing to
 * do", "lost to another compaction", "error"), "files_before", "files_in",
 * "files_out", "rows", "bytes_in", "bytes_out", "seconds"[, "error"]}]}.
 * Returns the first day's failure (err says which), URSA_ENOTFOUND when
 * the dataset has no table. */
int ursa_compactor_run(ursa_compactor_t *cp, const char *dataset, const char *date, json_t **out,
                       ursa_err_t *err) URSA_MUST_CHECK;

#endif
