/*
 * api_query.c -- POST /v1/query {"sql": "...", "format": "..."} and
 * GET /v1/query?sql=...&format=...: a SQL query over a dataset's buffered
 * and stored rows (query.h), its result in the format asked for
 * (query_out.h: JSON by default, NDJSON, CSV, Arrow IPC stream, Parquet,
 * by "format" or the Accept header).
 *
 * The query runs on the connection's thread and on workers of its own
 * (query.h). The result is built whole and then sent, so that a query that
 * fails part way answers with an error and nothing else: the result is
 * bounded by the same size as the query's memory budget (--query-memory),
 * and past it is a 413 like a query past its budget. Between batches the run polls the connection's socket: a
 * client that went away ends its query.
 *
 * Errors: 400 for SQL outside the subset or bad values, 404 for an unknown
 * dataset, 406 for a format it cannot give, 408 past the time limit, 413
 * past the memory budget, 5xx for the store; every one {"error": "..."}.
 */
#include "api_query.h"

#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

typedef struct out_ctx {
    query_out_t *o;
    query_format_t fmt;
    ursa_buf_t *buf;
    size_t max;
    const char *what_max;
} out_ctx_t;

static int out_begin(void *ctx, const exec_schema_t *s, ursa_err_t *err)
{
    out_ctx_t *oc = ctx;
    return query_out_new(&oc->o, oc->fmt, s, err);
}

static int out_rows(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    out_ctx_t *oc = ctx;
    int rc = query_out_batch(oc->o, b, oc->buf, err);
    if (rc == URSA_OK && oc->buf->len > oc->max)
        rc = ursa_err_set(err, URSA_ELIMIT,
                          "the result is larger than %s (%zu bytes): add a LIMIT or aggregate", oc->what_max,
                          oc->max);
    return rc;
}

int api_query_collect(const char *sql, const query_opts_t *qo, query_format_t fmt, size_t max,
                      const char *what_max, ursa_buf_t *out, size_t *rows_end, exec_stats_t *st,
                      ursa_err_t *err)
{
    out_ctx_t oc = {.fmt = fmt, .buf = out, .max = max, .what_max = what_max};
    query_sink_t sink = {out_begin, out_rows, &oc};
    int rc = query_run(sql, qo, &sink, st, err);
    if (rows_end) *rows_end = out->len;
    if (rc == URSA_OK) rc = query_out_end(oc.o, st, out, err);
    query_out_destroy(&oc.o);
    return rc;
}

unsigned api_query_status(int rc, const ursa_err_t *err)
{
    if (rc == URSA_ELIMIT && strstr(err->msg, "time limit")) return MHD_HTTP_REQUEST_TIMEOUT;
    if (rc == URSA_ENOTSUP) return MHD_HTTP_BAD_REQUEST;
    if (rc == URSA_EIO) return MHD_HTTP_SERVICE_UNAVAILABLE; /* a node or the store cannot be reached */
    return api_status_for(rc);
}

/* Whether the client closed its connection (the socket reads EOF). */
static bool client_gone(void *ctx)
{
    struct MHD_Connection *c = ctx;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {ci->connect_fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char ch;
    return recv(ci->connect_fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static enum MHD_Result run(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q, const char *sql,
                           const char *format, bool partial)
{
    size_t max = a->o.query_memory ? a->o.query_memory : QUERY_MEMORY_DEFAULT;
    ursa_err_t err = {0};
    query_format_t fmt;
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    int rc = query_format_choose(format, accept, &fmt, &err);
    if (rc) return api_send_error(c, format ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_ACCEPTABLE, err.msg);
    if (!sql || !*sql)
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "sql is missing: {\"sql\": \"SELECT ...\"}");
    query_opts_t qo = {.cat = a->cat,
                       .store = a->cat->store,
                       .node = a->cat->node,
                       .memory_limit = max,
                       .timeout_ms = a->o.query_timeout_ms,
                       .gone = client_gone,
                       .gone_ctx = c,
                       .peers = a->o.peers,
                       .partial = partial};
    api_caller_query(&q->caller, &qo);
    exec_stats_t st;
    ursa_buf_t buf = {0};
    rc = api_query_collect(sql, &qo, fmt, max, "the query memory budget", &buf, NULL, &st, &err);
    if (rc) {
        ursa_buf_free(&buf);
        if (rc == URSA_ECANCELED) { /* nobody to answer */
            ursa_info("query stopped: its client went away");
            return MHD_NO;
        }
        unsigned status = api_query_status(rc, &err);
        if (status >= 500) ursa_error("query failed: %s", err.msg);
        return api_send_error(c, status, err.msg[0] ? err.msg : ursa_strstatus(rc));
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(buf.len, buf.data, ursa_free);
    if (!r) {
        ursa_buf_free(&buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, query_format_content_type(fmt));
    enum MHD_Result ret = api_queue(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result api_query_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    const char *partial = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "partial");
    return run(a, c, q, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sql"),
               MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format"),
               partial && (!strcmp(partial, "true") || !strcmp(partial, "1")));
}

enum MHD_Result api_query_post(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    if (q->too_large) return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "query body larger than 1 MiB");
    if (q->body_rc) return api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    json_error_t je;
    json_t *body = json_loadb((const char *)q->body.data, q->body.len, 0, &je);
    if (!body || !json_is_object(body)) {
        char msg[300];
        if (body)
            snprintf(msg, sizeof(msg), "the body must be a JSON object: {\"sql\": \"SELECT ...\"}");
        else
            snprintf(msg, sizeof(msg), "the body is not JSON: %s (at character %d)", je.text, je.position);
        json_decref(body);
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    json_t *sql = json_object_get(body, "sql"), *fmt = json_object_get(body, "format"),
           *partial = json_object_get(body, "partial");
    enum MHD_Result ret;
    if (!json_is_string(sql))
        ret = api_send_error(c, MHD_HTTP_BAD_REQUEST, "sql must be a string: {\"sql\": \"SELECT ...\"}");
    else if (fmt && !json_is_string(fmt))
        ret = api_send_error(c, MHD_HTTP_BAD_REQUEST, "format must be a string");
    else if (partial && !json_is_boolean(partial))
        ret = api_send_error(c, MHD_HTTP_BAD_REQUEST, "partial must be true or false");
    else {
        const char *f =
            fmt ? json_string_value(fmt) : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
        ret = run(a, c, q, json_string_value(sql), f, json_is_true(partial));
    }
    json_decref(body);
    return ret;
}

/* POST /v1/internal/scan {"sql", "now_us"}: this node's part of a query
 * another node answers (query_scan_live), as application/octet-stream. */
enum MHD_Result api_query_scan(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    if (q->too_large) return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "query body larger than 1 MiB");
    json_error_t je;
    json_t *body = json_loadb((const char *)q->body.data, q->body.len, 0, &je);
    json_t *sql = json_object_get(body, "sql"), *now = json_object_get(body, "now_us");
    if (!json_is_string(sql) || !json_is_integer(now)) {
        json_decref(body);
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "a scan takes {\"sql\": \"...\", \"now_us\": N}");
    }
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    query_opts_t qo = {.cat = a->cat,
                       .store = a->cat->store,
                       .node = a->cat->node,
                       .memory_limit = a->o.query_memory ? a->o.query_memory : QUERY_MEMORY_DEFAULT};
    api_caller_query(&q->caller, &qo);
    qo.forward = NULL; /* a scan asks no other node */
    int rc = query_scan_live(json_string_value(sql), json_integer_value(now), &qo, &out, &err);
    json_decref(body);
    if (rc) {
        ursa_buf_free(&out);
        return api_send_error(c, api_status_for(rc), err.msg[0] ? err.msg : ursa_strstatus(rc));
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(out.len, out.data, ursa_free);
    if (!r) {
        ursa_buf_free(&out);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    enum MHD_Result ret = api_queue(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
