/*
 * resolver/res.h - the resolver half: socketmap server + policy engine + cache + DNS + fetch
 *
 * Interface: res_fd_fixed(), res_new(), res_new_on(), res_set_statedb(), res_reload(),
 *            res_shutdown(), res_free(); for the admin endpoint res_enabled(),
 *            res_stats_add(), res_engine_counters(), res_cache_entries(), res_shared_state(),
 *            res_cache_mem(), res_cache_lookup(), res_cache_purge(), res_cache_failures()
 *            (res_admin.c); one discovery outside the daemon: res_query.h
 * Threads:   main loop only.
 * Ownership: struct res borrows cfg until res_reload() hands it a new one or res_free();
 *            the caller keeps the cfg alive that long.
 * Errors:    res_new() returns 0 or -errno / ERR_* (listen failures are fatal at startup);
 *            runtime DNS/HTTPS/cache errors never reach the caller.
 */
#ifndef MTASTSD_RES_H
#define MTASTSD_RES_H

#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "domain.h"
#include "loop.h"

struct res;

/* The descriptors a resolver started with cfg holds whatever its load, for the daemon's
 * descriptor budget (common/fd_budget.h): its listening sockets and the Valkey/Redis
 * connection (and one to a sentinel); 0 when resolver.enabled is false. The socketmap's
 * connections, the fetches and the DNS queries are budgeted apart. */
unsigned res_fd_fixed(const struct cfg *cfg);
/* Bind the socketmap listeners and start serving on loop. */
int res_new(struct loop *loop, const struct cfg *cfg, struct res **ret_res);
struct curlm;
/* res_new() whose policy fetches run on the libcurl multi curlm (common/curlm.h; borrowed,
 * it must outlive res; the daemon's threaded multi, curlm_new_threaded()). */
int res_new_on(struct loop *loop, struct curlm *curlm, const struct cfg *cfg, struct res **ret_res);
struct statedb;
/* Keep the policy cache in the state database db (borrowed until res_free(), which writes
 * what is pending): load its live policies into memory now, then write every change
 * (resolver/cache_state.h, docs/cache.md "State database"). Call before the loop runs, so
 * the socketmap's first lookup already sees them. Returns 0; -EINVAL when the resolver is
 * disabled or a database is already set; or the load's ERR_STATEDB_* (logged), after
 * which the resolver runs memory-only. */
int res_set_statedb(struct res *res, struct statedb *db);
/* Apply a new config (zones, timeouts, cache timing, DNS servers, fetch settings);
 * listeners that changed are logged as "requires restart". Returns 0, after which the old
 * cfg may be freed; or the error of rebuilding the DNS client / HTTPS fetcher from the new
 * cfg (logged), in which case nothing changed and the old cfg must stay alive. */
int res_reload(struct res *res, const struct cfg *cfg);
/* After the shutdown timeout, replies not yet taken by a slow reader get at most this long
 * to be written before their connections close (ms). */
#define RES_SHUTDOWN_FLUSH_MS 1000

/* Stop accepting; call done(arg) once every in-flight lookup has been answered. When
 * timeout_ms passes first, every lookup still waiting (and every request queued behind it)
 * is answered TEMP "lookup canceled, server shutting down" (sm_server_cancel()); done(arg)
 * runs once those replies are written, or RES_SHUTDOWN_FLUSH_MS later at most. */
void res_shutdown(struct res *res, uint64_t timeout_ms, void (*done)(void *arg), void *arg);
struct res *res_free(struct res *res);

/* 1 when the resolver runs (res not NULL and resolver.enabled). */
int res_enabled(const struct res *res);
struct stats;
/* Register every resolver metric in st, in this order: socketmap server, policy engine,
 * lookup decisions, DANE, the caches (entries, bound, Valkey tier configured), the state
 * database (cache_state.h; zeros without one) and, with
 * cache.backend = "redis", the Valkey/Redis tier. JSON paths are relative to the
 * resolver's object in /status. Nothing when the resolver is disabled. st borrows res and
 * its parts until it is cleared or freed (before res_free()). */
void res_stats_add(const struct res *res, struct stats *st);
struct pol_counters;
/* The policy engine's counters, borrowed until res_free(); NULL when the resolver is
 * disabled (for the daemon's status line). */
const struct pol_counters *res_engine_counters(const struct res *res);
/* Entries in the in-memory policy cache. */
size_t res_cache_entries(const struct res *res);
/* The shared cache tier (cache.backend = "redis"): state "connected", "connecting" or
 * "down" (static strings); NULL with the memory backend. */
const char *res_shared_state(const struct res *res);

/* ---- admin endpoint (res_admin.c) ---- */
struct cache_mem;
/* The in-memory cache (borrowed until res_free()); NULL when the resolver is disabled. */
struct cache_mem *res_cache_mem(const struct res *res);
struct cache_state;
/* The state database tier (borrowed until res_free()); NULL when there is none. */
struct cache_state *res_cache_state(const struct res *res);

/* One cache entry as the admin endpoint shows it. */
struct res_cache_info {
	const char *state;               /* "policy", "no-policy", "tempfail" (static) */
	const char *id;                  /* policy id from the TXT record, "" when unknown */
	time_t fetched_at;               /* wall clock of the last successful fetch, 0: never */
	time_t expires_at;               /* end of the policy's max_age or of the negative TTL */
	time_t last_check;               /* wall clock of the last TXT id check, 0: never */
	time_t retry_after;              /* no background work before this, 0: any time */
	int last_error;                  /* ERR_* of the last failure, 0: none */
	const struct sts_policy *policy; /* the cached policy (state "policy"), else NULL */
};
/* What the cache holds for domain (normalised here: case, trailing dot, IDN). Returns 0
 * and *ret, whose strings and policy are borrowed until the next resolver event; or
 * -ENOENT when it is not cached, the name is not valid or the resolver is disabled. */
int res_cache_lookup(const struct res *res, const char *domain, struct res_cache_info *ret);
/* Remove domain's entry, or every entry when domain is NULL. Returns how many entries were
 * removed (0 or 1 for one domain), or ERR_DOMAIN_* for an invalid name. Discoveries in
 * flight are not canceled; they store their result when they finish. */
long res_cache_purge(struct res *res, const char *domain);

/* A recent failure found in the cache. */
struct res_failure {
	char domain[DOMAIN_BUF];
	const char *state; /* the entry's kind, as res_cache_info.state */
	int err;           /* ERR_* of the last failure */
	time_t at;         /* wall clock of the last check */
};
/* The newest failures in the cache, newest first: at most max of them written to out,
 * after looking at no more than scan entries (least recently used first). A domain without
 * any MTA-STS record (NXDOMAIN, no data, no STSv1 TXT) is the normal case, not a failure.
 * Returns how many were written; 0 when the resolver is disabled. */
size_t res_cache_failures(const struct res *res, size_t scan, struct res_failure *out, size_t max);

#endif
