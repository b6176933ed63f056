/*
 * client.h - who a request comes from and which id it carries.
 *
 * The request id: the client's X-Request-Id when it is sane (so a proxy's id
 * or a caller's trace id follows the request through the logs and the job's
 * queue message into the worker's lines), a new random one otherwise.
 *
 * The client address: the TCP peer, unless the peer is one of the trusted
 * proxies (EH_TRUSTED_PROXIES), in which case X-Forwarded-For is read from
 * the right: the first entry that is not itself a trusted proxy is the
 * client (entries further left were written by the client and prove
 * nothing). Every per-client decision (limits, logs) goes through
 * api_client_addr, so forwarded headers are believed in one place only.
 */
#ifndef EH_API_CLIENT_H
#define EH_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "eh.h"

#define API_REQUEST_ID_MAX 64  /* EH_REQUEST_ID_MAX of job_queue.h */
#define API_CLIENT_ADDR_MAX 46 /* INET6_ADDRSTRLEN */

/*
 * value (may be NULL) is kept when it is 1..API_REQUEST_ID_MAX characters of
 * [A-Za-z0-9._:-]; otherwise out gets 32 random hex digits.
 */
void api_request_id(const char *value, char out[API_REQUEST_ID_MAX + 1]);
/* True when value is a request id api_request_id keeps. */
bool api_request_id_sane(const char *value);

typedef struct api_proxies api_proxies_t;

/*
 * Parses "none" or a comma-separated list of IPv4/IPv6 addresses and CIDRs
 * ("10.0.0.0/8, ::1"). EH_OK with *out (new), or EH_DECLINED with a message
 * naming the bad entry in err.
 */
EH_MUST_CHECK int api_proxies_parse(const char *spec, api_proxies_t **out, char *err, size_t errlen);
void api_proxies_destroy(api_proxies_t *p);
/* True when addr (AF_INET or AF_INET6, v4-mapped included) is a trusted proxy. NULL p trusts nobody. */
bool api_proxies_trust(const api_proxies_t *p, const struct sockaddr *addr);

/*
 * The client's address as text into out (>= API_CLIENT_ADDR_MAX + 1 bytes):
 * peer, or from xff (the X-Forwarded-For value, may be NULL) as described
 * above when peer is trusted. A malformed entry stops the walk: the last
 * trusted hop's view (the entry's right neighbour, or the peer) is used.
 */
void api_client_addr_resolve(const api_proxies_t *p, const struct sockaddr *peer, const char *xff, char *out,
                             size_t outlen);

#endif
