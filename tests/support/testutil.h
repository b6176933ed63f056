/*
 * testutil.h - helpers shared by the cmocka unit and integration tests
 * (libtestsupport.a, linked into every test binary).
 *
 * The helpers assert with cmocka, so they may only be called from inside a
 * running cmocka test or group setup. Include <cmocka.h> (with its
 * prerequisites) before this header.
 */
#ifndef EH_TESTUTIL_H
#define EH_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "db.h"

/* ---- group setup ---- */

/*
 * The value of the environment variable var, or NULL (after printing how to
 * get the service running) when it is unset or empty. service names what the
 * tests need, as in "a real PostgreSQL". Borrowed from the environment.
 */
const char *eh_test_require_env(const char *var, const char *service);

/* eh_log_init(component), at EH_LOG_LEVEL when that names a level, else at error (quiet tests). */
void eh_test_log_init(const char *component);

/* ---- stderr capture, to read what a module logged ---- */

typedef struct eh_test_capture {
    int saved_fd;
    FILE *file;
} eh_test_capture_t;

/* Sends stderr to a temp file until eh_test_capture_stop. */
void eh_test_capture_start(eh_test_capture_t *c);

/* Restores stderr and returns what was written (new, NUL-terminated). */
char *eh_test_capture_stop(eh_test_capture_t *c);

/* How many times needle occurs in hay (overlapping occurrences count). */
size_t eh_test_count_substr(const char *hay, const char *needle);

/* ---- files ---- */

/* The whole of f from its start (new, NUL-terminated); its length in *len when len is not NULL. */
char *eh_test_read_all(FILE *f, size_t *len);

/* ---- names ---- */

/* prefix followed by 16 random hex digits: a name no other run uses. out must have room. */
void eh_test_random_name(char *out, size_t outlen, const char *prefix);

/* ---- sockets ---- */

/* A loopback TCP socket bound to a free port and not listening (connections are refused). Port in *port. */
int eh_test_loopback_socket(int *port);

/* The same, listening with the given backlog. */
int eh_test_loopback_listener(int backlog, int *port);

/* ---- PostgreSQL ---- */

/* The first column of the only row of sql, as an integer ("t"/"f" read as 1/0). */
long long eh_test_db_scalar(eh_db_t *db, const char *sql, int n, const char *const *params);

/* ---- shared test data ---- */

/* A pino/bunyan level number and the level name it maps to (NULL: out of range). */
typedef struct eh_test_level_row {
    const char *num;
    const char *out;
} eh_test_level_row_t;

/* The numbers level_test checks on the mapping and validate_test through a whole line. */
extern const eh_test_level_row_t eh_test_level_numbers[];
extern const size_t eh_test_level_numbers_len;

#endif
