/*
 * tests/unit/publisher/test_pub_id.c - policy id derivation and DNS record lines
 *
 * Covers: pub_policy_id() (stable, ALPHA/DIGIT, 32 chars, explicit override, changes with
 *         every policy field), pub_dns_records() (owner names and texts, TLSRPT only when
 *         set; the zone-file lines are tests/unit/cli/test_cli.c's).
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pub.h"

static char *test_mx[] = {"mail.example.com", "*.example.net"};

static void
dom_init(struct cfg_domain *d)
{
	memset(d, 0, sizeof(*d));
	d->domain = "example.com";
	d->policy.mode = STS_MODE_ENFORCE;
	d->policy.max_age_s = 604800;
	d->policy.n_mx = 2;
	d->policy.mx = test_mx;
}

/* The id is SHA-256 of the canonical text, first 160 bits in base32hex (lower case):
 * python3 -c 'import hashlib,base64; print(base64.b32hexencode(hashlib.sha256(
 *   b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
 *   b"max_age: 604800\r\n").digest()[:20]).decode().lower())' */
static void
test_id_known_value(void **state)
{
	struct cfg_domain d;
	char *id;

	(void)state;
	dom_init(&d);
	id = pub_policy_id(&d);
	assert_string_equal(id, "tn5h3v0aq4bhr47ddo8tulqk4mqf2tna");
	free(id);
}

static void
test_id_charset_and_length(void **state)
{
	struct cfg_domain d;
	char *id;
	size_t i;

	(void)state;
	dom_init(&d);
	id = pub_policy_id(&d);
	assert_int_equal(strlen(id), 32);
	for (i = 0; id[i] != '\0'; i++)
		assert_true(isalnum((unsigned char)id[i]));
	free(id);
}

static void
test_id_stable(void **state)
{
	struct cfg_domain a, b;
	char *ida, *idb;
	char *mx_copy[] = {strdup("mail.example.com"), strdup("*.example.net")};

	(void)state;
	dom_init(&a);
	dom_init(&b);
	b.domain = "other.example"; /* the id depends on the policy text only */
	b.policy.mx = mx_copy;
	ida = pub_policy_id(&a);
	idb = pub_policy_id(&b);
	assert_string_equal(ida, idb);
	free(ida);
	free(idb);
	free(mx_copy[0]);
	free(mx_copy[1]);
}

static void
test_id_changes_with_policy(void **state)
{
	char *mx_one[] = {"mail.example.com"};
	char *mx_swapped[] = {"*.example.net", "mail.example.com"};
	struct cfg_domain d;
	char *ids[6];
	size_t i, j;

	(void)state;
	dom_init(&d);
	ids[0] = pub_policy_id(&d);
	d.policy.mode = STS_MODE_TESTING;
	ids[1] = pub_policy_id(&d);
	dom_init(&d);
	d.policy.max_age_s = 86400;
	ids[2] = pub_policy_id(&d);
	dom_init(&d);
	d.policy.n_mx = 1;
	d.policy.mx = mx_one;
	ids[3] = pub_policy_id(&d);
	dom_init(&d);
	d.policy.mx = mx_swapped;
	ids[4] = pub_policy_id(&d);
	dom_init(&d);
	d.policy.mode = STS_MODE_NONE;
	d.policy.n_mx = 0;
	d.policy.mx = NULL;
	ids[5] = pub_policy_id(&d);
	for (i = 0; i < 6; i++)
		for (j = i + 1; j < 6; j++)
			assert_string_not_equal(ids[i], ids[j]);
	for (i = 0; i < 6; i++)
		free(ids[i]);
}

static void
test_id_explicit(void **state)
{
	struct cfg_domain d;
	char *id;

	(void)state;
	dom_init(&d);
	d.id = "20240101T000000Z";
	id = pub_policy_id(&d);
	assert_string_equal(id, "20240101T000000Z");
	free(id);
}

static void
test_dns_records(void **state)
{
	struct cfg_domain d[2];
	struct pub_dns_records *r;
	struct cfg c;
	char text[64];
	char *id;

	(void)state;
	memset(&c, 0, sizeof(c));
	r = pub_dns_records(&c);
	assert_int_equal(r->n_domains, 0);
	r = pub_dns_records_free(r);
	assert_null(r);

	dom_init(&d[0]);
	dom_init(&d[1]);
	d[0].tlsrpt_rua = "mailto:tlsrpt@example.com";
	d[1].domain = "example.org";
	d[1].id = "abc123";
	d[1].policy.mode = STS_MODE_TESTING;
	c.publisher.n_domains = 2;
	c.publisher.domains = d;
	r = pub_dns_records(&c);
	assert_int_equal(r->ttl_s, 3600);
	assert_int_equal(r->n_domains, 2);
	id = pub_policy_id(&d[0]);
	snprintf(text, sizeof(text), "v=STSv1; id=%s", id);
	assert_string_equal(r->domains[0].domain, "example.com");
	assert_int_equal(r->domains[0].mode, STS_MODE_ENFORCE);
	assert_string_equal(r->domains[0].policy_host, "mta-sts.example.com");
	assert_string_equal(r->domains[0].sts_owner, "_mta-sts.example.com.");
	assert_string_equal(r->domains[0].sts_text, text);
	assert_string_equal(r->domains[0].tlsrpt_owner, "_smtp._tls.example.com.");
	assert_string_equal(r->domains[0].tlsrpt_text, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
	assert_string_equal(r->domains[1].domain, "example.org");
	assert_int_equal(r->domains[1].mode, STS_MODE_TESTING);
	assert_string_equal(r->domains[1].sts_owner, "_mta-sts.example.org.");
	assert_string_equal(r->domains[1].sts_text, "v=STSv1; id=abc123");
	assert_null(r->domains[1].tlsrpt_owner);
	assert_null(r->domains[1].tlsrpt_text);
	free(id);
	(void)pub_dns_records_free(r);
	assert_null(pub_dns_records_free(NULL));

	/* receiving on: the https rua after the mailto ones (tlsrpt.mailto_rua once) */
	c.tlsrpt.receive = 1;
	c.tlsrpt.mailto_rua = "mailto:tlsrpt@example.com";
	r = pub_dns_records(&c);
	assert_string_equal(r->domains[0].tlsrpt_text,
	                    "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,"
	                    "https://mta-sts.example.com/.well-known/tlsrpt");
	assert_string_equal(r->domains[1].tlsrpt_owner, "_smtp._tls.example.org.");
	assert_string_equal(r->domains[1].tlsrpt_text,
	                    "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,"
	                    "https://mta-sts.example.org/.well-known/tlsrpt");
	(void)pub_dns_records_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_id_known_value),
	        cmocka_unit_test(test_id_charset_and_length),
	        cmocka_unit_test(test_id_stable),
	        cmocka_unit_test(test_id_changes_with_policy),
	        cmocka_unit_test(test_id_explicit),
	        cmocka_unit_test(test_dns_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
