/*
 * store.c -- backend selection, key validation and the generic calls.
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ursa_store_open(const char *url, const ursa_s3_config_t *s3, ursa_store_t **out, ursa_err_t *err)
{
    *out = NULL;
    int rc;
    if (strncmp(url, "s3://", 5) == 0) {
        const char *b = url + 5, *slash = strchr(b, '/');
        size_t bn = slash ? (size_t)(slash - b) : strlen(b);
        char bucket[64];
        if (bn < 3 || bn > 63) return ursa_err_set(err, URSA_EINVAL, "bad bucket name in %s", url);
        memcpy(bucket, b, bn);
        bucket[bn] = '\0';
        const char *prefix = slash ? slash + 1 : "";
        size_t pn = strlen(prefix);
        while (pn && prefix[pn - 1] == '/') pn--;
        char *pfx = ursa_strndup(prefix, pn);
        if (!pfx) return URSA_ENOMEM;
        if (pn && !ursa_store_key_valid(pfx)) {
            ursa_free(pfx);
            return ursa_err_set(err, URSA_EINVAL, "bad prefix in %s", url);
        }
        rc = ursa_store_s3_open(bucket, pfx, s3, out, err);
        ursa_free(pfx);
    } else {
        const char *path = url;
        if (strncmp(url, "file://", 7) == 0) path = url + 7;
        if (!*path) return ursa_err_set(err, URSA_EINVAL, "empty store path");
        rc = ursa_store_fs_open(path, out, err);
    }
    if (rc) return rc;
    (*out)->url = ursa_strdup(url);
    if (!(*out)->url) {
        ursa_store_destroy(out);
        return URSA_ENOMEM;
    }
    return URSA_OK;
}

void ursa_store_destroy(ursa_store_t **st)
{
    if (!*st) return;
    ursa_free((*st)->url);
    (*st)->url = NULL;
    (*st)->ops->destroy(*st);
    *st = NULL;
}

bool ursa_store_key_valid(const char *key)
{
    if (!*key || *key == '/') return false;
    const char *seg = key;
    for (const char *p = key;; p++) {
        if (*p == '\\') return false;
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - seg);
            if (n == 0 && *p == '/') return false; /* "a//b" */
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return false;
            if (*p == '\0') return n > 0;
            seg = p + 1;
        }
    }
}

#define CHECK_KEY(key)                                                                  \
    do {                                                                                \
        if (!ursa_store_key_valid(key))                                                 \
            return ursa_err_set(err, URSA_EINVAL, "invalid store key \"%.200s\"", key); \
    } while (0)

int ursa_store_put(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    CHECK_KEY(key);
    return st->ops->put(st, key, data, n, err);
}

int ursa_store_get(ursa_store_t *st, const char *key, ursa_buf_t *out, ursa_err_t *err)
{
    CHECK_KEY(key);
    return st->ops->get(st, key, out, err);
}

int ursa_store_list(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                    ursa_err_t *err)
{
    return st->ops->list(st, prefix, delim, cb, ctx, err);
}

int ursa_store_del(ursa_store_t *st, const char *key, ursa_err_t *err)
{
    CHECK_KEY(key);
    return st->ops->del(st, key, err);
}

int ursa_store_del_many(ursa_store_t *st, const char *const *keys, size_t n, ursa_err_t *err)
{
    for (size_t i = 0; i < n; i++) CHECK_KEY(keys[i]);
    return st->ops->del_many(st, keys, n, err);
}

int ursa_store_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                         ursa_err_t *err)
{
    CHECK_KEY(key);
    return st->ops->get_range(st, key, off, len, out, err);
}

int ursa_store_stat(ursa_store_t *st, const char *key, ursa_store_info_t *info, ursa_err_t *err)
{
    memset(info, 0, sizeof(*info));
    CHECK_KEY(key);
    return st->ops->stat(st, key, info, err);
}

int ursa_store_head(ursa_store_t *st, const char *key, uint64_t *size, ursa_err_t *err)
{
    ursa_store_info_t info;
    int rc = ursa_store_stat(st, key, &info, err);
    if (rc == URSA_OK) *size = info.size;
    return rc;
}

/* The lone writer's conditional writes (st->single_writer): a
 * look, then a plain write, one at a time in this process. */
static pthread_mutex_t lone_mu = PTHREAD_MUTEX_INITIALIZER;

int ursa_store_put_if_absent(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    CHECK_KEY(key);
    if (!st->single_writer) return st->ops->put_if_absent(st, key, data, n, err);
    ursa_store_info_t info;
    pthread_mutex_lock(&lone_mu);
    int rc = st->ops->stat(st, key, &info, err);
    if (rc == URSA_OK)
        rc = URSA_EEXIST;
    else if (rc == URSA_ENOTFOUND)
        rc = st->ops->put(st, key, data, n, err);
    pthread_mutex_unlock(&lone_mu);
    return rc;
}

int ursa_store_check_conditional(ursa_store_t *st, const char *node, bool *ok, ursa_err_t *err)
{
    char key[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(key, sizeof(key), "_ursa/probe/%s-%d-%lld%09ld", node, (int)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec);
    *ok = false;
    int rc = st->ops->put_if_absent(st, key, "1", 1, err);
    if (rc == URSA_ENOTSUP) return URSA_OK;
    if (rc) return rc;
    rc = st->ops->put_if_absent(st, key, "2", 1, err); /* must be refused: a server may ignore the header */
    *ok = rc == URSA_EEXIST;
    if (rc == URSA_EEXIST || rc == URSA_OK) rc = ursa_store_del(st, key, err);
    return rc;
}

int ursa_store_remove_temps(ursa_store_t *st, ursa_store_temp_cb mine, void *ctx, size_t *removed,
                            size_t *left, ursa_err_t *err)
{
    *removed = *left = 0;
    return st->ops->remove_temps ? st->ops->remove_temps(st, mine, ctx, removed, left, err) : URSA_OK;
}

int ursa_store_writer_open(ursa_store_t *st, const char *key, ursa_store_writer_t **w, ursa_err_t *err)
{
    *w = NULL;
    CHECK_KEY(key);
    int rc = st->ops->writer_open(st, key, w, err);
    if (rc == URSA_OK) (*w)->st = st;
    return rc;
}

int ursa_store_writer_commit(ursa_store_writer_t *w, ursa_err_t *err)
{
    return w->st->ops->writer_commit(w, err);
}

void ursa_store_writer_abort(ursa_store_writer_t *w)
{
    if (w) w->st->ops->writer_abort(w);
}

static int sink_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    ursa_store_writer_t *w = ctx;
    return w->st->ops->writer_write(w, p, n, err);
}

ursa_sink_t ursa_store_writer_sink(ursa_store_writer_t *w)
{
    ursa_sink_t s = {sink_write, w};
    return s;
}
