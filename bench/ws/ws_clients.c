/*
 * ws_clients.c - the WebSocket clients of bench/ws, in C so that the bench
 * measures eh-api's relay and not an interpreter: PER_JOB connections to
 * ws://HOST:PORT/ws/jobs/<id> for every job id given (arguments, or
 * whitespace-separated on stdin), one thread, one lws context.
 *
 *   ws_clients -p PORT [-H HOST] [-n PER_JOB] [-i INFLIGHT] [-T CONNECT_TIMEOUT_S]
 *              [-t RUN_TIMEOUT_S] [-o SAMPLES_FILE] [JOB_ID...]
 *
 * At most INFLIGHT handshakes are under way at a time (the Python clients'
 * semaphore did the same). stdout carries two JSON lines:
 *   {"event":"connected",...}  once every connection is open or has failed
 *                              (or CONNECT_TIMEOUT_S passed): start the load now;
 *   {"event":"done",...}       when every connection has closed or RUN_TIMEOUT_S
 *                              (counted from "connected") passed, with the counts,
 *                              close codes and a latency summary.
 * SAMPLES_FILE gets one tab-separated line per text frame received:
 *   client  job_id  event  seq  latency_ms  receipt_ms
 * receipt_ms is CLOCK_REALTIME in ms since the epoch, taken when the frame's
 * first bytes are handed to us; latency_ms is receipt_ms minus the frame's
 * "emitted_at", "-" when it has none. The "done" line also gives this
 * process's CPU time (cpu_s), to show how little the clients take.
 * A connection that closes without a close frame reports code 1006, as
 * browsers and Python's websockets do. Diagnostics go to stderr.
 */
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (1u << 20) /* as the Python clients' max_size */
#define TICK_US (50 * LWS_US_PER_MS)
#define CLOSE_NONE 1006 /* no close frame received (RFC 6455 7.1.5) */
#define MAX_ERROR_LOGS 10
#define FD_SPARE 64 /* lws' own fds, stdio, the samples file */

enum ev { EV_SNAPSHOT, EV_STARTED, EV_PROGRESS, EV_COMPLETED, EV_FAILED, EV_OTHER, EV_COUNT };
static const char *const EV_NAME[EV_COUNT] = {"snapshot", "started", "progress", "completed", "failed", "other"};

enum cstate { C_IDLE, C_CONNECTING, C_OPEN, C_DONE };

struct client {
    struct app *app;
    struct lws *wsi;
    size_t job;
    enum cstate state;
    bool established;
    bool terminal;
    int close_code;
    double rx_ms; /* receipt time of the message being assembled */
    char *rx;
    size_t rx_len, rx_cap;
};

struct sample {
    uint32_t client;
    uint8_t event;
    bool has_lat;
    int64_t seq;
    double lat_ms;
    double rx_ms;
};

struct app {
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick;
    const char *host;
    int port;
    char **jobs;
    size_t njobs, per_job, inflight_max, timeout_s, connect_timeout_s;
    struct client *c;
    size_t n, next, inflight, open, failed, done;
    size_t frames, bad_frames, errors_logged;
    struct sample *s;
    size_t ns, cap_s;
    double t_start, t_connected, t_end;
    bool connected_reported, timed_out, oom;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_ms(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        return NAN; /* cannot happen for REALTIME/MONOTONIC; NaN makes it visible */
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static bool digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" (what the worker stamps) to ms since the epoch. */
static bool parse_rfc3339_utc(const char *s, double *ms)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    memset(&tm, 0, sizeof(tm));
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    const char *p = s + 19;
    double frac = 0.0, scale = 100.0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10.0)
            frac += (*p - '0') * scale;
    }
    if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    errno = 0;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && errno != 0)
        return false;
    *ms = (double)t * 1000.0 + frac;
    return true;
}

static enum ev event_of(const char *name)
{
    for (int i = 0; i < EV_OTHER; i++)
        if (strcmp(name, EV_NAME[i]) == 0)
            return (enum ev)i;
    return EV_OTHER;
}

static void client_error(struct client *c, const char *what, const char *detail)
{
    struct app *a = c->app;
    if (a->errors_logged++ < MAX_ERROR_LOGS)
        fprintf(stderr, "ws_clients: client %zu (job %s): %s%s%s\n", (size_t)(c - a->c), a->jobs[c->job], what,
                detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

static int add_sample(struct app *a, const struct sample *smp)
{
    if (a->ns == a->cap_s) {
        size_t cap = a->cap_s != 0 ? a->cap_s * 2 : 4096;
        struct sample *s = realloc(a->s, cap * sizeof(*s));
        if (s == NULL)
            return -1;
        a->s = s;
        a->cap_s = cap;
    }
    a->s[a->ns++] = *smp;
    return 0;
}

/* One whole text message: record its latency, event and seq; note the terminal event. */
static int handle_message(struct client *c)
{
    struct app *a = c->app;
    json_error_t err;
    json_t *o = json_loadb(c->rx, c->rx_len, 0, &err);
    int rc = 0;
    a->frames++;
    if (!json_is_object(o)) {
        a->bad_frames++;
        client_error(c, "frame is not a JSON object", err.text);
        goto out;
    }
    const char *name = json_string_value(json_object_get(o, "event"));
    const char *emitted = json_string_value(json_object_get(o, "emitted_at"));
    json_t *seq = json_object_get(o, "seq");
    struct sample smp = {.client = (uint32_t)(c - a->c), .event = EV_OTHER, .seq = -1, .rx_ms = c->rx_ms};
    if (name == NULL || !json_is_integer(seq)) {
        a->bad_frames++;
        client_error(c, "frame without event or seq", NULL);
    } else {
        smp.event = (uint8_t)event_of(name);
        smp.seq = json_integer_value(seq);
    }
    double em;
    if (emitted != NULL && parse_rfc3339_utc(emitted, &em)) {
        smp.has_lat = true;
        smp.lat_ms = c->rx_ms - em;
    }
    const char *status = json_string_value(json_object_get(o, "status"));
    if (smp.event == EV_COMPLETED || smp.event == EV_FAILED ||
        (smp.event == EV_SNAPSHOT && status != NULL &&
         (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)))
        c->terminal = true;
    if (add_sample(a, &smp) != 0) {
        a->oom = true;
        rc = -1;
    }
out:
    json_decref(o);
    return rc;
}

static int receive(struct client *c, const void *in, size_t len, bool final)
{
    if (c->rx_len == 0)
        c->rx_ms = now_ms(CLOCK_REALTIME);
    if (c->rx_len + len > MAX_MESSAGE) {
        client_error(c, "message too large", NULL);
        return -1;
    }
    if (c->rx_len + len > c->rx_cap) {
        size_t cap = c->rx_cap != 0 ? c->rx_cap : 1024;
        while (cap < c->rx_len + len)
            cap *= 2;
        char *p = realloc(c->rx, cap);
        if (p == NULL) {
            c->app->oom = true;
            return -1;
        }
        c->rx = p;
        c->rx_cap = cap;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!final)
        return 0;
    int rc = handle_message(c);
    c->rx_len = 0;
    return rc;
}

/* Every connection ends here exactly once, whichever callback reports it first. */
static void finish(struct client *c)
{
    struct app *a = c->app;
    if (c->state == C_DONE)
        return;
    if (c->state == C_CONNECTING) {
        a->inflight--;
        a->failed++;
    } else if (c->state == C_OPEN) {
        a->open--;
    }
    c->state = C_DONE;
    c->wsi = NULL;
    a->done++;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    struct client *c = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
    if (c == NULL)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (c->state == C_CONNECTING) {
            c->state = C_OPEN;
            c->established = true;
            c->app->inflight--;
            c->app->open++;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        client_error(c, "connection failed", in != NULL ? (const char *)in : NULL);
        finish(c);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_frame_is_binary(wsi)) {
            client_error(c, "binary frame", NULL);
            return -1;
        }
        return receive(c, in, len, lws_is_final_fragment(wsi) != 0);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *p = in;
            c->close_code = (p[0] << 8) | p[1];
        } else {
            c->close_code = 1005; /* close frame without a status (RFC 6455 7.1.5) */
        }
        break; /* 0: lws echoes the close, then closes */
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        finish(c);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols PROTOCOLS[] = {
    {"eh-bench", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void start_one(struct app *a, struct client *c, const char *path)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = a->ctx;
    ci.address = a->host;
    ci.port = a->port;
    ci.path = path;
    ci.host = a->host;
    ci.origin = a->host;
    ci.local_protocol_name = PROTOCOLS[0].name;
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    c->state = C_CONNECTING;
    a->inflight++;
    if (lws_client_connect_via_info(&ci) == NULL) {
        /* lws may or may not have reported it through a callback already */
        if (c->state == C_CONNECTING)
            client_error(c, "lws_client_connect_via_info failed", NULL);
        finish(c);
    }
}

/* Open connections up to the in-flight bound. */
static void pump(struct app *a)
{
    char path[256];
    while (a->next < a->n && a->inflight < a->inflight_max && !g_stop) {
        struct client *c = &a->c[a->next++];
        int len = snprintf(path, sizeof(path), "/ws/jobs/%s", a->jobs[c->job]);
        if (len < 0 || (size_t)len >= sizeof(path)) {
            client_error(c, "job id too long", NULL);
            c->state = C_DONE;
            a->failed++;
            a->done++;
            continue;
        }
        start_one(a, c, path);
    }
}

/* One JSON line on stdout (o is stolen); 0, or -1 with a message naming the line. */
static int emit_line(json_t *o, const char *what)
{
    int rc = -1;
    if (o != NULL && json_dumpf(o, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0)
        rc = 0;
    if (rc != 0)
        fprintf(stderr, "ws_clients: cannot write the %s line\n", what);
    json_decref(o);
    return rc;
}

static int report_connected(struct app *a)
{
    a->t_connected = now_ms(CLOCK_MONOTONIC);
    a->connected_reported = true;
    size_t established = 0;
    for (size_t i = 0; i < a->n; i++)
        established += a->c[i].established;
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:f}", "event", "connected", "clients", (json_int_t)a->n, "connected",
                          (json_int_t)established, "failed", (json_int_t)a->failed, "connect_s",
                          (a->t_connected - a->t_start) / 1000.0);
    return emit_line(o, "connected");
}

/* Periodic wake-up: lws_service() ignores its timeout, so deadlines and signals are checked here. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct app *a = lws_container_of(sul, struct app, tick);
    lws_sul_schedule(a->ctx, 0, &a->tick, on_tick, TICK_US);
}

static bool finished(struct app *a)
{
    double t = now_ms(CLOCK_MONOTONIC);
    if (g_stop || a->oom)
        return true;
    if (a->done == a->n && a->connected_reported)
        return true;
    if (a->connected_reported && t - a->t_connected > (double)a->timeout_s * 1000.0) {
        a->timed_out = true;
        return true;
    }
    return false;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Same rule as ws_bench.py's percentile(): index round(p/100 * (n-1)), ties to even. */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double k = nearbyint(p / 100.0 * (double)(n - 1));
    if (k < 0)
        k = 0;
    if (k > (double)(n - 1))
        k = (double)(n - 1);
    return v[(size_t)k];
}

static int write_samples(const struct app *a, const char *file)
{
    FILE *f = fopen(file, "w");
    if (f == NULL) {
        fprintf(stderr, "ws_clients: %s: %s\n", file, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < a->ns; i++) {
        const struct sample *s = &a->s[i];
        char lat[32] = "-";
        if (s->has_lat && snprintf(lat, sizeof(lat), "%.3f", s->lat_ms) < 0)
            break;
        int r = fprintf(f, "%u\t%s\t%s\t%lld\t%s\t%.3f\n", s->client, a->jobs[a->c[s->client].job], EV_NAME[s->event],
                        (long long)s->seq, lat, s->rx_ms);
        if (r < 0)
            break;
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "ws_clients: cannot write %s\n", file);
        return -1;
    }
    return 0;
}

/* The "done" line: counts, close codes, and p50/p99/max over the non-snapshot frames. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int report_done(const struct app *a)
{
    int rc = -1;
    json_t *o = NULL, *codes = json_object();
    double *lat = malloc((a->ns != 0 ? a->ns : 1) * sizeof(*lat));
    size_t nl = 0, lost = 0, errors = 0;
    if (codes == NULL || lat == NULL)
        goto out;
    for (size_t i = 0; i < a->ns; i++)
        if (a->s[i].has_lat && a->s[i].event != EV_SNAPSHOT)
            lat[nl++] = a->s[i].lat_ms;
    qsort(lat, nl, sizeof(*lat), cmp_double);
    for (size_t i = 0; i < a->n; i++) {
        const struct client *c = &a->c[i];
        lost += !c->terminal;
        if (!c->established) {
            errors++;
            continue;
        }
        char key[16];
        int code = c->close_code != 0 ? c->close_code : CLOSE_NONE;
        if (snprintf(key, sizeof(key), "%d", code) < 0)
            goto out;
        json_int_t prev = json_integer_value(json_object_get(codes, key));
        if (json_object_set_new(codes, key, json_integer(prev + 1)) != 0)
            goto out;
    }
    /* NaN is not JSON: no samples give null */
    o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:b, s:f, s:f, s:o, s:o, s:o}", "event", "done",
                  "clients", (json_int_t)a->n, "connected", (json_int_t)(a->n - errors), "errors", (json_int_t)errors,
                  "lost", (json_int_t)lost, "still_open", (json_int_t)(a->n - a->done), "frames", (json_int_t)a->frames,
                  "bad_frames", (json_int_t)a->bad_frames, "samples", (json_int_t)nl, "codes", codes, "timed_out",
                  a->timed_out, "run_s", a->connected_reported ? (a->t_end - a->t_connected) / 1000.0 : 0.0, "cpu_s",
                  cpu_seconds(), "p50_ms", nl != 0 ? json_real(percentile(lat, nl, 50)) : json_null(), "p99_ms",
                  nl != 0 ? json_real(percentile(lat, nl, 99)) : json_null(), "max_ms",
                  nl != 0 ? json_real(lat[nl - 1]) : json_null());
    rc = emit_line(o, "done");
    o = NULL;
out:
    json_decref(o);
    json_decref(codes);
    free(lat);
    return rc;
}

static int raise_nofile(size_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("ws_clients: getrlimit");
        return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr, "ws_clients: need %zu file descriptors, hard limit is %llu\n", need,
                (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("ws_clients: setrlimit");
        return -1;
    }
    return 0;
}

/* Job ids from stdin, whitespace-separated; *out is new, and so is every string in it. */
static int read_jobs(char ***out, size_t *n)
{
    char **v = NULL, buf[256];
    size_t len = 0, cap = 0;
    while (scanf("%255s", buf) == 1) {
        if (len == cap) {
            cap = cap != 0 ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof(*nv));
            if (nv == NULL)
                goto fail;
            v = nv;
        }
        if ((v[len] = strdup(buf)) == NULL)
            goto fail;
        len++;
    }
    if (ferror(stdin))
        goto fail;
    *out = v;
    *n = len;
    return 0;
fail:
    for (size_t i = 0; i < len; i++)
        free(v[i]);
    free(v);
    return -1;
}

static bool parse_size(const char *s, size_t min, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > 10000000ull)
        return false;
    *out = (size_t)v;
    return true;
}

static void usage(void)
{
    fprintf(stderr, "usage: ws_clients -p PORT [-H HOST] [-n PER_JOB] [-i INFLIGHT] [-T CONNECT_TIMEOUT_S]\n"
                    "                  [-t RUN_TIMEOUT_S] [-o SAMPLES_FILE] [JOB_ID...]   (ids on stdin if none)\n");
}

static int run(struct app *a)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    info.gid = -1;
    info.uid = -1;
    a->ctx = lws_create_context(&info);
    if (a->ctx == NULL) {
        fprintf(stderr, "ws_clients: lws_create_context failed\n");
        return -1;
    }
    lws_sul_schedule(a->ctx, 0, &a->tick, on_tick, TICK_US);
    a->t_start = now_ms(CLOCK_MONOTONIC);
    int rc = 0;
    while (!finished(a)) {
        pump(a);
        if (!a->connected_reported && ((a->next == a->n && a->inflight == 0) ||
                                       now_ms(CLOCK_MONOTONIC) - a->t_start > (double)a->connect_timeout_s * 1000.0)) {
            if (report_connected(a) != 0) {
                rc = -1;
                break;
            }
            continue; /* every connection may already be done */
        }
        if (lws_service(a->ctx, 0) < 0) {
            fprintf(stderr, "ws_clients: lws_service failed\n");
            rc = -1;
            break;
        }
    }
    a->t_end = now_ms(CLOCK_MONOTONIC);
    if (a->oom) {
        fprintf(stderr, "ws_clients: out of memory\n");
        rc = -1;
    }
    if (g_stop)
        fprintf(stderr, "ws_clients: stopped by a signal\n");
    lws_sul_cancel(&a->tick);
    /* Closes what is still open; its callbacks still see the clients, so free them after. */
    lws_context_destroy(a->ctx);
    a->ctx = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    struct app a;
    memset(&a, 0, sizeof(a));
    a.host = "127.0.0.1";
    a.per_job = 10;
    a.inflight_max = 100;
    a.timeout_s = 300;
    a.connect_timeout_s = 120;
    const char *samples_file = NULL;
    size_t port = 0;
    int opt, rc = 1;
    bool jobs_from_stdin = false;
    while ((opt = getopt(argc, argv, "p:H:n:i:t:T:o:")) != -1) {
        bool ok = true;
        switch (opt) {
        case 'p':
            ok = parse_size(optarg, 1, &port) && port <= 65535;
            break;
        case 'H':
            a.host = optarg;
            break;
        case 'n':
            ok = parse_size(optarg, 1, &a.per_job);
            break;
        case 'i':
            ok = parse_size(optarg, 1, &a.inflight_max);
            break;
        case 't':
            ok = parse_size(optarg, 1, &a.timeout_s);
            break;
        case 'T':
            ok = parse_size(optarg, 1, &a.connect_timeout_s);
            break;
        case 'o':
            samples_file = optarg;
            break;
        default:
            ok = false;
            break;
        }
        if (!ok) {
            usage();
            return 2;
        }
    }
    if (port == 0) {
        usage();
        return 2;
    }
    a.port = (int)port;
    if (optind < argc) {
        a.jobs = argv + optind;
        a.njobs = (size_t)(argc - optind);
    } else {
        if (read_jobs(&a.jobs, &a.njobs) != 0) {
            fprintf(stderr, "ws_clients: cannot read job ids from stdin\n");
            return 1;
        }
        jobs_from_stdin = true;
    }
    if (a.njobs == 0) {
        fprintf(stderr, "ws_clients: no job ids\n");
        goto out;
    }
    a.n = a.njobs * a.per_job;
    if (raise_nofile(a.n + FD_SPARE) != 0)
        goto out;
    a.c = calloc(a.n, sizeof(*a.c));
    if (a.c == NULL) {
        fprintf(stderr, "ws_clients: out of memory\n");
        goto out;
    }
    /* Job-major, as the Python clients: job 0's clients first. */
    for (size_t i = 0; i < a.n; i++) {
        a.c[i].app = &a;
        a.c[i].job = i / a.per_job;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("ws_clients: sigaction");
        goto out;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    if (run(&a) != 0)
        goto out;
    if (samples_file != NULL && write_samples(&a, samples_file) != 0)
        goto out;
    if (report_done(&a) != 0)
        goto out;
    rc = 0;
out:
    if (a.c != NULL)
        for (size_t i = 0; i < a.n; i++)
            free(a.c[i].rx);
    free(a.c);
    free(a.s);
    if (jobs_from_stdin) {
        for (size_t i = 0; i < a.njobs; i++)
            free(a.jobs[i]);
        free(a.jobs);
    }
    return rc;
}
