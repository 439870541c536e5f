/*
 * tests/unit/daemon/test_rollout_eval.c - the rollout recommendation (daemon/rollout_eval.c)
 *
 * Every branch with real values on a fixed clock: testing held back by each MX host result,
 * by failures, by each missing amount; ready for enforce (the exact line); enforce
 * holding, raising max_age, done, and alerting on report failures and on an MX host (never
 * a lower mode or max_age); withdrawal in progress and complete; the age formatter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollout_eval.h"

#define DAY 86400
/* 2027-01-25T12:00:00Z */
#define NOW ((time_t)1800878400)

/* Two MX hosts, both verified. */
static struct mx_host hosts[2];
static struct mx_report rep;

static const struct mx_report *
mx_clean(void)
{
	memset(&rep, 0, sizeof(rep));
	memset(hosts, 0, sizeof(hosts));
	(void)snprintf(rep.domain, sizeof(rep.domain), "example.com");
	rep.hosts = hosts;
	rep.n_hosts = rep.n_hosts_dns = 2;
	for (size_t i = 0; i < 2; i++) {
		(void)snprintf(hosts[i].name, sizeof(hosts[i].name), "mx%zu.example.com", i + 1);
		hosts[i].result = MX_RESULT_OK;
		hosts[i].reachable = hosts[i].starttls = hosts[i].tls = hosts[i].verified = 1;
		memcpy(hosts[i].cert_first, hosts[i].name, sizeof(hosts[i].name));
		memcpy(hosts[i].cert_name, hosts[i].name, sizeof(hosts[i].name));
	}
	return &rep;
}

/* 21 days, 48000 sessions from 6 organisations, no failure. */
static struct rollout_evidence
ev_clean(void)
{
	struct rollout_evidence ev = {.days = 21, .sessions = 48000, .orgs = 6};

	return ev;
}

static struct rollout_served
sv_testing(void)
{
	struct rollout_served sv = {
	        .mode = STS_MODE_TESTING, .max_age_s = DAY, .since = NOW - 30 * DAY};

	return sv;
}

static void
eval(const struct rollout_served *sv, const struct rollout_evidence *ev, const struct mx_report *mx,
     struct rollout_rec *r)
{
	struct rollout_rules rules;

	rollout_rules_default(&rules);
	rollout_evaluate(&rules, sv, ev, mx, NOW, r);
}

static void
test_ready_for_enforce(void **state)
{
	struct rollout_served sv = sv_testing();
	struct rollout_evidence ev = ev_clean();
	struct rollout_rec r;

	(void)state;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_READY_ENFORCE);
	assert_string_equal(r.reason, "ready for enforce: 21 days, 48000 sessions from 6 "
	                              "organisations, 0 STS failures, all MX hosts verified");
	assert_int_equal(r.next_mode, STS_MODE_ENFORCE);
	assert_int_equal(r.next_max_age_s, DAY);
	assert_int_equal(r.alert, 0);
	assert_string_equal(rollout_advice_name(r.advice), "ready_enforce");

	/* testing with a week's max_age enters enforce at the first step, one day */
	sv.max_age_s = 7 * DAY;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_READY_ENFORCE);
	assert_int_equal(r.next_max_age_s, DAY);
}

static void
test_stay_mx(void **state)
{
	struct rollout_served sv = sv_testing();
	struct rollout_evidence ev = ev_clean();
	struct rollout_rec r;
	const struct mx_report *mx;
	static const struct {
		enum mx_result res;
		const char *reason;
	} cases[] = {
	        {MX_RESULT_NAME,
	         "stay in testing: mx2.example.com presents a certificate for other.example.net"},
	        {MX_RESULT_NOT_COVERED,
	         "stay in testing: mx2.example.com is not covered by any mx pattern of the policy"},
	        {MX_RESULT_NO_STARTTLS, "stay in testing: mx2.example.com does not offer STARTTLS"},
	        {MX_RESULT_CERT, "stay in testing: mx2.example.com presents a certificate that "
	                         "does not verify (The certificate is NOT trusted.)"},
	        {MX_RESULT_NO_ADDRESS, "stay in testing: mx2.example.com has no address"},
	        {MX_RESULT_UNREACHABLE, "stay in testing: mx2.example.com is unreachable"},
	        {MX_RESULT_SMTP, "stay in testing: mx2.example.com: smtp_error (banner: 554 go "
	                         "away)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mx = mx_clean();
		hosts[1].result = cases[i].res;
		(void)snprintf(hosts[1].cert_first, sizeof(hosts[1].cert_first),
		               "other.example.net");
		(void)snprintf(hosts[1].verify, sizeof(hosts[1].verify),
		               "The certificate is NOT trusted.");
		(void)snprintf(hosts[1].error, sizeof(hosts[1].error), "banner: 554 go away");
		eval(&sv, &ev, mx, &r);
		assert_int_equal(r.advice, ROLLOUT_STAY_TESTING);
		assert_string_equal(r.reason, cases[i].reason);
		assert_int_equal(r.next_mode, STS_MODE_TESTING);
	}

	/* a certificate without names */
	mx = mx_clean();
	hosts[0].result = MX_RESULT_NAME;
	hosts[0].cert_first[0] = '\0';
	eval(&sv, &ev, mx, &r);
	assert_string_equal(r.reason,
	                    "stay in testing: mx1.example.com presents a certificate that names "
	                    "no host");

	/* no MX check yet, a failed MX lookup, hosts not probed */
	eval(&sv, &ev, NULL, &r);
	assert_int_equal(r.advice, ROLLOUT_STAY_TESTING);
	assert_string_equal(r.reason, "stay in testing: no MX check has finished yet");
	mx = mx_clean();
	rep.err = -1;
	eval(&sv, &ev, mx, &r);
	assert_string_equal(r.reason, "stay in testing: the MX lookup of the last MX check gave "
	                              "no host");
	mx = mx_clean();
	rep.n_hosts_dns = 20;
	eval(&sv, &ev, mx, &r);
	assert_string_equal(r.reason, "stay in testing: 20 MX hosts, only 2 checked");
}

static void
test_stay_evidence(void **state)
{
	struct rollout_served sv = sv_testing();
	struct rollout_evidence ev;
	struct rollout_rec r;

	(void)state;
	ev = ev_clean();
	ev.failures = 3;
	ev.n_types = 2;
	(void)snprintf(ev.types[0].name, sizeof(ev.types[0].name), "certificate-host-mismatch");
	ev.types[0].sessions = 2;
	(void)snprintf(ev.types[1].name, sizeof(ev.types[1].name), "starttls-not-supported");
	ev.types[1].sessions = 1;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_STAY_TESTING);
	assert_string_equal(r.reason, "stay in testing: 3 STS failures in reports "
	                              "(certificate-host-mismatch 2, starttls-not-supported 1)");
	assert_int_equal(r.alert, 0);

	ev = ev_clean();
	ev.days = 13;
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "stay in testing: 13 days of reports, 14 needed");
	ev.days = 1;
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "stay in testing: 1 day of reports, 14 needed");

	ev = ev_clean();
	sv.since = NOW - 10 * DAY - 5;
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "stay in testing: served 10 days, 14 needed");
	sv.since = NOW + 100; /* a clock that went back: served 0 days */
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "stay in testing: served 0 days, 14 needed");
	sv = sv_testing();

	ev.sessions = 999;
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "stay in testing: 999 sessions in reports, 1000 needed");

	ev = ev_clean();
	ev.orgs = 1;
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "stay in testing: reports from 1 organisation, 2 needed");
	assert_int_equal(r.advice, ROLLOUT_STAY_TESTING);
}

static void
test_enforce_steps(void **state)
{
	struct rollout_served sv = {
	        .mode = STS_MODE_ENFORCE, .max_age_s = DAY, .since = NOW - 15 * DAY};
	struct rollout_evidence ev = ev_clean();
	struct rollout_rec r;

	(void)state;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_RAISE_MAX_AGE);
	assert_string_equal(r.reason, "raise max_age to 7d: 21 days, 48000 sessions from 6 "
	                              "organisations, 0 STS failures, all MX hosts verified");
	assert_int_equal(r.next_mode, STS_MODE_ENFORCE);
	assert_int_equal(r.next_max_age_s, 7 * DAY);

	/* the step served 3 days only */
	sv.since = NOW - 3 * DAY;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_HOLD);
	assert_string_equal(r.reason, "hold max_age 1d: served 3 days, 14 needed before 7d");
	assert_int_equal(r.next_max_age_s, DAY);

	/* below the first step (an hour): the next is 1d */
	sv.since = NOW - 15 * DAY;
	sv.max_age_s = 3600;
	eval(&sv, &ev, mx_clean(), &r);
	assert_string_equal(r.reason, "raise max_age to 1d: 21 days, 48000 sessions from 6 "
	                              "organisations, 0 STS failures, all MX hosts verified");
	assert_int_equal(r.next_max_age_s, DAY);

	/* no MX check yet: hold, no alert */
	eval(&sv, &ev, NULL, &r);
	assert_int_equal(r.advice, ROLLOUT_HOLD);
	assert_string_equal(r.reason, "hold max_age 1h: no MX check has finished yet");
	assert_int_equal(r.alert, 0);

	/* at (or above) the last step */
	sv.max_age_s = 7 * DAY;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_DONE);
	assert_string_equal(r.reason, "enforce with max_age 7d: the last step");
	sv.max_age_s = 31557600;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_DONE);
	assert_int_equal(r.next_max_age_s, 31557600);
}

static void
test_enforce_alert(void **state)
{
	struct rollout_served sv = {
	        .mode = STS_MODE_ENFORCE, .max_age_s = DAY, .since = NOW - 15 * DAY};
	struct rollout_evidence ev = ev_clean();
	struct rollout_rec r;
	const struct mx_report *mx;

	(void)state;
	ev.failures = 40;
	ev.n_types = 1;
	(void)snprintf(ev.types[0].name, sizeof(ev.types[0].name), "validation-failure");
	ev.types[0].sessions = 40;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_ALERT);
	assert_int_equal(r.alert, 1);
	assert_string_equal(r.reason, "alert: 40 STS failures in reports in enforce "
	                              "(validation-failure 40); not lowered automatically (reports "
	                              "are unauthenticated): check the MX hosts");
	/* never downwards: the next step is what is served */
	assert_int_equal(r.next_mode, STS_MODE_ENFORCE);
	assert_int_equal(r.next_max_age_s, DAY);
	assert_string_equal(rollout_advice_name(r.advice), "alert");

	/* an MX host that would lose mail now */
	ev = ev_clean();
	mx = mx_clean();
	hosts[1].result = MX_RESULT_NAME;
	(void)snprintf(hosts[1].cert_first, sizeof(hosts[1].cert_first), "other.example.net");
	eval(&sv, &ev, mx, &r);
	assert_int_equal(r.advice, ROLLOUT_ALERT);
	assert_string_equal(r.reason, "alert: mx2.example.com presents a certificate for "
	                              "other.example.net; enforce loses mail through it");
	assert_int_equal(r.next_mode, STS_MODE_ENFORCE);
	assert_int_equal(r.next_max_age_s, DAY);
}

static void
test_withdrawal(void **state)
{
	/* "none" since 2027-01-25T00:00Z, after a policy of 7 days */
	struct rollout_served sv = {.mode = STS_MODE_NONE,
	                            .max_age_s = DAY,
	                            .since = (time_t)1800835200,
	                            .prev_max_age_s = 7 * DAY};
	struct rollout_evidence ev = ev_clean();
	struct rollout_rec r;

	(void)state;
	eval(&sv, &ev, mx_clean(), &r);
	assert_int_equal(r.advice, ROLLOUT_WITHDRAWING);
	assert_string_equal(r.reason, "withdrawal in progress: old max_age ends 2027-02-01");
	assert_int_equal(r.withdraw_end, (time_t)1800835200 + 7 * DAY);
	assert_int_equal(r.next_mode, STS_MODE_NONE);

	/* prev_until recorded wins */
	sv.prev_until = (time_t)1800835200 + 10 * 3600;
	eval(&sv, &ev, NULL, &r);
	assert_int_equal(r.advice, ROLLOUT_WITHDRAWN);
	assert_string_equal(r.reason, "withdrawal complete: the old max_age ended 2027-01-25; "
	                              "the _mta-sts record and the policy host may be removed");

	/* unknown history: the served max_age is the bound */
	sv.prev_until = 0;
	sv.prev_max_age_s = 0;
	eval(&sv, &ev, NULL, &r);
	assert_int_equal(r.advice, ROLLOUT_WITHDRAWING);
	assert_int_equal(r.withdraw_end, (time_t)1800835200 + DAY);
	assert_string_equal(r.reason, "withdrawal in progress: old max_age ends 2027-01-26");
	sv.max_age_s = 3600;
	eval(&sv, &ev, NULL, &r);
	assert_int_equal(r.advice, ROLLOUT_WITHDRAWN);
}

static void
test_fmt_age(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(rollout_fmt_age(604800, b, sizeof(b)), "7d");
	assert_string_equal(rollout_fmt_age(43200, b, sizeof(b)), "12h");
	assert_string_equal(rollout_fmt_age(5400, b, sizeof(b)), "90m");
	assert_string_equal(rollout_fmt_age(45, b, sizeof(b)), "45s");
	assert_string_equal(rollout_fmt_age(0, b, sizeof(b)), "0s");
	assert_string_equal(rollout_advice_name(ROLLOUT_ADVICE_N), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ready_for_enforce), cmocka_unit_test(test_stay_mx),
	        cmocka_unit_test(test_stay_evidence),     cmocka_unit_test(test_enforce_steps),
	        cmocka_unit_test(test_enforce_alert),     cmocka_unit_test(test_withdrawal),
	        cmocka_unit_test(test_fmt_age),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
