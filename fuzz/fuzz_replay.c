/*
 * libFuzzer driver for the replay of WAL records (ursa_catalog_replay): a
 * request's rows in one record, or in parts with a last record listing
 * them, aborts, and damaged or arbitrary payloads. The input is a small
 * program; each step builds a record from the next bytes and replays it
 * with the next LSN:
 *
 *   op % 5 == 0  part: a batch of up to 40 rows, rows [0, n & ~7) as a part
 *            1  last: a batch, with a list of earlier parts (any order,
 *               any of them, unknown LSNs too) before its own rows
 *            2  abort: a list of earlier parts
 *            3  raw: the next bytes as the payload (the corpus seeds keys
 *               records this way: fuzz/corpus/replay/keys-*)
 *            4  damage: a part or last record with bytes overwritten
 *
 * Invariant (until a raw or damaged record): the dataset holds exactly the
 * rows of the last records whose parts were all there, minus those of
 * parts aborted before — the model below — and nothing crashes or leaks.
 * A fresh catalog per input (on one local store made at start).
 */
#include "catalog.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SCHEMA[] = "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                             "{\"name\":\"n\",\"type\":\"int64\"},{\"name\":\"s\",\"type\":\"string\"},"
                             "{\"name\":\"b\",\"type\":\"bool\"}],\"time_column\":\"ts\"}";

static ursa_store_t *store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char root[] = "/tmp/ursa-fuzz-replay-XXXXXX";
    if (!mkdtemp(root)) abort();
    ursa_err_t err;
    ursa_catalog_t *c;
    bool created;
    if (ursa_store_open(root, NULL, &store, &err) || ursa_catalog_new(&c, store, "fz", 0, &err) ||
        ursa_catalog_create(c, "ev", SCHEMA, strlen(SCHEMA), &created, &err))
        abort();
    ursa_catalog_destroy(&c);
    return 0;
}

typedef struct input {
    const uint8_t *p;
    size_t n;
} input_t;

static unsigned take(input_t *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

/* A batch of up to 40 rows from the input (all on one of three days). */
static void make_batch(ursa_dataset_t *d, input_t *in, ursa_batch_t *b)
{
    if (ursa_batch_init(b, &d->schema)) abort();
    size_t rows = take(in) % 41;
    for (size_t i = 0; i < rows; i++) {
        unsigned v = take(in);
        int64_t ts = (int64_t)1700000000000000 + (int64_t)(v % 3) * 86400000000 + (int64_t)i;
        char s[8];
        size_t sn = v % 7;
        memset(s, 'a' + (int)(v % 26), sn);
        if (ursa_column_append_i64(&b->cols[0], ts) ||
            (v & 8 ? ursa_column_append_null(&b->cols[1])
                   : ursa_column_append_i64(&b->cols[1], (int64_t)v)) ||
            (v & 16 ? ursa_column_append_null(&b->cols[2]) : ursa_column_append_str(&b->cols[2], s, sn)) ||
            (v & 32 ? ursa_column_append_null(&b->cols[3]) : ursa_column_append_bool(&b->cols[3], v & 1)))
            abort();
        b->nrows++;
    }
}

typedef struct part {
    uint64_t lsn;
    size_t rows;
    bool alive; /* replay still holds it */
} part_t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    ursa_err_t err;
    ursa_catalog_t *c;
    if (ursa_catalog_new(&c, store, "fz", 0, &err)) abort();
    ursa_dataset_t *d = ursa_catalog_get(c, "ev");
    if (!d) abort();
    part_t parts[64];
    size_t nparts = 0, expect = 0;
    bool model = true;
    uint64_t lsn = 1;
    for (int step = 0; step < 32 && in.n; step++, lsn++) {
        unsigned op = take(&in) % 5;
        ursa_buf_t rec = {0};
        ursa_batch_t b = {0};
        size_t rows = 0;
        uint64_t list[16];
        size_t nlist = 0;
        bool all_there = true;
        if (op == 3) {
            size_t n = take(&in) % 64;
            if (n > in.n) n = in.n;
            if (ursa_buf_append(&rec, in.p, n)) abort();
            in.p += n;
            in.n -= n;
            model = false;
        } else if (op == 2) {
            nlist = take(&in) % 5;
            for (size_t i = 0; i < nlist; i++) list[i] = nparts ? parts[take(&in) % nparts].lsn : lsn + 7;
            if (ursa_catalog_wal_abort(list, nlist, &rec)) abort();
        } else {
            make_batch(d, &in, &b);
            bool part = op == 0 || (op == 4 && take(&in) & 1);
            if (part) {
                rows = b.nrows & ~(size_t)7;
                if (ursa_catalog_wal_part(&b, 0, rows, &rec)) abort();
            } else {
                nlist = take(&in) % 5;
                for (size_t i = 0; i < nlist; i++) {
                    unsigned k = take(&in);
                    list[i] = nparts && k < 250 ? parts[k % nparts].lsn : lsn + 1000 + k;
                }
                if (ursa_catalog_wal_record("ev", NULL, 200, "", 0, NULL, &b, list, nlist, 0, &rec)) abort();
                rows = b.nrows;
            }
            if (op == 4) {
                for (unsigned k = take(&in) % 4 + 1; k--;)
                    rec.data[take(&in) * 31u % rec.len] ^= (uint8_t)take(&in);
                model = false;
            }
            if (part && nparts < URSA_ARRAY_LEN(parts)) parts[nparts++] = (part_t){lsn, rows, true};
            if (!part) {
                /* The model: a last record restores its parts' rows (each listed once,
                 * alive) and its own, or nothing when one is missing. */
                size_t sum = rows;
                for (size_t i = 0; i < nlist; i++) {
                    part_t *x = NULL;
                    for (size_t j = 0; j < nparts; j++)
                        if (parts[j].lsn == list[i]) x = &parts[j];
                    for (size_t j = 0; j < i; j++) all_there &= list[j] != list[i]; /* a part used twice */
                    if (!x || !x->alive)
                        all_there = false;
                    else
                        sum += x->rows;
                }
                if (all_there) expect += sum;
                for (size_t i = 0; i < nlist; i++)
                    for (size_t j = 0; j < nparts; j++)
                        if (parts[j].lsn == list[i]) parts[j].alive = false;
            }
        }
        if (op == 2)
            for (size_t i = 0; i < nlist; i++)
                for (size_t j = 0; j < nparts; j++)
                    if (parts[j].lsn == list[i]) parts[j].alive = false;
        int rc = ursa_catalog_replay(c, lsn, rec.data ? rec.data : (const uint8_t *)"", rec.len,
                                     &err);    /* as the log */
        if (rc && rc != URSA_EFORMAT) abort(); /* only malformed records may fail */
        if (rc) model = false;
        ursa_batch_free(&b);
        ursa_buf_free(&rec);
    }
    uint64_t got, bytes;
    ursa_dataset_stats(d, &got, &bytes);
    if (model && got != expect) abort();
    ursa_catalog_replay_done(c);
    ursa_catalog_destroy(&c);
    return 0;
}
