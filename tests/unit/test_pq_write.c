/*
 * test_pq_write.c -- the Parquet writer, end to end.
 *
 * Each test writes a file into memory, then checks it in C: magic and
 * footer length, the footer decoded with a small compact-protocol reader
 * written here, every page header walked and sized, and every page decoded
 * back into columns that must equal the input. Files are also saved into
 * $URSA_TEST_TMP (default /tmp) as ursa_pq_*.parquet, each with an
 * .expect.json sidecar (row count and per-column aggregates computed from
 * the input), so that independent readers can check them too
 * (tests/tools/check_writer_files.mjs).
 */
#include "codec.h"
#include "pq_encode.h"
#include "pq_write.h"
#include "test.h"
#include "thrift.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------
 * Sinks
 * ------------------------------------------------------------------------- */

typedef struct memsink {
    ursa_buf_t buf;
    size_t fail_after; /* fail a write that would go past this many bytes; 0 = never */
} memsink_t;

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    memsink_t *m = ctx;
    if (m->fail_after && m->buf.len + n > m->fail_after)
        return ursa_err_set(err, URSA_EIO, "injected failure");
    /* Plain malloc, so that allocation-failure injection hits only the writer. */
    if (m->buf.len + n > m->buf.cap) {
        size_t cap = m->buf.cap ? m->buf.cap : 4096;
        while (cap < m->buf.len + n) cap *= 2;
        uint8_t *d = realloc(m->buf.data, cap);
        if (!d) return URSA_ENOMEM;
        m->buf.data = d;
        m->buf.cap = cap;
    }
    memcpy(m->buf.data + m->buf.len, p, n);
    m->buf.len += n;
    return URSA_OK;
}

static ursa_sink_t mem_sink(memsink_t *m)
{
    ursa_sink_t s = {mem_write, m};
    return s;
}

static void memsink_free(memsink_t *m)
{
    free(m->buf.data);
    memset(m, 0, sizeof(*m));
}

static const char *tmp_dir(void)
{
    const char *d = getenv("URSA_TEST_TMP");
    return d && *d ? d : "/tmp";
}

static void save_file(const char *name, const ursa_buf_t *b)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/ursa_pq_%s.parquet", tmp_dir(), name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(b->data, 1, b->len, f) == b->len);
    fclose(f);
}

/* ---------------------------------------------------------------------------
 * A compact-protocol reader building a tree of values.
 * ------------------------------------------------------------------------- */

typedef struct tv {
    int type;
    int16_t id;
    int64_t i;
    const uint8_t *bin;
    size_t len;
    struct tv *kids; /* struct fields or list elements */
    size_t nkids;
} tv_t;

static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) return -1;
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static void tv_free(tv_t *v)
{
    for (size_t i = 0; i < v->nkids; i++) tv_free(&v->kids[i]);
    free(v->kids);
    v->kids = NULL;
    v->nkids = 0;
}

static int tv_parse(const uint8_t **p, const uint8_t *end, int type, tv_t *v, int depth);

static tv_t *tv_add(tv_t *parent)
{
    parent->kids = realloc(parent->kids, (parent->nkids + 1) * sizeof(tv_t));
    tv_t *k = &parent->kids[parent->nkids++];
    memset(k, 0, sizeof(*k));
    return k;
}

static int tv_parse(const uint8_t **p, const uint8_t *end, int type, tv_t *v, int depth)
{
    uint64_t u;
    v->type = type;
    if (depth > 40) return -1;
    switch (type) {
    case THRIFT_TRUE:
    case THRIFT_FALSE:
        return 0; /* value in the header (fields) or set by the list reader */
    case THRIFT_I8:
        if (*p >= end) return -1;
        v->i = (int8_t) * (*p)++;
        return 0;
    case THRIFT_I16:
    case THRIFT_I32:
    case THRIFT_I64:
        if (rd_varint(p, end, &u)) return -1;
        v->i = unzigzag(u);
        return 0;
    case THRIFT_DOUBLE:
        if (end - *p < 8) return -1;
        memcpy(&v->i, *p, 8);
        *p += 8;
        return 0;
    case THRIFT_BINARY:
        if (rd_varint(p, end, &u) || u > (uint64_t)(end - *p)) return -1;
        v->bin = *p;
        v->len = (size_t)u;
        *p += u;
        return 0;
    case THRIFT_LIST:
    case THRIFT_SET: {
        if (*p >= end) return -1;
        uint8_t h = *(*p)++;
        uint64_t n = h >> 4;
        int et = h & 0x0f;
        if (n == 15 && rd_varint(p, end, &n)) return -1;
        for (uint64_t k = 0; k < n; k++) {
            tv_t *e = tv_add(v);
            if (et == THRIFT_TRUE || et == THRIFT_FALSE) {
                if (*p >= end) return -1;
                e->type = et;
                e->i = *(*p)++ == 1;
            } else if (tv_parse(p, end, et, e, depth + 1)) {
                return -1;
            }
        }
        return 0;
    }
    case THRIFT_STRUCT: {
        int16_t last = 0;
        for (;;) {
            if (*p >= end) return -1;
            uint8_t h = *(*p)++;
            if (h == 0) return 0;
            int ft = h & 0x0f;
            int16_t id;
            if (h >> 4) {
                id = (int16_t)(last + (h >> 4));
            } else {
                if (rd_varint(p, end, &u)) return -1;
                id = (int16_t)unzigzag(u);
            }
            last = id;
            tv_t *f = tv_add(v);
            f->id = id;
            if (ft == THRIFT_TRUE || ft == THRIFT_FALSE) f->i = ft == THRIFT_TRUE;
            if (tv_parse(p, end, ft, f, depth + 1)) return -1;
        }
    }
    default:
        return -1;
    }
}

static const tv_t *tv_get(const tv_t *s, int16_t id)
{
    if (!s) return NULL;
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i].id == id) return &s->kids[i];
    return NULL;
}

static int64_t tv_int(const tv_t *s, int16_t id, int64_t dflt)
{
    const tv_t *f = tv_get(s, id);
    return f ? f->i : dflt;
}

/* ---------------------------------------------------------------------------
 * Reading a file back
 * ------------------------------------------------------------------------- */

typedef struct parsed {
    tv_t meta;     /* FileMetaData */
    uint8_t *file; /* a copy of the file, which meta points into */
    size_t footer_len;
    size_t dict_pages;      /* pages seen, all chunks */
    size_t dict_data_pages; /* RLE_DICTIONARY data pages */
    size_t plain_data_pages;
    size_t data_pages;
    size_t v2_pages;
    size_t enc_pages[10]; /* non-dictionary data pages per encoding */
} parsed_t;

static int fail_at(const char *what, int line)
{
    fprintf(stderr, "read-back failed at line %d: %s\n", line, what);
    return -1;
}
#define BAD(what) return fail_at(what, __LINE__)

/* The physical type and value length the writer must use for a field
 * (written here from the spec, independently of pq_write.c). */
static void phys_of(const ursa_field_t *f, int *ptype, int *plen)
{
    static const int dec_bytes[39] = {0,  1,  1,  2,  2,  3,  3,  4,  4,  4,  5,  5,  6,
                                      6,  6,  7,  7,  8,  8,  8,  9,  9,  10, 10, 11, 11,
                                      11, 12, 12, 13, 13, 13, 14, 14, 15, 15, 16, 16, 16};
    *plen = 0;
    switch (f->type) {
    case URSA_TYPE_BOOL:
        *ptype = 0;
        break;
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_DATE:
        *ptype = 1, *plen = 4;
        break;
    case URSA_TYPE_FLOAT32:
        *ptype = 4, *plen = 4;
        break;
    case URSA_TYPE_FLOAT64:
        *ptype = 5, *plen = 8;
        break;
    case URSA_TYPE_DECIMAL:
        if (f->precision <= 9)
            *ptype = 1, *plen = 4;
        else if (f->precision <= 18)
            *ptype = 2, *plen = 8;
        else
            *ptype = 7, *plen = dec_bytes[f->precision];
        break;
    case URSA_TYPE_UUID:
        *ptype = 7, *plen = 16;
        break;
    case URSA_TYPE_STRING:
    case URSA_TYPE_BINARY:
    case URSA_TYPE_JSON:
        *ptype = 6;
        break;
    default:
        *ptype = 2, *plen = 8;
    }
}

/* Appends one physical value (plen bytes at p) to col as the column's own
 * representation. */
static int append_phys(ursa_column_t *col, const ursa_field_t *f, const uint8_t *p, int plen)
{
    uint8_t v[16] = {0};
    int32_t i32;
    switch (f->type) {
    case URSA_TYPE_INT8:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_UINT16:
        memcpy(&i32, p, 4);
        memcpy(v, &i32, col->width); /* the low bytes; range checked by the caller's comparison */
        break;
    case URSA_TYPE_DECIMAL:
        if (f->precision <= 9) {
            memcpy(&i32, p, 4);
            int64_t x = i32;
            memcpy(v, &x, 8);
        } else if (f->precision <= 18) {
            memcpy(v, p, 8);
        } else { /* big-endian two's complement, sign-extended to 16 bytes */
            memset(v, (p[0] & 0x80) ? 0xff : 0, 16);
            for (int k = 0; k < plen; k++) v[k] = p[plen - 1 - k];
        }
        break;
    default:
        memcpy(v, p, col->width);
    }
    return ursa_column_append_fixed(col, v);
}

/* Decodes one column chunk into col (appending). */
static int read_chunk(const ursa_buf_t *file, const tv_t *md, const ursa_field_t *field, ursa_column_t *col,
                      parsed_t *ps)
{
    int64_t codec = tv_int(md, 4, -1), nvals = tv_int(md, 5, -1);
    int64_t unc_total = tv_int(md, 6, -1), comp_total = tv_int(md, 7, -1);
    int64_t data_off = tv_int(md, 9, -1), dict_off = tv_int(md, 11, -1);
    int64_t start = dict_off >= 0 ? dict_off : data_off;
    int ptype, plen;
    phys_of(field, &ptype, &plen);
    if (tv_int(md, 1, -1) != ptype) BAD("physical type");
    if (nvals < 0 || start < 4 || (uint64_t)start >= file->len) BAD("chunk offsets");
    if (dict_off >= 0 && dict_off >= data_off) BAD("dictionary page after data page");
    const uint8_t *end = file->data + file->len;
    size_t pos = (size_t)start;
    int64_t got = 0, unc = 0, comp = 0;
    ursa_buf_t dict = {0}, body = {0}, vals = {0};
    const uint8_t **dvals = NULL;
    size_t *dlens = NULL, ndict = 0;
    uint32_t *defs = NULL, *idx = NULL;
    int64_t *ints = NULL;
    int rc = -1;
    bool first_data = true;
    while (got < nvals) {
        const uint8_t *p = file->data + pos;
        tv_t ph = {0};
        if (tv_parse(&p, end, THRIFT_STRUCT, &ph, 0)) {
            tv_free(&ph);
            fail_at("page header", __LINE__);
            goto out;
        }
        size_t hlen = (size_t)(p - (file->data + pos));
        int64_t type = tv_int(&ph, 1, -1), usize = tv_int(&ph, 2, -1), csize = tv_int(&ph, 3, -1);
        const tv_t *dph = tv_get(&ph, 5), *dictph = tv_get(&ph, 7), *v2h = tv_get(&ph, 8);
        const tv_t *h = dph ? dph : v2h ? v2h : dictph;
        int64_t pnv = tv_int(h, 1, -1);
        int64_t enc = v2h ? tv_int(v2h, 4, -1) : tv_int(h, 2, -1);
        int64_t dl_enc = tv_int(dph, 3, -1), rl_enc = tv_int(dph, 4, -1);
        int64_t v2_nulls = tv_int(v2h, 2, -1), v2_rows = tv_int(v2h, 3, -1), v2_dl = tv_int(v2h, 5, -1);
        int64_t v2_rl = tv_int(v2h, 6, -1), v2_comp = tv_int(v2h, 7, 1);
        bool is_dict = dictph != NULL;
        tv_free(&ph);
        if (csize < 0 || usize < 0 || (size_t)csize > (size_t)(end - p)) {
            fail_at("page sizes", __LINE__);
            goto out;
        }
        body.len = 0;
        size_t lvl = 0; /* v2: levels before the (compressed) values */
        if (type == 3) {
            if (v2_dl < 0 || v2_dl > csize || v2_rl != 0 || v2_rows != pnv) {
                fail_at("v2 header", __LINE__);
                goto out;
            }
            lvl = (size_t)v2_dl;
            if (ursa_buf_append(&body, p, lvl)) goto out;
            bool compressed = v2_comp && codec != 0;
            if (v2_comp != (codec != 0)) {
                fail_at("v2 is_compressed", __LINE__);
                goto out;
            }
            if (pq_decompress(compressed ? (pq_codec_t)codec : PQ_CODEC_UNCOMPRESSED, p + lvl,
                              (size_t)csize - lvl, (size_t)usize - lvl, &body)) {
                fail_at("decompress v2", __LINE__);
                goto out;
            }
        } else if (pq_decompress((pq_codec_t)codec, p, (size_t)csize, (size_t)usize, &body)) {
            fail_at("decompress", __LINE__);
            goto out;
        }
        unc += (int64_t)hlen + usize;
        comp += (int64_t)hlen + csize;
        if (type == 2) { /* dictionary page */
            if (!is_dict || enc != 0 || (int64_t)pos != dict_off || ndict) {
                fail_at("dictionary page", __LINE__);
                goto out;
            }
            ps->dict_pages++;
            dict.len = 0;
            if (ursa_buf_append(&dict, body.data, body.len)) goto out;
            dvals = calloc((size_t)pnv + 1, sizeof(*dvals));
            dlens = calloc((size_t)pnv + 1, sizeof(*dlens));
            size_t q = 0;
            for (int64_t k = 0; k < pnv; k++) {
                uint32_t l = (uint32_t)plen;
                if (ptype == 6) {
                    if (q + 4 > dict.len) goto out;
                    memcpy(&l, dict.data + q, 4);
                    q += 4;
                }
                if (l > dict.len - q) goto out;
                dvals[k] = dict.data + q;
                dlens[k] = l;
                q += l;
            }
            if (q != dict.len) goto out;
            ndict = (size_t)pnv;
        } else if ((type == 0 && dph) || (type == 3 && v2h)) {
            if (first_data && (int64_t)pos != data_off) {
                fail_at("data_page_offset", __LINE__);
                goto out;
            }
            first_data = false;
            ps->data_pages++;
            ps->v2_pages += type == 3;
            if (type == 0 && (dl_enc != 3 || rl_enc != 3)) {
                fail_at("level encodings", __LINE__);
                goto out;
            }
            size_t n = (size_t)pnv, q = 0, nonnull = n;
            free(defs);
            defs = calloc(n + 1, sizeof(uint32_t));
            if (field->nullable) {
                uint32_t l = (uint32_t)lvl;
                if (type == 0) {
                    if (body.len < 4) goto out;
                    memcpy(&l, body.data, 4);
                    q = 4;
                }
                size_t used;
                if (l > body.len - q || pq_rle_decode(body.data + q, l, 1, defs, n, &used) || used != l) {
                    fail_at("definition levels", __LINE__);
                    goto out;
                }
                q += l;
                nonnull = 0;
                for (size_t k = 0; k < n; k++) nonnull += defs[k];
            } else {
                if (lvl) goto out;
                for (size_t k = 0; k < n; k++) defs[k] = 1;
            }
            if (type == 3 && v2_nulls != (int64_t)(n - nonnull)) {
                fail_at("v2 num_nulls", __LINE__);
                goto out;
            }
            const uint8_t *v = body.data + q;
            size_t vlen = body.len - q;
            /* Decode the values into vals: fixed-width physical values, or
             * (byte arrays) pointer/length pairs via idx into a side table. */
            vals.len = 0;
            free(idx);
            idx = NULL;
            const uint8_t **sv = NULL;
            size_t *sl = NULL;
            size_t consumed = 0;
            if (enc == 8) {
                ps->dict_data_pages++;
                if (!ndict || vlen < 1) {
                    fail_at("dictionary page missing", __LINE__);
                    goto out;
                }
                idx = calloc(nonnull + 1, sizeof(uint32_t));
                size_t used;
                if (pq_rle_decode(v + 1, vlen - 1, v[0], idx, nonnull, &used) || used != vlen - 1) {
                    fail_at("indices", __LINE__);
                    goto out;
                }
                for (size_t k = 0; k < nonnull; k++)
                    if (idx[k] >= ndict) goto out;
                consumed = vlen;
            } else {
                ps->enc_pages[enc >= 0 && enc < 10 ? enc : 0]++;
                if (enc == 0) ps->plain_data_pages++;
            }
            sv = calloc(nonnull + 1, sizeof(*sv));
            sl = calloc(nonnull + 1, sizeof(*sl));
            if (idx) {
                for (size_t k = 0; k < nonnull; k++) sv[k] = dvals[idx[k]], sl[k] = dlens[idx[k]];
            } else if (ptype == 0) {
                if (enc == 0) { /* PLAIN, in v1 or (when asked for) v2 pages */
                    if (nonnull > vlen * 8) goto bad_vals;
                    if (ursa_buf_reserve(&vals, nonnull + 1)) goto bad_vals;
                    for (size_t k = 0; k < nonnull; k++) vals.data[k] = (v[k / 8] >> (k % 8)) & 1;
                    consumed = (nonnull + 7) / 8;
                } else if (enc == 3 && type == 3) {
                    uint32_t l;
                    size_t used;
                    if (vlen < 4) goto bad_vals;
                    memcpy(&l, v, 4);
                    uint32_t *bits = calloc(nonnull + 1, sizeof(uint32_t));
                    if (l > vlen - 4 || pq_rle_decode(v + 4, l, 1, bits, nonnull, &used) || used != l) {
                        free(bits);
                        goto bad_vals;
                    }
                    if (ursa_buf_reserve(&vals, nonnull + 1)) goto bad_vals;
                    for (size_t k = 0; k < nonnull; k++) vals.data[k] = (uint8_t)bits[k];
                    free(bits);
                    consumed = 4 + l;
                } else {
                    goto bad_vals;
                }
                for (size_t k = 0; k < nonnull; k++) sv[k] = vals.data + k, sl[k] = 1;
            } else if (ptype == 6 && (enc == 0 || enc == 6)) {
                size_t vpos = 0;
                if (enc == 0) {
                    for (size_t k = 0; k < nonnull; k++) {
                        uint32_t l;
                        if (vpos + 4 > vlen) goto bad_vals;
                        memcpy(&l, v + vpos, 4);
                        if (l > vlen - vpos - 4) goto bad_vals;
                        sv[k] = v + vpos + 4, sl[k] = l;
                        vpos += 4 + l;
                    }
                } else {
                    free(ints);
                    ints = calloc(nonnull + 1, sizeof(int64_t));
                    size_t used;
                    if (pq_delta_decode(v, vlen, 32, ints, nonnull, &used)) goto bad_vals;
                    vpos = used;
                    for (size_t k = 0; k < nonnull; k++) {
                        if (ints[k] < 0 || (size_t)ints[k] > vlen - vpos) goto bad_vals;
                        sv[k] = v + vpos, sl[k] = (size_t)ints[k];
                        vpos += (size_t)ints[k];
                    }
                }
                consumed = vpos;
            } else if (ptype != 6 && (enc == 0 || enc == 5 || enc == 9)) {
                size_t P = (size_t)plen;
                if (ursa_buf_reserve(&vals, nonnull * P + 1)) goto bad_vals;
                if (enc == 0) {
                    if (nonnull * P > vlen) goto bad_vals;
                    memcpy(vals.data, v, nonnull * P);
                    consumed = nonnull * P;
                } else if (enc == 9) {
                    if ((ptype != 4 && ptype != 5) || nonnull * P > vlen) goto bad_vals;
                    for (size_t k = 0; k < nonnull; k++)
                        for (size_t b = 0; b < P; b++) vals.data[k * P + b] = v[b * nonnull + k];
                    consumed = nonnull * P;
                } else {
                    if (ptype != 1 && ptype != 2) goto bad_vals;
                    free(ints);
                    ints = calloc(nonnull + 1, sizeof(int64_t));
                    size_t used;
                    if (pq_delta_decode(v, vlen, ptype == 1 ? 32 : 64, ints, nonnull, &used)) goto bad_vals;
                    for (size_t k = 0; k < nonnull; k++) {
                        int32_t x32 = (int32_t)ints[k];
                        if (ptype == 1)
                            memcpy(vals.data + k * 4, &x32, 4);
                        else
                            memcpy(vals.data + k * 8, &ints[k], 8);
                    }
                    consumed = used;
                }
                for (size_t k = 0; k < nonnull; k++) sv[k] = vals.data + k * P, sl[k] = P;
            } else {
                goto bad_vals;
            }
            if (consumed != vlen) {
                free(sv);
                free(sl);
                fail_at("trailing bytes in page", __LINE__);
                goto out;
            }
            size_t vi = 0;
            for (size_t k = 0; k < n; k++) {
                int r;
                if (!defs[k])
                    r = ursa_column_append_null(col);
                else if (ptype == 0)
                    r = ursa_column_append_bool(col, sv[vi][0] != 0), vi++;
                else if (ptype == 6)
                    r = ursa_column_append_str(col, sv[vi], sl[vi]), vi++;
                else if (sl[vi] != (size_t)plen)
                    r = -1;
                else
                    r = append_phys(col, field, sv[vi], plen), vi++;
                if (r) {
                    free(sv);
                    free(sl);
                    goto out;
                }
            }
            free(sv);
            free(sl);
            got += (int64_t)n;
            if (0) {
            bad_vals:
                free(sv);
                free(sl);
                fprintf(stderr, "encoding %lld of type %d\n", (long long)enc, ptype);
                fail_at("values", __LINE__);
                goto out;
            }
        } else {
            fail_at("page type", __LINE__);
            goto out;
        }
        pos += hlen + (size_t)csize;
    }
    if (got != nvals || unc != unc_total || comp != comp_total || (int64_t)pos != start + comp_total) {
        fprintf(stderr, "got %lld/%lld unc %lld/%lld comp %lld/%lld\n", (long long)got, (long long)nvals,
                (long long)unc, (long long)unc_total, (long long)comp, (long long)comp_total);
        fail_at("chunk totals", __LINE__);
        goto out;
    }
    rc = 0;
out:
    ursa_buf_free(&dict);
    ursa_buf_free(&body);
    ursa_buf_free(&vals);
    free(dvals);
    free(dlens);
    free(defs);
    free(idx);
    free(ints);
    return rc;
}

/* Parses and decodes a whole file into out (initialized for schema s). */
static int read_file(const ursa_buf_t *file, const ursa_schema_t *s, ursa_batch_t *out, parsed_t *ps)
{
    memset(ps, 0, sizeof(*ps));
    ps->file = malloc(file->len + 1);
    if (file->len) memcpy(ps->file, file->data, file->len);
    if (file->len < 12 || memcmp(file->data, "PAR1", 4) || memcmp(file->data + file->len - 4, "PAR1", 4))
        BAD("magic");
    uint32_t flen;
    memcpy(&flen, file->data + file->len - 8, 4);
    if (flen > file->len - 12) BAD("footer length");
    ps->footer_len = flen;
    const uint8_t *p = ps->file + file->len - 8 - flen, *end = ps->file + file->len - 8;
    if (tv_parse(&p, end, THRIFT_STRUCT, &ps->meta, 0) || p != end) BAD("footer");
    const tv_t *schema = tv_get(&ps->meta, 2), *rgs = tv_get(&ps->meta, 4);
    if (!schema || schema->nkids != s->nfields + 1 || !rgs) BAD("schema / row groups");
    if (tv_int(&schema->kids[0], 5, -1) != (int64_t)s->nfields) BAD("num_children");
    int64_t rows = 0;
    for (size_t r = 0; r < rgs->nkids; r++) {
        const tv_t *rg = &rgs->kids[r], *cols = tv_get(rg, 1);
        if (!cols || cols->nkids != s->nfields) BAD("row group columns");
        int64_t rg_rows = tv_int(rg, 3, -1), comp = 0, unc = 0;
        for (size_t c = 0; c < s->nfields; c++) {
            const tv_t *md = tv_get(&cols->kids[c], 3);
            if (!md || tv_int(md, 5, -1) != rg_rows) BAD("column num_values");
            if (c == 0 && tv_int(rg, 5, -1) != tv_int(&cols->kids[c], 2, -2)) BAD("row group file_offset");
            comp += tv_int(md, 7, 0);
            unc += tv_int(md, 6, 0);
            if (read_chunk(file, md, &s->fields[c], &out->cols[c], ps)) return -1;
        }
        if (comp != tv_int(rg, 6, -1) || unc != tv_int(rg, 2, -1)) BAD("row group sizes");
        if (tv_int(rg, 7, -1) != (int64_t)r) BAD("ordinal");
        rows += rg_rows;
    }
    if (rows != tv_int(&ps->meta, 3, -1)) BAD("num_rows");
    out->nrows = (size_t)rows;
    return 0;
}

static void parsed_free(parsed_t *ps)
{
    tv_free(&ps->meta);
    free(ps->file);
    ps->file = NULL;
}

/* Column metadata of column c in row group r. */
static const tv_t *col_meta(const parsed_t *ps, size_t r, size_t c)
{
    const tv_t *rgs = tv_get(&ps->meta, 4);
    if (!rgs || r >= rgs->nkids) return NULL;
    const tv_t *cols = tv_get(&rgs->kids[r], 1);
    if (!cols || c >= cols->nkids) return NULL;
    return tv_get(&cols->kids[c], 3);
}

/* ursa_column_str(), safe for a column whose data buffer was never
 * allocated (only empty strings): NULL + 0 is undefined behaviour. */
static const uint8_t *col_str(const ursa_column_t *c, size_t i, size_t *n)
{
    const int64_t *off = (const int64_t *)(const void *)c->offsets.data;
    *n = (size_t)(off[i + 1] - off[i]);
    return c->data.data ? c->data.data + off[i] : (const uint8_t *)"";
}

static bool same_column(const ursa_column_t *a, const ursa_column_t *b, const char *name)
{
    if (a->length != b->length) {
        fprintf(stderr, "column %s: %zu rows read back, %zu written\n", name, b->length, a->length);
        return false;
    }
    for (size_t i = 0; i < a->length; i++) {
        bool va = ursa_column_valid(a, i), vb = ursa_column_valid(b, i);
        bool eq = va == vb;
        if (eq && va) {
            switch (a->type) {
            case URSA_TYPE_BOOL:
                eq = ursa_column_bool(a, i) == ursa_column_bool(b, i);
                break;
            case URSA_TYPE_STRING:
            case URSA_TYPE_BINARY:
            case URSA_TYPE_JSON: {
                size_t na, nb;
                const uint8_t *sa = col_str(a, i, &na), *sb = col_str(b, i, &nb);
                eq = na == nb && memcmp(sa, sb, na) == 0;
                break;
            }
            default: /* bitwise, so NaN and -0.0 are compared exactly */
                eq = a->width == b->width &&
                     memcmp(a->values.data + i * a->width, b->values.data + i * b->width, a->width) == 0;
            }
        }
        if (!eq) {
            fprintf(stderr, "column %s: row %zu differs\n", name, i);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------
 * Expected aggregates (the .expect.json sidecar)
 * ------------------------------------------------------------------------- */

static void i128_str(__int128 v, char *out)
{
    char tmp[48];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    int k = 0;
    if (neg) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    out[k] = 0;
}

static void json_double(ursa_buf_t *b, double d)
{
    int rc = URSA_OK;
    if (isnan(d))
        rc = ursa_buf_printf(b, "\"NaN\"");
    else if (isinf(d))
        rc = ursa_buf_printf(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        rc = ursa_buf_printf(b, "%.17g", d);
    CHECK(rc == URSA_OK);
}

static int cmp_str(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* Writes name.expect.json next to the file: what every reader must see. */
static void save_expect(const char *name, const ursa_schema_t *s, const ursa_batch_t *b)
{
    ursa_buf_t j = {0};
    int rc = ursa_buf_printf(&j, "{\"rows\": %zu, \"columns\": {", b->nrows);
    for (size_t c = 0; c < s->nfields && rc == URSA_OK; c++) {
        const ursa_column_t *col = &b->cols[c];
        size_t nulls = 0, trues = 0, nans = 0, bytes = 0;
        __int128 sum = 0;
        double fsum = 0, fmin = 0, fmax = 0;
        int64_t imin = 0, imax = 0;
        bool any = false;
        const uint8_t *smin = NULL, *smax = NULL;
        size_t sminl = 0, smaxl = 0;
        pq_dict_t distinct;
        pq_dict_init(&distinct, PQ_DICT_HARD_MAX);
        for (size_t i = 0; i < col->length; i++) {
            if (!ursa_column_valid(col, i)) {
                nulls++;
                continue;
            }
            switch (col->type) {
            case URSA_TYPE_BOOL:
                trues += ursa_column_bool(col, i);
                break;
            case URSA_TYPE_FLOAT64: {
                double d = ursa_column_f64(col, i);
                if (isnan(d)) {
                    nans++;
                    break;
                }
                fsum += d;
                if (!any || d < fmin) fmin = d;
                if (!any || d > fmax) fmax = d;
                any = true;
                break;
            }
            case URSA_TYPE_STRING: {
                size_t n;
                const uint8_t *p = col_str(col, i, &n);
                uint32_t idx;
                bool added;
                CHECK(pq_dict_put(&distinct, p, n, &idx, &added) == URSA_OK);
                bytes += n;
                if (!any || cmp_str(p, n, smin, sminl) < 0) smin = p, sminl = n;
                if (!any || cmp_str(p, n, smax, smaxl) > 0) smax = p, smaxl = n;
                any = true;
                break;
            }
            default: {
                int64_t v = ursa_column_i64(col, i);
                sum += v;
                if (!any || v < imin) imin = v;
                if (!any || v > imax) imax = v;
                any = true;
            }
            }
        }
        rc = ursa_buf_printf(&j, "%s\"%s\": {\"nullable\": %s, \"nulls\": %zu", c ? ", " : "",
                             s->fields[c].name, s->fields[c].nullable ? "true" : "false", nulls);
        char num[48], num2[48];
        switch (col->type) {
        case URSA_TYPE_BOOL:
            rc = rc ? rc : ursa_buf_printf(&j, ", \"kind\": \"bool\", \"true\": %zu", trues);
            break;
        case URSA_TYPE_FLOAT64:
            rc = rc ? rc : ursa_buf_printf(&j, ", \"kind\": \"float\", \"nan\": %zu, \"sum\": ", nans);
            if (any) {
                json_double(&j, fsum);
                rc = rc ? rc : ursa_buf_printf(&j, ", \"min\": ");
                json_double(&j, fmin);
                rc = rc ? rc : ursa_buf_printf(&j, ", \"max\": ");
                json_double(&j, fmax);
            } else {
                rc = rc ? rc : ursa_buf_printf(&j, "null, \"min\": null, \"max\": null");
            }
            break;
        case URSA_TYPE_STRING:
            rc = rc ? rc
                    : ursa_buf_printf(
                          &j, ", \"kind\": \"string\", \"bytes\": %zu, \"distinct\": %zu, \"min\": ", bytes,
                          distinct.count);
            if (any) {
                rc = rc ? rc : ursa_buf_json_str(&j, (const char *)smin, sminl);
                rc = rc ? rc : ursa_buf_printf(&j, ", \"max\": ");
                rc = rc ? rc : ursa_buf_json_str(&j, (const char *)smax, smaxl);
            } else {
                rc = rc ? rc : ursa_buf_printf(&j, "null, \"max\": null");
            }
            break;
        default:
            i128_str(sum, num);
            rc = rc ? rc
                    : ursa_buf_printf(&j, ", \"kind\": \"%s\", \"sum\": \"%s\"",
                                      col->type == URSA_TYPE_TIMESTAMP ? "timestamp" : "int", num);
            if (any) {
                i128_str(imin, num);
                i128_str(imax, num2);
                rc = rc ? rc : ursa_buf_printf(&j, ", \"min\": \"%s\", \"max\": \"%s\"", num, num2);
            } else {
                rc = rc ? rc : ursa_buf_printf(&j, ", \"min\": null, \"max\": null");
            }
        }
        rc = rc ? rc : ursa_buf_printf(&j, "}");
        pq_dict_free(&distinct);
    }
    rc = rc ? rc : ursa_buf_printf(&j, "}}\n");
    CHECK_EQ_INT(rc, URSA_OK);
    char path[1024];
    snprintf(path, sizeof(path), "%s/ursa_pq_%s.expect.json", tmp_dir(), name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(j.data, 1, j.len, f) == j.len);
        fclose(f);
    }
    ursa_buf_free(&j);
}

/* ---------------------------------------------------------------------------
 * Data
 * ------------------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define FIELD(n, t, null)                                                                \
    {                                                                                    \
        .name = (char *)(n), .name_len = sizeof(n) - 1, .type = (t), .nullable = (null), \
        .unit = URSA_UNIT_US, .utc = true                                                \
    }

static ursa_field_t all_fields[] = {
    FIELD("b", URSA_TYPE_BOOL, true),        FIELD("b_req", URSA_TYPE_BOOL, false),
    FIELD("i", URSA_TYPE_INT64, true),       FIELD("i_req", URSA_TYPE_INT64, false),
    FIELD("f", URSA_TYPE_FLOAT64, true),     FIELD("f_req", URSA_TYPE_FLOAT64, false),
    FIELD("ts", URSA_TYPE_TIMESTAMP, true),  FIELD("ts_req", URSA_TYPE_TIMESTAMP, false),
    FIELD("s", URSA_TYPE_STRING, true),      FIELD("s_req", URSA_TYPE_STRING, false),
    FIELD("s_uniq", URSA_TYPE_STRING, true),
};

static const ursa_schema_t all_schema = {all_fields, URSA_ARRAY_LEN(all_fields), 6};

static const char *const words[] = {"alpha", "beta", "gamma", "δέλτα", "イプシロン", "zeta 🦓", "", "eta"};

/* Appends n rows of varied data to b (which follows all_schema). */
static void fill_all(ursa_batch_t *b, size_t n)
{
    int rc = URSA_OK;
    for (size_t r = 0; r < n && rc == URSA_OK; r++) {
        size_t row = b->nrows + r;
        uint64_t x = rnd();
        for (size_t c = 0; c < b->ncols && rc == URSA_OK; c++) {
            ursa_column_t *col = &b->cols[c];
            bool null = all_fields[c].nullable && (x >> (c * 3)) % 5 == 0;
            if (null) {
                rc = ursa_column_append_null(col);
                continue;
            }
            char tmp[64];
            switch (c) {
            case 0:
            case 1:
                rc = ursa_column_append_bool(col, (x >> 40) & 1);
                break;
            case 2:
                rc = ursa_column_append_i64(col, (int64_t)(rnd() >> (rnd() % 64)) * ((x & 1) ? -1 : 1));
                break;
            case 3: {
                static const int64_t ext[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
                rc = ursa_column_append_i64(col, row < 5 ? ext[row] : (int64_t)row * 1000003 - 7);
                break;
            }
            case 4: {
                static const double sp[] = {NAN, -0.0, 0.0, INFINITY, -INFINITY, 1e308, -1e-308, 5e-324};
                double d = row % 97 < 8 ? sp[row % 97] : ((double)(int64_t)rnd() / 3.0);
                rc = ursa_column_append_f64(col, d);
                break;
            }
            case 5:
                rc = ursa_column_append_f64(col, (double)row * 0.25 - 100.0);
                break;
            case 6:
            case 7: /* microseconds around 2024, some before 1970 */
                rc = ursa_column_append_i64(col, 1704067200000000ll + (int64_t)(rnd() % 100000000000ull) -
                                                     (row % 50 == 0 ? 3000000000000000ll : 0));
                break;
            case 8:
            case 9: {
                const char *w = words[(x >> 20) % URSA_ARRAY_LEN(words)];
                rc = ursa_column_append_str(col, w, strlen(w));
                break;
            }
            default: {
                int len =
                    snprintf(tmp, sizeof(tmp), "unique-%zu-%llx", row, (unsigned long long)(x & 0xffffff));
                rc = ursa_column_append_str(col, tmp, (size_t)len);
            }
            }
        }
    }
    CHECK_EQ_INT(rc, URSA_OK);
    b->nrows += n;
}

/* Writes rows of b through a new writer in chunks of the given sizes
 * (cycled), closes, and returns the status; the file is in m. */
static int write_file(const ursa_schema_t *s, const pq_write_opts_t *o, const ursa_batch_t *b,
                      const size_t *chunks, size_t nchunks, memsink_t *m, uint64_t *bytes)
{
    pq_writer_t *w;
    ursa_err_t err = {0};
    int rc = pq_writer_new(&w, s, o, mem_sink(m), &err);
    if (rc) return rc;
    size_t pos = 0, k = 0;
    while (pos < b->nrows && rc == URSA_OK) {
        size_t n = nchunks ? chunks[k++ % nchunks] : b->nrows;
        if (n > b->nrows - pos) n = b->nrows - pos;
        rc = pq_writer_write(w, b, pos, n, &err);
        pos += n;
    }
    if (rc == URSA_OK) rc = pq_writer_close(w, bytes, &err);
    if (rc && getenv("URSA_TEST_VERBOSE")) fprintf(stderr, "writer: %s: %s\n", ursa_strstatus(rc), err.msg);
    pq_writer_destroy(&w);
    CHECK(w == NULL);
    return rc;
}

/* Writes, reads back, compares; saves the file and its sidecar. */
static void round_trip(const char *name, const ursa_schema_t *s, const pq_write_opts_t *o,
                       const ursa_batch_t *b, const size_t *chunks, size_t nchunks, parsed_t *ps)
{
    memsink_t m = {0};
    uint64_t bytes = 0;
    CHECK_EQ_INT(write_file(s, o, b, chunks, nchunks, &m, &bytes), URSA_OK);
    CHECK_EQ_INT(bytes, m.buf.len);
    ursa_batch_t back;
    CHECK_EQ_INT(ursa_batch_init(&back, s), URSA_OK);
    parsed_t local;
    if (!ps) ps = &local;
    CHECK_EQ_INT(read_file(&m.buf, s, &back, ps), 0);
    CHECK_EQ_INT(back.nrows, b->nrows);
    for (size_t c = 0; c < s->nfields; c++) CHECK(same_column(&b->cols[c], &back.cols[c], s->fields[c].name));
    save_file(name, &m.buf);
    save_expect(name, s, b);
    ursa_batch_free(&back);
    if (ps == &local) parsed_free(&local);
    memsink_free(&m);
}

/* ---------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------- */

TEST(codec_round_trip)
{
    pq_codec_t codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD,
                           PQ_CODEC_GZIP,         PQ_CODEC_BROTLI, PQ_CODEC_LZ4_RAW};
    uint8_t src[10000];
    for (size_t i = 0; i < sizeof(src); i++) src[i] = (uint8_t)(i < 5000 ? i % 7 : rnd());
    for (size_t k = 0; k < URSA_ARRAY_LEN(codecs); k++) {
        pq_compressor_t c;
        CHECK_EQ_INT(pq_compressor_init(&c, codecs[k], 3), URSA_OK);
        size_t sizes[] = {0, 1, sizeof(src)};
        for (size_t si = 0; si < 3; si++) {
            ursa_buf_t z = {0}, back = {0};
            CHECK_EQ_INT(pq_compress(&c, src, sizes[si], &z), URSA_OK);
            CHECK_EQ_INT(pq_decompress(codecs[k], z.data, z.len, sizes[si], &back), URSA_OK);
            CHECK_EQ_INT(back.len, sizes[si]);
            if (sizes[si]) CHECK_MEM(back.data, src, sizes[si]);
            if (z.len > 1) CHECK(pq_decompress(codecs[k], z.data, z.len - 1, sizes[si], &back) != URSA_OK);
            ursa_buf_free(&z);
            ursa_buf_free(&back);
        }
        pq_compressor_free(&c);
    }
    pq_compressor_t c;
    CHECK_EQ_INT(pq_compressor_init(&c, (pq_codec_t)3, 0), URSA_EINVAL); /* LZO: not here */
    CHECK_EQ_INT(pq_compressor_init(&c, PQ_CODEC_GZIP, 10), URSA_EINVAL);
    CHECK_EQ_INT(pq_compressor_init(&c, PQ_CODEC_ZSTD, 1000), URSA_EINVAL);
}

TEST(options)
{
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    CHECK_EQ_INT(o.codec, PQ_CODEC_ZSTD);
    CHECK_EQ_INT(o.level, 3);
    CHECK_EQ_INT(o.row_group_bytes, 128 << 20);
    CHECK_EQ_INT(o.page_bytes, 1 << 20);
    CHECK_EQ_INT(o.dict_max_bytes, 1 << 20);
    CHECK(o.kv_key == NULL && o.kv_value == NULL);
    CHECK_EQ_INT(pq_codec_from_name("zstd"), PQ_CODEC_ZSTD);
    CHECK_EQ_INT(pq_codec_from_name("SNAPPY"), PQ_CODEC_SNAPPY);
    CHECK_EQ_INT(pq_codec_from_name("uncompressed"), PQ_CODEC_UNCOMPRESSED);
    CHECK_EQ_INT(pq_codec_from_name("gzip"), PQ_CODEC_GZIP);
    CHECK_EQ_INT(pq_codec_from_name("brotli"), PQ_CODEC_BROTLI);
    CHECK_EQ_INT(pq_codec_from_name("lz4_raw"), PQ_CODEC_LZ4_RAW);
    CHECK_EQ_INT(pq_codec_from_name("lz4"), PQ_CODEC_LZ4_RAW);
    CHECK_EQ_INT(pq_codec_from_name("none"), PQ_CODEC_UNCOMPRESSED);
    CHECK_EQ_INT(pq_codec_from_name("lzo"), -1);
    CHECK_EQ_INT(pq_codec_from_name(NULL), -1);

    memsink_t m = {0};
    pq_writer_t *w = NULL;
    ursa_err_t err = {0};
    o.codec = (pq_codec_t)3;
    CHECK_EQ_INT(pq_writer_new(&w, &all_schema, &o, mem_sink(&m), &err), URSA_EINVAL);
    CHECK(w == NULL);
    pq_write_opts_default(&o);
    o.page_bytes = 0;
    CHECK_EQ_INT(pq_writer_new(&w, &all_schema, &o, mem_sink(&m), &err), URSA_EINVAL);
    ursa_schema_t empty = {NULL, 0, -1};
    pq_write_opts_default(&o);
    CHECK_EQ_INT(pq_writer_new(&w, &empty, &o, mem_sink(&m), &err), URSA_EINVAL);
    CHECK_EQ_INT(m.buf.len, 0);
    memsink_free(&m);
}

TEST(empty_file)
{
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    /* No write at all, and a write of zero rows: both valid files. */
    for (int variant = 0; variant < 2; variant++) {
        memsink_t m = {0};
        pq_writer_t *w;
        ursa_err_t err = {0};
        uint64_t bytes = 0;
        CHECK_EQ_INT(pq_writer_new(&w, &all_schema, &o, mem_sink(&m), &err), URSA_OK);
        if (variant) CHECK_EQ_INT(pq_writer_write(w, &b, 0, 0, &err), URSA_OK);
        CHECK_EQ_INT(pq_writer_close(w, &bytes, &err), URSA_OK);
        CHECK_EQ_INT(pq_writer_close(w, &bytes, &err), URSA_EINVAL); /* twice */
        CHECK_EQ_INT(pq_writer_write(w, &b, 0, 0, &err), URSA_EINVAL);
        pq_writer_destroy(&w);
        CHECK_EQ_INT(bytes, m.buf.len);
        ursa_batch_t back;
        parsed_t ps;
        CHECK_EQ_INT(ursa_batch_init(&back, &all_schema), URSA_OK);
        CHECK_EQ_INT(read_file(&m.buf, &all_schema, &back, &ps), 0);
        CHECK_EQ_INT(tv_int(&ps.meta, 3, -1), 0);
        CHECK_EQ_INT(tv_get(&ps.meta, 4)->nkids, 0);
        CHECK_EQ_INT(tv_int(&ps.meta, 1, -1), 2);
        CHECK(tv_get(&ps.meta, 7) && tv_get(&ps.meta, 7)->nkids == all_schema.nfields);
        const tv_t *cb = tv_get(&ps.meta, 6);
        CHECK(cb && cb->len == strlen("ursa version " URSA_VERSION " (build ursa)") &&
              memcmp(cb->bin, "ursa version ", 13) == 0);
        CHECK(m.buf.len == 4 + ps.footer_len + 8);
        if (variant == 0) {
            save_file("empty", &m.buf);
            save_expect("empty", &all_schema, &b);
        }
        parsed_free(&ps);
        ursa_batch_free(&back);
        memsink_free(&m);
    }
    ursa_batch_free(&b);
}

TEST(schema_in_footer)
{
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.kv_key = "ursa.schema";
    o.kv_value = "{\"columns\": []}";
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 1);
    parsed_t ps;
    round_trip("one_row", &all_schema, &o, &b, NULL, 0, &ps);
    const tv_t *schema = tv_get(&ps.meta, 2);
    CHECK(schema && schema->nkids == all_schema.nfields + 1);
    for (size_t i = 0; schema && i < all_schema.nfields; i++) {
        const tv_t *el = &schema->kids[i + 1];
        const ursa_field_t *f = &all_fields[i];
        static const int ptype[] = {0, 2, 5, 6, 2};
        CHECK_EQ_INT(tv_int(el, 1, -1), ptype[f->type]);
        CHECK_EQ_INT(tv_int(el, 3, -1), f->nullable ? 1 : 0);
        const tv_t *nm = tv_get(el, 4);
        CHECK(nm && nm->len == f->name_len && memcmp(nm->bin, f->name, nm->len) == 0);
        const tv_t *lt = tv_get(el, 10);
        if (f->type == URSA_TYPE_STRING) {
            CHECK_EQ_INT(tv_int(el, 6, -1), 0);
            CHECK(lt && tv_get(lt, 1));
        } else if (f->type == URSA_TYPE_TIMESTAMP) {
            CHECK_EQ_INT(tv_int(el, 6, -1), 10);
            const tv_t *ts = tv_get(lt, 8);
            CHECK(ts && tv_int(ts, 1, -1) == 1 && tv_get(tv_get(ts, 2), 2));
        } else {
            CHECK(lt == NULL && tv_get(el, 6) == NULL);
        }
    }
    const tv_t *kv = tv_get(&ps.meta, 5);
    CHECK(kv && kv->nkids == 2); /* ours, then ARROW:schema */
    if (kv && kv->nkids == 2) {
        const tv_t *ak = tv_get(&kv->kids[1], 1);
        CHECK(ak && ak->len == 12 && memcmp(ak->bin, "ARROW:schema", 12) == 0);
        const tv_t *k = tv_get(&kv->kids[0], 1), *v = tv_get(&kv->kids[0], 2);
        CHECK(k && k->len == 11 && memcmp(k->bin, "ursa.schema", 11) == 0);
        CHECK(v && v->len == strlen(o.kv_value));
    }
    const tv_t *md = col_meta(&ps, 0, 9); /* s_req: one value, dictionary encoded */
    CHECK(md && tv_int(md, 11, -1) > 4);
    CHECK(md && tv_int(md, 9, -1) > tv_int(md, 11, -1));
    parsed_free(&ps);
    ursa_batch_free(&b);
}

TEST(all_types_each_codec)
{
    pq_codec_t codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD};
    const char *names[] = {"all_types_uncompressed", "all_types_snappy", "all_types_zstd"};
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 20000);
    for (size_t k = 0; k < 3; k++) {
        pq_write_opts_t o;
        pq_write_opts_default(&o);
        o.codec = codecs[k];
        o.level = 1;
        o.page_bytes = 4096;
        o.row_group_bytes = 200000;
        o.dict_max_bytes = 20000;
        size_t chunks[] = {1, 7, 1000, 333, 5000, 2};
        parsed_t ps;
        round_trip(names[k], &all_schema, &o, &b, chunks, URSA_ARRAY_LEN(chunks), &ps);
        const tv_t *rgs = tv_get(&ps.meta, 4);
        CHECK(rgs && rgs->nkids > 2);
        CHECK(ps.data_pages > 3 * rgs->nkids * all_schema.nfields / 2);
        CHECK(ps.dict_pages > 0);
        CHECK(ps.dict_data_pages > 0);
        CHECK(ps.plain_data_pages > 0);
        const tv_t *md = col_meta(&ps, 0, 2);
        CHECK(md && tv_int(md, 4, -1) == (int64_t)codecs[k]);
        parsed_free(&ps);
    }
    /* The same data in one row group with default sizes. */
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    round_trip("all_types_default", &all_schema, &o, &b, NULL, 0, NULL);
    ursa_batch_free(&b);
}

/* Returns the count of the encoding_stats entry (page_type, enc), or 0. */
static int64_t enc_stat(const tv_t *md, int page_type, int enc)
{
    const tv_t *l = tv_get(md, 13);
    for (size_t i = 0; l && i < l->nkids; i++)
        if (tv_int(&l->kids[i], 1, -1) == page_type && tv_int(&l->kids[i], 2, -1) == enc)
            return tv_int(&l->kids[i], 3, 0);
    return 0;
}

static bool has_encoding(const tv_t *md, int enc)
{
    const tv_t *l = tv_get(md, 2);
    for (size_t i = 0; l && i < l->nkids; i++)
        if (l->kids[i].i == enc) return true;
    return false;
}

TEST(dictionary_fallback)
{
    static ursa_field_t f[] = {FIELD("low", URSA_TYPE_STRING, false), FIELD("mixed", URSA_TYPE_STRING, true),
                               FIELD("huge", URSA_TYPE_STRING, false)};
    ursa_schema_t s = {f, 3, -1};
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
    int rc = URSA_OK;
    char big[300];
    for (size_t r = 0; r < 6000 && rc == URSA_OK; r++) {
        char tmp[64];
        int n = snprintf(tmp, sizeof(tmp), "v%zu", r % 3);
        rc = ursa_column_append_str(&b.cols[0], tmp, (size_t)n);
        /* mixed: low cardinality first, then unique values, then nulls */
        if (r < 500)
            n = snprintf(tmp, sizeof(tmp), "k%zu", r % 10);
        else
            n = snprintf(tmp, sizeof(tmp), "unique value number %zu", r);
        if (rc == URSA_OK)
            rc = r >= 5000 || r % 11 == 0 ? ursa_column_append_null(&b.cols[1])
                                          : ursa_column_append_str(&b.cols[1], tmp, (size_t)n);
        /* huge: every value larger than the dictionary limit */
        memset(big, 'a' + (int)(r % 26), sizeof(big));
        if (rc == URSA_OK) rc = ursa_column_append_str(&b.cols[2], big, sizeof(big));
    }
    CHECK_EQ_INT(rc, URSA_OK);
    b.nrows = 6000;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.dict_max_bytes = 256;
    o.page_bytes = 2048;
    parsed_t ps;
    size_t chunks[] = {100, 1, 999};
    round_trip("dict_fallback", &s, &o, &b, chunks, 3, &ps);
    const tv_t *low = col_meta(&ps, 0, 0), *mixed = col_meta(&ps, 0, 1), *huge = col_meta(&ps, 0, 2);
    CHECK(tv_get(&ps.meta, 4)->nkids == 1);
    /* low: dictionary only */
    CHECK(tv_int(low, 11, -1) == 4);
    CHECK(enc_stat(low, 2, 0) == 1 && enc_stat(low, 0, 8) >= 1 && enc_stat(low, 0, 0) == 0);
    CHECK(has_encoding(low, 0) && has_encoding(low, 3) && has_encoding(low, 8));
    /* mixed: dictionary pages, then PLAIN after the fallback */
    CHECK(tv_int(mixed, 11, -1) > 4);
    CHECK(enc_stat(mixed, 2, 0) == 1 && enc_stat(mixed, 0, 8) >= 1 && enc_stat(mixed, 0, 0) >= 1);
    CHECK(has_encoding(mixed, 0) && has_encoding(mixed, 3) && has_encoding(mixed, 8));
    /* huge: never fits, so no dictionary page at all */
    CHECK(tv_get(huge, 11) == NULL);
    CHECK(enc_stat(huge, 2, 0) == 0 && enc_stat(huge, 0, 8) == 0 && enc_stat(huge, 0, 0) >= 1);
    CHECK(!has_encoding(huge, 8));
    parsed_free(&ps);

    /* dict_max_bytes 0: dictionaries off. */
    o.dict_max_bytes = 0;
    round_trip("dict_off", &s, &o, &b, NULL, 0, &ps);
    for (size_t c = 0; c < 3; c++) CHECK(tv_get(col_meta(&ps, 0, c), 11) == NULL);
    parsed_free(&ps);
    ursa_batch_free(&b);
}

/* Statistics of column c of row group r. */
static const tv_t *stats_of(const parsed_t *ps, size_t r, size_t c)
{
    return tv_get(col_meta(ps, r, c), 12);
}

static bool stat_bytes(const tv_t *st, int16_t id, const void *want, size_t n)
{
    const tv_t *v = tv_get(st, id);
    return v && v->len == n && memcmp(v->bin, want, n) == 0;
}

static bool stat_f64(const tv_t *st, int16_t id, double want)
{
    return stat_bytes(st, id, &want, 8); /* bitwise: -0.0 differs from 0.0 */
}

TEST(statistics)
{
    static ursa_field_t f[] = {
        FIELD("d_mixed", URSA_TYPE_FLOAT64, true), FIELD("d_nan", URSA_TYPE_FLOAT64, true),
        FIELD("d_zero", URSA_TYPE_FLOAT64, false), FIELD("i", URSA_TYPE_INT64, false),
        FIELD("bt", URSA_TYPE_BOOL, false),        FIELD("s_long", URSA_TYPE_STRING, false),
        FIELD("s_max", URSA_TYPE_STRING, false),   FIELD("s_ascii", URSA_TYPE_STRING, true),
        FIELD("ts", URSA_TYPE_TIMESTAMP, true),    FIELD("d_num", URSA_TYPE_FLOAT64, true),
    };
    ursa_schema_t s = {f, URSA_ARRAY_LEN(f), 8};
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
    const double dm[] = {NAN, 0.0, 2.5, -0.0, NAN, 7.0};
    char e100[200], top[400], asc[100], asc2[100];
    for (int k = 0; k < 100; k++) memcpy(e100 + 2 * k, "\xc3\xa9", 2);        /* é x 100 */
    for (int k = 0; k < 100; k++) memcpy(top + 4 * k, "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF x 100 */
    memset(asc, 'm', sizeof(asc));
    memset(asc2, 'z', sizeof(asc2));
    asc2[64] = '~'; /* 0x7e: the max is cut to 64 'z' and then 'z' + 1 = '{' */
    int rc = URSA_OK;
    for (int r = 0; r < 6 && rc == URSA_OK; r++) {
        rc = r == 2 ? ursa_column_append_null(&b.cols[0]) : ursa_column_append_f64(&b.cols[0], dm[r]);
        rc =
            rc ? rc : (r < 2 ? ursa_column_append_null(&b.cols[1]) : ursa_column_append_f64(&b.cols[1], NAN));
        rc = rc ? rc : ursa_column_append_f64(&b.cols[2], r % 2 ? 0.0 : -0.0);
        rc = rc ? rc : ursa_column_append_i64(&b.cols[3], r == 0 ? INT64_MAX : r == 5 ? INT64_MIN : r);
        rc = rc ? rc : ursa_column_append_bool(&b.cols[4], true);
        rc = rc ? rc : ursa_column_append_str(&b.cols[5], e100, r == 3 ? 200 : 10);
        rc = rc ? rc : ursa_column_append_str(&b.cols[6], top, r == 1 ? 400 : 4);
        rc = rc ? rc
                : (r == 0 ? ursa_column_append_null(&b.cols[7])
                          : ursa_column_append_str(&b.cols[7], r == 4 ? asc2 : asc,
                                                   r == 4 ? 100 : 3 + (size_t)r));
        rc = rc ? rc : ursa_column_append_null(&b.cols[8]);
        rc = rc ? rc
                : (r == 2 ? ursa_column_append_null(&b.cols[9])
                          : ursa_column_append_f64(&b.cols[9], isnan(dm[r]) ? 0.0 : dm[r]));
    }
    CHECK_EQ_INT(rc, URSA_OK);
    b.nrows = 6;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    parsed_t ps;
    round_trip("statistics", &s, &o, &b, NULL, 0, &ps);

    const tv_t *st = stats_of(&ps, 0, 0); /* NaN present: counts, but no min/max (DuckDB) */
    CHECK(st && tv_int(st, 3, -1) == 1 && tv_int(st, 9, -1) == 2);
    CHECK(tv_get(st, 5) == NULL && tv_get(st, 6) == NULL && tv_get(st, 7) == NULL && tv_get(st, 8) == NULL);
    CHECK(tv_get(st, 1) == NULL && tv_get(st, 2) == NULL);

    st = stats_of(&ps, 0, 9); /* -0.0 as the min, 7 the max */
    CHECK(st && tv_int(st, 3, -1) == 1 && tv_int(st, 9, -1) == 0);
    CHECK(stat_f64(st, 6, -0.0) && stat_f64(st, 5, 7.0));
    CHECK(tv_int(st, 7, -1) == 1 && tv_int(st, 8, -1) == 1);
    CHECK(tv_get(st, 1) == NULL && tv_get(st, 2) == NULL);

    st = stats_of(&ps, 0, 1); /* all NaN: no min/max */
    CHECK(st && tv_int(st, 3, -1) == 2 && tv_int(st, 9, -1) == 4);
    CHECK(tv_get(st, 5) == NULL && tv_get(st, 6) == NULL);

    st = stats_of(&ps, 0, 2); /* zeros only: min -0.0, max +0.0 */
    CHECK(st && tv_int(st, 3, -1) == 0 && stat_f64(st, 6, -0.0) && stat_f64(st, 5, 0.0));

    st = stats_of(&ps, 0, 3);
    int64_t mn = INT64_MIN, mx = INT64_MAX;
    CHECK(st && stat_bytes(st, 6, &mn, 8) && stat_bytes(st, 5, &mx, 8));
    CHECK(tv_get(st, 9) == NULL); /* nan_count only for doubles */

    st = stats_of(&ps, 0, 4); /* only true */
    CHECK(st && stat_bytes(st, 6, "\1", 1) && stat_bytes(st, 5, "\1", 1));

    st =
        stats_of(&ps, 0, 5); /* é x 5 is the min (exact); max é x 100 cut to 32 chars, last one bumped to ê */
    CHECK(st && stat_bytes(st, 6, e100, 10) && tv_int(st, 8, -1) == 1);
    char want[64];
    memcpy(want, e100, 62);
    memcpy(want + 62, "\xc3\xaa", 2);
    CHECK(stat_bytes(st, 5, want, 64) && tv_int(st, 7, -1) == 0);

    st = stats_of(&ps, 0, 6); /* max of U+10FFFF only: no upper bound exists */
    CHECK(st && stat_bytes(st, 6, top, 4) && tv_get(st, 5) == NULL && tv_get(st, 7) == NULL);

    st = stats_of(&ps, 0, 7);
    char wantmax[64];
    memset(wantmax, 'z', 63);
    wantmax[63] = '{';
    CHECK(st && tv_int(st, 3, -1) == 1 && stat_bytes(st, 6, "mmmm", 4) && stat_bytes(st, 5, wantmax, 64));

    st = stats_of(&ps, 0, 8); /* all null: count only */
    CHECK(st && tv_int(st, 3, -1) == 6 && tv_get(st, 5) == NULL && tv_get(st, 6) == NULL);
    parsed_free(&ps);
    ursa_batch_free(&b);
}

TEST(all_null_columns)
{
    static ursa_field_t f[] = {FIELD("b", URSA_TYPE_BOOL, true), FIELD("i", URSA_TYPE_INT64, true),
                               FIELD("f", URSA_TYPE_FLOAT64, true), FIELD("s", URSA_TYPE_STRING, true),
                               FIELD("ts", URSA_TYPE_TIMESTAMP, true)};
    ursa_schema_t s = {f, 5, 4};
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
    int rc = URSA_OK;
    for (size_t r = 0; r < 3000 && rc == URSA_OK; r++)
        for (size_t c = 0; c < 5 && rc == URSA_OK; c++) rc = ursa_column_append_null(&b.cols[c]);
    CHECK_EQ_INT(rc, URSA_OK);
    b.nrows = 3000;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.page_bytes = 100; /* many pages of levels only */
    parsed_t ps;
    round_trip("all_null", &s, &o, &b, NULL, 0, &ps);
    for (size_t c = 0; c < 5; c++) {
        const tv_t *st = stats_of(&ps, 0, c);
        CHECK(st && tv_int(st, 3, -1) == 3000 && tv_get(st, 5) == NULL && tv_get(st, 6) == NULL);
        CHECK(tv_get(col_meta(&ps, 0, c), 11) == NULL);
    }
    CHECK(ps.data_pages > 5 * 3);
    parsed_free(&ps);
    ursa_batch_free(&b);
}

TEST(big_string)
{
    static ursa_field_t f[] = {FIELD("id", URSA_TYPE_INT64, false), FIELD("body", URSA_TYPE_STRING, true)};
    ursa_schema_t s = {f, 2, -1};
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
    size_t big = 10u << 20;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++) p[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    int rc = URSA_OK;
    for (int r = 0; r < 5 && rc == URSA_OK; r++) {
        rc = ursa_column_append_i64(&b.cols[0], r);
        rc = rc ? rc
                : (r == 2   ? ursa_column_append_str(&b.cols[1], p, big)
                   : r == 3 ? ursa_column_append_null(&b.cols[1])
                            : ursa_column_append_str(&b.cols[1], "x", 1));
    }
    CHECK_EQ_INT(rc, URSA_OK);
    b.nrows = 5;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.row_group_bytes = 4 << 20; /* smaller than the value */
    parsed_t ps;
    round_trip("big_string", &s, &o, &b, NULL, 0, &ps);
    CHECK(tv_get(&ps.meta, 4)->nkids >= 2);
    parsed_free(&ps);
    free(p);
    ursa_batch_free(&b);
}

TEST(bad_input_keeps_writer_usable)
{
    ursa_batch_t b, other;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 10);
    static ursa_field_t f[] = {FIELD("x", URSA_TYPE_INT64, true)};
    ursa_schema_t s1 = {f, 1, -1};
    CHECK_EQ_INT(ursa_batch_init(&other, &s1), URSA_OK);
    CHECK_EQ_INT(ursa_column_append_i64(&other.cols[0], 1), URSA_OK);
    other.nrows = 1;

    memsink_t m = {0};
    pq_writer_t *w;
    ursa_err_t err = {0};
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    CHECK_EQ_INT(pq_writer_new(&w, &all_schema, &o, mem_sink(&m), &err), URSA_OK);
    CHECK_EQ_INT(pq_writer_write(w, &other, 0, 1, &err), URSA_EINVAL);
    CHECK_EQ_INT(pq_writer_write(w, &b, 5, 6, &err), URSA_EINVAL); /* past the end */
    CHECK_EQ_INT(pq_writer_write(w, &b, SIZE_MAX, 2, &err), URSA_EINVAL);
    CHECK_EQ_INT(pq_writer_write(w, NULL, 0, 1, &err), URSA_EINVAL);
    /* A null in a non-nullable column. */
    CHECK_EQ_INT(ursa_column_append_null(&b.cols[1]), URSA_OK);
    for (size_t c = 0; c < b.ncols; c++)
        if (c != 1) CHECK_EQ_INT(ursa_column_append_null(&b.cols[c]), URSA_OK);
    b.nrows++;
    CHECK_EQ_INT(pq_writer_write(w, &b, 0, 11, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "b_req") != NULL);
    /* A wrong column type. */
    b.cols[2].type = URSA_TYPE_FLOAT64;
    CHECK_EQ_INT(pq_writer_write(w, &b, 0, 1, &err), URSA_EINVAL);
    b.cols[2].type = URSA_TYPE_INT64;
    /* A string over 1 GiB: refused before anything is touched (the data
     * buffer is not read, so a fake length is enough here). */
    ursa_batch_t huge;
    static ursa_field_t hf[] = {FIELD("s", URSA_TYPE_STRING, false)};
    ursa_schema_t hs = {hf, 1, -1};
    CHECK_EQ_INT(ursa_batch_init(&huge, &hs), URSA_OK);
    CHECK_EQ_INT(ursa_column_append_str(&huge.cols[0], "abc", 3), URSA_OK);
    int64_t *ho = (int64_t *)(void *)huge.cols[0].offsets.data;
    size_t real_len = huge.cols[0].data.len;
    ho[1] = ((int64_t)1 << 30) + 1;
    huge.cols[0].data.len = (size_t)ho[1];
    pq_writer_t *hw;
    memsink_t hm = {0};
    CHECK_EQ_INT(pq_writer_new(&hw, &hs, &o, mem_sink(&hm), &err), URSA_OK);
    CHECK_EQ_INT(pq_writer_write(hw, &huge, 0, 1, &err), URSA_ELIMIT);
    ho[1] = -1;
    CHECK_EQ_INT(pq_writer_write(hw, &huge, 0, 1, &err), URSA_EINVAL);
    ho[1] = 3;
    huge.cols[0].data.len = real_len;
    CHECK_EQ_INT(pq_writer_write(hw, &huge, 0, 1, &err), URSA_OK);
    CHECK_EQ_INT(pq_writer_close(hw, NULL, &err), URSA_OK);
    pq_writer_destroy(&hw);
    ursa_batch_free(&huge);
    memsink_free(&hm);

    /* A column of empty strings only (no data buffer at all). */
    {
        ursa_batch_t e;
        static ursa_field_t ef[] = {FIELD("s", URSA_TYPE_STRING, false)};
        ursa_schema_t es = {ef, 1, -1};
        CHECK_EQ_INT(ursa_batch_init(&e, &es), URSA_OK);
        for (int r = 0; r < 3; r++) CHECK_EQ_INT(ursa_column_append_str(&e.cols[0], "", 0), URSA_OK);
        e.nrows = 3;
        /* Appenders now allocate the data buffer with the first row; a
         * column built elsewhere may still have none: the writer copes. */
        ursa_buf_free(&e.cols[0].data);
        CHECK(e.cols[0].data.data == NULL);
        o.dict_max_bytes = 0; /* PLAIN, then with a dictionary */
        round_trip("empty_strings", &es, &o, &e, NULL, 0, NULL);
        pq_write_opts_default(&o);
        round_trip("empty_strings", &es, &o, &e, NULL, 0, NULL);
        ursa_batch_free(&e);
    }

    /* Invalid UTF-8 in a string column: refused, naming the row. */
    static const char *const bad_utf8[] = {
        "\xff", "abc\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80",
    };
    for (size_t k = 0; k < URSA_ARRAY_LEN(bad_utf8) + 1; k++) {
        ursa_batch_t u;
        static ursa_field_t uf[] = {FIELD("s", URSA_TYPE_STRING, true)};
        ursa_schema_t us = {uf, 1, -1};
        CHECK_EQ_INT(ursa_batch_init(&u, &us), URSA_OK);
        for (int r = 0; r < 20; r++)
            CHECK_EQ_INT(ursa_column_append_str(&u.cols[0], "ok \xc3\xa4", 5), URSA_OK);
        if (k < URSA_ARRAY_LEN(bad_utf8)) {
            CHECK_EQ_INT(ursa_column_append_str(&u.cols[0], bad_utf8[k], strlen(bad_utf8[k])), URSA_OK);
        } else { /* "ä" split across two values: valid bytes, invalid values */
            CHECK_EQ_INT(ursa_column_append_str(&u.cols[0], "x\xc3", 2), URSA_OK);
            CHECK_EQ_INT(ursa_column_append_str(&u.cols[0], "\xa4y", 2), URSA_OK);
        }
        CHECK_EQ_INT(ursa_column_append_str(&u.cols[0], "\xf0\x9f\xa6\x93", 4), URSA_OK);
        pq_writer_t *uw;
        memsink_t um = {0};
        CHECK_EQ_INT(pq_writer_new(&uw, &us, &o, mem_sink(&um), &err), URSA_OK);
        CHECK_EQ_INT(pq_writer_write(uw, &u, 0, u.cols[0].length, &err), URSA_EINVAL);
        CHECK(strstr(err.msg, "UTF-8 at row 20") != NULL);
        CHECK_EQ_INT(pq_writer_write(uw, &u, 0, 20, &err), URSA_OK);
        CHECK_EQ_INT(pq_writer_write(uw, &u, u.cols[0].length - 1, 1, &err), URSA_OK);
        CHECK_EQ_INT(pq_writer_close(uw, NULL, &err), URSA_OK);
        pq_writer_destroy(&uw);
        ursa_batch_free(&u);
        memsink_free(&um);
    }

    /* Still usable: the good rows go in. */
    CHECK_EQ_INT(pq_writer_write(w, &b, 0, 10, &err), URSA_OK);
    uint64_t bytes;
    CHECK_EQ_INT(pq_writer_close(w, &bytes, &err), URSA_OK);
    pq_writer_destroy(&w);
    ursa_batch_t back;
    parsed_t ps;
    CHECK_EQ_INT(ursa_batch_init(&back, &all_schema), URSA_OK);
    CHECK_EQ_INT(read_file(&m.buf, &all_schema, &back, &ps), 0);
    CHECK_EQ_INT(back.nrows, 10);
    parsed_free(&ps);
    ursa_batch_free(&back);
    ursa_batch_free(&b);
    ursa_batch_free(&other);
    memsink_free(&m);
}

TEST(sink_failure)
{
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 3000);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.row_group_bytes = 20000;
    size_t base = ursa_mem_used();
    size_t fails[] = {1, 4, 5, 100, 30000, 60000};
    for (size_t k = 0; k < URSA_ARRAY_LEN(fails); k++) {
        memsink_t m = {0};
        m.fail_after = fails[k];
        uint64_t bytes;
        int rc = write_file(&all_schema, &o, &b, NULL, 0, &m, &bytes);
        CHECK_EQ_INT(rc, URSA_EIO);
        CHECK(m.buf.len <= fails[k]);
        CHECK_EQ_INT(ursa_mem_used(), base);
        memsink_free(&m);
    }
    /* After a failure the writer refuses to go on. */
    memsink_t m = {0};
    m.fail_after = 10000;
    pq_writer_t *w;
    ursa_err_t err = {0};
    CHECK_EQ_INT(pq_writer_new(&w, &all_schema, &o, mem_sink(&m), &err), URSA_OK);
    CHECK_EQ_INT(pq_writer_write(w, &b, 0, 3000, &err), URSA_EIO);
    CHECK_EQ_INT(pq_writer_write(w, &b, 0, 1, &err), URSA_EINVAL);
    CHECK_EQ_INT(pq_writer_close(w, NULL, &err), URSA_EINVAL);
    pq_writer_destroy(&w);
    memsink_free(&m);
    ursa_batch_free(&b);
}

TEST(allocation_failures)
{
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 600);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.page_bytes = 1000;
    o.row_group_bytes = 8000;
    o.codec = PQ_CODEC_SNAPPY;
    size_t base = ursa_mem_used();
    int ok = 0, failed = 0;
    for (long n = 1; n < 2000 && ok == 0; n++) {
        memsink_t m = {0};
        uint64_t bytes;
        ursa_mem_fail_after(n);
        size_t chunks[] = {250};
        int rc = write_file(&all_schema, &o, &b, chunks, 1, &m, &bytes);
        ursa_mem_fail_after(0);
        CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
        if (rc == URSA_OK) {
            ok++;
            ursa_batch_t back;
            parsed_t ps;
            CHECK_EQ_INT(ursa_batch_init(&back, &all_schema), URSA_OK);
            CHECK_EQ_INT(read_file(&m.buf, &all_schema, &back, &ps), 0);
            CHECK_EQ_INT(back.nrows, 600);
            parsed_free(&ps);
            ursa_batch_free(&back);
        } else {
            failed++;
        }
        CHECK_EQ_INT(ursa_mem_used(), base);
        memsink_free(&m);
    }
    CHECK(ok == 1 && failed > 20);
    ursa_batch_free(&b);
}

/* The bytes written do not depend on the number of threads: every codec,
 * page v1 and v2, dictionaries that fill and fall back, many pages and row
 * groups, in one and several write calls; each file also decodes back. */
TEST(threads_same_bytes)
{
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 20000);
    pq_codec_t codecs[] = {PQ_CODEC_ZSTD,         PQ_CODEC_SNAPPY,  PQ_CODEC_GZIP,
                           PQ_CODEC_UNCOMPRESSED, PQ_CODEC_LZ4_RAW, PQ_CODEC_BROTLI};
    int threads[] = {2, 3, 8, 0};
    size_t base = ursa_mem_used();
    for (size_t k = 0; k < URSA_ARRAY_LEN(codecs); k++) {
        for (int v = 1; v <= 2; v++) {
            pq_write_opts_t o;
            pq_write_opts_default(&o);
            o.codec = codecs[k];
            o.page_version = v;
            o.page_bytes = 2000 + 3000 * k;
            o.row_group_bytes = 150000;
            o.dict_max_bytes = 3000;
            size_t chunks[] = {1, 4096, 777, 20000};
            memsink_t one = {0};
            uint64_t bytes1 = 0;
            o.threads = 1;
            CHECK_EQ_INT(write_file(&all_schema, &o, &b, chunks, URSA_ARRAY_LEN(chunks), &one, &bytes1),
                         URSA_OK);
            ursa_batch_t back;
            parsed_t ps;
            CHECK_EQ_INT(ursa_batch_init(&back, &all_schema), URSA_OK);
            CHECK_EQ_INT(read_file(&one.buf, &all_schema, &back, &ps), 0);
            CHECK_EQ_INT(back.nrows, 20000);
            const tv_t *rgs = tv_get(&ps.meta, 4);
            CHECK(rgs && rgs->nkids > 3); /* several row groups, and so many pages */
            parsed_free(&ps);
            ursa_batch_free(&back);
            for (size_t t = 0; t < URSA_ARRAY_LEN(threads); t++) {
                memsink_t many = {0};
                uint64_t bytes = 0;
                o.threads = threads[t];
                CHECK_EQ_INT(write_file(&all_schema, &o, &b, chunks, URSA_ARRAY_LEN(chunks), &many, &bytes),
                             URSA_OK);
                CHECK_EQ_INT(bytes, bytes1);
                CHECK(many.buf.len == one.buf.len && memcmp(many.buf.data, one.buf.data, one.buf.len) == 0);
                memsink_free(&many);
            }
            memsink_free(&one);
        }
    }
    CHECK_EQ_INT(ursa_mem_used(), base);
    ursa_batch_free(&b);
}

/* Failures on worker threads (allocations, the sink) are reported by a
 * later call, and nothing leaks. */
TEST(threads_failures)
{
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &all_schema), URSA_OK);
    fill_all(&b, 600);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.page_bytes = 1000;
    o.row_group_bytes = 8000;
    o.codec = PQ_CODEC_ZSTD;
    o.threads = 3;
    size_t base = ursa_mem_used();
    int ok = 0, failed = 0;
    for (long n = 1; n < 3000 && ok == 0; n++) {
        memsink_t m = {0};
        uint64_t bytes;
        ursa_mem_fail_after(n);
        size_t chunks[] = {250};
        int rc = write_file(&all_schema, &o, &b, chunks, 1, &m, &bytes);
        ursa_mem_fail_after(0);
        CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
        if (rc == URSA_OK)
            ok++;
        else
            failed++;
        CHECK_EQ_INT(ursa_mem_used(), base);
        memsink_free(&m);
    }
    CHECK(ok == 1 && failed > 20);
    size_t fails[] = {1, 5, 100, 30000};
    for (size_t k = 0; k < URSA_ARRAY_LEN(fails); k++) {
        memsink_t m = {0};
        m.fail_after = fails[k];
        uint64_t bytes;
        CHECK_EQ_INT(write_file(&all_schema, &o, &b, NULL, 0, &m, &bytes), URSA_EIO);
        CHECK_EQ_INT(ursa_mem_used(), base);
        memsink_free(&m);
    }
    ursa_batch_free(&b);
}

TEST(row_group_limit)
{
    static ursa_field_t f[] = {FIELD("v", URSA_TYPE_INT64, false)};
    f[0].encoding = URSA_ENC_PLAIN; /* so that encoded bytes are the estimate */
    ursa_schema_t s = {f, 1, -1};
    ursa_batch_t b;
    CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
    int rc = URSA_OK;
    for (int64_t r = 0; r < 100000 && rc == URSA_OK; r++)
        rc = ursa_column_append_i64(&b.cols[0], r * 7919 % 100003);
    b.nrows = 100000;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    o.row_group_bytes = 80000; /* 10000 int64 */
    o.page_bytes = 8000;
    parsed_t ps;
    round_trip("row_groups", &s, &o, &b, NULL, 0, &ps);
    const tv_t *rgs = tv_get(&ps.meta, 4);
    CHECK(rgs && rgs->nkids >= 9 && rgs->nkids <= 11);
    for (size_t r = 0; rgs && r < rgs->nkids; r++) {
        const tv_t *md = col_meta(&ps, r, 0);
        CHECK(tv_int(&rgs->kids[r], 2, 0) <= 80000 + 8000 + 200); /* at most one page over */
        CHECK(tv_int(md, 9, -1) == tv_int(&rgs->kids[r], 5, -2));
    }
    parsed_free(&ps);
    ursa_batch_free(&b);
}

/* Random schemas, data, limits, codecs and write sizes; every file is
 * decoded and compared with its input. */
TEST(random_round_trips)
{
    static char names[12][24];
    ursa_field_t fields[12];
    pq_codec_t codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD};
    size_t base = ursa_mem_used();
    for (int iter = 0; iter < 150; iter++) {
        size_t nf = 1 + rnd() % 12;
        for (size_t i = 0; i < nf; i++) {
            snprintf(names[i], sizeof(names[i]), "c%zu", i);
            memset(&fields[i], 0, sizeof(fields[i]));
            fields[i].name = names[i];
            fields[i].name_len = strlen(names[i]);
            fields[i].unit = URSA_UNIT_US;
            fields[i].utc = true;
            fields[i].type = (ursa_type_t)(rnd() % 5);
            fields[i].nullable = rnd() % 3 != 0;
        }
        ursa_schema_t s = {fields, nf, -1};
        ursa_batch_t b;
        CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
        size_t rows = rnd() % 4 == 0 ? rnd() % 5 : rnd() % 3000;
        int null_pct = (int)(rnd() % 4) * 33; /* 0, 33, 66 or 99 % nulls */
        int card = 1 + (int)(rnd() % 2000);   /* distinct strings */
        int rc = URSA_OK;
        for (size_t r = 0; r < rows && rc == URSA_OK; r++) {
            for (size_t c = 0; c < nf && rc == URSA_OK; c++) {
                ursa_column_t *col = &b.cols[c];
                if (fields[c].nullable && (int)(rnd() % 100) < null_pct) {
                    rc = ursa_column_append_null(col);
                    continue;
                }
                uint64_t x = rnd();
                switch (fields[c].type) {
                case URSA_TYPE_BOOL:
                    rc = ursa_column_append_bool(col, (x & 7) == 0);
                    break;
                case URSA_TYPE_FLOAT64: {
                    double d;
                    memcpy(&d, &x, 8); /* any bit pattern, NaNs included */
                    rc = ursa_column_append_f64(col, x % 3 ? d : (double)(x % 100));
                    break;
                }
                case URSA_TYPE_STRING: {
                    char tmp[80];
                    int k = (int)(x % (uint64_t)card);
                    int n = snprintf(
                        tmp, sizeof(tmp), "%.*s%d", 2 * (int)(k % 35),
                        "ääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääää", k);
                    rc = ursa_column_append_str(col, tmp, (size_t)n);
                    break;
                }
                case URSA_TYPE_TIMESTAMP: /* within the range JavaScript dates can show */
                    rc = ursa_column_append_i64(col, (int64_t)(x % 8000000000000000ull) - 4000000000000000ll);
                    break;
                default:
                    rc = ursa_column_append_i64(col, x % 5 ? (int64_t)(x % 1000) : (int64_t)x);
                }
            }
        }
        CHECK_EQ_INT(rc, URSA_OK);
        b.nrows = rows;
        pq_write_opts_t o;
        pq_write_opts_default(&o);
        o.codec = codecs[rnd() % 3];
        o.level = 1;
        o.page_bytes = 1 + rnd() % 5000;
        o.row_group_bytes = 1 + rnd() % 100000;
        o.dict_max_bytes = rnd() % 3 == 0 ? 0 : rnd() % 20000;
        size_t chunks[3] = {1 + rnd() % 50, 1 + rnd() % 2000, 1 + rnd() % 7};
        memsink_t m = {0};
        uint64_t bytes = 0;
        CHECK_EQ_INT(write_file(&s, &o, &b, chunks, 3, &m, &bytes), URSA_OK);
        ursa_batch_t back;
        parsed_t ps;
        CHECK_EQ_INT(ursa_batch_init(&back, &s), URSA_OK);
        int ok = read_file(&m.buf, &s, &back, &ps) == 0;
        CHECK(ok);
        for (size_t c = 0; ok && c < nf; c++) ok = same_column(&b.cols[c], &back.cols[c], fields[c].name);
        CHECK(ok);
        if (ok && iter % 25 == 0) { /* a few for the independent readers */
            char name[32];
            snprintf(name, sizeof(name), "random_%d", iter);
            save_file(name, &m.buf);
            save_expect(name, &s, &b);
        }
        if (!ok) {
            fprintf(stderr, "iteration %d: %zu rows, page %zu, row group %zu, dict %zu, codec %d\n", iter,
                    rows, o.page_bytes, o.row_group_bytes, o.dict_max_bytes, (int)o.codec);
            save_file("random_failed", &m.buf);
        }
        parsed_free(&ps);
        ursa_batch_free(&back);
        ursa_batch_free(&b);
        memsink_free(&m);
        if (!ok) break;
    }
    CHECK_EQ_INT(ursa_mem_used(), base);
}

/* ---------------------------------------------------------------------------
 * The type matrix: every type, nullable or not, with edge values, through
 * each codec, each encoding that applies and page v1/v2. Files are saved
 * as ursa_mx_*.parquet with a .rows.json sidecar (canonical text of every
 * value) for tests/tools/check_writer_files.mjs.
 * ------------------------------------------------------------------------- */

#define MXF(n, t, null, p, sc, u, tz)                                                                      \
    {                                                                                                      \
        .name = (char *)(n), .name_len = sizeof(n) - 1, .type = (t), .nullable = (null), .precision = (p), \
        .scale = (sc), .unit = (u), .utc = (tz)                                                            \
    }
#define MX(n, t, null) MXF(n, t, null, 0, 0, URSA_UNIT_US, true)

static ursa_field_t mx_fields[] = {
    MX("b", URSA_TYPE_BOOL, true),
    MX("i8", URSA_TYPE_INT8, true),
    MX("i16", URSA_TYPE_INT16, false),
    MX("i32", URSA_TYPE_INT32, true),
    MX("i64", URSA_TYPE_INT64, false),
    MX("u8", URSA_TYPE_UINT8, false),
    MX("u16", URSA_TYPE_UINT16, true),
    MX("u32", URSA_TYPE_UINT32, false),
    MX("u64", URSA_TYPE_UINT64, true),
    MX("f32", URSA_TYPE_FLOAT32, true),
    MX("f64", URSA_TYPE_FLOAT64, false),
    MXF("d9", URSA_TYPE_DECIMAL, true, 9, 2, URSA_UNIT_US, true),
    MXF("d18", URSA_TYPE_DECIMAL, false, 18, 4, URSA_UNIT_US, true),
    MXF("d38", URSA_TYPE_DECIMAL, true, 38, 10, URSA_UNIT_US, true),
    MXF("d20", URSA_TYPE_DECIMAL, false, 20, 0, URSA_UNIT_US, true),
    MX("s", URSA_TYPE_STRING, true),
    MX("bin", URSA_TYPE_BINARY, true),
    MX("j", URSA_TYPE_JSON, false),
    MX("dt", URSA_TYPE_DATE, true),
    MX("tm", URSA_TYPE_TIME, false),
    MXF("ts_ms", URSA_TYPE_TIMESTAMP, true, 0, 0, URSA_UNIT_MS, true),
    MX("ts_us", URSA_TYPE_TIMESTAMP, false),
    MXF("ts_ns", URSA_TYPE_TIMESTAMP, true, 0, 0, URSA_UNIT_NS, true),
    MXF("ts_local", URSA_TYPE_TIMESTAMP, true, 0, 0, URSA_UNIT_US, false),
    MX("id", URSA_TYPE_UUID, true),
    MX("nulls", URSA_TYPE_INT64, true),
};

static void u128_str(unsigned __int128 u, char *out)
{
    char tmp[48];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    int k = 0;
    while (n) out[k++] = tmp[--n];
    out[k] = 0;
}

/* Canonical text of a decimal: unscaled v with scale digits after the point. */
static void dec_str(__int128 v, int scale, char *out)
{
    char digits[48], padded[96];
    bool neg = v < 0;
    u128_str(neg ? -(unsigned __int128)v : (unsigned __int128)v, digits);
    size_t n = strlen(digits), zeros = n <= (size_t)scale ? (size_t)scale + 1 - n : 0;
    memset(padded, '0', zeros);
    memcpy(padded + zeros, digits, n + 1);
    size_t pn = strlen(padded);
    if (scale)
        snprintf(out, 128, "%s%.*s.%s", neg ? "-" : "", (int)(pn - (size_t)scale), padded,
                 padded + pn - (size_t)scale);
    else
        snprintf(out, 128, "%s%s", neg ? "-" : "", padded);
}

/* Appends row r's value of column c (edge values first, then varied). */
static int mx_value(ursa_column_t *col, const ursa_field_t *f, size_t r, uint64_t x)
{
    uint8_t v[16] = {0};
    if (f->nullable && (r % 7 == 3 || strcmp(f->name, "nulls") == 0)) return ursa_column_append_null(col);
    size_t e = r; /* edge index */
    switch (f->type) {
    case URSA_TYPE_BOOL:
        return ursa_column_append_bool(col, (x >> 3) & 1);
    case URSA_TYPE_INT8: {
        int8_t k = e == 0 ? INT8_MIN : e == 1 ? INT8_MAX : (int8_t)x;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_INT16: {
        int16_t k = e == 0 ? INT16_MIN : e == 1 ? INT16_MAX : (int16_t)x;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_INT32: {
        int32_t k = e == 0 ? INT32_MIN : e == 1 ? INT32_MAX : (int32_t)(x % 1000) - 500;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_INT64:
        return ursa_column_append_i64(col, e == 0 ? INT64_MIN : e == 1 ? INT64_MAX : (int64_t)x);
    case URSA_TYPE_UINT8: {
        uint8_t k = e == 0 ? 0 : e == 1 ? UINT8_MAX : (uint8_t)x;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_UINT16: {
        uint16_t k = e == 0 ? 0 : e == 1 ? UINT16_MAX : (uint16_t)x;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_UINT32: {
        uint32_t k = e == 0 ? 0 : e == 1 ? UINT32_MAX : e == 2 ? 0x80000000u : (uint32_t)x;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_UINT64: {
        uint64_t k = e == 0 ? 0 : e == 1 ? UINT64_MAX : e == 2 ? (1ull << 63) : x;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_FLOAT32: {
        static const float sp[] = {0.0f, -0.0f, 3.4028235e38f, -1.17549435e-38f, 1.5f};
        float k = e < 5 ? sp[e] : (float)((double)(int64_t)x / 1e12);
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_FLOAT64: {
        static const double sp[] = {-0.0, 0.0, 1e308, -5e-324, 2.5};
        return ursa_column_append_f64(col, e < 5 ? sp[e] : (double)(int64_t)x / 3.0);
    }
    case URSA_TYPE_DECIMAL: {
        __int128 lim = 1;
        for (int k = 0; k < f->precision; k++) lim *= 10;
        lim -= 1; /* 99..9 */
        __int128 d = e == 0 ? -lim : e == 1 ? lim : e == 2 ? 0 : (__int128)(int64_t)x % lim;
        if (f->precision <= 18) {
            int64_t k = (int64_t)d;
            return ursa_column_append_fixed(col, &k);
        }
        memcpy(v, &d, 16);
        return ursa_column_append_fixed(col, v);
    }
    case URSA_TYPE_STRING: {
        static const char *const w[] = {"", "a", "δέλτα", "zeta 🦓", "\x7f"};
        const char *s = w[(e < 5 ? e : x) % 5];
        return ursa_column_append_str(col, s, strlen(s));
    }
    case URSA_TYPE_BINARY: {
        uint8_t b[6] = {0, 0xff, (uint8_t)x, (uint8_t)(x >> 8), 0x80, 0x7f};
        return ursa_column_append_str(col, b, e == 0 ? 0 : 1 + x % 6);
    }
    case URSA_TYPE_JSON: {
        char tmp[64];
        int n = e == 0 ? snprintf(tmp, sizeof(tmp), "{}")
                       : snprintf(tmp, sizeof(tmp), "{\"k\":%u,\"s\":\"é\"}", (unsigned)(x % 100));
        return ursa_column_append_str(col, tmp, (size_t)n);
    }
    case URSA_TYPE_DATE: {
        int32_t k = e == 0   ? -719162 /* 0001-01-01 */
                    : e == 1 ? 2932896 /* 9999-12-31 */
                    : e == 2 ? -1
                             : (int32_t)(x % 40000) - 20000;
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_TIME: {
        int64_t k = e == 0 ? 0 : e == 1 ? 86399999999ll : (int64_t)(x % 86400000000ull);
        return ursa_column_append_fixed(col, &k);
    }
    case URSA_TYPE_TIMESTAMP: {
        int64_t span = f->unit == URSA_UNIT_MS   ? 4000000000000ll
                       : f->unit == URSA_UNIT_US ? 4000000000000000ll
                                                 : INT64_MAX / 2;
        int64_t k = e == 0 ? -span / 2 : e == 1 ? 0 : (int64_t)(x % (uint64_t)span) - span / 2;
        return ursa_column_append_i64(col, k);
    }
    case URSA_TYPE_UUID:
        for (int k = 0; k < 16; k++)
            v[k] = e == 0 ? 0 : e == 1 ? 0xff : (uint8_t)(x >> ((k % 8) * 8)) ^ (uint8_t)k;
        return ursa_column_append_fixed(col, v);
    default:
        return URSA_EINVAL;
    }
}

/* Canonical text of row r of col into j (JSON value). */
static int mx_render(ursa_buf_t *j, const ursa_column_t *col, const ursa_field_t *f, size_t r)
{
    char num[128];
    if (!ursa_column_valid(col, r)) return ursa_buf_printf(j, "null");
    const uint8_t *p = col->width ? ursa_column_ptr(col, r) : NULL;
    switch (f->type) {
    case URSA_TYPE_BOOL:
        return ursa_buf_printf(j, ursa_column_bool(col, r) ? "true" : "false");
    case URSA_TYPE_INT8:
        return ursa_buf_printf(j, "\"%d\"", (int)(int8_t)p[0]);
    case URSA_TYPE_UINT8:
        return ursa_buf_printf(j, "\"%u\"", (unsigned)p[0]);
    case URSA_TYPE_INT16: {
        int16_t k;
        memcpy(&k, p, 2);
        return ursa_buf_printf(j, "\"%d\"", k);
    }
    case URSA_TYPE_UINT16: {
        uint16_t k;
        memcpy(&k, p, 2);
        return ursa_buf_printf(j, "\"%u\"", k);
    }
    case URSA_TYPE_INT32:
    case URSA_TYPE_DATE: {
        int32_t k;
        memcpy(&k, p, 4);
        return ursa_buf_printf(j, "\"%d\"", k);
    }
    case URSA_TYPE_UINT32: {
        uint32_t k;
        memcpy(&k, p, 4);
        return ursa_buf_printf(j, "\"%u\"", k);
    }
    case URSA_TYPE_UINT64: {
        uint64_t k;
        memcpy(&k, p, 8);
        return ursa_buf_printf(j, "\"%llu\"", (unsigned long long)k);
    }
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_FLOAT64: {
        double d;
        if (f->type == URSA_TYPE_FLOAT32) {
            float k;
            memcpy(&k, p, 4);
            d = k;
            snprintf(num, sizeof(num), "%.9g", d);
        } else {
            memcpy(&d, p, 8);
            snprintf(num, sizeof(num), "%.17g", d);
        }
        return ursa_buf_printf(j, "%s", num); /* finite values only in the matrix */
    }
    case URSA_TYPE_DECIMAL: {
        __int128 d;
        if (f->precision <= 18) {
            int64_t k;
            memcpy(&k, p, 8);
            d = k;
        } else {
            memcpy(&d, p, 16);
        }
        dec_str(d, f->scale, num);
        return ursa_buf_printf(j, "\"%s\"", num);
    }
    case URSA_TYPE_UUID: {
        int rc = ursa_buf_printf(j, "\"");
        for (int k = 0; k < 16 && !rc; k++) rc = ursa_buf_printf(j, "%02x", p[k]);
        return rc ? rc : ursa_buf_printf(j, "\"");
    }
    case URSA_TYPE_BINARY: {
        size_t n;
        const uint8_t *s = col_str(col, r, &n);
        int rc = ursa_buf_printf(j, "\"");
        for (size_t k = 0; k < n && !rc; k++) rc = ursa_buf_printf(j, "%02x", s[k]);
        return rc ? rc : ursa_buf_printf(j, "\"");
    }
    case URSA_TYPE_STRING:
    case URSA_TYPE_JSON: {
        size_t n;
        const uint8_t *s = col_str(col, r, &n);
        return ursa_buf_json_str(j, (const char *)s, n);
    }
    default: { /* int64, time, timestamp: the integer */
        int64_t k;
        memcpy(&k, p, 8);
        return ursa_buf_printf(j, "\"%lld\"", (long long)k);
    }
    }
}

static void mx_save_rows(const char *name, const ursa_schema_t *s, const ursa_batch_t *b)
{
    ursa_buf_t j = {0};
    int rc = ursa_buf_printf(&j, "{\"rows\": %zu, \"columns\": {", b->nrows);
    for (size_t c = 0; c < s->nfields && !rc; c++) {
        const ursa_field_t *f = &s->fields[c];
        rc = ursa_buf_printf(
            &j,
            "%s\"%s\": {\"type\": \"%s\", \"nullable\": %s, \"precision\": %d, \"scale\": %d, "
            "\"unit\": %d, \"utc\": %s, \"encoding\": %d, \"bloom\": %s, \"values\": [",
            c ? ", " : "", f->name, ursa_type_name(f->type), f->nullable ? "true" : "false", f->precision,
            f->scale, (int)f->unit, f->utc ? "true" : "false", (int)f->encoding,
            f->bloom_filter ? "true" : "false");
        for (size_t r = 0; r < b->nrows && !rc; r++) {
            if (r) rc = ursa_buf_printf(&j, ",");
            if (!rc) rc = mx_render(&j, &b->cols[c], f, r);
        }
        if (!rc) rc = ursa_buf_printf(&j, "]}");
    }
    if (!rc) rc = ursa_buf_printf(&j, "}}\n");
    CHECK_EQ_INT(rc, URSA_OK);
    char path[1024];
    snprintf(path, sizeof(path), "%s/ursa_mx_%s.rows.json", tmp_dir(), name);
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp) {
        CHECK(fwrite(j.data, 1, j.len, fp) == j.len);
        fclose(fp);
    }
    ursa_buf_free(&j);
}

/* Writes b through o, reads it back in C, saves file and sidecar. */
static void mx_round_trip(const char *name, const ursa_schema_t *s, const pq_write_opts_t *o,
                          const ursa_batch_t *b, parsed_t *ps)
{
    memsink_t m = {0};
    uint64_t bytes = 0;
    size_t chunks[] = {1, 333, 1000};
    CHECK_EQ_INT(write_file(s, o, b, chunks, 3, &m, &bytes), URSA_OK);
    ursa_batch_t back;
    CHECK_EQ_INT(ursa_batch_init(&back, s), URSA_OK);
    int ok = read_file(&m.buf, s, &back, ps) == 0;
    CHECK(ok);
    for (size_t c = 0; ok && c < s->nfields; c++) {
        bool same = same_column(&b->cols[c], &back.cols[c], s->fields[c].name);
        if (!same) fprintf(stderr, "  in %s\n", name);
        CHECK(same);
    }
    char fname[128];
    snprintf(fname, sizeof(fname), "%s/ursa_mx_%s.parquet", tmp_dir(), name);
    FILE *fp = fopen(fname, "wb");
    if (fp) {
        CHECK(fwrite(m.buf.data, 1, m.buf.len, fp) == m.buf.len);
        fclose(fp);
    }
    mx_save_rows(name, s, b);
    ursa_batch_free(&back);
    memsink_free(&m);
}

static bool mx_enc_applies(const ursa_field_t *f, ursa_encoding_t e)
{
    int pt, pl;
    phys_of(f, &pt, &pl);
    switch (e) {
    case URSA_ENC_DICTIONARY:
        return pt != 0;
    case URSA_ENC_DELTA_BINARY_PACKED:
        return pt == 1 || pt == 2;
    case URSA_ENC_DELTA_LENGTH_BYTE_ARRAY:
        return pt == 6;
    case URSA_ENC_BYTE_STREAM_SPLIT:
        return pt == 4 || pt == 5;
    default:
        return true;
    }
}

TEST(type_matrix)
{
    const size_t nf = URSA_ARRAY_LEN(mx_fields);
    ursa_field_t fields[URSA_ARRAY_LEN(mx_fields)];
    memcpy(fields, mx_fields, sizeof(fields));
    ursa_schema_t s = {fields, nf, -1};
    pq_codec_t codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY,  PQ_CODEC_GZIP,
                           PQ_CODEC_ZSTD,         PQ_CODEC_LZ4_RAW, PQ_CODEC_BROTLI};
    const char *cnames[] = {"none", "snappy", "gzip", "zstd", "lz4", "brotli"};
    ursa_encoding_t encs[] = {URSA_ENC_AUTO,
                              URSA_ENC_PLAIN,
                              URSA_ENC_DICTIONARY,
                              URSA_ENC_DELTA_BINARY_PACKED,
                              URSA_ENC_DELTA_LENGTH_BYTE_ARRAY,
                              URSA_ENC_BYTE_STREAM_SPLIT};
    const char *enames[] = {"auto", "plain", "dict", "delta", "dlba", "bss"};
    size_t sizes[] = {3000, 1, 0};
    for (size_t si = 0; si < URSA_ARRAY_LEN(sizes); si++) {
        for (size_t ei = 0; ei < URSA_ARRAY_LEN(encs); ei++) {
            for (size_t c = 0; c < nf; c++) {
                fields[c].encoding = mx_enc_applies(&fields[c], encs[ei]) ? encs[ei] : URSA_ENC_AUTO;
                fields[c].bloom_filter = ei == 0 && c % 3 == 0;
            }
            ursa_batch_t b;
            CHECK_EQ_INT(ursa_batch_init(&b, &s), URSA_OK);
            int rc = URSA_OK;
            for (size_t r = 0; r < sizes[si] && rc == URSA_OK; r++) {
                uint64_t x = rnd();
                for (size_t c = 0; c < nf && rc == URSA_OK; c++)
                    rc = mx_value(&b.cols[c], &fields[c], r, x ^ (c * 0x9e3779b97f4a7c15ull));
            }
            CHECK_EQ_INT(rc, URSA_OK);
            b.nrows = sizes[si];
            for (int pv = 1; pv <= 2; pv++) {
                for (size_t ci = 0; ci < URSA_ARRAY_LEN(codecs); ci++) {
                    /* Every codec with AUTO; the other encodings with zstd and none. */
                    if (ei > 0 && codecs[ci] != PQ_CODEC_ZSTD && codecs[ci] != PQ_CODEC_UNCOMPRESSED)
                        continue;
                    if (si > 0 && ci > 0 && codecs[ci] != PQ_CODEC_ZSTD) continue;
                    pq_write_opts_t o;
                    pq_write_opts_default(&o);
                    o.codec = codecs[ci];
                    o.level = 0;
                    o.page_version = pv;
                    o.page_bytes = 2000;
                    o.row_group_rows = 1300;
                    o.dict_max_bytes = ei == 2 ? 600 : 1 << 20; /* dictionaries that fill up */
                    char name[64];
                    snprintf(name, sizeof(name), "%zu_%s_%s_v%d", sizes[si], enames[ei], cnames[ci], pv);
                    parsed_t ps;
                    mx_round_trip(name, &s, &o, &b, &ps);
                    if (sizes[si] == 3000 && ei == 0) {
                        CHECK(ps.v2_pages == (pv == 2 ? ps.data_pages : 0));
                        CHECK(tv_get(&ps.meta, 4) && tv_get(&ps.meta, 4)->nkids == 3); /* row_group_rows */
                        const tv_t *md = col_meta(&ps, 0, 0);
                        CHECK(md && tv_int(md, 14, -1) > 0 && tv_int(md, 15, -1) > 32); /* bloom filter */
                        const tv_t *cc = &tv_get(&tv_get(&ps.meta, 4)->kids[0], 1)->kids[4];
                        CHECK(tv_int(cc, 4, -1) > 0 && tv_int(cc, 6, -1) > 0); /* page index */
                    }
                    if (sizes[si] == 3000 && ei > 1)
                        CHECK(ps.enc_pages[ei == 3 ? 5 : ei == 4 ? 6 : ei == 5 ? 9 : 0] > 0 || ei == 2);
                    if (ei == 2 && sizes[si] == 3000)
                        CHECK(ps.dict_data_pages > 0 && ps.plain_data_pages > 0);
                    parsed_free(&ps);
                }
            }
            ursa_batch_free(&b);
        }
    }
}

int main(void)
{
    RUN(codec_round_trip);
    RUN(options);
    RUN(empty_file);
    RUN(schema_in_footer);
    RUN(all_types_each_codec);
    RUN(dictionary_fallback);
    RUN(statistics);
    RUN(all_null_columns);
    RUN(big_string);
    RUN(bad_input_keeps_writer_usable);
    RUN(sink_failure);
    RUN(allocation_failures);
    RUN(threads_same_bytes);
    RUN(threads_failures);
    RUN(row_group_limit);
    RUN(random_round_trips);
    RUN(type_matrix);
    return TEST_EXIT();
}
