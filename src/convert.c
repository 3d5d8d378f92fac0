/*
 * convert.c -- `ursa convert --schema S.json --input F.ndjson --output F.parquet`.
 *
 * Reads the input in 1 MiB pieces into the NDJSON scanner; every 16 MiB of
 * parsed columns the batch goes to the Parquet writer, which cuts row
 * groups by its own limits, so memory stays bounded whatever the input
 * size. The writer runs on a thread of its own while the next batch is
 * parsed (at most one batch waits for it: two batches in memory), so
 * parsing and compressing overlap instead of taking turns. With
 * --in-memory the whole input is parsed first and written afterwards, so
 * the write can be timed alone (benchmarks). The output is written to a
 * temporary name beside it and renamed when complete. Rejected records go
 * to stderr as "line N: column C: reason[: value V][: rule R]".
 */
#include "convert.h"

#include "ingest_json.h"
#include "options.h"
#include "pq_write.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define READ_PIECE  (1u << 20)
#define BATCH_BYTES ((size_t)16 << 20) /* small enough for parsing and writing to overlap */

/* The batch handed from the parsing thread to the writing one. */
typedef struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ursa_batch_t *next; /* waiting for the writer; NULL: the slot is free */
    bool done;          /* no more batches will come */
    int rc;             /* the writer's first failure */
    ursa_err_t err;
    pq_writer_t *w;
    double write_s;
} handoff_t;

static double now_s(void);

static void *write_main(void *arg)
{
    handoff_t *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->next && !h->done) pthread_cond_wait(&h->cv, &h->mu);
        ursa_batch_t *b = h->next;
        if (!b) break;
        h->next = NULL;
        bool failed = h->rc != URSA_OK;
        pthread_cond_broadcast(&h->cv); /* the slot is free */
        pthread_mutex_unlock(&h->mu);
        ursa_err_t e = {0};
        double t = now_s();
        int rc = failed ? URSA_OK : pq_writer_write(h->w, b, 0, b->nrows, &e);
        double dt = now_s() - t;
        ursa_batch_free(b);
        ursa_free(b);
        pthread_mutex_lock(&h->mu);
        h->write_s += dt;
        if (rc && !h->rc) {
            h->rc = rc;
            h->err = e;
        }
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Gives b to the writer, once the one before it has been taken. Returns
 * the writer's failure, if any (b is then freed here). */
static int hand_over(handoff_t *h, ursa_batch_t *b, ursa_err_t *err)
{
    pthread_mutex_lock(&h->mu);
    while (h->next && !h->rc) pthread_cond_wait(&h->cv, &h->mu);
    int rc = h->rc;
    if (rc) {
        *err = h->err;
        ursa_batch_free(b);
        ursa_free(b);
    } else {
        h->next = b;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* No more batches: waits until the writer has written them all. */
static int hand_over_end(handoff_t *h, pthread_t th, ursa_err_t *err)
{
    pthread_mutex_lock(&h->mu);
    h->done = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(th, NULL);
    if (h->rc) *err = h->err;
    return h->rc;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: ursa convert --schema S.json --input F.ndjson|- --output F.parquet [options]\n"
           "  --compression C       zstd (default), snappy, gzip, brotli, lz4_raw, uncompressed\n"
           "  --level N             compression level (zstd, gzip, brotli)\n"
           "  --page-version 1|2    data page version (default 1)\n"
           "  --row-group-bytes N   uncompressed bytes per row group (default 134217728)\n"
           "  --row-group-rows N    rows per row group (default: no limit)\n"
           "  --page-bytes N        uncompressed bytes per page (default 1048576)\n"
           "  --dict-max-bytes N    dictionary limit per column chunk, 0 = none (default 1048576)\n"
           "  --no-page-index       do not write ColumnIndex/OffsetIndex\n"
           "  --in-memory           parse everything before writing (times the write alone)\n"
           "  --stats               print one JSON line of figures on stdout\n"
           "Byte counts take units: 1M = 1MiB = 1048576.\n"
           "Rejected records are reported on stderr as \"line N: column C: reason[: value V][: rule R]\".\n");
}

typedef struct convert {
    const ursa_schema_t *schema;
    FILE *out;
    const char *tmp_path;
    uint64_t bytes;
} convert_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int file_write(void *ctx, const void *p, size_t n, ursa_err_t *err)
{
    convert_t *cv = ctx;
    if (fwrite(p, 1, n, cv->out) != n)
        return ursa_err_set(err, URSA_EIO, "write %s: %s", cv->tmp_path, strerror(errno));
    cv->bytes += n;
    return URSA_OK;
}

static void print_error(void *ctx, const ursa_row_error_t *e)
{
    (void)ctx;
    fprintf(stderr, "line %llu: column %s: %s%s%s%s%s\n", (unsigned long long)e->line,
            e->column >= 0 ? e->column_name : "-", e->reason, e->value[0] ? ": value " : "", e->value,
            e->rule[0] ? ": rule " : "", e->rule);
}

static bool parse_num(const char *s, long long lo, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo) return false;
    *out = v;
    return true;
}

static int read_file(const char *path, ursa_buf_t *b, ursa_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ursa_err_set(err, URSA_EIO, "%s: %s", path, strerror(errno));
    int rc = URSA_OK;
    for (;;) {
        if ((rc = ursa_buf_reserve(b, 65536))) break;
        size_t k = fread(b->data + b->len, 1, b->cap - b->len, f);
        b->len += k;
        if (k == 0) {
            if (ferror(f)) rc = ursa_err_set(err, URSA_EIO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    return rc;
}

int ursa_cmd_convert(int argc, char **argv)
{
    const char *schema_path = NULL, *in_path = NULL, *out_path = NULL;
    bool in_memory = false, stats = false;
    pq_write_opts_t o;
    pq_write_opts_default(&o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        uint64_t u;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--in-memory")) {
            in_memory = true;
            continue;
        } else if (!strcmp(a, "--stats")) {
            stats = true;
            continue;
        } else if (!strcmp(a, "--no-page-index")) {
            o.page_index = false;
            continue;
        }
        if (!v) {
            fprintf(stderr, "ursa convert: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--schema"))
            schema_path = v;
        else if (!strcmp(a, "--input"))
            in_path = v;
        else if (!strcmp(a, "--output"))
            out_path = v;
        else if (!strcmp(a, "--compression")) {
            int c = pq_codec_from_name(v);
            if (c < 0) {
                fprintf(stderr, "ursa convert: unknown compression \"%s\"\n", v);
                return 2;
            }
            o.codec = (pq_codec_t)c;
        } else if (!strcmp(a, "--level") && parse_num(v, -100, &n))
            o.level = (int)n;
        else if (!strcmp(a, "--page-version") && parse_num(v, 1, &n) && n <= 2)
            o.page_version = (int)n;
        else if (!strcmp(a, "--row-group-bytes") && ursa_parse_bytes(v, &u) && u >= 1 && u <= SIZE_MAX)
            o.row_group_bytes = (size_t)u;
        else if (!strcmp(a, "--row-group-rows") && parse_num(v, 1, &n))
            o.row_group_rows = (size_t)n;
        else if (!strcmp(a, "--page-bytes") && ursa_parse_bytes(v, &u) && u >= 1 && u <= SIZE_MAX)
            o.page_bytes = (size_t)u;
        else if (!strcmp(a, "--dict-max-bytes") && ursa_parse_bytes(v, &u) && u <= SIZE_MAX)
            o.dict_max_bytes = (size_t)u;
        else {
            fprintf(stderr, "ursa convert: unknown option or bad value: %s %s\n", a, v);
            return 2;
        }
    }
    if (!schema_path || !in_path || !out_path) {
        usage(stderr);
        return 2;
    }

    double t0 = now_s(), parse_s = 0, write_s = 0;
    int status = 1, rc;
    ursa_err_t err = {0};
    ursa_buf_t sj = {0};
    ursa_schema_t schema = {0};
    ursa_batch_t *batches = NULL; /* with --in-memory: all of them */
    size_t nbatches = 0, cap = 0;
    ursa_batch_t *cur = NULL; /* without: the one being parsed */
    handoff_t h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t writer;
    bool writing = false; /* the writer thread runs */
    ursa_ndjson_t scan = {0};
    bool scan_ready = false;
    pq_writer_t *w = NULL;
    FILE *in = NULL;
    char *tmp = NULL, *piece = NULL;
    convert_t cv = {0};
    uint64_t rows = 0;

    if ((rc = read_file(schema_path, &sj, &err))) goto fail;
    if ((rc = ursa_schema_parse((const char *)sj.data, sj.len, &schema, &err))) {
        fprintf(stderr, "ursa convert: schema %s: %s\n", schema_path, err.msg);
        goto out;
    }
    in = strcmp(in_path, "-") ? fopen(in_path, "rb") : stdin;
    if (!in) {
        ursa_err_set(&err, URSA_EIO, "%s: %s", in_path, strerror(errno));
        goto fail;
    }
    size_t tn = strlen(out_path) + 32;
    tmp = ursa_malloc(tn);
    piece = ursa_malloc(READ_PIECE);
    if (!tmp || !piece) goto nomem;
    snprintf(tmp, tn, "%s.tmp-%ld", out_path, (long)getpid());
    cv.schema = &schema;
    cv.tmp_path = tmp;
    cv.out = fopen(tmp, "wb");
    if (!cv.out) {
        ursa_err_set(&err, URSA_EIO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    ursa_buf_t sjson = {0};
    if (ursa_schema_to_json(&schema, &sjson) || ursa_buf_push(&sjson, '\0')) goto nomem;
    ursa_buf_free(&sj);
    sj = sjson; /* keep the rendering alive for the writer's metadata */
    o.kv_key = "ursa.schema";
    o.kv_value = (const char *)sj.data;
    ursa_sink_t sink = {file_write, &cv};
    if ((rc = pq_writer_new(&w, &schema, &o, sink, &err))) goto fail;
    h.w = w;
    if (!in_memory) {
        if (pthread_create(&writer, NULL, write_main, &h)) goto nomem;
        writing = true;
    }

    for (;;) {
        /* A fresh batch for the scanner. */
        ursa_batch_t *b;
        if (in_memory) {
            if (nbatches == cap) {
                size_t nc = cap ? cap * 2 : 4;
                ursa_batch_t *p = ursa_realloc(batches, nc * sizeof(*p));
                if (!p) goto nomem;
                batches = p;
                cap = nc;
            }
            b = &batches[nbatches++];
            if (ursa_batch_init(b, &schema)) {
                nbatches--;
                goto nomem;
            }
        } else {
            if (!(cur = ursa_malloc(sizeof(*cur)))) goto nomem;
            if (ursa_batch_init(cur, &schema)) {
                ursa_free(cur);
                cur = NULL;
                goto nomem;
            }
            b = cur;
        }
        if (!scan_ready) {
            if (ursa_ndjson_init(&scan, &schema, b, 0)) goto nomem;
            scan.on_error = print_error;
            scan.on_error_ctx = &schema;
            scan_ready = true;
        }
        scan.batch = b;
        bool eof = false;
        double t1 = now_s();
        while (!eof && ursa_batch_bytes(b) < BATCH_BYTES) {
            size_t k = fread(piece, 1, READ_PIECE, in);
            if (k == 0) {
                if (ferror(in)) {
                    ursa_err_set(&err, URSA_EIO, "%s: read error", in_path);
                    goto fail;
                }
                eof = true;
                if (ursa_ndjson_finish(&scan)) goto nomem;
            } else if (ursa_ndjson_feed(&scan, piece, k)) {
                goto nomem;
            }
        }
        parse_s += now_s() - t1;
        rows += b->nrows;
        if (!in_memory) {
            cur = NULL; /* the writer's now */
            if ((rc = hand_over(&h, b, &err))) goto fail;
        }
        if (eof) break;
    }
    if (writing) {
        writing = false;
        rc = hand_over_end(&h, writer, &err);
        write_s += h.write_s;
        if (rc) goto fail;
    }
    double t1 = now_s();
    for (size_t i = 0; i < nbatches; i++)
        if ((rc = pq_writer_write(w, &batches[i], 0, batches[i].nrows, &err))) goto fail;
    if ((rc = pq_writer_close(w, NULL, &err))) goto fail;
    if (fflush(cv.out) || fsync(fileno(cv.out)) || fclose(cv.out)) {
        cv.out = NULL;
        ursa_err_set(&err, URSA_EIO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    cv.out = NULL;
    write_s += now_s() - t1;
    if (rename(tmp, out_path)) {
        ursa_err_set(&err, URSA_EIO, "rename to %s: %s", out_path, strerror(errno));
        goto fail;
    }
    if (stats) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf(
            "{\"rows\":%llu,\"rejected\":%llu,\"bytes\":%llu,\"parse_seconds\":%.6f,\"write_seconds\":%.6f,"
            "\"total_seconds\":%.6f,\"peak_rss_bytes\":%lld}\n",
            (unsigned long long)rows, (unsigned long long)scan.rejected, (unsigned long long)cv.bytes,
            parse_s, write_s, now_s() - t0, (long long)ru.ru_maxrss * 1024);
    }
    if (scan.rejected)
        fprintf(stderr, "ursa convert: %llu records written, %llu rejected\n", (unsigned long long)rows,
                (unsigned long long)scan.rejected);
    status = 0;
    goto out;
nomem:
    ursa_err_set(&err, URSA_ENOMEM, "out of memory");
fail:
    fprintf(stderr, "ursa convert: %s\n", err.msg[0] ? err.msg : "failed");
out:
    if (writing) hand_over_end(&h, writer, &err); /* after a failure: the writer ends its batch */
    if (cur) {
        ursa_batch_free(cur);
        ursa_free(cur);
    }
    if (cv.out) fclose(cv.out);
    if (status && tmp) unlink(tmp);
    if (in && in != stdin) fclose(in);
    pq_writer_destroy(&w);
    if (scan_ready) ursa_ndjson_free(&scan);
    for (size_t i = 0; i < nbatches; i++) ursa_batch_free(&batches[i]);
    ursa_free(batches);
    ursa_schema_free(&schema);
    ursa_buf_free(&sj);
    ursa_free(tmp);
    ursa_free(piece);
    return status;
}
