/*
 * tests/unit/daemon/test_admin_route.c - the admin endpoint's Host check and routing
 *                                        (daemon/admin_route.c), without a listener
 *
 * Host: loopback names and addresses, the listen address, admin.allowed_hosts; case, port,
 * trailing dot and trailing OWS; DNS-rebinding names, absurd values and lengths; a
 * wildcard listen address names nothing. Routing: the order of the checks (Host, token,
 * body, method and path), the purge rule (TCP needs a configured token, a unix socket
 * does not), Origin, 400 for HTTP/1.1 without Host or two Host headers, the handlers and
 * the statuses of every path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "admin_route.h"

static char *hosts[] = {"admin.example.net", "192.0.2.9", "[2001:db8::9]", "2001:db8::10",
                        "Mixed.Case.Example."};

/* A listener: "unix" or a TCP address ("127.0.0.1", "::1", "[::1]", "0.0.0.0", NULL: the
 * default 127.0.0.1), with the allowed hosts above. */
static struct admin_route_cfg
rcfg(const char *listen, int has_token)
{
	struct admin_route_cfg rc = {.allowed_hosts = hosts,
	                             .n_allowed_hosts = sizeof(hosts) / sizeof(hosts[0]),
	                             .has_token = has_token};
	struct cfg_listen l = {0};

	if (listen != NULL && strcmp(listen, "unix") == 0)
		l.path = "/run/mtastsd/admin.sock";
	else
		l.host = (char *)listen;
	admin_route_cfg_listen(&rc, &l, "127.0.0.1");
	return rc;
}

struct host_case {
	const char *host;
	int allowed;
};

static void
check_hosts(const struct admin_route_cfg *rc, const struct host_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int got = admin_host_allowed(rc, cases[i].host);

		if (got != cases[i].allowed)
			fail_msg("Host '%s': allowed %d, expected %d", cases[i].host, got,
			         cases[i].allowed);
	}
}

static void
test_host_loopback(void **state)
{
	static const struct host_case cases[] = {
	        {"localhost", 1},
	        {"localhost:8462", 1},
	        {"LOCALHOST.", 1},
	        {"LocalHost.:8462", 1},
	        {"localhost \t", 1},
	        {"127.0.0.1", 1},
	        {"127.0.0.1:8080", 1},
	        {"127.0.0.1.", 1},
	        {"127.255.3.4:1", 1},
	        {"[::1]", 1},
	        {"[::1]:8462", 1},
	        {"[0:0:0:0:0:0:0:1]:8462", 1},
	        {"[::ffff:127.0.0.1]", 1},
	        {"localhost:", 1},  /* empty port: valid syntax (RFC 3986 section 3.2.3) */
	        {"localhost:0", 1}, /* the port is not compared */
	        {"localhost:65535", 1},
	};

	struct admin_route_cfg rc = rcfg(NULL, 0);

	(void)state;
	check_hosts(&rc, cases, sizeof(cases) / sizeof(cases[0]));
	rc = rcfg("unix", 0);
	check_hosts(&rc, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_host_rebinding(void **state)
{
	static char longname[600];
	static const struct host_case cases[] = {
	        {"evil.example", 0},
	        {"evil.example:8462", 0},
	        {"EVIL.example.", 0},
	        {"localhost.evil.example", 0},
	        {"evil.localhost", 0},
	        {"localhost..", 0},
	        {"localhostx", 0},
	        {"xlocalhost", 0},
	        {"127.0.0.1.evil.example", 0},
	        {"127.1", 0},      /* not a dotted quad: a name, and not ours */
	        {"0177.0.0.1", 0}, /* octal spelling */
	        {"2130706433", 0},
	        {"0.0.0.0", 0},
	        {"0.0.0.0:8462", 0},
	        {"[::]", 0},
	        {"[::ffff:10.0.0.1]", 0},
	        {"[::2]", 0},
	        {"::1", 0}, /* IPv6 without brackets is not a Host */
	        {"[::1", 0},
	        {"[::1]x", 0},
	        {"[::1]:", 1},
	        {"[::1]:8462:1", 0},
	        {"[fe80::1%25eth0]", 0},
	        {"[]", 0},
	        {"", 0},
	        {" ", 0},
	        {" localhost", 0}, /* leading OWS is libmicrohttpd's to strip */
	        {".", 0},
	        {".localhost", 0},
	        {"local host", 0},
	        {"localhost:65536", 0},
	        {"localhost:123456", 0},
	        {"localhost:84x", 0},
	        {"localhost:-1", 0},
	        {"localhost:8462:8462", 0},
	        {"user@localhost", 0},
	        {"localhost/x", 0},
	        {"localhost\r", 0},
	        {"xn--lcalhost-xxx", 0},
	        {"192.0.2.7", 0}, /* not the listen address here */
	};

	struct admin_route_cfg rc = rcfg(NULL, 0);

	(void)state;
	check_hosts(&rc, cases, sizeof(cases) / sizeof(cases[0]));
	/* absurd lengths: a name of 253 bytes is a name (not ours), longer is not one */
	memset(longname, 'a', sizeof(longname) - 1);
	assert_int_equal(admin_host_allowed(&rc, longname), 0);
	memcpy(longname, "localhost", 9);
	assert_int_equal(admin_host_allowed(&rc, longname), 0);
	assert_int_equal(admin_host_allowed(&rc, NULL), 0);
}

static void
test_host_listen_and_allowed(void **state)
{
	static const struct host_case tcp_other[] = {
	        {"192.0.2.7", 1},
	        {"192.0.2.7:8462", 1},
	        {"192.0.2.77", 0},
	        {"admin.example.net", 1},
	        {"ADMIN.Example.NET.:443", 1},
	        {"admin.example.net..", 0},
	        {"www.admin.example.net", 0},
	        {"admin.example", 0},
	        {"mixed.case.example", 1},
	        {"192.0.2.9:1", 1},
	        {"[2001:db8::9]", 1},
	        {"[2001:DB8:0::9]:8462", 1},
	        {"[2001:db8::10]", 1},
	        {"[2001:db8::11]", 0},
	        {"localhost", 1},
	};
	static const struct host_case v6[] = {
	        {"[2001:db8::7]:8462", 1},
	        {"[2001:db8::8]", 0},
	        {"2001:db8::7", 0},
	};

	struct admin_route_cfg rc = rcfg("192.0.2.7", 1);

	(void)state;
	check_hosts(&rc, tcp_other, sizeof(tcp_other) / sizeof(tcp_other[0]));
	rc = rcfg("[2001:db8::7]", 1);
	check_hosts(&rc, v6, sizeof(v6) / sizeof(v6[0]));
	rc = rcfg("2001:db8::7", 1);
	check_hosts(&rc, v6, sizeof(v6) / sizeof(v6[0]));
	/* A wildcard names nothing: the machine's names go in admin.allowed_hosts. */
	rc = rcfg("0.0.0.0", 1);
	assert_int_equal(rc.listen_family, 0);
	assert_int_equal(admin_host_allowed(&rc, "0.0.0.0:8462"), 0);
	rc = rcfg("::", 1);
	assert_int_equal(admin_host_allowed(&rc, "[::]:8462"), 0);
	/* no allowed hosts: only loopback and the listen address */
	rc = rcfg("192.0.2.7", 1);
	rc.n_allowed_hosts = 0;
	assert_int_equal(admin_host_allowed(&rc, "admin.example.net"), 0);
	assert_int_equal(admin_host_allowed(&rc, "192.0.2.7"), 1);
	/* a unix socket has no listen address */
	rc = rcfg("unix", 0);
	assert_int_equal(rc.unix_socket, 1);
	assert_int_equal(rc.listen_family, 0);
	assert_int_equal(admin_host_allowed(&rc, "admin.example.net"), 1);
	assert_int_equal(admin_host_allowed(&rc, "192.0.2.7"), 0);
}

/* Route a request and return the status; *ret_rt gets the whole decision. */
static unsigned
route(const struct admin_route_cfg *rc, const char *method, const char *url, const char *host,
      int authorized, struct admin_route *ret_rt)
{
	struct admin_request r = {.method = method,
	                          .url = url,
	                          .version = "HTTP/1.1",
	                          .host = host,
	                          .n_host = host != NULL,
	                          .authorized = authorized};

	admin_route(rc, &r, ret_rt);
	if (ret_rt->handler == ADMIN_H_ERROR)
		assert_non_null(ret_rt->error);
	else
		assert_int_equal(ret_rt->status, 200);
	return ret_rt->status;
}

static void
test_route_paths(void **state)
{
	struct admin_route_cfg rc = rcfg(NULL, 0);
	struct admin_route rt;
	static const char *get[] = {"GET", "HEAD"};
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(route(&rc, get[i], "/", "127.0.0.1:8462", 0, &rt), 200);
		assert_int_equal(rt.handler, ADMIN_H_PAGE);
		assert_int_equal(route(&rc, get[i], "/status", "localhost", 0, &rt), 200);
		assert_int_equal(rt.handler, ADMIN_H_STATUS);
		assert_int_equal(route(&rc, get[i], "/metrics", "[::1]:8462", 0, &rt), 200);
		assert_int_equal(rt.handler, ADMIN_H_METRICS);
		assert_int_equal(route(&rc, get[i], "/policies/Example.COM.", "localhost", 0, &rt),
		                 200);
		assert_int_equal(rt.handler, ADMIN_H_POLICY);
		assert_string_equal(rt.domain, "Example.COM.");
		assert_int_equal(route(&rc, get[i], "/rollout", "localhost", 0, &rt), 200);
		assert_int_equal(rt.handler, ADMIN_H_ROLLOUT);
		assert_null(rt.domain);
		assert_int_equal(route(&rc, get[i], "/rollout/b.example", "localhost", 0, &rt),
		                 200);
		assert_int_equal(rt.handler, ADMIN_H_ROLLOUT);
		assert_string_equal(rt.domain, "b.example");
		assert_int_equal(route(&rc, get[i], "/policies", "localhost", 0, &rt), 404);
		assert_int_equal(route(&rc, get[i], "/policies/", "localhost", 0, &rt), 404);
		assert_int_equal(route(&rc, get[i], "/cache/purge", "localhost", 0, &rt), 405);
		assert_int_equal(route(&rc, get[i], "/nope", "localhost", 0, &rt), 404);
		assert_int_equal(route(&rc, get[i], "/status/", "localhost", 0, &rt), 404);
		assert_int_equal(route(&rc, get[i], "", "localhost", 0, &rt), 404);
		assert_int_equal(rt.refused, ADMIN_REFUSED_NONE);
	}
	/* POST /mx-check: no token needed over TCP, but never cross-origin */
	assert_int_equal(route(&rc, "POST", "/mx-check", "localhost", 0, &rt), 200);
	assert_int_equal(rt.handler, ADMIN_H_MXCHECK);
	assert_int_equal(route(&rc, "GET", "/mx-check", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "POST", "/mx-check/", "localhost", 0, &rt), 404);
	{
		struct admin_request r = {.method = "POST",
		                          .url = "/mx-check",
		                          .version = "HTTP/1.1",
		                          .host = "localhost",
		                          .n_host = 1,
		                          .origin = 1};

		admin_route(&rc, &r, &rt);
		assert_int_equal(rt.status, 403);
		assert_int_equal(rt.refused, ADMIN_REFUSED_ORIGIN);
	}
	assert_int_equal(route(&rc, "PUT", "/status", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "DELETE", "/", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "get", "/status", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "POST", "/status", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "POST", "/metrics", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "POST", "/", "localhost", 0, &rt), 405);
	assert_int_equal(route(&rc, "POST", "/nope", "localhost", 0, &rt), 404);
	assert_int_equal(rt.refused, ADMIN_REFUSED_NONE);
}

static void
test_route_host_first(void **state)
{
	struct admin_route_cfg rc = rcfg(NULL, 0);
	struct admin_route rt;
	struct admin_request r = {.method = "GET", .url = "/status", .version = "HTTP/1.1"};

	(void)state;
	/* DNS rebinding: the attacker's name, on every path, with or without the token */
	assert_int_equal(route(&rc, "GET", "/status", "evil.example", 0, &rt), 421);
	assert_int_equal(rt.refused, ADMIN_REFUSED_HOST);
	assert_int_equal(route(&rc, "GET", "/policies/example.com", "evil.example:8462", 0, &rt),
	                 421);
	assert_int_equal(route(&rc, "GET", "/", "evil.example", 0, &rt), 421);
	assert_int_equal(route(&rc, "GET", "/metrics", "evil.example", 0, &rt), 421);
	assert_int_equal(route(&rc, "POST", "/cache/purge", "evil.example", 0, &rt), 421);
	assert_int_equal(route(&rc, "GET", "/nope", "evil.example", 0, &rt), 421);
	rc.has_token = 1;
	assert_int_equal(route(&rc, "GET", "/status", "evil.example", 1, &rt), 421);
	assert_int_equal(route(&rc, "GET", "/status", "evil.example", 0, &rt), 421);
	/* the same on a unix socket (a reverse proxy may forward a browser's Host) */
	rc = rcfg("unix", 0);
	assert_int_equal(route(&rc, "GET", "/status", "evil.example", 0, &rt), 421);
	assert_int_equal(route(&rc, "GET", "/status", "localhost", 0, &rt), 200);
	/* no Host: 400 for HTTP/1.1 (RFC 9112 section 3.2), accepted for HTTP/1.0 */
	rc = rcfg(NULL, 0);
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 400);
	assert_int_equal(rt.refused, ADMIN_REFUSED_HOST);
	r.version = NULL;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 400);
	r.version = "HTTP/1.0";
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 200);
	assert_int_equal(rt.handler, ADMIN_H_STATUS);
	/* two Host headers: 400, even when the first is ours */
	r.version = "HTTP/1.1";
	r.host = "localhost";
	r.n_host = 2;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 400);
	assert_int_equal(rt.refused, ADMIN_REFUSED_HOST);
	r.n_host = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 200);
	/* a value without a count is one header */
	r.n_host = 0;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 200);
	r.host = "evil.example";
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 421);
}

static void
test_route_token(void **state)
{
	struct admin_route_cfg rc = rcfg(NULL, 1);
	struct admin_route rt;
	struct admin_request r = {.method = "POST",
	                          .url = "/cache/purge",
	                          .version = "HTTP/1.1",
	                          .host = "localhost",
	                          .n_host = 1,
	                          .authorized = 1,
	                          .body_too_large = 1};

	(void)state;
	assert_int_equal(route(&rc, "GET", "/status", "localhost", 0, &rt), 401);
	assert_int_equal(rt.refused, ADMIN_REFUSED_TOKEN);
	assert_int_equal(route(&rc, "GET", "/nope", "localhost", 0, &rt), 401);
	assert_int_equal(route(&rc, "POST", "/cache/purge", "localhost", 0, &rt), 401);
	assert_int_equal(route(&rc, "GET", "/status", "localhost", 1, &rt), 200);
	/* the token flag is read only when a token is configured */
	rc.has_token = 0;
	assert_int_equal(route(&rc, "GET", "/status", "localhost", 0, &rt), 200);
	assert_int_equal(route(&rc, "GET", "/status", "localhost", 1, &rt), 200);
	/* body too large: after the token */
	rc.has_token = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 413);
	r.authorized = 0;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 401);
	assert_string_equal(rt.error, "a bearer token is required");
	r.authorized = -1; /* a bearer token, not ours: said so */
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 401);
	assert_string_equal(rt.error, "wrong bearer token");
}

static void
test_route_purge(void **state)
{
	struct admin_route_cfg rc = rcfg(NULL, 0);
	struct admin_route rt;
	struct admin_request r = {.method = "POST",
	                          .url = "/cache/purge",
	                          .version = "HTTP/1.1",
	                          .host = "127.0.0.1:8462",
	                          .n_host = 1};

	(void)state;
	/* TCP, no token configured: refused, saying what to do */
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 403);
	assert_int_equal(rt.handler, ADMIN_H_ERROR);
	assert_int_equal(rt.refused, ADMIN_REFUSED_PURGE_TCP);
	assert_non_null(strstr(rt.error, "admin.token"));
	assert_non_null(strstr(rt.error, "unix"));
	/* TCP with a token configured and sent */
	rc.has_token = 1;
	r.authorized = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 200);
	assert_int_equal(rt.handler, ADMIN_H_PURGE);
	/* a unix socket without a token */
	rc = rcfg("unix", 0);
	r.authorized = 0;
	r.host = "localhost";
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 200);
	assert_int_equal(rt.handler, ADMIN_H_PURGE);
	/* a unix socket with a token: it is needed there too */
	rc.has_token = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 401);
	r.authorized = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.handler, ADMIN_H_PURGE);
	/* Origin: a cross-site form, refused everywhere */
	r.origin = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 403);
	assert_int_equal(rt.refused, ADMIN_REFUSED_ORIGIN);
	/* no Host over HTTP/1.0 on TCP without a token: still no purge */
	rc = rcfg(NULL, 0);
	r.origin = 0;
	r.host = NULL;
	r.n_host = 0;
	r.version = "HTTP/1.0";
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.status, 403);
	assert_int_equal(rt.refused, ADMIN_REFUSED_PURGE_TCP);
	/* an exposed listener (token mandatory) with the token */
	rc = rcfg("192.0.2.7", 1);
	r.host = "192.0.2.7:8462";
	r.n_host = 1;
	r.version = "HTTP/1.1";
	r.authorized = 1;
	admin_route(&rc, &r, &rt);
	assert_int_equal(rt.handler, ADMIN_H_PURGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_host_loopback),
	        cmocka_unit_test(test_host_rebinding),
	        cmocka_unit_test(test_host_listen_and_allowed),
	        cmocka_unit_test(test_route_paths),
	        cmocka_unit_test(test_route_host_first),
	        cmocka_unit_test(test_route_token),
	        cmocka_unit_test(test_route_purge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
