/*
 * tests/unit/acme/test_acme_plan.c - acme/acme_plan.c: renewal time, backoff, expiry warning
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "acme_plan.h"
#include "mtasts_limits.h"

#define DAY 86400

static void
test_renewal(void **state)
{
	time_t nb = 1000000000, t;
	uint64_t r;

	(void)state;
	/* 90 days: 30 days before expiry, minus at most 90/50 days of jitter */
	assert_int_equal(acme_plan_renewal(nb, nb + 90 * DAY, 0), nb + 60 * DAY);
	for (r = 0; r < 2000; r += 97) {
		t = acme_plan_renewal(nb, nb + 90 * DAY, r * 7919);
		assert_true(t <= nb + 60 * DAY);
		assert_true(t >= nb + 60 * DAY - (90 * DAY) / ACME_RENEW_JITTER_DIV);
	}
	/* 6 days (Let's Encrypt's short-lived certificates): 2 days before expiry */
	assert_int_equal(acme_plan_renewal(nb, nb + 6 * DAY, 0), nb + 4 * DAY);
	/* no lifetime: renew at notAfter */
	assert_int_equal(acme_plan_renewal(nb, nb, 5), nb);
	assert_int_equal(acme_plan_renewal(nb, nb - 1, 5), nb - 1);
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(acme_plan_backoff_ms(1, 60000, 6 * 3600000ull, 0), 60000);
	assert_int_equal(acme_plan_backoff_ms(2, 60000, 6 * 3600000ull, 0), 120000);
	assert_int_equal(acme_plan_backoff_ms(4, 60000, 6 * 3600000ull, 0), 480000);
	/* bounded, however many failures */
	assert_int_equal(acme_plan_backoff_ms(100, 60000, 6 * 3600000ull, 0), 6 * 3600000ull);
	assert_int_equal(acme_plan_backoff_ms(4000000000u, 1000, 4000, 0), 4000);
	/* the CA's Retry-After wins when longer, never when shorter */
	assert_int_equal(acme_plan_backoff_ms(1, 60000, 6 * 3600000ull, 3600000), 3600000);
	assert_int_equal(acme_plan_backoff_ms(3, 60000, 6 * 3600000ull, 1000), 240000);
}

static void
test_expiring(void **state)
{
	time_t nb = 1000000000, na = nb + 90 * DAY;

	(void)state;
	assert_false(acme_plan_expiring(nb, na, nb + 60 * DAY)); /* 30 days left of 90 */
	assert_true(acme_plan_expiring(nb, na, na - 14 * DAY));  /* under 15 days left */
	assert_false(acme_plan_expiring(nb, na, na + 1));        /* expired: not "expiring" */
	assert_false(acme_plan_expiring(nb, nb, nb - 1));        /* no lifetime */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_renewal),
	        cmocka_unit_test(test_backoff),
	        cmocka_unit_test(test_expiring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
