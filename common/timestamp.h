/*
 * timestamp.h - a log line's timestamp: parsing its two accepted forms into
 * microseconds since the Unix epoch (UTC), and formatting that for
 * PostgreSQL's timestamptz input.
 *
 * Rules, where the contract leaves a choice:
 * - An RFC 3339 string: "YYYY-MM-DD", 'T', 't' or ' ', "HH:MM:SS",
 *   optional '.' and 1+ digits (cut to microseconds, not rounded), then a
 *   zone, optionally after one space: 'Z', "UTC", "GMT" (any case),
 *   "+hh:mm", "+hhmm" or "+hh". A zone is required. Second 60 (leap second)
 *   rolls over to the next minute, as in PostgreSQL; hour 24 is refused.
 * - Or a JSON number: epoch seconds, or epoch milliseconds when its
 *   magnitude is above 1e11 (1e11 s is in the year 5138, 1e11 ms in 1973);
 *   fractions are kept exactly to the microsecond (floor).
 * - The instant must lie in years 0001..9999 UTC.
 * On EH_DECLINED *why is a static message such as "day out of range".
 */
#ifndef EH_WORKER_TIMESTAMP_H
#define EH_WORKER_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include "eh.h"

/* "YYYY-MM-DD HH:MM:SS.ffffff+00" and its NUL. */
#define WORKER_TS_BUFLEN 32

/* An RFC 3339 timestamp string as in the rules. EH_OK or EH_DECLINED. */
EH_MUST_CHECK int worker_ts_parse_text(const char *s, size_t len, int64_t *us, const char **why);

/* The text of a JSON number (already valid JSON) as epoch seconds or milliseconds. EH_OK or EH_DECLINED. */
EH_MUST_CHECK int worker_ts_parse_number(const char *s, size_t len, int64_t *us, const char **why);

/* Writes "YYYY-MM-DD HH:MM:SS.ffffff+00" and a NUL; us must be in years 0001..9999. Returns the length (29). */
size_t worker_ts_format(int64_t us, char out[WORKER_TS_BUFLEN]);

#endif
