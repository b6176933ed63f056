/*
 * Work that must not hold a request thread: the HTTP daemon serves many
 * connections on each of a few threads, so an upload's last step (an S3 PUT
 * of up to a GiB, the INSERT, the confirmed publish) or a refusal that
 * lingers on the socket runs on a thread of its own while the connection is
 * suspended; the connection is resumed when the work is done and the access
 * handler, called again, queues the answer the work left behind.
 *
 * A thread per piece of work: uploads are few and long, and the connection
 * limit bounds them. libmicrohttpd cannot stop with suspended connections,
 * so the daemon is stopped only after api_offload_drain.
 */
#include <pthread.h>
#include <stdlib.h>

#include "api.h"
#include "log.h"

struct api_offload {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int running;
};

typedef struct offload_job {
    api_offload_t *owner;
    struct MHD_Connection *conn;
    api_offload_fn work;
    void *arg;
} offload_job_t;

api_offload_t *api_offload_create(void)
{
    api_offload_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    if (pthread_mutex_init(&o->lock, NULL) != 0) {
        free(o);
        return NULL;
    }
    if (pthread_cond_init(&o->idle, NULL) != 0) {
        pthread_mutex_destroy(&o->lock);
        free(o);
        return NULL;
    }
    return o;
}

void api_offload_destroy(api_offload_t *o)
{
    if (o == NULL)
        return;
    api_offload_drain(o);
    pthread_cond_destroy(&o->idle);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

static void work_done(api_offload_t *o)
{
    pthread_mutex_lock(&o->lock);
    if (--o->running == 0)
        pthread_cond_broadcast(&o->idle);
    pthread_mutex_unlock(&o->lock);
}

static void *offload_main(void *p)
{
    offload_job_t *job = p;
    api_offload_t *o = job->owner;
    job->work(job->arg);
    if (job->conn != NULL)
        MHD_resume_connection(job->conn);
    free(job);
    work_done(o);
    return NULL;
}

/* Starts work(arg) on a detached thread, counted in o->running; c (when not NULL) is suspended first. */
static int start(api_offload_t *o, struct MHD_Connection *c, api_offload_fn work, void *arg)
{
    offload_job_t *job = malloc(sizeof(*job));
    if (job == NULL)
        return EH_ERR;
    *job = (offload_job_t){.owner = o, .conn = c, .work = work, .arg = arg};
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
        free(job);
        return EH_ERR;
    }
    int rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&o->lock);
    o->running++;
    pthread_mutex_unlock(&o->lock);
    /* Suspended before the thread exists, so that its resume can never come first. */
    if (c != NULL)
        MHD_suspend_connection(c);
    pthread_t t;
    if (rc == 0)
        rc = pthread_create(&t, &attr, offload_main, job);
    (void)pthread_attr_destroy(&attr);
    if (rc == 0)
        return EH_OK;
    eh_log_kv(EH_LOG_WARN, json_pack("{s:i}", "errno", rc), "cannot start a thread for the work of a request");
    if (c != NULL)
        MHD_resume_connection(c);
    free(job);
    work_done(o);
    return EH_ERR;
}

int api_offload_run(api_offload_t *o, struct MHD_Connection *c, api_offload_fn work, void *arg)
{
    return start(o, c, work, arg);
}

int api_offload_detached(api_offload_t *o, api_offload_fn work, void *arg)
{
    return start(o, NULL, work, arg);
}

void api_offload_drain(api_offload_t *o)
{
    pthread_mutex_lock(&o->lock);
    while (o->running > 0)
        pthread_cond_wait(&o->idle, &o->lock);
    pthread_mutex_unlock(&o->lock);
}
