/*
 * api_query.h -- the query route: POST and GET /v1/query (api_query.c).
 */
#ifndef URSA_API_QUERY_H
#define URSA_API_QUERY_H

#include "api.h"

#define API_QUERY_BODY_MAX ((size_t)1 << 20)

enum MHD_Result api_query_post(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);
enum MHD_Result api_query_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);
/* POST /v1/internal/scan: this node's buffered rows for a query another node answers. */
enum MHD_Result api_query_scan(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
