/*
 * api_records.h -- POST /v1/datasets/D/records: ingest (see api_records.c).
 */
#ifndef URSA_API_RECORDS_H
#define URSA_API_RECORDS_H

#include "api.h"

/* First call: checks the body's format, encoding, mode and size, the
 * budgets and the Idempotency-Key, and sets up the scanner in q->state. A
 * refusal is noted in q->refused (api_refuse). */
enum MHD_Result api_records_start(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* A piece of the body: digested, then fed to the scanner. */
enum MHD_Result api_records_body(api_ctx_t *a, api_req_t *q, const char *data, size_t n);

/* Last call: stores the rows and queues the answer, or suspends the
 * connection until the WAL has them (then it is called again). */
enum MHD_Result api_records_finish(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* The request is over: frees q->state, releases what it held. */
void api_records_done(api_ctx_t *a, api_req_t *q);

#endif
