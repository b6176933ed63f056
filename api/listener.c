#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stop.h"
#include "timefmt.h"

#define WS_PREFIX "GET /ws/"
#define WS_PREFIX_LEN (sizeof(WS_PREFIX) - 1)
/* A client that sent part of the prefix is looked at again after this long (its bytes keep poll() readable). */
#define PARTIAL_RECHECK_MS 10

typedef struct pending {
    int fd;
    int64_t deadline_ms;
    int64_t recheck_ms; /* 0: wait for readability; else look again at this time */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} pending_t;

struct api_listener {
    int fd;
    eh_stop_t *stop; /* tells the acceptor to stop */
    int port;
    int max_pending;
    int64_t peek_timeout_ms;
    api_http_adopt_fn http;
    void *http_ud;
    api_ws_adopt_fn ws;
    void *ws_ud;
    pthread_t thread;
    bool started, stopped;
    pending_t *pending;
    int npending;
    struct pollfd *pfds;
    int *pfd_owner; /* pfds[i] is pending[pfd_owner[i]] for i >= 2 */
};

static int bind_listen(const char *host, int port, int *bound_port)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "host", host), "cannot resolve EH_HTTP_HOST: %s",
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
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i, s:i}", "host", host, "port", port, "errno", err),
                  "cannot listen on %s:%d: %s", host, port, strerror(err));
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

api_listener_t *api_listener_create(const char *host, int port, int max_pending, int64_t peek_timeout_ms,
                                    api_http_adopt_fn http, void *http_ud)
{
    api_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->fd = -1;
    l->max_pending = max_pending > 0 ? max_pending : 1;
    l->peek_timeout_ms = peek_timeout_ms;
    l->http = http;
    l->http_ud = http_ud;
    l->pending = calloc((size_t)l->max_pending, sizeof(*l->pending));
    l->pfds = calloc((size_t)l->max_pending + 2, sizeof(*l->pfds));
    l->pfd_owner = calloc((size_t)l->max_pending + 2, sizeof(*l->pfd_owner));
    if (l->pending == NULL || l->pfds == NULL || l->pfd_owner == NULL)
        goto fail;
    l->stop = eh_stop_create();
    if (l->stop == NULL)
        goto fail;
    l->fd = bind_listen(host, port, &l->port);
    if (l->fd < 0)
        goto fail;
    return l;
fail:
    api_listener_destroy(l);
    return NULL;
}

void api_listener_set_ws_hook(api_listener_t *l, api_ws_adopt_fn fn, void *ud)
{
    l->ws = fn;
    l->ws_ud = ud;
}

int api_listener_port(const api_listener_t *l)
{
    return l->port;
}

/* Reads and drops what a client sent (a few KiB at most): unread bytes would turn close() into a reset. */
static void discard_input(int fd)
{
    char buf[512];
    for (int k = 0; k < 8 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; k++)
        ;
}

static void drop_pending(api_listener_t *l, int i, bool close_fd)
{
    if (close_fd)
        close(l->pending[i].fd);
    l->pending[i] = l->pending[--l->npending];
}

static void hand_over(api_listener_t *l, int i, bool websocket)
{
    pending_t p = l->pending[i];
    drop_pending(l, i, false);
    if (websocket) {
        l->ws(p.fd, l->ws_ud);
        return;
    }
    if (l->http(p.fd, (const struct sockaddr *)&p.addr, p.addrlen, l->http_ud) != EH_OK)
        eh_log_debug("connection refused by the HTTP daemon (limit reached)");
}

/* Looks at the first bytes of pending[i]; returns true when the entry was consumed (handed over or closed). */
static bool peek_one(api_listener_t *l, int i, int64_t now)
{
    pending_t *p = &l->pending[i];
    char buf[WS_PREFIX_LEN];
    ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drop_pending(l, i, true);
        return true;
    }
    if (n < 0)
        return false;
    bool prefix = memcmp(buf, WS_PREFIX, (size_t)n) == 0;
    if (!prefix || l->ws == NULL) {
        hand_over(l, i, false);
        return true;
    }
    if ((size_t)n == WS_PREFIX_LEN) {
        hand_over(l, i, true);
        return true;
    }
    p->recheck_ms = now + PARTIAL_RECHECK_MS;
    return false;
}

static void accept_all(api_listener_t *l, int64_t now)
{
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof(addr);
        int fd = accept4(l->fd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                eh_log_errno(EH_LOG_WARN, errno, "accept"); /* EMFILE and the like: try again on the next turn */
            return;
        }
        if (l->npending == l->max_pending) {
            eh_log_warn("too many connections waiting for their first bytes; closing a new one");
            close(fd);
            continue;
        }
        pending_t *p = &l->pending[l->npending++];
        *p = (pending_t){.fd = fd, .deadline_ms = now + l->peek_timeout_ms, .addrlen = addrlen};
        memcpy(&p->addr, &addr, addrlen);
    }
}

static void *acceptor_main(void *arg)
{
    api_listener_t *l = arg;
    for (;;) {
        int64_t now = eh_time_mono_ms();
        int64_t wake_at = INT64_MAX;
        l->pfds[0] = (struct pollfd){.fd = eh_stop_fd(l->stop), .events = POLLIN};
        l->pfds[1] = (struct pollfd){.fd = l->fd, .events = POLLIN};
        int nfds = 2;
        for (int i = 0; i < l->npending;) {
            pending_t *p = &l->pending[i];
            if (now >= p->deadline_ms) {
                discard_input(p->fd); /* a client that sent part of "GET /ws/" and stalled */
                drop_pending(l, i, true); /* silent client */
                continue;
            }
            if (p->recheck_ms != 0 && now >= p->recheck_ms) {
                p->recheck_ms = 0;
                if (peek_one(l, i, now))
                    continue;
            }
            int64_t at = p->recheck_ms != 0 ? p->recheck_ms : p->deadline_ms;
            if (at < wake_at)
                wake_at = at;
            if (p->recheck_ms == 0) {
                l->pfds[nfds] = (struct pollfd){.fd = p->fd, .events = POLLIN};
                l->pfd_owner[nfds++] = i;
            }
            i++;
        }
        int timeout = wake_at == INT64_MAX ? -1 : (int)(wake_at - now > 0 ? wake_at - now : 0);
        int ready = poll(l->pfds, (nfds_t)nfds, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            eh_log_errno(EH_LOG_ERROR, errno, "acceptor poll");
            break;
        }
        if (l->pfds[0].revents != 0)
            break;
        now = eh_time_mono_ms();
        /* Walk backwards: peek_one may move the last pending entry into slot i. */
        for (int k = nfds - 1; k >= 2; k--) {
            if (l->pfds[k].revents != 0)
                (void)peek_one(l, l->pfd_owner[k], now);
        }
        if (l->pfds[1].revents != 0)
            accept_all(l, now);
    }
    return NULL;
}

int api_listener_start(api_listener_t *l)
{
    if (pthread_create(&l->thread, NULL, acceptor_main, l) != 0) {
        eh_log_error("cannot start the acceptor thread");
        return EH_ERR;
    }
    l->started = true;
    return EH_OK;
}

void api_listener_stop(api_listener_t *l)
{
    if (l == NULL || l->stopped)
        return;
    l->stopped = true;
    if (l->started) {
        eh_stop_request(l->stop);
        pthread_join(l->thread, NULL);
    }
    while (l->npending > 0)
        drop_pending(l, l->npending - 1, true);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

void api_listener_destroy(api_listener_t *l)
{
    if (l == NULL)
        return;
    api_listener_stop(l);
    eh_stop_destroy(l->stop);
    free(l->pending);
    free(l->pfds);
    free(l->pfd_owner);
    free(l);
}
