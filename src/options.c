/*
 * options.c -- byte counts with units, and the memory limit of the
 * process's control group.
 *
 * A container's memory limit is a cgroup's, not the host's RAM: a budget
 * taken from sysconf(_SC_PHYS_PAGES) alone lets a container with a 1 GiB
 * limit believe it has half of a 64 GiB host, and the kernel kills it long
 * before Ursa pushes back. The limit is found the way the kernel applies
 * it: the process's cgroup path (/proc/self/cgroup) under the mount point of
 * its hierarchy (/proc/self/mountinfo), then every parent up to the mount's
 * root, keeping the smallest limit (a parent's limit binds its children).
 * Both cgroup v2 (memory.max, "max" = none) and v1 (memory.limit_in_bytes,
 * a huge number = none) are read; when both are mounted the smaller wins.
 * Anything unreadable counts as no limit: the default then falls back to
 * the RAM, never to a failure to start.
 *
 * The advertised address: what the others put in their URLs to reach this
 * node. A wildcard listen address says where to accept, not where to be
 * found, so the host name stands in for it.
 */
#include "options.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool ursa_parse_bytes(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    unsigned shift = 0;
    switch (*s) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    case 'b':
    case 'B':
        s++; /* "100B" */
        break;
    }
    if (shift) {
        s++;
        if (*s == 'i') s++;
        if (*s == 'b' || *s == 'B') s++;
        if (v > (UINT64_MAX >> shift)) return false;
        v <<= shift;
    }
    if (*s) return false;
    *out = v;
    return true;
}

bool ursa_parse_duration_ms(const char *s, int64_t *ms)
{
    if (!s || *s < '0' || *s > '9') return false;
    int64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX / 1000 - (*s - '0')) / 10) return false;
        v = v * 10 + (*s - '0');
    }
    int64_t unit = strcmp(s, "ms") == 0         ? 1
                   : strcmp(s, "s") == 0 || !*s ? 1000
                   : strcmp(s, "m") == 0        ? 60000
                   : strcmp(s, "h") == 0        ? 3600000
                   : strcmp(s, "d") == 0        ? 86400000
                                                : 0;
    if (!unit || v == 0 || v > INT64_MAX / 1000 / unit) return false;
    *ms = v * unit;
    return true;
}

/* Whether host (n bytes, brackets stripped) accepts on every address. */
static bool wildcard_host(const char *host, size_t n)
{
    char h[64];
    unsigned char a[16];
    if (n == 0) return true;
    if (n >= sizeof(h)) return false;
    memcpy(h, host, n);
    h[n] = '\0';
    if (inet_pton(AF_INET, h, a) == 1) return memcmp(a, "\0\0\0\0", 4) == 0;
    if (inet_pton(AF_INET6, h, a) == 1) {
        static const unsigned char any[16];
        return memcmp(a, any, 16) == 0;
    }
    return false;
}

bool ursa_advertise_address(const char *advertise, const char *listen, unsigned port, char *out, size_t cap,
                            const char **why)
{
    const char *spec = advertise ? advertise : listen;
    const char *colon = spec ? strrchr(spec, ':') : NULL;
    if (!colon) {
        *why = "must be HOST:PORT";
        return false;
    }
    const char *host = spec;
    size_t hn = (size_t)(colon - spec);
    bool bracketed = hn >= 2 && host[0] == '[' && host[hn - 1] == ']';
    if (bracketed) host++, hn -= 2;
    if (advertise) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (wildcard_host(host, hn) || *end || end == colon + 1 || p == 0 || p > 65535) {
            *why = "must name a host and a port the other nodes can reach (not 0.0.0.0, [::] or port 0)";
            return false;
        }
        if ((size_t)snprintf(out, cap, "%s", advertise) >= cap) {
            *why = "is too long";
            return false;
        }
        return true;
    }
    if (port == 0 || port > 65535) {
        *why = "needs the port bound";
        return false;
    }
    char name[256];
    if (wildcard_host(host, hn)) {
        if (gethostname(name, sizeof(name)) != 0 || !name[0]) {
            *why = "the listen address is a wildcard and the host name is unknown: give --advertise";
            return false;
        }
        name[sizeof(name) - 1] = '\0';
        host = name;
        hn = strlen(name);
    }
    bool v6 = memchr(host, ':', hn) != NULL;
    if ((size_t)snprintf(out, cap, "%s%.*s%s:%u", v6 ? "[" : "", (int)hn, host, v6 ? "]" : "", port) >= cap) {
        *why = "is too long";
        return false;
    }
    return true;
}

/* Reads a whole small file into buf; false when it cannot. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

/* A limit file's value; 0 for none ("max", or v1's "unlimited" number). */
static uint64_t limit_value(const char *path)
{
    char buf[64];
    if (!read_small(path, buf, sizeof(buf))) return 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || v >= (1ull << 60)) return 0;
    return v;
}

/* For the hierarchy that is cgroup2 (v2) or has the memory controller
 * (v1): its mount point and the root of the mount within the hierarchy,
 * from /proc/self/mountinfo. */
static bool find_mount(const char *root, bool v2, char *mnt, size_t mcap, char *mroot, size_t rcap)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* id parent maj:min root mountpoint options [optional...] - fstype source superoptions */
        char r[1024], m[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2) continue;
        const char *dash = strstr(line, " - ");
        if (!dash) continue;
        char fstype[64], src[1024], sopts[1024];
        if (sscanf(dash + 3, "%63s %1023s %1023s", fstype, src, sopts) != 3) continue;
        if (v2)
            found = strcmp(fstype, "cgroup2") == 0;
        else if (strcmp(fstype, "cgroup") == 0)
            for (char *tok = strtok(sopts, ","); tok && !found; tok = strtok(NULL, ","))
                found = strcmp(tok, "memory") == 0;
        if (found) {
            snprintf(mnt, mcap, "%s", m);
            snprintf(mroot, rcap, "%s", r);
        }
    }
    fclose(f);
    return found;
}

/* The process's path in the v2 hierarchy ("0::/a/b") or in the v1 one
 * that has the memory controller ("4:memory:/a/b"). */
static bool find_path(const char *root, bool v2, char *out, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        if (v2) {
            found = c1 == line + 1 && line[0] == '0' && *ctrls == '\0';
        } else {
            char list[1024];
            snprintf(list, sizeof(list), "%s", ctrls);
            for (char *tok = strtok(list, ","); tok && !found; tok = strtok(NULL, ","))
                found = strcmp(tok, "memory") == 0;
        }
        if (found) snprintf(out, cap, "%s", c2 + 1);
    }
    fclose(f);
    return found;
}

/* The smallest limit from the process's cgroup up to the mount's root. */
static uint64_t hierarchy_limit(const char *root, bool v2)
{
    char mnt[1024], mroot[1024], cg[1024], dir[4096], file[4200];
    if (!find_mount(root, v2, mnt, sizeof(mnt), mroot, sizeof(mroot)) || !find_path(root, v2, cg, sizeof(cg)))
        return 0;
    /* The path is relative to the hierarchy's root; the mount may show a
     * part of it only (a container sees its own cgroup as "/"). */
    const char *rel = cg;
    size_t rn = strlen(mroot);
    if (strcmp(mroot, "/") && strncmp(cg, mroot, rn) == 0 && (cg[rn] == '/' || cg[rn] == '\0')) rel = cg + rn;
    if (strncmp(rel, "/..", 3) == 0) rel = ""; /* outside the mount: only its root is visible */
    snprintf(dir, sizeof(dir), "%s%s%s", root, mnt, strcmp(rel, "/") ? rel : "");
    size_t top = strlen(root) + strlen(mnt);
    uint64_t best = 0;
    for (;;) {
        snprintf(file, sizeof(file), "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
        uint64_t v = limit_value(file);
        if (v && (!best || v < best)) best = v;
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= top || !slash || (size_t)(slash - dir) < top) break;
        *slash = '\0';
    }
    return best;
}

uint64_t ursa_cgroup_memory_limit(const char *root)
{
    uint64_t a = hierarchy_limit(root, true), b = hierarchy_limit(root, false);
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

uint64_t ursa_default_memory_limit(const char *root, const char **why)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : (uint64_t)8 << 30;
    uint64_t cg = ursa_cgroup_memory_limit(root);
    *why = cg && cg < ram ? "cgroup" : "RAM";
    return (cg && cg < ram ? cg : ram) / 2;
}
