/*
 * tests/unit/resolver/test_mx_probe.c - the MX check's parts without I/O (resolver/mx_probe.c)
 *
 * 1. smtp_reply_parse(): single and multi-line replies, STARTTLS among the EHLO keywords,
 *    incomplete input, strictness (codes, separators, mixed codes, NUL, bare CR), and the
 *    bounds (line length, line count, reply size) an endless or huge reply runs into.
 * 2. mx_probe_cert_match(): Postfix "secure match=" semantics over mx_match().
 * 3. mx_result_name(), mx_report_ok().
 * The prober itself (sockets, GnuTLS, real Postfix and hostile servers) is tested by
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

#include "mx_probe.h"
#include "xalloc.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_reply_single),     cmocka_unit_test(test_reply_ehlo),
	        cmocka_unit_test(test_reply_incomplete), cmocka_unit_test(test_reply_strict),
	        cmocka_unit_test(test_reply_bounds),     cmocka_unit_test(test_cert_match),
	        cmocka_unit_test(test_results),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
