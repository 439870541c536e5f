/*
 * resolver/cache_mem.c - bounded in-memory LRU of cache entries keyed by Policy Domain
 *
 * Interface: see cache_mem.h
 * Threads:   main loop only.    Ownership: the cache owns nodes, names and policies.
 * Errors:    none (xalloc dies on OOM).
 *
 * Layout: each node carries its name inline, a hash-chain link and LRU list links. The
 * bucket array doubles when the count exceeds it, so chains stay O(1) on average. The
 * bound (cfg cache.max_entries) caps memory: a put into a full cache evicts the LRU tail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_mem.h"
#include "xalloc.h"

#define CACHE_MEM_MIN_BUCKETS 64

struct cache_node {
	struct cache_node *hnext;       /* hash chain */
	struct cache_node *prev, *next; /* LRU list: head = most recent */
	uint64_t hash;
	struct cache_entry e;
	char dom[]; /* NUL-terminated */
};

struct cache_mem {
	struct cache_node **buckets;
	size_t nbuckets; /* power of two */
	size_t count, max;
	struct cache_node *head, *tail;
	uint64_t evictions;
};

static uint64_t
cache_mem_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

struct cache_mem *
cache_mem_new(size_t max_entries)
{
	struct cache_mem *c = xcalloc(1, sizeof(*c));

	c->max = max_entries > 0 ? max_entries : 1;
	c->nbuckets = CACHE_MEM_MIN_BUCKETS;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	return c;
}

static void
cache_mem_lru_unlink(struct cache_mem *c, struct cache_node *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

static void
cache_mem_lru_push(struct cache_mem *c, struct cache_node *n)
{
	n->prev = NULL;
	n->next = c->head;
	if (c->head != NULL)
		c->head->prev = n;
	c->head = n;
	if (c->tail == NULL)
		c->tail = n;
}

static struct cache_node **
cache_mem_slot(const struct cache_mem *c, const char *dom, uint64_t h)
{
	struct cache_node **pp = &c->buckets[h & (c->nbuckets - 1)];

	while (*pp != NULL && ((*pp)->hash != h || strcmp((*pp)->dom, dom) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static void
cache_mem_remove(struct cache_mem *c, struct cache_node *n)
{
	struct cache_node **pp = cache_mem_slot(c, n->dom, n->hash);

	if (*pp == n)
		*pp = n->hnext;
	cache_mem_lru_unlink(c, n);
	cache_entry_clear(&n->e);
	free(n);
	c->count--;
}

static void
cache_mem_grow(struct cache_mem *c)
{
	size_t nb = c->nbuckets * 2, i;
	struct cache_node **b = xcalloc(nb, sizeof(*b));

	for (i = 0; i < c->nbuckets; i++) {
		struct cache_node *n = c->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
}

void
cache_mem_clear(struct cache_mem *c)
{
	while (c->head != NULL)
		cache_mem_remove(c, c->head);
}

struct cache_mem *
cache_mem_free(struct cache_mem *c)
{
	if (c == NULL)
		return NULL;
	cache_mem_clear(c);
	free(c->buckets);
	free(c);
	return NULL;
}

struct cache_entry *
cache_mem_get(struct cache_mem *c, const char *dom)
{
	struct cache_node *n = *cache_mem_slot(c, dom, cache_mem_hash(dom));

	if (n == NULL)
		return NULL;
	cache_mem_lru_unlink(c, n);
	cache_mem_lru_push(c, n);
	return &n->e;
}

const struct cache_entry *
cache_mem_peek(const struct cache_mem *c, const char *dom)
{
	struct cache_node *n = *cache_mem_slot(c, dom, cache_mem_hash(dom));

	return n != NULL ? &n->e : NULL;
}

void
cache_mem_put(struct cache_mem *c, const char *dom, const struct cache_entry *e)
{
	uint64_t h = cache_mem_hash(dom);
	struct cache_node **pp = cache_mem_slot(c, dom, h), *n = *pp;
	size_t len;

	if (n != NULL) {
		if (n->e.policy != e->policy)
			sts_policy_free(n->e.policy);
		n->e = *e;
		cache_mem_lru_unlink(c, n);
		cache_mem_lru_push(c, n);
		return;
	}
	while (c->count >= c->max && c->tail != NULL) {
		cache_mem_remove(c, c->tail);
		c->evictions++;
	}
	len = strlen(dom);
	n = xcalloc(1, sizeof(*n) + len + 1);
	memcpy(n->dom, dom, len + 1);
	n->hash = h;
	n->e = *e;
	if (c->count + 1 > c->nbuckets)
		cache_mem_grow(c);
	pp = &c->buckets[h & (c->nbuckets - 1)];
	n->hnext = *pp;
	*pp = n;
	cache_mem_lru_push(c, n);
	c->count++;
}

int
cache_mem_delete(struct cache_mem *c, const char *dom)
{
	struct cache_node *n = *cache_mem_slot(c, dom, cache_mem_hash(dom));

	if (n == NULL)
		return -ENOENT;
	cache_mem_remove(c, n);
	return 0;
}

size_t
cache_mem_purge_expired(struct cache_mem *c, time_t now)
{
	struct cache_node *n = c->tail, *prev;
	size_t purged = 0;

	for (; n != NULL; n = prev) {
		prev = n->prev;
		if (n->e.expires_at <= now) {
			cache_mem_remove(c, n);
			purged++;
		}
	}
	return purged;
}

size_t
cache_mem_count(const struct cache_mem *c)
{
	return c->count;
}

size_t
cache_mem_max(const struct cache_mem *c)
{
	return c->max;
}

void
cache_mem_set_max(struct cache_mem *c, size_t max_entries)
{
	c->max = max_entries > 0 ? max_entries : 1;
	while (c->count > c->max && c->tail != NULL) {
		cache_mem_remove(c, c->tail);
		c->evictions++;
	}
}

uint64_t
cache_mem_evictions(const struct cache_mem *c)
{
	return c->evictions;
}

void
cache_mem_foreach(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg)
{
	const struct cache_node *n;
	size_t seen = 0;

	for (n = c->tail; n != NULL && seen < max; n = n->prev, seen++)
		if (fn(n->dom, &n->e, arg) != 0)
			break;
}

void
cache_mem_foreach_recent(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg)
{
	const struct cache_node *n;
	size_t seen = 0;

	for (n = c->head; n != NULL && seen < max; n = n->next, seen++)
		if (fn(n->dom, &n->e, arg) != 0)
			break;
}
