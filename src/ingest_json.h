/*
 * ingest_json.h -- the schema-directed NDJSON scanner.
 *
 * Parses newline-delimited JSON records straight into the columns of a
 * batch, with no DOM: each key is looked up in the schema and its value is
 * parsed by the column's type and appended. A record that fails (malformed
 * JSON, wrong type, missing non-null value, ...) is rolled back and reported
 * with its 1-based position among the request's records; the others are
 * kept. Input may arrive in arbitrary chunks (ursa_ndjson_feed); a partial
 * last line is carried over to the next chunk. Blank lines are not records.
 *
 * The scanner never reads past the bytes it is given, so it can run on the
 * HTTP library's buffers directly.
 *
 * Schema evolution ("unknown_fields": "evolve", after ursa_ndjson_evolve):
 * an unknown field becomes a column private to this scanner. Its schema
 * (`schema`) is then the fields the given schema had at init (`base` of
 * them) followed by its own, in the order met; the given schema may gain
 * fields meanwhile (another request's), but they never enter this view at
 * its indices: a field of that name found there only lends its type. A
 * refused record takes the fields it brought with it. Whoever stores the
 * rows commits the private fields and rearranges the batch
 * (ursa_dataset_evolve in catalog.c).
 */
#ifndef URSA_INGEST_JSON_H
#define URSA_INGEST_JSON_H

#include "column.h"

#define URSA_ERRORS_LISTED      100         /* row errors kept per request */
#define URSA_MAX_DEPTH          128         /* nesting of ignored values */
#define URSA_MAX_RECORD_DEFAULT (16u << 20) /* bytes per record */

typedef struct ursa_row_error {
    uint64_t row;       /* 1-based record number in the request */
    uint64_t line;      /* 1-based line number in the body */
    int column;         /* field index in the scanner's schema, or -1 for the record as a whole */
    const char *reason; /* static text */
    /* The column's name ("" when column is -1): a field the scanner added
     * may be dropped again (a refused record takes its fields with it), so
     * the index alone names nothing once the error has been reported. */
    char column_name[URSA_NAME_MAX + 1];
    /* The record as received (the NDJSON line without its line end, the
     * JSON-array element, the CSV record), for the quarantine. Valid only
     * during the on_error call; NULL in the errors list and when there is no
     * record text (e.g. a body that is not a JSON array). An over-long
     * record gives only its start (raw_truncated). */
    const char *raw;
    size_t raw_len;
    bool raw_truncated;
    char value[72]; /* the offending value as sent (JSON text; cut to 64 bytes + "..."), or "" */
    char rule[72];  /* the rule it broke ("type int32", "min 0", "enum", ...), or "" */
} ursa_row_error_t;

typedef struct ursa_ndjson {
    /* public, read-only */
    uint64_t records;  /* records seen so far */
    uint64_t rejected; /* records rejected so far */
    ursa_row_error_t errors[URSA_ERRORS_LISTED];
    size_t nerrors; /* listed errors (at most URSA_ERRORS_LISTED) */
    uint64_t lines; /* lines seen so far, blank ones included */

    /* public, settable: called for every row error (also past the listed
     * ones), e.g. to print them all */
    void (*on_error)(void *ctx, const ursa_row_error_t *e);
    void *on_error_ctx;

    /* public, read-only: the fields of the batch's columns. The schema given
     * to init, or after ursa_ndjson_evolve this scanner's own view: fields
     * [0, base) are the given schema's (shallow copies: that schema must
     * outlive the scanner and never change them), fields [base, nfields)
     * are the ones this scanner added (nullable, names owned). */
    const ursa_schema_t *schema;
    size_t base;

    /* private */
    const ursa_schema_t *shared; /* the schema given to init (it may gain fields meanwhile) */
    ursa_schema_t own;           /* the view when evolving; schema points here then */
    size_t own_cap;              /* fields allocated in own */
    bool evolving;
    size_t rec_fields; /* fields before the record being parsed (a refused record drops the rest) */
    size_t nfields;    /* fields known to this scanner (and columns of its batch) */
    ursa_batch_t *batch;
    size_t max_record;
    bool skipping;    /* discarding the rest of an over-long record */
    ursa_buf_t carry; /* partial record from the previous chunk */
    ursa_buf_t scratch;
    ursa_buf_t bytes; /* decoded base64 */
    ursa_buf_t text;  /* a value after trimming and case folding */
    /* the value and rule of the error being reported (set on the error path only) */
    const unsigned char *err_value;
    size_t err_value_len;
    char err_rule[72];
    uint32_t *seen; /* per field: generation in which it was last set */
    uint32_t gen;
    int guess;      /* field expected next (fields usually come in order) */
    int32_t *slots; /* open-addressing table of indexes into names, -1 empty */
    uint32_t slot_mask;
    struct ursa_name_ent {
        const char *s;
        size_t n;
        int field;
    } * names; /* every field name and alias */
    size_t nnames, names_cap;
    struct ursa_key_head {
        uint64_t head, mask; /* the first 8 bytes of name + '"', and which of them count */
        bool plain;          /* the name needs no escaping (so it can be compared in place) */
        int follow;          /* 1 + the field after this one in the last record that had it; 0: none */
    } * heads;               /* per field, for comparing a key with the expected name */
    int first;               /* the first field of the last record */
    size_t heads_cap;
    ursa_batch_t defaults; /* one row: each field's default (nulls where none) */
    bool has_defaults;
    /* the raw text of the record being rejected, set only on the error path
     * just before add_error (which clears it), so accepted records pay nothing */
    const char *raw;
    size_t raw_len;
    bool raw_cut;
} ursa_ndjson_t;

/* Prepares a scanner that appends to batch b (whose columns follow schema
 * s). Both must outlive the scanner. max_record 0 means the default.
 * URSA_EINVAL (with err set, when not NULL) when a field's default does not
 * fit its type: call it once when a schema is created to check that. */
int ursa_ndjson_init(ursa_ndjson_t *p, const ursa_schema_t *s, ursa_batch_t *b,
                     size_t max_record) URSA_MUST_CHECK;
int ursa_ndjson_init_err(ursa_ndjson_t *p, const ursa_schema_t *s, ursa_batch_t *b, size_t max_record,
                         ursa_err_t *err) URSA_MUST_CHECK;

/* Feeds the next n bytes of the body. Returns URSA_OK, or URSA_ENOMEM when
 * memory ran out (row errors are not failures: they are recorded). */
int ursa_ndjson_feed(ursa_ndjson_t *p, const char *data, size_t n) URSA_MUST_CHECK;

/* Ends the body: parses a last record that had no trailing newline. */
int ursa_ndjson_finish(ursa_ndjson_t *p) URSA_MUST_CHECK;

/* Parses one record (no newline inside). For tests and other formats. */
int ursa_ndjson_record(ursa_ndjson_t *p, const char *line, size_t n) URSA_MUST_CHECK;

/* Frees the scanner's memory (its own fields too; not the batch or schema). */
void ursa_ndjson_free(ursa_ndjson_t *p);

/* For a schema with "unknown_fields": "evolve" (else a no-op): from now on
 * an unknown field with a non-null value becomes a nullable column of this
 * scanner (string, int64 for integers, float64 for other numbers, bool, json
 * for objects and arrays; the type of a field of that name the given schema
 * has gained meanwhile, if any). Without it such fields are skipped. Call
 * once, before the first record. URSA_OK or URSA_ENOMEM. */
int ursa_ndjson_evolve(ursa_ndjson_t *p) URSA_MUST_CHECK;

/* Adds the field name[0..n) of type t to the scanner's own fields (t gives
 * way to the type of a field of that name the given schema has gained
 * since init) and sets *field to its index; a field the scanner knows
 * already (by name or alias) is only found. The batch gets a column of nulls
 * for the rows so far. URSA_EINVAL when the name cannot be a column's,
 * URSA_ELIMIT when the scanner has URSA_COLUMNS_MAX fields, URSA_ENOMEM.
 * Only while evolving (for the CSV header; records add fields themselves). */
int ursa_ndjson_add_field(ursa_ndjson_t *p, const char *name, size_t n, ursa_type_t t,
                          int *field) URSA_MUST_CHECK;

/* For other formats that share this scanner's state (counters, error list,
 * callbacks): count a record (set `lines` to its line first), reject it. */
void ursa_ndjson_count_record(ursa_ndjson_t *p);
void ursa_ndjson_reject(ursa_ndjson_t *p, int column, const char *reason);
/* The same with the record's raw text (see ursa_row_error_t.raw); raw may
 * be NULL. The bytes need only live until the call returns. */
void ursa_ndjson_reject_raw(ursa_ndjson_t *p, int column, const char *reason, const char *raw, size_t n,
                            bool truncated);

/* Appends the text field s[0..n) (not JSON: the raw text of a CSV cell) to
 * column c of field f, converted by the field's type with the same rules
 * as JSON values: integers and floats in JSON number syntax, bool as
 * "true"/"false", json as a JSON text; the other types as their strings.
 * Returns NULL or the reason it was refused (nothing appended then). */
const char *ursa_append_text_field(ursa_ndjson_t *p, const ursa_field_t *f, ursa_column_t *c, const char *s,
                                   size_t n);

#endif
