#include "events.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "log.h"
#include "timefmt.h"

#define CONFIRM_TIMEOUT_MS 2000

int worker_event_publish(eh_mq_t *mq, const eh_job_t *job, const char *event, bool confirmed)
{
    if (mq == NULL || !eh_mq_is_open(mq))
        return EH_AGAIN;
    eh_event_kind_t kind;
    if (eh_event_kind(event, &kind) != EH_OK || kind == EH_EVENT_SNAPSHOT) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "event", event), "not a progress event of the contract");
        return EH_ERR;
    }
    size_t len = 0;
    char *body = eh_event_encode(job, kind, eh_time_now_ms(), &len);
    if (body == NULL)
        return EH_AGAIN;
    char key[EH_EVENT_ROUTING_KEY_LEN];
    eh_event_routing_key(job->id, key);
    int rc = confirmed ? eh_mq_publish_confirmed(mq, EH_MQ_PROGRESS_EXCHANGE, key, body, len, CONFIRM_TIMEOUT_MS)
                       : eh_mq_publish_fast(mq, EH_MQ_PROGRESS_EXCHANGE, key, body, len);
    free(body);
    if (rc != EH_OK) {
        eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s, s:s}", "job_id", job->id, "event", event), "event not published");
        return EH_AGAIN;
    }
    return EH_OK;
}
