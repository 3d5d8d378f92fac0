/*
 * codec.h -- page compression for the Parquet writer (and, for tests and a
 * future reader, decompression): UNCOMPRESSED, SNAPPY (raw snappy blocks,
 * as Parquet wants), GZIP (a gzip stream, zlib), BROTLI, ZSTD (frames with
 * the content size) and LZ4_RAW (one LZ4 block, no frame).
 *
 * A pq_compressor_t holds the codec, the level and, for zstd, a reusable
 * compression context, so compressing many pages costs no setup each time.
 * The zstd context is allocated by libzstd itself (about 1-3 MB at the
 * default level) and is not seen by ursa_mem_used().
 */
#ifndef URSA_CODEC_H
#define URSA_CODEC_H

#include "common.h"
#include "pq_write.h"

typedef struct pq_compressor {
    pq_codec_t codec;
    int level;  /* zstd, gzip or brotli level (0 in init: the codec's default) */
    void *zctx; /* ZSTD_CCtx *, created on first use; owned */
} pq_compressor_t;

/* Returns true when codec is one this module implements. */
bool pq_codec_supported(int codec);

/* Returns true when pq_decompress() reads codec: the above and the
 * deprecated Hadoop-framed LZ4 (PQ_CODEC_LZ4). */
bool pq_codec_readable(int codec);

/* Returns the Parquet name of a codec ("ZSTD" ...), or "?". */
const char *pq_codec_name(int codec);

/* Sets up a compressor. Returns URSA_EINVAL for an unsupported codec or a
 * level outside the codec's range (zstd ZSTD_minCLevel()..ZSTD_maxCLevel(),
 * gzip 1..9, brotli 0..11; 0 means the default: zstd 3, gzip 6, brotli 1). */
int pq_compressor_init(pq_compressor_t *c, pq_codec_t codec, int level) URSA_MUST_CHECK;

/* Frees the compression context. */
void pq_compressor_free(pq_compressor_t *c);

/* Compresses src[0..n) and appends the result to dst. For UNCOMPRESSED it
 * appends a copy. Returns URSA_OK, URSA_ENOMEM, URSA_ELIMIT (input too
 * large for the codec) or URSA_EINTERNAL (the library failed). */
int pq_compress(pq_compressor_t *c, const void *src, size_t n, ursa_buf_t *dst) URSA_MUST_CHECK;

/* Returns an upper bound of what pq_compress() appends for n input bytes
 * (0 when n is too large for the codec). A compressor is used by one thread
 * at a time; separate compressors may run on separate threads. */
size_t pq_compress_bound(const pq_compressor_t *c, size_t n);

/* Decompresses src[0..n), which must expand to exactly expect bytes, and
 * appends them to dst. Also reads the deprecated Hadoop-framed LZ4
 * (PQ_CODEC_LZ4: blocks of u32 big-endian decompressed size, u32 big-endian
 * compressed size, an LZ4 block; a raw LZ4 block when that framing does not
 * fit). No codec writes past expect bytes: one that would is URSA_EFORMAT.
 * A declared size the input cannot reach (uncompressed, snappy and zstd
 * frame headers, gzip past 1032:1, LZ4 past 255:1) is refused before any
 * memory is reserved; otherwise expect bytes are reserved up front, so the
 * caller bounds expect (a page-size limit). Returns URSA_EFORMAT for
 * corrupt input, URSA_EINVAL for an unknown codec. */
int pq_decompress(pq_codec_t codec, const void *src, size_t n, size_t expect,
                  ursa_buf_t *dst) URSA_MUST_CHECK;

#endif
