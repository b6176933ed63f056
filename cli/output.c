/*
 * Rendering of uploads and live events. On a terminal the bar is redrawn in
 * place ("\r" + line + erase to end of line) and each line is fitted to the
 * width read again before every draw, so that a resized terminal never
 * wraps it. Off a terminal nothing is redrawn: one line per event, which is
 * what a log file or a pipe wants.
 */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define DRAW_EVERY_MS 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_out_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c != NULL ? atoi(c) : 0;
    return n > 0 ? n : 80;
}

void cli_out_init(cli_out_t *o, bool json)
{
    memset(o, 0, sizeof(*o));
    o->mode = json ? CLI_OUT_JSON : isatty(STDOUT_FILENO) ? CLI_OUT_TTY : CLI_OUT_PLAIN;
    const char *term = getenv("TERM");
    o->color = o->mode == CLI_OUT_TTY && getenv("NO_COLOR") == NULL && !(term != NULL && strcmp(term, "dumb") == 0);
}

void cli_out_reset(cli_out_t *o)
{
    cli_out_end_bar(o);
    o->upload_t0 = 0;
    o->upload_last_draw_ms = 0;
    o->upload_done_drawn = false;
    o->ingest_started = false;
}

static void draw(cli_out_t *o, const char *line)
{
    fputs("\r", stdout);
    fputs(line, stdout);
    fputs("\033[K", stdout);
    fflush(stdout);
    o->bar_shown = true;
}

void cli_out_end_bar(cli_out_t *o)
{
    if (o->bar_shown) {
        fputs("\n", stdout);
        fflush(stdout);
        o->bar_shown = false;
    }
}

void cli_out_upload_progress(cli_out_t *o, uint64_t sent, uint64_t total)
{
    if (o->mode != CLI_OUT_TTY || total == 0) /* total 0: the request has not started */
        return;
    double t = now_s();
    if (o->upload_t0 == 0)
        o->upload_t0 = t;
    int64_t ms = (int64_t)(t * 1000);
    bool done = sent >= total;
    if (done ? o->upload_done_drawn : o->upload_last_draw_ms != 0 && ms - o->upload_last_draw_ms < DRAW_EVERY_MS)
        return;
    o->upload_done_drawn = done;
    o->upload_last_draw_ms = ms;
    double elapsed = t - o->upload_t0;
    cli_upload_progress_t p = {.sent = sent, .total = total, .rate = elapsed > 0.2 ? (double)sent / elapsed : 0};
    char line[512];
    cli_progress_upload_line(&p, cli_out_width(), o->color, line, sizeof(line));
    draw(o, line);
}

static int64_t num(json_t *ev, const char *name)
{
    json_t *v = json_object_get(ev, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : json_is_real(v) ? (int64_t)json_real_value(v) : 0;
}

static const char *str(json_t *ev, const char *name, const char *dflt)
{
    const char *s = json_string_value(json_object_get(ev, name));
    return s != NULL ? s : dflt;
}

static bool final_status(const char *s)
{
    return strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0;
}

static void tty_event(cli_out_t *o, json_t *ev)
{
    const char *status = str(ev, "status", "?");
    int64_t processed = num(ev, "lines_processed");
    double t = now_s();
    if (!o->ingest_started) {
        o->ingest_started = true;
        o->ingest_t0 = t;
        o->ingest_p0 = processed;
    }
    double elapsed = t - o->ingest_t0;
    cli_ingest_progress_t p = {
        .processed = processed,
        .total = num(ev, "lines_total"),
        .valid = num(ev, "entries_ingested"),
        .invalid = num(ev, "lines_invalid"),
        .rate = elapsed > 0.5 && processed > o->ingest_p0 ? (double)(processed - o->ingest_p0) / elapsed : 0,
    };
    char line[512];
    cli_progress_ingest_line(&p, cli_out_width(), o->color, line, sizeof(line));
    draw(o, line);
    if (!final_status(status))
        return;
    cli_out_end_bar(o);
    const char *on = "", *off = "";
    if (o->color) {
        on = strcmp(status, "completed") == 0 ? "\033[1;32m" : "\033[1;31m";
        off = "\033[0m";
    }
    printf("job %s %s%s%s: %lld lines, %lld valid, %lld invalid\n", str(ev, "job_id", "?"), on, status, off,
           (long long)p.processed, (long long)p.valid, (long long)p.invalid);
    const char *err = str(ev, "error", NULL);
    if (err != NULL)
        printf("  error: %s\n", err);
    fflush(stdout);
}

static void plain_event(json_t *ev)
{
    json_t *pr = json_object_get(ev, "progress");
    printf("%s %s job=%s status=%s lines=%lld/%lld valid=%lld invalid=%lld progress=%.1f%%\n",
           str(ev, "emitted_at", "-"), str(ev, "event", "?"), str(ev, "job_id", "?"), str(ev, "status", "?"),
           (long long)num(ev, "lines_processed"), (long long)num(ev, "lines_total"),
           (long long)num(ev, "entries_ingested"), (long long)num(ev, "lines_invalid"),
           json_is_number(pr) ? json_number_value(pr) : 0.0);
    const char *err = str(ev, "error", NULL);
    if (err != NULL)
        printf("%s error job=%s %s\n", str(ev, "emitted_at", "-"), str(ev, "job_id", "?"), err);
    fflush(stdout);
}

void cli_out_event(cli_out_t *o, json_t *ev)
{
    switch (o->mode) {
    case CLI_OUT_TTY:
        tty_event(o, ev);
        break;
    case CLI_OUT_PLAIN:
        plain_event(ev);
        break;
    case CLI_OUT_JSON:
        if (json_dumpf(ev, stdout, JSON_COMPACT) == 0)
            fputc('\n', stdout);
        fflush(stdout);
        break;
    }
}
