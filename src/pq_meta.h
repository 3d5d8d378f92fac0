/*
 * pq_meta.h -- Parquet metadata decoded from untrusted bytes: the footer
 * (FileMetaData), page headers, the page index (ColumnIndex, OffsetIndex)
 * and bloom filter headers, into plain C structs.
 *
 * Each decoded object is caller-owned storage (pq_*_t) whose strings, byte
 * strings and arrays live in an arena inside it: one pq_*_free() call frees
 * everything, and it is safe on a zeroed or failed object. Decoders return
 * URSA_OK, URSA_EFORMAT (bad bytes; err says what and at which byte) or
 * URSA_ENOMEM. Integers the file did not set are -1 when the value is
 * otherwise non-negative (offsets, sizes, counts, enums); has_* flags mark
 * the rest. Enum values are the Parquet spec's numbers.
 */
#ifndef URSA_PQ_META_H
#define URSA_PQ_META_H

#include "common.h"

/* Physical types. */
enum {
    PQ_BOOLEAN = 0,
    PQ_INT32,
    PQ_INT64,
    PQ_INT96,
    PQ_FLOAT,
    PQ_DOUBLE,
    PQ_BYTE_ARRAY,
    PQ_FIXED_LEN_BYTE_ARRAY
};
/* Repetition. */
enum { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 };
/* Page types. */
enum { PQ_DATA_PAGE = 0, PQ_INDEX_PAGE = 1, PQ_DICTIONARY_PAGE = 2, PQ_DATA_PAGE_V2 = 3 };

/* LogicalType union members (the field id in the spec); PQ_LT_NONE when absent. */
enum {
    PQ_LT_NONE = 0,
    PQ_LT_STRING = 1,
    PQ_LT_MAP = 2,
    PQ_LT_LIST = 3,
    PQ_LT_ENUM = 4,
    PQ_LT_DECIMAL = 5,
    PQ_LT_DATE = 6,
    PQ_LT_TIME = 7,
    PQ_LT_TIMESTAMP = 8,
    PQ_LT_INTEGER = 10,
    PQ_LT_UNKNOWN = 11, /* always null */
    PQ_LT_JSON = 12,
    PQ_LT_BSON = 13,
    PQ_LT_UUID = 14,
    PQ_LT_FLOAT16 = 15,
    PQ_LT_VARIANT = 16,
    PQ_LT_GEOMETRY = 17,
    PQ_LT_GEOGRAPHY = 18,
    PQ_LT_OTHER = 99 /* a member this reader does not know */
};
/* TimeUnit. */
enum { PQ_UNIT_MILLIS = 1, PQ_UNIT_MICROS = 2, PQ_UNIT_NANOS = 3 };

typedef struct pq_bytes {
    const uint8_t *p; /* NULL when absent; arena-owned, NUL-terminated */
    size_t n;
} pq_bytes_t;

typedef struct pq_logical {
    int kind;                 /* PQ_LT_* */
    int32_t scale, precision; /* DECIMAL */
    bool utc;                 /* TIME, TIMESTAMP: isAdjustedToUTC */
    int unit;                 /* TIME, TIMESTAMP: PQ_UNIT_* */
    int bit_width;            /* INTEGER: 8, 16, 32, 64 */
    bool is_signed;           /* INTEGER */
} pq_logical_t;

typedef struct pq_schema_elem {
    int type;                 /* PQ_BOOLEAN ..., -1 for a group */
    int32_t type_length;      /* -1 when absent */
    int repetition;           /* PQ_REQUIRED ..., -1 when absent */
    const char *name;         /* never NULL */
    int32_t num_children;     /* -1 when absent (a leaf) */
    int converted_type;       /* -1 when absent */
    int32_t scale, precision; /* -1 when absent */
    bool has_field_id;
    int32_t field_id;
    pq_logical_t logical;
} pq_schema_elem_t;

typedef struct pq_kv {
    const char *key;   /* never NULL */
    const char *value; /* NULL when absent */
} pq_kv_t;

typedef struct pq_stats {
    bool present;
    pq_bytes_t max, min;                /* deprecated: signed order only */
    pq_bytes_t max_value, min_value;    /* the current fields */
    int64_t null_count, distinct_count; /* -1 when absent */
    bool has_is_max_exact, is_max_exact, has_is_min_exact, is_min_exact;
} pq_stats_t;

typedef struct pq_enc_stats {
    int page_type, encoding;
    int32_t count;
} pq_enc_stats_t;

typedef struct pq_col_meta {
    int type;
    int *encodings;
    size_t nencodings;
    const char **path; /* path_in_schema */
    size_t npath;
    int codec;
    int64_t num_values, total_uncompressed_size, total_compressed_size;
    pq_kv_t *kv;
    size_t nkv;
    int64_t data_page_offset, index_page_offset, dictionary_page_offset; /* -1 when absent */
    pq_stats_t stats;
    pq_enc_stats_t *encoding_stats;
    size_t nencoding_stats;
    int64_t bloom_filter_offset; /* -1 when absent */
    int32_t bloom_filter_length; /* -1 when absent */
} pq_col_meta_t;

typedef struct pq_column_chunk {
    const char *file_path; /* NULL when absent (the same file) */
    int64_t file_offset;
    bool has_meta_data; /* false only for encrypted columns */
    pq_col_meta_t meta;
    int64_t offset_index_offset, column_index_offset; /* -1 when absent */
    int32_t offset_index_length, column_index_length; /* -1 when absent */
    bool encrypted;                                   /* crypto_metadata or encrypted_column_metadata set */
} pq_column_chunk_t;

typedef struct pq_sorting_column {
    int32_t column_idx;
    bool descending, nulls_first;
} pq_sorting_column_t;

typedef struct pq_row_group {
    pq_column_chunk_t *columns;
    size_t ncolumns;
    int64_t total_byte_size, num_rows;
    pq_sorting_column_t *sorting;
    size_t nsorting;
    int64_t file_offset, total_compressed_size; /* -1 when absent */
    int32_t ordinal;                            /* -1 when absent */
} pq_row_group_t;

/* A leaf column, derived from the schema tree. */
typedef struct pq_leaf {
    size_t schema_index; /* into pq_file_meta_t.schema */
    const char **path;   /* names from below the root to the leaf */
    size_t npath;
    const char *dotted; /* the path joined with '.' */
    int max_def, max_rep;
    bool nested; /* under a group (LIST, MAP, struct) or repeated itself */
} pq_leaf_t;

typedef struct pq_arena pq_arena_t;

typedef struct pq_file_meta {
    int32_t version;
    pq_schema_elem_t *schema;
    size_t nschema;
    int64_t num_rows;
    pq_row_group_t *row_groups;
    size_t nrow_groups;
    pq_kv_t *kv;
    size_t nkv;
    const char *created_by; /* NULL when absent */
    int *column_orders;     /* 0: TYPE_ORDER, -1: another */
    size_t ncolumn_orders;
    bool encrypted; /* encryption_algorithm set (plaintext footer of an encrypted file) */
    pq_leaf_t *leaves;
    size_t nleaves;
    pq_arena_t *arena; /* private */
} pq_file_meta_t;

typedef struct pq_page_header {
    int type;
    int32_t uncompressed_page_size, compressed_page_size;
    bool has_crc;
    int32_t crc;
    bool has_v1, has_dict, has_v2;
    struct {
        int32_t num_values;
        int encoding, def_encoding, rep_encoding;
        pq_stats_t stats;
    } v1;
    struct {
        int32_t num_values;
        int encoding;
        bool is_sorted;
    } dict;
    struct {
        int32_t num_values, num_nulls, num_rows;
        int encoding;
        int32_t def_levels_byte_length, rep_levels_byte_length;
        bool is_compressed; /* default true */
        pq_stats_t stats;
    } v2;
    pq_arena_t *arena;
} pq_page_header_t;

typedef struct pq_column_index {
    bool *null_pages;
    pq_bytes_t *min_values, *max_values;
    size_t npages;
    int boundary_order;   /* 0 unordered, 1 ascending, 2 descending */
    int64_t *null_counts; /* NULL when absent, else npages of them */
    pq_arena_t *arena;
} pq_column_index_t;

typedef struct pq_page_location {
    int64_t offset;
    int32_t compressed_page_size;
    int64_t first_row_index;
} pq_page_location_t;

typedef struct pq_offset_index {
    pq_page_location_t *pages;
    size_t npages;
    pq_arena_t *arena;
} pq_offset_index_t;

typedef struct pq_bloom_header {
    int32_t num_bytes;
    int algorithm;   /* 1: BLOCK (split block), -1 unknown */
    int hash;        /* 1: XXHASH, -1 unknown */
    int compression; /* 1: UNCOMPRESSED, -1 unknown */
} pq_bloom_header_t;

/* Given the last n bytes of a file (n >= 8), sets *len to the footer's
 * length, checked against file_size (the footer, its length and both magics
 * must fit). URSA_EFORMAT for a missing magic, an encrypted footer ("PARE")
 * or a length that does not fit, with err saying which. */
int pq_meta_footer_len(const uint8_t *tail, size_t n, uint64_t file_size, uint32_t *len,
                       ursa_err_t *err) URSA_MUST_CHECK;

/* Decodes a footer p[0..n) into m (caller-owned; zeroed first). Validates
 * the schema tree, the counts, the offsets and sizes, and that every row
 * group has one column chunk per leaf; fills m->leaves. Free m with
 * pq_meta_free() whatever this returns. */
int pq_meta_decode(const void *p, size_t n, pq_file_meta_t *m, ursa_err_t *err) URSA_MUST_CHECK;
void pq_meta_free(pq_file_meta_t *m);
/* The heap bytes a decoded m holds (its arena's blocks), for caches that
 * bound what they keep. */
size_t pq_meta_mem(const pq_file_meta_t *m);

/* The leaf whose dotted path is `name`, or NULL. */
const pq_leaf_t *pq_meta_leaf_by_name(const pq_file_meta_t *m, const char *name);

/* Decodes a page header from the start of p[0..n) and sets *used to its
 * length (the page's bytes follow it). Free with pq_page_header_free(). */
int pq_page_header_decode(const void *p, size_t n, pq_page_header_t *h, size_t *used,
                          ursa_err_t *err) URSA_MUST_CHECK;
void pq_page_header_free(pq_page_header_t *h);

/* The page index of one column chunk, from exactly its bytes p[0..n). */
int pq_column_index_decode(const void *p, size_t n, pq_column_index_t *ci, ursa_err_t *err) URSA_MUST_CHECK;
void pq_column_index_free(pq_column_index_t *ci);
int pq_offset_index_decode(const void *p, size_t n, pq_offset_index_t *oi, ursa_err_t *err) URSA_MUST_CHECK;
void pq_offset_index_free(pq_offset_index_t *oi);

/* A bloom filter's header from the start of p[0..n); *used is its length
 * (the bitset follows). num_bytes is checked positive. Nothing to free. */
int pq_bloom_header_decode(const void *p, size_t n, pq_bloom_header_t *b, size_t *used,
                           ursa_err_t *err) URSA_MUST_CHECK;

#endif
