/*
 * api_wsframe.c -- RFC 6455 framing (see api_wsframe.h).
 *
 * Frames are read from the caller's buffer in one pass: the header (2 to
 * 14 bytes: flags and opcode, the mask bit and a 7-bit length, then a 16-
 * or 64-bit length, then the 4-byte mask) is checked before any payload
 * byte is looked at, so a frame that is refused is refused as soon as its
 * header is in, and a frame declaring more than the limit is refused
 * before its payload arrives. The payload is unmasked where it lies (XOR
 * with the mask, byte i with mask[i % 4]).
 *
 * Messages: a data frame with FIN clear begins one, continuations add to
 * it, the one with FIN set ends it; control frames may come between and
 * are handed back at once. The size limit is checked on every fragment,
 * UTF-8 once the text message is whole (a character may be split between
 * fragments).
 */
#include "api_wsframe.h"

#include <openssl/evp.h>
#include <string.h>
#include <unistr.h>

#define BAD(c, w) (*code = (c), *why = (w), WS_BAD)

int ws_frame_parse(uint8_t *p, size_t n, uint64_t max_payload, ws_frame_t *f, size_t *used, uint16_t *code,
                   const char **why)
{
    *used = 0;
    if (n < 2) return WS_MORE;
    bool fin = p[0] & 0x80, masked = p[1] & 0x80;
    int op = p[0] & 0x0f;
    uint64_t len = p[1] & 0x7f;
    size_t at = 2;
    if (p[0] & 0x70) return BAD(WS_CLOSE_PROTOCOL, "reserved bits set (no extension was agreed)");
    if (op != WS_CONT && op != WS_TEXT && op != WS_BINARY && op != WS_CLOSE && op != WS_PING && op != WS_PONG)
        return BAD(WS_CLOSE_PROTOCOL, "unknown opcode");
    if (!masked) return BAD(WS_CLOSE_PROTOCOL, "a client frame must be masked");
    if (op >= WS_CLOSE && (!fin || len > 125))
        return BAD(WS_CLOSE_PROTOCOL, !fin ? "a fragmented control frame" : "a control frame over 125 bytes");
    if (len == 126) {
        if (n < 4) return WS_MORE;
        len = (uint64_t)p[2] << 8 | p[3];
        at = 4;
    } else if (len == 127) {
        if (n < 10) return WS_MORE;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
        if (len >> 63) return BAD(WS_CLOSE_PROTOCOL, "a 64-bit length with its top bit set");
        at = 10;
    }
    if (len > max_payload) return BAD(WS_CLOSE_TOO_BIG, "a frame larger than the limit");
    if (n - at < 4 || n - at - 4 < len) return WS_MORE;
    const uint8_t *mask = p + at;
    uint8_t *pl = p + at + 4;
    for (uint64_t i = 0; i < len; i++) pl[i] ^= mask[i & 3];
    *f = (ws_frame_t){fin, op, pl, len};
    *used = at + 4 + (size_t)len;
    return WS_FRAME;
}

size_t ws_frame_header(uint8_t out[10], bool fin, int opcode, uint64_t len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126, out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

bool ws_close_payload(const uint8_t *p, uint64_t n, uint16_t *code, const char **why)
{
    *why = "";
    if (n == 0) {
        *code = 1005; /* no status: the peer sent none */
        return true;
    }
    if (n == 1) {
        *code = WS_CLOSE_PROTOCOL, *why = "a close payload of one byte";
        return false;
    }
    uint16_t c = (uint16_t)(p[0] << 8 | p[1]);
    /* 7.4.1: what may be sent -- 1000-1003, 1007-1011 (1004-1006 and 1015
     * are reserved, 1012-1014 are sent by servers), 3000-4999 */
    bool ok = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
    if (!ok) {
        *code = WS_CLOSE_PROTOCOL, *why = "a close code a peer may not send";
        return false;
    }
    if (n > 2 && u8_check(p + 2, (size_t)(n - 2))) {
        *code = WS_CLOSE_NOT_UTF8, *why = "a close reason that is not UTF-8";
        return false;
    }
    *code = c;
    return true;
}

void ws_msg_init(ws_msg_t *m, uint64_t max)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
}

void ws_msg_free(ws_msg_t *m)
{
    ursa_buf_free(&m->data);
    m->open = m->kind = 0;
}

int ws_msg_add(ws_msg_t *m, const ws_frame_t *f, bool *done, bool *ctl, uint16_t *code, const char **why)
{
    *done = *ctl = false;
    if (f->opcode >= WS_CLOSE) {
        *ctl = true;
        if (f->opcode == WS_CLOSE) {
            uint16_t c;
            if (!ws_close_payload(f->payload, f->len, &c, why)) return *code = c, WS_BAD;
        }
        return WS_FRAME;
    }
    if (f->opcode == WS_CONT) {
        if (!m->open) return BAD(WS_CLOSE_PROTOCOL, "a continuation frame with no message begun");
    } else {
        if (m->open) return BAD(WS_CLOSE_PROTOCOL, "a new message before the last one ended");
        m->open = f->opcode;
        m->data.len = 0;
    }
    if (f->len > m->max - m->data.len) return BAD(WS_CLOSE_TOO_BIG, "a message larger than the limit");
    if (f->len && ursa_buf_append(&m->data, f->payload, (size_t)f->len))
        return BAD(WS_CLOSE_INTERNAL, "out of memory");
    if (!f->fin) return WS_FRAME;
    m->kind = m->open, m->open = 0;
    if (m->kind == WS_TEXT && m->data.len && u8_check(m->data.data, m->data.len))
        return BAD(WS_CLOSE_NOT_UTF8, "a text message that is not UTF-8");
    *done = true;
    return WS_FRAME;
}

int ws_accept_key(const char *key, char out[29])
{
    static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    size_t k = strlen(key);
    if (k > 256) return URSA_EINVAL;
    char buf[256 + sizeof(GUID)];
    memcpy(buf, key, k);
    memcpy(buf + k, GUID, sizeof(GUID) - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(buf, k + sizeof(GUID) - 1, md, &len, EVP_sha1(), NULL) || len != 20)
        return URSA_EINTERNAL;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return URSA_OK;
}
