/*
 * cli/cli_dns_records.c - `mtastsd dns-records`: the TXT records to publish, in zone-file form
 *
 * Interface: cli_dns_records() (cli.h)
 * Output:    per published domain a comment naming the policy host and the mode, the
 *            _mta-sts TXT record and, when tlsrpt_rua is set, the _smtp._tls TXT record:
 *              ; example.com: mta-sts.example.com must resolve (A/AAAA or CNAME) to ...
 *              _mta-sts.example.com. 3600 IN TXT "v=STSv1; id=<id>"
 *            The records come from pub_dns_records() (pub.h); this file only prints them.
 *            --diff / --update (domains with dns_update): per domain a comment naming the
 *            primary and the outcome, then "- " the primary's record and "+ " the one
 *            mtastsd writes, for each owned RRset that differs (--update: that changed);
 *            the work is pub_dnsupdate.h's, run here on a loop of our own.
 * Threads:   main thread only.
 * Errors:    exit 1 with a message when publisher.domains is empty; with --diff when a
 *            primary's records differ or cannot be read, with --update when one fails.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pub.h"
#include "pub_dnsupdate.h"

/* A zone-file <character-string>: quoted, with '"' and '\' escaped (RFC 1035 5.1). */
static void
cli_dns_put_quoted(FILE *out, const char *s)
{
	(void)fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			(void)fputc('\\', out);
		(void)fputc(*s, out);
	}
	(void)fputc('"', out);
}

static void
cli_dns_put_txt(FILE *out, const char *owner, uint32_t ttl_s, const char *text)
{
	(void)fprintf(out, "%s %u IN TXT ", owner, (unsigned)ttl_s);
	cli_dns_put_quoted(out, text);
	(void)fputc('\n', out);
}

/* One side of a differing RRset: "- " the primary's, "+ " ours; texts joined with " | "
 * by the updater are printed as they are. */
static void
cli_dnsupd_line(FILE *out, char sign, const char *owner, uint32_t ttl_s, const char *text)
{
	(void)fprintf(out, "%c ", sign);
	cli_dns_put_txt(out, owner, ttl_s, text);
}

static int
cli_dns_records_primary(const struct cli_args *a)
{
	struct pub_dnsupd *u;
	struct pub_dnsupd_report rep;
	size_t i, k, n;
	int code = CLI_EXIT_OK, r;

	r = pub_dnsupd_run_once(a->cfg, NULL, a->update ? PUB_DNSUPD_ONCE : PUB_DNSUPD_DIFF, &u);
	if (r < 0) {
		cli_error(a, "event loop: %s", strerror(-r));
		return CLI_EXIT_FAIL;
	}
	n = pub_dnsupd_report(u, 0, &rep);
	if (n == 0) {
		cli_error(a, "no publisher.domains[] has dns_update");
		(void)pub_dnsupd_free(u);
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < n; i++) {
		(void)pub_dnsupd_report(u, i, &rep);
		(void)fprintf(a->out, "; %s: primary %s, zone %s: ", rep.domain, rep.server,
		              rep.zone);
		switch (rep.result) {
		case PUB_DNSUPD_UNCHANGED:
			(void)fprintf(a->out, "in step\n");
			continue;
		case PUB_DNSUPD_UPDATED:
			(void)fprintf(a->out, "updated\n");
			break;
		case PUB_DNSUPD_DIFFERS:
			(void)fprintf(a->out, "out of step\n");
			code = CLI_EXIT_FAIL;
			break;
		default:
			(void)fprintf(a->out, "failed: %s\n", rep.error);
			code = CLI_EXIT_FAIL;
			continue;
		}
		for (k = 0; k < rep.n_sets; k++) {
			const struct pub_dnsupd_rrset *st = &rep.sets[k];

			if (st->before == NULL ||
			    (strcmp(st->before, st->want) == 0 && st->before_ttl == st->ttl))
				continue;
			if (st->before[0] != '\0')
				cli_dnsupd_line(a->out, '-', st->owner, st->before_ttl, st->before);
			cli_dnsupd_line(a->out, '+', st->owner, st->ttl, st->want);
		}
	}
	(void)pub_dnsupd_free(u);
	return code;
}

int
cli_dns_records(const struct cli_args *a)
{
	struct pub_dns_records *r = pub_dns_records(a->cfg);
	size_t i;
	int code = CLI_EXIT_OK;

	if (r->n_domains > 0 && (a->diff || a->update)) {
		(void)pub_dns_records_free(r);
		return cli_dns_records_primary(a);
	}
	if (r->n_domains == 0) {
		cli_error(a, "no publisher.domains configured");
		code = CLI_EXIT_FAIL;
	}
	for (i = 0; i < r->n_domains; i++) {
		const struct pub_dns_domain *d = &r->domains[i];

		(void)fprintf(a->out,
		              "; %s: %s must resolve (A/AAAA or CNAME) to this publisher, policy "
		              "mode %s\n",
		              d->domain, d->policy_host, sts_mode_name(d->mode));
		cli_dns_put_txt(a->out, d->sts_owner, d->ttl_s, d->sts_text);
		if (d->tlsrpt_owner != NULL)
			cli_dns_put_txt(a->out, d->tlsrpt_owner, d->ttl_s, d->tlsrpt_text);
	}
	(void)pub_dns_records_free(r);
	return code;
}
