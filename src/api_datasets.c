/*
 * api_datasets.c -- the datasets: created from a schema document (PUT),
 * described with their buffers (GET), flushed on demand (POST .../flush).
 */
#include "api_datasets.h"

#include "ingest_json.h"

#include <stdio.h>
#include <string.h>

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

enum MHD_Result api_datasets_put(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    if (q->too_large)
        return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "schema document larger than 1 MiB");
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
        rc = ursa_catalog_create(a->cat, q->name, (const char *)q->body.data, q->body.len, &created, &err);
    /* A schema past a limit (columns) is an invalid schema, not a large body. */
    if (rc == URSA_ELIMIT) rc = URSA_EINVAL;
    if (rc) return api_send_error(c, api_status_for(rc), err.msg[0] ? err.msg : ursa_strstatus(rc));
    ursa_dataset_t *d = ursa_catalog_get(a->cat, q->name);
    ursa_buf_t b = {0};
    if (created) ursa_info("created dataset %s", q->name);
    enum MHD_Result ret =
        dataset_json(d, &b) ? MHD_NO : api_send_buf(c, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, &b);
    ursa_buf_free(&b);
    return ret;
}

enum MHD_Result api_datasets_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    ursa_buf_t b = {0};
    ursa_err_t err;
    if (ursa_dataset_refresh(a->cat, q->ds, &err)) /* the answer is this node's view, a little older */
        ursa_error("dataset %s: reading its table's schema: %s", q->name, err.msg);
    int rc = dataset_json(q->ds, &b);
    return api_send_built(c, rc, &b);
}

enum MHD_Result api_datasets_list(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    ursa_buf_t b = {0};
    ursa_dataset_t **all;
    size_t n;
    ursa_err_t err;
    if (a->cat->iceberg &&
        ursa_catalog_discover(a->cat, &err)) /* other nodes' datasets; this node's still list */
        ursa_error("listing the store's datasets: %s", err.msg);
    int rc = ursa_catalog_list(a->cat, &all, &n);
    if (rc == URSA_OK) {
        rc = ursa_buf_printf(&b, "{\"datasets\":[");
        bool first = true;
        for (size_t i = 0; i < n && rc == URSA_OK; i++) {
            if (all[i]->parent) continue; /* quarantines have their own route */
            /* with API keys, those the caller has a scope on */
            if (!api_may(&q->caller, API_SCOPE_READ, all[i]->name)) continue;
            if (!first) rc = ursa_buf_push(&b, ',');
            first = false;
            if (rc == URSA_OK) rc = dataset_json(all[i], &b);
        }
        if (rc == URSA_OK) rc = ursa_buf_printf(&b, "]}");
        ursa_free(all);
    }
    return api_send_built(c, rc, &b);
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
enum MHD_Result api_datasets_flush(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    ursa_flush_result_t res, qres = {0};
    ursa_err_t err = {0};
    int rc = ursa_dataset_flush(a->cat, q->ds, &res, &err);
    if (rc) {
        ursa_error("flush of %s failed: %s", q->name, err.msg);
        char msg[400];
        snprintf(msg, sizeof(msg), "flush failed, the rows stay buffered: %s", err.msg);
        return api_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
    }
    if (res.nfiles)
        ursa_info("flushed %s: %llu rows in %zu files", q->name, (unsigned long long)res.rows, res.nfiles);
    rc = ursa_dataset_flush(a->cat, q->ds->quarantine, &qres, &err);
    if (rc) {
        ursa_error("flush of %s failed: %s", q->ds->quarantine->name, err.msg);
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "the rows were flushed (%llu) but the flush of the quarantine failed, its rows stay "
                 "buffered: %s",
                 (unsigned long long)res.rows, err.msg);
        ursa_flush_result_free(&res);
        return api_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
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
    return api_send_built(c, rc, &b);
}
