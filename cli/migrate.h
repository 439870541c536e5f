/*
 * cli/migrate.h - `mtastsd migrate`: configuration from the usual MTA-STS kit
 *
 * resolver:  postfix-mta-sts-resolver's YAML (/etc/mta-sts-daemon.yml, mta-sts-daemon.yml(5)
 *            of versions 0.x to 1.5: host/port or path/mode, reuse_port, shutdown_timeout,
 *            cache_grace, cache (internal, sqlite, redis, redis_sentinel, postgres),
 *            proactive_policy_fetching, default_zone and zones) -> a complete mtastsd.conf
 *            that gives Postfix the same socketmap service: the same listener, every zone
 *            under its socketmap name, the Valkey/Redis address, database and password,
 *            the timeouts. What has no counterpart is a comment naming the key and why;
 *            unknown keys are comments and warnings, never dropped in silence.
 * publisher: a policy file served by a web server (RFC 8461 section 3.2), read with the
 *            parser of common/sts_policy.c -> the `publisher` group with its domain, and
 *            the _mta-sts TXT record mtastsd will publish (pub_dns_records()).
 * It lives in cli/ because the publisher part needs the publisher's policy id and the
 * resolver part writes the resolver's configuration (docs/architecture.md).
 *
 * Interface: migrate_resolver(), migrate_publisher(), migrate_out_free()
 * Threads:   any; no state. Reads the named files, writes nothing (the caller prints).
 * Ownership: struct migrate_out and its strings are owned by the caller.
 * Errors:    0, or ERR_CONFIG (a file that cannot be read, a YAML syntax error with
 *            FILE:LINE:COLUMN, a value mtastsd cannot express) / an ERR_POLICY_* code from
 *            the policy parser, with the message in errbuf.
 */
#ifndef MTASTSD_MIGRATE_H
#define MTASTSD_MIGRATE_H

#include <stddef.h>

/* postfix-mta-sts-resolver's default configuration file (its defaults.py). */
#define MIGRATE_RESOLVER_DEFAULT_PATH "/etc/mta-sts-daemon.yml"
/* certbot's files for mta-sts.<domain> (certbot(1), "Where are my certificates?"). */
#define MIGRATE_CERT_FMT "/etc/letsencrypt/live/mta-sts.%s/fullchain.pem"
#define MIGRATE_KEY_FMT  "/etc/letsencrypt/live/mta-sts.%s/privkey.pem"

/* The result of a migration. */
struct migrate_out {
	char *text;        /* the configuration text: comments, groups; ends with '\n' */
	size_t n_warnings; /* what the operator must look at (unknown keys, values changed) */
	char **warnings;   /* one line each, no newline; for stderr */
};

/* Read postfix-mta-sts-resolver's YAML file path (at most MIGRATE_YAML_MAX bytes; libyaml,
 * YAML 1.1 scalars as PyYAML reads them) and build a complete mtastsd.conf. Returns 0 and
 * *ret_out, or ERR_CONFIG with "FILE:LINE:COLUMN: reason" (syntax) or "FILE: reason" in
 * errbuf: unreadable file, not a mapping, a listen address mtastsd cannot bind as written
 * (a host name, a relative socket path, a port outside 1..65535). */
int migrate_resolver(const char *path, struct migrate_out **ret_out, char *errbuf, size_t errlen);

/* Read the policy file policy_path (at most STS_POLICY_BODY_MAX bytes) with
 * sts_policy_parse() and build the `publisher` group publishing it for domain (normalised
 * with domain_normalize()), with cert and key (NULL: certbot's live/ paths for
 * mta-sts.<domain>, MIGRATE_CERT_FMT / MIGRATE_KEY_FMT) and, as comments, the _mta-sts TXT
 * record mtastsd publishes (pub_dns_records()) and why its new id is harmless. Returns 0
 * and *ret_out, or ERR_CONFIG ("FILE: reason") / the parser's ERR_POLICY_* code with
 * "FILE:LINE: reason" in errbuf. The files cert and key are not read here (`mtastsd -n`
 * checks them). */
int migrate_publisher(const char *domain, const char *policy_path, const char *cert,
                      const char *key, struct migrate_out **ret_out, char *errbuf, size_t errlen);

/* Frees o; returns NULL. NULL is a no-op. */
struct migrate_out *migrate_out_free(struct migrate_out *o);

#endif
