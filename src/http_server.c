/*
 * http_server.c -- the daemon: listening, connection limits, the request
 * lifecycle, routing; the routes are the api_* modules (api.h).
 *
 * Request lifecycle (libmicrohttpd calls the access handler repeatedly):
 *   1st call   route the request, check framing, method, the API key
 *              against the route's scope (with --auth-keys; before the
 *              dataset, so a key without the scope cannot learn whether it
 *              exists: docs/internals/auth.md), the dataset, then the
 *              route's own checks (headers, budgets); a request refused
 *              here is answered at once when it has no body on its way
 *              (none, "Expect: 100-continue", or more than DRAIN_MAX
 *              declared: libmicrohttpd then closes the connection), else
 *              once its body has been read and dropped (a connection closed
 *              on unread bytes is reset, and the client loses the answer);
 *   n calls    body pieces: handed to the route (records: fed to the NDJSON
 *              scanner) or collected up to the route's limit (schemas);
 *   last call  (*upload_data_size == 0) the route acts and queues the
 *              answer. Answers are queued in a later call than the first,
 *              because libmicrohttpd 0.9.75 drops keep-alive for answers
 *              queued in the first one.
 * GET /v1/live answers 101 and libmicrohttpd hands the socket over: from
 * then on the connection is api_live's (its own threads), and shutdown
 * closes those connections (1001) before it waits for requests in flight.
 * Every answer has a JSON body (/metrics and the pages excepted); errors are
 * {"error": "..."}. Every answer carries the request's id in X-Request-Id
 * (the client's, when sane, else one made here), so a client, a log line
 * and a quarantined row can be matched up.
 */
#include "http_server.h"

#include "api.h"
#include "api_cluster.h"
#include "api_datasets.h"
#include "api_node.h"
#include "api_quarantine.h"
#include "api_query.h"
#include "query.h"
#include "api_tables.h"
#include "api_records.h"
#include "api_web.h"
#include "api_live.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The body of a request refused in its first call is read and dropped,
 * up to this many bytes, before the answer (see drain_first). */
#define DRAIN_MAX ((uint64_t)64 << 20)

struct ursa_server {
    api_ctx_t api; /* what the routes see: the catalog, the options, the bodies on their way */
    struct MHD_Daemon *mhd;
    uint16_t port;
    atomic_int inflight;  /* requests begun and not yet completed */
    atomic_bool stopping; /* shutting down: requests that start now are refused */
    /* request ids made here: "<node>-<start time µs, hex>-<counter>", unique
     * across nodes (names differ) and restarts (start times differ) */
    char id_prefix[96];
    atomic_ullong next_id;
};

/* ---------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------- */

enum path {
    P_NONE = 0,
    P_HEALTH,
    P_METRICS,
    P_DATASETS,
    P_DATASET,
    P_RECORDS,
    P_FLUSH,
    P_QUARANTINE,
    P_FILES,
    P_SNAPSHOTS,
    P_COMPACT,
    P_QUERY,
    P_SCAN,
    P_NODES,
    P_WEB,
    P_LIVE,
};

/* What answers one method on one path (api.h). finish is required, the
 * rest optional. */
/* What a route needs of an API key, when the server has keys: AUTH_OPEN
 * nothing, AUTH_ANY a valid key, AUTH_METRICS a key with metrics or admin
 * under --auth-metrics (else nothing), or else API_SCOPE_ bits: a key with
 * one of them for the dataset named in the path. */
#define AUTH_ANY     0u
#define AUTH_OPEN    0x100u
#define AUTH_METRICS 0x200u

typedef struct api_route {
    enum path path;
    const char *method; /* "GET" answers HEAD too */
    bool dataset;       /* the dataset named must exist (q->ds), else 404 */
    unsigned auth;      /* what it needs of an API key (AUTH_ above) */
    /* first call, after the checks above: the route's own; refuses with
     * api_refuse */
    enum MHD_Result (*start)(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);
    /* a piece of the body; without it, the body is kept in q->body up to
     * body_max bytes (past them q->too_large is set), or dropped (0) */
    enum MHD_Result (*body)(api_ctx_t *a, api_req_t *q, const char *data, size_t n);
    size_t body_max;
    /* last call: act and queue the answer */
    enum MHD_Result (*finish)(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);
    /* the request is over: free q->state */
    void (*done)(api_ctx_t *a, api_req_t *q);
} api_route_t;

static const api_route_t routes[] = {
    {P_HEALTH, "GET", false, AUTH_OPEN, NULL, NULL, 0, api_node_health, NULL},
    {P_METRICS, "GET", false, AUTH_METRICS, NULL, NULL, 0, api_node_metrics, NULL},
    {P_DATASETS, "GET", false, AUTH_ANY, NULL, NULL, 0, api_datasets_list, NULL},
    {P_DATASET, "GET", true, API_SCOPE_READ, NULL, NULL, 0, api_datasets_get, NULL},
    {P_DATASET, "PUT", false, API_SCOPE_ADMIN, NULL, NULL, API_SCHEMA_BODY_MAX, api_datasets_put, NULL},
    {P_RECORDS, "POST", true, API_SCOPE_INGEST, api_records_start, api_records_body, 0, api_records_finish,
     api_records_done},
    {P_FLUSH, "POST", true, API_SCOPE_ADMIN, NULL, NULL, 0, api_datasets_flush, NULL},
    {P_QUARANTINE, "GET", true, API_SCOPE_QUERY | API_SCOPE_ADMIN, NULL, NULL, 0, api_quarantine_get, NULL},
    {P_FILES, "GET", true, API_SCOPE_READ, NULL, NULL, 0, api_tables_files, NULL},
    {P_SNAPSHOTS, "GET", true, API_SCOPE_READ, NULL, NULL, 0, api_tables_snapshots, NULL},
    {P_COMPACT, "POST", true, API_SCOPE_ADMIN, NULL, NULL, 0, api_tables_compact, NULL},
    /* queries: the dataset is checked once the SQL names it (query_opts_t.allow) */
    {P_QUERY, "POST", false, AUTH_ANY, NULL, NULL, API_QUERY_BODY_MAX, api_query_post, NULL},
    {P_QUERY, "GET", false, AUTH_ANY, NULL, NULL, 0, api_query_get, NULL},
    {P_SCAN, "POST", false, AUTH_ANY, NULL, NULL, API_QUERY_BODY_MAX, api_query_scan, NULL},
    {P_NODES, "GET", false, AUTH_ANY, NULL, NULL, 0, api_cluster_nodes, NULL},
    {P_WEB, "GET", false, AUTH_OPEN, NULL, NULL, 0, api_web_get, NULL},
    {P_LIVE, "GET", false, AUTH_ANY, NULL, NULL, 0, api_live_get, NULL},
};

/* Splits the URL into a path and a dataset name. */
static enum path path_of(const char *url, char *name, bool *bad_name)
{
    *bad_name = false;
    if (strcmp(url, "/healthz") == 0) return P_HEALTH;
    if (strcmp(url, "/metrics") == 0) return P_METRICS;
    if (strcmp(url, "/v1/nodes") == 0) return P_NODES;
    if (strcmp(url, "/v1/datasets") == 0 || strcmp(url, "/v1/datasets/") == 0) return P_DATASETS;
    if (strcmp(url, "/v1/query") == 0) return P_QUERY;
    if (strcmp(url, QUERY_SCAN_PATH) == 0) return P_SCAN;
    if (strcmp(url, "/v1/live") == 0) return P_LIVE;
    const api_web_asset_t *page = api_web_find(url);
    if (page) {
        snprintf(name, URSA_NAME_MAX + 1, "%s", page->name);
        return P_WEB;
    }
    if (strncmp(url, "/v1/datasets/", 13) != 0) return P_NONE;
    const char *p = url + 13, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    enum path r;
    if (!slash || slash[1] == '\0')
        r = P_DATASET;
    else if (strcmp(slash, "/records") == 0)
        r = P_RECORDS;
    else if (strcmp(slash, "/flush") == 0)
        r = P_FLUSH;
    else if (strcmp(slash, "/quarantine") == 0)
        r = P_QUARANTINE;
    else if (strcmp(slash, "/files") == 0)
        r = P_FILES;
    else if (strcmp(slash, "/snapshots") == 0)
        r = P_SNAPSHOTS;
    else if (strcmp(slash, "/compact") == 0)
        r = P_COMPACT;
    else
        return P_NONE;
    if (!ursa_name_valid(p, n)) {
        *bad_name = true;
        return r;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    return r;
}

/* The route of method m on path p, or NULL when p answers other methods. */
static const api_route_t *route_of(enum path p, const char *m)
{
    for (size_t i = 0; i < URSA_ARRAY_LEN(routes); i++)
        if (routes[i].path == p && (strcmp(m, routes[i].method) == 0 ||
                                    (strcmp(m, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)))
            return &routes[i];
    return NULL;
}

/* The methods path p answers, for Allow: "GET, PUT". */
static void allowed_methods(enum path p, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < URSA_ARRAY_LEN(routes); i++) {
        if (routes[i].path != p) continue;
        if (out[0]) strncat(out, ", ", cap - strlen(out) - 1);
        strncat(out, routes[i].method, cap - strlen(out) - 1);
    }
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

/* ---------------------------------------------------------------------------
 * API keys (docs/internals/auth.md)
 * ------------------------------------------------------------------------- */

/* The key a request presents: "Authorization: Bearer <key>", or on a
 * WebSocket handshake (which a browser cannot give headers) a subprotocol
 * "ursa.bearer.<key>". NULL when there is none; *bad when Authorization is
 * there but not Bearer. */
static const char *presented_key(struct MHD_Connection *c, bool live, size_t *n, bool *bad)
{
    *bad = false;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h) {
        if (strncasecmp(h, "Bearer ", 7) != 0) {
            *bad = true;
            return NULL;
        }
        h += 7;
        h += strspn(h, " ");
        *n = strcspn(h, " \t");
        if (*n == 0 || h[*n]) *bad = true;
        return *bad ? NULL : h;
    }
    const char *p = live ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol") : NULL;
    while (p && *p) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len > 12 && strncmp(p, "ursa.bearer.", 12) == 0) {
            *n = len - 12;
            return p + 12;
        }
        p += len;
    }
    return NULL;
}

/* "the API key "NAME" may not ingest into dataset events (it needs
 * ingest:events)". */
static void denied_msg(char *out, size_t cap, const char *key, const api_route_t *r, const char *ds)
{
    const char *what = "read dataset ";
    switch (r->path) {
    case P_DATASET:
        if (strcmp(r->method, "PUT") == 0) what = "create or change dataset ";
        break;
    case P_RECORDS:
        what = "ingest into dataset ";
        break;
    case P_FLUSH:
        what = "flush dataset ";
        break;
    case P_COMPACT:
        what = "compact dataset ";
        break;
    case P_QUARANTINE:
        what = "read the quarantine of dataset ";
        break;
    case P_METRICS:
        what = "read /metrics";
        ds = "";
        break;
    default:
        break;
    }
    unsigned need = r->auth == AUTH_METRICS ? API_SCOPE_METRICS | API_SCOPE_ADMIN : r->auth;
    static const struct {
        unsigned bit;
        const char *name;
        bool per_dataset;
    } names[] = {{API_SCOPE_INGEST, "ingest:", true},
                 {API_SCOPE_QUERY, "query:", true},
                 {API_SCOPE_ADMIN, "admin", false},
                 {API_SCOPE_METRICS, "metrics", false}};
    char needs[512] = "";
    unsigned n = 0, total = (unsigned)__builtin_popcount(need);
    for (size_t i = 0; i < URSA_ARRAY_LEN(names); i++) {
        if (!(need & names[i].bit)) continue;
        size_t at = strlen(needs);
        snprintf(needs + at, sizeof(needs) - at, "%s%s%s",
                 n == 0           ? ""
                 : n + 1 == total ? " or "
                                  : ", ",
                 names[i].name, names[i].per_dataset ? ds : "");
        n++;
    }
    snprintf(out, cap, "the API key \"%s\" may not %s%s (it needs %s)", key, what, ds, needs);
}

/* Checks the request's key against what its route needs; refuses with 401,
 * 403 or 429 (api_refuse). Keeps the key's hash and the forwarding header
 * in q->caller. */
static void authenticate(ursa_server_t *srv, struct MHD_Connection *c, api_req_t *q)
{
    api_keys_t *keys = srv->api.o.keys;
    const api_route_t *r = q->route;
    if (r->auth == AUTH_OPEN || (r->auth == AUTH_METRICS && !srv->api.o.auth_metrics)) return;
    size_t n = 0;
    bool bad;
    const char *key = presented_key(c, r->path == P_LIVE, &n, &bad);
    if (!key) {
        URSA_COUNT(auth_missing, 1);
        api_refuse(q, MHD_HTTP_UNAUTHORIZED,
                   bad ? "Authorization must be Bearer <key>"
                       : "an API key is needed: Authorization: Bearer <key>");
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    api_client_t who;
    api_keys_client(keys, ci ? ci->client_addr : NULL,
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"), &who);
    unsigned wait = api_keys_limited(keys, &who);
    if (wait) {
        URSA_COUNT(auth_limited, 1);
        q->refused.retry_after = wait;
        api_refuse(q, MHD_HTTP_TOO_MANY_REQUESTS,
                   "too many API keys that were not valid came from this address: try again later");
        return;
    }
    if (n <= API_KEY_SECRET_MAX) api_keys_hash(key, n, q->caller.hash);
    unsigned scopes = r->auth == AUTH_METRICS ? API_SCOPE_METRICS | API_SCOPE_ADMIN : r->auth;
    char name[API_KEY_NAME_MAX + 1];
    int rc =
        n <= API_KEY_SECRET_MAX ? api_keys_allow(keys, q->caller.hash, scopes, q->name, name) : URSA_EKEY;
    if (rc == URSA_EKEY) {
        URSA_COUNT(auth_invalid, 1);
        api_keys_failed(keys, &who);
        ursa_warn("request %s from %s: an API key that is not valid", q->request_id, who.text);
        api_refuse(q, MHD_HTTP_UNAUTHORIZED, "the API key is not valid");
        return;
    }
    if (rc == URSA_EDENIED) {
        URSA_COUNT(auth_denied, 1);
        char msg[sizeof(q->refused.msg)];
        denied_msg(msg, sizeof(msg), name, r, q->name);
        ursa_info("request %s from %s: %s", q->request_id, who.text, msg);
        api_refuse(q, MHD_HTTP_FORBIDDEN, msg);
        return;
    }
    q->caller.keys = keys;
    snprintf(q->caller.forward, sizeof(q->caller.forward), "Authorization: Bearer %.*s", (int)n, key);
}

/* First call: route and refuse early. A refusal is noted in q->refused
 * (see api_refuse). */
static enum MHD_Result start(ursa_server_t *srv, struct MHD_Connection *c, api_req_t *q, const char *url,
                             const char *method)
{
    bool bad_name;
    const char *framing = framing_error(c);
    if (framing) return api_refuse(q, MHD_HTTP_BAD_REQUEST, framing);
    enum path p = path_of(url, q->name, &bad_name);
    if (p == P_NONE) return api_refuse(q, MHD_HTTP_NOT_FOUND, "no such endpoint");
    q->route = route_of(p, method);
    if (!q->route) {
        allowed_methods(p, q->refused.allow, sizeof(q->refused.allow));
        return api_refuse(q, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    }
    if (bad_name)
        return api_refuse(q, MHD_HTTP_BAD_REQUEST,
                          "dataset names must match [a-z][a-z0-9_]* (at most 128 bytes)");
    /* before the dataset is looked up: a key without the scope does not
     * learn whether it exists */
    if (srv->api.o.keys) {
        authenticate(srv, c, q);
        if (q->refused.status) return MHD_YES;
    }
    if (q->route->dataset) {
        q->ds = ursa_catalog_find(srv->api.cat, q->name);
        if (!q->ds) {
            char msg[URSA_NAME_MAX + 32];
            snprintf(msg, sizeof(msg), "no such dataset: %s", q->name);
            return api_refuse(q, MHD_HTTP_NOT_FOUND, msg);
        }
    }
    return q->route->start ? q->route->start(&srv->api, c, q) : MHD_YES;
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
static bool too_slow(const ursa_server_t *srv, const api_req_t *q)
{
    if (!srv->api.o.min_body_rate) return false;
    int64_t us = mono_us() - q->began_mono_us;
    if (us <= (int64_t)srv->api.o.idle_timeout_s * 1000000) return false;
    return (double)q->received < (double)srv->api.o.min_body_rate * ((double)us / 1e6);
}

/* A client's X-Request-Id is kept when it is 1 to 128 printable ASCII
 * characters without spaces, quotes or backslashes (so it can go into
 * logs, JSON and headers as it is); otherwise the node makes one. */
static bool request_id_sane(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] <= ' ' || s[n] > '~' || s[n] == '"' || s[n] == '\'' || s[n] == '\\') return false;
    return n >= 1 && n <= API_REQUEST_ID_MAX;
}

static void set_request_id(ursa_server_t *srv, struct MHD_Connection *c, api_req_t *q)
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
    api_req_t *q = *con_cls;
    if (!q) {
        q = ursa_calloc(1, sizeof(*q));
        if (!q) return MHD_NO;
        *con_cls = q;
        atomic_fetch_add(&srv->inflight, 1);
        set_request_id(srv, c, q);
        q->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        q->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
        api_set_request_id(q->request_id);
        if (atomic_load(&srv->stopping)) {
            /* A new request on a kept-alive connection after shutdown began:
             * refuse it at once, so nothing gets suspended on the WAL while
             * the daemon stops. */
            q->started = false;
            return api_send_retry(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down", 1);
        }
        enum MHD_Result ret = start(srv, c, q, url, method);
        bool answered = false;
        if (q->refused.status) {
            answered = !drain_first(c);
            if (answered) ret = api_send_refusal(c, &q->refused);
        }
        q->started = !answered;
        return ret;
    }
    api_set_request_id(q->request_id);
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
                      q->request_id, (unsigned long long)srv->api.o.min_body_rate, q->received,
                      (double)(mono_us() - q->began_mono_us) / 1e6);
            URSA_COUNT(slow_bodies_cut, 1);
            return MHD_NO;
        }
        if (q->too_large) return MHD_YES;
        if (q->route->body) return q->route->body(&srv->api, q, data, n);
        if (q->route->body_max) {
            if (q->received > q->route->body_max)
                q->too_large = true;
            else if (ursa_buf_append(&q->body, data, n))
                q->body_rc = URSA_ENOMEM;
        }
        return MHD_YES;
    }
    if (q->refused.status) return api_send_refusal(c, &q->refused);
    return q->route->finish(&srv->api, c, q);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    ursa_server_t *srv = cls;
    api_req_t *q = *con_cls;
    if (!q) return;
    atomic_fetch_sub(&srv->inflight, 1);
    if (q->route && q->route->done) q->route->done(&srv->api, q);
    OPENSSL_cleanse(q->caller.forward, sizeof(q->caller.forward));
    ursa_buf_free(&q->body);
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

/* A PEM file, whole and NUL-terminated, for libmicrohttpd's GnuTLS. */
static int read_pem(const char *path, const char *what, ursa_buf_t *b, ursa_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ursa_err_set(err, URSA_EIO, "%s %s: %s", what, path, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = URSA_OK;
    while (rc == URSA_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) rc = ursa_buf_append(b, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (rc == URSA_OK) rc = ursa_buf_push(b, '\0');
    if (rc == URSA_OK && (bad || !strstr((const char *)b->data, "-----BEGIN ")))
        rc = ursa_err_set(err, URSA_EINVAL, "%s %s: not a PEM file", what, path);
    return rc;
}

/* TLS 1.2 and 1.3 only (GnuTLS priority string). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

int ursa_server_start(ursa_server_t **out, ursa_catalog_t *cat, const ursa_server_opts_t *o, ursa_err_t *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = parse_listen(o->listen, &ss, &sslen, err);
    if (rc) return rc;
    ursa_server_t *s = ursa_calloc(1, sizeof(*s));
    if (!s) return URSA_ENOMEM;
    s->api.cat = cat;
    s->api.o = *o;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(s->id_prefix, sizeof(s->id_prefix), "%.64s-%llx", cat->node,
             (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000);
    atomic_init(&s->next_id, 1);
    if (!s->api.o.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->api.o.threads = n > 0 ? (unsigned)n : 1;
    }
    if (!s->api.o.max_connections) s->api.o.max_connections = 1024;
    if (!s->api.o.idle_timeout_s) s->api.o.idle_timeout_s = 30;
    /* poll, not epoll: see http_server.h */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE;
    struct MHD_OptionItem tls[4] = {{MHD_OPTION_END, 0, NULL}};
    ursa_buf_t cert = {0}, key = {0};
    if (o->tls_cert || o->tls_key) {
        int trc = !o->tls_cert || !o->tls_key
                      ? ursa_err_set(err, URSA_EINVAL, "TLS needs both --tls-cert and --tls-key")
                      : read_pem(o->tls_cert, "--tls-cert", &cert, err);
        if (trc == URSA_OK) trc = read_pem(o->tls_key, "--tls-key", &key, err);
        if (trc == URSA_OK && !MHD_is_feature_supported(MHD_FEATURE_TLS))
            trc = ursa_err_set(err, URSA_ENOTSUP, "this libmicrohttpd has no TLS");
        if (trc) {
            ursa_buf_free(&cert);
            ursa_buf_free(&key);
            ursa_free(s);
            return trc;
        }
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert.data};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key.data};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES};
    }
    int lrc = api_live_start(&s->api.live, &s->api, err);
    if (lrc) {
        ursa_buf_free(&cert);
        ursa_buf_free(&key);
        ursa_free(s);
        return lrc;
    }
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, s->api.o.threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256u << 10), MHD_OPTION_CONNECTION_TIMEOUT,
        s->api.o.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, s->api.o.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->api.o.max_connections_per_client, MHD_OPTION_NOTIFY_COMPLETED,
        completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    /* libmicrohttpd has parsed the certificate and key by now */
    ursa_buf_free(&cert);
    ursa_buf_free(&key);
    if (!s->mhd) {
        api_live_stop(&s->api.live);
        ursa_free(s);
        if (o->tls_cert)
            return ursa_err_set(err, URSA_EIO,
                                "cannot listen on %s (address in use? or the TLS certificate and key do not "
                                "load or match)",
                                o->listen);
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
    api_live_stop(&s->api.live); /* live connections are told (1001), not waited for */
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
