/*
 * tests/unit/resolver/test_lookup.c - one socketmap lookup, DANE first (resolver/lookup.c)
 *
 * Pure part: lookup_combine(), how a DANE verdict and the MTA-STS reply make one reply.
 * Module: lookup_start() with the real DANE module and policy engine, both asking
 * ldns-testns (tests/system/data/dane/unit.testns on a random loopback port, AD bits set
 * as a validating resolver on loopback would): dane-only, dane, DANE TEMP, zones with dane
 * off, a cancel answered at once, the counters. This case runs on real time: its answers
 * come from another process over UDP, which a fake clock cannot hurry (bounded: 10 s).
 * The DANE module alone is tested in test_dane.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache_mem.h"
#include "cfg.h"
#include "dane.h"
#include "log.h"
#include "lookup.h"
#include "loop.h"
#include "pol_engine.h"
#include "xalloc.h"

/* Liveness bound of a run (ends as soon as the lookups answered) and the zone timeout. */
#define WAIT_MS 30000

#define TESTNS_DATA TEST_DATA_DIR "/../../system/data/dane/unit.testns"
#include "testns.h"

static int
group_setup(void **state)
{
	log_set_verbosity(getenv("LOOKUP_VERBOSE") != NULL ? 2 : 0);
	return testns_start();
}

static int
group_teardown(void **state)
{
	testns_stop();
	return 0;
}

/* The DANE module on a loop, asking ldns-testns. */
struct lab {
	struct cfg *cfg;
	struct loop *loop;
	struct dane_opts opts;
	struct dane *d;
};

static void
lab_new(struct lab *t)
{
	memset(t, 0, sizeof(*t));
	t->cfg = testns_cfg(testns_port);
	t->opts = dane_opts_default();
	assert_int_equal(loop_new(&t->loop), 0);
	assert_int_equal(dane_new(t->loop, &t->cfg->resolver, &t->opts, &t->d), 0);
}

static void
lab_free(struct lab *t)
{
	t->d = dane_free(t->d);
	t->loop = loop_free(t->loop);
	t->cfg = cfg_free(t->cfg);
}

/* ---- lookup_combine() ---- */

static void
test_combine(void **state)
{
	char buf[256];
	struct lookup_reply rep;
	const char *sts = "secure match=mx.example servername=hostname";

	lookup_combine(DANE_ONLY, "x", SM_OK, sts, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_OK);
	assert_string_equal(rep.data, "dane-only");
	assert_int_equal(rep.source, LOOKUP_SRC_DANE_ONLY);
	lookup_combine(DANE_MAY, "x", SM_OK, sts, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_OK);
	assert_string_equal(rep.data, "dane");
	assert_int_equal(rep.source, LOOKUP_SRC_DANE);
	lookup_combine(DANE_TEMP, "TLSA lookup of _25._tcp.mx failed", SM_OK, sts, buf, sizeof(buf),
	               &rep);
	assert_int_equal(rep.status, SM_TEMP);
	assert_string_equal(rep.data, "DANE: TLSA lookup of _25._tcp.mx failed");
	assert_int_equal(rep.source, LOOKUP_SRC_DANE_TEMP);
	lookup_combine(DANE_NONE, "x", SM_OK, sts, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_OK);
	assert_string_equal(rep.data, sts);
	assert_int_equal(rep.source, LOOKUP_SRC_STS);
	lookup_combine(DANE_NONE, "x", SM_NOTFOUND, NULL, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_NOTFOUND);
	assert_null(rep.data);
	assert_int_equal(rep.source, LOOKUP_SRC_NONE);
	lookup_combine(DANE_CANCELED, "x", SM_OK, sts, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_TEMP);
	assert_int_equal(rep.source, LOOKUP_SRC_NONE);
	/* Insecure MX RRset: an MTA-STS policy that applies decides (issue 15) ... */
	lookup_combine(DANE_MAY_UNLESS_STS, "x", SM_OK, sts, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_OK);
	assert_string_equal(rep.data, sts);
	assert_int_equal(rep.source, LOOKUP_SRC_STS);
	lookup_combine(DANE_TEMP_UNLESS_STS, "TLSA lookup of _25._tcp.mx failed", SM_OK, sts, buf,
	               sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_OK);
	assert_string_equal(rep.data, sts);
	assert_int_equal(rep.source, LOOKUP_SRC_STS);
	/* (an enforce policy too long for Postfix stays the MTA-STS TEMP) */
	lookup_combine(DANE_MAY_UNLESS_STS, "x", SM_TEMP, "MTA-STS policy reply over the limit",
	               buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_TEMP);
	assert_string_equal(rep.data, "MTA-STS policy reply over the limit");
	/* ... and only without one, its hosts' TLSA records do. */
	lookup_combine(DANE_MAY_UNLESS_STS, "x", SM_NOTFOUND, NULL, buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_OK);
	assert_string_equal(rep.data, "dane");
	assert_int_equal(rep.source, LOOKUP_SRC_DANE);
	lookup_combine(DANE_TEMP_UNLESS_STS, "TLSA lookup of _25._tcp.mx failed", SM_NOTFOUND, NULL,
	               buf, sizeof(buf), &rep);
	assert_int_equal(rep.status, SM_TEMP);
	assert_string_equal(rep.data, "DANE: TLSA lookup of _25._tcp.mx failed");
	assert_int_equal(rep.source, LOOKUP_SRC_DANE_TEMP);
	assert_string_equal(dane_verdict_name(DANE_MAY_UNLESS_STS), "dane-unless-sts");
	assert_string_equal(dane_verdict_name(DANE_TEMP_UNLESS_STS), "tempfail-unless-sts");
	assert_string_equal(lookup_source_name(LOOKUP_SRC_DANE_ONLY), "dane-only");
	assert_string_equal(lookup_source_name(LOOKUP_SRC_STS), "sts");
	assert_string_equal(lookup_source_name(LOOKUP_SRC_NONE), "none");
}

/* ---- lookup.c with a real policy engine on the same server ------------------------------ */

struct lres {
	int called;
	enum sm_status st;
	char data[512];
	enum lookup_source src;
};

static struct lres L[8];
static int l_n;
static struct loop *l_loop;

static void
l_done(const struct lookup_reply *r, void *arg)
{
	struct lres *x = arg;

	x->called++;
	x->st = r->status;
	(void)snprintf(x->data, sizeof(x->data), "%s", r->data != NULL ? r->data : "");
	x->src = r->source;
	if (++l_n == 6)
		loop_exit(l_loop, 0);
}

static void
l_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	loop_exit(loop, 1);
}

/* A DANE module and a policy engine (memory cache) on the lab server, and lookup.c. */
struct lt {
	struct lab t;
	struct cache_mem *cache;
	struct pol_engine *e;
	struct lookup *lk;
};

static void
lt_new(struct lt *x)
{
	struct lookup_dane ld;

	lab_new(&x->t);
	l_loop = x->t.loop;
	l_n = 0;
	memset(L, 0, sizeof(L));
	x->cache = cache_mem_new(100);
	x->e = NULL;
	assert_int_equal(pol_engine_new(x->t.loop, &x->t.cfg->resolver, x->cache, &x->e), 0);
	ld = lookup_dane_of(x->t.d);
	x->lk = lookup_new(x->e, &ld);
}

/* Until six lookups have answered (l_done()), at most 2 * WAIT_MS (a liveness bound). */
static void
lt_run(struct lt *x)
{
	struct loop_timer guard = LOOP_TIMER_INIT;

	loop_timer_start(x->t.loop, &guard, 2 * WAIT_MS, l_guard, NULL);
	assert_int_equal(loop_run(x->t.loop), 0);
	loop_timer_stop(x->t.loop, &guard);
}

static void
lt_free(struct lt *x)
{
	x->lk = lookup_free(x->lk);
	x->e = pol_engine_free(x->e);
	cache_mem_free(x->cache);
	lab_free(&x->t);
}

static void
test_lookup_combines(void **state)
{
	struct lt x;
	struct lookup *lk;
	struct lookup_req *rq;
	struct cfg_zone on = {.timeout_ms = WAIT_MS, .dane = 1, .require_sni = 1};
	struct cfg_zone off = on;
	const struct lookup_counters *c;

	off.dane = 0;
	lt_new(&x);
	lk = x.lk;
	lookup_start(lk, "ad.test", NULL, &on, l_done, &L[0], &rq);
	lookup_start(lk, "ad.test", NULL, &off, l_done, &L[1], &rq);
	lookup_start(lk, "insec.test", NULL, &on, l_done, &L[2], &rq);
	lookup_start(lk, "fail.test", NULL, &on, l_done, &L[3], &rq);
	lookup_start(lk, "plain.test", NULL, &on, l_done, &L[4], &rq);
	lookup_start(lk, "nothing.test", NULL, &on, l_done, &L[5], &rq);
	/* Canceled before anything answered: TEMP at once, exactly once. */
	lookup_start(lk, "nomx.test", NULL, &on, l_done, &L[6], &rq);
	assert_non_null(rq);
	lookup_cancel(rq);
	assert_int_equal(L[6].called, 1);
	assert_int_equal(L[6].st, SM_TEMP);
	l_n--; /* not one of the six the loop waits for */
	lt_run(&x);
	assert_int_equal(L[0].st, SM_OK);
	assert_string_equal(L[0].data, "dane-only");
	assert_int_equal(L[0].src, LOOKUP_SRC_DANE_ONLY);
	assert_int_equal(L[1].st, SM_NOTFOUND); /* zone dane off: MTA-STS alone, no policy */
	assert_int_equal(L[1].src, LOOKUP_SRC_NONE);
	assert_int_equal(L[2].st, SM_OK);
	assert_string_equal(L[2].data, "dane");
	assert_int_equal(L[3].st, SM_TEMP);
	assert_string_equal(L[3].data, "DANE: TLSA lookup of _25._tcp.mx.fail.test failed: DNS "
	                               "server failure (SERVFAIL)");
	assert_int_equal(L[3].src, LOOKUP_SRC_DANE_TEMP);
	assert_int_equal(L[4].st, SM_NOTFOUND);
	assert_int_equal(L[5].st, SM_NOTFOUND);
	c = lookup_counters(lk);
	assert_int_equal(c->lookups, 7);
	assert_int_equal(c->dane_checked, 6);
	assert_int_equal(c->source[LOOKUP_SRC_DANE_ONLY], 1);
	assert_int_equal(c->source[LOOKUP_SRC_DANE], 1);
	assert_int_equal(c->source[LOOKUP_SRC_DANE_TEMP], 1);
	assert_int_equal(c->source[LOOKUP_SRC_NONE], 4);
	assert_int_equal(c->canceled, 1);
	lt_free(&x);
}

/* Issue 15 through lookup.c: an insecure MX RRset never replaces an MTA-STS policy. The
 * policy cache holds an enforce policy for insec.test (MX RRset without AD, its host
 * mx1.ad.test secure with TLSA) and for insecfail.test (its host's TLSA lookup fails), as
 * after an earlier discovery; a secure MX RRset (ad.test) still wins over its policy. */
static void
cache_policy(struct cache_mem *cache, struct loop *loop, const char *domain, const char *mx)
{
	char body[256];
	struct cache_entry ce = {.kind = CACHE_POLICY};
	time_t now = loop_wall_s(loop);

	(void)snprintf(body, sizeof(body),
	               "version: STSv1\nmode: enforce\nmx: %s\nmax_age: 604800\n", mx);
	assert_int_equal(sts_policy_parse(body, strlen(body), &ce.policy, NULL), 0);
	(void)snprintf(ce.id, sizeof(ce.id), "id1");
	ce.fetched_at = ce.last_check = now;
	ce.expires_at = now + 604800;
	cache_mem_put(cache, domain, &ce);
}

static void
test_lookup_insecure_mx_keeps_sts(void **state)
{
	struct lt x;
	struct lookup *lk;
	struct lookup_req *rq;
	struct cfg_zone on = {.timeout_ms = WAIT_MS, .dane = 1, .require_sni = 1};
	struct domain_nexthop relay = {.relay = 1, .port = 587};
	const struct lookup_counters *c;

	lt_new(&x);
	lk = x.lk;
	cache_policy(x.cache, x.t.loop, "insec.test", "mail.insec.test");
	cache_policy(x.cache, x.t.loop, "insecfail.test", "mail.insecfail.test");
	cache_policy(x.cache, x.t.loop, "ad.test", "mx1.ad.test");
	lookup_start(lk, "insec.test", NULL, &on, l_done, &L[0], &rq);
	lookup_start(lk, "insecfail.test", NULL, &on, l_done, &L[1], &rq);
	lookup_start(lk, "ad.test", NULL, &on, l_done, &L[2], &rq);
	lookup_start(lk, "relay.test", &relay, &on, l_done, &L[3], &rq);
	lookup_start(lk, "insecfail.test", NULL, &on, l_done, &L[4], &rq); /* joins its job */
	lookup_start(lk, "plainrelay.test", &relay, &on, l_done, &L[5], &rq);
	lt_run(&x);
	/* insec.test: the cached policy, not "dane" from the host the MX answer named */
	assert_int_equal(L[0].st, SM_OK);
	assert_string_equal(L[0].data, "secure match=mail.insec.test servername=hostname");
	assert_int_equal(L[0].src, LOOKUP_SRC_STS);
	/* insecfail.test: the cached policy, not TEMP from that host's failing TLSA lookup */
	assert_int_equal(L[1].st, SM_OK);
	assert_string_equal(L[1].data, "secure match=mail.insecfail.test servername=hostname");
	assert_int_equal(L[4].st, SM_OK);
	/* ad.test: secure MX RRset, usable TLSA everywhere: DANE first, as before */
	assert_int_equal(L[2].st, SM_OK);
	assert_string_equal(L[2].data, "dane-only");
	/* [relay.test]:587 (MX lookup would fail): dane-only from the host; no policy cached */
	assert_int_equal(L[3].st, SM_OK);
	assert_string_equal(L[3].data, "dane-only");
	/* [plainrelay.test]:587: no DANE, no policy: NOTFOUND, never TEMP */
	assert_int_equal(L[5].st, SM_NOTFOUND);
	c = lookup_counters(lk);
	assert_int_equal(c->sts_over_insecure_mx, 3);
	assert_int_equal(c->sts_overridden, 1); /* ad.test */
	assert_int_equal(c->source[LOOKUP_SRC_STS], 3);
	assert_int_equal(c->source[LOOKUP_SRC_DANE_ONLY], 2);
	assert_int_equal(c->source[LOOKUP_SRC_DANE_TEMP], 0);
	lt_free(&x);
}

/* Issue 16: DANE under a flood. The DANE module asks a server that never answers (a UDP
 * socket nobody reads) with resolver.max_discoveries 2; the policy cache holds enforce
 * policies for cached.test and cached2.test. A DANE lookup that does not finish (its
 * timeout, or over the cap) lets the cached policy answer, never TEMP; a domain without a
 * policy stays TEMP (never NOTFOUND: DANE might protect it). */
static void
test_lookup_dane_overload_keeps_sts(void **state)
{
	struct lt x;
	struct lookup *lk;
	struct lookup_req *rq;
	struct cfg_zone on = {.timeout_ms = 500, .dane = 1, .require_sni = 1};
	const struct lookup_counters *c;
	const struct dane_counters *dc;
	struct lookup_dane ld;
	struct cfg *dcfg;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	lt_new(&x);
	lk = x.lk;
	x.t.d = dane_free(x.t.d);
	dcfg = testns_cfg(ntohs(sin.sin_port));
	dcfg->resolver.max_discoveries = 2;
	dcfg->resolver.dns_timeout_ms = 5000; /* longer than the lookups wait */
	assert_int_equal(dane_new(x.t.loop, &dcfg->resolver, &x.t.opts, &x.t.d), 0);
	ld = lookup_dane_of(x.t.d);
	lookup_set_dane(lk, &ld);
	cache_policy(x.cache, x.t.loop, "cached.test", "mail.cached.test");
	cache_policy(x.cache, x.t.loop, "cached2.test", "mail.cached2.test");
	l_n = 2; /* four lookups: l_done() ends the loop at six */
	lookup_start(lk, "flood1.test", NULL, &on, l_done, &L[0], &rq);  /* DANE job 1 */
	lookup_start(lk, "cached.test", NULL, &on, l_done, &L[1], &rq);  /* job 2, times out */
	lookup_start(lk, "cached2.test", NULL, &on, l_done, &L[2], &rq); /* over the cap */
	lookup_start(lk, "flood2.test", NULL, &on, l_done, &L[3], &rq);  /* over the cap */
	lt_run(&x);
	/* the cached policies answer, DANE not finished */
	assert_int_equal(L[1].st, SM_OK);
	assert_string_equal(L[1].data, "secure match=mail.cached.test servername=hostname");
	assert_int_equal(L[1].src, LOOKUP_SRC_STS);
	assert_int_equal(L[2].st, SM_OK);
	assert_string_equal(L[2].data, "secure match=mail.cached2.test servername=hostname");
	/* no policy: TEMP as before, for the timeout and for the cap */
	assert_int_equal(L[0].st, SM_TEMP);
	assert_string_equal(L[0].data, "DANE: DANE lookup not finished after 500 ms");
	assert_int_equal(L[3].st, SM_TEMP);
	assert_string_equal(L[3].data, "DANE: DANE lookup not finished: too many DANE jobs in "
	                               "flight (resolver.max_discoveries)");
	c = lookup_counters(lk);
	assert_int_equal(c->sts_kept_overload, 2);
	assert_int_equal(c->source[LOOKUP_SRC_STS], 2);
	assert_int_equal(c->source[LOOKUP_SRC_DANE_TEMP], 2);
	dc = dane_counters(x.t.d);
	assert_int_equal(dc->rejected, 2);
	assert_int_equal(dc->timeouts, 2);
	assert_int_equal(dane_jobs_in_flight(x.t.d), 2); /* their queries were sent: they go on */
	lt_free(&x);
	cfg_free(dcfg);
	(void)close(fd);
}

/* The resolver not on loopback: the AD bit is not trusted, DANE answers none at once and
 * the MTA-STS policy decides. Such a lookup ran no DANE check: dane_checked stays 0 (it
 * counted them), while the same lookup through a trusted DANE module counts 1. */
static void
test_lookup_untrusted_not_checked(void **state)
{
	struct lt x;
	struct lookup *lk;
	struct lookup_req *rq;
	struct cfg_zone on = {.timeout_ms = WAIT_MS, .dane = 1, .require_sni = 1};
	struct lookup_dane ld;
	struct cfg *ncfg;
	const char *sec = "secure match=mail.cached.test servername=hostname";

	lt_new(&x);
	lk = x.lk;
	x.t.d = dane_free(x.t.d);
	ncfg = testns_cfg(testns_port);
	free(ncfg->resolver.dns_servers[0]);
	ncfg->resolver.dns_servers[0] = xasprintf("192.0.2.53@%u", testns_port);
	assert_int_equal(dane_new(x.t.loop, &ncfg->resolver, &x.t.opts, &x.t.d), 0);
	assert_false(dane_ad_trusted(x.t.d));
	ld = lookup_dane_of(x.t.d);
	lookup_set_dane(lk, &ld);
	cache_policy(x.cache, x.t.loop, "cached.test", "mail.cached.test");
	lookup_start(lk, "cached.test", NULL, &on, l_done, &L[0], &rq);
	assert_null(rq); /* answered at once: DANE none, the cached policy */
	assert_int_equal(L[0].called, 1);
	assert_int_equal(L[0].st, SM_OK);
	assert_string_equal(L[0].data, sec);
	assert_int_equal(L[0].src, LOOKUP_SRC_STS);
	assert_int_equal(lookup_counters(lk)->lookups, 1);
	assert_int_equal(lookup_counters(lk)->dane_checked, 0);
	assert_int_equal(dane_counters(x.t.d)->queries, 0);
	/* the same lookup with the resolver on loopback: checked */
	x.t.d = dane_free(x.t.d);
	assert_int_equal(dane_new(x.t.loop, &x.t.cfg->resolver, &x.t.opts, &x.t.d), 0);
	assert_true(dane_ad_trusted(x.t.d));
	ld = lookup_dane_of(x.t.d);
	lookup_set_dane(lk, &ld);
	assert_int_equal(lookup_counters(lk)->dane_checked, 0);
	l_n = 5; /* one lookup: l_done() ends the loop at six */
	lookup_start(lk, "cached.test", NULL, &on, l_done, &L[1], &rq);
	if (L[1].called == 0)
		lt_run(&x);
	assert_int_equal(L[1].called, 1);
	assert_int_equal(lookup_counters(lk)->dane_checked, 1);
	lt_free(&x);
	cfg_free(ncfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_combine),
	        cmocka_unit_test(test_lookup_combines),
	        cmocka_unit_test(test_lookup_insecure_mx_keeps_sts),
	        cmocka_unit_test(test_lookup_dane_overload_keeps_sts),
	        cmocka_unit_test(test_lookup_untrusted_not_checked),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
