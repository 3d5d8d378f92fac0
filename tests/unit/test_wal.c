/* Unit tests for the write-ahead log: replay, torn tails, damage in the
 * middle, segment release, and group commit under concurrent appenders. */
#include "wal.h"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static bool buffered; /* every test runs with direct I/O, then through the page cache */

static void fresh_dir(void)
{
    const char *tmp = getenv("URSA_TEST_TMP");
    snprintf(dir, sizeof(dir), "%s/wal.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) abort();
}

typedef struct seen {
    uint64_t n, last_lsn;
    bool in_order, contents_ok;
} seen_t;

/* Record i holds i + 1 bytes, each (lsn + k) & 0xff. */
static int check_record(void *ctx, uint64_t lsn, const uint8_t *p, size_t n)
{
    seen_t *s = ctx;
    s->in_order &= s->n == 0 || lsn == s->last_lsn + 1;
    s->last_lsn = lsn;
    s->n++;
    s->contents_ok &= n == (size_t)(lsn % 300) + 1;
    for (size_t k = 0; k < n; k++) s->contents_ok &= p[k] == (uint8_t)(lsn + k);
    return 0;
}

static ursa_wal_t *open_replay(seen_t *s, size_t seg, int *rc_out)
{
    ursa_wal_t *w;
    ursa_err_t err = {0};
    ursa_wal_opts_t o = {dir, true, seg, 0, buffered};
    if (ursa_wal_open(&w, &o, &err)) abort();
    *s = (seen_t){0, 0, true, true};
    *rc_out = ursa_wal_replay(w, check_record, s, &err);
    if (*rc_out) fprintf(stderr, "replay: %s\n", err.msg);
    return w;
}

static void append_n(ursa_wal_t *w, int n)
{
    uint8_t buf[300];
    ursa_err_t err;
    for (int i = 0; i < n; i++) {
        uint64_t next = ursa_wal_next_lsn(w), lsn;
        size_t len = (size_t)(next % 300) + 1;
        for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)(next + k);
        CHECK(ursa_wal_append(w, buf, len, NULL, NULL, &lsn, &err) == URSA_OK);
        CHECK(lsn == next);
        CHECK(ursa_wal_wait(w, lsn, &err) == URSA_OK);
    }
}

/* Files in the log's directory whose names end in `suffix` (a grep pattern). */
static int count_files(const char *suffix)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (!p || fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

static int count_segments(void)
{
    return count_files("\\.wal");
}

TEST(replay_across_segments_and_restarts)
{
    fresh_dir();
    seen_t s;
    int rc;
    ursa_wal_t *w = open_replay(&s, 4096, &rc);
    CHECK(rc == URSA_OK && s.n == 0);
    append_n(w, 500);
    ursa_wal_close(&w);
    w = open_replay(&s, 4096, &rc);
    CHECK(rc == URSA_OK);
    CHECK_EQ_INT(s.n, 500);
    CHECK(s.in_order && s.contents_ok);
    append_n(w, 100); /* continues at LSN 501 */
    ursa_wal_close(&w);
    w = open_replay(&s, 4096, &rc);
    CHECK(rc == URSA_OK && s.n == 600 && s.in_order && s.contents_ok && s.last_lsn == 600);
    CHECK(count_segments() > 10);
    CHECK(ursa_wal_bytes(w) > 600 * 24);

    /* Release: everything below 550 is no longer needed. */
    ursa_wal_release(w, 550);
    ursa_wal_close(&w);
    w = open_replay(&s, 4096, &rc);
    CHECK(rc == URSA_OK);
    if (!(s.last_lsn == 600 && s.n < 100 && s.n >= 51))
        fprintf(stderr, "after release: %llu records up to %llu\n", (unsigned long long)s.n,
                (unsigned long long)s.last_lsn);
    CHECK(s.last_lsn == 600 && s.n < 100 && s.n >= 51 && s.in_order && s.contents_ok);
    ursa_wal_close(&w);
}

/* A segment ends when it is old enough, not only when full: a quiet log
 * is released soon after its rows are published. */
TEST(segments_end_by_age)
{
    fresh_dir();
    ursa_wal_t *w;
    ursa_err_t err = {0};
    ursa_wal_opts_t o = {dir, true, 8 << 20, 0, buffered, 1};
    seen_t s;
    if (ursa_wal_open(&w, &o, &err) || ursa_wal_replay(w, check_record, &s, &err)) abort();
    append_n(w, 3);
    CHECK_EQ_INT(count_segments(), 1);
    usleep(1100 * 1000);
    append_n(w, 3);
    CHECK_EQ_INT(count_segments(), 2);
    ursa_wal_release(w, ursa_wal_next_lsn(w)); /* all published: the old segment goes */
    CHECK_EQ_INT(count_segments(), 1);
    ursa_wal_close(&w);
}

/* Found by the crash harness: a start that logged nothing before it was
 * killed leaves an empty segment named by the next LSN; the next start
 * listed it and opened a new segment of the same name, and a release then
 * deleted that file under the open segment: every record logged after it
 * was lost at the next crash. */
TEST(a_start_that_logged_nothing_loses_nothing_later)
{
    fresh_dir();
    seen_t s;
    int rc;
    ursa_wal_t *w = open_replay(&s, 1 << 20, &rc);
    append_n(w, 10);
    ursa_wal_close(&w);
    w = open_replay(&s, 1 << 20, &rc); /* replays 1..10, opens an empty segment for 11 */
    CHECK(rc == URSA_OK && s.n == 10);
    ursa_wal_close(&w); /* nothing logged */
    w = open_replay(&s, 1 << 20, &rc);
    CHECK(rc == URSA_OK && s.n == 10);
    append_n(w, 5);          /* 11..15 */
    ursa_wal_release(w, 11); /* 1..10 are published */
    CHECK_EQ_INT(count_segments(), 1);
    ursa_wal_close(&w);
    w = open_replay(&s, 1 << 20, &rc);
    CHECK(rc == URSA_OK);
    CHECK_EQ_INT(s.n, 5);
    CHECK(s.last_lsn == 15 && s.in_order && s.contents_ok);
    ursa_wal_close(&w);
}

/* Records handed over in a buffer (ursa_wal_append_buf; the buffer from
 * ursa_wal_record_buf, which reuses written ones, or the caller's own),
 * mixed with copied ones, replay the same; the buffer belongs to the log
 * after a success and stays the caller's after a failure. */
TEST(append_buf_takes_the_buffer)
{
    fresh_dir();
    seen_t s;
    int rc;
    ursa_err_t err = {0};
    ursa_wal_t *w = open_replay(&s, 4096, &rc);
    CHECK(rc == URSA_OK);
    for (int i = 0; i < 200; i++) {
        if (i % 2) {
            append_n(w, 1);
            continue;
        }
        uint64_t next = ursa_wal_next_lsn(w), lsn;
        size_t len = (size_t)(next % 300) + 1;
        ursa_buf_t b = {0};
        if (i % 4 == 0) {
            CHECK(ursa_buf_reserve(&b, URSA_WAL_HEADER + len) == URSA_OK);
            b.len = URSA_WAL_HEADER;
        } else { /* a new buffer, or the spare of a record written before */
            CHECK(ursa_wal_record_buf(w, len, &b) == URSA_OK);
            CHECK(b.len == URSA_WAL_HEADER && b.cap >= URSA_WAL_HEADER + len);
        }
        memset(b.data, 0xee, URSA_WAL_HEADER); /* any content: the log writes the header */
        for (size_t k = 0; k < len; k++) CHECK(ursa_buf_push(&b, (uint8_t)(next + k)) == URSA_OK);
        CHECK(ursa_wal_append_buf(w, &b, NULL, NULL, &lsn, &err) == URSA_OK);
        CHECK(lsn == next && b.data == NULL && b.len == 0 && b.cap == 0);
        CHECK(ursa_wal_wait(w, lsn, &err) == URSA_OK);
    }
    ursa_buf_t small = {0};
    CHECK(ursa_buf_append(&small, "abc", 3) == URSA_OK);
    uint64_t lsn;
    CHECK(ursa_wal_append_buf(w, &small, NULL, NULL, &lsn, &err) == URSA_EINVAL); /* no room for the header */
    CHECK(small.data != NULL && small.len == 3);
    ursa_buf_free(&small);
    ursa_wal_close(&w);
    w = open_replay(&s, 4096, &rc);
    CHECK(rc == URSA_OK && s.n == 200 && s.in_order && s.contents_ok);
    ursa_wal_close(&w);
}

/* The last segment's tail cut at every length, or followed by garbage:
 * replay keeps every whole record and cuts the rest. */
TEST(torn_tail_is_cut)
{
    seen_t s;
    int rc;
    /* The last record (LSN 20) is 24 + 21 bytes: cut it at every length. */
    for (int back = 45; back >= 1; back -= 4) {
        fresh_dir();
        ursa_wal_t *w = open_replay(&s, 1 << 20, &rc);
        append_n(w, 20);
        off_t end = (off_t)ursa_wal_bytes(w); /* the records' end: with direct I/O zeros follow */
        ursa_wal_close(&w);
        char path[700];
        snprintf(path, sizeof(path), "%s/%020d.wal", dir, 1);
        struct stat sb;
        CHECK(stat(path, &sb) == 0);
        CHECK(sb.st_size == (buffered ? end : (end + 4095) / 4096 * 4096));
        CHECK(truncate(path, end - back) == 0);
        w = open_replay(&s, 1 << 20, &rc);
        CHECK(rc == URSA_OK && s.n == 19 && s.contents_ok);
        append_n(w, 5); /* the log goes on at LSN 20 */
        ursa_wal_close(&w);
        w = open_replay(&s, 1 << 20, &rc);
        CHECK(rc == URSA_OK && s.n == 24 && s.in_order && s.contents_ok);
        ursa_wal_close(&w);
    }
    /* Garbage after the last whole record. */
    fresh_dir();
    ursa_wal_t *w = open_replay(&s, 1 << 20, &rc);
    append_n(w, 20);
    ursa_wal_close(&w);
    char path[700];
    snprintf(path, sizeof(path), "%s/%020d.wal", dir, 21);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    CHECK(fd >= 0 && write(fd, "UWAL garbage garbage garbage", 28) == 28);
    close(fd);
    w = open_replay(&s, 1 << 20, &rc);
    CHECK(rc == URSA_OK && s.n == 20);
    ursa_wal_close(&w);
}

TEST(damage_in_the_middle_is_an_error)
{
    fresh_dir();
    seen_t s;
    int rc;
    ursa_wal_t *w = open_replay(&s, 1 << 20, &rc);
    append_n(w, 20);
    ursa_wal_close(&w);
    char path[700];
    snprintf(path, sizeof(path), "%s/%020d.wal", dir, 1);
    int fd = open(path, O_RDWR);
    char b = 0x5a;
    CHECK(fd >= 0 && pwrite(fd, &b, 1, 100) == 1); /* inside record 3 */
    close(fd);
    w = open_replay(&s, 1 << 20, &rc);
    CHECK(rc == URSA_EFORMAT);
    CHECK_EQ_INT(s.n, 3); /* records 1-3 precede the damage in record 4 */
    ursa_wal_close(&w);
}

typedef struct appender {
    ursa_wal_t *w;
    int n;
    int failures;
} appender_t;

static void *append_thread(void *arg)
{
    appender_t *a = arg;
    ursa_err_t err;
    for (int i = 0; i < a->n; i++) {
        uint64_t lsn;
        char rec[64];
        int k = snprintf(rec, sizeof(rec), "record %d", i);
        if (ursa_wal_append(a->w, rec, (size_t)k, NULL, NULL, &lsn, &err) || ursa_wal_wait(a->w, lsn, &err))
            a->failures++;
    }
    return NULL;
}

static int count_any(void *ctx, uint64_t lsn, const uint8_t *p, size_t n)
{
    (*(uint64_t *)ctx)++;
    return 0;
}

TEST(group_commit_with_concurrent_appenders)
{
    fresh_dir();
    ursa_wal_t *w;
    ursa_err_t err;
    ursa_wal_opts_t o = {dir, true, 1 << 16, 0, buffered};
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    uint64_t n = 0;
    CHECK(ursa_wal_replay(w, count_any, &n, &err) == URSA_OK);
    pthread_t th[8];
    appender_t a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (appender_t){w, 500, 0};
        pthread_create(&th[i], NULL, append_thread, &a[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(a[i].failures, 0);
    }
    CHECK_EQ_INT(ursa_wal_durable(w), 4000);
    ursa_wal_close(&w);
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    n = 0;
    CHECK(ursa_wal_replay(w, count_any, &n, &err) == URSA_OK);
    CHECK_EQ_INT(n, 4000);
    ursa_wal_close(&w);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Record sizes around the block (4 KiB) and staging buffer (2 MiB) sizes,
 * big ones handed over with ursa_wal_append_buf, small ones between them,
 * across a restart: every byte comes back in order. */
static const size_t big_sizes[] = {
    1,       4071, 4072,           4073,   5000, (2 << 20) - 24,  (2 << 20) - 23,
    3 << 20, 7,    (5 << 20) + 17, 100000, 1,    (2 << 20) + 4096};
#define NBIG (sizeof(big_sizes) / sizeof(big_sizes[0]))

static uint8_t big_byte(uint64_t lsn, size_t k)
{
    return (uint8_t)(lsn * 31 + k * 7 + (k >> 12));
}

typedef struct big_seen {
    uint64_t n;
    bool ok;
} big_seen_t;

static int check_big(void *ctx, uint64_t lsn, const uint8_t *p, size_t n)
{
    big_seen_t *s = ctx;
    size_t want = big_sizes[s->n % NBIG];
    s->ok &= lsn == s->n + 1 && n == want;
    for (size_t k = 0; s->ok && k < n; k++) s->ok &= p[k] == big_byte(lsn, k);
    s->n++;
    return 0;
}

static void append_big(ursa_wal_t *w, uint64_t i)
{
    ursa_err_t err;
    size_t n = big_sizes[i % NBIG];
    uint64_t lsn, next = ursa_wal_next_lsn(w);
    if (n >= 4096) {
        ursa_buf_t b;
        CHECK(ursa_wal_record_buf(w, n, &b) == URSA_OK);
        for (size_t k = 0; k < n; k++) b.data[URSA_WAL_HEADER + k] = big_byte(next, k);
        b.len = URSA_WAL_HEADER + n;
        CHECK(ursa_wal_append_buf(w, &b, NULL, NULL, &lsn, &err) == URSA_OK);
    } else {
        uint8_t tmp[4096];
        for (size_t k = 0; k < n; k++) tmp[k] = big_byte(next, k);
        CHECK(ursa_wal_append(w, tmp, n, NULL, NULL, &lsn, &err) == URSA_OK);
    }
    CHECK(lsn == next);
    if (i % 3 == 0) CHECK(ursa_wal_wait(w, lsn, &err) == URSA_OK); /* some groups of one, some of several */
}

/* Whether the test directory's file system takes O_DIRECT. */
static bool direct_possible(void)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_DIRECT, 0644);
    if (fd >= 0) close(fd);
    unlink(path);
    return fd >= 0;
}

TEST(big_records_and_partial_blocks)
{
    fresh_dir();
    ursa_wal_t *w;
    ursa_err_t err;
    ursa_wal_opts_t o = {dir, true, 8 << 20, 0, buffered};
    big_seen_t s = {0, true};
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    CHECK(ursa_wal_replay(w, check_big, &s, &err) == URSA_OK && s.n == 0);
    for (uint64_t i = 0; i < 2 * NBIG; i++) append_big(w, i);
    ursa_wal_close(&w);
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    s = (big_seen_t){0, true};
    CHECK(ursa_wal_replay(w, check_big, &s, &err) == URSA_OK);
    CHECK(s.ok && s.n == 2 * NBIG);
    for (uint64_t i = 2 * NBIG; i < 3 * NBIG; i++) append_big(w, i);
    ursa_wal_close(&w);
    /* With direct I/O every segment is whole blocks (its last one padded). */
    if (!buffered && direct_possible()) {
        char cmd[800];
        snprintf(cmd, sizeof(cmd),
                 "for f in '%s'/*.wal; do echo $(( $(stat -c %%s \"$f\") %% 4096 )); done | sort -u", dir);
        FILE *p = popen(cmd, "r");
        char line[64] = "";
        CHECK(p && fgets(line, sizeof(line), p) && strcmp(line, "0\n") == 0 && !fgets(line, sizeof(line), p));
        if (p) pclose(p);
    }
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    s = (big_seen_t){0, true};
    CHECK(ursa_wal_replay(w, check_big, &s, &err) == URSA_OK);
    CHECK(s.ok && s.n == 3 * NBIG);
    CHECK(count_segments() > 3);
    ursa_wal_close(&w);
}

/* Records of append_big from wherever replay starts, to the last. */
typedef struct big_tail {
    uint64_t n, last;
    bool ok;
} big_tail_t;

static int check_big_tail(void *ctx, uint64_t lsn, const uint8_t *p, size_t n)
{
    big_tail_t *t = ctx;
    t->ok &= (t->n == 0 || lsn == t->last + 1) && n == big_sizes[(lsn - 1) % NBIG];
    for (size_t k = 0; t->ok && k < n; k++) t->ok &= p[k] == big_byte(lsn, k);
    t->n++;
    t->last = lsn;
    return 0;
}

/* Released segments are renamed to <name>.del and cut in steps before they
 * are unlinked; one left by a crash part way (shortened, so replay would
 * call it damaged under its old name) is deleted at open, never replayed. */
TEST(released_segments_go_through_del_files)
{
    fresh_dir();
    ursa_wal_t *w;
    ursa_err_t err;
    ursa_wal_opts_t o = {dir, true, 8 << 20, 0, buffered};
    big_seen_t s = {0, true};
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    CHECK(ursa_wal_replay(w, check_big, &s, &err) == URSA_OK);
    for (uint64_t i = 0; i < 3 * NBIG; i++) append_big(w, i);
    int before = count_segments();
    CHECK(before > 3);
    ursa_wal_release(w, ursa_wal_next_lsn(w)); /* all published: every closed segment goes */
    CHECK_EQ_INT(count_segments(), 1);
    CHECK_EQ_INT(count_files("\\.del"), 0);
    ursa_wal_close(&w);

    char path[700];
    snprintf(path, sizeof(path), "%s/00000000000000000001.wal.del", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "UWAL half a record", 18) == 18);
    if (fd >= 0) close(fd);
    CHECK(ursa_wal_open(&w, &o, &err) == URSA_OK);
    big_tail_t t = {0, 0, true};
    CHECK(ursa_wal_replay(w, check_big_tail, &t, &err) == URSA_OK);
    CHECK(t.ok && t.n > 0 && t.n < 3 * NBIG && t.last == 3 * NBIG);
    CHECK_EQ_INT(count_files("\\.del"), 0);
    ursa_wal_close(&w);
}

int main(void)
{
    for (int pass = 0; pass < 2; pass++) {
        buffered = pass == 1;
        printf("-- %s\n",
               buffered ? "through the page cache" : "direct I/O (where the file system allows it)");
        RUN(replay_across_segments_and_restarts);
        RUN(segments_end_by_age);
        RUN(a_start_that_logged_nothing_loses_nothing_later);
        RUN(append_buf_takes_the_buffer);
        RUN(torn_tail_is_cut);
        RUN(damage_in_the_middle_is_an_error);
        RUN(group_commit_with_concurrent_appenders);
        RUN(big_records_and_partial_blocks);
        RUN(released_segments_go_through_del_files);
    }
    return TEST_EXIT();
}
