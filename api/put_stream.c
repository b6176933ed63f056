/*
 * The S3 PUT of an upload while its body is still arriving.
 *
 * Receiving a GiB and then sending it to S3 adds the two times up; when the
 * file's exact length can be told from the request's Content-Length (see
 * upload.c), a thread PUTs the file as it arrives. The first bytes (those
 * read before the upload was known to be worth streaming) come from the
 * spool file; everything after goes through a bounded ring in memory and
 * never touches the disk or the page cache: writing a GiB into fresh
 * page-cache pages and reading it back cost more CPU than the rest of the
 * request path together (NOTES.md, "Upload speed").
 *
 * The ring is bounded by suspending the connection: when it holds RING_HIGH
 * bytes the access handler suspends it (libmicrohttpd then stops reading
 * the socket, and TCP slows the client), and the PUT thread resumes it once
 * the ring is down to RING_LOW. Both happen under the ring's lock, so a
 * resume always follows its suspend. The daemon cannot stop with a
 * connection suspended: api_put_stream_cancel_all, at shutdown, makes every
 * PUT end, which resumes its connection.
 *
 * The last byte is held back until the upload has passed every check
 * (api_put_stream_commit): an upload refused at the end leaves the PUT
 * short of its announced length, which S3 does not store (and the partial
 * object some servers keep anyway is deleted).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "stop.h"
#include "timefmt.h"

/* The ring: suspend above RING_HIGH, resume at RING_LOW; RING_SLACK takes what one handler call still delivers. */
#define RING_HIGH (4u * 1024 * 1024)
#define RING_LOW (2u * 1024 * 1024)
#define RING_SLACK (1u * 1024 * 1024)
#define RING_CAP (RING_HIGH + RING_SLACK)
/* Rings in memory at once (RING_CAP each); more uploads at once are stored after they arrive. */
#define STREAMS_MAX 8
/* What pads a PUT whose announced length turned out too long (the object is then copied, see upload_store.c). */
#define FILLER_BYTE '\n'

struct api_put_stream {
    eh_s3_t *s3;
    char key[EH_OBJECT_KEY_MAX];
    int fd;              /* the spool file holding the first prefix_len bytes */
    uint64_t prefix_len; /* read from fd before the ring */
    uint64_t len;        /* announced to S3 */
    struct MHD_Connection *conn;
    pthread_t thread;
    bool joined;
    api_put_stream_t *next; /* in the registry (cancel_all) */

    pthread_mutex_t lock;
    pthread_cond_t more;  /* data, commit or cancel for the PUT thread */
    pthread_cond_t space; /* room in the ring, or the end of the PUT, for a writer */
    char *ring;
    size_t head;     /* read index */
    size_t count;    /* bytes in the ring */
    uint64_t pushed; /* bytes of the file after the prefix handed over so far */
    uint64_t sent;   /* bytes handed to libs3 (PUT thread only, read under the lock) */
    bool paused;     /* we suspended conn; only a resume clears it */
    bool committed;
    bool cancelled;
    bool ended; /* the PUT returned */
    int rc;     /* the PUT's result, once ended */
    eh_s3_error_t err;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static api_put_stream_t *registry;
static int registry_count;

static bool registry_add(api_put_stream_t *ps)
{
    pthread_mutex_lock(&registry_lock);
    bool room = registry_count < STREAMS_MAX;
    if (room) {
        ps->next = registry;
        registry = ps;
        registry_count++;
    }
    pthread_mutex_unlock(&registry_lock);
    return room;
}

static void registry_remove(api_put_stream_t *ps)
{
    pthread_mutex_lock(&registry_lock);
    for (api_put_stream_t **pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ps) {
            *pp = ps->next;
            registry_count--;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

/* Under ps->lock: lets the connection read again once the ring has drained (or the PUT is over). */
static void resume_if_drained(api_put_stream_t *ps)
{
    if (ps->paused && (ps->count <= RING_LOW || ps->ended || ps->cancelled)) {
        ps->paused = false;
        MHD_resume_connection(ps->conn);
    }
}

static ssize_t read_prefix(api_put_stream_t *ps, char *buf, size_t max)
{
    size_t n = ps->prefix_len - ps->sent < max ? (size_t)(ps->prefix_len - ps->sent) : max;
    for (;;) {
        ssize_t r = pread(ps->fd, buf, n, (off_t)ps->sent);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            eh_log_errno(EH_LOG_ERROR, r < 0 ? errno : EIO, "read spool file for the S3 PUT");
            return -1;
        }
        return r;
    }
}

/* libs3's read callback: the prefix from the spool, then the ring; waits for data, holds the last byte back. */
static ssize_t read_next(void *ud, char *buf, size_t max)
{
    api_put_stream_t *ps = ud;
    ssize_t r;
    if (ps->sent < ps->prefix_len) {
        r = read_prefix(ps, buf, max);
    } else {
        pthread_mutex_lock(&ps->lock);
        for (;;) {
            uint64_t limit = ps->committed ? ps->len : ps->len - 1;
            uint64_t have = ps->prefix_len + ps->pushed;
            if (ps->cancelled || (ps->count > 0 && ps->sent < limit && ps->sent < have))
                break;
            pthread_cond_wait(&ps->more, &ps->lock);
        }
        if (ps->cancelled) {
            resume_if_drained(ps);
            pthread_mutex_unlock(&ps->lock);
            return -1;
        }
        uint64_t limit = ps->committed ? ps->len : ps->len - 1;
        size_t n = ps->count < max ? ps->count : max;
        if (n > limit - ps->sent)
            n = (size_t)(limit - ps->sent);
        size_t first = RING_CAP - ps->head < n ? RING_CAP - ps->head : n;
        memcpy(buf, ps->ring + ps->head, first);
        memcpy(buf + first, ps->ring, n - first);
        ps->head = (ps->head + n) % RING_CAP;
        ps->count -= n;
        pthread_cond_signal(&ps->space);
        resume_if_drained(ps);
        pthread_mutex_unlock(&ps->lock);
        r = (ssize_t)n;
    }
    if (r > 0) {
        pthread_mutex_lock(&ps->lock);
        ps->sent += (uint64_t)r;
        pthread_mutex_unlock(&ps->lock);
    }
    return r;
}

static void *put_main(void *arg)
{
    api_put_stream_t *ps = arg;
    eh_s3_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = eh_s3_put_stream(ps->s3, ps->key, ps->len, read_next, ps, &err);
    pthread_mutex_lock(&ps->lock);
    ps->rc = rc;
    ps->err = err;
    ps->ended = true;
    resume_if_drained(ps);
    pthread_cond_broadcast(&ps->space);
    pthread_mutex_unlock(&ps->lock);
    return NULL;
}

static void free_stream(api_put_stream_t *ps)
{
    pthread_cond_destroy(&ps->space);
    pthread_cond_destroy(&ps->more);
    pthread_mutex_destroy(&ps->lock);
    free(ps->ring);
    free(ps);
}

api_put_stream_t *api_put_stream_start(eh_s3_t *s3, const char *key, int fd, uint64_t prefix_len, uint64_t len,
                                       struct MHD_Connection *conn)
{
    if (len == 0 || prefix_len >= len)
        return NULL;
    api_put_stream_t *ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
        return NULL;
    ps->s3 = s3;
    snprintf(ps->key, sizeof(ps->key), "%s", key);
    ps->fd = fd;
    ps->prefix_len = prefix_len;
    ps->len = len;
    ps->conn = conn;
    ps->ring = malloc(RING_CAP);
    if (ps->ring == NULL) {
        free(ps);
        return NULL;
    }
    if (pthread_mutex_init(&ps->lock, NULL) != 0) {
        free(ps->ring);
        free(ps);
        return NULL;
    }
    bool more_ok = pthread_cond_init(&ps->more, NULL) == 0;
    if (!more_ok || pthread_cond_init(&ps->space, NULL) != 0) {
        eh_log_warn("cannot set up the streaming PUT; the upload is stored after it has arrived");
        if (more_ok)
            pthread_cond_destroy(&ps->more);
        pthread_mutex_destroy(&ps->lock);
        free(ps->ring);
        free(ps);
        return NULL;
    }
    if (!registry_add(ps)) {
        free_stream(ps);
        return NULL; /* enough rings in memory: this upload is stored after it arrives */
    }
    int rc = pthread_create(&ps->thread, NULL, put_main, ps);
    if (rc != 0) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:i}", "errno", rc),
                  "cannot start the streaming PUT; the upload is stored after it has arrived");
        registry_remove(ps);
        free_stream(ps);
        return NULL;
    }
    return ps;
}

/* Under ps->lock: waits until n bytes fit in the ring (or the PUT is over). False when the PUT is over. */
static bool wait_room(api_put_stream_t *ps, size_t n)
{
    while (!ps->ended && !ps->cancelled && RING_CAP - ps->count < n)
        pthread_cond_wait(&ps->space, &ps->lock);
    return !ps->ended && !ps->cancelled;
}

/* Under ps->lock: copies n bytes into the ring (room is there), or n filler bytes when data is NULL. */
static void ring_write(api_put_stream_t *ps, const char *data, size_t n)
{
    size_t tail = (ps->head + ps->count) % RING_CAP;
    size_t first = RING_CAP - tail < n ? RING_CAP - tail : n;
    if (data != NULL) {
        memcpy(ps->ring + tail, data, first);
        memcpy(ps->ring, data + first, n - first);
    } else {
        memset(ps->ring + tail, FILLER_BYTE, first);
        memset(ps->ring, FILLER_BYTE, n - first);
    }
    ps->count += n;
    ps->pushed += n;
    pthread_cond_signal(&ps->more);
}

int api_put_stream_push(api_put_stream_t *ps, const char *data, size_t n)
{
    pthread_mutex_lock(&ps->lock);
    uint64_t room = ps->len - ps->prefix_len - ps->pushed;
    if (n > room)
        n = (size_t)room; /* the caller keeps what lies past the announced length */
    int rc = EH_OK;
    while (n > 0 && rc == EH_OK) {
        /* One handler call delivers far less than RING_SLACK: this waits only if that ever changes. */
        size_t part = n < RING_SLACK ? n : RING_SLACK;
        if (!wait_room(ps, part)) {
            rc = EH_ERR;
            break;
        }
        ring_write(ps, data, part);
        data += part;
        n -= part;
    }
    pthread_mutex_unlock(&ps->lock);
    return rc;
}

void api_put_stream_pace(api_put_stream_t *ps)
{
    pthread_mutex_lock(&ps->lock);
    if (ps->count >= RING_HIGH && !ps->paused && !ps->ended && !ps->cancelled) {
        ps->paused = true; /* under the lock: the PUT thread cannot resume before this suspend */
        MHD_suspend_connection(ps->conn);
    }
    pthread_mutex_unlock(&ps->lock);
}

uint64_t api_put_stream_length(const api_put_stream_t *ps)
{
    return ps->len;
}

static void join(api_put_stream_t *ps)
{
    if (ps->joined)
        return;
    int rc = pthread_join(ps->thread, NULL);
    if (rc != 0)
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:i}", "errno", rc), "cannot join the streaming PUT");
    ps->joined = true;
    registry_remove(ps);
}

/* A cut PUT stores nothing on S3, but some servers (s3rver) keep an empty object: it must not stay. */
static void delete_partial(api_put_stream_t *ps)
{
    eh_s3_error_t err;
    if (eh_s3_delete(ps->s3, ps->key, &err) != EH_OK && err.http_status != 404)
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "object_key", ps->key, "s3_code", err.code),
                  "could not delete what a cut PUT may have left");
}

int api_put_stream_commit(api_put_stream_t *ps, eh_s3_error_t *err)
{
    pthread_mutex_lock(&ps->lock);
    /* Told too long a length: pad, so that the PUT completes and can be copied (upload_store.c). */
    for (uint64_t have = ps->prefix_len + ps->pushed; have < ps->len; have = ps->prefix_len + ps->pushed) {
        size_t n = ps->len - have < RING_SLACK ? (size_t)(ps->len - have) : RING_SLACK;
        if (!wait_room(ps, n))
            break;
        ring_write(ps, NULL, n);
    }
    ps->committed = true;
    pthread_cond_signal(&ps->more);
    pthread_mutex_unlock(&ps->lock);
    join(ps);
    if (ps->rc != EH_OK) {
        if (err != NULL)
            *err = ps->err;
        delete_partial(ps);
    }
    return ps->rc;
}

static void cancel(api_put_stream_t *ps)
{
    pthread_mutex_lock(&ps->lock);
    ps->cancelled = true;
    pthread_cond_broadcast(&ps->more);
    pthread_cond_broadcast(&ps->space);
    pthread_mutex_unlock(&ps->lock);
}

void api_put_stream_stop_all(int timeout_ms)
{
    pthread_mutex_lock(&registry_lock);
    for (api_put_stream_t *ps = registry; ps != NULL; ps = ps->next)
        cancel(ps);
    pthread_mutex_unlock(&registry_lock);
    /* Each leaves the registry when its upload is cleaned up, after the refusal has been written. */
    int64_t deadline = eh_time_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&registry_lock);
        int left = registry_count;
        pthread_mutex_unlock(&registry_lock);
        if (left == 0)
            return;
        if (eh_time_mono_ms() >= deadline) {
            eh_log_warn("%d streamed upload(s) still running at shutdown", left);
            return;
        }
        (void)eh_stop_sleep_ms(NULL, 10);
    }
}

void api_put_stream_destroy(api_put_stream_t *ps)
{
    if (ps == NULL)
        return;
    if (!ps->joined) {
        cancel(ps);
        join(ps);
        delete_partial(ps);
    }
    free_stream(ps);
}
