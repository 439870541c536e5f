/*
 * tests/unit/common/test_lru.c - the one LRU (common/lru.c)
 *
 * Covers: find/insert/remove with string and binary keys (same prefix, embedded NUL),
 * -EEXIST/-EINVAL, eviction order (oldest first, a touch saves a node), the evict callback
 * and the evictions count, pinned nodes never evicted (pins nest; the count exceeds the
 * bound by pinned nodes only), lru_set_max shrinking, max 0 = no bound with the bucket
 * table growing (20000 nodes), walks in both directions with removal, lru_pop_oldest, keys
 * over LRU_KEY_MAX refused, the node's size, the hash values the policy engine's
 * refresh jitter depends on, and keys chosen to collide under that unkeyed hash spreading
 * over the buckets (the table hashes with keyhash(), SipHash under a per-process key).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lru.h"
#include "xalloc.h"

struct item {
	struct lru_node node;
	char key[32];
	size_t keylen;
};

static char evicted[64][32];
static size_t n_evicted;

static void
evict_cb(struct lru_node *n, void *arg)
{
	struct item *it = LRU_ENTRY(n, struct item, node);

	assert_ptr_equal(arg, &n_evicted);
	assert_false(n->linked);
	if (n_evicted < 64)
		(void)snprintf(evicted[n_evicted], sizeof(evicted[0]), "%s", it->key);
	n_evicted++;
	free(it);
}

static struct item *
add(struct lru *l, const char *key)
{
	struct item *it = xcalloc(1, sizeof(*it));

	(void)snprintf(it->key, sizeof(it->key), "%s", key);
	it->keylen = strlen(it->key);
	assert_int_equal(lru_insert(l, &it->node, it->key, it->keylen), 0);
	return it;
}

static struct item *
find(struct lru *l, const char *key)
{
	struct lru_node *n = lru_find(l, key, strlen(key));

	return n != NULL ? LRU_ENTRY(n, struct item, node) : NULL;
}

/* The keys from oldest to newest, joined with spaces. */
static const char *
order(const struct lru *l)
{
	static char buf[512];
	struct lru_node *n;
	size_t off = 0;

	buf[0] = '\0';
	for (n = lru_oldest(l); n != NULL && off < sizeof(buf) - 40; n = lru_newer(n))
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", off > 0 ? " " : "",
		                        LRU_ENTRY(n, struct item, node)->key);
	return buf;
}

static void
empty(struct lru *l)
{
	struct lru_node *n;

	while ((n = lru_pop_oldest(l)) != NULL)
		free(LRU_ENTRY(n, struct item, node));
	assert_int_equal(lru_count(l), 0);
	assert_null(lru_oldest(l));
	assert_null(lru_newest(l));
}

static int
setup(void **state)
{
	n_evicted = 0;
	memset(evicted, 0, sizeof(evicted));
	return 0;
}

static void
test_basic(void **state)
{
	struct lru *l = lru_new(10, evict_cb, &n_evicted);
	struct item *a = add(l, "a.example"), *b = add(l, "b.example"), dup = {0};

	assert_int_equal(lru_count(l), 2);
	assert_int_equal(lru_max(l), 10);
	assert_ptr_equal(find(l, "a.example"), a);
	assert_ptr_equal(find(l, "b.example"), b);
	assert_null(find(l, "c.example"));
	assert_null(find(l, "a.exampl"));
	assert_null(lru_find(l, NULL, 0));
	/* the same key twice, the same node twice, no key */
	(void)snprintf(dup.key, sizeof(dup.key), "a.example");
	assert_int_equal(lru_insert(l, &dup.node, dup.key, strlen(dup.key)), -EEXIST);
	assert_false(dup.node.linked);
	assert_int_equal(lru_insert(l, &a->node, a->key, a->keylen), -EINVAL);
	assert_int_equal(lru_insert(l, &dup.node, NULL, 0), -EINVAL);
	assert_int_equal(lru_count(l), 2);
	/* remove, and remove again (no-op) */
	lru_remove(l, &a->node);
	lru_remove(l, &a->node);
	assert_null(find(l, "a.example"));
	assert_int_equal(lru_count(l), 1);
	assert_int_equal(lru_insert(l, &a->node, a->key, a->keylen), 0);
	assert_string_equal(order(l), "b.example a.example");
	empty(l);
	assert_int_equal(n_evicted, 0);
	assert_int_equal(lru_evictions(l), 0);
	assert_null(lru_free(l));
	assert_null(lru_free(NULL));
}

/* Binary keys: lengths count, NUL bytes are bytes. */
static void
test_binary_keys(void **state)
{
	struct lru *l = lru_new(0, NULL, NULL);
	static const uint8_t k1[4] = {1, 0, 2, 0}, k2[3] = {1, 0, 2}, k3[4] = {1, 0, 2, 1};
	struct lru_node n1 = {0}, n2 = {0}, n3 = {0}, n0 = {0};

	assert_int_equal(lru_insert(l, &n1, k1, sizeof(k1)), 0);
	assert_int_equal(lru_insert(l, &n2, k2, sizeof(k2)), 0);
	assert_int_equal(lru_insert(l, &n3, k3, sizeof(k3)), 0);
	assert_int_equal(lru_insert(l, &n0, k1, 0), 0); /* the empty key is a key */
	assert_ptr_equal(lru_find(l, k1, sizeof(k1)), &n1);
	assert_ptr_equal(lru_find(l, k2, sizeof(k2)), &n2);
	assert_ptr_equal(lru_find(l, k3, sizeof(k3)), &n3);
	assert_ptr_equal(lru_find(l, k3, 0), &n0);
	assert_null(lru_find(l, k1, 2));
	{
		/* a key longer than lru_node.keylen holds is refused, never cut */
		static char big[LRU_KEY_MAX + 2];
		struct lru_node nb = {0};

		memset(big, 'a', sizeof(big));
		assert_int_equal(lru_insert(l, &nb, big, LRU_KEY_MAX + 1), -EINVAL);
		assert_false(nb.linked);
		assert_null(lru_find(l, big, LRU_KEY_MAX + 1));
		assert_int_equal(lru_insert(l, &nb, big, LRU_KEY_MAX), 0);
		assert_ptr_equal(lru_find(l, big, LRU_KEY_MAX), &nb);
		assert_null(lru_find(l, big, LRU_KEY_MAX - 1));
		lru_remove(l, &nb);
	}
	/* one node per cached policy (issue 21): 40 bytes on LP64 */
	if (sizeof(void *) == 8)
		assert_int_equal(sizeof(struct lru_node), 40);
	while (lru_pop_oldest(l) != NULL)
		;
	lru_free(l);
}

/* Full: the oldest goes; a touch (or a re-insert) makes a node the newest. */
static void
test_eviction_order(void **state)
{
	struct lru *l = lru_new(3, evict_cb, &n_evicted);
	struct item *a = add(l, "a");

	add(l, "b");
	add(l, "c");
	assert_string_equal(order(l), "a b c");
	lru_touch(l, &a->node);
	assert_string_equal(order(l), "b c a");
	add(l, "d");
	assert_int_equal(n_evicted, 1);
	assert_string_equal(evicted[0], "b");
	assert_string_equal(order(l), "c a d");
	add(l, "e");
	add(l, "f");
	assert_int_equal(n_evicted, 3);
	assert_string_equal(evicted[1], "c");
	assert_string_equal(evicted[2], "a");
	assert_string_equal(order(l), "d e f");
	assert_int_equal(lru_count(l), 3);
	assert_int_equal(lru_evictions(l), 3);
	/* lru_touch of the newest is a no-op; the walk the other way */
	lru_touch(l, &find(l, "f")->node);
	assert_string_equal(LRU_ENTRY(lru_newest(l), struct item, node)->key, "f");
	assert_string_equal(LRU_ENTRY(lru_older(lru_newest(l)), struct item, node)->key, "e");
	/* shrink: oldest first, counted */
	lru_set_max(l, 1);
	assert_int_equal(lru_count(l), 1);
	assert_string_equal(order(l), "f");
	assert_int_equal(lru_evictions(l), 5);
	/* bound 1: each insert replaces the previous */
	add(l, "g");
	assert_string_equal(order(l), "g");
	empty(l);
	lru_free(l);
}

/* Pinned nodes stay; the bound is exceeded by pinned nodes only. */
static void
test_pinned(void **state)
{
	struct lru *l = lru_new(2, evict_cb, &n_evicted);
	struct item *a = add(l, "a"), *b = add(l, "b"), *c;

	lru_pin(&a->node);
	lru_pin(&b->node);
	c = add(l, "c"); /* nothing evictable */
	assert_int_equal(lru_count(l), 3);
	assert_int_equal(n_evicted, 0);
	lru_pin(&b->node); /* pins nest */
	lru_unpin(&b->node);
	add(l, "d"); /* c goes: the oldest unpinned one */
	assert_int_equal(n_evicted, 1);
	assert_string_equal(evicted[0], "c");
	assert_string_equal(order(l), "a b d");
	(void)c;
	lru_unpin(&a->node);
	lru_unpin(&a->node); /* below zero: stays 0 */
	assert_int_equal(a->node.pins, 0);
	add(l, "e"); /* a and d go, b stays pinned: b e */
	assert_int_equal(n_evicted, 3);
	assert_string_equal(evicted[1], "a");
	assert_string_equal(evicted[2], "d");
	assert_string_equal(order(l), "b e");
	lru_set_max(l, 0); /* no bound */
	add(l, "f");
	add(l, "g");
	assert_int_equal(lru_count(l), 4);
	lru_set_max(l, 1); /* b pinned stays, the rest goes */
	assert_string_equal(order(l), "b");
	lru_unpin(&b->node);
	empty(l);
	lru_free(l);
}

/* No bound, many nodes: the table grows; removal while walking. */
static void
test_many(void **state)
{
	struct lru *l = lru_new(0, evict_cb, &n_evicted);
	struct lru_node *n, *next;
	char key[32];
	size_t i, left = 0;

	for (i = 0; i < 20000; i++) {
		(void)snprintf(key, sizeof(key), "d%zu.example", i);
		add(l, key);
	}
	assert_int_equal(lru_count(l), 20000);
	assert_int_equal(n_evicted, 0);
	for (i = 0; i < 20000; i += 997) {
		(void)snprintf(key, sizeof(key), "d%zu.example", i);
		assert_non_null(find(l, key));
	}
	/* drop every odd one while walking from the oldest */
	for (n = lru_oldest(l), i = 0; n != NULL; n = next, i++) {
		next = lru_newer(n);
		if (i % 2 == 1) {
			lru_remove(l, n);
			free(LRU_ENTRY(n, struct item, node));
		}
	}
	assert_int_equal(lru_count(l), 10000);
	assert_null(find(l, "d1.example"));
	assert_non_null(find(l, "d2.example"));
	for (n = lru_newest(l); n != NULL; n = lru_older(n))
		left++;
	assert_int_equal(left, 10000);
	empty(l);
	lru_free(l);
}

/* FNV-1a 64 with the offset basis the tree has always used (1469598103934665603, the
 * standard one without its last digit): the policy engine's refresh jitter is
 * lru_hash(domain) and must not move. Values computed independently (Python). */
static void
test_hash(void **state)
{
	assert_true(lru_hash("", 0) == 0x14650fb0739d0383ull);
	assert_true(lru_hash("a", 1) == 0x44bd8ad473cd9906ull);
	assert_true(lru_hash("foobar", 6) == 0x88fad7c0a8ff07f2ull);
	assert_true(lru_hash("example.com", 11) == 0x2581d288ccee852cull);
	assert_true(lru_hash("example.com\0x", 11) == lru_hash("example.com", 11));
}

/* 2000 domain names whose FNV-1a (lru_hash) agrees in its low 12 bits: with FNV-1a as
 * the table's hash (before keyhash.h) they all shared one bucket at every table size up to
 * 4096 buckets, and each look-up walked all of them. Under keyhash() they spread like any
 * keys: 2000 keys in >= 2048 buckets give a longest chain of 4-7; 16 is never reached. */
static void
test_chosen_collisions(void **state)
{
	struct lru *l = lru_new(0, evict_cb, &n_evicted);
	char key[32];
	size_t made = 0;
	uint64_t i, want = lru_hash("d0.example", 10) & 0xfff;

	(void)state;
	for (i = 0; made < 2000 && i < 1000000000ull; i++) {
		int len = snprintf(key, sizeof(key), "d%llu.example", (unsigned long long)i);

		if ((lru_hash(key, (size_t)len) & 0xfff) != want)
			continue;
		add(l, key);
		made++;
	}
	assert_int_equal(made, 2000);
	assert_int_equal(lru_count(l), 2000);
	assert_true(lru_chain_max(l) <= 16);
	assert_non_null(find(l, "d0.example"));
	empty(l);
	lru_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_basic, setup),
	        cmocka_unit_test_setup(test_binary_keys, setup),
	        cmocka_unit_test_setup(test_eviction_order, setup),
	        cmocka_unit_test_setup(test_pinned, setup),
	        cmocka_unit_test_setup(test_many, setup),
	        cmocka_unit_test(test_hash),
	        cmocka_unit_test_setup(test_chosen_collisions, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
