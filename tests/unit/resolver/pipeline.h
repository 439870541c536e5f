/*
 * tests/unit/resolver/pipeline.h - one socketmap lookup through sm_proto, pol_engine and
 *                                  pf_reply, on the fake DNS/HTTPS world and the fake clock
 *
 * Included after fake_world.h by the tests that run the engine (test_pol_engine.c) and
 * those that check the replies it leads to (test_pf_reply.c). The loop given to pipeline()
 * is a fake loop (loop_new_fake(), PIPELINE_WALL_S): waiting for the answer moves the
 * virtual clock (at most GUARD_MS), never real time.
 *
 * Interface: test_cfg(), policy(), pipeline(), run_free(), struct run, engine_teardown()
 * Ownership: test_cfg(), policy() and pipeline() return owned objects (cfg_free(),
 *            sts_policy_free(), free()); struct run owns its policy copy (run_free()).
 */
#ifndef MTASTSD_TEST_PIPELINE_H
#define MTASTSD_TEST_PIPELINE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_mem.h"
#include "cfg.h"
#include "loop.h"
#include "pf_reply.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sts_policy.h"

/* Virtual time a lookup may take before the test fails (ms). */
#define GUARD_MS 5000
/* The fake loops' wall clock at their start: 2026-01-01 00:00:00 UTC. */
#define PIPELINE_WALL_S ((time_t)1767225600)

static struct cfg *
test_cfg(void)
{
	struct cfg *c = cfg_defaults();

	assert_non_null(c);
	assert_true(c->resolver.n_zones >= 1);
	return c;
}

static struct sts_policy *
policy(const char *mode, const char *mx_csv)
{
	char *text = fw_policy_text(mode, mx_csv, 604800);
	struct sts_policy *p = NULL;

	assert_int_equal(sts_policy_parse(text, strlen(text), &p, NULL), 0);
	free(text);
	return p;
}

struct run {
	struct loop *loop;
	int done;
	struct pol_answer a;
	struct sts_policy *policy;
	char id[STS_ID_MAX + 1];
};

static void
run_done(const struct pol_answer *a, void *arg)
{
	struct run *r = arg;

	r->done++;
	r->a = *a;
	r->policy = a->policy != NULL ? sts_policy_dup(a->policy) : NULL;
	(void)snprintf(r->id, sizeof(r->id), "%s", a->id != NULL ? a->id : "");
	loop_exit(r->loop, 0);
}

/* One lookup through sm_proto + engine + pf_reply; returns the owned reply payload. */
static char *
pipeline(struct loop *loop, struct pol_engine *e, const struct cfg_resolver *rc, const char *map,
         const char *key, struct run *run)
{
	struct sm_request req;
	struct pol_waiter *w = NULL;
	char *payload = xasprintf("%s %s", map, key), *data = NULL, *out;
	enum sm_status st;
	int r;

	memset(run, 0, sizeof(*run));
	run->loop = loop;
	r = sm_request_parse(rc, payload, strlen(payload), &req);
	free(payload);
	if (r < 0)
		return xstrdup(r == -EINVAL ? "PERM malformed" : "NOTFOUND ");
	pol_lookup(e, req.domain, req.zone->timeout_ms, run_done, run, &w);
	if (run->done == 0)
		assert_int_equal(loop_fake_run(loop, GUARD_MS), 0);
	assert_int_equal(run->done, 1);
	(void)pf_reply_decide(run->a.status == POL_POLICY ? run->policy : NULL, req.domain,
	                      req.zone, &st, &data, NULL);
	out = xasprintf("%s %s", sm_status_name(st), data != NULL ? data : "");
	free(data);
	return out;
}

static void
run_free(struct run *r)
{
	r->policy = sts_policy_free(r->policy);
}

/* Free what a test built around an engine, the engine before the cache and loop it uses. */
static void
engine_teardown(struct pol_engine *e, struct cache_mem *cache, struct loop *loop, struct cfg *c)
{
	(void)pol_engine_free(e);
	(void)cache_mem_free(cache);
	(void)loop_free(loop);
	(void)cfg_free(c);
}

#endif
