/*
 * api_cluster.h -- the cluster as this node sees it: GET /v1/nodes (see
 * api_cluster.c).
 */
#ifndef URSA_API_CLUSTER_H
#define URSA_API_CLUSTER_H

#include "api.h"

/* GET /v1/nodes: {"self": "<node>", "nodes": [{"node", "address",
 * "age_ms", "stale", "self", "version", "started_ms", "heartbeat_ms",
 * "pid"}]}, every node with a heartbeat in the store (this one always),
 * in name order; 503 when the store cannot be listed. */
enum MHD_Result api_cluster_nodes(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
