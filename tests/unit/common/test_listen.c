/*
 * tests/unit/common/test_listen.c - listening sockets (common/listen.c)
 *
 * Covers: TCP on 127.0.0.1 port 0 (the kernel's port, non-blocking, close-on-exec,
 * SO_REUSEADDR, accepts a connection), ::1 when the host has IPv6 (IPV6_V6ONLY), the default
 * host, a non-numeric address, an address in use; unix sockets with a mode, the default mode,
 * owner and group, the process umask left as it was; a stale socket file replaced, a regular
 * file or a directory at the path refused and left alone, a path too long, an unknown owner
 * or group; listen_take_fd(); listen_close() removes only its own socket file. Every error
 * text names the address. A chown the user may not do (EPERM) names socket activation; an
 * owner and group the file has already are not set again.
 * Socket activation: listen_addr_name() (canonical addresses, unix, abstract);
 * listen_passed_match() over a table of passed sockets and configured listeners (by
 * address, by FileDescriptorName= role, taken ones skipped, another role's refused);
 * listen_passed_overlap(): which untaken passed socket holds a listener's port on another
 * address (wildcards of each family, [::] dual-stack), and listen_open()'s message when the
 * bind then fails (both addresses, the socket's name, the key, the fix);
 * listen_passed_add() refuses a socket that is not a listening stream socket; listen_open()
 * takes a passed TCP and unix socket (non-blocking and close-on-exec, never chowned,
 * chmodded or unlinked); listen_passed_finish() closes and reports an untaken one;
 * listen_passed_scan() through sd_listen_fds(3) with LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES set as systemd sets them.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "listen.h"

static char dir[64];

static const struct listen_opts opts = {
        .default_host = "127.0.0.1",
        .backlog = 16,
        .default_mode = 0600,
};

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/mtastsd-listen.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *
dir_path(char *buf, size_t len, const char *name)
{
	(void)snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

static void
assert_has(const char *text, const char *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("'%s' does not contain '%s'", text, part);
}

static int
sockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void
assert_listening_flags(int fd)
{
	assert_true(fd >= 0);
	assert_true((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	assert_int_equal(sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
}

static void
connect_unix_ok(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	(void)close(fd);
}

/* ---- TCP ---- */

static void
test_tcp_ipv4_port0(void **state)
{
	struct cfg_listen cl = {.address = "127.0.0.1:0", .host = "127.0.0.1", .port = 0};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char errbuf[256] = "", want[32];
	int c, fd;

	(void)state;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	assert_listening_flags(ls.fd);
	assert_int_equal(sockopt_int(ls.fd, SOL_SOCKET, SO_REUSEADDR), 1);
	assert_true(ls.port > 0);
	assert_null(ls.path);
	(void)snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)ls.port);
	assert_string_equal(ls.name, want);
	/* it accepts */
	a.sin_port = htons(ls.port);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	fd = accept(ls.fd, NULL, NULL);
	assert_true(fd >= 0);
	(void)close(fd);
	(void)close(c);
	listen_close(&ls);
	assert_int_equal(ls.fd, -1);
	listen_close(&ls); /* idempotent */
}

static void
test_tcp_ipv6(void **state)
{
	struct cfg_listen cl = {.address = "[::1]:0", .host = "[::1]", .port = 0};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256] = "", want[32];
	int r;

	(void)state;
	r = listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf));
	if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) {
		assert_has(errbuf, "cannot listen on [::1]:0: ");
		skip(); /* no IPv6 on this host */
	}
	assert_int_equal(r, 0);
	assert_listening_flags(ls.fd);
	assert_int_equal(sockopt_int(ls.fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	(void)snprintf(want, sizeof(want), "[::1]:%u", (unsigned)ls.port);
	assert_string_equal(ls.name, want);
	listen_close(&ls);
}

static void
test_tcp_default_host(void **state)
{
	struct cfg_listen cl = {.port = 0};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256] = "";

	(void)state;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	assert_true(strncmp(ls.name, "127.0.0.1:", 10) == 0);
	listen_close(&ls);
}

static void
test_tcp_errors(void **state)
{
	struct cfg_listen bad = {.address = "localhost:25", .host = "localhost", .port = 25};
	struct cfg_listen cl = {.host = "127.0.0.1", .port = 0};
	struct listen_sock ls = LISTEN_SOCK_INIT, ls2 = LISTEN_SOCK_INIT;
	char errbuf[256] = "", want[64];

	(void)state;
	assert_int_equal(listen_open(&bad, &opts, &ls2, errbuf, sizeof(errbuf)), -EINVAL);
	assert_string_equal(errbuf,
	                    "listen address 'localhost:25' is not a numeric IPv4 or IPv6 address");
	assert_int_equal(ls2.fd, -1); /* written only on success */

	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	cl.port = ls.port;
	assert_int_equal(listen_open(&cl, &opts, &ls2, errbuf, sizeof(errbuf)), -EADDRINUSE);
	(void)snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%u: %s", (unsigned)ls.port,
	               strerror(EADDRINUSE));
	assert_string_equal(errbuf, want);
	assert_int_equal(ls2.fd, -1);
	listen_close(&ls);

	/* an address that is not this host's (unless ip_nonlocal_bind allows it) */
	cl.host = "192.0.2.1";
	cl.port = 0;
	if (listen_open(&cl, &opts, &ls2, errbuf, sizeof(errbuf)) == 0) {
		listen_close(&ls2);
		return;
	}
	assert_has(errbuf, "cannot listen on 192.0.2.1:0: ");
	assert_has(errbuf, strerror(EADDRNOTAVAIL));
}

static void
test_take_fd(void **state)
{
	struct cfg_listen cl = {.host = "127.0.0.1", .port = 0};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256];
	int fd;

	(void)state;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	fd = listen_take_fd(&ls);
	assert_true(fd >= 0);
	assert_int_equal(ls.fd, -1);
	listen_close(&ls);
	assert_true(fcntl(fd, F_GETFD) >= 0); /* still open: it is the taker's */
	(void)close(fd);
}

/* ---- unix ---- */

static void
test_unix_mode(void **state)
{
	char path[96], want[160];
	struct cfg_listen cl = {.path = dir_path(path, sizeof(path), "a.sock"), .mode = 0640};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256] = "";
	struct stat st;
	mode_t before = umask(022), after;

	(void)state;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	after = umask(before);
	assert_int_equal(after, 022); /* the process umask is left as it was */
	assert_listening_flags(ls.fd);
	assert_int_equal(ls.port, 0);
	assert_string_equal(ls.path, path);
	(void)snprintf(want, sizeof(want), "unix:%s", path);
	assert_string_equal(ls.name, want);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	connect_unix_ok(path);
	listen_close(&ls);
	assert_int_equal(ls.fd, -1);
	assert_null(ls.path);
	assert_int_equal(access(path, F_OK), -1); /* removed */

	/* a mode wider than the bind's umask: chmod sets it exactly */
	cl.mode = 0666;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
	listen_close(&ls);

	/* mode 0: the caller's default */
	cl.mode = 0;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	listen_close(&ls);
}

static void
test_unix_owner_group(void **state)
{
	char path[96];
	const struct passwd *pw = getpwuid(getuid());
	const struct group *gr = getgrgid(getgid());
	struct cfg_listen cl = {.path = dir_path(path, sizeof(path), "own.sock"), .mode = 0660};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256] = "";
	struct stat st;

	(void)state;
	if (pw == NULL || gr == NULL)
		skip();
	/* chown to our own user and group is allowed without privileges */
	cl.owner = pw->pw_name;
	cl.group = gr->gr_name;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal(st.st_gid, getgid());
	assert_int_equal(st.st_mode & 07777, 0660);
	listen_close(&ls);

	cl.owner = "no-such-user-mtastsd";
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), -ENOENT);
	assert_has(errbuf, "unknown owner 'no-such-user-mtastsd'");
	assert_has(errbuf, path);
	cl.owner = NULL;
	cl.group = "no-such-group-mtastsd";
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), -ENOENT);
	assert_has(errbuf, "unknown group 'no-such-group-mtastsd'");
	assert_int_equal(access(path, F_OK), -1); /* nothing was created */
}

static void
test_unix_stale_replaced(void **state)
{
	char path[96];
	struct cfg_listen cl = {.path = dir_path(path, sizeof(path), "stale.sock"), .mode = 0600};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256] = "";
	struct stat st;
	int fd;

	(void)state;
	/* a socket file left behind by a process that is gone */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	(void)close(fd);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	connect_unix_ok(path); /* the stale one refused connections: this is the new one */
	listen_close(&ls);
}

static void
test_unix_not_a_socket(void **state)
{
	char path[96], want[256];
	struct cfg_listen cl = {.path = dir_path(path, sizeof(path), "file"), .mode = 0600};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[256] = "";
	struct stat st;
	FILE *fp;

	(void)state;
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs("keep me\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), -EEXIST);
	(void)snprintf(want, sizeof(want),
	               "cannot listen on unix:%s: the path exists and is not a socket; "
	               "refusing to replace it",
	               path);
	assert_string_equal(errbuf, want);
	assert_int_equal(ls.fd, -1);
	assert_int_equal(lstat(path, &st), 0); /* left alone */
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 8);

	cl.path = dir;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), -EEXIST);
	assert_has(errbuf, "the path exists and is not a socket");
}

static void
test_unix_errors(void **state)
{
	char path[200];
	struct cfg_listen cl = {.path = path, .mode = 0600};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[512] = "";

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), -ENAMETOOLONG);
	assert_has(errbuf, "is too long (199 bytes, at most 107)");

	/* a directory that does not exist */
	(void)snprintf(path, sizeof(path), "%s/missing/x.sock", dir);
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), -ENOENT);
	assert_has(errbuf, "cannot listen on unix:");
	assert_has(errbuf, "/missing/x.sock: ");
}

/* listen_close() removes its own socket file only: another process may have put its own
 * socket (or anything else) at the path since. */
static void
test_unix_close_keeps_foreign_file(void **state)
{
	char path[96];
	struct cfg_listen cl = {.path = dir_path(path, sizeof(path), "mine.sock"), .mode = 0600};
	struct listen_sock ls = LISTEN_SOCK_INIT, ls2 = LISTEN_SOCK_INIT;
	char errbuf[256] = "";

	(void)state;
	assert_int_equal(listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)), 0);
	/* a second instance replaces the socket (the first one's file is stale to it) */
	assert_int_equal(listen_open(&cl, &opts, &ls2, errbuf, sizeof(errbuf)), 0);
	listen_close(&ls);
	assert_int_equal(access(path, F_OK), 0); /* the second instance's socket stays */
	connect_unix_ok(path);
	listen_close(&ls2);
	assert_int_equal(access(path, F_OK), -1);
}

/* An owner the user may not give the file to: -EPERM, the socket removed, and the message
 * says what works instead (systemd creates it: socket activation). Run as nobody when root. */
static int
unix_chown_refused(const char *path)
{
	struct cfg_listen cl = {.path = (char *)path, .mode = 0660, .owner = "root"};
	struct listen_sock ls = LISTEN_SOCK_INIT;
	char errbuf[512] = "";

	if (listen_open(&cl, &opts, &ls, errbuf, sizeof(errbuf)) != -EPERM)
		return 1;
	if (strstr(errbuf, "chown to owner 'root'") == NULL ||
	    strstr(errbuf, "etc/mtastsd.socket") == NULL || strstr(errbuf, path) == NULL)
		return 2;
	return access(path, F_OK) == 0 ? 3 : 0;
}

static void
test_unix_chown_refused(void **state)
{
	char path[96];
	const struct passwd *pw;
	int status;
	pid_t pid;

	(void)state;
	dir_path(path, sizeof(path), "perm.sock");
	if (geteuid() != 0) {
		assert_int_equal(unix_chown_refused(path), 0);
		return;
	}
	pw = getpwnam("nobody");
	if (pw == NULL)
		skip();
	assert_int_equal(chmod(dir, 0777), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(9);
		_exit(unix_chown_refused(path));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(chmod(dir, 0700), 0);
}

/* ---- socket activation ---- */

static void
test_addr_name(void **state)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(8461)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sockaddr sa = {.sa_family = AF_APPLETALK};
	char out[LISTEN_NAME_MAX];

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr), 1);
	assert_int_equal(listen_addr_name((struct sockaddr *)&in4, sizeof(in4), out, sizeof(out)),
	                 0);
	assert_string_equal(out, "127.0.0.1:8461");
	assert_int_equal(inet_pton(AF_INET6, "::0001", &in6.sin6_addr), 1); /* canonical */
	assert_int_equal(listen_addr_name((struct sockaddr *)&in6, sizeof(in6), out, sizeof(out)),
	                 0);
	assert_string_equal(out, "[::1]:443");
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "/run/x.sock");
	assert_int_equal(listen_addr_name((struct sockaddr *)&sun, sizeof(sun), out, sizeof(out)),
	                 0);
	assert_string_equal(out, "unix:/run/x.sock");
	/* getsockname's length bounds the path, NUL or not */
	assert_int_equal(listen_addr_name((struct sockaddr *)&sun,
	                                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 4),
	                                  out, sizeof(out)),
	                 0);
	assert_string_equal(out, "unix:/run");
	memset(sun.sun_path, 0, sizeof(sun.sun_path));
	memcpy(sun.sun_path + 1, "abs", 3);
	assert_int_equal(listen_addr_name((struct sockaddr *)&sun,
	                                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 4),
	                                  out, sizeof(out)),
	                 0);
	assert_string_equal(out, "unix:@abs");
	assert_int_equal(listen_addr_name(&sa, sizeof(sa), out, sizeof(out)), -EAFNOSUPPORT);
	assert_string_equal(out, "");
}

/* The pure matching: passed sockets and configured listeners in, assignment out. */
static void
test_passed_match(void **state)
{
	struct listen_passed p[] = {
	        {.fd = 10, .name = LISTEN_FDNAME_SOCKETMAP, .addr = "127.0.0.1:8461"},
	        {.fd = 11, .name = "unknown", .addr = "unix:/run/mtastsd/socketmap.sock"},
	        {.fd = 12, .name = LISTEN_FDNAME_ADMIN, .addr = "127.0.0.1:8462"},
	        {.fd = 13, .name = "mtastsd.socket", .addr = "[::1]:443"},
	        {.fd = -1, .name = LISTEN_FDNAME_SOCKETMAP, .addr = "127.0.0.1:9999"}, /* taken */
	        {.fd = 15, .name = LISTEN_FDNAME_PUB_HTTP, .addr = "0.0.0.0:80"},
	};
	static const struct {
		const char *role, *addr;
		int want;
	} cases[] = {
	        /* by address and its role's name */
	        {LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:8461", 0},
	        {LISTEN_FDNAME_ADMIN, "127.0.0.1:8462", 2},
	        {LISTEN_FDNAME_PUB_HTTP, "0.0.0.0:80", 5},
	        /* by address alone: a name that is no role's (systemd's default: the unit) */
	        {LISTEN_FDNAME_SOCKETMAP, "unix:/run/mtastsd/socketmap.sock", 1},
	        {LISTEN_FDNAME_PUB_HTTPS, "[::1]:443", 3},
	        /* another role's socket on the address: refused, never served as this one */
	        {LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:8462", -EADDRINUSE},
	        {LISTEN_FDNAME_PUB_HTTPS, "0.0.0.0:80", -EADDRINUSE},
	        /* nothing there, or already taken: bind it */
	        {LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:8463", -ENOENT},
	        {LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:9999", -ENOENT},
	        {LISTEN_FDNAME_SOCKETMAP, "unix:/run/mtastsd/other.sock", -ENOENT},
	        {LISTEN_FDNAME_PUB_HTTPS, "[::]:443", -ENOENT},
	        /* the address text must be the same: no port is a different address */
	        {LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:846", -ENOENT},
	};
	const size_t n = sizeof(p) / sizeof(p[0]);
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = listen_passed_match(p, n, cases[i].role, cases[i].addr);
		if (r != cases[i].want)
			fail_msg("case %zu (%s %s): got %d, want %d", i, cases[i].role,
			         cases[i].addr, r, cases[i].want);
	}
	/* taking a socket (fd -1) takes it out of the matching */
	r = listen_passed_match(p, n, LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:8461");
	assert_int_equal(r, 0);
	p[r].fd = -1;
	assert_int_equal(listen_passed_match(p, n, LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:8461"),
	                 -ENOENT);
	assert_int_equal(listen_passed_match(p, 0, LISTEN_FDNAME_SOCKETMAP, "127.0.0.1:8461"),
	                 -ENOENT);
}

/* Which untaken passed socket holds a TCP listener's port on another address (the pure
 * part of the EADDRINUSE explanation). */
static void
test_passed_overlap(void **state)
{
	struct listen_passed p[] = {
	        {.fd = 10, .name = LISTEN_FDNAME_SOCKETMAP, .addr = "[::]:28601"},
	        {.fd = 11, .name = LISTEN_FDNAME_PUB_HTTP, .addr = "0.0.0.0:80"},
	        {.fd = 12, .name = "unknown", .addr = "unix:/run/mtastsd/socketmap.sock"},
	        {.fd = 13, .name = LISTEN_FDNAME_ADMIN, .addr = "127.0.0.1:8462"},
	        {.fd = -1, .name = LISTEN_FDNAME_SOCKETMAP, .addr = "0.0.0.0:9999"}, /* taken */
	        {.fd = 15, .name = LISTEN_FDNAME_PUB_HTTPS, .addr = "[::1]:443"},
	};
	static const struct {
		const char *addr;
		int want;
	} cases[] = {
	        /* a passed [::] (dual-stack) holds the port on every address */
	        {"127.0.0.1:28601", 0},
	        {"[::1]:28601", 0},
	        {"0.0.0.0:28601", 0},
	        /* a passed 0.0.0.0: IPv4 only (the listener's [::] is IPv6-only) */
	        {"127.0.0.1:80", 1},
	        {"[::1]:80", -ENOENT},
	        {"[::]:80", -ENOENT},
	        /* the listener's wildcard covers a passed address of its family */
	        {"0.0.0.0:8462", 3},
	        {"[::]:8462", -ENOENT},
	        {"[::]:443", 5},
	        {"0.0.0.0:443", -ENOENT},
	        /* the same address (a socket of another role there) */
	        {"127.0.0.1:8462", 3},
	        /* other specific addresses on the port do not collide */
	        {"127.0.0.2:8462", -ENOENT},
	        {"[::2]:443", -ENOENT},
	        /* taken, another port, unix, not an address text */
	        {"127.0.0.1:9999", -ENOENT},
	        {"127.0.0.1:2860", -ENOENT},
	        {"unix:/run/mtastsd/socketmap.sock", -ENOENT},
	        {"127.0.0.1:", -ENOENT},
	        {"127.0.0.1:x", -ENOENT},
	        {"127.0.0.1:65536", -ENOENT},
	        {"", -ENOENT},
	};
	const size_t n = sizeof(p) / sizeof(p[0]);
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = listen_passed_overlap(p, n, cases[i].addr);
		if (r != cases[i].want)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].addr, r,
			         cases[i].want);
	}
	assert_int_equal(listen_passed_overlap(p, 0, "127.0.0.1:28601"), -ENOENT);
}

/* A listening TCP socket on 127.0.0.1, blocking and inheritable (as a service manager may
 * pass it); its port in *ret_port. */
static int
tcp_listener(uint16_t *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static int
unix_listener(const char *path, mode_t mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(chmod(path, mode), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void
test_passed_open(void **state)
{
	char path[96], addr[32], errbuf[512] = "", want[128];
	struct cfg_listen tcp = {.host = "127.0.0.1"};
	struct cfg_listen un = {.path = dir_path(path, sizeof(path), "passed.sock"),
	                        .mode = 0600,
	                        .owner = "no-such-user-mtastsd", /* not applied: never looked up */
	                        .group = "no-such-group-mtastsd"};
	struct listen_opts o = opts;
	struct listen_sock ls = LISTEN_SOCK_INIT, lu = LISTEN_SOCK_INIT;
	struct stat st;
	uint16_t port;
	int tfd = tcp_listener(&port), ufd = unix_listener(path, 0604);

	(void)state;
	o.fdname = LISTEN_FDNAME_SOCKETMAP;
	tcp.port = port;
	assert_int_equal(listen_passed_add(tfd, LISTEN_FDNAME_SOCKETMAP, errbuf, sizeof(errbuf)),
	                 0);
	assert_int_equal(listen_passed_add(ufd, "unknown", errbuf, sizeof(errbuf)), 0);

	/* TCP: the passed descriptor itself, made non-blocking and close-on-exec */
	assert_int_equal(listen_open(&tcp, &o, &ls, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(ls.fd, tfd);
	assert_int_equal(ls.passed, 1);
	assert_int_equal(ls.port, port);
	(void)snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)port);
	assert_string_equal(ls.name, addr);
	assert_null(ls.path);
	assert_listening_flags(ls.fd);

	/* unix: neither chowned nor chmodded (the owner and group do not even exist) */
	assert_int_equal(listen_open(&un, &o, &lu, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(lu.fd, ufd);
	assert_int_equal(lu.passed, 1);
	assert_null(lu.path);
	(void)snprintf(want, sizeof(want), "unix:%s", path);
	assert_string_equal(lu.name, want);
	assert_listening_flags(lu.fd);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	connect_unix_ok(path);

	/* a second listener on the same address does not get it again: it binds (and fails) */
	assert_int_equal(listen_open(&tcp, &o, &ls, errbuf, sizeof(errbuf)), -EADDRINUSE);

	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), 2);
	listen_close(&ls);
	listen_close(&lu);
	assert_false(fd_open(tfd));
	assert_int_equal(access(path, F_OK), 0); /* the service manager's file: left alone */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), 0); /* idempotent */
}

static void
test_passed_errors(void **state)
{
	char errbuf[512] = "", addr[32], want[400];
	struct cfg_listen tcp = {.host = "127.0.0.1"}, any = {.host = "0.0.0.0"};
	struct listen_opts o = opts;
	struct listen_sock ls = LISTEN_SOCK_INIT;
	uint16_t port;
	int fd, i;

	(void)state;
	/* not a listening stream socket: refused and closed */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(listen_passed_add(fd, "socketmap", errbuf, sizeof(errbuf)), -EINVAL);
	assert_has(errbuf, "is not a listening stream socket");
	assert_has(errbuf, "Accept=no");
	assert_false(fd_open(fd));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(listen_passed_add(fd, "socketmap", errbuf, sizeof(errbuf)), -EINVAL);
	assert_false(fd_open(fd));
	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), 0);

	/* another role's socket on the address: that listener fails, naming both */
	fd = tcp_listener(&port);
	tcp.port = port;
	(void)snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)port);
	assert_int_equal(listen_passed_add(fd, LISTEN_FDNAME_ADMIN, errbuf, sizeof(errbuf)), 0);
	o.fdname = LISTEN_FDNAME_SOCKETMAP;
	assert_int_equal(listen_open(&tcp, &o, &ls, errbuf, sizeof(errbuf)), ERR_LISTEN_PASSED);
	assert_has(errbuf, addr);
	assert_has(errbuf, "named 'admin'");
	assert_has(errbuf, "not 'socketmap'");
	/* the listener's wildcard on that port: the bind fails, and the message names the
	 * passed socket that holds the port, its name, the key and the fix (nothing is bound:
	 * 127.0.0.1 holds the port) */
	any.port = port;
	assert_int_equal(listen_open(&any, &o, &ls, errbuf, sizeof(errbuf)), ERR_LISTEN_PASSED);
	(void)snprintf(want, sizeof(want),
	               "cannot listen on 0.0.0.0:%u: %s: the service manager passed %s "
	               "(FileDescriptorName=admin), which holds that port, but resolver.listen "
	               "is 0.0.0.0:%u: write the same address in both (ListenStream=0.0.0.0:%u",
	               (unsigned)port, strerror(EADDRINUSE), addr, (unsigned)port, (unsigned)port);
	assert_has(errbuf, want);
	/* without a role (fdname NULL) a listener never takes a passed socket: it binds */
	o.fdname = NULL;
	assert_int_equal(listen_open(&tcp, &o, &ls, errbuf, sizeof(errbuf)), -EADDRINUSE);
	assert_has(errbuf, strerror(EADDRINUSE));

	/* untaken at the end: closed, and an error naming it and its key */
	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), -EADDRNOTAVAIL);
	assert_has(errbuf, "'admin'");
	assert_has(errbuf, addr);
	assert_has(errbuf, "admin.listen");
	assert_false(fd_open(fd));
	fd = tcp_listener(&port);
	assert_int_equal(listen_passed_add(fd, "mtastsd.socket", errbuf, sizeof(errbuf)), 0);
	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), -EADDRNOTAVAIL);
	assert_has(errbuf, "no listener of the configuration");
	assert_false(fd_open(fd));

	/* more than LISTEN_PASSED_MAX: refused */
	for (i = 0; i <= 64; i++) {
		int r;

		fd = tcp_listener(&port);
		r = listen_passed_add(fd, "x", errbuf, sizeof(errbuf));
		if (r < 0) {
			assert_int_equal(r, -E2BIG);
			assert_false(fd_open(fd));
			break;
		}
	}
	assert_int_equal(i, 64);
	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), -EADDRNOTAVAIL);
}

/* listen_passed_scan() reads what systemd sets: LISTEN_PID (this process), LISTEN_FDS
 * (descriptors from 3 on), LISTEN_FDNAMES; and removes it from the environment. */
static void
test_passed_scan(void **state)
{
	char errbuf[512] = "", pid[32];
	struct cfg_listen tcp = {.host = "127.0.0.1"};
	struct listen_opts o = opts;
	struct listen_sock ls = LISTEN_SOCK_INIT;
	uint16_t port;
	int fd;

	(void)state;
	(void)unsetenv("LISTEN_FDS");
	assert_int_equal(listen_passed_scan(errbuf, sizeof(errbuf)), 0); /* not activated */
	if (fd_open(3))
		skip(); /* descriptor 3 is taken in this process: cannot stand in for systemd */
	fd = tcp_listener(&port); /* the lowest free descriptor: 3 itself, most likely */
	if (fd != 3) {
		assert_int_equal(dup2(fd, 3), 3);
		(void)close(fd);
	}
	/* for another process: ignored, descriptor 3 left alone */
	assert_int_equal(setenv("LISTEN_PID", "1", 1), 0);
	assert_int_equal(setenv("LISTEN_FDS", "1", 1), 0);
	assert_int_equal(listen_passed_scan(errbuf, sizeof(errbuf)), 0);
	assert_true(fd_open(3));
	(void)snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal(setenv("LISTEN_PID", pid, 1), 0);
	assert_int_equal(setenv("LISTEN_FDS", "1", 1), 0);
	assert_int_equal(setenv("LISTEN_FDNAMES", "socketmap", 1), 0);
	assert_int_equal(listen_passed_scan(errbuf, sizeof(errbuf)), 1);
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_PID"));
	o.fdname = LISTEN_FDNAME_SOCKETMAP;
	tcp.port = port;
	assert_int_equal(listen_open(&tcp, &o, &ls, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(ls.fd, 3);
	assert_int_equal(ls.passed, 1);
	assert_listening_flags(ls.fd);
	assert_int_equal(listen_passed_finish(errbuf, sizeof(errbuf)), 1);
	listen_close(&ls);
	assert_false(fd_open(3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tcp_ipv4_port0),
	        cmocka_unit_test(test_tcp_ipv6),
	        cmocka_unit_test(test_tcp_default_host),
	        cmocka_unit_test(test_tcp_errors),
	        cmocka_unit_test(test_take_fd),
	        cmocka_unit_test(test_unix_mode),
	        cmocka_unit_test(test_unix_owner_group),
	        cmocka_unit_test(test_unix_stale_replaced),
	        cmocka_unit_test(test_unix_not_a_socket),
	        cmocka_unit_test(test_unix_errors),
	        cmocka_unit_test(test_unix_close_keeps_foreign_file),
	        cmocka_unit_test(test_unix_chown_refused),
	        cmocka_unit_test(test_addr_name),
	        cmocka_unit_test(test_passed_match),
	        cmocka_unit_test(test_passed_overlap),
	        cmocka_unit_test(test_passed_open),
	        cmocka_unit_test(test_passed_errors),
	        cmocka_unit_test(test_passed_scan),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
