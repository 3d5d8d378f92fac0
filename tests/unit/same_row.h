/*
 * same_row.h -- a helper for reader unit tests: whether row r of one
 * column holds the same value (or null) as row r2 of another of its type.
 */
#ifndef URSA_TEST_SAME_ROW_H
#define URSA_TEST_SAME_ROW_H

#include "column.h"

#include <string.h>

static bool same_row(const ursa_column_t *a, size_t r, const ursa_column_t *b, size_t r2)
{
    if (ursa_column_valid(a, r) != ursa_column_valid(b, r2)) return false;
    if (!ursa_column_valid(a, r)) return true;
    if (a->type == URSA_TYPE_BOOL) return ursa_column_bool(a, r) == ursa_column_bool(b, r2);
    if (ursa_type_varlen(a->type)) {
        size_t n1, n2;
        const uint8_t *p1 = ursa_column_str(a, r, &n1), *p2 = ursa_column_str(b, r2, &n2);
        return n1 == n2 && memcmp(p1, p2, n1) == 0;
    }
    return a->width == b->width && memcmp(ursa_column_ptr(a, r), ursa_column_ptr(b, r2), a->width) == 0;
}

#endif
