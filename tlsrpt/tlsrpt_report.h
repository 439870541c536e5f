/*
 * tlsrpt/tlsrpt_report.h - RFC 8460 section 4 report JSON -> struct tlsrpt_report (no I/O)
 *
 * Strict on what RFC 8460 section 4.3/4.4 requires: organization-name, date-range
 * {start-datetime, end-datetime} (RFC 3339 date-time), report-id, policies[] each with
 * policy {policy-type ("sts", "tlsa", "no-policy-found"), policy-domain} and summary
 * {total-successful-session-count, total-failure-session-count}; every failure-details
 * entry has result-type and failed-session-count. Tolerant of what real reporters omit:
 * contact-info, policy-string, mx-host (a string or, as in the RFC's own example, an
 * array), failure-details and the optional fields of its entries. Unknown members are
 * ignored (RFC 8460 section 4.3 leaves room for extensions).
 *
 * Interface: tlsrpt_report_parse(), tlsrpt_report_free(), tlsrpt_policy_type_valid()
 * Threads:   any; no global state.
 * Ownership: the report and all its strings belong to the caller (tlsrpt_report_free()).
 * Errors:    ERR_TLSRPT_TOO_LARGE (more objects or values than TLSRPT_JSON_OBJECTS_MAX,
 *            TLSRPT_JSON_VALUES_MAX: counted before json-c builds anything),
 *            ERR_TLSRPT_JSON (not one JSON object, nested over TLSRPT_JSON_DEPTH),
 *            ERR_TLSRPT_FIELD (a required field missing, wrong type, bad value, or a count
 *            over its limit), with a one-line reason for the logs and the stored raw report.
 */
#ifndef MTASTSD_TLSRPT_REPORT_H
#define MTASTSD_TLSRPT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One failure-details entry (RFC 8460 section 4.3). NULL: the reporter left it out. */
struct tlsrpt_failure {
	char *result_type;  /* "certificate-expired", "starttls-not-supported", ... */
	char *mx_host;      /* receiving-mx-hostname, lower case without trailing dot */
	char *sending_ip;   /* sending-mta-ip */
	char *receiving_ip; /* receiving-ip */
	char *reason_code;  /* failure-reason-code */
	uint64_t count;     /* failed-session-count */
};

/* One policies[] entry. */
struct tlsrpt_policy {
	char *type;      /* "sts", "tlsa" or "no-policy-found" */
	char *domain;    /* policy-domain, normalised A-label (domain_normalize()) */
	char **mx_hosts; /* mx-host patterns, n_mx_hosts of them (0 when left out) */
	size_t n_mx_hosts;
	uint64_t success; /* total-successful-session-count */
	uint64_t failure; /* total-failure-session-count */
	struct tlsrpt_failure *failures;
	size_t n_failures;
};

struct tlsrpt_report {
	char *org;       /* organization-name */
	char *report_id; /* report-id */
	char *contact;   /* contact-info, NULL when left out */
	time_t start;    /* date-range start-datetime (wall clock, s) */
	time_t end;      /* date-range end-datetime */
	struct tlsrpt_policy *policies;
	size_t n_policies; /* at least 1 */
};

/* Parse len bytes of JSON (no NUL needed). On success *ret gets a new report and 0 is
 * returned; otherwise ERR_TLSRPT_TOO_LARGE, ERR_TLSRPT_JSON or ERR_TLSRPT_FIELD with a reason in
 * why (whylen bytes, may be 0: "policies[1].summary: total-failure-session-count missing"). Strings
 * holding NUL bytes or longer than TLSRPT_STRING_MAX are ERR_TLSRPT_FIELD. */
int tlsrpt_report_parse(const char *json, size_t len, struct tlsrpt_report **ret, char *why,
                        size_t whylen);

/* Free a report; returns NULL. tlsrpt_report_free(NULL) is a no-op. */
struct tlsrpt_report *tlsrpt_report_free(struct tlsrpt_report *r);

/* 1 when s is one of RFC 8460 section 4.4's policy types, else 0. */
int tlsrpt_policy_type_valid(const char *s);

/* Parse an RFC 3339 date-time ("2016-04-01T00:00:00Z", "...T00:00:00.123+02:00") into
 * *ret (UTC seconds). Returns 0, or -EINVAL. */
int tlsrpt_datetime_parse(const char *s, time_t *ret);

#endif
