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
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache_mem.h"
#include "cfg.h"
#include "dane.h"
#include "log.h"
#include "lookup.h"
#include "loop.h"
#include "pol_engine.h"
#include "xalloc.h"

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
	assert_string_equal(lookup_source_name(LOOKUP_SRC_DANE_ONLY), "dane-only");
	assert_string_equal(lookup_source_name(LOOKUP_SRC_STS), "sts");
	assert_string_equal(lookup_source_name(LOOKUP_SRC_NONE), "none");
}

/* ---- lookup_start() with a real DANE module and policy engine on ldns-testns ---- */

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

static void
test_lookup_combines(void **state)
{
	struct lab t;
	struct cache_mem *cache = cache_mem_new(100);
	struct pol_engine *e = NULL;
	struct lookup *lk;
	struct lookup_dane ld;
	struct lookup_req *rq;
	struct cfg_zone on = {.timeout_ms = 3000, .dane = 1, .require_sni = 1};
	struct cfg_zone off = on;
	struct loop_timer guard = LOOP_TIMER_INIT;
	const struct lookup_counters *c;

	off.dane = 0;
	lab_new(&t);
	l_loop = t.loop;
	l_n = 0;
	memset(L, 0, sizeof(L));
	assert_int_equal(pol_engine_new(t.loop, &t.cfg->resolver, cache, &e), 0);
	ld = lookup_dane_of(t.d);
	lk = lookup_new(e, &ld);
	lookup_start(lk, "ad.test", &on, l_done, &L[0], &rq);
	lookup_start(lk, "ad.test", &off, l_done, &L[1], &rq);
	lookup_start(lk, "insec.test", &on, l_done, &L[2], &rq);
	lookup_start(lk, "fail.test", &on, l_done, &L[3], &rq);
	lookup_start(lk, "plain.test", &on, l_done, &L[4], &rq);
	lookup_start(lk, "nothing.test", &on, l_done, &L[5], &rq);
	/* Canceled before anything answered: TEMP at once, exactly once. */
	lookup_start(lk, "nomx.test", &on, l_done, &L[6], &rq);
	assert_non_null(rq);
	lookup_cancel(rq);
	assert_int_equal(L[6].called, 1);
	assert_int_equal(L[6].st, SM_TEMP);
	l_n--; /* not one of the six the loop waits for */
	loop_timer_start(t.loop, &guard, 10000, l_guard, NULL);
	assert_int_equal(loop_run(t.loop), 0);
	loop_timer_stop(t.loop, &guard);
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
	lk = lookup_free(lk);
	e = pol_engine_free(e);
	cache_mem_free(cache);
	lab_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_combine),
	        cmocka_unit_test(test_lookup_combines),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
