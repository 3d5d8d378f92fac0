/*
 * ratepost.c -- POSTs one body at a fixed rate and measures acknowledgement
 * latency at that load (open loop): request i is due at start + i / rate,
 * whatever the answers before it did. A due request goes out on the first
 * idle one of C keep-alive connections; when none is idle it waits, and its
 * latency counts from when it was due, not from when it could be sent (a
 * server that stalls is charged for every request the stall delayed: no
 * coordinated omission). wrk, a closed loop, measures latency at saturation
 * only; this measures it at a stated load. Not part of CI.
 *
 *   ratepost --url http://127.0.0.1:PORT/v1/datasets/D/records --body F
 *            --rate R --connections C --seconds S [--warmup S] [--trace FILE]
 *
 * Prints one JSON line: requests, errors (a status other than 2xx, or a
 * closed connection), achieved rate, latency from due time (p50, p90, p99,
 * p99.9, max, in ms), and the service time alone (from the request's first
 * byte written; p50, p99). The warm-up's requests are sent and not counted.
 * --trace writes a line per counted request: its due time (s from the
 * start), latency and service time (ms), to find when stalls happen.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    bool busy;
    double due, sent; /* of the request in flight */
    bool counted;
    size_t out_off;
    char in[4096];
    size_t in_len;
} conn_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int dial(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *body_path = NULL, *trace_path = NULL;
    double rate = 0, seconds = 10, warmup = 1;
    int nconn = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--body"))
            body_path = argv[i + 1];
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections"))
            nconn = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup"))
            warmup = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--trace"))
            trace_path = argv[i + 1];
    }
    char host[64];
    unsigned port;
    char path[512];
    if (!url || !body_path || rate <= 0 || nconn < 1 ||
        sscanf(url, "http://%63[^:]:%u%511s", host, &port, path) != 3) {
        fprintf(stderr, "usage: ratepost --url http://HOST:PORT/PATH --body F --rate R --connections C "
                        "--seconds S [--warmup S]\n");
        return 2;
    }
    FILE *f = fopen(body_path, "rb");
    if (!f) {
        perror(body_path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long blen = ftell(f);
    fseek(f, 0, SEEK_SET);
    char head[1024];
    int hn = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/x-ndjson\r\n"
                      "Content-Length: %ld\r\n\r\n",
                      path, host, port, blen);
    size_t req_len = (size_t)hn + (size_t)blen;
    char *req = malloc(req_len);
    memcpy(req, head, (size_t)hn);
    if (fread(req + hn, 1, (size_t)blen, f) != (size_t)blen) return 1;
    fclose(f);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    conn_t *c = calloc((size_t)nconn, sizeof(*c));
    for (int i = 0; i < nconn; i++) c[i].fd = dial(&sa);
    struct pollfd *pfd = calloc((size_t)nconn, sizeof(*pfd));

    size_t total = (size_t)((warmup + seconds) * rate);
    size_t cap = total + 1, nlat = 0;
    double *lat = malloc(cap * sizeof(double)), *svc = malloc(cap * sizeof(double));
    double *due_at = malloc(cap * sizeof(double));
    /* touched now: a first touch of a page during the run is a fault in
     * the middle of the measurement, every 512 requests (milliseconds on
     * virtual machines whose host backs fresh memory lazily) */
    memset(lat, 0, cap * sizeof(double));
    memset(svc, 0, cap * sizeof(double));
    memset(due_at, 0, cap * sizeof(double));
    size_t next = 0, done = 0, errors = 0;
    double t0 = now_s() + 0.05, measure_from = t0 + warmup;
    while (done < total) {
        double t = now_s();
        /* due requests go out on idle connections, oldest first */
        for (int i = 0; i < nconn && next < total; i++) {
            double due = t0 + (double)next / rate;
            if (due > t) break;
            if (c[i].busy) continue;
            c[i].busy = true;
            c[i].due = due;
            c[i].sent = t;
            c[i].counted = due >= measure_from;
            c[i].out_off = 0;
            c[i].in_len = 0;
            next++;
        }
        for (int i = 0; i < nconn; i++) {
            conn_t *k = &c[i];
            if (k->busy && k->out_off < req_len) {
                ssize_t w = send(k->fd, req + k->out_off, req_len - k->out_off, MSG_NOSIGNAL);
                if (w > 0) k->out_off += (size_t)w;
            }
            pfd[i].fd = k->fd;
            pfd[i].events = k->busy ? (short)(POLLIN | (k->out_off < req_len ? POLLOUT : 0)) : 0;
        }
        /* ppoll: a millisecond's granularity would hold back rates above
         * about 1,000 requests a second */
        bool idle = false;
        for (int i = 0; i < nconn; i++) idle |= !c[i].busy;
        double wait = next < total && idle ? t0 + (double)next / rate - now_s() : 0.05;
        if (wait < 0) wait = 0;
        /* A due request with every connection busy waits for an answer, not
         * in a loop of zero timeouts: spinning took the core the server's
         * request thread was woken on, and stretched the very stalls it
         * measured. */
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        if (ppoll(pfd, (nfds_t)nconn, &ts, NULL) < 0 && errno != EINTR) return 1;
        for (int i = 0; i < nconn; i++) {
            conn_t *k = &c[i];
            if (!k->busy || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = recv(k->fd, k->in + k->in_len, sizeof(k->in) - k->in_len - 1, 0);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                errors++; /* closed: reconnect, the request counts as failed */
                close(k->fd);
                k->fd = dial(&sa);
                k->busy = false;
                done++;
                continue;
            }
            k->in_len += (size_t)r;
            k->in[k->in_len] = '\0';
            char *end = strstr(k->in, "\r\n\r\n");
            if (!end) continue;
            char *cl = strcasestr(k->in, "\r\nContent-Length:");
            size_t want = (size_t)(end + 4 - k->in) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
            if (k->in_len < want) continue;
            double t1 = now_s();
            int status = atoi(k->in + 9);
            if (status < 200 || status > 299) errors++;
            if (k->counted) {
                due_at[nlat] = k->due - t0;
                lat[nlat] = (t1 - k->due) * 1000;
                svc[nlat] = (t1 - k->sent) * 1000;
                nlat++;
            }
            k->busy = false;
            done++;
        }
    }
    double elapsed = now_s() - t0;
    if (trace_path) {
        FILE *tf = fopen(trace_path, "w");
        for (size_t i = 0; tf && i < nlat; i++) fprintf(tf, "%.6f %.3f %.3f\n", due_at[i], lat[i], svc[i]);
        if (tf) fclose(tf);
    }
    qsort(lat, nlat, sizeof(double), cmp_d);
    qsort(svc, nlat, sizeof(double), cmp_d);
    printf("{\"requests\":%zu,\"errors\":%zu,\"rate\":%.1f,\"achieved\":%.1f,\"connections\":%d,"
           "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
           "\"service_p50_ms\":%.3f,\"service_p99_ms\":%.3f}\n",
           nlat, errors, rate, (double)done / elapsed, nconn, pct(lat, nlat, 0.5), pct(lat, nlat, 0.9),
           pct(lat, nlat, 0.99), pct(lat, nlat, 0.999), nlat ? lat[nlat - 1] : 0, pct(svc, nlat, 0.5),
           pct(svc, nlat, 0.99));
    return 0;
}
