/*
 * The commands of `eh`. Each builds its request, prints the answer in the
 * chosen mode (lines for people, --json one object per line for scripts)
 * and maps failures to the exit codes of cli.h. Errors go to stderr with the
 * server's code and message (cli_http_report).
 */
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "follow.h"
#include "progress.h"

#define ERRORS_PAGE 1000
#define ENTRIES_PAGE 1000

static const char *str(json_t *o, const char *name, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s != NULL ? s : dflt;
}

static long long num(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

static void print_json(json_t *o)
{
    if (json_dumpf(o, stdout, JSON_COMPACT) == 0)
        fputc('\n', stdout);
}

/*
 * Writes text for a terminal: control characters (a newline in a message, an
 * escape sequence someone logged) come out as \n, \t, \xNN, so that one entry
 * stays one line and a log cannot drive the reader's terminal.
 */
static void put_safe(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            fputc(*p, stdout);
    }
}

/* The job id as a path segment (escaped: a typo must not reach another path). NULL on out of memory. */
static char *job_path(cli_http_t *h, const char *id, const char *suffix)
{
    char *e = cli_http_escape(h, id);
    if (e == NULL)
        return NULL;
    size_t n = strlen("/api/v1/jobs/") + strlen(e) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "/api/v1/jobs/%s%s", e, suffix);
    free(e);
    return p;
}

/* Sends method path; on a non-2xx answer reports it as `what` and returns its exit code (r cleared). */
static int call(cli_http_t *h, const char *method, const char *path, const char *what, cli_response_t *r)
{
    if (path == NULL) {
        fprintf(stderr, "eh: %s: out of memory\n", what);
        memset(r, 0, sizeof(*r));
        return CLI_EXIT_UNAVAILABLE;
    }
    if (cli_http_request(h, method, path, r) != EH_OK || r->status < 200 || r->status > 299) {
        cli_http_report(r, what);
        int code = cli_http_exit_code(r);
        cli_response_clear(r);
        return code == CLI_EXIT_OK ? CLI_EXIT_UNAVAILABLE : code;
    }
    return CLI_EXIT_OK;
}

/* ---- upload ---- */

typedef struct upload_ctx {
    cli_out_t *out;
} upload_ctx_t;

static bool on_upload_progress(void *ud, uint64_t sent, uint64_t total)
{
    upload_ctx_t *u = ud;
    cli_out_upload_progress(u->out, sent, total);
    return true;
}

static int print_dry_run(const cli_args_t *a, const char *file, json_t *body)
{
    if (a->json) {
        json_t *copy = json_deep_copy(body);
        if (copy != NULL && json_object_set_new(copy, "file", json_string(file)) == 0)
            print_json(copy);
        json_decref(copy);
    } else {
        printf("%s: %lld lines, %lld valid, %lld invalid, %lld blank\n", file, num(body, "lines_total"),
               num(body, "lines_valid"), num(body, "lines_invalid"), num(body, "lines_blank"));
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(body, "errors"), i, e)
            printf("  line %lld: %s\n", num(e, "line_no"), str(e, "reason", "?"));
    }
    fflush(stdout);
    return num(body, "lines_invalid") > 0 ? CLI_EXIT_JOB_FAILED : CLI_EXIT_OK;
}

static int upload_one(const cli_args_t *a, cli_http_t *h, cli_out_t *out, const char *file, int index)
{
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "eh: upload: cannot read %s: %s\n", file, errno != 0 ? strerror(errno) : "not a file");
        return CLI_EXIT_USAGE;
    }
    char idem[300];
    const char *key = a->idempotency_key;
    if (key != NULL && a->nfiles > 1) {
        snprintf(idem, sizeof(idem), "%s-%d", key, index + 1);
        key = idem;
    }
    cli_out_reset(out);
    upload_ctx_t u = {.out = out};
    cli_response_t r;
    int rc = cli_http_upload(h, file, a->dry_run, key, on_upload_progress, &u, &r);
    cli_out_end_bar(out);
    char what[512];
    snprintf(what, sizeof(what), "upload %s", file);
    if (rc != EH_OK || r.status < 200 || r.status > 299) {
        cli_http_report(&r, what);
        int code = cli_http_exit_code(&r);
        cli_response_clear(&r);
        return code == CLI_EXIT_OK ? CLI_EXIT_UNAVAILABLE : code;
    }
    if (a->dry_run) {
        int code = print_dry_run(a, file, r.body);
        cli_response_clear(&r);
        return code;
    }
    const char *id = str(r.body, "job_id", NULL);
    if (id == NULL) {
        fprintf(stderr, "eh: %s: the server's answer has no job_id\n", what);
        cli_response_clear(&r);
        return CLI_EXIT_UNAVAILABLE;
    }
    if (a->json) {
        print_json(r.body);
    } else {
        char size[24];
        cli_progress_bytes((uint64_t)num(r.body, "size_bytes"), size, sizeof(size));
        printf("job %s %s: %s (%lld lines, %s)%s\n", id, str(r.body, "status", "queued"), file,
               num(r.body, "lines_total"), size,
               r.status == 200 ? " [the earlier upload with this idempotency key]" : "");
    }
    fflush(stdout);
    int code = CLI_EXIT_OK;
    if (a->follow)
        code = cli_follow_job(h, out, id);
    cli_response_clear(&r);
    return code;
}

static int cmd_upload(const cli_args_t *a, cli_http_t *h, cli_out_t *out)
{
    int worst = CLI_EXIT_OK;
    for (int i = 0; i < a->nfiles; i++) {
        int code = upload_one(a, h, out, a->files[i], i);
        if (code == CLI_EXIT_INTERRUPTED)
            return code;
        if (code > worst)
            worst = code;
    }
    return worst;
}

/* ---- status, cancel, delete ---- */

static void print_job(json_t *job)
{
    static const char *const fields[] = {"job_id",      "file_name",       "status",           "size_bytes",
                                         "lines_total", "lines_processed", "entries_ingested", "lines_invalid",
                                         "progress",    "created_at",      "started_at",       "completed_at",
                                         "error"};
    for (size_t i = 0; i < EH_ARRAY_LEN(fields); i++) {
        json_t *v = json_object_get(job, fields[i]);
        if (json_is_string(v))
            printf("%-17s %s\n", fields[i], json_string_value(v));
        else if (json_is_integer(v))
            printf("%-17s %lld\n", fields[i], (long long)json_integer_value(v));
        else if (json_is_real(v))
            printf("%-17s %.1f\n", fields[i], json_real_value(v));
        else if (json_is_null(v))
            printf("%-17s -\n", fields[i]);
    }
}

static int cmd_status(const cli_args_t *a, cli_http_t *h)
{
    char *path = job_path(h, a->id, "");
    cli_response_t r;
    int code = call(h, "GET", path, "status", &r);
    free(path);
    if (code != CLI_EXIT_OK)
        return code;
    if (a->json)
        print_json(r.body);
    else
        print_job(r.body);
    cli_response_clear(&r);
    return CLI_EXIT_OK;
}

static int cmd_cancel(const cli_args_t *a, cli_http_t *h)
{
    char *path = job_path(h, a->id, "/cancel");
    cli_response_t r;
    int code = call(h, "POST", path, "cancel", &r);
    free(path);
    if (code != CLI_EXIT_OK)
        return code;
    if (a->json)
        print_json(r.body);
    else if (strcmp(str(r.body, "status", ""), "cancelled") == 0)
        printf("job %s cancelled\n", a->id);
    else
        printf("job %s: cancel requested; it stops at its worker's next batch (eh follow %s)\n", a->id, a->id);
    cli_response_clear(&r);
    return CLI_EXIT_OK;
}

static int cmd_delete(const cli_args_t *a, cli_http_t *h)
{
    char *path = job_path(h, a->id, "");
    cli_response_t r;
    int code = call(h, "DELETE", path, "delete", &r);
    free(path);
    if (code != CLI_EXIT_OK)
        return code;
    if (a->json) {
        json_t *o = json_pack("{s:s, s:b}", "job_id", a->id, "deleted", 1);
        if (o != NULL)
            print_json(o);
        json_decref(o);
    } else {
        printf("job %s deleted\n", a->id);
    }
    cli_response_clear(&r);
    return CLI_EXIT_OK;
}

/* ---- jobs ---- */

/* Appends "&name=escaped(value)" to q (size qlen); false when it does not fit or on out of memory. */
static bool add_param(cli_http_t *h, char *q, size_t qlen, const char *name, const char *value)
{
    if (value == NULL)
        return true;
    char *e = cli_http_escape(h, value);
    if (e == NULL)
        return false;
    size_t used = strlen(q);
    int n = snprintf(q + used, qlen - used, "%s%s=%s", strchr(q, '?') != NULL ? "&" : "?", name, e);
    free(e);
    return n > 0 && (size_t)n < qlen - used;
}

static bool add_long(cli_http_t *h, char *q, size_t qlen, const char *name, long value)
{
    char v[24];
    snprintf(v, sizeof(v), "%ld", value);
    return add_param(h, q, qlen, name, v);
}

static int cmd_jobs(const cli_args_t *a, cli_http_t *h)
{
    char path[2048] = "/api/v1/jobs";
    if (!add_param(h, path, sizeof(path), "status", a->status) ||
        (a->limit > 0 && !add_long(h, path, sizeof(path), "limit", a->limit)) ||
        !add_param(h, path, sizeof(path), "cursor", a->cursor)) {
        fprintf(stderr, "eh: jobs: the options are too long\n");
        return CLI_EXIT_USAGE;
    }
    cli_response_t r;
    int code = call(h, "GET", path, "jobs", &r);
    if (code != CLI_EXIT_OK)
        return code;
    json_t *jobs = json_object_get(r.body, "jobs");
    size_t i;
    json_t *job;
    if (!a->json && json_array_size(jobs) > 0)
        printf("%-36s  %-10s  %6s  %17s  %-24s  %s\n", "JOB", "STATUS", "DONE", "LINES (INVALID)", "CREATED", "FILE");
    json_array_foreach(jobs, i, job)
    {
        if (a->json) {
            print_json(job);
            continue;
        }
        char lines[48];
        snprintf(lines, sizeof(lines), "%lld/%lld (%lld)", num(job, "lines_processed"), num(job, "lines_total"),
                 num(job, "lines_invalid"));
        json_t *pr = json_object_get(job, "progress");
        printf("%-36s  %-10s  %5.1f%%  %17s  %-24s  %s\n", str(job, "job_id", "?"), str(job, "status", "?"),
               json_is_number(pr) ? json_number_value(pr) : 0.0, lines, str(job, "created_at", "-"),
               str(job, "file_name", "-"));
    }
    if (!a->json && json_array_size(jobs) == 0)
        printf("no jobs\n");
    const char *next = str(r.body, "next_cursor", NULL);
    if (next != NULL)
        fprintf(stderr, "more: eh jobs --cursor %s\n", next);
    fflush(stdout);
    cli_response_clear(&r);
    return CLI_EXIT_OK;
}

/* ---- errors ---- */

static int cmd_errors(const cli_args_t *a, cli_http_t *h)
{
    long shown = 0, offset = 0;
    bool truncated = false;
    while (a->limit == 0 || shown < a->limit) {
        long want = ERRORS_PAGE;
        if (a->limit > 0 && a->limit - shown < want)
            want = a->limit - shown;
        char suffix[96];
        snprintf(suffix, sizeof(suffix), "/errors?limit=%ld&offset=%ld", want, offset);
        char *path = job_path(h, a->id, suffix);
        cli_response_t r;
        int code = call(h, "GET", path, "errors", &r);
        free(path);
        if (code != CLI_EXIT_OK)
            return code;
        json_t *errors = json_object_get(r.body, "errors");
        truncated = json_is_true(json_object_get(r.body, "truncated"));
        size_t i, n = json_array_size(errors);
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            if (a->json)
                print_json(e);
            else {
                printf("line %lld: ", num(e, "line_no"));
                put_safe(str(e, "reason", "?"));
                fputc('\n', stdout);
            }
        }
        shown += (long)n;
        offset += (long)n;
        long total = (long)num(r.body, "total");
        cli_response_clear(&r);
        if (n == 0 || offset >= total)
            break;
    }
    if (!a->json && shown == 0)
        printf("no invalid lines\n");
    if (truncated)
        fprintf(stderr, "eh: errors: the server keeps the reasons of the first invalid lines only\n");
    fflush(stdout);
    return CLI_EXIT_OK;
}

/* ---- entries ---- */

static void print_entry(json_t *e)
{
    const char *service = str(e, "service", NULL);
    printf("%6lld  %-24s  %-6s  ", num(e, "line_no"), str(e, "timestamp", "-"), str(e, "level", "-"));
    if (service != NULL) {
        fputc('[', stdout);
        put_safe(service);
        fputs("] ", stdout);
    }
    put_safe(str(e, "message", ""));
    fputc('\n', stdout);
}

static int cmd_entries(const cli_args_t *a, cli_http_t *h)
{
    long shown = 0;
    char *cursor = NULL;
    int code = CLI_EXIT_OK;
    while (a->limit == 0 || shown < a->limit) {
        long want = ENTRIES_PAGE;
        if (a->limit > 0 && a->limit - shown < want)
            want = a->limit - shown;
        char query[4096] = "/entries";
        if (!add_param(h, query, sizeof(query), "level", a->level) ||
            !add_param(h, query, sizeof(query), "since", a->since) ||
            !add_param(h, query, sizeof(query), "until", a->until) || !add_param(h, query, sizeof(query), "q", a->q) ||
            !add_long(h, query, sizeof(query), "limit", want) ||
            !add_param(h, query, sizeof(query), "cursor", cursor)) {
            fprintf(stderr, "eh: entries: the options are too long\n");
            code = CLI_EXIT_USAGE;
            break;
        }
        char *path = job_path(h, a->id, query);
        cli_response_t r;
        code = call(h, "GET", path, "entries", &r);
        free(path);
        if (code != CLI_EXIT_OK)
            break;
        size_t i;
        json_t *e, *entries = json_object_get(r.body, "entries");
        json_array_foreach(entries, i, e)
        {
            if (a->json)
                print_json(e);
            else
                print_entry(e);
        }
        shown += (long)json_array_size(entries);
        free(cursor);
        const char *next = str(r.body, "next_cursor", NULL);
        cursor = next != NULL ? strdup(next) : NULL;
        bool more = next != NULL && json_array_size(entries) > 0;
        cli_response_clear(&r);
        if (!more)
            break;
        if (cursor == NULL) {
            fprintf(stderr, "eh: entries: out of memory\n");
            code = CLI_EXIT_UNAVAILABLE;
            break;
        }
    }
    free(cursor);
    fflush(stdout);
    return code;
}

int cli_cmd_run(const cli_args_t *a, cli_http_t *h, cli_out_t *out)
{
    switch (a->cmd) {
    case CLI_CMD_UPLOAD:
        return cmd_upload(a, h, out);
    case CLI_CMD_FOLLOW:
        return cli_follow_job(h, out, a->id);
    case CLI_CMD_STATUS:
        return cmd_status(a, h);
    case CLI_CMD_JOBS:
        return cmd_jobs(a, h);
    case CLI_CMD_ERRORS:
        return cmd_errors(a, h);
    case CLI_CMD_ENTRIES:
        return cmd_entries(a, h);
    case CLI_CMD_CANCEL:
        return cmd_cancel(a, h);
    case CLI_CMD_DELETE:
        return cmd_delete(a, h);
    case CLI_CMD_NONE:
        break;
    }
    return CLI_EXIT_USAGE;
}
