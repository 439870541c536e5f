/*
 * resolver/cache_state.h - the policy cache kept in the state database across restarts
 *
 * RFC 8461 section 10.2: a sender that knows a domain's policy keeps applying it until it
 * expires, so an attacker who blocks the domain's _mta-sts TXT record or its HTTPS fetch
 * gains nothing. An in-memory cache forgets every policy at a restart, a crash, a watchdog
 * kill or an upgrade, and until each domain is fetched again that attacker turns it into
 * "no policy". This module writes every policy of the memory cache (resolver/cache_mem.c)
 * to the state database (common/statedb.h, table sts_policy) and loads the live ones
 * back at start, before the socketmap serves (docs/cache.md "State database").
 *
 * What is kept: kind "policy" entries only (any mode), as the canonical text with id,
 * fetched_at and expires_at. "no-policy" and "tempfail" entries are not kept: they live
 * seconds to minutes, and after a restart an empty cache answers the same as they do
 * (NOTFOUND, then a new discovery); keeping them would only let a spoofed "no policy"
 * outlive the process. Loaded policies get last_check 0, so the first lookup re-checks
 * the TXT id in the background (the domain may have changed it meanwhile).
 *
 * Writes are off the lookup path: the memory cache's observer only adds the domain to a
 * pending set (no SQL, no serialising); a timer CACHE_STATE_FLUSH_MS later writes what
 * memory holds for each pending domain then (a valid policy: insert or replace; a valid
 * policy that left memory since: that one; anything else: delete the row once expired), at most
 * CACHE_STATE_BATCH_MAX domains per transaction. A write that fails (disk full, locked, I/O error)
 * is logged once, rolled back and retried with backoff; the pending set is bounded (beyond it the
 * table is rewritten from memory once the database works again: every policy memory holds is
 * written, in batches, and only then are the expired rows deleted, so no moment of the rewrite has
 * fewer of them on disk than before). Memory is always what answers; the file only refills it.
 *
 * Evicted is not forgotten: a valid policy that memory evicts for space (cache.max_entries)
 * keeps its row until it expires, and a lookup that misses in memory reads it back
 * (cache_state_lookup(), before the shared tier and any fetch): filling memory with other
 * domains' policies does not end a policy early. Rows go when they expire, when the
 * operator purges them, or, beyond CACHE_STATE_ROWS_FACTOR x cache.max_entries rows,
 * those expiring first (logged, counted as trimmed). A negative entry never deletes a
 * valid policy's row.
 *
 * Interface: cache_state_new(), cache_state_free(), cache_state_flush(), cache_state_step(),
 *            cache_state_lookup(), cache_state_forget(),
 *            cache_state_pending(), cache_state_counters(), cache_state_stats_add()
 * Threads:   main loop only.
 * Ownership: borrows the loop, the database handle and the memory cache (all must outlive
 *            it); sets itself as the memory cache's observer until freed.
 * Errors:    cache_state_new() returns the database error when loading fails (the caller
 *            then runs without it); write errors never leave the module. Logs its own
 *            outcomes: the load summary, the first write failure and the recovery.
 */
#ifndef MTASTSD_CACHE_STATE_H
#define MTASTSD_CACHE_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache_mem.h"
#include "loop.h"

struct cache_state;
struct statedb;
struct stats;

/* Monotonic since start. */
struct cache_state_counters {
	uint64_t loaded;       /* policies loaded into memory at start */
	uint64_t load_expired; /* rows past their expiry, dropped at load */
	uint64_t load_invalid; /* rows that failed the checks (domain, id, policy text), removed */
	uint64_t puts;         /* rows written (insert or replace) */
	uint64_t deletes;      /* rows removed */
	uint64_t commits;      /* transactions committed */
	uint64_t errors;       /* transactions that failed (retried) */
	uint64_t resyncs;      /* full rewrites after the pending set overflowed */
	uint64_t read_hits;    /* memory misses answered from a valid row (put back) */
	uint64_t read_misses;  /* memory misses with no valid row */
	uint64_t read_errors;  /* memory misses whose read failed */
	uint64_t trimmed;      /* valid rows deleted for the table's bound */
};

/* Load the live policies of db into cache (at most max_load, the most recently fetched;
 * rows with expires_at <= now are deleted first; the rest are checked like a cached value:
 * normalised domain, id, canonical text parsed again, expiry clamped to fetched_at +
 * max_age), then observe cache and keep db up to date. Returns 0 and *ret_cs, or the
 * ERR_STATEDB_* of the load (logged; nothing observed, the cache keeps what was loaded). */
int cache_state_new(struct loop *loop, struct statedb *db, struct cache_mem *cache, size_t max_load,
                    time_t now, struct cache_state **ret_cs);
/* Write what is pending (every batch, at once: shutdown), stop observing. Returns NULL. */
struct cache_state *cache_state_free(struct cache_state *cs);
/* Write every pending change now, in batches, until none is left or a write fails.
 * Returns 0 or the ERR_STATEDB_* of the failure (then retried by the timer as usual). */
int cache_state_flush(struct cache_state *cs);
/* One transaction of what cache_state_flush() does (what the timer runs per dispatch): a
 * batch of pending names, or the rewrite's final sweep. 0 (also when nothing is pending)
 * or the ERR_STATEDB_* of the failure; unlike the timer, no backoff or log. */
int cache_state_step(struct cache_state *cs);
/* A lookup missed in memory (no entry, or an expired one): read dom's row (one indexed
 * SELECT) and, when it holds a valid policy (checked as at load), put it into cache with
 * last_check 0 (the lookup re-checks the TXT id, as for a policy loaded at start). Returns
 * 1 when put, 0 when there is no valid row (an invalid or expired one is deleted later),
 * or the ERR_STATEDB_* of the read (logged at debug; the lookup goes on as a miss).
 * Counted in read_hits / read_misses / read_errors. RFC 8461 section 5.1. */
int cache_state_lookup(struct cache_state *cs, const char *dom, time_t now);
/* The operator purged dom from the memory cache (NULL: the whole cache): delete its row
 * (every row) at the next flush. cs may be NULL (no-op). */
void cache_state_forget(struct cache_state *cs, const char *dom);
/* Domains waiting to be written. */
size_t cache_state_pending(const struct cache_state *cs);
const struct cache_state_counters *cache_state_counters(const struct cache_state *cs);
/* Register the metrics (JSON under "cache.state"); cs may be NULL (no state database:
 * every value 0). st borrows cs until cleared or freed. */
void cache_state_stats_add(const struct cache_state *cs, struct stats *st);

#endif
