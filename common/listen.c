/*
 * common/listen.c - bind TCP and unix listening sockets, one way for every listener
 *
 * Interface: listen_open(), listen_take_fd(), listen_close() (listen.h)
 * Threads:   main thread only (umask(2) around the unix socket's bind()).
 * Ownership: see listen.h.
 * Errors:    -errno with a message in the caller's buffer naming the address and the step
 *            that failed; nothing is logged here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listen.h"
#include "xalloc.h"

/* The umask of a unix socket's bind(): the file is created 0600, reachable by the daemon's
 * user only, until its owner, group and mode are set. */
#define LISTEN_UNIX_UMASK 0177

static int listen_fail(int r, char *errbuf, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Write the message into errbuf and return r. */
static int
listen_fail(int r, char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* A system call failed (r = -errno) at step: close fd (when open), say what failed. */
static int
listen_sys_fail(int r, int fd, const struct listen_sock *ls, const char *step, char *errbuf,
                size_t errlen)
{
	if (fd >= 0)
		(void)close(fd);
	return listen_fail(r, errbuf, errlen, "cannot listen on %s: %s%s", ls->name, step,
	                   strerror(-r));
}

static void
listen_tcp_name(struct listen_sock *ls, int family, const char *host, uint16_t port)
{
	(void)snprintf(ls->name, sizeof(ls->name), family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
	               (unsigned)port);
}

static int
listen_tcp(const struct cfg_listen *cl, const struct listen_opts *o, struct listen_sock *ls,
           char *errbuf, size_t errlen)
{
	union {
		struct sockaddr sa;
		struct sockaddr_storage ss;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a;
	char host[INET6_ADDRSTRLEN];
	const char *step = "";
	socklen_t alen;
	int fd, one = 1;

	if (cfg_listen_sockaddr(cl, o->default_host, &a.ss, &alen, host, sizeof(host)) < 0)
		return listen_fail(-EINVAL, errbuf, errlen,
		                   "listen address '%s' is not a numeric IPv4 or IPv6 address",
		                   cl->address != NULL ? cl->address
		                                       : (cl->host != NULL ? cl->host : ""));
	listen_tcp_name(ls, a.sa.sa_family, host, cl->port);
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	step = "SO_REUSEADDR: ";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	step = "IPV6_V6ONLY: ";
	if (a.sa.sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	step = "";
	if (bind(fd, &a.sa, alen) < 0 || listen(fd, o->backlog) < 0)
		goto fail;
	alen = sizeof(a);
	step = "getsockname: ";
	if (getsockname(fd, &a.sa, &alen) < 0)
		goto fail;
	ls->port = ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port : a.in4.sin_port);
	if (cl->port == 0) /* name the port the kernel chose */
		listen_tcp_name(ls, a.sa.sa_family, host, ls->port);
	ls->fd = fd;
	return 0;
fail:
	return listen_sys_fail(-errno, fd, ls, step, errbuf, errlen);
}

static int
listen_unix(const struct cfg_listen *cl, const struct listen_opts *o, struct listen_sock *ls,
            char *errbuf, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	const struct passwd *pw;
	const struct group *gr;
	uid_t uid;
	gid_t gid;
	mode_t mode = cl->mode != 0 ? cl->mode : o->default_mode, old_mask;
	size_t len = strlen(cl->path);
	char step[160] = "";
	int fd = -1, bound = 0, r;

	(void)snprintf(ls->name, sizeof(ls->name), "unix:%s", cl->path);
	if (len >= sizeof(sun.sun_path))
		return listen_fail(-ENAMETOOLONG, errbuf, errlen,
		                   "unix socket path '%s' is too long (%zu bytes, at most %zu)",
		                   cl->path, len, sizeof(sun.sun_path) - 1);
	/* the ids are copied at once: getpwnam() and getgrnam() return static storage */
	pw = cl->owner != NULL ? getpwnam(cl->owner) : NULL;
	uid = pw != NULL ? pw->pw_uid : (uid_t)-1;
	gr = cl->group != NULL ? getgrnam(cl->group) : NULL;
	gid = gr != NULL ? gr->gr_gid : (gid_t)-1;
	if (cl->owner != NULL && pw == NULL)
		return listen_fail(-ENOENT, errbuf, errlen, "%s: unknown owner '%s'", ls->name,
		                   cl->owner);
	if (cl->group != NULL && gr == NULL)
		return listen_fail(-ENOENT, errbuf, errlen, "%s: unknown group '%s'", ls->name,
		                   cl->group);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, cl->path, len + 1);
	/* A socket file from an earlier run is replaced; anything else is left alone. */
	if (lstat(cl->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return listen_fail(
			        -EEXIST, errbuf, errlen,
			        "cannot listen on %s: the path exists and is not a socket; "
			        "refusing to replace it",
			        ls->name);
		(void)snprintf(step, sizeof(step), "removing the old socket: ");
		if (unlink(cl->path) < 0 && errno != ENOENT)
			goto fail;
		step[0] = '\0';
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* Created owner-only: never reachable with a wider mode than configured between
	 * bind() and chmod(). */
	old_mask = umask(LISTEN_UNIX_UMASK);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	(void)umask(old_mask);
	if (r < 0)
		goto fail;
	bound = 1;
	(void)snprintf(step, sizeof(step), "lstat: ");
	if (lstat(cl->path, &st) < 0)
		goto fail;
	ls->dev = st.st_dev;
	ls->ino = st.st_ino;
	/* Ownership first, then the mode: the wider mode applies to the final owner only. */
	if (uid != (uid_t)-1 || gid != (gid_t)-1) {
		(void)snprintf(step, sizeof(step), "chown to owner '%s', group '%s': ",
		               cl->owner != NULL ? cl->owner : "(unchanged)",
		               cl->group != NULL ? cl->group : "(unchanged)");
		if (lchown(cl->path, uid, gid) < 0)
			goto fail;
	}
	(void)snprintf(step, sizeof(step), "chmod %04o: ", (unsigned)mode);
	if (chmod(cl->path, mode) < 0)
		goto fail;
	step[0] = '\0';
	if (listen(fd, o->backlog) < 0)
		goto fail;
	ls->path = xstrdup(cl->path);
	ls->port = 0;
	ls->fd = fd;
	return 0;
fail:
	r = -errno;
	if (bound)
		(void)unlink(cl->path);
	return listen_sys_fail(r, fd, ls, step, errbuf, errlen);
}

int
listen_open(const struct cfg_listen *cl, const struct listen_opts *o, struct listen_sock *ret_ls,
            char *errbuf, size_t errlen)
{
	struct listen_sock ls = LISTEN_SOCK_INIT;
	int r;

	if (cl->path != NULL)
		r = listen_unix(cl, o, &ls, errbuf, errlen);
	else
		r = listen_tcp(cl, o, &ls, errbuf, errlen);
	if (r < 0)
		return r;
	*ret_ls = ls;
	return 0;
}

int
listen_take_fd(struct listen_sock *ls)
{
	int fd = ls->fd;

	ls->fd = -1;
	return fd;
}

void
listen_close(struct listen_sock *ls)
{
	struct stat st;

	if (ls->fd >= 0) {
		(void)close(ls->fd);
		ls->fd = -1;
	}
	if (ls->path != NULL) {
		/* Only our own socket file: a later instance may have replaced it already. */
		if (lstat(ls->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == ls->dev &&
		    st.st_ino == ls->ino)
			(void)unlink(ls->path);
		free(ls->path);
		ls->path = NULL;
	}
}
