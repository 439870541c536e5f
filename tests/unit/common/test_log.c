/*
 * tests/unit/common/test_log.c - log_rate_due(): one line per period, the rest counted
 *
 * Covers: the first line is due at once (also at clock 0), lines inside the period are held
 * back and counted, the next due line reports them and restarts the count, the period is
 * measured from the last written line (not from the held ones), independent kinds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

static void
test_rate_first_due(void **state)
{
	struct log_rate r = {0};
	uint64_t held = 99;

	(void)state;
	assert_int_equal(log_rate_due(&r, 0, 10000, &held), 1);
	assert_int_equal(held, 0);
	/* clock 0 was taken as 1: the next call within the period is held */
	assert_int_equal(log_rate_due(&r, 5000, 10000, &held), 0);
}

static void
test_rate_holds_and_counts(void **state)
{
	struct log_rate r = {0};
	uint64_t held = 99;
	int i;

	(void)state;
	assert_int_equal(log_rate_due(&r, 1000, 10000, &held), 1);
	assert_int_equal(held, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(log_rate_due(&r, 1000 + 100 * (uint64_t)i, 10000, &held), 0);
	assert_int_equal(r.suppressed, 5);
	/* 10999: still inside the period started at 1000 */
	assert_int_equal(log_rate_due(&r, 10999, 10000, &held), 0);
	assert_int_equal(log_rate_due(&r, 11000, 10000, &held), 1);
	assert_int_equal(held, 6);
	assert_int_equal(r.suppressed, 0);
	/* the next period starts at 11000, the last line written */
	assert_int_equal(log_rate_due(&r, 20999, 10000, &held), 0);
	assert_int_equal(log_rate_due(&r, 21000, 10000, &held), 1);
	assert_int_equal(held, 1);
}

static void
test_rate_kinds_apart(void **state)
{
	struct log_rate a = {0}, b = {0};
	uint64_t held;

	(void)state;
	assert_int_equal(log_rate_due(&a, 100, 1000, &held), 1);
	assert_int_equal(log_rate_due(&b, 200, 1000, &held), 1);
	assert_int_equal(log_rate_due(&a, 300, 1000, &held), 0);
	assert_int_equal(log_rate_due(&b, 1200, 1000, &held), 1);
	assert_int_equal(held, 0);
	assert_int_equal(a.suppressed, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rate_first_due),
	        cmocka_unit_test(test_rate_holds_and_counts),
	        cmocka_unit_test(test_rate_kinds_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
