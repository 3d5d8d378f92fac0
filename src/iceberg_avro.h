/*
 * iceberg_avro.h -- Iceberg v2 manifests and manifest lists as Avro object
 * container files (on avro.h), and Iceberg's single-value serialization of
 * column bounds.
 *
 * A manifest holds manifest_entry records (status, snapshot id, sequence
 * numbers, and the data_file struct: path, format, partition tuple, counts,
 * per-column sizes, value, null and NaN counts and lower and upper bounds);
 * its header metadata carries "schema", "schema-id", "partition-spec",
 * "partition-spec-id", "format-version" ("2") and "content" ("data"). A
 * manifest list holds manifest_file records (one per manifest, with counts
 * and per-partition-field summaries); its header carries "snapshot-id",
 * "parent-snapshot-id", "sequence-number" and "format-version". Every field
 * of both Avro schemas has its Iceberg "field-id", arrays their
 * "element-id"; maps with int keys are arrays of key/value records with
 * logicalType "map", the keys and values carrying their field ids, as the
 * Iceberg spec's Avro section asks. Optional fields are unions
 * ["null", T] with default null.
 *
 * The partition tuple's Avro record depends on the table's partition spec;
 * Ursa partitions by day(<time column>) only, so the only transform
 * written is "day": an optional int with logicalType "date" (days since
 * 1970-01-01).
 */
#ifndef URSA_ICEBERG_AVRO_H
#define URSA_ICEBERG_AVRO_H

#include "avro.h"
#include "schema.h"

#define ICEBERG_PART_MAX 8 /* partition fields of one spec */

/* One field of a partition spec. */
typedef struct iceberg_part_field {
    const char *name;      /* the partition field's name, e.g. "ts_day": [A-Za-z_][A-Za-z0-9_]* */
    int32_t field_id;      /* from 1000 up, never reused */
    int32_t source_id;     /* the field id of the source column in the table schema */
    const char *transform; /* "day" (the only one supported) */
} iceberg_part_field_t;

/* What a manifest's header says. Pointers are borrowed for the call. */
typedef struct iceberg_manifest_meta {
    const char *schema_json; /* the table schema as Iceberg JSON ("schema") */
    int32_t schema_id;
    int32_t spec_id;
    const iceberg_part_field_t *part;
    size_t npart;
} iceberg_manifest_meta_t;

/* One column's statistics in a data file, keyed by the column's field id. */
typedef struct iceberg_col_stats {
    int32_t field_id;
    int64_t column_size;          /* bytes of the column chunks; < 0: not known (left out) */
    int64_t value_count;          /* values including nulls; < 0: not known */
    int64_t null_count;           /* < 0: not known */
    int64_t nan_count;            /* float columns only; < 0: not known or not a float column */
    const uint8_t *lower, *upper; /* single-value serialized (iceberg_bound()); NULL: none */
    size_t lower_len, upper_len;
} iceberg_col_stats_t;

typedef struct iceberg_data_file {
    int32_t content; /* 0 data (the only one Ursa writes), 1 position deletes, 2 equality deletes */
    const char *file_path;
    const int32_t *part_days; /* npart partition values: days since the epoch */
    const bool *part_null;    /* npart flags, a null partition value; NULL: none null */
    int64_t record_count;
    int64_t file_size_in_bytes;
    const iceberg_col_stats_t *cols;
    size_t ncols;
    const int64_t *split_offsets; /* row group offsets, ascending; NULL: left out */
    size_t nsplit;
    int32_t sort_order_id; /* < 0: left out */
} iceberg_data_file_t;

enum { ICEBERG_EXISTING = 0, ICEBERG_ADDED = 1, ICEBERG_DELETED = 2 };

typedef struct iceberg_manifest_entry {
    int32_t status; /* ICEBERG_EXISTING, ICEBERG_ADDED or ICEBERG_DELETED */
    /* Left out (null) when not has_: then inherited from the manifest list
     * (the usual case for entries added by the snapshot that writes them). */
    bool has_snapshot_id, has_sequence_number, has_file_sequence_number;
    int64_t snapshot_id, sequence_number, file_sequence_number;
    iceberg_data_file_t file;
} iceberg_manifest_entry_t;

/* One partition field's summary over a manifest's files. */
typedef struct iceberg_field_summary {
    bool contains_null;
    int contains_nan;             /* 0, 1, or -1: not known (left out) */
    const uint8_t *lower, *upper; /* single-value serialized; NULL: left out */
    size_t lower_len, upper_len;
} iceberg_field_summary_t;

/* A manifest list entry. */
typedef struct iceberg_manifest_file {
    const char *manifest_path;
    int64_t manifest_length;
    int32_t partition_spec_id;
    int32_t content; /* 0 data, 1 deletes */
    int64_t sequence_number, min_sequence_number;
    int64_t added_snapshot_id;
    int32_t added_files_count, existing_files_count, deleted_files_count;
    int64_t added_rows_count, existing_rows_count, deleted_rows_count;
    const iceberg_field_summary_t *partitions; /* npartitions, one per spec field; NULL: left out */
    size_t npartitions;
} iceberg_manifest_file_t;

/* What a manifest list's header says. */
typedef struct iceberg_list_meta {
    int64_t snapshot_id;
    int64_t parent_snapshot_id; /* < 0: none (written "null") */
    int64_t sequence_number;
} iceberg_list_meta_t;

/* The manifest_file Avro schema of a v2 manifest list (NUL-terminated JSON). */
extern const char iceberg_manifest_list_schema[];

/* Appends the manifest_entry Avro schema for a partition spec of npart
 * fields to out (the caller owns out). Returns URSA_OK, URSA_EINVAL (a bad
 * name, an unsupported transform, too many fields) or URSA_ENOMEM. */
int iceberg_manifest_schema(const iceberg_part_field_t *part, size_t npart, ursa_buf_t *out,
                            ursa_err_t *err) URSA_MUST_CHECK;

/* ---------------------------------------------------------------------------
 * Manifests
 * ------------------------------------------------------------------------- */

typedef struct iceberg_manifest_writer iceberg_manifest_writer_t;

/* Starts a manifest on sink (not owned; it must outlive the writer) and
 * writes its header. opts may be NULL (avro.h: codec, block size, sync).
 * On success *out owns the writer: free it with
 * iceberg_manifest_writer_destroy(). Errors as avro_writer_new(). */
int iceberg_manifest_writer_new(ursa_sink_t sink, const iceberg_manifest_meta_t *m,
                                const avro_writer_opts_t *opts, iceberg_manifest_writer_t **out,
                                ursa_err_t *err) URSA_MUST_CHECK;

/* Writes one entry and adds it to the manifest's summary. Returns URSA_OK,
 * URSA_EINVAL (a bad status or content, a negative count, a missing path)
 * or the writer's failure; any failure leaves the manifest unusable. */
int iceberg_manifest_add(iceberg_manifest_writer_t *w, const iceberg_manifest_entry_t *e,
                         ursa_err_t *err) URSA_MUST_CHECK;

/* Finishes the file. */
int iceberg_manifest_close(iceberg_manifest_writer_t *w, ursa_err_t *err) URSA_MUST_CHECK;

/* After a successful close: fills mf with what the manifest list says of
 * this manifest: its length, spec id, content, the file and row counts by
 * status, and the partition summaries (mf->partitions points into the
 * writer: valid until it is destroyed). sequence_number is seq, the
 * sequence number of the snapshot that commits it; min_sequence_number the
 * least of seq and the entries' explicit sequence numbers (deleted entries
 * aside). The caller sets manifest_path and added_snapshot_id. */
void iceberg_manifest_summary(iceberg_manifest_writer_t *w, int64_t seq, iceberg_manifest_file_t *mf);

void iceberg_manifest_writer_destroy(iceberg_manifest_writer_t **w);

/* ---------------------------------------------------------------------------
 * Manifest lists
 * ------------------------------------------------------------------------- */

/* Writes a whole manifest list of n entries to sink; *bytes (may be NULL)
 * gets its length. Returns URSA_OK, URSA_EINVAL (a bad entry), URSA_ENOMEM
 * or the sink's error. */
int iceberg_manifest_list_write(ursa_sink_t sink, const iceberg_list_meta_t *m,
                                const iceberg_manifest_file_t *mf, size_t n, const avro_writer_opts_t *opts,
                                uint64_t *bytes, ursa_err_t *err) URSA_MUST_CHECK;

/* ---------------------------------------------------------------------------
 * Bounds
 * ------------------------------------------------------------------------- */

#define ICEBERG_BOUND_MAX_FIXED 16 /* the longest bound of a fixed-width type (uuid, decimal) */

/* Appends Iceberg's single-value binary serialization of one value of
 * column f to out, for lower_bounds/upper_bounds and partition summaries.
 * value points at the value as a column holds it: int8..uint64 and float32/
 * float64 in their C type, DATE an int32 of days, TIME an int64 of µs,
 * TIMESTAMP an int64 in f->unit, DECIMAL an int64 (precision <= 18) or an
 * __int128 unscaled, UUID 16 bytes, BOOL one byte 0 or 1; for STRING and
 * BINARY value/len are the bytes (written whole: no truncation).
 *
 *   bool                       one byte 0x00 / 0x01        (Iceberg boolean)
 *   int8/16/32, uint8/16       4 bytes little-endian       (int)
 *   int64, uint32              8 bytes little-endian       (long)
 *   float32 / float64          4 / 8 bytes IEEE 754 LE     (float / double)
 *   date                       4 bytes LE, days            (date)
 *   time                       8 bytes LE, µs              (time)
 *   timestamp ms / µs / ns     8 bytes LE, µs              (timestamp, timestamptz)
 *   decimal                    unscaled, two's complement big-endian, fewest bytes
 *   string                     the UTF-8 bytes             (string)
 *   binary                     the bytes                   (binary)
 *   uuid                       the 16 bytes, big-endian    (uuid)
 *
 * Iceberg v2 has no nanosecond timestamp: a ns value becomes µs, rounded
 * down for a lower bound and up for an upper one (upper: true), so the
 * bound still holds every value. Returns URSA_OK, URSA_ENOTSUP for types
 * with no Iceberg bound here (uint64: no Iceberg type holds all of it;
 * json: its text orders nothing useful) -- leave the bound out --,
 * URSA_EINVAL for a NaN or a timestamp out of µs range, or URSA_ENOMEM. */
int iceberg_bound(const ursa_field_t *f, const void *value, size_t len, bool upper,
                  ursa_buf_t *out) URSA_MUST_CHECK;

#endif
