/*
 * The store suite, run against every backend: the local directory always,
 * and S3 when URSA_TEST_S3_ENDPOINT and URSA_TEST_S3_BUCKET are set (with
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; ctest does this with a real
 * Swift + s3api server, see tests/s3/). Each run works under a fresh
 * prefix and removes what it wrote.
 */
#include "store.h"
#include "test.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static ursa_store_t *st;
static const char *backend;

typedef struct keys {
    char **k;
    size_t n, cap;
    size_t prefixes;
} keys_t;

static int collect(void *ctx, const char *key, bool is_prefix)
{
    keys_t *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->k = realloc(l->k, l->cap * sizeof(char *));
    }
    l->k[l->n++] = strdup(key);
    l->prefixes += is_prefix;
    return URSA_OK;
}

static void keys_free(keys_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->k[i]);
    free(l->k);
    memset(l, 0, sizeof(*l));
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

TEST(round_trips)
{
    ursa_err_t err = {0};
    ursa_buf_t b = {0};
    CHECK(ursa_store_put(st, "rt/empty", "", 0, &err) == URSA_OK);
    CHECK(ursa_store_get(st, "rt/empty", &b, &err) == URSA_OK && b.len == 0);
    CHECK(ursa_store_put(st, "rt/small", "hello, store", 12, &err) == URSA_OK);
    CHECK(ursa_store_get(st, "rt/small", &b, &err) == URSA_OK && b.len == 12 &&
          !memcmp(b.data, "hello, store", 12));
    uint64_t size = 0;
    CHECK(ursa_store_head(st, "rt/small", &size, &err) == URSA_OK && size == 12);
    CHECK(ursa_store_head(st, "rt/none", &size, &err) == URSA_ENOTFOUND);
    CHECK(ursa_store_get(st, "rt/none", &b, &err) == URSA_ENOTFOUND);
    /* Keys with characters that need encoding. */
    CHECK(ursa_store_put(st, "rt/date=2024-01-01/a b+c&d~e.parquet", "x", 1, &err) == URSA_OK);
    CHECK(ursa_store_get(st, "rt/date=2024-01-01/a b+c&d~e.parquet", &b, &err) == URSA_OK && b.len == 1);

    /* 20 MiB through a streaming writer, in uneven pieces (multipart on S3). */
    size_t big = 20u << 20;
    uint8_t *data = malloc(big);
    fill(data, big, 7);
    ursa_store_writer_t *w;
    CHECK(ursa_store_writer_open(st, "rt/big", &w, &err) == URSA_OK);
    ursa_sink_t sink = ursa_store_writer_sink(w);
    for (size_t off = 0, k = 1; off < big; off += k, k = k * 3 % 1500007 + 1) {
        if (k > big - off) k = big - off;
        CHECK(sink.write(sink.ctx, data + off, k, &err) == URSA_OK);
    }
    keys_t l = {0};
    CHECK(ursa_store_list(st, "rt/big", 0, collect, &l, &err) == URSA_OK);
    CHECK_EQ_INT(l.n, 0); /* not visible before commit */
    keys_free(&l);
    err.msg[0] = '\0';
    CHECK(ursa_store_writer_commit(w, &err) == URSA_OK);
    if (err.msg[0]) fprintf(stderr, "%s: %s\n", backend, err.msg);
    CHECK(ursa_store_get(st, "rt/big", &b, &err) == URSA_OK && b.len == big && !memcmp(b.data, data, big));
    CHECK(ursa_store_head(st, "rt/big", &size, &err) == URSA_OK && size == big);

    /* Range reads: inside, at the end, past the end. */
    CHECK(ursa_store_get_range(st, "rt/big", 12345, 1000, &b, &err) == URSA_OK && b.len == 1000 &&
          !memcmp(b.data, data + 12345, 1000));
    CHECK(ursa_store_get_range(st, "rt/big", big - 10, 100, &b, &err) == URSA_OK && b.len == 10 &&
          !memcmp(b.data, data + big - 10, 10));
    CHECK(ursa_store_get_range(st, "rt/big", big + 10, 100, &b, &err) == URSA_OK && b.len == 0);

    /* An aborted writer leaves nothing behind. */
    CHECK(ursa_store_writer_open(st, "rt/aborted", &w, &err) == URSA_OK);
    sink = ursa_store_writer_sink(w);
    CHECK(sink.write(sink.ctx, data, 6u << 20, &err) == URSA_OK);
    ursa_store_writer_abort(w);
    CHECK(ursa_store_head(st, "rt/aborted", &size, &err) == URSA_ENOTFOUND);

    /* Overwrite replaces; put_if_absent refuses an existing key. */
    CHECK(ursa_store_put(st, "rt/small", "bye", 3, &err) == URSA_OK);
    CHECK(ursa_store_get(st, "rt/small", &b, &err) == URSA_OK && b.len == 3);
    int rc = ursa_store_put_if_absent(st, "rt/small", "again", 5, &err);
    CHECK(rc == URSA_EEXIST || rc == URSA_ENOTSUP);
    if (rc == URSA_ENOTSUP) printf("note: %s has no conditional writes\n", backend);
    CHECK(ursa_store_get(st, "rt/small", &b, &err) == URSA_OK && b.len == 3);
    CHECK(ursa_store_put_if_absent(st, "rt/fresh", "new", 3, &err) == URSA_OK);
    free(data);
    ursa_buf_free(&b);
}

TEST(listing_past_1000_keys_and_batch_delete)
{
    ursa_err_t err = {0};
    enum { N = 1203 };
    static char names[N][48];
    const char *ptrs[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "ls/%s/k%05d", i % 3 ? "b" : "a", i);
        ptrs[i] = names[i];
        CHECK(ursa_store_put(st, names[i], names[i], strlen(names[i]), &err) == URSA_OK);
    }
    keys_t l = {0};
    CHECK(ursa_store_list(st, "ls/", 0, collect, &l, &err) == URSA_OK);
    CHECK_EQ_INT(l.n, N);
    CHECK_EQ_INT(l.prefixes, 0);
    bool sorted = true;
    for (size_t i = 1; i < l.n; i++) sorted &= strcmp(l.k[i - 1], l.k[i]) < 0;
    CHECK(sorted);
    keys_free(&l);
    CHECK(ursa_store_list(st, "ls/", '/', collect, &l, &err) == URSA_OK);
    CHECK(l.n == 2 && l.prefixes == 2 && !strcmp(l.k[0], "ls/a/") && !strcmp(l.k[1], "ls/b/"));
    keys_free(&l);
    CHECK(ursa_store_list(st, "ls/a/k0000", 0, collect, &l, &err) == URSA_OK);
    CHECK_EQ_INT(l.n, 4); /* k00000 k00003 k00006 k00009 */
    keys_free(&l);

    err.msg[0] = '\0';
    CHECK(ursa_store_del_many(st, ptrs, N, &err) == URSA_OK);
    if (err.msg[0]) fprintf(stderr, "%s: %s\n", backend, err.msg);
    CHECK(ursa_store_list(st, "ls/", 0, collect, &l, &err) == URSA_OK);
    CHECK_EQ_INT(l.n, 0);
    keys_free(&l);
    CHECK(ursa_store_del(st, "ls/a/k00000", &err) == URSA_OK); /* deleting a missing key is fine */
}

/* A version token names one state of an object: it stays while the object
 * does, and a rewrite of the same size (by put, by a streaming writer)
 * changes it. On the local store each write is a rename of a fresh file,
 * so the inode changes even within one tick of the file system's clock. */
TEST(stat_versions)
{
    ursa_err_t err = {0};
    ursa_store_info_t a, b, c, d;
    CHECK(ursa_store_put(st, "ver/x", "0123456789abcdef", 16, &err) == URSA_OK);
    CHECK(ursa_store_stat(st, "ver/x", &a, &err) == URSA_OK);
    CHECK_EQ_INT(a.size, 16);
    CHECK(a.version[0] != '\0');
    CHECK(ursa_store_stat(st, "ver/x", &b, &err) == URSA_OK);
    CHECK(strcmp(a.version, b.version) == 0); /* unchanged object, same token */
    CHECK(ursa_store_put(st, "ver/x", "fedcba9876543210", 16, &err) == URSA_OK);
    CHECK(ursa_store_stat(st, "ver/x", &c, &err) == URSA_OK);
    CHECK_EQ_INT(c.size, 16);
    CHECK(strcmp(a.version, c.version) != 0);
    ursa_store_writer_t *w;
    CHECK(ursa_store_writer_open(st, "ver/x", &w, &err) == URSA_OK);
    ursa_sink_t sink = ursa_store_writer_sink(w);
    CHECK(sink.write(sink.ctx, "0123456789ABCDEF", 16, &err) == URSA_OK);
    CHECK(ursa_store_writer_commit(w, &err) == URSA_OK);
    CHECK(ursa_store_stat(st, "ver/x", &d, &err) == URSA_OK);
    CHECK_EQ_INT(d.size, 16);
    CHECK(strcmp(c.version, d.version) != 0);
    uint64_t size = 0;
    CHECK(ursa_store_head(st, "ver/x", &size, &err) == URSA_OK && size == 16);
    CHECK(ursa_store_stat(st, "ver/none", &d, &err) == URSA_ENOTFOUND);
    printf("# %s: version tokens like %s\n", backend, a.version);
}

/* Removes everything under the run's prefix. */
static void cleanup(void)
{
    ursa_err_t err;
    keys_t l = {0};
    if (ursa_store_list(st, "", 0, collect, &l, &err) == URSA_OK && l.n)
        CHECK(ursa_store_del_many(st, (const char *const *)l.k, l.n, &err) == URSA_OK);
    keys_free(&l);
}

static int run_suite(const char *name, const char *url)
{
    ursa_err_t err = {0};
    backend = name;
    if (ursa_store_open(url, NULL, &st, &err)) {
        fprintf(stderr, "%s: cannot open %s: %s\n", name, url, err.msg);
        return 1;
    }
    printf("# %s: %s\n", name, url);
    RUN(round_trips);
    RUN(listing_past_1000_keys_and_batch_delete);
    RUN(stat_versions);
    cleanup();
    ursa_store_destroy(&st);
    return 0;
}

int main(void)
{
    char url[512];
    const char *tmp = getenv("URSA_TEST_TMP");
    long id = (long)getpid() ^ (long)time(NULL);
    const char *endpoint = getenv("URSA_TEST_S3_ENDPOINT"), *bucket = getenv("URSA_TEST_S3_BUCKET");
    if (endpoint && bucket) {
        setenv("AWS_ENDPOINT_URL", endpoint, 1);
        snprintf(url, sizeof(url), "s3://%s/conformance-%ld", bucket, id);
        if (run_suite("s3", url)) return 1;
    } else {
        snprintf(url, sizeof(url), "%s/store-conformance-%ld", tmp && *tmp ? tmp : "/tmp", id);
        if (run_suite("local", url)) return 1;
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", url);
        if (system(cmd) != 0) return 1;
    }
    return TEST_EXIT();
}
