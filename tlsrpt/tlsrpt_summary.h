/*
 * tlsrpt/tlsrpt_summary.h - what the stored TLS reports say, per Policy Domain
 *
 * Built from the state database (statedb_tlsrpt_sums/orgs/last): over the last `days`
 * days (UTC, by each report's start-datetime), per domain: the sessions (successful and
 * failed) per day, the failures by result type, the reporting organisations, the MX hosts
 * named, and the last reports received. `mtastsd tlsrpt` prints it; the admin endpoint
 * serves its JSON (docs/tlsrpt.md says what each figure means).
 *
 * Interface: tlsrpt_summary_load(), tlsrpt_summary_load_domains(), tlsrpt_summary_free(),
 *            tlsrpt_summary_json(), tlsrpt_summary_line()
 * Threads:   the caller's, with its own statedb connection.
 * Ownership: the summary owns its strings (tlsrpt_summary_free()).
 * Errors:    ERR_STATEDB_* from the queries.
 */
#ifndef MTASTSD_TLSRPT_SUMMARY_H
#define MTASTSD_TLSRPT_SUMMARY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mtasts_limits.h"

struct statedb;
struct json_object;

struct tlsrpt_count {
	char *name; /* a result type, an organisation, an MX host */
	uint64_t sessions;
	uint64_t reports;
};

struct tlsrpt_last {
	time_t received_at, start, end;
	char *org, *report_id, *source, *status, *reason;
	uint64_t success, failure;
};

struct tlsrpt_domain_summary {
	char *domain;
	uint64_t success, failure;
	uint64_t day_success[TLSRPT_CHART_DAYS]; /* [0] = the oldest day */
	uint64_t day_failure[TLSRPT_CHART_DAYS];
	struct tlsrpt_count *failures, *orgs, *mx_hosts;
	size_t n_failures, n_orgs, n_mx_hosts;
	struct tlsrpt_last last[TLSRPT_LAST_REPORTS];
	size_t n_last;
};

struct tlsrpt_summary {
	int64_t first_day; /* days since the epoch of day_*[0] */
	size_t days;       /* TLSRPT_CHART_DAYS */
	struct tlsrpt_domain_summary *domains;
	size_t n_domains;
};

/* Load the summary of domain (NULL: every domain with stored sessions) for the
 * TLSRPT_CHART_DAYS days up to and including now's day. 0 with *ret set, or ERR_STATEDB_*.
 * A domain without reports gives a summary with n_domains 1 and zero counts. */
int tlsrpt_summary_load(struct statedb *db, const char *domain, time_t now,
                        struct tlsrpt_summary **ret);
/* The same for the n domains listed (normalised; the published ones), each through its
 * own indexed queries, so that the cost follows those domains' rows, never the rows of
 * other names a database may hold; a listed domain without sessions in the period is left
 * out. At most TLSRPT_SUMMARY_DOMAINS_MAX domains. 0 with *ret set, or ERR_STATEDB_*. */
int tlsrpt_summary_load_domains(struct statedb *db, const char *const *domains, size_t n,
                                time_t now, struct tlsrpt_summary **ret);
/* Free s; returns NULL. tlsrpt_summary_free(NULL) is a no-op. */
struct tlsrpt_summary *tlsrpt_summary_free(struct tlsrpt_summary *s);

/* The summary as JSON (a new object, the caller drops it): {"days": 30, "first_day":
 * "YYYY-MM-DD", "domains": {"example.com": {"sessions", "failures", "organisations":
 * [...], "failure_types": {...}, "mx_hosts": {...}, "daily": [...], "last_reports": [...]}}} */
struct json_object *tlsrpt_summary_json(const struct tlsrpt_summary *s);

/* "N sessions from M organisations, K failures (type n, type n)" into buf. */
void tlsrpt_summary_line(const struct tlsrpt_domain_summary *d, char *buf, size_t len);

#endif
