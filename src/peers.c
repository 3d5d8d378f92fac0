/*
 * peers.c -- heartbeats in the store, the cluster they show, and calls to
 * every peer at once.
 *
 * Design. The nodes behind one gateway share a store and nothing else: no
 * membership protocol, no configuration listing them. So the store is the
 * registry. Every node keeps one small object, _ursa/nodes/<node>.json:
 *
 *   {"node","address","pid","version","started_ms","heartbeat_ms","interval_ms"}
 *
 * written at start and then every interval (--heartbeat, default 2 s) by a
 * thread of its own, and deleted when the node stops cleanly. Any node
 * learns the cluster by listing _ursa/nodes/ and reading the objects: a
 * peer is where its address says, and alive as long as its heartbeat_ms is
 * recent. A node killed -9 (or cut off from the store) leaves its object
 * behind; it stops being refreshed and turns stale after
 * URSA_PEERS_STALE_FACTOR of its own interval (or the caller's stale_ms,
 * when larger). The object is the whole truth a node has about a peer:
 * nothing is cached, so a listing costs one LIST and one GET per node.
 *
 * Calls. ursa_peers_call POSTs one body to one path on many peers at once
 * with libcurl's multi interface: one easy handle (one connection) per
 * peer, driven from the calling thread, which wakes at least every 100 ms
 * to check the deadline and the caller's cancellation. Each answer is kept
 * up to a bound (past it the call fails); the caller gets every peer's
 * status, body and Content-Type, or why there is none, and judges them.
 *
 * Invariants.
 *   - A heartbeat object names the node of its key and a usable address;
 *     anything else under the prefix is skipped (logged), never fatal.
 *   - The heartbeat thread is the only writer of this node's object while
 *     it runs; ursa_peers_stop joins it before deleting, so a last write
 *     never brings a deleted object back.
 *   - ursa_peers_call never waits past its timeout (plus one poll, 100 ms),
 *     and every call ends with exactly one of: a status, an error.
 *
 * Failure cases.
 *   - A heartbeat write fails (store down): logged, once a minute while it
 *     lasts, retried at the next tick; the node serves on. Others see it
 *     turn stale, which is right: what it flushes cannot reach them either.
 *     A write to a store that hangs holds the thread (S3 retries up to its
 *     deadline), and so a stop, as long.
 *   - Clocks: ages compare the writer's wall clock with the reader's; a
 *     skew larger than the stale threshold makes a live peer look stale (or
 *     a dead one fresh for longer). Ages below zero count as zero.
 *   - Two processes with one node name overwrite one object (and each
 *     other's files): the start logs a fresh heartbeat of another pid.
 *   - A peer answers slowly, not at all, too much, or refuses: that call
 *     fails with a message, the others go on.
 */
#include "peers.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A failing heartbeat is logged at most this often. */
#define FAIL_LOG_EVERY_MS 60000
/* One malformed heartbeat object is logged at most this often. */
#define MALFORMED_LOG_EVERY_MS 30000
/* ursa_peers_call's longest sleep between checks of cancel and deadline. */
#define POLL_MS 100

struct ursa_peers {
    ursa_store_t *st;
    char node[URSA_PEERS_NODE_MAX + 1];
    char key[sizeof(URSA_PEERS_PREFIX) + URSA_PEERS_NODE_MAX + 8];
    int64_t interval_ms;
    bool https;
    char *ca_file;
    int64_t started_ms; /* wall clock */
    pthread_t thread;
    bool started; /* the thread runs (only the starting/stopping thread reads it) */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC: the thread's sleep */
    /* under mu */
    bool stop;
    char address[URSA_PEERS_ADDRESS_MAX + 1];
    uint64_t written;
    int64_t last_ms;
    /* the thread's own */
    uint64_t failures; /* in a row */
    int64_t fail_logged_ms;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ursa_peers_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool node_valid(const char *s, size_t n)
{
    if (n == 0 || n > URSA_PEERS_NODE_MAX || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool ursa_peers_https(const ursa_peers_t *p, const char **ca_file)
{
    *ca_file = p->ca_file;
    return p->https;
}

bool ursa_peers_address_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 3 || n > URSA_PEERS_ADDRESS_MAX) return false;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    size_t hn = (size_t)(colon - s);
    if (s[0] == '[') { /* [v6]:port */
        if (hn < 3 || s[hn - 1] != ']') return false;
        for (size_t i = 1; i < hn - 1; i++) {
            char c = s[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                  c == '.'))
                return false;
        }
    } else {
        for (size_t i = 0; i < hn; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-' || c == '_'))
                return false;
        }
    }
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5) return false;
    long port = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

/* ---------------------------------------------------------------------------
 * Heartbeats
 * ------------------------------------------------------------------------- */

int ursa_peers_new(ursa_peers_t **out, ursa_store_t *st, const ursa_peers_opts_t *o, ursa_err_t *err)
{
    *out = NULL;
    if (!o->node || !node_valid(o->node, strlen(o->node)))
        return ursa_err_set(err, URSA_EINVAL, "node name \"%s\" must be 1-64 of [A-Za-z0-9._-]",
                            o->node ? o->node : "");
    if (o->interval_ms < 0) return ursa_err_set(err, URSA_EINVAL, "heartbeat interval below zero");
    ursa_peers_t *p = ursa_calloc(1, sizeof(*p));
    if (!p) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    p->st = st;
    snprintf(p->node, sizeof(p->node), "%s", o->node);
    snprintf(p->key, sizeof(p->key), "%s%s.json", URSA_PEERS_PREFIX, o->node);
    p->interval_ms = o->interval_ms ? o->interval_ms : URSA_PEERS_INTERVAL_DEFAULT_MS;
    p->https = o->https;
    if (o->ca_file && !(p->ca_file = ursa_strdup(o->ca_file))) {
        ursa_free(p);
        return URSA_ENOMEM;
    }
    p->started_ms = ursa_peers_wall_ms();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return URSA_OK;
}

/* The heartbeat document, at wall-clock time now. */
static int heartbeat_json(ursa_peers_t *p, const char *address, int64_t now, ursa_buf_t *b)
{
    int rc = ursa_buf_printf(b, "{\"node\":");
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, p->node, strlen(p->node));
    if (rc == URSA_OK) rc = ursa_buf_printf(b, ",\"address\":");
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, address, strlen(address));
    if (rc == URSA_OK)
        rc = ursa_buf_printf(b,
                             ",\"pid\":%ld,\"version\":\"%s\",\"started_ms\":%lld,\"heartbeat_ms\":%lld,"
                             "\"interval_ms\":%lld}\n",
                             (long)getpid(), URSA_VERSION, (long long)p->started_ms, (long long)now,
                             (long long)p->interval_ms);
    return rc;
}

/* One heartbeat; a failure is logged (rate-limited), never more. */
static void beat(ursa_peers_t *p, const char *address)
{
    ursa_buf_t b = {0};
    ursa_err_t err = {0};
    int64_t now = ursa_peers_wall_ms();
    int rc = heartbeat_json(p, address, now, &b);
    if (rc == URSA_OK)
        rc = ursa_store_put(p->st, p->key, b.data, b.len, &err);
    else
        ursa_err_set(&err, rc, "out of memory");
    ursa_buf_free(&b);
    int64_t mono = mono_ms();
    if (rc == URSA_OK) {
        if (p->failures)
            ursa_info("heartbeat %s written again, after %llu failed attempts", p->key,
                      (unsigned long long)p->failures);
        p->failures = 0;
        pthread_mutex_lock(&p->mu);
        p->written++;
        p->last_ms = now;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (p->failures++ == 0 || mono - p->fail_logged_ms >= FAIL_LOG_EVERY_MS) {
        ursa_warn("heartbeat %s not written (%llu attempt%s in a row failed; the other nodes will see this "
                  "node as stale): %s",
                  p->key, (unsigned long long)p->failures, p->failures == 1 ? "" : "s", err.msg);
        p->fail_logged_ms = mono;
    }
}

/* At start: a fresh heartbeat of this node's name from another process is
 * either this node's own before a crash, or a second process with the same
 * --node, which would overwrite this node's files. Said, not judged. */
static void look_for_twin(ursa_peers_t *p)
{
    ursa_buf_t b = {0};
    ursa_err_t err = {0};
    ursa_peer_t peer;
    if (ursa_store_get_range(p->st, p->key, 0, URSA_PEERS_OBJECT_MAX + 1, &b, &err) == URSA_OK &&
        b.len <= URSA_PEERS_OBJECT_MAX && ursa_peers_parse(p->node, b.data, b.len, &peer, &err) == URSA_OK) {
        int64_t age = ursa_peers_wall_ms() - peer.heartbeat_ms;
        int64_t every = peer.interval_ms > 0 ? peer.interval_ms : p->interval_ms;
        /* pid alone does not tell processes apart: in a container every node is pid 1. */
        bool other = peer.pid != (int64_t)getpid() || peer.started_ms != p->started_ms;
        if (other && age < URSA_PEERS_STALE_FACTOR * every)
            ursa_warn(
                "the heartbeat of node %s is %lld ms old and from another process (pid %lld at %s): this "
                "node's own before a crash, or another process running with --node %s (two would overwrite "
                "each other's files)",
                p->node, (long long)(age > 0 ? age : 0), (long long)peer.pid, peer.address, p->node);
    }
    ursa_buf_free(&b);
}

static void *heartbeats(void *arg)
{
    ursa_peers_t *p = arg;
    char address[URSA_PEERS_ADDRESS_MAX + 1];
    pthread_mutex_lock(&p->mu);
    memcpy(address, p->address, sizeof(address));
    pthread_mutex_unlock(&p->mu);
    look_for_twin(p);
    int64_t next = mono_ms();
    for (;;) {
        beat(p, address);
        /* Ticks keep their pace; a write that took longer than an
         * interval is followed by the next one at once. */
        next += p->interval_ms;
        int64_t now = mono_ms();
        if (next < now) next = now;
        struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000};
        pthread_mutex_lock(&p->mu);
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &ts) == 0) {
        }
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) return NULL;
    }
}

int ursa_peers_start(ursa_peers_t *p, const char *address, ursa_err_t *err)
{
    if (p->started) return ursa_err_set(err, URSA_EINVAL, "heartbeats already started");
    if (!ursa_peers_address_valid(address))
        return ursa_err_set(err, URSA_EINVAL, "\"%s\" is no HOST:PORT the other nodes can reach",
                            address ? address : "");
    pthread_mutex_lock(&p->mu);
    snprintf(p->address, sizeof(p->address), "%s", address);
    p->stop = false;
    pthread_mutex_unlock(&p->mu);
    if (pthread_create(&p->thread, NULL, heartbeats, p))
        return ursa_err_set(err, URSA_ENOMEM, "cannot start the heartbeat thread");
    p->started = true;
    return URSA_OK;
}

void ursa_peers_stop(ursa_peers_t *p, bool remove)
{
    if (!p || !p->started) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->started = false;
    if (!remove) return;
    ursa_err_t err = {0};
    if (ursa_store_del(p->st, p->key, &err))
        ursa_warn("heartbeat %s not deleted (the other nodes will see this node as stale): %s", p->key,
                  err.msg);
}

void ursa_peers_destroy(ursa_peers_t **pp)
{
    ursa_peers_t *p = *pp;
    if (!p) return;
    ursa_peers_stop(p, false);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    ursa_free(p->ca_file);
    ursa_free(p);
    *pp = NULL;
}

const char *ursa_peers_node(const ursa_peers_t *p)
{
    return p->node;
}

void ursa_peers_address(ursa_peers_t *p, char *address)
{
    pthread_mutex_lock(&p->mu);
    memcpy(address, p->address, sizeof(p->address));
    pthread_mutex_unlock(&p->mu);
}

int64_t ursa_peers_started_ms(const ursa_peers_t *p)
{
    return p->started_ms;
}

int64_t ursa_peers_interval_ms(const ursa_peers_t *p)
{
    return p->interval_ms;
}

int64_t ursa_peers_stale_ms(const ursa_peers_t *p)
{
    return URSA_PEERS_STALE_FACTOR * p->interval_ms;
}

uint64_t ursa_peers_written(ursa_peers_t *p, int64_t *last_ms)
{
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->written;
    if (last_ms) *last_ms = p->last_ms;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* ---------------------------------------------------------------------------
 * Listing
 * ------------------------------------------------------------------------- */

static bool get_int(json_t *o, const char *name, int64_t *v)
{
    json_t *x = json_object_get(o, name);
    if (!json_is_integer(x)) return false;
    *v = (int64_t)json_integer_value(x);
    return true;
}

int ursa_peers_parse(const char *node, const void *data, size_t n, ursa_peer_t *peer, ursa_err_t *err)
{
    memset(peer, 0, sizeof(*peer));
    json_error_t je;
    json_t *o = json_loadb(data, n, JSON_REJECT_DUPLICATES, &je);
    int rc = URSA_OK;
    if (!json_is_object(o)) {
        rc = ursa_err_set(err, URSA_EFORMAT, "not a JSON object (%s)", o ? "another JSON value" : je.text);
        goto out;
    }
    const char *name = json_string_value(json_object_get(o, "node"));
    const char *address = json_string_value(json_object_get(o, "address"));
    const char *version = json_string_value(json_object_get(o, "version"));
    if (!name || strcmp(name, node) != 0) {
        rc = ursa_err_set(err, URSA_EFORMAT, "\"node\" is not \"%s\", the name in its key", node);
        goto out;
    }
    if (!address || !ursa_peers_address_valid(address)) {
        rc = ursa_err_set(err, URSA_EFORMAT, "no usable \"address\" (HOST:PORT)");
        goto out;
    }
    if (!get_int(o, "heartbeat_ms", &peer->heartbeat_ms) || !get_int(o, "started_ms", &peer->started_ms) ||
        !get_int(o, "pid", &peer->pid)) {
        rc = ursa_err_set(err, URSA_EFORMAT, "\"heartbeat_ms\", \"started_ms\" and \"pid\" must be integers");
        goto out;
    }
    if (!get_int(o, "interval_ms", &peer->interval_ms) || peer->interval_ms < 0) peer->interval_ms = 0;
    snprintf(peer->node, sizeof(peer->node), "%s", node);
    snprintf(peer->address, sizeof(peer->address), "%s", address);
    snprintf(peer->version, sizeof(peer->version), "%s", version ? version : "");
out:
    json_decref(o);
    return rc;
}

/* A skipped object is logged once in MALFORMED_LOG_EVERY_MS (every
 * listing finds it again); a few slots, by a hash of the key, remember
 * when. */
static void log_malformed(const char *key, const char *why)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        uint64_t hash;
        int64_t ms;
    } slots[16];
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *k = key; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211ull;
    int64_t now = mono_ms();
    pthread_mutex_lock(&mu);
    size_t i = (size_t)(h % URSA_ARRAY_LEN(slots));
    bool say = slots[i].hash != h || now - slots[i].ms >= MALFORMED_LOG_EVERY_MS;
    if (say) slots[i].hash = h, slots[i].ms = now;
    pthread_mutex_unlock(&mu);
    if (say) ursa_warn("skipping heartbeat object %s: %s", key, why);
}

typedef struct names {
    char (*v)[URSA_PEERS_NODE_MAX + 1];
    size_t n, cap;
} names_t;

/* Keeps "<prefix><node>.json" keys (the .lsn marks live there too). */
static int collect(void *ctx, const char *key, bool is_prefix)
{
    names_t *l = ctx;
    if (is_prefix) return URSA_OK;
    const char *base = key + strlen(URSA_PEERS_PREFIX);
    size_t n = strlen(base);
    if (n <= 5 || strcmp(base + n - 5, ".json") != 0) return URSA_OK;
    n -= 5;
    if (!node_valid(base, n)) {
        log_malformed(key, "not a node name");
        return URSA_OK;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        void *v = ursa_realloc(l->v, cap * sizeof(*l->v));
        if (!v) return URSA_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    memcpy(l->v[l->n], base, n);
    l->v[l->n++][n] = '\0';
    return URSA_OK;
}

int ursa_peers_list(ursa_store_t *st, const char *self_node, int64_t now_ms, int64_t stale_ms,
                    ursa_peer_list_t *out, ursa_err_t *err)
{
    out->v = NULL;
    out->n = 0;
    names_t names = {0};
    ursa_buf_t b = {0};
    int rc = ursa_store_list(st, URSA_PEERS_PREFIX, '/', collect, &names, err);
    if (rc == URSA_ENOMEM) ursa_err_set(err, rc, "out of memory");
    if (rc) goto out;
    if (names.n && !(out->v = ursa_calloc(names.n, sizeof(*out->v)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < names.n; i++) {
        const char *node = names.v[i];
        if (self_node && strcmp(node, self_node) == 0) continue;
        char key[sizeof(URSA_PEERS_PREFIX) + URSA_PEERS_NODE_MAX + 8];
        snprintf(key, sizeof(key), "%s%s.json", URSA_PEERS_PREFIX, node);
        ursa_err_t e = {0};
        rc = ursa_store_get_range(st, key, 0, URSA_PEERS_OBJECT_MAX + 1, &b, &e);
        if (rc == URSA_ENOTFOUND) { /* stopped since the listing */
            rc = URSA_OK;
            continue;
        }
        if (rc) {
            /* A peer left out would be a peer silently not asked: fail. */
            ursa_err_set(err, rc, "reading %s: %s", key, e.msg);
            goto out;
        }
        if (b.len > URSA_PEERS_OBJECT_MAX) {
            log_malformed(key, "larger than 4 KiB");
            continue;
        }
        ursa_peer_t *p = &out->v[out->n];
        if (ursa_peers_parse(node, b.data, b.len, p, &e)) {
            log_malformed(key, e.msg);
            continue;
        }
        p->age_ms = now_ms - p->heartbeat_ms;
        if (p->age_ms < 0) p->age_ms = 0;
        int64_t limit = stale_ms;
        if (p->interval_ms > 0 && p->interval_ms < INT64_MAX / URSA_PEERS_STALE_FACTOR &&
            URSA_PEERS_STALE_FACTOR * p->interval_ms > limit)
            limit = URSA_PEERS_STALE_FACTOR * p->interval_ms;
        p->stale = p->age_ms > limit;
        out->n++;
    }
out:
    ursa_buf_free(&b);
    ursa_free(names.v);
    return rc;
}

void ursa_peer_list_free(ursa_peer_list_t *l)
{
    ursa_free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---------------------------------------------------------------------------
 * Calls
 * ------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct call_state {
    ursa_peer_call_t *call;
    CURL *h;
    size_t max;
    bool too_large, nomem, done;
    char curl_err[CURL_ERROR_SIZE];
} call_state_t;

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    call_state_t *s = ud;
    size_t n = size * nmemb;
    if (n > s->max - s->call->body.len) {
        s->too_large = true;
        return 0; /* aborts the transfer */
    }
    if (ursa_buf_append(&s->call->body, data, n)) {
        s->nomem = true;
        return 0;
    }
    return n;
}

/* No CR, LF or other control byte: nothing that would end a header line. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f) return false;
    return true;
}

static void fail_call(call_state_t *s, const char *fmt, ...) URSA_PRINTF(2, 3);
static void fail_call(call_state_t *s, const char *fmt, ...)
{
    s->call->status = 0;
    s->call->body.len = 0;
    s->call->content_type[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->call->error, sizeof(s->call->error), fmt, ap);
    va_end(ap);
}

/* A finished transfer: its status, or why there is none. */
static void finish(call_state_t *s, CURLcode cc, const ursa_peers_request_t *rq)
{
    s->done = true;
    ursa_peer_call_t *c = s->call;
    if (cc == CURLE_OK) {
        long status = 0;
        char *ct = NULL;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(s->h, CURLINFO_CONTENT_TYPE, &ct);
        c->status = status;
        snprintf(c->content_type, sizeof(c->content_type), "%s", ct ? ct : "");
        return;
    }
    if (s->too_large || cc == CURLE_FILESIZE_EXCEEDED)
        fail_call(s, "%s answered more than %zu bytes (the limit of an answer)", c->address, s->max);
    else if (s->nomem)
        fail_call(s, "%s: out of memory for the answer", c->address);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        fail_call(s, "%s did not answer within %lld ms", c->address, (long long)rq->timeout_ms);
    else
        fail_call(s, "%s: %s", c->address, s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
}

int ursa_peers_call(const ursa_peers_request_t *rq, ursa_peer_call_t *calls, size_t n, ursa_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        calls[i].status = 0;
        calls[i].body = (ursa_buf_t){0};
        calls[i].content_type[0] = calls[i].error[0] = '\0';
    }
    if (!rq->path || rq->path[0] != '/' || !printable(rq->path) || strchr(rq->path, ' ') ||
        strchr(rq->path, '#'))
        return ursa_err_set(err, URSA_EINVAL, "bad path for a peer call");
    if (rq->timeout_ms <= 0 || rq->max_response == 0)
        return ursa_err_set(err, URSA_EINVAL, "a peer call needs a timeout and a bound on answers");
    if (rq->content_type && (!printable(rq->content_type) || strlen(rq->content_type) > 200))
        return ursa_err_set(err, URSA_EINVAL, "bad content type for a peer call");
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!rq->headers[i] || !strchr(rq->headers[i], ':') || rq->headers[i][0] == ':' ||
            !printable(rq->headers[i]))
            /* the name only: a value may be a credential */
            return ursa_err_set(err, URSA_EINVAL, "bad header line for a peer call: \"%.*s\"",
                                rq->headers[i] ? (int)strcspn(rq->headers[i], ":") : 0,
                                rq->headers[i] ? rq->headers[i] : "");
    for (size_t i = 0; i < n; i++)
        if (!ursa_peers_address_valid(calls[i].address))
            return ursa_err_set(err, URSA_EINVAL, "peer %s: bad address \"%s\"",
                                calls[i].node ? calls[i].node : "?",
                                calls[i].address ? calls[i].address : "");
    if (n == 0) return URSA_OK;
    pthread_once(&curl_once, curl_init_once);

    int rc = URSA_OK;
    int64_t t0 = mono_ms(), deadline = t0 + rq->timeout_ms;
    bool canceled = false;
    size_t failed = 0, first_failed = n;
    struct curl_slist *hdrs = NULL;
    call_state_t *s = ursa_calloc(n, sizeof(*s));
    char *url = NULL;
    size_t url_cap = strlen("https://") + URSA_PEERS_ADDRESS_MAX + strlen(rq->path) + 1;
    CURLM *m = curl_multi_init();
    if (!s || !m || !(url = ursa_malloc(url_cap))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    /* "Expect:" (empty) keeps curl from waiting for "100 Continue". */
    char ct[300];
    snprintf(ct, sizeof(ct), "Content-Type: %s", rq->content_type ? rq->content_type : "");
    bool ok = (hdrs = curl_slist_append(NULL, "Expect:")) != NULL;
    if (ok && rq->content_type) ok = curl_slist_append(hdrs, ct) != NULL;
    for (size_t i = 0; ok && i < rq->nheaders; i++) ok = curl_slist_append(hdrs, rq->headers[i]) != NULL;
    if (!ok) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        call_state_t *c = &s[i];
        c->call = &calls[i];
        c->max = rq->max_response;
        if (!(c->h = curl_easy_init())) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(url, url_cap, "%s://%s%s", rq->https ? "https" : "http", calls[i].address, rq->path);
        curl_easy_setopt(c->h, CURLOPT_URL, url); /* copied */
        curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, rq->https ? "https" : "http");
        if (rq->https && rq->ca_file) curl_easy_setopt(c->h, CURLOPT_CAINFO, rq->ca_file);
        if (rq->https) curl_easy_setopt(c->h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(c->h, CURLOPT_NOPROXY,
                         "*"); /* peers are reached directly, whatever http_proxy says */
        curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->h, CURLOPT_QUICK_EXIT, 1L); /* a name still resolving does not hold the cleanup */
        curl_easy_setopt(c->h, CURLOPT_POST, 1L);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)rq->timeout_ms);
        curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
        curl_easy_setopt(c->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max_response);
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->curl_err);
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
        if (curl_multi_add_handle(m, c->h) != CURLM_OK) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
    }

    int running = (int)n;
    for (;;) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = ursa_err_set(err, URSA_ENOMEM, "peer calls: the transfer loop failed");
            goto out;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE) {
                call_state_t *c;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
                finish(c, msg->data.result, rq);
            }
        if (running == 0) break;
        if (rq->cancel && rq->cancel(rq->cancel_ctx)) {
            canceled = true;
            break;
        }
        int64_t now = mono_ms();
        if (now >= deadline) break;
        int wait = (int)(deadline - now < POLL_MS ? deadline - now : POLL_MS);
        curl_multi_poll(m, NULL, 0, wait, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        if (!s[i].done) {
            if (canceled)
                fail_call(&s[i], "%s: canceled after %lld ms", calls[i].address, (long long)(mono_ms() - t0));
            else
                fail_call(&s[i], "%s did not answer within %lld ms", calls[i].address,
                          (long long)rq->timeout_ms);
        }
        if (calls[i].error[0]) {
            failed++;
            if (first_failed == n) first_failed = i;
        }
    }
    if (canceled)
        rc = ursa_err_set(err, URSA_ECANCELED, "peer calls canceled after %lld ms",
                          (long long)(mono_ms() - t0));
    else if (failed)
        rc = ursa_err_set(err, URSA_EIO, "%zu of %zu peers did not answer; %s%s%s", failed, n,
                          calls[first_failed].node ? calls[first_failed].node : "",
                          calls[first_failed].node ? ": " : "", calls[first_failed].error);
out:
    for (size_t i = 0; s && i < n; i++)
        if (s[i].h) {
            curl_multi_remove_handle(m, s[i].h);
            curl_easy_cleanup(s[i].h);
        }
    if (m) curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    ursa_free(url);
    ursa_free(s);
    return rc;
}

void ursa_peer_calls_free(ursa_peer_call_t *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) ursa_buf_free(&calls[i].body);
}
