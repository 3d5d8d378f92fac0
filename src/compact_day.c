/*
 * compact_day.c -- compaction of one dataset-day.
 *
 * Design. The inputs are the files the table's current snapshot has live
 * for the day -- every node's flushes, and an earlier compaction's output
 * when late rows came after it -- never a listing of the store, so a file
 * published and not yet committed is left for its commit. Which of them
 * (compact_day_pick): a closed day all of them, unless they are one
 * compaction's outputs already; an open day with too many files only the
 * flushes' files, so that a busy day is not rewritten whole every few
 * minutes. They are merged by the engine (compact.c), in a fixed order
 * (earlier outputs, then by node and LSN), into objects named from a hash
 * of the inputs and of everything else that decides the bytes (schema,
 * field ids, writer options, version), then swapped in by one replace
 * commit keyed by that name (table_append with files to remove).
 *
 * Invariants: readers of the table see the inputs or the outputs, never
 * both, never neither (one snapshot). A flush committed meanwhile for the
 * day is not touched: the replace removes only the files it merged. The
 * inputs stay in the store until every snapshot that has them expires
 * (upkeep), so queries already running finish.
 *
 * Failure cases: killed during the merge -- the outputs are not published
 * (the engine publishes all at the end), nothing changed; killed after the
 * merge and before the commit -- the outputs are in the store, named by
 * nothing; compacting again with the same inputs writes the same names
 * over them and commits (with other inputs, other names: the leftovers are
 * orphans, which upkeep deletes after the retention); killed after the
 * commit -- compacting again finds the day compacted (or the key
 * committed) and does nothing. Two nodes
 * compacting the same day at once: the conditional commit lets one win;
 * the other finds its inputs gone (URSA_ENOTFOUND from the replace),
 * deletes its outputs and stops -- unless both merged the same inputs,
 * in which case they wrote the same objects (same names, same bytes: the
 * writer is deterministic, and whatever else decides the bytes is in the
 * name) and the second finds the key committed.
 */
#include "compact_day.h"

#include "coerce.h"
#include "compact.h"
#include "iceberg_meta.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file name of a store key. */
static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Whether path is a compaction's output, "c-<16 hex>-<k>.parquet". */
static bool is_output(const char *path)
{
    const char *b = base_of(path);
    if (strncmp(b, "c-", 2) != 0 || strlen(b) < 19 || b[18] != '-') return false;
    for (int i = 2; i < 18; i++)
        if (!strchr("0123456789abcdef", b[i])) return false;
    return true;
}

/* Whether two outputs come from one merge (same "c-<hex>"). */
static bool same_merge(const char *a, const char *b)
{
    return strncmp(base_of(a), base_of(b), 18) == 0;
}

size_t compact_day_pick(const char *const *paths, size_t n, size_t open_max_files, bool *pick)
{
    size_t outputs = 0, merges = 0;
    for (size_t i = 0; i < n; i++) {
        pick[i] = false;
        if (!is_output(paths[i])) continue;
        outputs++;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = is_output(paths[j]) && same_merge(paths[i], paths[j]);
        merges += !seen;
    }
    size_t fresh = n - outputs, k = 0;
    if (n < 2) return 0;
    if (open_max_files == 0) {
        if (fresh == 0 && merges == 1) return 0; /* compacted already */
    } else {
        if (n <= open_max_files) return 0;
        if (merges < open_max_files / 2 && fresh >= 2) { /* the flushes' files only */
            for (size_t i = 0; i < n; i++)
                if (!is_output(paths[i])) pick[i] = true, k++;
            return k;
        }
    }
    for (size_t i = 0; i < n; i++) pick[i] = true;
    return n;
}

json_t *compact_days_due(const json_t *listing, int64_t now_ms, int64_t grace_ms, size_t open_max_files)
{
    const json_t *files = json_object_get(listing, "files"), *f;
    json_t *by_day = json_object(), *due = json_array();
    const char **paths = ursa_calloc(json_array_size(files) + 1, sizeof(*paths));
    bool *pick = ursa_calloc(json_array_size(files) + 1, sizeof(*pick));
    size_t i;
    if (!by_day || !due || !paths || !pick) goto fail;
    json_array_foreach(files, i, f)
    {
        const char *d = json_string_value(json_object_get(f, "date"));
        json_t *l = json_object_get(by_day, d);
        if (!l && (!(l = json_array()) || json_object_set_new(by_day, d, l))) goto fail;
        if (json_array_append(l, json_object_get(f, "path"))) goto fail;
    }
    const char *d;
    json_t *l;
    json_object_foreach(by_day, d, l)
    {
        int32_t day;
        if (strlen(d) != 10 || ursa_parse_date(d, 10, &day)) continue;
        int64_t closes = ((int64_t)day + 1) * 86400000 + grace_ms;
        bool open = grace_ms >= 0 && now_ms < closes;
        size_t n = json_array_size(l);
        for (size_t j = 0; j < n; j++) paths[j] = json_string_value(json_array_get(l, j));
        if (!compact_day_pick(paths, n, open ? open_max_files : 0, pick)) continue;
        size_t at = json_array_size(due); /* ascending by date */
        while (at > 0 &&
               strcmp(json_string_value(json_object_get(json_array_get(due, at - 1), "date")), d) > 0)
            at--;
        if (json_array_insert_new(due, at, json_pack("{s:s, s:b}", "date", d, "open", open))) goto fail;
    }
    ursa_free(paths), ursa_free(pick), json_decref(by_day);
    return due;
fail:
    ursa_free(paths), ursa_free(pick), json_decref(by_day), json_decref(due);
    return NULL;
}

/* A flush's "<node>-<first LSN>-<last LSN>.parquet": the node's length and
 * the first LSN, or false. */
static bool flush_name(const char *path, size_t *node_len, unsigned long long *first)
{
    const char *b = base_of(path), *dot = strstr(b, ".parquet");
    const char *d2 = dot ? dot : b + strlen(b), *d1;
    while (d2 > b && d2[-1] != '-') d2--;
    if (d2 <= b + 1) return false;
    d1 = d2 - 1;
    while (d1 > b && d1[-1] != '-') d1--;
    if (d1 <= b + 1) return false;
    char *end;
    *first = strtoull(d1, &end, 10);
    *node_len = (size_t)(d1 - 1 - b);
    return end == d2 - 1;
}

/* The merge's input order (which breaks ties between equal keys, so it
 * must not depend on the listing): earlier outputs by name, then the
 * flushes' files by node, then LSN. */
static int input_cmp(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    bool oa = is_output(a), ob = is_output(b);
    if (oa != ob) return oa ? -1 : 1;
    size_t na, nb;
    unsigned long long fa, fb;
    if (!oa && flush_name(a, &na, &fa) && flush_name(b, &nb, &fb)) {
        int c = memcmp(base_of(a), base_of(b), na < nb ? na : nb);
        if (c) return c;
        if (na != nb) return na < nb ? -1 : 1;
        if (fa != fb) return fa < fb ? -1 : 1;
    }
    return strcmp(a, b);
}

/* What besides the inputs decides the outputs' bytes, for their name. */
static int salt_of(ursa_buf_t *b, const char *schema_json, const int32_t *ids, size_t nids,
                   const pq_write_opts_t *pq)
{
    int rc = ursa_buf_printf(b, "%s|%s|%d,%d,%d,%zu,%zu,%zu,%zu,%zu,%d,%.17g|", URSA_VERSION, schema_json,
                             (int)pq->codec, pq->level, pq->page_version, pq->row_group_bytes,
                             pq->row_group_rows, pq->page_bytes, pq->page_rows, pq->dict_max_bytes,
                             (int)pq->page_index, pq->bloom_fpp);
    for (size_t i = 0; rc == URSA_OK && i < nids; i++) rc = ursa_buf_printf(b, "%d,", (int)ids[i]);
    return rc ? rc : ursa_buf_push(b, '\0');
}

int compact_day(ursa_store_t *st, const char *dataset, const char *date, const compact_day_opts_t *o,
                compact_day_result_t *res, ursa_err_t *err)
{
    ursa_schema_t s = {0};
    iceberg_base_t version = {0};
    json_t *listing = NULL;
    const char **paths = NULL, **inputs = NULL;
    bool *pick = NULL;
    int32_t *ids = NULL;
    ursa_buf_t schema_json = {0}, salt = {0};
    ursa_compact_result_t merged = {0};
    table_file_t *outs = NULL;
    char out_base[URSA_COMPACT_KEY_MAX], key[URSA_COMPACT_KEY_MAX + 16];
    int32_t day;
    int keys[URSA_SORT_KEYS_MAX];
    memset(res, 0, sizeof(*res));
    if (strlen(date) != 10 || ursa_parse_date(date, 10, &day))
        return ursa_err_set(err, URSA_EINVAL, "%s: not a date (YYYY-MM-DD)", date);
    int rc = table_load_schema(st, dataset, &s, err);
    if (rc == URSA_ENOTFOUND) return ursa_err_set(err, rc, "dataset %s has no table", dataset);
    if (rc) return rc;
    if (!(ids = ursa_calloc(s.nfields + 1, sizeof(*ids)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = table_schema(st, dataset, &s, 0, &version, ids, NULL, err)) ||
        (rc = table_files(st, dataset, &listing, err)))
        goto out;
    const json_t *files = json_object_get(listing, "files"), *f;
    size_t i, n = 0, k = 0;
    size_t cap = json_array_size(files) + 1;
    if (!(paths = ursa_calloc(cap, sizeof(*paths))) || !(inputs = ursa_calloc(cap, sizeof(*inputs))) ||
        !(pick = ursa_calloc(cap, sizeof(*pick)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(files, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "date")), date) == 0)
            paths[n++] = json_string_value(json_object_get(f, "path"));
    }
    res->files = n;
    if (compact_day_pick(paths, n, o->open_max_files, pick) == 0) {
        res->nothing = true;
        goto out;
    }
    json_array_foreach(files, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "date")), date) != 0) continue;
        if (!pick[k++]) continue;
        inputs[res->inputs++] = json_string_value(json_object_get(f, "path"));
        res->bytes_in += (uint64_t)json_integer_value(json_object_get(f, "bytes"));
    }
    qsort(inputs, res->inputs, sizeof(*inputs), input_cmp);
    ursa_info("compacting %s, %s: %zu of its %zu files (%llu bytes)", dataset, date, res->inputs, n,
              (unsigned long long)res->bytes_in);
    pq_write_opts_t pq;
    if ((rc = ursa_schema_to_json(&s, &schema_json)) || (rc = ursa_buf_push(&schema_json, '\0')) ||
        (rc = salt_of(&salt, (const char *)schema_json.data, ids, s.nfields, o->pq))) {
        rc = ursa_err_set(err, rc, "out of memory");
        goto out;
    }
    pq_write_opts_dataset(&pq, o->pq, &s, ids, (const char *)schema_json.data, keys);
    if ((rc = ursa_compact_name(out_base, sizeof(out_base), dataset, date, inputs, res->inputs,
                                (const char *)salt.data))) {
        rc = ursa_err_set(err, rc, "%s, %s: the outputs' name does not fit", dataset, date);
        goto out;
    }
    ursa_compact_opts_t co = {.store = st,
                              .schema = &s,
                              .field_ids = ids,
                              .pq = &pq,
                              .schema_json = (const char *)schema_json.data,
                              .inputs = inputs,
                              .ninputs = res->inputs,
                              .out_base = out_base,
                              .cancel = o->cancel};
    if ((rc = ursa_compact_merge(&co, &merged, err))) goto out;
    res->outputs = merged.noutputs, res->rows = merged.rows_out;
    if (!(outs = ursa_calloc(merged.noutputs + 1, sizeof(*outs)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < merged.noutputs; j++) {
        outs[j] = (table_file_t){merged.outputs[j].key, day};
        res->bytes_out += merged.outputs[j].bytes;
    }
    iceberg_test_kill("compact-before-commit");
    snprintf(key, sizeof(key), "compact:%s", strrchr(out_base, '/') + 1);
    table_append_t a = {dataset, &s, o->node,  0,      0,           outs, merged.noutputs,
                        ids,     0,  &version, inputs, res->inputs, key};
    table_result_t tr;
    rc = table_append(st, &a, &tr, err);
    res->already = rc == URSA_OK && tr.already;
    if (rc == URSA_ENOTFOUND) { /* another compaction won: ours names nothing, and goes */
        const char **gone = ursa_calloc(merged.noutputs + 1, sizeof(*gone));
        ursa_err_t e;
        for (size_t j = 0; gone && j < merged.noutputs; j++) gone[j] = merged.outputs[j].key;
        if (!gone || ursa_store_del_many(st, gone, merged.noutputs, &e))
            ursa_error("%s, %s: deleting the outputs of a compaction that lost: %s", dataset, date,
                       gone ? e.msg : "out of memory");
        ursa_free(gone);
        res->lost = true, res->outputs = 0, res->bytes_out = 0, rc = URSA_OK;
    }
out:
    ursa_compact_result_free(&merged);
    ursa_free(outs);
    ursa_free(paths);
    ursa_free(inputs);
    ursa_free(pick);
    ursa_free(ids);
    ursa_buf_free(&schema_json);
    ursa_buf_free(&salt);
    json_decref(listing);
    iceberg_base_free(&version);
    ursa_schema_free(&s);
    return rc;
}
