/* Unit tests for coerce.c: integers, doubles, timestamps, calendar. */
#include "coerce.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static const char *i64(const char *s, int64_t *v)
{
    return ursa_parse_i64(s, strlen(s), v);
}

TEST(int64_exact)
{
    int64_t v = 0;
    CHECK(i64("0", &v) == NULL && v == 0);
    CHECK(i64("-0", &v) == NULL && v == 0);
    CHECK(i64("9223372036854775807", &v) == NULL && v == INT64_MAX);
    CHECK(i64("-9223372036854775808", &v) == NULL && v == INT64_MIN);
    CHECK(i64("9223372036854775808", &v) != NULL);
    CHECK(i64("-9223372036854775809", &v) != NULL);
    CHECK(i64("123456789012345678901234567890", &v) != NULL);
    CHECK(i64("1.5", &v) != NULL);
    CHECK(i64("1e3", &v) != NULL);
    CHECK(i64("01", &v) != NULL);
    CHECK(i64("-", &v) != NULL);
    CHECK(strcmp(i64("1.5", &v), "not an integer") == 0);
    CHECK(strcmp(i64("99999999999999999999", &v), "integer out of range for int64") == 0);
}

static double f64(const char *s)
{
    double d = -12345;
    const char *r = ursa_parse_f64(s, strlen(s), &d);
    return r ? NAN : d;
}

TEST(float64_correctly_rounded)
{
    /* Every case compared with glibc strtod, which rounds correctly. */
    static const char *const cases[] = {
        "0",
        "-0",
        "1",
        "-1.5",
        "3.141592653589793",
        "1e22",
        "1e23",
        "9007199254740993",
        "0.1",
        "0.30000000000000004",
        "2.2250738585072014e-308",
        "4.9e-324",
        "1.7976931348623157e308",
        "123456789012345678901234567890",
        "0.000000000000000000000000000001",
        "1e-400",
        "12345678901234567890.123e-5",
        "5e-324",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double want = strtod(cases[i], NULL), got = f64(cases[i]);
        if (memcmp(&want, &got, sizeof(double)) != 0)
            fprintf(stderr, "case %s: %.17g vs %.17g\n", cases[i], got, want);
        CHECK(memcmp(&want, &got, sizeof(double)) == 0);
    }
    CHECK(signbit(f64("-0")));
    double d;
    CHECK(ursa_parse_f64("1e400", 5, &d) != NULL);
    CHECK(ursa_parse_f64("-1e400", 6, &d) != NULL);
}

static const char *ts(const char *s, int64_t *us)
{
    return ursa_parse_timestamp(s, strlen(s), us);
}

TEST(timestamps)
{
    int64_t us = 0;
    CHECK(ts("1970-01-01T00:00:00Z", &us) == NULL && us == 0);
    CHECK(ts("1970-01-01T00:00:00.000001Z", &us) == NULL && us == 1);
    CHECK(ts("1969-12-31T23:59:59.999999Z", &us) == NULL && us == -1);
    CHECK(ts("2024-02-29T12:00:00Z", &us) == NULL && us == 1709208000000000LL);
    /* 9 digits: truncated to microseconds. */
    CHECK(ts("2024-02-29T12:00:00.123456789Z", &us) == NULL && us == 1709208000123456LL);
    CHECK(ts("2024-02-29T12:00:00.5Z", &us) == NULL && us == 1709208000500000LL);
    /* Offsets: the same instant three ways; the +05:30 one is on the previous UTC day. */
    int64_t a, b, c;
    CHECK(ts("2024-03-01T02:00:00+05:30", &a) == NULL);
    CHECK(ts("2024-02-29T20:30:00Z", &b) == NULL);
    CHECK(ts("2024-02-29 12:30:00-08:00", &c) == NULL);
    CHECK(a == b && b == c);
    CHECK(ursa_us_to_days(a) == ursa_days_from_civil(2024, 2, 29));
    CHECK(ts("0001-01-01T00:00:00Z", &us) == NULL);
    CHECK(ts("9999-12-31T23:59:59.999999Z", &us) == NULL && us == 253402300799999999LL);
    /* Impossible or malformed. */
    const char *bad[] = {
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00+0530",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00.1234567890Z",
        "2024-01-01",
        "2024-01-01T00:00:00Zjunk",
        "20240101T000000Z",
        "2024-1-01T00:00:00Z",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ts(bad[i], &us) == NULL) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(ts(bad[i], &us) != NULL);
    }
}

TEST(calendar_round_trip)
{
    for (int64_t d = -800000; d <= 800000; d += 7) {
        int64_t y;
        unsigned m, dd;
        ursa_civil_from_days(d, &y, &m, &dd);
        CHECK(ursa_days_from_civil(y, m, dd) == d);
    }
    char buf[16];
    ursa_format_date(0, buf);
    CHECK(strcmp(buf, "1970-01-01") == 0);
    ursa_format_date(-1, buf);
    CHECK(strcmp(buf, "1969-12-31") == 0);
    CHECK(ursa_us_to_days(-1) == -1);
    CHECK(ursa_us_to_days(86400000000LL) == 1);
}

int main(void)
{
    RUN(int64_exact);
    RUN(float64_correctly_rounded);
    RUN(timestamps);
    RUN(calendar_round_trip);
    return TEST_EXIT();
}
