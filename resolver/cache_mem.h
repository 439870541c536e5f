/*
 * resolver/cache_mem.h - bounded in-memory LRU of cache entries keyed by Policy Domain
 *
 * On common/lru.h (hash table + recency list): get, put and delete are O(1) (amortised
 * for growth). At most max_entries entries; a put beyond that evicts the least recently
 * used entry.
 *
 * Interface: cache_mem_new/free, cache_mem_get, cache_mem_peek, cache_mem_put,
 *            cache_mem_delete, cache_mem_purge_expired, cache_mem_clear, cache_mem_count,
 *            cache_mem_set_max, cache_mem_foreach, cache_mem_foreach_recent,
 *            cache_mem_evictions, cache_mem_set_observer
 * Threads:   main loop only.
 * Ownership: the cache owns its entries and their policies. Pointers returned by get/peek
 *            are borrowed until the next call that modifies the cache.
 * Errors:    none besides -ENOENT from delete; allocation failure dies (xalloc).
 */
#ifndef MTASTSD_CACHE_MEM_H
#define MTASTSD_CACHE_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"

struct cache_mem;

/* max_entries >= 1 (0 is treated as 1). */
struct cache_mem *cache_mem_new(size_t max_entries);
struct cache_mem *cache_mem_free(struct cache_mem *c);

/* Look up dom and mark it most recently used. NULL when absent. */
struct cache_entry *cache_mem_get(struct cache_mem *c, const char *dom);
/* Look up without touching recency. */
const struct cache_entry *cache_mem_peek(const struct cache_mem *c, const char *dom);
/* Insert or replace dom's entry, taking ownership of e->policy (e is copied; the caller must
 * not free e->policy afterwards). The entry becomes most recently used; when the cache is
 * full the least recently used other entry is evicted. */
void cache_mem_put(struct cache_mem *c, const char *dom, const struct cache_entry *e);
/* Remove dom's entry. Returns 0 or -ENOENT. */
int cache_mem_delete(struct cache_mem *c, const char *dom);
/* Remove every entry with expires_at <= now. Returns how many. */
size_t cache_mem_purge_expired(struct cache_mem *c, time_t now);
/* Remove everything. */
void cache_mem_clear(struct cache_mem *c);
size_t cache_mem_count(const struct cache_mem *c);
size_t cache_mem_max(const struct cache_mem *c);
/* Change the bound (reload); evicts least recently used entries down to it. */
void cache_mem_set_max(struct cache_mem *c, size_t max_entries);
/* Entries evicted for space since creation. */
uint64_t cache_mem_evictions(const struct cache_mem *c);

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

/* Visit entries from least to most recently used, at most max of them, without changing
 * recency. fn must not modify the cache; return non-zero from fn to stop. */
typedef int cache_mem_visit_fn(const char *dom, const struct cache_entry *e, void *arg);
void cache_mem_foreach(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg);
/* The same, from the most recently used entry down. */
void cache_mem_foreach_recent(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn,
                              void *arg);

#endif
