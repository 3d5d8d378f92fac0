/*
 * api_records.c -- POST /v1/datasets/D/records: ingest.
 *
 *   1st call   check the body's format (Content-Type), mode, encoding and
 *              declared size, the budgets (before a byte of the body is
 *              read) and the Idempotency-Key; set up the scanner, in front
 *              of a batch only this request sees;
 *   n calls    body pieces: digested (with an Idempotency-Key), then fed to
 *              the NDJSON scanner (through the decompressor and the JSON
 *              array or CSV reader). Refused records become rows of the
 *              request's quarantine batch; a big body's rows go to the WAL
 *              in parts while the rest is parsed;
 *   last call  when rows will be stored, the columns the request added to
 *              an evolving schema (its own until then, see ingest_json.h)
 *              are committed first (ursa_dataset_evolve: the schema is in
 *              the store before the WAL record that uses it; a conflict is
 *              a 409 and stores nothing), then the quarantined rows and the
 *              rows are logged, and the connection is suspended until the
 *              record is durable; then the prepared answer is sent.
 *
 * A retry of an answered request (same Idempotency-Key) gets the first
 * answer once its body proves to be the same; nothing is stored again.
 */
#include "api_records.h"

#include "idem.h"
#include "ingest_body.h"
#include "ingest_json.h"
#include "metrics.h"
#include "quarantine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* The state of one records request (api_req_t.state). */
typedef struct records {
    uint64_t declared_left; /* of its Content-Length, not received yet (counted in pending_body) */
    bool over_memory;       /* the memory budget filled while the body arrived: the rest is skipped */
    char *idem_key;         /* Idempotency-Key claimed by this request, or NULL */
    bool idem_done;         /* its answer is in the table */
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
    uint64_t lsn; /* the record with the answer (and the key) */
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
} records_t;

/* Past a budget, ingest is refused: 429 (slow down), or 503 while the
 * store is failing (rows cannot drain). A request being admitted counts
 * the body it declares with what is in use and with the bodies still on
 * their way (the budget is checked before a byte is read, not once it has
 * all been parsed); a request at its end counts what is in use. Returns
 * true and fills *r when the request must be refused. */
static bool over_budget(api_ctx_t *a, bool admission, uint64_t coming, api_refusal_t *r)
{
    const char *what = NULL;
    ursa_catalog_pressure(a->cat); /* flush the largest buffers now, if it is time */
    uint64_t on_the_way = admission ? atomic_load(&a->pending_body) + coming : 0;
    if (a->o.memory_limit && ursa_mem_used() + on_the_way >= a->o.memory_limit)
        what = "the memory budget for buffered rows and bodies being received is full";
    else if (a->o.wal_limit && a->cat->wal && ursa_wal_bytes(a->cat->wal) >= a->o.wal_limit)
        what = "the write-ahead log disk budget is full";
    if (!what) return false;
    bool failing = __atomic_load_n(&a->cat->store_failing, __ATOMIC_RELAXED);
    snprintf(r->msg, sizeof(r->msg), "%s%s; nothing was accepted, retry later", what,
             failing ? " and the store is failing" : "");
    r->status = failing ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_TOO_MANY_REQUESTS;
    r->retry_after = failing ? 5 : 1;
    URSA_COUNT(backpressure, 1);
    return true;
}

/* ---------------------------------------------------------------------------
 * The WAL
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
    records_t *r = ctx;
    r->durable_rc = rc;
    MHD_resume_connection(r->conn);
}

/* Writes *batch (with the idempotency key and answer, when key is set) to
 * the WAL as a record of dataset d and appends it to d's buffer; *lsn is
 * its record. Rows before r->part_rows were logged as r's parts (pass
 * r NULL for a batch without parts). Without a WAL the batch is only
 * appended. Either way *batch is taken (set to NULL) once it is the
 * dataset's. */
static int log_and_append(api_ctx_t *a, ursa_dataset_t *d, ursa_batch_t **batch, const records_t *r,
                          const char *key, unsigned status, const ursa_buf_t *answer, const uint8_t *digest,
                          uint64_t *lsn, ursa_err_t *err)
{
    if (!a->cat->wal) {
        int rc = ursa_dataset_append(d, *batch);
        *batch = NULL; /* owned by the dataset now, or freed */
        return rc ? ursa_err_set(err, rc, "out of memory") : URSA_OK;
    }
    /* The record is encoded after room for the log's header and handed
     * over as it is: the batch is copied once on its way into the log. */
    size_t from = r ? r->part_rows : 0, nparts = r ? r->nparts : 0;
    ursa_buf_t rec;
    int rc = ursa_wal_record_buf(a->cat->wal,
                                 64 + strlen(d->name) + (key ? strlen(key) : 0) + answer->len + nparts * 8 +
                                     URSA_IDEM_DIGEST +
                                     ursa_batch_rows_encoded_size(*batch, from, (*batch)->nrows),
                                 &rec);
    if (rc == URSA_OK)
        rc = ursa_catalog_wal_record(d->name, key, status, answer->data, answer->len, digest, *batch,
                                     nparts ? r->parts : NULL, nparts, from, &rec);
    if (nparts) (*batch)->first_lsn = r->parts[0];
    if (rc) {
        ursa_buf_free(&rec);
        return ursa_err_set(err, rc, "out of memory");
    }
    then_append_t t = {d, *batch, URSA_OK};
    rc = ursa_wal_append_buf(a->cat->wal, &rec, append_in_order, &t, lsn, err);
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
static void log_part(api_ctx_t *a, records_t *r)
{
    ursa_batch_t *b = r->batch;
    size_t cut = b->nrows & ~(size_t)7; /* parts start on a whole bitmap byte */
    if (cut <= r->part_rows) return;
    if (ursa_batch_rows_encoded_size(b, r->part_rows, cut) < a->o.wal_part_bytes) return;
    if (r->all_or_nothing && r->scan.rejected) return; /* nothing of it will be stored */
    /* Columns the request added are its own until it ends (their places in
     * the dataset are known only then), and a part is logged in the
     * dataset's column order: none while there are any. */
    if (b->ncols > r->scan.base) return;
    for (size_t i = 0; i < b->ncols; i++)
        if (b->cols[i].length != b->nrows) return; /* not between records: later */
    if (a->o.wal_limit && ursa_wal_bytes(a->cat->wal) >= a->o.wal_limit) return; /* refused at the end */
    if (r->nparts == r->parts_cap) {
        size_t cap = r->parts_cap ? r->parts_cap * 2 : 16;
        uint64_t *p = ursa_realloc(r->parts, cap * sizeof(*p));
        if (!p) return; /* the rest goes in the last record */
        r->parts = p;
        r->parts_cap = cap;
    }
    if (!r->pinned) {
        if (ursa_wal_pin(a->cat->wal, &r->pin)) return;
        r->pinned = true;
    }
    ursa_buf_t rec;
    ursa_err_t err;
    uint64_t lsn;
    if (ursa_wal_record_buf(a->cat->wal, 16 + ursa_batch_rows_encoded_size(b, r->part_rows, cut), &rec))
        return;
    if (ursa_catalog_wal_part(b, r->part_rows, cut, &rec) ||
        ursa_wal_append_buf(a->cat->wal, &rec, NULL, NULL, &lsn, &err)) {
        ursa_buf_free(&rec); /* the log failed or memory ran out: the last record says so */
        return;
    }
    r->parts[r->nparts++] = lsn;
    r->part_rows = cut;
}

/* A request that logged parts and stored nothing says so, so that replay
 * drops them at once (best effort: replay drops them at its end anyway). */
static void abort_parts(api_ctx_t *a, records_t *r)
{
    ursa_buf_t rec;
    ursa_err_t err;
    uint64_t lsn;
    if (ursa_wal_record_buf(a->cat->wal, 16 + r->nparts * 8, &rec)) return;
    if (ursa_catalog_wal_abort(r->parts, r->nparts, &rec) ||
        ursa_wal_append_buf(a->cat->wal, &rec, NULL, NULL, &lsn, &err))
        ursa_buf_free(&rec);
}

/* ---------------------------------------------------------------------------
 * Refused rows, idempotency, answers
 * ------------------------------------------------------------------------- */

/* The scanner's error callback: every refused record becomes a row of the
 * request's quarantine batch (the scanner gives its raw text only here). */
static void quarantine_row(void *ctx, const ursa_row_error_t *e)
{
    api_req_t *q = ctx;
    records_t *r = q->state;
    if (r->qfail) return;
    if (!r->qbatch) {
        r->qbatch = ursa_calloc(1, sizeof(*r->qbatch));
        if (!r->qbatch || ursa_batch_init(r->qbatch, &q->ds->quarantine->schema)) {
            r->qfail = URSA_ENOMEM;
            return;
        }
    }
    /* A body of a million bad one-byte lines must not turn into gigabytes
     * of quarantine: past the cap rows are counted and reported instead. */
    if (r->qdropped || ursa_batch_bytes(r->qbatch) >= URSA_QUARANTINE_REQUEST_MAX) {
        r->qdropped++;
        return;
    }
    const char *col = e->column >= 0 ? e->column_name : NULL;
    if (ursa_quarantine_append(r->qbatch, q->received_us, q->request_id, e, col)) r->qfail = URSA_ENOMEM;
}

/* The digest of the body received (XXH3-128, big-endian). */
static void digest_of(const records_t *r, uint8_t d[URSA_IDEM_DIGEST])
{
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(r->digest));
    memcpy(d, canon.digest, URSA_IDEM_DIGEST);
}

/* The answer of an earlier request with the same Idempotency-Key. */
static enum MHD_Result send_replay(struct MHD_Connection *c, records_t *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->answer.len, r->answer.data, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    enum MHD_Result ret = api_queue(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Sends the prepared answer: the rows are stored (durable, with a WAL). */
static enum MHD_Result answer_records(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    records_t *r = q->state;
    if (r->idem_key) {
        if (ursa_idem_finish(a->cat->idem, q->name, r->idem_key, r->status, r->answer.data, r->answer.len,
                             r->digest ? r->body_digest : NULL, r->lsn))
            ursa_warn("out of memory: the answer for Idempotency-Key %s is not kept", r->idem_key);
        r->idem_done = true;
    }
    URSA_COUNT(ingest_requests, 1);
    URSA_COUNT(rows_accepted, r->accepted);
    URSA_COUNT(rows_rejected, r->rejected);
    URSA_COUNT(quarantined_rows, r->rejected - r->qdropped);
    URSA_COUNT(quarantine_dropped_rows, r->qdropped);
    URSA_COUNT(ingest_bytes, q->received);
    return api_send_buf(c, r->status, &r->answer);
}

/* {"accepted":N,"rejected":M,"errors":[{"row":R,"column":C,"line":L,"reason":"…","value":"…","rule":"…"}…],
 *  "request_id":"…","quarantined":M} */
static int answer_json(const api_req_t *q, const records_t *r, ursa_buf_t *b)
{
    const ursa_ndjson_t *s = &r->scan;
    int rc = ursa_buf_printf(b, "{\"accepted\":%llu,\"rejected\":%llu,\"errors\":[",
                             (unsigned long long)r->accepted, (unsigned long long)s->rejected);
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
        rc = ursa_buf_printf(b, ",\"quarantined\":%llu", (unsigned long long)(s->rejected - r->qdropped));
    if (rc == URSA_OK && r->qdropped)
        rc = ursa_buf_printf(b, ",\"quarantine_dropped\":%llu", (unsigned long long)r->qdropped);
    if (rc == URSA_OK) rc = ursa_buf_push(b, '}');
    return rc;
}

/* An error that stores nothing: the idempotency key is released so that
 * a retry runs again. */
static enum MHD_Result fail_records(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q, unsigned status,
                                    const char *msg)
{
    records_t *r = q->state;
    if (r->idem_key) {
        ursa_idem_drop(a->cat->idem, q->name, r->idem_key);
        ursa_free(r->idem_key);
        r->idem_key = NULL;
    }
    return api_send_error(c, status, msg);
}

/* ---------------------------------------------------------------------------
 * The route
 * ------------------------------------------------------------------------- */

enum MHD_Result api_records_start(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    int fmt = ursa_body_format(ct);
    if (fmt < 0)
        return api_refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Type must be application/x-ndjson (NDJSON; also application/ndjson, "
                          "application/jsonl), application/json (a JSON array of objects) or text/csv");
    const char *mode = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mode");
    if (mode && strcmp(mode, "accept_valid") && strcmp(mode, "all_or_nothing"))
        return api_refuse(q, MHD_HTTP_BAD_REQUEST,
                          "mode must be accept_valid (the default) or all_or_nothing");
    int enc =
        ursa_body_encoding(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING));
    if (enc < 0)
        return api_refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Encoding must be gzip or zstd, or none (identity)");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > a->o.max_body) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", a->o.max_body);
        return api_refuse(q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (a->o.memory_limit && declared >= a->o.memory_limit) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "request body of %llu bytes does not fit the memory budget (%llu bytes); send "
                 "smaller requests",
                 (unsigned long long)declared, (unsigned long long)a->o.memory_limit);
        return api_refuse(q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (over_budget(a, true, declared, &q->refused)) return MHD_YES;
    records_t *r = q->state = ursa_calloc(1, sizeof(*r));
    if (!r) return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    r->all_or_nothing = mode && !strcmp(mode, "all_or_nothing");
    r->declared_left = declared;
    atomic_fetch_add(&a->pending_body, declared);
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (key) {
        if (!ursa_idem_key_valid(key))
            return api_refuse(q, MHD_HTTP_BAD_REQUEST,
                              "Idempotency-Key must be 1 to 200 printable ASCII characters without spaces");
        unsigned st = 0;
        bool has_digest = false;
        switch (ursa_idem_claim(a->cat->idem, q->name, key, &st, &r->answer, r->replay_digest, &has_digest)) {
        case URSA_IDEM_DONE:
            /* A retry of a request that was answered: the same answer,
             * nothing stored again -- once its body proves to be the
             * same (a key logged without a digest replays at once). */
            r->status = st;
            r->replay = true;
            if (has_digest && (!(r->digest = XXH3_createState()) || XXH3_128bits_reset(r->digest) != XXH_OK))
                return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
            return MHD_YES;
        case URSA_IDEM_BUSY:
            return api_refuse(q, MHD_HTTP_CONFLICT, "a request with this Idempotency-Key is in progress");
        case URSA_IDEM_NEW:
            if (!(r->idem_key = ursa_strdup(key)) || !(r->digest = XXH3_createState()) ||
                XXH3_128bits_reset(r->digest) != XXH_OK) {
                ursa_idem_drop(a->cat->idem, q->name, key);
                ursa_free(r->idem_key);
                r->idem_key = NULL;
                return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
            }
        }
    }
    r->batch = ursa_calloc(1, sizeof(*r->batch));
    if (!r->batch || ursa_batch_init(r->batch, &q->ds->schema))
        return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    if (ursa_ndjson_init(&r->scan, &q->ds->schema, r->batch, a->o.max_record))
        return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    r->scanning = true;
    if (ursa_ndjson_evolve(&r->scan)) /* when the schema evolves */
        return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    r->scan.on_error = quarantine_row;
    r->scan.on_error_ctx = q;
    if (ursa_body_init(&r->in, (ursa_format_t)fmt, (ursa_content_encoding_t)enc, &r->scan, a->o.max_body))
        return api_refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    if (fmt == URSA_FMT_CSV) {
        ursa_csv_options_t co = {0};
        char null_buf[URSA_CSV_NULL_MARKER_MAX];
        co.max_record = a->o.max_record;
        if (!ursa_body_csv_params(ct, &co, null_buf, sizeof(null_buf)))
            return api_refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "text/csv parameters: delimiter=<one character or tab>, null=<marker>");
        if (ursa_body_set_csv(&r->in, &co)) return api_refuse(q, MHD_HTTP_BAD_REQUEST, "bad CSV options");
    }
    return MHD_YES;
}

enum MHD_Result api_records_body(api_ctx_t *a, api_req_t *q, const char *data, size_t n)
{
    records_t *r = q->state;
    uint64_t arrived = n < r->declared_left ? n : r->declared_left;
    r->declared_left -= arrived;
    atomic_fetch_sub(&a->pending_body, arrived);
    if (q->received > a->o.max_body) {
        q->too_large = true;
        return MHD_YES;
    }
    if (r->digest && XXH3_128bits_update(r->digest, data, n) != XXH_OK) r->fatal = URSA_ENOMEM;
    if (r->replay) return MHD_YES;
    if (r->over_memory) return MHD_YES;
    if (a->o.memory_limit && ursa_mem_used() >= a->o.memory_limit) {
        /* Parsing on would hold more than the budget: drop what this
         * request holds now, read the rest unparsed, answer 429. */
        r->over_memory = true;
        ursa_catalog_pressure(a->cat);
        ursa_batch_free(r->batch);
        if (ursa_batch_init(r->batch, r->scan.schema)) r->fatal = URSA_ENOMEM;
        return MHD_YES;
    }
    if (!r->fatal && !r->in_rc) {
        int rc = ursa_body_feed(&r->in, data, n, &r->in_err);
        if (rc == URSA_ELIMIT)
            q->too_large = true;
        else if (rc == URSA_EFORMAT)
            r->in_rc = rc;
        else
            r->fatal = rc;
        if (rc == URSA_OK && a->cat->wal && a->o.wal_part_bytes) log_part(a, r);
    }
    return MHD_YES;
}

enum MHD_Result api_records_finish(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    records_t *r = q->state;
    if (r->waiting) { /* resumed: the WAL has answered */
        r->waiting = false;
        if (r->durable_rc)
            return fail_records(a, c, q, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "the write-ahead log failed; the rows may not be stored, retry later");
        return answer_records(a, c, q);
    }
    if (q->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes; nothing was accepted", a->o.max_body);
        return fail_records(a, c, q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (r->replay) {
        uint8_t d[URSA_IDEM_DIGEST];
        if (!r->digest) return send_replay(c, r); /* logged before digests were kept */
        digest_of(r, d);
        if (memcmp(d, r->replay_digest, sizeof(d)) == 0) return send_replay(c, r);
        return api_send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT,
                              "this Idempotency-Key was used before with a different body; nothing was "
                              "accepted (use a new key for new rows)");
    }
    if (r->over_memory) {
        if (r->idem_key) {
            ursa_idem_drop(a->cat->idem, q->name, r->idem_key);
            ursa_free(r->idem_key);
            r->idem_key = NULL;
        }
        URSA_COUNT(backpressure, 1);
        /* As at admission: while the store fails the budget is full because nothing can be flushed,
         * and the answer says so (503, a longer Retry-After). */
        if (__atomic_load_n(&a->cat->store_failing, __ATOMIC_RELAXED))
            return api_send_retry(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "the memory budget filled while the body was received and the store is "
                                  "failing; nothing was accepted, retry later",
                                  5);
        return api_send_retry(c, MHD_HTTP_TOO_MANY_REQUESTS,
                              "the memory budget filled while the body was received; nothing was accepted, "
                              "retry later",
                              1);
    }
    if (!r->fatal && !r->in_rc) {
        int rc = ursa_body_finish(&r->in, &r->in_err);
        if (rc == URSA_EFORMAT)
            r->in_rc = rc;
        else
            r->fatal = rc;
    }
    if (r->in_rc) {
        char msg[320];
        snprintf(msg, sizeof(msg), "%s; nothing was accepted", r->in_err.msg);
        return fail_records(a, c, q, MHD_HTTP_BAD_REQUEST, msg);
    }
    if (r->fatal)
        return fail_records(a, c, q, api_status_for(r->fatal),
                            "out of memory while parsing; nothing was accepted");

    if (r->qfail)
        return fail_records(a, c, q, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "out of memory while keeping the refused rows; nothing was accepted");

    if (r->digest) digest_of(r, r->body_digest);
    r->accepted = r->batch->nrows;
    r->rejected = r->scan.rejected;
    if (r->all_or_nothing && r->rejected) r->accepted = 0; /* one bad record: nothing is stored */
    r->status = r->accepted || r->scan.records == 0 ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST;
    if (answer_json(q, r, &r->answer))
        return fail_records(a, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    bool quarantine = r->qbatch && r->qbatch->nrows;
    if (r->accepted || quarantine) {
        api_refusal_t no;
        if (over_budget(a, false, 0, &no)) {
            if (r->idem_key) ursa_idem_drop(a->cat->idem, q->name, r->idem_key);
            return api_send_retry(c, no.status, no.msg, no.retry_after);
        }
        /* The refused rows first, then the accepted ones: the record with
         * the Idempotency-Key and answer comes last, so when it is durable
         * everything of the request is (a retry after a crash finds the
         * key only if nothing needs doing again). */
        int rc = URSA_OK;
        ursa_err_t err = {0};
        uint64_t lsn = 0;
        const uint8_t *digest = r->digest ? r->body_digest : NULL;
        /* Columns the request added become the dataset's only now, for rows
         * that are stored, and before anything is logged: the schema is in
         * the store before the record that uses it, and a request refused
         * here stores nothing (its quarantined rows neither). */
        if (r->accepted &&
            (rc = ursa_dataset_evolve(a->cat, q->ds, r->scan.schema, r->scan.base, r->batch, &err))) {
            if (rc == URSA_EEXIST || rc == URSA_ELIMIT)
                return fail_records(a, c, q, MHD_HTTP_CONFLICT, err.msg);
            const char *why = err.msg[0] ? err.msg : "store error";
            if (rc == URSA_ENOMEM) why = "out of memory";
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "a new column could not be saved (%s); nothing was accepted, retry later", why);
            return fail_records(a, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
        }
        if (quarantine)
            rc = log_and_append(a, q->ds->quarantine, &r->qbatch, NULL, r->accepted ? NULL : r->idem_key,
                                r->status, &r->answer, digest, &lsn, &err);
        if (rc == URSA_OK && r->accepted) {
            rc = log_and_append(a, q->ds, &r->batch, r, r->idem_key, r->status, &r->answer, digest, &lsn,
                                &err);
            r->final_logged = rc == URSA_OK;
        }
        if (rc) {
            char msg[320];
            snprintf(msg, sizeof(msg), "the rows were not accepted, retry later: %s",
                     err.msg[0] ? err.msg : "error");
            return fail_records(a, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
        }
        if (a->cat->wal) {
            /* Answer once the record is durable, without holding this
             * thread: one sync then serves every request waiting. */
            r->lsn = lsn;
            r->waiting = true;
            r->conn = c;
            MHD_suspend_connection(c);
            if (ursa_wal_notify(a->cat->wal, lsn, on_durable, r)) on_durable(r, URSA_ENOMEM);
            return MHD_YES;
        }
    }
    return answer_records(a, c, q);
}

void api_records_done(api_ctx_t *a, api_req_t *q)
{
    records_t *r = q->state;
    if (!r) return;
    atomic_fetch_sub(&a->pending_body, r->declared_left);
    if (r->nparts && !r->final_logged) abort_parts(a, r);
    if (r->pinned) ursa_wal_unpin(a->cat->wal, r->pin);
    ursa_free(r->parts);
    if (r->scanning) {
        ursa_body_free(&r->in);
        ursa_ndjson_free(&r->scan);
    }
    if (r->qbatch) {
        ursa_batch_free(r->qbatch);
        ursa_free(r->qbatch);
    }
    if (r->batch) {
        ursa_batch_free(r->batch);
        ursa_free(r->batch);
    }
    ursa_buf_free(&r->answer);
    XXH3_freeState(r->digest);
    if (r->idem_key) {
        /* Not finished (the connection went away): let a retry run. The
         * answer of a finished request is kept even though its key is
         * freed here: finish copied it into the table. */
        if (!r->idem_done) ursa_idem_drop(a->cat->idem, q->name, r->idem_key);
        ursa_free(r->idem_key);
    }
    ursa_free(r);
    q->state = NULL;
}
