/*
 * api.h -- what the daemon (http_server.c) and the routes (api_*.c) share:
 * the state of a request, the server as the routes see it, and the
 * helpers that queue answers. Internal to the HTTP layer: only
 * http_server.c and the api_* modules include it.
 *
 * A route is a few functions that http_server.c calls for one method on
 * one path (its routing table): a start in the request's first call,
 * after the daemon's own checks (framing, path, method, dataset); body
 * pieces; a finish in the last call, which acts and queues the answer;
 * a done once the request is over, which frees what the route kept in
 * api_req_t.state.
 *
 * Every answer has a JSON body (/metrics excepted); errors are
 * {"error": "..."}. Every answer carries the request's id in X-Request-Id:
 * the daemon names the request being handled on this thread
 * (api_set_request_id) before it calls a route, so the api_send_*
 * helpers need no extra parameter.
 */
#ifndef URSA_API_H
#define URSA_API_H

#include "api_keys.h"
#include "catalog.h"
#include "http_server.h" /* ursa_server_opts_t */
#include "query.h"

#include <microhttpd.h>
#include <stdatomic.h>

#define API_REQUEST_ID_MAX 128

typedef struct api_live api_live_t;

/* What the routes see of the server. */
typedef struct api_ctx {
    ursa_catalog_t *cat;
    ursa_server_opts_t o; /* with the defaults filled in */
    /* body bytes that requests admitted under the memory budget declared
     * (Content-Length) and have not sent yet: what is on its way */
    atomic_ullong pending_body;
    api_live_t *live; /* the live queries' connections (api_live.h) */
} api_ctx_t;

/* A refusal in a request's first call: status, message, Retry-After (0:
 * none), Allow (empty: none). */
typedef struct api_refusal {
    unsigned status, retry_after;
    char allow[32];
    char msg[640];
} api_refusal_t;

/* Who sent a request, when the server has API keys (api_keys.h): kept
 * by the request, and by a live connection for its subscriptions. */
typedef struct api_caller {
    struct api_keys *keys; /* NULL: the server has none, anyone may */
    uint8_t hash[32];      /* of the key presented */
    /* "Authorization: Bearer <key>": passed to the other nodes a query
     * asks, which check the same key (one keys file per cluster) */
    char forward[API_KEY_SECRET_MAX + 32];
} api_caller_t;

/* One request, from its first call to its completion. The daemon frees it
 * (and body); the route's done frees state. */
typedef struct api_req {
    const struct api_route *route; /* the routing table's row (http_server.c); NULL until routed */
    bool started;
    bool head;   /* a HEAD request (routed as GET) */
    bool http11; /* HTTP/1.1 (not 1.0) */
    char request_id[API_REQUEST_ID_MAX + 1];
    int64_t received_us;   /* wall clock when the request began: received_at of its quarantined rows */
    int64_t began_mono_us; /* monotonic clock then: for the body's rate floor */
    char name[URSA_NAME_MAX + 1];
    ursa_dataset_t *ds; /* the dataset named, for routes that need one to exist */
    size_t received;    /* body bytes so far */
    api_refusal_t
        refused;    /* refused in the first call (status set): answered now, or after the body is dropped */
    bool too_large; /* the body passed its route's limit: the rest is dropped */
    /* a body taken whole by the daemon (schema documents), up to the
     * route's limit; body_rc is URSA_ENOMEM when it could not grow */
    ursa_buf_t body;
    int body_rc;
    void *state; /* the route's own, or NULL */
    api_caller_t caller;
} api_req_t;

/* Whether the caller may act with one of `scopes` (API_SCOPE_ bits) on
 * dataset: true when the server has no keys. */
bool api_may(const api_caller_t *who, unsigned scopes, const char *dataset);

/* query_opts_t.allow for a caller (ctx): may it query dataset? URSA_EDENIED
 * or URSA_EKEY (its key is gone since) with the reason in err. */
int api_query_allow(void *ctx, const char *dataset, ursa_err_t *err);

/* Sets a query's allow and forward from the caller. */
void api_caller_query(api_caller_t *who, query_opts_t *qo);

/* Names the request handled on this thread, for the X-Request-Id of the
 * answers queued until the next call. id must outlive them. */
void api_set_request_id(const char *id);

/* Queues r with the headers every answer has. The caller still destroys r. */
enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);

/* Sends a copy of b's bytes as JSON. MHD_NO when no answer could be made. */
enum MHD_Result api_send_buf(struct MHD_Connection *c, unsigned status, ursa_buf_t *b);

/* Sends b's bytes without copying them: libmicrohttpd frees them once
 * sent, so a large answer stays counted in the memory budget until then.
 * b is emptied when the answer was queued (the caller frees it either way). */
enum MHD_Result api_send_owned(struct MHD_Connection *c, unsigned status, ursa_buf_t *b);

/* The end of an answer built in b: 200 with b (as api_send_owned) when rc
 * is URSA_OK, else 503 "out of memory". Frees b. */
enum MHD_Result api_send_built(struct MHD_Connection *c, int rc, ursa_buf_t *b);

/* Sends a JSON text of its own (copied). */
enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned status, const char *json);

/* Sends {"error": msg} with headers: name, value pairs until a NULL name
 * (headers itself may be NULL). */
enum MHD_Result api_send_error_headers(struct MHD_Connection *c, unsigned status, const char *msg,
                                       const char *const *headers);

/* Sends {"error": msg}. */
enum MHD_Result api_send_error(struct MHD_Connection *c, unsigned status, const char *msg);

/* An error answer with its Retry-After and Allow headers, if any. */
enum MHD_Result api_send_refusal(struct MHD_Connection *c, const api_refusal_t *f);

/* An error answer with Retry-After, for backpressure. */
enum MHD_Result api_send_retry(struct MHD_Connection *c, unsigned status, const char *msg, unsigned seconds);

/* Notes a refusal of the request in its first call (answered by
 * api_send_refusal, now or once the body is dropped). Returns MHD_YES. */
enum MHD_Result api_refuse(api_req_t *q, unsigned status, const char *msg);

/* The HTTP status of a failure status code. */
unsigned api_status_for(int rc);

#endif
