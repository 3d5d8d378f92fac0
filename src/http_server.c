/*
 * http_server.c -- routes, request bodies and responses.
 *
 * Request lifecycle (libmicrohttpd calls the access handler repeatedly):
 *   1st call   route the request, check method, dataset, headers and the
 *              budgets; a request refused here is answered at once when it
 *              has no body on its way (none, "Expect: 100-continue", or more
 *              than DRAIN_MAX declared: libmicrohttpd then closes the
 *              connection), else once its body has been read and dropped (a
 *              connection closed on unread bytes is reset, and the client
 *              loses the answer);
 *   n calls    body pieces: fed to the NDJSON scanner (records) or
 *              collected up to a small limit (schemas);
 *   last call  (*upload_data_size == 0) act and queue the answer. Answers
 *              are queued in a later call than the first, because
 *              libmicrohttpd 0.9.75 drops keep-alive for answers queued in
 *              the first one. For records: when rows will be stored, the
 *              columns the request added to an evolving schema (its own
 *              until then, see ingest_json.h) are committed first
 *              (ursa_dataset_evolve: the schema is in the store before the
 *              WAL record that uses it; a conflict is a 409 and stores
 *              nothing), then the quarantined rows and the rows are logged.
 * Every answer has a JSON body; errors are {"error": "..."}. Every answer
 * carries the request's id in X-Request-Id (the client's, when sane, else
 * one made here), so a client, a log line and a quarantined row can be
 * matched up.
 */
#include "http_server.h"

#include "ingest_json.h"
#include "idem.h"
#include "ingest_body.h"
#include "metrics.h"
#include "pq_read.h"
#include "quarantine.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <xxhash.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_BODY_MAX (1u << 20)
/* The body of a request refused in its first call is read and dropped,
 * up to this many bytes, before the answer (see drain_first). */
#define DRAIN_MAX                ((uint64_t)64 << 20)
#define REQUEST_ID_MAX           128
#define QUARANTINE_LIMIT_DEFAULT 100
#define QUARANTINE_LIMIT_MAX     10000
#define QUARANTINE_FILES_MAX     1000
/* Rows of a quarantine answer stop past this many bytes of JSON (a row's
 * raw text alone may take 64 KiB, 384 KiB escaped): 10,000 of them must
 * not become gigabytes per request. */
#define QUARANTINE_ANSWER_MAX (4u << 20)

struct ursa_server {
    struct MHD_Daemon *mhd;
    ursa_catalog_t *cat;
    ursa_server_opts_t o;
    uint16_t port;
    atomic_int inflight;  /* requests begun and not yet completed */
    atomic_bool stopping; /* shutting down: requests that start now are refused */
    /* request ids made here: "<node>-<start time µs, hex>-<counter>", unique
     * across nodes (names differ) and restarts (start times differ) */
    char id_prefix[96];
    atomic_ullong next_id;
    /* body bytes that requests admitted under the memory budget declared
     * (Content-Length) and have not sent yet: what is on its way */
    atomic_ullong pending_body;
};

enum route {
    R_NONE = 0,
    R_HEALTH,
    R_METRICS,
    R_DATASETS,
    R_DATASET,
    R_RECORDS,
    R_FLUSH,
    R_QUARANTINE,
};

/* A refusal in a request's first call: status, message, Retry-After (0:
 * none), Allow (NULL: none). */
typedef struct refusal {
    unsigned status, retry_after;
    const char *allow;
    char msg[200];
} refusal_t;

typedef struct req {
    enum route route;
    bool started;
    char request_id[REQUEST_ID_MAX + 1];
    int64_t received_us;   /* wall clock when the request began: received_at of its quarantined rows */
    int64_t began_mono_us; /* monotonic clock then: for the body's rate floor */
    char name[URSA_NAME_MAX + 1];
    ursa_dataset_t *ds;
    size_t received;
    uint64_t declared_left; /* of its Content-Length, not received yet (counted in pending_body) */
    bool over_memory;       /* the memory budget filled while the body arrived: the rest is skipped */
    refusal_t
        refused; /* refused in the first call (status set): answered now, or after the body is dropped */
    bool too_large;
    ursa_buf_t body; /* schema documents */
    char *idem_key;  /* Idempotency-Key claimed by this request, or NULL */
    bool idem_done;  /* its answer is in the table */
    /* with an Idempotency-Key: the digest of the body as it arrives; a
     * retry of an answered request (replay) only reads and digests its
     * body, then gets the first answer (status, answer) when the digests
     * match and 422 when not */
    XXH3_state_t *digest;
    bool replay;
    uint8_t replay_digest[URSA_IDEM_DIGEST];
    uint8_t body_digest[URSA_IDEM_DIGEST]; /* of this request's body, once read (with a key) */
    /* waiting for the WAL: the connection is suspended until the record
     * is durable; then the prepared answer is sent */
    bool waiting;
    int durable_rc;
    unsigned status;
    ursa_buf_t answer;
    uint64_t accepted, rejected;
    struct MHD_Connection *conn;
    ursa_batch_t *batch;
    ursa_ndjson_t scan;
    bool scanning;
    ursa_body_t in; /* decompression and format, in front of scan */
    ursa_err_t in_err;
    int in_rc;            /* URSA_EFORMAT: broken compression (400) */
    bool all_or_nothing;  /* ?mode=all_or_nothing */
    int fatal;            /* an internal failure while scanning */
    ursa_batch_t *qbatch; /* the rows refused, for the quarantine (NULL until one is) */
    uint64_t qdropped;    /* refused rows past URSA_QUARANTINE_REQUEST_MAX: counted, not kept */
    int qfail;            /* the quarantine batch could not grow (ENOMEM) */
    /* rows [0, part_rows) of batch are logged already, as the part records
     * listed (see ursa_catalog_wal_part); pin keeps them in the log */
    uint64_t *parts;
    size_t nparts, parts_cap, part_rows;
    uint64_t pin;
    bool pinned, final_logged;
} req_t;

/* The id of the request being handled on this thread, for X-Request-Id.
 * Every answer is queued from inside handle(), which sets it first, so the
 * many send_* helpers need no extra parameter. */
static _Thread_local const char *current_request_id;

/* Queues r with the headers every answer has. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (current_request_id) MHD_add_response_header(r, "X-Request-Id", current_request_id);
    return MHD_queue_response(c, status, r);
}

/* ---------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, ursa_buf_t *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = queue(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends b's bytes without copying them: libmicrohttpd frees them once
 * sent, so a large answer stays counted in the memory budget until then.
 * b is emptied when the answer was queued (the caller frees it either way). */
static enum MHD_Result send_owned(struct MHD_Connection *c, unsigned status, ursa_buf_t *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(b->len, b->data, ursa_free);
    if (!r) return MHD_NO;
    b->data = NULL;
    b->len = b->cap = 0;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = queue(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const char *json)
{
    ursa_buf_t b = {(uint8_t *)(uintptr_t)json, strlen(json), 0};
    return send_buf(c, status, &b);
}

/* An error answer with its Retry-After and Allow headers, if any. */
static enum MHD_Result send_refusal(struct MHD_Connection *c, const refusal_t *f)
{
    ursa_buf_t b = {0};
    enum MHD_Result ret = MHD_NO;
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", f->retry_after);
    if (ursa_buf_printf(&b, "{\"error\":") == URSA_OK &&
        ursa_buf_json_str(&b, f->msg, strlen(f->msg)) == URSA_OK && ursa_buf_push(&b, '}') == URSA_OK) {
        struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
            if (f->retry_after) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
            if (f->allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, f->allow);
            ret = queue(c, f->status, r);
            MHD_destroy_response(r);
        }
    }
    ursa_buf_free(&b);
    return ret;
}

/* An error answer with Retry-After, for backpressure. */
static enum MHD_Result send_retry(struct MHD_Connection *c, unsigned status, const char *msg,
                                  unsigned seconds)
{
    refusal_t f = {status, seconds, NULL, ""};
    snprintf(f.msg, sizeof(f.msg), "%s", msg);
    return send_refusal(c, &f);
}

/* Past a budget, ingest is refused: 429 (slow down), or 503 while the
 * store is failing (rows cannot drain). A request being admitted counts
 * the body it declares with what is in use and with the bodies still on
 * their way (the budget is checked before a byte is read, not once it has
 * all been parsed); a request at its end counts what is in use. Returns
 * true and fills *r when the request must be refused. */
static bool over_budget(ursa_server_t *srv, bool admission, uint64_t coming, refusal_t *r)
{
    const char *what = NULL;
    ursa_catalog_pressure(srv->cat); /* flush the largest buffers now, if it is time */
    uint64_t on_the_way = admission ? atomic_load(&srv->pending_body) + coming : 0;
    if (srv->o.memory_limit && ursa_mem_used() + on_the_way >= srv->o.memory_limit)
        what = "the memory budget for buffered rows and bodies being received is full";
    else if (srv->o.wal_limit && srv->cat->wal && ursa_wal_bytes(srv->cat->wal) >= srv->o.wal_limit)
        what = "the write-ahead log disk budget is full";
    if (!what) return false;
    bool failing = __atomic_load_n(&srv->cat->store_failing, __ATOMIC_RELAXED);
    snprintf(r->msg, sizeof(r->msg), "%s%s; nothing was accepted, retry later", what,
             failing ? " and the store is failing" : "");
    r->status = failing ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_TOO_MANY_REQUESTS;
    r->retry_after = failing ? 5 : 1;
    URSA_COUNT(backpressure, 1);
    return true;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    ursa_buf_t b = {0};
    enum MHD_Result ret = MHD_NO;
    if (ursa_buf_printf(&b, "{\"error\":") == URSA_OK && ursa_buf_json_str(&b, msg, strlen(msg)) == URSA_OK &&
        ursa_buf_push(&b, '}') == URSA_OK)
        ret = send_buf(c, status, &b);
    ursa_buf_free(&b);
    return ret;
}

static unsigned status_for(int rc)
{
    switch (rc) {
    case URSA_EINVAL:
    case URSA_EFORMAT:
        return MHD_HTTP_BAD_REQUEST;
    case URSA_ENOTFOUND:
        return MHD_HTTP_NOT_FOUND;
    case URSA_EEXIST:
        return MHD_HTTP_CONFLICT;
    case URSA_ELIMIT:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    case URSA_ENOMEM:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* {"name":..,"schema":{..},"buffered_rows":N,"buffered_bytes":B} */
static int dataset_json(ursa_dataset_t *d, ursa_buf_t *b)
{
    uint64_t rows, bytes;
    ursa_dataset_stats(d, &rows, &bytes);
    char *schema = ursa_dataset_schema_json(d); /* it may change (evolving schemas) */
    if (!schema) return URSA_ENOMEM;
    int rc =
        ursa_buf_printf(b, "{\"name\":\"%s\",\"schema\":%s,\"buffered_rows\":%llu,\"buffered_bytes\":%llu}",
                        d->name, schema, (unsigned long long)rows, (unsigned long long)bytes);
    ursa_free(schema);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------- */

/* Splits the URL into a route and a dataset name. */
static enum route route_of(const char *url, char *name, bool *bad_name)
{
    *bad_name = false;
    if (strcmp(url, "/healthz") == 0) return R_HEALTH;
    if (strcmp(url, "/metrics") == 0) return R_METRICS;
    if (strcmp(url, "/v1/datasets") == 0 || strcmp(url, "/v1/datasets/") == 0) return R_DATASETS;
    if (strncmp(url, "/v1/datasets/", 13) != 0) return R_NONE;
    const char *p = url + 13, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    enum route r;
    if (!slash || slash[1] == '\0')
        r = R_DATASET;
    else if (strcmp(slash, "/records") == 0)
        r = R_RECORDS;
    else if (strcmp(slash, "/flush") == 0)
        r = R_FLUSH;
    else if (strcmp(slash, "/quarantine") == 0)
        r = R_QUARANTINE;
    else
        return R_NONE;
    if (!ursa_name_valid(p, n)) {
        *bad_name = true;
        return r;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    return r;
}

static const char *allowed_methods(enum route r)
{
    switch (r) {
    case R_HEALTH:
    case R_METRICS:
    case R_DATASETS:
    case R_QUARANTINE:
        return "GET";
    case R_DATASET:
        return "GET, PUT";
    default:
        return "POST";
    }
}

static bool method_allowed(enum route r, const char *m)
{
    switch (r) {
    case R_HEALTH:
    case R_METRICS:
    case R_DATASETS:
    case R_QUARANTINE:
        return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    case R_DATASET:
        return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0;
    default:
        return strcmp(m, "POST") == 0;
    }
}

/* ---------------------------------------------------------------------------
 * Handlers for the last call
 * ------------------------------------------------------------------------- */

typedef struct then_append {
    ursa_dataset_t *d;
    ursa_batch_t *b;
    int rc;
} then_append_t;

/* Runs under the WAL's lock once the record has its LSN, so that every
 * dataset's buffer is in LSN order. */
static void append_in_order(void *ctx, uint64_t lsn)
{
    then_append_t *t = ctx;
    t->b->lsn = lsn;
    t->rc = ursa_dataset_append(t->d, t->b);
}

/* Called by the WAL writer once the request's record is durable (or the
 * log failed): wakes the suspended connection, which then answers. */
static void on_durable(void *ctx, int rc)
{
    req_t *q = ctx;
    q->durable_rc = rc;
    MHD_resume_connection(q->conn);
}

/* Writes *batch (with the idempotency key and answer, when key is set) to
 * the WAL as a record of dataset d and appends it to d's buffer; *lsn is
 * its record. Rows before q->part_rows were logged as q's parts (pass
 * q NULL for a batch without parts). Without a WAL the batch is only
 * appended. Either way *batch is taken (set to NULL) once it is the
 * dataset's. */
static int log_and_append(ursa_server_t *srv, ursa_dataset_t *d, ursa_batch_t **batch, const req_t *q,
                          const char *key, unsigned status, const ursa_buf_t *answer, const uint8_t *digest,
                          uint64_t *lsn, ursa_err_t *err)
{
    if (!srv->cat->wal) {
        int rc = ursa_dataset_append(d, *batch);
        *batch = NULL; /* owned by the dataset now, or freed */
        return rc ? ursa_err_set(err, rc, "out of memory") : URSA_OK;
    }
    /* The record is encoded after room for the log's header and handed
     * over as it is: the batch is copied once on its way into the log. */
    size_t from = q ? q->part_rows : 0, nparts = q ? q->nparts : 0;
    ursa_buf_t rec;
    int rc = ursa_wal_record_buf(srv->cat->wal,
                                 64 + strlen(d->name) + (key ? strlen(key) : 0) + answer->len + nparts * 8 +
                                     URSA_IDEM_DIGEST +
                                     ursa_batch_rows_encoded_size(*batch, from, (*batch)->nrows),
                                 &rec);
    if (rc == URSA_OK)
        rc = ursa_catalog_wal_record(d->name, key, status, answer->data, answer->len, digest, *batch,
                                     nparts ? q->parts : NULL, nparts, from, &rec);
    if (nparts) (*batch)->first_lsn = q->parts[0];
    if (rc) {
        ursa_buf_free(&rec);
        return ursa_err_set(err, rc, "out of memory");
    }
    then_append_t t = {d, *batch, URSA_OK};
    rc = ursa_wal_append_buf(srv->cat->wal, &rec, append_in_order, &t, lsn, err);
    ursa_buf_free(&rec); /* only left to us when the append failed */
    if (rc) return rc;
    *batch = NULL; /* owned by the dataset now, or freed */
    if (t.rc) return ursa_err_set(err, t.rc, "out of memory");
    return URSA_OK;
}

/* While a big body is parsed, its rows are logged in parts of about this
 * many encoded bytes, so that the log writes them (on another core, or by
 * the device) while the rest is parsed; the request's last record lists
 * them. */
static void log_part(ursa_server_t *srv, req_t *q)
{
    ursa_batch_t *b = q->batch;
    size_t cut = b->nrows & ~(size_t)7; /* parts start on a whole bitmap byte */
    if (cut <= q->part_rows) return;
    if (ursa_batch_rows_encoded_size(b, q->part_rows, cut) < srv->o.wal_part_bytes) return;
    if (q->all_or_nothing && q->scan.rejected) return; /* nothing of it will be stored */
    /* Columns the request added are its own until it ends (their places in
     * the dataset are known only then), and a part is logged in the
     * dataset's column order: none while there are any. */
    if (b->ncols > q->scan.base) return;
    for (size_t i = 0; i < b->ncols; i++)
        if (b->cols[i].length != b->nrows) return; /* not between records: later */
    if (srv->o.wal_limit && ursa_wal_bytes(srv->cat->wal) >= srv->o.wal_limit)
        return; /* refused at the end */
    if (q->nparts == q->parts_cap) {
        size_t cap = q->parts_cap ? q->parts_cap * 2 : 16;
        uint64_t *p = ursa_realloc(q->parts, cap * sizeof(*p));
        if (!p) return; /* the rest goes in the last record */
        q->parts = p;
        q->parts_cap = cap;
    }
    if (!q->pinned) {
        if (ursa_wal_pin(srv->cat->wal, &q->pin)) return;
        q->pinned = true;
    }
    ursa_buf_t rec;
    ursa_err_t err;
    uint64_t lsn;
    if (ursa_wal_record_buf(srv->cat->wal, 16 + ursa_batch_rows_encoded_size(b, q->part_rows, cut), &rec))
        return;
    if (ursa_catalog_wal_part(b, q->part_rows, cut, &rec) ||
        ursa_wal_append_buf(srv->cat->wal, &rec, NULL, NULL, &lsn, &err)) {
        ursa_buf_free(&rec); /* the log failed or memory ran out: the last record says so */
        return;
    }
    q->parts[q->nparts++] = lsn;
    q->part_rows = cut;
}

/* A request that logged parts and stored nothing says so, so that replay
 * drops them at once (best effort: replay drops them at its end anyway). */
static void abort_parts(ursa_server_t *srv, req_t *q)
{
    ursa_buf_t rec;
    ursa_err_t err;
    uint64_t lsn;
    if (ursa_wal_record_buf(srv->cat->wal, 16 + q->nparts * 8, &rec)) return;
    if (ursa_catalog_wal_abort(q->parts, q->nparts, &rec) ||
        ursa_wal_append_buf(srv->cat->wal, &rec, NULL, NULL, &lsn, &err))
        ursa_buf_free(&rec);
}

/* The scanner's error callback: every refused record becomes a row of the
 * request's quarantine batch (the scanner gives its raw text only here). */
static void quarantine_row(void *ctx, const ursa_row_error_t *e)
{
    req_t *q = ctx;
    if (q->qfail) return;
    if (!q->qbatch) {
        q->qbatch = ursa_calloc(1, sizeof(*q->qbatch));
        if (!q->qbatch || ursa_batch_init(q->qbatch, &q->ds->quarantine->schema)) {
            q->qfail = URSA_ENOMEM;
            return;
        }
    }
    /* A body of a million bad one-byte lines must not turn into gigabytes
     * of quarantine: past the cap rows are counted and reported instead. */
    if (q->qdropped || ursa_batch_bytes(q->qbatch) >= URSA_QUARANTINE_REQUEST_MAX) {
        q->qdropped++;
        return;
    }
    const char *col = e->column >= 0 ? e->column_name : NULL;
    if (ursa_quarantine_append(q->qbatch, q->received_us, q->request_id, e, col)) q->qfail = URSA_ENOMEM;
}

/* The digest of the body received (XXH3-128, big-endian). */
static void digest_of(const req_t *q, uint8_t d[URSA_IDEM_DIGEST])
{
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(q->digest));
    memcpy(d, canon.digest, URSA_IDEM_DIGEST);
}

/* The answer of an earlier request with the same Idempotency-Key. */
static enum MHD_Result send_replay(struct MHD_Connection *c, req_t *q)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(q->answer.len, q->answer.data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Idempotent-Replayed", "true");
    enum MHD_Result ret = queue(c, q->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends the prepared answer: the rows are stored (durable, with a WAL). */
static enum MHD_Result answer_records(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    if (q->idem_key) {
        if (ursa_idem_finish(srv->cat->idem, q->name, q->idem_key, q->status, q->answer.data, q->answer.len,
                             q->digest ? q->body_digest : NULL))
            ursa_warn("out of memory: the answer for Idempotency-Key %s is not kept", q->idem_key);
        q->idem_done = true;
    }
    URSA_COUNT(ingest_requests, 1);
    URSA_COUNT(rows_accepted, q->accepted);
    URSA_COUNT(rows_rejected, q->rejected);
    URSA_COUNT(quarantined_rows, q->rejected - q->qdropped);
    URSA_COUNT(quarantine_dropped_rows, q->qdropped);
    URSA_COUNT(ingest_bytes, q->received);
    return send_buf(c, q->status, &q->answer);
}

/* {"accepted":N,"rejected":M,"errors":[{"row":R,"column":C,"line":L,"reason":"…","value":"…","rule":"…"}…],
 *  "request_id":"…","quarantined":M} */
static int answer_json(const req_t *q, ursa_buf_t *b)
{
    const ursa_ndjson_t *s = &q->scan;
    int rc = ursa_buf_printf(b, "{\"accepted\":%llu,\"rejected\":%llu,\"errors\":[",
                             (unsigned long long)q->accepted, (unsigned long long)s->rejected);
    for (size_t i = 0; i < s->nerrors && rc == URSA_OK; i++) {
        const ursa_row_error_t *e = &s->errors[i];
        rc = ursa_buf_printf(b, "%s{\"row\":%llu,\"column\":", i ? "," : "", (unsigned long long)e->row);
        if (rc) break;
        if (e->column >= 0) {
            rc = ursa_buf_json_str(b, e->column_name, strlen(e->column_name));
        } else {
            rc = ursa_buf_printf(b, "null");
        }
        if (rc == URSA_OK) rc = ursa_buf_printf(b, ",\"line\":%llu,\"reason\":", (unsigned long long)e->line);
        if (rc == URSA_OK) rc = ursa_buf_json_str(b, e->reason, strlen(e->reason));
        if (rc == URSA_OK && e->value[0]) rc = ursa_buf_printf(b, ",\"value\":");
        if (rc == URSA_OK && e->value[0]) rc = ursa_buf_json_str(b, e->value, strlen(e->value));
        if (rc == URSA_OK && e->rule[0]) rc = ursa_buf_printf(b, ",\"rule\":");
        if (rc == URSA_OK && e->rule[0]) rc = ursa_buf_json_str(b, e->rule, strlen(e->rule));
        if (rc == URSA_OK) rc = ursa_buf_push(b, '}');
    }
    if (rc == URSA_OK)
        rc = ursa_buf_printf(
            b, "]%s,\"request_id\":", s->rejected > s->nerrors ? ",\"errors_truncated\":true" : "");
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, q->request_id, strlen(q->request_id));
    if (rc == URSA_OK)
        rc = ursa_buf_printf(b, ",\"quarantined\":%llu", (unsigned long long)(s->rejected - q->qdropped));
    if (rc == URSA_OK && q->qdropped)
        rc = ursa_buf_printf(b, ",\"quarantine_dropped\":%llu", (unsigned long long)q->qdropped);
    if (rc == URSA_OK) rc = ursa_buf_push(b, '}');
    return rc;
}

/* An error that stores nothing: the idempotency key is released so that
 * a retry runs again. */
static enum MHD_Result fail_records(ursa_server_t *srv, struct MHD_Connection *c, req_t *q, unsigned status,
                                    const char *msg)
{
    if (q->idem_key) {
        ursa_idem_drop(srv->cat->idem, q->name, q->idem_key);
        ursa_free(q->idem_key);
        q->idem_key = NULL;
    }
    return send_error(c, status, msg);
}

static enum MHD_Result finish_records(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    if (q->waiting) { /* resumed: the WAL has answered */
        q->waiting = false;
        if (q->durable_rc)
            return fail_records(srv, c, q, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "the write-ahead log failed; the rows may not be stored, retry later");
        return answer_records(srv, c, q);
    }
    if (q->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes; nothing was accepted",
                 srv->o.max_body);
        return fail_records(srv, c, q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (q->replay) {
        uint8_t d[URSA_IDEM_DIGEST];
        if (!q->digest) return send_replay(c, q); /* logged before digests were kept */
        digest_of(q, d);
        if (memcmp(d, q->replay_digest, sizeof(d)) == 0) return send_replay(c, q);
        return send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT,
                          "this Idempotency-Key was used before with a different body; nothing was "
                          "accepted (use a new key for new rows)");
    }
    if (q->over_memory) {
        if (q->idem_key) {
            ursa_idem_drop(srv->cat->idem, q->name, q->idem_key);
            ursa_free(q->idem_key);
            q->idem_key = NULL;
        }
        URSA_COUNT(backpressure, 1);
        return send_retry(c, MHD_HTTP_TOO_MANY_REQUESTS,
                          "the memory budget filled while the body was received; nothing was accepted, "
                          "retry later",
                          1);
    }
    if (!q->fatal && !q->in_rc) {
        int rc = ursa_body_finish(&q->in, &q->in_err);
        if (rc == URSA_EFORMAT)
            q->in_rc = rc;
        else
            q->fatal = rc;
    }
    if (q->in_rc) {
        char msg[320];
        snprintf(msg, sizeof(msg), "%s; nothing was accepted", q->in_err.msg);
        return fail_records(srv, c, q, MHD_HTTP_BAD_REQUEST, msg);
    }
    if (q->fatal)
        return fail_records(srv, c, q, status_for(q->fatal),
                            "out of memory while parsing; nothing was accepted");

    if (q->qfail)
        return fail_records(srv, c, q, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "out of memory while keeping the refused rows; nothing was accepted");

    if (q->digest) digest_of(q, q->body_digest);
    q->accepted = q->batch->nrows;
    q->rejected = q->scan.rejected;
    if (q->all_or_nothing && q->rejected) q->accepted = 0; /* one bad record: nothing is stored */
    q->status = q->accepted || q->scan.records == 0 ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST;
    if (answer_json(q, &q->answer))
        return fail_records(srv, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    bool quarantine = q->qbatch && q->qbatch->nrows;
    if (q->accepted || quarantine) {
        refusal_t no;
        if (over_budget(srv, false, 0, &no)) {
            if (q->idem_key) ursa_idem_drop(srv->cat->idem, q->name, q->idem_key);
            return send_retry(c, no.status, no.msg, no.retry_after);
        }
        /* The refused rows first, then the accepted ones: the record with
         * the Idempotency-Key and answer comes last, so when it is durable
         * everything of the request is (a retry after a crash finds the
         * key only if nothing needs doing again). */
        int rc = URSA_OK;
        ursa_err_t err = {0};
        uint64_t lsn = 0;
        const uint8_t *digest = q->digest ? q->body_digest : NULL;
        /* Columns the request added become the dataset's only now, for rows
         * that are stored, and before anything is logged: the schema is in
         * the store before the record that uses it, and a request refused
         * here stores nothing (its quarantined rows neither). */
        if (q->accepted &&
            (rc = ursa_dataset_evolve(srv->cat, q->ds, q->scan.schema, q->scan.base, q->batch, &err))) {
            if (rc == URSA_EEXIST || rc == URSA_ELIMIT)
                return fail_records(srv, c, q, MHD_HTTP_CONFLICT, err.msg);
            const char *why = err.msg[0] ? err.msg : "store error";
            if (rc == URSA_ENOMEM) why = "out of memory";
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "a new column could not be saved (%s); nothing was accepted, retry later", why);
            return fail_records(srv, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
        }
        if (quarantine)
            rc = log_and_append(srv, q->ds->quarantine, &q->qbatch, NULL, q->accepted ? NULL : q->idem_key,
                                q->status, &q->answer, digest, &lsn, &err);
        if (rc == URSA_OK && q->accepted) {
            rc = log_and_append(srv, q->ds, &q->batch, q, q->idem_key, q->status, &q->answer, digest, &lsn,
                                &err);
            q->final_logged = rc == URSA_OK;
        }
        if (rc) {
            char msg[320];
            snprintf(msg, sizeof(msg), "the rows were not accepted, retry later: %s",
                     err.msg[0] ? err.msg : "error");
            return fail_records(srv, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
        }
        if (srv->cat->wal) {
            /* Answer once the record is durable, without holding this
             * thread: one sync then serves every request waiting. */
            q->waiting = true;
            q->conn = c;
            MHD_suspend_connection(c);
            if (ursa_wal_notify(srv->cat->wal, lsn, on_durable, q)) on_durable(q, URSA_ENOMEM);
            return MHD_YES;
        }
    }
    return answer_records(srv, c, q);
}

/* "rows":N,"files":[{"path":…,"date":…,"rows":…,"bytes":…}…] */
static int flush_json(const ursa_flush_result_t *res, ursa_buf_t *b)
{
    int rc = ursa_buf_printf(b, "\"rows\":%llu,\"files\":[", (unsigned long long)res->rows);
    for (size_t i = 0; i < res->nfiles && rc == URSA_OK; i++) {
        const ursa_flush_file_t *f = &res->files[i];
        rc = ursa_buf_printf(b, "%s{\"path\":", i ? "," : "");
        if (rc == URSA_OK) rc = ursa_buf_json_str(b, f->key, strlen(f->key));
        if (rc == URSA_OK)
            rc = ursa_buf_printf(b, ",\"date\":\"%s\",\"rows\":%llu,\"bytes\":%llu}", f->date,
                                 (unsigned long long)f->rows, (unsigned long long)f->bytes);
    }
    if (rc == URSA_OK) rc = ursa_buf_push(b, ']');
    return rc;
}

/* POST /v1/datasets/D/flush: the dataset, then its quarantine. */
static enum MHD_Result do_flush(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    ursa_flush_result_t res, qres = {0};
    ursa_err_t err = {0};
    int rc = ursa_dataset_flush(srv->cat, q->ds, &res, &err);
    if (rc) {
        ursa_error("flush of %s failed: %s", q->name, err.msg);
        char msg[400];
        snprintf(msg, sizeof(msg), "flush failed, the rows stay buffered: %s", err.msg);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
    }
    if (res.nfiles)
        ursa_info("flushed %s: %llu rows in %zu files", q->name, (unsigned long long)res.rows, res.nfiles);
    rc = ursa_dataset_flush(srv->cat, q->ds->quarantine, &qres, &err);
    if (rc) {
        ursa_error("flush of %s failed: %s", q->ds->quarantine->name, err.msg);
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "the rows were flushed (%llu) but the flush of the quarantine failed, its rows stay "
                 "buffered: %s",
                 (unsigned long long)res.rows, err.msg);
        ursa_flush_result_free(&res);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
    }
    if (qres.nfiles)
        ursa_info("flushed %s: %llu rows in %zu files", q->ds->quarantine->name,
                  (unsigned long long)qres.rows, qres.nfiles);
    ursa_buf_t b = {0};
    rc = ursa_buf_printf(&b, "{\"dataset\":\"%s\",", q->name);
    if (rc == URSA_OK) rc = flush_json(&res, &b);
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, ",\"quarantine\":{");
    if (rc == URSA_OK) rc = flush_json(&qres, &b);
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, "}}");
    ursa_flush_result_free(&res);
    ursa_flush_result_free(&qres);
    enum MHD_Result ret =
        rc ? send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory") : send_owned(c, 200, &b);
    ursa_buf_free(&b);
    return ret;
}

/* ---------------------------------------------------------------------------
 * GET /v1/datasets/D/quarantine
 * ------------------------------------------------------------------------- */

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

static enum MHD_Result do_quarantine(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    ursa_dataset_t *qd = q->ds->quarantine;
    size_t limit = QUARANTINE_LIMIT_DEFAULT;
    const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (ls) {
        char *end;
        unsigned long long v = strtoull(ls, &end, 10);
        if (!*ls || *end || ls[0] == '-' || v > QUARANTINE_LIMIT_MAX)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "limit must be a number from 0 to 10000");
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
    int lrc = rc == URSA_OK ? ursa_store_list(srv->cat->store, prefix, 0, collect_qfile, &fs, &err) : rc;
    if (lrc == URSA_ENOMEM) rc = lrc;
    size_t detailed = 0;
    if (rc == URSA_OK && lrc == URSA_OK) {
        if (fs.n) qsort(fs.f, fs.n, sizeof(*fs.f), cmp_qfile);
        for (size_t i = 0; i < fs.n && i < QUARANTINE_FILES_MAX && rc == URSA_OK; i++) {
            uint64_t bytes;
            int64_t rows;
            if ((lrc = file_rows(srv->cat->store, fs.f[i].key, &bytes, &rows, &err))) break;
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
    enum MHD_Result ret =
        rc ? send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory") : send_owned(c, 200, &b);
    ursa_buf_free(&b);
    return ret;
}

static enum MHD_Result do_put_dataset(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    if (q->too_large) return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "schema document larger than 1 MiB");
    bool created;
    ursa_err_t err = {0};
    /* Defaults must be values of their columns: try them with a scanner. */
    ursa_schema_t s;
    int rc = ursa_schema_parse((const char *)q->body.data, q->body.len, &s, &err);
    if (rc == URSA_OK) {
        ursa_batch_t b;
        ursa_ndjson_t p;
        if ((rc = ursa_batch_init(&b, &s)) == URSA_OK) {
            if ((rc = ursa_ndjson_init_err(&p, &s, &b, 0, &err)) == URSA_OK) ursa_ndjson_free(&p);
            ursa_batch_free(&b);
        }
        ursa_schema_free(&s);
    }
    if (rc == URSA_OK)
        rc = ursa_catalog_create(srv->cat, q->name, (const char *)q->body.data, q->body.len, &created, &err);
    /* A schema past a limit (columns) is an invalid schema, not a large body. */
    if (rc == URSA_ELIMIT) rc = URSA_EINVAL;
    if (rc) return send_error(c, status_for(rc), err.msg[0] ? err.msg : ursa_strstatus(rc));
    ursa_dataset_t *d = ursa_catalog_get(srv->cat, q->name);
    ursa_buf_t b = {0};
    if (created) ursa_info("created dataset %s", q->name);
    enum MHD_Result ret =
        dataset_json(d, &b) ? MHD_NO : send_buf(c, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, &b);
    ursa_buf_free(&b);
    return ret;
}

/* GET /metrics: the counters, then per-dataset buffer gauges. */
static enum MHD_Result send_metrics(ursa_server_t *srv, struct MHD_Connection *c)
{
    ursa_buf_t b = {0};
    ursa_dataset_t **all = NULL;
    size_t n = 0;
    int rc = ursa_metrics_render(&b);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b,
                             "# HELP ursa_memory_limit_bytes The memory budget (--memory-limit).\n"
                             "# TYPE ursa_memory_limit_bytes gauge\nursa_memory_limit_bytes %llu\n"
                             "# HELP ursa_connections_max Connections served at once (--max-connections).\n"
                             "# TYPE ursa_connections_max gauge\nursa_connections_max %u\n",
                             (unsigned long long)srv->o.memory_limit, srv->o.max_connections);
    if (rc == URSA_OK) rc = ursa_catalog_list(srv->cat, &all, &n);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b, "# HELP ursa_buffered_rows Rows buffered, not yet flushed.\n"
                                 "# TYPE ursa_buffered_rows gauge\n");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        uint64_t rows, bytes;
        if (all[i]->parent) continue; /* counted with its dataset below */
        ursa_dataset_stats(all[i], &rows, &bytes);
        rc = ursa_buf_printf(&b, "ursa_buffered_rows{dataset=\"%s\"} %llu\n", all[i]->name,
                             (unsigned long long)rows);
    }
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b,
                             "# HELP ursa_quarantine_buffered_rows Refused rows buffered, not yet flushed.\n"
                             "# TYPE ursa_quarantine_buffered_rows gauge\n");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        uint64_t rows, bytes;
        if (!all[i]->parent) continue;
        ursa_dataset_stats(all[i], &rows, &bytes);
        rc = ursa_buf_printf(&b, "ursa_quarantine_buffered_rows{dataset=\"%s\"} %llu\n", all[i]->parent->name,
                             (unsigned long long)rows);
    }
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b, "# HELP ursa_buffered_bytes Memory held by buffered rows.\n"
                                 "# TYPE ursa_buffered_bytes gauge\n");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        uint64_t rows, bytes;
        if (all[i]->parent) continue;
        ursa_dataset_stats(all[i], &rows, &bytes);
        rc = ursa_buf_printf(&b, "ursa_buffered_bytes{dataset=\"%s\"} %llu\n", all[i]->name,
                             (unsigned long long)bytes);
    }
    ursa_free(all);
    enum MHD_Result ret = MHD_NO;
    if (rc == URSA_OK) {
        struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
            ret = queue(c, MHD_HTTP_OK, r);
            MHD_destroy_response(r);
        }
    } else {
        ret = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    }
    ursa_buf_free(&b);
    return ret;
}

static enum MHD_Result do_get(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    ursa_buf_t b = {0};
    int rc = URSA_OK;
    if (q->route == R_HEALTH) return send_json(c, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    if (q->route == R_METRICS) return send_metrics(srv, c);
    if (q->route == R_DATASET) {
        rc = dataset_json(q->ds, &b);
    } else {
        ursa_dataset_t **all;
        size_t n;
        if ((rc = ursa_catalog_list(srv->cat, &all, &n)) == URSA_OK) {
            rc = ursa_buf_printf(&b, "{\"datasets\":[");
            bool first = true;
            for (size_t i = 0; i < n && rc == URSA_OK; i++) {
                if (all[i]->parent) continue; /* quarantines have their own route */
                if (!first) rc = ursa_buf_push(&b, ',');
                first = false;
                if (rc == URSA_OK) rc = dataset_json(all[i], &b);
            }
            if (rc == URSA_OK) rc = ursa_buf_printf(&b, "]}");
            ursa_free(all);
        }
    }
    enum MHD_Result ret =
        rc ? send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory") : send_owned(c, 200, &b);
    ursa_buf_free(&b);
    return ret;
}

/* ---------------------------------------------------------------------------
 * The access handler
 * ------------------------------------------------------------------------- */

typedef struct framing {
    unsigned content_length, transfer_encoding;
} framing_t;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    framing_t *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) f->content_length++;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) f->transfer_encoding++;
    return MHD_YES;
}

/* A body's length must be told once, one way: two Content-Length headers,
 * or Content-Length with Transfer-Encoding, let a proxy in front and Ursa
 * disagree on where this request ends and the next begins (request
 * smuggling, RFC 9112 6.3). Such a request is refused and its connection
 * closed. Returns the error, or NULL. */
static const char *framing_error(struct MHD_Connection *c)
{
    framing_t f = {0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1) return "more than one Content-Length header";
    if (f.content_length && f.transfer_encoding) return "both Content-Length and Transfer-Encoding";
    if (f.transfer_encoding > 1) return "more than one Transfer-Encoding header";
    return NULL;
}

/* Notes a refusal of the request in its first call (answered by
 * send_refusal, now or once the body is dropped). */
static enum MHD_Result refuse(req_t *q, unsigned status, const char *msg)
{
    q->refused.status = status;
    snprintf(q->refused.msg, sizeof(q->refused.msg), "%s", msg);
    return MHD_YES;
}

/* Is the body of a refused request read (and dropped) before the answer?
 * A connection closed with unread bytes in it is reset by the kernel, and
 * the client then loses the answer: so a body that is on its way is read,
 * up to DRAIN_MAX. Not when there is none, when the client waits for
 * "100 Continue" (it sends no body after a refusal), or when it declares
 * more than that. */
static bool drain_first(struct MHD_Connection *c)
{
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if (expect && strcasecmp(expect, "100-continue") == 0) return false;
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING)) return true;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = cl ? strtoull(cl, NULL, 10) : 0;
    return n > 0 && n <= DRAIN_MAX;
}

/* First call: route and refuse early. A refusal is noted in q->refused
 * (see refuse); other answers are queued here with *answered set. */
static enum MHD_Result start(ursa_server_t *srv, struct MHD_Connection *c, req_t *q, const char *url,
                             const char *method, bool *answered)
{
    bool bad_name;
    *answered = true; /* until the end, or a refusal (refuse()) */
    const char *framing = framing_error(c);
    if (framing) return refuse(q, MHD_HTTP_BAD_REQUEST, framing);
    q->route = route_of(url, q->name, &bad_name);
    if (q->route == R_NONE) return refuse(q, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if (!method_allowed(q->route, method)) {
        q->refused.allow = allowed_methods(q->route);
        return refuse(q, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    }
    if (bad_name)
        return refuse(q, MHD_HTTP_BAD_REQUEST,
                      "dataset names must match [a-z][a-z0-9_]* (at most 128 bytes)");
    bool is_put = strcmp(method, "PUT") == 0;
    if (q->route >= R_DATASET && !is_put) {
        q->ds = ursa_catalog_get(srv->cat, q->name);
        if (!q->ds) {
            char msg[URSA_NAME_MAX + 32];
            snprintf(msg, sizeof(msg), "no such dataset: %s", q->name);
            return refuse(q, MHD_HTTP_NOT_FOUND, msg);
        }
    }
    if (q->route == R_RECORDS) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        int fmt = ursa_body_format(ct);
        if (fmt < 0)
            return refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Type must be application/x-ndjson (NDJSON; also application/ndjson, "
                          "application/jsonl), application/json (a JSON array of objects) or text/csv");
        const char *mode = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mode");
        if (mode && strcmp(mode, "accept_valid") && strcmp(mode, "all_or_nothing"))
            return refuse(q, MHD_HTTP_BAD_REQUEST,
                          "mode must be accept_valid (the default) or all_or_nothing");
        q->all_or_nothing = mode && !strcmp(mode, "all_or_nothing");
        int enc = ursa_body_encoding(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING));
        if (enc < 0)
            return refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Encoding must be gzip or zstd, or none (identity)");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > srv->o.max_body) {
            char msg[128];
            snprintf(msg, sizeof(msg), "request body larger than %zu bytes", srv->o.max_body);
            return refuse(q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
        }
        if (srv->o.memory_limit && declared >= srv->o.memory_limit) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "request body of %llu bytes does not fit the memory budget (%llu bytes); send "
                     "smaller requests",
                     (unsigned long long)declared, (unsigned long long)srv->o.memory_limit);
            return refuse(q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
        }
        if (over_budget(srv, true, declared, &q->refused)) return MHD_YES;
        q->declared_left = declared;
        atomic_fetch_add(&srv->pending_body, declared);
        const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
        if (key) {
            if (!ursa_idem_key_valid(key))
                return refuse(q, MHD_HTTP_BAD_REQUEST,
                              "Idempotency-Key must be 1 to 200 printable ASCII characters without spaces");
            unsigned st = 0;
            bool has_digest = false;
            switch (ursa_idem_claim(srv->cat->idem, q->name, key, &st, &q->answer, q->replay_digest,
                                    &has_digest)) {
            case URSA_IDEM_DONE:
                /* A retry of a request that was answered: the same answer,
                 * nothing stored again -- once its body proves to be the
                 * same (a key logged without a digest replays at once). */
                q->status = st;
                q->replay = true;
                if (has_digest &&
                    (!(q->digest = XXH3_createState()) || XXH3_128bits_reset(q->digest) != XXH_OK))
                    return refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
                *answered = false;
                return MHD_YES;
            case URSA_IDEM_BUSY:
                return refuse(q, MHD_HTTP_CONFLICT, "a request with this Idempotency-Key is in progress");
            case URSA_IDEM_NEW:
                if (!(q->idem_key = ursa_strdup(key)) || !(q->digest = XXH3_createState()) ||
                    XXH3_128bits_reset(q->digest) != XXH_OK) {
                    ursa_idem_drop(srv->cat->idem, q->name, key);
                    ursa_free(q->idem_key);
                    q->idem_key = NULL;
                    return refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
                }
            }
        }
        q->batch = ursa_calloc(1, sizeof(*q->batch));
        if (!q->batch || ursa_batch_init(q->batch, &q->ds->schema))
            return refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        if (ursa_ndjson_init(&q->scan, &q->ds->schema, q->batch, srv->o.max_record))
            return refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        q->scanning = true;
        if (ursa_ndjson_evolve(&q->scan)) /* when the schema evolves */
            return refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        q->scan.on_error = quarantine_row;
        q->scan.on_error_ctx = q;
        if (ursa_body_init(&q->in, (ursa_format_t)fmt, (ursa_content_encoding_t)enc, &q->scan,
                           srv->o.max_body))
            return refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        if (fmt == URSA_FMT_CSV) {
            ursa_csv_options_t co = {0};
            char null_buf[URSA_CSV_NULL_MARKER_MAX];
            co.max_record = srv->o.max_record;
            if (!ursa_body_csv_params(ct, &co, null_buf, sizeof(null_buf)))
                return refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "text/csv parameters: delimiter=<one character or tab>, null=<marker>");
            if (ursa_body_set_csv(&q->in, &co)) return refuse(q, MHD_HTTP_BAD_REQUEST, "bad CSV options");
        }
    }
    *answered = false;
    return MHD_YES;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A body that trickles in holds a connection, a thread's attention and its
 * buffers for as long as the client likes: once a request has taken longer
 * than the idle timeout, its body must have averaged min_body_rate bytes a
 * second so far, or it is cut. */
static bool too_slow(const ursa_server_t *srv, const req_t *q)
{
    if (!srv->o.min_body_rate) return false;
    int64_t us = mono_us() - q->began_mono_us;
    if (us <= (int64_t)srv->o.idle_timeout_s * 1000000) return false;
    return (double)q->received < (double)srv->o.min_body_rate * ((double)us / 1e6);
}

/* A client's X-Request-Id is kept when it is 1 to 128 printable ASCII
 * characters without spaces, quotes or backslashes (so it can go into
 * logs, JSON and headers as it is); otherwise the node makes one. */
static bool request_id_sane(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] <= ' ' || s[n] > '~' || s[n] == '"' || s[n] == '\'' || s[n] == '\\') return false;
    return n >= 1 && n <= REQUEST_ID_MAX;
}

static void set_request_id(ursa_server_t *srv, struct MHD_Connection *c, req_t *q)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    q->received_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    q->began_mono_us = mono_us();
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (id && request_id_sane(id)) {
        snprintf(q->request_id, sizeof(q->request_id), "%s", id);
        return;
    }
    snprintf(q->request_id, sizeof(q->request_id), "%s-%llu", srv->id_prefix,
             (unsigned long long)atomic_fetch_add(&srv->next_id, 1));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_size, void **con_cls)
{
    ursa_server_t *srv = cls;
    req_t *q = *con_cls;
    if (!q) {
        q = ursa_calloc(1, sizeof(*q));
        if (!q) return MHD_NO;
        *con_cls = q;
        atomic_fetch_add(&srv->inflight, 1);
        set_request_id(srv, c, q);
        current_request_id = q->request_id;
        if (atomic_load(&srv->stopping)) {
            /* A new request on a kept-alive connection after shutdown began:
             * refuse it at once, so nothing gets suspended on the WAL while
             * the daemon stops. */
            q->started = false;
            return send_retry(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down", 1);
        }
        bool answered;
        enum MHD_Result ret = start(srv, c, q, url, method, &answered);
        if (q->refused.status) {
            answered = !drain_first(c);
            if (answered) ret = send_refusal(c, &q->refused);
        }
        q->started = !answered;
        return ret;
    }
    current_request_id = q->request_id;
    if (!q->started) { /* answered in the first call; discard any body */
        *data_size = 0;
        return MHD_YES;
    }
    if (*data_size) {
        size_t n = *data_size;
        *data_size = 0;
        q->received += n;
        if (q->refused.status) return q->received <= DRAIN_MAX ? MHD_YES : MHD_NO; /* dropped */
        if (too_slow(srv, q)) {
            /* No answer can be queued while a body is arriving (0.9.75):
             * the connection is closed, and nothing of the request stored. */
            ursa_warn("request %s: body slower than %llu bytes/s (%zu bytes in %.1f s), connection closed",
                      q->request_id, (unsigned long long)srv->o.min_body_rate, q->received,
                      (double)(mono_us() - q->began_mono_us) / 1e6);
            URSA_COUNT(slow_bodies_cut, 1);
            return MHD_NO;
        }
        if (q->too_large) return MHD_YES;
        if (q->route == R_RECORDS) {
            uint64_t arrived = n < q->declared_left ? n : q->declared_left;
            q->declared_left -= arrived;
            atomic_fetch_sub(&srv->pending_body, arrived);
            if (q->received > srv->o.max_body) {
                q->too_large = true;
                return MHD_YES;
            }
            if (q->digest && XXH3_128bits_update(q->digest, data, n) != XXH_OK) q->fatal = URSA_ENOMEM;
            if (q->replay) return MHD_YES;
            if (q->over_memory) return MHD_YES;
            if (srv->o.memory_limit && ursa_mem_used() >= srv->o.memory_limit) {
                /* Parsing on would hold more than the budget: drop what this
                 * request holds now, read the rest unparsed, answer 429. */
                q->over_memory = true;
                ursa_catalog_pressure(srv->cat);
                ursa_batch_free(q->batch);
                if (ursa_batch_init(q->batch, q->scan.schema)) q->fatal = URSA_ENOMEM;
                return MHD_YES;
            }
            if (!q->fatal && !q->in_rc) {
                int rc = ursa_body_feed(&q->in, data, n, &q->in_err);
                if (rc == URSA_ELIMIT)
                    q->too_large = true;
                else if (rc == URSA_EFORMAT)
                    q->in_rc = rc;
                else
                    q->fatal = rc;
                if (rc == URSA_OK && srv->cat->wal && srv->o.wal_part_bytes) log_part(srv, q);
            }
        } else if (q->route == R_DATASET && strcmp(method, "PUT") == 0) {
            if (q->received > SCHEMA_BODY_MAX)
                q->too_large = true;
            else if (ursa_buf_append(&q->body, data, n))
                q->fatal = URSA_ENOMEM;
        }
        return MHD_YES;
    }
    if (q->refused.status) return send_refusal(c, &q->refused);
    switch (q->route) {
    case R_RECORDS:
        return finish_records(srv, c, q);
    case R_FLUSH:
        return do_flush(srv, c, q);
    case R_QUARANTINE:
        return do_quarantine(srv, c, q);
    case R_DATASET:
        if (strcmp(method, "PUT") == 0) return do_put_dataset(srv, c, q);
        /* fall through */
    default:
        return do_get(srv, c, q);
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    ursa_server_t *srv = cls;
    req_t *q = *con_cls;
    if (!q) return;
    atomic_fetch_sub(&srv->inflight, 1);
    atomic_fetch_sub(&srv->pending_body, q->declared_left);
    if (q->nparts && !q->final_logged) abort_parts(srv, q);
    if (q->pinned) ursa_wal_unpin(srv->cat->wal, q->pin);
    ursa_free(q->parts);
    if (q->scanning) {
        ursa_body_free(&q->in);
        ursa_ndjson_free(&q->scan);
    }
    if (q->qbatch) {
        ursa_batch_free(q->qbatch);
        ursa_free(q->qbatch);
    }
    if (q->batch) {
        ursa_batch_free(q->batch);
        ursa_free(q->batch);
    }
    ursa_buf_free(&q->body);
    ursa_buf_free(&q->answer);
    XXH3_freeState(q->digest);
    if (q->idem_key) {
        /* Not finished (the connection went away): let a retry run. The
         * answer of a finished request is kept even though its key is
         * freed here: finish copied it into the table. */
        if (!q->idem_done) ursa_idem_drop(srv->cat->idem, q->name, q->idem_key);
        ursa_free(q->idem_key);
    }
    ursa_free(q);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------------------
 * Daemon
 * ------------------------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, ursa_err_t *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon) return ursa_err_set(err, URSA_EINVAL, "--listen must be HOST:PORT, got \"%s\"", listen);
    size_t hn = (size_t)(colon - listen);
    if (hn >= sizeof(host)) return ursa_err_set(err, URSA_EINVAL, "--listen: host name too long");
    memcpy(host, listen, hn);
    host[hn] = '\0';
    if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
        memmove(host, host + 1, hn - 2);
        host[hn - 2] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return ursa_err_set(err, URSA_EINVAL, "--listen: bad port in \"%s\"", listen);
    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (g) return ursa_err_set(err, URSA_EINVAL, "--listen %s: %s", listen, gai_strerror(g));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return URSA_OK;
}

/* Percent-decoding of the path and query (in place), as libmicrohttpd's own
 * but for %00: a NUL decoded into the path would cut it short
 * ("/v1/datasets/a%00b" would name dataset "a"), so %00 stays as written
 * and fails the name check with a 400. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        unsigned v;
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2]) &&
            sscanf(r + 1, "%2x", &v) == 1 && v != 0) {
            *w++ = (char)v;
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* ---------------------------------------------------------------------------
 * libmicrohttpd's own answers, in JSON
 *
 * libmicrohttpd answers some requests before any handler sees them: a
 * request line or headers past the connection's memory (414, 431), a
 * malformed request line, header or chunk, a bad Content-Length, HTTP/1.1
 * without Host. Version 0.9.75 gives those answers fixed HTML bodies and
 * has no option to change them, yet every Ursa answer is JSON (clients
 * parse error bodies). It builds each of them with
 * MHD_create_response_from_buffer(..., MHD_RESPMEM_PERSISTENT) and calls
 * that through its procedure linkage table, so the definition below, in
 * the executable, takes its place (ELF symbol interposition, as malloc
 * replacements work); every call goes on to the library's own function
 * (dlsym(RTLD_NEXT)), and only a persistent "<html>" body is swapped for
 * JSON. tests/integration/hardening.test.mjs checks the answers, so a
 * libmicrohttpd that stops calling through its PLT fails a test instead of
 * sending HTML again.
 * ------------------------------------------------------------------------- */

typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);

static const struct {
    const char *html_has, *json;
} mhd_answers[] = {
    {"too big", "{\"error\":\"request line or headers too large\"}"},
    {"Host:", "{\"error\":\"an HTTP/1.1 request must have a Host header\"}"},
    {"<b>Content-Length</b>", NULL}, /* see below */
    {"chunk size", "{\"error\":\"chunk size too large\"}"},
    {"chunked encoding", "{\"error\":\"malformed chunked encoding\"}"},
    {"version", "{\"error\":\"HTTP version not supported\"}"},
    {"Internal server error", "{\"error\":\"internal server error\"}"},
    {"", "{\"error\":\"malformed HTTP request\"}"},
};

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    static _Atomic(create_fn) real;
    create_fn f = atomic_load(&real);
    if (!f) {
        f = (create_fn)dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");
        if (!f) return NULL;
        atomic_store(&real, f);
    }
    if (mode != MHD_RESPMEM_PERSISTENT || size < 6 || memcmp(buffer, "<html>", 6))
        return f(size, buffer, mode);
    const char *json = mhd_answers[URSA_ARRAY_LEN(mhd_answers) - 1].json;
    for (size_t i = 0; i < URSA_ARRAY_LEN(mhd_answers); i++)
        if (memmem(buffer, size, mhd_answers[i].html_has, strlen(mhd_answers[i].html_has))) {
            json = mhd_answers[i].json;
            break;
        }
    /* A Content-Length that is no number (or past 64 bits): 0.9.75 goes on
     * after queueing this answer and sends its headers twice, a garbled
     * answer. Without a response it closes the connection instead. */
    if (!json) return NULL;
    struct MHD_Response *r = f(strlen(json), (void *)(uintptr_t)json, MHD_RESPMEM_PERSISTENT);
    if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}

/* libmicrohttpd's messages, at most one a second of each text: a flood of
 * connections over the limit must not become a flood of log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char last[512];
    static int64_t last_us;
    static unsigned long long repeats;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = '\0';
    /* 0.9.75 says this whenever a thread pool is used, whatever the order. */
    if (strstr(line, "MHD_OPTION_EXTERNAL_LOGGER is not the first option")) return;
    int64_t now = mono_us();
    pthread_mutex_lock(&mu);
    bool same = strcmp(line, last) == 0 && now - last_us < 1000000;
    unsigned long long quiet = 0;
    if (same) {
        repeats++;
    } else {
        quiet = repeats;
        repeats = 0;
        snprintf(last, sizeof(last), "%s", line);
        last_us = now;
    }
    pthread_mutex_unlock(&mu);
    if (same) return;
    if (quiet) ursa_warn("http: (the message before came %llu more times within a second)", quiet);
    ursa_warn("http: %s", line);
}

int ursa_server_start(ursa_server_t **out, ursa_catalog_t *cat, const ursa_server_opts_t *o, ursa_err_t *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = parse_listen(o->listen, &ss, &sslen, err);
    if (rc) return rc;
    ursa_server_t *s = ursa_calloc(1, sizeof(*s));
    if (!s) return URSA_ENOMEM;
    s->cat = cat;
    s->o = *o;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(s->id_prefix, sizeof(s->id_prefix), "%.64s-%llx", cat->node,
             (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000);
    atomic_init(&s->next_id, 1);
    if (!s->o.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->o.threads = n > 0 ? (unsigned)n : 1;
    }
    if (!s->o.max_connections) s->o.max_connections = 1024;
    if (!s->o.idle_timeout_s) s->o.idle_timeout_s = 30;
    /* poll, not epoll: see http_server.h */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, s->o.threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256u << 10), MHD_OPTION_CONNECTION_TIMEOUT, s->o.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        s->o.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->o.max_connections_per_client,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!s->mhd) {
        ursa_free(s);
        return ursa_err_set(err, URSA_EIO, "cannot listen on %s (address in use or not local?)", o->listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return URSA_OK;
}

uint16_t ursa_server_port(const ursa_server_t *s)
{
    return s->port;
}

void ursa_server_stop(ursa_server_t **sp, unsigned deadline_ms)
{
    ursa_server_t *s = *sp;
    if (!s) return;
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    /* Order matters: refuse new requests first, then wait for the ones
     * that began (they are counted before they look at the flag). */
    atomic_store(&s->stopping, true);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Idle keep-alive connections do not hold shutdown up; requests do. */
    for (;;) {
        int n = atomic_load(&s->inflight);
        if (n == 0) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= (long)deadline_ms) {
            ursa_warn("%d requests still in flight at the shutdown deadline", n);
            break;
        }
        usleep(10000);
    }
    MHD_stop_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    ursa_free(s);
    *sp = NULL;
}
