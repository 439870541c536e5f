/*
 * common/lru.h - keyed hash table + recency list, bounded, intrusive
 *
 * The one LRU of the tree: the policy cache (resolver/cache_mem.c), the DANE cache, the
 * verified-chain cache of the fetcher, and the job table of common/coalesce.c.
 *
 * Design:    intrusive. The owner embeds a struct lru_node in its own object, allocates
 *            and frees that object; the LRU only links nodes. The key is the owner's bytes
 *            (a domain, a digest): the node points at them, so they must stay valid and
 *            unchanged while the node is in the LRU (keep them inside the same object).
 *            Chained hash table (keyhash(): SipHash under a per-process key, buckets
 *            double up to LRU_BUCKETS_MAX) plus a doubly linked list from newest (most
 *            recently used) to oldest: find, touch, insert and remove are O(1) on average,
 *            whatever keys a sender chooses.
 * Bound:     max_entries (0 = no bound: only for tables whose owner bounds them, e.g. the
 *            coalesce job table). Inserting into a full LRU evicts the oldest unpinned
 *            nodes and hands each to the owner's evict callback to free. A pinned node
 *            (lru_pin: a job or waiter still uses it) is never evicted, so the count can
 *            exceed the bound by the pinned nodes only; their owner bounds how many it pins.
 * Interface: lru_new/free, lru_find, lru_touch, lru_insert, lru_remove, lru_pop_oldest,
 *            lru_oldest/newest/older/newer, lru_pin/unpin, lru_count, lru_max, lru_set_max,
 *            lru_evictions, lru_chain_max, lru_hash, LRU_ENTRY
 * Threads:   one thread per LRU (no locks).
 * Ownership: the owner owns its nodes (and their keys); the LRU owns only its buckets.
 *            Returned node pointers are borrowed: valid until the owner frees the node.
 * Errors:    lru_insert returns 0, -EEXIST (the key is there) or -EINVAL (node already in
 *            an LRU, no key, or a key over LRU_KEY_MAX); nothing else fails (allocation
 *            dies, xalloc).
 */
#ifndef MTASTSD_LRU_H
#define MTASTSD_LRU_H

#include <stddef.h>
#include <stdint.h>

/* Hash buckets: the first table, and the most it grows to (powers of two). */
#define LRU_BUCKETS_MIN 64
#define LRU_BUCKETS_MAX (1u << 22)
/* Longest key (bytes): the width of lru_node.keylen. Keys are domains (at most 255 bytes)
 * and digests. */
#define LRU_KEY_MAX UINT16_MAX

/* Embed in the owner's object; zero it before lru_insert(). Fields are the LRU's. 40 bytes
 * on LP64 (issue 21: one per cached policy): the hash is not stored, a chain compares
 * length and bytes, and removal or growth hashes the key again. */
struct lru_node {
	struct lru_node *hnext;         /* hash chain */
	struct lru_node *newer, *older; /* recency list */
	const void *key;                /* the owner's bytes, borrowed */
	uint16_t keylen;
	uint8_t linked; /* in an LRU */
	uint32_t pins;  /* > 0: never evicted */
};

/* The owner's object from its node: LRU_ENTRY(n, struct cache_node, node). */
#define LRU_ENTRY(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Called for a node evicted to make room, already removed from the LRU: the owner frees
 * it. It must not call into this LRU. */
typedef void lru_evict_fn(struct lru_node *n, void *arg);

struct lru;

/* An empty LRU holding at most max_entries unpinned nodes (0 = no bound); evict(n, arg)
 * frees what eviction removes (may be NULL only when nothing is ever evicted). */
struct lru *lru_new(size_t max_entries, lru_evict_fn *evict, void *arg);
/* Frees the table. Nodes still in it are forgotten, not freed: empty it first
 * (lru_pop_oldest). Returns NULL; lru_free(NULL) is a no-op. */
struct lru *lru_free(struct lru *l);

/* The node with this key, or NULL. Does not change recency. */
struct lru_node *lru_find(const struct lru *l, const void *key, size_t keylen);
/* Mark n (in l) most recently used. */
void lru_touch(struct lru *l, struct lru_node *n);
/* Add n under key (keylen bytes, at most LRU_KEY_MAX, borrowed, see above) as most recently
 * used. When l is full, evicts the oldest unpinned nodes first (never n). 0, -EEXIST or
 * -EINVAL (also for a key over LRU_KEY_MAX). */
int lru_insert(struct lru *l, struct lru_node *n, const void *key, size_t keylen);
/* Take n out of l (the owner then frees it). No-op when n is not in an LRU. */
void lru_remove(struct lru *l, struct lru_node *n);
/* Remove and return the oldest node, pinned or not (to empty the LRU); NULL when empty. */
struct lru_node *lru_pop_oldest(struct lru *l);

/* Walk the recency list; each NULL at the end. A walk that removes nodes must fetch the
 * next one before removing the current. */
struct lru_node *lru_oldest(const struct lru *l);
struct lru_node *lru_newest(const struct lru *l);
struct lru_node *lru_newer(const struct lru_node *n);
struct lru_node *lru_older(const struct lru_node *n);

/* Pins nest: n is evictable again when every pin is released. */
void lru_pin(struct lru_node *n);
void lru_unpin(struct lru_node *n);

size_t lru_count(const struct lru *l);
size_t lru_max(const struct lru *l);
/* Change the bound (0 = none); evicts the oldest unpinned nodes down to it. */
void lru_set_max(struct lru *l, size_t max_entries);
/* Nodes evicted for room since lru_new(). */
uint64_t lru_evictions(const struct lru *l);

/* The longest bucket chain: what one look-up may walk (tests; O(buckets + nodes)). */
size_t lru_chain_max(const struct lru *l);

/* FNV-1a 64 of len bytes: a value stable across restarts (the policy engine's refresh
 * jitter). NOT the table's hash: its low bits are easy to make collide, so the buckets use
 * keyhash() (keyhash.h, SipHash under a per-process key). The offset basis is the tree's
 * historical 1469598103934665603, not the standard one. */
uint64_t lru_hash(const void *key, size_t len);

#endif
