#include "event.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

static const char *const NAMES[EH_EVENT_KIND_COUNT] = {
    [EH_EVENT_SNAPSHOT] = "snapshot",   [EH_EVENT_STARTED] = "started", [EH_EVENT_PROGRESS] = "progress",
    [EH_EVENT_COMPLETED] = "completed", [EH_EVENT_FAILED] = "failed",   [EH_EVENT_CANCELLED] = "cancelled",
    [EH_EVENT_DELETED] = "deleted",
};

const char *eh_event_name(eh_event_kind_t kind)
{
    return (unsigned)kind < EH_EVENT_KIND_COUNT ? NAMES[kind] : "";
}

int eh_event_kind(const char *name, eh_event_kind_t *kind)
{
    for (int k = 0; k < EH_EVENT_KIND_COUNT; k++) {
        if (strcmp(name, NAMES[k]) == 0) {
            *kind = (eh_event_kind_t)k;
            return EH_OK;
        }
    }
    return EH_DECLINED;
}

bool eh_event_terminal(eh_event_kind_t kind)
{
    return kind == EH_EVENT_COMPLETED || kind == EH_EVENT_FAILED || kind == EH_EVENT_CANCELLED ||
           kind == EH_EVENT_DELETED;
}

bool eh_event_coalescable(eh_event_kind_t kind)
{
    return kind == EH_EVENT_STARTED || kind == EH_EVENT_PROGRESS;
}

eh_event_kind_t eh_event_for_status(eh_job_status_t status)
{
    switch (status) {
    case EH_JOB_COMPLETED:
        return EH_EVENT_COMPLETED;
    case EH_JOB_FAILED:
        return EH_EVENT_FAILED;
    case EH_JOB_CANCELLED:
        return EH_EVENT_CANCELLED;
    default:
        return EH_EVENT_PROGRESS;
    }
}

json_t *eh_event_json(const eh_job_t *job, eh_event_kind_t kind, int64_t emitted_at_ms)
{
    json_t *o = eh_job_to_json(job);
    if (o == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "event", json_string(eh_event_name(kind)));
    rc |= json_object_set_new(o, "seq", json_integer(job->seq));
    rc |= json_object_set_new(o, "emitted_at", eh_job_time_json(emitted_at_ms));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *eh_event_encode(const eh_job_t *job, eh_event_kind_t kind, int64_t emitted_at_ms, size_t *len)
{
    json_t *o = eh_event_json(job, kind, emitted_at_ms);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

void eh_event_routing_key(const char *job_id, char out[EH_EVENT_ROUTING_KEY_LEN])
{
    snprintf(out, EH_EVENT_ROUTING_KEY_LEN, "job.%s", job_id);
}

int eh_event_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1], int64_t *seq, eh_event_kind_t *kind)
{
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = EH_DECLINED;
    if (!json_is_object(o))
        goto out;
    json_t *id = json_object_get(o, "job_id"), *sq = json_object_get(o, "seq"), *ev = json_object_get(o, "event");
    if (!json_is_string(id) || !json_is_integer(sq) || !json_is_string(ev) ||
        !eh_uuid_valid(json_string_value(id), json_string_length(id)))
        goto out;
    eh_event_kind_t k;
    if (eh_event_kind(json_string_value(ev), &k) != EH_OK || k == EH_EVENT_SNAPSHOT)
        goto out; /* "snapshot" is the relay's alone; anything else is not in the contract */
    const char *s = json_string_value(id);
    for (size_t i = 0; i < EH_UUID_STRLEN; i++)
        job_id[i] = (char)tolower((unsigned char)s[i]);
    job_id[EH_UUID_STRLEN] = '\0';
    *seq = json_integer_value(sq);
    *kind = k;
    rc = EH_OK;
out:
    json_decref(o);
    return rc;
}
