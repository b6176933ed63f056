#include "peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024 /* a power of two */

typedef struct entry {
    struct entry *next;
    api_peer_key_t key;
    int count;
} entry_t;

struct api_peers {
    entry_t *buckets[NBUCKETS];
    int addresses;
    uint64_t salt; /* per table, so that a client cannot aim its addresses at one bucket */
};

void api_peer_key_from(const struct sockaddr *sa, socklen_t len, api_peer_key_t *key)
{
    memset(key, 0, sizeof(*key));
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        key->family = 4;
        memcpy(key->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key->family = 4;
            memcpy(key->addr, a->s6_addr + 12, 4);
        } else {
            key->family = 6;
            memcpy(key->addr, a->s6_addr, 16);
        }
    }
}

bool api_peer_key_of_fd(int fd, api_peer_key_t *key)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        memset(key, 0, sizeof(*key));
        return false;
    }
    api_peer_key_from((const struct sockaddr *)&ss, len, key);
    return true;
}

void api_peer_key_format(const api_peer_key_t *key, char *out, size_t outlen)
{
    const char *r = NULL;
    if (key->family == 4)
        r = inet_ntop(AF_INET, key->addr, out, (socklen_t)outlen);
    else if (key->family == 6)
        r = inet_ntop(AF_INET6, key->addr, out, (socklen_t)outlen);
    if (r == NULL)
        snprintf(out, outlen, "%s", "unknown");
}

static size_t bucket_of(const api_peers_t *p, const api_peer_key_t *key)
{
    /* FNV-1a over family and address, salted. */
    uint64_t h = 1469598103934665603ULL ^ p->salt;
    h = (h ^ key->family) * 1099511628211ULL;
    for (size_t i = 0; i < sizeof(key->addr); i++)
        h = (h ^ key->addr[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29)) & (NBUCKETS - 1);
}

static bool same(const api_peer_key_t *a, const api_peer_key_t *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

api_peers_t *api_peers_create(void)
{
    api_peers_t *p = calloc(1, sizeof(*p));
    if (p != NULL)
        p->salt = ((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)rand();
    return p;
}

void api_peers_destroy(api_peers_t *p)
{
    if (p == NULL)
        return;
    for (size_t b = 0; b < NBUCKETS; b++) {
        for (entry_t *e = p->buckets[b], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(p);
}

int api_peers_count(const api_peers_t *p, const api_peer_key_t *key)
{
    for (const entry_t *e = p->buckets[bucket_of(p, key)]; e != NULL; e = e->next)
        if (same(&e->key, key))
            return e->count;
    return 0;
}

int api_peers_add(api_peers_t *p, const api_peer_key_t *key)
{
    entry_t **head = &p->buckets[bucket_of(p, key)];
    for (entry_t *e = *head; e != NULL; e = e->next) {
        if (same(&e->key, key)) {
            e->count++;
            return EH_OK;
        }
    }
    entry_t *e = malloc(sizeof(*e));
    if (e == NULL)
        return EH_ERR;
    *e = (entry_t){.next = *head, .key = *key, .count = 1};
    *head = e;
    p->addresses++;
    return EH_OK;
}

void api_peers_remove(api_peers_t *p, const api_peer_key_t *key)
{
    for (entry_t **link = &p->buckets[bucket_of(p, key)]; *link != NULL; link = &(*link)->next) {
        entry_t *e = *link;
        if (!same(&e->key, key))
            continue;
        if (--e->count <= 0) {
            *link = e->next;
            free(e);
            p->addresses--;
        }
        return;
    }
}

int api_peers_addresses(const api_peers_t *p)
{
    return p->addresses;
}
