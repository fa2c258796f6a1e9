// C shim for ccload: system headers, plus static-inline wrappers for macros and
// variadic calls Swift cannot import. No logic lives here.
#ifndef CCLOAD_CEPOLL_H
#define CCLOAD_CEPOLL_H

// Swift's Glibc module is built without _GNU_SOURCE, so this header must not define
// it either (the two would disagree about glibc's types). GNU-only calls are
// declared here and defined in shim.c, which does define it.

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tls_shim.h"
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "sqlite_shim.h"

// ---- sockets and epoll ----

int cc_accept4(int fd);
int cc_pin_thread(int cpu);
/// glibc memmem (GNU): the first `needle` in `haystack`, or NULL.
const void *cc_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

static inline int cc_socket_nonblock(int family) {
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static inline int cc_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static inline int cc_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

static inline int cc_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

static inline uint64_t cc_epoll_event_data(const struct epoll_event *ev) { return ev->data.u64; }
static inline uint32_t cc_epoll_event_events(const struct epoll_event *ev) { return ev->events; }

static inline int cc_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}

static inline int cc_getsockopt_error(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

static inline int cc_errno(void) { return errno; }

static inline uint64_t cc_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t cc_realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

// Signals: block the shutdown/reload signals in the calling thread (threads created
// after inherit the mask) and wait for one of them synchronously.
static inline int cc_block_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static inline int cc_wait_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return -1;
    return sig;
}

// Like cc_wait_signal, giving up after `ms` milliseconds (returns 0 then).
static inline int cc_wait_signal_timeout(int ms) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    return sig;
}

static inline void cc_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

static inline int cc_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#endif
