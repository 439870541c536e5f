/*
 * tests/unit/common/test_sts_policy.c - RFC 8461 section 3.2 policy parsing
 *
 * Every row of tests/vectors/policy_parse.tsv (with the precise error code and line our
 * parser gives for each error row), then the decisions of docs/policy-parsing.md one by
 * one, hostile inputs (65 KiB body, NUL, huge lines, many mx and extensions, max_age
 * edges), validate/serialize/dup.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "err.h"
#include "sts_policy.h"
#include "tsv.h"
#include "xalloc.h"

/* What our parser returns for each error row of policy_parse.tsv (line 0 = whole body). */
static const struct {
	const char *id;
	int err;
	unsigned line;
} vector_errors[] = {
        {"pp-s02", ERR_POLICY_MAX_AGE, 4}, {"pp-s03", ERR_POLICY_MX, 3},
        {"pp-s04", ERR_POLICY_NO_MX, 0},   {"pp-s05", ERR_POLICY_MAX_AGE, 4},
        {"pp-s08", ERR_POLICY_SYNTAX, 1},  {"pp-s09", ERR_POLICY_SYNTAX, 2},
        {"pp-s10", ERR_POLICY_MAX_AGE, 0}, {"pp-s15", ERR_POLICY_MODE, 0},
        {"pp-s17", ERR_POLICY_MX, 3},      {"pp-s19", ERR_POLICY_SYNTAX, 2},
        {"pp-s20", ERR_POLICY_SYNTAX, 1},  {"pp-s22", ERR_POLICY_MX, 3},
        {"pp-s23", ERR_POLICY_MX, 3},      {"pp-s28", ERR_POLICY_VERSION, 0},
        {"pp-s30", ERR_POLICY_MODE, 2},    {"pp-s31", ERR_POLICY_SYNTAX, 0},
        {"pp-s32", ERR_POLICY_MAX_AGE, 4}, {"pp-s34", ERR_POLICY_VERSION, 1},
        {"pp-s37", ERR_POLICY_MAX_AGE, 4},
};

static int
parse_str(const char *s, struct sts_policy **p, struct sts_parse_error *e)
{
	return sts_policy_parse(s, strlen(s), p, e);
}

/* Is pattern (case-insensitively) one of the n comma-separated items of list? */
static int
in_list(const char *list, const char *pattern)
{
	size_t pl = strlen(pattern);
	const char *s = list;

	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);

		if (n == pl && strncasecmp(s, pattern, n) == 0)
			return 1;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

static void
check_mx_set(const char *id, const struct sts_policy *p, const char *want)
{
	size_t i, nwant = 1;
	const char *s;

	if (strcmp(want, "(empty)") == 0) {
		assert_int_equal(p->n_mx, 0);
		return;
	}
	for (s = want; *s != '\0'; s++)
		nwant += *s == ',';
	for (i = 0; i < p->n_mx; i++)
		if (!in_list(want, p->mx[i]))
			fail_msg("%s: mx '%s' not in '%s'", id, p->mx[i], want);
	/* no duplicates in the vectors, so the sets are equal when the sizes are */
	if (p->n_mx != nwant)
		fail_msg("%s: %zu mx, want %zu (%s)", id, p->n_mx, nwant, want);
}

static void
test_vectors(void **state)
{
	struct tsv *t = tsv_load("policy_parse.tsv");
	size_t i, j, nok = 0, nerr = 0;

	assert_int_equal(t->nrows, tsv_readme_count("policy_parse.tsv"));
	assert_int_equal(t->nrows, 37);
	for (i = 0; i < t->nrows; i++) {
		const char *id = tsv_cell(t, i, "id");
		const char *exp = tsv_cell(t, i, "expected");
		const char *note = tsv_cell(t, i, "note");
		struct sts_parse_error e;
		struct sts_policy *p = NULL, *q = NULL;
		size_t len;
		char *body = tsv_unescape(tsv_cell(t, i, "policy_text"), &len);
		int r = sts_policy_parse(body, len, &p, &e);

		if (strcmp(exp, "ok") == 0) {
			char *canon;

			if (r != 0)
				fail_msg("%s: %d (%s) at line %u: %s", id, r, err_str(r), e.line,
				         e.reason);
			assert_string_equal(sts_mode_name(p->mode),
			                    tsv_cell(t, i, "expected_mode"));
			assert_int_equal(p->max_age_s,
			                 strtoul(tsv_cell(t, i, "expected_max_age"), NULL, 10));
			check_mx_set(id, p, tsv_cell(t, i, "expected_mx"));
			/* noise is recorded exactly for the [TOLERANT] rows */
			if ((p->tolerated != 0) != (strncmp(note, "[TOLERANT]", 10) == 0))
				fail_msg("%s: tolerated 0x%x, note '%.12s'", id, p->tolerated,
				         note);
			/* the canonical form parses back to the same policy, without noise */
			canon = sts_policy_serialize(p);
			assert_int_equal(parse_str(canon, &q, NULL), 0);
			assert_int_equal(q->mode, p->mode);
			assert_int_equal(q->max_age_s, p->max_age_s);
			assert_int_equal(q->n_mx, p->n_mx);
			for (j = 0; j < p->n_mx; j++)
				assert_string_equal(q->mx[j], p->mx[j]);
			assert_int_equal(q->tolerated, 0);
			free(canon);
			q = sts_policy_free(q);
			p = sts_policy_free(p);
			assert_null(p);
			nok++;
		} else if (strcmp(exp, "error") == 0) {
			int found = 0;

			assert_string_equal(tsv_cell(t, i, "expected_mode"), "-");
			for (j = 0; j < sizeof(vector_errors) / sizeof(vector_errors[0]); j++) {
				if (strcmp(vector_errors[j].id, id) != 0)
					continue;
				found = 1;
				if (r != vector_errors[j].err || e.line != vector_errors[j].line)
					fail_msg("%s: %d (%s) line %u, want %d (%s) line %u", id, r,
					         err_str(r), e.line, vector_errors[j].err,
					         err_str(vector_errors[j].err),
					         vector_errors[j].line);
				assert_true(strlen(e.reason) > 0);
			}
			if (!found)
				fail_msg("%s: error row without an expected code in this test", id);
			nerr++;
		} else {
			fail_msg("%s: bad expected '%s'", id, exp);
		}
		free(body);
	}
	assert_int_equal(nok + nerr, t->nrows);
	assert_int_equal(nerr, sizeof(vector_errors) / sizeof(vector_errors[0]));
	tsv_free(t);
}

#define GOOD_HEAD "version: STSv1\nmode: enforce\nmx: mail.example.com\n"

static struct sts_policy *
parse_ok(const char *body, size_t len)
{
	struct sts_parse_error e;
	struct sts_policy *p = NULL;
	int r = sts_policy_parse(body, len, &p, &e);

	if (r != 0)
		fail_msg("%d (%s) at line %u: %s", r, err_str(r), e.line, e.reason);
	return p;
}

static void
expect_err(const char *body, int err, unsigned line)
{
	struct sts_parse_error e;
	struct sts_policy *p = (struct sts_policy *)0x1;
	int r = parse_str(body, &p, &e);

	if (r != err || e.line != line)
		fail_msg("'%.60s': %d (%s) line %u '%s', want %d (%s) line %u", body, r, err_str(r),
		         e.line, e.reason, err, err_str(err), line);
	assert_ptr_equal(p, (struct sts_policy *)0x1); /* untouched on error */
}

static void
expect_tolerated(const char *body, unsigned bits)
{
	struct sts_policy *p = parse_ok(body, strlen(body));

	if (p->tolerated != bits)
		fail_msg("'%.60s': tolerated 0x%x, want 0x%x", body, p->tolerated, bits);
	assert_int_equal(p->mode, STS_MODE_ENFORCE);
	assert_int_equal(p->max_age_s, 86400);
	assert_int_equal(p->n_mx, 1);
	assert_string_equal(p->mx[0], "mail.example.com");
	sts_policy_free(p);
}

static void
test_tolerated_noise(void **state)
{
	expect_tolerated("\xef\xbb\xbf" GOOD_HEAD "max_age: 86400\n", STS_TOLERATED_BOM);
	expect_tolerated("\n\n" GOOD_HEAD "max_age: 86400\n", STS_TOLERATED_BLANK_LINE);
	expect_tolerated(GOOD_HEAD "max_age: 86400\n\n", STS_TOLERATED_BLANK_LINE);
	expect_tolerated(GOOD_HEAD " \t\nmax_age: 86400\n", STS_TOLERATED_BLANK_LINE);
	expect_tolerated(GOOD_HEAD "\r\nmax_age: 86400\r\n", STS_TOLERATED_BLANK_LINE);
	expect_tolerated(GOOD_HEAD "max_age: 86400\r", STS_TOLERATED_CR);
	expect_tolerated(GOOD_HEAD "max_age: 86400\r\r\n", STS_TOLERATED_CR);
	expect_tolerated(
	        "version: STSv1\r\r\r\nmode: enforce\nmx: mail.example.com\nmax_age: 86400",
	        STS_TOLERATED_CR);
	expect_tolerated("# our policy\n" GOOD_HEAD "#max_age: 1\nmax_age: 86400\n",
	                 STS_TOLERATED_COMMENT);
	expect_tolerated(GOOD_HEAD "max_age: 00000000000086400\n", STS_TOLERATED_LONG_MAX_AGE);
	/* malformed extension lines: bad names and bad values */
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo bar: baz\n", STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\n_x: y\n", STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\n: y\n", STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo:\n", STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo: a\tb\n", STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo: a\x01"
	                           "b\n",
	                 STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo: \xff\xfe\n", STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo: \xed\xa0\x80\n", /* UTF-16 surrogate */
	                 STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\n"
	                           "a23456789012345678901234567890123: x\n",
	                 STS_TOLERATED_BAD_EXTENSION);
	expect_tolerated(GOOD_HEAD "max_age: 86400\n<p>x: y</p>\n", STS_TOLERATED_BAD_EXTENSION);
	/* everything at once */
	expect_tolerated("\xef\xbb\xbf# hi\r\n\r\n" GOOD_HEAD "x y: z\nmax_age: 0086400\r\r\n\n",
	                 STS_TOLERATED_BOM | STS_TOLERATED_COMMENT | STS_TOLERATED_BLANK_LINE |
	                         STS_TOLERATED_BAD_EXTENSION | STS_TOLERATED_CR);
	/* allowed by the ABNF: not noise */
	expect_tolerated(GOOD_HEAD "max_age:\t 86400 \t\n", 0);
	expect_tolerated(GOOD_HEAD "max_age: 0000086400\n", 0); /* 10 digits */
	expect_tolerated(GOOD_HEAD "max_age: 86400\nfoo: b\xc3\xa4r baz\n", 0);
}

static void
test_strict_lines(void **state)
{
	expect_err(GOOD_HEAD " max_age: 86400\n", ERR_POLICY_SYNTAX, 4);
	expect_err(GOOD_HEAD "\tmax_age: 86400\n", ERR_POLICY_SYNTAX, 4);
	expect_err(GOOD_HEAD "  # indented comment\nmax_age: 86400\n", ERR_POLICY_SYNTAX, 4);
	expect_err(GOOD_HEAD "max_age : 86400\n", ERR_POLICY_SYNTAX, 4);
	expect_err("version: STSv1\nmode\t: enforce\n", ERR_POLICY_SYNTAX, 2);
	expect_err(GOOD_HEAD "max_age 86400\n", ERR_POLICY_SYNTAX, 4);
	expect_err(GOOD_HEAD "max_age: 86400\nfoo\n", ERR_POLICY_SYNTAX, 5);
	/* a BOM anywhere but at the start is part of the name: "<BOM>max_age" is a (malformed)
	 * extension, so max_age is missing */
	expect_err(GOOD_HEAD "\xef\xbb\xbfmax_age: 86400\n", ERR_POLICY_MAX_AGE, 0);
	/* bare CR, VT, FF are not line ends: the value is wrong */
	expect_err("version: STSv1\nmode: enforce\rmx: mail.example.com\nmax_age: 86400\n",
	           ERR_POLICY_MODE, 2);
	expect_err("version: STSv1\nmode: enforce\v\nmx: a.example\nmax_age: 1\n", ERR_POLICY_MODE,
	           2);
	expect_err("version: STSv1\nmode: enforce\f\nmx: a.example\nmax_age: 1\n", ERR_POLICY_MODE,
	           2);
	expect_err("version: STSv1\r\nmode: enforce\r \nmx: a.example\nmax_age: 1\n",
	           ERR_POLICY_MODE, 2);
}

static void
test_case_sensitivity(void **state)
{
	struct sts_policy *p;
	const char *b;

	expect_err("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", ERR_POLICY_MODE,
	           2);
	expect_err("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", ERR_POLICY_VERSION,
	           1);
	expect_err("version: STSV1\nmode: enforce\nmx: a.example\nmax_age: 1\n", ERR_POLICY_VERSION,
	           1);
	/* "Mode:" and "MX:" are extensions, not the real fields */
	expect_err("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n", ERR_POLICY_MODE,
	           0);
	expect_err("version: STSv1\nmode: enforce\nMX: a.example\nmax_age: 1\n", ERR_POLICY_NO_MX,
	           0);
	expect_err("VERSION: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", ERR_POLICY_VERSION,
	           0);
	b = "version: STSv1\nMode: testing\nmode: enforce\nMX: b.example\nmx: A.Example\n"
	    "Max_Age: 5\nmax_age: 1\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->mode, STS_MODE_ENFORCE);
	assert_int_equal(p->max_age_s, 1);
	assert_int_equal(p->n_mx, 1);
	assert_string_equal(p->mx[0], "a.example"); /* lower-cased */
	assert_int_equal(p->n_ext, 3);
	assert_string_equal(p->ext[0].name, "Mode");
	assert_string_equal(p->ext[0].value, "testing");
	assert_string_equal(p->ext[1].name, "MX");
	assert_string_equal(p->ext[1].value, "b.example");
	assert_string_equal(p->ext[2].name, "Max_Age");
	assert_int_equal(p->tolerated, 0);
	sts_policy_free(p);
}

static void
test_duplicates(void **state)
{
	struct sts_policy *p;
	const char *b;

	/* later duplicates are ignored even when invalid */
	b = GOOD_HEAD "max_age: 86400\nversion: STSv2\nmode: bogus\nmax_age: x\nmax_age: 99\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->mode, STS_MODE_ENFORCE);
	assert_int_equal(p->max_age_s, 86400);
	sts_policy_free(p);
	/* an invalid first one is fatal, whatever follows */
	expect_err("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: x\nmax_age: 1\n",
	           ERR_POLICY_MAX_AGE, 4);
	expect_err("version: STSv2\nversion: STSv1\nmode: none\nmax_age: 1\n", ERR_POLICY_VERSION,
	           1);
	/* duplicate extension: the first wins */
	b = GOOD_HEAD "max_age: 86400\nfoo: one\nfoo: two\nbar: 3\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_ext, 2);
	assert_string_equal(p->ext[0].name, "foo");
	assert_string_equal(p->ext[0].value, "one");
	assert_string_equal(p->ext[1].name, "bar");
	assert_string_equal(p->ext[1].value, "3");
	sts_policy_free(p);
	/* repeated mx patterns collapse (case-insensitively), order kept */
	b = "version: STSv1\nmode: testing\nmx: b.example\nmx: a.example\nmx: B.EXAMPLE\n"
	    "mx: *.c.example\nmx: a.example\nmax_age: 1\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->mode, STS_MODE_TESTING);
	assert_int_equal(p->n_mx, 3);
	assert_string_equal(p->mx[0], "b.example");
	assert_string_equal(p->mx[1], "a.example");
	assert_string_equal(p->mx[2], "*.c.example");
	sts_policy_free(p);
}

static void
test_max_age(void **state)
{
	struct sts_policy *p;
	const char *b;

	expect_err(GOOD_HEAD "max_age: 31557601\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 99999999\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 4294967296\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 9999999999\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 184467440737095516170\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 000000000031557601\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 86400s\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 86 400\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 1e5\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: 0x10\n", ERR_POLICY_MAX_AGE, 4);
	expect_err(GOOD_HEAD "max_age: \xd9\xa1\n", ERR_POLICY_MAX_AGE, 4); /* Arabic-Indic 1 */
	b = GOOD_HEAD "max_age: 31557600\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->max_age_s, 31557600);
	sts_policy_free(p);
	b = GOOD_HEAD "max_age: 0031557600\n"; /* 10 digits, leading zeros: plain ABNF */
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->max_age_s, 31557600);
	assert_int_equal(p->tolerated, 0);
	sts_policy_free(p);
	b = GOOD_HEAD "max_age: 00000000000\n"; /* 11 zeros */
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->max_age_s, 0);
	assert_int_equal(p->tolerated, STS_TOLERATED_LONG_MAX_AGE);
	sts_policy_free(p);
}

static void
test_mx_patterns(void **state)
{
	struct sts_policy *p;
	const char *b;
	struct sts_parse_error e;

#define MXE(v) "version: STSv1\nmode: enforce\nmx: " v "\nmax_age: 1\n"
	/* IP-address patterns can match no certificate: dropped (issue 22), and a policy left
	 * with none stays invalid, never an empty match= */
	expect_err(MXE("192.0.2.1"), ERR_POLICY_NO_MX, 0);
	expect_err(MXE("[192.0.2.1]"), ERR_POLICY_NO_MX, 0);
	expect_err(MXE("2001:db8::25"), ERR_POLICY_NO_MX, 0);
	expect_err(MXE("[IPv6:2001:db8::25]"), ERR_POLICY_NO_MX, 0);
	expect_err(MXE("*.192.0.2.1"), ERR_POLICY_NO_MX, 0);
	assert_int_equal(parse_str(MXE("192.0.2.1"), &p, &e), ERR_POLICY_NO_MX);
	assert_non_null(strstr(e.reason, "only IP-address mx patterns (1 dropped)"));
	b = "version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmx: mail.example.com\n"
	    "mx: [IPv6:2001:db8::25]\nmx: *.example.net\nmx: mail.123\nmax_age: 86400\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_mx, 2);
	assert_string_equal(p->mx[0], "mail.example.com");
	assert_string_equal(p->mx[1], "*.example.net");
	assert_int_equal(p->n_mx_dropped, 3);
	assert_int_equal(p->tolerated, STS_TOLERATED_IP_MX);
	sts_policy_free(p);
	expect_err(MXE("mail.example.com."), ERR_POLICY_MX, 3); /* trailing dot */
	expect_err(MXE("*.example.com."), ERR_POLICY_MX, 3);
	expect_err(MXE("*"), ERR_POLICY_MX, 3);
	expect_err(MXE("*."), ERR_POLICY_MX, 3);
	expect_err(MXE("*.*.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail.*.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE(".example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail..example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("-mail.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail-.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail_1.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail.example.com mx2.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail.example.com,mx2.example.com"), ERR_POLICY_MX, 3);
	expect_err(MXE("https://mail.example.com/"), ERR_POLICY_MX, 3);
	expect_err(MXE("mail.example.com:25"), ERR_POLICY_MX, 3);
	/* even in mode none an mx line must be valid: strict on meaning (an IP is dropped) */
	expect_err("version: STSv1\nmode: none\nmx: mail.example.com:25\nmax_age: 1\n",
	           ERR_POLICY_MX, 3);
	b = "version: STSv1\nmode: none\nmx: 10.0.0.1\nmax_age: 1\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_mx, 0);
	assert_int_equal(p->n_mx_dropped, 1);
	sts_policy_free(p);
	b = "version: STSv1\nmode: enforce\nmx: *.Example.NET\nmx: MAIL.example.com \t\n"
	    "mx:xn--bcher-kva.example\nmax_age: 1\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_mx, 3);
	assert_string_equal(p->mx[0], "*.example.net");
	assert_string_equal(p->mx[1], "mail.example.com");
	assert_string_equal(p->mx[2], "xn--bcher-kva.example");
	sts_policy_free(p);
	/* the reason quotes the pattern */
	assert_int_equal(parse_str(MXE("mail.example.com:25"), &p, &e), ERR_POLICY_MX);
	assert_non_null(strstr(e.reason, "'mail.example.com:25'"));
#undef MXE
}

static void
test_modes_and_mx(void **state)
{
	struct sts_policy *p;
	const char *b;

	expect_err("version: STSv1\nmode: enforce\nmax_age: 1\n", ERR_POLICY_NO_MX, 0);
	expect_err("version: STSv1\nmode: testing\nmax_age: 1\n", ERR_POLICY_NO_MX, 0);
	b = "version: STSv1\nmode: none\nmax_age: 1\n";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->mode, STS_MODE_NONE);
	assert_int_equal(p->n_mx, 0);
	sts_policy_free(p);
	/* field order is free */
	b = "max_age: 7\nmx: a.example\nmode: testing\nversion: STSv1";
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->mode, STS_MODE_TESTING);
	assert_int_equal(p->max_age_s, 7);
	sts_policy_free(p);
	expect_err("version: STSv1\nmode:\nmx: a.example\nmax_age: 1\n", ERR_POLICY_MODE, 2);
	expect_err("version:\nmode: none\nmax_age: 1\n", ERR_POLICY_VERSION, 1);
	expect_err("version: STSv1 STSv1\nmode: none\nmax_age: 1\n", ERR_POLICY_VERSION, 1);
	expect_err("version: STSv1\nmode: enforce testing\nmx: a.example\nmax_age: 1\n",
	           ERR_POLICY_MODE, 2);
	/* only noise: the required fields are missing */
	expect_err("\xef\xbb\xbf", ERR_POLICY_SYNTAX, 0);
	expect_err("\n\n# nothing\n", ERR_POLICY_VERSION, 0);
	assert_int_equal(sts_policy_parse(NULL, 0, NULL, NULL), ERR_POLICY_SYNTAX);
	expect_err("version: STSv1\n", ERR_POLICY_MODE, 0);
}

static void
test_hostile(void **state)
{
	struct sts_parse_error e;
	struct sts_policy *p = NULL;
	size_t n, i;
	char *body, *o;
	const char tail[] = "max_age: 86400\n";

	/* NUL: no C-string handling of the body. In a known field it is an invalid value, with
	 * its line; in an extension field it is noise (the field is dropped, the policy
	 * stands, and nothing after the NUL is lost) */
	{
		const char b[] =
		        "version: STSv1\nmode: enforce\nmx: a.example\0.evil\nmax_age: 1\n";
		const char m[] = "version: STSv1\nmode: enforce\0\nmx: a.example\nmax_age: 1\n";
		const char x[] = "version: STSv1\nmode: enforce\nnote: a\0b\x01\x1b[31m\x7f\n"
		                 "mx: a.example\nmx: b.example\nmax_age: 86400\n";

		assert_int_equal(sts_policy_parse(b, sizeof(b) - 1, &p, &e), ERR_POLICY_MX);
		assert_int_equal(e.line, 3);
		assert_int_equal(sts_policy_parse(m, sizeof(m) - 1, &p, &e), ERR_POLICY_MODE);
		assert_int_equal(e.line, 2);
		assert_int_equal(sts_policy_parse("\0", 1, &p, NULL), ERR_POLICY_SYNTAX);
		p = parse_ok(x, sizeof(x) - 1);
		assert_int_equal(p->tolerated, STS_TOLERATED_BAD_EXTENSION);
		assert_int_equal(p->mode, STS_MODE_ENFORCE);
		assert_int_equal(p->n_mx, 2);
		assert_string_equal(p->mx[1], "b.example");
		assert_int_equal(p->max_age_s, 86400);
		assert_int_equal(p->n_ext, 0);
		sts_policy_free(p);
	}
	/* exactly 64 KiB is accepted (comment padding), one byte more is not */
	n = STS_POLICY_BODY_MAX;
	body = xmalloc(n + 2);
	o = body;
	memcpy(o, GOOD_HEAD, strlen(GOOD_HEAD));
	o += strlen(GOOD_HEAD);
	*o++ = '#';
	while ((size_t)(o - body) < n - strlen(tail) - 1)
		*o++ = 'x';
	*o++ = '\n';
	memcpy(o, tail, strlen(tail));
	o += strlen(tail);
	assert_int_equal((size_t)(o - body), n);
	p = parse_ok(body, n);
	assert_int_equal(p->tolerated, STS_TOLERATED_COMMENT);
	sts_policy_free(p);
	body[n] = '\n';
	assert_int_equal(sts_policy_parse(body, n + 1, &p, &e), ERR_POLICY_TOO_LARGE);
	assert_int_equal(e.line, 0);
	free(body);
	/* 65 KiB of otherwise valid policy */
	n = 65 * 1024;
	body = xmalloc(n);
	memset(body, '\n', n);
	memcpy(body, GOOD_HEAD "max_age: 1\n", strlen(GOOD_HEAD "max_age: 1\n"));
	assert_int_equal(sts_policy_parse(body, n, &p, &e), ERR_POLICY_TOO_LARGE);
	/* one huge mx line: rejected, reason cut and bounded */
	o = body;
	memcpy(o, "version: STSv1\nmode: enforce\nmx: ", 33);
	o += 33;
	for (i = 0; i < 60000; i++)
		*o++ = 'a';
	*o++ = '\n';
	assert_int_equal(sts_policy_parse(body, (size_t)(o - body), &p, &e), ERR_POLICY_MX);
	assert_int_equal(e.line, 3);
	assert_true(strlen(e.reason) < sizeof(e.reason));
	assert_non_null(strstr(e.reason, "..."));
	/* one huge line without a colon */
	memset(body, 'v', 60000);
	assert_int_equal(sts_policy_parse(body, 60000, &p, &e), ERR_POLICY_SYNTAX);
	assert_int_equal(e.line, 1);
	free(body);
}

/* head, then count lines "<prefix><i><suffix>" (or without <i> when !numbered), then tail */
static char *
many(const char *prefix, const char *suffix, int numbered, size_t count, const char *head,
     const char *tailstr)
{
	size_t cap = strlen(head) + strlen(tailstr) + count * 64 + 1, i;
	char *b = xmalloc(cap), *o = b;

	o += snprintf(o, cap, "%s", head);
	for (i = 0; i < count; i++) {
		if (numbered)
			o += snprintf(o, cap - (size_t)(o - b), "%s%zu%s", prefix, i, suffix);
		else
			o += snprintf(o, cap - (size_t)(o - b), "%s%s", prefix, suffix);
	}
	(void)snprintf(o, cap - (size_t)(o - b), "%s", tailstr);
	return b;
}

static void
test_limits(void **state)
{
	struct sts_parse_error e;
	struct sts_policy *p;
	char *b;

	/* a body within 64 KiB is never refused for its count of mx lines (issue 22): 2500
	 * distinct patterns, 60 KB; its canonical text is longer than the body and still
	 * parses back (the cache's copy) */
	b = many("mx: mx", ".example.com\n", 1, 2500, "version: STSv1\nmode: enforce\n",
	         "max_age: 1\n");
	assert_true(strlen(b) <= STS_POLICY_BODY_MAX);
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_mx, 2500);
	assert_string_equal(p->mx[2499], "mx2499.example.com");
	{
		char *canon = sts_policy_serialize(p);
		struct sts_policy *q = NULL;

		assert_int_equal(sts_policy_parse_canonical(canon, strlen(canon), &q, &e), 0);
		assert_int_equal(q->n_mx, 2500);
		sts_policy_free(q);
		free(canon);
	}
	sts_policy_free(p);
	free(b);
	/* the count bound itself, reachable only through the longer canonical text */
	b = many("mx:", ".x\n", 1, STS_MX_MAX + 1, "version:STSv1\nmode:enforce\n", "max_age:1\n");
	assert_true(strlen(b) <= STS_POLICY_CANON_MAX);
	assert_int_equal(sts_policy_parse_canonical(b, strlen(b), &p, &e), ERR_POLICY_TOO_LARGE);
	assert_int_equal(e.line, 0);
	free(b);
	/* repeats of many patterns in any order: each kept once, at its first position */
	b = many("mx: m", ".example.com\n", 1, 2000, "version: STSv1\nmode: enforce\n",
	         "max_age: 1\n");
	{
		char *b2 = xasprintf("%s%s", b, "mx: M1999.example.com\nmx: m0.EXAMPLE.com\n");

		p = parse_ok(b2, strlen(b2));
		assert_int_equal(p->n_mx, 2000);
		assert_string_equal(p->mx[0], "m0.example.com");
		assert_string_equal(p->mx[1999], "m1999.example.com");
		sts_policy_free(p);
		free(b2);
	}
	free(b);
	/* thousands of copies of one pattern are one pattern */
	b = many("mx: mx.example.com", "\n", 0, 3000, "version: STSv1\nmode: enforce\n",
	         "max_age: 1\n");
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_mx, 1);
	sts_policy_free(p);
	free(b);
	b = many("ext", ": v\n", 1, STS_EXT_MAX, GOOD_HEAD, "max_age: 1\n");
	p = parse_ok(b, strlen(b));
	assert_int_equal(p->n_ext, STS_EXT_MAX);
	sts_policy_free(p);
	free(b);
	b = many("ext", ": v\n", 1, STS_EXT_MAX + 1, GOOD_HEAD, "max_age: 1\n");
	assert_int_equal(parse_str(b, &p, &e), ERR_POLICY_TOO_LARGE);
	assert_int_equal(e.line, 3 + STS_EXT_MAX + 1);
	free(b);
}

static struct sts_policy *
build(enum sts_mode mode, uint32_t max_age, size_t n_mx, const char *const *mx)
{
	struct sts_policy *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->mode = mode;
	p->max_age_s = max_age;
	p->n_mx = n_mx;
	if (n_mx > 0)
		p->mx = xcalloc(n_mx, sizeof(*p->mx));
	for (i = 0; i < n_mx; i++)
		p->mx[i] = xstrdup(mx[i]);
	return p;
}

static void
test_validate(void **state)
{
	static const char *const good[] = {"mail.example.com", "*.example.net"};
	static const char *const bad_ip[] = {"mail.example.com", "192.0.2.1"};
	static const char *const bad_dot[] = {"mail.example.com."};
	struct sts_parse_error e;
	struct sts_policy *p;

	p = build(STS_MODE_ENFORCE, 604800, 2, good);
	assert_int_equal(sts_policy_validate(p, &e), 0);
	p->max_age_s = STS_MAX_AGE_MAX + 1;
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_MAX_AGE);
	p->max_age_s = 1;
	p->mode = (enum sts_mode)7;
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_MODE);
	p->mode = STS_MODE_TESTING;
	p->ext = xcalloc(1, sizeof(*p->ext));
	p->n_ext = 1;
	p->ext[0].name = xstrdup("mode");
	p->ext[0].value = xstrdup("none");
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_SYNTAX);
	free(p->ext[0].name);
	p->ext[0].name = xstrdup("policy-note");
	assert_int_equal(sts_policy_validate(p, &e), 0);
	free(p->ext[0].value);
	p->ext[0].value = xstrdup(" leading space");
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_SYNTAX);
	sts_policy_free(p);

	p = build(STS_MODE_ENFORCE, 1, 2, bad_ip);
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_MX);
	assert_non_null(strstr(e.reason, "192.0.2.1"));
	sts_policy_free(p);
	p = build(STS_MODE_ENFORCE, 1, 1, bad_dot);
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_MX);
	sts_policy_free(p);
	p = build(STS_MODE_ENFORCE, 1, 0, NULL);
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_NO_MX);
	p->mode = STS_MODE_NONE;
	assert_int_equal(sts_policy_validate(p, NULL), 0);
	p->n_mx = STS_MX_MAX + 1; /* checked before the (absent) array is read */
	assert_int_equal(sts_policy_validate(p, &e), ERR_POLICY_TOO_LARGE);
	p->n_mx = 0;
	sts_policy_free(p);
	assert_int_equal(sts_policy_validate(NULL, &e), ERR_POLICY_SYNTAX);
}

static void
test_serialize_dup(void **state)
{
	static const char *const mx[] = {"mail.example.com", "*.example.net",
	                                 "backupmx.example.com"};
	struct sts_policy *p, *d;
	char *s;

	p = build(STS_MODE_ENFORCE, 604800, 3, mx);
	s = sts_policy_serialize(p);
	assert_string_equal(s, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	                       "mx: *.example.net\r\nmx: backupmx.example.com\r\n"
	                       "max_age: 604800\r\n");
	free(s);
	p->ext = xcalloc(1, sizeof(*p->ext));
	p->n_ext = 1;
	p->ext[0].name = xstrdup("x");
	p->ext[0].value = xstrdup("y");
	p->tolerated = STS_TOLERATED_BOM;
	d = sts_policy_dup(p);
	sts_policy_free(p);
	assert_int_equal(d->mode, STS_MODE_ENFORCE);
	assert_int_equal(d->n_mx, 3);
	assert_string_equal(d->mx[1], "*.example.net");
	assert_int_equal(d->n_ext, 1);
	assert_string_equal(d->ext[0].value, "y");
	assert_int_equal(d->tolerated, STS_TOLERATED_BOM);
	s = sts_policy_serialize(d); /* extensions are not emitted */
	assert_null(strstr(s, "x: y"));
	free(s);
	sts_policy_free(d);

	p = build(STS_MODE_NONE, 0, 0, NULL);
	s = sts_policy_serialize(p);
	assert_string_equal(s, "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
	free(s);
	d = sts_policy_dup(p);
	assert_int_equal(d->n_mx, 0);
	assert_null(d->mx);
	sts_policy_free(d);
	sts_policy_free(p);
	assert_null(sts_policy_dup(NULL));
	assert_null(sts_policy_free(NULL));
}

/* A parsed policy and a copy are one allocation each (packed): every pointer inside the
 * block, strings intact, a copy of a copy equal; ASan/valgrind would see a wrong size. */
static void
test_packed(void **state)
{
	static const char body[] = "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\n"
	                           "policy-note: hello there\r\nmx: *.example.net\r\n"
	                           "max_age: 86400\r\n";
	struct sts_policy *p = NULL, *d, *d2;
	struct sts_parse_error perr;
	const char *lo, *hi;
	size_t i;

	assert_int_equal(sts_policy_parse(body, sizeof(body) - 1, &p, &perr), 0);
	assert_int_equal(p->packed, 1);
	assert_int_equal(p->n_mx, 2);
	assert_int_equal(p->n_ext, 1);
	lo = (const char *)p;
	hi = lo + sizeof(*p) + 2 * sizeof(char *) + sizeof(struct sts_ext) + sizeof(body);
	for (i = 0; i < p->n_mx; i++)
		assert_true((const char *)p->mx[i] > lo && (const char *)p->mx[i] < hi);
	assert_true((const char *)p->ext[0].value > lo && (const char *)p->ext[0].value < hi);
	assert_string_equal(p->mx[0], "mail.example.com");
	assert_string_equal(p->mx[1], "*.example.net");
	assert_string_equal(p->ext[0].name, "policy-note");
	assert_string_equal(p->ext[0].value, "hello there");
	d = sts_policy_dup(p);
	sts_policy_free(p);
	d2 = sts_policy_dup(d);
	sts_policy_free(d);
	assert_int_equal(d2->packed, 1);
	assert_int_equal(d2->mode, STS_MODE_TESTING);
	assert_int_equal(d2->max_age_s, 86400);
	assert_string_equal(d2->mx[1], "*.example.net");
	assert_string_equal(d2->ext[0].value, "hello there");
	sts_policy_free(d2);
	/* the header of every cached policy (issue 21): 40 bytes on LP64 */
	if (sizeof(void *) == 8)
		assert_int_equal(sizeof(struct sts_policy), 40);
}

static void
test_mode_names(void **state)
{
	enum sts_mode m = STS_MODE_NONE;

	assert_string_equal(sts_mode_name(STS_MODE_ENFORCE), "enforce");
	assert_string_equal(sts_mode_name(STS_MODE_TESTING), "testing");
	assert_string_equal(sts_mode_name(STS_MODE_NONE), "none");
	assert_string_equal(sts_mode_name((enum sts_mode)9), "invalid");
	assert_int_equal(sts_mode_parse("enforce", &m), 0);
	assert_int_equal(m, STS_MODE_ENFORCE);
	assert_int_equal(sts_mode_parse("testing", &m), 0);
	assert_int_equal(m, STS_MODE_TESTING);
	assert_int_equal(sts_mode_parse("none", &m), 0);
	assert_int_equal(m, STS_MODE_NONE);
	m = STS_MODE_TESTING;
	assert_int_equal(sts_mode_parse("Enforce", &m), -EINVAL);
	assert_int_equal(sts_mode_parse("", &m), -EINVAL);
	assert_int_equal(sts_mode_parse(NULL, &m), -EINVAL);
	assert_int_equal(m, STS_MODE_TESTING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vectors),      cmocka_unit_test(test_tolerated_noise),
	        cmocka_unit_test(test_strict_lines), cmocka_unit_test(test_case_sensitivity),
	        cmocka_unit_test(test_duplicates),   cmocka_unit_test(test_max_age),
	        cmocka_unit_test(test_mx_patterns),  cmocka_unit_test(test_modes_and_mx),
	        cmocka_unit_test(test_hostile),      cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_validate),     cmocka_unit_test(test_serialize_dup),
	        cmocka_unit_test(test_mode_names),   cmocka_unit_test(test_packed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
