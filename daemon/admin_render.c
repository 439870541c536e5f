/*
 * daemon/admin_render.c - admin endpoint bodies: /status JSON, /metrics, /policies, HTML
 *
 * Interface: admin_facts_collect/free, admin_render_status/metrics/html/policy,
 *            admin_cfg_sha256() (admin_render.h); admin_days_left() (admin_int.h)
 * Threads:   main loop only.
 * Ownership: every render returns an owned NUL-terminated string (free()).
 * Errors:    none; allocation failure dies (xalloc, json-c failures are treated the same).
 *
 * Presentation only. Every number comes from the metrics registries (stats.h) that the
 * admin endpoint, the publisher and the resolver fill: /metrics is their Prometheus text,
 * /status their JSON inside the document built here, the page picks its rows from them by
 * JSON path. docs/operations.md lists the metrics. Every text that came from outside
 * (domain names from the cache, error strings) is escaped for its output: JSON by json-c,
 * label values by stats.c, HTML entities here.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "admin_int.h"
#include "err.h"
#include "log.h"
#include "mxcheck.h"
#include "rollout.h"
#include "statedb.h"
#include "sts_policy.h"
#include "tlsrpt_summary.h"
#include "xalloc.h"

const char *
admin_cfg_sha256(const struct admin *a)
{
	return a->cfg_sha256;
}

long
admin_days_left(time_t t, time_t now)
{
	double d = difftime(t, now) / 86400.0;

	return d >= 0 ? (long)d : -(long)(-d + 0.999999);
}

/* ---- facts ---- */

void
admin_facts_collect(struct admin *a, struct admin_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->now = loop_wall_s(a->loop);
	f->pub = pub_info_get(a->pub);
	f->n_failures = res_cache_failures(a->res, ADMIN_SCAN_MAX, f->failures, ADMIN_FAILURES_MAX);
}

void
admin_facts_tlsrpt(struct admin *a, struct admin_facts *f)
{
	if (f->tlsrpt == NULL && admin_tlsrpt_summary(a, NULL, f->now, &f->tlsrpt) < 0)
		f->tlsrpt = NULL;
	rollout_refresh(a->rollout); /* the page's rollout section: evaluated now */
}

void
admin_facts_free(struct admin_facts *f)
{
	f->pub = pub_info_free(f->pub);
	f->tlsrpt = tlsrpt_summary_free(f->tlsrpt);
}

/* ---- reading the metrics ---- */

/* The value at JSON path in st (the sum below it when path names an object), 0 when it
 * is not there. */
static uint64_t
admin_stat(const struct stats *st, const char *path)
{
	uint64_t v = 0;

	(void)stats_get(st, path, &v);
	return v;
}

/* Lookups answered from the cache (policy and negative hits) / lookups, 0 without any. */
static double
admin_hit_rate(const struct stats *st)
{
	uint64_t lookups = admin_stat(st, "lookups");
	uint64_t hits = admin_stat(st, "cache.hits") + admin_stat(st, "cache.negative_hits");

	return lookups > 0 ? (double)hits / (double)lookups : 0.0;
}

/* "connected", "connecting", "down"; "disabled" with the memory backend. */
static const char *
admin_shared_state(const struct admin *a)
{
	const char *s = a->res != NULL ? res_shared_state(a->res) : NULL;

	return s != NULL ? s : "disabled";
}

/* ---- JSON ---- */

static struct json_object *
jstr(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static struct json_object *
jtime(time_t t)
{
	return t > 0 ? json_object_new_int64((int64_t)t) : NULL;
}

static void
jadd(struct json_object *o, const char *k, struct json_object *v)
{
	(void)json_object_object_add(o, k, v);
}

/* The object under key k of o, added when missing. */
static struct json_object *
jobj(struct json_object *o, const char *k)
{
	struct json_object *x;

	if (json_object_object_get_ex(o, k, &x) && json_object_is_type(x, json_type_object))
		return x;
	x = json_object_new_object();
	jadd(o, k, x);
	return x;
}

static char *
jfinish(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                                          JSON_C_TO_STRING_SPACED |
	                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
	char *out;

	if (s == NULL)
		die("admin: json-c cannot serialise");
	out = xasprintf("%s\n", s);
	(void)json_object_put(o);
	return out;
}

/* The last MX check report of dom (mxcheck.h), NULL when none; *ret_at its start. */
static const struct mx_report *
admin_mx_report(const struct admin *a, const char *dom, time_t *ret_at)
{
	const struct mx_report *rep;
	const char *name;
	size_t i;

	for (i = 0; i < mxcheck_domains(a->mxcheck); i++) {
		rep = mxcheck_report(a->mxcheck, i, &name, ret_at);
		if (name != NULL && strcmp(name, dom) == 0)
			return rep;
	}
	*ret_at = 0;
	return NULL;
}

/* {"ok", "last_run", "error", "hosts": [...], "hosts_not_covered", "patterns_covering_no_host"} */
static struct json_object *
admin_json_mx(const struct mx_report *rep, time_t at)
{
	struct json_object *o = json_object_new_object(), *hosts = json_object_new_array(),
	                   *nc = json_object_new_array(), *unused = json_object_new_array();
	size_t i;

	jadd(o, "ok", json_object_new_boolean(mx_report_ok(rep)));
	jadd(o, "last_run", jtime(at));
	jadd(o, "error", rep->err != 0 ? jstr(err_str(rep->err)) : NULL);
	for (i = 0; i < rep->n_hosts; i++) {
		const struct mx_host *h = &rep->hosts[i];
		struct json_object *j = json_object_new_object();

		jadd(j, "name", jstr(h->name));
		jadd(j, "preference", json_object_new_int((int)h->pref));
		jadd(j, "address", h->addr[0] != '\0' ? jstr(h->addr) : NULL);
		jadd(j, "result", jstr(mx_result_name(h->result)));
		jadd(j, "error", h->error[0] != '\0' ? jstr(h->error) : NULL);
		jadd(j, "starttls", json_object_new_boolean(h->starttls));
		jadd(j, "tls_version", h->tls ? jstr(h->tls_version) : NULL);
		jadd(j, "cipher", h->tls ? jstr(h->cipher) : NULL);
		jadd(j, "subject", h->subject[0] != '\0' ? jstr(h->subject) : NULL);
		jadd(j, "issuer", h->issuer[0] != '\0' ? jstr(h->issuer) : NULL);
		jadd(j, "not_after", jtime(h->not_after));
		jadd(j, "verify", h->verify[0] != '\0' ? jstr(h->verify) : NULL);
		jadd(j, "certificate_pattern",
		     h->cert_pattern >= 0 ? jstr(rep->patterns[h->cert_pattern]) : NULL);
		jadd(j, "mx_pattern",
		     h->mx_pattern >= 0 ? jstr(rep->patterns[h->mx_pattern]) : NULL);
		(void)json_object_array_add(hosts, j);
		if (h->mx_pattern < 0)
			(void)json_object_array_add(nc, jstr(h->name));
	}
	for (i = 0; i < rep->n_patterns; i++)
		if (!rep->pattern_used[i])
			(void)json_object_array_add(unused, jstr(rep->patterns[i]));
	jadd(o, "hosts", hosts);
	jadd(o, "hosts_not_covered", nc);
	jadd(o, "patterns_covering_no_host", unused);
	return o;
}

static struct json_object *
admin_json_publisher(struct admin *a, const struct admin_facts *f)
{
	struct json_object *o = json_object_new_object(), *doms = json_object_new_array();
	size_t i;

	jadd(o, "running", json_object_new_boolean(a->pub != NULL));
	for (i = 0; i < f->pub->n_domains; i++) {
		const struct pub_info_domain *d = &f->pub->domains[i];
		struct json_object *j = json_object_new_object();

		jadd(j, "domain", jstr(d->domain));
		jadd(j, "published", json_object_new_boolean(d->cert_error == NULL));
		jadd(j, "certificate_error", d->cert_error != NULL ? jstr(d->cert_error) : NULL);
		jadd(j, "policy_id", jstr(d->id));
		jadd(j, "mode", jstr(sts_mode_name(d->mode)));
		jadd(j, "certificate_expiry", jtime(d->cert_not_after));
		jadd(j, "certificate_days_left",
		     d->cert_not_after > 0
		             ? json_object_new_int64(admin_days_left(d->cert_not_after, f->now))
		             : NULL);
		/* Filled once `mtastsd check` records results; never a made-up value. */
		jadd(j, "last_self_check", NULL);
		if (a->mxcheck != NULL) { /* the periodic MX check (mxcheck.h) */
			const struct mx_report *rep;
			time_t at;

			rep = admin_mx_report(a, d->domain, &at);
			jadd(j, "mx_check", rep != NULL ? admin_json_mx(rep, at) : NULL);
		}
		(void)json_object_array_add(doms, j);
	}
	jadd(o, "domains", doms);
	stats_json(a->stats_pub, o);
	return o;
}

/* The ACME client: each name's state, certificate, next attempt and last error. */
static struct json_object *
admin_json_acme(struct admin *a)
{
	struct json_object *o = json_object_new_object(), *names = json_object_new_array(), *j;
	struct acme_info *info = acme_info_get(a->acme);
	size_t i;

	jadd(o, "directory", jstr(info->directory));
	for (i = 0; i < info->n_names; i++) {
		const struct acme_info_name *n = &info->names[i];

		j = json_object_new_object();
		jadd(j, "domain", jstr(n->domain));
		jadd(j, "state", jstr(n->state));
		jadd(j, "issuer", n->issuer != NULL ? jstr(n->issuer) : NULL);
		jadd(j, "certificate_expiry", n->not_after > 0 ? jtime(n->not_after) : NULL);
		jadd(j, "next_attempt", n->next_attempt > 0 ? jtime(n->next_attempt) : NULL);
		jadd(j, "last_error", n->last_error != NULL ? jstr(n->last_error) : NULL);
		jadd(j, "orders_ok", json_object_new_int64((int64_t)n->orders_ok));
		jadd(j, "orders_failed", json_object_new_int64((int64_t)n->orders_failed));
		(void)json_object_array_add(names, j);
	}
	jadd(o, "names", names);
	(void)acme_info_free(info);
	return o;
}

/* What runs, not what the (possibly reloaded) cfg asks for: the cache backend and the
 * Valkey/Redis address need a restart to change. */
static struct json_object *
admin_json_resolver(struct admin *a, const struct admin_facts *f)
{
	struct json_object *o = json_object_new_object(), *c, *x, *fails;
	int shared = a->res != NULL && res_shared_state(a->res) != NULL;
	size_t i;

	jadd(o, "enabled", json_object_new_boolean(res_enabled(a->res)));
	if (!res_enabled(a->res))
		return o;
	c = jobj(o, "cache");
	jadd(c, "backend", jstr(shared ? "redis" : "memory"));
	/* {"state": "disabled"} with the memory backend */
	x = jobj(o, "valkey");
	jadd(x, "state", jstr(admin_shared_state(a)));
	if (shared)
		jadd(x, "address", jstr(a->cfg != NULL ? a->cfg->cache.redis_address : NULL));
	stats_json(a->stats_res, o);
	jadd(c, "hit_rate", json_object_new_double(admin_hit_rate(a->stats_res)));
	fails = json_object_new_array();
	for (i = 0; i < f->n_failures; i++) {
		const struct res_failure *fl = &f->failures[i];

		x = json_object_new_object();
		jadd(x, "domain", jstr(fl->domain));
		jadd(x, "state", jstr(fl->state));
		jadd(x, "error", jstr(err_str(fl->err)));
		jadd(x, "at", jtime(fl->at));
		(void)json_object_array_add(fails, x);
	}
	jadd(o, "last_errors", fails);
	return o;
}

char *
admin_render_status(struct admin *a, const struct admin_facts *f)
{
	struct json_object *o = json_object_new_object(), *c;

	jadd(o, "version", jstr(MTASTSD_VERSION));
	stats_json(a->stats, o);
	c = jobj(o, "config");
	jadd(c, "path", jstr(a->cfg != NULL ? a->cfg->path : NULL));
	jadd(c, "sha256", a->cfg_sha256[0] != '\0' ? jstr(a->cfg_sha256) : NULL);
	jadd(c, "last_reload", jtime(a->last_reload));
	jadd(c, "last_reload_ok",
	     a->last_reload > 0 ? json_object_new_boolean(a->last_reload_ok) : NULL);
	jadd(o, "publisher", admin_json_publisher(a, f));
	jadd(o, "resolver", admin_json_resolver(a, f));
	if (a->acme != NULL)
		jadd(o, "acme", admin_json_acme(a));
	return jfinish(o);
}

char *
admin_render_policy(struct admin *a, const char *dom)
{
	struct res_cache_info e;
	struct json_object *o, *p, *mx;
	size_t i;

	if (res_cache_lookup(a->res, dom, &e) < 0)
		return NULL;
	o = json_object_new_object();
	jadd(o, "domain", jstr(dom));
	jadd(o, "state", jstr(e.state));
	jadd(o, "id", e.id[0] != '\0' ? jstr(e.id) : NULL);
	jadd(o, "fetched_at", jtime(e.fetched_at));
	jadd(o, "expires_at", jtime(e.expires_at));
	jadd(o, "last_check", jtime(e.last_check));
	jadd(o, "retry_after", jtime(e.retry_after));
	jadd(o, "last_error", e.last_error != 0 ? jstr(err_str(e.last_error)) : NULL);
	if (e.policy != NULL) {
		p = json_object_new_object();
		jadd(p, "mode", jstr(sts_mode_name(e.policy->mode)));
		jadd(p, "max_age", json_object_new_int64((int64_t)e.policy->max_age_s));
		mx = json_object_new_array();
		for (i = 0; i < e.policy->n_mx; i++)
			(void)json_object_array_add(mx, jstr(e.policy->mx[i]));
		jadd(p, "mx", mx);
		jadd(o, "policy", p);
	} else {
		jadd(o, "policy", NULL);
	}
	return jfinish(o);
}

/* ---- memstream helper ---- */

struct admin_out {
	FILE *f;
	char *buf;
	size_t len;
};

static void
out_open(struct admin_out *o)
{
	o->buf = NULL;
	o->len = 0;
	o->f = open_memstream(&o->buf, &o->len);
	if (o->f == NULL)
		die("admin: open_memstream: out of memory");
}

/* The one check of the whole render: the (void) casts on the fprintf/fputs/fputc calls
 * here and in stats_prometheus() rely on it. A memstream write fails only when it cannot
 * grow its buffer, so a failure is out of memory and dies like xmalloc() (STYLE.md section
 * 5) instead of serving a truncated body. */
static char *
out_close(struct admin_out *o)
{
	int failed = ferror(o->f);

	if (fclose(o->f) != 0 || failed || o->buf == NULL)
		die("admin: cannot build a response: out of memory");
	return o->buf;
}

/* ---- Prometheus text exposition 0.0.4 ---- */

char *
admin_render_metrics(struct admin *a)
{
	struct admin_out o;

	out_open(&o);
	stats_prometheus(a->stats, o.f);
	stats_prometheus(a->stats_pub, o.f);
	stats_prometheus(a->stats_res, o.f);
	stats_prometheus(a->stats_acme, o.f);
	return out_close(&o);
}

/* ---- HTML ---- */

static void html_esc(FILE *f, const char *s);
static void html_time(FILE *f, time_t t);

/* The MX check: one row per domain, one per MX host. */
static void
admin_html_mx(struct admin *a, FILE *f)
{
	const struct mx_report *rep;
	const char *dom;
	time_t at;
	size_t i, k;

	(void)fputs("<h2>MX check</h2>\n<table id=\"mx-check\"><thead><tr><th>Domain / MX host"
	            "</th><th>Last run</th><th>Result</th><th>Details</th></tr></thead><tbody>\n",
	            f);
	for (i = 0; i < mxcheck_domains(a->mxcheck); i++) {
		rep = mxcheck_report(a->mxcheck, i, &dom, &at);
		(void)fputs("<tr><td class=\"domain\">", f);
		html_esc(f, dom);
		(void)fputs("</td><td>", f);
		html_time(f, at);
		if (rep == NULL) {
			(void)fputs("</td><td>-</td><td>not run yet</td></tr>\n", f);
			continue;
		}
		(void)fprintf(f, "</td><td class=\"%s\">%s</td><td>",
		              mx_report_ok(rep) ? "ok" : "bad",
		              mx_report_ok(rep) ? "enforce safe" : "enforce would lose mail");
		if (rep->err != 0)
			html_esc(f, err_str(rep->err));
		(void)fputs("</td></tr>\n", f);
		for (k = 0; k < rep->n_hosts; k++) {
			const struct mx_host *h = &rep->hosts[k];

			(void)fprintf(f, "<tr class=\"mx-host\"><td>%u ", h->pref);
			html_esc(f, h->name);
			(void)fprintf(f, "</td><td></td><td class=\"%s\">%s</td><td>",
			              mx_report_host_ok(h) ? "ok" : "bad",
			              mx_result_name(h->result));
			if (h->error[0] != '\0') {
				html_esc(f, h->error);
				(void)fputs("; ", f);
			}
			if (h->tls) {
				html_esc(f, h->tls_version);
				(void)fputs(" ", f);
				html_esc(f, h->cipher);
				(void)fputs("; subject ", f);
				html_esc(f, h->subject);
				(void)fputs("; issuer ", f);
				html_esc(f, h->issuer);
				(void)fputs("; expires ", f);
				html_time(f, h->not_after);
				if (h->cert_pattern >= 0) {
					(void)fputs("; matches ", f);
					html_esc(f, rep->patterns[h->cert_pattern]);
				}
			}
			(void)fputs("</td></tr>\n", f);
		}
	}
	(void)fputs("</tbody></table>\n", f);
}

/* The rollout: per domain what is served since when, the evidence, the MX check and the
 * recommendation with its reason (docs/rollout.md). */
static void
admin_html_rollout(struct admin *a, FILE *f)
{
	const struct rollout_domain *d;
	char age[32];
	size_t i, k, ok;

	(void)fputs("<h2>Rollout</h2>\n<table id=\"rollout\"><thead><tr><th>Domain</th>"
	            "<th>Served</th><th>Since</th><th>TLS reports since then</th><th>MX check</th>"
	            "<th>Recommendation</th></tr></thead><tbody>\n",
	            f);
	for (i = 0; i < rollout_domains(a->rollout); i++) {
		d = rollout_domain(a->rollout, i);
		(void)fputs("<tr><td class=\"domain\">", f);
		html_esc(f, d->domain);
		(void)fprintf(f, "</td><td class=\"mode-%s\">%s, max_age %s, id <code>",
		              sts_mode_name(d->served.mode), sts_mode_name(d->served.mode),
		              rollout_fmt_age(d->served.max_age_s, age, sizeof(age)));
		html_esc(f, d->policy_id);
		(void)fputs("</code></td><td>", f);
		html_time(f, d->served.since);
		(void)fprintf(f,
		              "</td><td>%u days, %llu sessions from %u organisations, %llu "
		              "failures",
		              d->ev.days, (unsigned long long)d->ev.sessions, d->ev.orgs,
		              (unsigned long long)d->ev.failures);
		for (k = 0; k < d->ev.n_types; k++) {
			(void)fputs(k == 0 ? " (" : ", ", f);
			html_esc(f, d->ev.types[k].name);
			(void)fprintf(f, " %llu", (unsigned long long)d->ev.types[k].sessions);
		}
		(void)fputs(d->ev.n_types > 0 ? ")</td>" : "</td>", f);
		if (d->mx == NULL) {
			(void)fputs("<td>not run yet</td>", f);
		} else {
			for (k = 0, ok = 0; k < d->mx->n_hosts; k++)
				ok += mx_report_host_ok(&d->mx->hosts[k]) != 0;
			(void)fprintf(f, "<td class=\"%s\">%zu of %zu MX hosts verified, ",
			              mx_report_ok(d->mx) ? "ok" : "bad", ok, d->mx->n_hosts);
			html_time(f, d->mx_at);
			(void)fputs("</td>", f);
		}
		(void)fprintf(f, "<td class=\"%s\" id=\"rollout-",
		              d->rec.alert ? "bad"
		              : d->rec.advice == ROLLOUT_READY_ENFORCE ||
		                              d->rec.advice == ROLLOUT_RAISE_MAX_AGE ||
		                              d->rec.advice == ROLLOUT_DONE ||
		                              d->rec.advice == ROLLOUT_WITHDRAWN
		                      ? "ok"
		                      : "warn");
		html_esc(f, d->domain);
		(void)fputs("\">", f);
		html_esc(f, d->rec.reason);
		(void)fputs("</td></tr>\n", f);
	}
	(void)fputs("</tbody></table>\n", f);
}

static void
html_esc(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			(void)fputs("&amp;", f);
			break;
		case '<':
			(void)fputs("&lt;", f);
			break;
		case '>':
			(void)fputs("&gt;", f);
			break;
		case '"':
			(void)fputs("&quot;", f);
			break;
		case '\'':
			(void)fputs("&#39;", f);
			break;
		default:
			(void)fputc(*s, f);
		}
	}
}

static void
html_time(FILE *f, time_t t)
{
	struct tm tm;
	char buf[32];

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
		(void)fputs("-", f);
		return;
	}
	(void)fputs(buf, f);
}

static void
html_row_u64(FILE *f, const char *name, uint64_t v)
{
	(void)fprintf(f, "<tr><th>");
	html_esc(f, name);
	(void)fprintf(f, "</th><td class=\"num\" id=\"c-%s\">%llu</td></tr>\n", name,
	              (unsigned long long)v);
}

/* One row per sample directly inside the object at path, its id prefix + key. */
struct html_rows {
	FILE *f;
	const char *prefix;
};

static void
html_rows_cb(const char *key, uint64_t v, void *arg)
{
	const struct html_rows *r = arg;
	char name[64];

	(void)snprintf(name, sizeof(name), "%s%s", r->prefix, key);
	html_row_u64(r->f, name, v);
}

static void
html_rows(FILE *f, const struct stats *st, const char *path, const char *prefix)
{
	struct html_rows r = {.f = f, .prefix = prefix};

	stats_foreach(st, path, html_rows_cb, &r);
}

/* Who decided the replies (DANE first, then MTA-STS), with the DANE verdicts beside. */
static void
html_decisions(FILE *f, const struct stats *st)
{
	uint64_t v;

	if (stats_get(st, "decided_by", &v) < 0 || stats_get(st, "dane", &v) < 0)
		return;
	(void)fputs(
	        "<h2>DANE and MTA-STS</h2>\n<table id=\"decisions\"><thead><tr><th>Reply decided "
	        "by</th><th>Replies</th></tr></thead><tbody>\n",
	        f);
	html_rows(f, st, "decided_by", "decided_");
	html_row_u64(f, "dane_lookups", admin_stat(st, "dane.lookups"));
	html_rows(f, st, "dane.verdicts", "dane_verdict_");
	html_row_u64(f, "dane_cache_hits",
	             admin_stat(st, "dane.cache_hits") + admin_stat(st, "dane.stale_served"));
	html_row_u64(f, "dane_timeouts", admin_stat(st, "dane.timeouts"));
	(void)fputs("</tbody></table>\n", f);
}

static void
html_valkey(FILE *f, struct admin *a)
{
	static const char *const rows[] = {"hits", "misses", "errors", "timeouts", "outages"};
	const char *state = admin_shared_state(a);
	int shared = strcmp(state, "disabled") != 0;
	const char *cls = !shared                           ? "meta"
	                  : strcmp(state, "connected") == 0 ? "ok"
	                  : strcmp(state, "down") == 0      ? "bad"
	                                                    : "warn";
	char name[32], path[32];
	size_t i;

	(void)fputs("<h2>Shared cache (Valkey/Redis)</h2>\n<table id=\"valkey\"><tbody>\n", f);
	(void)fprintf(f, "<tr><th>state</th><td class=\"%s\" id=\"valkey-state\">%s</td></tr>\n",
	              cls, state);
	if (shared) {
		(void)fputs("<tr><th>address</th><td><code>", f);
		html_esc(f, a->cfg != NULL ? a->cfg->cache.redis_address : NULL);
		(void)fputs("</code></td></tr>\n", f);
		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			(void)snprintf(name, sizeof(name), "valkey_%s", rows[i]);
			(void)snprintf(path, sizeof(path), "valkey.%s", rows[i]);
			html_row_u64(f, name, admin_stat(a->stats_res, path));
		}
	}
	(void)fputs("</tbody></table>\n", f);
}

static const char admin_css[] =
        "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f6f7f9}"
        "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
        "table{border-collapse:collapse;background:#fff;min-width:28em}"
        "th,td{border:1px solid #d5d9e0;padding:.3em .7em;text-align:left}"
        "thead th{background:#2d4a7a;color:#fff}td.num{text-align:right}"
        ".meta{color:#5a6473}.ok{background:#d9f2dd}.warn{background:#fff1c2}"
        ".bad{background:#f9d0d0}.mode-enforce{color:#126b2a;font-weight:600}"
        ".mode-testing{color:#8a5a00;font-weight:600}.mode-none{color:#777}"
        "code{font-size:.9em}.tlsrpt{margin:0 0 1.2em}.tlsrpt h3{font-size:1em;margin:.8em 0 .3em}"
        ".tlsrpt-chart{background:#fff;border:1px solid #d5d9e0}.tlsrpt table{margin:.4em 0}";

/* The chart of one domain: successful (green) and failed (red) sessions per day over the
 * summary's days, as stacked bars; a day with failures shows at least 2 px of red. Drawn
 * here, inline: no script, no fetch. Each bar has a <title> (the day and its counts). */
static void
html_tlsrpt_chart(FILE *f, const struct tlsrpt_summary *s, const struct tlsrpt_domain_summary *d)
{
	const int w = 620, h = 170, left = 50, top = 10, bottom = 30;
	const int plot_h = h - top - bottom;
	double bw = (double)(w - left - 10) / (double)s->days;
	uint64_t max = 1;
	char day[16];
	size_t i;

	for (i = 0; i < s->days; i++)
		if (d->day_success[i] + d->day_failure[i] > max)
			max = d->day_success[i] + d->day_failure[i];
	(void)fprintf(f,
	              "<svg class=\"tlsrpt-chart\" id=\"tlsrpt-chart-%s\" width=\"%d\" "
	              "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
	              "xmlns=\"http://www.w3.org/2000/svg\"><title>sessions per day, last %zu "
	              "days</title>\n",
	              d->domain, w, h, w, h, s->days);
	(void)fprintf(f,
	              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
	              "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%llu</text>"
	              "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">0</text>\n",
	              left, top + plot_h, w - 10, top + plot_h, left - 4, top + 10,
	              (unsigned long long)max, left - 4, top + plot_h);
	for (i = 0; i < s->days; i++) {
		uint64_t ok = d->day_success[i], bad = d->day_failure[i];
		double x = left + bw * (double)i + 1;
		double hb = (double)plot_h * (double)bad / (double)max;
		double ho = (double)plot_h * (double)ok / (double)max;
		time_t t = (time_t)((s->first_day + (int64_t)i) * 86400);
		struct tm tm;

		if (bad > 0 && hb < 2)
			hb = 2;
		if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
			(void)snprintf(day, sizeof(day), "?");
		(void)fprintf(f, "<g class=\"day\"><title>%s: %llu successful, %llu failed</title>",
		              day, (unsigned long long)ok, (unsigned long long)bad);
		if (ok > 0)
			(void)fprintf(f,
			              "<rect class=\"ok\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			              "height=\"%.1f\" fill=\"#3c9a52\"/>",
			              x, top + plot_h - hb - ho, bw - 2, ho);
		if (bad > 0)
			(void)fprintf(f,
			              "<rect class=\"fail\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			              "height=\"%.1f\" fill=\"#c0392b\"/>",
			              x, top + plot_h - hb, bw - 2, hb);
		(void)fputs("</g>\n", f);
		/* the first, middle and last days, inside the chart's width */
		if (i == 0 || i == s->days - 1 || i == s->days / 2)
			(void)fprintf(f,
			              "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
			              "text-anchor=\"%s\">%s</text>\n",
			              i == 0             ? x
			              : i == s->days - 1 ? x + bw - 2
			                                 : x + bw / 2,
			              h - 12,
			              i == 0             ? "start"
			              : i == s->days - 1 ? "end"
			                                 : "middle",
			              day);
	}
	(void)fputs("</svg>\n", f);
}

static void
html_tlsrpt_counts(FILE *f, const char *cls, const char *what, const struct tlsrpt_count *v,
                   size_t n)
{
	size_t i;

	(void)fprintf(f,
	              "<table class=\"%s\"><thead><tr><th>%s</th><th>Sessions</th></tr>"
	              "</thead><tbody>\n",
	              cls, what);
	for (i = 0; i < n; i++) {
		(void)fputs("<tr><td>", f);
		html_esc(f, v[i].name);
		(void)fprintf(f, "</td><td class=\"num\">%llu</td></tr>\n",
		              (unsigned long long)v[i].sessions);
	}
	(void)fputs("</tbody></table>\n", f);
}

/* The TLSRPT section: per domain the summary line, the chart, the failure types, the
 * reporting organisations and the last reports (docs/tlsrpt.md). */
static void
html_tlsrpt(FILE *f, const struct tlsrpt_summary *s)
{
	char line[1024];
	size_t i, j;

	(void)fprintf(f, "<h2>TLS reports (last %zu days)</h2>\n", s->days);
	if (s->n_domains == 0) {
		(void)fputs("<p id=\"tlsrpt-none\">No TLS report received in this period.</p>\n",
		            f);
		return;
	}
	for (i = 0; i < s->n_domains; i++) {
		const struct tlsrpt_domain_summary *d = &s->domains[i];

		(void)fputs("<div class=\"tlsrpt\" id=\"tlsrpt-", f);
		html_esc(f, d->domain);
		(void)fputs("\"><h3>", f);
		html_esc(f, d->domain);
		tlsrpt_summary_line(d, line, sizeof(line));
		(void)fputs("</h3><p class=\"tlsrpt-summary\">", f);
		html_esc(f, line);
		(void)fputs("</p>\n", f);
		html_tlsrpt_chart(f, s, d);
		if (d->n_failures > 0)
			html_tlsrpt_counts(f, "tlsrpt-failures", "Failure type", d->failures,
			                   d->n_failures);
		html_tlsrpt_counts(f, "tlsrpt-orgs", "Organisation", d->orgs, d->n_orgs);
		(void)fputs("<table class=\"tlsrpt-last\"><thead><tr><th>Received</th>"
		            "<th>Organisation</th><th>Report id</th><th>Source</th>"
		            "<th>Successful</th><th>Failed</th></tr></thead><tbody>\n",
		            f);
		for (j = 0; j < d->n_last; j++) {
			const struct tlsrpt_last *l = &d->last[j];

			(void)fputs("<tr><td>", f);
			html_time(f, l->received_at);
			(void)fputs("</td><td>", f);
			html_esc(f, l->org);
			(void)fputs("</td><td><code>", f);
			html_esc(f, l->report_id);
			(void)fputs("</code></td><td>", f);
			html_esc(f, l->source);
			(void)fprintf(
			        f,
			        "</td><td class=\"num\">%llu</td><td class=\"num%s\">%llu</td>"
			        "</tr>\n",
			        (unsigned long long)l->success, l->failure > 0 ? " bad" : "",
			        (unsigned long long)l->failure);
		}
		(void)fputs("</tbody></table></div>\n", f);
	}
}

char *
admin_render_html(struct admin *a, const struct admin_facts *f)
{
	const struct stats *st = a->stats_res;
	struct admin_out o;
	uint64_t ok;
	size_t i;

	out_open(&o);
	(void)fprintf(o.f,
	              "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	              "<meta name=\"viewport\" content=\"width=device-width\">"
	              "<title>mtastsd status</title><style>%s</style></head><body>\n"
	              "<h1>mtastsd %s</h1>\n<p class=\"meta\">up <span id=\"uptime\">%llu</span> s"
	              " &middot; started ",
	              admin_css, MTASTSD_VERSION,
	              (unsigned long long)admin_stat(a->stats, "uptime_seconds"));
	html_time(o.f, a->start_wall);
	(void)fputs(" &middot; config <code>", o.f);
	html_esc(o.f, a->cfg != NULL && a->cfg->path != NULL ? a->cfg->path : "(defaults)");
	(void)fputs("</code> sha256 <code>", o.f);
	html_esc(o.f, a->cfg_sha256[0] != '\0' ? a->cfg_sha256 : "-");
	(void)fputs("</code></p>\n", o.f);

	(void)fputs("<h2>Published domains</h2>\n", o.f);
	if (f->pub->n_domains == 0) {
		(void)fputs("<p id=\"no-domains\">The publisher serves no domain.</p>\n", o.f);
	} else {
		(void)fputs("<table id=\"domains\"><thead><tr><th>Domain</th><th>Mode</th>"
		            "<th>Policy id</th><th>Certificate expires</th><th>Days left</th></tr>"
		            "</thead><tbody>\n",
		            o.f);
		for (i = 0; i < f->pub->n_domains; i++) {
			const struct pub_info_domain *d = &f->pub->domains[i];
			long days = admin_days_left(d->cert_not_after, f->now);
			const char *cls = d->cert_not_after <= 0 ? "warn"
			                  : days < 7             ? "bad"
			                  : days < 21            ? "warn"
			                                         : "ok";

			(void)fputs("<tr><td class=\"domain\">", o.f);
			html_esc(o.f, d->domain);
			(void)fprintf(o.f, "</td><td class=\"mode-%s\">%s</td><td><code>",
			              sts_mode_name(d->mode), sts_mode_name(d->mode));
			html_esc(o.f, d->id);
			(void)fputs("</code></td><td>", o.f);
			html_time(o.f, d->cert_not_after);
			if (d->cert_not_after > 0)
				(void)fprintf(o.f, "</td><td class=\"num %s days\">%ld</td></tr>\n",
				              cls, days);
			else
				(void)fprintf(o.f, "</td><td class=\"num %s days\">-</td></tr>\n",
				              cls);
			if (d->cert_error != NULL) {
				(void)fputs(
				        "<tr class=\"cert-error\"><td colspan=\"5\" class=\"bad\">"
				        "Not published: ",
				        o.f);
				html_esc(o.f, d->cert_error);
				(void)fputs("</td></tr>\n", o.f);
			}
		}
		(void)fputs("</tbody></table>\n", o.f);
	}

	if (a->rollout != NULL)
		admin_html_rollout(a, o.f);
	if (a->mxcheck != NULL)
		admin_html_mx(a, o.f);
	if (f->tlsrpt != NULL)
		html_tlsrpt(o.f, f->tlsrpt);

	(void)fputs("<h2>Resolver</h2>\n", o.f);
	if (!res_enabled(a->res)) {
		(void)fputs("<p id=\"resolver-off\">The resolver is disabled.</p>\n", o.f);
	} else {
		(void)fputs("<table id=\"resolver\"><tbody>\n", o.f);
		html_row_u64(o.f, "lookups", admin_stat(st, "lookups"));
		html_row_u64(o.f, "cache_entries", admin_stat(st, "cache.entries"));
		(void)fprintf(
		        o.f,
		        "<tr><th>cache_hit_rate</th><td class=\"num\" id=\"c-cache_hit_rate\">"
		        "%.1f%%</td></tr>\n",
		        admin_hit_rate(st) * 100.0);
		html_rows(o.f, st, "replies", "replies_");
		ok = admin_stat(st, "fetches.ok");
		html_row_u64(o.f, "fetches_ok", ok);
		html_row_u64(o.f, "fetches_failed", admin_stat(st, "fetches") - ok);
		html_row_u64(o.f, "connections_open", admin_stat(st, "connections.open"));
		(void)fputs("</tbody></table>\n", o.f);
		html_decisions(o.f, st);
		html_valkey(o.f, a);

		(void)fputs("<h2>Recent failures</h2>\n", o.f);
		if (f->n_failures == 0) {
			(void)fputs("<p id=\"no-failures\">None in the cache.</p>\n", o.f);
		} else {
			(void)fputs(
			        "<table id=\"failures\"><thead><tr><th>Domain</th><th>State</th>"
			        "<th>Error</th><th>When</th></tr></thead><tbody>\n",
			        o.f);
			for (i = 0; i < f->n_failures; i++) {
				const struct res_failure *fl = &f->failures[i];

				(void)fputs("<tr class=\"bad\"><td class=\"domain\">", o.f);
				html_esc(o.f, fl->domain);
				(void)fprintf(o.f, "</td><td>%s</td><td>", fl->state);
				html_esc(o.f, err_str(fl->err));
				(void)fputs("</td><td>", o.f);
				html_time(o.f, fl->at);
				(void)fputs("</td></tr>\n", o.f);
			}
			(void)fputs("</tbody></table>\n", o.f);
		}
	}
	(void)fputs("<p class=\"meta\">JSON: <a href=\"/status\">/status</a> &middot; Prometheus: "
	            "<a href=\"/metrics\">/metrics</a></p>\n</body></html>\n",
	            o.f);
	return out_close(&o);
}
