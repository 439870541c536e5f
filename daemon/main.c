/*
 * daemon/main.c - mtastsd entry point: command line, configuration, subcommands
 *
 * Usage:     mtastsd [-c FILE] [-f] [-n] [-v]... [--version] [--help]
 *            mtastsd [-c FILE] query DOMAIN [--json]
 *            mtastsd [-c FILE] dns-records
 *            mtastsd [-c FILE] check [DOMAIN]
 * Config:    -c FILE must exist. Without -c, CFG_DEFAULT_PATH is read when it exists, else
 *            the embedded defaults (cfg_defaults()) are used, with a notice.
 * Exit:      0 success, 1 error (config, startup, failed command), 2 usage.
 *            `query` returns res_query_cli()'s codes.
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
#include "check.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "pub.h"
#include "res.h"

#define EXIT_USAGE 2

static void
main_usage_short(FILE *out)
{
	(void)fprintf(out, "usage: mtastsd [-c FILE] [-f] [-n] [-v]... [--version] [--help]\n"
	                   "       mtastsd [-c FILE] query DOMAIN [--json]\n"
	                   "       mtastsd [-c FILE] dns-records\n"
	                   "       mtastsd [-c FILE] check [DOMAIN]\n");
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
	        "  -n, --check-config check the configuration (syntax, values, readable\n"
	        "                     certificate files) and exit 0 or 1\n"
	        "  -v, --verbose      more log detail; repeat for more (adds to "
	        "process.verbosity)\n"
	        "      --version      print the version and exit\n"
	        "  -h, --help         print this help and exit\n"
	        "\n"
	        "Commands:\n"
	        "  query DOMAIN [--json]  discover DOMAIN's MTA-STS policy as the resolver would\n"
	        "                         (exit 0 policy, 2 no policy, 3 temporary failure)\n"
	        "  dns-records            print the DNS records the published domains need\n"
	        "  check [DOMAIN]         check published domains from the outside\n",
	        CFG_DEFAULT_PATH);
}

/* Load the configuration per the -c rules. Returns 0 and sets *ret_cfg, or 1 (printed). */
static int
main_load(const char *path, int quiet_defaults, struct cfg **ret_cfg, const char **ret_path,
          int *ret_optional)
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
	r = daemon_cfg_load(path, ret_cfg, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("%s", errbuf);
		return 1;
	}
	*ret_path = path;
	return 0;
}

static int
main_query(struct cfg *cfg, int argc, char **argv)
{
	const char *domain = NULL;
	int i, json = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (argv[i][0] == '-' || domain != NULL) {
			(void)fprintf(stderr, "mtastsd: query: unexpected argument '%s'\n",
			              argv[i]);
			return EXIT_USAGE;
		} else {
			domain = argv[i];
		}
	}
	if (domain == NULL) {
		(void)fprintf(stderr, "mtastsd: query: missing DOMAIN\n");
		return EXIT_USAGE;
	}
	return res_query_cli(cfg, domain, json);
}

static int
main_command(const char *path, int argc, char **argv)
{
	const char *cmd = argv[0], *used;
	struct cfg *cfg = NULL;
	int optional, code;

	if (strcmp(cmd, "query") != 0 && strcmp(cmd, "dns-records") != 0 &&
	    strcmp(cmd, "check") != 0) {
		(void)fprintf(stderr, "mtastsd: unknown command '%s'\n", cmd);
		main_usage_short(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "dns-records") == 0 && argc > 1) {
		(void)fprintf(stderr, "mtastsd: dns-records: unexpected argument '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "check") == 0 && argc > 2) {
		(void)fprintf(stderr, "mtastsd: check: unexpected argument '%s'\n", argv[2]);
		return EXIT_USAGE;
	}
	if (main_load(path, 1, &cfg, &used, &optional) != 0)
		return 1;
	if (strcmp(cmd, "query") == 0) {
		code = main_query(cfg, argc, argv);
	} else if (strcmp(cmd, "dns-records") == 0) {
		code = pub_dns_records(cfg, stdout);
		if (code != 0 && cfg->publisher.n_domains == 0)
			(void)fprintf(stderr,
			              "mtastsd: dns-records: no publisher.domains configured\n");
	} else {
		code = check_run(cfg, argc > 1 ? argv[1] : NULL, stdout);
	}
	(void)cfg_free(cfg);
	/* The commands' (void)-cast writes to stdout are checked here, once: a write error
	 * (full disk, closed pipe) fails the command. ferror() also catches a failed write of
	 * an earlier, already flushed buffer, which fflush() alone does not report. */
	if (fflush(stdout) != 0 || ferror(stdout))
		code = code == 0 ? 1 : code;
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
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		if (check || foreground) {
			(void)fprintf(stderr, "mtastsd: -n and -f do not apply to commands\n");
			main_usage_short(stderr);
			return EXIT_USAGE;
		}
		log_open("mtastsd", LOG_TARGET_STDERR);
		log_set_verbosity(verbose);
		return main_command(path, argc - optind, argv + optind);
	}
	if (check) {
		log_open("mtastsd", LOG_TARGET_STDERR);
		if (main_load(path, 1, &cfg, &used, &optional) != 0)
			return 1;
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
	if (main_load(path, 0, &cfg, &used, &optional) != 0) {
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
