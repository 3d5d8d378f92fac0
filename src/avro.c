/*
 * avro.c -- the Avro binary encoder and the object container writer (see
 * avro.h).
 *
 * The encoder writes through put(), which reserves room and copies; the
 * first failure sticks in e->rc and turns the rest into no-ops, so a record
 * is either complete or reported as failed, never silently short.
 *
 * The writer keeps the current block's records in `block` (the encoder
 * appends there) and, for deflate, compresses a full block into `zbuf`.
 * Both buffers are reused from block to block, so memory is one block
 * (plus its compressed copy) whatever the number of records. Invariant:
 * block.len == 0 exactly when nrec_block == 0, except while a record is
 * being encoded.
 */
#include "avro.h"

#include <jansson.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

/* ---------------------------------------------------------------------------
 * Encoder
 * ------------------------------------------------------------------------- */

void avro_enc_init(avro_enc_t *e, ursa_buf_t *out)
{
    memset(e, 0, sizeof(*e));
    e->out = out;
}

int avro_enc_status(const avro_enc_t *e)
{
    if (e->rc) return e->rc;
    return e->depth == 0 ? URSA_OK : URSA_EINTERNAL;
}

static void fail(avro_enc_t *e, int rc)
{
    if (e->rc == URSA_OK) e->rc = rc;
}

static void put(avro_enc_t *e, const void *p, size_t n)
{
    if (e->rc || n == 0) return;
    int rc = ursa_buf_append(e->out, p, n);
    if (rc) fail(e, rc);
}

static size_t varint(uint8_t tmp[10], uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return n;
}

/* Zigzag: 0, -1, 1, -2 ... become 0, 1, 2, 3 ... (shifted as unsigned: a
 * left shift of a negative value is undefined). */
static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void avro_enc_long(avro_enc_t *e, int64_t v)
{
    uint8_t tmp[10];
    put(e, tmp, varint(tmp, zigzag(v)));
}

void avro_enc_int(avro_enc_t *e, int32_t v)
{
    avro_enc_long(e, v);
}

void avro_enc_null(avro_enc_t *e)
{
    (void)e;
}

void avro_enc_bool(avro_enc_t *e, bool v)
{
    uint8_t b = v ? 1 : 0;
    put(e, &b, 1);
}

void avro_enc_float(avro_enc_t *e, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    put(e, b, 4);
}

void avro_enc_double(avro_enc_t *e, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(u >> (8 * i));
    put(e, b, 8);
}

void avro_enc_bytes(avro_enc_t *e, const void *p, size_t n)
{
    if (n > INT64_MAX) {
        fail(e, URSA_ELIMIT);
        return;
    }
    avro_enc_long(e, (int64_t)n);
    put(e, p, n);
}

void avro_enc_string(avro_enc_t *e, const char *s, size_t n)
{
    avro_enc_bytes(e, s, n);
}

void avro_enc_cstr(avro_enc_t *e, const char *s)
{
    avro_enc_bytes(e, s, strlen(s));
}

void avro_enc_fixed(avro_enc_t *e, const void *p, size_t n)
{
    put(e, p, n);
}

void avro_enc_enum(avro_enc_t *e, int32_t index)
{
    avro_enc_int(e, index);
}

void avro_enc_union_index(avro_enc_t *e, int64_t index)
{
    avro_enc_long(e, index);
}

static void collection_begin(avro_enc_t *e, size_t n, bool is_map)
{
    if (e->rc) return;
    if (n > INT64_MAX) {
        fail(e, URSA_ELIMIT);
        return;
    }
    if (e->depth == AVRO_MAX_DEPTH) {
        fail(e, URSA_EINTERNAL);
        return;
    }
    e->left[e->depth] = n;
    e->is_map[e->depth] = is_map;
    e->depth++;
    if (n > 0) avro_enc_long(e, (int64_t)n);
}

/* The next block of n items of the innermost collection, whose previous
 * block must be complete. */
static void collection_block(avro_enc_t *e, size_t n, bool is_map)
{
    if (e->rc) return;
    if (e->depth == 0 || e->is_map[e->depth - 1] != is_map || e->left[e->depth - 1] != 0) {
        fail(e, URSA_EINTERNAL);
        return;
    }
    if (n > INT64_MAX) {
        fail(e, URSA_ELIMIT);
        return;
    }
    e->left[e->depth - 1] = n;
    if (n > 0) avro_enc_long(e, (int64_t)n);
}

static void collection_end(avro_enc_t *e, bool is_map)
{
    if (e->rc) return;
    if (e->depth == 0 || e->is_map[e->depth - 1] != is_map || e->left[e->depth - 1] != 0) {
        fail(e, URSA_EINTERNAL);
        return;
    }
    e->depth--;
    uint8_t zero = 0;
    put(e, &zero, 1);
}

static void item(avro_enc_t *e, bool is_map)
{
    if (e->rc) return;
    if (e->depth == 0 || e->is_map[e->depth - 1] != is_map || e->left[e->depth - 1] == 0) {
        fail(e, URSA_EINTERNAL);
        return;
    }
    e->left[e->depth - 1]--;
}

void avro_enc_array_begin(avro_enc_t *e, size_t n)
{
    collection_begin(e, n, false);
}

void avro_enc_array_block(avro_enc_t *e, size_t n)
{
    collection_block(e, n, false);
}

void avro_enc_array_item(avro_enc_t *e)
{
    item(e, false);
}

void avro_enc_array_end(avro_enc_t *e)
{
    collection_end(e, false);
}

void avro_enc_map_begin(avro_enc_t *e, size_t n)
{
    collection_begin(e, n, true);
}

void avro_enc_map_block(avro_enc_t *e, size_t n)
{
    collection_block(e, n, true);
}

void avro_enc_map_key(avro_enc_t *e, const char *k, size_t n)
{
    item(e, true);
    avro_enc_string(e, k, n);
}

void avro_enc_map_end(avro_enc_t *e)
{
    collection_end(e, true);
}

/* ---------------------------------------------------------------------------
 * Object container writer
 * ------------------------------------------------------------------------- */

struct avro_writer {
    ursa_sink_t sink;
    avro_codec_t codec;
    size_t block_bytes;
    uint8_t sync[AVRO_SYNC_SIZE];
    int rc; /* first failure, sticky */
    bool closed;
    ursa_buf_t block; /* the records of the current block */
    ursa_buf_t zbuf;  /* a block compressed, then a block header */
    avro_enc_t enc;   /* appends to block */
    z_stream z;       /* deflate: reset for each block */
    bool z_ready;
    uint64_t nrec_block; /* records in block */
    size_t rec_start;    /* block.len when the current record began */
    uint64_t records, bytes;
};

/* zlib allocates through our wrappers. */
static void *z_alloc(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    return ursa_calloc(items, size);
}

static void z_free(void *opaque, void *p)
{
    (void)opaque;
    ursa_free(p);
}

static int emit(avro_writer_t *w, const void *p, size_t n, ursa_err_t *err)
{
    if (n == 0) return URSA_OK;
    int rc = w->sink.write(w->sink.ctx, p, n, err);
    if (rc) return rc;
    w->bytes += n;
    return URSA_OK;
}

static int put_long(ursa_buf_t *b, int64_t v)
{
    uint8_t tmp[10];
    return ursa_buf_append(b, tmp, varint(tmp, zigzag(v)));
}

/* Raw deflate (RFC 1951, no zlib header or checksum) of src into w->zbuf. */
static int deflate_block(avro_writer_t *w, const uint8_t *src, size_t n)
{
    if (deflateReset(&w->z) != Z_OK) return URSA_EINTERNAL;
    size_t bound = deflateBound(&w->z, (uLong)n) + 16;
    w->zbuf.len = 0;
    int rc = ursa_buf_reserve(&w->zbuf, bound);
    if (rc) return rc;
    w->z.next_in = (Bytef *)(uintptr_t)src;
    w->z.avail_in = (uInt)n;
    w->z.next_out = w->zbuf.data;
    w->z.avail_out = (uInt)bound;
    if (deflate(&w->z, Z_FINISH) != Z_STREAM_END) return URSA_EINTERNAL;
    w->zbuf.len = bound - w->z.avail_out;
    return URSA_OK;
}

/* Sends the current block (when it holds records): count, size, data, sync. */
static int flush_block(avro_writer_t *w, ursa_err_t *err)
{
    int rc;
    if (w->nrec_block == 0) return URSA_OK;
    const uint8_t *data = w->block.data;
    size_t n = w->block.len;
    if (w->codec == AVRO_CODEC_DEFLATE) {
        if ((rc = deflate_block(w, data, n)))
            return ursa_err_set(err, rc, "avro: compressing a block of %zu bytes: %s", n, ursa_strstatus(rc));
        data = w->zbuf.data;
        n = w->zbuf.len;
    }
    /* The sink reports its own failures in err. */
    uint8_t head[20];
    size_t h = varint(head, zigzag((int64_t)w->nrec_block));
    h += varint(head + h, zigzag((int64_t)n));
    if ((rc = emit(w, head, h, err))) return rc;
    if ((rc = emit(w, data, n, err))) return rc;
    if ((rc = emit(w, w->sync, AVRO_SYNC_SIZE, err))) return rc;
    w->block.len = 0;
    w->rec_start = 0;
    w->nrec_block = 0;
    return URSA_OK;
}

static int write_header(avro_writer_t *w, const char *schema_json, const avro_meta_t *meta, size_t nmeta,
                        ursa_err_t *err)
{
    int rc;
    ursa_buf_t *b = &w->zbuf;
    b->len = 0;
    const char *codec = w->codec == AVRO_CODEC_DEFLATE ? "deflate" : "null";
    if ((rc = ursa_buf_append(b, "Obj\x01", 4))) goto nomem;
    /* The metadata map in one block; values are Avro bytes. */
    if ((rc = put_long(b, (int64_t)(nmeta + 2)))) goto nomem;
    const char *keys[2] = {"avro.schema", "avro.codec"};
    const char *vals[2] = {schema_json, codec};
    for (size_t i = 0; i < nmeta + 2; i++) {
        const char *k = i < 2 ? keys[i] : meta[i - 2].key;
        const char *v = i < 2 ? vals[i] : meta[i - 2].value;
        size_t kn = strlen(k), vn = strlen(v);
        if ((rc = put_long(b, (int64_t)kn)) || (rc = ursa_buf_append(b, k, kn))) goto nomem;
        if ((rc = put_long(b, (int64_t)vn)) || (rc = ursa_buf_append(b, v, vn))) goto nomem;
    }
    if ((rc = ursa_buf_push(b, 0))) goto nomem;
    if ((rc = ursa_buf_append(b, w->sync, AVRO_SYNC_SIZE))) goto nomem;
    return emit(w, b->data, b->len, err); /* the sink sets err */
nomem:
    return ursa_err_set(err, rc, "avro: out of memory for the header");
}

static int check_args(const char *schema_json, const avro_meta_t *meta, size_t nmeta,
                      const avro_writer_opts_t *o, ursa_err_t *err)
{
    if (!schema_json) return ursa_err_set(err, URSA_EINVAL, "avro: no schema");
    json_error_t je;
    json_t *j = json_loads(schema_json, JSON_DECODE_ANY, &je);
    if (!j)
        return ursa_err_set(err, URSA_EINVAL, "avro: the schema is not JSON: %s (line %d)", je.text, je.line);
    json_decref(j);
    for (size_t i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value || !meta[i].key[0])
            return ursa_err_set(err, URSA_EINVAL, "avro: metadata entry %zu has no key or value", i);
        if (!strncmp(meta[i].key, "avro.", 5))
            return ursa_err_set(err, URSA_EINVAL, "avro: metadata key \"%s\" is reserved", meta[i].key);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(meta[i].key, meta[k].key))
                return ursa_err_set(err, URSA_EINVAL, "avro: metadata key \"%s\" given twice", meta[i].key);
    }
    if (o->codec != AVRO_CODEC_NULL && o->codec != AVRO_CODEC_DEFLATE)
        return ursa_err_set(err, URSA_EINVAL, "avro: unknown codec %d", (int)o->codec);
    if (o->deflate_level < 0 || o->deflate_level > 9)
        return ursa_err_set(err, URSA_EINVAL, "avro: deflate level %d is not in 1..9", o->deflate_level);
    if (o->block_bytes > AVRO_BLOCK_MAX)
        return ursa_err_set(err, URSA_EINVAL, "avro: block size %zu is over %zu", o->block_bytes,
                            AVRO_BLOCK_MAX);
    return URSA_OK;
}

int avro_writer_new(ursa_sink_t sink, const char *schema_json, const avro_meta_t *meta, size_t nmeta,
                    const avro_writer_opts_t *opts, avro_writer_t **out, ursa_err_t *err)
{
    int rc;
    avro_writer_opts_t dflt = {0};
    const avro_writer_opts_t *o = opts ? opts : &dflt;
    *out = NULL;
    if ((rc = check_args(schema_json, meta, nmeta, o, err))) return rc;
    avro_writer_t *w = ursa_calloc(1, sizeof(*w));
    if (!w) return ursa_err_set(err, URSA_ENOMEM, "avro: out of memory");
    w->sink = sink;
    w->codec = o->codec;
    w->block_bytes = o->block_bytes ? o->block_bytes : AVRO_BLOCK_BYTES;
    avro_enc_init(&w->enc, &w->block);
    if (o->sync) {
        memcpy(w->sync, o->sync, AVRO_SYNC_SIZE);
    } else if (getrandom(w->sync, AVRO_SYNC_SIZE, 0) != AVRO_SYNC_SIZE) {
        rc = ursa_err_set(err, URSA_EIO, "avro: getrandom failed for the sync marker");
        goto out;
    }
    if (w->codec == AVRO_CODEC_DEFLATE) {
        w->z.zalloc = z_alloc;
        w->z.zfree = z_free;
        int level = o->deflate_level ? o->deflate_level : Z_DEFAULT_COMPRESSION;
        if (deflateInit2(&w->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            rc = ursa_err_set(err, URSA_ENOMEM, "avro: deflateInit2 failed");
            goto out;
        }
        w->z_ready = true;
    }
    rc = write_header(w, schema_json, meta, nmeta, err);
out:
    if (rc) {
        avro_writer_destroy(&w);
        return rc;
    }
    *out = w;
    return URSA_OK;
}

avro_enc_t *avro_writer_enc(avro_writer_t *w)
{
    return &w->enc;
}

int avro_writer_record_end(avro_writer_t *w, ursa_err_t *err)
{
    if (w->closed) return ursa_err_set(err, URSA_EINVAL, "avro: a record ended after the writer was closed");
    if (w->rc) return ursa_err_set(err, w->rc, "avro: the writer failed before (%s)", ursa_strstatus(w->rc));
    int rc = avro_enc_status(&w->enc);
    if (rc) {
        ursa_err_set(err, rc, "avro: record %llu could not be encoded (%s)", (unsigned long long)w->records,
                     ursa_strstatus(rc));
        goto out;
    }
    if (w->block.len > AVRO_BLOCK_MAX) {
        rc = ursa_err_set(err, URSA_ELIMIT, "avro: record %llu makes a block of %zu bytes, over %zu",
                          (unsigned long long)w->records, w->block.len, AVRO_BLOCK_MAX);
        goto out;
    }
    w->nrec_block++;
    w->records++;
    w->rec_start = w->block.len;
    if (w->block.len >= w->block_bytes) rc = flush_block(w, err);
out:
    w->rc = rc;
    return rc;
}

int avro_writer_close(avro_writer_t *w, ursa_err_t *err)
{
    if (w->closed) return ursa_err_set(err, URSA_EINVAL, "avro: the writer was closed already");
    if (w->rc) return ursa_err_set(err, w->rc, "avro: the writer failed before (%s)", ursa_strstatus(w->rc));
    int rc;
    if (w->block.len != w->rec_start || avro_enc_status(&w->enc) != URSA_OK) {
        rc = ursa_err_set(err, URSA_EINTERNAL, "avro: a record was begun and not ended");
        goto out;
    }
    rc = flush_block(w, err);
out:
    w->rc = rc;
    w->closed = true;
    return rc;
}

uint64_t avro_writer_records(const avro_writer_t *w)
{
    return w->records;
}

uint64_t avro_writer_bytes(const avro_writer_t *w)
{
    return w->bytes;
}

void avro_writer_destroy(avro_writer_t **wp)
{
    avro_writer_t *w = *wp;
    if (!w) return;
    if (w->z_ready) deflateEnd(&w->z);
    ursa_buf_free(&w->block);
    ursa_buf_free(&w->zbuf);
    ursa_free(w);
    *wp = NULL;
}

static int buf_sink_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    int rc = ursa_buf_append(ctx, p, n);
    if (rc) return ursa_err_set(err, rc, "avro: out of memory for the file (%zu bytes)", n);
    return URSA_OK;
}

ursa_sink_t avro_buf_sink(ursa_buf_t *b)
{
    ursa_sink_t s = {buf_sink_write, b};
    return s;
}
