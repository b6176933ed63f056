/*
 * apikey.h - the API key format, shared by eh-api (verification) and
 * eh-admin (creation).
 *
 * A key is "eh_" + prefix + "_" + secret:
 *   prefix  EH_APIKEY_PREFIX_LEN lowercase hex digits (6 random bytes): public,
 *           stored in clear, finds the key's row (unique);
 *   secret  EH_APIKEY_SECRET_LEN base64url characters (32 random bytes from
 *           getrandom): never stored.
 * The database keeps SHA-256 of the whole key text. A key holds 256 bits of
 * entropy, so a fast hash is enough: nothing can be guessed, and a slow
 * password hash would only cost every request CPU (see NOTES.md).
 */
#ifndef EH_APIKEY_H
#define EH_APIKEY_H

#include <stdbool.h>

#include "eh.h"

#define EH_APIKEY_PREFIX_LEN 12
#define EH_APIKEY_SECRET_BYTES 32
#define EH_APIKEY_SECRET_LEN 43 /* base64url of 32 bytes, no padding */
#define EH_APIKEY_LEN (3 + EH_APIKEY_PREFIX_LEN + 1 + EH_APIKEY_SECRET_LEN)
#define EH_APIKEY_HASH_LEN 32 /* SHA-256 */

/*
 * Writes a new key (NUL-terminated) into key and its prefix into prefix.
 * EH_OK; EH_ERR when the kernel gives no randomness (nothing is written).
 */
EH_MUST_CHECK int eh_apikey_generate(char key[EH_APIKEY_LEN + 1], char prefix[EH_APIKEY_PREFIX_LEN + 1]);

/*
 * Checks the shape of a presented key (len bytes, not NUL-terminated) and
 * copies its prefix out. EH_OK, or EH_DECLINED for anything that is not
 * exactly a key (wrong length, wrong characters, non-ASCII): such a key is
 * refused without a database round trip.
 */
EH_MUST_CHECK int eh_apikey_parse(const char *key, size_t len, char prefix[EH_APIKEY_PREFIX_LEN + 1]);

/* SHA-256 of len bytes of s into out. EH_OK or EH_ERR (libcrypto failed). */
EH_MUST_CHECK int eh_apikey_hash(const char *s, size_t len, unsigned char out[EH_APIKEY_HASH_LEN]);

/* Compares two hashes in time independent of where they differ. */
bool eh_apikey_hash_equal(const unsigned char a[EH_APIKEY_HASH_LEN], const unsigned char b[EH_APIKEY_HASH_LEN]);

/*
 * Compares a presented secret with the expected one (the admin token) in
 * time independent of their contents and of the expected length: both are
 * hashed first. False also when libcrypto fails.
 */
bool eh_apikey_secret_equal(const char *given, size_t given_len, const char *expected);

#endif
