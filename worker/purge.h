/*
 * purge.h - the purger: removes what deleted jobs left behind (entries,
 * errors, the stored object) in small batches, and applies retention
 * (EH_RETENTION_DAYS). It runs in the reaper process, one step per round.
 */
#ifndef EH_WORKER_PURGE_H
#define EH_WORKER_PURGE_H

#include "config.h"
#include "db.h"
#include "eh.h"
#include "mq.h"

typedef struct worker_purge worker_purge_t;

/* cfg is borrowed. NULL after logging on failure (no S3 client). */
EH_MUST_CHECK worker_purge_t *worker_purge_create(const eh_config_t *cfg);
void worker_purge_destroy(worker_purge_t *p);

/*
 * One round, at most about WORKER_PURGE_BUDGET_MS long: retention first
 * (expired jobs become purges, with a "deleted" event each on mq when it
 * is open), then purge batches. Errors are logged; the next round retries.
 */
#define WORKER_PURGE_BUDGET_MS 1000
void worker_purge_once(worker_purge_t *p, eh_db_t *db, eh_mq_t *mq);

#endif
