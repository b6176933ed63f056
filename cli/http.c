/*
 * libcurl requests of `eh`. One easy handle per request (curl keeps
 * connections in its share-less default cache per handle, which is enough
 * for a command that makes a handful of requests), and the retry policy of
 * the whole client: 503 and 429 are retried after Retry-After (or the
 * back-off step when it is absent), a connection that could not be made
 * after the back-off step; anything else is the answer. An upload is retried
 * after a network error only when the request never left (connect failed)
 * or it carries an Idempotency-Key: otherwise a job might exist twice.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (64L * 1024 * 1024)
#define BACKOFF_FIRST_MS 500L
#define BACKOFF_MAX_MS 8000L
#define RETRY_AFTER_MAX_S 60L

volatile sig_atomic_t cli_interrupted = 0;

struct cli_http {
    cli_config_t cfg;
    int retries;
    CURL *escaper; /* only for curl_easy_escape */
};

typedef struct body {
    char *data;
    size_t len, cap;
    bool too_big;
} body_t;

typedef struct attempt {
    body_t body;
    long retry_after_s; /* -1: none */
    cli_http_progress_fn progress;
    void *ud;
} attempt_t;

cli_http_t *cli_http_create(const cli_config_t *cfg, int retries)
{
    cli_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cfg = *cfg;
    h->retries = retries;
    h->escaper = curl_easy_init();
    if (h->escaper == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

void cli_http_destroy(cli_http_t *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->escaper);
    free(h);
}

const cli_config_t *cli_http_config(const cli_http_t *h)
{
    return &h->cfg;
}

char *cli_http_escape(cli_http_t *h, const char *value)
{
    char *e = curl_easy_escape(h->escaper, value, 0);
    if (e == NULL)
        return NULL;
    char *copy = strdup(e);
    curl_free(e);
    return copy;
}

void cli_response_clear(cli_response_t *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

bool cli_http_sleep_ms(long ms)
{
    while (ms > 0 && !cli_interrupted) {
        long step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !cli_interrupted)
            ;
        ms -= step;
    }
    return !cli_interrupted;
}

/* A progress bar may be on the terminal's current line: start messages on a clean one. */
static void clear_bar_line(void)
{
    if (isatty(STDERR_FILENO) && isatty(STDOUT_FILENO)) {
        fflush(stdout);
        fputs("\r\033[K", stderr);
    }
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body_t *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > (size_t)MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Retry-After in whole seconds (the HTTP-date form is not sent by our server and counts as absent). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    attempt_t *a = ud;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        char value[32];
        size_t vlen = n - (sizeof(name) - 1);
        if (vlen >= sizeof(value))
            vlen = sizeof(value) - 1;
        memcpy(value, buf + sizeof(name) - 1, vlen);
        value[vlen] = '\0';
        char *end = NULL;
        long s = strtol(value, &end, 10);
        if (end != value && s >= 0)
            a->retry_after_s = s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
    }
    return n;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    EH_UNUSED(dltotal);
    EH_UNUSED(dlnow);
    attempt_t *a = ud;
    if (cli_interrupted)
        return 1;
    if (a->progress != NULL && !a->progress(a->ud, (uint64_t)ulnow, (uint64_t)ultotal))
        return 1;
    return 0;
}

typedef struct request {
    const char *method;
    const char *path;
    const char *file;            /* an upload when set */
    const char *idempotency_key; /* upload only */
    cli_http_progress_fn progress;
    void *ud;
} request_t;

/* One attempt. Returns the CURLcode; r->status and r->body set when an answer came. */
static CURLcode attempt(cli_http_t *h, const request_t *rq, attempt_t *a, cli_response_t *r)
{
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    CURL *c = curl_easy_init();
    struct curl_slist *headers = NULL;
    curl_mime *mime = NULL;
    char url[2048], auth[600], idem[300], errbuf[CURL_ERROR_SIZE] = "";
    if (c == NULL)
        goto out;
    snprintf(url, sizeof(url), "%s%s", h->cfg.url, rq->path);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (headers == NULL)
        goto out;
    if (h->cfg.key[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->cfg.key);
        struct curl_slist *more = curl_slist_append(headers, auth);
        explicit_bzero(auth, sizeof(auth));
        if (more == NULL)
            goto out;
        headers = more;
    }
    if (rq->idempotency_key != NULL) {
        snprintf(idem, sizeof(idem), "Idempotency-Key: %s", rq->idempotency_key);
        struct curl_slist *more = curl_slist_append(headers, idem);
        if (more == NULL)
            goto out;
        headers = more;
    }
    if (rq->file != NULL) {
        /* no "Expect: 100-continue" wait: the server answers a refusal before reading the body anyway */
        struct curl_slist *more = curl_slist_append(headers, "Expect:");
        if (more == NULL)
            goto out;
        headers = more;
        mime = curl_mime_init(c);
        curl_mimepart *part = mime != NULL ? curl_mime_addpart(mime) : NULL;
        if (part == NULL || curl_mime_name(part, "file") != CURLE_OK)
            goto out;
        rc = curl_mime_filedata(part, rq->file);
        if (rc != CURLE_OK) {
            snprintf(r->error, sizeof(r->error), "cannot read %s", rq->file);
            goto out;
        }
        if (curl_easy_setopt(c, CURLOPT_MIMEPOST, mime) != CURLE_OK)
            goto out;
    } else if (strcmp(rq->method, "GET") != 0) {
        if (curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method) != CURLE_OK)
            goto out;
        if (strcmp(rq->method, "POST") == 0 && curl_easy_setopt(c, CURLOPT_POSTFIELDS, "") != CURLE_OK)
            goto out;
    }
    a->body.len = 0;
    a->retry_after_s = -1;
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK || curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) ||
        curl_easy_setopt(c, CURLOPT_USERAGENT, "eh/" CLI_VERSION) ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) || curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body) ||
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) || curl_easy_setopt(c, CURLOPT_HEADERDATA, a) ||
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) || curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer) ||
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, a) || curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L) || curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
        /* a stalled server: give up after 60 s without a byte either way */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) || curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L))
        goto out;
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        json_decref(r->body);
        r->body = a->body.len > 0 ? json_loadb(a->body.data, a->body.len, 0, NULL) : NULL;
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
        r->interrupted = true;
        snprintf(r->error, sizeof(r->error), "interrupted");
    } else if (r->error[0] == '\0') {
        snprintf(r->error, sizeof(r->error), "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    }
out:
    if (rc == CURLE_OUT_OF_MEMORY && r->error[0] == '\0')
        snprintf(r->error, sizeof(r->error), "out of memory");
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return rc;
}

static bool connect_failed(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_OPERATION_TIMEDOUT;
}

static int perform(cli_http_t *h, const request_t *rq, cli_response_t *r)
{
    memset(r, 0, sizeof(*r));
    attempt_t a = {.progress = rq->progress, .ud = rq->ud};
    long backoff = BACKOFF_FIRST_MS;
    int rc = EH_ERR;
    bool safe_on_network = rq->file == NULL ? strcmp(rq->method, "GET") == 0 : rq->idempotency_key != NULL;
    for (int i = 0;; i++) {
        r->error[0] = '\0';
        r->status = 0;
        CURLcode cc = attempt(h, rq, &a, r);
        bool again;
        long wait_ms = backoff;
        if (cc == CURLE_OK) {
            rc = EH_OK;
            again = r->status == 503 || r->status == 429;
            if (again && a.retry_after_s >= 0)
                wait_ms = a.retry_after_s * 1000L;
        } else {
            rc = EH_ERR;
            again = !r->interrupted &&
                    (connect_failed(cc) || (safe_on_network && cc != CURLE_READ_ERROR && cc != CURLE_OUT_OF_MEMORY &&
                                            cc != CURLE_FILE_COULDNT_READ_FILE));
        }
        if (!again || i >= h->retries || cli_interrupted)
            break;
        clear_bar_line();
        fprintf(stderr, "eh: %s; retrying in %.1f s (%d of %d)\n",
                cc == CURLE_OK ? (r->status == 429 ? "rate limited (429)" : "service unavailable (503)") : r->error,
                (double)wait_ms / 1000.0, i + 1, h->retries);
        if (!cli_http_sleep_ms(wait_ms)) {
            r->interrupted = true;
            break;
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    free(a.body.data);
    return rc;
}

int cli_http_request(cli_http_t *h, const char *method, const char *path, cli_response_t *r)
{
    request_t rq = {.method = method, .path = path};
    return perform(h, &rq, r);
}

int cli_http_upload(cli_http_t *h, const char *file, bool dry_run, const char *idempotency_key,
                    cli_http_progress_fn progress, void *ud, cli_response_t *r)
{
    request_t rq = {.method = "POST",
                    .path = dry_run ? "/api/v1/files/upload?dry_run=true" : "/api/v1/files/upload",
                    .file = file,
                    .idempotency_key = idempotency_key,
                    .progress = progress,
                    .ud = ud};
    return perform(h, &rq, r);
}

int cli_http_exit_code(const cli_response_t *r)
{
    if (r->interrupted)
        return CLI_EXIT_INTERRUPTED;
    if (r->status == 401 || r->status == 403)
        return CLI_EXIT_AUTH;
    if (r->status == 0 || r->status >= 500 || r->status == 429)
        return CLI_EXIT_UNAVAILABLE;
    if (r->status >= 400)
        return CLI_EXIT_REJECTED;
    return CLI_EXIT_OK;
}

void cli_http_report(const cli_response_t *r, const char *what)
{
    clear_bar_line();
    if (r->interrupted) {
        fprintf(stderr, "eh: %s: interrupted\n", what);
        return;
    }
    if (r->status == 0) {
        fprintf(stderr, "eh: %s: %s\n", what, r->error[0] != '\0' ? r->error : "no answer from the server");
        return;
    }
    json_t *e = json_object_get(r->body, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code != NULL && msg != NULL)
        fprintf(stderr, "eh: %s: %s (%s, HTTP %ld)\n", what, msg, code, r->status);
    else
        fprintf(stderr, "eh: %s: the server answered HTTP %ld\n", what, r->status);
}
