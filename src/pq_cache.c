/*
 * pq_cache.c -- the LRU cache of shared objects (see pq_cache.h).
 *
 * Design. One mutex guards everything: a chained hash table on XXH3 of the
 * key, and a doubly linked list from most to least recently used. Entries
 * carry their key and tag inline. A lookup retains the object under the
 * lock, so an eviction racing with it cannot free it in between. Entries
 * that leave the table (evicted, stale, replaced, dropped by a new limit)
 * are released after the lock is let go, so a release that frees a big
 * object does not hold up other lookups, and a release function may even
 * call back into the cache.
 *
 * Invariants: every entry is in exactly one chain and in the list;
 * bytes is the sum of the entries' costs, and after every call that can
 * add, bytes <= limit. Nothing here fails visibly: when memory runs out
 * the object is simply not cached.
 */
#include "pq_cache.h"

#include <string.h>
#include <xxhash.h>

struct pq_cache_entry {
    pq_cache_entry_t *chain;       /* next in the hash chain; next victim once out of the table */
    pq_cache_entry_t *prev, *next; /* towards the most / least recently used */
    uint64_t hash;
    void *v;
    size_t cost; /* the caller's, plus this entry with its key and tag */
    size_t klen, tlen;
    uint8_t kt[]; /* key, then tag */
};

#define FIRST_BUCKETS 64

void pq_cache_init(pq_cache_t *c, const pq_cache_ops_t *ops, size_t limit)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->ops = ops;
    c->limit = limit;
}

static void list_unlink(pq_cache_t *c, pq_cache_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->mru = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(pq_cache_t *c, pq_cache_entry_t *e)
{
    e->prev = NULL;
    e->next = c->mru;
    if (c->mru) c->mru->prev = e;
    c->mru = e;
    if (!c->lru) c->lru = e;
}

/* Takes e out of the table and the list and puts it on *victims. */
static void take_out(pq_cache_t *c, pq_cache_entry_t *e, pq_cache_entry_t **victims)
{
    pq_cache_entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->chain;
    *pp = e->chain;
    list_unlink(c, e);
    c->nentries--;
    c->bytes -= e->cost;
    e->chain = *victims;
    *victims = e;
}

/* Releases and frees the entries taken out; called without the lock. */
static void release_victims(const pq_cache_ops_t *ops, pq_cache_entry_t *victims)
{
    while (victims) {
        pq_cache_entry_t *n = victims->chain;
        ops->release(victims->v);
        ursa_free(victims);
        victims = n;
    }
}

static void evict_to(pq_cache_t *c, size_t limit, pq_cache_entry_t **victims)
{
    while (c->lru && c->bytes > limit) {
        take_out(c, c->lru, victims);
        c->st.evictions++;
    }
}

static pq_cache_entry_t *find(const pq_cache_t *c, uint64_t h, const void *key, size_t klen)
{
    if (!c->nbuckets) return NULL;
    for (pq_cache_entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->chain)
        if (e->hash == h && e->klen == klen && memcmp(e->kt, key, klen) == 0) return e;
    return NULL;
}

/* Doubles the table when it holds more entries than buckets (keeps the old
 * one when memory runs out: chains grow longer, nothing breaks). */
static void grow(pq_cache_t *c)
{
    if (c->nbuckets && c->nentries <= c->nbuckets) return;
    size_t n = c->nbuckets ? c->nbuckets * 2 : FIRST_BUCKETS;
    pq_cache_entry_t **b = ursa_calloc(n, sizeof(*b));
    if (!b) return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (pq_cache_entry_t *e = c->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    ursa_free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

void *pq_cache_get(pq_cache_t *c, const void *key, size_t klen, const void *tag, size_t tlen)
{
    uint64_t h = XXH3_64bits(key, klen);
    pq_cache_entry_t *victims = NULL;
    void *v = NULL;
    pthread_mutex_lock(&c->lock);
    pq_cache_entry_t *e = find(c, h, key, klen);
    if (e && e->tlen == tlen && memcmp(e->kt + klen, tag, tlen) == 0) {
        list_unlink(c, e);
        list_push_front(c, e);
        c->ops->retain(e->v);
        v = e->v;
        c->st.hits++;
    } else {
        if (e) {
            take_out(c, e, &victims);
            c->st.stale++;
        }
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->lock);
    release_victims(c->ops, victims);
    return v;
}

bool pq_cache_put(pq_cache_t *c, const void *key, size_t klen, const void *tag, size_t tlen, void *v,
                  size_t cost)
{
    uint64_t h = XXH3_64bits(key, klen);
    pq_cache_entry_t *victims = NULL, *e = NULL;
    size_t total = cost + sizeof(*e) + klen + tlen;
    bool added = false;
    pthread_mutex_lock(&c->lock);
    pq_cache_entry_t *old = find(c, h, key, klen);
    if (old && old->tlen == tlen && memcmp(old->kt + klen, tag, tlen) == 0) goto out; /* a racing put won */
    if (old) take_out(c, old, &victims); /* another version of the object: stale now */
    if (total < cost || total > c->limit) goto out;
    grow(c);
    if (!c->nbuckets || !(e = ursa_malloc(sizeof(*e) + klen + tlen))) goto out;
    memcpy(e->kt, key, klen);
    memcpy(e->kt + klen, tag, tlen);
    e->hash = h;
    e->v = v;
    e->cost = total;
    e->klen = klen;
    e->tlen = tlen;
    c->ops->retain(v);
    e->chain = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    list_push_front(c, e);
    c->nentries++;
    c->bytes += total;
    c->st.inserts++;
    evict_to(c, c->limit, &victims); /* never e itself: total <= limit */
    added = true;
out:
    pthread_mutex_unlock(&c->lock);
    release_victims(c->ops, victims);
    return added;
}

void pq_cache_set_limit(pq_cache_t *c, size_t limit)
{
    pq_cache_entry_t *victims = NULL;
    pthread_mutex_lock(&c->lock);
    c->limit = limit;
    evict_to(c, limit, &victims);
    pthread_mutex_unlock(&c->lock);
    release_victims(c->ops, victims);
}

void pq_cache_free(pq_cache_t *c)
{
    pq_cache_entry_t *victims = NULL;
    pthread_mutex_lock(&c->lock);
    while (c->lru) take_out(c, c->lru, &victims);
    ursa_free(c->buckets);
    c->buckets = NULL;
    c->nbuckets = 0;
    pthread_mutex_unlock(&c->lock);
    release_victims(c->ops, victims);
}

void pq_cache_get_stats(pq_cache_t *c, pq_cache_stats_t *s)
{
    pthread_mutex_lock(&c->lock);
    *s = c->st;
    s->entries = c->nentries;
    s->bytes = c->bytes;
    s->limit = c->limit;
    pthread_mutex_unlock(&c->lock);
}
