/*
 * resolver/res_query.h - one discovery outside the daemon, as the daemon would do it
 *                        (`mtastsd query DOMAIN`)
 *
 * res_query_run() builds a private event loop, a one-entry memory cache and a policy
 * engine (DNS client and HTTPS fetcher from cfg->resolver) and, when the default zone has
 * `dane` on, a DANE module; it runs the MTA-STS and the DANE lookup of one domain in
 * parallel and decides the socketmap reply as the server does (DANE first, then
 * pf_reply.h). Nothing is printed: the caller presents the result.
 *
 * Interface: res_query_run(), res_query_free()
 * Threads:   the caller's thread; runs its own loop until both answers are in. The
 *            engine's DNS and fetch timeouts bound that; a guard derived from them catches
 *            a stuck run.
 * Ownership: struct res_query is owned by the caller; it borrows the zone name from cfg,
 *            which must outlive it. The loop, cache, engine and DANE module live only
 *            during res_query_run().
 * Errors:    see res_query_run(). Runtime DNS/HTTPS failures are results, not errors.
 */
#ifndef MTASTSD_RES_QUERY_H
#define MTASTSD_RES_QUERY_H

#include <stddef.h>

#include "cfg.h"
#include "domain.h"
#include "lookup.h"
#include "mtasts_limits.h"
#include "pf_reply.h"
#include "pol_engine.h"
#include "sm_proto.h"
#include "sts_policy.h"

struct res_query {
	char domain[DOMAIN_BUF]; /* normalised (lower case, A-labels, no trailing dot) */
	const char *zone;        /* name of the zone used ("" for an unnamed one); borrowed */
	/* The MTA-STS discovery (pol_engine.h). */
	enum pol_status status;    /* POL_POLICY, POL_NO_POLICY, POL_TEMPFAIL or POL_TIMEOUT */
	struct sts_policy *policy; /* the policy found (POL_POLICY), else NULL; owned */
	char id[STS_ID_MAX + 1];   /* policy or TXT id, "" when unknown */
	int err;                   /* ERR_* reason, 0 for a plain policy */
	char detail[256];          /* extra reason text (fetch detail), "" if none */
	/* DANE (docs/dane.md): dane_ran 0 when the zone has dane off. */
	int dane_ran;
	struct lookup_cli_result dane; /* verdict, reason and findings (owned) */
	/* The socketmap reply Postfix would get. */
	enum sm_status reply_status;
	char *reply;          /* status word and data: "OK secure match=...", "NOTFOUND "; owned */
	int dane_decided;     /* the reply is DANE's (dane-only, dane, or TEMP) */
	int reply_err;        /* ERR_POLICY_NO_MX: an enforce policy without a usable mx pattern
	                       * (answered NOTFOUND as the server does); ERR_POLICY_TOO_LARGE: the
	                       * reply does not fit Postfix's limit (TEMP); else 0 */
	unsigned reply_flags; /* PF_REPLY_* (pf_reply.h): what the reply left out to fit */
};

/* One discovery of domain (a Postfix next hop: name, "[literal]", ...) for cfg's default
 * zone. Returns 0 and sets *ret_q (owned: res_query_free()); or an error, with what failed
 * written into errbuf (errsize bytes, without a "query:" prefix):
 *   ERR_DOMAIN_*   domain is not a name to look up (ERR_DOMAIN_IP_LITERAL and
 *                  ERR_DOMAIN_PARENT_PROBE: a next hop that never has a policy)
 *   -ETIMEDOUT     the loop stopped before the MTA-STS answer (the guard; not expected)
 *   other -errno / ERR_*  the event loop or the engine could not be built */
int res_query_run(const struct cfg *cfg, const char *domain, struct res_query **ret_q, char *errbuf,
                  size_t errsize);
/* Returns NULL; NULL is a no-op. */
struct res_query *res_query_free(struct res_query *q);

#endif
