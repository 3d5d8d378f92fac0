/*
 * coerce.c -- exact number and timestamp parsing for the ingest path.
 *
 * Doubles: the common case (at most 19 significant digits whose value fits
 * in 53 bits, decimal exponent within +-22) is exact as one multiplication
 * or division by an exactly representable power of ten (Clinger's fast
 * path). Everything else goes to strtod() on a NUL-terminated copy, which is
 * correctly rounded in glibc. We never call setlocale(), so strtod() uses
 * the "C" locale's decimal point.
 */
#include "coerce.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ursa_parse_i64(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && p[i] == '-') neg = true, i++;
    if (i == n) return "not an integer";
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t start = i;
    for (; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return (p[i] == '.' || p[i] == 'e' || p[i] == 'E') ? "not an integer" : "malformed number";
        if (v > (limit - d) / 10) {
            /* Keep scanning so "1.5e30" reads as "not an integer". */
            for (; i < n; i++)
                if (p[i] == '.' || p[i] == 'e' || p[i] == 'E') return "not an integer";
            return "integer out of range for int64";
        }
        v = v * 10 + d;
    }
    if (i - start > 1 && p[start] == '0') return "malformed number";
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NULL;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

const char *ursa_parse_f64(const char *p, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && p[i] == '-') neg = true, i++;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    bool exact = true;
    for (; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(p[i] - '0');
            if (mant) digits++;
        } else {
            exact = false;
        }
    }
    if (i < n && p[i] == '.') {
        for (i++; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(p[i] - '0');
                if (mant) digits++;
                exp10--;
            } else {
                exact = false;
            }
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (p[i] == '+' || p[i] == '-')) eneg = p[i] == '-', i++;
        int e = 0;
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++)
            if (e < 100000) e = e * 10 + (p[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (exact && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *out = neg ? -d : d;
        return NULL;
    }
    char small[64], *tmp = small;
    if (n >= sizeof(small)) {
        tmp = ursa_malloc(n + 1);
        if (!tmp) return "out of memory";
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    int e = errno;
    if (tmp != small) ursa_free(tmp);
    if (e == ERANGE && isinf(d)) return "number out of range for float64";
    *out = d; /* underflow to a subnormal or zero is the nearest double */
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Calendar. Days are counted in 400-year eras of 146097 days, with years
 * starting in March so the leap day falls at the end of the year.
 * ------------------------------------------------------------------------- */

int64_t ursa_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void ursa_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void ursa_format_date(int64_t days, char out[16])
{
    int64_t y;
    unsigned m, d;
    ursa_civil_from_days(days, &y, &m, &d);
    snprintf(out, 16, "%04lld-%02u-%02u", (long long)y, m, d);
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly k digits at p. Returns -1 when any is not a digit. */
static int digits(const char *p, int k)
{
    int v = 0;
    for (int i = 0; i < k; i++) {
        unsigned c = (unsigned char)p[i] - '0';
        if (c > 9) return -1;
        v = v * 10 + (int)c;
    }
    return v;
}

const char *ursa_parse_timestamp(const char *p, size_t n, int64_t *us)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 20) return "not an RFC 3339 timestamp";
    if (p[4] != '-' || p[7] != '-' || p[13] != ':' || p[16] != ':') return "not an RFC 3339 timestamp";
    if (p[10] != 'T' && p[10] != 't' && p[10] != ' ') return "not an RFC 3339 timestamp";
    int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
    int h = digits(p + 11, 2), mi = digits(p + 14, 2), s = digits(p + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return "not an RFC 3339 timestamp";
    if (mo < 1 || mo > 12) return "month out of range";
    int dim = mdays[mo - 1] + (mo == 2 && is_leap(y));
    if (d < 1 || d > dim) return "day out of range for month";
    if (h > 23) return "hour out of range";
    if (mi > 59) return "minute out of range";
    if (s > 59) return s == 60 ? "leap seconds are not supported" : "second out of range";
    size_t i = 19;
    int64_t frac = 0;
    if (p[i] == '.') {
        int nd = 0;
        for (i++; i < n && (unsigned)(p[i] - '0') <= 9; i++, nd++) {
            if (nd < 6) frac = frac * 10 + (p[i] - '0');
        }
        if (nd == 0 || nd > 9) return "fraction must have 1 to 9 digits";
        for (int k = nd; k < 6; k++) frac *= 10;
    }
    if (i >= n) return "missing time zone offset (Z or +HH:MM)";
    int64_t off = 0;
    if (p[i] == 'Z' || p[i] == 'z') {
        i++;
    } else if (p[i] == '+' || p[i] == '-') {
        if (n - i != 6 || p[i + 3] != ':') return "malformed time zone offset";
        int oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59) return "time zone offset out of range";
        off = (int64_t)(oh * 60 + om) * 60;
        if (p[i] == '-') off = -off;
        i += 6;
    } else {
        return "missing time zone offset (Z or +HH:MM)";
    }
    if (i != n) return "trailing characters after timestamp";
    int64_t secs = ursa_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s - off;
    *us = secs * 1000000 + frac;
    return NULL;
}
