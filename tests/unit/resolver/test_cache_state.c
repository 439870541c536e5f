/*
 * tests/unit/resolver/test_cache_state.c - the policy cache kept in the state database
 *                                          (resolver/cache_state.c, cache_mem observer)
 *
 * A real memory cache, a real SQLite file in a private temp directory, the real loop (run
 * only in the timer case, until the write happened). What the file holds after each kind
 * of change (store, replace, negative over a policy, purge, eviction, expiry, clear), what
 * a start loads (live rows; expired, invalid and over-long rows dropped or clamped; the
 * newest max_load), a write that fails while another process holds the lock and succeeds
 * later, the rewrite after the pending set overflowed, the final write at free, the miss
 * path reading an evicted policy back, and the table's bound.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../sqlutil.h"
#include "../testutil.h"
#include "cache_mem.h"
#include "cache_state.h"
#include "err.h"
#include "loop.h"
#include "mtasts_limits.h"
#include "statedb.h"

struct fx {
	char dir[64];
	char path[128];
	struct loop *loop;
	struct statedb *db;
	struct cache_mem *cache;
	struct cache_state *cs;
	time_t now;
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256];

	(void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/mtastsd-cstate.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	(void)snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, STATEDB_FILE_NAME);
	assert_int_equal(loop_new(&fx->loop), 0);
	assert_int_equal(statedb_open(fx->path, &fx->db, err, sizeof(err)), 0);
	fx->cache = cache_mem_new(100);
	fx->now = loop_wall_s(fx->loop);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char *argv[] = {"rm", "-rf", fx->dir, NULL};

	fx->cs = cache_state_free(fx->cs);
	fx->cache = cache_mem_free(fx->cache);
	fx->db = statedb_close(fx->db);
	fx->loop = loop_free(fx->loop);
	(void)tu_run_quiet(argv);
	free(fx);
	return 0;
}

static void
start(struct fx *fx, size_t max_load)
{
	assert_int_equal(cache_state_new(fx->loop, fx->db, fx->cache, max_load, fx->now, &fx->cs),
	                 0);
}

static struct sts_policy *
mkpolicy(const char *mx, uint32_t max_age)
{
	char t[256];
	struct sts_policy *p = NULL;

	(void)snprintf(t, sizeof(t), "version: STSv1\nmode: enforce\nmx: %s\nmax_age: %u\n", mx,
	               max_age);
	assert_int_equal(sts_policy_parse(t, strlen(t), &p, NULL), 0);
	return p;
}

static void
put_policy(struct fx *fx, const char *dom, const char *id, time_t fetched)
{
	struct cache_entry e = {.kind = CACHE_POLICY,
	                        .policy = mkpolicy("mail.example", 86400),
	                        .fetched_at = fetched,
	                        .expires_at = fetched + 86400,
	                        .last_check = fetched};

	(void)snprintf(e.id, sizeof(e.id), "%s", id);
	cache_mem_put(fx->cache, dom, &e);
}

static void
put_negative(struct fx *fx, const char *dom, enum cache_kind kind)
{
	struct cache_entry e = {.kind = kind, .expires_at = fx->now + 60, .last_check = fx->now};

	cache_mem_put(fx->cache, dom, &e);
}

/* The file's rows as "domain id|", ordered by domain. */
static const char *
rows(struct fx *fx)
{
	static char out[4096];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0;

	out[0] = '\0';
	assert_int_equal(sqlite3_open(fx->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT domain, id FROM sts_policy ORDER BY domain",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && len < sizeof(out) - 100)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s %s|",
		                        (const char *)sqlite3_column_text(st, 0),
		                        (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return out;
}

static void
flush_ok(struct fx *fx)
{
	assert_int_equal(cache_state_flush(fx->cs), 0);
	assert_int_equal(cache_state_pending(fx->cs), 0);
}

/* ---- the observer itself ---- */

struct seen {
	char log[512];
};

static void
observe(const char *dom, const struct cache_entry *prev, const struct cache_entry *next, void *arg)
{
	struct seen *s = arg;
	size_t len = strlen(s->log);

	(void)snprintf(s->log + len, sizeof(s->log) - len, "%s %s>%s|", dom,
	               prev != NULL ? cache_kind_name(prev->kind) : "-",
	               next != NULL ? cache_kind_name(next->kind) : "-");
}

static void
observer_sees_every_change(void **state)
{
	struct fx *fx = *state;
	struct cache_mem *c = cache_mem_new(2);
	struct seen s = {{0}};
	struct cache_mem *saved = fx->cache;

	fx->cache = c;
	cache_mem_set_observer(c, observe, &s);
	put_policy(fx, "a.example", "a1", fx->now);
	put_negative(fx, "b.example", CACHE_NO_POLICY);
	put_negative(fx, "a.example", CACHE_TEMPFAIL); /* replace */
	put_policy(fx, "c.example", "c1", fx->now);    /* policies and negative entries have an
	                                                * LRU each (issue 15): nothing evicted */
	assert_int_equal(cache_mem_delete(c, "c.example"), 0);
	put_negative(fx, "d.example", CACHE_NO_POLICY); /* told first, then evicts b */
	assert_int_equal(cache_mem_purge_expired(c, fx->now + 120), 2);
	put_policy(fx, "e.example", "e1", fx->now);
	cache_mem_clear(c);
	assert_string_equal(s.log,
	                    "a.example ->policy|b.example ->no-policy|a.example "
	                    "policy>tempfail|c.example ->policy|c.example policy>-|"
	                    "d.example ->no-policy|b.example no-policy>-|a.example tempfail>-|"
	                    "d.example no-policy>-|e.example ->policy|e.example policy>-|");
	/* freeing the cache is not a removal */
	put_policy(fx, "f.example", "f1", fx->now);
	s.log[0] = '\0';
	fx->cache = saved;
	cache_mem_free(c);
	assert_string_equal(s.log, "");
}

/* ---- writes ---- */

static void
store_replace_remove(void **state)
{
	struct fx *fx = *state;

	start(fx, 100);
	put_policy(fx, "a.example", "a1", fx->now);
	put_negative(fx, "nx.example", CACHE_NO_POLICY); /* not kept, not even a delete */
	put_negative(fx, "tf.example", CACHE_TEMPFAIL);
	assert_int_equal(cache_state_pending(fx->cs), 1);
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a1|");
	assert_int_equal(tu_sql_int(fx->path, "SELECT expires_at - fetched_at FROM sts_policy"),
	                 86400);
	/* the canonical text, as sts_policy_serialize() writes it */
	assert_int_equal(tu_sql_int(fx->path,
	                            "SELECT count(*) FROM sts_policy WHERE policy = "
	                            "'version: STSv1' || char(13,10) || 'mode: enforce' || "
	                            "char(13,10) || 'mx: mail.example' || char(13,10) || "
	                            "'max_age: 86400' || char(13,10)"),
	                 1);
	/* replaced (new id), several times before one flush: one row, the last one */
	put_policy(fx, "a.example", "a2", fx->now);
	put_policy(fx, "a.example", "a3", fx->now);
	assert_int_equal(cache_state_pending(fx->cs), 1);
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a3|");
	/* a negative entry over a valid policy never deletes its row (RFC 8461 section 5.1:
	 * it applies until it expires; the engine keeps it in memory too) */
	put_negative(fx, "a.example", CACHE_NO_POLICY);
	put_policy(fx, "b.example", "b1", fx->now);
	put_policy(fx, "c.example", "c1", fx->now);
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a3|b.example b1|c.example c1|");
	/* the admin purge of one domain: memory and row */
	assert_int_equal(cache_mem_delete(fx->cache, "b.example"), 0);
	cache_state_forget(fx->cs, "b.example");
	cache_state_forget(fx->cs, "a.example");
	flush_ok(fx);
	assert_string_equal(rows(fx), "c.example c1|");
	/* an expiry purge in memory (the clock moved on here, not on disk): the row stays
	 * until it expires on the wall clock too */
	assert_int_equal(cache_mem_purge_expired(fx->cache, fx->now + 86400), 4);
	flush_ok(fx);
	assert_string_equal(rows(fx), "c.example c1|");
	put_policy(fx, "d.example", "d1", fx->now);
	put_policy(fx, "e.example", "e1", fx->now);
	flush_ok(fx);
	/* the admin purge of all */
	cache_mem_clear(fx->cache);
	cache_state_forget(fx->cs, NULL);
	flush_ok(fx);
	assert_string_equal(rows(fx), "");
	assert_int_equal(cache_state_counters(fx->cs)->puts, 8);
	assert_int_equal(cache_state_counters(fx->cs)->deletes, 2);
	assert_int_equal(cache_state_counters(fx->cs)->errors, 0);
}

/* A policy evicted for space keeps its row, also when it leaves memory before its first
 * write; a lookup that misses in memory reads it back (the trial: max_entries other
 * domains' policies removed an enforce policy). */
static void
eviction_keeps_row(void **state)
{
	struct fx *fx = *state;
	const struct cache_entry *e;

	cache_mem_set_max(fx->cache, 2);
	start(fx, 2);
	put_policy(fx, "a.example", "a1", fx->now);
	put_policy(fx, "b.example", "b1", fx->now);
	flush_ok(fx);
	put_policy(fx, "c.example", "c1", fx->now); /* a is evicted */
	put_policy(fx, "d.example", "d1", fx->now); /* b is evicted */
	put_policy(fx, "f.example", "f1", fx->now); /* c, never written yet, is evicted */
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a1|b.example b1|c.example c1|d.example d1|"
	                              "f.example f1|");
	assert_null(cache_mem_peek(fx->cache, "a.example"));
	/* the miss path: read back, put into memory, TXT re-check due */
	assert_int_equal(cache_state_lookup(fx->cs, "a.example", fx->now), 1);
	e = cache_mem_peek(fx->cache, "a.example");
	assert_non_null(e);
	assert_int_equal(e->kind, CACHE_POLICY);
	assert_string_equal(e->id, "a1");
	assert_int_equal(e->expires_at, fx->now + 86400);
	assert_int_equal(e->last_check, 0);
	assert_int_equal(cache_state_lookup(fx->cs, "none.example", fx->now), 0);
	/* expired on disk: a miss, and the row goes */
	assert_int_equal(cache_state_lookup(fx->cs, "b.example", fx->now + 86400), 0);
	assert_int_equal(cache_state_counters(fx->cs)->read_hits, 1);
	assert_int_equal(cache_state_counters(fx->cs)->read_misses, 2);
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a1|c.example c1|d.example d1|f.example f1|");
	/* purged by the operator: not read back, even before the row is deleted */
	cache_state_forget(fx->cs, "c.example");
	assert_int_equal(cache_state_lookup(fx->cs, "c.example", fx->now), 0);
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a1|d.example d1|f.example f1|");
}

/* The table's bound: CACHE_STATE_ROWS_FACTOR x max_load rows, the latest-expiring kept. */
static void
table_bounded(void **state)
{
	struct fx *fx = *state;
	size_t max = CACHE_STATE_ROWS_FACTOR;
	char dom[32];
	size_t i;

	cache_mem_set_max(fx->cache, 1);
	start(fx, 1);
	for (i = 0; i < max + 5; i++) {
		(void)snprintf(dom, sizeof(dom), "d%zu.example", i);
		put_policy(fx, dom, "x", fx->now - 1000 + (time_t)i); /* d0 expires first */
	}
	flush_ok(fx);
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM sts_policy"), (int)max);
	assert_int_equal(cache_state_counters(fx->cs)->trimmed, 5);
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM sts_policy WHERE domain IN "
	                                      "('d0.example', 'd4.example')"),
	                 0);
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM sts_policy WHERE domain IN "
	                                      "('d5.example', 'd14.example')"),
	                 2);
}

static void
expired_in_memory_not_written(void **state)
{
	struct fx *fx = *state;

	start(fx, 100);
	put_policy(fx, "old.example", "o1", fx->now - 86400); /* expires_at == now */
	flush_ok(fx);
	assert_string_equal(rows(fx), "");
}

/* ---- loading ---- */

static const char enf[] =
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example\r\nmax_age: 86400\r\n";
static const char tst[] = "version: STSv1\r\nmode: testing\r\nmx: *.example\r\nmax_age: 600\r\n";

static void
load_live_drop_rest(void **state)
{
	struct fx *fx = *state;
	const struct cache_entry *e;
	time_t now = fx->now;

	tu_policy_row(fx->db, "live.example", "l1", enf, now - 100, now - 100 + 86400);
	tu_policy_row(fx->db, "testing.example", "t1", tst, now - 10, now - 10 + 600);
	tu_policy_row(fx->db, "expired.example", "x1", enf, now - 86400, now);
	/* over-long: clamped to fetched_at + max_age (600), still live */
	tu_policy_row(fx->db, "long.example", "g1", tst, now - 100, now + 999999);
	/* over-long and past max_age: expired */
	tu_policy_row(fx->db, "stale.example", "s1", tst, now - 700, now + 999999);
	/* fetched in the future (clock set back): counted from now */
	tu_policy_row(fx->db, "future.example", "f1", tst, now + 5000, now + 5600);
	/* invalid: not normalised, not a name, bad id, bad text, no fetch time */
	tu_policy_row(fx->db, "Upper.Example", "u1", enf, now, now + 100);
	tu_policy_row(fx->db, "bad..example", "b1", enf, now, now + 100);
	tu_policy_row(fx->db, "id.example", "not-alnum", enf, now, now + 100);
	tu_policy_row(fx->db, "text.example", "t1", "mode: enforce\r\n", now, now + 100);
	tu_policy_row(fx->db, "zero.example", "z1", enf, 0, now + 100);
	start(fx, 100);
	assert_int_equal(cache_state_counters(fx->cs)->loaded, 4);
	assert_int_equal(cache_state_counters(fx->cs)->load_expired, 2);
	assert_int_equal(cache_state_counters(fx->cs)->load_invalid, 5);
	assert_int_equal(cache_mem_count(fx->cache), 4);
	e = cache_mem_peek(fx->cache, "live.example");
	assert_non_null(e);
	assert_int_equal(e->kind, CACHE_POLICY);
	assert_string_equal(e->id, "l1");
	assert_int_equal(e->policy->mode, STS_MODE_ENFORCE);
	assert_string_equal(e->policy->mx[0], "mail.example");
	assert_int_equal(e->fetched_at, now - 100);
	assert_int_equal(e->expires_at, now - 100 + 86400);
	assert_int_equal(e->last_check, 0); /* the first lookup re-checks the TXT id */
	assert_int_equal(e->retry_after, 0);
	e = cache_mem_peek(fx->cache, "testing.example");
	assert_non_null(e);
	assert_int_equal(e->policy->mode, STS_MODE_TESTING);
	e = cache_mem_peek(fx->cache, "long.example");
	assert_int_equal(e->expires_at, now - 100 + 600);
	e = cache_mem_peek(fx->cache, "future.example");
	assert_int_equal(e->fetched_at, now);
	assert_int_equal(e->expires_at, now + 600);
	assert_null(cache_mem_peek(fx->cache, "expired.example"));
	assert_null(cache_mem_peek(fx->cache, "stale.example"));
	assert_null(cache_mem_peek(fx->cache, "upper.example"));
	/* the first flush removes the dropped rows and writes the clamped times back */
	flush_ok(fx);
	assert_string_equal(rows(fx), "future.example f1|live.example l1|long.example g1|"
	                              "testing.example t1|");
	assert_int_equal(tu_sql_int(fx->path, "SELECT expires_at - fetched_at FROM sts_policy "
	                                      "WHERE domain = 'long.example'"),
	                 600);
}

static void
load_newest_bounded(void **state)
{
	struct fx *fx = *state;
	char dom[32];
	int i;

	for (i = 1; i <= 5; i++) {
		(void)snprintf(dom, sizeof(dom), "d%d.example", i);
		tu_policy_row(fx->db, dom, "x", enf, fx->now - 1000 + i, fx->now + 80000 + i);
	}
	cache_mem_set_max(fx->cache, 3);
	start(fx, 3);
	assert_int_equal(cache_state_counters(fx->cs)->loaded, 3);
	assert_null(cache_mem_peek(fx->cache, "d2.example"));
	assert_non_null(cache_mem_peek(fx->cache, "d3.example"));
	assert_non_null(cache_mem_peek(fx->cache, "d5.example"));
}

/* ---- failures ---- */

static void
locked_then_written(void **state)
{
	struct fx *fx = *state;
	sqlite3 *h = NULL;

	start(fx, 100);
	put_policy(fx, "a.example", "a1", fx->now);
	assert_int_equal(sqlite3_open(fx->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(cache_state_flush(fx->cs), ERR_STATEDB_LOCKED);
	assert_int_equal(cache_state_pending(fx->cs), 1); /* kept for the retry */
	assert_int_equal(cache_state_counters(fx->cs)->errors, 1);
	put_policy(fx, "b.example", "b1", fx->now);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	flush_ok(fx);
	assert_string_equal(rows(fx), "a.example a1|b.example b1|");
}

/* Another writer of this process (the TLSRPT receiver's thread) holds the write lock for a
 * moment: the batch waits for it (STATEDB_LOOP_BUSY_MS) instead of failing and backing
 * off while reports keep coming. */
struct holder {
	const char *path;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int held;
};

static void *
hold_lock(void *arg)
{
	struct holder *h = arg;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	sqlite3 *db = NULL;

	if (sqlite3_open(h->path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		abort();
	(void)pthread_mutex_lock(&h->mu);
	h->held = 1;
	(void)pthread_cond_signal(&h->cv);
	(void)pthread_mutex_unlock(&h->mu);
	(void)nanosleep(&ts, NULL); /* a report's transaction: milliseconds */
	(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	(void)sqlite3_close(db);
	return NULL;
}

static void
short_lock_waited(void **state)
{
	struct fx *fx = *state;
	struct holder h = {.path = fx->path};
	pthread_t t;

	start(fx, 100);
	put_policy(fx, "a.example", "a1", fx->now);
	(void)pthread_mutex_init(&h.mu, NULL);
	(void)pthread_cond_init(&h.cv, NULL);
	assert_int_equal(pthread_create(&t, NULL, hold_lock, &h), 0);
	(void)pthread_mutex_lock(&h.mu);
	while (!h.held)
		(void)pthread_cond_wait(&h.cv, &h.mu);
	(void)pthread_mutex_unlock(&h.mu);
	flush_ok(fx); /* the lock is held now: waited for, then written */
	assert_int_equal(cache_state_counters(fx->cs)->errors, 0);
	(void)pthread_join(t, NULL);
	assert_string_equal(rows(fx), "a.example a1|");
	(void)pthread_mutex_destroy(&h.mu);
	(void)pthread_cond_destroy(&h.cv);
}

static void
overflow_rewrites_from_memory(void **state)
{
	struct fx *fx = *state;
	char dom[32];
	int i, n = CACHE_STATE_DIRTY_MIN + 50;

	tu_policy_row(fx->db, "gone.example", "g1", enf, fx->now,
	              fx->now + 100); /* not in memory */
	cache_mem_set_max(fx->cache, (size_t)n);
	start(fx, CACHE_STATE_DIRTY_MIN / 2); /* pending bound: CACHE_STATE_DIRTY_MIN */
	cache_mem_set_max(fx->cache, (size_t)n);
	assert_int_equal(cache_mem_delete(fx->cache, "gone.example"), 0); /* marked ... */
	for (i = 0; i < n; i++) {
		(void)snprintf(dom, sizeof(dom), "d%d.example", i);
		put_policy(fx, dom, "x", fx->now);
	}
	put_negative(fx, "d0.example", CACHE_NO_POLICY);
	flush_ok(fx);
	assert_int_equal(cache_state_counters(fx->cs)->resyncs, 1);
	/* ... and the rewrite holds memory's policies, and the valid row memory let go */
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM sts_policy"), n);
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM sts_policy WHERE domain IN "
	                                      "('gone.example', 'd0.example')"),
	                 1);
}

/* A rewrite from memory never has fewer of memory's policies on disk than before, at any
 * commit: a crash between its batches loses nothing (it used to DELETE every row and
 * commit the first CACHE_STATE_BATCH_MAX again: 512 of 1673 on disk until the next). */
static void
rewrite_never_drops_live_rows(void **state)
{
	struct fx *fx = *state;
	char dom[32];
	int i, steps = 0, old = 600, fresh = CACHE_STATE_DIRTY_MIN + 50;
	const char *live_old = "SELECT count(*) FROM sts_policy WHERE domain LIKE 'old%'";

	cache_mem_set_max(fx->cache, (size_t)(old + fresh));
	start(fx, CACHE_STATE_DIRTY_MIN / 2); /* pending bound: CACHE_STATE_DIRTY_MIN */
	cache_mem_set_max(fx->cache, (size_t)(old + fresh));
	for (i = 0; i < old; i++) {
		(void)snprintf(dom, sizeof(dom), "old%d.example", i);
		put_policy(fx, dom, "o", fx->now);
	}
	flush_ok(fx);
	assert_int_equal(tu_sql_int(fx->path, live_old), old);
	put_negative(fx, "old5.example", CACHE_NO_POLICY); /* a valid policy's row: stays */
	for (i = 0; i < fresh; i++) {
		(void)snprintf(dom, sizeof(dom), "new%d.example", i);
		put_policy(fx, dom, "n", fx->now);
	}
	/* old5 was marked before the overflow; the overflow forgot the pending names */
	while (cache_state_pending(fx->cs) > 0 || steps == 0) {
		assert_int_equal(cache_state_step(fx->cs), 0);
		steps++;
		assert_true(steps < 20);
		if (cache_state_pending(fx->cs) > 0)
			assert_true(tu_sql_int(fx->path, live_old) >= old);
	}
	assert_int_equal(cache_state_step(fx->cs), 0); /* the sweep (or nothing left) */
	flush_ok(fx);
	assert_int_equal(cache_state_counters(fx->cs)->resyncs, 1);
	assert_true(steps >= 3); /* 1 + 599 + 1074 names: more than two batches */
	assert_int_equal(tu_sql_int(fx->path, live_old), old);
	assert_int_equal(tu_sql_int(fx->path, "SELECT count(*) FROM sts_policy"), old + fresh);
	assert_int_equal(
	        tu_sql_int(fx->path,
	                   "SELECT count(*) FROM sts_policy WHERE domain = 'old5.example'"),
	        1);
}

/* ---- the timer, and the last write ---- */

static void
stop_when_written(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct fx *fx = arg;

	if (cache_state_pending(fx->cs) == 0 || loop_wall_s(loop) > fx->now + 20)
		loop_exit(loop, 0);
	else
		loop_timer_start(loop, t, 50, stop_when_written, fx);
}

static void
timer_writes(void **state)
{
	struct fx *fx = *state;
	struct loop_timer t = LOOP_TIMER_INIT;

	start(fx, 100);
	put_policy(fx, "a.example", "a1", fx->now);
	loop_timer_start(fx->loop, &t, 50, stop_when_written, fx);
	assert_int_equal(loop_run(fx->loop), 0);
	loop_timer_stop(fx->loop, &t);
	assert_int_equal(cache_state_pending(fx->cs), 0);
	assert_string_equal(rows(fx), "a.example a1|");
	assert_int_equal(cache_state_counters(fx->cs)->commits, 1);
}

static void
free_writes_pending(void **state)
{
	struct fx *fx = *state;

	start(fx, 100);
	put_policy(fx, "a.example", "a1", fx->now);
	fx->cs = cache_state_free(fx->cs);
	assert_string_equal(rows(fx), "a.example a1|");
	/* and the cache has no observer any more */
	put_policy(fx, "b.example", "b1", fx->now);
	assert_string_equal(rows(fx), "a.example a1|");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(observer_sees_every_change, setup, teardown),
	        cmocka_unit_test_setup_teardown(store_replace_remove, setup, teardown),
	        cmocka_unit_test_setup_teardown(eviction_keeps_row, setup, teardown),
	        cmocka_unit_test_setup_teardown(table_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(expired_in_memory_not_written, setup, teardown),
	        cmocka_unit_test_setup_teardown(load_live_drop_rest, setup, teardown),
	        cmocka_unit_test_setup_teardown(load_newest_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(locked_then_written, setup, teardown),
	        cmocka_unit_test_setup_teardown(short_lock_waited, setup, teardown),
	        cmocka_unit_test_setup_teardown(overflow_rewrites_from_memory, setup, teardown),
	        cmocka_unit_test_setup_teardown(rewrite_never_drops_live_rows, setup, teardown),
	        cmocka_unit_test_setup_teardown(timer_writes, setup, teardown),
	        cmocka_unit_test_setup_teardown(free_writes_pending, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
