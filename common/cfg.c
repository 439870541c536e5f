/*
 * common/cfg.c - the configuration: libconfig file -> validated, immutable struct cfg
 *
 * Interface: cfg_load(), cfg_defaults(), cfg_free(), cfg_zone_find(), cfg_restart_changes()
 * Design:    one key table per group (cfg_keys_*) gives each key its name, type, offset,
 *            default, minimum, maximum and flags (Postfix CONFIG_*_TABLE). The same tables
 *            fill the defaults, drive parsing and validation, free the result and say which
 *            keys a reload cannot apply (CFG_F_RESTART). What a table cannot say (duplicate
 *            domains, the policy of a published domain, the default zone) is checked
 *            afterwards in cfg_finish(), as is what spans keys (cfg_listen.c: two listeners
 *            on one address and port). The parts: cfg_int.h. Certificate files are checked
 *            by the publisher after loading (pub_check_certs()), not here.
 * Threads:   any; no global state.
 * Ownership: the struct cfg and everything it points to belong to the caller (cfg_free()).
 * Errors:    cfg_load() returns ERR_CONFIG with "file:line: key: reason" in errbuf, the key
 *            being the full dotted path ("resolver.zones[0].timeout").
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_int.h"
#include "domain.h"
#include "err.h"
#include "mtasts_limits.h"
#include "sts_policy.h"
#include "xalloc.h"

/* Bounds of our own on list lengths in the file (no RFC behind them). */
#define CFG_DNS_SERVERS_MAX 8
#define CFG_SENTINELS_MAX   16
#define CFG_ZONES_MAX       64
#define CFG_DOMAINS_MAX     1024
/* admin.allowed_hosts: the names of one machine, each checked on every admin request. */
#define CFG_ADMIN_HOSTS_MAX 32
/* publisher.dns_update entries: one per primary server and key, shared by domains. */
#define CFG_DNS_UPDATES_MAX 64
/* A TSIG secret file holds one base64 secret (64 bytes of key are 88 characters). */
#define CFG_TSIG_SECRET_FILE_MAX 4096
/* A dns_update name is short, like a zone name. */
#define CFG_UPD_NAME_MAX 64

static const struct cfg_enum cfg_mode_names[] = {
        {"none", STS_MODE_NONE},
        {"testing", STS_MODE_TESTING},
        {"enforce", STS_MODE_ENFORCE},
        {NULL, 0},
};
static cfg_check_fn cfg_check_upd_name;

static const struct cfg_enum cfg_tsig_alg_names[] = {
        {"hmac-sha256", CFG_TSIG_HMAC_SHA256},
        {"hmac-sha512", CFG_TSIG_HMAC_SHA512},
        {NULL, 0},
};
/* Valkey speaks the Redis protocol; "valkey" is an alias. */
static const struct cfg_enum cfg_backend_names[] = {
        {"memory", CFG_CACHE_MEMORY},
        {"redis", CFG_CACHE_REDIS},
        {"valkey", CFG_CACHE_REDIS},
        {NULL, 0},
};

static const struct cfg_enum cfg_cert_watch_names[] = {
        {"auto", CFG_CERT_WATCH_AUTO},
        {"poll", CFG_CERT_WATCH_POLL},
        {NULL, 0},
};
static const struct cfg_enum cfg_acme_key_names[] = {
        {"ecdsa-p256", CFG_ACME_KEY_ECDSA_P256},
        {NULL, 0},
};
static const struct cfg_enum cfg_acme_challenge_names[] = {
        {"http-01", CFG_ACME_HTTP_01},
        {NULL, 0},
};

/*
 * The key tables: one line per key, giving name, field, default, minimum, maximum and
 * flags. S is the struct the offsets are relative to: struct cfg for the sections, the
 * element struct for lists of groups. Durations are in ms (SEC(), MIN(), HOUR(), DAY()).
 * Flags: REQ the key must be present; RST a reload does not apply it, and logs
 * "reload: KEY changed: requires restart, ignoring" when it changed (daemon_reload(),
 * docs/config.md). resolver.listen needs a restart too, and the socketmap server logs
 * that in its own words (sm_server_reload()).
 */
#define K_BOOL(S, n, f, d, fl)                                                                     \
	{                                                                                          \
		.name = n, .kind = CFG_K_BOOL, .off = offsetof(S, f), .def = d, .max = 1,          \
		.flags = fl                                                                        \
	}
#define K_UINT(S, n, f, d, lo, hi, fl)                                                             \
	{                                                                                          \
		.name = n, .kind = CFG_K_UINT, .off = offsetof(S, f), .def = d, .min = lo,         \
		.max = hi, .flags = fl                                                             \
	}
#define K_SIZE(S, n, f, d, lo, hi, fl)                                                             \
	{                                                                                          \
		.name = n, .kind = CFG_K_SIZE, .off = offsetof(S, f), .def = d, .min = lo,         \
		.max = hi, .flags = fl                                                             \
	}
#define K_MS(S, n, f, d, lo, hi, fl)                                                               \
	{                                                                                          \
		.name = n, .kind = CFG_K_MS, .off = offsetof(S, f), .def = d, .min = lo,           \
		.max = hi, .flags = fl                                                             \
	}
#define K_SEC32(S, n, f, d, lo, hi)                                                                \
	{                                                                                          \
		.name = n, .kind = CFG_K_SEC32, .off = offsetof(S, f), .def = d, .min = lo,        \
		.max = hi                                                                          \
	}
#define K_STR(S, n, f, sd, fl, chk)                                                                \
	{                                                                                          \
		.name = n, .kind = CFG_K_STR, .off = offsetof(S, f), .sdef = sd, .flags = fl,      \
		.check = chk                                                                       \
	}
#define K_PATH(S, n, f, fl)                                                                        \
	{                                                                                          \
		.name = n, .kind = CFG_K_PATH, .off = offsetof(S, f), .flags = fl                  \
	}
#define K_ENUM(S, n, f, d, nm, fl)                                                                 \
	{                                                                                          \
		.name = n, .kind = CFG_K_ENUM, .off = offsetof(S, f), .def = d, .names = nm,       \
		.flags = fl                                                                        \
	}
#define K_STRLIST(S, n, f, nf, hi, chk, fl)                                                        \
	{                                                                                          \
		.name = n, .kind = CFG_K_STRLIST, .off = offsetof(S, f), .off_n = offsetof(S, nf), \
		.max = hi, .check = chk, .flags = fl                                               \
	}
#define K_LISTENS(n, f, nf, lo, hi, sd, fl)                                                        \
	{                                                                                          \
		.name = n, .kind = CFG_K_LISTENS, .off = offsetof(struct cfg, f),                  \
		.off_n = offsetof(struct cfg, nf), .min = lo, .max = hi, .sdef = sd, .flags = fl   \
	}
#define K_LISTEN(n, f, sd, fl)                                                                     \
	{                                                                                          \
		.name = n, .kind = CFG_K_LISTEN, .off = offsetof(struct cfg, f), .sdef = sd,       \
		.flags = fl                                                                        \
	}
#define K_GROUP(n, tab)                                                                            \
	{                                                                                          \
		.name = n, .kind = CFG_K_GROUP, .sub = tab                                         \
	}
#define K_GROUPS(n, f, nf, hi, tab, E)                                                             \
	{                                                                                          \
		.name = n, .kind = CFG_K_GROUPLIST, .off = offsetof(struct cfg, f),                \
		.off_n = offsetof(struct cfg, nf), .max = hi, .sub = tab, .elsize = sizeof(E)      \
	}
#define K_END                                                                                      \
	{                                                                                          \
		.name = NULL                                                                       \
	}

#define P   struct cfg
#define Z   struct cfg_zone
#define D   struct cfg_domain
#define U   struct cfg_dns_update
#define REQ CFG_F_REQUIRED
#define RST CFG_F_RESTART

static const struct cfg_key cfg_keys_process[] = {
        K_STR(P, "user", process.user, NULL, RST, cfg_check_name),
        K_STR(P, "group", process.group, NULL, RST, cfg_check_name),
        K_BOOL(P, "allow_root", process.allow_root, 0, RST),
        K_UINT(P, "verbosity", process.verbosity, 0, 0, 3, 0),
        K_MS(P, "shutdown_timeout", process.shutdown_timeout_ms, SEC(10), 0, MIN(5), 0),
        {.name = "state_directory",
         .kind = CFG_K_PATH,
         .off = offsetof(P, process.state_directory),
         .sdef = CFG_STATE_DIRECTORY_DEFAULT,
         .flags = RST},
        K_END,
};

static const struct cfg_key cfg_keys_zone[] = {
        K_STR(Z, "name", name, NULL, REQ, cfg_check_zone_name),
        K_BOOL(Z, "strict_testing", strict_testing, 0, 0),
        K_MS(Z, "timeout", timeout_ms, SEC(5), 100, SEC(60), 0),
        K_BOOL(Z, "require_sni", require_sni, 1, 0),
        K_BOOL(Z, "tlsrpt", tlsrpt, 0, 0),
        K_BOOL(Z, "dane", dane, 1, 0),
        K_END,
};

static const struct cfg_key cfg_keys_resolver[] = {
        K_BOOL(P, "enabled", resolver.enabled, 1, RST),
        K_LISTENS("listen", resolver.listen, resolver.n_listen, 1, CFG_LISTEN_MAX, "127.0.0.1:8461",
                  0),
        K_UINT(P, "max_connections", resolver.max_connections, 1024, 1, 65536, 0),
        K_MS(P, "idle_timeout", resolver.idle_timeout_ms, SEC(60), SEC(1), DAY(1), 0),
        K_MS(P, "request_timeout", resolver.request_timeout_ms, SEC(10), SEC(1), HOUR(1), 0),
        K_STRLIST(P, "dns_servers", resolver.dns_servers, resolver.n_dns_servers,
                  CFG_DNS_SERVERS_MAX, cfg_check_dns_server, 0),
        K_MS(P, "dns_timeout", resolver.dns_timeout_ms, SEC(2), 100, SEC(30), 0),
        K_UINT(P, "dns_attempts", resolver.dns_attempts, 2, 1, 10, 0),
        K_UINT(P, "dns_concurrency", resolver.dns_concurrency, 256, 1, 65536, 0),
        K_MS(P, "fetch_timeout", resolver.fetch_timeout_ms, FETCH_TIMEOUT_DEFAULT_MS, SEC(1),
             MIN(5), 0),
        K_SIZE(P, "fetch_max_body", resolver.fetch_max_body, STS_POLICY_BODY_MAX, 512,
               STS_POLICY_BODY_MAX, 0),
        K_UINT(P, "fetch_concurrency", resolver.fetch_concurrency, 64, 1, 4096, 0),
        K_UINT(P, "fetch_queue_max", resolver.fetch_queue_max, 256, 0, 65536, 0),
        K_UINT(P, "max_discoveries", resolver.max_discoveries, 512, 1, 65536, 0),
        K_PATH(P, "ca_file", resolver.ca_file, CFG_F_READABLE),
        K_STR(P, "connect_to", resolver.connect_to, NULL, 0, cfg_check_hostport),
        K_MS(P, "recheck_interval", resolver.recheck_interval_ms, HOUR(1), SEC(1), DAY(7), 0),
        K_MS(P, "negative_ttl", resolver.negative_ttl_ms, MIN(5), SEC(1), DAY(1), 0),
        K_MS(P, "tempfail_ttl", resolver.tempfail_ttl_ms, MIN(1), SEC(1), HOUR(1), 0),
        K_MS(P, "refresh_before", resolver.refresh_before_ms, DAY(1), 0, DAY(30), 0),
        K_UINT(P, "refresh_concurrency", resolver.refresh_concurrency, 16, 1, 1024, 0),
        K_STR(P, "default_zone", resolver.default_zone, NULL, 0, cfg_check_zone_name),
        K_GROUPS("zones", resolver.zones, resolver.n_zones, CFG_ZONES_MAX, cfg_keys_zone, Z),
        K_END,
};

static const struct cfg_enum cfg_rollout_target_names[] = {
        {"advise", CFG_ROLLOUT_ADVISE},
        {"enforce", CFG_ROLLOUT_ENFORCE},
        {NULL, 0},
};

/* publisher.domains[].rollout (docs/rollout.md) */
static const struct cfg_key cfg_keys_rollout[] = {
        K_ENUM(D, "target", rollout.target, CFG_ROLLOUT_ADVISE, cfg_rollout_target_names, 0),
        K_UINT(D, "min_days", rollout.min_days, ROLLOUT_MIN_DAYS_DEFAULT, 1, 365, 0),
        K_UINT(D, "min_sessions", rollout.min_sessions, ROLLOUT_MIN_SESSIONS_DEFAULT, 0, 1000000000,
               0),
        K_UINT(D, "min_organisations", rollout.min_organisations, ROLLOUT_MIN_ORGANISATIONS_DEFAULT,
               0, 1000, 0),
        K_STRLIST(D, "max_age_steps", rollout.max_age_steps, rollout.n_max_age_steps,
                  ROLLOUT_STEPS_MAX - 1, cfg_check_max_age, 0),
        K_MS(D, "day", rollout.day_ms, DAY(1), SEC(1), DAY(1), 0),
        K_END,
};

static const struct cfg_key cfg_keys_domain[] = {
        K_STR(D, "domain", domain, NULL, REQ, NULL),
        K_ENUM(D, "mode", policy.mode, 0, cfg_mode_names, REQ),
        K_SEC32(D, "max_age", policy.max_age_s, DAY(7), MIN(1), SEC(STS_MAX_AGE_MAX)),
        K_STRLIST(D, "mx", policy.mx, policy.n_mx, STS_MX_MAX, NULL, 0),
        K_STR(D, "id", id, NULL, 0, cfg_check_id),
        K_PATH(D, "cert", cert_file, CFG_F_READABLE | CFG_F_ACME),
        K_PATH(D, "key", key_file, CFG_F_READABLE),
        K_STR(D, "tlsrpt_rua", tlsrpt_rua, NULL, 0, cfg_check_rua),
        K_STR(D, "dns_update", dns_update, NULL, 0, cfg_check_upd_name),
        K_GROUP("rollout", cfg_keys_rollout),
        K_END,
};

/* publisher.dns_update: RFC 2136 update targets (docs/publisher.md "DNS updates"). */
static const struct cfg_key cfg_keys_dns_update[] = {
        K_STR(U, "name", name, NULL, REQ, cfg_check_upd_name),
        K_STR(U, "server", server, NULL, REQ, cfg_check_dns_server),
        K_STR(U, "zone", zone, NULL, REQ, NULL),
        K_STR(U, "tsig_name", tsig_name, NULL, REQ, NULL),
        K_ENUM(U, "tsig_algorithm", tsig_algorithm, CFG_TSIG_HMAC_SHA256, cfg_tsig_alg_names, 0),
        K_STR(U, "tsig_secret", tsig_secret, NULL, 0, NULL),
        K_PATH(U, "tsig_secret_file", tsig_secret_file, CFG_F_READABLE),
        K_SEC32(U, "ttl", ttl_s, SEC(300), SEC(1), DAY(1)),
        K_MS(U, "timeout", timeout_ms, SEC(10), 100, MIN(2), 0),
        K_MS(U, "retry_max", retry_max_ms, MIN(5), SEC(1), HOUR(6), 0),
        K_END,
};

/* publisher.domains needs a restart only when the publisher is not running (none at start):
 * the daemon says so itself. */
static const struct cfg_key cfg_keys_publisher[] = {
        K_LISTENS("listen", publisher.listen, publisher.n_listen, 1, CFG_LISTEN_MAX,
                  "0.0.0.0:443 [::]:443", RST),
        K_LISTENS("http_listen", publisher.http_listen, publisher.n_http_listen, 0, CFG_LISTEN_MAX,
                  "0.0.0.0:80 [::]:80", RST),
        K_STR(P, "tls_priority", publisher.tls_priority,
              "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", RST, cfg_check_priority),
        K_SEC32(P, "cache_control_max_age", publisher.cache_control_max_age_s, DAY(1), 0,
                SEC(STS_MAX_AGE_MAX)),
        K_PATH(P, "acme_webroot", publisher.acme_webroot, CFG_F_DIR),
        K_UINT(P, "max_connections", publisher.max_connections, 4096, 1, 262144, RST),
        K_UINT(P, "max_connections_per_address", publisher.max_connections_per_address, 64, 0,
               65536, RST),
        K_MS(P, "connection_timeout", publisher.connection_timeout_ms, SEC(30), SEC(1), HOUR(1),
             RST),
        K_MS(P, "cert_poll_interval", publisher.cert_poll_interval_ms, SEC(60), SEC(1), HOUR(1),
             RST),
        K_ENUM(P, "cert_watch", publisher.cert_watch, CFG_CERT_WATCH_AUTO, cfg_cert_watch_names,
               RST),
        K_GROUPS("domains", publisher.domains, publisher.n_domains, CFG_DOMAINS_MAX,
                 cfg_keys_domain, D),
        K_GROUPS("dns_update", publisher.dns_updates, publisher.n_dns_updates, CFG_DNS_UPDATES_MAX,
                 cfg_keys_dns_update, U),
        /* the MX check: resolver/mx_probe.h, docs/check.md "MX hosts" */
        K_BOOL(P, "mx_check", publisher.mx_check, 1, 0),
        K_MS(P, "mx_check_interval", publisher.mx_check_interval_ms, HOUR(6), 0, DAY(30), 0),
        K_MS(P, "mx_check_timeout", publisher.mx_check_timeout_ms, MX_PROBE_HOST_MS, SEC(1),
             MIN(10), 0),
        K_MS(P, "mx_check_step_timeout", publisher.mx_check_step_timeout_ms, MX_PROBE_STEP_MS, 100,
             MIN(5), 0),
        K_UINT(P, "mx_check_concurrency", publisher.mx_check_concurrency, 4, 1, 64, 0),
        K_UINT(P, "mx_check_port", publisher.mx_check_port, 25, 1, 65535, 0),
        K_MS(P, "rollout_interval", publisher.rollout_interval_ms, MIN(1), SEC(1), HOUR(1), 0),
        K_END,
};

static const struct cfg_key cfg_keys_redis[] = {
        K_STR(P, "address", cache.redis_address, "127.0.0.1:6379", RST, cfg_check_redis_address),
        K_UINT(P, "db", cache.redis_db, 0, 0, 1023, RST),
        K_STR(P, "username", cache.redis_username, NULL, RST, NULL),
        K_STR(P, "password", cache.redis_password, NULL, RST, NULL),
        K_STR(P, "prefix", cache.redis_prefix, "mtastsd", RST, cfg_check_redis_prefix),
        K_MS(P, "connect_timeout", cache.redis_connect_timeout_ms, SEC(2), 10, SEC(60), 0),
        K_MS(P, "command_timeout", cache.redis_command_timeout_ms, 500, 10, SEC(60), 0),
        K_STRLIST(P, "sentinels", cache.sentinels, cache.n_sentinels, CFG_SENTINELS_MAX,
                  cfg_check_hostport, RST),
        K_STR(P, "master_name", cache.sentinel_master, NULL, RST, NULL),
        K_END,
};

static const struct cfg_key cfg_keys_cache[] = {
        K_ENUM(P, "backend", cache.backend, CFG_CACHE_MEMORY, cfg_backend_names, RST),
        K_SIZE(P, "max_entries", cache.max_entries, 100000, 1, 10000000, RST),
        K_SIZE(P, "max_negative_entries", cache.max_negative_entries, 100000, 1, 10000000, 0),
        K_GROUP("redis", cfg_keys_redis),
        K_END,
};

static const struct cfg_key cfg_keys_admin[] = {
        K_BOOL(P, "enabled", admin.enabled, 1, RST),
        K_LISTEN("listen", admin.listen, "127.0.0.1:8462", RST),
        K_STR(P, "token", admin.token, NULL, 0, NULL),
        K_STRLIST(P, "allowed_hosts", admin.allowed_hosts, admin.n_allowed_hosts,
                  CFG_ADMIN_HOSTS_MAX, cfg_check_admin_host, 0),
        K_END,
};

/* The ACME client's settings need a restart (the client is built once at start). */
static const struct cfg_key cfg_keys_acme[] = {
        K_STR(P, "directory", acme.directory, CFG_ACME_DIRECTORY_DEFAULT, RST, NULL),
        K_STR(P, "contact", acme.contact, NULL, RST, NULL),
        K_BOOL(P, "terms_agreed", acme.terms_agreed, 0, RST),
        K_STR(P, "eab_kid", acme.eab_kid, NULL, RST, NULL),
        K_STR(P, "eab_hmac_key", acme.eab_hmac_key, NULL, RST, NULL),
        K_ENUM(P, "key_type", acme.key_type, CFG_ACME_KEY_ECDSA_P256, cfg_acme_key_names, RST),
        K_ENUM(P, "challenge", acme.challenge, CFG_ACME_HTTP_01, cfg_acme_challenge_names, RST),
        K_PATH(P, "ca_file", acme.ca_file, CFG_F_READABLE | RST),
        K_MS(P, "retry_min", acme.retry_min_ms, MIN(1), SEC(1), HOUR(1), RST),
        K_MS(P, "retry_max", acme.retry_max_ms, HOUR(6), SEC(1), DAY(1), RST),
        K_END,
};

/* TLS reports received (tlsrpt/, docs/tlsrpt.md). */
static const struct cfg_key cfg_keys_tlsrpt[] = {
        K_BOOL(P, "receive", tlsrpt.receive, 0, 0),
        K_STR(P, "mailto_rua", tlsrpt.mailto_rua, NULL, 0, cfg_check_rua),
        K_MS(P, "retention", tlsrpt.retention_ms, DAY(400), DAY(1), DAY(3660), 0),
        K_SIZE(P, "max_stored_bytes", tlsrpt.max_stored_bytes, 256u * 1024 * 1024, 65536,
               (size_t)1 << 40, 0),
        K_SIZE(P, "max_body", tlsrpt.max_body, 1024 * 1024, 1024, 64u * 1024 * 1024, 0),
        K_SIZE(P, "max_report", tlsrpt.max_report, 8u * 1024 * 1024, 4096, 256u * 1024 * 1024, 0),
        K_UINT(P, "max_ratio", tlsrpt.max_ratio, 100, 2, 100000, 0),
        K_UINT(P, "rate_per_address", tlsrpt.rate_per_address, 60, 0, 1000000, 0),
        K_UINT(P, "max_uploads", tlsrpt.max_uploads, 8, 1, 1024, 0),
        K_SIZE(P, "min_upload_rate", tlsrpt.min_upload_rate, 4096, 0, 64u * 1024 * 1024, 0),
        K_END,
};

/* One group per line: clang-format 14 would pack the seven into columns. */
/* clang-format off */
static const struct cfg_key cfg_keys_root[] = {
        K_GROUP("process", cfg_keys_process),
        K_GROUP("resolver", cfg_keys_resolver),
        K_GROUP("publisher", cfg_keys_publisher),
        K_GROUP("cache", cfg_keys_cache),
        K_GROUP("admin", cfg_keys_admin),
        K_GROUP("acme", cfg_keys_acme),
        K_GROUP("tlsrpt", cfg_keys_tlsrpt),
        K_END,
};
/* clang-format on */

#undef P
#undef Z
#undef D
#undef U
#undef REQ
#undef RST

struct cfg *
cfg_free(struct cfg *c)
{
	size_t i;

	if (c == NULL)
		return NULL;
	for (i = 0; i < c->publisher.n_domains; i++) {
		struct sts_policy *p = &c->publisher.domains[i].policy;
		size_t j;

		for (j = 0; j < p->n_ext; j++) {
			free(p->ext[j].name);
			free(p->ext[j].value);
		}
		free(p->ext);
	}
	cfg_table_free(cfg_keys_root, c);
	cfg_where_free(c);
	free(c->path);
	free(c);
	return NULL;
}

static void
cfg_zone_default(struct cfg_resolver *r)
{
	free(r->zones); /* "zones = ();" left an empty array (found by fuzz_cfg) */
	r->zones = xcalloc(1, sizeof(struct cfg_zone));
	r->n_zones = 1;
	cfg_table_defaults(cfg_keys_zone, &r->zones[0]);
	r->zones[0].name = xstrdup("postfix");
	free(r->default_zone);
	r->default_zone = xstrdup("postfix");
}

/* ---- cross-key checks ---- */

static int
cfg_finish_zones(struct cfg_ctx *ctx, struct cfg *c, const config_setting_t *root)
{
	struct cfg_resolver *r = &c->resolver;
	const config_setting_t *rs = cfg_lookup(root, "resolver");
	const config_setting_t *zs = cfg_lookup(rs, "zones");
	char key[CFG_KEY_PATH_MAX];
	size_t i, j;

	if (r->n_zones == 0) {
		char *dz = r->default_zone;

		r->default_zone = NULL;
		cfg_zone_default(r);
		if (dz != NULL && strcmp(dz, "postfix") != 0) {
			cfg_error(ctx, cfg_lookup(rs, "default_zone"), "resolver.default_zone",
			          "no zone named '%s' (no zones configured, the only zone is "
			          "'postfix')",
			          dz);
			free(dz);
			return -1;
		}
		free(dz);
		return 0;
	}
	for (i = 1; i < r->n_zones; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(r->zones[i].name, r->zones[j].name) == 0) {
				const config_setting_t *e =
				        config_setting_get_elem(zs, (unsigned)i);

				(void)snprintf(key, sizeof(key), "resolver.zones[%zu].name", i);
				return cfg_error(ctx, cfg_lookup(e, "name"), key,
				                 "duplicate zone '%s'", r->zones[i].name);
			}
		}
	}
	if (r->default_zone == NULL) {
		r->default_zone = xstrdup(r->zones[0].name);
		return 0;
	}
	for (i = 0; i < r->n_zones; i++) {
		if (strcmp(r->zones[i].name, r->default_zone) == 0)
			break;
	}
	if (i == r->n_zones)
		return cfg_error(ctx, cfg_lookup(rs, "default_zone"), "resolver.default_zone",
		                 "no zone named '%s'", r->default_zone);
	if (i > 0) {
		/* zones[0] is the default zone (cfg.h) */
		struct cfg_zone z = r->zones[i];

		memmove(&r->zones[1], &r->zones[0], i * sizeof(z));
		r->zones[0] = z;
	}
	return 0;
}

/* A domain's certificate: files (cert and key), or ACME (cert = "acme", or neither with an
 * acme group), whose files live under the state directory. */
static int
cfg_finish_domain_cert(struct cfg_ctx *ctx, struct cfg *c, size_t i, const config_setting_t *e)
{
	struct cfg_domain *d = &c->publisher.domains[i];
	char key[CFG_KEY_PATH_MAX];

	(void)snprintf(key, sizeof(key), "publisher.domains[%zu].cert", i);
	if (d->cert_file != NULL && strcmp(d->cert_file, CFG_CERT_ACME) != 0) {
		if (d->key_file == NULL)
			return cfg_error(ctx, e, key,
			                 "has no key (key = \"...\"; or cert = "
			                 "\"acme\" for the ACME client)");
		return 0;
	}
	if (d->cert_file == NULL && d->key_file != NULL)
		return cfg_error(ctx, cfg_lookup(e, "key"), key,
		                 "required with key (or cert = \"acme\" without key)");
	if (d->cert_file == NULL && !c->acme.enabled)
		return cfg_error(
		        ctx, e, key,
		        "required (a certificate file, or \"acme\" with an acme { } group)");
	if (d->key_file != NULL)
		return cfg_error(ctx, cfg_lookup(e, "key"), key,
		                 "cert = \"acme\" takes no key: the ACME client makes it");
	if (!c->acme.enabled)
		return cfg_error(ctx, cfg_lookup(e, "cert"), key,
		                 "cert = \"acme\" needs an acme { } group (directory, contact, "
		                 "terms_agreed)");
	if (c->process.state_directory == NULL)
		return cfg_error(ctx, cfg_lookup(e, "cert"), key,
		                 "cert = \"acme\" needs process.state_directory (the ACME keys and "
		                 "certificates live there)");
	free(d->cert_file);
	d->acme = 1;
	d->cert_file = xasprintf("%s/acme/mta-sts.%s/fullchain.pem", c->process.state_directory,
	                         d->domain);
	d->key_file =
	        xasprintf("%s/acme/mta-sts.%s/key.pem", c->process.state_directory, d->domain);
	return 0;
}

static int
cfg_finish_acme(struct cfg_ctx *ctx, struct cfg *c, const config_setting_t *root)
{
	const config_setting_t *as = cfg_lookup(root, "acme");

	c->acme.enabled = as != NULL;
	if (as == NULL)
		return 0;
	if (!c->acme.terms_agreed)
		return cfg_error(ctx, as, "acme.terms_agreed",
		                 "must be true: read the CA's terms of service (its directory's "
		                 "meta.termsOfService) and agree to them yourself");
	if (strncmp(c->acme.directory, "https://", 8) != 0)
		return cfg_error(ctx, cfg_lookup(as, "directory"), "acme.directory",
		                 "'%s' is not an https:// URL", c->acme.directory);
	if (c->acme.contact != NULL && strncmp(c->acme.contact, "mailto:", 7) != 0)
		return cfg_error(ctx, cfg_lookup(as, "contact"), "acme.contact",
		                 "'%s' is not a mailto: URL", c->acme.contact);
	if ((c->acme.eab_kid == NULL) != (c->acme.eab_hmac_key == NULL))
		return cfg_error(ctx, as,
		                 c->acme.eab_kid == NULL ? "acme.eab_kid" : "acme.eab_hmac_key",
		                 "eab_kid and eab_hmac_key go together");
	if (c->acme.retry_max_ms < c->acme.retry_min_ms)
		c->acme.retry_max_ms = c->acme.retry_min_ms;
	return 0;
}

/* The rollout group's max_age steps in seconds, strictly ascending; the default 1d, 7d. */
static int
cfg_finish_rollout(struct cfg_ctx *ctx, struct cfg_domain *d, size_t i, const config_setting_t *g)
{
	struct cfg_rollout *ro = &d->rollout;
	char key[CFG_KEY_PATH_MAX];
	const char *why = NULL;
	size_t j;

	ro->n_steps = 0;
	ro->orig_mode = (int)d->policy.mode;
	ro->orig_max_age_s = d->policy.max_age_s;
	(void)snprintf(ro->orig_id, sizeof(ro->orig_id), "%s", d->id != NULL ? d->id : "");
	if (ro->n_max_age_steps == 0) {
		ro->steps_s[0] = 86400;
		ro->steps_s[1] = 7 * 86400;
		ro->n_steps = 2;
		return 0;
	}
	(void)snprintf(key, sizeof(key), "publisher.domains[%zu].rollout.max_age_steps", i);
	for (j = 0; j < ro->n_max_age_steps && j < ROLLOUT_STEPS_MAX; j++) {
		if (cfg_max_age_from_text(ro->max_age_steps[j], &ro->steps_s[j], &why) < 0)
			return cfg_error(ctx, cfg_lookup(g, "max_age_steps"), key, "'%s': %s",
			                 ro->max_age_steps[j], why);
		if (j > 0 && ro->steps_s[j] <= ro->steps_s[j - 1])
			return cfg_error(ctx, cfg_lookup(g, "max_age_steps"), key,
			                 "'%s' is not longer than '%s': steps only go up",
			                 ro->max_age_steps[j], ro->max_age_steps[j - 1]);
		ro->n_steps++;
	}
	return 0;
}

static int
cfg_finish_domain(struct cfg_ctx *ctx, struct cfg *c, size_t i, const config_setting_t *e)
{
	struct cfg_domain *d = &c->publisher.domains[i];
	char key[CFG_KEY_PATH_MAX], out[DOMAIN_BUF];
	const config_setting_t *mxs = cfg_lookup(e, "mx");
	struct sts_parse_error perr;
	const char *field;
	size_t j;
	int r;

	(void)snprintf(key, sizeof(key), "publisher.domains[%zu].domain", i);
	r = domain_normalize(d->domain, out);
	if (r < 0)
		return cfg_error(ctx, cfg_lookup(e, "domain"), key, "bad domain '%s': %s",
		                 d->domain, err_str(r));
	free(d->domain);
	d->domain = xstrdup(out);
	if (strncmp(d->domain, "mta-sts.", 8) == 0 && strchr(d->domain + 8, '.') != NULL)
		return cfg_error(ctx, cfg_lookup(e, "domain"), key,
		                 "domain is the Policy Domain (%s), not the policy host name",
		                 d->domain + 8);
	for (j = 0; j < i; j++) {
		if (strcmp(c->publisher.domains[j].domain, d->domain) == 0)
			return cfg_error(ctx, cfg_lookup(e, "domain"), key,
			                 "duplicate domain '%s' (also publisher.domains[%zu])",
			                 d->domain, j);
	}
	for (j = 0; j < d->policy.n_mx; j++) {
		const char *pat = d->policy.mx[j];
		const char *name = strncmp(pat, "*.", 2) == 0 ? pat + 2 : pat;
		const config_setting_t *ms = config_setting_is_aggregate(mxs)
		                                     ? config_setting_get_elem(mxs, (unsigned)j)
		                                     : mxs;

		if (ms == mxs)
			(void)snprintf(key, sizeof(key), "publisher.domains[%zu].mx", i);
		else
			(void)snprintf(key, sizeof(key), "publisher.domains[%zu].mx[%zu]", i, j);
		r = domain_normalize(name, out);
		if (r < 0)
			return cfg_error(ctx, ms, key,
			                 "bad mx pattern '%s': %s (expected a host name or "
			                 "\"*.\" and a domain)",
			                 pat, err_str(r));
		free(d->policy.mx[j]);
		d->policy.mx[j] = name != pat ? xasprintf("*.%s", out) : xstrdup(out);
	}
	memset(&perr, 0, sizeof(perr));
	r = sts_policy_validate(&d->policy, &perr);
	if (r < 0) {
		const config_setting_t *at = e;

		switch (r) {
		case ERR_POLICY_MODE:
			field = "mode";
			break;
		case ERR_POLICY_MAX_AGE:
			field = "max_age";
			break;
		default:
			field = "mx";
			break;
		}
		if (cfg_lookup(e, field) != NULL)
			at = cfg_lookup(e, field);
		(void)snprintf(key, sizeof(key), "publisher.domains[%zu].%s", i, field);
		return cfg_error(ctx, at, key, "%s",
		                 perr.reason[0] != '\0' ? perr.reason : err_str(r));
	}
	return cfg_finish_rollout(ctx, d, i, cfg_lookup(e, "rollout"));
}

/* ---- publisher.dns_update ---- */

/* The name of a publisher.dns_update entry (and a domain's reference to it). */
static int
cfg_check_upd_name(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			break;
	if (v[0] == '\0' || *p != '\0' || p - v > CFG_UPD_NAME_MAX)
		return cfg_error(ctx, s, key,
		                 "bad dns_update name '%s': 1 to %d letters, digits, '_' and '-'",
		                 v, CFG_UPD_NAME_MAX);
	return 0;
}

/* A TSIG secret: base64 (RFC 4648 section 4), at least one byte of key. */
static int
cfg_tsig_secret_ok(const char *v)
{
	size_t i, n = strlen(v), pad = 0;

	if (n < 4 || n % 4 != 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (v[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !(isalnum((unsigned char)v[i]) || v[i] == '+' || v[i] == '/'))
			return 0;
	}
	return pad <= 2;
}

/* Read the secret file of u: no group or other permission bits (the key signs changes to
 * the zone), at most CFG_TSIG_SECRET_FILE_MAX bytes, surrounding whitespace dropped. */
static int
cfg_read_secret_file(struct cfg_ctx *ctx, const config_setting_t *at, const char *key,
                     struct cfg_dns_update *u)
{
	char buf[CFG_TSIG_SECRET_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len;
	char *b;
	int fd;

	fd = open(u->tsig_secret_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cfg_error(ctx, at, key, "%s: %s", u->tsig_secret_file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return cfg_error(ctx, at, key, "%s: not a regular file", u->tsig_secret_file);
	}
	if ((st.st_mode & 077) != 0) {
		(void)close(fd);
		return cfg_error(ctx, at, key,
		                 "%s: mode %04o: a TSIG secret must not be accessible to group or "
		                 "others (chmod 0600, owned by mtastsd's user)",
		                 u->tsig_secret_file, (unsigned)(st.st_mode & 07777));
	}
	n = read(fd, buf, sizeof(buf));
	(void)close(fd);
	if (n < 0)
		return cfg_error(ctx, at, key, "%s: %s", u->tsig_secret_file, strerror(errno));
	if ((size_t)n > CFG_TSIG_SECRET_FILE_MAX)
		return cfg_error(ctx, at, key, "%s: larger than %d bytes", u->tsig_secret_file,
		                 CFG_TSIG_SECRET_FILE_MAX);
	buf[n] = '\0';
	b = buf;
	while (isspace((unsigned char)*b))
		b++;
	len = strlen(b);
	while (len > 0 && isspace((unsigned char)b[len - 1]))
		b[--len] = '\0';
	u->tsig_secret = xstrdup(b);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int
cfg_finish_dns_update(struct cfg_ctx *ctx, struct cfg *c, size_t i, const config_setting_t *e)
{
	struct cfg_dns_update *u = &c->publisher.dns_updates[i];
	char key[CFG_KEY_PATH_MAX], out[DOMAIN_BUF];
	size_t j, n;
	int r;

	for (j = 0; j < i; j++) {
		if (strcmp(c->publisher.dns_updates[j].name, u->name) == 0) {
			(void)snprintf(key, sizeof(key), "publisher.dns_update[%zu].name", i);
			return cfg_error(ctx, cfg_lookup(e, "name"), key,
			                 "duplicate name '%s' (also publisher.dns_update[%zu])",
			                 u->name, j);
		}
	}
	(void)snprintf(key, sizeof(key), "publisher.dns_update[%zu].zone", i);
	r = domain_normalize(u->zone, out);
	if (r < 0)
		return cfg_error(ctx, cfg_lookup(e, "zone"), key, "bad zone '%s': %s", u->zone,
		                 err_str(r));
	free(u->zone);
	u->zone = xstrdup(out);
	(void)snprintf(key, sizeof(key), "publisher.dns_update[%zu].tsig_name", i);
	n = strlen(u->tsig_name);
	if (n > 0 && u->tsig_name[n - 1] == '.')
		u->tsig_name[--n] = '\0';
	if (n == 0 || n > DOMAIN_NAME_MAX)
		return cfg_error(ctx, cfg_lookup(e, "tsig_name"), key,
		                 "a TSIG key name is 1 to %d characters", DOMAIN_NAME_MAX);
	for (j = 0; j < n; j++) {
		unsigned char ch = (unsigned char)u->tsig_name[j];

		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
			return cfg_error(
			        ctx, cfg_lookup(e, "tsig_name"), key,
			        "bad TSIG key name '%s': use letters, digits, '-', '_' and "
			        "'.'",
			        u->tsig_name);
		u->tsig_name[j] = (char)tolower(ch);
	}
	(void)snprintf(key, sizeof(key), "publisher.dns_update[%zu].tsig_secret", i);
	if ((u->tsig_secret == NULL) == (u->tsig_secret_file == NULL))
		return cfg_error(ctx, e, key,
		                 "set exactly one of tsig_secret and tsig_secret_file");
	if (u->tsig_secret_file != NULL) {
		(void)snprintf(key, sizeof(key), "publisher.dns_update[%zu].tsig_secret_file", i);
		if (cfg_read_secret_file(ctx, cfg_lookup(e, "tsig_secret_file"), key, u) < 0)
			return -1;
	}
	if (!cfg_tsig_secret_ok(u->tsig_secret))
		return cfg_error(ctx,
		                 cfg_lookup(e, u->tsig_secret_file != NULL ? "tsig_secret_file"
		                                                           : "tsig_secret"),
		                 key,
		                 "the TSIG secret is not base64 (as pdnsutil generate-tsig-key, "
		                 "keymgr -t and tsig-keygen print it)");
	return 0;
}

/* A domain's dns_update names an entry whose zone holds the domain's records. */
static int
cfg_finish_domain_update(struct cfg_ctx *ctx, struct cfg *c, size_t i, const config_setting_t *e)
{
	struct cfg_domain *d = &c->publisher.domains[i];
	char key[CFG_KEY_PATH_MAX];
	size_t j, dl, zl;

	if (d->dns_update == NULL)
		return 0;
	(void)snprintf(key, sizeof(key), "publisher.domains[%zu].dns_update", i);
	for (j = 0; j < c->publisher.n_dns_updates; j++)
		if (strcmp(c->publisher.dns_updates[j].name, d->dns_update) == 0)
			break;
	if (j == c->publisher.n_dns_updates)
		return cfg_error(ctx, cfg_lookup(e, "dns_update"), key,
		                 "no publisher.dns_update entry named '%s'", d->dns_update);
	d->upd = &c->publisher.dns_updates[j];
	/* _mta-sts.<domain> must be inside the zone: <domain> is the zone or below it */
	dl = strlen(d->domain);
	zl = strlen(d->upd->zone);
	if (!(dl == zl && strcmp(d->domain, d->upd->zone) == 0) &&
	    !(dl > zl && d->domain[dl - zl - 1] == '.' &&
	      strcmp(d->domain + dl - zl, d->upd->zone) == 0))
		return cfg_error(ctx, cfg_lookup(e, "dns_update"), key,
		                 "domain '%s' is not in zone '%s' of dns_update '%s'", d->domain,
		                 d->upd->zone, d->dns_update);
	return 0;
}

static int
cfg_finish(struct cfg_ctx *ctx, struct cfg *c, const config_setting_t *root)
{
	const config_setting_t *ds = cfg_lookup(cfg_lookup(root, "publisher"), "domains");
	const config_setting_t *us = cfg_lookup(cfg_lookup(root, "publisher"), "dns_update");
	const config_setting_t *cs = cfg_lookup(root, "cache");
	const config_setting_t *rs = cfg_lookup(cs, "redis");
	size_t i;

	if (cfg_finish_zones(ctx, c, root) < 0)
		return -1;
	if (cfg_finish_acme(ctx, c, root) < 0)
		return -1;
	for (i = 0; i < c->publisher.n_domains; i++) {
		if (cfg_finish_domain(ctx, c, i, config_setting_get_elem(ds, (unsigned)i)) < 0 ||
		    cfg_finish_domain_cert(ctx, c, i, config_setting_get_elem(ds, (unsigned)i)) < 0)
			return -1;
	}
	for (i = 0; i < c->publisher.n_dns_updates; i++) {
		if (cfg_finish_dns_update(ctx, c, i, config_setting_get_elem(us, (unsigned)i)) < 0)
			return -1;
	}
	for (i = 0; i < c->publisher.n_domains; i++) {
		if (cfg_finish_domain_update(ctx, c, i, config_setting_get_elem(ds, (unsigned)i)) <
		    0)
			return -1;
	}
	for (i = 0; i < c->publisher.n_domains && !c->publisher.domains[i].acme; i++)
		;
	if (i < c->publisher.n_domains && c->publisher.n_http_listen == 0)
		return cfg_error(
		        ctx, cfg_lookup(cfg_lookup(root, "publisher"), "http_listen"),
		        "publisher.http_listen",
		        "is empty, but publisher.domains[%zu] (%s) uses ACME, whose http-01 "
		        "challenge is answered on port 80",
		        i, c->publisher.domains[i].domain);
	if (c->cache.n_sentinels > 0 && c->cache.sentinel_master == NULL)
		return cfg_error(ctx, cfg_lookup(rs, "sentinels"), "cache.redis.master_name",
		                 "required when cache.redis.sentinels is set");
	if (cfg_finish_admin(ctx, c, root) < 0)
		return -1;
	return cfg_finish_listeners(ctx, c, root);
}

/* ---- public ---- */

struct cfg *
cfg_defaults(void)
{
	struct cfg *c = xcalloc(1, sizeof(*c));

	cfg_table_defaults(cfg_keys_root, c);
	cfg_zone_default(&c->resolver);
	/* The embedded defaults are the README's quick start, run as root with no file:
	 * allow it. Any config file must set process.user or allow_root (docs/config.md). */
	c->process.allow_root = 1;
	return c;
}

int
cfg_load(const char *path, struct cfg **ret_cfg, char *errbuf, size_t errlen)
{
	struct cfg_ctx ctx = {.file = path, .errbuf = errbuf, .errlen = errlen};
	struct cfg *c = NULL;
	const char *slash;
	config_t conf;
	int r = ERR_CONFIG;

	config_init(&conf);
	slash = strrchr(path, '/');
	if (slash != NULL)
		ctx.dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	if (path[0] != '/') {
		/* a relative config path: anchor relative file paths now, so a later chdir or
		 * reload from elsewhere still finds them */
		char *abs = realpath(ctx.dir != NULL ? ctx.dir : ".", NULL);

		if (abs != NULL) {
			free(ctx.dir);
			ctx.dir = abs;
		}
	}
	if (cfg_libconfig_read(&conf, path, ctx.dir != NULL ? ctx.dir : ".", errbuf, errlen) < 0)
		goto fail;
	c = xcalloc(1, sizeof(*c));
	ctx.cfg = c;
	cfg_table_defaults(cfg_keys_root, c);
	if (cfg_parse_group(&ctx, config_root_setting(&conf), "", cfg_keys_root, c) < 0)
		goto fail;
	if (cfg_finish(&ctx, c, config_root_setting(&conf)) < 0)
		goto fail;
	c->path = xstrdup(path);
	*ret_cfg = c;
	config_destroy(&conf);
	free(ctx.dir);
	return 0;
fail:
	(void)cfg_free(c);
	config_destroy(&conf);
	free(ctx.dir);
	return r;
}

const struct cfg_zone *
cfg_zone_find(const struct cfg_resolver *r, const char *name, size_t namelen)
{
	size_t i;

	for (i = 0; i < r->n_zones; i++) {
		if (strlen(r->zones[i].name) == namelen &&
		    memcmp(r->zones[i].name, name, namelen) == 0)
			return &r->zones[i];
	}
	return &r->zones[0];
}

size_t
cfg_restart_changes(const struct cfg *a, const struct cfg *b, cfg_key_fn *fn, void *arg)
{
	return cfg_table_restart_changes(cfg_keys_root, "", a, b, fn, arg);
}

int
cfg_process_ids(const struct cfg_process *p, uid_t *ret_uid, gid_t *ret_gid, const char **ret_key)
{
	struct passwd *pw;
	struct group *gr = NULL;

	pw = p->user != NULL ? getpwnam(p->user) : NULL;
	if (pw == NULL) {
		*ret_key = "process.user";
		return -ENOENT;
	}
	if (p->group != NULL && (gr = getgrnam(p->group)) == NULL) {
		*ret_key = "process.group";
		return -ENOENT;
	}
	*ret_uid = pw->pw_uid;
	*ret_gid = gr != NULL ? gr->gr_gid : pw->pw_gid;
	return 0;
}
