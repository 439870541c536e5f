/*
 * cli/cli_rollout.c - `mtastsd rollout [DOMAIN] [--json]`
 *
 * Interface: cli_rollout() (cli.h)
 * Output:    per published domain, from the running daemon (GET /rollout, evaluated at the
 *            request; docs/rollout.md):
 *              example.com: testing, max_age 1d, id 20261207, since 2026-12-07 06:40:00 UTC
 *                reports since 2026-12-07: 3 days, 4800 sessions from 2 organisations,
 *                0 failures
 *                MX check 2026-12-07 06:41:02 UTC: 2 of 2 MX hosts verified
 *                ready for enforce: 3 days, 4800 sessions from 2 organisations, ...
 *            --json: the daemon's JSON as it is.
 * Threads:   main thread only.
 * Errors:    exit 1 when the daemon does not answer, or DOMAIN is not published.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "admin_client.h"
#include "cli.h"
#include "domain.h"
#include "err.h"

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "-";
	return json_object_get_string(v);
}

static long long
jint(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return (long long)json_object_get_int64(v);
}

/* "7d", "12h", "90m", "45s" */
static void
cli_rollout_age(long long s, char *buf, size_t len)
{
	if (s > 0 && s % 86400 == 0)
		(void)snprintf(buf, len, "%lldd", s / 86400);
	else if (s > 0 && s % 3600 == 0)
		(void)snprintf(buf, len, "%lldh", s / 3600);
	else if (s > 0 && s % 60 == 0)
		(void)snprintf(buf, len, "%lldm", s / 60);
	else
		(void)snprintf(buf, len, "%llds", s);
}

static void
cli_rollout_domain(const struct cli_args *a, const char *name, json_object *d)
{
	struct json_object_iterator it, end;
	json_object *ev, *types, *mx, *rec, *auto_;
	long long days, orgs;
	char age[32];
	int first = 1;

	cli_rollout_age(jint(d, "max_age"), age, sizeof(age));
	(void)fprintf(a->out, "%s: %s, max_age %s, id %s, since %s\n", name, jstr(d, "mode"), age,
	              jstr(d, "policy_id"), jstr(d, "since"));
	if (json_object_object_get_ex(d, "evidence", &ev)) {
		days = jint(ev, "days");
		orgs = jint(ev, "organisations");
		(void)fprintf(a->out,
		              "  reports since %s: %lld %s, %lld sessions from %lld %s, %lld "
		              "failures",
		              jstr(ev, "since_day"), days, days == 1 ? "day" : "days",
		              jint(ev, "sessions"), orgs,
		              orgs == 1 ? "organisation" : "organisations", jint(ev, "failures"));
		if (json_object_object_get_ex(ev, "failure_types", &types)) {
			it = json_object_iter_begin(types);
			end = json_object_iter_end(types);
			for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
				(void)fprintf(a->out, "%s%s %lld", first ? " (" : ", ",
				              json_object_iter_peek_name(&it),
				              (long long)json_object_get_int64(
				                      json_object_iter_peek_value(&it)));
				first = 0;
			}
		}
		(void)fprintf(a->out, "%s\n", first ? "" : ")");
	}
	if (json_object_object_get_ex(d, "mx_check", &mx) && mx != NULL)
		(void)fprintf(a->out, "  MX check %s: %lld of %lld MX hosts verified\n",
		              jstr(mx, "at"), jint(mx, "verified"), jint(mx, "hosts"));
	else
		(void)fprintf(a->out, "  MX check: not run yet\n");
	if (json_object_object_get_ex(d, "automatic", &auto_) && json_object_get_boolean(auto_)) {
		if (strcmp(jstr(d, "step_state"), "serving") == 0)
			(void)fprintf(
			        a->out,
			        "  automatic: step %lld of %lld served since %s, waiting for the "
			        "_mta-sts TXT record to have id %s (it has %s)\n",
			        jint(d, "step"), jint(d, "steps"), jstr(d, "step_at"),
			        jstr(d, "policy_id"), jstr(d, "txt_id"));
		else
			(void)fprintf(a->out, "  automatic: step %lld of %lld\n", jint(d, "step"),
			              jint(d, "steps"));
	}
	if (json_object_object_get_ex(d, "recommendation", &rec))
		(void)fprintf(a->out, "  %s\n", jstr(rec, "reason"));
}

int
cli_rollout(const struct cli_args *a)
{
	char path[16 + DOMAIN_BUF], dom[DOMAIN_BUF], err[512] = "";
	struct json_object_iterator it, end;
	json_object *o = NULL, *doms;
	char *body = NULL;
	long status = 0;
	int r;

	(void)snprintf(path, sizeof(path), "/rollout");
	if (a->n_operands > 0) {
		r = domain_normalize(a->operands[0], dom);
		if (r < 0) {
			cli_error(a, "'%s': %s", a->operands[0], err_str(r));
			return CLI_EXIT_FAIL;
		}
		(void)snprintf(path, sizeof(path), "/rollout/%s", dom);
	}
	if (admin_client_request(a->cfg, "GET", path, &status, &body, err, sizeof(err)) < 0) {
		cli_error(a,
		          "the daemon does not answer (%s): the rollout needs its MX check and "
		          "state",
		          err);
		return CLI_EXIT_FAIL;
	}
	if (status == 404 && a->n_operands > 0) {
		cli_error(a, "%s is not a published domain of the running daemon", dom);
		free(body);
		return CLI_EXIT_FAIL;
	}
	if (status == 200)
		o = json_tokener_parse(body);
	if (o == NULL || !json_object_object_get_ex(o, "domains", &doms)) {
		cli_error(a, "the daemon answered %ld: %.200s", status, body != NULL ? body : "");
		json_object_put(o);
		free(body);
		return CLI_EXIT_FAIL;
	}
	free(body);
	if (a->json) {
		cli_json_print(a, o);
		return CLI_EXIT_OK;
	}
	if (json_object_object_length(doms) == 0)
		(void)fprintf(a->out, "no published domain\n");
	it = json_object_iter_begin(doms);
	end = json_object_iter_end(doms);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		cli_rollout_domain(a, json_object_iter_peek_name(&it),
		                   json_object_iter_peek_value(&it));
	json_object_put(o);
	return CLI_EXIT_OK;
}
