/*
 * A minimal HTTP/1.1 sink for the export benchmark (bench/export_bench.lua):
 * reads each request's body (Content-Length), throws it away and answers
 * 200 with an empty body, keeping the connection alive.  It does as little
 * as possible so that the benchmark measures the exporter, not the
 * receiver.  Loopback only; one thread per connection.
 *
 *   discard_server [--port N] [--port-file PATH] [--watch-pid PID]
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
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
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
        } else {
            fprintf(stderr, "usage: %s [--port N] [--port-file PATH]"
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
