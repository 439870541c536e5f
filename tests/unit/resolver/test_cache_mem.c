/*
 * tests/unit/resolver/test_cache_mem.c - bounded in-memory LRU (resolver/cache_mem.c)
 *
 * Real values: which entries survive eviction, the two bounds (policies, negative entries:
 * a negative entry never evicts a policy), counts, purge by expiry, replacement that frees
 * the old policy and moves an entry between the two when its kind changes (ASan/valgrind
 * catch a leak or double free).
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

#include "cache_mem.h"
#include "err.h"

/* One number of the LRU of kind k (CACHE_MEM_POLICIES or CACHE_MEM_NEGATIVE). */
#define SIZE(c, field, k) sizes_of(c).field[k]

static struct cache_mem_sizes
sizes_of(const struct cache_mem *c)
{
	struct cache_mem_sizes z;

	cache_mem_sizes(c, &z);
	return z;
}

static struct sts_policy *
mkpolicy(void)
{
	const char *t = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n";
	struct sts_policy *p = NULL;

	assert_int_equal(sts_policy_parse(t, strlen(t), &p, NULL), 0);
	return p;
}

static void
put(struct cache_mem *c, const char *dom, enum cache_kind kind, time_t expires)
{
	struct cache_entry e = {.kind = kind, .expires_at = expires};

	(void)snprintf(e.id, sizeof(e.id), "id%zu", strlen(dom));
	if (kind == CACHE_POLICY)
		e.policy = mkpolicy();
	cache_mem_put(c, dom, &e);
}

static void
lru_eviction_order(void **state)
{
	struct cache_mem *c = cache_mem_new(3);

	put(c, "a.example", CACHE_POLICY, 100);
	put(c, "b.example", CACHE_POLICY, 100);
	put(c, "c.example", CACHE_POLICY, 100);
	assert_int_equal(cache_mem_count(c), 3);
	/* Touch a: b is now the least recently used. */
	assert_non_null(cache_mem_get(c, "a.example"));
	put(c, "d.example", CACHE_POLICY, 100);
	assert_int_equal(cache_mem_count(c), 3);
	assert_null(cache_mem_peek(c, "b.example"));
	assert_non_null(cache_mem_peek(c, "a.example"));
	assert_non_null(cache_mem_peek(c, "c.example"));
	assert_non_null(cache_mem_peek(c, "d.example"));
	assert_int_equal(cache_mem_evictions(c), 1);
	/* peek does not touch: c stays LRU and goes next. */
	assert_non_null(cache_mem_peek(c, "c.example"));
	put(c, "e.example", CACHE_POLICY, 100);
	assert_null(cache_mem_peek(c, "c.example"));
	assert_int_equal(cache_mem_evictions(c), 2);
	assert_int_equal(SIZE(c, evictions, CACHE_MEM_NEGATIVE), 0);
	c = cache_mem_free(c);
	assert_null(c);
}

/* Negative entries have their own bound: however many come, a policy stays; the negative
 * LRU evicts only its own oldest, and a policy only ever evicts a policy. */
static void
negative_never_evicts_policy(void **state)
{
	struct cache_mem *c = cache_mem_new(3);
	char dom[64];
	size_t i;

	cache_mem_set_max_negative(c, 2);
	assert_int_equal(cache_mem_max(c), 3);
	assert_int_equal(SIZE(c, max, CACHE_MEM_NEGATIVE), 2);
	put(c, "p1.example", CACHE_POLICY, 100);
	put(c, "p2.example", CACHE_POLICY, 100);
	for (i = 0; i < 1000; i++) {
		(void)snprintf(dom, sizeof(dom), "n%zu.example", i);
		put(c, dom, i % 2 == 0 ? CACHE_NO_POLICY : CACHE_TEMPFAIL, 100);
	}
	assert_non_null(cache_mem_peek(c, "p1.example"));
	assert_non_null(cache_mem_peek(c, "p2.example"));
	assert_int_equal(cache_mem_count(c), 4);
	assert_int_equal(SIZE(c, count, CACHE_MEM_NEGATIVE), 2);
	assert_non_null(cache_mem_peek(c, "n999.example"));
	assert_non_null(cache_mem_peek(c, "n998.example"));
	assert_null(cache_mem_peek(c, "n997.example"));
	assert_int_equal(cache_mem_evictions(c), 0);
	assert_int_equal(SIZE(c, evictions, CACHE_MEM_NEGATIVE), 998);
	/* Policies fill their own budget: the least recently used policy goes, never a
	 * negative entry. */
	put(c, "p3.example", CACHE_POLICY, 100);
	(void)cache_mem_get(c, "p1.example");
	put(c, "p4.example", CACHE_POLICY, 100);
	assert_null(cache_mem_peek(c, "p2.example"));
	assert_non_null(cache_mem_peek(c, "p1.example"));
	assert_int_equal(cache_mem_evictions(c), 1);
	assert_int_equal(SIZE(c, count, CACHE_MEM_NEGATIVE), 2);
	/* A kind change moves the entry: a policy that became "no policy" (it expired, then
	 * discovery found none) counts against the negative bound, and the reverse. */
	put(c, "p1.example", CACHE_NO_POLICY, 100);
	assert_int_equal(cache_mem_peek(c, "p1.example")->kind, CACHE_NO_POLICY);
	assert_null(cache_mem_peek(c, "n998.example")); /* the oldest negative made room */
	assert_int_equal(cache_mem_count(c), 4);
	put(c, "n999.example", CACHE_POLICY, 100);
	assert_int_equal(cache_mem_peek(c, "n999.example")->kind, CACHE_POLICY);
	assert_int_equal(SIZE(c, count, CACHE_MEM_NEGATIVE), 1);
	assert_int_equal(cache_mem_count(c), 4);
	/* Shrinking the negative bound leaves the policies alone. */
	cache_mem_set_max_negative(c, 1);
	cache_mem_set_max(c, 3);
	assert_int_equal(cache_mem_count(c), 4);
	cache_mem_free(c);
}

static void
bound_holds_under_load(void **state)
{
	struct cache_mem *c = cache_mem_new(1000);
	char dom[64];
	size_t i;

	for (i = 0; i < 20000; i++) {
		(void)snprintf(dom, sizeof(dom), "d%zu.example", i);
		put(c, dom, CACHE_POLICY, 100);
		assert_true(cache_mem_count(c) <= 1000);
	}
	assert_int_equal(cache_mem_count(c), 1000);
	assert_int_equal(cache_mem_evictions(c), 19000);
	/* The last 1000 survive, the rest are gone. */
	for (i = 0; i < 20000; i++) {
		(void)snprintf(dom, sizeof(dom), "d%zu.example", i);
		if (i >= 19000)
			assert_non_null(cache_mem_peek(c, dom));
		else
			assert_null(cache_mem_peek(c, dom));
	}
	/* Shrinking the bound evicts down to it, oldest first. */
	cache_mem_set_max(c, 10);
	assert_int_equal(cache_mem_count(c), 10);
	assert_non_null(cache_mem_peek(c, "d19999.example"));
	assert_null(cache_mem_peek(c, "d19989.example"));
	assert_int_equal(cache_mem_max(c), 10);
	cache_mem_free(c);
}

static void
replace_delete_purge(void **state)
{
	struct cache_mem *c = cache_mem_new(10);
	const struct cache_entry *e;

	put(c, "x.example", CACHE_POLICY, 50);
	put(c, "x.example", CACHE_POLICY, 70); /* replaces, frees the old policy */
	assert_int_equal(cache_mem_count(c), 1);
	e = cache_mem_peek(c, "x.example");
	assert_int_equal(e->expires_at, 70);
	assert_string_equal(e->id, "id9");
	assert_int_equal(e->policy->mode, STS_MODE_ENFORCE);
	put(c, "y.example", CACHE_NO_POLICY, 40);
	put(c, "z.example", CACHE_TEMPFAIL, 60);
	assert_int_equal(cache_mem_delete(c, "y.example"), 0);
	assert_int_equal(cache_mem_delete(c, "y.example"), -ENOENT);
	assert_int_equal(cache_mem_count(c), 2);
	/* expires_at <= now goes. */
	assert_int_equal(cache_mem_purge_expired(c, 60), 1);
	assert_null(cache_mem_peek(c, "z.example"));
	assert_non_null(cache_mem_peek(c, "x.example"));
	cache_mem_clear(c);
	assert_int_equal(cache_mem_count(c), 0);
	assert_null(cache_mem_get(c, "x.example"));
	cache_mem_free(c);
}

static int
visit(const char *dom, const struct cache_entry *e, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	(void)snprintf(out + n, 64 - n, "%s ", dom);
	return strcmp(dom, "c") == 0;
}

static void
foreach_lru_order_and_stop(void **state)
{
	struct cache_mem *c = cache_mem_new(0); /* treated as 1 */
	char out[64] = "";

	assert_int_equal(cache_mem_max(c), 1);
	assert_int_equal(SIZE(c, max, CACHE_MEM_NEGATIVE), 1);
	cache_mem_set_max(c, 8);
	cache_mem_set_max_negative(c, 8);
	put(c, "a", CACHE_NO_POLICY, 1);
	put(c, "b", CACHE_NO_POLICY, 1);
	put(c, "c", CACHE_NO_POLICY, 1);
	put(c, "d", CACHE_NO_POLICY, 1);
	(void)cache_mem_get(c, "a");
	/* Oldest first: b c d a; the visitor stops after c. */
	cache_mem_foreach(c, 100, visit, out);
	assert_string_equal(out, "b c ");
	out[0] = '\0';
	cache_mem_foreach(c, 1, visit, out);
	assert_string_equal(out, "b ");
	/* Policies come first, then the negative entries. */
	put(c, "p", CACHE_POLICY, 1);
	out[0] = '\0';
	cache_mem_foreach(c, 3, visit, out);
	assert_string_equal(out, "p b c ");
	out[0] = '\0';
	cache_mem_foreach_recent(c, 3, visit, out);
	assert_string_equal(out, "p a d ");
	cache_mem_free(c);
}

static void
many_buckets_grow(void **state)
{
	struct cache_mem *c = cache_mem_new(100000);
	char dom[64];
	size_t i;

	for (i = 0; i < 5000; i++) {
		(void)snprintf(dom, sizeof(dom), "host%zu.example", i);
		put(c, dom, CACHE_NO_POLICY, (time_t)i);
	}
	for (i = 0; i < 5000; i++) {
		(void)snprintf(dom, sizeof(dom), "host%zu.example", i);
		assert_int_equal(cache_mem_peek(c, dom)->expires_at, (time_t)i);
	}
	assert_int_equal(cache_mem_purge_expired(c, 2500), 2501);
	assert_int_equal(cache_mem_count(c), 2499);
	cache_mem_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lru_eviction_order),
	        cmocka_unit_test(negative_never_evicts_policy),
	        cmocka_unit_test(bound_holds_under_load),
	        cmocka_unit_test(replace_delete_purge),
	        cmocka_unit_test(foreach_lru_order_and_stop),
	        cmocka_unit_test(many_buckets_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
