/*
 * api.c -- answers: the helpers every route queues its answer with, and
 * the X-Request-Id they all carry (see api.h).
 */
#include "api.h"

#include "metrics.h"

#include <stdio.h>
#include <string.h>

/* The id of the request being handled on this thread, for X-Request-Id.
 * Every answer is queued from inside the daemon's access handler, which
 * sets it first, so the many api_send_* helpers need no extra parameter. */
static _Thread_local const char *current_request_id;

void api_set_request_id(const char *id)
{
    current_request_id = id;
}

/* Queues r with the headers every answer has. */
enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (current_request_id) MHD_add_response_header(r, "X-Request-Id", current_request_id);
    return MHD_queue_response(c, status, r);
}

/* ---------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------- */

enum MHD_Result api_send_buf(struct MHD_Connection *c, unsigned status, ursa_buf_t *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = api_queue(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends b's bytes without copying them: libmicrohttpd frees them once
 * sent, so a large answer stays counted in the memory budget until then.
 * b is emptied when the answer was queued (the caller frees it either way). */
enum MHD_Result api_send_owned(struct MHD_Connection *c, unsigned status, ursa_buf_t *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(b->len, b->data, ursa_free);
    if (!r) return MHD_NO;
    b->data = NULL;
    b->len = b->cap = 0;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = api_queue(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* 200 with what was built, or 503 when building it ran out of memory. */
enum MHD_Result api_send_built(struct MHD_Connection *c, int rc, ursa_buf_t *b)
{
    enum MHD_Result ret =
        rc ? api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory") : api_send_owned(c, 200, b);
    ursa_buf_free(b);
    return ret;
}

enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned status, const char *json)
{
    ursa_buf_t b = {(uint8_t *)(uintptr_t)json, strlen(json), 0};
    return api_send_buf(c, status, &b);
}

/* {"error": msg} with headers (name, value pairs until a NULL name): every
 * error answer is made here. */
enum MHD_Result api_send_error_headers(struct MHD_Connection *c, unsigned status, const char *msg,
                                       const char *const *headers)
{
    ursa_buf_t b = {0};
    enum MHD_Result ret = MHD_NO;
    if (ursa_buf_printf(&b, "{\"error\":") == URSA_OK && ursa_buf_json_str(&b, msg, strlen(msg)) == URSA_OK &&
        ursa_buf_push(&b, '}') == URSA_OK) {
        struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
            for (size_t i = 0; headers && headers[i]; i += 2)
                MHD_add_response_header(r, headers[i], headers[i + 1]);
            ret = api_queue(c, status, r);
            MHD_destroy_response(r);
        }
    }
    ursa_buf_free(&b);
    return ret;
}

/* With Retry-After (seconds, when not 0) and Allow (when not NULL or empty). */
static enum MHD_Result send_error_with(struct MHD_Connection *c, unsigned status, const char *msg,
                                       unsigned retry_after, const char *allow)
{
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", retry_after);
    const char *h[7];
    size_t n = 0;
    if (status == MHD_HTTP_UNAUTHORIZED) /* RFC 6750 3 */
        h[n++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE, h[n++] = "Bearer realm=\"ursa\"";
    if (retry_after) h[n++] = MHD_HTTP_HEADER_RETRY_AFTER, h[n++] = ra;
    if (allow && allow[0]) h[n++] = MHD_HTTP_HEADER_ALLOW, h[n++] = allow;
    h[n] = NULL;
    return api_send_error_headers(c, status, msg, h);
}

enum MHD_Result api_send_refusal(struct MHD_Connection *c, const api_refusal_t *f)
{
    return send_error_with(c, f->status, f->msg, f->retry_after, f->allow);
}

enum MHD_Result api_send_retry(struct MHD_Connection *c, unsigned status, const char *msg, unsigned seconds)
{
    return send_error_with(c, status, msg, seconds, NULL);
}

enum MHD_Result api_send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_error_with(c, status, msg, 0, NULL);
}

/* Notes a refusal of the request in its first call (answered by
 * api_send_refusal, now or once the body is dropped). */
enum MHD_Result api_refuse(api_req_t *q, unsigned status, const char *msg)
{
    q->refused.status = status;
    snprintf(q->refused.msg, sizeof(q->refused.msg), "%s", msg);
    return MHD_YES;
}

unsigned api_status_for(int rc)
{
    switch (rc) {
    case URSA_EINVAL:
    case URSA_EFORMAT:
        return MHD_HTTP_BAD_REQUEST;
    case URSA_ENOTFOUND:
        return MHD_HTTP_NOT_FOUND;
    case URSA_EKEY:
        return MHD_HTTP_UNAUTHORIZED;
    case URSA_EDENIED:
        return MHD_HTTP_FORBIDDEN;
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

/* ---------------------------------------------------------------------------
 * Callers
 * ------------------------------------------------------------------------- */

bool api_may(const api_caller_t *who, unsigned scopes, const char *dataset)
{
    return !who->keys || api_keys_allow(who->keys, who->hash, scopes, dataset, NULL) == URSA_OK;
}

int api_query_allow(void *ctx, const char *dataset, ursa_err_t *err)
{
    api_caller_t *who = ctx;
    char name[API_KEY_NAME_MAX + 1];
    int rc = api_keys_allow(who->keys, who->hash, API_SCOPE_QUERY, dataset, name);
    if (rc == URSA_EKEY) {
        URSA_COUNT(auth_invalid, 1);
        return ursa_err_set(err, rc, "the API key is not valid (any longer)");
    }
    if (rc == URSA_EDENIED) {
        URSA_COUNT(auth_denied, 1);
        return ursa_err_set(err, rc, "the API key \"%s\" may not query dataset %s (it needs query:%s)", name,
                            dataset, dataset);
    }
    return rc;
}

void api_caller_query(api_caller_t *who, query_opts_t *qo)
{
    if (!who->keys) return;
    qo->allow = api_query_allow;
    qo->allow_ctx = who;
    qo->forward = who->forward;
}
