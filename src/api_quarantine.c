/*
 * api_quarantine.c -- GET /v1/datasets/D/quarantine: the refused rows of a
 * dataset, the newest buffered ones as JSON rows, then the published
 * quarantine files (newest first) with their sizes and row counts, read
 * from their Parquet footers. The answer is bounded: at most
 * QUARANTINE_LIMIT_MAX rows and QUARANTINE_ANSWER_MAX bytes of them, the
 * details of at most QUARANTINE_FILES_MAX files. When the store does not
 * answer, the buffered rows are still shown, with the store's error.
 */
#include "api_quarantine.h"

#include "pq_read.h"
#include "quarantine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUARANTINE_LIMIT_DEFAULT 100
#define QUARANTINE_LIMIT_MAX     10000
#define QUARANTINE_FILES_MAX     1000
/* Rows of a quarantine answer stop past this many bytes of JSON (a row's
 * raw text alone may take 64 KiB, 384 KiB escaped): 10,000 of them must
 * not become gigabytes per request. */
#define QUARANTINE_ANSWER_MAX (4u << 20)

typedef struct qfile {
    char *key;
    char date[11];
    uint64_t first_lsn;
} qfile_t;

typedef struct qfiles {
    qfile_t *f;
    size_t n, cap;
} qfiles_t;

/* Listing callback: every Parquet object under the quarantine's prefix. */
static int collect_qfile(void *ctx, const char *key, bool is_prefix)
{
    qfiles_t *fs = ctx;
    size_t n = strlen(key);
    if (is_prefix || n < 8 || strcmp(key + n - 8, ".parquet")) return URSA_OK;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        qfile_t *p = ursa_realloc(fs->f, cap * sizeof(*p));
        if (!p) return URSA_ENOMEM;
        fs->f = p;
        fs->cap = cap;
    }
    qfile_t *f = &fs->f[fs->n];
    memset(f, 0, sizeof(*f));
    if (!(f->key = ursa_strdup(key))) return URSA_ENOMEM;
    const char *d = strstr(key, "/date=");
    if (d && strlen(d + 6) >= 10) memcpy(f->date, d + 6, 10);
    /* <node>-<first LSN>-<last LSN>.parquet: the first LSN orders a node's files */
    const char *dash = strrchr(key, '-');
    if (dash) {
        const char *p = dash - 1;
        while (p > key && *p >= '0' && *p <= '9') p--;
        if (*p == '-') f->first_lsn = strtoull(p + 1, NULL, 10);
    }
    fs->n++;
    return URSA_OK;
}

/* Newest first: by day, then by log position, then by key. */
static int cmp_qfile(const void *a, const void *b)
{
    const qfile_t *x = a, *y = b;
    int c = strcmp(y->date, x->date);
    if (c) return c;
    if (x->first_lsn != y->first_lsn) return x->first_lsn < y->first_lsn ? 1 : -1;
    return strcmp(y->key, x->key);
}

/* Reads the size and the row count (from the footer) of a published file. */
static int file_rows(ursa_store_t *st, const char *key, uint64_t *bytes, int64_t *rows, ursa_err_t *err)
{
    ursa_buf_t tail = {0};
    uint32_t flen;
    int rc = ursa_store_head(st, key, bytes, err);
    if (rc) return rc;
    if (*bytes < 12) return ursa_err_set(err, URSA_EFORMAT, "%s is not a Parquet file", key);
    /* One read usually holds the whole footer of a quarantine file. */
    uint64_t want = *bytes < 65536 ? *bytes : 65536;
    if ((rc = ursa_store_get_range(st, key, *bytes - want, want, &tail, err))) goto out;
    if ((rc = pq_read_footer_len(tail.data, tail.len, &flen))) goto bad;
    if ((uint64_t)flen + 8 > *bytes) goto bad;
    if ((uint64_t)flen + 8 > tail.len) {
        tail.len = 0;
        if ((rc = ursa_store_get_range(st, key, *bytes - 8 - flen, flen + 8, &tail, err))) goto out;
        if (tail.len != (uint64_t)flen + 8) goto bad;
    }
    if ((rc = pq_read_num_rows(tail.data + tail.len - 8 - flen, flen, rows))) goto bad;
out:
    ursa_buf_free(&tail);
    return rc;
bad:
    ursa_buf_free(&tail);
    return ursa_err_set(err, URSA_EFORMAT, "%s: the Parquet footer cannot be read", key);
}

/* The newest buffered rows (under the lock: a flush frees chunks only after
 * taking them out of the list under it), until limit rows or until the
 * answer has QUARANTINE_ANSWER_MAX bytes (*cut is then set). */
static int buffered_rows_json(ursa_dataset_t *qd, size_t limit, ursa_buf_t *b, size_t *listed, bool *cut)
{
    int rc = URSA_OK;
    size_t stop = b->len + QUARANTINE_ANSWER_MAX;
    *listed = 0;
    *cut = false;
    pthread_mutex_lock(&qd->lock);
    for (size_t k = qd->nchunks; k-- > 0 && *listed < limit && rc == URSA_OK && !*cut;) {
        const ursa_batch_t *ch = qd->chunks[k];
        for (size_t i = ch->nrows; i-- > 0 && *listed < limit && rc == URSA_OK;) {
            if (b->len >= stop) {
                *cut = true;
                break;
            }
            if (*listed) rc = ursa_buf_push(b, ',');
            if (rc == URSA_OK) rc = ursa_quarantine_row_json(ch, i, b);
            ++*listed;
        }
    }
    pthread_mutex_unlock(&qd->lock);
    return rc;
}

enum MHD_Result api_quarantine_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    ursa_dataset_t *qd = q->ds->quarantine;
    size_t limit = QUARANTINE_LIMIT_DEFAULT;
    const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (ls) {
        char *end;
        unsigned long long v = strtoull(ls, &end, 10);
        if (!*ls || *end || ls[0] == '-' || v > QUARANTINE_LIMIT_MAX)
            return api_send_error(c, MHD_HTTP_BAD_REQUEST, "limit must be a number from 0 to 10000");
        limit = (size_t)v;
    }
    ursa_buf_t b = {0};
    ursa_err_t err = {0};
    qfiles_t fs = {0};
    uint64_t buffered, buffered_bytes, file_bytes = 0, file_rows_total = 0;
    size_t listed;
    bool cut;
    ursa_dataset_stats(qd, &buffered, &buffered_bytes);
    int rc = ursa_buf_printf(&b, "{\"dataset\":\"%s\",\"prefix\":\"%s/\",\"buffered\":%llu,\"rows\":[",
                             q->name, qd->name, (unsigned long long)buffered);
    if (rc == URSA_OK) rc = buffered_rows_json(qd, limit, &b, &listed, &cut);
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, "],\"rows_listed\":%zu", listed);
    if (rc == URSA_OK && cut)
        rc = ursa_buf_printf(&b, ",\"rows_truncated\":true,\"rows_max_bytes\":%u", QUARANTINE_ANSWER_MAX);
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, ",\"files\":[");
    char prefix[URSA_DATASET_NAME_MAX + 2];
    snprintf(prefix, sizeof(prefix), "%s/", qd->name);
    int lrc = rc == URSA_OK ? ursa_store_list(a->cat->store, prefix, 0, collect_qfile, &fs, &err) : rc;
    if (lrc == URSA_ENOMEM) rc = lrc;
    size_t detailed = 0;
    if (rc == URSA_OK && lrc == URSA_OK) {
        if (fs.n) qsort(fs.f, fs.n, sizeof(*fs.f), cmp_qfile);
        for (size_t i = 0; i < fs.n && i < QUARANTINE_FILES_MAX && rc == URSA_OK; i++) {
            uint64_t bytes;
            int64_t rows;
            if ((lrc = file_rows(a->cat->store, fs.f[i].key, &bytes, &rows, &err))) break;
            if (i) rc = ursa_buf_push(&b, ',');
            if (rc == URSA_OK) rc = ursa_buf_printf(&b, "{\"key\":");
            if (rc == URSA_OK) rc = ursa_buf_json_str(&b, fs.f[i].key, strlen(fs.f[i].key));
            if (rc == URSA_OK)
                rc = ursa_buf_printf(&b, ",\"date\":\"%s\",\"rows\":%lld,\"bytes\":%llu}", fs.f[i].date,
                                     (long long)rows, (unsigned long long)bytes);
            file_bytes += bytes;
            file_rows_total += (uint64_t)rows;
            detailed++;
        }
    }
    if (rc == URSA_OK)
        rc =
            ursa_buf_printf(&b,
                            "],\"files_listed\":%zu,\"files_total\":%zu,\"totals\":{\"buffered_rows\":%llu,"
                            "\"file_rows\":%llu,\"file_bytes\":%llu,\"rows\":%llu}",
                            detailed, fs.n, (unsigned long long)buffered, (unsigned long long)file_rows_total,
                            (unsigned long long)file_bytes, (unsigned long long)(buffered + file_rows_total));
    if (rc == URSA_OK && lrc) {
        /* The buffer is still worth showing when the store does not answer. */
        rc = ursa_buf_printf(&b, ",\"files_error\":");
        if (rc == URSA_OK) rc = ursa_buf_json_str(&b, err.msg, strlen(err.msg));
    }
    if (rc == URSA_OK) rc = ursa_buf_push(&b, '}');
    for (size_t i = 0; i < fs.n; i++) ursa_free(fs.f[i].key);
    ursa_free(fs.f);
    return api_send_built(c, rc, &b);
}
