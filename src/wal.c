/*
 * wal.c -- the write-ahead log (see wal.h).
 *
 * Design. Segment files are named by the LSN of their first record
 * (<dir>/<020 digits>.wal) and hold records back to back:
 *
 *   u32 magic "UWAL" | u32 crc32c of the rest | u32 payload length | u32 0 |
 *   u64 lsn | payload
 *
 * Appenders put their record (a copy, or the caller's buffer taken over:
 * ursa_wal_append_buf) on a pending list under the lock; one
 * writer thread takes the whole list, writes it and calls fdatasync()
 * once, then publishes the new durable LSN and wakes every waiter: group
 * commit. A new segment starts at open and whenever the current one passes
 * the size limit; the directory is fsynced when a segment is created or
 * deleted. That I/O (the old segment's sync, the new file, the directory;
 * deleting released segments) happens outside the log's lock, which every
 * append takes: under it, an append waited milliseconds behind it. A
 * released segment is renamed to <name>.del and cut a few MiB at a time
 * before it is unlinked (delete_gradually: on a disk with online discard a
 * whole segment's discard stalled every sync behind it); open deletes
 * .del files a crash left. A segment also ends once it is an hour old
 * (URSA_WAL_SEGMENT_MAX_AGE_S by default), so that a closed segment is released soon
 * after its rows are published: a restart replays (and checks against the
 * node's files and its table's commits) only about the last hour of
 * published records, and the log's disk is not held for days by a dataset
 * that flushes rarely.
 *
 * Direct I/O. With durability fsync, segments are opened with O_DIRECT
 * where the file system allows it: the writer copies records into an aligned staging buffer and
 * writes whole 4 KiB blocks from it, straight to the device. Through the
 * page cache, write() spent most of its time copying into freshly
 * allocated cache pages (a third of the server's samples for 85 MB requests,
 * at 0.39-5.9 GB/s by dd on these machines) for data read only after a
 * crash. The last, partial block of a group is written padded with zeros
 * and kept in the staging buffer; the next group writes it again with more
 * records after those bytes (its earlier bytes are the same, so a torn
 * rewrite cannot damage a record already acknowledged). A segment
 * therefore ends with fewer than 4096 zero bytes after its last record,
 * which replay accepts as padding. Where O_DIRECT is refused (tmpfs before Linux 6.6, some
 * overlay file systems), and with durability none (where the answer waits
 * for the write: a small write() to the cache takes microseconds, a direct
 * one waits for the device), the log writes through the page cache.
 *
 * One process per log: open takes flock() on <dir>/LOCK and keeps it until
 * close (the kernel lets go when the process dies), so a second node
 * started on the same directory is refused instead of interleaving records.
 *
 * Invariants: LSNs are consecutive; records reach the file in LSN order;
 * durable <= last written. Failure: after a failed write or sync the log
 * is "failed" and refuses appends and waits (the process must restart and
 * replay: whatever the page cache may hold is not trusted).
 *
 * Replay checks magic, length, CRC and LSN continuity. At the first bad
 * record of the last segment it looks for any whole record further on: if
 * there is none, this is a torn tail from a crash and the file is cut
 * there; if there is one, or the bad record is in an earlier segment, the
 * log is damaged and replay fails naming the file and offset.
 */
#include "wal.h"

#include "crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC      0x4C415755u /* "UWAL" little-endian */
#define HDR        24
#define MAX_RECORD ((size_t)1 << 31)

typedef struct pending {
    struct pending *next;
    size_t len, cap;
    uint8_t *data; /* header + payload: inline_data, or a buffer taken from the caller (cap bytes) */
    uint8_t inline_data[];
} pending_t;

/* The largest record buffer kept for reuse (see ursa_wal_record_buf). */
#define SPARE_MAX ((size_t)320 << 20)

typedef struct waiter {
    struct waiter *next;
    uint64_t lsn;
    void (*cb)(void *ctx, int rc);
    void *ctx;
} waiter_t;

typedef struct segment {
    uint64_t first_lsn;
    uint64_t bytes;
} segment_t;

/* Direct I/O: block size for offsets, lengths and buffer addresses, and the
 * staging buffer's size. */
#define BLOCK ((size_t)4096)
#define STAGE ((size_t)2 << 20)

struct ursa_wal {
    char *dir;
    bool fsync;
    size_t segment_bytes;
    uint64_t floor;

    pthread_mutex_t mu;
    pthread_cond_t work; /* the writer waits for records */
    pthread_cond_t done; /* waiters wait for durability */
    pending_t *head, **tail;
    uint8_t *spare; /* a written record's buffer, kept for the next record (under mu) */
    size_t spare_cap;
    waiter_t *waiters; /* ursa_wal_notify callbacks not yet called */
    uint64_t *pins;    /* ursa_wal_pin: LSNs that releases keep (a multiset) */
    size_t npins, pins_cap;
    uint64_t next_lsn;
    uint64_t written; /* highest LSN written */
    uint64_t durable; /* highest LSN synced */
    int failed;
    char failure[200];
    bool stop;
    bool started;
    pthread_t th;

    /* segments, oldest first; the last is open for appending (owned by the
     * writer thread once started) */
    segment_t *segs;
    size_t nsegs, cap;
    int fd;
    int64_t seg_started_ms; /* when the open segment began (CLOCK_MONOTONIC_COARSE ms) */
    int64_t seg_max_age_ms;
    int lock_fd;    /* <dir>/LOCK, flock()ed: one process per log */
    uint64_t bytes; /* all segments */

    /* direct I/O (writer thread; set up at replay) */
    bool direct;
    uint8_t *stage_mem, *stage; /* stage: stage_mem aligned to BLOCK */
    size_t staged;              /* bytes in stage: file content from stage_off on */
    uint64_t stage_off;         /* file offset of stage[0], a multiple of BLOCK */
};

static void seg_path(const ursa_wal_t *w, uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%s/%020llu.wal", w->dir, (unsigned long long)first);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int add_segment(ursa_wal_t *w, uint64_t first, uint64_t bytes)
{
    if (w->nsegs == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        segment_t *p = ursa_realloc(w->segs, cap * sizeof(*p));
        if (!p) return URSA_ENOMEM;
        w->segs = p;
        w->cap = cap;
    }
    w->segs[w->nsegs].first_lsn = first;
    w->segs[w->nsegs].bytes = bytes;
    w->nsegs++;
    return URSA_OK;
}

static int stage_write(ursa_wal_t *w);

/* Milliseconds, not whole seconds: with whole seconds a segment opened at
 * x.999 s counted as a second old at x+1.0 s. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts a new segment whose first record will be `first`. */
static int new_segment(ursa_wal_t *w, uint64_t first, ursa_err_t *err)
{
    char path[4096];
    seg_path(w, first, path, sizeof(path));
    if (w->fd >= 0) {
        if (w->direct && w->staged && stage_write(w))
            return ursa_err_set(err, URSA_EIO, "WAL write: %s", strerror(errno));
        if (w->fsync && fdatasync(w->fd)) return ursa_err_set(err, URSA_EIO, "WAL sync: %s", strerror(errno));
        close(w->fd);
        w->fd = -1;
    }
    int fd = -1;
    if (w->direct) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EINVAL) {
            ursa_warn("WAL %s: the file system refuses direct I/O; writing through the page cache", w->dir);
            w->direct = false;
        }
    }
    if (!w->direct) fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ursa_err_set(err, URSA_EIO, "WAL create %s: %s", path, strerror(errno));
    w->staged = 0;
    w->stage_off = 0;
    if (fsync_dir(w->dir)) {
        close(fd);
        return ursa_err_set(err, URSA_EIO, "WAL fsync %s: %s", w->dir, strerror(errno));
    }
    pthread_mutex_lock(&w->mu);
    int rc = add_segment(w, first, 0);
    pthread_mutex_unlock(&w->mu);
    if (rc) {
        close(fd);
        return rc;
    }
    w->fd = fd;
    w->seg_started_ms = mono_ms();
    return URSA_OK;
}

int ursa_wal_open(ursa_wal_t **out, const ursa_wal_opts_t *o, ursa_err_t *err)
{
    *out = NULL;
    if (mkdir(o->dir, 0755) && errno != EEXIST)
        return ursa_err_set(err, URSA_EIO, "WAL directory %s: %s", o->dir, strerror(errno));
    /* Two processes appending to one log would interleave their records:
     * the second is refused while the first holds the lock (the kernel drops
     * it when the holder dies, kill -9 included). */
    char lock[4096];
    snprintf(lock, sizeof(lock), "%s/LOCK", o->dir);
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) return ursa_err_set(err, URSA_EIO, "WAL lock %s: %s", lock, strerror(errno));
    if (flock(lfd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        close(lfd);
        return e == EWOULDBLOCK
                   ? ursa_err_set(err, URSA_EEXIST,
                                  "the log in %s is in use by another process (every node needs a "
                                  "log of its own: --wal-dir)",
                                  o->dir)
                   : ursa_err_set(err, URSA_EIO, "WAL lock %s: %s", lock, strerror(e));
    }
    ursa_wal_t *w = ursa_calloc(1, sizeof(*w));
    if (!w) {
        close(lfd);
        return URSA_ENOMEM;
    }
    w->lock_fd = lfd;
    w->dir = ursa_strdup(o->dir);
    if (!w->dir) {
        close(lfd);
        ursa_free(w);
        return URSA_ENOMEM;
    }
    w->fsync = o->fsync;
    w->direct = o->fsync && !o->buffered; /* see "Direct I/O" above: only where the answer waits for a sync */
    w->segment_bytes = o->segment_bytes ? o->segment_bytes : (size_t)64 << 20;
    w->seg_max_age_ms = 1000 * (o->segment_max_age_s ? o->segment_max_age_s : URSA_WAL_SEGMENT_MAX_AGE_S);
    w->floor = o->floor;
    w->fd = -1;
    w->tail = &w->head;
    w->next_lsn = 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    *out = w;
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Replay
 * ------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Checks the record at p (avail bytes); returns its total length or 0. */
static size_t record_ok(const uint8_t *p, size_t avail, uint64_t *lsn)
{
    uint32_t magic, crc, len;
    if (avail < HDR) return 0;
    memcpy(&magic, p, 4);
    memcpy(&crc, p + 4, 4);
    memcpy(&len, p + 8, 4);
    if (magic != MAGIC || (size_t)len > avail - HDR) return 0;
    if (ursa_crc32c(0, p + 8, HDR - 8 + (size_t)len) != crc) return 0;
    memcpy(lsn, p + 16, 8);
    return HDR + (size_t)len;
}

/* The n bytes at p, the end of a file of size len, are the zeros a
 * direct-I/O segment ends with (fewer than a block). */
static bool is_padding(const uint8_t *p, size_t n, size_t len)
{
    if (len % BLOCK || n >= BLOCK) return false;
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static int read_all(const char *path, ursa_buf_t *b, ursa_err_t *err)
{
    b->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ursa_err_set(err, URSA_EIO, "WAL open %s: %s", path, strerror(errno));
    int rc = URSA_OK;
    for (;;) {
        if ((rc = ursa_buf_reserve(b, 1 << 20))) break;
        ssize_t k = read(fd, b->data + b->len, b->cap - b->len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = ursa_err_set(err, URSA_EIO, "WAL read %s: %s", path, strerror(errno));
            break;
        }
        if (k == 0) break;
        b->len += (size_t)k;
    }
    close(fd);
    return rc;
}

static void *writer(void *arg);

int ursa_wal_replay(ursa_wal_t *w, int (*cb)(void *ctx, uint64_t lsn, const uint8_t *p, size_t n), void *ctx,
                    ursa_err_t *err)
{
    uint64_t *firsts = NULL;
    size_t n = 0, cap = 0;
    int rc = URSA_OK;
    DIR *d = opendir(w->dir);
    if (!d) return ursa_err_set(err, URSA_EIO, "WAL directory %s: %s", w->dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char *end;
        if (len == 28 && !strcmp(de->d_name + 20, ".wal.del")) { /* released before a crash */
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", w->dir, de->d_name);
            if (unlink(path) && errno != ENOENT) ursa_warn("WAL delete %s: %s", path, strerror(errno));
            continue;
        }
        if (len != 24 || strcmp(de->d_name + 20, ".wal")) continue;
        unsigned long long first = strtoull(de->d_name, &end, 10);
        if (end != de->d_name + 20) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *p = ursa_realloc(firsts, cap * sizeof(*p));
            if (!p) {
                rc = URSA_ENOMEM;
                break;
            }
            firsts = p;
        }
        firsts[n++] = first;
    }
    closedir(d);
    if (rc) goto out;
    if (n > 1) qsort(firsts, n, sizeof(*firsts), cmp_u64);

    ursa_buf_t buf = {0};
    uint64_t expect = n ? firsts[0] : 1;
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        char path[4096];
        seg_path(w, firsts[i], path, sizeof(path));
        if ((rc = read_all(path, &buf, err))) break;
        if (firsts[i] != expect) {
            rc = ursa_err_set(err, URSA_EFORMAT,
                              "WAL %s starts at LSN %llu, expected %llu: records are missing", path,
                              (unsigned long long)firsts[i], (unsigned long long)expect);
            break;
        }
        size_t off = 0;
        while (off < buf.len && rc == URSA_OK) {
            uint64_t lsn;
            size_t k = record_ok(buf.data + off, buf.len - off, &lsn);
            if (k && lsn != expect) {
                rc = ursa_err_set(err, URSA_EFORMAT, "WAL %s offset %zu: LSN %llu, expected %llu", path, off,
                                  (unsigned long long)lsn, (unsigned long long)expect);
                break;
            }
            if (!k && is_padding(buf.data + off, buf.len - off, buf.len)) break;
            if (!k) {
                /* Is there a whole record anywhere after this point? */
                bool later = false;
                for (size_t j = off + 1; j + HDR <= buf.len && !later; j++) {
                    uint64_t l2;
                    later = buf.data[j] == 'U' && record_ok(buf.data + j, buf.len - j, &l2) != 0;
                }
                if (i + 1 < n || later) {
                    rc = ursa_err_set(err, URSA_EFORMAT,
                                      "WAL %s is damaged at offset %zu (a whole record follows): refusing to "
                                      "skip records; move the file away to start without them",
                                      path, off);
                    break;
                }
                ursa_warn("WAL %s: torn tail at offset %zu (%zu bytes) cut off", path, off, buf.len - off);
                if (truncate(path, (off_t)off))
                    rc = ursa_err_set(err, URSA_EIO, "WAL truncate %s: %s", path, strerror(errno));
                buf.len = off;
                break;
            }
            rc = cb(ctx, lsn, buf.data + off + HDR, k - HDR);
            off += k;
            expect = lsn + 1;
        }
        if (rc == URSA_OK) {
            rc = add_segment(w, firsts[i], buf.len);
            w->bytes += buf.len;
        }
    }
    ursa_buf_free(&buf);
    if (rc) goto out;
    /* LSNs name published files, so they must never be used twice. The
     * store's mark says which were: a log that ends below it is not this
     * node's current log. An empty log (moved away, or a new directory)
     * continues at the mark; so does one that lost its unsynced tail with
     * durability "none". Anything else is refused. */
    if (w->floor > expect) {
        uint64_t replayed = w->bytes;
        if (replayed && w->fsync) {
            rc = ursa_err_set(
                err, URSA_EFORMAT,
                "the write-ahead log in %s ends at LSN %llu but this node has published files up to "
                "LSN %llu: it is not this node's current log; move it away to start",
                w->dir, (unsigned long long)(expect - 1), (unsigned long long)(w->floor - 1));
            goto out;
        }
        ursa_warn("WAL %s: numbering continues at LSN %llu, after what this node has published", w->dir,
                  (unsigned long long)w->floor);
        expect = w->floor;
    }
    w->next_lsn = expect;
    w->written = w->durable = expect - 1;
    /* New records go to a new segment; old ones are never appended to. A
     * segment already named by the next LSN holds no record (a start that
     * logged nothing before it ended): it is the one reopened, empty, not
     * listed twice: a release would otherwise delete the listed copy, which
     * is the open segment's file. */
    while (w->nsegs && w->segs[w->nsegs - 1].first_lsn >= w->next_lsn) {
        w->bytes -= w->segs[w->nsegs - 1].bytes;
        w->nsegs--;
    }
    if (w->direct) {
        w->stage_mem = ursa_malloc(STAGE + BLOCK);
        if (!w->stage_mem) {
            rc = URSA_ENOMEM;
            goto out;
        }
        w->stage = (uint8_t *)(((uintptr_t)w->stage_mem + BLOCK - 1) & ~(uintptr_t)(BLOCK - 1));
    }
    if ((rc = new_segment(w, w->next_lsn, err))) goto out;
    if (!w->direct) {
        ursa_free(w->stage_mem);
        w->stage_mem = w->stage = NULL;
    }
    if (pthread_create(&w->th, NULL, writer, w)) {
        rc = ursa_err_set(err, URSA_ENOMEM, "cannot start the WAL writer thread");
        goto out;
    }
    w->started = true;
out:
    ursa_free(firsts);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Appending and group commit
 * ------------------------------------------------------------------------- */

/* Frees a written record. Its buffer, when it was the caller's, becomes the
 * spare if there is none yet: the next request's record is encoded into
 * memory that is already mapped, instead of fresh pages the kernel must
 * zero first (that zeroing was a quarter of the server's CPU time with
 * 100 MB requests). */
static void pending_free(ursa_wal_t *w, pending_t *r)
{
    if (r->data != r->inline_data) {
        pthread_mutex_lock(&w->mu);
        if (!w->spare && r->cap <= SPARE_MAX) {
            w->spare = r->data;
            w->spare_cap = r->cap;
            r->data = NULL;
        }
        pthread_mutex_unlock(&w->mu);
        ursa_free(r->data);
    }
    ursa_free(r);
}

int ursa_wal_record_buf(ursa_wal_t *w, size_t n, ursa_buf_t *b)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_lock(&w->mu);
    if (w->spare && w->spare_cap >= URSA_WAL_HEADER + n) {
        b->data = w->spare;
        b->cap = w->spare_cap;
        w->spare = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (!b->data && ursa_buf_reserve(b, URSA_WAL_HEADER + n)) return URSA_ENOMEM;
    b->len = URSA_WAL_HEADER;
    return URSA_OK;
}

/* Numbers record r (its header at r->data, the payload after it), queues
 * it and calls then, all under the lock. On failure r is not freed. */
static int enqueue(ursa_wal_t *w, pending_t *r, void (*then)(void *ctx, uint64_t lsn), void *ctx,
                   uint64_t *lsn, ursa_err_t *err)
{
    uint32_t magic = MAGIC, len = (uint32_t)(r->len - HDR), zero = 0;
    memcpy(r->data, &magic, 4);
    memcpy(r->data + 8, &len, 4);
    memcpy(r->data + 12, &zero, 4);
    pthread_mutex_lock(&w->mu);
    if (w->failed || !w->started) {
        int rc = ursa_err_set(err, URSA_EIO, "WAL unavailable: %s", w->failed ? w->failure : "not started");
        pthread_mutex_unlock(&w->mu);
        return rc;
    }
    uint64_t l = w->next_lsn++;
    memcpy(r->data + 16, &l,
           8); /* the writer adds the CRC: not on the request's thread, nor under the lock */
    *w->tail = r;
    w->tail = &r->next;
    if (then) then(ctx, l);
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    *lsn = l;
    return URSA_OK;
}

int ursa_wal_append(ursa_wal_t *w, const void *p, size_t n, void (*then)(void *ctx, uint64_t lsn), void *ctx,
                    uint64_t *lsn, ursa_err_t *err)
{
    if (n > MAX_RECORD) return ursa_err_set(err, URSA_ELIMIT, "WAL record of %zu bytes is too large", n);
    pending_t *r = ursa_malloc(sizeof(*r) + HDR + n);
    if (!r) return URSA_ENOMEM;
    r->next = NULL;
    r->len = r->cap = HDR + n;
    r->data = r->inline_data;
    memcpy(r->data + HDR, p, n);
    int rc = enqueue(w, r, then, ctx, lsn, err);
    if (rc) ursa_free(r);
    return rc;
}

int ursa_wal_append_buf(ursa_wal_t *w, ursa_buf_t *b, void (*then)(void *ctx, uint64_t lsn), void *ctx,
                        uint64_t *lsn, ursa_err_t *err)
{
    if (b->len < HDR) return ursa_err_set(err, URSA_EINVAL, "WAL record buffer without room for the header");
    if (b->len - HDR > MAX_RECORD)
        return ursa_err_set(err, URSA_ELIMIT, "WAL record of %zu bytes is too large", b->len - HDR);
    pending_t *r = ursa_malloc(sizeof(*r));
    if (!r) return URSA_ENOMEM;
    r->next = NULL;
    r->len = b->len;
    r->cap = b->cap;
    r->data = b->data;
    int rc = enqueue(w, r, then, ctx, lsn, err);
    if (rc) {
        ursa_free(r); /* the buffer stays the caller's */
        return rc;
    }
    memset(b, 0, sizeof(*b)); /* the log owns the storage now */
    return URSA_OK;
}

int ursa_wal_wait(ursa_wal_t *w, uint64_t lsn, ursa_err_t *err)
{
    int rc = URSA_OK;
    pthread_mutex_lock(&w->mu);
    uint64_t *mark = w->fsync ? &w->durable : &w->written;
    while (*mark < lsn && !w->failed && w->started && lsn < w->next_lsn) pthread_cond_wait(&w->done, &w->mu);
    if (*mark < lsn)
        rc = ursa_err_set(err, URSA_EIO, "WAL failed: %s",
                          w->failed    ? w->failure
                          : w->started ? "no such record"
                                       : "not started");
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int ursa_wal_notify(ursa_wal_t *w, uint64_t lsn, void (*cb)(void *ctx, int rc), void *ctx)
{
    waiter_t *n = ursa_malloc(sizeof(*n));
    if (!n) return URSA_ENOMEM;
    pthread_mutex_lock(&w->mu);
    uint64_t mark = w->fsync ? w->durable : w->written;
    if (mark >= lsn || w->failed) {
        int rc = mark >= lsn ? URSA_OK : URSA_EIO;
        pthread_mutex_unlock(&w->mu);
        ursa_free(n);
        cb(ctx, rc);
        return URSA_OK;
    }
    n->lsn = lsn;
    n->cb = cb;
    n->ctx = ctx;
    n->next = w->waiters;
    w->waiters = n;
    pthread_mutex_unlock(&w->mu);
    return URSA_OK;
}

/* Takes the waiters that are due (all of them when the log failed); the
 * caller holds the lock and calls them after releasing it. */
static waiter_t *due_waiters(ursa_wal_t *w)
{
    uint64_t mark = w->fsync ? w->durable : w->written;
    waiter_t *due = NULL, **p = &w->waiters;
    while (*p) {
        waiter_t *x = *p;
        if (x->lsn <= mark || w->failed) {
            *p = x->next;
            x->next = due;
            due = x;
        } else {
            p = &x->next;
        }
    }
    return due;
}

static void call_waiters(waiter_t *due, int rc)
{
    while (due) {
        waiter_t *x = due;
        due = x->next;
        x->cb(x->ctx, rc);
        ursa_free(x);
    }
}

uint64_t ursa_wal_durable(ursa_wal_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t d = w->fsync ? w->durable : w->written;
    pthread_mutex_unlock(&w->mu);
    return d;
}

uint64_t ursa_wal_next_lsn(ursa_wal_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->next_lsn;
    pthread_mutex_unlock(&w->mu);
    return n;
}

uint64_t ursa_wal_bytes(ursa_wal_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t b = w->bytes;
    pthread_mutex_unlock(&w->mu);
    return b;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes the staged bytes at stage_off, the last block padded with zeros;
 * keeps that block, when partial, for the next write. -1 with errno. */
static int stage_write(ursa_wal_t *w)
{
    size_t full = w->staged & ~(BLOCK - 1), n = (w->staged + BLOCK - 1) & ~(BLOCK - 1);
    memset(w->stage + w->staged, 0, n - w->staged);
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(w->fd, w->stage + done, n - done, (off_t)(w->stage_off + done));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0 || (size_t)k % BLOCK) { /* O_DIRECT writes whole blocks or fails */
            errno = EIO;
            return -1;
        }
        done += (size_t)k;
    }
    if (w->staged > full) memmove(w->stage, w->stage + full, w->staged - full);
    w->stage_off += full;
    w->staged -= full;
    return 0;
}

/* Appends n bytes to the open segment: through the staging buffer with
 * direct I/O (written when full; the caller writes the rest), else write().
 * -1 with errno. */
static int seg_append(ursa_wal_t *w, const uint8_t *p, size_t n)
{
    if (!w->direct) return write_all(w->fd, p, n);
    while (n) {
        size_t k = STAGE - w->staged < n ? STAGE - w->staged : n;
        memcpy(w->stage + w->staged, p, k);
        w->staged += k;
        p += k;
        n -= k;
        if (w->staged == STAGE && stage_write(w)) return -1;
    }
    return 0;
}

static void fail(ursa_wal_t *w, const char *what)
{
    pthread_mutex_lock(&w->mu);
    if (!w->failed) {
        w->failed = URSA_EIO;
        snprintf(w->failure, sizeof(w->failure), "%s: %s", what, strerror(errno));
        ursa_error("WAL %s: %s; acknowledging nothing more until restart", w->dir, w->failure);
    }
    pthread_cond_broadcast(&w->done);
    waiter_t *due = due_waiters(w);
    pthread_mutex_unlock(&w->mu);
    call_waiters(due, URSA_EIO);
}

static void *writer(void *arg)
{
    ursa_wal_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) pthread_cond_wait(&w->work, &w->mu);
        if (!w->head) break;
        pending_t *list = w->head;
        w->head = NULL;
        w->tail = &w->head;
        pthread_mutex_unlock(&w->mu);

        uint64_t last = 0;
        bool ok = !w->failed;
        while (list) {
            pending_t *r = list;
            list = r->next;
            if (ok) {
                /* The segment array is shared with ursa_wal_release(). */
                ursa_err_t e;
                uint32_t crc = ursa_crc32c(0, r->data + 8, r->len - 8);
                memcpy(r->data + 4, &crc, 4);
                memcpy(&last, r->data + 16, 8);
                pthread_mutex_lock(&w->mu);
                segment_t *cur = &w->segs[w->nsegs - 1];
                bool full = cur->bytes && (cur->bytes + r->len > w->segment_bytes ||
                                           mono_ms() - w->seg_started_ms >= w->seg_max_age_ms);
                pthread_mutex_unlock(&w->mu);
                /* Outside the lock: the old segment's sync and the new
                 * file's creation take milliseconds, and appenders need
                 * the lock for every request (new_segment takes it only to
                 * list the new segment). */
                int rc = full ? new_segment(w, last, &e) : URSA_OK;
                if (rc) {
                    errno = EIO;
                    fail(w, e.msg);
                    ok = false;
                } else if (seg_append(w, r->data, r->len)) {
                    fail(w, "write");
                    ok = false;
                } else {
                    pthread_mutex_lock(&w->mu);
                    w->segs[w->nsegs - 1].bytes += r->len;
                    w->bytes += r->len;
                    pthread_mutex_unlock(&w->mu);
                }
            }
            pending_free(w, r);
        }
        if (ok && w->direct && w->staged && stage_write(w)) {
            fail(w, "write");
            ok = false;
        }
        if (ok && w->fsync && fdatasync(w->fd)) {
            fail(w, "fdatasync");
            ok = false;
        }
        pthread_mutex_lock(&w->mu);
        if (ok) {
            w->written = last;
            w->durable = last;
        }
        pthread_cond_broadcast(&w->done);
        waiter_t *due = due_waiters(w);
        int frc = w->failed;
        pthread_mutex_unlock(&w->mu);
        call_waiters(due, frc ? URSA_EIO : URSA_OK);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int ursa_wal_pin(ursa_wal_t *w, uint64_t *lsn)
{
    pthread_mutex_lock(&w->mu);
    if (w->npins == w->pins_cap) {
        size_t cap = w->pins_cap ? w->pins_cap * 2 : 16;
        uint64_t *p = ursa_realloc(w->pins, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&w->mu);
            return URSA_ENOMEM;
        }
        w->pins = p;
        w->pins_cap = cap;
    }
    *lsn = w->pins[w->npins++] = w->next_lsn;
    pthread_mutex_unlock(&w->mu);
    return URSA_OK;
}

void ursa_wal_unpin(ursa_wal_t *w, uint64_t lsn)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->npins; i++)
        if (w->pins[i] == lsn) {
            w->pins[i] = w->pins[--w->npins];
            break;
        }
    pthread_mutex_unlock(&w->mu);
}

/* How many of the oldest segments hold only LSNs below min_needed and
 * every pin (the caller holds the lock). Segment i holds LSNs [first_i,
 * first_{i+1}); never the open one (nor a file of its name). */
static size_t droppable(const ursa_wal_t *w, uint64_t min_needed)
{
    for (size_t i = 0; i < w->npins; i++)
        if (w->pins[i] < min_needed) min_needed = w->pins[i];
    size_t drop = 0;
    uint64_t open_first = w->nsegs ? w->segs[w->nsegs - 1].first_lsn : 0;
    while (drop + 1 < w->nsegs && w->segs[drop + 1].first_lsn <= min_needed &&
           w->segs[drop].first_lsn != open_first)
        drop++;
    return drop;
}

uint64_t ursa_wal_releasable(ursa_wal_t *w, uint64_t min_needed)
{
    pthread_mutex_lock(&w->mu);
    size_t drop = droppable(w, min_needed);
    uint64_t cut = drop ? w->segs[drop].first_lsn : 0;
    pthread_mutex_unlock(&w->mu);
    return cut;
}

/* Deletes a released segment (already renamed to <name>.del) a few MiB at a
 * time: cut from its end in steps of DELETE_STEP with a pause between them,
 * then unlinked. On a file system mounted with online discard, freeing
 * blocks sends the device a discard that the log's own writes and syncs
 * wait behind: unlinking a 64 MiB segment took 23-27 ms on these machines,
 * and acknowledgements stalled as long right after each flush released one;
 * a step waits for 4 MiB's worth. Only for segments, which nothing else
 * reads (a query may be reading a store file while it is deleted: a cut
 * would shorten it under the reader). Returns 0 or -1 with errno, as
 * unlink(2) does. */
#define DELETE_STEP ((off_t)4 << 20)

static int delete_gradually(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        for (off_t size = st.st_size; size > DELETE_STEP;) { /* a failed cut leaves the rest to unlink() */
            size -= DELETE_STEP;
            if (ftruncate(fd, size)) break;
            struct timespec pause = {0, 2 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    if (fd >= 0) close(fd);
    return unlink(path);
}

/* The segments are taken off the list under the lock and deleted after
 * it: deleting a 64 MiB file and syncing the directory take milliseconds,
 * during which every append would wait for the lock. Each is first renamed
 * to <name>.del, which replay never reads and open deletes: a crash while
 * one is cut leaves no shortened segment for replay to call damaged; a crash
 * before the renames leaves segments that replay finds published. */
void ursa_wal_release(ursa_wal_t *w, uint64_t min_needed)
{
    uint64_t firsts[64];
    pthread_mutex_lock(&w->mu);
    size_t drop = droppable(w, min_needed);
    if (drop > URSA_ARRAY_LEN(firsts)) drop = URSA_ARRAY_LEN(firsts); /* the rest at the next release */
    for (size_t i = 0; i < drop; i++) {
        firsts[i] = w->segs[i].first_lsn;
        w->bytes -= w->segs[i].bytes;
    }
    if (drop) {
        memmove(w->segs, w->segs + drop, (w->nsegs - drop) * sizeof(*w->segs));
        w->nsegs -= drop;
    }
    pthread_mutex_unlock(&w->mu);
    bool renamed[URSA_ARRAY_LEN(firsts)];
    char path[4096], del[4096 + 4];
    for (size_t i = 0; i < drop; i++) {
        seg_path(w, firsts[i], path, sizeof(path));
        snprintf(del, sizeof(del), "%s.del", path);
        renamed[i] = rename(path, del) == 0;
        if (!renamed[i] && errno != ENOENT) ursa_error("WAL delete %s: %s", path, strerror(errno));
    }
    if (drop) fsync_dir(w->dir);
    for (size_t i = 0; i < drop; i++) {
        if (!renamed[i]) continue;
        seg_path(w, firsts[i], path, sizeof(path));
        snprintf(del, sizeof(del), "%s.del", path);
        if (delete_gradually(del) && errno != ENOENT) ursa_error("WAL delete %s: %s", del, strerror(errno));
    }
}

void ursa_wal_close(ursa_wal_t **wp)
{
    ursa_wal_t *w = *wp;
    if (!w) return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
    }
    while (w->head) {
        pending_t *r = w->head;
        w->head = r->next;
        pending_free(w, r);
    }
    call_waiters(w->waiters, URSA_EIO); /* none should be left: the writer synced everything */
    w->waiters = NULL;
    if (w->fd >= 0) {
        if (w->fsync) fdatasync(w->fd);
        close(w->fd);
    }
    close(w->lock_fd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    ursa_free(w->spare);
    ursa_free(w->stage_mem);
    ursa_free(w->pins);
    ursa_free(w->segs);
    ursa_free(w->dir);
    ursa_free(w);
    *wp = NULL;
}
