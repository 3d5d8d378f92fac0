/*
 * schema.c -- dataset schemas: parse and render JSON (jansson), validate names.
 */
#include "schema.h"

#include "coerce.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[URSA_TYPE_COUNT_] = {
    "bool",   "int64",  "float64", "string",  "timestamp", "int8", "int16", "int32", "uint8", "uint16",
    "uint32", "uint64", "float32", "decimal", "binary",    "date", "time",  "uuid",  "json",
};

static const char *const unit_names[] = {"ms", "us", "ns"};

static const char *const encoding_names[] = {
    "auto", "plain", "dictionary", "delta", "delta_length", "byte_stream_split",
};

const char *ursa_type_name(ursa_type_t t)
{
    return (size_t)t < URSA_ARRAY_LEN(type_names) ? type_names[t] : "?";
}

static int lookup_name(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return (int)i;
    return -1;
}

unsigned ursa_field_width(const ursa_field_t *f)
{
    switch (f->type) {
    case URSA_TYPE_BOOL:
    case URSA_TYPE_STRING:
    case URSA_TYPE_BINARY:
    case URSA_TYPE_JSON:
        return 0;
    case URSA_TYPE_INT8:
    case URSA_TYPE_UINT8:
        return 1;
    case URSA_TYPE_INT16:
    case URSA_TYPE_UINT16:
        return 2;
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_DATE:
        return 4;
    case URSA_TYPE_DECIMAL:
        return f->precision > 18 ? 16 : 8;
    case URSA_TYPE_UUID:
        return 16;
    default:
        return 8;
    }
}

static bool is_integer_like(const ursa_field_t *f)
{
    switch (f->type) {
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_INT64:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_UINT64:
    case URSA_TYPE_DATE:
    case URSA_TYPE_TIME:
    case URSA_TYPE_TIMESTAMP:
        return true;
    case URSA_TYPE_DECIMAL:
        return f->precision <= 18;
    default:
        return false;
    }
}

/* Returns NULL when the field's encoding suits its type, else why not. */
static const char *encoding_fits(const ursa_field_t *f)
{
    switch (f->encoding) {
    case URSA_ENC_AUTO:
    case URSA_ENC_PLAIN:
        return NULL;
    case URSA_ENC_DICTIONARY:
        return f->type == URSA_TYPE_BOOL ? "booleans are not dictionary-encoded" : NULL;
    case URSA_ENC_DELTA_BINARY_PACKED:
        return is_integer_like(f) ? NULL
                                  : "\"delta\" is for integers, dates, times, timestamps and decimals up to "
                                    "precision 18";
    case URSA_ENC_DELTA_LENGTH_BYTE_ARRAY:
        return ursa_type_varlen(f->type) ? NULL : "\"delta_length\" is for string, binary and json";
    case URSA_ENC_BYTE_STREAM_SPLIT:
        return f->type == URSA_TYPE_FLOAT32 || f->type == URSA_TYPE_FLOAT64
                   ? NULL
                   : "\"byte_stream_split\" is for float32 and float64";
    }
    return "unknown encoding";
}

bool ursa_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > URSA_NAME_MAX) return false;
    if (s[0] < 'a' || s[0] > 'z') return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

void ursa_field_free(ursa_field_t *f)
{
    ursa_free(f->name);
    for (size_t k = 0; k < f->naliases; k++) ursa_free(f->aliases[k]);
    ursa_free(f->aliases);
    ursa_free(f->default_json);
    ursa_rules_free(f->rules);
    memset(f, 0, sizeof(*f));
}

void ursa_schema_free(ursa_schema_t *s)
{
    for (size_t i = 0; i < s->nfields; i++) ursa_field_free(&s->fields[i]);
    ursa_free(s->fields);
    memset(s, 0, sizeof(*s));
    s->time_column = -1;
}

size_t ursa_schema_sort_key(const ursa_schema_t *s, int cols[URSA_SORT_KEYS_MAX])
{
    for (size_t i = 0; i < s->nsort_by; i++) cols[i] = s->sort_by[i];
    if (s->nsort_by) return s->nsort_by;
    if (s->time_column < 0) return 0;
    cols[0] = s->time_column;
    return 1;
}

int ursa_schema_find(const ursa_schema_t *s, const char *name, size_t n)
{
    size_t nf = ursa_schema_nfields(s);
    for (size_t i = 0; i < nf; i++)
        if (s->fields[i].name_len == n && memcmp(s->fields[i].name, name, n) == 0) return (int)i;
    return -1;
}

/* Reads the type parameters and writer options of column c into f. */
void ursa_rules_free(ursa_rules_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nformats; i++) ursa_free(r->formats[i]);
    for (size_t i = 0; r->allowed && i < r->nallowed; i++) ursa_free(r->allowed[i]);
    ursa_free(r->formats);
    ursa_free(r->allowed);
    ursa_free(r->allowed_int);
    ursa_free(r->allowed_text);
    ursa_free(r->json);
    ursa_free(r);
}

static bool is_signed_int(ursa_type_t t)
{
    return t == URSA_TYPE_INT8 || t == URSA_TYPE_INT16 || t == URSA_TYPE_INT32 || t == URSA_TYPE_INT64;
}

static bool is_unsigned_int(ursa_type_t t)
{
    return t == URSA_TYPE_UINT8 || t == URSA_TYPE_UINT16 || t == URSA_TYPE_UINT32 || t == URSA_TYPE_UINT64;
}

static bool is_float(ursa_type_t t)
{
    return t == URSA_TYPE_FLOAT32 || t == URSA_TYPE_FLOAT64;
}

/* The range of an integer type, as int64 (UINT64 up to INT64_MAX here:
 * schema documents hold JSON integers, which jansson keeps as int64). */
static void int_range(ursa_type_t t, int64_t *lo, int64_t *hi)
{
    static const int64_t his[] = {
        [URSA_TYPE_INT8] = INT8_MAX,     [URSA_TYPE_INT16] = INT16_MAX, [URSA_TYPE_INT32] = INT32_MAX,
        [URSA_TYPE_INT64] = INT64_MAX,   [URSA_TYPE_UINT8] = UINT8_MAX, [URSA_TYPE_UINT16] = UINT16_MAX,
        [URSA_TYPE_UINT32] = UINT32_MAX, [URSA_TYPE_UINT64] = INT64_MAX};
    *hi = his[t];
    *lo = is_unsigned_int(t) ? 0 : -*hi - 1;
}

static int cmp_bytes(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t nx = strlen(x), ny = strlen(y);
    if (nx != ny) return nx < ny ? -1 : 1;
    return memcmp(x, y, nx);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

const char *ursa_fmt_double(char buf[40], double d)
{
    if (d > -1e15 && d < 1e15 &&
        d == (double)(long long)d) { /* range first: the cast of a larger value is undefined */
        snprintf(buf, 40, "%lld", (long long)d);
        return buf;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, 40, "%.*g", p, d);
        if (strtod(buf, NULL) == d) break;
    }
    return buf;
}

/* Reads a bound ("min"/"max") for field f. */
static int parse_bound(json_t *j, const ursa_field_t *f, const char *key, int64_t *i, uint64_t *u, double *d,
                       ursa_err_t *err)
{
    if (is_float(f->type)) {
        if (!json_is_number(j))
            return ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"%s\" must be a number", f->name, key);
        *d = json_number_value(j);
        return URSA_OK;
    }
    int64_t lo, hi;
    int_range(f->type, &lo, &hi);
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi)
        return ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"%s\" must be an integer that fits %s",
                            f->name, key, ursa_type_name(f->type));
    *i = json_integer_value(j);
    *u = (uint64_t)*i;
    *d = (double)*i;
    return URSA_OK;
}

/* Harmonization rules of one column: "coerce", "trim", "case", "epoch",
 * "formats", "enum", "min", "max" (max_length and default are parsed with
 * the type options). */
static int parse_rules(json_t *c, ursa_field_t *f, ursa_err_t *err)
{
    json_t *jc = json_object_get(c, "coerce"), *jt = json_object_get(c, "trim"),
           *jk = json_object_get(c, "case"), *je = json_object_get(c, "epoch"),
           *jf = json_object_get(c, "formats"), *jn = json_object_get(c, "enum"),
           *jmin = json_object_get(c, "min"), *jmax = json_object_get(c, "max");
    if (!jc && !jt && !jk && !je && !jf && !jn && !jmin && !jmax) return URSA_OK;
    const char *name = f->name;
    ursa_type_t t = f->type;
    ursa_rules_t *r = f->rules = ursa_calloc(1, sizeof(*r));
    if (!r) return URSA_ENOMEM;
    r->epoch = -1;
    ursa_buf_t js = {0}, list = {0};
    char num[40];
    int rc = URSA_OK;
#define RULE_FAIL(...)                                    \
    do {                                                  \
        rc = ursa_err_set(err, URSA_EINVAL, __VA_ARGS__); \
        goto out;                                         \
    } while (0)
#define RULE_OK(x)                \
    do {                          \
        if ((rc = (x))) goto out; \
    } while (0)
    if (jc) {
        if (!json_is_boolean(jc)) RULE_FAIL("column \"%s\": \"coerce\" must be true or false", name);
        r->coerce = json_is_true(jc);
        if (r->coerce && (t == URSA_TYPE_JSON || t == URSA_TYPE_BINARY || t == URSA_TYPE_UUID))
            RULE_FAIL("column \"%s\": \"coerce\" is not for %s columns", name, ursa_type_name(t));
        if (r->coerce) RULE_OK(ursa_buf_printf(&js, ",\"coerce\":true"));
    }
    if (jt) {
        if (!json_is_boolean(jt)) RULE_FAIL("column \"%s\": \"trim\" must be true or false", name);
        r->trim = json_is_true(jt);
        if (r->trim && (t == URSA_TYPE_JSON || t == URSA_TYPE_BINARY))
            RULE_FAIL("column \"%s\": \"trim\" is not for %s columns", name, ursa_type_name(t));
        if (r->trim) RULE_OK(ursa_buf_printf(&js, ",\"trim\":true"));
    }
    if (jk) {
        const char *v = json_is_string(jk) ? json_string_value(jk) : "";
        if (strcmp(v, "lower") && strcmp(v, "upper"))
            RULE_FAIL("column \"%s\": \"case\" must be \"lower\" or \"upper\"", name);
        if (t != URSA_TYPE_STRING) RULE_FAIL("column \"%s\": \"case\" is for string columns", name);
        r->fold = v[0] == 'l' ? URSA_FOLD_LOWER : URSA_FOLD_UPPER;
        RULE_OK(ursa_buf_printf(&js, ",\"case\":\"%s\"", v));
    }
    if (je) {
        static const char *const epoch_names[] = {"s", "ms", "us", "ns"};
        int e = json_is_string(je) ? lookup_name(epoch_names, 4, json_string_value(je)) : -1;
        if (e < 0) RULE_FAIL("column \"%s\": \"epoch\" must be \"s\", \"ms\", \"us\" or \"ns\"", name);
        if (t != URSA_TYPE_TIMESTAMP) RULE_FAIL("column \"%s\": \"epoch\" is for timestamp columns", name);
        r->epoch = e;
        RULE_OK(ursa_buf_printf(&js, ",\"epoch\":\"%s\"", epoch_names[e]));
    }
    if (jf) {
        size_t i;
        json_t *a;
        if (!json_is_array(jf) || json_array_size(jf) == 0 || json_array_size(jf) > 8)
            RULE_FAIL("column \"%s\": \"formats\" must be a list of 1 to 8 formats", name);
        if (t != URSA_TYPE_TIMESTAMP && t != URSA_TYPE_DATE && t != URSA_TYPE_TIME)
            RULE_FAIL("column \"%s\": \"formats\" is for timestamp, date and time columns", name);
        if (!(r->formats = ursa_calloc(json_array_size(jf), sizeof(char *)))) RULE_OK(URSA_ENOMEM);
        RULE_OK(ursa_buf_printf(&js, ",\"formats\":["));
        json_array_foreach(jf, i, a)
        {
            const char *v = json_is_string(a) ? json_string_value(a) : "";
            const char *why =
                json_string_length(a) > 64 ? "a format is at most 64 bytes" : ursa_format_check(v);
            if (why) RULE_FAIL("column \"%s\": formats[%zu] \"%.64s\": %s", name, i, v, why);
            if (!(r->formats[r->nformats++] = ursa_strdup(v))) RULE_OK(URSA_ENOMEM);
            RULE_OK(ursa_buf_printf(&js, "%s", i ? "," : ""));
            RULE_OK(ursa_buf_json_str(&js, v, strlen(v)));
        }
        RULE_OK(ursa_buf_push(&js, ']'));
    }
    if (jn) {
        size_t i, n = json_is_array(jn) ? json_array_size(jn) : 0;
        json_t *a;
        bool text = t == URSA_TYPE_STRING, ints = is_signed_int(t) || is_unsigned_int(t);
        if (!text && !ints) RULE_FAIL("column \"%s\": \"enum\" is for string and integer columns", name);
        if (n == 0 || n > 10000)
            RULE_FAIL("column \"%s\": \"enum\" must be a list of 1 to 10000 values", name);
        r->nallowed = n;
        if (text) {
            r->allowed = ursa_calloc(n, sizeof(char *));
            if (!r->allowed) RULE_OK(URSA_ENOMEM);
        } else if (!(r->allowed_int = ursa_calloc(n, sizeof(int64_t)))) {
            RULE_OK(URSA_ENOMEM);
        }
        RULE_OK(ursa_buf_printf(&js, ",\"enum\":["));
        json_array_foreach(jn, i, a)
        {
            if (list.len < 256) {
                if (json_is_string(a))
                    rc = ursa_buf_printf(&list, "%s%s", i ? ", " : "", json_string_value(a));
                else
                    rc = ursa_buf_printf(&list, "%s%lld", i ? ", " : "", (long long)json_integer_value(a));
                if (rc == URSA_OK) rc = ursa_buf_push(&list, 0), list.len--;
                if (rc) goto out;
            }
            RULE_OK(ursa_buf_printf(&js, "%s", i ? "," : ""));
            if (text) {
                if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a))
                    RULE_FAIL("column \"%s\": enum[%zu] must be a string (without NUL)", name, i);
                if (!(r->allowed[i] = ursa_strdup(json_string_value(a)))) RULE_OK(URSA_ENOMEM);
                RULE_OK(ursa_buf_json_str(&js, r->allowed[i], strlen(r->allowed[i])));
            } else {
                int64_t lo, hi;
                int_range(t, &lo, &hi);
                if (!json_is_integer(a) || json_integer_value(a) < lo || json_integer_value(a) > hi)
                    RULE_FAIL("column \"%s\": enum[%zu] must be an integer that fits %s", name, i,
                              ursa_type_name(t));
                r->allowed_int[i] = json_integer_value(a);
                RULE_OK(ursa_buf_printf(&js, "%lld", (long long)r->allowed_int[i]));
            }
        }
        r->allowed_text = (char *)list.data;
        list.data = NULL;
        RULE_OK(ursa_buf_push(&js, ']'));
        /* Sorted for a binary search: by length, then bytes. */
        if (text) {
            qsort(r->allowed, n, sizeof(char *), cmp_bytes);
        } else {
            qsort(r->allowed_int, n, sizeof(int64_t), cmp_i64);
        }
    }
    if (jmin || jmax) {
        if (!is_signed_int(t) && !is_unsigned_int(t) && !is_float(t))
            RULE_FAIL("column \"%s\": \"min\" and \"max\" are for integer and float columns", name);
        if (jmin) {
            RULE_OK(parse_bound(jmin, f, "min", &r->min_i, &r->min_u, &r->min_d, err));
            r->has_min = true;
        }
        if (jmax) {
            RULE_OK(parse_bound(jmax, f, "max", &r->max_i, &r->max_u, &r->max_d, err));
            r->has_max = true;
        }
        if (r->has_min && r->has_max && (is_float(t) ? r->min_d > r->max_d : r->min_i > r->max_i))
            RULE_FAIL("column \"%s\": \"min\" is greater than \"max\"", name);
        if (r->has_min) {
            if (is_float(t))
                RULE_OK(ursa_buf_printf(&js, ",\"min\":%s", ursa_fmt_double(num, r->min_d)));
            else
                RULE_OK(ursa_buf_printf(&js, ",\"min\":%lld", (long long)r->min_i));
        }
        if (r->has_max) {
            if (is_float(t))
                RULE_OK(ursa_buf_printf(&js, ",\"max\":%s", ursa_fmt_double(num, r->max_d)));
            else
                RULE_OK(ursa_buf_printf(&js, ",\"max\":%lld", (long long)r->max_i));
        }
    }
    if (!js.len) { /* only rules turned off ("trim": false): the same column as without them */
        ursa_rules_free(r);
        f->rules = NULL;
        goto out;
    }
    RULE_OK(ursa_buf_push(&js, '\0'));
    r->json = (char *)js.data;
    js.data = NULL;
out:
#undef RULE_FAIL
#undef RULE_OK
    ursa_buf_free(&js);
    ursa_buf_free(&list);
    return rc;
}

static int parse_type_options(json_t *c, ursa_field_t *f, ursa_err_t *err)
{
    json_t *jp = json_object_get(c, "precision"), *js = json_object_get(c, "scale");
    json_t *ju = json_object_get(c, "unit"), *jutc = json_object_get(c, "utc");
    json_t *je = json_object_get(c, "encoding"), *jb = json_object_get(c, "bloom_filter");
    const char *name = f->name;
    if (f->type == URSA_TYPE_DECIMAL) {
        json_int_t p = json_is_integer(jp) ? json_integer_value(jp) : -1;
        json_int_t sc = js ? (json_is_integer(js) ? json_integer_value(js) : -1) : 0;
        if (p < 1 || p > 38)
            return ursa_err_set(err, URSA_EINVAL, "column \"%s\": decimal needs \"precision\" from 1 to 38",
                                name);
        if (sc < 0 || sc > p)
            return ursa_err_set(err, URSA_EINVAL,
                                "column \"%s\": \"scale\" must be from 0 to the precision (%d)", name,
                                (int)p);
        f->precision = (uint8_t)p;
        f->scale = (uint8_t)sc;
    } else if (jp || js) {
        return ursa_err_set(err, URSA_EINVAL,
                            "column \"%s\": \"precision\" and \"scale\" are for decimal columns", name);
    }
    f->unit = URSA_UNIT_US;
    f->utc = true;
    if (f->type == URSA_TYPE_TIMESTAMP) {
        if (ju) {
            int u = json_is_string(ju) ? lookup_name(unit_names, 3, json_string_value(ju)) : -1;
            if (u < 0)
                return ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"unit\" must be ms, us or ns", name);
            f->unit = (ursa_time_unit_t)u;
        }
        if (jutc) {
            if (!json_is_boolean(jutc))
                return ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"utc\" must be true or false", name);
            f->utc = json_is_true(jutc);
        }
    } else if (ju || jutc) {
        return ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"unit\" and \"utc\" are for timestamp columns",
                            name);
    }
    if (je) {
        int e = json_is_string(je)
                    ? lookup_name(encoding_names, URSA_ARRAY_LEN(encoding_names), json_string_value(je))
                    : -1;
        if (e < 0)
            return ursa_err_set(err, URSA_EINVAL,
                                "column \"%s\": \"encoding\" must be one of auto, plain, dictionary, delta, "
                                "delta_length, byte_stream_split",
                                name);
        f->encoding = (ursa_encoding_t)e;
        const char *why = encoding_fits(f);
        if (why) return ursa_err_set(err, URSA_EINVAL, "column \"%s\": %s", name, why);
    }
    json_t *ja = json_object_get(c, "aliases"), *jd = json_object_get(c, "default"),
           *jm = json_object_get(c, "max_length");
    if (ja) {
        size_t i;
        json_t *a;
        if (!json_is_array(ja) || json_array_size(ja) > 16)
            return ursa_err_set(err, URSA_EINVAL,
                                "column \"%s\": \"aliases\" must be a list of up to 16 names", name);
        f->aliases = ursa_calloc(json_array_size(ja) + 1, sizeof(char *));
        if (!f->aliases) return URSA_ENOMEM;
        json_array_foreach(ja, i, a)
        {
            if (!json_is_string(a) || json_string_length(a) == 0 || json_string_length(a) > URSA_NAME_MAX ||
                strlen(json_string_value(a)) != json_string_length(a))
                return ursa_err_set(err, URSA_EINVAL, "column \"%s\": aliases must be names of 1 to %d bytes",
                                    name, URSA_NAME_MAX);
            if (!(f->aliases[f->naliases] = ursa_strdup(json_string_value(a)))) return URSA_ENOMEM;
            f->naliases++;
        }
    }
    if (jd && !json_is_null(jd)) {
        f->default_json = json_dumps(jd, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!f->default_json) return URSA_ENOMEM;
        char *copy = ursa_strdup(f->default_json); /* jansson's allocation, ours from here */
        free(f->default_json);
        if (!(f->default_json = copy)) return URSA_ENOMEM;
    }
    if (jm) {
        json_int_t m = json_is_integer(jm) ? json_integer_value(jm) : 0;
        if (m < 1 || m > UINT32_MAX || !(ursa_type_varlen(f->type)))
            return ursa_err_set(
                err, URSA_EINVAL,
                "column \"%s\": \"max_length\" is a positive integer, for string, binary and json", name);
        f->max_length = (uint32_t)m;
    }
    if (jb) {
        if (!json_is_boolean(jb))
            return ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"bloom_filter\" must be true or false",
                                name);
        f->bloom_filter = json_is_true(jb);
        if (f->bloom_filter && f->type == URSA_TYPE_BOOL)
            return ursa_err_set(err, URSA_EINVAL, "column \"%s\": booleans get no bloom filter", name);
    }
    return parse_rules(c, f, err);
}

int ursa_parse_hhmm(const char *s, size_t n)
{
    if (n != 5 || s[2] != ':') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* "flush": {"max_rows": N, "max_bytes": N, "max_age_seconds": N, "every_seconds": N, "at": ["HH:MM", …]} */
static int parse_flush(json_t *j, ursa_flush_policy_t *f, ursa_err_t *err)
{
    if (!j) return URSA_OK;
    if (!json_is_object(j)) return ursa_err_set(err, URSA_EINVAL, "\"flush\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (!strcmp(key, "at")) {
            size_t i;
            json_t *t;
            if (!json_is_array(v) || json_array_size(v) > URSA_ARRAY_LEN(f->at))
                return ursa_err_set(err, URSA_EINVAL,
                                    "\"flush\": \"at\" must be a list of up to 8 \"HH:MM\" (UTC)");
            json_array_foreach(v, i, t)
            {
                int m = json_is_string(t) ? ursa_parse_hhmm(json_string_value(t), json_string_length(t)) : -1;
                if (m < 0)
                    return ursa_err_set(err, URSA_EINVAL, "\"flush\": \"at\" times must be \"HH:MM\" (UTC)");
                f->at[f->nat++] = (uint16_t)m;
            }
            continue;
        }
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
        if (x < 1)
            return ursa_err_set(err, URSA_EINVAL, "\"flush\": \"%.40s\" must be a positive integer", key);
        if (!strcmp(key, "max_rows"))
            f->max_rows = (uint64_t)x;
        else if (!strcmp(key, "max_bytes"))
            f->max_bytes = (uint64_t)x;
        else if (!strcmp(key, "max_age_seconds") && x <= UINT32_MAX)
            f->max_age_s = (uint32_t)x;
        else if (!strcmp(key, "every_seconds") && x <= UINT32_MAX)
            f->every_s = (uint32_t)x;
        else
            return ursa_err_set(err, URSA_EINVAL,
                                "\"flush\": unknown or bad \"%.40s\" (max_rows, max_bytes, max_age_seconds, "
                                "every_seconds)",
                                key);
    }
    return URSA_OK;
}

/* "sort_by": ["col", …], 1 to URSA_SORT_KEYS_MAX distinct columns of
 * orderable types. */
static int parse_sort_by(json_t *j, ursa_schema_t *s, ursa_err_t *err)
{
    if (!j) return URSA_OK;
    if (!json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > URSA_SORT_KEYS_MAX)
        return ursa_err_set(err, URSA_EINVAL, "\"sort_by\" must be a list of 1 to %d column names",
                            URSA_SORT_KEYS_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        if (!json_is_string(v))
            return ursa_err_set(err, URSA_EINVAL, "\"sort_by\"[%zu] must be a column name", i);
        int k = ursa_schema_find(s, json_string_value(v), json_string_length(v));
        if (k < 0)
            return ursa_err_set(err, URSA_EINVAL, "\"sort_by\"[%zu]: no column \"%.64s\"", i,
                                json_string_value(v));
        if (!ursa_type_orderable(s->fields[k].type))
            return ursa_err_set(err, URSA_EINVAL,
                                "\"sort_by\"[%zu]: column \"%s\" is %s, which has no order (any other "
                                "type may be a sort key)",
                                i, s->fields[k].name, ursa_type_name(s->fields[k].type));
        for (size_t m = 0; m < s->nsort_by; m++)
            if (s->sort_by[m] == k)
                return ursa_err_set(err, URSA_EINVAL, "\"sort_by\": column \"%s\" is named twice",
                                    s->fields[k].name);
        s->sort_by[s->nsort_by++] = (uint16_t)k;
    }
    return URSA_OK;
}

int ursa_schema_parse(const char *json, size_t len, ursa_schema_t *out, ursa_err_t *err)
{
    json_error_t jerr;
    int rc = URSA_OK;
    memset(out, 0, sizeof(*out));
    out->time_column = -1;

    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ursa_err_set(err, URSA_EFORMAT, "schema is not valid JSON: %s (line %d)", jerr.text,
                            jerr.line);
    if (!json_is_object(root)) {
        rc = ursa_err_set(err, URSA_EINVAL, "schema must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "columns") && strcmp(key, "time_column") && strcmp(key, "flush") &&
            strcmp(key, "unknown_fields") && strcmp(key, "sort_by")) {
            rc = ursa_err_set(err, URSA_EINVAL, "unknown schema field \"%.64s\"", key);
            goto out;
        }
    }
    json_t *cols = json_object_get(root, "columns");
    if (!json_is_array(cols) || json_array_size(cols) == 0) {
        rc = ursa_err_set(err, URSA_EINVAL, "\"columns\" must be a non-empty array");
        goto out;
    }
    size_t n = json_array_size(cols);
    if (n > URSA_COLUMNS_MAX) {
        rc = ursa_err_set(err, URSA_ELIMIT, "too many columns: %zu (at most %d)", n, URSA_COLUMNS_MAX);
        goto out;
    }
    /* An evolving schema gets room for every column it may ever have:
     * fields never move, so requests may read them while one is added. */
    json_t *ufj = json_object_get(root, "unknown_fields");
    bool evolving = json_is_string(ufj) && !strcmp(json_string_value(ufj), "evolve");
    out->fields = ursa_calloc(evolving ? URSA_COLUMNS_MAX : n, sizeof(ursa_field_t));
    if (!out->fields) {
        rc = URSA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        if (!json_is_object(c)) {
            rc = ursa_err_set(err, URSA_EINVAL, "columns[%zu] must be an object", i);
            goto out;
        }
        static const char *const column_keys[] = {
            "name",     "type",         "nullable", "precision", "scale",      "unit",   "utc",
            "encoding", "bloom_filter", "aliases",  "default",   "max_length", "coerce", "trim",
            "case",     "epoch",        "formats",  "enum",      "min",        "max"};
        json_object_foreach(c, key, val)
        {
            if (lookup_name(column_keys, URSA_ARRAY_LEN(column_keys), key) < 0) {
                rc = ursa_err_set(err, URSA_EINVAL, "columns[%zu]: unknown field \"%.64s\"", i, key);
                goto out;
            }
        }
        json_t *jn = json_object_get(c, "name"), *jt = json_object_get(c, "type");
        json_t *jnull = json_object_get(c, "nullable");
        if (!json_is_string(jn) || !ursa_name_valid(json_string_value(jn), json_string_length(jn))) {
            rc = ursa_err_set(err, URSA_EINVAL,
                              "columns[%zu]: \"name\" must match [a-z][a-z0-9_]* (at most %d bytes)", i,
                              URSA_NAME_MAX);
            goto out;
        }
        const char *name = json_string_value(jn);
        int t = json_is_string(jt)
                    ? lookup_name(type_names, URSA_ARRAY_LEN(type_names), json_string_value(jt))
                    : -1;
        if (t < 0) {
            rc =
                ursa_err_set(err, URSA_EINVAL,
                             "column \"%s\": \"type\" must be one of bool, int8, int16, int32, int64, uint8, "
                             "uint16, uint32, uint64, float32, float64, decimal, string, binary, date, time, "
                             "timestamp, uuid, json",
                             name);
            goto out;
        }
        if (jnull && !json_is_boolean(jnull)) {
            rc = ursa_err_set(err, URSA_EINVAL, "column \"%s\": \"nullable\" must be true or false", name);
            goto out;
        }
        if (ursa_schema_find(out, name, strlen(name)) >= 0) {
            rc = ursa_err_set(err, URSA_EINVAL, "duplicate column \"%s\"", name);
            goto out;
        }
        ursa_field_t *f = &out->fields[out->nfields];
        f->name = ursa_strdup(name);
        if (!f->name) {
            rc = URSA_ENOMEM;
            goto out;
        }
        f->name_len = strlen(name);
        f->type = (ursa_type_t)t;
        f->nullable = jnull ? json_is_true(jnull) : true;
        out->nfields++;
        if ((rc = parse_type_options(c, f, err))) goto out;
    }
    /* Files are partitioned by the UTC day of the time column, so every
     * dataset has one and it is never null. */
    /* Every name a record may use must lead to one field. */
    for (size_t i = 0; i < out->nfields; i++)
        for (size_t a = 0; a < out->fields[i].naliases; a++) {
            const char *al = out->fields[i].aliases[a];
            bool clash = ursa_schema_find(out, al, strlen(al)) >= 0;
            for (size_t j = 0; j < out->nfields && !clash; j++)
                for (size_t b2 = 0; b2 < out->fields[j].naliases && !clash; b2++)
                    clash = (j != i || b2 != a) && !strcmp(al, out->fields[j].aliases[b2]);
            if (clash) {
                rc =
                    ursa_err_set(err, URSA_EINVAL, "alias \"%.64s\" of column \"%s\" names another field too",
                                 al, out->fields[i].name);
                goto out;
            }
        }
    if ((rc = parse_flush(json_object_get(root, "flush"), &out->flush, err))) goto out;
    json_t *uf = json_object_get(root, "unknown_fields");
    if (uf) {
        const char *v = json_is_string(uf) ? json_string_value(uf) : "";
        if (!strcmp(v, "reject")) {
            out->reject_unknown = true;
        } else if (!strcmp(v, "evolve")) {
            out->evolve = true;
        } else if (strcmp(v, "ignore")) {
            rc =
                ursa_err_set(err, URSA_EINVAL,
                             "\"unknown_fields\" must be \"ignore\" (the default), \"reject\" or \"evolve\"");
            goto out;
        }
    }
    if ((rc = parse_sort_by(json_object_get(root, "sort_by"), out, err))) goto out;
    json_t *tc = json_object_get(root, "time_column");
    if (!tc) goto out;
    if (!json_is_string(tc)) {
        rc = ursa_err_set(err, URSA_EINVAL, "\"time_column\" must be the name of a timestamp column");
        goto out;
    }
    int idx = ursa_schema_find(out, json_string_value(tc), json_string_length(tc));
    if (idx < 0 || out->fields[idx].type != URSA_TYPE_TIMESTAMP) {
        rc = ursa_err_set(err, URSA_EINVAL, "\"time_column\" must name a timestamp column");
        goto out;
    }
    if (out->fields[idx].nullable) {
        rc = ursa_err_set(err, URSA_EINVAL, "the time column \"%s\" must be declared \"nullable\": false",
                          out->fields[idx].name);
        goto out;
    }
    out->time_column = idx;
out:
    json_decref(root);
    if (rc) ursa_schema_free(out);
    return rc;
}

int ursa_schema_to_json(const ursa_schema_t *s, ursa_buf_t *b)
{
    int rc = ursa_buf_printf(b, "{\"columns\":[");
    for (size_t i = 0; i < s->nfields && rc == URSA_OK; i++) {
        const ursa_field_t *f = &s->fields[i];
        rc = ursa_buf_printf(b, "%s{\"name\":\"%s\",\"type\":\"%s\",\"nullable\":%s", i ? "," : "", f->name,
                             ursa_type_name(f->type), f->nullable ? "true" : "false");
        if (rc == URSA_OK && f->type == URSA_TYPE_DECIMAL)
            rc = ursa_buf_printf(b, ",\"precision\":%u,\"scale\":%u", f->precision, f->scale);
        if (rc == URSA_OK && f->type == URSA_TYPE_TIMESTAMP)
            rc = ursa_buf_printf(b, ",\"unit\":\"%s\",\"utc\":%s", unit_names[f->unit],
                                 f->utc ? "true" : "false");
        if (rc == URSA_OK && f->encoding != URSA_ENC_AUTO)
            rc = ursa_buf_printf(b, ",\"encoding\":\"%s\"", encoding_names[f->encoding]);
        if (rc == URSA_OK && f->bloom_filter) rc = ursa_buf_printf(b, ",\"bloom_filter\":true");
        for (size_t k = 0; k < f->naliases && rc == URSA_OK; k++) {
            rc = ursa_buf_printf(b, "%s", k ? "," : ",\"aliases\":[");
            if (rc == URSA_OK) rc = ursa_buf_json_str(b, f->aliases[k], strlen(f->aliases[k]));
            if (rc == URSA_OK && k + 1 == f->naliases) rc = ursa_buf_push(b, ']');
        }
        if (rc == URSA_OK && f->default_json) rc = ursa_buf_printf(b, ",\"default\":%s", f->default_json);
        if (rc == URSA_OK && f->max_length) rc = ursa_buf_printf(b, ",\"max_length\":%u", f->max_length);
        if (rc == URSA_OK && f->rules) rc = ursa_buf_printf(b, "%s", f->rules->json);
        if (rc == URSA_OK) rc = ursa_buf_push(b, '}');
    }
    if (rc) return rc;
    rc = ursa_buf_push(b, ']');
    const ursa_flush_policy_t *f = &s->flush;
    if (rc == URSA_OK && (f->max_rows || f->max_bytes || f->max_age_s || f->every_s || f->nat)) {
        const char *sep = "";
        rc = ursa_buf_printf(b, ",\"flush\":{");
        if (rc == URSA_OK && f->max_rows)
            rc = ursa_buf_printf(b, "%s\"max_rows\":%llu", sep, (unsigned long long)f->max_rows), sep = ",";
        if (rc == URSA_OK && f->max_bytes)
            rc = ursa_buf_printf(b, "%s\"max_bytes\":%llu", sep, (unsigned long long)f->max_bytes), sep = ",";
        if (rc == URSA_OK && f->max_age_s)
            rc = ursa_buf_printf(b, "%s\"max_age_seconds\":%u", sep, f->max_age_s), sep = ",";
        if (rc == URSA_OK && f->every_s)
            rc = ursa_buf_printf(b, "%s\"every_seconds\":%u", sep, f->every_s), sep = ",";
        if (rc == URSA_OK && f->nat) {
            rc = ursa_buf_printf(b, "%s\"at\":[", sep);
            for (int i = 0; i < f->nat && rc == URSA_OK; i++)
                rc = ursa_buf_printf(b, "%s\"%02u:%02u\"", i ? "," : "", f->at[i] / 60u, f->at[i] % 60u);
            if (rc == URSA_OK) rc = ursa_buf_push(b, ']');
        }
        if (rc == URSA_OK) rc = ursa_buf_push(b, '}');
    }
    if (rc == URSA_OK && s->reject_unknown) rc = ursa_buf_printf(b, ",\"unknown_fields\":\"reject\"");
    if (rc == URSA_OK && s->evolve) rc = ursa_buf_printf(b, ",\"unknown_fields\":\"evolve\"");
    for (size_t i = 0; i < s->nsort_by && rc == URSA_OK; i++)
        rc = ursa_buf_printf(b, "%s\"%s\"%s", i ? "," : ",\"sort_by\":[", s->fields[s->sort_by[i]].name,
                             i + 1 == s->nsort_by ? "]" : "");
    if (rc) return rc;
    if (s->time_column >= 0)
        return ursa_buf_printf(b, ",\"time_column\":\"%s\"}", s->fields[s->time_column].name);
    return ursa_buf_push(b, '}');
}

int ursa_schema_merge(const ursa_schema_t *base, const ursa_schema_t *s, ursa_schema_t *out, bool *grew,
                      ursa_err_t *err)
{
    *grew = false;
    for (size_t i = 0; i < s->nfields; i++) {
        const ursa_field_t *f = &s->fields[i];
        int k = ursa_schema_find(base, f->name, f->name_len);
        if (k >= 0 && base->fields[k].type != f->type)
            return ursa_err_set(err, URSA_EEXIST, "column \"%s\" is %s in the dataset's table, not %s",
                                f->name, ursa_type_name(base->fields[k].type), ursa_type_name(f->type));
        *grew = *grew || k < 0;
    }
    /* Through the documents: a column's settings and rules are copied as
     * they render. */
    ursa_buf_t bt = {0}, st = {0};
    json_t *bj = NULL, *sj = NULL;
    char *mt = NULL;
    int rc = ursa_schema_to_json(base, &bt);
    if (rc == URSA_OK && *grew) rc = ursa_schema_to_json(s, &st);
    if (rc == URSA_OK && *grew) {
        bj = json_loadb((const char *)bt.data, bt.len, 0, NULL);
        sj = json_loadb((const char *)st.data, st.len, 0, NULL);
        json_t *bc = json_object_get(bj, "columns"), *sc = json_object_get(sj, "columns");
        if (!bc || json_array_size(sc) != s->nfields) rc = URSA_ENOMEM;
        for (size_t i = 0; i < s->nfields && rc == URSA_OK; i++)
            if (ursa_schema_find(base, s->fields[i].name, s->fields[i].name_len) < 0 &&
                json_array_append(bc, json_array_get(sc, i)))
                rc = URSA_ENOMEM;
        if (rc == URSA_OK && !(mt = json_dumps(bj, JSON_COMPACT))) rc = URSA_ENOMEM;
    }
    if (rc == URSA_OK)
        rc = mt ? ursa_schema_parse(mt, strlen(mt), out, err)
                : ursa_schema_parse((const char *)bt.data, bt.len, out, err);
    else
        ursa_err_set(err, rc, "out of memory");
    json_decref(bj), json_decref(sj);
    ursa_buf_free(&bt), ursa_buf_free(&st);
    free(mt);
    return rc;
}

bool ursa_schema_equal(const ursa_schema_t *a, const ursa_schema_t *b)
{
    if (a->nfields != b->nfields || a->time_column != b->time_column) return false;
    if (memcmp(&a->flush, &b->flush, sizeof(a->flush)) || a->reject_unknown != b->reject_unknown ||
        a->evolve != b->evolve)
        return false;
    /* "sort_by" equal to the default key is the same schema as none. */
    int ka[URSA_SORT_KEYS_MAX], kb[URSA_SORT_KEYS_MAX];
    size_t na = ursa_schema_sort_key(a, ka);
    if (na != ursa_schema_sort_key(b, kb) || memcmp(ka, kb, na * sizeof(int))) return false;
    for (size_t i = 0; i < a->nfields; i++) {
        const ursa_field_t *x = &a->fields[i], *y = &b->fields[i];
        if (x->type != y->type || x->nullable != y->nullable || strcmp(x->name, y->name)) return false;
        if (x->precision != y->precision || x->scale != y->scale || x->unit != y->unit || x->utc != y->utc)
            return false;
        if (x->encoding != y->encoding || x->bloom_filter != y->bloom_filter) return false;
        if (x->max_length != y->max_length || x->naliases != y->naliases) return false;
        if (!!x->default_json != !!y->default_json ||
            (x->default_json && strcmp(x->default_json, y->default_json)))
            return false;
        for (size_t k = 0; k < x->naliases; k++)
            if (strcmp(x->aliases[k], y->aliases[k])) return false;
        if (!!x->rules != !!y->rules || (x->rules && strcmp(x->rules->json, y->rules->json))) return false;
    }
    return true;
}
