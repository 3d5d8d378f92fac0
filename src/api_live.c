/*
 * api_live.c -- GET /v1/live: live queries over a WebSocket (RFC 6455).
 * The protocol, its bounds and its close codes: docs/internals/live.md.
 *
 * The idea. A client subscribes with SQL; the node runs the query, sends
 * the result, and runs it again whenever the rows it covers may have
 * changed, sending the result when it differs from the last one. Three
 * parts, one lock (hub.mu) over all their shared state:
 *
 *   the handshake  api_live_get checks the request and answers 101 through
 *                  libmicrohttpd's upgrade support; once the 101 is out,
 *                  libmicrohttpd hands the socket over (upgraded) and the
 *                  connection becomes the hub's.
 *   the I/O thread one poll(2) loop over every connection: reads frames
 *                  (api_wsframe.c), answers pings and closes, acts on the
 *                  client's messages, writes what is queued without ever
 *                  blocking, and keeps the timers (pings, idle, slow).
 *   the runner     one thread that runs the queries, one at a time with one
 *                  worker: however many subscribers, live queries take at
 *                  most one core from ingest and ordinary queries.
 *
 * When a query runs again: it is due (1 / rate seconds after its last run
 * began) and either its dataset's buffer took rows since (.appends,
 * read before the run, so rows that arrive during it count for the next),
 * or its last run read other nodes' buffers and a second has passed (their
 * rows are seen only by asking them), or LIVE_REFRESH_MS have passed (a
 * node that joined since; now()). A run's result also goes to every other
 * subscription of the same SQL that is due (they share runs). Queries are
 * exact at their point in time (query.h), so flushes and compactions
 * between runs change no answer.
 *
 * Invariants.
 *   - Memory per subscription is at most two results: the one being
 *     written (conn.out) and the newest waiting (sub.pending); a newer
 *     result replaces the waiting one and counts in `skipped`. A
 *     connection's other answers (notes) are bounded by LIVE_NOTES_MAX.
 *   - A frame, once begun, is written whole before any other (control
 *     frames wait for it), so the byte stream always stays valid.
 *   - A subscription running in the runner is not freed: unsubscribing or
 *     a closed connection marks it gone and the runner frees it; a
 *     connection is freed once no run holds it (refs).
 *
 * Failure cases. A client that stops reading: its results are coalesced,
 * and once a frame has made no progress for send_timeout, a close 1008 is
 * queued behind it; when even that is not written within send_timeout
 * more, the TCP connection is dropped. A client that breaks the protocol
 * gets the RFC's close code (api_wsframe.h). A client that vanishes is
 * found by its socket, or by silence past LIVE_IDLE_MS (pings are sent
 * after LIVE_PING_MS). Shutdown sends every connection 1001 and waits a
 * moment for those closes to be written.
 */
#include "api_live.h"

#include "api_query.h"
#include "api_wsframe.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define LIVE_MSG_MAX       (64u << 10) /* a client's message */
#define LIVE_ID_MAX        64
#define LIVE_PING_MS       30000 /* a ping after this long without a frame from the client */
#define LIVE_IDLE_MS       75000 /* closed (1001) after this long without one */
#define LIVE_REFRESH_MS    5000  /* a query runs again after this long anyway (now()) */
#define LIVE_PEER_POLL_MS  1000  /* ... or this long, when other nodes may have rows */
#define LIVE_CLOSE_WAIT_MS 2000  /* after our close, how long the client's is waited for */
#define LIVE_NOTES_MAX     (256u << 10)
#define LIVE_READ_CHUNK    (64u << 10)

enum { C_OPEN, C_CLOSING, C_DEAD };

typedef struct live_conn live_conn_t;

typedef struct live_sub {
    char id[LIVE_ID_MAX + 1];
    char *sql;
    double rate;       /* results a second at most */
    bool partial;      /* a node out of reach is left out (stats.missing), as in POST /v1/query */
    ursa_dataset_t *d; /* what it reads: known after its first run */
    int64_t last_run_ms;
    uint64_t seen_appends;
    uint64_t hash; /* of the last result computed (columns and rows), when have_hash */
    bool have_hash, ran, running, gone;
    bool cluster; /* its last run read other nodes' buffers */
    uint64_t seq, skipped;
    /* the newest result not yet written, or an error (a whole message) */
    ursa_buf_t pending;
    bool pending_is_error;
    live_conn_t *conn;
} live_sub_t;

struct live_conn {
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    int state;
    ws_msg_t msg;
    ursa_buf_t in;
    ursa_buf_t out; /* frames being written, from out_off */
    size_t out_off;
    bool out_has_close;
    int64_t out_since_ms; /* when what is in out began to wait */
    /* control frames and notes, written after out, before results */
    uint8_t pong[127];
    size_t pong_len; /* 0: none */
    bool ping_due, ping_sent;
    uint8_t close_frame[127];
    size_t close_len; /* 0: none queued */
    bool close_sent, peer_closed;
    bool broken; /* a protocol error: what else comes is not read as frames */
    bool fresh;  /* just upgraded: c->in may hold frames sent with the handshake */
    int64_t closing_since_ms;
    ursa_buf_t notes;
    live_sub_t **subs;
    size_t nsubs, rr;
    api_caller_t caller; /* its API key: every run is checked against the keys then loaded */
    int64_t last_rx_ms;
    unsigned refs; /* runs holding it */
    live_conn_t *next;
};

struct api_live {
    api_ctx_t *a;
    unsigned subs_max, subs_per_conn;
    double rate_max;
    size_t result_max;
    int64_t send_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake_fd;
    bool stop;
    live_conn_t *conns;
    unsigned nconns, nsubs;
    pthread_t io, runner;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(api_live_t *h)
{
    uint64_t one = 1;
    if (write(h->wake_fd, &one, sizeof(one)) < 0) { /* full: a wake-up is pending anyway */
    }
}

/* ---------------------------------------------------------------------------
 * Queueing (under mu)
 * ------------------------------------------------------------------------- */

static void sub_free(live_sub_t *s)
{
    ursa_free(s->sql);
    ursa_buf_free(&s->pending);
    ursa_free(s);
}

/* Ends the connection at once: no more frames. Its subscriptions go with it
 * (those running are freed by the runner); the connection itself is freed
 * by the I/O thread once no run holds it. */
static void conn_kill(api_live_t *h, live_conn_t *c)
{
    if (c->state == C_DEAD) return;
    c->state = C_DEAD;
    for (size_t i = 0; i < c->nsubs; i++) {
        live_sub_t *s = c->subs[i];
        h->nsubs--;
        if (s->running)
            s->gone = true;
        else
            sub_free(s);
    }
    c->nsubs = 0;
}

/* Queues a close frame (code and why; no payload for 1005, "none") behind
 * the frame being written, and stops sending anything else: notes and
 * waiting results are dropped. The connection ends once the client
 * answers, or after LIVE_CLOSE_WAIT_MS. */
static void conn_close(live_conn_t *c, uint16_t code, const char *why)
{
    size_t n = code == 1005 ? 0 : strlen(why);
    if (n > 123) n = 123;
    c->close_len = ws_frame_header(c->close_frame, true, WS_CLOSE, code == 1005 ? 0 : 2 + n);
    if (code != 1005) {
        c->close_frame[c->close_len++] = (uint8_t)(code >> 8);
        c->close_frame[c->close_len++] = (uint8_t)code;
        memcpy(c->close_frame + c->close_len, why, n);
        c->close_len += n;
    }
    c->state = C_CLOSING;
    c->closing_since_ms = now_ms();
    ursa_buf_free(&c->notes);
    for (size_t i = 0; i < c->nsubs; i++) ursa_buf_free(&c->subs[i]->pending);
}

/* The server ends an open connection: code and why (api_wsframe.h). */
static void conn_fail(api_live_t *h, live_conn_t *c, uint16_t code, const char *why)
{
    if (c->state != C_OPEN) return;
    conn_close(c, code, why);
    if (code == WS_CLOSE_POLICY) URSA_COUNT(live_closed_slow, 1);
}

/* Appends a whole text frame with msg to the connection's notes. */
static void conn_note(api_live_t *h, live_conn_t *c, const ursa_buf_t *msg)
{
    if (c->state != C_OPEN) return;
    if (c->notes.len + msg->len + 10 > LIVE_NOTES_MAX) {
        conn_fail(h, c, WS_CLOSE_POLICY, "too many answers unread: the client does not read");
        return;
    }
    uint8_t hdr[10];
    size_t hn = ws_frame_header(hdr, true, WS_TEXT, msg->len);
    if (ursa_buf_append(&c->notes, hdr, hn) || ursa_buf_append(&c->notes, msg->data, msg->len))
        conn_fail(h, c, WS_CLOSE_INTERNAL, "out of memory");
}

/* {"type":"error",["id":ID,]"status":S,"error":MSG[,"ended":E]} into b. */
static int error_msg(ursa_buf_t *b, const char *id, unsigned status, const char *msg, int ended)
{
    int rc = ursa_buf_printf(b, "{\"type\":\"error\",");
    if (rc == URSA_OK && id) {
        rc = ursa_buf_printf(b, "\"id\":");
        if (rc == URSA_OK) rc = ursa_buf_json_str(b, id, strlen(id));
        if (rc == URSA_OK) rc = ursa_buf_push(b, ',');
    }
    if (rc == URSA_OK) rc = ursa_buf_printf(b, "\"status\":%u,\"error\":", status);
    if (rc == URSA_OK) rc = ursa_buf_json_str(b, msg, strlen(msg));
    if (rc == URSA_OK && ended >= 0) rc = ursa_buf_printf(b, ",\"ended\":%s", ended ? "true" : "false");
    if (rc == URSA_OK) rc = ursa_buf_push(b, '}');
    return rc;
}

static void note_error(api_live_t *h, live_conn_t *c, const char *id, unsigned status, const char *msg,
                       int ended)
{
    ursa_buf_t b = {0};
    if (error_msg(&b, id, status, msg, ended))
        conn_fail(h, c, WS_CLOSE_INTERNAL, "out of memory");
    else
        conn_note(h, c, &b);
    ursa_buf_free(&b);
}

/* Moves what is due next into c->out: control frames, then notes, then the
 * subscriptions' waiting results in turn. False when nothing waits. */
static bool conn_refill(api_live_t *h, live_conn_t *c)
{
    c->out.len = c->out_off = 0;
    c->out_has_close = false;
    int rc = URSA_OK;
    if (c->pong_len) {
        rc = ursa_buf_append(&c->out, c->pong, c->pong_len);
        c->pong_len = 0;
    }
    if (rc == URSA_OK && c->ping_due) {
        uint8_t ping[10];
        size_t n = ws_frame_header(ping, true, WS_PING, 0);
        rc = ursa_buf_append(&c->out, ping, n);
        c->ping_due = false;
        c->ping_sent = true;
    }
    if (rc == URSA_OK && c->close_len && !c->close_sent) {
        rc = ursa_buf_append(&c->out, c->close_frame, c->close_len);
        c->out_has_close = true;
    }
    if (rc == URSA_OK && c->state == C_OPEN && c->notes.len) {
        rc = ursa_buf_append(&c->out, c->notes.data, c->notes.len);
        c->notes.len = 0;
    }
    for (size_t k = 0; rc == URSA_OK && c->state == C_OPEN && !c->out.len && k < c->nsubs; k++) {
        live_sub_t *s = c->subs[(c->rr + k) % c->nsubs];
        if (!s->pending.len) continue;
        c->rr = (c->rr + k + 1) % c->nsubs;
        ursa_buf_t head = {0};
        if (!s->pending_is_error) {
            rc = ursa_buf_printf(&head, "{\"type\":\"result\",\"id\":");
            if (rc == URSA_OK) rc = ursa_buf_json_str(&head, s->id, strlen(s->id));
            if (rc == URSA_OK)
                rc = ursa_buf_printf(&head, ",\"seq\":%llu,\"skipped\":%llu,\"result\":",
                                     (unsigned long long)s->seq + 1, (unsigned long long)s->skipped);
        }
        size_t len = head.len + s->pending.len + (s->pending_is_error ? 0 : 1);
        uint8_t hdr[10];
        size_t hn = ws_frame_header(hdr, true, WS_TEXT, len);
        if (rc == URSA_OK) rc = ursa_buf_reserve(&c->out, hn + len);
        if (rc == URSA_OK) {
            memcpy(c->out.data + c->out.len, hdr, hn);
            if (head.len) memcpy(c->out.data + c->out.len + hn, head.data, head.len); /* none for an error */
            memcpy(c->out.data + c->out.len + hn + head.len, s->pending.data, s->pending.len);
            c->out.len += hn + head.len + s->pending.len;
            if (!s->pending_is_error) {
                c->out.data[c->out.len++] = '}';
                s->seq++;
                s->skipped = 0;
                URSA_COUNT(live_results_sent, 1);
            }
            ursa_buf_free(&s->pending);
        }
        ursa_buf_free(&head);
    }
    if (rc) {
        c->out.len = 0;
        conn_kill(h, c); /* out of memory even for a close */
        return false;
    }
    if (c->out.len) c->out_since_ms = now_ms();
    return c->out.len > 0;
}

/* Writes what it can without blocking. */
static void conn_write(api_live_t *h, live_conn_t *c)
{
    while (c->state != C_DEAD) {
        if (c->out_off == c->out.len) {
            if (c->out_has_close) {
                c->close_sent = true;
                c->out_has_close = false;
                if (c->peer_closed) { /* the handshake is over: the server closes the TCP connection first */
                    conn_kill(h, c);
                    return;
                }
            }
            if (!conn_refill(h, c)) return;
        }
        ssize_t n =
            send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->out_since_ms = now_ms(); /* progress: the timeout counts from the last write */
            if (c->out_off == c->out.len) c->out_since_ms = 0;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        } else {
            conn_kill(h, c);
            return;
        }
    }
}

/* ---------------------------------------------------------------------------
 * The client's messages (under mu)
 * ------------------------------------------------------------------------- */

static live_sub_t *sub_find(live_conn_t *c, const char *id, size_t *at)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i]->id, id) == 0) {
            if (at) *at = i;
            return c->subs[i];
        }
    return NULL;
}

static bool id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e) return false;
    return n >= 1 && n <= LIVE_ID_MAX;
}

static void on_subscribe(api_live_t *h, live_conn_t *c, const char *id, json_t *m)
{
    json_t *sql = json_object_get(m, "sql"), *rate = json_object_get(m, "max_rate"),
           *partial = json_object_get(m, "partial");
    if (!json_is_string(sql) || !json_string_length(sql)) {
        note_error(h, c, id, 400, "subscribe needs \"sql\": a SELECT", 1);
        return;
    }
    if (rate && (!json_is_number(rate) || !(json_number_value(rate) > 0))) {
        note_error(h, c, id, 400, "max_rate must be a number of results a second, above 0", 1);
        return;
    }
    if (partial && !json_is_boolean(partial)) {
        note_error(h, c, id, 400, "partial must be true or false", 1);
        return;
    }
    if (sub_find(c, id, NULL)) {
        note_error(h, c, NULL, 400, "a subscription with this id is already on the connection", -1);
        return;
    }
    char msg[160];
    if (c->nsubs >= h->subs_per_conn) {
        snprintf(msg, sizeof(msg), "too many subscriptions on this connection (at most %u)",
                 h->subs_per_conn);
        note_error(h, c, id, 429, msg, 1);
        return;
    }
    if (h->nsubs >= h->subs_max) {
        snprintf(msg, sizeof(msg), "too many subscriptions on this server (at most %u)", h->subs_max);
        note_error(h, c, id, 429, msg, 1);
        return;
    }
    live_sub_t *s = ursa_calloc(1, sizeof(*s));
    live_sub_t **subs = s ? ursa_realloc(c->subs, (c->nsubs + 1) * sizeof(*subs)) : NULL;
    if (subs) c->subs = subs;
    if (!s || !subs || !(s->sql = ursa_strdup(json_string_value(sql)))) {
        ursa_free(s);
        note_error(h, c, id, 503, "out of memory", 1);
        return;
    }
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->rate = rate && json_number_value(rate) < h->rate_max ? json_number_value(rate) : h->rate_max;
    s->partial = json_is_true(partial);
    s->conn = c;
    c->subs[c->nsubs++] = s;
    h->nsubs++;
    pthread_cond_signal(&h->cv);
}

static void on_unsubscribe(api_live_t *h, live_conn_t *c, const char *id)
{
    size_t at;
    live_sub_t *s = sub_find(c, id, &at);
    if (!s) {
        note_error(h, c, id, 404, "no such subscription on this connection", -1);
        return;
    }
    c->subs[at] = c->subs[--c->nsubs];
    h->nsubs--;
    if (s->running)
        s->gone = true;
    else
        sub_free(s);
    ursa_buf_t b = {0};
    if (ursa_buf_printf(&b, "{\"type\":\"unsubscribed\",\"id\":") || ursa_buf_json_str(&b, id, strlen(id)) ||
        ursa_buf_push(&b, '}'))
        conn_fail(h, c, WS_CLOSE_INTERNAL, "out of memory");
    else
        conn_note(h, c, &b);
    ursa_buf_free(&b);
}

static void on_message(api_live_t *h, live_conn_t *c, const uint8_t *p, size_t n)
{
    json_error_t je;
    json_t *m = json_loadb((const char *)p, n, 0, &je);
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *id = json_string_value(json_object_get(m, "id"));
    char why[300];
    if (!json_is_object(m)) {
        snprintf(why, sizeof(why),
                 "messages are JSON objects: {\"type\": \"subscribe\", \"id\": ..., \"sql\": ...}%s%s",
                 m ? "" : "; this is not JSON: ", m ? "" : je.text);
        note_error(h, c, NULL, 400, why, -1);
    } else if (!type || (strcmp(type, "subscribe") && strcmp(type, "unsubscribe"))) {
        note_error(h, c, NULL, 400, "\"type\" must be \"subscribe\" or \"unsubscribe\"", -1);
    } else if (!id || !id_valid(id)) {
        note_error(h, c, NULL, 400, "\"id\" must be a string of 1 to 64 printable ASCII characters", -1);
    } else if (type[0] == 's') {
        on_subscribe(h, c, id, m);
    } else {
        on_unsubscribe(h, c, id);
    }
    json_decref(m);
}

/* Reads what the socket has (when recv_too; else only what is in c->in
 * already: the bytes that came with the handshake) and acts on every
 * whole frame. */
static void conn_read(api_live_t *h, live_conn_t *c, bool recv_too)
{
    while (recv_too) {
        if (ursa_buf_reserve(&c->in, LIVE_READ_CHUNK)) {
            conn_kill(h, c);
            return;
        }
        ssize_t n = recv(c->fd, c->in.data + c->in.len, LIVE_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->last_rx_ms = now_ms();
            if ((size_t)n == LIVE_READ_CHUNK && c->in.len < 4 * LIVE_MSG_MAX) continue;
            break;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        conn_kill(h, c); /* EOF or error: no close handshake to be had */
        return;
    }
    if (c->broken) { /* waiting for the close to be written: the rest is dropped */
        c->in.len = 0;
        return;
    }
    size_t off = 0;
    while (c->state != C_DEAD && off < c->in.len) {
        ws_frame_t f;
        size_t used;
        uint16_t code;
        const char *why;
        int r = ws_frame_parse(c->in.data + off, c->in.len - off, LIVE_MSG_MAX, &f, &used, &code, &why);
        if (r == WS_MORE) break;
        if (r == WS_BAD) {
            conn_fail(h, c, code, why);
            c->broken = true;
            break;
        }
        off += used;
        bool done, ctl;
        if (ws_msg_add(&c->msg, &f, &done, &ctl, &code, &why) != WS_FRAME) {
            conn_fail(h, c, code, why);
            c->broken = true;
            break;
        }
        if (ctl && f.opcode == WS_PING && c->state == C_OPEN) {
            c->pong_len = ws_frame_header(c->pong, true, WS_PONG, f.len);
            memcpy(c->pong + c->pong_len, f.payload, f.len);
            c->pong_len += f.len;
        } else if (ctl && f.opcode == WS_CLOSE) {
            c->peer_closed = true;
            if (c->state == C_OPEN) { /* echo its code (RFC 6455 5.5.1), with a reason */
                uint16_t pc;
                const char *reason;
                ws_close_payload(f.payload, f.len, &pc, &reason);
                conn_close(c, pc, "closed as the client asked");
            } else if (c->close_sent) {
                conn_kill(h, c);
            }
        } else if (done && c->state == C_OPEN) {
            if (c->msg.kind == WS_BINARY)
                conn_fail(h, c, 1003, "binary messages are not taken: send JSON as text");
            else
                on_message(h, c, c->msg.data.data, c->msg.data.len);
        }
    }
    if (off) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
    }
}

/* ---------------------------------------------------------------------------
 * The I/O thread
 * ------------------------------------------------------------------------- */

static bool conn_wants_write(const live_conn_t *c)
{
    if (c->out_off < c->out.len || c->pong_len || c->ping_due || (c->close_len && !c->close_sent))
        return true;
    if (c->state != C_OPEN) return false;
    if (c->notes.len) return true;
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->pending.len) return true;
    return false;
}

static void conn_timers(api_live_t *h, live_conn_t *c, int64_t now)
{
    if (c->state == C_DEAD) return;
    bool waiting = c->out_off < c->out.len && c->out_since_ms;
    if (c->state == C_OPEN) {
        if (waiting && now - c->out_since_ms > h->send_timeout_ms) {
            char why[100];
            snprintf(why, sizeof(why), "too slow: no byte of a result was taken for %lld ms",
                     (long long)h->send_timeout_ms);
            conn_fail(h, c, WS_CLOSE_POLICY, why);
        } else if (now - c->last_rx_ms > LIVE_IDLE_MS) {
            conn_fail(h, c, WS_CLOSE_GOING_AWAY, "nothing received for 75 s");
        } else if (now - c->last_rx_ms > LIVE_PING_MS && !c->ping_sent) {
            c->ping_due = true;
        }
        if (now - c->last_rx_ms <= LIVE_PING_MS) c->ping_sent = false;
        return;
    }
    /* closing: our close written and the client's awaited, or the close
     * itself stuck behind a frame the client does not read */
    int64_t limit = c->close_sent || h->stop ? LIVE_CLOSE_WAIT_MS : h->send_timeout_ms;
    if (now - c->closing_since_ms > limit) conn_kill(h, c);
}

/* Frees a connection that is in no list. */
static void conn_free_unlisted(live_conn_t *c)
{
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    ws_msg_free(&c->msg);
    ursa_buf_free(&c->in);
    ursa_buf_free(&c->out);
    ursa_buf_free(&c->notes);
    ursa_free(c->subs);
    OPENSSL_cleanse(&c->caller, sizeof(c->caller));
    ursa_free(c);
}

static void *io_main(void *arg)
{
    api_live_t *h = arg;
    struct pollfd *pf = NULL;
    live_conn_t **pc = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&h->mu);
    while (!h->stop || h->conns) {
        /* free the dead no run holds */
        for (live_conn_t **pp = &h->conns; *pp;) {
            live_conn_t *c = *pp;
            if (c->state == C_DEAD && !c->refs) {
                *pp = c->next;
                conn_free_unlisted(c);
                h->nconns--;
            } else {
                pp = &c->next;
            }
        }
        if (h->stop) { /* shutdown: every connection closed with 1001, briefly awaited (api_live_stop) */
            for (live_conn_t *c = h->conns; c; c = c->next)
                if (c->state == C_OPEN) conn_fail(h, c, WS_CLOSE_GOING_AWAY, "the server is shutting down");
        }
        size_t n = 1;
        for (live_conn_t *c = h->conns; c; c = c->next) n++;
        if (n > cap) {
            size_t nc = n * 2;
            struct pollfd *npf = ursa_realloc(pf, nc * sizeof(*npf));
            if (npf) pf = npf;
            live_conn_t **npc = npf ? ursa_realloc(pc, nc * sizeof(*npc)) : NULL;
            if (npc) pc = npc;
            if (!npf || !npc) { /* keep going with what fits */
                n = cap;
            } else {
                cap = nc;
            }
        }
        if (!cap) { /* out of memory for even one: try again shortly */
            pthread_mutex_unlock(&h->mu);
            usleep(10000);
            pthread_mutex_lock(&h->mu);
            continue;
        }
        pf[0] = (struct pollfd){h->wake_fd, POLLIN, 0};
        size_t k = 1;
        for (live_conn_t *c = h->conns; c && k < n; c = c->next) {
            if (c->state == C_DEAD) continue;
            pc[k] = c;
            pf[k++] = (struct pollfd){c->fd, (short)(POLLIN | (conn_wants_write(c) ? POLLOUT : 0)), 0};
        }
        pthread_mutex_unlock(&h->mu);
        int r = poll(pf, k, 250);
        pthread_mutex_lock(&h->mu);
        if (r > 0 && (pf[0].revents & POLLIN)) {
            uint64_t v;
            if (read(h->wake_fd, &v, sizeof(v)) < 0) { /* nothing to do */
            }
        }
        int64_t now = now_ms();
        for (size_t i = 1; i < k; i++) {
            live_conn_t *c = pc[i];
            if (r > 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                conn_read(h, c, true);
            else if (c->fresh)
                conn_read(h, c, false);
            c->fresh = false;
            conn_timers(h, c, now);
            if (c->state != C_DEAD && conn_wants_write(c)) conn_write(h, c);
        }
    }
    pthread_mutex_unlock(&h->mu);
    ursa_free(pf);
    ursa_free(pc);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * The runner
 * ------------------------------------------------------------------------- */

typedef struct run_ctx {
    api_live_t *h;
    live_sub_t *s;
} run_ctx_t;

static bool run_gone(void *ctx)
{
    run_ctx_t *rc = ctx;
    pthread_mutex_lock(&rc->h->mu);
    bool gone = rc->s->gone || rc->h->stop;
    pthread_mutex_unlock(&rc->h->mu);
    return gone;
}

/* Is s due to run now? Else how long until it may be (ms, for the wait). */
static bool sub_due(const api_live_t *h, const live_sub_t *s, int64_t now, int64_t *wait)
{
    if (s->running || s->conn->state != C_OPEN) return false;
    if (!s->ran) return true;
    int64_t next = s->last_run_ms + (int64_t)(1000.0 / s->rate);
    if (now < next) {
        if (next - now < *wait) *wait = next - now;
        return false;
    }
    if (s->d && atomic_load(&s->d->appends) != s->seen_appends) return true;
    if (s->cluster && now - s->last_run_ms >= LIVE_PEER_POLL_MS) return true;
    return now - s->last_run_ms >= LIVE_REFRESH_MS;
}

/* A result for s (taken from *out): waits to be sent unless it is the
 * same as the last one. */
static void sub_offer(live_sub_t *s, ursa_buf_t *out, uint64_t hash)
{
    if (s->have_hash && hash == s->hash) {
        ursa_buf_free(out);
        return;
    }
    if (s->pending.len && !s->pending_is_error) {
        s->skipped++;
        URSA_COUNT(live_results_coalesced, 1);
    }
    ursa_buf_free(&s->pending);
    s->pending = *out;
    *out = (ursa_buf_t){0};
    s->pending_is_error = false;
    s->hash = hash;
    s->have_hash = true;
}

/* Runs s's query (without the lock) and leaves its answer in s. */
static void run_one(api_live_t *h, live_sub_t *s)
{
    api_ctx_t *a = h->a;
    run_ctx_t gone = {h, s};
    query_opts_t qo = {.cat = a->cat,
                       .store = a->cat->store,
                       .node = a->cat->node,
                       .memory_limit = a->o.query_memory ? a->o.query_memory : QUERY_MEMORY_DEFAULT,
                       .timeout_ms = a->o.query_timeout_ms,
                       .gone = run_gone,
                       .gone_ctx = &gone,
                       .peers = a->o.peers,
                       .partial = s->partial,
                       .threads = 1};
    api_caller_query(&s->conn->caller, &qo); /* a key removed since (SIGHUP) fails the run: 401, ended */
    ursa_err_t err = {0};
    int rc = URSA_OK;
    int64_t started = now_ms(); /* the rate counts from run start to run start */
    if (!s->d) rc = query_source(s->sql, &qo, &s->d, &err);
    uint64_t appends = s->d ? atomic_load(&s->d->appends) : 0;
    exec_stats_t st = {0};
    ursa_buf_t out = {0};
    size_t rows_end = 0;
    if (rc == URSA_OK)
        rc = api_query_collect(s->sql, &qo, QUERY_FMT_JSON, h->result_max, "--live-result-max", &out,
                               &rows_end, &st, &err);
    uint64_t hash = XXH3_64bits(out.data, rows_end); /* the columns and rows, not the stats */

    pthread_mutex_lock(&h->mu);
    s->seen_appends = appends;
    s->cluster = st.nodes > 1;
    s->last_run_ms = started;
    s->ran = true;
    if (s->gone || rc == URSA_ECANCELED) {
        ursa_buf_free(&out);
        return;
    }
    live_conn_t *c = s->conn;
    if (rc) {
        unsigned status = api_query_status(rc, &err);
        bool ended = status < 500 && status != MHD_HTTP_REQUEST_TIMEOUT;
        const char *msg = err.msg[0] ? err.msg : ursa_strstatus(rc);
        if (ended) { /* the subscription is over: the error is a note, the subscription goes */
            note_error(h, c, s->id, status, msg, 1);
            size_t at;
            if (sub_find(c, s->id, &at) == s) {
                c->subs[at] = c->subs[--c->nsubs];
                h->nsubs--;
                s->gone = true; /* freed by the caller */
            }
        } else { /* kept: the error waits in place of a result */
            ursa_buf_free(&s->pending);
            s->pending_is_error = true;
            if (error_msg(&s->pending, s->id, status, msg, 0))
                conn_fail(h, c, WS_CLOSE_INTERNAL, "out of memory");
            s->have_hash = false; /* the next result is sent, even if the same as the last */
        }
        ursa_buf_free(&out);
    } else {
        /* The same query subscribed elsewhere (a chart many people watch)
         * takes this result instead of a run of its own, once it is due:
         * the result is newer than its last, so exact for it too. */
        for (live_conn_t *oc = h->conns; oc; oc = oc->next)
            for (size_t i = 0; i < oc->nsubs; i++) {
                live_sub_t *t = oc->subs[i];
                if (t == s || t->running || oc->state != C_OPEN || t->partial != s->partial ||
                    strcmp(t->sql, s->sql) != 0 ||
                    (t->ran && started < t->last_run_ms + (int64_t)(1000.0 / t->rate)))
                    continue;
                /* another connection's key must be allowed to read it too */
                if (oc != c &&
                    !api_may(&oc->caller, API_SCOPE_QUERY, s->d->parent ? s->d->parent->name : s->d->name))
                    continue;
                ursa_buf_t copy = {0};
                if (ursa_buf_append(&copy, out.data, out.len)) continue; /* it runs on its own instead */
                t->d = s->d;
                t->seen_appends = appends;
                t->cluster = s->cluster;
                t->last_run_ms = started;
                t->ran = true;
                sub_offer(t, &copy, hash);
                URSA_COUNT(live_runs_shared, 1);
            }
        sub_offer(s, &out, hash);
    }
    wake(h);
}

static void *runner_main(void *arg)
{
    api_live_t *h = arg;
    ursa_thread_background();
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        int64_t now = now_ms(), wait = 10; /* appends are polled: at most this late (a scan of <= 64) */
        live_sub_t *pick = NULL;
        int64_t oldest = INT64_MAX;
        for (live_conn_t *c = h->conns; c; c = c->next)
            for (size_t i = 0; i < c->nsubs; i++) {
                live_sub_t *s = c->subs[i];
                if (sub_due(h, s, now, &wait) && (s->ran ? s->last_run_ms : INT64_MIN) < oldest) {
                    pick = s;
                    oldest = s->ran ? s->last_run_ms : INT64_MIN;
                }
            }
        if (!pick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)wait * 1000000;
            ts.tv_sec += ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
            continue;
        }
        pick->running = true;
        pick->conn->refs++;
        pthread_mutex_unlock(&h->mu);
        run_one(h, pick); /* returns with the lock held */
        pick->running = false;
        pick->conn->refs--;
        if (pick->gone) sub_free(pick);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * The handshake
 * ------------------------------------------------------------------------- */

/* Whether a comma-separated header value lists token (any case). */
static bool has_token(const char *v, const char *token)
{
    size_t n = strlen(token);
    while (v && *v) {
        v += strspn(v, " \t,");
        size_t len = strcspn(v, ",");
        size_t e = len;
        while (e && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e == n && strncasecmp(v, token, n) == 0) return true;
        v += len;
    }
    return false;
}

/* Whether a browser page of origin may open a live socket on this node.
 * A WebSocket is not bound by the same-origin policy that keeps other
 * sites from reading this node's answers through fetch (RFC 6455 10.2):
 * without this check any page a user visits could subscribe to a node
 * on their machine or network and read its data. Browsers always send
 * Origin; clients that are not browsers usually send none and pass. The
 * node's own origin is the one whose host[:port] is the Host header (a
 * gateway must pass Host on, as tests/integration/gateway.mjs does). */
static bool origin_allowed(const char *origin, const char *host, const char *allow)
{
    if (!origin) return true;
    const char *sep = strstr(origin, "://");
    if (sep && host && strcasecmp(sep + 3, host) == 0) return true;
    for (const char *p = allow; p && *p;) {
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ') n--;
        if ((n == 1 && *p == '*') || (n == strlen(origin) && strncasecmp(p, origin, n) == 0)) return true;
        p += strcspn(p, ",");
        p += strspn(p, ", ");
    }
    return false;
}

/* A Sec-WebSocket-Key: 16 bytes in base64, 24 characters (RFC 6455 4.1). */
static bool key_valid(const char *k)
{
    if (!k || strlen(k) != 24 || strcmp(k + 22, "==") != 0) return false;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 22; i++)
        if (!strchr(b64, k[i]) || !k[i]) return false;
    return strchr("AQgw", k[21]) != NULL; /* the last 4 bits of 16 bytes are zero */
}

static void upgraded(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra_in,
                     size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    api_live_t *h = cls;
    live_conn_t *c = ursa_calloc(1, sizeof(*c));
    if (!c || (extra_in_size && ursa_buf_append(&c->in, extra_in, extra_in_size))) {
        if (c) ursa_buf_free(&c->in);
        ursa_free(c);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    int fl = fcntl(sock, F_GETFL);
    if (fl >= 0) fcntl(sock, F_SETFL, fl | O_NONBLOCK);
    c->fd = sock;
    c->urh = urh;
    c->last_rx_ms = now_ms();
    c->fresh = true;
    const api_req_t *q = con_cls;
    if (q) c->caller = q->caller;
    ws_msg_init(&c->msg, LIVE_MSG_MAX);
    pthread_mutex_lock(&h->mu);
    bool stopping = h->stop; /* then the I/O thread may be gone */
    if (!stopping) {
        c->next = h->conns;
        h->conns = c;
        h->nconns++;
    }
    pthread_mutex_unlock(&h->mu);
    if (stopping) {
        conn_free_unlisted(c);
        return;
    }
    wake(h); /* extra_in may hold frames already */
}

enum MHD_Result api_live_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    /* a 426 names what to upgrade to; Upgrade is hop by hop (RFC 9110 7.8) */
    static const char *const upgrade[] = {MHD_HTTP_HEADER_UPGRADE, "websocket", MHD_HTTP_HEADER_CONNECTION,
                                          "Upgrade", NULL};
    static const char *const version[] = {"Sec-WebSocket-Version", "13", MHD_HTTP_HEADER_CONNECTION,
                                          "Upgrade", NULL};
    if (!a->live) return api_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "live queries are off");
    if (q->head || !q->http11) /* RFC 6455 4.1: a GET, HTTP/1.1 or later */
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "a WebSocket opens with GET over HTTP/1.1");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!origin_allowed(origin, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
                        a->o.live_origins))
        return api_send_error(
            c, MHD_HTTP_FORBIDDEN,
            "a page of another origin may not open /v1/live (allow it with --live-allow-origin)");
    if (!has_token(up, "websocket") || !has_token(conn, "upgrade"))
        return api_send_error_headers(c, MHD_HTTP_UPGRADE_REQUIRED,
                                      "GET /v1/live is a WebSocket: send Upgrade: websocket and Connection: "
                                      "Upgrade (docs/internals/live.md)",
                                      upgrade);
    if (!ver || strcmp(ver, "13") != 0)
        return api_send_error_headers(c, MHD_HTTP_UPGRADE_REQUIRED, "Sec-WebSocket-Version must be 13",
                                      version);
    char accept[29];
    if (!key_valid(key) || ws_accept_key(key, accept) != URSA_OK)
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "Sec-WebSocket-Key must be 16 bytes in base64");
    struct MHD_Response *r = MHD_create_response_for_upgrade(upgraded, a->live);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    /* A browser that offers subprotocols (the key comes as one) fails the
     * connection unless one is chosen: ursa.v1 is the protocol of
     * docs/internals/live.md. */
    if (has_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"), "ursa.v1"))
        MHD_add_response_header(r, "Sec-WebSocket-Protocol", "ursa.v1");
    enum MHD_Result ret = api_queue(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---------------------------------------------------------------------------
 * Life
 * ------------------------------------------------------------------------- */

int api_live_start(api_live_t **out, api_ctx_t *a, ursa_err_t *err)
{
    api_live_t *h = ursa_calloc(1, sizeof(*h));
    if (!h) return URSA_ENOMEM;
    h->a = a;
    h->subs_max = a->o.live_subscriptions ? a->o.live_subscriptions : 64;
    h->subs_per_conn = a->o.live_subscriptions_per_connection ? a->o.live_subscriptions_per_connection : 8;
    h->rate_max = a->o.live_max_rate > 0 ? a->o.live_max_rate : 4;
    h->result_max = a->o.live_result_max ? a->o.live_result_max : (size_t)1 << 20;
    h->send_timeout_ms = a->o.live_send_timeout_ms ? a->o.live_send_timeout_ms : 10000;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->wake_fd < 0) {
        ursa_free(h);
        return ursa_err_set(err, URSA_EIO, "eventfd: %s", strerror(errno));
    }
    if (pthread_create(&h->io, NULL, io_main, h)) {
        close(h->wake_fd);
        ursa_free(h);
        return ursa_err_set(err, URSA_EIO, "cannot start the live I/O thread");
    }
    if (pthread_create(&h->runner, NULL, runner_main, h)) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_mutex_unlock(&h->mu);
        wake(h);
        pthread_join(h->io, NULL);
        close(h->wake_fd);
        ursa_free(h);
        return ursa_err_set(err, URSA_EIO, "cannot start the live query thread");
    }
    *out = h;
    return URSA_OK;
}

void api_live_stop(api_live_t **hp)
{
    api_live_t *h = *hp;
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->runner, NULL); /* its query sees stop (run_gone) */
    wake(h);
    /* the I/O thread sends every connection 1001 and ends once they are
     * all closed: by the clients' answers, or at LIVE_CLOSE_WAIT_MS */
    pthread_join(h->io, NULL);
    close(h->wake_fd);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    ursa_free(h);
    *hp = NULL;
}

void api_live_counts(api_live_t *h, unsigned *conns, unsigned *subs)
{
    *conns = *subs = 0;
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    *conns = h->nconns;
    *subs = h->nsubs;
    pthread_mutex_unlock(&h->mu);
}
