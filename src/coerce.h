/*
 * coerce.h -- text to typed values: exact int64, correctly rounded doubles,
 * RFC 3339 timestamps, and calendar arithmetic for partition dates.
 *
 * Each parser takes the exact bytes of the value (no NUL needed) and
 * returns NULL on success or a static string naming the reason.
 */
#ifndef URSA_COERCE_H
#define URSA_COERCE_H

#include "common.h"

/* Parses a JSON integer literal (-?[0-9]+, no fraction, no exponent). */
const char *ursa_parse_i64(const char *p, size_t n, int64_t *out);

/* Parses a JSON number literal already validated by the scanner (grammar
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) to the nearest double.
 * Out-of-range magnitudes give an error rather than infinity. */
const char *ursa_parse_f64(const char *p, size_t n, double *out);

/* Parses an RFC 3339 date-time ("2024-03-01T12:00:00.123456789+05:30"; the
 * separator may be T, t or a space; Z, z or an offset is required; 0 to 9
 * fractional digits) into microseconds since 1970-01-01T00:00:00Z. Digits
 * past the sixth are truncated. */
const char *ursa_parse_timestamp(const char *p, size_t n, int64_t *us);

/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t ursa_days_from_civil(int64_t y, unsigned m, unsigned d);
void ursa_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Floor division of microseconds into days since the epoch. */
static inline int64_t ursa_us_to_days(int64_t us)
{
    int64_t q = us / 86400000000LL;
    return (us % 86400000000LL < 0) ? q - 1 : q;
}

/* Writes "YYYY-MM-DD" (11 bytes with the NUL) for a day number. */
void ursa_format_date(int64_t days, char out[16]);

#endif
