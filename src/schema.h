/*
 * schema.h -- a dataset's schema: named, typed columns and the time column.
 *
 * A schema is parsed from and rendered to JSON (the control plane, with
 * jansson). Column names match [a-z][a-z0-9_]* and are at most
 * URSA_NAME_MAX bytes; the time column, when given, must be a non-null
 * timestamp column. The sort key ("sort_by") names 1 to URSA_SORT_KEYS_MAX
 * distinct columns of orderable types (every type but json); without it a
 * dataset's files are sorted by the time column (see sort.h).
 */
#ifndef URSA_SCHEMA_H
#define URSA_SCHEMA_H

#include "common.h"

#define URSA_NAME_MAX      128
#define URSA_COLUMNS_MAX   1024
#define URSA_SORT_KEYS_MAX 8

typedef enum ursa_type {
    URSA_TYPE_BOOL = 0,
    URSA_TYPE_INT64,
    URSA_TYPE_FLOAT64,
    URSA_TYPE_STRING,    /* UTF-8 text */
    URSA_TYPE_TIMESTAMP, /* int64 in the field's unit since the epoch; utc or local wall clock */
    URSA_TYPE_INT8,
    URSA_TYPE_INT16,
    URSA_TYPE_INT32,
    URSA_TYPE_UINT8,
    URSA_TYPE_UINT16,
    URSA_TYPE_UINT32,
    URSA_TYPE_UINT64,
    URSA_TYPE_FLOAT32,
    URSA_TYPE_DECIMAL, /* unscaled integer: int64 when precision <= 18, else int128 */
    URSA_TYPE_BINARY,  /* bytes (base64 in JSON) */
    URSA_TYPE_DATE,    /* int32 days since 1970-01-01 */
    URSA_TYPE_TIME,    /* int64 microseconds since midnight */
    URSA_TYPE_UUID,    /* 16 bytes, big-endian as written */
    URSA_TYPE_JSON,    /* any JSON value, kept as its text */
    URSA_TYPE_COUNT_
} ursa_type_t;

typedef enum ursa_time_unit { URSA_UNIT_MS = 0, URSA_UNIT_US, URSA_UNIT_NS } ursa_time_unit_t;

/* A column's Parquet encoding, chosen in the schema ("encoding") or left
 * to the writer (AUTO: dictionary for strings, binary and json with
 * fallback to PLAIN, PLAIN or DELTA_BINARY_PACKED otherwise by measurement). */
typedef enum ursa_encoding {
    URSA_ENC_AUTO = 0,
    URSA_ENC_PLAIN,                   /* "plain" */
    URSA_ENC_DICTIONARY,              /* "dictionary": RLE_DICTIONARY, PLAIN past the limit */
    URSA_ENC_DELTA_BINARY_PACKED,     /* "delta": integers, date, time, timestamp, decimal <= 18 */
    URSA_ENC_DELTA_LENGTH_BYTE_ARRAY, /* "delta_length": string, binary, json */
    URSA_ENC_BYTE_STREAM_SPLIT        /* "byte_stream_split": float32, float64 */
} ursa_encoding_t;

typedef struct ursa_field {
    char *name; /* owned, NUL-terminated */
    size_t name_len;
    ursa_type_t type;
    bool nullable;
    uint8_t precision;     /* DECIMAL: 1..38 */
    uint8_t scale;         /* DECIMAL: 0..precision */
    ursa_time_unit_t unit; /* TIMESTAMP: default microseconds */
    bool utc;              /* TIMESTAMP: default true */
    ursa_encoding_t encoding;
    bool bloom_filter; /* write a split-block bloom filter for this column */
    /* harmonization */
    char **aliases; /* other names a record may use for this field (owned) */
    size_t naliases;
    char *default_json;       /* JSON text of the value a missing field gets, or NULL (owned) */
    uint32_t max_length;      /* string/json: characters, binary: bytes; 0: no limit */
    struct ursa_rules *rules; /* the other harmonization rules, or NULL when none (owned) */
} ursa_field_t;

/* Harmonization rules a column may declare (see docs/user-guide.md). They
 * run in this order: trim, case, coercion/parse, then the checks (allowed
 * values, range, max_length). Every one is off unless declared. */
typedef enum ursa_fold { URSA_FOLD_NONE = 0, URSA_FOLD_LOWER, URSA_FOLD_UPPER } ursa_fold_t;

typedef struct ursa_rules {
    bool coerce; /* strings to numbers and bools, numbers and bools to strings, epoch strings */
    bool trim;   /* strip leading and trailing white space of text values */
    ursa_fold_t fold;
    int epoch;      /* timestamp: numbers are seconds (0), ms (1), us (2), ns (3) since the epoch; -1: not */
    char **formats; /* timestamp/date/time: strptime-like formats tried after RFC 3339 (owned) */
    size_t nformats;
    /* allowed values: strings for text columns, integers for integer columns */
    char **allowed;
    int64_t *allowed_int;
    size_t nallowed;
    char *allowed_text; /* the allowed values as declared, for messages: "a, b, c" (owned) */
    /* range, inclusive: integers compare exactly, floats as doubles */
    bool has_min, has_max;
    int64_t min_i, max_i;  /* signed integer columns */
    uint64_t min_u, max_u; /* unsigned integer columns */
    double min_d, max_d;   /* float columns */
    char *json;            /* the rules as given, rendered: `"coerce":true,...` (owned) */
} ursa_rules_t;

/* When a dataset's buffer is flushed; 0 means "not set" (inherit the
 * server's default, or off). */
typedef struct ursa_flush_policy {
    uint64_t max_rows;  /* rows buffered */
    uint64_t max_bytes; /* memory the buffered rows take */
    uint32_t max_age_s; /* age of the oldest buffered row */
    uint32_t every_s;   /* a flush every N seconds (a schedule) */
    uint16_t at[8];     /* and at these times of day, minutes after 00:00 UTC */
    uint8_t nat;
} ursa_flush_policy_t;

/* Parses "HH:MM" into minutes after midnight; -1 when malformed. */
int ursa_parse_hhmm(const char *s, size_t n);

typedef struct ursa_schema {
    ursa_field_t *fields; /* owned array of nfields */
    size_t nfields;
    int time_column;           /* index of the timestamp that partitions files, or -1 when there is none */
    ursa_flush_policy_t flush; /* the dataset's own flush policy ("flush" in the document) */
    bool reject_unknown;       /* "unknown_fields": "reject" (a record with a field not here is rejected) */
    bool evolve; /* "unknown_fields": "evolve" (an unknown field becomes a new nullable column) */
    /* "sort_by": the fields each flushed file is sorted by, in key order;
     * nsort_by == 0 when the document has none (then the time column is
     * the key: ursa_schema_sort_key). Evolution only adds fields, so these
     * indexes never change. */
    uint16_t sort_by[URSA_SORT_KEYS_MAX];
    uint8_t nsort_by;
} ursa_schema_t;

/* The number of fields, read once (an evolving dataset's schema gains
 * fields while requests run: fields are appended, fully written, before the
 * count is raised, and never move or change). */
static inline size_t ursa_schema_nfields(const ursa_schema_t *s)
{
    return __atomic_load_n(&s->nfields, __ATOMIC_ACQUIRE);
}

/* Bytes per value in a column's values buffer for fixed-width types; 0 for
 * BOOL (bit-packed) and for the variable-length types (STRING, BINARY,
 * JSON: offsets + data). */
unsigned ursa_field_width(const ursa_field_t *f);

/* True for STRING, BINARY and JSON. */
static inline bool ursa_type_varlen(ursa_type_t t)
{
    return t == URSA_TYPE_STRING || t == URSA_TYPE_BINARY || t == URSA_TYPE_JSON;
}

/* True for the types a sort key may hold: every type but JSON (its text
 * has no meaningful order). */
static inline bool ursa_type_orderable(ursa_type_t t)
{
    return t != URSA_TYPE_JSON && t < URSA_TYPE_COUNT_;
}

/* The effective sort key of s: its "sort_by" fields, or else its time
 * column alone, or else none. Fills cols (room for URSA_SORT_KEYS_MAX) and
 * returns how many. */
size_t ursa_schema_sort_key(const ursa_schema_t *s, int cols[URSA_SORT_KEYS_MAX]);

/* Returns the schema name of a type ("int64", ...). */
const char *ursa_type_name(ursa_type_t t);

/* Returns true when s[0..n) is a valid dataset or column name. */
bool ursa_name_valid(const char *s, size_t n);

/* Parses a schema document. On success *out owns the schema (free with
 * ursa_schema_free). On failure err says what is wrong and where.
 * "time_column" is optional here; datasets require it (catalog). */
int ursa_schema_parse(const char *json, size_t len, ursa_schema_t *out, ursa_err_t *err) URSA_MUST_CHECK;

/* Renders the schema as a JSON object into b (appends). */
int ursa_schema_to_json(const ursa_schema_t *s, ursa_buf_t *b) URSA_MUST_CHECK;

/* *out := base with the fields of s it lacks (by name) appended, as s
 * declares them; *grew tells whether there were any. A field both have with
 * different types is URSA_EEXIST. *out is the caller's (ursa_schema_free). */
int ursa_schema_merge(const ursa_schema_t *base, const ursa_schema_t *s, ursa_schema_t *out, bool *grew,
                      ursa_err_t *err) URSA_MUST_CHECK;
/* Returns true when the two schemas are the same. */
bool ursa_schema_equal(const ursa_schema_t *a, const ursa_schema_t *b);

/* Returns the index of the field named name[0..n), or -1. */
int ursa_schema_find(const ursa_schema_t *s, const char *name, size_t n);

void ursa_schema_free(ursa_schema_t *s);
/* Frees what a field owns and zeroes it. */
void ursa_field_free(ursa_field_t *f);
void ursa_rules_free(ursa_rules_t *r);

/* Prints d in the fewest digits that read back the same (buf of 40); returns buf. */
const char *ursa_fmt_double(char buf[40], double d);

#endif
