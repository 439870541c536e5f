/*
 * cli/cli_dns_records.c - `mtastsd dns-records`: the TXT records to publish, in zone-file form
 *
 * Interface: cli_dns_records() (cli.h)
 * Output:    per published domain a comment naming the policy host and the mode, the
 *            _mta-sts TXT record and, when tlsrpt_rua is set, the _smtp._tls TXT record:
 *              ; example.com: mta-sts.example.com must resolve (A/AAAA or CNAME) to ...
 *              _mta-sts.example.com. 3600 IN TXT "v=STSv1; id=<id>"
 *            The records come from pub_dns_records() (pub.h); this file only prints them.
 * Threads:   main thread only.
 * Errors:    exit 1 with a message when publisher.domains is empty.
 */
#include <stdio.h>

#include "cli.h"
#include "pub.h"

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

int
cli_dns_records(const struct cli_args *a)
{
	struct pub_dns_records *r = pub_dns_records(a->cfg);
	size_t i;
	int code = CLI_EXIT_OK;

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
		cli_dns_put_txt(a->out, d->sts_owner, r->ttl_s, d->sts_text);
		if (d->tlsrpt_owner != NULL)
			cli_dns_put_txt(a->out, d->tlsrpt_owner, r->ttl_s, d->tlsrpt_text);
	}
	(void)pub_dns_records_free(r);
	return code;
}
