/*
 * daemon/check.h - `mtastsd check [DOMAIN]`: look at published domains as a sending MTA would
 *
 * For every domain of publisher.domains (or the one given), with the resolver's discovery
 * code and its DNS/CA/connect_to settings (resolver.dns_servers, ca_file, connect_to):
 *   txt          _mta-sts.<domain> has exactly one v=STSv1 TXT record with the current id
 *   policy       the policy fetched over HTTPS equals the configured one
 *   certificate  mta-sts.<domain>'s certificate is valid for the name, days left
 *   mx           every MX host of <domain> is covered by an mx pattern
 *   tlsrpt       _smtp._tls.<domain> has one v=TLSRPTv1 record (with the configured rua)
 * Output: one line per check, "ok   <domain>: ..." or "FAIL <domain>: <reason>", then a
 * "summary: ..." line. docs/check.md lists every message.
 *
 * Interface: check_run()
 * Threads:   main thread; runs a private event loop until every answer is in (or the guard
 *            timer, derived from the DNS and fetch timeouts, fires).
 * Errors:    usage and setup problems go to stderr.
 */
#ifndef MTASTSD_CHECK_H
#define MTASTSD_CHECK_H

#include <stdio.h>

#include "cfg.h"

/* A certificate with fewer days left than this fails the check: Let's Encrypt clients renew
 * at 30 days left and the CA's own reminder mails start at 20, so under 14 days renewal is
 * broken. */
#define CHECK_CERT_DAYS_MIN 14

/* Run the checks for domain (NULL: every configured domain), printing to out.
 * Returns 0 when every check passed, 1 when one failed or the check could not run (domain
 * not in publisher.domains, no domains, event loop or DNS client setup; printed on stderr). */
int check_run(const struct cfg *cfg, const char *domain, FILE *out);

#endif
