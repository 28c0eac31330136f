/*
 * A minimal HTTP/1.1 sink for the export benchmark (bench/export_bench.lua):
 * reads each request's body (Content-Length), throws it away and answers
 * 200 with an empty body, keeping the connection alive.  It does as little
 * as possible so that the benchmark measures the exporter, not the
 * receiver.  Loopback only; one thread per connection.
 *
 * With --grpc it is an OTLP/gRPC sink instead: HTTP/2 with prior knowledge
 * (h2c), just enough of it for one client: settings and pings are
 * acknowledged, flow control windows kept open, request headers skipped
 * unread, and each request stream, once its body ended, is answered with
 * a fixed header block (:status 200, content-type application/grpc), an
 * empty ExportTraceServiceResponse and the trailer grpc-status 0.
 *
 *   discard_server [--grpc] [--port N] [--port-file PATH] [--watch-pid PID]
 *
 * Prints "listening PORT"; the port file (written atomically) holds
 * "PORT\n".  On SIGTERM or SIGINT it prints "requests N bytes B" on stderr
 * and exits 0; with --watch-pid it also exits once process PID is gone
 * (checked every second), so that a benchmark that dies leaves nothing
 * behind.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

static _Atomic unsigned long long n_requests, n_bytes;

static const char ok_resp[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/x-protobuf\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static const char bad_resp[] =
    "HTTP/1.1 411 Length Required\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Content-Length of a header block (-1: none, or chunked). */
static long long content_length(const char *h, size_t n)
{
    static const char name[] = "\r\ncontent-length:";
    size_t nl = sizeof(name) - 1, i;

    for (i = 0; i + nl <= n; i++) {
        if (strncasecmp(h + i, name, nl) == 0) {
            return strtoll(h + i + nl, NULL, 10);
        }
    }
    return -1;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(BUF);
    size_t len = 0;

    while (buf) {
        char *end;
        size_t hlen, avail;
        long long cl;
        ssize_t r;

        /* the header block */
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == BUF) {
                goto out;
            }
            r = read(fd, buf + len, BUF - len);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                goto out;
            }
            len += (size_t)r;
        }
        hlen = (size_t)(end - buf) + 4;
        cl = content_length(buf, hlen);
        if (cl < 0) {
            write_all(fd, bad_resp, sizeof(bad_resp) - 1);
            goto out;
        }
        /* the body, read and dropped */
        avail = len - hlen;
        if ((unsigned long long)avail >= (unsigned long long)cl) {
            memmove(buf, buf + hlen + cl, avail - (size_t)cl);
            len = avail - (size_t)cl;
        } else {
            long long left = cl - (long long)avail;

            len = 0;
            while (left > 0) {
                r = read(fd, buf, left < BUF ? (size_t)left : BUF);
                if (r < 0 && errno == EINTR) {
                    continue;
                }
                if (r <= 0) {
                    goto out;
                }
                left -= r;
            }
        }
        atomic_fetch_add(&n_requests, 1);
        atomic_fetch_add(&n_bytes, (unsigned long long)cl);
        if (write_all(fd, ok_resp, sizeof(ok_resp) - 1)) {
            goto out;
        }
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

/* ---- gRPC over h2c --------------------------------------------------------*/

enum { H2_DATA = 0, H2_HEADERS = 1, H2_SETTINGS = 4, H2_PING = 6,
       H2_WINDOW_UPDATE = 8 };
#define H2_END_STREAM  0x1
#define H2_ACK         0x1
#define H2_END_HEADERS 0x4

static void h2_header(char *p, size_t len, int type, int flags,
                      uint32_t stream)
{
    p[0] = (char)(len >> 16);
    p[1] = (char)(len >> 8);
    p[2] = (char)len;
    p[3] = (char)type;
    p[4] = (char)flags;
    p[5] = (char)(stream >> 24 & 0x7f);
    p[6] = (char)(stream >> 16);
    p[7] = (char)(stream >> 8);
    p[8] = (char)stream;
}

static int h2_frame(int fd, int type, int flags, uint32_t stream,
                    const void *payload, size_t len)
{
    char buf[9 + 64];

    h2_header(buf, len, type, flags, stream);
    memcpy(buf + 9, payload, len);
    return write_all(fd, buf, 9 + len);
}

static int h2_window(int fd, uint32_t stream, uint32_t n)
{
    char inc[4] = { (char)(n >> 24 & 0x7f), (char)(n >> 16), (char)(n >> 8),
                    (char)n };

    return h2_frame(fd, H2_WINDOW_UPDATE, 0, stream, inc, 4);
}

/* The answer to one call: HPACK literals without indexing (no table). */
static int grpc_answer(int fd, uint32_t stream)
{
    static const char head[] =
        "\x88"                                 /* :status 200 */
        "\x0f\x10\x10" "application/grpc";      /* content-type */
    static const char trail[] =
        "\x00\x0b" "grpc-status" "\x01" "0";
    static const char msg[5] = { 0 };       /* empty message */

    return h2_frame(fd, H2_HEADERS, H2_END_HEADERS, stream, head,
                    sizeof(head) - 1)
           || h2_frame(fd, H2_DATA, 0, stream, msg, sizeof(msg))
           || h2_frame(fd, H2_HEADERS, H2_END_HEADERS | H2_END_STREAM,
                       stream, trail, sizeof(trail) - 1);
}

static int read_full(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void *serve_grpc(void *arg)
{
    /* SETTINGS_INITIAL_WINDOW_SIZE (4) = 2^31 - 1: streams never wait */
    static const char settings[] = { 0, 4, 0x7f, (char)0xff, (char)0xff,
                                     (char)0xff };
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(BUF), hdr[9];
    unsigned long long body = 0;
    uint32_t len, stream, credit = 0;
    int type, flags;

    if (!buf || read_full(fd, buf, 24) || memcmp(buf, "PRI * HTTP/2.0", 14)
        || h2_frame(fd, H2_SETTINGS, 0, 0, settings, sizeof(settings))
        || h2_window(fd, 0, 0x7fffffff - 65535)) {
        goto out;
    }
    for (;;) {
        if (read_full(fd, hdr, 9)) {
            break;
        }
        len = (uint32_t)(unsigned char)hdr[0] << 16
              | (uint32_t)(unsigned char)hdr[1] << 8 | (unsigned char)hdr[2];
        type = (unsigned char)hdr[3];
        flags = (unsigned char)hdr[4];
        stream = ((uint32_t)(unsigned char)hdr[5] & 0x7f) << 24
                 | (uint32_t)(unsigned char)hdr[6] << 16
                 | (uint32_t)(unsigned char)hdr[7] << 8
                 | (unsigned char)hdr[8];
        if (len > BUF || read_full(fd, buf, len)) {
            break;
        }
        if (type == H2_SETTINGS && !(flags & H2_ACK)) {
            if (h2_frame(fd, H2_SETTINGS, H2_ACK, 0, NULL, 0)) {
                break;
            }
        } else if (type == H2_PING && !(flags & H2_ACK)) {
            if (h2_frame(fd, H2_PING, H2_ACK, 0, buf, len)) {
                break;
            }
        } else if (type == H2_DATA) {
            /* The connection window opened to 2^31 - 1 at the start is
             * topped up once it is half used, not per frame: a frame of
             * ours per DATA frame would cost the client a wakeup each. */
            body += len;
            credit += len;
            if (credit >= 0x40000000u) {
                if (h2_window(fd, 0, credit)) {
                    break;
                }
                credit = 0;
            }
        }
        if ((type == H2_DATA || type == H2_HEADERS)
            && (flags & H2_END_STREAM)) {
            atomic_fetch_add(&n_requests, 1);
            atomic_fetch_add(&n_bytes, body);
            body = 0;
            if (grpc_answer(fd, stream)) {
                break;
            }
        }
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static int grpc_mode;

static void *accept_loop(void *arg)
{
    int lfd = (int)(intptr_t)arg, one = 1;

    for (;;) {
        pthread_t t;
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            perror("accept");
            exit(1);
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&t, NULL, grpc_mode ? serve_grpc : serve,
                           (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    const char *port_file = NULL;
    int port = 0, lfd, one = 1, i, sig = 0;
    long watch = 0;
    struct timespec second = { 1, 0 };
    sigset_t set;
    pthread_t t;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--watch-pid") == 0 && i + 1 < argc) {
            watch = atol(argv[++i]);
        } else if (strcmp(argv[i], "--grpc") == 0) {
            grpc_mode = 1;
        } else {
            fprintf(stderr, "usage: %s [--grpc] [--port N] [--port-file PATH]"
                    " [--watch-pid PID]\n", argv[0]);
            return 2;
        }
    }
    /* Signals go to sigwait() below, not to the serving threads. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 64)
        || getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
        perror("bind");
        return 1;
    }
    port = ntohs(sa.sin_port);
    if (port_file) {
        char tmp[4096];
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s.%d.tmp", port_file, (int)getpid());
        f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f)
            || rename(tmp, port_file)) {
            perror("port file");
            return 1;
        }
    }
    printf("listening %d\n", port);
    fflush(stdout);
    if (pthread_create(&t, NULL, accept_loop, (void *)(intptr_t)lfd)) {
        perror("pthread_create");
        return 1;
    }
    while (sig <= 0) {
        sig = sigtimedwait(&set, NULL, &second);
        if (sig < 0 && watch > 0 && kill((pid_t)watch, 0) != 0
            && errno == ESRCH) {
            break;
        }
    }
    fprintf(stderr, "requests %llu bytes %llu\n",
            (unsigned long long)atomic_load(&n_requests),
            (unsigned long long)atomic_load(&n_bytes));
    return 0;
}
