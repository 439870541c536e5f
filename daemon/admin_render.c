/*
 * daemon/admin_render.c - admin endpoint bodies: /status JSON, /metrics, /policies, HTML
 *
 * Interface: admin_facts_collect/free, admin_render_status/metrics/html/policy (admin_int.h)
 * Threads:   main loop only.
 * Ownership: every render returns an owned NUL-terminated string (free()).
 * Errors:    none; allocation failure dies (xalloc, json-c failures are treated the same).
 *
 * Metric names follow the Prometheus conventions: prefix mtastsd_, base units in the name
 * (_seconds, _timestamp_seconds), _total for counters; docs/operations.md lists them.
 * Every text that came from outside (domain names from the cache, error strings) is escaped
 * for its output: JSON by json-c, label values per the exposition format, HTML entities.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "err.h"
#include "log.h"
#include "sts_policy.h"
#include "xalloc.h"

long
admin_days_left(time_t t, time_t now)
{
	double d = difftime(t, now) / 86400.0;

	return d >= 0 ? (long)d : -(long)(-d + 0.999999);
}

const char *
admin_kind_name(enum cache_kind k)
{
	switch (k) {
	case CACHE_POLICY:
		return "policy";
	case CACHE_NO_POLICY:
		return "no-policy";
	case CACHE_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}

/* ---- facts ---- */

static int
admin_failure_visit(const char *dom, const struct cache_entry *e, void *arg)
{
	struct admin_facts *f = arg;
	struct admin_failure *slot;
	size_t i, n;

	if (e->last_error == 0 && e->kind != CACHE_TEMPFAIL)
		return 0;
	/* A domain without any MTA-STS record is the normal case, not a failure. */
	if (e->kind == CACHE_NO_POLICY &&
	    (e->last_error == ERR_DNS_NXDOMAIN || e->last_error == ERR_DNS_NODATA ||
	     e->last_error == ERR_TXT_NONE))
		return 0;
	/* Keep the ADMIN_FAILURES_MAX newest, sorted newest first (insertion into a tiny
	 * array). */
	n = f->n_failures;
	for (i = 0; i < n; i++)
		if (e->last_check > f->failures[i].at)
			break;
	if (i >= ADMIN_FAILURES_MAX)
		return 0;
	if (n == ADMIN_FAILURES_MAX)
		n--;
	memmove(&f->failures[i + 1], &f->failures[i], (n - i) * sizeof(f->failures[0]));
	slot = &f->failures[i];
	(void)snprintf(slot->domain, sizeof(slot->domain), "%s", dom);
	slot->kind = e->kind;
	slot->err = e->last_error != 0 ? e->last_error : ERR_CACHE_UNAVAILABLE;
	slot->at = e->last_check;
	f->n_failures = n + 1;
	return 0;
}

void
admin_facts_collect(struct admin *a, struct admin_facts *f)
{
	uint64_t hits;

	memset(f, 0, sizeof(*f));
	f->now = loop_wall_s(a->loop);
	f->uptime_s = (loop_now_ms(a->loop) - a->start_ms) / 1000;
	f->pub_running = a->pub != NULL;
	f->pub = pub_info_get(a->pub);
	if (a->res != NULL) {
		f->pol = res_engine_counters(a->res);
		f->sm = res_server_counters(a->res);
		f->lk = res_lookup_counters(a->res);
		f->dane = res_dane_counters(a->res);
		f->shared = res_shared_counters(a->res);
		f->shared_state = res_shared_state(a->res);
	}
	f->res_enabled = f->pol != NULL;
	f->cache_entries = a->res != NULL ? res_cache_entries(a->res) : 0;
	f->cache_max = a->cfg != NULL ? a->cfg->cache.max_entries : 0;
	if (f->pol != NULL && f->pol->lookups > 0) {
		hits = f->pol->cache_hits + f->pol->cache_negative_hits;
		f->hit_rate = (double)hits / (double)f->pol->lookups;
	}
	if (a->res != NULL)
		res_cache_visit(a->res, ADMIN_SCAN_MAX, admin_failure_visit, f);
}

void
admin_facts_free(struct admin_facts *f)
{
	f->pub = pub_info_free(f->pub);
}

/* ---- JSON ---- */

static struct json_object *
jstr(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static struct json_object *
ju64(uint64_t v)
{
	return json_object_new_int64(v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v);
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

static const char *const admin_reply_names[SM_STATUS_COUNT] = {
        [SM_OK] = "ok",           [SM_NOTFOUND] = "notfound", [SM_TEMP] = "temp",
        [SM_TIMEOUT] = "timeout", [SM_PERM] = "perm",
};

struct admin_kv {
	const char *name;
	uint64_t value;
};

/* Fetch outcomes, in one place for /status and /metrics. Returns the count written. */
static size_t
admin_fetch_outcomes(const struct pol_counters *p, struct admin_kv out[10])
{
	const struct admin_kv kv[] = {
	        {"ok", p->fetch_ok},
	        {"invalid_policy", p->fetch_invalid_policy},
	        {"http_error", p->fetch_http},
	        {"redirect", p->fetch_redirect},
	        {"tls_error", p->fetch_tls},
	        {"connect_error", p->fetch_connect},
	        {"timeout", p->fetch_timeout},
	        {"too_large", p->fetch_too_large},
	        {"content_type", p->fetch_content_type},
	        {"other", p->fetch_other},
	};

	memcpy(out, kv, sizeof(kv));
	return sizeof(kv) / sizeof(kv[0]);
}

static size_t
admin_dns_results(const struct pol_counters *p, struct admin_kv out[6])
{
	const struct admin_kv kv[] = {
	        {"ok", p->dns_ok},           {"nxdomain", p->dns_nxdomain},
	        {"nodata", p->dns_nodata},   {"servfail", p->dns_servfail},
	        {"timeout", p->dns_timeout}, {"other", p->dns_other},
	};

	memcpy(out, kv, sizeof(kv));
	return sizeof(kv) / sizeof(kv[0]);
}

/* DANE counters other than the verdicts, for /status (the metrics name them one by one). */
static size_t
admin_dane_counts(const struct dane_counters *d, struct admin_kv out[10])
{
	const struct admin_kv kv[] = {
	        {"lookups", d->lookups},
	        {"cache_hits", d->cache_hits},
	        {"stale_served", d->stale_served},
	        {"stale_kept", d->stale_kept},
	        {"cache_misses", d->cache_misses},
	        {"coalesced", d->coalesced},
	        {"jobs", d->jobs},
	        {"queries", d->queries},
	        {"timeouts", d->timeouts},
	        {"evictions", d->evictions},
	};

	memcpy(out, kv, sizeof(kv));
	return sizeof(kv) / sizeof(kv[0]);
}

/* The Valkey/Redis tier's counters, in one place for /status and the page. */
static size_t
admin_shared_counts(const struct cache_redis_counters *c, struct admin_kv out[15])
{
	const struct admin_kv kv[] = {
	        {"hits", c->hits},
	        {"misses", c->misses},
	        {"corrupt", c->corrupt},
	        {"errors", c->errors},
	        {"timeouts", c->timeouts},
	        {"unavailable", c->unavailable},
	        {"writes", c->writes},
	        {"writes_older", c->writes_older},
	        {"locks_taken", c->locks_taken},
	        {"locks_busy", c->locks_busy},
	        {"outages", c->outages},
	        {"connects", c->connects},
	        {"connect_failures", c->connect_failures},
	        {"sentinel_queries", c->sentinel_queries},
	        {"sentinel_failures", c->sentinel_failures},
	};

	memcpy(out, kv, sizeof(kv));
	return sizeof(kv) / sizeof(kv[0]);
}

/* "connected", "connecting", "down"; "disabled" with the memory backend. */
static const char *
admin_shared_state(const struct admin_facts *f)
{
	return f->shared_state != NULL ? f->shared_state : "disabled";
}

static struct json_object *
admin_json_publisher(const struct admin_facts *f)
{
	struct json_object *o = json_object_new_object(), *doms = json_object_new_array();
	size_t i;

	jadd(o, "running", json_object_new_boolean(f->pub_running));
	for (i = 0; i < f->pub->n_domains; i++) {
		const struct pub_info_domain *d = &f->pub->domains[i];
		struct json_object *j = json_object_new_object();

		jadd(j, "domain", jstr(d->domain));
		jadd(j, "policy_id", jstr(d->id));
		jadd(j, "mode", jstr(sts_mode_name(d->mode)));
		jadd(j, "certificate_expiry", jtime(d->cert_not_after));
		jadd(j, "certificate_days_left",
		     d->cert_not_after > 0
		             ? json_object_new_int64(admin_days_left(d->cert_not_after, f->now))
		             : NULL);
		/* Filled once `mtastsd check` records results; never a made-up value. */
		jadd(j, "last_self_check", NULL);
		(void)json_object_array_add(doms, j);
	}
	jadd(o, "domains", doms);
	jadd(o, "requests", ju64(f->pub->requests));
	jadd(o, "policies_served", ju64(f->pub->policies_served));
	jadd(o, "not_found", ju64(f->pub->not_found));
	jadd(o, "redirects", ju64(f->pub->redirects));
	jadd(o, "acme_served", ju64(f->pub->acme_served));
	jadd(o, "connections", ju64(f->pub->connections));
	jadd(o, "connections_timed_out", ju64(f->pub->connections_timed_out));
	return o;
}

/* The shared tier: {"state": "disabled"} with the memory backend; with Valkey/Redis its
 * address, live state and counters. */
static struct json_object *
admin_json_valkey(struct admin *a, const struct admin_facts *f)
{
	struct json_object *x = json_object_new_object();
	struct admin_kv kv[15];
	size_t i, n;

	jadd(x, "state", jstr(admin_shared_state(f)));
	if (f->shared == NULL)
		return x;
	jadd(x, "address", jstr(a->cfg != NULL ? a->cfg->cache.redis_address : NULL));
	jadd(x, "up", json_object_new_boolean(strcmp(f->shared_state, "connected") == 0));
	n = admin_shared_counts(f->shared, kv);
	for (i = 0; i < n; i++)
		jadd(x, kv[i].name, ju64(kv[i].value));
	return x;
}

/* Socketmap replies by the source that decided them (lookup.h), keyed by
 * lookup_source_name(); null when the counters are not there. */
static struct json_object *
admin_json_decided_by(const struct admin_facts *f)
{
	struct json_object *x;
	size_t i;

	if (f->lk == NULL)
		return NULL;
	x = json_object_new_object();
	for (i = 0; i < LOOKUP_SRC_COUNT; i++)
		jadd(x, lookup_source_name((enum lookup_source)i), ju64(f->lk->source[i]));
	return x;
}

static struct json_object *
admin_json_dane(const struct admin_facts *f)
{
	struct json_object *x, *v;
	struct admin_kv kv[10];
	size_t i, n;

	if (f->dane == NULL)
		return NULL;
	x = json_object_new_object();
	n = admin_dane_counts(f->dane, kv);
	for (i = 0; i < n; i++)
		jadd(x, kv[i].name, ju64(kv[i].value));
	v = json_object_new_object();
	for (i = 0; i < DANE_VERDICT_COUNT; i++)
		jadd(v, dane_verdict_name((enum dane_verdict)i), ju64(f->dane->answers[i]));
	jadd(x, "verdicts", v);
	if (f->lk != NULL) {
		jadd(x, "checked", ju64(f->lk->dane_checked));
		jadd(x, "sts_overridden", ju64(f->lk->sts_overridden));
	}
	return x;
}

static struct json_object *
admin_json_resolver(struct admin *a, const struct admin_facts *f)
{
	struct json_object *o = json_object_new_object(), *c, *r, *x, *fails;
	const struct pol_counters *p = f->pol;
	const struct sm_counters *s = f->sm;
	struct admin_kv kv[10];
	size_t i, n;

	jadd(o, "enabled", json_object_new_boolean(f->res_enabled));
	if (p == NULL || s == NULL)
		return o;
	c = json_object_new_object();
	/* What runs, not what the (possibly reloaded) cfg asks for: the backend needs a
	 * restart to change. */
	jadd(c, "backend", jstr(f->shared != NULL ? "redis" : "memory"));
	jadd(c, "entries", ju64(f->cache_entries));
	jadd(c, "max_entries", ju64(f->cache_max));
	jadd(c, "hits", ju64(p->cache_hits));
	jadd(c, "negative_hits", ju64(p->cache_negative_hits));
	jadd(c, "misses", ju64(p->cache_misses));
	jadd(c, "hit_rate", json_object_new_double(f->hit_rate));
	jadd(o, "cache", c);
	jadd(o, "valkey", admin_json_valkey(a, f));
	jadd(o, "lookups", ju64(p->lookups));
	jadd(o, "requests", ju64(s->requests));
	r = json_object_new_object();
	for (i = 0; i < SM_STATUS_COUNT; i++)
		jadd(r, admin_reply_names[i], ju64(s->replies[i]));
	jadd(o, "replies", r);
	x = json_object_new_object();
	for (i = 0; i < POL_STATUS_COUNT; i++)
		jadd(x, pol_status_name((enum pol_status)i), ju64(p->answers[i]));
	jadd(o, "answers", x);
	x = json_object_new_object();
	n = admin_fetch_outcomes(p, kv);
	for (i = 0; i < n; i++)
		jadd(x, kv[i].name, ju64(kv[i].value));
	jadd(o, "fetches", x);
	x = json_object_new_object();
	n = admin_dns_results(p, kv);
	for (i = 0; i < n; i++)
		jadd(x, kv[i].name, ju64(kv[i].value));
	jadd(o, "dns", x);
	x = json_object_new_object();
	jadd(x, "started", ju64(p->discoveries));
	jadd(x, "coalesced", ju64(p->coalesced));
	jadd(x, "no_policy", ju64(p->outcome_no_policy));
	jadd(x, "tempfail", ju64(p->outcome_tempfail));
	jadd(x, "stale_kept", ju64(p->stale_kept));
	jadd(x, "policies_stored", ju64(p->policies_stored));
	jadd(o, "discoveries", x);
	x = json_object_new_object();
	jadd(x, "open", ju64(s->open));
	jadd(x, "accepted", ju64(s->accepted));
	jadd(x, "protocol_errors", ju64(s->protocol_errors));
	jadd(o, "connections", x);
	jadd(o, "decided_by", admin_json_decided_by(f));
	jadd(o, "dane", admin_json_dane(f));
	fails = json_object_new_array();
	for (i = 0; i < f->n_failures; i++) {
		const struct admin_failure *fl = &f->failures[i];

		x = json_object_new_object();
		jadd(x, "domain", jstr(fl->domain));
		jadd(x, "state", jstr(admin_kind_name(fl->kind)));
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
	jadd(o, "uptime_seconds", ju64(f->uptime_s));
	jadd(o, "started_at", jtime(a->start_wall));
	c = json_object_new_object();
	jadd(c, "path", jstr(a->cfg != NULL ? a->cfg->path : NULL));
	jadd(c, "sha256", a->cfg_sha256[0] != '\0' ? jstr(a->cfg_sha256) : NULL);
	jadd(c, "reloads", ju64(a->reloads_ok));
	jadd(c, "reload_failures", ju64(a->reloads_failed));
	jadd(c, "last_reload", jtime(a->last_reload));
	jadd(c, "last_reload_ok",
	     a->last_reload > 0 ? json_object_new_boolean(a->last_reload_ok) : NULL);
	jadd(o, "config", c);
	jadd(o, "publisher", admin_json_publisher(f));
	jadd(o, "resolver", admin_json_resolver(a, f));
	return jfinish(o);
}

char *
admin_render_policy(struct admin *a, const char *dom)
{
	const struct cache_entry *e = a->res != NULL ? res_cache_lookup(a->res, dom) : NULL;
	struct json_object *o, *p, *mx;
	size_t i;

	if (e == NULL)
		return NULL;
	o = json_object_new_object();
	jadd(o, "domain", jstr(dom));
	jadd(o, "state", jstr(admin_kind_name(e->kind)));
	jadd(o, "id", e->id[0] != '\0' ? jstr(e->id) : NULL);
	jadd(o, "fetched_at", jtime(e->fetched_at));
	jadd(o, "expires_at", jtime(e->expires_at));
	jadd(o, "last_check", jtime(e->last_check));
	jadd(o, "retry_after", jtime(e->retry_after));
	jadd(o, "last_error", e->last_error != 0 ? jstr(err_str(e->last_error)) : NULL);
	if (e->kind == CACHE_POLICY && e->policy != NULL) {
		p = json_object_new_object();
		jadd(p, "mode", jstr(sts_mode_name(e->policy->mode)));
		jadd(p, "max_age", ju64(e->policy->max_age_s));
		mx = json_object_new_array();
		for (i = 0; i < e->policy->n_mx; i++)
			(void)json_object_array_add(mx, jstr(e->policy->mx[i]));
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
 * above rely on it. A memstream write fails only when it cannot grow its buffer, so a
 * failure is out of memory and dies like xmalloc() (STYLE.md section 5) instead of serving
 * a truncated body. */
static char *
out_close(struct admin_out *o)
{
	int failed = ferror(o->f);

	if (fclose(o->f) != 0 || failed || o->buf == NULL)
		die("admin: cannot build a response: out of memory");
	return o->buf;
}

/* ---- Prometheus text exposition 0.0.4 ---- */

static void
prom_head(FILE *f, const char *name, const char *type, const char *help)
{
	(void)fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
prom_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			(void)fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			(void)fputs("\\n", f);
		else
			(void)fputc(*s, f);
	}
}

static void
prom_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	prom_head(f, name, type, help);
	(void)fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void
prom_kv(FILE *f, const char *name, const char *label, const char *help, const struct admin_kv *kv,
        size_t n)
{
	size_t i;

	prom_head(f, name, "counter", help);
	for (i = 0; i < n; i++)
		(void)fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, kv[i].name,
		              (unsigned long long)kv[i].value);
}

/* DANE first, then MTA-STS: who decided each reply, and the DANE module's own work. */
static void
prom_decisions(FILE *f, const struct admin_facts *fa)
{
	const struct dane_counters *d = fa->dane;
	size_t i;

	if (fa->lk != NULL) {
		prom_head(f, "mtastsd_socketmap_replies_decided_total", "counter",
		          "Socketmap replies by the source that decided them (DANE first, then "
		          "MTA-STS; none: neither applies).");
		for (i = 0; i < LOOKUP_SRC_COUNT; i++)
			(void)fprintf(
			        f, "mtastsd_socketmap_replies_decided_total{source=\"%s\"} %llu\n",
			        lookup_source_name((enum lookup_source)i),
			        (unsigned long long)fa->lk->source[i]);
		prom_u64(f, "mtastsd_dane_checked_lookups_total", "counter",
		         "Socketmap lookups that ran DANE (their zone has dane on).",
		         fa->lk->dane_checked);
		prom_u64(f, "mtastsd_dane_sts_overridden_total", "counter",
		         "Replies where DANE decided while MTA-STS had a policy reply.",
		         fa->lk->sts_overridden);
	}
	if (d == NULL)
		return;
	prom_head(f, "mtastsd_dane_lookups_total", "counter", "DANE lookups answered, by verdict.");
	for (i = 0; i < DANE_VERDICT_COUNT; i++)
		(void)fprintf(f, "mtastsd_dane_lookups_total{outcome=\"%s\"} %llu\n",
		              dane_verdict_name((enum dane_verdict)i),
		              (unsigned long long)d->answers[i]);
	prom_head(f, "mtastsd_dane_cache_hits_total", "counter",
	          "DANE lookups answered from the DANE cache, by freshness.");
	(void)fprintf(f, "mtastsd_dane_cache_hits_total{kind=\"fresh\"} %llu\n",
	              (unsigned long long)d->cache_hits);
	(void)fprintf(f, "mtastsd_dane_cache_hits_total{kind=\"stale\"} %llu\n",
	              (unsigned long long)d->stale_served);
	prom_u64(f, "mtastsd_dane_cache_misses_total", "counter",
	         "DANE lookups that had to wait for DNS answers.", d->cache_misses);
	prom_u64(f, "mtastsd_dane_lookups_coalesced_total", "counter",
	         "DANE lookups that joined a job already in flight.", d->coalesced);
	prom_u64(f, "mtastsd_dane_stale_kept_total", "counter",
	         "DANE refreshes that failed and kept the old result.", d->stale_kept);
	prom_u64(f, "mtastsd_dane_jobs_total", "counter",
	         "DANE jobs started (MX, address and TLSA lookups of one domain).", d->jobs);
	prom_u64(f, "mtastsd_dane_dns_queries_total", "counter", "DNS queries sent by DANE.",
	         d->queries);
	prom_u64(f, "mtastsd_dane_timeouts_total", "counter",
	         "DANE lookups answered tempfail because their timeout passed.", d->timeouts);
	prom_u64(f, "mtastsd_dane_cache_evictions_total", "counter",
	         "DANE cache entries dropped for room.", d->evictions);
}

/* The Valkey/Redis tier. mtastsd_valkey_enabled always (resolver on); the rest only with
 * cache.backend = "redis", so that an alert on mtastsd_valkey_up == 0 never fires for a
 * host that has no shared tier. */
static void
prom_valkey(FILE *f, const struct admin_facts *fa)
{
	static const char *const states[] = {"connected", "connecting", "down"};
	const struct cache_redis_counters *c = fa->shared;
	size_t i;

	prom_u64(f, "mtastsd_valkey_enabled", "gauge",
	         "1 when the shared Valkey/Redis cache tier is configured (cache.backend).",
	         c != NULL ? 1 : 0);
	if (c == NULL)
		return;
	prom_u64(f, "mtastsd_valkey_up", "gauge",
	         "1 when the connection to Valkey/Redis is established and commands are sent.",
	         strcmp(fa->shared_state, "connected") == 0 ? 1 : 0);
	prom_head(f, "mtastsd_valkey_state", "gauge",
	          "1 for the current state of the Valkey/Redis connection.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		(void)fprintf(f, "mtastsd_valkey_state{state=\"%s\"} %d\n", states[i],
		              strcmp(fa->shared_state, states[i]) == 0 ? 1 : 0);
	prom_head(f, "mtastsd_valkey_commands_total", "counter",
	          "Valkey/Redis commands and connection failures, by result (error includes "
	          "connection losses; timeout: past cache.redis.command_timeout).");
	(void)fprintf(f,
	              "mtastsd_valkey_commands_total{result=\"hit\"} %llu\n"
	              "mtastsd_valkey_commands_total{result=\"miss\"} %llu\n"
	              "mtastsd_valkey_commands_total{result=\"error\"} %llu\n"
	              "mtastsd_valkey_commands_total{result=\"timeout\"} %llu\n",
	              (unsigned long long)c->hits, (unsigned long long)c->misses,
	              (unsigned long long)c->errors, (unsigned long long)c->timeouts);
	prom_u64(f, "mtastsd_valkey_corrupt_values_total", "counter",
	         "Values read that did not decode (counted as misses too; overwritten later).",
	         c->corrupt);
	prom_u64(f, "mtastsd_valkey_unavailable_total", "counter",
	         "Cache operations not sent because the tier was down (served as misses).",
	         c->unavailable);
	prom_head(f, "mtastsd_valkey_writes_total", "counter",
	          "Policy writes, by result (older: refused, the stored policy was newer).");
	(void)fprintf(f,
	              "mtastsd_valkey_writes_total{result=\"stored\"} %llu\n"
	              "mtastsd_valkey_writes_total{result=\"older\"} %llu\n",
	              (unsigned long long)c->writes, (unsigned long long)c->writes_older);
	prom_head(f, "mtastsd_valkey_fetch_locks_total", "counter",
	          "Fetch lock attempts, by result (busy: another host holds it).");
	(void)fprintf(f,
	              "mtastsd_valkey_fetch_locks_total{result=\"taken\"} %llu\n"
	              "mtastsd_valkey_fetch_locks_total{result=\"busy\"} %llu\n",
	              (unsigned long long)c->locks_taken, (unsigned long long)c->locks_busy);
	prom_u64(f, "mtastsd_valkey_outages_total", "counter",
	         "Transitions from up to down (and a failed first connection).", c->outages);
	prom_head(f, "mtastsd_valkey_connects_total", "counter",
	          "Connection attempts to Valkey/Redis, by result.");
	(void)fprintf(f,
	              "mtastsd_valkey_connects_total{result=\"success\"} %llu\n"
	              "mtastsd_valkey_connects_total{result=\"failure\"} %llu\n",
	              (unsigned long long)c->connects, (unsigned long long)c->connect_failures);
	prom_head(f, "mtastsd_valkey_sentinel_queries_total", "counter",
	          "Sentinel queries for the primary's address answered, by result.");
	(void)fprintf(f,
	              "mtastsd_valkey_sentinel_queries_total{result=\"success\"} %llu\n"
	              "mtastsd_valkey_sentinel_queries_total{result=\"failure\"} %llu\n",
	              (unsigned long long)(c->sentinel_queries - c->sentinel_failures),
	              (unsigned long long)c->sentinel_failures);
}

char *
admin_render_metrics(struct admin *a, const struct admin_facts *f)
{
	const struct pol_counters *p = f->pol;
	const struct sm_counters *s = f->sm;
	struct admin_kv kv[10];
	struct admin_out o;
	size_t i, n;

	out_open(&o);
	prom_head(o.f, "mtastsd_build_info", "gauge", "Version of the running mtastsd.");
	(void)fprintf(o.f, "mtastsd_build_info{version=\"%s\"} 1\n", MTASTSD_VERSION);
	prom_u64(o.f, "mtastsd_start_time_seconds", "gauge",
	         "Start time of the process since the Unix epoch.", (uint64_t)a->start_wall);
	prom_u64(o.f, "mtastsd_uptime_seconds", "gauge", "Seconds since the daemon started.",
	         f->uptime_s);
	prom_head(o.f, "mtastsd_config_reloads_total", "counter",
	          "Configuration reloads (SIGHUP) by result.");
	(void)fprintf(o.f, "mtastsd_config_reloads_total{result=\"success\"} %llu\n",
	              (unsigned long long)a->reloads_ok);
	(void)fprintf(o.f, "mtastsd_config_reloads_total{result=\"failure\"} %llu\n",
	              (unsigned long long)a->reloads_failed);
	prom_u64(o.f, "mtastsd_config_last_reload_successful", "gauge",
	         "1 when the last reload was applied (or none was tried), 0 when it failed.",
	         a->last_reload == 0 || a->last_reload_ok ? 1 : 0);

	/* publisher */
	prom_u64(o.f, "mtastsd_publisher_domains", "gauge", "Policy domains published.",
	         f->pub->n_domains);
	prom_head(o.f, "mtastsd_publisher_responses_total", "counter",
	          "HTTP responses of the policy publisher by type.");
	(void)fprintf(o.f,
	              "mtastsd_publisher_responses_total{type=\"policy\"} %llu\n"
	              "mtastsd_publisher_responses_total{type=\"not_found\"} %llu\n"
	              "mtastsd_publisher_responses_total{type=\"redirect\"} %llu\n"
	              "mtastsd_publisher_responses_total{type=\"acme\"} %llu\n",
	              (unsigned long long)f->pub->policies_served,
	              (unsigned long long)f->pub->not_found, (unsigned long long)f->pub->redirects,
	              (unsigned long long)f->pub->acme_served);
	prom_u64(o.f, "mtastsd_publisher_requests_total", "counter",
	         "HTTP requests received by the policy publisher.", f->pub->requests);
	prom_u64(o.f, "mtastsd_publisher_connections", "gauge",
	         "Open connections of the publisher's HTTPS and HTTP listeners.",
	         f->pub->connections);
	prom_u64(o.f, "mtastsd_publisher_connections_timed_out_total", "counter",
	         "Publisher connections closed by publisher.connection_timeout, counted once "
	         "each at close: cut by the request deadline (no complete request in time) "
	         "or closed at or after that deadline (idle timeout: idle or silent clients).",
	         f->pub->connections_timed_out);
	prom_head(o.f, "mtastsd_certificate_expiry_timestamp_seconds", "gauge",
	          "notAfter of the certificate served for mta-sts.<domain>, Unix time.");
	for (i = 0; i < f->pub->n_domains; i++) {
		const struct pub_info_domain *d = &f->pub->domains[i];

		if (d->cert_not_after <= 0)
			continue;
		(void)fputs("mtastsd_certificate_expiry_timestamp_seconds{domain=\"", o.f);
		prom_label(o.f, d->domain);
		(void)fprintf(o.f, "\"} %lld\n", (long long)d->cert_not_after);
	}
	prom_head(o.f, "mtastsd_published_policy_mode", "gauge",
	          "1 for the mode of each published policy.");
	for (i = 0; i < f->pub->n_domains; i++) {
		(void)fputs("mtastsd_published_policy_mode{domain=\"", o.f);
		prom_label(o.f, f->pub->domains[i].domain);
		(void)fprintf(o.f, "\",mode=\"%s\"} 1\n", sts_mode_name(f->pub->domains[i].mode));
	}

	/* resolver */
	prom_u64(o.f, "mtastsd_resolver_enabled", "gauge", "1 when the socketmap resolver runs.",
	         f->res_enabled ? 1 : 0);
	if (p == NULL || s == NULL)
		return out_close(&o);
	prom_u64(o.f, "mtastsd_socketmap_requests_total", "counter", "Socketmap requests decoded.",
	         s->requests);
	prom_head(o.f, "mtastsd_socketmap_replies_total", "counter",
	          "Socketmap replies sent, by reply type.");
	for (i = 0; i < SM_STATUS_COUNT; i++)
		(void)fprintf(o.f, "mtastsd_socketmap_replies_total{type=\"%s\"} %llu\n",
		              admin_reply_names[i], (unsigned long long)s->replies[i]);
	prom_u64(o.f, "mtastsd_socketmap_connections", "gauge", "Socketmap connections open.",
	         s->open);
	prom_u64(o.f, "mtastsd_socketmap_connections_accepted_total", "counter",
	         "Socketmap connections accepted.", s->accepted);
	prom_u64(o.f, "mtastsd_socketmap_protocol_errors_total", "counter",
	         "Malformed or over-long socketmap requests (connection closed).",
	         s->protocol_errors);
	prom_u64(o.f, "mtastsd_policy_lookups_total", "counter",
	         "Policy lookups handed to the policy engine.", p->lookups);
	prom_head(o.f, "mtastsd_policy_lookup_results_total", "counter",
	          "Policy engine answers by result.");
	for (i = 0; i < POL_STATUS_COUNT; i++)
		(void)fprintf(o.f, "mtastsd_policy_lookup_results_total{result=\"%s\"} %llu\n",
		              pol_status_name((enum pol_status)i),
		              (unsigned long long)p->answers[i]);
	prom_head(o.f, "mtastsd_cache_hits_total", "counter",
	          "Lookups answered from the cache, by cached state.");
	(void)fprintf(o.f, "mtastsd_cache_hits_total{kind=\"policy\"} %llu\n",
	              (unsigned long long)p->cache_hits);
	(void)fprintf(o.f, "mtastsd_cache_hits_total{kind=\"negative\"} %llu\n",
	              (unsigned long long)p->cache_negative_hits);
	prom_u64(o.f, "mtastsd_cache_misses_total", "counter",
	         "Lookups that had to wait for a discovery.", p->cache_misses);
	prom_u64(o.f, "mtastsd_cache_entries", "gauge", "Entries in the in-memory policy cache.",
	         f->cache_entries);
	prom_u64(o.f, "mtastsd_cache_max_entries", "gauge",
	         "Bound of the in-memory policy cache (cache.max_entries).", f->cache_max);
	prom_u64(o.f, "mtastsd_policy_discoveries_total", "counter",
	         "Policy discoveries started (foreground and background).", p->discoveries);
	prom_u64(o.f, "mtastsd_policy_lookups_coalesced_total", "counter",
	         "Lookups that joined a discovery already in flight.", p->coalesced);
	n = admin_fetch_outcomes(p, kv);
	prom_kv(o.f, "mtastsd_policy_fetches_total", "outcome",
	        "HTTPS policy fetches finished, by outcome.", kv, n);
	n = admin_dns_results(p, kv);
	prom_kv(o.f, "mtastsd_dns_txt_queries_total", "result",
	        "_mta-sts TXT queries finished, by result.", kv, n);
	prom_u64(o.f, "mtastsd_policy_stale_kept_total", "counter",
	         "Discovery failures that kept a valid cached policy.", p->stale_kept);
	prom_decisions(o.f, f);
	prom_valkey(o.f, f);
	return out_close(&o);
}

/* ---- HTML ---- */

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

/* Who decided the replies (DANE first, then MTA-STS), with the DANE verdicts beside. */
static void
html_decisions(FILE *f, const struct admin_facts *fa)
{
	size_t i;

	if (fa->lk == NULL || fa->dane == NULL)
		return;
	(void)fputs(
	        "<h2>DANE and MTA-STS</h2>\n<table id=\"decisions\"><thead><tr><th>Reply decided "
	        "by</th><th>Replies</th></tr></thead><tbody>\n",
	        f);
	for (i = 0; i < LOOKUP_SRC_COUNT; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "decided_%s",
		               lookup_source_name((enum lookup_source)i));
		html_row_u64(f, name, fa->lk->source[i]);
	}
	html_row_u64(f, "dane_lookups", fa->dane->lookups);
	for (i = 0; i < DANE_VERDICT_COUNT; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "dane_verdict_%s",
		               dane_verdict_name((enum dane_verdict)i));
		html_row_u64(f, name, fa->dane->answers[i]);
	}
	html_row_u64(f, "dane_cache_hits", fa->dane->cache_hits + fa->dane->stale_served);
	html_row_u64(f, "dane_timeouts", fa->dane->timeouts);
	(void)fputs("</tbody></table>\n", f);
}

static void
html_valkey(FILE *f, struct admin *a, const struct admin_facts *fa)
{
	const char *state = admin_shared_state(fa);
	const struct cache_redis_counters *c = fa->shared;
	const char *cls = c == NULL                         ? "meta"
	                  : strcmp(state, "connected") == 0 ? "ok"
	                  : strcmp(state, "down") == 0      ? "bad"
	                                                    : "warn";

	(void)fputs("<h2>Shared cache (Valkey/Redis)</h2>\n<table id=\"valkey\"><tbody>\n", f);
	(void)fprintf(f, "<tr><th>state</th><td class=\"%s\" id=\"valkey-state\">%s</td></tr>\n",
	              cls, state);
	if (c != NULL) {
		(void)fputs("<tr><th>address</th><td><code>", f);
		html_esc(f, a->cfg != NULL ? a->cfg->cache.redis_address : NULL);
		(void)fputs("</code></td></tr>\n", f);
		html_row_u64(f, "valkey_hits", c->hits);
		html_row_u64(f, "valkey_misses", c->misses);
		html_row_u64(f, "valkey_errors", c->errors);
		html_row_u64(f, "valkey_timeouts", c->timeouts);
		html_row_u64(f, "valkey_outages", c->outages);
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
        "code{font-size:.9em}";

char *
admin_render_html(struct admin *a, const struct admin_facts *f)
{
	const struct pol_counters *p = f->pol;
	const struct sm_counters *s = f->sm;
	struct admin_out o;
	size_t i;

	out_open(&o);
	(void)fprintf(o.f,
	              "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	              "<meta name=\"viewport\" content=\"width=device-width\">"
	              "<title>mtastsd status</title><style>%s</style></head><body>\n"
	              "<h1>mtastsd %s</h1>\n<p class=\"meta\">up <span id=\"uptime\">%llu</span> s"
	              " &middot; started ",
	              admin_css, MTASTSD_VERSION, (unsigned long long)f->uptime_s);
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
		}
		(void)fputs("</tbody></table>\n", o.f);
	}

	(void)fputs("<h2>Resolver</h2>\n", o.f);
	if (p == NULL || s == NULL) {
		(void)fputs("<p id=\"resolver-off\">The resolver is disabled.</p>\n", o.f);
	} else {
		(void)fputs("<table id=\"resolver\"><tbody>\n", o.f);
		html_row_u64(o.f, "lookups", p->lookups);
		html_row_u64(o.f, "cache_entries", f->cache_entries);
		(void)fprintf(
		        o.f,
		        "<tr><th>cache_hit_rate</th><td class=\"num\" id=\"c-cache_hit_rate\">"
		        "%.1f%%</td></tr>\n",
		        f->hit_rate * 100.0);
		for (i = 0; i < SM_STATUS_COUNT; i++) {
			char name[32];

			(void)snprintf(name, sizeof(name), "replies_%s", admin_reply_names[i]);
			html_row_u64(o.f, name, s->replies[i]);
		}
		html_row_u64(o.f, "fetches_ok", p->fetch_ok);
		html_row_u64(o.f, "fetches_failed",
		             p->fetch_invalid_policy + p->fetch_http + p->fetch_redirect +
		                     p->fetch_tls + p->fetch_connect + p->fetch_timeout +
		                     p->fetch_too_large + p->fetch_content_type + p->fetch_other);
		html_row_u64(o.f, "connections_open", s->open);
		(void)fputs("</tbody></table>\n", o.f);
		html_decisions(o.f, f);
		html_valkey(o.f, a, f);

		(void)fputs("<h2>Recent failures</h2>\n", o.f);
		if (f->n_failures == 0) {
			(void)fputs("<p id=\"no-failures\">None in the cache.</p>\n", o.f);
		} else {
			(void)fputs(
			        "<table id=\"failures\"><thead><tr><th>Domain</th><th>State</th>"
			        "<th>Error</th><th>When</th></tr></thead><tbody>\n",
			        o.f);
			for (i = 0; i < f->n_failures; i++) {
				const struct admin_failure *fl = &f->failures[i];

				(void)fputs("<tr class=\"bad\"><td class=\"domain\">", o.f);
				html_esc(o.f, fl->domain);
				(void)fprintf(o.f, "</td><td>%s</td><td>",
				              admin_kind_name(fl->kind));
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
