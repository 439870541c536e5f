/*
 * publisher/pub.h - the publisher half: HTTPS policy server (libmicrohttpd + GnuTLS)
 *
 * Serves https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 section 3.2) for every
 * configured domain, SNI certificate choice, port 80 redirects and ACME http-01 webroot.
 *
 * Interface: pub_new(), pub_reload(), pub_release_held(), pub_held(), pub_free(),
 *            pub_threads(), pub_policy_id(),
 *            pub_certs_changed(), pub_acme_token_set()/pub_acme_token_del() (the built-in
 *            ACME client, through the daemon), pub_check_certs() (pub_check.c),
 *            pub_info_get()/pub_info_free(), pub_stats_add() (pub_info.c, for the admin
 *            endpoint), pub_dns_records()/pub_dns_records_free() (pub_dns.c, for
 *            `mtastsd dns-records`)
 * Threads:   the HTTPS/HTTP servers run in libmicrohttpd's own thread and read only
 *            immutable snapshots swapped by the main loop (docs/style.md section 9, option B).
 * Ownership: struct pub copies what it needs from cfg; the caller may free cfg afterwards.
 * Errors:    0, -errno or ERR_*; a reload error keeps the old state serving.
 */
#ifndef MTASTSD_PUB_H
#define MTASTSD_PUB_H

#include "cfg.h"
#include "loop.h"

struct pub;

/* Load certificates, bind listeners and start serving. With no domains configured returns 0
 * and *ret_pub = NULL (nothing to publish). */
int pub_new(struct loop *loop, const struct cfg *cfg, struct pub **ret_pub);
/* Swap in new policies and certificates as one step; on error keep the old ones. */
int pub_reload(struct pub *pub, const struct cfg *cfg);
/* The domains with an automatic rollout (rollout.target "enforce", docs/rollout.md) are
 * answered 503 (Retry-After) from pub_new() until this call, because the step they reached
 * is read from the state database only after the listeners are bound and privileges
 * dropped: serving the configured (lower) policy meanwhile would let a sender cache it
 * under the step's TXT id. Serves cfg (the steps applied) as pub_reload() does; a no-op
 * (0) once released or with pub NULL. Returns pub_reload()'s result. Main loop. */
int pub_release_held(struct pub *pub, const struct cfg *cfg);
/* Whether pub still holds them (1) or not (0; pub NULL: 0). */
int pub_held(const struct pub *pub);
struct pub *pub_free(struct pub *pub);
/* The certificate files of a domain changed (the ACME client wrote them): reload every
 * certificate now as the file watcher does, and swap the snapshot; established
 * connections keep theirs, none is dropped. A pair that fails to load keeps the one in
 * service (logged). NULL is a no-op. Main loop. */
void pub_certs_changed(struct pub *pub);
/* http-01 (RFC 8555 section 8.3): answer GET /.well-known/acme-challenge/<token> on the
 * port 80 listeners with key_authz (copied) until pub_acme_token_del(). The table is read
 * by libmicrohttpd's threads under a lock and checked before publisher.acme_webroot.
 * Returns 0, -EINVAL (token not base64url or longer than PUB_ACME_TOKEN_MAX, key_authz
 * longer than PUB_ACME_KEYAUTHZ_MAX, pub NULL) or -ENOSPC (PUB_ACME_TOKENS_MAX set). */
int pub_acme_token_set(struct pub *pub, const char *token, const char *key_authz);
/* Stop answering token; no-op when it is not set. */
void pub_acme_token_del(struct pub *pub, const char *token);
/* Worker threads of each HTTPS listener: one per online CPU, at most this many (bench,
 * docs/performance.md: TLS handshakes are CPU-bound; one polling thread used one core). */
#define PUB_THREADS_MAX 8
/* The descriptors a publisher started with cfg holds whatever its load (listening sockets,
 * libmicrohttpd's epoll and eventfd descriptors per thread, inotify), for the daemon's
 * descriptor budget (common/fd_budget.h); 0 when cfg publishes nothing. */
unsigned pub_fd_fixed(const struct cfg *cfg);
/* The MHD threads each HTTPS listener of pub runs, 1..PUB_THREADS_MAX (for logs and tests). */
unsigned pub_threads(const struct pub *pub);

/* The certificate check of a loaded configuration (mtastsd -n, start, commands, reload;
 * the loader reads no certificate). For every publisher.domains[] entry: cert and key load
 * as a pair as the publisher loads them (a combined PEM file may be both), and the
 * certificate names mta-sts.<domain> (RFC 8461 section 3.3). Returns 0, or ERR_CONFIG with
 * "file:line: publisher.domains[N].cert: reason" (or .key) in errbuf. Never logs. */
int pub_check_certs(const struct cfg *cfg, char *errbuf, size_t errlen);

/* The policy id of d: d->id when set, else derived from the canonical policy text
 * (a hash, ALPHA/DIGIT, 1..32 chars). Returns an owned string. */
char *pub_policy_id(const struct cfg_domain *d);

/* ---- when a domain's DNS records may change (RFC 8461 section 8.1) ---- */

/* A condition besides "the new policy is served" before a domain's records change (the
 * ACME work: "the new certificate serves"). Called on the main loop for each served domain
 * with dns_update after each new snapshot (start, reload); returns 1 when the records may
 * change now, 0 to hold them: the caller then calls pub_domain_ready() once the condition
 * holds. */
typedef int pub_ready_gate_fn(const char *domain, void *arg);
/* Install gate (NULL: none, the default: records follow each snapshot at once). */
void pub_set_ready_gate(struct pub *pub, pub_ready_gate_fn *gate, void *arg);
/* domain's records may change now: starts its RFC 2136 update (pub_dnsupdate.h) when it
 * has dns_update; no-op otherwise, or when pub is NULL. */
void pub_domain_ready(struct pub *pub, const char *domain);
/* ---- the TLSRPT receiver (pub_tlsrpt.c, docs/tlsrpt.md) ---- */

/* Storage of one report POSTed to PUB_TLSRPT_PATH on an HTTPS listener, set by the daemon
 * (the publisher does not know the tlsrpt library: docs/architecture.md, Layering). Called
 * in a libmicrohttpd thread, once per complete request body within tlsrpt.max_body, with
 * the client address as text; it stores (or refuses) the report and returns the HTTP
 * status to answer (2xx only once stored), with a one-line text for the body in msg
 * (msglen bytes). It must be thread-safe and must not block on the main loop. */
typedef unsigned pub_tlsrpt_fn(void *arg, const void *body, size_t len, const char *peer, char *msg,
                               size_t msglen);
/* Set (or, with fn NULL, clear) the hook. Without a hook a POST is answered 503. */
void pub_set_tlsrpt(struct pub *pub, pub_tlsrpt_fn *fn, void *arg);

/* ---- admin endpoint (pub_info.c) ---- */
#include <stdint.h>
#include <time.h>

#include "sts_policy.h"

struct pub_info_domain {
	char *domain;          /* "example.com" */
	char *id;              /* policy id served */
	enum sts_mode mode;    /* mode of the policy served */
	time_t cert_not_after; /* notAfter of the certificate for mta-sts.<domain>, 0 unknown */
	char *cert_error;      /* NULL when published; else why its certificate did not load
	                        * (the domain is not served, the others are) */
};
struct pub_info {
	size_t n_domains;
	struct pub_info_domain *domains;
};
/* A copy of what the publisher serves right now (the current snapshot, so certificates
 * reloaded by the file watcher show up); no domain when pub is NULL. Owned: free with
 * pub_info_free(). */
struct pub_info *pub_info_get(struct pub *pub);
struct pub_info *pub_info_free(struct pub_info *info);
struct stats;
/* Register the publisher's metrics in st (domains, responses by type, requests,
 * connections, certificate expiry and policy mode per domain), JSON paths relative to the
 * publisher's object; read from the MHD threads' atomic counters and the current snapshot
 * when a walker runs. pub may be NULL (publisher off): the same metrics, all 0 and no
 * per-domain sample. st borrows pub until it is cleared or freed. */
void pub_stats_add(const struct pub *pub, struct stats *st);

/* ---- the DNS records of the published domains (pub_dns.c) ---- */

/* The path of the HTTPS TLSRPT receiver on the publisher's listeners (docs/tlsrpt.md):
 * the https rua of a published domain is https://mta-sts.<domain>/.well-known/tlsrpt. */
#define PUB_TLSRPT_PATH "/.well-known/tlsrpt"

/* The TXT records one published domain needs: _mta-sts (RFC 8461 section 3.1) and, with a
 * rua (the domain's tlsrpt_rua, tlsrpt.mailto_rua, and the https rua when tlsrpt.receive
 * is on, in that order, comma-separated), _smtp._tls (RFC 8460 section 3). Texts are the unquoted
 * record data; owner names are absolute (trailing dot). */
struct pub_dns_domain {
	const char *domain; /* "example.com"; borrowed from the cfg */
	enum sts_mode mode; /* mode of the configured policy */
	char *policy_host;  /* "mta-sts.example.com": needs A/AAAA (or CNAME) to this host */
	char *sts_owner;    /* "_mta-sts.example.com." */
	char *sts_text;     /* "v=STSv1; id=<pub_policy_id()>" */
	char *tlsrpt_owner; /* "_smtp._tls.example.com.", NULL without any rua */
	char *tlsrpt_text;  /* "v=TLSRPTv1; rua=<rua>[,<rua>...]", NULL without any rua */
	uint32_t ttl_s;     /* TTL of its records (s): its dns_update's ttl, which --update
	                     * writes, or the suggestion PUB_DNS_TTL without dns_update */
};
struct pub_dns_records {
	uint32_t ttl_s; /* suggested TTL of the records of a domain without dns_update (s) */
	size_t n_domains;
	struct pub_dns_domain *domains; /* configuration order */
};
/* The records of every domain in cfg->publisher.domains (n_domains 0 when there is none).
 * Never fails. Owned by the caller (free with pub_dns_records_free()); borrows the domain
 * names from cfg, which must outlive it. */
struct pub_dns_records *pub_dns_records(const struct cfg *cfg);
/* Returns NULL; NULL is a no-op. */
struct pub_dns_records *pub_dns_records_free(struct pub_dns_records *r);

#endif
