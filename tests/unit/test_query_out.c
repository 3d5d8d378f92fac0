/* Unit tests for the result encoders (query_out): the choice of format
 * from ?format= and Accept; JSON, NDJSON and CSV of every type, with
 * nulls, unicode, invalid UTF-8, extreme timestamps and dates, NaN and
 * infinities, intervals, CSV quoting and the stats object, byte for byte;
 * empty results; answers that stream (the buffer emptied between calls);
 * errors and failed allocations at every step; the Arrow stream's framing.
 * Then the real readers: tests/tools/query_out_check.mjs reads the Arrow
 * streams with apache-arrow JS and nodejs-polars and the Parquet files
 * with hyparquet and DuckDB, and compares every value with what this test
 * put in (written beside them as <name>.expect.json). */
#include "query_out.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef URSA_SOURCE_DIR
#error "URSA_SOURCE_DIR must name the source tree (CMakeLists.txt sets it)"
#endif

static exec_arena_t arena;

/* A vector of n rows of type t in the arena; nulls[i] == 'N' makes row i
 * null (nulls may be NULL: none). */
static exec_vec_t vec(exec_type_t t, size_t n, const char *nulls)
{
    exec_vec_t v;
    if (exec_vec_alloc(&v, &arena, t, n)) abort();
    if (nulls) {
        if (exec_vec_nulls(&v, &arena)) abort();
        for (size_t i = 0; i < n; i++) v.nulls[i] = nulls[i] == 'N';
    }
    return v;
}

static exec_str_t str(const char *s)
{
    return (exec_str_t){s, strlen(s)};
}

/* Encodes nb batches and the end into out (emptied first); returns the
 * first error. */
static int encode(query_format_t f, const exec_schema_t *s, const exec_batch_t *b, size_t nb,
                  const exec_stats_t *st, ursa_buf_t *out, ursa_err_t *err)
{
    query_out_t *o;
    out->len = 0;
    int rc = query_out_new(&o, f, s, err);
    if (rc) return rc;
    for (size_t i = 0; i < nb && !rc; i++) rc = query_out_batch(o, &b[i], out, err);
    if (!rc) rc = query_out_end(o, st, out, err);
    query_out_destroy(&o);
    return rc;
}

/* True when out holds exactly want; prints both otherwise. */
static bool same(const ursa_buf_t *out, const char *want)
{
    size_t n = strlen(want);
    if (out->len == n && memcmp(out->data, want, n) == 0) return true;
    fprintf(stderr, "got:  %.*s\nwant: %s\n", (int)out->len, (const char *)out->data, want);
    return false;
}

/* True when out ends with want; prints both otherwise. */
static bool ends(const ursa_buf_t *out, const char *want)
{
    size_t n = strlen(want);
    if (out->len >= n && memcmp(out->data + out->len - n, want, n) == 0) return true;
    fprintf(stderr, "got:  %.*s\nwant: ...%s\n", (int)out->len, (const char *)out->data, want);
    return false;
}

/* ---------------------------------------------------------------------------
 * Format choice
 * ------------------------------------------------------------------------- */

TEST(format_choose)
{
    query_format_t f;
    ursa_err_t err = {0};
    static const struct {
        const char *format, *accept;
        query_format_t want;
    } ok[] = {
        {NULL, NULL, QUERY_FMT_JSON},
        {NULL, "", QUERY_FMT_JSON},
        {NULL, " , ", QUERY_FMT_JSON},
        {"json", NULL, QUERY_FMT_JSON},
        {"ndjson", NULL, QUERY_FMT_NDJSON},
        {"CSV", NULL, QUERY_FMT_CSV},
        {"arrow", NULL, QUERY_FMT_ARROW},
        {"parquet", NULL, QUERY_FMT_PARQUET},
        {"csv", "application/vnd.apache.arrow.stream", QUERY_FMT_CSV}, /* the explicit format wins */
        {NULL, "application/json", QUERY_FMT_JSON},
        {NULL, "application/x-ndjson", QUERY_FMT_NDJSON},
        {NULL, "application/ndjson", QUERY_FMT_NDJSON},
        {NULL, "text/csv", QUERY_FMT_CSV},
        {NULL, "Text/CSV; charset=utf-8", QUERY_FMT_CSV},
        {NULL, "application/vnd.apache.arrow.stream", QUERY_FMT_ARROW},
        {NULL, "application/vnd.apache.parquet", QUERY_FMT_PARQUET},
        {NULL, "application/x-parquet", QUERY_FMT_PARQUET},
        {NULL, "*/*", QUERY_FMT_JSON},
        {NULL, "application/*", QUERY_FMT_JSON},
        {NULL, "text/*", QUERY_FMT_CSV},
        {NULL, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", QUERY_FMT_JSON},
        {NULL, "text/csv;q=0.5, application/vnd.apache.arrow.stream", QUERY_FMT_ARROW},
        {NULL, "application/json;q=0, text/csv", QUERY_FMT_CSV},
        {NULL, "*/*, text/csv", QUERY_FMT_CSV},                  /* a full type beats the wildcard */
        {NULL, "text/csv;q=0.9, */*", QUERY_FMT_JSON},           /* ... but not a higher q */
        {NULL, "text/csv, application/x-ndjson", QUERY_FMT_CSV}, /* equal: the first listed */
        {NULL, "text/html, text/csv ; q=0.2", QUERY_FMT_CSV},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(ok); i++) {
        f = (query_format_t)-1;
        int rc = query_format_choose(ok[i].format, ok[i].accept, &f, &err);
        if (rc || f != ok[i].want) fprintf(stderr, "case %zu: rc %d, format %d\n", i, rc, (int)f);
        CHECK_EQ_INT(rc, URSA_OK);
        CHECK_EQ_INT(f, ok[i].want);
    }
    /* Unknown values are named in the message. */
    CHECK_EQ_INT(query_format_choose("xml", NULL, &f, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "\"xml\"") != NULL);
    CHECK_EQ_INT(query_format_choose("", "text/csv", &f, &err), URSA_EINVAL);
    CHECK_EQ_INT(query_format_choose(NULL, "text/html", &f, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "text/html") != NULL);
    CHECK_EQ_INT(query_format_choose(NULL, "application/json;q=0", &f, &err), URSA_EINVAL);
    CHECK_EQ_INT(query_format_choose(NULL, "text/csv;q=2", &f, &err), URSA_EINVAL);

    CHECK(strcmp(query_format_content_type(QUERY_FMT_JSON), "application/json") == 0);
    CHECK(strcmp(query_format_content_type(QUERY_FMT_NDJSON), "application/x-ndjson") == 0);
    CHECK(strcmp(query_format_content_type(QUERY_FMT_CSV), "text/csv; charset=utf-8") == 0);
    CHECK(strcmp(query_format_content_type(QUERY_FMT_ARROW), "application/vnd.apache.arrow.stream") == 0);
    CHECK(strcmp(query_format_content_type(QUERY_FMT_PARQUET), "application/vnd.apache.parquet") == 0);
    for (int i = QUERY_FMT_JSON; i <= QUERY_FMT_PARQUET; i++) {
        CHECK_EQ_INT(query_format_choose(query_format_name((query_format_t)i), NULL, &f, &err), URSA_OK);
        CHECK_EQ_INT(f, i);
    }
}

/* ---------------------------------------------------------------------------
 * The text formats
 * ------------------------------------------------------------------------- */

#define INVALID_UTF8 "\xff\xe2\x82(\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80z"
#define FFFD         "\xef\xbf\xbd"
/* What the WHATWG decoder (and Python's) makes of INVALID_UTF8. */
#define INVALID_UTF8_CLEAN FFFD FFFD "(" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD "z"

static char *type_names[] = {"b", "i", "f", "s", "ts", "d", "iv", "n"};
static exec_type_t type_types[] = {EXEC_BOOL,      EXEC_INT64, EXEC_FLOAT64,  EXEC_STRING,
                                   EXEC_TIMESTAMP, EXEC_DATE,  EXEC_INTERVAL, EXEC_NULL};

/* Eight rows of every type: row 2 all null, each column null once more,
 * and the extremes of each type. */
static exec_batch_t types_batch(exec_vec_t cols[8])
{
    enum { N = 8 };
    cols[0] = vec(EXEC_BOOL, N, "..N.N...");
    cols[1] = vec(EXEC_INT64, N, "..N..N..");
    cols[2] = vec(EXEC_FLOAT64, N, "..N.....");
    cols[3] = vec(EXEC_STRING, N, "..N...N.");
    cols[4] = vec(EXEC_TIMESTAMP, N, "..N.....");
    cols[5] = vec(EXEC_DATE, N, "..N.....");
    cols[6] = vec(EXEC_INTERVAL, N, "..N.....");
    cols[7] = vec(EXEC_NULL, N, NULL);
    static const uint8_t b[N] = {1, 0, 0, 1, 0, 0, 1, 0};
    static const int64_t i[N] = {0, -1, 0, INT64_MAX, INT64_MIN, 0, 42, 7};
    const double f[N] = {0.1, -0.0, 0, NAN, INFINITY, -INFINITY, 1e300, 5e-324};
    static const char *const s[N] = {"plain",
                                     "",
                                     "",
                                     "quote\" back\\ nl\n tab\t cr\r bell\x07 del\x7f",
                                     "\xc3\xa9\xf0\x9f\x98\x80\xe4\xb8\xad",
                                     INVALID_UTF8,
                                     "",
                                     "x"};
    static const int64_t ts[N] = {0,
                                  -1,
                                  0,
                                  1709210096123000,   /* 2024-02-29T12:34:56.123Z */
                                  1709210096123456,   /* ... .123456 */
                                  -62135596800000000, /* 0001-01-01 */
                                  INT64_MAX,
                                  INT64_MIN};
    static const int64_t d[N] = {0, -1, 0, 19782, -719162, 2932897, -719529, -719528};
    static const exec_interval_t iv[N] = {
        {0, 0, 0},  {14, 3, 14706700000}, {0, 0, 0},  {-14, -3, -14706700000},
        {-1, 2, 0}, {0, -1, 3600000000},  {0, 0, -1}, {INT32_MIN, INT32_MIN, INT64_MIN}};
    for (size_t r = 0; r < N; r++) {
        cols[0].v.b[r] = b[r];
        cols[1].v.i[r] = i[r];
        cols[2].v.f[r] = f[r];
        cols[3].v.s[r] = str(s[r]);
        cols[4].v.i[r] = ts[r];
        cols[5].v.i[r] = d[r];
        cols[6].v.iv[r] = iv[r];
    }
    return (exec_batch_t){cols, 8, N};
}

static const char TYPES_COLUMNS_JSON[] =
    "{\"columns\":[{\"name\":\"b\",\"type\":\"boolean\"},{\"name\":\"i\",\"type\":\"bigint\"},"
    "{\"name\":\"f\",\"type\":\"double\"},{\"name\":\"s\",\"type\":\"varchar\"},"
    "{\"name\":\"ts\",\"type\":\"timestamp\"},{\"name\":\"d\",\"type\":\"date\"},"
    "{\"name\":\"iv\",\"type\":\"interval\"},{\"name\":\"n\",\"type\":\"null\"}],";

static const char TYPES_ROWS_JSON[] =
    "[true,0,0.1,\"plain\",\"1970-01-01T00:00:00Z\",\"1970-01-01\",\"00:00:00\",null],"
    "[false,-1,-0,\"\",\"1969-12-31T23:59:59.999999Z\",\"1969-12-31\",\"1 year 2 mons 3 days "
    "04:05:06.7\",null],"
    "[null,null,null,null,null,null,null,null],"
    "[true,9223372036854775807,\"NaN\",\"quote\\\" back\\\\ nl\\n tab\\t cr\\r bell\\u0007 del\\u007f\","
    "\"2024-02-29T12:34:56.123Z\",\"2024-02-29\",\"-1 years -2 mons -3 days -04:05:06.7\",null],"
    "[null,-9223372036854775808,\"Infinity\",\"\xc3\xa9\xf0\x9f\x98\x80\xe4\xb8\xad\","
    "\"2024-02-29T12:34:56.123456Z\",\"0001-01-01\",\"-1 mons +2 days\",null],"
    "[false,null,\"-Infinity\",\"" INVALID_UTF8_CLEAN "\",\"0001-01-01T00:00:00Z\",\"+10000-01-01\","
    "\"-1 days +01:00:00\",null],"
    "[true,42,1e+300,null,\"+294247-01-10T04:00:54.775807Z\",\"-0001-12-31\",\"-00:00:00.000001\",null],"
    "[false,7,4.94065645841247e-324,\"x\",\"-290308-12-21T19:59:05.224192Z\",\"0000-01-01\","
    "\"-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808\",null]";

static exec_schema_t types_schema(void)
{
    return (exec_schema_t){type_names, type_types, 8};
}

TEST(json_types)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t b = types_batch(cols);
    exec_schema_t s = types_schema();
    exec_stats_t st = {0};
    st.rows = 8, st.rows_scanned = 100, st.live_rows = 3, st.files = 4, st.files_pruned = 1;
    st.row_groups = 5, st.row_groups_pruned = 2, st.pages = 9, st.pages_pruned = 6;
    st.bytes_read = 123456, st.peak_bytes = UINT64_MAX, st.seconds = 0.25, st.snapshot_id = 77, st.nodes = 2;
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, &b, 1, &st, &out, &err), URSA_OK);
    char want[4096];
    snprintf(want, sizeof(want),
             "%s\"rows\":[%s],\"stats\":{\"rows\":8,\"rows_scanned\":100,\"live_rows\":3,\"files\":4,"
             "\"files_pruned\":1,\"row_groups\":5,\"row_groups_pruned\":2,\"pages\":9,\"pages_pruned\":6,"
             "\"bytes_read\":123456,\"peak_bytes\":18446744073709551615,\"seconds\":0.25,\"snapshot_id\":77,"
             "\"nodes\":2,\"partial\":false}}\n",
             TYPES_COLUMNS_JSON, TYPES_ROWS_JSON);
    CHECK(same(&out, want));
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

/* The stats object: no snapshot, a partial answer (the missing list split,
 * blanks and empty names dropped, the array full to its last byte). */
TEST(json_stats)
{
    exec_schema_t s = {NULL, NULL, 0};
    exec_stats_t st = {0};
    st.snapshot_id = -1, st.seconds = 1.0 / 3, st.nodes = 3;
    snprintf(st.missing, sizeof(st.missing), " n2, ,n\"3\",");
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, NULL, 0, &st, &out, &err), URSA_OK);
    CHECK(same(&out,
               "{\"columns\":[],\"rows\":[],\"stats\":{\"rows\":0,\"rows_scanned\":0,\"live_rows\":0,"
               "\"files\":0,\"files_pruned\":0,\"row_groups\":0,\"row_groups_pruned\":0,\"pages\":0,"
               "\"pages_pruned\":0,\"bytes_read\":0,\"peak_bytes\":0,\"seconds\":0.3333333333333333,"
               "\"snapshot_id\":null,\"nodes\":3,\"partial\":true,\"missing\":[\"n2\",\"n\\\"3\\\"\"]}}\n"));
    memset(st.missing, 'x', sizeof(st.missing)); /* no NUL */
    st.seconds = NAN;
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, NULL, 0, &st, &out, &err), URSA_OK);
    char xs[sizeof(st.missing) + 1], want[1024];
    memset(xs, 'x', sizeof(st.missing));
    xs[sizeof(st.missing)] = '\0';
    snprintf(want, sizeof(want),
             "\"seconds\":null,\"snapshot_id\":null,\"nodes\":3,\"partial\":true,\"missing\":[\"%s\"]}}\n",
             xs);
    CHECK(ends(&out, want));
    /* No stats given: no "stats" key. */
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, NULL, 0, NULL, &out, &err), URSA_OK);
    CHECK(same(&out, "{\"columns\":[],\"rows\":[]}\n"));
    ursa_buf_free(&out);
}

/* Doubles in the fewest of 15, 16, 17 digits; timestamps' fractions. */
TEST(json_numbers)
{
    exec_arena_init(&arena, NULL);
    static char *names[] = {"f", "ts"};
    static exec_type_t types[] = {EXEC_FLOAT64, EXEC_TIMESTAMP};
    exec_schema_t s = {names, types, 2};
    enum { N = 7 };
    exec_vec_t cols[2] = {vec(EXEC_FLOAT64, N, NULL), vec(EXEC_TIMESTAMP, N, NULL)};
    const double f[N] = {1.0 / 3, 0.1 + 0.2, 1.0, 1e21, 123456789012345678.0, -1.5e-7, 9007199254740993.0};
    static const int64_t ts[N] = {120000, 100, 1000, 999999, -1500000, 86400000000, -86400000001};
    for (size_t r = 0; r < N; r++) cols[0].v.f[r] = f[r], cols[1].v.i[r] = ts[r];
    exec_batch_t b = {cols, 2, N};
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, &b, 1, NULL, &out, &err), URSA_OK);
    CHECK(same(&out,
               "{\"columns\":[{\"name\":\"f\",\"type\":\"double\"},{\"name\":\"ts\",\"type\":\"timestamp\"}],"
               "\"rows\":[[0.3333333333333333,\"1970-01-01T00:00:00.120Z\"],"
               "[0.30000000000000004,\"1970-01-01T00:00:00.000100Z\"],"
               "[1,\"1970-01-01T00:00:00.001Z\"],"
               "[1e+21,\"1970-01-01T00:00:00.999999Z\"],"
               "[1.2345678901234568e+17,\"1969-12-31T23:59:58.500Z\"],"
               "[-1.5e-07,\"1970-01-02T00:00:00Z\"],"
               "[9007199254740992,\"1969-12-30T23:59:59.999999Z\"]]}\n"));
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

TEST(ndjson)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t b = types_batch(cols);
    b.n = 3;
    exec_schema_t s = types_schema();
    static char *names2[] = {"b", "i", "f", "s", "ts", "d", "iv", "n\"\n\xff"};
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_NDJSON, &s, &b, 1, NULL, &out, &err), URSA_OK);
    CHECK(same(
        &out,
        "{\"b\":true,\"i\":0,\"f\":0.1,\"s\":\"plain\",\"ts\":\"1970-01-01T00:00:00Z\","
        "\"d\":\"1970-01-01\",\"iv\":\"00:00:00\",\"n\":null}\n"
        "{\"b\":false,\"i\":-1,\"f\":-0,\"s\":\"\",\"ts\":\"1969-12-31T23:59:59.999999Z\","
        "\"d\":\"1969-12-31\",\"iv\":\"1 year 2 mons 3 days 04:05:06.7\",\"n\":null}\n"
        "{\"b\":null,\"i\":null,\"f\":null,\"s\":null,\"ts\":null,\"d\":null,\"iv\":null,\"n\":null}\n"));
    /* Keys are escaped like values; an empty result is empty. */
    s.names = names2;
    b.n = 1;
    exec_stats_t st = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_NDJSON, &s, &b, 1, &st, &out, &err), URSA_OK);
    CHECK(ends(&out, ",\"n\\\"\\n" FFFD "\":null}\n"));
    CHECK_EQ_INT(encode(QUERY_FMT_NDJSON, &s, NULL, 0, &st, &out, &err), URSA_OK);
    CHECK_EQ_INT(out.len, 0);
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

TEST(csv_types)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t b = types_batch(cols);
    exec_schema_t s = types_schema();
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_CSV, &s, &b, 1, NULL, &out, &err), URSA_OK);
    CHECK(same(
        &out, "b,i,f,s,ts,d,iv,n\n"
              "true,0,0.1,plain,1970-01-01T00:00:00Z,1970-01-01,00:00:00,\n"
              "false,-1,-0,\"\",1969-12-31T23:59:59.999999Z,1969-12-31,1 year 2 mons 3 days 04:05:06.7,\n"
              ",,,,,,,\n"
              "true,9223372036854775807,NaN,\"quote\"\" back\\ nl\n tab\t cr\r bell\x07 del\x7f\","
              "2024-02-29T12:34:56.123Z,2024-02-29,-1 years -2 mons -3 days -04:05:06.7,\n"
              ",-9223372036854775808,Infinity,\xc3\xa9\xf0\x9f\x98\x80\xe4\xb8\xad,"
              "2024-02-29T12:34:56.123456Z,0001-01-01,-1 mons +2 days,\n"
              "false,,-Infinity," INVALID_UTF8_CLEAN ",0001-01-01T00:00:00Z,+10000-01-01,-1 days +01:00:00,\n"
              "true,42,1e+300,,+294247-01-10T04:00:54.775807Z,-0001-12-31,-00:00:00.000001,\n"
              "false,7,4.94065645841247e-324,x,-290308-12-21T19:59:05.224192Z,0000-01-01,"
              "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808,\n"));
    /* No rows: the header alone. */
    CHECK_EQ_INT(encode(QUERY_FMT_CSV, &s, NULL, 0, NULL, &out, &err), URSA_OK);
    CHECK(same(&out, "b,i,f,s,ts,d,iv,n\n"));
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

TEST(csv_quoting)
{
    exec_arena_init(&arena, NULL);
    static char *names[] = {"a,b", "q\"x", " lead", "plain name", "bad\xff", ""};
    static exec_type_t types[] = {EXEC_STRING, EXEC_STRING, EXEC_STRING, EXEC_STRING, EXEC_STRING, EXEC_BOOL};
    exec_schema_t s = {names, types, 6};
    enum { N = 2 };
    exec_vec_t cols[6] = {vec(EXEC_STRING, N, NULL), vec(EXEC_STRING, N, NULL), vec(EXEC_STRING, N, NULL),
                          vec(EXEC_STRING, N, ".N"), vec(EXEC_STRING, N, NULL), vec(EXEC_BOOL, N, "N.")};
    static const char *const v[N][5] = {{"a,b", "say \"hi\"", " lead", "mid space", "line\nbreak"},
                                        {"cr\rhere", "trail ", "\"", "", "tab\tok"}};
    for (size_t r = 0; r < N; r++)
        for (size_t c = 0; c < 5; c++) cols[c].v.s[r] = str(v[r][c]);
    cols[5].v.b[1] = 1;
    exec_batch_t b = {cols, 6, N};
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_CSV, &s, &b, 1, NULL, &out, &err), URSA_OK);
    CHECK(same(&out, "\"a,b\",\"q\"\"x\",\" lead\",plain name,bad" FFFD ",\"\"\n"
                     "\"a,b\",\"say \"\"hi\"\"\",\" lead\",mid space,\"line\nbreak\",\n"
                     "\"cr\rhere\",\"trail \",\"\"\"\",,tab\tok,true\n"));
    /* The same names in JSON's columns. */
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, NULL, 0, NULL, &out, &err), URSA_OK);
    CHECK(same(
        &out,
        "{\"columns\":[{\"name\":\"a,b\",\"type\":\"varchar\"},{\"name\":\"q\\\"x\",\"type\":\"varchar\"},"
        "{\"name\":\" lead\",\"type\":\"varchar\"},{\"name\":\"plain name\",\"type\":\"varchar\"},"
        "{\"name\":\"bad" FFFD "\",\"type\":\"varchar\"},{\"name\":\"\",\"type\":\"boolean\"}],"
        "\"rows\":[]}\n"));
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

/* Strings cut inside a character, and every byte that is not UTF-8. */
TEST(utf8)
{
    exec_arena_init(&arena, NULL);
    static char *names[] = {"s"};
    static exec_type_t types[] = {EXEC_STRING};
    exec_schema_t s = {names, types, 1};
    static const char *const in[] = {"ab\xe2\x82",  "\xf0\x9f\x98", "\x80",
                                     "\xc2",        "\xe0\x80\x80", "\xef\xbf\xbf\xf4\x8f\xbf\xbf",
                                     "\x01\x1f\x7f"};
    enum { N = URSA_ARRAY_LEN(in) };
    exec_vec_t col = vec(EXEC_STRING, N, NULL);
    for (size_t r = 0; r < N; r++) col.v.s[r] = str(in[r]);
    col.v.s[N - 1].n = 4; /* with its NUL */
    exec_batch_t b = {&col, 1, N};
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    CHECK_EQ_INT(encode(QUERY_FMT_NDJSON, &s, &b, 1, NULL, &out, &err), URSA_OK);
    CHECK(same(&out, "{\"s\":\"ab" FFFD "\"}\n"
                     "{\"s\":\"" FFFD "\"}\n"
                     "{\"s\":\"" FFFD "\"}\n"
                     "{\"s\":\"" FFFD "\"}\n"
                     "{\"s\":\"" FFFD FFFD FFFD "\"}\n"
                     "{\"s\":\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}\n"
                     "{\"s\":\"\\u0001\\u001f\\u007f\\u0000\"}\n"));
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

/* Batch by batch, the buffer emptied between calls: the pieces make the
 * answer of one call, and the header comes with the first. */
TEST(streaming)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t one = types_batch(cols);
    exec_schema_t s = types_schema();
    /* Rows 0..2, none, rows 3..7 (vectors that start at row 3), none. */
    exec_vec_t shifted[8];
    for (size_t c = 0; c < 8; c++) {
        shifted[c] = cols[c];
        shifted[c].n = 5;
        if (shifted[c].nulls) shifted[c].nulls += 3;
        if (shifted[c].v.p) shifted[c].v.p = (char *)shifted[c].v.p + 3 * exec_type_width(shifted[c].type);
    }
    exec_batch_t parts[4] = {{cols, 8, 3}, {cols, 8, 0}, {shifted, 8, 5}, {shifted, 8, 0}};
    for (int f = QUERY_FMT_JSON; f <= QUERY_FMT_CSV; f++) {
        ursa_buf_t whole = {0}, piece = {0}, joined = {0};
        ursa_err_t err = {0};
        CHECK_EQ_INT(encode((query_format_t)f, &s, &one, 1, NULL, &whole, &err), URSA_OK);
        query_out_t *o;
        CHECK_EQ_INT(query_out_new(&o, (query_format_t)f, &s, &err), URSA_OK);
        CHECK_EQ_INT(joined.len, 0);
        for (size_t i = 0; i < 4; i++) {
            piece.len = 0;
            CHECK_EQ_INT(query_out_batch(o, &parts[i], &piece, &err), URSA_OK);
            if (i == 0 && f == QUERY_FMT_JSON) CHECK(piece.len > 0 && piece.data[0] == '{');
            if (i == 1 || i == 3) CHECK_EQ_INT(piece.len, 0);
            CHECK_EQ_INT(ursa_buf_append(&joined, piece.data, piece.len), URSA_OK);
        }
        piece.len = 0;
        CHECK_EQ_INT(query_out_end(o, NULL, &piece, &err), URSA_OK);
        CHECK_EQ_INT(ursa_buf_append(&joined, piece.data, piece.len), URSA_OK);
        query_out_destroy(&o);
        CHECK(o == NULL);
        CHECK(joined.len == whole.len && memcmp(joined.data, whole.data, whole.len) == 0);
        ursa_buf_free(&whole), ursa_buf_free(&piece), ursa_buf_free(&joined);
    }
    exec_arena_free(&arena);
}

/* ---------------------------------------------------------------------------
 * Arrow framing, read back here (the values are the readers' business)
 * ------------------------------------------------------------------------- */

/* Walks an Arrow stream: counts Schema and RecordBatch messages, checks
 * the continuation markers, 8-byte alignment, that every body fits and
 * that the stream ends with the end-of-stream marker exactly. */
static bool arrow_walk(const ursa_buf_t *b, int *schemas, int *batches, int64_t *rows)
{
    size_t pos = 0;
    *schemas = *batches = 0;
    *rows = 0;
    for (;;) {
        uint32_t cont, len;
        if (pos + 8 > b->len) return false;
        memcpy(&cont, b->data + pos, 4);
        memcpy(&len, b->data + pos + 4, 4);
        if (cont != 0xffffffffu || len % 8) return false;
        pos += 8;
        if (len == 0) return pos == b->len;
        if (pos + len > b->len) return false;
        const uint8_t *m = b->data + pos;
        /* Message: root -> table -> vtable; fields 1 (header type), 2 (header), 3 (bodyLength). */
        uint32_t root;
        int32_t so;
        uint16_t vt[6] = {0};
        memcpy(&root, m, 4);
        memcpy(&so, m + root, 4);
        memcpy(vt, m + root - so, sizeof(vt));
        if (vt[0] < 12 || !vt[3] || !vt[4] || !vt[5]) return false;
        uint8_t type = m[root + vt[3]];
        int64_t body;
        memcpy(&body, m + root + vt[5], 8);
        if (type == 1) {
            (*schemas)++;
        } else if (type == 3) {
            (*batches)++;
            uint32_t hoff;
            memcpy(&hoff, m + root + vt[4], 4);
            size_t h = root + vt[4] + hoff; /* RecordBatch: field 0 is its length */
            int32_t hso;
            uint16_t hvt[3];
            memcpy(&hso, m + h, 4);
            memcpy(hvt, m + h - hso, sizeof(hvt));
            int64_t n;
            memcpy(&n, m + h + hvt[2], 8);
            *rows += n;
        } else {
            return false;
        }
        if (body < 0 || body % 8 || pos + len + (size_t)body > b->len) return false;
        pos += len + (size_t)body;
    }
}

TEST(arrow_framing)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t b[3] = {types_batch(cols)};
    cols[6].v.iv[7].us = 0; /* Arrow's nanoseconds cannot hold INT64_MIN microseconds */
    b[1] = b[0], b[1].n = 0;
    b[2] = b[0], b[2].n = 5;
    exec_schema_t s = types_schema();
    ursa_buf_t out = {0}, empty = {0};
    ursa_err_t err = {0};
    int schemas, batches;
    int64_t rows;
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, b, 3, NULL, &out, &err), URSA_OK);
    CHECK(arrow_walk(&out, &schemas, &batches, &rows));
    CHECK_EQ_INT(schemas, 1);
    CHECK_EQ_INT(batches, 2); /* the empty batch sends nothing */
    CHECK_EQ_INT(rows, 13);
    /* No batch, or only empty ones: the schema and the end. */
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, NULL, 0, NULL, &empty, &err), URSA_OK);
    CHECK(arrow_walk(&empty, &schemas, &batches, &rows));
    CHECK_EQ_INT(schemas, 1);
    CHECK_EQ_INT(batches, 0);
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, &b[1], 1, NULL, &out, &err), URSA_OK);
    CHECK(out.len == empty.len && memcmp(out.data, empty.data, out.len) == 0);
    /* The schema comes with the first batch, whole messages with each. */
    query_out_t *o;
    CHECK_EQ_INT(query_out_new(&o, QUERY_FMT_ARROW, &s, &err), URSA_OK);
    out.len = 0;
    CHECK_EQ_INT(query_out_batch(o, &b[1], &out, &err), URSA_OK);
    CHECK(out.len == empty.len - 8 && memcmp(out.data, empty.data, out.len) == 0);
    size_t at = out.len;
    CHECK_EQ_INT(query_out_batch(o, &b[2], &out, &err), URSA_OK);
    CHECK(out.len > at && out.len % 8 == 0);
    CHECK_EQ_INT(query_out_end(o, NULL, &out, &err), URSA_OK);
    CHECK(arrow_walk(&out, &schemas, &batches, &rows));
    CHECK_EQ_INT(batches, 1);
    CHECK_EQ_INT(rows, 5);
    query_out_destroy(&o);
    ursa_buf_free(&out), ursa_buf_free(&empty);
    exec_arena_free(&arena);
}

/* ---------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------- */

TEST(errors)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t good = types_batch(cols);
    exec_schema_t s = types_schema();
    ursa_buf_t out = {0};
    ursa_err_t err = {0};
    query_out_t *o;

    /* A batch that does not fit the schema: nothing appended, and the
     * encoder refuses to go on. */
    for (int f = QUERY_FMT_JSON; f <= QUERY_FMT_PARQUET; f++) {
        CHECK_EQ_INT(query_out_new(&o, (query_format_t)f, &s, &err), URSA_OK);
        exec_batch_t bad = good;
        bad.ncols = 7;
        out.len = 0;
        CHECK_EQ_INT(ursa_buf_append(&out, "keep", 4), URSA_OK);
        CHECK_EQ_INT(query_out_batch(o, &bad, &out, &err), URSA_EINTERNAL);
        CHECK_EQ_INT(out.len, 4);
        CHECK_EQ_INT(query_out_batch(o, &good, &out, &err), URSA_EINVAL);
        CHECK_EQ_INT(query_out_end(o, NULL, &out, &err), URSA_EINVAL);
        CHECK_EQ_INT(out.len, 4);
        query_out_destroy(&o);
    }
    exec_vec_t wrong[8];
    memcpy(wrong, cols, sizeof(wrong));
    wrong[1].type = EXEC_FLOAT64;
    exec_batch_t bad = {wrong, 8, 8};
    CHECK_EQ_INT(encode(QUERY_FMT_JSON, &s, &bad, 1, NULL, &out, &err), URSA_EINTERNAL);
    CHECK(strstr(err.msg, "column 1") != NULL);
    wrong[1] = cols[1], wrong[1].n = 7;
    CHECK_EQ_INT(encode(QUERY_FMT_CSV, &s, &bad, 1, NULL, &out, &err), URSA_EINTERNAL);

    /* Ended: no more. */
    CHECK_EQ_INT(query_out_new(&o, QUERY_FMT_CSV, &s, &err), URSA_OK);
    CHECK_EQ_INT(query_out_end(o, NULL, &out, &err), URSA_OK);
    CHECK_EQ_INT(query_out_end(o, NULL, &out, &err), URSA_EINVAL);
    CHECK_EQ_INT(query_out_batch(o, &good, &out, &err), URSA_EINVAL);
    query_out_destroy(&o);
    query_out_destroy(&o); /* NULL: nothing */

    /* Values a binary format cannot hold (null rows may hold anything). */
    exec_batch_t one = good;
    one.n = 7; /* without the INT64_MIN interval */
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, &one, 1, NULL, &out, &err), URSA_OK);
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, &good, 1, NULL, &out, &err), URSA_ELIMIT);
    CHECK(strstr(err.msg, "column iv") != NULL);
    cols[6].nulls[7] = 1;
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, &good, 1, NULL, &out, &err), URSA_OK);
    cols[5].v.i[3] = (int64_t)INT32_MAX + 1;
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, &good, 1, NULL, &out, &err), URSA_ELIMIT);
    CHECK(strstr(err.msg, "column d") != NULL);
    CHECK_EQ_INT(encode(QUERY_FMT_PARQUET, &s, &good, 1, NULL, &out, &err), URSA_ELIMIT);
    CHECK(strstr(err.msg, "column d") != NULL);
    cols[5].nulls[3] = 1;
    CHECK_EQ_INT(encode(QUERY_FMT_ARROW, &s, &good, 1, NULL, &out, &err), URSA_OK);
    CHECK_EQ_INT(encode(QUERY_FMT_PARQUET, &s, &good, 1, NULL, &out, &err), URSA_OK);
    CHECK(out.len > 8 && memcmp(out.data, "PAR1", 4) == 0 && memcmp(out.data + out.len - 4, "PAR1", 4) == 0);

    /* A string longer than a record batch may hold. */
    CHECK_EQ_INT(query_out_new(&o, QUERY_FMT_ARROW, &s, &err), URSA_OK);
    query_out_set_arrow_string_limit(o, 4);
    out.len = 0;
    CHECK_EQ_INT(query_out_batch(o, &good, &out, &err), URSA_ELIMIT);
    CHECK_EQ_INT(out.len, 0);
    query_out_destroy(&o);

    /* Parquet needs a column; a type out of range is refused. */
    exec_schema_t none = {NULL, NULL, 0};
    CHECK_EQ_INT(query_out_new(&o, QUERY_FMT_PARQUET, &none, &err), URSA_EINVAL);
    CHECK(o == NULL);
    exec_type_t odd[1] = {EXEC_TYPE_COUNT_};
    exec_schema_t bad_type = {type_names, odd, 1};
    CHECK_EQ_INT(query_out_new(&o, QUERY_FMT_JSON, &bad_type, &err), URSA_EINVAL);
    CHECK_EQ_INT(query_out_new(&o, (query_format_t)9, &s, &err), URSA_EINVAL);
    ursa_buf_free(&out);
    exec_arena_free(&arena);
}

/* Every allocation fails in turn: each run ends with URSA_OK or
 * URSA_ENOMEM, never a crash or a leak (ASan's leak check), and the first
 * run that succeeds gives the bytes of an undisturbed run. */
TEST(alloc_failures)
{
    exec_arena_init(&arena, NULL);
    exec_vec_t cols[8];
    exec_batch_t b[2] = {types_batch(cols)};
    cols[6].v.iv[7].us = 0;
    b[1] = b[0], b[1].n = 4;
    exec_schema_t s = types_schema();
    for (int f = QUERY_FMT_JSON; f <= QUERY_FMT_PARQUET; f++) {
        ursa_buf_t want = {0}, out = {0};
        ursa_err_t err = {0};
        CHECK_EQ_INT(encode((query_format_t)f, &s, b, 2, NULL, &want, &err), URSA_OK);
        int rc = URSA_ENOMEM;
        long k = 1;
        for (; rc && k < 100000; k++) {
            ursa_buf_free(&out);
            ursa_mem_fail_after(k);
            rc = encode((query_format_t)f, &s, b, 2, NULL, &out, &err);
            ursa_mem_fail_after(0);
            if (rc && rc != URSA_ENOMEM) {
                fprintf(stderr, "format %d, allocation %ld: %s (%s)\n", f, k, ursa_strstatus(rc), err.msg);
                CHECK(0);
                break;
            }
        }
        CHECK_EQ_INT(rc, URSA_OK);
        CHECK(k > 2);
        CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
        ursa_buf_free(&want), ursa_buf_free(&out);
    }
    exec_arena_free(&arena);
}

/* ---------------------------------------------------------------------------
 * Real readers: Arrow with apache-arrow JS and Polars, Parquet with
 * hyparquet and DuckDB (tests/tools/query_out_check.mjs)
 * ------------------------------------------------------------------------- */

static char dir[512];

/* Writes n bytes to <dir>/<name>. */
static void write_file(const char *name, const void *p, size_t n)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* Strings whose expected reading differs from their bytes. */
static const struct {
    const char *in, *out;
} cleaned[] = {{INVALID_UTF8, INVALID_UTF8_CLEAN}, {"\xff\xfe", FFFD FFFD}, {"bad\xff", "bad" FFFD}};

static const char *expected_text(const char *s, size_t n)
{
    for (size_t i = 0; i < URSA_ARRAY_LEN(cleaned); i++)
        if (strlen(cleaned[i].in) == n && memcmp(cleaned[i].in, s, n) == 0) return cleaned[i].out;
    return NULL;
}

/* Intervals and the text PostgreSQL gives them (what Parquet holds). */
static const struct {
    exec_interval_t iv;
    const char *text;
} intervals[] = {
    {{0, 0, 0}, "00:00:00"},
    {{14, 3, 14706700000}, "1 year 2 mons 3 days 04:05:06.7"},
    {{-14, -3, -14706700000}, "-1 years -2 mons -3 days -04:05:06.7"},
    {{1, 1, 1000000}, "1 mon 1 day 00:00:01"},
    {{-1, 2, 0}, "-1 mons +2 days"},
    {{0, -1, 3600000000}, "-1 days +01:00:00"},
    {{0, 0, -1}, "-00:00:00.000001"},
    {{120, 0, 360000000000}, "10 years 100:00:00"},
};

/* Appends the expected value of row r of v (column type t) as the check
 * script reads it: bigint, timestamp and date as decimal strings, doubles
 * as strings ("NaN", "-0", %.17g), intervals as [months, days, "us",
 * "text"], strings as the text a reader must see. */
static void expect_value(ursa_buf_t *e, exec_type_t t, const exec_vec_t *v, size_t r)
{
    int rc = URSA_OK;
    if (t == EXEC_NULL || v->type == EXEC_NULL || exec_is_null(v, r)) {
        rc = ursa_buf_printf(e, "null");
    } else if (t == EXEC_BOOL) {
        rc = ursa_buf_printf(e, v->v.b[r] ? "true" : "false");
    } else if (t == EXEC_INT64 || t == EXEC_TIMESTAMP || t == EXEC_DATE) {
        rc = ursa_buf_printf(e, "\"%lld\"", (long long)v->v.i[r]);
    } else if (t == EXEC_FLOAT64) {
        double f = v->v.f[r];
        if (isnan(f))
            rc = ursa_buf_printf(e, "\"NaN\"");
        else if (isinf(f))
            rc = ursa_buf_printf(e, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        else if (f == 0 && signbit(f))
            rc = ursa_buf_printf(e, "\"-0\"");
        else
            rc = ursa_buf_printf(e, "\"%.17g\"", f);
    } else if (t == EXEC_STRING) {
        const char *clean = expected_text(v->v.s[r].p, v->v.s[r].n);
        rc = clean ? ursa_buf_json_str(e, clean, strlen(clean))
                   : ursa_buf_json_str(e, v->v.s[r].p, v->v.s[r].n);
    } else if (t == EXEC_INTERVAL) {
        exec_interval_t iv = v->v.iv[r];
        const char *text = NULL;
        for (size_t i = 0; i < URSA_ARRAY_LEN(intervals); i++)
            if (!memcmp(&intervals[i].iv, &iv, sizeof(iv))) text = intervals[i].text;
        CHECK(text != NULL);
        rc = ursa_buf_printf(e, "[%d,%d,\"%lld\",\"%s\"]", iv.months, iv.days, (long long)iv.us,
                             text ? text : "?");
    }
    CHECK_EQ_INT(rc, URSA_OK);
}

/* Encodes the batches as Arrow (and Parquet when parquet) into
 * <dir>/<name>.arrow/.parquet and the expected rows into
 * <dir>/<name>.expect.json ("batches": the record batches expected, or -1). */
static void write_case(const char *name, const exec_schema_t *s, const exec_batch_t *b, size_t nb,
                       int64_t str_limit, int batches, bool parquet)
{
    ursa_buf_t out = {0}, e = {0};
    ursa_err_t err = {0};
    char file[200];
    query_out_t *o;
    CHECK_EQ_INT(query_out_new(&o, QUERY_FMT_ARROW, s, &err), URSA_OK);
    if (str_limit) query_out_set_arrow_string_limit(o, str_limit);
    for (size_t i = 0; i < nb; i++) CHECK_EQ_INT(query_out_batch(o, &b[i], &out, &err), URSA_OK);
    CHECK_EQ_INT(query_out_end(o, NULL, &out, &err), URSA_OK);
    query_out_destroy(&o);
    int schemas, nbatches;
    int64_t rows;
    CHECK(arrow_walk(&out, &schemas, &nbatches, &rows));
    if (batches >= 0) CHECK_EQ_INT(nbatches, batches);
    snprintf(file, sizeof(file), "%s.arrow", name);
    write_file(file, out.data, out.len);
    if (parquet) {
        CHECK_EQ_INT(encode(QUERY_FMT_PARQUET, s, b, nb, NULL, &out, &err), URSA_OK);
        snprintf(file, sizeof(file), "%s.parquet", name);
        write_file(file, out.data, out.len);
    }
    CHECK_EQ_INT(ursa_buf_printf(&e, "{\"batches\":%d,\"columns\":[", batches), URSA_OK);
    for (size_t c = 0; c < s->n; c++) {
        CHECK_EQ_INT(ursa_buf_printf(&e, "%s{\"name\":", c ? "," : ""), URSA_OK);
        const char *clean = expected_text(s->names[c], strlen(s->names[c]));
        const char *nm = clean ? clean : s->names[c];
        CHECK_EQ_INT(ursa_buf_json_str(&e, nm, strlen(nm)), URSA_OK);
        CHECK_EQ_INT(ursa_buf_printf(&e, ",\"type\":\"%s\"}", exec_type_name(s->types[c])), URSA_OK);
    }
    CHECK_EQ_INT(ursa_buf_printf(&e, "],\"rows\":["), URSA_OK);
    bool first = true;
    for (size_t i = 0; i < nb; i++) {
        for (size_t r = 0; r < b[i].n; r++, first = false) {
            CHECK_EQ_INT(ursa_buf_printf(&e, first ? "\n[" : ",\n["), URSA_OK);
            for (size_t c = 0; c < s->n; c++) {
                if (c) CHECK_EQ_INT(ursa_buf_push(&e, ','), URSA_OK);
                expect_value(&e, s->types[c], &b[i].cols[c], r);
            }
            CHECK_EQ_INT(ursa_buf_push(&e, ']'), URSA_OK);
        }
    }
    CHECK_EQ_INT(ursa_buf_printf(&e, "]}\n"), URSA_OK);
    snprintf(file, sizeof(file), "%s.expect.json", name);
    write_file(file, e.data, e.len);
    ursa_buf_free(&out), ursa_buf_free(&e);
}

static uint64_t lcg = 88172645463325252ull;
static uint64_t rnd(void)
{
    lcg ^= lcg << 13, lcg ^= lcg >> 7, lcg ^= lcg << 17; /* xorshift64 */
    return lcg;
}

static char *reader_names[] = {
    "b", "i", "f", "s", "ts", "d", "iv", "n", "count(*)", "na\xc3\xafve \xe2\x9c\x93", "bad\xff"};
static exec_type_t reader_types[] = {EXEC_BOOL,      EXEC_INT64,  EXEC_FLOAT64,  EXEC_STRING,
                                     EXEC_TIMESTAMP, EXEC_DATE,   EXEC_INTERVAL, EXEC_NULL,
                                     EXEC_INT64,     EXEC_STRING, EXEC_DATE};
enum { RCOLS = 11 };

/* n generated rows (all-null string column s when s_null). */
static exec_batch_t reader_rows(size_t n, bool s_null)
{
    static const char *const words[] = {"alpha",
                                        "\xce\xb2\x65ta",
                                        "\xce\xb3\xce\xac\xce\xbc\xce\xbc\xce\xb1",
                                        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                        "emoji \xf0\x9f\x98\x80",
                                        "",
                                        "comma,quote\"",
                                        "a much longer string that spans more than a few bytes"};
    exec_vec_t *cols = exec_arena_alloc(&arena, RCOLS * sizeof(*cols));
    char *mask = exec_arena_alloc(&arena, n + 1);
    for (size_t c = 0; c < RCOLS; c++) {
        for (size_t r = 0; r < n; r++) mask[r] = rnd() % (c + 3) == 0 ? 'N' : '.';
        exec_type_t t = reader_types[c];
        if (c == 3 && s_null) t = EXEC_NULL;
        cols[c] = vec(t, n, c == 1 ? NULL : mask); /* i: no null at all */
        for (size_t r = 0; r < n; r++) {
            uint64_t x = rnd();
            switch (t) {
            case EXEC_BOOL:
                cols[c].v.b[r] = x & 1;
                break;
            case EXEC_INT64:
                cols[c].v.i[r] = (int64_t)x;
                break;
            case EXEC_FLOAT64:
                cols[c].v.f[r] = (double)(int64_t)x / 1e9;
                break;
            case EXEC_STRING:
                cols[c].v.s[r] = str(words[x % URSA_ARRAY_LEN(words)]);
                break;
            case EXEC_TIMESTAMP:
                cols[c].v.i[r] = (int64_t)(x % 200000000000000000ull) - 100000000000000000; /* ±3168 years */
                break;
            case EXEC_DATE:
                cols[c].v.i[r] = (int64_t)(x % 2000000) - 1000000;
                break;
            case EXEC_INTERVAL:
                cols[c].v.iv[r] = intervals[x % URSA_ARRAY_LEN(intervals)].iv;
                break;
            default:
                break;
            }
        }
    }
    return (exec_batch_t){cols, RCOLS, n};
}

/* Ten hand-made rows: extremes the readers must keep exactly. */
static exec_batch_t reader_hand_rows(void)
{
    enum { N = 10 };
    exec_vec_t *cols = exec_arena_alloc(&arena, RCOLS * sizeof(*cols));
    cols[0] = vec(EXEC_BOOL, N, "N.........");
    cols[1] = vec(EXEC_INT64, N, ".N........");
    cols[2] = vec(EXEC_FLOAT64, N, "..N.......");
    cols[3] = vec(EXEC_STRING, N, "...N......");
    cols[4] = vec(EXEC_TIMESTAMP, N, "....N.....");
    cols[5] = vec(EXEC_DATE, N, ".....N....");
    cols[6] = vec(EXEC_INTERVAL, N, "......N...");
    cols[7] = vec(EXEC_NULL, N, NULL);
    cols[8] = vec(EXEC_INT64, N, NULL);
    cols[9] = vec(EXEC_STRING, N, NULL);
    cols[10] = vec(EXEC_DATE, N, "NNNNNNNNNN");
    const double f[N] = {0, -0.0, 0, NAN, INFINITY, -INFINITY, 0.1, 1e300, 5e-324, -123.456};
    static const int64_t i[N] = {0, 0, 1, -1, INT64_MAX, INT64_MIN, 42, 1 << 30, -(1 << 30), 7};
    static const char *const s[N] = {"plain",    "",           "quote\" back\\ nl\n",
                                     "",         INVALID_UTF8, "\xc3\xa9\xf0\x9f\x98\x80\xe4\xb8\xad",
                                     "\xff\xfe", "x",          "\x01\x7f",
                                     "end"};
    static const int64_t ts[N] = {0,
                                  -1,
                                  1709210096123000,
                                  1709210096123456,
                                  0,
                                  -62135596800000000,
                                  253402300799999999,
                                  -9000000000000000000,
                                  9000000000000000000,
                                  1};
    static const int64_t d[N] = {0, -1, 19782, -719162, 2932896, 0, 2932897, -719529, -1000000, 1000000};
    for (size_t r = 0; r < N; r++) {
        cols[0].v.b[r] = r & 1;
        cols[1].v.i[r] = i[r];
        cols[2].v.f[r] = f[r];
        cols[3].v.s[r] = str(s[r]);
        cols[4].v.i[r] = ts[r];
        cols[5].v.i[r] = d[r];
        cols[6].v.iv[r] = intervals[r % URSA_ARRAY_LEN(intervals)].iv;
        cols[8].v.i[r] = (int64_t)r * 1000;
        cols[9].v.s[r] = str(s[N - 1 - r]);
        cols[10].v.i[r] = 0;
    }
    return (exec_batch_t){cols, RCOLS, N};
}

TEST(readers)
{
    exec_arena_init(&arena, NULL);
    const char *tmp = getenv("URSA_TEST_TMP");
    snprintf(dir, sizeof(dir), "%s/query_out.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);

    /* Every type, names readers must keep, nulls everywhere: hand rows, an
     * empty batch, a full batch, and a batch whose s is a Null vector. */
    exec_schema_t s = {reader_names, reader_types, RCOLS};
    exec_batch_t b[4] = {
        reader_hand_rows(), {NULL, RCOLS, 0}, reader_rows(EXEC_BATCH_ROWS, false), reader_rows(1001, true)};
    b[1].cols = b[0].cols;
    write_case("types", &s, b, 4, 0, 3, true);
    /* No rows at all. */
    write_case("empty", &s, NULL, 0, 0, 0, true);
    /* Utf8 bytes past the limit (10 here): several record batches. Rows of
     * 4, 4 | 4, null, "", 6 (two U+FFFD) | 2 | 10 bytes. */
    static char *split_names[] = {"s", "k"};
    static exec_type_t split_types[] = {EXEC_STRING, EXEC_INT64};
    exec_schema_t ss = {split_names, split_types, 2};
    static const char *const sv[] = {"aaaa", "bbbb", "cccc", "", "", "\xff\xfe", "dd", "eeeeeeeeee"};
    exec_vec_t sc[2] = {vec(EXEC_STRING, 8, "...N...."), vec(EXEC_INT64, 8, NULL)};
    for (size_t r = 0; r < 8; r++) sc[0].v.s[r] = str(sv[r]), sc[1].v.i[r] = (int64_t)r;
    exec_batch_t sb = {sc, 2, 8};
    write_case("split", &ss, &sb, 1, 10, 4, false);

    snprintf(cmd, sizeof(cmd), "node %s/tests/tools/query_out_check.mjs '%s' types empty split",
             URSA_SOURCE_DIR, dir);
    int rc = system(cmd);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0 && !test_cur_failed) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    exec_arena_free(&arena);
}

int main(void)
{
    RUN(format_choose);
    RUN(json_types);
    RUN(json_stats);
    RUN(json_numbers);
    RUN(ndjson);
    RUN(csv_types);
    RUN(csv_quoting);
    RUN(utf8);
    RUN(streaming);
    RUN(arrow_framing);
    RUN(errors);
    RUN(alloc_failures);
    RUN(readers);
    return TEST_EXIT();
}
