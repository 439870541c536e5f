/*
 * daemon/rollout_eval.h - the rollout recommendation of a published domain, no I/O
 *
 * RFC 8461 section 8.3 and every deployment guide: publish mode testing, read the TLS
 * reports, move to enforce when no legitimate delivery path fails, then raise max_age step
 * by step; to withdraw, publish mode none and wait out the old max_age. rollout_evaluate()
 * says where a domain stands, from what is served (mode, max_age, since when), the
 * TLSRPT evidence about it (tlsrpt/ store, counted from the UTC day the mode or step began)
 * and the last MX check (resolver/mx_probe.h), with a one-line reason:
 *
 *   "stay in testing: mx2.example.com presents a certificate for other.example.net"
 *   "ready for enforce: 21 days, 48000 sessions from 6 organisations, 0 STS failures, all
 *    MX hosts verified"
 *   "raise max_age to 7d: ..."
 *   "withdrawal in progress: old max_age ends 2027-02-01"
 *
 * Never downwards: failures in enforce (reports or the MX check) are an alert, never a
 * recommendation to lower the mode, because reports are unauthenticated (docs/rollout.md).
 *
 * Interface: rollout_rules_default(), rollout_evaluate(), rollout_advice_name(),
 *            rollout_fmt_age()
 * Threads:   any; pure functions of their arguments (the clock is an argument).
 * Ownership: nothing allocated; the result is written into the caller's struct.
 * Errors:    none: missing evidence is a reason to wait, not an error.
 */
#ifndef MTASTSD_ROLLOUT_EVAL_H
#define MTASTSD_ROLLOUT_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mtasts_limits.h"
#include "mx_probe.h"
#include "sts_policy.h"

/* The thresholds (a publisher.domains[].rollout group, or the defaults). */
struct rollout_rules {
	unsigned min_days;     /* UTC days with sessions in reports, and days served */
	uint64_t min_sessions; /* sessions (policy type sts) in those reports */
	unsigned min_orgs;     /* distinct reporting organisations */
	uint64_t day_s;        /* the length of a day (s): 86400; less in the test lab */
	uint32_t steps_s[ROLLOUT_STEPS_MAX]; /* max_age steps in enforce, ascending (s) */
	size_t n_steps;
};

/* What is served, and since when (the state database keeps it across restarts). */
struct rollout_served {
	enum sts_mode mode;
	uint32_t max_age_s;
	time_t since;            /* wall clock when this mode and max_age were first served */
	uint32_t prev_max_age_s; /* mode none: the largest max_age served before it, 0 unknown */
	time_t prev_until;       /* mode none: when senders' cached copies of the policy
	                          * before it expire (since + prev_max_age_s), 0 unknown */
};

/* A failure type and its failed sessions. */
struct rollout_type {
	char name[64]; /* result type, "certificate-host-mismatch" */
	uint64_t sessions;
};

/* The TLS reports about the domain, from the UTC day of `since` on. */
struct rollout_evidence {
	unsigned days;     /* distinct UTC days with sessions of policy type sts */
	uint64_t sessions; /* successful + failed sessions, policy type sts */
	uint64_t failures; /* failed sessions, policy type sts */
	unsigned orgs;     /* distinct organisations */
	struct rollout_type types[ROLLOUT_TYPES_MAX]; /* the largest, largest first */
	size_t n_types;
};

enum rollout_advice {
	ROLLOUT_STAY_TESTING = 0, /* testing: the evidence does not hold yet */
	ROLLOUT_READY_ENFORCE,    /* testing: the evidence holds, next is enforce */
	ROLLOUT_HOLD,             /* enforce: the next max_age step waits for evidence */
	ROLLOUT_RAISE_MAX_AGE,    /* enforce: the next max_age step may be taken */
	ROLLOUT_DONE,             /* enforce at the last step */
	ROLLOUT_ALERT,            /* enforce with failures: look now (never lowered) */
	ROLLOUT_WITHDRAWING,      /* none: senders may still hold the old policy */
	ROLLOUT_WITHDRAWN,        /* none: the old max_age has run out */
	ROLLOUT_ADVICE_N,
};

struct rollout_rec {
	enum rollout_advice advice;
	enum sts_mode next_mode; /* READY_ENFORCE, RAISE_MAX_AGE: the next step's mode */
	uint32_t next_max_age_s; /* and its max_age (s); otherwise the served values */
	int alert;               /* 1: failures in enforce (ROLLOUT_ALERT) */
	time_t withdraw_end;     /* WITHDRAWING, WITHDRAWN: when the old max_age ends */
	char reason[512];
};

/* The defaults: ROLLOUT_MIN_*_DEFAULT, a day of 86400 s, steps 1d and 7d. */
void rollout_rules_default(struct rollout_rules *ret);

/* The recommendation for a domain serving sv, with the evidence ev, the last MX check mx
 * (NULL: none has finished yet) and the wall clock now (s). Writes *ret. The rules' steps
 * are the max_age values enforce moves through; a served max_age at or above the last
 * step is done. RFC 8461 sections 8.3 (rollout), 5 (max_age), 4 (MX host validation). */
void rollout_evaluate(const struct rollout_rules *rules, const struct rollout_served *sv,
                      const struct rollout_evidence *ev, const struct mx_report *mx, time_t now,
                      struct rollout_rec *ret);

/* "stay_testing", "ready_enforce", "hold", "raise_max_age", "done", "alert",
 * "withdrawing", "withdrawn" (JSON, metrics label). */
const char *rollout_advice_name(enum rollout_advice a);

/* A max_age as text, "7d", "12h", "90m", "45s" (the largest unit that divides it), into
 * buf (len bytes); returns buf. */
const char *rollout_fmt_age(uint32_t s, char *buf, size_t len);

#endif
