/*
 * tests/unit/resolver/test_pol_cache.c - the policy engine over its memory cache, with real
 * values, on the link-time fake DNS/HTTPS world (fake_world.h) and a real sd-event loop
 *
 * 1. Issue 22 part 1, "a changed TXT id is answered with the new policy": a lookup that finds
 *    its cached policy due for the TXT re-check waits for it; a new id's policy answers that
 *    very lookup (mode none and testing: NOTFOUND through pf_reply_decide), an unchanged id
 *    answers the cached policy without a fetch; a failed fetch, a stalled fetch, a stalled
 *    DNS answer, SERVFAIL and a vanished TXT record all answer the cached policy, never "no
 *    policy". Lookups arriving while the new id's policy is fetched wait for it too. The
 *    proactive pass re-checks a recently used policy before it is asked (the next lookup is
 *    answered at once with the new policy), and leaves an unused one to its next lookup.
 * 2. Issue 15 part 3, "a flood of names cannot evict a policy": 1000 cached policies, then
 *    200 000 lookups of distinct NXDOMAIN names through the engine; all 1000 policies are
 *    still answered from the cache without a DNS query, with the default bounds; and 20 000
 *    names with the policy budget exactly full (1000) and 100 negative entries.
 *
 * Each sd-event loop runs once (it cannot run again after loop_exit()): a test that waits
 * twice builds a second loop and engine over the same cache. Liveness bounds are GUARD_MS.
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
#include "pf_reply.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sts_policy.h"

/* Liveness bound of every wait (ms): far above what any step takes. */
#define GUARD_MS 30000
/* A delay that stands for a stalled peer: far beyond the short lookup timeout below, well
 * within GUARD_MS (ms). */
#define STALL_MS 3000
#define SHORT_MS 200

/* ---- a bench: cfg, cache, loop, engine ---- */

struct bench {
	struct cfg *cfg;
	struct cache_mem *cache;
	struct loop *loop;
	struct pol_engine *e;
	time_t now;
};

static void
bench_engine(struct bench *b)
{
	b->e = pol_engine_free(b->e);
	b->loop = loop_free(b->loop);
	assert_int_equal(loop_new(&b->loop), 0);
	assert_int_equal(pol_engine_new(b->loop, &b->cfg->resolver, b->cache, &b->e), 0);
	b->now = loop_wall_s(b->loop);
}

static void
bench_open(struct bench *b, uint64_t recheck_interval_ms)
{
	memset(b, 0, sizeof(*b));
	fw_reset();
	b->cfg = cfg_defaults();
	assert_non_null(b->cfg);
	if (recheck_interval_ms > 0)
		b->cfg->resolver.recheck_interval_ms = recheck_interval_ms;
	b->cache = cache_mem_new(b->cfg->cache.max_entries);
	cache_mem_set_max_negative(b->cache, b->cfg->cache.max_negative_entries);
	bench_engine(b);
}

static void
bench_close(struct bench *b)
{
	b->e = pol_engine_free(b->e);
	b->loop = loop_free(b->loop);
	b->cache = cache_mem_free(b->cache);
	b->cfg = cfg_free(b->cfg);
	fw_reset();
}

/* Cache an enforce policy for dom under id, fetched and last checked age_s seconds ago,
 * last used at last_used (0: never since it was cached). */
static void
seed(struct bench *b, const char *dom, const char *id, time_t age_s, time_t last_used)
{
	struct cache_entry ce = {.kind = CACHE_POLICY};
	char mx[300], *text;

	(void)snprintf(mx, sizeof(mx), "mail.%s", dom);
	text = fw_policy_text("enforce", mx, 604800);
	assert_int_equal(sts_policy_parse(text, strlen(text), &ce.policy, NULL), 0);
	free(text);
	(void)snprintf(ce.id, sizeof(ce.id), "%s", id);
	ce.fetched_at = b->now - age_s;
	ce.expires_at = b->now + 86400;
	ce.last_check = b->now - age_s;
	ce.last_used = last_used;
	cache_mem_put(b->cache, dom, &ce);
}

/* The fake world publishes the TXT record txt (a static string: the world borrows it) and
 * a policy of mode for dom (the TXT answered at once, the fetch after fetch_delay_ms);
 * returns the entry for more changes. */
static struct fw_domain *
publish(const char *dom, const char *txt, const char *mode, uint64_t fetch_delay_ms)
{
	char mx[300], *body;
	struct fw_domain *d;

	(void)snprintf(mx, sizeof(mx), "mail.%s", dom);
	body = fw_policy_text(mode, strcmp(mode, "none") == 0 ? NULL : mx, 86400);
	d = fw_add(dom, txt, 0, body, 0);
	free(body);
	d->fetch_delay_ms = fetch_delay_ms;
	return d;
}

/* ---- one lookup's answer ---- */

struct rec {
	struct bench *b;
	unsigned done;
	struct pol_answer a;
	struct sts_policy *policy; /* owned copy */
	char id[STS_ID_MAX + 1];
	/* a second lookup made from inside this answer (NULL: none) */
	const char *then_domain;
	struct rec *then;
	struct pol_waiter *then_w;
};

static void
rec_done(const struct pol_answer *a, void *arg)
{
	struct rec *r = arg;

	r->done++;
	r->a = *a;
	r->a.policy = NULL;
	r->a.id = r->id;
	r->a.detail = "";
	r->policy = a->policy != NULL ? sts_policy_dup(a->policy) : NULL;
	(void)snprintf(r->id, sizeof(r->id), "%s", a->id != NULL ? a->id : "");
	if (r->then_domain != NULL)
		pol_lookup(r->b->e, r->then_domain, 0, rec_done, r->then, &r->then_w);
}

static void
rec_clear(struct rec *r)
{
	r->policy = sts_policy_free(r->policy);
	memset(r, 0, sizeof(*r));
}

/* The Postfix reply (default zone) for what r received: "OK ..." or "NOTFOUND". Owned. */
static char *
rec_reply(const struct bench *b, const struct rec *r, const char *dom)
{
	enum sm_status st;
	char *data = NULL, *out;

	(void)pf_reply_decide(r->a.status == POL_POLICY ? r->policy : NULL, dom,
	                      &b->cfg->resolver.zones[0], &st, &data, NULL);
	out = data != NULL ? xasprintf("%s %s", sm_status_name(st), data)
	                   : xstrdup(sm_status_name(st));
	free(data);
	return out;
}

/* ---- running the loop until something holds ---- */

typedef int until_fn(const struct bench *b, const void *arg);

struct until {
	const struct bench *b;
	until_fn *fn;
	const void *arg;
	struct loop_timer poll, guard;
	int met;
};

static void
until_poll(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct until *u = arg;

	if (u->fn(u->b, u->arg)) {
		u->met = 1;
		loop_exit(loop, 0);
		return;
	}
	loop_timer_start(loop, t, 5, until_poll, u);
}

static void
until_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	loop_exit(loop, 1);
}

/* Run b's loop (once: see the file comment) until fn(b, arg) holds; fails the test when
 * guard_ms passes first. */
static void
run_until_within(struct bench *b, until_fn *fn, const void *arg, uint64_t guard_ms)
{
	struct until u = {.b = b, .fn = fn, .arg = arg};

	loop_timer_start(b->loop, &u.poll, 0, until_poll, &u);
	loop_timer_start(b->loop, &u.guard, guard_ms, until_guard, NULL);
	(void)loop_run(b->loop);
	loop_timer_stop(b->loop, &u.poll);
	loop_timer_stop(b->loop, &u.guard);
	assert_true(u.met);
}

static void
run_until(struct bench *b, until_fn *fn, const void *arg)
{
	run_until_within(b, fn, arg, GUARD_MS);
}

/* Every lookup in arg (a NULL-terminated array of struct rec *) answered, engine idle. */
static int
all_done_idle(const struct bench *b, const void *arg)
{
	struct rec *const *r = arg;

	for (; *r != NULL; r++)
		if ((*r)->done == 0)
			return 0;
	return pol_engine_jobs(b->e) == 0;
}

static void
wait_answered(struct bench *b, struct rec *r)
{
	struct rec *list[] = {r, r->then, NULL};

	run_until(b, all_done_idle, list);
}

/* pol_lookup that must wait (not answered inside the call). */
static void
lookup_waits(struct bench *b, const char *dom, uint64_t timeout_ms, struct rec *r)
{
	struct pol_waiter *w = NULL;

	r->b = b;
	pol_lookup(b->e, dom, timeout_ms, rec_done, r, &w);
	assert_non_null(w);
	assert_int_equal(r->done, 0);
}

/* pol_lookup answered inside the call, from the cache. */
static void
lookup_at_once(struct bench *b, const char *dom, struct rec *r)
{
	struct pol_waiter *w = (struct pol_waiter *)1;

	r->b = b;
	pol_lookup(b->e, dom, 5000, rec_done, r, &w);
	assert_null(w);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->a.cached, 1);
}

static void
assert_reply(const struct bench *b, const struct rec *r, const char *dom, const char *want)
{
	char *got = rec_reply(b, r, dom);

	assert_string_equal(got, want);
	free(got);
}

/* ---- 1. the TXT re-check ---- */

/* A policy cached as enforce; the TXT id changes and the policy is lowered (RFC 8461
 * section 8.3: mode none, or testing). The very next lookup after recheck_interval waits
 * and is answered with the new policy: NOTFOUND, not secure. */
static void
new_id_answers_lowered_policy(void **state)
{
	static const char *const modes[] = {"none", "testing"};
	struct bench b;
	struct rec r = {0};
	const struct cache_entry *ce;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		bench_open(&b, 0); /* recheck_interval: the default hour */
		seed(&b, "low.example", "old1", 7200, 0);
		publish("low.example", "v=STSv1; id=new2;", modes[i], 0);
		/* Before: secure. */
		assert_int_equal(cache_mem_peek(b.cache, "low.example")->policy->mode,
		                 STS_MODE_ENFORCE);
		lookup_waits(&b, "low.example", 5000, &r);
		wait_answered(&b, &r);
		assert_int_equal(r.done, 1);
		assert_int_equal(r.a.status, POL_POLICY);
		assert_int_equal(r.a.cached, 0);
		assert_string_equal(r.id, "new2");
		assert_int_equal(r.policy->mode, i == 0 ? STS_MODE_NONE : STS_MODE_TESTING);
		assert_reply(&b, &r, "low.example", "NOTFOUND");
		assert_int_equal(fw_queries, 1);
		assert_int_equal(fw_fetches, 1);
		ce = cache_mem_peek(b.cache, "low.example");
		assert_string_equal(ce->id, "new2");
		assert_true(ce->last_check >= b.now);
		assert_int_equal(pol_engine_counters(b.e)->txt_changed, 1);
		assert_int_equal(pol_engine_counters(b.e)->lookup_rechecks, 1);
		assert_int_equal(pol_engine_counters(b.e)->recheck_waits, 1);
		rec_clear(&r);
		/* The next lookup: at once, from the cache, still NOTFOUND. */
		lookup_at_once(&b, "low.example", &r);
		assert_reply(&b, &r, "low.example", "NOTFOUND");
		assert_int_equal(fw_queries, 1);
		rec_clear(&r);
		bench_close(&b);
	}
}

/* The id is unchanged: the lookup waits for the TXT answer only, no fetch; the next lookup
 * is answered at once. A re-check that is not due does not make a lookup wait. */
static void
same_id_answers_cached_policy(void **state)
{
	struct bench b;
	struct rec r = {0};

	(void)state;
	bench_open(&b, 0);
	seed(&b, "same.example", "s1", 7200, 0);
	seed(&b, "fresh.example", "f1", 60, 0);
	publish("same.example", "v=STSv1; id=s1;", "none", 0);
	lookup_at_once(&b, "fresh.example", &r);
	assert_reply(&b, &r, "fresh.example",
	             "OK secure match=mail.fresh.example servername=hostname");
	rec_clear(&r);
	assert_int_equal(fw_queries, 0);
	lookup_waits(&b, "same.example", 5000, &r);
	wait_answered(&b, &r);
	assert_int_equal(r.a.status, POL_POLICY);
	assert_string_equal(r.id, "s1");
	assert_int_equal(r.a.err, 0);
	assert_reply(&b, &r, "same.example",
	             "OK secure match=mail.same.example servername=hostname");
	assert_int_equal(fw_queries, 1);
	assert_int_equal(fw_fetches, 0);
	assert_int_equal(pol_engine_counters(b.e)->txt_unchanged, 1);
	assert_true(cache_mem_peek(b.cache, "same.example")->last_check >= b.now);
	rec_clear(&r);
	lookup_at_once(&b, "same.example", &r);
	assert_string_equal(r.id, "s1");
	rec_clear(&r);
	assert_int_equal(fw_queries, 1);
	bench_close(&b);
}

/* Whatever goes wrong in the re-check (the new id's fetch fails, or is stalled past the
 * lookup timeout; DNS stalls, fails or the TXT record is gone), the lookup is answered with
 * the cached enforce policy: an attacker on the path cannot turn it into "no policy". */
static void
recheck_failures_answer_cached_policy(void **state)
{
	static const struct {
		const char *name;
		int txt_err;     /* 0: publish a new id */
		int fetch_err;   /* with a new id: its fetch fails with this */
		uint64_t delay;  /* the fetch (new id) or the DNS answer comes this late (ms) */
		uint64_t tmo_ms; /* the lookup's timeout */
		int want_err;    /* pol_answer.err */
		int want_cached; /* answered by the timeout, from the cache */
	} cases[] = {
	        {"fetch 404", 0, ERR_FETCH_HTTP, 0, 5000, ERR_FETCH_HTTP, 0},
	        {"fetch TLS error", 0, ERR_FETCH_TLS, 0, 5000, ERR_FETCH_TLS, 0},
	        {"fetch stalled", 0, 0, STALL_MS, SHORT_MS, -ETIMEDOUT, 1},
	        {"DNS stalled", ERR_DNS_TIMEOUT, 0, STALL_MS, SHORT_MS, -ETIMEDOUT, 1},
	        {"DNS SERVFAIL", ERR_DNS_SERVFAIL, 0, 0, 5000, ERR_DNS_SERVFAIL, 0},
	        {"TXT gone (NXDOMAIN)", ERR_DNS_NXDOMAIN, 0, 0, 5000, ERR_DNS_NXDOMAIN, 0},
	};
	struct bench b;
	struct rec r = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fw_domain *d;

		print_message("case: %s\n", cases[i].name);
		bench_open(&b, 0);
		seed(&b, "keep.example", "old1", 7200, 0);
		if (cases[i].txt_err == 0) {
			d = publish("keep.example", "v=STSv1; id=new2;", "none", cases[i].delay);
			if (cases[i].fetch_err != 0) {
				free(d->body);
				d->body = NULL;
				d->fetch_err = cases[i].fetch_err;
			}
		} else {
			d = fw_add("keep.example", NULL, cases[i].txt_err, NULL, 0);
			d->delay_ms = cases[i].delay;
		}
		lookup_waits(&b, "keep.example", cases[i].tmo_ms, &r);
		wait_answered(&b, &r);
		assert_int_equal(r.done, 1);
		assert_int_equal(r.a.status, POL_POLICY);
		assert_string_equal(r.id, "old1");
		assert_int_equal(r.a.err, cases[i].want_err);
		assert_int_equal(r.a.cached, cases[i].want_cached);
		assert_reply(&b, &r, "keep.example",
		             "OK secure match=mail.keep.example servername=hostname");
		assert_int_equal(pol_engine_counters(b.e)->recheck_timeout_cached,
		                 (uint64_t)cases[i].want_cached);
		rec_clear(&r);
		bench_close(&b);
	}
}

/* The new id's fetch outlasts the first lookup's timeout: that lookup gets the cached
 * policy; a lookup made meanwhile (the id is known to have changed) waits for the new
 * policy and gets it; once stored, lookups are answered at once with it. */
static void
slow_fetch_then_new_policy(void **state)
{
	struct bench b;
	struct rec first = {0}, second = {0}, third = {0};

	(void)state;
	bench_open(&b, 0);
	seed(&b, "slow.example", "old1", 7200, 0);
	publish("slow.example", "v=STSv1; id=new2;", "testing", STALL_MS);
	first.then_domain = "slow.example"; /* made when the first is answered */
	first.then = &second;
	lookup_waits(&b, "slow.example", SHORT_MS, &first);
	wait_answered(&b, &first);
	assert_int_equal(first.a.status, POL_POLICY);
	assert_string_equal(first.id, "old1");
	assert_int_equal(first.a.cached, 1);
	assert_non_null(first.then_w); /* the second waited ... */
	assert_int_equal(second.done, 1);
	assert_int_equal(second.a.status, POL_POLICY); /* ... for the new policy */
	assert_string_equal(second.id, "new2");
	assert_int_equal(second.policy->mode, STS_MODE_TESTING);
	assert_reply(&b, &second, "slow.example", "NOTFOUND");
	assert_int_equal(fw_fetches, 1);
	lookup_at_once(&b, "slow.example", &third);
	assert_string_equal(third.id, "new2");
	rec_clear(&first);
	rec_clear(&second);
	rec_clear(&third);
	bench_close(&b);
}

/* A refresh (the policy nears its expiry; its re-check is not due) finds a new id and
 * fetches it slowly: a lookup made during that fetch waits for the new policy rather than
 * take the cached one it knows is replaced. */
struct mid_fetch {
	struct rec r;
	struct pol_waiter *w;
	int issued;
};

static int
lookup_mid_fetch(const struct bench *b, const void *arg)
{
	struct mid_fetch *m = (struct mid_fetch *)(uintptr_t)arg;

	if (!m->issued && fw_fetches == 1) {
		m->issued = 1;
		m->r.b = (struct bench *)(uintptr_t)b;
		pol_lookup(b->e, "refresh.example", 0, rec_done, &m->r, &m->w);
	}
	return m->issued && m->r.done == 1 && pol_engine_jobs(b->e) == 0;
}

static void
refresh_sees_new_id_lookups_wait(void **state)
{
	struct bench b;
	struct rec r = {0};
	struct mid_fetch m = {0};
	struct cache_entry *ce;

	(void)state;
	bench_open(&b, 0);
	seed(&b, "refresh.example", "old1", 60, 0);
	ce = cache_mem_get(b.cache, "refresh.example");
	ce->fetched_at = b.now - 604000; /* max_age 604800: refresh_before (1 d) is past */
	ce->expires_at = b.now + 800;
	publish("refresh.example", "v=STSv1; id=new2;", "testing", STALL_MS);
	lookup_at_once(&b, "refresh.example", &r); /* starts the refresh */
	assert_string_equal(r.id, "old1");
	assert_int_equal(pol_engine_counters(b.e)->background_refreshes, 1);
	rec_clear(&r);
	run_until(&b, lookup_mid_fetch, &m);
	assert_non_null(m.w); /* it waited */
	assert_int_equal(m.r.a.status, POL_POLICY);
	assert_string_equal(m.r.id, "new2");
	assert_int_equal(m.r.policy->mode, STS_MODE_TESTING);
	assert_reply(&b, &m.r, "refresh.example", "NOTFOUND");
	assert_int_equal(pol_engine_counters(b.e)->recheck_waits, 1);
	assert_int_equal(pol_engine_counters(b.e)->lookup_rechecks, 0);
	assert_int_equal(fw_fetches, 1);
	rec_clear(&m.r);
	bench_close(&b);
}

/* The cached entry of dom holds id. */
static int
entry_has_id(const struct bench *b, const void *arg)
{
	const char *const *want = arg;
	const struct cache_entry *ce = cache_mem_peek(b->cache, want[0]);

	return ce != NULL && strcmp(ce->id, want[1]) == 0 && pol_engine_jobs(b->e) == 0;
}

/* Proactive re-check: a policy looked up within the last recheck_interval is re-checked
 * before its re-check falls due, with no lookup; its next lookup is answered at once with
 * the new policy. A policy nobody looked up since it was cached is left to its next
 * lookup, which waits for the re-check. */
static void
proactive_recheck_of_busy_policy(void **state)
{
	/* recheck_interval 8 s: the pass runs every 2 s and takes what falls due within 2 s. */
	const uint64_t interval_ms = 8000;
	const char *const busy_new[] = {"busy.example", "new2"};
	struct bench b;
	struct rec r = {0};

	(void)state;
	bench_open(&b, interval_ms);
	/* Both due in 1 s; busy.example was looked up just now. */
	seed(&b, "busy.example", "old1", 7, b.now);
	seed(&b, "idle.example", "old1", 7, 0);
	publish("busy.example", "v=STSv1; id=new2;", "none", 0);
	publish("idle.example", "v=STSv1; id=new2;", "none", 0);
	run_until(&b, entry_has_id, busy_new);
	assert_int_equal(pol_engine_counters(b.e)->background_rechecks, 1);
	assert_int_equal(pol_engine_counters(b.e)->lookup_rechecks, 0);
	assert_int_equal(fw_queries, 1); /* busy.example's TXT only */
	assert_string_equal(cache_mem_peek(b.cache, "idle.example")->id, "old1");
	lookup_at_once(&b, "busy.example", &r);
	assert_string_equal(r.id, "new2");
	assert_reply(&b, &r, "busy.example", "NOTFOUND");
	assert_int_equal(pol_engine_counters(b.e)->recheck_waits, 0);
	rec_clear(&r);
	/* idle.example: its lookup (on a fresh loop) waits for the re-check. */
	bench_engine(&b);
	lookup_waits(&b, "idle.example", 5000, &r);
	wait_answered(&b, &r);
	assert_string_equal(r.id, "new2");
	assert_reply(&b, &r, "idle.example", "NOTFOUND");
	assert_int_equal(pol_engine_counters(b.e)->lookup_rechecks, 1);
	rec_clear(&r);
	bench_close(&b);
}

/* ---- 2. a flood of names ---- */

#define FLOOD_POLICIES 1000
#define FLOOD_NAMES    200000
#define FLOOD_BATCH    1000 /* lookups in flight at once (RES_JOBS_MAX bounds them) */
/* Liveness bound of a flood (ms): about a second in a plain build, a few under ASan, and
 * under valgrind (tests/lint/valgrind_unit.sh) 50 times slower still. */
#define FLOOD_GUARD_MS 500000

struct flood {
	struct bench *b;
	struct loop_timer next;
	size_t names, sent, answered, no_policy;
	struct pol_answer a_last;
};

static void flood_batch(struct loop *loop, struct loop_timer *t, void *arg);

static void
flood_done(const struct pol_answer *a, void *arg)
{
	struct flood *f = arg;

	f->answered++;
	if (a->status == POL_NO_POLICY)
		f->no_policy++;
	if (f->answered == f->sent && f->sent < f->names)
		loop_timer_start(f->b->loop, &f->next, 0, flood_batch, f);
}

/* The next FLOOD_BATCH distinct names; the fake world knows none of them (NXDOMAIN). */
static void
flood_batch(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct flood *f = arg;
	char dom[64];
	size_t i;

	for (i = 0; i < FLOOD_BATCH && f->sent < f->names; i++) {
		struct pol_waiter *w;

		(void)snprintf(dom, sizeof(dom), "n%zu.flood.example", f->sent++);
		pol_lookup(f->b->e, dom, 0, flood_done, f, &w);
	}
}

static int
flood_over(const struct bench *b, const void *arg)
{
	const struct flood *f = arg;

	return f->answered == f->names && pol_engine_jobs(b->e) == 0;
}

/* 1000 cached policies, then names lookups of distinct NXDOMAIN names. */
static void
flood_run(size_t names, size_t max_policies, size_t max_negative)
{
	struct bench b;
	struct flood f = {.b = &b, .names = names};
	struct cache_mem_sizes z;
	struct rec r = {0};
	char dom[64];
	size_t i;

	bench_open(&b, 0);
	/* A whole batch in flight at once: this is about eviction, not the discovery cap. */
	b.cfg->resolver.max_discoveries = FLOOD_BATCH;
	cache_mem_set_max(b.cache, max_policies);
	cache_mem_set_max_negative(b.cache, max_negative);
	for (i = 0; i < FLOOD_POLICIES; i++) {
		(void)snprintf(dom, sizeof(dom), "p%zu.example", i);
		seed(&b, dom, "p1", 0, 0);
	}
	loop_timer_start(b.loop, &f.next, 0, flood_batch, &f);
	run_until_within(&b, flood_over, &f, FLOOD_GUARD_MS);
	assert_int_equal(f.no_policy, names);
	assert_int_equal(fw_queries, names);
	cache_mem_sizes(b.cache, &z);
	assert_int_equal(z.count[CACHE_MEM_POLICIES], FLOOD_POLICIES);
	assert_int_equal(z.count[CACHE_MEM_NEGATIVE], max_negative);
	assert_int_equal(z.evictions[CACHE_MEM_POLICIES], 0);
	assert_int_equal(z.evictions[CACHE_MEM_NEGATIVE], names - max_negative);
	/* Every policy: answered from the cache, no DNS query. */
	for (i = 0; i < FLOOD_POLICIES; i++) {
		char want[128];

		(void)snprintf(dom, sizeof(dom), "p%zu.example", i);
		(void)snprintf(want, sizeof(want), "OK secure match=mail.%s servername=hostname",
		               dom);
		lookup_at_once(&b, dom, &r);
		assert_int_equal(r.a.status, POL_POLICY);
		assert_reply(&b, &r, dom, want);
		rec_clear(&r);
	}
	assert_int_equal(fw_queries, names);
	bench_close(&b);
}

static void
flood_cannot_evict_policies(void **state)
{
	struct cfg *c = cfg_defaults();

	(void)state;
	/* The default bounds: 100000 policies, 100000 negative entries. Before issue 15 part 3
	 * one bound held both, and the first 100000 names of the flood evicted every policy. */
	flood_run(FLOOD_NAMES, c->cache.max_entries, c->cache.max_negative_entries);
	c = cfg_free(c);
}

static void
flood_policy_budget_exactly_full(void **state)
{
	(void)state;
	flood_run(FLOOD_NAMES / 10, FLOOD_POLICIES, 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(new_id_answers_lowered_policy),
	        cmocka_unit_test(same_id_answers_cached_policy),
	        cmocka_unit_test(recheck_failures_answer_cached_policy),
	        cmocka_unit_test(slow_fetch_then_new_policy),
	        cmocka_unit_test(refresh_sees_new_id_lookups_wait),
	        cmocka_unit_test(proactive_recheck_of_busy_policy),
	        cmocka_unit_test(flood_cannot_evict_policies),
	        cmocka_unit_test(flood_policy_budget_exactly_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
