/*
 * store.h -- the object store interface: keys and bytes, no Parquet.
 *
 * Keys are relative, '/'-separated paths ("ds/date=2024-01-01/x.parquet").
 * Every key is checked by ursa_store_key_valid(): no empty segment, no "."
 * or "..", no leading '/', no NUL or backslash. Backends: the local
 * directory (store_fs.c); S3 follows.
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

struct ursa_store_ops {
    int (*put)(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err);
    int (*get)(ursa_store_t *st, const char *key, ursa_buf_t *out, ursa_err_t *err);
    int (*list)(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                ursa_err_t *err);
    int (*del)(ursa_store_t *st, const char *key, ursa_err_t *err);
    int (*writer_open)(ursa_store_t *st, const char *key, ursa_store_writer_t **w, ursa_err_t *err);
    int (*writer_write)(ursa_store_writer_t *w, const void *p, size_t n, ursa_err_t *err);
    int (*writer_commit)(ursa_store_writer_t *w, ursa_err_t *err);
    void (*writer_abort)(ursa_store_writer_t *w);
    void (*destroy)(ursa_store_t *st);
};

struct ursa_store {
    const struct ursa_store_ops *ops;
    char *url; /* as given, for messages */
};

/* Opens a store from a URL: "file:///abs/path", "file://rel/path" or a plain
 * path selects the local directory backend (created when missing). */
int ursa_store_open(const char *url, ursa_store_t **out, ursa_err_t *err) URSA_MUST_CHECK;
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

/* The local directory backend. */
int ursa_store_fs_open(const char *root, ursa_store_t **out, ursa_err_t *err) URSA_MUST_CHECK;

#endif
