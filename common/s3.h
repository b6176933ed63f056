/*
 * s3.h - the object store behind a small interface (libs3 2.0: AWS
 * signature v2, path-style URLs), so that a SigV4 backend can replace it.
 *
 * libs3 keeps global state: eh_s3_global_init() once per process (after
 * fork in children), eh_s3_global_cleanup() at exit. An eh_s3_t is not
 * changed by the calls, so threads may share one.
 */
#ifndef EH_S3_H
#define EH_S3_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "eh.h"

typedef struct eh_s3_config {
    const char *endpoint; /* host[:port] */
    const char *bucket;
    const char *access_key;
    const char *secret_key;
    bool https;
    int timeout_ms; /* a request fails (EH_AGAIN) after this long without progress; 0: no limit of ours */
} eh_s3_config_t;

/*
 * What went wrong on a failed call: the HTTP status (0 when none came, or
 * when libs3 2.0 cannot tell: it does not report the status line, so it is
 * derived from S3's error code) and S3's code and message.
 */
typedef struct eh_s3_error {
    int http_status;
    char code[64];
    char message[256];
} eh_s3_error_t;

typedef struct eh_s3 eh_s3_t;

EH_MUST_CHECK int eh_s3_global_init(void);
void eh_s3_global_cleanup(void);

/* Copies cfg's strings. NULL on out of memory or when a string of cfg is NULL. */
EH_MUST_CHECK eh_s3_t *eh_s3_create(const eh_s3_config_t *cfg);
void eh_s3_destroy(eh_s3_t *s3);

/*
 * All calls return EH_OK; EH_DECLINED when the object (or bucket) does not
 * exist; EH_AGAIN when the server cannot be reached, answers 5xx, cuts a
 * transfer or makes no progress for timeout_ms; EH_ERR otherwise (a missing
 * bucket is EH_ERR for put_fd and ensure_bucket). err (may be NULL) is
 * filled on failure. Idempotent calls (get before any byte reached cb, head,
 * delete) are tried once more after a dropped connection.
 */

/* EH_OK when the bucket is there, EH_DECLINED when it is not; creates nothing. */
EH_MUST_CHECK int eh_s3_bucket_exists(eh_s3_t *s3, eh_s3_error_t *err);
/* Creates the bucket if it does not exist yet. */
EH_MUST_CHECK int eh_s3_ensure_bucket(eh_s3_t *s3, eh_s3_error_t *err);
/* Uploads len bytes read from fd at its current offset. */
EH_MUST_CHECK int eh_s3_put_fd(eh_s3_t *s3, const char *key, int fd, uint64_t len, eh_s3_error_t *err);

/*
 * Fills buf with 1..max bytes of a streamed PUT, waiting for them if need
 * be; 0 or less aborts the PUT (the server then has fewer bytes than
 * announced and stores no object; some servers keep an empty one).
 */
typedef ssize_t (*eh_s3_read_fn)(void *ud, char *buf, size_t max);
/* Uploads exactly len bytes taken from read_fn as they come. Not retried. */
EH_MUST_CHECK int eh_s3_put_stream(eh_s3_t *s3, const char *key, uint64_t len, eh_s3_read_fn read_fn, void *ud,
                                   eh_s3_error_t *err);

/*
 * Receives each chunk of a GET; returns EH_OK to go on, anything else aborts
 * the GET, which then returns that code. Keep it quick: libs3 2.0 aborts a
 * transfer that stays under 1 KiB/s for 15 s (EH_AGAIN), whoever is slow.
 */
typedef int (*eh_s3_data_fn)(const char *data, size_t len, void *ud);
/*
 * err->code of a ranged GET (byte_count > 0) whose answer announced more
 * bytes than the range holds: a server that ignored Range and sent the whole
 * object. The GET is stopped before any byte reaches cb, and returns EH_ERR.
 */
#define EH_S3_RANGE_NOT_HONOURED "RangeNotHonoured"

/* Streams byte_count bytes (0: to the end) from start through cb; memory stays flat. */
EH_MUST_CHECK int eh_s3_get(eh_s3_t *s3, const char *key, uint64_t start, uint64_t byte_count, eh_s3_data_fn cb,
                            void *ud, eh_s3_error_t *err);
/* The object's size. */
EH_MUST_CHECK int eh_s3_head(eh_s3_t *s3, const char *key, uint64_t *size, eh_s3_error_t *err);
/* Deleting an object that is not there is EH_OK. */
EH_MUST_CHECK int eh_s3_delete(eh_s3_t *s3, const char *key, eh_s3_error_t *err);

#endif
