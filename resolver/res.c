/*
 * resolver/res.c - PLACEHOLDER so the tree links; replaced by the resolver implementation.
 */
#include <errno.h>
#include <stdio.h>

#include "res.h"

int
res_new(struct loop *loop, const struct cfg *cfg, struct res **ret_res)
{
	return -ENOSYS;
}

int
res_reload(struct res *res, const struct cfg *cfg)
{
	return -ENOSYS;
}

void
res_shutdown(struct res *res, uint64_t timeout_ms, void (*done)(void *arg), void *arg)
{
	done(arg);
}

struct res *
res_free(struct res *res)
{
	return NULL;
}

int
res_query_cli(const struct cfg *cfg, const char *domain, int json)
{
	fprintf(stderr, "mtastsd: query: resolver not built yet\n");
	return 1;
}
