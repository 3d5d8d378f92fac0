/*
 * http_server.h -- the REST API on libmicrohttpd.
 *
 * One daemon with a pool of one thread per core (poll(2): libmicrohttpd
 * 0.9.75's edge-triggered epoll loop misses the end of a connection whose
 * partial request and FIN arrive together, and keeps it until its timeout).
 * Request bodies are streamed: each piece libmicrohttpd hands over is fed to
 * the scanner at once, so a body is never held whole in memory. This is
 * the daemon; the routes are the api_* modules (api.h).
 *
 * Connection limits (docs/user-guide.md, "Limits"): at most max_connections
 * open at once and max_connections_per_client from one address (past it a
 * new connection is closed as soon as it is accepted, so one address cannot
 * take the slots of the others); a connection idle for idle_timeout_s is
 * closed; a request body that arrives slower than min_body_rate bytes per
 * second, averaged once it has taken longer than idle_timeout_s, is cut.
 */
#ifndef URSA_HTTP_SERVER_H
#define URSA_HTTP_SERVER_H

#include "catalog.h"

typedef struct ursa_server ursa_server_t;

typedef struct ursa_server_opts {
    const char *listen;    /* "HOST:PORT"; port 0 picks a free port */
    unsigned threads;      /* 0: one per online core */
    size_t max_body;       /* bytes per request body */
    size_t max_record;     /* bytes per NDJSON record */
    uint64_t memory_limit; /* past this (bytes allocated), ingest answers 429 / 503 */
    uint64_t wal_limit;    /* past this (bytes of WAL on disk), ingest answers 429 / 503 */
    /* a big request's rows go to the log in parts of this size while it is parsed; 0: one record */
    uint64_t wal_part_bytes;
    unsigned max_connections;            /* open connections at once; 0: the default (1024) */
    unsigned max_connections_per_client; /* ... from one client address; 0: no limit */
    unsigned idle_timeout_s;             /* close a connection silent this long; 0: the default (30) */
    uint64_t min_body_rate;              /* bytes/s a body must average past idle_timeout_s; 0: off */
    struct ursa_compactor *compactor;    /* runs POST .../compact; NULL: the route answers 503 */
    uint64_t query_memory;    /* bytes one query may hold (and its result); 0: the default (1 GiB) */
    int64_t query_timeout_ms; /* a query's time limit; 0: the default (5 min) */
    struct ursa_peers *peers; /* this node's heartbeats, for GET /v1/nodes; may be NULL */
    /* live queries (GET /v1/live; docs/internals/live.md); 0: the defaults */
    double live_max_rate;                       /* results a second per subscription (4) */
    unsigned live_subscriptions;                /* on the server (64) */
    unsigned live_subscriptions_per_connection; /* on one connection (8) */
    size_t live_result_max;                     /* bytes of one result's JSON (1 MiB) */
    int64_t live_send_timeout_ms; /* a frame that makes no progress this long: close 1008 (10 s) */
    /* origins a browser page may open /v1/live from besides the node's own
     * ("https://a.example,https://b.example", or "*"); NULL: its own only */
    const char *live_origins;
    /* TLS: PEM certificate (chain) and key files; both or neither (plain HTTP) */
    const char *tls_cert, *tls_key;
    /* API keys (api_keys.h; docs/internals/auth.md): NULL, every request
     * is answered; else every route but /healthz and the pages needs a
     * key, and /metrics too when auth_metrics */
    struct api_keys *keys;
    bool auth_metrics;
} ursa_server_opts_t;

/* Starts serving. The catalog must outlive the server. */
int ursa_server_start(ursa_server_t **out, ursa_catalog_t *cat, const ursa_server_opts_t *o,
                      ursa_err_t *err) URSA_MUST_CHECK;

/* The port actually bound (useful with port 0). */
uint16_t ursa_server_port(const ursa_server_t *s);

/* Stops accepting connections, waits up to deadline_ms for requests in
 * flight, then stops the daemon and frees the server. */
void ursa_server_stop(ursa_server_t **s, unsigned deadline_ms);

#endif
