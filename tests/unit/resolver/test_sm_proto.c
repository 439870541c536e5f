/*
 * tests/unit/resolver/test_sm_proto.c - socketmap protocol (resolver/sm_proto.c) and server
 *
 * 1. sm_request_parse(): keys as Postfix sends them, zones, keys without policy, malformed.
 * 2. sm_reply_encode(): exact netstrings, the SOCKETMAP_REPLY_MAX bound, ASCII hygiene.
 * 3. Every row of tests/vectors/socketmap.tsv against the real sm_server on 127.0.0.1 (a
 *    forked child runs the server + engine on the fake DNS/HTTPS world of the README
 *    fixture table; the parent is the client, with <pause> and <eof>). Row count asserted.
 * 4. Server behaviour: many requests split byte by byte, a unix socket, max_connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/tsv.h"
#include "cache_mem.h"
#include "cfg.h"
#include "err.h"
#include "fake_world.h"
#include "log.h"
#include "netstring.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sm_server.h"

/* Liveness bound for a reply, a close or the server's start: far above what they take, on
 * a loaded machine too. Every wait ends as soon as what it waits for happened. */
#define WAIT_MS 30000

/* ---- sm_request_parse ---- */

static struct cfg *
test_cfg(void)
{
	struct cfg *c = cfg_defaults();

	assert_non_null(c);
	return c;
}

static void
parse_one(const struct cfg *c, const char *payload, size_t len, int want_r, const char *want_dom)
{
	struct sm_request req;
	int r = sm_request_parse(&c->resolver, payload, len, &req);

	if (r != want_r)
		fail_msg("'%.*s': got %d (%s), want %d", (int)len, payload, r, err_str(r), want_r);
	if (want_dom != NULL)
		assert_string_equal(req.domain, want_dom);
	if (r != -EINVAL)
		assert_ptr_equal(req.zone, &c->resolver.zones[0]);
}

#define PARSE(c, s, r, d) parse_one(c, s, strlen(s), r, d)

static void
request_keys(void **state)
{
	struct cfg *c = test_cfg();

	PARSE(c, "postfix example.com", 0, "example.com");
	PARSE(c, "postfix EXAMPLE.Com.", 0, "example.com");
	PARSE(c, "postfix [mx.example.com]:587", 0, "mx.example.com");
	PARSE(c, "postfix example.com:25", 0, "example.com");
	PARSE(c, "postfix [relay.example]", 0, "relay.example");
	PARSE(c,
	      "postfix b\xc3\xbc"
	      "cher.example",
	      0, "xn--bcher-kva.example");
	PARSE(c, "postfix .example.com", ERR_DOMAIN_PARENT_PROBE, NULL);
	PARSE(c, "postfix [192.0.2.1]", ERR_DOMAIN_IP_LITERAL, NULL);
	PARSE(c, "postfix [192.0.2.1]:25", ERR_DOMAIN_IP_LITERAL, NULL);
	PARSE(c, "postfix ", ERR_DOMAIN_EMPTY, NULL);
	PARSE(c, "postfix", -EINVAL, NULL);
	PARSE(c, "", -EINVAL, NULL);
	/* unknown map name -> default zone; empty map name too */
	PARSE(c, "other example.com", 0, "example.com");
	PARSE(c, " example.com", 0, "example.com");
	/* a NUL inside the key is not a name */
	parse_one(c, "postfix exa\0mple.com", 20, ERR_DOMAIN_CHAR, NULL);
	/* the connection reaches the DANE half: relay and port (issue 22 part 6) */
	{
		struct sm_request req;

		assert_int_equal(
		        sm_request_parse(&c->resolver, "postfix [relay.example]:587", 27, &req), 0);
		assert_true(req.nexthop.relay);
		assert_int_equal(req.nexthop.port, 587);
		assert_int_equal(sm_request_parse(&c->resolver, "postfix example.com", 19, &req),
		                 0);
		assert_false(req.nexthop.relay);
		assert_int_equal(req.nexthop.port, 25);
	}
	/* invalid characters */
	{
		struct sm_request req;

		assert_true(sm_request_parse(&c->resolver, "postfix ex ample.com", 20, &req) < 0);
		assert_true(sm_request_parse(&c->resolver, "postfix a..b", 12, &req) < 0);
	}
	cfg_free(c);
}

static void
request_zone_by_name(void **state)
{
	struct cfg *c = test_cfg();
	struct cfg_zone *z = xcalloc(2, sizeof(*z));
	struct sm_request req;

	/* Two zones: "postfix" (default, first) and "strict". */
	z[0] = c->resolver.zones[0];
	z[1] = c->resolver.zones[0];
	z[1].name = xstrdup("strict");
	z[1].strict_testing = 1;
	free(c->resolver.zones);
	c->resolver.zones = z;
	c->resolver.n_zones = 2;
	assert_int_equal(sm_request_parse(&c->resolver, "strict example.com", 18, &req), 0);
	assert_ptr_equal(req.zone, &z[1]);
	assert_int_equal(req.zone->strict_testing, 1);
	assert_int_equal(sm_request_parse(&c->resolver, "postfix example.com", 19, &req), 0);
	assert_ptr_equal(req.zone, &z[0]);
	assert_int_equal(sm_request_parse(&c->resolver, "nosuch example.com", 18, &req), 0);
	assert_ptr_equal(req.zone, &z[0]);
	cfg_free(c);
}

/* ---- sm_reply_encode ---- */

static void
reply_encoding(void **state)
{
	enum sm_status st;
	size_t len;
	char *s, *big;

	s = sm_reply_encode(SM_OK, "secure match=a.example", &len, &st);
	assert_string_equal(s, "25:OK secure match=a.example,");
	assert_int_equal(len, strlen(s));
	assert_int_equal(st, SM_OK);
	free(s);
	s = sm_reply_encode(SM_NOTFOUND, NULL, &len, NULL);
	assert_string_equal(s, "9:NOTFOUND ,");
	free(s);
	s = sm_reply_encode(SM_TEMP, "dns failure", &len, NULL);
	assert_string_equal(s, "16:TEMP dns failure,");
	free(s);
	s = sm_reply_encode(SM_PERM, "bad\tname\xc3", &len, NULL);
	assert_string_equal(s, "14:PERM bad?name?,");
	free(s);
	s = sm_reply_encode(SM_TIMEOUT, "", &len, NULL);
	assert_string_equal(s, "8:TIMEOUT ,");
	free(s);
	/* exactly at the bound: kept; one more byte: TEMP */
	big = xmalloc(SOCKETMAP_REPLY_MAX + 2);
	memset(big, 'x', SOCKETMAP_REPLY_MAX + 1);
	big[SOCKETMAP_REPLY_MAX - 3] = '\0';
	s = sm_reply_encode(SM_OK, big, &len, &st);
	assert_int_equal(st, SM_OK);
	assert_int_equal(len, netstring_encoded_len(SOCKETMAP_REPLY_MAX));
	free(s);
	big[SOCKETMAP_REPLY_MAX - 3] = 'x';
	big[SOCKETMAP_REPLY_MAX - 2] = '\0';
	s = sm_reply_encode(SM_OK, big, &len, &st);
	assert_int_equal(st, SM_TEMP);
	assert_string_equal(s, "19:TEMP reply too long,");
	free(s);
	free(big);
	assert_string_equal(sm_status_name(SM_NOTFOUND), "NOTFOUND");
}

/* ---- the server in a child process ---- */

static pid_t server_pid = -1;
static uint16_t server_port;
static char unix_path[108];

static void
server_sigterm(struct loop *loop, int sig, void *arg)
{
	loop_exit(loop, 0);
}

static void
world_fixture(void)
{
	char *b;

	fw_reset();
	b = fw_policy_text("enforce", "mail.enforce.example,*.mx.enforce.example", 604800);
	fw_add("enforce.example", "v=STSv1; id=enf1", 0, b, 0);
	free(b);
	b = fw_policy_text("enforce", "relay.example", 604800);
	fw_add("relay.example", "v=STSv1; id=rel1", 0, b, 0);
	free(b);
	b = fw_policy_text("enforce", "mail.xn--bcher-kva.example", 604800);
	fw_add("xn--bcher-kva.example", "v=STSv1; id=idn1", 0, b, 0);
	free(b);
	b = fw_policy_text("testing", "mail.testing.example", 604800);
	fw_add("testing.example", "v=STSv1; id=tst1", 0, b, 0);
	free(b);
	b = fw_policy_text("none", NULL, 86400);
	fw_add("none.example", "v=STSv1; id=non1", 0, b, 0);
	free(b);
	/* slow.example answers after 300 ms (pipelining behind a slow lookup) */
	b = fw_policy_text("enforce", "mx.slow.example", 604800);
	fw_add("slow.example", "v=STSv1; id=slo1", 0, b, 0)->delay_ms = 150;
	free(b);
}

static void
server_child(int wfd, unsigned max_conn)
{
	struct cfg *c = test_cfg();
	struct loop *loop;
	struct cache_mem *cache = cache_mem_new(100);
	struct pol_engine *e;
	struct sm_server *srv;
	struct cfg_listen *ls = xcalloc(2, sizeof(*ls));
	uint16_t port;
	size_t z;

	ls[0] = c->resolver.listen[0];
	ls[0].port = 0;
	ls[1].path = unix_path;
	ls[1].mode = 0600;
	c->resolver.listen = ls;
	c->resolver.n_listen = 2;
	c->resolver.max_connections = max_conn;
	/* Far above anything here (no test waits for them): a slow step on a loaded machine
	 * never sees a connection closed as idle, nor a lookup answered by its timeout. */
	c->resolver.idle_timeout_ms = 60000;
	for (z = 0; z < c->resolver.n_zones; z++)
		c->resolver.zones[z].timeout_ms = 30000;
	world_fixture();
	log_set_verbosity(getenv("SM_VERBOSE") != NULL ? 2 : 0);
	if (loop_new(&loop) < 0 || loop_signal_add(loop, SIGTERM, server_sigterm, NULL) < 0)
		_exit(2);
	if (pol_engine_new(loop, &c->resolver, cache, &e) < 0)
		_exit(3);
	if (sm_server_new(loop, &c->resolver, e, &srv) < 0)
		_exit(4);
	port = sm_server_port(srv, 0);
	if (write(wfd, &port, sizeof(port)) != sizeof(port))
		_exit(5);
	(void)close(wfd);
	(void)loop_run(loop);
	srv = sm_server_free(srv);
	e = pol_engine_free(e);
	cache_mem_free(cache);
	loop_free(loop);
	_exit(0);
}

static void
server_start(unsigned max_conn)
{
	int p[2];
	struct pollfd pf;

	(void)snprintf(unix_path, sizeof(unix_path), "/tmp/mtastsd-test-sm.%d.sock", (int)getpid());
	assert_int_equal(pipe(p), 0);
	server_pid = fork();
	assert_true(server_pid >= 0);
	if (server_pid == 0) {
		(void)close(p[0]);
		server_child(p[1], max_conn);
	}
	(void)close(p[1]);
	pf.fd = p[0];
	pf.events = POLLIN;
	assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
	assert_int_equal(read(p[0], &server_port, sizeof(server_port)), sizeof(server_port));
	(void)close(p[0]);
	assert_true(server_port > 0);
}

static void server_stop(void);

/* cmocka teardown: a failed assertion must not leave the child server running. */
static int
server_teardown(void **state)
{
	if (server_pid > 0) {
		(void)kill(server_pid, SIGKILL);
		(void)waitpid(server_pid, NULL, 0);
		server_pid = -1;
		(void)unlink(unix_path);
	}
	return 0;
}

static void
server_stop(void)
{
	int status = 0;

	if (server_pid > 0) {
		(void)kill(server_pid, SIGTERM);
		(void)waitpid(server_pid, &status, 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		/* the server removed its unix socket */
		assert_int_equal(access(unix_path, F_OK), -1);
	}
	server_pid = -1;
}

static int
client_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(server_port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define REPLIES_MAX 8

struct replies {
	size_t n;
	char *r[REPLIES_MAX];
	int closed; /* the server closed the connection */
};

/* Read replies until want are in (then wait extra_ms for unexpected ones), the server
 * closes, or timeout_ms passes. */
static void
client_read(int fd, size_t want, int extra_ms, int timeout_ms, struct replies *out)
{
	struct netstring_dec d;
	char buf[4096];
	int64_t deadline = ms_now() + timeout_ms, extra_until = -1;

	memset(out, 0, sizeof(*out));
	netstring_dec_init(&d, SOCKETMAP_REPLY_MAX);
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int64_t now = ms_now(), until = extra_until >= 0 ? extra_until : deadline;
		ssize_t n;
		size_t off = 0;

		if (want > 0 && out->n >= want && extra_until < 0)
			until = extra_until = now + extra_ms;
		if (now >= until)
			break;
		if (poll(&pf, 1, (int)(until - now)) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			out->closed = 1;
			break;
		}
		while (off < (size_t)n) {
			size_t used = 0;
			int r = netstring_dec_feed(&d, buf + off, (size_t)n - off, &used);

			off += used;
			assert_true(r >= 0);
			if (r == 1) {
				assert_true(out->n < REPLIES_MAX);
				out->r[out->n++] = xstrndup(d.buf, d.len);
				netstring_dec_reset(&d);
			}
		}
	}
	netstring_dec_free(&d);
}

static void
replies_free(struct replies *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->r[i]);
}

/* Write the request cell of socketmap.tsv: raw bytes with <pause> and <eof> tokens. */
static void
client_write_script(int fd, const char *cell)
{
	size_t len;
	char *raw = tsv_unescape(cell, &len), *p = raw, *end = raw + len;

	while (p < end) {
		char *pause = memmem(p, (size_t)(end - p), "<pause>", 7);
		char *eof = memmem(p, (size_t)(end - p), "<eof>", 5);
		char *tok = pause;

		if (tok == NULL || (eof != NULL && eof < tok))
			tok = eof;
		if (tok == NULL)
			tok = end;
		if (tok > p)
			assert_int_equal(write(fd, p, (size_t)(tok - p)), (ssize_t)(tok - p));
		if (tok == end)
			break;
		if (tok == pause) {
			usleep(200 * 1000);
			p = tok + 7;
		} else {
			assert_int_equal(shutdown(fd, SHUT_WR), 0);
			p = tok + 5;
		}
	}
	free(raw);
}

/* Does one reply match one expected token ("OK secure", "NOTFOUND", "PERM", "TEMP")? */
static int
reply_matches(const char *got, const char *want)
{
	if (strcmp(want, "NOTFOUND") == 0)
		return strcmp(got, "NOTFOUND") == 0 || strcmp(got, "NOTFOUND ") == 0;
	return strncmp(got, want, strlen(want)) == 0;
}

static void
vectors_socketmap(void **state)
{
	struct tsv *t = tsv_load("socketmap.tsv");
	size_t i;

	assert_int_equal(t->nrows, tsv_readme_count("socketmap.tsv"));
	assert_int_equal(t->nrows, 15);
	server_start(64);
	for (i = 0; i < t->nrows; i++) {
		const char *id = tsv_cell(t, i, "id"), *exp = tsv_cell(t, i, "expected");
		char *alts = xstrdup(exp), *alt, *first = xstrdup(exp), *cut, *s;
		struct replies got;
		int fd = client_connect(), ok = 0, want_close = 0;
		size_t want_n = 0;

		client_write_script(fd, tsv_cell(t, i, "request"));
		/* The first alternative decides how many replies to wait for. */
		cut = strstr(first, " OR ");
		if (cut != NULL)
			*cut = '\0';
		for (s = first; s != NULL;) {
			char *th = strstr(s, " then ");

			if (th != NULL)
				*th = '\0';
			if (strcmp(s, "close connection") == 0)
				want_close = 1;
			else
				want_n++;
			s = th != NULL ? th + 6 : NULL;
		}
		free(first);
		client_read(fd, want_close ? 0 : want_n, 150, WAIT_MS, &got);
		/* Check against each "OR" alternative. */
		for (alt = alts; alt != NULL && !ok;) {
			char * or = strstr(alt, " OR ");
			size_t k = 0;
			int close_exp = 0, good = 1;

			if (or != NULL)
				* or = '\0';
			s = alt;
			while (s != NULL && good) {
				char *th = strstr(s, " then ");

				if (th != NULL)
					*th = '\0';
				if (strcmp(s, "close connection") == 0)
					close_exp = 1;
				else if (k >= got.n || !reply_matches(got.r[k++], s))
					good = 0;
				s = th != NULL ? th + 6 : NULL;
			}
			if (good && k == got.n && (!close_exp || got.closed))
				ok = 1;
			alt = or != NULL ? or +4 : NULL;
		}
		if (!ok)
			fail_msg("%s: expected '%s', got %zu replies ('%s'...), closed=%d", id, exp,
			         got.n, got.n > 0 ? got.r[0] : "", got.closed);
		replies_free(&got);
		free(alts);
		(void)close(fd);
	}
	server_stop();
	tsv_free(t);
}

static void
server_pipelining_order_and_split(void **state)
{
	/* A slow lookup first, then fast ones: replies keep request order. Written one byte
	 * per write to cover requests split over many reads. */
	const char *req = "20:postfix slow.example,23:postfix enforce.example,"
	                  "24:postfix nopolicy.example,19:postfix [192.0.2.1],7:postfix,";
	struct replies got;
	size_t i;
	int fd;

	server_start(64);
	fd = client_connect();
	for (i = 0; req[i] != '\0'; i++)
		assert_int_equal(write(fd, req + i, 1), 1);
	client_read(fd, 5, 100, WAIT_MS, &got);
	assert_int_equal(got.n, 5);
	assert_string_equal(got.r[0], "OK secure match=mx.slow.example servername=hostname");
	assert_string_equal(got.r[1], "OK secure match=mail.enforce.example:.mx.enforce.example "
	                              "servername=hostname");
	assert_string_equal(got.r[2], "NOTFOUND ");
	assert_string_equal(got.r[3], "NOTFOUND ");
	assert_true(strncmp(got.r[4], "PERM ", 5) == 0);
	assert_int_equal(got.closed, 0);
	replies_free(&got);
	/* Half-close after a request: still answered, then the server closes. */
	assert_int_equal(write(fd, "21:postfix relay.example,", 25), 25);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	client_read(fd, 0, 0, WAIT_MS, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "OK secure match=relay.example servername=hostname");
	assert_int_equal(got.closed, 1);
	replies_free(&got);
	(void)close(fd);
	server_stop();
}

static void
server_unix_and_max_connections(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct replies got;
	struct stat st;
	int ufd, fds[3], i;

	server_start(2);
	assert_int_equal(stat(unix_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Two connections fill max_connections; a third is not accepted until one closes. */
	fds[0] = client_connect();
	fds[1] = client_connect();
	fds[2] = client_connect(); /* completes in the kernel backlog */
	assert_int_equal(write(fds[2], "21:postfix relay.example,", 25), 25);
	client_read(fds[2], 1, 0, 400, &got);
	assert_int_equal(got.n, 0);
	replies_free(&got);
	(void)close(fds[0]);
	client_read(fds[2], 1, 0, WAIT_MS, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "OK secure match=relay.example servername=hostname");
	replies_free(&got);
	(void)close(fds[1]);
	(void)close(fds[2]);
	/* The unix listener speaks the same protocol. */
	memcpy(sun.sun_path, unix_path, strlen(unix_path) + 1);
	for (i = 0; i < WAIT_MS / 20; i++) {
		ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(ufd >= 0);
		if (connect(ufd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		(void)close(ufd);
		usleep(20 * 1000);
	}
	assert_int_equal(write(ufd, "20:postfix none.example,", 24), 24);
	client_read(ufd, 1, 0, WAIT_MS, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "NOTFOUND ");
	replies_free(&got);
	(void)close(ufd);
	server_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(request_keys),
	        cmocka_unit_test(request_zone_by_name),
	        cmocka_unit_test(reply_encoding),
	        cmocka_unit_test_teardown(vectors_socketmap, server_teardown),
	        cmocka_unit_test_teardown(server_pipelining_order_and_split, server_teardown),
	        cmocka_unit_test_teardown(server_unix_and_max_connections, server_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("test_sm_proto", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
