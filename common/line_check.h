/*
 * line_check.h - the verdict on one line as the splitter delivers it: the
 * one place that turns a worker_line_t into valid / blank / invalid with its
 * reason, so that the worker's ingest and the API's dry run can never
 * disagree (a line too long for EH_MAX_LINE_BYTES included).
 */
#ifndef EH_LINE_CHECK_H
#define EH_LINE_CHECK_H

#include <stddef.h>

#include "eh.h"
#include "splitter.h"
#include "validate.h"

/*
 * EH_OK: valid, e filled (e->line_no too). WORKER_VALIDATE_BLANK: skipped.
 * EH_DECLINED: invalid, reason (>= WORKER_REASON_LEN bytes) says why.
 * EH_ERR: out of memory.
 */
EH_MUST_CHECK int eh_line_check(const worker_line_t *line, size_t max_line_bytes, worker_entry_t *e, char *reason,
                                size_t reason_len);

#endif
