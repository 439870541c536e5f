/*
 * tests/unit/common/test_statedb.c - the state database (common/statedb.c)
 *
 * Real SQLite files in a private temp directory: schema version and application id of a
 * new file, write / replace / read / remove of policy rows, the load order and bound,
 * expired rows dropped, data kept across a reopen, and the files that must not be used:
 * garbage bytes (corrupt, then set aside and replaced), a newer schema, a foreign SQLite
 * file, an unwritable path, another process's write lock (at open and later).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "../sqlutil.h"
#include "../testutil.h"

struct fx {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	(void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/mtastsd-statedb.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	(void)snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, STATEDB_FILE_NAME);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char *argv[] = {"rm", "-rf", fx->dir, NULL};

	(void)tu_run_quiet(argv);
	free(fx);
	return 0;
}

static struct statedb *
open_ok(const char *path)
{
	struct statedb *db = NULL;
	char err[256];
	int r = statedb_open(path, &db, err, sizeof(err));

	if (r != 0)
		fail_msg("statedb_open(%s): %s: %s", path, err_str(r), err);
	return db;
}

static const char policy_a[] =
        "version: STSv1\r\nmode: enforce\r\nmx: mail.a.example\r\nmax_age: 604800\r\n";
static const char policy_b[] = "version: STSv1\r\nmode: testing\r\nmx: *.b.example\r\nmax_age: "
                               "86400\r\n";

/* What a load saw: "domain id fetched expires|" per row, in order. */
struct seen {
	char text[1024];
	size_t rows;
	size_t stop_after;
};

static int
seen_row(const struct statedb_policy *p, void *arg)
{
	struct seen *s = arg;
	size_t len = strlen(s->text);

	(void)snprintf(s->text + len, sizeof(s->text) - len, "%s %s %lld %lld%s|", p->domain, p->id,
	               (long long)p->fetched_at, (long long)p->expires_at,
	               strcmp(p->text, policy_a) == 0   ? " A"
	               : strcmp(p->text, policy_b) == 0 ? " B"
	                                                : " ?");
	assert_int_equal(strlen(p->text), p->text_len);
	s->rows++;
	return s->stop_after > 0 && s->rows >= s->stop_after;
}

static const char *
load(struct statedb *db, size_t max, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(statedb_policy_load(db, max, seen_row, s), 0);
	return s->text;
}

static void
new_file_schema(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path);
	struct stat st;
	size_t n = 99;

	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(statedb_schema_version(db), STATEDB_SCHEMA_VERSION);
	assert_string_equal(statedb_path(db), fx->path);
	assert_int_equal(statedb_policy_count(db, &n), 0);
	assert_int_equal(n, 0);
	db = statedb_close(db);
	assert_null(db);
	assert_int_equal(tu_sql_int(fx->path, "PRAGMA user_version"), STATEDB_SCHEMA_VERSION);
	assert_int_equal(tu_sql_int(fx->path, "PRAGMA application_id"), STATEDB_APPLICATION_ID);
	/* WAL mode is a property of the file: a reader sees it too. */
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM pragma_journal_mode "
	                                      "WHERE journal_mode = 'wal'"),
	                 1);
	/* Reopening a current file changes nothing. */
	db = open_ok(fx->path);
	assert_int_equal(statedb_schema_version(db), STATEDB_SCHEMA_VERSION);
	statedb_close(db);
}

static void
write_read_remove(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path);
	struct seen s;
	size_t n;

	assert_int_equal(statedb_begin(db), 0);
	tu_policy_row(db, "a.example", "a1", policy_a, 1000, 605800);
	tu_policy_row(db, "b.example", "b1", policy_b, 900, 87300);
	tu_policy_row(db, "c.example", "c1", policy_a, 1100, 605900);
	assert_int_equal(statedb_commit(db), 0);
	/* oldest fetch first */
	assert_string_equal(load(db, 0, &s), "b.example b1 900 87300 B|a.example a1 1000 605800 "
	                                     "A|c.example c1 1100 605900 A|");
	/* replace: same key, new values, now the newest */
	tu_policy_row(db, "b.example", "b2", policy_a, 1200, 606000);
	assert_string_equal(load(db, 0, &s), "a.example a1 1000 605800 A|c.example c1 1100 605900 "
	                                     "A|b.example b2 1200 606000 A|");
	/* a bound keeps the newest rows, still oldest first */
	assert_string_equal(load(db, 2, &s),
	                    "c.example c1 1100 605900 A|b.example b2 1200 606000 A|");
	/* the callback can stop the walk */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(statedb_policy_load(db, 0, seen_row, &s), 0);
	assert_int_equal(s.rows, 1);
	/* remove one, a missing one, then everything */
	assert_int_equal(statedb_policy_delete(db, "a.example"), 0);
	assert_int_equal(statedb_policy_delete(db, "nope.example"), 0);
	assert_int_equal(statedb_policy_count(db, &n), 0);
	assert_int_equal(n, 2);
	/* a rolled back transaction leaves nothing */
	assert_int_equal(statedb_begin(db), 0);
	assert_int_equal(statedb_policy_delete_all(db), 0);
	statedb_rollback(db);
	assert_int_equal(statedb_policy_count(db, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(statedb_policy_delete_all(db), 0);
	assert_int_equal(statedb_policy_count(db, &n), 0);
	assert_int_equal(n, 0);
	statedb_close(db);
}

/* The miss path's read, the expiry-only delete, and the table's bound. */
static void
policy_get_trim(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path);
	struct seen s;
	size_t n = 99;

	tu_policy_row(db, "a.example", "a1", policy_a, 1000, 5000);
	tu_policy_row(db, "b.example", "b1", policy_b, 1000, 3000);
	tu_policy_row(db, "c.example", "c1", policy_a, 1000, 4000);
	tu_policy_row(db, "d.example", "d1", policy_b, 1000, 2000);
	memset(&s, 0, sizeof(s));
	assert_int_equal(statedb_policy_get(db, "c.example", seen_row, &s), 0);
	assert_string_equal(s.text, "c.example c1 1000 4000 A|");
	memset(&s, 0, sizeof(s));
	assert_int_equal(statedb_policy_get(db, "none.example", seen_row, &s), 1);
	assert_int_equal(s.rows, 0);
	/* only when expired */
	assert_int_equal(statedb_policy_delete_expired(db, "d.example", 1999), 0);
	assert_int_equal(statedb_policy_get(db, "d.example", seen_row, &s), 0);
	assert_int_equal(statedb_policy_delete_expired(db, "d.example", 2000), 0);
	assert_int_equal(statedb_policy_get(db, "d.example", seen_row, &s), 1);
	/* keep the 2 that expire last: b (3000) goes */
	assert_int_equal(statedb_policy_trim(db, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(load(db, 0, &s), "a.example a1 1000 5000 A|c.example c1 1000 4000 A|");
	assert_int_equal(statedb_policy_trim(db, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(statedb_policy_trim(db, 0, &n), 0);
	assert_int_equal(n, 2);
	statedb_close(db);
}

static void
kept_across_reopen(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path);
	struct seen s;

	tu_policy_row(db, "a.example", "a1", policy_a, 1000, 605800);
	statedb_close(db);
	db = open_ok(fx->path);
	assert_string_equal(load(db, 0, &s), "a.example a1 1000 605800 A|");
	statedb_close(db);
	/* what the admin sees with the sqlite3 shell */
	assert_int_equal(tu_sql_int(fx->path, "SELECT expires_at FROM sts_policy "
	                                      "WHERE domain = 'a.example'"),
	                 605800);
}

static void
expired_dropped(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path);
	struct seen s;
	size_t n = 99;

	tu_policy_row(db, "old.example", "o1", policy_a, 100, 2000);
	tu_policy_row(db, "edge.example", "e1", policy_a, 200, 3000);
	tu_policy_row(db, "live.example", "l1", policy_b, 300, 3001);
	assert_int_equal(statedb_policy_drop_expired(db, 3000, &n), 0);
	assert_int_equal(n, 2); /* expires_at <= now is expired */
	assert_string_equal(load(db, 0, &s), "live.example l1 300 3001 B|");
	assert_int_equal(statedb_policy_drop_expired(db, 3000, NULL), 0);
	statedb_close(db);
}

static void
bad_columns_passed_empty(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path);
	struct seen s;
	char sql[256];

	statedb_close(db);
	/* An id of the wrong type (a blob) and one too long: the caller's checks see "". */
	tu_sql_exec(fx->path, "INSERT INTO sts_policy VALUES ('x.example', x'6131', 'p', 1, 2)");
	(void)snprintf(sql, sizeof(sql),
	               "INSERT INTO sts_policy VALUES ('y.example', '%0*d', 'p', 3, 'soon')",
	               STS_ID_MAX + 1, 7);
	tu_sql_exec(fx->path, sql);
	db = open_ok(fx->path);
	assert_string_equal(load(db, 0, &s), "x.example  1 2 ?|y.example  3 0 ?|");
	statedb_close(db);
}

static void
corrupt_file(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = NULL;
	char err[256], aside[256], wal[160], awal[300];
	const char *garbage = "this is not an SQLite database, just garbage bytes written over "
	                      "the state file\n";
	struct stat st;
	size_t n;

	/* set aside moves the file and its WAL (never to be applied to a new file) */
	(void)snprintf(wal, sizeof(wal), "%s-wal", fx->path);
	assert_int_equal(tu_write_file(fx->path, garbage), 0);
	assert_int_equal(tu_write_file(wal, "stale wal"), 0);
	assert_int_equal(statedb_set_aside(fx->path, 1000, aside, sizeof(aside)), 0);
	assert_string_equal(aside + strlen(fx->path), ".corrupt-1000");
	assert_int_equal(stat(aside, &st), 0);
	(void)snprintf(awal, sizeof(awal), "%s-wal", aside);
	assert_int_equal(stat(awal, &st), 0);
	assert_int_equal(stat(wal, &st), -1);
	assert_int_equal(stat(fx->path, &st), -1);
	/* garbage bytes: refused as damaged, set aside, then a new file works */
	assert_int_equal(tu_write_file(fx->path, garbage), 0);
	assert_int_equal(statedb_open(fx->path, &db, err, sizeof(err)), ERR_STATEDB_CORRUPT);
	assert_null(db);
	assert_non_null(strstr(err, "not a database"));
	assert_int_equal(statedb_set_aside(fx->path, 2000, aside, sizeof(aside)), 0);
	assert_string_equal(aside + strlen(fx->path), ".corrupt-2000");
	db = open_ok(fx->path);
	assert_int_equal(statedb_policy_count(db, &n), 0);
	assert_int_equal(n, 0);
	statedb_close(db);
	/* nothing to set aside: the rename's error */
	assert_int_equal(statedb_set_aside("/nonexistent/state.db", 1, aside, sizeof(aside)),
	                 -ENOENT);
}

static void
newer_schema_untouched(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = NULL;
	char err[256], sql[128];

	(void)snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
	               STATEDB_APPLICATION_ID, STATEDB_SCHEMA_VERSION + 1);
	tu_sql_exec(fx->path, sql);
	assert_int_equal(statedb_open(fx->path, &db, err, sizeof(err)), ERR_STATEDB_VERSION);
	assert_null(db);
	assert_non_null(strstr(err, "schema version"));
	assert_int_equal(tu_sql_int(fx->path, "PRAGMA user_version"), STATEDB_SCHEMA_VERSION + 1);
	/* not switched to WAL either */
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM pragma_journal_mode "
	                                      "WHERE journal_mode = 'wal'"),
	                 0);
}

static void
foreign_file(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = NULL;
	char err[256];

	tu_sql_exec(fx->path, "CREATE TABLE something (x)");
	assert_int_equal(statedb_open(fx->path, &db, err, sizeof(err)), ERR_STATEDB_FOREIGN);
	tu_sql_exec(fx->path, "DROP TABLE something; PRAGMA application_id = 42");
	assert_int_equal(statedb_open(fx->path, &db, err, sizeof(err)), ERR_STATEDB_FOREIGN);
	assert_null(db);
}

static void
unwritable_path(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = NULL;
	char err[256], path[200];

	(void)snprintf(path, sizeof(path), "%s/missing/state.db", fx->dir);
	assert_int_equal(statedb_open(path, &db, err, sizeof(err)), ERR_STATEDB_IO);
	assert_null(db);
	(void)snprintf(path, sizeof(path), "%s/file", fx->dir);
	assert_int_equal(tu_write_file(path, "x"), 0);
	(void)snprintf(path, sizeof(path), "%s/file/state.db", fx->dir);
	assert_int_equal(statedb_open(path, &db, err, sizeof(err)), ERR_STATEDB_IO);
	/* the directory itself is not a database file */
	assert_int_equal(statedb_open(fx->dir, &db, err, sizeof(err)), ERR_STATEDB_IO);
}

static void
locked_by_another(void **state)
{
	struct fx *fx = *state;
	struct statedb *db = open_ok(fx->path), *db2 = NULL;
	sqlite3 *h = NULL;
	char err[256];

	statedb_close(db);
	assert_int_equal(sqlite3_open(fx->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	/* at open: waits STATEDB_OPEN_BUSY_MS at most, then gives up */
	assert_int_equal(statedb_open(fx->path, &db2, err, sizeof(err)), ERR_STATEDB_LOCKED);
	assert_null(db2);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	db = open_ok(fx->path);
	/* later: a write while another holds the lock fails at once, the next one works */
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(statedb_begin(db), ERR_STATEDB_LOCKED);
	statedb_rollback(db);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(statedb_begin(db), 0);
	tu_policy_row(db, "a.example", "a1", policy_a, 1, 2);
	assert_int_equal(statedb_commit(db), 0);
	sqlite3_close(h);
	statedb_close(db);
}

static void
mkdir_cases(void **state)
{
	struct fx *fx = *state;
	char path[200];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/state", fx->dir);
	assert_int_equal(statedb_mkdir(path, (uid_t)-1, (gid_t)-1), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0007, 0); /* mode 0750: nothing for others */
	assert_int_equal(statedb_mkdir(path, (uid_t)-1, (gid_t)-1), 0); /* exists: fine */
	(void)snprintf(path, sizeof(path), "%s/plain", fx->dir);
	assert_int_equal(tu_write_file(path, "x"), 0);
	assert_int_equal(statedb_mkdir(path, (uid_t)-1, (gid_t)-1), -ENOTDIR);
	(void)snprintf(path, sizeof(path), "%s/no/such", fx->dir);
	assert_int_equal(statedb_mkdir(path, (uid_t)-1, (gid_t)-1), -ENOENT);
}

static int
rollout_seen(const struct statedb_rollout *ro, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	(void)snprintf(out + n, 512 - n, "%s %s %s %u %lld %u %lld %u %s %lld;", ro->domain,
	               ro->policy_id, ro->mode, ro->max_age_s, (long long)ro->since,
	               ro->prev_max_age_s, (long long)ro->prev_until, ro->step, ro->step_state,
	               (long long)ro->step_at);
	return 0;
}

/* A file of schema 2 (the TLSRPT tables) is migrated to 3: its rows stay, table rollout
 * appears; rollout rows are written, replaced and read back. */
static void
rollout_migrate_rows(void **state)
{
	struct fx *fx = *state;
	struct statedb *db;
	char out[512] = "";
	char sql[4096];

	(void)snprintf(
	        sql, sizeof(sql),
	        "PRAGMA application_id = %d; PRAGMA user_version = 2;"
	        "CREATE TABLE sts_policy (domain TEXT PRIMARY KEY NOT NULL, id TEXT NOT NULL,"
	        " policy TEXT NOT NULL, fetched_at INTEGER NOT NULL,"
	        " expires_at INTEGER NOT NULL);"
	        "CREATE INDEX sts_policy_expires ON sts_policy (expires_at);"
	        "CREATE TABLE tlsrpt_report (id INTEGER PRIMARY KEY, org TEXT, report_id TEXT,"
	        " contact TEXT, source TEXT NOT NULL, peer TEXT NOT NULL,"
	        " received_at INTEGER NOT NULL, start_at INTEGER, end_at INTEGER,"
	        " status TEXT NOT NULL, reason TEXT, raw BLOB NOT NULL,"
	        " raw_size INTEGER NOT NULL, UNIQUE (org, report_id));"
	        "CREATE TABLE tlsrpt_session (report INTEGER NOT NULL, domain TEXT NOT NULL,"
	        " day INTEGER NOT NULL, policy_type TEXT NOT NULL, result TEXT NOT NULL,"
	        " mx_host TEXT NOT NULL, sessions INTEGER NOT NULL);"
	        "INSERT INTO tlsrpt_report VALUES (1, 'org', 'r1', NULL, 'file', '', 1, 1, 2,"
	        " 'ok', NULL, x'00', 1);"
	        "INSERT INTO tlsrpt_session VALUES (1, 'a.example', 20000, 'sts', 'success',"
	        " '', 42);",
	        STATEDB_APPLICATION_ID);
	tu_sql_exec(fx->path, sql);
	db = open_ok(fx->path);
	assert_int_equal(statedb_schema_version(db), 3);
	assert_int_equal(tu_sql_int(fx->path, "SELECT sum(sessions) FROM tlsrpt_session"), 42);
	assert_int_equal(statedb_rollout_load(db, rollout_seen, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(statedb_rollout_put(db,
	                                     &(struct statedb_rollout){
	                                             .domain = "b.example",
	                                             .policy_id = "id1",
	                                             .mode = "testing",
	                                             .max_age_s = 86400,
	                                             .since = 1800000000,
	                                             .step_state = "done",
	                                     }),
	                 0);
	assert_int_equal(statedb_rollout_put(db,
	                                     &(struct statedb_rollout){
	                                             .domain = "a.example",
	                                             .policy_id = "id2",
	                                             .mode = "none",
	                                             .max_age_s = 3600,
	                                             .since = 1800000100,
	                                             .prev_max_age_s = 604800,
	                                             .prev_until = 1800604900,
	                                             .step = 2,
	                                             .step_state = "serving",
	                                             .step_at = 1800000100,
	                                     }),
	                 0);
	/* replaced, not added */
	assert_int_equal(statedb_rollout_put(db,
	                                     &(struct statedb_rollout){
	                                             .domain = "b.example",
	                                             .policy_id = "id3",
	                                             .mode = "enforce",
	                                             .max_age_s = 604800,
	                                             .since = 1800000200,
	                                             .step = 1,
	                                             .step_state = "done",
	                                             .step_at = 1800000200,
	                                     }),
	                 0);
	assert_int_equal(statedb_rollout_load(db, rollout_seen, out), 0);
	assert_string_equal(out, "a.example id2 none 3600 1800000100 604800 1800604900 2 serving "
	                         "1800000100;b.example id3 enforce 604800 1800000200 0 0 1 done "
	                         "1800000200;");
	statedb_close(db);
	/* a hand-edited row of the wrong types (a blob mode) reads as empty values */
	tu_sql_exec(fx->path,
	            "UPDATE rollout SET max_age = 'x', mode = x'74657374696e67', step = -3 "
	            "WHERE domain = 'b.example'");
	db = open_ok(fx->path);
	out[0] = '\0';
	assert_int_equal(statedb_rollout_load(db, rollout_seen, out), 0);
	assert_string_equal(out, "a.example id2 none 3600 1800000100 604800 1800604900 2 serving "
	                         "1800000100;b.example id3  0 1800000200 0 0 0 done 1800000200;");
	statedb_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(new_file_schema, setup, teardown),
	        cmocka_unit_test_setup_teardown(write_read_remove, setup, teardown),
	        cmocka_unit_test_setup_teardown(policy_get_trim, setup, teardown),
	        cmocka_unit_test_setup_teardown(kept_across_reopen, setup, teardown),
	        cmocka_unit_test_setup_teardown(expired_dropped, setup, teardown),
	        cmocka_unit_test_setup_teardown(bad_columns_passed_empty, setup, teardown),
	        cmocka_unit_test_setup_teardown(corrupt_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(newer_schema_untouched, setup, teardown),
	        cmocka_unit_test_setup_teardown(foreign_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(unwritable_path, setup, teardown),
	        cmocka_unit_test_setup_teardown(locked_by_another, setup, teardown),
	        cmocka_unit_test_setup_teardown(mkdir_cases, setup, teardown),
	        cmocka_unit_test_setup_teardown(rollout_migrate_rows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
