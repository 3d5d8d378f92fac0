/*
 * compactor.c -- compaction inside `serve`: the policy thread and the
 * compactions users ask for.
 *
 * Design. Every `every_ms` (after a random offset, so that nodes started
 * together do not look at once) the policy thread reads each table's live
 * files (table_files) and compacts the days compact_days_due names: a day
 * closed `grace_ms` after its UTC midnight is merged whole, unless it is
 * one compaction's outputs already; an open day once it holds more than
 * `open_max_files` files, and then only the flushes' files (compact_day.h).
 * Late rows for a closed day make it due again: the next pass merges them
 * with the day's output. A request (ursa_compactor_run) merges the days it
 * names whole, on the request's thread.
 *
 * Invariants: one compaction at a time on a node (run_mu), so its memory is
 * one merge's; nothing here decides what is safe -- compact_day's replace
 * commit does, against every other node and `ursa compact` run. Every node
 * runs the policy: two that pick the same day merge it twice and one
 * commit wins (the loser deletes its outputs), which the random offset
 * makes rare and which costs time, never rows.
 *
 * Failure cases: a day that fails (a store outage, an input that cannot be
 * merged) is tried again after 1, 2, 4 ... minutes, at most an hour, so a
 * bad file does not fill the log every pass; a stop (shutdown) cancels the
 * merge in progress, which publishes nothing.
 */
#include "compactor.h"

#include "compact_day.h"
#include "iceberg_meta.h"
#include "metrics.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ursa_compactor {
    ursa_catalog_t *cat;
    ursa_compactor_opts_t o;
    atomic_bool stop;
    pthread_mutex_t run_mu; /* one compaction at a time */
    pthread_mutex_t mu;     /* the policy thread's sleep */
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    json_t *backoff; /* the policy thread's own: "<dataset> <date>" -> [retry at (ms), failures] */
};

void ursa_compactor_opts_default(ursa_compactor_opts_t *o)
{
    *o = (ursa_compactor_opts_t){true, 30 * 60000, URSA_COMPACT_OPEN_MAX_FILES, 60000};
}

int ursa_compactor_new(ursa_compactor_t **out, ursa_catalog_t *cat, const ursa_compactor_opts_t *o)
{
    ursa_compactor_t *cp = ursa_calloc(1, sizeof(*cp));
    if (!cp || !(cp->backoff = json_object())) {
        ursa_free(cp);
        return URSA_ENOMEM;
    }
    cp->cat = cat, cp->o = *o;
    atomic_init(&cp->stop, false);
    pthread_mutex_init(&cp->run_mu, NULL);
    pthread_mutex_init(&cp->mu, NULL);
    pthread_cond_init(&cp->cv, NULL);
    *out = cp;
    return URSA_OK;
}

/* Compacts one day; its result goes into days (when not NULL). */
static int compact_one(ursa_compactor_t *cp, const char *dataset, const char *date, size_t open_max_files,
                       json_t *days, ursa_err_t *err)
{
    compact_day_opts_t o = {cp->cat->node, &cp->cat->pq, open_max_files, &cp->stop};
    compact_day_result_t r = {0};
    pthread_mutex_lock(&cp->run_mu);
    int64_t t0 = ursa_now_ms();
    int rc = atomic_load(&cp->stop)
                 ? ursa_err_set(err, URSA_ECANCELED, "compaction stopped (the node is shutting down)")
                 : compact_day(cp->cat->store, dataset, date, &o, &r, err);
    double secs = (double)(ursa_now_ms() - t0) / 1000;
    pthread_mutex_unlock(&cp->run_mu);
    const char *what = rc          ? "error"
                       : r.nothing ? "nothing to do"
                       : r.lost    ? "lost to another compaction"
                       : r.already ? "compacted before"
                                   : "compacted";
    if (rc) {
        URSA_COUNT(compactions_failed, 1);
        ursa_error("compaction of %s, %s failed: %s", dataset, date, err->msg);
    } else if (r.lost) {
        URSA_COUNT(compactions_lost, 1);
        ursa_info("compaction of %s, %s: another compaction replaced some of its %zu files first; its "
                  "output was deleted (%.2f s)",
                  dataset, date, r.inputs, secs);
    } else if (!r.nothing) {
        URSA_COUNT(compactions_ok, 1);
        URSA_COUNT(compaction_files_in, r.inputs);
        URSA_COUNT(compaction_files_out, r.outputs);
        URSA_COUNT(compaction_bytes_in, r.bytes_in);
        URSA_COUNT(compaction_bytes_out, r.bytes_out);
        URSA_COUNT(compaction_rows, r.rows);
        ursa_info("compacted %s, %s: %zu of its %zu files (%llu bytes) into %zu (%llu bytes), %llu rows, "
                  "%.2f s%s",
                  dataset, date, r.inputs, r.files, (unsigned long long)r.bytes_in, r.outputs,
                  (unsigned long long)r.bytes_out, (unsigned long long)r.rows, secs,
                  r.already ? " (committed before: a compaction redone)" : "");
    }
    if (!r.nothing) URSA_COUNT(compaction_ms, (unsigned long long)(secs * 1000));
    if (days) {
        json_t *x =
            json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "date", date, "result", what,
                      "files_before", (json_int_t)r.files, "files_in", (json_int_t)r.inputs, "files_out",
                      (json_int_t)r.outputs, "rows", (json_int_t)r.rows, "bytes_in", (json_int_t)r.bytes_in,
                      "bytes_out", (json_int_t)r.bytes_out, "seconds", (double)(int64_t)(secs * 1000) / 1000);
        if (x && rc) json_object_set_new(x, "error", json_string(err->msg));
        if (!x || json_array_append_new(days, x))
            rc = rc ? rc : ursa_err_set(err, URSA_ENOMEM, "out of memory");
    }
    return rc;
}

/* What compactions that died left of dataset (compact_day_cleanup). */
static void cleanup(ursa_compactor_t *cp, const char *dataset)
{
    ursa_err_t err;
    size_t n;
    if (compact_day_cleanup(cp->cat->store, dataset, &n, &err))
        ursa_warn("compaction: cleaning up after compactions of %s that died: %s", dataset, err.msg);
    else if (n)
        ursa_info("compaction: deleted %zu outputs of compactions of %s that died before their commit", n,
                  dataset);
}

int ursa_compactor_run(ursa_compactor_t *cp, const char *dataset, const char *date, json_t **out,
                       ursa_err_t *err)
{
    json_t *days = json_array(), *listing = NULL, *due = NULL;
    *out = json_pack("{s:s, s:o}", "dataset", dataset, "days", days);
    if (!*out) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    if (!cp->cat->iceberg)
        return ursa_err_set(
            err, URSA_ENOTSUP,
            "compaction works on a dataset's Iceberg table, and this node runs with --no-iceberg");
    int rc = URSA_OK;
    cleanup(cp, dataset);
    if (!date) { /* every day not compacted yet */
        if ((rc = table_files(cp->cat->store, dataset, &listing, err))) goto out;
        if (!(due = compact_days_due(listing, 0, -1, 0))) {
            rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
            goto out;
        }
    } else if (!(due = json_pack("[{s:s}]", "date", date))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    size_t i;
    json_t *x;
    json_array_foreach(due, i, x)
    {
        ursa_err_t e;
        int r = compact_one(cp, dataset, json_string_value(json_object_get(x, "date")), 0, days, &e);
        if (r && !rc) rc = r, *err = e;
    }
out:
    json_decref(listing);
    json_decref(due);
    return rc;
}

/* One pass of the policy over d's table. */
static void policy_one(ursa_compactor_t *cp, ursa_dataset_t *d)
{
    ursa_err_t err;
    json_t *listing = NULL, *due = NULL, *x;
    cleanup(cp, d->name);
    int rc = table_files(cp->cat->store, d->name, &listing, &err);
    if (rc == URSA_ENOTFOUND) return; /* no table yet: nothing flushed */
    if (rc) {
        ursa_warn("compaction: reading the table of %s: %s", d->name, err.msg);
        return;
    }
    int64_t now = iceberg_now_ms();
    if (!(due = compact_days_due(listing, now, cp->o.grace_ms, cp->o.open_max_files))) {
        json_decref(listing);
        return;
    }
    size_t i;
    json_array_foreach(due, i, x)
    {
        if (atomic_load(&cp->stop)) break;
        const char *date = json_string_value(json_object_get(x, "date"));
        char key[URSA_DATASET_NAME_MAX + 16];
        snprintf(key, sizeof(key), "%s %s", d->name, date);
        json_t *b = json_object_get(cp->backoff, key);
        if (b && now < json_integer_value(json_array_get(b, 0))) continue;
        bool open = json_is_true(json_object_get(x, "open"));
        if (compact_one(cp, d->name, date, open ? cp->o.open_max_files : 0, NULL, &err) == URSA_OK) {
            json_object_del(cp->backoff, key);
            continue;
        }
        json_int_t k = b ? json_integer_value(json_array_get(b, 1)) + 1 : 1;
        int64_t wait = k >= 7 ? 3600000 : (int64_t)60000 << (k - 1);
        json_object_set_new(cp->backoff, key, json_pack("[I, I]", (json_int_t)(iceberg_now_ms() + wait), k));
    }
    json_decref(due);
    json_decref(listing);
}

/* Sleeps up to ms, or until stopped; returns whether to stop. */
static bool sleep_ms(ursa_compactor_t *cp, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_mutex_lock(&cp->mu);
    while (!atomic_load(&cp->stop) && pthread_cond_timedwait(&cp->cv, &cp->mu, &ts) == 0) {
    }
    pthread_mutex_unlock(&cp->mu);
    return atomic_load(&cp->stop);
}

static void *policy(void *arg)
{
    ursa_compactor_t *cp = arg;
    ursa_thread_background();
    int64_t every = cp->o.every_ms > 0 ? cp->o.every_ms : 60000;
    if (sleep_ms(cp, (int64_t)(iceberg_random64() % (uint64_t)every))) return NULL;
    for (;;) {
        ursa_dataset_t **all;
        size_t n;
        if (ursa_catalog_list(cp->cat, &all, &n) == URSA_OK) {
            for (size_t i = 0; i < n && !atomic_load(&cp->stop); i++)
                if (!all[i]->parent) policy_one(cp, all[i]);
            ursa_free(all);
        }
        if (sleep_ms(cp, every)) return NULL;
    }
}

int ursa_compactor_start(ursa_compactor_t *cp)
{
    if (!cp->o.policy || !cp->cat->iceberg || cp->started) return URSA_OK;
    if (pthread_create(&cp->thread, NULL, policy, cp)) return URSA_ENOMEM;
    cp->started = true;
    return URSA_OK;
}

void ursa_compactor_stop(ursa_compactor_t *cp)
{
    if (!cp) return;
    pthread_mutex_lock(&cp->mu);
    atomic_store(&cp->stop, true);
    pthread_cond_broadcast(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
    if (cp->started) pthread_join(cp->thread, NULL);
    cp->started = false;
}

void ursa_compactor_destroy(ursa_compactor_t **pcp)
{
    ursa_compactor_t *cp = *pcp;
    if (!cp) return;
    ursa_compactor_stop(cp);
    pthread_mutex_destroy(&cp->run_mu);
    pthread_mutex_destroy(&cp->mu);
    pthread_cond_destroy(&cp->cv);
    json_decref(cp->backoff);
    ursa_free(cp);
    *pcp = NULL;
}
