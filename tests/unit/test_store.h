/*
 * test_store.h -- a helper for unit tests: a local directory store of the
 * test's own, emptied when opened (under $URSA_TEST_TMP, else /tmp), and
 * removed at the end.
 */
#ifndef URSA_TEST_STORE_H
#define URSA_TEST_STORE_H

#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char test_store_root[512];

static void test_store_remove(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_store_root);
    if (system(cmd) != 0) abort();
}

/* A store at <tmp>/<name>.<pid>, empty. */
static ursa_store_t *test_store_open(const char *name)
{
    const char *tmp = getenv("URSA_TEST_TMP");
    snprintf(test_store_root, sizeof(test_store_root), "%s/%s.%ld", tmp && *tmp ? tmp : "/tmp", name,
             (long)getpid());
    test_store_remove();
    ursa_store_t *st;
    ursa_err_t err;
    if (ursa_store_open(test_store_root, NULL, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return st;
}

#endif
