/*
 * tests/unit/common/test_sts_txt.c - "_mta-sts" TXT (RFC 8461 section 3.1) and
 *                                     "_smtp._tls" TLSRPT (RFC 8460 section 3) records
 *
 * Every row of tests/vectors/txt_record.tsv and tlsrpt_txt.tsv, decoded from zone
 * presentation form. Rows whose RRset is a DNS pseudo-value ((NXDOMAIN), (SERVFAIL), ...)
 * belong to the DNS layer, not to this parser; dns_expected() below is the documented
 * mapping the resolver applies, and the test asserts each such row is recognised and
 * expects what the mapping says:
 *   NXDOMAIN, NODATA  -> "none"  (no record: no MTA-STS; a cached policy still applies)
 *   SERVFAIL, TIMEOUT -> "error" (temporary failure: use the cache, never "no policy")
 * Then our own cases: erratum 6285 whitespace, id edges, extension syntax, hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "sts_txt.h"
#include "tsv.h"
#include "xalloc.h"

/* The resolver's mapping of DNS outcomes for the _mta-sts query (see the file header). */
static const char *
dns_expected(const char *pseudo, int *ret_err)
{
	static const struct {
		const char *pseudo;
		int err;
		const char *expected;
	} map[] = {
	        {"NXDOMAIN", ERR_DNS_NXDOMAIN, "none"},
	        {"NODATA", ERR_DNS_NODATA, "none"},
	        {"SERVFAIL", ERR_DNS_SERVFAIL, "error"},
	        {"TIMEOUT", ERR_DNS_TIMEOUT, "error"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].pseudo, pseudo) == 0) {
			*ret_err = map[i].err;
			return map[i].expected;
		}
	}
	fail_msg("unmapped DNS pseudo-value %s", pseudo);
	return NULL;
}

static void
to_rrs(const struct tsv_rrset *z, struct txt_rr *rrs)
{
	size_t i;

	for (i = 0; i < z->n; i++) {
		rrs[i].data = z->data[i];
		rrs[i].len = z->len[i];
	}
}

static void
test_txt_vectors(void **state)
{
	struct tsv *t = tsv_load("txt_record.tsv");
	size_t i, npseudo = 0, nid = 0;

	assert_int_equal(t->nrows, tsv_readme_count("txt_record.tsv"));
	assert_int_equal(t->nrows, 16);
	for (i = 0; i < t->nrows; i++) {
		const char *id = tsv_cell(t, i, "id");
		const char *exp = tsv_cell(t, i, "expected");
		struct tsv_rrset z;
		struct txt_rr rrs[16];
		char got[STS_ID_MAX + 1];
		int r;

		tsv_zone_rrset(tsv_cell(t, i, "txt_rrset"), &z);
		if (z.pseudo != NULL) {
			int err = 0;
			const char *want = dns_expected(z.pseudo, &err);

			if (strcmp(want, exp) != 0)
				fail_msg("%s: %s maps to '%s', vector says '%s'", id, z.pseudo,
				         want, exp);
			assert_true(err <= ERR_DNS_NXDOMAIN && err >= ERR_DNS_REFUSED);
			npseudo++;
			continue;
		}
		to_rrs(&z, rrs);
		r = sts_txt_parse(rrs, z.n, got);
		if (strcmp(exp, "none") == 0) {
			if (r != ERR_TXT_NONE && r != ERR_TXT_MULTIPLE && r != ERR_TXT_SYNTAX)
				fail_msg("%s: %d (%s), want no policy", id, r, err_str(r));
		} else if (strcmp(exp, "error") == 0) {
			fail_msg("%s: 'error' for a real RRset", id);
		} else {
			if (r != 0)
				fail_msg("%s: %d (%s), want id '%s'", id, r, err_str(r), exp);
			assert_string_equal(got, exp);
			nid++;
		}
		tsv_zone_free(&z);
	}
	assert_int_equal(npseudo, 2);
	assert_int_equal(nid, 6);
	tsv_free(t);
}

static void
test_tlsrpt_vectors(void **state)
{
	struct tsv *t = tsv_load("tlsrpt_txt.tsv");
	size_t i, nok = 0;

	assert_int_equal(t->nrows, tsv_readme_count("tlsrpt_txt.tsv"));
	assert_int_equal(t->nrows, 5);
	for (i = 0; i < t->nrows; i++) {
		const char *id = tsv_cell(t, i, "id");
		const char *exp = tsv_cell(t, i, "expected");
		struct tsv_rrset z;
		struct txt_rr rrs[16];
		char *rua = NULL;
		int r;

		tsv_zone_rrset(tsv_cell(t, i, "txt_rrset"), &z);
		if (z.pseudo != NULL)
			fail_msg("%s: pseudo-value in tlsrpt vectors", id);
		to_rrs(&z, rrs);
		r = tlsrpt_txt_parse(rrs, z.n, &rua);
		if (strcmp(exp, "none") == 0) {
			if (r != ERR_TXT_NONE && r != ERR_TXT_MULTIPLE && r != ERR_TXT_SYNTAX)
				fail_msg("%s: %d (%s), want none", id, r, err_str(r));
			assert_null(rua);
		} else {
			if (r != 0)
				fail_msg("%s: %d (%s), want '%s'", id, r, err_str(r), exp);
			assert_string_equal(rua, exp);
			free(rua);
			nok++;
		}
		tsv_zone_free(&z);
	}
	assert_int_equal(nok, 4);
	tsv_free(t);
}

static int
txt1(const char *rec, char id[STS_ID_MAX + 1])
{
	struct txt_rr rr = {.data = rec, .len = strlen(rec)};

	return sts_txt_parse(&rr, 1, id);
}

static void
expect_id(const char *rec, const char *want)
{
	char id[STS_ID_MAX + 1];
	int r = txt1(rec, id);

	if (r != 0)
		fail_msg("'%s': %d (%s), want id '%s'", rec, r, err_str(r), want);
	assert_string_equal(id, want);
}

static void
expect_txt_err(const char *rec, int err)
{
	char id[STS_ID_MAX + 1] = "untouched";
	int r = txt1(rec, id);

	if (r != err)
		fail_msg("'%s': %d (%s), want %d (%s)", rec, r, err_str(r), err, err_str(err));
	assert_string_equal(id, "untouched");
}

static void
test_txt_syntax(void **state)
{
	/* erratum 6285: WSP before the first ';' */
	expect_id("v=STSv1 ; id=abc", "abc");
	expect_id("v=STSv1\t;\tid=abc\t;\t", "abc");
	expect_id("v=STSv1;id=abc;", "abc");
	expect_id("v=STSv1; id=abc ;", "abc");
	expect_id("v=STSv1; id=abc; ", "abc");
	expect_id("v=STSv1; id=AbC9", "AbC9"); /* id is case-sensitive, kept as written */
	expect_id("v=STSv1; id=12345678901234567890123456789012",
	          "12345678901234567890123456789012");
	/* extensions, before and after, ignored */
	expect_id("v=STSv1; a.b-c_d=x:y/z; id=abc; z9=~", "abc");
	/* duplicate id: the first wins; a later malformed one is just an extension */
	expect_id("v=STSv1; id=first; id=second", "first");
	expect_id("v=STSv1; id=first; id=2019-01-01", "first");
	expect_txt_err("v=STSv1; id=2019-01-01; id=abc", ERR_TXT_SYNTAX);
	/* id edges */
	expect_txt_err("v=STSv1; id=123456789012345678901234567890123", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc def", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc ", ERR_TXT_SYNTAX); /* WSP only around ';' */
	expect_txt_err("v=STSv1; id=ab.c", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc\xc3\xa9", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; ID=abc", ERR_TXT_SYNTAX); /* an extension: no id at all */
	expect_txt_err("v=STSv1; id =abc", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id= abc", ERR_TXT_SYNTAX);
	/* the record as a whole */
	expect_txt_err("v=STSv1", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1 ", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1;", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1;;id=abc", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc;;", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc; foo", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc; foo=", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc; foo=a b", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc; _foo=bar", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1; id=abc; a23456789012345678901234567890123=x", ERR_TXT_SYNTAX);
	expect_txt_err("v=STSv1 id=abc", ERR_TXT_NONE); /* no ';' after the version */
	expect_txt_err("v=STSv1x; id=abc", ERR_TXT_NONE);
	expect_txt_err(" v=STSv1; id=abc", ERR_TXT_NONE);
	expect_txt_err("v=STSv10; id=abc", ERR_TXT_NONE);
	expect_txt_err("", ERR_TXT_NONE);
}

static void
test_txt_rrsets(void **state)
{
	struct txt_rr rrs[200];
	char id[STS_ID_MAX + 1] = "untouched";
	char *big;
	size_t i;

	assert_int_equal(sts_txt_parse(NULL, 0, id), ERR_TXT_NONE);
	/* one valid and one malformed STSv1 record: still two */
	rrs[0] = (struct txt_rr){.data = "v=STSv1; id=abc", .len = 15};
	rrs[1] = (struct txt_rr){.data = "v=STSv1", .len = 7};
	assert_int_equal(sts_txt_parse(rrs, 2, id), ERR_TXT_MULTIPLE);
	/* two identical records are still two */
	rrs[1] = rrs[0];
	assert_int_equal(sts_txt_parse(rrs, 2, id), ERR_TXT_MULTIPLE);
	assert_string_equal(id, "untouched");
	/* many unrelated records around one STSv1 record; NULL/empty RRs skipped */
	for (i = 0; i < 200; i++)
		rrs[i] = (struct txt_rr){.data = "v=spf1 -all", .len = 11};
	rrs[10] = (struct txt_rr){.data = NULL, .len = 0};
	rrs[11] = (struct txt_rr){.data = "", .len = 0};
	rrs[150] = (struct txt_rr){.data = "v=STSv1; id=x150", .len = 16};
	assert_int_equal(sts_txt_parse(rrs, 200, id), 0);
	assert_string_equal(id, "x150");
	/* length is what counts, not a NUL: a NUL byte is a syntax error */
	rrs[0] = (struct txt_rr){.data = "v=STSv1; id=abc\0def", .len = 19};
	assert_int_equal(sts_txt_parse(rrs, 1, id), ERR_TXT_SYNTAX);
	rrs[0].len = 15;
	assert_int_equal(sts_txt_parse(rrs, 1, id), 0);
	assert_string_equal(id, "abc");
	/* an RR above STS_TXT_MAX is refused, even if it would parse */
	big = xmalloc(STS_TXT_MAX + 64);
	memcpy(big, "v=STSv1; id=abc", 15);
	i = 15;
	while (i <= STS_TXT_MAX) {
		memcpy(big + i, "; x=yy", 6);
		i += 6;
	}
	rrs[0] = (struct txt_rr){.data = big, .len = i};
	assert_true(i > STS_TXT_MAX);
	assert_int_equal(sts_txt_parse(rrs, 1, id), ERR_TXT_SYNTAX);
	rrs[0].len = i - 6;
	assert_true(rrs[0].len <= STS_TXT_MAX);
	assert_int_equal(sts_txt_parse(rrs, 1, id), 0);
	free(big);
}

static int
tlsrpt1(const char *rec, char **rua)
{
	struct txt_rr rr = {.data = rec, .len = strlen(rec)};

	*rua = NULL;
	return tlsrpt_txt_parse(&rr, 1, rua);
}

static void
expect_rua(const char *rec, const char *want)
{
	char *rua;
	int r = tlsrpt1(rec, &rua);

	if (r != 0)
		fail_msg("'%s': %d (%s), want '%s'", rec, r, err_str(r), want);
	assert_string_equal(rua, want);
	free(rua);
}

static void
expect_rua_err(const char *rec, int err)
{
	char *rua;
	int r = tlsrpt1(rec, &rua);

	if (r != err)
		fail_msg("'%s': %d (%s), want %d (%s)", rec, r, err_str(r), err, err_str(err));
	assert_null(rua);
}

static void
test_tlsrpt(void **state)
{
	struct txt_rr rrs[2];
	char *rua = NULL;

	expect_rua("v=TLSRPTv1 ; rua=mailto:a@example.com", "mailto:a@example.com");
	expect_rua("v=TLSRPTv1;rua=mailto:a@example.com , \thttps://r.example/x?a=b;",
	           "mailto:a@example.com,https://r.example/x?a=b");
	expect_rua("v=TLSRPTv1; foo=bar; rua=mailto:x@y.example; baz=1", "mailto:x@y.example");
	expect_rua("v=TLSRPTv1; rua=mailto:first@x.example; rua=mailto:second@x.example",
	           "mailto:first@x.example");
	expect_rua("v=TLSRPTv1; rua=mailto:a%21b@example.com", "mailto:a%21b@example.com");
	expect_rua_err("v=TLSRPTv1; rua=", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1; rua=notauri", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1; rua=mailto:", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1; rua=mailto:a@example.com!10m", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1; rua=mailto:a@example.com,", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1; foo=bar", ERR_TXT_SYNTAX);
	expect_rua_err("v=TLSRPTv1", ERR_TXT_SYNTAX);
	expect_rua_err("v=tlsrptv1; rua=mailto:a@example.com", ERR_TXT_NONE);
	expect_rua_err("v=STSv1; id=abc", ERR_TXT_NONE);
	rrs[0] = (struct txt_rr){.data = "v=TLSRPTv1; rua=mailto:a@example.com", .len = 36};
	rrs[1] = rrs[0];
	assert_int_equal(tlsrpt_txt_parse(rrs, 2, &rua), ERR_TXT_MULTIPLE);
	assert_null(rua);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_txt_vectors), cmocka_unit_test(test_tlsrpt_vectors),
	        cmocka_unit_test(test_txt_syntax),  cmocka_unit_test(test_txt_rrsets),
	        cmocka_unit_test(test_tlsrpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
