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

/* The same for any unit (0: ms, 1: µs, 2: ns, as ursa_time_unit_t) and
 * either kind of timestamp: with utc, an offset is required and the result
 * is UTC; without, a string with no offset keeps its wall-clock time and
 * one with an offset is converted to UTC. Digits past the unit are
 * truncated; a value out of the unit's int64 range is an error. */
const char *ursa_parse_timestamp_unit(const char *p, size_t n, int unit, bool utc, int64_t *out);

/* "YYYY-MM-DD" to days since 1970-01-01. */
const char *ursa_parse_date(const char *p, size_t n, int32_t *days);

/* "HH:MM:SS[.f]" (1 to 9 fraction digits, past 6 truncated) to µs since midnight. */
const char *ursa_parse_time(const char *p, size_t n, int64_t *us);

/* A JSON integer literal into a uint64 (no sign, no fraction). */
const char *ursa_parse_u64(const char *p, size_t n, uint64_t *out);

/* A JSON number literal to the nearest float (correctly rounded). */
const char *ursa_parse_f32(const char *p, size_t n, float *out);

/* A decimal literal (JSON number syntax; in strings leading zeros and a
 * leading '+' are allowed too) to the unscaled integer of decimal(precision,
 * scale), exactly: more fractional digits than the scale, or more integer
 * digits than precision - scale, are errors, never rounded. */
const char *ursa_parse_decimal(const char *p, size_t n, int precision, int scale, __int128 *out);

/* Standard base64 (RFC 4648, '=' padding optional) into out (appends). */
const char *ursa_parse_base64(const char *p, size_t n, ursa_buf_t *out);

/* "8-4-4-4-12" hex digits (any case), or 32 hex digits, into 16 bytes. */
const char *ursa_parse_uuid(const char *p, size_t n, uint8_t out[16]);

/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t ursa_days_from_civil(int64_t y, unsigned m, unsigned d);
void ursa_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Floor division of microseconds into days since the epoch. */
static inline int64_t ursa_us_to_days(int64_t us)
{
    int64_t q = us / 86400000000LL;
    return (us % 86400000000LL < 0) ? q - 1 : q;
}

/* The day (since the epoch, floored) of a timestamp in unit 0: ms, 1: µs,
 * 2: ns. */
static inline int64_t ursa_ts_to_days(int64_t v, int unit)
{
    static const int64_t per_day[] = {86400000LL, 86400000000LL, 86400000000000LL};
    int64_t d = per_day[unit], q = v / d;
    return v % d < 0 ? q - 1 : q;
}

/* Writes "YYYY-MM-DD" (11 bytes with the NUL) for a day number. */
void ursa_format_date(int64_t days, char out[16]);

/* Date-time formats declared in a schema ("formats"): a strptime-like
 * subset. %Y year (4 digits), %y (2 digits: 69-99 -> 19xx, else 20xx), %m
 * month, %d or %e day, %H hour, %I hour of 12 with %p (AM/PM), %M minute,
 * %S second, %f fraction (1 to 9 digits), %z offset (Z, +HH:MM, +HHMM, +HH),
 * %b or %h month name (3 letters, any case), %B full month name, %j day of
 * the year, %T = %H:%M:%S, %F = %Y-%m-%d, %% a '%'. A space in the format
 * matches any run of white space (or none); other characters match
 * themselves. Numbers take 1 to 2 digits (%Y 4, %j 1 to 3). */
typedef struct ursa_datetime {
    int64_t year;
    unsigned month, day, hour, minute, second;
    uint32_t nanos;
    bool has_date, has_time, has_offset;
    int offset_min; /* minutes east of UTC, with has_offset */
} ursa_datetime_t;

/* NULL when fmt is a usable format, else what is wrong with it. */
const char *ursa_format_check(const char *fmt);

/* Parses s[0..n) with fmt (checked) into *out. */
const char *ursa_parse_format(const char *fmt, const char *s, size_t n, ursa_datetime_t *out);

/* A parsed date-time as a timestamp of unit (0: ms, 1: us, 2: ns): without
 * an offset the wall clock is taken as UTC; with one, converted to UTC. */
const char *ursa_datetime_to_ts(const ursa_datetime_t *d, int unit, int64_t *out);

/* A decimal number -?[0-9]+(.[0-9]+)? of seconds (epoch_unit 0), ms (1),
 * us (2) or ns (3) since 1970-01-01T00:00:00Z as a timestamp of unit (0:
 * ms, 1: us, 2: ns); digits below the unit are truncated toward the past. */
const char *ursa_parse_epoch(const char *p, size_t n, int epoch_unit, int unit, int64_t *out);

#endif
