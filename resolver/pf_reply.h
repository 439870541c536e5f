/*
 * resolver/pf_reply.h - MTA-STS policy -> Postfix TLS policy reply (no I/O)
 *
 * The mapping of docs/rfc-notes.md section 9 and docs/socketmap.md:
 * enforce -> "secure match=<patterns>" [servername=hostname] [Postfix 3.10 TLSRPT
 * attributes]; testing -> NOTFOUND unless the zone has strict_testing; none -> NOTFOUND.
 *
 * Interface: pf_reply_build(), pf_reply_decide()
 * Ownership: returned strings are owned by the caller.
 * Errors:    ERR_POLICY_NO_MX when an enforce policy has no usable pattern,
 *            ERR_POLICY_TOO_LARGE when the reply cannot fit Postfix's limit.
 *
 * Size (socketmap_table(5): Postfix refuses replies over 100000 bytes): a reply that would
 * not fit first loses the optional Postfix 3.10 TLSRPT attributes, all of them together
 * (Postfix 3.10.0 to 3.10.5 crash on policy_type=sts without policy_string and
 * mx_host_pattern); when the plain "secure match=..." still does not fit, the answer is TEMP
 * (Postfix defers and retries), never NOTFOUND.
 */
#ifndef MTASTSD_PF_REPLY_H
#define MTASTSD_PF_REPLY_H

#include "cfg.h"
#include "mtasts_limits.h"
#include "sm_proto.h"
#include "sts_policy.h"

/* Longest data after "OK " (bytes): the whole payload "OK <data>" fits SOCKETMAP_REPLY_MAX. */
#define PF_REPLY_DATA_MAX (SOCKETMAP_REPLY_MAX - 3)
/* The TEMP text when even the plain reply does not fit. */
#define PF_REPLY_TOO_LONG_TEXT "MTA-STS policy reply over the socketmap limit"

/* ret_flags bits: what pf_reply_build() had to do to fit (for the caller's log and counters). */
enum {
	PF_REPLY_TLSRPT_DROPPED = 1u << 0, /* the TLSRPT attributes were left out */
	PF_REPLY_TOO_LONG = 1u << 1,       /* not even the plain reply fits: TEMP */
};

/* Build the data after "OK " for policy p of Policy Domain domain in zone z.
 * Returns 0 with *ret_data set to an owned string, or with *ret_data NULL when the policy
 * asks for nothing (mode none, or testing without strict_testing): answer NOTFOUND.
 * Returns ERR_POLICY_NO_MX (and *ret_data NULL) when the policy would be applied but has no
 * usable mx pattern (all IP literals): the caller answers NOTFOUND and logs. */
int pf_reply_build(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
                   char **ret_data, unsigned *ret_flags);

/* The whole socketmap decision for one lookup result: p is the policy that applies (NULL
 * when none is known). Sets *ret_status (SM_OK, SM_NOTFOUND, or SM_TEMP when the reply cannot
 * fit) and *ret_data (owned, or NULL), and *ret_flags when not NULL; returns what
 * pf_reply_build() returned (0 when p is NULL). */
int pf_reply_decide(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
                    enum sm_status *ret_status, char **ret_data, unsigned *ret_flags);

#endif
