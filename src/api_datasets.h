/*
 * api_datasets.h -- the datasets: PUT and GET /v1/datasets/D, GET
 * /v1/datasets, POST /v1/datasets/D/flush (see api_datasets.c).
 */
#ifndef URSA_API_DATASETS_H
#define URSA_API_DATASETS_H

#include "api.h"

/* A schema document (the body of a PUT) is taken whole, up to this. */
#define API_SCHEMA_BODY_MAX (1u << 20)

/* PUT /v1/datasets/D: creates the dataset from the schema document in
 * q->body (201), or finds it already there with the same schema (200). */
enum MHD_Result api_datasets_put(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* GET /v1/datasets/D: the dataset q->ds, its schema and buffer. */
enum MHD_Result api_datasets_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* GET /v1/datasets: every dataset (quarantines have their own route). */
enum MHD_Result api_datasets_list(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* POST /v1/datasets/D/flush: the dataset, then its quarantine. */
enum MHD_Result api_datasets_flush(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
