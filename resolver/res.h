/*
 * resolver/res.h - the resolver half: socketmap server + policy engine + cache + DNS + fetch
 *
 * Interface: res_new(), res_reload(), res_shutdown(), res_free();
 *            for the admin endpoint res_*_counters(), res_cache_entries(), res_cache_mem(),
 *            res_cache_lookup(), res_cache_purge(), res_cache_visit() (res_admin.c);
 *            one discovery outside the daemon: res_query.h
 * Threads:   main loop only.
 * Ownership: struct res borrows cfg until res_reload() hands it a new one or res_free();
 *            the caller keeps the cfg alive that long.
 * Errors:    res_new() returns 0 or -errno / ERR_* (listen failures are fatal at startup);
 *            runtime DNS/HTTPS/cache errors never reach the caller.
 */
#ifndef MTASTSD_RES_H
#define MTASTSD_RES_H

#include <stddef.h>

#include "cfg.h"
#include "loop.h"

struct res;

/* Bind the socketmap listeners and start serving on loop. */
int res_new(struct loop *loop, const struct cfg *cfg, struct res **ret_res);
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

struct pol_counters;
struct sm_counters;
struct lookup_counters;
struct dane_counters;
/* Counters for the admin endpoint, borrowed until res_free(); NULL when the resolver is
 * disabled (resolver.enabled = false). */
const struct pol_counters *res_engine_counters(const struct res *res);
const struct sm_counters *res_server_counters(const struct res *res);
/* Which source decided each socketmap reply: dane-only, dane, dane-tempfail, sts, none
 * (lookup.h); and the DANE module's own counters (dane.h). NULL when the resolver is
 * disabled. */
const struct lookup_counters *res_lookup_counters(const struct res *res);
const struct dane_counters *res_dane_counters(const struct res *res);
/* Entries in the in-memory policy cache. */
size_t res_cache_entries(const struct res *res);
struct cache_redis_counters;
/* The shared cache tier (cache.backend = "redis"): its counters (borrowed until res_free())
 * and state "connected", "connecting" or "down"; both NULL with the memory backend. */
const struct cache_redis_counters *res_shared_counters(const struct res *res);
const char *res_shared_state(const struct res *res);

/* ---- admin endpoint (res_admin.c) ---- */
struct cache_mem;
struct cache_entry;
/* The in-memory cache (borrowed until res_free()); NULL when the resolver is disabled. */
struct cache_mem *res_cache_mem(const struct res *res);
/* What the cache holds for domain (normalised here: case, trailing dot, IDN). Returns the
 * entry, borrowed until the next resolver event; NULL when not cached or when domain is not
 * a valid name. */
const struct cache_entry *res_cache_lookup(const struct res *res, const char *domain);
/* Remove domain's entry, or every entry when domain is NULL. Returns how many entries were
 * removed (0 or 1 for one domain), or ERR_DOMAIN_* for an invalid name. Discoveries in
 * flight are not canceled; they store their result when they finish. */
long res_cache_purge(struct res *res, const char *domain);
/* Visit cache entries (least recently used first, at most max) without changing recency;
 * fn returns non-zero to stop. Nothing happens when the resolver is disabled. */
void res_cache_visit(const struct res *res, size_t max,
                     int (*fn)(const char *dom, const struct cache_entry *e, void *arg), void *arg);

#endif
