/*
 * api_quarantine.h -- GET /v1/datasets/D/quarantine (see api_quarantine.c).
 */
#ifndef URSA_API_QUARANTINE_H
#define URSA_API_QUARANTINE_H

#include "api.h"

/* GET /v1/datasets/D/quarantine[?limit=N]: the newest refused rows of
 * dataset q->ds still buffered, then its published quarantine files with
 * their row counts. */
enum MHD_Result api_quarantine_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
