/*
 * ingest_csv.h -- the streaming CSV scanner (RFC 4180 with a header row).
 *
 * Parses a CSV body straight into the columns of a batch. The first
 * non-empty record is the header: its cells name the columns and are
 * matched to the schema's fields by exact name. Every later record is a row;
 * each cell is converted by its field's type with the JSON rules
 * (ursa_append_text_field) and appended. A row that fails is rolled back
 * and reported through the shared NDJSON state (counters, error list,
 * on_error callback), with its 1-based number among the records (the header
 * is not a record) and the line it starts on. The body may arrive in
 * arbitrary pieces; the scanner never reads past the bytes it is given.
 *
 * Rules:
 *   - Records end at CR, LF or CRLF outside quotes. Empty lines are not
 *     records (so a one-column CSV cannot express a null by an empty line).
 *     A UTF-8 byte order mark at the very start is skipped.
 *   - A field that starts with '"' is quoted: it ends at the next lone '"',
 *     "" inside it is one '"', and delimiters, CR and LF inside it are data
 *     (a record may span lines; line numbers count them). A '"' inside an
 *     unquoted field, text between a closing quote and the next delimiter,
 *     and a quoted field still open at the end of the body are row errors
 *     for the record as a whole (column -1); the record still ends at the
 *     first line end outside quotes, so one bad row does not swallow others.
 *   - Cells are not trimmed: " 42" is not a number.
 *   - Null: by default an empty unquoted cell is null; with a null marker
 *     (e.g. "\N" or "NULL") exactly that unquoted text is null and an empty
 *     cell is the empty string. A quoted cell is never null (so "" is the
 *     empty string and "NULL" the text NULL). A null in a non-nullable
 *     column rejects the row, naming the column.
 *   - A row with a different number of fields than the header is rejected
 *     for the record as a whole (column -1).
 *   - Header columns the schema does not know are ignored (when the scanner
 *     evolves they become the request's own string columns instead, and a
 *     header with a name that cannot be a column's, or one that would make
 *     more than URSA_COLUMNS_MAX columns, fails the body). A schema column
 *     absent from the header is null in every row when nullable; when it is
 *     non-nullable every row is rejected naming that column ("column missing
 *     from the CSV header"), as a JSON record missing it would be. The same
 *     schema column named twice in the header fails the whole body
 *     (URSA_EFORMAT); repeated names of ignored columns are allowed.
 *   - When a row has several problems, the one reported is, in order: a
 *     record larger than max_record bytes, a quoting error, a wrong number
 *     of fields, a missing non-null column, then the first bad cell from the
 *     left.
 *   - A record longer than max_record bytes (line ends excluded) is
 *     rejected and skipped to its end, following quotes; a header that long
 *     fails the body (URSA_ELIMIT).
 *   - NUL bytes are data. String cells must be valid UTF-8.
 *
 * Memory: one carry buffer holds a record split across pieces (at most
 * max_record bytes), one scratch buffer the current quoted cell with ""
 * undoubled, and an array of field end offsets sized by the header. No
 * allocation per field or per record once those have grown.
 */
#ifndef URSA_INGEST_CSV_H
#define URSA_INGEST_CSV_H

#include "ingest_json.h"

#define URSA_CSV_NULL_MARKER_MAX 64 /* bytes */

typedef struct ursa_csv_options {
    char delimiter;          /* field separator; 0 means ','. Not '"', CR or LF */
    const char *null_marker; /* NUL-terminated; NULL or "" means an empty unquoted cell is null */
    size_t max_record;       /* bytes per record; 0 means URSA_MAX_RECORD_DEFAULT */
} ursa_csv_options_t;

typedef struct ursa_csv {
    /* public, read-only */
    ursa_err_t err;       /* why feed/finish failed (the header), when they did */
    size_t header_fields; /* fields in the header, 0 until it has been read */

    /* private */
    ursa_ndjson_t *state; /* counters, errors, callbacks, the schema and the batch; not owned */
    unsigned char delim;
    char null_marker[URSA_CSV_NULL_MARKER_MAX];
    size_t null_len;
    bool has_marker;
    size_t max_record;
    int status; /* sticky failure of the body */
    bool started;
    uint8_t bom; /* bytes of a byte order mark matched at the start */
    bool header_done;

    /* the record machine */
    bool in_record;    /* between the first byte of a record and its end */
    bool carried;      /* the record so far is in carry */
    bool skipping;     /* the record was too large and is being skipped */
    bool prev_cr;      /* the last byte consumed was CR */
    bool line_open;    /* the body so far ends with bytes after a line end */
    unsigned st;       /* scanner state, see ingest_csv.c */
    uint64_t line;     /* line of the next byte, 1-based */
    uint64_t rec_line; /* first line of the current record */
    size_t nfields;    /* fields of the current record so far */
    const char *qerr;  /* first quoting error of the current record */
    uint32_t *ends;    /* offsets of the delimiters that end fields */
    size_t ends_limit; /* entries of ends that are stored */
    int32_t *map;      /* header field -> schema field, or -1 */
    int32_t *pos;      /* schema field -> header field, or -1 */
    int32_t *missing;  /* schema fields absent from the header */
    size_t nmissing;
    int missing_nonnull; /* a non-nullable field absent from the header, or -1 */
    ursa_buf_t carry;
    ursa_buf_t scratch;
} ursa_csv_t;

/* Prepares a scanner that appends to state's batch, following state's
 * schema (its own view when it evolves: header columns the schema lacks
 * become the request's string columns, see ingest_json.h), and counts
 * records and errors in state, which the caller has set up with
 * ursa_ndjson_init (and ursa_ndjson_evolve). state must outlive the
 * scanner; opt may be NULL (defaults) and is copied. Returns URSA_OK,
 * URSA_EINVAL for bad options, or URSA_ENOMEM. */
int ursa_csv_init(ursa_csv_t *p, ursa_ndjson_t *state, const ursa_csv_options_t *opt) URSA_MUST_CHECK;

/* Feeds the next n bytes of the body. Returns URSA_OK (row errors are not
 * failures: they are recorded in state), URSA_ENOMEM when memory ran out,
 * URSA_EFORMAT for a malformed header or a schema column named twice in
 * it, URSA_ELIMIT for a header longer than max_record. p->err says more.
 * After a failure, later calls return the same code and do nothing. */
int ursa_csv_feed(ursa_csv_t *p, const char *data, size_t n) URSA_MUST_CHECK;

/* Ends the body: parses a last record that had no line end (an open quoted
 * field there is a row error). Returns as ursa_csv_feed. A body with no
 * header (empty, or only blank lines) has no records and is not an error.
 * Afterwards state->lines is the number of lines in the body (after a
 * failure: the line where the failing record starts). */
int ursa_csv_finish(ursa_csv_t *p) URSA_MUST_CHECK;

/* Frees the scanner's buffers (not the batch, schema or state). */
void ursa_csv_free(ursa_csv_t *p);

#endif
