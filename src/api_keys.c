/*
 * api_keys.c -- API keys: the keys file, scopes, the bound on failed
 * attempts, and `ursa keys`. docs/internals/auth.md says how the HTTP
 * layer uses them.
 *
 * The idea. A key is "ursa_" and 256 random bits in base64url, made by
 * `ursa keys add` and shown once. The keys file holds, a line per key, its
 * name, the SHA-256 of the key and its scopes:
 *
 *     # name  hash  scopes
 *     events-writer  sha256:9f86d0...  ingest:events
 *     dashboard      sha256:60303a...  query:*,metrics
 *
 * A fast unsalted hash is right here, unlike for passwords: a key has 256
 * bits of entropy, so neither a dictionary nor a table of hashes helps to
 * invert one, and checking a request costs one SHA-256 (about a
 * microsecond), not the tens of milliseconds of a password hash.
 *
 * Invariants.
 *   - No key is kept: the file and memory hold hashes; errors and logs
 *     name a key by its name. (The HTTP layer keeps a presented key only
 *     as long as its request or live connection, to pass it to the other
 *     nodes of a query.)
 *   - A presented hash is compared with every key's, each in constant
 *     time (CRYPTO_memcmp), so the time taken says nothing of how close a
 *     guess came, nor which key matched.
 *   - The key set is replaced whole (SIGHUP): a request sees the old set
 *     or the new one, never a mix; a file that does not parse leaves the
 *     old set in place.
 *   - The failure bound holds a fixed table (LIM_SLOTS addresses; the
 *     least recently seen of a bucket is forgotten first): memory does not
 *     grow with the number of addresses that try.
 *
 * Failure cases. A malformed line fails the load naming the file and the
 * line; a duplicate name or hash too. `ursa keys add|remove` writes a new
 * file beside the old and renames it over, so a node reloading at that
 * moment reads one whole file or the other.
 */
#include "api_keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define KEYS_FILE_MAX ((size_t)16 << 20)
#define PATTERN_MAX   128 /* a dataset name's length (URSA_NAME_MAX) */
#define LIM_WAYS      8
#define LIM_SLOTS     4096
#define TRUST_MAX     32

typedef struct scope {
    unsigned kind; /* one API_SCOPE_ bit */
    char pattern[PATTERN_MAX + 1];
} scope_t;

typedef struct key {
    char name[API_KEY_NAME_MAX + 1];
    uint8_t hash[32];
    scope_t *scopes;
    size_t nscopes;
} apikey_t;

typedef struct keyset {
    apikey_t *v;
    size_t n;
} keyset_t;

typedef struct lim_slot {
    uint8_t a[16];
    bool used;
    double tokens;
    int64_t seen_ms;
} lim_slot_t;

typedef struct trusted {
    uint8_t a[16];
    unsigned bits;
} trusted_t;

struct api_keys {
    char *path;
    pthread_rwlock_t lock; /* over set */
    keyset_t *set;
    unsigned fail_limit;
    trusted_t trust[TRUST_MAX];
    size_t ntrust;
    pthread_mutex_t lim_mu;
    lim_slot_t *lim; /* LIM_SLOTS, LIM_WAYS a bucket */
};

/* ---------------------------------------------------------------------------
 * The file
 * ------------------------------------------------------------------------- */

static void keyset_free(keyset_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) ursa_free(s->v[i].scopes);
    ursa_free(s->v);
    ursa_free(s);
}

static bool name_valid(const char *s, size_t n)
{
    if (n == 0 || n > API_KEY_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses "ingest:events,query:*,admin" into k. The reason, or NULL. */
static const char *parse_scopes(const char *s, size_t n, apikey_t *k)
{
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && s[j] != ',') j++;
        const char *p = s + i;
        size_t len = j - i;
        scope_t sc = {0};
        const char *colon = memchr(p, ':', len);
        size_t head = colon ? (size_t)(colon - p) : len;
        if (len == 5 && memcmp(p, "admin", 5) == 0)
            sc.kind = API_SCOPE_ADMIN;
        else if (len == 7 && memcmp(p, "metrics", 7) == 0)
            sc.kind = API_SCOPE_METRICS;
        else if (colon && head == 6 && memcmp(p, "ingest", 6) == 0)
            sc.kind = API_SCOPE_INGEST;
        else if (colon && head == 5 && memcmp(p, "query", 5) == 0)
            sc.kind = API_SCOPE_QUERY;
        else
            return "a scope is ingest:<dataset pattern>, query:<dataset pattern>, admin or metrics";
        if (colon) {
            size_t pn = len - head - 1;
            if (pn == 0 || pn > PATTERN_MAX)
                return "a dataset pattern is a name or a * glob (1-128 characters)";
            for (size_t q = 0; q < pn; q++) {
                char c = colon[1 + q];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '*'))
                    return "a dataset pattern has only a-z, 0-9, _ and *";
            }
            memcpy(sc.pattern, colon + 1, pn);
        }
        scope_t *v = ursa_realloc(k->scopes, (k->nscopes + 1) * sizeof(*v));
        if (!v) return ursa_reason_nomem;
        k->scopes = v;
        k->scopes[k->nscopes++] = sc;
        i = j + 1;
    }
    return NULL;
}

/* The next whitespace-separated field of [*p, end). */
static bool field(const char **p, const char *end, const char **f, size_t *n)
{
    while (*p < end && (**p == ' ' || **p == '\t')) (*p)++;
    *f = *p;
    while (*p < end && **p != ' ' && **p != '\t') (*p)++;
    *n = (size_t)(*p - *f);
    return *n > 0;
}

/* Parses one line (without its newline) into k: the reason, or NULL. */
static const char *parse_line(const char *p, const char *end, apikey_t *k)
{
    const char *f;
    size_t n;
    if (!field(&p, end, &f, &n) || !name_valid(f, n)) return "a key's name is 1-64 of A-Z a-z 0-9 . _ -";
    memcpy(k->name, f, n);
    k->name[n] = '\0';
    if (!field(&p, end, &f, &n) || n != 7 + 64 || memcmp(f, "sha256:", 7) != 0)
        return "the second field must be sha256: and 64 hex digits (the hash of the key)";
    for (int i = 0; i < 32; i++) {
        int hi = hexval(f[7 + 2 * i]), lo = hexval(f[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return "the second field must be sha256: and 64 hex digits (the hash of the key)";
        k->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!field(&p, end, &f, &n)) return "the key has no scopes (the third field)";
    const char *why = parse_scopes(f, n, k);
    if (why) return why;
    if (field(&p, end, &f, &n)) return "a key line has three fields: name, hash, scopes";
    return NULL;
}

/* Parses a keys file's text. Errors name `path` and the line. */
static int keyset_parse(const char *path, const char *text, size_t len, keyset_t **out, ursa_err_t *err)
{
    keyset_t *s = ursa_calloc(1, sizeof(*s));
    if (!s) return URSA_ENOMEM;
    if (!text) text = ""; /* an empty file (found by fuzz_keys) */
    size_t lineno = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        const char *q = p;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        const char *le = e;
        while (le > q && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t')) le--;
        p = nl ? nl + 1 : end;
        if (q == le || *q == '#') continue;
        apikey_t *v = ursa_realloc(s->v, (s->n + 1) * sizeof(*v));
        if (!v) {
            keyset_free(s);
            return URSA_ENOMEM;
        }
        s->v = v;
        apikey_t *k = &s->v[s->n++];
        memset(k, 0, sizeof(*k));
        const char *why = parse_line(q, le, k);
        for (size_t i = 0; !why && i + 1 < s->n; i++) {
            if (strcmp(s->v[i].name, k->name) == 0) why = "a key of this name is on an earlier line";
            if (memcmp(s->v[i].hash, k->hash, 32) == 0) why = "the same hash is on an earlier line";
        }
        if (why) {
            int rc = why == ursa_reason_nomem
                         ? URSA_ENOMEM
                         : ursa_err_set(err, URSA_EINVAL, "%s line %zu: %s", path, lineno, why);
            keyset_free(s);
            return rc;
        }
    }
    *out = s;
    return URSA_OK;
}

/* Reads a whole file; a missing one is URSA_ENOTFOUND. */
static int read_text(const char *path, ursa_buf_t *b, ursa_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ursa_err_set(err, errno == ENOENT ? URSA_ENOTFOUND : URSA_EIO, "%s: %s", path,
                            strerror(errno));
    char chunk[8192];
    ssize_t n;
    int rc = URSA_OK;
    while (rc == URSA_OK && (n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = ursa_err_set(err, URSA_EIO, "%s: %s", path, strerror(errno));
        } else if (b->len + (size_t)n > KEYS_FILE_MAX) {
            rc = ursa_err_set(err, URSA_ELIMIT, "%s: larger than 16 MiB", path);
        } else {
            rc = ursa_buf_append(b, chunk, (size_t)n);
        }
    }
    close(fd);
    return rc;
}

static int load(const char *path, keyset_t **out, ursa_err_t *err)
{
    ursa_buf_t b = {0};
    int rc = read_text(path, &b, err);
    if (rc == URSA_OK) rc = keyset_parse(path, (const char *)b.data, b.len, out, err);
    ursa_buf_free(&b);
    if (rc == URSA_ENOMEM) ursa_err_set(err, rc, "out of memory");
    return rc;
}

/* ---------------------------------------------------------------------------
 * Trusted gateways
 * ------------------------------------------------------------------------- */

/* "1.2.3.4", "::1" into 16 bytes (IPv4 mapped). */
static bool addr_parse(const char *s, uint8_t a[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, s, a) == 1;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole)) return false;
    if (!rest) return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & m) == (b[whole] & m);
}

static int parse_trust(api_keys_t *k, const char *list, ursa_err_t *err)
{
    for (const char *p = list; p && *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ') n--;
        if (!n) break;
        char item[64];
        if (n >= sizeof(item) || k->ntrust == TRUST_MAX)
            return ursa_err_set(err, URSA_EINVAL, "--trust-proxy: at most %d addresses or networks",
                                TRUST_MAX);
        memcpy(item, p, n);
        item[n] = '\0';
        p += n;
        char *slash = strchr(item, '/');
        long bits = -1;
        if (slash) {
            *slash = '\0';
            char *e;
            bits = strtol(slash + 1, &e, 10);
            if (*e || e == slash + 1) bits = -2;
        }
        trusted_t *t = &k->trust[k->ntrust];
        bool v4 = !strchr(item, ':');
        if (!addr_parse(item, t->a) || bits == -2 || bits > (v4 ? 32 : 128))
            return ursa_err_set(err, URSA_EINVAL, "--trust-proxy: \"%.*s\" is not an address or network",
                                (int)n, p - n);
        t->bits = bits < 0 ? 128 : (unsigned)bits + (v4 ? 96 : 0);
        k->ntrust++;
    }
    return URSA_OK;
}

/* ---------------------------------------------------------------------------
 * Life
 * ------------------------------------------------------------------------- */

int api_keys_open(api_keys_t **out, const api_keys_opts_t *o, ursa_err_t *err)
{
    *out = NULL;
    api_keys_t *k = ursa_calloc(1, sizeof(*k));
    if (!k) return URSA_ENOMEM;
    pthread_rwlock_init(&k->lock, NULL);
    pthread_mutex_init(&k->lim_mu, NULL);
    k->fail_limit = o->fail_limit;
    int rc = (k->path = ursa_strdup(o->path)) ? URSA_OK : URSA_ENOMEM;
    if (rc == URSA_OK && k->fail_limit && !(k->lim = ursa_calloc(LIM_SLOTS, sizeof(*k->lim))))
        rc = URSA_ENOMEM;
    if (rc == URSA_OK) rc = parse_trust(k, o->trust_proxy, err);
    if (rc == URSA_OK) {
        rc = load(o->path, &k->set, err);
        if (rc == URSA_ENOTFOUND)
            ursa_err_set(err, rc,
                         "--auth-keys %s: no such file (make one with `ursa keys add NAME --scopes ... "
                         "--file %s`)",
                         o->path, o->path);
    }
    if (rc) {
        api_keys_close(&k);
        if (rc == URSA_ENOMEM) ursa_err_set(err, rc, "out of memory");
        return rc;
    }
    *out = k;
    return URSA_OK;
}

int api_keys_reload(api_keys_t *k, size_t *count, ursa_err_t *err)
{
    keyset_t *s;
    int rc = load(k->path, &s, err);
    if (rc) return rc;
    pthread_rwlock_wrlock(&k->lock);
    keyset_t *old = k->set;
    k->set = s;
    pthread_rwlock_unlock(&k->lock);
    keyset_free(old);
    *count = s->n;
    return URSA_OK;
}

size_t api_keys_count(api_keys_t *k)
{
    pthread_rwlock_rdlock(&k->lock);
    size_t n = k->set->n;
    pthread_rwlock_unlock(&k->lock);
    return n;
}

void api_keys_close(api_keys_t **kp)
{
    api_keys_t *k = *kp;
    if (!k) return;
    keyset_free(k->set);
    ursa_free(k->lim);
    ursa_free(k->path);
    pthread_rwlock_destroy(&k->lock);
    pthread_mutex_destroy(&k->lim_mu);
    ursa_free(k);
    *kp = NULL;
}

/* ---------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------- */

void api_keys_hash(const char *key, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    if (!EVP_Digest(key, n, out, &len, EVP_sha256(), NULL)) memset(out, 0, 32); /* matches no key */
}

int api_keys_allow(api_keys_t *k, const uint8_t hash[32], unsigned scopes, const char *dataset, char *name)
{
    pthread_rwlock_rdlock(&k->lock);
    const keyset_t *s = k->set;
    size_t found = s->n;
    for (size_t i = 0; i < s->n; i++) { /* every key, each in constant time */
        bool eq = CRYPTO_memcmp(s->v[i].hash, hash, 32) == 0;
        found = eq ? i : found;
    }
    int rc = URSA_EKEY;
    if (found < s->n) {
        const apikey_t *key = &s->v[found];
        if (name) snprintf(name, API_KEY_NAME_MAX + 1, "%s", key->name);
        rc = scopes ? URSA_EDENIED : URSA_OK;
        for (size_t i = 0; rc && i < key->nscopes; i++) {
            const scope_t *sc = &key->scopes[i];
            if (!(sc->kind & scopes)) continue;
            if (!sc->pattern[0] || (dataset && fnmatch(sc->pattern, dataset, 0) == 0)) rc = URSA_OK;
        }
    }
    pthread_rwlock_unlock(&k->lock);
    return rc;
}

/* ---------------------------------------------------------------------------
 * The failure bound: a token bucket per client address, fail_limit
 * tokens, refilled at fail_limit a minute; a failure takes one.
 * ------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void addr_text(api_client_t *c)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(c->a, mapped, 12) == 0)
        inet_ntop(AF_INET, c->a + 12, c->text, sizeof(c->text));
    else
        inet_ntop(AF_INET6, c->a, c->text, sizeof(c->text));
}

void api_keys_client(api_keys_t *k, const struct sockaddr *peer, const char *xff, api_client_t *out)
{
    memset(out, 0, sizeof(*out));
    if (peer && peer->sa_family == AF_INET) {
        out->a[10] = out->a[11] = 0xff;
        memcpy(out->a + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer && peer->sa_family == AF_INET6) {
        memcpy(out->a, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
    addr_text(out);
    bool trusted = false;
    for (size_t i = 0; i < k->ntrust && !trusted; i++)
        trusted = prefix_eq(out->a, k->trust[i].a, k->trust[i].bits);
    if (!trusted || !xff) return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    last += strspn(last, " \t");
    char item[64];
    size_t n = strcspn(last, " \t");
    if (n == 0 || n >= sizeof(item)) return;
    memcpy(item, last, n);
    item[n] = '\0';
    uint8_t a[16];
    if (!addr_parse(item, a)) return;
    memcpy(out->a, a, 16);
    addr_text(out);
}

/* The client's slot, refilled to now; NULL when it has none and !add.
 * Under lim_mu. */
static lim_slot_t *lim_slot(api_keys_t *k, const api_client_t *c, bool add)
{
    size_t b = (size_t)(XXH3_64bits(c->a, 16) % (LIM_SLOTS / LIM_WAYS)) * LIM_WAYS;
    lim_slot_t *hit = NULL, *victim = &k->lim[b];
    for (size_t i = b; i < b + LIM_WAYS && !hit; i++) {
        if (k->lim[i].used && memcmp(k->lim[i].a, c->a, 16) == 0) hit = &k->lim[i];
        if (!k->lim[i].used || (victim->used && k->lim[i].seen_ms < victim->seen_ms)) victim = &k->lim[i];
    }
    int64_t now = mono_ms();
    if (hit) {
        hit->tokens += (double)(now - hit->seen_ms) * k->fail_limit / 60000.0;
        if (hit->tokens > k->fail_limit) hit->tokens = k->fail_limit;
    } else if (add) {
        hit = victim;
        memcpy(hit->a, c->a, 16);
        hit->used = true;
        hit->tokens = k->fail_limit;
    }
    if (hit) hit->seen_ms = now;
    return hit;
}

unsigned api_keys_limited(api_keys_t *k, const api_client_t *c)
{
    if (!k->fail_limit) return 0;
    pthread_mutex_lock(&k->lim_mu);
    lim_slot_t *s = lim_slot(k, c, false);
    unsigned wait = 0;
    if (s && s->tokens < 1) wait = (unsigned)((1 - s->tokens) * 60.0 / k->fail_limit) + 1;
    pthread_mutex_unlock(&k->lim_mu);
    return wait;
}

void api_keys_failed(api_keys_t *k, const api_client_t *c)
{
    if (!k->fail_limit) return;
    pthread_mutex_lock(&k->lim_mu);
    lim_slot_t *s = lim_slot(k, c, true);
    s->tokens = s->tokens >= 1 ? s->tokens - 1 : 0;
    pthread_mutex_unlock(&k->lim_mu);
}

/* ---------------------------------------------------------------------------
 * ursa keys
 * ------------------------------------------------------------------------- */

static void keys_usage(FILE *f)
{
    fprintf(f, "usage: ursa keys add NAME --scopes SCOPES --file PATH\n"
               "       ursa keys remove NAME --file PATH\n"
               "       ursa keys list --file PATH\n"
               "\n"
               "SCOPES, comma-separated: ingest:<pattern>, query:<pattern>, admin, metrics;\n"
               "a pattern is a dataset name or a * glob (events, web_*, *).\n"
               "`add` prints the new key once; the file keeps its SHA-256 only. Running nodes\n"
               "read the file again on SIGHUP.\n");
}

/* Writes text to path through a new file renamed over it (mode kept, 0600
 * for a new one). */
static int write_atomic(const char *path, const ursa_buf_t *text, ursa_err_t *err)
{
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0600;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return ursa_err_set(err, URSA_EINVAL, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return ursa_err_set(err, URSA_EIO, "%s: %s", tmp, strerror(errno));
    fchmod(fd, mode); /* not narrowed by the umask */
    size_t done = 0;
    while (done < text->len) {
        ssize_t n = write(fd, text->data + done, text->len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    bool ok = done == text->len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ursa_err_set(err, URSA_EIO, "writing %s: %s", path, strerror(e));
    }
    return URSA_OK;
}

/* base64url without padding of 32 bytes: 43 characters. */
static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = t[(acc >> bits) & 63];
        }
    }
    if (bits) out[o++] = t[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static int keys_add(const char *path, const char *name, const char *scopes, ursa_buf_t *text)
{
    ursa_err_t err = {0};
    if (!name_valid(name, strlen(name))) {
        fprintf(stderr, "ursa keys: a key's name is 1-64 of A-Z a-z 0-9 . _ -\n");
        return 2;
    }
    apikey_t probe = {0};
    const char *why = parse_scopes(scopes, strlen(scopes), &probe);
    ursa_free(probe.scopes);
    if (why) {
        fprintf(stderr, "ursa keys: --scopes %s: %s\n", scopes, why);
        return 2;
    }
    keyset_t *s;
    if (keyset_parse(path, (const char *)text->data, text->len, &s, &err)) {
        fprintf(stderr, "ursa keys: %s\n", err.msg);
        return 1;
    }
    bool taken = false;
    for (size_t i = 0; i < s->n; i++) taken |= strcmp(s->v[i].name, name) == 0;
    keyset_free(s);
    if (taken) {
        fprintf(stderr, "ursa keys: %s already has a key named %s (remove it first)\n", path, name);
        return 1;
    }
    uint8_t raw[32], hash[32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        fprintf(stderr, "ursa keys: getrandom: %s\n", strerror(errno));
        return 1;
    }
    char key[API_KEY_LEN + 1];
    memcpy(key, API_KEY_PREFIX, 5);
    b64url(raw, sizeof(raw), key + 5);
    api_keys_hash(key, strlen(key), hash);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    int rc = URSA_OK;
    if (text->len == 0)
        rc = ursa_buf_printf(text, "# Ursa API keys (ursa keys add): name, SHA-256 of the key, scopes\n");
    else if (text->data[text->len - 1] != '\n')
        rc = ursa_buf_push(text, '\n');
    if (rc == URSA_OK) rc = ursa_buf_printf(text, "%s  sha256:%s  %s\n", name, hex, scopes);
    if (rc == URSA_OK) rc = write_atomic(path, text, &err);
    if (rc) {
        fprintf(stderr, "ursa keys: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    printf("%s\n", key);
    fflush(stdout);
    fprintf(stderr,
            "added key %s (%s) to %s. The key above is shown this once: keep it now.\n"
            "Running nodes read the file again on SIGHUP.\n",
            name, scopes, path);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

static int keys_remove(const char *path, const char *name, ursa_buf_t *text)
{
    ursa_err_t err = {0};
    keyset_t *s;
    if (keyset_parse(path, (const char *)text->data, text->len, &s, &err)) {
        fprintf(stderr, "ursa keys: %s\n", err.msg);
        return 1;
    }
    keyset_free(s);
    ursa_buf_t out = {0};
    bool found = false;
    int rc = URSA_OK;
    for (const char *p = (const char *)text->data, *end = p + text->len; rc == URSA_OK && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl + 1 : end, *f;
        size_t n;
        const char *q = p;
        bool this = field(&q, e, &f, &n) && n == strlen(name) && memcmp(f, name, n) == 0;
        found |= this;
        if (!this) rc = ursa_buf_append(&out, p, (size_t)(e - p));
        p = e;
    }
    if (rc == URSA_OK && !found) {
        ursa_buf_free(&out);
        fprintf(stderr, "ursa keys: %s has no key named %s\n", path, name);
        return 1;
    }
    if (rc == URSA_OK) rc = write_atomic(path, &out, &err);
    ursa_buf_free(&out);
    if (rc) {
        fprintf(stderr, "ursa keys: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    fprintf(stderr, "removed key %s from %s. Running nodes read the file again on SIGHUP.\n", name, path);
    return 0;
}

static int keys_list(const char *path, ursa_buf_t *text)
{
    ursa_err_t err = {0};
    keyset_t *s;
    if (keyset_parse(path, (const char *)text->data, text->len, &s, &err)) {
        fprintf(stderr, "ursa keys: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < s->n; i++) {
        printf("%s\t", s->v[i].name);
        for (size_t j = 0; j < s->v[i].nscopes; j++) {
            const scope_t *sc = &s->v[i].scopes[j];
            const char *kind = sc->kind == API_SCOPE_INGEST  ? "ingest:"
                               : sc->kind == API_SCOPE_QUERY ? "query:"
                               : sc->kind == API_SCOPE_ADMIN ? "admin"
                                                             : "metrics";
            printf("%s%s%s", j ? "," : "", kind, sc->pattern);
        }
        printf("\n");
    }
    keyset_free(s);
    return 0;
}

int ursa_cmd_keys(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        keys_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *verb = argv[0], *name = NULL, *file = NULL, *scopes = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--file") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--scopes") && i + 1 < argc)
            scopes = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            fprintf(stderr, "ursa keys: unknown argument %s\n", argv[i]);
            keys_usage(stderr);
            return 2;
        }
    }
    bool add = !strcmp(verb, "add"), remove = !strcmp(verb, "remove"), list = !strcmp(verb, "list");
    if ((!add && !remove && !list) || !file || (add && (!name || !scopes)) || (remove && !name) ||
        (list && name) || (!add && scopes)) {
        keys_usage(stderr);
        return 2;
    }
    ursa_buf_t text = {0};
    ursa_err_t err = {0};
    int rc = read_text(file, &text, &err);
    if (rc && !(rc == URSA_ENOTFOUND && add)) {
        fprintf(stderr, "ursa keys: %s\n", err.msg);
        ursa_buf_free(&text);
        return 1;
    }
    int status = add      ? keys_add(file, name, scopes, &text)
                 : remove ? keys_remove(file, name, &text)
                          : keys_list(file, &text);
    ursa_buf_free(&text);
    return status;
}
