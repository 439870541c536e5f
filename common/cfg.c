/*
 * common/cfg.c - the configuration: libconfig file -> validated, immutable struct cfg
 *
 * Interface: cfg_load(), cfg_defaults(), cfg_free(), cfg_zone_find()
 * Design:    one key table per group (cfg_keys_*) gives each key its name, type, offset,
 *            default, minimum and maximum (Postfix CONFIG_*_TABLE). The same tables fill
 *            the defaults, drive parsing and validation, and free the result. What a table
 *            cannot say (duplicate domains, the policy of a published domain, the default
 *            zone) is checked afterwards in cfg_finish(), as is what spans keys (two
 *            listeners on one address and port). Before libconfig parses, cfg_pre_file()
 *            reads the file and its @includes (regular files, CFG_FILE_MAX bytes in all)
 *            and refuses integer literals libconfig 1.5 would wrap and strings, comments
 *            or @include paths never closed (libconfig would drop the rest of the file).
 * Threads:   any; no global state.
 * Ownership: the struct cfg and everything it points to belong to the caller (cfg_free()).
 * Errors:    cfg_load() returns ERR_CONFIG with "file:line: key: reason" in errbuf, the key
 *            being the full dotted path ("resolver.zones[0].timeout").
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "domain.h"
#include "err.h"
#include "mtasts_limits.h"
#include "log.h"
#include "sts_policy.h"
#include "xalloc.h"

/* Bounds of our own on list lengths in the file (no RFC behind them). */
#define CFG_LISTEN_MAX      16
#define CFG_DNS_SERVERS_MAX 8
#define CFG_SENTINELS_MAX   16
#define CFG_ZONES_MAX       64
#define CFG_DOMAINS_MAX     1024
#define CFG_ZONE_NAME_MAX   64
#define CFG_KEY_PATH_MAX    256
#define CFG_DURATION_MAX_MS (3660ULL * 86400 * 1000) /* overflow guard: 10 years */
/* Certificate names listed in an error message (the publisher keeps up to 100). */
#define CFG_CERT_NAMES_SHOWN 8
/* The text of a line quoted in an error message (bytes). */
#define CFG_LINE_SHOWN 120
/* @include checks: nesting depth libconfig 1.5 allows (scanner.l MAX_INCLUDE_DEPTH). The
 * bytes read, main file and includes together, are bounded by CFG_FILE_MAX. */
#define CFG_INCLUDE_DEPTH_MAX 10
/* An out-of-range integer quoted in an error message (bytes). */
#define CFG_NUMBER_SHOWN 40

#define SEC(x)  ((uint64_t)(x)*1000)
#define MIN(x)  ((uint64_t)(x)*60 * 1000)
#define HOUR(x) ((uint64_t)(x)*3600 * 1000)
#define DAY(x)  ((uint64_t)(x)*86400 * 1000)

enum cfg_kind {
	CFG_K_BOOL,      /* int, true/false */
	CFG_K_UINT,      /* unsigned */
	CFG_K_SIZE,      /* size_t */
	CFG_K_MS,        /* duration -> uint64_t milliseconds */
	CFG_K_SEC32,     /* duration in whole seconds -> uint32_t seconds (min/max in ms) */
	CFG_K_STR,       /* char *, "" = unset (NULL) */
	CFG_K_PATH,      /* char *, made absolute against the config file's directory */
	CFG_K_ENUM,      /* int, index into names[] */
	CFG_K_STRLIST,   /* char ** + size_t count at off_n */
	CFG_K_LISTENS,   /* struct cfg_listen * + size_t count at off_n */
	CFG_K_LISTEN,    /* one struct cfg_listen */
	CFG_K_GROUP,     /* sub-table, same base */
	CFG_K_GROUPLIST, /* list of groups: array of elsize at off, count at off_n */
};

enum {
	CFG_F_REQUIRED = 1u << 0, /* must be present */
	CFG_F_READABLE = 1u << 1, /* CFG_K_PATH: a file we can read */
	CFG_F_DIR = 1u << 2,      /* CFG_K_PATH: a directory */
};

struct cfg_ctx;
struct cfg_key;

/* Extra check of one string value (a whole string or one list item). 0 or -1 (error set). */
typedef int cfg_check_fn(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                         const char *value);

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	size_t off_n;
	uint64_t def, min, max; /* max is also the list length bound for lists */
	const char *sdef;       /* string default; for listen lists, space-separated */
	unsigned flags;
	const struct cfg_key *sub;
	size_t elsize;
	const struct cfg_enum *names;
	cfg_check_fn *check;
};

struct cfg_ctx {
	const char *file;
	char *dir; /* directory of file, for relative paths */
	char *errbuf;
	size_t errlen;
};

static int cfg_check_zone_name(struct cfg_ctx *, const config_setting_t *, const char *,
                               const char *);
static int cfg_check_id(struct cfg_ctx *, const config_setting_t *, const char *, const char *);
static int cfg_check_rua(struct cfg_ctx *, const config_setting_t *, const char *, const char *);
static int cfg_check_dns_server(struct cfg_ctx *, const config_setting_t *, const char *,
                                const char *);
static int cfg_check_hostport(struct cfg_ctx *, const config_setting_t *, const char *,
                              const char *);
static int cfg_check_redis_address(struct cfg_ctx *, const config_setting_t *, const char *,
                                   const char *);
static int cfg_check_priority(struct cfg_ctx *, const config_setting_t *, const char *,
                              const char *);
static int cfg_check_name(struct cfg_ctx *, const config_setting_t *, const char *, const char *);

struct cfg_enum {
	const char *name;
	int value;
};

static const struct cfg_enum cfg_mode_names[] = {
        {"none", STS_MODE_NONE},
        {"testing", STS_MODE_TESTING},
        {"enforce", STS_MODE_ENFORCE},
        {NULL, 0},
};
/* Valkey speaks the Redis protocol; "valkey" is an alias. */
static const struct cfg_enum cfg_backend_names[] = {
        {"memory", CFG_CACHE_MEMORY},
        {"redis", CFG_CACHE_REDIS},
        {"valkey", CFG_CACHE_REDIS},
        {NULL, 0},
};

/*
 * The key tables: one line per key, giving name, field, default, minimum, maximum.
 * S is the struct the offsets are relative to: struct cfg for the sections, the element
 * struct for lists of groups. Durations are in ms (SEC(), MIN(), HOUR(), DAY()).
 */
#define K_BOOL(S, n, f, d)                                                                         \
	{                                                                                          \
		.name = n, .kind = CFG_K_BOOL, .off = offsetof(S, f), .def = d, .max = 1           \
	}
#define K_UINT(S, n, f, d, lo, hi)                                                                 \
	{                                                                                          \
		.name = n, .kind = CFG_K_UINT, .off = offsetof(S, f), .def = d, .min = lo,         \
		.max = hi                                                                          \
	}
#define K_SIZE(S, n, f, d, lo, hi)                                                                 \
	{                                                                                          \
		.name = n, .kind = CFG_K_SIZE, .off = offsetof(S, f), .def = d, .min = lo,         \
		.max = hi                                                                          \
	}
#define K_MS(S, n, f, d, lo, hi)                                                                   \
	{                                                                                          \
		.name = n, .kind = CFG_K_MS, .off = offsetof(S, f), .def = d, .min = lo, .max = hi \
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
#define K_STRLIST(S, n, f, nf, hi, chk)                                                            \
	{                                                                                          \
		.name = n, .kind = CFG_K_STRLIST, .off = offsetof(S, f), .off_n = offsetof(S, nf), \
		.max = hi, .check = chk                                                            \
	}
#define K_LISTENS(n, f, nf, lo, hi, sd)                                                            \
	{                                                                                          \
		.name = n, .kind = CFG_K_LISTENS, .off = offsetof(struct cfg, f),                  \
		.off_n = offsetof(struct cfg, nf), .min = lo, .max = hi, .sdef = sd                \
	}
#define K_LISTEN(n, f, sd)                                                                         \
	{                                                                                          \
		.name = n, .kind = CFG_K_LISTEN, .off = offsetof(struct cfg, f), .sdef = sd        \
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
#define REQ CFG_F_REQUIRED

static const struct cfg_key cfg_keys_process[] = {
        K_STR(P, "user", process.user, NULL, 0, cfg_check_name),
        K_STR(P, "group", process.group, NULL, 0, cfg_check_name),
        K_BOOL(P, "allow_root", process.allow_root, 0),
        K_UINT(P, "verbosity", process.verbosity, 0, 0, 3),
        K_MS(P, "shutdown_timeout", process.shutdown_timeout_ms, SEC(10), 0, MIN(5)),
        {.name = "state_directory",
         .kind = CFG_K_PATH,
         .off = offsetof(P, process.state_directory),
         .sdef = CFG_STATE_DIRECTORY_DEFAULT},
        K_END,
};

static const struct cfg_key cfg_keys_zone[] = {
        K_STR(Z, "name", name, NULL, REQ, cfg_check_zone_name),
        K_BOOL(Z, "strict_testing", strict_testing, 0),
        K_MS(Z, "timeout", timeout_ms, SEC(5), 100, SEC(60)),
        K_BOOL(Z, "require_sni", require_sni, 1),
        K_BOOL(Z, "tlsrpt", tlsrpt, 0),
        K_BOOL(Z, "dane", dane, 1),
        K_END,
};

static const struct cfg_key cfg_keys_resolver[] = {
        K_BOOL(P, "enabled", resolver.enabled, 1),
        K_LISTENS("listen", resolver.listen, resolver.n_listen, 1, CFG_LISTEN_MAX,
                  "127.0.0.1:8461"),
        K_UINT(P, "max_connections", resolver.max_connections, 1024, 1, 65536),
        K_MS(P, "idle_timeout", resolver.idle_timeout_ms, SEC(60), SEC(1), DAY(1)),
        K_STRLIST(P, "dns_servers", resolver.dns_servers, resolver.n_dns_servers,
                  CFG_DNS_SERVERS_MAX, cfg_check_dns_server),
        K_MS(P, "dns_timeout", resolver.dns_timeout_ms, SEC(2), 100, SEC(30)),
        K_UINT(P, "dns_attempts", resolver.dns_attempts, 2, 1, 10),
        K_MS(P, "fetch_timeout", resolver.fetch_timeout_ms, FETCH_TIMEOUT_DEFAULT_MS, SEC(1),
             MIN(5)),
        K_SIZE(P, "fetch_max_body", resolver.fetch_max_body, STS_POLICY_BODY_MAX, 512,
               STS_POLICY_BODY_MAX),
        K_UINT(P, "fetch_concurrency", resolver.fetch_concurrency, 64, 1, 4096),
        K_PATH(P, "ca_file", resolver.ca_file, CFG_F_READABLE),
        K_STR(P, "connect_to", resolver.connect_to, NULL, 0, cfg_check_hostport),
        K_MS(P, "recheck_interval", resolver.recheck_interval_ms, HOUR(1), SEC(1), DAY(7)),
        K_MS(P, "negative_ttl", resolver.negative_ttl_ms, MIN(5), SEC(1), DAY(1)),
        K_MS(P, "tempfail_ttl", resolver.tempfail_ttl_ms, MIN(1), SEC(1), HOUR(1)),
        K_MS(P, "refresh_before", resolver.refresh_before_ms, DAY(1), 0, DAY(30)),
        K_UINT(P, "refresh_concurrency", resolver.refresh_concurrency, 16, 1, 1024),
        K_STR(P, "default_zone", resolver.default_zone, NULL, 0, cfg_check_zone_name),
        K_GROUPS("zones", resolver.zones, resolver.n_zones, CFG_ZONES_MAX, cfg_keys_zone, Z),
        K_END,
};

static const struct cfg_key cfg_keys_domain[] = {
        K_STR(D, "domain", domain, NULL, REQ, NULL),
        K_ENUM(D, "mode", policy.mode, 0, cfg_mode_names, REQ),
        K_SEC32(D, "max_age", policy.max_age_s, DAY(7), MIN(1), SEC(STS_MAX_AGE_MAX)),
        K_STRLIST(D, "mx", policy.mx, policy.n_mx, STS_MX_MAX, NULL),
        K_STR(D, "id", id, NULL, 0, cfg_check_id),
        K_PATH(D, "cert", cert_file, REQ | CFG_F_READABLE),
        K_PATH(D, "key", key_file, REQ | CFG_F_READABLE),
        K_STR(D, "tlsrpt_rua", tlsrpt_rua, NULL, 0, cfg_check_rua),
        K_END,
};

static const struct cfg_key cfg_keys_publisher[] = {
        K_LISTENS("listen", publisher.listen, publisher.n_listen, 1, CFG_LISTEN_MAX,
                  "0.0.0.0:443 [::]:443"),
        K_LISTENS("http_listen", publisher.http_listen, publisher.n_http_listen, 0, CFG_LISTEN_MAX,
                  "0.0.0.0:80 [::]:80"),
        K_STR(P, "tls_priority", publisher.tls_priority,
              "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", 0, cfg_check_priority),
        K_SEC32(P, "cache_control_max_age", publisher.cache_control_max_age_s, DAY(1), 0,
                SEC(STS_MAX_AGE_MAX)),
        K_PATH(P, "acme_webroot", publisher.acme_webroot, CFG_F_DIR),
        K_UINT(P, "max_connections", publisher.max_connections, 1024, 1, 65536),
        K_MS(P, "connection_timeout", publisher.connection_timeout_ms, SEC(30), SEC(1), HOUR(1)),
        K_GROUPS("domains", publisher.domains, publisher.n_domains, CFG_DOMAINS_MAX,
                 cfg_keys_domain, D),
        K_END,
};

static const struct cfg_key cfg_keys_redis[] = {
        K_STR(P, "address", cache.redis_address, "127.0.0.1:6379", 0, cfg_check_redis_address),
        K_UINT(P, "db", cache.redis_db, 0, 0, 1023),
        K_STR(P, "username", cache.redis_username, NULL, 0, NULL),
        K_STR(P, "password", cache.redis_password, NULL, 0, NULL),
        K_STR(P, "prefix", cache.redis_prefix, "mtastsd", 0, NULL),
        K_MS(P, "connect_timeout", cache.redis_connect_timeout_ms, SEC(2), 10, SEC(60)),
        K_MS(P, "command_timeout", cache.redis_command_timeout_ms, 500, 10, SEC(60)),
        K_STRLIST(P, "sentinels", cache.sentinels, cache.n_sentinels, CFG_SENTINELS_MAX,
                  cfg_check_hostport),
        K_STR(P, "master_name", cache.sentinel_master, NULL, 0, NULL),
        K_END,
};

static const struct cfg_key cfg_keys_cache[] = {
        K_ENUM(P, "backend", cache.backend, CFG_CACHE_MEMORY, cfg_backend_names, 0),
        K_SIZE(P, "max_entries", cache.max_entries, 100000, 1, 10000000),
        K_GROUP("redis", cfg_keys_redis),
        K_END,
};

static const struct cfg_key cfg_keys_admin[] = {
        K_BOOL(P, "enabled", admin.enabled, 1),
        K_LISTEN("listen", admin.listen, "127.0.0.1:8462"),
        K_STR(P, "token", admin.token, NULL, 0, NULL),
        K_END,
};

static const struct cfg_key cfg_keys_root[] = {
        K_GROUP("process", cfg_keys_process),     K_GROUP("resolver", cfg_keys_resolver),
        K_GROUP("publisher", cfg_keys_publisher), K_GROUP("cache", cfg_keys_cache),
        K_GROUP("admin", cfg_keys_admin),         K_END,
};

#undef P
#undef Z
#undef D
#undef REQ

/* Field access by offset. */
#define FIELD(base, off, type) ((type *)(void *)((char *)(base) + (off)))

/* ---- errors ---- */

static int cfg_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
cfg_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *fmt, ...)
{
	const char *file = ctx->file;
	char reason[512];
	va_list ap;
	unsigned line = 0;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (s != NULL) {
		line = config_setting_source_line(s);
		if (config_setting_source_file(s) != NULL)
			file = config_setting_source_file(s);
	}
	if (line > 0)
		(void)snprintf(ctx->errbuf, ctx->errlen, "%s:%u: %s: %s", file, line, key, reason);
	else
		(void)snprintf(ctx->errbuf, ctx->errlen, "%s: %s: %s", file, key, reason);
	return -1;
}

/* "90s" style text for a duration in ms, exact: the largest unit that divides it. */
static void
cfg_fmt_duration(char *out, size_t outlen, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{DAY(1), "d"}, {HOUR(1), "h"}, {MIN(1), "m"}, {SEC(1), "s"}};
	size_t i;

	for (i = 0; ms > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			(void)snprintf(out, outlen, "%llu%s",
			               (unsigned long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	(void)snprintf(out, outlen, "%llums", (unsigned long long)ms);
}

/* A limit as the key's unit shows it: whole seconds for CFG_K_SEC32 (max_age 31557600s). */
static void
cfg_fmt_limit(char *out, size_t outlen, const struct cfg_key *k, uint64_t ms)
{
	if (k->kind == CFG_K_SEC32)
		(void)snprintf(out, outlen, "%llus", (unsigned long long)(ms / 1000));
	else
		cfg_fmt_duration(out, outlen, ms);
}

static const char *
cfg_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "an unknown type";
	}
}

static int
cfg_type_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *want)
{
	return cfg_error(ctx, s, key, "expected %s, got %s", want, cfg_type_name(s));
}

/* Key paths are cut at CFG_KEY_PATH_MAX - 1 bytes (only in error messages). */
static void
cfg_join(char *out, const char *parent, const char *name)
{
	int n;

	if (parent[0] == '\0')
		n = snprintf(out, CFG_KEY_PATH_MAX, "%s", name);
	else
		n = snprintf(out, CFG_KEY_PATH_MAX, "%s.%s", parent, name);
	if (n < 0)
		out[0] = '\0';
}

static void
cfg_index(char *out, const char *parent, size_t i)
{
	int n = snprintf(out, CFG_KEY_PATH_MAX, "%s[%zu]", parent, i);

	if (n < 0)
		out[0] = '\0';
}

/* ---- freeing, by table ---- */

static void
cfg_listen_clear(struct cfg_listen *l)
{
	free(l->address);
	free(l->host);
	free(l->path);
	free(l->owner);
	free(l->group);
	memset(l, 0, sizeof(*l));
}

static void
cfg_strlist_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void cfg_table_free(const struct cfg_key *tab, void *base);

static void
cfg_key_free(const struct cfg_key *k, void *base)
{
	size_t i, n;

	switch (k->kind) {
	case CFG_K_STR:
	case CFG_K_PATH: {
		char **p = FIELD(base, k->off, char *);

		free(*p);
		*p = NULL;
		break;
	}
	case CFG_K_STRLIST: {
		char ***p = FIELD(base, k->off, char **);
		size_t *np = FIELD(base, k->off_n, size_t);

		cfg_strlist_free(*p, *np);
		*p = NULL;
		*np = 0;
		break;
	}
	case CFG_K_LISTENS: {
		struct cfg_listen **p = FIELD(base, k->off, struct cfg_listen *);
		size_t *np = FIELD(base, k->off_n, size_t);

		for (i = 0; i < *np; i++)
			cfg_listen_clear(&(*p)[i]);
		free(*p);
		*p = NULL;
		*np = 0;
		break;
	}
	case CFG_K_LISTEN:
		cfg_listen_clear(FIELD(base, k->off, struct cfg_listen));
		break;
	case CFG_K_GROUP:
		cfg_table_free(k->sub, base);
		break;
	case CFG_K_GROUPLIST: {
		char **p = FIELD(base, k->off, char *);
		size_t *np = FIELD(base, k->off_n, size_t);

		n = *np;
		for (i = 0; i < n; i++)
			cfg_table_free(k->sub, *p + i * k->elsize);
		free(*p);
		*p = NULL;
		*np = 0;
		break;
	}
	default:
		break;
	}
}

static void
cfg_table_free(const struct cfg_key *tab, void *base)
{
	const struct cfg_key *k;

	for (k = tab; k->name != NULL; k++)
		cfg_key_free(k, base);
}

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
	free(c->path);
	free(c);
	return NULL;
}

/* ---- listen addresses ---- */

/* Parse a decimal port 1..65535 from s (whole string). */
static int
cfg_parse_port(const char *s, uint16_t *ret_port)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*ret_port = (uint16_t)v;
	return 0;
}

/* "127.0.0.1:8461", "[::1]:8461", "unix:/run/x.sock" -> l. Returns 0 or -1 with why set. */
static int
cfg_listen_from_text(const char *text, struct cfg_listen *l, const char **why)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *colon, *portstr;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	uint16_t port;

	memset(l, 0, sizeof(*l));
	if (strncmp(text, "unix:", 5) == 0) {
		if (text[5] != '/') {
			*why = "unix socket path must be absolute";
			return -1;
		}
		if (strlen(text + 5) > 107) { /* sizeof(sun_path) - 1 on Linux */
			*why = "unix socket path longer than 107 bytes";
			return -1;
		}
		l->path = xstrdup(text + 5);
		l->mode = 0660;
		return 0;
	}
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (rb == NULL || rb[1] != ':') {
			*why = "expected \"[IPv6]:port\"";
			return -1;
		}
		hlen = (size_t)(rb - text - 1);
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "bad IPv6 address";
			return -1;
		}
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1) {
			*why = "bad IPv6 address";
			return -1;
		}
		portstr = rb + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*why = "expected \"IPv4:port\", \"[IPv6]:port\" or \"unix:/path\"";
			return -1;
		}
		hlen = (size_t)(colon - text);
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "bad IPv4 address";
			return -1;
		}
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, addr) != 1) {
			*why = strchr(host, ':') != NULL ? "IPv6 addresses must be in [brackets]"
			                                 : "bad IPv4 address (host names are not "
			                                   "accepted)";
			return -1;
		}
		portstr = colon + 1;
	}
	if (cfg_parse_port(portstr, &port) < 0) {
		*why = "bad port (1..65535)";
		return -1;
	}
	l->address = xstrdup(text);
	l->host = xstrdup(host);
	l->port = port;
	return 0;
}

/* 1 when l is an IPv4-mapped IPv6 address ([::ffff:a.b.c.d]:port), with "a.b.c.d:port" in
 * out; 0 otherwise. Every IPv6 listener sets IPV6_V6ONLY, and Linux refuses to bind such a
 * socket to a mapped address (EINVAL), so the loader refuses it and names the IPv4 form. */
static int
cfg_listen_v4mapped(const struct cfg_listen *l, char *out, size_t outlen)
{
	struct in6_addr a;
	char v4[INET_ADDRSTRLEN];

	if (l->host == NULL || inet_pton(AF_INET6, l->host, &a) != 1 || !IN6_IS_ADDR_V4MAPPED(&a))
		return 0;
	if (inet_ntop(AF_INET, &a.s6_addr[12], v4, sizeof(v4)) == NULL)
		return 0;
	(void)snprintf(out, outlen, "%s:%u", v4, (unsigned)l->port);
	return 1;
}

static int cfg_parse_string(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                            const char **ret);

static int
cfg_parse_listen_one(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                     struct cfg_listen *l)
{
	const char *why = NULL, *v = "";
	config_setting_t *m;
	char sub[CFG_KEY_PATH_MAX];
	unsigned i, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		v = config_setting_get_string(s);
		if (cfg_listen_from_text(v, l, &why) < 0)
			return cfg_error(ctx, s, key, "bad listen address '%s': %s", v, why);
		if (cfg_listen_v4mapped(l, sub, sizeof(sub))) {
			cfg_listen_clear(l);
			return cfg_error(ctx, s, key,
			                 "%s is an IPv4-mapped IPv6 address, which an IPv6-only "
			                 "socket cannot bind: write %s",
			                 v, sub);
		}
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return cfg_type_error(ctx, s, key,
		                      "a string \"host:port\" or a group { path = \"/...\"; }");
	memset(l, 0, sizeof(*l));
	l->mode = 0660;
	n = (unsigned)config_setting_length(s);
	for (i = 0; i < n; i++) {
		const char *name;

		m = config_setting_get_elem(s, i);
		name = config_setting_name(m);
		cfg_join(sub, key, name);
		if (strcmp(name, "path") == 0) {
			if (cfg_parse_string(ctx, m, sub, &v) < 0)
				goto fail;
			if (v[0] != '/') {
				cfg_error(ctx, m, sub, "unix socket path '%s' must be absolute", v);
				goto fail;
			}
			if (strlen(v) >= 108) {
				cfg_error(ctx, m, sub, "unix socket path longer than 107 bytes");
				goto fail;
			}
			free(l->path);
			l->path = xstrdup(v);
		} else if (strcmp(name, "mode") == 0) {
			unsigned long mode;
			char *end;

			if (config_setting_type(m) != CONFIG_TYPE_STRING) {
				cfg_type_error(ctx, m, sub, "an octal string such as \"0660\"");
				goto fail;
			}
			v = config_setting_get_string(m);
			errno = 0;
			mode = strtoul(v, &end, 8);
			if (v[0] < '0' || v[0] > '7' || *end != '\0' || errno != 0 || mode > 0777) {
				cfg_error(ctx, m, sub, "bad mode '%s': expected octal 0000..0777",
				          v);
				goto fail;
			}
			l->mode = (mode_t)mode;
		} else if (strcmp(name, "owner") == 0 || strcmp(name, "group") == 0) {
			char **dst = name[0] == 'o' ? &l->owner : &l->group;

			if (cfg_parse_string(ctx, m, sub, &v) < 0)
				goto fail;
			if (cfg_check_name(ctx, m, sub, v) < 0)
				goto fail;
			free(*dst);
			*dst = v[0] != '\0' ? xstrdup(v) : NULL;
		} else {
			cfg_error(ctx, m, sub, "unknown key");
			goto fail;
		}
	}
	if (l->path == NULL) {
		cfg_join(sub, key, "path");
		cfg_error(ctx, s, sub, "missing required key");
		goto fail;
	}
	return 0;
fail:
	cfg_listen_clear(l);
	return -1;
}

/* Default listen list: space-separated addresses. */
static void
cfg_listens_default(const char *sdef, struct cfg_listen **ret, size_t *ret_n)
{
	struct cfg_listen *v = NULL;
	const char *p = sdef, *why;
	size_t n = 0;

	while (p != NULL && *p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
		char *one = xstrndup(p, len);

		v = xrealloc(v, (n + 1) * sizeof(*v));
		if (cfg_listen_from_text(one, &v[n], &why) < 0)
			die("cfg: bad built-in listen default '%s': %s", one, why);
		n++;
		free(one);
		p = sp != NULL ? sp + 1 : NULL;
	}
	*ret = v;
	*ret_n = n;
}

/* ---- scalars ---- */

static int
cfg_parse_string(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char **ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_type_error(ctx, s, key, "a string");
	*ret = config_setting_get_string(s);
	return 0;
}

/* Duration text -> ms. Returns 0, or -1 with why set. */
static int
cfg_duration_from_text(const char *v, uint64_t *ret_ms, const char **why)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1},      {"s", SEC(1)}, {"m", MIN(1)},
	             {"h", HOUR(1)}, {"d", DAY(1)}, {"", SEC(1)}};
	unsigned long long n;
	const char *p = v;
	size_t i;

	if (*p < '0' || *p > '9') {
		*why = "expected a number followed by ms, s, m, h or d";
		return -1;
	}
	n = 0;
	while (*p >= '0' && *p <= '9') {
		if (n > CFG_DURATION_MAX_MS) {
			*why = "too large";
			return -1;
		}
		n = n * 10 + (unsigned long long)(*p - '0');
		p++;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) == 0) {
			if (n > CFG_DURATION_MAX_MS / units[i].ms) {
				*why = "too large";
				return -1;
			}
			*ret_ms = n * units[i].ms;
			return 0;
		}
	}
	*why = "unknown unit (use ms, s, m, h or d)";
	return -1;
}

static int
cfg_parse_duration(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                   const struct cfg_key *k, uint64_t *ret_ms)
{
	char a[64], b[32];
	const char *why = NULL;
	long long iv;
	uint64_t ms;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		iv = config_setting_get_int64(s);
		if (iv < 0) {
			cfg_fmt_limit(b, sizeof(b), k, k->min);
			return cfg_error(ctx, s, key, "value %lld below minimum %s", iv, b);
		}
		if ((unsigned long long)iv > CFG_DURATION_MAX_MS / 1000) {
			cfg_fmt_limit(b, sizeof(b), k, k->max);
			return cfg_error(ctx, s, key, "value %lld above maximum %s", iv, b);
		}
		ms = (uint64_t)iv * 1000;
		break;
	case CONFIG_TYPE_STRING:
		if (cfg_duration_from_text(config_setting_get_string(s), &ms, &why) < 0)
			return cfg_error(ctx, s, key, "bad duration '%s': %s",
			                 config_setting_get_string(s), why);
		break;
	default:
		return cfg_type_error(ctx, s, key,
		                      "a duration (integer seconds or a string such as \"30s\")");
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		(void)snprintf(a, sizeof(a), "%s", config_setting_get_string(s));
	else
		(void)snprintf(a, sizeof(a), "%lld", (long long)config_setting_get_int64(s));
	if (ms < k->min) {
		cfg_fmt_limit(b, sizeof(b), k, k->min);
		return cfg_error(ctx, s, key, "value %s below minimum %s", a, b);
	}
	if (ms > k->max) {
		cfg_fmt_limit(b, sizeof(b), k, k->max);
		return cfg_error(ctx, s, key, "value %s above maximum %s", a, b);
	}
	if (k->kind == CFG_K_SEC32 && ms % 1000 != 0) {
		return cfg_error(ctx, s, key, "value %s is not a whole number of seconds", a);
	}
	*ret_ms = ms;
	return 0;
}

static int
cfg_parse_uint(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
               const struct cfg_key *k, uint64_t *ret)
{
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return cfg_type_error(ctx, s, key, "an integer");
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < k->min)
		return cfg_error(ctx, s, key, "value %lld below minimum %llu", v,
		                 (unsigned long long)k->min);
	if ((uint64_t)v > k->max)
		return cfg_error(ctx, s, key, "value %lld above maximum %llu", v,
		                 (unsigned long long)k->max);
	*ret = (uint64_t)v;
	return 0;
}

/* A path; relative paths are taken from the config file's directory. */
static int
cfg_parse_path(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
               const struct cfg_key *k, char **ret)
{
	struct stat st;
	const char *v = "";
	char *p;

	if (cfg_parse_string(ctx, s, key, &v) < 0)
		return -1;
	if (v[0] == '\0') {
		*ret = NULL;
		return 0;
	}
	if (v[0] != '/' && ctx->dir != NULL)
		p = xasprintf("%s/%s", ctx->dir, v);
	else
		p = xstrdup(v);
	if ((k->flags & CFG_F_READABLE) && access(p, R_OK) < 0) {
		cfg_error(ctx, s, key, "cannot read '%s': %s", p, strerror(errno));
		free(p);
		return -1;
	}
	if ((k->flags & CFG_F_READABLE) && (stat(p, &st) < 0 || !S_ISREG(st.st_mode))) {
		cfg_error(ctx, s, key, "'%s' is not a regular file", p);
		free(p);
		return -1;
	}
	if ((k->flags & CFG_F_DIR) && (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
		cfg_error(ctx, s, key, "'%s' is not a directory", p);
		free(p);
		return -1;
	}
	*ret = p;
	return 0;
}

/* ---- string checks ---- */

static int
cfg_check_name(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return cfg_error(ctx, s, key, "bad user or group name '%s'", v);
	}
	if (p - v > 64)
		return cfg_error(ctx, s, key, "name longer than 64 characters");
	return 0;
}

static int
cfg_check_zone_name(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p;

	if (v[0] == '\0')
		return cfg_error(ctx, s, key, "zone name must not be empty");
	for (p = v; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return cfg_error(ctx, s, key,
			                 "bad zone name '%s': use letters, digits, '_' and '-'", v);
	}
	if (p - v > CFG_ZONE_NAME_MAX)
		return cfg_error(ctx, s, key, "zone name longer than %d characters",
		                 CFG_ZONE_NAME_MAX);
	return 0;
}

static int
cfg_check_id(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	size_t i, n = strlen(v);

	if (n < 1 || n > STS_ID_MAX)
		return cfg_error(ctx, s, key, "policy id must be 1 to %d letters or digits",
		                 STS_ID_MAX);
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)v[i]))
			return cfg_error(ctx, s, key,
			                 "bad policy id '%s': only letters and digits (RFC 8461 "
			                 "section 3.1)",
			                 v);
	}
	return 0;
}

/* RFC 8460 section 3: rua = "mailto:..." or "https:...", comma separated. */
static int
cfg_check_rua(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *p = v;

	if (v[0] == '\0')
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		size_t i;

		if (!((len > 7 && strncmp(p, "mailto:", 7) == 0) ||
		      (len > 8 && strncmp(p, "https://", 8) == 0)))
			return cfg_error(ctx, s, key,
			                 "bad TLSRPT rua '%s': each URI must start with "
			                 "\"mailto:\" or \"https://\"",
			                 v);
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];

			if (c <= 0x20 || c >= 0x7f || c == ';' || c == '"')
				return cfg_error(
				        ctx, s, key,
				        "bad TLSRPT rua '%s': space, ';' or '\"' not allowed", v);
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* "127.0.0.1", "127.0.0.1@5353", "::1", "[::1]:53", "192.0.2.1:53" */
static int
cfg_check_dns_server(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char host[INET6_ADDRSTRLEN + 1];
	const char *sep, *portstr = NULL;
	size_t hlen;
	uint16_t port;

	if (inet_pton(AF_INET6, v, addr) == 1 || inet_pton(AF_INET, v, addr) == 1)
		return 0;
	if (v[0] == '[') {
		sep = strchr(v, ']');
		if (sep == NULL || (sep[1] != ':' && sep[1] != '@'))
			goto bad;
		hlen = (size_t)(sep - v - 1);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad;
		portstr = sep + 2;
	} else {
		sep = strchr(v, '@');
		if (sep == NULL)
			sep = strrchr(v, ':');
		if (sep == NULL)
			goto bad;
		hlen = (size_t)(sep - v);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, addr) != 1 &&
		    !(sep[0] == '@' && inet_pton(AF_INET6, host, addr) == 1))
			goto bad;
		portstr = sep + 1;
	}
	if (cfg_parse_port(portstr, &port) < 0)
		goto bad;
	return 0;
bad:
	return cfg_error(ctx, s, key,
	                 "bad DNS server '%s': expected an IP address, \"IP@port\" or "
	                 "\"[IPv6]:port\"",
	                 v);
}

/* "host:port" or "[v6]:port" with a host name or address. */
static int
cfg_check_hostport(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	const char *colon;
	uint16_t port;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb == v + 1 || rb[1] != ':')
			goto bad;
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL || colon == v || memchr(v, ':', (size_t)(colon - v)) != NULL)
			goto bad;
	}
	if (cfg_parse_port(colon + 1, &port) < 0)
		goto bad;
	return 0;
bad:
	return cfg_error(ctx, s, key, "bad address '%s': expected \"host:port\" or \"[IPv6]:port\"",
	                 v);
}

static int
cfg_check_redis_address(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                        const char *v)
{
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/')
			return cfg_error(ctx, s, key, "unix socket path must be absolute");
		return 0;
	}
	return cfg_check_hostport(ctx, s, key, v);
}

/* publisher.tls_priority: a string GnuTLS accepts (as the publisher loads it) whose TLS
 * versions are 1.2 and 1.3 only. RFC 8461 section 7.2: senders require TLS 1.2 or later, so
 * a priority without them serves no sender, and SSL 3.0, TLS 1.0 and 1.1 are refused
 * rather than warned about (common/ does not log; docs/config.md). DTLS versions in the
 * list are ignored: the publisher speaks TLS over TCP only. */
static int
cfg_check_priority(struct cfg_ctx *ctx, const config_setting_t *s, const char *key, const char *v)
{
	char old[64] = "", fix[96] = "";
	size_t old_len = 0, fix_len = 0;
	gnutls_priority_t prio;
	const char *errpos = NULL;
	const unsigned *list = NULL;
	int r, n, i, modern = 0;

	r = gnutls_priority_init(&prio, v, &errpos);
	if (r < 0)
		return cfg_error(ctx, s, key, "bad GnuTLS priority string at '%s': %s",
		                 errpos != NULL ? errpos : v, gnutls_strerror(r));
	n = gnutls_priority_protocol_list(prio, &list);
	if (n < 0) {
		gnutls_priority_deinit(prio);
		return cfg_error(ctx, s, key, "GnuTLS priority string '%s': no TLS versions: %s", v,
		                 gnutls_strerror(n));
	}
	for (i = 0; i < n; i++) {
		const char *name = gnutls_protocol_get_name((gnutls_protocol_t)list[i]);

		switch (list[i]) {
		case GNUTLS_TLS1_2:
		case GNUTLS_TLS1_3:
			modern++;
			break;
		case GNUTLS_SSL3:
		case GNUTLS_TLS1_0:
		case GNUTLS_TLS1_1:
			old_len += (size_t)snprintf(old + old_len, sizeof(old) - old_len, "%s%s",
			                            old_len > 0 ? ", " : "",
			                            name != NULL ? name : "?");
			fix_len += (size_t)snprintf(fix + fix_len, sizeof(fix) - fix_len,
			                            ":-VERS-%s", name != NULL ? name : "?");
			break;
		default:
			break; /* DTLS: not used over TCP */
		}
		if (old_len >= sizeof(old) || fix_len >= sizeof(fix))
			break;
	}
	gnutls_priority_deinit(prio);
	if (modern == 0)
		return cfg_error(
		        ctx, s, key,
		        "'%s' enables neither TLS 1.2 nor TLS 1.3: senders require TLS 1.2 "
		        "or later (RFC 8461 section 7.2)",
		        v);
	if (old_len > 0)
		return cfg_error(ctx, s, key,
		                 "'%s' also enables %s: the publisher allows TLS 1.2 and 1.3 only "
		                 "(RFC 8461 section 7.2); append \"%s\"",
		                 v, old, fix);
	return 0;
}

/* ---- defaults, by table ---- */

static void cfg_table_defaults(const struct cfg_key *tab, void *base);

static void
cfg_key_default(const struct cfg_key *k, void *base)
{
	switch (k->kind) {
	case CFG_K_BOOL:
	case CFG_K_ENUM:
		*FIELD(base, k->off, int) = (int)k->def;
		break;
	case CFG_K_UINT:
		*FIELD(base, k->off, unsigned) = (unsigned)k->def;
		break;
	case CFG_K_SIZE:
		*FIELD(base, k->off, size_t) = (size_t)k->def;
		break;
	case CFG_K_MS:
		*FIELD(base, k->off, uint64_t) = k->def;
		break;
	case CFG_K_SEC32:
		*FIELD(base, k->off, uint32_t) = (uint32_t)(k->def / 1000);
		break;
	case CFG_K_STR:
	case CFG_K_PATH:
		*FIELD(base, k->off, char *) = k->sdef != NULL ? xstrdup(k->sdef) : NULL;
		break;
	case CFG_K_LISTENS:
		cfg_listens_default(k->sdef, FIELD(base, k->off, struct cfg_listen *),
		                    FIELD(base, k->off_n, size_t));
		break;
	case CFG_K_LISTEN: {
		const char *why;

		if (cfg_listen_from_text(k->sdef, FIELD(base, k->off, struct cfg_listen), &why) < 0)
			die("cfg: bad built-in listen default '%s': %s", k->sdef, why);
		break;
	}
	case CFG_K_GROUP:
		cfg_table_defaults(k->sub, base);
		break;
	case CFG_K_STRLIST:
	case CFG_K_GROUPLIST:
		break;
	}
}

static void
cfg_table_defaults(const struct cfg_key *tab, void *base)
{
	const struct cfg_key *k;

	for (k = tab; k->name != NULL; k++)
		cfg_key_default(k, base);
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

/* ---- parsing, by table ---- */

static int cfg_parse_group(struct cfg_ctx *ctx, const config_setting_t *g, const char *key,
                           const struct cfg_key *tab, void *base);

static int
cfg_parse_strlist(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                  const struct cfg_key *k, void *base)
{
	char ***p = FIELD(base, k->off, char **);
	size_t *np = FIELD(base, k->off_n, size_t);
	char sub[CFG_KEY_PATH_MAX];
	char **v = NULL;
	size_t i, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		n = 1;
	} else if (config_setting_is_array(s) || config_setting_is_list(s)) {
		n = (size_t)config_setting_length(s);
	} else {
		return cfg_type_error(ctx, s, key, "a list of strings [\"...\", ...]");
	}
	if (n > k->max)
		return cfg_error(ctx, s, key, "%zu entries, at most %llu allowed", n,
		                 (unsigned long long)k->max);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const config_setting_t *e = n == 1 && config_setting_type(s) == CONFIG_TYPE_STRING
		                                    ? s
		                                    : config_setting_get_elem(s, (unsigned)i);
		const char *str = "";

		if (e == s)
			(void)snprintf(sub, sizeof(sub), "%s", key);
		else
			cfg_index(sub, key, i);
		if (cfg_parse_string(ctx, e, sub, &str) < 0)
			goto fail;
		if (str[0] == '\0') {
			cfg_error(ctx, e, sub, "empty string");
			goto fail;
		}
		if (k->check != NULL && k->check(ctx, e, sub, str) < 0)
			goto fail;
		v[i] = xstrdup(str);
	}
	cfg_strlist_free(*p, *np);
	*p = v;
	*np = n;
	return 0;
fail:
	cfg_strlist_free(v, n);
	return -1;
}

static int
cfg_parse_listens(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                  const struct cfg_key *k, void *base)
{
	struct cfg_listen **p = FIELD(base, k->off, struct cfg_listen *);
	size_t *np = FIELD(base, k->off_n, size_t);
	char sub[CFG_KEY_PATH_MAX];
	struct cfg_listen *v;
	size_t i, j, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING ||
	    config_setting_type(s) == CONFIG_TYPE_GROUP)
		n = 1;
	else if (config_setting_is_array(s) || config_setting_is_list(s))
		n = (size_t)config_setting_length(s);
	else
		return cfg_type_error(ctx, s, key, "a list of listen addresses");
	if (n < k->min)
		return cfg_error(ctx, s, key, "at least %llu address needed",
		                 (unsigned long long)k->min);
	if (n > k->max)
		return cfg_error(ctx, s, key, "%zu entries, at most %llu allowed", n,
		                 (unsigned long long)k->max);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const config_setting_t *e =
		        (config_setting_is_array(s) || config_setting_is_list(s))
		                ? config_setting_get_elem(s, (unsigned)i)
		                : s;

		if (e == s)
			(void)snprintf(sub, sizeof(sub), "%s", key);
		else
			cfg_index(sub, key, i);
		if (cfg_parse_listen_one(ctx, e, sub, &v[i]) < 0)
			goto fail;
		for (j = 0; j < i; j++) {
			int same = v[i].path != NULL ? (v[j].path != NULL &&
			                                strcmp(v[i].path, v[j].path) == 0)
			                             : (v[j].address != NULL &&
			                                strcmp(v[i].address, v[j].address) == 0);

			if (same) {
				cfg_error(ctx, e, sub, "duplicate listen address");
				i++;
				goto fail;
			}
		}
	}
	for (j = 0; j < *np; j++)
		cfg_listen_clear(&(*p)[j]);
	free(*p);
	*p = v;
	*np = n;
	return 0;
fail:
	for (j = 0; j < i; j++)
		cfg_listen_clear(&v[j]);
	free(v);
	return -1;
}

static int
cfg_parse_grouplist(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
                    const struct cfg_key *k, void *base)
{
	char **p = FIELD(base, k->off, char *);
	size_t *np = FIELD(base, k->off_n, size_t);
	char sub[CFG_KEY_PATH_MAX];
	size_t i, j, n;
	char *v;

	if (!config_setting_is_list(s))
		return cfg_type_error(ctx, s, key, "a list of groups ( { ... }, { ... } )");
	n = (size_t)config_setting_length(s);
	if (n > k->max)
		return cfg_error(ctx, s, key, "%zu entries, at most %llu allowed", n,
		                 (unsigned long long)k->max);
	v = xcalloc(n ? n : 1, k->elsize);
	for (i = 0; i < n; i++) {
		cfg_index(sub, key, i);
		cfg_table_defaults(k->sub, v + i * k->elsize);
		if (cfg_parse_group(ctx, config_setting_get_elem(s, (unsigned)i), sub, k->sub,
		                    v + i * k->elsize) < 0) {
			i++;
			goto fail;
		}
	}
	for (j = 0; j < *np; j++)
		cfg_table_free(k->sub, *p + j * k->elsize);
	free(*p);
	*p = v;
	*np = n;
	return 0;
fail:
	for (j = 0; j < i; j++)
		cfg_table_free(k->sub, v + j * k->elsize);
	free(v);
	return -1;
}

static int
cfg_parse_key(struct cfg_ctx *ctx, const config_setting_t *s, const char *key,
              const struct cfg_key *k, void *base)
{
	const char *str = "";
	uint64_t u;
	size_t i;

	switch (k->kind) {
	case CFG_K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return cfg_type_error(ctx, s, key, "a boolean (true or false)");
		*FIELD(base, k->off, int) = config_setting_get_bool(s) ? 1 : 0;
		return 0;
	case CFG_K_UINT:
		if (cfg_parse_uint(ctx, s, key, k, &u) < 0)
			return -1;
		*FIELD(base, k->off, unsigned) = (unsigned)u;
		return 0;
	case CFG_K_SIZE:
		if (cfg_parse_uint(ctx, s, key, k, &u) < 0)
			return -1;
		*FIELD(base, k->off, size_t) = (size_t)u;
		return 0;
	case CFG_K_MS:
		return cfg_parse_duration(ctx, s, key, k, FIELD(base, k->off, uint64_t));
	case CFG_K_SEC32:
		if (cfg_parse_duration(ctx, s, key, k, &u) < 0)
			return -1;
		*FIELD(base, k->off, uint32_t) = (uint32_t)(u / 1000);
		return 0;
	case CFG_K_STR: {
		char **dst = FIELD(base, k->off, char *);

		if (cfg_parse_string(ctx, s, key, &str) < 0)
			return -1;
		if (str[0] == '\0' && (k->sdef != NULL || (k->flags & CFG_F_REQUIRED)))
			return cfg_error(ctx, s, key, "must not be empty");
		if (k->check != NULL && k->check(ctx, s, key, str) < 0)
			return -1;
		free(*dst);
		*dst = str[0] != '\0' ? xstrdup(str) : NULL;
		return 0;
	}
	case CFG_K_PATH: {
		char **dst = FIELD(base, k->off, char *);
		char *p = NULL;

		if (cfg_parse_path(ctx, s, key, k, &p) < 0)
			return -1;
		free(*dst);
		*dst = p;
		return 0;
	}
	case CFG_K_ENUM: {
		size_t len = 0;
		char list[128];

		if (cfg_parse_string(ctx, s, key, &str) < 0)
			return -1;
		for (i = 0; k->names[i].name != NULL; i++) {
			if (strcmp(str, k->names[i].name) == 0) {
				*FIELD(base, k->off, int) = k->names[i].value;
				return 0;
			}
		}
		list[0] = '\0';
		for (i = 0; k->names[i].name != NULL && len < sizeof(list); i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
			                        i ? ", " : "", k->names[i].name);
		return cfg_error(ctx, s, key, "bad value '%s': expected one of %s", str, list);
	}
	case CFG_K_STRLIST:
		return cfg_parse_strlist(ctx, s, key, k, base);
	case CFG_K_LISTENS:
		return cfg_parse_listens(ctx, s, key, k, base);
	case CFG_K_LISTEN: {
		struct cfg_listen l, *dst = FIELD(base, k->off, struct cfg_listen);

		if (cfg_parse_listen_one(ctx, s, key, &l) < 0)
			return -1;
		cfg_listen_clear(dst);
		*dst = l;
		return 0;
	}
	case CFG_K_GROUP:
		return cfg_parse_group(ctx, s, key, k->sub, base);
	case CFG_K_GROUPLIST:
		return cfg_parse_grouplist(ctx, s, key, k, base);
	}
	return -1;
}

static int
cfg_parse_group(struct cfg_ctx *ctx, const config_setting_t *g, const char *key,
                const struct cfg_key *tab, void *base)
{
	char sub[CFG_KEY_PATH_MAX];
	const struct cfg_key *k;
	unsigned i, n;

	if (!config_setting_is_group(g))
		return cfg_type_error(ctx, g, key[0] ? key : "(root)", "a group { ... }");
	n = (unsigned)config_setting_length(g);
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);

		cfg_join(sub, key, name);
		for (k = tab; k->name != NULL; k++) {
			if (strcmp(k->name, name) == 0)
				break;
		}
		if (k->name == NULL)
			return cfg_error(ctx, m, sub, "unknown key");
		if (cfg_parse_key(ctx, m, sub, k, base) < 0)
			return -1;
	}
	for (k = tab; k->name != NULL; k++) {
		if ((k->flags & CFG_F_REQUIRED) && config_setting_get_member(g, k->name) == NULL) {
			cfg_join(sub, key, k->name);
			return cfg_error(ctx, g, sub, "missing required key");
		}
	}
	return 0;
}

/* ---- cross-key checks ---- */

static const config_setting_t *
cfg_lookup(const config_setting_t *parent, const char *name)
{
	return parent != NULL ? config_setting_get_member(parent, name) : NULL;
}

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

/* ---- publisher certificates: the checks the publisher makes when it loads them ---- */

/* 1 when crt names host: its SAN dNSNames, or its CN when it has none (as the publisher
 * does). The names go to names_out ("a, b, c"). */
static int
cfg_cert_names(gnutls_x509_crt_t crt, const char *host, char *names_out, size_t names_len)
{
	char buf[256];
	size_t size, len = 0;
	unsigned i, n = 0;
	int type, covers = 0;

	names_out[0] = '\0';
	for (i = 0;; i++) {
		size = sizeof(buf) - 1;
		type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE ||
		    (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER))
			break;
		if (type != GNUTLS_SAN_DNSNAME)
			continue;
		buf[size] = '\0';
		covers |= domain_cert_name_match(buf, host);
		if (n++ < CFG_CERT_NAMES_SHOWN && len < names_len)
			len += (size_t)snprintf(names_out + len, names_len - len, "%s%s",
			                        len > 0 ? ", " : "", buf);
	}
	if (n > CFG_CERT_NAMES_SHOWN && len < names_len)
		(void)snprintf(names_out + len, names_len - len, " and %u more",
		               n - CFG_CERT_NAMES_SHOWN);
	if (n > 0)
		return covers;
	size = sizeof(buf) - 1;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) != 0)
		return 0;
	buf[size] = '\0';
	(void)snprintf(names_out, names_len, "%s (subject CN, no subjectAltName)", buf);
	return domain_cert_name_match(buf, host);
}

/* 1 when data holds a PEM private key (any of the types GnuTLS imports). */
static int
cfg_pem_has_key(const gnutls_datum_t *data)
{
	gnutls_x509_privkey_t key;
	int r;

	if (gnutls_x509_privkey_init(&key) < 0)
		return 0;
	r = gnutls_x509_privkey_import2(key, data, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(key);
	return r >= 0;
}

/* cert and key of publisher.domains[i] load as a pair, as the publisher loads them
 * (gnutls_certificate_set_x509_key_mem2), and the certificate names mta-sts.<domain>. */
static int
cfg_finish_domain_cert(struct cfg_ctx *ctx, const struct cfg_domain *d, size_t i,
                       const config_setting_t *e)
{
	const config_setting_t *cs = cfg_lookup(e, "cert"), *ks = cfg_lookup(e, "key");
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
	gnutls_x509_crt_t *crts = NULL;
	char ckey[CFG_KEY_PATH_MAX], kkey[CFG_KEY_PATH_MAX], names[512], host[DOMAIN_BUF + 8];
	struct stat cst, kst;
	unsigned n_crts = 0, j;
	int r, ret = -1;

	(void)snprintf(ckey, sizeof(ckey), "publisher.domains[%zu].cert", i);
	(void)snprintf(kkey, sizeof(kkey), "publisher.domains[%zu].key", i);
	(void)snprintf(host, sizeof(host), "mta-sts.%s", d->domain);
	r = gnutls_load_file(d->cert_file, &cd);
	if (r < 0) {
		cfg_error(ctx, cs, ckey, "cannot read certificate file '%s': %s", d->cert_file,
		          gnutls_strerror(r));
		goto out;
	}
	r = gnutls_load_file(d->key_file, &kd);
	if (r < 0) {
		cfg_error(ctx, ks, kkey, "cannot read key file '%s': %s", d->key_file,
		          gnutls_strerror(r));
		goto out;
	}
	r = gnutls_x509_crt_list_import2(&crts, &n_crts, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || n_crts == 0) {
		cfg_error(ctx, cs, ckey, "certificate file '%s' holds no PEM certificate (%s)",
		          d->cert_file, r < 0 ? gnutls_strerror(r) : "none found");
		goto out;
	}
	if (strcmp(d->cert_file, d->key_file) == 0 ||
	    (stat(d->cert_file, &cst) == 0 && stat(d->key_file, &kst) == 0 &&
	     cst.st_dev == kst.st_dev && cst.st_ino == kst.st_ino)) {
		/* a combined PEM file (certificate chain and key) is fine; the certificate
		 * file named twice is not */
		if (!cfg_pem_has_key(&kd)) {
			cfg_error(ctx, ks, kkey,
			          "'%s' is the certificate file (cert) and holds no private key; "
			          "key must name the private key file",
			          d->key_file);
			goto out;
		}
	} else if (kd.size == 0 || !cfg_pem_has_key(&kd)) {
		cfg_error(ctx, ks, kkey, "key file '%s' is empty or not PEM", d->key_file);
		goto out;
	}
	r = gnutls_certificate_allocate_credentials(&cred);
	if (r < 0) {
		cfg_error(ctx, ks, kkey, "%s", gnutls_strerror(r));
		goto out;
	}
	r = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		cfg_error(ctx, ks, kkey, "private key does not match certificate %s", d->cert_file);
		goto out;
	}
	if (r < 0) {
		cfg_error(ctx, ks, kkey, "certificate %s with key %s refused: %s", d->cert_file,
		          d->key_file, gnutls_strerror(r));
		goto out;
	}
	if (!cfg_cert_names(crts[0], host, names, sizeof(names))) {
		cfg_error(ctx, cs, ckey,
		          "certificate %s does not name %s (it names %s); senders would refuse "
		          "it",
		          d->cert_file, host, names[0] != '\0' ? names : "nothing");
		goto out;
	}
	ret = 0;
out:
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	for (j = 0; j < n_crts; j++)
		gnutls_x509_crt_deinit(crts[j]);
	gnutls_free(crts);
	if (kd.data != NULL)
		gnutls_memset(kd.data, 0, kd.size);
	gnutls_free(kd.data);
	gnutls_free(cd.data);
	return ret;
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
	return cfg_finish_domain_cert(ctx, d, i, e);
}

/* 1 when host is 127.0.0.0/8 or ::1 (what the admin endpoint calls loopback). */
static int
cfg_host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* The daemon refuses to start an admin endpoint that anyone on the network could reach
 * without a token (daemon/admin.c): so does the check. */
static int
cfg_finish_admin(struct cfg_ctx *ctx, const struct cfg *c, const config_setting_t *root)
{
	const struct cfg_admin *a = &c->admin;

	if (!a->enabled || a->listen.path != NULL || a->listen.host == NULL || a->token != NULL)
		return 0;
	if (cfg_host_is_loopback(a->listen.host))
		return 0;
	return cfg_error(ctx, cfg_lookup(cfg_lookup(root, "admin"), "listen"), "admin.listen",
	                 "%s is not a loopback address and admin.token is unset: refusing to "
	                 "expose the admin endpoint",
	                 a->listen.address != NULL ? a->listen.address : a->listen.host);
}

/* ---- listeners of this process: no two may bind the same place ---- */

/* One active listener, for the clash check. */
struct cfg_bind {
	char key[CFG_KEY_PATH_MAX];
	const struct cfg_listen *l;
	const config_setting_t *s; /* where it is written; NULL = the built-in default */
	int family;                /* AF_INET, AF_INET6, or AF_UNIX for a path */
	unsigned char addr[16];
	int wildcard; /* 0.0.0.0 or :: */
};

/* Add the n listeners of key (list setting ls, NULL when absent) to v. */
static void
cfg_binds_add(struct cfg_bind *v, size_t *np, const char *key, const struct cfg_listen *l, size_t n,
              const config_setting_t *ls)
{
	static const unsigned char zero[16];
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i;

	for (i = 0; i < n; i++) {
		struct cfg_bind *b = &v[*np];
		int listed =
		        ls != NULL && (config_setting_is_array(ls) || config_setting_is_list(ls));

		memset(b, 0, sizeof(*b));
		if (listed || (ls == NULL && n > 1))
			cfg_index(b->key, key, i);
		else
			(void)snprintf(b->key, sizeof(b->key), "%s", key);
		b->l = &l[i];
		b->s = listed ? config_setting_get_elem(ls, (unsigned)i) : ls;
		if (l[i].path != NULL) {
			b->family = AF_UNIX;
		} else if (cfg_listen_sockaddr(&l[i], "0.0.0.0", &ss, &sl, NULL, 0) == 0) {
			b->family = ss.ss_family;
			if (ss.ss_family == AF_INET)
				memcpy(b->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
			else
				memcpy(b->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
			b->wildcard = memcmp(b->addr, zero, sizeof(b->addr)) == 0;
		} else {
			continue; /* not reached: the parser accepts numeric addresses only */
		}
		(*np)++;
	}
}

/* The absolute path, normalised without looking at the file system (the socket does not
 * exist yet, and a symbolic link is not followed): repeated '/' collapsed, "." components
 * dropped, ".." removing the component before it ("/.." is "/"), no trailing '/'. Owned. */
static char *
cfg_path_normalise(const char *path)
{
	char *out = xmalloc(strlen(path) + 2);
	const char *p = path, *q;
	size_t o = 1, n;

	out[0] = '/';
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		for (q = p; *q != '\0' && *q != '/';)
			q++;
		n = (size_t)(q - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
		} else if (n != 1 || p[0] != '.') {
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = q;
	}
	out[o] = '\0';
	return out;
}

/* 1 when unix socket paths a and b (absolute: the parser requires it) name one file. */
static int
cfg_same_socket_path(const char *a, const char *b)
{
	char *na, *nb;
	int same;

	if (strcmp(a, b) == 0)
		return 1;
	na = cfg_path_normalise(a);
	nb = cfg_path_normalise(b);
	same = strcmp(na, nb) == 0;
	free(na);
	free(nb);
	return same;
}

/* An error at a when a and b would bind the same place; 0 when they would not. */
static int
cfg_bind_check(struct cfg_ctx *ctx, const struct cfg_bind *a, const struct cfg_bind *b)
{
	const char *dflt = b->s == NULL ? ", the default" : "";

	if (a->family != b->family)
		return 0;
	if (a->family == AF_UNIX) {
		if (!cfg_same_socket_path(a->l->path, b->l->path))
			return 0;
		if (strcmp(a->l->path, b->l->path) != 0)
			return cfg_error(ctx, a->s, a->key,
			                 "unix socket %s is also %s (%s%s): two listeners cannot "
			                 "share a socket path",
			                 a->l->path, b->key, b->l->path, dflt);
		return cfg_error(ctx, a->s, a->key,
		                 "unix socket %s is also %s%s: two listeners cannot share a socket "
		                 "path",
		                 a->l->path, b->key, b->s == NULL ? " (the default)" : "");
	}
	if (a->l->port != b->l->port)
		return 0;
	if (memcmp(a->addr, b->addr, sizeof(a->addr)) == 0)
		return cfg_error(ctx, a->s, a->key,
		                 "%s is also %s (%s%s): two listeners cannot bind the same address "
		                 "and port",
		                 a->l->address, b->key, b->l->address, dflt);
	if (a->wildcard || b->wildcard)
		return cfg_error(
		        ctx, a->s, a->key,
		        "%s overlaps %s (%s%s): a wildcard address takes the port on every "
		        "local address of its family, so both cannot bind",
		        a->l->address, b->key, b->l->address, dflt);
	return 0;
}

/* Two listeners of the running process on one address and port, or one unix socket path,
 * fail at start ("Address already in use"; a second unix socket would replace the first).
 * Every socket sets IPV6_V6ONLY, so IPv4 and IPv6 never overlap; a wildcard address
 * (0.0.0.0, [::]) takes its port on every address of its family (Linux refuses the second
 * bind even with SO_REUSEADDR). The publisher's listeners count when it runs (domains not
 * empty), the resolver's and admin's when enabled. */
static int
cfg_finish_listeners(struct cfg_ctx *ctx, const struct cfg *c, const config_setting_t *root)
{
	struct cfg_bind v[3 * CFG_LISTEN_MAX + 1];
	const config_setting_t *rs = cfg_lookup(root, "resolver");
	const config_setting_t *ps = cfg_lookup(root, "publisher");
	size_t n = 0, i, j;

	/* senders fetch policies over HTTPS on TCP: the publisher binds no unix socket */
	for (i = 0; i < c->publisher.n_listen + c->publisher.n_http_listen; i++) {
		int http = i >= c->publisher.n_listen;
		size_t k = http ? i - c->publisher.n_listen : i;
		const struct cfg_listen *l =
		        http ? &c->publisher.http_listen[k] : &c->publisher.listen[k];
		const config_setting_t *ls = cfg_lookup(ps, http ? "http_listen" : "listen");
		char key[48];

		if (l->path == NULL)
			continue;
		(void)snprintf(key, sizeof(key), "publisher.%s[%zu]",
		               http ? "http_listen" : "listen", k);
		return cfg_error(ctx,
		                 ls != NULL && config_setting_get_elem(ls, (unsigned)k) != NULL
		                         ? config_setting_get_elem(ls, (unsigned)k)
		                         : ls,
		                 key,
		                 "unix:%s: the publisher listens on TCP only (senders fetch the "
		                 "policy over HTTPS)",
		                 l->path);
	}
	if (c->resolver.enabled)
		cfg_binds_add(v, &n, "resolver.listen", c->resolver.listen, c->resolver.n_listen,
		              cfg_lookup(rs, "listen"));
	if (c->publisher.n_domains > 0) {
		cfg_binds_add(v, &n, "publisher.listen", c->publisher.listen, c->publisher.n_listen,
		              cfg_lookup(ps, "listen"));
		cfg_binds_add(v, &n, "publisher.http_listen", c->publisher.http_listen,
		              c->publisher.n_http_listen, cfg_lookup(ps, "http_listen"));
	}
	if (c->admin.enabled)
		cfg_binds_add(v, &n, "admin.listen", &c->admin.listen, 1,
		              cfg_lookup(cfg_lookup(root, "admin"), "listen"));
	for (j = 1; j < n; j++) {
		for (i = 0; i < j; i++) {
			/* reported where it is written: the later one of the two, unless only
			 * the earlier one is in the file */
			int later = v[j].s != NULL || v[i].s == NULL;

			if (cfg_bind_check(ctx, later ? &v[j] : &v[i], later ? &v[i] : &v[j]) < 0)
				return -1;
		}
	}
	return 0;
}

static int
cfg_finish(struct cfg_ctx *ctx, struct cfg *c, const config_setting_t *root)
{
	const config_setting_t *ds = cfg_lookup(cfg_lookup(root, "publisher"), "domains");
	const config_setting_t *cs = cfg_lookup(root, "cache");
	const config_setting_t *rs = cfg_lookup(cs, "redis");
	size_t i;

	if (cfg_finish_zones(ctx, c, root) < 0)
		return -1;
	for (i = 0; i < c->publisher.n_domains; i++) {
		if (cfg_finish_domain(ctx, c, i, config_setting_get_elem(ds, (unsigned)i)) < 0)
			return -1;
	}
	if (c->cache.n_sentinels > 0 && c->cache.sentinel_master == NULL)
		return cfg_error(ctx, cfg_lookup(rs, "sentinels"), "cache.redis.master_name",
		                 "required when cache.redis.sentinels is set");
	if (cfg_finish_admin(ctx, c, root) < 0)
		return -1;
	return cfg_finish_listeners(ctx, c, root);
}

/* ---- libconfig's own errors ---- */

/* Line lineno (from 1) of file without its line end, or NULL. Owned. */
static char *
cfg_file_line(const char *file, int lineno)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int i = 0;

	f = fopen(file, "re");
	if (f == NULL)
		return NULL;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (++i < lineno)
			continue;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		(void)fclose(f);
		return line;
	}
	free(line);
	(void)fclose(f);
	return NULL;
}

static int
cfg_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '*';
}

static int
cfg_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*';
}

/* The setting a "duplicate setting name" error is about: the settings ("name =" or
 * "name :") written on that line, outside strings and comments. A name written twice on the
 * line wins, else the only one. Returns the count of names found (0 = none), and the pick in
 * out (or "'a', 'b'" when the line sets several). */
static size_t
cfg_dup_name(const char *line, char *out, size_t outlen)
{
	const char *names[8];
	size_t lens[8], n = 0, i, j, len = 0;
	const char *p = line, *q;

	while (*p != '\0' && n < sizeof(names) / sizeof(names[0])) {
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '"')
				p++;
			continue;
		}
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			break;
		if (p[0] == '/' && p[1] == '*') {
			q = strstr(p + 2, "*/");
			if (q == NULL)
				break;
			p = q + 2;
			continue;
		}
		if (!cfg_name_start(*p) || (p > line && cfg_name_char(p[-1]))) {
			p++;
			continue;
		}
		for (q = p; cfg_name_char(*q); q++)
			;
		names[n] = p;
		lens[n] = (size_t)(q - p);
		p = q;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '=' || *q == ':')
			n++;
	}
	out[0] = '\0';
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (lens[i] == lens[j] && memcmp(names[i], names[j], lens[i]) == 0) {
				(void)snprintf(out, outlen, "'%.*s'", (int)lens[i], names[i]);
				return 1;
			}
	for (i = 0; i < n && len < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s'%.*s'", i ? ", " : "",
		                        (int)lens[i], names[i]);
	return n;
}

/* errbuf for a libconfig parse error: "file:line: reason", made specific where libconfig
 * gives only the line (a duplicate setting, a missing @include file). */
static void
cfg_parse_error(const config_t *conf, const char *path, const char *dir, char *errbuf,
                size_t errlen)
{
	const char *file = config_error_file(conf) != NULL ? config_error_file(conf) : path;
	const char *text = config_error_text(conf) != NULL ? config_error_text(conf) : "";
	int line = config_error_line(conf);
	char *src = NULL, names[256], *inc, *end, *incpath;

	if (strcmp(text, "duplicate setting name") == 0)
		src = cfg_file_line(file, line);
	if (src != NULL) {
		size_t n = cfg_dup_name(src, names, sizeof(names));

		if (n == 1)
			(void)snprintf(errbuf, errlen,
			               "%s:%d: duplicate setting %s (a key may be set once in "
			               "its group)",
			               file, line, names);
		else if (n > 1)
			(void)snprintf(errbuf, errlen,
			               "%s:%d: duplicate setting: one of %s is set twice in its "
			               "group",
			               file, line, names);
		else
			(void)snprintf(errbuf, errlen,
			               "%s:%d: duplicate setting (syntax error): '%.*s'", file,
			               line, CFG_LINE_SHOWN, src);
		free(src);
		return;
	}
	if (strcmp(text, "cannot open include file") == 0)
		src = cfg_file_line(file, line);
	inc = src != NULL ? strstr(src, "@include") : NULL;
	if (inc != NULL && (inc = strchr(inc, '"')) != NULL &&
	    (end = strchr(inc + 1, '"')) != NULL) {
		*end = '\0';
		inc++;
		incpath =
		        inc[0] == '/' || dir == NULL ? xstrdup(inc) : xasprintf("%s/%s", dir, inc);
		errno = 0;
		if (access(incpath, R_OK) < 0)
			(void)snprintf(errbuf, errlen, "%s:%d: cannot open include file '%s': %s",
			               file, line, incpath, strerror(errno));
		else
			(void)snprintf(errbuf, errlen, "%s:%d: cannot open include file '%s'", file,
			               line, incpath);
		free(incpath);
		free(src);
		return;
	}
	free(src);
	(void)snprintf(errbuf, errlen, "%s:%d: %s", file, line, text);
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

/* ---- the pre-read: what libconfig 1.5 would get wrong, checked on the text first ---- */

/*
 * cfg_load() reads the file, and every file it @includes, before libconfig does, and
 * refuses what libconfig 1.5 handles badly:
 *  - anything but a regular file, and more than CFG_FILE_MAX bytes in all: libconfig reads
 *    /dev/zero or a FIFO forever;
 *  - an @include of something that is not a readable regular file: libconfig 1.5 calls
 *    exit(2) from its scanner (a directory, for one), which would end the daemon on SIGHUP;
 *  - an integer literal its type cannot hold: libconfig 1.5 converts one without an L suffix
 *    with atoi() or strtoul() into an int (scanner.l), so 4294967297 reads as 1 and
 *    99999999999 as 1215752191, and one with an L suffix with atoll() (saturating) or
 *    strtoull() (wrapping).
 *  - a string, block comment or @include path that is never closed: libconfig 1.5 ends
 *    the input there without an error, so the rest of the file would be silently dropped.
 *    An @include path must also end on its line (libconfig would read on to the next '"'
 *    and try to include "name\nmore text").
 * The scanner below follows libconfig 1.5's (lib/scanner.l) where it matters: comments
 * (# and // to the line end, non-nesting block comments), strings (backslash escapes, may
 * span lines), "@include" at the start of a line, names ([A-Za-z*][-A-Za-z0-9_*]*, so the
 * digits in "a-1" are not a number) and the longest match among its float, integer and
 * hex rules ("1e10" and "1.5" are floats). It checks tokens only: syntax is libconfig's.
 */

struct cfg_pre {
	const char *dir; /* libconfig's include directory */
	size_t total;    /* bytes read so far: the main file and every included file */
	char *errbuf;
	size_t errlen;
};

static int cfg_pre_file(struct cfg_pre *pre, const char *file, const char *from, unsigned from_line,
                        int depth);

static int
cfg_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
cfg_is_xdigit(char c)
{
	return cfg_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *
cfg_skip_digits(const char *p, const char *end)
{
	while (p < end && cfg_is_digit(*p))
		p++;
	return p;
}

/* An exponent ([eE][-+]?[0-9]+) at p: its end, or p when there is none. */
static const char *
cfg_skip_exponent(const char *p, const char *end)
{
	const char *q = p;

	if (q >= end || (*q != 'e' && *q != 'E'))
		return p;
	q++;
	if (q < end && (*q == '+' || *q == '-'))
		q++;
	if (q >= end || !cfg_is_digit(*q))
		return p;
	return cfg_skip_digits(q, end);
}

/* 1 when the digits [p, end) in base 10 or 16 exceed limit. */
static int
cfg_digits_exceed(const char *p, const char *end, unsigned base, unsigned long long limit)
{
	unsigned long long v = 0;

	for (; p < end; p++) {
		unsigned d = cfg_is_digit(*p) ? (unsigned)(*p - '0')
		                              : (unsigned)((*p | 0x20) - 'a') + 10;

		if (v > (limit - d) / base)
			return 1;
		v = v * base + d;
	}
	return 0;
}

/* The number token at p (p is a digit, '.', or a sign before a digit or '.'), as
 * libconfig 1.5 scans it. Returns its length; *ret_why is set when it is an integer that
 * libconfig cannot hold (NULL otherwise). */
static size_t
cfg_pre_number(const char *p, const char *end, const char **ret_why)
{
	const char *q = p, *digits, *dend, *f, *r;
	size_t len_int = 0, len_float = 0;
	unsigned long long limit;
	int neg = 0, l64 = 0, hex = 0;

	*ret_why = NULL;
	if (*q == '+' || *q == '-') {
		neg = *q == '-';
		q++;
	}
	if (q == p && end - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X') &&
	    cfg_is_xdigit(q[2])) {
		/* {hex} / {hex64}: no sign; nothing longer can match here */
		hex = 1;
		digits = q + 2;
		for (dend = digits; dend < end && cfg_is_xdigit(*dend);)
			dend++;
	} else {
		digits = q;
		dend = cfg_skip_digits(q, end);
		/* {float}: digits, '.', digits, exponent; or digits and an exponent */
		if (dend < end && *dend == '.')
			f = cfg_skip_exponent(cfg_skip_digits(dend + 1, end), end);
		else
			f = dend > digits ? cfg_skip_exponent(dend, end) : dend;
		if (f != dend)
			len_float = (size_t)(f - p);
		if (dend == digits)
			return len_float > 0 ? len_float : 1;
	}
	r = dend;
	if (r < end && *r == 'L') {
		/* {integer64} / {hex64} */
		l64 = 1;
		r++;
		if (r < end && *r == 'L')
			r++;
	}
	len_int = (size_t)(r - p);
	if (len_float > len_int)
		return len_float;
	if (hex)
		limit = l64 ? (unsigned long long)LLONG_MAX : (unsigned long long)INT_MAX;
	else if (l64)
		limit = (unsigned long long)LLONG_MAX + (neg ? 1 : 0);
	else
		limit = (unsigned long long)INT_MAX + (neg ? 1 : 0);
	if (cfg_digits_exceed(digits, dend, hex ? 16 : 10, limit)) {
		if (l64)
			*ret_why = neg ? "below minimum -9223372036854775808: libconfig reads an "
			                 "integer with an L suffix as 64 bits and cannot hold it"
			               : "above maximum 9223372036854775807: libconfig reads an "
			                 "integer with an L suffix as 64 bits and cannot hold it";
		else
			*ret_why = neg ? "below minimum -2147483648: libconfig reads an integer "
			                 "without an L suffix as 32 bits and would wrap it"
			               : "above maximum 2147483647: libconfig reads an integer "
			                 "without an L suffix as 32 bits and would wrap it";
	}
	return len_int;
}

static int
cfg_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || cfg_is_digit(c) || c == '-' ||
	       c == '_' || c == '*';
}

/* An @include line starting at p (libconfig: ^[ \t]*@include[ \t]+\"): the opening quote of
 * its path, or NULL. */
static const char *
cfg_pre_include_at(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((size_t)(end - q) < 9 || memcmp(q, "@include", 8) != 0)
		return NULL;
	q += 8;
	if (*q != ' ' && *q != '\t')
		return NULL;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	return q < end && *q == '"' ? q : NULL;
}

/* The @include whose path is [path, path + n), on line lineno of file. */
static int
cfg_pre_include(struct cfg_pre *pre, const char *file, unsigned lineno, const char *path, size_t n,
                int depth)
{
	char target[PATH_MAX];
	int r;

	if (path[0] == '/')
		r = snprintf(target, sizeof(target), "%.*s", (int)n, path);
	else
		r = snprintf(target, sizeof(target), "%s/%.*s", pre->dir, (int)n, path);
	if (r < 0 || (size_t)r >= sizeof(target)) {
		(void)snprintf(pre->errbuf, pre->errlen, "%s:%u: @include: path too long", file,
		               lineno);
		return -1;
	}
	if (depth >= CFG_INCLUDE_DEPTH_MAX) {
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: nested more than %d deep", file, lineno,
		               CFG_INCLUDE_DEPTH_MAX);
		return -1;
	}
	return cfg_pre_file(pre, target, file, lineno, depth + 1);
}

/* Scan the text of file (len bytes at buf, NUL-terminated) for @include lines, integers
 * libconfig cannot hold, and strings and comments never closed (named at the line where
 * they start). Returns 0, or -1 with "file:line: reason" in errbuf. */
static int
cfg_pre_scan(struct cfg_pre *pre, const char *file, const char *buf, size_t len, int depth)
{
	const char *p = buf, *end = buf + len, *q, *why;
	unsigned lineno = 1, start = 0;
	size_t n;

	while (p < end) {
		if (p == buf || p[-1] == '\n') {
			q = cfg_pre_include_at(p, end);
			if (q != NULL) {
				/* the path (libconfig: \\ and \" escapes) must end on its line */
				for (p = q + 1; p < end && *p != '"' && *p != '\n'; p++)
					if (*p == '\\' && p + 1 < end && p[1] != '\n')
						p++;
				if (p == end || *p != '"') {
					(void)snprintf(pre->errbuf, pre->errlen,
					               "%s:%u: @include: unterminated string", file,
					               lineno);
					return -1;
				}
				if (cfg_pre_include(pre, file, lineno, q + 1, (size_t)(p - q - 1),
				                    depth) < 0)
					return -1;
				p++;
				continue;
			}
		}
		if (*p == '\n') {
			lineno++;
			p++;
		} else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			start = lineno;
			for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++)
				if (*p == '\n')
					lineno++;
			if (p == end) {
				(void)snprintf(pre->errbuf, pre->errlen,
				               "%s:%u: unterminated /* comment (it starts here)",
				               file, start);
				return -1;
			}
			p += 2;
		} else if (*p == '"') {
			start = lineno;
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (*p == '\n')
					lineno++;
			}
			if (p == end) {
				(void)snprintf(pre->errbuf, pre->errlen,
				               "%s:%u: unterminated string", file, start);
				return -1;
			}
			p++;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '*') {
			while (p < end && cfg_is_name_char(*p))
				p++;
		} else if (cfg_is_digit(*p) || *p == '.' ||
		           ((*p == '+' || *p == '-') && p + 1 < end &&
		            (cfg_is_digit(p[1]) || p[1] == '.'))) {
			n = cfg_pre_number(p, end, &why);
			if (why != NULL) {
				(void)snprintf(pre->errbuf, pre->errlen, "%s:%u: integer %.*s%s %s",
				               file, lineno,
				               (int)(n > CFG_NUMBER_SHOWN ? CFG_NUMBER_SHOWN : n),
				               p, n > CFG_NUMBER_SHOWN ? "..." : "", why);
				return -1;
			}
			p += n;
		} else {
			p++;
		}
	}
	return 0;
}

static const char *
cfg_file_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a file";
}

/* Read file, a regular file of at most CFG_FILE_MAX - pre->total bytes, whole, and scan it.
 * from and from_line name the @include line that names it (from NULL: the main file).
 * Returns 0, or -1 with errbuf set. The main file's absence or unreadability is left to
 * config_read_file() (0), which reports it. */
static int
cfg_pre_file(struct cfg_pre *pre, const char *file, const char *from, unsigned from_line, int depth)
{
	size_t room = CFG_FILE_MAX - pre->total, len = 0, cap = 0;
	struct stat st;
	char *buf = NULL;
	int fd, r, e = 0;

	if (stat(file, &st) < 0) {
		if (from == NULL)
			return 0;
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: cannot open include file '%s': %s", from,
		               from_line, file, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		goto notreg;
	if ((unsigned long long)st.st_size > room)
		goto toolarge;
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (from == NULL)
			return 0;
		(void)snprintf(pre->errbuf, pre->errlen, "%s:%u: @include: cannot read '%s': %s",
		               from, from_line, file, strerror(errno));
		return -1;
	}
	/* It may have changed since stat(); and a regular file in /proc says size 0. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		goto notreg;
	}
	for (;;) {
		ssize_t got;

		if (len == cap) {
			if (cap > room) {
				(void)close(fd);
				free(buf);
				goto toolarge;
			}
			cap = cap == 0 ? (size_t)st.st_size + 1 : 2 * cap;
			if (cap < 4096)
				cap = 4096;
			if (cap > room + 1)
				cap = room + 1;
			buf = xrealloc(buf, cap + 1);
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			e = got < 0 ? errno : 0;
			break;
		}
		len += (size_t)got;
	}
	(void)close(fd);
	if (e != 0) {
		free(buf);
		if (from == NULL)
			(void)snprintf(pre->errbuf, pre->errlen, "%s: cannot read: %s", file,
			               strerror(e));
		else
			(void)snprintf(pre->errbuf, pre->errlen,
			               "%s:%u: @include: cannot read '%s': %s", from, from_line,
			               file, strerror(e));
		return -1;
	}
	if (len > room) {
		free(buf);
		goto toolarge;
	}
	buf[len] = '\0';
	pre->total += len;
	r = cfg_pre_scan(pre, file, buf, len, depth);
	free(buf);
	return r;
notreg:
	if (from == NULL)
		(void)snprintf(pre->errbuf, pre->errlen, "%s: cannot read: not a regular file (%s)",
		               file, cfg_file_type(st.st_mode));
	else
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: '%s' is not a regular file", from, from_line,
		               file);
	return -1;
toolarge:
	if (from == NULL)
		(void)snprintf(pre->errbuf, pre->errlen, "%s: too large (more than %d bytes)", file,
		               CFG_FILE_MAX);
	else
		(void)snprintf(pre->errbuf, pre->errlen,
		               "%s:%u: @include: '%s' makes the configuration too large (more than "
		               "%d bytes with its included files)",
		               from, from_line, file, CFG_FILE_MAX);
	return -1;
}

int
cfg_load(const char *path, struct cfg **ret_cfg, char *errbuf, size_t errlen)
{
	struct cfg_ctx ctx = {.file = path, .errbuf = errbuf, .errlen = errlen};
	struct cfg_pre pre = {.errbuf = errbuf, .errlen = errlen};
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
	config_set_include_dir(&conf, ctx.dir != NULL ? ctx.dir : ".");
	pre.dir = ctx.dir != NULL ? ctx.dir : ".";
	if (cfg_pre_file(&pre, path, NULL, 0, 0) < 0)
		goto fail;
	errno = 0;
	if (config_read_file(&conf, path) != CONFIG_TRUE) {
		if (config_error_type(&conf) == CONFIG_ERR_FILE_IO)
			(void)snprintf(errbuf, errlen, "%s: cannot read: %s", path,
			               strerror(errno != 0 ? errno : EIO));
		else
			cfg_parse_error(&conf, path, ctx.dir != NULL ? ctx.dir : ".", errbuf,
			                errlen);
		goto fail;
	}
	c = xcalloc(1, sizeof(*c));
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

int
cfg_listen_sockaddr(const struct cfg_listen *l, const char *default_host,
                    struct sockaddr_storage *ret_ss, socklen_t *ret_len, char *host, size_t hostsz)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ret_ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret_ss;
	const char *h = l->host != NULL && l->host[0] != '\0' ? l->host : default_host;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(h);

	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, h, len);
	buf[len] = '\0';
	memset(ret_ss, 0, sizeof(*ret_ss));
	if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(l->port);
		*ret_len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(l->port);
		*ret_len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	if (host != NULL && hostsz > 0)
		(void)snprintf(host, hostsz, "%s", buf);
	return 0;
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
