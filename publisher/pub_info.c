/*
 * publisher/pub_info.c - what the publisher serves, for the admin endpoint: its domains
 *                        (copied out) and its metrics (registered in a stats registry)
 *
 * Interface: pub_info_get(), pub_info_free(), pub_stats_add() (pub.h)
 * Threads:   main loop; reads the current snapshot through pub_snap_acquire() and the
 *            atomic counters, so the MHD threads are never blocked for longer than that.
 * Ownership: struct pub_info and its strings are owned by the caller.
 * Errors:    none; allocation failure dies (xalloc).
 */
#include <stdlib.h>
#include <string.h>

#include "pub.h"
#include "pub_dnsupdate.h"
#include "pub_int.h"
#include "stats.h"
#include "xalloc.h"

/* The mode of a canonical policy text ("mode: enforce" line), STS_MODE_NONE if absent. */
static enum sts_mode
pub_info_mode(const char *body, size_t len)
{
	static const char key[] = "\nmode: ";
	const char *p = body, *end = body + len, *v, *eol;
	enum sts_mode m = STS_MODE_NONE;
	char word[16];
	size_t n;

	for (;;) {
		p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
		if (p == NULL)
			return m;
		v = p + sizeof(key) - 1;
		eol = memchr(v, '\n', (size_t)(end - v));
		n = (size_t)((eol != NULL ? eol : end) - v);
		if (n > 0 && v[n - 1] == '\r')
			n--;
		if (n < sizeof(word)) {
			memcpy(word, v, n);
			word[n] = '\0';
			if (sts_mode_parse(word, &m) == 0)
				return m;
		}
		p = v;
	}
}

struct pub_info *
pub_info_get(struct pub *pub)
{
	struct pub_info *info = xcalloc(1, sizeof(*info));
	struct pub_snap *s;
	size_t i;

	if (pub == NULL)
		return info;
	s = pub_snap_acquire(pub);
	if (s != NULL) {
		info->domains = xcalloc(s->n_doms > 0 ? s->n_doms : 1, sizeof(*info->domains));
		info->n_domains = s->n_doms;
		for (i = 0; i < s->n_doms; i++) {
			const struct pub_dom *d = &s->doms[i];
			struct pub_info_domain *o = &info->domains[i];

			o->domain = xstrdup(d->domain);
			o->id = xstrdup(d->id != NULL ? d->id : "");
			o->mode = d->body != NULL ? pub_info_mode(d->body, d->body_len)
			                          : STS_MODE_NONE;
			o->cert_not_after =
			        d->cert != NULL && d->cert->not_after > 0 ? d->cert->not_after : 0;
			o->cert_error = d->cert_error != NULL ? xstrdup(d->cert_error) : NULL;
		}
		pub_snap_unref(s);
	}
	return info;
}

struct pub_info *
pub_info_free(struct pub_info *info)
{
	size_t i;

	if (info == NULL)
		return NULL;
	for (i = 0; i < info->n_domains; i++) {
		free(info->domains[i].domain);
		free(info->domains[i].id);
		free(info->domains[i].cert_error);
	}
	free(info->domains);
	free(info);
	return NULL;
}

/* ---- metrics ---- */

/* The getters and each() below lock the connection list or take a snapshot reference:
 * they change no state the registry's const promises, hence the casts. */

static uint64_t
pub_stats_connections(const void *obj)
{
	struct httpd_counters hc;

	httpd_counters(((const struct pub *)obj)->httpd, &hc);
	return hc.open;
}

static uint64_t
pub_stats_timed_out(const void *obj)
{
	struct httpd_counters hc;

	httpd_counters(((const struct pub *)obj)->httpd, &hc);
	return hc.timed_out;
}

static uint64_t
pub_stats_domains(const void *obj)
{
	struct pub_snap *s = pub_snap_acquire((struct pub *)obj);
	uint64_t n = s != NULL ? s->n_doms : 0;

	if (s != NULL)
		pub_snap_unref(s);
	return n;
}

/* One sample per domain served now: the certificate's notAfter (domains with a known
 * one), or 1 labelled with the mode of its policy (mode set). */
static void
pub_stats_each_domain(const void *obj, struct stats_emit *e, int mode)
{
	struct pub_snap *s = pub_snap_acquire((struct pub *)obj);
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_doms; i++) {
		const struct pub_dom *d = &s->doms[i];

		if (mode)
			stats_emit(e, d->domain,
			           sts_mode_name(d->body != NULL
			                                 ? pub_info_mode(d->body, d->body_len)
			                                 : STS_MODE_NONE),
			           1);
		else if (d->cert != NULL && d->cert->not_after > 0)
			stats_emit(e, d->domain, NULL, (uint64_t)d->cert->not_after);
	}
	pub_snap_unref(s);
}

/* 1 per domain served now, 0 per domain whose certificate did not load. */
static void
pub_stats_published(const void *obj, struct stats_emit *e)
{
	struct pub_snap *s = pub_snap_acquire((struct pub *)obj);
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_doms; i++)
		stats_emit(e, s->doms[i].domain, NULL, s->doms[i].cert != NULL ? 1 : 0);
	pub_snap_unref(s);
}

static void
pub_stats_expiry(const void *obj, struct stats_emit *e)
{
	pub_stats_each_domain(obj, e, 0);
}

static void
pub_stats_mode(const void *obj, struct stats_emit *e)
{
	pub_stats_each_domain(obj, e, 1);
}

/* The counters are atomic_ulong, written by the MHD threads (STATS_ATOMIC). */
static const struct stats_field pub_responses[] = {
        {"policy", "policies_served", .off = offsetof(struct pub, n_policy_served)},
        {"not_found", "not_found", .off = offsetof(struct pub, n_not_found)},
        {"redirect", "redirects", .off = offsetof(struct pub, n_redirects)},
        {"acme", "acme_served", .off = offsetof(struct pub, n_acme_served)},
};

static const struct stats_metric pub_stats[] = {
        {"mtastsd_publisher_domains", STATS_GAUGE, "Policy domains published.",
         .get = pub_stats_domains},
        {"mtastsd_publisher_responses_total", STATS_COUNTER,
         "HTTP responses of the policy publisher by type.", .json = "", .label = "type",
         .flags = STATS_ATOMIC, .fields = pub_responses, .n = STATS_COUNT(pub_responses)},
        {"mtastsd_publisher_requests_total", STATS_COUNTER,
         "HTTP requests received by the policy publisher.", .json = "requests",
         .flags = STATS_ATOMIC, .off = offsetof(struct pub, n_requests)},
        {"mtastsd_publisher_connections", STATS_GAUGE,
         "Open connections of the publisher's HTTPS and HTTP listeners.", .json = "connections",
         .get = pub_stats_connections},
        {"mtastsd_publisher_connections_timed_out_total", STATS_COUNTER,
         "Publisher connections closed by publisher.connection_timeout, counted once each at "
         "close: cut by the request deadline (no complete request in time) or closed at or "
         "after that deadline (idle timeout: idle or silent clients).",
         .json = "connections_timed_out", .get = pub_stats_timed_out},
        {"mtastsd_certificate_expiry_timestamp_seconds", STATS_GAUGE,
         "notAfter of the certificate served for mta-sts.<domain>, Unix time.", .label = "domain",
         .each = pub_stats_expiry},
        {"mtastsd_published_policy_mode", STATS_GAUGE, "1 for the mode of each published policy.",
         .label = "domain", .label2 = "mode", .each = pub_stats_mode},
        {"mtastsd_publisher_domain_published", STATS_GAUGE,
         "1 for each configured domain served now, 0 when its certificate or key did not load "
         "(the domain is not published; the log and /status say why).",
         .label = "domain", .each = pub_stats_published},
};

void
pub_stats_add(const struct pub *pub, struct stats *st)
{
	stats_add(st, pub_stats, STATS_COUNT(pub_stats), pub);
	pub_dnsupd_stats_add(pub != NULL ? pub->dnsupd : NULL, st);
}
