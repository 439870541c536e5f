/*
 * tests/unit/cli/test_cli.c - the shared command-line layer and the verbs that need no network
 *
 * Covers: cli_parse() (operands, --json only where the verb takes it, options among the
 *         operands, missing/extra operands and unknown options -> usage, --help), the usage
 *         line and the --help "Commands:" block, cli_run()'s check of the output stream
 *         (a write error fails the verb), cli_dns_records() (zone-file lines, quoting, no
 *         domains -> 1), cli_check() without domains (1, nothing on stdout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "pub.h"
#include "xalloc.h"

static int
test_verb_run(const struct cli_args *a)
{
	(void)fprintf(a->out, "%s\n", a->n_operands > 0 ? a->operands[0] : "-");
	return CLI_EXIT_OK;
}

/* Made-up verbs: one operand and --json, none, up to two optional ones. */
static const struct cli_verb test_verbs[] = {
        {.name = "alpha",
         .operands = "NAME",
         .min_operands = 1,
         .max_operands = 1,
         .flags = CLI_JSON,
         .help = "first line\nsecond line",
         .run = test_verb_run},
        {.name = "beta-gamma", .operands = "", .help = "one line", .run = test_verb_run},
        {.name = "delta",
         .operands = "[X] [Y]",
         .max_operands = 2,
         .help = "d",
         .run = test_verb_run},
};

/* cli_parse() on a NULL-terminated word list (the verb name first). */
static int
parse(const struct cli_verb *v, struct cli_args *a, int *code, ...)
{
	char *argv[8];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)v->name;
	va_start(ap, code);
	for (;;) {
		char *w = va_arg(ap, char *);

		if (w == NULL)
			break;
		assert_true(argc < 8);
		argv[argc++] = w;
	}
	va_end(ap);
	*code = -1;
	return cli_parse(v, argc, argv, a, code);
}

static void
test_parse(void **state)
{
	const struct cli_verb *al = &test_verbs[0], *bg = &test_verbs[1], *de = &test_verbs[2];
	struct cli_args a;
	int code;

	(void)state;
	assert_int_equal(parse(al, &a, &code, "example.com", NULL), 0);
	assert_ptr_equal(a.verb, al);
	assert_ptr_equal(a.out, stdout);
	assert_null(a.cfg);
	assert_int_equal(a.n_operands, 1);
	assert_string_equal(a.operands[0], "example.com");
	assert_int_equal(a.json, 0);
	assert_int_equal(parse(al, &a, &code, "--json", "example.com", NULL), 0);
	assert_int_equal(a.json, 1);
	assert_string_equal(a.operands[0], "example.com");
	assert_int_equal(parse(al, &a, &code, "example.com", "--json", NULL), 0);
	assert_int_equal(a.json, 1);

	assert_int_equal(parse(al, &a, &code, NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);
	assert_int_equal(parse(al, &a, &code, "--json", NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);
	assert_int_equal(parse(al, &a, &code, "a.example", "b.example", NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);
	assert_int_equal(parse(al, &a, &code, "--jsn", "a.example", NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);
	/* a lone "-" is an operand (stdin, `tlsrpt import -`); the verb judges it */
	assert_int_equal(parse(al, &a, &code, "-", NULL), 0);
	assert_string_equal(a.operands[0], "-");
	assert_int_equal(parse(al, &a, &code, "-x", NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);

	assert_int_equal(parse(bg, &a, &code, NULL), 0);
	assert_int_equal(a.n_operands, 0);
	assert_int_equal(parse(bg, &a, &code, "extra", NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);
	assert_int_equal(parse(bg, &a, &code, "--json", NULL), 1); /* not a CLI_JSON verb */
	assert_int_equal(code, CLI_EXIT_USAGE);

	assert_int_equal(parse(de, &a, &code, NULL), 0);
	assert_int_equal(a.n_operands, 0);
	assert_int_equal(parse(de, &a, &code, "x", "y", NULL), 0);
	assert_int_equal(a.n_operands, 2);
	assert_string_equal(a.operands[1], "y");
	assert_int_equal(parse(de, &a, &code, "x", "y", "z", NULL), 1);
	assert_int_equal(code, CLI_EXIT_USAGE);

	assert_int_equal(parse(de, &a, &code, "--help", NULL), 1);
	assert_int_equal(code, CLI_EXIT_OK);
	assert_int_equal(parse(al, &a, &code, "-h", NULL), 1); /* before "missing NAME" */
	assert_int_equal(code, CLI_EXIT_OK);
}

/* What fn wrote into a memory stream (owned). */
static char *
capture(void (*fn)(FILE *out))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void
usage_lines(FILE *out)
{
	size_t i;

	for (i = 0; i < 3; i++)
		cli_usage(out, "       ", &test_verbs[i]);
}

static void
help_block(FILE *out)
{
	cli_help_commands(out, test_verbs, 3);
}

static void
test_usage_and_help(void **state)
{
	char *s;

	(void)state;
	s = capture(usage_lines);
	assert_string_equal(s, "       mtastsd [-c FILE] alpha NAME [--json]\n"
	                       "       mtastsd [-c FILE] beta-gamma\n"
	                       "       mtastsd [-c FILE] delta [X] [Y]\n");
	free(s);
	/* Help aligned after the longest synopsis, continuation lines under the first. */
	s = capture(help_block);
	assert_string_equal(s, "  alpha NAME [--json]  first line\n"
	                       "                       second line\n"
	                       "  beta-gamma           one line\n"
	                       "  delta [X] [Y]        d\n");
	free(s);
}

static void
test_run_checks_output(void **state)
{
	struct cli_args a;
	int code;

	(void)state;
	assert_int_equal(parse(&test_verbs[0], &a, &code, "example.com", NULL), 0);
	a.out = fopen("/dev/full", "w");
	if (a.out == NULL)
		skip();
	assert_int_equal(cli_run(&a), CLI_EXIT_FAIL);
	(void)fclose(a.out);
}

/* Run verb fn with cfg c, output into *ret_out (owned). Returns the exit code. */
static int
run_verb(cli_verb_fn *fn, const char *name, const struct cfg *c, char **ret_out)
{
	struct cli_verb v = {.name = name, .operands = "", .help = "", .run = fn};
	struct cli_args a;
	size_t len = 0;
	int code;

	*ret_out = NULL;
	assert_int_equal(parse(&v, &a, &code, NULL), 0);
	a.cfg = c;
	a.out = open_memstream(ret_out, &len);
	assert_non_null(a.out);
	code = cli_run(&a);
	assert_int_equal(fclose(a.out), 0);
	return code;
}

static char *test_mx[] = {"mail.example.com"};

static void
test_dns_records(void **state)
{
	struct cfg_domain d[2];
	struct cfg c;
	char *out, *id, *want;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(run_verb(cli_dns_records, "dns-records", &c, &out), CLI_EXIT_FAIL);
	assert_string_equal(out, "");
	free(out);

	memset(d, 0, sizeof(d));
	d[0].domain = "example.com";
	d[0].policy.mode = STS_MODE_ENFORCE;
	d[0].policy.max_age_s = 604800;
	d[0].policy.n_mx = 1;
	d[0].policy.mx = test_mx;
	d[0].tlsrpt_rua = "mailto:tls\"rpt\\@example.com";
	d[1] = d[0];
	d[1].domain = "example.org";
	d[1].policy.mode = STS_MODE_TESTING;
	d[1].id = "abc123";
	d[1].tlsrpt_rua = NULL;
	c.publisher.n_domains = 2;
	c.publisher.domains = d;
	assert_int_equal(run_verb(cli_dns_records, "dns-records", &c, &out), CLI_EXIT_OK);
	id = pub_policy_id(&d[0]);
	want = xasprintf("; example.com: mta-sts.example.com must resolve (A/AAAA or CNAME) to "
	                 "this publisher, policy mode enforce\n"
	                 "_mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=%s\"\n"
	                 "_smtp._tls.example.com. 3600 IN TXT \"v=TLSRPTv1; "
	                 "rua=mailto:tls\\\"rpt\\\\@example.com\"\n"
	                 "; example.org: mta-sts.example.org must resolve (A/AAAA or CNAME) to "
	                 "this publisher, policy mode testing\n"
	                 "_mta-sts.example.org. 3600 IN TXT \"v=STSv1; id=abc123\"\n",
	                 id);
	assert_string_equal(out, want);
	free(want);
	free(id);
	free(out);
}

static void
test_check_no_domains(void **state)
{
	struct cfg c;
	char *out;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(run_verb(cli_check, "check", &c, &out), CLI_EXIT_FAIL);
	assert_string_equal(out, "");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_usage_and_help),
	        cmocka_unit_test(test_run_checks_output),
	        cmocka_unit_test(test_dns_records),
	        cmocka_unit_test(test_check_no_domains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
