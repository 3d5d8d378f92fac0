/*
 * exec_expr.c -- vectorized evaluation of typed expression trees (see
 * exec_expr.h for the semantics). Each node evaluates its arguments into
 * dense vectors over the same selection, then runs one kernel: a loop over
 * arrays, nulls merged bytewise. Errors stop the batch (and the query).
 */
#include "exec_expr.h"

#include "coerce.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unistr.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define US_PER_DAY 86400000000LL

static int fail(exec_ctx_t *cx, int rc, const char *fmt, ...) URSA_PRINTF(3, 4);
static int fail(exec_ctx_t *cx, int rc, const char *fmt, ...)
{
    if (cx->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->err->msg, sizeof(cx->err->msg), fmt, ap);
        va_end(ap);
        cx->err->code = rc;
    }
    return rc;
}

static int nomem(exec_ctx_t *cx)
{
    return fail(cx, URSA_ELIMIT, "the query needs more memory than its budget allows");
}

static void *alloc(exec_ctx_t *cx, size_t n)
{
    return exec_arena_alloc(cx->arena, n ? n : 1);
}

/* ---- trees ---- */

exec_expr_t *exec_expr_new(exec_op_t op, exec_type_t type)
{
    exec_expr_t *e = ursa_calloc(1, sizeof(*e));
    if (e) e->op = op, e->type = type;
    return e;
}

int exec_expr_add(exec_expr_t *e, exec_expr_t *a)
{
    exec_expr_t **p = ursa_realloc(e->args, (e->nargs + 1) * sizeof(*p));
    if (!p) {
        exec_expr_free(a);
        return URSA_ENOMEM;
    }
    e->args = p;
    e->args[e->nargs++] = a;
    return URSA_OK;
}

void exec_expr_free(exec_expr_t *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->nargs; i++) exec_expr_free(e->args[i]);
    ursa_free(e->args);
    if (e->op == OP_CONST && e->value.type == EXEC_STRING) ursa_free((char *)e->value.v.s.p);
    ursa_free(e->text);
    ursa_free(e);
}

static bool value_equal(const exec_value_t *a, const exec_value_t *b)
{
    if (a->type != b->type || a->null != b->null) return false;
    if (a->null) return true;
    switch (a->type) {
    case EXEC_FLOAT64:
        return memcmp(&a->v.f, &b->v.f, 8) == 0;
    case EXEC_STRING:
        return a->v.s.n == b->v.s.n && memcmp(a->v.s.p, b->v.s.p, a->v.s.n) == 0;
    case EXEC_INTERVAL:
        return memcmp(&a->v.iv, &b->v.iv, sizeof(a->v.iv)) == 0;
    default:
        return a->v.i == b->v.i;
    }
}

bool exec_expr_equal(const exec_expr_t *a, const exec_expr_t *b)
{
    if (a->op != b->op || a->type != b->type || a->nargs != b->nargs || a->unit != b->unit) return false;
    if ((a->op == OP_COL || a->op == OP_AGG) && a->col != b->col) return false;
    if (a->op == OP_CONST && !value_equal(&a->value, &b->value)) return false;
    if ((a->text || b->text) && (!a->text || !b->text || strcmp(a->text, b->text))) return false;
    for (size_t i = 0; i < a->nargs; i++)
        if (!exec_expr_equal(a->args[i], b->args[i])) return false;
    return true;
}

bool exec_expr_is_const(const exec_expr_t *e)
{
    if (e->op == OP_COL || e->op == OP_AGG) return false;
    for (size_t i = 0; i < e->nargs; i++)
        if (!exec_expr_is_const(e->args[i])) return false;
    return true;
}

/* ---- time ---- */

int exec_time_unit(const char *s)
{
    static const struct {
        const char *name;
        int unit;
    } names[] = {
        {"microsecond", TU_MICROSECOND},
        {"microseconds", TU_MICROSECOND},
        {"us", TU_MICROSECOND},
        {"millisecond", TU_MILLISECOND},
        {"milliseconds", TU_MILLISECOND},
        {"ms", TU_MILLISECOND},
        {"second", TU_SECOND},
        {"seconds", TU_SECOND},
        {"s", TU_SECOND},
        {"minute", TU_MINUTE},
        {"minutes", TU_MINUTE},
        {"m", TU_MINUTE},
        {"hour", TU_HOUR},
        {"hours", TU_HOUR},
        {"h", TU_HOUR},
        {"day", TU_DAY},
        {"days", TU_DAY},
        {"d", TU_DAY},
        {"week", TU_WEEK},
        {"weeks", TU_WEEK},
        {"w", TU_WEEK},
        {"month", TU_MONTH},
        {"months", TU_MONTH},
        {"quarter", TU_QUARTER},
        {"year", TU_YEAR},
        {"years", TU_YEAR},
        {"y", TU_YEAR},
        {"decade", TU_DECADE},
        {"century", TU_CENTURY},
        {"millennium", TU_MILLENNIUM},
        {"dow", TU_DOW},
        {"dayofweek", TU_DOW},
        {"isodow", TU_ISODOW},
        {"doy", TU_DOY},
        {"dayofyear", TU_DOY},
        {"epoch", TU_EPOCH},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i].name) == 0) return names[i].unit;
    return -1;
}

bool exec_parse_timestamp(const char *s, size_t n, int64_t *us)
{
    while (n && (s[0] == ' ')) s++, n--;
    while (n && s[n - 1] == ' ') n--;
    int32_t days;
    if (n == 10 && ursa_parse_date(s, n, &days) == NULL) {
        *us = (int64_t)days * US_PER_DAY;
        return true;
    }
    return ursa_parse_timestamp_unit(s, n, 1, false, us) == NULL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

bool exec_ts_add_interval(int64_t ts, const exec_interval_t *iv, int sign, int64_t *out)
{
    int64_t r = ts;
    if (iv->months) {
        int64_t day = floor_div(r, US_PER_DAY), tod = r - day * US_PER_DAY, y;
        unsigned m, d;
        ursa_civil_from_days(day, &y, &m, &d);
        int64_t mm = (int64_t)y * 12 + (m - 1) + (int64_t)sign * iv->months;
        y = floor_div(mm, 12);
        m = (unsigned)(mm - y * 12) + 1;
        if (d > days_in_month(y, m)) d = days_in_month(y, m);
        r = ursa_days_from_civil(y, m, d) * US_PER_DAY + tod;
    }
    int64_t add;
    if (__builtin_mul_overflow((int64_t)iv->days, US_PER_DAY, &add) ||
        __builtin_add_overflow(add, iv->us, &add) || (sign < 0 && add == INT64_MIN) ||
        __builtin_add_overflow(r, sign < 0 ? -add : add, &r))
        return false;
    *out = r;
    return true;
}

static int64_t trunc_ts(int64_t ts, int unit)
{
    int64_t day = floor_div(ts, US_PER_DAY), y;
    unsigned m, d;
    switch (unit) {
    case TU_MICROSECOND:
        return ts;
    case TU_MILLISECOND:
        return floor_div(ts, 1000) * 1000;
    case TU_SECOND:
        return floor_div(ts, 1000000) * 1000000;
    case TU_MINUTE:
        return floor_div(ts, 60000000) * 60000000;
    case TU_HOUR:
        return floor_div(ts, 3600000000LL) * 3600000000LL;
    case TU_DAY:
        return day * US_PER_DAY;
    case TU_WEEK: /* ISO weeks begin on Monday; 1970-01-01 was a Thursday */
        return (day - ((day + 3) % 7 + 7) % 7) * US_PER_DAY;
    default:
        break;
    }
    ursa_civil_from_days(day, &y, &m, &d);
    switch (unit) {
    case TU_MONTH:
        return ursa_days_from_civil(y, m, 1) * US_PER_DAY;
    case TU_QUARTER:
        return ursa_days_from_civil(y, (m - 1) / 3 * 3 + 1, 1) * US_PER_DAY;
    case TU_YEAR:
        return ursa_days_from_civil(y, 1, 1) * US_PER_DAY;
    case TU_DECADE:
        return ursa_days_from_civil(floor_div(y, 10) * 10, 1, 1) * US_PER_DAY;
    case TU_CENTURY:
        return ursa_days_from_civil(y > 0 ? (y - 1) / 100 * 100 + 1 : -((-y) / 100 * 100) - 99, 1, 1) *
               US_PER_DAY;
    case TU_MILLENNIUM:
        return ursa_days_from_civil(y > 0 ? (y - 1) / 1000 * 1000 + 1 : -((-y) / 1000 * 1000) - 999, 1, 1) *
               US_PER_DAY;
    default:
        return ts;
    }
}

static int64_t extract_ts(int64_t ts, int unit)
{
    int64_t day = floor_div(ts, US_PER_DAY), tod = ts - day * US_PER_DAY, y;
    unsigned m, d;
    ursa_civil_from_days(day, &y, &m, &d);
    switch (unit) {
    case TU_MICROSECOND:
        return tod % 60000000;
    case TU_MILLISECOND:
        return tod % 60000000 / 1000;
    case TU_SECOND:
        return tod / 1000000 % 60;
    case TU_MINUTE:
        return tod / 60000000 % 60;
    case TU_HOUR:
        return tod / 3600000000LL;
    case TU_DAY:
        return d;
    case TU_WEEK: {                           /* ISO 8601 week number */
        int64_t wd = ((day + 3) % 7 + 7) % 7; /* 0 = Monday */
        int64_t thursday = day - wd + 3, ty;
        unsigned tm, td;
        ursa_civil_from_days(thursday, &ty, &tm, &td);
        return (thursday - ursa_days_from_civil(ty, 1, 1)) / 7 + 1;
    }
    case TU_MONTH:
        return m;
    case TU_QUARTER:
        return (m - 1) / 3 + 1;
    case TU_YEAR:
        return y;
    case TU_DECADE:
        return floor_div(y, 10);
    case TU_CENTURY:
        return y > 0 ? (y + 99) / 100 : -((-y + 99) / 100);
    case TU_MILLENNIUM:
        return y > 0 ? (y + 999) / 1000 : -((-y + 999) / 1000);
    case TU_DOW:
        return ((day + 4) % 7 + 7) % 7;
    case TU_ISODOW:
        return ((day + 3) % 7 + 7) % 7 + 1;
    case TU_DOY:
        return day - ursa_days_from_civil(y, 1, 1) + 1;
    default:
        return 0;
    }
}

/* time_bucket(width, ts): buckets of a fixed width counted from 2000-01-03
 * (a Monday), or of whole months from 2000-01-01, as DuckDB counts them. */
static bool bucket_ts(const exec_interval_t *w, int64_t ts, int64_t *out)
{
    if (w->months) {
        int64_t day = floor_div(ts, US_PER_DAY), y;
        unsigned m, d;
        ursa_civil_from_days(day, &y, &m, &d);
        int64_t mm = (y - 2000) * 12 + (m - 1), b = floor_div(mm, w->months) * w->months;
        int64_t by = 2000 + floor_div(b, 12);
        *out = ursa_days_from_civil(by, (unsigned)(b - floor_div(b, 12) * 12) + 1, 1) * US_PER_DAY;
        return true;
    }
    int64_t width = (int64_t)w->days * US_PER_DAY + w->us;
    int64_t origin = ursa_days_from_civil(2000, 1, 3) * US_PER_DAY;
    *out = floor_div(ts - origin, width) * width + origin;
    return true;
}

/* ---- intervals ---- */

bool exec_parse_interval(const char *s, size_t n, exec_interval_t *iv)
{
    memset(iv, 0, sizeof(*iv));
    char buf[128];
    if (n == 0 || n >= sizeof(buf)) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *p = buf;
    bool any = false;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        char *end;
        int sign = 1;
        if (strchr(p, ':') && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9')) &&
            strcspn(p, ":") < strcspn(p, " ")) {
            /* [-]HH:MM[:SS[.f]] */
            if (*p == '-') sign = -1, p++;
            long h = strtol(p, &end, 10);
            if (end == p || *end != ':') return false;
            p = end + 1;
            long mi = strtol(p, &end, 10);
            if (end == p) return false;
            p = end;
            double sec = 0;
            if (*p == ':') {
                p++;
                sec = strtod(p, &end);
                if (end == p) return false;
                p = end;
            }
            iv->us +=
                sign * ((int64_t)h * 3600000000LL + (int64_t)mi * 60000000 + (int64_t)llround(sec * 1e6));
            any = true;
            continue;
        }
        double v = strtod(p, &end);
        if (end == p) return false;
        p = end;
        while (*p == ' ') p++;
        char unit[32];
        size_t k = 0;
        while (*p && *p != ' ' && k + 1 < sizeof(unit)) unit[k++] = *p++;
        unit[k] = '\0';
        if (k == 0) return false;
        if (k > 1 && (unit[k - 1] == 's') && strcasecmp(unit, "ms") && strcasecmp(unit, "us"))
            unit[k - 1] = '\0';
        if (!strcasecmp(unit, "mon") || !strcasecmp(unit, "month"))
            iv->months += (int32_t)v;
        else {
            int u = exec_time_unit(unit);
            switch (u) {
            case TU_YEAR:
                iv->months += (int32_t)(v * 12);
                break;
            case TU_MONTH:
                iv->months += (int32_t)v;
                break;
            case TU_WEEK:
                iv->days += (int32_t)(v * 7);
                break;
            case TU_DAY:
                iv->days += (int32_t)v;
                break;
            case TU_HOUR:
                iv->us += (int64_t)llround(v * 3600e6);
                break;
            case TU_MINUTE:
                iv->us += (int64_t)llround(v * 60e6);
                break;
            case TU_SECOND:
                iv->us += (int64_t)llround(v * 1e6);
                break;
            case TU_MILLISECOND:
                iv->us += (int64_t)llround(v * 1e3);
                break;
            case TU_MICROSECOND:
                iv->us += (int64_t)llround(v);
                break;
            default:
                return false;
            }
        }
        any = true;
    }
    return any;
}

/* ---- values ---- */

static int cmp_f64(double a, double b)
{
    if (isnan(a)) return isnan(b) ? 0 : 1;
    if (isnan(b)) return -1;
    return a < b ? -1 : a > b;
}

static int cmp_str(exec_str_t a, exec_str_t b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a.n < b.n ? -1 : a.n > b.n;
}

static __int128 interval_key(const exec_interval_t *iv)
{
    return ((__int128)iv->months * 30 + iv->days) * US_PER_DAY + iv->us;
}

int exec_cmp_value(exec_type_t t, const exec_vec_t *a, size_t i, const exec_vec_t *b, size_t j)
{
    switch (t) {
    case EXEC_BOOL:
        return a->v.b[i] < b->v.b[j] ? -1 : a->v.b[i] > b->v.b[j];
    case EXEC_FLOAT64:
        return cmp_f64(a->v.f[i], b->v.f[j]);
    case EXEC_STRING:
        return cmp_str(a->v.s[i], b->v.s[j]);
    case EXEC_INTERVAL: {
        __int128 x = interval_key(&a->v.iv[i]), y = interval_key(&b->v.iv[j]);
        return x < y ? -1 : x > y;
    }
    case EXEC_NULL:
        return 0;
    default:
        return a->v.i[i] < b->v.i[j] ? -1 : a->v.i[i] > b->v.i[j];
    }
}

/* ---- vectors ---- */

static int vec(exec_ctx_t *cx, exec_vec_t *v, exec_type_t t, size_t n)
{
    return exec_vec_alloc(v, cx->arena, t, n) ? nomem(cx) : URSA_OK;
}

static int vec_nulls(exec_ctx_t *cx, exec_vec_t *v)
{
    return exec_vec_nulls(v, cx->arena) ? nomem(cx) : URSA_OK;
}

/* The nulls of a result whose row is null when any input's is. */
static int merge_nulls(exec_ctx_t *cx, exec_vec_t *out, const exec_vec_t *a, const exec_vec_t *b, size_t n)
{
    if (!a->nulls && (!b || !b->nulls)) return URSA_OK;
    if (!(out->nulls = alloc(cx, n))) return nomem(cx);
    if (a->nulls && b && b->nulls)
        for (size_t i = 0; i < n; i++) out->nulls[i] = a->nulls[i] | b->nulls[i];
    else
        memcpy(out->nulls, a->nulls ? a->nulls : b->nulls, n);
    return URSA_OK;
}

int exec_vec_gather(exec_ctx_t *cx, const exec_vec_t *v, const uint32_t *sel, size_t n, exec_vec_t *out)
{
    int rc = vec(cx, out, v->type, n);
    if (rc) return rc;
    size_t w = exec_type_width(v->type);
    switch (w) {
    case 1:
        for (size_t k = 0; k < n; k++) out->v.b[k] = v->v.b[sel[k]];
        break;
    case 8:
        for (size_t k = 0; k < n; k++) out->v.i[k] = v->v.i[sel[k]];
        break;
    case 0:
        break;
    default:
        for (size_t k = 0; k < n; k++)
            memcpy((char *)out->v.p + k * w, (const char *)v->v.p + (size_t)sel[k] * w, w);
    }
    if (v->nulls) {
        if ((rc = vec_nulls(cx, out))) return rc;
        for (size_t k = 0; k < n; k++) out->nulls[k] = v->nulls[sel[k]];
    }
    if (v->codes) {
        uint32_t *c = exec_arena_alloc(cx->arena, (n ? n : 1) * sizeof(*c));
        if (!c) return nomem(cx);
        for (size_t k = 0; k < n; k++) c[k] = v->codes[sel[k]];
        out->codes = c, out->dict = v->dict;
    }
    return URSA_OK;
}

static int broadcast(exec_ctx_t *cx, const exec_value_t *val, exec_type_t t, size_t n, exec_vec_t *out)
{
    int rc = vec(cx, out, t, n);
    if (rc) return rc;
    if (val->null || t == EXEC_NULL) {
        if ((rc = vec_nulls(cx, out))) return rc;
        memset(out->nulls, 1, n);
        if (exec_type_width(t)) memset(out->v.p, 0, exec_type_width(t) * n);
        return URSA_OK;
    }
    switch (t) {
    case EXEC_BOOL:
        memset(out->v.b, val->v.i != 0, n);
        break;
    case EXEC_FLOAT64:
        for (size_t i = 0; i < n; i++) out->v.f[i] = val->v.f;
        break;
    case EXEC_STRING:
        for (size_t i = 0; i < n; i++) out->v.s[i] = val->v.s;
        break;
    case EXEC_INTERVAL:
        for (size_t i = 0; i < n; i++) out->v.iv[i] = val->v.iv;
        break;
    default:
        for (size_t i = 0; i < n; i++) out->v.i[i] = val->v.i;
    }
    return URSA_OK;
}

/* ---- kernels ---- */

static int arith_int(exec_ctx_t *cx, exec_op_t op, const exec_vec_t *a, const exec_vec_t *b, size_t n,
                     exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_INT64, n);
    if (rc || (rc = merge_nulls(cx, out, a, b, n))) return rc;
    const int64_t *x = a->v.i, *y = b->v.i;
    int64_t *r = out->v.i;
    const uint8_t *nl = out->nulls;
    bool ovf = false;
    switch (op) {
    case OP_ADD:
        for (size_t i = 0; i < n; i++) ovf |= __builtin_add_overflow(x[i], y[i], &r[i]) && !(nl && nl[i]);
        break;
    case OP_SUB:
        for (size_t i = 0; i < n; i++) ovf |= __builtin_sub_overflow(x[i], y[i], &r[i]) && !(nl && nl[i]);
        break;
    case OP_MUL:
        for (size_t i = 0; i < n; i++) ovf |= __builtin_mul_overflow(x[i], y[i], &r[i]) && !(nl && nl[i]);
        break;
    case OP_MOD:
        for (size_t i = 0; i < n; i++) {
            if (y[i] == 0) {
                if ((rc = vec_nulls(cx, out))) return rc;
                out->nulls[i] = 1;
                r[i] = 0;
                nl = out->nulls;
            } else if (y[i] == -1 && x[i] == INT64_MIN && !(nl && nl[i])) {
                return fail(cx, URSA_EINVAL, "bigint overflow in modulo");
            } else
                r[i] = y[i] == -1 ? 0 : x[i] % y[i];
        }
        break;
    default:
        return fail(cx, URSA_EINTERNAL, "bad integer operator");
    }
    if (ovf) {
        static const char *const names[] = {
            [OP_ADD] = "addition", [OP_SUB] = "subtraction", [OP_MUL] = "multiplication"};
        return fail(cx, URSA_EINVAL, "bigint overflow in %s", names[op]);
    }
    return URSA_OK;
}

static int arith_float(exec_ctx_t *cx, exec_op_t op, const exec_vec_t *a, const exec_vec_t *b, size_t n,
                       exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_FLOAT64, n);
    if (rc || (rc = merge_nulls(cx, out, a, b, n))) return rc;
    const double *x = a->v.f, *y = b->v.f;
    double *r = out->v.f;
    switch (op) {
    case OP_ADD:
        for (size_t i = 0; i < n; i++) r[i] = x[i] + y[i];
        break;
    case OP_SUB:
        for (size_t i = 0; i < n; i++) r[i] = x[i] - y[i];
        break;
    case OP_MUL:
        for (size_t i = 0; i < n; i++) r[i] = x[i] * y[i];
        break;
    case OP_DIV:
    case OP_MOD:
        for (size_t i = 0; i < n; i++) {
            if (y[i] == 0) {
                if ((rc = vec_nulls(cx, out))) return rc;
                out->nulls[i] = 1;
                r[i] = 0;
            } else
                r[i] = op == OP_DIV ? x[i] / y[i] : fmod(x[i], y[i]);
        }
        break;
    default:
        return fail(cx, URSA_EINTERNAL, "bad float operator");
    }
    return URSA_OK;
}

static int compare(exec_ctx_t *cx, exec_op_t op, const exec_vec_t *a, const exec_vec_t *b, size_t n,
                   exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_BOOL, n);
    if (rc || (rc = merge_nulls(cx, out, a, b, n))) return rc;
    uint8_t *r = out->v.b;
    exec_type_t t = a->type;
    if (t == EXEC_INT64 || t == EXEC_TIMESTAMP || t == EXEC_DATE) {
        const int64_t *x = a->v.i, *y = b->v.i;
        switch (op) {
        case OP_EQ:
            for (size_t i = 0; i < n; i++) r[i] = x[i] == y[i];
            break;
        case OP_NE:
            for (size_t i = 0; i < n; i++) r[i] = x[i] != y[i];
            break;
        case OP_LT:
            for (size_t i = 0; i < n; i++) r[i] = x[i] < y[i];
            break;
        case OP_LE:
            for (size_t i = 0; i < n; i++) r[i] = x[i] <= y[i];
            break;
        case OP_GT:
            for (size_t i = 0; i < n; i++) r[i] = x[i] > y[i];
            break;
        default:
            for (size_t i = 0; i < n; i++) r[i] = x[i] >= y[i];
        }
        return URSA_OK;
    }
    for (size_t i = 0; i < n; i++) {
        int c = exec_cmp_value(t, a, i, b, i);
        switch (op) {
        case OP_EQ:
            r[i] = c == 0;
            break;
        case OP_NE:
            r[i] = c != 0;
            break;
        case OP_LT:
            r[i] = c < 0;
            break;
        case OP_LE:
            r[i] = c <= 0;
            break;
        case OP_GT:
            r[i] = c > 0;
            break;
        default:
            r[i] = c >= 0;
        }
    }
    return URSA_OK;
}

/* Three-valued AND / OR. */
static int logic(exec_ctx_t *cx, bool is_and, const exec_vec_t *a, const exec_vec_t *b, size_t n,
                 exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_BOOL, n);
    if (rc) return rc;
    if (!a->nulls && !b->nulls) {
        for (size_t i = 0; i < n; i++)
            out->v.b[i] = is_and ? (a->v.b[i] & b->v.b[i]) : (a->v.b[i] | b->v.b[i]);
        return URSA_OK;
    }
    if ((rc = vec_nulls(cx, out))) return rc;
    for (size_t i = 0; i < n; i++) {
        bool an = a->nulls && a->nulls[i], bn = b->nulls && b->nulls[i];
        bool av = a->v.b[i], bv = b->v.b[i];
        if (is_and) {
            if ((!an && !av) || (!bn && !bv))
                out->v.b[i] = 0;
            else if (an || bn)
                out->nulls[i] = 1, out->v.b[i] = 0;
            else
                out->v.b[i] = 1;
        } else {
            if ((!an && av) || (!bn && bv))
                out->v.b[i] = 1;
            else if (an || bn)
                out->nulls[i] = 1, out->v.b[i] = 0;
            else
                out->v.b[i] = 0;
        }
    }
    return URSA_OK;
}

/* ---- strings ---- */

/* LIKE on UTF-8 text: % any run, _ one character; no escape character. */
static bool like_match(const char *s, size_t n, const char *p, size_t m)
{
    size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < n) {
        if (pi < m && p[pi] == '%') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < m && p[pi] == '_') {
            si++;
            while (si < n && ((unsigned char)s[si] & 0xC0) == 0x80) si++;
            pi++;
            continue;
        }
        if (pi < m && p[pi] == s[si]) {
            si++, pi++;
            continue;
        }
        if (star_p == SIZE_MAX) return false;
        /* backtrack: the last % takes one more character */
        star_s++;
        while (star_s < n && ((unsigned char)s[star_s] & 0xC0) == 0x80) star_s++;
        si = star_s;
        pi = star_p;
    }
    while (pi < m && p[pi] == '%') pi++;
    return pi == m;
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The byte offset of character k (0-based) of s, n when past its end. */
static size_t utf8_offset(const char *s, size_t n, int64_t k)
{
    size_t i = 0;
    while (i < n && k > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k--;
    }
    return i;
}

static bool ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

/* Lower- or upper-cases s into the arena. */
size_t exec_case_map(const char *s, size_t n, bool upper, char *out)
{
    size_t at = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) { /* ASCII */
            out[at++] =
                (char)(upper ? (c >= 'a' && c <= 'z' ? c - 32 : c) : (c >= 'A' && c <= 'Z' ? c + 32 : c));
            i++;
            continue;
        }
        ucs4_t uc;
        int k = u8_mbtouc(&uc, (const uint8_t *)s + i, n - i);
        if (k <= 0 || uc == 0xFFFD) { /* invalid UTF-8: the byte kept as it is */
            out[at++] = s[i++];
            continue;
        }
        /* ß has no simple upper case in Unicode's data; DuckDB (utf8proc) gives ẞ, and so do we */
        ucs4_t m = upper ? (uc == 0xDF ? 0x1E9E : uc_toupper(uc)) : uc_tolower(uc);
        int w = u8_uctomb((uint8_t *)out + at, m, 4);
        if (w <= 0) { /* (cannot happen for a mapped code point: kept as it was) */
            memcpy(out + at, s + i, (size_t)k);
            w = k;
        }
        at += (size_t)w;
        i += (size_t)k;
    }
    return at;
}

/* Lower- or upper-cases s into the arena. */
static int fold(exec_ctx_t *cx, exec_str_t s, bool upper, exec_str_t *out)
{
    char *d = alloc(cx, EXEC_CASE_MAP_MAX(s.n));
    if (!d) return nomem(cx);
    *out = (exec_str_t){d, exec_case_map(s.p, s.n, upper, d)};
    return URSA_OK;
}

/* ---- casts ---- */

static int fmt_ts(char *buf, size_t cap, int64_t ts)
{
    int64_t day = floor_div(ts, US_PER_DAY), tod = ts - day * US_PER_DAY, y;
    unsigned m, d;
    ursa_civil_from_days(day, &y, &m, &d);
    int k = snprintf(buf, cap, "%04lld-%02u-%02u %02lld:%02lld:%02lld", (long long)y, m, d,
                     (long long)(tod / 3600000000LL), (long long)(tod / 60000000 % 60),
                     (long long)(tod / 1000000 % 60));
    if (tod % 1000000) {
        k += snprintf(buf + k, cap - (size_t)k, ".%06lld", (long long)(tod % 1000000));
        while (buf[k - 1] == '0') buf[--k] = '\0';
    }
    return k;
}

static int fmt_interval(char *buf, size_t cap, const exec_interval_t *iv)
{
    int k = 0;
    int32_t y = iv->months / 12, mo = iv->months % 12;
    if (y) k += snprintf(buf + k, cap - (size_t)k, "%d year%s ", y, y == 1 || y == -1 ? "" : "s");
    if (mo) k += snprintf(buf + k, cap - (size_t)k, "%d mon%s ", mo, mo == 1 || mo == -1 ? "" : "s");
    if (iv->days)
        k += snprintf(buf + k, cap - (size_t)k, "%d day%s ", iv->days,
                      iv->days == 1 || iv->days == -1 ? "" : "s");
    if (iv->us || k == 0) {
        int64_t us = iv->us < 0 ? -iv->us : iv->us;
        k += snprintf(buf + k, cap - (size_t)k, "%s%02lld:%02lld:%02lld", iv->us < 0 ? "-" : "",
                      (long long)(us / 3600000000LL), (long long)(us / 60000000 % 60),
                      (long long)(us / 1000000 % 60));
        if (us % 1000000) {
            k += snprintf(buf + k, cap - (size_t)k, ".%06lld", (long long)(us % 1000000));
            while (buf[k - 1] == '0') buf[--k] = '\0';
        }
    } else
        buf[--k] = '\0';
    return k;
}

static int str_out(exec_ctx_t *cx, const char *s, size_t n, exec_str_t *out)
{
    char *d = alloc(cx, n);
    if (!d) return nomem(cx);
    memcpy(d, s, n);
    *out = (exec_str_t){d, n};
    return URSA_OK;
}

/* The shortest text that reads back as the same double, as DuckDB writes
 * one: fixed notation for exponents -4 .. 15 with ".0" on whole numbers
 * ("2.0", "0.0001"), else "1.5e-07", "1e+16"; "nan", "inf", "-inf". */
static int fmt_double(char *buf, size_t cap, double v)
{
    if (isnan(v)) return snprintf(buf, cap, "nan");
    if (isinf(v)) return snprintf(buf, cap, v < 0 ? "-inf" : "inf");
    int prec = 1;
    char e[40];
    for (; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    snprintf(e, sizeof(e), "%.*e", prec - 1, v);
    int exp = atoi(strchr(e, 'e') + 1);
    if (exp < -4 || exp > 15) return snprintf(buf, cap, "%s", e);
    int k = snprintf(buf, cap, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
    if (!strchr(buf, '.') && k + 2 < (int)cap) k += snprintf(buf + k, cap - (size_t)k, ".0");
    return k;
}

static bool parse_i64_text(exec_str_t s, int64_t *out)
{
    const char *p = s.p;
    size_t n = s.n;
    while (n && *p == ' ') p++, n--;
    while (n && p[n - 1] == ' ') n--;
    if (n && *p == '+') p++, n--;
    return n && ursa_parse_i64(p, n, out) == NULL;
}

static bool parse_f64_text(exec_str_t s, double *out)
{
    char buf[64];
    if (s.n == 0 || s.n >= sizeof(buf)) return false;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    while (*end == ' ') end++;
    return end != buf && *end == '\0';
}

static int cast_one(exec_ctx_t *cx, const exec_vec_t *a, size_t i, exec_vec_t *out, size_t k)
{
    exec_type_t from = a->type, to = out->type;
    char buf[96];
    switch (to) {
    case EXEC_BOOL:
        if (from == EXEC_INT64)
            out->v.b[k] = a->v.i[i] != 0;
        else if (from == EXEC_FLOAT64)
            out->v.b[k] = a->v.f[i] != 0;
        else if (from == EXEC_STRING) {
            exec_str_t s = a->v.s[i];
            if (s.n && s.n < 8) {
                memcpy(buf, s.p, s.n);
                buf[s.n] = '\0';
                if (!strcasecmp(buf, "true") || !strcasecmp(buf, "t") || !strcmp(buf, "1") ||
                    !strcasecmp(buf, "yes") || !strcasecmp(buf, "y")) {
                    out->v.b[k] = 1;
                    return URSA_OK;
                }
                if (!strcasecmp(buf, "false") || !strcasecmp(buf, "f") || !strcmp(buf, "0") ||
                    !strcasecmp(buf, "no") || !strcasecmp(buf, "n")) {
                    out->v.b[k] = 0;
                    return URSA_OK;
                }
            }
            return fail(cx, URSA_EINVAL, "cannot cast '%.*s' to boolean", (int)(s.n > 60 ? 60 : s.n), s.p);
        } else
            break;
        return URSA_OK;
    case EXEC_INT64:
        if (from == EXEC_BOOL)
            out->v.i[k] = a->v.b[i];
        else if (from == EXEC_FLOAT64) {
            double r = nearbyint(a->v.f[i]); /* ties to even, as DuckDB and PostgreSQL */
            if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
                return fail(cx, URSA_EINVAL, "cannot cast %g to bigint: out of range", a->v.f[i]);
            out->v.i[k] = (int64_t)r;
        } else if (from == EXEC_STRING) {
            double f;
            if (!parse_i64_text(a->v.s[i], &out->v.i[k])) {
                exec_str_t s = a->v.s[i];
                if (parse_f64_text(s, &f) && ascii(s.p, s.n) && !memchr(s.p, 'n', s.n) &&
                    !memchr(s.p, 'N', s.n)) {
                    double r = nearbyint(f);
                    if (r >= -9223372036854775808.0 && r < 9223372036854775808.0) {
                        out->v.i[k] = (int64_t)r;
                        return URSA_OK;
                    }
                }
                return fail(cx, URSA_EINVAL, "cannot cast '%.*s' to bigint", (int)(s.n > 60 ? 60 : s.n), s.p);
            }
        } else if (from == EXEC_INT64 || from == EXEC_TIMESTAMP || from == EXEC_DATE)
            out->v.i[k] = a->v.i[i];
        else
            break;
        return URSA_OK;
    case EXEC_FLOAT64:
        if (from == EXEC_BOOL)
            out->v.f[k] = a->v.b[i];
        else if (from == EXEC_INT64)
            out->v.f[k] = (double)a->v.i[i];
        else if (from == EXEC_STRING) {
            if (!parse_f64_text(a->v.s[i], &out->v.f[k]))
                return fail(cx, URSA_EINVAL, "cannot cast '%.*s' to double",
                            (int)(a->v.s[i].n > 60 ? 60 : a->v.s[i].n), a->v.s[i].p);
        } else
            break;
        return URSA_OK;
    case EXEC_STRING: {
        int n;
        switch (from) {
        case EXEC_BOOL:
            return str_out(cx, a->v.b[i] ? "true" : "false", a->v.b[i] ? 4 : 5, &out->v.s[k]);
        case EXEC_INT64:
            n = snprintf(buf, sizeof(buf), "%lld", (long long)a->v.i[i]);
            break;
        case EXEC_FLOAT64:
            n = fmt_double(buf, sizeof(buf), a->v.f[i]);
            break;
        case EXEC_TIMESTAMP:
            n = fmt_ts(buf, sizeof(buf), a->v.i[i]);
            break;
        case EXEC_DATE:
            ursa_format_date(a->v.i[i], buf);
            n = (int)strlen(buf);
            break;
        case EXEC_INTERVAL:
            n = fmt_interval(buf, sizeof(buf), &a->v.iv[i]);
            break;
        case EXEC_STRING:
            out->v.s[k] = a->v.s[i];
            return URSA_OK;
        default:
            n = 0;
        }
        return str_out(cx, buf, (size_t)n, &out->v.s[k]);
    }
    case EXEC_TIMESTAMP:
        if (from == EXEC_DATE) {
            if (__builtin_mul_overflow(a->v.i[i], US_PER_DAY, &out->v.i[k]))
                return fail(cx, URSA_EINVAL, "date out of the timestamp range");
        } else if (from == EXEC_STRING) {
            if (!exec_parse_timestamp(a->v.s[i].p, a->v.s[i].n, &out->v.i[k]))
                return fail(cx, URSA_EINVAL, "cannot cast '%.*s' to timestamp",
                            (int)(a->v.s[i].n > 60 ? 60 : a->v.s[i].n), a->v.s[i].p);
        } else if (from == EXEC_TIMESTAMP)
            out->v.i[k] = a->v.i[i];
        else
            break;
        return URSA_OK;
    case EXEC_DATE:
        if (from == EXEC_TIMESTAMP)
            out->v.i[k] = floor_div(a->v.i[i], US_PER_DAY);
        else if (from == EXEC_STRING) {
            int64_t us;
            if (!exec_parse_timestamp(a->v.s[i].p, a->v.s[i].n, &us))
                return fail(cx, URSA_EINVAL, "cannot cast '%.*s' to date",
                            (int)(a->v.s[i].n > 60 ? 60 : a->v.s[i].n), a->v.s[i].p);
            out->v.i[k] = floor_div(us, US_PER_DAY);
        } else if (from == EXEC_DATE)
            out->v.i[k] = a->v.i[i];
        else
            break;
        return URSA_OK;
    case EXEC_INTERVAL:
        if (from == EXEC_STRING) {
            if (!exec_parse_interval(a->v.s[i].p, a->v.s[i].n, &out->v.iv[k]))
                return fail(cx, URSA_EINVAL, "cannot cast '%.*s' to interval",
                            (int)(a->v.s[i].n > 60 ? 60 : a->v.s[i].n), a->v.s[i].p);
        } else if (from == EXEC_INTERVAL)
            out->v.iv[k] = a->v.iv[i];
        else
            break;
        return URSA_OK;
    default:
        break;
    }
    return fail(cx, URSA_EINVAL, "cannot cast %s to %s", exec_type_name(from), exec_type_name(to));
}

static int cast(exec_ctx_t *cx, const exec_vec_t *a, exec_type_t to, size_t n, exec_vec_t *out)
{
    if (a->type == to) {
        *out = *a;
        return URSA_OK;
    }
    int rc = vec(cx, out, to, n);
    if (rc) return rc;
    if (a->type == EXEC_NULL) {
        if ((rc = vec_nulls(cx, out))) return rc;
        memset(out->nulls, 1, n);
        if (exec_type_width(to)) memset(out->v.p, 0, n * exec_type_width(to));
        return URSA_OK;
    }
    if (a->type == EXEC_INT64 && to == EXEC_FLOAT64) { /* the common one, as a loop */
        for (size_t i = 0; i < n; i++) out->v.f[i] = (double)a->v.i[i];
        out->nulls = a->nulls;
        return URSA_OK;
    }
    out->nulls = a->nulls;
    for (size_t i = 0; i < n; i++) {
        if (a->nulls && a->nulls[i]) {
            if (exec_type_width(to))
                memset((char *)out->v.p + i * exec_type_width(to), 0, exec_type_width(to));
            continue;
        }
        if ((rc = cast_one(cx, a, i, out, i))) return rc;
    }
    return URSA_OK;
}

/* ---- evaluation ---- */

static int eval_args(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel,
                     size_t n, exec_vec_t *args)
{
    for (size_t i = 0; i < e->nargs; i++) {
        int rc = exec_eval(cx, e->args[i], in, sel, n, &args[i]);
        if (rc) return rc;
    }
    return URSA_OK;
}

/* The start of a result that branches fill lazily (CASE, COALESCE): every
 * row NULL; *rest the positions in it not filled yet (all), *rows their
 * input rows (sel's). */
static int lazy_begin(exec_ctx_t *cx, exec_type_t t, const uint32_t *sel, size_t n, exec_vec_t *out,
                      uint32_t **rest, uint32_t **rows)
{
    int rc = vec(cx, out, t, n);
    if (rc || (rc = vec_nulls(cx, out))) return rc;
    memset(out->nulls, 1, n);
    if (exec_type_width(t)) memset(out->v.p, 0, exec_type_width(t) * n);
    *rest = alloc(cx, n * sizeof(uint32_t));
    *rows = alloc(cx, n * sizeof(uint32_t));
    if (!*rest || !*rows) return nomem(cx);
    for (size_t k = 0; k < n; k++) (*rest)[k] = (uint32_t)k, (*rows)[k] = sel ? sel[k] : (uint32_t)k;
    return URSA_OK;
}

/* Row k of v into position at of out (its null or its value). */
static inline void lazy_put(exec_vec_t *out, size_t at, const exec_vec_t *v, size_t k)
{
    size_t w = exec_type_width(out->type);
    out->nulls[at] = v->type == EXEC_NULL || exec_is_null(v, k);
    if (w && !out->nulls[at]) memcpy((char *)out->v.p + at * w, (const char *)v->v.p + k * w, w);
}

/* CASE: each WHEN on the rows no earlier WHEN took, each THEN on its own rows. */
static int eval_case(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel,
                     size_t n, exec_vec_t *out)
{
    uint32_t *rest, *rows;
    int rc = lazy_begin(cx, e->type, sel, n, out, &rest, &rows);
    if (rc) return rc;
    uint32_t *hit = alloc(cx, n * sizeof(uint32_t)), *hit_rows = alloc(cx, n * sizeof(uint32_t));
    if (!hit || !hit_rows) return nomem(cx);
    size_t nrest = n, pairs = e->nargs / 2;
    for (size_t p = 0; p <= pairs && nrest; p++) {
        const exec_expr_t *val;
        size_t nhit = 0;
        if (p < pairs) {
            exec_vec_t c;
            if ((rc = exec_eval(cx, e->args[2 * p], in, rows, nrest, &c))) return rc;
            size_t keep = 0;
            for (size_t k = 0; k < nrest; k++) {
                if (c.v.b[k] && !(c.nulls && c.nulls[k]))
                    hit[nhit] = rest[k], hit_rows[nhit++] = rows[k];
                else
                    rest[keep] = rest[k], rows[keep++] = rows[k];
            }
            nrest = keep;
            val = e->args[2 * p + 1];
        } else {
            if (!(e->nargs & 1)) break;
            memcpy(hit, rest, nrest * sizeof(uint32_t));
            memcpy(hit_rows, rows, nrest * sizeof(uint32_t));
            nhit = nrest;
            nrest = 0;
            val = e->args[e->nargs - 1];
        }
        if (!nhit) continue;
        exec_vec_t v;
        if ((rc = exec_eval(cx, val, in, hit_rows, nhit, &v))) return rc;
        for (size_t k = 0; k < nhit; k++) lazy_put(out, hit[k], &v, k);
    }
    return URSA_OK;
}

/* COALESCE: each argument on the rows every earlier one left null only, as
 * DuckDB evaluates it (so `COALESCE(x, 1 / 0)`-like arguments fail only
 * where they are reached). */
static int eval_coalesce(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel,
                         size_t n, exec_vec_t *out)
{
    uint32_t *rest, *rows;
    int rc = lazy_begin(cx, e->type, sel, n, out, &rest, &rows);
    if (rc) return rc;
    size_t nrest = n;
    for (size_t j = 0; j < e->nargs && nrest; j++) {
        exec_vec_t v;
        if ((rc = exec_eval(cx, e->args[j], in, rows, nrest, &v))) return rc;
        if (v.type == EXEC_NULL) continue;
        size_t keep = 0;
        for (size_t k = 0; k < nrest; k++) {
            if (exec_is_null(&v, k)) {
                rest[keep] = rest[k], rows[keep++] = rows[k];
                continue;
            }
            lazy_put(out, rest[k], &v, k);
        }
        nrest = keep;
    }
    return URSA_OK;
}

static int eval_in(exec_ctx_t *cx, const exec_expr_t *e, const exec_vec_t *args, size_t n, exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_BOOL, n);
    if (rc || (rc = vec_nulls(cx, out))) return rc;
    const exec_vec_t *a = &args[0];
    exec_type_t t = a->type;
    for (size_t i = 0; i < n; i++) {
        bool found = false, null = exec_is_null(a, i);
        for (size_t j = 1; j < e->nargs && !found && !exec_is_null(a, i); j++) {
            if (exec_is_null(&args[j], i))
                null = true;
            else if (exec_cmp_value(t, a, i, &args[j], i) == 0)
                found = true;
        }
        out->v.b[i] = found;
        out->nulls[i] = !found && null;
    }
    return URSA_OK;
}

static int eval_strings(exec_ctx_t *cx, const exec_expr_t *e, exec_vec_t *args, size_t n, exec_vec_t *out)
{
    int rc = vec(cx, out, e->type, n);
    if (rc) return rc;
    const exec_vec_t *a = &args[0];
    switch (e->op) {
    case OP_LOWER:
    case OP_UPPER:
        out->nulls = a->nulls;
        for (size_t i = 0; i < n; i++) {
            if (exec_is_null(a, i)) {
                out->v.s[i] = (exec_str_t){"", 0};
                continue;
            }
            if ((rc = fold(cx, a->v.s[i], e->op == OP_UPPER, &out->v.s[i]))) return rc;
        }
        return URSA_OK;
    case OP_LENGTH:
        out->nulls = a->nulls;
        for (size_t i = 0; i < n; i++) out->v.i[i] = (int64_t)utf8_len(a->v.s[i].p, a->v.s[i].n);
        return URSA_OK;
    case OP_SUBSTR:
        if ((rc = merge_nulls(cx, out, a, &args[1], n))) return rc;
        if (e->nargs > 2 && args[2].nulls) {
            if ((rc = vec_nulls(cx, out))) return rc;
            for (size_t i = 0; i < n; i++) out->nulls[i] |= args[2].nulls[i];
        }
        for (size_t i = 0; i < n; i++) {
            exec_str_t s = a->v.s[i];
            if (out->nulls && out->nulls[i]) {
                out->v.s[i] = (exec_str_t){"", 0};
                continue;
            }
            int64_t start = args[1].v.i[i], end = INT64_MAX;         /* 1-based, end exclusive */
            if (start < 0) start += (int64_t)utf8_len(s.p, s.n) + 1; /* from the end, as DuckDB counts */
            if (e->nargs > 2) {
                int64_t cnt = args[2].v.i[i];
                if (cnt < 0) return fail(cx, URSA_EINVAL, "substr: negative length %lld", (long long)cnt);
                if (__builtin_add_overflow(start, cnt, &end)) end = INT64_MAX;
            }
            if (start < 1) start = 1;
            if (end <= start) {
                out->v.s[i] = (exec_str_t){"", 0};
                continue;
            }
            size_t from = utf8_offset(s.p, s.n, start - 1);
            size_t to = end == INT64_MAX ? s.n : from + utf8_offset(s.p + from, s.n - from, end - start);
            out->v.s[i] = (exec_str_t){s.p + from, to - from};
        }
        return URSA_OK;
    case OP_STARTS_WITH:
        if ((rc = merge_nulls(cx, out, a, &args[1], n))) return rc;
        for (size_t i = 0; i < n; i++) {
            exec_str_t s = a->v.s[i], p = args[1].v.s[i];
            out->v.b[i] = p.n <= s.n && (p.n == 0 || memcmp(s.p, p.p, p.n) == 0);
        }
        return URSA_OK;
    case OP_CONCAT:
    case OP_CONCAT_OP:
        if (e->op == OP_CONCAT_OP)
            for (size_t j = 0; j < e->nargs; j++) {
                if (!args[j].nulls) continue;
                if ((rc = vec_nulls(cx, out))) return rc;
                for (size_t i = 0; i < n; i++) out->nulls[i] |= args[j].nulls[i];
            }
        for (size_t i = 0; i < n; i++) {
            if (out->nulls && out->nulls[i]) {
                out->v.s[i] = (exec_str_t){"", 0};
                continue;
            }
            size_t len = 0;
            for (size_t j = 0; j < e->nargs; j++)
                if (!exec_is_null(&args[j], i)) len += args[j].v.s[i].n;
            char *d = alloc(cx, len);
            if (!d) return nomem(cx);
            size_t at = 0;
            for (size_t j = 0; j < e->nargs; j++)
                if (!exec_is_null(&args[j], i) && args[j].v.s[i].n) {
                    memcpy(d + at, args[j].v.s[i].p, args[j].v.s[i].n);
                    at += args[j].v.s[i].n;
                }
            out->v.s[i] = (exec_str_t){d, len};
        }
        return URSA_OK;
    default:
        return fail(cx, URSA_EINTERNAL, "bad string function");
    }
}

/* The first occurrence of needle[0..k) (k >= 1) in [at, end), or NULL.
 * Sixteen positions at a time where SSE2 is there: those whose first and
 * last bytes are the needle's, found by two compares, are the candidates
 * compared whole -- in text the two rarely match together, so most blocks
 * cost a few instructions. (glibc's memmem builds a shift table on every
 * call; memchr on the first byte stops every few dozen bytes of text.) */
static const char *find_sub(const char *at, const char *end, const char *needle, size_t k)
{
    if ((size_t)(end - at) < k) return NULL;
    if (k == 1) return memchr(at, needle[0], (size_t)(end - at));
    const char *last = end - k; /* the last position a match can start at */
#ifdef __SSE2__
    const __m128i f = _mm_set1_epi8(needle[0]), l = _mm_set1_epi8(needle[k - 1]);
    for (; at + 16 <= last + 1; at += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)at),
                b = _mm_loadu_si128((const __m128i *)(const void *)(at + k - 1));
        unsigned mask =
            (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, l)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (k == 2 || memcmp(at + bit + 1, needle + 1, k - 2) == 0) return at + bit;
            mask &= mask - 1;
        }
    }
#endif
    for (; at <= last; at++)
        if (at[0] == needle[0] && at[k - 1] == needle[k - 1] && memcmp(at + 1, needle + 1, k - 2) == 0)
            return at;
    return NULL;
}

/* Whether needle[0..k) occurs in s[0..n). */
static bool contains(const char *s, size_t n, const char *needle, size_t k)
{
    return k == 0 || find_sub(s, s + n, needle, k) != NULL;
}

/* '%x%' over strings that lie back to back in memory (a scanned column's
 * values do): one search through all their bytes, each hit mapped to its
 * row, the search going on from the next row -- instead of a search per
 * value. false (nothing written) when the values are not back to back. */
static bool like_span(const exec_vec_t *a, size_t n, const char *needle, size_t k, uint8_t *hit)
{
    const exec_str_t *s = a->v.s;
    for (size_t i = 1; i < n; i++)
        if (s[i].p != s[i - 1].p + s[i - 1].n) return false;
    if (!s[0].p) return false;
    const char *base = s[0].p, *end = s[n - 1].p + s[n - 1].n, *at = base;
    memset(hit, 0, n);
    size_t row = 0;
    while (at < end) {
        const char *f = find_sub(at, end, needle, k);
        if (!f) break;
        while (s[row].p + s[row].n <= f) row++; /* the row the hit begins in */
        if (f + k <= s[row].p + s[row].n) {     /* within it: the row matches, on to the next */
            hit[row] = !(a->nulls && a->nulls[row]);
            if (++row == n) break;
            at = s[row].p;
        } else
            at = f + 1; /* across two rows: no match here */
    }
    return true;
}

static int eval_like(exec_ctx_t *cx, const exec_expr_t *e, const exec_vec_t *a, size_t n, exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_BOOL, n);
    if (rc) return rc;
    out->nulls = a->nulls;
    const char *p = e->text;
    size_t m = strlen(p);
    /* the usual shapes as memmem / memcmp: '%x%', 'x%', '%x' without wildcards inside */
    bool inner =
        m >= 2 && p[0] == '%' && p[m - 1] == '%' && !memchr(p + 1, '%', m - 2) && !memchr(p + 1, '_', m - 2);
    if (inner && m > 2 && e->op == OP_LIKE && n && like_span(a, n, p + 1, m - 2, out->v.b)) return URSA_OK;
    for (size_t i = 0; i < n; i++) {
        exec_str_t s = a->v.s[i];
        if (exec_is_null(a, i)) { /* (a vector with no value may have no bytes at all) */
            out->v.b[i] = 0;
            continue;
        }
        if (e->op == OP_ILIKE && (rc = fold(cx, s, false, &s))) return rc;
        if (inner)
            out->v.b[i] = m == 2 || contains(s.p, s.n, p + 1, m - 2);
        else
            out->v.b[i] = like_match(s.p, s.n, p, m);
    }
    return URSA_OK;
}

static int eval_time(exec_ctx_t *cx, const exec_expr_t *e, exec_vec_t *args, size_t n, exec_vec_t *out)
{
    int rc = vec(cx, out, e->type, n);
    if (rc) return rc;
    const exec_vec_t *ts = &args[e->nargs - 1];
    out->nulls = ts->nulls;
    for (size_t i = 0; i < n; i++) {
        if (exec_is_null(ts, i)) {
            out->v.i[i] = 0;
            continue;
        }
        int64_t t = ts->v.i[i];
        switch (e->op) {
        case OP_DATE_TRUNC:
            out->v.i[i] = trunc_ts(t, e->unit);
            break;
        case OP_TIME_BUCKET:
            bucket_ts(&e->args[0]->value.v.iv, t, &out->v.i[i]);
            break;
        default: /* OP_EXTRACT */
            if (e->unit == TU_EPOCH)
                out->v.f[i] = (double)t / 1e6;
            else
                out->v.i[i] = extract_ts(t, e->unit);
        }
    }
    return URSA_OK;
}

static int eval_math(exec_ctx_t *cx, const exec_expr_t *e, exec_vec_t *args, size_t n, exec_vec_t *out)
{
    const exec_vec_t *a = &args[0];
    if (a->type == EXEC_INT64 && e->op != OP_ABS && (e->op != OP_ROUND || e->nargs == 1)) {
        *out = *a; /* floor, ceil, round of an integer */
        return URSA_OK;
    }
    int rc = vec(cx, out, e->type, n);
    if (rc) return rc;
    out->nulls = a->nulls;
    if (a->type == EXEC_INT64) {
        if (e->op == OP_ROUND) { /* round(int, digits): negative digits round to tens, hundreds ... */
            if ((rc = merge_nulls(cx, out, a, &args[1], n))) return rc;
            for (size_t i = 0; i < n; i++) {
                int64_t d = args[1].v.i[i], v = a->v.i[i];
                if (d >= 0 || (out->nulls && out->nulls[i])) {
                    out->v.i[i] = v;
                    continue;
                }
                if (d < -18) {
                    out->v.i[i] = 0;
                    continue;
                }
                int64_t p = 1;
                for (int64_t k = 0; k < -d; k++) p *= 10;
                int64_t q = v / p, r = v % p;
                if (r * 2 >= p)
                    q++;
                else if (r * 2 <= -p)
                    q--;
                if (__builtin_mul_overflow(q, p, &out->v.i[i]))
                    return fail(cx, URSA_EINVAL, "bigint overflow in round");
            }
            return URSA_OK;
        }
        for (size_t i = 0; i < n; i++) { /* abs */
            int64_t v = a->v.i[i];
            if (v == INT64_MIN && !exec_is_null(a, i)) return fail(cx, URSA_EINVAL, "bigint overflow in abs");
            out->v.i[i] = v < 0 ? -v : v;
        }
        return URSA_OK;
    }
    const double *x = a->v.f;
    switch (e->op) {
    case OP_ABS:
        for (size_t i = 0; i < n; i++) out->v.f[i] = fabs(x[i]);
        break;
    case OP_FLOOR:
        for (size_t i = 0; i < n; i++) out->v.f[i] = floor(x[i]);
        break;
    case OP_CEIL:
        for (size_t i = 0; i < n; i++) out->v.f[i] = ceil(x[i]);
        break;
    default: /* OP_ROUND */
        if (e->nargs == 1) {
            for (size_t i = 0; i < n; i++) out->v.f[i] = round(x[i]);
            break;
        }
        if ((rc = merge_nulls(cx, out, a, &args[1], n))) return rc;
        for (size_t i = 0; i < n; i++) {
            int64_t d = args[1].v.i[i];
            if (d > 300 || d < -300) {
                out->v.f[i] = d > 0 ? x[i] : 0;
                continue;
            }
            double p = pow(10.0, (double)d), r = round(x[i] * p) / p;
            out->v.f[i] = isfinite(r) ? r : x[i];
        }
    }
    return URSA_OK;
}

static int eval_interval_arith(exec_ctx_t *cx, const exec_expr_t *e, exec_vec_t *args, size_t n,
                               exec_vec_t *out)
{
    int rc = vec(cx, out, EXEC_TIMESTAMP, n);
    if (rc || (rc = merge_nulls(cx, out, &args[0], &args[1], n))) return rc;
    bool ts_first = args[0].type == EXEC_TIMESTAMP;
    const exec_vec_t *ts = ts_first ? &args[0] : &args[1], *iv = ts_first ? &args[1] : &args[0];
    for (size_t i = 0; i < n; i++) {
        if (out->nulls && out->nulls[i]) {
            out->v.i[i] = 0;
            continue;
        }
        if (!exec_ts_add_interval(ts->v.i[i], &iv->v.iv[i], e->op == OP_SUB ? -1 : 1, &out->v.i[i]))
            return fail(cx, URSA_EINVAL, "timestamp out of range");
    }
    return URSA_OK;
}

int exec_eval(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel, size_t n,
              exec_vec_t *out)
{
    int rc;
    switch (e->op) {
    case OP_COL:
        if (!sel) {
            *out = in->cols[e->col];
            out->n = n;
            return URSA_OK;
        }
        return exec_vec_gather(cx, &in->cols[e->col], sel, n, out);
    case OP_CONST:
        return broadcast(cx, &e->value, e->type, n, out);
    case OP_CASE:
        return eval_case(cx, e, in, sel, n, out);
    case OP_COALESCE:
        return eval_coalesce(cx, e, in, sel, n, out);
    default:
        break;
    }
    exec_vec_t argv[8], *args = argv;
    if (e->nargs > URSA_ARRAY_LEN(argv) && !(args = alloc(cx, e->nargs * sizeof(*args)))) return nomem(cx);
    if ((rc = eval_args(cx, e, in, sel, n, args))) return rc;
    const exec_vec_t *a = &args[0], *b = e->nargs > 1 ? &args[1] : NULL;
    switch (e->op) {
    case OP_ADD:
    case OP_SUB:
        if (e->type == EXEC_TIMESTAMP) return eval_interval_arith(cx, e, args, n, out);
        /* fall through */
    case OP_MUL:
    case OP_MOD:
        if (e->type == EXEC_INT64) return arith_int(cx, e->op, a, b, n, out);
        return arith_float(cx, e->op, a, b, n, out);
    case OP_DIV:
        return arith_float(cx, e->op, a, b, n, out);
    case OP_NEG:
        if ((rc = vec(cx, out, e->type, n))) return rc;
        out->nulls = a->nulls;
        if (e->type == EXEC_INT64) {
            for (size_t i = 0; i < n; i++) {
                if (a->v.i[i] == INT64_MIN && !exec_is_null(a, i))
                    return fail(cx, URSA_EINVAL, "bigint overflow in negation");
                out->v.i[i] = -a->v.i[i];
            }
        } else
            for (size_t i = 0; i < n; i++) out->v.f[i] = -a->v.f[i];
        return URSA_OK;
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        return compare(cx, e->op, a, b, n, out);
    case OP_AND:
    case OP_OR: {
        exec_vec_t acc = *a;
        for (size_t j = 1; j < e->nargs; j++) {
            exec_vec_t r;
            if ((rc = logic(cx, e->op == OP_AND, &acc, &args[j], n, &r))) return rc;
            acc = r;
        }
        *out = acc;
        return URSA_OK;
    }
    case OP_NOT:
        if ((rc = vec(cx, out, EXEC_BOOL, n))) return rc;
        out->nulls = a->nulls;
        for (size_t i = 0; i < n; i++) out->v.b[i] = !a->v.b[i];
        return URSA_OK;
    case OP_IS_NULL:
    case OP_IS_NOT_NULL:
        if ((rc = vec(cx, out, EXEC_BOOL, n))) return rc;
        for (size_t i = 0; i < n; i++)
            out->v.b[i] = (a->type == EXEC_NULL || exec_is_null(a, i)) == (e->op == OP_IS_NULL);
        return URSA_OK;
    case OP_IN:
        return eval_in(cx, e, args, n, out);
    case OP_LIKE:
    case OP_ILIKE:
        return eval_like(cx, e, a, n, out);
    case OP_CAST:
        return cast(cx, a, e->type, n, out);
    case OP_NULLIF:
        if ((rc = vec(cx, out, e->type, n)) || (rc = vec_nulls(cx, out))) return rc;
        {
            size_t w = exec_type_width(e->type);
            if (w) memcpy(out->v.p, a->v.p, w * n);
            for (size_t i = 0; i < n; i++)
                out->nulls[i] = exec_is_null(a, i) || (!exec_is_null(b, i) && b->type != EXEC_NULL &&
                                                       exec_cmp_value(e->type, a, i, b, i) == 0);
        }
        return URSA_OK;
    case OP_LOWER:
    case OP_UPPER:
    case OP_LENGTH:
    case OP_SUBSTR:
    case OP_STARTS_WITH:
    case OP_CONCAT:
    case OP_CONCAT_OP:
        return eval_strings(cx, e, args, n, out);
    case OP_DATE_TRUNC:
    case OP_TIME_BUCKET:
    case OP_EXTRACT:
        return eval_time(cx, e, args, n, out);
    case OP_ABS:
    case OP_ROUND:
    case OP_FLOOR:
    case OP_CEIL:
        return eval_math(cx, e, args, n, out);
    default:
        return fail(cx, URSA_EINTERNAL, "expression operator %d cannot be evaluated", (int)e->op);
    }
}

int exec_filter(exec_ctx_t *cx, const exec_expr_t *e, const exec_batch_t *in, const uint32_t *sel, size_t n,
                uint32_t *out_sel, size_t *out_n)
{
    exec_vec_t v;
    int rc = exec_eval(cx, e, in, sel, n, &v);
    if (rc) return rc;
    size_t k = 0;
    if (v.type == EXEC_NULL) {
        *out_n = 0;
        return URSA_OK;
    }
    if (v.nulls) {
        for (size_t i = 0; i < n; i++) {
            out_sel[k] = sel ? sel[i] : (uint32_t)i;
            k += v.v.b[i] & !v.nulls[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            out_sel[k] = sel ? sel[i] : (uint32_t)i;
            k += v.v.b[i];
        }
    }
    *out_n = k;
    return URSA_OK;
}
