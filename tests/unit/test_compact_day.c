/* Unit tests for compaction's choice of files (compact_day.h): which of a
 * day's files a compaction merges, closed or open, and which days are due.
 * The merge and the commit are tested in test_compact.c, test_table_upkeep.c
 * and tests/integration/compact.test.mjs. */
#include "compact_day.h"
#include "test.h"

#include <string.h>

#define F(x) "ev/date=2026-12-01/" x

/* pick as a string of 0 and 1, one per path. */
static const char *picked(const char *const *paths, size_t n, size_t open_max, size_t *k)
{
    static char s[64];
    bool pick[32];
    *k = compact_day_pick(paths, n, open_max, pick);
    for (size_t i = 0; i < n; i++) s[i] = pick[i] ? '1' : '0';
    s[n] = '\0';
    return s;
}

TEST(closed_day)
{
    size_t k;
    const char *one[] = {F("n1-1-5.parquet")};
    CHECK_EQ_INT(compact_day_pick(one, 1, 0, (bool[1]){0}), 0);
    const char *two[] = {F("n1-1-5.parquet"), F("n2-3-9.parquet")};
    CHECK(!strcmp(picked(two, 2, 0, &k), "11") && k == 2);
    /* One compaction's outputs (a big day cut in three): done. */
    const char *done[] = {F("c-0123456789abcdef-0.parquet"), F("c-0123456789abcdef-1.parquet"),
                          F("c-0123456789abcdef-2.parquet")};
    CHECK_EQ_INT(compact_day_pick(done, 3, 0, (bool[3]){0}), 0);
    /* Late rows after it: everything again. */
    const char *late[] = {F("c-0123456789abcdef-0.parquet"), F("n1-7-7.parquet")};
    CHECK(!strcmp(picked(late, 2, 0, &k), "11") && k == 2);
    /* The outputs of two merges (an open day's): merged into one. */
    const char *twice[] = {F("c-0123456789abcdef-0.parquet"), F("c-1123456789abcdef-0.parquet")};
    CHECK(!strcmp(picked(twice, 2, 0, &k), "11"));
    /* Names that only look like outputs are flushes' files. */
    const char *like[] = {F("c-0123456789abcdeg-0.parquet"), F("c-12-15.parquet")};
    CHECK(!strcmp(picked(like, 2, 0, &k), "11"));
}

TEST(open_day)
{
    size_t k;
    /* Two outputs of one earlier merge, four flushes' files. */
    const char *p[] = {
        F("c-0123456789abcdef-0.parquet"), F("n1-1-5.parquet"), F("n1-6-9.parquet"), F("n2-1-4.parquet"),
        F("c-0123456789abcdef-1.parquet"), F("n2-5-5.parquet")};
    /* At or under the limit: nothing. */
    CHECK_EQ_INT(compact_day_pick(p, 6, 6, (bool[6]){0}), 0);
    CHECK_EQ_INT(compact_day_pick(p + 1, 3, 3, (bool[3]){0}), 0);
    /* Past it, with earlier merges (1) fewer than half the limit (2): the flushes' files only. */
    CHECK(!strcmp(picked(p, 6, 5, &k), "011101") && k == 4);
    /* Limit 3 (half: 1): everything. */
    CHECK(!strcmp(picked(p, 6, 3, &k), "111111") && k == 6);
    /* The outputs of two merges, limit 4 (half: 2): everything. */
    const char *two[] = {F("c-0123456789abcdef-0.parquet"), F("n1-1-5.parquet"), F("n1-6-9.parquet"),
                         F("n2-1-4.parquet"), F("c-1123456789abcdef-0.parquet")};
    CHECK(!strcmp(picked(two, 5, 4, &k), "11111") && k == 5);
    /* One flush's file among one merge's outputs: not a merge of its own: everything. */
    const char *q[] = {F("c-0123456789abcdef-0.parquet"), F("c-0123456789abcdef-1.parquet"),
                       F("c-0123456789abcdef-2.parquet"), F("c-0123456789abcdef-3.parquet"),
                       F("n1-1-5.parquet")};
    CHECK(!strcmp(picked(q, 5, 4, &k), "11111") && k == 5);
}

static json_t *listing(void)
{
    return json_pack("{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "files", "date",
                     "2026-12-02", "path", "ev/date=2026-12-02/n1-1-1.parquet", "date", "2026-12-01", "path",
                     F("n1-2-2.parquet"), "date", "2026-12-02", "path", "ev/date=2026-12-02/n1-3-3.parquet",
                     "date", "2026-12-01", "path", F("n1-4-4.parquet"), "date", "2026-11-30", "path",
                     "ev/date=2026-11-30/c-0123456789abcdef-0.parquet", "date", "2026-12-02", "path",
                     "ev/date=2026-12-02/n2-1-1.parquet");
}

static const char *dates(json_t *due)
{
    static char s[200];
    size_t i;
    json_t *x;
    s[0] = '\0';
    json_array_foreach(due, i, x)
    {
        strcat(s, json_string_value(json_object_get(x, "date")));
        strcat(s, json_is_true(json_object_get(x, "open")) ? "+open " : " ");
    }
    json_decref(due);
    return s;
}

TEST(days_due)
{
    json_t *l = listing();
    const int64_t day2 = 20789LL * 86400000; /* 2026-12-02T00:00:00Z */
    /* Every day as closed (the command, a request without a date): ascending, the compacted one left. */
    CHECK(!strcmp(dates(compact_days_due(l, 0, -1, 0)), "2026-12-01 2026-12-02 "));
    /* At noon of 2026-12-02, grace 30 min: the 1st closed, the 2nd open with 3 files (limit 2: due). */
    CHECK(!strcmp(dates(compact_days_due(l, day2 + 43200000, 1800000, 2)), "2026-12-01 2026-12-02+open "));
    /* ... limit 3: the open day waits. */
    CHECK(!strcmp(dates(compact_days_due(l, day2 + 43200000, 1800000, 3)), "2026-12-01 "));
    /* 10 minutes after midnight, grace 30 min: the 1st is still open (2 files, limit 3: waits). */
    CHECK(!strcmp(dates(compact_days_due(l, day2 + 600000, 1800000, 3)), ""));
    /* 31 minutes after: closed. */
    CHECK(!strcmp(dates(compact_days_due(l, day2 + 1860000, 1800000, 3)), "2026-12-01 "));
    json_decref(l);
}

int main(void)
{
    RUN(closed_day);
    RUN(open_day);
    RUN(days_due);
    return TEST_EXIT();
}
