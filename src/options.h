/*
 * options.h -- values of command-line options and environment variables
 * that need more than strtoull, and defaults read from the machine.
 */
#ifndef URSA_OPTIONS_H
#define URSA_OPTIONS_H

#include "common.h"

/* A byte count: digits, optionally followed by a unit K, M, G or T (any
 * case, optionally followed by "i" and/or "B": 64M = 64m = 64MiB = 64MB =
 * 67108864; every unit is a power of 1024, as in Docker and the JVM).
 * Returns false for anything else, or past UINT64_MAX. */
bool ursa_parse_bytes(const char *s, uint64_t *out);

/* A duration: digits, optionally followed by a unit ms, s, m, h or d
 * ("90s", "15m", "1d"; plain digits are seconds, as the other options in
 * seconds take them), into *ms. Returns false for anything else, zero, or
 * past INT64_MAX / 1000 ms (some 292,000 years). */
bool ursa_parse_duration_ms(const char *s, int64_t *ms);

/* Where the other nodes reach this node (--advertise), "host:port" into
 * out (cap bytes). advertise, when not NULL, is taken as it is, unless its
 * host is a wildcard or its port 0. Else it comes from listen ("HOST:PORT",
 * as --listen takes it) and port, the port actually bound (listen may say
 * 0): the listen host when it is a concrete one (an IPv6 address gets its
 * brackets), the machine's host name (gethostname) when it is a wildcard
 * ("", 0.0.0.0, ::, [::]). Returns false (*why says what) when no address
 * can be made. */
bool ursa_advertise_address(const char *advertise, const char *listen, unsigned port, char *out, size_t cap,
                            const char **why);

/* The memory limit of the control group this process runs in (cgroup v2
 * memory.max or v1 memory.limit_in_bytes, the smallest along the way up to
 * the hierarchy's root), or 0 when there is none. root is prepended to
 * every path read ("/proc/self/cgroup", "/proc/self/mountinfo" and the
 * mount points): "" on a live system, a directory of fixtures in tests. */
uint64_t ursa_cgroup_memory_limit(const char *root);

/* The default memory budget: half of the RAM or of the cgroup's limit,
 * whichever is smaller. *why says which ("RAM" or "cgroup"). */
uint64_t ursa_default_memory_limit(const char *root, const char **why);

#endif
