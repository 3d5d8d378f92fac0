/* Unit tests for the store interface and the local directory backend. */
#include "store.h"
#include "test.h"
#include "test_store.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(key_validation)
{
    CHECK(ursa_store_key_valid("a"));
    CHECK(ursa_store_key_valid("ds/date=2024-01-01/n-1.parquet"));
    CHECK(ursa_store_key_valid("a/.b")); /* dot files are fine, only . and .. segments are not */
    CHECK(!ursa_store_key_valid(""));
    CHECK(!ursa_store_key_valid("/abs"));
    CHECK(!ursa_store_key_valid("a//b"));
    CHECK(!ursa_store_key_valid("a/"));
    CHECK(!ursa_store_key_valid("../x"));
    CHECK(!ursa_store_key_valid("a/../../x"));
    CHECK(!ursa_store_key_valid("a/./b"));
    CHECK(!ursa_store_key_valid("a\\b"));
}

typedef struct listing {
    char keys[32][128];
    bool prefix[32];
    int n;
} listing_t;

static int collect(void *ctx, const char *key, bool is_prefix)
{
    listing_t *l = ctx;
    if (l->n < 32) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
        l->prefix[l->n++] = is_prefix;
    }
    return URSA_OK;
}

TEST(put_get_list_delete)
{
    ursa_store_t *st = test_store_open("store_fs");
    ursa_err_t err;
    ursa_buf_t b = {0};
    CHECK(ursa_store_put(st, "b/x/1", "one", 3, &err) == URSA_OK);
    CHECK(ursa_store_put(st, "b/x/2", "", 0, &err) == URSA_OK);
    CHECK(ursa_store_put(st, "a/y", "why", 3, &err) == URSA_OK);
    CHECK(ursa_store_put(st, "b.txt", "dot", 3, &err) == URSA_OK);
    CHECK(ursa_store_put(st, "b/x/1", "uno", 3, &err) == URSA_OK); /* replaces */
    CHECK(ursa_store_get(st, "b/x/1", &b, &err) == URSA_OK && b.len == 3 && memcmp(b.data, "uno", 3) == 0);
    CHECK(ursa_store_get(st, "b/x/2", &b, &err) == URSA_OK && b.len == 0);
    CHECK(ursa_store_get(st, "b/x/3", &b, &err) == URSA_ENOTFOUND);
    CHECK(ursa_store_get(st, "../etc/passwd", &b, &err) == URSA_EINVAL);

    listing_t l = {0};
    CHECK(ursa_store_list(st, "", '/', collect, &l, &err) == URSA_OK);
    CHECK_EQ_INT(l.n, 3);
    CHECK(strcmp(l.keys[0], "a/") == 0 && l.prefix[0]);
    CHECK(strcmp(l.keys[1], "b.txt") == 0 && !l.prefix[1]);
    CHECK(strcmp(l.keys[2], "b/") == 0 && l.prefix[2]);

    memset(&l, 0, sizeof(l));
    CHECK(ursa_store_list(st, "", 0, collect, &l, &err) == URSA_OK); /* recursive, in key order */
    CHECK_EQ_INT(l.n, 4);
    CHECK(strcmp(l.keys[0], "a/y") == 0 && strcmp(l.keys[1], "b.txt") == 0);
    CHECK(strcmp(l.keys[2], "b/x/1") == 0 && strcmp(l.keys[3], "b/x/2") == 0);

    memset(&l, 0, sizeof(l));
    CHECK(ursa_store_list(st, "b/x/", '/', collect, &l, &err) == URSA_OK);
    CHECK_EQ_INT(l.n, 2);
    memset(&l, 0, sizeof(l));
    CHECK(ursa_store_list(st, "b/x/2", '/', collect, &l, &err) == URSA_OK);
    CHECK(l.n == 1 && strcmp(l.keys[0], "b/x/2") == 0);
    memset(&l, 0, sizeof(l));
    CHECK(ursa_store_list(st, "nothing/", '/', collect, &l, &err) == URSA_OK && l.n == 0);

    CHECK(ursa_store_del(st, "b/x/1", &err) == URSA_OK);
    CHECK(ursa_store_del(st, "b/x/1", &err) == URSA_OK); /* missing is fine */
    CHECK(ursa_store_get(st, "b/x/1", &b, &err) == URSA_ENOTFOUND);
    ursa_buf_free(&b);
    ursa_store_destroy(&st);
    CHECK(st == NULL);
    test_store_remove();
}

TEST(writer_is_atomic)
{
    ursa_store_t *st = test_store_open("store_fs");
    ursa_err_t err;
    ursa_store_writer_t *w;
    listing_t l = {0};
    /* Streamed in many pieces, larger than the writer's buffer. */
    CHECK(ursa_store_writer_open(st, "d/big", &w, &err) == URSA_OK);
    ursa_sink_t sink = ursa_store_writer_sink(w);
    char piece[1000];
    for (int i = 0; i < 1000; i++) {
        memset(piece, 'a' + i % 26, sizeof(piece));
        CHECK(sink.write(sink.ctx, piece, sizeof(piece), &err) == URSA_OK);
    }
    /* Not visible before commit. */
    CHECK(ursa_store_list(st, "d/", '/', collect, &l, &err) == URSA_OK && l.n == 0);
    CHECK(ursa_store_writer_commit(w, &err) == URSA_OK);
    ursa_buf_t b = {0};
    CHECK(ursa_store_get(st, "d/big", &b, &err) == URSA_OK && b.len == 1000000);
    CHECK(b.data[999] == 'a' && b.data[1000] == 'b' && b.data[999999] == 'a' + 999 % 26);

    /* An aborted writer leaves nothing behind, not even its temporary. */
    CHECK(ursa_store_writer_open(st, "d/gone", &w, &err) == URSA_OK);
    sink = ursa_store_writer_sink(w);
    CHECK(sink.write(sink.ctx, "xyz", 3, &err) == URSA_OK);
    ursa_store_writer_abort(w);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s/d' | wc -l) -eq 1", test_store_root);
    CHECK(system(cmd) == 0);
    ursa_buf_free(&b);
    ursa_store_destroy(&st);
    test_store_remove();
}

/* Messages may reach clients: they name keys, never the store's path. */
TEST(errors_name_keys_not_paths)
{
    ursa_store_t *st = test_store_open("store_fs");
    ursa_err_t err = {0};
    ursa_buf_t b = {0};
    CHECK(ursa_store_put(st, "ds/date=2024-01-01", "a file", 6, &err) == URSA_OK);
    err.msg[0] = '\0';
    CHECK(ursa_store_put(st, "ds/date=2024-01-01/n-1-2.parquet", "x", 1, &err) == URSA_EIO);
    CHECK(strstr(err.msg, "create ds/date=2024-01-01/n-1-2.parquet: ") != NULL &&
          !strstr(err.msg, test_store_root));
    err.msg[0] = '\0';
    CHECK(ursa_store_put(st, "ds/date=2024-01-01/deeper/x", "x", 1, &err) == URSA_EIO);
    CHECK(strstr(err.msg, "mkdir ds/date=2024-01-01/deeper: ") != NULL && !strstr(err.msg, test_store_root));
    err.msg[0] = '\0';
    CHECK(ursa_store_get(st, "ds", &b, &err) == URSA_EIO); /* a directory */
    CHECK(strstr(err.msg, "read ds: ") != NULL && !strstr(err.msg, test_store_root));
    ursa_buf_free(&b);
    ursa_store_destroy(&st);
    test_store_remove();
}

typedef struct temps_seen {
    char keys[16][128];
    int n;
} temps_seen_t;

/* Claims the temporaries of keys whose last segment starts with "mine". */
static bool claim_mine(void *ctx, const char *key, int64_t age_s)
{
    temps_seen_t *t = ctx;
    if (t->n < 16) snprintf(t->keys[t->n++], sizeof(t->keys[0]), "%s", key);
    const char *base = strrchr(key, '/');
    return age_s >= 0 && strncmp(base ? base + 1 : key, "mine", 4) == 0;
}

static bool exists(const char *rel)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", test_store_root, rel);
    return access(path, F_OK) == 0;
}

static void touch(const char *rel)
{
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s/%s')\" && : > '%s/%s'", test_store_root, rel,
             test_store_root, rel);
    if (system(cmd) != 0) abort();
}

/* Temporaries (".<name>.tmp-<pid>-<n>") are found at any depth and named
 * by their final key; only the claimed ones are removed. */
TEST(remove_temps_asks_whose_they_are)
{
    ursa_store_t *st = test_store_open("store_fs");
    ursa_err_t err = {0};
    static const char *const temps[] = {".mine1.tmp-12-0", "a/b/.mine2.parquet.tmp-1-22", "a/.other.tmp-3-4",
                                        "a/.mine.tmp-9-9.tmp-5-6"};
    static const char *const keys[] = {"mine1", "a/b/mine2.parquet", "a/other", "a/mine.tmp-9-9"};
    static const char *const not_temps[] = {"a/.mine3.tmp-1-", "a/.mine4.tmp--1",   "a/mine5.tmp-1-2",
                                            "a/.tmp-1-2",      "a/.mine6.tmp-1-2x", ".hidden/.mine7.tmp-1-2",
                                            "a/mine8"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(temps); i++) touch(temps[i]);
    for (size_t i = 0; i < URSA_ARRAY_LEN(not_temps); i++) touch(not_temps[i]);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "ln -s '%s/a' '%s/link'", test_store_root, test_store_root); /* not followed */
    CHECK(system(cmd) == 0);
    temps_seen_t seen = {0};
    size_t removed = 9, left = 9;
    CHECK(ursa_store_remove_temps(st, claim_mine, &seen, &removed, &left, &err) == URSA_OK);
    CHECK_EQ_INT(removed, 3);
    CHECK_EQ_INT(left, 1);
    CHECK_EQ_INT(seen.n, 4);
    for (size_t i = 0; i < URSA_ARRAY_LEN(keys); i++) {
        bool found = false;
        for (int k = 0; k < seen.n; k++) found |= !strcmp(seen.keys[k], keys[i]);
        CHECK(found);
    }
    CHECK(!exists(temps[0]) && !exists(temps[1]) && exists(temps[2]) && !exists(temps[3]));
    for (size_t i = 0; i < URSA_ARRAY_LEN(not_temps); i++) CHECK(exists(not_temps[i]));
    ursa_store_destroy(&st);
    test_store_remove();
}

TEST(bad_root)
{
    ursa_store_t *st;
    ursa_err_t err;
    CHECK(ursa_store_open("/proc/version/x", NULL, &st, &err) != URSA_OK && st == NULL);
    CHECK(ursa_store_open("s3://b/prefix", NULL, &st, &err) == URSA_EINVAL); /* bucket names have 3+ bytes */
}

int main(void)
{
    RUN(key_validation);
    RUN(put_get_list_delete);
    RUN(writer_is_atomic);
    RUN(errors_name_keys_not_paths);
    RUN(remove_temps_asks_whose_they_are);
    RUN(bad_root);
    return TEST_EXIT();
}
