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
 * each name at that moment (a valid policy: INSERT OR REPLACE; anything else: DELETE), so
 * a name changed ten times between two flushes is one row written, and the file always
 * converges to memory. The memory observer does nothing but add a name (O(1)).
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
	char dom[]; /* the key */
};

#define CS_NODE(n) LRU_ENTRY(n, struct cache_state_node, node)

struct cache_state {
	struct loop *loop;
	struct statedb *db;
	struct cache_mem *cache;
	struct lru *pending; /* names to write, oldest first; bounded by pending_max */
	size_t pending_max;
	int resync; /* the pending set overflowed: rewrite the table from memory */
	int sweep;  /* after the rewrite's batches: delete the rows memory does not hold */
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
cache_state_pending_clear(struct cache_state *cs)
{
	struct lru_node *n;

	while ((n = lru_pop_oldest(cs->pending)) != NULL)
		free(CS_NODE(n));
}

static void
cache_state_add(struct cache_state *cs, const char *dom)
{
	size_t len = strlen(dom);
	struct cache_state_node *n;

	if (len == 0 || lru_find(cs->pending, dom, len) != NULL)
		return;
	n = xcalloc(1, sizeof(*n) + len + 1);
	memcpy(n->dom, dom, len + 1);
	(void)lru_insert(cs->pending, &n->node, n->dom, len); /* absent: cannot fail */
}

/* dom changed in memory: write it at the next flush. */
static void
cache_state_mark(struct cache_state *cs, const char *dom)
{
	if (cs->resync)
		return; /* the rewrite from memory covers it */
	if (lru_count(cs->pending) >= cs->pending_max &&
	    lru_find(cs->pending, dom, strlen(dom)) == NULL) {
		log_warn("state database %s: more than %zu changed domains waiting to be written, "
		         "rewriting its policies from memory once writes succeed",
		         statedb_path(cs->db), cs->pending_max);
		cache_state_pending_clear(cs);
		cs->resync = 1;
	} else {
		cache_state_add(cs, dom);
	}
	cache_state_arm(cs, CACHE_STATE_FLUSH_MS);
}

static int
cache_state_valid(const struct cache_entry *e, time_t now)
{
	return e != NULL && e->kind == CACHE_POLICY && e->policy != NULL && e->id[0] != '\0' &&
	       e->expires_at > now;
}

/* The memory cache's observer: only changes that involve a policy touch the file. */
static void
cache_state_observe(const char *dom, const struct cache_entry *prev, const struct cache_entry *next,
                    void *arg)
{
	if ((prev != NULL && prev->kind == CACHE_POLICY) ||
	    (next != NULL && next->kind == CACHE_POLICY))
		cache_state_mark(arg, dom);
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

/* Write what memory holds for dom now. */
static int
cache_state_write(struct cache_state *cs, const char *dom, time_t now, uint64_t *puts,
                  uint64_t *deletes)
{
	const struct cache_entry *e = cache_mem_peek(cs->cache, dom);
	struct statedb_policy p;
	char *text;
	int r;

	if (!cache_state_valid(e, now)) {
		(*deletes)++;
		return statedb_policy_delete(cs->db, dom);
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

/* The rows that memory does not hold as a valid policy, collected before deleting. */
struct cache_state_sweep {
	struct cache_state *cs;
	time_t now;
	char **doms;
	size_t n, cap;
};

static int
cache_state_sweep_row(const struct statedb_policy *p, void *arg)
{
	struct cache_state_sweep *sw = arg;

	if (cache_state_valid(cache_mem_peek(sw->cs->cache, p->domain), sw->now))
		return 0;
	if (sw->n == sw->cap) {
		sw->cap = sw->cap != 0 ? sw->cap * 2 : 64;
		sw->doms = xrealloc(sw->doms, sw->cap * sizeof(*sw->doms));
	}
	sw->doms[sw->n++] = xstrdup(p->domain);
	return 0;
}

/* The last step of a rewrite from memory: one transaction deleting the rows of domains
 * that memory does not hold (evicted, expired, replaced by a negative entry while their
 * names were not tracked). Every row memory holds was written before, by the batches, so
 * at no moment does the file hold fewer of memory's policies than it did: a crash during
 * the rewrite loses nothing (an earlier DELETE-all-then-rewrite left only the first
 * batch on disk between two commits). */
static int
cache_state_sweep(struct cache_state *cs, uint64_t *deletes)
{
	struct cache_state_sweep sw = {.cs = cs, .now = loop_wall_s(cs->loop)};
	size_t i;
	int r;

	r = statedb_policy_load(cs->db, 0, cache_state_sweep_row, &sw);
	if (r == 0 && sw.n > 0) {
		r = statedb_begin(cs->db);
		for (i = 0; r == 0 && i < sw.n; i++)
			r = statedb_policy_delete(cs->db, sw.doms[i]);
		if (r == 0)
			r = statedb_commit(cs->db);
		if (r < 0)
			statedb_rollback(cs->db);
		else
			*deletes += sw.n;
	}
	for (i = 0; i < sw.n; i++)
		free(sw.doms[i]);
	free(sw.doms);
	return r;
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
		cache_state_pending_clear(cs);
		cs->resync = 0;
		cs->sweep = 1;
		cs->ctr.resyncs++;
		cache_mem_foreach(cs->cache, SIZE_MAX, cache_state_mark_visit, cs);
	}
	/* the first try waits a moment for another writer (the TLSRPT receiver's threads of
	 * this process hold the lock for milliseconds); a retry does not */
	statedb_busy_wait(cs->db, cs->retry_ms == 0 ? STATEDB_LOOP_BUSY_MS : 0);
	if (lru_count(cs->pending) == 0 && cs->sweep) {
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
	for (n = lru_oldest(cs->pending); n != NULL && done < CACHE_STATE_BATCH_MAX;
	     n = lru_newer(n), done++) {
		r = cache_state_write(cs, CS_NODE(n)->dom, now, &puts, &deletes);
		if (r < 0)
			goto fail;
	}
	r = statedb_commit(cs->db);
	if (r < 0)
		goto fail;
	for (i = 0; i < done; i++)
		free(CS_NODE(lru_pop_oldest(cs->pending)));
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
	if (lru_count(cs->pending) == 0 && !cs->resync && !cs->sweep)
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
	if (lru_count(cs->pending) > 0 || cs->resync || cs->sweep)
		loop_timer_start(loop, &cs->timer, 0, cache_state_timer, cs);
}

int
cache_state_flush(struct cache_state *cs)
{
	int r;

	while (lru_count(cs->pending) > 0 || cs->resync || cs->sweep) {
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

static int
cache_state_load_row(const struct statedb_policy *p, void *arg)
{
	struct cache_state_load *ld = arg;
	struct cache_state *cs = ld->cs;
	struct cache_entry e = {.kind = CACHE_POLICY};
	struct sts_policy *pol = NULL;
	char norm[DOMAIN_BUF];
	time_t max_age;

	if (domain_normalize(p->domain, norm) < 0 || strcmp(norm, p->domain) != 0 ||
	    !cache_state_id_valid(p->id) || p->fetched_at <= 0 ||
	    sts_policy_parse_canonical(p->text, p->text_len, &pol, NULL) < 0) {
		cs->ctr.load_invalid++;
		cache_state_mark(cs, p->domain); /* not in memory: its row is deleted */
		return 0;
	}
	max_age = (time_t)pol->max_age_s;
	e.fetched_at = p->fetched_at;
	e.expires_at = p->expires_at;
	/* Never longer than the policy's own max_age from its fetch, nor from now when the
	 * fetch time lies ahead (a clock set back since, or a bogus row). */
	if (e.fetched_at > ld->now)
		e.fetched_at = ld->now;
	if (e.expires_at > e.fetched_at + max_age)
		e.expires_at = e.fetched_at + max_age;
	if (e.expires_at <= ld->now) {
		sts_policy_free(pol);
		cs->ctr.load_expired++;
		cache_state_mark(cs, p->domain);
		return 0;
	}
	if (e.fetched_at != p->fetched_at || e.expires_at != p->expires_at)
		cache_state_mark(cs, p->domain); /* write the clamped times back */
	(void)snprintf(e.id, sizeof(e.id), "%s", p->id);
	e.policy = pol;
	e.last_check = 0; /* unknown: the first lookup re-checks the TXT id */
	cache_mem_put(cs->cache, p->domain, &e);
	cs->ctr.loaded++;
	return 0;
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
	r = statedb_policy_drop_expired(db, now, &expired);
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
