/*
 * api_node.c -- the node's own endpoints, for load balancers and
 * monitoring: GET /healthz and GET /metrics (the counters of metrics.c,
 * the budgets, the buffers of every dataset read from the catalog).
 */
#include "api_node.h"

#include "api_live.h"
#include "metrics.h"

enum MHD_Result api_node_health(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    return api_send_json(c, MHD_HTTP_OK, "{\"status\":\"ok\"}");
}

/* GET /metrics: the counters, then per-dataset buffer gauges. */
enum MHD_Result api_node_metrics(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    ursa_buf_t b = {0};
    ursa_dataset_t **all = NULL;
    size_t n = 0;
    int rc = ursa_metrics_render(&b);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b,
                             "# HELP ursa_memory_limit_bytes The memory budget (--memory-limit).\n"
                             "# TYPE ursa_memory_limit_bytes gauge\nursa_memory_limit_bytes %llu\n"
                             "# HELP ursa_connections_max Connections served at once (--max-connections).\n"
                             "# TYPE ursa_connections_max gauge\nursa_connections_max %u\n",
                             (unsigned long long)a->o.memory_limit, a->o.max_connections);
    unsigned live_conns, live_subs;
    api_live_counts(a->live, &live_conns, &live_subs);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b,
                             "# HELP ursa_live_connections Open live-query WebSocket connections.\n"
                             "# TYPE ursa_live_connections gauge\nursa_live_connections %u\n"
                             "# HELP ursa_live_subscriptions Live queries subscribed.\n"
                             "# TYPE ursa_live_subscriptions gauge\nursa_live_subscriptions %u\n",
                             live_conns, live_subs);
    if (rc == URSA_OK) rc = ursa_catalog_list(a->cat, &all, &n);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b, "# HELP ursa_buffered_rows Rows buffered, not yet flushed.\n"
                                 "# TYPE ursa_buffered_rows gauge\n");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        uint64_t rows, bytes;
        if (all[i]->parent) continue; /* counted with its dataset below */
        ursa_dataset_stats(all[i], &rows, &bytes);
        rc = ursa_buf_printf(&b, "ursa_buffered_rows{dataset=\"%s\"} %llu\n", all[i]->name,
                             (unsigned long long)rows);
    }
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b,
                             "# HELP ursa_quarantine_buffered_rows Refused rows buffered, not yet flushed.\n"
                             "# TYPE ursa_quarantine_buffered_rows gauge\n");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        uint64_t rows, bytes;
        if (!all[i]->parent) continue;
        ursa_dataset_stats(all[i], &rows, &bytes);
        rc = ursa_buf_printf(&b, "ursa_quarantine_buffered_rows{dataset=\"%s\"} %llu\n", all[i]->parent->name,
                             (unsigned long long)rows);
    }
    if (rc == URSA_OK)
        rc = ursa_buf_printf(&b, "# HELP ursa_buffered_bytes Memory held by buffered rows.\n"
                                 "# TYPE ursa_buffered_bytes gauge\n");
    for (size_t i = 0; i < n && rc == URSA_OK; i++) {
        uint64_t rows, bytes;
        if (all[i]->parent) continue;
        ursa_dataset_stats(all[i], &rows, &bytes);
        rc = ursa_buf_printf(&b, "ursa_buffered_bytes{dataset=\"%s\"} %llu\n", all[i]->name,
                             (unsigned long long)bytes);
    }
    ursa_free(all);
    enum MHD_Result ret = MHD_NO;
    if (rc == URSA_OK) {
        struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
            ret = api_queue(c, MHD_HTTP_OK, r);
            MHD_destroy_response(r);
        }
    } else {
        ret = api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    }
    ursa_buf_free(&b);
    return ret;
}
