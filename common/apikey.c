#include "apikey.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define KEY_HEAD "eh_"
#define PREFIX_BYTES (EH_APIKEY_PREFIX_LEN / 2)

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char HEX[] = "0123456789abcdef";

/* Fills buf with n bytes from the kernel's CSPRNG (blocks only before it is seeded, at boot). */
static int random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return EH_ERR;
        }
        got += (size_t)r;
    }
    return EH_OK;
}

/* base64url without padding: 32 bytes give 43 characters (the last carries 2 bits of padding zeros). */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64URL[(v >> 18) & 63];
        out[o++] = B64URL[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = B64URL[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = B64URL[v & 63];
    }
    out[o] = '\0';
}

int eh_apikey_generate(char key[EH_APIKEY_LEN + 1], char prefix[EH_APIKEY_PREFIX_LEN + 1])
{
    unsigned char raw[PREFIX_BYTES + EH_APIKEY_SECRET_BYTES];
    if (random_bytes(raw, sizeof(raw)) != EH_OK)
        return EH_ERR;
    for (size_t i = 0; i < PREFIX_BYTES; i++) {
        prefix[2 * i] = HEX[raw[i] >> 4];
        prefix[2 * i + 1] = HEX[raw[i] & 15];
    }
    prefix[EH_APIKEY_PREFIX_LEN] = '\0';
    char secret[EH_APIKEY_SECRET_LEN + 1];
    b64url(raw + PREFIX_BYTES, EH_APIKEY_SECRET_BYTES, secret);
    memcpy(key, KEY_HEAD, 3);
    memcpy(key + 3, prefix, EH_APIKEY_PREFIX_LEN);
    key[3 + EH_APIKEY_PREFIX_LEN] = '_';
    memcpy(key + 4 + EH_APIKEY_PREFIX_LEN, secret, EH_APIKEY_SECRET_LEN + 1);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(secret, sizeof(secret));
    return EH_OK;
}

int eh_apikey_parse(const char *key, size_t len, char prefix[EH_APIKEY_PREFIX_LEN + 1])
{
    if (len != EH_APIKEY_LEN || memcmp(key, KEY_HEAD, 3) != 0 || key[3 + EH_APIKEY_PREFIX_LEN] != '_')
        return EH_DECLINED;
    for (size_t i = 0; i < EH_APIKEY_PREFIX_LEN; i++) {
        char c = key[3 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return EH_DECLINED;
    }
    for (size_t i = 4 + EH_APIKEY_PREFIX_LEN; i < len; i++) {
        char c = key[i];
        if (c == '\0' || strchr(B64URL, c) == NULL)
            return EH_DECLINED;
    }
    memcpy(prefix, key + 3, EH_APIKEY_PREFIX_LEN);
    prefix[EH_APIKEY_PREFIX_LEN] = '\0';
    return EH_OK;
}

/*
 * SHA-256 fetched once: with EVP_sha256() OpenSSL 3 looks the algorithm up
 * in its provider store on every digest, under a lock every request thread
 * then waits for (bench/status measured it). Kept for the process's life.
 */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int eh_apikey_hash(const char *s, size_t len, unsigned char out[EH_APIKEY_HASH_LEN])
{
    unsigned int n = 0;
    if (pthread_once(&sha256_once, fetch_sha256) != 0 || sha256 == NULL)
        return EH_ERR;
    if (EVP_Digest(s, len, out, &n, sha256, NULL) != 1 || n != EH_APIKEY_HASH_LEN)
        return EH_ERR;
    return EH_OK;
}

bool eh_apikey_hash_equal(const unsigned char a[EH_APIKEY_HASH_LEN], const unsigned char b[EH_APIKEY_HASH_LEN])
{
    return CRYPTO_memcmp(a, b, EH_APIKEY_HASH_LEN) == 0;
}

bool eh_apikey_secret_equal(const char *given, size_t given_len, const char *expected)
{
    unsigned char a[EH_APIKEY_HASH_LEN], b[EH_APIKEY_HASH_LEN];
    if (eh_apikey_hash(given, given_len, a) != EH_OK || eh_apikey_hash(expected, strlen(expected), b) != EH_OK)
        return false;
    return eh_apikey_hash_equal(a, b);
}
