#include "job_queue.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "uuid.h"

static const char SQL_STAMP_PUBLISHED[] = "UPDATE jobs SET published_at = now(), updated_at = now() "
                                          "WHERE id = $1 AND status = 'queued'";

/*
 * Never-confirmed jobs first, then the oldest stamps. The stamp is moved
 * forward in the same statement, so that two re-publishers (the api's and the
 * supervisor's) do not both pick the same job in the same round.
 */
static const char SQL_PICK_STALE[] =
    "UPDATE jobs SET published_at = now(), updated_at = now() WHERE id IN ("
    "  SELECT id FROM jobs WHERE status = 'queued' AND ("
    "    (published_at IS NULL AND created_at < now() - make_interval(secs => $1::double precision / 1000))"
    "    OR ($2::bigint >= 0 AND published_at < now() - make_interval(secs => $2::double precision / 1000)))"
    "  ORDER BY published_at NULLS FIRST, created_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "RETURNING id::text, object_key, request_id";

static const char SQL_UNSTAMP[] = "UPDATE jobs SET published_at = NULL WHERE id = $1 AND status = 'queued'";

void eh_job_object_key(const char *job_id, char out[EH_OBJECT_KEY_MAX])
{
    snprintf(out, EH_OBJECT_KEY_MAX, "uploads/%s.jsonl", job_id);
}

char *eh_job_message_build(const char *job_id, const char *object_key, const char *request_id)
{
    json_t *o = json_pack("{s:s, s:s}", "job_id", job_id, "object_key", object_key);
    if (o == NULL)
        return NULL;
    /* An id that is not a JSON string (never one of ours) is left out rather than losing the message. */
    json_t *rid = request_id != NULL && request_id[0] != '\0' ? json_string(request_id) : NULL;
    if (rid != NULL && json_object_set_new(o, "request_id", rid) != 0) {
        json_decref(o);
        return NULL;
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

int eh_job_message_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1],
                         char object_key[EH_OBJECT_KEY_MAX])
{
    eh_job_message_t msg;
    int rc = eh_job_message_read(body, len, &msg);
    if (rc == EH_OK) {
        memcpy(job_id, msg.job_id, sizeof(msg.job_id));
        memcpy(object_key, msg.object_key, sizeof(msg.object_key));
    }
    return rc;
}

int eh_job_message_read(const char *body, size_t len, eh_job_message_t *msg)
{
    memset(msg, 0, sizeof(*msg));
    char *job_id = msg->job_id, *object_key = msg->object_key;
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL)
        return EH_DECLINED;
    int rc = EH_DECLINED;
    const char *id = json_string_value(json_object_get(o, "job_id"));
    const char *key = json_string_value(json_object_get(o, "object_key"));
    if (id != NULL && key != NULL && eh_uuid_valid(id, strlen(id)) && strlen(key) < EH_OBJECT_KEY_MAX &&
        key[0] != '\0') {
        snprintf(job_id, EH_UUID_STRLEN + 1, "%s", id);
        snprintf(object_key, EH_OBJECT_KEY_MAX, "%s", key);
        const char *rid = json_string_value(json_object_get(o, "request_id"));
        if (rid != NULL && strlen(rid) <= EH_REQUEST_ID_MAX)
            snprintf(msg->request_id, sizeof(msg->request_id), "%s", rid);
        rc = EH_OK;
    }
    json_decref(o);
    return rc;
}

static int publish_message(eh_mq_t *mq, const char *job_id, const char *object_key, const char *request_id,
                           int64_t timeout_ms)
{
    char *body = eh_job_message_build(job_id, object_key, request_id);
    if (body == NULL)
        return EH_ERR;
    int rc = eh_mq_publish_confirmed(mq, "", EH_MQ_JOBS_QUEUE, body, strlen(body), timeout_ms);
    free(body);
    return rc;
}

int eh_job_queue_publish(eh_db_t *db, eh_mq_t *mq, const char *job_id, const char *object_key, const char *request_id,
                         int64_t confirm_timeout_ms)
{
    int rc = publish_message(mq, job_id, object_key, request_id, confirm_timeout_ms);
    if (rc != EH_OK)
        return rc == EH_ERR ? EH_AGAIN : rc; /* a nack is a broker problem too: the re-publisher retries */
    const char *params[] = {job_id};
    /* The message is out; a failed stamp only means one harmless extra publish later. */
    if (eh_db_exec(db, SQL_STAMP_PUBLISHED, 1, params) != EH_OK)
        eh_log_warn("job published but not stamped; it will be published again");
    return EH_OK;
}

/* The columns of SQL_PICK_STALE. */
enum { STALE_COL_ID, STALE_COL_OBJECT_KEY, STALE_COL_REQUEST_ID };

int eh_job_queue_republish(eh_db_t *db, eh_mq_t *mq, int64_t unconfirmed_after_ms, int64_t confirmed_after_ms,
                           int limit)
{
    char unconfirmed[32], confirmed[32], lim[32];
    snprintf(unconfirmed, sizeof(unconfirmed), "%lld", (long long)unconfirmed_after_ms);
    snprintf(confirmed, sizeof(confirmed), "%lld", (long long)confirmed_after_ms);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {unconfirmed, confirmed, lim};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_PICK_STALE, 3, params, &status);
    if (res == NULL)
        return status;
    int done = 0, rc = EH_OK;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, STALE_COL_ID);
        if (rc == EH_OK)
            rc = publish_message(mq, id, PQgetvalue(res, i, STALE_COL_OBJECT_KEY),
                                 PQgetvalue(res, i, STALE_COL_REQUEST_ID), 5000);
        if (rc != EH_OK) {
            /* Not confirmed: clear the stamp so that the next round tries again at once. */
            const char *p[] = {id};
            if (eh_db_exec(db, SQL_UNSTAMP, 1, p) != EH_OK)
                eh_log_warn("could not clear the publish stamp of job %s", id);
            continue;
        }
        done++;
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "job_id", id), "job re-published");
    }
    PQclear(res);
    if (rc != EH_OK)
        return rc == EH_ERR ? EH_AGAIN : rc;
    return done;
}
