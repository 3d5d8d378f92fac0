/*
 * api_live.h -- GET /v1/live: live queries over a WebSocket. A client
 * subscribes with SQL and the node pushes each new result (api_live.c;
 * the protocol: docs/internals/live.md).
 */
#ifndef URSA_API_LIVE_H
#define URSA_API_LIVE_H

#include "api.h"

/* Starts the live hub's threads (one for the sockets, one for the
 * queries). a must outlive it. */
int api_live_start(api_live_t **h, api_ctx_t *a, ursa_err_t *err) URSA_MUST_CHECK;

/* Closes every live connection (1001), waits briefly for the closes to be
 * written, and frees the hub. Before the daemon stops. */
void api_live_stop(api_live_t **h);

/* Live connections and subscriptions now, for /metrics. */
void api_live_counts(api_live_t *h, unsigned *conns, unsigned *subs);

/* GET /v1/live: checks the WebSocket handshake and answers 101. */
enum MHD_Result api_live_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
