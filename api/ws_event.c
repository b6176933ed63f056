#include "ws_event.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "uuid.h"

#define WS_JOBS_PREFIX "/ws/jobs/"

api_ws_frame_t *api_ws_frame_new(const char *json, size_t len, int64_t seq, bool terminal, bool coalescable)
{
    api_ws_frame_t *f = malloc(sizeof(*f) + LWS_PRE + len);
    if (f == NULL)
        return NULL;
    f->refs = 1;
    f->seq = seq;
    f->terminal = terminal;
    f->coalescable = coalescable && !terminal;
    f->len = len;
    memset(f->buf, 0, LWS_PRE);
    memcpy(f->buf + LWS_PRE, json, len);
    return f;
}

api_ws_frame_t *api_ws_frame_from_job(const eh_job_t *job, bool snapshot, int64_t now_ms)
{
    bool final = eh_job_status_final(job->status);
    eh_event_kind_t kind = snapshot ? EH_EVENT_SNAPSHOT : eh_event_for_status(job->status);
    size_t len = 0;
    char *text = eh_event_encode(job, kind, now_ms, &len);
    if (text == NULL)
        return NULL;
    api_ws_frame_t *f = api_ws_frame_new(text, len, job->seq, final, !snapshot);
    free(text);
    return f;
}

api_ws_frame_t *api_ws_frame_gone(const char *job_id, int64_t seq, int64_t now_ms)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "job_id", job_id, "event", eh_event_name(EH_EVENT_DELETED), "seq",
                          (json_int_t)seq, "emitted_at", eh_job_time_json(now_ms));
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return NULL;
    api_ws_frame_t *f = api_ws_frame_new(text, strlen(text), seq, true, false);
    free(text);
    return f;
}

unsigned char *api_ws_frame_payload(api_ws_frame_t *f)
{
    return f->buf + LWS_PRE;
}

void api_ws_frame_ref(api_ws_frame_t *f)
{
    f->refs++;
}

void api_ws_frame_unref(api_ws_frame_t *f)
{
    if (f != NULL && --f->refs == 0)
        free(f);
}

int api_ws_event_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1], int64_t *seq, bool *terminal,
                       bool *coalescable)
{
    eh_event_kind_t kind;
    if (eh_event_parse(body, len, job_id, seq, &kind) != EH_OK)
        return EH_DECLINED;
    *terminal = eh_event_terminal(kind);
    *coalescable = eh_event_coalescable(kind);
    return EH_OK;
}

int api_ws_path_job(const char *path, char job_id[EH_UUID_STRLEN + 1])
{
    size_t plen = strlen(WS_JOBS_PREFIX);
    if (strncmp(path, WS_JOBS_PREFIX, plen) != 0)
        return EH_ERR;
    const char *id = path + plen;
    size_t len = strlen(id);
    if (len == 0 || strchr(id, '/') != NULL)
        return EH_ERR;
    if (!eh_uuid_valid(id, len))
        return EH_DECLINED;
    for (size_t i = 0; i < EH_UUID_STRLEN; i++)
        job_id[i] = (char)tolower((unsigned char)id[i]);
    job_id[EH_UUID_STRLEN] = '\0';
    return EH_OK;
}

int api_ws_queue_init(api_ws_queue_t *q, int cap)
{
    memset(q, 0, sizeof(*q));
    q->last_seq = INT64_MIN;
    if (cap < 2)
        cap = 2;
    q->items = calloc((size_t)cap, sizeof(*q->items));
    if (q->items == NULL)
        return EH_ERR;
    q->cap = cap;
    return EH_OK;
}

void api_ws_queue_free(api_ws_queue_t *q)
{
    while (q->count > 0)
        api_ws_queue_pop(q);
    free(q->items);
    q->items = NULL;
    q->cap = 0;
}

static api_ws_frame_t **slot(const api_ws_queue_t *q, int i)
{
    return &q->items[(q->head + i) % q->cap];
}

/* Removes the newest coalescable frame; false when there is none. */
static bool make_room(api_ws_queue_t *q)
{
    for (int i = q->count - 1; i >= 0; i--) {
        if (!(*slot(q, i))->coalescable)
            continue;
        api_ws_frame_unref(*slot(q, i));
        for (int j = i; j < q->count - 1; j++)
            *slot(q, j) = *slot(q, j + 1);
        q->count--;
        q->coalesced++;
        return true;
    }
    return false;
}

bool api_ws_queue_push(api_ws_queue_t *q, api_ws_frame_t *f)
{
    if (q->ended || f->seq <= q->last_seq)
        return false;
    /*
     * Before the terminal frame a queue holds at most one frame that is not
     * coalescable (the snapshot), so with cap >= 2 there is always room to make.
     */
    if (q->count == q->cap && !make_room(q))
        return false;
    api_ws_frame_ref(f);
    *slot(q, q->count) = f;
    q->count++;
    q->last_seq = f->seq;
    q->ended = f->terminal;
    return true;
}

api_ws_frame_t *api_ws_queue_peek(const api_ws_queue_t *q)
{
    return q->count > 0 ? q->items[q->head] : NULL;
}

void api_ws_queue_pop(api_ws_queue_t *q)
{
    if (q->count == 0)
        return;
    api_ws_frame_unref(q->items[q->head]);
    q->items[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->count--;
}
