/*
 * codec.c -- zstd, snappy and no compression, behind one call.
 *
 * Output goes straight into the caller's buffer: room for the codec's
 * worst case is reserved first, the library writes there, and the length
 * is then set to what it produced. No intermediate copy is made.
 */
#include "codec.h"

#include <snappy-c.h>
#include <string.h>
#include <zstd.h>

bool pq_codec_supported(int codec)
{
    return codec == PQ_CODEC_UNCOMPRESSED || codec == PQ_CODEC_SNAPPY || codec == PQ_CODEC_ZSTD;
}

const char *pq_codec_name(int codec)
{
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        return "UNCOMPRESSED";
    case PQ_CODEC_SNAPPY:
        return "SNAPPY";
    case PQ_CODEC_ZSTD:
        return "ZSTD";
    default:
        return "?";
    }
}

int pq_compressor_init(pq_compressor_t *c, pq_codec_t codec, int level)
{
    memset(c, 0, sizeof(*c));
    if (!pq_codec_supported((int)codec)) return URSA_EINVAL;
    if (codec == PQ_CODEC_ZSTD && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())) return URSA_EINVAL;
    c->codec = codec;
    c->level = level;
    return URSA_OK;
}

void pq_compressor_free(pq_compressor_t *c)
{
    if (c->zctx) ZSTD_freeCCtx(c->zctx);
    c->zctx = NULL;
}

int pq_compress(pq_compressor_t *c, const void *src, size_t n, ursa_buf_t *dst)
{
    int rc;
    switch (c->codec) {
    case PQ_CODEC_UNCOMPRESSED:
        return ursa_buf_append(dst, src, n);
    case PQ_CODEC_SNAPPY: {
        if (n > UINT32_MAX) return URSA_ELIMIT;
        size_t bound = snappy_max_compressed_length(n);
        if ((rc = ursa_buf_reserve(dst, bound))) return rc;
        size_t out = bound;
        if (snappy_compress(src, n, (char *)dst->data + dst->len, &out) != SNAPPY_OK) return URSA_EINTERNAL;
        dst->len += out;
        return URSA_OK;
    }
    case PQ_CODEC_ZSTD: {
        size_t bound = ZSTD_compressBound(n);
        if (ZSTD_isError(bound)) return URSA_ELIMIT;
        if (!c->zctx && !(c->zctx = ZSTD_createCCtx())) return URSA_ENOMEM;
        if ((rc = ursa_buf_reserve(dst, bound))) return rc;
        size_t out = ZSTD_compressCCtx(c->zctx, dst->data + dst->len, bound, src, n, c->level);
        if (ZSTD_isError(out)) return URSA_EINTERNAL;
        dst->len += out;
        return URSA_OK;
    }
    }
    return URSA_EINVAL;
}

int pq_decompress(pq_codec_t codec, const void *src, size_t n, size_t expect, ursa_buf_t *dst)
{
    int rc;
    if ((rc = ursa_buf_reserve(dst, expect ? expect : 1))) return rc;
    uint8_t *out = dst->data + dst->len;
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        if (n != expect) return URSA_EFORMAT;
        if (n) memcpy(out, src, n);
        break;
    case PQ_CODEC_SNAPPY: {
        size_t len;
        if (snappy_uncompressed_length(src, n, &len) != SNAPPY_OK || len != expect) return URSA_EFORMAT;
        if (snappy_uncompress(src, n, (char *)out, &len) != SNAPPY_OK || len != expect) return URSA_EFORMAT;
        break;
    }
    case PQ_CODEC_ZSTD: {
        size_t len = ZSTD_decompress(out, expect, src, n);
        if (ZSTD_isError(len) || len != expect) return URSA_EFORMAT;
        break;
    }
    default:
        return URSA_EINVAL;
    }
    dst->len += expect;
    return URSA_OK;
}
