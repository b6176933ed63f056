/*
 * cursor.h - opaque, tamper-evident page cursors (REST next_cursor, GraphQL
 * endCursor).
 *
 * A cursor is base64url (no padding) of: kind (1 byte), a number (8 bytes,
 * big-endian), a UUID (16 bytes), then the first 16 bytes of
 * HMAC-SHA256(secret, those 25 bytes + the caller's tenant id). The tenant
 * is not in the cursor, only in its MAC: another tenant's cursor, an edited
 * one, a truncated one or one made with another secret all fail to decode
 * (400), and nothing in it reaches SQL unchecked.
 *
 * The secret is per deployment (EH_CURSOR_SECRET); when unset, eh-api draws
 * a random one at start: cursors then die with the process and do not cross
 * replicas (see NOTES.md).
 */
#ifndef EH_API_CURSOR_H
#define EH_API_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

/* What a cursor continues; a cursor of one kind is refused where another is expected. */
typedef enum {
    API_CURSOR_JOBS = 'J',    /* n: created_at (µs), id: the last job */
    API_CURSOR_ENTRIES = 'E', /* n: the last line looked at, id: the job */
    API_CURSOR_ERRORS = 'R',  /* n: the last error's line_no, id: the job */
} api_cursor_kind_t;

typedef struct api_cursor {
    api_cursor_kind_t kind;
    int64_t n;
    char id[EH_UUID_STRLEN + 1]; /* lowercase */
} api_cursor_t;

#define API_CURSOR_SECRET_MIN 16 /* bytes */
#define API_CURSOR_STRLEN 55     /* base64url of 41 bytes */

/*
 * Sets the process's secret (copied): secret[0..len), len >= API_CURSOR_SECRET_MIN;
 * or, with len == 0, 32 random bytes. EH_OK, EH_DECLINED (too short), EH_ERR (no randomness).
 */
EH_MUST_CHECK int api_cursor_set_secret(const void *secret, size_t len);

/*
 * Sets the secret from EH_CURSOR_SECRET: "random", "derive" (SHA-256 of a
 * label and database_url, which every replica of a deployment shares and
 * only its operators know), or the key itself. EH_OK; EH_DECLINED (a key
 * shorter than API_CURSOR_SECRET_MIN; logged); EH_ERR.
 */
EH_MUST_CHECK int api_cursor_configure(const char *setting, const char *database_url);

/* Writes the cursor of c for tenant_id (a UUID) into out. EH_OK; EH_ERR when c->id or tenant_id is not a UUID. */
EH_MUST_CHECK int api_cursor_encode(const api_cursor_t *c, const char *tenant_id, char out[API_CURSOR_STRLEN + 1]);

/*
 * Decodes text (len bytes) as a cursor of kind made for tenant_id. EH_OK with
 * out set; EH_DECLINED for anything else (bad encoding or length, wrong
 * kind, wrong MAC, negative number).
 */
EH_MUST_CHECK int api_cursor_decode(const char *text, size_t len, api_cursor_kind_t kind, const char *tenant_id,
                                    api_cursor_t *out);

#endif
