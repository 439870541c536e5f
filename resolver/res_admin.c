/*
 * resolver/res_admin.c - what the admin endpoint may see and do in the resolver's cache
 *
 * Interface: res_cache_lookup(), res_cache_purge(), res_cache_failures() (res.h)
 * Threads:   main loop only.
 * Ownership: what res_cache_lookup() returns is borrowed from the in-memory cache
 *            (cache_mem.h) until the next resolver event; nothing here allocates.
 * Errors:    an invalid domain name is ERR_DOMAIN_* (purge) or "not cached" (lookup).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cache_mem.h"
#include "cache_state.h"
#include "domain.h"
#include "err.h"
#include "res.h"

int
res_cache_lookup(const struct res *res, const char *domain, struct res_cache_info *ret)
{
	struct cache_mem *c = res != NULL ? res_cache_mem(res) : NULL;
	const struct cache_entry *e;
	char dom[DOMAIN_BUF];

	if (c == NULL || domain == NULL || domain_normalize(domain, dom) < 0)
		return -ENOENT;
	e = cache_mem_peek(c, dom);
	if (e == NULL)
		return -ENOENT;
	*ret = (struct res_cache_info){
	        .state = cache_kind_name(e->kind),
	        .id = e->id,
	        .fetched_at = e->fetched_at,
	        .expires_at = e->expires_at,
	        .last_check = e->last_check,
	        .retry_after = e->retry_after,
	        .last_error = e->last_error,
	        .policy = e->kind == CACHE_POLICY ? e->policy : NULL,
	};
	return 0;
}

long
res_cache_purge(struct res *res, const char *domain)
{
	struct cache_mem *c = res_cache_mem(res);
	char dom[DOMAIN_BUF];
	size_t n;
	int r;

	if (c == NULL)
		return 0;
	if (domain == NULL) {
		n = cache_mem_count(c);
		cache_mem_clear(c);
		cache_state_forget(res_cache_state(res), NULL); /* and what was evicted to disk */
		return (long)n;
	}
	r = domain_normalize(domain, dom);
	if (r < 0)
		return r;
	r = cache_mem_delete(c, dom) == 0 ? 1 : 0;
	cache_state_forget(res_cache_state(res), dom);
	return r;
}

struct res_failures {
	struct res_failure *out;
	size_t n, max;
};

static int
res_failure_visit(const char *dom, const struct cache_entry *e, void *arg)
{
	struct res_failures *f = arg;
	struct res_failure *slot;
	size_t i, n;

	if (e->last_error == 0 && e->kind != CACHE_TEMPFAIL)
		return 0;
	/* A domain without any MTA-STS record is the normal case, not a failure. */
	if (e->kind == CACHE_NO_POLICY &&
	    (e->last_error == ERR_DNS_NXDOMAIN || e->last_error == ERR_DNS_NODATA ||
	     e->last_error == ERR_TXT_NONE))
		return 0;
	/* Keep the max newest, sorted newest first (insertion into a tiny array). */
	n = f->n;
	for (i = 0; i < n; i++)
		if (e->last_check > f->out[i].at)
			break;
	if (i >= f->max)
		return 0;
	if (n == f->max)
		n--;
	memmove(&f->out[i + 1], &f->out[i], (n - i) * sizeof(f->out[0]));
	slot = &f->out[i];
	(void)snprintf(slot->domain, sizeof(slot->domain), "%s", dom);
	slot->state = cache_kind_name(e->kind);
	slot->err = e->last_error != 0 ? e->last_error : ERR_CACHE_UNAVAILABLE;
	slot->at = e->last_check;
	f->n = n + 1;
	return 0;
}

size_t
res_cache_failures(const struct res *res, size_t scan, struct res_failure *out, size_t max)
{
	struct cache_mem *c = res != NULL ? res_cache_mem(res) : NULL;
	struct res_failures f = {.out = out, .max = max};

	if (c != NULL && max > 0)
		cache_mem_foreach(c, scan, res_failure_visit, &f);
	return f.n;
}
