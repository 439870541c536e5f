/*
 * common/listen.c - bind TCP and unix listening sockets, one way for every listener
 *
 * Interface: listen_open(), listen_take_fd(), listen_close(); listen_passed_scan(),
 *            listen_passed_add(), listen_passed_match(), listen_passed_overlap(),
 *            listen_passed_finish(), listen_addr_name() (listen.h)
 * Threads:   main thread only (umask(2) around the unix socket's bind(); the table of
 *            passed sockets).
 * Ownership: see listen.h. The table of passed sockets (listen_passed_*) owns each
 *            descriptor until a listener takes it or listen_passed_finish() closes it.
 * Errors:    -errno (or ERR_LISTEN_PASSED) with a message in the caller's buffer naming
 *            the address and the step that failed; nothing is logged here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "err.h"
#include "listen.h"
#include "mtasts_limits.h"
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
	/* An owner or group the file has already (ours, or a setgid directory's group) needs
	 * no chown(2), which a system call filter without @chown refuses even then. */
	if (uid == st.st_uid)
		uid = (uid_t)-1;
	if (gid == st.st_gid)
		gid = (gid_t)-1;
	/* Ownership first, then the mode: the wider mode applies to the final owner only. */
	if (uid != (uid_t)-1 || gid != (gid_t)-1) {
		(void)snprintf(step, sizeof(step), "chown to owner '%s', group '%s': ",
		               cl->owner != NULL ? cl->owner : "(unchanged)",
		               cl->group != NULL ? cl->group : "(unchanged)");
		if (lchown(cl->path, uid, gid) < 0) {
			r = -errno;
			(void)unlink(cl->path);
			(void)close(fd);
			if (r != -EPERM)
				return listen_sys_fail(r, -1, ls, step, errbuf, errlen);
			return listen_fail(
			        r, errbuf, errlen,
			        "cannot listen on %s: %s%s (the daemon may not give a "
			        "file away: under the shipped unit, let systemd create "
			        "the socket with its owner and group, etc/mtastsd.socket, "
			        "or put it in a setgid directory of that group; "
			        "docs/socketmap.md)",
			        ls->name, step, strerror(-r));
		}
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

/* ---- socket activation ---- */

/* The sockets the service manager passed (listen_passed_scan()): the process's, as the
 * LISTEN_FDS they come from. names[i] is the owned copy of passed[i].name. */
static struct listen_passed *listen_passed_v;
static char **listen_passed_names;
static size_t listen_passed_n;

/* The roles and the key each one's listeners are configured with (for the messages). */
static const struct {
	const char *fdname, *key;
} listen_roles[] = {
        {LISTEN_FDNAME_SOCKETMAP, "resolver.listen"},
        {LISTEN_FDNAME_ADMIN, "admin.listen"},
        {LISTEN_FDNAME_PUB_HTTPS, "publisher.listen"},
        {LISTEN_FDNAME_PUB_HTTP, "publisher.http_listen"},
};
#define LISTEN_N_ROLES (sizeof(listen_roles) / sizeof(listen_roles[0]))

/* The config key of role name, or NULL when name is no role's. */
static const char *
listen_role_key(const char *name)
{
	size_t i;

	for (i = 0; i < LISTEN_N_ROLES; i++)
		if (strcmp(name, listen_roles[i].fdname) == 0)
			return listen_roles[i].key;
	return NULL;
}

int
listen_addr_name(const struct sockaddr *sa, socklen_t salen, char *out, size_t outlen)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	char host[INET6_ADDRSTRLEN];
	size_t plen;

	if (outlen > 0)
		out[0] = '\0';
	if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(*in4)) {
		if (inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host)) == NULL)
			return -EAFNOSUPPORT;
		(void)snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(in4->sin_port));
		return 0;
	}
	if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(*in6)) {
		if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) == NULL)
			return -EAFNOSUPPORT;
		(void)snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
		return 0;
	}
	if (sa->sa_family == AF_UNIX && salen > (socklen_t)offsetof(struct sockaddr_un, sun_path)) {
		/* never trust the path to be NUL-terminated: at most the bytes getsockname gave */
		plen = (size_t)salen - offsetof(struct sockaddr_un, sun_path);
		if (plen > sizeof(sun->sun_path))
			plen = sizeof(sun->sun_path);
		if (sun->sun_path[0] == '\0') /* abstract: "@name" */
			(void)snprintf(out, outlen, "unix:@%.*s", (int)(plen - 1),
			               sun->sun_path + 1);
		else
			(void)snprintf(out, outlen, "unix:%.*s", (int)strnlen(sun->sun_path, plen),
			               sun->sun_path);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int
listen_passed_match(const struct listen_passed *p, size_t n, const char *fdname, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i].fd < 0 || strcmp(p[i].addr, addr) != 0)
			continue;
		if (strcmp(p[i].name, fdname) == 0 || listen_role_key(p[i].name) == NULL)
			return (int)i;
		return -EADDRINUSE; /* one address, one socket: no other can match */
	}
	return -ENOENT;
}

int
listen_passed_add(int fd, const char *name, char *errbuf, size_t errlen)
{
	union {
		struct sockaddr sa;
		struct sockaddr_storage ss;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a;
	socklen_t alen = sizeof(a);
	struct listen_passed *p;
	int r, flags;

	if (listen_passed_n >= LISTEN_PASSED_MAX) {
		(void)close(fd);
		return listen_fail(-E2BIG, errbuf, errlen,
		                   "more than %d sockets passed by the service manager",
		                   LISTEN_PASSED_MAX);
	}
	r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1);
	if (r <= 0) {
		(void)close(fd);
		return listen_fail(r < 0 ? r : -EINVAL, errbuf, errlen,
		                   "the socket '%s' passed by the service manager (fd %d) is not "
		                   "a listening stream socket%s%s: mtastsd takes ListenStream= "
		                   "sockets with Accept=no",
		                   name, fd, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
	}
	memset(&a, 0, sizeof(a));
	if (getsockname(fd, &a.sa, &alen) < 0) {
		r = -errno;
		(void)close(fd);
		return listen_fail(r, errbuf, errlen,
		                   "the socket '%s' passed by the service manager (fd %d): "
		                   "getsockname: %s",
		                   name, fd, strerror(-r));
	}
	listen_passed_v =
	        xrealloc(listen_passed_v, (listen_passed_n + 1) * sizeof(*listen_passed_v));
	listen_passed_names =
	        xrealloc(listen_passed_names, (listen_passed_n + 1) * sizeof(*listen_passed_names));
	p = &listen_passed_v[listen_passed_n];
	memset(p, 0, sizeof(*p));
	listen_passed_names[listen_passed_n] = xstrdup(name);
	p->name = listen_passed_names[listen_passed_n];
	p->fd = fd;
	listen_passed_n++; /* the table owns fd from here */
	if (listen_addr_name(&a.sa, alen, p->addr, sizeof(p->addr)) < 0)
		return listen_fail(-EAFNOSUPPORT, errbuf, errlen,
		                   "the socket '%s' passed by the service manager (fd %d) is of "
		                   "address family %d, not IPv4, IPv6 or unix",
		                   name, fd, (int)a.sa.sa_family);
	if (a.sa.sa_family == AF_INET)
		p->port = ntohs(a.in4.sin_port);
	else if (a.sa.sa_family == AF_INET6)
		p->port = ntohs(a.in6.sin6_port);
	/* O_NONBLOCK is on the open file, shared with the service manager's copy, which
	 * systemd keeps non-blocking itself; FD_CLOEXEC is this descriptor's only. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		return listen_fail(r, errbuf, errlen,
		                   "the socket '%s' passed by the service manager on %s: fcntl: %s",
		                   name, p->addr, strerror(-r));
	}
	return 0;
}

int
listen_passed_scan(char *errbuf, size_t errlen)
{
	char **names = NULL;
	int n, i, r = 0;

	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		return listen_fail(n, errbuf, errlen,
		                   "cannot read the sockets passed by the service manager "
		                   "(LISTEN_FDS): %s",
		                   strerror(-n));
	if (n > LISTEN_PASSED_MAX) {
		r = listen_fail(-E2BIG, errbuf, errlen,
		                "%d sockets passed by the service manager, more than the %d "
		                "mtastsd can use",
		                n, LISTEN_PASSED_MAX);
		for (i = 0; i < n; i++)
			(void)close(SD_LISTEN_FDS_START + i);
	}
	for (i = 0; i < n && r == 0; i++) {
		r = listen_passed_add(SD_LISTEN_FDS_START + i,
		                      names != NULL && names[i] != NULL ? names[i] : "unknown",
		                      errbuf, errlen);
		if (r < 0) /* the rest are the table's too, closed by listen_passed_finish() */
			while (++i < n)
				(void)close(SD_LISTEN_FDS_START + i);
	}
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	return r < 0 ? r : n;
}

int
listen_passed_finish(char *errbuf, size_t errlen)
{
	const char *key;
	int taken = 0, r = 0;
	size_t i;

	for (i = 0; i < listen_passed_n; i++) {
		struct listen_passed *p = &listen_passed_v[i];

		if (p->fd < 0) {
			taken++;
			continue;
		}
		(void)close(p->fd);
		p->fd = -1;
		if (r < 0)
			continue;
		key = listen_role_key(p->name);
		if (key != NULL)
			r = listen_fail(-EADDRNOTAVAIL, errbuf, errlen,
			                "the socket '%s' passed by the service manager listens on "
			                "%s, which is not in %s (or that part is not enabled): "
			                "write the address the same way in both",
			                p->name, p->addr, key);
		else
			r = listen_fail(
			        -EADDRNOTAVAIL, errbuf, errlen,
			        "the socket '%s' passed by the service manager listens on "
			        "%s, which no listener of the configuration is "
			        "(resolver.listen, publisher.listen, publisher.http_listen, "
			        "admin.listen)",
			        p->name, p->addr);
	}
	for (i = 0; i < listen_passed_n; i++)
		free(listen_passed_names[i]);
	free(listen_passed_names);
	free(listen_passed_v);
	listen_passed_names = NULL;
	listen_passed_v = NULL;
	listen_passed_n = 0;
	return r < 0 ? r : taken;
}

/* The host and port of a listen_addr_name() text of a TCP socket ("127.0.0.1:8461",
 * "[::1]:8461"): *family AF_INET or AF_INET6, *port; returns 1 when the host is its
 * family's wildcard (0.0.0.0, [::]), 0 when not, -EINVAL for another text (unix:...). */
static int
listen_addr_split(const char *addr, int *family, unsigned long *port)
{
	const char *colon = strrchr(addr, ':');
	char *end;

	if (colon == NULL || strncmp(addr, "unix:", 5) == 0)
		return -EINVAL;
	errno = 0;
	*port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || *port > 65535)
		return -EINVAL;
	*family = addr[0] == '[' ? AF_INET6 : AF_INET;
	if (*family == AF_INET6)
		return (size_t)(colon - addr) == 4 && strncmp(addr, "[::]", 4) == 0;
	return (size_t)(colon - addr) == 7 && strncmp(addr, "0.0.0.0", 7) == 0;
}

int
listen_passed_overlap(const struct listen_passed *p, size_t n, const char *addr)
{
	unsigned long port, pport;
	int family, pfamily, any, pany;
	size_t i;

	any = listen_addr_split(addr, &family, &port);
	if (any < 0)
		return -ENOENT;
	for (i = 0; i < n; i++) {
		if (p[i].fd < 0)
			continue;
		pany = listen_addr_split(p[i].addr, &pfamily, &pport);
		if (pany < 0 || pport != port)
			continue;
		/* the same address; a passed [::] (dual-stack unless BindIPv6Only=ipv6-only)
		 * takes IPv4 too, a passed 0.0.0.0 all of IPv4; the listener's own [::] is
		 * IPv6-only (listen_tcp()), its 0.0.0.0 all of IPv4 */
		if (strcmp(p[i].addr, addr) == 0 ||
		    (pany && (pfamily == AF_INET6 || family == AF_INET)) ||
		    (any && pfamily == family))
			return (int)i;
	}
	return -ENOENT;
}

/* The text of cl's address as listen_addr_name() writes it, into want (wantlen bytes):
 * 0, or -EINVAL when it is no numeric address (listen_tcp() says what is wrong). */
static int
listen_want_name(const struct cfg_listen *cl, const struct listen_opts *o, char *want,
                 size_t wantlen)
{
	struct sockaddr_storage ss;
	socklen_t alen;

	if (cl->path != NULL) {
		(void)snprintf(want, wantlen, "unix:%s", cl->path);
		return 0;
	}
	if (cfg_listen_sockaddr(cl, o->default_host, &ss, &alen, NULL, 0) < 0 ||
	    listen_addr_name((struct sockaddr *)&ss, alen, want, wantlen) < 0)
		return -EINVAL;
	return 0;
}

/* bind() of cl (a TCP listener of role o->fdname) failed with EADDRINUSE: when a passed
 * socket that no listener took holds that port (the socket unit and the listen key name
 * the port with different addresses), say so instead: ERR_LISTEN_PASSED with the message
 * in errbuf. Else -EADDRINUSE and errbuf unchanged. */
static int
listen_explain_in_use(const struct cfg_listen *cl, const struct listen_opts *o, char *errbuf,
                      size_t errlen)
{
	char want[LISTEN_NAME_MAX];
	const char *key;
	int i;

	if (o->fdname == NULL || cl->path != NULL || listen_passed_n == 0 ||
	    listen_want_name(cl, o, want, sizeof(want)) < 0)
		return -EADDRINUSE;
	i = listen_passed_overlap(listen_passed_v, listen_passed_n, want);
	if (i < 0)
		return -EADDRINUSE;
	key = listen_role_key(o->fdname);
	return listen_fail(ERR_LISTEN_PASSED, errbuf, errlen,
	                   "cannot listen on %s: %s: the service manager passed %s "
	                   "(FileDescriptorName=%s), which holds that port, but %s is %s: "
	                   "write the same address in both (ListenStream=%s in the socket "
	                   "unit, docs/operations.md \"Socket activation\")",
	                   want, strerror(EADDRINUSE), listen_passed_v[i].addr,
	                   listen_passed_v[i].name, key != NULL ? key : o->fdname, want, want);
}

/* The passed socket for cl, when there is one: 1 with *ls filled, 0 (bind it), or -errno. */
static int
listen_take_passed(const struct cfg_listen *cl, const struct listen_opts *o, struct listen_sock *ls,
                   char *errbuf, size_t errlen)
{
	char want[LISTEN_NAME_MAX];
	int i;

	if (o->fdname == NULL || listen_passed_n == 0)
		return 0;
	if (listen_want_name(cl, o, want, sizeof(want)) < 0)
		return 0; /* listen_tcp() says what is wrong with it */
	i = listen_passed_match(listen_passed_v, listen_passed_n, o->fdname, want);
	if (i == -ENOENT)
		return 0;
	if (i < 0) {
		const char *other = "?";
		size_t k;

		for (k = 0; k < listen_passed_n; k++)
			if (listen_passed_v[k].fd >= 0 &&
			    strcmp(listen_passed_v[k].addr, want) == 0)
				other = listen_passed_v[k].name;
		return listen_fail(ERR_LISTEN_PASSED, errbuf, errlen,
		                   "cannot listen on %s: the socket the service manager passed "
		                   "there is named '%s' (FileDescriptorName=), not '%s'",
		                   want, other, o->fdname);
	}
	ls->fd = listen_passed_v[i].fd;
	listen_passed_v[i].fd = -1;
	ls->passed = 1;
	ls->port = listen_passed_v[i].port;
	(void)snprintf(ls->name, sizeof(ls->name), "%s", listen_passed_v[i].addr);
	return 1;
}

int
listen_open(const struct cfg_listen *cl, const struct listen_opts *o, struct listen_sock *ret_ls,
            char *errbuf, size_t errlen)
{
	struct listen_sock ls = LISTEN_SOCK_INIT;
	int r;

	r = listen_take_passed(cl, o, &ls, errbuf, errlen);
	if (r == 0 && cl->path != NULL)
		r = listen_unix(cl, o, &ls, errbuf, errlen);
	else if (r == 0)
		r = listen_tcp(cl, o, &ls, errbuf, errlen);
	if (r == -EADDRINUSE)
		r = listen_explain_in_use(cl, o, errbuf, errlen);
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
