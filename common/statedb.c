/*
 * common/statedb.c - the state database: one SQLite file that survives restarts
 *
 * Interface: see statedb.h (schema, versions, errors)
 * Threads:   one thread per handle (SQLite connection opened with SQLITE_OPEN_NOMUTEX).
 * Ownership: the handle owns its connection and its prepared statements.
 * Errors:    SQLite result codes are mapped to ERR_STATEDB_* by statedb_code(); never logs.
 *
 * Every statement is prepared once (statedb_open()) or, for the constant migration and
 * PRAGMA scripts, prepared statement by statement from a constant string; values are
 * always bound, never pasted into SQL text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "xalloc.h"

enum statedb_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_POLICY_PUT,
	ST_POLICY_DELETE,
	ST_POLICY_DELETE_ALL,
	ST_POLICY_DROP_EXPIRED,
	ST_POLICY_LOAD,
	ST_POLICY_COUNT,
	ST_POLICY_GET,
	ST_POLICY_DELETE_EXPIRED,
	ST_POLICY_TRIM,
	ST_TLSRPT_ADD,
	ST_TLSRPT_ROW,
	ST_TLSRPT_PRUNE_AGE,
	ST_TLSRPT_PRUNE_SIZE,
	ST_TLSRPT_PRUNE_MALFORMED,
	ST_TLSRPT_PRUNE_ROWS,
	ST_TLSRPT_SUMS,
	ST_TLSRPT_ORGS,
	ST_TLSRPT_LAST,
	ST_TLSRPT_LAST_ALL,
	ST_TLSRPT_RAW,
	ST_TLSRPT_SUMS_DOM,
	ST_TLSRPT_ORGS_DOM,
	ST_ROLLOUT_PUT,
	ST_ROLLOUT_LOAD,
	ST_COUNT
};

static const char *const statedb_sql[ST_COUNT] = {
        [ST_BEGIN] = "BEGIN IMMEDIATE",
        [ST_COMMIT] = "COMMIT",
        [ST_ROLLBACK] = "ROLLBACK",
        [ST_POLICY_PUT] =
                "INSERT OR REPLACE INTO sts_policy "
                "(domain, id, policy, fetched_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        [ST_POLICY_DELETE] = "DELETE FROM sts_policy WHERE domain = ?1",
        [ST_POLICY_DELETE_ALL] = "DELETE FROM sts_policy",
        [ST_POLICY_DROP_EXPIRED] = "DELETE FROM sts_policy WHERE expires_at <= ?1",
        /* the newest ?1 rows (-1: all), handed out oldest first */
        [ST_POLICY_LOAD] = "SELECT domain, id, policy, fetched_at, expires_at FROM "
                           "(SELECT * FROM sts_policy ORDER BY fetched_at DESC, domain LIMIT ?1) "
                           "ORDER BY fetched_at, domain",
        [ST_POLICY_COUNT] = "SELECT count(*) FROM sts_policy",
        /* the primary key: one index lookup */
        [ST_POLICY_GET] = "SELECT domain, id, policy, fetched_at, expires_at FROM sts_policy "
                          "WHERE domain = ?1",
        [ST_POLICY_DELETE_EXPIRED] =
                "DELETE FROM sts_policy WHERE domain = ?1 AND expires_at <= ?2",
        /* everything but the ?1 latest-expiring rows (walks index sts_policy_expires) */
        [ST_POLICY_TRIM] = "DELETE FROM sts_policy WHERE domain IN (SELECT domain FROM "
                           "sts_policy ORDER BY expires_at DESC LIMIT -1 OFFSET ?1)",
        /* (org, report_id) is UNIQUE; a malformed report has both NULL (never equal) */
        [ST_TLSRPT_ADD] = "INSERT INTO tlsrpt_report (org, report_id, contact, source, peer, "
                          "received_at, start_at, end_at, status, reason, raw, raw_size) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                          "ON CONFLICT (org, report_id) DO NOTHING",
        [ST_TLSRPT_ROW] = "INSERT INTO tlsrpt_session (report, domain, day, policy_type, result, "
                          "mx_host, sessions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [ST_TLSRPT_PRUNE_AGE] = "DELETE FROM tlsrpt_report WHERE received_at < ?1",
        /* the newest parsed reports whose raw reports fit in ?1 bytes stay */
        [ST_TLSRPT_PRUNE_SIZE] =
                "DELETE FROM tlsrpt_report WHERE id IN (SELECT id FROM (SELECT id, "
                "sum(length(raw)) OVER (ORDER BY received_at DESC, id DESC) AS total "
                "FROM tlsrpt_report WHERE status != 'malformed') WHERE total > ?1)",
        /* the newest malformed ones that fit in ?2 bytes and in what the parsed ones leave
         * of ?1 stay */
        [ST_TLSRPT_PRUNE_MALFORMED] =
                "DELETE FROM tlsrpt_report WHERE id IN (SELECT id FROM (SELECT id, "
                "sum(length(raw)) OVER (ORDER BY received_at DESC, id DESC) AS total "
                "FROM tlsrpt_report WHERE status = 'malformed') WHERE total > "
                "min(?2, ?1 - (SELECT coalesce(sum(length(raw)), 0) FROM tlsrpt_report "
                "WHERE status != 'malformed')))",
        [ST_TLSRPT_PRUNE_ROWS] = "DELETE FROM tlsrpt_session WHERE report NOT IN "
                                 "(SELECT id FROM tlsrpt_report)",
        /* every domain (?1 unused), ?2 first day: the whole table */
        [ST_TLSRPT_SUMS] = "SELECT domain, day, policy_type, result, total(sessions), "
                           "count(DISTINCT report) FROM tlsrpt_session "
                           "WHERE day >= ?2 "
                           "GROUP BY domain, day, policy_type, result "
                           "ORDER BY domain, day, policy_type, result",
        [ST_TLSRPT_ORGS] = "SELECT s.domain, r.org, s.result, s.mx_host, total(s.sessions), "
                           "count(DISTINCT r.id) FROM tlsrpt_session s "
                           "JOIN tlsrpt_report r ON r.id = s.report "
                           "WHERE s.day >= ?2 "
                           "GROUP BY s.domain, r.org, s.result, s.mx_host "
                           "ORDER BY s.domain, r.org, s.result, s.mx_host",
        /* ?1 domain, ?2 first day: a search of the (domain, day) index ("?1 IS NULL OR
         * domain = ?1" made SQLite scan the whole index for every domain) */
        [ST_TLSRPT_SUMS_DOM] = "SELECT domain, day, policy_type, result, total(sessions), "
                               "count(DISTINCT report) FROM tlsrpt_session "
                               "WHERE domain = ?1 AND day >= ?2 "
                               "GROUP BY day, policy_type, result "
                               "ORDER BY day, policy_type, result",
        [ST_TLSRPT_ORGS_DOM] = "SELECT s.domain, r.org, s.result, s.mx_host, "
                               "total(s.sessions), count(DISTINCT r.id) FROM tlsrpt_session s "
                               "JOIN tlsrpt_report r ON r.id = s.report "
                               "WHERE s.domain = ?1 AND s.day >= ?2 "
                               "GROUP BY r.org, s.result, s.mx_host "
                               "ORDER BY r.org, s.result, s.mx_host",
        /* the newest ?2 reports about domain ?1: its reports found through the (domain, day)
         * index, at most ?2 of them read further (the sums of each through its report
         * index); the cost follows the domain's rows, never the whole table's */
        [ST_TLSRPT_LAST] =
                "SELECT r.received_at, r.org, r.report_id, r.source, r.status, r.reason, "
                "r.start_at, r.end_at, r.peer, "
                "(SELECT total(sessions) FROM tlsrpt_session WHERE report = r.id "
                " AND result = 'success' AND domain = ?1), "
                "(SELECT total(sessions) FROM tlsrpt_session WHERE report = r.id "
                " AND result <> 'success' AND domain = ?1) "
                "FROM (SELECT id FROM tlsrpt_report WHERE id IN (SELECT report FROM "
                "tlsrpt_session WHERE domain = ?1) ORDER BY received_at DESC, id DESC "
                "LIMIT ?2) AS l JOIN tlsrpt_report r ON r.id = l.id "
                "ORDER BY r.received_at DESC, r.id DESC",
        /* the raw report stored under (organization-name, report-id): the UNIQUE index */
        [ST_TLSRPT_RAW] = "SELECT raw FROM tlsrpt_report WHERE org = ?1 AND report_id = ?2",
        /* the newest ?2 reports of all (malformed ones included), by the received index */
        [ST_TLSRPT_LAST_ALL] =
                "SELECT r.received_at, r.org, r.report_id, r.source, r.status, r.reason, "
                "r.start_at, r.end_at, r.peer, "
                "(SELECT total(sessions) FROM tlsrpt_session WHERE report = r.id "
                " AND result = 'success'), "
                "(SELECT total(sessions) FROM tlsrpt_session WHERE report = r.id "
                " AND result <> 'success') "
                "FROM (SELECT id FROM tlsrpt_report ORDER BY received_at DESC, id DESC "
                "LIMIT ?2) AS l JOIN tlsrpt_report r ON r.id = l.id "
                "ORDER BY r.received_at DESC, r.id DESC",
        [ST_ROLLOUT_PUT] = "INSERT OR REPLACE INTO rollout (domain, policy_id, mode, max_age, "
                           "since, prev_max_age, prev_until, step, step_state, step_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        [ST_ROLLOUT_LOAD] = "SELECT domain, policy_id, mode, max_age, since, prev_max_age, "
                            "prev_until, step, step_state, step_at FROM rollout ORDER BY domain",
};

/*
 * The migration steps: steps[i] takes a file from version i to version i + 1 (0 is a new,
 * empty file). Append a step for a new version; never change a released one. Each runs in
 * the open transaction of statedb_migrate(), which then sets user_version.
 */
static const char *const statedb_steps[STATEDB_SCHEMA_VERSION] = {
        /* 0 -> 1: the policy cache (resolver/cache_state.c) */
        "CREATE TABLE sts_policy ("
        " domain TEXT PRIMARY KEY NOT NULL,"
        " id TEXT NOT NULL,"
        " policy TEXT NOT NULL,"
        " fetched_at INTEGER NOT NULL,"
        " expires_at INTEGER NOT NULL);"
        "CREATE INDEX sts_policy_expires ON sts_policy (expires_at);",
        /* 1 -> 2: TLSRPT reports received (tlsrpt/, docs/tlsrpt.md) */
        "CREATE TABLE tlsrpt_report ("
        " id INTEGER PRIMARY KEY,"
        " org TEXT, report_id TEXT,"
        " contact TEXT, source TEXT NOT NULL, peer TEXT NOT NULL,"
        " received_at INTEGER NOT NULL, start_at INTEGER, end_at INTEGER,"
        " status TEXT NOT NULL, reason TEXT,"
        " raw BLOB NOT NULL, raw_size INTEGER NOT NULL,"
        " UNIQUE (org, report_id));"
        "CREATE INDEX tlsrpt_report_received ON tlsrpt_report (received_at);"
        "CREATE TABLE tlsrpt_session ("
        " report INTEGER NOT NULL, domain TEXT NOT NULL, day INTEGER NOT NULL,"
        " policy_type TEXT NOT NULL, result TEXT NOT NULL, mx_host TEXT NOT NULL,"
        " sessions INTEGER NOT NULL);"
        "CREATE INDEX tlsrpt_session_domain_day ON tlsrpt_session (domain, day);"
        "CREATE INDEX tlsrpt_session_report ON tlsrpt_session (report);",
        /* 2 -> 3: what each published domain serves since when, and its rollout step
         * (daemon/rollout.c, docs/rollout.md) */
        "CREATE TABLE rollout ("
        " domain TEXT PRIMARY KEY NOT NULL,"
        " policy_id TEXT NOT NULL, mode TEXT NOT NULL, max_age INTEGER NOT NULL,"
        " since INTEGER NOT NULL,"
        " prev_max_age INTEGER NOT NULL DEFAULT 0, prev_until INTEGER NOT NULL DEFAULT 0,"
        " step INTEGER NOT NULL DEFAULT 0, step_state TEXT NOT NULL DEFAULT 'done',"
        " step_at INTEGER NOT NULL DEFAULT 0);",
};

struct statedb {
	sqlite3 *db;
	char *path;
	int version;
	int in_tx;
	sqlite3_stmt *st[ST_COUNT];
};

/* ---- errors ---- */

static int
statedb_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return ERR_STATEDB_CORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ERR_STATEDB_LOCKED;
	default:
		/* CANTOPEN, READONLY, PERM, AUTH, IOERR, FULL, NOMEM, MISUSE, ... */
		return ERR_STATEDB_IO;
	}
}

/* "<what>: <SQLite's message>" into errbuf. */
static void
statedb_seterr(char *errbuf, size_t errlen, const char *what, const char *msg)
{
	if (errlen > 0)
		(void)snprintf(errbuf, errlen, "%s: %s", what, msg);
}

/* ---- statements ---- */

/* Run every statement of a constant script (prepared one by one: no values in it). */
static int
statedb_script(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	const char *tail = sql;
	int rc;

	while (tail != NULL && *tail != '\0') {
		st = NULL;
		rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return rc;
		if (st == NULL) /* only white space or comments left */
			break;
		do
			rc = sqlite3_step(st);
		while (rc == SQLITE_ROW);
		(void)sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

/* The first column of a constant one-row query ("PRAGMA user_version"): as an integer into
 * *ret_int, or as text into buf (len bytes) when buf is not NULL. */
static int
statedb_value(sqlite3 *db, const char *sql, long long *ret_int, char *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && buf != NULL) {
		t = sqlite3_column_text(st, 0);
		(void)snprintf(buf, len, "%s", t != NULL ? (const char *)t : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_ROW) {
		*ret_int = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_MISMATCH;
	}
	(void)sqlite3_finalize(st);
	return rc;
}

/* Step a prepared write statement to its end and reset it. */
static int
statedb_run(struct statedb *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	return statedb_code(rc == SQLITE_DONE ? SQLITE_OK : rc);
}

/* ---- open ---- */

/* Bring the file from version db->version to STATEDB_SCHEMA_VERSION (in the open
 * transaction). Also stamps the application id on a new file. */
static int
statedb_migrate(struct statedb *db)
{
	char sql[64];
	int rc, v;

	for (v = db->version; v < STATEDB_SCHEMA_VERSION; v++) {
		rc = statedb_script(db->db, statedb_steps[v]);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (db->version == STATEDB_SCHEMA_VERSION)
		return SQLITE_OK;
	/* PRAGMA takes no bound parameters; both numbers are this build's constants. */
	(void)snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", STATEDB_APPLICATION_ID);
	rc = statedb_script(db->db, sql);
	if (rc != SQLITE_OK)
		return rc;
	(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STATEDB_SCHEMA_VERSION);
	rc = statedb_script(db->db, sql);
	if (rc != SQLITE_OK)
		return rc;
	db->version = STATEDB_SCHEMA_VERSION;
	return SQLITE_OK;
}

/* Is this file ours? Reads application_id and user_version (the first read of the file:
 * garbage bytes fail here with SQLITE_NOTADB). */
static int
statedb_identify(struct statedb *db, char *errbuf, size_t errlen)
{
	long long app = 0, ver = 0, tables = 0;
	int rc;

	if ((rc = statedb_value(db->db, "PRAGMA application_id", &app, NULL, 0)) != SQLITE_OK ||
	    (rc = statedb_value(db->db, "PRAGMA user_version", &ver, NULL, 0)) != SQLITE_OK ||
	    (rc = statedb_value(db->db, "SELECT count(*) FROM sqlite_master", &tables, NULL, 0)) !=
	            SQLITE_OK) {
		statedb_seterr(errbuf, errlen, "reading the header", sqlite3_errmsg(db->db));
		return statedb_code(rc);
	}
	if (app != STATEDB_APPLICATION_ID && !(app == 0 && ver == 0 && tables == 0)) {
		if (errlen > 0)
			(void)snprintf(
			        errbuf, errlen,
			        "application_id %lld, user_version %lld, %lld schema objects: "
			        "not written by mtastsd",
			        app, ver, tables);
		return ERR_STATEDB_FOREIGN;
	}
	if (ver > STATEDB_SCHEMA_VERSION || ver < 0) {
		if (errlen > 0)
			(void)snprintf(errbuf, errlen,
			               "schema version %lld, this mtastsd knows up to %d", ver,
			               STATEDB_SCHEMA_VERSION);
		return ERR_STATEDB_VERSION;
	}
	db->version = (int)ver;
	return 0;
}

static int
statedb_setup(struct statedb *db, char *errbuf, size_t errlen)
{
	char mode[32], check[128], cache[48];
	int rc, r, i;

	r = statedb_identify(db, errbuf, errlen);
	if (r < 0)
		return r;
	rc = statedb_value(db->db, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
	if (rc != SQLITE_OK || strcmp(mode, "wal") != 0) {
		statedb_seterr(errbuf, errlen, "switching to WAL mode",
		               rc != SQLITE_OK ? sqlite3_errmsg(db->db) : mode);
		return rc != SQLITE_OK ? statedb_code(rc) : ERR_STATEDB_IO;
	}
	rc = statedb_script(db->db, "PRAGMA synchronous = NORMAL");
	if (rc == SQLITE_OK) {
		(void)snprintf(cache, sizeof(cache), "PRAGMA cache_size = -%d", STATEDB_CACHE_KIB);
		rc = statedb_script(db->db, cache);
	}
	if (rc == SQLITE_OK)
		rc = statedb_value(db->db, "PRAGMA quick_check", NULL, check, sizeof(check));
	if (rc != SQLITE_OK || strcmp(check, "ok") != 0) {
		statedb_seterr(errbuf, errlen, "quick_check",
		               rc != SQLITE_OK ? sqlite3_errmsg(db->db) : check);
		return rc != SQLITE_OK ? statedb_code(rc) : ERR_STATEDB_CORRUPT;
	}
	/* Take the write lock once, even with nothing to migrate: a read-only file or
	 * directory, or another writer, shows up now rather than at the first write. */
	rc = statedb_script(db->db, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK) {
		rc = statedb_migrate(db);
		if (rc == SQLITE_OK)
			rc = statedb_script(db->db, "COMMIT");
	}
	if (rc != SQLITE_OK) {
		statedb_seterr(errbuf, errlen,
		               db->version < STATEDB_SCHEMA_VERSION ? "migrating the schema"
		                                                    : "taking the write lock",
		               sqlite3_errmsg(db->db));
		(void)statedb_script(db->db, "ROLLBACK");
		return statedb_code(rc);
	}
	for (i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(db->db, statedb_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                        &db->st[i], NULL);
		if (rc != SQLITE_OK) {
			statedb_seterr(errbuf, errlen, "preparing statements",
			               sqlite3_errmsg(db->db));
			return statedb_code(rc);
		}
	}
	/* From now on nothing waits for a lock: the caller runs on the event loop. */
	(void)sqlite3_busy_timeout(db->db, 0);
	return 0;
}

void
statedb_busy_wait(struct statedb *db, unsigned ms)
{
	(void)sqlite3_busy_timeout(db->db, (int)ms);
}

int
statedb_open(const char *path, struct statedb **ret_db, char *errbuf, size_t errlen)
{
	struct statedb *db = xcalloc(1, sizeof(*db));
	int rc, r, fd;

	if (errlen > 0)
		errbuf[0] = '\0';
	db->path = xstrdup(path);
	/* Created here when missing, mode 0600, so that SQLite (which gives its -wal and -shm
	 * files the main file's mode) never makes it readable by others, whatever the umask:
	 * later tables (ACME) hold secrets. O_EXCL: an existing file is never opened (and
	 * closed) outside SQLite, because close(2) drops every POSIX lock this process holds
	 * on it, those of the other connections too (the daemon's own, the TLSRPT receiver's):
	 * SQLite would then take the WAL for unused and remove it under them ("How To Corrupt
	 * An SQLite Database File", 2.2). */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		statedb_seterr(errbuf, errlen, "opening", strerror(errno));
		r = ERR_STATEDB_IO;
		goto fail;
	}
	if (fd >= 0) {
		(void)close(fd);
	} else {
		struct stat st;

		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			statedb_seterr(errbuf, errlen, "opening", strerror(EISDIR));
			r = ERR_STATEDB_IO;
			goto fail;
		}
	}
	rc = sqlite3_open_v2(path, &db->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		statedb_seterr(errbuf, errlen, "opening",
		               db->db != NULL ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc));
		r = statedb_code(rc);
		goto fail;
	}
	(void)sqlite3_extended_result_codes(db->db, 1);
	(void)sqlite3_busy_timeout(db->db, STATEDB_OPEN_BUSY_MS);
	r = statedb_setup(db, errbuf, errlen);
	if (r < 0)
		goto fail;
	*ret_db = db;
	return 0;
fail:
	(void)statedb_close(db);
	return r;
}

struct statedb *
statedb_close(struct statedb *db)
{
	int i;

	if (db == NULL)
		return NULL;
	if (db->in_tx)
		statedb_rollback(db);
	for (i = 0; i < ST_COUNT; i++)
		(void)sqlite3_finalize(db->st[i]);
	(void)sqlite3_close(db->db); /* every statement is finalised: never SQLITE_BUSY */
	free(db->path);
	free(db);
	return NULL;
}

int
statedb_mkdir(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;

	if (mkdir(dir, 0750) < 0) {
		if (errno != EEXIST)
			return -errno;
		if (stat(dir, &st) < 0)
			return -errno;
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	}
	if (uid != (uid_t)-1 && chown(dir, uid, gid) < 0)
		return -errno;
	return 0;
}

int
statedb_create_owned(const char *path, uid_t uid, gid_t gid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	int r = 0;

	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	if (fchown(fd, uid, gid) < 0) {
		r = -errno;
		(void)unlink(path);
	}
	(void)close(fd);
	return r;
}

int
statedb_set_aside(const char *path, time_t now, char *ret_aside, size_t asidelen)
{
	char from[4096], to[4096];
	int n;

	n = snprintf(to, sizeof(to), "%s.corrupt-%lld", path, (long long)now);
	if (n < 0 || (size_t)n + sizeof("-wal") > sizeof(to))
		return -ENAMETOOLONG;
	if (rename(path, to) < 0)
		return -errno;
	(void)snprintf(ret_aside, asidelen, "%s", to);
	(void)snprintf(from, sizeof(from), "%s-wal", path);
	(void)snprintf(to + n, sizeof(to) - (size_t)n, "-wal");
	if (rename(from, to) < 0 && errno != ENOENT)
		return -errno;
	(void)snprintf(from, sizeof(from), "%s-shm", path);
	if (unlink(from) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

const char *
statedb_path(const struct statedb *db)
{
	return db->path;
}

int
statedb_schema_version(const struct statedb *db)
{
	return db->version;
}

const char *
statedb_errmsg(const struct statedb *db)
{
	return sqlite3_errmsg(db->db);
}

/* ---- transactions ---- */

/* BEGIN or COMMIT; in_tx is whether a transaction is open after it succeeded. */
static int
statedb_tx(struct statedb *db, enum statedb_stmt s, int in_tx)
{
	int r = statedb_run(db, db->st[s]);

	if (r == 0)
		db->in_tx = in_tx;
	return r;
}

int
statedb_begin(struct statedb *db)
{
	return statedb_tx(db, ST_BEGIN, 1);
}

int
statedb_commit(struct statedb *db)
{
	return statedb_tx(db, ST_COMMIT, 0);
}

void
statedb_rollback(struct statedb *db)
{
	if (!db->in_tx)
		return;
	/* Fails only when SQLite already rolled back (after some errors): fine either way. */
	(void)statedb_run(db, db->st[ST_ROLLBACK]);
	db->in_tx = 0;
}

/* ---- sts_policy ---- */

int
statedb_policy_put(struct statedb *db, const struct statedb_policy *p)
{
	sqlite3_stmt *st = db->st[ST_POLICY_PUT];

	if (p->text_len > STS_POLICY_CANON_MAX)
		return -EINVAL;
	if (sqlite3_bind_text(st, 1, p->domain, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, p->id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, p->text, (int)p->text_len, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)p->fetched_at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (sqlite3_int64)p->expires_at) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	return statedb_run(db, st);
}

int
statedb_policy_delete(struct statedb *db, const char *domain)
{
	sqlite3_stmt *st = db->st[ST_POLICY_DELETE];

	if (sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		return ERR_STATEDB_IO;
	return statedb_run(db, st);
}

int
statedb_policy_delete_all(struct statedb *db)
{
	return statedb_run(db, db->st[ST_POLICY_DELETE_ALL]);
}

int
statedb_policy_drop_expired(struct statedb *db, time_t now, size_t *ret_n)
{
	sqlite3_stmt *st = db->st[ST_POLICY_DROP_EXPIRED];
	int r;

	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)now) != SQLITE_OK)
		return ERR_STATEDB_IO;
	r = statedb_run(db, st);
	if (r == 0 && ret_n != NULL)
		*ret_n = (size_t)sqlite3_changes(db->db);
	return r;
}

/* A text column, or "" when it is NULL, not text, or longer than max bytes. */
static const char *
statedb_col_text(sqlite3_stmt *st, int col, size_t max, size_t *ret_len)
{
	const unsigned char *t;
	int n;

	*ret_len = 0;
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return "";
	t = sqlite3_column_text(st, col);
	n = sqlite3_column_bytes(st, col);
	if (t == NULL || n < 0 || (size_t)n > max || strlen((const char *)t) != (size_t)n)
		return "";
	*ret_len = (size_t)n;
	return (const char *)t;
}

/* The current row of a SELECT domain, id, policy, fetched_at, expires_at. */
static void
statedb_policy_row(sqlite3_stmt *st, struct statedb_policy *p)
{
	size_t len;

	p->domain = statedb_col_text(st, 0, DOMAIN_NAME_MAX, &len);
	p->id = statedb_col_text(st, 1, STS_ID_MAX, &len);
	p->text = statedb_col_text(st, 2, STS_POLICY_CANON_MAX, &p->text_len);
	p->fetched_at = sqlite3_column_type(st, 3) == SQLITE_INTEGER
	                        ? (time_t)sqlite3_column_int64(st, 3)
	                        : 0;
	p->expires_at = sqlite3_column_type(st, 4) == SQLITE_INTEGER
	                        ? (time_t)sqlite3_column_int64(st, 4)
	                        : 0;
}

int
statedb_policy_load(struct statedb *db, size_t max, statedb_policy_fn *fn, void *arg)
{
	sqlite3_stmt *st = db->st[ST_POLICY_LOAD];
	struct statedb_policy p;
	int rc;

	if (sqlite3_bind_int64(st, 1, max > 0 ? (sqlite3_int64)max : -1) != SQLITE_OK)
		return ERR_STATEDB_IO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		statedb_policy_row(st, &p);
		if (fn(&p, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	return statedb_code(rc == SQLITE_DONE ? SQLITE_OK : rc);
}

int
statedb_policy_get(struct statedb *db, const char *domain, statedb_policy_fn *fn, void *arg)
{
	sqlite3_stmt *st = db->st[ST_POLICY_GET];
	struct statedb_policy p;
	int rc, found = 0;

	if (sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		return ERR_STATEDB_IO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		statedb_policy_row(st, &p);
		(void)fn(&p, arg);
		found = 1;
		rc = SQLITE_DONE;
	}
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return statedb_code(rc);
	return found ? 0 : 1;
}

int
statedb_policy_delete_expired(struct statedb *db, const char *domain, time_t now)
{
	sqlite3_stmt *st = db->st[ST_POLICY_DELETE_EXPIRED];

	if (sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)now) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	return statedb_run(db, st);
}

int
statedb_policy_trim(struct statedb *db, size_t max, size_t *ret_n)
{
	sqlite3_stmt *st = db->st[ST_POLICY_TRIM];
	int r;

	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)max) != SQLITE_OK)
		return ERR_STATEDB_IO;
	r = statedb_run(db, st);
	if (r == 0 && ret_n != NULL)
		*ret_n = (size_t)sqlite3_changes(db->db);
	return r;
}

int
statedb_policy_count(struct statedb *db, size_t *ret_n)
{
	sqlite3_stmt *st = db->st[ST_POLICY_COUNT];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*ret_n = (size_t)sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	(void)sqlite3_reset(st);
	return statedb_code(rc);
}

/* ---- tlsrpt_report, tlsrpt_session ---- */

/* Bind text, or NULL when s is NULL. */
static int
statedb_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

int
statedb_tlsrpt_add(struct statedb *db, const struct statedb_tlsrpt_report *r, int64_t *ret_id)
{
	sqlite3_stmt *st = db->st[ST_TLSRPT_ADD];
	int rr;

	if (r->raw_len > INT32_MAX)
		return -EINVAL;
	if (statedb_bind_text(st, 1, r->org) != SQLITE_OK ||
	    statedb_bind_text(st, 2, r->report_id) != SQLITE_OK ||
	    statedb_bind_text(st, 3, r->contact) != SQLITE_OK ||
	    statedb_bind_text(st, 4, r->source) != SQLITE_OK ||
	    statedb_bind_text(st, 5, r->peer != NULL ? r->peer : "") != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->received_at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->start_at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->end_at) != SQLITE_OK ||
	    statedb_bind_text(st, 9, r->status) != SQLITE_OK ||
	    statedb_bind_text(st, 10, r->reason) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 11, r->raw, (int)r->raw_len, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 12, (sqlite3_int64)r->raw_size) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	rr = statedb_run(db, st);
	if (rr < 0)
		return rr;
	if (sqlite3_changes(db->db) == 0)
		return 1;
	*ret_id = (int64_t)sqlite3_last_insert_rowid(db->db);
	return 0;
}

int
statedb_tlsrpt_row_add(struct statedb *db, int64_t report, const struct statedb_tlsrpt_row *row)
{
	sqlite3_stmt *st = db->st[ST_TLSRPT_ROW];

	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)report) != SQLITE_OK ||
	    statedb_bind_text(st, 2, row->domain) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)row->day) != SQLITE_OK ||
	    statedb_bind_text(st, 4, row->policy_type) != SQLITE_OK ||
	    statedb_bind_text(st, 5, row->result) != SQLITE_OK ||
	    statedb_bind_text(st, 6, row->mx_host != NULL ? row->mx_host : "") != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, (sqlite3_int64)row->sessions) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	return statedb_run(db, st);
}

int
statedb_tlsrpt_prune(struct statedb *db, time_t before, size_t max_bytes,
                     size_t max_malformed_bytes, size_t *ret_n)
{
	sqlite3_int64 max = max_bytes > INT64_MAX ? INT64_MAX : (sqlite3_int64)max_bytes;
	sqlite3_int64 max_bad =
	        max_malformed_bytes > INT64_MAX ? INT64_MAX : (sqlite3_int64)max_malformed_bytes;
	size_t n = 0;
	int r;

	if (sqlite3_bind_int64(db->st[ST_TLSRPT_PRUNE_AGE], 1, (sqlite3_int64)before) !=
	            SQLITE_OK ||
	    sqlite3_bind_int64(db->st[ST_TLSRPT_PRUNE_SIZE], 1, max) != SQLITE_OK ||
	    sqlite3_bind_int64(db->st[ST_TLSRPT_PRUNE_MALFORMED], 1, max) != SQLITE_OK ||
	    sqlite3_bind_int64(db->st[ST_TLSRPT_PRUNE_MALFORMED], 2, max_bad) != SQLITE_OK)
		return ERR_STATEDB_IO;
	r = statedb_run(db, db->st[ST_TLSRPT_PRUNE_AGE]);
	if (r < 0) {
		(void)sqlite3_clear_bindings(db->st[ST_TLSRPT_PRUNE_SIZE]);
		(void)sqlite3_clear_bindings(db->st[ST_TLSRPT_PRUNE_MALFORMED]);
		return r;
	}
	n += (size_t)sqlite3_changes(db->db);
	/* the parsed reports first, against the whole budget: malformed ones never push
	 * them out; then the malformed ones, in their own budget and what is left */
	r = statedb_run(db, db->st[ST_TLSRPT_PRUNE_SIZE]);
	if (r < 0) {
		(void)sqlite3_clear_bindings(db->st[ST_TLSRPT_PRUNE_MALFORMED]);
		return r;
	}
	n += (size_t)sqlite3_changes(db->db);
	r = statedb_run(db, db->st[ST_TLSRPT_PRUNE_MALFORMED]);
	if (r < 0)
		return r;
	n += (size_t)sqlite3_changes(db->db);
	if (n > 0)
		r = statedb_run(db, db->st[ST_TLSRPT_PRUNE_ROWS]);
	if (r == 0 && ret_n != NULL)
		*ret_n = n;
	return r;
}

/* A text column or "" (NULL, not text, over TLSRPT_STRING_MAX). */
static const char *
statedb_col_str(sqlite3_stmt *st, int col)
{
	size_t len;

	return statedb_col_text(st, col, TLSRPT_STRING_MAX, &len);
}

/* Bind ?1 = domain (NULL: all) and ?2 = n on st. */
static int
statedb_tlsrpt_bind(sqlite3_stmt *st, const char *domain, int64_t n)
{
	if (statedb_bind_text(st, 1, domain) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)n) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	return 0;
}

/* A total(sessions) column (a float: total() never overflows, sum() fails on 64-bit
 * overflow) as a count within [0, INT64_MAX]. */
static uint64_t
statedb_col_count(sqlite3_stmt *st, int col)
{
	double v = sqlite3_column_double(st, col);

	if (!(v > 0))
		return 0;
	if (v >= 9223372036854775807.0)
		return (uint64_t)INT64_MAX;
	return (uint64_t)v;
}

/* Step st to its end, calling row(st) per row until it returns non-zero. A query that
 * fails (SQLITE_ERROR) is ERR_STATEDB_QUERY: not a file that cannot be written. */
static int
statedb_tlsrpt_walk(struct statedb *db, sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *),
                    void *arg)
{
	int rc;

	(void)db;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (row(st, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if ((rc & 0xff) == SQLITE_ERROR)
		return ERR_STATEDB_QUERY;
	return statedb_code(rc);
}

struct statedb_tlsrpt_cb {
	void *fn;
	void *arg;
};

static int
statedb_tlsrpt_sum_row(sqlite3_stmt *st, void *a)
{
	struct statedb_tlsrpt_cb *cb = a;
	struct statedb_tlsrpt_sum s = {
	        .domain = statedb_col_str(st, 0),
	        .day = (int64_t)sqlite3_column_int64(st, 1),
	        .policy_type = statedb_col_str(st, 2),
	        .result = statedb_col_str(st, 3),
	        .sessions = statedb_col_count(st, 4),
	        .reports = (uint64_t)sqlite3_column_int64(st, 5),
	};

	return ((statedb_tlsrpt_sum_fn *)cb->fn)(&s, cb->arg);
}

int
statedb_tlsrpt_sums(struct statedb *db, const char *domain, int64_t since_day,
                    statedb_tlsrpt_sum_fn *fn, void *arg)
{
	struct statedb_tlsrpt_cb cb = {.fn = (void *)fn, .arg = arg};
	sqlite3_stmt *st = db->st[domain != NULL ? ST_TLSRPT_SUMS_DOM : ST_TLSRPT_SUMS];

	if (statedb_tlsrpt_bind(st, domain, since_day) < 0)
		return ERR_STATEDB_IO;
	return statedb_tlsrpt_walk(db, st, statedb_tlsrpt_sum_row, &cb);
}

static int
statedb_tlsrpt_org_row(sqlite3_stmt *st, void *a)
{
	struct statedb_tlsrpt_cb *cb = a;
	struct statedb_tlsrpt_org o = {
	        .domain = statedb_col_str(st, 0),
	        .org = statedb_col_str(st, 1),
	        .result = statedb_col_str(st, 2),
	        .mx_host = statedb_col_str(st, 3),
	        .sessions = statedb_col_count(st, 4),
	        .reports = (uint64_t)sqlite3_column_int64(st, 5),
	};

	return ((statedb_tlsrpt_org_fn *)cb->fn)(&o, cb->arg);
}

int
statedb_tlsrpt_orgs(struct statedb *db, const char *domain, int64_t since_day,
                    statedb_tlsrpt_org_fn *fn, void *arg)
{
	struct statedb_tlsrpt_cb cb = {.fn = (void *)fn, .arg = arg};
	sqlite3_stmt *st = db->st[domain != NULL ? ST_TLSRPT_ORGS_DOM : ST_TLSRPT_ORGS];

	if (statedb_tlsrpt_bind(st, domain, since_day) < 0)
		return ERR_STATEDB_IO;
	return statedb_tlsrpt_walk(db, st, statedb_tlsrpt_org_row, &cb);
}

static int
statedb_tlsrpt_last_row(sqlite3_stmt *st, void *a)
{
	struct statedb_tlsrpt_cb *cb = a;
	struct statedb_tlsrpt_report r = {
	        .received_at = (time_t)sqlite3_column_int64(st, 0),
	        .org = statedb_col_str(st, 1),
	        .report_id = statedb_col_str(st, 2),
	        .source = statedb_col_str(st, 3),
	        .status = statedb_col_str(st, 4),
	        .reason = statedb_col_str(st, 5),
	        .start_at = (time_t)sqlite3_column_int64(st, 6),
	        .end_at = (time_t)sqlite3_column_int64(st, 7),
	        .peer = statedb_col_str(st, 8),
	        .success = statedb_col_count(st, 9),
	        .failure = statedb_col_count(st, 10),
	};

	return ((statedb_tlsrpt_report_fn *)cb->fn)(&r, cb->arg);
}

int
statedb_tlsrpt_last(struct statedb *db, const char *domain, size_t max,
                    statedb_tlsrpt_report_fn *fn, void *arg)
{
	struct statedb_tlsrpt_cb cb = {.fn = (void *)fn, .arg = arg};
	sqlite3_stmt *st = db->st[domain != NULL ? ST_TLSRPT_LAST : ST_TLSRPT_LAST_ALL];

	if (statedb_tlsrpt_bind(st, domain, (int64_t)max) < 0)
		return ERR_STATEDB_IO;
	return statedb_tlsrpt_walk(db, st, statedb_tlsrpt_last_row, &cb);
}

int
statedb_tlsrpt_raw(struct statedb *db, const char *org, const char *report_id, void **ret,
                   size_t *ret_len)
{
	sqlite3_stmt *st = db->st[ST_TLSRPT_RAW];
	const void *b;
	int rc, n, r = 1;

	if (statedb_bind_text(st, 1, org) != SQLITE_OK ||
	    statedb_bind_text(st, 2, report_id) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		b = sqlite3_column_blob(st, 0);
		n = sqlite3_column_bytes(st, 0);
		*ret = xmalloc(n > 0 ? (size_t)n : 1);
		if (n > 0 && b != NULL)
			memcpy(*ret, b, (size_t)n);
		*ret_len = n > 0 ? (size_t)n : 0;
		r = 0;
		rc = SQLITE_DONE;
	}
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return statedb_code(rc);
	return r;
}

/* ---- rollout ---- */

static int
statedb_col_int(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_INTEGER;
}

int
statedb_rollout_put(struct statedb *db, const struct statedb_rollout *ro)
{
	sqlite3_stmt *st = db->st[ST_ROLLOUT_PUT];

	if (sqlite3_bind_text(st, 1, ro->domain, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, ro->policy_id, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, ro->mode, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)ro->max_age_s) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (sqlite3_int64)ro->since) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, (sqlite3_int64)ro->prev_max_age_s) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, (sqlite3_int64)ro->prev_until) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 8, (sqlite3_int64)ro->step) != SQLITE_OK ||
	    sqlite3_bind_text(st, 9, ro->step_state, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 10, (sqlite3_int64)ro->step_at) != SQLITE_OK) {
		(void)sqlite3_clear_bindings(st);
		return ERR_STATEDB_IO;
	}
	return statedb_run(db, st);
}

int
statedb_rollout_load(struct statedb *db, statedb_rollout_fn *fn, void *arg)
{
	sqlite3_stmt *st = db->st[ST_ROLLOUT_LOAD];
	struct statedb_rollout ro;
	size_t len;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ro.domain = statedb_col_text(st, 0, DOMAIN_NAME_MAX, &len);
		ro.policy_id = statedb_col_text(st, 1, STS_ID_MAX, &len);
		ro.mode = statedb_col_text(st, 2, 16, &len);
		ro.max_age_s = statedb_col_int(st, 3) && sqlite3_column_int64(st, 3) >= 0 &&
		                               sqlite3_column_int64(st, 3) <= STS_MAX_AGE_MAX
		                       ? (uint32_t)sqlite3_column_int64(st, 3)
		                       : 0;
		ro.since = statedb_col_int(st, 4) ? (time_t)sqlite3_column_int64(st, 4) : 0;
		ro.prev_max_age_s = statedb_col_int(st, 5) && sqlite3_column_int64(st, 5) >= 0 &&
		                                    sqlite3_column_int64(st, 5) <= STS_MAX_AGE_MAX
		                            ? (uint32_t)sqlite3_column_int64(st, 5)
		                            : 0;
		ro.prev_until = statedb_col_int(st, 6) ? (time_t)sqlite3_column_int64(st, 6) : 0;
		ro.step = statedb_col_int(st, 7) && sqlite3_column_int64(st, 7) >= 0 &&
		                          sqlite3_column_int64(st, 7) <= 1000
		                  ? (unsigned)sqlite3_column_int64(st, 7)
		                  : 0;
		ro.step_state = statedb_col_text(st, 8, 16, &len);
		ro.step_at = statedb_col_int(st, 9) ? (time_t)sqlite3_column_int64(st, 9) : 0;
		if (fn(&ro, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	(void)sqlite3_reset(st);
	return statedb_code(rc == SQLITE_DONE ? SQLITE_OK : rc);
}
