/*
 * test_common.c -- the accounted allocator (small blocks from malloc, large
 * ones mapped: growth, shrinking, zeroed calloc, accounting, injected
 * failures) and the inline column appenders around buffer growth.
 */
#include "column.h"
#include "test.h"

#include <stdlib.h>

/* A block grown from small to mapped and on keeps every byte, and the
 * bytes in use follow it exactly. */
TEST(realloc_across_the_map_threshold)
{
    size_t base = ursa_mem_used();
    uint8_t *p = ursa_malloc(100);
    CHECK(p != NULL);
    for (size_t i = 0; i < 100; i++) p[i] = (uint8_t)(i * 7);
    size_t n = 100;
    for (size_t want = 1000; want <= (size_t)24 << 20; want *= 3) {
        uint8_t *q = ursa_realloc(p, want);
        CHECK(q != NULL);
        if (!q) break;
        p = q;
        for (size_t i = n; i < want; i++) p[i] = (uint8_t)(i * 7);
        n = want;
        CHECK_EQ_INT(ursa_mem_used() - base, n);
    }
    bool same = true;
    for (size_t i = 0; i < n; i++) same &= p[i] == (uint8_t)(i * 7);
    CHECK(same);
    /* shrink a mapped block, then below the threshold */
    p = ursa_realloc(p, (size_t)2 << 20);
    CHECK(p != NULL && p[12345] == (uint8_t)(12345 * 7));
    p = ursa_realloc(p, 5000);
    CHECK(p != NULL && p[4999] == (uint8_t)(4999 * 7));
    CHECK_EQ_INT(ursa_mem_used() - base, 5000);
    ursa_free(p);
    CHECK_EQ_INT(ursa_mem_used(), base);
}

TEST(calloc_zeroes_large_and_small)
{
    size_t sizes[] = {10, 4096, (size_t)3 << 20};
    for (size_t k = 0; k < 3; k++) {
        uint8_t *p = ursa_calloc(sizes[k], 1);
        CHECK(p != NULL);
        if (!p) continue;
        bool zero = true;
        for (size_t i = 0; i < sizes[k]; i++) zero &= p[i] == 0;
        CHECK(zero);
        memset(p, 0xab, sizes[k]);
        ursa_free(p);
    }
}

TEST(injected_failure_keeps_the_block)
{
    uint8_t *p = ursa_malloc((size_t)2 << 20);
    CHECK(p != NULL);
    p[0] = 42;
    ursa_mem_fail_after(1);
    CHECK(ursa_realloc(p, (size_t)8 << 20) == NULL);
    CHECK(p[0] == 42);
    ursa_mem_fail_after(1);
    CHECK(ursa_malloc((size_t)4 << 20) == NULL);
    ursa_free(p);
}

/* Appends of every kind across many buffer growths, with a failure
 * injected at each allocation in turn: a failed append leaves the column as
 * it was, and the next append goes on from there. */
TEST(column_appends_grow_and_fail_cleanly)
{
    ursa_type_t types[] = {URSA_TYPE_INT64, URSA_TYPE_FLOAT64, URSA_TYPE_BOOL, URSA_TYPE_STRING,
                           URSA_TYPE_INT32};
    for (size_t t = 0; t < URSA_ARRAY_LEN(types); t++) {
        ursa_column_t c;
        ursa_column_init(&c, types[t]);
        size_t rows = 0, nulls = 0, failed = 0;
        bool *kept = calloc(200000, 1);
        for (size_t i = 0; i < 200000; i++) {
            if (i % 3 == 1) ursa_mem_fail_after(1); /* fails when this append must grow a buffer */
            int rc;
            bool null = i % 11 == 3;
            char s[24];
            int sn = snprintf(s, sizeof(s), "v%zu", i);
            int32_t v32 = (int32_t)i;
            if (null)
                rc = ursa_column_append_null(&c);
            else if (types[t] == URSA_TYPE_INT64)
                rc = ursa_column_append_i64(&c, (int64_t)i * 3);
            else if (types[t] == URSA_TYPE_FLOAT64)
                rc = ursa_column_append_f64(&c, (double)i / 4);
            else if (types[t] == URSA_TYPE_BOOL)
                rc = ursa_column_append_bool(&c, i % 3 == 0);
            else if (types[t] == URSA_TYPE_STRING)
                rc = ursa_column_append_str(&c, s, (size_t)sn);
            else
                rc = ursa_column_append_fixed(&c, &v32);
            ursa_mem_fail_after(0);
            if (rc) {
                CHECK_EQ_INT(rc, URSA_ENOMEM);
                CHECK_EQ_INT(c.length, rows);
                failed++;
                continue;
            }
            kept[i] = true;
            rows++;
            nulls += null;
        }
        CHECK_EQ_INT(c.length, rows);
        CHECK_EQ_INT(c.null_count, nulls);
        CHECK(failed > 0); /* some injected failures did hit a growth */
        /* Rows that failed were not kept: read the values back in order. */
        size_t r = 0, bad = 0;
        for (size_t i = 0; i < 200000 && r < c.length; i++) {
            if (!kept[i]) continue;
            bool null = i % 11 == 3;
            if (null != !ursa_column_valid(&c, r)) {
                bad++;
                break;
            }
            if (!null && types[t] == URSA_TYPE_INT64) bad += ursa_column_i64(&c, r) != (int64_t)i * 3;
            if (!null && types[t] == URSA_TYPE_BOOL) bad += ursa_column_bool(&c, r) != (i % 3 == 0);
            if (!null && types[t] == URSA_TYPE_STRING) {
                size_t n;
                const uint8_t *p = ursa_column_str(&c, r, &n);
                char s[24];
                int sn = snprintf(s, sizeof(s), "v%zu", i);
                bad += n != (size_t)sn || memcmp(p, s, n) != 0;
            }
            r++;
        }
        CHECK_EQ_INT(bad, 0);
        /* Truncate then append again: the bits past the new length are rewritten. */
        ursa_column_truncate(&c, 5);
        for (int i = 0; i < 20; i++) {
            if (types[t] == URSA_TYPE_BOOL) CHECK(ursa_column_append_bool(&c, false) == URSA_OK);
            if (types[t] != URSA_TYPE_BOOL) CHECK(ursa_column_append_null(&c) == URSA_OK);
        }
        for (size_t i = 5; i < 25; i++) {
            if (types[t] == URSA_TYPE_BOOL)
                CHECK(ursa_column_valid(&c, i) && !ursa_column_bool(&c, i));
            else
                CHECK(!ursa_column_valid(&c, i));
        }
        ursa_column_free(&c);
        free(kept);
    }
}

int main(void)
{
    /* The mapped blocks are tested here under the sanitizers too. */
    ursa_mem_set_map_threshold((size_t)1 << 20);
    RUN(realloc_across_the_map_threshold);
    RUN(calloc_zeroes_large_and_small);
    RUN(injected_failure_keeps_the_block);
    RUN(column_appends_grow_and_fail_cleanly);
    return TEST_EXIT();
}
