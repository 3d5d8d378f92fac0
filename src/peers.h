/*
 * peers.h -- how the nodes sharing a store find each other (heartbeat
 * objects in the store) and how one node calls all the others at once
 * (HTTP POSTs in parallel, with a deadline). See peers.c for the design,
 * docs/internals/peers.md for the whole story.
 *
 *   ursa_peers_opts_t o = {.node = "n1", .interval_ms = 2000};
 *   ursa_peers_new(&p, store, &o, &err);
 *   ursa_peers_start(p, "10.0.0.5:8000");   // heartbeats from a thread of their own
 *   ursa_peers_list(store, "n1", now_ms, ursa_peers_stale_ms(p), &list, &err);
 *   ursa_peers_call(&request, calls, n, &err);
 *   ursa_peers_stop(p, true);               // stops the thread, deletes the heartbeat
 *   ursa_peers_destroy(&p);
 */
#ifndef URSA_PEERS_H
#define URSA_PEERS_H

#include "store.h"

/* Heartbeat objects are "<prefix><node>.json". */
#define URSA_PEERS_PREFIX "_ursa/nodes/"
/* --heartbeat's default. */
#define URSA_PEERS_INTERVAL_DEFAULT_MS 2000
/* A peer is stale when its heartbeat is older than this many of its intervals. */
#define URSA_PEERS_STALE_FACTOR 5
/* Longest node name (main.c checks 1-64 of [A-Za-z0-9._-]) and address. */
#define URSA_PEERS_NODE_MAX    64
#define URSA_PEERS_ADDRESS_MAX 255
/* Largest heartbeat object read: anything bigger is malformed. */
#define URSA_PEERS_OBJECT_MAX 4096

/* ---------------------------------------------------------------------------
 * Heartbeats
 * ------------------------------------------------------------------------- */

typedef struct ursa_peers ursa_peers_t;

typedef struct ursa_peers_opts {
    const char *node;    /* this node's name (copied) */
    int64_t interval_ms; /* between heartbeats; 0: URSA_PEERS_INTERVAL_DEFAULT_MS */
    /* the nodes serve HTTPS (one setting for a cluster): calls to them
     * verify their certificates against ca_file (NULL: the system's CAs) */
    bool https;
    const char *ca_file; /* copied */
} ursa_peers_opts_t;

/* Makes this node's heartbeat handle (nothing written yet). The store must
 * outlive it. URSA_EINVAL for a bad node name or interval. */
int ursa_peers_new(ursa_peers_t **out, ursa_store_t *st, const ursa_peers_opts_t *o,
                   ursa_err_t *err) URSA_MUST_CHECK;

/* Starts the heartbeat thread: it writes URSA_PEERS_PREFIX<node>.json at
 * once and then every interval. address ("host:port", copied) is where the
 * others reach this node (ursa_advertise_address). Never waits on the
 * store: a failed write is logged (at most once a minute while failures
 * last) and tried again at the next tick. URSA_EINVAL for a bad address,
 * URSA_ENOMEM when the thread cannot start; once started, a second call is
 * URSA_EINVAL. */
int ursa_peers_start(ursa_peers_t *p, const char *address, ursa_err_t *err) URSA_MUST_CHECK;

/* Stops the thread (waiting for a write in progress) and, when remove is
 * true, deletes the heartbeat object: the clean goodbye. Without remove
 * the object stays and turns stale, as a killed node's. Idempotent. */
void ursa_peers_stop(ursa_peers_t *p, bool remove);

/* Stops (without removing) and frees; sets *p to NULL. */
void ursa_peers_destroy(ursa_peers_t **p);

/* The handle's settings, for GET /v1/nodes: the node, the address given
 * to start ("" before), the wall-clock time the handle was made and the
 * interval. address is copied into a buffer of URSA_PEERS_ADDRESS_MAX + 1. */
const char *ursa_peers_node(const ursa_peers_t *p);
void ursa_peers_address(ursa_peers_t *p, char *address);
int64_t ursa_peers_started_ms(const ursa_peers_t *p);
int64_t ursa_peers_interval_ms(const ursa_peers_t *p);
/* URSA_PEERS_STALE_FACTOR x the interval. */
int64_t ursa_peers_stale_ms(const ursa_peers_t *p);
/* Heartbeats written so far, and the wall-clock time of the last one
 * written (0: none yet). For tests and the route. */
uint64_t ursa_peers_written(ursa_peers_t *p, int64_t *last_ms);

/* Wall-clock milliseconds since the epoch (heartbeat times are wall clock:
 * they are compared across machines). */
int64_t ursa_peers_wall_ms(void);

/* ---------------------------------------------------------------------------
 * The cluster as the store shows it
 * ------------------------------------------------------------------------- */

typedef struct ursa_peer {
    char node[URSA_PEERS_NODE_MAX + 1];
    char address[URSA_PEERS_ADDRESS_MAX + 1]; /* "host:port" */
    char version[32];
    int64_t pid;
    int64_t started_ms;   /* wall clock, when the node started */
    int64_t heartbeat_ms; /* wall clock of its last heartbeat */
    int64_t interval_ms;  /* its own heartbeat interval (0: not said) */
    int64_t age_ms;       /* now_ms - heartbeat_ms, at least 0 (clocks differ) */
    bool stale;           /* see ursa_peers_list */
} ursa_peer_t;

typedef struct ursa_peer_list {
    ursa_peer_t *v; /* ursa_malloc'd; ursa_peer_list_free */
    size_t n;
} ursa_peer_list_t;

/* Every heartbeat object in the store but self_node's (NULL: every one),
 * in node-name order, into *out (the caller's; free with
 * ursa_peer_list_free, also after a failure). A peer is stale when its
 * heartbeat is older than stale_ms or, when it is larger, than
 * URSA_PEERS_STALE_FACTOR of the peer's own interval: it died without a
 * clean stop, or cannot write to the store. now_ms is the wall clock
 * (ursa_peers_wall_ms(); tests pass another). A malformed object is
 * skipped with a log line; an object gone between the listing and its
 * read is skipped. Returns the store's error when the listing fails, or a
 * read fails otherwise than "not found". */
int ursa_peers_list(ursa_store_t *st, const char *self_node, int64_t now_ms, int64_t stale_ms,
                    ursa_peer_list_t *out, ursa_err_t *err) URSA_MUST_CHECK;
void ursa_peer_list_free(ursa_peer_list_t *l);

/* Parses one heartbeat object (for key node, which the object must name)
 * into *peer, without age and staleness. URSA_EFORMAT (err says why) when
 * it is not one. */
int ursa_peers_parse(const char *node, const void *data, size_t n, ursa_peer_t *peer,
                     ursa_err_t *err) URSA_MUST_CHECK;

/* Whether s is a usable "host:port": a host name, IPv4 address or
 * bracketed IPv6 address, and a port 1-65535; at most
 * URSA_PEERS_ADDRESS_MAX bytes, nothing that would change a URL's meaning. */
bool ursa_peers_address_valid(const char *s);

/* Whether the nodes are called over HTTPS, and the CA file to check
 * their certificates with (NULL: the system's), as opts said. */
bool ursa_peers_https(const ursa_peers_t *p, const char **ca_file);

/* ---------------------------------------------------------------------------
 * Calling peers
 * ------------------------------------------------------------------------- */

/* Polled at least every 100 ms while calls run: true stops them all. */
typedef bool (*ursa_peers_cancel_cb)(void *ctx);

/* One POST sent to several peers. */
typedef struct ursa_peers_request {
    const char *path;         /* "/v1/..." (with any query string) */
    const char *content_type; /* of body; NULL: none sent */
    const void *body;
    size_t body_len;
    const char *const *headers; /* extra header lines, "Name: value" */
    size_t nheaders;
    int64_t timeout_ms;          /* for all the calls together, connecting included */
    size_t max_response;         /* bytes of one answer's body; past them that call fails */
    ursa_peers_cancel_cb cancel; /* NULL: never */
    void *cancel_ctx;
    bool https;          /* https://, the certificate checked (ursa_peers_https) */
    const char *ca_file; /* with https: the CAs to check it against; NULL: the system's */
} ursa_peers_request_t;

/* One peer's call: the caller fills node and address (not copied; they
 * must outlive the call), ursa_peers_call the rest. */
typedef struct ursa_peer_call {
    const char *node;       /* for messages; may be NULL */
    const char *address;    /* "host:port" */
    long status;            /* the HTTP status; 0 when there was no answer */
    ursa_buf_t body;        /* the answer's body, at most max_response bytes */
    char content_type[128]; /* of the answer ("" when none) */
    char error[256];        /* why there is no answer; "" when status is set */
} ursa_peer_call_t;

/* POSTs rq's body to rq->path on every calls[i].address at once (HTTP/1.1,
 * one connection each, no proxy), and waits until every call has its
 * answer, the timeout passes, or rq->cancel says stop; it never waits past
 * the timeout (give or take 100 ms). Each call gets its status, body and
 * Content-Type, or an error: refused, timed out, answer too large,
 * canceled. Returns URSA_OK when every call got an HTTP answer (whatever
 * its status: the caller judges), URSA_ECANCELED when canceled, URSA_EIO
 * when some call got none (err names the first and counts them),
 * URSA_EINVAL for a bad request or address, URSA_ENOMEM. Free the answers
 * with ursa_peer_calls_free, whatever it returned. */
int ursa_peers_call(const ursa_peers_request_t *rq, ursa_peer_call_t *calls, size_t n,
                    ursa_err_t *err) URSA_MUST_CHECK;
void ursa_peer_calls_free(ursa_peer_call_t *calls, size_t n);

#endif
