/*
 * api_keys.h -- API keys: the keys file, what a key may do, and the bound
 * on failed attempts per client address (docs/internals/auth.md).
 *
 * The HTTP layer turns "Authorization: Bearer <key>" (or a WebSocket's
 * "ursa.bearer.<key>" subprotocol) into the key's SHA-256 once per request
 * (api_keys_hash) and asks api_keys_allow whether that key may do what the
 * route needs. Nothing here keeps or prints a key: the file holds hashes,
 * and errors name keys by their names.
 */
#ifndef URSA_API_KEYS_H
#define URSA_API_KEYS_H

#include "common.h"

#include <sys/socket.h>

#define API_KEY_NAME_MAX   64
#define API_KEY_PREFIX     "ursa_"
#define API_KEY_LEN        (5 + 43) /* "ursa_" and 32 random bytes in base64url */
#define API_KEY_SECRET_MAX 256      /* longer presented keys are refused without hashing */

/* Scopes, as bits: what a route accepts is a set of them. */
enum {
    API_SCOPE_INGEST = 1,  /* ingest:<pattern>: POST records */
    API_SCOPE_QUERY = 2,   /* query:<pattern>: SQL, live queries, quarantine, metadata */
    API_SCOPE_ADMIN = 4,   /* admin: schemas, flush, compaction; metadata of every dataset */
    API_SCOPE_METRICS = 8, /* metrics: GET /metrics when it is keyed */
};
/* Reading a dataset's schema, files and snapshots (and seeing it listed):
 * any scope on it, or admin. */
#define API_SCOPE_READ (API_SCOPE_INGEST | API_SCOPE_QUERY | API_SCOPE_ADMIN)

typedef struct api_keys api_keys_t;

typedef struct api_keys_opts {
    const char *path;    /* the keys file */
    unsigned fail_limit; /* failed attempts a minute per client address; 0: no bound */
    /* gateways whose X-Forwarded-For names the client: "10.0.0.0/8,::1";
     * NULL: none */
    const char *trust_proxy;
} api_keys_opts_t;

/* Loads the keys file. Errors name the file and the line. */
int api_keys_open(api_keys_t **out, const api_keys_opts_t *o, ursa_err_t *err) URSA_MUST_CHECK;

/* Reads the file again (SIGHUP). On an error the keys loaded before stay. */
int api_keys_reload(api_keys_t *k, size_t *count, ursa_err_t *err) URSA_MUST_CHECK;

size_t api_keys_count(api_keys_t *k);

void api_keys_close(api_keys_t **k);

/* The SHA-256 of a presented key. */
void api_keys_hash(const char *key, size_t n, uint8_t out[32]);

/* Whether the key whose hash is given may act with one of the scopes in
 * `scopes` (bits) on dataset (NULL: none needed; admin and metrics need
 * none). scopes 0: any key that is valid. URSA_OK; URSA_EKEY when no key
 * has this hash; URSA_EDENIED when it lacks the scope. name, when given,
 * gets the key's name (API_KEY_NAME_MAX + 1 bytes). The hash is compared
 * with every key's in constant time. */
int api_keys_allow(api_keys_t *k, const uint8_t hash[32], unsigned scopes, const char *dataset, char *name);

/* The failure bound. The client is the peer address, or the last
 * X-Forwarded-For entry (xff, may be NULL) when the peer is a trusted
 * gateway. api_keys_limited: 0, or the seconds until the client may try
 * again. api_keys_failed: notes a failed attempt. */
typedef struct api_client {
    uint8_t a[16]; /* IPv4 as ::ffff:a.b.c.d */
    char text[48];
} api_client_t;
void api_keys_client(api_keys_t *k, const struct sockaddr *peer, const char *xff, api_client_t *out);
unsigned api_keys_limited(api_keys_t *k, const api_client_t *c);
void api_keys_failed(api_keys_t *k, const api_client_t *c);

/* `ursa keys add|remove|list ...` */
int ursa_cmd_keys(int argc, char **argv);

#endif
