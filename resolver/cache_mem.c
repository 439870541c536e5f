/*
 * resolver/cache_mem.c - bounded in-memory cache of cache entries keyed by Policy Domain
 *
 * Interface: see cache_mem.h
 * Threads:   main loop only.    Ownership: the cache owns nodes, names and policies.
 * Errors:    none (xalloc dies on OOM).
 *
 * Layout: each node carries its name inline and a common/lru.h node (hash chain and
 * recency links), linked in one of two LRUs by the entry's kind: CM_POLICY (bound
 * cache.max_entries) or CM_NEGATIVE (no-policy and tempfail, bound
 * cache.max_negative_entries). A put into a full LRU evicts that LRU's least recently used
 * entry (lru.h calls cache_mem_evict()); the other LRU is never touched, which is what keeps
 * a flood of negative entries from evicting policies (docs/cache.md).
 * The policies are also in a binary min-heap keyed by their due time (issue 16: the
 * refresh schedule reaches every cached policy whatever the cache size); each node keeps
 * its heap index, so a put, a re-key or a removal is O(log n).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_mem.h"
#include "lru.h"
#include "xalloc.h"

enum cm_class {
	CM_POLICY = CACHE_MEM_POLICIES,
	CM_NEGATIVE = CACHE_MEM_NEGATIVE,
};
#define CM_CLASSES 2

/* Allocated as offsetof(dom) + the name (not sizeof, which pads): 40 + 96 + 12 bytes
 * before the name on LP64. */
struct cache_node {
	struct lru_node node;
	struct cache_entry e;
	time_t due;      /* policies: the refresh schedule's key */
	uint32_t heap_i; /* policies: index in c->heap + 1; 0 = not in the heap (the heap
	                  * holds at most cache.max_entries policies, far below 2^32) */
	char dom[];      /* NUL-terminated; the LRU key */
};

struct cache_mem {
	struct lru *lru[CM_CLASSES];
	cache_mem_observer_fn *observer; /* cache_mem_set_observer() */
	void *observer_arg;
	cache_mem_due_fn *due_fn; /* cache_mem_set_due_fn(); NULL: expires_at */
	void *due_arg;
	struct cache_node **heap; /* the policies, min-heap on due */
	size_t heap_n, heap_cap;
};

#define CACHE_NODE(n) LRU_ENTRY(n, struct cache_node, node)

static enum cm_class
cache_mem_class(enum cache_kind k)
{
	return k == CACHE_POLICY ? CM_POLICY : CM_NEGATIVE;
}

/* ---- the policies' due-time heap ---- */

static void
cache_mem_heap_set(struct cache_mem *c, size_t i, struct cache_node *n)
{
	c->heap[i] = n;
	n->heap_i = (uint32_t)(i + 1);
}

static void
cache_mem_heap_up(struct cache_mem *c, size_t i)
{
	struct cache_node *n = c->heap[i];

	while (i > 0 && c->heap[(i - 1) / 2]->due > n->due) {
		cache_mem_heap_set(c, i, c->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	cache_mem_heap_set(c, i, n);
}

static void
cache_mem_heap_down(struct cache_mem *c, size_t i)
{
	struct cache_node *n = c->heap[i];
	size_t child;

	while ((child = 2 * i + 1) < c->heap_n) {
		if (child + 1 < c->heap_n && c->heap[child + 1]->due < c->heap[child]->due)
			child++;
		if (c->heap[child]->due >= n->due)
			break;
		cache_mem_heap_set(c, i, c->heap[child]);
		i = child;
	}
	cache_mem_heap_set(c, i, n);
}

/* n's due changed (or n was just placed at its index): restore the heap order. */
static void
cache_mem_heap_fix(struct cache_mem *c, struct cache_node *n)
{
	size_t i = n->heap_i - 1;

	if (i > 0 && c->heap[(i - 1) / 2]->due > n->due)
		cache_mem_heap_up(c, i);
	else
		cache_mem_heap_down(c, i);
}

static time_t
cache_mem_due_of(const struct cache_mem *c, const struct cache_node *n)
{
	return c->due_fn != NULL ? c->due_fn(n->dom, &n->e, c->due_arg) : n->e.expires_at;
}

/* Put policy node n in the heap, or move it there when already in (its due recomputed). */
static void
cache_mem_heap_put(struct cache_mem *c, struct cache_node *n)
{
	n->due = cache_mem_due_of(c, n);
	if (n->heap_i == 0) {
		if (c->heap_n == c->heap_cap) {
			c->heap_cap = c->heap_cap > 0 ? 2 * c->heap_cap : 64;
			c->heap = xrealloc(c->heap, c->heap_cap * sizeof(*c->heap));
		}
		cache_mem_heap_set(c, c->heap_n++, n);
	}
	cache_mem_heap_fix(c, n);
}

static void
cache_mem_heap_del(struct cache_mem *c, struct cache_node *n)
{
	size_t i;
	struct cache_node *last;

	if (n->heap_i == 0)
		return;
	i = n->heap_i - 1;
	n->heap_i = 0;
	last = c->heap[--c->heap_n];
	if (last == n)
		return;
	cache_mem_heap_set(c, i, last);
	cache_mem_heap_fix(c, last);
}

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
	cache_mem_heap_del(c, n);
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
	size_t i;

	for (i = 0; i < CM_CLASSES; i++)
		c->lru[i] = lru_new(max_entries > 0 ? max_entries : 1, cache_mem_evict, c);
	return c;
}

/* dom's node and the class of the LRU it is in; NULL when absent. */
static struct cache_node *
cache_mem_find(const struct cache_mem *c, const char *dom, enum cm_class *ret_class)
{
	size_t len = strlen(dom), i;
	struct lru_node *n;

	for (i = 0; i < CM_CLASSES; i++) {
		n = lru_find(c->lru[i], dom, len);
		if (n != NULL) {
			if (ret_class != NULL)
				*ret_class = (enum cm_class)i;
			return CACHE_NODE(n);
		}
	}
	return NULL;
}

void
cache_mem_clear(struct cache_mem *c)
{
	struct lru_node *n;
	size_t i;

	for (i = 0; i < CM_CLASSES; i++)
		while ((n = lru_pop_oldest(c->lru[i])) != NULL)
			cache_mem_node_drop(c, CACHE_NODE(n));
}

struct cache_mem *
cache_mem_free(struct cache_mem *c)
{
	size_t i;

	if (c == NULL)
		return NULL;
	c->observer = NULL;
	cache_mem_clear(c);
	for (i = 0; i < CM_CLASSES; i++)
		lru_free(c->lru[i]);
	free(c->heap);
	free(c);
	return NULL;
}

struct cache_entry *
cache_mem_get(struct cache_mem *c, const char *dom)
{
	enum cm_class k = CM_POLICY;
	struct cache_node *n = cache_mem_find(c, dom, &k);

	if (n == NULL)
		return NULL;
	lru_touch(c->lru[k], &n->node);
	return &n->e;
}

const struct cache_entry *
cache_mem_peek(const struct cache_mem *c, const char *dom)
{
	struct cache_node *n = cache_mem_find(c, dom, NULL);

	return n != NULL ? &n->e : NULL;
}

void
cache_mem_put(struct cache_mem *c, const char *dom, const struct cache_entry *e)
{
	enum cm_class old = CM_POLICY, want = cache_mem_class(e->kind);
	struct cache_node *n = cache_mem_find(c, dom, &old);
	size_t len;

	cache_mem_notify(c, dom, n != NULL ? &n->e : NULL, e);
	if (n != NULL) {
		if (n->e.policy != e->policy)
			sts_policy_free(n->e.policy);
		n->e = *e;
		if (want == CM_POLICY)
			cache_mem_heap_put(c, n);
		else
			cache_mem_heap_del(c, n);
		if (old == want) {
			lru_touch(c->lru[want], &n->node);
			return;
		}
		/* The kind changed: into the other LRU (which may evict one of its own). */
		lru_remove(c->lru[old], &n->node);
		(void)lru_insert(c->lru[want], &n->node, n->dom, strlen(n->dom));
		return;
	}
	len = strlen(dom);
	n = xcalloc(1, offsetof(struct cache_node, dom) + len + 1);
	memcpy(n->dom, dom, len + 1);
	n->e = *e;
	if (want == CM_POLICY)
		cache_mem_heap_put(c, n);
	(void)lru_insert(c->lru[want], &n->node, n->dom, len); /* absent: cannot fail */
}

int
cache_mem_delete(struct cache_mem *c, const char *dom)
{
	enum cm_class k = CM_POLICY;
	struct cache_node *n = cache_mem_find(c, dom, &k);

	if (n == NULL)
		return -ENOENT;
	lru_remove(c->lru[k], &n->node);
	cache_mem_node_drop(c, n);
	return 0;
}

size_t
cache_mem_purge_expired(struct cache_mem *c, time_t now)
{
	struct lru_node *n, *newer;
	size_t purged = 0, i;

	for (i = 0; i < CM_CLASSES; i++) {
		for (n = lru_oldest(c->lru[i]); n != NULL; n = newer) {
			newer = lru_newer(n);
			if (CACHE_NODE(n)->e.expires_at <= now) {
				lru_remove(c->lru[i], n);
				cache_mem_node_drop(c, CACHE_NODE(n));
				purged++;
			}
		}
	}
	return purged;
}

size_t
cache_mem_count(const struct cache_mem *c)
{
	return lru_count(c->lru[CM_POLICY]) + lru_count(c->lru[CM_NEGATIVE]);
}

size_t
cache_mem_max(const struct cache_mem *c)
{
	return lru_max(c->lru[CM_POLICY]);
}

static void
cache_mem_bound(struct cache_mem *c, enum cm_class k, size_t max_entries)
{
	lru_set_max(c->lru[k], max_entries > 0 ? max_entries : 1);
}

void
cache_mem_set_max(struct cache_mem *c, size_t max_entries)
{
	cache_mem_bound(c, CM_POLICY, max_entries);
}

void
cache_mem_set_max_negative(struct cache_mem *c, size_t max_entries)
{
	cache_mem_bound(c, CM_NEGATIVE, max_entries);
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
	return lru_evictions(c->lru[CM_POLICY]);
}

void
cache_mem_sizes(const struct cache_mem *c, struct cache_mem_sizes *ret)
{
	size_t i;

	for (i = 0; i < CM_CLASSES; i++) {
		ret->count[i] = lru_count(c->lru[i]);
		ret->max[i] = lru_max(c->lru[i]);
		ret->evictions[i] = lru_evictions(c->lru[i]);
	}
}

/* Visit up to max entries, policies first, each LRU oldest first (recent: newest first). */
static void
cache_mem_walk(const struct cache_mem *c, size_t max, int recent, cache_mem_visit_fn *fn, void *arg)
{
	const struct lru_node *n;
	size_t seen = 0, i;

	for (i = 0; i < CM_CLASSES; i++) {
		n = recent ? lru_newest(c->lru[i]) : lru_oldest(c->lru[i]);
		for (; n != NULL && seen < max; n = recent ? lru_older(n) : lru_newer(n), seen++)
			if (fn(CACHE_NODE(n)->dom, &CACHE_NODE(n)->e, arg) != 0)
				return;
	}
}

void
cache_mem_foreach(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg)
{
	cache_mem_walk(c, max, 0, fn, arg);
}

void
cache_mem_foreach_recent(const struct cache_mem *c, size_t max, cache_mem_visit_fn *fn, void *arg)
{
	cache_mem_walk(c, max, 1, fn, arg);
}

void
cache_mem_set_due_fn(struct cache_mem *c, cache_mem_due_fn *fn, void *arg)
{
	size_t i;

	c->due_fn = fn;
	c->due_arg = arg;
	for (i = 0; i < c->heap_n; i++)
		c->heap[i]->due = cache_mem_due_of(c, c->heap[i]);
	for (i = c->heap_n / 2; i-- > 0;) /* heapify, O(n) */
		cache_mem_heap_down(c, i);
}

const struct cache_entry *
cache_mem_due_first(const struct cache_mem *c, const char **ret_dom, time_t *ret_due)
{
	if (c->heap_n == 0)
		return NULL;
	*ret_dom = c->heap[0]->dom;
	*ret_due = c->heap[0]->due;
	return &c->heap[0]->e;
}

int
cache_mem_set_due(struct cache_mem *c, const char *dom, time_t due)
{
	struct cache_node *n = cache_mem_find(c, dom, NULL);

	if (n == NULL || n->heap_i == 0)
		return -ENOENT;
	n->due = due;
	cache_mem_heap_fix(c, n);
	return 0;
}
