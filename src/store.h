/*
 * store.h -- the object store interface: keys and bytes, no Parquet.
 *
 * Keys are relative, '/'-separated paths ("ds/date=2024-01-01/x.parquet").
 * Every key is checked by ursa_store_key_valid(): no empty segment, no "."
 * or "..", no leading '/', no NUL or backslash. Backends: the local
 * directory (store_fs.c) and S3 (store_s3.c).
 *
 * An object writer streams an object and publishes it atomically at commit:
 * before commit no reader sees the key, after it readers see all the bytes.
 */
#ifndef URSA_STORE_H
#define URSA_STORE_H

#include "common.h"
#include "sink.h"

typedef struct ursa_store ursa_store_t;
typedef struct ursa_store_writer ursa_store_writer_t;

/* Called once per listed entry. is_prefix is true for a common prefix
 * (ending in the delimiter). A non-zero return stops the listing and is
 * returned by the list call. */
typedef int (*ursa_store_list_cb)(void *ctx, const char *key, bool is_prefix);

/* Asked once per temporary left by a write that never finished: key is
 * the key that write was for, age_s the seconds since the temporary was
 * last written. True: remove it. */
typedef bool (*ursa_store_temp_cb)(void *ctx, const char *key, int64_t age_s);

/* Room for a version token: an S3 ETag (at most 127 bytes are kept) or a
 * local file's identity, NUL-terminated. */
#define URSA_STORE_VERSION_MAX 128

/* What ursa_store_stat tells about an object. version names one state of
 * the object: a rewrite (even of the same size) gives another token, and
 * an unchanged object keeps its token. S3: the ETag of HEAD (a digest of
 * the content); the local store: device, inode, mtime and ctime in
 * nanoseconds (a published write is a rename, so always a new inode). An
 * empty version means the store cannot tell: nothing may be cached on it. */
typedef struct ursa_store_info {
    uint64_t size;
    char version[URSA_STORE_VERSION_MAX];
} ursa_store_info_t;

struct ursa_store_ops {
    int (*put)(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err);
    int (*get)(ursa_store_t *st, const char *key, ursa_buf_t *out, ursa_err_t *err);
    int (*list)(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                ursa_err_t *err);
    int (*del)(ursa_store_t *st, const char *key, ursa_err_t *err);
    int (*del_many)(ursa_store_t *st, const char *const *keys, size_t n, ursa_err_t *err);
    int (*get_range)(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                     ursa_err_t *err);
    int (*stat)(ursa_store_t *st, const char *key, ursa_store_info_t *info, ursa_err_t *err);
    int (*put_if_absent)(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err);
    int (*writer_open)(ursa_store_t *st, const char *key, ursa_store_writer_t **w, ursa_err_t *err);
    int (*writer_write)(ursa_store_writer_t *w, const void *p, size_t n, ursa_err_t *err);
    int (*writer_commit)(ursa_store_writer_t *w, ursa_err_t *err);
    void (*writer_abort)(ursa_store_writer_t *w);
    /* NULL for stores that leave no temporaries (S3). */
    int (*remove_temps)(ursa_store_t *st, ursa_store_temp_cb mine, void *ctx, size_t *removed, size_t *left,
                        ursa_err_t *err);
    void (*destroy)(ursa_store_t *st);
};

struct ursa_store {
    const struct ursa_store_ops *ops;
    char *url; /* as given, for messages */
    /* Set by a process that is the store's only writer, on a store without
     * conditional writes: ursa_store_put_if_absent looks, then writes. */
    bool single_writer;
};

/* S3 settings. Unset fields (NULL, 0, -1) come from the environment:
 * AWS_ACCESS_KEY_ID / S3_KEY, AWS_SECRET_ACCESS_KEY / S3_SECRET,
 * AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL /
 * S3_ENDPOINT_URL, URSA_S3_TIMEOUT_MS, URSA_S3_RETRY_DEADLINE_MS. */
typedef struct ursa_s3_config {
    const char *endpoint; /* "http://127.0.0.1:9000"; default https://s3.<region>.amazonaws.com */
    const char *region;   /* default us-east-1 */
    const char *access_key, *secret_key, *session_token;
    int path_style;         /* 1 path-style, 0 virtual-hosted, -1 auto (path-style with an endpoint) */
    long timeout_ms;        /* per request, default 30000 */
    long retry_deadline_ms; /* all attempts of one operation, default 60000 */
    size_t part_bytes;      /* multipart part size, default 8 MiB (at least 5 MiB) */
} ursa_s3_config_t;

/* Opens a store from a URL: "s3://bucket/prefix" selects S3 (settings from
 * s3, which may be NULL, and the environment); "file:///abs/path",
 * "file://rel/path" or a plain path selects the local directory backend
 * (created when missing). */
int ursa_store_open(const char *url, const ursa_s3_config_t *s3, ursa_store_t **out,
                    ursa_err_t *err) URSA_MUST_CHECK;
void ursa_store_destroy(ursa_store_t **st);

bool ursa_store_key_valid(const char *key);

/* Writes the whole object atomically (replacing any old one). */
int ursa_store_put(ursa_store_t *st, const char *key, const void *data, size_t n,
                   ursa_err_t *err) URSA_MUST_CHECK;
/* Reads the whole object into out (replacing its contents). URSA_ENOTFOUND
 * when there is no such key. */
int ursa_store_get(ursa_store_t *st, const char *key, ursa_buf_t *out, ursa_err_t *err) URSA_MUST_CHECK;
/* Lists keys starting with prefix in byte order. With delim != 0, keys with
 * delim after the prefix are rolled up into one common prefix each. */
int ursa_store_list(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                    ursa_err_t *err) URSA_MUST_CHECK;
/* Deletes a key; deleting a missing key is not an error. */
int ursa_store_del(ursa_store_t *st, const char *key, ursa_err_t *err) URSA_MUST_CHECK;
/* Deletes n keys (in batches where the store has them); missing keys are
 * not an error. */
int ursa_store_del_many(ursa_store_t *st, const char *const *keys, size_t n, ursa_err_t *err) URSA_MUST_CHECK;
/* Reads bytes [off, off + len) of an object (fewer at its end). */
int ursa_store_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                         ursa_err_t *err) URSA_MUST_CHECK;
/* The size of an object; URSA_ENOTFOUND when missing. */
int ursa_store_head(ursa_store_t *st, const char *key, uint64_t *size, ursa_err_t *err) URSA_MUST_CHECK;
/* The size and version token of an object (one HEAD on S3, one stat(2)
 * locally); URSA_ENOTFOUND when missing. info is the caller's. */
int ursa_store_stat(ursa_store_t *st, const char *key, ursa_store_info_t *info,
                    ursa_err_t *err) URSA_MUST_CHECK;
/* Writes the object only when the key does not exist: URSA_EEXIST when it
 * does, URSA_ENOTSUP when the store cannot tell (an S3 server without
 * conditional writes). */
int ursa_store_put_if_absent(ursa_store_t *st, const char *key, const void *data, size_t n,
                             ursa_err_t *err) URSA_MUST_CHECK;

/* Whether the store refuses a second write of a key with put_if_absent
 * (one probe object, written twice and deleted): *ok false when it answers
 * that it cannot (URSA_ENOTSUP) or, worse, ignores the condition. */
int ursa_store_check_conditional(ursa_store_t *st, const char *node, bool *ok,
                                 ursa_err_t *err) URSA_MUST_CHECK;
/* Removes temporaries that writes killed midway left behind (a local
 * store's ".<name>.tmp-<pid>-<n>" files; S3 has none): each one for which
 * mine() says so, logging each removal. *removed counts those, *left the
 * others. Several processes may share a store: mine() must claim only
 * temporaries no live process may still be writing. */
int ursa_store_remove_temps(ursa_store_t *st, ursa_store_temp_cb mine, void *ctx, size_t *removed,
                            size_t *left, ursa_err_t *err) URSA_MUST_CHECK;

/* Streaming writes. commit publishes and frees the writer; abort discards
 * and frees it. Exactly one of the two must be called. */
int ursa_store_writer_open(ursa_store_t *st, const char *key, ursa_store_writer_t **w,
                           ursa_err_t *err) URSA_MUST_CHECK;
int ursa_store_writer_commit(ursa_store_writer_t *w, ursa_err_t *err) URSA_MUST_CHECK;
void ursa_store_writer_abort(ursa_store_writer_t *w);
/* A sink that writes into w. */
ursa_sink_t ursa_store_writer_sink(ursa_store_writer_t *w);

/* Writers start with this header so the generic calls find their store. */
struct ursa_store_writer {
    ursa_store_t *st;
};

/* The backends. */
int ursa_store_fs_open(const char *root, ursa_store_t **out, ursa_err_t *err) URSA_MUST_CHECK;
int ursa_store_s3_open(const char *bucket, const char *prefix, const ursa_s3_config_t *cfg,
                       ursa_store_t **out, ursa_err_t *err) URSA_MUST_CHECK;

#endif
