/*
 * common/listen.h - the daemon's listening sockets: TCP (IPv4, IPv6) and unix
 *
 * Interface: listen_open(), listen_take_fd(), listen_close()
 * Used by:   the socketmap server, the admin endpoint and the publisher: every listener is
 *            bound here, one way, before privileges are dropped.
 * TCP:       SOCK_NONBLOCK | SOCK_CLOEXEC, SO_REUSEADDR, and IPV6_V6ONLY on IPv6 (IPv4
 *            and IPv6 never share a socket, docs/config.md); a failed setsockopt() is an
 *            error, not ignored.
 * Unix:      a socket file left by an earlier run is replaced; any other file at the path
 *            is refused (never removed). The socket is bound under umask 0177, so from
 *            its creation it is reachable by the daemon's user only; then it gets its
 *            owner and group (when configured), and only then its mode. It is never
 *            briefly more accessible than configured. umask(2) is process-wide: call
 *            this at startup, from the main thread, while no other thread creates files.
 * Threads:   main thread only.
 * Ownership: struct listen_sock owns its descriptor and the copy of the socket path.
 * Errors:    -errno with a message in errbuf that names the address and the failed step;
 *            this module never logs (docs/style.md section 7), the caller does.
 */
#ifndef MTASTSD_LISTEN_H
#define MTASTSD_LISTEN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "cfg.h"

/* "unix:" + a sun_path, or "[IPv6]:port": the longest listener name, with its NUL. */
#define LISTEN_NAME_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

/* One bound, listening socket. */
struct listen_sock {
	int fd;        /* listening, non-blocking, close-on-exec; -1 once closed or taken */
	char *path;    /* unix: the socket file, removed by listen_close(); NULL for TCP */
	dev_t dev;     /* unix: the socket file's device and inode, so that listen_close() */
	ino_t ino;     /* never removes a file another process put at the path since */
	uint16_t port; /* TCP: the bound port (the one the kernel chose for port 0); unix: 0 */
	char name[LISTEN_NAME_MAX]; /* "127.0.0.1:8461", "[::1]:8461", "unix:/run/x.sock" */
};
/* A struct listen_sock that holds nothing (listen_close() is a no-op on it). */
#define LISTEN_SOCK_INIT                                                                           \
	{                                                                                          \
		.fd = -1                                                                           \
	}

struct listen_opts {
	const char *default_host; /* TCP: the address when the entry has no host ("0.0.0.0") */
	int backlog;              /* listen(2) backlog */
	mode_t default_mode;      /* unix: the mode when the entry's mode is 0 */
};

/* Bind and listen on cl: a unix socket when cl->path is set (cl->mode, cl->owner,
 * cl->group), else TCP on cl->host (a numeric IPv4 or IPv6 address, with or without
 * brackets) and cl->port (0: the kernel picks a port; see ret_ls->port).
 * Returns 0 and fills *ret_ls (written only on success), or -errno and a one-line
 * message in errbuf (errlen bytes), for example "cannot listen on 127.0.0.1:8461:
 * Address already in use". Notable codes: -EINVAL (the host is not a numeric address),
 * -EAFNOSUPPORT (the kernel has no IPv6), -ENAMETOOLONG (the path does not fit sun_path),
 * -ENOENT (unknown owner or group), -EEXIST (the path exists and is not a socket). */
int listen_open(const struct cfg_listen *cl, const struct listen_opts *o,
                struct listen_sock *ret_ls, char *errbuf, size_t errlen);

/* Hand the descriptor over (to libmicrohttpd, which closes it): returns ls->fd and sets
 * it to -1. The unix socket file stays ls's, removed by listen_close(). */
int listen_take_fd(struct listen_sock *ls);

/* Close the descriptor (unless taken) and remove the unix socket file, if it is still
 * the one listen_open() created. Idempotent; a no-op on LISTEN_SOCK_INIT. */
void listen_close(struct listen_sock *ls);

#endif
