/*
 * publisher/pub.c - PLACEHOLDER so the tree links; replaced by the publisher implementation.
 */
#include <errno.h>

#include "pub.h"
#include "xalloc.h"

int
pub_new(struct loop *loop, const struct cfg *cfg, struct pub **ret_pub)
{
	*ret_pub = NULL;
	return cfg->publisher.n_domains ? -ENOSYS : 0;
}

int
pub_reload(struct pub *pub, const struct cfg *cfg)
{
	return -ENOSYS;
}

struct pub *
pub_free(struct pub *pub)
{
	return NULL;
}

char *
pub_policy_id(const struct cfg_domain *d)
{
	return xstrdup("0");
}

int
pub_dns_records(const struct cfg *cfg, FILE *out)
{
	return 1;
}
