/*
 * fuzz_wsframe.c -- libFuzzer driver for the WebSocket framing
 * (api_wsframe): the input is a stream of client bytes, read frame by
 * frame as the server reads a connection -- in one piece, and again cut
 * where the first byte says (the same frames must come out either way) --
 * each frame given to a message of at most 1,000 bytes.
 * Invariants: a frame never claims more bytes than it was given; its
 * payload lies inside them; a control frame is whole and at most 125
 * bytes; a refusal carries one of the RFC's codes and a reason; a whole
 * message is at most the limit, and a text one is UTF-8 (checked here by
 * libunistring); WS_MORE changes no byte. Anything else aborts.
 */
#include "api_wsframe.h"

#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* Reads the stream p[0..n), handing the parser at most `step` new bytes at
 * a time (0: all); the frames' opcodes and lengths and the messages'
 * bytes are summed into *sig. Returns how it ended: WS_MORE or WS_BAD. */
static int run(uint8_t *p, size_t n, size_t step, uint64_t *sig)
{
    ws_msg_t m;
    ws_msg_init(&m, 1000);
    size_t at = 0, have = step ? 0 : n;
    int rc = WS_MORE;
    for (;;) {
        ws_frame_t f;
        size_t used;
        uint16_t code = 0;
        const char *why = NULL;
        uint8_t before[16];
        size_t keep = have - at < sizeof(before) ? have - at : sizeof(before);
        memcpy(before, p + at, keep);
        rc = ws_frame_parse(p + at, have - at, 1 << 16, &f, &used, &code, &why);
        if (rc == WS_MORE) {
            if (used || memcmp(before, p + at, keep)) abort();
            if (have == n) break;
            have = have + step < n ? have + step : n;
            continue;
        }
        if (rc == WS_BAD) {
            if (!why || !*why || (code != 1002 && code != 1009)) abort();
            break;
        }
        if (used == 0 || used > have - at || f.payload < p + at || f.payload + f.len > p + at + used) abort();
        if (f.opcode >= WS_CLOSE && (!f.fin || f.len > 125)) abort();
        *sig = *sig * 31 + (uint64_t)f.opcode * 7 + f.len;
        bool done, ctl;
        rc = ws_msg_add(&m, &f, &done, &ctl, &code, &why);
        if (rc == WS_BAD) {
            if (!why || !*why || (code != 1002 && code != 1007 && code != 1009 && code != 1011)) abort();
            break;
        }
        if (done) {
            if (m.data.len > 1000 || (m.kind != WS_TEXT && m.kind != WS_BINARY)) abort();
            if (m.kind == WS_TEXT && m.data.len && u8_check(m.data.data, m.data.len)) abort();
            for (size_t i = 0; i < m.data.len; i++) *sig = *sig * 31 + m.data.data[i];
        }
        at += used;
    }
    ws_msg_free(&m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    uint8_t *a = malloc(size), *b = malloc(size);
    if (!a || !b) abort();
    memcpy(a, data + 1, size - 1);
    memcpy(b, data + 1, size - 1);
    uint64_t s1 = 0, s2 = 0;
    int r1 = run(a, size - 1, 0, &s1), r2 = run(b, size - 1, (size_t)data[0] % 17 + 1, &s2);
    if (r1 != r2 || s1 != s2) abort(); /* cut or whole: the same frames, messages and end */
    free(a), free(b);
    return 0;
}
