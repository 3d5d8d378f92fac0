/*
 * api_tables.c -- a dataset's Iceberg table over HTTP (table.c does the
 * reading). Both answers are read from the store at each request, so they
 * show what every node committed, not only this one. A dataset's table is
 * made with it, empty; one without (its nodes run with --no-iceberg) is 404
 * with a message saying so; a store error is 503.
 *
 * POST .../compact runs a compaction on the request's thread and answers
 * once it is committed (or lost, or failed), with what it did per day: the
 * client waits for the merge, which for a big day takes minutes.
 */
#include "api_tables.h"

#include "coerce.h"
#include "compactor.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result answer(struct MHD_Connection *c, const char *name, int rc, json_t *o,
                              const ursa_err_t *err)
{
    if (rc == URSA_ENOTFOUND) {
        char msg[300];
        snprintf(msg, sizeof(msg), "dataset %s has no Iceberg table (its nodes run with --no-iceberg)", name);
        return api_send_error(c, MHD_HTTP_NOT_FOUND, msg);
    }
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof(msg), "reading the table of %s failed: %s", name, err->msg);
        return api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    /* (9 digits: a duration in ms reads 0.009, not 0.0089999999999999993) */
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
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

enum MHD_Result api_tables_compact(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    const char *date = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "date");
    int32_t day;
    if (date && (strlen(date) != 10 || ursa_parse_date(date, 10, &day)))
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "date must be a day, YYYY-MM-DD");
    if (!a->o.compactor) return api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "this node does not compact");
    json_t *o = NULL;
    ursa_err_t err = {0};
    int rc = ursa_compactor_run(a->o.compactor, q->name, date, &o, &err);
    if (rc == URSA_OK || !o) return answer(c, q->name, rc, o, &err);
    /* A failure answers the days done too: {"error", "dataset", "days"}. */
    unsigned status = rc == URSA_ENOTFOUND ? MHD_HTTP_NOT_FOUND
                      : rc == URSA_ENOTSUP ? MHD_HTTP_CONFLICT
                      : rc == URSA_EIO || rc == URSA_EAUTH || rc == URSA_ENOMEM || rc == URSA_ECANCELED
                          ? MHD_HTTP_SERVICE_UNAVAILABLE
                          : MHD_HTTP_INTERNAL_SERVER_ERROR;
    char msg[700];
    if (rc == URSA_ENOTFOUND)
        snprintf(msg, sizeof(msg), "dataset %s has no Iceberg table yet (nothing flushed): %s", q->name,
                 err.msg);
    else
        snprintf(msg, sizeof(msg), "compaction of %s failed: %s", q->name, err.msg);
    json_object_set_new(o, "error", json_string(msg));
    /* (9 digits: a duration in ms reads 0.009, not 0.0089999999999999993) */
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    enum MHD_Result r = text ? api_send_json(c, status, text)
                             : api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    free(text);
    return r;
}
