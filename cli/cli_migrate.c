/*
 * cli/cli_migrate.c - `mtastsd migrate resolver [FILE]` and
 *                     `mtastsd migrate publisher DOMAIN POLICYFILE [CERT KEY]`
 *
 * Interface: cli_migrate() (cli.h)
 * Output:    the configuration text of migrate_resolver() / migrate_publisher() (migrate.h)
 *            on stdout, ready for /etc/mtastsd/mtastsd.conf; each warning on stderr as
 *            "mtastsd: migrate: warning: ...". The configuration file (-c) is not read.
 * Threads:   main thread only.
 * Errors:    exit 1 with the module's message (YAML syntax error with FILE:LINE:COLUMN, a
 *            policy the parser refuses, a file that cannot be read); 2 for a bad command line.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "migrate.h"

static int
cli_migrate_print(const struct cli_args *a, struct migrate_out *o)
{
	size_t i;

	(void)fputs(o->text, a->out);
	for (i = 0; i < o->n_warnings; i++)
		cli_error(a, "warning: %s", o->warnings[i]);
	(void)migrate_out_free(o);
	return CLI_EXIT_OK;
}

int
cli_migrate(const struct cli_args *a)
{
	const char *what = a->operands[0];
	struct migrate_out *o = NULL;
	char err[1024];

	if (strcmp(what, "resolver") == 0) {
		if (a->n_operands > 2) {
			cli_error(a, "resolver takes at most one FILE");
			cli_usage(stderr, "usage: ", a->verb);
			return CLI_EXIT_USAGE;
		}
		if (migrate_resolver(a->n_operands > 1 ? a->operands[1]
		                                       : MIGRATE_RESOLVER_DEFAULT_PATH,
		                     &o, err, sizeof(err)) < 0) {
			cli_error(a, "%s", err);
			return CLI_EXIT_FAIL;
		}
		return cli_migrate_print(a, o);
	}
	if (strcmp(what, "publisher") == 0) {
		if (a->n_operands != 3 && a->n_operands != 5) {
			cli_error(a, "publisher takes DOMAIN POLICYFILE, and optionally CERT KEY");
			cli_usage(stderr, "usage: ", a->verb);
			return CLI_EXIT_USAGE;
		}
		if (migrate_publisher(a->operands[1], a->operands[2],
		                      a->n_operands == 5 ? a->operands[3] : NULL,
		                      a->n_operands == 5 ? a->operands[4] : NULL, &o, err,
		                      sizeof(err)) < 0) {
			cli_error(a, "%s", err);
			return CLI_EXIT_FAIL;
		}
		return cli_migrate_print(a, o);
	}
	cli_error(a, "unknown migration '%s': resolver or publisher", what);
	cli_usage(stderr, "usage: ", a->verb);
	return CLI_EXIT_USAGE;
}
