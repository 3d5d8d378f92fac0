/*
 * catalog.h -- the datasets a node knows: schemas (persisted in the store)
 * and each dataset's in-memory buffer of batches.
 *
 * A dataset's buffer is a list of immutable batches ("chunks"). Ingest
 * builds a batch privately and appends it whole under the dataset's lock
 * (moving a pointer, not rows). A flush takes the list out under the same
 * lock, so ingestion goes on into a fresh list while the old one is written;
 * the chunks taken stay in `held`, readable by queries, until the table has
 * their rows. Chunks are reference counted (a query pins them), freed by
 * the last holder.
 * Datasets are never removed while the server runs, so a dataset pointer
 * obtained from the catalog stays valid until ursa_catalog_destroy().
 *
 * Several nodes (with tables, URSA_CATALOG_TABLES): a dataset's schema is
 * its table's (table.h), the one place every node's changes meet. A node
 * loads a dataset it does not know from the store when a request names it
 * (ursa_catalog_find) or the datasets are listed (ursa_catalog_discover);
 * an evolving dataset takes the columns other nodes added when it adds its
 * own and when its schema is read (ursa_dataset_refresh).
 *
 * An evolving schema only gains fields, and only through
 * ursa_dataset_evolve, which a request calls once, when its rows are about
 * to be logged: the fields it met stay its own until then (ingest_json.h),
 * so a request that stores nothing changes nothing.
 */
#ifndef URSA_CATALOG_H
#define URSA_CATALOG_H

#include "column.h"
#include "pq_write.h"
#include "store.h"
#include "idem.h"
#include "wal.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct ursa_dataset {
    char *name;                      /* "_quarantine/<parent>" for a quarantine (see quarantine.h) */
    struct ursa_dataset *quarantine; /* where its refused rows go; NULL for a quarantine itself */
    struct ursa_dataset *parent;     /* for a quarantine: whose it is; NULL for user datasets */
    ursa_schema_t schema;            /* gains fields at the end when it evolves (see ursa_schema_nfields) */
    char *schema_json;               /* canonical rendering, as persisted (under lock) */

    /* batches appended to the buffer since the node started: a live query
     * (api_live.c) that saw the same count has no new rows of this node */
    atomic_ullong appends;

    pthread_mutex_t lock; /* guards the fields below */
    ursa_batch_t **chunks;
    size_t nchunks, cap;
    uint64_t rows;
    uint64_t bytes;
    /* Chunks flushes took out of the list, in LSN order: being written, or
     * published and waiting for their table commit. Queries read them with
     * the list until the table has their rows (ursa_dataset_pin). */
    ursa_batch_t **held;
    size_t nheld, held_cap;
    uint64_t flushing_lsn;                  /* lowest LSN of a flush in progress, 0 when none */
    uint64_t flushing_rows, flushing_bytes; /* held by a flush in progress (still buffered for users) */
    int64_t oldest_ms; /* when the oldest buffered batch arrived (monotonic ms), 0 when empty */
    /* the flusher's own (only it touches them) */
    int64_t last_flush_ms, retry_at_ms;
    unsigned failures;
    uint64_t pressure_round;                 /* the last pass that flushed it for memory */
    int64_t upkeep_at_ms;                    /* the upkeeper's own: when the table's next upkeep is due, */
    struct table_upkeep_cache *upkeep_cache; /* ... and what the table's lists name */

    /* Flushes whose files are published but whose table commit failed
     * (under flush_lock): retried, in order, before the next flush. */
    struct ursa_table_pending *tpending;
    size_t ntpending;

    pthread_mutex_t flush_lock;  /* one flush of this dataset at a time */
    pthread_mutex_t evolve_lock; /* one schema change at a time (schema_json changes under lock) */
} ursa_dataset_t;

#define URSA_MISS_SLOTS    64
#define URSA_LOOKUPS_PER_S 20

typedef struct ursa_catalog {
    ursa_store_t *store;         /* not owned */
    ursa_wal_t *wal;             /* not owned; NULL when rows are not logged */
    ursa_idem_t *idem;           /* recent Idempotency-Keys and their answers */
    uint64_t lsn_mark;           /* every LSN below it may name a published file (kept in the store) */
    struct replay_cache *replay; /* listings of published files, during replay only */
    uint64_t replay_skipped;     /* rows left out by replay: already published */
    struct replay_part *parts;   /* during replay: request parts waiting for their last record */
    size_t nparts, parts_cap;
    pthread_mutex_t mark_mu;
    char *node;
    pq_write_opts_t pq;
    bool iceberg;          /* datasets are Iceberg tables (URSA_CATALOG_TABLES) */
    int64_t retention_ms;  /* table upkeep: snapshots and unreferenced files older than this go */
    size_t merge_min;      /* an append merges manifests past this many (0: TABLE_MERGE_MIN_COUNT) */
    pthread_rwlock_t lock; /* guards the array */
    ursa_dataset_t **ds;
    size_t n, cap;

    ursa_flush_policy_t flush_default; /* for datasets that set nothing */
    /* the memory budget (0: none): past 3/4 of it the flusher flushes the
     * largest buffers until half of it is free (ursa_catalog_pressure) */
    uint64_t memory_limit;
    int store_failing; /* the last flush failed (atomic) */
    pthread_t flusher;
    bool flusher_started;
    pthread_mutex_t flusher_mu;
    pthread_cond_t flusher_cv;
    bool flusher_stop;
    /* table upkeep (serve --iceberg) on a thread of its own, so that a long
     * run delays no flush; stopped with the flusher (flusher_stop) */
    pthread_t upkeeper;
    bool upkeeper_started;
    pthread_cond_t upkeep_cv;
    pthread_mutex_t release_mu; /* one release of the log at a time (ursa_catalog_release_wal) */
    pthread_mutex_t miss_mu;    /* guards misses */
    struct ursa_miss {
        uint64_t hash;
        int64_t ms;
    } misses[URSA_MISS_SLOTS]; /* names recently not found in the store (ursa_catalog_find) */
    int64_t lookup_second;     /* and the lookups of unknown names in this second */
    unsigned lookups;
} ursa_catalog_t;

#define URSA_SCHEMA_KEY "_ursa/schema.json"
/* The longest dataset name inside the catalog and the log: user names and
 * "_quarantine/<name>". */
#define URSA_DATASET_NAME_MAX (URSA_NAME_MAX + 16)

/* ursa_catalog_new flags. */
#define URSA_CATALOG_TABLES 1u /* every dataset is an Iceberg table (table.h): its schema lives there */

/* Creates the catalog and loads every dataset schema found in the store.
 * Every dataset comes with its quarantine, also in the catalog's array
 * (ursa_catalog_list returns both; d->parent tells them apart). */
int ursa_catalog_new(ursa_catalog_t **out, ursa_store_t *store, const char *node, unsigned flags,
                     ursa_err_t *err) URSA_MUST_CHECK;
/* Frees the catalog, its datasets and any rows still buffered. */
void ursa_catalog_destroy(ursa_catalog_t **c);

/* Creates dataset name with the schema document json. *created is true
 * when it was new; an identical existing schema is not an error, a
 * different one is URSA_EEXIST. */
int ursa_catalog_create(ursa_catalog_t *c, const char *name, const char *json, size_t len, bool *created,
                        ursa_err_t *err) URSA_MUST_CHECK;

/* Returns the dataset or NULL. */
ursa_dataset_t *ursa_catalog_get(ursa_catalog_t *c, const char *name);

/* As ursa_catalog_get, but a dataset this node does not know is looked for
 * in the store (another node behind the same gateway may have created it)
 * and loaded; a name not found there is not looked for again for a second. */
ursa_dataset_t *ursa_catalog_find(ursa_catalog_t *c, const char *name);

/* Loads the datasets of the store this node does not know (one listing). */
int ursa_catalog_discover(ursa_catalog_t *c, ursa_err_t *err) URSA_MUST_CHECK;

/* Copies the dataset pointers (for listing) into a new array *out of *n
 * entries; the caller frees the array (not the datasets). */
int ursa_catalog_list(ursa_catalog_t *c, ursa_dataset_t ***out, size_t *n) URSA_MUST_CHECK;

/* Appends a finished batch to the buffer and takes ownership of it (also
 * on failure, when it is freed). With a WAL, batches must be appended in
 * LSN order (ursa_wal_append's `then` does that). */
int ursa_dataset_append(ursa_dataset_t *d, ursa_batch_t *b) URSA_MUST_CHECK;

/* For "unknown_fields": "evolve", when a request's rows are about to be
 * logged: commits the fields the request added and puts its batch in d's
 * column order. req is the request's schema (ursa_ndjson_t.schema: d's
 * first `base` fields, then the request's own, nullable) and b its rows
 * that will be stored, one column per field of req. Under d's evolve_lock
 * each own field that some row has a value for is found in d's schema by
 * name (another request may have added it meanwhile) or appended to it;
 * when any is appended the schema is saved in the store, then published.
 * Afterwards b has d's columns of that moment, in d's order: fields others
 * added are null in these rows, own fields without a value are gone.
 * Nothing changes on failure: URSA_EEXIST when d has a field of that name
 * with another type, URSA_ELIMIT when the fields would pass
 * URSA_COLUMNS_MAX (err says which; a retry parses against the new schema),
 * a store error, URSA_ENOMEM. A request without fields of its own
 * (b->ncols <= base) is left as it is. */
int ursa_dataset_evolve(ursa_catalog_t *c, ursa_dataset_t *d, const ursa_schema_t *req, size_t base,
                        ursa_batch_t *b, ursa_err_t *err) URSA_MUST_CHECK;

/* Takes the columns other nodes added to an evolving dataset's table (a
 * no-op without tables, or for a dataset that does not evolve). */
int ursa_dataset_refresh(ursa_catalog_t *c, ursa_dataset_t *d, ursa_err_t *err) URSA_MUST_CHECK;

/* A copy of the dataset's schema document (free with ursa_free), or NULL. */
char *ursa_dataset_schema_json(ursa_dataset_t *d);

/* A query's view of a dataset's buffered rows: every chunk of the list and
 * of `held` at one moment, each held (refs) so that no flush frees it while
 * it is read, and for each the columns asked for, copied (a flush may widen
 * a chunk's column array meanwhile; the columns' own buffers never change).
 * A column the chunk does not have (added to the schema after it) is
 * zeroed: length 0, read as nulls. Chunks are in LSN order. */
typedef struct ursa_pin {
    ursa_batch_t **chunks;
    ursa_column_t *cols; /* n * nfields: chunk k's column i at k * nfields + i */
    size_t n, nfields;
} ursa_pin_t;

/* Pins d's buffered rows, columns fields[0..nfields) of the schema. */
int ursa_dataset_pin(ursa_dataset_t *d, const size_t *fields, size_t nfields,
                     ursa_pin_t *out) URSA_MUST_CHECK;
void ursa_pin_release(ursa_pin_t *p);
/* Drops one hold on a chunk, freeing it with the last. */
void ursa_chunk_release(ursa_batch_t *b);

/* Reads the buffered row and byte counts. */
void ursa_dataset_stats(ursa_dataset_t *d, uint64_t *rows, uint64_t *bytes);

/* One file written by a flush. */
typedef struct ursa_flush_file {
    char key[512];
    char date[16];
    uint64_t rows;
    uint64_t bytes;
} ursa_flush_file_t;

typedef struct ursa_flush_result {
    ursa_flush_file_t *files; /* owned; free with ursa_flush_result_free */
    size_t nfiles;
    uint64_t rows;
} ursa_flush_result_t;

/* Writes every buffered row of d as Parquet, one file per UTC day of the
 * time column, and publishes the files. On failure nothing is published
 * and the rows stay buffered. With a WAL only durable rows are written,
 * files are named <node>-<first LSN>-<last LSN>.parquet, and log segments
 * nobody needs any more are deleted afterwards. */
int ursa_dataset_flush(ursa_catalog_t *c, ursa_dataset_t *d, ursa_flush_result_t *res,
                       ursa_err_t *err) URSA_MUST_CHECK;
void ursa_flush_result_free(ursa_flush_result_t *r);
/* Frees d's table commits still pending (flush.c). */
void ursa_flush_pending_free(ursa_dataset_t *d);

/* Replays one WAL record (see ursa_wal_replay) into its dataset's buffer,
 * leaving out the rows of every day whose file of this node already
 * covers the record's LSN (published before a crash). */
int ursa_catalog_replay(ursa_catalog_t *c, uint64_t lsn, const uint8_t *p, size_t n,
                        ursa_err_t *err) URSA_MUST_CHECK;

/* Ends a replay: frees its cache of store listings and logs a summary. */
void ursa_catalog_replay_done(ursa_catalog_t *c);

/* Encodes the WAL record of a batch for dataset `name`, with the request's
 * Idempotency-Key (or NULL), its answer and the digest of its body
 * (URSA_IDEM_DIGEST bytes, or NULL): rows [from, b->nrows) of b, the
 * rows before `from` having been logged as the nparts part records listed
 * (LSNs in order; none: from is 0).
 *
 * Parts let the log write a big request while the rest of its body is
 * parsed: every few MiB of rows the request logs rows [a, b) as a part
 * (ursa_catalog_wal_part, a multiple of 8 rows), and its last record names
 * them. Replay keeps parts aside and puts their rows back only with their
 * last record (first_lsn = the first part's), so a request that failed or
 * was cut by a crash after logging parts stores nothing; a request that
 * fails says so with an abort record (ursa_catalog_wal_abort), which lets
 * replay drop its parts early. Rows are buffered with lsn = the last
 * record's and first_lsn = the first part's, and the log keeps every
 * record from the lowest first_lsn on (and, while a request runs, from its
 * pin: ursa_wal_pin). */
int ursa_catalog_wal_record(const char *name, const char *key, unsigned status, const void *answer,
                            size_t answer_len, const uint8_t *digest, const ursa_batch_t *b,
                            const uint64_t *parts, size_t nparts, size_t from,
                            ursa_buf_t *out) URSA_MUST_CHECK;
int ursa_catalog_wal_part(const ursa_batch_t *b, size_t from, size_t to, ursa_buf_t *out) URSA_MUST_CHECK;
int ursa_catalog_wal_abort(const uint64_t *parts, size_t nparts, ursa_buf_t *out) URSA_MUST_CHECK;

/* Starts the thread that flushes datasets by their policies (checked ten
 * times a second) and under memory pressure; stop it before the final
 * flush at shutdown. */
int ursa_catalog_start_flusher(ursa_catalog_t *c) URSA_MUST_CHECK;
void ursa_catalog_stop_flusher(ursa_catalog_t *c);

/* True when the memory in use has passed the flusher's high-water mark
 * (3/4 of c->memory_limit); then it also wakes the flusher, which flushes
 * the largest buffers first until half of the budget is free. Cheap: call
 * it from the ingest path. */
bool ursa_catalog_pressure(ursa_catalog_t *c);

/* Monotonic milliseconds. */
int64_t ursa_now_ms(void);

/* Reads this node's LSN mark from the store (0 when there is none). */
int ursa_catalog_load_mark(ursa_catalog_t *c, ursa_err_t *err) URSA_MUST_CHECK;

/* Raises the mark to at least next (in the store first), before files
 * named with LSNs below next are published. */
int ursa_catalog_raise_mark(ursa_catalog_t *c, uint64_t next, ursa_err_t *err) URSA_MUST_CHECK;

/* Removes the temporary files this node's killed writes left in a local
 * store, and old ones of dataset schemas; other nodes' stay (see
 * catalog.c). Call at start, before anything is written. Each removal is
 * logged. */
int ursa_catalog_remove_temps(ursa_catalog_t *c, ursa_err_t *err) URSA_MUST_CHECK;

/* Deletes the WAL segments whose rows are all published. */
void ursa_catalog_release_wal(ursa_catalog_t *c);

#endif
