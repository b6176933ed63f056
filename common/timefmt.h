/* timefmt.h - clocks and RFC 3339 timestamps with milliseconds, always UTC. */
#ifndef EH_TIMEFMT_H
#define EH_TIMEFMT_H

#include "eh.h"

#define EH_TIME_BUFLEN 32 /* "2026-11-21T10:00:00.000Z" plus room for years past 9999 */

/* Wall-clock milliseconds since the Unix epoch. */
int64_t eh_time_now_ms(void);
/* Monotonic milliseconds, for timeouts and intervals. */
int64_t eh_time_mono_ms(void);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into out; returns its length. */
size_t eh_time_format_ms(int64_t epoch_ms, char out[EH_TIME_BUFLEN]);

#endif
