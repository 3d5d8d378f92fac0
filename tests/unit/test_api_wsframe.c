/*
 * test_api_wsframe.c -- RFC 6455 framing (api_wsframe): the RFC's own
 * examples (5.7: "Hello" masked, fragmented, a ping, 256 bytes and 64 KiB
 * lengths; 1.3: the accept key), frames cut at every byte (WS_MORE until
 * whole), every refusal with its close code (unmasked, reserved bits,
 * unknown opcode, fragmented or long control frames, a 64-bit length with
 * its top bit, over the limit, continuation without a message, a message
 * inside a message, bad close payloads, text that is not UTF-8 -- also
 * split inside a character across fragments, which is fine), and server
 * frame headers of each length form.
 */
#include "api_wsframe.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* A client frame of payload p[0..n) with the given mask. */
static size_t client_frame(uint8_t *out, bool fin, int op, const void *p, size_t n, const uint8_t mask[4])
{
    size_t h = ws_frame_header(out, fin, op, n);
    out[1] |= 0x80;
    memcpy(out + h, mask, 4);
    for (size_t i = 0; i < n; i++) out[h + 4 + i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
    return h + 4 + n;
}

TEST(rfc_examples)
{
    /* 5.7: a masked text frame "Hello" */
    uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_frame_t f;
    size_t used;
    uint16_t code;
    const char *why;
    CHECK_EQ_INT(ws_frame_parse(masked, sizeof(masked), 1 << 20, &f, &used, &code, &why), WS_FRAME);
    CHECK_EQ_INT(used, sizeof(masked));
    CHECK(f.fin && f.opcode == WS_TEXT && f.len == 5 && memcmp(f.payload, "Hello", 5) == 0);
    /* ... the same unmasked: a server's, refused from a client */
    uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK_EQ_INT(ws_frame_parse(unmasked, sizeof(unmasked), 1 << 20, &f, &used, &code, &why), WS_BAD);
    CHECK_EQ_INT(code, WS_CLOSE_PROTOCOL);
    /* the server's header for it */
    uint8_t h[10];
    CHECK_EQ_INT(ws_frame_header(h, true, WS_TEXT, 5), 2);
    CHECK(h[0] == 0x81 && h[1] == 0x05);
    /* 256 bytes and 64 KiB: 16- and 64-bit lengths */
    CHECK_EQ_INT(ws_frame_header(h, true, WS_BINARY, 256), 4);
    CHECK(h[0] == 0x82 && h[1] == 0x7e && h[2] == 0x01 && h[3] == 0x00);
    CHECK_EQ_INT(ws_frame_header(h, true, WS_BINARY, 65536), 10);
    CHECK(h[1] == 0x7f && h[2] == 0 && h[7] == 0x01 && h[8] == 0 && h[9] == 0);
    /* 1.3: the accept key */
    char acc[29];
    CHECK_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc), URSA_OK);
    CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

/* Every cut of a 64 KiB frame before its end is WS_MORE and changes nothing. */
TEST(cut_anywhere)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    size_t n = 70000;
    uint8_t *p = malloc(n), *buf = malloc(n + 14), *copy = malloc(n + 14);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7);
    size_t len = client_frame(buf, true, WS_BINARY, p, n, mask);
    CHECK_EQ_INT(len, n + 14);
    memcpy(copy, buf, len);
    ws_frame_t f;
    size_t used;
    uint16_t code;
    const char *why;
    for (size_t k = 0; k < len; k += (k < 20 ? 1 : 997)) {
        CHECK_EQ_INT(ws_frame_parse(buf, k, 1 << 20, &f, &used, &code, &why), WS_MORE);
        CHECK_EQ_INT(used, 0);
    }
    CHECK(memcmp(buf, copy, len) == 0);
    CHECK_EQ_INT(ws_frame_parse(buf, len, 1 << 20, &f, &used, &code, &why), WS_FRAME);
    CHECK(used == len && f.len == n && memcmp(f.payload, p, n) == 0);
    /* over the limit: refused from its header alone */
    memcpy(buf, copy, 14);
    CHECK_EQ_INT(ws_frame_parse(buf, 14, 1000, &f, &used, &code, &why), WS_BAD);
    CHECK_EQ_INT(code, WS_CLOSE_TOO_BIG);
    free(p), free(buf), free(copy);
}

TEST(refusals)
{
    static const uint8_t mask[4] = {9, 8, 7, 6};
    uint8_t b[300];
    ws_frame_t f;
    size_t used;
    uint16_t code;
    const char *why;
    size_t n = client_frame(b, true, WS_TEXT, "x", 1, mask);
    b[0] |= 0x40; /* RSV1 */
    CHECK(ws_frame_parse(b, n, 100, &f, &used, &code, &why) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    n = client_frame(b, true, 0x3, "x", 1, mask); /* a reserved data opcode */
    CHECK(ws_frame_parse(b, n, 100, &f, &used, &code, &why) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    n = client_frame(b, false, WS_PING, "x", 1, mask); /* a fragmented control frame */
    CHECK(ws_frame_parse(b, n, 100, &f, &used, &code, &why) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    uint8_t big[126];
    memset(big, 'p', sizeof(big));
    n = client_frame(b, true, WS_PING, big, 126, mask); /* a control frame over 125 bytes */
    CHECK(ws_frame_parse(b, n, 1000, &f, &used, &code, &why) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    n = client_frame(b, true, WS_PING, big, 125, mask); /* 125: fine */
    CHECK(ws_frame_parse(b, n, 1000, &f, &used, &code, &why) == WS_FRAME && f.len == 125);
    uint8_t top[14] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}; /* 64-bit length, top bit set */
    CHECK(ws_frame_parse(top, sizeof(top), UINT64_MAX, &f, &used, &code, &why) == WS_BAD &&
          code == WS_CLOSE_PROTOCOL);
}

/* Messages from fragments, control frames between them, and what breaks them. */
TEST(messages)
{
    static const uint8_t mask[4] = {0xa, 0xb, 0xc, 0xd};
    ws_msg_t m;
    ws_msg_init(&m, 64);
    uint8_t b[200];
    ws_frame_t f;
    size_t used;
    uint16_t code;
    const char *why;
    bool done, ctl;
#define FEED(fin, op, s, n)                                                 \
    (client_frame(b, fin, op, s, n, mask),                                  \
     ws_frame_parse(b, sizeof(b), 1000, &f, &used, &code, &why) == WS_FRAME \
         ? ws_msg_add(&m, &f, &done, &ctl, &code, &why)                     \
         : -1)
    /* 5.7: "Hel" then "lo", and a ping between them; "é" split inside the character */
    CHECK(FEED(false, WS_TEXT, "Hel", 3) == WS_FRAME && !done && !ctl);
    CHECK(FEED(true, WS_PING, "hi", 2) == WS_FRAME && ctl && !done);
    CHECK(FEED(false, WS_CONT, "lo \xc3", 4) == WS_FRAME && !done);
    CHECK(FEED(false, WS_CONT, "", 0) == WS_FRAME && !done);
    CHECK(FEED(true, WS_CONT, "\xa9", 1) == WS_FRAME && done && m.kind == WS_TEXT);
    CHECK(m.data.len == 8 && memcmp(m.data.data, "Hello \xc3\xa9", 8) == 0);
    /* a continuation with no message begun */
    CHECK(FEED(true, WS_CONT, "x", 1) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    /* a new message inside one */
    CHECK(FEED(false, WS_BINARY, "a", 1) == WS_FRAME);
    CHECK(FEED(true, WS_TEXT, "b", 1) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    ws_msg_free(&m);
    ws_msg_init(&m, 64);
    /* text that is not UTF-8; over the limit across fragments */
    CHECK(FEED(true, WS_TEXT, "\xc3(", 2) == WS_BAD && code == WS_CLOSE_NOT_UTF8);
    char forty[40];
    memset(forty, 'z', sizeof(forty));
    CHECK(FEED(false, WS_BINARY, forty, 40) == WS_FRAME);
    CHECK(FEED(true, WS_CONT, forty, 40) == WS_BAD && code == WS_CLOSE_TOO_BIG);
    ws_msg_free(&m);
    ws_msg_init(&m, 64);
    /* close payloads: none, a code and a reason, one byte, a reserved code, a reason not UTF-8 */
    CHECK(FEED(true, WS_CLOSE, "", 0) == WS_FRAME && ctl);
    CHECK(FEED(true, WS_CLOSE,
               "\x03\xe8"
               "bye",
               5) == WS_FRAME &&
          ctl);
    CHECK(FEED(true, WS_CLOSE, "\x03", 1) == WS_BAD && code == WS_CLOSE_PROTOCOL);
    CHECK(FEED(true, WS_CLOSE, "\x03\xed", 2) == WS_BAD && code == WS_CLOSE_PROTOCOL); /* 1005 */
    CHECK(FEED(true, WS_CLOSE, "\x0f\xa0", 2) == WS_FRAME);                            /* 4000 */
    CHECK(FEED(true, WS_CLOSE, "\x03\xe8\xff", 3) == WS_BAD && code == WS_CLOSE_NOT_UTF8);
#undef FEED
    uint16_t c;
    CHECK(ws_close_payload((const uint8_t *)"\x03\xe8", 2, &c, &why) && c == 1000);
    CHECK(ws_close_payload(NULL, 0, &c, &why) && c == 1005);
    ws_msg_free(&m);
}

int main(void)
{
    RUN(rfc_examples);
    RUN(cut_anywhere);
    RUN(refusals);
    RUN(messages);
    return TEST_EXIT();
}
