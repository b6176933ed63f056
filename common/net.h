/*
 * net.h - the one way a process opens a listening TCP socket, writes a whole
 * answer on a non-blocking socket, and closes after an answer without
 * resetting it.
 */
#ifndef EH_NET_H
#define EH_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Resolves host and service (a port number; "0" picks a free one), binds
 * the first address that takes it and listens with backlog. The socket is
 * non-blocking and close-on-exec, with SO_REUSEADDR. Returns the descriptor
 * and sets *bound_port, or -1 after logging why; what names the setting in
 * the log (e.g. "EH_HTTP_HOST").
 */
int eh_net_listen(const char *what, const char *host, const char *service, int backlog, int *bound_port);

/* Sends all n bytes on a non-blocking socket, waiting for room until the monotonic deadline_ms; false if not. */
bool eh_net_send_all(int fd, const char *p, size_t n, int64_t deadline_ms);

/*
 * The lingering close (nginx's lingering_time / lingering_timeout): closing
 * a socket that still has unread input sends a RST, which can destroy an
 * answer before the client has read it. So the sending side is shut and
 * what the client still sends is read and dropped until it closes, is
 * silent for idle_ms, total_ms have passed or max_bytes were dropped. The
 * caller closes the socket afterwards. Returns the bytes dropped.
 */
uint64_t eh_net_linger(int fd, int64_t total_ms, int64_t idle_ms, uint64_t max_bytes);

#endif
