/*
 * tests/unit/common/test_domain.c - domain name normalisation, validation, next-hop keys
 *
 * Covers: case and trailing dot, every ERR_DOMAIN_* kind, label/name length edges
 * (63/64, 253/254), LDH rules (hyphens, underscore rejected), U-label -> A-label through
 * libidn2 (non-transitional: "faß" stays "ß"), IP literals, Postfix next-hop keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain.h"
#include "err.h"

static void
expect_norm(const char *in, const char *want)
{
	char out[DOMAIN_BUF];
	int r = domain_normalize(in, out);

	if (r != 0)
		fail_msg("domain_normalize('%s') = %d (%s), want '%s'", in, r, err_str(r), want);
	assert_string_equal(out, want);
}

static void
expect_norm_err(const char *in, int err)
{
	char out[DOMAIN_BUF] = "unchanged";
	int r = domain_normalize(in, out);

	if (r != err)
		fail_msg("domain_normalize('%s') = %d (%s), want %d (%s)", in, r, err_str(r), err,
		         err_str(err));
	assert_string_equal(out, "unchanged"); /* output written only on success */
}

/* "a" * n */
static char *
rep(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void
test_normalize_basic(void **state)
{
	expect_norm("example.com", "example.com");
	expect_norm("EXAMPLE.com", "example.com");
	expect_norm("Mail.Example.COM.", "mail.example.com");
	expect_norm("localhost", "localhost");
	expect_norm("a-b.c-d.example", "a-b.c-d.example");
	expect_norm("xn--bcher-kva.example", "xn--bcher-kva.example");
	expect_norm("XN--BCHER-KVA.example", "xn--bcher-kva.example");
	expect_norm("3com.example", "3com.example");
	expect_norm("a.b.c.d.e.f", "a.b.c.d.e.f");
	expect_norm("123.example", "123.example");
}

static void
test_normalize_errors(void **state)
{
	expect_norm_err("", ERR_DOMAIN_EMPTY);
	expect_norm_err(".", ERR_DOMAIN_EMPTY);
	expect_norm_err("a..b", ERR_DOMAIN_EMPTY_LABEL);
	expect_norm_err(".example.com", ERR_DOMAIN_EMPTY_LABEL);
	expect_norm_err("example.com..", ERR_DOMAIN_EMPTY_LABEL);
	expect_norm_err("-mail.example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("mail-.example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("mail.-example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("_mta-sts.example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("mail_1.example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("mail example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("*.example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("example.com:25", ERR_DOMAIN_CHAR);
	expect_norm_err("[mx.example.com]", ERR_DOMAIN_CHAR);
	expect_norm_err("mail/example.com", ERR_DOMAIN_CHAR);
	expect_norm_err("192.0.2.1", ERR_DOMAIN_IP_LITERAL);
	expect_norm_err("192.0.2.1.", ERR_DOMAIN_IP_LITERAL);
	expect_norm_err("::1", ERR_DOMAIN_IP_LITERAL);
	expect_norm_err("2001:db8::1", ERR_DOMAIN_IP_LITERAL);
	expect_norm_err("[192.0.2.1]", ERR_DOMAIN_IP_LITERAL);
	expect_norm_err("192.0.2", ERR_DOMAIN_IP_LITERAL);          /* all-digit last label */
	expect_norm_err("mail.example.123", ERR_DOMAIN_IP_LITERAL); /* RFC 3696 section 2 */
}

static void
test_normalize_lengths(void **state)
{
	char label[80], name[600], want[sizeof(name) + 2];
	size_t i;

	/* 63-octet label ok, 64 not */
	(void)snprintf(name, sizeof(name), "%s.example", rep(label, 'a', 63));
	expect_norm(name, name);
	(void)snprintf(name, sizeof(name), "%s.example", rep(label, 'a', 64));
	expect_norm_err(name, ERR_DOMAIN_LABEL_LONG);
	/* 253 octets ok (with or without the trailing dot), 254 not */
	name[0] = '\0';
	for (i = 0; i < 4; i++) {
		rep(label, (char)('a' + i), i < 3 ? 63 : 61);
		(void)strncat(name, label, sizeof(name) - strlen(name) - 1);
		if (i < 3)
			(void)strncat(name, ".", sizeof(name) - strlen(name) - 1);
	}
	assert_int_equal(strlen(name), 253);
	expect_norm(name, name);
	(void)snprintf(want, sizeof(want), "%s.", name);
	expect_norm(want, name);
	(void)snprintf(want, sizeof(want), "%sb", name);
	assert_int_equal(strlen(want), 254);
	expect_norm_err(want, ERR_DOMAIN_NAME_LONG);
	/* absurdly long input is refused before any IDN work */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (i = 50; i < sizeof(name) - 1; i += 50)
		name[i] = '.';
	expect_norm_err(name, ERR_DOMAIN_NAME_LONG);
}

static void
test_normalize_idn(void **state)
{
	expect_norm("b\xc3\xbc"
	            "cher.example",
	            "xn--bcher-kva.example");
	expect_norm("B\xc3\x9c"
	            "CHER.Example.",
	            "xn--bcher-kva.example");
	expect_norm("m\xc3\xa4il.example.com", "xn--mil-qla.example.com");
	/* non-transitional (IDNA2008): sharp s is kept, not mapped to "ss" */
	expect_norm("fa\xc3\x9f.de", "xn--fa-hia.de");
	/* ideographic full stop maps to '.' */
	expect_norm("b\xc3\xbc"
	            "cher\xe3\x80\x82"
	            "example",
	            "xn--bcher-kva.example");
	/* invalid UTF-8 and disallowed code points */
	expect_norm_err("b\xfc"
	                "cher.example",
	                ERR_DOMAIN_IDN);
	expect_norm_err("\xe2\x98\x83.example", ERR_DOMAIN_IDN); /* U+2603 snowman */
	expect_norm_err("m\xc3\xa4il..example", ERR_DOMAIN_EMPTY_LABEL);
}

static void
test_ip_literal(void **state)
{
	assert_true(domain_is_ip_literal("192.0.2.1"));
	assert_true(domain_is_ip_literal("[192.0.2.1]"));
	assert_true(domain_is_ip_literal("2001:db8::1"));
	assert_true(domain_is_ip_literal("[2001:db8::1]"));
	assert_true(domain_is_ip_literal("[ipv6:2001:db8::1]"));
	assert_true(domain_is_ip_literal("[IPv6:::1]"));
	assert_true(domain_is_ip_literal("::ffff:192.0.2.1"));
	assert_false(domain_is_ip_literal("[ipv6:192.0.2.1]"));
	assert_false(domain_is_ip_literal("example.com"));
	assert_false(domain_is_ip_literal("192.0.2.1.example"));
	assert_false(domain_is_ip_literal("192.0.2.256"));
	assert_false(domain_is_ip_literal(""));
	assert_false(domain_is_ip_literal("[]"));
	assert_false(domain_is_ip_literal("[192.0.2.1"));
}

static void
test_validate(void **state)
{
	assert_int_equal(domain_validate("mail.example.com", 16), 0);
	assert_int_equal(domain_validate("MAIL.example.com", 16), 0); /* no case folding needed */
	assert_int_equal(domain_validate("mail.example.com.", 17), ERR_DOMAIN_EMPTY_LABEL);
	assert_int_equal(domain_validate("m\xc3\xa4il.example", 13), ERR_DOMAIN_CHAR);
	assert_int_equal(domain_validate("mail.example.com", 4), 0); /* only "mail" */
	assert_int_equal(domain_validate("", 0), ERR_DOMAIN_EMPTY);
	assert_int_equal(domain_validate("10.0.0.1", 8), ERR_DOMAIN_IP_LITERAL);
	assert_int_equal(domain_validate("a\0b", 3), ERR_DOMAIN_CHAR);
}

static void
expect_hop(const char *key, const char *want)
{
	char out[DOMAIN_BUF];
	int r = domain_from_nexthop(key, strlen(key), out);

	if (r != 0)
		fail_msg("domain_from_nexthop('%s') = %d (%s), want '%s'", key, r, err_str(r),
		         want);
	assert_string_equal(out, want);
}

static void
expect_hop_err(const char *key, int err)
{
	char out[DOMAIN_BUF];
	int r = domain_from_nexthop(key, strlen(key), out);

	if (r != err)
		fail_msg("domain_from_nexthop('%s') = %d (%s), want %d (%s)", key, r, err_str(r),
		         err, err_str(err));
}

static void
test_nexthop(void **state)
{
	char out[DOMAIN_BUF];

	expect_hop("example.com", "example.com");
	expect_hop("EXAMPLE.com.", "example.com");
	expect_hop("[mx.example.com]", "mx.example.com");
	expect_hop("[mx.example.com]:587", "mx.example.com");
	expect_hop("[MX.Example.com.]:submission", "mx.example.com");
	expect_hop("example.com:25", "example.com");
	expect_hop("example.com:2525", "example.com");
	expect_hop("b\xc3\xbc"
	           "cher.example",
	           "xn--bcher-kva.example");
	expect_hop_err(".example.com", ERR_DOMAIN_PARENT_PROBE);
	expect_hop_err(".com", ERR_DOMAIN_PARENT_PROBE);
	expect_hop_err("[192.0.2.1]", ERR_DOMAIN_IP_LITERAL);
	expect_hop_err("[192.0.2.1]:25", ERR_DOMAIN_IP_LITERAL);
	expect_hop_err("[ipv6:2001:db8::1]", ERR_DOMAIN_IP_LITERAL);
	expect_hop_err("[ipv6:2001:db8::1]:587", ERR_DOMAIN_IP_LITERAL);
	expect_hop_err("192.0.2.1", ERR_DOMAIN_IP_LITERAL);
	expect_hop_err("2001:db8::1", ERR_DOMAIN_IP_LITERAL);
	expect_hop_err("", ERR_DOMAIN_EMPTY);
	expect_hop_err("[]", ERR_DOMAIN_EMPTY);
	expect_hop_err("[]:25", ERR_DOMAIN_EMPTY);
	expect_hop_err(":25", ERR_DOMAIN_EMPTY);
	expect_hop_err("[mx.example.com", ERR_DOMAIN_CHAR);
	expect_hop_err("[mx.example.com]x", ERR_DOMAIN_CHAR);
	expect_hop_err("[mx.example.com]:", ERR_DOMAIN_CHAR);
	expect_hop_err("example.com:", ERR_DOMAIN_CHAR);
	expect_hop_err("example.com:25:26", ERR_DOMAIN_CHAR);
	expect_hop_err("example.com:2 5", ERR_DOMAIN_CHAR);
	expect_hop_err("a..example.com", ERR_DOMAIN_EMPTY_LABEL);
	expect_hop_err("_mta-sts.example.com", ERR_DOMAIN_CHAR);
	/* keylen bounds the key: bytes after it are ignored, embedded NUL rejected */
	assert_int_equal(domain_from_nexthop("example.com:25 junk", 14, out), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(domain_from_nexthop("example\0.com", 12, out), ERR_DOMAIN_CHAR);
}

/* What a next hop says about the connection, for the DANE half (issue 22 part 6). */
static void
expect_conn(const char *key, const char *want, int relay, unsigned port)
{
	char out[DOMAIN_BUF];
	struct domain_nexthop nh = {.relay = -1, .port = 1};
	int r = domain_nexthop_parse(key, strlen(key), out, &nh);

	if (r != 0)
		fail_msg("domain_nexthop_parse('%s') = %d (%s)", key, r, err_str(r));
	assert_string_equal(out, want);
	if (nh.relay != relay || nh.port != port)
		fail_msg("domain_nexthop_parse('%s'): relay %d port %u, want relay %d port %u", key,
		         nh.relay, (unsigned)nh.port, relay, port);
}

static void
test_nexthop_connection(void **state)
{
	char out[DOMAIN_BUF];
	struct domain_nexthop nh = {.relay = 7, .port = 7};

	expect_conn("example.com", "example.com", 0, 25);
	expect_conn("example.com:25", "example.com", 0, 25);
	expect_conn("example.com:2525", "example.com", 0, 2525);
	expect_conn("[mx.example.com]", "mx.example.com", 1, 25);
	expect_conn("[mx.example.com]:587", "mx.example.com", 1, 587);
	expect_conn("[smtp.sendgrid.net]:587", "smtp.sendgrid.net", 1, 587);
	expect_conn("[MX.Example.com.]:submission", "mx.example.com", 1, 587);
	expect_conn("[mx.example.com]:SMTP", "mx.example.com", 1, 25);
	expect_conn("[mx.example.com]:submissions", "mx.example.com", 1, 465);
	expect_conn("[mx.example.com]:smtps", "mx.example.com", 1, 465);
	expect_conn("[mx.example.com]:lmtp", "mx.example.com", 1, 24);
	expect_conn("[mx.example.com]:65535", "mx.example.com", 1, 65535);
	/* no port this function can name: 0 (the DANE half then looks up no TLSA name) */
	expect_conn("[mx.example.com]:x-mail", "mx.example.com", 1, 0);
	expect_conn("[mx.example.com]:0", "mx.example.com", 1, 0);
	expect_conn("[mx.example.com]:65536", "mx.example.com", 1, 0);
	expect_conn("example.com:99999999999999999999", "example.com", 0, 0);
	/* errors leave *ret_nh alone */
	assert_int_equal(domain_nexthop_parse("[192.0.2.1]:25", 14, out, &nh),
	                 ERR_DOMAIN_IP_LITERAL);
	assert_int_equal(domain_nexthop_parse(".example.com", 12, out, &nh),
	                 ERR_DOMAIN_PARENT_PROBE);
	assert_int_equal(domain_nexthop_parse("[mx.example.com", 15, out, &nh), ERR_DOMAIN_CHAR);
	assert_int_equal(nh.relay, 7);
	assert_int_equal(nh.port, 7);
	/* NULL: domain_from_nexthop() */
	assert_int_equal(domain_nexthop_parse("[mx.example.com]:587", 20, out, NULL), 0);
	assert_string_equal(out, "mx.example.com");
}

/* RFC 6125 section 6.4.3 as the publisher and the config loader match certificate names. */
static void
test_cert_name_match(void **state)
{
	(void)state;
	assert_int_equal(domain_cert_name_match("mta-sts.example.com", "mta-sts.example.com"), 1);
	assert_int_equal(domain_cert_name_match("MTA-STS.Example.COM", "mta-sts.example.com"), 1);
	assert_int_equal(domain_cert_name_match("*.example.com", "mta-sts.example.com"), 1);
	assert_int_equal(domain_cert_name_match("*.EXAMPLE.com", "mta-sts.example.com"), 1);
	assert_int_equal(domain_cert_name_match("*.example.com", "example.com"), 0);
	assert_int_equal(domain_cert_name_match("*.example.com", "a.b.example.com"), 0);
	assert_int_equal(domain_cert_name_match("*.example.com", ".example.com"), 0);
	assert_int_equal(domain_cert_name_match("mta*.example.com", "mta-sts.example.com"), 0);
	assert_int_equal(domain_cert_name_match("*", "localhost"), 0);
	assert_int_equal(domain_cert_name_match("example.com", "mta-sts.example.com"), 0);
}

/* domain_validate() as it was written before its two passes became one (the IP literal
 * test through domain_is_ip_literal(): the drawn names below have no NUL). */
static int
validate_two_pass(const char *s, size_t len)
{
	char copy[512];
	size_t i, start = 0;
	int all_digits = 1;

	if (len == 0)
		return ERR_DOMAIN_EMPTY;
	memcpy(copy, s, len);
	copy[len] = '\0';
	if (domain_is_ip_literal(copy))
		return ERR_DOMAIN_IP_LITERAL;
	for (i = 0; i <= len; i++) {
		size_t ll;

		if (i < len && s[i] != '.')
			continue;
		ll = i - start;
		if (ll == 0)
			return ERR_DOMAIN_EMPTY_LABEL;
		if (ll > 63)
			return ERR_DOMAIN_LABEL_LONG;
		start = i + 1;
	}
	if (len > 253)
		return ERR_DOMAIN_NAME_LONG;
	start = 0;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (s[start] == '-' || s[i - 1] == '-')
				return ERR_DOMAIN_CHAR;
			start = i + 1;
			if (i < len)
				all_digits = 1;
			continue;
		}
		if (c < '0' || c > '9')
			all_digits = 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) &&
		    !(c >= '0' && c <= '9') && c != '-')
			return ERR_DOMAIN_CHAR;
	}
	if (all_digits)
		return ERR_DOMAIN_IP_LITERAL;
	return 0;
}

/* The one-pass domain_validate() against the two-pass one, on drawn names: labels of 0..70
 * bytes (around the 63 limit) from an alphabet with the characters of every error (hyphen,
 * underscore, colon, a non-ASCII byte, digits only), names up to ~300 bytes. */
static void
test_validate_same_as_two_pass(void **state)
{
	static const char chars[] = "abZ09--._:\x80xy1";
	char name[400];
	uint32_t seed = 4242;
	int iter;

	for (iter = 0; iter < 200000; iter++) {
		size_t len = 0, labels, l, k, ll;

		seed = seed * 1103515245u + 12345u;
		labels = 1 + (seed >> 16) % 6;
		for (l = 0; l < labels && len < 300; l++) {
			seed = seed * 1103515245u + 12345u;
			ll = (seed >> 16) % 8 == 0 ? 58 + (seed >> 20) % 10 : (seed >> 16) % 12;
			for (k = 0; k < ll && len < 300; k++) {
				seed = seed * 1103515245u + 12345u;
				/* mostly letters, so that some names are valid */
				name[len++] = (seed >> 16) % 4
				                      ? "abcmx"[(seed >> 20) % 5]
				                      : chars[(seed >> 20) % (sizeof(chars) - 1)];
			}
			if (l + 1 < labels && len < 300)
				name[len++] = '.';
		}
		name[len] = '\0';
		assert_int_equal(domain_validate(name, len), validate_two_pass(name, len));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_normalize_basic),
	        cmocka_unit_test(test_normalize_errors),
	        cmocka_unit_test(test_normalize_lengths),
	        cmocka_unit_test(test_normalize_idn),
	        cmocka_unit_test(test_ip_literal),
	        cmocka_unit_test(test_validate),
	        cmocka_unit_test(test_validate_same_as_two_pass),
	        cmocka_unit_test(test_nexthop),
	        cmocka_unit_test(test_cert_name_match),
	        cmocka_unit_test(test_nexthop_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
