/*
 * sort.c -- a stable sort of row references by a sort key (see sort.h).
 *
 * Design. A flush's day spans several chunks (batches), so rows are named
 * by 64-bit references (batch, row) and those are sorted, never the rows:
 * the caller gathers the columns in the new order afterwards, a slice at a
 * time. The sort is a bottom-up merge sort: runs of INSERTION_RUN refs are
 * sorted by insertion, then merged pairwise between the refs and one
 * scratch array of the same size; a merge whose halves are already in
 * order is a copy. Before any of that one pass checks whether the refs are
 * in order, which is the common case for the default key (the time column
 * of events that arrive in time order): then nothing is allocated or moved.
 * The comparison resolves each key column per batch on every call; keys
 * are short (at most URSA_SORT_KEYS_MAX) and the first column usually
 * decides.
 */
#include "sort.h"

#include <math.h>
#include <string.h>

#define INSERTION_RUN 16

static inline int cmp_int(int64_t x, int64_t y)
{
    return (x > y) - (x < y);
}

static inline int cmp_uint(uint64_t x, uint64_t y)
{
    return (x > y) - (x < y);
}

static inline int cmp_float(double x, double y)
{
    bool nx = isnan(x), ny = isnan(y);
    if (nx || ny) return (int)nx - (int)ny;
    return (x > y) - (x < y); /* -0.0 == +0.0 */
}

static inline int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r) return r < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

int ursa_sort_cmp(const ursa_column_t *a, size_t i, const ursa_column_t *b, size_t j)
{
    bool va = ursa_column_valid(a, i), vb = ursa_column_valid(b, j);
    if (!va || !vb) return (int)va - (int)vb; /* nulls first */
    const uint8_t *pa = a->width ? ursa_column_ptr(a, i) : NULL,
                  *pb = b->width ? ursa_column_ptr(b, j) : NULL;
    switch (a->type) {
    case URSA_TYPE_BOOL:
        return (int)ursa_column_bool(a, i) - (int)ursa_column_bool(b, j);
    case URSA_TYPE_INT8:
        return cmp_int(*(const int8_t *)pa, *(const int8_t *)pb);
    case URSA_TYPE_INT16: {
        int16_t x, y;
        memcpy(&x, pa, 2), memcpy(&y, pb, 2);
        return cmp_int(x, y);
    }
    case URSA_TYPE_INT32:
    case URSA_TYPE_DATE: {
        int32_t x, y;
        memcpy(&x, pa, 4), memcpy(&y, pb, 4);
        return cmp_int(x, y);
    }
    case URSA_TYPE_INT64:
    case URSA_TYPE_TIMESTAMP:
    case URSA_TYPE_TIME:
        return cmp_int(ursa_column_i64(a, i), ursa_column_i64(b, j));
    case URSA_TYPE_UINT8:
        return cmp_uint(*pa, *pb);
    case URSA_TYPE_UINT16: {
        uint16_t x, y;
        memcpy(&x, pa, 2), memcpy(&y, pb, 2);
        return cmp_uint(x, y);
    }
    case URSA_TYPE_UINT32: {
        uint32_t x, y;
        memcpy(&x, pa, 4), memcpy(&y, pb, 4);
        return cmp_uint(x, y);
    }
    case URSA_TYPE_UINT64: {
        uint64_t x, y;
        memcpy(&x, pa, 8), memcpy(&y, pb, 8);
        return cmp_uint(x, y);
    }
    case URSA_TYPE_FLOAT32: {
        float x, y;
        memcpy(&x, pa, 4), memcpy(&y, pb, 4);
        return cmp_float(x, y);
    }
    case URSA_TYPE_FLOAT64:
        return cmp_float(ursa_column_f64(a, i), ursa_column_f64(b, j));
    case URSA_TYPE_DECIMAL:
        if (a->width == 8) return cmp_int(ursa_column_i64(a, i), ursa_column_i64(b, j));
        {
            __int128 x, y;
            memcpy(&x, pa, 16), memcpy(&y, pb, 16);
            return (x > y) - (x < y);
        }
    case URSA_TYPE_UUID:
        return cmp_bytes(pa, 16, pb, 16);
    default: { /* string, binary (and json, which no key holds) */
        size_t an, bn;
        const uint8_t *sa = ursa_column_str(a, i, &an), *sb = ursa_column_str(b, j, &bn);
        return cmp_bytes(sa, an, sb, bn);
    }
    }
}

typedef struct sorter {
    ursa_batch_t *const *batches;
    const int *keys;
    size_t nkeys;
} sorter_t;

static inline int cmp_refs(const sorter_t *s, uint64_t x, uint64_t y)
{
    const ursa_batch_t *bx = s->batches[URSA_REF_BATCH(x)], *by = s->batches[URSA_REF_BATCH(y)];
    size_t i = URSA_REF_ROW(x), j = URSA_REF_ROW(y);
    for (size_t k = 0; k < s->nkeys; k++) {
        int r = ursa_sort_cmp(&bx->cols[s->keys[k]], i, &by->cols[s->keys[k]], j);
        if (r) return r;
    }
    return 0;
}

/* Stable insertion sort of a[0..n). */
static void insertion(const sorter_t *s, uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        while (j > 0 && cmp_refs(s, a[j - 1], v) > 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Merges the sorted a[lo..mid) and a[mid..hi) into out[lo..hi); ties take
 * the left one first. */
static void merge(const sorter_t *s, const uint64_t *a, uint64_t *out, size_t lo, size_t mid, size_t hi)
{
    if (mid >= hi || cmp_refs(s, a[mid - 1], a[mid]) <= 0) {
        memcpy(out + lo, a + lo, (hi - lo) * sizeof(*a));
        return;
    }
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi) out[k++] = cmp_refs(s, a[j], a[i]) < 0 ? a[j++] : a[i++];
    while (i < mid) out[k++] = a[i++];
    while (j < hi) out[k++] = a[j++];
}

int ursa_sort_refs(ursa_batch_t *const *batches, const int *keys, size_t nkeys, uint64_t *refs, size_t n,
                   bool *moved)
{
    sorter_t s = {batches, keys, nkeys};
    *moved = false;
    size_t i = 1;
    while (i < n && cmp_refs(&s, refs[i - 1], refs[i]) <= 0) i++;
    if (i >= n) return URSA_OK;
    uint64_t *tmp = ursa_malloc(n * sizeof(*tmp));
    if (!tmp) return URSA_ENOMEM;
    for (size_t lo = 0; lo < n; lo += INSERTION_RUN)
        insertion(&s, refs + lo, n - lo < INSERTION_RUN ? n - lo : INSERTION_RUN);
    uint64_t *from = refs, *to = tmp;
    for (size_t width = INSERTION_RUN; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge(&s, from, to, lo, mid, hi);
        }
        uint64_t *t = from;
        from = to;
        to = t;
    }
    if (from != refs) memcpy(refs, from, n * sizeof(*refs));
    ursa_free(tmp);
    *moved = true;
    return URSA_OK;
}
