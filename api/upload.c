/*
 * POST /api/v1/files/upload: the orchestrator of the upload pipeline
 * (upload.h): spool + sniff -> store -> record -> announce.
 *
 * This file takes libmicrohttpd's calls and owns no stage: the first call
 * checks the request's headers (size, type, dry_run, Idempotency-Key, the
 * spool budget), the body goes to the spool stage as it arrives, and the
 * final call hands the rest of the pipeline to a thread of its own while the
 * connection is suspended (offload.c): reserve the idempotency key, store,
 * record, announce. The final call, made again on resume, queues the answer
 * the stages left. A dry run stops after the spool stage with its counts.
 *
 * An answer decided before the whole body has been read (413, 415, 400,
 * 503) cannot be queued through libmicrohttpd 0.9.75, which accepts a
 * response only before the body or after all of it, and a response queued
 * before the body makes it close a connection whose client is still
 * writing: the client (Python's requests and httpx, browsers' fetch: no
 * `Expect: 100-continue`) then gets a reset instead of the answer. So the
 * answer is written on the socket directly, the sending side is shut down,
 * and the connection lingers as nginx's lingering close does: what the
 * client still sends is read and dropped for a bounded time and byte count
 * (nothing of it is stored), then the access handler returns MHD_NO, which
 * closes the connection. That runs off the request threads too.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "timefmt.h"
#include "upload.h"

/* Room for the multipart framing around the file (boundaries, part headers, other small fields). */
#define FRAMING_SLACK (64 * 1024)
#define EARLY_SEND_MS 2000
/* The lingering close, as nginx's lingering_time / lingering_timeout, and a cap on what is read and dropped. */
#define LINGER_TOTAL_MS 30000
#define LINGER_IDLE_MS 5000
#define LINGER_BYTES (256ULL * 1024 * 1024)
/* Past EH_HTTP_TIMEOUT_S, a body must have averaged at least this many bytes per second. */
#define MIN_BODY_RATE (16 * 1024)
/* An aborted upload whose spool holds more than this is cleaned up off the request thread. */
#define CLEANUP_OFFLOAD_BYTES (1024 * 1024)

/* ---- answers shared by the stages ---- */

void upload_set_error(api_upload_t *up, int status, const char *code, const char *msg)
{
    if (up->err_status != 0)
        return; /* the first reason wins */
    up->err_status = status;
    up->err_code = code;
    snprintf(up->err_msg, sizeof(up->err_msg), "%s", msg);
}

void upload_answer(api_upload_t *up, int status, json_t *body)
{
    json_decref(up->ans_body);
    up->ans_status = status;
    up->ans_body = body;
}

void upload_answer_error(api_upload_t *up, int status, const char *code, const char *msg)
{
    upload_answer(up, status, api_http_error_body(code, msg));
}

/* ---- the end of a request ---- */

static void upload_free(api_upload_t *up)
{
    upload_spool_free(up);
    eh_job_clear(&up->job);
    json_decref(up->ans_body);
    free(up);
}

static void cleanup_work(void *arg)
{
    api_upload_t *up = arg;
    int64_t t0 = eh_time_mono_ms();
    uint64_t spooled = up->spooled;
    upload_free(up);
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:I, s:I}", "spooled_bytes", (json_int_t)spooled, "cleanup_ms",
                        (json_int_t)(eh_time_mono_ms() - t0)),
              "upload cleaned up off the request thread");
}

void api_upload_destroy(api_upload_t *up)
{
    if (up == NULL)
        return;
    api_multipart_free(&up->mp);
    up->mp_ready = false;
    /*
     * Closing a large spool file frees its blocks, and a streamed PUT must be
     * cancelled and its partial object deleted (an S3 round trip): neither
     * may hold a request thread that serves other connections.
     */
    bool heavy = up->stream != NULL || (up->fd >= 0 && up->spooled > CLEANUP_OFFLOAD_BYTES);
    if (heavy && api_offload_detached(up->ctx->offload, cleanup_work, up) == EH_OK)
        return;
    upload_free(up);
}

/* ---- answering before the end of the body ---- */

static void write_refusal(void *arg)
{
    api_upload_t *up = arg;
    api_request_t *rq = up->rq;
    upload_spool_release(up); /* nothing of a refused upload stays, even for a moment after the answer */
    upload_record_release(up);
    size_t len = 0;
    char *text = api_http_error_raw(up->err_status, up->err_code, up->err_msg, "X-Request-Id", rq->request_id, &len);
    uint64_t dropped = 0;
    if (text != NULL && up->sock >= 0) {
        int64_t deadline = eh_time_mono_ms() + EARLY_SEND_MS;
        int fd = up->sock;
        /* Head and body in one send: a client reading once gets the whole answer. */
        if (eh_net_send_all(fd, text, len, deadline)) {
            rq->status = up->err_status;
            rq->bytes = len;
            dropped = eh_net_linger(fd, LINGER_TOTAL_MS, LINGER_IDLE_MS, LINGER_BYTES);
        }
    }
    free(text);
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:i, s:s, s:I, s:I}", "status", up->err_status, "code", up->err_code, "body_bytes",
                        (json_int_t)up->body_bytes, "lingered_bytes", (json_int_t)dropped),
              "upload refused before the end of the body: %s", up->err_msg);
    atomic_store(&up->refusal_written, true);
}

static enum MHD_Result refuse(struct MHD_Connection *c, api_upload_t *up)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    up->sock = ci != NULL ? ci->connect_fd : -1;
    up->stage = UPLOAD_REFUSED;
    if (api_offload_run(up->ctx->offload, c, write_refusal, up) == EH_OK)
        return MHD_YES; /* called again on resume: MHD_NO then */
    write_refusal(up);
    return MHD_NO; /* libmicrohttpd closes the connection without reading on */
}

/* ---- telling the file's length from the framing ---- */

/*
 * From the first chunk of the body: when it opens with the part of the field
 * "file" (no preamble), the file is Content-Length less that part's head and
 * the closing "\r\n--boundary--\r\n". A body framed otherwise is only
 * noticed at the end (the file's length differs) and stored the slow way.
 */
static void predict_file_length(api_upload_t *up, const char *data, size_t size)
{
    size_t blen = strlen(up->boundary);
    if (up->declared == 0 || blen == 0 || size < blen + 4 || memcmp(data, "--", 2) != 0 ||
        memcmp(data + 2, up->boundary, blen) != 0 || memcmp(data + 2 + blen, "\r\n", 2) != 0)
        return;
    const char *end = memmem(data, size, "\r\n\r\n", 4);
    if (end == NULL || memmem(data, (size_t)(end - data), "name=\"file\"", 11) == NULL)
        return;
    uint64_t head = (uint64_t)(end - data) + 4;
    uint64_t tail = 2 + 2 + blen + 2 + 2;
    if (up->declared > head + tail)
        up->predicted = up->declared - head - tail;
}

static void set_malformed(api_upload_t *up)
{
    const char *why = api_multipart_reason(&up->mp);
    char msg[160];
    snprintf(msg, sizeof(msg), "malformed multipart/form-data (%s)", why != NULL ? why : "unreadable");
    upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart", msg);
}

/* ---- the first call: what the headers and the query decide ---- */

typedef struct arg_count {
    const char *name;
    unsigned n;
} arg_count_t;

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    EH_UNUSED(kind);
    EH_UNUSED(value);
    arg_count_t *ac = cls;
    if (key != NULL && strcmp(key, ac->name) == 0)
        ac->n++;
    return MHD_YES;
}

/* The dry_run parameter: absent or "false" -> false, "true" -> true; anything else (or repeated) is a 400. */
static int parse_dry_run(struct MHD_Connection *c, bool *dry_run)
{
    arg_count_t ac = {"dry_run", 0};
    (void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_arg, &ac);
    *dry_run = false;
    if (ac.n == 0)
        return EH_OK;
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dry_run");
    if (ac.n > 1 || v == NULL)
        return EH_DECLINED;
    if (strcmp(v, "true") == 0)
        *dry_run = true;
    else if (strcmp(v, "false") != 0)
        return EH_DECLINED;
    return EH_OK;
}

/* The Idempotency-Key header: 1-255 visible ASCII characters (CONTRACT.md). EH_OK (out "" when absent). */
static int parse_idempotency_key(struct MHD_Connection *c, char out[UPLOAD_IDEM_KEY_MAX + 1])
{
    out[0] = '\0';
    arg_count_t ac = {"Idempotency-Key", 0};
    (void)MHD_get_connection_values(c, MHD_HEADER_KIND, count_arg, &ac);
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (v == NULL)
        return ac.n == 0 ? EH_OK : EH_DECLINED;
    size_t n = strlen(v);
    if (ac.n > 1 || n == 0 || n > UPLOAD_IDEM_KEY_MAX)
        return EH_DECLINED;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return EH_DECLINED;
    memcpy(out, v, n + 1);
    return EH_OK;
}

api_scope_t api_upload_scope(struct MHD_Connection *c)
{
    bool dry_run = false;
    return parse_dry_run(c, &dry_run) == EH_OK && dry_run ? API_SCOPE_READ : API_SCOPE_WRITE;
}

static uint64_t content_length(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno == 0 && end != cl && *end == '\0' ? (uint64_t)n : 0;
}

/* The checks of the first call, in order; EH_OK or the refusal is set in up. */
static int check_headers(struct MHD_Connection *c, api_upload_t *up)
{
    uint64_t max = (uint64_t)up->ctx->cfg->max_upload_bytes;
    if (parse_dry_run(c, &up->dry_run) != EH_OK) {
        upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_parameter", "dry_run must be true or false");
        return EH_DECLINED;
    }
    if (parse_idempotency_key(c, up->idem_key) != EH_OK) {
        upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_idempotency_key",
                         "Idempotency-Key must be one header of 1 to 255 visible ASCII characters");
        return EH_DECLINED;
    }
    if (up->dry_run)
        up->idem_key[0] = '\0'; /* a dry run makes no job: there is nothing to repeat */
    if (up->declared > max + FRAMING_SLACK) {
        char msg[96];
        snprintf(msg, sizeof(msg), "file exceeds %llu bytes", (unsigned long long)max);
        upload_set_error(up, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
        return EH_DECLINED;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || strncasecmp(ct, "multipart/form-data", strlen("multipart/form-data")) != 0) {
        upload_set_error(up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                         "the upload must be multipart/form-data with the file in the field \"file\"");
        return EH_DECLINED;
    }
    if (api_multipart_boundary(ct, up->boundary) != EH_OK) {
        upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
                         "malformed multipart/form-data (no usable boundary)");
        return EH_DECLINED;
    }
    /*
     * A tenant at its quota is told before it sends the file (the record
     * stage's transaction still decides). Not a dry run (it makes no job),
     * nor a request with an Idempotency-Key (its repeat answers the first job).
     */
    if (!up->dry_run && up->idem_key[0] == '\0' && api_quota_full(up->ctx, up->rq->caller.tenant_id)) {
        upload_set_error(up, MHD_HTTP_TOO_MANY_REQUESTS, "quota_exceeded", API_QUOTA_MESSAGE);
        return EH_DECLINED;
    }
    /* A declared length that the spool budget cannot hold is refused before its body is read. */
    if (!up->dry_run && !upload_spool_charge(up, up->declared)) {
        upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_full",
                         "the server's upload spool is full; retry later");
        return EH_DECLINED;
    }
    return EH_OK;
}

enum MHD_Result api_upload_begin(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    api_upload_t *up = calloc(1, sizeof(*up));
    if (up == NULL)
        return MHD_NO;
    up->ctx = ctx;
    up->rq = rq;
    up->conn = c;
    up->fd = -1;
    up->sock = -1;
    atomic_init(&up->refusal_written, false);
    up->declared = content_length(c);
    rq->upload = up;
    if (check_headers(c, up) != EH_OK)
        return refuse(c, up);
    if (upload_spool_init(up) != EH_OK)
        return MHD_NO;
    int rc = api_multipart_init(&up->mp, up->boundary, strlen(up->boundary), &upload_spool_parts, up);
    if (rc == EH_DECLINED) {
        upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
                         "malformed multipart/form-data (no usable boundary)");
        return refuse(c, up);
    }
    if (rc != EH_OK)
        return MHD_NO;
    up->mp_ready = true;
    return MHD_YES;
}

/* ---- the final call: the rest of the pipeline, off the request threads ---- */

static void pipeline(api_upload_t *up)
{
    if (upload_spool_finish(up) != EH_OK)
        return;
    if (up->dry_run) {
        upload_answer(up, MHD_HTTP_OK, upload_spool_dry_run_body(up));
        return;
    }
    /* A broker known to be down before anything is stored: refuse at once, store nothing. */
    if (api_publisher_check(up->ctx->pub) != EH_OK) {
        upload_answer_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_unavailable",
                            "the job queue is not reachable; nothing was stored");
        return;
    }
    if (upload_record_reserve(up) != EH_OK)
        return;
    int64_t put_start = eh_time_mono_ms();
    if (upload_store_run(up) != EH_OK)
        return;
    int64_t put_ms = eh_time_mono_ms() - put_start;
    if (upload_record_run(up) != EH_OK)
        return;
    upload_announce_run(up, put_start - up->rq->start_ms, put_ms);
}

static void pipeline_work(void *arg)
{
    api_upload_t *up = arg;
    pipeline(up);
    if (up->ans_status != MHD_HTTP_ACCEPTED) {
        upload_store_drop(up); /* before the answer: nothing of a refused upload stays */
        upload_record_release(up);
    }
    upload_spool_release(up); /* stored (or refused): the spool and its budget are free for others */
    up->stage = UPLOAD_STORED;
}

static enum MHD_Result queue_answer(struct MHD_Connection *c, api_request_t *rq, api_upload_t *up)
{
    json_t *body = up->ans_body;
    up->ans_body = NULL;
    /* The S3 PUT may have outlasted the idle timeout: count the connection as active again. */
    (void)MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)up->ctx->cfg->http_timeout_s);
    bool located = up->ans_location[0] != '\0';
    return api_http_send_json_header(c, rq, up->ans_status, body, located ? "Location" : NULL,
                                     located ? up->ans_location : NULL);
}

/* The answer to a body that arrived whole but cannot be taken; nothing of it stays. */
static enum MHD_Result refuse_at_end(struct MHD_Connection *c, api_request_t *rq, api_upload_t *up, int status,
                                     const char *code, const char *msg)
{
    upload_spool_release(up);
    return api_http_send_error(c, rq, status, code, msg);
}

static enum MHD_Result finish(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, api_upload_t *up)
{
    int clean = api_multipart_finish(&up->mp);
    if (up->err_status != 0)
        return refuse_at_end(c, rq, up, up->err_status, up->err_code, up->err_msg);
    if (clean != EH_OK)
        return refuse_at_end(c, rq, up, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
                             "malformed multipart/form-data (truncated or without its closing boundary)");
    if (up->file_parts == 0)
        return refuse_at_end(c, rq, up, MHD_HTTP_BAD_REQUEST, "missing_file",
                             "no field \"file\" in the multipart body");
    if (up->file_bytes == 0)
        return refuse_at_end(c, rq, up, MHD_HTTP_BAD_REQUEST, "empty_file", "the file is empty");
    if (api_sniff_finish(&up->sniff) < 0)
        return refuse_at_end(c, rq, up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_content", up->sniff.reason);
    up->stage = UPLOAD_STORING;
    if (api_offload_run(ctx->offload, c, pipeline_work, up) == EH_OK)
        return MHD_YES; /* the final call comes again on resume */
    pipeline_work(up);
    return queue_answer(c, rq, up);
}

enum MHD_Result api_upload_continue(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, const char *data,
                                    size_t *size)
{
    api_upload_t *up = rq->upload;
    if (up != NULL && up->stage != UPLOAD_RECEIVING) {
        /*
         * libmicrohttpd may call again with more of a chunked body right
         * after the suspend: closing then would free up under the refusal's
         * thread, so the body is swallowed until the refusal is written.
         */
        if (up->stage == UPLOAD_REFUSED && atomic_load(&up->refusal_written))
            return MHD_NO;
        *size = 0;
        return up->stage == UPLOAD_STORED ? queue_answer(c, rq, up) : MHD_YES;
    }
    if (rq->status != 0) {
        *size = 0; /* answered already (on the first call): nothing more to do */
        return MHD_YES;
    }
    if (up == NULL || !up->mp_ready)
        return MHD_NO;
    if (*size == 0)
        return finish(ctx, c, rq, up);
    if (up->body_bytes == 0)
        predict_file_length(up, data, *size);
    up->body_bytes += *size;
    int64_t elapsed_ms = eh_time_mono_ms() - rq->start_ms;
    if (up->body_bytes > (uint64_t)ctx->cfg->max_upload_bytes + FRAMING_SLACK) {
        char msg[96];
        snprintf(msg, sizeof(msg), "file exceeds %lld bytes", (long long)ctx->cfg->max_upload_bytes);
        upload_set_error(up, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
    } else if (elapsed_ms > ctx->cfg->http_timeout_s * 1000 &&
               up->body_bytes < (uint64_t)(elapsed_ms / 1000) * MIN_BODY_RATE)
        /* The idle timeout restarts with every byte: a client dripping its body would hold the connection forever. */
        upload_set_error(up, MHD_HTTP_REQUEST_TIMEOUT, "upload_too_slow", "the body arrives too slowly");
    else if (api_multipart_feed(&up->mp, data, *size) != EH_OK)
        set_malformed(up); /* a stop by the spool stage has set its own answer already */
    *size = 0;
    if (up->err_status != 0)
        return refuse(c, up);
    upload_store_pace(up); /* after the refusal check: a connection is suspended by one owner at a time */
    return MHD_YES;
}
