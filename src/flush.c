/*
 * flush.c -- writing a dataset's buffer as Parquet, one file per UTC day.
 *
 * Design. The buffered chunks are taken out of the dataset under its lock,
 * so ingestion continues into a fresh list while they are written; they
 * stay in the dataset's `held` list, where queries read them (catalog.h,
 * ursa_dataset_pin), until the table commit of their files lands (or, for
 * a quarantine, which has no table, until the files are published) -- or
 * go back to the list when the flush fails. The
 * distinct days of the time column are collected; each chunk's rows are
 * grouped by day with a stable counting sort (row order within a day is
 * kept). For each day one Parquet file is streamed into an uncommitted store
 * writer, its rows sorted by the schema's sort key ("sort_by", else the
 * time column; ascending, nulls first, stable: rows equal on the key stay in
 * log order; sort.h has the order of each type). The day's rows become
 * references (chunk, row) in arrival order and are sorted (sort.c); when
 * they were in order already (the usual case for the time column) a chunk
 * that lies wholly in the day is written as is, otherwise its rows for the
 * day are gathered into a scratch batch first; when the sort moved rows,
 * they are gathered GATHER_ROWS at a time, every column, into one reused
 * scratch batch and written slice by slice (pq_writer_write takes rows of
 * all columns, never one column alone). Every row group of the file names
 * the key in its sorting_columns. Only when
 * every day's file is complete are they all committed. When anything fails,
 * files already committed in this flush are deleted again and the chunks
 * go back to the front of the buffer, so the rows are neither lost nor
 * written twice by the next flush.
 *
 * File names: <node>-<first LSN>-<last LSN>.parquet under
 * <dataset>/date=YYYY-MM-DD/, the LSNs of the first and the last batch
 * taken (a request logged in parts counts by its last record); every day
 * of one flush has the same name in its own directory. Buffers are in LSN
 * order, so a dataset's flushes cover disjoint ranges. Before any file is
 * committed the node's LSN mark is raised past the last LSN, so no number,
 * hence no name, is ever used twice (wal.md). A crash between two commits
 * leaves some days published: replay leaves out the rows of the days whose
 * file covers their record, so the next flush writes the missing days only.
 * Without a log (the flush's unit tests) names are <node>-<flush time in
 * µs>.parquet, strictly increasing per process.
 *
 * Memory besides the chunks: the day grouping (4 bytes a row), the
 * writer's row group, and per day being written 8 bytes a row of
 * references, 8 more while the merge sort runs (only for rows out of
 * order), then one gather slice. The day is never copied whole, so the
 * peak does not double.
 *
 * A kill -9 mid-flush leaves the local store's temporary files; the node
 * removes its own at its next start (ursa_catalog_remove_temps).
 *
 * Tables (the default; datasets only, not quarantines): before writing, the
 * flush takes the field ids of its schema from the dataset's Iceberg table
 * (table_schema, which creates the table for a dataset from before tables,
 * or adds columns; a table with more columns -- another node's -- keeps
 * them, and these files lack them); after publishing, it appends the
 * files as one snapshot keyed by node, LSN range and days. A failed commit
 * does not fail the flush -- the rows are durable in the published files --
 * but waits in the dataset (tpending), retried first by every flush and by
 * the flusher every few seconds; the flushes after it wait behind it, since
 * a node's commits go in log order (the table keeps the node's last one and
 * takes every earlier flush as in). A node that stops or dies first commits
 * such files at its next start (table_recover).
 */
#include "catalog.h"
#include "coerce.h"
#include "iceberg_meta.h"
#include "metrics.h"
#include "table.h"
#include "sort.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_llong last_flush_us;

static int64_t unique_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    long long prev = atomic_load(&last_flush_us);
    for (;;) {
        long long next = now > prev ? now : prev + 1;
        if (atomic_compare_exchange_weak(&last_flush_us, &prev, next)) return next;
    }
}

/* A chunk's rows grouped by day: rows perm[start[k] .. start[k+1]) belong
 * to days[k], in their original order. */
typedef struct grouped {
    uint32_t *perm;
    uint32_t *start;
} grouped_t;

typedef struct flush_state {
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    ursa_batch_t **chunks;
    size_t nchunks;
    int64_t *days;
    size_t ndays;
    grouped_t *groups; /* one per chunk, when set */
    size_t ngroups;
    int64_t oldest_ms;             /* the buffer's oldest_ms when the chunks were taken */
    ursa_store_writer_t **pending; /* one per day, until committed */
    ursa_flush_file_t *files;
    /* The schema as it was when the chunks were taken (an evolving one
     * gains fields meanwhile): its fields, its document. */
    ursa_schema_t schema;
    char *schema_json;
    int32_t *ids;        /* the table's field ids of the schema's fields (catalog->iceberg), or NULL */
    iceberg_base_t base; /* the table's version seen by table_schema, for the commit to start from */
} flush_state_t;

/* A flush whose files are published but not yet in the table. */
typedef struct ursa_table_pending {
    uint64_t first, last; /* its commit key, with the node */
    table_file_t *files;  /* keys owned */
    size_t nfiles;
} ursa_table_pending_t;

void ursa_flush_pending_free(ursa_dataset_t *d)
{
    for (size_t i = 0; i < d->ntpending; i++) {
        for (size_t k = 0; k < d->tpending[i].nfiles; k++) ursa_free((char *)d->tpending[i].files[k].key);
        ursa_free(d->tpending[i].files);
    }
    ursa_free(d->tpending);
    d->tpending = NULL, d->ntpending = 0;
}

/* The names of s's sort key. */
/* Commits published files of d, the flush [first, last], to its table
 * (ids: the field ids the files were written with, or NULL). */
static int commit_files(ursa_catalog_t *c, ursa_dataset_t *d, const ursa_schema_t *s, const int32_t *ids,
                        iceberg_base_t *base, uint64_t first, uint64_t last, const table_file_t *files,
                        size_t n, ursa_err_t *err)
{
    table_append_t a = {d->name, s, c->node, first, last, files, n, ids, c->merge_min, base};
    table_result_t r;
    int rc = table_append(c->store, &a, &r, err);
    URSA_COUNT(table_commits, rc == URSA_OK);
    URSA_COUNT(table_commits_failed, rc != URSA_OK);
    return rc;
}

/* The table has the rows of every held chunk up to LSN last (a node's
 * commits go in log order): queries read them from the table now. */
static void release_held(ursa_dataset_t *d, uint64_t last)
{
    pthread_mutex_lock(&d->lock);
    size_t k = 0;
    while (k < d->nheld && d->held[k]->lsn <= last) k++;
    ursa_batch_t **gone = k ? ursa_malloc(k * sizeof(*gone)) : NULL;
    if (gone || !k) {
        if (k) memcpy(gone, d->held, k * sizeof(*gone));
        memmove(d->held, d->held + k, (d->nheld - k) * sizeof(*d->held));
        d->nheld -= k;
    }
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; gone && i < k; i++) ursa_chunk_release(gone[i]);
    ursa_free(gone);
}

/* Retries the table commits of earlier flushes, oldest first; stops at
 * the first that fails again (the order of snapshots follows the log). */
static void retry_pending(ursa_catalog_t *c, ursa_dataset_t *d, const ursa_schema_t *s)
{
    while (d->ntpending) {
        ursa_table_pending_t *p = &d->tpending[0];
        ursa_err_t e = {0};
        if (commit_files(c, d, s, NULL, NULL, p->first, p->last, p->files, p->nfiles, &e)) {
            ursa_error("dataset %s: the table commit of an earlier flush failed again: %s", d->name, e.msg);
            return;
        }
        release_held(d, p->last);
        for (size_t k = 0; k < p->nfiles; k++) ursa_free((char *)p->files[k].key);
        ursa_free(p->files);
        memmove(&d->tpending[0], &d->tpending[1], (d->ntpending - 1) * sizeof(*d->tpending));
        __atomic_store_n(&d->ntpending, d->ntpending - 1, __ATOMIC_RELAXED); /* the flusher reads it */
    }
}

/* Keeps a failed commit for the next flush. A failure to keep it only
 * logs: the files stay published (the glob view has them). */
static void add_pending(ursa_dataset_t *d, uint64_t first, uint64_t last, const table_file_t *files, size_t n)
{
    ursa_table_pending_t *arr = ursa_realloc(d->tpending, (d->ntpending + 1) * sizeof(*arr));
    table_file_t *copy = ursa_calloc(n ? n : 1, sizeof(*copy));
    bool ok = arr && copy;
    if (arr) d->tpending = arr;
    for (size_t k = 0; ok && k < n; k++) {
        copy[k].day = files[k].day;
        ok = (copy[k].key = ursa_strdup(files[k].key)) != NULL;
    }
    if (!ok) {
        for (size_t k = 0; copy && k < n; k++) ursa_free((char *)copy[k].key);
        ursa_free(copy);
        ursa_error("dataset %s: out of memory keeping a failed table commit; its files are published but "
                   "not in the table",
                   d->name);
        return;
    }
    d->tpending[d->ntpending] = (ursa_table_pending_t){first, last, copy, n};
    __atomic_store_n(&d->ntpending, d->ntpending + 1, __ATOMIC_RELAXED); /* the flusher reads it */
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static size_t day_index(const int64_t *days, size_t n, int64_t day)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (days[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Collects the sorted distinct days over all chunks. */
static int collect_days(flush_state_t *f)
{
    int tc = f->d->schema.time_column;
    ursa_time_unit_t unit = f->d->schema.fields[tc].unit;
    size_t cap = 8;
    f->days = ursa_malloc(cap * sizeof(int64_t));
    if (!f->days) return URSA_ENOMEM;
    int64_t last = INT64_MIN;
    for (size_t c = 0; c < f->nchunks; c++) {
        const ursa_column_t *col = &f->chunks[c]->cols[tc];
        for (size_t i = 0; i < col->length; i++) {
            int64_t day = ursa_ts_to_days(ursa_column_i64(col, i), (int)unit);
            if (day == last) continue;
            last = day;
            bool seen = false;
            for (size_t k = 0; k < f->ndays && !seen; k++) seen = f->days[k] == day;
            if (seen) continue;
            if (f->ndays == cap) {
                int64_t *p = ursa_realloc(f->days, cap * 2 * sizeof(int64_t));
                if (!p) return URSA_ENOMEM;
                f->days = p;
                cap *= 2;
            }
            f->days[f->ndays++] = day;
        }
    }
    qsort(f->days, f->ndays, sizeof(int64_t), cmp_i64);
    return URSA_OK;
}

/* Groups each chunk's rows by day (stable counting sort). */
static int group_rows(flush_state_t *f)
{
    int tc = f->d->schema.time_column;
    ursa_time_unit_t unit = f->d->schema.fields[tc].unit;
    f->groups = ursa_calloc(f->nchunks, sizeof(grouped_t));
    if (!f->groups) return URSA_ENOMEM;
    f->ngroups = f->nchunks;
    for (size_t c = 0; c < f->nchunks; c++) {
        const ursa_column_t *col = &f->chunks[c]->cols[tc];
        size_t n = col->length;
        grouped_t *g = &f->groups[c];
        g->start = ursa_calloc(f->ndays + 1, sizeof(uint32_t));
        g->perm = ursa_malloc((n ? n : 1) * sizeof(uint32_t));
        uint32_t *dk = ursa_malloc((n ? n : 1) * sizeof(uint32_t));
        if (!g->start || !g->perm || !dk) {
            ursa_free(dk);
            return URSA_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            dk[i] =
                (uint32_t)day_index(f->days, f->ndays, ursa_ts_to_days(ursa_column_i64(col, i), (int)unit));
            g->start[dk[i] + 1]++;
        }
        for (size_t k = 0; k < f->ndays; k++) g->start[k + 1] += g->start[k];
        uint32_t *fill = ursa_malloc((f->ndays ? f->ndays : 1) * sizeof(uint32_t));
        if (!fill) {
            ursa_free(dk);
            return URSA_ENOMEM;
        }
        memcpy(fill, g->start, f->ndays * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++) g->perm[fill[dk[i]]++] = (uint32_t)i;
        ursa_free(fill);
        ursa_free(dk);
    }
    return URSA_OK;
}

/* Rows gathered per write call when a day's rows must be reordered. */
#define GATHER_ROWS 16384

/* The refs of day k's rows, in arrival order (chunk by chunk, each chunk's
 * rows in order), into *out (owned by the caller). */
static int day_refs(const flush_state_t *f, size_t k, uint64_t **out, size_t *n)
{
    size_t total = 0;
    for (size_t c = 0; c < f->nchunks; c++) total += f->groups[c].start[k + 1] - f->groups[c].start[k];
    uint64_t *refs = ursa_malloc((total ? total : 1) * sizeof(*refs));
    if (!refs) return URSA_ENOMEM;
    size_t j = 0;
    for (size_t c = 0; c < f->nchunks; c++) {
        const grouped_t *g = &f->groups[c];
        for (size_t r = g->start[k]; r < g->start[k + 1]; r++) refs[j++] = URSA_ROW_REF(c, g->perm[r]);
    }
    *out = refs;
    *n = total;
    return URSA_OK;
}

/* Streams the rows of day k into a new, uncommitted object, sorted by the
 * schema's sort key. */
static int write_day(flush_state_t *f, size_t k, int64_t stamp, ursa_err_t *err)
{
    ursa_flush_file_t *file = &f->files[k];
    const ursa_schema_t *s = &f->schema;
    ursa_format_date(f->days[k], file->date);
    int n = f->cat->wal
                ? snprintf(file->key, sizeof(file->key), "%s/date=%s/%s-%llu-%llu.parquet", f->d->name,
                           file->date, f->cat->node, (unsigned long long)f->chunks[0]->lsn,
                           (unsigned long long)f->chunks[f->nchunks - 1]->lsn)
                : snprintf(file->key, sizeof(file->key), "%s/date=%s/%s-%lld.parquet", f->d->name, file->date,
                           f->cat->node, (long long)stamp);
    if (n < 0 || (size_t)n >= sizeof(file->key)) return ursa_err_set(err, URSA_EINVAL, "object key too long");

    int keys[URSA_SORT_KEYS_MAX];
    pq_write_opts_t o;
    pq_write_opts_dataset(&o, &f->cat->pq, s, f->ids, f->schema_json, keys);
    size_t nkeys = o.nsorting;
    pq_writer_t *w = NULL;
    ursa_batch_t scratch = {0};
    uint64_t *refs = NULL;
    size_t nrefs = 0;
    bool moved = false;
    int rc;
    /* The sort comes first: it is the step that may need memory. */
    if ((rc = day_refs(f, k, &refs, &nrefs)) ||
        (rc = ursa_sort_refs(f->chunks, keys, nkeys, refs, nrefs, &moved)))
        goto out;
    if ((rc = ursa_store_writer_open(f->cat->store, file->key, &f->pending[k], err))) goto out;
    if ((rc = pq_writer_new(&w, s, &o, ursa_store_writer_sink(f->pending[k]), err))) goto out;
    if ((rc = ursa_batch_init(&scratch, s))) goto out;
    if (moved) {
        /* Reordered: gathered GATHER_ROWS rows at a time, every column. */
        for (size_t lo = 0; lo < nrefs; lo += GATHER_ROWS) {
            size_t cnt = nrefs - lo < GATHER_ROWS ? nrefs - lo : GATHER_ROWS;
            ursa_batch_truncate(&scratch, 0);
            for (size_t i = 0; i < s->nfields && rc == URSA_OK; i++)
                rc = ursa_column_take_refs(&scratch.cols[i], f->chunks, i, refs + lo, cnt);
            if (rc) goto out;
            scratch.nrows = cnt;
            if ((rc = pq_writer_write(w, &scratch, 0, cnt, err))) goto out;
            file->rows += cnt;
        }
    } else {
        /* In order already: chunk by chunk, a chunk wholly in the day as
         * it is, otherwise its rows for the day gathered. */
        ursa_free(refs), refs = NULL;
        for (size_t c = 0; c < f->nchunks; c++) {
            const ursa_batch_t *b = f->chunks[c];
            const grouped_t *g = &f->groups[c];
            size_t lo = g->start[k], cnt = g->start[k + 1] - lo;
            if (cnt == 0) continue;
            if (cnt == b->nrows) {
                rc = pq_writer_write(w, b, 0, cnt, err);
            } else {
                ursa_batch_truncate(&scratch, 0);
                for (size_t i = 0; i < s->nfields && rc == URSA_OK; i++)
                    rc = ursa_column_take(&scratch.cols[i], &b->cols[i], g->perm + lo, cnt);
                if (rc) goto out;
                scratch.nrows = cnt;
                rc = pq_writer_write(w, &scratch, 0, cnt, err);
            }
            if (rc) goto out;
            file->rows += cnt;
        }
    }
    rc = pq_writer_close(w, &file->bytes, err);
out:
    ursa_free(refs);
    ursa_batch_free(&scratch);
    pq_writer_destroy(&w);
    if (rc && rc != URSA_ENOMEM && err && !err->msg[0]) ursa_err_set(err, rc, "writing %s failed", file->key);
    return rc;
}

/* Takes the chunks to write out of the buffer: all of them, or with a WAL
 * the ones already durable (a prefix: the buffer is in LSN order). Rows
 * that are not durable yet must not be published: a crash would lose them
 * from the log while a file holds them, and the client, unanswered, would
 * send them again. */
static int take_chunks(flush_state_t *f)
{
    ursa_dataset_t *d = f->d;
    uint64_t durable = f->cat->wal ? ursa_wal_durable(f->cat->wal) : UINT64_MAX;
    pthread_mutex_lock(&d->lock);
    size_t k = 0;
    while (k < d->nchunks && d->chunks[k]->lsn <= durable) k++;
    int rc = URSA_OK;
    f->oldest_ms = d->oldest_ms;
    /* Chunks from before a schema change get its new columns (as nulls)
     * when they are written: one file per day, however the schema grew. */
    f->schema = d->schema;
    f->schema.nfields = ursa_schema_nfields(&d->schema);
    if (!(f->schema_json = ursa_strdup(d->schema_json))) k = 0, rc = URSA_ENOMEM;
    /* Room in `held` for what is taken, and the schema's new columns (as
     * nulls) added while they are still in the list: a query copies a
     * chunk's columns under this lock. Failing either takes nothing. */
    if (rc == URSA_OK && k && d->nheld + k > d->held_cap) {
        ursa_batch_t **h = ursa_realloc(d->held, (d->nheld + k) * 2 * sizeof(*h));
        if (h)
            d->held = h, d->held_cap = (d->nheld + k) * 2;
        else
            k = 0, rc = URSA_ENOMEM;
    }
    for (size_t i = 0; rc == URSA_OK && i < k; i++)
        if ((rc = ursa_batch_widen(d->chunks[i], &f->schema, f->schema.nfields))) k = 0;
    if (rc) {
        /* nothing taken */
    } else if (k == d->nchunks) {
        d->oldest_ms = 0;
        f->chunks = d->chunks;
        f->nchunks = k;
        d->chunks = NULL;
        d->nchunks = d->cap = 0;
        d->rows = d->bytes = 0;
    } else if (k) {
        f->chunks = ursa_malloc(k * sizeof(*f->chunks));
        if (!f->chunks) {
            rc = URSA_ENOMEM;
        } else {
            memcpy(f->chunks, d->chunks, k * sizeof(*f->chunks));
            memmove(d->chunks, d->chunks + k, (d->nchunks - k) * sizeof(*d->chunks));
            d->nchunks -= k;
            d->oldest_ms = ursa_now_ms(); /* not exact: the age of what is left restarts */
            f->nchunks = k;
            for (size_t i = 0; i < k; i++) {
                d->rows -= f->chunks[i]->nrows;
                d->bytes -= ursa_batch_bytes(f->chunks[i]);
            }
        }
    }
    if (f->nchunks) { /* queries read them (held) until the table has their rows */
        memcpy(d->held + d->nheld, f->chunks, f->nchunks * sizeof(*f->chunks));
        d->nheld += f->nchunks;
    }
    if (f->nchunks) d->flushing_lsn = ursa_batch_first_lsn(f->chunks[0]);
    for (size_t i = 0; i < f->nchunks; i++) {
        uint64_t first = ursa_batch_first_lsn(f->chunks[i]);
        if (first && first < d->flushing_lsn) d->flushing_lsn = first;
        d->flushing_rows += f->chunks[i]->nrows;
        d->flushing_bytes += ursa_batch_bytes(f->chunks[i]);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* Puts the chunks back at the front of the buffer, before newer ones. When
 * nothing new arrived meanwhile (the usual case) the array is handed back
 * as is, with no allocation that could fail. */
static void restore_chunks(flush_state_t *f)
{
    ursa_dataset_t *d = f->d;
    pthread_mutex_lock(&d->lock);
    d->nheld -= f->nchunks; /* they were the last taken */
    ursa_batch_t **p = f->chunks;
    size_t total = d->nchunks + f->nchunks;
    if (d->nchunks) {
        p = ursa_malloc(total * sizeof(*p));
        if (p) {
            memcpy(p, f->chunks, f->nchunks * sizeof(*p));
            memcpy(p + f->nchunks, d->chunks, d->nchunks * sizeof(*p));
            ursa_free(f->chunks);
        }
    }
    d->flushing_rows = d->flushing_bytes = 0; /* counted in rows again below (or lost) */
    if (p) {
        if (f->oldest_ms && (!d->oldest_ms || f->oldest_ms < d->oldest_ms)) d->oldest_ms = f->oldest_ms;
        ursa_free(d->chunks);
        d->chunks = p;
        d->nchunks = d->cap = total;
        for (size_t c = 0; c < f->nchunks; c++) { /* the restored ones are at the front */
            d->rows += p[c]->nrows;
            d->bytes += ursa_batch_bytes(p[c]);
        }
    } else {
        uint64_t lost = 0;
        for (size_t c = 0; c < f->nchunks; c++) {
            lost += f->chunks[c]->nrows;
            ursa_chunk_release(f->chunks[c]);
        }
        ursa_free(f->chunks);
        ursa_error("flush of %s: out of memory while putting %llu rows back: they are lost", d->name,
                   (unsigned long long)lost);
    }
    f->chunks = NULL;
    f->nchunks = 0;
    pthread_mutex_unlock(&d->lock);
}

int ursa_dataset_flush(ursa_catalog_t *c, ursa_dataset_t *d, ursa_flush_result_t *res, ursa_err_t *err)
{
    memset(res, 0, sizeof(*res));
    if (err) err->msg[0] = '\0';
    flush_state_t f = {.cat = c, .d = d};
    int rc = URSA_OK;
    bool committed = false;
    size_t attempted = 0;

    pthread_mutex_lock(&d->flush_lock);
    rc = take_chunks(&f);
    /* The table: earlier commits that failed first, even when there is
     * nothing new to write (a final flush at a stop retries them too). */
    bool table = c->iceberg && !d->parent;
    if (rc == URSA_OK && table) retry_pending(c, d, &f.schema);
    if (rc || f.nchunks == 0) goto out;
    /* The field ids the files carry. */
    if (table) {
        if (!(f.ids = ursa_calloc(f.schema.nfields + 1, sizeof(*f.ids)))) {
            rc = URSA_ENOMEM;
            goto out;
        }
        if ((rc = table_schema(c->store, d->name, &f.schema, 0, &f.base, f.ids, NULL, err))) goto out;
    }

    if ((rc = collect_days(&f)) || (rc = group_rows(&f))) goto out;
    f.pending = ursa_calloc(f.ndays, sizeof(*f.pending));
    f.files = ursa_calloc(f.ndays, sizeof(*f.files));
    if (!f.pending || !f.files) {
        rc = URSA_ENOMEM;
        goto out;
    }
    int64_t stamp = unique_now_us();
    for (size_t k = 0; k < f.ndays && rc == URSA_OK; k++) rc = write_day(&f, k, stamp, err);
    /* Publish. `attempted` counts the commits tried: a commit that failed
     * after its rename may have left its object visible, so cleanup below
     * removes every object up to and including the failed one. */
    if (c->wal && rc == URSA_OK) rc = ursa_catalog_raise_mark(c, f.chunks[f.nchunks - 1]->lsn + 1, err);
    while (rc == URSA_OK && attempted < f.ndays) {
        rc = ursa_store_writer_commit(f.pending[attempted], err);
        f.pending[attempted++] = NULL; /* commit frees the writer, also on failure */
    }
    if (rc == URSA_OK) {
        uint64_t bytes = 0;
        for (size_t k = 0; k < f.ndays; k++) {
            res->rows += f.files[k].rows;
            bytes += f.files[k].bytes;
        }
        if (d->parent) { /* a quarantine: counted apart, the flush counters stay about data */
            URSA_COUNT(quarantine_flush_rows, res->rows);
            URSA_COUNT(quarantine_flush_files, f.ndays);
        } else {
            URSA_COUNT(flush_rows, res->rows);
            URSA_COUNT(flush_files, f.ndays);
            URSA_COUNT(flush_bytes, bytes);
        }
        if (table) iceberg_test_kill("before-commit");
        if (table) { /* the files are published whatever happens here: a failed commit waits for the next
                        flush */
            uint64_t first = c->wal ? f.chunks[0]->lsn : (uint64_t)stamp;
            uint64_t last = c->wal ? f.chunks[f.nchunks - 1]->lsn : (uint64_t)stamp;
            table_file_t *tf = ursa_calloc(f.ndays, sizeof(*tf));
            ursa_err_t e = {0};
            for (size_t k = 0; tf && k < f.ndays; k++)
                tf[k] = (table_file_t){f.files[k].key, (int32_t)f.days[k]};
            /* Commits go in log order: behind an earlier one still pending, this one waits too (a
             * node's committed LSN in the table says that every flush of it up to there is in). */
            if (tf && d->ntpending) {
                add_pending(d, first, last, tf, f.ndays);
                ursa_error("dataset %s: its files are published; their table commit waits behind an earlier "
                           "one that failed",
                           d->name);
            } else if (!tf || commit_files(c, d, &f.schema, f.ids, &f.base, first, last, tf, f.ndays, &e)) {
                ursa_error("dataset %s: its files are published but the table commit failed (the next flush "
                           "retries it): %s",
                           d->name, tf ? e.msg : "out of memory");
                if (tf) add_pending(d, first, last, tf, f.ndays);
            } else
                committed = true;
            ursa_free(tf);
        }
        res->files = f.files;
        res->nfiles = f.ndays;
        f.files = NULL;
    }
out:
    if (rc)
        URSA_COUNT(flushes_failed, 1);
    else if (!d->parent)
        URSA_COUNT(flushes_ok, 1);
    __atomic_store_n(&c->store_failing, rc != URSA_OK, __ATOMIC_RELAXED);
    if (rc && err) {
        /* The message may be shown to a client: it names the dataset, and
         * the store's part names keys, not local paths (store_fs.c). */
        ursa_err_t inner = *err;
        if (rc == URSA_ENOMEM && !inner.msg[0]) snprintf(inner.msg, sizeof(inner.msg), "out of memory");
        ursa_err_set(err, rc, "dataset %s: %s", d->name, inner.msg[0] ? inner.msg : ursa_strstatus(rc));
    }
    if (rc) {
        for (size_t k = 0; k < f.ndays && f.pending; k++) ursa_store_writer_abort(f.pending[k]);
        for (size_t k = 0; k < attempted; k++) {
            ursa_err_t e2;
            if (ursa_store_del(c->store, f.files[k].key, &e2))
                ursa_error("flush of %s failed and %s could not be removed: %s", d->name, f.files[k].key,
                           e2.msg);
        }
        if (f.nchunks) restore_chunks(&f);
    } else if (f.nchunks && (!table || committed)) {
        /* in the table (or, without one, published): the chunks go; a commit still pending keeps them held */
        release_held(d, f.chunks[f.nchunks - 1]->lsn);
    }
    pthread_mutex_lock(&d->lock);
    d->flushing_lsn = 0;
    d->flushing_rows = d->flushing_bytes = 0;
    pthread_mutex_unlock(&d->lock);
    pthread_mutex_unlock(&d->flush_lock);
    if (rc == URSA_OK && res->nfiles) ursa_catalog_release_wal(c);
    for (size_t i = 0; i < f.ngroups; i++) {
        ursa_free(f.groups[i].perm);
        ursa_free(f.groups[i].start);
    }
    ursa_free(f.groups);
    ursa_free(f.chunks);
    ursa_free(f.schema_json);
    ursa_free(f.ids);
    iceberg_base_free(&f.base);
    ursa_free(f.days);
    ursa_free(f.pending);
    ursa_free(f.files);
    return rc;
}

void ursa_flush_result_free(ursa_flush_result_t *r)
{
    ursa_free(r->files);
    memset(r, 0, sizeof(*r));
}
