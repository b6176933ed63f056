/*
 * s3.c - the object store on Debian's libs3 2.0 (signature v2, path-style URLs).
 *
 * Every call runs one request in its own S3RequestContext and drives it with
 * poll() (curl_multi_poll on the context's curl multi handle), rather than
 * libs3's blocking mode, because libs3 2.0 sets no connect timeout on its
 * curl handles (a black-holed endpoint would hang for minutes): the loop
 * enforces cfg->timeout_ms as an inactivity limit. Not select(): libs3's
 * only wait API is S3_get_request_context_fdsets, and curl_multi_fdset
 * leaves out descriptors above 1023, so a process with many open files
 * would crawl through its transfers by blind sleeps (see multi_of()). A
 * context per call keeps the calls thread-safe and shares nothing across
 * fork; the price is a new connection per request, which our few large
 * requests do not notice.
 *
 * libs3 2.0 does not report the HTTP status line, and turns S3's error code
 * into an S3Status: http_status and code are derived from that status. Nor
 * does it show Content-Range: a ranged GET is checked by its Content-Length.
 */
#include "s3.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

/* curl_multi_poll (poll() inside, no descriptor limit) came with curl 7.66. */
#if LIBCURL_VERSION_NUM < 0x074200
#error "common/s3.c needs libcurl 7.66 or later (curl_multi_poll)"
#endif

/* libs3.h declares `void S3_deinitialize();` without a prototype. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libs3.h>
#pragma GCC diagnostic pop

#include "log.h"

#define CONTENT_TYPE_NDJSON "application/x-ndjson"
#define USER_AGENT "event-horizon"
/* Upper bound of one wait, so that the inactivity deadline is checked. */
#define MAX_WAIT_MS 1000

struct eh_s3 {
    char *endpoint;
    char *bucket;
    char *access_key;
    char *secret_key; /* never logged, never copied into an error */
    bool https;
    int timeout_ms;
};

typedef enum { OP_HEAD_BUCKET, OP_CREATE_BUCKET, OP_PUT, OP_GET, OP_HEAD, OP_DELETE } op_t;

/* One request in flight: its parameters and what the callbacks saw. */
typedef struct req {
    eh_s3_t *s3;
    op_t op;
    const char *key; /* borrowed; NULL for bucket operations */
    /* set by the complete callback */
    bool done;
    S3Status status;
    char s3_message[256]; /* S3's <Message>, copied: libs3 frees it after the callback */
    /* set by the run loop */
    bool timed_out;
    S3Status loop_status; /* not OK when libs3's event loop itself failed */
    int64_t last_progress_ms;
    /* put */
    int fd;
    uint64_t put_left;
    off_t put_from;         /* where the body starts in fd, to read it again for a retry; -1: it cannot be */
    eh_s3_read_fn put_read; /* instead of fd, when set */
    void *put_ud;
    int read_errno; /* read() failed with this; 0 with put_left > 0: the fd ended early */
    /* get */
    uint64_t get_start;
    uint64_t get_count; /* 0: to the end */
    eh_s3_data_fn cb;
    void *ud;
    int cb_rc; /* the data callback's code when it aborted the GET */
    uint64_t delivered;
    uint64_t content_length; /* from the response headers; 0 when not given */
    bool range_ignored;      /* a ranged GET's answer announced more bytes than the range holds */
    /* head */
    uint64_t size;
} req_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail on Linux; a zero clock only disables the deadline. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the request is about, for messages: the key, or the bucket for bucket requests. */
static const char *target_of(const req_t *r)
{
    return r->key != NULL ? r->key : r->s3->bucket;
}

static const char *op_name(op_t op)
{
    switch (op) {
    case OP_HEAD_BUCKET:
        return "head_bucket";
    case OP_CREATE_BUCKET:
        return "create_bucket";
    case OP_PUT:
        return "put";
    case OP_GET:
        return "get";
    case OP_HEAD:
        return "head";
    case OP_DELETE:
        return "delete";
    }
    return "?";
}

/* ---- libs3 callbacks ---------------------------------------------------- */

/*
 * libs3 calls this for a 2xx answer once its headers are in, before any of
 * the body. libs3 2.0 shows neither the status line nor Content-Range, so a
 * ranged GET (byte_count > 0) is checked by its Content-Length: a server that
 * ignored Range answers 200 with the whole object, and its body must not
 * reach the caller as the range. Only a longer answer is refused: a shorter
 * one is also what a server that honours Range sends for a range past the
 * object's end (206, clipped), which the caller's byte count judges. 0 means
 * no Content-Length (chunked): the caller's byte count is the only check.
 */
static S3Status on_properties(const S3ResponseProperties *props, void *ud)
{
    req_t *r = ud;
    r->last_progress_ms = now_ms();
    if (r->op == OP_HEAD) {
        r->size = props->contentLength;
    } else if (r->op == OP_GET) {
        r->content_length = props->contentLength;
        if (r->get_count > 0 && props->contentLength > r->get_count) {
            r->range_ignored = true;
            return S3StatusAbortedByCallback;
        }
    }
    return S3StatusOK;
}

static void on_complete(S3Status status, const S3ErrorDetails *details, void *ud)
{
    req_t *r = ud;
    r->done = true;
    r->status = status;
    r->s3_message[0] = '\0';
    if (details != NULL && details->message != NULL)
        snprintf(r->s3_message, sizeof(r->s3_message), "%s", details->message);
}

/* Reads straight into libs3's buffer, so memory stays flat whatever the size. */
static int on_put_data(int size, char *buf, void *ud)
{
    req_t *r = ud;
    if (r->put_left == 0 || size <= 0)
        return 0;
    size_t want = (size_t)size;
    if ((uint64_t)want > r->put_left)
        want = (size_t)r->put_left;
    if (r->put_read != NULL) {
        ssize_t n = r->put_read(r->put_ud, buf, want);
        if (n <= 0 || (size_t)n > want) {
            r->cb_rc = EH_ERR;
            return -1;
        }
        r->put_left -= (uint64_t)n;
        r->last_progress_ms = now_ms();
        return (int)n;
    }
    for (;;) {
        ssize_t n = read(r->fd, buf, want);
        if (n > 0) {
            r->put_left -= (uint64_t)n;
            r->last_progress_ms = now_ms();
            return (int)n;
        }
        if (n == 0)
            return -1;
        if (errno != EINTR) {
            r->read_errno = errno;
            return -1;
        }
    }
}

static S3Status on_get_data(int size, const char *buf, void *ud)
{
    req_t *r = ud;
    if (size <= 0)
        return S3StatusOK;
    int rc = r->cb(buf, (size_t)size, r->ud);
    /* After the callback: time spent by the consumer is not network inactivity. */
    r->last_progress_ms = now_ms();
    if (rc != EH_OK) {
        r->cb_rc = rc;
        return S3StatusAbortedByCallback;
    }
    r->delivered += (uint64_t)size;
    return S3StatusOK;
}

static const S3ResponseHandler response_handler = {on_properties, on_complete};
static const S3PutObjectHandler put_handler = {{on_properties, on_complete}, on_put_data};
static const S3GetObjectHandler get_handler = {{on_properties, on_complete}, on_get_data};

/* ---- running one request ------------------------------------------------ */

static void bucket_context(const eh_s3_t *s3, S3BucketContext *bc)
{
    memset(bc, 0, sizeof(*bc));
    bc->hostName = s3->endpoint;
    bc->bucketName = s3->bucket;
    bc->protocol = s3->https ? S3ProtocolHTTPS : S3ProtocolHTTP;
    bc->uriStyle = S3UriStylePath;
    bc->accessKeyId = s3->access_key;
    bc->secretAccessKey = s3->secret_key;
}

/*
 * Queues r's request on ctx; libs3 calls on_complete at once when it cannot even start it.
 *
 * The bucket requests are sent as object requests on the service root with
 * the bucket as the key (HEAD /bucket, PUT /bucket): libs3 2.0's own
 * S3_test_bucket and S3_create_bucket sign the resource as "/bucket/" while
 * s3rver signs the path as "/bucket" and rejects them; this way the signed
 * resource is the request path itself, which every server agrees on.
 */
/*
 * libs3 2.0 formats the Date header with gmtime(), whose static buffer is
 * shared by all threads (ThreadSanitizer caught two concurrent PUTs of
 * eh-api racing on it). Starting a request only queues it on ctx, so
 * serialising the start costs nothing; the transfers still run in parallel.
 */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;

static void start_request_locked(req_t *r, S3RequestContext *ctx);

static void start_request(req_t *r, S3RequestContext *ctx)
{
    pthread_mutex_lock(&start_mu);
    start_request_locked(r, ctx);
    pthread_mutex_unlock(&start_mu);
}

static void start_request_locked(req_t *r, S3RequestContext *ctx)
{
    S3BucketContext bc;
    bucket_context(r->s3, &bc);
    S3BucketContext root = bc;
    root.bucketName = NULL;
    switch (r->op) {
    case OP_HEAD_BUCKET:
        S3_head_object(&root, r->s3->bucket, ctx, &response_handler, r);
        break;
    case OP_CREATE_BUCKET:
        S3_put_object(&root, r->s3->bucket, 0, NULL, ctx, &put_handler, r);
        break;
    case OP_PUT: {
        S3PutProperties props;
        memset(&props, 0, sizeof(props));
        props.contentType = CONTENT_TYPE_NDJSON;
        props.expires = -1;
        props.cannedAcl = S3CannedAclPrivate;
        S3_put_object(&bc, r->key, r->put_left, &props, ctx, &put_handler, r);
        break;
    }
    case OP_GET:
        S3_get_object(&bc, r->key, NULL, r->get_start, r->get_count, ctx, &get_handler, r);
        break;
    case OP_HEAD:
        S3_head_object(&bc, r->key, ctx, &response_handler, r);
        break;
    case OP_DELETE:
        S3_delete_object(&bc, r->key, ctx, &response_handler, r);
        break;
    }
}

/*
 * The curl multi handle that drives ctx's requests.
 *
 * libs3 2.0 has no accessor for it: its only wait API fills select() fd
 * sets, which cannot hold a descriptor above 1023 (curl_multi_fdset leaves
 * such a socket out, and the loop would be reduced to blind sleeps). Its
 * opaque struct S3RequestContext is { CURLM *curlm; struct Request
 * *requests; } (libs3's request_context.h; in Debian's libs3-2 2.0-4,
 * S3_create_request_context mallocs 16 bytes and stores curl_multi_init()'s
 * result at offset 0), so the handle is its first member. This pins us to
 * that layout: check_multi() verifies it at start through a call curl
 * validates itself, and a SigV4 backend on libcurl directly would own its
 * handle and drop this. The handle belongs to the libcurl libs3 links,
 * libcurl-gnutls.so.4; the Makefile links the same library, so our curl_*
 * calls reach it (its CURL_GNUTLS_3 symbol versions keep another libcurl in
 * the process from answering them).
 */
static CURLM *multi_of(S3RequestContext *ctx)
{
    CURLM *multi;
    memcpy(&multi, (const void *)ctx, sizeof(multi));
    return multi;
}

/* EH_OK when ctx's first member is a curl multi handle of our libcurl: curl checks its magic number. */
static int check_multi(S3RequestContext *ctx)
{
    long timeout = 0;
    CURLMcode mc = curl_multi_timeout(multi_of(ctx), &timeout);
    if (mc != CURLM_OK) {
        eh_log_error("s3: libs3's request context holds no curl multi handle we can use (%s); this build expects "
                     "libs3 2.0 linked with libcurl-gnutls.so.4",
                     curl_multi_strerror(mc));
        return EH_ERR;
    }
    return EH_OK;
}

/* How long one wait may sleep: curl's own timer, MAX_WAIT_MS and our deadline. */
static int wait_ms(S3RequestContext *ctx, int64_t deadline_ms)
{
    int64_t wait = S3_get_request_context_timeout(ctx);
    if (wait < 0 || wait > MAX_WAIT_MS)
        wait = MAX_WAIT_MS;
    if (deadline_ms > 0) {
        int64_t left = deadline_ms - now_ms();
        if (left < wait)
            wait = left < 0 ? 0 : left;
    }
    return (int)wait;
}

/*
 * Waits with poll() for curl's descriptors, whatever their numbers, or for
 * curl's next timer; false when the loop must stop (r->loop_status says why).
 * curl_multi_poll also sleeps when curl has no descriptor yet, up to curl's
 * timer, so there is no blind fixed sleep. EINTR is no error there.
 */
static bool wait_for_io(req_t *r, S3RequestContext *ctx, int64_t deadline_ms)
{
    int numfds = 0;
    CURLMcode mc = curl_multi_poll(multi_of(ctx), NULL, 0, wait_ms(ctx, deadline_ms), &numfds);
    if (mc != CURLM_OK) {
        eh_log_error("s3: curl_multi_poll: %s", curl_multi_strerror(mc));
        r->loop_status = S3StatusInternalError;
        return false;
    }
    return true;
}

/*
 * Runs r's request to its end. When it makes no progress for timeout_ms the
 * context is destroyed, which completes the request as S3StatusInterrupted.
 */
static void run_request(req_t *r)
{
    S3RequestContext *ctx = NULL;
    S3Status st = S3_create_request_context(&ctx);
    if (st != S3StatusOK) {
        r->done = true;
        r->status = st;
        return;
    }
    r->last_progress_ms = now_ms();
    start_request(r, ctx);
    while (!r->done) {
        int remaining = 0;
        st = S3_runonce_request_context(ctx, &remaining);
        if (st != S3StatusOK) {
            r->loop_status = st;
            break;
        }
        if (r->done)
            break;
        int64_t deadline = r->s3->timeout_ms > 0 ? r->last_progress_ms + r->s3->timeout_ms : 0;
        if (deadline > 0 && now_ms() >= deadline) {
            r->timed_out = true;
            break;
        }
        if (!wait_for_io(r, ctx, deadline))
            break;
    }
    S3_destroy_request_context(ctx);
    if (!r->done) { /* cannot happen: destroy completes every request; be safe anyway */
        r->done = true;
        r->status = S3StatusInterrupted;
    }
}

/* ---- errors --------------------------------------------------------------- */

/* The HTTP status that goes with a libs3 status (S3's documented pairing); 0 when unknown. */
static int http_status_of(S3Status st)
{
    switch (st) {
    case S3StatusErrorPermanentRedirect:
        return 301;
    case S3StatusErrorRedirect:
    case S3StatusErrorTemporaryRedirect:
    case S3StatusHttpErrorMovedTemporarily:
        return 307;
    case S3StatusErrorAccessDenied:
    case S3StatusErrorAccountProblem:
    case S3StatusErrorCrossLocationLoggingProhibited:
    case S3StatusErrorInvalidAccessKeyId:
    case S3StatusErrorInvalidPayer:
    case S3StatusErrorInvalidSecurity:
    case S3StatusErrorNotSignedUp:
    case S3StatusErrorRequestTimeTooSkewed:
    case S3StatusErrorSignatureDoesNotMatch:
    case S3StatusHttpErrorForbidden:
        return 403;
    case S3StatusErrorNoSuchBucket:
    case S3StatusErrorNoSuchKey:
    case S3StatusHttpErrorNotFound:
        return 404;
    case S3StatusErrorMethodNotAllowed:
        return 405;
    case S3StatusErrorBucketAlreadyExists:
    case S3StatusErrorBucketAlreadyOwnedByYou:
    case S3StatusErrorBucketNotEmpty:
    case S3StatusErrorOperationAborted:
    case S3StatusHttpErrorConflict:
        return 409;
    case S3StatusErrorMissingContentLength:
        return 411;
    case S3StatusErrorPreconditionFailed:
        return 412;
    case S3StatusErrorInvalidRange:
        return 416;
    case S3StatusErrorInternalError:
        return 500;
    case S3StatusErrorNotImplemented:
        return 501;
    case S3StatusErrorSlowDown:
        return 503;
    case S3StatusErrorUnknown:
    case S3StatusHttpErrorUnknown:
        return 0;
    default:
        break;
    }
    /* The remaining S3 error codes are all 400 Bad Request. */
    if (st > S3StatusAbortedByCallback && st < S3StatusErrorUnknown)
        return 400;
    if (st == S3StatusHttpErrorBadRequest)
        return 400;
    return 0; /* no HTTP answer: connection, local or parse failure */
}

static int class_of(S3Status st)
{
    switch (st) {
    case S3StatusOK:
        return EH_OK;
    case S3StatusErrorNoSuchKey:
    case S3StatusErrorNoSuchBucket:
    case S3StatusHttpErrorNotFound:
        return EH_DECLINED;
    case S3StatusNameLookupError:
    case S3StatusFailedToConnect:
    case S3StatusConnectionFailed:
    /*
     * libs3 2.0 maps every curl failure it does not know (a reset in the
     * middle of a transfer, an empty reply, a TLS error) to its own
     * InternalError; its genuinely internal failures are rare and have their
     * own statuses (OutOfMemory, FailedToInitializeRequest).
     */
    case S3StatusInternalError:
    case S3StatusErrorInternalError:
    case S3StatusErrorSlowDown:
    case S3StatusErrorRequestTimeout:
    case S3StatusErrorOperationAborted:
    /* No S3 error code came: a 5xx without a body (HEAD), or a gateway's 502/504. */
    case S3StatusHttpErrorUnknown:
    /* A body that is not S3's XML: typically a proxy's error page while S3 is away. */
    case S3StatusXmlParseFailure:
    /*
     * An S3 code that libs3 2.0 does not know. For our requests those are
     * mostly 503s (ServiceUnavailable, MinIO's XMinioServerNotInitialized,
     * its quorum errors); a 4xx among them costs a few bounded retries.
     */
    case S3StatusErrorUnknown:
        return EH_AGAIN;
    default:
        return EH_ERR;
    }
}

static void set_error(eh_s3_error_t *err, int http_status, const char *code, const char *message)
{
    if (err == NULL)
        return;
    err->http_status = http_status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->message, sizeof(err->message), "%s", message);
}

/* Fills err from a finished request that failed in libs3 or at S3. */
static void fill_error(const req_t *r, eh_s3_error_t *err)
{
    const char *name = S3_get_status_name(r->status);
    /* "ErrorNoSuchKey" -> "NoSuchKey": S3's own code, as the server sent it. */
    const char *code = name;
    if (r->status > S3StatusAbortedByCallback && r->status < S3StatusErrorUnknown && strncmp(name, "Error", 5) == 0)
        code = name + 5;
    char message[256];
    if (r->s3_message[0] != '\0')
        snprintf(message, sizeof(message), "%s", r->s3_message);
    else
        snprintf(message, sizeof(message), "%s %s at %s: %s", op_name(r->op), target_of(r), r->s3->endpoint, name);
    set_error(err, http_status_of(r->status), code, message);
}

/* The EH_* result of a finished request; err filled when it is not EH_OK. */
static int finish(const req_t *r, eh_s3_error_t *err)
{
    char msg[256];
    int rc;
    if (r->timed_out) {
        snprintf(msg, sizeof(msg), "%s %s: no progress from %s for %d ms", op_name(r->op), target_of(r),
                 r->s3->endpoint, r->s3->timeout_ms);
        set_error(err, 0, "Timeout", msg);
        rc = EH_AGAIN;
    } else if (r->loop_status != S3StatusOK) {
        snprintf(msg, sizeof(msg), "%s %s: libs3 event loop failed: %s", op_name(r->op), target_of(r),
                 S3_get_status_name(r->loop_status));
        set_error(err, 0, S3_get_status_name(r->loop_status), msg);
        rc = EH_ERR;
    } else if (r->status == S3StatusAbortedByCallback && r->op == OP_GET && r->range_ignored) {
        snprintf(msg, sizeof(msg),
                 "get %s: asked for %" PRIu64 " bytes from offset %" PRIu64 ", the answer announced %" PRIu64
                 ": the server ignored the Range header",
                 r->key, r->get_count, r->get_start, r->content_length);
        set_error(err, 0, EH_S3_RANGE_NOT_HONOURED, msg);
        rc = EH_ERR; /* the server's behaviour, not a passing fault: asking again gets the same answer */
    } else if (r->status == S3StatusAbortedByCallback && r->op == OP_GET) {
        snprintf(msg, sizeof(msg), "get %s: aborted by the data callback (%d)", r->key, r->cb_rc);
        set_error(err, 0, "AbortedByCallback", msg);
        rc = r->cb_rc != EH_OK ? r->cb_rc : EH_ERR;
    } else if (r->status == S3StatusAbortedByCallback && r->op == OP_PUT) {
        if (r->read_errno != 0) {
            char ebuf[128];
            snprintf(msg, sizeof(msg), "put %s: read: %s", r->key, strerror_r(r->read_errno, ebuf, sizeof(ebuf)));
        } else if (r->put_read != NULL) {
            snprintf(msg, sizeof(msg), "put %s: the stream stopped %" PRIu64 " bytes before its end", r->key,
                     r->put_left);
        } else {
            snprintf(msg, sizeof(msg), "put %s: the file ended %" PRIu64 " bytes early", r->key, r->put_left);
        }
        set_error(err, 0, "AbortedByCallback", msg);
        rc = EH_ERR;
    } else if (r->status == S3StatusOK && r->op == OP_GET && r->content_length > r->delivered) {
        /* libs3 maps curl's CURLE_PARTIAL_FILE to S3StatusOK: a cut transfer must not pass as the end. */
        snprintf(msg, sizeof(msg), "get %s: the body ended after %" PRIu64 " of %" PRIu64 " bytes", r->key,
                 r->delivered, r->content_length);
        set_error(err, 0, "IncompleteBody", msg);
        rc = EH_AGAIN;
    } else {
        rc = class_of(r->status);
        if (rc != EH_OK)
            fill_error(r, err);
    }
    if (rc != EH_OK && eh_log_threshold >= EH_LOG_DEBUG)
        eh_log_kv(EH_LOG_DEBUG,
                  json_pack("{s:s,s:s,s:s,s:s,s:i}", "op", op_name(r->op), "bucket", r->s3->bucket, "key", target_of(r),
                            "s3_status", S3_get_status_name(r->status), "rc", rc),
                  "s3 request failed");
    return rc;
}

/*
 * One more try for an idempotent request that failed on the way (a dropped
 * connection, S3's InternalError), but not when the server was plainly not
 * there, nor once a GET has handed bytes to its caller.
 */
static bool worth_retrying(const req_t *r)
{
    if (r->op != OP_GET && r->op != OP_HEAD && r->op != OP_DELETE && r->op != OP_HEAD_BUCKET && r->op != OP_PUT)
        return false;
    if (r->op == OP_PUT && (r->put_from < 0 || r->read_errno != 0 || r->cb_rc != EH_OK))
        return false;
    if (r->timed_out || r->loop_status != S3StatusOK)
        return false;
    if (r->status == S3StatusFailedToConnect || r->status == S3StatusNameLookupError)
        return false;
    if (r->op == OP_GET && (r->delivered > 0 || r->cb_rc != EH_OK))
        return false;
    /* InternalError: see class_of(); typically a connection the server dropped. */
    return S3_status_is_retryable(r->status) != 0 || r->status == S3StatusInternalError;
}

static void req_init(req_t *r, eh_s3_t *s3, op_t op, const char *key)
{
    memset(r, 0, sizeof(*r));
    r->s3 = s3;
    r->op = op;
    r->key = key;
    r->status = S3StatusOK;
    r->loop_status = S3StatusOK;
    r->cb_rc = EH_OK;
    r->fd = -1;
}

/* Runs an idempotent request, once more when worth_retrying() says so. */
static void run_idempotent(req_t *r, const req_t *tmpl)
{
    for (int attempt = 0;; attempt++) {
        *r = *tmpl;
        run_request(r);
        if (attempt > 0 || !worth_retrying(r))
            return;
        /* A PUT sends its body from the file again. */
        if (r->op == OP_PUT && lseek(tmpl->fd, tmpl->put_from, SEEK_SET) != tmpl->put_from)
            return;
        eh_log_kv(EH_LOG_WARN,
                  json_pack("{s:s,s:s,s:s}", "op", op_name(r->op), "key", target_of(r), "s3_status",
                            S3_get_status_name(r->status)),
                  "s3 request failed, retrying once");
    }
}

/* ---- public API ------------------------------------------------------------ */

int eh_s3_global_init(void)
{
    S3Status st = S3_initialize(USER_AGENT, S3_INIT_ALL, NULL);
    if (st != S3StatusOK) {
        eh_log_error("s3: S3_initialize failed: %s", S3_get_status_name(st));
        return EH_ERR;
    }
    /* Once, before any request: wait_for_io() relies on the context's layout (multi_of()). */
    S3RequestContext *ctx = NULL;
    st = S3_create_request_context(&ctx);
    if (st != S3StatusOK) {
        eh_log_error("s3: S3_create_request_context failed: %s", S3_get_status_name(st));
        S3_deinitialize();
        return EH_ERR;
    }
    int rc = check_multi(ctx);
    S3_destroy_request_context(ctx);
    if (rc != EH_OK)
        S3_deinitialize();
    return rc;
}

void eh_s3_global_cleanup(void)
{
    S3_deinitialize();
}

eh_s3_t *eh_s3_create(const eh_s3_config_t *cfg)
{
    if (cfg == NULL || cfg->endpoint == NULL || cfg->bucket == NULL || cfg->access_key == NULL ||
        cfg->secret_key == NULL) {
        eh_log_error("s3: endpoint, bucket, access key and secret key are required");
        return NULL;
    }
    if (strlen(cfg->endpoint) >= S3_MAX_HOSTNAME_SIZE) {
        eh_log_error("s3: endpoint is longer than %d bytes", S3_MAX_HOSTNAME_SIZE - 1);
        return NULL;
    }
    eh_s3_t *s3 = calloc(1, sizeof(*s3));
    if (s3 == NULL)
        return NULL;
    s3->endpoint = strdup(cfg->endpoint);
    s3->bucket = strdup(cfg->bucket);
    s3->access_key = strdup(cfg->access_key);
    s3->secret_key = strdup(cfg->secret_key);
    s3->https = cfg->https;
    s3->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
    if (s3->endpoint == NULL || s3->bucket == NULL || s3->access_key == NULL || s3->secret_key == NULL) {
        eh_s3_destroy(s3);
        return NULL;
    }
    return s3;
}

void eh_s3_destroy(eh_s3_t *s3)
{
    if (s3 == NULL)
        return;
    free(s3->endpoint);
    free(s3->bucket);
    free(s3->access_key);
    if (s3->secret_key != NULL) {
        /* Do not leave the secret in freed heap memory. */
        explicit_bzero(s3->secret_key, strlen(s3->secret_key));
        free(s3->secret_key);
    }
    free(s3);
}

int eh_s3_bucket_exists(eh_s3_t *s3, eh_s3_error_t *err)
{
    req_t tmpl, r;
    req_init(&tmpl, s3, OP_HEAD_BUCKET, NULL);
    run_idempotent(&r, &tmpl);
    return finish(&r, err);
}

int eh_s3_ensure_bucket(eh_s3_t *s3, eh_s3_error_t *err)
{
    int rc = eh_s3_bucket_exists(s3, err);
    if (rc != EH_DECLINED)
        return rc;
    req_t tmpl, r;
    req_init(&tmpl, s3, OP_HEAD_BUCKET, NULL);

    req_init(&r, s3, OP_CREATE_BUCKET, NULL);
    run_request(&r);
    if (r.status == S3StatusErrorBucketAlreadyOwnedByYou)
        return EH_OK;
    if (r.status == S3StatusErrorBucketAlreadyExists) {
        /* Created meanwhile by someone: ours to use only if we can reach it. */
        r = tmpl;
        run_request(&r);
        return finish(&r, err);
    }
    rc = finish(&r, err);
    /* Creating the bucket is our job, so its absence afterwards is no longer "not ours". */
    return rc == EH_DECLINED ? EH_ERR : rc;
}

int eh_s3_put_fd(eh_s3_t *s3, const char *key, int fd, uint64_t len, eh_s3_error_t *err)
{
    req_t tmpl, r;
    req_init(&tmpl, s3, OP_PUT, key);
    tmpl.fd = fd;
    tmpl.put_left = len;
    tmpl.put_from = lseek(fd, 0, SEEK_CUR); /* -1 for a pipe: no retry then */
    run_idempotent(&r, &tmpl);
    int rc = finish(&r, err);
    /* A missing bucket is a broken deployment, not a missing object. */
    return rc == EH_DECLINED ? EH_ERR : rc;
}

int eh_s3_put_stream(eh_s3_t *s3, const char *key, uint64_t len, eh_s3_read_fn read_fn, void *ud, eh_s3_error_t *err)
{
    req_t r;
    req_init(&r, s3, OP_PUT, key);
    r.put_left = len;
    r.put_read = read_fn;
    r.put_ud = ud;
    run_request(&r); /* what was read cannot be read again: no retry */
    int rc = finish(&r, err);
    return rc == EH_DECLINED ? EH_ERR : rc;
}

int eh_s3_get(eh_s3_t *s3, const char *key, uint64_t start, uint64_t byte_count, eh_s3_data_fn cb, void *ud,
              eh_s3_error_t *err)
{
    req_t tmpl, r;
    req_init(&tmpl, s3, OP_GET, key);
    tmpl.cb = cb;
    tmpl.ud = ud;
    tmpl.get_start = start;
    tmpl.get_count = byte_count;
    run_idempotent(&r, &tmpl);
    return finish(&r, err);
}

int eh_s3_head(eh_s3_t *s3, const char *key, uint64_t *size, eh_s3_error_t *err)
{
    req_t tmpl, r;
    req_init(&tmpl, s3, OP_HEAD, key);
    run_idempotent(&r, &tmpl);
    int rc = finish(&r, err);
    if (rc == EH_OK && size != NULL)
        *size = r.size;
    return rc;
}

int eh_s3_delete(eh_s3_t *s3, const char *key, eh_s3_error_t *err)
{
    req_t tmpl, r;
    req_init(&tmpl, s3, OP_DELETE, key);
    run_idempotent(&r, &tmpl);
    if (r.status == S3StatusErrorNoSuchKey || r.status == S3StatusHttpErrorNotFound)
        return EH_OK;
    return finish(&r, err);
}
