#include "client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api.h"
#include "timefmt.h"

/* ---- request ids ---- */

bool api_request_id_sane(const char *value)
{
    if (value == NULL || value[0] == '\0')
        return false;
    size_t n = 0;
    for (const char *p = value; *p != '\0'; p++, n++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == ':' || ch == '-';
        if (!ok || n >= API_REQUEST_ID_MAX)
            return false;
    }
    return true;
}

/*
 * xorshift128+ per thread, seeded once from getrandom: an id needs to be
 * unique, not secret, and a syscall per request would show in the status
 * path's figures.
 */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t s[2];
    if (s[0] == 0 && s[1] == 0) {
        if (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s) || (s[0] == 0 && s[1] == 0)) {
            s[0] = (uint64_t)eh_time_now_ms() ^ 0x9e3779b97f4a7c15ULL;
            s[1] = (uint64_t)(uintptr_t)&s ^ 0xbf58476d1ce4e5b9ULL;
        }
    }
    uint64_t x = s[0];
    const uint64_t y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return s[1] + y;
}

void api_request_id(const char *value, char out[API_REQUEST_ID_MAX + 1])
{
    if (api_request_id_sane(value)) {
        snprintf(out, API_REQUEST_ID_MAX + 1, "%s", value);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    uint64_t r[2] = {next_random(), next_random()};
    for (int i = 0; i < 32; i++)
        out[i] = hex[(r[i / 16] >> ((i % 16) * 4)) & 0xF];
    out[32] = '\0';
}

/* ---- trusted proxies ---- */

/* An address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and a prefix length on that form. */
typedef struct cidr {
    uint8_t addr[16];
    int bits;
} cidr_t;

struct api_proxies {
    cidr_t *nets;
    size_t n;
};

static const uint8_t V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an address in text; EH_OK with its 16-byte form and whether it was IPv4. */
static int parse_ip(const char *text, uint8_t out[16], bool *v4)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memcpy(out, V4_MAPPED, 12);
        memcpy(out + 12, &a4, 4);
        *v4 = true;
        return EH_OK;
    }
    *v4 = false;
    return inet_pton(AF_INET6, text, out) == 1 ? EH_OK : EH_DECLINED;
}

static int parse_cidr(const char *text, cidr_t *out)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t hl = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (hl == 0 || hl >= sizeof(host))
        return EH_DECLINED;
    memcpy(host, text, hl);
    host[hl] = '\0';
    bool v4;
    if (parse_ip(host, out->addr, &v4) != EH_OK)
        return EH_DECLINED;
    int max = v4 ? 32 : 128, bits = max;
    if (slash != NULL) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max)
            return EH_DECLINED;
        bits = (int)b;
    }
    out->bits = v4 ? bits + 96 : bits;
    return EH_OK;
}

int api_proxies_parse(const char *spec, api_proxies_t **out, char *err, size_t errlen)
{
    *out = NULL;
    api_proxies_t *p = calloc(1, sizeof(*p));
    char *copy = strdup(spec);
    if (p == NULL || copy == NULL) {
        free(p);
        free(copy);
        snprintf(err, errlen, "out of memory");
        return EH_ERR;
    }
    int rc = EH_OK;
    if (strcmp(spec, "none") != 0) {
        char *save = NULL;
        for (char *tok = strtok_r(copy, ", ", &save); tok != NULL && rc == EH_OK; tok = strtok_r(NULL, ", ", &save)) {
            cidr_t *grown = realloc(p->nets, (p->n + 1) * sizeof(*grown));
            if (grown == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = EH_ERR;
                break;
            }
            p->nets = grown;
            if (parse_cidr(tok, &p->nets[p->n]) != EH_OK) {
                snprintf(err, errlen, "EH_TRUSTED_PROXIES: \"%s\" is not an IP address or CIDR", tok);
                rc = EH_DECLINED;
                break;
            }
            p->n++;
        }
        if (rc == EH_OK && p->n == 0) {
            snprintf(err, errlen, "EH_TRUSTED_PROXIES: no address (write none for no proxy)");
            rc = EH_DECLINED;
        }
    }
    free(copy);
    if (rc != EH_OK) {
        api_proxies_destroy(p);
        return rc;
    }
    *out = p;
    return EH_OK;
}

void api_proxies_destroy(api_proxies_t *p)
{
    if (p == NULL)
        return;
    free(p->nets);
    free(p);
}

static bool in_net(const cidr_t *net, const uint8_t a[16])
{
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (net->addr[full] & mask) == (a[full] & mask);
}

static bool trusted16(const api_proxies_t *p, const uint8_t a[16])
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (in_net(&p->nets[i], a))
            return true;
    return false;
}

/* The 16-byte form and text of a socket address; false for other families. */
static bool sockaddr_form(const struct sockaddr *sa, uint8_t a[16], char *text, size_t textlen)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(a, V4_MAPPED, 12);
        memcpy(a + 12, &in->sin_addr, 4);
        return inet_ntop(AF_INET, &in->sin_addr, text, (socklen_t)textlen) != NULL;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(a, &in6->sin6_addr, 16);
        if (memcmp(a, V4_MAPPED, 12) == 0)
            return inet_ntop(AF_INET, a + 12, text, (socklen_t)textlen) != NULL;
        return inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)textlen) != NULL;
    }
    return false;
}

bool api_proxies_trust(const api_proxies_t *p, const struct sockaddr *addr)
{
    uint8_t a[16];
    char text[API_CLIENT_ADDR_MAX + 1];
    return sockaddr_form(addr, a, text, sizeof(text)) && trusted16(p, a);
}

/* Copies entry [b, e) of X-Forwarded-For, trimmed, into out; false when it is empty or too long. */
static bool xff_entry(const char *b, const char *e, char *out, size_t outlen)
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (b == e || (size_t)(e - b) >= outlen)
        return false;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
    return true;
}

void api_client_addr_resolve(const api_proxies_t *p, const struct sockaddr *peer, const char *xff, char *out,
                             size_t outlen)
{
    uint8_t a[16];
    char text[API_CLIENT_ADDR_MAX + 1];
    if (!sockaddr_form(peer, a, text, sizeof(text)))
        snprintf(text, sizeof(text), "unknown");
    else if (xff != NULL && trusted16(p, a)) {
        /* From the right: each trusted hop vouches for the entry on its left. */
        const char *end = xff + strlen(xff);
        while (end > xff) {
            const char *comma = end;
            while (comma > xff && comma[-1] != ',')
                comma--;
            char entry[API_CLIENT_ADDR_MAX + 1];
            bool v4;
            if (!xff_entry(comma, end, entry, sizeof(entry)) || parse_ip(entry, a, &v4) != EH_OK)
                break;
            snprintf(text, sizeof(text), "%s", entry);
            if (!trusted16(p, a))
                break;
            end = comma > xff ? comma - 1 : xff;
        }
    }
    snprintf(out, outlen, "%s", text);
}

/* ---- the request's client (libmicrohttpd) ---- */

void api_client_addr(const api_ctx_t *ctx, struct MHD_Connection *c, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const char *xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    api_client_addr_resolve(ctx->proxies, ci != NULL ? ci->client_addr : NULL, xff, out, outlen);
}
