/*
 * acme/acme.h - the built-in ACME client (RFC 8555): certificates for mta-sts.<domain>
 *
 * Orders, installs and renews the certificate of every publisher.domains[] entry with
 * cert = "acme" (cfg_domain.acme), answering http-01 (RFC 8555 section 8.3) through the
 * publisher's port 80 listeners. docs/publisher.md "ACME" is the user's view.
 *
 * Interface: acme_new(), acme_free(), acme_renew(), acme_info_get(), acme_info_free(),
 *            acme_stats_add()
 * Design:    every HTTP request runs on the daemon's ACME libcurl multi (common/curlm.h) on
 *            the main loop, which never blocks on the CA. The client fetches the directory,
 *            keeps a small pool of nonces (a badNonce is retried once with the fresh nonce
 *            of the error), makes the account once (ES256 key kept in
 *            <state_directory>/acme/account.key, External Account Binding when configured)
 *            and then runs one order per name, at most ACME_ORDERS_MAX at once: newOrder,
 *            each authorization's http-01 challenge, finalize with a CSR, polling with
 *            Retry-After, certificate download. Per name, key.pem (0600, kept across
 *            renewals) and fullchain.pem are written atomically (temp, fsync, rename) in
 *            <state_directory>/acme/mta-sts.<domain>/, then hooks.certs_changed() swaps
 *            them into the publisher. A restart reads the files and orders nothing until
 *            renewal is due: when a third of the lifetime is left, less a jitter. A failed
 *            order is retried after acme.retry_min, doubling up to acme.retry_max (or the
 *            CA's Retry-After when longer); the certificate in service stays.
 *            RFC 7807 problem documents are logged with their type and detail.
 * Threads:   main loop only.
 * Ownership: struct acme copies what it needs from cfg.
 * Errors:    0 or -errno; the protocol's failures are logged per domain and retried.
 */
#ifndef MTASTSD_ACME_H
#define MTASTSD_ACME_H

#include <stdint.h>
#include <time.h>

#include "cfg.h"
#include "loop.h"

struct acme;
struct curlm;

/* What the client needs from the publisher (the daemon wires them to pub.h). */
struct acme_hooks {
	/* Answer http-01 token with key_authz until token_del(); 0 or -errno. */
	int (*token_set)(void *arg, const char *token, const char *key_authz);
	void (*token_del)(void *arg, const char *token);
	/* The files of domain were replaced: reload them (no connection dropped). */
	void (*certs_changed)(void *arg, const char *domain);
	void *arg;
};

/* The client for every ACME domain of cfg (cfg->acme, cfg->publisher.domains[].acme), on
 * loop and the libcurl multi curlm (borrowed; it must outlive the client). Reads the
 * certificates already in the state directory and plans their renewal; names without one
 * are ordered once the loop runs. Returns 0 and *ret (NULL when no domain uses ACME), or
 * -errno when the state directory cannot be made (logged). */
int acme_new(struct loop *loop, struct curlm *curlm, const struct cfg *cfg,
             const struct acme_hooks *hooks, struct acme **ret);
/* Cancels every request (nothing is written halfway). NULL is a no-op. Returns NULL. */
struct acme *acme_free(struct acme *a);
/* Renew domain's certificate now (`mtastsd cert renew`, the admin endpoint). Returns 0
 * (started: a name waiting to retry retries now), -EBUSY when an order of domain is
 * running, queued or about to start (no second order is started), or -ENOENT (not an
 * ACME domain of this client). */
int acme_renew(struct acme *a, const char *domain);

/* 1 when domain is one of the client's names (0 for NULL a). */
int acme_knows(const struct acme *a, const char *domain);

/* One name, for /status and `mtastsd cert`. */
struct acme_info_name {
	char *domain;        /* "example.com" */
	char *state;         /* "idle", "ordering", "waiting to retry" */
	char *issuer;        /* issuer DN of the certificate in service, NULL: none */
	time_t not_after;    /* 0: no certificate yet */
	time_t next_attempt; /* wall clock of the next order (renewal or retry), 0: running */
	char *last_error;    /* NULL when the last order worked (or none ran) */
	uint64_t orders_ok, orders_failed;
};
struct acme_info {
	char *directory;
	size_t n_names;
	struct acme_info_name *names;
};
/* A copy of the client's state (no name when a is NULL). Owned: acme_info_free(). */
struct acme_info *acme_info_get(const struct acme *a);
struct acme_info *acme_info_free(struct acme_info *info);
struct stats;
/* Register the client's metrics in st: mtastsd_certificate_expiry_seconds{name},
 * mtastsd_acme_orders_total{name,result}, mtastsd_acme_next_attempt_timestamp_seconds{name};
 * a may be NULL (no sample). st borrows a. */
void acme_stats_add(const struct acme *a, struct stats *st);

#endif
