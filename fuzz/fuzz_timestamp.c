/*
 * libFuzzer driver for the RFC 3339 parser (ursa_parse_timestamp_unit), the
 * date and time-of-day parsers, and the integer and float parsers. Besides
 * "never crash", an accepted timestamp must keep these invariants:
 *
 * - Units agree: the ms value is the µs value floor-divided by 1000, and
 *   the µs value the ns value floor-divided by 1000. Only ns may be out of
 *   range, and only within 1000 µs of int64's ends or beyond; an input
 *   refused in µs is refused in every unit for the same reason.
 * - Kinds agree: a UTC parse (offset required) gives the same value as a
 *   local parse; an input the UTC parse refuses but the local one accepts
 *   has no offset, and with "Z" appended the UTC parse gives that value.
 * - The offset is applied exactly: the value equals the wall-clock value
 *   of the same text without its offset, minus the offset.
 * - Re-rendered as "YYYY-MM-DDTHH:MM:SS.fffZ" (3, 6 or 9 digits by unit)
 *   and parsed again, a value comes back unchanged.
 * - The calendar round-trips (days to civil date and back), and the date
 *   and time-of-day parsers agree with the timestamp's wall-clock parts.
 */
#include "coerce.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t per_sec[] = {1000, 1000000, 1000000000};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return a % b < 0 ? q - 1 : q;
}

/* Writes v (unit 0: ms, 1: µs, 2: ns) as RFC 3339 in UTC with every
 * fractional digit of the unit. Returns its length, or 0 when the year is
 * outside 0000..9999 (not expressible). */
static size_t render(int64_t v, int unit, char out[64])
{
    int64_t secs = v / per_sec[unit], frac = v % per_sec[unit];
    if (frac < 0) frac += per_sec[unit], secs -= 1; /* no overflow at INT64_MIN */
    int64_t days = floor_div(secs, 86400), sod = secs - days * 86400, y;
    unsigned m, d;
    ursa_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) return 0;
    int k = snprintf(out, 64, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%0*lldZ", (long long)y, m, d,
                     (long long)(sod / 3600), (long long)(sod / 60 % 60), (long long)(sod % 60),
                     3 * (unit + 1), (long long)frac);
    return k > 0 && k < 64 ? (size_t)k : 0;
}

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "timestamp invariant broken: %s\ninput: \"%.*s\"\n", what, (int)size, (const char *)data);
    abort();
}

static void timestamp_checks(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    int64_t v[3][2];
    const char *r[3][2];
    for (int u = 0; u < 3; u++)
        for (int utc = 0; utc < 2; utc++) r[u][utc] = ursa_parse_timestamp_unit(p, size, u, utc, &v[u][utc]);

    /* The classic entry point is the µs UTC parse. */
    int64_t us;
    const char *r_us = ursa_parse_timestamp(p, size, &us);
    if ((r_us == NULL) != (r[1][1] == NULL) || (!r_us && us != v[1][1]))
        fail("ursa_parse_timestamp", data, size);

    for (int utc = 0; utc < 2; utc++) {
        if (r[1][utc]) { /* refused in µs: refused alike in every unit */
            if (!r[0][utc] || !r[2][utc] || strcmp(r[0][utc], r[1][utc]) || strcmp(r[2][utc], r[1][utc]))
                fail("units refuse differently", data, size);
            continue;
        }
        if (r[0][utc] || v[0][utc] != floor_div(v[1][utc], 1000))
            fail("ms is not floor(µs / 1000)", data, size);
        if (!r[2][utc]) {
            if (v[1][utc] != floor_div(v[2][utc], 1000)) fail("µs is not floor(ns / 1000)", data, size);
        } else if (v[1][utc] > INT64_MIN / 1000 + 1 && v[1][utc] < INT64_MAX / 1000 - 1) {
            fail("ns refused for a value well inside its range", data, size);
        }
    }

    for (int u = 0; u < 3; u++) {
        if (!r[u][1] && (r[u][0] || v[u][0] != v[u][1])) fail("UTC and local parses differ", data, size);
        if (r[u][1] && !r[u][0] && u == 1) {
            /* Accepted only as local time: no offset; with Z it is UTC. */
            char z[128];
            if (size + 1 > sizeof(z)) fail("an over-long text accepted", data, size);
            memcpy(z, p, size);
            z[size] = 'Z';
            int64_t w;
            if (ursa_parse_timestamp_unit(z, size + 1, u, true, &w) || w != v[u][0])
                fail("local time plus Z is not the same UTC value", data, size);
        }
    }

    /* The offset: strip it, parse the wall clock, apply it. */
    if (!r[1][0] && size >= 20) {
        size_t off_len = 0;
        int64_t off_sec = 0;
        char c = p[size - 1];
        if (c == 'Z' || c == 'z') {
            off_len = 1;
        } else if (size >= 25 && (p[size - 6] == '+' || p[size - 6] == '-')) {
            off_len = 6;
            off_sec = ((p[size - 5] - '0') * 10 + (p[size - 4] - '0')) * 3600 +
                      ((p[size - 2] - '0') * 10 + (p[size - 1] - '0')) * 60;
            if (p[size - 6] == '-') off_sec = -off_sec;
        }
        for (int u = 0; u < 3; u++) {
            int64_t w;
            if (r[u][0] || ursa_parse_timestamp_unit(p, size - off_len, u, false, &w)) continue;
            if (v[u][0] != w - off_sec * per_sec[u]) fail("offset not applied exactly", data, size);
            if (u != 1) continue;
            /* The wall clock's date and time of day, parsed on their own. */
            int32_t day;
            int64_t tod;
            if (!(p[0] == '0' && p[1] == '0' && p[2] == '0' && p[3] == '0')) { /* dates start at 0001 */
                if (ursa_parse_date(p, 10, &day) || day != floor_div(w, 86400000000LL))
                    fail("date part disagrees", data, size);
            }
            if (ursa_parse_time(p + 11, size - off_len - 11, &tod) ||
                tod != w - floor_div(w, 86400000000LL) * 86400000000LL)
                fail("time-of-day part disagrees", data, size);
        }
    }

    /* Re-render and re-parse, in every unit. */
    for (int u = 0; u < 3; u++) {
        if (r[u][1]) continue;
        char buf[64];
        size_t k = render(v[u][1], u, buf);
        int64_t w;
        if (k && (ursa_parse_timestamp_unit(buf, k, u, true, &w) || w != v[u][1]))
            fail("re-rendered value does not parse back the same", data, size);
    }

    if (!r_us) {
        int64_t days = ursa_us_to_days(us), y;
        unsigned m, d;
        ursa_civil_from_days(days, &y, &m, &d);
        if (ursa_days_from_civil(y, m, d) != days) fail("calendar round trip", data, size);
        if (m < 1 || m > 12 || d < 1 || d > 31) fail("civil date out of range", data, size);
        for (int u = 0; u < 3; u++)
            if (!r[u][1] && ursa_ts_to_days(v[u][1], u) != days)
                fail("day differs between units", data, size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    timestamp_checks(data, size);
    double v;
    int64_t i;
    (void)ursa_parse_i64((const char *)data, size, &i);
    /* ursa_parse_f64 requires scanner-validated input; only feed digits. */
    bool digits = size > 0 && size < 400;
    for (size_t k = 0; k < size && digits; k++) digits = data[k] >= '0' && data[k] <= '9';
    if (digits) (void)ursa_parse_f64((const char *)data, size, &v);
    return 0;
}
