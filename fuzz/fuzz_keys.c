/*
 * fuzz_keys.c -- libFuzzer driver for the keys file parser (api_keys.c):
 * the input is a keys file, given to api_keys_open through a memfd. The
 * first byte of the input picks a key to check against what was loaded.
 * Invariants: a load either succeeds or names the file and a line; a
 * loaded set answers every check with OK, EKEY or EDENIED; nothing leaks
 * or crashes (ASan). Anything else aborts.
 */
#include "api_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("keys", 0);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    api_keys_opts_t o = {path, 2, NULL};
    api_keys_t *k = NULL;
    ursa_err_t err = {0};
    int rc = api_keys_open(&k, &o, &err);
    if (rc) {
        if (rc != URSA_ENOMEM && !strstr(err.msg, " line ") && !strstr(err.msg, "16 MiB")) abort();
    } else {
        static const char *const probes[] = {"ursa_a", "", "x"};
        const char *key = probes[size ? data[0] % 3 : 0];
        uint8_t h[32];
        api_keys_hash(key, strlen(key), h);
        static const char *const ds[] = {"events", "web_x", NULL};
        for (unsigned s = 0; s < 16; s++)
            for (size_t d = 0; d < 3; d++) {
                int a = api_keys_allow(k, h, s, ds[d], NULL);
                if (a != URSA_OK && a != URSA_EKEY && a != URSA_EDENIED) abort();
            }
        api_keys_close(&k);
    }
    close(fd);
    return 0;
}
