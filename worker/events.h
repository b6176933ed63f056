/*
 * events.h - job events on the topic exchange eh.progress, key job.<id>
 * (CONTRACT.md: started, progress, completed, failed). Publishing is best
 * effort: a broker that is down never stops or fails ingestion.
 */
#ifndef EH_WORKER_EVENTS_H
#define EH_WORKER_EVENTS_H

#include <stdbool.h>

#include "eh.h"
#include "job.h"
#include "mq.h"

/*
 * Publishes event for job (borrowed) on mq (may be NULL or closed: then
 * nothing is sent). confirmed waits for the broker's confirm (the reaper's
 * handle); otherwise the publish never blocks (a consumer's handle).
 * EH_OK, or EH_AGAIN when the event could not be sent.
 */
int worker_event_publish(eh_mq_t *mq, const eh_job_t *job, const char *event, bool confirmed);

#endif
