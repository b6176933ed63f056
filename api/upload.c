/*
 * POST /api/v1/files/upload: multipart/form-data streamed into a spool file.
 *
 * The `file` part goes through libmicrohttpd's post processor into a spool
 * file opened with O_TMPFILE (nothing to unlink, even after a crash), while
 * bytes and lines are counted and the format is sniffed. Then: PUT to S3
 * under a key made from a new job id, INSERT the job row, publish with a
 * confirm, 202. That last step takes seconds for a large file, so it runs
 * on a thread of its own while the connection is suspended (offload.c); the
 * final call of the access handler, made again on resume, queues its answer.
 *
 * A file of 8 MiB or more whose exact length follows from Content-Length
 * (the usual case: the file is the only part) is PUT while it arrives
 * (put_stream.c), its last byte held back until every check has passed, so
 * the upload takes about as long as the slower of the two transfers instead
 * of their sum. Any surprise (another part after the file, a cut PUT) drops
 * the streamed PUT and stores the spool under a new key at the end.
 *
 * An answer decided while the body is still coming (413, 415, 400) cannot be
 * queued through libmicrohttpd 0.9.75, which accepts a response only before
 * the body or after all of it. So that the server stops reading rather than
 * draining a GiB, the answer is written on the socket directly, the sending
 * side is shut down, the rest is read and dropped for a short moment (so
 * that the client sees the answer instead of a reset), and the access
 * handler returns MHD_NO, which closes the connection. That moment is
 * offloaded too: a request thread serves many connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "job.h"
#include "job_queue.h"
#include "job_store.h"
#include "log.h"
#include "timefmt.h"
#include "uuid.h"

#define PP_BUFFER (64 * 1024)
#define SPOOL_BUFFER (256 * 1024)
/* Room for the multipart framing around the file (boundaries, part headers, other small fields). */
#define FRAMING_SLACK (64 * 1024)
#define EARLY_SEND_MS 2000
#define LINGER_MS 1000
#define LINGER_BYTES (16 * 1024 * 1024)
/* Smaller files are stored once they have arrived: streaming them would gain little. */
#define STREAM_MIN_BYTES (8 * 1024 * 1024)
#define BOUNDARY_MAX 70 /* RFC 2046 */
/* Past EH_HTTP_TIMEOUT_S, a body must have averaged at least this many bytes per second. */
#define MIN_BODY_RATE (16 * 1024)

static const char SQL_INSERT_JOB[] =
    "INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, tenant_id) "
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING " EH_JOB_COLUMNS;

enum upload_stage {
    RECEIVING,
    STORING, /* offloaded: the connection is suspended */
    STORED,  /* the answer is ready for the final call */
    REFUSED, /* answered before the end of the body: the connection is to be closed */
};

typedef struct api_upload {
    api_ctx_t *ctx;
    api_request_t *rq;
    int stage;
    struct MHD_PostProcessor *pp;
    int fd;          /* spool; -1 until the file part starts */
    char *wbuf;      /* spool write buffer */
    size_t wlen;
    uint64_t body_bytes; /* raw request body so far */
    uint64_t file_bytes;
    uint64_t newlines;
    char last;          /* last byte of the file */
    int file_parts;
    bool in_file;       /* the part being delivered is the file */
    uint64_t part_bytes;
    char file_name[API_FILE_NAME_MAX + 1];
    api_sniff_t sniff;
    /* An answer decided before the end of the body. */
    int err_status;
    const char *err_code;
    char err_msg[192];
    int sock; /* the connection's socket, for an answer written before the end of the body */
    atomic_bool refusal_written; /* set by write_refusal, which may run on another thread */
    /*
     * The PUT streamed while the body arrives (put_stream.c): possible when
     * the file is the first part and Content-Length gives its exact length.
     */
    uint64_t declared; /* Content-Length; 0 when absent */
    char boundary[BOUNDARY_MAX + 1];
    uint64_t predicted; /* the file's length told from the framing; 0: unknown */
    uint64_t spooled;   /* bytes of the file written to the spool file */
    bool stream_tried;
    api_put_stream_t *stream;
    char id[EH_UUID_STRLEN + 1]; /* the job's id, made when the PUT starts */
    char key[EH_OBJECT_KEY_MAX];
    /* The answer of the final call, made by store(). */
    int ans_status;
    json_t *ans_body;
    char ans_location[64];
} api_upload_t;

static void set_error(api_upload_t *up, int status, const char *code, const char *msg)
{
    if (up->err_status != 0)
        return; /* the first reason wins */
    up->err_status = status;
    up->err_code = code;
    snprintf(up->err_msg, sizeof(up->err_msg), "%s", msg);
}

static void set_too_large(api_upload_t *up)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "file exceeds %lld bytes", (long long)up->ctx->cfg->max_upload_bytes);
    set_error(up, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
}

void api_upload_destroy(api_upload_t *up)
{
    if (up == NULL)
        return;
    if (up->pp != NULL)
        (void)MHD_destroy_post_processor(up->pp);
    api_put_stream_destroy(up->stream); /* before the spool it reads goes */
    if (up->fd >= 0)
        close(up->fd); /* an O_TMPFILE (or already unlinked) spool disappears with its last descriptor */
    free(up->wbuf);
    json_decref(up->ans_body);
    api_sniff_free(&up->sniff);
    free(up);
}

/* ---- the spool ---- */

static int spool_open(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    int err = errno;
    if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "spool_dir", dir, "errno", err), "cannot open a spool file: %s",
                  strerror(err));
        return -1;
    }
    /* A file system without O_TMPFILE: a named file, unlinked at once. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/eh-upload-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "spool_dir", dir, "errno", err), "cannot create a spool file: %s",
                  strerror(err));
        return -1;
    }
    if (unlink(path) != 0)
        eh_log_errno(EH_LOG_WARN, errno, "unlink spool file");
    return fd;
}

int api_upload_check_spool(const char *dir)
{
    int fd = spool_open(dir);
    if (fd < 0)
        return EH_ERR;
    close(fd);
    return EH_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            eh_log_errno(EH_LOG_ERROR, w < 0 ? errno : EIO, "write spool file");
            return EH_ERR;
        }
        p += w;
        n -= (size_t)w;
    }
    return EH_OK;
}

/* Starts the streamed PUT once the file looks right and is large enough, then tells it what is on disk. */
static void stream_on_disk(api_upload_t *up)
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

/* Cancels a streamed PUT (deleting what it may have left); a committed one is only freed. */
static void drop_stream(api_upload_t *up)
{
    api_put_stream_destroy(up->stream);
    up->stream = NULL;
}

static int spool_append(api_upload_t *up, const char *p, size_t n)
{
    if (write_all(up->fd, p, n) != EH_OK)
        return EH_ERR;
    up->spooled += n;
    stream_on_disk(up);
    return EH_OK;
}

static int spool_flush(api_upload_t *up)
{
    int rc = spool_append(up, up->wbuf, up->wlen);
    up->wlen = 0;
    return rc;
}

static int spool_write(api_upload_t *up, const char *data, size_t n)
{
    if (up->wlen + n > SPOOL_BUFFER && spool_flush(up) != EH_OK)
        return EH_ERR;
    if (n >= SPOOL_BUFFER)
        return spool_append(up, data, n);
    memcpy(up->wbuf + up->wlen, data, n);
    up->wlen += n;
    return EH_OK;
}

/* ---- the multipart parts ---- */

static enum MHD_Result start_file_part(api_upload_t *up, const char *filename)
{
    if (++up->file_parts > 1) {
        set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart", "more than one file field");
        return MHD_NO;
    }
    if (filename == NULL) {
        set_error(up, MHD_HTTP_BAD_REQUEST, "missing_file", "the file field carries no file (no filename)");
        return MHD_NO;
    }
    api_util_file_name(filename, up->file_name);
    if (!api_util_has_jsonl_ext(up->file_name)) {
        set_error(up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_file_type",
                  "the file name must end in .jsonl or .ndjson");
        return MHD_NO;
    }
    up->wbuf = malloc(SPOOL_BUFFER);
    up->fd = up->wbuf != NULL ? spool_open(up->ctx->cfg->spool_dir) : -1;
    if (up->fd < 0) {
        set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_unavailable", "the upload cannot be spooled right now");
        return MHD_NO;
    }
    up->in_file = true;
    return MHD_YES;
}

static enum MHD_Result file_data(api_upload_t *up, const char *data, size_t size)
{
    up->file_bytes += size;
    up->part_bytes += size;
    if (up->file_bytes > (uint64_t)up->ctx->cfg->max_upload_bytes) {
        set_too_large(up);
        return MHD_NO;
    }
    if (api_sniff_feed(&up->sniff, data, size) < 0) {
        set_error(up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_content", up->sniff.reason);
        return MHD_NO;
    }
    for (const char *p = data, *end = data + size; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        up->newlines++;
    up->last = data[size - 1];
    if (spool_write(up, data, size) != EH_OK) {
        set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_unavailable", "the upload cannot be spooled right now");
        return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data,
                               uint64_t off, size_t size)
{
    EH_UNUSED(kind);
    EH_UNUSED(content_type);
    EH_UNUSED(transfer_encoding);
    api_upload_t *up = cls;
    if (key == NULL || strcmp(key, "file") != 0) {
        up->in_file = false;
        return MHD_YES; /* other fields are ignored */
    }
    /* A part's first chunk has offset 0 (possibly twice when the first call is empty). */
    if (off == 0 && (up->file_parts == 0 || up->part_bytes > 0 || !up->in_file)) {
        up->part_bytes = 0;
        if (start_file_part(up, filename) != MHD_YES)
            return MHD_NO;
    }
    if (size == 0)
        return MHD_YES;
    return file_data(up, data, size);
}

/* ---- answering before the end of the body ---- */

static bool send_all(int fd, const char *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - eh_time_mono_ms();
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (left > 0 && poll(&pfd, 1, (int)left) > 0)
                continue;
        }
        return false;
    }
    return true;
}

/* Reads and drops what the client still sends, briefly, so that closing does not reset away our answer. */
static void linger(int fd)
{
    char buf[16384];
    int64_t deadline = eh_time_mono_ms() + LINGER_MS;
    size_t total = 0;
    while (total < LINGER_BYTES) {
        int64_t left = deadline - eh_time_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return;
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return;
        total += (size_t)r;
    }
}

static void write_refusal(void *arg)
{
    api_upload_t *up = arg;
    api_request_t *rq = up->rq;
    drop_stream(up); /* nothing of a refused upload stays, even for a moment after the answer */
    size_t len = 0;
    char *text = api_http_error_raw(up->err_status, up->err_code, up->err_msg, NULL, NULL, &len);
    if (text != NULL && up->sock >= 0) {
        int64_t deadline = eh_time_mono_ms() + EARLY_SEND_MS;
        int fd = up->sock;
        if (send_all(fd, text, len, deadline)) {
            rq->status = up->err_status;
            rq->bytes = len;
            if (shutdown(fd, SHUT_WR) == 0)
                linger(fd);
        }
    }
    free(text);
    eh_log_kv(EH_LOG_INFO, json_pack("{s:i, s:s, s:I}", "status", up->err_status, "code", up->err_code, "body_bytes",
                                     (json_int_t)up->body_bytes),
              "upload refused before the end of the body: %s", up->err_msg);
    atomic_store(&up->refusal_written, true);
}

static enum MHD_Result refuse(struct MHD_Connection *c, api_upload_t *up)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    up->sock = ci != NULL ? ci->connect_fd : -1;
    up->stage = REFUSED;
    if (api_offload_run(up->ctx->offload, c, write_refusal, up) == EH_OK)
        return MHD_YES; /* called again on resume: MHD_NO then */
    write_refusal(up);
    return MHD_NO; /* libmicrohttpd closes the connection without reading on */
}

/* ---- telling the file's length from the framing ---- */

/* The boundary parameter of a multipart Content-Type (quoted or not) into out; false when there is none. */
static bool parse_boundary(const char *ct, char out[BOUNDARY_MAX + 1])
{
    const char *b = strcasestr(ct, "boundary=");
    if (b == NULL)
        return false;
    b += strlen("boundary=");
    bool quoted = *b == '"';
    if (quoted)
        b++;
    size_t n = quoted ? strcspn(b, "\"") : strcspn(b, "; \t");
    if (n == 0 || n > BOUNDARY_MAX)
        return false;
    memcpy(out, b, n);
    out[n] = '\0';
    return true;
}

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

/* ---- the first call ---- */

enum MHD_Result api_upload_begin(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    uint64_t max = (uint64_t)ctx->cfg->max_upload_bytes;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = 0;
    if (cl != NULL) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && *end == '\0')
            declared = n;
        if (errno == 0 && end != cl && n > max + FRAMING_SLACK) {
            char msg[96];
            snprintf(msg, sizeof(msg), "file exceeds %llu bytes", (unsigned long long)max);
            return api_http_send_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
        }
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || strncasecmp(ct, "multipart/form-data", strlen("multipart/form-data")) != 0)
        return api_http_send_error(c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                   "the upload must be multipart/form-data with the file in the field \"file\"");
    api_upload_t *up = calloc(1, sizeof(*up));
    if (up == NULL)
        return MHD_NO;
    up->ctx = ctx;
    up->rq = rq;
    up->fd = -1;
    up->sock = -1;
    atomic_init(&up->refusal_written, false);
    up->declared = declared;
    if (!parse_boundary(ct, up->boundary))
        up->boundary[0] = '\0';
    api_sniff_init(&up->sniff, (size_t)ctx->cfg->max_line_bytes);
    rq->upload = up;
    up->pp = MHD_create_post_processor(c, PP_BUFFER, on_part, up);
    if (up->pp == NULL)
        return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
                                   "malformed multipart/form-data (no usable boundary)");
    return MHD_YES;
}

/* ---- the final call: store and answer ---- */

static void set_answer(api_upload_t *up, int status, json_t *body)
{
    json_decref(up->ans_body);
    up->ans_status = status;
    up->ans_body = body;
}

static void answer_error(api_upload_t *up, int status, const char *code, const char *msg)
{
    set_answer(up, status, api_http_error_body(code, msg));
}

static void unavailable(api_upload_t *up, const char *code, const char *msg)
{
    answer_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, code, msg);
}

/*
 * After a failed INSERT: was the row written anyway (connection lost after
 * the commit)? EH_OK with out filled when it was, EH_DECLINED when it surely
 * was not, EH_AGAIN when nobody can tell.
 */
static int find_after_failure(api_ctx_t *ctx, const char *id, const char *tenant_id, eh_job_t *out)
{
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return EH_AGAIN;
    int rc = eh_job_load(db, id, tenant_id, out);
    eh_db_pool_release(ctx->db, db);
    return rc == EH_OK || rc == EH_DECLINED ? rc : EH_AGAIN;
}

static void delete_object(api_ctx_t *ctx, const char *key)
{
    eh_s3_error_t err;
    if (eh_s3_delete(ctx->s3, key, &err) != EH_OK)
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i, s:s}", "object_key", key, "http_status", err.http_status,
                                          "s3_code", err.code),
                  "could not delete the object of a job that was not recorded");
}

/*
 * The job's INSERT in the transaction where the tenant's quota is checked
 * (api_quota_reserve). EH_OK (committed), EH_DECLINED (quota reached,
 * nothing written), or a failure after which the row may or may not exist.
 */
static int insert_job(api_ctx_t *ctx, eh_db_t *db, const char *const params[6], eh_job_t *job)
{
    int rc = api_quota_reserve(db, params[5], ctx->cfg->tenant_max_active_jobs);
    if (rc != EH_OK)
        return rc;
    int status = EH_AGAIN;
    PGresult *res = eh_db_query(db, SQL_INSERT_JOB, 6, params, &status);
    rc = res != NULL ? eh_job_from_row(res, 0, job) : status;
    PQclear(res);
    if (rc != EH_OK) {
        eh_db_rollback(db);
        return rc;
    }
    rc = eh_db_commit(db);
    if (rc != EH_OK)
        eh_job_clear(job);
    return rc;
}

/*
 * Inserts the row. EH_OK with job filled; EH_DECLINED when the tenant's
 * quota is reached; otherwise EH_AGAIN. The object's fate is settled here.
 */
static int record_job(api_ctx_t *ctx, api_upload_t *up, const char *id, const char *key, eh_job_t *job)
{
    char size[24], lines[24];
    uint64_t total = up->newlines + (up->last != '\n' ? 1 : 0);
    snprintf(size, sizeof(size), "%llu", (unsigned long long)up->file_bytes);
    snprintf(lines, sizeof(lines), "%llu", (unsigned long long)total);
    const char *tenant_id = up->rq->caller.tenant_id;
    const char *params[] = {id, up->file_name, key, size, lines, tenant_id};
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL) {
        delete_object(ctx, key); /* nothing was sent: the row surely does not exist */
        return EH_AGAIN;
    }
    int rc = insert_job(ctx, db, params, job);
    eh_db_pool_release(ctx->db, db);
    if (rc == EH_OK)
        return EH_OK;
    if (rc == EH_DECLINED) {
        delete_object(ctx, key); /* rolled back before the INSERT */
        return EH_DECLINED;
    }
    int found = find_after_failure(ctx, id, tenant_id, job);
    if (found == EH_OK)
        return EH_OK; /* committed after all: go on as if the INSERT had answered */
    if (found == EH_DECLINED)
        delete_object(ctx, key);
    else
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", id, "object_key", key),
                  "job row in doubt: the object is kept (a row never exists without its object)");
    return EH_AGAIN;
}

static json_t *accepted_body(const eh_job_t *job)
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

/* Stores the spooled file, records and publishes the job; leaves the answer in up. Off the request threads. */
static void store(api_upload_t *up)
{
    api_ctx_t *ctx = up->ctx;
    if (spool_flush(up) != EH_OK) {
        unavailable(up, "spool_unavailable", "the upload cannot be spooled right now");
        return;
    }
    /* A broker known to be down before anything is stored: refuse at once, store nothing. */
    if (api_publisher_check(ctx->pub) != EH_OK) {
        unavailable(up, "queue_unavailable", "the job queue is not reachable; nothing was stored");
        return;
    }
    eh_s3_error_t err;
    memset(&err, 0, sizeof(err));
    int64_t put_start = eh_time_mono_ms();
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
        drop_stream(up);
        if (eh_uuid_v4(up->id) != EH_OK) {
            answer_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no randomness for a job id");
            return;
        }
        eh_job_object_key(up->id, up->key);
        if (lseek(up->fd, 0, SEEK_SET) != 0) {
            eh_log_errno(EH_LOG_ERROR, errno, "lseek spool file");
            answer_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "spool file unreadable");
            return;
        }
        rc = eh_s3_put_fd(ctx->s3, up->key, up->fd, up->file_bytes, &err);
    }
    const char *id = up->id, *key = up->key;
    int64_t put_ms = eh_time_mono_ms() - put_start;
    if (rc != EH_OK) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i, s:s, s:s}", "object_key", key, "http_status", err.http_status,
                                          "s3_code", err.code, "s3_message", err.message),
                  "storing the upload failed");
        unavailable(up, "storage_unavailable", "the object store is not reachable; nothing was stored");
        return;
    }
    eh_job_t job;
    rc = record_job(ctx, up, id, key, &job);
    if (rc == EH_DECLINED) {
        answer_error(up, MHD_HTTP_TOO_MANY_REQUESTS, "quota_exceeded",
                     "this tenant has EH_TENANT_MAX_ACTIVE_JOBS jobs queued or processing; wait for one to finish");
        return;
    }
    if (rc != EH_OK) {
        unavailable(up, "database_unavailable", "the database is not reachable; nothing was stored");
        return;
    }
    /* Not confirmed: the job stays queued without a publish stamp, and the re-publisher sends it later. */
    bool published = api_publisher_publish(ctx->pub, id, key) == EH_OK;
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:b}", "job_id", id, "file_name", job.file_name,
                        "size_bytes", (json_int_t)job.size_bytes, "lines_total", (json_int_t)job.lines_total,
                        "published", published, "receive_ms", (json_int_t)(put_start - up->rq->start_ms),
                        "s3_put_wait_ms", (json_int_t)put_ms, "streamed", streamed),
              published ? "upload accepted" : "upload accepted; the job will be published when the broker answers");
    snprintf(up->ans_location, sizeof(up->ans_location), "/api/v1/jobs/%s", id);
    set_answer(up, MHD_HTTP_ACCEPTED, accepted_body(&job));
    eh_job_clear(&job);
}

static void store_work(void *arg)
{
    api_upload_t *up = arg;
    store(up);
    if (up->ans_status != MHD_HTTP_ACCEPTED)
        drop_stream(up); /* before the answer: nothing of a refused upload stays */
    up->stage = STORED;
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
    drop_stream(up);
    return api_http_send_error(c, rq, status, code, msg);
}

static enum MHD_Result finish(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, api_upload_t *up)
{
    enum MHD_Result clean = MHD_destroy_post_processor(up->pp);
    up->pp = NULL;
    if (up->err_status != 0)
        return refuse_at_end(c, rq, up, up->err_status, up->err_code, up->err_msg);
    if (clean != MHD_YES)
        return refuse_at_end(c, rq, up, MHD_HTTP_BAD_REQUEST, "invalid_multipart",
                             "malformed multipart/form-data (truncated or without its closing boundary)");
    if (up->file_parts == 0)
        return refuse_at_end(c, rq, up, MHD_HTTP_BAD_REQUEST, "missing_file",
                             "no field \"file\" in the multipart body");
    if (up->file_bytes == 0)
        return refuse_at_end(c, rq, up, MHD_HTTP_BAD_REQUEST, "empty_file", "the file is empty");
    if (api_sniff_finish(&up->sniff) < 0)
        return refuse_at_end(c, rq, up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_content", up->sniff.reason);
    up->stage = STORING;
    if (api_offload_run(ctx->offload, c, store_work, up) == EH_OK)
        return MHD_YES; /* the final call comes again on resume */
    store_work(up);
    return queue_answer(c, rq, up);
}

enum MHD_Result api_upload_continue(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, const char *data,
                                    size_t *size)
{
    api_upload_t *up = rq->upload;
    if (up != NULL && up->stage != RECEIVING) {
        /*
         * libmicrohttpd may call again with more of a chunked body right
         * after the suspend: closing then would free up under the refusal's
         * thread, so the body is swallowed until the refusal is written.
         */
        if (up->stage == REFUSED && atomic_load(&up->refusal_written))
            return MHD_NO;
        *size = 0;
        return up->stage == STORED ? queue_answer(c, rq, up) : MHD_YES;
    }
    if (rq->status != 0) {
        *size = 0; /* answered already (on the first call): nothing more to do */
        return MHD_YES;
    }
    if (up == NULL || up->pp == NULL)
        return MHD_NO;
    if (*size == 0)
        return finish(ctx, c, rq, up);
    if (up->body_bytes == 0)
        predict_file_length(up, data, *size);
    up->body_bytes += *size;
    int64_t elapsed_ms = eh_time_mono_ms() - rq->start_ms;
    if (up->body_bytes > (uint64_t)ctx->cfg->max_upload_bytes + FRAMING_SLACK)
        set_too_large(up);
    else if (elapsed_ms > ctx->cfg->http_timeout_s * 1000 &&
             up->body_bytes < (uint64_t)(elapsed_ms / 1000) * MIN_BODY_RATE)
        /* The idle timeout restarts with every byte: a client dripping its body would hold the connection forever. */
        set_error(up, MHD_HTTP_REQUEST_TIMEOUT, "upload_too_slow", "the body arrives too slowly");
    else if (MHD_post_process(up->pp, data, *size) != MHD_YES)
        set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart", "malformed multipart/form-data");
    if (up->err_status != 0) {
        *size = 0;
        return refuse(c, up);
    }
    *size = 0;
    return MHD_YES;
}
