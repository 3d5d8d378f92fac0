/*
 * wal.h -- the write-ahead log: numbered records in segment files, group
 * commit, replay with torn-tail repair, and deletion of what is no longer
 * needed.
 *
 * A record is opaque bytes to the log; it gets the next log sequence
 * number (LSN, from 1). ursa_wal_append() assigns the LSN and calls the
 * caller's `then` under the log's lock, so whatever the caller does there
 * (appending to a buffer) happens in LSN order. ursa_wal_wait() returns
 * once the record is on disk (fdatasync) — one sync serves every record
 * appended meanwhile — or at once with durability "none".
 */
#ifndef URSA_WAL_H
#define URSA_WAL_H

#include "common.h"

typedef struct ursa_wal ursa_wal_t;

/* A segment ends when full or when this old (by default), whichever comes first. */
#define URSA_WAL_SEGMENT_MAX_AGE_S 3600

typedef struct ursa_wal_opts {
    const char *dir;      /* created when missing */
    bool fsync;           /* true: acknowledge after fdatasync (default) */
    size_t segment_bytes; /* start a new segment past this size, default 64 MiB */
    uint64_t floor;       /* LSNs below this were used before (the store's mark): never reuse them */
    bool buffered;        /* write through the page cache even with fsync where direct I/O works (tests) */
    unsigned segment_max_age_s; /* ... or once this old; 0: URSA_WAL_SEGMENT_MAX_AGE_S */
} ursa_wal_opts_t;

/* Opens the log in o->dir. Nothing is written until ursa_wal_replay() has
 * run (it must be called, once, before the first append). */
int ursa_wal_open(ursa_wal_t **out, const ursa_wal_opts_t *o, ursa_err_t *err) URSA_MUST_CHECK;

/* Calls cb for every record in LSN order. A torn tail (the end of the last
 * segment cut or garbled by a crash, with no whole record after it) is
 * cut off and logged; damage anywhere else is an error (URSA_EFORMAT)
 * naming the segment and offset, and nothing is skipped silently. A
 * non-zero return of cb stops the replay and is returned. Then starts the
 * writer thread. */
int ursa_wal_replay(ursa_wal_t *w, int (*cb)(void *ctx, uint64_t lsn, const uint8_t *p, size_t n), void *ctx,
                    ursa_err_t *err) URSA_MUST_CHECK;

/* Appends a record (copied) and returns its LSN in *lsn; calls then(ctx,
 * lsn) before any later record is numbered. Fails when the log has
 * failed (a write or sync error): from then on nothing is acknowledged. */
int ursa_wal_append(ursa_wal_t *w, const void *p, size_t n, void (*then)(void *ctx, uint64_t lsn), void *ctx,
                    uint64_t *lsn, ursa_err_t *err) URSA_MUST_CHECK;

/* Bytes a record buffer for ursa_wal_append_buf starts with (the log's
 * record header, filled in by the log). */
#define URSA_WAL_HEADER 24

/* Like ursa_wal_append, without copying the record: b holds URSA_WAL_HEADER
 * bytes of any content and then the record. On success the log takes b's
 * storage (and frees it once written) and *b is zeroed; on failure b is
 * still the caller's. A request's batch is encoded straight into such a
 * buffer, so it is copied once on its way into the log, not twice. */
int ursa_wal_append_buf(ursa_wal_t *w, ursa_buf_t *b, void (*then)(void *ctx, uint64_t lsn), void *ctx,
                        uint64_t *lsn, ursa_err_t *err) URSA_MUST_CHECK;

/* Prepares b for a record of n bytes to be given to ursa_wal_append_buf:
 * capacity for URSA_WAL_HEADER + n, len = URSA_WAL_HEADER. The buffer is
 * the one of a record already written when the log kept it (one, of at
 * most 320 MiB, is kept; it counts in ursa_mem_used), else a new one. The
 * caller owns b until it is appended (ursa_buf_free when it is not).
 * URSA_OK or URSA_ENOMEM. */
int ursa_wal_record_buf(ursa_wal_t *w, size_t n, ursa_buf_t *b) URSA_MUST_CHECK;

/* Waits until record lsn is durable (per the durability setting). */
int ursa_wal_wait(ursa_wal_t *w, uint64_t lsn, ursa_err_t *err) URSA_MUST_CHECK;

/* Calls cb(ctx, rc) once record lsn is durable (rc URSA_OK) or the log has
 * failed (rc an error): from the writer thread, or from this call when that
 * is already the case. This lets a server answer many requests after one
 * sync without a thread blocked per request. */
int ursa_wal_notify(ursa_wal_t *w, uint64_t lsn, void (*cb)(void *ctx, int rc), void *ctx) URSA_MUST_CHECK;

/* The highest LSN that is durable (all records up to it are). */
uint64_t ursa_wal_durable(ursa_wal_t *w);

/* Deletes every segment whose records all have LSNs below min_needed, and
 * below every pin. */
void ursa_wal_release(ursa_wal_t *w, uint64_t min_needed);

/* What ursa_wal_release(w, min_needed) would delete now: every record
 * below the returned LSN; 0 when nothing. */
uint64_t ursa_wal_releasable(ursa_wal_t *w, uint64_t min_needed);

/* Pins the LSN the next record will get (returned): no release deletes a
 * record from it on until it is unpinned. A request that logs its rows in
 * several records holds one pin from before its first, so that its early
 * records stay while the rest are parsed. URSA_OK or URSA_ENOMEM. */
int ursa_wal_pin(ursa_wal_t *w, uint64_t *lsn) URSA_MUST_CHECK;
void ursa_wal_unpin(ursa_wal_t *w, uint64_t lsn);

/* Bytes in the log's segment files. */
uint64_t ursa_wal_bytes(ursa_wal_t *w);

/* The LSN the next record will get. */
uint64_t ursa_wal_next_lsn(ursa_wal_t *w);

/* Writes and syncs what is pending, stops the writer and frees the log. */
void ursa_wal_close(ursa_wal_t **w);

#endif
