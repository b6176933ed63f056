#include "cursor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "log.h"
#include "utf8.h"
#include "uuid.h"

#define BODY_LEN 25 /* kind + n + uuid */
#define MAC_LEN 16
#define RAW_LEN (BODY_LEN + MAC_LEN)
#define SECRET_MAX 64
#define RANDOM_SECRET_LEN 32

/* Set once at start, before any request thread runs; read-only afterwards. */
static unsigned char secret_key[SECRET_MAX];
static size_t secret_len;

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int api_cursor_set_secret(const void *secret, size_t len)
{
    if (len == 0) {
        if (RAND_bytes(secret_key, RANDOM_SECRET_LEN) != 1)
            return EH_ERR;
        secret_len = RANDOM_SECRET_LEN;
        return EH_OK;
    }
    if (len < API_CURSOR_SECRET_MIN)
        return EH_DECLINED;
    /* A longer secret is hashed down, as HMAC itself does with keys longer than its block. */
    if (len > SECRET_MAX) {
        unsigned int n = 0;
        if (EVP_Digest(secret, len, secret_key, &n, EVP_sha256(), NULL) != 1)
            return EH_ERR;
        secret_len = n;
        return EH_OK;
    }
    memcpy(secret_key, secret, len);
    secret_len = len;
    return EH_OK;
}

#define DERIVE_LABEL "event-horizon page cursor key v1"

int api_cursor_configure(const char *setting, const char *database_url)
{
    if (strcmp(setting, "random") == 0) {
        eh_log_warn("EH_CURSOR_SECRET=random: page cursors are valid only on this process until it stops");
        return api_cursor_set_secret(NULL, 0);
    }
    if (strcmp(setting, "derive") == 0) {
        unsigned char key[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(md, DERIVE_LABEL, sizeof(DERIVE_LABEL)) == 1 &&
                 EVP_DigestUpdate(md, database_url, strlen(database_url)) == 1 && EVP_DigestFinal_ex(md, key, &n) == 1;
        EVP_MD_CTX_free(md);
        return ok ? api_cursor_set_secret(key, n) : EH_ERR;
    }
    int rc = api_cursor_set_secret(setting, strlen(setting));
    if (rc == EH_DECLINED)
        eh_log_error("EH_CURSOR_SECRET must be at least 16 bytes (or 'derive' or 'random')");
    return rc;
}

/* A canonical UUID string to its 16 bytes. */
static int uuid_bytes(const char *s, unsigned char out[16])
{
    if (s == NULL || !eh_uuid_valid(s, strlen(s)))
        return EH_ERR;
    int k = 0;
    for (size_t i = 0; i < EH_UUID_STRLEN; i++) {
        if (s[i] == '-')
            continue;
        int hi = eh_hex_digit(s[i]), lo = eh_hex_digit(s[i + 1]);
        out[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    return EH_OK;
}

static void uuid_string(const unsigned char b[16], char out[EH_UUID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static int mac_of(const unsigned char body[BODY_LEN], const unsigned char tenant[16], unsigned char mac[MAC_LEN])
{
    unsigned char msg[BODY_LEN + 16], full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    memcpy(msg, body, BODY_LEN);
    memcpy(msg + BODY_LEN, tenant, 16);
    if (secret_len == 0 || HMAC(EVP_sha256(), secret_key, (int)secret_len, msg, sizeof(msg), full, &n) == NULL ||
        n < MAC_LEN)
        return EH_ERR;
    memcpy(mac, full, MAC_LEN);
    return EH_OK;
}

/* RAW_LEN (41) bytes give 13 groups of 3 and 2 left over: 55 characters. */
static void b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    } else if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    }
    out[o] = '\0';
}

static int b64val(char c)
{
    const char *p = c != '\0' ? strchr(B64URL, c) : NULL;
    return p != NULL ? (int)(p - B64URL) : -1;
}

/* Decodes exactly API_CURSOR_STRLEN characters into RAW_LEN bytes; the unused low bits must be zero (canonical). */
static int b64url_decode(const char *in, unsigned char out[RAW_LEN])
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < API_CURSOR_STRLEN; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return EH_DECLINED;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == RAW_LEN && acc == 0 ? EH_OK : EH_DECLINED;
}

int api_cursor_encode(const api_cursor_t *c, const char *tenant_id, char out[API_CURSOR_STRLEN + 1])
{
    unsigned char raw[RAW_LEN], tenant[16];
    if (uuid_bytes(tenant_id, tenant) != EH_OK || uuid_bytes(c->id, raw + 9) != EH_OK)
        return EH_ERR;
    raw[0] = (unsigned char)c->kind;
    uint64_t n = (uint64_t)c->n;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (unsigned char)(n >> (56 - 8 * i));
    if (mac_of(raw, tenant, raw + BODY_LEN) != EH_OK)
        return EH_ERR;
    b64url_encode(raw, RAW_LEN, out);
    return EH_OK;
}

int api_cursor_decode(const char *text, size_t len, api_cursor_kind_t kind, const char *tenant_id, api_cursor_t *out)
{
    unsigned char raw[RAW_LEN], tenant[16], mac[MAC_LEN];
    if (text == NULL || len != API_CURSOR_STRLEN || memchr(text, '\0', len) != NULL)
        return EH_DECLINED;
    if (b64url_decode(text, raw) != EH_OK || uuid_bytes(tenant_id, tenant) != EH_OK)
        return EH_DECLINED;
    if (mac_of(raw, tenant, mac) != EH_OK || CRYPTO_memcmp(mac, raw + BODY_LEN, MAC_LEN) != 0)
        return EH_DECLINED;
    if (raw[0] != (unsigned char)kind)
        return EH_DECLINED;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = n << 8 | raw[1 + i];
    if ((int64_t)n < 0)
        return EH_DECLINED;
    out->kind = kind;
    out->n = (int64_t)n;
    uuid_string(raw + 9, out->id);
    return EH_OK;
}
