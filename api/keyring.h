/*
 * keyring.h - API keys as eh-api verifies them: a cache of the keys it has
 * read, kept honest by a revocation counter, and a token bucket per key.
 *
 * Verifying a key costs no database round trip once its row is cached: the
 * prefix finds the entry, SHA-256 of the presented key is compared with the
 * stored hash in constant time. The cache is trusted only while a poller
 * thread (its own connection) has read auth_state.revocations within the
 * last second and the entry was read under that same counter value: a
 * revocation bumps the counter in its own transaction (a trigger), so every
 * API process stops accepting the key at the next poll (250 ms). When the
 * poll cannot run (database down), every key is read from the database
 * again, which fails closed (503).
 *
 * Thread-safe: the request threads and the WebSocket service thread share one.
 */
#ifndef EH_API_KEYRING_H
#define EH_API_KEYRING_H

#include <stdbool.h>

#include "apikey.h"
#include "db.h"
#include "eh.h"

typedef struct api_keyring api_keyring_t;

/* Who a verified key belongs to. */
typedef struct api_key_info {
    char prefix[EH_APIKEY_PREFIX_LEN + 1];
    char key_id[EH_UUID_STRLEN + 1];
    char tenant_id[EH_UUID_STRLEN + 1];
    bool write; /* scope write (else read) */
} api_key_info_t;

/* A token bucket: burst tokens, refilled at rps per second. */
typedef struct api_bucket {
    double tokens;
    int64_t last_ms; /* monotonic ms of the last refill; 0: never used (full) */
} api_bucket_t;

/*
 * Takes one token at now_ms. True when there was one; false with
 * *retry_after_s (whole seconds, at least 1) until the next token.
 * rps 0 means no limit.
 */
bool api_bucket_take(api_bucket_t *b, int64_t now_ms, int64_t rps, int64_t burst, int64_t *retry_after_s);

/*
 * db_url: the poller's own connection; pool: the request-path reads on a
 * cache miss (borrowed, outlives the keyring). NULL on out of memory.
 */
EH_MUST_CHECK api_keyring_t *api_keyring_create(const char *db_url, eh_db_pool_t *pool, int64_t rps, int64_t burst);
/* Starts the revocation poller. EH_OK or EH_ERR (logged). */
EH_MUST_CHECK int api_keyring_start(api_keyring_t *kr);
/* Stops the poller and frees everything. NULL is accepted. */
void api_keyring_destroy(api_keyring_t *kr);

/*
 * Verifies a presented key (len bytes, not NUL-terminated). EH_OK with out
 * filled; EH_DECLINED when it is malformed, unknown, wrong or revoked;
 * EH_AGAIN when the database is needed and unreachable.
 */
EH_MUST_CHECK int api_keyring_verify(api_keyring_t *kr, const char *key, size_t len, api_key_info_t *out);

/* Takes a token of the key's bucket (see api_bucket_take). */
bool api_keyring_take(api_keyring_t *kr, const api_key_info_t *key, int64_t *retry_after_s);

#endif
