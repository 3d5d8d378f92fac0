/*
 * test_pq_meta.c -- Parquet metadata decoding (pq_meta.c): the footers of
 * files Ursa's writer produces, the footer of every file in
 * ../shared/parquet-testing (good ones decode, bad ones fail or decode,
 * never crash), truncation and single-byte corruption of real footers at
 * every position, hostile nesting and counts, page headers, the page
 * index and bloom filter headers of Ursa's files.
 */
#include "ingest_json.h"
#include "pq_meta.h"
#include "pq_write.h"
#include "test.h"
#include "thrift.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef URSA_PARQUET_TESTING
#error "URSA_PARQUET_TESTING must name the parquet-testing directory (CMakeLists.txt sets it)"
#endif

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

static int mem_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    return ursa_buf_append(ctx, p, n);
}

static const char ALL_SCHEMA[] =
    "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
    "{\"name\":\"i\",\"type\":\"int64\",\"bloom_filter\":true},{\"name\":\"f\",\"type\":\"float64\"},"
    "{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"i8\",\"type\":\"int8\"},{\"name\":\"u64\",\"type\":\"uint64\"},"
    "{\"name\":\"f32\",\"type\":\"float32\"},{\"name\":\"d\",\"type\":\"decimal\",\"precision\":38,"
    "\"scale\":6},{\"name\":\"d9\",\"type\":\"decimal\",\"precision\":9,\"scale\":2},"
    "{\"name\":\"bin\",\"type\":\"binary\"},{\"name\":\"day\",\"type\":\"date\"},"
    "{\"name\":\"tod\",\"type\":\"time\"},{\"name\":\"ns\",\"type\":\"timestamp\",\"unit\":\"ns\","
    "\"utc\":false},{\"name\":\"id\",\"type\":\"uuid\"},{\"name\":\"j\",\"type\":\"json\"}],"
    "\"time_column\":\"ts\"}";

/* Writes `rows` rows of the all-types schema as a Parquet file into out. */
static void write_ursa_file(ursa_buf_t *out, size_t rows, int page_version, size_t rows_per_group)
{
    ursa_schema_t s;
    ursa_batch_t b;
    ursa_ndjson_t p;
    ursa_err_t err;
    if (ursa_schema_parse(ALL_SCHEMA, strlen(ALL_SCHEMA), &s, &err)) abort();
    if (ursa_batch_init(&b, &s) || ursa_ndjson_init(&p, &s, &b, 0)) abort();
    for (size_t r = 0; r < rows; r++) {
        char line[1024];
        int k = snprintf(line, sizeof(line),
                         "{\"ts\":\"2026-01-02T03:04:%02zuZ\",\"i\":%zu,\"f\":%zu.5,\"b\":%s,\"s\":\"s%zu\","
                         "\"i8\":%d,\"u64\":%zu,\"f32\":1.5,\"d\":\"12.5\",\"d9\":\"1.25\",\"bin\":\"aGk=\","
                         "\"day\":\"2026-01-02\",\"tod\":\"01:02:03\",\"ns\":\"2026-01-02T03:04:05\","
                         "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"j\":{\"a\":1}}\n",
                         r % 60, r * 10, r, r % 2 ? "true" : "false", r, (int)(r % 100) - 50, r);
        if (ursa_ndjson_feed(&p, line, (size_t)k)) abort();
    }
    if (ursa_ndjson_finish(&p)) abort();
    CHECK_EQ_INT(b.nrows, rows);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.page_version = page_version;
    o.row_group_rows = rows_per_group;
    o.threads = 1;
    o.kv_key = "ursa.test";
    o.kv_value = "yes";
    pq_writer_t *w = NULL;
    ursa_sink_t sink = {mem_write, out};
    if (pq_writer_new(&w, &s, &o, sink, &err) || pq_writer_write(w, &b, 0, b.nrows, &err) ||
        pq_writer_close(w, NULL, &err)) {
        fprintf(stderr, "writer: %s\n", err.msg);
        abort();
    }
    pq_writer_destroy(&w);
    ursa_ndjson_free(&p);
    ursa_batch_free(&b);
    ursa_schema_free(&s);
}

/* The footer of a whole file in memory: sets *foot and *len. */
static int footer_of(const uint8_t *file, size_t n, const uint8_t **foot, uint32_t *len, ursa_err_t *err)
{
    if (n < 8) return ursa_err_set(err, URSA_EFORMAT, "short");
    int rc = pq_meta_footer_len(file + n - 8, 8, n, len, err);
    if (rc) return rc;
    *foot = file + n - 8 - *len;
    return URSA_OK;
}

static int read_file(const char *path, ursa_buf_t *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return URSA_EIO;
    char tmp[65536];
    size_t k;
    int rc = URSA_OK;
    while (rc == URSA_OK && (k = fread(tmp, 1, sizeof(tmp), f)) > 0) rc = ursa_buf_append(b, tmp, k);
    fclose(f);
    return rc;
}

static int decode_file(const ursa_buf_t *b, pq_file_meta_t *m, ursa_err_t *err)
{
    const uint8_t *foot;
    uint32_t len;
    memset(m, 0, sizeof(*m));
    int rc = footer_of(b->data, b->len, &foot, &len, err);
    if (rc) return rc;
    return pq_meta_decode(foot, len, m, err);
}

/* ---------------------------------------------------------------------------
 * Ursa's own files
 * ------------------------------------------------------------------------- */

static const pq_schema_elem_t *elem(const pq_file_meta_t *m, const char *name)
{
    const pq_leaf_t *l = pq_meta_leaf_by_name(m, name);
    return l ? &m->schema[l->schema_index] : NULL;
}

TEST(ursa_footer)
{
    for (int v = 1; v <= 2; v++) {
        ursa_buf_t file = {0};
        write_ursa_file(&file, 100, v, 30);
        pq_file_meta_t m;
        ursa_err_t err = {0};
        int rc = decode_file(&file, &m, &err);
        if (rc) fprintf(stderr, "decode: %s\n", err.msg);
        CHECK_EQ_INT(rc, URSA_OK);
        CHECK_EQ_INT(m.num_rows, 100);
        CHECK_EQ_INT(m.nrow_groups, 4);
        CHECK_EQ_INT(m.nleaves, 16);
        CHECK_EQ_INT(m.nschema, 17);
        CHECK(m.created_by != NULL);
        CHECK_EQ_INT(m.ncolumn_orders, 16);
        bool kv = false;
        for (size_t i = 0; i < m.nkv; i++)
            kv |= !strcmp(m.kv[i].key, "ursa.test") && m.kv[i].value && !strcmp(m.kv[i].value, "yes");
        CHECK(kv);
        int64_t rows = 0;
        for (size_t g = 0; g < m.nrow_groups; g++) rows += m.row_groups[g].num_rows;
        CHECK_EQ_INT(rows, 100);
        for (size_t i = 0; i < m.nleaves; i++) {
            CHECK(!m.leaves[i].nested);
            CHECK_EQ_INT(m.leaves[i].npath, 1);
            CHECK_EQ_INT(m.leaves[i].max_rep, 0);
        }
        const pq_schema_elem_t *e;
        CHECK((e = elem(&m, "ts")) && e->type == PQ_INT64 && e->logical.kind == PQ_LT_TIMESTAMP &&
              e->logical.unit == PQ_UNIT_MICROS && e->logical.utc && e->repetition == PQ_REQUIRED);
        CHECK(pq_meta_leaf_by_name(&m, "ts")->max_def == 0);
        CHECK((e = elem(&m, "ns")) && e->logical.kind == PQ_LT_TIMESTAMP &&
              e->logical.unit == PQ_UNIT_NANOS && !e->logical.utc);
        CHECK((e = elem(&m, "i")) && e->type == PQ_INT64 && e->repetition == PQ_OPTIONAL);
        CHECK(pq_meta_leaf_by_name(&m, "i")->max_def == 1);
        CHECK((e = elem(&m, "s")) && e->type == PQ_BYTE_ARRAY && e->logical.kind == PQ_LT_STRING);
        CHECK((e = elem(&m, "i8")) && e->type == PQ_INT32 && e->logical.kind == PQ_LT_INTEGER &&
              e->logical.bit_width == 8 && e->logical.is_signed);
        CHECK((e = elem(&m, "u64")) && e->logical.kind == PQ_LT_INTEGER && e->logical.bit_width == 64 &&
              !e->logical.is_signed);
        CHECK((e = elem(&m, "d")) && e->logical.kind == PQ_LT_DECIMAL && e->logical.precision == 38 &&
              e->logical.scale == 6);
        CHECK((e = elem(&m, "d9")) && e->logical.kind == PQ_LT_DECIMAL && e->logical.precision == 9);
        CHECK((e = elem(&m, "day")) && e->logical.kind == PQ_LT_DATE);
        CHECK((e = elem(&m, "tod")) && e->logical.kind == PQ_LT_TIME);
        CHECK((e = elem(&m, "id")) && e->type == PQ_FIXED_LEN_BYTE_ARRAY && e->type_length == 16 &&
              e->logical.kind == PQ_LT_UUID);
        CHECK((e = elem(&m, "j")) && e->logical.kind == PQ_LT_JSON);
        CHECK((e = elem(&m, "b")) && e->type == PQ_BOOLEAN);
        CHECK(pq_meta_leaf_by_name(&m, "nope") == NULL);

        /* Column chunks: statistics, page index, bloom filter, and every page header in the chunk. */
        size_t li = (size_t)(pq_meta_leaf_by_name(&m, "i") - m.leaves);
        for (size_t g = 0; g < m.nrow_groups; g++) {
            const pq_row_group_t *rg = &m.row_groups[g];
            for (size_t c = 0; c < rg->ncolumns; c++) {
                const pq_column_chunk_t *cc = &rg->columns[c];
                CHECK(cc->has_meta_data);
                CHECK_EQ_INT(cc->meta.num_values, rg->num_rows);
                CHECK(cc->meta.npath == 1 && !strcmp(cc->meta.path[0], m.leaves[c].dotted));
                CHECK(cc->meta.stats.present);
                CHECK(cc->column_index_offset > 0 && cc->offset_index_offset > 0);
                /* Walk the pages. */
                int64_t pos = cc->meta.dictionary_page_offset >= 0 ? cc->meta.dictionary_page_offset
                                                                   : cc->meta.data_page_offset;
                int64_t end = pos + cc->meta.total_compressed_size, values = 0;
                CHECK(end <= (int64_t)file.len);
                while (pos < end && end <= (int64_t)file.len) {
                    pq_page_header_t h;
                    size_t used = 0;
                    rc = pq_page_header_decode(file.data + pos, (size_t)(end - pos), &h, &used, &err);
                    CHECK_EQ_INT(rc, URSA_OK);
                    if (rc) {
                        pq_page_header_free(&h);
                        break;
                    }
                    if (h.type == PQ_DATA_PAGE) {
                        values += h.v1.num_values;
                        CHECK(v == 1);
                    }
                    if (h.type == PQ_DATA_PAGE_V2) {
                        values += h.v2.num_values;
                        CHECK(v == 2);
                    }
                    pos += (int64_t)used + h.compressed_page_size;
                    pq_page_header_free(&h);
                }
                CHECK_EQ_INT(pos, end);
                CHECK_EQ_INT(values, rg->num_rows);
                /* The page index. */
                pq_offset_index_t oi;
                rc = pq_offset_index_decode(file.data + cc->offset_index_offset,
                                            (size_t)cc->offset_index_length, &oi, &err);
                CHECK_EQ_INT(rc, URSA_OK);
                CHECK(oi.npages >= 1 && oi.pages[0].first_row_index == 0 &&
                      oi.pages[0].offset == cc->meta.data_page_offset);
                pq_column_index_t ci;
                rc = pq_column_index_decode(file.data + cc->column_index_offset,
                                            (size_t)cc->column_index_length, &ci, &err);
                CHECK_EQ_INT(rc, URSA_OK);
                CHECK_EQ_INT(ci.npages, oi.npages);
                if (c == li && ci.npages) {
                    /* i = 10 * row: min and max of the first page as little-endian int64. */
                    int64_t mn;
                    CHECK(ci.min_values[0].n == 8);
                    memcpy(&mn, ci.min_values[0].p, 8);
                    CHECK_EQ_INT(mn, (int64_t)g * 30 * 10);
                    CHECK(!ci.null_pages[0]);
                    CHECK(ci.null_counts && ci.null_counts[0] == 0);
                    /* The chunk statistics too. */
                    int64_t mx;
                    CHECK(cc->meta.stats.max_value.n == 8);
                    memcpy(&mx, cc->meta.stats.max_value.p, 8);
                    CHECK_EQ_INT(mx, ((int64_t)g * 30 + rg->num_rows - 1) * 10);
                    CHECK_EQ_INT(cc->meta.stats.null_count, 0);
                    /* The bloom filter. */
                    CHECK(cc->meta.bloom_filter_offset > 0);
                    if (cc->meta.bloom_filter_offset > 0) {
                        pq_bloom_header_t bh;
                        size_t used = 0;
                        rc = pq_bloom_header_decode(file.data + cc->meta.bloom_filter_offset,
                                                    file.len - (size_t)cc->meta.bloom_filter_offset, &bh,
                                                    &used, &err);
                        CHECK_EQ_INT(rc, URSA_OK);
                        CHECK(bh.num_bytes >= 32 && bh.algorithm == 1 && bh.hash == 1 && bh.compression == 1);
                    }
                }
                pq_column_index_free(&ci);
                pq_offset_index_free(&oi);
            }
        }
        pq_meta_free(&m);
        ursa_buf_free(&file);
    }
}

/* Every prefix and every one-byte change of a real footer: an error or a decode, never a crash or a leak. */
TEST(ursa_footer_truncated_and_corrupted)
{
    ursa_buf_t file = {0};
    write_ursa_file(&file, 20, 1, 0);
    const uint8_t *foot;
    uint32_t len;
    ursa_err_t err;
    CHECK_EQ_INT(footer_of(file.data, file.len, &foot, &len, &err), URSA_OK);
    size_t before = ursa_mem_used();
    for (size_t n = 0; n < len; n++) {
        pq_file_meta_t m;
        err.msg[0] = 0;
        CHECK_EQ_INT(pq_meta_decode(foot, n, &m, &err), URSA_EFORMAT);
        CHECK(strstr(err.msg, " at byte ") != NULL || strstr(err.msg, "schema") != NULL ||
              strstr(err.msg, "row group") != NULL);
        pq_meta_free(&m);
    }
    uint8_t *copy = malloc(len);
    size_t ok = 0;
    for (size_t i = 0; i < len; i++) {
        static const uint8_t flips[] = {0x00, 0xff, 0x80, 0x0f, 0x01};
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, foot, len);
            copy[i] = (uint8_t)(flips[f] == 0x01 ? copy[i] ^ 0x01 : flips[f]);
            pq_file_meta_t m;
            int rc = pq_meta_decode(copy, len, &m, &err);
            CHECK(rc == URSA_OK || rc == URSA_EFORMAT);
            if (rc == URSA_OK) {
                ok++;
                CHECK(m.nleaves > 0);
                for (size_t g = 0; g < m.nrow_groups; g++) CHECK_EQ_INT(m.row_groups[g].ncolumns, m.nleaves);
            }
            pq_meta_free(&m);
        }
    }
    CHECK(ok > 0);
    free(copy);
    CHECK_EQ_INT(ursa_mem_used(), before);
    ursa_buf_free(&file);
}

/* Out of memory at every allocation: ENOMEM, no leak. */
TEST(ursa_footer_allocation_failures)
{
    ursa_buf_t file = {0};
    write_ursa_file(&file, 10, 1, 0);
    const uint8_t *foot;
    uint32_t len;
    ursa_err_t err;
    CHECK_EQ_INT(footer_of(file.data, file.len, &foot, &len, &err), URSA_OK);
    size_t before = ursa_mem_used();
    int rc = URSA_ENOMEM;
    for (long k = 1; k < 100 && rc == URSA_ENOMEM; k++) {
        pq_file_meta_t m;
        ursa_mem_fail_after(k);
        rc = pq_meta_decode(foot, len, &m, &err);
        ursa_mem_fail_after(0);
        CHECK(rc == URSA_OK || rc == URSA_ENOMEM);
        pq_meta_free(&m);
    }
    CHECK_EQ_INT(rc, URSA_OK);
    CHECK_EQ_INT(ursa_mem_used(), before);
    ursa_buf_free(&file);
}

/* ---------------------------------------------------------------------------
 * parquet-testing
 * ------------------------------------------------------------------------- */

static const struct {
    const char *file;
    int64_t rows;
    size_t leaves;
} known[] = {
    {"alltypes_plain.parquet", 8, 11},      {"alltypes_plain.snappy.parquet", 2, 11},
    {"alltypes_dictionary.parquet", 2, 11}, {"nulls.snappy.parquet", 8, 1},
    {"int32_decimal.parquet", 24, 1},       {"binary.parquet", 12, 1},
    {"datapage_v2.snappy.parquet", 5, 5},
};

/* The files of bad_data whose footer itself is broken, with the error each must give; the others are
 * broken in their pages and their footers decode. */
static const struct {
    const char *file, *error;
} bad_footers[] = {
    {"PARQUET-1481.parquet", "SchemaElement.type: unknown physical type -7"},
    {"ARROW-GH-41317.parquet", "row group 1, column 18 (timestamp_us_no_tz): path_in_schema differs"},
};

/* Decodes every footer in dir; good files must decode. Returns how many were read. */
static size_t each_file(const char *dir, bool good, size_t *decoded)
{
    char path[2048];
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return 0;
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 8 || strcmp(de->d_name + nl - 8, ".parquet") != 0) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        ursa_buf_t b = {0};
        CHECK_EQ_INT(read_file(path, &b), URSA_OK);
        files++;
        pq_file_meta_t m;
        ursa_err_t err = {0};
        int rc = decode_file(&b, &m, &err);
        CHECK(rc == URSA_OK || rc == URSA_EFORMAT);
        bool encrypted = strstr(de->d_name, "encrypt") != NULL;
        if (good && rc && !encrypted) {
            fprintf(stderr, "%s: %s\n", de->d_name, err.msg);
            CHECK(!"a good file failed");
        }
        if (encrypted && rc) CHECK(strstr(err.msg, "encrypted") != NULL);
        if (!good) {
            const char *want = NULL;
            for (size_t k = 0; k < URSA_ARRAY_LEN(bad_footers); k++)
                if (!strcmp(bad_footers[k].file, de->d_name)) want = bad_footers[k].error;
            CHECK_EQ_INT(rc, want ? URSA_EFORMAT : URSA_OK);
            if (want && !strstr(err.msg, want))
                fprintf(stderr, "%s: %s, expected %s\n", de->d_name, err.msg, want);
            CHECK(!want || strstr(err.msg, want) != NULL);
        }
        if (getenv("URSA_TEST_VERBOSE"))
            fprintf(stderr, "%s: %s %s\n", de->d_name, rc ? "error" : "ok", rc ? err.msg : "");
        if (rc == URSA_OK) {
            (*decoded)++;
            for (size_t k = 0; k < URSA_ARRAY_LEN(known); k++)
                if (!strcmp(known[k].file, de->d_name)) {
                    CHECK_EQ_INT(m.num_rows, known[k].rows);
                    CHECK_EQ_INT(m.nleaves, known[k].leaves);
                }
            /* Nested files are recognised as such. */
            if (!strcmp(de->d_name, "nested_lists.snappy.parquet") ||
                !strcmp(de->d_name, "list_columns.parquet")) {
                bool any = false;
                for (size_t i = 0; i < m.nleaves; i++) any |= m.leaves[i].nested && m.leaves[i].max_rep > 0;
                CHECK(any);
            }
            if (!strcmp(de->d_name, "alltypes_plain.parquet")) {
                for (size_t i = 0; i < m.nleaves; i++) CHECK(!m.leaves[i].nested && m.leaves[i].max_def == 1);
                CHECK(pq_meta_leaf_by_name(&m, "timestamp_col") &&
                      m.schema[pq_meta_leaf_by_name(&m, "timestamp_col")->schema_index].type == PQ_INT96);
            }
        }
        pq_meta_free(&m);
        ursa_buf_free(&b);
    }
    closedir(d);
    return files;
}

TEST(parquet_testing_data)
{
    size_t decoded = 0;
    size_t files = each_file(URSA_PARQUET_TESTING "/data", true, &decoded);
    CHECK(files >= 50);
    CHECK(decoded + 0 >= files - 5); /* encrypted files are the exception */
    printf("     data: %zu files, %zu decoded\n", files, decoded);
}

TEST(parquet_testing_bad_data)
{
    size_t decoded = 0;
    size_t files = each_file(URSA_PARQUET_TESTING "/bad_data", false, &decoded);
    CHECK(files >= 5);
    CHECK_EQ_INT(decoded, files - URSA_ARRAY_LEN(bad_footers));
    printf("     bad_data: %zu files, %zu decoded\n", files, decoded);
}

/* Truncation and corruption of a footer from another writer (parquet-mr). */
TEST(parquet_testing_footer_mutations)
{
    ursa_buf_t b = {0};
    CHECK_EQ_INT(read_file(URSA_PARQUET_TESTING "/data/alltypes_plain.parquet", &b), URSA_OK);
    const uint8_t *foot;
    uint32_t len;
    ursa_err_t err;
    CHECK_EQ_INT(footer_of(b.data, b.len, &foot, &len, &err), URSA_OK);
    uint8_t *copy = malloc(len);
    for (size_t n = 0; n <= len; n++) {
        pq_file_meta_t m;
        memcpy(copy, foot, n); /* a copy of just n bytes, so ASan sees any read past them */
        int rc = pq_meta_decode(copy, n, &m, &err);
        CHECK_EQ_INT(rc, n == len ? URSA_OK : URSA_EFORMAT);
        pq_meta_free(&m);
    }
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, foot, len);
            copy[i] ^= (uint8_t)(1u << bit);
            pq_file_meta_t m;
            int rc = pq_meta_decode(copy, len, &m, &err);
            CHECK(rc == URSA_OK || rc == URSA_EFORMAT);
            pq_meta_free(&m);
        }
    free(copy);
    ursa_buf_free(&b);
}

/* ---------------------------------------------------------------------------
 * Hostile inputs
 * ------------------------------------------------------------------------- */

TEST(footer_tail)
{
    ursa_err_t err;
    uint32_t len;
    const uint8_t enc[] = {1, 0, 0, 0, 'P', 'A', 'R', 'E'};
    CHECK_EQ_INT(pq_meta_footer_len(enc, 8, 100, &len, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "encrypted") != NULL);
    const uint8_t big[] = {0xff, 0xff, 0, 0, 'P', 'A', 'R', '1'};
    CHECK_EQ_INT(pq_meta_footer_len(big, 8, 100, &len, &err), URSA_EFORMAT);
    CHECK_EQ_INT(pq_meta_footer_len(big, 8, 0x10000 + 12, &len, &err), URSA_OK);
    CHECK_EQ_INT(len, 0xffff);
    const uint8_t none[] = {1, 0, 0, 0, 'P', 'A', 'R', '2'};
    CHECK_EQ_INT(pq_meta_footer_len(none, 8, 100, &len, &err), URSA_EFORMAT);
}

TEST(deep_nesting)
{
    /* FileMetaData with field 10 (unknown) a struct, nested 10,000 deep. */
    size_t depth = 10000;
    uint8_t *p = malloc(depth * 2 + 1);
    for (size_t i = 0; i < depth; i++) p[i] = 0x1c; /* field delta 1, struct */
    memset(p + depth, 0, depth + 1);
    pq_file_meta_t m;
    ursa_err_t err = {0};
    CHECK_EQ_INT(pq_meta_decode(p, depth * 2 + 1, &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "nested deeper") != NULL);
    pq_meta_free(&m);
    /* Lists of lists. */
    for (size_t i = 0; i < depth; i++) p[i] = 0x19; /* list of one list */
    pq_page_header_t h;
    size_t used;
    uint8_t *q = malloc(depth + 2);
    q[0] = 0x19; /* field 1, a list */
    memcpy(q + 1, p, depth);
    q[depth + 1] = 0;
    CHECK_EQ_INT(pq_page_header_decode(q, depth + 2, &h, &used, &err), URSA_EFORMAT);
    pq_page_header_free(&h);
    free(q);
    free(p);
}

TEST(huge_counts_and_lengths)
{
    ursa_err_t err = {0};
    pq_file_meta_t m;
    size_t before = ursa_mem_used();
    /* schema: a list of 2^31 structs in a few bytes. */
    const uint8_t list[] = {0x29, 0xfc, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0, 0};
    CHECK_EQ_INT(pq_meta_decode(list, sizeof(list), &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "list of 2147483648 elements") != NULL);
    CHECK_EQ_INT(ursa_mem_used(), before);
    pq_meta_free(&m);
    /* created_by of 2^40 bytes. */
    const uint8_t str[] = {0x68, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 'x', 0};
    CHECK_EQ_INT(pq_meta_decode(str, sizeof(str), &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "binary of") != NULL);
    pq_meta_free(&m);
    /* An 11-byte varint. */
    const uint8_t var[] = {0x36, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0};
    CHECK_EQ_INT(pq_meta_decode(var, sizeof(var), &m, &err), URSA_EFORMAT);
    pq_meta_free(&m);
    /* A map of 2^62 entries. */
    const uint8_t map[] = {0xfb, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x88, 0};
    CHECK_EQ_INT(pq_meta_decode(map, sizeof(map), &m, &err), URSA_EFORMAT);
    pq_meta_free(&m);
    CHECK_EQ_INT(ursa_mem_used(), before);
}

/* A hand-built footer: schema tree checks and nested leaves. */
static void put_elem(thrift_enc_t *e, const char *name, int type, int rep, int kids, int lt)
{
    thrift_struct_begin(e);
    if (type >= 0) thrift_field_i32(e, 1, type);
    if (rep >= 0) thrift_field_i32(e, 3, rep);
    thrift_field_string(e, 4, name);
    if (kids >= 0) thrift_field_i32(e, 5, kids);
    if (lt) {
        thrift_field_struct_begin(e, 10);
        thrift_field_struct_begin(e, (int16_t)lt);
        thrift_struct_end(e);
        thrift_struct_end(e);
    }
    thrift_struct_end(e);
}

static int build_footer(ursa_buf_t *b, int root_kids, int list_kids, size_t ncols, bool bad_path)
{
    thrift_enc_t e;
    b->len = 0;
    thrift_enc_init(&e, b);
    thrift_struct_begin(&e);
    thrift_field_i32(&e, 1, 2);
    thrift_field_list_begin(&e, 2, THRIFT_STRUCT, 5);
    put_elem(&e, "root", -1, -1, root_kids, 0);
    put_elem(&e, "a", PQ_INT64, PQ_REQUIRED, -1, 0);
    put_elem(&e, "l", -1, PQ_OPTIONAL, list_kids, PQ_LT_LIST);
    put_elem(&e, "list", -1, PQ_REPEATED, 1, 0);
    put_elem(&e, "element", PQ_INT32, PQ_OPTIONAL, -1, 0);
    thrift_field_i64(&e, 3, 0);
    thrift_field_list_begin(&e, 4, THRIFT_STRUCT, 1);
    thrift_struct_begin(&e);
    thrift_field_list_begin(&e, 1, THRIFT_STRUCT, ncols);
    for (size_t c = 0; c < ncols; c++) {
        thrift_struct_begin(&e);
        thrift_field_i64(&e, 2, 4);
        thrift_field_struct_begin(&e, 3);
        thrift_field_i32(&e, 1, c == 1 ? PQ_INT32 : PQ_INT64);
        thrift_field_list_begin(&e, 2, THRIFT_I32, 1);
        thrift_elem_i32(&e, 0);
        if (c == 1) {
            thrift_field_list_begin(&e, 3, THRIFT_BINARY, 3);
            thrift_elem_string(&e, "l");
            thrift_elem_string(&e, "list");
            thrift_elem_string(&e, "element");
        } else {
            thrift_field_list_begin(&e, 3, THRIFT_BINARY, 1);
            thrift_elem_string(&e, bad_path ? "b" : "a");
        }
        thrift_field_i32(&e, 4, 0);
        thrift_field_i64(&e, 5, 0);
        thrift_field_i64(&e, 6, 0);
        thrift_field_i64(&e, 7, 0);
        thrift_field_i64(&e, 9, 4);
        thrift_struct_end(&e);
        thrift_struct_end(&e);
    }
    thrift_field_i64(&e, 2, 0);
    thrift_field_i64(&e, 3, 0);
    thrift_struct_end(&e);
    thrift_field_i32(&e, 99, 7); /* a field from a newer writer */
    thrift_struct_end(&e);
    return thrift_enc_status(&e);
}

TEST(schema_tree)
{
    ursa_buf_t b = {0};
    pq_file_meta_t m;
    ursa_err_t err = {0};
    CHECK_EQ_INT(build_footer(&b, 2, 1, 2, false), URSA_OK);
    CHECK_EQ_INT(pq_meta_decode(b.data, b.len, &m, &err), URSA_OK);
    CHECK_EQ_INT(m.nleaves, 2);
    if (m.nleaves == 2) {
        CHECK(!strcmp(m.leaves[0].dotted, "a") && !m.leaves[0].nested && m.leaves[0].max_def == 0);
        CHECK(!strcmp(m.leaves[1].dotted, "l.list.element") && m.leaves[1].nested);
        CHECK_EQ_INT(m.leaves[1].max_def, 3);
        CHECK_EQ_INT(m.leaves[1].max_rep, 1);
        CHECK_EQ_INT(m.leaves[1].npath, 3);
        CHECK_EQ_INT(m.schema[2].logical.kind, PQ_LT_LIST);
    }
    pq_meta_free(&m);
    /* Too few children at the root: elements left over. */
    CHECK_EQ_INT(build_footer(&b, 1, 1, 1, false), URSA_OK);
    CHECK_EQ_INT(pq_meta_decode(b.data, b.len, &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "after the tree") != NULL);
    pq_meta_free(&m);
    /* Too many: the list ends. */
    CHECK_EQ_INT(build_footer(&b, 2, 3, 2, false), URSA_OK);
    CHECK_EQ_INT(pq_meta_decode(b.data, b.len, &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "list ends") != NULL);
    pq_meta_free(&m);
    /* Column chunks that do not match the leaves. */
    CHECK_EQ_INT(build_footer(&b, 2, 1, 3, false), URSA_OK);
    CHECK_EQ_INT(pq_meta_decode(b.data, b.len, &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "3 column chunks for 2 leaf columns") != NULL);
    pq_meta_free(&m);
    /* A chunk whose path is not its leaf's. */
    CHECK_EQ_INT(build_footer(&b, 2, 1, 2, true), URSA_OK);
    CHECK_EQ_INT(pq_meta_decode(b.data, b.len, &m, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "row group 0, column 0 (a): path_in_schema differs") != NULL);
    pq_meta_free(&m);
    ursa_buf_free(&b);
}

int main(void)
{
    RUN(ursa_footer);
    RUN(ursa_footer_truncated_and_corrupted);
    RUN(ursa_footer_allocation_failures);
    RUN(parquet_testing_data);
    RUN(parquet_testing_bad_data);
    RUN(parquet_testing_footer_mutations);
    RUN(footer_tail);
    RUN(deep_nesting);
    RUN(huge_counts_and_lengths);
    RUN(schema_tree);
    return TEST_EXIT();
}
