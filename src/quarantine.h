/*
 * quarantine.h -- rows Ursa refused, kept: the quarantine of a dataset.
 *
 * Every record refused for its content (malformed, wrong type, missing,
 * over-long, a rule ...) becomes one row of its dataset's quarantine, an
 * internal dataset named "_quarantine/<dataset>" with the fixed schema
 * below. It is logged, buffered, flushed and replayed like any dataset, so
 * its files land under _quarantine/<dataset>/date=YYYY-MM-DD/ (dataset
 * names start with [a-z], so none can collide, and a reader globbing the
 * files under <dataset>/ never sees them). This module knows the schema
 * and how a row error becomes a row and a row becomes JSON; the catalog
 * creates the datasets and the HTTP server fills them.
 */
#ifndef URSA_QUARANTINE_H
#define URSA_QUARANTINE_H

#include "column.h"
#include "ingest_json.h"

#define URSA_QUARANTINE_PREFIX     "_quarantine/"
#define URSA_QUARANTINE_PREFIX_LEN 12
/* raw text kept per rejected record; the rest is cut (raw_truncated) */
#define URSA_QUARANTINE_RAW_MAX (64u << 10)
/* quarantine memory one request may fill; rows past it are counted, not kept */
#define URSA_QUARANTINE_REQUEST_MAX (64u << 20)

/* The columns, in schema order. */
enum {
    URSA_Q_RECEIVED_AT = 0, /* timestamp µs UTC, the time column: when the request arrived */
    URSA_Q_REQUEST_ID,      /* string */
    URSA_Q_ROW,             /* uint64: 1-based record number in the request */
    URSA_Q_LINE,            /* uint64: 1-based line of the body where the record starts */
    URSA_Q_COLUMN,          /* string, null when the record as a whole was refused */
    URSA_Q_REASON,          /* string */
    URSA_Q_VALUE, /* string, null when no single value was at fault: the value as sent (cut at 64 bytes) */
    URSA_Q_RULE,  /* string, null when none: the rule the record broke ("type int32", "min 0", ...) */
    URSA_Q_RAW,   /* string: the record as received, valid UTF-8 (see raw_replaced) */
    URSA_Q_RAW_TRUNCATED, /* bool: raw is only the start of the record */
    URSA_Q_RAW_REPLACED,  /* bool: bytes that were not UTF-8 were replaced by U+FFFD in raw */
    URSA_Q_NCOLS
};

/* Parses the fixed schema into *out (free with ursa_schema_free), with
 * the flush policy of the dataset it belongs to. URSA_ENOMEM only. */
int ursa_quarantine_schema(ursa_schema_t *out, const ursa_flush_policy_t *policy) URSA_MUST_CHECK;

/* Writes "_quarantine/<name>" into out (size n). URSA_EINVAL when too long. */
int ursa_quarantine_name(const char *name, char *out, size_t n) URSA_MUST_CHECK;

/* Appends the row for error e to b (a batch of the quarantine schema):
 * received_us, request_id, e's row and line, column (the field's name, or
 * NULL), e's reason, value and rule, and its raw text, cut at URSA_QUARANTINE_RAW_MAX on a
 * character boundary and with invalid UTF-8 replaced. On failure
 * (URSA_ENOMEM) b is as before. */
int ursa_quarantine_append(ursa_batch_t *b, int64_t received_us, const char *request_id,
                           const ursa_row_error_t *e, const char *column) URSA_MUST_CHECK;

/* Appends row i of b as a JSON object {"received_at":"…Z","request_id":…,
 * "row":…,"line":…,"column":…|null,"reason":…,"value":…|null,"rule":…|null,
 * "raw":…,"raw_truncated":…,
 * "raw_replaced":…}. */
int ursa_quarantine_row_json(const ursa_batch_t *b, size_t i, ursa_buf_t *out) URSA_MUST_CHECK;

#endif
