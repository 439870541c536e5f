/*
 * resolver/lookup_cli.c - the DANE half of a one-shot query (res_query_run(), for
 *                         `mtastsd query DOMAIN`)
 *
 * Interface: lookup_cli_start(), lookup_cli_pending(), lookup_cli_override(),
 *            lookup_cli_take(), lookup_cli_result_clear(), lookup_cli_free(),
 *            lookup_dane_of()
 * Threads:   the CLI's own loop.
 * Ownership: struct lookup_cli owns its DANE module and a copy of the findings.
 * Errors:    a DNS client that cannot be built is reported as a DANE TEMP finding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "xalloc.h"

struct lookup_dane
lookup_dane_of(struct dane *d)
{
	struct lookup_dane ld = {.dane = d,
	                         .start = dane_lookup,
	                         .cancel = dane_lookup_cancel,
	                         .ad_trusted = dane_ad_trusted};

	return ld;
}

struct lookup_cli {
	struct loop *loop;
	struct dane *dane;
	struct dane_waiter *w;
	int answered;
	const int *sts_answered; /* the MTA-STS half's flag: exit the loop when both are in */
	struct lookup_cli_result res;
};

static void
lookup_cli_done(const struct dane_result *r, void *arg)
{
	struct lookup_cli *lc = arg;
	size_t i;

	lc->w = NULL;
	lc->answered = 1;
	lc->res.verdict = r->verdict;
	lc->res.ad_trusted = r->ad_trusted;
	(void)snprintf(lc->res.reason, sizeof(lc->res.reason), "%s", r->reason);
	if (r->f != NULL) {
		struct dane_findings *f = &lc->res.f;

		*f = *r->f;
		f->hosts = xcalloc(r->f->n_hosts > 0 ? r->f->n_hosts : 1, sizeof(*f->hosts));
		for (i = 0; i < r->f->n_hosts; i++) {
			f->hosts[i] = r->f->hosts[i];
			f->hosts[i].name = xstrdup(r->f->hosts[i].name);
		}
	}
	if (lc->sts_answered != NULL && *lc->sts_answered)
		loop_exit(lc->loop, 0);
}

struct lookup_cli *
lookup_cli_start(struct loop *loop, const struct cfg_resolver *rc, const struct cfg_zone *z,
                 const char *domain, const struct domain_nexthop *nh, uint64_t timeout_ms,
                 const int *sts_answered, const struct dns_client *dns_like)
{
	struct lookup_cli *lc;
	struct dane_waiter *w = NULL;

	if (!z->dane)
		return NULL;
	lc = xcalloc(1, sizeof(*lc));
	lc->loop = loop;
	lc->sts_answered = sts_answered;
	if (dane_new_like(loop, rc, NULL, dns_like, &lc->dane) < 0) {
		lc->answered = 1;
		lc->res.verdict = DANE_TEMP;
		(void)snprintf(lc->res.reason, sizeof(lc->res.reason),
		               "cannot create the DNS client");
		return lc;
	}
	/* what the findings say of the next hop even when DANE answers without any (f NULL) */
	lc->res.f.relay = nh != NULL && nh->relay;
	lc->res.f.port = nh != NULL ? nh->port : DOMAIN_NEXTHOP_PORT_DEFAULT;
	dane_lookup(lc->dane, domain, nh, timeout_ms, lookup_cli_done, lc, &w);
	if (!lc->answered)
		lc->w = w;
	return lc;
}

int
lookup_cli_pending(const struct lookup_cli *lc)
{
	return lc != NULL && !lc->answered;
}

int
lookup_cli_override(const struct lookup_cli *lc, enum sm_status *st, char **data)
{
	struct lookup_reply rep;
	char buf[DANE_REASON_MAX + 32];

	if (lc == NULL)
		return 0;
	lookup_combine(lc->res.verdict, lc->res.reason, *st, *data, buf, sizeof(buf), &rep);
	if (rep.source == LOOKUP_SRC_STS || rep.source == LOOKUP_SRC_NONE)
		return 0;
	*st = rep.status;
	free(*data);
	*data = rep.data != NULL ? xstrdup(rep.data) : NULL;
	return 1;
}

int
lookup_cli_take(struct lookup_cli *lc, struct lookup_cli_result *out)
{
	if (lc == NULL || !lc->answered)
		return 0;
	*out = lc->res;
	memset(&lc->res, 0, sizeof(lc->res));
	return 1;
}

void
lookup_cli_result_clear(struct lookup_cli_result *r)
{
	size_t i;

	for (i = 0; i < r->f.n_hosts; i++)
		free(r->f.hosts[i].name);
	free(r->f.hosts);
	memset(r, 0, sizeof(*r));
}

struct lookup_cli *
lookup_cli_free(struct lookup_cli *lc)
{
	if (lc == NULL)
		return NULL;
	if (lc->w != NULL) {
		struct dane_waiter *w = lc->w;

		lc->w = NULL;
		lc->sts_answered = NULL; /* the callback must not touch the loop */
		dane_lookup_cancel(w);
	}
	lc->dane = dane_free(lc->dane);
	lookup_cli_result_clear(&lc->res);
	free(lc);
	return NULL;
}
