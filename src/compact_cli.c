/*
 * compact_cli.c -- `ursa compact`: one pass of compaction over a store, as
 * a Kubernetes CronJob runs it: every dataset with a table (or one), every
 * day with more than one live file (or one day), each merged into one
 * sorted file and swapped in by a replace commit (compact_day.h). It may
 * run while nodes write: the conditional commit decides, as between nodes.
 */
#include "compact_cli.h"

#include "compact_day.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ursa compact --store URL [--dataset NAME] [--date YYYY-MM-DD] [--node NAME]\n"
               "                    [--compression CODEC] [--s3-endpoint URL] [--single-node]\n"
               "  merges each day's files of each dataset's table into one file sorted by the\n"
               "  dataset's sort key, swapped in by one commit (S3 settings from the environment,\n"
               "  as for serve); --node names the commits (default \"compact\")\n");
}

typedef struct names {
    char **v;
    size_t n, cap;
} names_t;

static int add_name(names_t *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = ursa_realloc(l->v, cap * sizeof(*p));
        if (!p) return URSA_ENOMEM;
        l->v = p, l->cap = cap;
    }
    if (!(l->v[l->n] = ursa_malloc(len + 1))) return URSA_ENOMEM;
    memcpy(l->v[l->n], s, len), l->v[l->n][len] = '\0';
    l->n++;
    return URSA_OK;
}

static int list_dataset(void *ctx, const char *key, bool is_prefix)
{
    size_t n = strlen(key);
    if (!is_prefix || n < 2 || !ursa_name_valid(key, n - 1)) return URSA_OK;
    return add_name(ctx, key, n - 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Compacts every day of dataset (or only `date`); returns the failures. */
static int compact_dataset(ursa_store_t *st, const char *dataset, const char *date,
                           const compact_day_opts_t *o)
{
    names_t days = {0};
    ursa_err_t err;
    json_t *listing = NULL;
    int failures = 0;
    if (date) {
        if (add_name(&days, date, strlen(date))) return 1;
    } else if (table_files(st, dataset, &listing, &err)) {
        fprintf(stderr, "ursa compact: %s: %s\n", dataset, err.msg);
        return 1;
    } else { /* the days not compacted yet (every day counts as closed) */
        json_t *due = compact_days_due(listing, 0, -1, 0), *x;
        size_t i;
        if (!due) failures++;
        json_array_foreach(due, i, x)
        {
            const char *d = json_string_value(json_object_get(x, "date"));
            if (add_name(&days, d, strlen(d))) failures++;
        }
        json_decref(due);
    }
    for (size_t i = 0; i < days.n; i++) {
        compact_day_result_t r;
        double t0 = now_s();
        if (compact_day(st, dataset, days.v[i], o, &r, &err)) {
            fprintf(stderr, "ursa compact: %s, %s: %s\n", dataset, days.v[i], err.msg);
            failures++;
        } else if (r.nothing)
            printf("%s %s: %zu file%s, compacted already\n", dataset, days.v[i], r.files,
                   r.files == 1 ? "" : "s");
        else if (r.lost)
            printf("%s %s: another compaction replaced these files first; nothing committed\n", dataset,
                   days.v[i]);
        else
            printf("%s %s: %zu files (%llu bytes) -> %zu (%llu bytes), %llu rows, %.2f s%s\n", dataset,
                   days.v[i], r.inputs, (unsigned long long)r.bytes_in, r.outputs,
                   (unsigned long long)r.bytes_out, (unsigned long long)r.rows, now_s() - t0,
                   r.already ? " (committed before)" : "");
        ursa_free(days.v[i]);
    }
    ursa_free(days.v);
    json_decref(listing);
    return failures;
}

int ursa_cmd_compact(int argc, char **argv)
{
    const char *store_url = NULL, *dataset = NULL, *date = NULL, *node = "compact", *codec = NULL;
    ursa_s3_config_t s3 = {.path_style = -1};
    bool single = getenv("URSA_SINGLE_NODE") && strcmp(getenv("URSA_SINGLE_NODE"), "0") != 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--single-node")) {
            single = true;
            continue;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--store"))
            store_url = v;
        else if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--date"))
            date = v;
        else if (!strcmp(a, "--node"))
            node = v;
        else if (!strcmp(a, "--compression"))
            codec = v;
        else if (!strcmp(a, "--s3-endpoint"))
            s3.endpoint = v;
        else {
            fprintf(stderr, "ursa compact: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!store_url) {
        usage(stderr);
        return 2;
    }
    pq_write_opts_t pq;
    pq_write_opts_default(&pq);
    if (codec) {
        int c = pq_codec_from_name(codec);
        if (c < 0) {
            fprintf(stderr, "ursa compact: unknown compression \"%s\"\n", codec);
            return 2;
        }
        pq.codec = (pq_codec_t)c;
    }
    ursa_store_t *st = NULL;
    ursa_err_t err;
    names_t sets = {0};
    int failures = 0;
    bool ok;
    if (ursa_store_open(store_url, &s3, &st, &err) || ursa_store_check_conditional(st, node, &ok, &err)) {
        fprintf(stderr, "ursa compact: store %s: %s\n", store_url, err.msg);
        ursa_store_destroy(&st);
        return 1;
    }
    if (!ok && !single) {
        fprintf(stderr,
                "ursa compact: the store %s does not support conditional writes (PUT with If-None-Match: *); "
                "with nodes writing it, a commit could be lost. --single-node if nothing else writes it\n",
                store_url);
        ursa_store_destroy(&st);
        return 1;
    }
    st->single_writer = !ok;
    compact_day_opts_t o = {.node = node, .pq = &pq};
    if (dataset)
        failures += add_name(&sets, dataset, strlen(dataset)) != URSA_OK;
    else if (ursa_store_list(st, "", '/', list_dataset, &sets, &err)) {
        fprintf(stderr, "ursa compact: listing %s: %s\n", store_url, err.msg);
        failures++;
    }
    for (size_t i = 0; i < sets.n; i++) {
        ursa_schema_t s;
        if (!dataset && table_load_schema(st, sets.v[i], &s, &err) != URSA_OK) { /* not a table */
            ursa_free(sets.v[i]);
            continue;
        }
        if (!dataset) ursa_schema_free(&s);
        failures += compact_dataset(st, sets.v[i], date, &o);
        ursa_free(sets.v[i]);
    }
    ursa_free(sets.v);
    ursa_store_destroy(&st);
    return failures ? 1 : 0;
}
