/*
 * resolver/cache_mem.c - bounded in-memory cache of cache entries keyed by Policy Domain
 *
 * Interface: see cache_mem.h
 * Threads:   main loop only.    Ownership: the cache owns its nodes (names, ids, policies).
 * Errors:    none (xalloc dies on OOM).
 *
 * Layout: each entry is one allocation, a struct cache_node: a common/lru.h node (hash chain
 * and recency links), the entry's scalars in compact form (times as unsigned 32-bit seconds,
 * CACHE_MEM_TIME_MAX; the policy's header fields), then the policy's mx pointer array and
 * extension pairs, then the bytes: the policy id (no NUL), the name (NUL-terminated, the LRU
 * key), the mx patterns and extension strings (issue 21 round 4, docs/performance.md: 224
 * bytes of heap for a policy of 2 mx patterns, against 288 in two allocations before).
 * Callers see a struct cache_entry (and its struct sts_policy) filled from the node on
 * demand, a "view": get, peek and due_first each have one in the cache, visitors and the
 * observer one on the stack. The mx and extension arrays and strings a view's policy points
 * at are the node's own. What a caller changes in place through cache_mem_get()'s view
 * (times, last_error) is written back to the node at the next call into the cache
 * (cm_sync()). A put builds a new node and puts it where the old one was (LRU and heap).
 * Nodes are linked in one of two LRUs by the entry's kind: CM_POLICY (bound
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
#include "log.h"
#include "lru.h"
#include "xalloc.h"

enum cm_class {
	CM_POLICY = CACHE_MEM_POLICIES,
	CM_NEGATIVE = CACHE_MEM_NEGATIVE,
};
#define CM_CLASSES 2

/* cache_node.flags */
#define CM_HAS_POLICY 1u

_Static_assert(STS_MX_MAX <= UINT16_MAX, "cache_node.n_mx is 16 bits");
_Static_assert(STS_EXT_MAX <= UINT16_MAX, "cache_node.n_ext is 16 bits");
_Static_assert(STS_ID_MAX <= UINT8_MAX, "cache_node.id_len is 8 bits");

/* 88 bytes before ptr[] on LP64, allocated to the size of what follows (cm_node_size()). */
struct cache_node {
	struct lru_node node;
	uint32_t fetched_at, expires_at, last_check, retry_after, last_used; /* cm_time() */
	uint32_t due;       /* policies: the refresh schedule's key (cm_time()) */
	uint32_t heap_i;    /* policies: index in c->heap + 1; 0 = not in the heap (the heap
	                     * holds at most cache.max_entries policies, far below 2^32) */
	uint32_t max_age_s; /* the policy's fields, when flags has CM_HAS_POLICY */
	int32_t last_error;
	uint16_t n_mx, n_ext, n_mx_dropped, tolerated;
	uint8_t kind;   /* enum cache_kind */
	uint8_t flags;  /* CM_HAS_POLICY */
	uint8_t mode;   /* enum sts_mode */
	uint8_t id_len; /* bytes of the id, at most STS_ID_MAX */
	/* n_mx mx pointers, n_ext extension (name, value) pairs, then the bytes: the id
	 * (id_len, no NUL), the name (NUL), the mx patterns, the extension strings (each NUL) */
	char *ptr[];
};

/* A struct cache_entry filled from a node (see the top). */
struct cm_view {
	struct cache_entry e;
	struct sts_policy p;
};

/* The views get, peek and due_first return (apart from the cache so that the const
 * functions can fill them) and the node whose view get handed out last. */
struct cm_views {
	struct cm_view get, peek, due;
	struct cache_node *get_node; /* its in-place changes go back at the next call */
};

struct cache_mem {
	struct lru *lru[CM_CLASSES];
	cache_mem_observer_fn *observer; /* cache_mem_set_observer() */
	void *observer_arg;
	cache_mem_due_fn *due_fn; /* cache_mem_set_due_fn(); NULL: expires_at */
	void *due_arg;
	struct cache_node **heap; /* the policies, min-heap on due */
	size_t heap_n, heap_cap;
	struct cm_views *v;
};

#define CACHE_NODE(n) LRU_ENTRY(n, struct cache_node, node)

static enum cm_class
cache_mem_class(enum cache_kind k)
{
	return k == CACHE_POLICY ? CM_POLICY : CM_NEGATIVE;
}

/* ---- the compact node ---- */

/* t (wall s) as stored: clamped into 0..CACHE_MEM_TIME_MAX, never wrapped. */
static uint32_t
cm_time(time_t t)
{
	if ((uint64_t)t <= CACHE_MEM_TIME_MAX) /* one test for both ends: a negative t is huge */
		return (uint32_t)t;
	return t < 0 ? 0 : CACHE_MEM_TIME_MAX;
}

static struct sts_ext *
cm_ext(const struct cache_node *n)
{
	return (struct sts_ext *)(void *)((char *)(uintptr_t)n->ptr + n->n_mx * sizeof(char *));
}

/* The id (id_len bytes, no NUL). */
static char *
cm_id(const struct cache_node *n)
{
	return (char *)(uintptr_t)n->ptr + n->n_mx * sizeof(char *) +
	       n->n_ext * sizeof(struct sts_ext);
}

/* The name (NUL-terminated), right after the id. */
static char *
cm_dom(const struct cache_node *n)
{
	return cm_id(n) + n->id_len;
}

/* Bytes of the node for dom (dom_len bytes) and e. */
static size_t
cm_node_size(size_t dom_len, const struct cache_entry *e)
{
	const struct sts_policy *p = e->policy;
	size_t size = strnlen(e->id, STS_ID_MAX) + dom_len + 1, i;

	if (p != NULL) {
		for (i = 0; i < p->n_mx; i++)
			size += strlen(p->mx[i]) + 1;
		for (i = 0; i < p->n_ext; i++)
			size += strlen(p->ext[i].name) + 1 + strlen(p->ext[i].value) + 1;
	}
	/* At least STS_ID_MAX bytes from the id on: cm_view_fill() copies that many (a fixed
	 * size, cheaper than a call) and uses id_len of them. */
	if (size < STS_ID_MAX)
		size = STS_ID_MAX;
	size += offsetof(struct cache_node, ptr);
	if (p != NULL)
		size += p->n_mx * sizeof(char *) + p->n_ext * sizeof(struct sts_ext);
	return size;
}

/* Copy s (NUL included) to *o; returns the copy and moves *o past it. */
static char *
cm_copy(char **o, const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = *o;

	memcpy(d, s, len);
	*o += len;
	return d;
}

/* A new node (not linked) holding dom and a copy of e, its policy included. */
static struct cache_node *
cm_node_new(const char *dom, size_t dom_len, const struct cache_entry *e)
{
	const struct sts_policy *p = e->policy;
	struct cache_node *n;
	struct sts_ext *ext;
	size_t i;
	char *o;

	if (p != NULL && (p->n_mx > STS_MX_MAX || p->n_ext > STS_EXT_MAX))
		die("cache: a policy of %zu mx patterns and %u extensions cannot be cached",
		    p->n_mx, (unsigned)p->n_ext); /* our own bug: parsing bounds both */
	n = xcalloc(1, cm_node_size(dom_len, e));
	n->fetched_at = cm_time(e->fetched_at);
	n->expires_at = cm_time(e->expires_at);
	n->last_check = cm_time(e->last_check);
	n->retry_after = cm_time(e->retry_after);
	n->last_used = cm_time(e->last_used);
	n->last_error = e->last_error;
	n->kind = (uint8_t)e->kind;
	n->id_len = (uint8_t)strnlen(e->id, STS_ID_MAX);
	if (p != NULL) {
		n->flags = CM_HAS_POLICY;
		n->mode = (uint8_t)p->mode;
		n->max_age_s = p->max_age_s;
		n->n_mx = (uint16_t)p->n_mx;
		n->n_ext = p->n_ext;
		n->n_mx_dropped = p->n_mx_dropped;
		n->tolerated = p->tolerated;
	}
	o = cm_id(n);
	memcpy(o, e->id, n->id_len);
	o += n->id_len;
	memcpy(o, dom, dom_len);
	o[dom_len] = '\0';
	o += dom_len + 1;
	if (p == NULL)
		return n;
	for (i = 0; i < p->n_mx; i++)
		n->ptr[i] = cm_copy(&o, p->mx[i]);
	ext = cm_ext(n);
	for (i = 0; i < p->n_ext; i++) {
		ext[i].name = cm_copy(&o, p->ext[i].name);
		ext[i].value = cm_copy(&o, p->ext[i].value);
	}
	return n;
}

/* Fill v from n: the struct cache_entry callers read, its policy pointing at n's arrays. */
static void
cm_view_fill(struct cm_view *v, struct cache_node *n)
{
	struct cache_entry *e = &v->e;

	e->kind = (enum cache_kind)n->kind;
	memcpy(e->id, cm_id(n), STS_ID_MAX); /* cm_node_size() */
	e->id[n->id_len] = '\0';
	e->fetched_at = (time_t)n->fetched_at;
	e->expires_at = (time_t)n->expires_at;
	e->last_check = (time_t)n->last_check;
	e->retry_after = (time_t)n->retry_after;
	e->last_used = (time_t)n->last_used;
	e->last_error = n->last_error;
	if (!(n->flags & CM_HAS_POLICY)) {
		e->policy = NULL;
		return;
	}
	v->p.mx = n->n_mx > 0 ? n->ptr : NULL;
	v->p.ext = n->n_ext > 0 ? cm_ext(n) : NULL;
	v->p.n_mx = n->n_mx;
	v->p.mode = (enum sts_mode)n->mode;
	v->p.max_age_s = n->max_age_s;
	v->p.n_ext = n->n_ext;
	v->p.n_mx_dropped = n->n_mx_dropped;
	v->p.tolerated = n->tolerated;
	v->p.packed = 1; /* the cache's: never freed by anyone else */
	e->policy = &v->p;
}

/* Write what the caller may have changed through get's view back to its node. On every
 * lookup (the hot path): one test for all five times in range, the usual case. */
static void
cm_sync(const struct cache_mem *c)
{
	struct cache_node *n = c->v->get_node;
	const struct cache_entry *e = &c->v->get.e;

	if (n == NULL)
		return;
	if (((uint64_t)e->fetched_at | (uint64_t)e->expires_at | (uint64_t)e->last_check |
	     (uint64_t)e->retry_after | (uint64_t)e->last_used) <= CACHE_MEM_TIME_MAX) {
		n->fetched_at = (uint32_t)e->fetched_at;
		n->expires_at = (uint32_t)e->expires_at;
		n->last_check = (uint32_t)e->last_check;
		n->retry_after = (uint32_t)e->retry_after;
		n->last_used = (uint32_t)e->last_used;
	} else {
		n->fetched_at = cm_time(e->fetched_at);
		n->expires_at = cm_time(e->expires_at);
		n->last_check = cm_time(e->last_check);
		n->retry_after = cm_time(e->retry_after);
		n->last_used = cm_time(e->last_used);
	}
	n->last_error = e->last_error;
}

/* p is one of the cache's views' policies (a caller re-putting what it read). */
static int
cm_is_view_policy(const struct cache_mem *c, const struct sts_policy *p)
{
	return p == &c->v->get.p || p == &c->v->peek.p || p == &c->v->due.p;
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

static uint32_t
cache_mem_due_of(const struct cache_mem *c, struct cache_node *n)
{
	struct cm_view v;

	if (c->due_fn == NULL)
		return n->expires_at;
	cm_view_fill(&v, n);
	return cm_time(c->due_fn(cm_dom(n), &v.e, c->due_arg));
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
cache_mem_node_free(struct cache_mem *c, struct cache_node *n)
{
	if (c->v->get_node == n)
		c->v->get_node = NULL;
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
	if (c->observer != NULL) {
		struct cm_view v;

		cm_view_fill(&v, n);
		cache_mem_notify(c, cm_dom(n), &v.e, NULL);
	}
	cache_mem_node_free(c, n);
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
	c->v = xcalloc(1, sizeof(*c->v));
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

	cm_sync(c);
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
	free(c->v);
	free(c);
	return NULL;
}

struct cache_entry *
cache_mem_get(struct cache_mem *c, const char *dom)
{
	enum cm_class k = CM_POLICY;
	struct cache_node *n;

	cm_sync(c);
	n = cache_mem_find(c, dom, &k);
	if (n == NULL)
		return NULL;
	lru_touch(c->lru[k], &n->node);
	cm_view_fill(&c->v->get, n);
	c->v->get_node = n;
	return &c->v->get.e;
}

const struct cache_entry *
cache_mem_peek(const struct cache_mem *c, const char *dom)
{
	struct cache_node *n;

	cm_sync(c);
	n = cache_mem_find(c, dom, NULL);
	if (n == NULL)
		return NULL;
	cm_view_fill(&c->v->peek, n);
	return &c->v->peek.e;
}

void
cache_mem_put(struct cache_mem *c, const char *dom, const struct cache_entry *e)
{
	enum cm_class old = CM_POLICY, want = cache_mem_class(e->kind);
	struct cache_node *n, *nn;
	size_t len = strlen(dom);

	cm_sync(c);
	n = cache_mem_find(c, dom, &old);
	if (c->observer != NULL) {
		struct cm_view prev;

		if (n != NULL)
			cm_view_fill(&prev, n);
		cache_mem_notify(c, dom, n != NULL ? &prev.e : NULL, e);
	}
	/* Copy first: dom, e and its policy may be a view of n or point into it. */
	nn = cm_node_new(dom, len, e);
	if (e->policy != NULL && !cm_is_view_policy(c, e->policy))
		sts_policy_free(e->policy); /* ours to free: the node holds a copy */
	if (n != NULL) {
		/* nn takes n's place: n's LRU (a put makes it the most recent anyway), its
		 * heap slot. */
		lru_remove(c->lru[old], &n->node);
		if (n->heap_i != 0) {
			cache_mem_heap_set(c, n->heap_i - 1, nn);
			n->heap_i = 0;
		}
		cache_mem_node_free(c, n);
	}
	if (want == CM_POLICY)
		cache_mem_heap_put(c, nn);
	else
		cache_mem_heap_del(c, nn);
	/* absent now: cannot fail; into a full LRU (a kind change) it evicts its own oldest */
	(void)lru_insert(c->lru[want], &nn->node, cm_dom(nn), len);
}

int
cache_mem_delete(struct cache_mem *c, const char *dom)
{
	enum cm_class k = CM_POLICY;
	struct cache_node *n;

	cm_sync(c);
	n = cache_mem_find(c, dom, &k);
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

	cm_sync(c);
	for (i = 0; i < CM_CLASSES; i++) {
		for (n = lru_oldest(c->lru[i]); n != NULL; n = newer) {
			newer = lru_newer(n);
			if ((time_t)CACHE_NODE(n)->expires_at <= now) {
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
	cm_sync(c);
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
	struct cache_node *cn;
	struct cm_view v;
	size_t seen = 0, i;

	cm_sync(c);
	for (i = 0; i < CM_CLASSES; i++) {
		n = recent ? lru_newest(c->lru[i]) : lru_oldest(c->lru[i]);
		for (; n != NULL && seen < max; n = recent ? lru_older(n) : lru_newer(n), seen++) {
			cn = CACHE_NODE((struct lru_node *)(uintptr_t)n);
			cm_view_fill(&v, cn);
			if (fn(cm_dom(cn), &v.e, arg) != 0)
				return;
		}
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

	cm_sync(c);
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
	cm_sync(c);
	if (c->heap_n == 0)
		return NULL;
	*ret_dom = cm_dom(c->heap[0]);
	*ret_due = (time_t)c->heap[0]->due;
	cm_view_fill(&c->v->due, c->heap[0]);
	return &c->v->due.e;
}

int
cache_mem_set_due(struct cache_mem *c, const char *dom, time_t due)
{
	struct cache_node *n;

	cm_sync(c);
	n = cache_mem_find(c, dom, NULL);
	if (n == NULL || n->heap_i == 0)
		return -ENOENT;
	n->due = cm_time(due);
	cache_mem_heap_fix(c, n);
	return 0;
}

size_t
cache_mem_entry_size(const char *dom, const struct cache_entry *e)
{
	return cm_node_size(strlen(dom), e);
}
