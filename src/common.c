/*
 * common.c -- status names, errors, the accounted allocator, buffers, logs.
 */
#include "common.h"

#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

static const char *const status_names[] = {
    "OK",      "ENOMEM",    "EINVAL",  "EIO",   "ENOTFOUND", "EEXIST", "ELIMIT",
    "EFORMAT", "EINTERNAL", "ENOTSUP", "EAUTH", "ECANCELED", "EKEY",   "EDENIED",
};

const char ursa_reason_nomem[] = "out of memory";

const char *ursa_strstatus(int rc)
{
    if (rc < 0 || (size_t)rc >= URSA_ARRAY_LEN(status_names)) return "EUNKNOWN";
    return status_names[rc];
}

int ursa_err_set(ursa_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int ursa_err_prefix(ursa_err_t *err, const char *fmt, ...)
{
    char was[sizeof(err->msg)], head[sizeof(err->msg)];
    memcpy(was, err->msg, sizeof(was));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    size_t n = strlen(head);
    if (n + 2 < sizeof(err->msg)) {
        memcpy(err->msg, head, n);
        memcpy(err->msg + n, ": ", 2);
        size_t room = sizeof(err->msg) - n - 3, w = strnlen(was, room);
        memcpy(err->msg + n + 2, was, w);
        err->msg[n + 2 + w] = '\0';
    }
    return err->code;
}

/* ---------------------------------------------------------------------------
 * The allocator. Each block carries a 16-byte header holding its size, so
 * the total in use can be kept without the caller passing sizes back.
 * ------------------------------------------------------------------------- */

#define HDR 16

static atomic_size_t mem_used, mem_peak;
static atomic_long mem_fail_countdown;

size_t ursa_mem_used(void)
{
    return atomic_load_explicit(&mem_used, memory_order_relaxed);
}

size_t ursa_mem_peak(void)
{
    return atomic_load_explicit(&mem_peak, memory_order_relaxed);
}

/* Raises the peak to now (a load on the way up; a CAS only past it). */
static void note_peak(size_t now)
{
    size_t p = atomic_load_explicit(&mem_peak, memory_order_relaxed);
    while (URSA_UNLIKELY(now > p) && !atomic_compare_exchange_weak_explicit(
                                         &mem_peak, &p, now, memory_order_relaxed, memory_order_relaxed))
        ;
}

void ursa_mem_fail_after(long n)
{
    atomic_store(&mem_fail_countdown, n);
}

static bool inject_failure(void)
{
    long n = atomic_load_explicit(&mem_fail_countdown, memory_order_relaxed);
    if (URSA_LIKELY(n == 0)) return false;
    return atomic_fetch_sub(&mem_fail_countdown, 1) == 1;
}

/*
 * Large blocks (1 MiB and up) are mappings of their own, made here rather than
 * by malloc: they grow with mremap (no copy, at any size: glibc's own
 * threshold for mapping a block rises as blocks are freed, and then a
 * growing column is copied on the heap at every doubling), they go back to
 * the system when freed, and they get transparent huge pages (where the
 * system leaves those to madvise). A batch's columns grow to hundreds of
 * megabytes and are written once, front to back: with 4 KiB pages the page
 * faults took about a fifth of the NDJSON scanner's time (bench/bench_parse).
 * The header's second word tells the two kinds apart.
 */
#define MAPPED ((size_t)0x4d41505044ULL) /* "MAPPD" */

/* Under AddressSanitizer every block stays with malloc by default, so that
 * the sanitizer sees (and checks) all of them; tests of the mapped blocks
 * set the threshold themselves. */
#if defined(__SANITIZE_ADDRESS__)
static size_t big = SIZE_MAX;
#else
static size_t big = (size_t)1 << 20;
#endif

void ursa_mem_set_map_threshold(size_t n)
{
    big = n;
}

void ursa_mem_keep_freed(size_t keep)
{
    /* only advice: a libc without these keeps its defaults */
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, keep > INT_MAX ? INT_MAX : (int)keep);
}

static size_t map_len(size_t n)
{
    return (n + HDR + 4095) & ~(size_t)4095;
}

static unsigned char *map_block(size_t n)
{
    void *p = mmap(NULL, map_len(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, map_len(n), MADV_HUGEPAGE); /* only advice */
#endif
    return p;
}

static void set_header(unsigned char *base, size_t n, bool mapped)
{
    size_t kind = mapped ? MAPPED : 0;
    memcpy(base, &n, sizeof(n));
    memcpy(base + sizeof(n), &kind, sizeof(kind));
}

static bool is_mapped(const unsigned char *base)
{
    size_t kind;
    memcpy(&kind, base + sizeof(size_t), sizeof(kind));
    return kind == MAPPED;
}

void *ursa_malloc(size_t n)
{
    if (inject_failure() || n > SIZE_MAX - HDR - 4096) return NULL;
    bool mapped = n + HDR >= big;
    unsigned char *p = mapped ? map_block(n) : malloc(n + HDR);
    if (!p) return NULL;
    set_header(p, n, mapped);
    note_peak(atomic_fetch_add_explicit(&mem_used, n, memory_order_relaxed) + n);
    return p + HDR;
}

void *ursa_calloc(size_t count, size_t n)
{
    if (n && count > SIZE_MAX / n) return NULL;
    void *p = ursa_malloc(count * n);
    if (p && !is_mapped((unsigned char *)p - HDR)) memset(p, 0, count * n); /* a new mapping is zeros */
    return p;
}

void *ursa_realloc(void *ptr, size_t n)
{
    if (!ptr) return ursa_malloc(n);
    if (inject_failure() || n > SIZE_MAX - HDR - 4096) return NULL;
    unsigned char *base = (unsigned char *)ptr - HDR, *p;
    size_t old;
    memcpy(&old, base, sizeof(old));
    bool mapped = is_mapped(base);
    if (mapped) {
        void *q = mremap(base, map_len(old), map_len(n), MREMAP_MAYMOVE);
        p = q == MAP_FAILED ? NULL : q;
    } else if (n + HDR >= big) {
        if ((p = map_block(n))) {
            memcpy(p + HDR, ptr, old);
            free(base);
            mapped = true;
        }
    } else {
        p = realloc(base, n + HDR);
    }
    if (!p) return NULL;
    set_header(p, n, mapped);
    if (n >= old)
        note_peak(atomic_fetch_add_explicit(&mem_used, n - old, memory_order_relaxed) + (n - old));
    else
        atomic_fetch_sub_explicit(&mem_used, old - n, memory_order_relaxed);
    return p + HDR;
}

void ursa_free(void *ptr)
{
    if (!ptr) return;
    unsigned char *base = (unsigned char *)ptr - HDR;
    size_t n;
    memcpy(&n, base, sizeof(n));
    atomic_fetch_sub_explicit(&mem_used, n, memory_order_relaxed);
    if (is_mapped(base))
        munmap(base, map_len(n));
    else
        free(base);
}

char *ursa_strndup(const char *s, size_t n)
{
    char *p = ursa_malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ursa_strdup(const char *s)
{
    return ursa_strndup(s, strlen(s));
}

/* ---------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------- */

int ursa_buf_reserve(ursa_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra) return URSA_OK;
    if (extra > URSA_BUF_MAX - b->len) return URSA_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    /* Doubling, up to 16 MiB; then steps of a quarter (a mapped block grows
     * in place or by moving page tables, not bytes), so that a big batch
     * holds, and the memory budget counts, little more than it uses. */
    while (cap < need)
        cap = cap >= URSA_BUF_MAX / 2 ? URSA_BUF_MAX : cap < ((size_t)16 << 20) ? cap * 2 : cap + cap / 4;
    uint8_t *p = ursa_realloc(b->data, cap);
    if (!p) return URSA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return URSA_OK;
}

int ursa_buf_append(ursa_buf_t *b, const void *p, size_t n)
{
    int rc = ursa_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return URSA_OK;
}

int ursa_buf_printf(ursa_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return URSA_EINVAL;
    if ((size_t)n < sizeof(tmp)) return ursa_buf_append(b, tmp, (size_t)n);
    int rc = ursa_buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return URSA_OK;
}

int ursa_buf_json_str(ursa_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = ursa_buf_reserve(b, n + 2);
    if (rc) return rc;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c == '\n') {
            esc[k++] = '\\';
            esc[k++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0';
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            k = 6;
        } else {
            esc[k++] = (char)c;
        }
        if ((rc = ursa_buf_append(b, esc, k))) return rc;
    }
    return ursa_buf_push(b, '"');
}

void ursa_buf_free(ursa_buf_t *b)
{
    ursa_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------- */

static atomic_bool log_json;

void ursa_log_set_json(bool on)
{
    atomic_store(&log_json, on);
}

/* One line a call: "TIME LEVEL message", or with ursa_log_set_json(true)
 * one JSON object {"ts","level","msg"} for log shippers (the message's
 * quotes, backslashes and control bytes escaped; any other byte as it is). */
void ursa_log(const char *level, const char *fmt, ...)
{
    char msg[1024], when[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof(when) - k, ".%03ldZ", ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!atomic_load(&log_json)) {
        fprintf(stderr, "%s %s %s\n", when, level, msg);
        return;
    }
    char esc[sizeof(msg) * 6 + 1];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\') {
            esc[n++] = '\\';
            esc[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(esc + n, sizeof(esc) - n, "\\u%04x", *p);
        } else {
            esc[n++] = (char)*p;
        }
    }
    esc[n] = '\0';
    fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", when, level, esc);
}

void ursa_thread_background(void)
{
    /* only advice: where it is refused, the thread runs as before */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), URSA_BACKGROUND_NICE);
}
