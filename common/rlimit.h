/* rlimit.h - process limits set at start. */
#ifndef EH_RLIMIT_H
#define EH_RLIMIT_H

#include "eh.h"

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit, so that the process can
 * hold as many connections as the system lets it (the default soft limit of
 * 1024 is reached by ordinary load, let alone abuse). Logs the result;
 * returns the soft limit now in force, or -1 when it cannot be read.
 */
int64_t eh_rlimit_raise_nofile(void);

#endif
