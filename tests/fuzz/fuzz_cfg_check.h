/*
 * tests/fuzz/fuzz_cfg_check.h - the invariants of one cfg_load(), shared by fuzz_cfg and
 * fuzz_cfg_include
 *
 * Interface: fuzz_cfg_load_check()
 * Checks:    either 0 and a config with the default zone "postfix" that cfg_free()
 *            releases, or ERR_CONFIG with a NUL-terminated message and no config.
 */
#ifndef MTASTSD_FUZZ_CFG_CHECK_H
#define MTASTSD_FUZZ_CFG_CHECK_H

#include <string.h>

#include "cfg.h"
#include "err.h"
#include "fuzz.h"

/* Load the config file at path and check the outcome (aborts on a broken invariant). */
static inline void
fuzz_cfg_load_check(const char *path)
{
	char errbuf[512];
	struct cfg *c = NULL;
	int r;

	memset(errbuf, 'X', sizeof(errbuf));
	r = cfg_load(path, &c, errbuf, sizeof(errbuf));
	if (r == 0) {
		FUZZ_CHECK(c != NULL);
		FUZZ_CHECK(c->resolver.n_zones >= 1);
		FUZZ_CHECK(cfg_zone_find(&c->resolver, "postfix", 7) != NULL);
		FUZZ_CHECK(cfg_free(c) == NULL);
	} else {
		FUZZ_CHECK(r == ERR_CONFIG);
		FUZZ_CHECK(memchr(errbuf, '\0', sizeof(errbuf)) != NULL);
		FUZZ_CHECK(c == NULL);
	}
}

#endif
