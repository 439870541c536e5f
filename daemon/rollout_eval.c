/*
 * daemon/rollout_eval.c - the rollout recommendation of a published domain, no I/O
 *
 * Interface: rollout_rules_default(), rollout_evaluate(), rollout_advice_name(),
 *            rollout_fmt_age() (rollout_eval.h)
 * Rules:     docs/rollout.md "Evidence": the MX check first (a host that would lose mail
 *            in enforce outweighs any number of reports), then failures, then the amounts.
 * Threads:   any.    Ownership: nothing allocated.    Errors: none.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rollout_eval.h"

static const char *const rollout_advice_names[ROLLOUT_ADVICE_N] = {
        [ROLLOUT_STAY_TESTING] = "stay_testing",
        [ROLLOUT_READY_ENFORCE] = "ready_enforce",
        [ROLLOUT_HOLD] = "hold",
        [ROLLOUT_RAISE_MAX_AGE] = "raise_max_age",
        [ROLLOUT_DONE] = "done",
        [ROLLOUT_ALERT] = "alert",
        [ROLLOUT_WITHDRAWING] = "withdrawing",
        [ROLLOUT_WITHDRAWN] = "withdrawn",
};

/* snprintf that may cut (reasons are one line, cut at their buffer): no truncation
 * warnings for host names and GnuTLS text of unknown length. */
static void rollout_put(char *buf, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
rollout_put(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

const char *
rollout_advice_name(enum rollout_advice a)
{
	return (unsigned)a < ROLLOUT_ADVICE_N ? rollout_advice_names[a] : "?";
}

void
rollout_rules_default(struct rollout_rules *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->min_days = ROLLOUT_MIN_DAYS_DEFAULT;
	ret->min_sessions = ROLLOUT_MIN_SESSIONS_DEFAULT;
	ret->min_orgs = ROLLOUT_MIN_ORGANISATIONS_DEFAULT;
	ret->day_s = 86400;
	ret->steps_s[0] = 86400;
	ret->steps_s[1] = 7 * 86400;
	ret->n_steps = 2;
}

const char *
rollout_fmt_age(uint32_t s, char *buf, size_t len)
{
	if (s != 0 && s % 86400 == 0)
		rollout_put(buf, len, "%ud", s / 86400);
	else if (s != 0 && s % 3600 == 0)
		rollout_put(buf, len, "%uh", s / 3600);
	else if (s != 0 && s % 60 == 0)
		rollout_put(buf, len, "%um", s / 60);
	else
		rollout_put(buf, len, "%us", s);
	return buf;
}

static void rollout_say(struct rollout_rec *r, enum rollout_advice a, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
rollout_say(struct rollout_rec *r, enum rollout_advice a, const char *fmt, ...)
{
	va_list ap;

	r->advice = a;
	va_start(ap, fmt);
	(void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* " (type n, type n)" of the evidence's failure types, or "" without any. */
static void
rollout_types(const struct rollout_evidence *ev, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < ev->n_types && i < ROLLOUT_TYPES_MAX; i++) {
		n = snprintf(buf + used, len - used, "%s%s %llu", i == 0 ? " (" : ", ",
		             ev->types[i].name, (unsigned long long)ev->types[i].sessions);
		if (n < 0 || (size_t)n >= len - used - 1)
			break;
		used += (size_t)n;
	}
	if (used > 0)
		(void)snprintf(buf + used, len - used, ")");
}

/* The first MX host that would lose mail in enforce, said as a reason into buf; 1 when
 * there is one (or no usable check), 0 when every MX host is verified. */
static int
rollout_mx_problem(const struct mx_report *mx, char *buf, size_t len)
{
	const struct mx_host *h;
	size_t i;

	if (mx == NULL) {
		rollout_put(buf, len, "no MX check has finished yet");
		return 1;
	}
	if (mx->err != 0 || mx->n_hosts == 0) {
		rollout_put(buf, len, "the MX lookup of the last MX check gave no host");
		return 1;
	}
	for (i = 0; i < mx->n_hosts; i++) {
		h = &mx->hosts[i];
		if (mx_report_host_ok(h))
			continue;
		switch (h->result) {
		case MX_RESULT_NAME:
			if (h->cert_first[0] != '\0')
				rollout_put(buf, len, "%s presents a certificate for %s", h->name,
				            h->cert_first);
			else
				rollout_put(buf, len,
				            "%s presents a certificate that names no host",
				            h->name);
			break;
		case MX_RESULT_NOT_COVERED:
			rollout_put(buf, len, "%s is not covered by any mx pattern of the policy",
			            h->name);
			break;
		case MX_RESULT_NO_STARTTLS:
			rollout_put(buf, len, "%s does not offer STARTTLS", h->name);
			break;
		case MX_RESULT_CERT:
			rollout_put(buf, len, "%s presents a certificate that does not verify (%s)",
			            h->name, h->verify);
			break;
		case MX_RESULT_NO_ADDRESS:
			rollout_put(buf, len, "%s has no address", h->name);
			break;
		case MX_RESULT_UNREACHABLE:
			rollout_put(buf, len, "%s is unreachable", h->name);
			break;
		default:
			rollout_put(buf, len, "%s: %s (%s)", h->name, mx_result_name(h->result),
			            h->error);
			break;
		}
		return 1;
	}
	if (mx->n_hosts_dns > mx->n_hosts) {
		rollout_put(buf, len, "%zu MX hosts, only %zu checked", mx->n_hosts_dns,
		            mx->n_hosts);
		return 1;
	}
	return 0;
}

/* Whether the evidence holds for the next step; when it does not, the reason (after
 * "stay in testing: " or "hold max_age X: ") into buf. */
static int
rollout_enough(const struct rollout_rules *rules, const struct rollout_served *sv,
               const struct rollout_evidence *ev, time_t now, char *buf, size_t len)
{
	uint64_t day_s = rules->day_s > 0 ? rules->day_s : 86400;
	uint64_t served = now > sv->since ? (uint64_t)(now - sv->since) / day_s : 0;

	if (ev->days < rules->min_days) {
		rollout_put(buf, len, "%u %s of reports, %u needed", ev->days,
		            plural(ev->days, "day", "days"), rules->min_days);
		return 0;
	}
	if (served < rules->min_days) {
		rollout_put(buf, len, "served %llu %s, %u needed", (unsigned long long)served,
		            plural(served, "day", "days"), rules->min_days);
		return 0;
	}
	if (ev->sessions < rules->min_sessions) {
		rollout_put(buf, len, "%llu %s in reports, %llu needed",
		            (unsigned long long)ev->sessions,
		            plural(ev->sessions, "session", "sessions"),
		            (unsigned long long)rules->min_sessions);
		return 0;
	}
	if (ev->orgs < rules->min_orgs) {
		rollout_put(buf, len, "reports from %u %s, %u needed", ev->orgs,
		            plural(ev->orgs, "organisation", "organisations"), rules->min_orgs);
		return 0;
	}
	return 1;
}

/* "21 days, 48000 sessions from 6 organisations, 0 STS failures, all MX hosts verified" */
static void
rollout_evidence_line(const struct rollout_evidence *ev, char *buf, size_t len)
{
	rollout_put(buf, len, "%u %s, %llu %s from %u %s, 0 STS failures, all MX hosts verified",
	            ev->days, plural(ev->days, "day", "days"), (unsigned long long)ev->sessions,
	            plural(ev->sessions, "session", "sessions"), ev->orgs,
	            plural(ev->orgs, "organisation", "organisations"));
}

static void
rollout_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		rollout_put(buf, len, "?");
}

static void
rollout_testing(const struct rollout_rules *rules, const struct rollout_served *sv,
                const struct rollout_evidence *ev, const struct mx_report *mx, time_t now,
                struct rollout_rec *r)
{
	char why[400], types[200];

	if (rollout_mx_problem(mx, why, sizeof(why))) {
		rollout_say(r, ROLLOUT_STAY_TESTING, "stay in testing: %s", why);
		return;
	}
	if (ev->failures > 0) {
		rollout_types(ev, types, sizeof(types));
		rollout_say(r, ROLLOUT_STAY_TESTING, "stay in testing: %llu STS %s in reports%s",
		            (unsigned long long)ev->failures,
		            plural(ev->failures, "failure", "failures"), types);
		return;
	}
	if (!rollout_enough(rules, sv, ev, now, why, sizeof(why))) {
		rollout_say(r, ROLLOUT_STAY_TESTING, "stay in testing: %s", why);
		return;
	}
	rollout_evidence_line(ev, why, sizeof(why));
	r->next_mode = STS_MODE_ENFORCE;
	/* enforce starts at the first step when the served max_age is longer */
	if (rules->n_steps > 0 && sv->max_age_s > rules->steps_s[0])
		r->next_max_age_s = rules->steps_s[0];
	rollout_say(r, ROLLOUT_READY_ENFORCE, "ready for enforce: %s", why);
}

static void
rollout_enforce(const struct rollout_rules *rules, const struct rollout_served *sv,
                const struct rollout_evidence *ev, const struct mx_report *mx, time_t now,
                struct rollout_rec *r)
{
	char why[400], types[200], age[32], next[32];
	size_t i;

	(void)rollout_fmt_age(sv->max_age_s, age, sizeof(age));
	if (ev->failures > 0) {
		rollout_types(ev, types, sizeof(types));
		r->alert = 1;
		rollout_say(r, ROLLOUT_ALERT,
		            "alert: %llu STS %s in reports in enforce%s; not lowered automatically "
		            "(reports are unauthenticated): check the MX hosts",
		            (unsigned long long)ev->failures,
		            plural(ev->failures, "failure", "failures"), types);
		return;
	}
	if (mx != NULL && rollout_mx_problem(mx, why, sizeof(why))) {
		r->alert = 1;
		rollout_say(r, ROLLOUT_ALERT, "alert: %s; enforce loses mail through it", why);
		return;
	}
	for (i = 0; i < rules->n_steps && rules->steps_s[i] <= sv->max_age_s; i++)
		;
	if (i == rules->n_steps) {
		rollout_say(r, ROLLOUT_DONE, "enforce with max_age %s: the last step", age);
		return;
	}
	(void)rollout_fmt_age(rules->steps_s[i], next, sizeof(next));
	if (mx == NULL) {
		rollout_say(r, ROLLOUT_HOLD, "hold max_age %s: no MX check has finished yet", age);
		return;
	}
	if (!rollout_enough(rules, sv, ev, now, why, sizeof(why))) {
		rollout_say(r, ROLLOUT_HOLD, "hold max_age %s: %s before %s", age, why, next);
		return;
	}
	rollout_evidence_line(ev, why, sizeof(why));
	r->next_max_age_s = rules->steps_s[i];
	rollout_say(r, ROLLOUT_RAISE_MAX_AGE, "raise max_age to %s: %s", next, why);
}

static void
rollout_none(const struct rollout_served *sv, time_t now, struct rollout_rec *r)
{
	char date[32];

	/* senders may hold the policy before "none" up to its max_age from their last fetch,
	 * which may have been just before the switch (RFC 8461 section 8.3) */
	r->withdraw_end = sv->prev_until > 0
	                          ? sv->prev_until
	                          : sv->since + (time_t)(sv->prev_max_age_s > 0 ? sv->prev_max_age_s
	                                                                        : sv->max_age_s);
	rollout_date(r->withdraw_end, date, sizeof(date));
	if (now < r->withdraw_end)
		rollout_say(r, ROLLOUT_WITHDRAWING, "withdrawal in progress: old max_age ends %s",
		            date);
	else
		rollout_say(
		        r, ROLLOUT_WITHDRAWN,
		        "withdrawal complete: the old max_age ended %s; the _mta-sts record and "
		        "the policy host may be removed",
		        date);
}

void
rollout_evaluate(const struct rollout_rules *rules, const struct rollout_served *sv,
                 const struct rollout_evidence *ev, const struct mx_report *mx, time_t now,
                 struct rollout_rec *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->next_mode = sv->mode;
	ret->next_max_age_s = sv->max_age_s;
	switch (sv->mode) {
	case STS_MODE_TESTING:
		rollout_testing(rules, sv, ev, mx, now, ret);
		break;
	case STS_MODE_ENFORCE:
		rollout_enforce(rules, sv, ev, mx, now, ret);
		break;
	case STS_MODE_NONE:
	default:
		rollout_none(sv, now, ret);
		break;
	}
}
