/*
 * daemon/rollout.h - the daemon's rollout of the published domains (docs/rollout.md)
 *
 * For each domain of publisher.domains: what is served (mode, max_age, policy id) and since
 * when, kept in the state database (table rollout, common/statedb.h) so that "since" and the
 * step reached survive restarts; the TLSRPT evidence about it from the UTC day it began
 * (tables tlsrpt_*), the last MX check (daemon/mxcheck.h), and the recommendation of
 * rollout_eval.h. Evaluated every publisher.rollout_interval and when asked (GET /rollout,
 * the status page): an alert (failures in enforce) is logged, rate-limited, and counted
 * in a metric; nothing is ever lowered.
 *
 * Interface: rollout_new(), rollout_reload(), rollout_free(), rollout_set_mxcheck(),
 *            rollout_loaded(),
 *            rollout_apply(), rollout_set_apply(), rollout_refresh(), rollout_domains(),
 *            rollout_domain(), rollout_json(), rollout_stats_add()
 * Steps:     with rollout.target "enforce", a domain configured in testing moves one step
 *            when the recommendation says so (ready for enforce, raise max_age): the step
 *            is stored ("serving"), the hook makes the publisher serve it (new policy id;
 *            with dns_update the TXT record follows, RFC 8461 section 8.3 order; without,
 *            the record to publish is logged), and the step is done when the _mta-sts TXT
 *            record in DNS has its id. Never downwards.
 * Threads:   main loop only; its own state database connection (opened when needed).
 * Ownership: struct rollout borrows the cfg until the next rollout_reload() or its free,
 *            and the mxcheck until the next rollout_set_mxcheck().
 * Errors:    a state database that cannot be read or written is logged (rate-limited):
 *            "since" is then the daemon's start, and the evaluation goes on.
 */
#ifndef MTASTSD_ROLLOUT_H
#define MTASTSD_ROLLOUT_H

#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "dns_client.h"
#include "log.h"
#include "loop.h"
#include "mxcheck.h"
#include "rollout_eval.h"
#include "stats.h"

struct json_object;
struct rollout;

/* One domain as last evaluated (borrowed from the struct rollout, valid until the next
 * rollout_refresh(), rollout_reload() or rollout_free()). */
struct rollout_domain {
	char domain[DOMAIN_BUF];
	const struct cfg_domain *cd; /* in the cfg */
	char policy_id[STS_ID_MAX + 1];
	struct rollout_served served;
	struct rollout_rules rules;
	int64_t since_day; /* the UTC day the evidence is counted from */
	struct rollout_evidence ev;
	const struct mx_report *mx; /* the last MX check (borrowed from mxcheck until the loop
	                             * runs again: read only right after rollout_refresh()) */
	time_t mx_at;
	struct rollout_rec rec;
	time_t evaluated_at; /* 0: never */
	uint64_t alerts;     /* evaluations that gave an alert (the metric) */
	struct log_rate alert_log;
	int stored; /* the row in the state database is this state */
	/* automatic progression (rollout.target "enforce" on a domain configured in testing) */
	int automatic;
	unsigned step;    /* 0: the configured policy; k: enforce, the k-th max_age step */
	int step_serving; /* 1: the step's policy is served, its TXT id not seen yet */
	time_t step_at;   /* when the step was taken */
	char txt_id[STS_ID_MAX + 1]; /* the _mta-sts TXT id last seen in DNS, "" none */
	struct dns_query *txt_q;     /* in flight */
	struct log_rate txt_log;
	struct rollout *r; /* the owner (the TXT query's callback) */
};

/* Called when a step was taken (the rollout's new policy must be served now): the daemon
 * applies rollout_apply() to its configuration and reloads the publisher. */
typedef void rollout_apply_fn(void *arg);

/* The rollout of cfg's published domains (borrowed), evaluated every
 * publisher.rollout_interval on loop; state_path is the state database file (NULL: none,
 * "since" is then the start). The steps reached are read from the state database and
 * applied to cfg (rollout_apply()) before the first evaluation; *ret_changed (may be
 * NULL) says whether that changed a served policy (the caller reloads the publisher).
 * *ret_r is NULL (0 returned) when no domain is published. Returns 0, or the DNS client's
 * error (the TXT checks of the automatic progression). */
int rollout_new(struct loop *loop, struct cfg *cfg, const char *state_path, struct rollout **ret_r,
                int *ret_changed);
/* A new configuration (and state path): the domains are those of cfg; may free *r or
 * create one. As rollout_new(). */
int rollout_reload(struct rollout **r, struct loop *loop, struct cfg *cfg, const char *state_path,
                   int *ret_changed);
/* Serve the steps reached: for each domain of cfg with rollout.target "enforce" and
 * configured mode testing, its policy's mode and max_age become its step's (step 0: as
 * configured; step k: enforce with the k-th max_age step) and an explicit id gets the
 * suffix "s<k>" (a derived id follows the text); other domains get their configured
 * policy back. Returns 1 when a policy of cfg changed, else 0 (r NULL: only the
 * configured policies). docs/rollout.md "Automatic progression". */
int rollout_apply(const struct rollout *r, struct cfg *cfg);
/* 1 when the steps reached have been read from the state database since the last
 * rollout_new()/rollout_reload() (or there is no state database, or r is NULL), 0 while
 * it could not be read (locked, unreadable): the domains with an automatic rollout must
 * then not be served at the configuration's policy (pub_release_held()). When a later
 * evaluation reads them, the apply hook runs. */
int rollout_loaded(const struct rollout *r);
/* The hook run after a step is taken (NULL: none). */
void rollout_set_apply(struct rollout *r, rollout_apply_fn *fn, void *arg);
/* Returns NULL; NULL is a no-op. */
struct rollout *rollout_free(struct rollout *r);
/* The MX check whose last reports are the evidence (NULL: none). */
void rollout_set_mxcheck(struct rollout *r, const struct mxcheck *m);
/* Evaluate every domain now (the state database is read and, on a change of what is served,
 * written). No-op when r is NULL. */
void rollout_refresh(struct rollout *r);
/* Domains (0 when r is NULL), and the i-th, configuration order. */
size_t rollout_domains(const struct rollout *r);
const struct rollout_domain *rollout_domain(const struct rollout *r, size_t i);
/* {"domains": {"example.com": {...}}} of domain (NULL: all), as last evaluated; a new
 * object (the caller drops it). NULL when domain is not published. docs/rollout.md. */
struct json_object *rollout_json(const struct rollout *r, const char *domain);
/* Register mtastsd_rollout_* (JSON "rollout.*") in st for r (NULL: nothing registered). */
void rollout_stats_add(const struct rollout *r, struct stats *st);

#endif
