/*
 * The S3 PUT of an upload while its body is still arriving.
 *
 * Receiving a GiB and then sending it to S3 adds the two times up; when the
 * file's exact length can be told from the request's Content-Length (see
 * upload.c), a thread PUTs the spool file as it fills. The last byte is held
 * back until the upload has passed every check (api_put_stream_commit): an
 * upload refused at the end leaves the PUT short of its announced length,
 * which S3 does not store (and the partial object some servers keep anyway
 * is deleted).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"

struct api_put_stream {
    eh_s3_t *s3;
    char key[EH_OBJECT_KEY_MAX];
    int fd;
    uint64_t len;
    pthread_t thread;
    bool joined;
    pthread_mutex_t lock;
    pthread_cond_t more; /* flushed grew, or committed / cancelled was set */
    uint64_t flushed;    /* bytes of the spool file on disk */
    uint64_t sent;       /* bytes handed to libs3 (PUT thread only) */
    bool committed;
    bool cancelled;
    int rc; /* the PUT's result, once joined */
    eh_s3_error_t err;
};

static ssize_t read_spool(void *ud, char *buf, size_t max)
{
    api_put_stream_t *ps = ud;
    uint64_t limit;
    pthread_mutex_lock(&ps->lock);
    for (;;) {
        limit = ps->committed ? ps->flushed : (ps->flushed < ps->len ? ps->flushed : ps->len - 1);
        if (ps->cancelled || limit > ps->sent)
            break;
        pthread_cond_wait(&ps->more, &ps->lock);
    }
    bool cancelled = ps->cancelled;
    pthread_mutex_unlock(&ps->lock);
    if (cancelled)
        return -1;
    size_t n = limit - ps->sent < max ? (size_t)(limit - ps->sent) : max;
    for (;;) {
        ssize_t r = pread(ps->fd, buf, n, (off_t)ps->sent);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            eh_log_errno(EH_LOG_ERROR, r < 0 ? errno : EIO, "read spool file for the S3 PUT");
            return -1;
        }
        ps->sent += (uint64_t)r;
        return r;
    }
}

static void *put_main(void *arg)
{
    api_put_stream_t *ps = arg;
    ps->rc = eh_s3_put_stream(ps->s3, ps->key, ps->len, read_spool, ps, &ps->err);
    return NULL;
}

api_put_stream_t *api_put_stream_start(eh_s3_t *s3, const char *key, int fd, uint64_t len)
{
    if (len == 0)
        return NULL;
    api_put_stream_t *ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
        return NULL;
    ps->s3 = s3;
    snprintf(ps->key, sizeof(ps->key), "%s", key);
    ps->fd = fd;
    ps->len = len;
    if (pthread_mutex_init(&ps->lock, NULL) != 0) {
        free(ps);
        return NULL;
    }
    if (pthread_cond_init(&ps->more, NULL) != 0) {
        pthread_mutex_destroy(&ps->lock);
        free(ps);
        return NULL;
    }
    int rc = pthread_create(&ps->thread, NULL, put_main, ps);
    if (rc != 0) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:i}", "errno", rc),
                  "cannot start the streaming PUT; the upload is "
                  "stored after it has arrived");
        pthread_cond_destroy(&ps->more);
        pthread_mutex_destroy(&ps->lock);
        free(ps);
        return NULL;
    }
    return ps;
}

void api_put_stream_flushed(api_put_stream_t *ps, uint64_t flushed)
{
    pthread_mutex_lock(&ps->lock);
    ps->flushed = flushed;
    pthread_cond_signal(&ps->more);
    pthread_mutex_unlock(&ps->lock);
}

static void join(api_put_stream_t *ps)
{
    if (ps->joined)
        return;
    int rc = pthread_join(ps->thread, NULL);
    if (rc != 0)
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:i}", "errno", rc), "cannot join the streaming PUT");
    ps->joined = true;
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

void api_put_stream_destroy(api_put_stream_t *ps)
{
    if (ps == NULL)
        return;
    if (!ps->joined) {
        pthread_mutex_lock(&ps->lock);
        ps->cancelled = true;
        pthread_cond_signal(&ps->more);
        pthread_mutex_unlock(&ps->lock);
        join(ps);
        delete_partial(ps);
    }
    pthread_cond_destroy(&ps->more);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
}
