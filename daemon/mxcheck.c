/*
 * daemon/mxcheck.c - the daemon's periodic MX check of the published domains
 *
 * Interface: see mxcheck.h
 * Design:    one DNS client and one prober (resolver/mx_probe.h) of our own, built from
 *            cfg->resolver. A run walks publisher.domains in order and keeps at most
 *            mx_check_concurrency probes in flight; each report replaces the domain's last
 *            one. When the last probe of a run is done the next run is armed with a
 *            jittered interval. A reload rebuilds everything but the reports of the
 *            domains that stay (mxcheck_reload()).
 * Threads:   main loop only.
 * Ownership: see mxcheck.h.
 * Errors:    a probe's failure is its report; "enforce would lose mail" is logged as a
 *            warning when a domain's verdict turns bad, at info when it turns good.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dns_client.h"
#include "err.h"
#include "log.h"
#include "mtasts_limits.h"
#include "mxcheck.h"
#include "xalloc.h"

struct mxcheck_dom {
	struct mxcheck *m;
	char domain[DOMAIN_BUF];
	const struct cfg_domain *d; /* in m->cfg */
	struct mx_probe *probe;     /* in flight, or NULL */
	struct mx_report *last;     /* owned, NULL before the first report */
	int last_ok;                /* mx_report_ok(last), -1 before the first */
};

struct mxcheck {
	struct loop *loop;
	const struct cfg *cfg;
	struct dns_client *dns;
	struct mx_prober *prober;
	struct mxcheck_dom *doms;
	size_t n_doms;
	size_t next;      /* the next domain of the run to start */
	unsigned running; /* probes in flight */
	int in_run;
	int freeing; /* cancelled probes' reports are dropped */
	struct loop_timer timer;
	uint64_t runs; /* completed runs */
};

static uint64_t
mxcheck_rand(uint64_t span)
{
	uint64_t r = 0;

	if (span == 0)
		return 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint64_t)random();
	return r % span;
}

static void mxcheck_fill(struct mxcheck *m);
static void mxcheck_run_timer(struct loop *loop, struct loop_timer *t, void *arg);

static void
mxcheck_schedule(struct mxcheck *m, int first)
{
	uint64_t iv = m->cfg->publisher.mx_check_interval_ms, ms, span;

	if (first) {
		span = (iv < MXCHECK_FIRST_MAX_MS ? iv : MXCHECK_FIRST_MAX_MS) / 2;
		ms = span + mxcheck_rand(span + 1);
	} else {
		span = iv / 100 * MXCHECK_JITTER_PCT;
		ms = iv - span + mxcheck_rand(2 * span + 1);
	}
	loop_timer_start(m->loop, &m->timer, ms, mxcheck_run_timer, m);
}

static void
mxcheck_log(struct mxcheck_dom *md, const struct mx_report *rep)
{
	char *bad = NULL;
	size_t i, n_bad = 0, bad_len = 0;
	FILE *f;
	int ok = mx_report_ok(rep);

	f = open_memstream(&bad, &bad_len);
	for (i = 0; f != NULL && i < rep->n_hosts; i++) {
		const struct mx_host *h = &rep->hosts[i];

		if (mx_report_host_ok(h))
			continue;
		(void)fprintf(f, "%s%s (%s: %s)", n_bad > 0 ? ", " : "", h->name,
		              mx_result_name(h->result), h->error);
		n_bad++;
	}
	if (f != NULL)
		(void)fclose(f);
	if (!ok && md->last_ok != 0) {
		if (rep->err != 0)
			log_dom_warn(
			        md->domain,
			        "MX check: MX lookup failed: %s, checking again in the next run",
			        err_str(rep->err));
		else
			log_dom_warn(md->domain,
			             "MX check: enforce would lose mail at %zu of %zu MX hosts: %s",
			             n_bad, rep->n_hosts, bad != NULL ? bad : "?");
	} else if (ok && md->last_ok != 1) {
		log_dom_info(md->domain, "MX check: every MX host (%zu) is safe for enforce",
		             rep->n_hosts);
	}
	free(bad);
	md->last_ok = ok;
}

static void
mxcheck_probe_done(struct mx_report *rep, void *arg)
{
	struct mxcheck_dom *md = arg;
	struct mxcheck *m = md->m;

	md->probe = NULL;
	m->running--;
	if (rep->err == -ECANCELED) {
		(void)mx_report_free(rep);
		return;
	}
	mxcheck_log(md, rep);
	(void)mx_report_free(md->last);
	md->last = rep;
	if (!m->freeing)
		mxcheck_fill(m);
}

/* Start probes up to the concurrency; at the end of the run arm the next one. */
static void
mxcheck_fill(struct mxcheck *m)
{
	unsigned conc = m->cfg->publisher.mx_check_concurrency;

	if (!m->in_run)
		return;
	while (m->next < m->n_doms && m->running < (conc > 0 ? conc : 1)) {
		struct mxcheck_dom *md = &m->doms[m->next++];

		md->probe = mx_probe_start(m->prober, md->domain, &md->d->policy,
		                           mxcheck_probe_done, md);
		if (md->probe != NULL)
			m->running++;
	}
	if (m->next >= m->n_doms && m->running == 0) {
		m->in_run = 0;
		m->runs++;
		log_debug("MX check: run %llu done (%zu domains)", (unsigned long long)m->runs,
		          m->n_doms);
		mx_prober_idle(m->prober); /* the trust anchors, until the next run */
		mxcheck_schedule(m, 0);
	}
}

static void
mxcheck_run_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct mxcheck *m = arg;

	(void)loop;
	(void)t;
	(void)mxcheck_run_now(m);
}

int
mxcheck_run_now(struct mxcheck *m)
{
	if (m == NULL)
		return -ENOENT;
	if (m->in_run)
		return -EBUSY;
	loop_timer_stop(m->loop, &m->timer);
	m->in_run = 1;
	m->next = 0;
	mxcheck_fill(m);
	return 0;
}

static int
mxcheck_on(const struct cfg *cfg)
{
	return cfg->publisher.mx_check && cfg->publisher.mx_check_interval_ms > 0 &&
	       cfg->publisher.n_domains > 0;
}

unsigned
mxcheck_fd_want(const struct cfg *cfg)
{
	if (cfg->publisher.n_domains == 0)
		return 0;
	return cfg->publisher.mx_check_concurrency * MX_PROBE_HOSTS_MAX * FD_PER_MX_HOST;
}

int
mxcheck_new(struct loop *loop, const struct cfg *cfg, struct mxcheck **ret_m)
{
	const struct cfg_publisher *p = &cfg->publisher;
	struct mx_probe_opts o = {
	        .port = (uint16_t)p->mx_check_port,
	        .ca_file = cfg->resolver.ca_file,
	        .step_timeout_ms = p->mx_check_step_timeout_ms,
	        .host_timeout_ms = p->mx_check_timeout_ms,
	};
	struct mxcheck *m;
	size_t i;
	int r;

	*ret_m = NULL;
	if (!mxcheck_on(cfg))
		return 0;
	m = xcalloc(1, sizeof(*m));
	m->loop = loop;
	m->cfg = cfg;
	r = dns_client_new(loop, &cfg->resolver, &m->dns);
	if (r < 0) {
		free(m);
		return r;
	}
	r = mx_prober_new(loop, m->dns, &o, &m->prober);
	if (r < 0) {
		m->dns = dns_client_free(m->dns);
		free(m);
		return r;
	}
	mx_prober_idle(m->prober); /* checked by mx_prober_new(); read again at the first run */
	m->n_doms = p->n_domains;
	m->doms = xcalloc(m->n_doms, sizeof(*m->doms));
	for (i = 0; i < m->n_doms; i++) {
		m->doms[i].m = m;
		m->doms[i].d = &p->domains[i];
		m->doms[i].last_ok = -1;
		(void)snprintf(m->doms[i].domain, sizeof(m->doms[i].domain), "%s",
		               p->domains[i].domain);
	}
	mxcheck_schedule(m, 1);
	*ret_m = m;
	return 0;
}

struct mxcheck *
mxcheck_free(struct mxcheck *m)
{
	size_t i;

	if (m == NULL)
		return NULL;
	m->freeing = 1;
	m->in_run = 0;
	loop_timer_stop(m->loop, &m->timer);
	m->prober = mx_prober_free(m->prober); /* cancels: the callbacks drop the reports */
	m->dns = dns_client_free(m->dns);
	for (i = 0; i < m->n_doms; i++)
		(void)mx_report_free(m->doms[i].last);
	free(m->doms);
	free(m);
	return NULL;
}

int
mxcheck_reload(struct mxcheck **mp, struct loop *loop, const struct cfg *cfg)
{
	struct mxcheck *old = *mp, *m = NULL;
	size_t i, j;
	int r;

	r = mxcheck_new(loop, cfg, &m);
	if (m != NULL && old != NULL) {
		for (i = 0; i < m->n_doms; i++) {
			for (j = 0; j < old->n_doms; j++) {
				if (strcmp(m->doms[i].domain, old->doms[j].domain) != 0)
					continue;
				m->doms[i].last = old->doms[j].last;
				m->doms[i].last_ok = old->doms[j].last_ok;
				old->doms[j].last = NULL;
				break;
			}
		}
		m->runs = old->runs;
	}
	*mp = m;
	(void)mxcheck_free(old);
	return r;
}

size_t
mxcheck_domains(const struct mxcheck *m)
{
	return m != NULL ? m->n_doms : 0;
}

const struct mx_report *
mxcheck_report(const struct mxcheck *m, size_t i, const char **ret_domain, time_t *ret_at)
{
	if (m == NULL || i >= m->n_doms) {
		*ret_domain = NULL;
		*ret_at = 0;
		return NULL;
	}
	*ret_domain = m->doms[i].domain;
	*ret_at = m->doms[i].last != NULL ? m->doms[i].last->started : 0;
	return m->doms[i].last;
}

/* ---- metrics ---- */

static void
mxcheck_stats_hosts(const void *obj, struct stats_emit *e)
{
	const struct mxcheck *m = obj;
	unsigned count[MX_RESULT_N];
	size_t i, k;

	for (i = 0; i < m->n_doms; i++) {
		const struct mx_report *rep = m->doms[i].last;

		if (rep == NULL)
			continue;
		memset(count, 0, sizeof(count));
		for (k = 0; k < rep->n_hosts; k++)
			count[rep->hosts[k].result]++;
		for (k = 0; k < MX_RESULT_N; k++)
			stats_emit(e, m->doms[i].domain, mx_result_name((enum mx_result)k),
			           count[k]);
	}
}

static void
mxcheck_stats_ok(const void *obj, struct stats_emit *e)
{
	const struct mxcheck *m = obj;
	size_t i;

	for (i = 0; i < m->n_doms; i++)
		if (m->doms[i].last != NULL)
			stats_emit(e, m->doms[i].domain, NULL, m->doms[i].last_ok == 1);
}

static void
mxcheck_stats_last(const void *obj, struct stats_emit *e)
{
	const struct mxcheck *m = obj;
	size_t i;

	for (i = 0; i < m->n_doms; i++)
		if (m->doms[i].last != NULL)
			stats_emit(e, m->doms[i].domain, NULL, (uint64_t)m->doms[i].last->started);
}

static const struct stats_metric mxcheck_stats[] = {
        {"mtastsd_mx_check_hosts", STATS_GAUGE,
         "MX hosts of each published domain by the result of its last MX check (ok, "
         "no_address, unreachable, smtp_error, no_starttls, tls_error, cert_invalid, "
         "name_mismatch, not_covered).",
         .json = "mx_check.hosts", .label = "domain", .label2 = "result",
         .each = mxcheck_stats_hosts},
        {"mtastsd_mx_check_ok", STATS_GAUGE,
         "1 when the last MX check of the domain found every MX host safe for enforce "
         "(STARTTLS, a verified certificate an mx pattern matches), else 0.",
         .json = "mx_check.ok", .label = "domain", .each = mxcheck_stats_ok},
        {"mtastsd_mx_check_last_run_timestamp_seconds", STATS_GAUGE,
         "Start of the last MX check of the domain, Unix time.", .json = "mx_check.last_run",
         .label = "domain", .each = mxcheck_stats_last},
        {"mtastsd_mx_check_runs_total", STATS_COUNTER,
         "MX check runs completed over every published domain.", .json = "mx_check.runs",
         .off = offsetof(struct mxcheck, runs)},
};

void
mxcheck_stats_add(const struct mxcheck *m, struct stats *st)
{
	stats_add(st, mxcheck_stats, STATS_COUNT(mxcheck_stats), m);
}
