/*
 * resolver/pol_engine.c - per-domain MTA-STS policy state machine
 *
 * Interface: see pol_engine.h
 * Threads:   main loop only.
 * Ownership: a discovery (struct pol_job) is in the job table (common/coalesce.h) from
 *            its start until it completes; it owns its DNS query or fetch handle and a
 *            zero-delay timer used to report a failure to start. A waiter is coalesce's
 *            while it waits and is freed right after its callback.
 * Errors:    none reach the caller; every DNS/HTTPS outcome is classified (no policy vs
 *            temporary failure), counted and logged once per discovery with what happens
 *            next.
 *
 * States of a job: JOB_TXT (DNS query in flight) -> JOB_FETCH (HTTPS fetch in flight) ->
 * done. A job completes by storing a policy, by keeping a valid cached policy (unchanged
 * id, or any failure), or by caching "no policy"/"tempfail"; then every waiter is answered.
 * docs/socketmap.md has the table of what each state answers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_redis.h"
#include "coalesce.h"
#include "dns_client.h"
#include "domain.h"
#include "err.h"
#include "https_fetch.h"
#include "log.h"
#include "lru.h"
#include "pol_engine.h"
#include "stats.h"
#include "sts_txt.h"
#include "xalloc.h"

enum pol_job_state {
	JOB_TXT = 0,
	JOB_FETCH = 1,
	JOB_FAILING = 2,      /* fail_timer armed: the query or fetch could not be started */
	JOB_SHARED_GET = 3,   /* reading the shared cache before any DNS (foreground only) */
	JOB_LOCK = 4,         /* shared cache: re-read + take the fetch lock (one script) */
	JOB_WAIT = 5,         /* another host holds the fetch lock: polling for its result */
	JOB_FETCH_QUEUED = 6, /* waiting for one of the fetch_concurrency slots (foreground) */
};

struct pol_waiter {
	struct coalesce_waiter cw;
	struct pol_engine *e;
	pol_done_fn *done;
	void *arg;
};

struct pol_job {
	struct coalesce_job cj; /* in e->jobs under domain */
	struct pol_engine *e;
	char domain[DOMAIN_BUF];
	char qname[POL_QNAME_MAX];
	enum pol_job_state state;
	int background;  /* counted in e->n_background */
	int shared_only; /* a lookup's over a cap: reads the shared cache only (n_shared_only) */
	int force;       /* fetch even when the TXT id equals the cached one (refresh) */
	int restarting;  /* a cancel is a reload: start again on the new clients */
	int id_changed;  /* the TXT id differs from the valid cached policy's: fetching it */
	int fetch_slot;  /* foreground: holds one of the fetch_concurrency slots */
	int queued;      /* foreground: in e's fetch queue (q_prev, q_next) */
	struct pol_job *q_prev, *q_next;
	struct dns_query *dq;
	struct fetch_req *fr;
	struct cache_redis_req *rq; /* shared cache read in flight */
	struct loop_timer fail_timer;
	struct loop_timer wait_timer; /* JOB_WAIT: next poll */
	uint64_t wait_deadline_ms;    /* JOB_WAIT: give up and fetch directly (0 = not set) */
	uint64_t wait_delay_ms;
	int shared_checked;    /* the shared cache was read (or could not be) before the TXT */
	int lock_held;         /* we hold the fleet fetch lock: release it on completion */
	int from_shared;       /* the outcome came from the shared cache: not written back */
	time_t shared_expires; /* from_shared negative entry: its expiry */
	int fail_err;
	enum cache_kind fail_kind; /* what fail_timer completes the job with */
	char id[STS_ID_MAX + 1];
	char detail[256];
};

#define POL_JOB(cj) COALESCE_ENTRY(cj, struct pol_job, cj)

struct pol_engine {
	struct loop *loop;
	const struct cfg_resolver *cfg;
	struct cache_mem *cache;
	pol_store_fn *store; /* the state database tier, pol_engine_set_store() */
	void *store_arg;
	struct cache_redis *shared; /* NULL: memory only */
	uint64_t lock_ttl_ms;       /* fleet fetch lock TTL */
	uint64_t wait_max_ms;       /* longest wait for another host's fetch */
	struct dns_client *dns;
	struct fetcher *fetcher;
	struct curlm *curlm;   /* borrowed libcurl multi of the fetchers; NULL: their own */
	struct coalesce *jobs; /* discoveries in flight by domain, and their waiters */
	size_t n_background;
	size_t n_foreground;               /* jobs started by lookups (max_discoveries) */
	size_t n_shared_only;              /* over-cap lookups' shared cache reads */
	size_t n_fetching;                 /* foreground jobs holding a fetch slot */
	size_t n_queued;                   /* foreground jobs waiting for one (fetch_queue_max) */
	struct pol_job *fq_head, *fq_tail; /* that FIFO */
	struct loop_timer fq_timer;        /* starts queued fetches when slots free up */
	struct loop_timer refresh_timer;   /* the refresh schedule (cache_mem's due heap) */
	struct log_rate reject_log;        /* over-cap rejections */
	struct log_rate fail_log;          /* discovery failures without a cached policy */
	struct log_rate timeout_log;       /* lookups answered NOTFOUND at their timeout */
	struct loop_timer sweep_timer;
	struct loop_timer recheck_timer; /* proactive TXT re-checks of recently used policies */
	struct pol_counters ctr;
};

static void pol_job_start(struct pol_job *job);
static void pol_fetch_gate(struct pol_job *job);
static void pol_fetch_release(struct pol_job *job);
static time_t pol_refresh_at(const struct pol_engine *e, const char *domain,
                             const struct cache_entry *ce);

const char *
pol_status_name(enum pol_status s)
{
	switch (s) {
	case POL_POLICY:
		return "policy";
	case POL_NO_POLICY:
		return "no-policy";
	case POL_TEMPFAIL:
		return "tempfail";
	case POL_TIMEOUT:
		return "timeout";
	case POL_CANCELED:
		return "canceled";
	}
	return "unknown";
}

static time_t
pol_ms_to_s(uint64_t ms)
{
	return (time_t)((ms + 999) / 1000);
}

static time_t
pol_now(const struct pol_engine *e)
{
	return loop_wall_s(e->loop);
}

/* ---- job table ---- */

static struct pol_job *
pol_job_find(const struct pol_engine *e, const char *domain)
{
	struct coalesce_job *cj = coalesce_find(e->jobs, domain);

	return cj != NULL ? POL_JOB(cj) : NULL;
}

/* Over-cap rejections are logged at most once per POL_REJECT_LOG_MS, with their count. */
static void
pol_reject_log(struct pol_engine *e, const char *domain, const char *why)
{
	uint64_t held;

	if (!log_rate_due(&e->reject_log, loop_now_ms(e->loop), POL_REJECT_LOG_MS, &held))
		return;
	log_dom_warn(domain,
	             "%s: %" PRIu64 " lookup(s) answered as timed out since the last report "
	             "(%zu discoveries in flight, max_discoveries %u; %zu waiting for a fetch, "
	             "fetch_queue_max %u)",
	             why, held + 1, e->n_foreground, e->cfg->max_discoveries, e->n_queued,
	             e->cfg->fetch_queue_max);
}

/* "Temporary failure, no cached policy" warnings: at most one per POL_REJECT_LOG_MS with
 * the count of the others (logged at debug level), as a flood of failing names would
 * otherwise write one line per name. */
static void
pol_fail_log(struct pol_engine *e, const char *domain, int err, const char *sep, const char *detail,
             time_t retry)
{
	uint64_t held;

	if (!log_rate_due(&e->fail_log, loop_now_ms(e->loop), POL_REJECT_LOG_MS, &held)) {
		log_dom_debug(domain,
		              "temporary failure discovering the MTA-STS policy (%s%s%s), no "
		              "cached policy: no MTA-STS policy applies, retrying in %lld s",
		              err_str(err), sep, detail, (long long)retry);
		return;
	}
	if (held > 0)
		log_dom_warn(
		        domain,
		        "temporary failure discovering the MTA-STS policy (%s%s%s), no "
		        "cached policy: no MTA-STS policy applies, retrying in %lld s (%" PRIu64
		        " more such failures of other domains since the last such line)",
		        err_str(err), sep, detail, (long long)retry, held);
	else
		log_dom_warn(domain,
		             "temporary failure discovering the MTA-STS policy (%s%s%s), no "
		             "cached policy: no MTA-STS policy applies, retrying in %lld s",
		             err_str(err), sep, detail, (long long)retry);
}

static const struct cache_entry *pol_valid_policy(struct pol_engine *e, const char *domain,
                                                  time_t now);

/* A lookup's discovery of domain over a cap: with a shared cache (Valkey/Redis) that can
 * take one more read (RES_OVERCAP_SHARED_READS_MAX), 1 (the job reads it and nothing else:
 * another fleet member's policy still applies during a flood); else 0 (answered at once).
 * Never for a domain with a valid cached policy (a due TXT re-check): the cached policy
 * answers it at once (RFC 8461 section 5.1); a shared read could only replace it with a
 * value whose id no DNS answer confirmed, or end as a timeout, i.e. NOTFOUND. */
static int
pol_overcap_shared(struct pol_engine *e, const char *domain)
{
	if (e->shared == NULL || e->n_shared_only >= RES_OVERCAP_SHARED_READS_MAX ||
	    pol_valid_policy(e, domain, pol_now(e)) != NULL)
		return 0;
	e->ctr.overcap_shared_reads++;
	return 1;
}

/* A new discovery of domain, started; NULL when the job table is full or, for a lookup's
 * discovery, over max_discoveries or with the fetch queue full (counted, issue 16), unless
 * a shared cache read takes it (pol_overcap_shared()). */
static struct pol_job *
pol_job_new(struct pol_engine *e, const char *domain, int background, int force)
{
	struct pol_job *job;
	int shared_only = 0;

	if (!background && e->n_foreground >= e->cfg->max_discoveries) {
		e->ctr.rejected_discoveries++;
		pol_reject_log(e, domain, "too many discoveries in flight");
		shared_only = pol_overcap_shared(e, domain);
		if (!shared_only)
			return NULL;
	} else if (!background && e->n_fetching >= e->cfg->fetch_concurrency &&
	           e->n_queued >= e->cfg->fetch_queue_max) {
		e->ctr.rejected_fetch_queue++;
		pol_reject_log(e, domain, "fetch queue full");
		shared_only = pol_overcap_shared(e, domain);
		if (!shared_only)
			return NULL;
	}
	job = xcalloc(1, sizeof(*job));
	job->shared_only = shared_only;

	job->e = e;
	(void)snprintf(job->domain, sizeof(job->domain), "%s", domain);
	(void)snprintf(job->qname, sizeof(job->qname), "_mta-sts.%s", domain);
	job->background = background;
	job->force = force;
	if (coalesce_add(e->jobs, &job->cj, job->domain) < 0) {
		free(job);
		if (!background)
			pol_reject_log(e, domain, "job table full (RES_JOBS_MAX)");
		return NULL;
	}
	if (background)
		e->n_background++;
	else if (shared_only)
		e->n_shared_only++;
	else
		e->n_foreground++;
	e->ctr.discoveries++;
	pol_job_start(job);
	return job;
}

/* ---- answering ---- */

static int
pol_entry_valid(const struct cache_entry *ce, time_t now)
{
	return ce != NULL && ce->kind == CACHE_POLICY && ce->policy != NULL && now < ce->expires_at;
}

/* Memory holds no valid policy of domain: the state database may (a policy evicted for
 * space, even while its own re-check or a new id's fetch ran, found by a trial: the
 * failure then cached "no policy" in its place). Returns 1 when it was put back into
 * memory (any view of the cache taken before is then stale), else 0. */
static int
pol_store_read(struct pol_engine *e, const char *domain, time_t now)
{
	return e->store != NULL && e->store(domain, now, e->store_arg) > 0;
}

/* The valid (unexpired) cached policy of domain, from memory or read back from the state
 * database (pol_store_read()), or NULL. A cache_mem_peek() view. */
static const struct cache_entry *
pol_valid_policy(struct pol_engine *e, const char *domain, time_t now)
{
	const struct cache_entry *ce = cache_mem_peek(e->cache, domain);

	if (pol_entry_valid(ce, now))
		return ce;
	if (pol_store_read(e, domain, now) &&
	    pol_entry_valid(ce = cache_mem_peek(e->cache, domain), now))
		return ce;
	return NULL;
}

static void
pol_answer_one(struct pol_engine *e, pol_done_fn *done, void *arg, const struct pol_answer *a)
{
	e->ctr.answers[a->status]++;
	done(a, arg);
}

/* A lookup without a cached policy answered NOTFOUND at its timeout: an info line at most
 * once per POL_REJECT_LOG_MS with the count of the others (debug), as a flood of slow names
 * would otherwise write one line per lookup. */
static void
pol_timeout_log(struct pol_engine *e, const char *domain)
{
	uint64_t held;

	if (!log_rate_due(&e->timeout_log, loop_now_ms(e->loop), POL_REJECT_LOG_MS, &held)) {
		log_dom_debug(domain, "no answer within the lookup timeout, answering NOTFOUND");
		return;
	}
	if (held > 0)
		log_dom_info(domain,
		             "no answer within the lookup timeout, answering NOTFOUND; discovery "
		             "continues and fills the cache (%" PRIu64 " more such lookups since "
		             "the last such line)",
		             held);
	else
		log_dom_info(domain,
		             "no answer within the lookup timeout, answering NOTFOUND; discovery "
		             "continues and fills the cache");
}

/* coalesce answers a waiter: with the job's pol_answer, or its timeout, or its cancel. */
static void
pol_waiter_answer(struct coalesce_job *cj, struct coalesce_waiter *cw, enum coalesce_why why,
                  const void *result, void *arg)
{
	struct pol_engine *e = arg;
	struct pol_waiter *w = COALESCE_ENTRY(cw, struct pol_waiter, cw);
	pol_done_fn *done = w->done;
	void *warg = w->arg;
	struct pol_answer a = {.status = POL_CANCELED, .id = "", .err = -ECANCELED, .detail = ""};
	const struct cache_entry *ce;
	struct sts_policy *p = NULL;
	char id[STS_ID_MAX + 1];

	free(w);
	if (why == COALESCE_TIMEOUT) {
		a.err = -ETIMEDOUT;
		ce = pol_valid_policy(e, POL_JOB(cj)->domain, pol_now(e));
		if (ce != NULL) {
			/* A re-check or a new id's fetch ran out of the lookup's time: the
			 * cached policy applies (RFC 8461 section 5.1), never "no policy". */
			e->ctr.recheck_timeout_cached++;
			log_dom_info(POL_JOB(cj)->domain,
			             "policy re-check not finished within the lookup timeout, "
			             "answering cached policy id %s; the discovery continues",
			             ce->id);
			p = sts_policy_dup(ce->policy); /* the callback may change the cache */
			(void)snprintf(id, sizeof(id), "%s", ce->id);
			a.status = POL_POLICY;
			a.policy = p;
			a.id = id;
			a.cached = 1;
		} else {
			pol_timeout_log(e, POL_JOB(cj)->domain);
			a.status = POL_TIMEOUT;
		}
	}
	pol_answer_one(e, done, warg, why == COALESCE_DONE ? result : &a);
	sts_policy_free(p);
}

/* Complete job: remove it from the table, answer every waiter with a, free it. */
static void
pol_job_complete(struct pol_job *job, const struct pol_answer *a)
{
	struct pol_engine *e = job->e;

	if (job->background)
		e->n_background--;
	else if (job->shared_only)
		e->n_shared_only--;
	else
		e->n_foreground--;
	pol_fetch_release(job);
	loop_timer_stop(e->loop, &job->fail_timer);
	loop_timer_stop(e->loop, &job->wait_timer);
	if (job->lock_held && e->shared != NULL)
		(void)cache_redis_unlock(e->shared, job->domain);
	job->lock_held = 0;
	(void)coalesce_complete(e->jobs, &job->cj, a);
	free(job);
}

static void
pol_job_complete_status(struct pol_job *job, enum pol_status st, int err)
{
	struct pol_answer a = {.status = st, .id = job->id, .err = err, .detail = job->detail};

	pol_job_complete(job, &a);
}

/* Answer with a copy of the cached policy (the cache may change in the callbacks). */
static void
pol_job_complete_policy(struct pol_job *job, const struct cache_entry *ce, int err)
{
	struct sts_policy *p = sts_policy_dup(ce->policy);
	char id[STS_ID_MAX + 1];
	struct pol_answer a = {
	        .status = POL_POLICY, .policy = p, .id = id, .err = err, .detail = job->detail};

	(void)snprintf(id, sizeof(id), "%s", ce->id);
	pol_job_complete(job, &a);
	sts_policy_free(p);
}

/* ---- outcomes ---- */

/* Write an entry to the shared cache (newer wins there), fire-and-forget. */
static void
pol_shared_put(struct pol_engine *e, const char *domain, const struct cache_entry *ce, time_t now)
{
	if (e->shared == NULL)
		return;
	if (cache_redis_put(e->shared, domain, ce, now) == 0)
		e->ctr.shared_writes++;
	else
		e->ctr.shared_unavailable++;
}

static void
pol_store_policy(struct pol_job *job, struct sts_policy *p)
{
	struct pol_engine *e = job->e;
	time_t now = pol_now(e);
	const struct cache_entry *old = cache_mem_peek(e->cache, job->domain);
	/* A max_age shorter than tempfail_ttl (0: "do not cache") would make every lookup a
	 * new discovery and fetch (the trial: 50 lookups, 50 fetches of one domain): the
	 * policy answers for tempfail_ttl, the interval the engine already spaces a domain's
	 * retries by (retry_after), so one domain is fetched at most about once per it. */
	time_t life = (time_t)p->max_age_s, floor = pol_ms_to_s(e->cfg->tempfail_ttl_ms);
	struct cache_entry ce = {
	        .kind = CACHE_POLICY,
	        .policy = p,
	        .fetched_at = now,
	        .expires_at = now + (life > floor ? life : floor),
	        .last_check = now,
	};
	int changed = old == NULL || old->kind != CACHE_POLICY || strcmp(old->id, job->id) != 0;

	(void)snprintf(ce.id, sizeof(ce.id), "%s", job->id);
	if (old != NULL)
		ce.last_used = old->last_used; /* still the same domain's traffic */
	if (changed)
		log_dom_info(job->domain,
		             "policy id %s fetched: mode %s, max_age %" PRIu32 ", %zu mx, applied "
		             "until it expires or its TXT id changes",
		             job->id, sts_mode_name(p->mode), p->max_age_s, p->n_mx);
	else
		log_dom_debug(job->domain, "policy id %s re-fetched, valid for %" PRIu32 " s",
		              job->id, p->max_age_s);
	e->ctr.policies_stored++;
	pol_shared_put(e, job->domain, &ce, now);
	cache_mem_put(e->cache, job->domain, &ce);
	pol_job_complete_policy(job, cache_mem_peek(e->cache, job->domain), 0);
}

/* A discovery failed: kind CACHE_NO_POLICY or CACHE_TEMPFAIL, err the reason. */
static void
pol_fail(struct pol_job *job, enum cache_kind kind, int err)
{
	struct pol_engine *e = job->e;
	time_t now = pol_now(e);
	struct cache_entry *ce = cache_mem_get(e->cache, job->domain);
	time_t retry = pol_ms_to_s(e->cfg->tempfail_ttl_ms);
	const char *what = kind == CACHE_NO_POLICY ? "no MTA-STS policy" : "temporary failure";
	const char *sep = job->detail[0] != '\0' ? ": " : "";

	if (!pol_entry_valid(ce, now) && pol_store_read(e, job->domain, now))
		ce = cache_mem_get(e->cache, job->domain);
	if (pol_entry_valid(ce, now)) {
		/* RFC 8461 sections 3.1 note, 3.3, 10.2: keep applying the cached policy. */
		e->ctr.stale_kept++;
		ce->last_error = err;
		ce->retry_after = now + retry;
		if (kind == CACHE_NO_POLICY)
			ce->last_check = now;
		{
			time_t at = pol_refresh_at(e, job->domain, ce);

			(void)cache_mem_set_due(e->cache, job->domain,
			                        at > ce->retry_after ? at : ce->retry_after);
		}
		if (ce->policy->mode == STS_MODE_NONE)
			log_dom_info(job->domain,
			             "%s (%s%s%s), keeping cached policy id %s (mode none), "
			             "retrying in %lld s",
			             what, err_str(err), sep, job->detail, ce->id,
			             (long long)retry);
		else
			log_dom_warn(job->domain,
			             "%s (%s%s%s), keeping cached policy id %s for %lld s until it "
			             "expires, retrying in %lld s",
			             what, err_str(err), sep, job->detail, ce->id,
			             (long long)(ce->expires_at - now), (long long)retry);
		pol_job_complete_policy(job, ce, err);
		return;
	}
	{
		struct cache_entry ne = {.kind = kind, .last_check = now, .last_error = err};
		time_t ttl = kind == CACHE_NO_POLICY ? pol_ms_to_s(e->cfg->negative_ttl_ms) : retry;

		ne.expires_at = now + ttl;
		(void)snprintf(ne.id, sizeof(ne.id), "%s", job->id);
		if (job->from_shared && job->shared_expires > now) {
			/* Another host's outcome: keep its expiry, do not write it back. */
			ne.expires_at = job->shared_expires;
			if (kind == CACHE_NO_POLICY)
				e->ctr.outcome_no_policy++;
			else
				e->ctr.outcome_tempfail++;
			log_dom_debug(
			        job->domain,
			        "%s recorded in the shared cache (%s), answering NOTFOUND for "
			        "%lld s",
			        what, err_str(err), (long long)(ne.expires_at - now));
		} else if (kind == CACHE_NO_POLICY) {
			e->ctr.outcome_no_policy++;
			log_dom_debug(job->domain,
			              "no MTA-STS policy (%s), answering NOTFOUND for %lld s",
			              err_str(err), (long long)ttl);
		} else {
			e->ctr.outcome_tempfail++;
			pol_fail_log(e, job->domain, err, sep, job->detail, ttl);
		}
		if (!job->from_shared && err != -ENOSPC &&
		    err != ERR_DNS_BUSY) /* our overload is not the fleet's */
			pol_shared_put(e, job->domain, &ne, now);
		cache_mem_put(e->cache, job->domain, &ne);
	}
	pol_job_complete_status(job, kind == CACHE_NO_POLICY ? POL_NO_POLICY : POL_TEMPFAIL, err);
}

/* The operation in flight was canceled: engine shutdown, reload or a failed start. */
static void
pol_canceled(struct pol_job *job)
{
	if (job->restarting) {
		job->restarting = 0;
		pol_job_start(job);
		return;
	}
	pol_job_complete_status(job, POL_CANCELED, -ECANCELED);
}

static void
pol_count_fetch_err(struct pol_counters *c, int err)
{
	switch (err) {
	case ERR_FETCH_HTTP:
		c->fetch_http++;
		break;
	case ERR_FETCH_REDIRECT:
		c->fetch_redirect++;
		break;
	case ERR_FETCH_TLS:
		c->fetch_tls++;
		break;
	case ERR_FETCH_CONNECT:
		c->fetch_connect++;
		break;
	case ERR_FETCH_TIMEOUT:
		c->fetch_timeout++;
		break;
	case ERR_FETCH_TOO_LARGE:
		c->fetch_too_large++;
		break;
	case ERR_FETCH_CONTENT_TYPE:
		c->fetch_content_type++;
		break;
	case ERR_FETCH_HOST_UNKNOWN:
		c->fetch_host_unknown++;
		break;
	case ERR_FETCH_HOST_DNS:
		c->fetch_host_dns++;
		break;
	default:
		c->fetch_other++;
		break;
	}
}

static void
pol_fetch_done(int err, const char *body, size_t len, const struct fetch_info *info, void *arg)
{
	struct pol_job *job = arg;
	struct pol_engine *e = job->e;
	struct sts_parse_error perr = {0};
	struct sts_policy *p = NULL;
	int r;

	job->fr = NULL;
	pol_fetch_release(job);
	if (err == -ECANCELED) {
		pol_canceled(job);
		return;
	}
	if (info != NULL && info->detail[0] != '\0')
		(void)log_printable(job->detail, sizeof(job->detail), info->detail,
		                    strlen(info->detail));
	if (err < 0) {
		pol_count_fetch_err(&e->ctr, err);
		pol_fail(job, CACHE_TEMPFAIL, err);
		return;
	}
	r = sts_policy_parse(body, len, &p, &perr);
	if (r < 0) {
		e->ctr.fetch_invalid_policy++;
		if (perr.line > 0)
			(void)snprintf(job->detail, sizeof(job->detail), "line %u: %s", perr.line,
			               perr.reason);
		else
			(void)snprintf(job->detail, sizeof(job->detail), "%s", perr.reason);
		pol_fail(job, CACHE_TEMPFAIL, r);
		return;
	}
	e->ctr.fetch_ok++;
	if (p->n_mx_dropped > 0) {
		/* once per policy id: a policy is parsed once per fetch, a fetch per new id */
		e->ctr.policy_ip_mx_dropped++;
		log_dom_notice(job->domain,
		               "policy id %s: %u IP-address mx pattern(s) dropped (no MX host "
		               "certificate can match them); the %zu name pattern(s) apply",
		               job->id, (unsigned)p->n_mx_dropped, p->n_mx);
	}
	pol_store_policy(job, p);
}

static void
pol_fetch_begin(struct pol_job *job)
{
	struct pol_engine *e = job->e;

	job->state = JOB_FETCH;
	e->ctr.fetch_started++;
	job->fr = fetch_start(e->fetcher, job->domain, pol_fetch_done, job);
	if (job->fr == NULL) {
		e->ctr.fetch_other++;
		(void)snprintf(job->detail, sizeof(job->detail), "cannot start the fetch");
		pol_fail(job, CACHE_TEMPFAIL, ERR_FETCH_CONNECT);
	}
}

/* ---- fetch slots (issue 16) ----
 * A lookup's discovery fetches in one of fetch_concurrency slots, or waits in a FIFO of at
 * most fetch_queue_max; background work (refreshes, re-checks: at most refresh_concurrency
 * jobs) fetches at once in slots of its own (the fetcher runs both numbers together), so no
 * number of slow policy hosts delays the refresh of a cached policy. */

static void
pol_fq_del(struct pol_engine *e, struct pol_job *job)
{
	if (job->q_prev != NULL)
		job->q_prev->q_next = job->q_next;
	else
		e->fq_head = job->q_next;
	if (job->q_next != NULL)
		job->q_next->q_prev = job->q_prev;
	else
		e->fq_tail = job->q_prev;
	job->q_prev = job->q_next = NULL;
	job->queued = 0;
	e->n_queued--;
}

static void
pol_fq_add(struct pol_engine *e, struct pol_job *job)
{
	job->q_next = NULL;
	job->q_prev = e->fq_tail;
	if (e->fq_tail != NULL)
		e->fq_tail->q_next = job;
	else
		e->fq_head = job;
	e->fq_tail = job;
	job->queued = 1;
	job->state = JOB_FETCH_QUEUED;
	e->n_queued++;
}

/* Start queued fetches while slots are free (from a timer: never inside a callback). */
static void
pol_fq_run(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pol_engine *e = arg;
	struct pol_job *job;

	while (e->n_fetching < e->cfg->fetch_concurrency && (job = e->fq_head) != NULL) {
		pol_fq_del(e, job);
		job->fetch_slot = 1;
		e->n_fetching++;
		pol_fetch_begin(job);
	}
}

static void
pol_fq_kick(struct pol_engine *e)
{
	if (e->fq_head != NULL && e->n_fetching < e->cfg->fetch_concurrency &&
	    !loop_timer_armed(&e->fq_timer))
		loop_timer_start(e->loop, &e->fq_timer, 0, pol_fq_run, e);
}

/* job's fetch ended or job completes: give its slot (or queue place) back. */
static void
pol_fetch_release(struct pol_job *job)
{
	struct pol_engine *e = job->e;

	if (job->queued)
		pol_fq_del(e, job);
	if (job->fetch_slot) {
		job->fetch_slot = 0;
		e->n_fetching--;
		pol_fq_kick(e);
	}
}

static void
pol_fetch_start(struct pol_job *job)
{
	struct pol_engine *e = job->e;

	if (job->background) {
		pol_fetch_begin(job);
		return;
	}
	if (e->n_fetching < e->cfg->fetch_concurrency) {
		job->fetch_slot = 1;
		e->n_fetching++;
		pol_fetch_begin(job);
		return;
	}
	if (e->n_queued < e->cfg->fetch_queue_max) {
		pol_fq_add(e, job);
		return;
	}
	e->ctr.rejected_fetch_queue++;
	(void)snprintf(job->detail, sizeof(job->detail),
	               "fetch queue full (%zu fetching, %zu waiting)", e->n_fetching, e->n_queued);
	pol_fail(job, CACHE_TEMPFAIL, -ENOSPC);
}

static void
pol_dns_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct pol_job *job = arg;
	struct pol_engine *e = job->e;
	struct txt_rr *rrs = NULL;
	const struct cache_entry *ce;
	size_t n = 0;
	char id[STS_ID_MAX + 1];
	int r;

	if (err == ERR_DNS_UNREACHABLE && job->dq != NULL)
		(void)snprintf(job->detail, sizeof(job->detail), "%s", dns_query_detail(job->dq));
	job->dq = NULL;
	switch (err) {
	case -ECANCELED:
		pol_canceled(job);
		return;
	case 0:
		e->ctr.dns_ok++;
		break;
	case ERR_DNS_NXDOMAIN:
		e->ctr.dns_nxdomain++;
		pol_fail(job, CACHE_NO_POLICY, err);
		return;
	case ERR_DNS_NODATA:
		e->ctr.dns_nodata++;
		pol_fail(job, CACHE_NO_POLICY, err);
		return;
	case ERR_DNS_SERVFAIL:
		e->ctr.dns_servfail++;
		pol_fail(job, CACHE_TEMPFAIL, err);
		return;
	case ERR_DNS_TIMEOUT:
	case ERR_DNS_BUSY: /* never sent (DNS_WAIT_MAX): as a timeout */
		e->ctr.dns_timeout++;
		pol_fail(job, CACHE_TEMPFAIL, err);
		return;
	case ERR_DNS_UNREACHABLE: /* the server refused (ICMP port unreachable) or no route */
		e->ctr.dns_other++;
		pol_fail(job, CACHE_TEMPFAIL, err);
		return;
	default:
		e->ctr.dns_other++;
		pol_fail(job, CACHE_TEMPFAIL, err < 0 ? err : ERR_DNS_MALFORMED);
		return;
	}
	r = dns_answer_txt(answer, job->qname, &rrs, &n);
	if (r < 0) {
		pol_fail(job, CACHE_TEMPFAIL, r);
		return;
	}
	r = sts_txt_parse(rrs, n, id);
	dns_txt_free(rrs, n);
	if (r < 0) {
		if (r == ERR_TXT_MULTIPLE)
			e->ctr.txt_multiple++;
		else if (r == ERR_TXT_SYNTAX)
			e->ctr.txt_syntax++;
		else
			e->ctr.txt_none++;
		pol_fail(job, CACHE_NO_POLICY, r);
		return;
	}
	(void)snprintf(job->id, sizeof(job->id), "%s", id);
	ce = pol_valid_policy(e, job->domain, pol_now(e));
	if (ce != NULL) {
		if (strcmp(ce->id, id) == 0) {
			struct cache_entry *m = cache_mem_get(e->cache, job->domain);

			e->ctr.txt_unchanged++;
			/* Checked now, also before a refresh's fetch: lookups arriving during
			 * that fetch are answered from the cache at once. */
			m->last_check = pol_now(e);
			if (!job->force) {
				m->retry_after = 0;
				m->last_error = 0;
				log_dom_debug(job->domain, "TXT id %s unchanged, keeping policy",
				              id);
				pol_job_complete_policy(job, m, 0);
				return;
			}
		} else {
			job->id_changed = 1; /* lookups now wait for the new policy */
			e->ctr.txt_changed++;
			log_dom_info(job->domain,
			             "TXT id changed from %s to %s, fetching the policy", ce->id,
			             id);
		}
	}
	pol_fetch_gate(job);
}

static void
pol_fail_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pol_job *job = arg;

	pol_fail(job, job->fail_kind, job->fail_err);
}

static void
pol_txt_start(struct pol_job *job)
{
	struct pol_engine *e = job->e;

	job->state = JOB_TXT;
	job->detail[0] = '\0';
	if (strlen(job->qname) > DOMAIN_NAME_MAX) {
		/* "_mta-sts." makes a name over 253 octets (RFC 1035 section 2.3.4): no TXT
		 * record can exist, the domain has no policy (not a temporary failure, which
		 * would defer its mail forever). */
		job->state = JOB_FAILING;
		job->fail_kind = CACHE_NO_POLICY;
		job->fail_err = ERR_DNS_NXDOMAIN;
		(void)snprintf(job->detail, sizeof(job->detail),
		               "_mta-sts.<domain> is longer than 253 octets");
		loop_timer_start(e->loop, &job->fail_timer, 0, pol_fail_timer, job);
		return;
	}
	job->dq = dns_query_start(e->dns, job->qname, LDNS_RR_TYPE_TXT, 0, pol_dns_done, job);
	if (job->dq == NULL) {
		/* Never complete from inside pol_lookup(): report on the next iteration. */
		e->ctr.dns_other++;
		job->state = JOB_FAILING;
		job->fail_kind = CACHE_TEMPFAIL;
		job->fail_err = -EIO;
		(void)snprintf(job->detail, sizeof(job->detail), "cannot start the DNS query");
		loop_timer_start(e->loop, &job->fail_timer, 0, pol_fail_timer, job);
	}
}

/* ---- the shared cache tier (Valkey/Redis, docs/cache.md) ---- */

/* A shared-only job (a lookup over a cap) found nothing usable: answered as a lookup whose
 * timeout passed, as over-cap lookups without a shared cache are; nothing is cached. */
static void
pol_overcap_done(struct pol_job *job)
{
	(void)snprintf(job->detail, sizeof(job->detail),
	               "too many discoveries in flight, not in the shared cache");
	pol_job_complete_status(job, POL_TIMEOUT, -ENOSPC);
}

/* What a shared entry is to job (pol_shared_usable()). */
enum pol_shared_use {
	POL_SHARED_NO = 0,   /* does not answer it: go on (TXT query, lock, wait) */
	POL_SHARED_YES,      /* answers it: taken */
	POL_SHARED_CONFLICT, /* a policy other than the valid one cached here: fetch directly */
};

/* Whether two policies are the same (their canonical text). */
static int
pol_same_policy(const struct sts_policy *a, const struct sts_policy *b)
{
	char *ta = sts_policy_serialize(a), *tb = sts_policy_serialize(b);
	int same = ta != NULL && tb != NULL && strcmp(ta, tb) == 0;

	free(ta);
	free(tb);
	return same;
}

/* Whether a shared entry answers job. Before the TXT query (after_txt 0) any unexpired entry
 * does, as a memory entry would. After it, a policy must carry the TXT id just seen, and a
 * refresh (force with a valid cached policy) wants one fetched later than ours and not due
 * for refresh itself; an unexpired negative entry is another host's failed discovery, used
 * only without a valid cached policy: with one, this host's refresh or new id's fetch goes
 * on (a negative entry kept fresh in Valkey would otherwise stop every refresh until the
 * policy expired, and then answer NOTFOUND from the shared read). A policy that differs
 * from the valid one cached here never replaces it (POL_SHARED_CONFLICT): this host
 * fetches the new one itself. So whoever can write to Valkey cannot remove, downgrade,
 * shorten or re-point a policy this host holds (same id: RFC 8461 section 3.1 changes the
 * id with the policy; a new id: a forged TXT answer would otherwise need only a Valkey
 * write, no certificate). */
static enum pol_shared_use
pol_shared_usable(struct pol_job *job, const struct cache_entry *se, int after_txt)
{
	struct pol_engine *e = job->e;
	time_t now = pol_now(e);
	const struct cache_entry *mem;

	if (now >= se->expires_at)
		return POL_SHARED_NO;
	mem = pol_valid_policy(e, job->domain, now);
	if (se->kind != CACHE_POLICY)
		return mem == NULL ? POL_SHARED_YES : POL_SHARED_NO;
	if (se->policy == NULL)
		return POL_SHARED_NO;
	if (after_txt && strcmp(se->id, job->id) != 0)
		return POL_SHARED_NO;
	if (mem != NULL && !pol_same_policy(se->policy, mem->policy))
		return POL_SHARED_CONFLICT;
	if (after_txt && job->force && mem != NULL &&
	    !(se->fetched_at > mem->fetched_at && now < pol_refresh_at(e, job->domain, se)))
		return POL_SHARED_NO;
	return POL_SHARED_YES;
}

/* A shared policy conflicts with the valid cached one (pol_shared_usable()): the policy
 * is fetched directly, without waiting for a lock holder. Under the cached policy's own id
 * the shared value is a forgery or broken (a policy changes only with its id): logged as a
 * notice and counted. Under a new id it is what every host but the first sees after a
 * real policy change: logged at info, not counted, so that an alert on the counter does
 * not fire at every change (found by a trial). */
static void
pol_shared_conflict(struct pol_job *job, const struct cache_entry *se)
{
	struct pol_engine *e = job->e;
	const struct cache_entry *mem = pol_valid_policy(e, job->domain, pol_now(e));

	if (mem != NULL && strcmp(mem->id, se->id) != 0) {
		log_dom_info(
		        job->domain,
		        "the shared cache holds policy id %s, new here (cached: policy id %s): "
		        "fetching it directly to check it",
		        se->id, mem->id);
		pol_fetch_start(job);
		return;
	}
	e->ctr.shared_conflicts++;
	log_dom_notice(job->domain,
	               "the shared cache holds policy id %s (mode %s, max_age %" PRIu32
	               ") unlike the cached policy id %s (mode %s, max_age %" PRIu32
	               "): not taken, fetching the policy directly",
	               se->id, sts_mode_name(se->policy->mode), se->policy->max_age_s,
	               mem != NULL ? mem->id : "-",
	               mem != NULL ? sts_mode_name(mem->policy->mode) : "-",
	               mem != NULL ? mem->policy->max_age_s : 0);
	pol_fetch_start(job);
}

/* Complete job with a usable shared entry (its policy is taken). */
static void
pol_shared_take(struct pol_job *job, struct cache_entry *se)
{
	struct pol_engine *e = job->e;
	time_t now = pol_now(e);
	struct cache_entry ce;

	job->from_shared = 1;
	if (se->kind == CACHE_POLICY) {
		const struct cache_entry *old = cache_mem_peek(e->cache, job->domain);

		e->ctr.shared_hits++;
		ce = *se;
		se->policy = NULL;
		ce.last_used = old != NULL ? old->last_used : 0;
		log_dom_debug(job->domain,
		              "policy id %s taken from the shared cache (fetched %lld s ago, "
		              "expires in %lld s)",
		              ce.id, (long long)(now - ce.fetched_at),
		              (long long)(ce.expires_at - now));
		cache_mem_put(e->cache, job->domain, &ce);
		pol_job_complete_policy(job, cache_mem_peek(e->cache, job->domain), 0);
		return;
	}
	e->ctr.shared_negative_hits++;
	job->shared_expires = se->expires_at;
	if (job->id[0] == '\0')
		(void)snprintf(job->id, sizeof(job->id), "%s", se->id);
	pol_fail(job, se->kind,
	         se->last_error != 0 ? se->last_error
	                             : (se->kind == CACHE_NO_POLICY ? ERR_TXT_NONE : -EIO));
}

/* Foreground job, before any DNS: what does the shared cache hold? */
static void
pol_shared_get_done(const struct cache_redis_result *res, void *arg)
{
	struct pol_job *job = arg;
	struct pol_engine *e = job->e;

	job->rq = NULL;
	if (res->status == -ECANCELED) {
		pol_canceled(job);
		return;
	}
	if (res->status == 0 && pol_shared_usable(job, res->entry, 0) == POL_SHARED_YES) {
		pol_shared_take(job, res->entry);
		return;
	}
	if (res->status == ERR_CACHE_UNAVAILABLE)
		e->ctr.shared_unavailable++;
	else
		e->ctr.shared_misses++;
	if (job->shared_only) {
		pol_overcap_done(job);
		return;
	}
	pol_txt_start(job);
}

static void pol_wait_timer(struct loop *loop, struct loop_timer *t, void *arg);

static void
pol_wait_arm(struct pol_job *job)
{
	struct pol_engine *e = job->e;
	uint64_t now = loop_now_ms(e->loop), d = job->wait_delay_ms;

	if (now + d > job->wait_deadline_ms)
		d = job->wait_deadline_ms > now ? job->wait_deadline_ms - now : 0;
	job->state = JOB_WAIT;
	loop_timer_start(e->loop, &job->wait_timer, d, pol_wait_timer, job);
}

/* The shared value se after a TXT check, as pol_shared_usable() allows: taken (counted in
 * *adopted when not NULL; the take releases the lock if we hold it), or a conflict fetched
 * anew. Returns 1 when the job went on one of those ways, 0 when the value is of no use. */
static int
pol_shared_apply(struct pol_job *job, struct cache_entry *se, uint64_t *adopted)
{
	switch (pol_shared_usable(job, se, 1)) {
	case POL_SHARED_YES:
		if (adopted != NULL)
			(*adopted)++;
		pol_shared_take(job, se);
		return 1;
	case POL_SHARED_CONFLICT:
		pol_shared_conflict(job, se);
		return 1;
	case POL_SHARED_NO:
		break;
	}
	return 0;
}

static void
pol_shared_lock_done(const struct cache_redis_result *res, void *arg)
{
	struct pol_job *job = arg;
	struct pol_engine *e = job->e;

	job->rq = NULL;
	if (res->status == -ECANCELED) {
		pol_canceled(job);
		return;
	}
	if (res->lock_acquired)
		job->lock_held = 1;
	if (res->status == 0 && pol_shared_apply(job, res->entry, NULL))
		return;
	if (res->status == ERR_CACHE_UNAVAILABLE) {
		e->ctr.shared_unavailable++;
		pol_fetch_start(job);
		return;
	}
	if (res->lock_acquired) {
		pol_fetch_start(job);
		return;
	}
	e->ctr.shared_lock_waits++;
	if (job->wait_deadline_ms == 0)
		job->wait_deadline_ms = loop_now_ms(e->loop) + e->wait_max_ms;
	job->wait_delay_ms = POL_SHARED_POLL_MIN_MS;
	log_dom_debug(job->domain,
	              "another host is fetching the policy, waiting for its result (at most "
	              "%" PRIu64 " ms)",
	              e->wait_max_ms);
	pol_wait_arm(job);
}

static void
pol_shared_poll_done(const struct cache_redis_result *res, void *arg)
{
	struct pol_job *job = arg;
	struct pol_engine *e = job->e;

	job->rq = NULL;
	if (res->status == -ECANCELED) {
		pol_canceled(job);
		return;
	}
	if (res->status == ERR_CACHE_UNAVAILABLE) {
		e->ctr.shared_unavailable++;
		pol_fetch_start(job);
		return;
	}
	if (res->status == 0 && pol_shared_apply(job, res->entry, &e->ctr.shared_wait_adopted))
		return;
	if (!res->lock_present) {
		/* The holder finished without a result we can use, or died and its lock
		 * expired: take the lock ourselves. */
		pol_fetch_gate(job);
		return;
	}
	job->wait_delay_ms *= 2;
	if (job->wait_delay_ms > POL_SHARED_POLL_MAX_MS)
		job->wait_delay_ms = POL_SHARED_POLL_MAX_MS;
	pol_wait_arm(job);
}

static void
pol_wait_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pol_job *job = arg;
	struct pol_engine *e = job->e;

	if (loop_now_ms(loop) >= job->wait_deadline_ms) {
		e->ctr.shared_wait_expired++;
		log_dom_info(job->domain,
		             "the host holding the fetch lock gave no result within %" PRIu64
		             " ms, fetching directly",
		             e->wait_max_ms);
		pol_fetch_start(job);
		return;
	}
	job->rq = cache_redis_poll(e->shared, job->domain, pol_shared_poll_done, job);
	if (job->rq == NULL) {
		e->ctr.shared_unavailable++;
		pol_fetch_start(job);
	}
}

/* Before fetching: with a shared cache, re-read it and take the fleet fetch lock (one
 * script); without one, or when it cannot be asked, fetch directly. */
static void
pol_fetch_gate(struct pol_job *job)
{
	struct pol_engine *e = job->e;

	if (e->shared != NULL) {
		job->rq = cache_redis_lock(e->shared, job->domain, e->lock_ttl_ms,
		                           pol_shared_lock_done, job);
		if (job->rq != NULL) {
			job->state = JOB_LOCK;
			return;
		}
		e->ctr.shared_unavailable++;
	}
	pol_fetch_start(job);
}

static void
pol_job_start(struct pol_job *job)
{
	struct pol_engine *e = job->e;

	job->detail[0] = '\0';
	if (job->shared_only) {
		/* Over a cap: the shared cache or nothing (also after a reload's restart). */
		job->rq = job->shared_checked ? NULL
		                              : cache_redis_get(e->shared, job->domain,
		                                                pol_shared_get_done, job);
		job->shared_checked = 1;
		if (job->rq != NULL) {
			job->state = JOB_SHARED_GET;
			return;
		}
		pol_overcap_done(job);
		return;
	}
	/* A first lookup reads the shared cache before any DNS; a re-check of a valid cached
	 * policy goes to its TXT record, which only DNS can tell. */
	if (e->shared != NULL && !job->background && !job->shared_checked &&
	    pol_valid_policy(e, job->domain, pol_now(e)) == NULL) {
		job->shared_checked = 1;
		job->rq = cache_redis_get(e->shared, job->domain, pol_shared_get_done, job);
		if (job->rq != NULL) {
			job->state = JOB_SHARED_GET;
			return;
		}
		e->ctr.shared_unavailable++;
	}
	pol_txt_start(job);
}

/* Cancel whatever job has in flight; its callback completes or restarts it. */
static void
pol_job_abort(struct pol_job *job, int restart)
{
	job->restarting = restart;
	if (job->dq != NULL) {
		dns_query_cancel(job->dq);
	} else if (job->fr != NULL) {
		fetch_cancel(job->fr);
	} else if (job->rq != NULL) {
		cache_redis_cancel(job->rq);
	} else if (job->queued) {
		pol_fq_del(job->e, job);
		pol_canceled(job);
	} else if (loop_timer_armed(&job->wait_timer)) {
		loop_timer_stop(job->e->loop, &job->wait_timer);
		pol_canceled(job);
	} else {
		loop_timer_stop(job->e->loop, &job->fail_timer);
		pol_canceled(job);
	}
}

/* ---- background work ---- */

/* How long before expiry a cached policy is re-fetched: refresh_before, at most half the
 * policy lifetime (so short max_age values do not refetch constantly); never below 0 (a
 * negative lifetime made the jitter's modulus below 0 or 0, a division by zero; no entry has
 * one now, cache_entry_bound() refuses expires_at before fetched_at from the shared tier,
 * but the guard stays). */
static time_t
pol_refresh_before(const struct pol_engine *e, const struct cache_entry *ce)
{
	time_t life = ce->expires_at - ce->fetched_at,
	       before = pol_ms_to_s(e->cfg->refresh_before_ms);

	if (life < 0)
		life = 0;
	if (before > life / 2)
		before = life / 2;
	return before >= 0 ? before : 0;
}

/* When a cached policy should be re-fetched: pol_refresh_before() ahead of expiry, minus a
 * per-domain jitter of up to 1/8 of that, spreading refreshes of policies fetched together. */
static time_t
pol_refresh_at(const struct pol_engine *e, const char *domain, const struct cache_entry *ce)
{
	time_t before = pol_refresh_before(e, ce);

	return ce->expires_at - before -
	       (time_t)(lru_hash(domain, strlen(domain)) % (uint64_t)(before / 8 + 1));
}

/* Whether the TXT id of a valid cached policy is due for its re-check at now. */
static int
pol_recheck_due(const struct pol_engine *e, const struct cache_entry *ce, time_t now)
{
	return now >= ce->retry_after &&
	       now - ce->last_check >= pol_ms_to_s(e->cfg->recheck_interval_ms);
}

/* Whether the refresh of a valid cached policy is due at now (pol_refresh_at()). Before the
 * earliest time any jitter gives, it is not, without hashing the domain: on every cached
 * lookup. */
static int
pol_refresh_due(const struct pol_engine *e, const char *domain, const struct cache_entry *ce,
                time_t now)
{
	time_t before = pol_refresh_before(e, ce);

	if (now < ce->expires_at - before - before / 8)
		return 0; /* the jitter is at most before / 8 */
	return now >= pol_refresh_at(e, domain, ce);
}

/* pol_background() when no discovery of domain is in flight. */
static int
pol_background_start(struct pol_engine *e, const char *domain, const struct cache_entry *ce,
                     time_t now, int recheck, time_t ahead_s)
{
	int refresh, check;

	if (now < ce->retry_after)
		return 0;
	refresh = pol_refresh_due(e, domain, ce, now);
	check = recheck && pol_recheck_due(e, ce, now + ahead_s);
	if (!refresh && !check)
		return 0;
	if (e->n_background >= e->cfg->refresh_concurrency ||
	    pol_job_new(e, domain, 1, refresh) == NULL) {
		e->ctr.background_deferred++;
		return -EBUSY;
	}
	if (refresh)
		e->ctr.background_refreshes++;
	else
		e->ctr.background_rechecks++;
	log_dom_debug(domain, "%s policy id %s in the background",
	              refresh ? "refreshing" : "re-checking the TXT id of", ce->id);
	return 0;
}

/* Start background work for a valid cached policy if due: a refresh, or with recheck a TXT
 * re-check due within ahead_s seconds. Returns 0, or -EBUSY when the concurrency bound
 * postponed it. */
static int
pol_background(struct pol_engine *e, const char *domain, const struct cache_entry *ce, time_t now,
               int recheck, time_t ahead_s)
{
	if (pol_job_find(e, domain) != NULL)
		return 0;
	return pol_background_start(e, domain, ce, now, recheck, ahead_s);
}

static void
pol_sweep(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pol_engine *e = arg;
	size_t purged;

	purged = cache_mem_purge_expired(e->cache, pol_now(e));
	if (purged > 0)
		log_debug("policy cache: %zu expired entries purged, %zu left", purged,
		          cache_mem_count(e->cache));
	loop_timer_start(e->loop, &e->sweep_timer, POL_SWEEP_INTERVAL_MS, pol_sweep, e);
}

/* The refresh schedule's key of a cached policy (cache_mem_set_due_fn): its refresh time,
 * or its retry time when that is later. */
static time_t
pol_due(const char *dom, const struct cache_entry *ce, void *arg)
{
	time_t at = pol_refresh_at(arg, dom, ce);

	return at > ce->retry_after ? at : ce->retry_after;
}

/* The refresh schedule (issue 16): every cached policy is in cache_mem's heap by its
 * refresh time, so the due ones are found in O(log n) each whatever the cache size. Up to
 * refresh_concurrency refreshes run; the rest wait at the top of the heap for the next
 * tick. An entry whose refresh cannot start now (a discovery of the domain is in flight, a
 * retry time, or not due after all) is moved to when it can. */
static void
pol_refresh_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pol_engine *e = arg;
	time_t now = pol_now(e), due, at;
	const struct cache_entry *ce;
	const char *dom;
	char name[DOMAIN_BUF];
	size_t n;

	for (n = 0; n < POL_REFRESH_BATCH_MAX; n++) {
		ce = cache_mem_due_first(e->cache, &dom, &due);
		if (ce == NULL || due > now)
			break;
		(void)snprintf(name, sizeof(name), "%s", dom);
		if (now >= ce->expires_at) {
			(void)cache_mem_delete(e->cache, name); /* expired: as the sweep would */
			continue;
		}
		if (ce->policy == NULL) { /* nothing to refresh: until it expires */
			(void)cache_mem_set_due(e->cache, name, ce->expires_at);
			continue;
		}
		at = pol_due(name, ce, e);
		if (at > now) {
			(void)cache_mem_set_due(e->cache, name, at);
			continue;
		}
		if (pol_job_find(e, name) != NULL) {
			(void)cache_mem_set_due(e->cache, name, now + 1);
			continue;
		}
		if (e->n_background >= e->cfg->refresh_concurrency ||
		    pol_job_new(e, name, 1, 1) == NULL) {
			e->ctr.background_deferred++;
			break;
		}
		e->ctr.background_refreshes++;
		log_dom_debug(name, "refreshing policy id %s in the background", ce->id);
		/* Until the refresh stores a policy (a put reschedules it) or fails (pol_fail). */
		(void)cache_mem_set_due(e->cache, name, now + 1);
	}
	loop_timer_start(e->loop, &e->refresh_timer, POL_REFRESH_TICK_MS, pol_refresh_tick, e);
}

/* The period of the proactive re-check pass (ms): a quarter of recheck_interval, between
 * POL_RECHECK_TICK_MIN_MS and POL_SWEEP_INTERVAL_MS. */
static uint64_t
pol_recheck_tick_ms(const struct pol_engine *e)
{
	uint64_t t = e->cfg->recheck_interval_ms / 4;

	if (t < POL_RECHECK_TICK_MIN_MS)
		t = POL_RECHECK_TICK_MIN_MS;
	return t < POL_SWEEP_INTERVAL_MS ? t : POL_SWEEP_INTERVAL_MS;
}

struct pol_recheck_pass {
	struct pol_engine *e;
	time_t now, ahead_s, interval_s;
};

static int
pol_recheck_visit(const char *dom, const struct cache_entry *ce, void *arg)
{
	struct pol_recheck_pass *rp = arg;

	if (ce->kind != CACHE_POLICY)
		return 1; /* the policies come first: the rest are negative entries */
	if (ce->policy == NULL || rp->now >= ce->expires_at || ce->last_used == 0 ||
	    rp->now - ce->last_used >= rp->interval_s)
		return 0;
	return pol_background(rp->e, dom, ce, rp->now, 1, rp->ahead_s) == -EBUSY;
}

/* Proactive re-checks (issue 22): the TXT id of each policy looked up within the last
 * recheck_interval is re-checked in the background before its re-check falls due (up to
 * one tick early), so that a busy domain's lookups never have to wait for it. */
static void
pol_recheck_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct pol_engine *e = arg;
	uint64_t tick_ms = pol_recheck_tick_ms(e);
	struct pol_recheck_pass rp = {e, pol_now(e), pol_ms_to_s(tick_ms),
	                              pol_ms_to_s(e->cfg->recheck_interval_ms)};

	cache_mem_foreach_recent(e->cache, POL_SWEEP_SCAN_MAX, pol_recheck_visit, &rp);
	loop_timer_start(e->loop, &e->recheck_timer, tick_ms, pol_recheck_tick, e);
}

/* ---- lookups ---- */

/* A lookup of a valid cached policy whose answer may be about to change: its TXT re-check
 * is due, or the discovery in flight (job, or NULL) saw a new id. It waits for that
 * discovery (started here when none runs), at most timeout_ms: the new policy, the
 * unchanged one, or at the timeout or any failure the cached policy answers (RFC 8461
 * section 5.1). Returns 0 when it waits (*ret_w set), -ENOSPC when it cannot (limits): the
 * caller answers from the cache at once. */
static int
pol_lookup_wait(struct pol_engine *e, const char *domain, struct pol_job *job, uint64_t timeout_ms,
                pol_done_fn *done, void *arg, struct pol_waiter **ret_w)
{
	struct pol_waiter *w;

	if (job == NULL) {
		job = pol_job_new(e, domain, 0, 0);
		if (job == NULL)
			return -ENOSPC;
		e->ctr.lookup_rechecks++;
		log_dom_debug(domain, "TXT re-check due, the lookup waits for it");
	} else {
		e->ctr.coalesced++;
	}
	w = xcalloc(1, sizeof(*w));
	w->e = e;
	w->done = done;
	w->arg = arg;
	if (coalesce_wait(e->jobs, &job->cj, &w->cw, timeout_ms) < 0) {
		free(w);
		return -ENOSPC;
	}
	e->ctr.recheck_waits++;
	*ret_w = w;
	return 0;
}

void
pol_lookup(struct pol_engine *e, const char *domain, uint64_t timeout_ms, pol_done_fn *done,
           void *arg, struct pol_waiter **ret_w)
{
	time_t now = pol_now(e);
	struct cache_entry *ce = cache_mem_get(e->cache, domain);
	struct pol_job *job;
	struct pol_waiter *w;

	*ret_w = NULL;
	e->ctr.lookups++;
	/* Not in memory (evicted for space, or never seen): the state database may hold it. */
	if ((ce == NULL || now >= ce->expires_at) && e->store != NULL &&
	    pol_job_find(e, domain) == NULL && e->store(domain, now, e->store_arg) > 0)
		ce = cache_mem_get(e->cache, domain);
	if (ce != NULL && now < ce->expires_at) {
		struct pol_answer a = {
		        .id = ce->id, .err = ce->last_error, .detail = "", .cached = 1};

		if (ce->kind == CACHE_POLICY && ce->policy != NULL) {
			int wait;

			ce->last_used = now;
			job = pol_job_find(e, domain);
			wait = (job != NULL && job->id_changed) || pol_recheck_due(e, ce, now);
			if (wait &&
			    pol_lookup_wait(e, domain, job, timeout_ms, done, arg, ret_w) == 0)
				return;
			e->ctr.cache_hits++;
			a.status = POL_POLICY;
			a.policy = ce->policy;
			/* pol_lookup_wait() that could not wait may have started a discovery */
			if (wait)
				(void)pol_background(e, domain, ce, now, 0, 0);
			else if (job == NULL)
				(void)pol_background_start(e, domain, ce, now, 0, 0);
		} else {
			e->ctr.cache_negative_hits++;
			a.status = ce->kind == CACHE_NO_POLICY ? POL_NO_POLICY : POL_TEMPFAIL;
		}
		pol_answer_one(e, done, arg, &a);
		return;
	}
	e->ctr.cache_misses++;
	job = pol_job_find(e, domain);
	if (job != NULL)
		e->ctr.coalesced++;
	else
		job = pol_job_new(e, domain, 0, 1);
	w = xcalloc(1, sizeof(*w));
	w->e = e;
	w->done = done;
	w->arg = arg;
	if (job == NULL || coalesce_wait(e->jobs, &job->cj, &w->cw, timeout_ms) < 0) {
		/* Limits (max_discoveries, fetch_queue_max, RES_JOBS_MAX, RES_WAITERS_MAX): no
		 * waiting, answered as a lookup whose timeout passed (issue 16). There is no
		 * valid cached policy here (that is answered above). */
		struct pol_answer full = {.status = POL_TIMEOUT,
		                          .id = "",
		                          .err = -ENOSPC,
		                          .detail = "too many discoveries in flight"};

		free(w);
		if (job != NULL)
			pol_reject_log(e, domain, "too many lookups waiting (RES_WAITERS_MAX)");
		pol_answer_one(e, done, arg, &full);
		return;
	}
	*ret_w = w;
}

void
pol_lookup_cancel(struct pol_waiter *w)
{
	coalesce_cancel_waiter(w->e->jobs, &w->cw);
}

/* ---- lifecycle ---- */

static int
pol_clients_new(struct loop *loop, struct curlm *curlm, const struct cfg_resolver *cfg,
                struct dns_client **ret_dns, struct fetcher **ret_f)
{
	struct dns_client *dns = NULL;
	struct fetcher *f = NULL;
	int r;

	r = dns_client_new(loop, cfg, &dns);
	if (r < 0) {
		log_err("resolver: cannot start the DNS client: %s", err_str(r));
		return r;
	}
	r = fetcher_new_on(loop, curlm, cfg, &f);
	if (r < 0) {
		log_err("resolver: cannot start the HTTPS fetcher: %s", err_str(r));
		dns_client_free(dns);
		return r;
	}
	fetcher_use_dns(f, dns); /* the policy host is resolved like the TXT record */
	*ret_dns = dns;
	*ret_f = f;
	return 0;
}

int
pol_engine_new(struct loop *loop, const struct cfg_resolver *cfg, struct cache_mem *cache,
               struct pol_engine **ret_e)
{
	return pol_engine_new_on(loop, NULL, cfg, cache, ret_e);
}

int
pol_engine_new_on(struct loop *loop, struct curlm *curlm, const struct cfg_resolver *cfg,
                  struct cache_mem *cache, struct pol_engine **ret_e)
{
	struct pol_engine *e = xcalloc(1, sizeof(*e));
	int r;

	e->loop = loop;
	e->cfg = cfg;
	e->cache = cache;
	e->curlm = curlm;
	r = pol_clients_new(loop, curlm, cfg, &e->dns, &e->fetcher);
	if (r < 0) {
		free(e);
		return r;
	}
	e->jobs = coalesce_new(loop, RES_JOBS_MAX, RES_WAITERS_MAX, pol_waiter_answer, e);
	cache_mem_set_due_fn(cache, pol_due, e);
	loop_timer_start(loop, &e->sweep_timer, POL_SWEEP_INTERVAL_MS, pol_sweep, e);
	loop_timer_start(loop, &e->refresh_timer, POL_REFRESH_TICK_MS, pol_refresh_tick, e);
	loop_timer_start(loop, &e->recheck_timer, pol_recheck_tick_ms(e), pol_recheck_tick, e);
	*ret_e = e;
	return 0;
}

/* Abort every job (restart = on new clients, or complete as canceled). */
static void
pol_jobs_abort(struct pol_engine *e, int restart)
{
	struct coalesce_job *cj, *next;

	if (!restart) {
		while ((cj = coalesce_first(e->jobs)) != NULL)
			pol_job_abort(POL_JOB(cj), 0);
		return;
	}
	for (cj = coalesce_first(e->jobs); cj != NULL; cj = next) {
		next = coalesce_next(cj);
		pol_job_abort(POL_JOB(cj), 1);
	}
}

/* From the cfg: the TTLs shared entries are held to; the lock TTL and the longest wait for
 * another host's fetch: the lock covers a whole fetch plus the writes; a waiter gives up at the
 * longest zone timeout (its lookups have been answered by then) or when the lock would have
 * expired, whichever is first. */
static void
pol_shared_timing(struct pol_engine *e)
{
	struct cache_trust trust = {pol_ms_to_s(e->cfg->negative_ttl_ms),
	                            pol_ms_to_s(e->cfg->tempfail_ttl_ms)};
	uint64_t zmax = 0;
	size_t i;

	if (e->shared == NULL)
		return;
	cache_redis_set_trust(e->shared, &trust); /* shared entries live no longer than ours */
	e->lock_ttl_ms = e->cfg->fetch_timeout_ms + 2 * cache_redis_command_timeout_ms(e->shared) +
	                 POL_LOCK_MARGIN_MS;
	for (i = 0; i < e->cfg->n_zones; i++)
		if (e->cfg->zones[i].timeout_ms > zmax)
			zmax = e->cfg->zones[i].timeout_ms;
	e->wait_max_ms = zmax > 0 && zmax < e->lock_ttl_ms ? zmax : e->lock_ttl_ms;
}

struct pol_resync {
	struct pol_engine *e;
	time_t now;
	size_t n;
};

static int
pol_resync_visit(const char *dom, const struct cache_entry *ce, void *arg)
{
	struct pol_resync *rs = arg;

	if (ce->kind != CACHE_POLICY || ce->policy == NULL || rs->now >= ce->expires_at)
		return 0;
	if (cache_redis_put(rs->e->shared, dom, ce, rs->now) < 0)
		return 1; /* down again */
	rs->e->ctr.shared_resync++;
	rs->n++;
	return 0;
}

/* The shared cache is back after an outage: write the policies we hold (newer wins there,
 * so this never replaces what another host fetched later). */
static void
pol_shared_resync(struct cache_redis *rc, void *arg)
{
	struct pol_engine *e = arg;
	struct pol_resync rs = {e, pol_now(e), 0};

	cache_mem_foreach_recent(e->cache, CACHE_REDIS_RESYNC_MAX, pol_resync_visit, &rs);
	log_info("cache.redis: %zu cached policies written back to the shared cache", rs.n);
}

void
pol_engine_set_store(struct pol_engine *e, pol_store_fn *fn, void *arg)
{
	e->store = fn;
	e->store_arg = arg;
}

void
pol_engine_set_shared(struct pol_engine *e, struct cache_redis *rc)
{
	if (e->shared != NULL)
		cache_redis_on_up(e->shared, NULL, NULL);
	e->shared = rc;
	if (rc == NULL)
		return;
	pol_shared_timing(e);
	cache_redis_on_up(rc, pol_shared_resync, e);
}

int
pol_engine_reload(struct pol_engine *e, const struct cfg_resolver *cfg)
{
	struct dns_client *dns, *old_dns = e->dns;
	struct fetcher *f, *old_f = e->fetcher;
	int r;

	r = pol_clients_new(e->loop, e->curlm, cfg, &dns, &f);
	if (r < 0)
		return r;
	e->cfg = cfg;
	e->dns = dns;
	e->fetcher = f;
	pol_shared_timing(e);
	cache_mem_set_due_fn(e->cache, pol_due, e); /* refresh_before may have changed */
	/* Jobs cancel their query/fetch on the old clients and start again on the new ones;
	 * a restarted job only uses the new clients, so the old ones are idle afterwards. */
	pol_jobs_abort(e, 1);
	fetcher_free(old_f); /* first: its fetches may still be resolving with old_dns */
	dns_client_free(old_dns);
	pol_fq_kick(e); /* fetch_concurrency may have grown */
	return 0;
}

const struct dns_client *
pol_engine_dns(const struct pol_engine *e)
{
	return e->dns;
}

struct pol_engine *
pol_engine_free(struct pol_engine *e)
{
	if (e == NULL)
		return NULL;
	loop_timer_stop(e->loop, &e->sweep_timer);
	loop_timer_stop(e->loop, &e->recheck_timer);
	loop_timer_stop(e->loop, &e->refresh_timer);
	pol_jobs_abort(e, 0);
	loop_timer_stop(e->loop, &e->fq_timer);
	cache_mem_set_due_fn(e->cache, NULL, NULL);
	pol_engine_set_shared(e, NULL);
	e->fetcher = fetcher_free(e->fetcher); /* before the DNS client it borrows */
	e->dns = dns_client_free(e->dns);
	e->jobs = coalesce_free(e->jobs);
	free(e);
	return NULL;
}

const struct pol_counters *
pol_engine_counters(const struct pol_engine *e)
{
	return &e->ctr;
}

static const char *
pol_status_label(size_t i)
{
	return pol_status_name((enum pol_status)i);
}

#define POL_CTR(f) offsetof(struct pol_counters, f)

static const struct stats_field pol_cache_hits[] = {
        {"policy", "hits", .off = POL_CTR(cache_hits)},
        {"negative", "negative_hits", .off = POL_CTR(cache_negative_hits)},
};

static const struct stats_field pol_fetches[] = {
        {"ok", "ok", .off = POL_CTR(fetch_ok)},
        {"invalid_policy", "invalid_policy", .off = POL_CTR(fetch_invalid_policy)},
        {"http_error", "http_error", .off = POL_CTR(fetch_http)},
        {"redirect", "redirect", .off = POL_CTR(fetch_redirect)},
        {"tls_error", "tls_error", .off = POL_CTR(fetch_tls)},
        {"connect_error", "connect_error", .off = POL_CTR(fetch_connect)},
        {"timeout", "timeout", .off = POL_CTR(fetch_timeout)},
        {"too_large", "too_large", .off = POL_CTR(fetch_too_large)},
        {"content_type", "content_type", .off = POL_CTR(fetch_content_type)},
        {"other", "other", .off = POL_CTR(fetch_other)},
        {"host_unknown", "host_unknown", .off = POL_CTR(fetch_host_unknown)},
        {"host_dns_error", "host_dns_error", .off = POL_CTR(fetch_host_dns)},
};

static const struct stats_field pol_dns[] = {
        {"ok", "ok", .off = POL_CTR(dns_ok)},
        {"nxdomain", "nxdomain", .off = POL_CTR(dns_nxdomain)},
        {"nodata", "nodata", .off = POL_CTR(dns_nodata)},
        {"servfail", "servfail", .off = POL_CTR(dns_servfail)},
        {"timeout", "timeout", .off = POL_CTR(dns_timeout)},
        {"other", "other", .off = POL_CTR(dns_other)},
};

static const struct stats_field pol_rechecks[] = {
        {"proactive", "proactive", .off = POL_CTR(background_rechecks)},
        {"lookup", "lookup", .off = POL_CTR(lookup_rechecks)},
};

static const struct stats_field pol_rejected[] = {
        {"discoveries", "discoveries", .off = POL_CTR(rejected_discoveries)},
        {"fetch_queue", "fetch_queue", .off = POL_CTR(rejected_fetch_queue)},
};

static const struct pol_engine *
pol_of_ctr(const void *obj)
{
	return (const struct pol_engine *)((const char *)obj - offsetof(struct pol_engine, ctr));
}

static uint64_t
pol_get_foreground(const void *obj)
{
	return pol_of_ctr(obj)->n_foreground;
}

static uint64_t
pol_get_background(const void *obj)
{
	return pol_of_ctr(obj)->n_background;
}

static uint64_t
pol_get_fetching(const void *obj)
{
	return pol_of_ctr(obj)->n_fetching;
}

static uint64_t
pol_get_queued(const void *obj)
{
	return pol_of_ctr(obj)->n_queued;
}

/* How far the refresh schedule is behind: now - the earliest due time, 0 when none is due. */
static uint64_t
pol_get_refresh_lag(const void *obj)
{
	const struct pol_engine *e = pol_of_ctr(obj);
	const char *dom;
	time_t due, now = pol_now(e);

	if (cache_mem_due_first(e->cache, &dom, &due) == NULL || due >= now)
		return 0;
	return (uint64_t)(now - due);
}

static const struct stats_field pol_in_flight[] = {
        {"lookup", "lookup", .get = pol_get_foreground},
        {"background", "background", .get = pol_get_background},
};

static const struct stats_metric pol_stats[] = {
        {"mtastsd_policy_lookups_total", STATS_COUNTER,
         "Policy lookups handed to the policy engine.", .json = "lookups", .off = POL_CTR(lookups)},
        {"mtastsd_policy_lookup_results_total", STATS_COUNTER, "Policy engine answers by result.",
         .json = "answers", .label = "result", .off = POL_CTR(answers), .n = POL_STATUS_COUNT,
         .label_of = pol_status_label},
        {"mtastsd_cache_hits_total", STATS_COUNTER,
         "Lookups answered from the cache, by cached state.", .json = "cache", .label = "kind",
         .fields = pol_cache_hits, .n = STATS_COUNT(pol_cache_hits)},
        {"mtastsd_cache_misses_total", STATS_COUNTER, "Lookups that had to wait for a discovery.",
         .json = "cache.misses", .off = POL_CTR(cache_misses)},
        {"mtastsd_policy_discoveries_total", STATS_COUNTER,
         "Policy discoveries started (foreground and background).", .json = "discoveries.started",
         .off = POL_CTR(discoveries)},
        {"mtastsd_policy_lookups_coalesced_total", STATS_COUNTER,
         "Lookups that joined a discovery already in flight.", .json = "discoveries.coalesced",
         .off = POL_CTR(coalesced)},
        {.json = "discoveries.no_policy", .off = POL_CTR(outcome_no_policy)},
        {.json = "discoveries.tempfail", .off = POL_CTR(outcome_tempfail)},
        {"mtastsd_policy_fetches_total", STATS_COUNTER,
         "HTTPS policy fetches finished, by outcome.", .json = "fetches", .label = "outcome",
         .fields = pol_fetches, .n = STATS_COUNT(pol_fetches)},
        {"mtastsd_dns_txt_queries_total", STATS_COUNTER,
         "_mta-sts TXT queries finished, by result.", .json = "dns", .label = "result",
         .fields = pol_dns, .n = STATS_COUNT(pol_dns)},
        {"mtastsd_policy_stale_kept_total", STATS_COUNTER,
         "Discovery failures that kept a valid cached policy.", .json = "discoveries.stale_kept",
         .off = POL_CTR(stale_kept)},
        {.json = "discoveries.policies_stored", .off = POL_CTR(policies_stored)},
        {"mtastsd_policy_rechecks_total", STATS_COUNTER,
         "TXT id re-checks of cached policies, by who started them: the proactive pass "
         "(recently used policies) or a lookup that found one due.",
         .json = "rechecks", .label = "by", .fields = pol_rechecks, .n = STATS_COUNT(pol_rechecks)},
        {"mtastsd_policy_recheck_waits_total", STATS_COUNTER,
         "Lookups of a cached policy that waited for its TXT re-check or its new id's fetch.",
         .json = "rechecks.waits", .off = POL_CTR(recheck_waits)},
        {"mtastsd_policy_recheck_timeouts_total", STATS_COUNTER,
         "Of those, lookups answered with the cached policy at their timeout.",
         .json = "rechecks.timeouts_cached", .off = POL_CTR(recheck_timeout_cached)},
        {"mtastsd_policy_discoveries_rejected_total", STATS_COUNTER,
         "Lookups answered as timed out without a discovery, by the cap that was full: "
         "max_discoveries or fetch_queue_max (discoveries that found the fetch queue full "
         "count there too).",
         .json = "discoveries.rejected", .label = "cap", .fields = pol_rejected,
         .n = STATS_COUNT(pol_rejected)},
        {"mtastsd_policy_overcap_shared_reads_total", STATS_COUNTER,
         "Of those, lookups that read the shared cache (Valkey/Redis) instead: a policy "
         "another fleet member discovered still applies (at most "
         "RES_OVERCAP_SHARED_READS_MAX at once).",
         .json = "discoveries.overcap_shared_reads", .off = POL_CTR(overcap_shared_reads)},
        {"mtastsd_policy_shared_conflicts_total", STATS_COUNTER,
         "Policies in the shared cache (Valkey/Redis) under the id of the valid one cached "
         "here but unlike it: a forged or broken value, not taken, fetched directly (a new "
         "id after a real policy change is fetched directly too, and not counted).",
         .json = "discoveries.shared_conflicts", .off = POL_CTR(shared_conflicts)},
        {"mtastsd_policy_discoveries_in_flight", STATS_GAUGE,
         "Discoveries in flight, started by a lookup (max_discoveries) or in the background "
         "(refreshes, re-checks: refresh_concurrency).",
         .json = "discoveries.in_flight", .label = "by", .fields = pol_in_flight,
         .n = STATS_COUNT(pol_in_flight)},
        {"mtastsd_policy_fetches_in_flight", STATS_GAUGE,
         "Fetches of lookups' discoveries holding one of the fetch_concurrency slots.",
         .json = "discoveries.fetching", .get = pol_get_fetching},
        {"mtastsd_policy_fetch_queue_length", STATS_GAUGE,
         "Lookups' discoveries waiting for a fetch slot (at most fetch_queue_max).",
         .json = "discoveries.fetch_queued", .get = pol_get_queued},
        {"mtastsd_policy_refresh_lag_seconds", STATS_GAUGE,
         "How long the most overdue cached policy has been due for its refresh (0: none).",
         .json = "refresh_lag_s", .get = pol_get_refresh_lag},
        {"mtastsd_policy_ip_mx_dropped_total", STATS_COUNTER,
         "Fetched policies with IP-address mx patterns, dropped (the name patterns apply).",
         .json = "discoveries.policy_ip_mx_dropped", .off = POL_CTR(policy_ip_mx_dropped)},
};

void
pol_engine_stats_add(const struct pol_engine *e, struct stats *st)
{
	stats_add(st, pol_stats, STATS_COUNT(pol_stats), &e->ctr);
}

size_t
pol_engine_waiters(const struct pol_engine *e)
{
	return coalesce_waiters(e->jobs);
}

size_t
pol_engine_jobs(const struct pol_engine *e)
{
	return coalesce_jobs(e->jobs);
}

size_t
pol_engine_foreground(const struct pol_engine *e)
{
	return e->n_foreground;
}

size_t
pol_engine_fetch_queued(const struct pol_engine *e)
{
	return e->n_queued;
}

size_t
pol_engine_background(const struct pol_engine *e)
{
	return e->n_background;
}
