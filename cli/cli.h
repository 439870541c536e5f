/*
 * cli/cli.h - the command-line verbs of mtastsd (`mtastsd [-c FILE] VERB ...`)
 *
 * Each verb is one file cli_<verb>.c holding its handler (presentation only: arguments in,
 * text or JSON out; the work is done by the library modules it calls) and one row of the
 * verb table in daemon/main.c. This file is what they share: the row type, the one
 * argument parser, the usage printer, the exit codes, error messages and --json output.
 *
 * Adding a verb: write cli/cli_<verb>.c with `int cli_<verb>(const struct cli_args *a)`,
 * declare it below, add its row to main_verbs[] in daemon/main.c (docs/architecture.md).
 *
 * Interface: cli_parse(), cli_run(), cli_usage(), cli_help_commands(), cli_error(),
 *            cli_json_print(); the handlers cli_query(), cli_dns_records(), cli_check(),
 *            cli_migrate()
 * Threads:   the main thread, before (instead of) the daemon starts.
 * Ownership: struct cli_args borrows argv and the cfg from the caller.
 * Errors:    the exit codes below. Usage errors and failures are printed on stderr as
 *            "mtastsd: VERB: message"; results go to cli_args.out (stdout).
 */
#ifndef MTASTSD_CLI_H
#define MTASTSD_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "cfg.h"

/* Exit codes of the command line, daemon options included (docs/mtastsd.8 EXIT STATUS).
 * 2 means a usage error for every verb, and also "no policy" for `query` (kept as it was:
 * scripts and tests rely on query's 0/2/3). */
enum cli_exit {
	CLI_EXIT_OK = 0,        /* success (query: a policy applies, check: every check passed) */
	CLI_EXIT_FAIL = 1,      /* config, setup or write error, a failed check, bad DOMAIN */
	CLI_EXIT_USAGE = 2,     /* bad command line: message and usage line on stderr */
	CLI_EXIT_NO_POLICY = 2, /* query: the domain has no MTA-STS (or DANE) policy */
	CLI_EXIT_TEMP = 3,      /* query: temporary failure (DNS, HTTPS, DANE could not tell) */
};

/* Verb flags. */
#define CLI_JSON      0x1 /* accepts --json (cli_args.json) */
#define CLI_DNSUPD    0x2 /* accepts --diff and --update (cli_args.diff, .update) */
#define CLI_NO_CONFIG 0x4 /* reads no configuration file (cli_args.cfg is NULL) */

/* Most operands a verb takes. */
#define CLI_OPERANDS_MAX 5

struct cli_args;

/* A verb's handler: returns its exit code (enum cli_exit). */
typedef int cli_verb_fn(const struct cli_args *a);

/* One row of the verb table. */
struct cli_verb {
	const char *name;                  /* "query" */
	const char *operands;              /* synopsis of the operands: "DOMAIN", "[DOMAIN]", "" */
	size_t min_operands, max_operands; /* max at most CLI_OPERANDS_MAX */
	unsigned flags;                    /* CLI_JSON, CLI_NO_CONFIG */
	const char *help;                  /* one or more lines ('\n' between them), for --help */
	cli_verb_fn *run;
};

/* What a handler gets. */
struct cli_args {
	const struct cli_verb *verb;
	const struct cfg *cfg; /* loaded by the caller after cli_parse(); NULL for
	                        * CLI_NO_CONFIG verbs */
	FILE *out;             /* results (stdout); checked by cli_run() */
	const char *operands[CLI_OPERANDS_MAX];
	size_t n_operands;
	int json;   /* --json given (only for CLI_JSON verbs) */
	int diff;   /* --diff given (CLI_DNSUPD verbs) */
	int update; /* --update given (CLI_DNSUPD verbs) */
};

/* Parse argv[1..argc-1] (argv[0] is the verb name) for verb v into *a (cfg NULL, out
 * stdout). Options may stand anywhere among the operands: --json (CLI_JSON verbs), -h and
 * --help; a lone "-" is an operand (stdin). Returns 0 when the verb should run; otherwise 1 with
 * *ret_code set: CLI_EXIT_OK after -h/--help (the verb's usage and help printed on stdout),
 * CLI_EXIT_USAGE after a usage error (message and usage line printed on stderr). */
int cli_parse(const struct cli_verb *v, int argc, char **argv, struct cli_args *a, int *ret_code);
/* Run a parsed verb (a->cfg set) and check a->out once at the end: a write error that
 * fflush()/ferror() report turns success into CLI_EXIT_FAIL. Returns the exit code. */
int cli_run(const struct cli_args *a);

/* "<prefix>mtastsd [-c FILE] <name> <operands> [--json]\n": v's usage line ("[-c FILE] "
 * left out for a CLI_NO_CONFIG verb, which reads no configuration). */
void cli_usage(FILE *out, const char *prefix, const struct cli_verb *v);
/* The "Commands:" block of --help: name and operands, then the help lines, aligned. */
void cli_help_commands(FILE *out, const struct cli_verb *verbs, size_t n);

/* "mtastsd: <verb>: <message>\n" on stderr. */
void cli_error(const struct cli_args *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

struct json_object;
/* Print o on a->out as pretty JSON (no escaped slashes) and a newline; drops the
 * reference to o. */
void cli_json_print(const struct cli_args *a, struct json_object *o);

/* ---- the verbs (cli_<verb>.c) ---- */

/* query DOMAIN [--json]: one discovery (res_query.h); 0 policy, 2 no policy, 3 temporary
 * failure, 1 setup error or invalid DOMAIN. */
int cli_query(const struct cli_args *a);
/* dns-records: the records to publish (pub.h pub_dns_records()); 1 when no domain. With
 * --diff the primaries' records against them (1 when any differs or cannot be read), with
 * --update they are written now (pub_dnsupdate.h) and the changes printed (1 on failure). */
int cli_dns_records(const struct cli_args *a);
/* check [DOMAIN]: published domains seen from the outside (check.h); 0 all passed. */
int cli_check(const struct cli_args *a);
/* migrate resolver [FILE] | migrate publisher DOMAIN POLICYFILE [CERT KEY]: configuration
 * from postfix-mta-sts-resolver's YAML or a served policy file (migrate.h); CLI_NO_CONFIG. */
int cli_migrate(const struct cli_args *a);
/* cert [DOMAIN] [--json]: each certificate's source (file/ACME), issuer, expiry and, from
 * the running daemon, ACME state, next renewal, last error; cert renew DOMAIN: ask the
 * daemon (POST /acme/renew) to renew now. 0 ok, 1 failure, 2 usage. */
int cli_cert(const struct cli_args *a);
/* tlsrpt import [FILE|-] | tlsrpt [DOMAIN] [--json]: TLS reports in and out
 * (cli_tlsrpt.c, docs/tlsrpt.md); import exits 0, EX_DATAERR or EX_TEMPFAIL. */
int cli_tlsrpt(const struct cli_args *a);
/* rollout [DOMAIN] [--json]: each published domain's rollout from the running daemon
 * (GET /rollout, docs/rollout.md): served since when, evidence, MX check, recommendation.
 * 0 ok, 1 the daemon does not answer or DOMAIN is not published. */
int cli_rollout(const struct cli_args *a);

#endif
