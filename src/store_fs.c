/*
 * store_fs.c -- the local directory store.
 *
 * A key maps to <root>/<key>. Objects are written to a hidden temporary file
 * in the target directory (".<name>.tmp-<pid>-<n>"), fsynced, renamed over
 * the final name and the directory is fsynced, so a reader sees either no
 * object or the whole object, also after a crash. Listings skip dot files,
 * which hides temporaries.
 *
 * Error messages name keys (or key prefixes), never local paths: they reach
 * clients (a failed flush answers with its message), and where the store
 * lies on this machine is none of theirs. Each failure also logs the full
 * path for the operator (fs_fail).
 *
 * A process killed while writing leaves its temporary behind. At start the
 * owner of the store's names (the catalog) calls remove_temps, which walks
 * the tree and asks, for each temporary, whether the key it was written for
 * is one no live process may still be writing (several nodes may share
 * the directory); those are removed and logged.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FS_WRITE_BUF (256u << 10)

typedef struct fs_store {
    ursa_store_t base;
    char *root;
} fs_store_t;

typedef struct fs_writer {
    ursa_store_writer_t base;
    int fd;
    char *tmp;
    char *final;
    const char *key; /* the key, in final */
    ursa_buf_t buf;
} fs_writer_t;

static atomic_uint tmp_counter;

/* Sets err to "<op> <key>: <errno's text>" and logs the path instead of the key. */
static int fs_fail(ursa_err_t *err, const char *op, const char *key, const char *path)
{
    int e = errno;
    ursa_warn("local store: %s %s: %s", op, path, strerror(e));
    return ursa_err_set(err, URSA_EIO, "%s %s: %s", op, key, strerror(e));
}

static char *join(const fs_store_t *fs, const char *key)
{
    size_t a = strlen(fs->root), b = strlen(key);
    char *p = ursa_malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, fs->root, a);
    p[a] = '/';
    memcpy(p + a + 1, key, b + 1);
    return p;
}

/* Creates every missing directory of path up to its last '/', from
 * path + keyoff on (the key part of the path: the root exists) or, with
 * keyoff 0, the whole path. Messages name the part from keyoff on. */
static int mkdir_parents(char *path, size_t keyoff, ursa_err_t *err)
{
    for (char *p = path + (keyoff ? keyoff : 1); *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0755) && errno != EEXIST ? fs_fail(err, "mkdir", path + keyoff, path) : URSA_OK;
        *p = '/';
        if (rc) return rc;
    }
    return URSA_OK;
}

static int fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n == 0 || n >= sizeof(dir)) return 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void writer_free(fs_writer_t *w)
{
    ursa_free(w->tmp);
    ursa_free(w->final);
    ursa_buf_free(&w->buf);
    ursa_free(w);
}

static int fs_writer_open(ursa_store_t *st, const char *key, ursa_store_writer_t **out, ursa_err_t *err)
{
    fs_store_t *fs = (fs_store_t *)st;
    int rc = URSA_ENOMEM;
    fs_writer_t *w = ursa_calloc(1, sizeof(*w));
    if (!w) return URSA_ENOMEM;
    w->fd = -1;
    if (!(w->final = join(fs, key))) goto fail;
    w->key = w->final + strlen(fs->root) + 1;
    const char *slash = strrchr(w->final, '/');
    size_t dirlen = (size_t)(slash - w->final);
    size_t n = strlen(w->final) + 64;
    if (!(w->tmp = ursa_malloc(n))) goto fail;
    snprintf(w->tmp, n, "%.*s/.%s.tmp-%ld-%u", (int)dirlen, w->final, slash + 1, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));
    if ((rc = mkdir_parents(w->final, (size_t)(w->key - w->final), err))) goto fail;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = fs_fail(err, "create", w->key, w->tmp);
        goto fail;
    }
    *out = &w->base;
    return URSA_OK;
fail:
    writer_free(w);
    return rc;
}

static int flush_buf(fs_writer_t *w, ursa_err_t *err)
{
    if (w->buf.len && write_all(w->fd, w->buf.data, w->buf.len)) return fs_fail(err, "write", w->key, w->tmp);
    w->buf.len = 0;
    return URSA_OK;
}

static int fs_writer_write(ursa_store_writer_t *base, const void *p, size_t n, ursa_err_t *err)
{
    fs_writer_t *w = (fs_writer_t *)base;
    int rc;
    if (w->buf.len + n > FS_WRITE_BUF && (rc = flush_buf(w, err))) return rc;
    if (n >= FS_WRITE_BUF) {
        if (write_all(w->fd, p, n)) return fs_fail(err, "write", w->key, w->tmp);
        return URSA_OK;
    }
    return ursa_buf_append(&w->buf, p, n);
}

static void fs_writer_abort(ursa_store_writer_t *base)
{
    fs_writer_t *w = (fs_writer_t *)base;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    writer_free(w);
}

static int fs_writer_commit(ursa_store_writer_t *base, ursa_err_t *err)
{
    fs_writer_t *w = (fs_writer_t *)base;
    int rc = flush_buf(w, err);
    if (rc) goto fail;
    if (fsync(w->fd)) {
        rc = fs_fail(err, "fsync", w->key, w->tmp);
        goto fail;
    }
    int r = close(w->fd);
    w->fd = -1;
    if (r) {
        rc = fs_fail(err, "close", w->key, w->tmp);
        goto fail;
    }
    if (rename(w->tmp, w->final)) {
        rc = fs_fail(err, "rename", w->key, w->final);
        goto fail;
    }
    if (fsync_parent(w->final)) {
        /* The object is in place; only its durability across a power cut
         * is in doubt. Report it so the caller keeps its rows. */
        rc = fs_fail(err, "fsync the directory of", w->key, w->final);
        writer_free(w);
        return rc;
    }
    writer_free(w);
    return URSA_OK;
fail:
    fs_writer_abort(base);
    return rc;
}

static int fs_put(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    ursa_store_writer_t *w;
    int rc = fs_writer_open(st, key, &w, err);
    if (rc) return rc;
    w->st = st;
    if ((rc = fs_writer_write(w, data, n, err))) {
        fs_writer_abort(w);
        return rc;
    }
    return fs_writer_commit(w, err);
}

static int fs_get(ursa_store_t *st, const char *key, ursa_buf_t *out, ursa_err_t *err)
{
    char *path = join((fs_store_t *)st, key);
    if (!path) return URSA_ENOMEM;
    int rc = URSA_OK;
    out->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? ursa_err_set(err, URSA_ENOTFOUND, "no such object: %s", key)
                             : fs_fail(err, "open", key, path);
        goto out;
    }
    for (;;) {
        if ((rc = ursa_buf_reserve(out, 64 << 10))) break;
        ssize_t k = read(fd, out->data + out->len, out->cap - out->len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = fs_fail(err, "read", key, path);
            break;
        }
        if (k == 0) break;
        out->len += (size_t)k;
    }
    close(fd);
out:
    ursa_free(path);
    return rc;
}

static int fs_del(ursa_store_t *st, const char *key, ursa_err_t *err)
{
    char *path = join((fs_store_t *)st, key);
    if (!path) return URSA_ENOMEM;
    int rc = URSA_OK;
    if (unlink(path) && errno != ENOENT) rc = fs_fail(err, "unlink", key, path);
    ursa_free(path);
    return rc;
}

static int fs_del_many(ursa_store_t *st, const char *const *keys, size_t n, ursa_err_t *err)
{
    int rc = URSA_OK;
    for (size_t i = 0; i < n && rc == URSA_OK; i++) rc = fs_del(st, keys[i], err);
    return rc;
}

static int fs_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                        ursa_err_t *err)
{
    char *path = join((fs_store_t *)st, key);
    if (!path) return URSA_ENOMEM;
    int rc = URSA_OK;
    out->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? ursa_err_set(err, URSA_ENOTFOUND, "no such object: %s", key)
                             : fs_fail(err, "open", key, path);
        goto out;
    }
    if ((rc = ursa_buf_reserve(out, (size_t)len))) goto close_out;
    while (out->len < len) {
        ssize_t k = pread(fd, out->data + out->len, (size_t)(len - out->len), (off_t)(off + out->len));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = fs_fail(err, "read", key, path);
            break;
        }
        if (k == 0) break;
        out->len += (size_t)k;
    }
close_out:
    close(fd);
out:
    ursa_free(path);
    return rc;
}

/* The version token is the file's identity and its last change: device,
 * inode, mtime and ctime in nanoseconds. A write through this store is a
 * rename of a new file, so it always brings a new inode; a rewrite in
 * place by another program changes mtime and ctime, unless it lands in the
 * same clock tick as the previous write (the file system's timestamp
 * granularity, a few milliseconds at worst on Linux) with the same size. */
static int fs_stat(ursa_store_t *st, const char *key, ursa_store_info_t *info, ursa_err_t *err)
{
    char *path = join((fs_store_t *)st, key);
    if (!path) return URSA_ENOMEM;
    struct stat sb;
    int rc = URSA_OK;
    if (stat(path, &sb))
        rc = errno == ENOENT ? ursa_err_set(err, URSA_ENOTFOUND, "no such object: %s", key)
                             : fs_fail(err, "stat", key, path);
    else if (!S_ISREG(sb.st_mode))
        rc = ursa_err_set(err, URSA_ENOTFOUND, "no such object: %s", key);
    if (rc == URSA_OK) {
        info->size = (uint64_t)sb.st_size;
        snprintf(info->version, sizeof(info->version), "%llx:%llx:%lld.%09ld:%lld.%09ld",
                 (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino, (long long)sb.st_mtim.tv_sec,
                 (long)sb.st_mtim.tv_nsec, (long long)sb.st_ctim.tv_sec, (long)sb.st_ctim.tv_nsec);
    }
    ursa_free(path);
    return rc;
}

/* Like a commit, but link() instead of rename(): it fails when the name
 * exists, atomically. */
static int fs_put_if_absent(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    ursa_store_writer_t *base;
    int rc = fs_writer_open(st, key, &base, err);
    if (rc) return rc;
    base->st = st;
    fs_writer_t *w = (fs_writer_t *)base;
    if ((rc = fs_writer_write(base, data, n, err)) || (rc = flush_buf(w, err))) goto out;
    if (fsync(w->fd)) {
        rc = fs_fail(err, "fsync", key, w->tmp);
        goto out;
    }
    if (link(w->tmp, w->final)) {
        rc = errno == EEXIST ? ursa_err_set(err, URSA_EEXIST, "object exists: %s", key)
                             : fs_fail(err, "link", key, w->final);
        goto out;
    }
    if (fsync_parent(w->final)) rc = fs_fail(err, "fsync the directory of", key, w->final);
out:
    fs_writer_abort(base); /* removes the temporary name */
    return rc;
}

/* ---------------------------------------------------------------------------
 * Listing. Each directory's entries are sorted with a '/' after directory
 * names, which yields the byte order of the full keys.
 * ------------------------------------------------------------------------- */

typedef struct entry {
    char *name; /* with a trailing '/' for directories */
} entry_t;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

/* Reads directory path, whose key prefix is dir_key (for messages). */
static int read_dir(const char *path, const char *dir_key, entry_t **out, size_t *n, ursa_err_t *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return URSA_OK;
        return fs_fail(err, "list", *dir_key ? dir_key : "the store's top level", path);
    }
    size_t cap = 0;
    int rc = URSA_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat sb;
            if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0) is_dir = S_ISDIR(sb.st_mode);
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            entry_t *p = ursa_realloc(*out, cap * sizeof(entry_t));
            if (!p) {
                rc = URSA_ENOMEM;
                break;
            }
            *out = p;
        }
        size_t len = strlen(de->d_name);
        char *name = ursa_malloc(len + 2);
        if (!name) {
            rc = URSA_ENOMEM;
            break;
        }
        memcpy(name, de->d_name, len);
        name[len] = is_dir ? '/' : '\0';
        name[len + 1] = '\0';
        (*out)[(*n)++].name = name;
    }
    closedir(d);
    if (rc == URSA_OK && *n > 1) qsort(*out, *n, sizeof(entry_t), cmp_entry);
    return rc;
}

static void free_entries(entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) ursa_free(e[i].name);
    ursa_free(e);
}

/* Lists directory dir_key ("" or "a/b/") whose names start with part. */
static int list_dir(fs_store_t *fs, const char *dir_key, const char *part, char delim, ursa_store_list_cb cb,
                    void *ctx, ursa_err_t *err)
{
    size_t dlen = strlen(dir_key);
    char *path = ursa_malloc(strlen(fs->root) + dlen + 2);
    if (!path) return URSA_ENOMEM;
    sprintf(path, "%s/%s", fs->root, dir_key);
    entry_t *e;
    size_t n;
    int rc = read_dir(path, dir_key, &e, &n, err);
    ursa_free(path);
    if (rc) return rc;
    size_t plen = strlen(part);
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        const char *name = e[i].name;
        if (strncmp(name, part, plen) != 0) continue;
        size_t nlen = strlen(name);
        char *key = ursa_malloc(dlen + nlen + 1);
        if (!key) {
            rc = URSA_ENOMEM;
            break;
        }
        memcpy(key, dir_key, dlen);
        memcpy(key + dlen, name, nlen + 1);
        bool is_dir = name[nlen - 1] == '/';
        if (!is_dir)
            rc = cb(ctx, key, false);
        else if (delim == '/')
            rc = cb(ctx, key, true);
        else
            rc = list_dir(fs, key, "", delim, cb, ctx, err);
        ursa_free(key);
    }
    free_entries(e, n);
    return rc;
}

static int fs_list(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                   ursa_err_t *err)
{
    if (delim != 0 && delim != '/')
        return ursa_err_set(err, URSA_EINVAL, "the local store lists only by '/'");
    const char *slash = strrchr(prefix, '/');
    size_t dlen = slash ? (size_t)(slash - prefix) + 1 : 0;
    char *dir = ursa_strndup(prefix, dlen);
    if (!dir) return URSA_ENOMEM;
    int rc = URSA_OK;
    if (dlen && !ursa_store_key_valid((dir[dlen - 1] = '\0', dir)))
        rc = ursa_err_set(err, URSA_EINVAL, "invalid prefix \"%.200s\"", prefix);
    if (dlen) dir[dlen - 1] = '/';
    if (rc == URSA_OK) rc = list_dir((fs_store_t *)st, dir, prefix + dlen, delim, cb, ctx, err);
    ursa_free(dir);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Temporaries left behind by writes that never finished
 * ------------------------------------------------------------------------- */

#define TEMP_WALK_DEPTH 16 /* the store's own layout is 4 levels deep */

/* For a temporary's name ".<name>.tmp-<pid>-<n>": the length of <name>
 * (which starts at name + 1), else 0. */
static size_t temp_target(const char *name)
{
    size_t i = strlen(name), d;
    for (d = 0; i > 0 && (unsigned)(name[i - 1] - '0') < 10u; d++) i--;
    if (!d || i == 0 || name[--i] != '-') return 0;
    for (d = 0; i > 0 && (unsigned)(name[i - 1] - '0') < 10u; d++) i--;
    if (!d || i < 5 || memcmp(name + i - 5, ".tmp-", 5) != 0) return 0;
    i -= 5;
    return name[0] == '.' && i > 1 ? i - 1 : 0;
}

typedef struct temp_walk {
    const fs_store_t *fs;
    ursa_store_temp_cb mine;
    void *ctx;
    size_t removed, left;
    time_t now;
} temp_walk_t;

/* Walks the directory of key prefix dir ("" or "a/b/") and those below it
 * (not hidden ones, not through symbolic links). */
static int walk_temps(temp_walk_t *tw, const char *dir, int depth, ursa_err_t *err)
{
    size_t rn = strlen(tw->fs->root), dn = strlen(dir);
    char *path = ursa_malloc(rn + dn + 2);
    if (!path) return URSA_ENOMEM;
    sprintf(path, "%s/%s", tw->fs->root, dir);
    int rc = URSA_OK;
    DIR *d = opendir(path);
    if (!d) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = fs_fail(err, "list", *dir ? dir : "the top level", path);
        ursa_free(path);
        return rc;
    }
    struct dirent *de;
    while (rc == URSA_OK && (de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        /* Only directories and dot files need a look (most entries are
         * Parquet files: no stat for them). */
        if (name[0] != '.' && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
        struct stat sb;
        if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW)) continue; /* gone meanwhile */
        size_t nn = strlen(name), tn = temp_target(name);
        char *key = ursa_malloc(dn + nn + 2);
        if (!key) {
            rc = URSA_ENOMEM;
            break;
        }
        memcpy(key, dir, dn);
        if (S_ISDIR(sb.st_mode) && name[0] != '.') {
            memcpy(key + dn, name, nn);
            memcpy(key + dn + nn, "/", 2);
            if (depth < TEMP_WALK_DEPTH) rc = walk_temps(tw, key, depth + 1, err);
        } else if (S_ISREG(sb.st_mode) && tn) {
            memcpy(key + dn, name + 1, tn);
            key[dn + tn] = '\0';
            int64_t age = (int64_t)(tw->now - sb.st_mtime);
            if (!tw->mine(tw->ctx, key, age < 0 ? 0 : age)) {
                tw->left++;
            } else if (unlinkat(dirfd(d), name, 0) == 0 || errno == ENOENT) {
                tw->removed++;
                ursa_info("local store: removed %s%s, left by a write of %s that never finished (%lld s old)",
                          path, name, key, (long long)age);
            } else {
                tw->left++;
                ursa_warn("local store: cannot remove %s%s: %s", path, name, strerror(errno));
            }
        }
        ursa_free(key);
    }
    closedir(d);
    ursa_free(path);
    return rc;
}

static int fs_remove_temps(ursa_store_t *st, ursa_store_temp_cb mine, void *ctx, size_t *removed,
                           size_t *left, ursa_err_t *err)
{
    temp_walk_t tw = {(const fs_store_t *)st, mine, ctx, 0, 0, time(NULL)};
    int rc = walk_temps(&tw, "", 0, err);
    *removed = tw.removed;
    *left = tw.left;
    return rc;
}

static void fs_destroy(ursa_store_t *st)
{
    fs_store_t *fs = (fs_store_t *)st;
    ursa_free(fs->root);
    ursa_free(fs);
}

static const struct ursa_store_ops fs_ops = {
    .put = fs_put,
    .get = fs_get,
    .list = fs_list,
    .del = fs_del,
    .del_many = fs_del_many,
    .get_range = fs_get_range,
    .stat = fs_stat,
    .put_if_absent = fs_put_if_absent,
    .writer_open = fs_writer_open,
    .writer_write = fs_writer_write,
    .writer_commit = fs_writer_commit,
    .writer_abort = fs_writer_abort,
    .remove_temps = fs_remove_temps,
    .destroy = fs_destroy,
};

int ursa_store_fs_open(const char *root, ursa_store_t **out, ursa_err_t *err)
{
    *out = NULL;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    fs_store_t *fs = ursa_calloc(1, sizeof(*fs));
    if (!fs) return URSA_ENOMEM;
    fs->base.ops = &fs_ops;
    if (!(fs->root = ursa_malloc(n + 2))) {
        ursa_free(fs);
        return URSA_ENOMEM;
    }
    memcpy(fs->root, root, n);
    fs->root[n] = '/';
    fs->root[n + 1] = '\0';
    int rc = mkdir_parents(fs->root, 0, err);
    fs->root[n] = '\0';
    struct stat sb;
    if (rc == URSA_OK && (stat(fs->root, &sb) || !S_ISDIR(sb.st_mode)))
        rc = ursa_err_set(err, URSA_EIO, "store %s is not a directory", fs->root);
    if (rc == URSA_OK && access(fs->root, W_OK))
        rc = ursa_err_set(err, URSA_EIO, "store %s is not writable: %s", fs->root, strerror(errno));
    if (rc) {
        fs_destroy(&fs->base);
        return rc;
    }
    *out = &fs->base;
    return URSA_OK;
}
