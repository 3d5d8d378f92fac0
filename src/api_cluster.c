/*
 * api_cluster.c -- the cluster as this node sees it: the heartbeats in the
 * store (peers.c), each with its age and whether it is stale.
 *
 * This node is always listed: from its heartbeat object when the store has
 * it, else from what it knows of itself, aged from its last heartbeat
 * written (or its start), so that a node whose heartbeats fail shows
 * itself as the others see it: stale, or missing.
 */
#include "api_cluster.h"

#include "peers.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int node_json(ursa_buf_t *b, const ursa_peer_t *p, bool self, bool first)
{
    int rc = ursa_buf_printf(b, "%s{\"node\":", first ? "" : ",");
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, p->node, strlen(p->node));
    if (rc == URSA_OK) rc = ursa_buf_printf(b, ",\"address\":");
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, p->address, strlen(p->address));
    if (rc == URSA_OK)
        rc =
            ursa_buf_printf(b, ",\"age_ms\":%lld,\"stale\":%s,\"self\":%s,\"version\":", (long long)p->age_ms,
                            p->stale ? "true" : "false", self ? "true" : "false");
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, p->version, strlen(p->version));
    if (rc == URSA_OK)
        rc = ursa_buf_printf(b, ",\"started_ms\":%lld,\"heartbeat_ms\":%lld,\"pid\":%lld}",
                             (long long)p->started_ms, (long long)p->heartbeat_ms, (long long)p->pid);
    return rc;
}

/* This node as it knows itself, when the store has no heartbeat of it. */
static void self_entry(ursa_peers_t *peers, const char *node, int64_t now, int64_t stale_ms, ursa_peer_t *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->node, sizeof(p->node), "%s", node);
    snprintf(p->version, sizeof(p->version), "%s", URSA_VERSION);
    p->pid = (int64_t)getpid();
    if (!peers) return;
    ursa_peers_address(peers, p->address);
    p->started_ms = ursa_peers_started_ms(peers);
    p->interval_ms = ursa_peers_interval_ms(peers);
    int64_t last = 0;
    ursa_peers_written(peers, &last);
    p->heartbeat_ms = last ? last : p->started_ms;
    p->age_ms = now > p->heartbeat_ms ? now - p->heartbeat_ms : 0;
    p->stale = p->age_ms > stale_ms;
}

enum MHD_Result api_cluster_nodes(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    ursa_peers_t *peers = a->o.peers;
    const char *self = a->cat->node;
    int64_t stale_ms =
        peers ? ursa_peers_stale_ms(peers) : URSA_PEERS_STALE_FACTOR * URSA_PEERS_INTERVAL_DEFAULT_MS;
    int64_t now = ursa_peers_wall_ms();
    ursa_peer_list_t list = {0};
    ursa_err_t err = {0};
    int rc = ursa_peers_list(a->cat->store, NULL, now, stale_ms, &list, &err);
    if (rc && rc != URSA_ENOMEM) {
        ursa_peer_list_free(&list);
        char msg[400];
        snprintf(msg, sizeof(msg), "listing the nodes in the store failed: %s", err.msg);
        return api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    ursa_buf_t b = {0};
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, "{\"self\":");
    if (rc == URSA_OK) rc = ursa_buf_json_str(&b, self, strlen(self));
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, ",\"nodes\":[");
    bool listed = false, first = true;
    for (size_t i = 0; i <= list.n && rc == URSA_OK; i++) {
        /* This node, when the store did not have it, in its name's place. */
        ursa_peer_t me;
        bool mine = i < list.n && strcmp(list.v[i].node, self) == 0;
        if (!listed && !mine && (i == list.n || strcmp(list.v[i].node, self) > 0)) {
            self_entry(peers, self, now, stale_ms, &me);
            rc = node_json(&b, &me, true, first);
            first = false;
            listed = true;
        }
        if (i == list.n || rc) break;
        listed |= mine;
        rc = node_json(&b, &list.v[i], mine, first);
        first = false;
    }
    if (rc == URSA_OK) rc = ursa_buf_printf(&b, "]}");
    ursa_peer_list_free(&list);
    return api_send_built(c, rc, &b);
}
