/*
 * resolver/res_admin.c - what the admin endpoint may see and do in the resolver's cache
 *
 * Interface: res_cache_lookup(), res_cache_purge(), res_cache_visit() (res.h)
 * Threads:   main loop only.
 * Ownership: entries are borrowed from the in-memory cache (cache_mem.h) until the next
 *            resolver event; nothing here allocates.
 * Errors:    an invalid domain name is ERR_DOMAIN_* (purge) or "not cached" (lookup).
 */
#include <stddef.h>

#include "cache_mem.h"
#include "domain.h"
#include "res.h"

const struct cache_entry *
res_cache_lookup(const struct res *res, const char *domain)
{
	struct cache_mem *c = res_cache_mem(res);
	char dom[DOMAIN_BUF];

	if (c == NULL || domain == NULL || domain_normalize(domain, dom) < 0)
		return NULL;
	return cache_mem_peek(c, dom);
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
		return (long)n;
	}
	r = domain_normalize(domain, dom);
	if (r < 0)
		return r;
	return cache_mem_delete(c, dom) == 0 ? 1 : 0;
}

void
res_cache_visit(const struct res *res, size_t max,
                int (*fn)(const char *dom, const struct cache_entry *e, void *arg), void *arg)
{
	struct cache_mem *c = res_cache_mem(res);

	if (c != NULL)
		cache_mem_foreach(c, max, fn, arg);
}
