/*
 * http_server.h -- the REST API on libmicrohttpd.
 *
 * One daemon with a pool of one thread per core (epoll). Request bodies are
 * streamed: each piece libmicrohttpd hands over is fed to the scanner at
 * once, so a body is never held whole in memory.
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
