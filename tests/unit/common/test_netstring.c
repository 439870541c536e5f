/*
 * tests/unit/common/test_netstring.c - netstring encoder and incremental decoder
 *
 * Covers: round trips, byte-at-a-time feeding, several netstrings in one buffer, every
 * framing error (leading zero, non-digit, missing ':' or ','), the length limit checked on
 * the digits alone (no payload buffered, no allocation), dead-stream behaviour, encoder
 * bounds.
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

#include "err.h"
#include "netstring.h"

/* Feed all of s; returns the feed result and the bytes used. */
static int
feed_all(struct netstring_dec *d, const char *s, size_t len, size_t *used)
{
	return netstring_dec_feed(d, s, len, used);
}

static void
test_decode_simple(void **state)
{
	struct netstring_dec d;
	size_t used = 99;

	netstring_dec_init(&d, 100);
	assert_int_equal(feed_all(&d, "12:hello world!,", 16, &used), 1);
	assert_int_equal(used, 16);
	assert_int_equal(d.len, 12);
	assert_memory_equal(d.buf, "hello world!", 12);
	assert_int_equal(d.buf[12], '\0');
	netstring_dec_free(&d);
}

static void
test_decode_empty_payload(void **state)
{
	struct netstring_dec d;
	size_t used = 0;

	netstring_dec_init(&d, 10);
	assert_int_equal(netstring_dec_feed(&d, "0:,", 3, &used), 1);
	assert_int_equal(used, 3);
	assert_int_equal(d.len, 0);
	assert_string_equal(d.buf, "");
	netstring_dec_free(&d);
}

static void
test_decode_byte_by_byte(void **state)
{
	const char *s = "25:postfix mx.example.com:25,";
	struct netstring_dec d;
	size_t i, used;
	int r = 0;

	netstring_dec_init(&d, 1000);
	for (i = 0; i < strlen(s); i++) {
		r = netstring_dec_feed(&d, s + i, 1, &used);
		assert_int_equal(used, 1);
		if (i + 1 < strlen(s))
			assert_int_equal(r, 0);
	}
	assert_int_equal(r, 1);
	assert_int_equal(d.len, 25);
	assert_string_equal(d.buf, "postfix mx.example.com:25");
	netstring_dec_free(&d);
}

static void
test_decode_pipelined(void **state)
{
	const char *s = "3:abc,5:de:f,,0:,";
	struct netstring_dec d;
	size_t off = 0, used;

	netstring_dec_init(&d, 10);
	assert_int_equal(netstring_dec_feed(&d, s, strlen(s), &used), 1);
	assert_int_equal(used, 6);
	assert_string_equal(d.buf, "abc");
	/* complete and not reset: feeding again consumes nothing */
	assert_int_equal(netstring_dec_feed(&d, s + 6, strlen(s) - 6, &used), 1);
	assert_int_equal(used, 0);
	off = 6;
	netstring_dec_reset(&d);
	assert_int_equal(netstring_dec_feed(&d, s + off, strlen(s) - off, &used), 1);
	assert_int_equal(used, 8);
	assert_int_equal(d.len, 5);
	assert_memory_equal(d.buf, "de:f,", 5);
	off += used;
	netstring_dec_reset(&d);
	assert_int_equal(netstring_dec_feed(&d, s + off, strlen(s) - off, &used), 1);
	assert_int_equal(used, 3);
	assert_int_equal(d.len, 0);
	netstring_dec_free(&d);
}

static void
test_decode_binary_payload(void **state)
{
	const char s[] = "4:a\0\xff\n,";
	struct netstring_dec d;
	size_t used;

	netstring_dec_init(&d, 10);
	assert_int_equal(netstring_dec_feed(&d, s, sizeof(s) - 1, &used), 1);
	assert_int_equal(d.len, 4);
	assert_memory_equal(d.buf, "a\0\xff\n", 4);
	netstring_dec_free(&d);
}

static void
expect_error(const char *s, size_t max, int err, size_t expect_used)
{
	struct netstring_dec d;
	size_t used = 12345;

	netstring_dec_init(&d, max);
	assert_int_equal(netstring_dec_feed(&d, s, strlen(s), &used), err);
	assert_int_equal(used, expect_used);
	/* the stream is dead: the same error again, nothing consumed */
	assert_int_equal(netstring_dec_feed(&d, "0:,", 3, &used), err);
	assert_int_equal(used, 0);
	netstring_dec_free(&d);
}

static void
test_decode_format_errors(void **state)
{
	expect_error("01:a,", 10, ERR_NETSTRING_FORMAT, 1);  /* leading zero */
	expect_error("00:,", 10, ERR_NETSTRING_FORMAT, 1);   /* leading zero */
	expect_error(":abc,", 10, ERR_NETSTRING_FORMAT, 0);  /* empty length */
	expect_error("a:abc,", 10, ERR_NETSTRING_FORMAT, 0); /* non-digit */
	expect_error("3x:abc,", 10, ERR_NETSTRING_FORMAT, 1);
	expect_error("-3:abc,", 10, ERR_NETSTRING_FORMAT, 0);
	expect_error(" 3:abc,", 10, ERR_NETSTRING_FORMAT, 0);
	expect_error("+3:abc,", 10, ERR_NETSTRING_FORMAT, 0);
	expect_error("3:abcd", 10, ERR_NETSTRING_FORMAT, 5); /* 'd' where ',' belongs */
	expect_error("3:abc;", 10, ERR_NETSTRING_FORMAT, 5);
	expect_error("0:x", 10, ERR_NETSTRING_FORMAT, 2);
	expect_error("3,abc,", 10, ERR_NETSTRING_FORMAT, 1); /* ',' instead of ':' */
}

static void
test_decode_too_long_from_digits(void **state)
{
	struct netstring_dec d;
	size_t used;

	/* limit 10: "11" fails on the second digit, before ':' or any payload */
	netstring_dec_init(&d, 10);
	assert_int_equal(netstring_dec_feed(&d, "1", 1, &used), 0);
	assert_int_equal(netstring_dec_feed(&d, "1", 1, &used), ERR_NETSTRING_TOO_LONG);
	assert_int_equal(used, 0);
	assert_null(d.buf);
	netstring_dec_free(&d);

	/* exactly the limit is fine */
	netstring_dec_init(&d, 10);
	assert_int_equal(netstring_dec_feed(&d, "10:0123456789,", 14, &used), 1);
	assert_int_equal(d.len, 10);
	assert_true(d.bufsz <= 11);
	netstring_dec_free(&d);

	/* a huge announced length: rejected, nothing allocated */
	expect_error("99999999999999999999999999999999:", 10000, ERR_NETSTRING_TOO_LONG, 4);
	netstring_dec_init(&d, 10000);
	assert_int_equal(netstring_dec_feed(&d, "10001:", 6, &used), ERR_NETSTRING_TOO_LONG);
	assert_int_equal(used, 4);
	assert_null(d.buf);
	netstring_dec_free(&d);

	/* no wrap-around even with the largest limit */
	netstring_dec_init(&d, SIZE_MAX);
	assert_int_equal(netstring_dec_feed(&d, "18446744073709551616:", 21, &used),
	                 ERR_NETSTRING_TOO_LONG);
	assert_null(d.buf);
	netstring_dec_free(&d);

	/* limit 0 accepts only the empty netstring */
	netstring_dec_init(&d, 0);
	assert_int_equal(netstring_dec_feed(&d, "1:a,", 4, &used), ERR_NETSTRING_TOO_LONG);
	netstring_dec_free(&d);
	netstring_dec_init(&d, 0);
	assert_int_equal(netstring_dec_feed(&d, "0:,", 3, &used), 1);
	netstring_dec_free(&d);
}

static void
test_decode_partial(void **state)
{
	struct netstring_dec d;
	size_t used;

	netstring_dec_init(&d, 100);
	assert_int_equal(netstring_dec_feed(&d, "5:ab", 4, &used), 0);
	assert_int_equal(used, 4);
	assert_int_equal(d.have, 2);
	assert_int_equal(netstring_dec_feed(&d, "cde", 3, &used), 0);
	assert_int_equal(used, 3);
	assert_int_equal(netstring_dec_feed(&d, ",5:", 3, &used), 1);
	assert_int_equal(used, 1);
	assert_string_equal(d.buf, "abcde");
	/* reuse after reset: the buffer is kept */
	netstring_dec_reset(&d);
	assert_int_equal(netstring_dec_feed(&d, "2:xy,", 5, &used), 1);
	assert_string_equal(d.buf, "xy");
	assert_int_equal(netstring_dec_feed(&d, "", 0, &used), 1);
	assert_int_equal(used, 0);
	netstring_dec_free(&d);
	netstring_dec_free(&d); /* idempotent */
}

static void
test_encode(void **state)
{
	char out[64];
	long n;

	assert_int_equal(netstring_encoded_len(0), 3);
	assert_int_equal(netstring_encoded_len(9), 12);
	assert_int_equal(netstring_encoded_len(10), 14);
	assert_int_equal(netstring_encoded_len(100000), 100008);

	n = netstring_encode(out, sizeof(out), "OK secure", 9);
	assert_int_equal(n, 12);
	assert_string_equal(out, "9:OK secure,");
	n = netstring_encode(out, sizeof(out), "", 0);
	assert_int_equal(n, 3);
	assert_string_equal(out, "0:,");
	n = netstring_encode(out, sizeof(out), "NOTFOUND ", 9);
	assert_string_equal(out, "9:NOTFOUND ,");
	/* exactly enough room: no NUL written, still correct */
	memset(out, 'Z', sizeof(out));
	n = netstring_encode(out, 12, "0123456789", 10);
	assert_int_equal(n, -ENOSPC);
	n = netstring_encode(out, 14, "0123456789", 10);
	assert_int_equal(n, 14);
	assert_memory_equal(out, "10:0123456789,", 14);
	assert_int_equal(out[14], 'Z');
	assert_int_equal(netstring_encode(out, 2, "", 0), -ENOSPC);
}

static void
test_roundtrip(void **state)
{
	char payload[300], out[400];
	struct netstring_dec d;
	size_t i, used;
	long n;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (char)(i * 7);
	for (i = 0; i <= sizeof(payload); i += 37) {
		n = netstring_encode(out, sizeof(out), payload, i);
		assert_true(n > 0);
		netstring_dec_init(&d, i);
		assert_int_equal(netstring_dec_feed(&d, out, (size_t)n, &used), 1);
		assert_int_equal(used, (size_t)n);
		assert_int_equal(d.len, i);
		if (i > 0)
			assert_memory_equal(d.buf, payload, i);
		netstring_dec_free(&d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_decode_simple),
	        cmocka_unit_test(test_decode_empty_payload),
	        cmocka_unit_test(test_decode_byte_by_byte),
	        cmocka_unit_test(test_decode_pipelined),
	        cmocka_unit_test(test_decode_binary_payload),
	        cmocka_unit_test(test_decode_format_errors),
	        cmocka_unit_test(test_decode_too_long_from_digits),
	        cmocka_unit_test(test_decode_partial),
	        cmocka_unit_test(test_encode),
	        cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
