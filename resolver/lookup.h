/*
 * resolver/lookup.h - one socketmap lookup: DANE first, then MTA-STS (RFC 8461 section 2)
 *
 * When the request's zone has `dane` on and a DANE module is attached, the DANE lookup
 * (dane.h) of the next hop and the MTA-STS lookup (pol_engine.h) of its Policy Domain run
 * in parallel. DANE decides when it applies: "OK dane-only", "OK dane", or "TEMP <reason>"
 * for a failure where DANE could apply (never a fallback to MTA-STS). An answer from DANE
 * that decides does not wait for MTA-STS (its discovery goes on for the cache). Where the
 * MX RRset is insecure (DANE_MAY_UNLESS_STS, DANE_TEMP_UNLESS_STS) DANE applies only when
 * no MTA-STS policy does: an enforce policy, fresh or cached, decides (RFC 7672 section
 * 2.2.1: an insecure MX RRset authenticates no host). Otherwise the MTA-STS reply stands
 * (pf_reply.h). docs/dane.md has the decision table.
 *
 * Interface: lookup_new(), lookup_set_dane(), lookup_free(), lookup_start(),
 *            lookup_cancel(), lookup_counters(), lookup_stats_add(), lookup_combine(),
 *            lookup_source_name(), lookup_cli_start(), lookup_cli_pending(),
 *            lookup_cli_override(), lookup_cli_take(), lookup_cli_result_clear(),
 *            lookup_cli_free() (lookup_cli.c)
 * Threads:   main loop only.
 * Ownership: struct lookup borrows the engine and the DANE module; a request is owned by
 *            the module until its callback has run. Reply strings are borrowed, valid only
 *            during the callback.
 * Errors:    lookups never fail: every outcome is a reply. A policy without a usable mx
 *            pattern is logged here (and flagged in the reply for the server's counter).
 */
#ifndef MTASTSD_LOOKUP_H
#define MTASTSD_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "dane.h"
#include "loop.h"
#include "pol_engine.h"
#include "sm_proto.h"

struct lookup;
struct lookup_req;

/* The TEMP text of a lookup cut off by shutdown (docs/socketmap.md). */
#define LOOKUP_CANCELED "lookup canceled, server shutting down"

/* Which source decided a reply. */
enum lookup_source {
	LOOKUP_SRC_DANE_ONLY = 0, /* OK dane-only */
	LOOKUP_SRC_DANE = 1,      /* OK dane */
	LOOKUP_SRC_DANE_TEMP = 2, /* TEMP: DANE could not tell */
	LOOKUP_SRC_STS = 3,       /* the MTA-STS policy (OK secure ...) */
	LOOKUP_SRC_NONE = 4,      /* nothing applies: NOTFOUND (or TEMP when canceled) */
};
#define LOOKUP_SRC_COUNT 5

struct lookup_reply {
	enum sm_status status;
	const char *data; /* text after the status word, NULL for none; borrowed */
	enum lookup_source source;
	int invalid_policy; /* an enforce policy had no usable mx pattern (answered NOTFOUND) */
};

typedef void lookup_done_fn(const struct lookup_reply *r, void *arg);

struct lookup_counters {
	uint64_t lookups;
	uint64_t source[LOOKUP_SRC_COUNT]; /* replies by enum lookup_source */
	uint64_t dane_checked;             /* lookups that ran DANE (zone dane on, and the AD
	                                    * bit trusted: resolvers on loopback) */
	uint64_t sts_overridden;           /* DANE decided while MTA-STS had a policy reply */
	uint64_t sts_over_insecure_mx;     /* MTA-STS decided although MX hosts had TLSA records,
	                                    * the MX RRset being insecure (*_UNLESS_STS) */
	uint64_t sts_kept_overload;        /* MTA-STS policy decided, DANE not finished */
	uint64_t canceled;
	uint64_t reply_tlsrpt_dropped; /* replies sent without the TLSRPT attributes to fit */
	uint64_t reply_too_long;       /* enforce replies over Postfix's limit: TEMP */
};

/* The DANE module and its entry points (dane_lookup, dane_lookup_cancel), passed in rather
 * than called by name: lookup.o then needs no DNS client, so test programs that link the
 * socketmap server with a fake one (tests/unit/resolver/fake_world.h) still link. */
struct lookup_dane {
	struct dane *dane;
	void (*start)(struct dane *d, const char *domain, const struct domain_nexthop *nh,
	              uint64_t timeout_ms, dane_done_fn *done, void *arg,
	              struct dane_waiter **ret_w);
	void (*cancel)(struct dane_waiter *w);
	/* Whether d trusts the AD bit (dane_ad_trusted()); when not, DANE never applies and a
	 * lookup is not counted as checked. NULL: trusted. */
	int (*ad_trusted)(const struct dane *d);
};

/* {d, dane_lookup, dane_lookup_cancel, dane_ad_trusted} (in lookup_cli.c, which may name
 * dane.o's symbols). */
struct lookup_dane lookup_dane_of(struct dane *d);

/* dane NULL (or dane->dane NULL): MTA-STS only. Never fails. */
struct lookup *lookup_new(struct pol_engine *engine, const struct lookup_dane *dane);
/* Attach (copied) or detach (NULL) the DANE module. */
void lookup_set_dane(struct lookup *lk, const struct lookup_dane *dane);
/* Requests still running must have been canceled. Returns NULL. */
struct lookup *lookup_free(struct lookup *lk);

/* Look up domain (normalised: the Policy Domain of the next hop) for zone z (copied); nh
 * (copied; NULL: "domain", MX on port 25) says how Postfix reaches it, which the DANE half
 * follows ("[host]:port": the relay itself, RFC 7672 section 2.2.2); the MTA-STS half looks
 * up domain either way. done(reply, arg) runs exactly once: possibly before lookup_start()
 * returns (*ret_r NULL then), otherwise later with *ret_r the handle until then. Both
 * halves wait at most z->timeout_ms. */
void lookup_start(struct lookup *lk, const char *domain, const struct domain_nexthop *nh,
                  const struct cfg_zone *z, lookup_done_fn *done, void *arg,
                  struct lookup_req **ret_r);
/* done() runs at once with TEMP "lookup canceled, server shutting down". */
void lookup_cancel(struct lookup_req *r);

const struct lookup_counters *lookup_counters(const struct lookup *lk);
struct stats;
/* Register the decision metrics (replies by deciding source, DANE checked/overridden) of
 * the counters c (lookup_counters(), sm_server_lookup_counters()) in st, JSON paths
 * relative to the resolver's object; st borrows c until it is cleared or freed. */
void lookup_stats_add(const struct lookup_counters *c, struct stats *st);
const char *lookup_source_name(enum lookup_source s);

/* The decision (no I/O): DANE verdict v with its reason, and the MTA-STS reply sts_st /
 * sts_data. DANE_ONLY, DANE_MAY, DANE_TEMP decide; DANE_MAY_UNLESS_STS and
 * DANE_TEMP_UNLESS_STS decide only when sts_st is SM_NOTFOUND (no MTA-STS policy applies);
 * otherwise the MTA-STS reply stands. Fills out (out->data points into sts_data or into
 * buf, of size bufsz). */
void lookup_combine(enum dane_verdict v, const char *reason, enum sm_status sts_st,
                    const char *sts_data, char *buf, size_t bufsz, struct lookup_reply *out);

/* ---- one-shot query (res_query.c): the DANE half, next to the engine's MTA-STS half ---- */
struct lookup_cli;
/* What the one-shot DANE lookup found. */
struct lookup_cli_result {
	enum dane_verdict verdict;
	char reason[DANE_REASON_MAX];
	int ad_trusted;         /* the resolvers are on loopback (AD bit used) */
	struct dane_findings f; /* deep copy (hosts and their names owned) */
};
/* Start the DANE lookup of domain reached as nh says (dane_lookup()) on loop when zone z
 * has dane on; NULL otherwise (every other lookup_cli_* call accepts NULL and does
 * nothing). Its answer calls loop_exit() when *sts_answered is set by then (the MTA-STS
 * half exits the loop itself only when lookup_cli_pending() is 0): one loop_run() waits
 * for both halves. The DNS client takes the servers of dns_like (the policy engine's,
 * borrowed during the call; NULL: read from rc), dane_new_like(). */
struct lookup_cli *lookup_cli_start(struct loop *loop, const struct cfg_resolver *rc,
                                    const struct cfg_zone *z, const char *domain,
                                    const struct domain_nexthop *nh, uint64_t timeout_ms,
                                    const int *sts_answered, const struct dns_client *dns_like);
/* Whether the DANE answer is still to come. */
int lookup_cli_pending(const struct lookup_cli *lc);
/* When DANE decides, replace *st / *data (owned) with its reply and return 1; otherwise
 * return 0 and leave them (the MTA-STS reply stands). */
int lookup_cli_override(const struct lookup_cli *lc, enum sm_status *st, char **data);
/* Move the answer into *out (its hosts then belong to *out: lookup_cli_result_clear()).
 * Returns 1, or 0 with *out untouched when lc is NULL or the answer is still to come. */
int lookup_cli_take(struct lookup_cli *lc, struct lookup_cli_result *out);
/* Free what *r owns and zero it. */
void lookup_cli_result_clear(struct lookup_cli_result *r);
/* Cancels a pending DANE lookup (its callback does not touch the loop then) and frees the
 * DANE module: call it before the loop is freed. Returns NULL. */
struct lookup_cli *lookup_cli_free(struct lookup_cli *lc);

#endif
