/*
 * cli/cli_check.c - `mtastsd check [DOMAIN] [--json]`: published domains seen from the outside
 *
 * Interface: cli_check() (cli.h)
 * Output:    one line per check, "ok   <domain>: ..." or "FAIL <domain>: <reason>", in
 *            configuration order; after the mxhosts line, one indented line per MX host
 *            probed and the mx patterns that cover no MX host; then "summary: N domains,
 *            N checks, N failed". With --json one object (docs/check.md "JSON"). The checks
 *            themselves are check_run() (check.h); docs/check.md lists the messages.
 * Exit:      0 every check passed, 1 a check failed or the checks could not run.
 * Threads:   main thread only.
 * Errors:    printed on stderr as "mtastsd: check: ...", with nothing on stdout.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "check.h"
#include "cli.h"
#include "err.h"
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

/* "YYYY-MM-DD HH:MM:SS UTC" of t into buf (32 bytes). */
static const char *
cli_check_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)snprintf(buf, size, "?");
	return buf;
}

static void
cli_check_host_text(FILE *out, const struct mx_report *rep, const struct mx_host *h)
{
	char date[32];

	(void)fprintf(out, "       MX %u %s", h->pref, h->name);
	if (h->addr[0] != '\0')
		(void)fprintf(out, " [%s]", h->addr);
	(void)fprintf(out, ": %s", mx_result_name(h->result));
	if (h->error[0] != '\0')
		(void)fprintf(out, ": %s", h->error);
	if (h->reachable)
		(void)fprintf(out, "; STARTTLS %s", h->starttls ? "offered" : "not offered");
	if (h->tls)
		(void)fprintf(out, "; %s %s", h->tls_version, h->cipher);
	if (h->subject[0] != '\0' || h->issuer[0] != '\0')
		(void)fprintf(out, "; subject %s; issuer %s; notAfter %s; verify %s", h->subject,
		              h->issuer, cli_check_date(h->not_after, date, sizeof(date)),
		              h->verify);
	if (h->tls) {
		if (h->cert_pattern >= 0)
			(void)fprintf(out, "; certificate name %s matches mx pattern %s",
			              h->cert_name, rep->patterns[h->cert_pattern]);
		else
			(void)fprintf(out, "; no certificate name matches an mx pattern");
	}
	(void)fprintf(out, "\n");
}

static void
cli_check_mx_text(FILE *out, const struct mx_report *rep)
{
	size_t i, n = 0;

	for (i = 0; i < rep->n_hosts; i++)
		cli_check_host_text(out, rep, &rep->hosts[i]);
	if (rep->n_hosts == 0)
		return;
	for (i = 0; i < rep->n_patterns; i++) {
		if (rep->pattern_used[i])
			continue;
		(void)fprintf(out, "%s%s",
		              n++ == 0 ? "       mx patterns covering no MX host: " : ", ",
		              rep->patterns[i]);
	}
	if (n > 0)
		(void)fprintf(out, "\n");
}

static struct json_object *
cli_check_mx_json(const struct mx_report *rep)
{
	struct json_object *o = json_object_new_object(), *hosts = json_object_new_array(),
	                   *unused = json_object_new_array(), *uncovered = json_object_new_array();
	char date[32];
	size_t i;

	json_object_object_add(o, "error",
	                       rep->err != 0 ? json_object_new_string(err_str(rep->err)) : NULL);
	json_object_object_add(o, "mx_records", json_object_new_int64((int64_t)rep->n_hosts_dns));
	for (i = 0; i < rep->n_hosts; i++) {
		const struct mx_host *h = &rep->hosts[i];
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "name", json_object_new_string(h->name));
		json_object_object_add(j, "preference", json_object_new_int((int)h->pref));
		json_object_object_add(j, "address",
		                       h->addr[0] != '\0' ? json_object_new_string(h->addr) : NULL);
		json_object_object_add(j, "result",
		                       json_object_new_string(mx_result_name(h->result)));
		json_object_object_add(j, "ok", json_object_new_boolean(mx_report_host_ok(h)));
		json_object_object_add(
		        j, "error", h->error[0] != '\0' ? json_object_new_string(h->error) : NULL);
		json_object_object_add(j, "reachable", json_object_new_boolean(h->reachable));
		json_object_object_add(j, "starttls", json_object_new_boolean(h->starttls));
		json_object_object_add(j, "tls_version",
		                       h->tls ? json_object_new_string(h->tls_version) : NULL);
		json_object_object_add(j, "cipher",
		                       h->tls ? json_object_new_string(h->cipher) : NULL);
		json_object_object_add(j, "subject",
		                       h->subject[0] != '\0' ? json_object_new_string(h->subject)
		                                             : NULL);
		json_object_object_add(j, "issuer",
		                       h->issuer[0] != '\0' ? json_object_new_string(h->issuer)
		                                            : NULL);
		json_object_object_add(j, "not_after",
		                       h->not_after != 0
		                               ? json_object_new_string(cli_check_date(
		                                         h->not_after, date, sizeof(date)))
		                               : NULL);
		json_object_object_add(j, "verify",
		                       h->verify[0] != '\0' ? json_object_new_string(h->verify)
		                                            : NULL);
		json_object_object_add(j, "certificate_name",
		                       h->cert_pattern >= 0 ? json_object_new_string(h->cert_name)
		                                            : NULL);
		json_object_object_add(
		        j, "certificate_pattern",
		        h->cert_pattern >= 0
		                ? json_object_new_string(rep->patterns[h->cert_pattern])
		                : NULL);
		json_object_object_add(
		        j, "mx_pattern",
		        h->mx_pattern >= 0 ? json_object_new_string(rep->patterns[h->mx_pattern])
		                           : NULL);
		json_object_array_add(hosts, j);
		if (h->mx_pattern < 0)
			json_object_array_add(uncovered, json_object_new_string(h->name));
	}
	for (i = 0; i < rep->n_patterns; i++)
		if (!rep->pattern_used[i])
			json_object_array_add(unused, json_object_new_string(rep->patterns[i]));
	json_object_object_add(o, "hosts", hosts);
	json_object_object_add(o, "hosts_not_covered", uncovered);
	json_object_object_add(o, "patterns_covering_no_host", unused);
	return o;
}

static int
cli_check_json(const struct cli_args *a, const struct check_report *rep)
{
	struct json_object *root = json_object_new_object(), *doms = json_object_new_array();
	size_t i, n_checks = 0, n_failed = 0;
	int k;

	for (i = 0; i < rep->n_domains; i++) {
		const struct check_domain *cd = &rep->domains[i];
		struct json_object *d = json_object_new_object(), *checks = json_object_new_array();

		json_object_object_add(d, "domain", json_object_new_string(cd->domain));
		for (k = 0; k < CHECK_N; k++) {
			struct json_object *c;

			if (cd->res[k].skipped)
				continue;
			n_checks++;
			if (!cd->res[k].ok)
				n_failed++;
			c = json_object_new_object();
			json_object_object_add(
			        c, "check",
			        json_object_new_string(check_kind_name((enum check_kind)k)));
			json_object_object_add(c, "ok", json_object_new_boolean(cd->res[k].ok));
			json_object_object_add(c, "message",
			                       json_object_new_string(cd->res[k].msg));
			json_object_array_add(checks, c);
		}
		json_object_object_add(d, "checks", checks);
		json_object_object_add(d, "mx_hosts",
		                       cd->mx != NULL ? cli_check_mx_json(cd->mx) : NULL);
		json_object_array_add(doms, d);
	}
	json_object_object_add(root, "domains", doms);
	json_object_object_add(root, "checks", json_object_new_int64((int64_t)n_checks));
	json_object_object_add(root, "failed", json_object_new_int64((int64_t)n_failed));
	cli_json_print(a, root);
	return n_failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int
cli_check(const struct cli_args *a)
{
	struct check_report *rep;
	size_t i, n_checks = 0, n_failed = 0;
	char errbuf[512];
	int k, rc;

	if (check_run(a->cfg, a->n_operands > 0 ? a->operands[0] : NULL, &rep, errbuf,
	              sizeof(errbuf)) < 0) {
		cli_error(a, "%s", errbuf);
		return CLI_EXIT_FAIL;
	}
	if (a->json) {
		rc = cli_check_json(a, rep);
		(void)check_report_free(rep);
		return rc;
	}
	for (i = 0; i < rep->n_domains; i++) {
		const struct check_domain *cd = &rep->domains[i];

		for (k = 0; k < CHECK_N; k++) {
			if (cd->res[k].skipped)
				continue;
			n_checks++;
			if (!cd->res[k].ok)
				n_failed++;
			(void)fprintf(a->out, "%s %s: %s\n", cd->res[k].ok ? "ok  " : "FAIL",
			              cd->domain, cd->res[k].msg);
			if (k == CHECK_MXHOSTS && cd->mx != NULL)
				cli_check_mx_text(a->out, cd->mx);
		}
	}
	cli_check_primaries(a, rep, &n_checks, &n_failed);
	(void)fprintf(a->out, "summary: %zu domain%s, %zu checks, %zu failed\n", rep->n_domains,
	              rep->n_domains == 1 ? "" : "s", n_checks, n_failed);
	(void)check_report_free(rep);
	return n_failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
