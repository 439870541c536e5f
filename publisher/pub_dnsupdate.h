/*
 * publisher/pub_dnsupdate.h - RFC 2136 dynamic updates (TSIG, RFC 8945) of the records
 *                             mtastsd owns: _mta-sts.<domain> TXT and _smtp._tls.<domain> TXT
 *
 * For every published domain with publisher.domains[].dns_update, the updater keeps the
 * zone's primary in step with what the publisher serves (docs/publisher.md "DNS updates"):
 * it asks the primary for the owned RRsets (TXT at _mta-sts.<domain>, and at
 * _smtp._tls.<domain> when the domain has tlsrpt_rua), and when they differ from what they
 * should be it sends one UPDATE (RFC 2136 section 2.5: delete the RRset, add the record,
 * for each owned RRset that differs; no prerequisites), signed with the entry's TSIG key,
 * checks the response's TSIG and RCODE, then asks the primary again until the new records
 * show. Nothing but the owned RRsets is ever named in an UPDATE.
 *
 * Order (RFC 8461 section 8.1, "Policy Updates"): the publisher serves the new policy first, then
 * calls pub_dnsupd_domain_ready(); the updater never starts a domain before that call. A later "not
 * before the certificate serves" condition (ACME) belongs in the caller of that hook.
 *
 * Interface: pub_dnsupd_new(), pub_dnsupd_configure(), pub_dnsupd_domain_ready(),
 *            pub_dnsupd_run_all(), pub_dnsupd_busy(), pub_dnsupd_report(),
 *            pub_dnsupd_run_once() (the commands),
 *            pub_dnsupd_stats_add(), pub_dnsupd_free()
 * Transport: TCP to the configured primary (a numeric address), non-blocking connect on the
 *            loop, 2-byte length framing (RFC 1035 section 4.2.2), one message per
 *            connection, a reply of at most DNS_TCP_MSG_MAX bytes, the entry's timeout
 *            over the whole exchange. ldns builds, signs and parses the messages only.
 * Threads:   main loop only.
 * Ownership: the updater copies what it needs from the cfg (the caller may free it).
 * Errors:    never fatal: a failed attempt is logged once with the RCODE and the TSIG error,
 *            counted, and retried after DNSUPD_RETRY_MIN_MS doubling up to retry_max
 *            (daemon mode); the publisher keeps serving whatever happens.
 */
#ifndef MTASTSD_PUB_DNSUPDATE_H
#define MTASTSD_PUB_DNSUPDATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cfg.h"
#include "loop.h"

struct pub_dnsupd;
struct stats;

enum pub_dnsupd_mode {
	PUB_DNSUPD_DAEMON = 0, /* update, verify, retry failures with backoff */
	PUB_DNSUPD_ONCE = 1,   /* update and verify once, no retry (`dns-records --update`) */
	PUB_DNSUPD_DIFF = 2,   /* only ask the primary (`dns-records --diff`, `check`) */
};

/* Outcome of a domain's last attempt. */
enum pub_dnsupd_result {
	PUB_DNSUPD_NONE = 0,        /* nothing tried yet */
	PUB_DNSUPD_UNCHANGED = 1,   /* the primary had the records already: nothing sent */
	PUB_DNSUPD_UPDATED = 2,     /* update accepted and the new records seen on the primary */
	PUB_DNSUPD_DIFFERS = 3,     /* DIFF mode: the primary's records differ */
	PUB_DNSUPD_REFUSED = 4,     /* RCODE REFUSED / NOTAUTH / NOTZONE / other error */
	PUB_DNSUPD_TSIG = 5,        /* BADSIG, BADKEY, BADTIME, or a response TSIG that fails */
	PUB_DNSUPD_TIMEOUT = 6,     /* no complete reply within the timeout */
	PUB_DNSUPD_NETWORK = 7,     /* connection refused, reset, bad framing or message */
	PUB_DNSUPD_NOT_VISIBLE = 8, /* accepted, but the primary never showed the records */
};
#define PUB_DNSUPD_RESULTS 9
/* "unchanged", "updated", ... (the metrics' result label). */
const char *pub_dnsupd_result_name(enum pub_dnsupd_result r);

/* An empty updater on loop. Owned: free with pub_dnsupd_free(). */
struct pub_dnsupd *pub_dnsupd_new(struct loop *loop, enum pub_dnsupd_mode mode);
/* Take the domains with dns_update from cfg (copied) as the set to keep in step: new ones
 * are added, removed ones are dropped (their records are left as they are), changed
 * targets or records cancel the attempt in flight. Starts nothing: a domain starts with
 * pub_dnsupd_domain_ready(). Status and counters of kept domains survive. */
void pub_dnsupd_configure(struct pub_dnsupd *u, const struct cfg *cfg);
/* The hook: domain's current policy is served (and, later, its certificate), so its
 * records may now change. Starts an attempt at once (a running one is restarted, a
 * pending retry moved to now). A domain without dns_update is ignored. */
void pub_dnsupd_domain_ready(struct pub_dnsupd *u, const char *domain);
/* 1 when domain is among the configured domains (it has dns_update). */
int pub_dnsupd_has(const struct pub_dnsupd *u, const char *domain);
/* pub_dnsupd_domain_ready() for every configured domain. */
void pub_dnsupd_run_all(struct pub_dnsupd *u);
/* 1 while an attempt of any domain is in flight (not counting retry waits). */
int pub_dnsupd_busy(const struct pub_dnsupd *u);

/* What is known of one domain, for the CLI and /status. Strings borrowed from u: valid
 * until the next call on u. */
struct pub_dnsupd_rrset {
	const char *owner;  /* "_mta-sts.example.com." */
	const char *want;   /* the text mtastsd writes */
	const char *have;   /* the primary's TXT texts joined with " | ", "" none; NULL unknown */
	int in_step;        /* have is exactly want (one record, the configured TTL) */
	uint32_t ttl;       /* the TTL mtastsd writes (seconds) */
	const char *before; /* have at the last attempt's first query, NULL unknown */
	uint32_t before_ttl;
};
struct pub_dnsupd_report {
	const char *domain;
	const char *server; /* "127.0.0.1:53" */
	const char *zone;
	enum pub_dnsupd_result result;
	int rcode;           /* of the last reply, -1 none */
	int tsig_error;      /* TSIG error of the last reply (16 BADSIG...), 0 none */
	const char *error;   /* the last failure in words, "" none */
	time_t last_attempt; /* wall clock, 0 never */
	time_t next_retry;   /* wall clock, 0 none pending */
	size_t n_sets;
	struct pub_dnsupd_rrset sets[2];
};
/* Domain i (0 .. count-1, configuration order); returns the count of domains, and fills
 * *ret when i is below it. */
size_t pub_dnsupd_report(struct pub_dnsupd *u, size_t i, struct pub_dnsupd_report *ret);

/* Register mtastsd_dns_update_total{domain,result}, the last attempt, next retry, last
 * RCODE and in-step gauges per domain (JSON under "dns_update"). u may be NULL. st borrows
 * u until cleared. */
void pub_dnsupd_stats_add(const struct pub_dnsupd *u, struct stats *st);

/* For the commands: a private loop, an updater in mode (PUB_DNSUPD_ONCE or _DIFF) with the
 * domains of cfg, one attempt for each (or for domain only, a normalised name), run to the
 * end: every attempt ends within its exchanges' timeouts. Returns 0 and *ret_u (its
 * reports hold the outcomes; free with pub_dnsupd_free(), which frees the loop too), or
 * -errno when the loop cannot be made. */
int pub_dnsupd_run_once(const struct cfg *cfg, const char *domain, enum pub_dnsupd_mode mode,
                        struct pub_dnsupd **ret_u);
/* Cancels every attempt (no callback), closes sockets. Returns NULL; NULL is a no-op. */
struct pub_dnsupd *pub_dnsupd_free(struct pub_dnsupd *u);

#endif
