/*
 * pq_read.h -- the little of Parquet Ursa reads back: a file's row count
 * from its footer (for listings of published files). A bounded Thrift
 * compact-protocol skipper, safe on hostile bytes.
 */
#ifndef URSA_PQ_READ_H
#define URSA_PQ_READ_H

#include "common.h"

/* The tail of a Parquet file is "<footer><u32 footer length>PAR1". Given the
 * last n bytes of the file (n >= 8), sets *footer_len to the footer's
 * length. URSA_EFORMAT when the magic is missing. */
int pq_read_footer_len(const uint8_t *tail, size_t n, uint32_t *footer_len) URSA_MUST_CHECK;

/* Reads num_rows from a FileMetaData footer p[0..n) (without the trailing
 * length and magic). URSA_EFORMAT when the bytes are not a footer. */
int pq_read_num_rows(const uint8_t *p, size_t n, int64_t *rows) URSA_MUST_CHECK;

#endif
