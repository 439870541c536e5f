/*
 * common/lru.c - keyed hash table + recency list, bounded, intrusive
 *
 * Interface: see lru.h
 * Threads:   one thread per LRU.    Ownership: the owner's nodes; the LRU's buckets.
 * Errors:    see lru.h (allocation dies in xalloc).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyhash.h"
#include "lru.h"
#include "xalloc.h"

struct lru {
	struct lru_node **buckets;
	size_t nbuckets; /* power of two */
	struct lru_node *newest, *oldest;
	size_t count, max;
	uint64_t evictions;
	lru_evict_fn *evict;
	void *arg;
};

uint64_t
lru_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	/* FNV-1a 64 with the offset basis the tree's hashes always had: the standard
	 * 14695981039346656037 without its last digit. Kept, so lru_hash() of a domain (the
	 * policy engine's refresh jitter) gives what it gave before. */
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct lru *
lru_new(size_t max_entries, lru_evict_fn *evict, void *arg)
{
	struct lru *l = xcalloc(1, sizeof(*l));

	l->max = max_entries;
	l->evict = evict;
	l->arg = arg;
	l->nbuckets = LRU_BUCKETS_MIN;
	l->buckets = xcalloc(l->nbuckets, sizeof(*l->buckets));
	return l;
}

struct lru *
lru_free(struct lru *l)
{
	if (l == NULL)
		return NULL;
	free(l->buckets);
	free(l);
	return NULL;
}

size_t
lru_chain_max(const struct lru *l)
{
	size_t i, most = 0;

	for (i = 0; i < l->nbuckets; i++) {
		size_t n = 0;
		const struct lru_node *p;

		for (p = l->buckets[i]; p != NULL; p = p->hnext)
			n++;
		if (n > most)
			most = n;
	}
	return most;
}

/* The bucket of hash h in a table of nb buckets. */
static size_t
lru_bucket(uint64_t h, size_t nb)
{
	return (size_t)(h & (nb - 1));
}

/* The bucket a linked node is in: its key hashed again (the hash is not kept, lru.h). */
static struct lru_node **
lru_node_bucket(const struct lru *l, const struct lru_node *n)
{
	return &l->buckets[lru_bucket(keyhash(n->key, n->keylen), l->nbuckets)];
}

static struct lru_node **
lru_slot(const struct lru *l, const void *key, size_t keylen, uint64_t h)
{
	struct lru_node **pp = &l->buckets[lru_bucket(h, l->nbuckets)];

	while (*pp != NULL && ((*pp)->keylen != keylen || memcmp((*pp)->key, key, keylen) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

struct lru_node *
lru_find(const struct lru *l, const void *key, size_t keylen)
{
	if (key == NULL || keylen > LRU_KEY_MAX || l->count == 0) /* empty: no hashing */
		return NULL;
	return *lru_slot(l, key, keylen, keyhash(key, keylen));
}

static void
lru_list_unlink(struct lru *l, struct lru_node *n)
{
	if (n->newer != NULL)
		n->newer->older = n->older;
	else
		l->newest = n->older;
	if (n->older != NULL)
		n->older->newer = n->newer;
	else
		l->oldest = n->newer;
	n->newer = n->older = NULL;
}

static void
lru_list_push(struct lru *l, struct lru_node *n)
{
	n->newer = NULL;
	n->older = l->newest;
	if (l->newest != NULL)
		l->newest->newer = n;
	l->newest = n;
	if (l->oldest == NULL)
		l->oldest = n;
}

void
lru_touch(struct lru *l, struct lru_node *n)
{
	if (!n->linked || l->newest == n)
		return;
	lru_list_unlink(l, n);
	lru_list_push(l, n);
}

void
lru_remove(struct lru *l, struct lru_node *n)
{
	struct lru_node **pp;

	if (!n->linked)
		return;
	pp = lru_node_bucket(l, n);
	while (*pp != NULL && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp == n)
		*pp = n->hnext;
	n->hnext = NULL;
	lru_list_unlink(l, n);
	n->linked = 0;
	l->count--;
}

struct lru_node *
lru_pop_oldest(struct lru *l)
{
	struct lru_node *n = l->oldest;

	if (n != NULL)
		lru_remove(l, n);
	return n;
}

/* Evict the oldest unpinned nodes while more than want are in l. */
static void
lru_shrink(struct lru *l, size_t want)
{
	struct lru_node *n = l->oldest, *newer;

	while (n != NULL && l->count > want) {
		newer = n->newer;
		if (n->pins == 0) {
			lru_remove(l, n);
			l->evictions++;
			if (l->evict != NULL)
				l->evict(n, l->arg);
		}
		n = newer;
	}
}

static void
lru_grow(struct lru *l)
{
	size_t nb = l->nbuckets * 2, i;
	struct lru_node **b = xcalloc(nb, sizeof(*b));

	for (i = 0; i < l->nbuckets; i++) {
		struct lru_node *n = l->buckets[i], *next;

		for (; n != NULL; n = next) {
			size_t k = lru_bucket(keyhash(n->key, n->keylen), nb);

			next = n->hnext;
			n->hnext = b[k];
			b[k] = n;
		}
	}
	free(l->buckets);
	l->buckets = b;
	l->nbuckets = nb;
}

int
lru_insert(struct lru *l, struct lru_node *n, const void *key, size_t keylen)
{
	uint64_t h;
	struct lru_node **pp;

	if (n->linked || key == NULL || keylen > LRU_KEY_MAX)
		return -EINVAL;
	h = keyhash(key, keylen);
	if (*lru_slot(l, key, keylen, h) != NULL)
		return -EEXIST;
	if (l->max > 0 && l->count >= l->max)
		lru_shrink(l, l->max - 1);
	if (l->count + 1 > l->nbuckets && l->nbuckets < LRU_BUCKETS_MAX)
		lru_grow(l);
	n->key = key;
	n->keylen = (uint16_t)keylen;
	pp = &l->buckets[lru_bucket(h, l->nbuckets)];
	n->hnext = *pp;
	*pp = n;
	lru_list_push(l, n);
	n->linked = 1;
	l->count++;
	return 0;
}

struct lru_node *
lru_oldest(const struct lru *l)
{
	return l->oldest;
}

struct lru_node *
lru_newest(const struct lru *l)
{
	return l->newest;
}

struct lru_node *
lru_newer(const struct lru_node *n)
{
	return n->newer;
}

struct lru_node *
lru_older(const struct lru_node *n)
{
	return n->older;
}

void
lru_pin(struct lru_node *n)
{
	n->pins++;
}

void
lru_unpin(struct lru_node *n)
{
	if (n->pins > 0)
		n->pins--;
}

size_t
lru_count(const struct lru *l)
{
	return l->count;
}

size_t
lru_max(const struct lru *l)
{
	return l->max;
}

void
lru_set_max(struct lru *l, size_t max_entries)
{
	l->max = max_entries;
	if (l->max > 0)
		lru_shrink(l, l->max);
}

uint64_t
lru_evictions(const struct lru *l)
{
	return l->evictions;
}
