/*
 * test.h -- a tiny unit-test harness. Each tests/unit/test_<module>.c is one
 * executable run by ctest; it defines its tests with TEST(name) and lists
 * them in main() with RUN(name). A failed CHECK prints file:line and marks
 * the test failed; the executable exits non-zero when any test failed.
 */
#ifndef URSA_TEST_H
#define URSA_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failed_count;
static int test_cur_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                    \
    do {                                                             \
        test_cur_failed = 0;                                         \
        test_##name();                                               \
        printf("%s %s\n", test_cur_failed ? "FAIL" : "ok  ", #name); \
        test_failed_count += test_cur_failed;                        \
    } while (0)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            test_cur_failed = 1;                                                     \
        }                                                                            \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                               \
    do {                                                                                                 \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                            \
        if (va_ != vb_) {                                                                                \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, va_, #b, \
                    vb_);                                                                                \
            test_cur_failed = 1;                                                                         \
        }                                                                                                \
    } while (0)

#define CHECK_MEM(p, q, n) CHECK(memcmp((p), (q), (n)) == 0)

#define TEST_EXIT() (test_failed_count ? 1 : 0)

#endif
