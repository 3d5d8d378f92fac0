/*
 * test_peers.c -- heartbeats in a local directory store (written, listed by
 * another node, refreshed, stale by their age, deleted at a clean stop,
 * left by an unclean one, a failing store survived, malformed objects
 * skipped), the advertised address, and calls to peers against a small
 * libmicrohttpd server on loopback (answers of any status, extra headers, a
 * slow peer hitting the timeout, a refused connection, answers too large,
 * cancellation, bad arguments).
 */
#include "options.h"
#include "peers.h"
#include "test.h"
#include "test_store.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (up to 10 s) until p has written at least n heartbeats. */
static bool wait_written(ursa_peers_t *p, uint64_t n)
{
    for (int i = 0; i < 1000; i++) {
        if (ursa_peers_written(p, NULL) >= n) return true;
        usleep(10000);
    }
    return false;
}

static const ursa_peer_t *find(const ursa_peer_list_t *l, const char *node)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].node, node) == 0) return &l->v[i];
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Heartbeats
 * ------------------------------------------------------------------------- */

TEST(heartbeat_written_listed_refreshed_and_deleted)
{
    ursa_store_t *st = test_store_open("peers");
    ursa_err_t err = {0};
    ursa_peers_t *a = NULL;
    ursa_peers_opts_t o = {"node-a", 50};
    CHECK_EQ_INT(ursa_peers_new(&a, st, &o, &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_stale_ms(a), 250);
    CHECK_EQ_INT(ursa_peers_start(a, "127.0.0.1:7001", &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_start(a, "127.0.0.1:7001", &err), URSA_EINVAL); /* once */
    CHECK(wait_written(a, 1));

    /* The object as the others read it. */
    ursa_buf_t b = {0};
    CHECK_EQ_INT(ursa_store_get(st, "_ursa/nodes/node-a.json", &b, &err), URSA_OK);
    ursa_peer_t self;
    CHECK_EQ_INT(ursa_peers_parse("node-a", b.data, b.len, &self, &err), URSA_OK);
    CHECK(strcmp(self.address, "127.0.0.1:7001") == 0);
    CHECK_EQ_INT(self.pid, getpid());
    CHECK(strcmp(self.version, URSA_VERSION) == 0);
    CHECK_EQ_INT(self.interval_ms, 50);
    CHECK_EQ_INT(self.started_ms, ursa_peers_started_ms(a));
    ursa_buf_free(&b);

    /* Another node lists it; the node itself does not. */
    ursa_peer_list_t l = {0};
    int64_t now = ursa_peers_wall_ms();
    CHECK_EQ_INT(ursa_peers_list(st, "node-b", now, 250, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 1);
    const ursa_peer_t *p = find(&l, "node-a");
    CHECK(p && strcmp(p->address, "127.0.0.1:7001") == 0 && !p->stale && p->age_ms < 5000);
    int64_t first_beat = p ? p->heartbeat_ms : 0;
    ursa_peer_list_free(&l);
    CHECK_EQ_INT(ursa_peers_list(st, "node-a", now, 250, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 0);
    ursa_peer_list_free(&l);

    /* It keeps beating: a later heartbeat carries a later time. */
    uint64_t n0 = ursa_peers_written(a, NULL);
    CHECK(wait_written(a, n0 + 3));
    CHECK_EQ_INT(ursa_peers_list(st, NULL, ursa_peers_wall_ms(), 250, &l, &err), URSA_OK);
    p = find(&l, "node-a");
    CHECK(p && p->heartbeat_ms > first_beat);
    ursa_peer_list_free(&l);

    /* A clean stop deletes it; stopping again is harmless. */
    ursa_peers_stop(a, true);
    ursa_peers_stop(a, true);
    CHECK_EQ_INT(ursa_store_get(st, "_ursa/nodes/node-a.json", &b, &err), URSA_ENOTFOUND);
    CHECK_EQ_INT(ursa_peers_list(st, "node-b", ursa_peers_wall_ms(), 250, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 0);
    ursa_peer_list_free(&l);
    ursa_buf_free(&b);
    ursa_peers_destroy(&a);
    CHECK(a == NULL);
    ursa_store_destroy(&st);
    test_store_remove();
}

TEST(stale_after_its_interval)
{
    ursa_store_t *st = test_store_open("peers");
    ursa_err_t err = {0};
    ursa_peers_t *a = NULL, *slow = NULL;
    ursa_peers_opts_t oa = {"a", 50}, os = {"slow", 2000};
    CHECK_EQ_INT(ursa_peers_new(&a, st, &oa, &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_new(&slow, st, &os, &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_start(a, "host-a:1", &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_start(slow, "host-s:1", &err), URSA_OK);
    CHECK(wait_written(a, 1) && wait_written(slow, 1));
    /* Died without a clean stop: the objects stay. */
    ursa_peers_destroy(&a);
    ursa_peers_destroy(&slow);

    ursa_peer_list_t l = {0};
    int64_t last_a = 0, last_s = 0;
    int64_t now = ursa_peers_wall_ms();
    CHECK_EQ_INT(ursa_peers_list(st, "observer", now, 0, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 2);
    if (l.n == 2) last_a = find(&l, "a")->heartbeat_ms, last_s = find(&l, "slow")->heartbeat_ms;
    ursa_peer_list_free(&l);

    /* An injected clock: 200 ms after a's last beat it is fresh (5 x 50 =
     * 250), 300 ms after stale; the caller's larger threshold wins. */
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_a + 200, 0, &l, &err), URSA_OK);
    CHECK(find(&l, "a") && !find(&l, "a")->stale && find(&l, "a")->age_ms == 200);
    ursa_peer_list_free(&l);
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_a + 300, 0, &l, &err), URSA_OK);
    CHECK(find(&l, "a") && find(&l, "a")->stale && find(&l, "a")->age_ms == 300);
    ursa_peer_list_free(&l);
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_a + 300, 1000, &l, &err), URSA_OK);
    CHECK(find(&l, "a") && !find(&l, "a")->stale);
    ursa_peer_list_free(&l);
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_a + 1001, 1000, &l, &err), URSA_OK);
    CHECK(find(&l, "a") && find(&l, "a")->stale);
    ursa_peer_list_free(&l);

    /* A peer with a slower heartbeat is judged by its own interval. */
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_s + 9000, 250, &l, &err), URSA_OK);
    CHECK(find(&l, "slow") && !find(&l, "slow")->stale);
    ursa_peer_list_free(&l);
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_s + 10001, 250, &l, &err), URSA_OK);
    CHECK(find(&l, "slow") && find(&l, "slow")->stale);
    ursa_peer_list_free(&l);

    /* A clock behind the writer's: age 0, not below. */
    CHECK_EQ_INT(ursa_peers_list(st, "observer", last_a - 5000, 250, &l, &err), URSA_OK);
    CHECK(find(&l, "a") && find(&l, "a")->age_ms == 0 && !find(&l, "a")->stale);
    ursa_peer_list_free(&l);
    ursa_store_destroy(&st);
    test_store_remove();
}

TEST(malformed_objects_skipped)
{
    ursa_store_t *st = test_store_open("peers");
    ursa_err_t err = {0};
    const char *good = "{\"node\":\"good\",\"address\":\"10.0.0.1:8000\",\"pid\":1,\"version\":\"0.1.0\","
                       "\"started_ms\":1,\"heartbeat_ms\":1000}";
    char big[URSA_PEERS_OBJECT_MAX + 100];
    memset(big, ' ', sizeof(big));
    memcpy(big, good, strlen(good)); /* valid JSON, but too large */
    struct {
        const char *key, *body;
        size_t n;
    } objs[] = {
        {"_ursa/nodes/good.json", good, strlen(good)},
        {"_ursa/nodes/garbage.json", "not json {", 10},
        {"_ursa/nodes/array.json", "[1,2]", 5},
        {"_ursa/nodes/other.json", good, strlen(good)}, /* names another node */
        {"_ursa/nodes/noaddr.json", "{\"node\":\"noaddr\",\"pid\":1,\"started_ms\":1,\"heartbeat_ms\":1}", 0},
        {"_ursa/nodes/badaddr.json",
         "{\"node\":\"badaddr\",\"address\":\"x/y@evil:80\",\"pid\":1,\"started_ms\":1,\"heartbeat_ms\":1}",
         0},
        {"_ursa/nodes/nonum.json",
         "{\"node\":\"nonum\",\"address\":\"h:1\",\"pid\":1,\"started_ms\":1,\"heartbeat_ms\":\"soon\"}", 0},
        {"_ursa/nodes/big.json", big, sizeof(big)},
        {"_ursa/nodes/empty.json", "", 0},
        {"_ursa/nodes/good.lsn", "12", 2}, /* a node's LSN mark: not a heartbeat, silently */
        {"_ursa/nodes/b@d.json", good, strlen(good)},
        {"_ursa/nodes/sub/deeper.json", good, strlen(good)},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(objs); i++) {
        size_t n = objs[i].n ? objs[i].n : strlen(objs[i].body);
        CHECK_EQ_INT(ursa_store_put(st, objs[i].key, objs[i].body, n, &err), URSA_OK);
    }
    ursa_peer_list_t l = {0};
    CHECK_EQ_INT(ursa_peers_list(st, NULL, 2000, 250, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 1);
    const ursa_peer_t *p = find(&l, "good");
    CHECK(p && strcmp(p->address, "10.0.0.1:8000") == 0 && p->age_ms == 1000 && p->stale && p->pid == 1);
    CHECK(p && p->interval_ms == 0);
    ursa_peer_list_free(&l);

    ursa_peer_t peer;
    CHECK_EQ_INT(ursa_peers_parse("other", good, strlen(good), &peer, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "other") != NULL);
    ursa_store_destroy(&st);
    test_store_remove();
}

/* A store that forwards to a local one and refuses writes on request. */
typedef struct flaky {
    ursa_store_t base;
    ursa_store_t *inner;
    atomic_bool fail;
    atomic_int puts;
} flaky_t;

static int flaky_put(ursa_store_t *st, const char *key, const void *data, size_t n, ursa_err_t *err)
{
    flaky_t *f = (flaky_t *)st;
    atomic_fetch_add(&f->puts, 1);
    if (atomic_load(&f->fail)) return ursa_err_set(err, URSA_EIO, "injected: the store is down");
    return ursa_store_put(f->inner, key, data, n, err);
}

static int flaky_get_range(ursa_store_t *st, const char *key, uint64_t off, uint64_t len, ursa_buf_t *out,
                           ursa_err_t *err)
{
    return ursa_store_get_range(((flaky_t *)st)->inner, key, off, len, out, err);
}

static int flaky_list(ursa_store_t *st, const char *prefix, char delim, ursa_store_list_cb cb, void *ctx,
                      ursa_err_t *err)
{
    flaky_t *f = (flaky_t *)st;
    if (atomic_load(&f->fail)) return ursa_err_set(err, URSA_EIO, "injected: the store is down");
    return ursa_store_list(f->inner, prefix, delim, cb, ctx, err);
}

static int flaky_del(ursa_store_t *st, const char *key, ursa_err_t *err)
{
    flaky_t *f = (flaky_t *)st;
    if (atomic_load(&f->fail)) return ursa_err_set(err, URSA_EIO, "injected: the store is down");
    return ursa_store_del(f->inner, key, err);
}

static void flaky_destroy(ursa_store_t *st)
{
    flaky_t *f = (flaky_t *)st;
    ursa_store_destroy(&f->inner);
    ursa_free(f);
}

static const struct ursa_store_ops flaky_ops = {
    .put = flaky_put,
    .get_range = flaky_get_range,
    .list = flaky_list,
    .del = flaky_del,
    .destroy = flaky_destroy,
};

TEST(failing_store_is_not_fatal)
{
    flaky_t *f = ursa_calloc(1, sizeof(*f));
    f->base.ops = &flaky_ops;
    f->inner = test_store_open("peers");
    atomic_store(&f->fail, true);
    ursa_store_t *st = &f->base;
    ursa_err_t err = {0};
    ursa_peers_t *a = NULL;
    ursa_peers_opts_t o = {"a", 20};
    CHECK_EQ_INT(ursa_peers_new(&a, st, &o, &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_start(a, "h:1", &err), URSA_OK);
    /* Tried at every tick, none written. */
    for (int i = 0; i < 500 && atomic_load(&f->puts) < 4; i++) usleep(10000);
    CHECK(atomic_load(&f->puts) >= 4);
    CHECK_EQ_INT(ursa_peers_written(a, NULL), 0);
    ursa_peer_list_t l = {0};
    CHECK_EQ_INT(ursa_peers_list(st, NULL, ursa_peers_wall_ms(), 100, &l, &err), URSA_EIO);
    CHECK(strstr(err.msg, "injected") != NULL);
    ursa_peer_list_free(&l);
    /* The store is back: the next tick writes. */
    atomic_store(&f->fail, false);
    CHECK(wait_written(a, 1));
    CHECK_EQ_INT(ursa_peers_list(st, NULL, ursa_peers_wall_ms(), 100, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 1);
    ursa_peer_list_free(&l);
    /* A delete that fails at stop leaves the object (it turns stale). */
    atomic_store(&f->fail, true);
    ursa_peers_stop(a, true);
    atomic_store(&f->fail, false);
    CHECK_EQ_INT(ursa_peers_list(st, NULL, ursa_peers_wall_ms(), 100, &l, &err), URSA_OK);
    CHECK_EQ_INT(l.n, 1);
    ursa_peer_list_free(&l);
    ursa_peers_destroy(&a);
    ursa_store_destroy(&st);
    test_store_remove();
}

TEST(bad_settings)
{
    ursa_store_t *st = test_store_open("peers");
    ursa_err_t err = {0};
    ursa_peers_t *p = NULL;
    ursa_peers_opts_t bad_name = {"../x", 0}, no_name = {NULL, 0}, ok = {"n", 0};
    CHECK_EQ_INT(ursa_peers_new(&p, st, &bad_name, &err), URSA_EINVAL);
    CHECK_EQ_INT(ursa_peers_new(&p, st, &no_name, &err), URSA_EINVAL);
    CHECK_EQ_INT(ursa_peers_new(&p, st, &ok, &err), URSA_OK);
    CHECK_EQ_INT(ursa_peers_interval_ms(p), URSA_PEERS_INTERVAL_DEFAULT_MS);
    CHECK_EQ_INT(ursa_peers_start(p, "0.0.0.0", &err), URSA_EINVAL);
    CHECK_EQ_INT(ursa_peers_start(p, "h:0", &err), URSA_EINVAL);
    ursa_peers_destroy(&p);
    ursa_store_destroy(&st);
    test_store_remove();

    const char *good[] = {"h:1", "127.0.0.1:8000", "[::1]:8000", "node-1.example.com:65535", "a_b:9"};
    const char *bad[] = {"",        "h",      ":80",       "h:",       "h:65536", "h:0",
                         "h:8000x", "a b:80", "a/b:80",    "u@h:80",   "[zz]:80", "[::1]80",
                         "h:80/x",  "h:-1",   "h\r\nX:80", "[::1:8000"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(good); i++) CHECK(ursa_peers_address_valid(good[i]));
    for (size_t i = 0; i < URSA_ARRAY_LEN(bad); i++) {
        if (ursa_peers_address_valid(bad[i])) fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK(!ursa_peers_address_valid(bad[i]));
    }
}

TEST(advertised_address)
{
    char out[300], host[256], want[300];
    const char *why;
    CHECK(ursa_advertise_address(NULL, "127.0.0.1:8000", 8000, out, sizeof(out), &why));
    CHECK(strcmp(out, "127.0.0.1:8000") == 0);
    CHECK(ursa_advertise_address(NULL, "127.0.0.1:0", 41234, out, sizeof(out), &why));
    CHECK(strcmp(out, "127.0.0.1:41234") == 0);
    CHECK(ursa_advertise_address(NULL, "[::1]:0", 9, out, sizeof(out), &why));
    CHECK(strcmp(out, "[::1]:9") == 0);
    CHECK(ursa_advertise_address(NULL, "::1:7", 7, out, sizeof(out), &why));
    CHECK(strcmp(out, "[::1]:7") == 0);
    CHECK(ursa_advertise_address(NULL, "db-3.lan:8000", 8000, out, sizeof(out), &why));
    CHECK(strcmp(out, "db-3.lan:8000") == 0);
    CHECK(gethostname(host, sizeof(host)) == 0);
    snprintf(want, sizeof(want), "%s:8123", host);
    const char *wild[] = {"0.0.0.0:8123", "[::]:8123", ":8123", "0.0.0.0:0"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(wild); i++) {
        CHECK(ursa_advertise_address(NULL, wild[i], 8123, out, sizeof(out), &why));
        CHECK(strcmp(out, want) == 0);
    }
    /* --advertise wins, as given; a wildcard or port 0 is refused. */
    CHECK(ursa_advertise_address("ursa-2.svc:80", "0.0.0.0:8000", 8000, out, sizeof(out), &why));
    CHECK(strcmp(out, "ursa-2.svc:80") == 0);
    CHECK(!ursa_advertise_address("0.0.0.0:80", NULL, 0, out, sizeof(out), &why));
    CHECK(!ursa_advertise_address("[::]:80", NULL, 0, out, sizeof(out), &why));
    CHECK(!ursa_advertise_address("h:0", NULL, 0, out, sizeof(out), &why));
    CHECK(!ursa_advertise_address("h", NULL, 0, out, sizeof(out), &why));
    CHECK(!ursa_advertise_address(NULL, "127.0.0.1:0", 0, out, sizeof(out), &why)); /* port not bound */
}

/* ---------------------------------------------------------------------------
 * Calls, against a loopback server
 * ------------------------------------------------------------------------- */

static atomic_bool release_slow; /* a slow peer answers once set (or after 5 s) */
static const bool slow_peer = true, fast_peer = false;

typedef struct conn {
    ursa_buf_t body;
} conn_t;

#define BIG_BYTES (64u << 10)

static ssize_t big_chunks(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos >= BIG_BYTES) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = max < 4096 ? max : 4096;
    memset(buf, 'z', n);
    return (ssize_t)n;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, const void *p,
                              size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_size, void **con_cls)
{
    conn_t *q = *con_cls;
    if (!q) {
        *con_cls = q = ursa_calloc(1, sizeof(*q));
        return q ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        if (ursa_buf_append(&q->body, data, *data_size)) return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0) return answer(c, 405, "text/plain", "POST only", 9);
    if (*(const bool *)cls || strcmp(url, "/slow") == 0) {
        for (int i = 0; i < 500 && !atomic_load(&release_slow); i++) usleep(10000);
        if (strcmp(url, "/slow") == 0) return answer(c, 200, "text/plain", "late", 4);
    }
    if (strcmp(url, "/echo") == 0) {
        /* "<X-Ursa-Internal>|<Content-Type>|<body>" */
        const char *internal = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Ursa-Internal");
        const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        ursa_buf_t b = {0};
        if (ursa_buf_printf(&b, "%s|%s|%.*s", internal ? internal : "-", type ? type : "-", (int)q->body.len,
                            (const char *)q->body.data))
            return MHD_NO;
        enum MHD_Result ret = answer(c, 200, "application/x-echo", b.data, b.len);
        ursa_buf_free(&b);
        return ret;
    }
    if (strcmp(url, "/teapot") == 0) return answer(c, 418, "text/plain", "short and stout", 15);
    if (strcmp(url, "/big") == 0) {
        char *big = ursa_malloc(BIG_BYTES);
        memset(big, 'y', BIG_BYTES);
        enum MHD_Result ret = answer(c, 200, "application/octet-stream", big, BIG_BYTES);
        ursa_free(big);
        return ret;
    }
    if (strcmp(url, "/bigchunked") == 0) { /* no Content-Length: chunked */
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, big_chunks, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    return answer(c, 404, "text/plain", "no", 2);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    conn_t *q = *con_cls;
    if (!q) return;
    ursa_buf_free(&q->body);
    ursa_free(q);
    *con_cls = NULL;
}

/* A peer on loopback; a slow one answers once release_slow is set. */
static struct MHD_Daemon *start_peer(char *address, size_t cap, const bool *slow)
{
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0,
                         NULL, NULL, handle, (void *)slow, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!d) abort();
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(address, cap, "127.0.0.1:%u", (unsigned)info->port);
    return d;
}

/* A loopback port nothing listens on. */
static void closed_port(char *address, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        getsockname(fd, (struct sockaddr *)&sa, &len))
        abort();
    snprintf(address, cap, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    close(fd);
}

static const char *internal_header[] = {"X-Ursa-Internal: 1"};

static ursa_peers_request_t request(const char *path, int64_t timeout_ms, size_t max)
{
    ursa_peers_request_t rq = {path, "application/json", "{\"q\":1}", 7, internal_header, 1, timeout_ms, max};
    return rq;
}

TEST(call_answers)
{
    char a1[64], a2[64];
    struct MHD_Daemon *d1 = start_peer(a1, sizeof(a1), &fast_peer),
                      *d2 = start_peer(a2, sizeof(a2), &fast_peer);
    ursa_err_t err = {0};
    ursa_peer_call_t calls[2] = {{.node = "p1", .address = a1}, {.node = "p2", .address = a2}};
    ursa_peers_request_t rq = request("/echo", 5000, 1 << 20);
    CHECK_EQ_INT(ursa_peers_call(&rq, calls, 2, &err), URSA_OK);
    for (int i = 0; i < 2; i++) {
        const char *want = "1|application/json|{\"q\":1}";
        CHECK_EQ_INT(calls[i].status, 200);
        CHECK(calls[i].error[0] == '\0');
        CHECK(strcmp(calls[i].content_type, "application/x-echo") == 0);
        CHECK(calls[i].body.len == strlen(want) && memcmp(calls[i].body.data, want, strlen(want)) == 0);
    }
    ursa_peer_calls_free(calls, 2);

    /* Any status is an answer: the caller judges. */
    rq = request("/teapot", 5000, 1 << 20);
    CHECK_EQ_INT(ursa_peers_call(&rq, calls, 2, &err), URSA_OK);
    CHECK_EQ_INT(calls[0].status, 418);
    CHECK(calls[0].body.len == 15 && memcmp(calls[0].body.data, "short and stout", 15) == 0);
    CHECK(strcmp(calls[1].content_type, "text/plain") == 0);
    ursa_peer_calls_free(calls, 2);

    /* No peers: nothing to do. */
    CHECK_EQ_INT(ursa_peers_call(&rq, calls, 0, &err), URSA_OK);
    MHD_stop_daemon(d1);
    MHD_stop_daemon(d2);
}

TEST(call_timeout_refused_and_too_large)
{
    char a1[64], a2[64], refused[64];
    struct MHD_Daemon *d1 = start_peer(a1, sizeof(a1), &fast_peer),
                      *d2 = start_peer(a2, sizeof(a2), &slow_peer);
    closed_port(refused, sizeof(refused));
    ursa_err_t err = {0};
    atomic_store(&release_slow, false);

    /* A slow peer: its call ends at the timeout, the other's answer is kept. */
    ursa_peer_call_t two[2] = {{.node = "slow", .address = a2}, {.node = "fast", .address = a1}};
    ursa_peers_request_t rq = request("/echo", 400, 1 << 20);
    int64_t t0 = mono_ms();
    CHECK_EQ_INT(ursa_peers_call(&rq, two, 2, &err), URSA_EIO);
    int64_t took = mono_ms() - t0;
    CHECK(took >= 350 && took < 1500);
    CHECK_EQ_INT(two[0].status, 0);
    CHECK(two[0].body.len == 0);
    CHECK(strstr(two[0].error, "did not answer within 400 ms") != NULL);
    CHECK_EQ_INT(two[1].status, 200);
    CHECK(two[1].error[0] == '\0' && two[1].body.len > 0);
    CHECK(strstr(err.msg, "1 of 2 peers did not answer") != NULL && strstr(err.msg, "slow") != NULL);
    ursa_peer_calls_free(two, 2);

    /* A refused connection fails that call only. */
    ursa_peer_call_t calls[3] = {
        {.node = "up", .address = a1}, {.node = "down", .address = refused}, {.node = "up2", .address = a1}};
    rq = request("/echo", 5000, 1 << 20);
    t0 = mono_ms();
    CHECK_EQ_INT(ursa_peers_call(&rq, calls, 3, &err), URSA_EIO);
    CHECK(mono_ms() - t0 < 3000);
    CHECK_EQ_INT(calls[0].status, 200);
    CHECK_EQ_INT(calls[2].status, 200);
    CHECK_EQ_INT(calls[1].status, 0);
    CHECK(strstr(calls[1].error, refused) != NULL);
    CHECK(strstr(calls[1].error, "onnect") != NULL || strstr(calls[1].error, "efused") != NULL);
    CHECK(strstr(err.msg, "1 of 3") != NULL && strstr(err.msg, "down") != NULL);
    ursa_peer_calls_free(calls, 3);

    /* Answers past the bound, with a Content-Length and chunked. */
    const char *paths[] = {"/big", "/bigchunked"};
    for (size_t i = 0; i < 2; i++) {
        ursa_peer_call_t big[1] = {{.node = "big", .address = a1}};
        rq = request(paths[i], 5000, 1000);
        CHECK_EQ_INT(ursa_peers_call(&rq, big, 1, &err), URSA_EIO);
        CHECK_EQ_INT(big[0].status, 0);
        CHECK(big[0].body.len == 0);
        CHECK(strstr(big[0].error, "answered more than 1000 bytes") != NULL);
        ursa_peer_calls_free(big, 1);
        /* ... and whole within it. */
        rq = request(paths[i], 5000, BIG_BYTES);
        CHECK_EQ_INT(ursa_peers_call(&rq, big, 1, &err), URSA_OK);
        CHECK(big[0].status == 200 && big[0].body.len == BIG_BYTES);
        ursa_peer_calls_free(big, 1);
    }
    atomic_store(&release_slow, true);
    MHD_stop_daemon(d1);
    MHD_stop_daemon(d2);
}

typedef struct canceler {
    int64_t t0, cancel_at, last, max_gap;
    int polls;
} canceler_t;

static bool cancel_cb(void *ctx)
{
    canceler_t *k = ctx;
    int64_t now = mono_ms();
    if (k->polls++ && now - k->last > k->max_gap) k->max_gap = now - k->last;
    k->last = now;
    return k->cancel_at && now - k->t0 >= k->cancel_at;
}

TEST(call_cancel)
{
    char a1[64];
    struct MHD_Daemon *d1 = start_peer(a1, sizeof(a1), &slow_peer);
    ursa_err_t err = {0};
    atomic_store(&release_slow, false);
    ursa_peer_call_t calls[2] = {{.node = "s1", .address = a1}, {.node = "s2", .address = a1}};

    /* Polled at least every 100 ms while nothing happens. */
    canceler_t k = {mono_ms(), 0, 0, 0, 0};
    ursa_peers_request_t rq = request("/echo", 700, 1 << 20);
    rq.cancel = cancel_cb;
    rq.cancel_ctx = &k;
    CHECK_EQ_INT(ursa_peers_call(&rq, calls, 2, &err), URSA_EIO);
    CHECK(k.polls >= 5);
    if (k.max_gap > 200) fprintf(stderr, "  longest gap between polls: %lld ms\n", (long long)k.max_gap);
    CHECK(k.max_gap <= 200); /* 100 ms, and room for a loaded machine */
    ursa_peer_calls_free(calls, 2);

    /* Canceled after 200 ms: every call stops, well before the timeout. */
    k = (canceler_t){mono_ms(), 200, 0, 0, 0};
    rq.timeout_ms = 10000;
    CHECK_EQ_INT(ursa_peers_call(&rq, calls, 2, &err), URSA_ECANCELED);
    int64_t took = mono_ms() - k.t0;
    CHECK(took >= 200 && took < 1500);
    CHECK(calls[0].status == 0 && strstr(calls[0].error, "canceled") != NULL);
    CHECK(calls[1].status == 0 && strstr(calls[1].error, "canceled") != NULL);
    CHECK(strstr(err.msg, "canceled") != NULL);
    ursa_peer_calls_free(calls, 2);
    atomic_store(&release_slow, true);
    MHD_stop_daemon(d1);
}

TEST(call_bad_arguments)
{
    ursa_err_t err = {0};
    ursa_peer_call_t ok[1] = {{.node = "a", .address = "127.0.0.1:9"}};
    ursa_peer_call_t bad[1] = {{.node = "b", .address = "127.0.0.1:9/x?"}};
    ursa_peers_request_t rq = request("/echo", 1000, 100);
    CHECK_EQ_INT(ursa_peers_call(&rq, bad, 1, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "bad address") != NULL);
    rq = request("echo", 1000, 100);
    CHECK_EQ_INT(ursa_peers_call(&rq, ok, 1, &err), URSA_EINVAL);
    rq = request("/e cho", 1000, 100);
    CHECK_EQ_INT(ursa_peers_call(&rq, ok, 1, &err), URSA_EINVAL);
    rq = request("/echo", 0, 100);
    CHECK_EQ_INT(ursa_peers_call(&rq, ok, 1, &err), URSA_EINVAL);
    rq = request("/echo", 1000, 0);
    CHECK_EQ_INT(ursa_peers_call(&rq, ok, 1, &err), URSA_EINVAL);
    const char *split[] = {"X-A: 1\r\nX-B: 2"}, *nocolon[] = {"X-A"};
    rq = request("/echo", 1000, 100);
    rq.headers = split;
    CHECK_EQ_INT(ursa_peers_call(&rq, ok, 1, &err), URSA_EINVAL);
    rq.headers = nocolon;
    CHECK_EQ_INT(ursa_peers_call(&rq, ok, 1, &err), URSA_EINVAL);
}

int main(void)
{
    RUN(heartbeat_written_listed_refreshed_and_deleted);
    RUN(stale_after_its_interval);
    RUN(malformed_objects_skipped);
    RUN(failing_store_is_not_fatal);
    RUN(bad_settings);
    RUN(advertised_address);
    RUN(call_answers);
    RUN(call_timeout_refused_and_too_large);
    RUN(call_cancel);
    RUN(call_bad_arguments);
    return TEST_EXIT();
}
