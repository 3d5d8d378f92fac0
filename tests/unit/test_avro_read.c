/*
 * test_avro_read.c -- the Avro container reader against an independent
 * writer: Debian's python3-avro writes files (codecs null and deflate,
 * several blocks, every Avro type: unions, arrays of records, maps, enums,
 * fixed, a named type used twice, a recursive record, a logical type) with
 * tests/tools/avro_fixture.py, which also writes what python3-avro itself
 * reads back as JSON; every record must be equal. Then damaged files: cut
 * anywhere, a sync marker changed, a count past the bytes -- each
 * URSA_EFORMAT, never a crash.
 */
#include "avro_read.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#ifndef URSA_SOURCE_DIR
#error "URSA_SOURCE_DIR must name the source tree (CMakeLists.txt sets it)"
#endif

static char dir[256];

static void slurp(const char *path, ursa_buf_t *b)
{
    FILE *f = fopen(path, "rb");
    b->len = 0;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (ursa_buf_append(b, tmp, n)) abort();
    fclose(f);
}

TEST(python_written_files)
{
    char cmd[1024], path[512];
    snprintf(dir, sizeof(dir), "test-tmp/avro-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/tools/avro_fixture.py %s", URSA_SOURCE_DIR, dir);
    CHECK_EQ_INT(system(cmd), 0);
    const char *files[] = {"null-3000.avro", "deflate-3000.avro", "null-0.avro"};
    for (size_t i = 0; i < 3; i++) {
        ursa_buf_t b = {0}, e = {0};
        ursa_err_t err;
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        slurp(path, &b);
        snprintf(path, sizeof(path), "%s/%s.json", dir, files[i]);
        slurp(path, &e);
        json_t *meta, *recs, *want = json_loadb((const char *)e.data, e.len, 0, NULL);
        CHECK(want != NULL);
        int rc = avro_read_file(b.data, b.len, &meta, &recs, &err);
        if (rc) fprintf(stderr, "%s: %s\n", files[i], err.msg);
        CHECK_EQ_INT(rc, URSA_OK);
        if (!rc && want) {
            const json_t *wr = json_object_get(want, "records");
            CHECK_EQ_INT(json_array_size(recs), json_array_size(wr));
            size_t bad = 0;
            for (size_t k = 0; k < json_array_size(wr); k++)
                if (!json_equal(json_array_get(recs, k), json_array_get(wr, k))) {
                    if (!bad++) {
                        char *a = json_dumps(json_array_get(recs, k), 0),
                             *w = json_dumps(json_array_get(wr, k), 0);
                        fprintf(stderr, "%s record %zu:\n got  %s\n want %s\n", files[i], k, a, w);
                        free(a), free(w);
                    }
                }
            CHECK_EQ_INT(bad, 0);
            CHECK(json_equal(json_object_get(meta, "iceberg.schema"),
                             json_object_get(json_object_get(want, "meta"), "iceberg.schema")));
            json_decref(meta), json_decref(recs);
        }
        json_decref(want);
        ursa_buf_free(&b), ursa_buf_free(&e);
    }
}

TEST(damaged_files)
{
    char path[512];
    ursa_buf_t b = {0};
    snprintf(path, sizeof(path), "%s/null-3000.avro", dir);
    slurp(path, &b);
    ursa_err_t err;
    json_t *meta, *recs;
    /* Cut at every 4999th byte: always an error. */
    size_t errors = 0;
    for (size_t cut = 0; cut < b.len; cut += 4999) {
        int rc = avro_read_file(b.data, cut, &meta, &recs, &err);
        CHECK(rc == URSA_EFORMAT);
        CHECK(meta == NULL && recs == NULL);
        errors += rc == URSA_EFORMAT;
    }
    CHECK(errors > 70);
    /* The sync marker after the first block changed. */
    ursa_buf_t c = {0};
    CHECK_EQ_INT(ursa_buf_append(&c, b.data, b.len), URSA_OK);
    c.data[c.len - 1] ^= 1;
    CHECK_EQ_INT(avro_read_file(c.data, c.len, &meta, &recs, &err), URSA_EFORMAT);
    CHECK(strstr(err.msg, "sync") != NULL);
    /* Not Avro at all; a record count far past the bytes. */
    CHECK_EQ_INT(avro_read_file("PAR1", 4, &meta, &recs, &err), URSA_EFORMAT);
    static const uint8_t huge[] = {'O', 'b', 'j', 1, 0, 0, 0, 0,    0,    0,    0,    0,    0, 0,
                                   0,   0,   0,   0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08, 0};
    CHECK_EQ_INT(avro_read_file(huge, sizeof(huge), &meta, &recs, &err), URSA_EFORMAT);
    ursa_buf_free(&b), ursa_buf_free(&c);
}

int main(void)
{
    RUN(python_written_files);
    RUN(damaged_files);
    if (!test_failed_count) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (dir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_failed_count ? 1 : 0;
}
