/*
 * tests/unit/resolver/test_cache_mem.c - bounded in-memory LRU (resolver/cache_mem.c)
 *
 * Real values: which entries survive eviction, the two bounds (policies, negative entries:
 * a negative entry never evicts a policy), counts, purge by expiry, replacement that frees
 * the old policy and moves an entry between the two when its kind changes (ASan/valgrind
 * catch a leak or double free). The compact layout (issue 21 round 4): the bytes of one
 * entry, the largest policy read back field by field, times at the edges of the 32-bit
 * range (clamped, never wrapped), views: in-place changes written back, a view re-put.
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
#include "xalloc.h"

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

/* A policy built in code (not packed): n_mx patterns, n_ext extensions, as long as allowed. */
static struct sts_policy *
mkbig(size_t n_mx, size_t n_ext, size_t mx_len)
{
	struct sts_policy *p = xcalloc(1, sizeof(*p));
	char buf[DOMAIN_NAME_MAX + 1];
	size_t i, len;

	p->mode = STS_MODE_TESTING;
	p->max_age_s = STS_MAX_AGE_MAX;
	p->n_mx = n_mx;
	p->mx = xcalloc(n_mx, sizeof(*p->mx));
	for (i = 0; i < n_mx; i++) {
		len = (size_t)snprintf(buf, sizeof(buf), "*.m%zu.", i);
		while (len < mx_len) /* labels of at most 63 bytes */
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s",
			                        mx_len - len > 10 ? "abcdefghi." : "z");
		p->mx[i] = xstrdup(buf);
	}
	p->n_ext = (uint16_t)n_ext;
	p->ext = n_ext > 0 ? xcalloc(n_ext, sizeof(*p->ext)) : NULL;
	for (i = 0; i < n_ext; i++) {
		(void)snprintf(buf, sizeof(buf), "ext%zu", i);
		p->ext[i].name = xstrdup(buf);
		(void)snprintf(buf, sizeof(buf), "value %zu of extension", i);
		p->ext[i].value = xstrdup(buf);
	}
	p->n_mx_dropped = UINT16_MAX;
	p->tolerated = STS_TOLERATED_BOM | STS_TOLERATED_IP_MX;
	return p;
}

static void
assert_same_policy(const struct sts_policy *a, const struct sts_policy *b)
{
	size_t i;

	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->max_age_s, b->max_age_s);
	assert_int_equal(a->n_mx, b->n_mx);
	assert_int_equal(a->n_ext, b->n_ext);
	assert_int_equal(a->n_mx_dropped, b->n_mx_dropped);
	assert_int_equal(a->tolerated, b->tolerated);
	for (i = 0; i < a->n_mx; i++)
		assert_string_equal(a->mx[i], b->mx[i]);
	for (i = 0; i < a->n_ext; i++) {
		assert_string_equal(a->ext[i].name, b->ext[i].name);
		assert_string_equal(a->ext[i].value, b->ext[i].value);
	}
}

/* One allocation per entry, of the size the layout says: 88 bytes of node (LP64), the mx
 * pointers, the id without NUL, the name and the patterns with theirs. */
static void
entry_bytes(void **state)
{
	const char *t = "version: STSv1\r\nmode: enforce\r\nmx: mail.d12345.example.net\r\n"
	                "mx: *.mx.d12345.example.net\r\nmax_age: 604800\r\n";
	struct cache_entry e = {.kind = CACHE_POLICY, .expires_at = 100};
	struct cache_entry n = {.kind = CACHE_NO_POLICY, .expires_at = 100};
	struct cache_mem *c = cache_mem_new(10);
	struct sts_policy *p = NULL;

	assert_int_equal(sts_policy_parse(t, strlen(t), &p, NULL), 0);
	(void)snprintf(e.id, sizeof(e.id), "20261130T0000z000000000000012345");
	e.policy = p;
	if (sizeof(void *) == 8) {
		/* 88 + 2 * 8 + 32 + 19 + 2 * 24: under 216, so one 224-byte malloc chunk */
		assert_int_equal(cache_mem_entry_size("d12345.example.net", &e), 203);
		assert_int_equal(cache_mem_entry_size("d12345.example.net", &n), 88 + STS_ID_MAX);
	}
	cache_mem_put(c, "d12345.example.net", &e); /* takes p */
	assert_string_equal(cache_mem_peek(c, "d12345.example.net")->id,
	                    "20261130T0000z000000000000012345");
	assert_string_equal(cache_mem_peek(c, "d12345.example.net")->policy->mx[1],
	                    "*.mx.d12345.example.net");
	cache_mem_free(c);
}

/* The largest entry: a 253-byte name, a 32-byte id, STS_EXT_MAX extensions, 253-byte
 * patterns, and separately STS_MX_MAX patterns: every field reads back as put. */
static void
largest_policy(void **state)
{
	struct cache_mem *c = cache_mem_new(4);
	struct cache_entry e = {.kind = CACHE_POLICY,
	                        .fetched_at = 1,
	                        .expires_at = (time_t)CACHE_MEM_TIME_MAX,
	                        .last_check = 2,
	                        .retry_after = 3,
	                        .last_used = 4,
	                        .last_error = ERR_BASE - 999};
	struct sts_policy *ref = mkbig(64, STS_EXT_MAX, DOMAIN_NAME_MAX);
	const struct cache_entry *got;
	char dom[DOMAIN_NAME_MAX + 1];
	size_t i;

	memset(dom, 'a', DOMAIN_NAME_MAX);
	for (i = 63; i < DOMAIN_NAME_MAX; i += 64)
		dom[i] = '.';
	dom[DOMAIN_NAME_MAX] = '\0';
	memset(e.id, 'Z', STS_ID_MAX);
	e.id[STS_ID_MAX] = '\0';
	e.policy = mkbig(64, STS_EXT_MAX, DOMAIN_NAME_MAX);
	assert_int_equal(strlen(e.policy->mx[63]), DOMAIN_NAME_MAX);
	cache_mem_put(c, dom, &e);
	got = cache_mem_peek(c, dom);
	assert_non_null(got);
	assert_int_equal(strlen(got->id), STS_ID_MAX);
	assert_memory_equal(got->id, e.id, STS_ID_MAX + 1);
	assert_int_equal(got->kind, CACHE_POLICY);
	assert_int_equal(got->fetched_at, 1);
	assert_int_equal(got->expires_at, (time_t)CACHE_MEM_TIME_MAX);
	assert_int_equal(got->last_check, 2);
	assert_int_equal(got->retry_after, 3);
	assert_int_equal(got->last_used, 4);
	assert_int_equal(got->last_error, ERR_BASE - 999);
	assert_same_policy(got->policy, ref);
	ref = sts_policy_free(ref);

	/* STS_MX_MAX patterns (more than any body can hold) of a short name. */
	ref = mkbig(STS_MX_MAX, 0, 8);
	e.policy = mkbig(STS_MX_MAX, 0, 8);
	memset(e.id, 0, sizeof(e.id)); /* an empty id */
	cache_mem_put(c, "many.example", &e);
	got = cache_mem_get(c, "many.example");
	assert_string_equal(got->id, "");
	assert_int_equal(got->policy->n_mx, STS_MX_MAX);
	assert_same_policy(got->policy, ref);
	assert_null(got->policy->ext);
	ref = sts_policy_free(ref);
	/* The first one is still intact beside it. */
	assert_int_equal(strlen(cache_mem_peek(c, dom)->policy->mx[0]), DOMAIN_NAME_MAX);
	cache_mem_free(c);
}

static time_t
due_plus_one(const char *dom, const struct cache_entry *e, void *arg)
{
	(void)dom;
	(void)arg;
	return e->expires_at + 1;
}

/* Times at the edges of 0..CACHE_MEM_TIME_MAX: inside they read back exactly; outside they
 * are clamped (negative -> 0, above -> CACHE_MEM_TIME_MAX), never wrapped: a far expiry
 * does not become "expired long ago", a negative one does not become "valid forever". */
static void
time_edges(void **state)
{
	struct cache_mem *c = cache_mem_new(8);
	const struct cache_entry *got;
	struct cache_entry *m;
	const char *dom;
	time_t due;

	put(c, "zero.example", CACHE_POLICY, 0);
	put(c, "max.example", CACHE_POLICY, (time_t)CACHE_MEM_TIME_MAX);
	put(c, "over.example", CACHE_POLICY, (time_t)CACHE_MEM_TIME_MAX + 1);
	put(c, "far.example", CACHE_POLICY, INT64_MAX);
	put(c, "neg.example", CACHE_TEMPFAIL, -5);
	put(c, "min.example", CACHE_NO_POLICY, INT64_MIN);
	put(c, "y2038.example", CACHE_POLICY, (time_t)INT32_MAX + 101);
	assert_int_equal(cache_mem_peek(c, "zero.example")->expires_at, 0);
	assert_int_equal(cache_mem_peek(c, "max.example")->expires_at, (time_t)CACHE_MEM_TIME_MAX);
	assert_int_equal(cache_mem_peek(c, "over.example")->expires_at, (time_t)CACHE_MEM_TIME_MAX);
	assert_int_equal(cache_mem_peek(c, "far.example")->expires_at, (time_t)CACHE_MEM_TIME_MAX);
	assert_int_equal(cache_mem_peek(c, "neg.example")->expires_at, 0);
	assert_int_equal(cache_mem_peek(c, "min.example")->expires_at, 0);
	assert_int_equal(cache_mem_peek(c, "y2038.example")->expires_at, (time_t)INT32_MAX + 101);
	/* The refresh schedule (due = expires_at without a due function) in time order. */
	got = cache_mem_due_first(c, &dom, &due);
	assert_string_equal(dom, "zero.example");
	assert_int_equal(due, 0);
	assert_int_equal(got->expires_at, 0);
	/* Expiry compares with the full time: now = 2^31 purges the past ones only. */
	assert_int_equal(cache_mem_purge_expired(c, (time_t)INT32_MAX + 1), 3);
	assert_non_null(cache_mem_peek(c, "y2038.example"));
	assert_non_null(cache_mem_peek(c, "far.example"));
	assert_null(cache_mem_peek(c, "neg.example"));
	assert_int_equal(cache_mem_purge_expired(c, (time_t)INT32_MAX + 100), 0);
	/* set_due outside the range lands at its ends. */
	assert_int_equal(cache_mem_set_due(c, "max.example", INT64_MAX), 0);
	assert_int_equal(cache_mem_set_due(c, "far.example", (time_t)CACHE_MEM_TIME_MAX - 10), 0);
	assert_int_equal(cache_mem_set_due(c, "over.example", -1), 0);
	got = cache_mem_due_first(c, &dom, &due);
	assert_string_equal(dom, "over.example");
	assert_int_equal(due, 0);
	assert_int_equal(cache_mem_delete(c, "over.example"), 0);
	got = cache_mem_due_first(c, &dom, &due);
	assert_string_equal(dom, "y2038.example");
	assert_int_equal(due, (time_t)INT32_MAX + 101);
	(void)cache_mem_set_due(c, "y2038.example", (time_t)CACHE_MEM_TIME_MAX);
	got = cache_mem_due_first(c, &dom, &due);
	assert_string_equal(dom, "far.example"); /* CACHE_MEM_TIME_MAX - 10 */
	/* A due function's answer is clamped the same way. */
	cache_mem_set_due_fn(c, due_plus_one, NULL);
	got = cache_mem_due_first(c, &dom, &due);
	assert_string_equal(got->id, "id13"); /* y2038.example: 2^31 + 101 + 1 */
	assert_int_equal(due, (time_t)INT32_MAX + 102);
	assert_int_equal(cache_mem_delete(c, "y2038.example"), 0);
	got = cache_mem_due_first(c, &dom, &due);
	assert_int_equal(due, (time_t)CACHE_MEM_TIME_MAX); /* the maximum + 1, clamped */
	/* Changed in place through get: written back clamped at the next call. */
	m = cache_mem_get(c, "far.example");
	m->retry_after = -7;
	m->last_used = INT64_MAX;
	m->last_check = (time_t)CACHE_MEM_TIME_MAX;
	m->last_error = ERR_BASE;
	got = cache_mem_peek(c, "far.example");
	assert_int_equal(got->retry_after, 0);
	assert_int_equal(got->last_used, (time_t)CACHE_MEM_TIME_MAX);
	assert_int_equal(got->last_check, (time_t)CACHE_MEM_TIME_MAX);
	assert_int_equal(got->last_error, ERR_BASE);
	cache_mem_free(c);
}

static int
count_cb(const char *dom, const struct cache_entry *e, void *arg)
{
	(*(size_t *)arg)++;
	assert_non_null(e->policy);
	assert_string_equal(e->policy->mx[0], "mail.example.com");
	return 0;
}

/* Views: get's survives peeks and is written back; a re-put of a view copies its policy
 * (and does not free the cache's); a view of a replaced entry no longer reaches it. */
static void
views(void **state)
{
	struct cache_mem *c = cache_mem_new(8);
	struct cache_entry *m, copy;
	const struct cache_entry *p;
	size_t n = 0;

	put(c, "a.example", CACHE_POLICY, 100);
	put(c, "b.example", CACHE_POLICY, 200);
	m = cache_mem_get(c, "a.example");
	m->last_check = 50;
	p = cache_mem_peek(c, "b.example");
	assert_int_equal(p->expires_at, 200);
	assert_int_equal(m->expires_at, 100); /* still a's */
	m->last_used = 60;                    /* after a peek: still reaches a */
	assert_int_equal(cache_mem_peek(c, "a.example")->last_check, 50);
	assert_int_equal(cache_mem_peek(c, "a.example")->last_used, 60);
	/* Re-put what peek returned, with a new expiry: the policy is copied. */
	copy = *cache_mem_peek(c, "a.example");
	copy.expires_at = 300;
	cache_mem_put(c, "a.example", &copy);
	p = cache_mem_peek(c, "a.example");
	assert_int_equal(p->expires_at, 300);
	assert_int_equal(p->last_used, 60);
	assert_string_equal(p->policy->mx[0], "mail.example.com");
	/* get's view of the replaced node is detached: writing to it changes nothing. */
	m->last_used = 999;
	assert_int_equal(cache_mem_peek(c, "a.example")->last_used, 60);
	/* Re-put get's own view (kind change to a negative entry and back). */
	m = cache_mem_get(c, "b.example");
	m->kind = CACHE_NO_POLICY;
	m->policy = NULL;
	cache_mem_put(c, "b.example", m);
	assert_int_equal(SIZE(c, count, CACHE_MEM_NEGATIVE), 1);
	assert_null(cache_mem_peek(c, "b.example")->policy);
	put(c, "b.example", CACHE_POLICY, 400);
	cache_mem_foreach(c, 10, count_cb, &n);
	assert_int_equal(n, 2);
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
	        cmocka_unit_test(entry_bytes),
	        cmocka_unit_test(largest_policy),
	        cmocka_unit_test(time_edges),
	        cmocka_unit_test(views),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
