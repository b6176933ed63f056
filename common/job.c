#include "job.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

static const char *const status_names[] = {"queued", "processing", "completed", "failed", "cancelled"};

void eh_job_clear(eh_job_t *job)
{
    if (job == NULL)
        return;
    free(job->file_name);
    free(job->error);
    memset(job, 0, sizeof(*job));
}

const char *eh_job_status_name(eh_job_status_t status)
{
    if ((unsigned)status >= EH_ARRAY_LEN(status_names))
        return "unknown";
    return status_names[status];
}

int eh_job_status_parse(const char *name, eh_job_status_t *out)
{
    for (size_t i = 0; i < EH_ARRAY_LEN(status_names); i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (eh_job_status_t)i;
            return EH_OK;
        }
    }
    return EH_DECLINED;
}

bool eh_job_status_final(eh_job_status_t status)
{
    return status == EH_JOB_COMPLETED || status == EH_JOB_FAILED || status == EH_JOB_CANCELLED;
}

double eh_job_progress(const eh_job_t *job)
{
    if (job->status == EH_JOB_COMPLETED)
        return 100.0;
    if (job->lines_total <= 0)
        return 0.0;
    double pct = 100.0 * (double)job->lines_processed / (double)job->lines_total;
    if (pct > 100.0)
        pct = 100.0;
    /* Rounded down, so that 99.96 % is not shown as done. */
    return floor(pct * 10.0) / 10.0;
}

json_t *eh_job_time_json(int64_t ms)
{
    if (ms == EH_TIME_NULL)
        return json_null();
    char buf[EH_TIME_BUFLEN];
    eh_time_format_ms(ms, buf);
    return json_string(buf);
}

json_t *eh_job_to_json(const eh_job_t *job)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "job_id", json_string(job->id));
    rc |= json_object_set_new(o, "file_name", job->file_name ? json_string(job->file_name) : json_null());
    rc |= json_object_set_new(o, "size_bytes", json_integer(job->size_bytes));
    rc |= json_object_set_new(o, "status", json_string(eh_job_status_name(job->status)));
    rc |= json_object_set_new(o, "progress", json_real(eh_job_progress(job)));
    rc |= json_object_set_new(o, "lines_total", json_integer(job->lines_total));
    rc |= json_object_set_new(o, "lines_processed", json_integer(job->lines_processed));
    rc |= json_object_set_new(o, "entries_ingested", json_integer(job->entries_ingested));
    rc |= json_object_set_new(o, "lines_invalid", json_integer(job->lines_invalid));
    rc |= json_object_set_new(o, "created_at", eh_job_time_json(job->created_at_ms));
    rc |= json_object_set_new(o, "started_at", eh_job_time_json(job->started_at_ms));
    rc |= json_object_set_new(o, "completed_at", eh_job_time_json(job->completed_at_ms));
    rc |= json_object_set_new(o, "error", job->error ? json_string(job->error) : json_null());
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
