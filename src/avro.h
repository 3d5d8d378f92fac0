/*
 * avro.h -- an Avro binary encoder and an object container file writer,
 * enough to write Iceberg manifests and manifest lists (iceberg_avro.h).
 *
 * The encoder (avro_enc_*) appends values to a caller-owned ursa_buf_t in
 * Avro's binary encoding (Avro 1.11 specification, "Binary Encoding"). Like
 * the Thrift encoder, its calls return nothing: the first failure (out of
 * memory, a misused array or map) is kept in the encoder, every later call
 * does nothing, and avro_enc_status() reports it. It knows no schema: the
 * caller writes a record's fields in schema order, a union as the index of
 * its branch followed by that branch's value.
 *
 *   null      nothing
 *   boolean   one byte, 0 or 1
 *   int, long zigzag, then a little-endian base-128 varint (at most 10 bytes)
 *   float     4 bytes, IEEE 754 little-endian; double: 8 bytes
 *   bytes     long length, then the bytes; string: the same, UTF-8
 *   fixed     the bytes alone (the size is the schema's)
 *   enum      the symbol's index as an int
 *   union     the branch index as a long, then the value
 *   array     blocks: a long count n > 0, then n items; a count 0 ends it
 *   map       the same, each item a string key then the value
 *
 * The container writer (avro_writer_*) streams records into an object
 * container file: the magic "Obj\x01", the file metadata (a map of bytes
 * holding "avro.schema", "avro.codec" and the caller's own keys), a 16-byte
 * sync marker, then data blocks, each a long record count, a long byte size,
 * the records (compressed as a whole with raw deflate, RFC 1951, when the
 * codec is deflate) and the sync marker again. The writer holds one block in
 * memory: when the block's records reach opts.block_bytes it is compressed
 * and sent to the sink, so memory stays bounded by one block (and one
 * record, which may make a block larger than the threshold; a block over
 * AVRO_BLOCK_MAX is refused with URSA_ELIMIT).
 *
 * Failure: any error (out of memory, a sink write, a record the encoder
 * reported as broken) sticks in the writer; later calls return it and the
 * bytes already sent are not a valid file. The caller discards the object.
 */
#ifndef URSA_AVRO_H
#define URSA_AVRO_H

#include "common.h"
#include "sink.h"

/* ---------------------------------------------------------------------------
 * Encoder
 * ------------------------------------------------------------------------- */

#define AVRO_MAX_DEPTH 16 /* arrays and maps open at once */

typedef struct avro_enc {
    ursa_buf_t *out; /* not owned */
    int rc;          /* first failure, URSA_OK while none */
    int depth;       /* open arrays and maps */
    /* Per open array or map: items announced by the current block and not yet begun. */
    uint64_t left[AVRO_MAX_DEPTH];
    bool is_map[AVRO_MAX_DEPTH];
} avro_enc_t;

/* Starts encoding; bytes are appended to out (which the caller owns). */
void avro_enc_init(avro_enc_t *e, ursa_buf_t *out);

/* Returns URSA_OK when every call so far succeeded and every array and map
 * is closed; else the first failure: URSA_ENOMEM, URSA_ELIMIT (a length too
 * big), or URSA_EINTERNAL for misuse (more or fewer items than announced,
 * unbalanced begin/end, nesting deeper than AVRO_MAX_DEPTH). */
int avro_enc_status(const avro_enc_t *e) URSA_MUST_CHECK;

void avro_enc_null(avro_enc_t *e);
void avro_enc_bool(avro_enc_t *e, bool v);
void avro_enc_int(avro_enc_t *e, int32_t v);
void avro_enc_long(avro_enc_t *e, int64_t v);
void avro_enc_float(avro_enc_t *e, float v);
void avro_enc_double(avro_enc_t *e, double v);
void avro_enc_bytes(avro_enc_t *e, const void *p, size_t n);
/* n bytes of UTF-8 (not checked). */
void avro_enc_string(avro_enc_t *e, const char *s, size_t n);
/* A NUL-terminated string. */
void avro_enc_cstr(avro_enc_t *e, const char *s);
/* The n bytes of a fixed(n) value. */
void avro_enc_fixed(avro_enc_t *e, const void *p, size_t n);
/* An enum symbol's index. */
void avro_enc_enum(avro_enc_t *e, int32_t index);
/* Selects branch `index` of a union; the branch's value follows. */
void avro_enc_union_index(avro_enc_t *e, int64_t index);

/* Arrays: avro_enc_array_begin(e, n) starts a block of n items (n may be 0:
 * then nothing is written); before each item call avro_enc_array_item(e),
 * then encode it. avro_enc_array_block(e, n) starts the next block of the
 * innermost array once the current one is full (for callers that stream
 * items without knowing their number). avro_enc_array_end() writes the
 * closing 0. An empty array is begin(0) + end. */
void avro_enc_array_begin(avro_enc_t *e, size_t n);
void avro_enc_array_block(avro_enc_t *e, size_t n);
void avro_enc_array_item(avro_enc_t *e);
void avro_enc_array_end(avro_enc_t *e);

/* Maps: the same, with avro_enc_map_key() (which writes the key) in place
 * of avro_enc_array_item(); the value follows the key. */
void avro_enc_map_begin(avro_enc_t *e, size_t n);
void avro_enc_map_block(avro_enc_t *e, size_t n);
void avro_enc_map_key(avro_enc_t *e, const char *k, size_t n);
void avro_enc_map_end(avro_enc_t *e);

/* ---------------------------------------------------------------------------
 * Object container file writer
 * ------------------------------------------------------------------------- */

#define AVRO_SYNC_SIZE   16
#define AVRO_BLOCK_MAX   ((size_t)64 << 20) /* one data block, uncompressed */
#define AVRO_BLOCK_BYTES ((size_t)64 << 10) /* the default flush threshold */

typedef enum avro_codec { AVRO_CODEC_NULL = 0, AVRO_CODEC_DEFLATE } avro_codec_t;

/* A file metadata entry: a key and a NUL-terminated value (stored as bytes
 * without the NUL). Keys starting with "avro." are reserved and refused. */
typedef struct avro_meta {
    const char *key;
    const char *value;
} avro_meta_t;

typedef struct avro_writer_opts {
    avro_codec_t codec;
    int deflate_level;   /* 1..9; 0: zlib's default (6) */
    size_t block_bytes;  /* flush a block once its records reach this; 0: AVRO_BLOCK_BYTES */
    const uint8_t *sync; /* AVRO_SYNC_SIZE bytes (for tests), or NULL for random ones */
} avro_writer_opts_t;

typedef struct avro_writer avro_writer_t;

/* Creates a writer that sends a container file to sink (not owned; it must
 * outlive the writer) and writes the header: schema_json is the writer's
 * schema exactly as given (checked only to be one JSON value), meta holds
 * nmeta extra metadata entries, opts may be NULL (null codec, defaults).
 * On success *out owns the writer; free it with avro_writer_destroy().
 * Returns URSA_EINVAL (a bad schema text, a reserved or repeated key, a bad
 * option), URSA_ENOMEM, URSA_EIO (getrandom failed) or the sink's error,
 * with a message in err (may be NULL). */
int avro_writer_new(ursa_sink_t sink, const char *schema_json, const avro_meta_t *meta, size_t nmeta,
                    const avro_writer_opts_t *opts, avro_writer_t **out, ursa_err_t *err) URSA_MUST_CHECK;

/* The encoder for the next record; valid until avro_writer_destroy().
 * Encode one record's fields in order, then call avro_writer_record_end(). */
avro_enc_t *avro_writer_enc(avro_writer_t *w);

/* Ends the record just encoded: checks the encoder (its failure becomes
 * the writer's), counts the record and, once the block has reached the
 * threshold, compresses it and sends it to the sink. */
int avro_writer_record_end(avro_writer_t *w, ursa_err_t *err) URSA_MUST_CHECK;

/* Sends the last block. The file is complete when this returns URSA_OK
 * (the sink is not closed: that is the caller's). A record encoded but not
 * ended is an error (URSA_EINTERNAL). */
int avro_writer_close(avro_writer_t *w, ursa_err_t *err) URSA_MUST_CHECK;

/* Records ended so far, and bytes sent to the sink so far (after
 * avro_writer_close(): the file's length). */
uint64_t avro_writer_records(const avro_writer_t *w);
uint64_t avro_writer_bytes(const avro_writer_t *w);

/* Frees the writer (NULL is fine) and sets *w to NULL. */
void avro_writer_destroy(avro_writer_t **w);

/* A sink that appends to b (the caller owns b), for files built in memory. */
ursa_sink_t avro_buf_sink(ursa_buf_t *b);

#endif
