/*
 * codec.c -- zstd, snappy, gzip (zlib), brotli, lz4 (raw blocks) and no
 * compression, behind one call.
 *
 * Output goes straight into the caller's buffer: room for the codec's
 * worst case is reserved first, the library writes there, and the length
 * is then set to what it produced. No intermediate copy is made.
 *
 * zstd decompresses with a context of each thread's own, made at its first
 * page and freed when the thread ends: ZSTD_decompress() makes and frees
 * one of some 160 KiB on every call, which on pages of a few hundred KiB
 * took a tenth of a query's time (allocation, page faults, initialization).
 */
#include "codec.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <lz4.h>
#include <pthread.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

bool pq_codec_supported(int codec)
{
    return codec == PQ_CODEC_UNCOMPRESSED || codec == PQ_CODEC_SNAPPY || codec == PQ_CODEC_ZSTD ||
           codec == PQ_CODEC_GZIP || codec == PQ_CODEC_BROTLI || codec == PQ_CODEC_LZ4_RAW;
}

bool pq_codec_readable(int codec)
{
    return pq_codec_supported(codec) || codec == PQ_CODEC_LZ4;
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
    case PQ_CODEC_GZIP:
        return "GZIP";
    case PQ_CODEC_BROTLI:
        return "BROTLI";
    case PQ_CODEC_LZ4_RAW:
        return "LZ4_RAW";
    case PQ_CODEC_LZ4:
        return "LZ4";
    default:
        return "?";
    }
}

int pq_compressor_init(pq_compressor_t *c, pq_codec_t codec, int level)
{
    memset(c, 0, sizeof(*c));
    if (!pq_codec_supported((int)codec)) return URSA_EINVAL;
    if (level == 0)
        level = codec == PQ_CODEC_ZSTD ? 3 : codec == PQ_CODEC_GZIP ? 6 : codec == PQ_CODEC_BROTLI ? 1 : 0;
    if (codec == PQ_CODEC_ZSTD && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())) return URSA_EINVAL;
    if (codec == PQ_CODEC_GZIP && (level < 1 || level > 9)) return URSA_EINVAL;
    if (codec == PQ_CODEC_BROTLI && (level < BROTLI_MIN_QUALITY || level > BROTLI_MAX_QUALITY))
        return URSA_EINVAL;
    c->codec = codec;
    c->level = level;
    return URSA_OK;
}

void pq_compressor_free(pq_compressor_t *c)
{
    if (c->zctx) ZSTD_freeCCtx(c->zctx);
    c->zctx = NULL;
}

/* Parquet's GZIP is a gzip stream (RFC 1952), which zlib writes with
 * windowBits 15 + 16. zlib allocates through our wrappers. */
static void *z_alloc(void *opaque, unsigned items, unsigned size)
{
    return ursa_calloc(items, size);
}

static void z_free(void *opaque, void *p)
{
    ursa_free(p);
}

static int gzip_compress(int level, const void *src, size_t n, ursa_buf_t *dst)
{
    int rc;
    if (n > UINT32_MAX / 2) return URSA_ELIMIT;
    z_stream z;
    memset(&z, 0, sizeof(z));
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return URSA_ENOMEM;
    size_t bound = deflateBound(&z, (uLong)n) + 32;
    if ((rc = ursa_buf_reserve(dst, bound))) goto out;
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = dst->data + dst->len;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = URSA_EINTERNAL;
        goto out;
    }
    dst->len += bound - z.avail_out;
    rc = URSA_OK;
out:
    deflateEnd(&z);
    return rc;
}

static int gzip_decompress(const void *src, size_t n, uint8_t *out, size_t expect)
{
    int rc = URSA_EFORMAT;
    z_stream z;
    memset(&z, 0, sizeof(z));
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (n > UINT32_MAX || expect > UINT32_MAX) return URSA_ELIMIT;
    if (inflateInit2(&z, 15 + 16) != Z_OK) return URSA_ENOMEM;
    uint8_t dummy;
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = expect ? out : &dummy;
    z.avail_out = expect ? (uInt)expect : 0;
    /* A gzip file may hold several members one after the other (RFC 1952
     * 2.2), and some writers' pages do: each ends with Z_STREAM_END, the
     * next starts after a reset. Running out of room is Z_BUF_ERROR: more
     * than expect bytes, an error. */
    for (;;) {
        int zr = inflate(&z, Z_FINISH);
        if (zr != Z_STREAM_END) goto out; /* corrupt, truncated or past expect */
        if (z.avail_in == 0) break;
        if (inflateReset(&z) != Z_OK) goto out;
    }
    if (z.avail_out == 0) rc = URSA_OK; /* exactly expect bytes (total_out restarts with each member) */
out:
    inflateEnd(&z);
    return rc;
}

size_t pq_compress_bound(const pq_compressor_t *c, size_t n)
{
    switch (c->codec) {
    case PQ_CODEC_SNAPPY:
        return n > UINT32_MAX ? 0 : snappy_max_compressed_length(n);
    case PQ_CODEC_ZSTD: {
        size_t b = ZSTD_compressBound(n);
        return ZSTD_isError(b) ? 0 : b;
    }
    case PQ_CODEC_GZIP:
        return n > UINT32_MAX / 2 ? 0 : compressBound((uLong)n) + 64; /* + the gzip header and trailer */
    case PQ_CODEC_BROTLI:
        return BrotliEncoderMaxCompressedSize(n);
    case PQ_CODEC_LZ4_RAW:
        return n > LZ4_MAX_INPUT_SIZE ? 0 : (size_t)LZ4_compressBound((int)n);
    default:
        return n;
    }
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
    case PQ_CODEC_GZIP:
        return gzip_compress(c->level, src, n, dst);
    case PQ_CODEC_LZ4: /* never written: pq_compressor_init refuses it */
        return URSA_EINVAL;
    case PQ_CODEC_BROTLI: {
        size_t bound = BrotliEncoderMaxCompressedSize(n);
        if (bound == 0) return URSA_ELIMIT;
        if ((rc = ursa_buf_reserve(dst, bound))) return rc;
        size_t out = bound;
        if (!BrotliEncoderCompress(c->level, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n, src, &out,
                                   dst->data + dst->len))
            return URSA_EINTERNAL;
        dst->len += out;
        return URSA_OK;
    }
    case PQ_CODEC_LZ4_RAW: {
        if (n > LZ4_MAX_INPUT_SIZE) return URSA_ELIMIT;
        int bound = LZ4_compressBound((int)n);
        if ((rc = ursa_buf_reserve(dst, (size_t)bound))) return rc;
        int out = LZ4_compress_default(src, (char *)dst->data + dst->len, (int)n, bound);
        if (out <= 0 && n > 0) return URSA_EINTERNAL;
        dst->len += (size_t)out;
        return URSA_OK;
    }
    }
    return URSA_EINVAL;
}

/* Parquet's deprecated LZ4 (codec 5) as Hadoop wrote it: blocks of a u32
 * big-endian decompressed size, a u32 big-endian compressed size and an
 * LZ4 block, filling exactly expect bytes at out. false when the framing
 * does not fit the input (the caller then tries a raw LZ4 block, as other
 * readers do: some writers put one there under this codec number). */
static bool hadoop_lz4(const uint8_t *src, size_t n, uint8_t *out, size_t expect)
{
    size_t pos = 0, done = 0;
    if (n == 0) return false;
    while (pos < n) {
        if (n - pos < 8) return false;
        uint32_t dsize = (uint32_t)src[pos] << 24 | (uint32_t)src[pos + 1] << 16 |
                         (uint32_t)src[pos + 2] << 8 | src[pos + 3];
        uint32_t csize = (uint32_t)src[pos + 4] << 24 | (uint32_t)src[pos + 5] << 16 |
                         (uint32_t)src[pos + 6] << 8 | src[pos + 7];
        pos += 8;
        if (csize > n - pos || dsize > expect - done || csize > LZ4_MAX_INPUT_SIZE ||
            dsize > LZ4_MAX_INPUT_SIZE)
            return false;
        int len = LZ4_decompress_safe((const char *)src + pos, (char *)out + done, (int)csize, (int)dsize);
        if (len < 0 || (uint32_t)len != dsize) return false;
        pos += csize;
        done += dsize;
    }
    return done == expect;
}

/* The most a codec can expand n bytes (0: no bound known), to refuse a
 * declared size the input cannot reach before memory is reserved for it.
 * Deflate stops at 1032:1 and an LZ4 block at about 255:1; snappy and zstd
 * frames carry their size, checked below. */
static bool expect_reachable(pq_codec_t codec, size_t n, size_t expect)
{
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        return n == expect;
    case PQ_CODEC_GZIP:
        return n <= SIZE_MAX / 2048 && expect <= (n + 64) * 1040;
    case PQ_CODEC_LZ4_RAW:
    case PQ_CODEC_LZ4:
        return n <= SIZE_MAX / 512 && expect <= (n + 64) * 256;
    default:
        return true;
    }
}

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static bool dctx_keyed;

static void dctx_free(void *d)
{
    ZSTD_freeDCtx(d);
}

static void dctx_init(void)
{
    dctx_keyed = pthread_key_create(&dctx_key, dctx_free) == 0;
}

/* The calling thread's zstd context, or NULL (then a call makes its own). */
static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_init);
    if (!dctx_keyed) return NULL;
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d)) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

int pq_decompress(pq_codec_t codec, const void *src, size_t n, size_t expect, ursa_buf_t *dst)
{
    int rc;
    /* The declared size is checked against what the input can give before
     * any memory is reserved for it; every codec then writes into exactly
     * expect bytes and fails rather than go past them. */
    if (!expect_reachable(codec, n, expect)) return URSA_EFORMAT;
    if (codec == PQ_CODEC_SNAPPY) {
        size_t len;
        if (snappy_uncompressed_length(src, n, &len) != SNAPPY_OK || len != expect) return URSA_EFORMAT;
    }
    if (codec == PQ_CODEC_ZSTD) {
        /* A frame states its size: more than expect, or other than expect
         * when the input is that one frame, is refused here. */
        unsigned long long fcs = ZSTD_getFrameContentSize(src, n);
        if (fcs == ZSTD_CONTENTSIZE_ERROR) return URSA_EFORMAT;
        if (fcs != ZSTD_CONTENTSIZE_UNKNOWN &&
            (fcs > expect || (fcs != expect && ZSTD_findFrameCompressedSize(src, n) == n)))
            return URSA_EFORMAT;
    }
    if ((rc = ursa_buf_reserve(dst, expect ? expect : 1))) return rc;
    uint8_t *out = dst->data + dst->len;
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        if (n) memcpy(out, src, n);
        break;
    case PQ_CODEC_SNAPPY: {
        size_t len = expect;
        if (snappy_uncompress(src, n, (char *)out, &len) != SNAPPY_OK || len != expect) return URSA_EFORMAT;
        break;
    }
    case PQ_CODEC_ZSTD: {
        ZSTD_DCtx *d = thread_dctx();
        size_t len = d ? ZSTD_decompressDCtx(d, out, expect, src, n) : ZSTD_decompress(out, expect, src, n);
        if (ZSTD_isError(len) || len != expect) return URSA_EFORMAT;
        break;
    }
    case PQ_CODEC_GZIP:
        if ((rc = gzip_decompress(src, n, out, expect))) return rc;
        break;
    case PQ_CODEC_BROTLI: {
        size_t len = expect;
        if (BrotliDecoderDecompress(n, src, &len, out) != BROTLI_DECODER_RESULT_SUCCESS || len != expect)
            return URSA_EFORMAT;
        break;
    }
    case PQ_CODEC_LZ4:
    case PQ_CODEC_LZ4_RAW: {
        /* LZ4 is Hadoop framing, or else one raw block. */
        if (codec == PQ_CODEC_LZ4 && hadoop_lz4(src, n, out, expect)) break;
        if (n > LZ4_MAX_INPUT_SIZE || expect > LZ4_MAX_INPUT_SIZE) return URSA_EFORMAT;
        int len = LZ4_decompress_safe(src, (char *)out, (int)n, (int)expect);
        if (len < 0 || (size_t)len != expect) return URSA_EFORMAT;
        break;
    }
    default:
        return URSA_EINVAL;
    }
    dst->len += expect;
    return URSA_OK;
}
