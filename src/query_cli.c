/*
 * query_cli.c -- `ursa query --store URL "SQL"`: the engine of the server
 * (query.h) on the stored tables alone -- no node's buffered rows, since
 * no node is asked -- its result on standard output (CSV by default, or
 * --format json|ndjson|arrow|parquet), its statistics on standard error
 * with --stats. Exit status 0, 1 for a failed query, 2 for bad arguments.
 */
#include "query_cli.h"

#include "query.h"
#include "query_out.h"
#include "options.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ursa query --store URL [--format csv|json|ndjson|arrow|parquet] [--stats]\n"
               "                  [--memory BYTES] [--s3-endpoint URL] \"SELECT ...\"\n"
               "  runs SQL over the datasets' tables in the store (their stored rows; the rows a\n"
               "  node still buffers are seen through its POST /v1/query)\n");
}

typedef struct cli_out {
    query_out_t *o;
    query_format_t fmt;
    ursa_buf_t buf;
} cli_out_t;

static int flush_out(cli_out_t *c, ursa_err_t *err)
{
    if (c->buf.len && fwrite(c->buf.data, 1, c->buf.len, stdout) != c->buf.len)
        return ursa_err_set(err, URSA_EIO, "cannot write the result");
    c->buf.len = 0;
    return URSA_OK;
}

static int cli_begin(void *ctx, const exec_schema_t *s, ursa_err_t *err)
{
    cli_out_t *c = ctx;
    return query_out_new(&c->o, c->fmt, s, err);
}

static int cli_rows(void *ctx, const exec_batch_t *b, ursa_err_t *err)
{
    cli_out_t *c = ctx;
    int rc = query_out_batch(c->o, b, &c->buf, err);
    return rc ? rc : flush_out(c, err);
}

int ursa_cmd_query(int argc, char **argv)
{
    const char *store_url = NULL, *format = "csv", *sql = NULL;
    bool stats = false;
    uint64_t memory = 0;
    ursa_s3_config_t s3 = {.path_style = -1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--stats")) {
            stats = true;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (sql) {
                fprintf(stderr, "ursa query: one SQL statement, as one argument\n");
                return 2;
            }
            sql = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "ursa query: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--store"))
            store_url = v;
        else if (!strcmp(a, "--format"))
            format = v;
        else if (!strcmp(a, "--memory") && ursa_parse_bytes(v, &memory))
            ;
        else if (!strcmp(a, "--s3-endpoint"))
            s3.endpoint = v;
        else if (!strcmp(a, "--s3-region"))
            s3.region = v;
        else {
            fprintf(stderr, "ursa query: unknown option or bad value: %s %s\n", a, v);
            return 2;
        }
        i++;
    }
    if (!store_url || !sql) {
        usage(stderr);
        return 2;
    }
    ursa_err_t err = {0};
    cli_out_t c = {0};
    if (query_format_choose(format, NULL, &c.fmt, &err)) {
        fprintf(stderr, "ursa query: %s\n", err.msg);
        return 2;
    }
    ursa_store_t *st = NULL;
    if (ursa_store_open(store_url, &s3, &st, &err)) {
        fprintf(stderr, "ursa query: store %s: %s\n", store_url, err.msg);
        return 1;
    }
    query_opts_t qo = {.store = st, .memory_limit = memory};
    query_sink_t sink = {cli_begin, cli_rows, &c};
    exec_stats_t es;
    int rc = query_run(sql, &qo, &sink, &es, &err);
    if (rc == URSA_OK && (rc = query_out_end(c.o, &es, &c.buf, &err)) == URSA_OK) rc = flush_out(&c, &err);
    query_out_destroy(&c.o);
    ursa_buf_free(&c.buf);
    ursa_store_destroy(&st);
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "ursa query: %s\n", err.msg[0] ? err.msg : ursa_strstatus(rc));
        return 1;
    }
    if (stats)
        fprintf(stderr,
                "%llu rows in %.3f s; %llu rows scanned; files %llu (%llu pruned); row groups %llu (%llu "
                "pruned); "
                "pages %llu (%llu pruned); %llu bytes read; snapshot %lld\n",
                (unsigned long long)es.rows, es.seconds, (unsigned long long)es.rows_scanned,
                (unsigned long long)es.files, (unsigned long long)es.files_pruned,
                (unsigned long long)es.row_groups, (unsigned long long)es.row_groups_pruned,
                (unsigned long long)es.pages, (unsigned long long)es.pages_pruned,
                (unsigned long long)es.bytes_read, (long long)es.snapshot_id);
    return 0;
}
