/*
 * exec_agg.c -- hash aggregation (see exec_agg.h).
 */
#include "exec_agg.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define HLL_P    12
#define HLL_REGS (1u << HLL_P)

/* Grouping by dictionary codes: at most this many keys, and this many
 * combinations of their codes (a table of 4 bytes each). */
#define CODED_KEYS_MAX 4
#define CODED_MAX      (1u << 20)

/* Growable memory counted against the budget. */
typedef struct growbuf {
    uint8_t *p;
    size_t len, cap;
} growbuf_t;

typedef struct agg_state {
    sql_agg_kind_t kind;
    exec_type_t in, out;
    double fraction;
    /* per group, by kind */
    int64_t *count;   /* COUNT*, COUNT, COUNT_DISTINCT, AVG */
    __int128 *isum;   /* SUM / AVG of integers */
    double *fsum;     /* SUM / AVG of doubles */
    uint8_t *seen;    /* MIN, MAX: a value was met (SUM and AVG: count > 0) */
    int64_t *ival;    /* MIN / MAX of 8-byte values (doubles stored as their bits) */
    uint8_t *bval;    /* MIN / MAX of booleans */
    exec_str_t *sval; /* MIN / MAX of strings (bytes in strmem) */
    uint8_t **hll;    /* APPROX_DISTINCT */
    growbuf_t *vals;  /* QUANTILE: doubles or int64s */
} agg_state_t;

/* A (group, value) set for count(DISTINCT): open addressing over entries. */
/* count(DISTINCT) of 8-byte values without GROUP BY: the values' bits
 * appended as they come (a store, no lookup), made distinct now and then --
 * whenever they have doubled since the last time -- and at the end. Made
 * distinct by partitioning them by hash into 256 parts and then counting
 * each part in an open-addressing set small enough for the cache, instead
 * of one set of every value, where nearly every lookup would miss it. */
typedef struct iset {
    growbuf_t vals;       /* uint64_t */
    size_t distinct_upto; /* vals[0 .. distinct_upto) are distinct */
    bool used;
} iset_t;

typedef struct dset {
    iset_t ints;
    uint64_t *hash; /* 0: empty */
    uint32_t *off;  /* entry offset in mem */
    size_t cap, n;
    growbuf_t mem; /* entries: u32 group, u32 length, bytes */
} dset_t;

struct exec_agg {
    const sql_plan_t *plan;
    exec_budget_t *budget;
    size_t nkeys, naggs;
    exec_type_t *key_types;
    /* groups */
    size_t ngroups, gcap;
    uint64_t *ghash; /* per group */
    uint32_t *gkey;  /* per group: offset of its encoded key in keymem */
    uint32_t *gklen; /* ... and its length */
    uint32_t *slots; /* table: group id + 1, 0 empty */
    size_t nslots;
    growbuf_t keymem;
    agg_state_t *st;
    dset_t *dsets; /* one per count(DISTINCT) */
    /* string values kept by MIN/MAX: blocks that never move */
    exec_arena_t strs;
    /* group ids by the keys' dictionary codes (find_groups_coded): the
     * dictionaries' ids, and per combination of codes its group
     * (UINT32_MAX: not met yet) */
    uint64_t cm_ids[CODED_KEYS_MAX];
    uint32_t *cm_gid;
    size_t cm_n;
    /* scratch per batch */
    growbuf_t enc;
    uint32_t *eoff;
    size_t ecap;
    uint32_t *gids;
};

static int limit_err(ursa_err_t *err)
{
    return ursa_err_set(err, URSA_ELIMIT, "the query needs more memory than its budget allows (aggregation)");
}

static void *budget_realloc(exec_budget_t *b, void *p, size_t old, size_t n)
{
    if (n > old && !exec_budget_take(b, n - old)) return NULL;
    void *q = ursa_realloc(p, n ? n : 1);
    if (!q) {
        if (n > old) exec_budget_give(b, n - old);
        return NULL;
    }
    if (n < old) exec_budget_give(b, old - n);
    return q;
}

static int grow(exec_budget_t *b, growbuf_t *g, size_t extra)
{
    if (g->cap - g->len >= extra) return URSA_OK;
    size_t cap = g->cap ? g->cap : 256;
    while (cap - g->len < extra) cap *= 2;
    uint8_t *p = budget_realloc(b, g->p, g->cap, cap);
    if (!p) return URSA_ELIMIT;
    g->p = p, g->cap = cap;
    return URSA_OK;
}

/* Grows a per-group array of elem bytes from old to n groups (new ones zeroed). */
static int grow_arr(exec_budget_t *b, void **arr, size_t elem, size_t old, size_t n)
{
    if (!arr) return URSA_OK;
    void *p = budget_realloc(b, *arr, old * elem, n * elem);
    if (!p) return URSA_ELIMIT;
    memset((char *)p + old * elem, 0, (n - old) * elem);
    *arr = p;
    return URSA_OK;
}

int exec_agg_new(exec_agg_t **out, const sql_plan_t *p, exec_budget_t *budget)
{
    exec_agg_t *a = ursa_calloc(1, sizeof(*a));
    if (!a) return URSA_ENOMEM;
    a->plan = p;
    a->budget = budget;
    a->nkeys = p->nkeys;
    a->naggs = p->naggs;
    exec_arena_init(&a->strs, budget);
    a->st = ursa_calloc(p->naggs + 1, sizeof(*a->st));
    a->dsets = ursa_calloc(p->naggs + 1, sizeof(*a->dsets));
    a->key_types = ursa_calloc(p->nkeys + 1, sizeof(*a->key_types));
    if (!a->st || !a->dsets || !a->key_types) {
        exec_agg_free(&a);
        return URSA_ENOMEM;
    }
    for (size_t k = 0; k < p->nkeys; k++) a->key_types[k] = p->keys[k]->type;
    for (size_t i = 0; i < p->naggs; i++) {
        a->st[i].kind = p->aggs[i].kind;
        a->st[i].in = p->aggs[i].arg ? p->aggs[i].arg->type : EXEC_NULL;
        a->st[i].out = p->aggs[i].type;
        a->st[i].fraction = p->aggs[i].fraction;
    }
    *out = a;
    return URSA_OK;
}

void exec_agg_free(exec_agg_t **pa)
{
    exec_agg_t *a = *pa;
    if (!a) return;
    for (size_t i = 0; a->st && i < a->naggs; i++) {
        agg_state_t *s = &a->st[i];
        ursa_free(s->count), ursa_free(s->isum), ursa_free(s->fsum), ursa_free(s->seen);
        ursa_free(s->ival), ursa_free(s->bval), ursa_free(s->sval);
        for (size_t g = 0; s->hll && g < a->ngroups; g++) ursa_free(s->hll[g]);
        ursa_free(s->hll);
        for (size_t g = 0; s->vals && g < a->ngroups; g++) ursa_free(s->vals[g].p);
        ursa_free(s->vals);
    }
    for (size_t i = 0; a->dsets && i < a->naggs; i++) {
        ursa_free(a->dsets[i].hash), ursa_free(a->dsets[i].off), ursa_free(a->dsets[i].mem.p);
        ursa_free(a->dsets[i].ints.vals.p);
    }
    ursa_free(a->dsets);
    ursa_free(a->st);
    ursa_free(a->key_types);
    ursa_free(a->ghash), ursa_free(a->gkey), ursa_free(a->gklen), ursa_free(a->slots);
    ursa_free(a->keymem.p), ursa_free(a->enc.p), ursa_free(a->eoff), ursa_free(a->gids);
    ursa_free(a->cm_gid);
    exec_arena_free(&a->strs);
    ursa_free(a);
    *pa = NULL;
}

size_t exec_agg_groups(const exec_agg_t *a)
{
    return a->nkeys ? a->ngroups : 1;
}

/* Appends row i's encoding of v to g. */
static int encode_value(exec_budget_t *b, growbuf_t *g, const exec_vec_t *v, size_t i)
{
    if (grow(b, g, 1 + 16)) return URSA_ELIMIT;
    if (v->type == EXEC_NULL || exec_is_null(v, i)) {
        g->p[g->len++] = 1;
        return URSA_OK;
    }
    g->p[g->len++] = 0;
    switch (v->type) {
    case EXEC_BOOL:
        g->p[g->len++] = v->v.b[i];
        break;
    case EXEC_FLOAT64: {
        double d = v->v.f[i];
        if (d == 0) d = 0; /* -0 groups with 0 */
        if (isnan(d)) d = NAN;
        memcpy(g->p + g->len, &d, 8);
        g->len += 8;
        break;
    }
    case EXEC_STRING: {
        exec_str_t s = v->v.s[i];
        uint32_t n = (uint32_t)s.n;
        if (grow(b, g, 4 + s.n)) return URSA_ELIMIT;
        memcpy(g->p + g->len, &n, 4);
        if (s.n) memcpy(g->p + g->len + 4, s.p, s.n);
        g->len += 4 + s.n;
        break;
    }
    case EXEC_INTERVAL:
        memcpy(g->p + g->len, &v->v.iv[i], 16);
        g->len += 16;
        break;
    default:
        memcpy(g->p + g->len, &v->v.i[i], 8);
        g->len += 8;
    }
    return URSA_OK;
}

static int rehash(exec_agg_t *a)
{
    size_t n = a->nslots ? a->nslots * 2 : 1024;
    uint32_t *s = budget_realloc(a->budget, NULL, 0, n * sizeof(*s));
    if (!s) return URSA_ELIMIT;
    memset(s, 0, n * sizeof(*s));
    for (size_t g = 0; g < a->ngroups; g++) {
        size_t at = a->ghash[g] & (n - 1);
        while (s[at]) at = (at + 1) & (n - 1);
        s[at] = (uint32_t)g + 1;
    }
    exec_budget_give(a->budget, a->nslots * sizeof(*s));
    ursa_free(a->slots);
    a->slots = s;
    a->nslots = n;
    return URSA_OK;
}

static int add_groups(exec_agg_t *a, size_t need)
{
    if (need <= a->gcap) return URSA_OK;
    size_t cap = a->gcap ? a->gcap * 2 : 64;
    while (cap < need) cap *= 2;
    size_t old = a->gcap;
    int rc = URSA_OK;
    if ((rc = grow_arr(a->budget, (void **)&a->ghash, 8, old, cap)) ||
        (rc = grow_arr(a->budget, (void **)&a->gkey, 4, old, cap)) ||
        (rc = grow_arr(a->budget, (void **)&a->gklen, 4, old, cap)))
        return rc;
    for (size_t i = 0; i < a->naggs; i++) {
        agg_state_t *s = &a->st[i];
        switch (s->kind) {
        case AGG_COUNT_STAR:
        case AGG_COUNT:
        case AGG_COUNT_DISTINCT:
            rc = grow_arr(a->budget, (void **)&s->count, 8, old, cap);
            break;
        case AGG_SUM:
        case AGG_AVG:
            if (!(rc = grow_arr(a->budget, (void **)&s->count, 8, old, cap)))
                rc = s->in == EXEC_INT64 ? grow_arr(a->budget, (void **)&s->isum, 16, old, cap)
                                         : grow_arr(a->budget, (void **)&s->fsum, 8, old, cap);
            break;
        case AGG_MIN:
        case AGG_MAX:
            if (!(rc = grow_arr(a->budget, (void **)&s->seen, 1, old, cap))) {
                if (s->in == EXEC_STRING)
                    rc = grow_arr(a->budget, (void **)&s->sval, sizeof(exec_str_t), old, cap);
                else if (s->in == EXEC_BOOL)
                    rc = grow_arr(a->budget, (void **)&s->bval, 1, old, cap);
                else
                    rc = grow_arr(a->budget, (void **)&s->ival, 8, old, cap);
            }
            break;
        case AGG_APPROX_DISTINCT:
            rc = grow_arr(a->budget, (void **)&s->hll, sizeof(uint8_t *), old, cap);
            break;
        case AGG_QUANTILE_CONT:
        case AGG_APPROX_QUANTILE:
            rc = grow_arr(a->budget, (void **)&s->vals, sizeof(growbuf_t), old, cap);
            break;
        }
        if (rc) return rc;
    }
    a->gcap = cap;
    return URSA_OK;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb53ca1a6cde3ULL;
    return x ^ (x >> 33);
}

/* The group of one key's value (its encoding enc[0..klen), hash h), made when new. */
static int lookup(exec_agg_t *a, const uint8_t *enc, size_t klen, uint64_t h, uint32_t *gid)
{
    if ((a->ngroups + 1) * 2 > a->nslots && rehash(a)) return URSA_ELIMIT;
    size_t at = h & (a->nslots - 1);
    while (a->slots[at]) {
        uint32_t g = a->slots[at] - 1;
        if (a->ghash[g] == h && a->gklen[g] == klen && memcmp(a->keymem.p + a->gkey[g], enc, klen) == 0) {
            *gid = g;
            return URSA_OK;
        }
        at = (at + 1) & (a->nslots - 1);
    }
    if (a->ngroups >= UINT32_MAX - 1 || a->keymem.len + klen > UINT32_MAX / 2) return URSA_ELIMIT;
    if (add_groups(a, a->ngroups + 1) || grow(a->budget, &a->keymem, klen)) return URSA_ELIMIT;
    uint32_t g = (uint32_t)a->ngroups++;
    a->ghash[g] = h;
    a->gkey[g] = (uint32_t)a->keymem.len;
    a->gklen[g] = (uint32_t)klen;
    memcpy(a->keymem.p + a->keymem.len, enc, klen);
    a->keymem.len += klen;
    a->slots[at] = g + 1;
    *gid = g;
    return URSA_OK;
}

/* One key of 8-byte values or of strings: hashed and compared as they are,
 * no encoding per row (the encoding is made for new groups only); a row
 * equal to the one before it takes its group without a lookup. */
static int find_groups_one(exec_agg_t *a, const exec_vec_t *k, size_t n, uint32_t *gids)
{
    uint8_t enc[16];
    const uint8_t *nl = k->nulls;
    bool str = k->type == EXEC_STRING;
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (nl && nl[i]) {
            enc[0] = 1;
            if ((rc = lookup(a, enc, 1, 0x9E3779B97F4A7C15ULL, &gids[i]))) return rc;
            last = UINT32_MAX;
            continue;
        }
        if (str) {
            exec_str_t v = k->v.s[i];
            if (last != UINT32_MAX && i && !(nl && nl[i - 1]) && k->v.s[i - 1].n == v.n &&
                memcmp(k->v.s[i - 1].p, v.p, v.n) == 0) {
                gids[i] = last;
                continue;
            }
            uint64_t h = XXH3_64bits(v.p, v.n);
            size_t at = h & (a->nslots ? a->nslots - 1 : 0);
            uint32_t found = UINT32_MAX;
            while (a->nslots && a->slots[at]) { /* compare with the stored encoding: 0, u32 length, bytes */
                uint32_t g = a->slots[at] - 1;
                const uint8_t *e = a->keymem.p + a->gkey[g];
                if (a->ghash[g] == h && a->gklen[g] == 5 + v.n && e[0] == 0 && memcmp(e + 5, v.p, v.n) == 0) {
                    found = g;
                    break;
                }
                at = (at + 1) & (a->nslots - 1);
            }
            if (found == UINT32_MAX) {
                if (grow(a->budget, &a->enc, 5 + v.n)) return URSA_ELIMIT;
                uint32_t len = (uint32_t)v.n;
                a->enc.p[0] = 0;
                memcpy(a->enc.p + 1, &len, 4);
                if (v.n) memcpy(a->enc.p + 5, v.p, v.n);
                if ((rc = lookup(a, a->enc.p, 5 + v.n, h, &found))) return rc;
            }
            gids[i] = last = found;
        } else {
            int64_t v = k->v.i[i];
            if (last != UINT32_MAX && i && !(nl && nl[i - 1]) && k->v.i[i - 1] == v) {
                gids[i] = last;
                continue;
            }
            uint64_t h = mix64((uint64_t)v);
            size_t at = h & (a->nslots ? a->nslots - 1 : 0);
            uint32_t found = UINT32_MAX;
            while (a->nslots && a->slots[at]) {
                uint32_t g = a->slots[at] - 1;
                const uint8_t *e = a->keymem.p + a->gkey[g];
                if (a->ghash[g] == h && a->gklen[g] == 9 && e[0] == 0 && memcmp(e + 1, &v, 8) == 0) {
                    found = g;
                    break;
                }
                at = (at + 1) & (a->nslots - 1);
            }
            if (found == UINT32_MAX) {
                enc[0] = 0;
                memcpy(enc + 1, &v, 8);
                if ((rc = lookup(a, enc, 9, h, &found))) return rc;
            }
            gids[i] = last = found;
        }
    }
    return URSA_OK;
}

/* Group ids of n rows by their encoded keys (every key type). */
static int find_groups_enc(exec_agg_t *a, const exec_vec_t *keys, size_t n, uint32_t *gids)
{
    a->enc.len = 0;
    for (size_t i = 0; i < n; i++) {
        a->eoff[i] = (uint32_t)a->enc.len;
        for (size_t k = 0; k < a->nkeys; k++)
            if (encode_value(a->budget, &a->enc, &keys[k], i)) return URSA_ELIMIT;
    }
    a->eoff[n] = (uint32_t)a->enc.len;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *key = a->enc.p + a->eoff[i];
        size_t klen = a->eoff[i + 1] - a->eoff[i];
        int rc = lookup(a, key, klen, XXH3_64bits(key, klen), &gids[i]);
        if (rc) return rc;
    }
    return URSA_OK;
}

static bool one_key_fast(const exec_agg_t *a, exec_type_t t)
{
    return a->nkeys == 1 && (t == EXEC_INT64 || t == EXEC_TIMESTAMP || t == EXEC_DATE || t == EXEC_STRING);
}

/* Group ids of n rows whose keys all carry dictionary codes, the product
 * of whose dictionaries' sizes (each + 1, for NULL) is span: a table from
 * each combination of codes to its group, filled as combinations are met
 * (a row met first is looked up as any other row is), kept while the
 * dictionaries stay the same -- a row group's worth of batches. The
 * groups are the same groups the hash table holds: batches with and
 * without codes mix freely. */
static int find_groups_coded(exec_agg_t *a, const exec_vec_t *keys, size_t n, size_t span)
{
    bool same = a->cm_gid && a->cm_n == span;
    for (size_t k = 0; same && k < a->nkeys; k++) same = a->cm_ids[k] == keys[k].dict->id;
    if (!same) {
        uint32_t *t = budget_realloc(a->budget, a->cm_gid, a->cm_n * sizeof(*t), span * sizeof(*t));
        if (!t) return URSA_ELIMIT;
        memset(t, 0xff, span * sizeof(*t));
        a->cm_gid = t, a->cm_n = span;
        for (size_t k = 0; k < a->nkeys; k++) a->cm_ids[k] = keys[k].dict->id;
    }
    bool fast = one_key_fast(a, keys[0].type);
    for (size_t i = 0; i < n; i++) {
        size_t code;
        if (a->nkeys == 1) {
            code = keys[0].nulls && keys[0].nulls[i] ? keys[0].dict->n : keys[0].codes[i];
        } else {
            code = 0;
            for (size_t k = 0; k < a->nkeys; k++) {
                const exec_vec_t *v = &keys[k];
                size_t dn = v->dict->n;
                code = code * (dn + 1) + (v->nulls && v->nulls[i] ? dn : v->codes[i]);
            }
        }
        uint32_t g = a->cm_gid[code];
        if (g == UINT32_MAX) { /* the first row of this combination: looked up */
            exec_vec_t row[CODED_KEYS_MAX];
            for (size_t k = 0; k < a->nkeys; k++) row[k] = exec_vec_slice(&keys[k], i, 1);
            int rc = fast ? find_groups_one(a, &row[0], 1, &g) : find_groups_enc(a, row, 1, &g);
            if (rc) return rc;
            a->cm_gid[code] = g;
        }
        a->gids[i] = g;
    }
    return URSA_OK;
}

/* Group ids of n rows into a->gids. */
static int find_groups(exec_agg_t *a, const exec_vec_t *keys, size_t n)
{
    if (a->ecap < n + 1) {
        uint32_t *o = ursa_realloc(a->eoff, (n + 1) * sizeof(*o)),
                 *g = ursa_realloc(a->gids, (n + 1) * sizeof(*g));
        if (o) a->eoff = o;
        if (g) a->gids = g;
        if (!o || !g) return URSA_ENOMEM;
        a->ecap = n + 1;
    }
    if (a->nkeys == 0) {
        memset(a->gids, 0, n * sizeof(*a->gids));
        if (a->ngroups == 0) {
            if (add_groups(a, 1)) return URSA_ELIMIT;
            a->ngroups = 1;
        }
        return URSA_OK;
    }
    size_t span = a->nkeys <= CODED_KEYS_MAX ? 1 : 0;
    for (size_t k = 0; span && k < a->nkeys; k++) {
        const exec_vec_t *v = &keys[k];
        span = v->codes && v->dict && v->dict->n < CODED_MAX ? span * (v->dict->n + 1) : 0;
        if (span > CODED_MAX) span = 0;
    }
    if (span) return find_groups_coded(a, keys, n, span);
    if (one_key_fast(a, keys[0].type)) return find_groups_one(a, &keys[0], n, a->gids);
    return find_groups_enc(a, keys, n, a->gids);
}

static inline uint64_t mix64(uint64_t x);

/* The distinct values of parts [from, to) of src (part k is src[cnt[k] ..
 * cnt[k + 1])), each written back to the front of its own part (counts into
 * kept[k]), with slots (room for the biggest part's set) as scratch. */
typedef struct dedup_job {
    uint64_t *src;
    const size_t *cnt;
    size_t from, to;
    uint64_t *slots;
    size_t *kept;
} dedup_job_t;

static void *dedup_parts(void *arg)
{
    dedup_job_t *j = arg;
    for (size_t k = j->from; k < j->to; k++) {
        size_t lo = j->cnt[k], hi = j->cnt[k + 1], c = 16, m = lo;
        while (c < (hi - lo) * 2) c *= 2;
        memset(j->slots, 0, c * 8);
        bool zero = false;
        for (size_t i = lo; i < hi; i++) {
            uint64_t x = j->src[i];
            if (x == 0) { /* 0 marks an empty slot: the value 0 is a flag */
                if (!zero) zero = true, j->src[m++] = 0;
                continue;
            }
            size_t h = (size_t)((mix64(x) * 0x9E3779B97F4A7C15ULL) >> 7) & (c - 1); /* not the part's bits */
            while (j->slots[h] && j->slots[h] != x) h = (h + 1) & (c - 1);
            if (!j->slots[h]) j->slots[h] = x, j->src[m++] = x; /* m <= i: in place */
        }
        j->kept[k] = m - lo;
    }
    return NULL;
}

/* Makes st's values distinct, in place: partitioned by hash into 256 parts
 * (a copy), each part made distinct where it lies -- half of them on a
 * second thread when there are many -- and the parts copied back. */
static int iset_dedup(exec_agg_t *a, iset_t *st)
{
    uint64_t *v = (uint64_t *)(void *)st->vals.p;
    size_t n = st->vals.len / 8;
    if (n <= st->distinct_upto) return URSA_OK;
    size_t parts = n < 65536 ? 1 : 256, cnt[257] = {0}, kept[256] = {0}, k;
    uint64_t *tmp = NULL, *src = v, *slots[2] = {NULL, NULL};
    if (parts > 1) {
        if (!exec_budget_take(a->budget, n * 8)) return URSA_ELIMIT;
        if (!(tmp = ursa_malloc(n * 8))) {
            exec_budget_give(a->budget, n * 8);
            return URSA_ELIMIT;
        }
        for (size_t i = 0; i < n; i++) cnt[(mix64(v[i]) >> 56) + 1]++;
        for (k = 0; k < parts; k++) cnt[k + 1] += cnt[k];
        size_t at[256];
        memcpy(at, cnt, sizeof(at));
        for (size_t i = 0; i < n; i++) tmp[at[mix64(v[i]) >> 56]++] = v[i];
        src = tmp;
    } else
        cnt[1] = n;
    size_t biggest = 0;
    for (k = 0; k < parts; k++) biggest = cnt[k + 1] - cnt[k] > biggest ? cnt[k + 1] - cnt[k] : biggest;
    size_t cap = 16, nthreads = n >= ((size_t)1 << 22) ? 2 : 1, taken = 0;
    while (cap < biggest * 2) cap *= 2;
    int rc = URSA_OK;
    for (size_t t = 0; t < nthreads && rc == URSA_OK; t++) {
        if (!exec_budget_take(a->budget, cap * 8)) {
            rc = URSA_ELIMIT;
            break;
        }
        taken++;
        if (!(slots[t] = ursa_malloc(cap * 8))) rc = URSA_ELIMIT;
    }
    if (rc) goto out;
    dedup_job_t jobs[2] = {{src, cnt, 0, parts, slots[0], kept},
                           {src, cnt, parts / 2, parts, slots[1], kept}};
    pthread_t th;
    bool two =
        nthreads == 2 && (jobs[0].to = parts / 2, pthread_create(&th, NULL, dedup_parts, &jobs[1]) == 0);
    if (nthreads == 2 && !two) jobs[0].to = parts; /* no thread: all on this one */
    dedup_parts(&jobs[0]);
    if (two) pthread_join(th, NULL);
    size_t m = 0;
    for (k = 0; k < parts; k++) {
        memmove(v + m, src + cnt[k], kept[k] * 8);
        m += kept[k];
    }
    st->vals.len = m * 8;
    st->distinct_upto = m;
out:
    for (size_t t = 0; t < 2; t++) ursa_free(slots[t]);
    exec_budget_give(a->budget, taken * cap * 8);
    if (tmp) {
        ursa_free(tmp);
        exec_budget_give(a->budget, n * 8);
    }
    return rc;
}

static int dset_insert(exec_agg_t *a, dset_t *d, size_t at0, bool *added);

/* count(DISTINCT): (g, an encoded value) into d, *count raised when new. */
static int dset_add_encoded(exec_agg_t *a, dset_t *d, uint32_t g, const uint8_t *val, uint32_t vlen,
                            int64_t *count)
{
    size_t at0 = d->mem.len;
    if (grow(a->budget, &d->mem, 8 + vlen)) return URSA_ELIMIT;
    memcpy(d->mem.p + at0, &g, 4);
    memcpy(d->mem.p + at0 + 4, &vlen, 4);
    memcpy(d->mem.p + at0 + 8, val, vlen);
    d->mem.len += 8 + vlen;
    bool added;
    int rc = dset_insert(a, d, at0, &added);
    if (rc == URSA_OK) *count += added;
    return rc;
}

/* count(DISTINCT): true when (g, value i of v) is new. */
static int dset_add(exec_agg_t *a, dset_t *d, uint32_t g, const exec_vec_t *v, size_t i, bool *added)
{
    size_t at0 = d->mem.len;
    if (grow(a->budget, &d->mem, 8)) return URSA_ELIMIT;
    memcpy(d->mem.p + d->mem.len, &g, 4);
    d->mem.len += 8;
    size_t vstart = d->mem.len;
    if (encode_value(a->budget, &d->mem, v, i)) return URSA_ELIMIT;
    uint32_t vlen = (uint32_t)(d->mem.len - vstart);
    memcpy(d->mem.p + at0 + 4, &vlen, 4);
    return dset_insert(a, d, at0, added);
}

/* Inserts the entry just written at d->mem[at0..len) (dropped again when present). */
static int dset_insert(exec_agg_t *a, dset_t *d, size_t at0, bool *added)
{
    uint64_t h = XXH3_64bits(d->mem.p + at0, d->mem.len - at0) | 1;
    if ((d->n + 1) * 2 > d->cap) {
        size_t n = d->cap ? d->cap * 2 : 1024;
        uint64_t *hs = budget_realloc(a->budget, NULL, 0, n * 8);
        uint32_t *os = budget_realloc(a->budget, NULL, 0, n * 4);
        if (!hs || !os) {
            ursa_free(hs), ursa_free(os);
            return URSA_ELIMIT;
        }
        memset(hs, 0, n * 8);
        for (size_t k = 0; k < d->cap; k++)
            if (d->hash[k]) {
                size_t at = d->hash[k] & (n - 1);
                while (hs[at]) at = (at + 1) & (n - 1);
                hs[at] = d->hash[k], os[at] = d->off[k];
            }
        exec_budget_give(a->budget, d->cap * 12);
        ursa_free(d->hash), ursa_free(d->off);
        d->hash = hs, d->off = os, d->cap = n;
    }
    size_t at = h & (d->cap - 1), len = d->mem.len - at0;
    while (d->hash[at]) {
        if (d->hash[at] == h) {
            const uint8_t *e = d->mem.p + d->off[at];
            uint32_t el;
            memcpy(&el, e + 4, 4);
            if (el + 8 == len && memcmp(e, d->mem.p + at0, len) == 0) {
                d->mem.len = at0; /* seen: drop the entry just written */
                *added = false;
                return URSA_OK;
            }
        }
        at = (at + 1) & (d->cap - 1);
    }
    d->hash[at] = h;
    d->off[at] = (uint32_t)at0;
    d->n++;
    *added = true;
    if (d->mem.len > UINT32_MAX / 2) return URSA_ELIMIT;
    return URSA_OK;
}

static void hll_add(uint8_t *regs, uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> (64 - HLL_P));
    uint64_t rest = (h << HLL_P) | ((uint64_t)1 << (HLL_P - 1));
    uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
    if (rank > regs[idx]) regs[idx] = rank;
}

static double hll_count(const uint8_t *regs)
{
    double sum = 0;
    unsigned zeros = 0;
    for (unsigned i = 0; i < HLL_REGS; i++) {
        sum += ldexp(1.0, -regs[i]);
        zeros += regs[i] == 0;
    }
    double m = HLL_REGS, est = 0.7213 / (1 + 1.079 / m) * m * m / sum;
    if (est <= 2.5 * m && zeros) est = m * log(m / zeros);
    return est;
}

static uint64_t value_hash(const exec_vec_t *v, size_t i)
{
    switch (v->type) {
    case EXEC_STRING:
        return XXH3_64bits(v->v.s[i].p, v->v.s[i].n);
    case EXEC_BOOL:
        return XXH3_64bits(&v->v.b[i], 1);
    case EXEC_FLOAT64: {
        double d = v->v.f[i] == 0 ? 0 : v->v.f[i];
        return XXH3_64bits(&d, 8);
    }
    case EXEC_INTERVAL:
        return XXH3_64bits(&v->v.iv[i], 16);
    default:
        return XXH3_64bits(&v->v.i[i], 8);
    }
}

static int update(exec_agg_t *a, agg_state_t *s, size_t ai, const exec_vec_t *v, size_t n, ursa_err_t *err)
{
    const uint32_t *g = a->gids;
    const uint8_t *nl = v && v->type != EXEC_NULL ? v->nulls : NULL;
    bool allnull = v && v->type == EXEC_NULL;
    switch (s->kind) {
    case AGG_COUNT_STAR:
        for (size_t i = 0; i < n; i++) s->count[g[i]]++;
        return URSA_OK;
    case AGG_COUNT:
        if (allnull) return URSA_OK;
        for (size_t i = 0; i < n; i++) s->count[g[i]] += !(nl && nl[i]);
        return URSA_OK;
    case AGG_COUNT_DISTINCT:
        if (!allnull && a->nkeys == 0 &&
            (v->type == EXEC_INT64 || v->type == EXEC_TIMESTAMP || v->type == EXEC_DATE ||
             v->type == EXEC_FLOAT64)) {
            iset_t *st = &a->dsets[ai].ints;
            st->used = true;
            if (grow(a->budget, &st->vals, n * 8)) return limit_err(err);
            uint64_t *out = (uint64_t *)(void *)(st->vals.p + st->vals.len);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (nl && nl[i]) continue;
                uint64_t bits;
                if (v->type == EXEC_FLOAT64) { /* -0 = 0, every NaN one value */
                    double d = v->v.f[i] == 0 ? 0 : v->v.f[i];
                    if (d != d) d = NAN;
                    memcpy(&bits, &d, 8);
                } else
                    bits = (uint64_t)v->v.i[i];
                out[k++] = bits;
            }
            st->vals.len += k * 8;
            size_t have = st->vals.len / 8;
            if (have >= ((size_t)1 << 24) && have >= 2 * st->distinct_upto && iset_dedup(a, st))
                return limit_err(err);
            return URSA_OK;
        }
        for (size_t i = 0; i < n; i++) {
            if (allnull || (nl && nl[i])) continue;
            bool added;
            if (dset_add(a, &a->dsets[ai], g[i], v, i, &added)) return limit_err(err);
            s->count[g[i]] += added;
        }
        return URSA_OK;
    case AGG_SUM:
    case AGG_AVG:
        if (allnull) return URSA_OK;
        if (s->in == EXEC_INT64) {
            for (size_t i = 0; i < n; i++)
                if (!(nl && nl[i])) s->isum[g[i]] += v->v.i[i], s->count[g[i]]++;
        } else if (!nl) {
            for (size_t i = 0; i < n; i++) s->fsum[g[i]] += v->v.f[i], s->count[g[i]]++;
        } else {
            for (size_t i = 0; i < n; i++)
                if (!(nl && nl[i])) s->fsum[g[i]] += v->v.f[i], s->count[g[i]]++;
        }
        return URSA_OK;
    case AGG_MIN:
    case AGG_MAX: {
        if (allnull) return URSA_OK;
        int want = s->kind == AGG_MIN ? -1 : 1;
        for (size_t i = 0; i < n; i++) {
            if (nl && nl[i]) continue;
            uint32_t k = g[i];
            if (s->in == EXEC_STRING) {
                exec_str_t x = v->v.s[i];
                exec_vec_t cur = {.type = EXEC_STRING, .v.s = &s->sval[k]};
                if (s->seen[k] && (exec_cmp_value(EXEC_STRING, v, i, &cur, 0) != want)) continue;
                char *p = exec_arena_alloc(&a->strs, x.n);
                if (!p) return limit_err(err);
                if (x.n) memcpy(p, x.p, x.n);
                s->sval[k] = (exec_str_t){p, x.n};
            } else if (s->in == EXEC_BOOL) {
                uint8_t x = v->v.b[i];
                if (s->seen[k] && !(want < 0 ? x < s->bval[k] : x > s->bval[k])) continue;
                s->bval[k] = x;
            } else if (s->in == EXEC_FLOAT64) {
                double x = v->v.f[i], cur;
                memcpy(&cur, &s->ival[k], 8);
                if (s->seen[k]) {
                    exec_vec_t cv = {.type = EXEC_FLOAT64, .v.f = &cur};
                    if (exec_cmp_value(EXEC_FLOAT64, v, i, &cv, 0) != want) continue;
                }
                memcpy(&s->ival[k], &x, 8);
            } else {
                int64_t x = v->v.i[i];
                if (s->seen[k] && !(want < 0 ? x < s->ival[k] : x > s->ival[k])) continue;
                s->ival[k] = x;
            }
            s->seen[k] = 1;
        }
        return URSA_OK;
    }
    case AGG_APPROX_DISTINCT:
        if (allnull) return URSA_OK;
        for (size_t i = 0; i < n; i++) {
            if (nl && nl[i]) continue;
            uint8_t **r = &s->hll[g[i]];
            if (!*r) {
                if (!exec_budget_take(a->budget, HLL_REGS)) return limit_err(err);
                if (!(*r = ursa_calloc(1, HLL_REGS))) return limit_err(err);
            }
            hll_add(*r, value_hash(v, i));
        }
        return URSA_OK;
    case AGG_QUANTILE_CONT:
    case AGG_APPROX_QUANTILE:
        if (allnull) return URSA_OK;
        for (size_t i = 0; i < n; i++) {
            if (nl && nl[i]) continue;
            growbuf_t *gb = &s->vals[g[i]];
            if (grow(a->budget, gb, 8)) return limit_err(err);
            memcpy(gb->p + gb->len,
                   s->in == EXEC_FLOAT64 ? (const void *)&v->v.f[i] : (const void *)&v->v.i[i], 8);
            gb->len += 8;
        }
        return URSA_OK;
    }
    return URSA_OK;
}

int exec_agg_add(exec_agg_t *a, const exec_vec_t *keys, const exec_vec_t *args, size_t n, ursa_err_t *err)
{
    if (n == 0) return URSA_OK;
    int rc = find_groups(a, keys, n);
    if (rc) return rc == URSA_ENOMEM ? ursa_err_set(err, rc, "out of memory") : limit_err(err);
    for (size_t i = 0; i < a->naggs; i++)
        if ((rc = update(a, &a->st[i], i, a->st[i].kind == AGG_COUNT_STAR ? NULL : &args[i], n, err)))
            return rc;
    return URSA_OK;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static int cmp_f64(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    if (isnan(a)) return isnan(b) ? 0 : 1;
    if (isnan(b)) return -1;
    return a < b ? -1 : a > b;
}

/* Decodes one encoded key value at *p into row r of v. */
static const uint8_t *decode_value(const uint8_t *p, exec_vec_t *v, size_t r)
{
    if (*p++) {
        v->nulls[r] = 1;
        if (exec_type_width(v->type))
            memset((char *)v->v.p + r * exec_type_width(v->type), 0, exec_type_width(v->type));
        return p;
    }
    v->nulls[r] = 0;
    switch (v->type) {
    case EXEC_BOOL:
        v->v.b[r] = *p++;
        break;
    case EXEC_STRING: {
        uint32_t n;
        memcpy(&n, p, 4);
        v->v.s[r] = (exec_str_t){(const char *)p + 4, n};
        p += 4 + n;
        break;
    }
    case EXEC_INTERVAL:
        memcpy(&v->v.iv[r], p, 16);
        p += 16;
        break;
    case EXEC_NULL:
        break;
    default:
        memcpy(&v->v.i[r], p, 8);
        p += 8;
    }
    return p;
}

int exec_agg_result(exec_agg_t *a, size_t from, size_t n, exec_arena_t *arena, exec_batch_t *out,
                    ursa_err_t *err)
{
    if (a->nkeys == 0 && a->ngroups == 0) { /* no row: the one group, empty */
        if (add_groups(a, 1)) return limit_err(err);
        a->ngroups = 1;
    }
    size_t ncols = a->nkeys + a->naggs;
    out->cols = exec_arena_alloc(arena, (ncols + 1) * sizeof(exec_vec_t));
    out->ncols = ncols;
    out->n = n;
    if (!out->cols) return limit_err(err);
    for (size_t k = 0; k < a->nkeys; k++)
        if (exec_vec_alloc(&out->cols[k], arena, a->key_types[k], n) || exec_vec_nulls(&out->cols[k], arena))
            return limit_err(err);
    for (size_t r = 0; a->nkeys && r < n; r++) {
        const uint8_t *p = a->keymem.p + a->gkey[from + r];
        for (size_t k = 0; k < a->nkeys; k++) p = decode_value(p, &out->cols[k], r);
    }
    for (size_t i = 0; i < a->naggs; i++) {
        agg_state_t *s = &a->st[i];
        exec_vec_t *v = &out->cols[a->nkeys + i];
        if (exec_vec_alloc(v, arena, s->out, n) || exec_vec_nulls(v, arena)) return limit_err(err);
        for (size_t r = 0; r < n; r++) {
            size_t g = from + r;
            switch (s->kind) {
            case AGG_COUNT_STAR:
            case AGG_COUNT:
                v->v.i[r] = s->count[g];
                break;
            case AGG_COUNT_DISTINCT:
                if (a->dsets[i].ints.used) { /* the 8-byte values without GROUP BY */
                    if (iset_dedup(a, &a->dsets[i].ints)) return limit_err(err);
                    v->v.i[r] = (int64_t)(a->dsets[i].ints.vals.len / 8);
                } else
                    v->v.i[r] = s->count[g];
                break;
            case AGG_SUM: /* (count: the values met) */
                if (s->count[g] == 0) {
                    v->nulls[r] = 1;
                    v->v.i[r] = 0;
                } else if (s->in == EXEC_INT64) {
                    __int128 x = s->isum[g];
                    if (x > INT64_MAX || x < INT64_MIN)
                        return ursa_err_set(err, URSA_EINVAL,
                                            "sum out of the bigint range (cast the argument to double)");
                    v->v.i[r] = (int64_t)x;
                } else
                    v->v.f[r] = s->fsum[g];
                break;
            case AGG_AVG:
                if (s->count[g] == 0) {
                    v->nulls[r] = 1;
                    v->v.f[r] = 0;
                } else
                    v->v.f[r] = (s->in == EXEC_INT64 ? (double)s->isum[g] : s->fsum[g]) / (double)s->count[g];
                break;
            case AGG_MIN:
            case AGG_MAX:
                if (!s->seen[g]) {
                    v->nulls[r] = 1;
                    if (exec_type_width(v->type))
                        memset((char *)v->v.p + r * exec_type_width(v->type), 0, exec_type_width(v->type));
                } else if (s->in == EXEC_STRING)
                    v->v.s[r] = s->sval[g];
                else if (s->in == EXEC_BOOL)
                    v->v.b[r] = s->bval[g];
                else
                    memcpy(&v->v.i[r], &s->ival[g], 8);
                break;
            case AGG_APPROX_DISTINCT:
                v->v.i[r] = s->hll[g] ? (int64_t)llround(hll_count(s->hll[g])) : 0;
                break;
            case AGG_QUANTILE_CONT:
            case AGG_APPROX_QUANTILE: {
                growbuf_t *gb = &s->vals[g];
                size_t cnt = gb->len / 8;
                if (!cnt) {
                    v->nulls[r] = 1;
                    v->v.i[r] = 0;
                    break;
                }
                qsort(gb->p, cnt, 8, s->in == EXEC_FLOAT64 ? cmp_f64 : cmp_i64);
                double pos = s->fraction * (double)(cnt - 1);
                size_t lo = (size_t)floor(pos), hi = lo + 1 < cnt ? lo + 1 : lo;
                if (s->kind == AGG_QUANTILE_CONT) {
                    double x, y; /* input cast to double by the planner */
                    memcpy(&x, gb->p + lo * 8, 8);
                    memcpy(&y, gb->p + hi * 8, 8);
                    double d = pos - (double)lo; /* weighted as DuckDB does: x + (y - x) * d loses the
                                                  * difference of two values near ±2^63 that cancel */
                    v->v.f[r] = x * (1 - d) + y * d;
                } else
                    memcpy(&v->v.i[r], gb->p + (size_t)llround(pos) * 8, 8);
                break;
            }
            }
        }
    }
    return URSA_OK;
}

/* Merges group g of `from` into group t of a. */
static int merge_state(exec_agg_t *a, agg_state_t *s, const agg_state_t *f, size_t t, size_t g)
{
    switch (s->kind) {
    case AGG_COUNT_STAR:
    case AGG_COUNT:
        s->count[t] += f->count[g];
        break;
    case AGG_COUNT_DISTINCT:
        break; /* the sets, by exec_agg_merge */
    case AGG_SUM:
    case AGG_AVG:
        s->count[t] += f->count[g];
        if (s->in == EXEC_INT64)
            s->isum[t] += f->isum[g];
        else
            s->fsum[t] += f->fsum[g];
        break;
    case AGG_MIN:
    case AGG_MAX: {
        if (!f->seen[g]) break;
        int want = s->kind == AGG_MIN ? -1 : 1;
        if (s->in == EXEC_STRING) {
            exec_vec_t x = {.type = EXEC_STRING, .v.s = &f->sval[g]},
                       y = {.type = EXEC_STRING, .v.s = &s->sval[t]};
            if (s->seen[t] && exec_cmp_value(EXEC_STRING, &x, 0, &y, 0) != want) break;
            char *p = exec_arena_alloc(&a->strs, f->sval[g].n);
            if (!p) return URSA_ELIMIT;
            if (f->sval[g].n) memcpy(p, f->sval[g].p, f->sval[g].n);
            s->sval[t] = (exec_str_t){p, f->sval[g].n};
        } else if (s->in == EXEC_BOOL) {
            if (s->seen[t] && !(want < 0 ? f->bval[g] < s->bval[t] : f->bval[g] > s->bval[t])) break;
            s->bval[t] = f->bval[g];
        } else if (s->in == EXEC_FLOAT64) {
            exec_vec_t x = {.type = EXEC_FLOAT64, .v.i = (int64_t *)&f->ival[g]},
                       y = {.type = EXEC_FLOAT64, .v.i = &s->ival[t]};
            if (s->seen[t] && exec_cmp_value(EXEC_FLOAT64, &x, 0, &y, 0) != want) break;
            s->ival[t] = f->ival[g];
        } else {
            if (s->seen[t] && !(want < 0 ? f->ival[g] < s->ival[t] : f->ival[g] > s->ival[t])) break;
            s->ival[t] = f->ival[g];
        }
        s->seen[t] = 1;
        break;
    }
    case AGG_APPROX_DISTINCT:
        if (!f->hll[g]) break;
        if (!s->hll[t]) {
            if (!exec_budget_take(a->budget, HLL_REGS) || !(s->hll[t] = ursa_calloc(1, HLL_REGS)))
                return URSA_ELIMIT;
        }
        for (unsigned r = 0; r < HLL_REGS; r++)
            if (f->hll[g][r] > s->hll[t][r]) s->hll[t][r] = f->hll[g][r];
        break;
    case AGG_QUANTILE_CONT:
    case AGG_APPROX_QUANTILE:
        if (!f->vals[g].len) break;
        if (grow(a->budget, &s->vals[t], f->vals[g].len)) return URSA_ELIMIT;
        memcpy(s->vals[t].p + s->vals[t].len, f->vals[g].p, f->vals[g].len);
        s->vals[t].len += f->vals[g].len;
        break;
    }
    return URSA_OK;
}

int exec_agg_merge(exec_agg_t *a, exec_agg_t *from, ursa_err_t *err)
{
    if (from->ngroups == 0) return URSA_OK;
    uint32_t *to = ursa_malloc(from->ngroups * sizeof(*to));
    if (!to) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    int rc = URSA_OK;
    for (size_t g = 0; g < from->ngroups && rc == URSA_OK; g++) {
        if (a->nkeys == 0) {
            if (a->ngroups == 0 && !(rc = add_groups(a, 1))) a->ngroups = 1;
            to[g] = 0;
        } else
            rc = lookup(a, from->keymem.p + from->gkey[g], from->gklen[g], from->ghash[g], &to[g]);
        for (size_t i = 0; rc == URSA_OK && i < a->naggs; i++)
            rc = merge_state(a, &a->st[i], &from->st[i], to[g], g);
    }
    /* count(DISTINCT): the values of from's sets, added to a's, counted where new */
    for (size_t i = 0; rc == URSA_OK && i < a->naggs; i++) {
        if (a->st[i].kind != AGG_COUNT_DISTINCT) continue;
        dset_t *fd = &from->dsets[i], *ad = &a->dsets[i];
        if (fd->ints.used) { /* the values appended (made distinct at the end) */
            ad->ints.used = true;
            if (grow(a->budget, &ad->ints.vals, fd->ints.vals.len)) rc = URSA_ELIMIT;
            if (rc == URSA_OK && fd->ints.vals.len) {
                memcpy(ad->ints.vals.p + ad->ints.vals.len, fd->ints.vals.p, fd->ints.vals.len);
                ad->ints.vals.len += fd->ints.vals.len;
            }
        }
        for (size_t k = 0; rc == URSA_OK && k < fd->cap; k++) {
            if (!fd->hash[k]) continue;
            const uint8_t *e = fd->mem.p + fd->off[k];
            uint32_t g, vlen;
            memcpy(&g, e, 4), memcpy(&vlen, e + 4, 4);
            rc = dset_add_encoded(a, ad, to[g], e + 8, vlen, &a->st[i].count[to[g]]);
        }
    }
    ursa_free(to);
    if (rc == URSA_ELIMIT) return limit_err(err);
    return rc ? ursa_err_set(err, rc, "out of memory") : URSA_OK;
}
