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

/* Converts the number literal p[0..n) with glibc's strtod or strtof (both
 * correctly rounded) on a NUL-terminated copy: the input is not
 * terminated. Overflow gives an infinity, which the callers refuse. */
static const char *with_libc(const char *p, size_t n, bool single, double *d, float *f)
{
    char small[64], *tmp = small;
    if (n >= sizeof(small)) {
        tmp = ursa_malloc(n + 1);
        if (!tmp) return ursa_reason_nomem;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (single)
        *f = strtof(tmp, NULL);
    else
        *d = strtod(tmp, NULL);
    if (tmp != small) ursa_free(tmp);
    return NULL;
}

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
    double d;
    const char *r = with_libc(p, n, false, &d, NULL);
    if (r) return r;
    if (isinf(d)) return "number out of range for float64";
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

/* Reads "HH:MM:SS[.f]" at p (n bytes available); returns the bytes used
 * in *used, seconds of the day and nanoseconds. */
static const char *parse_clock(const char *p, size_t n, size_t *used, int *sod, int32_t *nanos)
{
    if (n < 8 || p[2] != ':' || p[5] != ':') return "not a time of day (HH:MM:SS)";
    int h = digits(p, 2), mi = digits(p + 3, 2), s = digits(p + 6, 2);
    if (h < 0 || mi < 0 || s < 0) return "not a time of day (HH:MM:SS)";
    if (h > 23) return "hour out of range";
    if (mi > 59) return "minute out of range";
    if (s > 59) return s == 60 ? "leap seconds are not supported" : "second out of range";
    size_t i = 8;
    int32_t ns = 0;
    if (i < n && p[i] == '.') {
        int nd = 0;
        for (i++; i < n && (unsigned)(p[i] - '0') <= 9; i++, nd++)
            if (nd < 9) ns = ns * 10 + (p[i] - '0');
        if (nd == 0 || nd > 9) return "fraction must have 1 to 9 digits";
        for (int k = nd; k < 9; k++) ns *= 10;
    }
    *used = i;
    *sod = h * 3600 + mi * 60 + s;
    *nanos = ns;
    return NULL;
}

/* Reads "YYYY-MM-DD" at p into days since the epoch. */
static const char *parse_ymd(const char *p, size_t n, int64_t *days)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 10 || p[4] != '-' || p[7] != '-') return "not a date (YYYY-MM-DD)";
    int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
    if (y < 0 || mo < 0 || d < 0) return "not a date (YYYY-MM-DD)";
    if (mo < 1 || mo > 12) return "month out of range";
    int dim = mdays[mo - 1] + (mo == 2 && is_leap(y));
    if (d < 1 || d > dim) return "day out of range for month";
    *days = ursa_days_from_civil(y, (unsigned)mo, (unsigned)d);
    return NULL;
}

/* RFC 3339: *secs since the epoch (UTC when *has_offset, else wall
 * clock) and *nanos within the second. */
static const char *parse_rfc3339(const char *p, size_t n, int64_t *secs, int32_t *nanos, bool *has_offset)
{
    int64_t days;
    if (n < 19) return "not an RFC 3339 timestamp";
    if (p[10] != 'T' && p[10] != 't' && p[10] != ' ') return "not an RFC 3339 timestamp";
    const char *r = parse_ymd(p, 10, &days);
    if (r) return r[0] == 'n' ? "not an RFC 3339 timestamp" : r;
    size_t used;
    int sod;
    if ((r = parse_clock(p + 11, n - 11, &used, &sod, nanos)))
        return r[0] == 'n' ? "not an RFC 3339 timestamp" : r;
    size_t i = 11 + used;
    int64_t off = 0;
    *has_offset = true;
    if (i == n) {
        *has_offset = false;
    } else if (p[i] == 'Z' || p[i] == 'z') {
        i++;
    } else if (p[i] == '+' || p[i] == '-') {
        if (n - i != 6 || p[i + 3] != ':') return "malformed time zone offset";
        int oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59) return "time zone offset out of range";
        off = (int64_t)(oh * 60 + om) * 60;
        if (p[i] == '-') off = -off;
        i += 6;
    } else {
        return "unexpected characters after the time";
    }
    if (i != n) return "trailing characters after timestamp";
    *secs = days * 86400 + sod - off;
    return NULL;
}

const char *ursa_parse_timestamp_unit(const char *p, size_t n, int unit, bool utc, int64_t *out)
{
    int64_t secs;
    int32_t nanos;
    bool has_offset;
    const char *r = parse_rfc3339(p, n, &secs, &nanos, &has_offset);
    if (r) return r;
    if (utc && !has_offset) return "missing time zone offset (Z or +HH:MM)";
    static const int64_t per_sec[] = {1000, 1000000, 1000000000};
    static const int32_t sub_div[] = {1000000, 1000, 1};
    int64_t v, sub = nanos / sub_div[unit];
    /* Before 1970 move one second into the fraction, so that the product
     * stays in range down to INT64_MIN itself. */
    if (secs < 0 && sub > 0) secs += 1, sub -= per_sec[unit];
    if (__builtin_mul_overflow(secs, per_sec[unit], &v) || __builtin_add_overflow(v, sub, &v))
        return "timestamp out of range for nanoseconds (1677-09-21 to 2262-04-11)";
    *out = v;
    return NULL;
}

const char *ursa_parse_timestamp(const char *p, size_t n, int64_t *us)
{
    return ursa_parse_timestamp_unit(p, n, 1, true, us);
}

const char *ursa_parse_date(const char *p, size_t n, int32_t *days)
{
    int64_t d;
    if (n != 10) return "not a date (YYYY-MM-DD)";
    if (p[0] == '0' && p[1] == '0' && p[2] == '0' && p[3] == '0') return "year out of range (0001 to 9999)";
    const char *r = parse_ymd(p, n, &d);
    if (r) return r;
    *days = (int32_t)d;
    return NULL;
}

const char *ursa_parse_time(const char *p, size_t n, int64_t *us)
{
    size_t used;
    int sod;
    int32_t nanos;
    const char *r = parse_clock(p, n, &used, &sod, &nanos);
    if (r) return r;
    if (used != n) return "not a time of day (HH:MM:SS)";
    *us = (int64_t)sod * 1000000 + nanos / 1000;
    return NULL;
}

const char *ursa_parse_u64(const char *p, size_t n, uint64_t *out)
{
    if (n && p[0] == '-') {
        int64_t v;
        const char *r = ursa_parse_i64(p, n, &v);
        return r ? r : v == 0 ? (*out = 0, NULL) : "negative value for an unsigned column";
    }
    if (n == 0) return "not an integer";
    if (n > 1 && p[0] == '0') return "malformed number";
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return (p[i] == '.' || p[i] == 'e' || p[i] == 'E') ? "not an integer" : "malformed number";
        if (v > (UINT64_MAX - d) / 10) {
            for (; i < n; i++)
                if (p[i] == '.' || p[i] == 'e' || p[i] == 'E') return "not an integer";
            return "integer out of range for uint64";
        }
        v = v * 10 + d;
    }
    *out = v;
    return NULL;
}

const char *ursa_parse_f32(const char *p, size_t n, float *out)
{
    float f;
    const char *r = with_libc(p, n, true, NULL, &f);
    if (r) return r;
    if (isinf(f)) return "number out of range for float32";
    *out = f;
    return NULL;
}

const char *ursa_parse_decimal(const char *p, size_t n, int precision, int scale, __int128 *out)
{
    static const char R_FORMAT[] = "not a decimal number";
    size_t i = 0;
    bool neg = false;
    if (i < n && (p[i] == '-' || p[i] == '+')) neg = p[i++] == '-';
    __int128 mant = 0;
    int sig = 0;      /* significant digits in mant */
    int frac = 0;     /* digits after the point taken into mant */
    long pending = 0; /* zeros not yet multiplied into mant */
    bool any = false;
    for (int part = 0; part < 2; part++) {
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
            int d = p[i] - '0';
            any = true;
            if (part) frac++;
            if (d == 0) {
                if (sig) pending++;
                continue;
            }
            /* Bring in the zeros seen since the last non-zero digit. */
            for (; pending > 0; pending--) {
                if (++sig > 38) return "too many digits for a decimal";
                mant *= 10;
            }
            if (++sig > 38) return "too many digits for a decimal";
            mant = mant * 10 + d;
        }
        if (part == 0) {
            if (i < n && p[i] == '.') {
                i++;
                if (i == n || (unsigned)(p[i] - '0') > 9) return R_FORMAT;
            } else {
                break;
            }
        }
    }
    if (!any) return R_FORMAT;
    long e = 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (p[i] == '+' || p[i] == '-')) eneg = p[i++] == '-';
        if (i == n) return R_FORMAT;
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++)
            if (e < 100000) e = e * 10 + (p[i] - '0');
        if (eneg) e = -e;
    }
    if (i != n) return R_FORMAT;
    /* value = mant * 10^(pending - frac + e); unscaled = value * 10^scale */
    long k = pending - frac + e + scale;
    if (mant == 0) {
        *out = 0;
        return NULL;
    }
    for (; k < 0; k++) {
        if (mant % 10) return "more fractional digits than the scale allows";
        mant /= 10;
        sig--;
    }
    if (sig + k > precision) return "too many integer digits for the precision";
    for (; k > 0; k--) mant *= 10;
    *out = neg ? -mant : mant;
    return NULL;
}

const char *ursa_parse_base64(const char *p, size_t n, ursa_buf_t *out)
{
    static signed char map[256];
    static bool ready; /* benign race: every thread writes the same bytes */
    if (!ready) {
        memset(map, -1, sizeof(map));
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; i++) map[(unsigned char)a[i]] = (signed char)i;
        ready = true;
    }
    size_t len = n;
    if (len >= 1 && p[len - 1] == '=') len--;
    if (len >= 1 && p[len - 1] == '=') len--;
    if (len % 4 == 1 || (len != n && (n % 4) != 0)) return "invalid base64 length";
    if (ursa_buf_reserve(out, len / 4 * 3 + 3)) return ursa_reason_nomem;
    uint8_t *o = out->data + out->len;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = map[(unsigned char)p[i]];
        if (v < 0) return "invalid base64 character";
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(acc >> bits);
        }
    }
    if (bits && (acc & ((1u << bits) - 1))) return "invalid base64 (non-zero padding bits)";
    out->len = (size_t)(o - out->data);
    return NULL;
}

const char *ursa_parse_uuid(const char *p, size_t n, uint8_t out[16])
{
    bool dashed = n == 36;
    if (!dashed && n != 32) return "not a UUID";
    if (dashed && (p[8] != '-' || p[13] != '-' || p[18] != '-' || p[23] != '-')) return "not a UUID";
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) continue;
        unsigned c = (unsigned char)p[i];
        int v = c - '0' <= 9 ? (int)(c - '0') : ((c | 0x20) - 'a' <= 5 ? (int)((c | 0x20) - 'a' + 10) : -1);
        if (v < 0) return "not a UUID";
        if (k & 1)
            out[k / 2] |= (uint8_t)v;
        else
            out[k / 2] = (uint8_t)(v << 4);
        k++;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Declared date-time formats and epoch numbers (harmonization rules)
 * ------------------------------------------------------------------------- */

static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char lower_ascii(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

const char *ursa_format_check(const char *fmt)
{
    if (!*fmt) return "a format must not be empty";
    bool date = false, time = false, ampm = false, hour12 = false;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') continue;
        switch (*++f) {
        case 'Y':
        case 'y':
        case 'm':
        case 'd':
        case 'e':
        case 'b':
        case 'h':
        case 'B':
        case 'j':
        case 'F':
            date = true;
            break;
        case 'I':
            hour12 = true;
            time = true;
            break;
        case 'p':
            ampm = true;
            break;
        case 'H':
        case 'M':
        case 'S':
        case 'f':
        case 'T':
            time = true;
            break;
        case 'z':
        case '%':
            break;
        case '\0':
            return "a format must not end with a lone %";
        default:
            return "unknown directive in format (use %Y %y %m %d %e %b %B %j %H %I %p %M %S %f %z %T %F %%)";
        }
    }
    if (hour12 != ampm) return "%I and %p go together";
    if (!date && !time) return "a format needs date or time directives";
    return NULL;
}

/* Reads 1..max digits at *s (bounded by e) into *v. */
static bool fmt_num(const char **s, const char *e, int min, int max, int *v)
{
    int k = 0, x = 0;
    while (*s < e && k < max && (unsigned)(**s - '0') <= 9) x = x * 10 + (*(*s)++ - '0'), k++;
    *v = x;
    return k >= min;
}

const char *ursa_parse_format(const char *fmt, const char *s, size_t n, ursa_datetime_t *out)
{
    static const char R_NOMATCH[] = "does not match the declared format";
    const char *e = s + n;
    int year = 1970, mon = 1, day = 1, hour = 0, min = 0, sec = 0, yday = 0, pm = -1, v;
    uint32_t nanos = 0;
    memset(out, 0, sizeof(*out));
    for (const char *f = fmt; *f; f++) {
        if (is_space(*f)) {
            while (s < e && is_space(*s)) s++;
            continue;
        }
        if (*f != '%') {
            if (s >= e || *s != *f) return R_NOMATCH;
            s++;
            continue;
        }
        switch (*++f) {
        case 'Y':
            if (!fmt_num(&s, e, 4, 4, &year)) return R_NOMATCH;
            out->has_date = true;
            break;
        case 'y':
            if (!fmt_num(&s, e, 2, 2, &v)) return R_NOMATCH;
            year = v < 69 ? 2000 + v : 1900 + v;
            out->has_date = true;
            break;
        case 'm':
            if (!fmt_num(&s, e, 1, 2, &mon)) return R_NOMATCH;
            break;
        case 'd':
        case 'e':
            while (*f == 'e' && s < e && *s == ' ') s++;
            if (!fmt_num(&s, e, 1, 2, &day)) return R_NOMATCH;
            break;
        case 'j':
            if (!fmt_num(&s, e, 1, 3, &yday) || yday < 1) return R_NOMATCH;
            break;
        case 'b':
        case 'h':
        case 'B': {
            int m = -1;
            for (int i = 0; i < 12 && m < 0; i++) {
                size_t len = *f == 'B' ? strlen(month_names[i]) : 3;
                if ((size_t)(e - s) < len) continue;
                size_t k = 0;
                while (k < len && lower_ascii(s[k]) == month_names[i][k]) k++;
                if (k == len) m = i, s += len;
            }
            if (m < 0) return R_NOMATCH;
            mon = m + 1;
            break;
        }
        case 'H':
        case 'I':
            if (!fmt_num(&s, e, 1, 2, &hour)) return R_NOMATCH;
            if (*f == 'I' && (hour < 1 || hour > 12)) return "hour out of range";
            break;
        case 'p':
            if (e - s < 2 || lower_ascii(s[1]) != 'm' ||
                (lower_ascii(s[0]) != 'a' && lower_ascii(s[0]) != 'p'))
                return R_NOMATCH;
            pm = lower_ascii(s[0]) == 'p';
            s += 2;
            break;
        case 'M':
            if (!fmt_num(&s, e, 1, 2, &min)) return R_NOMATCH;
            break;
        case 'S':
            if (!fmt_num(&s, e, 1, 2, &sec)) return R_NOMATCH;
            break;
        case 'f': {
            int k = 0;
            while (s < e && (unsigned)(*s - '0') <= 9) {
                if (k == 9) return "fraction must have 1 to 9 digits";
                nanos = nanos * 10 + (uint32_t)(*s++ - '0'), k++;
            }
            if (!k) return R_NOMATCH;
            for (; k < 9; k++) nanos *= 10;
            break;
        }
        case 'z': {
            if (s < e && (*s == 'Z' || *s == 'z')) {
                s++;
                out->has_offset = true;
                break;
            }
            if (s >= e || (*s != '+' && *s != '-')) return R_NOMATCH;
            int sign = *s++ == '-' ? -1 : 1, hh, mm = 0;
            if (!fmt_num(&s, e, 2, 2, &hh)) return R_NOMATCH;
            if (s < e && *s == ':') s++;
            if (s < e && (unsigned)(*s - '0') <= 9 && !fmt_num(&s, e, 2, 2, &mm)) return R_NOMATCH;
            if (hh > 23 || mm > 59) return "offset out of range";
            out->has_offset = true;
            out->offset_min = sign * (hh * 60 + mm);
            break;
        }
        case 'T':
            if (!fmt_num(&s, e, 1, 2, &hour) || s >= e || *s++ != ':' || !fmt_num(&s, e, 1, 2, &min) ||
                s >= e || *s++ != ':' || !fmt_num(&s, e, 1, 2, &sec))
                return R_NOMATCH;
            break;
        case 'F':
            if (!fmt_num(&s, e, 4, 4, &year) || s >= e || *s++ != '-' || !fmt_num(&s, e, 1, 2, &mon) ||
                s >= e || *s++ != '-' || !fmt_num(&s, e, 1, 2, &day))
                return R_NOMATCH;
            out->has_date = true;
            break;
        case '%':
            if (s >= e || *s != '%') return R_NOMATCH;
            s++;
            break;
        default:
            return R_NOMATCH; /* checked formats never get here */
        }
        if (*f == 'm' || *f == 'd' || *f == 'e' || *f == 'j' || *f == 'b' || *f == 'h' || *f == 'B')
            out->has_date = true;
        if (*f == 'H' || *f == 'I' || *f == 'M' || *f == 'S' || *f == 'f' || *f == 'T') out->has_time = true;
    }
    if (s != e) return R_NOMATCH;
    if (pm >= 0) hour = hour % 12 + (pm ? 12 : 0);
    if (year < 1) return "year out of range (0001 to 9999)";
    if (mon < 1 || mon > 12) return "month out of range";
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (yday) {
        int left = yday;
        for (mon = 1; mon <= 12; mon++) {
            int dim = mdays[mon - 1] + (mon == 2 && is_leap(year));
            if (left <= dim) break;
            left -= dim;
        }
        if (mon > 12) return "day of the year out of range";
        day = left;
    }
    int dim = mdays[mon - 1] + (mon == 2 && is_leap(year));
    if (day < 1 || day > dim) return "day out of range for month";
    if (hour > 23) return "hour out of range";
    if (min > 59) return "minute out of range";
    if (sec > 59) return sec == 60 ? "leap seconds are not supported" : "second out of range";
    out->year = year;
    out->month = (unsigned)mon;
    out->day = (unsigned)day;
    out->hour = (unsigned)hour;
    out->minute = (unsigned)min;
    out->second = (unsigned)sec;
    out->nanos = nanos;
    return NULL;
}

const char *ursa_datetime_to_ts(const ursa_datetime_t *d, int unit, int64_t *out)
{
    static const int64_t per_sec[] = {1000, 1000000, 1000000000};
    static const int32_t sub_div[] = {1000000, 1000, 1};
    int64_t secs = ursa_days_from_civil(d->year, d->month, d->day) * 86400 + d->hour * 3600 + d->minute * 60 +
                   d->second - (d->has_offset ? d->offset_min * 60 : 0);
    int64_t v, sub = d->nanos / sub_div[unit];
    if (secs < 0 && sub > 0) secs += 1, sub -= per_sec[unit];
    if (__builtin_mul_overflow(secs, per_sec[unit], &v) || __builtin_add_overflow(v, sub, &v))
        return "timestamp out of range for nanoseconds (1677-09-21 to 2262-04-11)";
    *out = v;
    return NULL;
}

const char *ursa_parse_epoch(const char *p, size_t n, int epoch_unit, int unit, int64_t *out)
{
    static const char R_EPOCH[] = "not an epoch number (digits, optionally a fraction; no exponent)";
    /* Exponents of ten: a value of epoch_unit in nanoseconds, a unit in nanoseconds. */
    static const int in_ns[] = {9, 6, 3, 0}, unit_ns[] = {6, 3, 0};
    size_t i = 0;
    bool neg = n && p[0] == '-';
    i += neg;
    __int128 ip = 0, fp = 0;
    int fd = 0, id = 0;
    for (; i < n && (unsigned)(p[i] - '0') <= 9; i++, id++) {
        ip = ip * 10 + (p[i] - '0');
        if (ip > (__int128)1 << 80) return "epoch number out of range";
    }
    if (!id) return R_EPOCH;
    if (i < n && p[i] == '.') {
        for (i++; i < n && (unsigned)(p[i] - '0') <= 9; i++)
            if (fd < 18) fp = fp * 10 + (p[i] - '0'), fd++;
        if (!fd) return R_EPOCH;
    }
    if (i != n) return R_EPOCH;
    /* Everything in units of 10^-18 of epoch_unit would overflow; scale to
     * nanoseconds: ns = ip * 10^a + fp * 10^a / 10^fd. */
    __int128 a = 1, frac_scale = 1;
    for (int k = 0; k < in_ns[epoch_unit]; k++) a *= 10;
    for (int k = 0; k < fd; k++) frac_scale *= 10;
    __int128 ns = ip * a, fr = fp * a; /* fr / frac_scale nanoseconds, a fraction of one below */
    __int128 whole = fr / frac_scale;
    bool rest = fr % frac_scale != 0;
    ns += whole;
    if (neg) ns = -ns - (rest ? 1 : 0); /* toward the past */
    __int128 div = 1;
    for (int k = 0; k < unit_ns[unit]; k++) div *= 10;
    __int128 q = ns / div;
    if (ns % div != 0 && ns < 0) q -= 1;
    if (q > INT64_MAX || q < INT64_MIN) return "epoch number out of range for the column's unit";
    *out = (int64_t)q;
    return NULL;
}
