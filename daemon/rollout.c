/*
 * daemon/rollout.c - the daemon's rollout of the published domains (docs/rollout.md)
 *
 * Interface: rollout_new(), rollout_reload(), rollout_free(), rollout_set_mxcheck(),
 *            rollout_apply(), rollout_set_apply(), rollout_refresh(), rollout_domains(),
 *            rollout_domain(), rollout_json(), rollout_stats_add() (rollout.h)
 * Design:    a timer every publisher.rollout_interval runs rollout_refresh(): per domain,
 *            the served policy against the state database's row (a change starts a new
 *            "since"), the evidence from the TLSRPT tables from the UTC day of "since" on,
 *            the MX check's last report, rollout_evaluate(); a changed recommendation is
 *            logged (notice), an alert is logged (warning, at most once per
 *            ROLLOUT_ALERT_LOG_MS per domain) and counted. Automatic steps
 *            (rollout_step()): stored, then served through the daemon's hook, then done
 *            when the _mta-sts TXT query (our own DNS client) returns the served id.
 * Threads:   main loop only; its own state database connection.
 * Errors:    state database failures are logged at most once per ROLLOUT_ALERT_LOG_MS and
 *            never stop the evaluation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <ldns/ldns.h>

#include "err.h"
#include "pub.h"
#include "sts_txt.h"
#include "rollout.h"
#include "statedb.h"
#include "xalloc.h"

struct rollout {
	struct loop *loop;
	const struct cfg *cfg;
	char *state_path;
	struct statedb *db; /* opened when needed; closed after an error */
	int loaded;         /* the rows were read since the last setup (or there is no database):
	                     * until then nothing is evaluated, stored, stepped or served */
	const struct mxcheck *mxcheck;
	struct rollout_domain *doms;
	size_t n_doms;
	struct loop_timer timer;
	struct log_rate db_log;
	struct dns_client *dns; /* the TXT checks of the automatic steps */
	rollout_apply_fn *apply_fn;
	void *apply_arg;
};

static int rollout_load(struct rollout *r);

/* The state database, or NULL (logged, rate-limited). */
static struct statedb *
rollout_db(struct rollout *r)
{
	char err[512];
	uint64_t quiet;
	int rc;

	if (r->db != NULL || r->state_path == NULL)
		return r->db;
	rc = statedb_open(r->state_path, &r->db, err, sizeof(err));
	if (rc < 0) {
		r->db = NULL;
		if (log_rate_due(&r->db_log, loop_now_ms(r->loop), ROLLOUT_ALERT_LOG_MS, &quiet))
			log_warn("rollout: state database %s: %s: %s; the rollout state is kept in "
			         "memory only",
			         r->state_path, err_str(rc), err);
	}
	return r->db;
}

static void
rollout_db_failed(struct rollout *r, const char *what, int rc)
{
	uint64_t quiet;

	if (log_rate_due(&r->db_log, loop_now_ms(r->loop), ROLLOUT_ALERT_LOG_MS, &quiet))
		log_warn("rollout: state database: %s: %s; going on from memory", what,
		         err_str(rc));
	r->db = statedb_close(r->db);
}

/* ---- the served policy and since when ---- */

static struct rollout_domain *
rollout_find(struct rollout *r, const char *domain)
{
	for (size_t i = 0; i < r->n_doms; i++)
		if (strcmp(r->doms[i].domain, domain) == 0)
			return &r->doms[i];
	return NULL;
}

/* A row of the state database: what was served, since when (rollout_new() and reload). */
static int
rollout_load_row(const struct statedb_rollout *ro, void *arg)
{
	struct rollout *r = arg;
	struct rollout_domain *d = rollout_find(r, ro->domain);
	enum sts_mode mode;

	if (d == NULL || ro->policy_id[0] == '\0' || sts_mode_parse(ro->mode, &mode) < 0)
		return 0;
	(void)snprintf(d->policy_id, sizeof(d->policy_id), "%s", ro->policy_id);
	d->served.mode = mode;
	d->served.max_age_s = ro->max_age_s;
	d->served.since = ro->since;
	d->served.prev_max_age_s = ro->prev_max_age_s;
	d->served.prev_until = ro->prev_until;
	d->stored = 1;
	if (d->automatic) {
		d->step = ro->step;
		d->step_serving = strcmp(ro->step_state, "serving") == 0;
		d->step_at = ro->step_at;
	}
	return 0;
}

/* Write d's row. 0, or -ENOENT (no state database), or ERR_STATEDB_* (logged). */
static int
rollout_store(struct rollout *r, struct rollout_domain *d)
{
	struct statedb *db = rollout_db(r);
	int rc;

	if (db == NULL)
		return -ENOENT;
	rc = statedb_rollout_put(db, &(struct statedb_rollout){
	                                     .domain = d->domain,
	                                     .policy_id = d->policy_id,
	                                     .mode = sts_mode_name(d->served.mode),
	                                     .max_age_s = d->served.max_age_s,
	                                     .since = d->served.since,
	                                     .prev_max_age_s = d->served.prev_max_age_s,
	                                     .prev_until = d->served.prev_until,
	                                     .step = d->step,
	                                     .step_state = d->step_serving ? "serving" : "done",
	                                     .step_at = d->step_at,
	                             });
	if (rc < 0)
		rollout_db_failed(r, "writing the rollout row", rc);
	else
		d->stored = 1;
	return rc;
}

/* What the publisher serves for d now (the configuration's policy) against what was
 * served: a new policy id starts a new "since"; a switch to mode none keeps the longest
 * max_age served before, for the withdrawal's end (RFC 8461 section 8.3). */
static void
rollout_served_update(struct rollout *r, struct rollout_domain *d, time_t now)
{
	const struct sts_policy *p = &d->cd->policy;
	char *id = pub_policy_id(d->cd);
	struct rollout_served old = d->served;
	int had = d->policy_id[0] != '\0';

	if (had && strcmp(id, d->policy_id) == 0 && old.mode == p->mode &&
	    old.max_age_s == p->max_age_s) {
		free(id);
		if (!d->stored)
			(void)rollout_store(r, d);
		return;
	}
	if (had)
		log_dom_notice(d->domain,
		               "rollout: now serving mode %s, max_age %u s, id %s (was %s, "
		               "%u s, id %s)",
		               sts_mode_name(p->mode), p->max_age_s, id, sts_mode_name(old.mode),
		               old.max_age_s, d->policy_id);
	(void)snprintf(d->policy_id, sizeof(d->policy_id), "%s", id);
	free(id);
	memset(&d->served, 0, sizeof(d->served));
	d->served.mode = p->mode;
	d->served.max_age_s = p->max_age_s;
	d->served.since = now;
	if (p->mode == STS_MODE_NONE && had) {
		if (old.mode != STS_MODE_NONE) {
			d->served.prev_max_age_s = old.max_age_s;
			d->served.prev_until = now + (time_t)old.max_age_s;
		} else { /* another "none": the withdrawal goes on */
			d->served.prev_max_age_s = old.prev_max_age_s;
			d->served.prev_until = old.prev_until;
		}
	}
	d->stored = 0;
	(void)rollout_store(r, d);
}

/* ---- the evidence ---- */

struct rollout_ev_arg {
	struct rollout_evidence *ev;
	int64_t last_day;
	char org[TLSRPT_STRING_MAX + 1];
};

static void
rollout_ev_type(struct rollout_evidence *ev, const char *name, uint64_t n)
{
	size_t i, k;

	for (i = 0; i < ev->n_types; i++) {
		if (strcmp(ev->types[i].name, name) == 0) {
			ev->types[i].sessions += n;
			goto sort;
		}
	}
	if (ev->n_types < ROLLOUT_TYPES_MAX) {
		i = ev->n_types++;
		(void)snprintf(ev->types[i].name, sizeof(ev->types[i].name), "%s", name);
		ev->types[i].sessions = n;
	} else {
		return; /* counted in failures, not named */
	}
sort:
	/* keep the largest first (insertion: a handful of types) */
	for (k = i; k > 0 && ev->types[k].sessions > ev->types[k - 1].sessions; k--) {
		struct rollout_type t = ev->types[k];

		ev->types[k] = ev->types[k - 1];
		ev->types[k - 1] = t;
	}
}

static int
rollout_ev_sum(const struct statedb_tlsrpt_sum *s, void *arg)
{
	struct rollout_ev_arg *a = arg;

	if (strcmp(s->policy_type, "sts") != 0)
		return 0;
	if (s->sessions > 0 && s->day != a->last_day) {
		a->ev->days++;
		a->last_day = s->day;
	}
	a->ev->sessions += s->sessions;
	if (strcmp(s->result, "success") != 0) {
		a->ev->failures += s->sessions;
		rollout_ev_type(a->ev, s->result, s->sessions);
	}
	return 0;
}

static int
rollout_ev_org(const struct statedb_tlsrpt_org *o, void *arg)
{
	struct rollout_ev_arg *a = arg;

	if (o->org == NULL || strcmp(o->org, a->org) == 0)
		return 0;
	(void)snprintf(a->org, sizeof(a->org), "%s", o->org);
	a->ev->orgs++;
	return 0;
}

static void
rollout_evidence_load(struct rollout *r, struct rollout_domain *d)
{
	struct statedb *db;
	struct rollout_ev_arg a = {.ev = &d->ev, .last_day = INT64_MIN};
	int rc;

	memset(&d->ev, 0, sizeof(d->ev));
	d->since_day = (int64_t)(d->served.since / 86400);
	db = rollout_db(r);
	if (db == NULL)
		return;
	rc = statedb_tlsrpt_sums(db, d->domain, d->since_day, rollout_ev_sum, &a);
	if (rc == 0)
		rc = statedb_tlsrpt_orgs(db, d->domain, d->since_day, rollout_ev_org, &a);
	if (rc < 0) {
		memset(&d->ev, 0, sizeof(d->ev));
		rollout_db_failed(r, "reading the TLS reports", rc);
	}
}

/* ---- evaluation ---- */

static void
rollout_rules_of(const struct cfg_domain *cd, struct rollout_rules *ret)
{
	const struct cfg_rollout *ro = &cd->rollout;
	size_t i;

	memset(ret, 0, sizeof(*ret));
	ret->min_days = ro->min_days;
	ret->min_sessions = ro->min_sessions;
	ret->min_orgs = ro->min_organisations;
	ret->day_s = ro->day_ms / 1000 > 0 ? ro->day_ms / 1000 : 1;
	for (i = 0; i < ro->n_steps && i < ROLLOUT_STEPS_MAX; i++)
		ret->steps_s[ret->n_steps++] = ro->steps_s[i];
	/* with target enforce, the configured max_age is the last step */
	if (ro->target == CFG_ROLLOUT_ENFORCE && ret->n_steps < ROLLOUT_STEPS_MAX &&
	    (ret->n_steps == 0 || ro->orig_max_age_s > ret->steps_s[ret->n_steps - 1]))
		ret->steps_s[ret->n_steps++] = ro->orig_max_age_s;
}

static const struct mx_report *
rollout_mx(const struct rollout *r, const char *domain, time_t *ret_at)
{
	const struct mx_report *rep;
	const char *name;

	*ret_at = 0;
	for (size_t i = 0; i < mxcheck_domains(r->mxcheck); i++) {
		rep = mxcheck_report(r->mxcheck, i, &name, ret_at);
		if (name != NULL && strcmp(name, domain) == 0)
			return rep;
	}
	*ret_at = 0;
	return NULL;
}

/* ---- automatic steps ---- */

_Static_assert(ROLLOUT_STEPS_MAX < 10, "a step number is one digit in an explicit id");

static void
rollout_txt_done(int err, const ldns_pkt *answer, int ad, void *arg)
{
	struct rollout_domain *d = arg;
	struct rollout *r = d->r;
	char qname[DOMAIN_BUF + 16], id[STS_ID_MAX + 1] = "", want[DOMAIN_BUF + 128];
	struct txt_rr *rrs = NULL;
	size_t n = 0;
	uint64_t quiet;

	(void)ad;
	d->txt_q = NULL;
	if (err == -ECANCELED)
		return;
	(void)snprintf(qname, sizeof(qname), "_mta-sts.%s", d->domain);
	if (err == 0 && dns_answer_txt(answer, qname, &rrs, &n) == 0 &&
	    sts_txt_parse(rrs, n, id) == 0)
		(void)snprintf(d->txt_id, sizeof(d->txt_id), "%s", id);
	else
		d->txt_id[0] = '\0';
	dns_txt_free(rrs, n);
	if (!d->step_serving)
		return;
	if (strcmp(d->txt_id, d->policy_id) == 0) {
		d->step_serving = 0;
		d->stored = 0;
		(void)rollout_store(r, d); /* not stored: checked again after a restart */
		log_dom_notice(d->domain,
		               "rollout: step %u done: the _mta-sts TXT record has id %s (mode %s, "
		               "max_age %u s)",
		               d->step, d->policy_id, sts_mode_name(d->served.mode),
		               d->served.max_age_s);
		return;
	}
	if (!log_rate_due(&d->txt_log, loop_now_ms(r->loop), ROLLOUT_ALERT_LOG_MS, &quiet))
		return;
	if (d->cd->dns_update != NULL)
		(void)snprintf(want, sizeof(want), "the DNS update (dns_update '%s') writes it",
		               d->cd->dns_update);
	else
		(void)snprintf(want, sizeof(want),
		               "publish: _mta-sts.%s. IN TXT \"v=STSv1; id=%s\"", d->domain,
		               d->policy_id);
	log_dom_notice(d->domain,
	               "rollout: step %u serves policy id %s; the _mta-sts TXT record has %s%s: "
	               "%s",
	               d->step, d->policy_id, d->txt_id[0] != '\0' ? "id " : "no id", d->txt_id,
	               want);
}

/* The step is done when the _mta-sts TXT record has the served id (RFC 8461 section 8.3:
 * the policy first, the record after). */
static void
rollout_txt_check(struct rollout *r, struct rollout_domain *d)
{
	char qname[DOMAIN_BUF + 16];

	if (d->txt_q != NULL || r->dns == NULL)
		return;
	(void)snprintf(qname, sizeof(qname), "_mta-sts.%s", d->domain);
	d->r = r;
	d->txt_q = dns_query_start(r->dns, qname, LDNS_RR_TYPE_TXT, 0, rollout_txt_done, d);
}

/* One step up: stored first (a restart resumes it), then served (the hook reloads the
 * publisher: a new policy id; the TXT record follows). */
static void
rollout_step(struct rollout *r, struct rollout_domain *d, time_t now)
{
	char age[32];

	uint64_t quiet;
	int rc;

	d->step++;
	d->step_serving = 1;
	d->step_at = now;
	d->stored = 0;
	rc = rollout_store(r, d);
	if (rc < 0) {
		/* a step the state database does not hold would be undone by a restart:
		 * the policy would go down again. Not now; the next evaluation tries again. */
		d->step--;
		d->step_serving = 0;
		if (log_rate_due(&d->txt_log, loop_now_ms(r->loop), ROLLOUT_ALERT_LOG_MS, &quiet))
			log_dom_warn(
			        d->domain,
			        "rollout: step %u not taken: the state database cannot keep it "
			        "(%s)",
			        d->step + 1, rc == -ENOENT ? "none" : err_str(rc));
		return;
	}
	d->txt_log = (struct log_rate){0};
	log_dom_notice(d->domain, "rollout: step %u of %zu: %s; serving mode enforce, max_age %s",
	               d->step, d->rules.n_steps, d->rec.reason,
	               rollout_fmt_age(d->rules.steps_s[d->step - 1], age, sizeof(age)));
	if (r->apply_fn != NULL)
		r->apply_fn(r->apply_arg);
	/* what is served now: a new id, a new "since" */
	rollout_served_update(r, d, now);
	rollout_txt_check(r, d);
}

static void
rollout_eval_domain(struct rollout *r, struct rollout_domain *d, time_t now)
{
	struct rollout_rec prev = d->rec;
	uint64_t quiet;

	rollout_served_update(r, d, now);
	rollout_evidence_load(r, d);
	rollout_rules_of(d->cd, &d->rules);
	d->mx = rollout_mx(r, d->domain, &d->mx_at);
	if (d->mx != NULL && d->mx_at < d->served.since)
		/* a check from before the policy served now: a reload may have changed the mx
		 * patterns it was judged against (docs/rollout.md "Evidence") */
		d->mx = NULL;
	rollout_evaluate(&d->rules, &d->served, &d->ev, d->mx, now, &d->rec);
	if (d->step_serving && !d->rec.alert) {
		/* the step is served, its TXT record not seen yet: not done, whatever the
		 * evidence says (monitoring keyed on the advice must not see "done" early) */
		d->rec.advice = ROLLOUT_HOLD;
		d->rec.next_mode = d->served.mode;
		d->rec.next_max_age_s = d->served.max_age_s;
		(void)snprintf(d->rec.reason, sizeof(d->rec.reason),
		               "step %u of %zu served: waiting for the _mta-sts TXT record to have "
		               "id %s",
		               d->step, d->rules.n_steps, d->policy_id);
	}
	if (d->evaluated_at == 0 || prev.advice != d->rec.advice ||
	    strcmp(prev.reason, d->rec.reason) != 0) {
		if (!d->rec.alert)
			log_dom_notice(d->domain, "rollout: %s", d->rec.reason);
	}
	d->evaluated_at = now;
	if (d->rec.alert) {
		d->alerts++;
		if (log_rate_due(&d->alert_log, loop_now_ms(r->loop), ROLLOUT_ALERT_LOG_MS, &quiet))
			log_dom_warn(d->domain, "rollout: %s", d->rec.reason);
		return; /* never a step, never downwards */
	}
	if (d->step_serving)
		rollout_txt_check(r, d);
	else if (d->automatic && d->step < d->rules.n_steps &&
	         (d->rec.advice == ROLLOUT_READY_ENFORCE || d->rec.advice == ROLLOUT_RAISE_MAX_AGE))
		rollout_step(r, d, now);
}

void
rollout_refresh(struct rollout *r)
{
	time_t now;

	if (r == NULL)
		return;
	if (!r->loaded) {
		if (rollout_load(r) < 0)
			return; /* the steps reached are not known: nothing moves */
		if (r->apply_fn != NULL)
			r->apply_fn(
			        r->apply_arg); /* serve them (and release the publisher's hold) */
	}
	now = loop_wall_s(r->loop);
	for (size_t i = 0; i < r->n_doms; i++)
		rollout_eval_domain(r, &r->doms[i], now);
}

static void
rollout_tick(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct rollout *r = arg;

	(void)t;
	rollout_refresh(r);
	loop_timer_start(loop, &r->timer, r->cfg->publisher.rollout_interval_ms, rollout_tick, r);
}

/* ---- lifecycle ---- */

/* Read the rows (the steps reached) once per setup. 0, or the error (logged): a database
 * that is locked or unreadable now is read again at the next evaluation, and meanwhile
 * nothing is evaluated or written, so a start beside a lock never serves or stores a
 * step below the one reached (the publisher holds those domains: pub_release_held()). */
static int
rollout_load(struct rollout *r)
{
	struct statedb *db;
	size_t i;
	int rc;

	if (r->loaded)
		return 0;
	db = rollout_db(r);
	if (db == NULL)
		return -ENOENT;
	rc = statedb_rollout_load(db, rollout_load_row, r);
	if (rc < 0) {
		rollout_db_failed(r,
		                  "reading the rollout rows (the steps reached; read again at "
		                  "the next evaluation, the automatic domains wait)",
		                  rc);
		return rc;
	}
	r->loaded = 1;
	for (i = 0; i < r->n_doms; i++)
		if (r->doms[i].automatic && !r->doms[i].stored && r->doms[i].policy_id[0] == '\0')
			log_dom_notice(r->doms[i].domain,
			               "rollout: no step stored for it (a new domain, or a new or "
			               "replaced state database): it starts at the configuration's "
			               "mode testing");
	return 0;
}

static void
rollout_setup(struct rollout *r, const struct cfg *cfg, const char *state_path)
{
	struct rollout_domain *old = r->doms;
	size_t n_old = r->n_doms, i, k;
	int rc;

	for (i = 0; i < n_old; i++)
		if (old[i].txt_q != NULL)
			dns_query_cancel(old[i].txt_q); /* its callback clears txt_q */
	r->dns = dns_client_free(r->dns);
	rc = dns_client_new(r->loop, &cfg->resolver, &r->dns);
	if (rc < 0) {
		r->dns = NULL;
		log_warn("rollout: no DNS client (%s): automatic steps wait for their TXT record "
		         "without seeing it",
		         err_str(rc));
	}

	r->cfg = cfg;
	free(r->state_path);
	r->state_path = state_path != NULL ? xstrdup(state_path) : NULL;
	r->db = statedb_close(r->db);
	r->n_doms = cfg->publisher.n_domains;
	r->doms = xcalloc(r->n_doms > 0 ? r->n_doms : 1, sizeof(*r->doms));
	for (i = 0; i < r->n_doms; i++) {
		struct rollout_domain *d = &r->doms[i];

		d->cd = &cfg->publisher.domains[i];
		(void)snprintf(d->domain, sizeof(d->domain), "%s", d->cd->domain);
		for (k = 0; k < n_old; k++) { /* keep what was evaluated and its counters */
			if (strcmp(old[k].domain, d->domain) == 0) {
				*d = old[k];
				d->cd = &cfg->publisher.domains[i];
				d->mx = NULL;
				d->txt_q = NULL;
				break;
			}
		}
		d->r = r;
		d->automatic = d->cd->rollout.target == CFG_ROLLOUT_ENFORCE &&
		               d->cd->rollout.orig_mode == STS_MODE_TESTING;
		if (!d->automatic) {
			d->step = 0;
			d->step_serving = 0;
		}
	}
	free(old);
	r->loaded = r->state_path == NULL;
	(void)rollout_load(r);
}

int
rollout_new(struct loop *loop, struct cfg *cfg, const char *state_path, struct rollout **ret_r,
            int *ret_changed)
{
	struct rollout *r;
	int changed;

	*ret_r = NULL;
	if (ret_changed != NULL)
		*ret_changed = 0;
	if (cfg->publisher.n_domains == 0)
		return 0;
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	rollout_setup(r, cfg, state_path);
	changed = rollout_apply(r, cfg);
	if (ret_changed != NULL)
		*ret_changed = changed;
	rollout_refresh(r);
	loop_timer_start(loop, &r->timer, cfg->publisher.rollout_interval_ms, rollout_tick, r);
	*ret_r = r;
	return 0;
}

int
rollout_reload(struct rollout **rp, struct loop *loop, struct cfg *cfg, const char *state_path,
               int *ret_changed)
{
	struct rollout *r = *rp;
	int changed;

	if (ret_changed != NULL)
		*ret_changed = 0;
	if (cfg->publisher.n_domains == 0) {
		*rp = rollout_free(r);
		return 0;
	}
	if (r == NULL)
		return rollout_new(loop, cfg, state_path, rp, ret_changed);
	rollout_setup(r, cfg, state_path);
	changed = rollout_apply(r, cfg);
	if (ret_changed != NULL)
		*ret_changed = changed;
	rollout_refresh(r);
	loop_timer_start(loop, &r->timer, cfg->publisher.rollout_interval_ms, rollout_tick, r);
	return 0;
}

struct rollout *
rollout_free(struct rollout *r)
{
	if (r == NULL)
		return NULL;
	loop_timer_stop(r->loop, &r->timer);
	r->dns = dns_client_free(r->dns); /* the TXT queries' callbacks run (-ECANCELED) */
	r->db = statedb_close(r->db);
	free(r->state_path);
	free(r->doms);
	free(r);
	return NULL;
}

void
rollout_set_apply(struct rollout *r, rollout_apply_fn *fn, void *arg)
{
	if (r == NULL)
		return;
	r->apply_fn = fn;
	r->apply_arg = arg;
}

/* The policy of step k for cd into mode, max_age, id (NULL: derived). */
static int
rollout_apply_one(struct cfg_domain *cd, const struct rollout_domain *d)
{
	const struct cfg_rollout *ro = &cd->rollout;
	struct rollout_rules rules;
	enum sts_mode mode = (enum sts_mode)ro->orig_mode;
	uint32_t max_age = ro->orig_max_age_s;
	unsigned step = 0;
	char id[64] = ""; /* at most STS_ID_MAX: a step is one digit (ROLLOUT_STEPS_MAX < 10) */
	int changed = 0;

	if (d != NULL && d->automatic && d->step > 0) {
		rollout_rules_of(cd, &rules);
		step = d->step <= rules.n_steps ? d->step : (unsigned)rules.n_steps;
	}
	if (step > 0) {
		mode = STS_MODE_ENFORCE;
		max_age = rules.steps_s[step - 1];
	}
	if (ro->orig_id[0] != '\0') {
		if (step > 0)
			(void)snprintf(id, sizeof(id), "%.*ss%u", STS_ID_MAX - 2, ro->orig_id,
			               step);
		else
			(void)snprintf(id, sizeof(id), "%s", ro->orig_id);
	}
	if (cd->policy.mode != mode || cd->policy.max_age_s != max_age) {
		cd->policy.mode = mode;
		cd->policy.max_age_s = max_age;
		changed = 1;
	}
	if ((cd->id == NULL) != (id[0] == '\0') || (cd->id != NULL && strcmp(cd->id, id) != 0)) {
		free(cd->id);
		cd->id = id[0] != '\0' ? xstrdup(id) : NULL;
		changed = 1;
	}
	return changed;
}

int
rollout_apply(const struct rollout *r, struct cfg *cfg)
{
	const struct rollout_domain *d;
	int changed = 0;
	size_t i, k;

	for (i = 0; i < cfg->publisher.n_domains; i++) {
		struct cfg_domain *cd = &cfg->publisher.domains[i];

		d = NULL;
		for (k = 0; k < rollout_domains(r); k++)
			if (strcmp(r->doms[k].domain, cd->domain) == 0)
				d = &r->doms[k];
		changed |= rollout_apply_one(cd, d);
	}
	return changed;
}

void
rollout_set_mxcheck(struct rollout *r, const struct mxcheck *m)
{
	if (r == NULL)
		return;
	r->mxcheck = m;
	for (size_t i = 0; i < r->n_doms; i++)
		r->doms[i].mx = NULL;
}

int
rollout_loaded(const struct rollout *r)
{
	return r == NULL || r->loaded;
}

size_t
rollout_domains(const struct rollout *r)
{
	return r != NULL ? r->n_doms : 0;
}

const struct rollout_domain *
rollout_domain(const struct rollout *r, size_t i)
{
	return r != NULL && i < r->n_doms ? &r->doms[i] : NULL;
}

/* ---- JSON ---- */

static struct json_object *
rollout_jtime(time_t t)
{
	char buf[32];
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return json_object_new_string(buf);
}

static void
jadd(struct json_object *o, const char *k, struct json_object *v)
{
	(void)json_object_object_add(o, k, v);
}

static struct json_object *
rollout_json_domain(const struct rollout_domain *d)
{
	struct json_object *o = json_object_new_object(), *ev, *types, *mx, *rec, *rules, *steps;
	time_t day = (time_t)(d->since_day * 86400);
	char buf[32];
	size_t i, ok = 0;

	jadd(o, "mode", json_object_new_string(sts_mode_name(d->served.mode)));
	jadd(o, "max_age", json_object_new_int64((int64_t)d->served.max_age_s));
	jadd(o, "policy_id", json_object_new_string(d->policy_id));
	jadd(o, "since", rollout_jtime(d->served.since));
	jadd(o, "target",
	     json_object_new_string(d->cd->rollout.target == CFG_ROLLOUT_ENFORCE ? "enforce"
	                                                                         : "advise"));

	rules = json_object_new_object();
	jadd(rules, "min_days", json_object_new_int64(d->rules.min_days));
	jadd(rules, "min_sessions", json_object_new_int64((int64_t)d->rules.min_sessions));
	jadd(rules, "min_organisations", json_object_new_int64(d->rules.min_orgs));
	steps = json_object_new_array();
	for (i = 0; i < d->rules.n_steps; i++)
		(void)json_object_array_add(steps, json_object_new_string(rollout_fmt_age(
		                                           d->rules.steps_s[i], buf, sizeof(buf))));
	jadd(rules, "max_age_steps", steps);
	jadd(o, "rules", rules);

	ev = json_object_new_object();
	(void)strftime(buf, sizeof(buf), "%Y-%m-%d", gmtime(&day));
	jadd(ev, "since_day", json_object_new_string(buf));
	jadd(ev, "days", json_object_new_int64(d->ev.days));
	jadd(ev, "sessions", json_object_new_int64((int64_t)d->ev.sessions));
	jadd(ev, "failures", json_object_new_int64((int64_t)d->ev.failures));
	types = json_object_new_object();
	for (i = 0; i < d->ev.n_types; i++)
		jadd(types, d->ev.types[i].name,
		     json_object_new_int64((int64_t)d->ev.types[i].sessions));
	jadd(ev, "failure_types", types);
	jadd(ev, "organisations", json_object_new_int64(d->ev.orgs));
	jadd(o, "evidence", ev);

	if (d->mx != NULL) {
		mx = json_object_new_object();
		jadd(mx, "at", rollout_jtime(d->mx_at));
		for (i = 0; i < d->mx->n_hosts; i++)
			ok += mx_report_host_ok(&d->mx->hosts[i]) != 0;
		jadd(mx, "ok", json_object_new_boolean(mx_report_ok(d->mx)));
		jadd(mx, "hosts", json_object_new_int64((int64_t)d->mx->n_hosts));
		jadd(mx, "verified", json_object_new_int64((int64_t)ok));
		jadd(o, "mx_check", mx);
	} else {
		jadd(o, "mx_check", NULL);
	}

	rec = json_object_new_object();
	jadd(rec, "advice", json_object_new_string(rollout_advice_name(d->rec.advice)));
	jadd(rec, "reason", json_object_new_string(d->rec.reason));
	jadd(rec, "alert", json_object_new_boolean(d->rec.alert));
	jadd(rec, "next_mode", json_object_new_string(sts_mode_name(d->rec.next_mode)));
	jadd(rec, "next_max_age", json_object_new_int64((int64_t)d->rec.next_max_age_s));
	if (d->rec.withdraw_end > 0)
		jadd(rec, "withdraw_end", rollout_jtime(d->rec.withdraw_end));
	jadd(rec, "evaluated_at", rollout_jtime(d->evaluated_at));
	jadd(o, "recommendation", rec);
	jadd(o, "alerts", json_object_new_int64((int64_t)d->alerts));
	jadd(o, "automatic", json_object_new_boolean(d->automatic));
	if (d->automatic) {
		jadd(o, "step", json_object_new_int64(d->step));
		jadd(o, "steps", json_object_new_int64((int64_t)d->rules.n_steps));
		jadd(o, "step_state", json_object_new_string(d->step_serving ? "serving" : "done"));
		jadd(o, "step_at", rollout_jtime(d->step_at));
		jadd(o, "txt_id", d->txt_id[0] != '\0' ? json_object_new_string(d->txt_id) : NULL);
	}
	return o;
}

struct json_object *
rollout_json(const struct rollout *r, const char *domain)
{
	struct json_object *o, *doms;
	size_t i, n = 0;

	o = json_object_new_object();
	doms = json_object_new_object();
	for (i = 0; i < rollout_domains(r); i++) {
		if (domain != NULL && strcmp(domain, r->doms[i].domain) != 0)
			continue;
		jadd(doms, r->doms[i].domain, rollout_json_domain(&r->doms[i]));
		n++;
	}
	if (domain != NULL && n == 0) {
		json_object_put(doms);
		json_object_put(o);
		return NULL;
	}
	jadd(o, "domains", doms);
	return o;
}

/* ---- metrics ---- */

static void
rollout_stats_alert(const void *obj, struct stats_emit *e)
{
	const struct rollout *r = obj;

	for (size_t i = 0; i < r->n_doms; i++)
		if (r->doms[i].evaluated_at != 0)
			stats_emit(e, r->doms[i].domain, NULL, (uint64_t)r->doms[i].rec.alert);
}

static void
rollout_stats_alerts(const void *obj, struct stats_emit *e)
{
	const struct rollout *r = obj;

	for (size_t i = 0; i < r->n_doms; i++)
		stats_emit(e, r->doms[i].domain, NULL, r->doms[i].alerts);
}

static void
rollout_stats_advice(const void *obj, struct stats_emit *e)
{
	const struct rollout *r = obj;

	for (size_t i = 0; i < r->n_doms; i++)
		if (r->doms[i].evaluated_at != 0)
			stats_emit(e, r->doms[i].domain, rollout_advice_name(r->doms[i].rec.advice),
			           1);
}

static const struct stats_metric rollout_stats[] = {
        {"mtastsd_rollout_alert", STATS_GAUGE,
         "1 when the last rollout evaluation of the domain raised an alert (failures in "
         "enforce: reports or the MX check; never lowered automatically), else 0.",
         .json = "rollout.alert", .label = "domain", .each = rollout_stats_alert},
        {"mtastsd_rollout_alert_evaluations_total", STATS_COUNTER,
         "Rollout evaluations of the domain that raised an alert.",
         .json = "rollout.alert_evaluations", .label = "domain", .each = rollout_stats_alerts},
        {"mtastsd_rollout_recommendation", STATS_GAUGE,
         "The rollout recommendation of the domain (1 for the current one: stay_testing, "
         "ready_enforce, hold, raise_max_age, done, alert, withdrawing, withdrawn).",
         .json = "rollout.recommendation", .label = "domain", .label2 = "advice",
         .each = rollout_stats_advice},
};

void
rollout_stats_add(const struct rollout *r, struct stats *st)
{
	if (r != NULL)
		stats_add(st, rollout_stats, STATS_COUNT(rollout_stats), r);
}
