/*
 * idem.c -- the idempotency key table: a chained hash table of
 * "dataset\0key" entries plus a FIFO of insertion order for eviction.
 */
#include "idem.h"

#include <string.h>
#include <time.h>

typedef struct entry {
    struct entry *next;    /* hash chain */
    struct entry *younger; /* FIFO */
    char *id;              /* "dataset\0key" */
    size_t id_len;
    bool done;
    unsigned status;
    char *body;
    size_t body_len;
    bool has_digest;
    uint8_t digest[URSA_IDEM_DIGEST];
    uint64_t lsn;   /* the log record that holds it (0: none) */
    int64_t done_s; /* when it was answered (or replayed), CLOCK_MONOTONIC seconds */
} entry_t;

struct ursa_idem {
    pthread_mutex_t mu;
    entry_t **slots;
    size_t nslots, n, cap;
    entry_t *oldest, *youngest;
};

bool ursa_idem_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > URSA_IDEM_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e) return false;
    return true;
}

int ursa_idem_new(ursa_idem_t **out, size_t cap)
{
    ursa_idem_t *t = ursa_calloc(1, sizeof(*t));
    if (!t) return URSA_ENOMEM;
    t->cap = cap ? cap : 100000;
    t->nslots = 1;
    while (t->nslots < t->cap) t->nslots <<= 1;
    t->slots = ursa_calloc(t->nslots, sizeof(*t->slots));
    if (!t->slots) {
        ursa_free(t);
        return URSA_ENOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return URSA_OK;
}

static void entry_free(entry_t *e)
{
    ursa_free(e->id);
    ursa_free(e->body);
    ursa_free(e);
}

void ursa_idem_destroy(ursa_idem_t **tp)
{
    ursa_idem_t *t = *tp;
    if (!t) return;
    for (entry_t *e = t->oldest, *next; e; e = next) {
        next = e->younger;
        entry_free(e);
    }
    ursa_free(t->slots);
    pthread_mutex_destroy(&t->mu);
    ursa_free(t);
    *tp = NULL;
}

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static size_t make_id(const char *dataset, const char *key, char *id)
{
    size_t a = strlen(dataset), b = strlen(key);
    memcpy(id, dataset, a + 1);
    memcpy(id + a + 1, key, b);
    return a + 1 + b;
}

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* Finds the entry; *link is where it hangs (for unlinking). */
static entry_t *find(ursa_idem_t *t, const char *id, size_t n, entry_t ***link)
{
    entry_t **l = &t->slots[hash(id, n) & (t->nslots - 1)];
    for (; *l; l = &(*l)->next)
        if ((*l)->id_len == n && !memcmp((*l)->id, id, n)) break;
    if (link) *link = l;
    return *l;
}

/* Removes e from the FIFO. */
static void fifo_unlink(ursa_idem_t *t, entry_t *e)
{
    entry_t **p = &t->oldest, *prev = NULL;
    while (*p && *p != e) prev = *p, p = &(*p)->younger;
    if (!*p) return;
    *p = e->younger;
    if (t->youngest == e) t->youngest = prev;
}

static void evict_oldest(ursa_idem_t *t)
{
    entry_t *e = t->oldest;
    if (!e) return;
    entry_t **link;
    find(t, e->id, e->id_len, &link);
    *link = e->next;
    t->oldest = e->younger;
    if (t->youngest == e) t->youngest = NULL;
    t->n--;
    entry_free(e);
}

/* Inserts a new entry (the caller holds the lock). */
static entry_t *insert(ursa_idem_t *t, const char *id, size_t n)
{
    if (t->n >= t->cap) evict_oldest(t);
    entry_t *e = ursa_calloc(1, sizeof(*e));
    if (!e || !(e->id = ursa_malloc(n))) {
        ursa_free(e);
        return NULL;
    }
    memcpy(e->id, id, n);
    e->id_len = n;
    entry_t **link;
    find(t, id, n, &link);
    *link = e;
    if (t->youngest)
        t->youngest->younger = e;
    else
        t->oldest = e;
    t->youngest = e;
    t->n++;
    return e;
}

ursa_idem_state_t ursa_idem_claim(ursa_idem_t *t, const char *dataset, const char *key, unsigned *status,
                                  ursa_buf_t *body, uint8_t *digest, bool *has_digest)
{
    char id[URSA_IDEM_KEY_MAX + 256];
    size_t n = make_id(dataset, key, id);
    ursa_idem_state_t st = URSA_IDEM_NEW;
    pthread_mutex_lock(&t->mu);
    entry_t *e = find(t, id, n, NULL);
    if (e && !e->done) {
        st = URSA_IDEM_BUSY;
    } else if (e) {
        st = URSA_IDEM_DONE;
        *status = e->status;
        *has_digest = e->has_digest;
        memcpy(digest, e->digest, URSA_IDEM_DIGEST);
        body->len = 0;
        if (ursa_buf_append(body, e->body, e->body_len)) st = URSA_IDEM_BUSY; /* out of memory: try later */
    } else if (!insert(t, id, n)) {
        st = URSA_IDEM_BUSY;
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

int ursa_idem_finish(ursa_idem_t *t, const char *dataset, const char *key, unsigned status, const void *body,
                     size_t n, const uint8_t *digest, uint64_t lsn)
{
    char id[URSA_IDEM_KEY_MAX + 256];
    size_t idn = make_id(dataset, key, id);
    char *copy = ursa_malloc(n ? n : 1);
    if (!copy) return URSA_ENOMEM;
    memcpy(copy, body, n);
    pthread_mutex_lock(&t->mu);
    entry_t *e = find(t, id, idn, NULL);
    if (!e) e = insert(t, id, idn);
    int rc = URSA_OK;
    if (e) {
        ursa_free(e->body);
        e->body = copy;
        e->body_len = n;
        e->status = status;
        e->done = true;
        e->has_digest = digest != NULL;
        if (digest) memcpy(e->digest, digest, URSA_IDEM_DIGEST);
        e->lsn = lsn;
        e->done_s = mono_s();
    } else {
        ursa_free(copy);
        rc = URSA_ENOMEM;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void ursa_idem_drop(ursa_idem_t *t, const char *dataset, const char *key)
{
    char id[URSA_IDEM_KEY_MAX + 256];
    size_t n = make_id(dataset, key, id);
    pthread_mutex_lock(&t->mu);
    entry_t **link;
    entry_t *e = find(t, id, n, &link);
    if (e) {
        *link = e->next;
        fifo_unlink(t, e);
        t->n--;
        entry_free(e);
    }
    pthread_mutex_unlock(&t->mu);
}

int ursa_idem_below(ursa_idem_t *t, uint64_t cut, int64_t max_age_s, ursa_idem_each_fn fn, void *ctx)
{
    int rc = URSA_OK;
    int64_t now = mono_s();
    pthread_mutex_lock(&t->mu);
    for (entry_t *e = t->oldest; e && rc == URSA_OK; e = e->younger)
        if (e->done && e->lsn && e->lsn < cut && now - e->done_s <= max_age_s)
            rc = fn(ctx, e->id, e->id + strlen(e->id) + 1, e->id_len - strlen(e->id) - 1, e->status, e->body,
                    e->body_len, e->has_digest ? e->digest : NULL);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void ursa_idem_moved(ursa_idem_t *t, uint64_t cut, uint64_t lsn)
{
    pthread_mutex_lock(&t->mu);
    for (entry_t *e = t->oldest; e; e = e->younger)
        if (e->done && e->lsn && e->lsn < cut) e->lsn = lsn;
    pthread_mutex_unlock(&t->mu);
}
