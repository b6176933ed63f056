/*
 * eh.h - the status vocabulary and small types shared by every module.
 *
 * Functions that can fail return one of the EH_* codes below (or a pointer,
 * NULL on failure) and are marked EH_MUST_CHECK so that the -Werror build
 * rejects an ignored result.
 */
#ifndef EH_EH_H
#define EH_EH_H

#include <stddef.h>
#include <stdint.h>

#define EH_OK 0
#define EH_ERR (-1)      /* failed; the caller cannot do better by retrying */
#define EH_AGAIN (-2)    /* a dependency (broker, database, storage) is down: retry later */
#define EH_DECLINED (-3) /* the input is invalid or not ours; not a failure of the service */

#define EH_MUST_CHECK __attribute__((warn_unused_result))
#define EH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define EH_UNUSED(x) ((void)(x))
#define EH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A borrowed, length-carrying slice: no terminating NUL is implied. */
typedef struct eh_str {
    const char *p;
    size_t len;
} eh_str_t;

#define EH_UUID_STRLEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

#endif
