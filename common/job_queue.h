/*
 * job_queue.h - the job message on eh.jobs and the re-publishing of queued
 * jobs whose message may have been lost (the outbox side of "no lost jobs").
 *
 * Message body: {"job_id":"<uuid>","object_key":"uploads/<uuid>.jsonl","request_id":"<id>"}
 * request_id is the id of the upload request (X-Request-Id), so that the
 * worker's lines about the job carry it; a message without it (published
 * before it existed) is still a good message.
 * The job row is always written before its message is published; a confirmed
 * publish stamps jobs.published_at. Anything queued without a recent stamp is
 * published again by eh_job_queue_republish(); duplicates are harmless because
 * a worker's claim succeeds only once.
 */
#ifndef EH_JOB_QUEUE_H
#define EH_JOB_QUEUE_H

#include "db.h"
#include "eh.h"
#include "mq.h"

#define EH_OBJECT_KEY_MAX 64
/* The longest request id kept (X-Request-Id): 1..64 of [A-Za-z0-9._:-]. */
#define EH_REQUEST_ID_MAX 64

/* A parsed job message. */
typedef struct eh_job_message {
    char job_id[EH_UUID_STRLEN + 1];
    char object_key[EH_OBJECT_KEY_MAX];
    char request_id[EH_REQUEST_ID_MAX + 1]; /* "" when the message carries none */
} eh_job_message_t;

/* Writes "uploads/<job_id>.jsonl": keys come from the job id, never from the client's file name. */
void eh_job_object_key(const char *job_id, char out[EH_OBJECT_KEY_MAX]);

/*
 * The message body for job_id; request_id may be NULL or "" (left out). A
 * new string the caller free()s, NULL on out of memory.
 */
char *eh_job_message_build(const char *job_id, const char *object_key, const char *request_id);

/*
 * Parses a message body. EH_OK with job_id (a valid UUID) and object_key
 * copied out; EH_DECLINED when the body is not a well-formed job message.
 */
EH_MUST_CHECK int eh_job_message_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1],
                                       char object_key[EH_OBJECT_KEY_MAX]);
/*
 * The same into msg, request_id included (a missing, non-string or
 * oversized request_id leaves it "" and does not refuse the message).
 */
EH_MUST_CHECK int eh_job_message_read(const char *body, size_t len, eh_job_message_t *msg);

/*
 * Publishes the job's message (request_id may be NULL) with a confirm, then stamps published_at.
 * EH_OK; EH_AGAIN when the broker did not confirm (the job stays unstamped
 * and is re-published later); EH_ERR otherwise.
 */
EH_MUST_CHECK int eh_job_queue_publish(eh_db_t *db, eh_mq_t *mq, const char *job_id, const char *object_key,
                                       const char *request_id, int64_t confirm_timeout_ms);

/*
 * Re-publishes up to `limit` queued jobs whose message may be missing: jobs
 * never confirmed by the broker and created more than unconfirmed_after_ms
 * ago, and (when confirmed_after_ms >= 0) jobs confirmed more than
 * confirmed_after_ms ago and still not picked up. The second threshold is
 * long on purpose: a confirmed message is durable, and re-publishing it
 * while every worker is busy would only pile up duplicates. Returns the
 * number re-published (>= 0), or EH_AGAIN / EH_ERR when the database or the
 * broker failed.
 */
EH_MUST_CHECK int eh_job_queue_republish(eh_db_t *db, eh_mq_t *mq, int64_t unconfirmed_after_ms,
                                         int64_t confirmed_after_ms, int limit);

#endif
