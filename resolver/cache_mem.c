/*
 * resolver/cache_mem.c - bounded in-memory LRU of cache entries keyed by Policy Domain
 *
 * Interface: see cache_mem.h
 * Threads:   main loop only.    Ownership: the cache owns nodes, names and policies.
 * Errors:    none (xalloc dies on OOM).
 *
 * Layout: each node carries its name inline and a common/lru.h node (hash chain and
 * recency links). The bound (cfg cache.max_entries) caps memory: a put into a full cache
 * evicts the least recently used entry (lru.h calls cache_mem_evict()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_mem.h"
#include "lru.h"
#include "xalloc.h"

struct cache_node {
	struct lru_node node;
	struct cache_entry e;
	char dom[]; /* NUL-terminated; the LRU key */
};

struct cache_mem {
	struct lru *lru;
	cache_mem_observer_fn *observer; /* cache_mem_set_observer() */
	void *observer_arg;
};

#define CACHE_NODE(n) LRU_ENTRY(n, struct cache_node, node)

static void
cache_mem_node_free(struct cache_node *n)
{
	cache_entry_clear(&n->e);
	free(n);
}

static void
cache_mem_notify(struct cache_mem *c, const char *dom, const struct cache_entry *prev,
                 const struct cache_entry *next)
{
	if (c->observer != NULL)
		c->observer(dom, prev, next, c->observer_arg);
}

/* Remove n (already out of the LRU), telling the observer. */
static void
cache_mem_node_drop(struct cache_mem *c, struct cache_node *n)
{
	cache_mem_notify(c, n->dom, &n->e, NULL);
	cache_mem_node_free(n);
}

static void
cache_mem_evict(struct lru_node *n, void *arg)
{
	cache_mem_node_drop(arg, CACHE_NODE(n));
}

struct cache_mem *
cache_mem_new(size_t max_entries)
{
	struct cache_mem *c = xcalloc(1, sizeof(*c));

	c->lru = lru_new(max_entries > 0 ? max_entries : 1, cache_mem_evict, c);
	return c;
}

static struct cache_node *
cache_mem_find(const struct cache_mem *c, const char *dom)
{
	struct lru_node *n = lru_find(c->lru, dom, strlen(dom));

	return n != NULL ? CACHE_NODE(n) : NULL;
}

void
cache_mem_clear(struct cache_mem *c)
{
	struct lru_node *n;

	while ((n = lru_pop_oldest(c->lru)) != NULL)
		cache_mem_node_drop(c, CACHE_NODE(n));
}

struct cache_mem *
cache_mem_free(struct cache_mem *c)
{
	if (c == NULL)
		return NULL;
	c->observer = NULL;
	cache_mem_clear(c);
	lru_free(c->lru);
	free(c);
	return NULL;
}

struct cache_entry *
cache_mem_get(struct cache_mem *c, const char *dom)
{
	struct cache_node *n = cache_mem_find(c, dom);

	if (n == NULL)
		return NULL;
	lru_touch(c->lru, &n->node);
	return &n->e;
}

const struct cache_entry *
cache_mem_peek(const struct cache_mem *c, const char *dom)
{
	struct cache_node *n = cache_mem_find(c, dom);

	return n != NULL ? &n->e : NULL;
}

void
cache_mem_put(struct cache_mem *c, const char *dom, const struct cache_entry *e)
{
	struct cache_node *n = cache_mem_find(c, dom);
	size_t len;

	cache_mem_notify(c, dom, n != NULL ? &n->e : NULL, e);
	if (n != NULL) {
		if (n->e.policy != e->policy)
			sts_policy_free(n->e.policy);
		n->e = *e;
		lru_touch(c->lru, &n->node);
		return;
	}
	len = strlen(dom);
	n = xcalloc(1, sizeof(*n) + len + 1);
	memcpy(n->dom, dom, len + 1);
	n->e = *e;
	(void)lru_insert(c->lru, &n->node, n->dom, len); /* absent: cannot fail */
}

int
cache_mem_delete(struct cache_mem *c, const char *dom)
{
	struct cache_node *n = cache_mem_find(c, dom);

	if (n == NULL)
		return -ENOENT;
	lru_remove(c->lru, &n->node);
	cache_mem_node_drop(c, n);
	return 0;
}

size_t
cache_mem_purge_expired(struct cache_mem *c, time_t now)
{
	struct lru_node *n = lru_oldest(c->lru), *newer;
	size_t purged = 0;

	for (; n != NULL; n = newer) {
		newer = lru_newer(n);
		if (CACHE_NODE(n)->e.expires_at <= now) {
			lru_remove(c->lru, n);
			cache_mem_node_drop(c, CACHE_NODE(n));
			purged++;
		}
	}
	return purged;
}

size_t
cache_mem_count(const struct cache_mem *c)
{
	return lru_count(c->lru);
}

size_t
cache_mem_max(const struct cache_mem *c)
{
	return lru_max(c->lru);
}

void
cache_mem_set_max(struct cache_mem *c, size_t max_entries)
{
	lru_set_max(c->lru, max_entries > 0 ? max_entries : 1);
}

void
cache_mem_set_observer(struct cache_mem *c, cache_mem_observer_fn *fn, void *arg)
{
	c->observer = fn;
	c->observer_arg = arg;
}

uint64_t
cache_mem_evictions(const struct cache_mem *c)
{
	return lru_evictions(c->lru);
}

void
cache_mem_foreach(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg)
{
	const struct lru_node *n;
	size_t seen = 0;

	for (n = lru_oldest(c->lru); n != NULL && seen < max; n = lru_newer(n), seen++)
		if (fn(CACHE_NODE(n)->dom, &CACHE_NODE(n)->e, arg) != 0)
			break;
}

void
cache_mem_foreach_recent(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg)
{
	const struct lru_node *n;
	size_t seen = 0;

	for (n = lru_newest(c->lru); n != NULL && seen < max; n = lru_older(n), seen++)
		if (fn(CACHE_NODE(n)->dom, &CACHE_NODE(n)->e, arg) != 0)
			break;
}
