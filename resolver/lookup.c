/*
 * resolver/lookup.c - one socketmap lookup: DANE first, then MTA-STS (RFC 8461 section 2)
 *
 * Interface: lookup_new(), lookup_set_dane(), lookup_free(), lookup_start(),
 *            lookup_cancel(), lookup_counters(), lookup_stats_add(), lookup_combine(),
 *            lookup_source_name() (the one-shot lookup_cli_*() are in lookup_cli.c)
 * Threads:   main loop only.
 * Ownership: requests are owned here until their callback has run; the engine and the DANE
 *            module are borrowed.
 * Errors:    none reach the caller; a policy without a usable mx pattern is logged once per
 *            lookup (warning) and answered NOTFOUND.
 *
 * This file calls the DANE module only through struct lookup_dane, so that programs linking
 * the socketmap server with a fake DNS client (tests/unit/resolver/fake_world.h) do not pull
 * dane.o and the real DNS client in; the `mtastsd query` half is in lookup_cli.c.
 *
 * A request starts DANE (zone dane on) and then MTA-STS; whichever answers first is kept
 * until the other one is in, except that a DANE verdict that decides (dane-only, dane,
 * TEMP) answers at once and cancels the MTA-STS wait (the engine's discovery goes on). The
 * verdicts of an insecure MX RRset (dane-unless-sts, tempfail-unless-sts) wait for MTA-STS:
 * its policy, when one applies, decides instead of TLSA records whose hosts an attacker on
 * the path may have named (lookup_combine()). A DANE_TEMP of a DANE lookup that did not
 * finish (dane_result.unfinished: its timeout, the caps, the DNS queue full) waits for
 * MTA-STS too: a policy reply (SM_OK) answers instead of TEMP (issue 16: a flood of new
 * names must not turn domains whose policy is cached into TEMP); without one, TEMP.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain.h"
#include "err.h"
#include "log.h"
#include "lookup.h"
#include "pf_reply.h"
#include "stats.h"
#include "xalloc.h"

#define LOOKUP_TEXT_MAX (DANE_REASON_MAX + 32)

struct lookup {
	struct pol_engine *engine;
	struct lookup_dane dane; /* dane.dane NULL: MTA-STS only */
	struct lookup_counters ctr;
	struct log_rate temp_log; /* DANE TEMP warnings (CLOCK_MONOTONIC_COARSE ms) */
	struct log_rate size_log; /* reply-size warnings (same clock) */
	struct lookup_req *spare; /* a finished request's memory, for the next one */
};

/* DANE TEMP warnings: at most one per this many ms (the others at debug level). */
#define LOOKUP_TEMP_LOG_INTERVAL_MS 1000

static int64_t
lookup_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reply that had to shrink (or could not) to fit Postfix's limit: counted always, a
 * warning at most once per LOOKUP_TEMP_LOG_INTERVAL_MS (debug otherwise). */
static void
lookup_note_size(struct lookup *lk, const char *domain, const char *id, unsigned flags)
{
	uint64_t held;
	int loud = log_rate_due(&lk->size_log, (uint64_t)lookup_now_ms(),
	                        LOOKUP_TEMP_LOG_INTERVAL_MS, &held);
	int level = loud ? LOG_WARNING : LOG_DEBUG;

	if (flags & PF_REPLY_TLSRPT_DROPPED)
		lk->ctr.reply_tlsrpt_dropped++;
	if (flags & PF_REPLY_TOO_LONG) {
		lk->ctr.reply_too_long++;
		log_dom(level, domain,
		        "policy id %s: even the plain 'secure match=' reply is over Postfix's "
		        "%d-byte "
		        "socketmap limit: answering TEMP (Postfix defers the mail)",
		        id, SOCKETMAP_REPLY_MAX);
	} else if (flags & PF_REPLY_TLSRPT_DROPPED) {
		log_dom(level, domain,
		        "policy id %s: reply with the TLSRPT attributes is over Postfix's %d-byte "
		        "socketmap limit: answering without them",
		        id, SOCKETMAP_REPLY_MAX);
	}
}

/* A DANE TEMP reply makes Postfix defer the mail: say so at warning level, rate-limited. */
static void
lookup_log_dane_temp(struct lookup *lk, const char *domain, const char *reason)
{
	uint64_t held;

	if (!log_rate_due(&lk->temp_log, (uint64_t)lookup_now_ms(), LOOKUP_TEMP_LOG_INTERVAL_MS,
	                  &held)) {
		log_dom_debug(domain, "DANE decides: TEMP (%s)", reason);
		return;
	}
	if (held > 0)
		log_dom_warn(domain,
		             "DANE lookup failed (%s): answering TEMP, Postfix defers mail to this "
		             "domain (%" PRIu64
		             " more TEMP replies for DANE since the last such line)",
		             reason, held);
	else
		log_dom_warn(domain,
		             "DANE lookup failed (%s): answering TEMP, Postfix defers mail to this "
		             "domain",
		             reason);
}

struct lookup_req {
	struct lookup *lk;
	char domain[DOMAIN_BUF];
	struct domain_nexthop nh; /* how Postfix reaches it (the DANE half follows it) */
	struct cfg_zone zone;     /* copy (name not kept) */
	lookup_done_fn *done;
	void *arg;
	/* MTA-STS half */
	struct pol_waiter *pw;
	int sts_started, sts_pending;
	enum sm_status sts_st;
	char *sts_data; /* owned */
	int invalid_policy;
	/* DANE half */
	struct dane_waiter *dw;
	int dane_pending;
	int dane_unfinished; /* dv DANE_TEMP: the lookup did not finish (dane_result) */
	enum dane_verdict dv;
	char dreason[DANE_REASON_MAX];
	/* state */
	int starting; /* inside lookup_start() */
	int finished; /* done() has run */
	int canceled;
};

/* A zeroed request: the spare one when there is one (a cached lookup allocates nothing). */
static struct lookup_req *
lookup_req_new(struct lookup *lk)
{
	struct lookup_req *req = lk->spare;

	if (req == NULL)
		return xcalloc(1, sizeof(*req));
	lk->spare = NULL;
	memset(req, 0, sizeof(*req));
	return req;
}

/* Release a request whose callback has run (or never will): it becomes the spare. */
static void
lookup_req_free(struct lookup_req *req)
{
	struct lookup *lk = req->lk;

	free(req->sts_data);
	req->sts_data = NULL;
	if (lk->spare == NULL)
		lk->spare = req;
	else
		free(req);
}

const char *
lookup_source_name(enum lookup_source s)
{
	switch (s) {
	case LOOKUP_SRC_DANE_ONLY:
		return "dane-only";
	case LOOKUP_SRC_DANE:
		return "dane";
	case LOOKUP_SRC_DANE_TEMP:
		return "dane-tempfail";
	case LOOKUP_SRC_STS:
		return "sts";
	case LOOKUP_SRC_NONE:
		return "none";
	}
	return "?";
}

/* Whether DANE verdict v answers at once, whatever MTA-STS finds. */
static int
lookup_dane_decisive(enum dane_verdict v)
{
	switch (v) {
	case DANE_ONLY:
	case DANE_MAY:
	case DANE_TEMP:
	case DANE_CANCELED:
		return 1;
	case DANE_NONE:
	case DANE_MAY_UNLESS_STS:
	case DANE_TEMP_UNLESS_STS:
		break;
	}
	return 0;
}

void
lookup_combine(enum dane_verdict v, const char *reason, enum sm_status sts_st, const char *sts_data,
               char *buf, size_t bufsz, struct lookup_reply *out)
{
	out->invalid_policy = 0;
	/* An insecure MX RRset (RFC 7672 section 2.2.1): an MTA-STS policy that applies (its
	 * reply is not NOTFOUND) decides; its TLSA records count only without one. */
	if (v == DANE_MAY_UNLESS_STS)
		v = sts_st == SM_NOTFOUND ? DANE_MAY : DANE_NONE;
	else if (v == DANE_TEMP_UNLESS_STS)
		v = sts_st == SM_NOTFOUND ? DANE_TEMP : DANE_NONE;
	switch (v) {
	case DANE_ONLY:
		out->status = SM_OK;
		out->data = "dane-only";
		out->source = LOOKUP_SRC_DANE_ONLY;
		return;
	case DANE_MAY:
		out->status = SM_OK;
		out->data = "dane";
		out->source = LOOKUP_SRC_DANE;
		return;
	case DANE_TEMP:
		(void)snprintf(buf, bufsz, "DANE: %s", reason != NULL ? reason : "");
		out->status = SM_TEMP;
		out->data = buf;
		out->source = LOOKUP_SRC_DANE_TEMP;
		return;
	case DANE_CANCELED:
		out->status = SM_TEMP;
		out->data = LOOKUP_CANCELED;
		out->source = LOOKUP_SRC_NONE;
		return;
	case DANE_NONE:
	case DANE_MAY_UNLESS_STS:
	case DANE_TEMP_UNLESS_STS:
		break;
	}
	out->status = sts_st;
	out->data = sts_data;
	out->source = sts_st == SM_OK ? LOOKUP_SRC_STS : LOOKUP_SRC_NONE;
}

struct lookup *
lookup_new(struct pol_engine *engine, const struct lookup_dane *dane)
{
	struct lookup *lk = xcalloc(1, sizeof(*lk));

	lk->engine = engine;
	lookup_set_dane(lk, dane);
	return lk;
}

void
lookup_set_dane(struct lookup *lk, const struct lookup_dane *dane)
{
	if (dane != NULL && dane->dane != NULL && dane->start != NULL && dane->cancel != NULL)
		lk->dane = *dane;
	else
		memset(&lk->dane, 0, sizeof(lk->dane));
}

struct lookup *
lookup_free(struct lookup *lk)
{
	if (lk == NULL)
		return NULL;
	free(lk->spare);
	free(lk);
	return NULL;
}

const struct lookup_counters *
lookup_counters(const struct lookup *lk)
{
	return &lk->ctr;
}

static const char *
lookup_source_label(size_t i)
{
	return lookup_source_name((enum lookup_source)i);
}

static const struct stats_metric lookup_stats[] = {
        {"mtastsd_socketmap_replies_decided_total", STATS_COUNTER,
         "Socketmap replies by the source that decided them (DANE first, then MTA-STS; none: "
         "neither applies).",
         .json = "decided_by", .label = "source", .off = offsetof(struct lookup_counters, source),
         .n = LOOKUP_SRC_COUNT, .label_of = lookup_source_label},
        {"mtastsd_dane_checked_lookups_total", STATS_COUNTER,
         "Socketmap lookups that ran DANE (their zone has dane on, and the resolvers are on "
         "loopback: the AD bit is trusted).",
         .json = "dane.checked", .off = offsetof(struct lookup_counters, dane_checked)},
        {"mtastsd_dane_sts_overridden_total", STATS_COUNTER,
         "Replies where DANE decided while MTA-STS had a policy reply.",
         .json = "dane.sts_overridden", .off = offsetof(struct lookup_counters, sts_overridden)},
        {"mtastsd_dane_insecure_mx_sts_kept_total", STATS_COUNTER,
         "Replies where the MTA-STS policy decided although MX hosts had TLSA records, as the "
         "MX RRset was not DNSSEC-secure (RFC 7672 section 2.2.1).",
         .json = "dane.insecure_mx_sts_kept",
         .off = offsetof(struct lookup_counters, sts_over_insecure_mx)},
        {"mtastsd_dane_sts_kept_overload_total", STATS_COUNTER,
         "Replies where the MTA-STS policy decided because the DANE lookup did not finish "
         "(its timeout, resolver.max_discoveries, the DNS wait queue full).",
         .json = "dane.sts_kept_overload",
         .off = offsetof(struct lookup_counters, sts_kept_overload)},
        {"mtastsd_socketmap_reply_tlsrpt_dropped_total", STATS_COUNTER,
         "MTA-STS replies sent without the TLSRPT attributes to fit Postfix's 100000 bytes.",
         .json = "reply_size.tlsrpt_dropped",
         .off = offsetof(struct lookup_counters, reply_tlsrpt_dropped)},
        {"mtastsd_socketmap_reply_too_long_total", STATS_COUNTER,
         "Enforce policies whose plain reply is over Postfix's 100000 bytes: answered TEMP.",
         .json = "reply_size.too_long", .off = offsetof(struct lookup_counters, reply_too_long)},
};

void
lookup_stats_add(const struct lookup_counters *c, struct stats *st)
{
	stats_add(st, lookup_stats, STATS_COUNT(lookup_stats), c);
}

/* The MTA-STS reply for an engine answer (the mapping of docs/socketmap.md). */

/* Copy a NUL-terminated string into dst (size dstsz > 0), cutting it to fit. On the hot
 * path of every lookup, where snprintf("%s") cost 12 % of a cached lookup. */
static void
lookup_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = src != NULL ? strnlen(src, dstsz - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
lookup_sts_reply(struct lookup_req *req, const struct pol_answer *a)
{
	unsigned flags = 0;
	int r;

	req->sts_st = SM_NOTFOUND;
	req->sts_data = NULL;
	switch (a->status) {
	case POL_POLICY:
		r = pf_reply_decide(a->policy, req->domain, &req->zone, &req->sts_st,
		                    &req->sts_data, &flags);
		if (flags != 0)
			lookup_note_size(req->lk, req->domain, a->id, flags);
		if (r == ERR_POLICY_NO_MX) {
			req->invalid_policy = 1;
			log_dom_warn(req->domain,
			             "policy id %s has no usable mx pattern (%s), treated as no "
			             "usable policy: answering NOTFOUND",
			             a->id, err_str(r));
			req->sts_st = SM_NOTFOUND;
		}
		break;
	case POL_NO_POLICY:
	case POL_TEMPFAIL:
	case POL_TIMEOUT:
		break;
	case POL_CANCELED:
		req->sts_st = SM_TEMP;
		req->sts_data = xstrdup(LOOKUP_CANCELED);
		break;
	}
}

static void
lookup_finish(struct lookup_req *req)
{
	struct lookup *lk = req->lk;
	struct lookup_reply rep;
	char buf[LOOKUP_TEXT_MAX];

	if (req->finished)
		return;
	req->finished = 1;
	if (req->pw != NULL) {
		struct pol_waiter *w = req->pw;

		req->pw = NULL;
		pol_lookup_cancel(w);
	}
	if (req->dw != NULL) {
		struct dane_waiter *w = req->dw;

		req->dw = NULL;
		lk->dane.cancel(w);
	}
	if (req->canceled) {
		rep.status = SM_TEMP;
		rep.data = LOOKUP_CANCELED;
		rep.source = LOOKUP_SRC_NONE;
		rep.invalid_policy = 0;
		lk->ctr.canceled++;
	} else {
		if (req->dane_unfinished && req->sts_st == SM_OK) {
			/* Issue 16: DANE could not finish (overload, slow DNS), but an MTA-STS
			 * policy applies (a cached one, whatever the load): verified TLS either
			 * way, and never TEMP for a domain whose policy we hold. */
			lk->ctr.sts_kept_overload++;
			if (log_verbosity() >= 1)
				log_dom_debug(req->domain,
				              "MTA-STS policy decides, DANE not finished: %s",
				              req->dreason);
			req->dv = DANE_NONE;
		}
		lookup_combine(req->dv, req->dreason, req->sts_st, req->sts_data, buf, sizeof(buf),
		               &rep);
		if (rep.source == LOOKUP_SRC_STS || rep.source == LOOKUP_SRC_NONE)
			rep.invalid_policy = req->invalid_policy;
		else if (req->sts_st == SM_OK)
			lk->ctr.sts_overridden++;
		if ((req->dv == DANE_MAY_UNLESS_STS || req->dv == DANE_TEMP_UNLESS_STS) &&
		    req->sts_st != SM_NOTFOUND) {
			lk->ctr.sts_over_insecure_mx++;
			if (log_verbosity() >= 1)
				log_dom_debug(req->domain,
				              "MTA-STS policy decides, not DANE: %s (RFC 7672 "
				              "section 2.2.1)",
				              req->dreason);
		}
	}
	lk->ctr.source[rep.source]++;
	if (log_verbosity() >= 1 &&
	    (rep.source == LOOKUP_SRC_DANE_ONLY || rep.source == LOOKUP_SRC_DANE))
		log_dom_debug(req->domain, "DANE decides: OK %s (%s)", rep.data, req->dreason);
	else if (rep.source == LOOKUP_SRC_DANE_TEMP)
		lookup_log_dane_temp(lk, req->domain, req->dreason);
	req->done(&rep, req->arg);
	if (!req->starting)
		lookup_req_free(req);
}

static void
lookup_pol_done(const struct pol_answer *a, void *arg)
{
	struct lookup_req *req = arg;

	req->pw = NULL;
	req->sts_pending = 0;
	if (req->finished)
		return;
	lookup_sts_reply(req, a);
	if (!req->dane_pending)
		lookup_finish(req);
}

static void
lookup_dane_done(const struct dane_result *r, void *arg)
{
	struct lookup_req *req = arg;

	req->dw = NULL;
	req->dane_pending = 0;
	if (req->finished)
		return;
	req->dv = r->verdict;
	req->dane_unfinished = r->verdict == DANE_TEMP && r->unfinished;
	lookup_copy(req->dreason, sizeof(req->dreason), r->reason);
	/* A DANE lookup that did not finish (timeout, caps, DNS queue full: overload) waits for
	 * MTA-STS, whose policy may answer instead (lookup_finish()). */
	if ((lookup_dane_decisive(req->dv) && !req->dane_unfinished) ||
	    (req->sts_started && !req->sts_pending))
		lookup_finish(req);
}

void
lookup_start(struct lookup *lk, const char *domain, const struct domain_nexthop *nh,
             const struct cfg_zone *z, lookup_done_fn *done, void *arg, struct lookup_req **ret_r)
{
	struct lookup_req *req = lookup_req_new(lk);
	struct dane_waiter *dw = NULL;
	struct pol_waiter *pw = NULL;

	*ret_r = NULL;
	req->lk = lk;
	lookup_copy(req->domain, sizeof(req->domain), domain);
	req->nh.relay = nh != NULL && nh->relay;
	req->nh.port = nh != NULL ? nh->port : DOMAIN_NEXTHOP_PORT_DEFAULT;
	req->zone = *z;
	req->zone.name = NULL;
	req->done = done;
	req->arg = arg;
	req->dv = DANE_NONE;
	req->starting = 1;
	lk->ctr.lookups++;
	if (lk->dane.dane != NULL && z->dane) {
		/* Untrusted AD bit: DANE answers none at once, it checked nothing. */
		if (lk->dane.ad_trusted == NULL || lk->dane.ad_trusted(lk->dane.dane))
			lk->ctr.dane_checked++;
		req->dane_pending = 1;
		lk->dane.start(lk->dane.dane, req->domain, &req->nh, z->timeout_ms,
		               lookup_dane_done, req, &dw);
		if (req->dane_pending)
			req->dw = dw;
	}
	if (!req->finished) {
		req->sts_started = 1;
		req->sts_pending = 1;
		pol_lookup(lk->engine, req->domain, z->timeout_ms, lookup_pol_done, req, &pw);
		if (req->sts_pending)
			req->pw = pw;
	}
	req->starting = 0;
	if (req->finished) {
		lookup_req_free(req);
		return;
	}
	*ret_r = req;
}

void
lookup_cancel(struct lookup_req *req)
{
	req->canceled = 1;
	lookup_finish(req);
}
