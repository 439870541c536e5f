/*
 * tlsrpt/tlsrpt_summary.c - per-domain summary of the stored TLS reports
 *
 * Interface: see tlsrpt_summary.h
 * Threads:   the caller's.
 * Ownership: the summary owns every string.
 * Errors:    ERR_STATEDB_*; never logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "statedb.h"
#include "tlsrpt_store.h"
#include "tlsrpt_summary.h"
#include "xalloc.h"

/* Organisations, result types, MX hosts listed per domain. */
#define TLSRPT_SUMMARY_NAMES_MAX 100

/* a + b, at most INT64_MAX (the JSON integers): a database of an older mtastsd may hold
 * counts whose sum does not fit */
static uint64_t
tlsrpt_add(uint64_t a, uint64_t b)
{
	return a > (uint64_t)INT64_MAX - b ? (uint64_t)INT64_MAX : a + b;
}

static struct tlsrpt_domain_summary *
tlsrpt_sum_domain(struct tlsrpt_summary *s, const char *domain)
{
	struct tlsrpt_domain_summary *d;

	if (s->n_domains > 0 && strcmp(s->domains[s->n_domains - 1].domain, domain) == 0)
		return &s->domains[s->n_domains - 1];
	for (size_t i = 0; i < s->n_domains; i++)
		if (strcmp(s->domains[i].domain, domain) == 0)
			return &s->domains[i];
	if (s->n_domains >= TLSRPT_SUMMARY_DOMAINS_MAX)
		return NULL;
	s->domains = xrealloc(s->domains, (s->n_domains + 1) * sizeof(*s->domains));
	d = &s->domains[s->n_domains++];
	memset(d, 0, sizeof(*d));
	d->domain = xstrdup(domain);
	return d;
}

static void
tlsrpt_sum_count(struct tlsrpt_count **v, size_t *n, const char *name, uint64_t sessions,
                 uint64_t reports)
{
	size_t i;

	if (name[0] == '\0')
		return;
	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i].name, name) == 0) {
			(*v)[i].sessions = tlsrpt_add((*v)[i].sessions, sessions);
			if (reports > (*v)[i].reports)
				(*v)[i].reports = reports;
			return;
		}
	if (*n >= TLSRPT_SUMMARY_NAMES_MAX)
		return;
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = xstrdup(name);
	(*v)[*n].sessions = sessions;
	(*v)[*n].reports = reports;
	(*n)++;
}

static int
tlsrpt_sum_row(const struct statedb_tlsrpt_sum *r, void *arg)
{
	struct tlsrpt_summary *s = arg;
	struct tlsrpt_domain_summary *d = tlsrpt_sum_domain(s, r->domain);
	int64_t i = r->day - s->first_day;
	int ok = strcmp(r->result, "success") == 0;

	if (d == NULL)
		return 0;
	if (ok)
		d->success = tlsrpt_add(d->success, r->sessions);
	else
		d->failure = tlsrpt_add(d->failure, r->sessions);
	if (i >= 0 && i < (int64_t)s->days) {
		if (ok)
			d->day_success[i] = tlsrpt_add(d->day_success[i], r->sessions);
		else
			d->day_failure[i] = tlsrpt_add(d->day_failure[i], r->sessions);
	}
	if (!ok)
		tlsrpt_sum_count(&d->failures, &d->n_failures, r->result, r->sessions, 0);
	return 0;
}

static int
tlsrpt_org_row(const struct statedb_tlsrpt_org *o, void *arg)
{
	struct tlsrpt_summary *s = arg;
	struct tlsrpt_domain_summary *d = tlsrpt_sum_domain(s, o->domain);

	if (d == NULL)
		return 0;
	tlsrpt_sum_count(&d->orgs, &d->n_orgs, o->org, o->sessions, o->reports);
	if (strcmp(o->result, "success") != 0)
		tlsrpt_sum_count(&d->mx_hosts, &d->n_mx_hosts, o->mx_host, o->sessions, 0);
	return 0;
}

static int
tlsrpt_last_row(const struct statedb_tlsrpt_report *r, void *arg)
{
	struct tlsrpt_domain_summary *d = arg;
	struct tlsrpt_last *l;

	if (d->n_last >= TLSRPT_LAST_REPORTS)
		return 1;
	l = &d->last[d->n_last++];
	l->received_at = r->received_at;
	l->start = r->start_at;
	l->end = r->end_at;
	l->org = xstrdup(r->org);
	l->report_id = xstrdup(r->report_id);
	l->source = xstrdup(r->source);
	l->status = xstrdup(r->status);
	l->reason = xstrdup(r->reason);
	l->success = r->success;
	l->failure = r->failure;
	return 0;
}

/* The last reports of every domain of s. */
static int
tlsrpt_summary_last(struct statedb *db, struct tlsrpt_summary *s, size_t from)
{
	size_t i;
	int r = 0;

	for (i = from; r == 0 && i < s->n_domains; i++)
		r = statedb_tlsrpt_last(db, s->domains[i].domain, TLSRPT_LAST_REPORTS,
		                        tlsrpt_last_row, &s->domains[i]);
	return r;
}

static struct tlsrpt_summary *
tlsrpt_summary_new(time_t now)
{
	struct tlsrpt_summary *s = xcalloc(1, sizeof(*s));

	s->days = TLSRPT_CHART_DAYS;
	s->first_day = tlsrpt_day(now) - (int64_t)s->days + 1;
	return s;
}

int
tlsrpt_summary_load(struct statedb *db, const char *domain, time_t now, struct tlsrpt_summary **ret)
{
	struct tlsrpt_summary *s = tlsrpt_summary_new(now);
	int r;

	if (domain != NULL)
		(void)tlsrpt_sum_domain(s, domain);
	r = statedb_tlsrpt_sums(db, domain, s->first_day, tlsrpt_sum_row, s);
	if (r == 0)
		r = statedb_tlsrpt_orgs(db, domain, s->first_day, tlsrpt_org_row, s);
	if (r == 0)
		r = tlsrpt_summary_last(db, s, 0);
	if (r < 0) {
		(void)tlsrpt_summary_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static void tlsrpt_domain_free(struct tlsrpt_domain_summary *d);

int
tlsrpt_summary_load_domains(struct statedb *db, const char *const *domains, size_t n, time_t now,
                            struct tlsrpt_summary **ret)
{
	struct tlsrpt_summary *s = tlsrpt_summary_new(now);
	struct tlsrpt_domain_summary *d;
	size_t i, at;
	int r = 0;

	for (i = 0; r == 0 && i < n && s->n_domains < TLSRPT_SUMMARY_DOMAINS_MAX; i++) {
		at = s->n_domains;
		d = tlsrpt_sum_domain(s, domains[i]);
		if (d == NULL || s->n_domains == at)
			continue; /* listed twice */
		r = statedb_tlsrpt_sums(db, domains[i], s->first_day, tlsrpt_sum_row, s);
		if (r < 0)
			break;
		d = &s->domains[at];
		if (d->success == 0 && d->failure == 0) {
			/* nothing in the period: not shown, as with tlsrpt_summary_load(NULL) */
			tlsrpt_domain_free(d);
			s->n_domains--;
			continue;
		}
		r = statedb_tlsrpt_orgs(db, domains[i], s->first_day, tlsrpt_org_row, s);
		if (r == 0)
			r = tlsrpt_summary_last(db, s, at);
	}
	if (r < 0) {
		(void)tlsrpt_summary_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static void
tlsrpt_counts_free(struct tlsrpt_count *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static void
tlsrpt_domain_free(struct tlsrpt_domain_summary *d)
{
	size_t j;

	free(d->domain);
	tlsrpt_counts_free(d->failures, d->n_failures);
	tlsrpt_counts_free(d->orgs, d->n_orgs);
	tlsrpt_counts_free(d->mx_hosts, d->n_mx_hosts);
	for (j = 0; j < d->n_last; j++) {
		free(d->last[j].org);
		free(d->last[j].report_id);
		free(d->last[j].source);
		free(d->last[j].status);
		free(d->last[j].reason);
	}
	memset(d, 0, sizeof(*d));
}

struct tlsrpt_summary *
tlsrpt_summary_free(struct tlsrpt_summary *s)
{
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < s->n_domains; i++)
		tlsrpt_domain_free(&s->domains[i]);
	free(s->domains);
	free(s);
	return NULL;
}

void
tlsrpt_summary_line(const struct tlsrpt_domain_summary *d, char *buf, size_t len)
{
	unsigned long long total = tlsrpt_add(d->success, d->failure);
	size_t used, i;
	int n;

	n = snprintf(buf, len, "%llu sessions from %zu organisation%s, %llu failure%s", total,
	             d->n_orgs, d->n_orgs == 1 ? "" : "s", (unsigned long long)d->failure,
	             d->failure == 1 ? "" : "s");
	if (n < 0 || (size_t)n >= len)
		return;
	used = (size_t)n;
	for (i = 0; i < d->n_failures; i++) {
		n = snprintf(buf + used, len - used, "%s%s %llu", i == 0 ? " (" : ", ",
		             d->failures[i].name, (unsigned long long)d->failures[i].sessions);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
	if (d->n_failures > 0 && used + 1 < len)
		(void)snprintf(buf + used, len - used, ")");
}

static void
tlsrpt_day_text(int64_t day, char *buf, size_t len)
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		(void)snprintf(buf, len, "?");
}

static json_object *
tlsrpt_counts_json(const struct tlsrpt_count *v, size_t n)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < n; i++)
		json_object_object_add(o, v[i].name, json_object_new_int64((int64_t)v[i].sessions));
	return o;
}

json_object *
tlsrpt_summary_json(const struct tlsrpt_summary *s)
{
	json_object *root = json_object_new_object(), *doms = json_object_new_object();
	char day[32];
	size_t i, j;

	tlsrpt_day_text(s->first_day, day, sizeof(day));
	json_object_object_add(root, "days", json_object_new_int((int)s->days));
	json_object_object_add(root, "first_day", json_object_new_string(day));
	for (i = 0; i < s->n_domains; i++) {
		const struct tlsrpt_domain_summary *d = &s->domains[i];
		json_object *o = json_object_new_object(), *a, *e;
		char line[512];

		tlsrpt_summary_line(d, line, sizeof(line));
		json_object_object_add(o, "summary", json_object_new_string(line));
		json_object_object_add(
		        o, "sessions",
		        json_object_new_int64((int64_t)tlsrpt_add(d->success, d->failure)));
		json_object_object_add(o, "successful", json_object_new_int64((int64_t)d->success));
		json_object_object_add(o, "failures", json_object_new_int64((int64_t)d->failure));
		json_object_object_add(o, "failure_types",
		                       tlsrpt_counts_json(d->failures, d->n_failures));
		json_object_object_add(o, "organisations", tlsrpt_counts_json(d->orgs, d->n_orgs));
		json_object_object_add(o, "failed_mx_hosts",
		                       tlsrpt_counts_json(d->mx_hosts, d->n_mx_hosts));
		a = json_object_new_array();
		for (j = 0; j < s->days; j++) {
			e = json_object_new_object();
			tlsrpt_day_text(s->first_day + (int64_t)j, day, sizeof(day));
			json_object_object_add(e, "day", json_object_new_string(day));
			json_object_object_add(e, "successful",
			                       json_object_new_int64((int64_t)d->day_success[j]));
			json_object_object_add(e, "failures",
			                       json_object_new_int64((int64_t)d->day_failure[j]));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, "daily", a);
		a = json_object_new_array();
		for (j = 0; j < d->n_last; j++) {
			const struct tlsrpt_last *l = &d->last[j];

			e = json_object_new_object();
			json_object_object_add(e, "received_at",
			                       json_object_new_int64((int64_t)l->received_at));
			json_object_object_add(e, "organisation", json_object_new_string(l->org));
			json_object_object_add(e, "report_id",
			                       json_object_new_string(l->report_id));
			json_object_object_add(e, "source", json_object_new_string(l->source));
			json_object_object_add(e, "status", json_object_new_string(l->status));
			json_object_object_add(e, "start",
			                       json_object_new_int64((int64_t)l->start));
			json_object_object_add(e, "end", json_object_new_int64((int64_t)l->end));
			json_object_object_add(e, "successful",
			                       json_object_new_int64((int64_t)l->success));
			json_object_object_add(e, "failures",
			                       json_object_new_int64((int64_t)l->failure));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, "last_reports", a);
		json_object_object_add(doms, d->domain, o);
	}
	json_object_object_add(root, "domains", doms);
	return root;
}
