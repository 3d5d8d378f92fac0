/*
 * crc32c.h -- CRC-32C (Castagnoli), as used for WAL records: the SSE4.2
 * instruction when the CPU has it, a table otherwise.
 */
#ifndef URSA_CRC32C_H
#define URSA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over n more bytes: crc = ursa_crc32c(0, p, n) for a
 * whole buffer. */
uint32_t ursa_crc32c(uint32_t crc, const void *p, size_t n);

#endif
