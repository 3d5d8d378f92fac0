/*
 * api_tables.c -- a dataset's Iceberg table over HTTP (table.c does the
 * reading). Both answers are read from the store at each request, so they
 * show what every node committed, not only this one. A dataset without a
 * table (a node started without --iceberg, or nothing flushed yet) is 404
 * with a message saying so; a store error is 503.
 */
#include "api_tables.h"

#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result answer(struct MHD_Connection *c, const char *name, int rc, json_t *o,
                              const ursa_err_t *err)
{
    if (rc == URSA_ENOTFOUND) {
        char msg[300];
        snprintf(
            msg, sizeof(msg),
            "dataset %s has no Iceberg table yet (nodes commit flushes to it when started with --iceberg)",
            name);
        return api_send_error(c, MHD_HTTP_NOT_FOUND, msg);
    }
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof(msg), "reading the table of %s failed: %s", name, err->msg);
        return api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    ursa_buf_t b = {0};
    int brc = text ? ursa_buf_append(&b, text, strlen(text)) : URSA_ENOMEM;
    free(text);
    return api_send_built(c, brc, &b);
}

enum MHD_Result api_tables_files(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    json_t *o = NULL;
    ursa_err_t err = {0};
    int rc = table_files(a->cat->store, q->name, &o, &err);
    return answer(c, q->name, rc, o, &err);
}

enum MHD_Result api_tables_snapshots(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    json_t *o = NULL;
    ursa_err_t err = {0};
    int rc = table_snapshots(a->cat->store, q->name, &o, &err);
    return answer(c, q->name, rc, o, &err);
}
