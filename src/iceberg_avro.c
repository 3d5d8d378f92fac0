/*
 * iceberg_avro.c -- Iceberg v2 manifests and manifest lists in Avro, and
 * bounds (see iceberg_avro.h).
 *
 * The Avro schemas follow the Iceberg spec's tables "Manifests" and
 * "Manifest Lists" field for field, in that order; the encoders below write
 * the fields in the same order, so a change to one must be made to the
 * other (the test reads every field back with python3-avro).
 */
#include "iceberg_avro.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Schemas
 * ------------------------------------------------------------------------- */

/* An optional field: ["null", T] with default null. */
#define OPT(name, type, id) \
    "{\"name\":\"" name "\",\"type\":[\"null\"," type "],\"default\":null,\"field-id\":" #id "}"
#define REQ(name, type, id) "{\"name\":\"" name "\",\"type\":" type ",\"field-id\":" #id "}"
/* A map with int keys: an array of key/value records, logicalType map. */
#define INT_MAP(value, kid, vid)                                                                             \
    "{\"type\":\"array\",\"logicalType\":\"map\",\"items\":{\"type\":\"record\",\"name\":\"k" #kid "_v" #vid \
    "\",\"fields\":[" REQ("key", "\"int\"", kid) "," REQ("value", value, vid) "]}}"
/* A required record-valued field, up to its first field (close with "]}}"). */
#define REC_BEGIN(name, rec, id)                                                                \
    "{\"name\":\"" name "\",\"field-id\":" #id ",\"type\":{\"type\":\"record\",\"name\":\"" rec \
    "\",\"fields\":["
#define LIST(elem, eid) "{\"type\":\"array\",\"items\":" elem ",\"element-id\":" #eid "}"

const char iceberg_manifest_list_schema[] = "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":[" //
    REQ("manifest_path", "\"string\"", 500) ","                                                            //
    REQ("manifest_length", "\"long\"", 501) ","                                                            //
    REQ("partition_spec_id", "\"int\"", 502) ","                                                           //
    REQ("content", "\"int\"", 517) ","                                                                     //
    REQ("sequence_number", "\"long\"", 515) ","                                                            //
    REQ("min_sequence_number", "\"long\"", 516) ","                                                        //
    REQ("added_snapshot_id", "\"long\"", 503) ","                                                          //
    REQ("added_files_count", "\"int\"", 504) ","                                                           //
    REQ("existing_files_count", "\"int\"", 505) ","                                                        //
    REQ("deleted_files_count", "\"int\"", 506) ","                                                         //
    REQ("added_rows_count", "\"long\"", 512) ","                                                           //
    REQ("existing_rows_count", "\"long\"", 513) ","                                                        //
    REQ("deleted_rows_count", "\"long\"", 514) ","                                                         //
    OPT("partitions",
        LIST("{\"type\":\"record\",\"name\":\"r508\",\"fields\":[" //
             REQ("contains_null", "\"boolean\"", 509) ","          //
             OPT("contains_nan", "\"boolean\"", 518) ","           //
             OPT("lower_bound", "\"bytes\"", 510) ","              //
             OPT("upper_bound", "\"bytes\"", 511) "]}",
             508),
        507) "," //
    OPT("key_metadata", "\"bytes\"", 519) "]}";

/* The manifest_entry schema around the partition record: before and after it. */
static const char entry_head[] = "{\"type\":\"record\",\"name\":\"manifest_entry\",\"fields\":[" //
    REQ("status", "\"int\"", 0) ","                                                              //
    OPT("snapshot_id", "\"long\"", 1) ","                                                        //
    OPT("sequence_number", "\"long\"", 3) ","                                                    //
    OPT("file_sequence_number", "\"long\"", 4) ","                                               //
    REC_BEGIN("data_file", "r2", 2)                                                              //
    REQ("content", "\"int\"", 134) ","                                                           //
    REQ("file_path", "\"string\"", 100) ","                                                      //
    REQ("file_format", "\"string\"", 101) ","                                                    //
    REC_BEGIN("partition", "r102", 102);

static const char entry_tail[] = "]}},"                              //
    REQ("record_count", "\"long\"", 103) ","                         //
    REQ("file_size_in_bytes", "\"long\"", 104) ","                   //
    OPT("column_sizes", INT_MAP("\"long\"", 117, 118), 108) ","      //
    OPT("value_counts", INT_MAP("\"long\"", 119, 120), 109) ","      //
    OPT("null_value_counts", INT_MAP("\"long\"", 121, 122), 110) "," //
    OPT("nan_value_counts", INT_MAP("\"long\"", 138, 139), 137) ","  //
    OPT("lower_bounds", INT_MAP("\"bytes\"", 126, 127), 125) ","     //
    OPT("upper_bounds", INT_MAP("\"bytes\"", 129, 130), 128) ","     //
    OPT("key_metadata", "\"bytes\"", 131) ","                        //
    OPT("split_offsets", LIST("\"long\"", 133), 132) ","             //
    OPT("equality_ids", LIST("\"int\"", 136), 135) ","               //
    OPT("sort_order_id", "\"int\"", 140) "]}}]}";

static bool avro_name_ok(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static int check_spec(const iceberg_part_field_t *part, size_t npart, ursa_err_t *err)
{
    if (npart > ICEBERG_PART_MAX)
        return ursa_err_set(err, URSA_EINVAL, "iceberg: %zu partition fields, at most %d", npart,
                            ICEBERG_PART_MAX);
    for (size_t i = 0; i < npart; i++) {
        if (!avro_name_ok(part[i].name))
            return ursa_err_set(err, URSA_EINVAL, "iceberg: partition field %zu has a bad name", i);
        if (!part[i].transform || strcmp(part[i].transform, "day"))
            return ursa_err_set(err, URSA_EINVAL,
                                "iceberg: partition field \"%s\": only the day transform is written",
                                part[i].name);
    }
    return URSA_OK;
}

int iceberg_manifest_schema(const iceberg_part_field_t *part, size_t npart, ursa_buf_t *out, ursa_err_t *err)
{
    int rc = check_spec(part, npart, err);
    if (rc) return rc;
    if ((rc = ursa_buf_append(out, entry_head, sizeof(entry_head) - 1))) goto nomem;
    for (size_t i = 0; i < npart; i++) {
        rc = ursa_buf_printf(
            out,
            "%s{\"name\":\"%s\",\"type\":[\"null\",{\"type\":\"int\",\"logicalType\":\"date\"}],"
            "\"default\":null,\"field-id\":%" PRId32 "}",
            i ? "," : "", part[i].name, part[i].field_id);
        if (rc) goto nomem;
    }
    if ((rc = ursa_buf_append(out, entry_tail, sizeof(entry_tail) - 1))) goto nomem;
    return URSA_OK;
nomem:
    return ursa_err_set(err, rc, "iceberg: out of memory for the manifest schema");
}

/* ---------------------------------------------------------------------------
 * Manifests
 * ------------------------------------------------------------------------- */

struct iceberg_manifest_writer {
    avro_writer_t *avro;
    int32_t spec_id;
    size_t npart;
    bool closed;
    /* the summary */
    int32_t files[3]; /* by status */
    int64_t rows[3];
    bool have_min_seq;
    int64_t min_seq;
    bool any_value[ICEBERG_PART_MAX], contains_null[ICEBERG_PART_MAX];
    int32_t lo[ICEBERG_PART_MAX], hi[ICEBERG_PART_MAX];
    uint8_t lo_bytes[ICEBERG_PART_MAX][4], hi_bytes[ICEBERG_PART_MAX][4];
    iceberg_field_summary_t sum[ICEBERG_PART_MAX];
};

int iceberg_manifest_writer_new(ursa_sink_t sink, const iceberg_manifest_meta_t *m,
                                const avro_writer_opts_t *opts, iceberg_manifest_writer_t **out,
                                ursa_err_t *err)
{
    int rc;
    ursa_buf_t schema = {0}, spec = {0};
    char schema_id[16], spec_id[16];
    iceberg_manifest_writer_t *w = NULL;
    *out = NULL;
    if (!m->schema_json) return ursa_err_set(err, URSA_EINVAL, "iceberg: no table schema for the manifest");
    if ((rc = iceberg_manifest_schema(m->part, m->npart, &schema, err))) goto out;
    /* "partition-spec": the spec's fields as a JSON array. */
    rc = ursa_buf_push(&spec, '[');
    for (size_t i = 0; i < m->npart && !rc; i++)
        rc = ursa_buf_printf(
            &spec,
            "%s{\"name\":\"%s\",\"transform\":\"%s\",\"source-id\":%" PRId32 ",\"field-id\":%" PRId32 "}",
            i ? "," : "", m->part[i].name, m->part[i].transform, m->part[i].source_id, m->part[i].field_id);
    if (!rc) rc = ursa_buf_append(&spec, "]", 2); /* with the NUL */
    if (rc) {
        ursa_err_set(err, rc, "iceberg: out of memory for the partition spec");
        goto out;
    }
    snprintf(schema_id, sizeof(schema_id), "%" PRId32, m->schema_id);
    snprintf(spec_id, sizeof(spec_id), "%" PRId32, m->spec_id);
    const avro_meta_t meta[] = {
        {"schema", m->schema_json},     {"schema-id", schema_id}, {"partition-spec", (const char *)spec.data},
        {"partition-spec-id", spec_id}, {"format-version", "2"},  {"content", "data"},
    };
    if ((rc = ursa_buf_push(&schema, 0))) {
        ursa_err_set(err, rc, "iceberg: out of memory for the manifest schema");
        goto out;
    }
    w = ursa_calloc(1, sizeof(*w));
    if (!w) {
        rc = ursa_err_set(err, URSA_ENOMEM, "iceberg: out of memory for a manifest writer");
        goto out;
    }
    w->spec_id = m->spec_id;
    w->npart = m->npart;
    rc = avro_writer_new(sink, (const char *)schema.data, meta, URSA_ARRAY_LEN(meta), opts, &w->avro, err);
out:
    ursa_buf_free(&schema);
    ursa_buf_free(&spec);
    if (rc) {
        iceberg_manifest_writer_destroy(&w);
        return rc;
    }
    *out = w;
    return URSA_OK;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* An int-keyed map of counts (column_sizes ...): the field at byte offset
 * `off` of each column's stats, the entries with a known count. */
static void count_map(avro_enc_t *e, const iceberg_col_stats_t *cols, size_t n, size_t off)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, (const char *)&cols[i] + off, sizeof(v));
        k += v >= 0;
    }
    if (k == 0) {
        avro_enc_union_index(e, 0);
        return;
    }
    avro_enc_union_index(e, 1);
    avro_enc_array_begin(e, k);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, (const char *)&cols[i] + off, sizeof(v));
        if (v < 0) continue;
        avro_enc_array_item(e);
        avro_enc_int(e, cols[i].field_id);
        avro_enc_long(e, v);
    }
    avro_enc_array_end(e);
}

static void bound_map(avro_enc_t *e, const iceberg_col_stats_t *cols, size_t n, bool upper)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (upper ? cols[i].upper : cols[i].lower) != NULL;
    if (k == 0) {
        avro_enc_union_index(e, 0);
        return;
    }
    avro_enc_union_index(e, 1);
    avro_enc_array_begin(e, k);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = upper ? cols[i].upper : cols[i].lower;
        if (!p) continue;
        avro_enc_array_item(e);
        avro_enc_int(e, cols[i].field_id);
        avro_enc_bytes(e, p, upper ? cols[i].upper_len : cols[i].lower_len);
    }
    avro_enc_array_end(e);
}

static int check_entry(const iceberg_manifest_entry_t *en, ursa_err_t *err)
{
    const iceberg_data_file_t *f = &en->file;
    if (en->status < ICEBERG_EXISTING || en->status > ICEBERG_DELETED)
        return ursa_err_set(err, URSA_EINVAL, "iceberg: bad manifest entry status %" PRId32, en->status);
    if (f->content < 0 || f->content > 2)
        return ursa_err_set(err, URSA_EINVAL, "iceberg: bad data file content %" PRId32, f->content);
    if (!f->file_path || !f->file_path[0])
        return ursa_err_set(err, URSA_EINVAL, "iceberg: a data file with no path");
    if (f->record_count < 0 || f->file_size_in_bytes < 0)
        return ursa_err_set(err, URSA_EINVAL, "iceberg: %s: negative record count or size", f->file_path);
    for (size_t i = 0; i < f->ncols; i++)
        if ((f->cols[i].lower && f->cols[i].lower_len > INT32_MAX) ||
            (f->cols[i].upper && f->cols[i].upper_len > INT32_MAX))
            return ursa_err_set(err, URSA_EINVAL, "iceberg: %s: a bound is too long", f->file_path);
    return URSA_OK;
}

int iceberg_manifest_add(iceberg_manifest_writer_t *w, const iceberg_manifest_entry_t *en, ursa_err_t *err)
{
    if (w->closed) return ursa_err_set(err, URSA_EINVAL, "iceberg: the manifest is closed");
    int rc = check_entry(en, err);
    if (rc) return rc;
    if (w->npart && !en->file.part_days)
        return ursa_err_set(err, URSA_EINVAL, "iceberg: %s: no partition values", en->file.file_path);
    const iceberg_data_file_t *f = &en->file;
    avro_enc_t *e = avro_writer_enc(w->avro);

    avro_enc_int(e, en->status);
    avro_enc_union_index(e, en->has_snapshot_id);
    if (en->has_snapshot_id) avro_enc_long(e, en->snapshot_id);
    avro_enc_union_index(e, en->has_sequence_number);
    if (en->has_sequence_number) avro_enc_long(e, en->sequence_number);
    avro_enc_union_index(e, en->has_file_sequence_number);
    if (en->has_file_sequence_number) avro_enc_long(e, en->file_sequence_number);
    /* data_file */
    avro_enc_int(e, f->content);
    avro_enc_cstr(e, f->file_path);
    avro_enc_cstr(e, "PARQUET");
    for (size_t i = 0; i < w->npart; i++) {
        bool is_null = f->part_null && f->part_null[i];
        avro_enc_union_index(e, !is_null);
        if (!is_null) avro_enc_int(e, f->part_days[i]);
    }
    avro_enc_long(e, f->record_count);
    avro_enc_long(e, f->file_size_in_bytes);
    count_map(e, f->cols, f->ncols, offsetof(iceberg_col_stats_t, column_size));
    count_map(e, f->cols, f->ncols, offsetof(iceberg_col_stats_t, value_count));
    count_map(e, f->cols, f->ncols, offsetof(iceberg_col_stats_t, null_count));
    count_map(e, f->cols, f->ncols, offsetof(iceberg_col_stats_t, nan_count));
    bound_map(e, f->cols, f->ncols, false);
    bound_map(e, f->cols, f->ncols, true);
    avro_enc_union_index(e, 0); /* key_metadata */
    if (f->split_offsets && f->nsplit) {
        avro_enc_union_index(e, 1);
        avro_enc_array_begin(e, f->nsplit);
        for (size_t i = 0; i < f->nsplit; i++) {
            avro_enc_array_item(e);
            avro_enc_long(e, f->split_offsets[i]);
        }
        avro_enc_array_end(e);
    } else {
        avro_enc_union_index(e, 0);
    }
    avro_enc_union_index(e, 0); /* equality_ids */
    avro_enc_union_index(e, f->sort_order_id >= 0);
    if (f->sort_order_id >= 0) avro_enc_int(e, f->sort_order_id);
    if ((rc = avro_writer_record_end(w->avro, err))) return rc;

    /* The summary. */
    w->files[en->status]++;
    w->rows[en->status] += f->record_count;
    if (en->has_sequence_number && en->status != ICEBERG_DELETED &&
        (!w->have_min_seq || en->sequence_number < w->min_seq)) {
        w->min_seq = en->sequence_number;
        w->have_min_seq = true;
    }
    for (size_t i = 0; i < w->npart; i++) {
        if (f->part_null && f->part_null[i]) {
            w->contains_null[i] = true;
            continue;
        }
        int32_t d = f->part_days[i];
        if (!w->any_value[i] || d < w->lo[i]) w->lo[i] = d;
        if (!w->any_value[i] || d > w->hi[i]) w->hi[i] = d;
        w->any_value[i] = true;
    }
    return URSA_OK;
}

int iceberg_manifest_close(iceberg_manifest_writer_t *w, ursa_err_t *err)
{
    if (w->closed) return ursa_err_set(err, URSA_EINVAL, "iceberg: the manifest is closed");
    w->closed = true;
    return avro_writer_close(w->avro, err);
}

void iceberg_manifest_summary(iceberg_manifest_writer_t *w, int64_t seq, iceberg_manifest_file_t *mf)
{
    memset(mf, 0, sizeof(*mf));
    mf->manifest_length = (int64_t)avro_writer_bytes(w->avro);
    mf->partition_spec_id = w->spec_id;
    mf->content = 0;
    mf->sequence_number = seq;
    mf->min_sequence_number = w->have_min_seq && w->min_seq < seq ? w->min_seq : seq;
    mf->added_files_count = w->files[ICEBERG_ADDED];
    mf->existing_files_count = w->files[ICEBERG_EXISTING];
    mf->deleted_files_count = w->files[ICEBERG_DELETED];
    mf->added_rows_count = w->rows[ICEBERG_ADDED];
    mf->existing_rows_count = w->rows[ICEBERG_EXISTING];
    mf->deleted_rows_count = w->rows[ICEBERG_DELETED];
    for (size_t i = 0; i < w->npart; i++) {
        iceberg_field_summary_t *s = &w->sum[i];
        memset(s, 0, sizeof(*s));
        s->contains_null = w->contains_null[i];
        s->contains_nan = 0; /* dates have no NaN */
        if (w->any_value[i]) {
            put_le32(w->lo_bytes[i], (uint32_t)w->lo[i]);
            put_le32(w->hi_bytes[i], (uint32_t)w->hi[i]);
            s->lower = w->lo_bytes[i];
            s->upper = w->hi_bytes[i];
            s->lower_len = s->upper_len = 4;
        }
    }
    mf->partitions = w->npart ? w->sum : NULL;
    mf->npartitions = w->npart;
}

void iceberg_manifest_writer_destroy(iceberg_manifest_writer_t **wp)
{
    iceberg_manifest_writer_t *w = *wp;
    if (!w) return;
    avro_writer_destroy(&w->avro);
    ursa_free(w);
    *wp = NULL;
}

/* ---------------------------------------------------------------------------
 * Manifest lists
 * ------------------------------------------------------------------------- */

static void opt_bytes(avro_enc_t *e, const uint8_t *p, size_t n)
{
    avro_enc_union_index(e, p != NULL);
    if (p) avro_enc_bytes(e, p, n);
}

int iceberg_manifest_list_write(ursa_sink_t sink, const iceberg_list_meta_t *m,
                                const iceberg_manifest_file_t *mf, size_t n, const avro_writer_opts_t *opts,
                                uint64_t *bytes, ursa_err_t *err)
{
    int rc;
    char snap[24], parent[24], seq[24];
    avro_writer_t *w = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!mf[i].manifest_path || !mf[i].manifest_path[0])
            return ursa_err_set(err, URSA_EINVAL, "iceberg: manifest list entry %zu has no path", i);
        if (mf[i].content < 0 || mf[i].content > 1)
            return ursa_err_set(err, URSA_EINVAL, "iceberg: manifest list entry %zu: bad content", i);
    }
    snprintf(snap, sizeof(snap), "%" PRId64, m->snapshot_id);
    if (m->parent_snapshot_id < 0)
        snprintf(parent, sizeof(parent), "null");
    else
        snprintf(parent, sizeof(parent), "%" PRId64, m->parent_snapshot_id);
    snprintf(seq, sizeof(seq), "%" PRId64, m->sequence_number);
    const avro_meta_t meta[] = {{"snapshot-id", snap},
                                {"parent-snapshot-id", parent},
                                {"sequence-number", seq},
                                {"format-version", "2"}};
    if ((rc = avro_writer_new(sink, iceberg_manifest_list_schema, meta, URSA_ARRAY_LEN(meta), opts, &w, err)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        const iceberg_manifest_file_t *f = &mf[i];
        avro_enc_t *e = avro_writer_enc(w);
        avro_enc_cstr(e, f->manifest_path);
        avro_enc_long(e, f->manifest_length);
        avro_enc_int(e, f->partition_spec_id);
        avro_enc_int(e, f->content);
        avro_enc_long(e, f->sequence_number);
        avro_enc_long(e, f->min_sequence_number);
        avro_enc_long(e, f->added_snapshot_id);
        avro_enc_int(e, f->added_files_count);
        avro_enc_int(e, f->existing_files_count);
        avro_enc_int(e, f->deleted_files_count);
        avro_enc_long(e, f->added_rows_count);
        avro_enc_long(e, f->existing_rows_count);
        avro_enc_long(e, f->deleted_rows_count);
        if (f->partitions) {
            avro_enc_union_index(e, 1);
            avro_enc_array_begin(e, f->npartitions);
            for (size_t k = 0; k < f->npartitions; k++) {
                const iceberg_field_summary_t *s = &f->partitions[k];
                avro_enc_array_item(e);
                avro_enc_bool(e, s->contains_null);
                avro_enc_union_index(e, s->contains_nan >= 0);
                if (s->contains_nan >= 0) avro_enc_bool(e, s->contains_nan > 0);
                opt_bytes(e, s->lower, s->lower_len);
                opt_bytes(e, s->upper, s->upper_len);
            }
            avro_enc_array_end(e);
        } else {
            avro_enc_union_index(e, 0);
        }
        avro_enc_union_index(e, 0); /* key_metadata */
        if ((rc = avro_writer_record_end(w, err))) goto out;
    }
    if ((rc = avro_writer_close(w, err))) goto out;
    if (bytes) *bytes = avro_writer_bytes(w);
out:
    avro_writer_destroy(&w);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Bounds
 * ------------------------------------------------------------------------- */

static int put_le(ursa_buf_t *out, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return ursa_buf_append(out, b, (size_t)n);
}

/* The fewest big-endian two's complement bytes that hold v. */
static int put_decimal(ursa_buf_t *out, __int128 v)
{
    uint8_t b[16];
    unsigned __int128 u = (unsigned __int128)v;
    for (int i = 15; i >= 0; i--) {
        b[i] = (uint8_t)u;
        u >>= 8;
    }
    /* Drop a leading byte while it only repeats the sign of the next one. */
    int start = 0;
    while (start < 15 &&
           ((b[start] == 0x00 && !(b[start + 1] & 0x80)) || (b[start] == 0xff && (b[start + 1] & 0x80))))
        start++;
    return ursa_buf_append(out, b + start, (size_t)(16 - start));
}

int iceberg_bound(const ursa_field_t *f, const void *value, size_t len, bool upper, ursa_buf_t *out)
{
    switch (f->type) {
    case URSA_TYPE_BOOL: {
        uint8_t b = *(const uint8_t *)value ? 1 : 0;
        return ursa_buf_append(out, &b, 1);
    }
    case URSA_TYPE_INT8:
        return put_le(out, (uint32_t)(int32_t) * (const int8_t *)value, 4);
    case URSA_TYPE_INT16: {
        int16_t v;
        memcpy(&v, value, 2);
        return put_le(out, (uint32_t)(int32_t)v, 4);
    }
    case URSA_TYPE_INT32:
    case URSA_TYPE_DATE: {
        int32_t v;
        memcpy(&v, value, 4);
        return put_le(out, (uint32_t)v, 4);
    }
    case URSA_TYPE_UINT8:
        return put_le(out, *(const uint8_t *)value, 4);
    case URSA_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, value, 2);
        return put_le(out, v, 4);
    }
    case URSA_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, value, 4);
        return put_le(out, v, 8);
    }
    case URSA_TYPE_INT64:
    case URSA_TYPE_TIME: {
        int64_t v;
        memcpy(&v, value, 8);
        return put_le(out, (uint64_t)v, 8);
    }
    case URSA_TYPE_TIMESTAMP: {
        int64_t v;
        memcpy(&v, value, 8);
        if (f->unit == URSA_UNIT_MS) {
            if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000) return URSA_EINVAL;
            v *= 1000;
        } else if (f->unit == URSA_UNIT_NS) {
            /* Floor for a lower bound, ceiling for an upper one (C division truncates toward 0). */
            int64_t q = v / 1000, r = v % 1000;
            if (r < 0 && !upper) q--;
            if (r > 0 && upper) q++;
            v = q;
        }
        return put_le(out, (uint64_t)v, 8);
    }
    case URSA_TYPE_FLOAT32: {
        float v;
        memcpy(&v, value, 4);
        if (isnan(v)) return URSA_EINVAL;
        uint32_t u;
        memcpy(&u, &v, 4);
        return put_le(out, u, 4);
    }
    case URSA_TYPE_FLOAT64: {
        double v;
        memcpy(&v, value, 8);
        if (isnan(v)) return URSA_EINVAL;
        uint64_t u;
        memcpy(&u, &v, 8);
        return put_le(out, u, 8);
    }
    case URSA_TYPE_DECIMAL: {
        if (f->precision <= 18) {
            int64_t v;
            memcpy(&v, value, 8);
            return put_decimal(out, v);
        }
        __int128 v;
        memcpy(&v, value, 16);
        return put_decimal(out, v);
    }
    case URSA_TYPE_UUID:
        return ursa_buf_append(out, value, 16);
    case URSA_TYPE_STRING:
    case URSA_TYPE_BINARY:
        return ursa_buf_append(out, value, len);
    case URSA_TYPE_UINT64:
    case URSA_TYPE_JSON:
    default:
        return URSA_ENOTSUP;
    }
}
