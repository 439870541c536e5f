/*
 * daemon/main.c - mtastsd entry point: daemon options, configuration, verb dispatch
 *
 * Usage:     mtastsd [-c FILE] [-f] [-n] [-v]... [--version] [--help]
 *            mtastsd [-c FILE] VERB [OPERAND]... [--json] [--help]   (main_verbs[] below)
 * Config:    -c FILE must exist. Without -c, CFG_DEFAULT_PATH is read when it exists, else
 *            the embedded defaults (cfg_defaults()) are used, with a notice.
 * Verbs:     one row each in main_verbs[]; the handlers live in cli/cli_<verb>.c, which
 *            share cli.h's parser, usage printer, exit codes and --json output.
 * Exit:      enum cli_exit (cli.h): 0 success, 1 error (config, startup, failed command),
 *            2 usage; `query` also 2 no policy, 3 temporary failure.
 * Process:   mtastsd never forks; a service manager (systemd Type=notify) runs it in the
 *            background. -f only chooses plain stderr logging (log_target_auto()).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "cli.h"
#include "daemon.h"
#include "err.h"
#include "log.h"

/* The verbs: `mtastsd [-c FILE] <name> <operands>`. A new verb is a file cli/cli_<verb>.c
 * and a row here (docs/architecture.md). */
static const struct cli_verb main_verbs[] = {
        {.name = "query",
         .operands = "DOMAIN",
         .min_operands = 1,
         .max_operands = 1,
         .flags = CLI_JSON,
         .help = "discover DOMAIN's MTA-STS policy as the resolver would\n"
                 "(exit 0 policy, 2 no policy, 3 temporary failure)",
         .run = cli_query},
        {.name = "dns-records",
         .operands = "",
         .flags = CLI_DNSUPD,
         .help = "print the DNS records the published domains need\n"
                 "(--diff: a primary's records against them; --update: write them)",
         .run = cli_dns_records},
        {.name = "check",
         .operands = "[DOMAIN]",
         .max_operands = 1,
         .flags = CLI_JSON,
         .help = "check published domains from the outside",
         .run = cli_check},
        {.name = "migrate",
         .operands = "WHAT [ARG]...",
         .min_operands = 1,
         .max_operands = 5,
         .flags = CLI_NO_CONFIG,
         .help = "resolver [FILE]: an mtastsd.conf from postfix-mta-sts-resolver's YAML\n"
                 "(default /etc/mta-sts-daemon.yml); publisher DOMAIN POLICYFILE\n"
                 "[CERT KEY]: the publisher group serving that policy file",
         .run = cli_migrate},
        {.name = "cert",
         .operands = "[DOMAIN]",
         .max_operands = 2,
         .flags = CLI_JSON,
         .help = "show certificates: source (file/ACME), issuer, expiry, renewal, error;\n"
                 "`cert renew DOMAIN` asks the daemon to renew one now",
         .run = cli_cert},
        {.name = "tlsrpt",
         .operands = "[DOMAIN | import [FILE|-]]",
         .max_operands = 2,
         .flags = CLI_JSON,
         .help = "TLS reports per domain (last 30 days); import: one report\n"
                 "(mail, .json, .json.gz; exit 0 stored, 65 bounce, 75 retry)",
         .run = cli_tlsrpt},
        {.name = "rollout",
         .operands = "[DOMAIN]",
         .max_operands = 1,
         .flags = CLI_JSON,
         .help = "each published domain's rollout from the running daemon: mode since\n"
                 "when, TLS reports, MX check, and the next step with its reason",
         .run = cli_rollout},
};
#define MAIN_N_VERBS (sizeof(main_verbs) / sizeof(main_verbs[0]))

/* -n: say which certificates the ACME client orders (cert = "acme", docs/publisher.md). */
static void
main_check_acme(const struct cfg *cfg)
{
	const struct cfg_domain *d;
	size_t i;

	for (i = 0; i < cfg->publisher.n_domains; i++) {
		d = &cfg->publisher.domains[i];
		if (!d->acme)
			continue;
		if (access(d->cert_file, F_OK) == 0)
			printf("mtastsd: domain '%s': certificate %s from ACME (%s), renewed by "
			       "the "
			       "daemon\n",
			       d->domain, d->cert_file, cfg->acme.directory);
		else
			printf("mtastsd: domain '%s': no certificate yet: the daemon orders one "
			       "for "
			       "mta-sts.%s from %s (ACME, http-01 on publisher.http_listen) into "
			       "%s\n",
			       d->domain, d->domain, cfg->acme.directory, d->cert_file);
	}
}

static void
main_usage_short(FILE *out)
{
	size_t i;

	(void)fprintf(out, "usage: mtastsd [-c FILE] [-f] [-n] [-v]... [--version] [--help]\n");
	for (i = 0; i < MAIN_N_VERBS; i++)
		cli_usage(out, "       ", &main_verbs[i]);
}

static void
main_usage(FILE *out)
{
	main_usage_short(out);
	(void)fprintf(
	        out,
	        "\n"
	        "MTA-STS (RFC 8461) daemon: publishes this host's policies over HTTPS and answers\n"
	        "Postfix TLS policy lookups (socketmap) for other domains.\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE  configuration file (default %s;\n"
	        "                     when the default file does not exist, the embedded\n"
	        "                     defaults are used)\n"
	        "  -f, --foreground   log to stderr in plain text (mtastsd never forks)\n"
	        "  -n, --check-config check the configuration (syntax, values, certificate\n"
	        "                     files: readable, key matching, naming mta-sts.<domain>)\n"
	        "                     and exit 0 or 1\n"
	        "  -v, --verbose      more log detail; repeat for more (adds to "
	        "process.verbosity)\n"
	        "      --version      print the version and exit\n"
	        "  -h, --help         print this help and exit\n"
	        "\n"
	        "Commands:\n",
	        CFG_DEFAULT_PATH);
	cli_help_commands(out, main_verbs, MAIN_N_VERBS);
}

/* Load the configuration per the -c rules (flags: daemon_cfg_load()). Returns 0 and sets
 * *ret_cfg, or 1 (printed). */
static int
main_load(const char *path, int quiet_defaults, unsigned flags, struct cfg **ret_cfg,
          const char **ret_path, int *ret_optional)
{
	char errbuf[1024];
	int r;

	*ret_optional = path == NULL;
	if (path == NULL) {
		path = CFG_DEFAULT_PATH;
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			if (!quiet_defaults)
				log_notice("no configuration file %s, using the embedded defaults",
				           path);
			*ret_cfg = cfg_defaults();
			*ret_path = path;
			return 0;
		}
	}
	r = daemon_cfg_load(path, flags, ret_cfg, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("%s", errbuf);
		return 1;
	}
	*ret_path = path;
	return 0;
}

/* `mtastsd [-c FILE] VERB ...`: argv[0] is the verb. Returns the exit code. */
static int
main_verb(const char *path, int argc, char **argv)
{
	const struct cli_verb *v = NULL;
	const char *used;
	struct cfg *cfg = NULL;
	struct cli_args a;
	int optional, code;
	size_t i;

	for (i = 0; i < MAIN_N_VERBS && v == NULL; i++)
		if (strcmp(argv[0], main_verbs[i].name) == 0)
			v = &main_verbs[i];
	if (v == NULL) {
		(void)fprintf(stderr, "mtastsd: unknown command '%s'\n", argv[0]);
		main_usage_short(stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_parse(v, argc, argv, &a, &code) != 0)
		return code; /* --help, or a usage error (printed) */
	if ((v->flags & CLI_NO_CONFIG) == 0 &&
	    main_load(path, 1, DAEMON_CFG_CERTS_STRICT, &cfg, &used, &optional) != 0)
		return CLI_EXIT_FAIL;
	a.cfg = cfg;
	code = cli_run(&a);
	(void)cfg_free(cfg);
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"foreground", no_argument, NULL, 'f'},
	        {"check-config", no_argument, NULL, 'n'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	const char *path = NULL, *used = NULL;
	int c, foreground = 0, check = 0, verbose = 0, optional = 0;
	struct daemon_opts opts;
	enum log_target target;
	struct cfg *cfg = NULL;
	int code;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:fnvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'V':
			printf("mtastsd %s\n", MTASTSD_VERSION);
			return 0;
		default:
			if (optopt != 0 && optopt != '?')
				(void)fprintf(stderr, "mtastsd: %s option -%c\n",
				              optopt == 'c' ? "missing argument for" : "unknown",
				              optopt);
			else
				(void)fprintf(stderr, "mtastsd: unknown or malformed option '%s'\n",
				              argv[optind - 1]);
			main_usage_short(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		if (check || foreground) {
			(void)fprintf(stderr, "mtastsd: -n and -f do not apply to commands\n");
			main_usage_short(stderr);
			return CLI_EXIT_USAGE;
		}
		log_open("mtastsd", LOG_TARGET_STDERR);
		log_set_verbosity(verbose);
		return main_verb(path, argc - optind, argv + optind);
	}
	if (check) {
		log_open("mtastsd", LOG_TARGET_STDERR);
		if (main_load(path, 1, DAEMON_CFG_CERTS_STRICT, &cfg, &used, &optional) != 0)
			return 1;
		main_check_acme(cfg);
		if (daemon_fd_check(cfg) < 0) { /* the start's RLIMIT_NOFILE check */
			(void)cfg_free(cfg);
			return 1;
		}
		if (cfg->path != NULL)
			printf("mtastsd: configuration %s is valid\n", cfg->path);
		else
			printf("mtastsd: no configuration file %s; the embedded defaults are "
			       "valid\n",
			       used);
		(void)cfg_free(cfg);
		return 0;
	}
	target = log_target_auto(foreground);
	log_open("mtastsd", target);
	log_set_verbosity(verbose);
	if (main_load(path, 0, 0, &cfg, &used, &optional) != 0) {
		code = 1;
		goto out;
	}
	opts.cfg_path = used;
	opts.cfg_optional = optional;
	opts.extra_verbosity = verbose;
	code = daemon_run(cfg, &opts);
out:
	if (code != 0 && target == LOG_TARGET_SYSLOG && isatty(STDERR_FILENO))
		(void)fprintf(stderr,
		              "mtastsd: startup failed, see the system log (or run with -f)\n");
	return code;
}
