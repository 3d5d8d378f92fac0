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
    if (b->limit && (n > b->limit || b->used > b->limit - n)) return false;
    b->used += n;
    if (b->used > b->peak) b->peak = b->used;
    return true;
}

void exec_budget_give(exec_budget_t *b, size_t n)
{
    if (b) b->used = n > b->used ? 0 : b->used - n;
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
