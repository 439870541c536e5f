/*
 * common/listen.h - the daemon's listening sockets: TCP (IPv4, IPv6) and unix
 *
 * Interface: listen_open(), listen_take_fd(), listen_close(); socket activation:
 *            listen_passed_scan(), listen_passed_finish(), listen_passed_add(),
 *            listen_passed_match(), listen_passed_overlap(), listen_addr_name()
 * Used by:   the socketmap server, the admin endpoint and the publisher: every listener is
 *            bound here, one way, before privileges are dropped.
 * Activation: a socket the service manager passed (sd_listen_fds(3): a systemd .socket
 *            unit, or systemd-socket-activate) is used instead of binding when it listens
 *            on the configured address and its FileDescriptorName= is the listener's role
 *            (LISTEN_FDNAME_*) or no role's name (systemd's default, the unit name). It
 *            is made non-blocking and close-on-exec and is never chowned, chmodded or
 *            unlinked: the socket unit owns it (SocketUser=, SocketGroup=, SocketMode=), and
 *            it stays open in the service manager across a restart, so clients queue in its
 *            backlog. A configured listener with no passed socket is bound as usual; a
 *            passed socket that no listener takes is a startup error
 *            (listen_passed_finish(), docs/operations.md "Socket activation"). The passed
 *            sockets are the process's (LISTEN_FDS), so their table is process-wide, like
 *            the environment it comes from: filled once at start, emptied by
 *            listen_passed_finish().
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
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "cfg.h"

/* "unix:" + a sun_path, or "[IPv6]:port": the longest listener name, with its NUL. */
#define LISTEN_NAME_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

/* FileDescriptorName= (systemd.socket(5)) of each listener role: a socket passed under
 * one of these names serves only that role (docs/operations.md "Socket activation"). */
#define LISTEN_FDNAME_SOCKETMAP "socketmap"       /* resolver.listen */
#define LISTEN_FDNAME_ADMIN     "admin"           /* admin.listen */
#define LISTEN_FDNAME_PUB_HTTPS "publisher-https" /* publisher.listen */
#define LISTEN_FDNAME_PUB_HTTP  "publisher-http"  /* publisher.http_listen */

/* One bound, listening socket. */
struct listen_sock {
	int fd;        /* listening, non-blocking, close-on-exec; -1 once closed or taken */
	char *path;    /* unix: the socket file, removed by listen_close(); NULL for TCP and
	                * for a passed socket (the service manager's file) */
	int passed;    /* 1: passed by the service manager (socket activation), not bound here */
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
	const char *fdname;       /* the role's LISTEN_FDNAME_*: takes a passed socket; NULL:
	                           * always binds */
};

/* Bind and listen on cl: a unix socket when cl->path is set (cl->mode, cl->owner,
 * cl->group), else TCP on cl->host (a numeric IPv4 or IPv6 address, with or without
 * brackets) and cl->port (0: the kernel picks a port; see ret_ls->port). With o->fdname set
 * and a passed socket on that address (listen_passed_scan()), take that socket instead:
 * ret_ls->passed is 1, and cl's owner, group and mode are not applied (the socket unit's
 * are). An owner or group the socket file already has is not set again (no chown(2), which
 * the shipped unit's system call filter refuses).
 * Returns 0 and fills *ret_ls (written only on success), or -errno and a one-line
 * message in errbuf (errlen bytes), for example "cannot listen on 127.0.0.1:8461:
 * Address already in use". Notable codes: -EINVAL (the host is not a numeric address),
 * -EAFNOSUPPORT (the kernel has no IPv6), -ENAMETOOLONG (the path does not fit sun_path),
 * -ENOENT (unknown owner or group), -EEXIST (the path exists and is not a socket), -EPERM
 * (chown refused: the message names socket activation), -EADDRINUSE (bound elsewhere),
 * ERR_LISTEN_PASSED (err.h; the passed socket on this address is named for another role,
 * or a passed socket no listener took holds this port on another address, as systemd's
 * ListenStream=8461, [::]:8461, holds 127.0.0.1:8461: the message names both addresses,
 * the socket's name and the config key). */
int listen_open(const struct cfg_listen *cl, const struct listen_opts *o,
                struct listen_sock *ret_ls, char *errbuf, size_t errlen);

/* Hand the descriptor over (to libmicrohttpd, which closes it): returns ls->fd and sets
 * it to -1. The unix socket file stays ls's, removed by listen_close(). */
int listen_take_fd(struct listen_sock *ls);

/* Close the descriptor (unless taken) and remove the unix socket file, if it is still
 * the one listen_open() created. Idempotent; a no-op on LISTEN_SOCK_INIT. */
void listen_close(struct listen_sock *ls);

/* ---- socket activation (sd_listen_fds(3)) ---- */

/* One socket passed by the service manager. */
struct listen_passed {
	int fd;                     /* listening; -1 once a listener took it */
	const char *name;           /* FileDescriptorName= ("socketmap"; systemd's default is
	                             * the socket unit's name, systemd-socket-activate's "unknown") */
	char addr[LISTEN_NAME_MAX]; /* where it listens, as listen_addr_name() writes it */
	uint16_t port;              /* TCP: its port; unix: 0 */
};

/* Name a socket address as struct listen_sock names listeners: "127.0.0.1:8461",
 * "[::1]:8461" (inet_ntop(3)'s canonical text, so "::0001" and "::1" are one name),
 * "unix:/run/x.sock" ("unix:@name" for an abstract socket). Returns 0, or -EAFNOSUPPORT
 * for another family, with out ("" then) of outlen bytes. */
int listen_addr_name(const struct sockaddr *sa, socklen_t salen, char *out, size_t outlen);

/* Which of the n passed sockets p[] serves the configured listener at addr (a
 * listen_addr_name() text) of role fdname (LISTEN_FDNAME_*): one still untaken (fd >= 0)
 * that listens on addr, named fdname or no role's name. No I/O. Returns its index, -ENOENT
 * when no untaken socket listens on addr (bind it), or -EADDRINUSE when the one there is
 * named for another role. */
int listen_passed_match(const struct listen_passed *p, size_t n, const char *fdname,
                        const char *addr);

/* Which of the n passed sockets p[], still untaken (fd >= 0), holds the port of the
 * configured TCP listener at addr (a listen_addr_name() text) so that binding addr fails:
 * one on the same port whose address is addr, or a wildcard that covers it (a passed
 * [::] is dual-stack unless BindIPv6Only=ipv6-only, so it covers IPv4 too; a passed
 * 0.0.0.0 covers IPv4), or covered by addr's wildcard (the listener's [::] is IPv6-only,
 * its 0.0.0.0 covers IPv4). No I/O. Returns its index, or -ENOENT (also for a unix
 * addr). */
int listen_passed_overlap(const struct listen_passed *p, size_t n, const char *addr);

/* At start, before any listen_open(): take the sockets the service manager passed
 * (sd_listen_fds_with_names(3); LISTEN_* is removed from the environment) into the
 * process's table. Returns how many (0: not socket-activated), or -errno with a message
 * in errbuf: -EINVAL (one is not a listening stream socket: mtastsd needs ListenStream=
 * with Accept=no), -E2BIG (more than LISTEN_PASSED_MAX), or sd_listen_fds' error. */
int listen_passed_scan(char *errbuf, size_t errlen);

/* Put fd, named name (copied), into the table, as listen_passed_scan() does with each
 * passed socket: check that it is a listening stream socket (AF_INET, AF_INET6 or AF_UNIX),
 * make it non-blocking and close-on-exec. The table owns fd from then on, also on error.
 * For tests. Returns 0 or -errno as listen_passed_scan(). */
int listen_passed_add(int fd, const char *name, char *errbuf, size_t errlen);

/* Once every listener is open: close the passed sockets that none took and empty the
 * table. Returns how many were taken, or -EADDRNOTAVAIL when some were not, with errbuf
 * naming the first (its name, address and the config key it would belong to). Idempotent;
 * errbuf may be NULL (cleanup after a failed start). */
int listen_passed_finish(char *errbuf, size_t errlen);

#endif
