/*
 * resolver/res.c - the resolver half: wiring of cache, policy engine (DNS + fetch) and the
 *                  socketmap server; lifecycle
 *
 * Interface: res_fd_fixed(), res_new(), res_set_statedb(), res_reload(), res_shutdown(),
 *            res_free(), res_enabled(), res_stats_add(), res_engine_counters(),
 *            res_cache_entries(), res_shared_state()
 * Threads:   main loop only.
 * Ownership: struct res owns the caches (memory, and
 * the shared Valkey/Redis tier when cache.backend = "redis"), the state database writer
 * (cache_state.h, borrowing the daemon's handle), the engine (which owns the DNS client and the
 *            fetcher) and the server; it borrows the cfg.
 * Errors:    startup errors (listen, DNS client, fetcher) are returned to the caller, having
 *            been logged; runtime errors stay inside the engine and the server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_mem.h"
#include "cache_redis.h"
#include "cache_state.h"
#include "dane.h"
#include "log.h"
#include "lookup.h"
#include "pol_engine.h"
#include "res.h"
#include "sm_server.h"
#include "stats.h"
#include "xalloc.h"

struct res {
	struct loop *loop;
	const struct cfg *cfg;
	struct cache_mem *cache;
	struct cache_redis *shared; /* NULL unless cache.backend = "redis" */
	struct cache_state *state;  /* NULL: no state database (res_set_statedb()) */
	struct pol_engine *engine;
	struct dane *dane; /* DANE first (docs/dane.md), its own cache */
	struct sm_server *srv;
	/* res_shutdown() */
	struct loop_timer shut_timer;
	uint64_t shut_deadline_ms;
	int shut_canceled; /* the deadline passed: waiting lookups were answered TEMP */
	void (*shut_done)(void *arg);
	void *shut_arg;
};

/* The DANE module (its own DNS client and cache), attached to the socketmap server. */
static int
res_dane_new(struct res *res)
{
	struct dane_opts o = dane_opts_default();
	struct lookup_dane ld;
	int r;

	o.max_entries = res->cfg->cache.max_entries;
	/* the engine's servers: resolver.dns_servers or /etc/resolv.conf read once */
	r = dane_new_like(res->loop, &res->cfg->resolver, &o, pol_engine_dns(res->engine),
	                  &res->dane);
	if (r < 0)
		return r;
	ld = lookup_dane_of(res->dane);
	sm_server_set_dane(res->srv, &ld);
	return 0;
}

unsigned
res_fd_fixed(const struct cfg *cfg)
{
	if (!cfg->resolver.enabled)
		return 0;
	return (unsigned)cfg->resolver.n_listen + (cfg->cache.backend == CFG_CACHE_REDIS ? 2 : 0);
}

int
res_new(struct loop *loop, const struct cfg *cfg, struct res **ret_res)
{
	return res_new_on(loop, NULL, cfg, ret_res);
}

int
res_new_on(struct loop *loop, struct curlm *curlm, const struct cfg *cfg, struct res **ret_res)
{
	struct res *res = xcalloc(1, sizeof(*res));
	int r;

	res->loop = loop;
	res->cfg = cfg;
	if (!cfg->resolver.enabled) {
		log_info("resolver: disabled (resolver.enabled = false)");
		*ret_res = res;
		return 0;
	}
	res->cache = cache_mem_new(cfg->cache.max_entries);
	cache_mem_set_max_negative(res->cache, cfg->cache.max_negative_entries);
	r = pol_engine_new_on(loop, curlm, &cfg->resolver, res->cache, &res->engine);
	if (r < 0)
		goto fail;
	if (cfg->cache.backend == CFG_CACHE_REDIS) {
		r = cache_redis_new(loop, &cfg->cache, &res->shared);
		if (r < 0)
			goto fail;
		pol_engine_set_shared(res->engine, res->shared);
	}
	r = sm_server_new(loop, &cfg->resolver, res->engine, &res->srv);
	if (r < 0)
		goto fail;
	r = res_dane_new(res);
	if (r < 0)
		goto fail;
	*ret_res = res;
	return 0;
fail:
	res_free(res);
	return r;
}

/* The engine's miss path: a policy evicted from memory, read back from the state database. */
static int
res_state_read(const char *domain, time_t now, void *arg)
{
	return cache_state_lookup(arg, domain, now);
}

int
res_set_statedb(struct res *res, struct statedb *db)
{
	if (res->cache == NULL || res->state != NULL)
		return -EINVAL;
	int r = cache_state_new(res->loop, db, res->cache, res->cfg->cache.max_entries,
	                        loop_wall_s(res->loop), &res->state);

	if (r == 0 && res->engine != NULL)
		pol_engine_set_store(res->engine, res_state_read, res->state);
	return r;
}

int
res_reload(struct res *res, const struct cfg *cfg)
{
	int r;

	if (res->engine == NULL) {
		if (cfg->resolver.enabled)
			log_notice(
			        "resolver: resolver.enabled changed: requires restart, ignoring");
		res->cfg = cfg;
		return 0;
	}
	r = pol_engine_reload(res->engine, &cfg->resolver);
	if (r < 0)
		return r;
	if (dane_reload_like(res->dane, &cfg->resolver, pol_engine_dns(res->engine)) < 0)
		log_warn("resolver: DANE keeps its old DNS client (the new one cannot be built)");
	sm_server_reload(res->srv, &cfg->resolver);
	if (cfg->cache.max_entries != cache_mem_max(res->cache))
		cache_mem_set_max(res->cache, cfg->cache.max_entries);
	cache_mem_set_max_negative(res->cache, cfg->cache.max_negative_entries);
	if (cfg->cache.backend != res->cfg->cache.backend)
		log_notice("resolver: cache.backend changed: requires restart, ignoring");
	res->cfg = cfg;
	return 0;
}

static void
res_shutdown_check(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct res *res = arg;
	size_t busy = res->srv != NULL ? sm_server_busy(res->srv) : 0;
	void (*done)(void *) = res->shut_done;

	if (busy > 0 && loop_now_ms(loop) < res->shut_deadline_ms) {
		loop_timer_start(loop, &res->shut_timer, RES_SHUTDOWN_POLL_MS, res_shutdown_check,
		                 res);
		return;
	}
	if (busy > 0 && !res->shut_canceled) {
		/* docs/socketmap.md: a lookup cut off by shutdown is answered TEMP, so that
		 * Postfix defers instead of seeing the connection drop. */
		log_notice("resolver: shutdown timeout, answering %zu connections still waiting "
		           "for an answer TEMP \"%s\"",
		           busy, LOOKUP_CANCELED);
		res->shut_canceled = 1;
		sm_server_cancel(res->srv);
		busy = sm_server_busy(res->srv);
		if (busy > 0) {
			/* Replies a slow reader has not taken yet: a bounded wait for them. */
			res->shut_deadline_ms = loop_now_ms(loop) + RES_SHUTDOWN_FLUSH_MS;
			loop_timer_start(loop, &res->shut_timer, RES_SHUTDOWN_POLL_MS,
			                 res_shutdown_check, res);
			return;
		}
	}
	if (busy > 0)
		log_notice("resolver: %zu connections did not read their replies within %d ms, "
		           "closing them",
		           busy, RES_SHUTDOWN_FLUSH_MS);
	res->shut_done = NULL;
	if (done != NULL)
		done(res->shut_arg);
}

void
res_shutdown(struct res *res, uint64_t timeout_ms, void (*done)(void *arg), void *arg)
{
	if (res->srv != NULL)
		sm_server_stop_accepting(res->srv);
	res->shut_done = done;
	res->shut_arg = arg;
	res->shut_canceled = 0;
	res->shut_deadline_ms = loop_now_ms(res->loop) + timeout_ms;
	loop_timer_start(res->loop, &res->shut_timer, 0, res_shutdown_check, res);
}

struct res *
res_free(struct res *res)
{
	if (res == NULL)
		return NULL;
	loop_timer_stop(res->loop, &res->shut_timer);
	res->srv = sm_server_free(res->srv);
	res->dane = dane_free(res->dane);
	if (res->engine != NULL)
		pol_engine_set_store(res->engine, NULL, NULL);
	res->engine = pol_engine_free(res->engine);
	res->shared = cache_redis_free(res->shared);
	res->state = cache_state_free(res->state); /* writes what is pending */
	res->cache = cache_mem_free(res->cache);
	free(res);
	return NULL;
}

int
res_enabled(const struct res *res)
{
	return res != NULL && res->engine != NULL;
}

const struct pol_counters *
res_engine_counters(const struct res *res)
{
	return res->engine != NULL ? pol_engine_counters(res->engine) : NULL;
}

size_t
res_cache_entries(const struct res *res)
{
	return res->cache != NULL ? cache_mem_count(res->cache) : 0;
}

struct cache_mem *
res_cache_mem(const struct res *res)
{
	return res->cache;
}

struct cache_state *
res_cache_state(const struct res *res)
{
	return res->state;
}

const char *
res_shared_state(const struct res *res)
{
	return res->shared != NULL ? cache_redis_state_name(cache_redis_state(res->shared)) : NULL;
}

/* ---- metrics ---- */

static uint64_t
res_stats_entries(const void *obj)
{
	return res_cache_entries(obj);
}

static uint64_t
res_stats_max_entries(const void *obj)
{
	return ((const struct res *)obj)->cfg->cache.max_entries;
}

/* The in-memory cache by kind: negative entries, evictions of each kind. */
static uint64_t
res_stats_negative(const void *obj)
{
	const struct res *res = obj;
	struct cache_mem_sizes z;

	if (res->cache == NULL)
		return 0;
	cache_mem_sizes(res->cache, &z);
	return z.count[CACHE_MEM_NEGATIVE];
}

static void
res_stats_evictions(const void *obj, struct stats_emit *e)
{
	const struct res *res = obj;
	struct cache_mem_sizes z;

	if (res->cache == NULL)
		return;
	cache_mem_sizes(res->cache, &z);
	stats_emit(e, "policy", NULL, z.evictions[CACHE_MEM_POLICIES]);
	stats_emit(e, "negative", NULL, z.evictions[CACHE_MEM_NEGATIVE]);
}

static uint64_t
res_stats_shared(const void *obj)
{
	return ((const struct res *)obj)->shared != NULL;
}

static const struct stats_metric res_stats[] = {
        {"mtastsd_cache_entries", STATS_GAUGE, "Entries in the in-memory policy cache.",
         .json = "cache.entries", .get = res_stats_entries},
        {"mtastsd_cache_max_entries", STATS_GAUGE,
         "Bound of the policies in the in-memory cache (cache.max_entries).",
         .json = "cache.max_entries", .get = res_stats_max_entries},
        {"mtastsd_cache_negative_entries", STATS_GAUGE,
         "No-policy and tempfail entries in the in-memory cache (included in "
         "mtastsd_cache_entries; bound cache.max_negative_entries).",
         .json = "cache.negative_entries", .get = res_stats_negative},
        {"mtastsd_cache_evictions_total", STATS_COUNTER,
         "Entries evicted from the in-memory cache for room, by kind (a negative entry only "
         "ever evicts a negative entry).",
         .json = "cache.evictions", .label = "kind", .each = res_stats_evictions},
        {"mtastsd_valkey_enabled", STATS_GAUGE,
         "1 when the shared Valkey/Redis cache tier is configured (cache.backend).",
         .get = res_stats_shared},
};

void
res_stats_add(const struct res *res, struct stats *st)
{
	if (!res_enabled(res))
		return;
	sm_server_stats_add(res->srv, st);
	pol_engine_stats_add(res->engine, st);
	lookup_stats_add(sm_server_lookup_counters(res->srv), st);
	dane_stats_add(res->dane, st);
	stats_add(st, res_stats, STATS_COUNT(res_stats), res);
	cache_state_stats_add(res->state, st);
	if (res->shared != NULL)
		cache_redis_stats_add(res->shared, st);
}
