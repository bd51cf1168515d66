/*
 * beanrun's load generator: one thread, epoll, non-blocking sockets, raw
 * beanstalkd protocol. Built by bench/run.ts with `cc -O2` into bench/.build/.
 *
 *   loadgen cycle PORT -c CONNS -s BODY -t SECS -w WARMUP [-P] [-O]
 *       each connection loops put -> reserve -> delete (with -P: put only),
 *       one command at a time; -O gives every connection its own tube
 *       (default: all share "default").
 *   loadgen pipe  PORT -d DEPTH -s BODY -t SECS -w WARMUP
 *       puts on one connection, DEPTH in flight.
 *   loadgen fill  PORT -n COUNT -s BODY -d DEPTH [-t MAXSECS]
 *       COUNT puts on one connection, DEPTH in flight, then exit (after
 *       MAXSECS at most: then "complete":false and ops < COUNT).
 *   loadgen drain PORT -n COUNT -d DEPTH [-t MAXSECS]
 *       COUNT reserve-with-timeout 0 + delete pairs on one connection, DEPTH
 *       reserves in flight (each RESERVED is answered with its delete at once);
 *       MAXSECS bounds it as for fill.
 *
 * Timed modes count only operations completed inside the measured window
 * [start + WARMUP, start + WARMUP + SECS]. Output: one JSON line on stdout with
 * ops, secs, rate (ops/s), gen_cpu (this process's CPU seconds per wall second
 * in the window: near 1.0 means the generator itself is saturated) and, for
 * cycle, latency percentiles (p50, p99, p999, max) of a whole cycle in microseconds.
 * Any unexpected reply is fatal (exit 1, the reply on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *p;
    size_t len, cap, off; /* off: start of unconsumed data (input) or unsent data (output) */
} Buf;

typedef struct {
    int fd;
    int idx;
    int phase;      /* cycle: <0 setup replies still due, 0 put, 1 reserve, 2 delete */
    int wantout;    /* EPOLLOUT registered */
    double started; /* cycle: when the current cycle's put was queued */
    Buf in, out;
} Conn;

static int ep;
static char *putcmd; /* "put 0 0 120 N\r\n<body>\r\n" */
static size_t putlen;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void fatal(const char *what, const char *detail, size_t n) {
    if (detail)
        fprintf(stderr, "loadgen: %s: %.*s\n", what, (int)(n > 200 ? 200 : n), detail);
    else
        fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void reserve_buf(Buf *b, size_t extra) {
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + extra) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) fatal("out of memory", NULL, 0);
    b->cap = cap;
}

static void append(Buf *b, const char *s, size_t n) {
    reserve_buf(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void makeput(int body) {
    char head[64];
    int h = snprintf(head, sizeof head, "put 0 0 120 %d\r\n", body);
    putlen = h + body + 2;
    putcmd = malloc(putlen);
    memcpy(putcmd, head, h);
    for (int i = 0; i < body; i++) putcmd[h + i] = 'a' + i % 26;
    memcpy(putcmd + h + body, "\r\n", 2);
}

static Conn *dial(int port, int idx) {
    Conn *c = calloc(1, sizeof *c);
    c->idx = idx;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) fatal("socket", NULL, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) fatal("connect", NULL, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fatal("epoll_ctl", NULL, 0);
    return c;
}

/* Sends what it can of c->out; registers for EPOLLOUT while something is left. */
static void flush(Conn *c) {
    while (c->out.off < c->out.len) {
        ssize_t w = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            fatal("write", NULL, 0);
        }
        c->out.off += w;
    }
    if (c->out.off == c->out.len) c->out.off = c->out.len = 0;
    int want = c->out.len > 0;
    if (want != c->wantout) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->wantout = want;
    }
}

/* Reads what is available into c->in. */
static void fill_in(Conn *c) {
    for (;;) {
        reserve_buf(&c->in, 65536);
        ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (r == 0) fatal("server closed the connection", "", 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            fatal("read", NULL, 0);
        }
        c->in.len += r;
        if ((size_t)r < c->in.cap - c->in.len + r) return; /* short read: drained */
    }
}

/*
 * Takes the next complete reply from c->in. Returns its total length (0 if
 * incomplete) and points *line at it; for "RESERVED id n" and "INSERTED id"
 * sets *id. The line is checked against `expect` (a prefix) by the caller.
 */
static size_t next_reply(Conn *c, const char **line, long long *id) {
    const char *p = c->in.p + c->in.off;
    size_t n = c->in.len - c->in.off;
    const char *cr = memmem(p, n, "\r\n", 2);
    if (!cr) return 0;
    size_t ll = cr - p + 2;
    *line = p;
    if (n >= 9 && memcmp(p, "RESERVED ", 9) == 0) {
        char *e;
        long long jid = strtoll(p + 9, &e, 10);
        long bytes = strtol(e, NULL, 10);
        if (n < ll + bytes + 2) return 0;
        *id = jid;
        ll += bytes + 2;
    } else if (n >= 9 && memcmp(p, "INSERTED ", 9) == 0) {
        *id = strtoll(p + 9, NULL, 10);
    }
    c->in.off += ll;
    return ll;
}

static int starts(const char *line, const char *prefix) {
    return strncmp(line, prefix, strlen(prefix)) == 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- cycle: CONNS connections, one command in flight each ---- */

static void cycle(int port, int nconn, int body, double secs, double warm, int putonly, int owntube) {
    makeput(body);
    Conn **cs = calloc(nconn, sizeof *cs);
    for (int i = 0; i < nconn; i++) {
        cs[i] = dial(port, i);
        if (owntube) {
            char s[128];
            int l = snprintf(s, sizeof s, "use t%d\r\nwatch t%d\r\nignore default\r\n", i, i);
            append(&cs[i]->out, s, l);
            cs[i]->phase = -3;
        }
    }
    size_t latcap = 1 << 22, nlat = 0;
    uint32_t *lat = malloc(latcap * sizeof *lat);
    long done = 0, done0 = 0;
    double t0 = now(), tw = t0 + warm, te = tw + secs, cpu0 = 0, cpu1, w0 = 0, w1;
    int inwin = 0;
    for (int i = 0; i < nconn; i++) {
        cs[i]->started = now();
        append(&cs[i]->out, putcmd, putlen);
        flush(cs[i]);
    }
    struct epoll_event evs[512];
    for (;;) {
        double t = now();
        if (!inwin && t >= tw) {
            inwin = 1;
            done0 = done;
            cpu0 = cpu();
            w0 = t;
        }
        if (t >= te) break;
        int ms = (int)(((inwin ? te : tw) - t) * 1000) + 1;
        int n = epoll_wait(ep, evs, 512, ms > 50 ? 50 : ms);
        if (n < 0 && errno != EINTR) fatal("epoll_wait", NULL, 0);
        for (int k = 0; k < n; k++) {
            Conn *c = evs[k].data.ptr;
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) fill_in(c);
            const char *line;
            long long id = 0;
            size_t len;
            while ((len = next_reply(c, &line, &id))) {
                if (c->phase < 0) {
                    if (!starts(line, "USING ") && !starts(line, "WATCHING ")) fatal("unexpected reply to use/watch", line, len);
                    c->phase++;
                } else if (c->phase == 0) {
                    if (!starts(line, "INSERTED ")) fatal("unexpected reply to put", line, len);
                    if (putonly) {
                        done++;
                        if (inwin && nlat < latcap) lat[nlat++] = (uint32_t)((now() - c->started) * 1e9);
                        c->started = now();
                        append(&c->out, putcmd, putlen);
                    } else {
                        c->phase = 1;
                        append(&c->out, "reserve\r\n", 9);
                    }
                } else if (c->phase == 1) {
                    if (!starts(line, "RESERVED ")) fatal("unexpected reply to reserve", line, len);
                    char cmd[64];
                    int l = snprintf(cmd, sizeof cmd, "delete %lld\r\n", id);
                    c->phase = 2;
                    append(&c->out, cmd, l);
                } else {
                    if (!starts(line, "DELETED")) fatal("unexpected reply to delete", line, len);
                    done++;
                    double tn = now();
                    if (inwin && nlat < latcap) lat[nlat++] = (uint32_t)((tn - c->started) * 1e9);
                    c->phase = 0;
                    c->started = tn;
                    append(&c->out, putcmd, putlen);
                }
            }
            flush(c);
        }
    }
    w1 = now();
    cpu1 = cpu();
    long ops = done - done0;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double p50 = nlat ? lat[nlat / 2] / 1e3 : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] / 1e3 : 0;
    double p999 = nlat ? lat[(size_t)(nlat * 0.999)] / 1e3 : 0, pmax = nlat ? lat[nlat - 1] / 1e3 : 0;
    printf("{\"mode\":\"%s\",\"ops\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"gen_cpu\":%.3f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
           putonly ? "put" : "cycle", ops, w1 - w0, ops / (w1 - w0), (cpu1 - cpu0) / (w1 - w0), p50, p99, p999, pmax);
}

/* ---- pipe / fill: puts on one connection, DEPTH in flight ---- */

static void puts_pipelined(int port, int depth, int body, double secs, double warm, long count, double maxsecs) {
    makeput(body);
    Conn *c = dial(port, 0);
    long sent = 0, got = 0, got0 = 0;
    double t0 = now(), tw = t0 + warm, te = count > 0 ? t0 + maxsecs : tw + secs, cpu0 = cpu(), w0 = t0;
    int inwin = count > 0;
    long first = count > 0 && count < depth ? count : depth;
    for (long i = 0; i < first; i++) append(&c->out, putcmd, putlen);
    sent = first;
    flush(c);
    struct epoll_event evs[4];
    for (;;) {
        double t = now();
        if (!inwin && t >= tw) {
            inwin = 1;
            got0 = got;
            cpu0 = cpu();
            w0 = t;
        }
        if (t >= te) break; /* fill: stopped by its time limit, reported as incomplete */
        if (count > 0 && got >= count) break;
        int n = epoll_wait(ep, evs, 4, 50);
        if (n < 0 && errno != EINTR) fatal("epoll_wait", NULL, 0);
        if (n <= 0) continue;
        if (evs[0].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) fill_in(c);
        const char *line;
        long long id;
        size_t len;
        long fresh = 0;
        while ((len = next_reply(c, &line, &id))) {
            if (!starts(line, "INSERTED ")) fatal("unexpected reply to put", line, len);
            got++;
            fresh++;
        }
        if (count > 0 && sent + fresh > count) fresh = count - sent;
        for (long i = 0; i < fresh; i++) append(&c->out, putcmd, putlen);
        sent += fresh;
        flush(c);
    }
    double w1 = now(), cpu1 = cpu();
    long ops = got - got0;
    printf("{\"mode\":\"%s\",\"ops\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"gen_cpu\":%.3f,\"complete\":%s}\n",
           count > 0 ? "fill" : "pipe", ops, w1 - w0, ops / (w1 - w0), (cpu1 - cpu0) / (w1 - w0),
           count > 0 && got < count ? "false" : "true");
}

/* ---- drain: reserve-with-timeout 0 + delete, DEPTH reserves in flight ---- */

static void drain(int port, long count, int depth, double maxsecs) {
    Conn *c = dial(port, 0);
    static const char rsv[] = "reserve-with-timeout 0\r\n";
    long reserves = 0, inflight = 0, deleted = 0;
    double t0 = now(), te = t0 + maxsecs, cpu0 = cpu();
    struct epoll_event evs[4];
    for (;;) {
        while (inflight < depth && reserves < count) {
            append(&c->out, rsv, sizeof rsv - 1);
            reserves++;
            inflight++;
        }
        flush(c);
        if (deleted >= count) break;
        if (now() >= te) break; /* stopped by its time limit, reported as incomplete */
        int n = epoll_wait(ep, evs, 4, 50);
        if (n < 0 && errno != EINTR) fatal("epoll_wait", NULL, 0);
        if (n <= 0) continue;
        if (evs[0].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) fill_in(c);
        const char *line;
        long long id = 0;
        size_t len;
        while ((len = next_reply(c, &line, &id))) {
            if (line[0] == 'R' && starts(line, "RESERVED ")) {
                char cmd[64];
                int l = snprintf(cmd, sizeof cmd, "delete %lld\r\n", id);
                append(&c->out, cmd, l);
                inflight--;
            } else if (starts(line, "DELETED")) {
                deleted++;
            } else {
                fatal("unexpected reply while draining", line, len);
            }
        }
    }
    double w1 = now(), cpu1 = cpu();
    printf("{\"mode\":\"drain\",\"ops\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"gen_cpu\":%.3f,\"complete\":%s}\n", deleted,
           w1 - t0, deleted / (w1 - t0), (cpu1 - cpu0) / (w1 - t0), deleted < count ? "false" : "true");
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen cycle|pipe|fill|drain PORT [-c CONNS] [-d DEPTH] [-s BODY] [-n COUNT] "
                    "[-t SECS] [-w WARMUP] [-P] [-O]\n(see the comment at the top of bench/loadgen.c)\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 3) usage();
    const char *mode = argv[1];
    int port = atoi(argv[2]);
    int conns = 1, depth = 64, body = 100, putonly = 0, owntube = 0;
    long count = 0;
    double secs = 0, warm = 0;
    optind = 3;
    int o;
    while ((o = getopt(argc, argv, "c:d:s:n:t:w:PO")) != -1) {
        switch (o) {
        case 'c': conns = atoi(optarg); break;
        case 'd': depth = atoi(optarg); break;
        case 's': body = atoi(optarg); break;
        case 'n': count = atol(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'P': putonly = 1; break;
        case 'O': owntube = 1; break;
        default: usage();
        }
    }
    if (port <= 0 || conns < 1 || depth < 1 || body < 0) usage();
    ep = epoll_create1(0);
    if (ep < 0) fatal("epoll_create1", NULL, 0);
    if (strcmp(mode, "cycle") == 0 && secs > 0) {
        cycle(port, conns, body, secs, warm, putonly, owntube);
    } else if (strcmp(mode, "pipe") == 0 && secs > 0) {
        puts_pipelined(port, depth, body, secs, warm, 0, 0);
    } else if (strcmp(mode, "fill") == 0 && count > 0) {
        puts_pipelined(port, depth, body, 0, 0, count, secs > 0 ? secs : 600);
    } else if (strcmp(mode, "drain") == 0 && count > 0) {
        drain(port, count, depth, secs > 0 ? secs : 600);
    } else {
        usage();
    }
    return 0;
}
