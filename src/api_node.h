/*
 * api_node.h -- the node's own endpoints: GET /healthz and GET /metrics
 * (see api_node.c).
 */
#ifndef URSA_API_NODE_H
#define URSA_API_NODE_H

#include "api.h"

/* GET /healthz: {"status":"ok"} while the node serves. */
enum MHD_Result api_node_health(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* GET /metrics: the counters, then per-dataset buffer gauges, in the
 * Prometheus text format. */
enum MHD_Result api_node_metrics(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
