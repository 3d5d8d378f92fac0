/*
 * bench_compact.c -- the merge of compaction on a local store (not part of
 * CI; bench/compact.mjs drives it against DuckDB and Polars).
 *
 *   bench_compact gen DIR FILES ROWS [row_group_mb]
 *       FILES flushes of ROWS rows each of the event table of bench_flush,
 *       one UTC day, every file over the same span of time (as nodes behind
 *       a gateway write them: the runs interleave row by row), written by
 *       ursa_dataset_flush (so each is a sorted run by the time column);
 *       row_group_mb sets the flush's row group size (default: the
 *       catalog's, 128 MiB uncompressed); BENCH_PAGE_ROWS its page_rows
 *       (pq_write.h; default PQ_DATASET_PAGE_ROWS). Prints the files' keys.
 *       With BENCH_SHAPE=logs: the web/app log table below instead (dataset
 *       "logs"), FILES nodes of 0.6 to 1.4 times ROWS rows each (ROWS on
 *       average), each flushed once, so each file is a sorted run by
 *       (service, user_id, ts). Prints the rows and the uncompressed bytes
 *       generated on stderr.
 *   bench_compact merge DIR OUT_BASE KEY...
 *       merges the files KEY... of the store DIR into OUT_BASE-<k>.parquet
 *       with the catalog's default writer options (the flush's) and prints
 *       one line of JSON: seconds, rows, bytes, outputs, the peak of
 *       ursa_mem_used() and the process's peak RSS and CPU seconds.
 *       Environment: BENCH_SHAPE (events, the default, or logs: which
 *       dataset), BENCH_THREADS (the writer's threads; 1 also means no
 *       prefetch thread), BENCH_RG_MB (row_group_bytes of the merge's
 *       output; default URSA_COMPACT_ROW_GROUP_DEFAULT), BENCH_PAGE_ROWS
 *       (the writer's page_rows), BENCH_TARGET_MB (target_bytes),
 *       BENCH_WINDOW_MB (window_bytes; default URSA_COMPACT_WINDOW_DEFAULT).
 *
 * The logs shape: web/app request logs as several nodes flush them, for a
 * key other than time and data that is neither tidy nor uniform. Seeded
 * (BENCH_SEED, default 0), so the same arguments write the same rows.
 *   ts          timestamp, the day 2024-01-01, each node over the whole day
 *   service     string, 12 names of 4 to 21 bytes, skewed (the first takes
 *               about a third of the rows; each node favours one of them)
 *   user_id     string, nullable: 12% null (anonymous); else 3% of rows one
 *               of 4 bot or probe ids, the rest "usr_" + 6 to 14 base-36
 *               characters drawn from 2,000,000 users by a power law (the
 *               most frequent user about 0.7% of all rows)
 *   node        string, the node's pod name (one per file)
 *   method      string, 7 values, GET about 70%
 *   path        string, 8 to ~400 bytes: a route with ids and, for half the
 *               rows, a query string (search words, paging, utm_ tags)
 *   status      int32, 13 codes, 200 about 80%
 *   latency_ms  float64, 5 log-spaced ranges, 1 ms to 30 s
 *   bytes_sent  int64, nullable (8% null), 0 for 204/304, else 5 ranges
 *   user_agent  string, nullable (2% null): a pool of 700 browser and app
 *               strings of 12 to ~165 bytes drawn skewed, and the bots' own
 *   referrer    string, nullable (65% null): search and site URLs
 *   trace_id    string, 32 hex characters, unique
 *   country     string, nullable (7% null): 40 codes, skewed
 *   is_bot      bool
 *   error       string, nullable (null unless status >= 500 or for some
 *               4xx: about 97% null), messages of 36 to ~500 bytes
 *   attrs       string, JSON text of 1 to 8 distinct keys (nested objects, arrays,
 *               some non-ASCII), 12 to ~270 bytes
 * sort_by ["service", "user_id", "ts"], time column ts.
 */
#include "catalog.h"
#include "compact.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char SCHEMA[] =
    "{\"columns\":[{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},{\"name\":\"user_id\","
    "\"type\":\"int64\",\"nullable\":false},{\"name\":\"event\",\"type\":\"string\",\"nullable\":false},"
    "{\"name\":\"value\",\"type\":\"float64\"},{\"name\":\"ok\",\"type\":\"bool\",\"nullable\":false},"
    "{\"name\":\"country\",\"type\":\"string\",\"nullable\":false},{\"name\":\"payload\",\"type\":"
    "\"string\",\"nullable\":false}],\"time_column\":\"ts\"}";

static const char LOGS_SCHEMA[] = "{\"columns\":["
                                  "{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false},"
                                  "{\"name\":\"service\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"user_id\",\"type\":\"string\"},"
                                  "{\"name\":\"node\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"method\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"path\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"status\",\"type\":\"int32\",\"nullable\":false},"
                                  "{\"name\":\"latency_ms\",\"type\":\"float64\",\"nullable\":false},"
                                  "{\"name\":\"bytes_sent\",\"type\":\"int64\"},"
                                  "{\"name\":\"user_agent\",\"type\":\"string\"},"
                                  "{\"name\":\"referrer\",\"type\":\"string\"},"
                                  "{\"name\":\"trace_id\",\"type\":\"string\",\"nullable\":false},"
                                  "{\"name\":\"country\",\"type\":\"string\"},"
                                  "{\"name\":\"is_bot\",\"type\":\"bool\",\"nullable\":false},"
                                  "{\"name\":\"error\",\"type\":\"string\"},"
                                  "{\"name\":\"attrs\",\"type\":\"string\",\"nullable\":false}],"
                                  "\"time_column\":\"ts\",\"sort_by\":[\"service\",\"user_id\",\"ts\"]}";

static bool shape_logs(void)
{
    const char *s = getenv("BENCH_SHAPE");
    return s && !strcmp(s, "logs");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int open_catalog(const char *dir, ursa_store_t **st, ursa_catalog_t **cat, ursa_dataset_t **d)
{
    ursa_err_t err = {0};
    bool created;
    const char *name = shape_logs() ? "logs" : "ev", *schema = shape_logs() ? LOGS_SCHEMA : SCHEMA;
    if (ursa_store_open(dir, NULL, st, &err) || ursa_catalog_new(cat, *st, "bench", 0, &err) ||
        ursa_catalog_create(*cat, name, schema, strlen(schema), &created, &err)) {
        fprintf(stderr, "bench_compact: %s\n", err.msg);
        return 1;
    }
    *d = ursa_catalog_get(*cat, name);
    return 0;
}

/* ------------------------------------------------------------------ the logs shape */

/* A uniform double in [0, 1). */
static double unit(void)
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

/* An index in [0, n) drawn by the weights w[0..n). */
static size_t pick(const unsigned *w, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++) total += w[i];
    unsigned r = (unsigned)(rnd() % total);
    for (size_t i = 0; i < n; i++) {
        if (r < w[i]) return i;
        r -= w[i];
    }
    return n - 1;
}

/* A text buffer of bounded size (appends past it are cut). */
typedef struct text {
    char s[2048];
    size_t n;
} text_t;

static void put(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof(t->s) - t->n, fmt, ap);
    va_end(ap);
    if (k > 0) t->n = t->n + (size_t)k < sizeof(t->s) ? t->n + (size_t)k : sizeof(t->s) - 1;
}

static void put_hex(text_t *t, size_t len)
{
    for (size_t i = 0; i < len; i++) put(t, "%c", "0123456789abcdef"[rnd() & 15]);
}

static const char *const SERVICES[] = {
    "api-gateway", "search",   "checkout", "catalog",       "auth",          "recommendations",
    "cart",        "payments", "media",    "notifications", "admin-console", "inventory-sync-worker"};
static const unsigned SERVICE_W[] = {340, 160, 100, 90, 80, 60, 50, 40, 35, 25, 12, 8};
#define NSERVICES (sizeof(SERVICES) / sizeof(SERVICES[0]))
static const char *const METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
static const unsigned METHOD_W[] = {700, 180, 50, 30, 20, 10, 10};
static const int STATUSES[] = {200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 429, 500, 503};
static const unsigned STATUS_W[] = {800, 30, 20, 10, 10, 50, 20, 15, 5, 30, 5, 4, 1};
static const char *const RESOURCES[] = {"users",   "orders", "products", "items",    "sessions", "carts",
                                        "reviews", "images", "invoices", "settings", "feeds",    "tokens"};
static const char *const WORDS[] = {"red",   "shoes", "winter", "jacket", "kids",  "sale",   "wireless",
                                    "usb-c", "cable", "linen",  "sofa",   "lamp",  "garden", "coffee",
                                    "mug",   "gift",  "for",    "men",    "women", "size",   "xl"};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))
static const char *const COUNTRIES[] = {"US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "ES", "IT",
                                        "NL", "PL", "SE", "MX", "AU", "KR", "TR", "ID", "AR", "BE",
                                        "CH", "AT", "NO", "DK", "FI", "IE", "PT", "CZ", "RO", "HU",
                                        "GR", "IL", "ZA", "NG", "EG", "VN", "TH", "PH", "NZ", "SG"};
#define NCOUNTRIES (sizeof(COUNTRIES) / sizeof(COUNTRIES[0]))
static const char *const BOT_IDS[] = {"svc-healthcheck", "bot-googlebot", "svc-synthetic-prober-eu",
                                      "bot-bingbot"};
static const unsigned BOT_W[] = {50, 25, 15, 10};
static const char *const BOT_UAS[] = {
    "kube-probe/1.29", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "synthetic-monitor/3.2 (+https://status.example.com/about-our-probes)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"};
static const char *const PLATFORMS[] = {"Windows NT 10.0; Win64; x64",
                                        "Macintosh; Intel Mac OS X 10_15_7",
                                        "X11; Linux x86_64",
                                        "Linux; Android 13; SM-S918B",
                                        "iPhone; CPU iPhone OS 17_1_2 like Mac OS X",
                                        "iPad; CPU OS 16_6 like Mac OS X",
                                        "Linux; Android 14; Pixel 8 Pro Build/UQ1A.240105.004; wv"};
#define NPLATFORMS (sizeof(PLATFORMS) / sizeof(PLATFORMS[0]))
static const char *const CITIES[] = {"München", "São Paulo", "Kraków", "東京", "Zürich", "Paris", "Austin"};

#define NUAS 700
static char uas[NUAS][256];

/* The pool of browser user agents, most frequent first. */
static void make_uas(void)
{
    for (int i = 0; i < NUAS; i++) {
        text_t t = {.n = 0};
        const char *p = PLATFORMS[rnd() % NPLATFORMS];
        unsigned v = 100 + (unsigned)(rnd() % 21), b = (unsigned)(rnd() % 6000), c = (unsigned)(rnd() % 200);
        switch (rnd() % 6) {
        case 0:
        case 1:
            put(&t, "Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%u.0.%u.%u Safari/537.36",
                p, v, b, c);
            break;
        case 2:
            put(&t,
                "Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%u.0.%u.%u Safari/537.36 "
                "Edg/%u.0.%u.%u",
                p, v, b, c, v, b, c + 1);
            break;
        case 3:
            put(&t, "Mozilla/5.0 (%s; rv:%u.0) Gecko/20100101 Firefox/%u.0", p, v + 1, v + 1);
            break;
        case 4:
            put(&t,
                "Mozilla/5.0 (%s) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%u.%u Mobile/15E148 "
                "Safari/604.1",
                p, 15 + v % 3, c % 7);
            break;
        default:
            if (rnd() & 1)
                put(&t, "UrsaShop/%u.%u.%u (iPhone; iOS 17.%u; Scale/3.00) Alamofire/5.%u.0", 4 + v % 3,
                    c % 20, b % 10, c % 4, c % 9);
            else
                put(&t, "okhttp/4.%u.%u", c % 13, b % 4);
        }
        memcpy(uas[i], t.s, t.n + 1);
    }
}

static void put_words(text_t *t, const char *sep, int k)
{
    for (int i = 0; i < k; i++) put(t, "%s%s", i ? sep : "", WORDS[rnd() % NWORDS]);
}

static void make_path(text_t *t, const char *service, int bot)
{
    if (bot == 0) {
        put(t, "/healthz");
        return;
    }
    put(t, "/api/v%u/%s/%s", 1 + (unsigned)(rnd() % 3), service, RESOURCES[rnd() % 12]);
    uint64_t x = rnd();
    if (x % 4) put(t, "/%llu", (unsigned long long)(rnd() % 100000000));
    if ((x >> 8) % 3 == 0) put(t, "/%s", RESOURCES[(x >> 16) % 12]);
    if ((x >> 24) % 2 == 0) {
        put(t, "?q=");
        put_words(t, "+", 1 + (int)((x >> 32) % 6));
        put(t, "&page=%u&per_page=%u", (unsigned)((x >> 40) % 50), 20u << ((x >> 48) % 3));
        if ((x >> 52) % 3 == 0) {
            put(t, "&utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale_2024_");
            put_hex(t, 8 + (size_t)((x >> 56) % 120));
        }
        if ((x >> 60) == 0) {
            put(t, "&filters=");
            for (int i = 0, k = 2 + (int)(rnd() % 12); i < k; i++)
                put(t, "%sattr_%u%%3D%u", i ? "%2C" : "", (unsigned)(rnd() % 40), (unsigned)(rnd() % 9));
        }
    }
}

static void make_referrer(text_t *t)
{
    switch (rnd() % 4) {
    case 0:
        put(t, "https://www.google.com/search?q=");
        put_words(t, "+", 1 + (int)(rnd() % 5));
        break;
    case 1:
        put(t, "https://shop.example.com/%s/%llu", RESOURCES[rnd() % 12],
            (unsigned long long)(rnd() % 1000000));
        break;
    case 2:
        put(t, "https://t.co/");
        put_hex(t, 10);
        break;
    default:
        put(t, "android-app://com.google.android.gm/");
    }
}

static void make_error(text_t *t, int status, const char *path)
{
    switch (rnd() % 5) {
    case 0:
        put(t,
            "upstream timed out (110: Connection timed out) while reading response header from upstream, "
            "upstream: \"http://10.%u.%u.%u:8080%s\"",
            (unsigned)(rnd() % 256), (unsigned)(rnd() % 256), (unsigned)(rnd() % 256), path);
        break;
    case 1:
        put(t, "status %d: connection reset by peer", status);
        break;
    case 2:
        put(t, "validation failed: field 'email' must be a valid address (got \"");
        put_words(t, ".", 2);
        put(t, "\")");
        break;
    case 3:
        put(t, "rate limit exceeded for key ");
        put_hex(t, 16);
        put(t, ": %u requests in 60s", 100 + (unsigned)(rnd() % 900));
        break;
    default:
        put(t,
            "java.lang.NullPointerException: Cannot invoke \"com.example.cart.Item.getPrice()\" because "
            "\"item\" is null\n\tat com.example.cart.CartService.total(CartService.java:%u)\n\tat "
            "com.example.cart.CartController.get(CartController.java:%u)",
            (unsigned)(rnd() % 500), (unsigned)(rnd() % 300));
    }
}

static void make_attrs(text_t *t)
{
    int k = 1 + (int)(rnd() % 8);
    unsigned used = 0;
    put(t, "{");
    for (int i = 0; i < k; i++) {
        unsigned which = (unsigned)(rnd() % 8);
        if (used & (1u << which)) continue; /* no key twice */
        used |= 1u << which;
        if (t->n > 1) put(t, ",");
        switch (which) {
        case 0:
            put(t, "\"region\":\"eu-west-%u\",\"az\":\"eu-west-%u%c\"", 1 + (unsigned)(rnd() % 3),
                1 + (unsigned)(rnd() % 3), 'a' + (char)(rnd() % 3));
            break;
        case 1:
            put(t, "\"ab\":{\"exp_%u\":\"%s\"}", (unsigned)(rnd() % 40), rnd() & 1 ? "control" : "variant_b");
            break;
        case 2:
            put(t, "\"flags\":[");
            for (int j = 0, m = (int)(rnd() % 6); j < m; j++)
                put(t, "%s\"ff_%s\"", j ? "," : "", WORDS[rnd() % NWORDS]);
            put(t, "]");
            break;
        case 3:
            put(t, "\"cart_items\":%u", (unsigned)(rnd() % 30));
            break;
        case 4:
            put(t, "\"city\":\"%s\"", CITIES[rnd() % 7]);
            break;
        case 5:
            put(t, "\"client\":{\"app_version\":\"5.%u.%u\",\"build\":%u}", (unsigned)(rnd() % 20),
                (unsigned)(rnd() % 10), 10000 + (unsigned)(rnd() % 90000));
            break;
        case 6:
            put(t, "\"cache\":\"%s\",\"query_ms\":%.3f", rnd() & 1 ? "HIT" : "MISS", unit() * 80.0);
            break;
        default:
            put(t, "\"req\":\"");
            put_hex(t, 12);
            put(t, "\"");
        }
    }
    put(t, "}");
}

/* Appends one log row (node, ts given) to b; *bytes grows by the values' size. */
static int logs_row(ursa_batch_t *b, const unsigned *service_w, const char *node, int64_t ts, uint64_t *bytes)
{
    int rc = 0;
    ursa_column_t *c = b->cols;
    text_t t;
    const char *service = SERVICES[pick(service_w, NSERVICES)];
    rc |= ursa_column_append_i64(&c[0], ts);
    rc |= ursa_column_append_str(&c[1], service, strlen(service));
    *bytes += 8 + strlen(service);
    /* user_id: anonymous, a bot, or one of 2 M users by a power law. */
    double u = unit();
    int bot = -1;
    if (u < 0.12) {
        rc |= ursa_column_append_null(&c[2]);
    } else if (u < 0.15) {
        bot = (int)pick(BOT_W, 4);
        rc |= ursa_column_append_str(&c[2], BOT_IDS[bot], strlen(BOT_IDS[bot]));
        *bytes += strlen(BOT_IDS[bot]);
    } else {
        double v = unit();
        uint64_t id = (uint64_t)(2000000.0 * v * v * v);
        uint64_t h = (id + 1) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        t.n = 0;
        put(&t, "usr_");
        for (size_t i = 0, len = 6 + (size_t)(id % 9); i < len; i++, h /= 36)
            put(&t, "%c", "0123456789abcdefghijklmnopqrstuvwxyz"[h % 36]);
        rc |= ursa_column_append_str(&c[2], t.s, t.n);
        *bytes += t.n;
    }
    rc |= ursa_column_append_str(&c[3], node, strlen(node));
    const char *method = bot >= 0 ? "GET" : METHODS[pick(METHOD_W, 7)];
    rc |= ursa_column_append_str(&c[4], method, strlen(method));
    t.n = 0;
    make_path(&t, service, bot);
    char path[512];
    size_t path_len = t.n < sizeof(path) - 1 ? t.n : sizeof(path) - 1;
    memcpy(path, t.s, path_len);
    path[path_len] = 0;
    rc |= ursa_column_append_str(&c[5], path, path_len);
    int32_t status = bot == 0 ? 200 : STATUSES[pick(STATUS_W, 13)];
    rc |= ursa_column_append_fixed(&c[6], &status);
    /* latency: a log-spaced range, then uniform in it. */
    static const double lo[] = {1, 5, 20, 100, 1000}, hi[] = {5, 20, 100, 1000, 30000};
    static const unsigned lat_w[] = {300, 400, 200, 80, 20};
    size_t r = pick(lat_w, 5);
    rc |= ursa_column_append_f64(&c[7], lo[r] + unit() * (hi[r] - lo[r]));
    if (rnd() % 100 < 8) {
        rc |= ursa_column_append_null(&c[8]);
    } else {
        static const int64_t blo[] = {200, 2000, 20000, 200000, 2000000};
        static const unsigned bytes_w[] = {300, 350, 250, 90, 10};
        size_t k = pick(bytes_w, 5);
        int64_t n = status == 204 || status == 304 ? 0 : blo[k] + (int64_t)(rnd() % (uint64_t)(9 * blo[k]));
        rc |= ursa_column_append_i64(&c[8], n);
        *bytes += 8;
    }
    const char *ua = NULL;
    if (bot >= 0)
        ua = BOT_UAS[bot];
    else if (rnd() % 100 >= 2) {
        double v = unit();
        ua = uas[(size_t)(NUAS * v * v)];
    }
    rc |= ua ? ursa_column_append_str(&c[9], ua, strlen(ua)) : ursa_column_append_null(&c[9]);
    *bytes += 4 + 8 + strlen(node) + strlen(method) + path_len + (ua ? strlen(ua) : 0);
    if (bot >= 0 || rnd() % 100 < 65) {
        rc |= ursa_column_append_null(&c[10]);
    } else {
        t.n = 0;
        make_referrer(&t);
        rc |= ursa_column_append_str(&c[10], t.s, t.n);
        *bytes += t.n;
    }
    t.n = 0;
    put_hex(&t, 32);
    rc |= ursa_column_append_str(&c[11], t.s, t.n);
    if (rnd() % 100 < 7) {
        rc |= ursa_column_append_null(&c[12]);
    } else {
        double v = unit();
        const char *country = COUNTRIES[(size_t)(NCOUNTRIES * v * v)];
        rc |= ursa_column_append_str(&c[12], country, 2);
        *bytes += 2;
    }
    rc |= ursa_column_append_bool(&c[13], bot >= 0);
    *bytes += 32 + 1;
    if (status >= 500 || (status >= 400 && rnd() % 3 == 0)) {
        t.n = 0;
        make_error(&t, status, path);
        rc |= ursa_column_append_str(&c[14], t.s, t.n);
        *bytes += t.n;
    } else {
        rc |= ursa_column_append_null(&c[14]);
    }
    t.n = 0;
    make_attrs(&t);
    rc |= ursa_column_append_str(&c[15], t.s, t.n);
    *bytes += t.n;
    return rc;
}

static int gen_logs(ursa_catalog_t *cat, ursa_dataset_t *d, int files, size_t rows)
{
    uint64_t seed = getenv("BENCH_SEED") ? (uint64_t)atoll(getenv("BENCH_SEED")) : 0;
    rng = seed * 0x9e3779b97f4a7c15ull + 1; /* never 0, which xorshift would keep */
    make_uas();
    const int64_t day0 = 1704067200000000ll, day = 86400000000ll;
    uint64_t total_rows = 0, total_bytes = 0;
    for (int f = 0; f < files; f++) {
        /* Nodes of 0.6 to 1.4 times ROWS rows, each favouring one service. */
        size_t n_f = files > 1 ? rows * (size_t)(6 * (files - 1) + 8 * f) / (size_t)(10 * (files - 1)) : rows;
        unsigned w[NSERVICES];
        memcpy(w, SERVICE_W, sizeof(w));
        w[(size_t)(f * 5) % NSERVICES] *= 3;
        char node[64];
        snprintf(node, sizeof(node), "web-%06llx-%c%c%c%c%c", (unsigned long long)(rnd() % 0xffffff),
                 'a' + (char)(rnd() % 26), 'a' + (char)(rnd() % 26), '0' + (char)(rnd() % 10),
                 'a' + (char)(rnd() % 26), 'a' + (char)(rnd() % 26));
        int64_t ts = day0, avg = day * 95 / 100 / (int64_t)(n_f ? n_f : 1);
        for (size_t done = 0; done < n_f;) {
            ursa_batch_t *b = ursa_calloc(1, sizeof(*b));
            if (!b || ursa_batch_init(b, &d->schema)) return 1;
            size_t n = n_f - done < 1000 ? n_f - done : 1000;
            int rc = 0;
            for (size_t r = 0; r < n && !rc; r++) {
                ts += (int64_t)(rnd() % (uint64_t)(2 * avg + 1));
                if (ts >= day0 + day) ts = day0 + day - 1;
                rc = logs_row(b, w, node, ts, &total_bytes);
            }
            b->nrows = n;
            done += n;
            if (rc || ursa_dataset_append(d, b)) return 1;
        }
        total_rows += n_f;
        ursa_flush_result_t res;
        ursa_err_t err = {0};
        if (ursa_dataset_flush(cat, d, &res, &err)) {
            fprintf(stderr, "bench_compact: %s\n", err.msg);
            return 1;
        }
        for (size_t k = 0; k < res.nfiles; k++) printf("%s\n", res.files[k].key);
        ursa_flush_result_free(&res);
    }
    fprintf(stderr, "{\"rows\":%llu,\"bytes\":%llu}\n", (unsigned long long)total_rows,
            (unsigned long long)total_bytes);
    return 0;
}

static int gen(const char *dir, int files, size_t rows, size_t rg_mb)
{
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    if (open_catalog(dir, &st, &cat, &d)) return 1;
    if (rg_mb) cat->pq.row_group_bytes = rg_mb << 20;
    if (getenv("BENCH_PAGE_ROWS")) cat->pq.page_rows = (size_t)atoll(getenv("BENCH_PAGE_ROWS"));
    if (shape_logs()) {
        int rc = gen_logs(cat, d, files, rows);
        ursa_catalog_destroy(&cat);
        ursa_store_destroy(&st);
        return rc;
    }
    char events[50][16], countries[200][8];
    for (int i = 0; i < 50; i++) snprintf(events[i], sizeof(events[i]), "event_%02d", i);
    for (int i = 0; i < 200; i++) snprintf(countries[i], sizeof(countries[i]), "C%03d", i);
    for (int f = 0; f < files; f++) {
        int rc = 0;
        int64_t ts = 1704067200000000ll;
        for (size_t done = 0; done < rows && !rc;) {
            ursa_batch_t *b = ursa_calloc(1, sizeof(*b));
            if (!b || ursa_batch_init(b, &d->schema)) return 1;
            size_t n = rows - done < 1000 ? rows - done : 1000;
            for (size_t r = 0; r < n && !rc; r++) {
                uint64_t x = rnd();
                ts += (int64_t)(x % 2000);
                rc |= ursa_column_append_i64(&b->cols[0], ts);
                rc |= ursa_column_append_i64(&b->cols[1], (int64_t)(rnd() % 100000));
                const char *e = events[x % 50];
                rc |= ursa_column_append_str(&b->cols[2], e, strlen(e));
                rc |= (x >> 8) % 100 < 5
                          ? ursa_column_append_null(&b->cols[3])
                          : ursa_column_append_f64(&b->cols[3], (double)(rnd() % 1000000) / 100.0);
                rc |= ursa_column_append_bool(&b->cols[4], (x >> 20) & 1);
                const char *c = countries[(x >> 24) % 200];
                rc |= ursa_column_append_str(&b->cols[5], c, strlen(c));
                char p[40];
                for (int k = 0; k < 40; k += 8) {
                    uint64_t y = rnd();
                    for (int j = 0; j < 8; j++) p[k + j] = (char)('a' + (y >> (j * 8)) % 26);
                }
                rc |= ursa_column_append_str(&b->cols[6], p, 40);
            }
            b->nrows = n;
            done += n;
            if (rc || ursa_dataset_append(d, b)) return 1;
        }
        ursa_flush_result_t res;
        ursa_err_t err = {0};
        if (ursa_dataset_flush(cat, d, &res, &err)) {
            fprintf(stderr, "bench_compact: %s\n", err.msg);
            return 1;
        }
        for (size_t k = 0; k < res.nfiles; k++) printf("%s\n", res.files[k].key);
        ursa_flush_result_free(&res);
    }
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
    return 0;
}

static int merge(const char *dir, const char *base, const char *const *keys, size_t n)
{
    ursa_store_t *st;
    ursa_catalog_t *cat;
    ursa_dataset_t *d;
    if (open_catalog(dir, &st, &cat, &d)) return 1;
    if (getenv("BENCH_THREADS")) cat->pq.threads = atoi(getenv("BENCH_THREADS"));
    if (getenv("BENCH_PAGE_ROWS")) cat->pq.page_rows = (size_t)atoll(getenv("BENCH_PAGE_ROWS"));
    ursa_compact_opts_t o = {.store = st,
                             .schema = &d->schema,
                             .pq = &cat->pq,
                             .schema_json = d->schema_json,
                             .inputs = keys,
                             .ninputs = n,
                             .out_base = base};
    if (getenv("BENCH_RG_MB")) o.row_group_bytes = (size_t)atoll(getenv("BENCH_RG_MB")) << 20;
    if (getenv("BENCH_TARGET_MB")) o.target_bytes = (uint64_t)atoll(getenv("BENCH_TARGET_MB")) << 20;
    if (getenv("BENCH_WINDOW_MB")) o.window_bytes = (size_t)atoll(getenv("BENCH_WINDOW_MB")) << 20;
    size_t base_mem = ursa_mem_used();
    double t0 = now();
    ursa_compact_result_t res;
    ursa_err_t err = {0};
    if (ursa_compact_merge(&o, &res, &err)) {
        fprintf(stderr, "bench_compact: %s\n", err.msg);
        return 1;
    }
    double t = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t bytes = 0;
    for (size_t k = 0; k < res.noutputs; k++) bytes += res.outputs[k].bytes;
    printf("{\"seconds\":%.3f,\"rows_in\":%llu,\"rows_out\":%llu,\"runs\":%zu,\"outputs\":%zu,\"bytes\":%llu,"
           "\"mem_peak_mb\":%.1f,\"rss_mb\":%.1f,\"cpu_s\":%.2f}\n",
           t, (unsigned long long)res.rows_in, (unsigned long long)res.rows_out, res.runs, res.noutputs,
           (unsigned long long)bytes, (double)(ursa_mem_peak() - base_mem) / 1048576.0,
           (double)ru.ru_maxrss / 1024.0,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6);
    ursa_compact_result_free(&res);
    ursa_catalog_destroy(&cat);
    ursa_store_destroy(&st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "gen"))
        return gen(argv[2], atoi(argv[3]), (size_t)atoll(argv[4]), argc > 5 ? (size_t)atoll(argv[5]) : 0);
    if (argc >= 5 && !strcmp(argv[1], "merge"))
        return merge(argv[2], argv[3], (const char *const *)argv + 4, (size_t)(argc - 4));
    fprintf(stderr, "usage: bench_compact gen DIR FILES ROWS [row_group_mb] | merge DIR OUT_BASE KEY...\n");
    return 2;
}
