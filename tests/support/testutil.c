/* testutil.c - helpers shared by the cmocka tests; see testutil.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#include "log.h"
#include "uuid.h"

/* ---- group setup ---- */

const char *eh_test_require_env(const char *var, const char *service)
{
    const char *val = getenv(var);
    if (val == NULL || val[0] == '\0') {
        print_error("%s is not set: these tests need %s (scripts/services.sh start DIR, then source DIR/env)\n", var,
                    service);
        return NULL;
    }
    return val;
}

void eh_test_log_init(const char *component)
{
    const char *lvl = getenv("EH_LOG_LEVEL");
    int level = lvl != NULL ? eh_log_level_parse(lvl) : -1;
    eh_log_init(component);
    eh_log_set_level(level >= 0 ? level : EH_LOG_ERROR);
}

/* ---- stderr capture ---- */

void eh_test_capture_start(eh_test_capture_t *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

char *eh_test_capture_stop(eh_test_capture_t *c)
{
    fflush(stderr);
    assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
    close(c->saved_fd);
    char *text = eh_test_read_all(c->file, NULL);
    fclose(c->file);
    return text;
}

size_t eh_test_count_substr(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- files ---- */

char *eh_test_read_all(FILE *f, size_t *len)
{
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    if (len != NULL)
        *len = (size_t)n;
    return text;
}

/* ---- names ---- */

void eh_test_random_name(char *out, size_t outlen, const char *prefix)
{
    char uuid[EH_UUID_STRLEN + 1];
    assert_int_equal(eh_uuid_v4(uuid), EH_OK);
    size_t n = strlen(prefix);
    assert_true(n + 16 < outlen);
    memcpy(out, prefix, n);
    size_t end = n + 16;
    for (const char *p = uuid; *p != '\0' && n < end; p++)
        if (*p != '-')
            out[n++] = *p;
    out[n] = '\0';
}

/* ---- sockets ---- */

int eh_test_loopback_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

int eh_test_loopback_listener(int backlog, int *port)
{
    int fd = eh_test_loopback_socket(port);
    assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

/* ---- PostgreSQL ---- */

long long eh_test_db_scalar(eh_db_t *db, const char *sql, int n, const char *const *params)
{
    int st = EH_ERR;
    PGresult *res = eh_db_query(db, sql, n, params, &st);
    assert_non_null(res);
    assert_int_equal(st, EH_OK);
    assert_int_equal(PQntuples(res), 1);
    const char *v = PQgetvalue(res, 0, 0);
    long long out = strcmp(v, "t") == 0 ? 1 : strcmp(v, "f") == 0 ? 0 : strtoll(v, NULL, 10);
    PQclear(res);
    return out;
}

/* ---- shared test data ---- */

const eh_test_level_row_t eh_test_level_numbers[] = {
    {"10", "trace"},  {"19", "trace"},     {"19.99", "trace"}, {"20", "debug"}, {"30", "info"},    {"35", "info"},
    {"40", "warn"},   {"45", "warn"},      {"50", "error"},    {"60", "fatal"}, {"60.0", "fatal"}, {"6e1", "fatal"},
    {"1e1", "trace"}, {"600e-1", "fatal"}, {"9", NULL},        {"9.999", NULL}, {"60.5", NULL},    {"61", NULL},
    {"0", NULL},      {"-30", NULL},       {"-0", NULL},       {"1e400", NULL}, {"100", NULL},
};
const size_t eh_test_level_numbers_len = EH_ARRAY_LEN(eh_test_level_numbers);
