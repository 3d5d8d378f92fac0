/* Unit tests for API keys: the keys file (every malformed line refused
 * with its number), scopes and patterns, reload, the client address
 * behind trusted gateways, and the failed-attempt bound. */
#include "api_keys.h"
#include "test.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[256];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

/* "NAME  sha256:<hash of key>  SCOPES\n" */
static void line_for(char *out, size_t cap, const char *name, const char *key, const char *scopes)
{
    uint8_t h[32];
    api_keys_hash(key, strlen(key), h);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(out, cap, "%s  sha256:%s  %s\n", name, hex, scopes);
}

static int allow(api_keys_t *k, const char *key, unsigned scopes, const char *ds)
{
    uint8_t h[32];
    api_keys_hash(key, strlen(key), h);
    return api_keys_allow(k, h, scopes, ds, NULL);
}

static api_keys_t *open_text(const char *text, unsigned fail_limit, const char *trust, ursa_err_t *err)
{
    write_file(text);
    api_keys_opts_t o = {path, fail_limit, trust};
    api_keys_t *k = NULL;
    if (api_keys_open(&k, &o, err)) return NULL;
    return k;
}

TEST(scopes_and_patterns)
{
    char text[2000] = "# a comment\n\n", l[300];
    line_for(l, sizeof(l), "writer", "ursa_w", "ingest:events");
    strcat(text, l);
    line_for(l, sizeof(l), "reader", "ursa_r", "query:web_*,query:events");
    strcat(text, l);
    line_for(l, sizeof(l), "ops", "ursa_o", "admin");
    strcat(text, l);
    line_for(l, sizeof(l), "scraper", "ursa_m", "metrics");
    strcat(text, "  ");
    strcat(text, l);
    ursa_err_t err = {0};
    api_keys_t *k = open_text(text, 0, NULL, &err);
    CHECK(k != NULL);
    if (!k) return;
    CHECK_EQ_INT(api_keys_count(k), 4);
    CHECK_EQ_INT(allow(k, "ursa_w", API_SCOPE_INGEST, "events"), URSA_OK);
    CHECK_EQ_INT(allow(k, "ursa_w", API_SCOPE_INGEST, "events2"), URSA_EDENIED);
    CHECK_EQ_INT(allow(k, "ursa_w", API_SCOPE_QUERY, "events"), URSA_EDENIED);
    CHECK_EQ_INT(allow(k, "ursa_w", 0, NULL), URSA_OK); /* any valid key */
    CHECK_EQ_INT(allow(k, "ursa_r", API_SCOPE_QUERY, "web_clicks"), URSA_OK);
    CHECK_EQ_INT(allow(k, "ursa_r", API_SCOPE_QUERY, "web"), URSA_EDENIED);
    CHECK_EQ_INT(allow(k, "ursa_r", API_SCOPE_QUERY, "events"), URSA_OK);
    CHECK_EQ_INT(allow(k, "ursa_r", API_SCOPE_INGEST | API_SCOPE_ADMIN, "events"), URSA_EDENIED);
    CHECK_EQ_INT(allow(k, "ursa_o", API_SCOPE_ADMIN, "anything"), URSA_OK);
    CHECK_EQ_INT(allow(k, "ursa_o", API_SCOPE_QUERY, "events"), URSA_EDENIED); /* admin reads no rows */
    CHECK_EQ_INT(allow(k, "ursa_m", API_SCOPE_METRICS | API_SCOPE_ADMIN, NULL), URSA_OK);
    CHECK_EQ_INT(allow(k, "ursa_m", API_SCOPE_ADMIN, "events"), URSA_EDENIED);
    CHECK_EQ_INT(allow(k, "ursa_nope", 0, NULL), URSA_EKEY);
    CHECK_EQ_INT(allow(k, "", 0, NULL), URSA_EKEY);
    char name[API_KEY_NAME_MAX + 1] = "";
    uint8_t h[32];
    api_keys_hash("ursa_r", 6, h);
    CHECK_EQ_INT(api_keys_allow(k, h, API_SCOPE_INGEST, "events", name), URSA_EDENIED);
    CHECK(strcmp(name, "reader") == 0);
    api_keys_close(&k);
}

/* Every malformed line is refused, naming the file and its line. */
TEST(malformed_lines)
{
    char good[300];
    line_for(good, sizeof(good), "a", "ursa_a", "admin");
    static const char *const bad[] = {
        "b sha256:00 admin\n",                    /* short hash */
        "b md5:0123 admin\n",                     /* other algorithm */
        "b\n",                                    /* no hash */
        "bad/name sha256:%s admin\n",             /* name */
        "b sha256:%s\n",                          /* no scopes */
        "b sha256:%s root\n",                     /* unknown scope */
        "b sha256:%s ingest\n",                   /* no pattern */
        "b sha256:%s ingest:\n",                  /* empty pattern */
        "b sha256:%s query:Events\n",             /* a pattern is lower case */
        "b sha256:%s admin,\n",                   /* empty scope */
        "b sha256:%s admin extra\n",              /* four fields */
        "a sha256:%s admin\n",                    /* a name twice */
        "b sha256:%s admin\n",                    /* (with %s = a's hash) a hash twice */
        "b sha256:%s query:x,admin,metrics,zz\n", /* one bad among good */
    };
    const char *hex = "ab0000000000000000000000000000000000000000000000000000000000000c";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[400], text[800];
        const char *h = i == 12 ? strstr(good, "sha256:") + 7 : hex;
        char hh[65];
        snprintf(hh, sizeof(hh), "%.64s", h);
        snprintf(line, sizeof(line), bad[i], hh);
        snprintf(text, sizeof(text), "# keys\n%s%s", good, line);
        ursa_err_t err = {0};
        api_keys_t *k = open_text(text, 0, NULL, &err);
        CHECK(k == NULL);
        api_keys_close(&k);
        char want[300];
        snprintf(want, sizeof(want), "%s line 3: ", path);
        if (strncmp(err.msg, want, strlen(want)) != 0) {
            fprintf(stderr, "case %zu: %s\n", i, err.msg);
            CHECK(false);
        }
    }
    /* An empty file is valid: no key opens anything. */
    ursa_err_t err = {0};
    api_keys_t *k = open_text("# none yet\n", 0, NULL, &err);
    CHECK(k && api_keys_count(k) == 0);
    api_keys_close(&k);
}

TEST(reload_replaces_or_keeps)
{
    char l1[300], l2[300];
    line_for(l1, sizeof(l1), "one", "ursa_1", "admin");
    line_for(l2, sizeof(l2), "two", "ursa_2", "admin");
    ursa_err_t err = {0};
    api_keys_t *k = open_text(l1, 0, NULL, &err);
    CHECK(k != NULL);
    if (!k) return;
    size_t n = 0;
    write_file(l2);
    CHECK_EQ_INT(api_keys_reload(k, &n, &err), URSA_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(allow(k, "ursa_1", 0, NULL), URSA_EKEY);
    CHECK_EQ_INT(allow(k, "ursa_2", 0, NULL), URSA_OK);
    write_file("two sha256:xyz admin\n");
    CHECK_EQ_INT(api_keys_reload(k, &n, &err), URSA_EINVAL);
    CHECK(strstr(err.msg, "line 1") != NULL);
    CHECK_EQ_INT(allow(k, "ursa_2", 0, NULL), URSA_OK); /* the old keys stay */
    unlink(path);
    CHECK_EQ_INT(api_keys_reload(k, &n, &err), URSA_ENOTFOUND);
    CHECK_EQ_INT(allow(k, "ursa_2", 0, NULL), URSA_OK);
    api_keys_close(&k);
}

static void peer4(struct sockaddr_in *sa, const char *ip)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &sa->sin_addr);
}

TEST(client_behind_trusted_gateways)
{
    ursa_err_t err = {0};
    api_keys_t *k = open_text("", 3, "10.0.0.0/8, ::1", &err);
    CHECK(k != NULL);
    if (!k) return;
    struct sockaddr_in gw, other;
    peer4(&gw, "10.1.2.3");
    peer4(&other, "192.168.1.5");
    api_client_t c;
    api_keys_client(k, (struct sockaddr *)&gw, "1.1.1.1, 203.0.113.7", &c);
    CHECK(strcmp(c.text, "203.0.113.7") == 0); /* the entry the gateway added */
    api_keys_client(k, (struct sockaddr *)&gw, NULL, &c);
    CHECK(strcmp(c.text, "10.1.2.3") == 0);
    api_keys_client(k, (struct sockaddr *)&gw, "not an address", &c);
    CHECK(strcmp(c.text, "10.1.2.3") == 0);
    api_keys_client(k, (struct sockaddr *)&other, "203.0.113.7", &c); /* not a gateway: spoofed */
    CHECK(strcmp(c.text, "192.168.1.5") == 0);
    struct sockaddr_in6 v6 = {0};
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    api_keys_client(k, (struct sockaddr *)&v6, "2001:db8::5", &c);
    CHECK(strcmp(c.text, "2001:db8::5") == 0);
    api_keys_close(&k);

    static const char *const bad[] = {"10.0.0.0/33", "::1/129", "host.example", "10.0.0.0/", "1.2.3.4/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api_keys_t *b = open_text("", 3, bad[i], &err);
        CHECK(b == NULL);
        CHECK(strstr(err.msg, "--trust-proxy") != NULL);
        api_keys_close(&b);
    }
}

TEST(failed_attempts_are_bounded)
{
    ursa_err_t err = {0};
    api_keys_t *k = open_text("", 3, NULL, &err);
    CHECK(k != NULL);
    if (!k) return;
    struct sockaddr_in a, b;
    peer4(&a, "192.0.2.1");
    peer4(&b, "192.0.2.2");
    api_client_t ca, cb;
    api_keys_client(k, (struct sockaddr *)&a, NULL, &ca);
    api_keys_client(k, (struct sockaddr *)&b, NULL, &cb);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(api_keys_limited(k, &ca), 0);
        api_keys_failed(k, &ca);
    }
    unsigned wait = api_keys_limited(k, &ca);
    CHECK(wait >= 1 && wait <= 21); /* 3 a minute: one back in 20 s */
    CHECK_EQ_INT(api_keys_limited(k, &cb), 0);
    /* Many addresses fill the fixed table; it does not grow, and the one
     * limited is forgotten at worst (never wrongly limited). */
    for (unsigned i = 0; i < 20000; i++) {
        api_client_t x = ca;
        memcpy(x.a + 12, &i, 4);
        x.a[0] = 0x20;
        api_keys_failed(k, &x);
    }
    CHECK_EQ_INT(api_keys_limited(k, &cb), 0);
    api_keys_close(&k);
    api_keys_t *off = open_text("", 0, NULL, &err); /* 0: no bound */
    for (int i = 0; i < 100; i++) api_keys_failed(off, &ca);
    CHECK_EQ_INT(api_keys_limited(off, &ca), 0);
    api_keys_close(&off);
}

int main(void)
{
    const char *tmp = getenv("URSA_TEST_TMP");
    snprintf(path, sizeof(path), "%s/keys.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    RUN(scopes_and_patterns);
    RUN(malformed_lines);
    RUN(reload_replaces_or_keeps);
    RUN(client_behind_trusted_gateways);
    RUN(failed_attempts_are_bounded);
    unlink(path);
    return TEST_EXIT();
}
