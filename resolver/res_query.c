/*
 * resolver/res_query.c - one discovery outside the daemon (`mtastsd query DOMAIN`)
 *
 * Interface: res_query_run(), res_query_free() (res_query.h)
 * Design:    a private loop, a one-entry memory cache and a policy engine built from
 *            cfg->resolver; the DANE half is lookup_cli.c. pol_lookup() and the DANE lookup
 *            start together; whichever answers last ends loop_run(). Then the reply is
 *            decided as sm_server does: pf_reply_decide(), then DANE first
 *            (lookup_cli_override()).
 * Threads:   the caller's thread only.
 * Ownership: the loop, cache, engine and DANE module live only during res_query_run();
 *            the result owns the policy copy, the reply and the DANE findings.
 * Errors:    see res_query.h; nothing is printed or logged here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_mem.h"
#include "err.h"
#include "pf_reply.h"
#include "res_query.h"
#include "xalloc.h"

struct res_query_run {
	struct loop *loop;
	struct res_query *q;
	int answered;          /* the MTA-STS half is in */
	struct lookup_cli *lc; /* the DANE half; NULL when the zone has dane off */
};

static void
res_query_done(const struct pol_answer *a, void *arg)
{
	struct res_query_run *run = arg;
	struct res_query *q = run->q;

	run->answered = 1;
	q->status = a->status;
	q->policy = a->policy != NULL ? sts_policy_dup(a->policy) : NULL;
	(void)snprintf(q->id, sizeof(q->id), "%s", a->id != NULL ? a->id : "");
	(void)snprintf(q->detail, sizeof(q->detail), "%s", a->detail != NULL ? a->detail : "");
	q->err = a->err;
	if (!lookup_cli_pending(run->lc))
		loop_exit(run->loop, 0);
}

int
res_query_run(const struct cfg *cfg, const char *domain, struct res_query **ret_q, char *errbuf,
              size_t errsize)
{
	const struct cfg_resolver *rc = &cfg->resolver;
	const char *zname = rc->default_zone != NULL ? rc->default_zone : "";
	const struct cfg_zone *z;
	struct res_query_run run = {0};
	struct res_query *q = xcalloc(1, sizeof(*q));
	struct cache_mem *cache = NULL;
	struct pol_engine *e = NULL;
	struct pol_waiter *w = NULL;
	struct domain_nexthop nh;
	char *data = NULL;
	uint64_t guard_ms;
	int r;

	run.q = q;
	r = domain_nexthop_parse(domain, strlen(domain), q->domain, &nh);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "'%s': %s", domain, err_str(r));
		goto out;
	}
	z = cfg_zone_find(rc, zname, strlen(zname));
	q->zone = z->name != NULL ? z->name : "";
	r = loop_new(&run.loop);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "cannot create the event loop: %s", err_str(r));
		goto out;
	}
	cache = cache_mem_new(1);
	r = pol_engine_new(run.loop, rc, cache, &e);
	if (r < 0) {
		(void)snprintf(errbuf, errsize, "%s", err_str(r));
		goto out;
	}
	/* The engine's DNS and fetch timeouts bound the discovery; this guard only catches a
	 * stuck run: every DNS try of every server, then the whole fetch, plus a second. */
	guard_ms = (rc->dns_timeout_ms + 1) * (rc->dns_attempts + 1) * (rc->n_dns_servers + 3) +
	           rc->fetch_timeout_ms + 1000;
	run.lc = lookup_cli_start(run.loop, rc, z, q->domain, &nh, guard_ms, &run.answered,
	                          pol_engine_dns(e)); /* the servers read once */
	pol_lookup(e, q->domain, guard_ms, res_query_done, &run, &w);
	if (!run.answered || lookup_cli_pending(run.lc))
		(void)loop_run(run.loop);
	if (!run.answered) {
		(void)snprintf(errbuf, errsize, "the event loop stopped without an answer");
		r = -ETIMEDOUT;
		goto out;
	}
	q->reply_err = pf_reply_decide(q->status == POL_POLICY ? q->policy : NULL, q->domain, z,
	                               &q->reply_status, &data, &q->reply_flags);
	q->dane_decided = lookup_cli_override(run.lc, &q->reply_status, &data); /* DANE first */
	q->dane_ran = lookup_cli_take(run.lc, &q->dane);
	q->reply = xasprintf("%s %s", sm_status_name(q->reply_status), data != NULL ? data : "");
	free(data);
	*ret_q = q;
	q = NULL;
	r = 0;
out:
	q = res_query_free(q);
	run.lc = lookup_cli_free(run.lc);
	e = pol_engine_free(e);
	cache = cache_mem_free(cache);
	run.loop = loop_free(run.loop);
	return r;
}

struct res_query *
res_query_free(struct res_query *q)
{
	if (q == NULL)
		return NULL;
	lookup_cli_result_clear(&q->dane);
	sts_policy_free(q->policy);
	free(q->reply);
	free(q);
	return NULL;
}
