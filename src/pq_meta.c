/*
 * pq_meta.c -- Parquet metadata from untrusted bytes (see pq_meta.h).
 *
 * DESIGN. Each Thrift struct of the spec has one decoder here: a loop over
 * field headers with a switch on the field id; known fields are read with
 * their expected wire type (a field of another type is skipped, as Thrift's
 * generated code does, and counts as absent), unknown ids are skipped, so
 * files from newer writers decode. All reading goes through
 * thrift_dec_*, which checks every length and count against the bytes
 * left and limits nesting, so this file never indexes the input itself.
 *
 * Memory: everything a decoded object points to comes from one arena
 * (a list of blocks from ursa_malloc) owned by the object; pq_*_free()
 * frees the blocks, whatever state a failed decode left. No allocation is
 * larger than the input earned: an array is allocated only after its
 * count was checked against the bytes left, at the smallest encoding of a
 * valid element (1 byte for scalars, 3 for a SchemaElement or KeyValue, 5
 * for a RowGroup or ColumnChunk, 7 for a PageLocation). A decode's memory
 * is so bounded by about 60 times the input's size (a 296-byte ColumnChunk
 * struct per 5 bytes), and the derived leaf paths by a budget of 16 times
 * the input plus 1 MiB.
 *
 * After decoding, the footer is validated for what a reader relies on:
 * counts and sizes non-negative, the schema a well-formed depth-first tree
 * (num_children consistent with the list, nesting at most PQ_MAX_SCHEMA_DEPTH),
 * every row group with one column chunk per leaf, and each chunk's
 * metadata present (unless the column is encrypted) with non-negative
 * sizes and offsets. Offsets are not checked against the file's size here:
 * the reader does that when it uses them.
 *
 * Failures: URSA_EFORMAT with a message "<Struct.field>: what at byte N"
 * for bytes that are not the structure, or that break one of the checks
 * above; URSA_ENOMEM when the arena cannot grow.
 */
#include "pq_meta.h"

#include "thrift.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define PQ_MAX_SCHEMA_DEPTH 64
#define ARENA_BLOCK         (64 * 1024)

/* ---------------------------------------------------------------------------
 * Arena
 * ------------------------------------------------------------------------- */

struct pq_arena {
    struct pq_arena *next;
    size_t used, cap;
    max_align_t data[];
};

static void arena_free(pq_arena_t **a)
{
    while (*a) {
        pq_arena_t *n = (*a)->next;
        ursa_free(*a);
        *a = n;
    }
}

/* Zeroed memory for n bytes, or NULL when out of memory. */
static void *arena_alloc(pq_arena_t **a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!*a || (*a)->cap - (*a)->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        pq_arena_t *b = ursa_malloc(sizeof(*b) + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        if (*a && n > ARENA_BLOCK) { /* a big one: behind the current block, which keeps its room */
            b->next = (*a)->next;
            (*a)->next = b;
        } else {
            b->next = *a;
            *a = b;
        }
        if (b != *a) {
            b->used = n;
            memset(b->data, 0, n);
            return b->data;
        }
    }
    void *p = (char *)(*a)->data + (*a)->used;
    (*a)->used += n;
    memset(p, 0, n);
    return p;
}

/* ---------------------------------------------------------------------------
 * Field helpers
 * ------------------------------------------------------------------------- */

/* A field skipped for its wire type: not an error (FIELDS_END turns it into
 * URSA_OK), but the value was not set. */
#define SKIPPED (-1)

typedef struct md {
    thrift_dec_t d;
    pq_arena_t **arena;
} md_t;

static const char *const type_names[] = {"stop",   "true",   "false", "i8",  "i16", "i32",   "i64",
                                         "double", "binary", "list",  "set", "map", "struct"};

/* A known field of an unexpected wire type is skipped, as Thrift's generated
 * code does (old writers used other types for some ids); the value stays
 * unset, and a required field's absence is reported afterwards. */
static int bad_type(md_t *m, const char *what, int t)
{
    (void)what;
    int rc = thrift_dec_skip(&m->d, t, false);
    return rc ? rc : SKIPPED;
}

static int nomem(md_t *m)
{
    if (m->d.err) ursa_err_set(m->d.err, URSA_ENOMEM, "out of memory decoding Parquet metadata");
    return URSA_ENOMEM;
}

static void *alloc_n(md_t *m, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    return arena_alloc(m->arena, n * size);
}

static int get_i64(md_t *m, int t, int64_t *v, const char *what)
{
    if (t < THRIFT_I8 || t > THRIFT_I64) return bad_type(m, what, t);
    return thrift_dec_int(&m->d, t, v);
}

static int get_i32(md_t *m, int t, int32_t *v, const char *what)
{
    int64_t x;
    int rc = get_i64(m, t, &x, what);
    if (rc) return rc;
    if (x < INT32_MIN || x > INT32_MAX) return thrift_dec_fail(&m->d, "%s: out of i32 range", what);
    *v = (int32_t)x;
    return URSA_OK;
}

static int get_enum(md_t *m, int t, int *v, const char *what)
{
    int32_t x = 0;
    int rc = get_i32(m, t, &x, what);
    if (rc) return rc;
    *v = x;
    return URSA_OK;
}

/* A non-negative i32/i64. */
static int get_count(md_t *m, int t, int64_t *v, const char *what)
{
    int rc = get_i64(m, t, v, what);
    if (rc) return rc;
    if (*v < 0) return thrift_dec_fail(&m->d, "%s: negative (%lld)", what, (long long)*v);
    return URSA_OK;
}

static int get_count32(md_t *m, int t, int32_t *v, const char *what)
{
    int rc = get_i32(m, t, v, what);
    if (rc) return rc;
    if (*v < 0) return thrift_dec_fail(&m->d, "%s: negative (%d)", what, (int)*v);
    return URSA_OK;
}

static int get_bool(md_t *m, int t, bool *v, const char *what)
{
    if (t != THRIFT_TRUE && t != THRIFT_FALSE) return bad_type(m, what, t);
    *v = t == THRIFT_TRUE;
    return URSA_OK;
}

/* A binary value, copied into the arena with a NUL after it. */
static int get_bytes(md_t *m, int t, pq_bytes_t *b, const char *what)
{
    if (t != THRIFT_BINARY) return bad_type(m, what, t);
    const uint8_t *p;
    size_t n;
    int rc = thrift_dec_binary(&m->d, &p, &n);
    if (rc) return rc;
    uint8_t *c = arena_alloc(m->arena, n + 1);
    if (!c) return nomem(m);
    memcpy(c, p, n);
    b->p = c;
    b->n = n;
    return URSA_OK;
}

static int get_str(md_t *m, int t, const char **s, const char *what)
{
    pq_bytes_t b;
    int rc = get_bytes(m, t, &b, what);
    if (rc == URSA_OK) *s = (const char *)b.p;
    return rc;
}

/* A list field's header: checks the element type (THRIFT_TRUE for bools) and the count against the bytes
 * left, at least min_bytes per element (the smallest encoding of a valid one), then allocates n elements of
 * size. */
static int get_list_min(md_t *m, int t, int want, size_t min_bytes, size_t size, void **arr, size_t *n,
                        const char *what)
{
    if (t != THRIFT_LIST && t != THRIFT_SET) {
        *arr = NULL;
        *n = 0;
        return bad_type(m, what, t);
    }
    int et;
    int rc = thrift_dec_list_begin(&m->d, &et, n);
    if (rc) return rc;
    if (et != want && !(want == THRIFT_I32 && (et == THRIFT_I16 || et == THRIFT_I64)) &&
        !(want == THRIFT_I64 && (et == THRIFT_I16 || et == THRIFT_I32)))
        return thrift_dec_fail(&m->d, "%s: list of %s", what, type_names[et]);
    if (*n > thrift_dec_left(&m->d) / min_bytes)
        return thrift_dec_fail(&m->d, "%s: %zu elements cannot fit in %zu bytes", what, *n,
                               thrift_dec_left(&m->d));
    *arr = alloc_n(m, *n ? *n : 1, size);
    if (!*arr) return nomem(m);
    return URSA_OK;
}

static int get_list(md_t *m, int t, int want, size_t size, void **arr, size_t *n, const char *what)
{
    return get_list_min(m, t, want, 1, size, arr, n, what);
}

/* Skips a struct-typed union member or marker. */
static int skip_struct(md_t *m, int t, const char *what)
{
    if (t != THRIFT_STRUCT) return bad_type(m, what, t);
    return thrift_dec_skip(&m->d, t, false);
}

#define FIELDS_BEGIN(m)                                             \
    int rc, t_;                                                     \
    int16_t id_ = 0;                                                \
    if ((rc = thrift_dec_struct_begin(&(m)->d))) return rc;         \
    for (;;) {                                                      \
        if ((rc = thrift_dec_field(&(m)->d, &id_, &t_))) return rc; \
        if (t_ == THRIFT_STOP) break;                               \
        switch (id_)

#define FIELDS_END(m)                \
    if (rc == SKIPPED) rc = URSA_OK; \
    if (rc) return rc;               \
    }

#define SKIP \
    default: \
        rc = thrift_dec_skip(&m->d, t_, false)

/* ---------------------------------------------------------------------------
 * Structs
 * ------------------------------------------------------------------------- */

static int dec_kv(md_t *m, pq_kv_t *kv)
{
    bool has_key = false;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_str(m, t_, &kv->key, "KeyValue.key");
        if (rc == URSA_OK) has_key = true;
        break;
    case 2:
        rc = get_str(m, t_, &kv->value, "KeyValue.value");
        break;
        SKIP;
    }
    FIELDS_END(m)
    if (!has_key) return thrift_dec_fail(&m->d, "KeyValue: no key");
    return URSA_OK;
}

static int dec_kv_list(md_t *m, int t, pq_kv_t **kv, size_t *n, const char *what)
{
    int rc = get_list_min(m, t, THRIFT_STRUCT, 3, sizeof(**kv), (void **)kv, n,
                          what); /* key: header, length, stop */
    for (size_t i = 0; rc == URSA_OK && i < *n; i++) rc = dec_kv(m, &(*kv)[i]);
    if (rc == URSA_OK) thrift_dec_list_end(&m->d);
    return rc;
}

static int dec_time_unit(md_t *m, int *unit)
{
    FIELDS_BEGIN(m)
    {
    case 1:
    case 2:
    case 3:
        rc = skip_struct(m, t_, "TimeUnit");
        if (rc == URSA_OK) *unit = id_;
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

/* TIME and TIMESTAMP: isAdjustedToUTC (1) and unit (2). */
static int dec_time(md_t *m, pq_logical_t *l)
{
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_bool(m, t_, &l->utc, "TimeType.isAdjustedToUTC");
        break;
    case 2:
        rc = t_ == THRIFT_STRUCT ? dec_time_unit(m, &l->unit) : bad_type(m, "TimeType.unit", t_);
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_decimal(md_t *m, pq_logical_t *l)
{
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_i32(m, t_, &l->scale, "DecimalType.scale");
        break;
    case 2:
        rc = get_i32(m, t_, &l->precision, "DecimalType.precision");
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_integer(md_t *m, pq_logical_t *l)
{
    FIELDS_BEGIN(m)
    {
    case 1: {
        int64_t w = 0;
        rc = get_i64(m, t_, &w, "IntType.bitWidth");
        if (rc == URSA_OK) l->bit_width = (int)w;
        if (rc == URSA_OK && w != 8 && w != 16 && w != 32 && w != 64)
            rc = thrift_dec_fail(&m->d, "IntType.bitWidth: %lld", (long long)w);
        break;
    }
    case 2:
        rc = get_bool(m, t_, &l->is_signed, "IntType.isSigned");
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_logical(md_t *m, pq_logical_t *l)
{
    FIELDS_BEGIN(m)
    {
    case PQ_LT_DECIMAL:
        rc = t_ == THRIFT_STRUCT ? dec_decimal(m, l) : bad_type(m, "LogicalType.DECIMAL", t_);
        if (rc == URSA_OK) l->kind = id_;
        break;
    case PQ_LT_TIME:
    case PQ_LT_TIMESTAMP:
        rc = t_ == THRIFT_STRUCT ? dec_time(m, l) : bad_type(m, "LogicalType.TIME/TIMESTAMP", t_);
        if (rc == URSA_OK) l->kind = id_;
        break;
    case PQ_LT_INTEGER:
        rc = t_ == THRIFT_STRUCT ? dec_integer(m, l) : bad_type(m, "LogicalType.INTEGER", t_);
        if (rc == URSA_OK) l->kind = id_;
        break;
    case PQ_LT_STRING:
    case PQ_LT_MAP:
    case PQ_LT_LIST:
    case PQ_LT_ENUM:
    case PQ_LT_DATE:
    case PQ_LT_UNKNOWN:
    case PQ_LT_JSON:
    case PQ_LT_BSON:
    case PQ_LT_UUID:
    case PQ_LT_FLOAT16:
    case PQ_LT_VARIANT:
    case PQ_LT_GEOMETRY:
    case PQ_LT_GEOGRAPHY:
        rc = skip_struct(m, t_, "LogicalType");
        if (rc == URSA_OK) l->kind = id_;
        break;
    default:
        l->kind = PQ_LT_OTHER;
        rc = thrift_dec_skip(&m->d, t_, false);
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_schema_elem(md_t *m, pq_schema_elem_t *e)
{
    e->type = e->type_length = e->repetition = e->num_children = -1;
    e->converted_type = e->scale = e->precision = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_enum(m, t_, &e->type, "SchemaElement.type");
        if (rc == URSA_OK && (e->type < 0 || e->type > PQ_FIXED_LEN_BYTE_ARRAY))
            rc = thrift_dec_fail(&m->d, "SchemaElement.type: unknown physical type %d", e->type);
        break;
    case 2:
        rc = get_count32(m, t_, &e->type_length, "SchemaElement.type_length");
        break;
    case 3:
        rc = get_enum(m, t_, &e->repetition, "SchemaElement.repetition_type");
        if (rc == URSA_OK && (e->repetition < 0 || e->repetition > PQ_REPEATED))
            rc = thrift_dec_fail(&m->d, "SchemaElement.repetition_type: unknown %d", e->repetition);
        break;
    case 4:
        rc = get_str(m, t_, &e->name, "SchemaElement.name");
        break;
    case 5:
        rc = get_count32(m, t_, &e->num_children, "SchemaElement.num_children");
        break;
    case 6:
        rc = get_enum(m, t_, &e->converted_type, "SchemaElement.converted_type");
        break;
    case 7:
        rc = get_i32(m, t_, &e->scale, "SchemaElement.scale");
        break;
    case 8:
        rc = get_i32(m, t_, &e->precision, "SchemaElement.precision");
        break;
    case 9:
        rc = get_i32(m, t_, &e->field_id, "SchemaElement.field_id");
        if (rc == URSA_OK) e->has_field_id = true;
        break;
    case 10:
        rc = t_ == THRIFT_STRUCT ? dec_logical(m, &e->logical) : bad_type(m, "SchemaElement.logicalType", t_);
        break;
        SKIP;
    }
    FIELDS_END(m)
    if (!e->name) return thrift_dec_fail(&m->d, "SchemaElement: no name");
    return URSA_OK;
}

static int dec_stats(md_t *m, pq_stats_t *s)
{
    s->present = true;
    s->null_count = s->distinct_count = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_bytes(m, t_, &s->max, "Statistics.max");
        break;
    case 2:
        rc = get_bytes(m, t_, &s->min, "Statistics.min");
        break;
    case 3:
        rc = get_count(m, t_, &s->null_count, "Statistics.null_count");
        break;
    case 4:
        rc = get_count(m, t_, &s->distinct_count, "Statistics.distinct_count");
        break;
    case 5:
        rc = get_bytes(m, t_, &s->max_value, "Statistics.max_value");
        break;
    case 6:
        rc = get_bytes(m, t_, &s->min_value, "Statistics.min_value");
        break;
    case 7:
        rc = get_bool(m, t_, &s->is_max_exact, "Statistics.is_max_value_exact");
        if (rc == URSA_OK) s->has_is_max_exact = true;
        break;
    case 8:
        rc = get_bool(m, t_, &s->is_min_exact, "Statistics.is_min_value_exact");
        if (rc == URSA_OK) s->has_is_min_exact = true;
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_enc_stats(md_t *m, pq_enc_stats_t *s)
{
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_enum(m, t_, &s->page_type, "PageEncodingStats.page_type");
        break;
    case 2:
        rc = get_enum(m, t_, &s->encoding, "PageEncodingStats.encoding");
        break;
    case 3:
        rc = get_count32(m, t_, &s->count, "PageEncodingStats.count");
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_col_meta(md_t *m, pq_col_meta_t *c)
{
    unsigned seen = 0;
    c->index_page_offset = c->dictionary_page_offset = c->bloom_filter_offset = -1;
    c->bloom_filter_length = -1;
    c->type = c->codec = -1;
    c->num_values = c->total_uncompressed_size = c->total_compressed_size = c->data_page_offset = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_enum(m, t_, &c->type, "ColumnMetaData.type");
        break;
    case 2:
        rc = get_list(m, t_, THRIFT_I32, sizeof(int), (void **)&c->encodings, &c->nencodings,
                      "ColumnMetaData.encodings");
        for (size_t i = 0; rc == URSA_OK && i < c->nencodings; i++) {
            int64_t v;
            rc = thrift_dec_int(&m->d, THRIFT_I64, &v);
            if (rc == URSA_OK && (v < INT32_MIN || v > INT32_MAX))
                rc = thrift_dec_fail(&m->d, "ColumnMetaData.encodings: out of i32 range");
            c->encodings[i] = (int)v;
        }
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 3:
        rc = get_list(m, t_, THRIFT_BINARY, sizeof(char *), (void **)&c->path, &c->npath,
                      "ColumnMetaData.path_in_schema");
        for (size_t i = 0; rc == URSA_OK && i < c->npath; i++)
            rc = get_str(m, THRIFT_BINARY, &c->path[i], "ColumnMetaData.path_in_schema");
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 4:
        rc = get_enum(m, t_, &c->codec, "ColumnMetaData.codec");
        break;
    case 5:
        rc = get_count(m, t_, &c->num_values, "ColumnMetaData.num_values");
        break;
    case 6:
        rc = get_count(m, t_, &c->total_uncompressed_size, "ColumnMetaData.total_uncompressed_size");
        break;
    case 7:
        rc = get_count(m, t_, &c->total_compressed_size, "ColumnMetaData.total_compressed_size");
        break;
    case 8:
        rc = dec_kv_list(m, t_, &c->kv, &c->nkv, "ColumnMetaData.key_value_metadata");
        break;
    case 9:
        rc = get_count(m, t_, &c->data_page_offset, "ColumnMetaData.data_page_offset");
        break;
    case 10:
        rc = get_count(m, t_, &c->index_page_offset, "ColumnMetaData.index_page_offset");
        break;
    case 11:
        rc = get_count(m, t_, &c->dictionary_page_offset, "ColumnMetaData.dictionary_page_offset");
        break;
    case 12:
        rc = t_ == THRIFT_STRUCT ? dec_stats(m, &c->stats) : bad_type(m, "ColumnMetaData.statistics", t_);
        break;
    case 13:
        rc = get_list(m, t_, THRIFT_STRUCT, sizeof(pq_enc_stats_t), (void **)&c->encoding_stats,
                      &c->nencoding_stats, "ColumnMetaData.encoding_stats");
        for (size_t i = 0; rc == URSA_OK && i < c->nencoding_stats; i++)
            rc = dec_enc_stats(m, &c->encoding_stats[i]);
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 14:
        rc = get_count(m, t_, &c->bloom_filter_offset, "ColumnMetaData.bloom_filter_offset");
        break;
    case 15:
        rc = get_count32(m, t_, &c->bloom_filter_length, "ColumnMetaData.bloom_filter_length");
        break;
        SKIP;
    }
    if (rc == URSA_OK && id_ > 0 && id_ < 32) seen |= 1u << id_;
    FIELDS_END(m)
    static const int required[] = {1, 2, 3, 4, 5, 6, 7, 9};
    for (size_t i = 0; i < URSA_ARRAY_LEN(required); i++)
        if (!(seen & 1u << required[i]))
            return thrift_dec_fail(&m->d, "ColumnMetaData: required field %d missing", required[i]);
    if (c->type < 0 || c->type > PQ_FIXED_LEN_BYTE_ARRAY)
        return thrift_dec_fail(&m->d, "ColumnMetaData.type: unknown physical type %d", c->type);
    return URSA_OK;
}

static int dec_column_chunk(md_t *m, pq_column_chunk_t *c)
{
    c->offset_index_offset = c->column_index_offset = -1;
    c->offset_index_length = c->column_index_length = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_str(m, t_, &c->file_path, "ColumnChunk.file_path");
        break;
    case 2:
        rc = get_i64(m, t_, &c->file_offset, "ColumnChunk.file_offset"); /* deprecated; not relied on */
        break;
    case 3:
        rc = t_ == THRIFT_STRUCT ? dec_col_meta(m, &c->meta) : bad_type(m, "ColumnChunk.meta_data", t_);
        if (rc == URSA_OK) c->has_meta_data = true;
        break;
    case 4:
        rc = get_count(m, t_, &c->offset_index_offset, "ColumnChunk.offset_index_offset");
        break;
    case 5:
        rc = get_count32(m, t_, &c->offset_index_length, "ColumnChunk.offset_index_length");
        break;
    case 6:
        rc = get_count(m, t_, &c->column_index_offset, "ColumnChunk.column_index_offset");
        break;
    case 7:
        rc = get_count32(m, t_, &c->column_index_length, "ColumnChunk.column_index_length");
        break;
    case 8:
    case 9:
        c->encrypted = true;
        rc = thrift_dec_skip(&m->d, t_, false);
        break;
        SKIP;
    }
    FIELDS_END(m)
    if (!c->has_meta_data && !c->encrypted) return thrift_dec_fail(&m->d, "ColumnChunk: no meta_data");
    return URSA_OK;
}

static int dec_sorting(md_t *m, pq_sorting_column_t *s)
{
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_count32(m, t_, &s->column_idx, "SortingColumn.column_idx");
        break;
    case 2:
        rc = get_bool(m, t_, &s->descending, "SortingColumn.descending");
        break;
    case 3:
        rc = get_bool(m, t_, &s->nulls_first, "SortingColumn.nulls_first");
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_row_group(md_t *m, pq_row_group_t *g)
{
    bool has_columns = false;
    g->total_byte_size = g->num_rows = g->file_offset = g->total_compressed_size = -1;
    g->ordinal = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_list_min(m, t_, THRIFT_STRUCT, 5, sizeof(pq_column_chunk_t), (void **)&g->columns,
                          &g->ncolumns, "RowGroup.columns");
        for (size_t i = 0; rc == URSA_OK && i < g->ncolumns; i++) rc = dec_column_chunk(m, &g->columns[i]);
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        if (rc == URSA_OK) has_columns = true;
        break;
    case 2:
        rc = get_count(m, t_, &g->total_byte_size, "RowGroup.total_byte_size");
        break;
    case 3:
        rc = get_count(m, t_, &g->num_rows, "RowGroup.num_rows");
        break;
    case 4:
        rc = get_list_min(m, t_, THRIFT_STRUCT, 3, sizeof(pq_sorting_column_t), (void **)&g->sorting,
                          &g->nsorting, "RowGroup.sorting_columns");
        for (size_t i = 0; rc == URSA_OK && i < g->nsorting; i++) rc = dec_sorting(m, &g->sorting[i]);
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 5:
        rc = get_count(m, t_, &g->file_offset, "RowGroup.file_offset");
        break;
    case 6:
        rc = get_count(m, t_, &g->total_compressed_size, "RowGroup.total_compressed_size");
        break;
    case 7: {
        int32_t o;
        rc = get_count32(m, t_, &o, "RowGroup.ordinal");
        if (rc == URSA_OK) g->ordinal = o;
        break;
    }
        SKIP;
    }
    FIELDS_END(m)
    if (!has_columns) return thrift_dec_fail(&m->d, "RowGroup: no columns");
    if (g->num_rows < 0) return thrift_dec_fail(&m->d, "RowGroup: no num_rows");
    return URSA_OK;
}

static int dec_file_meta(md_t *m, pq_file_meta_t *f)
{
    bool has_schema = false;
    f->num_rows = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_i32(m, t_, &f->version, "FileMetaData.version");
        break;
    case 2:
        rc = get_list_min(m, t_, THRIFT_STRUCT, 3, sizeof(pq_schema_elem_t), (void **)&f->schema, &f->nschema,
                          "FileMetaData.schema");
        for (size_t i = 0; rc == URSA_OK && i < f->nschema; i++) rc = dec_schema_elem(m, &f->schema[i]);
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        if (rc == URSA_OK) has_schema = true;
        break;
    case 3:
        rc = get_count(m, t_, &f->num_rows, "FileMetaData.num_rows");
        break;
    case 4:
        rc = get_list_min(m, t_, THRIFT_STRUCT, 5, sizeof(pq_row_group_t), (void **)&f->row_groups,
                          &f->nrow_groups, "FileMetaData.row_groups");
        for (size_t i = 0; rc == URSA_OK && i < f->nrow_groups; i++) rc = dec_row_group(m, &f->row_groups[i]);
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 5:
        rc = dec_kv_list(m, t_, &f->kv, &f->nkv, "FileMetaData.key_value_metadata");
        break;
    case 6:
        rc = get_str(m, t_, &f->created_by, "FileMetaData.created_by");
        break;
    case 7:
        rc = get_list(m, t_, THRIFT_STRUCT, sizeof(int), (void **)&f->column_orders, &f->ncolumn_orders,
                      "FileMetaData.column_orders");
        for (size_t i = 0; rc == URSA_OK && i < f->ncolumn_orders; i++) {
            /* A union: TYPE_ORDER (1) is the only member so far. */
            int16_t uid = 0;
            int ut;
            f->column_orders[i] = -1;
            rc = thrift_dec_struct_begin(&m->d);
            while (rc == URSA_OK) {
                if ((rc = thrift_dec_field(&m->d, &uid, &ut)) || ut == THRIFT_STOP) break;
                if (uid == 1 && ut == THRIFT_STRUCT) f->column_orders[i] = 0;
                rc = thrift_dec_skip(&m->d, ut, false);
            }
        }
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 8:
        f->encrypted = true;
        rc = thrift_dec_skip(&m->d, t_, false);
        break;
        SKIP;
    }
    FIELDS_END(m)
    if (!has_schema || f->nschema == 0) return thrift_dec_fail(&m->d, "FileMetaData: no schema");
    if (f->num_rows < 0) return thrift_dec_fail(&m->d, "FileMetaData: no num_rows");
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Schema tree and validation
 * ------------------------------------------------------------------------- */

typedef struct walk {
    pq_file_meta_t *f;
    md_t *m;
    ursa_err_t *err;
    size_t next;                           /* the next schema element */
    const char *path[PQ_MAX_SCHEMA_DEPTH]; /* names from below the root */
    size_t budget;                         /* bytes left for leaf paths */
} walk_t;

static int walk_elem(walk_t *w, size_t depth, int def, int rep, bool nested)
{
    size_t idx = w->next++;
    const pq_schema_elem_t *e = &w->f->schema[idx];
    if (depth >= PQ_MAX_SCHEMA_DEPTH)
        return ursa_err_set(w->err, URSA_EFORMAT, "schema: nested deeper than %d at element %zu (%s)",
                            PQ_MAX_SCHEMA_DEPTH, idx, e->name);
    if (depth > 0) {
        if (e->repetition == PQ_OPTIONAL || e->repetition == PQ_REPEATED) def++;
        if (e->repetition == PQ_REPEATED) rep++, nested = true;
        w->path[depth - 1] = e->name;
    }
    if (depth == 0 || e->num_children > 0 || e->type < 0) { /* a group */
        int32_t kids = e->num_children > 0 ? e->num_children : 0;
        for (int32_t k = 0; k < kids; k++) {
            if (w->next >= w->f->nschema)
                return ursa_err_set(w->err, URSA_EFORMAT,
                                    "schema: element %zu (%s) has %d children but the list ends after %zu",
                                    idx, e->name, (int)kids, w->f->nschema);
            int rc = walk_elem(w, depth + 1, def, rep, nested || depth > 0);
            if (rc) return rc;
        }
        return URSA_OK;
    }
    /* A leaf. */
    pq_leaf_t *l = &w->f->leaves[w->f->nleaves++];
    l->schema_index = idx;
    l->npath = depth;
    l->max_def = def;
    l->max_rep = rep;
    l->nested = nested;
    size_t len = 0;
    for (size_t i = 0; i < depth; i++) len += strlen(w->path[i]) + 1;
    if (len + depth * sizeof(char *) > w->budget)
        return ursa_err_set(w->err, URSA_EFORMAT, "schema: leaf paths longer than the footer allows");
    w->budget -= len + depth * sizeof(char *);
    l->path = alloc_n(w->m, depth, sizeof(char *));
    char *dotted = arena_alloc(w->m->arena, len);
    if (!l->path || !dotted) return nomem(w->m);
    memcpy(l->path, w->path, depth * sizeof(char *));
    l->dotted = dotted;
    for (size_t i = 0; i < depth; i++) {
        size_t n = strlen(w->path[i]);
        memcpy(dotted, w->path[i], n);
        dotted[n] = i + 1 < depth ? '.' : '\0';
        dotted += n + 1;
    }
    return URSA_OK;
}

static int validate(md_t *m, pq_file_meta_t *f, size_t input_len, ursa_err_t *err)
{
    f->leaves = alloc_n(m, f->nschema, sizeof(pq_leaf_t));
    if (!f->leaves) return nomem(m);
    walk_t w = {.f = f, .m = m, .err = err, .budget = 16 * input_len + (1u << 20)};
    int rc = walk_elem(&w, 0, 0, 0, false);
    if (rc) return rc;
    if (w.next != f->nschema)
        return ursa_err_set(err, URSA_EFORMAT, "schema: %zu elements after the tree of the root ends",
                            f->nschema - w.next);
    for (size_t g = 0; g < f->nrow_groups; g++) {
        const pq_row_group_t *rg = &f->row_groups[g];
        if (rg->ncolumns != f->nleaves)
            return ursa_err_set(err, URSA_EFORMAT, "row group %zu: %zu column chunks for %zu leaf columns", g,
                                rg->ncolumns, f->nleaves);
        /* Chunks follow the leaves' order: the reader finds a column's chunk by its leaf index. */
        for (size_t c = 0; c < rg->ncolumns; c++) {
            const pq_column_chunk_t *cc = &rg->columns[c];
            const pq_leaf_t *l = &f->leaves[c];
            bool same = !cc->has_meta_data || cc->meta.npath == l->npath;
            for (size_t k = 0; same && cc->has_meta_data && k < l->npath; k++)
                same = strcmp(cc->meta.path[k], l->path[k]) == 0;
            if (!same)
                return ursa_err_set(err, URSA_EFORMAT,
                                    "row group %zu, column %zu (%s): path_in_schema differs", g, c,
                                    l->dotted);
            if (cc->has_meta_data && cc->meta.type != f->schema[l->schema_index].type)
                return ursa_err_set(err, URSA_EFORMAT,
                                    "row group %zu, column %zu (%s): type %d, schema says %d", g, c,
                                    l->dotted, cc->meta.type, f->schema[l->schema_index].type);
        }
    }
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------- */

int pq_meta_footer_len(const uint8_t *tail, size_t n, uint64_t file_size, uint32_t *len, ursa_err_t *err)
{
    if (n < 8 || file_size < 12 || n > file_size)
        return ursa_err_set(err, URSA_EFORMAT, "parquet: file of %llu bytes is too short",
                            (unsigned long long)file_size);
    const uint8_t *m = tail + n - 4;
    if (memcmp(m, "PARE", 4) == 0)
        return ursa_err_set(err, URSA_EFORMAT, "parquet: encrypted footer (PARE) is not supported");
    if (memcmp(m, "PAR1", 4) != 0)
        return ursa_err_set(err, URSA_EFORMAT, "parquet: no PAR1 magic at the end");
    const uint8_t *l = tail + n - 8;
    uint32_t v = (uint32_t)l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
    if ((uint64_t)v + 12 > file_size)
        return ursa_err_set(err, URSA_EFORMAT, "parquet: footer length %u does not fit a file of %llu bytes",
                            v, (unsigned long long)file_size);
    *len = v;
    return URSA_OK;
}

int pq_meta_decode(const void *p, size_t n, pq_file_meta_t *f, ursa_err_t *err)
{
    memset(f, 0, sizeof(*f));
    md_t m = {.arena = &f->arena};
    thrift_dec_init(&m.d, p, n, err);
    int rc = dec_file_meta(&m, f);
    if (rc == URSA_OK) rc = validate(&m, f, n, err);
    return rc;
}

void pq_meta_free(pq_file_meta_t *f)
{
    arena_free(&f->arena);
    memset(f, 0, sizeof(*f));
}

size_t pq_meta_mem(const pq_file_meta_t *f)
{
    size_t n = 0;
    for (const pq_arena_t *a = f->arena; a; a = a->next) n += sizeof(*a) + a->cap;
    return n;
}

const pq_leaf_t *pq_meta_leaf_by_name(const pq_file_meta_t *f, const char *name)
{
    for (size_t i = 0; i < f->nleaves; i++)
        if (strcmp(f->leaves[i].dotted, name) == 0) return &f->leaves[i];
    return NULL;
}

static int dec_v1(md_t *m, pq_page_header_t *h)
{
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_count32(m, t_, &h->v1.num_values, "DataPageHeader.num_values");
        break;
    case 2:
        rc = get_enum(m, t_, &h->v1.encoding, "DataPageHeader.encoding");
        break;
    case 3:
        rc = get_enum(m, t_, &h->v1.def_encoding, "DataPageHeader.definition_level_encoding");
        break;
    case 4:
        rc = get_enum(m, t_, &h->v1.rep_encoding, "DataPageHeader.repetition_level_encoding");
        break;
    case 5:
        rc = t_ == THRIFT_STRUCT ? dec_stats(m, &h->v1.stats) : bad_type(m, "DataPageHeader.statistics", t_);
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_dict(md_t *m, pq_page_header_t *h)
{
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_count32(m, t_, &h->dict.num_values, "DictionaryPageHeader.num_values");
        break;
    case 2:
        rc = get_enum(m, t_, &h->dict.encoding, "DictionaryPageHeader.encoding");
        break;
    case 3:
        rc = get_bool(m, t_, &h->dict.is_sorted, "DictionaryPageHeader.is_sorted");
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_v2(md_t *m, pq_page_header_t *h)
{
    h->v2.is_compressed = true;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_count32(m, t_, &h->v2.num_values, "DataPageHeaderV2.num_values");
        break;
    case 2:
        rc = get_count32(m, t_, &h->v2.num_nulls, "DataPageHeaderV2.num_nulls");
        break;
    case 3:
        rc = get_count32(m, t_, &h->v2.num_rows, "DataPageHeaderV2.num_rows");
        break;
    case 4:
        rc = get_enum(m, t_, &h->v2.encoding, "DataPageHeaderV2.encoding");
        break;
    case 5:
        rc = get_count32(m, t_, &h->v2.def_levels_byte_length,
                         "DataPageHeaderV2.definition_levels_byte_length");
        break;
    case 6:
        rc = get_count32(m, t_, &h->v2.rep_levels_byte_length,
                         "DataPageHeaderV2.repetition_levels_byte_length");
        break;
    case 7:
        rc = get_bool(m, t_, &h->v2.is_compressed, "DataPageHeaderV2.is_compressed");
        break;
    case 8:
        rc =
            t_ == THRIFT_STRUCT ? dec_stats(m, &h->v2.stats) : bad_type(m, "DataPageHeaderV2.statistics", t_);
        break;
        SKIP;
    }
    FIELDS_END(m)
    if ((int64_t)h->v2.def_levels_byte_length + h->v2.rep_levels_byte_length > INT32_MAX)
        return thrift_dec_fail(&m->d, "DataPageHeaderV2: level lengths overflow");
    return URSA_OK;
}

static int dec_page_header(md_t *m, pq_page_header_t *h)
{
    unsigned seen = 0;
    h->type = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_enum(m, t_, &h->type, "PageHeader.type");
        break;
    case 2:
        rc = get_count32(m, t_, &h->uncompressed_page_size, "PageHeader.uncompressed_page_size");
        break;
    case 3:
        rc = get_count32(m, t_, &h->compressed_page_size, "PageHeader.compressed_page_size");
        break;
    case 4:
        rc = get_i32(m, t_, &h->crc, "PageHeader.crc");
        if (rc == URSA_OK) h->has_crc = true;
        break;
    case 5:
        rc = t_ == THRIFT_STRUCT ? dec_v1(m, h) : bad_type(m, "PageHeader.data_page_header", t_);
        if (rc == URSA_OK) h->has_v1 = true;
        break;
    case 7:
        rc = t_ == THRIFT_STRUCT ? dec_dict(m, h) : bad_type(m, "PageHeader.dictionary_page_header", t_);
        if (rc == URSA_OK) h->has_dict = true;
        break;
    case 8:
        rc = t_ == THRIFT_STRUCT ? dec_v2(m, h) : bad_type(m, "PageHeader.data_page_header_v2", t_);
        if (rc == URSA_OK) h->has_v2 = true;
        break;
        SKIP;
    }
    if (rc == URSA_OK && id_ > 0 && id_ < 32) seen |= 1u << id_;
    FIELDS_END(m)
    if ((seen & 0xE) != 0xE) return thrift_dec_fail(&m->d, "PageHeader: type or a page size missing");
    if (h->type == PQ_DATA_PAGE && !h->has_v1)
        return thrift_dec_fail(&m->d, "PageHeader: data page without data_page_header");
    if (h->type == PQ_DICTIONARY_PAGE && !h->has_dict)
        return thrift_dec_fail(&m->d, "PageHeader: dictionary page without dictionary_page_header");
    if (h->type == PQ_DATA_PAGE_V2 && !h->has_v2)
        return thrift_dec_fail(&m->d, "PageHeader: v2 data page without data_page_header_v2");
    if (h->type == PQ_DATA_PAGE_V2 &&
        (int64_t)h->v2.def_levels_byte_length + h->v2.rep_levels_byte_length > h->compressed_page_size)
        return thrift_dec_fail(&m->d, "DataPageHeaderV2: level lengths exceed the page size");
    return URSA_OK;
}

int pq_page_header_decode(const void *p, size_t n, pq_page_header_t *h, size_t *used, ursa_err_t *err)
{
    memset(h, 0, sizeof(*h));
    md_t m = {.arena = &h->arena};
    thrift_dec_init(&m.d, p, n, err);
    int rc = dec_page_header(&m, h);
    if (rc == URSA_OK) *used = thrift_dec_offset(&m.d);
    return rc;
}

void pq_page_header_free(pq_page_header_t *h)
{
    arena_free(&h->arena);
    memset(h, 0, sizeof(*h));
}

static int dec_column_index(md_t *m, pq_column_index_t *ci)
{
    size_t nnull = 0, nmin = 0, nmax = 0, ncount = 0;
    bool has[6] = {false};
    ci->boundary_order = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_list(m, t_, THRIFT_TRUE, sizeof(bool), (void **)&ci->null_pages, &nnull,
                      "ColumnIndex.null_pages");
        for (size_t i = 0; rc == URSA_OK && i < nnull; i++)
            rc = thrift_dec_bool_elem(&m->d, &ci->null_pages[i]);
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    case 2:
    case 3: {
        pq_bytes_t **arr = id_ == 2 ? &ci->min_values : &ci->max_values;
        size_t *cnt = id_ == 2 ? &nmin : &nmax;
        rc = get_list(m, t_, THRIFT_BINARY, sizeof(pq_bytes_t), (void **)arr, cnt,
                      "ColumnIndex.min/max_values");
        for (size_t i = 0; rc == URSA_OK && i < *cnt; i++)
            rc = get_bytes(m, THRIFT_BINARY, &(*arr)[i], "ColumnIndex.min/max_values");
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
    }
    case 4:
        rc = get_enum(m, t_, &ci->boundary_order, "ColumnIndex.boundary_order");
        break;
    case 5:
        rc = get_list(m, t_, THRIFT_I64, sizeof(int64_t), (void **)&ci->null_counts, &ncount,
                      "ColumnIndex.null_counts");
        for (size_t i = 0; rc == URSA_OK && i < ncount; i++) {
            rc = thrift_dec_int(&m->d, THRIFT_I64, &ci->null_counts[i]);
            if (rc == URSA_OK && ci->null_counts[i] < 0)
                rc = thrift_dec_fail(&m->d, "ColumnIndex.null_counts: negative");
        }
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        break;
        SKIP;
    }
    if (rc == URSA_OK && id_ > 0 && id_ < 6) has[id_] = true;
    FIELDS_END(m)
    if (!has[1] || !has[2] || !has[3] || !has[4])
        return thrift_dec_fail(&m->d, "ColumnIndex: a required field is missing");
    if (nmin != nnull || nmax != nnull || (has[5] && ncount != nnull))
        return thrift_dec_fail(&m->d,
                               "ColumnIndex: lists of different lengths (%zu null_pages, %zu min, %zu max)",
                               nnull, nmin, nmax);
    if (!has[5]) ci->null_counts = NULL;
    ci->npages = nnull;
    return URSA_OK;
}

int pq_column_index_decode(const void *p, size_t n, pq_column_index_t *ci, ursa_err_t *err)
{
    memset(ci, 0, sizeof(*ci));
    md_t m = {.arena = &ci->arena};
    thrift_dec_init(&m.d, p, n, err);
    return dec_column_index(&m, ci);
}

void pq_column_index_free(pq_column_index_t *ci)
{
    arena_free(&ci->arena);
    memset(ci, 0, sizeof(*ci));
}

static int dec_page_location(md_t *m, pq_page_location_t *l)
{
    unsigned seen = 0;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_count(m, t_, &l->offset, "PageLocation.offset");
        break;
    case 2:
        rc = get_count32(m, t_, &l->compressed_page_size, "PageLocation.compressed_page_size");
        break;
    case 3:
        rc = get_count(m, t_, &l->first_row_index, "PageLocation.first_row_index");
        break;
        SKIP;
    }
    if (rc == URSA_OK && id_ > 0 && id_ < 4) seen |= 1u << id_;
    FIELDS_END(m)
    if (seen != 0xE) return thrift_dec_fail(&m->d, "PageLocation: a required field is missing");
    return URSA_OK;
}

static int dec_offset_index(md_t *m, pq_offset_index_t *oi)
{
    bool has = false;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_list_min(m, t_, THRIFT_STRUCT, 7, sizeof(pq_page_location_t), (void **)&oi->pages,
                          &oi->npages, "OffsetIndex.page_locations");
        for (size_t i = 0; rc == URSA_OK && i < oi->npages; i++) {
            rc = dec_page_location(m, &oi->pages[i]);
            if (rc == URSA_OK && i > 0 && oi->pages[i].first_row_index < oi->pages[i - 1].first_row_index)
                rc = thrift_dec_fail(&m->d, "OffsetIndex: first_row_index decreases at page %zu", i);
        }
        if (rc == URSA_OK) thrift_dec_list_end(&m->d);
        if (rc == URSA_OK) has = true;
        break;
        SKIP;
    }
    FIELDS_END(m)
    if (!has) return thrift_dec_fail(&m->d, "OffsetIndex: no page_locations");
    return URSA_OK;
}

int pq_offset_index_decode(const void *p, size_t n, pq_offset_index_t *oi, ursa_err_t *err)
{
    memset(oi, 0, sizeof(*oi));
    md_t m = {.arena = &oi->arena};
    thrift_dec_init(&m.d, p, n, err);
    return dec_offset_index(&m, oi);
}

void pq_offset_index_free(pq_offset_index_t *oi)
{
    arena_free(&oi->arena);
    memset(oi, 0, sizeof(*oi));
}

/* A union whose members are empty structs: the member's id, -1 for an unknown one. */
static int dec_marker_union(md_t *m, int *v)
{
    *v = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        *v = t_ == THRIFT_STRUCT ? 1 : -1;
        rc = thrift_dec_skip(&m->d, t_, false);
        break;
        SKIP;
    }
    FIELDS_END(m)
    return URSA_OK;
}

static int dec_bloom(md_t *m, pq_bloom_header_t *b)
{
    bool has = false;
    b->algorithm = b->hash = b->compression = -1;
    FIELDS_BEGIN(m)
    {
    case 1:
        rc = get_count32(m, t_, &b->num_bytes, "BloomFilterHeader.numBytes");
        if (rc == URSA_OK) has = true;
        break;
    case 2:
    case 3:
    case 4: {
        int *v = id_ == 2 ? &b->algorithm : id_ == 3 ? &b->hash : &b->compression;
        rc = t_ == THRIFT_STRUCT ? dec_marker_union(m, v) : bad_type(m, "BloomFilterHeader", t_);
        break;
    }
        SKIP;
    }
    FIELDS_END(m)
    if (!has || b->num_bytes <= 0) return thrift_dec_fail(&m->d, "BloomFilterHeader: no positive numBytes");
    return URSA_OK;
}

int pq_bloom_header_decode(const void *p, size_t n, pq_bloom_header_t *b, size_t *used, ursa_err_t *err)
{
    memset(b, 0, sizeof(*b));
    pq_arena_t *none = NULL;
    md_t m = {.arena = &none};
    thrift_dec_init(&m.d, p, n, err);
    int rc = dec_bloom(&m, b);
    arena_free(&none);
    if (rc == URSA_OK) *used = thrift_dec_offset(&m.d);
    return rc;
}
