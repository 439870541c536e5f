/*
 * resolver/cache_state.c - the policy cache kept in the state database across restarts
 *
 * Interface: see cache_state.h (what is kept, and why negative entries are not)
 * Threads:   main loop only.
 * Ownership: the pending set (common/lru.h, names only) and its nodes are ours; the loop,
 *            the database and the memory cache are borrowed.
 * Errors:    load errors go to the caller (logged here); write errors are logged once per
 *            outage, counted and retried with backoff. Never fatal.
 *
 * The pending set holds domain names, not entries: the flush writes what memory holds for
 * each name at that moment (a valid policy: INSERT OR REPLACE; none: the valid policy that
 * left memory since, kept in the node, or else DELETE once the row expired), so a name
 * changed ten times between two flushes is one row written. The file holds memory's
 * policies and those evicted from it, until they expire or the table's bound trims them.
 * The memory observer adds a name (O(1)), and serialises a valid policy that leaves
 * memory (an eviction) into its node.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_state.h"
#include "domain.h"
#include "err.h"
#include "log.h"
#include "lru.h"
#include "mtasts_limits.h"
#include "statedb.h"
#include "stats.h"
#include "xalloc.h"

struct cache_state_node {
	struct lru_node node;
	/* A valid policy that left memory (evicted for space, or replaced by a negative entry)
	 * before its row was written: written from here (RFC 8461 section 5.1: it applies
	 * until it expires, the memory bound does not end it). NULL when none. */
	char *text;
	char id[STS_ID_MAX + 1];
	time_t fetched_at, expires_at;
	int forget; /* the operator purged it, or its row is invalid: delete the row */
	char dom[]; /* the key */
};

#define CS_NODE(n) LRU_ENTRY(n, struct cache_state_node, node)

struct cache_state {
	struct loop *loop;
	struct statedb *db;
	struct cache_mem *cache;
	struct lru *pending; /* names to write, oldest first; bounded by pending_max */
	size_t pending_max;
	int resync;      /* the pending set overflowed: rewrite the table from memory */
	int sweep;       /* after the rewrite's batches: delete the rows memory does not hold */
	size_t rows;     /* rows in the table, an upper estimate (exact after a trim) */
	size_t rows_max; /* the table's bound: CACHE_STATE_ROWS_FACTOR x max_load */
	int forget_all;  /* the operator purged the whole cache: delete every row first */
	struct loop_timer timer;
	uint64_t retry_ms; /* current backoff; 0 while writes succeed */
	uint64_t failing_since_ms;
	struct cache_state_counters ctr;
};

static void cache_state_timer(struct loop *loop, struct loop_timer *t, void *arg);

/* ---- the pending set ---- */

static void
cache_state_arm(struct cache_state *cs, uint64_t ms)
{
	if (!loop_timer_armed(&cs->timer))
		loop_timer_start(cs->loop, &cs->timer, ms, cache_state_timer, cs);
}

static void
cache_state_node_free(struct cache_state_node *n)
{
	if (n == NULL)
		return;
	free(n->text);
	free(n);
}

static void
cache_state_pending_clear(struct cache_state *cs)
{
	struct lru_node *n;

	while ((n = lru_pop_oldest(cs->pending)) != NULL)
		cache_state_node_free(CS_NODE(n));
}

/* dom's node in the pending set, added when absent; NULL for an empty name. */
static struct cache_state_node *
cache_state_add(struct cache_state *cs, const char *dom)
{
	size_t len = strlen(dom);
	struct lru_node *f;
	struct cache_state_node *n;

	if (len == 0)
		return NULL;
	f = lru_find(cs->pending, dom, len);
	if (f != NULL)
		return CS_NODE(f);
	n = xcalloc(1, sizeof(*n) + len + 1);
	memcpy(n->dom, dom, len + 1);
	(void)lru_insert(cs->pending, &n->node, n->dom, len); /* absent: cannot fail */
	return n;
}

/* dom changed in memory: write it at the next flush. Returns its node, or NULL when the
 * pending set overflowed (the rewrite from memory covers it). */
static struct cache_state_node *
cache_state_mark(struct cache_state *cs, const char *dom)
{
	struct cache_state_node *n = NULL;

	if (cs->resync)
		return NULL; /* the rewrite from memory covers it */
	if (lru_count(cs->pending) >= cs->pending_max &&
	    lru_find(cs->pending, dom, strlen(dom)) == NULL) {
		log_warn("state database %s: more than %zu changed domains waiting to be written, "
		         "rewriting its policies from memory once writes succeed",
		         statedb_path(cs->db), cs->pending_max);
		cache_state_pending_clear(cs);
		cs->resync = 1;
	} else {
		n = cache_state_add(cs, dom);
	}
	cache_state_arm(cs, CACHE_STATE_FLUSH_MS);
	return n;
}

static int
cache_state_valid(const struct cache_entry *e, time_t now)
{
	return e != NULL && e->kind == CACHE_POLICY && e->policy != NULL && e->id[0] != '\0' &&
	       e->expires_at > now;
}

/* The memory cache's observer: only changes that involve a policy touch the file. A valid
 * policy leaving memory for anything but another valid policy (an eviction, a negative
 * entry) is kept in the node, so that its row is written even when the flush comes after. */
static void
cache_state_observe(const char *dom, const struct cache_entry *prev, const struct cache_entry *next,
                    void *arg)
{
	struct cache_state *cs = arg;
	time_t now = loop_wall_s(cs->loop);
	struct cache_state_node *n;

	if ((prev == NULL || prev->kind != CACHE_POLICY) &&
	    (next == NULL || next->kind != CACHE_POLICY))
		return;
	n = cache_state_mark(cs, dom);
	if (n == NULL)
		return;
	if (cache_state_valid(next, now)) {
		free(n->text); /* memory holds the newer one */
		n->text = NULL;
	} else if (cache_state_valid(prev, now)) {
		free(n->text);
		n->text = sts_policy_serialize(prev->policy);
		(void)snprintf(n->id, sizeof(n->id), "%s", prev->id);
		n->fetched_at = prev->fetched_at;
		n->expires_at = prev->expires_at;
		n->forget = 0;
	}
}

static int
cache_state_mark_visit(const char *dom, const struct cache_entry *e, void *arg)
{
	struct cache_state *cs = arg;

	if (cache_state_valid(e, loop_wall_s(cs->loop)))
		cache_state_add(cs, dom);
	return 0;
}

/* ---- writing ---- */

/* Write dom's row: the valid policy memory holds now; else, when purged or invalid, no row;
 * else the valid policy that left memory (n->text); else no row only when it expired. */
static int
cache_state_write(struct cache_state *cs, struct cache_state_node *n, time_t now, uint64_t *puts,
                  uint64_t *deletes)
{
	const char *dom = n->dom;
	const struct cache_entry *e = cache_mem_peek(cs->cache, dom);
	struct statedb_policy p;
	char *text;
	int r;

	if (!cache_state_valid(e, now)) {
		if (!n->forget && n->text != NULL && n->expires_at > now) {
			p = (struct statedb_policy){.domain = dom,
			                            .id = n->id,
			                            .text = n->text,
			                            .text_len = strlen(n->text),
			                            .fetched_at = n->fetched_at,
			                            .expires_at = n->expires_at};
			(*puts)++;
			return statedb_policy_put(cs->db, &p);
		}
		(*deletes)++;
		if (n->forget)
			return statedb_policy_delete(cs->db, dom);
		return statedb_policy_delete_expired(cs->db, dom, now);
	}
	text = sts_policy_serialize(e->policy);
	p = (struct statedb_policy){.domain = dom,
	                            .id = e->id,
	                            .text = text,
	                            .text_len = strlen(text),
	                            .fetched_at = e->fetched_at,
	                            .expires_at = e->expires_at};
	r = statedb_policy_put(cs->db, &p);
	free(text);
	(*puts)++;
	return r;
}

/* The last step of a rewrite from memory, and the table's bound: one transaction deleting
 * the expired rows, then, when more than rows_max are left, those that expire first.
 * Rows of valid policies that memory does not hold (evicted for space) stay: a lookup
 * that misses in memory reads them (cache_state_lookup()). */
static int
cache_state_sweep(struct cache_state *cs, uint64_t *deletes)
{
	size_t expired = 0, trimmed = 0, rows = 0;
	int r;

	r = statedb_begin(cs->db);
	if (r == 0)
		r = statedb_policy_drop_expired(cs->db, loop_wall_s(cs->loop), &expired);
	if (r == 0)
		r = statedb_policy_count(cs->db, &rows);
	if (r == 0 && rows > cs->rows_max)
		r = statedb_policy_trim(cs->db, cs->rows_max, &trimmed);
	if (r == 0)
		r = statedb_commit(cs->db);
	if (r < 0) {
		statedb_rollback(cs->db);
		return r;
	}
	if (trimmed > 0)
		log_notice("state database %s: more than %zu cached policies, the %zu that expire "
		           "first deleted",
		           statedb_path(cs->db), cs->rows_max, trimmed);
	cs->ctr.trimmed += trimmed;
	cs->rows = rows - trimmed;
	*deletes += expired + trimmed;
	return 0;
}

/* One transaction: up to CACHE_STATE_BATCH_MAX pending names, oldest first (they leave
 * the set only when the commit succeeded); a rewrite from memory (resync) first marks
 * every policy memory holds, and ends with the sweep once they are all written. */
static int
cache_state_batch(struct cache_state *cs)
{
	time_t now = loop_wall_s(cs->loop);
	uint64_t puts = 0, deletes = 0;
	struct lru_node *n;
	size_t i, done = 0;
	int r;

	if (cs->resync) {
		cache_state_pending_clear(cs); /* (evicted policies not written yet are lost) */
		cs->resync = 0;
		cs->sweep = 1;
		cs->ctr.resyncs++;
		cache_mem_foreach(cs->cache, SIZE_MAX, cache_state_mark_visit, cs);
	}
	/* the first try waits a moment for another writer (the TLSRPT receiver's threads of
	 * this process hold the lock for milliseconds); a retry does not */
	statedb_busy_wait(cs->db, cs->retry_ms == 0 ? STATEDB_LOOP_BUSY_MS : 0);
	if ((lru_count(cs->pending) == 0 && cs->sweep) ||
	    (cs->rows > cs->rows_max && !cs->resync)) {
		r = cache_state_sweep(cs, &deletes);
		if (r < 0)
			return r;
		cs->sweep = 0;
		cs->ctr.commits++;
		cs->ctr.deletes += deletes;
		return 0;
	}
	r = statedb_begin(cs->db);
	if (r < 0)
		return r;
	if (cs->forget_all) {
		r = statedb_policy_delete_all(cs->db);
		if (r < 0)
			goto fail;
	}
	for (n = lru_oldest(cs->pending); n != NULL && done < CACHE_STATE_BATCH_MAX;
	     n = lru_newer(n), done++) {
		r = cache_state_write(cs, CS_NODE(n), now, &puts, &deletes);
		if (r < 0)
			goto fail;
	}
	r = statedb_commit(cs->db);
	if (r < 0)
		goto fail;
	for (i = 0; i < done; i++)
		cache_state_node_free(CS_NODE(lru_pop_oldest(cs->pending)));
	if (cs->forget_all)
		cs->rows = 0;
	cs->forget_all = 0;
	cs->rows += puts; /* a replaced row counts again: an upper estimate */
	cs->ctr.commits++;
	cs->ctr.puts += puts;
	cs->ctr.deletes += deletes;
	return 0;
fail:
	statedb_rollback(cs->db);
	return r;
}

int
cache_state_step(struct cache_state *cs)
{
	if (lru_count(cs->pending) == 0 && !cs->resync && !cs->sweep && !cs->forget_all &&
	    cs->rows <= cs->rows_max)
		return 0;
	return cache_state_batch(cs);
}

/* Log a failed batch (the first of an outage as a warning) and back off. */
static void
cache_state_failed(struct cache_state *cs, int r)
{
	uint64_t now_ms = loop_now_ms(cs->loop);

	cs->ctr.errors++;
	if (cs->retry_ms == 0) {
		cs->retry_ms = CACHE_STATE_RETRY_MIN_MS;
		cs->failing_since_ms = now_ms;
		log_warn("state database %s: writing %zu changed policies failed (%s: %s): the "
		         "memory cache serves them as before, but a restart would lose them; "
		         "retrying in %llu s",
		         statedb_path(cs->db), lru_count(cs->pending), err_str(r),
		         statedb_errmsg(cs->db), (unsigned long long)(cs->retry_ms / 1000));
	} else {
		uint64_t max = r == ERR_STATEDB_LOCKED ? CACHE_STATE_RETRY_LOCKED_MAX_MS
		                                       : CACHE_STATE_RETRY_MAX_MS;

		cs->retry_ms = cs->retry_ms * 2 > max ? max : cs->retry_ms * 2;
		log_debug("state database %s: write failed again (%s: %s), retrying in %llu ms",
		          statedb_path(cs->db), err_str(r), statedb_errmsg(cs->db),
		          (unsigned long long)cs->retry_ms);
	}
}

static void
cache_state_recovered(struct cache_state *cs)
{
	if (cs->retry_ms == 0)
		return;
	log_notice("state database %s: writable again after %llu s", statedb_path(cs->db),
	           (unsigned long long)((loop_now_ms(cs->loop) - cs->failing_since_ms) / 1000));
	cs->retry_ms = 0;
}

static void
cache_state_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct cache_state *cs = arg;
	int r = cache_state_batch(cs);

	if (r < 0) {
		cache_state_failed(cs, r);
		loop_timer_start(loop, &cs->timer, cs->retry_ms, cache_state_timer, cs);
		return;
	}
	cache_state_recovered(cs);
	/* More than one batch: the rest right after this dispatch, so lookups go between. */
	if (lru_count(cs->pending) > 0 || cs->resync || cs->sweep || cs->forget_all ||
	    cs->rows > cs->rows_max)
		loop_timer_start(loop, &cs->timer, 0, cache_state_timer, cs);
}

int
cache_state_flush(struct cache_state *cs)
{
	int r;

	while (lru_count(cs->pending) > 0 || cs->resync || cs->sweep || cs->forget_all ||
	       cs->rows > cs->rows_max) {
		r = cache_state_batch(cs);
		if (r < 0) {
			cache_state_failed(cs, r);
			return r;
		}
		cache_state_recovered(cs);
	}
	return 0;
}

/* ---- loading ---- */

struct cache_state_load {
	struct cache_state *cs;
	time_t now;
};

static int
cache_state_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > STS_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]))
			return 0;
	return 1;
}

/* Check row p like a cached value (normalised domain, id, canonical text parsed again,
 * expiry clamped to fetched_at + max_age, a fetch time ahead of now set to now) into *e
 * (its policy owned by the caller; last_check 0: the first lookup re-checks the TXT id).
 * Returns 0, -1 when invalid, 1 when expired (e untouched), 2 when valid but the times
 * were clamped (to be written back). */
static int
cache_state_row_entry(const struct statedb_policy *p, time_t now, struct cache_entry *e)
{
	struct sts_policy *pol = NULL;
	char norm[DOMAIN_BUF];
	time_t max_age, fetched_at, expires_at;

	if (domain_normalize(p->domain, norm) < 0 || strcmp(norm, p->domain) != 0 ||
	    !cache_state_id_valid(p->id) || p->fetched_at <= 0 ||
	    sts_policy_parse_canonical(p->text, p->text_len, &pol, NULL) < 0)
		return -1;
	max_age = (time_t)pol->max_age_s;
	fetched_at = p->fetched_at;
	expires_at = p->expires_at;
	/* Never longer than the policy's own max_age from its fetch, nor from now when the
	 * fetch time lies ahead (a clock set back since, or a bogus row). */
	if (fetched_at > now)
		fetched_at = now;
	if (expires_at > fetched_at + max_age)
		expires_at = fetched_at + max_age;
	if (expires_at <= now) {
		sts_policy_free(pol);
		return 1;
	}
	*e = (struct cache_entry){.kind = CACHE_POLICY,
	                          .policy = pol,
	                          .fetched_at = fetched_at,
	                          .expires_at = expires_at,
	                          .last_check = 0};
	(void)snprintf(e->id, sizeof(e->id), "%s", p->id);
	return fetched_at != p->fetched_at || expires_at != p->expires_at ? 2 : 0;
}

/* Delete dom's row at the next flush (invalid, expired, purged). */
static void
cache_state_forget_one(struct cache_state *cs, const char *dom)
{
	struct cache_state_node *n = cache_state_mark(cs, dom);

	if (n == NULL)
		return;
	free(n->text);
	n->text = NULL;
	n->forget = 1;
}

static int
cache_state_load_row(const struct statedb_policy *p, void *arg)
{
	struct cache_state_load *ld = arg;
	struct cache_state *cs = ld->cs;
	struct cache_entry e;
	int r = cache_state_row_entry(p, ld->now, &e);

	if (r < 0 || r == 1) {
		if (r < 0)
			cs->ctr.load_invalid++;
		else
			cs->ctr.load_expired++;
		cache_state_forget_one(cs, p->domain); /* not in memory: its row is deleted */
		return 0;
	}
	if (r == 2)
		cache_state_mark(cs, p->domain); /* write the clamped times back */
	cache_mem_put(cs->cache, p->domain, &e);
	cs->ctr.loaded++;
	return 0;
}

/* ---- the miss path: a policy evicted from memory, read back ---- */

struct cache_state_read {
	struct cache_state *cs;
	time_t now;
	int r; /* cache_state_row_entry()'s result */
	struct cache_entry e;
};

static int
cache_state_read_row(const struct statedb_policy *p, void *arg)
{
	struct cache_state_read *rd = arg;

	rd->r = cache_state_row_entry(p, rd->now, &rd->e);
	return 0;
}

int
cache_state_lookup(struct cache_state *cs, const char *dom, time_t now)
{
	struct cache_state_read rd = {.cs = cs, .now = now};
	struct lru_node *f = lru_find(cs->pending, dom, strlen(dom));
	int r;

	/* purged by the operator, the row not deleted yet: gone already */
	if (cs->forget_all || (f != NULL && CS_NODE(f)->forget)) {
		cs->ctr.read_misses++;
		return 0;
	}
	if (f != NULL && CS_NODE(f)->text != NULL) {
		/* evicted before its row was written (the flush delay, or writes failing or
		 * waiting for a lock): the row would be older or missing (found by a trial) */
		const struct cache_state_node *n = CS_NODE(f);
		const struct statedb_policy p = {.domain = n->dom,
		                                 .id = n->id,
		                                 .text = n->text,
		                                 .text_len = strlen(n->text),
		                                 .fetched_at = n->fetched_at,
		                                 .expires_at = n->expires_at};

		(void)cache_state_read_row(&p, &rd);
		r = 0;
	} else {
		r = statedb_policy_get(cs->db, dom, cache_state_read_row, &rd);
	}
	if (r < 0) {
		cs->ctr.read_errors++;
		log_dom_debug(dom, "state database %s: cannot read the cached policy (%s: %s)",
		              statedb_path(cs->db), err_str(r), statedb_errmsg(cs->db));
		return r;
	}
	if (r == 1 || rd.r < 0 || rd.r == 1) {
		cs->ctr.read_misses++;
		if (r == 0) /* an invalid or expired row: no use keeping it */
			cache_state_forget_one(cs, dom);
		return 0;
	}
	cs->ctr.read_hits++;
	log_dom_info(dom,
	             "policy id %s read from the state database (not in memory: evicted for "
	             "space), applied until it expires in %lld s; re-checking its TXT id",
	             rd.e.id, (long long)(rd.e.expires_at - now));
	cache_mem_put(cs->cache, dom, &rd.e); /* the observer writes it back: a no-op row */
	return 1;
}

void
cache_state_forget(struct cache_state *cs, const char *dom)
{
	if (cs == NULL)
		return;
	if (dom != NULL) {
		cache_state_forget_one(cs, dom);
		return;
	}
	cache_state_pending_clear(cs);
	cs->resync = 0;
	cs->forget_all = 1;
	cache_state_arm(cs, CACHE_STATE_FLUSH_MS);
}

int
cache_state_new(struct loop *loop, struct statedb *db, struct cache_mem *cache, size_t max_load,
                time_t now, struct cache_state **ret_cs)
{
	struct cache_state *cs = xcalloc(1, sizeof(*cs));
	struct cache_state_load ld = {.cs = cs, .now = now};
	size_t expired = 0;
	int r;

	cs->loop = loop;
	cs->db = db;
	cs->cache = cache;
	cs->pending_max =
	        2 * max_load > CACHE_STATE_DIRTY_MIN ? 2 * max_load : CACHE_STATE_DIRTY_MIN;
	cs->pending = lru_new(0, NULL, NULL); /* bounded by cache_state_mark() */
	cs->rows_max = (max_load > 0 ? max_load : 1) * CACHE_STATE_ROWS_FACTOR;
	r = statedb_policy_drop_expired(db, now, &expired);
	if (r == 0)
		r = statedb_policy_count(db, &cs->rows);
	if (r == 0)
		r = statedb_policy_load(db, max_load, cache_state_load_row, &ld);
	if (r < 0) {
		log_warn("state database %s: cannot load the cached policies (%s: %s), "
		         "%llu loaded; running without it: cached policies are kept in memory "
		         "only",
		         statedb_path(db), err_str(r), statedb_errmsg(db),
		         (unsigned long long)cs->ctr.loaded);
		loop_timer_stop(loop, &cs->timer);
		cache_state_pending_clear(cs);
		lru_free(cs->pending);
		free(cs);
		return r;
	}
	cs->ctr.load_expired += expired;
	log_notice("state database %s: %llu cached policies loaded (%llu expired and %llu "
	           "invalid dropped)",
	           statedb_path(db), (unsigned long long)cs->ctr.loaded,
	           (unsigned long long)cs->ctr.load_expired,
	           (unsigned long long)cs->ctr.load_invalid);
	cache_mem_set_observer(cache, cache_state_observe, cs);
	if (cs->rows > cs->rows_max)
		cache_state_arm(cs, 0); /* trimmed by the first batch */
	*ret_cs = cs;
	return 0;
}

struct cache_state *
cache_state_free(struct cache_state *cs)
{
	size_t left;
	int r;

	if (cs == NULL)
		return NULL;
	loop_timer_stop(cs->loop, &cs->timer);
	cache_mem_set_observer(cs->cache, NULL, NULL);
	r = cache_state_flush(cs);
	left = lru_count(cs->pending);
	if (r < 0)
		log_warn("state database %s: %zu changed policies not written at shutdown (%s)",
		         statedb_path(cs->db), left, err_str(r));
	cache_state_pending_clear(cs);
	lru_free(cs->pending);
	free(cs);
	return NULL;
}

size_t
cache_state_pending(const struct cache_state *cs)
{
	return lru_count(cs->pending);
}

const struct cache_state_counters *
cache_state_counters(const struct cache_state *cs)
{
	return &cs->ctr;
}

/* ---- metrics ---- */

#define CS_CTR(f) offsetof(struct cache_state, ctr.f)

static uint64_t
cache_state_stats_enabled(const void *obj)
{
	return 1; /* read only when registered with a cache_state (stats_add, obj NULL: 0) */
}

static uint64_t
cache_state_stats_pending(const void *obj)
{
	return cache_state_pending(obj);
}

static const struct stats_field cache_state_load_fields[] = {
        {"loaded", "loaded", .off = CS_CTR(loaded)},
        {"expired", "load_expired", .off = CS_CTR(load_expired)},
        {"invalid", "load_invalid", .off = CS_CTR(load_invalid)},
};
static const struct stats_field cache_state_read_fields[] = {
        {"hit", "hits", .off = CS_CTR(read_hits)},
        {"miss", "misses", .off = CS_CTR(read_misses)},
        {"error", "errors", .off = CS_CTR(read_errors)},
};
static const struct stats_field cache_state_write_fields[] = {
        {"put", "puts", .off = CS_CTR(puts)},
        {"delete", "deletes", .off = CS_CTR(deletes)},
};

static const struct stats_metric cache_state_stats[] = {
        {"mtastsd_state_db_enabled", STATS_GAUGE,
         "1 when cached policies are kept in the state database (process.state_directory).",
         .json = "cache.state.enabled", .flags = STATS_JSON_BOOL, .get = cache_state_stats_enabled},
        {"mtastsd_state_db_policies_loaded_total", STATS_COUNTER,
         "Rows of the state database read at start, by result (loaded into memory, or "
         "dropped: expired, invalid).",
         .json = "cache.state", .label = "result", .fields = cache_state_load_fields,
         .n = STATS_COUNT(cache_state_load_fields)},
        {"mtastsd_state_db_writes_total", STATS_COUNTER,
         "Rows written to the state database, by operation.", .json = "cache.state", .label = "op",
         .fields = cache_state_write_fields, .n = STATS_COUNT(cache_state_write_fields)},
        {"mtastsd_state_db_reads_total", STATS_COUNTER,
         "Lookups that missed in the memory cache and read the state database, by result "
         "(hit: a valid policy evicted from memory, put back; miss: none; error).",
         .json = "cache.state.reads", .label = "result", .fields = cache_state_read_fields,
         .n = STATS_COUNT(cache_state_read_fields)},
        {"mtastsd_state_db_trimmed_total", STATS_COUNTER,
         "Valid policies deleted from the state database because it held more than "
         "CACHE_STATE_ROWS_FACTOR x cache.max_entries (those expiring first).",
         .json = "cache.state.trimmed", .off = CS_CTR(trimmed)},
        {"mtastsd_state_db_write_errors_total", STATS_COUNTER,
         "State database transactions that failed (retried with backoff).",
         .json = "cache.state.errors", .off = CS_CTR(errors)},
        {"mtastsd_state_db_pending", STATS_GAUGE,
         "Domains whose change is not written to the state database yet.",
         .json = "cache.state.pending", .get = cache_state_stats_pending},
};

void
cache_state_stats_add(const struct cache_state *cs, struct stats *st)
{
	stats_add(st, cache_state_stats, STATS_COUNT(cache_state_stats), cs);
}
