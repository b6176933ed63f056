/*
 * The announce stage of an upload: the job's message is published with a
 * confirm, and the 202 answer is made. An unconfirmed publish does not fail
 * the upload: the job stays queued without a publish stamp, and the
 * re-publisher (publisher.c) sends it later.
 */
#include <stdio.h>

#include "log.h"
#include "timefmt.h"
#include "upload.h"

json_t *upload_announce_body(const eh_job_t *job)
{
    char self[64], ws[64], created[EH_TIME_BUFLEN];
    snprintf(self, sizeof(self), "/api/v1/jobs/%s", job->id);
    snprintf(ws, sizeof(ws), "/ws/jobs/%s", job->id);
    eh_time_format_ms(job->created_at_ms, created);
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:{s:s, s:s}}", "job_id", job->id, "status",
                     eh_job_status_name(job->status), "file_name", job->file_name, "size_bytes",
                     (json_int_t)job->size_bytes, "lines_total", (json_int_t)job->lines_total, "created_at", created,
                     "links", "self", self, "ws", ws);
}

void upload_announce_run(api_upload_t *up, int64_t receive_ms, int64_t put_ms)
{
    const eh_job_t *job = &up->job;
    bool published = api_publisher_publish(up->ctx->pub, job->id, up->key, up->rq->request_id) == EH_OK;
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:b}", "job_id", job->id, "request_id",
                        up->rq->request_id, "file_name", job->file_name, "size_bytes", (json_int_t)job->size_bytes,
                        "lines_total", (json_int_t)job->lines_total, "published", published, "receive_ms",
                        (json_int_t)receive_ms, "s3_put_wait_ms", (json_int_t)put_ms, "streamed", up->streamed_put),
              published ? "upload accepted" : "upload accepted; the job will be published when the broker answers");
    snprintf(up->ans_location, sizeof(up->ans_location), "/api/v1/jobs/%s", job->id);
    upload_answer(up, MHD_HTTP_ACCEPTED, upload_announce_body(job));
    api_metrics_upload(up->ctx->metrics, (uint64_t)job->size_bytes);
}
