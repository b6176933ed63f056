/*
 * net.h - the one way a process opens a listening TCP socket.
 */
#ifndef EH_NET_H
#define EH_NET_H

/*
 * Resolves host and service (a port number; "0" picks a free one), binds
 * the first address that takes it and listens with backlog. The socket is
 * non-blocking and close-on-exec, with SO_REUSEADDR. Returns the descriptor
 * and sets *bound_port, or -1 after logging why; what names the setting in
 * the log (e.g. "EH_HTTP_HOST").
 */
int eh_net_listen(const char *what, const char *host, const char *service, int backlog, int *bound_port);

#endif
