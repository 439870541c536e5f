/*
 * resolver/lookup_cli.c - the DANE half of `mtastsd query DOMAIN` (res_query_cli())
 *
 * Interface: lookup_cli_start(), lookup_cli_pending(), lookup_cli_override(),
 *            lookup_cli_print(), lookup_cli_free(), lookup_dane_of()
 * Threads:   the CLI's own loop.
 * Ownership: struct lookup_cli owns its DANE module and a copy of the findings.
 * Errors:    a DNS client that cannot be built is reported as a DANE TEMP finding.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "xalloc.h"

struct lookup_dane
lookup_dane_of(struct dane *d)
{
	struct lookup_dane ld = {.dane = d, .start = dane_lookup, .cancel = dane_lookup_cancel};

	return ld;
}

struct lookup_cli {
	struct loop *loop;
	struct dane *dane;
	struct dane_waiter *w;
	int answered;
	const int *sts_answered; /* the MTA-STS half's flag: exit the loop when both are in */
	enum dane_verdict v;
	char reason[DANE_REASON_MAX];
	int ad_trusted;
	struct dane_findings f; /* deep copy */
};

static void
lookup_cli_done(const struct dane_result *r, void *arg)
{
	struct lookup_cli *lc = arg;
	size_t i;

	lc->w = NULL;
	lc->answered = 1;
	lc->v = r->verdict;
	lc->ad_trusted = r->ad_trusted;
	(void)snprintf(lc->reason, sizeof(lc->reason), "%s", r->reason);
	if (r->f != NULL) {
		lc->f = *r->f;
		lc->f.hosts = xcalloc(r->f->n_hosts > 0 ? r->f->n_hosts : 1, sizeof(*lc->f.hosts));
		for (i = 0; i < r->f->n_hosts; i++) {
			lc->f.hosts[i] = r->f->hosts[i];
			lc->f.hosts[i].name = xstrdup(r->f->hosts[i].name);
		}
	}
	if (lc->sts_answered != NULL && *lc->sts_answered)
		loop_exit(lc->loop, 0);
}

struct lookup_cli *
lookup_cli_start(struct loop *loop, const struct cfg_resolver *rc, const struct cfg_zone *z,
                 const char *domain, uint64_t timeout_ms, const int *sts_answered)
{
	struct lookup_cli *lc;
	struct dane_waiter *w = NULL;

	if (!z->dane)
		return NULL;
	lc = xcalloc(1, sizeof(*lc));
	lc->loop = loop;
	lc->sts_answered = sts_answered;
	if (dane_new(loop, rc, NULL, &lc->dane) < 0) {
		lc->answered = 1;
		lc->v = DANE_TEMP;
		(void)snprintf(lc->reason, sizeof(lc->reason), "cannot create the DNS client");
		return lc;
	}
	dane_lookup(lc->dane, domain, timeout_ms, lookup_cli_done, lc, &w);
	if (!lc->answered)
		lc->w = w;
	return lc;
}

int
lookup_cli_pending(const struct lookup_cli *lc)
{
	return lc != NULL && !lc->answered;
}

void
lookup_cli_override(const struct lookup_cli *lc, enum sm_status *st, char **data, int *rc_exit)
{
	struct lookup_reply rep;
	char buf[DANE_REASON_MAX + 32];

	if (lc == NULL)
		return;
	lookup_combine(lc->v, lc->reason, *st, *data, buf, sizeof(buf), &rep);
	if (rep.source == LOOKUP_SRC_STS || rep.source == LOOKUP_SRC_NONE)
		return;
	*st = rep.status;
	free(*data);
	*data = rep.data != NULL ? xstrdup(rep.data) : NULL;
	*rc_exit = rep.status == SM_OK ? 0 : 3;
}

static int
lookup_cli_shows(const struct lookup_cli *lc)
{
	size_t i;

	if (lc->v != DANE_NONE || lc->f.mx_secure)
		return 1;
	for (i = 0; i < lc->f.n_hosts; i++)
		if (lc->f.hosts[i].n_tlsa > 0 || lc->f.hosts[i].addr_secure)
			return 1;
	return 0;
}

void
lookup_cli_print(const struct lookup_cli *lc, struct json_object *o)
{
	size_t i;

	if (lc == NULL)
		return;
	if (o != NULL) {
		json_object *dj = json_object_new_object(), *hosts = json_object_new_array();

		json_object_object_add(dj, "verdict",
		                       json_object_new_string(dane_verdict_name(lc->v)));
		json_object_object_add(dj, "reason", json_object_new_string(lc->reason));
		json_object_object_add(dj, "ad_trusted", json_object_new_boolean(lc->ad_trusted));
		json_object_object_add(dj, "mx_secure", json_object_new_boolean(lc->f.mx_secure));
		json_object_object_add(dj, "implicit_mx",
		                       json_object_new_boolean(lc->f.implicit_mx));
		for (i = 0; i < lc->f.n_hosts; i++) {
			const struct dane_host *h = &lc->f.hosts[i];
			json_object *hj = json_object_new_object();

			json_object_object_add(hj, "name", json_object_new_string(h->name));
			json_object_object_add(hj, "pref", json_object_new_int(h->pref));
			json_object_object_add(
			        hj, "state",
			        json_object_new_string(dane_host_state_name(h->state)));
			json_object_object_add(hj, "tlsa", json_object_new_int((int)h->n_tlsa));
			json_object_object_add(hj, "usable", json_object_new_int((int)h->n_usable));
			json_object_array_add(hosts, hj);
		}
		json_object_object_add(dj, "hosts", hosts);
		json_object_object_add(o, "dane", dj);
		return;
	}
	if (!lookup_cli_shows(lc))
		return;
	printf("dane:    %s (%s)\n", dane_verdict_name(lc->v), lc->reason);
	for (i = 0; i < lc->f.n_hosts; i++) {
		const struct dane_host *h = &lc->f.hosts[i];

		printf("dane mx: %s pref %u: %s, %u TLSA, %u usable\n", h->name, (unsigned)h->pref,
		       dane_host_state_name(h->state), h->n_tlsa, h->n_usable);
	}
}

struct lookup_cli *
lookup_cli_free(struct lookup_cli *lc)
{
	size_t i;

	if (lc == NULL)
		return NULL;
	if (lc->w != NULL) {
		struct dane_waiter *w = lc->w;

		lc->w = NULL;
		lc->sts_answered = NULL; /* the callback must not touch the loop */
		dane_lookup_cancel(w);
	}
	lc->dane = dane_free(lc->dane);
	for (i = 0; i < lc->f.n_hosts; i++)
		free(lc->f.hosts[i].name);
	free(lc->f.hosts);
	free(lc);
	return NULL;
}
