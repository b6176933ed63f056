#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

int eh_net_listen(const char *what, const char *host, const char *service, int backlog, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:s}", "setting", what, "host", host), "cannot resolve %s: %s", what,
                  gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        eh_log_kv(EH_LOG_ERROR,
                  json_pack("{s:s, s:s, s:s, s:i}", "setting", what, "host", host, "port", service, "errno", err),
                  "cannot listen on %s:%s (%s): %s", host, service, what, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "getsockname");
        close(fd);
        return -1;
    }
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Waits until fd is ready for events or the deadline passes (at most cap_ms from now); true when ready. */
static bool wait_fd(int fd, short events, int64_t deadline_ms, int64_t cap_ms)
{
    for (;;) {
        int64_t left = deadline_ms - eh_time_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left < cap_ms ? left : cap_ms));
        if (n > 0)
            return true;
        if (n == 0 && left > cap_ms)
            return false; /* silent for cap_ms */
        if (n < 0 && errno != EINTR)
            return false;
    }
}

bool eh_net_send_all(int fd, const char *p, size_t n, int64_t deadline_ms)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        if (w == 0 || !wait_fd(fd, POLLOUT, deadline_ms, INT32_MAX))
            return false;
    }
    return true;
}

uint64_t eh_net_linger(int fd, int64_t total_ms, int64_t idle_ms, uint64_t max_bytes)
{
    if (shutdown(fd, SHUT_WR) != 0)
        return 0;
    static char sink[64 * 1024]; /* MSG_TRUNC: TCP drops the bytes without copying them here */
    int64_t deadline = eh_time_mono_ms() + total_ms;
    uint64_t dropped = 0;
    while (dropped < max_bytes && wait_fd(fd, POLLIN, deadline, idle_ms)) {
        ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT | MSG_TRUNC);
        if (r > 0) {
            dropped += (uint64_t)r;
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
    }
    return dropped;
}
