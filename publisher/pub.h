/*
 * publisher/pub.h - the publisher half: HTTPS policy server (libmicrohttpd + GnuTLS)
 *
 * Serves https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 section 3.2) for every
 * configured domain, SNI certificate choice, port 80 redirects and ACME http-01 webroot.
 *
 * Interface: pub_new(), pub_reload(), pub_free(), pub_policy_id(), pub_dns_records(),
 *            pub_check_certs() (pub_check.c), pub_info_get()/pub_info_free() (pub_info.c,
 *            for the admin endpoint)
 * Threads:   the HTTPS/HTTP servers run in libmicrohttpd's own thread and read only
 *            immutable snapshots swapped by the main loop (docs/style.md section 9, option B).
 * Ownership: struct pub copies what it needs from cfg; the caller may free cfg afterwards.
 * Errors:    0, -errno or ERR_*; a reload error keeps the old state serving.
 */
#ifndef MTASTSD_PUB_H
#define MTASTSD_PUB_H

#include <stdio.h>

#include "cfg.h"
#include "loop.h"

struct pub;

/* Load certificates, bind listeners and start serving. With no domains configured returns 0
 * and *ret_pub = NULL (nothing to publish). */
int pub_new(struct loop *loop, const struct cfg *cfg, struct pub **ret_pub);
/* Swap in new policies and certificates as one step; on error keep the old ones. */
int pub_reload(struct pub *pub, const struct cfg *cfg);
struct pub *pub_free(struct pub *pub);

/* The certificate check of a loaded configuration (mtastsd -n, start, commands, reload;
 * the loader reads no certificate). For every publisher.domains[] entry: cert and key load
 * as a pair as the publisher loads them (a combined PEM file may be both), and the
 * certificate names mta-sts.<domain> (RFC 8461 section 3.3). Returns 0, or ERR_CONFIG with
 * "file:line: publisher.domains[N].cert: reason" (or .key) in errbuf. Never logs. */
int pub_check_certs(const struct cfg *cfg, char *errbuf, size_t errlen);

/* The policy id of d: d->id when set, else derived from the canonical policy text
 * (a hash, ALPHA/DIGIT, 1..32 chars). Returns an owned string. */
char *pub_policy_id(const struct cfg_domain *d);

/* `mtastsd dns-records`: zone-file lines (_mta-sts TXT, _smtp._tls TXT) for every
 * configured domain. Returns 0, or 1 when there is no domain. */
int pub_dns_records(const struct cfg *cfg, FILE *out);

/* ---- admin endpoint (pub_info.c) ---- */
#include <stdint.h>
#include <time.h>

#include "sts_policy.h"

struct pub_info_domain {
	char *domain;          /* "example.com" */
	char *id;              /* policy id served */
	enum sts_mode mode;    /* mode of the policy served */
	time_t cert_not_after; /* notAfter of the certificate for mta-sts.<domain>, 0 unknown */
};
struct pub_info {
	size_t n_domains;
	struct pub_info_domain *domains;
	uint64_t requests, policies_served, not_found, redirects, acme_served;
	uint64_t connections;           /* open now, every listener */
	uint64_t connections_timed_out; /* closed by connection_timeout: cut by the deadline
	                                 * sweep or closed after the deadline (pub_conn.c) */
};
/* A copy of what the publisher serves right now (the current snapshot, so certificates
 * reloaded by the file watcher show up). Owned: free with pub_info_free(). */
struct pub_info *pub_info_get(struct pub *pub);
struct pub_info *pub_info_free(struct pub_info *info);

#endif
