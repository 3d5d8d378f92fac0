/*
 * pq_pred.c -- predicates on column values: range tests for pruning, row
 * tests for filtering, and the bloom filter probe.
 *
 * Every value is compared in the order of its Ursa type: signed integers
 * (INT*, DATE, TIME, TIMESTAMP, DECIMAL up to 128 bits), unsigned integers
 * (UINT*), IEEE floats, booleans (false < true), and bytes (STRING, BINARY,
 * JSON, UUID: unsigned lexicographic, a prefix first). A float comparison
 * with a NaN is "unordered": a NaN row matches no comparison, a NaN
 * predicate value matches no row, and a NaN min or max makes a range
 * unusable. The range test must never say "no" when a row could match, so
 * it treats what it does not know (no min/max, no null count) as "maybe".
 *
 * The bloom filter is Parquet's split-block filter (the spec's "Bloom
 * filter" page): blocks of eight 32-bit words; a value's XXH64 hash picks a
 * block by its upper half and one bit in each word by its lower half times
 * eight fixed odd salts.
 */
#include "pq_pred.h"

#include <string.h>
#include <xxhash.h>

enum { K_SIGNED, K_UNSIGNED, K_FLOAT, K_BOOL, K_BYTES };

static int kind_of(ursa_type_t t)
{
    switch (t) {
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_UINT64:
        return K_UNSIGNED;
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_FLOAT64:
        return K_FLOAT;
    case URSA_TYPE_BOOL:
        return K_BOOL;
    case URSA_TYPE_STRING:
    case URSA_TYPE_BINARY:
    case URSA_TYPE_JSON:
    case URSA_TYPE_UUID:
        return K_BYTES;
    default:
        return K_SIGNED;
    }
}

static int64_t load_signed(const uint8_t *p, size_t w)
{
    switch (w) {
    case 1:
        return (int8_t)p[0];
    case 2: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static uint64_t load_unsigned(const uint8_t *p, size_t w)
{
    uint64_t v = 0;
    memcpy(&v, p, w < 8 ? w : 8); /* little-endian host (common.h checks) */
    return v;
}

static double load_float(const uint8_t *p, size_t w)
{
    if (w == 4) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    double d;
    memcpy(&d, p, 8);
    return d;
}

#define UNORDERED 2

/* -1, 0, 1, or UNORDERED (a NaN). a and b are values of kind k; fixed-width
 * kinds have an = bn = the width. */
static int cmp(int k, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    switch (k) {
    case K_SIGNED:
        if (an == 16) { /* int128: the high half signed, the low half unsigned */
            int64_t ah = load_signed(a + 8, 8), bh = load_signed(b + 8, 8);
            if (ah != bh) return ah < bh ? -1 : 1;
            uint64_t al = load_unsigned(a, 8), bl = load_unsigned(b, 8);
            return al < bl ? -1 : al > bl;
        } else {
            int64_t x = load_signed(a, an), y = load_signed(b, bn);
            return x < y ? -1 : x > y;
        }
    case K_UNSIGNED: {
        uint64_t x = load_unsigned(a, an), y = load_unsigned(b, bn);
        return x < y ? -1 : x > y;
    }
    case K_FLOAT: {
        double x = load_float(a, an), y = load_float(b, bn);
        if (x < y) return -1;
        if (x > y) return 1;
        return x == y ? 0 : UNORDERED;
    }
    case K_BOOL:
        return (a[0] != 0) - (b[0] != 0);
    default: {
        int c = memcmp(a, b, an < bn ? an : bn);
        if (c) return c < 0 ? -1 : 1;
        return an < bn ? -1 : an > bn;
    }
    }
}

int pq_value_cmp(ursa_type_t t, const void *a, size_t an, const void *b, size_t bn)
{
    return cmp(kind_of(t), a, an, b, bn);
}

int pq_pred_check(const pq_pred_t *p, const ursa_field_t *f, ursa_err_t *err)
{
    size_t want;
    switch (p->op) {
    case PQ_OP_EQ:
    case PQ_OP_LT:
    case PQ_OP_LE:
    case PQ_OP_GT:
    case PQ_OP_GE:
        want = 1;
        break;
    case PQ_OP_BETWEEN:
        want = 2;
        break;
    case PQ_OP_IN:
        want = p->nvals;
        break;
    case PQ_OP_IS_NULL:
    case PQ_OP_NOT_NULL:
        want = 0;
        break;
    default:
        return ursa_err_set(err, URSA_EINVAL, "unknown predicate operator %d", (int)p->op);
    }
    if (p->nvals != want)
        return ursa_err_set(err, URSA_EINVAL, "%zu values for an operator that takes %zu", p->nvals, want);
    if (want && !p->vals) return ursa_err_set(err, URSA_EINVAL, "no values");
    size_t w = f->type == URSA_TYPE_BOOL ? 1 : ursa_type_varlen(f->type) ? 0 : ursa_field_width(f);
    for (size_t i = 0; i < p->nvals; i++) {
        if (w && p->vals[i].n != w)
            return ursa_err_set(err, URSA_EINVAL, "a value of %zu bytes for a %s column of %zu-byte values",
                                p->vals[i].n, ursa_type_name(f->type), w);
        if (p->vals[i].n && !p->vals[i].p) return ursa_err_set(err, URSA_EINVAL, "a value without bytes");
    }
    return URSA_OK;
}

/* Whether some value v with min <= v <= max may equal x (k: the kind). */
static bool in_range(int k, const pq_range_t *r, const pq_value_t *x)
{
    int lo = cmp(k, r->min, r->min_n, x->p, x->n), hi = cmp(k, r->max, r->max_n, x->p, x->n);
    if (lo == UNORDERED || hi == UNORDERED) return false; /* x is NaN */
    return lo <= 0 && hi >= 0;
}

bool pq_pred_may_match(const pq_pred_t *p, const ursa_field_t *f, const pq_range_t *r)
{
    bool all_null = r->all_null || (r->values >= 0 && r->null_count == r->values);
    if (p->op == PQ_OP_IS_NULL) return r->null_count != 0 || all_null;
    if (all_null) return false;
    if (p->op == PQ_OP_NOT_NULL) return true;
    int k = kind_of(f->type);
    if (!r->min || !r->max) return true;
    if (k == K_FLOAT) { /* a NaN bound says nothing */
        double a = load_float(r->min, r->min_n), b = load_float(r->max, r->max_n);
        if (a != a || b != b) return true;
    }
    const pq_value_t *v = p->vals;
    int c;
    switch (p->op) {
    case PQ_OP_EQ:
        return in_range(k, r, &v[0]);
    case PQ_OP_LT:
        return cmp(k, r->min, r->min_n, v[0].p, v[0].n) == -1;
    case PQ_OP_LE:
        c = cmp(k, r->min, r->min_n, v[0].p, v[0].n);
        return c == -1 || c == 0;
    case PQ_OP_GT:
        return cmp(k, r->max, r->max_n, v[0].p, v[0].n) == 1;
    case PQ_OP_GE:
        c = cmp(k, r->max, r->max_n, v[0].p, v[0].n);
        return c == 1 || c == 0;
    case PQ_OP_BETWEEN: {
        int a = cmp(k, r->max, r->max_n, v[0].p, v[0].n), b = cmp(k, r->min, r->min_n, v[1].p, v[1].n);
        return (a == 1 || a == 0) && (b == -1 || b == 0);
    }
    case PQ_OP_IN:
        for (size_t i = 0; i < p->nvals; i++)
            if (in_range(k, r, &v[i])) return true;
        return false;
    default:
        return true;
    }
}

/* Whether value x (of kind k) satisfies p. */
static bool match(const pq_pred_t *p, int k, const uint8_t *x, size_t n)
{
    const pq_value_t *v = p->vals;
    int c;
    switch (p->op) {
    case PQ_OP_EQ:
        return cmp(k, x, n, v[0].p, v[0].n) == 0;
    case PQ_OP_LT:
        return cmp(k, x, n, v[0].p, v[0].n) == -1;
    case PQ_OP_LE:
        c = cmp(k, x, n, v[0].p, v[0].n);
        return c == -1 || c == 0;
    case PQ_OP_GT:
        return cmp(k, x, n, v[0].p, v[0].n) == 1;
    case PQ_OP_GE:
        c = cmp(k, x, n, v[0].p, v[0].n);
        return c == 1 || c == 0;
    case PQ_OP_BETWEEN: {
        int a = cmp(k, x, n, v[0].p, v[0].n), b = cmp(k, x, n, v[1].p, v[1].n);
        return (a == 1 || a == 0) && (b == -1 || b == 0);
    }
    case PQ_OP_IN:
        for (size_t i = 0; i < p->nvals; i++)
            if (cmp(k, x, n, v[i].p, v[i].n) == 0) return true;
        return false;
    default:
        return true;
    }
}

void pq_pred_filter(const pq_pred_t *p, const ursa_column_t *c, const uint32_t *rows, size_t n, uint8_t *keep)
{
    int k = kind_of(c->type);
    if (p->op == PQ_OP_IS_NULL || p->op == PQ_OP_NOT_NULL) {
        bool want = p->op == PQ_OP_NOT_NULL;
        for (size_t i = 0; i < n; i++)
            if (keep[i]) keep[i] = ursa_column_valid(c, rows ? rows[i] : i) == want;
        return;
    }
    /* The common case first: a signed integer column of up to 64 bits
     * against one bound or two, without a call per row. */
    if (k == K_SIGNED && c->width <= 8 && p->op >= PQ_OP_EQ && p->op <= PQ_OP_BETWEEN) {
        int64_t lo = INT64_MIN, hi = INT64_MAX, x = load_signed(p->vals[0].p, c->width);
        switch (p->op) {
        case PQ_OP_EQ:
            lo = hi = x;
            break;
        case PQ_OP_LT:
            if (x == INT64_MIN)
                lo = 1, hi = 0; /* nothing */
            else
                hi = x - 1;
            break;
        case PQ_OP_LE:
            hi = x;
            break;
        case PQ_OP_GT:
            if (x == INT64_MAX)
                lo = 1, hi = 0;
            else
                lo = x + 1;
            break;
        case PQ_OP_GE:
            lo = x;
            break;
        default:
            lo = x, hi = load_signed(p->vals[1].p, c->width);
            break;
        }
        const uint8_t *vals = c->values.data;
        for (size_t i = 0; i < n; i++) {
            size_t r = rows ? rows[i] : i;
            if (!keep[i]) continue;
            int64_t v = load_signed(vals + r * c->width, c->width);
            keep[i] = ursa_column_valid(c, r) && v >= lo && v <= hi;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = rows ? rows[i] : i;
        if (!keep[i]) continue;
        if (!ursa_column_valid(c, r)) {
            keep[i] = 0;
            continue;
        }
        const uint8_t *x;
        size_t xn;
        uint8_t b;
        if (k == K_BOOL) {
            b = ursa_column_bool(c, r);
            x = &b, xn = 1;
        } else if (ursa_type_varlen(c->type)) {
            x = ursa_column_str(c, r, &xn);
        } else {
            x = ursa_column_ptr(c, r), xn = c->width;
        }
        keep[i] = match(p, k, x, xn);
    }
}

uint64_t pq_bloom_hash(const void *p, size_t n)
{
    return XXH64(p, n, 0);
}

bool pq_bloom_may_contain(const uint8_t *bitset, size_t nbytes, uint64_t hash)
{
    static const uint32_t salt[8] = {0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
                                     0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U};
    uint64_t nblocks = nbytes / 32;
    if (nblocks == 0) return true;
    uint64_t block = ((hash >> 32) * nblocks) >> 32;
    uint32_t key = (uint32_t)hash;
    const uint8_t *b = bitset + block * 32;
    for (int i = 0; i < 8; i++) {
        uint32_t word;
        memcpy(&word, b + 4 * i, 4);
        if (!(word >> ((key * salt[i]) >> 27) & 1)) return false;
    }
    return true;
}
