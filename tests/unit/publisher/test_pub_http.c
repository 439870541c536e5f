/*
 * tests/unit/publisher/test_pub_http.c - Host header parsing, %-decoding and SNI choice
 *
 * Covers: pub_http_host_name() (port, trailing dot, IPv6 literals, junk), httpd_unescape()
 *         (%00 stays literal), pub_snap_find_host() (case-insensitive), pub_tls_pick()
 *         (exact host, SAN and wildcard match, fallback to the first domain),
 *         pub_tlsrpt_rate_count() (colliding addresses keep their own counts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts_limits.h"
#include "httpd.h"
#include "pub_route.h"

static void
assert_host(const char *in, const char *want)
{
	const char *name = NULL;
	size_t len;

	len = pub_http_host_name(in, &name);
	if (want == NULL) {
		assert_int_equal(len, 0);
		return;
	}
	assert_int_equal(len, strlen(want));
	assert_memory_equal(name, want, len);
}

static void
test_host_name(void **state)
{
	(void)state;
	assert_host("mta-sts.example.com", "mta-sts.example.com");
	assert_host("MTA-STS.Example.COM:443", "MTA-STS.Example.COM");
	assert_host("mta-sts.example.com.", "mta-sts.example.com");
	assert_host("mta-sts.example.com.:8443", "mta-sts.example.com");
	assert_host("[2001:db8::1]:443", "[2001:db8::1]");
	assert_host("[2001:db8::1]", "[2001:db8::1]");
	assert_host("192.0.2.1:80", "192.0.2.1");
	assert_host(NULL, NULL);
	assert_host("", NULL);
	assert_host(":443", NULL);
	assert_host(".example.com", NULL);
	assert_host("a/b", NULL);
	assert_host("a b", NULL);
	assert_host("example.com:", NULL);
	assert_host("example.com:44x", NULL);
	assert_host("example.com:1234567", NULL);
	assert_host("[zz::1]", NULL);
	assert_host("[]", NULL);
	assert_host("[::1]x", NULL);
	assert_host("exa\rmple.com", NULL);
}

static void
assert_unescape(const char *in, const char *want, size_t want_len)
{
	char buf[128];
	size_t len;

	snprintf(buf, sizeof(buf), "%s", in);
	len = httpd_unescape(NULL, NULL, buf);
	assert_int_equal(len, want_len);
	assert_memory_equal(buf, want, want_len);
}

static void
test_unescape(void **state)
{
	(void)state;
	assert_unescape("/a%20b", "/a b", 4);
	assert_unescape("..%2f..%2Fx", "../../x", 7);
	assert_unescape("tok%00.x", "tok%00.x", 8);
	assert_unescape("%", "%", 1);
	assert_unescape("%4", "%4", 2);
	assert_unescape("%zz", "%zz", 3);
	assert_unescape("%41%42", "AB", 2);
}

static char *names_a[] = {"mta-sts.a.test"};
static char *names_b[] = {"mta-sts.b.test", "*.c.test"};

static void
test_pick(void **state)
{
	struct pub_cert ca = {.names = names_a, .n_names = 1};
	struct pub_cert cb = {.names = names_b, .n_names = 2};
	struct pub_cert *certs[] = {&ca, &cb};
	struct pub_dom doms[] = {
	        {.domain = "a.test", .host = "mta-sts.a.test", .cert = &ca},
	        {.domain = "b.test", .host = "mta-sts.b.test", .cert = &cb},
	        /* configured with a's files although b's certificate would match */
	        {.domain = "c.test", .host = "mta-sts.c.test", .cert = &ca},
	};
	struct pub_snap s = {.doms = doms, .n_doms = 3, .certs = certs, .n_certs = 2};

	(void)state;
	assert_ptr_equal(pub_tls_pick(&s, "mta-sts.a.test"), &ca);
	assert_ptr_equal(pub_tls_pick(&s, "MTA-STS.B.TEST"), &cb);
	assert_ptr_equal(pub_tls_pick(&s, "mta-sts.c.test"), &ca);
	assert_ptr_equal(pub_tls_pick(&s, "www.c.test"), &cb);
	assert_ptr_equal(pub_tls_pick(&s, "a.b.c.test"), &ca);
	assert_ptr_equal(pub_tls_pick(&s, "c.test"), &ca);
	assert_ptr_equal(pub_tls_pick(&s, "unknown.test"), &ca);
	assert_ptr_equal(pub_tls_pick(&s, ""), &ca);
	assert_ptr_equal(pub_tls_pick(&s, NULL), &ca);
	assert_true(pub_cert_covers(&cb, "x.c.test"));
	assert_false(pub_cert_covers(&cb, "x.y.c.test"));
	assert_false(pub_cert_covers(&cb, ".c.test"));

	assert_ptr_equal(pub_snap_find_host(&s, "MTA-STS.b.test", 14), &doms[1]);
	assert_ptr_equal(pub_snap_find_host(&s, "mta-sts.b.test.extra", 14), &doms[1]);
	assert_null(pub_snap_find_host(&s, "mta-sts.b.tes", 13));
	assert_null(pub_snap_find_host(&s, "b.test", 6));
}

/* Colliding addresses (same set of the rate table) keep their own counts: alternating
 * two of them (127.7.5.188 and 127.7.10.1 collided in the direct-mapped table, and each
 * reset the other's count: no 429 in 300 POSTs) gives each its rate, then -1. */
static void
test_tlsrpt_rate_collide(void **state)
{
	struct pub_tlsrpt_rate *t = calloc(PUB_TLSRPT_RATE_SLOTS, sizeof(*t));
	const uint64_t a = 12345, b = a + PUB_TLSRPT_RATE_SLOTS, w = 7;
	unsigned ok_a = 0, ok_b = 0, i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < 300; i++) {
		ok_a += pub_tlsrpt_rate_count(t, a, w, 60) == 0;
		ok_b += pub_tlsrpt_rate_count(t, b, w, 60) == 0;
	}
	assert_int_equal(ok_a, 60);
	assert_int_equal(ok_b, 60);
	/* a new window counts again */
	assert_int_equal(pub_tlsrpt_rate_count(t, a, w + 1, 60), 0);
	/* more colliding addresses than the set holds, round robin: a newcomer takes over the
	 * least recently used entry with its count, so the set lets through at most
	 * PUB_TLSRPT_RATE_WAYS x rate in a window, never more */
	memset(t, 0, PUB_TLSRPT_RATE_SLOTS * sizeof(*t));
	ok_a = 0;
	for (i = 0; i < 3000; i++)
		ok_a += pub_tlsrpt_rate_count(t,
		                              a + (uint64_t)(i % (PUB_TLSRPT_RATE_WAYS + 3)) *
		                                              PUB_TLSRPT_RATE_SLOTS,
		                              w, 10) == 0;
	assert_true(ok_a <= PUB_TLSRPT_RATE_WAYS * 10);
	assert_true(ok_a >= 10);
	/* an address of another set is not affected */
	assert_int_equal(pub_tlsrpt_rate_count(t, a + 1, w, 10), 0);
	/* rate 0: no limit */
	assert_int_equal(pub_tlsrpt_rate_count(t, a, w, 0), 0);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_host_name),
	        cmocka_unit_test(test_unescape),
	        cmocka_unit_test(test_pick),
	        cmocka_unit_test(test_tlsrpt_rate_collide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
