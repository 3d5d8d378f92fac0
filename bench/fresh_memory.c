/*
 * fresh_memory.c -- how fast this machine hands out memory on first touch.
 *
 *   cc -O2 -o /tmp/fresh_memory bench/fresh_memory.c
 *   /tmp/fresh_memory HUGE KEEP     (HUGE 1: madvise huge pages; KEEP 1: keep every block)
 *
 * Maps a 256 MiB block six times, writes one byte every 64, and prints MB/s
 * per block. With KEEP 0 each block is unmapped before the next is mapped
 * (the pages come back warm); with KEEP 1 the process grows, as a server's
 * buffer does. On VMs whose balloon driver reports free pages to the host,
 * memory freed a few seconds ago is slow to touch again (see "Fresh memory"
 * in docs/benchmarks.md).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fresh_memory HUGE(0|1) KEEP(0|1)\n");
        return 2;
    }
    int huge = atoi(argv[1]), keep = atoi(argv[2]);
    size_t n = (size_t)256 << 20;
    for (int r = 0; r < 6; r++) {
        char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        (void)madvise(p, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        double t = now();
        for (size_t i = 0; i < n; i += 64) p[i] = 1;
        t = now() - t;
        printf("%.0f MB/s%s", (double)n / t / 1e6, r == 5 ? "\n" : " ");
        if (!keep) munmap(p, n);
    }
    return 0;
}
