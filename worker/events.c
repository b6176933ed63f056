#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timefmt.h"

#define CONFIRM_TIMEOUT_MS 2000

int worker_event_publish(eh_mq_t *mq, const eh_job_t *job, const char *event, bool confirmed)
{
    if (mq == NULL || !eh_mq_is_open(mq))
        return EH_AGAIN;
    json_t *o = eh_job_event_json(job, event, eh_time_now_ms());
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body == NULL)
        return EH_AGAIN;
    char key[8 + EH_UUID_STRLEN];
    snprintf(key, sizeof(key), "job.%s", job->id);
    int rc = confirmed ? eh_mq_publish_confirmed(mq, EH_MQ_PROGRESS_EXCHANGE, key, body, strlen(body),
                                                 CONFIRM_TIMEOUT_MS)
                       : eh_mq_publish_fast(mq, EH_MQ_PROGRESS_EXCHANGE, key, body, strlen(body));
    free(body);
    if (rc != EH_OK) {
        eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s, s:s}", "job_id", job->id, "event", event), "event not published");
        return EH_AGAIN;
    }
    return EH_OK;
}
