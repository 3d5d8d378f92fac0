/*
 * test_pq_cache.c -- the LRU cache of shared objects (pq_cache_*) on its
 * own, and the reader's footer cache through pq_reader_open: files written
 * by Ursa's writer into a local store, opened through a store that wraps
 * it and counts the calls, so a test sees how many footer reads an open
 * made. Covered: a second open reads no footer; a rewrite of the same size
 * (published by rename, or written in place) gets the new footer; a store
 * without version tokens gets no caching; the bound holds under eviction;
 * readers keep their footer after it is evicted; failed opens (missing,
 * damaged, out of memory at every allocation) leave no entry and no leak;
 * several threads opening and reading at once.
 */
#include "ingest_json.h"
#include "pq_cache.h"
#include "pq_read.h"
#include "pq_write.h"
#include "store.h"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------
 * The cache alone, on refcounted test objects
 * ------------------------------------------------------------------------- */

typedef struct obj {
    atomic_int refs;
    int id;
} obj_t;

static atomic_int objs_freed;

static void obj_retain(void *v)
{
    atomic_fetch_add(&((obj_t *)v)->refs, 1);
}

static void obj_release(void *v)
{
    obj_t *o = v;
    if (atomic_fetch_sub(&o->refs, 1) == 1) {
        atomic_fetch_add(&objs_freed, 1);
        free(o);
    }
}

static const pq_cache_ops_t OBJ_OPS = {obj_retain, obj_release};

static obj_t *obj_new(int id)
{
    obj_t *o = malloc(sizeof(*o));
    atomic_init(&o->refs, 1);
    o->id = id;
    return o;
}

/* Puts a new object under key k (tag "t1") and drops the caller's reference. */
static bool put_obj(pq_cache_t *c, const char *k, int id, size_t cost)
{
    obj_t *o = obj_new(id);
    bool added = pq_cache_put(c, k, strlen(k), "t1", 2, o, cost);
    obj_release(o);
    return added;
}

static int get_id(pq_cache_t *c, const char *k, const char *tag)
{
    obj_t *o = pq_cache_get(c, k, strlen(k), tag, strlen(tag));
    if (!o) return -1;
    int id = o->id;
    obj_release(o);
    return id;
}

TEST(lru_tags_and_bound)
{
    pq_cache_t c;
    pq_cache_stats_t s;
    atomic_store(&objs_freed, 0);
    pq_cache_init(&c, &OBJ_OPS, 3000); /* room for two entries of 1000 plus overhead, not three */
    CHECK(put_obj(&c, "a", 1, 1000));
    CHECK(put_obj(&c, "b", 2, 1000));
    CHECK_EQ_INT(get_id(&c, "a", "t1"), 1); /* a is now the most recently used */
    CHECK(put_obj(&c, "c", 3, 1000));       /* evicts b */
    CHECK_EQ_INT(get_id(&c, "b", "t1"), -1);
    CHECK_EQ_INT(get_id(&c, "a", "t1"), 1);
    CHECK_EQ_INT(get_id(&c, "c", "t1"), 3);
    pq_cache_get_stats(&c, &s);
    CHECK_EQ_INT(s.entries, 2);
    CHECK(s.bytes <= 3000);
    CHECK_EQ_INT(s.evictions, 1);
    CHECK_EQ_INT(atomic_load(&objs_freed), 1);
    /* Another tag under a cached key: a miss that drops the stale entry. */
    CHECK_EQ_INT(get_id(&c, "a", "t2"), -1);
    CHECK_EQ_INT(get_id(&c, "a", "t1"), -1);
    pq_cache_get_stats(&c, &s);
    CHECK_EQ_INT(s.stale, 1);
    CHECK_EQ_INT(s.entries, 1);
    CHECK_EQ_INT(atomic_load(&objs_freed), 2);
    /* The same key and tag again: the entry there stays. */
    CHECK(!put_obj(&c, "c", 33, 1000));
    CHECK_EQ_INT(get_id(&c, "c", "t1"), 3);
    /* Too big for the bound: not cached. */
    CHECK(!put_obj(&c, "big", 4, 5000));
    CHECK_EQ_INT(get_id(&c, "big", "t1"), -1);
    /* An object in use outlives its eviction. */
    obj_t *held = pq_cache_get(&c, "c", 1, "t1", 2);
    CHECK(held != NULL);
    pq_cache_set_limit(&c, 0);
    pq_cache_get_stats(&c, &s);
    CHECK_EQ_INT(s.entries, 0);
    CHECK_EQ_INT(s.bytes, 0);
    if (held) {
        CHECK_EQ_INT(held->id, 3);
        CHECK_EQ_INT(atomic_load(&held->refs), 1);
        obj_release(held);
    }
    CHECK(!put_obj(&c, "d", 5, 10)); /* limit 0: disabled */
    /* Many keys: the table grows, every one is found. */
    pq_cache_set_limit(&c, (size_t)1 << 30);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        CHECK(put_obj(&c, k, i, 1));
    }
    int found = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        found += get_id(&c, k, "t1") == i;
    }
    CHECK_EQ_INT(found, 1000);
    pq_cache_free(&c);
    CHECK_EQ_INT(atomic_load(&objs_freed), 1000 + 4 + 1 + 1); /* a, b, c, the second c, big, d */
}

/* ---------------------------------------------------------------------------
 * A store that counts: wraps the local store
 * ------------------------------------------------------------------------- */

typedef struct count_store {
    ursa_store_t base;
    ursa_store_t *inner;
    bool no_version; /* hide the version tokens */
    atomic_long stats, ranges;
} count_store_t;

static int cs_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                        ursa_err_t *err)
{
    count_store_t *cs = (count_store_t *)st;
    atomic_fetch_add(&cs->ranges, 1);
    return ursa_store_get_range(cs->inner, key, off, len, out, err);
}

static int cs_stat(ursa_store_t *st, const char *key, ursa_store_info_t *info, ursa_err_t *err)
{
    count_store_t *cs = (count_store_t *)st;
    atomic_fetch_add(&cs->stats, 1);
    int rc = ursa_store_stat(cs->inner, key, info, err);
    if (cs->no_version) info->version[0] = '\0';
    return rc;
}

static const struct ursa_store_ops COUNT_OPS = {.get_range = cs_get_range, .stat = cs_stat};

static char tmpdir[256];
static ursa_store_t *fs;

static void count_store_init(count_store_t *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->base.ops = &COUNT_OPS;
    cs->inner = fs;
}

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    (void)err;
    return ursa_buf_append(ctx, p, n);
}

/* A file of 300 rows in two row groups: columns ts and `name` (int64
 * seed * 1000 + row), uncompressed and PLAIN, so that files of the same
 * name length and row count have the same size whatever the seed. */
static void make_file(ursa_buf_t *file, const char *name, int seed)
{
    char js[512];
    snprintf(
        js, sizeof(js),
        "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false,\"encoding\":\"plain\"},"
        "{\"name\":\"%s\",\"type\":\"int64\",\"nullable\":false,\"encoding\":\"plain\"}],"
        "\"time_column\":\"ts\"}",
        name);
    ursa_schema_t s;
    ursa_batch_t b;
    ursa_ndjson_t p;
    ursa_err_t err;
    if (ursa_schema_parse(js, strlen(js), &s, &err) || ursa_batch_init(&b, &s) ||
        ursa_ndjson_init(&p, &s, &b, 0))
        abort();
    for (int r = 0; r < 300; r++) {
        char line[128];
        int k = snprintf(line, sizeof(line), "{\"ts\":\"2026-01-02T03:04:05.%06dZ\",\"%s\":%d}\n", r, name,
                         seed * 1000 + r);
        if (ursa_ndjson_feed(&p, line, (size_t)k)) abort();
    }
    if (ursa_ndjson_finish(&p) || b.nrows != 300) abort();
    ursa_ndjson_free(&p);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    o.row_group_rows = 150;
    o.threads = 1;
    pq_writer_t *w = NULL;
    ursa_sink_t sink = {mem_write, file};
    file->len = 0;
    if (pq_writer_new(&w, &s, &o, sink, &err) || pq_writer_write(w, &b, 0, b.nrows, &err) ||
        pq_writer_close(w, NULL, &err)) {
        fprintf(stderr, "writer: %s\n", err.msg);
        abort();
    }
    pq_writer_destroy(&w);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

static size_t put_file(const char *key, const char *name, int seed)
{
    ursa_buf_t f = {0};
    ursa_err_t err;
    make_file(&f, name, seed);
    if (ursa_store_put(fs, key, f.data, f.len, &err)) abort();
    size_t n = f.len;
    ursa_buf_free(&f);
    return n;
}

/* Opens key through st and checks that column 1 is `name` with the values
 * of `seed` (row group 1 read: the footer's offsets must be this file's).
 * Returns 0 when all is well. */
static int open_check(ursa_store_t *st, const char *key, const char *name, int seed)
{
    pq_reader_t *r;
    ursa_err_t err;
    int bad = 0;
    if (pq_reader_open(&r, st, key, &err)) {
        fprintf(stderr, "open %s: %s\n", key, err.msg);
        return 1;
    }
    const ursa_schema_t *s = pq_reader_schema(r);
    if (s->nfields != 2 || strcmp(s->fields[1].name, name) != 0) bad = 1;
    ursa_batch_t b;
    if (!bad && pq_reader_read(r, 1, NULL, 0, &b, &err) == URSA_OK) {
        bad = b.nrows != 150 || ursa_column_i64(&b.cols[1], 0) != seed * 1000 + 150 ||
              ursa_column_i64(&b.cols[1], 149) != seed * 1000 + 299;
        ursa_batch_free(&b);
    } else if (!bad) {
        fprintf(stderr, "read %s: %s\n", key, err.msg);
        bad = 1;
    }
    pq_reader_destroy(&r);
    return bad;
}

/* The footer cache's counters when the test started (they only grow). */
static pq_cache_stats_t s0;

/* Empties the footer cache, restores the default bound, notes the counters. */
static void reset(void)
{
    pq_footer_cache_set_limit(0);
    pq_footer_cache_set_limit(PQ_FOOTER_CACHE_DEFAULT);
    pq_footer_cache_stats(&s0);
}

/* The footer cache's counters since reset(). */
static pq_cache_stats_t since(void)
{
    pq_cache_stats_t s;
    pq_footer_cache_stats(&s);
    s.hits -= s0.hits, s.misses -= s0.misses, s.stale -= s0.stale;
    s.inserts -= s0.inserts, s.evictions -= s0.evictions;
    return s;
}

TEST(second_open_reads_no_footer)
{
    reset();
    count_store_t cs;
    count_store_init(&cs);
    put_file("hit/a.parquet", "va", 1);
    CHECK_EQ_INT(open_check(&cs.base, "hit/a.parquet", "va", 1), 0);
    long stats = atomic_load(&cs.stats), ranges = atomic_load(&cs.ranges);
    CHECK_EQ_INT(stats, 1);
    CHECK_EQ_INT(ranges, 2); /* the footer, then row group 1 */
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(open_check(&cs.base, "hit/a.parquet", "va", 1), 0);
    CHECK_EQ_INT(atomic_load(&cs.stats) - stats, 3);
    CHECK_EQ_INT(atomic_load(&cs.ranges) - ranges, 3); /* row group 1 only: no footer read */
    pq_cache_stats_t s;
    s = since();
    CHECK_EQ_INT(s.hits, 3);
    CHECK_EQ_INT(s.misses, 1);
    CHECK_EQ_INT(s.entries, 1);
    /* Without version tokens the store gets no caching. */
    cs.no_version = true;
    ranges = atomic_load(&cs.ranges);
    CHECK_EQ_INT(open_check(&cs.base, "hit/a.parquet", "va", 1), 0);
    CHECK_EQ_INT(open_check(&cs.base, "hit/a.parquet", "va", 1), 0);
    CHECK_EQ_INT(atomic_load(&cs.ranges) - ranges, 4); /* footer and row group, twice */
    s = since();
    CHECK_EQ_INT(s.entries, 1);
}

TEST(rewrite_of_the_same_size_gets_the_new_footer)
{
    reset();
    count_store_t cs;
    count_store_init(&cs);
    size_t n1 = put_file("rw/a.parquet", "aaaa", 1);
    CHECK_EQ_INT(open_check(&cs.base, "rw/a.parquet", "aaaa", 1), 0);
    /* A new file published over it by the store (a rename: new inode). */
    size_t n2 = put_file("rw/a.parquet", "bbbb", 2);
    CHECK_EQ_INT(n1, n2); /* else the size alone would tell them apart */
    long ranges = atomic_load(&cs.ranges);
    CHECK_EQ_INT(open_check(&cs.base, "rw/a.parquet", "bbbb", 2), 0);
    CHECK_EQ_INT(atomic_load(&cs.ranges) - ranges, 2); /* the footer was read again */
    pq_cache_stats_t s;
    s = since();
    CHECK_EQ_INT(s.stale, 1);
    CHECK_EQ_INT(s.entries, 1);
    /* Written in place by another program (same inode, same size): mtime
     * and ctime change, once the file system's clock has ticked. */
    ursa_buf_t f = {0};
    make_file(&f, "cccc", 3);
    CHECK_EQ_INT(f.len, n1);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/rw/a.parquet", tmpdir);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(fd >= 0 && pwrite(fd, f.data, f.len, 0) == (ssize_t)f.len);
    if (fd >= 0) close(fd);
    ursa_buf_free(&f);
    CHECK_EQ_INT(open_check(&cs.base, "rw/a.parquet", "cccc", 3), 0);
    CHECK_EQ_INT(open_check(&cs.base, "rw/a.parquet", "cccc", 3), 0);
    s = since();
    CHECK_EQ_INT(s.stale, 2);
    CHECK_EQ_INT(s.hits, 1);
}

TEST(bound_and_eviction)
{
    reset();
    count_store_t cs;
    count_store_init(&cs);
    char key[64];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "ev/f%d.parquet", i);
        put_file(key, "v", i);
    }
    CHECK_EQ_INT(open_check(&cs.base, "ev/f0.parquet", "v", 0), 0);
    pq_cache_stats_t s;
    s = since();
    size_t one = s.bytes;
    CHECK(one > 1000); /* a footer's decoded size, arena included */
    size_t limit = one * 5 / 2;
    pq_footer_cache_set_limit(0);
    pq_footer_cache_set_limit(limit); /* room for two */
    pq_footer_cache_stats(&s0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10; i++) {
            snprintf(key, sizeof(key), "ev/f%d.parquet", i);
            CHECK_EQ_INT(open_check(&cs.base, key, "v", i), 0);
            s = since();
            CHECK(s.bytes <= limit);
            CHECK(s.entries <= 2);
        }
    }
    s = since();
    CHECK(s.evictions >= 27);
    CHECK_EQ_INT(s.hits, 0); /* ten files in a cycle through room for two: LRU never hits */
    /* The two most recent are still there. */
    long ranges = atomic_load(&cs.ranges);
    CHECK_EQ_INT(open_check(&cs.base, "ev/f9.parquet", "v", 9), 0);
    CHECK_EQ_INT(open_check(&cs.base, "ev/f8.parquet", "v", 8), 0);
    CHECK_EQ_INT(atomic_load(&cs.ranges) - ranges, 2);
}

TEST(readers_outlive_eviction)
{
    reset();
    count_store_t cs;
    count_store_init(&cs);
    put_file("keep/a.parquet", "ka", 7);
    pq_reader_t *r1, *r2;
    ursa_err_t err;
    CHECK_EQ_INT(pq_reader_open(&r1, &cs.base, "keep/a.parquet", &err), URSA_OK);
    CHECK_EQ_INT(pq_reader_open(&r2, &cs.base, "keep/a.parquet", &err), URSA_OK);
    CHECK(pq_reader_meta(r1) == pq_reader_meta(r2)); /* one footer, shared */
    pq_footer_cache_set_limit(0);
    pq_reader_destroy(&r1);
    ursa_batch_t b;
    CHECK_EQ_INT(pq_reader_read(r2, 0, NULL, 0, &b, &err), URSA_OK);
    CHECK_EQ_INT(b.nrows, 150);
    CHECK_EQ_INT(ursa_column_i64(&b.cols[1], 10), 7010);
    CHECK(strcmp(pq_reader_schema(r2)->fields[1].name, "ka") == 0);
    ursa_batch_free(&b);
    pq_reader_destroy(&r2);
    /* Disabled: every open reads its footer, nothing is kept. */
    long ranges = atomic_load(&cs.ranges);
    CHECK_EQ_INT(open_check(&cs.base, "keep/a.parquet", "ka", 7), 0);
    CHECK_EQ_INT(open_check(&cs.base, "keep/a.parquet", "ka", 7), 0);
    CHECK_EQ_INT(atomic_load(&cs.ranges) - ranges, 4);
    pq_cache_stats_t s;
    s = since();
    CHECK_EQ_INT(s.entries, 0);
    CHECK_EQ_INT(s.bytes, 0);
}

TEST(failed_opens_leave_nothing)
{
    reset();
    count_store_t cs;
    count_store_init(&cs);
    pq_reader_t *r;
    ursa_err_t err;
    pq_cache_stats_t s;
    CHECK_EQ_INT(pq_reader_open(&r, &cs.base, "bad/none.parquet", &err), URSA_ENOTFOUND);
    /* A damaged footer: the magic is there, the footer bytes are not Thrift. */
    ursa_buf_t f = {0};
    make_file(&f, "d", 1);
    memset(f.data + f.len - 60, 0xFF, 52);
    CHECK_EQ_INT(ursa_store_put(fs, "bad/damaged.parquet", f.data, f.len, &err), URSA_OK);
    ursa_buf_free(&f);
    CHECK_EQ_INT(pq_reader_open(&r, &cs.base, "bad/damaged.parquet", &err), URSA_EFORMAT);
    CHECK_EQ_INT(pq_reader_open(&r, &cs.base, "bad/damaged.parquet", &err), URSA_EFORMAT);
    CHECK(r == NULL);
    s = since();
    CHECK_EQ_INT(s.entries, 0);
    /* Out of memory at each allocation of an open in turn: a clean error
     * or a good reader, never a leak or a half-built entry. */
    put_file("bad/oom.parquet", "om", 4);
    size_t before = ursa_mem_used();
    int failed = 0, opened = 0;
    for (long n = 1; n < 400; n++) {
        reset();
        size_t base = ursa_mem_used();
        ursa_mem_fail_after(n);
        int rc = pq_reader_open(&r, &cs.base, "bad/oom.parquet", &err);
        ursa_mem_fail_after(0);
        if (rc == URSA_OK) {
            opened++;
            CHECK(strcmp(pq_reader_schema(r)->fields[1].name, "om") == 0);
            pq_reader_destroy(&r);
            CHECK_EQ_INT(open_check(&cs.base, "bad/oom.parquet", "om", 4), 0);
        } else {
            failed++;
            CHECK_EQ_INT(rc, URSA_ENOMEM);
            CHECK(r == NULL);
            s = since();
            CHECK_EQ_INT(s.entries, 0);
            CHECK_EQ_INT(ursa_mem_used(), base);
        }
    }
    CHECK(failed > 10);
    CHECK(opened > 10);
    pq_footer_cache_set_limit(0);
    CHECK_EQ_INT(ursa_mem_used(), before);
}

/* Several threads open and read files at once, under a bound that keeps
 * evicting, while a rewrite of one of them goes on. */
typedef struct worker {
    ursa_store_t *st;
    unsigned seed;
    int errors;
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    char key[64];
    for (int i = 0; i < 150; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        int f = (int)((w->seed >> 16) % 6);
        snprintf(key, sizeof(key), "mt/f%d.parquet", f);
        w->errors += open_check(w->st, key, "mv", f);
    }
    return NULL;
}

TEST(threads)
{
    reset();
    count_store_t cs;
    count_store_init(&cs);
    char key[64];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "mt/f%d.parquet", i);
        put_file(key, "mv", i);
    }
    CHECK_EQ_INT(open_check(&cs.base, "mt/f0.parquet", "mv", 0), 0);
    pq_cache_stats_t s;
    s = since();
    pq_footer_cache_set_limit(s.bytes * 7 / 2); /* room for three of six */
    enum { T = 6 };
    pthread_t th[T];
    worker_t w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker_t){&cs.base, (unsigned)i * 7919u + 1, 0};
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    /* Meanwhile, limits change under the readers. */
    for (int i = 0; i < 50; i++) {
        pq_footer_cache_set_limit(i % 10 == 9 ? 0 : s.bytes * 7 / 2);
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int errors = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    CHECK_EQ_INT(errors, 0);
    pq_cache_stats_t e;
    e = since();
    CHECK(e.hits > 0);
    CHECK(e.evictions > 0);
    printf("# threads: %llu hits, %llu misses, %llu evictions\n", (unsigned long long)e.hits,
           (unsigned long long)e.misses, (unsigned long long)e.evictions);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "test-tmp/pq_cache-%d", (int)getpid());
    ursa_err_t err;
    if (ursa_store_open(tmpdir, NULL, &fs, &err)) {
        fprintf(stderr, "store: %s\n", err.msg);
        return 1;
    }
    RUN(lru_tags_and_bound);
    RUN(second_open_reads_no_footer);
    RUN(rewrite_of_the_same_size_gets_the_new_footer);
    RUN(bound_and_eviction);
    RUN(readers_outlive_eviction);
    RUN(failed_opens_leave_nothing);
    RUN(threads);
    pq_footer_cache_set_limit(0);
    ursa_store_destroy(&fs);
    if (!test_failed_count) { /* kept for a look when a test failed */
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return TEST_EXIT();
}
