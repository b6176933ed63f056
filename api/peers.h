/*
 * peers.h - how many connections each client address holds, for limits per
 * peer (the listener's connections still sending their request head, the
 * WebSocket sessions). Keys are whole addresses (IPv4, or IPv6 with the
 * IPv4-mapped form folded to IPv4), as EH_HTTP_MAX_PER_IP counts them.
 * One owner thread per table; memory grows with the number of addresses
 * that hold a connection and shrinks when their last one goes.
 */
#ifndef EH_API_PEERS_H
#define EH_API_PEERS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "eh.h"

typedef struct api_peer_key {
    unsigned char family; /* 4, 6, or 0: not an IP address (all such sockets share one key) */
    unsigned char addr[16];
} api_peer_key_t;

typedef struct api_peers api_peers_t;

/* The key of a socket address (zeroed key for anything not IPv4/IPv6). */
void api_peer_key_from(const struct sockaddr *sa, socklen_t len, api_peer_key_t *key);
/* The key of a connected socket's peer (getpeername); false when it cannot be known. */
bool api_peer_key_of_fd(int fd, api_peer_key_t *key);
/* The address as text ("127.0.0.2", "::1") for log lines. */
void api_peer_key_format(const api_peer_key_t *key, char *out, size_t outlen);

EH_MUST_CHECK api_peers_t *api_peers_create(void);
/* NULL is accepted. */
void api_peers_destroy(api_peers_t *p);
/* Connections counted for key. */
int api_peers_count(const api_peers_t *p, const api_peer_key_t *key);
/* Counts one more for key. EH_OK, or EH_ERR on out of memory (nothing counted). */
EH_MUST_CHECK int api_peers_add(api_peers_t *p, const api_peer_key_t *key);
/* Counts one less for key (no effect when it holds none). */
void api_peers_remove(api_peers_t *p, const api_peer_key_t *key);
/* Addresses that hold at least one connection. */
int api_peers_addresses(const api_peers_t *p);

#endif
