/*
 * main.c -- the ursa command: verbs, flags and environment, signals.
 */
#include "api_keys.h"
#include "catalog.h"
#include "convert.h"
#include "pq_cli.h"
#include "http_server.h"
#include "compact_cli.h"
#include "query_cli.h"
#include "compactor.h"
#include "options.h"
#include "peers.h"
#include "store.h"
#include "table.h"
#include "table_upkeep.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ursa serve [options]\n"
        "       ursa cat FILE|s3://bucket/key [--columns a,b] [--limit N] [--format ndjson|csv]\n"
        "       ursa inspect FILE|s3://bucket/key [--json]\n"
        "       ursa compact --store URL [--dataset NAME] [--date YYYY-MM-DD] (ursa compact --help)\n"
        "       ursa query --store URL [--format csv|json|ndjson|arrow|parquet] \"SQL\" (ursa query --help)\n"
        "       ursa keys add NAME --scopes SCOPES --file PATH | remove NAME --file PATH | list --file PATH\n"
        "       ursa version\n"
        "\n"
        "serve options (environment variable in brackets):\n"
        "  --listen HOST:PORT      address to listen on [URSA_LISTEN] (default 127.0.0.1:8000)\n"
        "  --store PATH|file://P   where Parquet files and schemas go [URSA_STORE] (default ./data)\n"
        "  --node NAME             this node's name, part of file names [URSA_NODE] (default: host name)\n"
        "  --advertise HOST:PORT   where the other nodes reach this one [URSA_ADVERTISE] (default: the\n"
        "                          --listen address and the port bound; the host name for 0.0.0.0, [::])\n"
        "  --heartbeat DURATION    how often this node says it is alive in the store (STORE/_ursa/nodes/)\n"
        "                          [URSA_HEARTBEAT] (default 2s; stale after 5 missed)\n"
        "  --threads N             HTTP worker threads [URSA_THREADS] (default: one per core)\n"
        "  --max-body BYTES        largest request body [URSA_MAX_BODY] (default 256M)\n"
        "  --max-record BYTES      largest NDJSON record [URSA_MAX_RECORD] (default 16M)\n"
        "  --shutdown-timeout SEC  wait for requests in flight at shutdown [URSA_SHUTDOWN_TIMEOUT]\n"
        "                          (default 30)\n"
        "  --compression C         Parquet codec: zstd, snappy, gzip, brotli, lz4_raw, uncompressed\n"
        "                          [URSA_COMPRESSION] (default zstd)\n"
        "  --compression-level N   level for zstd, gzip, brotli [URSA_COMPRESSION_LEVEL]\n"
        "  --row-group-bytes N     uncompressed bytes per row group [URSA_ROW_GROUP_BYTES] (default 128 "
        "MiB)\n"
        "  --page-version 1|2      Parquet data page version [URSA_PAGE_VERSION] (default 1)\n"
        "  --wal-dir DIR           the write-ahead log, on local disk [URSA_WAL_DIR]\n"
        "                          (default: STORE/_wal for a local store, ./wal-NODE for S3)\n"
        "  --durability fsync|none answer after the log is synced (default), or after it is written\n"
        "                          [URSA_DURABILITY]\n"
        "  --flush-max-rows N      flush a dataset at N buffered rows [URSA_FLUSH_MAX_ROWS] (default off)\n"
        "  --flush-max-bytes N     ... at N bytes of buffered rows [URSA_FLUSH_MAX_BYTES] (default 128M)\n"
        "  --flush-max-age SEC     ... when its oldest buffered row is SEC old [URSA_FLUSH_MAX_AGE] (default "
        "300)\n"
        "  --flush-every SEC       ... every SEC seconds [URSA_FLUSH_EVERY] (default off)\n"
        "  --flush-at HH:MM[,...]  ... at these times of day, UTC [URSA_FLUSH_AT] (default off)\n"
        "                          (a dataset's schema may set its own: \"flush\": {...})\n"
        "  --memory-limit BYTES    memory for buffered rows, bodies being read and answers; near it\n"
        "                          the largest buffers are flushed, at it ingest answers 429 (503\n"
        "                          while the store fails) [URSA_MEMORY_LIMIT]\n"
        "                          (default: half the RAM, or of the container's cgroup limit)\n"
        "  --wal-limit BYTES       the same for the log's disk use [URSA_WAL_LIMIT] (default 4 GiB)\n"
        "  --wal-segment-bytes BYTES  start a new log file past this size [URSA_WAL_SEGMENT_BYTES]\n"
        "                          (default 64 MiB)\n"
        "  --wal-part-bytes BYTES  log a big request's rows in parts of this size while the rest\n"
        "                          of its body is parsed; 0: one record per request\n"
        "                          [URSA_WAL_PART_BYTES] (default 8 MiB)\n"
        "  --max-connections N     open connections at once [URSA_MAX_CONNECTIONS] (default 1024)\n"
        "  --max-connections-per-client N  ... from one client address; 0: no limit\n"
        "                          [URSA_MAX_CONNECTIONS_PER_CLIENT] (default 256; raise it behind a "
        "gateway)\n"
        "  --no-iceberg            do not keep datasets as Apache Iceberg tables (the default is to:\n"
        "                          every flush a commit; docs/internals/iceberg.md) [URSA_ICEBERG=0]\n"
        "  --single-node           allow a store without conditional writes: this node is its only\n"
        "                          writer [URSA_SINGLE_NODE]\n"
        "  --retention DURATION    table upkeep: snapshots replaced longer ago than this expire, then\n"
        "                          the files only they needed are deleted [URSA_RETENTION] (default 1d;\n"
        "                          units ms, s, m, h, d)\n"
        "  --manifest-merge N      merge a table's small manifests into one when a snapshot would\n"
        "                          name more than N [URSA_MANIFEST_MERGE] (default 100)\n"
        "  --compact-grace DURATION  compact a day whole this long after its UTC midnight (late rows)\n"
        "                          [URSA_COMPACT_GRACE] (default 30m)\n"
        "  --compact-files N       compact a day still open once it has more than N files\n"
        "                          [URSA_COMPACT_FILES] (default 32)\n"
        "  --compact-every DURATION  how often this node looks for days to compact\n"
        "                          [URSA_COMPACT_EVERY] (default 1m)\n"
        "  --no-compact            compact only on request (POST /v1/datasets/D/compact, or\n"
        "                          `ursa compact`) [URSA_COMPACT=0]\n"
        "  --query-memory BYTES    memory one SQL query (and its result) may hold; past it the query\n"
        "                          fails with 413 [URSA_QUERY_MEMORY] (default 1G)\n"
        "  --query-timeout DURATION  a query running longer fails with 408 [URSA_QUERY_TIMEOUT]\n"
        "                          (default 5m)\n"
        "  --live-max-rate N       results a second at most per live query (GET /v1/live)\n"
        "                          [URSA_LIVE_MAX_RATE] (default 4)\n"
        "  --live-subscriptions N  live queries on the server [URSA_LIVE_SUBSCRIPTIONS] (default 64)\n"
        "  --live-subscriptions-per-connection N  ... on one WebSocket\n"
        "                          [URSA_LIVE_SUBSCRIPTIONS_PER_CONNECTION] (default 8)\n"
        "  --live-result-max BYTES a live result's JSON at most [URSA_LIVE_RESULT_MAX] (default 1M)\n"
        "  --live-send-timeout DURATION  close a live connection (1008) whose results make no\n"
        "                          progress this long [URSA_LIVE_SEND_TIMEOUT] (default 10s)\n"
        "  --live-allow-origin LIST  web origins besides the node's own whose pages may open\n"
        "                          /v1/live (\"https://dash.example,...\", or *) [URSA_LIVE_ALLOW_ORIGIN]\n"
        "  --tls-cert PEM, --tls-key PEM  serve HTTPS (and wss:) with this certificate (chain) and\n"
        "                          key; TLS 1.2 and 1.3 only [URSA_TLS_CERT, URSA_TLS_KEY]; the other\n"
        "                          nodes are then called over HTTPS too (one setting for a cluster)\n"
        "  --peer-ca PEM           CAs that sign the other nodes' certificates (their --advertise\n"
        "                          names) [URSA_PEER_CA] (default: the system's)\n"
        "  --auth-keys PATH        API keys (made by `ursa keys add`): every request but /healthz and the\n"
        "                          pages needs Authorization: Bearer <key> with the scope it acts in;\n"
        "                          SIGHUP reads the file again [URSA_AUTH_KEYS] (default: no keys, all "
        "open)\n"
        "  --auth-metrics          /metrics needs a key with scope metrics or admin [URSA_AUTH_METRICS=1]\n"
        "  --auth-fail-limit N     keys that are not valid, a minute per client address, before its keyed\n"
        "                          requests get 429; 0: no bound [URSA_AUTH_FAIL_LIMIT] (default 20)\n"
        "  --trust-proxy LIST      gateways (addresses, networks: 10.0.0.0/8,::1) whose X-Forwarded-For\n"
        "                          names the client for that bound [URSA_TRUST_PROXY]\n"
        "  --log-format text|json  log lines as text, or one JSON object each ({\"ts\", \"level\", "
        "\"msg\"})\n"
        "                          for log shippers [URSA_LOG_FORMAT] (default text)\n"
        "  --idle-timeout SEC      close a connection that sends nothing for SEC seconds\n"
        "                          [URSA_IDLE_TIMEOUT] (default 30)\n"
        "  --min-body-rate BYTES   a body slower than this per second (on average, once a request\n"
        "                          has taken longer than the idle timeout) is cut; 0: off\n"
        "                          [URSA_MIN_BODY_RATE] (default 1K)\n"
        "BYTES take units: 64M = 64MiB = 67108864 (K, M, G, T are powers of 1024).\n"
        "\n"
        "S3 (--store s3://BUCKET/PREFIX): credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
        "AWS_SESSION_TOKEN (or S3_KEY, S3_SECRET)\n"
        "  --s3-endpoint URL       e.g. http://127.0.0.1:9000 [AWS_ENDPOINT_URL, S3_ENDPOINT_URL]\n"
        "  --s3-region R           [AWS_REGION, AWS_DEFAULT_REGION] (default us-east-1)\n"
        "  --s3-path-style, --s3-virtual-hosted   addressing (default: path-style with an endpoint)\n"
        "  --s3-timeout-ms N       per request [URSA_S3_TIMEOUT_MS] (default 30000)\n"
        "  --s3-retry-deadline-ms N  retries of one operation [URSA_S3_RETRY_DEADLINE_MS] (default 60000)\n");
}

/* Whether HOST:PORT is a loopback address (then no one else can call). */
static bool listen_is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

static bool node_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return s[0] != '.';
}

/* "HH:MM[,HH:MM...]" (UTC) into the policy's times of day. */
static bool parse_times(const char *s, ursa_flush_policy_t *fp)
{
    fp->nat = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int m = ursa_parse_hhmm(s, n);
        if (m < 0 || fp->nat == URSA_ARRAY_LEN(fp->at)) return false;
        fp->at[fp->nat++] = (uint16_t)m;
        s += n;
        if (*s == ',') s++;
    }
    return fp->nat > 0;
}

/* A count; 0 is allowed (turns a limit off). */
static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || s[0] == '-') return false;
    *out = v;
    return true;
}

/* --log-format: "text" or "json". */
static bool set_log_format(const char *v)
{
    if (strcmp(v, "text") && strcmp(v, "json")) return false;
    ursa_log_set_json(v[0] == 'j');
    return true;
}

/* A rate: a number above 0, at most 1000 (a second). */
static bool parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1000) return false;
    *out = v;
    return true;
}

/* A byte count with an optional unit, not 0. */
static bool parse_size_bytes(const char *s, size_t *out)
{
    uint64_t v;
    if (!ursa_parse_bytes(s, &v) || v == 0 || v > SIZE_MAX) return false;
    *out = (size_t)v;
    return true;
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || v == 0) return false;
    *out = (size_t)v;
    return true;
}

/* Applies the Parquet writer flags; prints the problem and returns -1 when
 * one is bad. */
static int writer_options(pq_write_opts_t *o, const char *codec, const char *level, const char *rg_bytes,
                          const char *page_version)
{
    size_t sz;
    if (codec) {
        int c = pq_codec_from_name(codec);
        if (c < 0) {
            fprintf(stderr, "ursa: unknown compression \"%s\"\n", codec);
            return -1;
        }
        o->codec = (pq_codec_t)c;
    }
    if (level) o->level = atoi(level);
    if (rg_bytes) {
        if (!parse_size_bytes(rg_bytes, &sz)) {
            fprintf(stderr, "ursa: bad row group size \"%s\"\n", rg_bytes);
            return -1;
        }
        o->row_group_bytes = sz;
    }
    if (page_version) {
        if (strcmp(page_version, "1") && strcmp(page_version, "2")) {
            fprintf(stderr, "ursa: --page-version must be 1 or 2\n");
            return -1;
        }
        o->page_version = atoi(page_version);
    }
    return 0;
}

static int replay_one(void *ctx, uint64_t lsn, const uint8_t *p, size_t n)
{
    ursa_err_t err = {0};
    int rc = ursa_catalog_replay(ctx, lsn, p, n, &err);
    if (rc) ursa_error("replaying WAL record %llu: %s", (unsigned long long)lsn, err.msg);
    return rc;
}

/* Flushes every dataset; returns the number of failures. */
static int flush_all(ursa_catalog_t *cat)
{
    ursa_dataset_t **all;
    size_t n;
    int failures = 0;
    if (ursa_catalog_list(cat, &all, &n)) return 1;
    for (size_t i = 0; i < n; i++) {
        ursa_flush_result_t res;
        ursa_err_t err = {0};
        if (ursa_dataset_flush(cat, all[i], &res, &err)) {
            ursa_error("shutdown flush of %s failed: %s", all[i]->name, err.msg);
            failures++;
            continue;
        }
        if (res.nfiles)
            ursa_info("shutdown: flushed %s: %llu rows in %zu files", all[i]->name,
                      (unsigned long long)res.rows, res.nfiles);
        ursa_flush_result_free(&res);
    }
    ursa_free(all);
    return failures;
}

/* Every connection is a file descriptor: the soft limit (often 1024) is
 * raised to the hard one, and the connection limit kept below it with room
 * for the log, the store and S3 connections. */
static int open_files_for(ursa_server_opts_t *so)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
        struct rlimit up = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl.rlim_cur = want;
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)so->max_connections + 128 > rl.rlim_cur) {
        if (rl.rlim_cur <= 160) {
            fprintf(stderr, "ursa: only %llu open files allowed (ulimit -n): too few to serve\n",
                    (unsigned long long)rl.rlim_cur);
            return -1;
        }
        ursa_warn("--max-connections %u lowered to %llu: the open-file limit is %llu", so->max_connections,
                  (unsigned long long)(rl.rlim_cur - 128), (unsigned long long)rl.rlim_cur);
        so->max_connections = (unsigned)(rl.rlim_cur - 128);
    }
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    const char *listen = getenv("URSA_LISTEN"), *store_url = getenv("URSA_STORE"),
               *node = getenv("URSA_NODE"), *advertise = getenv("URSA_ADVERTISE");
    const char *env;
    ursa_server_opts_t so = {0};
    ursa_s3_config_t s3 = {.path_style = -1};
    so.max_body = 256u << 20;
    so.max_connections = 1024;
    so.max_connections_per_client = 256;
    so.idle_timeout_s = 30;
    so.min_body_rate = 1024;
    unsigned shutdown_s = 30;
    bool iceberg = !getenv("URSA_ICEBERG") || strcmp(getenv("URSA_ICEBERG"), "0") != 0;
    bool single_node = getenv("URSA_SINGLE_NODE") && strcmp(getenv("URSA_SINGLE_NODE"), "0") != 0;
    const char *codec = getenv("URSA_COMPRESSION"), *level = getenv("URSA_COMPRESSION_LEVEL");
    const char *rg_bytes = getenv("URSA_ROW_GROUP_BYTES"), *page_version = getenv("URSA_PAGE_VERSION");
    const char *wal_dir = getenv("URSA_WAL_DIR"), *durability = getenv("URSA_DURABILITY");
    /* Flush policy defaults: about one row group, and at most 5 minutes. */
    ursa_flush_policy_t fp = {0, (uint64_t)128 << 20, 300, 0};
    uint64_t memory_limit = 0, wal_limit = (uint64_t)4 << 30, wal_part_bytes = (uint64_t)8 << 20,
             wal_segment_bytes = (uint64_t)64 << 20;
    if ((env = getenv("URSA_FLUSH_AT")) && !parse_times(env, &fp)) goto bad_env;
    int64_t retention_ms = TABLE_RETENTION_DEFAULT_MS;
    uint64_t manifest_merge = TABLE_MERGE_MIN_COUNT;
    uint64_t live_result_max = 0;
    if ((env = getenv("URSA_RETENTION")) && !ursa_parse_duration_ms(env, &retention_ms)) goto bad_env;
    int64_t heartbeat_ms = URSA_PEERS_INTERVAL_DEFAULT_MS;
    if ((env = getenv("URSA_HEARTBEAT")) && !ursa_parse_duration_ms(env, &heartbeat_ms)) goto bad_env;
    ursa_compactor_opts_t co;
    ursa_compactor_opts_default(&co);
    uint64_t compact_files = co.open_max_files;
    if ((env = getenv("URSA_COMPACT_GRACE")) && !ursa_parse_duration_ms(env, &co.grace_ms)) goto bad_env;
    if ((env = getenv("URSA_COMPACT_EVERY")) && (!ursa_parse_duration_ms(env, &co.every_ms) || !co.every_ms))
        goto bad_env;
    if ((env = getenv("URSA_COMPACT")) && strcmp(env, "0") == 0) co.policy = false;
    {
        struct {
            const char *env;
            uint64_t *u64;
            uint32_t *u32;
            bool bytes; /* takes units (64M) */
        } nums[] = {
            {"URSA_FLUSH_MAX_ROWS", &fp.max_rows, NULL, false},
            {"URSA_FLUSH_MAX_BYTES", &fp.max_bytes, NULL, true},
            {"URSA_FLUSH_MAX_AGE", NULL, &fp.max_age_s, false},
            {"URSA_FLUSH_EVERY", NULL, &fp.every_s, false},
            {"URSA_MEMORY_LIMIT", &memory_limit, NULL, true},
            {"URSA_WAL_LIMIT", &wal_limit, NULL, true},
            {"URSA_WAL_PART_BYTES", &wal_part_bytes, NULL, true},
            {"URSA_WAL_SEGMENT_BYTES", &wal_segment_bytes, NULL, true},
            {"URSA_MIN_BODY_RATE", &so.min_body_rate, NULL, true},
            {"URSA_QUERY_MEMORY", &so.query_memory, NULL, true},
            {"URSA_MAX_CONNECTIONS", NULL, &so.max_connections, false},
            {"URSA_MAX_CONNECTIONS_PER_CLIENT", NULL, &so.max_connections_per_client, false},
            {"URSA_IDLE_TIMEOUT", NULL, &so.idle_timeout_s, false},
            {"URSA_LIVE_SUBSCRIPTIONS", NULL, &so.live_subscriptions, false},
            {"URSA_LIVE_SUBSCRIPTIONS_PER_CONNECTION", NULL, &so.live_subscriptions_per_connection, false},
            {"URSA_LIVE_RESULT_MAX", &live_result_max, NULL, true},
            {"URSA_MANIFEST_MERGE", &manifest_merge, NULL, false},
            {"URSA_COMPACT_FILES", &compact_files, NULL, false}};
        for (size_t i = 0; i < URSA_ARRAY_LEN(nums); i++) {
            const char *v = getenv(nums[i].env);
            uint64_t x;
            if (!v) continue;
            if (!(nums[i].bytes ? ursa_parse_bytes(v, &x) : parse_u64(v, &x)) ||
                (nums[i].u32 && x > UINT32_MAX)) {
                env = v;
                goto bad_env;
            }
            if (nums[i].u64) *nums[i].u64 = x;
            if (nums[i].u32) *nums[i].u32 = (uint32_t)x;
        }
    }
    if ((env = getenv("URSA_THREADS"))) so.threads = (unsigned)atoi(env);
    if ((env = getenv("URSA_MAX_BODY")) && !parse_size_bytes(env, &so.max_body)) goto bad_env;
    if ((env = getenv("URSA_MAX_RECORD")) && !parse_size_bytes(env, &so.max_record)) goto bad_env;
    if ((env = getenv("URSA_SHUTDOWN_TIMEOUT"))) shutdown_s = (unsigned)atoi(env);
    if ((env = getenv("URSA_QUERY_TIMEOUT")) && !ursa_parse_duration_ms(env, &so.query_timeout_ms))
        goto bad_env;
    if ((env = getenv("URSA_LIVE_SEND_TIMEOUT")) && !ursa_parse_duration_ms(env, &so.live_send_timeout_ms))
        goto bad_env;
    if ((env = getenv("URSA_LIVE_MAX_RATE")) && !parse_rate(env, &so.live_max_rate)) goto bad_env;
    so.live_origins = getenv("URSA_LIVE_ALLOW_ORIGIN");
    so.tls_cert = getenv("URSA_TLS_CERT");
    so.tls_key = getenv("URSA_TLS_KEY");
    const char *auth_keys = getenv("URSA_AUTH_KEYS"), *peer_ca = getenv("URSA_PEER_CA");
    uint64_t u64 = 0;
    api_keys_opts_t ko = {NULL, 20, getenv("URSA_TRUST_PROXY")};
    so.auth_metrics = getenv("URSA_AUTH_METRICS") && strcmp(getenv("URSA_AUTH_METRICS"), "0") != 0;
    if ((env = getenv("URSA_AUTH_FAIL_LIMIT")) && !(parse_u64(env, &u64) && u64 <= UINT32_MAX)) goto bad_env;
    if (env) ko.fail_limit = (unsigned)u64;
    if ((env = getenv("URSA_LOG_FORMAT")) && !set_log_format(env)) goto bad_env;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--iceberg") == 0 || strcmp(a, "--no-iceberg") == 0) {
            iceberg = a[2] == 'i';
            continue;
        }
        if (strcmp(a, "--no-compact") == 0) {
            co.policy = false;
            continue;
        }
        if (strcmp(a, "--single-node") == 0) {
            single_node = true;
            continue;
        }
        if (strcmp(a, "--auth-metrics") == 0) {
            so.auth_metrics = true;
            continue;
        }
        if (strcmp(a, "--s3-path-style") == 0 || strcmp(a, "--s3-virtual-hosted") == 0) {
            s3.path_style = a[5] == 'p';
            continue;
        }
        if (!v) {
            fprintf(stderr, "ursa: %s needs a value (see ursa --help)\n", a);
            return 2;
        }
        size_t sz;
        uint64_t u;
        if (strcmp(a, "--listen") == 0)
            listen = v;
        else if (strcmp(a, "--store") == 0)
            store_url = v;
        else if (strcmp(a, "--node") == 0)
            node = v;
        else if (strcmp(a, "--advertise") == 0)
            advertise = v;
        else if (strcmp(a, "--heartbeat") == 0 && ursa_parse_duration_ms(v, &heartbeat_ms))
            ;
        else if (strcmp(a, "--threads") == 0)
            so.threads = (unsigned)atoi(v);
        else if (strcmp(a, "--max-body") == 0 && parse_size_bytes(v, &sz))
            so.max_body = sz;
        else if (strcmp(a, "--max-record") == 0 && parse_size_bytes(v, &sz))
            so.max_record = sz;
        else if (strcmp(a, "--shutdown-timeout") == 0)
            shutdown_s = (unsigned)atoi(v);
        else if (strcmp(a, "--compression") == 0)
            codec = v;
        else if (strcmp(a, "--compression-level") == 0)
            level = v;
        else if (strcmp(a, "--row-group-bytes") == 0)
            rg_bytes = v;
        else if (strcmp(a, "--page-version") == 0)
            page_version = v;
        else if (strcmp(a, "--flush-max-rows") == 0 && parse_u64(v, &fp.max_rows))
            ;
        else if (strcmp(a, "--flush-max-bytes") == 0 && ursa_parse_bytes(v, &fp.max_bytes))
            ;
        else if (strcmp(a, "--flush-max-age") == 0 && parse_size(v, &sz))
            fp.max_age_s = (uint32_t)sz;
        else if (strcmp(a, "--flush-every") == 0 && parse_size(v, &sz))
            fp.every_s = (uint32_t)sz;
        else if (strcmp(a, "--flush-at") == 0 && parse_times(v, &fp))
            ;
        else if (strcmp(a, "--retention") == 0 && ursa_parse_duration_ms(v, &retention_ms))
            ;
        else if (strcmp(a, "--manifest-merge") == 0 && parse_u64(v, &manifest_merge) && manifest_merge)
            ;
        else if (strcmp(a, "--compact-grace") == 0 && ursa_parse_duration_ms(v, &co.grace_ms))
            ;
        else if (strcmp(a, "--compact-every") == 0 && ursa_parse_duration_ms(v, &co.every_ms) && co.every_ms)
            ;
        else if (strcmp(a, "--compact-files") == 0 && parse_u64(v, &compact_files) && compact_files)
            ;
        else if (strcmp(a, "--memory-limit") == 0 && ursa_parse_bytes(v, &memory_limit))
            ;
        else if (strcmp(a, "--wal-limit") == 0 && ursa_parse_bytes(v, &wal_limit))
            ;
        else if (strcmp(a, "--wal-part-bytes") == 0 && ursa_parse_bytes(v, &wal_part_bytes))
            ;
        else if (strcmp(a, "--wal-segment-bytes") == 0 && ursa_parse_bytes(v, &wal_segment_bytes) &&
                 wal_segment_bytes)
            ;
        else if (strcmp(a, "--min-body-rate") == 0 && ursa_parse_bytes(v, &so.min_body_rate))
            ;
        else if (strcmp(a, "--query-memory") == 0 && ursa_parse_bytes(v, &so.query_memory) && so.query_memory)
            ;
        else if (strcmp(a, "--query-timeout") == 0 && ursa_parse_duration_ms(v, &so.query_timeout_ms) &&
                 so.query_timeout_ms > 0)
            ;
        else if (strcmp(a, "--live-max-rate") == 0 && parse_rate(v, &so.live_max_rate))
            ;
        else if (strcmp(a, "--log-format") == 0 && set_log_format(v))
            ;
        else if (strcmp(a, "--tls-cert") == 0)
            so.tls_cert = v;
        else if (strcmp(a, "--auth-keys") == 0)
            auth_keys = v;
        else if (strcmp(a, "--peer-ca") == 0)
            peer_ca = v;
        else if (strcmp(a, "--auth-fail-limit") == 0 && parse_u64(v, &u) && u <= UINT32_MAX)
            ko.fail_limit = (unsigned)u;
        else if (strcmp(a, "--trust-proxy") == 0)
            ko.trust_proxy = v;
        else if (strcmp(a, "--tls-key") == 0)
            so.tls_key = v;
        else if (strcmp(a, "--live-allow-origin") == 0)
            so.live_origins = v;
        else if (strcmp(a, "--live-subscriptions") == 0 && parse_u64(v, &u) && u && u <= UINT32_MAX)
            so.live_subscriptions = (unsigned)u;
        else if (strcmp(a, "--live-subscriptions-per-connection") == 0 && parse_u64(v, &u) && u &&
                 u <= UINT32_MAX)
            so.live_subscriptions_per_connection = (unsigned)u;
        else if (strcmp(a, "--live-result-max") == 0 && ursa_parse_bytes(v, &live_result_max) &&
                 live_result_max)
            ;
        else if (strcmp(a, "--live-send-timeout") == 0 &&
                 ursa_parse_duration_ms(v, &so.live_send_timeout_ms) && so.live_send_timeout_ms > 0)
            ;
        else if (strcmp(a, "--max-connections") == 0 && parse_size(v, &sz) && sz <= UINT32_MAX)
            so.max_connections = (unsigned)sz;
        else if (strcmp(a, "--max-connections-per-client") == 0 && parse_u64(v, &u) && u <= UINT32_MAX)
            so.max_connections_per_client = (unsigned)u;
        else if (strcmp(a, "--idle-timeout") == 0 && parse_size(v, &sz) && sz <= UINT32_MAX)
            so.idle_timeout_s = (unsigned)sz;
        else if (strcmp(a, "--wal-dir") == 0)
            wal_dir = v;
        else if (strcmp(a, "--durability") == 0)
            durability = v;
        else if (strcmp(a, "--s3-endpoint") == 0)
            s3.endpoint = v;
        else if (strcmp(a, "--s3-region") == 0)
            s3.region = v;
        else if (strcmp(a, "--s3-timeout-ms") == 0 && parse_size(v, &sz))
            s3.timeout_ms = (long)sz;
        else if (strcmp(a, "--s3-retry-deadline-ms") == 0 && parse_size(v, &sz))
            s3.retry_deadline_ms = (long)sz;
        else {
            fprintf(stderr, "ursa: unknown option or bad value: %s %s (see ursa --help)\n", a, v);
            return 2;
        }
        i++;
    }
    so.listen = listen ? listen : "127.0.0.1:8000";
    so.live_result_max = (size_t)live_result_max;
    if (!store_url) store_url = "./data";
    char host[256];
    if (!node) {
        if (gethostname(host, sizeof(host)) != 0) strcpy(host, "ursa");
        host[sizeof(host) - 1] = '\0';
        host[strcspn(host, ".")] = '\0'; /* the short name */
        node = host;
    }
    if (!node_valid(node)) {
        fprintf(stderr, "ursa: node name \"%s\" must be 1-64 of [A-Za-z0-9._-]\n", node);
        return 2;
    }
    char address[URSA_PEERS_ADDRESS_MAX + 1];
    const char *why;
    if (advertise && (!ursa_advertise_address(advertise, NULL, 0, address, sizeof(address), &why) ||
                      !ursa_peers_address_valid(address))) {
        fprintf(stderr, "ursa: --advertise \"%s\" %s\n", advertise,
                ursa_peers_address_valid(advertise) ? why : "must be HOST:PORT (a host name or address)");
        return 2;
    }

    /* Signals are taken by sigwait() below; every thread started from here
     * on inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* reads the keys file again */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ursa_err_t err = {0};
    ursa_store_t *store = NULL;
    ursa_catalog_t *cat = NULL;
    ursa_server_t *srv = NULL;
    ursa_compactor_t *compactor = NULL;
    ursa_wal_t *wal = NULL;
    ursa_peers_t *peers = NULL;
    api_keys_t *keys = NULL;
    int status = 1;
    if (auth_keys) {
        ko.path = auth_keys;
        if (api_keys_open(&keys, &ko, &err)) {
            fprintf(stderr, "ursa: %s\n", err.msg);
            goto out;
        }
        so.keys = keys;
        ursa_info("API keys: %zu from %s%s", api_keys_count(keys), auth_keys,
                  so.auth_metrics ? "; /metrics needs one" : "");
    } else if (ko.trust_proxy || so.auth_metrics) {
        fprintf(stderr, "ursa: --trust-proxy and --auth-metrics need --auth-keys\n");
        goto out;
    }
    if (ursa_store_open(store_url, &s3, &store, &err)) {
        fprintf(stderr, "ursa: store %s: %s\n", store_url, err.msg);
        goto out;
    }
    if (iceberg) {
        /* Commits race through conditional writes: without them two nodes
         * could both write version N+1 of a table and one commit be lost. */
        bool ok;
        if (ursa_store_check_conditional(store, node, &ok, &err)) {
            fprintf(stderr, "ursa: store %s: %s\n", store_url, err.msg);
            goto out;
        }
        if (!ok && !single_node) {
            fprintf(
                stderr,
                "ursa: the store %s does not support conditional writes (PUT with If-None-Match: *), which "
                "several nodes need to commit to the same tables without losing commits. Use a store that "
                "has them (AWS S3, MinIO, a local directory), or run a single node with --single-node "
                "(URSA_SINGLE_NODE=1)\n",
                store_url);
            goto out;
        }
        if (!ok) {
            store->single_writer = true;
            ursa_warn("the store has no conditional writes: this node commits as the only writer "
                      "(--single-node); never start another node on it");
        }
    }
    if (ursa_catalog_new(&cat, store, node, iceberg ? URSA_CATALOG_TABLES : 0, &err)) {
        fprintf(stderr, "ursa: loading datasets from %s: %s\n", store_url, err.msg);
        goto out;
    }
    if (ursa_catalog_remove_temps(cat, &err)) /* not fatal: they only take room */
        ursa_error("removing temporary files left in the store: %s", err.msg);
    if (writer_options(&cat->pq, codec, level, rg_bytes, page_version)) goto out;
    cat->retention_ms = retention_ms;
    cat->merge_min = (size_t)manifest_merge;
    co.open_max_files = (size_t)compact_files;
    if (ursa_compactor_new(&compactor, cat, &co)) {
        fprintf(stderr, "ursa: out of memory\n");
        goto out;
    }
    so.compactor = compactor;
    if (durability && strcmp(durability, "fsync") && strcmp(durability, "none")) {
        fprintf(stderr, "ursa: --durability must be fsync or none\n");
        goto out;
    }
    /* The log lives on local disk: inside a local store by default (where
     * "_wal" is no dataset name), else in ./wal-<node>. */
    char wal_default[4096];
    if (strncmp(store_url, "s3://", 5) == 0)
        snprintf(wal_default, sizeof(wal_default), "./wal-%s", node); /* one log per node */
    else
        snprintf(wal_default, sizeof(wal_default), "%s/_wal",
                 strncmp(store_url, "file://", 7) == 0 ? store_url + 7 : store_url);
    if (ursa_catalog_load_mark(cat, &err)) {
        fprintf(stderr, "ursa: reading this node's LSN mark: %s\n", err.msg);
        goto out;
    }
    ursa_wal_opts_t wo = {wal_dir ? wal_dir : wal_default, !durability || !strcmp(durability, "fsync"),
                          (size_t)wal_segment_bytes, cat->lsn_mark};
    if (ursa_wal_open(&wal, &wo, &err) || ursa_wal_replay(wal, replay_one, cat, &err)) {
        fprintf(stderr, "ursa: write-ahead log %s: %s\n", wo.dir, err.msg);
        goto out;
    }
    ursa_catalog_replay_done(cat);
    cat->wal = wal;
    ursa_catalog_release_wal(cat); /* segments replay found all published */
    /* Files published before a crash (or a failed commit) that their table does not name yet. */
    for (size_t i = 0; iceberg && i < cat->n; i++) {
        ursa_dataset_t *d = cat->ds[i];
        size_t n;
        if (d->parent) continue;
        if (table_recover(store, d->name, &d->schema, cat->node, &n, &err))
            ursa_error("dataset %s: committing files its table does not name: %s", d->name, err.msg);
        else if (n)
            ursa_info("dataset %s: %zu published files committed to its table", d->name, n);
    }
    cat->flush_default = fp;
    const char *limit_from = "--memory-limit";
    if (!memory_limit) memory_limit = ursa_default_memory_limit("", &limit_from);
    ursa_info("memory budget %llu MiB (%s%s)", (unsigned long long)(memory_limit >> 20),
              strcmp(limit_from, "--memory-limit") ? "half of the " : "", limit_from);
    so.memory_limit = memory_limit;
    cat->memory_limit = memory_limit;
    ursa_mem_keep_freed((size_t)memory_limit);
    if (open_files_for(&so)) goto out;
    so.wal_limit = wal_limit;
    so.wal_part_bytes = wal_part_bytes;
    {
        uint64_t rows = 0, bytes = 0;
        for (size_t i = 0; i < cat->n; i++) {
            uint64_t r, b;
            ursa_dataset_stats(cat->ds[i], &r, &b);
            rows += r;
            bytes += b;
        }
        if (rows)
            ursa_info("replayed %llu rows from the write-ahead log %s", (unsigned long long)rows, wo.dir);
    }
    ursa_peers_opts_t po = {node, heartbeat_ms, so.tls_cert != NULL, peer_ca};
    if (ursa_peers_new(&peers, store, &po, &err)) {
        fprintf(stderr, "ursa: %s\n", err.msg);
        goto out;
    }
    so.peers = peers;
    if (ursa_server_start(&srv, cat, &so, &err)) {
        fprintf(stderr, "ursa: %s\n", err.msg);
        goto out;
    }
    /* Heartbeats once the port is known: the others may call as soon as
     * they see this node. */
    if (!ursa_advertise_address(advertise, so.listen, ursa_server_port(srv), address, sizeof(address),
                                &why)) {
        fprintf(stderr, "ursa: the address to advertise to the other nodes %s\n", why);
        goto out;
    }
    if (ursa_peers_start(peers, address, &err)) {
        fprintf(stderr, "ursa: %s%s\n", err.msg, advertise ? "" : " (give --advertise)");
        goto out;
    }
    char shown[300];
    snprintf(shown, sizeof(shown), "%.*s", (int)(strrchr(so.listen, ':') - so.listen), so.listen);
    size_t datasets = 0; /* the users' datasets: quarantines are in the catalog too */
    for (size_t i = 0; i < cat->n; i++) datasets += cat->ds[i]->parent == NULL;
    ursa_info("ursa %s node %s, store %s, %zu datasets, listening on %s://%s:%u", URSA_VERSION, node,
              store_url, datasets, so.tls_cert ? "https" : "http", shown, ursa_server_port(srv));
    ursa_info("heartbeat every %lld ms to %s%s.json, advertising %s", (long long)heartbeat_ms,
              URSA_PEERS_PREFIX, node, address);

    if (ursa_catalog_start_flusher(cat) || ursa_compactor_start(compactor)) {
        fprintf(stderr, "ursa: cannot start the flusher and compactor threads\n");
        goto out;
    }
    if (!keys && !listen_is_loopback(so.listen))
        ursa_warn("no --auth-keys: anyone who can reach %s can read and write every dataset", so.listen);
    int sig;
    for (;;) {
        sigwait(&set, &sig);
        if (sig != SIGHUP) break;
        size_t n;
        if (!keys)
            ursa_info("SIGHUP: no --auth-keys to read again");
        else if (api_keys_reload(keys, &n, &err))
            ursa_error("SIGHUP: the API keys stay as they were: %s", err.msg);
        else
            ursa_info("SIGHUP: API keys read again: %zu from %s", n, auth_keys);
    }
    ursa_info("received %s: finishing requests in flight, then flushing",
              sig == SIGINT ? "SIGINT" : "SIGTERM");
    ursa_compactor_stop(compactor); /* a merge in progress stops, publishing nothing */
    ursa_server_stop(&srv, shutdown_s * 1000);
    ursa_catalog_stop_flusher(cat);
    status = flush_all(cat) ? 1 : 0;
    /* The heartbeat goes last: until every buffered row is in the store, a
     * query on another node must know this node holds rows (a call to it
     * fails while it stops, which the query reports, rather than leave the
     * rows out unsaid). After a failed flush the rows are only in this
     * node's log: the heartbeat stays, and turns stale. */
    ursa_peers_stop(peers, status == 0);
    ursa_info("stopped%s", status ? " with errors: buffered rows were lost (see above)" : "");
out:
    ursa_compactor_stop(compactor);
    ursa_server_stop(&srv, 0);
    ursa_peers_destroy(&peers); /* after the server: GET /v1/nodes reads it */
    api_keys_close(&keys);
    ursa_compactor_destroy(&compactor);
    ursa_wal_close(&wal);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&store);
    return status;
bad_env:
    fprintf(stderr, "ursa: bad value in environment: %s\n", env);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "serve") == 0) return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "convert") == 0) return ursa_cmd_convert(argc - 2, argv + 2);
    if (strcmp(argv[1], "cat") == 0) return ursa_cmd_cat(argc - 2, argv + 2);
    if (strcmp(argv[1], "inspect") == 0) return ursa_cmd_inspect(argc - 2, argv + 2);
    if (strcmp(argv[1], "compact") == 0) return ursa_cmd_compact(argc - 2, argv + 2);
    if (strcmp(argv[1], "query") == 0) return ursa_cmd_query(argc - 2, argv + 2);
    if (strcmp(argv[1], "keys") == 0) return ursa_cmd_keys(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("ursa %s\n", URSA_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ursa: unknown command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
