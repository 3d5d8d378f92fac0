/*
 * quarantine.c -- the quarantine schema, rows from row errors, rows as JSON.
 *
 * The raw text of a refused record is what the client sent, so it may be
 * anything: megabytes long, or not UTF-8 at all (that may be why it was
 * refused). Parquet's STRING and JSON need valid UTF-8, so raw is stored
 * as text with every byte that is not part of a valid UTF-8 sequence
 * replaced by U+FFFD, and raw_replaced says that happened; it is cut after
 * URSA_QUARANTINE_RAW_MAX bytes on a character boundary (raw_truncated).
 * Valid text is kept byte for byte.
 */
#include "quarantine.h"

#include "coerce.h"

#include <stdio.h>
#include <string.h>

static const char SCHEMA_JSON[] = "{\"columns\":["
                                  "{\"name\":\"received_at\",\"type\":\"timestamp\",\"nullable\":false},"
                                  "{\"name\":\"request_id\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"row\",\"type\":\"uint64\",\"nullable\":false},"
                                  "{\"name\":\"line\",\"type\":\"uint64\",\"nullable\":false},"
                                  "{\"name\":\"column\",\"type\":\"string\"},"
                                  "{\"name\":\"reason\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"value\",\"type\":\"string\"},"
                                  "{\"name\":\"rule\",\"type\":\"string\"},"
                                  "{\"name\":\"raw\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"raw_truncated\",\"type\":\"bool\",\"nullable\":false},"
                                  "{\"name\":\"raw_replaced\",\"type\":\"bool\",\"nullable\":false}],"
                                  "\"time_column\":\"received_at\"}";

int ursa_quarantine_schema(ursa_schema_t *out, const ursa_flush_policy_t *policy)
{
    ursa_err_t err;
    int rc = ursa_schema_parse(SCHEMA_JSON, sizeof(SCHEMA_JSON) - 1, out, &err);
    if (rc) return URSA_ENOMEM; /* the text is ours and valid: only memory can fail */
    if (policy) out->flush = *policy;
    return URSA_OK;
}

int ursa_quarantine_name(const char *name, char *out, size_t n)
{
    int k = snprintf(out, n, "%s%s", URSA_QUARANTINE_PREFIX, name);
    return k > 0 && (size_t)k < n ? URSA_OK : URSA_EINVAL;
}

/* Length of the valid UTF-8 sequence at p (before end), or 0 when the
 * bytes there are not one (overlong forms, surrogates and code points
 * above U+10FFFF are not). */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t min, cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, min = 0x800, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* Appends the cleaned raw text to column c (see the file comment). */
static int append_raw(ursa_column_t *c, const char *raw, size_t n, bool *cut, bool *replaced, ursa_buf_t *tmp)
{
    static const uint8_t FFFD[3] = {0xEF, 0xBF, 0xBD};
    const uint8_t *p = (const uint8_t *)raw, *end = p + n;
    size_t kept = 0;
    *replaced = false;
    /* The fast case: valid and short enough, stored as it is. */
    const uint8_t *q = p;
    while (q < end && kept < URSA_QUARANTINE_RAW_MAX) {
        size_t k = utf8_seq(q, end);
        if (!k || kept + k > URSA_QUARANTINE_RAW_MAX) break;
        q += k;
        kept += k;
    }
    if (q == end) return ursa_column_append_str(c, raw, n);
    tmp->len = 0;
    int rc = URSA_OK;
    q = p;
    while (q < end && rc == URSA_OK) {
        size_t k = utf8_seq(q, end);
        const uint8_t *src = k ? q : FFFD;
        size_t sn = k ? k : 3;
        if (tmp->len + sn > URSA_QUARANTINE_RAW_MAX) {
            *cut = true;
            break;
        }
        if (!k) *replaced = true;
        rc = ursa_buf_append(tmp, src, sn);
        q += k ? k : 1;
    }
    if (rc == URSA_OK) rc = ursa_column_append_str(c, tmp->data ? tmp->data : (const uint8_t *)"", tmp->len);
    return rc;
}

int ursa_quarantine_append(ursa_batch_t *b, int64_t received_us, const char *request_id,
                           const ursa_row_error_t *e, const char *column)
{
    ursa_column_t *c = b->cols;
    ursa_buf_t tmp = {0};
    bool cut = e->raw_truncated, replaced = false;
    const char *reason = e->reason ? e->reason : "";
    int rc = ursa_column_append_i64(&c[URSA_Q_RECEIVED_AT], received_us);
    if (rc == URSA_OK) rc = ursa_column_append_str(&c[URSA_Q_REQUEST_ID], request_id, strlen(request_id));
    if (rc == URSA_OK) rc = ursa_column_append_fixed(&c[URSA_Q_ROW], &e->row);
    if (rc == URSA_OK) rc = ursa_column_append_fixed(&c[URSA_Q_LINE], &e->line);
    if (rc == URSA_OK)
        rc = column ? ursa_column_append_str(&c[URSA_Q_COLUMN], column, strlen(column))
                    : ursa_column_append_null(&c[URSA_Q_COLUMN]);
    if (rc == URSA_OK) rc = ursa_column_append_str(&c[URSA_Q_REASON], reason, strlen(reason));
    /* value and rule are NUL-terminated UTF-8 made by the scanner (invalid bytes already replaced) */
    if (rc == URSA_OK)
        rc = e->value[0] ? ursa_column_append_str(&c[URSA_Q_VALUE], e->value, strlen(e->value))
                         : ursa_column_append_null(&c[URSA_Q_VALUE]);
    if (rc == URSA_OK)
        rc = e->rule[0] ? ursa_column_append_str(&c[URSA_Q_RULE], e->rule, strlen(e->rule))
                        : ursa_column_append_null(&c[URSA_Q_RULE]);
    if (rc == URSA_OK)
        rc = append_raw(&c[URSA_Q_RAW], e->raw ? e->raw : "", e->raw ? e->raw_len : 0, &cut, &replaced, &tmp);
    if (rc == URSA_OK) rc = ursa_column_append_bool(&c[URSA_Q_RAW_TRUNCATED], cut);
    if (rc == URSA_OK) rc = ursa_column_append_bool(&c[URSA_Q_RAW_REPLACED], replaced);
    ursa_buf_free(&tmp);
    if (rc) {
        ursa_batch_truncate(b, b->nrows);
        return rc;
    }
    b->nrows++;
    return URSA_OK;
}

static int json_str_col(const ursa_column_t *c, size_t i, ursa_buf_t *out)
{
    if (!ursa_column_valid(c, i)) return ursa_buf_printf(out, "null");
    size_t n;
    const uint8_t *s = ursa_column_str(c, i, &n);
    return ursa_buf_json_str(out, (const char *)s, n);
}

int ursa_quarantine_row_json(const ursa_batch_t *b, size_t i, ursa_buf_t *out)
{
    const ursa_column_t *c = b->cols;
    int64_t us = ursa_column_i64(&c[URSA_Q_RECEIVED_AT], i);
    int64_t days = ursa_us_to_days(us), sod_us = us - days * 86400000000LL;
    char date[16];
    ursa_format_date(days, date);
    uint64_t row, line;
    memcpy(&row, ursa_column_ptr(&c[URSA_Q_ROW], i), 8);
    memcpy(&line, ursa_column_ptr(&c[URSA_Q_LINE], i), 8);
    int64_t s = sod_us / 1000000;
    int rc = ursa_buf_printf(out, "{\"received_at\":\"%sT%02d:%02d:%02d.%06dZ\",\"request_id\":", date,
                             (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60), (int)(sod_us % 1000000));
    if (rc == URSA_OK) rc = json_str_col(&c[URSA_Q_REQUEST_ID], i, out);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(out, ",\"row\":%llu,\"line\":%llu,\"column\":", (unsigned long long)row,
                             (unsigned long long)line);
    if (rc == URSA_OK) rc = json_str_col(&c[URSA_Q_COLUMN], i, out);
    if (rc == URSA_OK) rc = ursa_buf_printf(out, ",\"reason\":");
    if (rc == URSA_OK) rc = json_str_col(&c[URSA_Q_REASON], i, out);
    if (rc == URSA_OK) rc = ursa_buf_printf(out, ",\"value\":");
    if (rc == URSA_OK) rc = json_str_col(&c[URSA_Q_VALUE], i, out);
    if (rc == URSA_OK) rc = ursa_buf_printf(out, ",\"rule\":");
    if (rc == URSA_OK) rc = json_str_col(&c[URSA_Q_RULE], i, out);
    if (rc == URSA_OK) rc = ursa_buf_printf(out, ",\"raw\":");
    if (rc == URSA_OK) rc = json_str_col(&c[URSA_Q_RAW], i, out);
    if (rc == URSA_OK)
        rc = ursa_buf_printf(out, ",\"raw_truncated\":%s,\"raw_replaced\":%s}",
                             ursa_column_bool(&c[URSA_Q_RAW_TRUNCATED], i) ? "true" : "false",
                             ursa_column_bool(&c[URSA_Q_RAW_REPLACED], i) ? "true" : "false");
    return rc;
}
