/*
 * compact_day.c -- compaction of one dataset-day.
 *
 * Design. The inputs are the files the table's current snapshot has live
 * for the day -- every node's flushes, and an earlier compaction's output
 * when late rows came after it -- never a listing of the store, so a file
 * published and not yet committed is left for its commit. They are merged
 * by the engine (compact.c) into objects named from a hash of the inputs,
 * then swapped in by one replace commit keyed by the same hash
 * (table_append with files to remove).
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
 * over them and commits; killed after the commit -- compacting again finds
 * one file for the day (or the key committed) and does nothing. Two nodes
 * compacting the same day at once: the conditional commit lets one win;
 * the other finds its inputs gone (URSA_ENOTFOUND from the replace),
 * deletes its outputs and stops -- unless both merged the same inputs,
 * in which case they wrote the same objects (same names, same bytes: the
 * writer is deterministic) and the second finds the key committed.
 */
#include "compact_day.h"

#include "coerce.h"
#include "compact.h"
#include "iceberg_meta.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int compact_day(ursa_store_t *st, const char *dataset, const char *date, const char *node,
                const pq_write_opts_t *base, compact_day_result_t *res, ursa_err_t *err)
{
    ursa_schema_t s = {0};
    iceberg_base_t version = {0};
    json_t *listing = NULL;
    const char **inputs = NULL;
    int32_t *ids = NULL;
    ursa_buf_t schema_json = {0};
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
    size_t i, n = 0;
    if (!(inputs = ursa_calloc(json_array_size(files) + 1, sizeof(*inputs)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(files, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "date")), date) != 0) continue;
        inputs[n++] = json_string_value(json_object_get(f, "path"));
        res->bytes_in += (uint64_t)json_integer_value(json_object_get(f, "bytes"));
    }
    res->inputs = n;
    if (n < 2) {
        res->nothing = true;
        goto out;
    }
    pq_write_opts_t pq;
    if ((rc = ursa_schema_to_json(&s, &schema_json)) || (rc = ursa_buf_push(&schema_json, '\0'))) {
        rc = ursa_err_set(err, rc, "out of memory");
        goto out;
    }
    pq_write_opts_dataset(&pq, base, &s, ids, (const char *)schema_json.data, keys);
    if ((rc = ursa_compact_name(out_base, sizeof(out_base), dataset, date, inputs, n))) {
        rc = ursa_err_set(err, rc, "%s, %s: the outputs' name does not fit", dataset, date);
        goto out;
    }
    ursa_compact_opts_t o = {st, &s, ids, &pq, (const char *)schema_json.data, inputs, n, out_base, 0, 0, 0};
    if ((rc = ursa_compact_merge(&o, &merged, err))) goto out;
    res->outputs = merged.noutputs, res->rows = merged.rows_out;
    if (!(outs = ursa_calloc(merged.noutputs + 1, sizeof(*outs)))) {
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < merged.noutputs; k++) {
        outs[k] = (table_file_t){merged.outputs[k].key, day};
        res->bytes_out += merged.outputs[k].bytes;
    }
    iceberg_test_kill("compact-before-commit");
    snprintf(key, sizeof(key), "compact:%s", strrchr(out_base, '/') + 1);
    table_append_t a = {dataset, &s, node, 0, 0, outs, merged.noutputs, ids, 0, &version, inputs, n, key};
    table_result_t tr;
    rc = table_append(st, &a, &tr, err);
    res->already = rc == URSA_OK && tr.already;
    if (rc == URSA_ENOTFOUND) { /* another compaction won: ours names nothing, and goes */
        const char **gone = ursa_calloc(merged.noutputs + 1, sizeof(*gone));
        ursa_err_t e;
        for (size_t k = 0; gone && k < merged.noutputs; k++) gone[k] = merged.outputs[k].key;
        if (!gone || ursa_store_del_many(st, gone, merged.noutputs, &e))
            ursa_error("%s, %s: deleting the outputs of a compaction that lost: %s", dataset, date,
                       gone ? e.msg : "out of memory");
        ursa_free(gone);
        res->lost = true, res->outputs = 0, rc = URSA_OK;
    }
out:
    ursa_compact_result_free(&merged);
    ursa_free(outs);
    ursa_free(inputs);
    ursa_free(ids);
    ursa_buf_free(&schema_json);
    json_decref(listing);
    iceberg_base_free(&version);
    ursa_schema_free(&s);
    return rc;
}
