/*
 * cli/cli.c - what the command-line verbs share: argument parser, usage, exit, --json
 *
 * Interface: cli_parse(), cli_run(), cli_usage(), cli_help_commands(), cli_error(),
 *            cli_json_print() (cli.h)
 * Threads:   main thread only.
 * Ownership: nothing is kept; struct cli_args points into argv.
 * Errors:    usage errors are printed here (stderr) and returned as CLI_EXIT_USAGE.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Longest "name operands [--json]" synopsis printed; longer ones are cut. */
#define CLI_SYNOPSIS_MAX 128

/* "name operands [--json]" (or "[--diff | --update]") into buf. Returns its length. */
static int
cli_synopsis(const struct cli_verb *v, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%s%s%s%s%s", v->name, v->operands[0] != '\0' ? " " : "",
	             v->operands, (v->flags & CLI_JSON) != 0 ? " [--json]" : "",
	             (v->flags & CLI_DNSUPD) != 0 ? " [--diff | --update]" : "");
	return n < 0 ? 0 : n >= (int)size ? (int)size - 1 : n;
}

void
cli_usage(FILE *out, const char *prefix, const struct cli_verb *v)
{
	char syn[CLI_SYNOPSIS_MAX];

	(void)cli_synopsis(v, syn, sizeof(syn));
	(void)fprintf(out, "%smtastsd %s%s\n", prefix,
	              (v->flags & CLI_NO_CONFIG) != 0 ? "" : "[-c FILE] ", syn);
}

/* The help column of --help's verbs: a longer synopsis gets a line of its own. */
#define CLI_HELP_COLUMN 24

/* The help lines of v, the first after the synopsis padded to width (on the next line when
 * the synopsis is wider), the others indented to the same column. */
static void
cli_help_lines(FILE *out, const char *first, int width, const char *help)
{
	const char *p = help, *nl;

	if ((int)strlen(first) > width)
		(void)fprintf(out, "  %s\n%*s", first, width + 4, "");
	else
		(void)fprintf(out, "  %-*s  ", width, first);
	for (;;) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			(void)fprintf(out, "%s\n", p);
			return;
		}
		(void)fprintf(out, "%.*s\n%*s", (int)(nl - p), p, width + 4, "");
		p = nl + 1;
	}
}

void
cli_help_commands(FILE *out, const struct cli_verb *verbs, size_t n)
{
	char syn[CLI_SYNOPSIS_MAX];
	int width = 0, len;
	size_t i;

	for (i = 0; i < n; i++) {
		len = cli_synopsis(&verbs[i], syn, sizeof(syn));
		if (len > width && len <= CLI_HELP_COLUMN)
			width = len;
	}
	for (i = 0; i < n; i++) {
		(void)cli_synopsis(&verbs[i], syn, sizeof(syn));
		cli_help_lines(out, syn, width, verbs[i].help);
	}
}

void
cli_error(const struct cli_args *a, const char *fmt, ...)
{
	va_list ap;

	(void)fprintf(stderr, "mtastsd: %s: ", a->verb->name);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
}

/* A usage error: the message, then the verb's usage line. Returns CLI_EXIT_USAGE. */
static int
cli_usage_error(const struct cli_args *a, const char *what, const char *arg)
{
	cli_error(a, "%s%s%s%s", what, arg != NULL ? " '" : "", arg != NULL ? arg : "",
	          arg != NULL ? "'" : "");
	cli_usage(stderr, "usage: ", a->verb);
	return CLI_EXIT_USAGE;
}

int
cli_parse(const struct cli_verb *v, int argc, char **argv, struct cli_args *a, int *ret_code)
{
	int i;

	memset(a, 0, sizeof(*a));
	a->verb = v;
	a->out = stdout;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			cli_usage(stdout, "usage: ", v);
			(void)fprintf(stdout, "\n%s\n", v->help);
			*ret_code = CLI_EXIT_OK;
			return 1;
		}
		if ((v->flags & CLI_JSON) != 0 && strcmp(arg, "--json") == 0) {
			a->json = 1;
		} else if ((v->flags & CLI_DNSUPD) != 0 && strcmp(arg, "--diff") == 0 &&
		           !a->update) {
			a->diff = 1;
		} else if ((v->flags & CLI_DNSUPD) != 0 && strcmp(arg, "--update") == 0 &&
		           !a->diff) {
			a->update = 1;
		} else if ((arg[0] == '-' && arg[1] != '\0') || a->n_operands >= v->max_operands ||
		           a->n_operands >= CLI_OPERANDS_MAX) {
			*ret_code = cli_usage_error(a, "unexpected argument", arg);
			return 1;
		} else {
			a->operands[a->n_operands++] = arg;
		}
	}
	if (a->n_operands < v->min_operands) {
		char what[CLI_SYNOPSIS_MAX];

		(void)snprintf(what, sizeof(what), "missing %s", v->operands);
		*ret_code = cli_usage_error(a, what, NULL);
		return 1;
	}
	return 0;
}

int
cli_run(const struct cli_args *a)
{
	int code = a->verb->run(a);

	/* The handlers' (void)-cast writes to a->out are checked here, once: a write error
	 * (full disk, closed pipe) fails the command. ferror() also catches a failed write of
	 * an earlier, already flushed buffer, which fflush() alone does not report. */
	if (fflush(a->out) != 0 || ferror(a->out))
		code = code == CLI_EXIT_OK ? CLI_EXIT_FAIL : code;
	return code;
}

void
cli_json_print(const struct cli_args *a, struct json_object *o)
{
	(void)fprintf(a->out, "%s\n",
	              json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                                        JSON_C_TO_STRING_NOSLASHESCAPE));
	(void)json_object_put(o);
}
