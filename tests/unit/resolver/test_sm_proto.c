/*
 * tests/unit/resolver/test_sm_proto.c - the socketmap protocol (resolver/sm_proto.c)
 *
 * 1. sm_request_parse(): keys as Postfix sends them, zones, keys without policy, malformed.
 * 2. sm_reply_encode(): exact netstrings, the SOCKETMAP_REPLY_MAX bound, ASCII hygiene.
 * The server that speaks it (tests/vectors/socketmap.tsv included) is tested in
 * test_sm_server.c.
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

#include "cfg.h"
#include "err.h"
#include "log.h"
#include "netstring.h"
#include "sm_proto.h"
#include "xalloc.h"

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

/* Every byte value at every position of data of 1..24 bytes (the replacement runs eight
 * bytes at a time, then byte by byte): the same as the byte-by-byte rule. */
static void
reply_byte_hygiene(void **state)
{
	char data[32], want[64], out[64];
	size_t len, pos, got;
	struct sm_reply r;
	unsigned b;

	for (len = 1; len <= 24; len++) {
		for (pos = 0; pos < len; pos++) {
			for (b = 1; b < 256; b++) {
				memset(data, 'a', len);
				data[len] = '\0';
				data[pos] = (char)b;
				(void)snprintf(want, sizeof(want), "%zu:OK %s,", len + 3, data);
				want[strlen(want) - len - 1 + pos] =
				        (b >= 0x20 && b < 0x7f) ? (char)b : '?';
				sm_reply_prepare(SM_OK, data, &r);
				assert_int_equal(r.st, SM_OK);
				assert_int_equal(r.len, strlen(want));
				got = sm_reply_write(&r, out, sizeof(out));
				assert_int_equal(got, r.len);
				assert_memory_equal(out, want, got);
			}
		}
	}
	/* a buffer one byte short: nothing written */
	sm_reply_prepare(SM_TEMP, "dns failure", &r);
	memset(out, '#', sizeof(out));
	assert_int_equal(sm_reply_write(&r, out, r.len - 1), 0);
	assert_int_equal(out[0], '#');
	assert_int_equal(sm_reply_write(&r, out, r.len), r.len);
	assert_memory_equal(out, "16:TEMP dns failure,", r.len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(request_keys),
	        cmocka_unit_test(request_zone_by_name),
	        cmocka_unit_test(reply_encoding),
	        cmocka_unit_test(reply_byte_hygiene),
	};

	log_open("test_sm_proto", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
