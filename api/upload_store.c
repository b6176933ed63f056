/*
 * The store stage of an upload: the file becomes the object under a key made
 * from a new job id (never from the file name).
 *
 * A file of 8 MiB or more whose exact length follows from Content-Length
 * (the usual case: the file is the only part) is PUT while it arrives
 * (put_stream.c), its last byte held back until every check has passed, so
 * the upload takes about as long as the slower of the two transfers instead
 * of their sum. Any surprise (another part after the file, a cut PUT) drops
 * the streamed PUT and stores the spool under a new key at the end.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "job_queue.h"
#include "log.h"
#include "upload.h"

/* Smaller files are stored once they have arrived: streaming them would gain little. */
#define STREAM_MIN_BYTES (8 * 1024 * 1024)

void upload_store_on_disk(api_upload_t *up)
{
    if (up->stream == NULL && !up->stream_tried && up->predicted >= STREAM_MIN_BYTES && up->sniff.verdict > 0 &&
        up->file_parts == 1) {
        up->stream_tried = true;
        if (eh_uuid_v4(up->id) != EH_OK)
            return;
        eh_job_object_key(up->id, up->key);
        up->stream = api_put_stream_start(up->ctx->s3, up->key, up->fd, up->predicted);
    }
    if (up->stream != NULL)
        api_put_stream_flushed(up->stream, up->spooled);
}

void upload_store_drop(api_upload_t *up)
{
    api_put_stream_destroy(up->stream);
    up->stream = NULL;
}

void upload_store_delete_object(api_ctx_t *ctx, const char *key)
{
    eh_s3_error_t err;
    if (eh_s3_delete(ctx->s3, key, &err) != EH_OK)
        eh_log_kv(EH_LOG_ERROR,
                  json_pack("{s:s, s:i, s:s}", "object_key", key, "http_status", err.http_status, "s3_code", err.code),
                  "could not delete the object of a job that was not recorded");
}

int upload_store_run(api_upload_t *up)
{
    eh_s3_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = EH_ERR;
    bool streamed = false;
    if (up->stream != NULL && up->file_bytes == up->predicted) {
        rc = api_put_stream_commit(up->stream, &err);
        streamed = rc == EH_OK;
        if (!streamed)
            eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "object_key", up->key, "s3_code", err.code),
                      "the streamed PUT failed; storing the file from the spool");
    }
    if (!streamed) {
        /* A new key: a cut PUT may still leave an empty object under the old one on some servers. */
        upload_store_drop(up);
        if (eh_uuid_v4(up->id) != EH_OK) {
            upload_answer_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no randomness for a job id");
            return EH_ERR;
        }
        eh_job_object_key(up->id, up->key);
        if (lseek(up->fd, 0, SEEK_SET) != 0) {
            eh_log_errno(EH_LOG_ERROR, errno, "lseek spool file");
            upload_answer_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "spool file unreadable");
            return EH_ERR;
        }
        rc = eh_s3_put_fd(up->ctx->s3, up->key, up->fd, up->file_bytes, &err);
    }
    if (rc != EH_OK) {
        eh_log_kv(EH_LOG_ERROR,
                  json_pack("{s:s, s:i, s:s, s:s}", "object_key", up->key, "http_status", err.http_status, "s3_code",
                            err.code, "s3_message", err.message),
                  "storing the upload failed");
        upload_answer_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "storage_unavailable",
                            "the object store is not reachable; nothing was stored");
        return EH_ERR;
    }
    return EH_OK;
}
