/*
 * exec.c -- the engine's vectors, arenas and memory budget (exec.h).
 */
#include "exec.h"

#include <string.h>

typedef struct exec_arena_block {
    struct exec_arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} exec_arena_block_t;

#define ARENA_BLOCK_MIN ((size_t)64 << 10)

const char *exec_type_name(exec_type_t t)
{
    static const char *const names[] = {"null",    "boolean",   "bigint", "double",
                                        "varchar", "timestamp", "date",   "interval"};
    return (unsigned)t < EXEC_TYPE_COUNT_ ? names[t] : "?";
}

size_t exec_type_width(exec_type_t t)
{
    switch (t) {
    case EXEC_BOOL:
        return 1;
    case EXEC_INT64:
    case EXEC_FLOAT64:
    case EXEC_TIMESTAMP:
    case EXEC_DATE:
        return 8;
    case EXEC_STRING:
        return sizeof(exec_str_t);
    case EXEC_INTERVAL:
        return sizeof(exec_interval_t);
    default:
        return 0;
    }
}

bool exec_budget_take(exec_budget_t *b, size_t n)
{
    if (!b) return true;
    size_t used = __atomic_load_n(&b->used, __ATOMIC_RELAXED);
    do {
        if (b->limit && (n > b->limit || used > b->limit - n)) return false;
    } while (
        !__atomic_compare_exchange_n(&b->used, &used, used + n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    size_t peak = __atomic_load_n(&b->peak, __ATOMIC_RELAXED);
    while (used + n > peak && !__atomic_compare_exchange_n(&b->peak, &peak, used + n, true, __ATOMIC_RELAXED,
                                                           __ATOMIC_RELAXED)) {
    }
    return true;
}

void exec_budget_give(exec_budget_t *b, size_t n)
{
    if (b) __atomic_sub_fetch(&b->used, n, __ATOMIC_RELAXED);
}

void exec_arena_init(exec_arena_t *a, exec_budget_t *budget)
{
    memset(a, 0, sizeof(*a));
    a->budget = budget;
}

void *exec_arena_alloc(exec_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    exec_arena_block_t *b = a->head;
    if (b && b->size - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    size_t size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
    if (!exec_budget_take(a->budget, size + sizeof(*b))) return NULL;
    b = ursa_malloc(sizeof(*b) + size);
    if (!b) {
        exec_budget_give(a->budget, size + sizeof(*b));
        return NULL;
    }
    b->size = size, b->used = n;
    a->used += size + sizeof(*b);
    /* A block too big for the rest goes behind the head, so the head's room is not wasted. */
    if (a->head && n > ARENA_BLOCK_MIN) {
        b->next = a->head->next;
        a->head->next = b;
    } else {
        b->next = a->head;
        a->head = b;
    }
    return b->data;
}

void exec_arena_reset(exec_arena_t *a)
{
    exec_arena_block_t *keep = NULL, *b = a->head;
    while (b) {
        exec_arena_block_t *next = b->next;
        if (!keep && b->size == ARENA_BLOCK_MIN) {
            keep = b;
            keep->used = 0;
        } else {
            exec_budget_give(a->budget, b->size + sizeof(*b));
            a->used -= b->size + sizeof(*b);
            ursa_free(b);
        }
        b = next;
    }
    if (keep) keep->next = NULL;
    a->head = keep;
}

void exec_arena_free(exec_arena_t *a)
{
    exec_arena_reset(a);
    if (a->head) {
        exec_budget_give(a->budget, a->head->size + sizeof(*a->head));
        ursa_free(a->head);
    }
    a->head = NULL;
    a->used = 0;
}

int exec_vec_alloc(exec_vec_t *v, exec_arena_t *a, exec_type_t t, size_t n)
{
    memset(v, 0, sizeof(*v));
    v->type = t;
    v->n = n;
    size_t w = exec_type_width(t);
    if (w == 0) return URSA_OK;
    v->v.p = exec_arena_alloc(a, w * (n ? n : 1));
    return v->v.p ? URSA_OK : URSA_ENOMEM;
}

int exec_vec_nulls(exec_vec_t *v, exec_arena_t *a)
{
    if (v->nulls) return URSA_OK;
    v->nulls = exec_arena_alloc(a, v->n ? v->n : 1);
    if (!v->nulls) return URSA_ENOMEM;
    memset(v->nulls, 0, v->n);
    return URSA_OK;
}

void exec_schema_free(exec_schema_t *s)
{
    for (size_t i = 0; s->names && i < s->n; i++) ursa_free(s->names[i]);
    ursa_free(s->names);
    ursa_free(s->types);
    memset(s, 0, sizeof(*s));
}

int exec_batch_encode(const exec_batch_t *b, ursa_buf_t *out)
{
    uint32_t n = (uint32_t)b->n;
    int rc = ursa_buf_append(out, &n, 4);
    for (size_t c = 0; rc == URSA_OK && c < b->ncols; c++) {
        const exec_vec_t *v = &b->cols[c];
        uint8_t has = v->nulls != NULL || v->type == EXEC_NULL;
        if ((rc = ursa_buf_push(out, has))) break;
        if (has) {
            if (v->type == EXEC_NULL) {
                if ((rc = ursa_buf_reserve(out, b->n))) break;
                memset(out->data + out->len, 1, b->n);
                out->len += b->n;
            } else if ((rc = ursa_buf_append(out, v->nulls, b->n)))
                break;
        }
        if (v->type == EXEC_STRING) {
            for (size_t i = 0; rc == URSA_OK && i < b->n; i++) {
                uint32_t len = (uint32_t)v->v.s[i].n;
                rc = ursa_buf_append(out, &len, 4);
            }
            for (size_t i = 0; rc == URSA_OK && i < b->n; i++)
                if (v->v.s[i].n) rc = ursa_buf_append(out, v->v.s[i].p, v->v.s[i].n);
        } else if (exec_type_width(v->type))
            rc = ursa_buf_append(out, v->v.p, exec_type_width(v->type) * b->n);
    }
    return rc;
}

int exec_batch_decode(const uint8_t *p, size_t n, size_t *at, const exec_type_t *types, size_t ncols,
                      exec_arena_t *a, exec_batch_t *out)
{
    size_t i = *at;
    uint32_t rows;
    memset(out, 0, sizeof(*out));
    if (n - i < 4) return URSA_EFORMAT;
    memcpy(&rows, p + i, 4);
    i += 4;
    out->n = rows;
    out->ncols = ncols;
    if (rows == 0) {
        *at = i;
        return URSA_OK;
    }
    if (rows > EXEC_BATCH_ROWS * 16) return URSA_EFORMAT;
    if (!(out->cols = exec_arena_alloc(a, (ncols + 1) * sizeof(exec_vec_t)))) return URSA_ELIMIT;
    for (size_t c = 0; c < ncols; c++) {
        exec_vec_t *v = &out->cols[c];
        memset(v, 0, sizeof(*v));
        v->type = types[c];
        v->n = rows;
        if (i >= n) return URSA_EFORMAT;
        uint8_t has = p[i++];
        if (has) {
            if (n - i < rows) return URSA_EFORMAT;
            v->nulls = (uint8_t *)(uintptr_t)(p + i);
            i += rows;
        }
        size_t w = exec_type_width(types[c]);
        if (types[c] == EXEC_STRING) {
            if ((n - i) / 4 < rows) return URSA_EFORMAT;
            if (!(v->v.s = exec_arena_alloc(a, rows * sizeof(exec_str_t)))) return URSA_ELIMIT;
            const uint8_t *lens = p + i;
            i += (size_t)rows * 4;
            for (size_t r = 0; r < rows; r++) {
                uint32_t len;
                memcpy(&len, lens + r * 4, 4);
                if (n - i < len) return URSA_EFORMAT;
                v->v.s[r] = (exec_str_t){(const char *)p + i, len};
                i += len;
            }
        } else if (w) {
            if ((n - i) / w < rows) return URSA_EFORMAT;
            if (!(v->v.p = exec_arena_alloc(a, w * rows))) return URSA_ELIMIT; /* aligned copy */
            memcpy(v->v.p, p + i, w * rows);
            i += w * rows;
        }
    }
    *at = i;
    return URSA_OK;
}
