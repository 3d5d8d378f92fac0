/*
 * table_files.h -- the table tests' data: a dataset schema {ts, k int64,
 * s string} and Parquet files of its rows (one a minute from midnight of a
 * day), parsed from NDJSON, written with the table's field ids and put in
 * the store; Avro files read back.
 */
#ifndef URSA_TEST_TABLE_FILES_H
#define URSA_TEST_TABLE_FILES_H

#include "avro_read.h"
#include "ingest_json.h"
#include "pq_write.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *JS = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                        "{\"name\":\"k\",\"type\":\"int64\"},{\"name\":\"s\",\"type\":\"string\"}],"
                        "\"time_column\":\"ts\"}";

static int table_test_sink(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    (void)err;
    return ursa_buf_append(ctx, p, n);
}

/* Writes rows [from, to) of `day` (days since 1970) as key: k is r, or with
 * k_nulls 7 with every fifth null; s is "v<r>". row_group_rows 0: the
 * writer's default. */
static void table_test_file(ursa_store_t *st, const ursa_schema_t *s, const int32_t *ids, const char *key,
                            int day, int from, int to, bool k_nulls, size_t row_group_rows)
{
    ursa_batch_t b;
    ursa_ndjson_t p;
    ursa_err_t err;
    if (ursa_batch_init(&b, s) || ursa_ndjson_init(&p, s, &b, 0)) abort();
    for (int r = from; r < to; r++) {
        char line[256], ts[32], k[24];
        time_t t = (time_t)day * 86400 + r * 60;
        struct tm tm;
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        snprintf(k, sizeof(k), "%d", k_nulls ? 7 : r);
        int n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"k\":%s,\"s\":\"v%03d\"}\n", ts,
                         k_nulls && r % 5 == 0 ? "null" : k, r);
        if (ursa_ndjson_feed(&p, line, (size_t)n)) abort();
    }
    if (ursa_ndjson_finish(&p)) abort();
    ursa_ndjson_free(&p);
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    o.field_ids = ids;
    o.threads = 1;
    if (row_group_rows) o.row_group_rows = row_group_rows;
    ursa_buf_t file = {0};
    pq_writer_t *w = NULL;
    if (pq_writer_new(&w, s, &o, (ursa_sink_t){table_test_sink, &file}, &err) ||
        pq_writer_write(w, &b, 0, b.nrows, &err) || pq_writer_close(w, NULL, &err))
        abort();
    pq_writer_destroy(&w);
    if (ursa_store_put(st, key, file.data, file.len, &err)) abort();
    ursa_buf_free(&file);
    ursa_batch_free(&b);
}

/* The records of the Avro file at store key (the caller's). */
static json_t *table_test_avro(ursa_store_t *st, const char *key)
{
    ursa_buf_t b = {0};
    ursa_err_t err;
    json_t *meta = NULL, *recs = NULL;
    if (!key || ursa_store_get(st, key, &b, &err) || avro_read_file(b.data, b.len, &meta, &recs, &err)) {
        fprintf(stderr, "%s: %s\n", key ? key : "(no key)", key ? err.msg : "");
        abort();
    }
    json_decref(meta);
    ursa_buf_free(&b);
    return recs;
}

static long long num(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

#endif
