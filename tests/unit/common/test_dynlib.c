/*
 * tests/unit/common/test_dynlib.c - a system library loaded on first use (common/dynlib.c)
 *
 * Covers: a library and its symbols resolved (libc's strlen, called through the pointer),
 * a library that does not exist (-ENOENT, its name in the reason, the pointers untouched),
 * a missing symbol among present ones (-ENOSYS, no pointer set, not even the present
 * ones), loading the same library twice.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dynlib.h"

static struct {
	size_t (*strlen)(const char *);
	int (*mtastsd_no_such_symbol)(void);
} api;

static void
test_load(void **state)
{
	char why[256] = "";
	const struct dynlib_sym syms[] = {DYNLIB_SYM(api, strlen)};

	(void)state;
	memset(&api, 0, sizeof(api));
	assert_int_equal(dynlib_load("libc.so.6", syms, 1, why, sizeof(why)), 0);
	assert_non_null(api.strlen);
	assert_int_equal(api.strlen("mta-sts"), 7);
	/* again: the same library, already loaded */
	assert_int_equal(dynlib_load("libc.so.6", syms, 1, why, sizeof(why)), 0);
	assert_int_equal(api.strlen(""), 0);
}

static void
test_missing(void **state)
{
	char why[256] = "";
	const struct dynlib_sym one[] = {DYNLIB_SYM(api, strlen)};
	const struct dynlib_sym two[] = {DYNLIB_SYM(api, strlen),
	                                 DYNLIB_SYM(api, mtastsd_no_such_symbol)};

	(void)state;
	memset(&api, 0, sizeof(api));
	assert_int_equal(dynlib_load("libmtastsd-no-such-library.so.0", one, 1, why, sizeof(why)),
	                 -ENOENT);
	assert_non_null(strstr(why, "libmtastsd-no-such-library.so.0"));
	assert_null(api.strlen);
	why[0] = '\0';
	assert_int_equal(dynlib_load("libc.so.6", two, 2, why, sizeof(why)), -ENOSYS);
	assert_non_null(strstr(why, "mtastsd_no_such_symbol"));
	assert_null(api.strlen); /* all or nothing */
	assert_null(api.mtastsd_no_such_symbol);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_load),
	        cmocka_unit_test(test_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
