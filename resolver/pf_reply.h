/*
 * resolver/pf_reply.h - MTA-STS policy -> Postfix TLS policy reply (no I/O)
 *
 * The mapping of docs/rfc-notes.md section 9 and docs/socketmap.md:
 * enforce -> "secure match=<patterns>" [servername=hostname] [Postfix 3.10 TLSRPT
 * attributes]; testing -> NOTFOUND unless the zone has strict_testing; none -> NOTFOUND.
 *
 * Interface: pf_reply_build(), pf_reply_decide()
 * Ownership: returned strings are owned by the caller.
 * Errors:    ERR_POLICY_NO_MX when an enforce policy has no usable pattern.
 */
#ifndef MTASTSD_PF_REPLY_H
#define MTASTSD_PF_REPLY_H

#include "cfg.h"
#include "sm_proto.h"
#include "sts_policy.h"

/* Build the data after "OK " for policy p of Policy Domain domain in zone z.
 * Returns 0 with *ret_data set to an owned string, or with *ret_data NULL when the policy
 * asks for nothing (mode none, or testing without strict_testing): answer NOTFOUND.
 * Returns ERR_POLICY_NO_MX (and *ret_data NULL) when the policy would be applied but has no
 * usable mx pattern (all IP literals): the caller answers NOTFOUND and logs. */
int pf_reply_build(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
                   char **ret_data);

/* The whole socketmap decision for one lookup result: p is the policy that applies (NULL
 * when none is known). Sets *ret_status (SM_OK or SM_NOTFOUND) and *ret_data (owned, or
 * NULL); returns what pf_reply_build() returned (0 when p is NULL). */
int pf_reply_decide(const struct sts_policy *p, const char *domain, const struct cfg_zone *z,
                    enum sm_status *ret_status, char **ret_data);

#endif
