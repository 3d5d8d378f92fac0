/*
 * common.h -- status codes, the error struct, the accounted allocator and
 * small macros shared by every Ursa module.
 *
 * Every function that can fail returns an int status (URSA_OK == 0 on
 * success) and puts its results in out-parameters. An optional ursa_err_t
 * carries a human-readable message with context (row, column, key ...).
 *
 * All heap memory goes through ursa_malloc()/ursa_realloc()/ursa_free() so
 * that the bytes in use are accounted (the memory budget and backpressure
 * read ursa_mem_used()) and so tests can inject allocation failures.
 */
#ifndef URSA_COMMON_H
#define URSA_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define URSA_VERSION "0.1.0"

#if defined(__GNUC__)
#define URSA_MUST_CHECK   __attribute__((warn_unused_result))
#define URSA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define URSA_LIKELY(x)    __builtin_expect(!!(x), 1)
#define URSA_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#else
#define URSA_MUST_CHECK
#define URSA_PRINTF(a, b)
#define URSA_LIKELY(x)   (x)
#define URSA_UNLIKELY(x) (x)
#endif

/* Status codes. Keep URSA_OK at 0. */
enum {
    URSA_OK = 0,
    URSA_ENOMEM,    /* allocation failed or a hard size limit was hit */
    URSA_EINVAL,    /* bad argument or bad input */
    URSA_EIO,       /* a read, write, fsync or rename failed */
    URSA_ENOTFOUND, /* no such object, dataset or file */
    URSA_EEXIST,    /* already exists (and differs) */
    URSA_ELIMIT,    /* a configured limit was exceeded */
    URSA_EFORMAT,   /* malformed data (JSON, Parquet, schema) */
    URSA_EINTERNAL, /* an invariant of our own code was broken */
    URSA_ENOTSUP,   /* the operation is not supported here */
    URSA_EAUTH,     /* credentials refused, or access denied (by a store) */
    URSA_ECANCELED, /* stopped on request (a node shutting down) */
    URSA_EKEY,      /* a client's API key is missing or not valid (401) */
    URSA_EDENIED    /* a client's API key lacks the scope (403) */
};

/* The reason text of an allocation failure: functions that return a reason
 * (the parsers) return this very pointer when memory ran out, so callers can
 * tell it from a bad value by comparing pointers. */
extern const char ursa_reason_nomem[];

/* Returns a static name for a status code, e.g. "ENOMEM". */
const char *ursa_strstatus(int rc);

/* An error with context. msg is always NUL-terminated. */
typedef struct ursa_err {
    int code;
    char msg[256];
} ursa_err_t;

/* Sets err (when not NULL) and returns code, so callers can write
 * `return ursa_err_set(err, URSA_EINVAL, "bad %s", x);`. */
int ursa_err_set(ursa_err_t *err, int code, const char *fmt, ...) URSA_PRINTF(3, 4);
/* Puts "<fmt ...>: " before err's message (err is set); returns err->code. */
int ursa_err_prefix(ursa_err_t *err, const char *fmt, ...) URSA_PRINTF(2, 3);

/* The accounted allocator. ursa_malloc(0) returns a valid unique pointer.
 * Sizes are tracked in a hidden header, so ursa_free() needs no size. */
void *ursa_malloc(size_t n);
void *ursa_calloc(size_t count, size_t n);
void *ursa_realloc(void *p, size_t n);
void ursa_free(void *p);
char *ursa_strndup(const char *s, size_t n);
char *ursa_strdup(const char *s);

/* Bytes currently allocated through the wrappers (all threads), and the
 * most there ever were. */
size_t ursa_mem_used(void);
size_t ursa_mem_peak(void);

/* Test hook: fail the Nth allocation from now (1 = next); 0 disables. */
void ursa_mem_fail_after(long n);

/* Blocks of at least n bytes (header included) are mappings of their own
 * (mmap/mremap, transparent huge pages); default 1 MiB, and no block under
 * AddressSanitizer. Set once, before allocating: for tests. */
void ursa_mem_set_map_threshold(size_t n);

/* For the server: freed memory up to `keep` bytes stays with the process
 * instead of going back to the system at once (glibc's trim threshold; and
 * its mapping threshold pinned at 1 MiB, the size from which blocks are
 * mappings of their own here). A flush frees the buffer its request
 * threads filled; trimmed, the next buffer's memory is fresh pages again,
 * faulted in by those threads, and the trim itself ran under the arena
 * lock a request thread's next malloc waited for. Call once, at start. */
void ursa_mem_keep_freed(size_t keep);

/* A growable byte buffer with a hard maximum. */
typedef struct ursa_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} ursa_buf_t;

#define URSA_BUF_MAX ((size_t)1 << 40) /* 1 TiB: a sanity ceiling */

/* Ensures room for `extra` more bytes. Returns URSA_OK or URSA_ENOMEM. */
int ursa_buf_reserve(ursa_buf_t *b, size_t extra) URSA_MUST_CHECK;
int ursa_buf_append(ursa_buf_t *b, const void *p, size_t n) URSA_MUST_CHECK;
int ursa_buf_printf(ursa_buf_t *b, const char *fmt, ...) URSA_PRINTF(2, 3) URSA_MUST_CHECK;
/* Appends s as a JSON string literal (quoted, escaped). */
int ursa_buf_json_str(ursa_buf_t *b, const char *s, size_t n) URSA_MUST_CHECK;
/* Frees the storage and zeroes the struct. */
void ursa_buf_free(ursa_buf_t *b);

static inline int ursa_buf_push(ursa_buf_t *b, uint8_t c)
{
    if (URSA_UNLIKELY(b->len == b->cap)) {
        int rc = ursa_buf_reserve(b, 1);
        if (rc) return rc;
    }
    b->data[b->len++] = c;
    return URSA_OK;
}

/* Logging to stderr: one line per call, with level and time; as a JSON
 * object {"ts","level","msg"} a line once ursa_log_set_json(true). */
void ursa_log(const char *level, const char *fmt, ...) URSA_PRINTF(2, 3);
void ursa_log_set_json(bool on);

/* Lowers the calling thread's CPU priority (nice URSA_BACKGROUND_NICE; on
 * Linux nice is per thread, and threads it starts inherit it): for work no
 * request waits for -- flushes, compaction, upkeep, live queries -- so that
 * on a busy machine it takes the CPU the request threads leave, and an
 * acknowledgement does not wait milliseconds behind a flush's sort. */
#define URSA_BACKGROUND_NICE 10
void ursa_thread_background(void);
#define ursa_info(...)  ursa_log("info", __VA_ARGS__)
#define ursa_warn(...)  ursa_log("warn", __VA_ARGS__)
#define ursa_error(...) ursa_log("error", __VA_ARGS__)

#define URSA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
