/*
 * test_options.c -- byte counts with units, and the memory limit of a
 * control group read from a fixture tree shaped like /proc and /sys (cgroup
 * v1, v2, a container's view, nested limits, "max", unreadable files).
 */
#include "options.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(bytes_with_units)
{
    uint64_t v = 7;
    CHECK(ursa_parse_bytes("0", &v) && v == 0);
    CHECK(ursa_parse_bytes("268435456", &v) && v == 268435456);
    CHECK(ursa_parse_bytes("64M", &v) && v == 64ull << 20);
    CHECK(ursa_parse_bytes("64m", &v) && v == 64ull << 20);
    CHECK(ursa_parse_bytes("64MiB", &v) && v == 64ull << 20);
    CHECK(ursa_parse_bytes("64MB", &v) && v == 64ull << 20);
    CHECK(ursa_parse_bytes("1K", &v) && v == 1024);
    CHECK(ursa_parse_bytes("2G", &v) && v == 2ull << 30);
    CHECK(ursa_parse_bytes("3Ti", &v) && v == 3ull << 40);
    CHECK(ursa_parse_bytes("100B", &v) && v == 100);
    CHECK(ursa_parse_bytes("18446744073709551615", &v) && v == UINT64_MAX);
    v = 7;
    const char *bad[] = {
        "",   "M", "-1", "1.5G", "64 M", "64X", "64MiBs", "64Mb2", "18446744073709551616", "17179869184G",
        " 64"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        CHECK(!ursa_parse_bytes(bad[i], &v));
        CHECK(v == 7);
    }
}

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void fresh_root(void)
{
    static int n;
    snprintf(root, sizeof(root), "/tmp/ursa-test-options-%d-%d", (int)getpid(), n++);
    mkdir(root, 0755);
}

static void remove_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    CHECK(system(cmd) == 0);
}

TEST(durations)
{
    int64_t ms = -1;
    CHECK(ursa_parse_duration_ms("1d", &ms) && ms == 86400000);
    CHECK(ursa_parse_duration_ms("36h", &ms) && ms == 36 * 3600000LL);
    CHECK(ursa_parse_duration_ms("15m", &ms) && ms == 900000);
    CHECK(ursa_parse_duration_ms("90s", &ms) && ms == 90000);
    CHECK(ursa_parse_duration_ms("90", &ms) && ms == 90000); /* seconds, as the other options */
    CHECK(ursa_parse_duration_ms("250ms", &ms) && ms == 250);
    ms = -1;
    const char *bad[] = {"", "0", "0s", "-1s", "1w", "1 d", "d", "1dd", "1.5h", "99999999999999999d", NULL};
    for (int i = 0; bad[i]; i++) CHECK(!ursa_parse_duration_ms(bad[i], &ms));
    CHECK_EQ_INT(ms, -1);
    CHECK(!ursa_parse_duration_ms(NULL, &ms));
}

TEST(cgroup_v1_smallest_along_the_path)
{
    fresh_root();
    put("/proc/self/mountinfo", "22 1 0:20 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                                "30 22 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                                "31 22 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                                "32 22 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    put("/proc/self/cgroup", "5:cpu:/\n4:memory:/a/b\n0::/\n");
    put("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("/sys/fs/cgroup/memory/a/memory.limit_in_bytes", "1073741824\n");
    put("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "9223372036854771712\n");
    /* the v2 hierarchy is mounted but holds no limit here */
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 1073741824);
    /* a tighter child wins */
    put("/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "536870912\n");
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 536870912);
    remove_root();
}

TEST(cgroup_v2_and_a_containers_view)
{
    fresh_root();
    /* A container: its own cgroup is the root of the mount it sees. */
    put("/proc/self/mountinfo", "40 30 0:30 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw,nsdelegate\n");
    put("/proc/self/cgroup", "0::/\n");
    put("/sys/fs/cgroup/memory.max", "805306368\n");
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 805306368);
    put("/sys/fs/cgroup/memory.max", "max\n");
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 0);
    remove_root();

    fresh_root();
    /* A host's view, the mount's root a part of the hierarchy. */
    put("/proc/self/mountinfo", "40 30 0:30 /kube /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    put("/proc/self/cgroup", "0::/kube/pod1/c1\n");
    put("/sys/fs/cgroup/memory.max", "max\n");
    put("/sys/fs/cgroup/pod1/memory.max", "2147483648\n");
    put("/sys/fs/cgroup/pod1/c1/memory.max", "max\n");
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 2147483648);
    remove_root();
}

TEST(cgroup_absent_or_unreadable)
{
    fresh_root();
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 0); /* no /proc at all */
    put("/proc/self/mountinfo", "garbage\n\n- - -\n");
    put("/proc/self/cgroup", "nonsense\n4:memory\n");
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 0);
    put("/proc/self/mountinfo", "31 22 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
    put("/proc/self/cgroup", "4:memory:/x\n");
    put("/sys/fs/cgroup/memory/x/memory.limit_in_bytes", "not a number\n");
    CHECK_EQ_INT(ursa_cgroup_memory_limit(root), 0);
    const char *why = NULL;
    uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    CHECK_EQ_INT(ursa_default_memory_limit(root, &why), ram / 2);
    CHECK(why && strcmp(why, "RAM") == 0);
    put("/sys/fs/cgroup/memory/x/memory.limit_in_bytes", "268435456\n");
    CHECK_EQ_INT(ursa_default_memory_limit(root, &why), 134217728);
    CHECK(why && strcmp(why, "cgroup") == 0);
    remove_root();
}

int main(void)
{
    RUN(bytes_with_units);
    RUN(durations);
    RUN(cgroup_v1_smallest_along_the_path);
    RUN(cgroup_v2_and_a_containers_view);
    RUN(cgroup_absent_or_unreadable);
    return TEST_EXIT();
}
