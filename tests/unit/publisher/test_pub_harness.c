/*
 * tests/unit/publisher/test_pub_harness.c - the publisher's handlers on a libmicrohttpd
 *                                           connection: the Host checks of http_host()
 *
 * Covers: pub_harness_new/daemon/free (publisher/pub_harness.h), and through them
 *         pub_http_policy_access() and pub_http_plain_access() on raw requests sent over a
 *         socketpair: one Host, several, control bytes, a NUL inside the value (also in the
 *         last header line, finding 13 of docs/fuzzing.md), folded fields, whitespace before
 *         a colon, no Host on HTTP/1.1 and HTTP/1.0; the port 80 redirect's Location.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtasts_limits.h"
#include "pub.h"
#include "pub_harness.h"

/* MHD_run() turns per request: it is answered in a few. */
#define RUNS_MAX 200

static char body[] =
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n";
static struct pub_dom doms[1] = {
        {.domain = "example.com",
         .host = "mta-sts.example.com",
         .body = body,
         .body_len = sizeof(body) - 1},
};
static struct pub_snap snap = {
        .refs = 1, .doms = doms, .n_doms = 1, .cache_control = "max-age=86400"};

/* Send req (len bytes) to hs, return the reply's status (0: none) and the reply in buf. */
static unsigned
exchange(struct pub_harness *hs, const char *req, size_t len, char *buf, size_t size)
{
	struct MHD_Daemon *d = pub_harness_daemon(hs);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
	size_t got = 0;
	int sv[2], i, eof = 0;
	ssize_t n;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[0], req, len), (ssize_t)len);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(MHD_add_connection(d, sv[1], (struct sockaddr *)&sin, sizeof(sin)),
	                 MHD_YES);
	for (i = 0; i < RUNS_MAX && !eof; i++) {
		assert_int_equal(MHD_run(d), MHD_YES);
		while ((n = read(sv[0], buf + got, size - 1 - got)) > 0)
			got += (size_t)n;
		eof = n == 0;
	}
	assert_true(eof);
	(void)close(sv[0]);
	buf[got] = '\0';
	if (got < 12 || strncmp(buf, "HTTP/1.1 ", 9) != 0)
		return 0;
	return (unsigned)strtoul(buf + 9, NULL, 10);
}

struct host_case {
	const char *what;
	const char *req; /* sent with its length (NULs in it) */
	size_t len;
	unsigned https; /* status from the HTTPS listeners' handler */
	unsigned plain; /* from the port 80 handler */
};

#define P      "GET /.well-known/mta-sts.txt HTTP/1.1\r\n"
#define REQ(s) s, sizeof(s) - 1

static const struct host_case host_cases[] = {
        {"one Host", REQ(P "Host: mta-sts.example.com\r\n\r\n"), 200, 301},
        {"port, case, dot", REQ(P "host: MTA-STS.Example.COM.:443\r\n\r\n"), 200, 301},
        {"bare LF", REQ("GET /.well-known/mta-sts.txt HTTP/1.1\nHost: mta-sts.example.com\n\n"),
         200, 301},
        {"OWS", REQ(P "Host: \t mta-sts.example.com \t\r\nAccept: */*\r\n\r\n"), 200, 301},
        {"unknown host", REQ(P "Host: mta-sts.example.org\r\n\r\n"), 404, 301},
        {"two Hosts", REQ(P "Host: mta-sts.example.com\r\nHost: mta-sts.example.com\r\n\r\n"), 400,
         400},
        {"control byte", REQ(P "Host: mta-sts.exa\001mple.com\r\n\r\n"), 400, 400},
        {"NUL and text, another line after",
         REQ(P "Host: mta-sts.example.com\0evil.example\r\nAccept: */*\r\n\r\n"), 400, 400},
        /* finding 13: the last header line was judged on the one byte after the NUL */
        {"NUL, NUL and text, last line", REQ(P "Host: mta-sts.example.com\0\0evil.example\r\n\r\n"),
         400, 400},
        {"NUL and text, last line", REQ(P "Host: mta-sts.example.com\0x\r\n\r\n"), 400, 400},
        {"NUL before CRLF CRLF, last line", REQ(P "Host: mta-sts.example.com\0\r\n\r\n"), 400, 400},
        {"NUL before CRLF, another line after",
         REQ(P "Host: mta-sts.example.com\0\r\nAccept: */*\r\n\r\n"), 400, 400},
        /* the documented limit: "x<NUL><LF>" is "x<CR><LF>" once libmicrohttpd has read it */
        {"NUL before a bare LF (not seen)", REQ(P "Host: mta-sts.example.com\0\nX: y\r\n\r\n"), 200,
         301},
        {"folded Host", REQ(P "Host: mta-sts.example.com\r\n evil.example\r\n\r\n"), 400, 400},
        {"folded other field", REQ(P "Host: mta-sts.example.com\r\nX: 1\r\n 2\r\n\r\n"), 400, 400},
        {"space before colon", REQ(P "Host : mta-sts.example.com\r\n\r\n"), 400, 400},
        {"HTTP/1.1 without Host", REQ(P "Accept: */*\r\n\r\n"), 400, 400},
        {"HTTP/1.0 without Host", REQ("GET /.well-known/mta-sts.txt HTTP/1.0\r\n\r\n"), 404, 400},
};

static void
test_host(void **state)
{
	struct pub_harness *https = pub_harness_new(&snap, 1), *plain = pub_harness_new(&snap, 0);
	char buf[8192];
	size_t i;

	(void)state;
	assert_non_null(https);
	assert_non_null(plain);
	for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		const struct host_case *c = &host_cases[i];
		unsigned st;

		st = exchange(https, c->req, c->len, buf, sizeof(buf));
		if (st != c->https)
			fail_msg("%s: HTTPS handler: %u, want %u", c->what, st, c->https);
		if (st == 200)
			assert_non_null(strstr(buf, "\r\n\r\nversion: STSv1\r\nmode: enforce\r\n"));
		st = exchange(plain, c->req, c->len, buf, sizeof(buf));
		if (st != c->plain)
			fail_msg("%s: port 80 handler: %u, want %u", c->what, st, c->plain);
		if (st == 301)
			assert_non_null(strstr(
			        buf,
			        "\r\nLocation: https://" /* the name as sent, then the path */));
	}
	assert_null(pub_harness_free(https));
	assert_null(pub_harness_free(plain));
	assert_int_equal(snap.refs, 1);
}

/* A domain held until its rollout step is read (pub_release_held()): its policy is
 * answered 503 with Retry-After, never the configured policy (a sender would cache that
 * lower policy under the step's TXT id); other domains are served as usual. */
static void
test_held(void **state)
{
	struct pub_dom two[2] = {doms[0], doms[0]};
	struct pub_snap s2 = {.refs = 1, .doms = two, .n_doms = 2, .cache_control = "max-age=1"};
	struct pub_harness *https;
	char buf[8192];

	(void)state;
	two[1].domain = "held.example";
	two[1].host = "mta-sts.held.example";
	two[1].held = 1;
	https = pub_harness_new(&s2, 1);
	assert_non_null(https);
	assert_int_equal(
	        exchange(https, REQ(P "Host: mta-sts.held.example\r\n\r\n"), buf, sizeof(buf)),
	        503);
	assert_non_null(strstr(buf, "\r\nRetry-After: 5\r\n"));
	assert_null(strstr(buf, "version: STSv1"));
	assert_int_equal(
	        exchange(https, REQ(P "Host: mta-sts.example.com\r\n\r\n"), buf, sizeof(buf)), 200);
	assert_null(pub_harness_free(https));
}

/* http-01 of the built-in ACME client: a token set with pub_acme_token_set() is answered
 * on port 80 with its key authorization, before any webroot; unknown and removed tokens are
 * redirected like any path (no webroot here); bad tokens and a full table are refused. */
static void
test_acme_tokens(void **state)
{
	struct pub_harness *plain = pub_harness_new(&snap, 0);
	struct pub *pub = pub_harness_pub(plain);
	char buf[8192], tok[16];
	int i;

	(void)state;
	assert_int_equal(pub_acme_token_set(pub, "tok_EN-1", "tok_EN-1.thumb"), 0);
	assert_int_equal(exchange(plain,
	                          REQ("GET /.well-known/acme-challenge/tok_EN-1 HTTP/1.1\r\nHost: "
	                              "mta-sts.example.com\r\n\r\n"),
	                          buf, sizeof(buf)),
	                 200);
	assert_non_null(strstr(buf, "\r\n\r\ntok_EN-1.thumb"));
	assert_int_equal(exchange(plain,
	                          REQ("GET /.well-known/acme-challenge/other HTTP/1.1\r\nHost: "
	                              "mta-sts.example.com\r\n\r\n"),
	                          buf, sizeof(buf)),
	                 301);
	/* POST is not answered with the token */
	assert_int_not_equal(exchange(plain,
	                              REQ("POST /.well-known/acme-challenge/tok_EN-1 HTTP/1.1\r\n"
	                                  "Host: mta-sts.example.com\r\n\r\n"),
	                              buf, sizeof(buf)),
	                     200);
	pub_acme_token_del(pub, "tok_EN-1");
	assert_int_equal(exchange(plain,
	                          REQ("GET /.well-known/acme-challenge/tok_EN-1 HTTP/1.1\r\nHost: "
	                              "mta-sts.example.com\r\n\r\n"),
	                          buf, sizeof(buf)),
	                 301);
	assert_int_equal(pub_acme_token_set(pub, "../x", "k"), -EINVAL);
	assert_int_equal(pub_acme_token_set(pub, "", "k"), -EINVAL);
	assert_int_equal(pub_acme_token_set(NULL, "t", "k"), -EINVAL);
	for (i = 0; i < PUB_ACME_TOKENS_MAX; i++) {
		(void)snprintf(tok, sizeof(tok), "t%d", i);
		assert_int_equal(pub_acme_token_set(pub, tok, "k"), 0);
	}
	assert_int_equal(pub_acme_token_set(pub, "one-more", "k"), -ENOSPC);
	assert_int_equal(pub_acme_token_set(pub, "t3", "k2"), 0); /* replacing is fine */
	assert_null(pub_harness_free(plain));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_host),
	        cmocka_unit_test(test_held),
	        cmocka_unit_test(test_acme_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
