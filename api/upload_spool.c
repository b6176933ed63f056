/*
 * The spool stage of an upload: the multipart `file` part is sniffed,
 * counted and written to a spool file opened with O_TMPFILE (nothing to
 * unlink, even after a crash), or, for a dry run, split and validated by the
 * worker's own code (common/line_check.h) and stored nowhere.
 *
 * Disk is bounded twice: every upload takes its bytes from one process-wide
 * budget (EH_SPOOL_MAX_BYTES; a request whose Content-Length does not fit
 * is refused before its body is read), and a write that meets a full disk
 * (ENOSPC) ends the request with 503 and closes the spool file at once, so
 * its blocks are freed before the answer is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "line_check.h"
#include "log.h"
#include "upload.h"

#define SPOOL_BUFFER (256 * 1024)

/* Bytes held by the spool files of every upload in the process. */
static _Atomic uint64_t budget_used;

uint64_t upload_spool_budget_used(void)
{
    return atomic_load(&budget_used);
}

bool upload_spool_charge(api_upload_t *up, uint64_t target)
{
    if (target <= up->charged)
        return true;
    uint64_t more = target - up->charged;
    uint64_t max = (uint64_t)up->ctx->cfg->spool_max_bytes;
    uint64_t used = atomic_load(&budget_used);
    do {
        if (max > 0 && used + more > max)
            return false;
    } while (!atomic_compare_exchange_weak(&budget_used, &used, used + more));
    up->charged = target;
    return true;
}

void upload_spool_uncharge(api_upload_t *up)
{
    if (up->charged > up->spooled) {
        atomic_fetch_sub(&budget_used, up->charged - up->spooled);
        up->charged = up->spooled;
    }
}

static void spool_full(api_upload_t *up)
{
    upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_full", "the server's upload spool is full; retry later");
}

void upload_spool_release(api_upload_t *up)
{
    upload_store_drop(up); /* before the spool it reads goes */
    if (up->fd >= 0)
        close(up->fd); /* an O_TMPFILE (or already unlinked) spool disappears with its last descriptor */
    up->fd = -1;
    if (up->charged > 0)
        atomic_fetch_sub(&budget_used, up->charged);
    up->charged = 0;
}

void upload_spool_free(api_upload_t *up)
{
    upload_spool_release(up);
    free(up->wbuf);
    up->wbuf = NULL;
    api_sniff_free(&up->sniff);
    worker_splitter_destroy(up->dry.splitter);
    up->dry.splitter = NULL;
    worker_entry_clear(&up->dry.entry);
    json_decref(up->dry.errors);
    up->dry.errors = NULL;
    EVP_MD_CTX_free(up->sha);
    up->sha = NULL;
}

/* ---- the spool file ---- */

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
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "spool_dir", dir, "errno", err),
                  "cannot create a spool file: %s", strerror(err));
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

/* EH_OK, or the request's answer is set (503) and the spool file is gone. */
static int write_all(api_upload_t *up, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(up->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            eh_log_errno(EH_LOG_ERROR, err, "write spool file");
            if (err == ENOSPC || err == EDQUOT)
                spool_full(up);
            else
                upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_unavailable",
                                 "the upload cannot be spooled right now");
            upload_spool_release(up); /* the partial file goes now, not when the connection does */
            return EH_ERR;
        }
        p += w;
        n -= (size_t)w;
    }
    return EH_OK;
}

static int spool_append(api_upload_t *up, const char *p, size_t n)
{
    if (!upload_spool_charge(up, up->spooled + n)) {
        spool_full(up);
        upload_spool_release(up);
        return EH_ERR;
    }
    if (write_all(up, p, n) != EH_OK)
        return EH_ERR;
    up->spooled += n;
    return EH_OK;
}

int upload_spool_put(api_upload_t *up, const char *p, size_t n)
{
    return spool_append(up, p, n);
}

int upload_spool_restart(api_upload_t *up)
{
    if (up->fd < 0 || ftruncate(up->fd, 0) != 0 || lseek(up->fd, 0, SEEK_SET) != 0) {
        if (up->fd >= 0)
            eh_log_errno(EH_LOG_ERROR, errno, "empty the spool file");
        upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_unavailable",
                         "the upload cannot be spooled right now");
        return EH_ERR;
    }
    up->spooled = 0;
    up->wlen = 0;
    return EH_OK;
}

static int spool_flush(api_upload_t *up)
{
    int rc = up->wlen > 0 ? spool_append(up, up->wbuf, up->wlen) : EH_OK;
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

/* ---- the dry run: the worker's verdict on every line ---- */

static int dry_line(const worker_line_t *line, void *ud)
{
    api_upload_t *up = ud;
    upload_dry_run_t *d = &up->dry;
    char reason[WORKER_REASON_LEN];
    d->lines_total++;
    int rc = eh_line_check(line, (size_t)up->ctx->cfg->max_line_bytes, &d->entry, reason, sizeof(reason));
    if (rc == EH_OK) {
        d->lines_valid++;
        return EH_OK;
    }
    if (rc == WORKER_VALIDATE_BLANK) {
        d->lines_blank++;
        return EH_OK;
    }
    if (rc != EH_DECLINED)
        return EH_ERR;
    d->lines_invalid++;
    if (json_array_size(d->errors) < UPLOAD_DRY_RUN_ERRORS &&
        json_array_append_new(d->errors,
                              json_pack("{s:I, s:s}", "line_no", (json_int_t)line->line_no, "reason", reason)) != 0)
        return EH_ERR;
    return EH_OK;
}

static int dry_feed(api_upload_t *up, const char *data, size_t n)
{
    if (worker_splitter_feed(up->dry.splitter, data, n, dry_line, up) == EH_OK)
        return EH_OK;
    upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory", "the file cannot be checked right now");
    return EH_ERR;
}

json_t *upload_spool_dry_run_body(api_upload_t *up)
{
    upload_dry_run_t *d = &up->dry;
    json_t *errors = d->errors;
    d->errors = NULL;
    return json_pack("{s:I, s:I, s:I, s:I, s:o}", "lines_total", (json_int_t)d->lines_total, "lines_valid",
                     (json_int_t)d->lines_valid, "lines_invalid", (json_int_t)d->lines_invalid, "lines_blank",
                     (json_int_t)d->lines_blank, "errors", errors);
}

/* ---- the multipart parts ---- */

int upload_spool_init(api_upload_t *up)
{
    api_sniff_init(&up->sniff, (size_t)up->ctx->cfg->max_line_bytes);
    if (up->dry_run) {
        up->dry.splitter = worker_splitter_create((size_t)up->ctx->cfg->max_line_bytes, 1, 0);
        up->dry.errors = json_array();
        return up->dry.splitter != NULL && up->dry.errors != NULL ? EH_OK : EH_ERR;
    }
    if (up->idem_key[0] != '\0') {
        up->sha = EVP_MD_CTX_new();
        if (up->sha == NULL || EVP_DigestInit_ex(up->sha, EVP_sha256(), NULL) != 1)
            return EH_ERR;
    }
    return EH_OK;
}

static int start_file_part(api_upload_t *up, const char *filename)
{
    if (++up->file_parts > 1) {
        upload_set_error(up, MHD_HTTP_BAD_REQUEST, "invalid_multipart", "more than one file field");
        return EH_ERR;
    }
    if (filename == NULL) {
        upload_set_error(up, MHD_HTTP_BAD_REQUEST, "missing_file", "the file field carries no file (no filename)");
        return EH_ERR;
    }
    api_util_file_name(filename, up->file_name);
    if (!api_util_has_jsonl_ext(up->file_name)) {
        upload_set_error(up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_file_type",
                         "the file name must end in .jsonl or .ndjson");
        return EH_ERR;
    }
    up->in_file = true;
    if (up->dry_run)
        return EH_OK;
    up->wbuf = malloc(SPOOL_BUFFER);
    up->fd = up->wbuf != NULL ? spool_open(up->ctx->cfg->spool_dir) : -1;
    if (up->fd < 0) {
        upload_set_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "spool_unavailable",
                         "the upload cannot be spooled right now");
        return EH_ERR;
    }
    return EH_OK;
}

static void set_too_large(api_upload_t *up)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "file exceeds %lld bytes", (long long)up->ctx->cfg->max_upload_bytes);
    upload_set_error(up, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
}

static int file_data(api_upload_t *up, const char *data, size_t size)
{
    up->file_bytes += size;
    if (up->file_bytes > (uint64_t)up->ctx->cfg->max_upload_bytes) {
        set_too_large(up);
        return EH_ERR;
    }
    if (api_sniff_feed(&up->sniff, data, size) < 0) {
        upload_set_error(up, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_content", up->sniff.reason);
        return EH_ERR;
    }
    for (const char *p = data, *end = data + size; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        up->newlines++;
    up->last = data[size - 1];
    if (up->dry_run)
        return dry_feed(up, data, size);
    if (up->sha != NULL && EVP_DigestUpdate(up->sha, data, size) != 1) {
        upload_set_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "cannot digest the file");
        return EH_ERR;
    }
    if (up->stream == NULL && upload_store_may_stream(up)) {
        /* Everything so far goes to the spool file first: the PUT reads it from there, then the ring. */
        if (spool_flush(up) != EH_OK)
            return EH_ERR;
        upload_store_start_stream(up);
    }
    if (up->stream != NULL)
        return upload_store_push(up, data, size);
    return spool_write(up, data, size);
}

static int on_part_begin(void *ud, const api_multipart_part_t *part)
{
    api_upload_t *up = ud;
    up->in_file = strcmp(part->name, "file") == 0; /* other fields are ignored */
    if (!up->in_file)
        return EH_OK;
    return start_file_part(up, part->filename);
}

static int on_part_data(void *ud, const api_multipart_part_t *part, const char *data, size_t len)
{
    EH_UNUSED(part);
    api_upload_t *up = ud;
    if (!up->in_file)
        return EH_OK;
    return file_data(up, data, len);
}

static int on_part_end(void *ud, const api_multipart_part_t *part)
{
    EH_UNUSED(part);
    api_upload_t *up = ud;
    up->in_file = false;
    return EH_OK;
}

const api_multipart_callbacks_t upload_spool_parts = {on_part_begin, on_part_data, on_part_end};

int upload_spool_finish(api_upload_t *up)
{
    if (up->dry_run) {
        if (worker_splitter_finish(up->dry.splitter, dry_line, up) != EH_OK) {
            upload_answer_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
                                "the file cannot be checked right now");
            return EH_ERR;
        }
        return EH_OK;
    }
    if (spool_flush(up) != EH_OK) {
        upload_answer_error(up, up->err_status, up->err_code, up->err_msg);
        return EH_ERR;
    }
    if (up->sha != NULL) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(up->sha, md, &n) != 1 || n != 32) {
            upload_answer_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "cannot digest the file");
            return EH_ERR;
        }
        for (unsigned i = 0; i < n; i++)
            snprintf(up->sha_hex + 2 * i, 3, "%02x", md[i]);
    }
    return EH_OK;
}
