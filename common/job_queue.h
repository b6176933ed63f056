/*
 * job_queue.h - the job message on eh.jobs and the re-publishing of queued
 * jobs whose message may have been lost (the outbox side of "no lost jobs").
 *
 * Message body: {"job_id":"<uuid>","object_key":"uploads/<uuid>.jsonl"}
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

/* Writes "uploads/<job_id>.jsonl": keys come from the job id, never from the client's file name. */
void eh_job_object_key(const char *job_id, char out[EH_OBJECT_KEY_MAX]);

/* The message body for job_id; a new string the caller free()s, NULL on out of memory. */
char *eh_job_message_build(const char *job_id, const char *object_key);

/*
 * Parses a message body. EH_OK with job_id (a valid UUID) and object_key
 * copied out; EH_DECLINED when the body is not a well-formed job message.
 */
EH_MUST_CHECK int eh_job_message_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1],
                                       char object_key[EH_OBJECT_KEY_MAX]);

/*
 * Publishes the job's message with a confirm, then stamps published_at.
 * EH_OK; EH_AGAIN when the broker did not confirm (the job stays unstamped
 * and is re-published later); EH_ERR otherwise.
 */
EH_MUST_CHECK int eh_job_queue_publish(eh_db_t *db, eh_mq_t *mq, const char *job_id, const char *object_key,
                                       int64_t confirm_timeout_ms);

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
