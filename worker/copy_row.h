/*
 * copy_row.h - rows in PostgreSQL's COPY text format (tab-separated, one
 * row per line, \N for NULL; backslash, tab, newline and carriage return in
 * a value are written as \\, \t, \n and \r), for
 *   COPY log_entries (job_id, line_no, ts, level, service, message, attributes) FROM STDIN
 *   COPY job_errors (job_id, line_no, reason) FROM STDIN
 * Values must be valid UTF-8 without NUL bytes (the validator guarantees it
 * for entries); the connection's client_encoding must be UTF8.
 */
#ifndef EH_WORKER_COPY_ROW_H
#define EH_WORKER_COPY_ROW_H

#include "buf.h"
#include "eh.h"
#include "validate.h"

/* The column lists the rows below are written for. */
#define WORKER_COPY_ENTRIES_COLUMNS "job_id, line_no, ts, level, service, message, attributes"
#define WORKER_COPY_ERRORS_COLUMNS "job_id, line_no, reason"

/*
 * Appends one log_entries row for e (e->line_no included) to b. job_id is
 * the job's UUID text (written as is). EH_OK, or EH_ERR when out of memory,
 * with b unchanged.
 */
EH_MUST_CHECK int worker_copy_row_entry(eh_buf_t *b, const char *job_id, const worker_entry_t *e);

/* Appends one job_errors row. reason is reason_len bytes of UTF-8. EH_OK, or EH_ERR with b unchanged. */
EH_MUST_CHECK int worker_copy_row_error(eh_buf_t *b, const char *job_id, uint64_t line_no, const char *reason,
                                        size_t reason_len);

/* Writes src[0..n) escaped for a COPY text field into dst (room for 2 * n bytes); returns the bytes written. */
size_t worker_copy_escape(char *dst, const char *src, size_t n);

#endif
