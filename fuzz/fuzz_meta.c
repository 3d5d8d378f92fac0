/*
 * libFuzzer driver for the Parquet metadata decoders (pq_meta.c) and the
 * Thrift compact decoder under them: the input is decoded as a footer
 * (FileMetaData), a page header, a ColumnIndex, an OffsetIndex and a bloom
 * filter header. Besides "never crash, never leak", a decode that succeeds
 * must keep the invariants the reader relies on:
 *
 * - every row group has one column chunk per leaf, each leaf's schema
 *   index names a leaf element, its path has npath names and the dotted
 *   name is those names joined with '.', and max_rep <= max_def;
 * - counts and sizes are non-negative; a page header or bloom header
 *   reports a length within the input;
 * - the ColumnIndex lists all have npages entries;
 * - decoding the same bytes twice gives the same result (no hidden state).
 */
#include "pq_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_meta(const pq_file_meta_t *m)
{
    if (m->num_rows < 0 || m->nschema == 0) abort();
    for (size_t g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_t *rg = &m->row_groups[g];
        if (rg->ncolumns != m->nleaves || rg->num_rows < 0) abort();
        for (size_t c = 0; c < rg->ncolumns; c++) {
            const pq_column_chunk_t *cc = &rg->columns[c];
            if (!cc->has_meta_data && !cc->encrypted) abort();
            if (cc->has_meta_data && (cc->meta.num_values < 0 || cc->meta.total_compressed_size < 0 ||
                                      cc->meta.total_uncompressed_size < 0 || cc->meta.data_page_offset < 0))
                abort();
        }
    }
    for (size_t i = 0; i < m->nleaves; i++) {
        const pq_leaf_t *l = &m->leaves[i];
        if (l->schema_index == 0 || l->schema_index >= m->nschema) abort();
        if (m->schema[l->schema_index].type < 0 || l->max_rep > l->max_def || l->npath == 0) abort();
        size_t pos = 0;
        for (size_t k = 0; k < l->npath; k++) {
            size_t n = strlen(l->path[k]);
            if (strncmp(l->dotted + pos, l->path[k], n) != 0) abort();
            pos += n;
            if (l->dotted[pos] != (k + 1 < l->npath ? '.' : '\0')) abort();
            pos++;
        }
        if (pq_meta_leaf_by_name(m, l->dotted) == NULL) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ursa_err_t err;
    size_t before = ursa_mem_used();

    pq_file_meta_t m, m2;
    int rc = pq_meta_decode(data, size, &m, &err);
    if (rc != URSA_OK && rc != URSA_EFORMAT) abort();
    if (rc == URSA_OK) {
        check_meta(&m);
        if (pq_meta_decode(data, size, &m2, &err) != URSA_OK || m2.num_rows != m.num_rows ||
            m2.nleaves != m.nleaves || m2.nrow_groups != m.nrow_groups)
            abort();
        pq_meta_free(&m2);
    }
    pq_meta_free(&m);

    pq_page_header_t h;
    size_t used = 0;
    rc = pq_page_header_decode(data, size, &h, &used, &err);
    if (rc == URSA_OK &&
        (used > size || used == 0 || h.compressed_page_size < 0 || h.uncompressed_page_size < 0))
        abort();
    pq_page_header_free(&h);

    pq_column_index_t ci;
    rc = pq_column_index_decode(data, size, &ci, &err);
    if (rc == URSA_OK) {
        for (size_t i = 0; i < ci.npages; i++) {
            volatile bool b = ci.null_pages[i];
            volatile size_t n = ci.min_values[i].n + ci.max_values[i].n;
            (void)b, (void)n;
            if (ci.null_counts && ci.null_counts[i] < 0) abort();
        }
    }
    pq_column_index_free(&ci);

    pq_offset_index_t oi;
    rc = pq_offset_index_decode(data, size, &oi, &err);
    if (rc == URSA_OK)
        for (size_t i = 0; i < oi.npages; i++)
            if (oi.pages[i].offset < 0 || oi.pages[i].compressed_page_size < 0 ||
                oi.pages[i].first_row_index < 0)
                abort();
    pq_offset_index_free(&oi);

    pq_bloom_header_t bh;
    rc = pq_bloom_header_decode(data, size, &bh, &used, &err);
    if (rc == URSA_OK && (used > size || bh.num_bytes <= 0)) abort();

    if (ursa_mem_used() != before) {
        fprintf(stderr, "leak: %zu bytes\n", ursa_mem_used() - before);
        abort();
    }
    return 0;
}
