/*
 * common/cfg.h - the configuration: libconfig file -> validated, immutable struct cfg
 *
 * One file (default /etc/mtastsd/mtastsd.conf; annotated example etc/mtastsd.conf).
 * Sections: process, resolver, publisher, cache, admin. docs/config.md lists every key.
 * Durations are written as integers (seconds) or strings with a unit ("500ms", "30s",
 * "5m", "2h", "7d"); sizes in bytes. Unknown keys, wrong types and out-of-range values are
 * errors naming file:line and the key.
 *
 * Interface: cfg_load(), cfg_defaults(), cfg_free(), cfg_zone_find(), cfg_listen_sockaddr(),
 *            cfg_restart_changes(), cfg_key_error()
 * Ownership: a struct cfg is immutable once returned; the caller frees it with cfg_free().
 *            Modules receive const pointers into it and never call libconfig.
 * Errors:    cfg_load() returns 0 or ERR_CONFIG with the message (file:line: key: reason)
 *            in errbuf. The loader reads no certificate: the publisher checks the files
 *            after loading (pub_check_certs()) and names file:line with cfg_key_error().
 * Parts:     cfg.c and the files named in internal/cfg_int.h (private to common/).
 */
#ifndef MTASTSD_CFG_H
#define MTASTSD_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sts_policy.h"

#define CFG_DEFAULT_PATH MTASTSD_SYSCONFDIR "/mtastsd/mtastsd.conf"
/* process.state_directory's default: systemd's StateDirectory=mtastsd (etc/mtastsd.service). */
#define CFG_STATE_DIRECTORY_DEFAULT "/var/lib/mtastsd"

/* A listening endpoint: "127.0.0.1:8461", "[::1]:8461", "0.0.0.0:443" or a unix socket. */
struct cfg_listen {
	char *address; /* "host:port" text as written, NULL for unix */
	char *host;    /* "127.0.0.1", "::1", "0.0.0.0" */
	uint16_t port;
	char *path;  /* unix socket path, NULL for TCP */
	mode_t mode; /* unix socket mode, default 0660 */
	char *owner; /* unix socket owner user, NULL = unchanged */
	char *group; /* unix socket group, NULL = unchanged */
};

struct cfg_process {
	char *user;                   /* drop privileges to this user after binding; NULL = stay */
	char *group;                  /* NULL = the user's primary group */
	int allow_root;               /* keep running as root when user is NULL */
	int verbosity;                /* 0..3, see log.h */
	uint64_t shutdown_timeout_ms; /* finish in-flight work on SIGTERM, default 10 s */
	char *state_directory;        /* holds state.db (common/statedb.h); NULL ("") = none */
};

/* A resolver zone, selected by the socketmap name ("postfix" in socketmap:...:postfix). */
struct cfg_zone {
	char *name;
	int strict_testing;  /* answer testing policies as enforce (default off) */
	uint64_t timeout_ms; /* a first lookup waits at most this long (default 5 s) */
	int require_sni;     /* append servername=hostname (default on; Postfix >= 3.4) */
	int tlsrpt;          /* Postfix 3.10 policy_type/... attributes (default off) */
	int dane;            /* DANE first, RFC 8461 section 2 (default on) */
};

struct cfg_resolver {
	int enabled; /* default on */
	size_t n_listen;
	struct cfg_listen *listen; /* default 127.0.0.1:8461 */
	unsigned max_connections;  /* default 1024 */
	uint64_t idle_timeout_ms;  /* close idle socketmap connections, default 60 s */
	/* a socketmap request must be complete this long after its first byte, default 10 s */
	uint64_t request_timeout_ms;
	/* DNS */
	size_t n_dns_servers;
	char **dns_servers;       /* "127.0.0.1", "127.0.0.1@5353", "[::1]:53";
	                             none = /etc/resolv.conf */
	uint64_t dns_timeout_ms;  /* per try, default 2 s */
	unsigned dns_attempts;    /* tries per server, default 2 */
	unsigned dns_concurrency; /* queries in flight (one socket each), default 256 */
	/* HTTPS fetch */
	uint64_t fetch_timeout_ms;  /* total per fetch, default 15 s */
	size_t fetch_max_body;      /* bytes, default and max 64 KiB */
	unsigned fetch_concurrency; /* fetches in flight, default 64 */
	unsigned fetch_queue_max;   /* discoveries waiting for a fetch slot, default 256 */
	unsigned max_discoveries;   /* lookup-started discoveries in flight, default 512 */
	char *ca_file;              /* test lab: CA bundle instead of the system CAs */
	char *connect_to;           /* test lab: "127.0.0.1:8443", every fetch goes there */
	/* cache timing */
	uint64_t recheck_interval_ms; /* TXT id re-check of a cached policy, default 1 h */
	uint64_t negative_ttl_ms;     /* "no policy" kept, default 5 min */
	uint64_t tempfail_ttl_ms;     /* "temporary failure" kept, default 1 min */
	uint64_t refresh_before_ms;   /* refresh this long before expiry, default 1 d */
	unsigned refresh_concurrency; /* background refreshes in flight, default 16 */
	/* zones */
	size_t n_zones;
	struct cfg_zone *zones; /* at least one; zones[0] is the default zone */
	char *default_zone;     /* name of the zone for unknown map names */
};

struct cfg_dns_update;

/* publisher.domains[].rollout.target */
enum cfg_rollout_target {
	CFG_ROLLOUT_ADVISE = 0,  /* "advise": the recommendation only (the default) */
	CFG_ROLLOUT_ENFORCE = 1, /* "enforce": mtastsd moves the domain itself (docs/rollout.md) */
};

/* publisher.domains[].rollout: the evidence the recommendation (and, with target enforce,
 * the automatic progression) asks for, and the max_age steps (docs/rollout.md). */
struct cfg_rollout {
	int target;                 /* enum cfg_rollout_target */
	unsigned min_days;          /* UTC days with reports, and days served; default 14 */
	unsigned min_sessions;      /* sessions in those reports; default 1000 */
	unsigned min_organisations; /* distinct reporting organisations; default 2 */
	size_t n_max_age_steps;
	char **max_age_steps; /* as written ("1d", "7d"); empty: the default 1d, 7d */
	uint64_t day_ms;      /* TEST LAB ONLY: the length of a day in the rules; default 1d */
	/* Not keys: max_age_steps in seconds, strictly ascending, set by cfg_load(). */
	uint32_t steps_s[ROLLOUT_STEPS_MAX];
	size_t n_steps;
	/* Not keys: the policy as configured (mode, max_age, id; "" derived), set by cfg_load():
	 * with target enforce the daemon serves a step's mode and max_age in the domain's
	 * policy instead (daemon/rollout.h rollout_apply()), and the configuration stays the
	 * admin's statement of where the domain starts and ends. */
	int orig_mode;
	uint32_t orig_max_age_s;
	char orig_id[STS_ID_MAX + 1];
};

struct cfg_domain {
	char *domain;             /* Policy Domain, normalised A-label */
	struct sts_policy policy; /* validated with sts_policy_validate() */
	char *id;                 /* explicit policy id, NULL = derived from the canonical text */
	char *cert_file;          /* fullchain.pem for mta-sts.<domain> */
	char *key_file;           /* privkey.pem */
	char *tlsrpt_rua;         /* "mailto:tlsrpt@example.com", NULL = no TLSRPT record */
	char *dns_update;         /* name of a publisher.dns_update entry, NULL = records by hand */
	/* Not a key: the entry dns_update names (into cfg->publisher.dns_updates), set by
	 * cfg_load(); NULL without dns_update. */
	const struct cfg_dns_update *upd;
	int acme; /* cert = "acme" (or no cert with an acme group): cert_file and key_file are
	           * <state_directory>/acme/mta-sts.<domain>/{fullchain,key}.pem, ordered and
	           * renewed by the ACME client (acme/acme.h) */
	struct cfg_rollout rollout; /* the rollout group; defaults without one */
};

enum cfg_tsig_alg {
	CFG_TSIG_HMAC_SHA256 = 0,
	CFG_TSIG_HMAC_SHA512 = 1,
};

/* A primary server that takes RFC 2136 dynamic updates signed with TSIG (RFC 8945) for the
 * records mtastsd owns (docs/publisher.md "DNS updates"); shared by the domains naming it. */
struct cfg_dns_update {
	char *name;             /* referenced by publisher.domains[].dns_update */
	char *server;           /* "127.0.0.1:53", "[::1]:53", "192.0.2.1" (port 53) */
	char *zone;             /* the zone the records are in, normalised; every domain
	                         * using this entry is at or below it */
	char *tsig_name;        /* TSIG key name, normalised, no trailing dot */
	int tsig_algorithm;     /* enum cfg_tsig_alg, default hmac-sha256 */
	char *tsig_secret;      /* base64; from tsig_secret or read from tsig_secret_file */
	char *tsig_secret_file; /* mode 0600/0400: not group or world accessible */
	uint32_t ttl_s;         /* TTL of the records written, default 300 */
	uint64_t timeout_ms;    /* one exchange (connect, send, reply), default 10 s */
	uint64_t retry_max_ms;  /* backoff ceiling between failed attempts, default 5 min */
};

/* publisher.domains[].cert = "acme" */
#define CFG_CERT_ACME "acme"
/* Let's Encrypt's production directory, acme.directory's default (docs/publisher.md). */
#define CFG_ACME_DIRECTORY_DEFAULT "https://acme-v02.api.letsencrypt.org/directory"

enum cfg_acme_key_type {
	CFG_ACME_KEY_ECDSA_P256 = 0,
};
enum cfg_acme_challenge {
	CFG_ACME_HTTP_01 = 0,
};

/* The acme { } group: the built-in ACME client (RFC 8555, docs/publisher.md "ACME"). */
struct cfg_acme {
	int enabled;        /* the group is present */
	char *directory;    /* directory URL, default CFG_ACME_DIRECTORY_DEFAULT */
	char *contact;      /* "mailto:admin@example.com", NULL = none */
	int terms_agreed;   /* must be true: the admin agrees to the CA's terms */
	char *eab_kid;      /* External Account Binding key id (RFC 8555 section 7.3.4) */
	char *eab_hmac_key; /* its HMAC key, base64url as the CA gives it */
	enum cfg_acme_key_type key_type;   /* of the account and certificate keys */
	enum cfg_acme_challenge challenge; /* http-01 */
	char *ca_file;         /* test lab: CA bundle trusted for the directory (pebble) */
	uint64_t retry_min_ms; /* first retry after a failed order, doubled each time */
	uint64_t retry_max_ms; /* at most this long between tries */
};

/* publisher.cert_watch */
enum cfg_cert_watch {
	CFG_CERT_WATCH_AUTO = 0, /* inotify; polling where inotify cannot watch */
	CFG_CERT_WATCH_POLL = 1, /* polling only (files on NFS, which inotify does not see) */
};

struct cfg_publisher {
	size_t n_listen;
	struct cfg_listen *listen; /* HTTPS, default 0.0.0.0:443 and [::]:443 */
	size_t n_http_listen;
	struct cfg_listen *http_listen;   /* HTTP (redirects, ACME), default :80 */
	char *tls_priority;               /* GnuTLS priority string */
	uint32_t cache_control_max_age_s; /* default 86400 */
	char *acme_webroot;       /* serves /.well-known/acme-challenge/<token>; NULL = off */
	unsigned max_connections; /* all listeners together, each an equal share; default 4096 */
	unsigned max_connections_per_address; /* per listener, default 64; 0 = no limit */
	uint64_t connection_timeout_ms;       /* default 30 s */
	uint64_t cert_poll_interval_ms; /* certificate files inotify cannot watch; default 60 s */
	int cert_watch; /* enum cfg_cert_watch: inotify where it can ("auto"), or "poll" */
	size_t n_domains;
	struct cfg_domain *domains; /* the publisher runs when this is not empty */
	size_t n_dns_updates;
	struct cfg_dns_update *dns_updates; /* publisher.dns_update: named update targets */
	/* The MX check of the published domains (resolver/mx_probe.h, docs/check.md). */
	int mx_check;                      /* `check` and the daemon probe MX hosts; default on */
	uint64_t mx_check_interval_ms;     /* the daemon's runs, jittered; 0 = off; default 6 h */
	uint64_t mx_check_timeout_ms;      /* one MX host, every step; default 60 s */
	uint64_t mx_check_step_timeout_ms; /* connect, each reply, the handshake; default 10 s */
	unsigned mx_check_concurrency;     /* domains probed at once by the daemon; default 4 */
	unsigned mx_check_port;            /* TEST LAB ONLY: the SMTP port, default 25 */
	uint64_t rollout_interval_ms; /* the rollout's evaluation (daemon/rollout.h); default 1 min
	                               */
};

enum cfg_cache_backend {
	CFG_CACHE_MEMORY = 0,
	CFG_CACHE_REDIS = 1,
};

struct cfg_cache {
	enum cfg_cache_backend backend; /* "memory" (default) or "redis" */
	size_t max_entries;             /* in-memory policies, default 100000 */
	size_t max_negative_entries;    /* in-memory no-policy/tempfail entries, default 100000 */
	/* Valkey/Redis */
	char *redis_address; /* "127.0.0.1:6379" or "unix:/path" */
	unsigned redis_db;
	char *redis_username;
	char *redis_password;
	char *redis_prefix; /* default "mtastsd" */
	uint64_t redis_connect_timeout_ms;
	uint64_t redis_command_timeout_ms;
	size_t n_sentinels;
	char **sentinels; /* "host:port" */
	char *sentinel_master;
};

struct cfg_admin {
	int enabled;              /* default on */
	struct cfg_listen listen; /* default 127.0.0.1:8462 */
	char *token;              /* bearer token, NULL = none */
	size_t n_allowed_hosts;
	char **allowed_hosts; /* Host names besides localhost and the listen address */
	/* Not a key: the daemon's descriptor budget (common/fd_budget.h) sets it at start;
	 * 0 = ADMIN_MAX_CONNECTIONS. */
	unsigned max_connections;
};

struct cfg_where;

/* TLSRPT reports received (tlsrpt/, docs/tlsrpt.md, RFC 8460). */
struct cfg_tlsrpt {
	int receive;               /* HTTPS rua on the publisher's listeners, default off */
	char *mailto_rua;          /* "mailto:tlsrpt@example.com" printed by dns-records; NULL */
	uint64_t retention_ms;     /* reports kept this long, default 400 d */
	size_t max_stored_bytes;   /* compressed raw reports kept in all, default 256 MiB */
	size_t max_body;           /* HTTPS request body (as sent), default 1 MiB */
	size_t max_report;         /* decompressed report, default 8 MiB */
	unsigned max_ratio;        /* decompressed / compressed, default 100 */
	unsigned rate_per_address; /* HTTPS reports per address per hour, default 60; 0 = off */
	unsigned max_uploads;      /* HTTPS uploads in progress at once, default 8 */
	size_t min_upload_rate;    /* bytes/s an upload keeps up after its grace, 4096; 0 = off */
};

struct cfg {
	char *path; /* file loaded, NULL for the embedded defaults */
	struct cfg_process process;
	struct cfg_resolver resolver;
	struct cfg_publisher publisher;
	struct cfg_cache cache;
	struct cfg_admin admin;
	struct cfg_acme acme;
	struct cfg_tlsrpt tlsrpt;
	/* private (cfg_key_error()): where each path key is written in the file */
	struct cfg_where *where;
	size_t n_where;
};

/* Load and validate path. On success *ret_cfg is set and 0 returned; otherwise ERR_CONFIG
 * and errbuf holds "file:line: key: reason". */
int cfg_load(const char *path, struct cfg **ret_cfg, char *errbuf, size_t errlen);
/* The embedded defaults (used when no config file exists). Never fails. */
struct cfg *cfg_defaults(void);
struct cfg *cfg_free(struct cfg *c);
/* The socket address of a TCP listener: l->host ("127.0.0.1", "::1" or "[::1]"; NULL or
 * empty means default_host) and l->port. Fills *ret_ss and *ret_len, and the host without
 * brackets into host (hostsz bytes, may be NULL). Returns 0, or -EINVAL when the host is
 * not a numeric IPv4 or IPv6 address. */
int cfg_listen_sockaddr(const struct cfg_listen *l, const char *default_host,
                        struct sockaddr_storage *ret_ss, socklen_t *ret_len, char *host,
                        size_t hostsz);

/* A key's dotted name ("cache.redis.address"), valid only during the call. */
typedef void cfg_key_fn(const char *key, void *arg);

/* Calls fn, in key table order, with the name of each key that a reload cannot apply
 * (listeners, the user, the cache backend, ...: docs/config.md) and whose value differs
 * between old and new. publisher.domains is not among them: it needs a restart only when
 * the publisher is not running, which the caller knows. Returns the count of calls. */
size_t cfg_restart_changes(const struct cfg *old, const struct cfg *new, cfg_key_fn *fn, void *arg);

/* The ids of process.user (which must be set) and of process.group (or the user's own
 * group): what the daemon started as root runs as. Returns 0 with *ret_uid and *ret_gid, or
 * -ENOENT with *ret_key = "process.user" or "process.group" when that name is unknown
 * (getpwnam(3), getgrnam(3)). Not thread-safe (their static storage). */
int cfg_process_ids(const struct cfg_process *p, uid_t *ret_uid, gid_t *ret_gid,
                    const char **ret_key);

/* A check made after loading (the publisher's certificate check) reports an error about a
 * path key as cfg_load() would: errbuf = "file:line: key: reason", file:line being where
 * key ("publisher.domains[0].cert") is written, or "file: key: reason" when it is not in
 * the file. Returns ERR_CONFIG. */
int cfg_key_error(const struct cfg *c, const char *key, char *errbuf, size_t errlen,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The zone for a socketmap name; the default zone when none has that name. Never NULL. */
const struct cfg_zone *cfg_zone_find(const struct cfg_resolver *r, const char *name,
                                     size_t namelen);

#endif
