/*
 * Following a job: a libwebsockets client on /ws/jobs/<id>. Every event
 * carries the job's seq; an event whose seq is not above the last one shown
 * is dropped, so that after a reconnect (the server restarted, the network
 * dropped) the snapshot that opens the new connection shows only what is
 * new and nothing is printed twice. The job ends when an event carries a
 * final status (completed, failed, cancelled), whichever event it is: a job
 * that ended while we connected arrives as a final snapshot.
 *
 * Before the first connection, and after each failed one, the job is read
 * over REST: the server's JSON error (401, 404, ...) is what the user sees,
 * where a refused upgrade would only say "not 101".
 */
#include "follow.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_US (50 * LWS_US_PER_MS)
#define RECONNECT_FIRST_MS 250L
#define RECONNECT_MAX_MS 4000L
#define RECONNECT_BUDGET_MS 30000L /* failing in a row this long: give up (exit 4) */
#define MAX_MESSAGE (1024 * 1024)

typedef enum { CONN_CONNECTING, CONN_OPEN, CONN_DONE } conn_state_t;

typedef struct follow {
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick;
    struct lws *wsi;
    cli_out_t *out;
    const cli_config_t *cfg;
    conn_state_t state;
    bool established;      /* this connection reached 101 */
    int64_t last_seq;      /* highest seq shown; -1 before the first */
    char final_status[16]; /* set when a final event was shown */
    char *msg;
    size_t msg_len, msg_cap;
    bool protocol_error;
} follow_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_final(const char *status)
{
    return status != NULL &&
           (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0);
}

static void on_message(follow_t *f)
{
    json_t *ev = json_loadb(f->msg, f->msg_len, 0, NULL);
    json_t *seq = json_object_get(ev, "seq");
    if (!json_is_object(ev) || !json_is_integer(seq)) {
        f->protocol_error = true;
        json_decref(ev);
        return;
    }
    int64_t s = (int64_t)json_integer_value(seq);
    if (s > f->last_seq) {
        f->last_seq = s;
        cli_out_event(f->out, ev);
        const char *status = json_string_value(json_object_get(ev, "status"));
        if (is_final(status))
            snprintf(f->final_status, sizeof(f->final_status), "%s", status);
    }
    json_decref(ev);
}

static int receive(follow_t *f, const void *in, size_t len, bool final)
{
    if (f->msg_len + len > MAX_MESSAGE) {
        f->protocol_error = true;
        return -1;
    }
    if (f->msg_len + len + 1 > f->msg_cap) {
        size_t cap = f->msg_cap == 0 ? 4096 : f->msg_cap;
        while (cap < f->msg_len + len + 1)
            cap *= 2;
        char *m = realloc(f->msg, cap);
        if (m == NULL)
            return -1;
        f->msg = m;
        f->msg_cap = cap;
    }
    memcpy(f->msg + f->msg_len, in, len);
    f->msg_len += len;
    if (final) {
        on_message(f);
        f->msg_len = 0;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    follow_t *f = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
    if (f == NULL)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (f->cfg->key[0] == '\0')
            break;
        unsigned char **p = (unsigned char **)in, *end = *p + len;
        char value[600];
        int n = snprintf(value, sizeof(value), "Bearer %s", f->cfg->key);
        int rc = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)value, n, p, end);
        explicit_bzero(value, sizeof(value));
        if (rc != 0)
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        f->state = CONN_OPEN;
        f->established = true;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_frame_is_binary(wsi)) {
            f->protocol_error = true;
            return -1;
        }
        return receive(f, in, len, lws_is_final_fragment(wsi) != 0);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        f->state = CONN_DONE;
        f->wsi = NULL;
        lws_set_opaque_user_data(wsi, NULL);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols PROTOCOLS[] = {
    {"eh-cli", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws_service() does not return on its own while nothing happens: this wakes it so that Ctrl-C is seen. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
    follow_t *f = lws_container_of(sul, follow_t, tick);
    lws_sul_schedule(f->ctx, 0, &f->tick, on_tick, TICK_US);
}

/* One connection, served until it closes or Ctrl-C. */
static void connect_once(follow_t *f, const cli_endpoint_t *ep, const char *path)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = f->ctx;
    ci.address = ep->host;
    ci.port = ep->port;
    ci.path = path;
    ci.host = ep->host;
    ci.ssl_connection = ep->tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = PROTOCOLS[0].name;
    ci.opaque_user_data = f;
    ci.pwsi = &f->wsi;
    f->state = CONN_CONNECTING;
    f->established = false;
    f->msg_len = 0;
    if (lws_client_connect_via_info(&ci) == NULL) {
        f->state = CONN_DONE;
        return;
    }
    while (f->state != CONN_DONE && !cli_interrupted && f->final_status[0] == '\0') {
        if (lws_service(f->ctx, 0) < 0)
            break;
    }
}

/* The job over REST: EH_OK when it exists for us (its final state, if any, in *final), else the exit code reported. */
static int check_job(cli_out_t *out, cli_http_t *h, const char *job_id, char *final, size_t finallen, int *exit_code,
                     bool report_unavailable)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/jobs/%s", job_id);
    cli_response_t r;
    int rc = cli_http_request(h, "GET", path, &r);
    if (rc == EH_OK && r.status == 200) {
        const char *status = json_string_value(json_object_get(r.body, "status"));
        if (is_final(status))
            snprintf(final, finallen, "%s", status);
        cli_response_clear(&r);
        return EH_OK;
    }
    *exit_code = cli_http_exit_code(&r);
    if (*exit_code != CLI_EXIT_UNAVAILABLE || report_unavailable) {
        cli_out_end_bar(out);
        cli_http_report(&r, "follow");
    }
    cli_response_clear(&r);
    return EH_ERR;
}

static int exit_for(const char *status)
{
    return strcmp(status, "completed") == 0 ? CLI_EXIT_OK : CLI_EXIT_JOB_FAILED;
}

static int run(follow_t *f, cli_http_t *h, const char *job_id)
{
    cli_endpoint_t ep;
    char path[1024], rest_final[16] = "";
    int code = CLI_EXIT_OK;
    if (cli_config_endpoint(f->cfg->url, &ep) != EH_OK) {
        fprintf(stderr, "eh: follow: cannot use the URL %s\n", f->cfg->url);
        return CLI_EXIT_USAGE;
    }
    if (strlen(job_id) > 64) {
        fprintf(stderr, "eh: follow: \"%.64s...\" is not a job id\n", job_id);
        return CLI_EXIT_REJECTED;
    }
    if (check_job(f->out, h, job_id, rest_final, sizeof(rest_final), &code, true) != EH_OK)
        return code;
    char *escaped = cli_http_escape(h, job_id);
    if (escaped == NULL) {
        fprintf(stderr, "eh: follow: out of memory\n");
        return CLI_EXIT_UNAVAILABLE;
    }
    snprintf(path, sizeof(path), "%s/ws/jobs/%s", ep.prefix, escaped);
    free(escaped);
    int64_t failing_since = 0;
    long backoff = RECONNECT_FIRST_MS;
    while (true) {
        connect_once(f, &ep, path);
        if (f->final_status[0] != '\0')
            return exit_for(f->final_status);
        if (cli_interrupted)
            return CLI_EXIT_INTERRUPTED;
        if (f->protocol_error) {
            fprintf(stderr, "eh: follow: the server sent something that is not a job event\n");
            return CLI_EXIT_UNAVAILABLE;
        }
        /* The connection dropped or was refused: is the job still there for us? */
        if (f->established) {
            failing_since = 0;
            backoff = RECONNECT_FIRST_MS;
        }
        if (failing_since == 0)
            failing_since = mono_ms();
        if (mono_ms() - failing_since > RECONNECT_BUDGET_MS) {
            cli_out_end_bar(f->out);
            fprintf(stderr, "eh: follow: cannot reach the server at %s for %ld s; giving up\n", f->cfg->url,
                    RECONNECT_BUDGET_MS / 1000);
            return CLI_EXIT_UNAVAILABLE;
        }
        if (!cli_http_sleep_ms(backoff))
            return CLI_EXIT_INTERRUPTED;
        backoff = backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
        code = CLI_EXIT_OK;
        rest_final[0] = '\0';
        if (check_job(f->out, h, job_id, rest_final, sizeof(rest_final), &code, false) != EH_OK &&
            code != CLI_EXIT_UNAVAILABLE)
            return code;
    }
}

int cli_follow_job(cli_http_t *h, cli_out_t *out, const char *job_id)
{
    follow_t f = {.out = out, .cfg = cli_http_config(h), .last_seq = -1};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    f.ctx = lws_create_context(&info);
    if (f.ctx == NULL) {
        fprintf(stderr, "eh: follow: cannot start the WebSocket client\n");
        return CLI_EXIT_UNAVAILABLE;
    }
    lws_sul_schedule(f.ctx, 0, &f.tick, on_tick, TICK_US);
    cli_out_reset(out);
    int code = run(&f, h, job_id);
    lws_sul_cancel(&f.tick);
    lws_context_destroy(f.ctx);
    free(f.msg);
    if (code == CLI_EXIT_INTERRUPTED) {
        cli_out_end_bar(out);
        fprintf(stderr, "eh: stopped following; job %s goes on. To cancel it: eh cancel %s\n", job_id, job_id);
    }
    return code;
}
