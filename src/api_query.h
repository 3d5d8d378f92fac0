/*
 * api_query.h -- the query route: POST and GET /v1/query (api_query.c).
 */
#ifndef URSA_API_QUERY_H
#define URSA_API_QUERY_H

#include "api.h"
#include "query.h"
#include "query_out.h"

#define API_QUERY_BODY_MAX ((size_t)1 << 20)

enum MHD_Result api_query_post(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);
enum MHD_Result api_query_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);
/* POST /v1/internal/scan: this node's buffered rows for a query another node answers. */
enum MHD_Result api_query_scan(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* Runs sql and builds its whole result in fmt into out (URSA_ELIMIT, with
 * what_max naming the limit, once it passes max bytes). *rows_end is the
 * length of out before the result's end (JSON's "stats"): what changes only
 * with the columns and rows. */
int api_query_collect(const char *sql, const query_opts_t *qo, query_format_t fmt, size_t max,
                      const char *what_max, ursa_buf_t *out, size_t *rows_end, exec_stats_t *st,
                      ursa_err_t *err) URSA_MUST_CHECK;

/* The HTTP status of a failed query: 400 for the SQL, 404, 408 past the
 * time limit, 413 past the budgets, 503 for a node or the store out of
 * reach. */
unsigned api_query_status(int rc, const ursa_err_t *err);

#endif
