/*
 * tests/unit/resolver/test_cache_codec.c - cache_entry_encode/decode (docs/cache.md)
 *
 * Round trips of every kind, the exact version-1 text, and corrupt values rejected:
 * truncation at every byte, wrong version, unknown kind, bad numbers, bad id, body length
 * mismatch, trailing bytes, an invalid policy body. cache_entry_bound() (issue 15 part 4):
 * the rules a shared value is held to, each with real numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "err.h"
#include "xalloc.h"

static const char *policy_text =
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
        "max_age: 604800\r\n";

static void
make_policy_entry(struct cache_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = CACHE_POLICY;
	(void)snprintf(e->id, sizeof(e->id), "20240101T000000Z");
	assert_int_equal(sts_policy_parse(policy_text, strlen(policy_text), &e->policy, NULL), 0);
	e->fetched_at = 1700000000;
	e->expires_at = 1700604800;
	e->last_check = 1700003600;
	e->retry_after = 0;
	e->last_error = ERR_FETCH_HTTP;
}

static void
round_trip_policy(void **state)
{
	struct cache_entry e, d;
	char *s;
	size_t i;

	make_policy_entry(&e);
	s = cache_entry_encode(&e);
	assert_true(strncmp(s, "mtastsd-cache 1\nkind policy\nid 20240101T000000Z\n", 46) == 0);
	assert_int_equal(cache_entry_decode(s, strlen(s), &d), 0);
	assert_int_equal(d.kind, CACHE_POLICY);
	assert_string_equal(d.id, "20240101T000000Z");
	assert_int_equal(d.fetched_at, 1700000000);
	assert_int_equal(d.expires_at, 1700604800);
	assert_int_equal(d.last_check, 1700003600);
	assert_int_equal(d.retry_after, 0);
	assert_int_equal(d.last_error, ERR_FETCH_HTTP);
	assert_non_null(d.policy);
	assert_int_equal(d.policy->mode, STS_MODE_ENFORCE);
	assert_int_equal(d.policy->max_age_s, 604800);
	assert_int_equal(d.policy->n_mx, 2);
	assert_string_equal(d.policy->mx[0], "mail.example.com");
	assert_string_equal(d.policy->mx[1], "*.example.net");
	/* Every truncation is rejected (never a partial entry). */
	for (i = 0; i < strlen(s); i++) {
		struct cache_entry t;

		assert_int_equal(cache_entry_decode(s, i, &t), ERR_CACHE_DECODE);
		assert_null(t.policy);
	}
	cache_entry_clear(&d);
	free(s);
	cache_entry_clear(&e);
}

static void
round_trip_negative(void **state)
{
	struct cache_entry e = {.kind = CACHE_NO_POLICY,
	                        .expires_at = 1700000300,
	                        .last_check = 1700000000,
	                        .last_error = ERR_DNS_NXDOMAIN};
	struct cache_entry d;
	char *s = cache_entry_encode(&e);

	assert_string_equal(s, "mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\n"
	                       "expires_at 1700000300\nlast_check 1700000000\nretry_after 0\n"
	                       "last_error -1060\nbody 0\n");
	assert_int_equal(cache_entry_decode(s, strlen(s), &d), 0);
	assert_int_equal(d.kind, CACHE_NO_POLICY);
	assert_string_equal(d.id, "");
	assert_null(d.policy);
	assert_int_equal(d.last_error, ERR_DNS_NXDOMAIN);
	free(s);
	e.kind = CACHE_TEMPFAIL;
	(void)snprintf(e.id, sizeof(e.id), "abc123");
	e.retry_after = 1700000060;
	s = cache_entry_encode(&e);
	assert_int_equal(cache_entry_decode(s, strlen(s), &d), 0);
	assert_int_equal(d.kind, CACHE_TEMPFAIL);
	assert_string_equal(d.id, "abc123");
	assert_int_equal(d.retry_after, 1700000060);
	free(s);
}

static void
reject(const char *v)
{
	struct cache_entry d;

	if (cache_entry_decode(v, strlen(v), &d) != ERR_CACHE_DECODE)
		fail_msg("accepted: '%s'", v);
	assert_null(d.policy);
}

static void
corrupt_rejected(void **state)
{
	const char *ok = "mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\nexpires_at 5\n"
	                 "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n";
	struct cache_entry d;
	char *v;

	assert_int_equal(cache_entry_decode(ok, strlen(ok), &d), 0);
	reject("");
	reject("mtastsd-cache 2\nkind no-policy\nid -\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind maybe\nid -\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid a-b\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid 012345678901234567890123456789012\n"
	       "fetched_at 0\nexpires_at 5\nlast_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid -\nfetched_at -1\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\nexpires_at 5x\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 7\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid -\nexpires_at 5\nfetched_at 0\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	reject("mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\nexpires_at "
	       "99999999999999999999\nlast_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	/* trailing bytes, body on a negative entry, policy without body */
	v = xasprintf("%sX", ok);
	reject(v);
	free(v);
	reject("mtastsd-cache 1\nkind no-policy\nid -\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 1\nX");
	reject("mtastsd-cache 1\nkind policy\nid a\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 0\n");
	/* a body that is not a valid policy */
	reject("mtastsd-cache 1\nkind policy\nid a\nfetched_at 0\nexpires_at 5\n"
	       "last_check 0\nretry_after 0\nlast_error 0\nbody 12\nmode: bogus\n");
	/* body length disagrees with what follows */
	v = xasprintf("mtastsd-cache 1\nkind policy\nid a\nfetched_at 0\nexpires_at 5\n"
	              "last_check 0\nretry_after 0\nlast_error 0\nbody %zu\n%s",
	              strlen(policy_text) + 1, policy_text);
	reject(v);
	free(v);
	v = xasprintf("mtastsd-cache 1\nkind policy\nid a\nfetched_at 0\nexpires_at 5\n"
	              "last_check 0\nretry_after 0\nlast_error 0\nbody %zu\n%s",
	              strlen(policy_text), policy_text);
	assert_int_equal(cache_entry_decode(v, strlen(v), &d), 0);
	assert_int_equal(d.policy->n_mx, 2);
	cache_entry_clear(&d);
	assert_null(d.policy);
	free(v);
	/* NULL and an over-long value */
	assert_int_equal(cache_entry_decode(NULL, 0, &d), ERR_CACHE_DECODE);
	v = xcalloc(1, CACHE_VALUE_MAX + 2);
	memset(v, 'a', CACHE_VALUE_MAX + 1);
	reject(v);
	free(v);
}

/* What a value from the shared tier may claim. now = 1700000000, the local negative_ttl
 * 300 s and tempfail_ttl 60 s; the policy's max_age is 604800. */
static void
bound_rules(void **state)
{
	static const struct {
		const char *name;
		enum cache_kind kind;
		long long fetched_at, expires_at, last_check, retry_after;
		int want_r, want_clamped;
		long long want_expires, want_last_check, want_retry;
	} cases[] = {
	        /* honest values pass untouched */
	        {"honest policy", CACHE_POLICY, -100, 604700, -100, 0, 0, 0, 604700, -100, 0},
	        {"honest no-policy", CACHE_NO_POLICY, 0, 290, -10, 0, 0, 0, 290, -10, 0},
	        {"honest tempfail", CACHE_TEMPFAIL, 0, 50, -10, 0, 0, 0, 50, -10, 0},
	        {"skew allowed", CACHE_POLICY, 300, 300, 300, 0, 0, 1, 300, 0, 0},
	        /* a policy expires no later than fetched_at + max_age */
	        {"policy expiry 2^40", CACHE_POLICY, -100, (1LL << 40) - 1700000000, -100, 0, 0, 1,
	         604700, -100, 0},
	        {"policy fetched 8 days ago", CACHE_POLICY, -8 * 86400, 86400, -8 * 86400, 0, 0, 1,
	         604800 - 8 * 86400, -8 * 86400, 0},
	        /* negative entries: no later than last_check (at most now) + the local TTL */
	        {"no-policy expiry 2^40", CACHE_NO_POLICY, 0, (1LL << 40) - 1700000000, -10, 0, 0,
	         1, 290, -10, 0},
	        {"no-policy never rewritten", CACHE_NO_POLICY, 0, 86400, -1000, 0, 0, 1, -700,
	         -1000, 0},
	        {"tempfail a day", CACHE_TEMPFAIL, 0, 86400, 0, 0, 0, 1, 60, 0, 0},
	        {"tempfail last_check 0", CACHE_TEMPFAIL, 0, 86400, -1700000000, 0, 0, 1,
	         -1700000000 + 60, -1700000000, 0},
	        /* retry_after no later than last_check + tempfail_ttl */
	        {"retry_after 2^40", CACHE_POLICY, -100, 604700, -100, (1LL << 40) - 1700000000, 0,
	         1, 604700, -100, -40},
	        /* the future is refused (a miss) */
	        {"fetched_at +301", CACHE_POLICY, 301, 604800, 0, 0, ERR_CACHE_DECODE, 0, 0, 0, 0},
	        {"fetched_at +1 year", CACHE_NO_POLICY, 31557600, 31557900, 0, 0, ERR_CACHE_DECODE,
	         0, 0, 0, 0},
	        {"last_check +1 day", CACHE_TEMPFAIL, 0, 60, 86400, 0, ERR_CACHE_DECODE, 0, 0, 0,
	         0},
	        /* expires_at before fetched_at is refused (no writer stores that) */
	        {"policy expires before fetched", CACHE_POLICY, -100, -101, -100, 0,
	         ERR_CACHE_DECODE, 0, 0, 0, 0},
	        {"policy expires a day before fetched", CACHE_POLICY, 200, 200 - 86400, 0, 0,
	         ERR_CACHE_DECODE, 0, 0, 0, 0},
	        {"no-policy expires before fetched", CACHE_NO_POLICY, -10, -20, -10, 0,
	         ERR_CACHE_DECODE, 0, 0, 0, 0},
	        {"policy expires at fetched", CACHE_POLICY, -100, -100, -100, 0, 0, 0, -100, -100,
	         0},
	};
	const time_t now = 1700000000;
	const struct cache_trust t = {.negative_ttl_s = 300, .tempfail_ttl_s = 60};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cache_entry e;
		char why[128] = "x";
		int clamped = -1, r;

		print_message("case: %s\n", cases[i].name);
		if (cases[i].kind == CACHE_POLICY) {
			make_policy_entry(&e);
		} else {
			memset(&e, 0, sizeof(e));
			e.kind = cases[i].kind;
		}
		e.fetched_at = now + (time_t)cases[i].fetched_at;
		e.expires_at = now + (time_t)cases[i].expires_at;
		e.last_check = now + (time_t)cases[i].last_check;
		e.retry_after = cases[i].retry_after != 0 ? now + (time_t)cases[i].retry_after : 0;
		r = cache_entry_bound(&e, now, &t, &clamped, why, sizeof(why));
		assert_int_equal(r, cases[i].want_r);
		if (r == 0) {
			assert_int_equal(clamped, cases[i].want_clamped);
			assert_int_equal(e.expires_at, now + (time_t)cases[i].want_expires);
			assert_int_equal(e.last_check, now + (time_t)cases[i].want_last_check);
			assert_int_equal(e.retry_after, cases[i].want_retry != 0
			                                        ? now + (time_t)cases[i].want_retry
			                                        : 0);
			/* what is kept is consistent: fetched no later than now, and a policy
			 * no later than its expiry (pol_refresh_before() needs no clamp) */
			assert_true(e.fetched_at <= now);
			if (e.kind == CACHE_POLICY)
				assert_true(e.fetched_at <= e.expires_at);
			if (!clamped)
				assert_string_equal(why, "");
			else
				assert_non_null(strstr(why, "past what it proves"));
		} else {
			assert_true(strstr(why, "in the future") != NULL ||
			            strstr(why, "before fetched_at") != NULL);
		}
		cache_entry_clear(&e);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(round_trip_policy),
	        cmocka_unit_test(round_trip_negative),
	        cmocka_unit_test(corrupt_rejected),
	        cmocka_unit_test(bound_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
