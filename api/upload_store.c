/*
 * The store stage of an upload: the file becomes the object under a key made
 * from a new job id (never from the file name).
 *
 * A file of 8 MiB or more whose exact length follows from Content-Length
 * (the usual case: the file is the only part) is PUT while it arrives
 * (put_stream.c): its first bytes from the spool, the rest straight from
 * the request through a ring in memory, its last byte held back until every
 * check has passed. The upload then takes about as long as the slower of
 * the two transfers instead of their sum, and the file is never written to
 * the disk. A streamed PUT that fails fails the upload (503 at once): the
 * file is nowhere else. A length told wrong (a field after the file) still
 * completes the PUT (padded, or cut at the told length); the file is then
 * copied out of that object, with the bytes past it, into the spool and
 * stored under a new key: slow, but no such body is lost, and a late object
 * from the first PUT can never replace a job's file.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "job_queue.h"
#include "log.h"
#include "upload.h"

/* Smaller files are stored once they have arrived: streaming them would gain little. */
#define STREAM_MIN_BYTES (8 * 1024 * 1024)

bool upload_store_may_stream(const api_upload_t *up)
{
    return up->stream == NULL && !up->stream_tried && up->predicted >= STREAM_MIN_BYTES && up->sniff.verdict > 0 &&
           up->file_parts == 1 && up->file_bytes < up->predicted;
}

void upload_store_start_stream(api_upload_t *up)
{
    up->stream_tried = true;
    if (eh_uuid_v4(up->id) != EH_OK)
        return;
    eh_job_object_key(up->id, up->key);
    up->stream = api_put_stream_start(up->ctx->s3, up->key, up->fd, up->spooled, up->predicted, up->conn);
    if (up->stream != NULL)
        upload_spool_uncharge(up); /* the rest never reaches the disk */
}

static void stream_failed(api_upload_t *up)
{
    upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "storage_unavailable",
                     "the object store is not reachable; nothing was stored");
}

int upload_store_push(api_upload_t *up, const char *data, size_t n)
{
    uint64_t room = up->predicted - up->spooled - up->streamed;
    size_t take = n < room ? n : (size_t)room;
    if (take > 0) {
        if (api_put_stream_push(up->stream, data, take) != EH_OK) {
            stream_failed(up);
            return EH_ERR;
        }
        up->streamed += take;
    }
    size_t rest = n - take;
    if (rest > 0) {
        if (up->overflow_len + rest > sizeof(up->overflow)) {
            upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
                             "the body's framing does not match its Content-Length");
            return EH_ERR;
        }
        memcpy(up->overflow + up->overflow_len, data + take, rest);
        up->overflow_len += rest;
    }
    return EH_OK;
}

void upload_store_pace(api_upload_t *up)
{
    if (up->stream != NULL)
        api_put_stream_pace(up->stream);
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

static int copy_to_spool(const char *data, size_t len, void *ud)
{
    return upload_spool_put(ud, data, len);
}

/*
 * The streamed PUT was told a wrong length: its object holds the file's
 * first bytes (then filler, or not the last overflow_len bytes). Copies the
 * file into the spool from it and the overflow; the caller stores the spool.
 */
static int copy_back(api_upload_t *up, eh_s3_error_t *err)
{
    uint64_t told = api_put_stream_length(up->stream);
    uint64_t head = up->file_bytes < told ? up->file_bytes : told;
    if (upload_spool_restart(up) != EH_OK)
        return EH_ERR;
    int rc = eh_s3_get(up->ctx->s3, up->key, 0, head, copy_to_spool, up, err);
    if (rc == EH_OK && up->overflow_len > 0)
        rc = upload_spool_put(up, up->overflow, up->overflow_len);
    if (rc == EH_OK && up->spooled != up->file_bytes) {
        eh_log_kv(EH_LOG_ERROR,
                  json_pack("{s:I, s:I}", "copied", (json_int_t)up->spooled, "file_bytes", (json_int_t)up->file_bytes),
                  "the streamed object did not hold the file");
        rc = EH_ERR;
    }
    upload_store_delete_object(up->ctx, up->key); /* the padded or cut object is never a job's */
    return rc;
}

int upload_store_run(api_upload_t *up)
{
    eh_s3_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = EH_OK;
    bool streamed = up->stream != NULL;
    if (streamed) {
        rc = api_put_stream_commit(up->stream, &err);
        if (rc == EH_OK && up->file_bytes != up->predicted) {
            eh_log_kv(
                EH_LOG_WARN,
                json_pack("{s:I, s:I}", "file_bytes", (json_int_t)up->file_bytes, "told", (json_int_t)up->predicted),
                "the file's length differs from the one told from the framing; copying it under a new key");
            rc = copy_back(up, &err);
            streamed = false;
        }
        upload_store_drop(up);
    }
    up->streamed_put = streamed && rc == EH_OK;
    if (rc == EH_OK && !streamed) {
        /* A new key: a cut PUT may still leave an empty object under the old one on some servers. */
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
        if (up->err_status != 0) /* the copy's spool said why */
            upload_answer_error(up, up->err_status, up->err_code, up->err_msg);
        else
            upload_answer_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "storage_unavailable",
                                "the object store is not reachable; nothing was stored");
        return EH_ERR;
    }
    return EH_OK;
}
