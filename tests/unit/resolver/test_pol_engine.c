/*
 * tests/unit/resolver/test_pol_engine.c - the policy engine (resolver/pol_engine.c)
 *
 * Scenarios on the fake DNS/HTTPS world (fake_world.h, link-time fakes of dns_client and
 * https_fetch) and a fake clock (loop_new_fake()): the world answers after its per-domain
 * delay in virtual time, and the tests move the clock (loop_fake_run() until the answers
 * are in, loop_fake_advance() for a fixed time), so nothing waits for real time.
 * Covers: 100 lookups of one domain make one discovery (coalescing) and later ones are
 * cache hits; a cached policy is kept through a failed fetch after a changed TXT id, with
 * no new background work before retry_after; a lookup's own timeout while the discovery
 * goes on and fills the cache; negative and temporary-failure caching (keys normalised,
 * keys without a policy never reach the engine); lookups canceled one by one and by
 * pol_engine_free(). Lookups go through pipeline.h where the reply matters.
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

struct multi {
	struct loop *loop;
	unsigned done, policies, want;
	enum pol_status last;
};

static void
multi_done(const struct pol_answer *a, void *arg)
{
	struct multi *m = arg;

	m->done++;
	m->last = a->status;
	if (a->status == POL_POLICY)
		m->policies++;
	if (m->want > 0 && m->done == m->want)
		loop_exit(m->loop, 0);
}

static void
engine_coalesces(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct multi m = {0};
	char *body = fw_policy_text("enforce", "mail.example.com", 86400);
	unsigned i;

	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	fw_add("example.com", "v=STSv1; id=abc;", 0, body, 0)->delay_ms = 20;
	m.loop = loop;
	m.want = 100;
	for (i = 0; i < 100; i++) {
		struct pol_waiter *w;

		pol_lookup(e, "example.com", 5000, multi_done, &m, &w);
		assert_non_null(w);
	}
	assert_int_equal(pol_engine_jobs(e), 1);
	assert_int_equal(pol_engine_waiters(e), 100);
	assert_int_equal(loop_fake_run(loop, GUARD_MS), 0);
	assert_int_equal(m.done, 100);
	assert_int_equal(m.policies, 100);
	assert_int_equal(fw_queries, 1);
	assert_int_equal(fw_fetches, 1);
	assert_int_equal(pol_engine_counters(e)->coalesced, 99);
	assert_int_equal(pol_engine_counters(e)->fetch_ok, 1);
	/* A later lookup is a cache hit, answered before pol_lookup returns. */
	m.want = 0;
	{
		struct pol_waiter *w = (struct pol_waiter *)1;

		pol_lookup(e, "example.com", 5000, multi_done, &m, &w);
		assert_null(w);
	}
	assert_int_equal(m.done, 101);
	assert_int_equal(pol_engine_counters(e)->cache_hits, 1);
	free(body);
	engine_teardown(e, cache, loop, c);
	fw_reset();
}

static void
engine_changed_id_failed_fetch_keeps_policy(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct run run;
	char *reply;
	const struct cache_entry *ce;
	struct cache_entry seed = {.kind = CACHE_POLICY};
	time_t now;

	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	now = loop_wall_s(loop);
	seed.policy = policy("enforce", "mail.example.com");
	(void)snprintf(seed.id, sizeof(seed.id), "old1");
	seed.fetched_at = now - 7200;
	seed.expires_at = now + 86400;
	seed.last_check = now - 7200; /* older than recheck_interval (1 h default) */
	cache_mem_put(cache, "example.com", &seed);
	fw_add("example.com", "v=STSv1; id=new2;", 0, NULL, ERR_FETCH_HTTP);
	/* The re-check is due: the lookup waits for it, it sees id new2, the fetch fails, and
	 * the cached policy answers (issue 22; tests/unit/resolver/test_pol_cache.c). */
	reply = pipeline(loop, e, &c->resolver, "postfix", "example.com", &run);
	assert_string_equal(reply, "OK secure match=mail.example.com servername=hostname");
	assert_int_equal(run.a.cached, 0);
	assert_int_equal(run.a.err, ERR_FETCH_HTTP);
	free(reply);
	run_free(&run);
	assert_int_equal(pol_engine_counters(e)->lookup_rechecks, 1);
	/* Let the re-check see id new2 and the fetch fail. */
	(void)loop_fake_advance(loop, 100);
	assert_int_equal(pol_engine_jobs(e), 0);
	assert_int_equal(fw_fetches, 1);
	assert_int_equal(pol_engine_counters(e)->txt_changed, 1);
	assert_int_equal(pol_engine_counters(e)->stale_kept, 1);
	ce = cache_mem_peek(cache, "example.com");
	assert_non_null(ce);
	assert_int_equal(ce->kind, CACHE_POLICY);
	assert_string_equal(ce->id, "old1");
	assert_int_equal(ce->last_error, ERR_FETCH_HTTP);
	assert_true(ce->retry_after > now);
	/* Still served, and no new background work before retry_after. */
	reply = pipeline(loop, e, &c->resolver, "postfix", "example.com", &run);
	assert_string_equal(reply, "OK secure match=mail.example.com servername=hostname");
	assert_int_equal(pol_engine_jobs(e), 0);
	free(reply);
	run_free(&run);
	engine_teardown(e, cache, loop, c);
	fw_reset();
}

/* A cached policy whose expires_at is before its fetched_at (a shared-cache value may say so:
 * cache_entry_bound() lets fetched_at be up to CACHE_CLOCK_SKEW_S ahead, and bounds expires_at
 * by max_age from now): its refresh time is computed without dividing by zero (life 16..31 s
 * below zero made the jitter's modulus 0: SIGFPE), and the policy still answers. */
static void
engine_refresh_negative_life(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct run run;
	char *reply;
	time_t now, life;

	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	now = loop_wall_s(loop);
	for (life = -40; life <= 0; life++) {
		struct cache_entry seed = {.kind = CACHE_POLICY};

		seed.policy = policy("enforce", "mail.example.com");
		(void)snprintf(seed.id, sizeof(seed.id), "id1");
		seed.fetched_at = now + 100;
		seed.expires_at = now + 100 + life;
		seed.last_check = now;
		cache_mem_put(cache, "example.com", &seed);
		reply = pipeline(loop, e, &c->resolver, "postfix", "example.com", &run);
		if (seed.expires_at > now)
			assert_string_equal(reply,
			                    "OK secure match=mail.example.com servername=hostname");
		free(reply);
		run_free(&run);
	}
	engine_teardown(e, cache, loop, c);
	fw_reset();
}

static void
engine_timeout_then_cache_fills(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct multi m = {0};
	struct pol_waiter *w;
	char *body = fw_policy_text("enforce", "mail.slow.example", 86400);

	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	fw_add("slow.example", "v=STSv1; id=s1;", 0, body, 0)->delay_ms = 150;
	m.loop = loop;
	m.want = 0; /* the clock moves 400 ms, whatever is answered */
	pol_lookup(e, "slow.example", 50, multi_done, &m, &w);
	assert_non_null(w);
	(void)loop_fake_advance(loop, 400);
	/* Answered once, by the 50 ms timeout; the 150 ms discovery still filled the cache. */
	assert_int_equal(m.done, 1);
	assert_int_equal(m.last, POL_TIMEOUT);
	assert_int_equal(pol_engine_counters(e)->answers[POL_TIMEOUT], 1);
	assert_int_equal(pol_engine_jobs(e), 0);
	assert_non_null(cache_mem_peek(cache, "slow.example"));
	assert_int_equal(cache_mem_peek(cache, "slow.example")->kind, CACHE_POLICY);
	pol_lookup(e, "slow.example", 50, multi_done, &m, &w);
	assert_null(w);
	assert_int_equal(m.done, 2);
	assert_int_equal(m.last, POL_POLICY);
	free(body);
	engine_teardown(e, cache, loop, c);
	fw_reset();
}

/* One lookup on a fresh loop and engine over a shared cache: only the cache carries over
 * from one lookup to the next. Returns the reply. */
static char *
one_shot(struct cfg *c, struct cache_mem *cache, const char *key, struct run *run)
{
	struct loop *loop;
	struct pol_engine *e;
	char *reply;

	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	reply = pipeline(loop, e, &c->resolver, "postfix", key, run);
	e = pol_engine_free(e);
	loop = loop_free(loop);
	return reply;
}

static void
engine_negative_and_tempfail_cached(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct run run;
	char *reply;

	fw_reset();
	fw_add("fail.example", NULL, ERR_DNS_SERVFAIL, NULL, 0);
	reply = one_shot(c, cache, "nopolicy.example", &run);
	assert_string_equal(reply, "NOTFOUND ");
	assert_int_equal(run.a.status, POL_NO_POLICY);
	assert_int_equal(run.a.err, ERR_DNS_NXDOMAIN);
	free(reply);
	reply = one_shot(c, cache, "fail.example", &run);
	assert_string_equal(reply, "NOTFOUND ");
	assert_int_equal(run.a.status, POL_TEMPFAIL);
	assert_int_equal(run.a.err, ERR_DNS_SERVFAIL);
	free(reply);
	assert_int_equal(cache_mem_peek(cache, "nopolicy.example")->kind, CACHE_NO_POLICY);
	assert_int_equal(cache_mem_peek(cache, "fail.example")->kind, CACHE_TEMPFAIL);
	/* Both answered from the cache now, without DNS; key normalised first. */
	reply = one_shot(c, cache, "fail.example", &run);
	assert_int_equal(run.a.cached, 1);
	assert_int_equal(run.a.status, POL_TEMPFAIL);
	free(reply);
	reply = one_shot(c, cache, "NoPolicy.Example.", &run);
	assert_int_equal(run.a.cached, 1);
	assert_int_equal(run.a.status, POL_NO_POLICY);
	assert_string_equal(reply, "NOTFOUND ");
	free(reply);
	assert_int_equal(fw_queries, 2);
	/* Keys without a policy never reach the engine. */
	reply = one_shot(c, cache, ".example.com", &run);
	assert_string_equal(reply, "NOTFOUND ");
	assert_int_equal(run.done, 0);
	free(reply);
	assert_int_equal(fw_queries, 2);
	cache = cache_mem_free(cache);
	c = cfg_free(c);
	fw_reset();
}

static void
engine_cancel_on_free(void **state)
{
	struct cfg *c = test_cfg();
	struct cache_mem *cache = cache_mem_new(16);
	struct loop *loop;
	struct pol_engine *e;
	struct multi m = {0};
	struct pol_waiter *w;

	assert_int_equal(loop_new_fake(PIPELINE_WALL_S, &loop), 0);
	assert_int_equal(pol_engine_new(loop, &c->resolver, cache, &e), 0);
	fw_reset();
	fw_add("x.example", "v=STSv1; id=x;", 0, NULL, ERR_FETCH_TIMEOUT)->delay_ms = 1000;
	m.loop = loop;
	m.want = 99;
	pol_lookup(e, "x.example", 0, multi_done, &m, &w);
	pol_lookup(e, "x.example", 0, multi_done, &m, &w);
	pol_lookup_cancel(w);
	assert_int_equal(m.done, 1);
	assert_int_equal(m.last, POL_CANCELED);
	e = pol_engine_free(e);
	assert_int_equal(m.done, 2);
	assert_int_equal(m.last, POL_CANCELED);
	cache = cache_mem_free(cache);
	loop = loop_free(loop);
	c = cfg_free(c);
	fw_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(engine_coalesces),
	        cmocka_unit_test(engine_changed_id_failed_fetch_keeps_policy),
	        cmocka_unit_test(engine_timeout_then_cache_fills),
	        cmocka_unit_test(engine_refresh_negative_life),
	        cmocka_unit_test(engine_negative_and_tempfail_cached),
	        cmocka_unit_test(engine_cancel_on_free),
	};

	log_open("test_pol_engine", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
