// The floor of a proxy hop: one thread, epoll, bytes copied between a client and its own
#define _GNU_SOURCE
// upstream connection, nothing parsed. Usage: forward LISTEN_PORT UPSTREAM_PORT
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#define MAXFD 65536
static int peer[MAXFD];
static void nodelay(int fd) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
static struct sockaddr_in addr(int port) { struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001); return a; }
static int sendall(int fd, const char *b, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w > 0) { b += w; n -= w; continue; }
        if (w < 0 && errno == EAGAIN) { struct pollfd p = {fd, POLLOUT, 0}; if (poll(&p, 1, 10000) <= 0) return -1; continue; }
        return -1;
    }
    return 0;
}
int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: forward LISTEN_PORT UPSTREAM_PORT\n"); return 2; }
    struct sockaddr_in la = addr(atoi(argv[1])), ua = addr(atoi(argv[2]));
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (void *)&la, sizeof la) || listen(l, 1024)) { perror("listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static char buf[1 << 16];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, 0, 0, SOCK_NONBLOCK)) >= 0) {
                    int u = socket(AF_INET, SOCK_STREAM, 0);
                    if (c >= MAXFD || u < 0 || u >= MAXFD || connect(u, (void *)&ua, sizeof ua)) { close(c); if (u >= 0) close(u); continue; }
                    fcntl(u, F_SETFL, O_NONBLOCK); nodelay(c); nodelay(u);
                    peer[c] = u; peer[u] = c;
                    ev.events = EPOLLIN; ev.data.fd = c; epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                    ev.data.fd = u; epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0 || sendall(peer[fd], buf, r)) { int p = peer[fd]; close(fd); close(p); }
        }
    }
}
