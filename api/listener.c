/*
 * The acceptor: one thread, one epoll set (edge-triggered for the
 * connections it holds), no table that one client can fill.
 *
 * A connection is held here, costing a socket and a slot, until its request
 * head (request line and headers, up to the blank line) has arrived; only
 * then does it reach a thread of libmicrohttpd or libwebsockets. The bytes
 * are looked at with MSG_PEEK, never consumed. Limits, so that one client
 * cannot stall the others:
 *   - per connection: the head must be complete within head_timeout_ms of
 *     the accept (a deadline that a byte every few seconds does not move,
 *     unlike an idle timeout: slowloris);
 *   - per peer address: at most pending_per_peer connections held at once;
 *     more are closed at accept;
 *   - overall: max_pending slots; when they are all taken the oldest held
 *     connection gives way to the new one, so a flood delays itself only.
 * accept() failing for want of descriptors (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM) pauses accepting with back-off instead of spinning on a
 * listening socket that stays readable.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "net.h"
#include "peers.h"
#include "request_head.h"
#include "stop.h"
#include "timefmt.h"

#define EVENTS_PER_WAIT 256
#define ACCEPTS_PER_TURN 256 /* then the held connections get their turn */
#define ACCEPT_PAUSE_MIN_MS 50
#define ACCEPT_PAUSE_MAX_MS 2000
#define REFUSAL_LOG_EVERY_MS 10000 /* at most one warning per this long about refused connections */

#define TAG_STOP UINT64_MAX
#define TAG_LISTEN (UINT64_MAX - 1)

typedef struct pending {
    int fd; /* -1: free slot */
    uint32_t gen;
    int64_t accepted_ms;
    api_peer_key_t peer;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} pending_t;

struct api_listener {
    int fd;
    int ep; /* epoll set */
    eh_stop_t *stop;
    int port;
    api_listener_limits_t lim;
    api_http_adopt_fn http;
    void *http_ud;
    api_ws_adopt_fn ws;
    void *ws_ud;
    pthread_t thread;
    bool started, stopped;

    /* The acceptor thread's own. */
    pending_t *slots; /* lim.max_pending entries */
    int *free_slots;  /* stack of free slot indexes */
    int nfree;
    api_peers_t *peers;
    char *peekbuf; /* API_HEAD_PEEK_MAX bytes */
    eh_backoff_t accept_backoff;
    bool accept_paused;
    int64_t accept_resume_ms;
    int64_t next_expiry_ms; /* no held connection expires before this */
    int64_t refusal_log_ms; /* when the refusals were last logged */
    uint64_t refused_per_peer, evicted, expired, refused_since_log;
};

static int ep_add(int ep, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

api_listener_t *api_listener_create(const char *host, int port, const api_listener_limits_t *lim,
                                    api_http_adopt_fn http, void *http_ud)
{
    api_listener_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->fd = l->ep = -1;
    l->lim = *lim;
    if (l->lim.max_pending < 1)
        l->lim.max_pending = 1;
    if (l->lim.pending_per_peer < 1)
        l->lim.pending_per_peer = l->lim.max_pending;
    if (l->lim.head_timeout_ms < 1)
        l->lim.head_timeout_ms = 1;
    l->http = http;
    l->http_ud = http_ud;
    eh_backoff_init(&l->accept_backoff, ACCEPT_PAUSE_MIN_MS, ACCEPT_PAUSE_MAX_MS);
    l->slots = calloc((size_t)l->lim.max_pending, sizeof(*l->slots));
    l->free_slots = calloc((size_t)l->lim.max_pending, sizeof(*l->free_slots));
    l->peekbuf = malloc(API_HEAD_PEEK_MAX);
    l->peers = api_peers_create();
    if (l->slots == NULL || l->free_slots == NULL || l->peekbuf == NULL || l->peers == NULL)
        goto fail;
    for (int i = l->lim.max_pending - 1; i >= 0; i--) {
        l->slots[i].fd = -1;
        l->free_slots[l->nfree++] = i;
    }
    l->stop = eh_stop_create();
    if (l->stop == NULL)
        goto fail;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "epoll_create1");
        goto fail;
    }
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    l->fd = eh_net_listen("EH_HTTP_HOST/EH_HTTP_PORT", host, service, SOMAXCONN, &l->port);
    if (l->fd < 0)
        goto fail;
    if (ep_add(l->ep, eh_stop_fd(l->stop), EPOLLIN, TAG_STOP) != 0 || ep_add(l->ep, l->fd, EPOLLIN, TAG_LISTEN) != 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "epoll_ctl");
        goto fail;
    }
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

/* Frees slot i; closes its socket when close_fd (otherwise it was handed over). */
static void release(api_listener_t *l, int i, bool close_fd)
{
    pending_t *p = &l->slots[i];
    if (close_fd) {
        discard_input(p->fd);
        close(p->fd); /* also leaves the epoll set */
    } else if (epoll_ctl(l->ep, EPOLL_CTL_DEL, p->fd, NULL) != 0) {
        eh_log_errno(EH_LOG_WARN, errno, "epoll_ctl del");
    }
    api_peers_remove(l->peers, &p->peer);
    p->fd = -1;
    p->gen++;
    l->free_slots[l->nfree++] = i;
}

static void hand_over(api_listener_t *l, int i, bool websocket)
{
    pending_t p = l->slots[i];
    release(l, i, false);
    if (websocket) {
        l->ws(p.fd, l->ws_ud);
        return;
    }
    if (l->http(p.fd, (const struct sockaddr *)&p.addr, p.addrlen, l->http_ud) != EH_OK)
        eh_log_debug("connection refused by the HTTP daemon (limit reached)");
}

/* Looks at what slot i's client sent so far; hands it over once its head is complete. */
static void inspect(api_listener_t *l, int i)
{
    pending_t *p = &l->slots[i];
    ssize_t n = recv(p->fd, l->peekbuf, API_HEAD_PEEK_MAX, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        release(l, i, true); /* closed by the client, or reset */
        return;
    }
    api_head_verdict_t v = api_head_classify(l->peekbuf, (size_t)n, l->ws != NULL);
    if (v == API_HEAD_WAIT)
        return; /* the next bytes raise another edge */
    hand_over(l, i, v == API_HEAD_WEBSOCKET);
}

static void log_refusals(api_listener_t *l, int64_t now)
{
    if (l->refused_since_log == 0 || now - l->refusal_log_ms < REFUSAL_LOG_EVERY_MS)
        return;
    eh_log_kv(EH_LOG_WARN,
              json_pack("{s:I, s:I, s:I, s:I}", "refused_since_last", (json_int_t)l->refused_since_log,
                        "refused_per_peer", (json_int_t)l->refused_per_peer, "evicted", (json_int_t)l->evicted,
                        "expired", (json_int_t)l->expired),
              "connections refused: too many from one address still sending their request head "
              "(EH_HTTP_PENDING_PER_IP) or all slots taken (the oldest gave way)");
    l->refused_since_log = 0;
    l->refusal_log_ms = now;
}

/* Frees the slot of the oldest held connection, for a new one. */
static void evict_oldest(api_listener_t *l)
{
    int oldest = -1;
    for (int i = 0; i < l->lim.max_pending; i++)
        if (l->slots[i].fd >= 0 && (oldest < 0 || l->slots[i].accepted_ms < l->slots[oldest].accepted_ms))
            oldest = i;
    if (oldest >= 0) {
        release(l, oldest, true);
        l->evicted++;
        l->refused_since_log++;
    }
}

static void hold(api_listener_t *l, int fd, const struct sockaddr_storage *addr, socklen_t addrlen, int64_t now)
{
    api_peer_key_t peer;
    api_peer_key_from((const struct sockaddr *)addr, addrlen, &peer);
    if (api_peers_count(l->peers, &peer) >= l->lim.pending_per_peer) {
        close(fd);
        l->refused_per_peer++;
        l->refused_since_log++;
        return;
    }
    if (l->nfree == 0)
        evict_oldest(l);
    if (l->nfree == 0 || api_peers_add(l->peers, &peer) != EH_OK) {
        close(fd);
        return;
    }
    int i = l->free_slots[--l->nfree];
    pending_t *p = &l->slots[i];
    p->fd = fd;
    p->accepted_ms = now;
    p->peer = peer;
    p->addrlen = addrlen;
    memcpy(&p->addr, addr, addrlen);
    if (ep_add(l->ep, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, ((uint64_t)p->gen << 32) | (uint32_t)i) != 0) {
        eh_log_errno(EH_LOG_WARN, errno, "epoll_ctl add");
        release(l, i, true);
        return;
    }
    if (now + l->lim.head_timeout_ms < l->next_expiry_ms)
        l->next_expiry_ms = now + l->lim.head_timeout_ms;
    /* The head often came with the connection: hand it over now, so that a burst of clients from one address is
     * counted against EH_HTTP_PENDING_PER_IP only for what really waits. */
    inspect(l, i);
}

static void pause_accepting(api_listener_t *l, int err, int64_t now)
{
    int64_t delay = eh_backoff_fail(&l->accept_backoff, now);
    struct epoll_event ev = {.events = 0, .data.u64 = TAG_LISTEN};
    if (epoll_ctl(l->ep, EPOLL_CTL_MOD, l->fd, &ev) != 0)
        eh_log_errno(EH_LOG_WARN, errno, "epoll_ctl mod");
    l->accept_paused = true;
    l->accept_resume_ms = now + delay;
    if (l->accept_backoff.failures == 1)
        eh_log_kv(EH_LOG_WARN, json_pack("{s:i, s:I}", "errno", err, "pause_ms", (json_int_t)delay),
                  "accept: out of descriptors (%s); accepting paused with back-off", strerror(err));
}

static void resume_accepting(api_listener_t *l)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    if (epoll_ctl(l->ep, EPOLL_CTL_MOD, l->fd, &ev) != 0)
        eh_log_errno(EH_LOG_WARN, errno, "epoll_ctl mod");
    l->accept_paused = false;
}

static void accept_some(api_listener_t *l, int64_t now)
{
    for (int k = 0; k < ACCEPTS_PER_TURN; k++) {
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof(addr);
        int fd = accept4(l->fd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED)
                continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                pause_accepting(l, err, now);
            else if (err != EAGAIN && err != EWOULDBLOCK)
                eh_log_errno(EH_LOG_WARN, err, "accept");
            return;
        }
        if (l->accept_backoff.failures > 0) {
            eh_log_info("accept: descriptors available again after %d pause(s)", l->accept_backoff.failures);
            eh_backoff_reset(&l->accept_backoff);
        }
        hold(l, fd, &addr, addrlen, now);
    }
}

/* Closes the connections whose head did not arrive in time; returns the next deadline. */
static void expire(api_listener_t *l, int64_t now)
{
    if (now < l->next_expiry_ms)
        return;
    int64_t next = INT64_MAX;
    for (int i = 0; i < l->lim.max_pending; i++) {
        pending_t *p = &l->slots[i];
        if (p->fd < 0)
            continue;
        int64_t deadline = p->accepted_ms + l->lim.head_timeout_ms;
        if (now >= deadline) {
            release(l, i, true);
            l->expired++;
            continue;
        }
        if (deadline < next)
            next = deadline;
    }
    l->next_expiry_ms = next;
}

static int wait_timeout(const api_listener_t *l, int64_t now)
{
    int64_t at = l->next_expiry_ms;
    if (l->accept_paused && l->accept_resume_ms < at)
        at = l->accept_resume_ms;
    if (l->refused_since_log > 0 && l->refusal_log_ms + REFUSAL_LOG_EVERY_MS < at)
        at = l->refusal_log_ms + REFUSAL_LOG_EVERY_MS;
    if (at == INT64_MAX)
        return -1;
    int64_t ms = at - now;
    return ms <= 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

static void *acceptor_main(void *arg)
{
    api_listener_t *l = arg;
    struct epoll_event events[EVENTS_PER_WAIT];
    l->next_expiry_ms = INT64_MAX;
    while (!eh_stop_requested(l->stop)) {
        int64_t now = eh_time_mono_ms();
        int n = epoll_wait(l->ep, events, EVENTS_PER_WAIT, wait_timeout(l, now));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            eh_log_errno(EH_LOG_ERROR, errno, "acceptor epoll_wait");
            break;
        }
        now = eh_time_mono_ms();
        bool accept_ready = false;
        for (int k = 0; k < n; k++) {
            uint64_t tag = events[k].data.u64;
            if (tag == TAG_STOP)
                return NULL;
            if (tag == TAG_LISTEN) {
                accept_ready = true;
                continue;
            }
            int i = (int)(uint32_t)tag;
            if (i < l->lim.max_pending && l->slots[i].fd >= 0 && l->slots[i].gen == (uint32_t)(tag >> 32))
                inspect(l, i);
        }
        expire(l, now);
        if (l->accept_paused && now >= l->accept_resume_ms) {
            resume_accepting(l);
            accept_ready = true;
        }
        if (accept_ready)
            accept_some(l, now);
        log_refusals(l, now);
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
    for (int i = 0; l->slots != NULL && i < l->lim.max_pending; i++)
        if (l->slots[i].fd >= 0)
            release(l, i, true);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

void api_listener_destroy(api_listener_t *l)
{
    if (l == NULL)
        return;
    api_listener_stop(l);
    if (l->ep >= 0)
        close(l->ep);
    eh_stop_destroy(l->stop);
    api_peers_destroy(l->peers);
    free(l->slots);
    free(l->free_slots);
    free(l->peekbuf);
    free(l);
}
