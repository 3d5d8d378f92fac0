/*
 * store_s3.c -- the S3 store, on libcurl with its SigV4 signing.
 *
 * Design. Every operation is one or more signed HTTP requests made by
 * s3_call(), which retries with exponential backoff and full jitter on what
 * is worth retrying (5xx, SlowDown, RequestTimeout, timeouts, resets,
 * refused connections) until a deadline per operation. Connections are
 * reused across requests and threads through a curl share handle.
 *
 * Objects are written by a writer that buffers one part: an object that
 * stays under the part size goes up with one PutObject at commit; a larger
 * one becomes a multipart upload whose parts are sent by a thread of the
 * writer while the caller builds the next part (at most one part in flight
 * and one being filled, so memory is two parts per writer). Commit sends
 * the last part and completes the upload; abort (or any failure) aborts it.
 * Every request is idempotent for the same key and bytes, so a retry after
 * a lost answer never duplicates data: a re-sent part replaces itself, a
 * re-sent PutObject writes the same bytes, and a CompleteMultipartUpload
 * whose first answer was lost is recognized by the object being there with
 * the expected size.
 *
 * libcurl 7.88's SigV4 rules (see docs/internals/s3.md): never an empty
 * "Expect:" header (curl signs it but does not send it); we send
 * x-amz-content-sha256 ourselves (the SHA-256 of the body), write query
 * strings in canonical form (sorted, percent-encoded, "uploads=" not
 * "uploads"), always give the body size, and pass credentials with
 * CURLOPT_USERNAME / CURLOPT_PASSWORD (access keys may contain ':').
 * Credentials never appear in a message or log line.
 */
#include "store.h"

#include "metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN_PART       ((size_t)5 << 20)
#define DEFAULT_PART   ((size_t)8 << 20)
#define MAX_PARTS      10000
#define ERROR_BODY_MAX (64u << 10)
#define DELETE_BATCH   1000

typedef struct s3_store {
    ursa_store_t base;
    char *bucket;
    char *prefix; /* "" or "a/b/" (with the slash) */
    char *endpoint;
    char *host_url; /* scheme://host[:port] the requests go to */
    bool path_style;
    char *region;
    char *access_key, *secret_key, *session_token;
    char sigv4[128];
    long timeout_ms, deadline_ms;
    size_t part_bytes;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
} s3_store_t;

/* ---------------------------------------------------------------------------
 * Small helpers: hashing, encoding, XML
 * ------------------------------------------------------------------------- */

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

static void md5_base64(const void *p, size_t n, char out[32])
{
    unsigned char md[16];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

/* Appends s percent-encoded per SigV4 (unreserved bytes kept; '/' kept
 * when keep_slash). */
static int uri_encode(ursa_buf_t *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = URSA_OK;
    for (; *s && rc == URSA_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
            rc = ursa_buf_push(b, c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = ursa_buf_append(b, e, 3);
        }
    }
    return rc;
}

/* Decodes XML entities of s[0..n) into a new string. */
static char *xml_text(const char *s, size_t n)
{
    char *o = ursa_malloc(n + 1), *q = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '&') {
            *q++ = s[i];
            continue;
        }
        static const struct {
            const char *ent;
            char c;
        } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < URSA_ARRAY_LEN(ents) && !done; k++) {
            size_t el = strlen(ents[k].ent);
            if (i + el <= n && memcmp(s + i, ents[k].ent, el) == 0) {
                *q++ = ents[k].c;
                i += el - 1;
                done = true;
            }
        }
        if (!done && i + 3 < n && s[i + 1] == '#') {
            char *end;
            unsigned long cp = s[i + 2] == 'x' ? strtoul(s + i + 3, &end, 16) : strtoul(s + i + 2, &end, 10);
            if (*end == ';' && cp > 0 && cp < 0x80) {
                *q++ = (char)cp;
                i = (size_t)(end - s);
                done = true;
            }
        }
        if (!done) *q++ = '&';
    }
    *q = '\0';
    return o;
}

/* Finds <tag>…</tag> in [p, end); returns the text start and sets *n, or
 * NULL. *next is set past the closing tag. */
static const char *xml_find(const char *p, const char *end, const char *tag, size_t *n, const char **next)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    size_t ol = strlen(open), cl = strlen(close);
    const char *a = memmem(p, (size_t)(end - p), open, ol);
    if (!a) return NULL;
    a += ol;
    const char *b = memmem(a, (size_t)(end - a), close, cl);
    if (!b) return NULL;
    *n = (size_t)(b - a);
    if (next) *next = b + cl;
    return a;
}

/* ---------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------- */

typedef struct s3_req {
    const char *method;
    const char *key;   /* full object key (prefix included), or NULL for the bucket */
    const char *query; /* canonical query string, or NULL */
    const void *body;
    size_t body_len;
    const char *content_type;
    const char *content_md5;
    const char *range;  /* "bytes=a-b" */
    bool if_none_match; /* If-None-Match: * */
    /* results */
    long status;
    ursa_buf_t resp;
    size_t resp_max; /* 0: no cap */
    char etag[128];
    uint64_t content_length;
    int tries; /* attempts made by s3_call */
} s3_req_t;

typedef struct read_state {
    const uint8_t *p;
    size_t left;
} read_state_t;

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    read_state_t *r = ud;
    size_t n = size * nitems < r->left ? size * nitems : r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req_t *q = ud;
    size_t n = size * nmemb;
    if (q->resp_max && q->resp.len + n > q->resp_max) {
        size_t room = q->resp_max > q->resp.len ? q->resp_max - q->resp.len : 0;
        if (room && ursa_buf_append(&q->resp, p, room)) return 0;
        return n; /* keep reading, drop the excess of an error body */
    }
    return ursa_buf_append(&q->resp, p, n) ? 0 : n;
}

static size_t on_header(char *p, size_t size, size_t nitems, void *ud)
{
    s3_req_t *q = ud;
    size_t n = size * nitems;
    if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        const char *v = p + 5;
        size_t k = n - 5;
        while (k && (*v == ' ' || *v == '\t')) v++, k--;
        while (k && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' ')) k--;
        if (k < sizeof(q->etag)) {
            memcpy(q->etag, v, k);
            q->etag[k] = '\0';
        }
    } else if (n > 15 && strncasecmp(p, "content-length:", 15) == 0) {
        q->content_length = strtoull(p + 15, NULL, 10);
    }
    return n;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    s3_store_t *s = ud;
    pthread_mutex_lock(&s->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    s3_store_t *s = ud;
    pthread_mutex_unlock(&s->share_locks[data]);
}

/* The S3 error code and message of an error body, for messages. */
static void error_text(const s3_req_t *q, char *code, size_t cn, char *msg, size_t mn)
{
    const char *b = (const char *)q->resp.data, *e = b + q->resp.len;
    size_t n;
    const char *c = q->resp.len ? xml_find(b, e, "Code", &n, NULL) : NULL;
    snprintf(code, cn, "%.*s", c ? (int)n : 0, c ? c : "");
    const char *m = q->resp.len ? xml_find(b, e, "Message", &n, NULL) : NULL;
    snprintf(msg, mn, "%.*s", m ? (int)(n > 200 ? 200 : n) : 0, m ? m : "");
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One attempt. Returns the curl code; q->status and q->resp are filled. */
static CURLcode attempt(s3_store_t *s, s3_req_t *q, char *curl_err)
{
    ursa_buf_t url = {0};
    struct curl_slist *h = NULL;
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    CURL *c = curl_easy_init();
    if (!c) return CURLE_OUT_OF_MEMORY;
    q->resp.len = 0;
    q->etag[0] = '\0';
    q->content_length = 0;
    q->status = 0;

    int rc = ursa_buf_printf(&url, "%s/", s->host_url);
    if (rc == URSA_OK && s->path_style) rc = ursa_buf_printf(&url, "%s/", s->bucket);
    if (rc == URSA_OK && q->key) rc = uri_encode(&url, q->key, true);
    if (rc == URSA_OK && q->query) rc = ursa_buf_printf(&url, "?%s", q->query);
    if (rc == URSA_OK) rc = ursa_buf_push(&url, '\0');
    if (rc) goto out;

    char sha[65], line[256];
    sha256_hex(q->body ? q->body : "", q->body_len, sha);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
    h = curl_slist_append(h, line);
    if (q->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
        h = curl_slist_append(h, line);
    } else if (q->body) {
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
    }
    if (q->content_md5) {
        snprintf(line, sizeof(line), "Content-MD5: %s", q->content_md5);
        h = curl_slist_append(h, line);
    }
    if (q->range) {
        snprintf(line, sizeof(line), "Range: %s", q->range);
        h = curl_slist_append(h, line);
    }
    if (q->if_none_match) h = curl_slist_append(h, "If-None-Match: *");
    if (s->session_token) {
        size_t tl = strlen(s->session_token) + 32;
        char *t = ursa_malloc(tl);
        if (!t) goto out;
        snprintf(t, tl, "x-amz-security-token: %s", s->session_token);
        h = curl_slist_append(h, t);
        ursa_free(t);
    }
    if (!h) goto out;

    read_state_t rs = {q->body, q->body_len};
    curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
    curl_easy_setopt(c, CURLOPT_SHARE, s->share);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms < 10000 ? s->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    /* An empty "Expect:" header would turn off 100-continue, but curl 7.88
     * then signs a header it does not send (403 SignatureDoesNotMatch):
     * keep 100-continue and do not wait long for it. */
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
    if (!strcmp(q->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &rs);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
    } else if (!strcmp(q->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? (const char *)q->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    } else if (!strcmp(q->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(q->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    }
    curl_err[0] = '\0';
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
out:
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    ursa_buf_free(&url);
    return cc;
}

/* Makes the request, retrying what is worth retrying until the deadline.
 * Returns URSA_OK for a 2xx answer (and for the statuses in ok_also), else
 * an error with a message naming the operation and the S3 error code. */
static int s3_call(s3_store_t *s, s3_req_t *q, const char *what, long ok_also, ursa_err_t *err)
{
    int64_t start = now_ms();
    char curl_err[CURL_ERROR_SIZE];
    for (int tries = 1;; tries++) {
        q->tries = tries;
        URSA_COUNT(s3_requests, 1);
        CURLcode cc = attempt(s, q, curl_err);
        bool retry;
        if (cc == CURLE_OUT_OF_MEMORY) return URSA_ENOMEM;
        char code[64] = "", msg[256] = "";
        if (cc == CURLE_OK) {
            if ((q->status >= 200 && q->status < 300) || q->status == ok_also) return URSA_OK;
            error_text(q, code, sizeof(code), msg, sizeof(msg));
            /* 501 NotImplemented is an answer, not a failure: the server lacks
             * what was asked (a conditional write), and will lack it next time. */
            retry = (q->status >= 500 && q->status != 501) || q->status == 429 || !strcmp(code, "SlowDown") ||
                    !strcmp(code, "RequestTimeout") || !strcmp(code, "InternalError");
        } else {
            retry = retryable_curl(cc);
        }
        /* Full jitter: sleep a random time up to 100 ms * 2^tries, capped at 5 s. */
        int64_t cap = 100LL << (tries < 6 ? tries : 6);
        if (cap > 5000) cap = 5000;
        int64_t sleep_ms = (int64_t)((double)cap * ((double)rand() / ((double)RAND_MAX + 1.0)));
        int64_t spent = now_ms() - start;
        if (!retry || spent + sleep_ms >= s->deadline_ms) {
            int rc = URSA_EIO;
            if (!(cc == CURLE_OK && q->status == 404)) URSA_COUNT(s3_failures, 1);
            if (cc == CURLE_OK) {
                if (q->status == 404) rc = URSA_ENOTFOUND;
                if (q->status == 403 || q->status == 401) rc = URSA_EAUTH;
                if (q->status == 412) rc = URSA_EEXIST;
                if (q->status == 501) rc = URSA_ENOTSUP;
                return ursa_err_set(err, rc, "S3 %s %s: HTTP %ld %s%s%s%s", what, q->key ? q->key : s->bucket,
                                    q->status, code, msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
            }
            return ursa_err_set(err, rc, "S3 %s %s: %s%s", what, q->key ? q->key : s->bucket,
                                curl_err[0] ? curl_err : curl_easy_strerror(cc),
                                retry ? " (retry deadline reached)" : "");
        }
        if (cc == CURLE_OK)
            ursa_warn("S3 %s %s: HTTP %ld %s, retrying (attempt %d)", what, q->key ? q->key : s->bucket,
                      q->status, code, tries + 1);
        else
            ursa_warn("S3 %s %s: %s, retrying (attempt %d)", what, q->key ? q->key : s->bucket,
                      curl_easy_strerror(cc), tries + 1);
        URSA_COUNT(s3_retries, 1);
        usleep((useconds_t)sleep_ms * 1000);
    }
}

/* The full key for a store key: the prefix and the key. */
static char *full_key(const s3_store_t *s, const char *key)
{
    size_t a = strlen(s->prefix), b = strlen(key);
    char *k = ursa_malloc(a + b + 1);
    if (!k) return NULL;
    memcpy(k, s->prefix, a);
    memcpy(k + a, key, b + 1);
    return k;
}

/* ---------------------------------------------------------------------------
 * Simple operations
 * ------------------------------------------------------------------------- */

static int put_object(s3_store_t *s, const char *fk, const void *data, size_t n, bool if_absent,
                      ursa_err_t *err)
{
    s3_req_t q = {.method = "PUT",
                  .key = fk,
                  .body = data,
                  .body_len = n,
                  .if_none_match = if_absent,
                  .resp_max = ERROR_BODY_MAX};
    int rc = s3_call(s, &q, "PutObject", 0, err);
    ursa_buf_free(&q.resp);
    return rc;
}

static int s3_put(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    char *fk = full_key(s, key);
    if (!fk) return URSA_ENOMEM;
    int rc = put_object(s, fk, data, n, false, err);
    ursa_free(fk);
    return rc;
}

static int s3_put_if_absent(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    char *fk = full_key(s, key);
    if (!fk) return URSA_ENOMEM;
    int rc = put_object(s, fk, data, n, true, err);
    if (rc == URSA_ENOTSUP)
        ursa_err_set(err, rc, "S3 server does not support conditional writes (If-None-Match) for %s", fk);
    ursa_free(fk);
    return rc;
}

static int get_object(s3_store_t *s, const char *key, const char *range, ursa_buf_t *out, ursa_err_t *err)
{
    char *fk = full_key(s, key);
    if (!fk) return URSA_ENOMEM;
    s3_req_t q = {.method = "GET", .key = fk, .range = range};
    q.resp = *out;
    q.resp.len = 0;
    int rc = s3_call(s, &q, "GetObject", 0, err);
    *out = q.resp;
    if (rc) out->len = 0;
    ursa_free(fk);
    return rc;
}

static int s3_get(ursa_store_t *st, const char *key, ursa_buf_t *out, ursa_err_t *err)
{
    return get_object((s3_store_t *)st, key, NULL, out, err);
}

static int s3_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                        ursa_err_t *err)
{
    out->len = 0;
    if (len == 0) return URSA_OK;
    char range[64];
    snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    int rc = get_object((s3_store_t *)st, key, range, out, err);
    if (rc == URSA_OK || err == NULL || !strstr(err->msg, "InvalidRange")) return rc;
    out->len = 0; /* a range past the end: nothing there, as with a file */
    return URSA_OK;
}

/* HEAD: the size from Content-Length, the version from the ETag (an MD5 of
 * the content, or of the parts' MD5s for a multipart upload: either way a
 * rewrite with other bytes gets another one). An ETag longer than the
 * room for it is left out: the version is then empty (unknown). */
static int s3_stat(ursa_store_t *st, const char *key, ursa_store_info_t *info, ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    char *fk = full_key(s, key);
    if (!fk) return URSA_ENOMEM;
    s3_req_t q = {.method = "HEAD", .key = fk};
    int rc = s3_call(s, &q, "HeadObject", 0, err);
    if (rc == URSA_OK) {
        info->size = q.content_length;
        snprintf(info->version, sizeof(info->version), "%s", q.etag);
    }
    ursa_buf_free(&q.resp);
    ursa_free(fk);
    return rc;
}

static int s3_del(ursa_store_t *st, const char *key, ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    char *fk = full_key(s, key);
    if (!fk) return URSA_ENOMEM;
    s3_req_t q = {.method = "DELETE", .key = fk, .resp_max = ERROR_BODY_MAX};
    int rc = s3_call(s, &q, "DeleteObject", 404, err);
    ursa_buf_free(&q.resp);
    ursa_free(fk);
    return rc;
}

/* Deletes up to DELETE_BATCH full keys with one DeleteObjects request. */
static int delete_batch(s3_store_t *s, char *const *keys, size_t n, ursa_err_t *err)
{
    ursa_buf_t body = {0};
    int rc = ursa_buf_printf(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        rc = ursa_buf_printf(&body, "<Object><Key>");
        for (const char *k = keys[i]; *k && rc == URSA_OK; k++) {
            if (*k == '&')
                rc = ursa_buf_printf(&body, "&amp;");
            else if (*k == '<')
                rc = ursa_buf_printf(&body, "&lt;");
            else if (*k == '>')
                rc = ursa_buf_printf(&body, "&gt;");
            else
                rc = ursa_buf_push(&body, (uint8_t)*k);
        }
        if (rc == URSA_OK) rc = ursa_buf_printf(&body, "</Key></Object>");
    }
    if (rc == URSA_OK) rc = ursa_buf_printf(&body, "</Delete>");
    if (rc) {
        ursa_buf_free(&body);
        return rc;
    }
    char md5[32];
    md5_base64(body.data, body.len, md5);
    s3_req_t q = {.method = "POST",
                  .key = NULL,
                  .query = "delete=",
                  .body = body.data,
                  .body_len = body.len,
                  .content_type = "application/xml",
                  .content_md5 = md5};
    rc = s3_call(s, &q, "DeleteObjects", 0, err);
    if (rc == URSA_OK && q.resp.len) {
        size_t cn;
        const char *b = (const char *)q.resp.data, *e = b + q.resp.len;
        const char *bad = xml_find(b, e, "Error", &cn, NULL);
        if (bad) {
            char code[64], msg[256];
            error_text(&q, code, sizeof(code), msg, sizeof(msg));
            rc =
                ursa_err_set(err, URSA_EIO, "S3 DeleteObjects: some keys were not deleted: %s %s", code, msg);
        }
    }
    ursa_buf_free(&q.resp);
    ursa_buf_free(&body);
    return rc;
}

static int s3_del_many(ursa_store_t *st, const char *const *keys, size_t n, ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    int rc = URSA_OK;
    char **full = ursa_calloc(n ? (n < DELETE_BATCH ? n : DELETE_BATCH) : 1, sizeof(char *));
    if (!full) return URSA_ENOMEM;
    for (size_t i = 0; i < n && rc == URSA_OK; i += DELETE_BATCH) {
        size_t k = n - i < DELETE_BATCH ? n - i : DELETE_BATCH, j;
        for (j = 0; j < k && rc == URSA_OK; j++)
            if (!(full[j] = full_key(s, keys[i + j]))) rc = URSA_ENOMEM;
        if (rc == URSA_OK) rc = delete_batch(s, full, k, err);
        for (size_t m = 0; m < j; m++) {
            ursa_free(full[m]);
            full[m] = NULL;
        }
    }
    ursa_free(full);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Listing (ListObjectsV2, following continuation tokens)
 * ------------------------------------------------------------------------- */

/* Builds the canonical query: parameters in byte order, values encoded. */
static int list_query(ursa_buf_t *q, const char *token, char delim, const char *prefix)
{
    q->len = 0;
    int rc = URSA_OK;
    if (token) {
        rc = ursa_buf_printf(q, "continuation-token=");
        if (rc == URSA_OK) rc = uri_encode(q, token, false);
        if (rc == URSA_OK) rc = ursa_buf_push(q, '&');
    }
    if (rc == URSA_OK && delim) rc = ursa_buf_printf(q, "delimiter=%%%02X&", (unsigned char)delim);
    if (rc == URSA_OK) rc = ursa_buf_printf(q, "list-type=2&prefix=");
    if (rc == URSA_OK) rc = uri_encode(q, prefix, false);
    if (rc == URSA_OK) rc = ursa_buf_push(q, '\0');
    return rc;
}

static int s3_list(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                   ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    char *fp = full_key(s, prefix);
    if (!fp) return URSA_ENOMEM;
    size_t strip = strlen(s->prefix);
    ursa_buf_t query = {0};
    char *token = NULL;
    int rc;
    s3_req_t q = {.method = "GET"};
    for (;;) {
        if ((rc = list_query(&query, token, delim, fp))) break;
        q.query = (const char *)query.data;
        if ((rc = s3_call(s, &q, "ListObjectsV2", 0, err))) break;
        const char *b = (const char *)q.resp.data, *e = b + q.resp.len, *p, *v;
        size_t n;
        /* Keys and common prefixes come in two sorted runs; merge them so
         * the callback sees byte order, as the local store gives it. */
        const char *kp = b, *pp = b;
        char *k = NULL, *cp = NULL;
        for (;;) {
            if (!k && (v = xml_find(kp, e, "Contents", &n, &p))) {
                size_t kn;
                const char *kv = xml_find(v, v + n, "Key", &kn, NULL);
                k = kv ? xml_text(kv, kn) : NULL;
                kp = p;
                if (kv && !k) {
                    rc = URSA_ENOMEM;
                    break;
                }
            }
            if (!cp && (v = xml_find(pp, e, "CommonPrefixes", &n, &p))) {
                size_t kn;
                const char *kv = xml_find(v, v + n, "Prefix", &kn, NULL);
                cp = kv ? xml_text(kv, kn) : NULL;
                pp = p;
                if (kv && !cp) {
                    rc = URSA_ENOMEM;
                    break;
                }
            }
            if (!k && !cp) break;
            bool take_key = k && (!cp || strcmp(k, cp) < 0);
            char *item = take_key ? k : cp;
            if (strlen(item) > strip) rc = cb(ctx, item + strip, !take_key);
            ursa_free(item);
            if (take_key)
                k = NULL;
            else
                cp = NULL;
            if (rc) break;
        }
        ursa_free(k);
        ursa_free(cp);
        if (rc) break;
        const char *t = xml_find(b, e, "IsTruncated", &n, NULL);
        bool truncated = t && n == 4 && !memcmp(t, "true", 4);
        ursa_free(token);
        token = NULL;
        if (!truncated) break;
        t = xml_find(b, e, "NextContinuationToken", &n, NULL);
        if (!t) {
            rc = ursa_err_set(err, URSA_EFORMAT,
                              "S3 ListObjectsV2: truncated listing without a continuation token");
            break;
        }
        if (!(token = xml_text(t, n))) {
            rc = URSA_ENOMEM;
            break;
        }
    }
    ursa_free(token);
    ursa_buf_free(&q.resp);
    ursa_buf_free(&query);
    ursa_free(fp);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Writers: one PutObject, or a multipart upload with a part in flight
 * ------------------------------------------------------------------------- */

typedef struct s3_writer {
    ursa_store_writer_t base;
    s3_store_t *s;
    char *key;      /* full key */
    ursa_buf_t cur; /* the part being filled */
    uint64_t total;
    char *upload_id;
    char **etags; /* per part number - 1 */
    int nparts;
    bool orphans; /* a multipart upload was started: another one may exist (see start_multipart) */

    /* The uploader thread takes `next` (one part at a time). */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ursa_buf_t next;
    bool next_full; /* `next` holds a part to send */
    int next_number;
    bool stop;
    int failed; /* first failure of the thread */
    ursa_err_t err;
} s3_writer_t;

static int start_multipart(s3_writer_t *w, ursa_err_t *err)
{
    s3_req_t q = {.method = "POST", .key = w->key, .query = "uploads="};
    int rc = s3_call(w->s, &q, "CreateMultipartUpload", 0, err);
    /* An upload we know nothing of may exist whatever the answer looked
     * like: besides our retries, libcurl itself re-sends a request whose
     * reused connection died before any answer byte, so the server may have
     * created two uploads while we saw one clean answer. Every multipart
     * writer therefore lists and aborts the key's other uploads at the end
     * (one request per object of 8 MiB or more). */
    w->orphans = true;
    if (rc == URSA_OK) {
        size_t n;
        const char *v =
            xml_find((const char *)q.resp.data, (const char *)q.resp.data + q.resp.len, "UploadId", &n, NULL);
        if (!v)
            rc = ursa_err_set(err, URSA_EFORMAT, "S3 CreateMultipartUpload %s: no UploadId in the answer",
                              w->key);
        else if (!(w->upload_id = xml_text(v, n)))
            rc = URSA_ENOMEM;
    }
    ursa_buf_free(&q.resp);
    return rc;
}

static int upload_part(s3_writer_t *w, int number, const ursa_buf_t *part, ursa_err_t *err)
{
    ursa_buf_t query = {0};
    int rc = ursa_buf_printf(&query, "partNumber=%d&uploadId=", number);
    if (rc == URSA_OK) rc = uri_encode(&query, w->upload_id, false);
    if (rc == URSA_OK) rc = ursa_buf_push(&query, '\0');
    if (rc) {
        ursa_buf_free(&query);
        return rc;
    }
    s3_req_t q = {.method = "PUT",
                  .key = w->key,
                  .query = (const char *)query.data,
                  .body = part->data,
                  .body_len = part->len,
                  .resp_max = ERROR_BODY_MAX};
    rc = s3_call(w->s, &q, "UploadPart", 0, err);
    if (rc == URSA_OK) {
        if (!q.etag[0])
            rc = ursa_err_set(err, URSA_EFORMAT, "S3 UploadPart %s: no ETag in the answer", w->key);
        else if (!(w->etags[number - 1] = ursa_strdup(q.etag)))
            rc = URSA_ENOMEM;
    }
    ursa_buf_free(&q.resp);
    ursa_buf_free(&query);
    return rc;
}

static void *uploader(void *arg)
{
    s3_writer_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->next_full && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->next_full) break;
        int number = w->next_number;
        pthread_mutex_unlock(&w->mu);
        ursa_err_t e = {0};
        int rc = w->failed ? URSA_OK : upload_part(w, number, &w->next, &e);
        pthread_mutex_lock(&w->mu);
        if (rc && !w->failed) {
            w->failed = rc;
            w->err = e;
        }
        w->next.len = 0;
        w->next_full = false;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Hands the filled part to the uploader, waiting while one is in flight. */
static int send_part(s3_writer_t *w, ursa_err_t *err)
{
    int rc;
    if (!w->upload_id && (rc = start_multipart(w, err))) return rc;
    if (w->nparts == MAX_PARTS)
        return ursa_err_set(err, URSA_ELIMIT, "S3 object %s needs more than %d parts", w->key, MAX_PARTS);
    if (!w->th_started) {
        if (pthread_create(&w->th, NULL, uploader, w))
            return ursa_err_set(err, URSA_ENOMEM, "cannot start a thread");
        w->th_started = true;
    }
    pthread_mutex_lock(&w->mu);
    while (w->next_full) pthread_cond_wait(&w->cv, &w->mu);
    rc = w->failed;
    if (rc) {
        if (err) *err = w->err;
    } else {
        ursa_buf_t t = w->next; /* swap buffers: no copy */
        w->next = w->cur;
        w->cur = t;
        w->cur.len = 0;
        w->next_number = ++w->nparts;
        w->next_full = true;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Waits for the part in flight and stops the thread. Returns its failure. */
static int drain(s3_writer_t *w, ursa_err_t *err)
{
    if (!w->th_started) return URSA_OK;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->th_started = false;
    if (w->failed && err) *err = w->err;
    return w->failed;
}

static void writer_free(s3_writer_t *w)
{
    for (int i = 0; i < w->nparts; i++) ursa_free(w->etags ? w->etags[i] : NULL);
    ursa_free(w->etags);
    ursa_free(w->upload_id);
    ursa_free(w->key);
    ursa_buf_free(&w->cur);
    ursa_buf_free(&w->next);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    ursa_free(w);
}

static int s3_writer_open(ursa_store_t *st, const char *key, ursa_store_writer_t **out, ursa_err_t *err)
{
    s3_store_t *s = (s3_store_t *)st;
    s3_writer_t *w = ursa_calloc(1, sizeof(*w));
    if (!w) return URSA_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->s = s;
    w->key = full_key(s, key);
    w->etags = ursa_calloc(MAX_PARTS, sizeof(char *));
    if (!w->key || !w->etags) {
        writer_free(w);
        return URSA_ENOMEM;
    }
    *out = &w->base;
    return URSA_OK;
}

static int s3_writer_write(ursa_store_writer_t *base, const void *p, size_t n, ursa_err_t *err)
{
    s3_writer_t *w = (s3_writer_t *)base;
    const uint8_t *d = p;
    w->total += n;
    while (n) {
        size_t room = w->s->part_bytes - w->cur.len, k = n < room ? n : room;
        int rc = ursa_buf_append(&w->cur, d, k);
        if (rc) return rc;
        d += k;
        n -= k;
        if (w->cur.len == w->s->part_bytes && (rc = send_part(w, err))) return rc;
    }
    return URSA_OK;
}

static void abort_id(s3_store_t *s, const char *key, const char *upload_id)
{
    ursa_buf_t query = {0};
    ursa_err_t e;
    if (ursa_buf_printf(&query, "uploadId=") || uri_encode(&query, upload_id, false) ||
        ursa_buf_push(&query, 0)) {
        ursa_buf_free(&query);
        return;
    }
    s3_req_t q = {
        .method = "DELETE", .key = key, .query = (const char *)query.data, .resp_max = ERROR_BODY_MAX};
    if (s3_call(s, &q, "AbortMultipartUpload", 404, &e)) ursa_error("%s", e.msg);
    ursa_buf_free(&q.resp);
    ursa_buf_free(&query);
}

static void abort_upload(s3_writer_t *w)
{
    if (w->upload_id) abort_id(w->s, w->key, w->upload_id);
}

/* A CreateMultipartUpload whose answer was lost (retried by us or, silently,
 * by libcurl) leaves an upload we never heard of: abort every unfinished
 * upload of this key but ours (keys are unique per flush, so none belongs
 * to anyone else). */
static void abort_orphans(s3_writer_t *w)
{
    if (!w->orphans) return;
    ursa_buf_t query = {0};
    ursa_err_t e;
    if (ursa_buf_printf(&query, "prefix=") || uri_encode(&query, w->key, false) ||
        ursa_buf_printf(&query, "&uploads=") || ursa_buf_push(&query, 0)) {
        ursa_buf_free(&query);
        return;
    }
    s3_req_t q = {.method = "GET", .query = (const char *)query.data};
    if (s3_call(w->s, &q, "ListMultipartUploads", 0, &e) == URSA_OK) {
        const char *p = (const char *)q.resp.data, *end = p + q.resp.len, *v, *next;
        size_t n;
        while ((v = xml_find(p, end, "Upload", &n, &next))) {
            size_t kn, in;
            const char *kv = xml_find(v, v + n, "Key", &kn, NULL),
                       *iv = xml_find(v, v + n, "UploadId", &in, NULL);
            char *k = kv ? xml_text(kv, kn) : NULL, *id = iv ? xml_text(iv, in) : NULL;
            if (k && id && !strcmp(k, w->key) && (!w->upload_id || strcmp(id, w->upload_id))) {
                ursa_warn("S3 %s: aborting an orphaned multipart upload", w->key);
                abort_id(w->s, w->key, id);
            }
            ursa_free(k);
            ursa_free(id);
            p = next;
        }
    } else {
        ursa_error("%s", e.msg);
    }
    ursa_buf_free(&q.resp);
    ursa_buf_free(&query);
}

static void s3_writer_abort(ursa_store_writer_t *base)
{
    s3_writer_t *w = (s3_writer_t *)base;
    drain(w, NULL);
    abort_upload(w);
    abort_orphans(w);
    writer_free(w);
}

static int complete_upload(s3_writer_t *w, ursa_err_t *err)
{
    ursa_buf_t body = {0}, query = {0};
    int rc = ursa_buf_printf(&body, "<CompleteMultipartUpload>");
    for (int i = 0; i < w->nparts && rc == URSA_OK; i++)
        rc = ursa_buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1,
                             w->etags[i]);
    if (rc == URSA_OK) rc = ursa_buf_printf(&body, "</CompleteMultipartUpload>");
    if (rc == URSA_OK) rc = ursa_buf_printf(&query, "uploadId=");
    if (rc == URSA_OK) rc = uri_encode(&query, w->upload_id, false);
    if (rc == URSA_OK) rc = ursa_buf_push(&query, '\0');
    s3_req_t q = {.method = "POST",
                  .key = w->key,
                  .query = (const char *)query.data,
                  .body = body.data,
                  .body_len = body.len,
                  .content_type = "application/xml"};
    if (rc == URSA_OK) rc = s3_call(w->s, &q, "CompleteMultipartUpload", 0, err);
    if (rc == URSA_OK) {
        /* The answer is 200 even when the completion failed: look inside. */
        size_t n;
        const char *b = (const char *)q.resp.data, *e = b + q.resp.len;
        if (xml_find(b, e, "Code", &n, NULL) && !xml_find(b, e, "ETag", &n, NULL)) {
            char code[64], msg[256];
            error_text(&q, code, sizeof(code), msg, sizeof(msg));
            rc = ursa_err_set(err, URSA_EIO, "S3 CompleteMultipartUpload %s: %s %s", w->key, code, msg);
        }
    } else if (rc == URSA_ENOTFOUND) {
        /* NoSuchUpload after a retry: an earlier attempt completed it and
         * its answer was lost. The object is there with our size, or not. */
        s3_req_t h = {.method = "HEAD", .key = w->key};
        ursa_err_t e2;
        if (s3_call(w->s, &h, "HeadObject", 0, &e2) == URSA_OK && h.content_length == w->total) {
            ursa_warn("S3 CompleteMultipartUpload %s: the upload was already complete", w->key);
            rc = URSA_OK;
            ursa_free(w->upload_id);
            w->upload_id = NULL;
        }
        ursa_buf_free(&h.resp);
    }
    if (rc == URSA_OK) {
        ursa_free(w->upload_id);
        w->upload_id = NULL;
    }
    ursa_buf_free(&q.resp);
    ursa_buf_free(&body);
    ursa_buf_free(&query);
    return rc;
}

static int s3_writer_commit(ursa_store_writer_t *base, ursa_err_t *err)
{
    s3_writer_t *w = (s3_writer_t *)base;
    int rc;
    if (!w->upload_id) {
        rc = put_object(w->s, w->key, w->cur.data, w->cur.len, false, err);
    } else {
        rc = w->cur.len ? send_part(w, err) : URSA_OK;
        int rc2 = drain(w, rc ? NULL : err);
        if (!rc) rc = rc2;
        if (!rc) rc = complete_upload(w, err);
        if (rc) abort_upload(w);
        abort_orphans(w);
    }
    writer_free(w);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------- */

static void s3_destroy(ursa_store_t *st)
{
    s3_store_t *s = (s3_store_t *)st;
    if (s->share) curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&s->share_locks[i]);
    ursa_free(s->bucket);
    ursa_free(s->prefix);
    ursa_free(s->endpoint);
    ursa_free(s->host_url);
    ursa_free(s->region);
    ursa_free(s->access_key);
    if (s->secret_key) memset(s->secret_key, 0, strlen(s->secret_key));
    ursa_free(s->secret_key);
    ursa_free(s->session_token);
    ursa_free(s);
}

static const struct ursa_store_ops s3_ops = {
    .put = s3_put,
    .get = s3_get,
    .list = s3_list,
    .del = s3_del,
    .del_many = s3_del_many,
    .get_range = s3_get_range,
    .stat = s3_stat,
    .put_if_absent = s3_put_if_absent,
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_commit = s3_writer_commit,
    .writer_abort = s3_writer_abort,
    .destroy = s3_destroy,
};

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v) return v;
    v = b ? getenv(b) : NULL;
    return v && *v ? v : NULL;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    long x = v ? strtol(v, NULL, 10) : 0;
    return x > 0 ? x : dflt;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ursa_store_s3_open(const char *bucket, const char *prefix, const ursa_s3_config_t *cfg,
                       ursa_store_t **out, ursa_err_t *err)
{
    ursa_s3_config_t c = cfg ? *cfg : (ursa_s3_config_t){.path_style = -1};
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (!c.endpoint) c.endpoint = env2("AWS_ENDPOINT_URL", "S3_ENDPOINT_URL");
    if (!c.region) c.region = env2("AWS_REGION", "AWS_DEFAULT_REGION");
    if (!c.region) c.region = "us-east-1";
    if (!c.access_key) c.access_key = env2("AWS_ACCESS_KEY_ID", "S3_KEY");
    if (!c.secret_key) c.secret_key = env2("AWS_SECRET_ACCESS_KEY", "S3_SECRET");
    if (!c.session_token) c.session_token = env2("AWS_SESSION_TOKEN", NULL);
    if (c.timeout_ms <= 0) c.timeout_ms = env_long("URSA_S3_TIMEOUT_MS", 30000);
    if (c.retry_deadline_ms <= 0) c.retry_deadline_ms = env_long("URSA_S3_RETRY_DEADLINE_MS", 60000);
    if (!c.part_bytes) c.part_bytes = DEFAULT_PART;
    if (c.part_bytes < MIN_PART) c.part_bytes = MIN_PART;
    if (!c.access_key || !c.secret_key)
        return ursa_err_set(
            err, URSA_EAUTH,
            "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or S3_KEY and "
            "S3_SECRET)");
    for (const char *p = c.region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return ursa_err_set(err, URSA_EINVAL, "bad S3 region \"%.40s\"", c.region);

    s3_store_t *s = ursa_calloc(1, sizeof(*s));
    if (!s) return URSA_ENOMEM;
    s->base.ops = &s3_ops;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&s->share_locks[i], NULL);
    int rc = URSA_ENOMEM;
    s->bucket = ursa_strdup(bucket);
    s->region = ursa_strdup(c.region);
    s->access_key = ursa_strdup(c.access_key);
    s->secret_key = ursa_strdup(c.secret_key);
    s->session_token = c.session_token ? ursa_strdup(c.session_token) : NULL;
    size_t pn = strlen(prefix);
    s->prefix = ursa_malloc(pn + 2);
    if (!s->bucket || !s->region || !s->access_key || !s->secret_key || !s->prefix ||
        (c.session_token && !s->session_token))
        goto fail;
    memcpy(s->prefix, prefix, pn);
    if (pn) s->prefix[pn++] = '/';
    s->prefix[pn] = '\0';
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
    s->timeout_ms = c.timeout_ms;
    s->deadline_ms = c.retry_deadline_ms;
    s->part_bytes = c.part_bytes;

    /* Where requests go: the endpoint (path-style by default) or AWS. */
    char host[512];
    if (c.endpoint) {
        const char *e = c.endpoint;
        size_t n = strlen(e);
        while (n && e[n - 1] == '/') n--;
        if (strncmp(e, "http://", 7) && strncmp(e, "https://", 8)) {
            rc = ursa_err_set(err, URSA_EINVAL, "the S3 endpoint must start with http:// or https://");
            goto fail;
        }
        s->path_style = c.path_style != 0;
        if (s->path_style) {
            snprintf(host, sizeof(host), "%.*s", (int)n, e);
        } else {
            const char *h = strstr(e, "://") + 3;
            snprintf(host, sizeof(host), "%.*s%s.%.*s", (int)(h - e), e, bucket, (int)(n - (size_t)(h - e)),
                     h);
        }
    } else {
        s->path_style = c.path_style == 1;
        if (s->path_style)
            snprintf(host, sizeof(host), "https://s3.%s.amazonaws.com", s->region);
        else
            snprintf(host, sizeof(host), "https://%s.s3.%s.amazonaws.com", bucket, s->region);
    }
    if (!(s->host_url = ursa_strdup(host))) goto fail;
    if (!(s->share = curl_share_init())) goto fail;
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

    /* Check the bucket and the credentials now, with one small listing,
     * so a wrong set-up fails at start with a clear message. */
    s3_req_t q = {.method = "GET", .query = "list-type=2&max-keys=1"};
    rc = s3_call(s, &q, "ListObjectsV2", 0, err);
    ursa_buf_free(&q.resp);
    if (rc == URSA_ENOTFOUND && err)
        ursa_err_set(err, rc, "S3 bucket \"%s\" does not exist at %s", bucket, s->host_url);
    else if (rc == URSA_EAUTH && err) {
        char why[160];
        snprintf(why, sizeof(why), "%.150s", err->msg);
        ursa_err_set(err, rc, "S3 refused the credentials for bucket \"%.63s\" (access key id %.4s...): %s",
                     bucket, s->access_key, why);
    }
    if (rc) goto fail;
    *out = &s->base;
    return URSA_OK;
fail:
    s3_destroy(&s->base);
    return rc;
}
