/*
 * api_tables.h -- a dataset's Iceberg table over HTTP: GET
 * /v1/datasets/D/files and /v1/datasets/D/snapshots, POST
 * /v1/datasets/D/compact (see api_tables.c).
 */
#ifndef URSA_API_TABLES_H
#define URSA_API_TABLES_H

#include "api.h"

/* GET /v1/datasets/D/files: the live files of the table's current snapshot
 * (paths, days, rows, bytes), so that a list-of-files reader
 * (read_parquet([...]), scan_parquet([...])) reads exactly the table. */
enum MHD_Result api_tables_files(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* GET /v1/datasets/D/snapshots: the table's snapshots, oldest first. */
enum MHD_Result api_tables_snapshots(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

/* POST /v1/datasets/D/compact[?date=YYYY-MM-DD]: compacts the day (without
 * date: every day not compacted yet) now and answers what it did
 * (ursa_compactor_run's document). */
enum MHD_Result api_tables_compact(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
