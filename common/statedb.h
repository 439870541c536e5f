/*
 * common/statedb.h - the state database: one SQLite file that survives restarts
 *
 * One file (<process.state_directory>/state.db, docs/operations.md) in WAL mode with
 * synchronous=NORMAL: a committed transaction survives a crash or kill -9 of the daemon
 * (the WAL is in the page cache), the file is never left half-written, and an admin can
 * read it with the sqlite3 shell while the daemon runs. The policy cache keeps its
 * policies here (table sts_policy, docs/cache.md "State database"), so that a restart does
 * not turn a protected domain into "no policy" (RFC 8461 section 10.2); later modules
 * (TLSRPT, ACME) keep their state in the same file, each in its own tables.
 *
 * Schema: PRAGMA application_id = STATEDB_APPLICATION_ID marks the file as ours, PRAGMA
 * user_version = the schema version. statedb_open() brings an older file up to
 * STATEDB_SCHEMA_VERSION by running the migration steps (statedb.c, statedb_steps[]: one
 * entry per version, each a constant SQL script) in one transaction; a module that needs a
 * new table or column appends a step and bumps STATEDB_SCHEMA_VERSION. A file of a newer
 * version is never touched (ERR_STATEDB_VERSION): a downgraded daemon runs memory-only.
 *
 * Version 1:
 *   CREATE TABLE sts_policy (
 *     domain     TEXT PRIMARY KEY NOT NULL,  -- normalised Policy Domain (A-labels)
 *     id         TEXT NOT NULL,              -- policy id of the _mta-sts TXT record
 *     policy     TEXT NOT NULL,              -- canonical text (sts_policy_serialize)
 *     fetched_at INTEGER NOT NULL,           -- wall clock, seconds since the epoch
 *     expires_at INTEGER NOT NULL)           -- fetched_at + max_age
 *   CREATE INDEX sts_policy_expires ON sts_policy (expires_at)
 *
 * Interface: statedb_mkdir(), statedb_create_owned(), statedb_open(), statedb_close(),
 *            statedb_set_aside(), statedb_path(), statedb_schema_version(), statedb_errmsg(),
 *            statedb_begin(), statedb_commit(), statedb_rollback(),
 *            statedb_policy_put(), statedb_policy_delete(), statedb_policy_delete_all(),
 *            statedb_policy_drop_expired(), statedb_policy_load(), statedb_policy_count(),
 *            statedb_policy_get(), statedb_policy_delete_expired(), statedb_policy_trim(),
 *            statedb_tlsrpt_add(), statedb_tlsrpt_row_add(), statedb_tlsrpt_prune(),
 *            statedb_tlsrpt_sums(), statedb_tlsrpt_orgs(), statedb_tlsrpt_last(),
 *            statedb_tlsrpt_raw()
 *            (version 2: the TLSRPT tables, docs/tlsrpt.md),
 *            statedb_rollout_put(), statedb_rollout_load()
 *            (version 3: table rollout, docs/rollout.md)
 * Threads:   a struct statedb (one SQLite connection) is used by one thread; a module on
 *            another thread opens its own connection to the same file.
 * Ownership: the caller owns the handle (statedb_close()); strings passed in are copied
 *            by SQLite; rows handed to a callback are valid only during the callback.
 * Errors:    0, or -errno for file system calls, or ERR_STATEDB_* (err.h): CORRUPT (not
 *            an SQLite file, or damaged pages), LOCKED (another process holds the write
 *            lock), IO (cannot create, read-only, disk full, I/O error), VERSION (written
 *            by a newer mtastsd), FOREIGN (an SQLite file that is not ours). The SQLite
 *            message of the last failure is in statedb_errmsg() or the open errbuf. This
 *            module never logs: the caller decides, and never stops serving for it.
 * SQL:       prepared statements only, every value bound (sqlite3_bind_*), never pasted.
 */
#ifndef MTASTSD_STATEDB_H
#define MTASTSD_STATEDB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The file in the state directory. */
#define STATEDB_FILE_NAME "state.db"
/* The schema this build writes (PRAGMA user_version), see the header comment. */
#define STATEDB_SCHEMA_VERSION 3
/* PRAGMA application_id of our files: "MTST". */
#define STATEDB_APPLICATION_ID 0x4d545354

struct statedb;

/* Create the state directory dir (one level, mode 0750) when it does not exist, and give
 * it to uid:gid when it was created here and uid is not (uid_t)-1 (started as root,
 * dropping privileges later). An existing directory is left as it is. Returns 0, or
 * -errno (-ENOTDIR when dir exists but is not a directory). */
int statedb_mkdir(const char *dir, uid_t uid, gid_t gid);

/* Create path as an empty file (mode 0640) owned by uid:gid when it does not exist, for a
 * command run as root before the daemon (process.user) ever started: SQLite then fills it
 * in, and gives the -wal and -shm files it makes as root to the file's owner. An existing
 * file is left as it is. Returns 0, or -errno. */
int statedb_create_owned(const char *path, uid_t uid, gid_t gid);

/* Open (creating it when missing, mode 0600) the database file at path, check it (ours, not
 * damaged: PRAGMA quick_check, writable: the write lock is taken once) and migrate it to
 * STATEDB_SCHEMA_VERSION. Waits at most STATEDB_OPEN_BUSY_MS for a lock; afterwards no
 * call ever waits for one (a busy database is ERR_STATEDB_LOCKED, try again later).
 * On success *ret_db is set and 0 returned; otherwise ERR_STATEDB_* with the reason in
 * errbuf (errlen bytes, may be 0). */
int statedb_open(const char *path, struct statedb **ret_db, char *errbuf, size_t errlen);
/* Off the event loop (a thread of its own, a command), or on it for a bound as short as
 * STATEDB_LOOP_BUSY_MS (the policy cache's batches): from now on a call waits up to
 * ms milliseconds for another connection's lock before it fails ERR_STATEDB_LOCKED (0: it
 * never waits, the default after statedb_open()). sqlite3_busy_timeout(3). */
void statedb_busy_wait(struct statedb *db, unsigned ms);
/* Close; pending statements are finalised, an open transaction rolled back. Returns NULL;
 * statedb_close(NULL) is a no-op. */
struct statedb *statedb_close(struct statedb *db);

/* Move a damaged database out of the way: path -> path.corrupt-<unix seconds>, and its
 * -wal file along (a stale WAL must never be applied to a new file); its -shm file is
 * removed. The new name goes to ret_aside (asidelen bytes). Returns 0 or -errno of the
 * rename; a missing -wal or -shm file is not an error. */
int statedb_set_aside(const char *path, time_t now, char *ret_aside, size_t asidelen);

/* The file's path (borrowed, valid until statedb_close()). */
const char *statedb_path(const struct statedb *db);
/* The schema version of the file (after migration: STATEDB_SCHEMA_VERSION). */
int statedb_schema_version(const struct statedb *db);
/* SQLite's message for the last failed call (borrowed, until the next call). */
const char *statedb_errmsg(const struct statedb *db);

/* One transaction: statedb_begin(), any number of writes, statedb_commit(); after a failed
 * write or commit, statedb_rollback() (a no-op when none is open). 0 or ERR_STATEDB_*. */
int statedb_begin(struct statedb *db);
int statedb_commit(struct statedb *db);
void statedb_rollback(struct statedb *db);

/* ---- table sts_policy: the policy cache's policies (RFC 8461 section 5.1) ---- */

/* One row. Strings are NUL-terminated; text holds text_len bytes (the canonical policy). */
struct statedb_policy {
	const char *domain;
	const char *id;
	const char *text;
	size_t text_len;
	time_t fetched_at; /* wall clock, s */
	time_t expires_at; /* wall clock, s */
};

/* Insert or replace the row of p->domain. 0 or ERR_STATEDB_*. */
int statedb_policy_put(struct statedb *db, const struct statedb_policy *p);
/* Delete domain's row (none is not an error). 0 or ERR_STATEDB_*. */
int statedb_policy_delete(struct statedb *db, const char *domain);
/* Delete every row. 0 or ERR_STATEDB_*. */
int statedb_policy_delete_all(struct statedb *db);
/* Delete the rows with expires_at <= now; their count goes to *ret_n (may be NULL). */
int statedb_policy_drop_expired(struct statedb *db, time_t now, size_t *ret_n);
/* Called once per row; return non-zero to stop. p is valid only during the call. */
typedef int statedb_policy_fn(const struct statedb_policy *p, void *arg);
/* Visit the max rows most recently fetched (all when max is 0), oldest first, so that a
 * cache filled in this order keeps the newest as the most recently used. Rows whose
 * columns have the wrong type or an over-long value are passed with empty strings for
 * the caller's checks to reject. 0 or ERR_STATEDB_*. */
int statedb_policy_load(struct statedb *db, size_t max, statedb_policy_fn *fn, void *arg);
/* The number of rows into *ret_n. 0 or ERR_STATEDB_*. */
int statedb_policy_count(struct statedb *db, size_t *ret_n);
/* Read domain's row (one primary-key lookup) and pass it to fn (valid during the call only;
 * wrong-typed columns as for statedb_policy_load()). 0 when found, 1 when there is none,
 * or ERR_STATEDB_*. The memory cache's miss path (docs/cache.md "State database"). */
int statedb_policy_get(struct statedb *db, const char *domain, statedb_policy_fn *fn, void *arg);
/* Delete domain's row only when its expires_at <= now (wall s): what a policy that left
 * memory (evicted, or replaced by a negative entry) does to its row, which RFC 8461 section
 * 5.1 still applies until it expires. None is not an error. 0 or ERR_STATEDB_*. */
int statedb_policy_delete_expired(struct statedb *db, const char *domain, time_t now);
/* Keep the max rows that expire last, delete the others (earliest expiry first); their
 * count goes to *ret_n (may be NULL). The bound of the table (cache_state.c). 0 or
 * ERR_STATEDB_*. */
int statedb_policy_trim(struct statedb *db, size_t max, size_t *ret_n);

/* ---- tables tlsrpt_report and tlsrpt_session: TLS reports received (RFC 8460) ---- */

/* One report as received: its metadata and the raw report, gzip-compressed. A report that
 * failed parsing has org and report_id NULL, status "malformed" and the reason. */
struct statedb_tlsrpt_report {
	const char *org;       /* organization-name, NULL when malformed */
	const char *report_id; /* report-id, NULL when malformed */
	const char *contact;   /* contact-info, may be NULL */
	const char *source;    /* "https", "mail", "file" */
	const char *peer;      /* client address (https), "" otherwise */
	time_t received_at;    /* wall clock, s */
	time_t start_at;       /* date-range (0 when malformed) */
	time_t end_at;
	const char *status; /* "ok" or "malformed" */
	const char *reason; /* why it is malformed, NULL when ok */
	const void *raw;    /* the report, gzip (tlsrpt_gzip()), raw_len bytes */
	size_t raw_len;
	size_t raw_size; /* the report's length uncompressed */
	/* read back by statedb_tlsrpt_last() only: this report's sessions */
	uint64_t success, failure;
};

/* Per report, domain, day, policy type and result ("success" or a result type), the
 * sessions (RFC 8460 section 4.3 summary and failure-details). */
struct statedb_tlsrpt_row {
	const char *domain;
	int64_t day; /* days since 1970-01-01 UTC of the report's start-datetime */
	const char *policy_type;
	const char *result;
	const char *mx_host; /* receiving-mx-hostname of a failure, mx-host of the policy for
	                      * "success" (space-separated), "" when not reported */
	uint64_t sessions;
};

/* Insert a report. Returns 0 with its row id in *ret_id, 1 when (org, report_id) is
 * already there (nothing written), or ERR_STATEDB_*. Call inside statedb_begin(). */
int statedb_tlsrpt_add(struct statedb *db, const struct statedb_tlsrpt_report *r, int64_t *ret_id);
/* Insert one session row of report (an id from statedb_tlsrpt_add()). 0 or ERR_STATEDB_*. */
int statedb_tlsrpt_row_add(struct statedb *db, int64_t report,
                           const struct statedb_tlsrpt_row *row);
/* Delete the reports received before `before`, then, with their rows, the oldest parsed
 * ("ok") ones until their raw reports take at most max_bytes, then the oldest malformed
 * ones until theirs take at most max_malformed_bytes and, with the parsed ones, max_bytes:
 * malformed reports never push out parsed ones. The number deleted goes to *ret_n (may be
 * NULL). 0 or ERR_STATEDB_*. */
int statedb_tlsrpt_prune(struct statedb *db, time_t before, size_t max_bytes,
                         size_t max_malformed_bytes, size_t *ret_n);

/* Sessions per domain, day, policy type and result, from day since_day on. */
struct statedb_tlsrpt_sum {
	const char *domain;
	int64_t day;
	const char *policy_type;
	const char *result;
	uint64_t sessions;
	uint64_t reports;
};
/* Sessions per domain, organisation, result and MX host. */
struct statedb_tlsrpt_org {
	const char *domain;
	const char *org;
	const char *result;
	const char *mx_host;
	uint64_t sessions;
	uint64_t reports;
};
/* Callbacks: the row is valid only during the call; return non-zero to stop. */
typedef int statedb_tlsrpt_sum_fn(const struct statedb_tlsrpt_sum *s, void *arg);
typedef int statedb_tlsrpt_org_fn(const struct statedb_tlsrpt_org *o, void *arg);
typedef int statedb_tlsrpt_report_fn(const struct statedb_tlsrpt_report *r, void *arg);
/* The raw report (gzip) stored under (org, report_id) into *ret (malloc'd, the caller
 * frees it) and *ret_len. 0, 1 when there is none, or ERR_STATEDB_*. */
int statedb_tlsrpt_raw(struct statedb *db, const char *org, const char *report_id, void **ret,
                       size_t *ret_len);
/* Visit the sums of domain (NULL: every domain) from since_day on, ordered by domain, day,
 * policy type, result. 0 or ERR_STATEDB_*. */
int statedb_tlsrpt_sums(struct statedb *db, const char *domain, int64_t since_day,
                        statedb_tlsrpt_sum_fn *fn, void *arg);
/* Visit the organisations' rows of domain (NULL: all) from since_day on. */
int statedb_tlsrpt_orgs(struct statedb *db, const char *domain, int64_t since_day,
                        statedb_tlsrpt_org_fn *fn, void *arg);
/* Visit the max newest reports about domain (NULL: all, malformed ones included), newest
 * first; raw is not read (NULL), success/failure are the report's sessions for domain. */
int statedb_tlsrpt_last(struct statedb *db, const char *domain, size_t max,
                        statedb_tlsrpt_report_fn *fn, void *arg);

/* ---- table rollout: what each published domain serves since when (docs/rollout.md) ---- */

/* One published domain: the policy served (id, mode, max_age) and since when; for mode
 * none, the largest max_age served before and when senders' copies of it expire; the
 * automatic rollout's step reached ("done", or "serving": the step's policy is served, its
 * TXT id not yet seen). Strings are NUL-terminated; a loaded column of the wrong type reads
 * as "" or 0. */
struct statedb_rollout {
	const char *domain;
	const char *policy_id;
	const char *mode; /* "testing", "enforce", "none" */
	uint32_t max_age_s;
	time_t since; /* wall clock, s */
	uint32_t prev_max_age_s;
	time_t prev_until;
	unsigned step;
	const char *step_state;
	time_t step_at;
};
/* Insert or replace the row of ro->domain. 0 or ERR_STATEDB_*. */
int statedb_rollout_put(struct statedb *db, const struct statedb_rollout *ro);
/* Called once per row (valid only during the call); return non-zero to stop. */
typedef int statedb_rollout_fn(const struct statedb_rollout *ro, void *arg);
/* Visit every row, by domain. 0 or ERR_STATEDB_*. */
int statedb_rollout_load(struct statedb *db, statedb_rollout_fn *fn, void *arg);

#endif
