/*
 * tests/unit/resolver/test_sm_server.c - the socketmap server (resolver/sm_server.c)
 *
 * The real sm_server, policy engine and in-memory cache run in this process on a fake
 * loop (loop_new_fake()), over the fake DNS/HTTPS world of the tests/vectors README fixture
 * table (fake_world.h); the test is the client, on real sockets (TCP on 127.0.0.1 and a
 * unix socket). Waiting is virtual: client_read() moves the clock in steps, and each step
 * dispatches the server's io (loop.h, "the fake clock"), so the world's delays, <pause>,
 * the idle timeout and "no reply within 400 ms" cost no real time.
 * 1. Every row of tests/vectors/socketmap.tsv (with <pause> and <eof>). Row count asserted.
 * 2. Behaviour: many requests split byte by byte answered in order, half-close, a unix
 *    socket, max_connections (the idle connection closed for a new one, the pause when all
 *    are busy), the idle timeout, the request deadline.
 * The protocol alone (parsing, reply encoding) is tested in test_sm_proto.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "../common/tsv.h"
#include "cache_mem.h"
#include "cfg.h"
#include "err.h"
#include "fake_world.h"
#include "log.h"
#include "loop.h"
#include "netstring.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sm_server.h"

/* ---- the server, in this process on a fake loop ---- */

/* The server under test and what it runs on; srv NULL when it is not running. */
static struct {
	struct cfg *cfg;
	struct loop *loop;
	struct cache_mem *cache;
	struct pol_engine *e;
	struct sm_server *srv;
	uint16_t port;
} S;
static char unix_path[108];

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

/* Listen on 127.0.0.1, port 0, and on unix_path (mode 0600); idle timeout 2 s. */
static void
server_start(unsigned max_conn)
{
	struct cfg *c = cfg_defaults();
	struct cfg_listen *ls = xcalloc(2, sizeof(*ls));
	size_t i;

	assert_non_null(c);
	(void)snprintf(unix_path, sizeof(unix_path), "/tmp/mtastsd-test-sm.%d.sock", (int)getpid());
	ls[0] = c->resolver.listen[0];
	ls[0].port = 0;
	ls[1].path = xstrdup(unix_path);
	ls[1].mode = 0600;
	for (i = 1; i < c->resolver.n_listen; i++) {
		free(c->resolver.listen[i].address);
		free(c->resolver.listen[i].host);
		free(c->resolver.listen[i].path);
		free(c->resolver.listen[i].owner);
		free(c->resolver.listen[i].group);
	}
	free(c->resolver.listen);
	c->resolver.listen = ls;
	c->resolver.n_listen = 2;
	c->resolver.max_connections = max_conn;
	c->resolver.idle_timeout_ms = 2000;
	c->resolver.request_timeout_ms = 3000;
	S.cfg = c;
	world_fixture();
	log_set_verbosity(getenv("SM_VERBOSE") != NULL ? 2 : 0);
	S.cache = cache_mem_new(100);
	assert_int_equal(loop_new_fake(0, &S.loop), 0);
	assert_int_equal(pol_engine_new(S.loop, &c->resolver, S.cache, &S.e), 0);
	assert_int_equal(sm_server_new(S.loop, &c->resolver, S.e, &S.srv), 0);
	S.port = sm_server_port(S.srv, 0);
	assert_true(S.port > 0);
}

/* Free everything in order; safe after a failed assertion left any part unbuilt. */
static void
server_free(void)
{
	S.srv = sm_server_free(S.srv);
	S.e = pol_engine_free(S.e);
	S.cache = cache_mem_free(S.cache);
	S.loop = loop_free(S.loop);
	S.cfg = cfg_free(S.cfg);
	fw_reset();
}

/* cmocka teardown: a failed assertion must not leave the server (or its socket) behind. */
static int
server_teardown(void **state)
{
	server_free();
	(void)unlink(unix_path);
	return 0;
}

/* Let the server take what the kernel has for it now (connections, bytes), without moving
 * the virtual clock: a few rounds of 1 ms of real time each. */
static void
settle(void)
{
	int i;

	for (i = 0; i < 5; i++) {
		(void)poll(NULL, 0, 1);
		(void)loop_fake_advance(S.loop, 0);
	}
}

static void
server_stop(void)
{
	server_free();
	/* the server removed its unix socket */
	assert_int_equal(access(unix_path, F_OK), -1);
}

static int
client_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

#define REPLIES_MAX 8

struct replies {
	size_t n;
	char *r[REPLIES_MAX];
	int closed; /* the server closed the connection */
};

/* Virtual time one client_read() step moves the clock (ms). */
#define CLIENT_STEP_MS 10

/* Take what fd has now (without waiting) into out; returns 1 when the server closed. */
static int
client_drain(int fd, struct netstring_dec *d, struct replies *out)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		size_t off = 0;

		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return 1;
		while (off < (size_t)n) {
			size_t used = 0;
			int r = netstring_dec_feed(d, buf + off, (size_t)n - off, &used);

			off += used;
			assert_true(r >= 0);
			if (r == 1) {
				assert_true(out->n < REPLIES_MAX);
				out->r[out->n++] = xstrndup(d->buf, d->len);
				netstring_dec_reset(d);
			}
		}
	}
}

/* Read replies until want are in (then wait extra_ms for unexpected ones), the server
 * closes, or timeout_ms passes, all in virtual time: each step takes what has arrived,
 * then lets the server run CLIENT_STEP_MS. A step first waits for fd up to 1 ms of real
 * time, for bytes still on their way through the kernel (io is real). */
static void
client_read(int fd, size_t want, int extra_ms, int timeout_ms, struct replies *out)
{
	struct netstring_dec d;
	uint64_t now = loop_now_ms(S.loop), until = now + (uint64_t)timeout_ms;
	int extra = 0;

	memset(out, 0, sizeof(*out));
	netstring_dec_init(&d, SOCKETMAP_REPLY_MAX);
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};

		(void)loop_fake_advance(S.loop, 0);
		(void)poll(&pf, 1, 1);
		if (client_drain(fd, &d, out)) {
			out->closed = 1;
			break;
		}
		now = loop_now_ms(S.loop);
		if (want > 0 && out->n >= want && !extra) {
			extra = 1;
			until = now + (uint64_t)extra_ms;
		}
		if (now >= until)
			break;
		(void)loop_fake_advance(S.loop, until - now < CLIENT_STEP_MS ? until - now
		                                                             : CLIENT_STEP_MS);
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
			(void)loop_fake_advance(S.loop, 200); /* the server reads the first part */
			p = tok + 7;
		} else {
			assert_int_equal(shutdown(fd, SHUT_WR), 0);
			p = tok + 5;
		}
	}
	free(raw);
}

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
		client_read(fd, want_close ? 0 : want_n, 150, 3000, &got);
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
	for (i = 0; req[i] != '\0'; i++) {
		assert_int_equal(write(fd, req + i, 1), 1);
		(void)loop_fake_advance(S.loop, 0); /* the server reads this byte alone */
	}
	client_read(fd, 5, 100, 3000, &got);
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
	client_read(fd, 0, 0, 3000, &got);
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
	int ufd, fds[3];

	server_start(2);
	assert_int_equal(stat(unix_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Two connections fill max_connections: fds[0] has begun a request, fds[1] (newer) is
	 * idle. A third is accepted at once, and the idle one is closed for it, not the older
	 * one mid-request. */
	fds[0] = client_connect();
	assert_int_equal(write(fds[0], "9999:", 5), 5);
	settle();
	fds[1] = client_connect();
	settle();
	assert_int_equal(sm_server_counters(S.srv)->open, 2);
	(void)loop_fake_advance(S.loop, 1000); /* past SM_CONN_GRACE_MS for fds[1] */
	fds[2] = client_connect();
	assert_int_equal(write(fds[2], "21:postfix relay.example,", 25), 25);
	client_read(fds[2], 1, 0, 1000, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "OK secure match=relay.example servername=hostname");
	replies_free(&got);
	client_read(fds[1], 0, 0, 0, &got);
	assert_int_equal(got.closed, 1);
	assert_int_equal(sm_server_counters(S.srv)->evicted, 1);
	assert_int_equal(sm_server_counters(S.srv)->open, 2);
	client_read(fds[0], 0, 0, 0, &got);
	assert_int_equal(got.closed, 0);
	/* Both busy (a lookup of slow.example, 150 ms, in flight on each): a third waits, no
	 * connection is closed for it; once they are answered, one is, and it is served. */
	(void)close(fds[0]);
	(void)close(fds[1]);
	(void)close(fds[2]);
	settle();
	assert_int_equal(sm_server_counters(S.srv)->open, 0);
	fds[0] = client_connect();
	fds[1] = client_connect();
	settle();
	assert_int_equal(write(fds[0], "20:postfix slow.example,", 24), 24);
	assert_int_equal(write(fds[1], "20:postfix slow.example,", 24), 24);
	settle();
	fds[2] = client_connect(); /* completes in the kernel backlog */
	assert_int_equal(write(fds[2], "21:postfix relay.example,", 25), 25);
	settle();
	assert_int_equal(sm_server_counters(S.srv)->evicted, 1);
	assert_int_equal(sm_server_counters(S.srv)->open, 2);
	assert_true(sm_server_counters(S.srv)->accept_paused >= 1);
	client_read(fds[2], 1, 0, 3000, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "OK secure match=relay.example servername=hostname");
	replies_free(&got);
	assert_int_equal(sm_server_counters(S.srv)->evicted, 2);
	client_read(fds[0], 1, 0, 0, &got); /* answered before it was closed, or open */
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "OK secure match=mx.slow.example servername=hostname");
	replies_free(&got);
	(void)close(fds[0]);
	(void)close(fds[1]);
	(void)close(fds[2]);
	/* The unix listener speaks the same protocol. */
	memcpy(sun.sun_path, unix_path, strlen(unix_path) + 1);
	ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ufd >= 0);
	assert_int_equal(connect(ufd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write(ufd, "20:postfix none.example,", 24), 24);
	client_read(ufd, 1, 0, 3000, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "NOTFOUND ");
	replies_free(&got);
	(void)close(ufd);
	server_stop();
}

/* An idle connection is closed after idle_timeout_ms (2 s) of virtual time, not before;
 * a request in between starts the count again. */
static void
server_idle_timeout(void **state)
{
	struct replies got;
	int fd;

	server_start(64);
	fd = client_connect();
	(void)loop_fake_advance(S.loop, 0); /* accepted at 0 */
	assert_int_equal(sm_server_counters(S.srv)->accepted, 1);
	(void)loop_fake_advance(S.loop, 1500);
	assert_int_equal(write(fd, "20:postfix none.example,", 24), 24);
	client_read(fd, 1, 0, 3000, &got); /* answered at once, at 1500 */
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "NOTFOUND ");
	replies_free(&got);
	(void)loop_fake_advance(S.loop, 1999); /* 1999 ms idle */
	assert_int_equal(sm_server_counters(S.srv)->idle_closed, 0);
	assert_int_equal(sm_server_counters(S.srv)->open, 1);
	(void)loop_fake_advance(S.loop, 1);
	assert_int_equal(sm_server_counters(S.srv)->idle_closed, 1);
	assert_int_equal(sm_server_counters(S.srv)->open, 0);
	client_read(fd, 0, 0, 0, &got);
	assert_int_equal(got.n, 0);
	assert_int_equal(got.closed, 1);
	(void)close(fd);
	server_stop();
}

/* A request is whole within request_timeout_ms (3 s) of its first byte, or the connection
 * closes: one byte a second resets the idle timer (2 s) but not the deadline. The next
 * request on a connection has a deadline of its own. */
static void
server_request_deadline(void **state)
{
	struct replies got;
	int fd, i, one = 1;

	server_start(64);
	fd = client_connect();
	/* each write sent at once: Nagle would hold a part until the server's delayed ACK, tens
	 * of ms of real time, seconds of this test's virtual time */
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	settle();
	/* a whole request, then a second one in two parts 2.5 s apart: 5 s in all, in time */
	assert_int_equal(write(fd, "20:postfix none.example,", 24), 24);
	client_read(fd, 1, 0, 1000, &got);
	assert_int_equal(got.n, 1);
	replies_free(&got);
	(void)loop_fake_advance(S.loop, 1500);
	assert_int_equal(write(fd, "20:postfix n", 12), 12);
	settle();
	(void)loop_fake_advance(S.loop, 1900);
	assert_int_equal(write(fd, "one.example,", 12), 12);
	client_read(fd, 1, 0, 1000, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.r[0], "NOTFOUND ");
	replies_free(&got);
	assert_int_equal(sm_server_counters(S.srv)->request_timeouts, 0);
	/* a partial netstring, then a byte a second: closed at 3 s, not before */
	assert_int_equal(write(fd, "9999:", 5), 5);
	settle();
	for (i = 0; i < 2; i++) {
		(void)loop_fake_advance(S.loop, 1000);
		assert_int_equal(write(fd, "x", 1), 1);
		settle();
	}
	(void)loop_fake_advance(S.loop, 999);
	assert_int_equal(sm_server_counters(S.srv)->request_timeouts, 0);
	assert_int_equal(sm_server_counters(S.srv)->open, 1);
	(void)loop_fake_advance(S.loop, 1);
	assert_int_equal(sm_server_counters(S.srv)->request_timeouts, 1);
	assert_int_equal(sm_server_counters(S.srv)->idle_closed, 0);
	assert_int_equal(sm_server_counters(S.srv)->open, 0);
	client_read(fd, 0, 0, 0, &got);
	assert_int_equal(got.n, 0);
	assert_int_equal(got.closed, 1);
	(void)close(fd);
	server_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(vectors_socketmap, server_teardown),
	        cmocka_unit_test_teardown(server_pipelining_order_and_split, server_teardown),
	        cmocka_unit_test_teardown(server_unix_and_max_connections, server_teardown),
	        cmocka_unit_test_teardown(server_idle_timeout, server_teardown),
	        cmocka_unit_test_teardown(server_request_deadline, server_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("test_sm_server", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
