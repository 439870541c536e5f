/*
 * publisher/pub_dns.c - the DNS records the published domains need (`mtastsd dns-records`)
 *
 * Interface: pub_dns_records(), pub_dns_records_free() (pub.h)
 * Threads:   any; reads only the cfg.
 * Ownership: the records and their strings are owned by the caller; domain names are
 *            borrowed from the cfg.
 * Errors:    none; allocation failure dies (xalloc).
 */
#include <stdlib.h>
#include <string.h>

#include "pub.h"
#include "pub_int.h"
#include "xalloc.h"

char *
pub_dns_tlsrpt_text(const struct cfg *cfg, const struct cfg_domain *d)
{
	char *rua[3], *text, *t;
	size_t n = 0, i;

	if (d->tlsrpt_rua != NULL)
		rua[n++] = xstrdup(d->tlsrpt_rua);
	if (cfg->tlsrpt.mailto_rua != NULL &&
	    (d->tlsrpt_rua == NULL || strstr(d->tlsrpt_rua, cfg->tlsrpt.mailto_rua) == NULL))
		rua[n++] = xstrdup(cfg->tlsrpt.mailto_rua);
	if (cfg->tlsrpt.receive)
		rua[n++] = xasprintf("https://mta-sts.%s" PUB_TLSRPT_PATH, d->domain);
	if (n == 0)
		return NULL;
	text = xasprintf("v=TLSRPTv1; rua=%s", rua[0]);
	free(rua[0]);
	for (i = 1; i < n; i++) {
		t = xasprintf("%s,%s", text, rua[i]);
		free(text);
		free(rua[i]);
		text = t;
	}
	return text;
}

struct pub_dns_records *
pub_dns_records(const struct cfg *cfg)
{
	const struct cfg_publisher *p = &cfg->publisher;
	struct pub_dns_records *r = xcalloc(1, sizeof(*r));
	size_t i;

	r->ttl_s = PUB_DNS_TTL;
	r->n_domains = p->n_domains;
	r->domains = xcalloc(p->n_domains > 0 ? p->n_domains : 1, sizeof(*r->domains));
	for (i = 0; i < p->n_domains; i++) {
		const struct cfg_domain *d = &p->domains[i];
		struct pub_dns_domain *rd = &r->domains[i];
		char *id = pub_policy_id(d);

		rd->domain = d->domain;
		/* what --update writes for a domain with dns_update, else the suggestion */
		rd->ttl_s = d->upd != NULL ? d->upd->ttl_s : PUB_DNS_TTL;
		rd->mode = d->policy.mode;
		rd->policy_host = xasprintf("mta-sts.%s", d->domain);
		rd->sts_owner = xasprintf("_mta-sts.%s.", d->domain);
		rd->sts_text = xasprintf("v=STSv1; id=%s", id);
		rd->tlsrpt_text = pub_dns_tlsrpt_text(cfg, d);
		if (rd->tlsrpt_text != NULL)
			rd->tlsrpt_owner = xasprintf("_smtp._tls.%s.", d->domain);
		free(id);
	}
	return r;
}

struct pub_dns_records *
pub_dns_records_free(struct pub_dns_records *r)
{
	size_t i;

	if (r == NULL)
		return NULL;
	for (i = 0; i < r->n_domains; i++) {
		free(r->domains[i].policy_host);
		free(r->domains[i].sts_owner);
		free(r->domains[i].sts_text);
		free(r->domains[i].tlsrpt_owner);
		free(r->domains[i].tlsrpt_text);
	}
	free(r->domains);
	free(r);
	return NULL;
}
