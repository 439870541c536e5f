/*
 * cli/cli_query.c - `mtastsd query DOMAIN [--json]`: one discovery, as the daemon would do it
 *
 * Interface: cli_query() (cli.h)
 * Output:    text lines ("domain:  ...", "result:  ...", ..., "reply:   ...  (zone '...')")
 *            or, with --json, one JSON object; the DANE findings only when DANE applies,
 *            failed or the MX RRset is signed (text), always when it ran (JSON). The
 *            discovery itself is res_query_run() (res_query.h).
 * Exit:      0 policy (or DANE) applies, 2 no policy (also for an IP-literal next hop),
 *            3 temporary failure, 1 invalid DOMAIN or setup error.
 * Threads:   main thread only.
 * Errors:    printed on stderr as "mtastsd: query: ...".
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "cli.h"
#include "err.h"
#include "res_query.h"

/* The "result" word of a discovery. */
static const char *
cli_query_result(enum pol_status st)
{
	switch (st) {
	case POL_POLICY:
		return "policy";
	case POL_NO_POLICY:
		return "no-policy";
	default:
		return "tempfail";
	}
}

/* Whether the text output shows DANE: it applies, failed, something was signed, or the AD
 * bit is not trusted (DANE never applies then: say why). */
static int
cli_query_shows_dane(const struct lookup_cli_result *d)
{
	size_t i;

	if (d->verdict != DANE_NONE || d->f.mx_secure || !d->ad_trusted)
		return 1;
	for (i = 0; i < d->f.n_hosts; i++)
		if (d->f.hosts[i].n_tlsa > 0 || d->f.hosts[i].addr_secure)
			return 1;
	return 0;
}

static struct json_object *
cli_query_dane_json(const struct lookup_cli_result *d)
{
	json_object *dj = json_object_new_object(), *hosts = json_object_new_array();
	size_t i;

	json_object_object_add(dj, "verdict",
	                       json_object_new_string(dane_verdict_name(d->verdict)));
	json_object_object_add(dj, "reason", json_object_new_string(d->reason));
	json_object_object_add(dj, "ad_trusted", json_object_new_boolean(d->ad_trusted));
	json_object_object_add(dj, "relay", json_object_new_boolean(d->f.relay));
	json_object_object_add(dj, "port", json_object_new_int(d->f.port));
	json_object_object_add(dj, "mx_secure", json_object_new_boolean(d->f.mx_secure));
	json_object_object_add(dj, "implicit_mx", json_object_new_boolean(d->f.implicit_mx));
	for (i = 0; i < d->f.n_hosts; i++) {
		const struct dane_host *h = &d->f.hosts[i];
		json_object *hj = json_object_new_object();

		json_object_object_add(hj, "name", json_object_new_string(h->name));
		json_object_object_add(hj, "pref", json_object_new_int(h->pref));
		json_object_object_add(hj, "state",
		                       json_object_new_string(dane_host_state_name(h->state)));
		json_object_object_add(hj, "tlsa", json_object_new_int((int)h->n_tlsa));
		json_object_object_add(hj, "usable", json_object_new_int((int)h->n_usable));
		json_object_array_add(hosts, hj);
	}
	json_object_object_add(dj, "hosts", hosts);
	return dj;
}

static void
cli_query_json(const struct cli_args *a, const struct res_query *q)
{
	const struct sts_policy *p = q->policy;
	json_object *o = json_object_new_object(), *mx;
	size_t i;

	json_object_object_add(o, "domain", json_object_new_string(q->domain));
	json_object_object_add(o, "result", json_object_new_string(cli_query_result(q->status)));
	json_object_object_add(o, "id", q->id[0] != '\0' ? json_object_new_string(q->id) : NULL);
	if (p != NULL) {
		json_object_object_add(o, "mode", json_object_new_string(sts_mode_name(p->mode)));
		json_object_object_add(o, "max_age", json_object_new_int64(p->max_age_s));
		mx = json_object_new_array();
		for (i = 0; i < p->n_mx; i++)
			json_object_array_add(mx, json_object_new_string(p->mx[i]));
		json_object_object_add(o, "mx", mx);
	}
	if (q->err != 0) {
		json_object_object_add(o, "error", json_object_new_string(err_str(q->err)));
		json_object_object_add(o, "error_code", json_object_new_int(q->err));
	}
	if (q->detail[0] != '\0')
		json_object_object_add(o, "detail", json_object_new_string(q->detail));
	if (q->dane_ran)
		json_object_object_add(o, "dane", cli_query_dane_json(&q->dane));
	json_object_object_add(o, "zone", json_object_new_string(q->zone));
	json_object_object_add(o, "reply", json_object_new_string(q->reply));
	cli_json_print(a, o);
}

static void
cli_query_text(const struct cli_args *a, const struct res_query *q)
{
	const struct sts_policy *p = q->policy;
	FILE *out = a->out;
	size_t i;

	(void)fprintf(out, "domain:  %s\n", q->domain);
	(void)fprintf(out, "result:  %s\n", cli_query_result(q->status));
	if (q->id[0] != '\0')
		(void)fprintf(out, "txt id:  %s\n", q->id);
	if (p != NULL) {
		(void)fprintf(out, "mode:    %s\n", sts_mode_name(p->mode));
		(void)fprintf(out, "max_age: %u\n", (unsigned)p->max_age_s);
		for (i = 0; i < p->n_mx; i++)
			(void)fprintf(out, "mx:      %s\n", p->mx[i]);
	}
	if (q->status != POL_POLICY || q->err != 0)
		(void)fprintf(out, "reason:  %s%s%s\n", err_str(q->err),
		              q->detail[0] != '\0' ? ": " : "", q->detail);
	if (q->dane_ran && cli_query_shows_dane(&q->dane)) {
		(void)fprintf(out, "dane:    %s (%s)\n", dane_verdict_name(q->dane.verdict),
		              q->dane.reason);
		for (i = 0; i < q->dane.f.n_hosts; i++) {
			const struct dane_host *h = &q->dane.f.hosts[i];

			if (q->dane.f.relay)
				(void)fprintf(
				        out, "dane relay: %s port %u: %s, %u TLSA, %u usable\n",
				        h->name, (unsigned)q->dane.f.port,
				        dane_host_state_name(h->state), h->n_tlsa, h->n_usable);
			else
				(void)fprintf(out, "dane mx: %s pref %u: %s, %u TLSA, %u usable\n",
				              h->name, (unsigned)h->pref,
				              dane_host_state_name(h->state), h->n_tlsa,
				              h->n_usable);
		}
	}
	(void)fprintf(out, "reply:   %s  (zone '%s')\n", q->reply, q->zone);
}

int
cli_query(const struct cli_args *a)
{
	struct res_query *q;
	char errbuf[512];
	int r, code;

	r = res_query_run(a->cfg, a->operands[0], &q, errbuf, sizeof(errbuf));
	if (r < 0) {
		cli_error(a, "%s", errbuf);
		if (r == ERR_DOMAIN_IP_LITERAL || r == ERR_DOMAIN_PARENT_PROBE)
			return CLI_EXIT_NO_POLICY;
		return r == -ETIMEDOUT ? CLI_EXIT_TEMP : CLI_EXIT_FAIL;
	}
	if (q->reply_err == ERR_POLICY_NO_MX)
		cli_error(a, "policy has no usable mx pattern (%s)", err_str(q->reply_err));
	else if (q->reply_flags & PF_REPLY_TOO_LONG)
		cli_error(a, "even the plain reply is over Postfix's socketmap limit: TEMP");
	else if (q->reply_flags & PF_REPLY_TLSRPT_DROPPED)
		cli_error(a,
		          "the reply leaves out the TLSRPT attributes to fit Postfix's socketmap "
		          "limit");
	if (a->json)
		cli_query_json(a, q);
	else
		cli_query_text(a, q);
	if (q->dane_decided)
		code = q->reply_status == SM_OK ? CLI_EXIT_OK : CLI_EXIT_TEMP;
	else
		code = q->status == POL_POLICY      ? CLI_EXIT_OK
		       : q->status == POL_NO_POLICY ? CLI_EXIT_NO_POLICY
		                                    : CLI_EXIT_TEMP;
	(void)res_query_free(q);
	return code;
}
