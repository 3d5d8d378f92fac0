/*
 * api_wsframe.h -- WebSocket (RFC 6455) framing for GET /v1/live: a
 * client's frames read and checked, messages put together from their
 * fragments, the server's frames written, the handshake's accept key.
 * No I/O: bytes in, frames and messages out; the caller owns the buffers.
 *
 * What is refused, with the close code the RFC names (a reason beside it):
 *   1002 a frame the client did not mask (5.1), reserved bits set without
 *        an extension (5.2), an unknown opcode, a control frame that is
 *        fragmented or carries more than 125 bytes (5.5), a 64-bit length
 *        with its top bit set (5.2); a continuation with no message begun,
 *        a data frame while one is being put together (5.4); a close
 *        payload of 1 byte or a code a peer may not send (7.4). A length
 *        not in its shortest form is taken: the RFC asks it of senders.
 *   1007 a text message, or a close reason, that is not UTF-8 (8.1)
 *   1009 a frame or a message larger than the caller's limit
 */
#ifndef URSA_API_WSFRAME_H
#define URSA_API_WSFRAME_H

#include "common.h"

#include <stdbool.h>
#include <stdint.h>

enum { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BINARY = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xA };
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_NOT_UTF8 = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011
};

/* What ws_frame_parse() says. */
enum { WS_FRAME = 0, WS_MORE = 1, WS_BAD = 2 };

typedef struct ws_frame {
    bool fin;
    int opcode;
    uint8_t *payload; /* len bytes, unmasked in place in the caller's buffer */
    uint64_t len;
} ws_frame_t;

/*
 * Reads one client frame at p[0..n). WS_FRAME: *f is it, *used the bytes
 * it took, its payload unmasked where it lies. WS_MORE: p holds less than
 * a whole frame (nothing is changed; call again with more). WS_BAD: the
 * frame breaks the RFC or max_payload; *code and *why say how (why is a
 * static string). Masked frames only: this is the server's side.
 */
int ws_frame_parse(uint8_t *p, size_t n, uint64_t max_payload, ws_frame_t *f, size_t *used, uint16_t *code,
                   const char **why);

/* Writes the header of an unmasked server frame into out (at most 10
 * bytes); returns its length. */
size_t ws_frame_header(uint8_t out[10], bool fin, int opcode, uint64_t len);

/*
 * A message put together from a client's frames. ws_msg_add() takes each
 * frame ws_frame_parse() gave, in order: control frames (which may come
 * between a message's fragments) come back at once as *ctl; a data
 * message comes back whole in m->data once its last fragment is in
 * (*done). Either, or neither (a fragment was kept), or an error.
 */
typedef struct ws_msg {
    int open;        /* WS_TEXT or WS_BINARY: a message is being put together; 0: none */
    int kind;        /* WS_TEXT or WS_BINARY: the message that came back whole */
    ursa_buf_t data; /* its bytes (until the next data frame) */
    uint64_t max;    /* the largest message taken */
} ws_msg_t;

void ws_msg_init(ws_msg_t *m, uint64_t max);
void ws_msg_free(ws_msg_t *m);
/* WS_FRAME when the frame was taken: *done (a whole message in m->data,
 * m->kind its kind, until the next data frame) or *ctl (f is a control frame
 * to act on: its close payload checked); WS_BAD with *code and *why. */
int ws_msg_add(ws_msg_t *m, const ws_frame_t *f, bool *done, bool *ctl, uint16_t *code, const char **why);

/* The close code and reason of a close frame's payload (1005 and "" for
 * an empty one); false when the payload is not a valid close (1 byte, a
 * code a peer may not send, a reason not UTF-8: *code says which). */
bool ws_close_payload(const uint8_t *p, uint64_t n, uint16_t *code, const char **why);

/* The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key:
 * base64(SHA-1(key + the RFC's GUID)), 28 characters and a NUL. */
int ws_accept_key(const char *key, char out[29]) URSA_MUST_CHECK;

#endif
