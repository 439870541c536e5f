/*
 * resolver/cache_mem.h - bounded in-memory cache of cache entries keyed by Policy Domain
 *
 * Two LRUs on common/lru.h (hash table + recency list): one for policies (kind
 * CACHE_POLICY), one for "no policy" and "tempfail" entries; a domain is in at most one of
 * them. get, put and delete are O(1) (amortised for growth). Each LRU has its own bound
 * and evicts only its own least recently used entry, so no number of negative entries can
 * push a policy out (issue 15: a flood of lookups of distinct non-existent names would
 * otherwise evict every policy, and with it the protection of those domains). A policy
 * leaves only when it expires (cache_mem_purge_expired), is replaced or deleted, or when
 * the policy bound itself is full (then the least recently used policy goes).
 *
 * Interface: cache_mem_new/free, cache_mem_get, cache_mem_peek, cache_mem_put,
 *            cache_mem_delete, cache_mem_purge_expired, cache_mem_clear, cache_mem_count,
 *            cache_mem_set_max, cache_mem_max, cache_mem_set_max_negative, cache_mem_sizes,
 *            cache_mem_foreach, cache_mem_foreach_recent, cache_mem_evictions,
 *            cache_mem_set_observer, cache_mem_set_due_fn, cache_mem_due_first,
 *            cache_mem_set_due, cache_mem_entry_size
 * Threads:   main loop only.
 * Ownership: the cache owns its entries and their policies, kept in a compact form (one
 *            allocation per entry, times as 32-bit seconds: CACHE_MEM_TIME_MAX). What get,
 *            peek and due_first return is a struct cache_entry the cache fills from it (a
 *            view, one for each of the three), borrowed until the next call of the same
 *            function or a call that modifies the cache; its policy (mx patterns,
 *            extensions) is borrowed as long. Visitors and the observer get a view for the
 *            call only. Copy what must live longer (sts_policy_dup(), the id).
 * Times:     stored clamped into 0..CACHE_MEM_TIME_MAX (2106-02-07T06:28:15Z): a negative
 *            time reads back as 0, a later one as CACHE_MEM_TIME_MAX, never wrapped, so an
 *            expiry or a due time only becomes earlier. The shared tier's values are bounded
 *            before (cache_entry_bound(): at most a year from now).
 * Errors:    none besides -ENOENT from delete; allocation failure dies (xalloc).
 */
#ifndef MTASTSD_CACHE_MEM_H
#define MTASTSD_CACHE_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"

struct cache_mem;

/* At most max_entries policies and at most max_entries negative entries (either >= 1; 0
 * is treated as 1); cache_mem_set_max_negative() sets the second bound apart. */
struct cache_mem *cache_mem_new(size_t max_entries);
struct cache_mem *cache_mem_free(struct cache_mem *c);

/* Look up dom and mark it most recently used (within its kind). NULL when absent. The view
 * (see Ownership) may be changed in place, its times and last_error only: the change is
 * written to the entry at the next call into the cache (clamped as above). Such changes are
 * not reported to the observer and do not move the entry in the refresh schedule. */
struct cache_entry *cache_mem_get(struct cache_mem *c, const char *dom);
/* Look up without touching recency. Read only. */
const struct cache_entry *cache_mem_peek(const struct cache_mem *c, const char *dom);
/* Insert or replace dom's entry with a copy of e and of e->policy, taking ownership of
 * e->policy (freed here, so the caller must not use or free it afterwards; a view's policy,
 * e.g. a re-put of what peek returned, is copied and not freed). The entry becomes the most
 * recently used of its kind (a policy replaced by a negative entry, or the reverse, moves
 * to the other LRU). When that LRU is full, its least recently used other entry is evicted:
 * a negative entry only ever evicts a negative entry. */
void cache_mem_put(struct cache_mem *c, const char *dom, const struct cache_entry *e);
/* Remove dom's entry. Returns 0 or -ENOENT. */
int cache_mem_delete(struct cache_mem *c, const char *dom);
/* Remove every entry (of both kinds) with expires_at <= now. Returns how many. */
size_t cache_mem_purge_expired(struct cache_mem *c, time_t now);
/* Remove everything. */
void cache_mem_clear(struct cache_mem *c);
/* Entries of both kinds. */
size_t cache_mem_count(const struct cache_mem *c);
/* The policy bound (cfg cache.max_entries). Changing it (reload) evicts least recently
 * used policies down to it. */
size_t cache_mem_max(const struct cache_mem *c);
void cache_mem_set_max(struct cache_mem *c, size_t max_entries);
/* The bound of negative entries (cfg cache.max_negative_entries); the same on a change. */
void cache_mem_set_max_negative(struct cache_mem *c, size_t max_entries);
/* Policies evicted for space since creation. */
uint64_t cache_mem_evictions(const struct cache_mem *c);

/* Each LRU's numbers, indexed by CACHE_MEM_POLICIES / CACHE_MEM_NEGATIVE. */
#define CACHE_MEM_POLICIES 0
#define CACHE_MEM_NEGATIVE 1
struct cache_mem_sizes {
	uint64_t count[2];     /* entries now */
	uint64_t max[2];       /* bound */
	uint64_t evictions[2]; /* evicted for space since creation */
};
void cache_mem_sizes(const struct cache_mem *c, struct cache_mem_sizes *ret);

/* Told of every change to an entry just before it takes effect: a put (prev: the entry it
 * replaces or NULL, next: the entry stored) or a removal by delete, eviction, expiry purge
 * or clear (next NULL). Both are borrowed for the call only; fn must not modify the cache.
 * Changes made in place through cache_mem_get() are not reported. cache_mem_free() reports
 * nothing (the entries are not removed, the process ends or restarts). The state database
 * (cache_state.h) is the observer. */
typedef void cache_mem_observer_fn(const char *dom, const struct cache_entry *prev,
                                   const struct cache_entry *next, void *arg);
/* Set the observer (NULL: none). */
void cache_mem_set_observer(struct cache_mem *c, cache_mem_observer_fn *fn, void *arg);

/* Visit the policies, then the negative entries, each from least to most recently used, at
 * most max entries in all, without changing recency. fn must not modify the cache; return
 * non-zero from fn to stop. */
typedef int cache_mem_visit_fn(const char *dom, const struct cache_entry *e, void *arg);
void cache_mem_foreach(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg);
/* The same, each from the most recently used entry down (policies first). */
void cache_mem_foreach_recent(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn,
                              void *arg);

/* The refresh schedule (issue 16): every policy is in a min-heap keyed by a due time, fn(dom,
 * e, arg) (wall s) computed at each put of a policy; without fn (NULL, the default) the due
 * time is expires_at. Setting fn recomputes every policy's due time (O(n); after a reload).
 * fn must not modify the cache. */
typedef time_t cache_mem_due_fn(const char *dom, const struct cache_entry *e, void *arg);
void cache_mem_set_due_fn(struct cache_mem *c, cache_mem_due_fn *fn, void *arg);
/* The policy with the earliest due time, its name and due time (borrowed like get's); NULL
 * when no policy is cached. O(1). */
const struct cache_entry *cache_mem_due_first(const struct cache_mem *c, const char **ret_dom,
                                              time_t *ret_due);
/* Move dom's policy to due (e.g. after a failed refresh, its retry time), until its next put.
 * Returns 0, or -ENOENT when dom holds no policy. O(log n). */
int cache_mem_set_due(struct cache_mem *c, const char *dom, time_t due);

/* Bytes the cache allocates for dom's entry e (malloc's own header and rounding not
 * counted): tests and bench/cache_fill. */
size_t cache_mem_entry_size(const char *dom, const struct cache_entry *e);

#endif
