/*
 * cli/cli_check.c - `mtastsd check [DOMAIN]`: published domains seen from the outside
 *
 * Interface: cli_check() (cli.h)
 * Output:    one line per check, "ok   <domain>: ..." or "FAIL <domain>: <reason>", in
 *            configuration order, then "summary: N domains, N checks, N failed". The
 *            checks themselves are check_run() (check.h); docs/check.md lists the messages.
 * Exit:      0 every check passed, 1 a check failed or the checks could not run.
 * Threads:   main thread only.
 * Errors:    printed on stderr as "mtastsd: check: ...", with nothing on stdout.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "pub_dnsupdate.h"

/* The domains with dns_update (or the one named): the primary's owned records against
 * what mtastsd writes (pub_dnsupd_run_once() in DIFF mode). One line each; adds to the
 * counts. */
static void
cli_check_primaries(const struct cli_args *a, const struct check_report *rep, size_t *n_checks,
                    size_t *n_failed)
{
	struct pub_dnsupd_report ur;
	struct pub_dnsupd *u;
	size_t i, k, n;

	if (pub_dnsupd_run_once(a->cfg, rep->n_domains == 1 ? rep->domains[0].domain : NULL,
	                        PUB_DNSUPD_DIFF, &u) < 0)
		return;
	n = pub_dnsupd_report(u, 0, &ur);
	for (i = 0; i < n; i++) {
		(void)pub_dnsupd_report(u, i, &ur);
		if (ur.result == PUB_DNSUPD_NONE)
			continue; /* not the domain asked for */
		(*n_checks)++;
		if (ur.result == PUB_DNSUPD_UNCHANGED) {
			(void)fprintf(a->out,
			              "ok   %s: the primary %s has the records mtastsd writes\n",
			              ur.domain, ur.server);
			continue;
		}
		(*n_failed)++;
		if (ur.result != PUB_DNSUPD_DIFFERS) {
			(void)fprintf(a->out, "FAIL %s: the primary %s cannot be read: %s\n",
			              ur.domain, ur.server, ur.error);
			continue;
		}
		for (k = 0; k < ur.n_sets; k++) {
			if (ur.sets[k].in_step)
				continue;
			(void)fprintf(
			        a->out,
			        "FAIL %s: zone out of step on the primary %s: %s TXT \"%s\" "
			        "(ttl %u), should be \"%s\" (ttl %u); run mtastsd dns-records "
			        "--update\n",
			        ur.domain, ur.server, ur.sets[k].owner,
			        ur.sets[k].have != NULL ? ur.sets[k].have : "?",
			        (unsigned)ur.sets[k].before_ttl, ur.sets[k].want,
			        (unsigned)ur.sets[k].ttl);
			break;
		}
	}
	(void)pub_dnsupd_free(u);
}

int
cli_check(const struct cli_args *a)
{
	struct check_report *rep;
	size_t i, n_checks = 0, n_failed = 0;
	char errbuf[512];
	int k;

	if (check_run(a->cfg, a->n_operands > 0 ? a->operands[0] : NULL, &rep, errbuf,
	              sizeof(errbuf)) < 0) {
		cli_error(a, "%s", errbuf);
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < rep->n_domains; i++) {
		const struct check_domain *cd = &rep->domains[i];

		for (k = 0; k < CHECK_N; k++) {
			n_checks++;
			if (!cd->res[k].ok)
				n_failed++;
			(void)fprintf(a->out, "%s %s: %s\n", cd->res[k].ok ? "ok  " : "FAIL",
			              cd->domain, cd->res[k].msg);
		}
	}
	cli_check_primaries(a, rep, &n_checks, &n_failed);
	(void)fprintf(a->out, "summary: %zu domain%s, %zu checks, %zu failed\n", rep->n_domains,
	              rep->n_domains == 1 ? "" : "s", n_checks, n_failed);
	(void)check_report_free(rep);
	return n_failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
