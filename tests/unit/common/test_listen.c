/*
 * tests/unit/common/test_listen.c - listening sockets (common/listen.c)
 *
 * Covers: TCP on 127.0.0.1 port 0 (the kernel's port, non-blocking, close-on-exec,
 * SO_REUSEADDR, accepts a connection), ::1 when the host has IPv6 (IPV6_V6ONLY), the default
 * host, a non-numeric address, an address in use; unix sockets with a mode, the default mode,
 * owner and group, the process umask left as it was; a stale socket file replaced, a regular
 * file or a directory at the path refused and left alone, a path too long, an unknown owner
 * or group; listen_take_fd(); listen_close() removes only its own socket file. Every error
 * text names the address.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include <unistd.h>

#include <cmocka.h>

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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
