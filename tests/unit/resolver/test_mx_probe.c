/*
 * tests/unit/resolver/test_mx_probe.c - the MX check's parts without I/O (resolver/mx_probe.c)
 *
 * 1. smtp_reply_parse(): single and multi-line replies, STARTTLS among the EHLO keywords,
 *    incomplete input, strictness (codes, separators, mixed codes, NUL, bare CR), and the
 *    bounds (line length, line count, reply size) an endless or huge reply runs into.
 * 2. mx_probe_cert_match(): Postfix "secure match=" semantics over mx_match().
 * 3. mx_result_name(), mx_report_ok().
 * 4. The prober on a real loop, its DNS from ldns-testns (p.test: one MX host on
 *    127.0.0.1), against the test's own sockets: a silent server (the step timeout), a
 *    closed port, a server that closes after its banner, a cancel while the MX query is
 *    out and mx_prober_free() in the middle of the banner: each callback exactly once.
 * The whole session (STARTTLS, GnuTLS, real Postfix and hostile servers) is tested by
 * tests/system/t_mx_check.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_client.h"
#include "err.h"
#include "loop.h"
#include "mx_probe.h"
#include "xalloc.h"

#define TESTNS_DATA TEST_DATA_DIR "/dns/mx_probe.testns"
#include "testns.h"

static int
parse(const char *s, struct smtp_reply *r)
{
	return smtp_reply_parse(s, strlen(s), r);
}

static void
test_reply_single(void **state)
{
	struct smtp_reply r;

	(void)state;
	assert_int_equal(parse("220 mx.example.com ESMTP Postfix\r\n", &r), 34);
	assert_int_equal(r.code, 220);
	assert_int_equal(r.n_lines, 1);
	assert_int_equal(r.starttls, 0);
	assert_string_equal(r.text, "mx.example.com ESMTP Postfix");
	/* bare LF, as Postfix's client accepts it */
	assert_int_equal(parse("221 Bye\n", &r), 8);
	assert_int_equal(r.code, 221);
	/* code alone */
	assert_int_equal(parse("250\r\n", &r), 5);
	assert_string_equal(r.text, "");
	/* only the first reply is taken; the rest stays for the caller */
	assert_int_equal(parse("220 a\r\n250 b\r\n", &r), 7);
}

static void
test_reply_ehlo(void **state)
{
	const char *ehlo = "250-mx.example.com\r\n"
	                   "250-PIPELINING\r\n"
	                   "250-SIZE 10240000\r\n"
	                   "250-starttls\r\n"
	                   "250-ENHANCEDSTATUSCODES\r\n"
	                   "250 CHUNKING\r\n";
	struct smtp_reply r;

	(void)state;
	assert_int_equal(parse(ehlo, &r), (int)strlen(ehlo));
	assert_int_equal(r.code, 250);
	assert_int_equal(r.n_lines, 6);
	assert_int_equal(r.starttls, 1);
	assert_string_equal(r.text, "mx.example.com");
	/* no STARTTLS; a keyword that only begins with it does not count, nor the greeting */
	assert_true(parse("250-STARTTLS\r\n250-STARTTLSX\r\n250 XSTARTTLS\r\n", &r) > 0);
	assert_int_equal(r.starttls, 0);
	assert_true(parse("250-mx\r\n250 STARTTLS\r\n", &r) > 0);
	assert_int_equal(r.starttls, 1);
	assert_true(parse("250-mx\r\n250 STARTTLS arg\r\n", &r) > 0);
	assert_int_equal(r.starttls, 1);
}

static void
test_reply_incomplete(void **state)
{
	struct smtp_reply r = {.code = 7};

	(void)state;
	assert_int_equal(parse("", &r), 0);
	assert_int_equal(parse("22", &r), 0);
	assert_int_equal(parse("220 mx", &r), 0);
	assert_int_equal(parse("220 mx\r", &r), 0);
	assert_int_equal(parse("220-mx\r\n", &r), 0);
	assert_int_equal(parse("220-mx\r\n220-more\r\n220 la", &r), 0);
	assert_int_equal(r.code, 7); /* untouched */
}

static void
test_reply_strict(void **state)
{
	struct smtp_reply r;

	(void)state;
	assert_int_equal(parse("22\r\n", &r), -EPROTO);
	assert_int_equal(parse("2x0 a\r\n", &r), -EPROTO);
	assert_int_equal(parse("120 a\r\n", &r), -EPROTO);
	assert_int_equal(parse("600 a\r\n", &r), -EPROTO);
	assert_int_equal(parse("260 a\r\n", &r), -EPROTO);
	assert_int_equal(parse("220_a\r\n", &r), -EPROTO);
	assert_int_equal(parse("220-a\r\n250 b\r\n", &r), -EPROTO); /* codes differ */
	assert_int_equal(parse("220 a\rb\r\n", &r), -EPROTO);       /* bare CR */
	assert_int_equal(smtp_reply_parse("220 a\0b\r\n", 9, &r), -EPROTO);
	assert_int_equal(smtp_reply_parse("220 a\0b", 7, &r), -EPROTO); /* before the end */
	assert_int_equal(parse("\r\n", &r), -EPROTO);
	assert_int_equal(parse("HTTP/1.1 400\r\n", &r), -EPROTO);
}

static void
test_reply_bounds(void **state)
{
	size_t big = SMTP_REPLY_BYTES_MAX * 2, i;
	char *buf = xmalloc(big + 1), *p;
	struct smtp_reply r;

	(void)state;
	/* a line at the limit is fine, one byte more is not, with or without its end */
	memset(buf, 'a', big);
	memcpy(buf, "220 ", 4);
	memcpy(buf + SMTP_REPLY_LINE_MAX - 2, "\r\n", 2);
	assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX, &r), SMTP_REPLY_LINE_MAX);
	assert_int_equal((int)strlen(r.text), SMTP_REPLY_TEXT_MAX - 1); /* cut */
	memset(buf, 'a', big);
	memcpy(buf, "220 ", 4);
	memcpy(buf + SMTP_REPLY_LINE_MAX - 1, "\r\n", 2);
	assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX + 1, &r), -EMSGSIZE);
	assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX - 1, &r), 0);
	memset(buf, 'a', big);
	memcpy(buf, "220 ", 4);
	assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX + 1, &r), -EMSGSIZE);

	/* the endless banner: SMTP_REPLY_LINES_MAX lines are the most */
	p = buf;
	for (i = 0; i < SMTP_REPLY_LINES_MAX - 1; i++) {
		memcpy(p, "220-x\r\n", 7);
		p += 7;
	}
	memcpy(p, "220 x\r\n", 7);
	assert_int_equal(smtp_reply_parse(buf, (size_t)(p + 7 - buf), &r), (int)(p + 7 - buf));
	assert_int_equal(r.n_lines, SMTP_REPLY_LINES_MAX);
	memcpy(p, "220-x\r\n", 7);
	memcpy(p + 7, "220 x\r\n", 7);
	assert_int_equal(smtp_reply_parse(buf, (size_t)(p + 14 - buf), &r), -E2BIG);
	/* an incomplete reply that fills the buffer */
	p = buf;
	for (i = 0; i < 20; i++) {
		memset(p, 'a', 1000);
		memcpy(p, "220-", 4);
		memcpy(p + 998, "\r\n", 2);
		p += 1000;
	}
	assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_BYTES_MAX, &r), -E2BIG);
	assert_int_equal(smtp_reply_parse(buf, 15000, &r), 0);
	free(buf);
}

static void
test_cert_match(void **state)
{
	(void)state;
	/* exact pattern */
	assert_int_equal(mx_probe_cert_match("mx1.example.com", "mx1.example.com"), 1);
	assert_int_equal(mx_probe_cert_match("mx1.example.com", "MX1.Example.COM"), 1);
	assert_int_equal(mx_probe_cert_match("mx1.example.com", "mx2.example.com"), 0);
	/* a certificate wildcard covers one label of an exact pattern */
	assert_int_equal(mx_probe_cert_match("mx1.example.com", "*.example.com"), 1);
	assert_int_equal(mx_probe_cert_match("a.mx1.example.com", "*.example.com"), 0);
	assert_int_equal(mx_probe_cert_match("example.com", "*.example.com"), 0);
	/* "*.x" is Postfix's ".x": any proper subdomain, any depth */
	assert_int_equal(mx_probe_cert_match("*.example.net", "mx.example.net"), 1);
	assert_int_equal(mx_probe_cert_match("*.example.net", "a.b.example.net"), 1);
	assert_int_equal(mx_probe_cert_match("*.example.net", "*.example.net"), 1);
	assert_int_equal(mx_probe_cert_match("*.example.net", "example.net"), 0);
	assert_int_equal(mx_probe_cert_match("*.example.net", "mx.other.net"), 0);
	assert_int_equal(mx_probe_cert_match("*.example.net", "xexample.net"), 0);
	assert_int_equal(mx_probe_cert_match("*.example.net", ".example.net"), 0);
	assert_int_equal(mx_probe_cert_match("mx.example.net", ""), 0);
	assert_int_equal(mx_probe_cert_match(NULL, "a"), 0);
}

static void
test_results(void **state)
{
	struct mx_host hosts[2] = {{.result = MX_RESULT_OK}, {.result = MX_RESULT_NAME}};
	struct mx_report rep = {.n_hosts = 2, .hosts = hosts};

	(void)state;
	assert_string_equal(mx_result_name(MX_RESULT_OK), "ok");
	assert_string_equal(mx_result_name(MX_RESULT_NO_STARTTLS), "no_starttls");
	assert_string_equal(mx_result_name(MX_RESULT_NAME), "name_mismatch");
	assert_string_equal(mx_result_name(MX_RESULT_N), "?");
	assert_int_equal(mx_report_ok(&rep), 0);
	hosts[1].result = MX_RESULT_OK;
	assert_int_equal(mx_report_ok(&rep), 1);
	rep.err = -ECANCELED;
	assert_int_equal(mx_report_ok(&rep), 0);
	rep.err = 0;
	hosts[1].result = MX_RESULT_NO_STARTTLS;
	rep.mode_none = 1; /* nothing required */
	assert_int_equal(mx_report_ok(&rep), 1);
	rep.n_hosts = 0;
	assert_int_equal(mx_report_ok(&rep), 0);
}

/* ---- the prober on a real loop ---- */

struct pt {
	struct loop *loop;
	struct cfg *cfg;
	struct dns_client *dns;
	struct mx_prober *prober;
	int calls;
	struct mx_report *rep;
	struct loop_timer guard;
};

static void
pt_done(struct mx_report *rep, void *arg)
{
	struct pt *t = arg;

	t->calls++;
	(void)mx_report_free(t->rep);
	t->rep = rep;
	loop_exit(t->loop, 0);
}

static void
pt_guard(struct loop *loop, struct loop_timer *tm, void *arg)
{
	(void)tm;
	(void)arg;
	loop_exit(loop, 1);
}

/* A listening TCP socket on 127.0.0.1, port into *ret_port. */
static int
pt_listen(uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

static void
pt_new(struct pt *t, uint16_t port, uint64_t step_ms)
{
	struct mx_probe_opts o = {.port = port,
	                          .step_timeout_ms = step_ms,
	                          .host_timeout_ms = 30000,
	                          .ehlo_name = "client.test"};

	memset(t, 0, sizeof(*t));
	assert_int_equal(loop_new(&t->loop), 0);
	t->cfg = testns_cfg(testns_port);
	t->cfg->resolver.dns_timeout_ms = 5000; /* a loaded machine */
	assert_int_equal(dns_client_new(t->loop, &t->cfg->resolver, &t->dns), 0);
	/* any PEM certificate will do as the trust anchor: nothing here gets to TLS */
	o.ca_file = TEST_DATA_DIR "/cfg/dummy-cert.pem";
	assert_int_equal(mx_prober_new(t->loop, t->dns, &o, &t->prober), 0);
}

/* Run until the probe's callback (or 60 s: the liveness bound). */
static void
pt_run(struct pt *t)
{
	loop_timer_start(t->loop, &t->guard, 60000, pt_guard, t);
	assert_int_equal(loop_run(t->loop), 0);
	loop_timer_stop(t->loop, &t->guard);
}

static void
pt_free(struct pt *t)
{
	t->prober = mx_prober_free(t->prober);
	t->dns = dns_client_free(t->dns);
	t->loop = loop_free(t->loop);
	(void)cfg_free(t->cfg);
	t->rep = mx_report_free(t->rep);
}

static const struct sts_policy pt_policy = {
        .mode = STS_MODE_ENFORCE, .max_age_s = 86400, .n_mx = 1, .mx = (char *[]){"*.p.test"}};

static void
test_probe_silent(void **state)
{
	struct pt t;
	uint16_t port;
	int lfd = pt_listen(&port); /* never accepts: the kernel completes the handshake */

	(void)state;
	pt_new(&t, port, 1000);
	assert_non_null(mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t));
	pt_run(&t);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.rep->err, 0);
	assert_int_equal(t.rep->n_hosts, 1);
	assert_string_equal(t.rep->hosts[0].name, "mx.p.test");
	assert_string_equal(t.rep->hosts[0].addr, "127.0.0.1");
	assert_int_equal(t.rep->hosts[0].result, MX_RESULT_SMTP);
	assert_string_equal(t.rep->hosts[0].error, "banner: no reply within 1000 ms");
	assert_int_equal(t.rep->hosts[0].mx_pattern, 0);
	assert_int_equal(t.rep->pattern_used[0], 1);
	pt_free(&t);
	(void)close(lfd);
}

static void
test_probe_closed(void **state)
{
	struct pt t;
	uint16_t port;
	char want[128];

	(void)state;
	(void)close(pt_listen(&port)); /* nothing listens there now */
	pt_new(&t, port, 5000);
	assert_non_null(mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t));
	pt_run(&t);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.rep->hosts[0].result, MX_RESULT_UNREACHABLE);
	(void)snprintf(want, sizeof(want), "connect: 127.0.0.1 port %u: Connection refused",
	               (unsigned)port);
	assert_string_equal(t.rep->hosts[0].error, want);
	assert_int_equal(mx_report_ok(t.rep), 0);
	pt_free(&t);
}

/* mx_prober_idle() drops the trust anchors between runs: the next probe reads them again (a
 * no-op while a probe runs); when they cannot be read any more, mx_probe_start() refuses. */
static void
test_probe_idle(void **state)
{
	struct pt t;
	uint16_t port;
	char ca[] = "/tmp/mtastsd-test-mxidle.XXXXXX", cmd[256];
	int fd;

	(void)state;
	(void)close(pt_listen(&port));
	pt_new(&t, port, 5000);
	mx_prober_idle(t.prober);
	assert_non_null(mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t));
	mx_prober_idle(t.prober); /* a probe runs: kept */
	pt_run(&t);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.rep->hosts[0].result, MX_RESULT_UNREACHABLE);
	pt_free(&t);

	/* a CA file that is gone by the next run */
	fd = mkstemp(ca);
	assert_true(fd >= 0);
	(void)close(fd);
	(void)snprintf(cmd, sizeof(cmd), "cp %s/cfg/dummy-cert.pem %s", TEST_DATA_DIR, ca);
	assert_int_equal(system(cmd), 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(loop_new(&t.loop), 0);
	t.cfg = testns_cfg(testns_port);
	assert_int_equal(dns_client_new(t.loop, &t.cfg->resolver, &t.dns), 0);
	{
		struct mx_probe_opts o = {.port = port, .ca_file = ca};

		assert_int_equal(mx_prober_new(t.loop, t.dns, &o, &t.prober), 0);
	}
	mx_prober_idle(t.prober);
	assert_int_equal(unlink(ca), 0);
	assert_null(mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t));
	assert_int_equal(t.calls, 0);
	pt_free(&t);
}

/* A server that sends its banner, reads EHLO and closes. */
static void
pt_server_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	int *state = arg, c;
	char buf[256];

	(void)events;
	if (*state == 0) {
		c = accept(fd, NULL, NULL);
		if (c < 0)
			return;
		assert_int_equal(write(c, "220 mx.p.test ESMTP\r\n", 21), 21);
		loop_io_del(loop, fd);
		*state = c;
		assert_int_equal(loop_io_add(loop, c, LOOP_READ, pt_server_io, state), 0);
		return;
	}
	if (read(fd, buf, sizeof(buf)) > 0) {
		loop_io_del(loop, fd);
		(void)close(fd);
	}
}

static void
test_probe_closed_after_banner(void **state)
{
	struct pt t;
	uint16_t port;
	int lfd = pt_listen(&port), srv = 0;

	(void)state;
	pt_new(&t, port, 5000);
	assert_int_equal(loop_io_add(t.loop, lfd, LOOP_READ, pt_server_io, &srv), 0);
	assert_non_null(mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t));
	pt_run(&t);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.rep->hosts[0].reachable, 1);
	assert_int_equal(t.rep->hosts[0].result, MX_RESULT_SMTP);
	assert_string_equal(t.rep->hosts[0].error, "EHLO: connection closed by the server");
	pt_free(&t);
	(void)close(lfd);
}

static void
test_probe_cancel(void **state)
{
	struct pt t;
	struct mx_probe *pr;
	uint16_t port;
	int lfd = pt_listen(&port);

	(void)state;
	/* cancel while the MX query is out: the callback runs at once, once */
	pt_new(&t, port, 5000);
	pr = mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t);
	assert_non_null(pr);
	assert_int_equal(t.calls, 0);
	mx_probe_cancel(pr);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.rep->err, -ECANCELED);
	assert_int_equal(t.rep->n_hosts, 0);
	pt_free(&t);

	/* free the prober while the host waits for its banner */
	pt_new(&t, port, 30000);
	assert_non_null(mx_probe_start(t.prober, "p.test", &pt_policy, pt_done, &t));
	loop_timer_start(t.loop, &t.guard, 1000, pt_guard, &t); /* connected by then, mostly */
	(void)loop_run(t.loop);
	assert_int_equal(t.calls, 0);
	t.prober = mx_prober_free(t.prober);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.rep->err, -ECANCELED);
	assert_int_equal(t.rep->n_hosts, 1);
	/* "banner: cancelled" (or an earlier step on a slow machine, valgrind) */
	assert_non_null(strstr(t.rep->hosts[0].error, ": cancelled"));
	assert_int_not_equal(t.rep->hosts[0].result, MX_RESULT_OK);
	pt_free(&t);
	(void)close(lfd);
	/* an invalid name starts nothing and never calls back */
	pt_new(&t, port, 5000);
	assert_null(mx_probe_start(t.prober, "bad..name", &pt_policy, pt_done, &t));
	pt_free(&t);
	assert_int_equal(t.calls, 0);
}

static int
pt_setup(void **state)
{
	(void)state;
	return testns_start() < 0 ? -1 : 0;
}

static int
pt_teardown(void **state)
{
	(void)state;
	testns_stop();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_reply_single),     cmocka_unit_test(test_reply_ehlo),
	        cmocka_unit_test(test_reply_incomplete), cmocka_unit_test(test_reply_strict),
	        cmocka_unit_test(test_reply_bounds),     cmocka_unit_test(test_cert_match),
	        cmocka_unit_test(test_results),
	};
	const struct CMUnitTest io_tests[] = {
	        cmocka_unit_test(test_probe_silent),
	        cmocka_unit_test(test_probe_closed),
	        cmocka_unit_test(test_probe_idle),
	        cmocka_unit_test(test_probe_closed_after_banner),
	        cmocka_unit_test(test_probe_cancel),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	return r + cmocka_run_group_tests(io_tests, pt_setup, pt_teardown);
}
