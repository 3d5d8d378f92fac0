/*
 * libFuzzer driver for the RFC 3339 parser: it must never crash, and every
 * accepted timestamp must format back to a date whose day number matches.
 */
#include "coerce.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t us;
    if (ursa_parse_timestamp((const char *)data, size, &us) == NULL) {
        int64_t days = ursa_us_to_days(us), y;
        unsigned m, d;
        ursa_civil_from_days(days, &y, &m, &d);
        if (ursa_days_from_civil(y, m, d) != days) abort();
        if (m < 1 || m > 12 || d < 1 || d > 31) abort();
    }
    double v;
    int64_t i;
    (void)ursa_parse_i64((const char *)data, size, &i);
    /* ursa_parse_f64 requires scanner-validated input; only feed digits. */
    bool digits = size > 0 && size < 400;
    for (size_t k = 0; k < size && digits; k++) digits = data[k] >= '0' && data[k] <= '9';
    if (digits) (void)ursa_parse_f64((const char *)data, size, &v);
    return 0;
}
