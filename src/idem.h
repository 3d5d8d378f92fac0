/*
 * idem.h -- idempotency keys: the answers to recent ingest requests that
 * carried an Idempotency-Key header, so that a client's retry after a lost
 * answer gets the same answer instead of storing its rows twice.
 *
 * A key is scoped to its dataset, and remembers a digest of the body it
 * came with: the same key with another body is a client's mistake (a key
 * reused for new rows), answered 422 instead of replaying an answer that
 * does not belong to those rows and dropping them. The table holds at most `cap` keys and
 * forgets the oldest first. Every key answered in the last
 * URSA_IDEM_CARRY_S seconds is in the log: with its request's record, and
 * when that record's segment is released, in a record of the keys carried
 * over (ursa_catalog_release_wal), so replay restores them whatever was
 * flushed before a crash.
 */
#ifndef URSA_IDEM_H
#define URSA_IDEM_H

#include "common.h"

#include <pthread.h>

#define URSA_IDEM_KEY_MAX 200
#define URSA_IDEM_DIGEST  16  /* bytes of a body's digest (XXH3-128 of the body as sent) */
#define URSA_IDEM_CARRY_S 600 /* keys answered this recently survive the release of their records */

typedef struct ursa_idem ursa_idem_t;

typedef enum { URSA_IDEM_NEW, URSA_IDEM_BUSY, URSA_IDEM_DONE } ursa_idem_state_t;

int ursa_idem_new(ursa_idem_t **out, size_t cap) URSA_MUST_CHECK;
void ursa_idem_destroy(ursa_idem_t **t);

/* Claims (dataset, key): NEW (now claimed: finish or drop it), BUSY (a
 * request with this key is in progress) or DONE (its answer is copied to
 * *status and body, the digest of its body to digest[URSA_IDEM_DIGEST]
 * with *has_digest set; records logged before digests were kept have
 * none). */
ursa_idem_state_t ursa_idem_claim(ursa_idem_t *t, const char *dataset, const char *key, unsigned *status,
                                  ursa_buf_t *body, uint8_t *digest, bool *has_digest);

/* Records the answer of a claimed key (or of a replayed one), the digest
 * of its body (URSA_IDEM_DIGEST bytes, or NULL when unknown) and the log
 * record that holds them (0: none). */
int ursa_idem_finish(ursa_idem_t *t, const char *dataset, const char *key, unsigned status, const void *body,
                     size_t n, const uint8_t *digest, uint64_t lsn) URSA_MUST_CHECK;

/* Calls fn for every key answered in the last max_age_s seconds (or
 * replayed then) whose log record is below cut (key is key_len bytes, not
 * NUL-terminated), under the table's lock: fn must not call back into the
 * table. Stops at fn's first non-zero return. */
typedef int (*ursa_idem_each_fn)(void *ctx, const char *dataset, const char *key, size_t key_len,
                                 unsigned status, const void *body, size_t n, const uint8_t *digest);
int ursa_idem_below(ursa_idem_t *t, uint64_t cut, int64_t max_age_s, ursa_idem_each_fn fn,
                    void *ctx) URSA_MUST_CHECK;

/* The keys whose record is below cut are now held by record lsn. */
void ursa_idem_moved(ursa_idem_t *t, uint64_t cut, uint64_t lsn);

/* Forgets a claim whose request failed, so a retry runs again. */
void ursa_idem_drop(ursa_idem_t *t, const char *dataset, const char *key);

/* True when key is acceptable: 1..URSA_IDEM_KEY_MAX printable ASCII bytes. */
bool ursa_idem_key_valid(const char *key);

#endif
