/*
 * tests/unit/common/test_mx_match.c - RFC 8461 section 4.1 mx pattern matching
 *
 * Every row of tests/vectors/mx_match.tsv, plus hostile and edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx_match.h"
#include "tsv.h"

static void
test_vectors(void **state)
{
	struct tsv *t = tsv_load("mx_match.tsv");
	size_t i, nmatch = 0;

	assert_int_equal(t->nrows, tsv_readme_count("mx_match.tsv"));
	assert_int_equal(t->nrows, 13);
	for (i = 0; i < t->nrows; i++) {
		size_t plen, hlen;
		char *pat = tsv_unescape(tsv_cell(t, i, "mx_pattern"), &plen);
		char *host = tsv_unescape(tsv_cell(t, i, "hostname"), &hlen);
		const char *exp = tsv_cell(t, i, "expected");
		int want = -1, got;

		if (strcmp(exp, "match") == 0)
			want = 1;
		else if (strcmp(exp, "nomatch") == 0)
			want = 0;
		else
			fail_msg("%s: bad expected '%s'", tsv_cell(t, i, "id"), exp);
		got = mx_match(pat, host);
		if (got != want)
			fail_msg("%s: mx_match('%s', '%s') = %d, want %s", tsv_cell(t, i, "id"),
			         pat, host, got, exp);
		nmatch += (size_t)want;
		free(pat);
		free(host);
	}
	assert_int_equal(nmatch, 8);
	tsv_free(t);
}

static void
test_edges(void **state)
{
	/* trailing dots on either side, one only */
	assert_true(mx_match("mail.example.com.", "mail.example.com"));
	assert_true(mx_match("*.example.com.", "mail.example.com."));
	assert_false(mx_match("mail.example.com", "mail.example.com.."));
	/* wildcard forms that never match */
	assert_false(mx_match("*", "example"));
	assert_false(mx_match("*.", "a."));
	assert_false(mx_match("*example.com", "mail.example.com"));
	assert_false(mx_match("*example.com", "*example.com"));
	assert_false(mx_match("mail.*.com", "mail.example.com"));
	assert_false(mx_match("*.*.example.com", "a.b.example.com"));
	assert_false(mx_match("*.example.com", ".example.com"));
	assert_false(mx_match("*.example.com", "*.example.com"));
	assert_false(mx_match("mail.example.com", "*.example.com"));
	/* wildcard with a single-label remainder */
	assert_true(mx_match("*.com", "example.com"));
	assert_false(mx_match("*.com", "com"));
	/* empty and NULL */
	assert_false(mx_match("", ""));
	assert_false(mx_match(".", "."));
	assert_false(mx_match(NULL, "a"));
	assert_false(mx_match("a", NULL));
	/* prefix/suffix must not be confused with equality */
	assert_false(mx_match("mail.example.com", "mail.example.co"));
	assert_false(mx_match("mail.example.co", "mail.example.com"));
	assert_false(mx_match("*.example.com", "mail.example.comx"));
	assert_true(mx_match("*.EXAMPLE.com", "MX1.example.COM"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vectors),
	        cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
