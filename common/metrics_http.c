/*
 * The /metrics listener: a thread that accepts one connection at a time,
 * reads its request head (bounded in bytes and time), answers GET /metrics
 * with the registry's text and anything else with 404/405, and closes.
 *
 * It is for a scraper on a private address, not for the public: no
 * keep-alive, no concurrency, a short deadline per connection so that a
 * silent client holds it at most that long. It needs no HTTP library, so
 * eh-worker (which links no libmicrohttpd) serves its metrics the same way
 * eh-api does.
 *
 * eh-worker's supervisor forks with this thread running. A child gets a
 * copy of memory but only the forking thread, so any lock the listener held
 * at that moment (an allocator's, under the sanitizers) stays locked in
 * the child forever. The listener therefore allocates only while rendering,
 * under render_lock, which the supervisor holds across fork(); its start-up
 * is over before eh_metrics_server_start returns.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
#include "timefmt.h"

/* The lingering close after an answer (the listener serves one connection at a time: keep it short). */
#define LINGER_MS 200
#define LINGER_BYTES (64 * 1024)
#define HEAD_MAX 4096
#define CONN_DEADLINE_MS 2000

struct eh_metrics_server {
    eh_metrics_t *reg;
    int fd;
    int wake_fd;
    int port;
    pthread_t thread;
    /*
     * Held while the thread renders (the only time it allocates), and by
     * the supervisor across fork(): a child forked mid-render would inherit
     * memory that no thread of its own holds, and the leak checker (rightly)
     * reports it. The rendered text lives in out, reachable from s.
     */
    pthread_mutex_t render_lock;
    eh_buf_t out;
    sem_t running; /* posted once the thread is in its loop: its start-up allocations are over */
};

/* Splits "host:port" / "[v6]:port" into host and port. EH_OK or EH_DECLINED. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return EH_DECLINED;
        snprintf(host, hostlen, "%.*s", (int)(close - addr - 1), addr + 1);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return EH_DECLINED;
        snprintf(host, hostlen, "%.*s", (int)(colon - addr), addr);
    }
    snprintf(port, portlen, "%s", colon + 1);
    return port[0] != '\0' && host[0] != '\0' ? EH_OK : EH_DECLINED;
}

static int bind_addr(const char *addr, int *bound_port)
{
    char host[256], port[16];
    if (split_addr(addr, host, sizeof(host), port, sizeof(port)) != EH_OK) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "addr", addr), "metrics address is not host:port");
        return -1;
    }
    return eh_net_listen("the metrics address", host, port, 16, bound_port);
}

/* Waits until fd is readable or the deadline passes; true when ready. */
static bool wait_readable(int fd, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - eh_time_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

/* Reads the request head; its length, or 0 when the client sent none in time. */
static size_t read_head(int fd, char *head, int64_t deadline)
{
    size_t got = 0;
    while (got < HEAD_MAX - 1) {
        ssize_t n = recv(fd, head + got, HEAD_MAX - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
            head[got] = '\0';
            if (strstr(head, "\r\n\r\n") != NULL || strstr(head, "\n\n") != NULL)
                return got;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 0;
        if (!wait_readable(fd, deadline))
            return 0;
    }
    return got; /* a huge head: answer what its request line asks */
}

static void respond(int fd, int64_t deadline, const char *status, const char *type, const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     type, len);
    if (eh_net_send_all(fd, head, (size_t)n, deadline))
        (void)eh_net_send_all(fd, body, len, deadline);
}

static void serve_one(eh_metrics_server_t *s, int fd)
{
    int64_t deadline = eh_time_mono_ms() + CONN_DEADLINE_MS;
    char head[HEAD_MAX];
    if (read_head(fd, head, deadline) == 0)
        return;
    bool get = strncmp(head, "GET ", 4) == 0, is_head = strncmp(head, "HEAD ", 5) == 0;
    const char *space = strchr(head, ' ');
    if (space == NULL)
        return;
    const char *target = space + 1;
    bool metrics = strncmp(target, "/metrics", 8) == 0 && (target[8] == ' ' || target[8] == '?');
    static const char text[] = "text/plain; charset=utf-8";
    if (!metrics) {
        respond(fd, deadline, "404 Not Found", text, "not found: try /metrics\n", 24);
        return;
    }
    if (!get && !is_head) {
        respond(fd, deadline, "405 Method Not Allowed", text, "GET only\n", 9);
        return;
    }
    pthread_mutex_lock(&s->render_lock);
    eh_buf_reset(&s->out);
    int rendered = eh_metrics_render(s->reg, &s->out);
    pthread_mutex_unlock(&s->render_lock);
    if (rendered != EH_OK) {
        respond(fd, deadline, "500 Internal Server Error", text, "out of memory\n", 14);
        return;
    }
    deadline = eh_time_mono_ms() + CONN_DEADLINE_MS; /* collectors may have waited on a dependency */
    respond(fd, deadline, "200 OK", "text/plain; version=0.0.4; charset=utf-8", is_head ? "" : s->out.p,
            is_head ? 0 : s->out.len);
}

static void *server_main(void *arg)
{
    eh_metrics_server_t *s = arg;
    if (sem_post(&s->running) != 0)
        eh_log_errno(EH_LOG_WARN, errno, "metrics thread: sem_post");
    for (;;) {
        struct pollfd p[2] = {{.fd = s->wake_fd, .events = POLLIN}, {.fd = s->fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            eh_log_errno(EH_LOG_ERROR, errno, "metrics listener poll");
            return NULL;
        }
        if (p[0].revents != 0)
            return NULL;
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* EAGAIN, an aborted connection, EMFILE: the next turn tries again */
        serve_one(s, fd);
        /* A body we did not read (a refused POST) would reset the answer away at close. */
        (void)eh_net_linger(fd, LINGER_MS, LINGER_MS, LINGER_BYTES);
        close(fd);
    }
}

eh_metrics_server_t *eh_metrics_server_start(const char *addr, eh_metrics_t *reg)
{
    eh_metrics_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->reg = reg;
    s->out = (eh_buf_t)EH_BUF_INIT;
    if (pthread_mutex_init(&s->render_lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    if (sem_init(&s->running, 0, 0) != 0) {
        pthread_mutex_destroy(&s->render_lock);
        free(s);
        return NULL;
    }
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->fd = s->wake_fd >= 0 ? bind_addr(addr, &s->port) : -1;
    if (s->fd < 0 || pthread_create(&s->thread, NULL, server_main, s) != 0) {
        if (s->fd >= 0)
            eh_log_error("cannot start the metrics thread");
        if (s->fd >= 0)
            close(s->fd);
        if (s->wake_fd >= 0)
            close(s->wake_fd);
        pthread_mutex_destroy(&s->render_lock);
        sem_destroy(&s->running);
        free(s);
        return NULL;
    }
    /* The supervisor forks right after this: not while the new thread may still hold an allocator lock. */
    while (sem_wait(&s->running) != 0 && errno == EINTR)
        ;
    return s;
}

int eh_metrics_server_port(const eh_metrics_server_t *s)
{
    return s != NULL ? s->port : 0;
}

void eh_metrics_server_stop(eh_metrics_server_t *s)
{
    if (s == NULL)
        return;
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        eh_log_errno(EH_LOG_WARN, errno, "waking the metrics thread");
    pthread_join(s->thread, NULL);
    close(s->fd);
    close(s->wake_fd);
    pthread_mutex_destroy(&s->render_lock);
    sem_destroy(&s->running);
    eh_buf_free(&s->out);
    free(s);
}

void eh_metrics_server_fork_prepare(eh_metrics_server_t *s)
{
    if (s != NULL)
        pthread_mutex_lock(&s->render_lock);
}

void eh_metrics_server_fork_parent(eh_metrics_server_t *s)
{
    if (s != NULL)
        pthread_mutex_unlock(&s->render_lock);
}

void eh_metrics_server_forget(eh_metrics_server_t *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    close(s->wake_fd);
    /* The forking thread holds the lock (fork_prepare), and in the child it is this thread. */
    pthread_mutex_unlock(&s->render_lock);
    pthread_mutex_destroy(&s->render_lock);
    sem_destroy(&s->running);
    eh_buf_free(&s->out);
    free(s);
}
