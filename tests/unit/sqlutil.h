/*
 * tests/unit/sqlutil.h - helpers of the unit tests that look into a state database file
 *                        (common/statedb.h) the way an admin's sqlite3 shell does
 *
 * Interface: tu_sql_exec(), tu_sql_int(), tu_policy_row().
 * Ownership: every call opens and closes its own connection (tu_policy_row() uses the
 *            caller's handle); nothing is kept.
 * Errors:    a failure fails the running cmocka test.
 * Header-only (static inline); include after <cmocka.h>.
 */
#ifndef MTASTSD_TEST_SQLUTIL_H
#define MTASTSD_TEST_SQLUTIL_H

#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "statedb.h"

/* Run the SQL statements sql on a separate connection to the file at path. */
static inline void
tu_sql_exec(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(h);
}

/* The first column of the first row of sql, as an integer; -1 when there is no row. */
static inline long long
tu_sql_int(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* Write one sts_policy row through the module under test. */
static inline void
tu_policy_row(struct statedb *db, const char *dom, const char *id, const char *text, time_t fetched,
              time_t expires)
{
	struct statedb_policy p = {.domain = dom,
	                           .id = id,
	                           .text = text,
	                           .text_len = strlen(text),
	                           .fetched_at = fetched,
	                           .expires_at = expires};

	assert_int_equal(statedb_policy_put(db, &p), 0);
}

#endif
