/*
 * cli/check.h - the checks of `mtastsd check [DOMAIN]`: published domains as a sending MTA
 *               sees them
 *
 * For every domain of publisher.domains (or the one given), with the resolver's discovery
 * code and its DNS/CA/connect_to settings (resolver.dns_servers, ca_file, connect_to):
 *   txt          _mta-sts.<domain> has exactly one v=STSv1 TXT record with the current id
 *   policy       the policy fetched over HTTPS equals the configured one
 *   certificate  mta-sts.<domain>'s certificate is valid for the name, days left
 *   mx           every MX host of <domain> is covered by an mx pattern
 *   tlsrpt       _smtp._tls.<domain> has one v=TLSRPTv1 record (with the configured rua)
 *   mxhosts      every MX host takes STARTTLS with a certificate that verifies and that an mx
 *                pattern matches, as Postfix "secure match=" sees it (resolver/mx_probe.h):
 *                else enforce would lose mail. Only with publisher.mx_check (default on).
 * Each check gives ok or failed with one message; docs/check.md lists every message.
 * Nothing is printed here: cli_check.c presents the report. It lives in cli/ because it
 * needs both halves (the resolver's DNS client and fetcher, the publisher's policy id).
 *
 * Interface: check_run(), check_report_free()
 * Threads:   main thread; runs a private event loop until every answer is in (or the guard
 *            timer, derived from the DNS and fetch timeouts, fires).
 * Ownership: the report is owned by the caller; it borrows domain names from the cfg.
 * Errors:    see check_run().
 */
#ifndef MTASTSD_CHECK_H
#define MTASTSD_CHECK_H

#include <stddef.h>

#include "cfg.h"
#include "mx_probe.h"

/* A certificate with fewer days left than this fails the check: Let's Encrypt clients renew
 * at 30 days left and the CA's own reminder mails start at 20, so under 14 days renewal is
 * broken. */
#define CHECK_CERT_DAYS_MIN 14

/* The checks of one domain, in output order. */
enum check_kind {
	CHECK_TXT,
	CHECK_POLICY,
	CHECK_CERT,
	CHECK_MX,
	CHECK_TLSRPT,
	CHECK_MXHOSTS,
	CHECK_N,
};

struct check_result {
	int ok;      /* 1 passed, 0 failed */
	int skipped; /* 1: not run (publisher.mx_check off): neither printed nor counted */
	char *msg;   /* what was found, or why it failed (printable, one line); owned */
};

struct check_domain {
	const char *domain; /* borrowed from the cfg */
	struct check_result res[CHECK_N];
	struct mx_report *mx; /* the MX hosts probed (CHECK_MXHOSTS), NULL when none; owned */
};

/* "txt", "policy", "certificate", "mx", "tlsrpt", "mxhosts" (the JSON names). */
const char *check_kind_name(enum check_kind k);

struct check_report {
	size_t n_domains;
	struct check_domain *domains; /* configuration order */
};

/* Run the checks for domain (NULL: every configured domain). Returns 0 and sets
 * *ret_report (every result has a message; free with check_report_free()), or an error
 * with the reason written into errbuf (errsize bytes): -ENOENT when there is no domain or
 * domain is not in publisher.domains, ERR_DOMAIN_* when domain is not a valid name,
 * -errno / ERR_* when the event loop, DNS client or HTTPS fetcher cannot be built. A check
 * that fails is a result, not an error. */
int check_run(const struct cfg *cfg, const char *domain, struct check_report **ret_report,
              char *errbuf, size_t errsize);
/* Returns NULL; NULL is a no-op. */
struct check_report *check_report_free(struct check_report *rep);

#endif
