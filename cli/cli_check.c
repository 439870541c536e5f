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

#include "check.h"
#include "cli.h"

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
	(void)fprintf(a->out, "summary: %zu domain%s, %zu checks, %zu failed\n", rep->n_domains,
	              rep->n_domains == 1 ? "" : "s", n_checks, n_failed);
	(void)check_report_free(rep);
	return n_failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
