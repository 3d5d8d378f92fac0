/*
 * pq_cache.h -- a bounded, thread-safe LRU cache of shared, immutable,
 * reference-counted objects, looked up by a key and checked against a tag.
 * The reader keeps decoded Parquet footers in one (pq_read.c): the key is
 * the store and the object's key, the tag its size and version, so a
 * rewritten object misses and its stale entry is dropped.
 *
 * The cache knows nothing of what it holds: the caller gives it retain and
 * release functions. It holds one reference per entry; a hit hands the
 * caller one more, which the caller releases when done. Evicting an entry
 * only drops the cache's reference, so objects in use stay alive.
 *
 * Memory: entries are accounted by the cost their caller gives (plus the
 * entry itself, key and tag), and the total is kept at or under the limit
 * by evicting the least recently used entries. An object costing more than
 * the limit is not cached. A limit of 0 disables the cache.
 */
#ifndef URSA_PQ_CACHE_H
#define URSA_PQ_CACHE_H

#include "common.h"

#include <pthread.h>

typedef struct pq_cache_ops {
    void (*retain)(void *v);  /* one more reference to v */
    void (*release)(void *v); /* one less; the last frees v */
} pq_cache_ops_t;

typedef struct pq_cache_stats {
    uint64_t hits;      /* lookups that found their key with their tag */
    uint64_t misses;    /* lookups that did not (stale ones included) */
    uint64_t stale;     /* ... that found the key with another tag (entry dropped) */
    uint64_t inserts;   /* entries added */
    uint64_t evictions; /* entries dropped to stay under the limit */
    size_t entries;     /* entries now */
    size_t bytes;       /* their cost now */
    size_t limit;
} pq_cache_stats_t;

typedef struct pq_cache_entry pq_cache_entry_t;

/* Caller-owned storage: pq_cache_init() or PQ_CACHE_INIT (for a static
 * cache), then pq_cache_free(). Fields are private. */
typedef struct pq_cache {
    pthread_mutex_t lock;
    const pq_cache_ops_t *ops;
    size_t limit, bytes, nentries, nbuckets;
    pq_cache_entry_t **buckets; /* allocated at the first insert */
    pq_cache_entry_t *mru, *lru;
    pq_cache_stats_t st; /* counters (entries, bytes, limit unused here) */
} pq_cache_t;

#define PQ_CACHE_INIT(ops_, limit_)                 \
    {                                               \
        PTHREAD_MUTEX_INITIALIZER, (ops_), (limit_) \
    }

void pq_cache_init(pq_cache_t *c, const pq_cache_ops_t *ops, size_t limit);
/* Drops every entry (releasing the cache's references) and frees the
 * table; the cache can be used again afterwards. */
void pq_cache_free(pq_cache_t *c);

/* Sets the bound in bytes, evicting at once down to it; 0 empties the
 * cache and keeps it empty. */
void pq_cache_set_limit(pq_cache_t *c, size_t limit);

/* The object cached under key with exactly this tag, retained for the
 * caller (who releases it), or NULL. An entry under key with another tag
 * is stale: it is dropped. */
void *pq_cache_get(pq_cache_t *c, const void *key, size_t klen, const void *tag, size_t tlen);

/* Caches v (retained by the cache on success) under key and tag, costing
 * cost bytes, replacing an entry of the same key with another tag; then
 * evicts least recently used entries down to the limit. Returns false when
 * nothing was cached: an entry with this key and tag is there already, the
 * object costs more than the limit, or memory ran out. v stays the
 * caller's either way. */
bool pq_cache_put(pq_cache_t *c, const void *key, size_t klen, const void *tag, size_t tlen, void *v,
                  size_t cost);

void pq_cache_get_stats(pq_cache_t *c, pq_cache_stats_t *s);

#endif
