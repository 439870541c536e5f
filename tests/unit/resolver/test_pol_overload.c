/*
 * tests/unit/resolver/test_pol_overload.c - the policy engine under load (issue 16 part 2)
 *
 * On the fake DNS/HTTPS world (fake_world.h, a "*" wildcard entry standing for a wildcard
 * zone) and the fake clock:
 *  - the refresh schedule reaches every cached policy whatever the cache size: 50 000
 *    policies whose refresh times fall in the reverse of their LRU order (the newest expire
 *    first, as a bounded scan of the least recently used 20 000 would never see in time)
 *    are each refreshed once, none expires;
 *  - a tarpit policy host behind 1000 distinct domains: discoveries in flight and queued
 *    fetches stay within max_discoveries and fetch_queue_max, lookups over them are
 *    answered at once as timed out and counted, a cached policy still answers, and its
 *    due refresh starts and completes while every lookup fetch slot is held by the tarpit
 *    and the fetch queue is full;
 *    a reload restarts the queued discoveries within the same bounds;
 *  - the due-time heap of cache_mem: order kept through puts, kind changes, re-keys and
 *    deletions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache_mem.h"
#include "cfg.h"
#include "err.h"
#include "fake_world.h"
#include "log.h"
#include "loop.h"
#include "pipeline.h"
#include "pol_engine.h"

#define N_POLICIES 50000
#define HOUR_S     3600

/* A policy entry for dom fetched at fetched_at, valid for life seconds. */
static void
seed(struct cache_mem *cache, const char *dom, time_t fetched_at, time_t life)
{
	struct cache_entry e = {.kind = CACHE_POLICY};

	e.policy = policy("enforce", "mail.example.net");
	(void)snprintf(e.id, sizeof(e.id), "seed1");
	e.fetched_at = fetched_at;
	e.expires_at = fetched_at + life;
	e.last_check = fetched_at;
	cache_mem_put(cache, dom, &e);
}

struct seen {
	time_t start;
	size_t policies, refreshed, valid;
	time_t now;
};

static int
count_visit(const char *dom, const struct cache_entry *ce, void *arg)
{
	struct seen *s = arg;

	if (ce->kind != CACHE_POLICY)
		return 1;
	s->policies++;
	if (ce->fetched_at > s->start)
		s->refreshed++;
	if (ce->expires_at > s->now)
		s->valid++;
	return 0;
}

static void
refresh_reaches_every_policy(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(N_POLICIES);
	struct loop *loop;
	struct pol_engine *e;
	char *body = fw_policy_text("enforce", "mail.example.net", 86400);
	struct seen s = {0};
	char dom[64];
	time_t now;
	unsigned i;

	c->resolver.refresh_before_ms = (uint64_t)HOUR_S * 1000;
	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	fw_reset();
	fw_add("*", "v=STSv1; id=seed1;", 0, body, 0)->delay_ms = 5; /* same id: a re-fetch */
	now = loop_wall_s(loop);
	/* Inserted oldest first; entry i expires 2 h + (N-1-i) * 3600 / N s from now: the
	 * most recently used expire first (from 2 h), the least recently used last (3 h); each
	 * is due an hour (and its jitter) before. */
	for (i = 0; i < N_POLICIES; i++) {
		time_t expires =
		        now + 2 * HOUR_S + (time_t)(N_POLICIES - 1 - i) * HOUR_S / N_POLICIES;

		(void)snprintf(dom, sizeof(dom), "d%u.example", i);
		seed(cache, dom, expires - 86400, 86400);
	}
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	/* 3.5 h of virtual time, a minute at a time. */
	for (i = 0; i < 210; i++)
		(void)loop_fake_advance(loop, 60000);
	s.start = now;
	s.now = loop_wall_s(loop);
	cache_mem_foreach(cache, 2 * N_POLICIES, count_visit, &s);
	assert_int_equal(s.policies, N_POLICIES);
	assert_int_equal(s.refreshed, N_POLICIES);
	assert_int_equal(s.valid, N_POLICIES);
	assert_int_equal(pol_engine_counters(e)->background_refreshes, N_POLICIES);
	assert_int_equal(pol_engine_counters(e)->policies_stored, N_POLICIES);
	free(body);
	engine_teardown(e, cache, loop, c);
	fw_reset();
}

struct tally {
	unsigned done, timeout, tempfail, policy, enospc;
};

static void
tally_done(const struct pol_answer *a, void *arg)
{
	struct tally *t = arg;

	t->done++;
	if (a->status == POL_TIMEOUT)
		t->timeout++;
	if (a->status == POL_TEMPFAIL)
		t->tempfail++;
	if (a->status == POL_POLICY)
		t->policy++;
	if (a->err == -ENOSPC)
		t->enospc++;
}

#define TARPIT_DOMAINS 1000

static void
tarpit_keeps_bounds_and_refreshes(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	char *body = fw_policy_text("enforce", "mail.real.example", 86400);
	struct tally t = {0}, t2 = {0};
	struct pol_waiter *w;
	struct run run;
	char *reply;
	const struct cache_entry *ce;
	char dom[64];
	time_t now;
	unsigned i;

	c->resolver.fetch_concurrency = 4;
	c->resolver.fetch_queue_max = 8;
	c->resolver.max_discoveries = 16;
	c->resolver.refresh_concurrency = 2;
	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	fw_reset();
	/* Every other domain: a TXT record, and a policy host that never answers. */
	fw_add("*", "v=STSv1; id=tar1;", 0, NULL, ERR_FETCH_TIMEOUT)->fetch_delay_ms = 3600000;
	fw_add("real.example", "v=STSv1; id=new1;", 0, body, 0)->delay_ms = 10;
	now = loop_wall_s(loop);
	/* A cached policy due for refresh (refresh_before 1 d, 2 h left), re-checked now. */
	seed(cache, "real.example", now - 86400 + 2 * HOUR_S, 86400);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	for (i = 0; i < TARPIT_DOMAINS; i++) {
		(void)snprintf(dom, sizeof(dom), "t%u.tarpit.example", i);
		pol_lookup(e, dom, 100, tally_done, &t, &w);
		assert_true(pol_engine_foreground(e) <= 16);
		if (i % 50 == 0)
			(void)loop_fake_advance(loop, 1);
		assert_true(pol_engine_fetch_queued(e) <= 8);
	}
	(void)loop_fake_advance(loop, 200);
	/* The first 16 started: 4 fetch, 8 wait for a slot, 4 found the queue full (a
	 * temporary failure, NOTFOUND like a timeout); the 12 lookups waiting timed out; all
	 * the others were answered at once as timed out. */
	assert_int_equal(t.done, TARPIT_DOMAINS);
	assert_int_equal(t.tempfail, 4);
	assert_int_equal(t.timeout, TARPIT_DOMAINS - 4);
	assert_int_equal(t.enospc, TARPIT_DOMAINS - 12);
	assert_int_equal(pol_engine_foreground(e), 12);
	assert_int_equal(pol_engine_fetch_queued(e), 8);
	assert_int_equal(pol_engine_counters(e)->rejected_discoveries +
	                         pol_engine_counters(e)->rejected_fetch_queue,
	                 t.enospc);
	/* The cached policy answers at once while over the caps. */
	reply = pipeline(loop, e, &c->resolver, "postfix", "real.example", &run);
	assert_string_equal(reply, "OK secure match=mail.example.net servername=hostname");
	assert_int_equal(run.a.cached, 1);
	free(reply);
	run_free(&run);
	/* A new domain is answered at once as timed out. */
	pol_lookup(e, "new.tarpit.example", 100, tally_done, &t2, &w);
	assert_null(w);
	assert_int_equal(t2.timeout, 1);
	assert_int_equal(t2.enospc, 1);
	/* The refresh ran in a slot of its own, though every lookup fetch slot is held. */
	(void)loop_fake_advance(loop, 3000);
	assert_int_equal(pol_engine_counters(e)->background_refreshes, 1);
	ce = cache_mem_peek(cache, "real.example");
	assert_non_null(ce);
	assert_string_equal(ce->id, "new1");
	assert_true(ce->fetched_at >= now && ce->expires_at > now + 86000);
	assert_int_equal(pol_engine_fetch_queued(e), 8);
	assert_int_equal(pol_engine_background(e), 0);
	/* A reload restarts every discovery; the bounds hold through it. */
	assert_int_equal(pol_engine_reload(e, &c->resolver), 0);
	assert_true(pol_engine_foreground(e) <= 16);
	(void)loop_fake_advance(loop, 100);
	assert_true(pol_engine_foreground(e) <= 16);
	assert_true(pol_engine_fetch_queued(e) <= 8);
	free(body);
	engine_teardown(e, cache, loop, c);
	fw_reset();
}

static void
due_heap_order(void **state)
{
	struct cache_mem *c = cache_mem_new(4096);
	struct cache_entry e = {.kind = CACHE_POLICY};
	const struct cache_entry *ce;
	const char *dom;
	time_t due, last = 0;
	char name[32];
	size_t n = 0;
	unsigned i;

	srand(16);
	for (i = 0; i < 3000; i++) {
		(void)snprintf(name, sizeof(name), "h%u.example", i);
		e.policy = policy("testing", "mx.example");
		e.kind = CACHE_POLICY;
		e.expires_at = 1000 + rand() % 100000;
		cache_mem_put(c, name, &e);
	}
	/* Replace some (new due), turn some negative, re-key some, delete some. */
	for (i = 0; i < 3000; i += 7) {
		(void)snprintf(name, sizeof(name), "h%u.example", i);
		e.policy = policy("testing", "mx.example");
		e.expires_at = 1000 + rand() % 100000;
		cache_mem_put(c, name, &e);
	}
	for (i = 1; i < 3000; i += 11) {
		struct cache_entry neg = {.kind = CACHE_TEMPFAIL, .expires_at = 5};

		(void)snprintf(name, sizeof(name), "h%u.example", i);
		cache_mem_put(c, name, &neg);
	}
	for (i = 2; i < 3000; i += 13) {
		(void)snprintf(name, sizeof(name), "h%u.example", i);
		(void)cache_mem_set_due(c, name, rand() % 200000);
	}
	for (i = 3; i < 3000; i += 17) {
		(void)snprintf(name, sizeof(name), "h%u.example", i);
		(void)cache_mem_delete(c, name);
	}
	assert_int_equal(cache_mem_set_due(c, "h1.example", 5), -ENOENT); /* negative now */
	{
		struct cache_mem_sizes sz;

		cache_mem_sizes(c, &sz);
		while ((ce = cache_mem_due_first(c, &dom, &due)) != NULL) {
			assert_true(due >= last);
			assert_int_equal(ce->kind, CACHE_POLICY);
			last = due;
			(void)snprintf(name, sizeof(name), "%s", dom);
			assert_int_equal(cache_mem_delete(c, name), 0);
			n++;
		}
		assert_int_equal(n, sz.count[CACHE_MEM_POLICIES]);
	}
	(void)cache_mem_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(due_heap_order),
	        cmocka_unit_test(tarpit_keeps_bounds_and_refreshes),
	        cmocka_unit_test(refresh_reaches_every_policy),
	};

	log_open("test_pol_overload", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
